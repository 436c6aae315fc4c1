/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hugepages for the VM's memory. Only the deficit is allocated, on top of the pages already
 * free (other VMs' pages stay untouched), the count the kernel really gave is read back (a
 * write of nr_hugepages is a request, not a promise), and memory is compacted and the write
 * retried within a time budget. Release gives back exactly the pages this VM added: never a
 * blind "echo 0". With numatune pinning the VM to host nodes, the pages come from those nodes.
 */
#include <limits.h>
#include <string.h>

#include "cpuset.h"
#include "hook.h"
#include "host.h"
#include "log.h"

#define STAGE "hugepages"

static int read_u64(uint64_t *ret, const char *path, const char *file)
{
	char buf[64], *end;
	int r = host_read(buf, sizeof(buf), "%s/%s", path, file);

	if (r < 0)
		return r;
	errno = 0;
	*ret = strtoull(buf, &end, 10);
	return errno || end == buf ? -EINVAL : 0;
}

static uint64_t default_size_kib(void)
{
	_cleanup_free_ char *meminfo = NULL;
	const char *p;

	if (host_read_all(&meminfo, 1 << 20, "/proc/meminfo") < 0)
		return 2048;
	p = strstr(meminfo, "Hugepagesize:");
	return p ? strtoull(p + 13, NULL, 10) : 2048;
}

static void size_name(uint64_t kib, char *buf, size_t size)
{
	if (kib >= 1048576 && kib % 1048576 == 0)
		snprintf(buf, size, "%llu GiB", (unsigned long long)(kib / 1048576));
	else
		snprintf(buf, size, "%llu MiB", (unsigned long long)(kib / 1024));
}

/* Makes wanted pages available in the pool at base (global or one node). */
static int allocate(struct run *run, const char *base, const char *where, uint64_t size_kib,
		    uint64_t wanted)
{
	const struct vm_conf *vm = run->vm;
	uint64_t total, free_pages, resv = 0, target, got = 0;
	double deadline = now_seconds() + vm->hp_timeout;
	char sz[32], num[32];
	unsigned tries = 0;
	int r;

	size_name(size_kib, sz, sizeof(sz));
	if (read_u64(&total, base, "nr_hugepages") < 0 || read_u64(&free_pages, base, "free_hugepages") < 0)
		return log_fail(STAGE, 0, "this host has no %s huge pages%s (%s)", sz, where, base);
	(void)read_u64(&resv, base, "resv_hugepages"); /* global pools only */
	if (free_pages >= resv + wanted) {
		log_info(STAGE, "%llu free %s pages%s already cover the %llu needed",
			 (unsigned long long)(free_pages - resv), sz, where, (unsigned long long)wanted);
		return 0;
	}
	target = total + wanted - (free_pages - (resv < free_pages ? resv : free_pages));
	r = state_add(run->state, STAGE, base, (snprintf(num, sizeof(num), "%llu", (unsigned long long)total), num),
		      "0", NULL);
	if (r < 0)
		return log_fail(STAGE, r, "cannot record state");
	snprintf(num, sizeof(num), "%llu", (unsigned long long)target);
	for (;;) {
		r = host_write_str(num, 0, "%s/nr_hugepages", base);
		if (r < 0 && r != -ENOMEM)
			return log_fail(STAGE, r, "cannot write %s/nr_hugepages", base);
		if (host_is_dry_run())
			return 0;
		if (read_u64(&got, base, "nr_hugepages") < 0)
			got = total;
		/* what this VM added so far, for release and rollback */
		{
			struct record *rec = &run->state->records[run->state->n_records - 1];
			char added[32];
			snprintf(added, sizeof(added), "%llu", (unsigned long long)(got > total ? got - total : 0));
			free(rec->fields[3]);
			rec->fields[3] = strdup(added);
			if (!rec->fields[3] || state_save(run->state) < 0)
				return log_fail(STAGE, ENOMEM, "cannot record state");
		}
		if (got >= target)
			break;
		if (now_seconds() >= deadline)
			return log_fail(STAGE, 0,
					"only %llu of %llu %s huge pages%s could be had within %.0f s "
					"(memory too fragmented; reserve them at boot or allow more time)",
					(unsigned long long)(got > total ? got - total : 0) + (free_pages - resv),
					(unsigned long long)wanted, sz, where, vm->hp_timeout);
		/* defragment, then try again: compaction first, then (if allowed) the page cache */
		(void)host_write_str("1", 0, "/proc/sys/vm/compact_memory");
		if (vm->hp_drop_caches && tries > 0) {
			sync();
			(void)host_write_str("3", 0, "/proc/sys/vm/drop_caches");
		}
		tries++;
		sleep_seconds(0.02);
	}
	log_info(STAGE, "%llu %s pages%s allocated (pool %llu -> %llu)",
		 (unsigned long long)(got - total), sz, where, (unsigned long long)total,
		 (unsigned long long)got);
	return 0;
}

static int hugepages_prepare(struct run *run)
{
	const struct vm_conf *vm = run->vm;
	const struct domain *dom = run->dom;
	uint64_t size_kib = vm->hp_size_kib, pages = vm->hp_pages;
	struct cpuset nodes = { { 0 } };
	char base[PATH_MAX];
	unsigned n_nodes;

	if (!vm->hugepages)
		return 0;
	if (!pages && (!dom || !dom->hugepages)) {
		log_info(STAGE, "the domain does not use hugepages; nothing to allocate");
		return 0;
	}
	if (!size_kib && dom && dom->n_pages > 0)
		size_kib = dom->pages[0].size_kib;
	if (!size_kib)
		size_kib = default_size_kib();
	if (!pages)
		pages = (dom->memory_kib + size_kib - 1) / size_kib;
	if (dom && dom->numa_nodeset[0] && cpuset_parse(dom->numa_nodeset, &nodes) < 0)
		return log_fail(STAGE, 0, "cannot read the domain's numatune nodeset \"%s\"", dom->numa_nodeset);
	n_nodes = cpuset_count(&nodes);
	if (n_nodes == 0) {
		snprintf(base, sizeof(base), "/sys/kernel/mm/hugepages/hugepages-%llukB", (unsigned long long)size_kib);
		return allocate(run, base, "", size_kib, pages);
	}
	/* spread over the host nodes numatune names, the first ones taking the remainder */
	for (unsigned node = 0, i = 0; node < CPUSET_MAX; node++) {
		uint64_t share = pages / n_nodes + (i < pages % n_nodes ? 1 : 0);
		char where[32];
		int r;

		if (!cpuset_has(&nodes, node))
			continue;
		i++;
		snprintf(base, sizeof(base), "/sys/devices/system/node/node%u/hugepages/hugepages-%llukB", node,
			 (unsigned long long)size_kib);
		snprintf(where, sizeof(where), " on node %u", node);
		r = allocate(run, base, where, size_kib, share);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Record: hugepages POOL TOTAL-BEFORE ADDED */
static int hugepages_undo(struct run *run, const struct record *rec)
{
	unsigned long long added, cur;
	char buf[32];
	int r;

	if (rec->n_fields != 4)
		return log_error(STAGE, EINVAL, "malformed state record");
	added = strtoull(rec->fields[3], NULL, 10);
	if (added == 0)
		return 0;
	r = host_read(buf, sizeof(buf), "%s/nr_hugepages", rec->fields[1]);
	if (r < 0)
		return log_error(STAGE, r, "cannot read %s/nr_hugepages", rec->fields[1]);
	cur = strtoull(buf, NULL, 10);
	snprintf(buf, sizeof(buf), "%llu", cur > added ? cur - added : 0);
	r = host_write_str(buf, 0, "%s/nr_hugepages", rec->fields[1]);
	if (r < 0)
		return log_error(STAGE, r, "cannot give back %llu huge pages", added);
	log_info(STAGE, "%llu pages given back (pool %llu -> %s)", added, cur, buf);
	return 0;
}

const struct stage stage_hugepages = {
	.name = STAGE,
	.prepare = hugepages_prepare,
	.undo = hugepages_undo,
};
