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

/* Is word one of the space-separated words of list (never a part of one)? */
static bool word_in(const char *list, const char *word)
{
	size_t l = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += l)
		if ((p == list || p[-1] == ' ') && (p[l] == '\0' || p[l] == ' ' || p[l] == '\n'))
			return true;
	return false;
}

/* 1: every policy; 0: those of the CPUs in ret. */
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

/* Is the policy one of the wanted ones, and does it offer the governor? */
static int check_policy(struct plan *p, const char *policy, int all, const struct cpuset *cpus)
{
	const char *want = p->run->vm->governor;
	char affected[1024], avail[512], driver[64] = "?";
	struct cpuset pc;

	if (host_read(affected, sizeof(affected), POLICY "/affected_cpus", policy) < 0)
		return log_fail(STAGE, 0, "cannot read the CPUs of %s", policy);
	/* the kernel separates affected_cpus with spaces */
	for (char *c = affected; *c; c++)
		if (*c == ' ')
			*c = ',';
	if (cpuset_parse(affected, &pc) < 0)
		return log_fail(STAGE, 0, "cannot read the CPUs of %s", policy);
	if (!all && !cpuset_intersects(&pc, cpus))
		return 0;
	if (host_read(avail, sizeof(avail), POLICY "/scaling_available_governors", policy) < 0)
		return log_fail(STAGE, 0, "cannot read the governors of %s", policy);
	if (!word_in(avail, want)) {
		(void)host_read(driver, sizeof(driver), POLICY "/scaling_driver", policy);
		return log_fail(STAGE, 0, "governor \"%s\" is not offered by %s (driver %s offers: %s)", want, policy,
				driver, avail);
	}
	return 1;
}

static int plan_policy(struct plan *p, const char *policy)
{
	const char *want = p->run->vm->governor;
	struct record rec = { .kind = REC_GOVERNOR };
	char cur[32];
	struct action *a;
	struct op *o;
	int r;

	if (plan_holder(p, REC_GOVERNOR, policy))
		return plan_hold(p, REC_GOVERNOR, policy);
	r = view_read(p, cur, sizeof(cur), POLICY "/scaling_governor", policy);
	if (r < 0)
		return log_fail(STAGE, r, "cannot read the governor of %s", policy);
	if (streq(cur, want))
		return 0;
	if (view_read(p, rec.governor.epp, sizeof(rec.governor.epp), POLICY "/energy_performance_preference",
		      policy) < 0)
		rec.governor.epp[0] = '\0';
	snprintf(rec.governor.policy, sizeof(rec.governor.policy), "%s", policy);
	snprintf(rec.governor.governor, sizeof(rec.governor.governor), "%s", cur);
	a = plan_action(p, REC_GOVERNOR, &rec);
	if (!a || !(o = plan_op(p, OP_WRITE, want, POLICY "/scaling_governor", policy)))
		return -ENOMEM;
	snprintf(o->fail, sizeof(o->fail), "cannot set governor %s on %s", want, policy);
	snprintf(a->done, sizeof(a->done), "%s: %s -> %s", policy, cur, want);
	return 0;
}

static int governor_plan(struct plan *p)
{
	char **names = NULL;
	size_t n = 0, chosen = 0, policies = 0;
	bool *use = NULL;
	struct cpuset cpus;
	int all, r;

	if (!p->run->vm->governor[0])
		return 0;
	all = wanted_cpus(p->run, &cpus);
	if (all < 0)
		return all;
	r = host_dir_list(&names, &n, "/sys/devices/system/cpu/cpufreq");
	if (r >= 0 && !(use = calloc(n + 1, sizeof(*use))))
		r = -ENOMEM;
	/* every policy is checked before any is planned */
	for (size_t i = 0; r >= 0 && i < n; i++) {
		if (strncmp(names[i], "policy", 6) != 0)
			continue;
		policies++;
		r = check_policy(p, names[i], all, &cpus);
		use[i] = r > 0;
		chosen += r > 0;
	}
	if (r >= 0 && policies == 0)
		r = log_fail(STAGE, 0, "this host has no cpufreq policies; remove governor from kvm.conf");
	else if (r >= 0 && chosen == 0)
		r = log_fail(STAGE, 0, "no cpufreq policy of this host covers the CPUs of governor.cpus; remove "
				       "governor from kvm.conf or fix its cpus");
	for (size_t i = 0; r >= 0 && i < n; i++)
		if (use[i])
			r = plan_policy(p, names[i]);
	free(use);
	strv_free(names, n);
	return r < 0 ? r : 0;
}

static int governor_plan_undo(struct plan *p, const struct record *rec, size_t index)
{
	struct action *a = plan_undo_action(p, REC_GOVERNOR, index);
	const char *policy = rec->governor.policy;
	struct op *o;

	if (!a || !(o = plan_op(p, OP_WRITE, rec->governor.governor, POLICY "/scaling_governor", policy)))
		return -ENOMEM;
	snprintf(o->fail, sizeof(o->fail), "cannot restore governor %s on %s", rec->governor.governor, policy);
	if (rec->governor.epp[0]) {
		/* after the governor: under "performance" the EPP is pinned */
		o = plan_op(p, OP_WRITE, rec->governor.epp, POLICY "/energy_performance_preference", policy);
		if (!o)
			return -ENOMEM;
		o->ok_errno = EBUSY;
		snprintf(o->fail, sizeof(o->fail), "%s: EPP stays pinned under %s", policy, rec->governor.governor);
	}
	snprintf(a->done, sizeof(a->done), "%s: back to %s", policy, rec->governor.governor);
	return 0;
}

const struct stage stage_governor = {
	.kind = REC_GOVERNOR,
	.plan = governor_plan,
	.plan_undo = governor_plan_undo,
};
