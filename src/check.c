/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `vfiohook check`: after the configuration, the host, and for every VM the very plan prepare
 * would make, with its checks: what prepare would refuse, check reports, in the same words.
 * One line per finding, "ok:", "warning:" or "error:"; nothing is changed.
 */
#include <stdarg.h>
#include <string.h>

#include "check.h"
#include "host.h"
#include "log.h"

static void finding(const char *level, const char *fmt, ...) _printf_(2, 3);
static void finding(const char *level, const char *fmt, ...)
{
	va_list ap;

	printf("  %s: ", level);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

unsigned check_host(void)
{
	char **groups = NULL;
	size_t n = 0;

	(void)host_dir_list(&groups, &n, "/sys/kernel/iommu_groups");
	strv_free(groups, n);
	if (n) {
		finding("ok", "IOMMU enabled (%zu groups)", n);
		return 0;
	}
	finding("error", "no IOMMU groups: enable VT-d/AMD-Vi in the firmware and intel_iommu=on or "
			 "amd_iommu=on on the kernel command line");
	return 1;
}

unsigned check_vm(struct run *run)
{
	struct state s;
	struct plan p;
	int r;

	log_clear_failure();
	log_set_context(run->vm_name, "check");
	r = state_find(run->vm_name, run->dom ? run->dom->uuid : NULL, &s);
	if (r == -EBADMSG) {
		finding("error", "%s: its state %s/%s cannot be read (%s)", run->vm_name, STATE_DIR, s.file, s.error);
		return 1;
	}
	if (r == 0) {
		bool complete = s.complete;
		size_t n = s.n_records;
		state_done(&s);
		if (complete) {
			finding("ok", "%s: prepared now (%zu change(s) recorded)", run->vm_name, n);
			return 0;
		}
	}
	r = state_init(&s, run->vm_name, run->dom ? run->dom->uuid : NULL, false);
	if (r < 0) {
		finding("error", "%s: bad VM name", run->vm_name);
		return 1;
	}
	run->state = &s;
	r = plan_init(&p, run);
	if (r >= 0)
		r = hook_plan_prepare(&p);
	if (r >= 0)
		finding("ok", "%s: prepare would make %zu change(s)", run->vm_name, plan_n_ops(&p));
	else
		finding("error", "%s: %s", run->vm_name, log_failure() ? log_failure() : strerror(-r));
	plan_done(&p);
	run->state = NULL;
	log_clear_failure();
	return r < 0;
}
