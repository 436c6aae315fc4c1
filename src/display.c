/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Display manager and other units holding the GPU (nvidia-persistenced, ...): stopped over
 * systemd's D-Bus API while the VM runs, waiting for the job's JobRemoved with a bound, only
 * when they were active; exactly those are started again on release, unless the system is
 * shutting down. "auto" is display-manager.service, the alias every display manager installs.
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

static int display_prepare(struct run *run)
{
	const struct vm_conf *vm = run->vm;
	struct sd_bus *bus = NULL;
	int r = 0;

	if (vm->n_units == 0)
		return 0;
	if (bus_connect(&bus) < 0) {
		if (!host_is_dry_run())
			return log_fail(STAGE, 0, "cannot stop %s: %s", unit_name(vm->units[0]), bus_last_error());
		bus = NULL;
	}
	for (size_t i = 0; r >= 0 && i < vm->n_units; i++) {
		const char *unit = unit_name(vm->units[i]);
		char state[32] = "active", result[32];

		if (hook_shared_held(run, STAGE, unit)) {
			/* stopped for another VM (so inactive now): whoever releases last starts it */
			r = state_add(run->state, STAGE, unit, NULL);
			continue;
		}
		if (bus) {
			int k = bus_unit_state(bus, unit, state, sizeof(state));
			if (k == -ENOENT) {
				log_info(STAGE, "%s is not installed; nothing to stop", unit);
				continue;
			}
			if (k < 0) {
				r = log_fail(STAGE, 0, "cannot tell whether %s runs: %s", unit, bus_last_error());
				break;
			}
		}
		if (!streq(state, "active") && !streq(state, "activating") && !streq(state, "reloading")) {
			log_info(STAGE, "%s is %s; nothing to stop", unit, state);
			continue;
		}
		r = state_add(run->state, STAGE, unit, "stopped", NULL);
		if (r < 0) {
			r = log_fail(STAGE, r, "cannot record state");
			break;
		}
		host_action("stop unit %s", unit);
		if (host_is_dry_run())
			continue;
		r = bus_unit_job(bus, "StopUnit", unit, vm->unit_timeout, result, sizeof(result));
		if (r == -ECANCELED)
			(void)state_drop_last(run->state); /* refused: it still runs, nothing to undo */
		if (r < 0)
			r = log_fail(STAGE, 0, "cannot stop %s: %s", unit, bus_last_error());
		else
			log_info(STAGE, "%s stopped", unit);
	}
	bus_close(bus);
	return r;
}

/* Record: display UNIT stopped; or display UNIT (stopped for another VM) */
static int display_undo(struct run *run, const struct record *rec)
{
	double timeout = run->vm ? run->vm->unit_timeout : 30.0;
	struct sd_bus *bus = NULL;
	char state[32], result[32];
	int r;

	if (rec->n_fields == 2)
		return 0;
	if (rec->n_fields != 3)
		return log_error(STAGE, EINVAL, "malformed state record");
	if (bus_connect(&bus) < 0) {
		if (host_is_dry_run()) {
			host_action("start unit %s", rec->fields[1]);
			return 0;
		}
		return log_error(STAGE, 0, "cannot start %s: %s", rec->fields[1], bus_last_error());
	}
	if (bus_system_state(bus, state, sizeof(state)) >= 0 && streq(state, "stopping")) {
		log_info(STAGE, "the system is shutting down; not starting %s", rec->fields[1]);
		bus_close(bus);
		return 0;
	}
	host_action("start unit %s", rec->fields[1]);
	if (host_is_dry_run()) {
		bus_close(bus);
		return 0;
	}
	r = bus_unit_job(bus, "StartUnit", rec->fields[1], timeout, result, sizeof(result));
	bus_close(bus);
	if (r < 0)
		return log_error(STAGE, 0, "cannot start %s: %s", rec->fields[1], bus_last_error());
	log_info(STAGE, "%s started", rec->fields[1]);
	return 0;
}

const struct stage stage_display = {
	.name = STAGE,
	.prepare = display_prepare,
	.undo = display_undo,
	.shared = true,
};
