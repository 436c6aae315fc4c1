/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfiohook's own modprobe resolution (src/modprobe.c) against libkmod's, on a real kernel's
 * module tree: for every module depmod indexed (and the extra names given), the modules
 * libkmod's dry run would insert, in its order, with their files and options, and its
 * blacklist verdict, must be what src/modprobe.c says, wherever src/modprobe.c answers. It
 * may leave a name to libkmod (-EOPNOTSUPP), never answer differently.
 *
 * usage: modprobe-diff ID MODDIR [-n NAME]... [-m NAME]... [-c CONFPATH]...
 *   -n NAME  also resolve NAME (an alias, a dashed name, a name nothing has)
 *   -m NAME  NAME must be resolved here, not left to libkmod
 *   -c PATH  a modprobe.d directory or file, in order (none: an empty configuration)
 *   -k WORDS appended to the kernel command line, for src/modprobe.c alone (libkmod reads the
 *            real one): then vfio_pci's options must end with the vfio-pci.* words, and a
 *            modprobe.blacklist= word must blacklist bochs
 * Prints "ok   ID: ..." or "FAIL ID: ..." and exits 0 or 1.
 */
#include <errno.h>
#include <libkmod.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modprobe.h"

#define MAX_ACTIONS 1024

struct action {
	char name[256], path[4096], options[4096];
	bool install;
};

static struct action actions[MAX_ACTIONS];
static size_t n_actions;
static unsigned failures;

static void print_action(struct kmod_module *m, bool install, const char *options)
{
	struct action *a;
	const char *path = kmod_module_get_path(m);

	if (n_actions >= MAX_ACTIONS)
		return;
	a = &actions[n_actions++];
	snprintf(a->name, sizeof(a->name), "%s", kmod_module_get_name(m));
	snprintf(a->path, sizeof(a->path), "%s", path ? path : "");
	snprintf(a->options, sizeof(a->options), "%s", options ? options : "");
	a->install = install;
}

static void quiet(void *data, int priority, const char *file, int line, const char *fn, const char *format,
		  va_list args)
{
}

static void mismatch(const char *id, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (failures++ < 10) {
		printf("  %s: %s: ", id, name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
}

/* libkmod's answer for NAME: its kmod_module_probe_insert_module() result, actions filled. */
static int kmod_answer(struct kmod_ctx *ctx, const char *name, bool *found)
{
	struct kmod_list *list = NULL, *it;
	int r;

	n_actions = 0;
	*found = false;
	r = kmod_module_new_from_lookup(ctx, name, &list);
	if (r < 0 || !list)
		return r < 0 ? r : -ENOENT;
	*found = true;
	for (it = list; r >= 0 && it; it = kmod_list_next(list, it)) {
		struct kmod_module *mod = kmod_module_get_module(it);
		r = kmod_module_probe_insert_module(
			mod, KMOD_PROBE_DRY_RUN | KMOD_PROBE_IGNORE_LOADED | KMOD_PROBE_APPLY_BLACKLIST, NULL, NULL,
			NULL, print_action);
		kmod_module_unref(mod);
	}
	kmod_module_unref_list(list);
	return r;
}

/* 1: agreed; 0: left to libkmod; failures counted. */
static int compare(struct kmod_ctx *ctx, struct modprobe *mp, const char *id, const char *name)
{
	struct modprobe_step *s = NULL;
	size_t n = 0;
	bool found;
	int kr = kmod_answer(ctx, name, &found);
	int r = modprobe_steps(mp, name, &s, &n);

	if (r == -EOPNOTSUPP) {
		if (getenv("MODPROBE_DIFF_VERBOSE"))
			printf("  %s: %s: left to libkmod\n", id, name);
		return 0;
	}
	if (r == -EPERM) {
		if (kr != KMOD_PROBE_APPLY_BLACKLIST)
			mismatch(id, name, "blacklisted here, libkmod says %d", kr);
		return 1;
	}
	if (r < 0) {
		mismatch(id, name, "error %s", strerror(-r));
		return 1;
	}
	if (kr != 0) {
		mismatch(id, name, "resolved here (%zu steps), libkmod says %d (%s)", n, kr, found ? "found" : "not found");
	} else if (n != n_actions) {
		mismatch(id, name, "%zu steps here, %zu in libkmod's dry run (first: %s / %s)", n, n_actions,
			 n ? s[0].name : "-", n_actions ? actions[0].name : "-");
	} else {
		for (size_t i = 0; i < n; i++) {
			/* libkmod's module_options_concat() puts a space after the options */
			char opts[4200];
			snprintf(opts, sizeof(opts), "%s%s", s[i].options ? s[i].options : "", s[i].options ? " " : "");
			if (strcmp(s[i].name, actions[i].name) || strcmp(s[i].path ? s[i].path : "", actions[i].path) ||
			    strcmp(opts, actions[i].options) || actions[i].install) {
				mismatch(id, name, "step %zu: here %s [%s] '%s', libkmod %s [%s] '%s'%s", i, s[i].name,
					 s[i].path ? s[i].path : "built in", opts, actions[i].name, actions[i].path,
					 actions[i].options, actions[i].install ? " (install command)" : "");
				break;
			}
		}
	}
	modprobe_steps_free(s, n);

	/* and what it depends on, as the hook records it */
	if (kr == 0) {
		char **d = NULL;
		size_t nd = 0;
		struct kmod_list *list = NULL, *deps, *it;
		size_t k = 0;
		if (modprobe_deps(mp, name, &d, &nd) < 0 || kmod_module_new_from_lookup(ctx, name, &list) < 0 || !list) {
			mismatch(id, name, "no dependency list");
		} else {
			struct kmod_module *mod = kmod_module_get_module(list);
			deps = kmod_module_get_dependencies(mod);
			for (it = deps; it; it = kmod_list_next(deps, it), k++) {
				struct kmod_module *dm = kmod_module_get_module(it);
				if (k >= nd || strcmp(d[k], kmod_module_get_name(dm)))
					mismatch(id, name, "dependency %zu: here %s, libkmod %s", k, k < nd ? d[k] : "-",
						 kmod_module_get_name(dm));
				kmod_module_unref(dm);
			}
			if (k != nd)
				mismatch(id, name, "%zu dependencies here, %zu in libkmod", nd, k);
			kmod_module_unref_list(deps);
			kmod_module_unref(mod);
		}
		if (list)
			kmod_module_unref_list(list);
		for (size_t i = 0; i < nd; i++)
			free(d[i]);
		free(d);
	}
	return 1;
}

/* The kernel command line's module words, as kmod 30 reads them (libkmod-config.c). */
static void check_cmdline(const char *id, const char *moddir, const char *const *conf, const char *real,
			  const char *words)
{
	char line[16384], want[4096] = "", *w, *save = NULL;
	struct modprobe *mp;
	struct modprobe_step *s;
	size_t n;
	int r;

	snprintf(line, sizeof(line), "%.*s %s", (int)strcspn(real, "\n"), real, words);
	if (modprobe_new(&mp, moddir, conf, line) < 0) {
		mismatch(id, "cmdline", "modprobe_new failed");
		return;
	}
	snprintf(line, sizeof(line), "%s", words);
	for (w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save))
		if (!strncmp(w, "vfio-pci.", 9) || !strncmp(w, "vfio_pci.", 9))
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", want[0] ? " " : "", w + 9);
	r = modprobe_steps(mp, "vfio-pci", &s, &n);
	if (r < 0 || !n)
		mismatch(id, "cmdline", "vfio-pci: %s", strerror(-r));
	else {
		const char *o = s[n - 1].options ? s[n - 1].options : "";
		size_t lo = strlen(o), lw = strlen(want);
		if (lo < lw || strcmp(o + lo - lw, want))
			mismatch(id, "cmdline", "vfio_pci options '%s', want them to end with '%s'", o, want);
		modprobe_steps_free(s, n);
	}
	if (strstr(words, "modprobe.blacklist=") && (r = modprobe_steps(mp, "bochs", &s, &n)) != -EPERM) {
		mismatch(id, "cmdline", "bochs not blacklisted (%d)", r);
		if (r >= 0)
			modprobe_steps_free(s, n);
	}
	modprobe_free(mp);
}

int main(int argc, char **argv)
{
	const char *conf[64], *extra[64], *must[64];
	size_t n_conf = 0, n_extra = 0, n_must = 0, agreed = 0, left = 0, total = 0;
	char path[4096], line[8192], cmdline[8192] = "";
	struct kmod_ctx *ctx;
	struct modprobe *mp;
	const char *id, *moddir, *kwords = NULL;
	FILE *f;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: modprobe-diff ID MODDIR [-n NAME]... [-m NAME]... [-c CONFPATH]...\n");
		return 2;
	}
	id = argv[1];
	moddir = argv[2];
	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-c") && n_conf < 63)
			conf[n_conf++] = argv[i + 1];
		else if (!strcmp(argv[i], "-n") && n_extra < 64)
			extra[n_extra++] = argv[i + 1];
		else if (!strcmp(argv[i], "-m") && n_must < 64)
			must[n_must++] = argv[i + 1];
		else if (!strcmp(argv[i], "-k"))
			kwords = argv[i + 1];
	}
	conf[n_conf] = NULL;
	/* libkmod reads the kernel command line itself: give ours the same */
	if ((f = fopen("/proc/cmdline", "re"))) {
		if (!fgets(cmdline, sizeof(cmdline), f))
			cmdline[0] = '\0';
		fclose(f);
	}
	ctx = kmod_new(moddir, conf);
	if (!ctx || kmod_load_resources(ctx) < 0) {
		printf("FAIL %s: libkmod cannot read %s\n", id, moddir);
		return 1;
	}
	kmod_set_log_fn(ctx, quiet, NULL);
	r = modprobe_new(&mp, moddir, conf, cmdline);
	if (r < 0) {
		printf("FAIL %s: modprobe_new: %s\n", id, strerror(-r));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/modules.dep", moddir);
	if (!(f = fopen(path, "re"))) {
		printf("FAIL %s: %s: %s\n", id, path, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		char name[256], *c = strchr(line, ':'), *b;
		if (!c)
			continue;
		*c = '\0';
		b = strrchr(line, '/');
		snprintf(name, sizeof(name), "%s", b ? b + 1 : line);
		name[strcspn(name, ".")] = '\0';
		r = compare(ctx, mp, id, name);
		agreed += r == 1;
		left += r == 0;
		total++;
	}
	fclose(f);
	for (size_t i = 0; i < n_extra; i++) {
		r = compare(ctx, mp, id, extra[i]);
		agreed += r == 1;
		left += r == 0;
		total++;
	}
	for (size_t i = 0; i < n_must; i++) {
		struct modprobe_step *s;
		size_t n;
		r = modprobe_steps(mp, must[i], &s, &n);
		if (r == -EOPNOTSUPP)
			mismatch(id, must[i], "left to libkmod, expected to be resolved here");
		else if (r >= 0)
			modprobe_steps_free(s, n);
	}
	modprobe_free(mp);
	if (kwords)
		check_cmdline(id, moddir, conf, cmdline, kwords);
	kmod_unref(ctx);
	if (failures || total == 0) {
		printf("FAIL %s: %u disagreement(s) with libkmod over %zu names (first ones above)\n", id, failures, total);
		return 1;
	}
	printf("ok   %s: %zu names resolved as libkmod does, %zu left to libkmod (of %zu)\n", id, agreed, left, total);
	return 0;
}
