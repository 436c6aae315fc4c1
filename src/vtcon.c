/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Framebuffer consoles. fbcon holds the GPU's framebuffer; unbinding it from the VTs lets the
 * driver let go. Consoles are found by name ("(M) frame buffer device"), never by number: the
 * number is registration order and differs between hosts and kernels. Only bound ones are
 * unbound, and exactly those are bound again, by name, since fbcon may come back under another
 * number once a framebuffer returns. Binding or unbinding fails while any console is in
 * graphics mode (an X server): the display manager is stopped before this stage runs.
 */
#include <string.h>

#include "hook.h"
#include "host.h"
#include "log.h"

#define STAGE "vtcon"

static bool is_fbcon(const char *name)
{
	return strstr(name, "frame buffer") != NULL;
}

/* The vtconN whose name is name; -ENOENT when none. */
static int find_by_name(const char *name, char *ret, size_t size)
{
	DIR *d = host_opendir("/sys/class/vtconsole");
	struct dirent *de;
	int r = -ENOENT;

	if (!d)
		return -ENOENT;
	while ((de = readdir(d))) {
		char n[128];
		if (strncmp(de->d_name, "vtcon", 5) != 0 ||
		    host_read(n, sizeof(n), "/sys/class/vtconsole/%s/name", de->d_name) < 0)
			continue;
		if (streq(n, name) && strlen(de->d_name) < size) {
			strcpy(ret, de->d_name);
			r = 0;
			break;
		}
	}
	closedir(d);
	return r;
}

static int vtcon_prepare(struct run *run)
{
	if (!run->vm->vtconsole)
		return 0;
	for (unsigned i = 0; i < 64; i++) {
		char name[128], bind[8];
		int r;

		if (host_read(name, sizeof(name), "/sys/class/vtconsole/vtcon%u/name", i) < 0)
			continue;
		if (!is_fbcon(name) ||
		    host_read(bind, sizeof(bind), "/sys/class/vtconsole/vtcon%u/bind", i) < 0 ||
		    !streq(bind, "1"))
			continue;
		r = state_add(run->state, STAGE, name, NULL);
		if (r < 0)
			return log_fail(STAGE, r, "cannot record state");
		r = host_write_str("0", 0, "/sys/class/vtconsole/vtcon%u/bind", i);
		if (r == 0 && !host_is_dry_run() &&
		    host_read(bind, sizeof(bind), "/sys/class/vtconsole/vtcon%u/bind", i) >= 0 &&
		    !streq(bind, "0"))
			r = -EBUSY;
		if (r < 0)
			return log_fail(STAGE, r,
					"cannot unbind vtcon%u (%s); is a console still in graphics mode "
					"(an X server or compositor still running)?",
					i, name);
		log_info(STAGE, "vtcon%u (%s) unbound", i, name);
	}
	return 0;
}

/* Record: vtcon NAME */
static int vtcon_undo(struct run *run, const struct record *rec)
{
	char vt[32], bind[8];
	int r;

	if (rec->n_fields != 2)
		return log_error(STAGE, EINVAL, "malformed state record");
	if (find_by_name(rec->fields[1], vt, sizeof(vt)) < 0) {
		log_warning(STAGE, 0, "no console named \"%s\" to bind again (no framebuffer yet?)",
			    rec->fields[1]);
		return 0;
	}
	if (host_read(bind, sizeof(bind), "/sys/class/vtconsole/%s/bind", vt) >= 0 && streq(bind, "1"))
		return 0; /* fbcon took the console back by itself when the framebuffer returned */
	r = host_write_str("1", 0, "/sys/class/vtconsole/%s/bind", vt);
	if (r == 0 && !host_is_dry_run() &&
	    host_read(bind, sizeof(bind), "/sys/class/vtconsole/%s/bind", vt) >= 0 && !streq(bind, "1"))
		r = -EBUSY;
	if (r < 0)
		return log_error(STAGE, r, "cannot bind %s (%s) again", vt, rec->fields[1]);
	log_info(STAGE, "%s (%s) bound again", vt, rec->fields[1]);
	return 0;
}

const struct stage stage_vtcon = {
	.name = STAGE,
	.prepare = vtcon_prepare,
	.undo = vtcon_undo,
};
