/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `vfiohook status [VM] [--json]`: what every VM holds on this host right now, as its state
 * file in /run/vfiohook records it: the devices and the drivers they go back to, the stopped
 * units, unbound consoles and framebuffers, unloaded modules, the vfio modules, hugepages,
 * governors and slices; which of these it only holds (another VM changed them first), since
 * when, and whether its prepare finished. It reads, never locks and never changes anything: a
 * hook run replaces a state file atomically, so a reader sees the old or the new one whole.
 *
 * A state file that cannot be read is listed with its reason; it is never a failure of
 * status, because it is exactly what an administrator runs status to find.
 */
#include <ctype.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "cpuset.h"
#include "hook.h"
#include "host.h"
#include "state.h"
#include "text.h"

/* --- output helpers ----------------------------------------------------------------------- */

/* An optional string: empty is absent, null in JSON. */
static void json_opt(const char *s)
{
	if (s && *s)
		put_json_str(s);
	else
		fputs("null", stdout);
}

/* The state file's mtime, when it was last changed, in ISO 8601 local time; empty if unknown. */
static void since(const char *file, char *buf, size_t size)
{
	char p[PATH_MAX], tz[8];
	struct stat st;
	struct tm tm;
	size_t n;

	buf[0] = '\0';
	if (host_path(p, sizeof(p), STATE_DIR "/%s", file) < 0 || lstat(p, &st) < 0 ||
	    !localtime_r(&st.st_mtime, &tm))
		return;
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	/* strftime's %z is +hhmm; ISO 8601's extended form, which the date has, wants +hh:mm */
	if (n == 0 || strftime(tz, sizeof(tz), "%z", &tm) != 5) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf + n, size - n, "%.3s:%.2s", tz, tz + 3);
}

static int cmp_state(const void *a, const void *b)
{
	const struct state *x = a, *y = b;
	int r;

	/* a file that does not even say whose it is comes last */
	if (!x->vm[0] != !y->vm[0])
		return x->vm[0] ? -1 : 1;
	r = strcmp(x->vm, y->vm);
	return r ? r : strcmp(x->file, y->file);
}

/* --- human output ------------------------------------------------------------------------- */

/* The order of the sections: what a VM is given first, then what the host gave up for it. */
static const enum record_kind order[] = { REC_PCI,  REC_DISPLAY, REC_VTCON,    REC_FRAMEBUFFER, REC_KMOD,
					  REC_VFIO, REC_HUGEPAGES, REC_GOVERNOR, REC_ISOLATION };

static const char held_note[] = " (held: another VM changed it first; the last VM to release restores it)";

/* Where a device is now: what release finds (libvirt may have moved it meanwhile). */
static void current_driver(const char *bdf, char *buf, size_t size)
{
	if (host_link_name(buf, size, "/sys/bus/pci/devices/%s/driver", bdf) >= 0)
		return;
	snprintf(buf, size, "%s", host_exists("/sys/bus/pci/devices/%s", bdf) ? "no driver" : "nothing (gone)");
}

static void print_record(const struct record *r)
{
	char now[256];

	switch (r->kind) {
	case REC_PCI:
		current_driver(r->pci.bdf, now, sizeof(now));
		printf("  device       %s on %s, ", r->pci.bdf, now);
		if (r->pci.driver[0])
			printf("original driver %s", r->pci.driver);
		else
			printf("had no driver");
		if (r->pci.override[0])
			printf(", driver_override was %s", r->pci.override);
		break;
	case REC_DISPLAY:
		printf("  unit         %s stopped", r->display.unit);
		break;
	case REC_VTCON:
		printf("  console      \"");
		put_text(r->vtcon.name);
		printf("\" unbound");
		break;
	case REC_FRAMEBUFFER:
		printf("  framebuffer  %s unbound from %s", r->framebuffer.device, r->framebuffer.driver);
		break;
	case REC_KMOD:
		printf("  module       %s unloaded", r->kmod.module);
		break;
	case REC_VFIO:
		printf("  vfio module  %s loaded", r->vfio.module);
		break;
	case REC_HUGEPAGES:
		printf("  hugepages    %s: %llu -> %llu, ", r->hugepages.pool, (unsigned long long)r->hugepages.before,
		       (unsigned long long)r->hugepages.target);
		if (r->hugepages.added_known)
			printf("%llu added", (unsigned long long)r->hugepages.added);
		else
			printf("at most %llu added (the write's outcome is not known)",
			       (unsigned long long)(r->hugepages.target > r->hugepages.before
							    ? r->hugepages.target - r->hugepages.before
							    : 0));
		break;
	case REC_GOVERNOR:
		printf("  governor     %s", r->governor.policy);
		if (!r->held) {
			printf(" changed, was %s", r->governor.governor);
			if (r->governor.epp[0])
				printf(" (epp %s)", r->governor.epp);
		}
		break;
	case REC_ISOLATION:
		printf("  slice        %s", r->isolation.unit);
		if (!r->held)
			printf(" limited, AllowedCPUs was %s", r->isolation.cpus[0] ? r->isolation.cpus : "unset");
		break;
	default:
		printf("  %-12s %s", record_kind_name(r->kind), record_key(r));
	}
	if (r->held)
		fputs(held_note, stdout);
	putchar('\n');
}

/* N of "policyN", or -1 */
static int policy_number(const char *name)
{
	char *end;
	unsigned long n;

	if (strncmp(name, "policy", 6) != 0 || !isdigit((unsigned char)name[6]))
		return -1;
	n = strtoul(name + 6, &end, 10);
	return *end || n >= CPUSET_MAX ? -1 : (int)n;
}

/*
 * Governor records, one per cpufreq policy, are many on a desktop (one per CPU with
 * amd-pstate): those that were changed from the same governor and EPP are one line, their
 * policy numbers as a CPU list.
 */
static void print_governors(const struct state *s)
{
	_cleanup_free_ bool *done = calloc(s->n_records ? s->n_records : 1, sizeof(bool));

	for (size_t i = 0; i < s->n_records; i++) {
		const struct record *r = &s->records[i];
		struct cpuset set = { { 0 } };
		char list[256];
		unsigned n = 0;

		if (r->kind != REC_GOVERNOR || (done && done[i]))
			continue;
		if (!done || policy_number(r->governor.policy) < 0) {
			print_record(r);
			continue;
		}
		for (size_t j = i; j < s->n_records; j++) {
			const struct record *o = &s->records[j];
			int k = o->kind == REC_GOVERNOR ? policy_number(o->governor.policy) : -1;

			if (k < 0 || done[j] || o->held != r->held || !streq(o->governor.governor, r->governor.governor) ||
			    !streq(o->governor.epp, r->governor.epp))
				continue;
			cpuset_set(&set, (unsigned)k);
			done[j] = true;
			n++;
		}
		cpuset_format(&set, list, sizeof(list));
		if (n == 1) {
			print_record(r);
			continue;
		}
		printf("  governor     policies %s", list);
		if (!r->held) {
			printf(" changed, were %s", r->governor.governor);
			if (r->governor.epp[0])
				printf(" (epp %s)", r->governor.epp);
		}
		printf("%s\n", r->held ? held_note : "");
	}
}

static void print_human(const struct state *s)
{
	char when[64];

	since(s->file, when, sizeof(when));
	if (s->vm[0])
		put_text(s->vm);
	else
		printf("(unknown VM)");
	putchar('\n');
	if (s->uuid[0])
		printf("  uuid         %s\n", s->uuid);
	printf("  state file   %s/%s\n", STATE_DIR, s->file);
	printf("  since        %s\n", when[0] ? when : "(unknown)");
	if (s->error[0]) {
		const char *who = s->vm[0] ? s->vm : "VM";

		printf("  error        cannot be read: ");
		put_text(s->error);
		/* what prepare's refusal says too: the two ways out */
		printf("\n               (vfiohook release ");
		put_text(who);
		printf(" retries it, vfiohook forget ");
		put_text(who);
		printf(" drops it)\n");
		return;
	}
	printf("  prepare      %s\n",
	       s->complete ? "complete"
			   : "not complete (running now, or interrupted: release undoes what is recorded)");
	if (s->n_records == 0)
		printf("  records      none\n");
	for (size_t k = 0; k < ELEMENTSOF(order); k++) {
		if (order[k] == REC_GOVERNOR) {
			print_governors(s);
			continue;
		}
		for (size_t i = 0; i < s->n_records; i++)
			if (s->records[i].kind == order[k])
				print_record(&s->records[i]);
	}
}

/* --- JSON output -------------------------------------------------------------------------- */

static void json_record(const struct record *r)
{
	char now[256];

	switch (r->kind) {
	case REC_PCI:
		printf("{\"bdf\": ");
		put_json_str(r->pci.bdf);
		printf(", \"driver\": ");
		json_opt(r->pci.driver);
		printf(", \"override\": ");
		json_opt(r->pci.override);
		/* null: unbound or gone */
		if (host_link_name(now, sizeof(now), "/sys/bus/pci/devices/%s/driver", r->pci.bdf) < 0)
			now[0] = '\0';
		printf(", \"current_driver\": ");
		json_opt(now);
		break;
	case REC_DISPLAY:
		printf("{\"unit\": ");
		put_json_str(r->display.unit);
		break;
	case REC_VTCON:
		printf("{\"name\": ");
		put_json_str(r->vtcon.name);
		break;
	case REC_FRAMEBUFFER:
		printf("{\"device\": ");
		put_json_str(r->framebuffer.device);
		printf(", \"driver\": ");
		put_json_str(r->framebuffer.driver);
		break;
	case REC_KMOD:
	case REC_VFIO:
		printf("{\"module\": ");
		put_json_str(r->kind == REC_KMOD ? r->kmod.module : r->vfio.module);
		break;
	case REC_HUGEPAGES:
		printf("{\"pool\": ");
		put_json_str(r->hugepages.pool);
		printf(", \"before\": %llu, \"target\": %llu, \"added\": ", (unsigned long long)r->hugepages.before,
		       (unsigned long long)r->hugepages.target);
		if (r->hugepages.added_known)
			printf("%llu", (unsigned long long)r->hugepages.added);
		else
			fputs("null", stdout);
		break;
	case REC_GOVERNOR:
		printf("{\"policy\": ");
		put_json_str(r->governor.policy);
		printf(", \"governor\": ");
		json_opt(r->governor.governor);
		printf(", \"epp\": ");
		json_opt(r->governor.epp);
		break;
	case REC_ISOLATION:
		printf("{\"unit\": ");
		put_json_str(r->isolation.unit);
		printf(", \"cpus\": ");
		json_opt(r->isolation.cpus);
		break;
	default:
		printf("{\"key\": ");
		put_json_str(record_key(r));
	}
	printf(", \"held\": %s}", r->held ? "true" : "false");
}

static void print_json(const struct state *s)
{
	char when[64], path[sizeof(STATE_DIR) + sizeof(s->file)];

	since(s->file, when, sizeof(when));
	printf("  {\"vm\": ");
	json_opt(s->vm);
	printf(", \"uuid\": ");
	json_opt(s->uuid);
	printf(", \"file\": ");
	snprintf(path, sizeof(path), STATE_DIR "/%s", s->file);
	put_json_str(path);
	printf(", \"since\": ");
	json_opt(when);
	printf(", \"complete\": %s, \"error\": ", s->complete ? "true" : "false");
	json_opt(s->error);
	for (size_t k = 0; k < ELEMENTSOF(order); k++) {
		bool first = true;

		printf(",\n   \"%s\": [", record_kind_name(order[k]));
		for (size_t i = 0; i < s->n_records; i++) {
			if (s->records[i].kind != order[k])
				continue;
			printf(first ? "\n    " : ",\n    ");
			json_record(&s->records[i]);
			first = false;
		}
		printf("]");
	}
	printf("}");
}

int cmd_status(const struct options *o)
{
	const char *vm = o->n_args > 0 ? o->args[0] : NULL;
	struct state *states = NULL;
	size_t n = 0, shown = 0;
	int r;

	r = state_load_others(NULL, &states, &n);
	if (r < 0) {
		fprintf(stderr, "vfiohook: cannot read %s: %s\n", STATE_DIR,
			r == -EPERM ? "it is not a directory of root's with mode 0700" : strerror(-r));
		return EXIT_FAILED;
	}
	if (n)
		qsort(states, n, sizeof(*states), cmp_state);
	if (o->json)
		printf("[");
	for (size_t i = 0; i < n; i++) {
		const struct state *s = &states[i];

		/* an unreadable file that does not say whose it is may be this VM's */
		if (vm && !streq(s->vm, vm) && !(s->error[0] && !s->vm[0]))
			continue;
		if (o->json) {
			printf(shown ? ",\n" : "\n");
			print_json(s);
		} else {
			if (shown)
				putchar('\n');
			print_human(s);
		}
		shown++;
	}
	if (o->json)
		printf(shown ? "\n]\n" : "]\n");
	else if (!shown && vm) {
		put_text(vm);
		printf(": nothing recorded (not prepared by vfiohook, or released)\n");
	} else if (!shown)
		printf("nothing recorded: no VM holds anything of this host (no state in %s)\n", STATE_DIR);
	state_free_all(states, n);
	return EXIT_OK;
}
