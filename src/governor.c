/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cpufreq governor, per policy: all policies, the ones of the VM's pinned CPUs, or a list.
 * The wanted governor must be one the policy offers (amd-pstate and intel_pstate in active
 * mode offer only performance and powersave: no ondemand, no schedutil). The governor and the
 * energy_performance_preference are recorded; on release the governor is restored first, then
 * EPP (under "performance" amd-pstate refuses EPP changes with EBUSY). A policy is shared by
 * every VM: the first one that needs it changes it, the last one to release restores it.
 */
#include <string.h>

#include "cpuset.h"
#include "hook.h"
#include "host.h"
#include "log.h"

#define STAGE "governor"
#define POLICY "/sys/devices/system/cpu/cpufreq/%s"

static bool word_in(const char *list, const char *word)
{
	size_t l = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += l)
		if ((p == list || p[-1] == ' ') && (p[l] == '\0' || p[l] == ' ' || p[l] == '\n'))
			return true;
	return false;
}

static int wanted_cpus(const struct run *run, struct cpuset *ret)
{
	const char *cpus = run->vm->governor_cpus;

	memset(ret, 0, sizeof(*ret));
	if (streq(cpus, "all"))
		return 1;
	if (streq(cpus, "pinned")) {
		if (!run->dom || (!run->dom->vcpupin[0] && !run->dom->emulatorpin[0]))
			return log_fail(STAGE, 0, "governor.cpus = \"pinned\" needs <vcpupin> in the domain XML");
		if (cpuset_add_str(ret, run->dom->vcpupin) < 0)
			return log_fail(STAGE, 0, "cannot read the domain's vcpupin cpusets");
		return 0;
	}
	return cpuset_parse(cpus, ret) < 0 ? log_fail(STAGE, 0, "bad CPU list \"%s\"", cpus) : 0;
}

static int policies(char names[][32], size_t max)
{
	DIR *d = host_opendir("/sys/devices/system/cpu/cpufreq");
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max)
		if (strncmp(de->d_name, "policy", 6) == 0 && strlen(de->d_name) < 32)
			memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
	closedir(d);
	return (int)n;
}

static int governor_prepare(struct run *run)
{
	static char names[CPUSET_MAX][32];
	const char *want = run->vm->governor;
	struct cpuset cpus;
	bool chosen[CPUSET_MAX] = { false };
	int all, n, r;

	if (!want[0])
		return 0;
	all = wanted_cpus(run, &cpus);
	if (all < 0)
		return all;
	n = policies(names, ELEMENTSOF(names));
	if (n == 0)
		return log_fail(STAGE, 0, "this host has no cpufreq policies; remove governor from kvm.conf");
	/* first check every policy, so that nothing changes when one cannot take the governor */
	for (int i = 0; i < n; i++) {
		char affected[1024], avail[512], driver[64] = "?";
		struct cpuset pc;

		if (host_read(affected, sizeof(affected), POLICY "/affected_cpus", names[i]) < 0)
			return log_fail(STAGE, 0, "cannot read the CPUs of %s", names[i]);
		/* the kernel separates affected_cpus with spaces */
		for (char *p = affected; *p; p++)
			if (*p == ' ')
				*p = ',';
		if (cpuset_parse(affected, &pc) < 0)
			return log_fail(STAGE, 0, "cannot read the CPUs of %s", names[i]);
		if (!all && !cpuset_intersects(&pc, &cpus))
			continue;
		chosen[i] = true;
		if (host_read(avail, sizeof(avail), POLICY "/scaling_available_governors", names[i]) < 0)
			return log_fail(STAGE, 0, "cannot read the governors of %s", names[i]);
		if (!word_in(avail, want)) {
			(void)host_read(driver, sizeof(driver), POLICY "/scaling_driver", names[i]);
			return log_fail(STAGE, 0, "governor \"%s\" is not offered by %s (driver %s offers: %s)",
					want, names[i], driver, avail);
		}
	}
	for (int i = 0; i < n; i++) {
		char cur[64], epp[64] = "-";

		if (!chosen[i])
			continue;
		if (hook_shared_held(run, STAGE, names[i])) {
			r = state_add(run->state, STAGE, names[i], NULL);
			if (r < 0)
				return log_fail(STAGE, r, "cannot record state");
			log_info(STAGE, "%s is already managed for another VM", names[i]);
			continue;
		}
		r = host_read(cur, sizeof(cur), POLICY "/scaling_governor", names[i]);
		if (r < 0)
			return log_fail(STAGE, r, "cannot read the governor of %s", names[i]);
		(void)host_read(epp, sizeof(epp), POLICY "/energy_performance_preference", names[i]);
		if (streq(cur, want))
			continue;
		r = state_add(run->state, STAGE, names[i], cur, epp[0] ? epp : "-", NULL);
		if (r < 0)
			return log_fail(STAGE, r, "cannot record state");
		r = host_write_str(want, 0, POLICY "/scaling_governor", names[i]);
		if (r < 0)
			return log_fail(STAGE, r, "cannot set governor %s on %s", want, names[i]);
		log_info(STAGE, "%s: %s -> %s", names[i], cur, want);
	}
	return 0;
}

/* Record: governor POLICY GOVERNOR EPP ("-": none); or governor POLICY (another VM's change) */
static int governor_undo(struct run *run, const struct record *rec)
{
	int r;

	if (rec->n_fields == 2)
		return 0;
	if (rec->n_fields != 4)
		return log_error(STAGE, EINVAL, "malformed state record");
	r = host_write_str(rec->fields[2], 0, POLICY "/scaling_governor", rec->fields[1]);
	if (r < 0)
		return log_error(STAGE, r, "cannot restore governor %s on %s", rec->fields[2], rec->fields[1]);
	if (!streq(rec->fields[3], "-")) {
		/* after the governor: under "performance" the EPP is pinned */
		r = host_write_str(rec->fields[3], 0, POLICY "/energy_performance_preference", rec->fields[1]);
		if (r == -EBUSY)
			log_info(STAGE, "%s: EPP stays pinned under %s", rec->fields[1], rec->fields[2]);
		else if (r < 0)
			return log_error(STAGE, r, "cannot restore EPP %s on %s", rec->fields[3], rec->fields[1]);
	}
	log_info(STAGE, "%s: back to %s", rec->fields[1], rec->fields[2]);
	return 0;
}

const struct stage stage_governor = {
	.name = STAGE,
	.prepare = governor_prepare,
	.undo = governor_undo,
	.shared = true,
};
