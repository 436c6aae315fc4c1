/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * GPU driver modules (nvidia_drm, nvidia_modeset, nvidia_uvm, nvidia; amdgpu; ...) unloaded
 * while the VM runs, holders first, and loaded again on release: exactly the ones unloaded.
 * A module that is built in or not loaded is not an error. One that is still in use is not
 * waited for with sleep: the processes holding the GPU's device nodes are named instead.
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>

#include "hook.h"
#include "host.h"
#include "log.h"

#define STAGE "kmod"
#define MAX_DEPTH 8

static bool is_gpu_node(const char *target)
{
	return strncmp(target, "/dev/nvidia", 11) == 0 || strncmp(target, "/dev/dri/", 9) == 0 ||
	       strncmp(target, "/dev/fb", 7) == 0;
}

/* "Xorg (pid 1234), gnome-shell (pid 1301)": processes with a GPU device node open. */
static void gpu_users(char *out, size_t size)
{
	DIR *proc = host_opendir("/proc");
	struct dirent *de;
	size_t o = 0;

	out[0] = '\0';
	if (!proc)
		return;
	while ((de = readdir(proc))) {
		DIR *fds;
		struct dirent *fe;
		bool uses = false;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		fds = host_opendir("/proc/%s/fd", de->d_name);
		if (!fds)
			continue;
		while (!uses && (fe = readdir(fds))) {
			char t[PATH_MAX];
			if (fe->d_name[0] != '.' &&
			    host_readlink(t, sizeof(t), "/proc/%s/fd/%s", de->d_name, fe->d_name) == 0 &&
			    is_gpu_node(t))
				uses = true;
		}
		closedir(fds);
		if (uses) {
			char comm[64] = "?";
			int n;
			(void)host_read(comm, sizeof(comm), "/proc/%s/comm", de->d_name);
			n = snprintf(out + o, size - o, "%s%s (pid %s)", o ? ", " : "", comm, de->d_name);
			if (n < 0 || (size_t)n >= size - o)
				break;
			o += (size_t)n;
		}
	}
	closedir(proc);
}

static int busy(const char *name)
{
	char users[512];

	gpu_users(users, sizeof(users));
	return log_fail(STAGE, 0, "module %s is in use%s%s; stop them (or add their units to display.units)",
			name, users[0] ? " by " : " (no process has the GPU open: another module or the kernel holds it)",
			users);
}

static int unload(struct run *run, const char *name, int depth)
{
	char refcnt[32];
	DIR *d;
	struct dirent *de;
	int r;

	if (depth > MAX_DEPTH)
		return log_fail(STAGE, 0, "module %s: holders nest too deep", name);
	if (!host_module_loaded(name)) {
		if (depth == 0)
			log_info(STAGE, "%s is %s", name,
				 host_exists("/sys/module/%s", name) ? "built in; nothing to unload" : "not loaded");
		return 0;
	}
	/* holders first: nvidia_drm holds nvidia_modeset, which holds nvidia */
	d = host_opendir("/sys/module/%s/holders", name);
	if (d) {
		char holders[16][64];
		size_t n = 0;
		while ((de = readdir(d)) && n < ELEMENTSOF(holders))
			if (de->d_name[0] != '.' && strlen(de->d_name) < sizeof(holders[0]))
				memcpy(holders[n++], de->d_name, strlen(de->d_name) + 1);
		closedir(d);
		for (size_t i = 0; i < n; i++) {
			r = unload(run, holders[i], depth + 1);
			if (r < 0)
				return r;
		}
	}
	if (!host_is_dry_run() && host_read(refcnt, sizeof(refcnt), "/sys/module/%s/refcnt", name) >= 0 &&
	    strtoul(refcnt, NULL, 10) > 0)
		return busy(name);
	r = state_add(run->state, STAGE, name, NULL);
	if (r < 0)
		return log_fail(STAGE, r, "cannot record state");
	r = host_module_unload(name);
	if (r == -EBUSY || r == -EAGAIN) {
		(void)state_drop_last(run->state);
		return busy(name);
	}
	if (r < 0) {
		(void)state_drop_last(run->state);
		return log_fail(STAGE, r, "cannot unload module %s", name);
	}
	log_info(STAGE, "%s unloaded", name);
	return 0;
}

static int kmod_prepare(struct run *run)
{
	for (size_t i = 0; i < run->vm->n_modules; i++) {
		char name[64];
		size_t j;
		int r;

		for (j = 0; run->vm->modules[i][j] && j + 1 < sizeof(name); j++)
			name[j] = run->vm->modules[i][j] == '-' ? '_' : run->vm->modules[i][j];
		name[j] = '\0';
		r = unload(run, name, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Record: kmod NAME (unloaded by prepare; loaded again on release) */
static int kmod_undo(struct run *run, const struct record *rec)
{
	int r;

	if (rec->n_fields != 2)
		return log_error(STAGE, EINVAL, "malformed state record");
	if (!host_is_dry_run() && host_module_loaded(rec->fields[1]))
		return 0;
	r = host_module_load(rec->fields[1]);
	if (r < 0)
		return log_error(STAGE, r, "cannot load module %s again", rec->fields[1]);
	log_info(STAGE, "%s loaded again", rec->fields[1]);
	return 0;
}

const struct stage stage_kmod = {
	.name = STAGE,
	.prepare = kmod_prepare,
	.undo = kmod_undo,
};
