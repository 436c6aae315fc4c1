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
#define MASK_MAX (CPUSET_MAX / 8)

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

static void to_mask(const struct cpuset *set, uint8_t *mask, size_t *len)
{
	*len = 0;
	memset(mask, 0, MASK_MAX);
	for (unsigned c = 0; c < CPUSET_MAX; c++)
		if (cpuset_has(set, c)) {
			mask[c / 8] |= (uint8_t)(1u << (c % 8));
			if (c / 8 + 1 > *len)
				*len = c / 8 + 1;
		}
}

static void mask_to_hex(const uint8_t *mask, size_t len, char *out)
{
	if (len == 0) {
		strcpy(out, "-");
		return;
	}
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", mask[i]);
}

static int hex_to_mask(const char *hex, uint8_t *mask, size_t *len)
{
	size_t l = strlen(hex);

	*len = 0;
	if (streq(hex, "-"))
		return 0;
	if (l % 2 || l / 2 > MASK_MAX)
		return -EINVAL;
	for (size_t i = 0; i < l / 2; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		mask[i] = (uint8_t)v;
	}
	*len = l / 2;
	return 0;
}

static int isolation_prepare(struct run *run)
{
	struct cpuset cpus;
	struct sd_bus *bus = NULL;
	uint8_t mask[MASK_MAX], old[MASK_MAX];
	char list[256], hex[2 * MASK_MAX + 2];
	size_t len, old_len;
	int r;

	if (!run->vm->host_cpus[0])
		return 0;
	r = host_cpus(run, &cpus);
	if (r < 0)
		return r;
	to_mask(&cpus, mask, &len);
	cpuset_format(&cpus, list, sizeof(list));
	if (bus_connect(&bus) < 0) {
		if (!host_is_dry_run())
			return log_fail(STAGE, 0, "cannot isolate CPUs: %s", bus_last_error());
		for (size_t i = 0; i < ELEMENTSOF(units); i++)
			host_action("set %s AllowedCPUs=%s", units[i], list);
		return 0;
	}
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(units); i++) {
		if (hook_shared_held(run, STAGE, units[i])) {
			r = state_add(run->state, STAGE, units[i], NULL);
			continue;
		}
		r = bus_get_allowed_cpus(bus, units[i], old, sizeof(old), &old_len);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r < 0) {
			r = log_fail(STAGE, 0, "cannot read AllowedCPUs of %s: %s", units[i], bus_last_error());
			break;
		}
		mask_to_hex(old, old_len, hex);
		r = state_add(run->state, STAGE, units[i], hex, NULL);
		if (r < 0) {
			r = log_fail(STAGE, r, "cannot record state");
			break;
		}
		host_action("set %s AllowedCPUs=%s", units[i], list);
		if (host_is_dry_run())
			continue;
		r = bus_set_allowed_cpus(bus, units[i], mask, len);
		if (r < 0) {
			(void)state_drop_last(run->state); /* refused: the unit is as it was */
			r = log_fail(STAGE, 0, "cannot set AllowedCPUs of %s: %s", units[i], bus_last_error());
		}
		else
			log_info(STAGE, "%s limited to CPUs %s", units[i], list);
	}
	bus_close(bus);
	return r;
}

/* Record: isolation UNIT OLD-MASK-HEX ("-": none); or isolation UNIT (another VM's) */
static int isolation_undo(struct run *run, const struct record *rec)
{
	struct sd_bus *bus = NULL;
	uint8_t mask[MASK_MAX];
	size_t len;
	int r;

	if (rec->n_fields == 2)
		return 0;
	if (rec->n_fields != 3 || hex_to_mask(rec->fields[2], mask, &len) < 0)
		return log_error(STAGE, EINVAL, "malformed state record");
	host_action("set %s AllowedCPUs=%s", rec->fields[1], len ? rec->fields[2] : "(reset)");
	if (host_is_dry_run())
		return 0;
	if (bus_connect(&bus) < 0)
		return log_error(STAGE, 0, "cannot restore AllowedCPUs of %s: %s", rec->fields[1], bus_last_error());
	/*
	 * Every online CPU first: systemd ignores a reset to empty while a sibling still uses the
	 * cpuset controller, and the unit would stay on the host CPUs.
	 */
	{
		char online[1024];
		struct cpuset all;
		uint8_t all_mask[MASK_MAX];
		size_t all_len;

		if (host_read(online, sizeof(online), "/sys/devices/system/cpu/online") >= 0 &&
		    cpuset_parse(online, &all) >= 0) {
			to_mask(&all, all_mask, &all_len);
			(void)bus_set_allowed_cpus(bus, rec->fields[1], all_mask, all_len);
		}
	}
	r = bus_set_allowed_cpus(bus, rec->fields[1], mask, len);
	bus_close(bus);
	if (r < 0)
		return log_error(STAGE, 0, "cannot restore AllowedCPUs of %s: %s", rec->fields[1], bus_last_error());
	log_info(STAGE, "%s: AllowedCPUs restored", rec->fields[1]);
	return 0;
}

const struct stage stage_isolation = {
	.name = STAGE,
	.prepare = isolation_prepare,
	.undo = isolation_undo,
	.shared = true,
};
