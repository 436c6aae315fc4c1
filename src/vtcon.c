/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Framebuffer consoles. fbcon holds the GPU's framebuffer; unbinding it from the VTs lets the
 * driver let go. Consoles are found by name ("(M) frame buffer device"), never by number: the
 * number is registration order and differs between hosts and kernels. Only bound ones are
 * unbound, and exactly those are bound again, by name, since fbcon may come back under another
 * number once a framebuffer returns. Binding or unbinding does nothing while any console is in
 * graphics mode (an X server): the display manager is stopped before this stage runs, and the
 * write is read back.
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

static int vtcon_plan(struct plan *p)
{
	char **vts = NULL;
	size_t n = 0;
	int r;

	if (!p->run->vm->vtconsole)
		return 0;
	r = host_dir_list(&vts, &n, "/sys/class/vtconsole");
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct record rec = { .kind = REC_VTCON };
		char bind[8];
		struct action *a;
		struct op *o;

		if (strncmp(vts[i], "vtcon", 5) != 0 ||
		    host_read(rec.vtcon.name, sizeof(rec.vtcon.name), "/sys/class/vtconsole/%s/name", vts[i]) < 0 ||
		    !is_fbcon(rec.vtcon.name) ||
		    view_read(p, bind, sizeof(bind), "/sys/class/vtconsole/%s/bind", vts[i]) < 0 || !streq(bind, "1"))
			continue;
		a = plan_action(p, REC_VTCON, &rec);
		if (!a || !(o = plan_op(p, OP_WRITE, "0", "/sys/class/vtconsole/%s/bind", vts[i]))) {
			r = -ENOMEM;
			break;
		}
		strcpy(o->verify, "0");
		snprintf(o->fail, sizeof(o->fail),
			 "cannot unbind %s (%s); is a console still in graphics mode (an X server or compositor "
			 "still running)?", vts[i], rec.vtcon.name);
		snprintf(a->done, sizeof(a->done), "%s (%s) unbound", vts[i], rec.vtcon.name);
	}
	strv_free(vts, n);
	return r;
}

static int vtcon_plan_undo(struct plan *p, const struct record *rec, size_t index)
{
	struct action *a = plan_undo_action(p, REC_VTCON, index);
	char **vts = NULL, vt[32] = "", name[128];
	size_t n = 0;
	struct op *o;

	if (!a)
		return -ENOMEM;
	(void)host_dir_list(&vts, &n, "/sys/class/vtconsole");
	for (size_t i = 0; !vt[0] && i < n; i++)
		if (strncmp(vts[i], "vtcon", 5) == 0 && strlen(vts[i]) < sizeof(vt) &&
		    host_read(name, sizeof(name), "/sys/class/vtconsole/%s/name", vts[i]) >= 0 &&
		    streq(name, rec->vtcon.name))
			strcpy(vt, vts[i]);
	strv_free(vts, n);
	if (!vt[0]) {
		snprintf(a->done, sizeof(a->done), "no console named \"%s\" to bind again (no framebuffer yet?)",
			 rec->vtcon.name);
		return 0;
	}
	/* written even when it reads 1: fbcon may take the console back by itself when a
	 * framebuffer returns, and binding a bound console changes nothing */
	o = plan_op(p, OP_WRITE, "1", "/sys/class/vtconsole/%s/bind", vt);
	if (!o)
		return -ENOMEM;
	strcpy(o->verify, "1");
	snprintf(o->fail, sizeof(o->fail), "cannot bind %s (%s) again", vt, rec->vtcon.name);
	snprintf(a->done, sizeof(a->done), "%s (%s) bound again", vt, rec->vtcon.name);
	return 0;
}

const struct stage stage_vtcon = {
	.kind = REC_VTCON,
	.plan = vtcon_plan,
	.plan_undo = vtcon_plan_undo,
};
