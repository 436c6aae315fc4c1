/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Units of the users' own systemd managers (pipewire.service, pipewire-pulse.service,
 * wireplumber.service, pulseaudio.service): the audio servers hold the GPU's HDMI audio
 * function, and the tutorials kill them by name. Here they are stopped through each
 * logged-in user's manager (every /run/user/UID with a running manager), only when active,
 * recorded, and started again on release, as system units are. A user without that unit
 * has nothing to stop; a user who logged out meanwhile has nothing to start.
 */
#include <ctype.h>
#include <string.h>

#include "bus.h"
#include "hook.h"
#include "host.h"
#include "log.h"

#define STAGE "user-unit"

static bool is_uid(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s) && strlen(s) < 11;
}

static int plan_user(struct plan *p, const char *uid)
{
	const struct vm_conf *vm = p->run->vm;
	struct sd_bus *bus = NULL;
	int r;

	if (!host_exists("/run/user/%s/systemd/private", uid))
		return 0; /* no manager runs for that user */
	r = bus_connect_user((unsigned)strtoul(uid, NULL, 10), &bus);
	if (r < 0)
		return log_fail(STAGE, 0, "cannot reach the systemd manager of user %s: %s", uid, bus_last_error());
	for (size_t i = 0; r >= 0 && i < vm->n_user_units; i++) {
		struct record rec = { .kind = REC_USER_UNIT };
		const char *unit = vm->user_units[i];
		char state[32];
		struct action *a;
		struct op *o;
		int k = bus_unit_state(bus, unit, state, sizeof(state), NULL, 0);

		if (k == -ENOENT || (k >= 0 && !streq(state, "active") && !streq(state, "activating") &&
				     !streq(state, "reloading"))) {
			log_info(STAGE, "%s of user %s is %s; nothing to stop", unit, uid, k < 0 ? "not there" : state);
			continue;
		}
		if (k < 0) {
			r = log_fail(STAGE, 0, "cannot tell whether %s of user %s runs: %s", unit, uid, bus_last_error());
			break;
		}
		snprintf(rec.user_unit.uid, sizeof(rec.user_unit.uid), "%s", uid);
		snprintf(rec.user_unit.unit, sizeof(rec.user_unit.unit), "%s", unit);
		a = plan_action(p, REC_USER_UNIT, &rec);
		if (!a || !(o = plan_op(p, OP_UNIT_STOP, unit, "%s", uid))) {
			r = -ENOMEM;
			break;
		}
		o->timeout = vm->unit_timeout;
		snprintf(o->fail, sizeof(o->fail), "cannot stop %s of user %s", unit, uid);
		snprintf(a->done, sizeof(a->done), "%s of user %s stopped", unit, uid);
	}
	bus_close(bus);
	return r;
}

static int user_units_plan(struct plan *p)
{
	char **uids = NULL;
	size_t n = 0;
	int r;

	if (p->run->vm->n_user_units == 0)
		return 0;
	r = host_dir_list(&uids, &n, "/run/user");
	for (size_t i = 0; r >= 0 && i < n; i++)
		if (is_uid(uids[i]))
			r = plan_user(p, uids[i]);
	strv_free(uids, n);
	return r;
}

static int user_units_plan_undo(struct plan *p, const struct record *rec, size_t index)
{
	struct action *a = plan_undo_action(p, REC_USER_UNIT, index);
	struct op *o;

	if (!a)
		return -ENOMEM;
	if (!host_exists("/run/user/%s/systemd/private", rec->user_unit.uid)) {
		snprintf(a->done, sizeof(a->done), "user %s has no manager any more (logged out); not starting %s",
			 rec->user_unit.uid, rec->user_unit.unit);
		return 0;
	}
	o = plan_op(p, OP_UNIT_START, rec->user_unit.unit, "%s", rec->user_unit.uid);
	if (!o)
		return -ENOMEM;
	o->timeout = p->run->vm ? p->run->vm->unit_timeout : 30.0;
	snprintf(o->fail, sizeof(o->fail), "cannot start %s of user %s", rec->user_unit.unit, rec->user_unit.uid);
	snprintf(a->done, sizeof(a->done), "%s of user %s started", rec->user_unit.unit, rec->user_unit.uid);
	return 0;
}

const struct stage stage_user_units = {
	.kind = REC_USER_UNIT,
	.plan = user_units_plan,
	.plan_undo = user_units_plan_undo,
};
