/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * GPU driver modules (nvidia_drm, nvidia_modeset, nvidia_uvm, nvidia; amdgpu; ...) unloaded
 * while the VM runs, holders first, and loaded again on release: exactly the ones unloaded.
 * A module that is built in or not loaded is not an error.
 *
 * A module that is in use is refused in the plan, before anything changes, naming the
 * processes that hold the GPU's device nodes. Its reference count counts the modules that hold
 * it (the plan unloads those first) and every open device node; processes of a unit the plan
 * stops let go when it stops, and the framebuffer console lets go when the plan unbinds it.
 * When nothing the plan does explains the references, it refuses too.
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

/* A display unit the plan stops? Stopping the display manager ends the sessions it started. */
static bool plan_stops_display(const struct plan *p)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].stage == REC_DISPLAY && p->actions[i].n_ops > 0)
			return true;
	return false;
}

/*
 * Does the plan take the process away: its cgroup is (below) a unit the plan stops, or a
 * user's session scope (user.slice/user-N.slice/session-M.scope) while the plan stops the
 * display manager that started it?
 */
static bool stopped_by_plan(const struct plan *p, const char *pid)
{
	char cg[PATH_MAX];
	char *save = NULL;

	if (!p || host_read(cg, sizeof(cg), "/proc/%s/cgroup", pid) < 0)
		return false;
	for (char *line = strtok_r(cg, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *path = strstr(line, "::");
		char *tok, *s2 = NULL;
		if (!path)
			continue;
		for (tok = strtok_r(path + 2, "/", &s2); tok; tok = strtok_r(NULL, "/", &s2)) {
			size_t l = strlen(tok);
			if (view_unit_stopping(p, tok))
				return true;
			if (strncmp(tok, "session-", 8) == 0 && l > 6 && streq(tok + l - 6, ".scope") &&
			    plan_stops_display(p))
				return true;
		}
	}
	return false;
}

void gpu_users(char *out, size_t size, const struct plan *p)
{
	char **pids = NULL;
	size_t n = 0, o = 0;

	out[0] = '\0';
	if (host_dir_list(&pids, &n, "/proc") < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char **fds = NULL, comm[64] = "?";
		size_t n_fds = 0;
		bool uses = false;
		int k;

		if (!isdigit((unsigned char)pids[i][0]) || host_dir_list(&fds, &n_fds, "/proc/%s/fd", pids[i]) < 0)
			continue;
		for (size_t j = 0; !uses && j < n_fds; j++) {
			char t[PATH_MAX];
			uses = host_readlink(t, sizeof(t), "/proc/%s/fd/%s", pids[i], fds[j]) == 0 && is_gpu_node(t);
		}
		strv_free(fds, n_fds);
		if (!uses || stopped_by_plan(p, pids[i]))
			continue;
		(void)host_read(comm, sizeof(comm), "/proc/%s/comm", pids[i]);
		k = snprintf(out + o, size - o, "%s%s (pid %s)", o ? ", " : "", comm, pids[i]);
		if (k < 0 || (size_t)k >= size - o)
			break;
		o += (size_t)k;
	}
	strv_free(pids, n);
}

/* Does the plan unbind a console or a firmware framebuffer (which hold GPU driver modules)? */
static bool plan_releases_console(const struct plan *p)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].stage == REC_VTCON || p->actions[i].stage == REC_FRAMEBUFFER)
			return true;
	return false;
}

/*
 * Is the module free to go, once the plan's holders are unloaded first? Processes that hold
 * the GPU and that nothing in the plan takes away are waited for (modules.wait: a compositor
 * or a tool that is about to exit), then named in the refusal, before anything has changed.
 */
static int check_unused(struct plan *p, const char *name, unsigned planned_holders)
{
	double deadline = now_seconds() + p->run->vm->module_wait;
	char refcnt[32], users[512];
	unsigned long refs;

	for (;;) {
		if (host_read(refcnt, sizeof(refcnt), "/sys/module/%s/refcnt", name) < 0)
			return 0;
		refs = strtoul(refcnt, NULL, 10);
		if (refs <= planned_holders)
			return 0;
		gpu_users(users, sizeof(users), p);
		if (!users[0] || now_seconds() >= deadline)
			break;
		sleep_seconds(0.1);
	}
	if (users[0])
		return log_fail(STAGE, 0,
				"module %s is in use by %s, still after %.0f s; stop them (or add their units to "
				"display.units)",
				name, users, p->run->vm->module_wait);
	if (view_unit_stopping(p, NULL) || plan_releases_console(p))
		return 0; /* what holds it now may be what the plan stops or unbinds: apply checks again */
	return log_fail(STAGE, 0,
			"module %s is in use (no process has the GPU open: another module or the kernel holds it)",
			name);
}

static bool planned_unload(const struct plan *p, const char *name)
{
	for (size_t i = 0; i < p->n_actions; i++)
		if (p->actions[i].stage == REC_KMOD && streq(p->actions[i].rec.kmod.module, name))
			return true;
	return false;
}

static int plan_unload(struct plan *p, const char *name, int depth)
{
	char **holders = NULL;
	size_t n = 0;
	unsigned planned = 0;
	struct record rec = { .kind = REC_KMOD };
	struct action *a;
	struct op *o;
	int r;

	if (depth > MAX_DEPTH)
		return log_fail(STAGE, 0, "module %s: holders nest too deep", name);
	if (!view_module_loaded(p, name)) {
		if (depth == 0)
			log_info(STAGE, "%s is %s", name,
				 host_exists("/sys/module/%s", name) ? "built in; nothing to unload" : "not loaded");
		return 0;
	}
	if (planned_unload(p, name))
		return 0;
	/* holders first: nvidia_drm holds nvidia_modeset, which holds nvidia */
	r = host_dir_list(&holders, &n, "/sys/module/%s/holders", name);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = plan_unload(p, holders[i], depth + 1);
		planned += r >= 0 && planned_unload(p, holders[i]);
	}
	strv_free(holders, n);
	if (r < 0)
		return r;
	r = check_unused(p, name, planned);
	if (r < 0)
		return r;
	if (snprintf(rec.kmod.module, sizeof(rec.kmod.module), "%s", name) >= (int)sizeof(rec.kmod.module))
		return log_fail(STAGE, 0, "module name %s is too long", name);
	a = plan_action(p, REC_KMOD, &rec);
	if (!a || !(o = plan_op(p, OP_MODULE_UNLOAD, name, NULL)))
		return -ENOMEM;
	/* what the plan stops first may take a moment to let go of the GPU (a session's
	 * compositor outliving its display manager): the unload retries for as long */
	o->timeout = p->run->vm->module_wait;
	snprintf(o->fail, sizeof(o->fail), "cannot unload module %s", name);
	snprintf(a->done, sizeof(a->done), "%s unloaded", name);
	return 0;
}

static int kmod_plan(struct plan *p)
{
	for (size_t i = 0; i < p->run->vm->n_modules; i++) {
		char name[64];
		size_t j;
		int r;

		for (j = 0; p->run->vm->modules[i][j] && j + 1 < sizeof(name); j++)
			name[j] = p->run->vm->modules[i][j] == '-' ? '_' : p->run->vm->modules[i][j];
		name[j] = '\0';
		r = plan_unload(p, name, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

static int kmod_plan_undo(struct plan *p, const struct record *rec, size_t index)
{
	struct action *a = plan_undo_action(p, REC_KMOD, index);
	struct op *o;

	if (!a)
		return -ENOMEM;
	if (view_module_loaded(p, rec->kmod.module))
		return 0;
	o = plan_op(p, OP_MODULE_LOAD, rec->kmod.module, NULL);
	if (!o)
		return -ENOMEM;
	snprintf(o->fail, sizeof(o->fail), "cannot load module %s again", rec->kmod.module);
	snprintf(a->done, sizeof(a->done), "%s loaded again", rec->kmod.module);
	return 0;
}

const struct stage stage_kmod = {
	.kind = REC_KMOD,
	.plan = kmod_plan,
	.plan_undo = kmod_plan_undo,
};
