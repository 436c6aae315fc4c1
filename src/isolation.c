/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CPU isolation: while the VM runs, the host's own processes (system.slice, user.slice,
 * init.scope) are limited to the host CPUs with AllowedCPUs, set at runtime over D-Bus as
 * `systemctl set-property --runtime` does; machine.slice, where QEMU runs, is left alone. The
 * host CPUs come from kvm.conf, or are every online CPU the VM's vCPUs are not pinned to. The
 * previous values are recorded and set back (an empty one resets the setting).
 */
#include <string.h>

#include "bus.h"
#include "cpuset.h"
#include "hook.h"
#include "host.h"
#include "log.h"

#define STAGE "isolation"

static const char *const units[] = { "system.slice", "user.slice", "init.scope" };

static int host_cpus(const struct run *run, struct cpuset *ret)
{
	char online[1024];
	struct cpuset pinned = { { 0 } };

	if (!streq(run->vm->host_cpus, "auto"))
		return cpuset_parse(run->vm->host_cpus, ret) < 0
			       ? log_fail(STAGE, 0, "bad host CPU list \"%s\"", run->vm->host_cpus)
			       : 0;
	if (!run->dom || !run->dom->vcpupin[0])
		return log_fail(STAGE, 0, "isolation.host_cpus = \"auto\" needs <vcpupin> in the domain XML");
	if (host_read(online, sizeof(online), "/sys/devices/system/cpu/online") < 0 ||
	    cpuset_parse(online, ret) < 0)
		return log_fail(STAGE, 0, "cannot read the online CPUs");
	if (cpuset_add_str(&pinned, run->dom->vcpupin) < 0)
		return log_fail(STAGE, 0, "cannot read the domain's vcpupin cpusets");
	for (unsigned c = 0; c < CPUSET_MAX; c++)
		if (cpuset_has(&pinned, c))
			ret->bits[c / 64] &= ~(1ull << (c % 64));
	if (cpuset_empty(ret))
		return log_fail(STAGE, 0, "the vCPUs are pinned to every CPU: none is left for the host");
	return 0;
}

static int isolation_plan(struct plan *p)
{
	struct cpuset cpus;
	struct sd_bus *bus;
	char list[256];
	int r;

	if (!p->run->vm->host_cpus[0])
		return 0;
	r = host_cpus(p->run, &cpus);
	if (r < 0)
		return r;
	cpuset_format(&cpus, list, sizeof(list));
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		struct record rec = { .kind = REC_ISOLATION };
		struct action *a;
		struct op *o;

		if (plan_holder(p, REC_ISOLATION, units[i])) {
			r = plan_hold(p, REC_ISOLATION, units[i]);
			if (r < 0)
				return r;
			continue;
		}
		if (plan_bus(p, &bus) < 0)
			return log_fail(STAGE, 0, "cannot isolate CPUs: %s", bus_last_error());
		r = bus_get_allowed_cpus(bus, units[i], rec.isolation.cpus, sizeof(rec.isolation.cpus));
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return log_fail(STAGE, 0, "cannot read AllowedCPUs of %s: %s", units[i], bus_last_error());
		strcpy(rec.isolation.unit, units[i]);
		a = plan_action(p, REC_ISOLATION, &rec);
		if (!a || !(o = plan_op(p, OP_SET_CPUS, list, "%s", units[i])))
			return -ENOMEM;
		snprintf(o->fail, sizeof(o->fail), "cannot set AllowedCPUs of %s", units[i]);
		snprintf(a->done, sizeof(a->done), "%s limited to CPUs %s", units[i], list);
	}
	return 0;
}

static int isolation_plan_undo(struct plan *p, const struct record *rec, size_t index)
{
	struct action *a = plan_undo_action(p, REC_ISOLATION, index);
	const char *unit = rec->isolation.unit;
	char online[1024];
	struct op *o;

	if (!a)
		return -ENOMEM;
	/*
	 * Every online CPU first: systemd ignores a reset to empty while a sibling still uses the
	 * cpuset controller, and the unit would stay on the host CPUs.
	 */
	if (host_read(online, sizeof(online), "/sys/devices/system/cpu/online") >= 0 && strlen(online) < 256) {
		o = plan_op(p, OP_SET_CPUS, online, "%s", unit);
		if (!o)
			return -ENOMEM;
		o->optional = true;
		snprintf(o->fail, sizeof(o->fail), "cannot widen AllowedCPUs of %s first", unit);
	}
	o = plan_op(p, OP_SET_CPUS, rec->isolation.cpus, "%s", unit);
	if (!o)
		return -ENOMEM;
	snprintf(o->fail, sizeof(o->fail), "cannot restore AllowedCPUs of %s", unit);
	snprintf(a->done, sizeof(a->done), "%s: AllowedCPUs restored", unit);
	return 0;
}

const struct stage stage_isolation = {
	.kind = REC_ISOLATION,
	.plan = isolation_plan,
	.plan_undo = isolation_plan_undo,
};
