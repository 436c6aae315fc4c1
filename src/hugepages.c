/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hugepages for the VM's memory. Only the deficit is allocated, on top of the pages already
 * free (other VMs' pages stay untouched), the count the kernel really gave is read back (a
 * write of nr_hugepages is a request, not a promise), and memory is compacted and the write
 * retried within a time budget. Release gives back exactly the pages this VM added: never a
 * blind "echo 0". With numatune pinning the VM to host nodes, the pages come from those nodes.
 * A request larger than the host's memory is refused before anything is written.
 */
#include <limits.h>
#include <string.h>

#include "cpuset.h"
#include "hook.h"
#include "host.h"
#include "log.h"

#define STAGE "hugepages"
#define KERNEL_FLOOR_KIB (128 * 1024ull)

static int read_u64(struct plan *p, uint64_t *ret, const char *path, const char *file)
{
	char buf[64], *end;
	int r = view_read(p, buf, sizeof(buf), "%s/%s", path, file);

	if (r < 0)
		return r;
	errno = 0;
	*ret = strtoull(buf, &end, 10);
	return errno || end == buf ? -EINVAL : 0;
}

/* A field of /proc/meminfo in KiB; 0 when it is not there. */
static uint64_t meminfo_kib(const char *field)
{
	_cleanup_free_ char *meminfo = NULL;
	const char *p;

	if (host_read_all(&meminfo, 1 << 20, "/proc/meminfo") < 0)
		return 0;
	p = strstr(meminfo, field);
	return p ? strtoull(p + strlen(field), NULL, 10) : 0;
}

static void size_name(uint64_t kib, char *buf, size_t size)
{
	if (kib >= 1048576 && kib % 1048576 == 0)
		snprintf(buf, size, "%llu GiB", (unsigned long long)(kib / 1048576));
	else
		snprintf(buf, size, "%llu MiB", (unsigned long long)(kib / 1024));
}

/* Plans making wanted pages available in the pool at base (global or one node). */
static int plan_pool(struct plan *p, const char *base, const char *where, uint64_t size_kib, uint64_t wanted)
{
	const struct vm_conf *vm = p->run->vm;
	struct record rec = { .kind = REC_HUGEPAGES };
	uint64_t total, free_pages, resv = 0, avail, target;
	struct action *a;
	struct op *o;
	char sz[32], num[32];

	size_name(size_kib, sz, sizeof(sz));
	if (read_u64(p, &total, base, "nr_hugepages") < 0 || read_u64(p, &free_pages, base, "free_hugepages") < 0)
		return log_fail(STAGE, 0, "this host has no %s huge pages%s (%s)", sz, where, base);
	(void)read_u64(p, &resv, base, "resv_hugepages"); /* global pools only */
	avail = free_pages > resv ? free_pages - resv : 0;
	if (avail >= wanted) {
		log_info(STAGE, "%llu free %s pages%s already cover the %llu needed", (unsigned long long)avail, sz,
			 where, (unsigned long long)wanted);
		return 0;
	}
	target = total + wanted - avail;
	if (snprintf(rec.hugepages.pool, sizeof(rec.hugepages.pool), "%s", base) >= (int)sizeof(rec.hugepages.pool))
		return log_fail(STAGE, 0, "pool path %s is too long", base);
	rec.hugepages.before = total;
	rec.hugepages.target = target;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)target);
	a = plan_action(p, REC_HUGEPAGES, &rec);
	if (!a || !(o = plan_op(p, OP_HUGEPAGES, num, "%s", base)))
		return -ENOMEM;
	o->timeout = vm->hp_timeout;
	o->had = avail;
	snprintf(o->fail, sizeof(o->fail), "%s huge pages%s", sz, where);
	snprintf(a->done, sizeof(a->done), "%llu %s pages%s allocated (pool %llu -> %llu)",
		 (unsigned long long)(target - total), sz, where, (unsigned long long)total,
		 (unsigned long long)target);
	return 0;
}

static int hugepages_plan(struct plan *p)
{
	const struct vm_conf *vm = p->run->vm;
	const struct domain *dom = p->run->dom;
	uint64_t size_kib = vm->hp_size_kib, pages = vm->hp_pages, mem_kib;
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
		size_kib = meminfo_kib("Hugepagesize:");
	if (!size_kib)
		size_kib = 2048;
	if (!pages)
		pages = (dom->memory_kib + size_kib - 1) / size_kib;
	/* what the host could ever give: its memory, less what the kernel keeps for itself */
	mem_kib = meminfo_kib("MemTotal:");
	if (mem_kib && pages > (mem_kib - MIN(mem_kib, MAX(KERNEL_FLOOR_KIB, mem_kib / 32))) / size_kib)
		return log_fail(STAGE, 0,
				"%llu huge pages of %llu KiB are more than this host could ever give: it has %llu MiB "
				"of memory, and the kernel keeps at least %llu MiB of it",
				(unsigned long long)pages, (unsigned long long)size_kib, (unsigned long long)(mem_kib / 1024),
				(unsigned long long)(MAX(KERNEL_FLOOR_KIB, mem_kib / 32) / 1024));
	if (dom && dom->numa_nodeset[0] && cpuset_parse(dom->numa_nodeset, &nodes) < 0)
		return log_fail(STAGE, 0, "cannot read the domain's numatune nodeset \"%s\"", dom->numa_nodeset);
	n_nodes = cpuset_count(&nodes);
	if (n_nodes == 0) {
		snprintf(base, sizeof(base), "/sys/kernel/mm/hugepages/hugepages-%llukB", (unsigned long long)size_kib);
		return plan_pool(p, base, "", size_kib, pages);
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
		r = plan_pool(p, base, where, size_kib, share);
		if (r < 0)
			return r;
	}
	return 0;
}

static int hugepages_plan_undo(struct plan *p, const struct record *rec, size_t index)
{
	const typeof(rec->hugepages) *h = &rec->hugepages;
	struct action *a = plan_undo_action(p, REC_HUGEPAGES, index);
	uint64_t cur, give;
	char num[32];
	struct op *o;

	if (!a)
		return -ENOMEM;
	if (read_u64(p, &cur, h->pool, "nr_hugepages") < 0) {
		snprintf(a->done, sizeof(a->done), "cannot read %s/nr_hugepages", h->pool);
		return 0;
	}
	/* not known (a crash or a write that did not return in time): no more than were asked
	 * for, and none that were there before */
	give = h->added_known ? h->added : MIN(h->target - MIN(h->target, h->before), cur - MIN(cur, h->before));
	if (give == 0)
		return 0;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)(cur > give ? cur - give : 0));
	o = plan_op(p, OP_WRITE, num, "%s/nr_hugepages", h->pool);
	if (!o)
		return -ENOMEM;
	snprintf(o->fail, sizeof(o->fail), "cannot give back %llu huge pages", (unsigned long long)give);
	snprintf(a->done, sizeof(a->done), "%llu pages given back (pool %llu -> %s)", (unsigned long long)give,
		 (unsigned long long)cur, num);
	return 0;
}

const struct stage stage_hugepages = {
	.kind = REC_HUGEPAGES,
	.plan = hugepages_plan,
	.plan_undo = hugepages_plan_undo,
};
