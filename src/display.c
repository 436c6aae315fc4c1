/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Display manager and other units holding the GPU (nvidia-persistenced, ...): stopped over
 * systemd's D-Bus API while the VM runs, waiting for the job's JobRemoved with a bound, only
 * when they were active; exactly those are started again on release, unless the system is
 * shutting down. "auto" is display-manager.service, the alias every display manager installs:
 * a host without one has nothing to stop. A unit named explicitly that does not exist is
 * refused (a typo must not pass for "nothing to stop").
 */
#include <string.h>

#include "bus.h"
#include "hook.h"
#include "host.h"
#include "log.h"

#define STAGE "display"

static const char *unit_name(const char *configured)
{
	return streq(configured, "auto") ? "display-manager.service" : configured;
}

static int plan_stop(struct plan *p, const char *configured)
{
	const char *unit = unit_name(configured);
	struct record rec = { .kind = REC_DISPLAY };
	char state[32], id[256] = "";
	struct sd_bus *bus;
	struct action *a;
	struct op *o;
	int r;

	if (plan_holder(p, REC_DISPLAY, unit))
		return plan_hold(p, REC_DISPLAY, unit); /* stopped for another VM already */
	r = plan_bus(p, &bus);
	if (r < 0)
		return log_fail(STAGE, 0, "cannot stop %s: %s", unit, bus_last_error());
	r = bus_unit_state(bus, unit, state, sizeof(state), id, sizeof(id));
	if (r == -ENOENT && streq(configured, "auto")) {
		log_info(STAGE, "no display manager is installed; nothing to stop");
		return 0;
	}
	if (r == -ENOENT)
		return log_fail(STAGE, 0, "unit %s does not exist: check display.units in kvm.conf", unit);
	if (r < 0)
		return log_fail(STAGE, 0, "cannot tell whether %s runs: %s", unit, bus_last_error());
	if (!streq(state, "active") && !streq(state, "activating") && !streq(state, "reloading")) {
		log_info(STAGE, "%s is %s; nothing to stop", unit, state);
		return 0;
	}
	if (record_set_key(&rec, unit) < 0)
		return log_fail(STAGE, 0, "unit name %s is too long", unit);
	a = plan_action(p, REC_DISPLAY, &rec);
	if (!a || !(o = plan_op(p, OP_UNIT_STOP, unit, NULL)))
		return -ENOMEM;
	o->timeout = p->run->vm->unit_timeout;
	snprintf(o->fail, sizeof(o->fail), "cannot stop %s", unit);
	snprintf(a->done, sizeof(a->done), "%s stopped", unit);
	/* its processes (an alias's target's cgroup) go with it */
	if (id[0] && !streq(id, unit))
		return view_set_unit_state(p, id, "inactive");
	return 0;
}

static int display_plan(struct plan *p)
{
	for (size_t i = 0; i < p->run->vm->n_units; i++) {
		int r = plan_stop(p, p->run->vm->units[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int display_plan_undo(struct plan *p, const struct record *rec, size_t index)
{
	struct action *a = plan_undo_action(p, REC_DISPLAY, index);
	const char *unit = rec->display.unit;
	struct sd_bus *bus;
	char state[32];
	struct op *o;

	if (!a)
		return -ENOMEM;
	if (plan_bus(p, &bus) >= 0 && bus_system_state(bus, state, sizeof(state)) >= 0 && streq(state, "stopping")) {
		snprintf(a->done, sizeof(a->done), "the system is shutting down; not starting %s", unit);
		return 0;
	}
	o = plan_op(p, OP_UNIT_START, unit, NULL);
	if (!o)
		return -ENOMEM;
	o->timeout = p->run->vm ? p->run->vm->unit_timeout : 30.0;
	snprintf(o->fail, sizeof(o->fail), "cannot start %s", unit);
	snprintf(a->done, sizeof(a->done), "%s started", unit);
	return 0;
}

const struct stage stage_display = {
	.kind = REC_DISPLAY,
	.plan = display_plan,
	.plan_undo = display_plan_undo,
};
