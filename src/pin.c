/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `vfiohook pin VM`: the tutorials' CPU pinning advice, computed from this host's topology
 * rather than copied from someone else's: N whole cores are kept for the host (core 0 of
 * package 0 first), and the VM gets whole cores, all SMT threads of each, from the L3 groups
 * (CCX/CCD on AMD) and the NUMA node closest to its GPU, as many as its <vcpu> asks for. vCPUs
 * k*T .. k*T+T-1 go to the T threads of one core, so the guest's topology (cores='C'
 * threads='T') matches what they run on. It prints the domain XML and the kvm.conf lines to
 * paste; with --check it compares the domain's <cputune> with that and exits 1 when something
 * differs. Read-only: it changes nothing, on the host or in libvirt.
 *
 * Choices:
 *  - a vCPU count that is not a multiple of the threads per core is refused (no rounding: the
 *    message names the two counts that would work);
 *  - a host whose cores have different thread counts (Intel's P- and E-cores) gives the VM
 *    only cores with the most threads; the others stay with the host;
 *  - the host's CPUs in kvm.conf's isolation are every online CPU the VM does not get (the
 *    reserved cores and any left over); emulatorpin and iothreadpin get the reserved cores.
 */
#include <limits.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "cpuset.h"
#include "dlib.h"
#include "domain.h"
#include "hook.h"
#include "host.h"
#include "pin.h"
#include "virt.h"
#include "xml.h"

#define CPU "/sys/devices/system/cpu"
#define NODE "/sys/devices/system/node"
/* each with buffers of its own: kept out of cmd_pin()'s frame */
#define _noinline_ __attribute__((noinline))

struct core {
	struct cpuset cpus; /* its threads (thread_siblings_list), online ones */
	unsigned first;     /* its lowest CPU */
	unsigned n_threads;
	unsigned package, die, id;
	size_t l3;          /* index into topo.l3 */
	int node;           /* index into topo.nodes, -1: in none */
	bool host, vm;
};

struct node {
	unsigned id;
	struct cpuset cpus;
	unsigned rank; /* distance from the GPU's node (lower: closer) */
};

struct topo {
	struct cpuset online;
	struct core *cores;
	size_t n_cores;
	struct cpuset *l3; /* the L3 groups (shared_cpu_list; a package when it has none) */
	size_t n_l3;
	struct node *nodes;
	size_t n_nodes;
	char vendor[64]; /* vendor_id of /proc/cpuinfo, empty: not known */
};

/* What the domain's XML says about CPUs (pin.c reads it itself: struct domain has no <vcpu>). */
struct dom_pins {
	unsigned vcpus;      /* <vcpu>, 0: none */
	bool cputune;
	struct cpuset *vcpu; /* [CPUSET_MAX]: vcpupin cpusets */
	bool *has_vcpu;      /* [CPUSET_MAX] */
	char extra[512];     /* vcpupins of vCPUs it does not have, or repeated */
	bool has_emu, has_io;
	struct cpuset emu, io;
	char bad[256];       /* a cpuset that does not parse */
};

static void topo_free(struct topo *t)
{
	free(t->cores);
	free(t->l3);
	free(t->nodes);
}

static void pins_free(struct dom_pins *p)
{
	free(p->vcpu);
	free(p->has_vcpu);
}

static int read_list(struct cpuset *ret, const char *path)
{
	char buf[4096];

	if (host_read(buf, sizeof(buf), "%s", path) < 0)
		return -ENOENT;
	return cpuset_parse(buf, ret);
}

static int read_uint(unsigned *ret, const char *path)
{
	char buf[64], *end;
	unsigned long v;

	if (host_read(buf, sizeof(buf), "%s", path) <= 0)
		return -ENOENT;
	errno = 0;
	v = strtoul(buf, &end, 10);
	if (errno || *end || buf[0] == '-' || v > UINT_MAX)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static void cpuset_and(struct cpuset *a, const struct cpuset *b)
{
	for (size_t i = 0; i < ELEMENTSOF(a->bits); i++)
		a->bits[i] &= b->bits[i];
}

static void cpuset_or(struct cpuset *a, const struct cpuset *b)
{
	for (size_t i = 0; i < ELEMENTSOF(a->bits); i++)
		a->bits[i] |= b->bits[i];
}

static void cpuset_minus(struct cpuset *a, const struct cpuset *b)
{
	for (size_t i = 0; i < ELEMENTSOF(a->bits); i++)
		a->bits[i] &= ~b->bits[i];
}

static bool cpuset_equal(const struct cpuset *a, const struct cpuset *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static unsigned cpuset_first(const struct cpuset *s)
{
	for (unsigned c = 0; c < CPUSET_MAX; c++)
		if (cpuset_has(s, c))
			return c;
	return CPUSET_MAX;
}

static size_t l3_group(struct topo *t, const struct cpuset *set)
{
	for (size_t i = 0; i < t->n_l3; i++)
		if (cpuset_equal(&t->l3[i], set))
			return i;
	t->l3[t->n_l3] = *set;
	return t->n_l3++;
}

/* The L3 a CPU shares: the cache/indexN whose level is 3; -ENOENT when it has none. */
static int read_l3(unsigned cpu, struct cpuset *ret)
{
	char path[PATH_MAX], level[16];

	for (unsigned i = 0; i < 16; i++) {
		snprintf(path, sizeof(path), CPU "/cpu%u/cache/index%u/level", cpu, i);
		if (host_read(level, sizeof(level), "%s", path) < 0 || !streq(level, "3"))
			continue;
		snprintf(path, sizeof(path), CPU "/cpu%u/cache/index%u/shared_cpu_list", cpu, i);
		return read_list(ret, path) < 0 ? -ENOENT : 0;
	}
	return -ENOENT;
}

static int node_cmp(const void *a, const void *b)
{
	const struct node *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

_noinline_ static void read_nodes(struct topo *t)
{
	char **names = NULL;
	size_t n = 0;

	if (host_dir_list(&names, &n, NODE) < 0 || !n)
		return;
	t->nodes = calloc(n, sizeof(*t->nodes));
	for (size_t i = 0; t->nodes && i < n; i++) {
		char path[PATH_MAX], *end;
		unsigned long id;
		struct node *nd = &t->nodes[t->n_nodes];

		if (strncmp(names[i], "node", 4) || names[i][4] < '0' || names[i][4] > '9')
			continue;
		errno = 0;
		id = strtoul(names[i] + 4, &end, 10);
		if (errno || *end || id >= CPUSET_MAX)
			continue;
		snprintf(path, sizeof(path), NODE "/%s/cpulist", names[i]);
		if (read_list(&nd->cpus, path) < 0)
			continue;
		nd->id = (unsigned)id;
		t->n_nodes++;
	}
	strv_free(names, n);
	if (t->n_nodes)
		qsort(t->nodes, t->n_nodes, sizeof(*t->nodes), node_cmp);
}

_noinline_ static void read_vendor(struct topo *t)
{
	host_cpuinfo_field("vendor_id", t->vendor, sizeof(t->vendor));
}

_noinline_ static int read_topology(struct topo *t, char *err, size_t errlen)
{
	struct cpuset seen = { { 0 } };
	char path[PATH_MAX];
	size_t pkg_group;

	if (read_list(&t->online, CPU "/online") < 0 || cpuset_empty(&t->online)) {
		snprintf(err, errlen, "cannot read the online CPUs (%s/online)", CPU);
		return -EIO;
	}
	t->cores = calloc(CPUSET_MAX, sizeof(*t->cores));
	t->l3 = calloc(CPUSET_MAX, sizeof(*t->l3));
	if (!t->cores || !t->l3) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	read_nodes(t);
	for (unsigned c = 0; c < CPUSET_MAX; c++) {
		struct core *k;
		struct cpuset l3;

		if (!cpuset_has(&t->online, c) || cpuset_has(&seen, c))
			continue;
		k = &t->cores[t->n_cores++];
		snprintf(path, sizeof(path), CPU "/cpu%u/topology/thread_siblings_list", c);
		if (read_list(&k->cpus, path) < 0 || !cpuset_has(&k->cpus, c))
			k->cpus = (struct cpuset){ { 0 } };
		cpuset_set(&k->cpus, c);
		cpuset_and(&k->cpus, &t->online);
		cpuset_minus(&k->cpus, &seen);
		cpuset_or(&seen, &k->cpus);
		k->first = c;
		k->n_threads = cpuset_count(&k->cpus);
		snprintf(path, sizeof(path), CPU "/cpu%u/topology/core_id", c);
		if (read_uint(&k->id, path) < 0)
			k->id = c;
		snprintf(path, sizeof(path), CPU "/cpu%u/topology/physical_package_id", c);
		if (read_uint(&k->package, path) < 0)
			k->package = 0;
		snprintf(path, sizeof(path), CPU "/cpu%u/topology/die_id", c);
		if (read_uint(&k->die, path) < 0)
			k->die = 0;
		k->l3 = SIZE_MAX;
		if (read_l3(c, &l3) == 0) {
			cpuset_and(&l3, &t->online);
			cpuset_or(&l3, &k->cpus);
			k->l3 = l3_group(t, &l3);
		}
		k->node = -1;
		for (size_t i = 0; i < t->n_nodes; i++)
			if (cpuset_has(&t->nodes[i].cpus, c))
				k->node = (int)i;
	}
	/* no L3 known: the package is the group (of the cores with none) */
	for (size_t i = 0; i < t->n_cores; i++) {
		struct cpuset pkg = { { 0 } };

		if (t->cores[i].l3 != SIZE_MAX)
			continue;
		for (size_t j = i; j < t->n_cores; j++)
			if (t->cores[j].l3 == SIZE_MAX && t->cores[j].package == t->cores[i].package)
				cpuset_or(&pkg, &t->cores[j].cpus);
		pkg_group = l3_group(t, &pkg);
		for (size_t j = i; j < t->n_cores; j++)
			if (t->cores[j].l3 == SIZE_MAX && t->cores[j].package == t->cores[i].package)
				t->cores[j].l3 = pkg_group;
	}
	read_vendor(t);
	return 0;
}

/* Ranks the nodes by their distance from the GPU's node (its own first); -1: no GPU node. */
_noinline_ static void rank_nodes(struct topo *t, int gpu_node)
{
	char path[PATH_MAX], buf[4096];
	int gi = -1;

	for (size_t i = 0; i < t->n_nodes; i++)
		if (gpu_node >= 0 && t->nodes[i].id == (unsigned)gpu_node)
			gi = (int)i;
	for (size_t i = 0; i < t->n_nodes; i++)
		t->nodes[i].rank = gi < 0 || (int)i == gi ? 0 : 1;
	if (gi < 0)
		return;
	/* distance: one number per online node, in the order of their numbers */
	snprintf(path, sizeof(path), NODE "/node%d/distance", gpu_node);
	if (host_read(buf, sizeof(buf), "%s", path) > 0) {
		_cleanup_free_ unsigned *d = calloc(t->n_nodes, sizeof(unsigned));
		char *p = buf, *end;
		size_t i;

		for (i = 0; d && i < t->n_nodes; i++, p = end) {
			unsigned long v = strtoul(p, &end, 10);
			if (end == p || v > 1000)
				break;
			d[i] = (unsigned)v;
		}
		/* used only when it has one number per node; the GPU's own node stays first */
		for (size_t j = 0; d && i == t->n_nodes && j < t->n_nodes; j++)
			t->nodes[j].rank = (int)j == gi ? 0 : d[j] + 1;
	}
}

/* Can the VM have this core (free, and with the threads the VM's cores have)? */
static bool vm_can_have(const struct core *k, unsigned threads)
{
	return !k->host && !k->vm && k->n_threads == threads;
}

/* The core kept for the host first: core 0 of package 0 (else of the lowest package). */
static void pick_host(struct topo *t, unsigned n, int gpu_node)
{
	size_t first = 0;

	for (size_t i = 1; i < t->n_cores; i++) {
		const struct core *a = &t->cores[i], *b = &t->cores[first];
		if (a->package < b->package || (a->package == b->package && a->id < b->id))
			first = i;
	}
	t->cores[first].host = true;
	for (unsigned got = 1; got < n; got++) {
		size_t best = SIZE_MAX;
		unsigned best_key = UINT_MAX;

		/* then cores off the GPU's node, in an L3 group the host already has, lowest first */
		for (size_t i = 0; i < t->n_cores; i++) {
			const struct core *k = &t->cores[i];
			bool on_gpu = gpu_node >= 0 && k->node >= 0 && t->nodes[k->node].id == (unsigned)gpu_node;
			bool same_l3 = false;
			unsigned key;

			if (k->host)
				continue;
			for (size_t j = 0; j < t->n_cores; j++)
				same_l3 |= t->cores[j].host && t->cores[j].l3 == k->l3;
			key = (on_gpu ? 2u : 0u) * CPUSET_MAX * 2 + (same_l3 ? 0u : 1u) * CPUSET_MAX + k->first;
			if (key < best_key) {
				best_key = key;
				best = i;
			}
		}
		t->cores[best].host = true;
	}
}

/* Takes want cores of L3 group g on node (index, -1: none), lowest CPUs first. */
static unsigned take(struct topo *t, size_t g, int node, unsigned threads, unsigned want)
{
	unsigned got = 0;

	for (size_t i = 0; i < t->n_cores && got < want; i++) {
		struct core *k = &t->cores[i];
		if (k->l3 == g && k->node == node && vm_can_have(k, threads)) {
			k->vm = true;
			got++;
		}
	}
	return got;
}

/*
 * The VM's cores: node by node from the GPU's, and on each node one L3 group that can hold
 * them all when there is one (one the host does not use before one it does), else the groups
 * with the most free cores first.
 */
static int pick_vm(struct topo *t, unsigned threads, unsigned want)
{
	size_t n_order = t->n_nodes + 1;
	_cleanup_free_ int *order = calloc(n_order, sizeof(int));
	_cleanup_free_ unsigned *free_in = calloc(t->n_l3, sizeof(unsigned));
	_cleanup_free_ bool *hosted = calloc(t->n_l3, sizeof(bool));

	if (!order || !free_in || !hosted)
		return -ENOMEM;
	/* nodes by rank, then by how many cores they could give, then by number; last "none" */
	for (size_t i = 0; i < t->n_nodes; i++)
		order[i] = (int)i;
	for (size_t i = 0; i < t->n_nodes; i++)
		for (size_t j = i + 1; j < t->n_nodes; j++) {
			const struct node *a = &t->nodes[order[i]], *b = &t->nodes[order[j]];
			unsigned fa = 0, fb = 0;
			for (size_t c = 0; c < t->n_cores; c++) {
				fa += t->cores[c].node == order[i] && vm_can_have(&t->cores[c], threads);
				fb += t->cores[c].node == order[j] && vm_can_have(&t->cores[c], threads);
			}
			if (b->rank < a->rank || (b->rank == a->rank && fb > fa)) {
				int x = order[i];
				order[i] = order[j];
				order[j] = x;
			}
		}
	order[t->n_nodes] = -1;
	for (size_t i = 0; i < t->n_cores; i++)
		if (t->cores[i].host)
			hosted[t->cores[i].l3] = true;
	for (size_t o = 0; o < n_order && want; o++) {
		while (want) {
			size_t fit = SIZE_MAX, big = SIZE_MAX;

			memset(free_in, 0, t->n_l3 * sizeof(unsigned));
			for (size_t i = 0; i < t->n_cores; i++)
				if (t->cores[i].node == order[o] && vm_can_have(&t->cores[i], threads))
					free_in[t->cores[i].l3]++;
			for (size_t g = 0; g < t->n_l3; g++) {
				if (!free_in[g])
					continue;
				/* groups are numbered in the order of their first CPU */
				if (free_in[g] >= want && (fit == SIZE_MAX || (hosted[fit] && !hosted[g])))
					fit = g;
				if (big == SIZE_MAX || free_in[g] > free_in[big] ||
				    (free_in[g] == free_in[big] && hosted[big] && !hosted[g]))
					big = g;
			}
			if (big == SIZE_MAX)
				break;
			want -= take(t, fit != SIZE_MAX ? fit : big, order[o], threads,
				     fit != SIZE_MAX ? want : free_in[big]);
		}
	}
	return want ? -ENOSPC : 0; /* (cannot be: the cores were counted before) */
}

static void pins_cpus(const struct topo *t, bool host, struct cpuset *ret)
{
	*ret = (struct cpuset){ { 0 } };
	for (size_t i = 0; i < t->n_cores; i++)
		if (host ? t->cores[i].host : t->cores[i].vm)
			cpuset_or(ret, &t->cores[i].cpus);
}

/* ---- the domain --------------------------------------------------------------------------- */

static bool parse_number(const char *s, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v;

	if (!s)
		return false;
	s += strspn(s, " \t\n");
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	end += strspn(end, " \t\n");
	if (errno || *end || v > max)
		return false;
	*ret = (unsigned)v;
	return true;
}

static void note(char *buf, size_t size, const char *what)
{
	size_t l = strlen(buf);

	if (l + strlen(what) + 3 < size)
		snprintf(buf + l, size - l, "%s%s", l ? ", " : "", what);
}

/* <vcpu> and <cputune> of a document domain_parse() has accepted (so it is safe to parse). */
_noinline_ static int parse_pins(const char *xml, size_t len, struct dom_pins *p, char *err, size_t errlen)
{
	const struct xml_node *root, *n;
	struct xml_doc *doc;
	char msg[300];

	p->vcpu = calloc(CPUSET_MAX, sizeof(*p->vcpu));
	p->has_vcpu = calloc(CPUSET_MAX, sizeof(*p->has_vcpu));
	if (!p->vcpu || !p->has_vcpu) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (xml_read(xml, len, &doc, NULL, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "malformed domain XML");
		return -EINVAL;
	}
	root = xml_doc_root(doc);
	n = xn_child(root, "vcpu");
	if (n && !parse_number(xn_text(n), CPUSET_MAX, &p->vcpus)) {
		xml_doc_free(doc);
		snprintf(err, errlen, "<vcpu> is not a number of vCPUs");
		return -EINVAL;
	}
	if ((n = xn_child(root, "cputune"))) {
		p->cputune = true;
		for (const struct xml_node *c = n->children; c; c = c->next) {
			const char *set = xn_prop(c, "cpuset");
			struct cpuset s;
			unsigned v;
			char what[96];

			if (!set || (!xn_is(c, "vcpupin") && !xn_is(c, "emulatorpin") &&
				     !xn_is(c, "iothreadpin")))
				continue;
			if (cpuset_parse(set, &s) < 0) {
				snprintf(p->bad, sizeof(p->bad), "<%s cpuset='%.100s'> is not a CPU list",
					 c->name, set);
				continue;
			}
			if (xn_is(c, "emulatorpin")) {
				p->has_emu = true;
				p->emu = s;
			} else if (xn_is(c, "iothreadpin")) {
				p->has_io = true;
				cpuset_or(&p->io, &s);
			} else if (!parse_number(xn_prop(c, "vcpu"), CPUSET_MAX - 1, &v) || v >= p->vcpus ||
				   p->has_vcpu[v]) {
				snprintf(what, sizeof(what), "vcpu='%.40s'", xn_prop(c, "vcpu") ? xn_prop(c, "vcpu") : "");
				note(p->extra, sizeof(p->extra), what);
			} else {
				p->has_vcpu[v] = true;
				p->vcpu[v] = s;
			}
		}
	}
	xml_doc_free(doc);
	return 0;
}

/* The live XML of a domain from libvirtd, read-only, as `vfiohook check` gets it. */
static char *fetch_xml(const char *name, bool *unreachable)
{
	char *xml;
	int r = virt_domain_xml(name, 0, &xml);

	*unreachable = r == -EOPNOTSUPP || r == -EHOSTUNREACH;
	return r < 0 ? NULL : xml;
}

/* ---- the GPU ------------------------------------------------------------------------------ */

/* The first display-class device of list (else the first device); false when the list is empty. */
static bool first_gpu(const struct pci_addr *list, size_t n, char bdf[PCI_ADDR_STRLEN])
{
	for (size_t i = 0; i < n; i++) {
		char class[32];
		pci_addr_format(&list[i], bdf);
		if (host_read(class, sizeof(class), "/sys/bus/pci/devices/%s/class", bdf) > 0 &&
		    !strncmp(class, "0x03", 4))
			return true;
	}
	if (!n)
		return false;
	pci_addr_format(&list[0], bdf);
	return true;
}

/* ---- the command -------------------------------------------------------------------------- */

static void print_set(const char *prefix, const struct cpuset *s, const char *suffix)
{
	char buf[4096];

	cpuset_format(s, buf, sizeof(buf));
	printf("%s%s%s", prefix, buf, suffix);
}

/* The cores of the VM in the order their vCPUs get them: by lowest CPU. */
static size_t vm_cores(const struct topo *t, const struct core **ret)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n_cores; i++)
		if (t->cores[i].vm)
			ret[n++] = &t->cores[i];
	return n;
}

/* vCPU v's CPU: thread v % T of core v / T. */
static unsigned vcpu_cpu(const struct core *const *cores, unsigned threads, unsigned v)
{
	const struct core *k = cores[v / threads];
	unsigned skip = v % threads;

	for (unsigned c = 0; c < CPUSET_MAX; c++)
		if (cpuset_has(&k->cpus, c) && skip-- == 0)
			return c;
	return CPUSET_MAX;
}

static const struct core *core_of(const struct topo *t, unsigned cpu)
{
	for (size_t i = 0; i < t->n_cores; i++)
		if (cpuset_has(&t->cores[i].cpus, cpu))
			return &t->cores[i];
	return NULL;
}

static bool is_amd(const char *vendor)
{
	return streq(vendor, "AuthenticAMD") || streq(vendor, "HygonGenuine");
}

_noinline_ static int print_pinning(const struct options *o, const struct topo *t, const char *gpu,
				    int gpu_node, unsigned vcpus, unsigned threads, const char *whence)
{
	const char *vm = o->args[0];
	_cleanup_free_ const struct core **cores = calloc(t->n_cores, sizeof(*cores));
	struct cpuset host, vmset, rest;
	size_t n;
	unsigned n_host = 0;

	if (!cores)
		return -ENOMEM;
	n = vm_cores(t, cores);
	pins_cpus(t, true, &host);
	pins_cpus(t, false, &vmset);
	rest = t->online;
	cpuset_minus(&rest, &vmset);
	for (size_t i = 0; i < t->n_cores; i++)
		n_host += t->cores[i].host;

	/* the VM's name stays out of the XML comments: it may hold "--", which a comment may not */
	printf("<!-- vfiohook pin: this host has %zu cores", t->n_cores);
	if (t->vendor[0])
		printf(", %s", t->vendor);
	printf("; L3 groups:");
	for (size_t g = 0; g < t->n_l3; g++)
		print_set(g ? " | " : " ", &t->l3[g], "");
	printf(" -->\n");
	if (gpu && gpu_node >= 0)
		printf("<!-- GPU %s on NUMA node %d -->\n", gpu, gpu_node);
	else if (gpu)
		printf("<!-- GPU %s: no NUMA node (any node will do) -->\n", gpu);
	else
		printf("<!-- no PCI device passed through: no NUMA node preferred -->\n");
	printf("<!-- host: %u core%s, CPUs ", n_host, n_host == 1 ? "" : "s");
	print_set("", &host, "");
	printf("; the VM: %zu core%s of %u thread%s, CPUs ", n, n == 1 ? "" : "s", threads,
	       threads == 1 ? "" : "s");
	print_set("", &vmset, "");
	printf(" (%s) -->\n", whence);
	for (size_t i = 0; i < n && gpu_node >= 0; i++)
		if (cores[i]->node < 0 || t->nodes[cores[i]->node].id != (unsigned)gpu_node) {
			printf("<!-- not all on the GPU's node %d: it has too few free cores -->\n", gpu_node);
			break;
		}
	for (size_t i = 0; i < t->n_cores; i++)
		if (!t->cores[i].host && t->cores[i].n_threads != threads) {
			printf("<!-- cores with another number of threads stay with the host -->\n");
			break;
		}

	printf("<vcpu placement='static'>%u</vcpu>\n", vcpus);
	printf("<iothreads>1</iothreads>\n");
	printf("<cputune>\n");
	for (unsigned v = 0; v < vcpus; v++)
		printf("  <vcpupin vcpu='%u' cpuset='%u'/>\n", v, vcpu_cpu(cores, threads, v));
	print_set("  <emulatorpin cpuset='", &host, "'/>\n");
	print_set("  <iothreadpin iothread='1' cpuset='", &host, "'/>\n");
	printf("</cputune>\n");
	printf("<cpu mode='host-passthrough'>\n");
	printf("  <topology sockets='1' dies='1' cores='%zu' threads='%u'/>\n", n, threads);
	if (is_amd(t->vendor))
		printf("  <feature policy='require' name='topoext'/>\n");
	printf("</cpu>\n");
	printf("\n# kvm.conf, in the entry of %s:\n", vm);
	print_set("isolation = { host_cpus = \"", &rest, "\"; };\n");
	printf("governor = { name = \"performance\"; cpus = \"pinned\"; };\n");
	return 0;
}

/* --check: what the domain's <cputune> does differently; the number of findings. */
_noinline_ static unsigned check_pinning(const char *vm, const struct topo *t, const struct dom_pins *p,
					 unsigned vcpus, unsigned threads)
{
	_cleanup_free_ const struct core **cores = calloc(t->n_cores, sizeof(*cores));
	struct cpuset host, pinned = { { 0 } };
	char a[4096], b[4096];
	unsigned found = 0;

#define DIFF(...) (found++ == 0 ? printf("%s: <cputune> differs from the computed pinning:\n", vm) : 0, \
		   printf("  " __VA_ARGS__), putchar('\n'))
	if (!cores) {
		fprintf(stderr, "vfiohook: out of memory\n");
		return 1;
	}
	vm_cores(t, cores);
	pins_cpus(t, true, &host);
	if (!p->cputune) {
		printf("%s: the domain has no <cputune>: nothing is pinned (vfiohook pin %s prints one)\n", vm, vm);
		return 1;
	}
	if (p->bad[0])
		DIFF("%s", p->bad);
	for (unsigned v = 0; v < vcpus; v++) {
		unsigned want = vcpu_cpu(cores, threads, v);
		if (!p->has_vcpu[v]) {
			DIFF("vCPU %u has no vcpupin, computed cpuset='%u'", v, want);
			continue;
		}
		cpuset_or(&pinned, &p->vcpu[v]);
		if (cpuset_count(&p->vcpu[v]) != 1 || !cpuset_has(&p->vcpu[v], want)) {
			cpuset_format(&p->vcpu[v], a, sizeof(a));
			DIFF("vcpupin vcpu='%u' cpuset='%s', computed cpuset='%u'", v, a, want);
		}
	}
	if (p->extra[0])
		DIFF("vcpupin for vCPUs the domain does not have (it has %u) or pinned twice: %s", vcpus, p->extra);
	/* the domain's own pairs: the T vCPUs of one guest core on the T threads of one host core */
	for (unsigned g = 0; threads > 1 && g + threads <= vcpus; g += threads) {
		struct cpuset cpus = { { 0 } };
		const struct core *k = NULL;
		bool single = true, one_core = true;

		for (unsigned v = g; v < g + threads; v++) {
			unsigned c;
			if (!p->has_vcpu[v] || cpuset_count(&p->vcpu[v]) != 1) {
				single = false;
				break;
			}
			c = cpuset_first(&p->vcpu[v]);
			cpuset_set(&cpus, c);
			if (!k)
				k = core_of(t, c);
			one_core &= k && k == core_of(t, c);
		}
		if (!single || (one_core && cpuset_count(&cpus) == threads))
			continue;
		cpuset_format(&cpus, a, sizeof(a));
		if (!one_core)
			DIFF("vCPUs %u-%u are on CPUs %s, which are threads of different cores (siblings split)", g,
			     g + threads - 1, a);
		else
			DIFF("vCPUs %u-%u share CPU %s instead of one thread each of a core", g, g + threads - 1, a);
	}
	cpuset_format(&host, b, sizeof(b));
	if (!p->has_emu)
		DIFF("no emulatorpin: QEMU's own threads may run on the vCPUs' CPUs; computed cpuset='%s'", b);
	else if (cpuset_intersects(&p->emu, &pinned)) {
		struct cpuset both = p->emu;
		cpuset_and(&both, &pinned);
		cpuset_format(&p->emu, a, sizeof(a));
		cpuset_format(&both, b, sizeof(b));
		DIFF("emulatorpin cpuset='%s' overlaps the vCPUs' CPUs (%s)", a, b);
	}
	if (p->has_io && cpuset_intersects(&p->io, &pinned)) {
		struct cpuset both = p->io;
		cpuset_and(&both, &pinned);
		cpuset_format(&p->io, a, sizeof(a));
		cpuset_format(&both, b, sizeof(b));
		DIFF("iothreadpin cpuset='%s' overlaps the vCPUs' CPUs (%s)", a, b);
	}
#undef DIFF
	if (!found) {
		cpuset_format(&pinned, a, sizeof(a));
		printf("%s: <cputune> is as computed: %u vCPUs on CPUs %s", vm, vcpus, a);
		print_set(", emulator on ", &p->emu, "\n");
	}
	return found;
}

/* EXIT_OK with the domain's XML in *ret (NULL: none to be had, why in whence), or an exit status. */
_noinline_ static int get_domain(const struct options *o, char **ret, const char **whence)
{
	bool unreachable = false;
	int r;

	*ret = NULL;
	if (o->xml_file) {
		r = host_read_file(o->xml_file, DOMAIN_XML_MAX + 1, ret);
		if (r < 0) {
			fprintf(stderr, "vfiohook: cannot read %s: %s\n", o->xml_file, strerror(-r));
			return EXIT_USAGE;
		}
		*whence = "as many as <vcpu> of the domain asks for";
		return EXIT_OK;
	}
	*ret = fetch_xml(o->args[0], &unreachable);
	*whence = *ret ? "as many as <vcpu> of the domain asks for"
		  : unreachable ? "libvirt is not reachable: every core not kept for the host"
				: "libvirt does not know the domain: every core not kept for the host";
	return EXIT_OK;
}

int cmd_pin(const struct options *o)
{
	const char *vm = o->args[0], *whence = NULL;
	_cleanup_free_ struct domain *dom = calloc(1, sizeof(*dom));
	_cleanup_free_ char *xml = NULL;
	struct dom_pins pins = { 0 };
	struct topo t = { 0 };
	struct conf conf = { 0 };
	const struct vm_conf *vmc = NULL;
	char err[512], gpu[PCI_ADDR_STRLEN] = "";
	unsigned host_cores = 1, threads = 0, vcpus, avail = 0, total = 0;
	bool have_gpu = false, have_dom = false;
	int gpu_node = -1, r, ret = EXIT_FAILED;

	if (!dom)
		return EXIT_FAILED;
	if (o->host_cores && !parse_number(o->host_cores, CPUSET_MAX, &host_cores)) {
		fprintf(stderr, "vfiohook: --host-cores %s: not a number of cores\n", o->host_cores);
		return EXIT_USAGE;
	}
	if (host_cores == 0) {
		fprintf(stderr, "vfiohook: --host-cores 0: the host needs a core of its own "
				"(QEMU's emulator threads run there)\n");
		return EXIT_USAGE;
	}
	if (!vm_name_is_safe(vm)) {
		fprintf(stderr, "vfiohook: \"%s\" is not a libvirt domain name\n", vm);
		return EXIT_USAGE;
	}

	/* kvm.conf, when there is one: the VM's GPU */
	r = conf_load(o->config_path, o->root != NULL, &conf);
	if (r == -EACCES) /* pin needs no root: without kvm.conf the GPU is the domain's */
		fprintf(stderr, "vfiohook: warning: cannot read %s: the GPU is taken from the domain's <hostdev>s\n",
			o->config_path);
	else if (r < 0 && r != -ENOENT) {
		for (size_t i = 0; i < conf.n_errors; i++)
			fprintf(stderr, "%s\n", conf.errors[i]);
		if (!conf.n_errors)
			fprintf(stderr, "vfiohook: %s: %s\n", o->config_path, strerror(-r));
		conf_done(&conf);
		return EXIT_USAGE;
	}
	vmc = r < 0 ? NULL : conf_find(&conf, vm);

	/* the domain: its <vcpu>, its <cputune> (--check) and its <hostdev>s */
	r = get_domain(o, &xml, &whence);
	if (r != EXIT_OK) {
		ret = r;
		goto out;
	}
	if (xml) {
		r = domain_parse(xml, strlen(xml), dom, err, sizeof(err));
		if (r >= 0 && !streq(dom->name, vm)) {
			snprintf(err, sizeof(err), "the domain XML describes \"%s\", not \"%s\"", dom->name, vm);
			r = -EINVAL;
		}
		if (r >= 0)
			r = parse_pins(xml, strlen(xml), &pins, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "vfiohook: %s: %s\n", o->xml_file ? o->xml_file : vm, err);
			goto out;
		}
		if (!pins.vcpus) {
			fprintf(stderr, "vfiohook: the domain %s has no <vcpu>\n", vm);
			goto out;
		}
		have_dom = true;
	}
	if (o->pin_check && !have_dom) {
		fprintf(stderr, "vfiohook: pin --check needs the domain XML of %s: %s (--xml FILE gives it)\n", vm,
			strstr(whence, "reachable") ? "libvirt is not reachable" : "libvirt does not know it");
		ret = EXIT_USAGE;
		goto out;
	}

	if (vmc && !vmc->pci_from_hostdev)
		have_gpu = first_gpu(vmc->pci, vmc->n_pci, gpu);
	if (!have_gpu && have_dom) {
		struct pci_addr list[DOMAIN_MAX_HOSTDEVS];
		for (size_t i = 0; i < dom->n_hostdevs; i++)
			list[i] = dom->hostdevs[i].addr;
		have_gpu = first_gpu(list, dom->n_hostdevs, gpu);
	}
	if (have_gpu) {
		char node[32];
		if (host_read(node, sizeof(node), "/sys/bus/pci/devices/%s/numa_node", gpu) > 0)
			gpu_node = atoi(node) < 0 ? -1 : atoi(node);
	}

	if (read_topology(&t, err, sizeof(err)) < 0) {
		fprintf(stderr, "vfiohook: %s\n", err);
		goto out;
	}
	if (host_cores >= t.n_cores) {
		fprintf(stderr, "vfiohook: --host-cores %u leaves no core for %s: this host has %zu core%s\n",
			host_cores, vm, t.n_cores, t.n_cores == 1 ? "" : "s");
		goto out;
	}
	rank_nodes(&t, gpu_node);
	pick_host(&t, host_cores, gpu_node);
	for (size_t i = 0; i < t.n_cores; i++)
		if (!t.cores[i].host)
			threads = MAX(threads, t.cores[i].n_threads);
	for (size_t i = 0; i < t.n_cores; i++) {
		total += t.cores[i].n_threads == threads;
		avail += !t.cores[i].host && t.cores[i].n_threads == threads;
	}
	vcpus = have_dom ? pins.vcpus : avail * threads;
	if (vcpus % threads) {
		unsigned lo = vcpus / threads * threads;
		fprintf(stderr, "vfiohook: %s has %u vCPUs, but whole cores of this host have %u threads each: "
				"make <vcpu> a multiple of %u (",
			vm, vcpus, threads, threads);
		if (lo)
			fprintf(stderr, "%u or ", lo);
		fprintf(stderr, "%u)\n", lo + threads);
		goto out;
	}
	if (vcpus / threads > avail) {
		fprintf(stderr, "vfiohook: %s has %u vCPUs, %u cores of %u thread%s, but this host has %u such core%s "
				"and keeps %u for itself: at most %u vCPUs\n",
			vm, vcpus, vcpus / threads, threads, threads == 1 ? "" : "s", total, total == 1 ? "" : "s",
			total - avail, avail * threads);
		goto out;
	}
	if (pick_vm(&t, threads, vcpus / threads) < 0) {
		fprintf(stderr, "vfiohook: out of memory\n");
		goto out;
	}
	if (o->pin_check)
		ret = check_pinning(vm, &t, &pins, vcpus, threads) ? EXIT_FAILED : EXIT_OK;
	else if (print_pinning(o, &t, have_gpu ? gpu : NULL, gpu_node, vcpus, threads, whence) < 0)
		fprintf(stderr, "vfiohook: out of memory\n");
	else
		ret = EXIT_OK;
out:
	topo_free(&t);
	pins_free(&pins);
	conf_done(&conf);
	return ret;
}
