/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * simhost - a simulated Linux host for black-box tests of vfiohook.
 *
 * A FUSE file system that serves MNT/sys, MNT/proc and MNT/dev and gives the
 * files vfiohook touches the kernel's semantics: PCI and platform driver
 * binding (bind, unbind, drivers_probe, driver_override, new_id, remove_id),
 * IOMMU groups and their /dev/vfio nodes, module load and unload (mkdir and
 * rmdir of sys/module/NAME), firmware framebuffers removed by sysfb_disable(),
 * vtconsoles, cpufreq policies with EPP, huge page pools that come up short
 * until memory is compacted, processes holding device nodes (and their
 * cgroups), the block layer (disks, partitions, dm and md devices with their
 * holders and slaves, btrfs members), /proc/self/mountinfo, /proc/swaps, the
 * console and the ttys and framebuffers of PCI devices.  Faults (errors,
 * hangs, slow or missing probes, pages in use, graphics mode, unreadable
 * paths, exited processes) come from a file that is re-read before every
 * lookup, open, opendir, readdir, readlink, write, mkdir and rmdir.
 *
 * Design: the host is a model (devices, drivers, modules, ...).  The file
 * tree is a pure function of the model and is rebuilt after every change, so
 * links and directories can never disagree with the state.  One mutex guards
 * model and tree.  Handlers look nodes up by path on every call and never
 * keep node pointers across calls.  The spec and fault formats are described
 * in README.md next to this file.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define FUSE_USE_VERSION 31

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse.h>
#include <fuse_lowlevel.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE_SZ 4096
#define MAX_WORDS 32
#define MAX_LINKS 40
#define MAX_CPUS 1024
#define UNLIMITED (LONG_MAX / 4)

/* ------------------------------------------------------------------------ */
/* Small utilities: allocation aborts on failure (this is a test tool).     */

static void oom(void)
{
	fputs("simhost: out of memory\n", stderr);
	abort();
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom();
	return p;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		oom();
	return p;
}

__attribute__((format(printf, 1, 2)))
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom();
	return p;
}

#define VEC_PUSH(v, n, x) do { \
		(v) = xrealloc((v), sizeof(*(v)) * ((n) + 1)); \
		(v)[(n)++] = (x); \
	} while (0)

/* A growing string buffer. */
struct sbuf {
	char *p;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		r = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (r < 0)
			oom();
		if ((size_t)r < room) {
			b->len += (size_t)r;
			return;
		}
		b->cap = b->cap * 2 + (size_t)r + 64;
		b->p = xrealloc(b->p, b->cap);
	}
}

static const struct {
	const char *name;
	int no;
} errno_names[] = {
#define E(x) { #x, x }
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG),
	E(ENOEXEC), E(EBADF), E(EAGAIN), E(EWOULDBLOCK), E(ENOMEM), E(EACCES),
	E(EFAULT), E(EBUSY), E(EEXIST), E(ENODEV), E(ENOTDIR), E(EISDIR),
	E(EINVAL), E(ENFILE), E(EMFILE), E(ENOTTY), E(ENOSPC), E(EROFS),
	E(EPIPE), E(ERANGE), E(EDEADLK), E(ENAMETOOLONG), E(ENOSYS),
	E(ENOTEMPTY), E(ELOOP), E(ENODATA), E(ETIME), E(EPROTO), E(EBADMSG),
	E(EOVERFLOW), E(EOPNOTSUPP), E(ENOTSUP), E(ETIMEDOUT), E(EALREADY),
	E(EINPROGRESS), E(ECANCELED), E(ENOTCONN), E(EHOSTDOWN), E(ENOLINK),
	E(ENOMEDIUM), E(EREMOTEIO),
#undef E
};

/* Returns a positive errno for "EBUSY" or "16", or -EINVAL. */
static int errno_parse(const char *s)
{
	char *end;
	long v;

	for (size_t i = 0; i < ARRAY_SIZE(errno_names); i++)
		if (!strcmp(s, errno_names[i].name))
			return errno_names[i].no;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > 4095)
		return -EINVAL;
	return (int)v;
}

static const char *errno_name(int e)
{
	static __thread char buf[16];

	if (e < 0)
		e = -e;
	for (size_t i = 0; i < ARRAY_SIZE(errno_names); i++)
		if (errno_names[i].no == e)
			return errno_names[i].name;
	snprintf(buf, sizeof(buf), "%d", e);
	return buf;
}

/* The kernel's sysfs_streq(): equal, ignoring one trailing newline. */
static bool sysfs_streq(const char *s1, const char *s2)
{
	while (*s1 && *s1 == *s2) {
		s1++;
		s2++;
	}
	if (*s1 == *s2)
		return true;
	if (!*s1 && *s2 == '\n' && !s2[1])
		return true;
	if (*s1 == '\n' && !s1[1] && !*s2)
		return true;
	return false;
}

static void monotonic_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

static void ts_add_ms(struct timespec *ts, unsigned long ms)
{
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool ts_before_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec);
}

/* ------------------------------------------------------------------------ */
/* CPU lists ("0-3,8,10-11").                                               */

static bool cpu_isset(const uint64_t *b, unsigned cpu)
{
	return b[cpu / 64] >> (cpu % 64) & 1;
}

static int cpulist_parse(const char *s, uint64_t *b)
{
	memset(b, 0, MAX_CPUS / 8);
	if (!*s)
		return -EINVAL;
	while (*s) {
		unsigned long lo, hi;
		char *end;

		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		lo = hi = strtoul(s, &end, 10);
		if (*end == '-') {
			if (!isdigit((unsigned char)end[1]))
				return -EINVAL;
			hi = strtoul(end + 1, &end, 10);
		}
		if (lo > hi || hi >= MAX_CPUS || (*end && *end != ','))
			return -EINVAL;
		for (unsigned long c = lo; c <= hi; c++)
			b[c / 64] |= 1ULL << (c % 64);
		s = *end ? end + 1 : end;
	}
	return 0;
}

/* "0-3,8" (ranges) or, with @sep " ", "0 1 2 3 8" (every CPU). */
static void cpulist_format(struct sbuf *out, const uint64_t *b, const char *sep)
{
	bool first = true;

	for (unsigned c = 0; c < MAX_CPUS; c++) {
		unsigned e = c;

		if (!cpu_isset(b, c))
			continue;
		if (!strcmp(sep, ",")) {
			while (e + 1 < MAX_CPUS && cpu_isset(b, e + 1))
				e++;
		}
		sb_printf(out, "%s%u", first ? "" : sep, c);
		if (e > c)
			sb_printf(out, "-%u", e);
		first = false;
		c = e;
	}
}

/* ------------------------------------------------------------------------ */
/* The model.                                                               */

enum bus {
	BUS_PCI,
	BUS_PLATFORM,
	_BUS_MAX,
};

static const char *const bus_names[_BUS_MAX] = {
	[BUS_PCI] = "pci",
	[BUS_PLATFORM] = "platform",
};

struct cpumask {
	uint64_t b[MAX_CPUS / 64];
};

struct module {
	char *name;
	bool loaded, builtin;
	bool visiting;          /* cycle detection while loading */
	int refcnt;             /* users other than holders */
	char **holder_names;
	size_t nholders;
	struct module **holders; /* modules that depend on this one */
	unsigned line;
};

struct pci_id {
	unsigned vendor, device;
	bool any_device;
	bool dynamic;           /* added through new_id */
};

struct driver {
	char *name;
	enum bus bus;
	char *mod_name;
	struct module *mod;     /* NULL: built into the kernel */
	bool ids_given;         /* ids= was written (maybe "none") */
	struct pci_id *ids;     /* pci */
	size_t nids;
	char **names;           /* platform: device names it matches */
	size_t nnames;
	bool aperture;          /* binding the boot VGA removes sysfb framebuffers */
	unsigned line;
};

struct device {
	char *name;             /* BDF */
	enum bus bus;
	unsigned vendor, device, class;
	int group;              /* IOMMU group, -1: none */
	int numa;
	int boot_vga;           /* -1: no boot_vga attribute */
	char *override;         /* driver_override, NULL: unset */
	char *reset_method;     /* "flr bus", NULL: no reset_method attribute */
	char *drv_name, *parent_name;
	struct driver *drv;
	struct device *parent;
	char *path;             /* "sys/devices/pci0000:00/.../BDF" */
	bool sysfb;             /* platform: the firmware framebuffer sysfb registered */
	bool removed;           /* platform: unregistered by sysfb_disable() */
	unsigned line;
};

struct blockdev {
	unsigned major, minor;
	char *name, *parent_name;
	bool virt;              /* slaves=: a virtual disk in sys/devices/virtual/block */
	char **slave_names;
	size_t nslaves;
	struct blockdev **slaves; /* the devices it is built on (dm, md) */
	char *dm_name, *dm_uuid, *md_level;
	struct device *dev;     /* disk: the controller */
	struct blockdev *disk;  /* partition: its disk */
	char *path;
	unsigned line;
};

struct mountent {
	unsigned major, minor;
	char *point, *fstype;
	char *source;           /* NULL: /dev/NAME of the block device (FSTYPE for major 0) */
	unsigned line;
};

/* A line of proc/swaps. */
struct swapent {
	char *path;
	bool file;              /* a swap file, else a partition (block device) */
	unsigned long size, used; /* kB */
	int prio;
	bool prio_given;
	unsigned line;
};

/* A mounted btrfs: sys/fs/btrfs/UUID/devices/ links to its member devices. */
struct btrfsfs {
	char *uuid;
	char **dev_names;
	size_t ndevs;
	struct blockdev **devs;
	unsigned line;
};

/*
 * A tty (sys/class/tty/NAME) or a framebuffer (sys/class/graphics/fbN): made
 * by the driver of its parent device, so it exists while the parent is bound
 * to the driver the spec binds it to.  A tty without a parent is virtual.
 */
struct classdev {
	char *name;             /* ttyS4, fb0 */
	unsigned n;             /* fb: N */
	char *parent_name;
	struct device *dev;
	struct driver *drv;
	unsigned line;
};

/* A console driver in sys/class/vtconsole. */
struct vtcon {
	unsigned n;
	bool module;            /* (M) modular, like fbcon; else (S) the system driver */
	char *desc;
	bool bound;             /* modular only: a system driver is bound when no modular one is */
	unsigned line;
};

/* A cpufreq policy. */
struct policy {
	unsigned n;
	struct cpumask cpus;
	char *driver;
	bool setpolicy;         /* intel_pstate, amd-pstate-epp: performance and powersave only */
	char **govs;
	size_t ngovs;
	char *gov;
	bool has_epp;
	char *epp, *epp_cached, *epp_default;
	unsigned line;
};

struct numa_node {
	unsigned n;
	unsigned long mem_kb;
	bool has_cpus;
	struct cpumask cpus;
	unsigned line;
};

/* One huge page size on one node. */
struct hpool {
	long nr;                /* pages that exist, surplus included */
	long surplus;
	long used;              /* in use (by other VMs): cannot be freed */
	long limit;             /* how many pages can exist now */
	long compact, drop;     /* the limit after compact_memory, after drop_caches */
};

struct hsize {
	unsigned long kb;
	bool deflt;
	long resv, overcommit;
	struct hpool *pool;     /* one per S.nodes entry */
	size_t next_alloc, next_free;
	unsigned line;
};

struct process {
	unsigned pid;
	char *comm;
	char *cgroup;           /* the cgroup v2 path, NULL: the root */
	unsigned *fdnums;
	char **fdtargets;
	size_t nfds;
	bool hidden;            /* the tree was built with it gone (no-process) */
	unsigned line;
};

static struct {
	struct module **mods;
	size_t nmods;
	struct driver **drvs;
	size_t ndrvs;
	struct driver **reg;    /* registered drivers in registration order */
	size_t nreg;
	struct device **devs;
	size_t ndevs;
	struct blockdev **blks;
	size_t nblks;
	struct mountent **mnts;
	size_t nmnts;
	struct swapent **swaps;
	size_t nswaps;
	struct btrfsfs **btrfs;
	size_t nbtrfs;
	char *console;          /* sys/class/tty/console/active, NULL: none declared */
	char *cmdline;          /* proc/cmdline, NULL: none declared */
	char *cpu_vendor;       /* vendor_id of proc/cpuinfo, NULL: none declared */
	struct classdev **ttys;
	size_t nttys;
	struct classdev **fbs;
	size_t nfbs;
	struct vtcon **vts;
	size_t nvts;
	bool graphics;          /* a VT is in KD_GRAPHICS mode: console binding does nothing */
	bool have_online;
	struct cpumask online;
	struct policy **pols;
	size_t npols;
	struct numa_node **nodes;
	size_t nnodes;
	struct hsize **hps;
	size_t nhps;
	struct process **procs;
	size_t nprocs;
	bool autoprobe[_BUS_MAX];
} S;

static struct module *find_module(const char *name)
{
	for (size_t i = 0; i < S.nmods; i++)
		if (!strcmp(S.mods[i]->name, name))
			return S.mods[i];
	return NULL;
}

static struct driver *find_driver(enum bus bus, const char *name)
{
	for (size_t i = 0; i < S.ndrvs; i++)
		if (S.drvs[i]->bus == bus && !strcmp(S.drvs[i]->name, name))
			return S.drvs[i];
	return NULL;
}

static struct device *find_device(enum bus bus, const char *name)
{
	for (size_t i = 0; i < S.ndevs; i++)
		if (S.devs[i]->bus == bus && !strcmp(S.devs[i]->name, name))
			return S.devs[i];
	return NULL;
}

/* bus_find_device_by_name(): the written buffer may end in a newline. */
static struct device *find_device_streq(enum bus bus, const char *buf)
{
	for (size_t i = 0; i < S.ndevs; i++)
		if (S.devs[i]->bus == bus && !S.devs[i]->removed && sysfs_streq(S.devs[i]->name, buf))
			return S.devs[i];
	return NULL;
}

static struct blockdev *find_block(const char *name)
{
	for (size_t i = 0; i < S.nblks; i++)
		if (!strcmp(S.blks[i]->name, name))
			return S.blks[i];
	return NULL;
}

static bool drv_registered(const struct driver *d)
{
	for (size_t i = 0; i < S.nreg; i++)
		if (S.reg[i] == d)
			return true;
	return false;
}

static int module_refcnt(const struct module *m);

/* ------------------------------------------------------------------------ */
/* Fault injection state (see faults_load()).                               */

enum fault_kind {
	F_ERR,
	F_HANG,                 /* block before the operation, interruptible */
	F_HANG_D,               /* block before the operation, uninterruptible (D state) */
	F_APPLY_HANG,           /* apply at once, then hold the reply, interruptible */
};

struct fault {
	enum fault_kind kind;
	char *path;
	int err;
	double secs;
	long count;             /* -1: unlimited */
	char *key;              /* line text: the counter key */
};

struct refcnt_override {
	char *mod;
	int refcnt;
};

struct used_override {
	unsigned long kb;
	unsigned node;
	long used;
};

static struct {
	struct fault *v;
	size_t n;
	unsigned long probe_delay_ms;
	char **nobind;
	size_t nnobind;
	struct refcnt_override *rc;
	size_t nrc;
	struct used_override *used;
	size_t nused;
	unsigned *gone;         /* processes that exited */
	size_t ngone;
	char **unreadable;      /* paths whose open, opendir and readlink fail EACCES */
	size_t nunreadable;
	int graphics;           /* -1: as in the spec */
	bool bad;               /* the file did not parse: mutations fail EBADMSG */
} F = { .graphics = -1 };

struct counter {
	char *key;
	unsigned long used;
	struct counter *next;
};

static struct counter *g_counters;
static char *g_faults_path;
static FILE *g_log;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct timespec g_start;

__attribute__((format(printf, 1, 2)))
static void sim_log(const char *fmt, ...)
{
	va_list ap;

	if (!g_log)
		return;
	va_start(ap, fmt);
	vfprintf(g_log, fmt, ap);
	va_end(ap);
	fputc('\n', g_log);
	fflush(g_log);
}

static bool nobind(const struct device *dev)
{
	for (size_t i = 0; i < F.nnobind; i++)
		if (!strcmp(F.nobind[i], dev->name))
			return true;
	return false;
}

/* ------------------------------------------------------------------------ */
/* Kernel behaviour: matching, probing, binding, modules.                    */

/*
 * pci_match_device(): a set driver_override allows only the driver of that
 * name (and that one always matches); otherwise the dynamic and static ids.
 */
/* The platform device name without its ".N" instance suffix (pdev->name). */
static size_t platform_base_len(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1))
		return (size_t)(dot - name);
	return strlen(name);
}

/*
 * pci_match_device() and platform_match(): a set driver_override allows only
 * the driver of that name (and that one always matches).  Otherwise PCI uses
 * the dynamic and static ids; a platform driver with an id table uses only
 * that, one without falls back to its own name.
 */
static bool drv_match(const struct driver *d, const struct device *dev)
{
	if (d->bus != dev->bus || dev->removed)
		return false;
	if (dev->override)
		return !strcmp(dev->override, d->name);
	if (dev->bus == BUS_PLATFORM) {
		size_t len = platform_base_len(dev->name);

		if (d->ids_given) {
			for (size_t i = 0; i < d->nnames; i++)
				if (strlen(d->names[i]) == len && !strncmp(d->names[i], dev->name, len))
					return true;
			return false;
		}
		return strlen(d->name) == len && !strncmp(d->name, dev->name, len);
	}
	for (size_t i = 0; i < d->nids; i++)
		if (d->ids[i].vendor == dev->vendor &&
		    (d->ids[i].any_device || d->ids[i].device == dev->device))
			return true;
	return false;
}

static void dev_release(struct device *dev);

/*
 * sysfb_disable(), from aperture_remove_conflicting_pci_devices() when a
 * driver takes over the boot VGA device: the firmware framebuffer's platform
 * device is unregistered for good.
 */
static void sysfb_disable(void)
{
	for (size_t i = 0; i < S.ndevs; i++) {
		struct device *fb = S.devs[i];

		if (fb->sysfb && !fb->removed) {
			dev_release(fb);
			fb->removed = true;
			sim_log("sysfb disabled: %s unregistered", fb->name);
		}
	}
}

/*
 * The driver's probe().  vfio-pci refuses devices without an IOMMU group and
 * anything that is not a normal (type 0) header, i.e. bridges.
 */
static int drv_probe(struct driver *d, struct device *dev)
{
	if (dev->drv)
		return -EBUSY;
	if (!strcmp(d->name, "vfio-pci")) {
		if (dev->group < 0 || (dev->class >> 8) == 0x0604 || (dev->class >> 8) == 0x0607) {
			sim_log("probe %s %s = -EINVAL (refused)", d->name, dev->name);
			return -EINVAL;
		}
	}
	dev->drv = d;
	sim_log("bound %s %s", d->name, dev->name);
	if (d->aperture && dev->bus == BUS_PCI && (dev->class >> 8) == 0x0300 && dev->boot_vga == 1)
		sysfb_disable();
	return 0;
}

static void dev_release(struct device *dev)
{
	if (!dev->drv)
		return;
	sim_log("unbound %s %s", dev->drv->name, dev->name);
	dev->drv = NULL;
}

/* device_attach(): first registered driver that matches and probes. */
static void device_attach(struct device *dev)
{
	if (dev->drv)
		return;
	for (size_t i = 0; i < S.nreg; i++) {
		struct driver *d = S.reg[i];

		if (drv_match(d, dev) && drv_probe(d, dev) == 0)
			return;
	}
}

/* Attach now: to @d if given (if still registered and matching), else any. */
static void attach_now(struct device *dev, struct driver *d)
{
	if (dev->drv)
		return;
	if (!d)
		device_attach(dev);
	else if (drv_registered(d) && drv_match(d, dev))
		(void)drv_probe(d, dev);
}

struct pending {
	struct device *dev;
	struct driver *drv;
	struct timespec due;
	struct pending *next;
};

static struct pending *g_pending;
static pthread_cond_t g_cond;
static pthread_t g_prober;
static bool g_prober_started, g_stop;

static void *prober_main(void *arg);
static void build_tree(void);

/* Attach after the probe delay of the fault file, or at once. */
static void schedule_attach(struct device *dev, struct driver *d)
{
	struct pending *p, **pp;

	if (!F.probe_delay_ms) {
		attach_now(dev, d);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->dev = dev;
	p->drv = d;
	monotonic_now(&p->due);
	ts_add_ms(&p->due, F.probe_delay_ms);
	for (pp = &g_pending; *pp; pp = &(*pp)->next)
		;
	*pp = p;
	sim_log("probe %s %s deferred %lums", d ? d->name : "*", dev->name, F.probe_delay_ms);
	if (!g_prober_started) {
		if (pthread_create(&g_prober, NULL, prober_main, NULL) != 0) {
			fputs("simhost: cannot start the probe thread\n", stderr);
			abort();
		}
		g_prober_started = true;
	}
	pthread_cond_broadcast(&g_cond);
}

/* The asynchronous prober: runs due attaches, then sleeps until the next. */
static void *prober_main(void *arg)
{
	pthread_mutex_lock(&g_lock);
	while (!g_stop) {
		struct timespec now;
		bool changed = false;

		monotonic_now(&now);
		for (struct pending **pp = &g_pending; *pp;) {
			struct pending *p = *pp;

			if (ts_before_eq(&p->due, &now)) {
				*pp = p->next;
				attach_now(p->dev, p->drv);
				free(p);
				changed = true;
			} else {
				pp = &p->next;
			}
		}
		if (changed)
			build_tree();
		if (g_pending) {
			struct timespec due = g_pending->due;

			for (struct pending *p = g_pending; p; p = p->next)
				if (ts_before_eq(&p->due, &due))
					due = p->due;
			pthread_cond_timedwait(&g_cond, &g_lock, &due);
		} else {
			pthread_cond_wait(&g_cond, &g_lock);
		}
	}
	pthread_mutex_unlock(&g_lock);
	return NULL;
}

/* driver_register() -> driver_attach(): probe every unbound matching device. */
static void driver_attach(struct driver *d)
{
	for (size_t i = 0; i < S.ndevs; i++) {
		struct device *dev = S.devs[i];

		if (!dev->drv && drv_match(d, dev) && !nobind(dev))
			schedule_attach(dev, d);
	}
}

static void drv_register(struct driver *d)
{
	VEC_PUSH(S.reg, S.nreg, d);
	sim_log("registered driver %s", d->name);
	if (S.autoprobe[d->bus])
		driver_attach(d);
}

static void drv_unregister(struct driver *d)
{
	for (size_t i = 0; i < S.ndevs; i++)
		if (S.devs[i]->drv == d)
			dev_release(S.devs[i]);
	for (size_t i = 0; i < S.nreg; i++) {
		if (S.reg[i] == d) {
			memmove(&S.reg[i], &S.reg[i + 1], (S.nreg - i - 1) * sizeof(*S.reg));
			S.nreg--;
			break;
		}
	}
	sim_log("unregistered driver %s", d->name);
}

/* Loaded modules that hold @m (modules that depend on it). */
static int loaded_holders(const struct module *m)
{
	int n = 0;

	for (size_t i = 0; i < m->nholders; i++)
		if (m->holders[i]->loaded)
			n++;
	return n;
}

/* Like modprobe: load what @m depends on first, then @m, then its drivers. */
static int module_load(struct module *m)
{
	if (m->loaded)
		return -EEXIST;
	if (m->visiting)
		return -ELOOP;
	m->visiting = true;
	for (size_t i = 0; i < S.nmods; i++) {
		struct module *dep = S.mods[i];

		for (size_t j = 0; j < dep->nholders; j++) {
			if (dep->holders[j] == m && !dep->loaded) {
				int r = module_load(dep);

				if (r < 0 && r != -EEXIST) {
					m->visiting = false;
					return r;
				}
			}
		}
	}
	m->visiting = false;
	m->loaded = true;
	sim_log("loaded module %s", m->name);
	for (size_t i = 0; i < S.ndrvs; i++)
		if (S.drvs[i]->mod == m)
			drv_register(S.drvs[i]);
	return 0;
}

/*
 * delete_module() with O_NONBLOCK, as libkmod calls it: EWOULDBLOCK (EAGAIN)
 * both when other modules depend on this one and when its refcount is not 0.
 */
static int module_unload(struct module *m)
{
	if (m->builtin)
		return -EPERM;
	if (!m->loaded)
		return -ENOENT;
	if (module_refcnt(m) > 0)
		return -EAGAIN;
	for (size_t i = 0; i < S.ndrvs; i++)
		if (S.drvs[i]->mod == m && drv_registered(S.drvs[i]))
			drv_unregister(S.drvs[i]);
	m->loaded = false;
	sim_log("unloaded module %s", m->name);
	return 0;
}

static int module_refcnt(const struct module *m)
{
	int base = m->refcnt;

	for (size_t i = 0; i < F.nrc; i++)
		if (!strcmp(F.rc[i].mod, m->name))
			base = F.rc[i].refcnt;
	return base + loaded_holders(m);
}

/* ------------------------------------------------------------------------ */
/* vtconsole, cpufreq, hugepages, processes.                                */

static bool graphics_mode(void)
{
	return F.graphics >= 0 ? F.graphics : S.graphics;
}

/* A system driver holds the consoles no modular driver holds. */
static bool vt_bound(const struct vtcon *vt)
{
	if (vt->module)
		return vt->bound;
	for (size_t i = 0; i < S.nvts; i++)
		if (S.vts[i]->module && S.vts[i]->bound)
			return false;
	return true;
}

/*
 * store_bind() of vtconN/bind always returns the count: binding a system
 * driver, binding or unbinding while a VT is in KD_GRAPHICS mode, and
 * unbinding without another driver to fall back to all do nothing, silently.
 * The caller has to read bind back.
 */
static void store_vt_bind(struct vtcon *vt, const char *buf)
{
	unsigned long bind = isdigit((unsigned char)buf[0]) ? strtoul(buf, NULL, 0) : 0;
	bool has_system = false, has_other = false;

	if (!vt->module || graphics_mode())
		return;
	for (size_t i = 0; i < S.nvts; i++) {
		if (!S.vts[i]->module)
			has_system = true;
		if (S.vts[i] != vt)
			has_other = true;
	}
	if (bind && has_system)
		vt->bound = true;
	else if (!bind && has_other)
		vt->bound = false;
}

static const char *const epp_names[] = {
	"default", "performance", "balance_performance", "balance_power", "power",
};

static void set_str(char **dst, const char *src)
{
	char *copy = xstrdup(src);

	free(*dst);
	*dst = copy;
}

/*
 * store_scaling_governor(): the first word; setpolicy drivers know only
 * performance and powersave.  amd-pstate-epp and intel_pstate pin the EPP to
 * performance under the performance policy and restore it after.
 */
static int store_governor(struct policy *p, const char *buf)
{
	const char *gov = NULL;
	char name[16];

	if (sscanf(buf, "%15s", name) != 1)
		return -EINVAL;
	if (p->setpolicy) {
		if (!strcasecmp(name, "performance"))
			gov = "performance";
		else if (!strcasecmp(name, "powersave"))
			gov = "powersave";
	} else {
		for (size_t i = 0; i < p->ngovs; i++)
			if (!strcmp(p->govs[i], name))
				gov = p->govs[i];
	}
	if (!gov)
		return -EINVAL;
	if (p->has_epp) {
		bool was_perf = !strcmp(p->gov, "performance"), is_perf = !strcmp(gov, "performance");

		if (is_perf && !was_perf)
			set_str(&p->epp, "performance");
		else if (!is_perf && was_perf)
			set_str(&p->epp, p->epp_cached);
	}
	set_str(&p->gov, gov);
	return 0;
}

/* EBUSY for anything but performance under the performance policy. */
static int store_epp(struct policy *p, const char *buf)
{
	const char *val = NULL;
	char name[21];

	if (sscanf(buf, "%20s", name) != 1)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(epp_names); i++)
		if (!strcmp(name, epp_names[i]))
			val = i ? epp_names[i] : p->epp_default;
	if (!val)
		return -EINVAL;
	if (!strcmp(p->gov, "performance") && strcmp(val, "performance"))
		return -EBUSY;
	set_str(&p->epp, val);
	set_str(&p->epp_cached, val);
	return 0;
}

static long hp_used(const struct hsize *h, size_t ni)
{
	long u = h->pool[ni].used;

	for (size_t i = 0; i < F.nused; i++)
		if (F.used[i].kb == h->kb && F.used[i].node == S.nodes[ni]->n)
			u = F.used[i].used;
	return u < h->pool[ni].nr ? u : h->pool[ni].nr;
}

enum hp_count {
	HP_NR,
	HP_FREE,
	HP_SURPLUS,
	HP_PERSISTENT,
	HP_USED,
};

/* A count over one node (index @ni) or, with -1, all of them. */
static long hp_count(const struct hsize *h, int ni, enum hp_count what)
{
	long sum = 0;

	for (size_t i = 0; i < S.nnodes; i++) {
		const struct hpool *p = &h->pool[i];

		if (ni >= 0 && (size_t)ni != i)
			continue;
		switch (what) {
		case HP_NR:
			sum += p->nr;
			break;
		case HP_FREE:
			sum += p->nr - hp_used(h, i);
			break;
		case HP_SURPLUS:
			sum += p->surplus;
			break;
		case HP_PERSISTENT:
			sum += p->nr - p->surplus;
			break;
		case HP_USED:
			sum += hp_used(h, i);
			break;
		}
	}
	return sum;
}

/* Surplus pages go back to the buddy allocator as soon as nothing uses them. */
static void hp_normalize(void)
{
	for (size_t h = 0; h < S.nhps; h++) {
		for (size_t i = 0; i < S.nnodes; i++) {
			struct hpool *p = &S.hps[h]->pool[i];
			long excess = p->surplus - hp_used(S.hps[h], i);

			if (excess > 0) {
				p->surplus -= excess;
				p->nr -= excess;
			}
		}
	}
}

/*
 * set_max_huge_pages(): @count persistent pages in total, changing only the
 * node of index @only (or all, -1).  Surplus pages become persistent first,
 * then fresh pages are allocated node by node while a node has room (its
 * limit: fragmentation).  Shrinking frees free pages down to what is in use
 * or reserved, and turns the rest into surplus.  Never fails: a shortfall is
 * only visible by reading the count back.
 */
static void hp_set(struct hsize *h, long count, int only)
{
	size_t nn = S.nnodes;
	long persist, min_count;

	hp_normalize();
	persist = hp_count(h, -1, HP_PERSISTENT);

#define HP_ALLOWED(i) (only < 0 || (size_t)only == (i))
	for (size_t i = 0; i < nn && persist < count; i++) {
		while (HP_ALLOWED(i) && h->pool[i].surplus > 0 && persist < count) {
			h->pool[i].surplus--;
			persist++;
		}
	}
	while (persist < count) {
		bool done = false;

		for (size_t k = 0; k < nn && !done; k++) {
			size_t i = (h->next_alloc + k) % nn;

			if (HP_ALLOWED(i) && h->pool[i].nr < h->pool[i].limit) {
				h->pool[i].nr++;
				persist++;
				h->next_alloc = (i + 1) % nn;
				done = true;
			}
		}
		if (!done)
			break;
	}
	min_count = h->resv + hp_count(h, -1, HP_USED);
	if (min_count < count)
		min_count = count;
	while (persist > min_count) {
		bool done = false;

		for (size_t k = 0; k < nn && !done; k++) {
			size_t i = (h->next_free + k) % nn;

			if (HP_ALLOWED(i) && h->pool[i].nr - h->pool[i].surplus > 0 &&
			    h->pool[i].nr - hp_used(h, i) > 0) {
				h->pool[i].nr--;
				persist--;
				h->next_free = (i + 1) % nn;
				done = true;
			}
		}
		if (!done)
			break;
	}
	while (count < persist) {
		bool done = false;

		for (size_t k = 0; k < nn && !done; k++) {
			size_t i = (h->next_free + k) % nn;

			if (HP_ALLOWED(i) && h->pool[i].surplus < h->pool[i].nr) {
				h->pool[i].surplus++;
				persist--;
				h->next_free = (i + 1) % nn;
				done = true;
			}
		}
		if (!done)
			break;
	}
#undef HP_ALLOWED
	sim_log("hugepages %lukB: %ld pages, %ld surplus", h->kb, hp_count(h, -1, HP_NR),
		hp_count(h, -1, HP_SURPLUS));
}

/* Per-node writes are turned into a global count limited to that node. */
static void hp_set_node(struct hsize *h, long count, int ni)
{
	if (ni < 0)
		hp_set(h, count, -1);
	else
		hp_set(h, count + hp_count(h, -1, HP_PERSISTENT) - hp_count(h, ni, HP_PERSISTENT), ni);
}

/* compact_memory and drop_caches make contiguous memory: more pages fit. */
static void hp_raise_limits(bool drop)
{
	for (size_t i = 0; i < S.nhps; i++) {
		for (size_t n = 0; n < S.nnodes; n++) {
			struct hpool *p = &S.hps[i]->pool[n];
			long to = drop ? p->drop : p->compact;

			if (p->limit < to)
				p->limit = to;
		}
	}
}

static struct hsize *hp_default(void)
{
	for (size_t i = 0; i < S.nhps; i++)
		if (S.hps[i]->deflt)
			return S.hps[i];
	return NULL;
}

/* kstrtoul(buf, 10): digits and at most one trailing newline. */
static int parse_sysfs_ulong(const char *buf, long *ret)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)buf[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(buf, &end, 10);
	if (errno || v > (unsigned long)UNLIMITED)
		return -ERANGE;
	if (*end && strcmp(end, "\n"))
		return -EINVAL;
	*ret = (long)v;
	return 0;
}

/* proc_doulongvec_minmax() and proc_dointvec_minmax(): spaces around a number. */
static int parse_proc_ulong(const char *buf, long *ret)
{
	unsigned long v;
	char *end;

	while (isspace((unsigned char)*buf))
		buf++;
	if (!isdigit((unsigned char)*buf))
		return -EINVAL;
	errno = 0;
	v = strtoul(buf, &end, 0);
	if (errno || v > (unsigned long)UNLIMITED)
		return -EINVAL;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -EINVAL;
	*ret = (long)v;
	return 0;
}

static bool process_gone(const struct process *p)
{
	for (size_t i = 0; i < F.ngone; i++)
		if (F.gone[i] == p->pid)
			return true;
	return false;
}

/* ------------------------------------------------------------------------ */
/* The spec file.                                                           */

struct pline {
	const char *file;
	unsigned no;
	char *w[MAX_WORDS];
	size_t nw;
	size_t npos;            /* leading words without '=' */
	bool used[MAX_WORDS];
};

__attribute__((format(printf, 2, 3)))
static int perr(const struct pline *l, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "simhost: %s:%u: ", l->file, l->no);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

/* The value of key=, NULL if absent. */
static const char *pl_get(struct pline *l, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = l->npos; i < l->nw; i++) {
		if (!strncmp(l->w[i], key, klen) && l->w[i][klen] == '=') {
			l->used[i] = true;
			return l->w[i] + klen + 1;
		}
	}
	return NULL;
}

static int pl_check(const struct pline *l, size_t npos_min, size_t npos_max)
{
	if (l->npos < npos_min || l->npos > npos_max)
		return perr(l, "'%s' takes %zu to %zu words before its key=value fields, not %zu",
			    l->w[0], npos_min - 1, npos_max - 1, l->npos - 1);
	for (size_t i = l->npos; i < l->nw; i++) {
		const char *eq = strchr(l->w[i], '=');

		if (!eq || eq == l->w[i])
			return perr(l, "'%s' is not a key=value field", l->w[i]);
		for (size_t j = l->npos; j < i; j++)
			if (!strncmp(l->w[j], l->w[i], (size_t)(eq - l->w[i]) + 1))
				return perr(l, "duplicate field '%.*s'", (int)(eq - l->w[i]), l->w[i]);
	}
	return 0;
}

static int pl_done(const struct pline *l)
{
	for (size_t i = l->npos; i < l->nw; i++)
		if (!l->used[i])
			return perr(l, "unknown field '%s' for '%s'", l->w[i], l->w[0]);
	return 0;
}

static bool is_hex_n(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

/* "0x" followed by 1 to @digits lowercase hex digits. */
static int parse_hex(const struct pline *l, const char *key, const char *s, size_t digits, unsigned *ret)
{
	size_t n;

	if (!s)
		return perr(l, "missing %s=", key);
	n = strlen(s);
	if (n < 3 || n > digits + 2 || s[0] != '0' || s[1] != 'x' || !is_hex_n(s + 2, n - 2))
		return perr(l, "%s=%s: expected 0x and up to %zu lowercase hex digits", key, s, digits);
	*ret = (unsigned)strtoul(s + 2, NULL, 16);
	return 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
	unsigned long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static int parse_yesno(const struct pline *l, const char *key, const char *s, bool *ret)
{
	if (!strcmp(s, "yes"))
		*ret = true;
	else if (!strcmp(s, "no"))
		*ret = false;
	else
		return perr(l, "%s=%s: expected yes or no", key, s);
	return 0;
}

/* DDDD:BB:DD.F, lowercase hex, device <= 0x1f, function <= 7. */
static bool valid_bdf(const char *s)
{
	return strlen(s) == 12 && is_hex_n(s, 4) && s[4] == ':' && is_hex_n(s + 5, 2) &&
	       s[7] == ':' && (s[8] == '0' || s[8] == '1') && is_hex_n(s + 9, 1) &&
	       s[10] == '.' && s[11] >= '0' && s[11] <= '7';
}

/* pciDDDD:BB, the name of a PCI root bus directory. */
static bool valid_pci_root(const char *s)
{
	return strlen(s) == 10 && !strncmp(s, "pci", 3) && is_hex_n(s + 3, 4) && s[7] == ':' &&
	       is_hex_n(s + 8, 2);
}

/* A file name made of [A-Za-z0-9] and the characters in @extra. */
static bool valid_name(const char *s, const char *extra)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

static int parse_majmin(const struct pline *l, const char *s, unsigned *maj, unsigned *min)
{
	const char *colon = strchr(s, ':');
	char *a;
	int r;

	if (!colon)
		return perr(l, "'%s': expected MAJ:MIN", s);
	a = xstrndup(s, (size_t)(colon - s));
	r = parse_uint(a, 4095, maj);
	free(a);
	if (r < 0 || parse_uint(colon + 1, 1048575, min) < 0)
		return perr(l, "'%s': expected MAJ:MIN", s);
	return 0;
}

static int spec_pci(struct pline *l)
{
	struct device *d;
	const char *s;
	unsigned v;
	int r;

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	if (!valid_bdf(l->w[1]))
		return perr(l, "'%s' is not a PCI address (DDDD:BB:DD.F, lowercase hex)", l->w[1]);
	if (find_device(BUS_PCI, l->w[1]))
		return perr(l, "device %s declared twice", l->w[1]);
	d = xcalloc(1, sizeof(*d));
	d->bus = BUS_PCI;
	d->name = xstrdup(l->w[1]);
	d->line = l->no;
	d->group = -1;
	d->numa = -1;
	d->boot_vga = -1;
	VEC_PUSH(S.devs, S.ndevs, d);

	if ((r = parse_hex(l, "class", pl_get(l, "class"), 6, &d->class)) < 0 ||
	    (r = parse_hex(l, "vendor", pl_get(l, "vendor"), 4, &d->vendor)) < 0 ||
	    (r = parse_hex(l, "device", pl_get(l, "device"), 4, &d->device)) < 0)
		return r;
	if ((s = pl_get(l, "driver"))) {
		if (!valid_name(s, "_-.:+"))
			return perr(l, "driver=%s: bad driver name", s);
		d->drv_name = xstrdup(s);
	}
	if ((s = pl_get(l, "group"))) {
		if (parse_uint(s, 65535, &v) < 0)
			return perr(l, "group=%s: expected a number", s);
		d->group = (int)v;
	}
	if ((s = pl_get(l, "numa"))) {
		if (parse_uint(s, 1023, &v) < 0)
			return perr(l, "numa=%s: expected a node number", s);
		d->numa = (int)v;
	}
	if ((s = pl_get(l, "boot_vga"))) {
		if (strcmp(s, "0") && strcmp(s, "1"))
			return perr(l, "boot_vga=%s: expected 0 or 1", s);
		if ((d->class >> 8) != 0x0300)
			return perr(l, "boot_vga= is only for VGA devices (class 0x0300xx)");
		d->boot_vga = s[0] - '0';
	} else if ((d->class >> 8) == 0x0300) {
		d->boot_vga = 0;
	}
	if ((s = pl_get(l, "parent"))) {
		if (!valid_bdf(s) && !valid_pci_root(s))
			return perr(l, "parent=%s: expected a PCI address or pciDDDD:BB", s);
		d->parent_name = xstrdup(s);
	}
	if ((s = pl_get(l, "override"))) {
		if (!*s || strlen(s) >= PAGE_SZ - 1 || strchr(s, '\n'))
			return perr(l, "override=%s: bad value", s);
		d->override = xstrdup(s);
	}
	if ((s = pl_get(l, "reset_method"))) {
		/* the kernel's names (pci_reset_fn_methods), shown space-separated */
		if (!*s || strspn(s, "abcdefghijklmnopqrstuvwxyz_,") != strlen(s) || strstr(s, ",,") ||
		    s[0] == ',' || s[strlen(s) - 1] == ',')
			return perr(l, "reset_method=%s: expected names like flr,bus", s);
		d->reset_method = xstrdup(s);
		for (char *c = d->reset_method; *c; c++)
			if (*c == ',')
				*c = ' ';
	}
	return pl_done(l);
}

static int parse_ids(const struct pline *l, struct driver *d, const char *s)
{
	char *copy, *save = NULL;
	int r = 0;

	d->ids_given = true;
	if (!strcmp(s, "none"))
		return 0;
	copy = xstrdup(s);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct pci_id id = { 0 };

		if (strlen(tok) < 6 || !is_hex_n(tok, 4) || tok[4] != ':' ||
		    (strcmp(tok + 5, "*") && (strlen(tok) != 9 || !is_hex_n(tok + 5, 4)))) {
			r = perr(l, "ids: '%s' is not VVVV:DDDD (lowercase hex, DDDD may be *)", tok);
			break;
		}
		id.vendor = (unsigned)strtoul(tok, NULL, 16);
		if (tok[5] == '*')
			id.any_device = true;
		else
			id.device = (unsigned)strtoul(tok + 5, NULL, 16);
		VEC_PUSH(d->ids, d->nids, id);
	}
	if (!r && !d->nids)
		r = perr(l, "ids= is empty (write ids=none)");
	free(copy);
	return r;
}

/* ids= of a platform driver: the device names (without .N) it matches. */
static int parse_names(const struct pline *l, struct driver *d, const char *s)
{
	char *copy, *save = NULL;
	int r = 0;

	d->ids_given = true;
	if (!strcmp(s, "none"))
		return 0;
	copy = xstrdup(s);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!valid_name(tok, "_-.")) {
			r = perr(l, "ids: '%s' is not a platform device name", tok);
			break;
		}
		VEC_PUSH(d->names, d->nnames, xstrdup(tok));
	}
	free(copy);
	return r;
}

static int spec_driver(struct pline *l)
{
	struct driver *d;
	const char *s;
	int r;

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	if (!valid_name(l->w[1], "_-.:+"))
		return perr(l, "'%s' is not a driver name", l->w[1]);
	d = xcalloc(1, sizeof(*d));
	d->name = xstrdup(l->w[1]);
	d->line = l->no;
	d->bus = BUS_PCI;
	if ((s = pl_get(l, "bus"))) {
		if (!strcmp(s, "platform")) {
			d->bus = BUS_PLATFORM;
		} else if (strcmp(s, "pci")) {
			free(d->name);
			free(d);
			return perr(l, "bus=%s: expected pci or platform", s);
		}
	}
	if (find_driver(d->bus, d->name)) {
		free(d->name);
		free(d);
		return perr(l, "driver %s declared twice", l->w[1]);
	}
	VEC_PUSH(S.drvs, S.ndrvs, d);
	if ((s = pl_get(l, "module"))) {
		if (!valid_name(s, "_"))
			return perr(l, "module=%s: bad module name (no dashes: the kernel uses _)", s);
		d->mod_name = xstrdup(s);
	}
	if ((s = pl_get(l, "ids"))) {
		if (d->bus == BUS_PCI && (r = parse_ids(l, d, s)) < 0)
			return r;
		if (d->bus == BUS_PLATFORM && (r = parse_names(l, d, s)) < 0)
			return r;
	}
	if ((s = pl_get(l, "aperture"))) {
		if ((r = parse_yesno(l, "aperture", s, &d->aperture)) < 0)
			return r;
		if (d->aperture && d->bus != BUS_PCI)
			return perr(l, "aperture= is for pci drivers");
	}
	return pl_done(l);
}

static int spec_module(struct pline *l)
{
	struct module *m;
	const char *s;
	unsigned v;
	bool b = false;
	int r;

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	if (!valid_name(l->w[1], "_"))
		return perr(l, "'%s' is not a module name (no dashes: the kernel uses _)", l->w[1]);
	if (find_module(l->w[1]))
		return perr(l, "module %s declared twice", l->w[1]);
	m = xcalloc(1, sizeof(*m));
	m->name = xstrdup(l->w[1]);
	m->line = l->no;
	m->loaded = true;
	VEC_PUSH(S.mods, S.nmods, m);
	if ((s = pl_get(l, "loaded")) && (r = parse_yesno(l, "loaded", s, &m->loaded)) < 0)
		return r;
	if ((s = pl_get(l, "builtin"))) {
		if ((r = parse_yesno(l, "builtin", s, &b)) < 0)
			return r;
		if (b && !m->loaded)
			return perr(l, "a builtin module is always loaded");
		m->builtin = b;
	}
	if ((s = pl_get(l, "refcnt"))) {
		if (parse_uint(s, 1000000, &v) < 0)
			return perr(l, "refcnt=%s: expected a number", s);
		m->refcnt = (int)v;
	}
	if ((s = pl_get(l, "holders"))) {
		char *copy = xstrdup(s), *save = NULL;

		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (!valid_name(t, "_")) {
				free(copy);
				return perr(l, "holders: '%s' is not a module name", t);
			}
			VEC_PUSH(m->holder_names, m->nholders, xstrdup(t));
		}
		free(copy);
	}
	return pl_done(l);
}

/* A comma-separated list of distinct names made of [A-Za-z0-9] and @extra. */
static int parse_name_list(const struct pline *l, const char *key, const char *s, const char *extra,
			   char ***v, size_t *n)
{
	char *copy = xstrdup(s), *save = NULL;
	int r = 0;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!valid_name(t, extra)) {
			r = perr(l, "%s: '%s' is not a valid name", key, t);
			break;
		}
		for (size_t i = 0; i < *n; i++)
			if (!strcmp((*v)[i], t))
				r = perr(l, "%s: '%s' listed twice", key, t);
		if (r < 0)
			break;
		VEC_PUSH(*v, *n, xstrdup(t));
	}
	free(copy);
	if (!r && !*n)
		r = perr(l, "%s= is empty", key);
	return r;
}

/* A one-line attribute value: not empty, no newline. */
static int parse_text(const struct pline *l, const char *key, const char *s, char **ret)
{
	if (!*s || strchr(s, '\n'))
		return perr(l, "%s=%s: bad value", key, s);
	*ret = xstrdup(s);
	return 0;
}

static int spec_block(struct pline *l)
{
	struct blockdev *b;
	const char *s, *slaves;
	int r;

	r = pl_check(l, 3, 3);
	if (r < 0)
		return r;
	b = xcalloc(1, sizeof(*b));
	b->line = l->no;
	b->name = xstrdup(l->w[2]);
	VEC_PUSH(S.blks, S.nblks, b);
	if ((r = parse_majmin(l, l->w[1], &b->major, &b->minor)) < 0)
		return r;
	if (!valid_name(b->name, "_-"))
		return perr(l, "'%s' is not a block device name", b->name);
	for (size_t i = 0; i + 1 < S.nblks; i++) {
		if (!strcmp(S.blks[i]->name, b->name))
			return perr(l, "block device %s declared twice", b->name);
		if (S.blks[i]->major == b->major && S.blks[i]->minor == b->minor)
			return perr(l, "block device %u:%u declared twice", b->major, b->minor);
	}
	s = pl_get(l, "parent");
	slaves = pl_get(l, "slaves");
	if (!s == !slaves)
		return perr(l, "expected parent= (a PCI address, or a disk for a partition) or slaves= (a virtual device), not %s",
			    s ? "both" : "neither");
	if (s) {
		b->parent_name = xstrdup(s);
	} else {
		b->virt = true;
		if (strcmp(slaves, "none") &&
		    (r = parse_name_list(l, "slaves", slaves, "_-", &b->slave_names, &b->nslaves)) < 0)
			return r;
		for (size_t i = 0; i < b->nslaves; i++)
			if (!strcmp(b->slave_names[i], b->name))
				return perr(l, "%s cannot be its own slave", b->name);
	}
	if ((s = pl_get(l, "dm_name")) && (r = parse_text(l, "dm_name", s, &b->dm_name)) < 0)
		return r;
	if ((s = pl_get(l, "dm_uuid")) && (r = parse_text(l, "dm_uuid", s, &b->dm_uuid)) < 0)
		return r;
	if ((s = pl_get(l, "md_level")) && (r = parse_text(l, "md_level", s, &b->md_level)) < 0)
		return r;
	if (!b->virt && (b->dm_name || b->dm_uuid || b->md_level))
		return perr(l, "dm_name=, dm_uuid= and md_level= are for virtual devices (slaves=)");
	if ((b->dm_name || b->dm_uuid) && b->md_level)
		return perr(l, "a device is dm or md, not both");
	return pl_done(l);
}

static int spec_mount(struct pline *l)
{
	struct mountent *m;
	const char *s;
	int r;

	r = pl_check(l, 4, 4);
	if (r < 0)
		return r;
	m = xcalloc(1, sizeof(*m));
	m->line = l->no;
	VEC_PUSH(S.mnts, S.nmnts, m);
	if ((r = parse_majmin(l, l->w[1], &m->major, &m->minor)) < 0)
		return r;
	if (l->w[2][0] != '/')
		return perr(l, "mount point '%s' is not absolute", l->w[2]);
	m->point = xstrdup(l->w[2]);
	if (!valid_name(l->w[3], "_-."))
		return perr(l, "'%s' is not a file system type", l->w[3]);
	m->fstype = xstrdup(l->w[3]);
	if ((s = pl_get(l, "source")) && (r = parse_text(l, "source", s, &m->source)) < 0)
		return r;
	return pl_done(l);
}

/* A number from -32768 to 32767. */
static int parse_prio(const char *s, int *ret)
{
	unsigned v;

	if (s[0] == '-') {
		if (parse_uint(s + 1, 32768, &v) < 0)
			return -EINVAL;
		*ret = -(int)v;
		return 0;
	}
	if (parse_uint(s, 32767, &v) < 0)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

static int spec_swap(struct pline *l)
{
	struct swapent *sw;
	const char *s;
	unsigned v;
	int r, auto_prio = -2;    /* swapon without a priority: -2, -3, ... */

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	if (l->w[1][0] != '/' || strchr(l->w[1], '\n'))
		return perr(l, "'%s' is not an absolute path", l->w[1]);
	for (size_t i = 0; i < S.nswaps; i++) {
		if (!strcmp(S.swaps[i]->path, l->w[1]))
			return perr(l, "swap %s declared twice", l->w[1]);
		if (!S.swaps[i]->prio_given)
			auto_prio--;
	}
	sw = xcalloc(1, sizeof(*sw));
	sw->line = l->no;
	sw->path = xstrdup(l->w[1]);
	sw->file = strncmp(sw->path, "/dev/", 5) != 0;
	sw->size = 8388604;
	sw->prio = auto_prio;
	VEC_PUSH(S.swaps, S.nswaps, sw);
	if ((s = pl_get(l, "type"))) {
		if (strcmp(s, "partition") && strcmp(s, "file"))
			return perr(l, "type=%s: expected partition or file", s);
		sw->file = !strcmp(s, "file");
	}
	if ((s = pl_get(l, "size"))) {
		if (parse_uint(s, UINT_MAX, &v) < 0)
			return perr(l, "size=%s: expected kB", s);
		sw->size = v;
	}
	if ((s = pl_get(l, "used"))) {
		if (parse_uint(s, UINT_MAX, &v) < 0 || v > sw->size)
			return perr(l, "used=%s: expected kB, at most size=", s);
		sw->used = v;
	}
	if ((s = pl_get(l, "priority"))) {
		if (parse_prio(s, &sw->prio) < 0)
			return perr(l, "priority=%s: expected -32768 to 32767", s);
		sw->prio_given = true;
	}
	return pl_done(l);
}

/* 8-4-4-4-12 lowercase hex digits. */
static bool valid_uuid(const char *s)
{
	static const size_t groups[] = { 8, 4, 4, 4, 12 };

	for (size_t g = 0; g < ARRAY_SIZE(groups); g++) {
		if (!is_hex_n(s, groups[g]))
			return false;
		s += groups[g];
		if (*s != (g + 1 < ARRAY_SIZE(groups) ? '-' : '\0'))
			return false;
		s += *s == '-';
	}
	return true;
}

static int spec_btrfs(struct pline *l)
{
	struct btrfsfs *fs;
	const char *s;
	int r;

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	if (!valid_uuid(l->w[1]))
		return perr(l, "'%s' is not a file system UUID (8-4-4-4-12 lowercase hex)", l->w[1]);
	for (size_t i = 0; i < S.nbtrfs; i++)
		if (!strcmp(S.btrfs[i]->uuid, l->w[1]))
			return perr(l, "btrfs %s declared twice", l->w[1]);
	fs = xcalloc(1, sizeof(*fs));
	fs->line = l->no;
	fs->uuid = xstrdup(l->w[1]);
	VEC_PUSH(S.btrfs, S.nbtrfs, fs);
	if (!(s = pl_get(l, "devices")))
		return perr(l, "missing devices= (its block devices)");
	if ((r = parse_name_list(l, "devices", s, "_-", &fs->dev_names, &fs->ndevs)) < 0)
		return r;
	return pl_done(l);
}

static int spec_console(struct pline *l)
{
	struct sbuf b = { 0 };
	int r;

	r = pl_check(l, 2, MAX_WORDS);
	if (r < 0)
		return r;
	if (S.console)
		return perr(l, "console declared twice");
	for (size_t i = 1; i < l->npos; i++) {
		if (!valid_name(l->w[i], "_-.")) {
			free(b.p);
			return perr(l, "'%s' is not a console name (tty0, ttyS0, ...)", l->w[i]);
		}
		sb_printf(&b, "%s%s", i > 1 ? " " : "", l->w[i]);
	}
	S.console = b.p;
	return pl_done(l);
}

/* cmdline TEXT...: the rest of the line as it is, key=value words included */
static int spec_cmdline(struct pline *l)
{
	struct sbuf b = { 0 };

	if (S.cmdline)
		return perr(l, "cmdline declared twice");
	for (size_t i = 1; i < l->nw; i++)
		sb_printf(&b, "%s%s", i > 1 ? " " : "", l->w[i]);
	S.cmdline = b.p ? b.p : xstrdup("");
	return 0;
}

static int spec_cpu_vendor(struct pline *l)
{
	int r = pl_check(l, 2, 2);

	if (r < 0)
		return r;
	if (S.cpu_vendor)
		return perr(l, "cpu-vendor declared twice");
	if (!valid_name(l->w[1], "_-"))
		return perr(l, "'%s' is not a vendor_id (GenuineIntel, AuthenticAMD, ...)", l->w[1]);
	S.cpu_vendor = xstrdup(l->w[1]);
	return pl_done(l);
}

/* tty NAME [parent=DEV] and fb N parent=DEV */
static int spec_classdev(struct pline *l, bool fb)
{
	struct classdev ***v = fb ? &S.fbs : &S.ttys, *c;
	size_t *nv = fb ? &S.nfbs : &S.nttys;
	const char *s;
	unsigned n = 0;
	int r;

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	if (fb ? parse_uint(l->w[1], 31, &n) < 0 : !valid_name(l->w[1], "_-."))
		return perr(l, fb ? "'%s': expected a framebuffer number 0 to 31" : "'%s' is not a tty name",
			    l->w[1]);
	if (!fb && !strcmp(l->w[1], "console"))
		return perr(l, "the console tty comes from the console line");
	c = xcalloc(1, sizeof(*c));
	c->line = l->no;
	c->n = n;
	c->name = fb ? xasprintf("fb%u", n) : xstrdup(l->w[1]);
	VEC_PUSH(*v, *nv, c);
	for (size_t i = 0; i + 1 < *nv; i++)
		if (!strcmp((*v)[i]->name, c->name))
			return perr(l, "%s declared twice", c->name);
	if ((s = pl_get(l, "parent")))
		c->parent_name = xstrdup(s);
	else if (fb)
		return perr(l, "missing parent= (the PCI or platform device of the framebuffer)");
	return pl_done(l);
}

static int spec_tty(struct pline *l)
{
	return spec_classdev(l, false);
}

static int spec_fb(struct pline *l)
{
	return spec_classdev(l, true);
}

static int spec_platform(struct pline *l)
{
	struct device *d;
	const char *s;
	int r;

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	if (!valid_name(l->w[1], "_-.:"))
		return perr(l, "'%s' is not a platform device name", l->w[1]);
	if (find_device(BUS_PLATFORM, l->w[1]))
		return perr(l, "device %s declared twice", l->w[1]);
	d = xcalloc(1, sizeof(*d));
	d->bus = BUS_PLATFORM;
	d->name = xstrdup(l->w[1]);
	d->line = l->no;
	d->group = -1;
	d->numa = -1;
	d->boot_vga = -1;
	d->path = xasprintf("sys/devices/platform/%s", d->name);
	VEC_PUSH(S.devs, S.ndevs, d);
	if ((s = pl_get(l, "driver"))) {
		if (!valid_name(s, "_-.:+"))
			return perr(l, "driver=%s: bad driver name", s);
		d->drv_name = xstrdup(s);
	}
	if ((s = pl_get(l, "override"))) {
		if (!*s || strlen(s) >= PAGE_SZ - 1 || strchr(s, '\n'))
			return perr(l, "override=%s: bad value", s);
		d->override = xstrdup(s);
	}
	if ((s = pl_get(l, "sysfb")) && (r = parse_yesno(l, "sysfb", s, &d->sysfb)) < 0)
		return r;
	return pl_done(l);
}

static int spec_vtcon(struct pline *l)
{
	struct vtcon *vt;
	const char *s;
	unsigned n;
	int r;

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	if (parse_uint(l->w[1], 15, &n) < 0)
		return perr(l, "'%s': expected a console number 0 to 15", l->w[1]);
	for (size_t i = 0; i < S.nvts; i++)
		if (S.vts[i]->n == n)
			return perr(l, "vtcon%u declared twice", n);
	vt = xcalloc(1, sizeof(*vt));
	vt->n = n;
	vt->line = l->no;
	vt->bound = true;
	VEC_PUSH(S.vts, S.nvts, vt);
	s = pl_get(l, "kind");
	if (!s || (strcmp(s, "system") && strcmp(s, "module")))
		return perr(l, "expected kind=system or kind=module");
	vt->module = !strcmp(s, "module");
	for (size_t i = 0; !vt->module && i + 1 < S.nvts; i++)
		if (!S.vts[i]->module)
			return perr(l, "only one system console driver can exist");
	s = pl_get(l, "desc");
	if (!s || !*s || strchr(s, '\n'))
		return perr(l, "expected desc=\"...\" (e.g. \"frame buffer device\")");
	vt->desc = xstrdup(s);
	if ((s = pl_get(l, "bind"))) {
		if (!vt->module)
			return perr(l, "bind= is for modular drivers: the system driver holds what they do not");
		if (strcmp(s, "0") && strcmp(s, "1"))
			return perr(l, "bind=%s: expected 0 or 1", s);
		vt->bound = s[0] == '1';
	}
	return pl_done(l);
}

static int spec_graphics(struct pline *l)
{
	int r = pl_check(l, 2, 2);

	if (r < 0)
		return r;
	if ((r = parse_yesno(l, "graphics-mode", l->w[1], &S.graphics)) < 0)
		return r;
	return pl_done(l);
}

static int parse_cpus(const struct pline *l, const char *key, const char *s, struct cpumask *m)
{
	if (!s)
		return perr(l, "missing %s=", key);
	if (cpulist_parse(s, m->b) < 0)
		return perr(l, "%s=%s: expected a CPU list like 0-3,8", key, s);
	return 0;
}

static int spec_cpus(struct pline *l)
{
	int r = pl_check(l, 1, 1);

	if (r < 0)
		return r;
	if (S.have_online)
		return perr(l, "cpus declared twice");
	if ((r = parse_cpus(l, "online", pl_get(l, "online"), &S.online)) < 0)
		return r;
	S.have_online = true;
	return pl_done(l);
}

static int spec_cpufreq(struct pline *l)
{
	struct policy *p;
	const char *s;
	int r;

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	p = xcalloc(1, sizeof(*p));
	p->line = l->no;
	VEC_PUSH(S.pols, S.npols, p);
	if (strncmp(l->w[1], "policy", 6) || parse_uint(l->w[1] + 6, MAX_CPUS - 1, &p->n) < 0)
		return perr(l, "'%s': expected policyN", l->w[1]);
	for (size_t i = 0; i + 1 < S.npols; i++)
		if (S.pols[i]->n == p->n)
			return perr(l, "policy%u declared twice", p->n);
	if ((r = parse_cpus(l, "cpus", pl_get(l, "cpus"), &p->cpus)) < 0)
		return r;
	s = pl_get(l, "driver");
	if (!s || !valid_name(s, "_-"))
		return perr(l, "missing or bad driver= (acpi-cpufreq, amd-pstate-epp, intel_pstate, ...)");
	p->driver = xstrdup(s);
	p->setpolicy = !strcmp(s, "amd-pstate-epp") || !strcmp(s, "intel_pstate");
	p->has_epp = p->setpolicy;
	if ((s = pl_get(l, "governors"))) {
		char *copy, *save = NULL;

		if (p->setpolicy)
			return perr(l, "%s offers performance and powersave only: no governors=", p->driver);
		copy = xstrdup(s);
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
			VEC_PUSH(p->govs, p->ngovs, xstrdup(t));
		free(copy);
	} else if (!p->setpolicy) {
		return perr(l, "missing governors= (the list the %s driver offers)", p->driver);
	} else {
		VEC_PUSH(p->govs, p->ngovs, xstrdup("performance"));
		VEC_PUSH(p->govs, p->ngovs, xstrdup("powersave"));
	}
	s = pl_get(l, "governor");
	for (size_t i = 0; s && i < p->ngovs; i++)
		if (!strcmp(p->govs[i], s))
			p->gov = xstrdup(s);
	if (!p->gov)
		return perr(l, "governor=%s is not one of the driver's governors", s ? s : "(missing)");
	if ((s = pl_get(l, "epp")) || (s = pl_get(l, "epp_default"))) {
		if (!p->has_epp)
			return perr(l, "only amd-pstate-epp and intel_pstate have an EPP");
	}
	if (p->has_epp) {
		const char *epp = pl_get(l, "epp"), *def = pl_get(l, "epp_default");
		bool ok_epp = false, ok_def = false;

		if (!epp)
			epp = !strcmp(p->gov, "performance") ? "performance" : "balance_performance";
		if (!def)
			def = "balance_performance";
		for (size_t i = 1; i < ARRAY_SIZE(epp_names); i++) {
			ok_epp |= !strcmp(epp, epp_names[i]);
			ok_def |= !strcmp(def, epp_names[i]);
		}
		if (!ok_epp || !ok_def)
			return perr(l, "epp values: performance, balance_performance, balance_power, power");
		if (!strcmp(p->gov, "performance") && strcmp(epp, "performance"))
			return perr(l, "under the performance policy the EPP is performance");
		p->epp = xstrdup(epp);
		p->epp_default = xstrdup(def);
		p->epp_cached = xstrdup(strcmp(p->gov, "performance") ? epp : def);
	}
	return pl_done(l);
}

static int spec_node(struct pline *l)
{
	struct numa_node *nd;
	const char *s;
	unsigned v;
	int r;

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	if (parse_uint(l->w[1], 1023, &v) < 0)
		return perr(l, "'%s': expected a node number", l->w[1]);
	for (size_t i = 0; i < S.nnodes; i++)
		if (S.nodes[i]->n == v)
			return perr(l, "node %u declared twice", v);
	if (S.nhps)
		return perr(l, "declare the nodes before the hugepages");
	nd = xcalloc(1, sizeof(*nd));
	nd->n = v;
	nd->line = l->no;
	nd->mem_kb = 16UL << 20;
	VEC_PUSH(S.nodes, S.nnodes, nd);
	if ((s = pl_get(l, "memory"))) {
		if (parse_uint(s, UINT_MAX, &v) < 0)
			return perr(l, "memory=%s: expected kB", s);
		nd->mem_kb = v;
	}
	if ((s = pl_get(l, "cpus"))) {
		if ((r = parse_cpus(l, "cpus", s, &nd->cpus)) < 0)
			return r;
		nd->has_cpus = true;
	}
	return pl_done(l);
}

/*
 * core N cpus=LIST [package=P] [die=D] [l3=LIST]: the CPU topology of one core (its SMT
 * threads) and the CPUs its L3 cache is shared with.
 */
struct cpucore {
	unsigned id, package, die;
	struct cpumask cpus, l3;
	bool has_l3;
	unsigned line;
};

static struct {
	struct cpucore **v;
	size_t n;
} CORES;

static int spec_core(struct pline *l)
{
	struct cpucore *c;
	const char *s;
	int r = pl_check(l, 2, 2);

	if (r < 0)
		return r;
	c = xcalloc(1, sizeof(*c));
	c->line = l->no;
	VEC_PUSH(CORES.v, CORES.n, c);
	if (parse_uint(l->w[1], 4095, &c->id) < 0)
		return perr(l, "'%s': expected a core number", l->w[1]);
	if ((s = pl_get(l, "package")) && parse_uint(s, 1023, &c->package) < 0)
		return perr(l, "package=%s: expected a number", s);
	if ((s = pl_get(l, "die")) && parse_uint(s, 1023, &c->die) < 0)
		return perr(l, "die=%s: expected a number", s);
	if ((r = parse_cpus(l, "cpus", pl_get(l, "cpus"), &c->cpus)) < 0)
		return r;
	if ((s = pl_get(l, "l3"))) {
		if ((r = parse_cpus(l, "l3", s, &c->l3)) < 0)
			return r;
		c->has_l3 = true;
		for (size_t w = 0; w < ARRAY_SIZE(c->cpus.b); w++)
			if (c->cpus.b[w] & ~c->l3.b[w])
				return perr(l, "l3=%s does not hold the core's own CPUs", s);
	}
	for (size_t i = 0; i + 1 < CORES.n; i++) {
		const struct cpucore *o = CORES.v[i];

		if (o->id == c->id && o->package == c->package)
			return perr(l, "core %u of package %u declared twice", c->id, c->package);
		for (size_t w = 0; w < ARRAY_SIZE(c->cpus.b); w++)
			if (o->cpus.b[w] & c->cpus.b[w])
				return perr(l, "a CPU of core %u is in core %u (line %u) too", c->id, o->id, o->line);
	}
	return pl_done(l);
}

/* Every core's CPUs are online, and CPUs that share an L3 agree on whom they share it with. */
static int spec_resolve_cores(const char *file)
{
	struct pline l = { .file = file };

	for (size_t i = 0; i < CORES.n; i++) {
		const struct cpucore *c = CORES.v[i];

		l.no = c->line;
		for (size_t w = 0; S.have_online && w < ARRAY_SIZE(c->cpus.b); w++)
			if (c->cpus.b[w] & ~S.online.b[w])
				return perr(&l, "core %u has CPUs that are not online", c->id);
		for (size_t j = 0; c->has_l3 && j < CORES.n; j++) {
			const struct cpucore *o = CORES.v[j];
			bool shared = false;

			for (size_t w = 0; w < ARRAY_SIZE(c->l3.b); w++)
				shared |= (c->l3.b[w] & o->cpus.b[w]) != 0;
			if (shared && (!o->has_l3 || memcmp(&o->l3, &c->l3, sizeof(c->l3))))
				return perr(&l, "core %u shares its L3 with core %u (line %u), whose l3= differs",
					    c->id, o->id, o->line);
		}
	}
	return 0;
}

static void cores_free(void)
{
	for (size_t i = 0; i < CORES.n; i++)
		free(CORES.v[i]);
	free(CORES.v);
	memset(&CORES, 0, sizeof(CORES));
}

/*
 * input NAME [event=N]: an evdev device, dev/input/eventN, and its udev name
 * dev/input/by-id/NAME -> ../eventN. N defaults to the number of input lines before it.
 */
struct inputdev {
	char *name;
	unsigned event;
};

static struct {
	struct inputdev **v;
	size_t n;
} INPUTS;

static int spec_input(struct pline *l)
{
	struct inputdev *in;
	const char *s;
	int r = pl_check(l, 2, 2);

	if (r < 0)
		return r;
	if (!valid_name(l->w[1], "_-.:+"))
		return perr(l, "'%s' is not a /dev/input/by-id name", l->w[1]);
	in = xcalloc(1, sizeof(*in));
	in->name = xstrdup(l->w[1]);
	in->event = (unsigned)INPUTS.n;
	VEC_PUSH(INPUTS.v, INPUTS.n, in);
	if ((s = pl_get(l, "event")) && parse_uint(s, 1023, &in->event) < 0)
		return perr(l, "event=%s: expected a number", s);
	for (size_t i = 0; i + 1 < INPUTS.n; i++) {
		if (!strcmp(INPUTS.v[i]->name, in->name))
			return perr(l, "input %s declared twice", in->name);
		if (INPUTS.v[i]->event == in->event)
			return perr(l, "event%u declared twice", in->event);
	}
	return pl_done(l);
}

static void inputs_free(void)
{
	for (size_t i = 0; i < INPUTS.n; i++) {
		free(INPUTS.v[i]->name);
		free(INPUTS.v[i]);
	}
	free(INPUTS.v);
	memset(&INPUTS, 0, sizeof(INPUTS));
}

static struct hsize *find_hsize(unsigned long kb)
{
	for (size_t i = 0; i < S.nhps; i++)
		if (S.hps[i]->kb == kb)
			return S.hps[i];
	return NULL;
}

static int spec_hugepages(struct pline *l)
{
	struct hsize *h;
	const char *s;
	unsigned v;
	int r;

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	if (parse_uint(l->w[1], UINT_MAX, &v) < 0 || v < 4 || (v & (v - 1)))
		return perr(l, "'%s': expected the page size in kB (2048, 1048576)", l->w[1]);
	if (find_hsize(v))
		return perr(l, "hugepages %u declared twice", v);
	if (!S.nnodes)
		return perr(l, "declare the NUMA nodes first (node 0)");
	h = xcalloc(1, sizeof(*h));
	h->kb = v;
	h->line = l->no;
	h->pool = xcalloc(S.nnodes, sizeof(*h->pool));
	for (size_t i = 0; i < S.nnodes; i++)
		h->pool[i].limit = h->pool[i].compact = h->pool[i].drop = UNLIMITED;
	VEC_PUSH(S.hps, S.nhps, h);
	if ((s = pl_get(l, "default")) && (r = parse_yesno(l, "default", s, &h->deflt)) < 0)
		return r;
	if ((s = pl_get(l, "resv"))) {
		if (parse_uint(s, 100000000, &v) < 0)
			return perr(l, "resv=%s: expected pages", s);
		h->resv = v;
	}
	if ((s = pl_get(l, "overcommit"))) {
		if (parse_uint(s, 100000000, &v) < 0)
			return perr(l, "overcommit=%s: expected pages", s);
		h->overcommit = v;
	}
	return pl_done(l);
}

static int spec_hugepool(struct pline *l)
{
	static const char *const keys[] = { "nr", "used", "surplus", "max", "compact", "drop" };
	long vals[ARRAY_SIZE(keys)] = { 0, 0, 0, UNLIMITED, -1, -1 };
	struct hpool *p = NULL;
	struct hsize *h;
	const char *s;
	unsigned v;
	int r;

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	if (parse_uint(l->w[1], UINT_MAX, &v) < 0 || !(h = find_hsize(v)))
		return perr(l, "'%s' is not a hugepages size declared before", l->w[1]);
	s = pl_get(l, "node");
	for (size_t i = 0; s && i < S.nnodes; i++)
		if (parse_uint(s, 1023, &v) == 0 && S.nodes[i]->n == v)
			p = &h->pool[i];
	if (!p)
		return perr(l, "node=%s is not a declared node", s ? s : "(missing)");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (!(s = pl_get(l, keys[i])))
			continue;
		if (parse_uint(s, 100000000, &v) < 0)
			return perr(l, "%s=%s: expected pages", keys[i], s);
		vals[i] = v;
	}
	if (vals[4] < 0)
		vals[4] = vals[3];
	if (vals[5] < 0)
		vals[5] = vals[4];
	if (vals[1] > vals[0] || vals[2] > vals[0])
		return perr(l, "used= and surplus= cannot exceed nr=");
	if (vals[3] < vals[0] || vals[4] < vals[3] || vals[5] < vals[4])
		return perr(l, "expected nr <= max <= compact <= drop");
	p->nr = vals[0];
	p->used = vals[1];
	p->surplus = vals[2];
	p->limit = vals[3];
	p->compact = vals[4];
	p->drop = vals[5];
	return pl_done(l);
}

static int spec_process(struct pline *l)
{
	struct process *p;
	const char *s;
	unsigned v;
	int r;

	r = pl_check(l, 2, 2);
	if (r < 0)
		return r;
	if (parse_uint(l->w[1], 4194304, &v) < 0 || !v)
		return perr(l, "'%s': expected a PID", l->w[1]);
	for (size_t i = 0; i < S.nprocs; i++)
		if (S.procs[i]->pid == v)
			return perr(l, "process %u declared twice", v);
	p = xcalloc(1, sizeof(*p));
	p->pid = v;
	p->line = l->no;
	VEC_PUSH(S.procs, S.nprocs, p);
	s = pl_get(l, "comm");
	if (!s || !*s || strlen(s) > 15 || strchr(s, '\n'))
		return perr(l, "expected comm=NAME (at most 15 characters)");
	p->comm = xstrdup(s);
	if ((s = pl_get(l, "cgroup"))) {
		if (s[0] != '/' || strchr(s, '\n'))
			return perr(l, "cgroup=%s: expected an absolute cgroup path (/system.slice/...)", s);
		p->cgroup = xstrdup(s);
	}
	if ((s = pl_get(l, "fds"))) {
		char *copy = xstrdup(s), *save = NULL;

		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			char *colon = strchr(t, ':');

			if (colon)
				*colon = '\0';
			if (!colon || parse_uint(t, 1048575, &v) < 0 || colon[1] != '/') {
				free(copy);
				return perr(l, "fds: expected FD:/absolute/path entries");
			}
			for (size_t i = 0; i < p->nfds; i++)
				if (p->fdnums[i] == v) {
					free(copy);
					return perr(l, "fd %u listed twice", v);
				}
			VEC_PUSH(p->fdnums, p->nfds, v);
			p->nfds--;
			VEC_PUSH(p->fdtargets, p->nfds, xstrdup(colon + 1));
		}
		free(copy);
	}
	return pl_done(l);
}

static int dev_make_path(struct device *d, unsigned depth, const char *file)
{
	struct pline l = { .file = file, .no = d->line };
	int r;

	if (d->path)
		return 0;
	if (depth > 32)
		return perr(&l, "parent= chain of %s loops", d->name);
	if (d->parent_name && valid_bdf(d->parent_name)) {
		d->parent = find_device(BUS_PCI, d->parent_name);
		if (!d->parent)
			return perr(&l, "parent=%s is not a declared pci device", d->parent_name);
		if ((r = dev_make_path(d->parent, depth + 1, file)) < 0)
			return r;
		d->path = xasprintf("%s/%s", d->parent->path, d->name);
	} else if (d->parent_name) {
		d->path = xasprintf("sys/devices/%s/%s", d->parent_name, d->name);
	} else {
		d->path = xasprintf("sys/devices/pci%.4s:00/%s", d->name, d->name);
	}
	return 0;
}

/* The default hugepage size, CPUs of the cpufreq policies. */
static int spec_resolve_system(const char *file)
{
	struct pline l = { .file = file };
	struct cpumask seen = { { 0 } };
	size_t ndefault = 0;

	if (spec_resolve_cores(file) < 0)
		return -EINVAL;

	for (size_t i = 0; i < S.nhps; i++)
		ndefault += S.hps[i]->deflt;
	if (S.nhps == 1 && !ndefault)
		S.hps[0]->deflt = true;
	else if (S.nhps && ndefault != 1) {
		l.no = S.hps[0]->line;
		return perr(&l, "mark exactly one hugepages size default=yes");
	}
	for (size_t i = 0; i < S.npols; i++) {
		const struct policy *p = S.pols[i];

		l.no = p->line;
		for (size_t w = 0; w < ARRAY_SIZE(seen.b); w++) {
			if (seen.b[w] & p->cpus.b[w])
				return perr(&l, "a CPU of policy%u is in another policy too", p->n);
			if (S.have_online && (p->cpus.b[w] & ~S.online.b[w]))
				return perr(&l, "policy%u has CPUs that are not online", p->n);
			seen.b[w] |= p->cpus.b[w];
		}
	}
	return 0;
}

static struct blockdev *find_block_majmin(unsigned major, unsigned minor)
{
	for (size_t i = 0; i < S.nblks; i++)
		if (S.blks[i]->major == major && S.blks[i]->minor == minor)
			return S.blks[i];
	return NULL;
}

/* The block device called @name among the first @n declared, else NULL. */
static struct blockdev *find_block_before(const char *name, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(S.blks[i]->name, name))
			return S.blks[i];
	return NULL;
}

/*
 * The sysfs directory of block device @i: under its PCI controller, under its
 * disk (a partition), or in sys/devices/virtual/block (slaves=).  A disk and
 * the slaves must be declared before, which also rules out cycles.
 */
static int block_resolve(const struct pline *l, size_t i)
{
	struct blockdev *b = S.blks[i];

	if (b->virt) {
		b->path = xasprintf("sys/devices/virtual/block/%s", b->name);
		b->slaves = xcalloc(b->nslaves, sizeof(*b->slaves));
		for (size_t j = 0; j < b->nslaves; j++)
			if (!(b->slaves[j] = find_block_before(b->slave_names[j], i)))
				return perr(l, "slaves: %s is not a block device declared before", b->slave_names[j]);
	} else if (valid_bdf(b->parent_name)) {
		b->dev = find_device(BUS_PCI, b->parent_name);
		if (!b->dev)
			return perr(l, "parent=%s is not a declared pci device", b->parent_name);
		b->path = xasprintf("%s/block/%s", b->dev->path, b->name);
	} else {
		b->disk = find_block_before(b->parent_name, i);
		if (!b->disk || b->disk->disk)
			return perr(l, "parent=%s is neither a pci device nor a disk declared before",
				    b->parent_name);
		if (!isdigit((unsigned char)b->name[strlen(b->name) - 1]))
			return perr(l, "partition name %s does not end in its number", b->name);
		b->path = xasprintf("%s/%s", b->disk->path, b->name);
	}
	return 0;
}

/* Cross-references, derived ids and consistency of the initial state. */
static int spec_resolve(const char *file)
{
	struct pline l = { .file = file };
	int r;

	for (size_t i = 0; i < S.nmods; i++) {
		struct module *m = S.mods[i];

		l.no = m->line;
		m->holders = xcalloc(m->nholders, sizeof(*m->holders));
		for (size_t j = 0; j < m->nholders; j++) {
			struct module *h = find_module(m->holder_names[j]);

			if (!h)
				return perr(&l, "holder %s is not a declared module", m->holder_names[j]);
			if (h == m)
				return perr(&l, "module %s holds itself", m->name);
			if (h->loaded && !m->loaded)
				return perr(&l, "module %s is not loaded but its holder %s is",
					    m->name, h->name);
			m->holders[j] = h;
		}
	}
	for (size_t i = 0; i < S.ndrvs; i++) {
		struct driver *d = S.drvs[i];

		l.no = d->line;
		if (d->mod_name && !(d->mod = find_module(d->mod_name)))
			return perr(&l, "module=%s is not a declared module", d->mod_name);
	}
	for (size_t i = 0; i < S.ndevs; i++) {
		struct device *dev = S.devs[i];

		l.no = dev->line;
		if ((r = dev_make_path(dev, 0, file)) < 0)
			return r;
		if (!dev->drv_name)
			continue;
		dev->drv = find_driver(dev->bus, dev->drv_name);
		if (!dev->drv)
			return perr(&l, "driver=%s is not a declared driver", dev->drv_name);
		if (dev->drv->mod && !dev->drv->mod->loaded)
			return perr(&l, "driver %s is not registered: module %s is not loaded",
				    dev->drv->name, dev->drv->mod->name);
		if (dev->bus == BUS_PCI && !dev->drv->ids_given && !dev->override) {
			/* ids= omitted: the driver matches the devices bound to it. */
			struct driver *d = dev->drv;
			struct pci_id id = { .vendor = dev->vendor, .device = dev->device };
			bool have = false;

			for (size_t j = 0; j < d->nids; j++)
				if (d->ids[j].vendor == id.vendor && d->ids[j].device == id.device)
					have = true;
			if (!have)
				VEC_PUSH(d->ids, d->nids, id);
		}
	}
	for (size_t i = 0; i < S.ndevs; i++) {
		struct device *dev = S.devs[i];

		l.no = dev->line;
		if (dev->drv && !drv_match(dev->drv, dev))
			return perr(&l, "%s cannot be bound to %s: neither driver_override nor its ids match",
				    dev->name, dev->drv->name);
	}
	for (size_t i = 0; i < S.ndrvs; i++)
		if (!S.drvs[i]->mod || S.drvs[i]->mod->loaded)
			VEC_PUSH(S.reg, S.nreg, S.drvs[i]);
	for (size_t i = 0; i < S.nblks; i++) {
		l.no = S.blks[i]->line;
		if ((r = block_resolve(&l, i)) < 0)
			return r;
	}
	for (size_t i = 0; i < S.nmnts; i++) {
		struct mountent *m = S.mnts[i];

		l.no = m->line;
		if (m->major && !find_block_majmin(m->major, m->minor))
			return perr(&l, "%u:%u is not a declared block device (only major 0, an anonymous device, can be undeclared)",
				    m->major, m->minor);
	}
	for (size_t i = 0; i < S.nswaps; i++) {
		const struct swapent *sw = S.swaps[i];

		l.no = sw->line;
		if (!sw->file && (strncmp(sw->path, "/dev/", 5) || !find_block(sw->path + 5)))
			return perr(&l, "swap partition %s is not /dev/NAME of a declared block device (type=file?)",
				    sw->path);
	}
	for (size_t i = 0; i < S.nbtrfs; i++) {
		struct btrfsfs *fs = S.btrfs[i];

		l.no = fs->line;
		fs->devs = xcalloc(fs->ndevs, sizeof(*fs->devs));
		for (size_t j = 0; j < fs->ndevs; j++)
			if (!(fs->devs[j] = find_block(fs->dev_names[j])))
				return perr(&l, "devices: %s is not a declared block device", fs->dev_names[j]);
	}
	for (size_t i = 0; i < S.nttys + S.nfbs; i++) {
		struct classdev *c = i < S.nttys ? S.ttys[i] : S.fbs[i - S.nttys];

		l.no = c->line;
		if (!c->parent_name)
			continue;
		c->dev = find_device(valid_bdf(c->parent_name) ? BUS_PCI : BUS_PLATFORM, c->parent_name);
		if (!c->dev)
			return perr(&l, "parent=%s is not a declared pci or platform device", c->parent_name);
		if (!(c->drv = c->dev->drv))
			return perr(&l, "parent %s has no driver=: no driver would have created %s",
				    c->parent_name, c->name);
	}
	return spec_resolve_system(file);
}

/*
 * Split @line in place into words.  "..." keeps spaces inside a word (the
 * quotes go), '#' outside quotes starts a comment.  Leading words without
 * '=' are positional.
 */
static int tokenize(struct pline *l, char *line)
{
	char *r = line, *w = line;

	for (;;) {
		bool quoted = false, end;

		while (isspace((unsigned char)*r))
			r++;
		if (!*r || *r == '#')
			break;
		if (l->nw == MAX_WORDS)
			return perr(l, "too many words");
		l->w[l->nw++] = w;
		while (*r && (quoted || (!isspace((unsigned char)*r) && *r != '#'))) {
			if (*r == '"')
				quoted = !quoted;
			else
				*w++ = *r;
			r++;
		}
		if (quoted)
			return perr(l, "unterminated quote");
		end = !*r || *r == '#';
		if (*r == '#')
			*r = '\0';
		*w++ = '\0';
		if (l->npos == l->nw - 1 && !strchr(l->w[l->nw - 1], '='))
			l->npos = l->nw;
		if (end)
			break;
		r++;
	}
	return 0;
}

static int spec_load(const char *file)
{
	static const struct {
		const char *kw;
		int (*fn)(struct pline *l);
	} kws[] = {
		{ "pci", spec_pci },
		{ "driver", spec_driver },
		{ "module", spec_module },
		{ "block", spec_block },
		{ "mount", spec_mount },
		{ "platform", spec_platform },
		{ "vtcon", spec_vtcon },
		{ "graphics-mode", spec_graphics },
		{ "cpus", spec_cpus },
		{ "cpufreq", spec_cpufreq },
		{ "node", spec_node },
		{ "core", spec_core },
		{ "hugepages", spec_hugepages },
		{ "hugepool", spec_hugepool },
		{ "process", spec_process },
		{ "swap", spec_swap },
		{ "btrfs", spec_btrfs },
		{ "console", spec_console },
		{ "tty", spec_tty },
		{ "fb", spec_fb },
		{ "cmdline", spec_cmdline },
		{ "cpu-vendor", spec_cpu_vendor },
		{ "input", spec_input },
	};
	char *line = NULL;
	size_t cap = 0;
	unsigned no = 0;
	int r = 0;
	FILE *f;

	f = fopen(file, "re");
	if (!f) {
		fprintf(stderr, "simhost: %s: %s\n", file, strerror(errno));
		return -errno;
	}
	while (r == 0 && getline(&line, &cap, f) >= 0) {
		struct pline l = { .file = file, .no = ++no };
		bool found = false;

		r = tokenize(&l, line);
		if (r < 0 || !l.nw)
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(kws); i++) {
			if (!strcmp(l.w[0], kws[i].kw)) {
				r = kws[i].fn(&l);
				found = true;
				break;
			}
		}
		if (!found)
			r = perr(&l, "unknown keyword '%s'", l.w[0]);
	}
	free(line);
	fclose(f);
	if (r == 0)
		r = spec_resolve(file);
	return r;
}

static void model_free(void)
{
	for (size_t i = 0; i < S.nmods; i++) {
		for (size_t j = 0; j < S.mods[i]->nholders; j++)
			free(S.mods[i]->holder_names[j]);
		free(S.mods[i]->holder_names);
		free(S.mods[i]->holders);
		free(S.mods[i]->name);
		free(S.mods[i]);
	}
	for (size_t i = 0; i < S.ndrvs; i++) {
		for (size_t j = 0; j < S.drvs[i]->nnames; j++)
			free(S.drvs[i]->names[j]);
		free(S.drvs[i]->names);
		free(S.drvs[i]->name);
		free(S.drvs[i]->mod_name);
		free(S.drvs[i]->ids);
		free(S.drvs[i]);
	}
	for (size_t i = 0; i < S.ndevs; i++) {
		free(S.devs[i]->name);
		free(S.devs[i]->override);
		free(S.devs[i]->reset_method);
		free(S.devs[i]->drv_name);
		free(S.devs[i]->parent_name);
		free(S.devs[i]->path);
		free(S.devs[i]);
	}
	for (size_t i = 0; i < S.nblks; i++) {
		struct blockdev *b = S.blks[i];

		for (size_t j = 0; j < b->nslaves; j++)
			free(b->slave_names[j]);
		free(b->slave_names);
		free(b->slaves);
		free(b->dm_name);
		free(b->dm_uuid);
		free(b->md_level);
		free(b->name);
		free(b->parent_name);
		free(b->path);
		free(b);
	}
	for (size_t i = 0; i < S.nmnts; i++) {
		free(S.mnts[i]->point);
		free(S.mnts[i]->fstype);
		free(S.mnts[i]->source);
		free(S.mnts[i]);
	}
	for (size_t i = 0; i < S.nswaps; i++) {
		free(S.swaps[i]->path);
		free(S.swaps[i]);
	}
	for (size_t i = 0; i < S.nbtrfs; i++) {
		struct btrfsfs *fs = S.btrfs[i];

		for (size_t j = 0; j < fs->ndevs; j++)
			free(fs->dev_names[j]);
		free(fs->dev_names);
		free(fs->devs);
		free(fs->uuid);
		free(fs);
	}
	for (size_t i = 0; i < S.nttys + S.nfbs; i++) {
		struct classdev *c = i < S.nttys ? S.ttys[i] : S.fbs[i - S.nttys];

		free(c->name);
		free(c->parent_name);
		free(c);
	}
	for (size_t i = 0; i < S.nvts; i++) {
		free(S.vts[i]->desc);
		free(S.vts[i]);
	}
	for (size_t i = 0; i < S.npols; i++) {
		struct policy *p = S.pols[i];

		for (size_t j = 0; j < p->ngovs; j++)
			free(p->govs[j]);
		free(p->govs);
		free(p->driver);
		free(p->gov);
		free(p->epp);
		free(p->epp_cached);
		free(p->epp_default);
		free(p);
	}
	for (size_t i = 0; i < S.nnodes; i++)
		free(S.nodes[i]);
	for (size_t i = 0; i < S.nhps; i++) {
		free(S.hps[i]->pool);
		free(S.hps[i]);
	}
	for (size_t i = 0; i < S.nprocs; i++) {
		struct process *p = S.procs[i];

		for (size_t j = 0; j < p->nfds; j++)
			free(p->fdtargets[j]);
		free(p->fdtargets);
		free(p->fdnums);
		free(p->comm);
		free(p->cgroup);
		free(p);
	}
	free(S.vts);
	free(S.pols);
	free(S.nodes);
	free(S.hps);
	free(S.procs);
	free(S.mods);
	free(S.drvs);
	free(S.reg);
	free(S.devs);
	free(S.blks);
	free(S.mnts);
	free(S.swaps);
	free(S.btrfs);
	free(S.console);
	free(S.cmdline);
	free(S.cpu_vendor);
	cores_free();
	inputs_free();
	free(S.ttys);
	free(S.fbs);
	memset(&S, 0, sizeof(S));
}

/* ------------------------------------------------------------------------ */
/* The file tree.                                                           */

enum ntype {
	NT_DIR,
	NT_FILE,
	NT_LINK,
};

enum attr {
	AT_NONE,
	AT_TEXT,                /* fixed text */
	AT_OVERRIDE,            /* device: driver_override */
	AT_BIND,                /* driver: bind */
	AT_UNBIND,              /* driver: unbind */
	AT_NEW_ID,              /* driver: new_id */
	AT_REMOVE_ID,           /* driver: remove_id */
	AT_PROBE,               /* bus: drivers_probe */
	AT_AUTOPROBE,           /* bus: drivers_autoprobe */
	AT_REFCNT,              /* module: refcnt */
	AT_MOUNTINFO,           /* proc/self/mountinfo */
	AT_SWAPS,               /* proc/swaps */
	AT_DEVNODE,             /* dev/vfio/N, dev/vfio/vfio */
	AT_VT_BIND,             /* vtconN/bind */
	AT_GOVERNOR,            /* policyN/scaling_governor */
	AT_EPP,                 /* policyN/energy_performance_preference */
	AT_HP_NR,               /* nr_hugepages of a size (arg: node index or -1) */
	AT_HP_FREE,             /* free_hugepages */
	AT_HP_RESV,             /* resv_hugepages */
	AT_HP_SURPLUS,          /* surplus_hugepages */
	AT_HP_OVERCOMMIT,       /* nr_overcommit_hugepages (arg 1: the proc one) */
	AT_PROC_NR_HP,          /* proc/sys/vm/nr_hugepages: persistent pages */
	AT_COMPACT,             /* proc/sys/vm/compact_memory */
	AT_DROP,                /* proc/sys/vm/drop_caches */
	AT_MEMINFO,             /* proc/meminfo */
};

struct node {
	char *name;
	enum ntype type;
	mode_t mode;
	enum attr attr;
	void *obj;              /* the model object of an attribute */
	long arg;               /* e.g. the bus of drivers_probe */
	char *text;             /* AT_TEXT content or link target */
	bool size0;             /* procfs/devtmpfs files report size 0 */
	struct node *parent, *kids, *tail, *next;
};

static struct node *g_root;

static struct node *node_new(struct node *parent, const char *name, size_t len, enum ntype t,
			     mode_t mode)
{
	struct node *n = xcalloc(1, sizeof(*n));

	n->name = xstrndup(name, len);
	n->type = t;
	n->mode = mode;
	n->parent = parent;
	if (parent) {
		if (parent->tail)
			parent->tail->next = n;
		else
			parent->kids = n;
		parent->tail = n;
	}
	return n;
}

static void node_free(struct node *n)
{
	while (n) {
		struct node *next = n->next;

		node_free(n->kids);
		free(n->name);
		free(n->text);
		free(n);
		n = next;
	}
}

static struct node *node_child(const struct node *dir, const char *name, size_t len)
{
	for (struct node *k = dir->kids; k; k = k->next)
		if (strlen(k->name) == len && !memcmp(k->name, name, len))
			return k;
	return NULL;
}

/* Look a path up without following symlinks ("" and "/" are the root). */
static struct node *tree_lookup(const char *path)
{
	struct node *n = g_root;

	while (n && *path) {
		size_t len;

		while (*path == '/')
			path++;
		if (!*path)
			break;
		if (n->type != NT_DIR)
			return NULL;
		len = strcspn(path, "/");
		n = node_child(n, path, len);
		path += len;
	}
	return n;
}

/* mkdir -p inside the tree. */
static struct node *tree_dir(const char *path)
{
	struct node *n = g_root;

	while (*path) {
		size_t len = strcspn(path, "/");
		struct node *k;

		if (len) {
			k = node_child(n, path, len);
			if (!k)
				k = node_new(n, path, len, NT_DIR, 0755);
			if (k->type != NT_DIR) {
				fprintf(stderr, "simhost: internal: %s is not a directory\n", path);
				abort();
			}
			n = k;
		}
		path += len;
		while (*path == '/')
			path++;
	}
	return n;
}

static struct node *tree_add(const char *path, enum ntype t, mode_t mode)
{
	const char *slash = strrchr(path, '/');
	char *dir = xstrndup(path, slash ? (size_t)(slash - path) : 0);
	const char *base = slash ? slash + 1 : path;
	struct node *parent = tree_dir(dir), *n;

	free(dir);
	if (node_child(parent, base, strlen(base))) {
		fprintf(stderr, "simhost: internal: %s created twice\n", path);
		abort();
	}
	n = node_new(parent, base, strlen(base), t, mode);
	n->size0 = !strncmp(path, "proc/", 5) || !strncmp(path, "dev/", 4);
	return n;
}

static struct node *tree_file(const char *path, mode_t mode, enum attr a, void *obj)
{
	struct node *n = tree_add(path, NT_FILE, mode);

	n->attr = a;
	n->obj = obj;
	return n;
}

/*
 * A symlink at @path to @target (both relative to MNT), written relative like
 * sysfs does: up to the common prefix, then down.
 */
static void tree_link(const char *path, const char *target)
{
	const char *p = path, *t = target;
	const char *pc = path, *tc = target;  /* starts of the last common component */
	struct sbuf b = { 0 };
	struct node *n;
	size_t ups = 0;

	/* Find the longest common prefix made of whole components. */
	for (;;) {
		size_t lp = strcspn(p, "/"), lt = strcspn(t, "/");

		if (!p[lp] || lp != lt || memcmp(p, t, lp) || !t[lt])
			break;
		p += lp + 1;
		t += lt + 1;
		pc = p;
		tc = t;
	}
	/* One ".." per directory of the link's path below the common prefix. */
	for (const char *s = pc; *s; s++)
		if (*s == '/')
			ups++;
	for (size_t i = 0; i < ups; i++)
		sb_printf(&b, "../");
	sb_printf(&b, "%s", tc);
	n = tree_add(path, NT_LINK, 0777);
	n->text = b.p;
}

/* The same with printf-style paths. */
__attribute__((format(printf, 1, 0)))
static char *vfmt(const char *fmt, va_list ap)
{
	char *p;

	if (vasprintf(&p, fmt, ap) < 0)
		oom();
	return p;
}

__attribute__((format(printf, 4, 5)))
static struct node *mkfile(mode_t mode, enum attr a, void *obj, const char *fmt, ...)
{
	struct node *n;
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = vfmt(fmt, ap);
	va_end(ap);
	n = tree_file(p, mode, a, obj);
	free(p);
	return n;
}

/* Set the content of an AT_TEXT file. */
__attribute__((format(printf, 2, 3)))
static void settext(struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	n->text = vfmt(fmt, ap);
	va_end(ap);
}

#define mktext(...) mkfile(0444, AT_TEXT, NULL, __VA_ARGS__)

/* A relative link to @target, which this takes and frees. */
__attribute__((format(printf, 2, 3)))
static void mklink(char *target, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = vfmt(fmt, ap);
	va_end(ap);
	tree_link(p, target);
	free(p);
	free(target);
}

__attribute__((format(printf, 1, 2)))
static struct node *mkdirf(const char *fmt, ...)
{
	struct node *n;
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = vfmt(fmt, ap);
	va_end(ap);
	n = tree_dir(p);
	free(p);
	return n;
}

/*
 * Resolve @in like the VFS does inside MNT: follow every symlink, keep
 * components that do not exist literally.  Returns an allocated path.
 */
static char *tree_resolve(const char *in)
{
	char *rest = xstrdup(in), *cur = xstrdup("");
	int links = 0;

	for (;;) {
		char *p = rest, *comp, *next, *tail;
		struct node *n;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		len = strcspn(p, "/");
		comp = xstrndup(p, len);
		tail = xstrdup(p + len);
		free(rest);
		rest = tail;
		if (!strcmp(comp, ".")) {
			free(comp);
			continue;
		}
		if (!strcmp(comp, "..")) {
			char *s = strrchr(cur, '/');

			if (s)
				*s = '\0';
			else
				cur[0] = '\0';
			free(comp);
			continue;
		}
		next = *cur ? xasprintf("%s/%s", cur, comp) : xstrdup(comp);
		free(comp);
		n = tree_lookup(next);
		if (n && n->type == NT_LINK && ++links <= MAX_LINKS) {
			char *r = xasprintf("%s%s", n->text, rest);

			free(next);
			free(rest);
			rest = r;
			continue;
		}
		free(cur);
		cur = next;
	}
	free(rest);
	return cur;
}

static bool bus_in_use(enum bus bus)
{
	if (bus == BUS_PCI)
		return true;
	for (size_t i = 0; i < S.ndevs; i++)
		if (S.devs[i]->bus == bus)
			return true;
	for (size_t i = 0; i < S.ndrvs; i++)
		if (S.drvs[i]->bus == bus)
			return true;
	return false;
}

static char *drv_path(const struct driver *d)
{
	return xasprintf("sys/bus/%s/drivers/%s", bus_names[d->bus], d->name);
}

static void build_device(const struct device *d)
{
	const char *bus = bus_names[d->bus];

	if (d->removed)
		return;
	tree_dir(d->path);
	mkfile(0644, AT_OVERRIDE, (void *)d, "%s/driver_override", d->path);
	mklink(xasprintf("sys/bus/%s", bus), "%s/subsystem", d->path);
	mklink(xstrdup(d->path), "sys/bus/%s/devices/%s", bus, d->name);
	if (d->drv) {
		char *t = drv_path(d->drv);

		mklink(xstrdup(t), "%s/driver", d->path);
		mklink(xstrdup(d->path), "%s/%s", t, d->name);
		free(t);
	}
	if (d->bus == BUS_PLATFORM) {
		settext(mktext("%s/modalias", d->path), "platform:%.*s\n",
			(int)platform_base_len(d->name), d->name);
		return;
	}
	settext(mktext("%s/vendor", d->path), "0x%04x\n", d->vendor);
	settext(mktext("%s/device", d->path), "0x%04x\n", d->device);
	settext(mktext("%s/class", d->path), "0x%06x\n", d->class);
	settext(mktext("%s/numa_node", d->path), "%d\n", d->numa);
	if (d->boot_vga >= 0)
		settext(mktext("%s/boot_vga", d->path), "%d\n", d->boot_vga);
	if (d->reset_method)
		settext(mktext("%s/reset_method", d->path), "%s\n", d->reset_method);
	if (d->group >= 0) {
		mklink(xasprintf("sys/kernel/iommu_groups/%d", d->group), "%s/iommu_group", d->path);
		mklink(xstrdup(d->path), "sys/kernel/iommu_groups/%d/devices/%s", d->group, d->name);
	}
}

static void build_driver(struct driver *d)
{
	char *dp = drv_path(d);

	mkfile(0200, AT_BIND, d, "%s/bind", dp);
	mkfile(0200, AT_UNBIND, d, "%s/unbind", dp);
	if (d->bus == BUS_PCI) {
		mkfile(0200, AT_NEW_ID, d, "%s/new_id", dp);
		mkfile(0200, AT_REMOVE_ID, d, "%s/remove_id", dp);
	}
	if (d->mod) {
		mklink(xasprintf("sys/module/%s", d->mod->name), "%s/module", dp);
		mklink(xstrdup(dp), "sys/module/%s/drivers/%s:%s", d->mod->name, bus_names[d->bus], d->name);
	}
	free(dp);
}

static void build_module(struct module *m)
{
	mkdirf("sys/module/%s", m->name);
	if (m->builtin)
		return;
	settext(mktext("sys/module/%s/initstate", m->name), "live\n");
	mkfile(0444, AT_REFCNT, m, "sys/module/%s/refcnt", m->name);
	mkdirf("sys/module/%s/holders", m->name);
	for (size_t i = 0; i < m->nholders; i++)
		if (m->holders[i]->loaded)
			mklink(xasprintf("sys/module/%s", m->holders[i]->name), "sys/module/%s/holders/%s",
			       m->name, m->holders[i]->name);
}

/*
 * Every block device: dev, holders/ and the class and dev links.  A disk also
 * has slaves/ and sys/block/NAME, a partition its partition number (and no
 * slaves/, as in add_partition()).  A dm or md device links each of its slaves
 * in slaves/, and each slave links it back in holders/.
 */
static void build_blocks(void)
{
	for (size_t i = 0; i < S.nblks; i++) {
		struct blockdev *b = S.blks[i];

		settext(mktext("%s/dev", b->path), "%u:%u\n", b->major, b->minor);
		mkdirf("%s/holders", b->path);
		if (b->disk) {
			const char *d = b->name + strlen(b->name);

			while (d > b->name && isdigit((unsigned char)d[-1]))
				d--;
			settext(mktext("%s/partition", b->path), "%s\n", d);
		} else {
			mkdirf("%s/slaves", b->path);
			mklink(xstrdup(b->path), "sys/block/%s", b->name);
		}
		mklink(xstrdup(b->path), "sys/class/block/%s", b->name);
		mklink(xstrdup(b->path), "sys/dev/block/%u:%u", b->major, b->minor);
		if (b->dm_name)
			settext(mktext("%s/dm/name", b->path), "%s\n", b->dm_name);
		if (b->dm_uuid)
			settext(mktext("%s/dm/uuid", b->path), "%s\n", b->dm_uuid);
		if (b->md_level)
			settext(mktext("%s/md/level", b->path), "%s\n", b->md_level);
		for (size_t j = 0; j < b->nslaves; j++) {
			const struct blockdev *sl = b->slaves[j];

			mklink(xstrdup(sl->path), "%s/slaves/%s", b->path, sl->name);
			mklink(xstrdup(b->path), "%s/holders/%s", sl->path, b->name);
		}
	}
	for (size_t i = 0; i < S.nbtrfs; i++) {
		const struct btrfsfs *fs = S.btrfs[i];

		for (size_t j = 0; j < fs->ndevs; j++)
			mklink(xstrdup(fs->devs[j]->path), "sys/fs/btrfs/%s/devices/%s", fs->uuid,
			       fs->devs[j]->name);
	}
}

/* A tty or framebuffer exists while its parent is bound to the spec's driver. */
static bool classdev_present(const struct classdev *c)
{
	return !c->dev || (!c->dev->removed && c->dev->drv == c->drv);
}

/* sys/class/tty/console/active, ttys and framebuffers (see struct classdev). */
static void build_consoles(void)
{
	if (S.console) {
		settext(mktext("sys/devices/virtual/tty/console/active"), "%s\n", S.console);
		mklink(xstrdup("sys/devices/virtual/tty/console"), "sys/class/tty/console");
	}
	for (size_t i = 0; i < S.nttys + S.nfbs; i++) {
		const struct classdev *c = i < S.nttys ? S.ttys[i] : S.fbs[i - S.nttys];
		const char *cls = i < S.nttys ? "tty" : "graphics";
		char *path;

		if (!classdev_present(c))
			continue;
		if (c->dev)
			path = xasprintf("%s/%s/%s", c->dev->path, cls, c->name);
		else
			path = xasprintf("sys/devices/virtual/%s/%s", cls, c->name);
		mkdirf("%s", path);
		if (c->dev)
			mklink(xstrdup(c->dev->path), "%s/device", path);
		if (i >= S.nttys)
			settext(mktext("%s/dev", path), "29:%u\n", c->n);
		mklink(path, "sys/class/%s/%s", cls, c->name);
	}
}

/* dev/vfio/N while a device of group N is on vfio-pci; dev/vfio/vfio with vfio. */
static void build_vfio(void)
{
	struct module *vfio = find_module("vfio");
	int *groups = NULL;
	size_t ngroups = 0;

	if (!vfio || vfio->loaded)
		tree_file("dev/vfio/vfio", 0666, AT_DEVNODE, NULL);
	for (size_t i = 0; i < S.ndevs; i++) {
		struct device *d = S.devs[i];
		bool seen = false;

		if (d->group < 0 || !d->drv || strcmp(d->drv->name, "vfio-pci"))
			continue;
		for (size_t j = 0; j < ngroups; j++)
			seen |= groups[j] == d->group;
		if (seen)
			continue;
		VEC_PUSH(groups, ngroups, d->group);
		mkfile(0600, AT_DEVNODE, NULL, "dev/vfio/%d", d->group);
	}
	free(groups);
}

/* dev/input/eventN and the dev/input/by-id/NAME links of the input lines */
static void build_inputs(void)
{
	for (size_t i = 0; i < INPUTS.n; i++) {
		mkfile(0660, AT_DEVNODE, NULL, "dev/input/event%u", INPUTS.v[i]->event);
		mklink(xasprintf("dev/input/event%u", INPUTS.v[i]->event), "dev/input/by-id/%s", INPUTS.v[i]->name);
	}
}

static void build_vtcons(void)
{
	for (size_t i = 0; i < S.nvts; i++) {
		struct vtcon *vt = S.vts[i];

		mkfile(0644, AT_VT_BIND, vt, "sys/devices/virtual/vtconsole/vtcon%u/bind", vt->n);
		settext(mktext("sys/devices/virtual/vtconsole/vtcon%u/name", vt->n), "%s %s\n",
			vt->module ? "(M)" : "(S)", vt->desc);
		mklink(xasprintf("sys/devices/virtual/vtconsole/vtcon%u", vt->n), "sys/class/vtconsole/vtcon%u",
		       vt->n);
	}
}

static void build_cpufreq(void)
{
	struct cpumask cpus = S.online;
	struct sbuf b = { 0 };

	if (S.have_online) {
		cpulist_format(&b, S.online.b, ",");
		settext(mktext("sys/devices/system/cpu/online"), "%s\n", b.p);
		settext(mktext("sys/devices/system/cpu/possible"), "%s\n", b.p);
		settext(mktext("sys/devices/system/cpu/present"), "%s\n", b.p);
		b.len = 0;
	}
	for (size_t i = 0; i < S.npols; i++) {
		struct policy *p = S.pols[i];
		const char *dir = "sys/devices/system/cpu/cpufreq";

		for (size_t w = 0; w < ARRAY_SIZE(cpus.b); w++)
			cpus.b[w] |= p->cpus.b[w];
		b.len = 0;
		cpulist_format(&b, p->cpus.b, " ");
		settext(mktext("%s/policy%u/affected_cpus", dir, p->n), "%s\n", b.p);
		settext(mktext("%s/policy%u/related_cpus", dir, p->n), "%s\n", b.p);
		settext(mktext("%s/policy%u/scaling_driver", dir, p->n), "%s\n", p->driver);
		b.len = 0;
		for (size_t g = 0; g < p->ngovs; g++)
			sb_printf(&b, p->setpolicy ? "%s%s" : "%s%s ", p->setpolicy && g ? " " : "", p->govs[g]);
		settext(mktext("%s/policy%u/scaling_available_governors", dir, p->n), "%s\n", b.p);
		mkfile(0644, AT_GOVERNOR, p, "%s/policy%u/scaling_governor", dir, p->n);
		if (p->has_epp) {
			b.len = 0;
			for (size_t e = 0; e < ARRAY_SIZE(epp_names); e++)
				sb_printf(&b, "%s ", epp_names[e]);
			settext(mktext("%s/policy%u/energy_performance_available_preferences", dir, p->n),
				"%s\n", b.p);
			mkfile(0644, AT_EPP, p, "%s/policy%u/energy_performance_preference", dir, p->n);
		}
	}
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		if (!cpu_isset(cpus.b, c))
			continue;
		mkdirf("sys/devices/system/cpu/cpu%u", c);
		for (size_t i = 0; i < S.npols; i++)
			if (cpu_isset(S.pols[i]->cpus.b, c))
				mklink(xasprintf("sys/devices/system/cpu/cpufreq/policy%u", S.pols[i]->n),
				       "sys/devices/system/cpu/cpu%u/cpufreq", c);
	}
	free(b.p);
}

/* cpuN/topology/ and cpuN/cache/index3/ of every CPU of a core line. */
static void build_topology(void)
{
	struct sbuf b = { 0 }, l3 = { 0 };

	for (size_t i = 0; i < CORES.n; i++) {
		const struct cpucore *c = CORES.v[i];

		b.len = l3.len = 0;
		cpulist_format(&b, c->cpus.b, ",");
		if (c->has_l3)
			cpulist_format(&l3, c->l3.b, ",");
		for (unsigned n = 0; n < MAX_CPUS; n++) {
			if (!cpu_isset(c->cpus.b, n))
				continue;
#define TOPO "sys/devices/system/cpu/cpu%u/topology/%s"
			settext(mktext(TOPO, n, "core_id"), "%u\n", c->id);
			settext(mktext(TOPO, n, "physical_package_id"), "%u\n", c->package);
			settext(mktext(TOPO, n, "die_id"), "%u\n", c->die);
			settext(mktext(TOPO, n, "thread_siblings_list"), "%s\n", b.p);
			settext(mktext(TOPO, n, "core_cpus_list"), "%s\n", b.p);
			if (!c->has_l3)
				continue;
#define L3 "sys/devices/system/cpu/cpu%u/cache/index3/%s"
			settext(mktext(L3, n, "level"), "3\n");
			settext(mktext(L3, n, "type"), "Unified\n");
			settext(mktext(L3, n, "shared_cpu_list"), "%s\n", l3.p);
#undef L3
#undef TOPO
		}
	}
	free(b.p);
	free(l3.p);
}

static void build_memory(void)
{
	struct hsize *def = hp_default();
	struct cpumask nodes = { { 0 } };
	struct sbuf b = { 0 };

	tree_file("proc/meminfo", 0444, AT_MEMINFO, NULL);
	tree_file("proc/sys/vm/compact_memory", 0200, AT_COMPACT, NULL);
	tree_file("proc/sys/vm/drop_caches", 0200, AT_DROP, NULL);
	if (def) {
		tree_file("proc/sys/vm/nr_hugepages", 0644, AT_PROC_NR_HP, def);
		tree_file("proc/sys/vm/nr_overcommit_hugepages", 0644, AT_HP_OVERCOMMIT, def)->arg = 1;
	}
	for (size_t i = 0; i < S.nnodes; i++) {
		const struct numa_node *nd = S.nodes[i];

		nodes.b[nd->n / 64] |= 1ULL << (nd->n % 64);
		mkdirf("sys/devices/system/node/node%u", nd->n);
		if (nd->has_cpus) {
			b.len = 0;
			cpulist_format(&b, nd->cpus.b, ",");
			settext(mktext("sys/devices/system/node/node%u/cpulist", nd->n), "%s\n", b.p);
		}
		for (size_t h = 0; h < S.nhps; h++) {
#define NODE_HP "sys/devices/system/node/node%u/hugepages/hugepages-%lukB/%s"
			struct hsize *hs = S.hps[h];

			mkfile(0644, AT_HP_NR, hs, NODE_HP, nd->n, hs->kb, "nr_hugepages")->arg = (long)i;
			mkfile(0444, AT_HP_FREE, hs, NODE_HP, nd->n, hs->kb, "free_hugepages")->arg = (long)i;
			mkfile(0444, AT_HP_SURPLUS, hs, NODE_HP, nd->n, hs->kb, "surplus_hugepages")->arg = (long)i;
		}
	}
	if (S.nnodes) {
		b.len = 0;
		cpulist_format(&b, nodes.b, ",");
		settext(mktext("sys/devices/system/node/online"), "%s\n", b.p);
		settext(mktext("sys/devices/system/node/possible"), "%s\n", b.p);
	}
	for (size_t h = 0; h < S.nhps; h++) {
#define GLOBAL_HP "sys/kernel/mm/hugepages/hugepages-%lukB/%s"
		struct hsize *hs = S.hps[h];

		mkfile(0644, AT_HP_NR, hs, GLOBAL_HP, hs->kb, "nr_hugepages")->arg = -1;
		mkfile(0644, AT_HP_NR, hs, GLOBAL_HP, hs->kb, "nr_hugepages_mempolicy")->arg = -1;
		mkfile(0644, AT_HP_OVERCOMMIT, hs, GLOBAL_HP, hs->kb, "nr_overcommit_hugepages");
		mkfile(0444, AT_HP_FREE, hs, GLOBAL_HP, hs->kb, "free_hugepages")->arg = -1;
		mkfile(0444, AT_HP_RESV, hs, GLOBAL_HP, hs->kb, "resv_hugepages");
		mkfile(0444, AT_HP_SURPLUS, hs, GLOBAL_HP, hs->kb, "surplus_hugepages")->arg = -1;
	}
	free(b.p);
}

/* proc/cmdline, and proc/cpuinfo with one block per online CPU (CPU 0 without `cpus`). */
static void build_proc_info(void)
{
	struct sbuf b = { 0 };

	if (S.cmdline)
		settext(mktext("proc/cmdline"), "%s\n", S.cmdline);
	if (!S.cpu_vendor)
		return;
	for (unsigned c = 0; c < MAX_CPUS; c++)
		if (S.have_online ? cpu_isset(S.online.b, c) : c == 0)
			sb_printf(&b, "processor\t: %u\nvendor_id\t: %s\n\n", c, S.cpu_vendor);
	settext(mktext("proc/cpuinfo"), "%s", b.p ? b.p : "");
	free(b.p);
}

/* proc/PID/comm and proc/PID/fd/N: absolute "magic" links, as in procfs. */
static void build_processes(void)
{
	for (size_t i = 0; i < S.nprocs; i++) {
		struct process *p = S.procs[i];

		p->hidden = process_gone(p);
		if (p->hidden)
			continue;
		settext(mktext("proc/%u/comm", p->pid), "%s\n", p->comm);
		settext(mktext("proc/%u/cgroup", p->pid), "0::%s\n", p->cgroup ? p->cgroup : "/");
		mkdirf("proc/%u/fd", p->pid)->mode = 0500;
		for (size_t f = 0; f < p->nfds; f++) {
			char *path = xasprintf("proc/%u/fd/%u", p->pid, p->fdnums[f]);

			tree_add(path, NT_LINK, 0700)->text = xstrdup(p->fdtargets[f]);
			free(path);
		}
	}
}

static void build_tree(void)
{
	node_free(g_root);
	g_root = node_new(NULL, "", 0, NT_DIR, 0755);
	tree_dir("sys/devices");
	tree_dir("sys/kernel/iommu_groups");
	tree_dir("sys/module");
	tree_dir("sys/dev/block");
	tree_dir("sys/block");
	tree_dir("sys/class/block");
	tree_dir("proc/self");
	tree_dir("dev");
	for (enum bus b = 0; b < _BUS_MAX; b++) {
		if (!bus_in_use(b))
			continue;
		mkdirf("sys/bus/%s/devices", bus_names[b]);
		mkdirf("sys/bus/%s/drivers", bus_names[b]);
		mkfile(0200, AT_PROBE, NULL, "sys/bus/%s/drivers_probe", bus_names[b])->arg = b;
		mkfile(0644, AT_AUTOPROBE, NULL, "sys/bus/%s/drivers_autoprobe", bus_names[b])->arg = b;
	}
	for (size_t i = 0; i < S.ndevs; i++)
		build_device(S.devs[i]);
	for (size_t i = 0; i < S.nreg; i++)
		build_driver(S.reg[i]);
	for (size_t i = 0; i < S.nmods; i++)
		if (S.mods[i]->loaded)
			build_module(S.mods[i]);
	build_blocks();
	tree_file("proc/self/mountinfo", 0444, AT_MOUNTINFO, NULL);
	tree_file("proc/swaps", 0444, AT_SWAPS, NULL);
	build_consoles();
	build_vfio();
	build_inputs();
	build_vtcons();
	build_cpufreq();
	build_topology();
	build_memory();
	build_processes();
	build_proc_info();
}

/* ------------------------------------------------------------------------ */
/* Attribute show and store.                                                */

/* mangle() and seq_file_path(): space, tab, newline and backslash as octal. */
static void sb_mangle(struct sbuf *b, const char *s)
{
	for (const char *c = s; *c; c++) {
		if (strchr(" \t\n\\", *c))
			sb_printf(b, "\\%03o", (unsigned char)*c);
		else
			sb_printf(b, "%c", *c);
	}
}

static void show_mountinfo(struct sbuf *b)
{
	for (size_t i = 0; i < S.nmnts; i++) {
		const struct mountent *m = S.mnts[i];
		const struct blockdev *bd = find_block_majmin(m->major, m->minor);

		sb_printf(b, "%zu %zu %u:%u / ", 21 + i, i ? (size_t)21 : (size_t)1, m->major, m->minor);
		sb_mangle(b, m->point);
		sb_printf(b, " rw,relatime - %s ", m->fstype);
		if (m->source)
			sb_mangle(b, m->source);
		else if (m->major && bd)
			sb_printf(b, "/dev/%s", bd->name);
		else
			sb_printf(b, "%s", m->fstype);
		sb_printf(b, " rw\n");
	}
}

/* swap_show(): the path padded to 40 columns, then tabs. */
static void show_swaps(struct sbuf *b)
{
	sb_printf(b, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
	for (size_t i = 0; i < S.nswaps; i++) {
		const struct swapent *sw = S.swaps[i];
		size_t start = b->len, len;

		sb_mangle(b, sw->path);
		len = b->len - start;
		sb_printf(b, "%*s%s\t%lu\t%s%lu\t%s%d\n", len < 40 ? (int)(40 - len) : 1, " ",
			  sw->file ? "file\t" : "partition", sw->size, sw->size < 10000000 ? "\t" : "",
			  sw->used, sw->used < 10000000 ? "\t" : "", sw->prio);
	}
}

static void show_meminfo(struct sbuf *b)
{
	struct hsize *def = hp_default();
	unsigned long total = 0, hugetlb = 0, cached, buffers, apps, memfree;
	unsigned long swap_total = 0, swap_used = 0;

	for (size_t i = 0; i < S.nnodes; i++)
		total += S.nodes[i]->mem_kb;
	if (!S.nnodes)
		total = 16UL << 20;
	for (size_t i = 0; i < S.nhps; i++)
		hugetlb += (unsigned long)hp_count(S.hps[i], -1, HP_NR) * S.hps[i]->kb;
	for (size_t i = 0; i < S.nswaps; i++) {
		swap_total += S.swaps[i]->size;
		swap_used += S.swaps[i]->used;
	}
	cached = total / 8;
	buffers = total / 64;
	apps = total / 8;
	memfree = total > hugetlb + cached + buffers + apps ? total - hugetlb - cached - buffers - apps : 0;
	sb_printf(b, "MemTotal:       %8lu kB\n", total);
	sb_printf(b, "MemFree:        %8lu kB\n", memfree);
	sb_printf(b, "MemAvailable:   %8lu kB\n", memfree + cached);
	sb_printf(b, "Buffers:        %8lu kB\n", buffers);
	sb_printf(b, "Cached:         %8lu kB\n", cached);
	sb_printf(b, "SwapTotal:      %8lu kB\n", swap_total);
	sb_printf(b, "SwapFree:       %8lu kB\n", swap_total - swap_used);
	if (!def)
		return;
	sb_printf(b, "HugePages_Total:   %5ld\n", hp_count(def, -1, HP_NR));
	sb_printf(b, "HugePages_Free:    %5ld\n", hp_count(def, -1, HP_FREE));
	sb_printf(b, "HugePages_Rsvd:    %5ld\n", def->resv);
	sb_printf(b, "HugePages_Surp:    %5ld\n", hp_count(def, -1, HP_SURPLUS));
	sb_printf(b, "Hugepagesize:   %8lu kB\n", def->kb);
	sb_printf(b, "Hugetlb:        %8lu kB\n", hugetlb);
}

static void show(const struct node *n, struct sbuf *b)
{
	switch (n->attr) {
	case AT_TEXT:
		sb_printf(b, "%s", n->text);
		break;
	case AT_OVERRIDE: {
		const struct device *d = n->obj;

		sb_printf(b, "%s\n", d->override ? d->override : "(null)");
		break;
	}
	case AT_AUTOPROBE:
		sb_printf(b, "%d\n", S.autoprobe[n->arg]);
		break;
	case AT_REFCNT:
		sb_printf(b, "%d\n", module_refcnt(n->obj));
		break;
	case AT_MOUNTINFO:
		show_mountinfo(b);
		break;
	case AT_SWAPS:
		show_swaps(b);
		break;
	case AT_VT_BIND:
		sb_printf(b, "%d\n", vt_bound(n->obj));
		break;
	case AT_GOVERNOR:
		sb_printf(b, "%s\n", ((const struct policy *)n->obj)->gov);
		break;
	case AT_EPP:
		sb_printf(b, "%s\n", ((const struct policy *)n->obj)->epp);
		break;
	case AT_HP_NR:
		sb_printf(b, "%ld\n", hp_count(n->obj, (int)n->arg, HP_NR));
		break;
	case AT_HP_FREE:
		sb_printf(b, "%ld\n", hp_count(n->obj, (int)n->arg, HP_FREE));
		break;
	case AT_HP_SURPLUS:
		sb_printf(b, "%ld\n", hp_count(n->obj, (int)n->arg, HP_SURPLUS));
		break;
	case AT_HP_RESV:
		sb_printf(b, "%ld\n", ((const struct hsize *)n->obj)->resv);
		break;
	case AT_HP_OVERCOMMIT:
		sb_printf(b, "%ld\n", ((const struct hsize *)n->obj)->overcommit);
		break;
	case AT_PROC_NR_HP:
		sb_printf(b, "%ld\n", hp_count(n->obj, -1, HP_PERSISTENT));
		break;
	case AT_MEMINFO:
		show_meminfo(b);
		break;
	case AT_COMPACT:
	case AT_DROP:
	case AT_NONE:
	case AT_BIND:
	case AT_UNBIND:
	case AT_NEW_ID:
	case AT_REMOVE_ID:
	case AT_PROBE:
	case AT_DEVNODE:
		break;
	}
}

/* driver_set_override(): "\n" or all-NUL clears, else up to the first newline. */
static int store_override(struct device *d, const char *buf, size_t len)
{
	const char *nl;
	size_t slen;

	if (len >= PAGE_SZ - 1)
		return -EINVAL;
	slen = strlen(buf);
	nl = memchr(buf, '\n', slen);
	free(d->override);
	d->override = NULL;
	if (slen && nl != buf)
		d->override = xstrndup(buf, nl ? (size_t)(nl - buf) : slen);
	return 0;
}

/* bind_store(): ENODEV unless the device exists and matches; EBUSY if bound. */
static int store_bind(struct driver *d, const char *buf)
{
	struct device *dev = find_device_streq(d->bus, buf);

	if (!dev || !drv_match(d, dev))
		return -ENODEV;
	if (dev->drv)
		return -EBUSY;
	if (F.probe_delay_ms) {
		schedule_attach(dev, d);
		return 0;
	}
	return drv_probe(d, dev);
}

/* unbind_store(): only a device bound to this very driver. */
static int store_unbind(struct driver *d, const char *buf)
{
	struct device *dev = find_device_streq(d->bus, buf);

	if (!dev || dev->drv != d)
		return -ENODEV;
	dev_release(dev);
	return 0;
}

/* drivers_probe_store(): success even when no driver attaches. */
static int store_probe(enum bus bus, const char *buf)
{
	struct device *dev = find_device_streq(bus, buf);

	if (!dev)
		return -ENODEV;
	if (!dev->drv && !nobind(dev))
		schedule_attach(dev, NULL);
	return 0;
}

/* new_id_store(): "vendor device ..." in hex; EEXIST if it already matches. */
static int store_new_id(struct driver *d, const char *buf)
{
	struct device fake = { .bus = d->bus };
	struct pci_id id = { .dynamic = true };

	if (sscanf(buf, "%x %x", &id.vendor, &id.device) < 2)
		return -EINVAL;
	fake.vendor = id.vendor;
	fake.device = id.device;
	if (drv_match(d, &fake))
		return -EEXIST;
	VEC_PUSH(d->ids, d->nids, id);
	driver_attach(d);
	return 0;
}

static int store_remove_id(struct driver *d, const char *buf)
{
	unsigned vendor, device;

	if (sscanf(buf, "%x %x", &vendor, &device) < 2)
		return -EINVAL;
	for (size_t i = 0; i < d->nids; i++) {
		if (d->ids[i].dynamic && d->ids[i].vendor == vendor && d->ids[i].device == device) {
			memmove(&d->ids[i], &d->ids[i + 1], (d->nids - i - 1) * sizeof(*d->ids));
			d->nids--;
			return 0;
		}
	}
	return -ENODEV;
}

static int store(const struct node *n, const char *buf, size_t len)
{
	switch (n->attr) {
	case AT_OVERRIDE:
		return store_override(n->obj, buf, len);
	case AT_BIND:
		return store_bind(n->obj, buf);
	case AT_UNBIND:
		return store_unbind(n->obj, buf);
	case AT_PROBE:
		return store_probe((enum bus)n->arg, buf);
	case AT_AUTOPROBE:
		S.autoprobe[n->arg] = buf[0] != '0';
		return 0;
	case AT_NEW_ID:
		return store_new_id(n->obj, buf);
	case AT_REMOVE_ID:
		return store_remove_id(n->obj, buf);
	case AT_DEVNODE:
		return -EINVAL;
	case AT_VT_BIND:
		store_vt_bind(n->obj, buf);
		return 0;
	case AT_GOVERNOR:
		return store_governor(n->obj, buf);
	case AT_EPP:
		return store_epp(n->obj, buf);
	case AT_HP_NR:
	case AT_PROC_NR_HP:
	case AT_HP_OVERCOMMIT: {
		bool proc = n->attr == AT_PROC_NR_HP || n->arg == 1;
		long v;
		int r = proc ? parse_proc_ulong(buf, &v) : parse_sysfs_ulong(buf, &v);

		if (r < 0)
			return r;
		if (n->attr == AT_HP_OVERCOMMIT)
			((struct hsize *)n->obj)->overcommit = v;
		else
			hp_set_node(n->obj, v, n->attr == AT_PROC_NR_HP ? -1 : (int)n->arg);
		return 0;
	}
	case AT_COMPACT:
	case AT_DROP: {
		long v;
		int r = parse_proc_ulong(buf, &v);

		/* compact_memory takes 1 only, drop_caches 1 to 4 */
		if (r < 0 || v < 1 || v > (n->attr == AT_COMPACT ? 1 : 4))
			return -EINVAL;
		if (n->attr == AT_COMPACT || v != 4)
			hp_raise_limits(n->attr == AT_DROP);
		return 0;
	}
	case AT_NONE:
	case AT_TEXT:
	case AT_REFCNT:
	case AT_MOUNTINFO:
	case AT_SWAPS:
	case AT_HP_FREE:
	case AT_HP_RESV:
	case AT_HP_SURPLUS:
	case AT_MEMINFO:
		break;
	}
	return -EACCES;
}

/* ------------------------------------------------------------------------ */
/* Faults.                                                                  */

static void faults_clear(void)
{
	for (size_t i = 0; i < F.n; i++) {
		free(F.v[i].path);
		free(F.v[i].key);
	}
	for (size_t i = 0; i < F.nnobind; i++)
		free(F.nobind[i]);
	for (size_t i = 0; i < F.nrc; i++)
		free(F.rc[i].mod);
	for (size_t i = 0; i < F.nunreadable; i++)
		free(F.unreadable[i]);
	free(F.unreadable);
	free(F.v);
	free(F.nobind);
	free(F.rc);
	free(F.used);
	free(F.gone);
	memset(&F, 0, sizeof(F));
	F.graphics = -1;
}

__attribute__((format(printf, 2, 3)))
static int ferr(unsigned no, const char *fmt, ...)
{
	char *msg;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		oom();
	va_end(ap);
	fprintf(stderr, "simhost: %s:%u: %s\n", g_faults_path, no, msg);
	sim_log("faults %s:%u: %s", g_faults_path, no, msg);
	free(msg);
	return -EBADMSG;
}

static int parse_count(const char *s, long *ret)
{
	unsigned v;

	if (!s) {
		*ret = -1;
		return 0;
	}
	if (parse_uint(s, 1000000, &v) < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int faults_line(unsigned no, char *line)
{
	char *w[8], *save = NULL, *key;
	size_t nw = 0, len;
	unsigned v;

	len = strlen(line);
	while (len && isspace((unsigned char)line[len - 1]))
		line[--len] = '\0';
	key = xstrdup(line);
	{
		char *hash = strchr(line, '#');

		if (hash)
			*hash = '\0';
	}
	for (char *t = strtok_r(line, " \t", &save); t && nw < ARRAY_SIZE(w); t = strtok_r(NULL, " \t", &save))
		w[nw++] = t;
	if (!nw) {
		free(key);
		return 0;
	}
	if (!strcmp(w[0], "probe-delay")) {
		free(key);
		if (nw != 2 || parse_uint(w[1], 600000, &v) < 0)
			return ferr(no, "expected: probe-delay MILLISECONDS");
		F.probe_delay_ms = v;
		return 0;
	}
	if (!strcmp(w[0], "no-bind")) {
		free(key);
		if (nw != 2)
			return ferr(no, "expected: no-bind DEVICE");
		VEC_PUSH(F.nobind, F.nnobind, xstrdup(w[1]));
		return 0;
	}
	if (!strcmp(w[0], "module-refcnt")) {
		struct refcnt_override rc;

		free(key);
		if (nw != 3 || parse_uint(w[2], 1000000, &v) < 0)
			return ferr(no, "expected: module-refcnt MODULE COUNT");
		rc.mod = xstrdup(w[1]);
		rc.refcnt = (int)v;
		VEC_PUSH(F.rc, F.nrc, rc);
		return 0;
	}
	if (!strcmp(w[0], "graphics-mode")) {
		free(key);
		if (nw != 2 || (strcmp(w[1], "yes") && strcmp(w[1], "no")))
			return ferr(no, "expected: graphics-mode yes|no");
		F.graphics = !strcmp(w[1], "yes");
		return 0;
	}
	if (!strcmp(w[0], "hugepages-used")) {
		struct used_override u;
		unsigned kb, node, n;

		free(key);
		if (nw != 4 || parse_uint(w[1], UINT_MAX, &kb) < 0 || parse_uint(w[2], 1023, &node) < 0 ||
		    parse_uint(w[3], 100000000, &n) < 0)
			return ferr(no, "expected: hugepages-used SIZE_KB NODE PAGES");
		u.kb = kb;
		u.node = node;
		u.used = n;
		VEC_PUSH(F.used, F.nused, u);
		return 0;
	}
	if (!strcmp(w[0], "no-process")) {
		free(key);
		if (nw != 2 || parse_uint(w[1], 4194304, &v) < 0)
			return ferr(no, "expected: no-process PID");
		VEC_PUSH(F.gone, F.ngone, v);
		return 0;
	}
	if (!strcmp(w[0], "unreadable")) {
		free(key);
		if (nw != 2)
			return ferr(no, "expected: unreadable PATH");
		VEC_PUSH(F.unreadable, F.nunreadable, xstrdup(w[1] + (w[1][0] == '/')));
		return 0;
	}
	if (strchr(w[0], '/')) {
		struct fault f = { .key = key };
		char *end;

		if (nw >= 2 && (!strcmp(w[1], "hang") || !strcmp(w[1], "hang-d") ||
				 !strcmp(w[1], "apply-then-hang"))) {
			f.kind = !strcmp(w[1], "hang") ? F_HANG : !strcmp(w[1], "hang-d") ? F_HANG_D : F_APPLY_HANG;
			errno = 0;
			f.secs = nw >= 3 ? strtod(w[2], &end) : -1;
			if (nw < 3 || errno || *end || !(f.secs >= 0 && f.secs <= 3600) || nw > 4 ||
			    parse_count(nw == 4 ? w[3] : NULL, &f.count) < 0) {
				free(key);
				return ferr(no, "expected: PATH %s SECONDS [COUNT]", w[1]);
			}
		} else {
			int e = nw >= 2 ? errno_parse(w[1]) : -EINVAL;

			if (e < 0 || nw > 3 || parse_count(nw == 3 ? w[2] : NULL, &f.count) < 0) {
				free(key);
				return ferr(no, "expected: PATH ERRNO [COUNT] with ERRNO like EBUSY or 16");
			}
			f.kind = F_ERR;
			f.err = e;
		}
		f.path = xstrdup(w[0] + (w[0][0] == '/'));
		VEC_PUSH(F.v, F.n, f);
		return 0;
	}
	free(key);
	return ferr(no, "unknown fault '%s' (a PATH must contain '/')", w[0]);
}

/* Re-read the fault file; a missing file means no faults. */
static void faults_read(void)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned no = 0;
	FILE *f;

	faults_clear();
	if (!g_faults_path)
		return;
	f = fopen(g_faults_path, "re");
	if (!f) {
		if (errno != ENOENT)
			F.bad = ferr(0, "cannot open: %s", strerror(errno)) < 0;
		return;
	}
	while (getline(&line, &cap, f) >= 0)
		if (faults_line(++no, line) < 0)
			F.bad = true;
	free(line);
	fclose(f);
}

/*
 * The faults, then what follows from them: pages no longer in use are freed,
 * and the tree is rebuilt when a process exited (no-process) or came back, so
 * proc/PID appears and disappears with the line.  The tree built at startup
 * has not seen the fault file yet.  Called with the lock held, before any
 * lookup: no node pointer survives it.
 */
static void faults_load(void)
{
	faults_read();
	hp_normalize();
	for (size_t i = 0; i < S.nprocs; i++) {
		if (process_gone(S.procs[i]) != S.procs[i]->hidden) {
			build_tree();
			break;
		}
	}
}

static bool fault_take(const struct fault *f)
{
	struct counter *c;

	if (f->count < 0)
		return true;
	for (c = g_counters; c; c = c->next)
		if (!strcmp(c->key, f->key))
			break;
	if (!c) {
		c = xcalloc(1, sizeof(*c));
		c->key = xstrdup(f->key);
		c->next = g_counters;
		g_counters = c;
	}
	if (c->used >= (unsigned long)f->count)
		return false;
	c->used++;
	return true;
}

static bool fault_path_matches(const struct fault *f, const char *path)
{
	char *r;
	bool m;

	if (strpbrk(f->path, "*?["))
		return fnmatch(f->path, path, FNM_PATHNAME) == 0;
	r = tree_resolve(f->path);
	m = !strcmp(r, path);
	free(r);
	return m;
}

/* @path is @dir or below it ("" is the root, above everything). */
static bool path_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !n || (!strncmp(path, dir, n) && (!path[n] || path[n] == '/'));
}

/*
 * An unreadable fault covers @path: it is the fault's PATH or below it, either
 * literally (a link itself, for readlink) or once PATH is resolved (what open
 * sees through links).  A glob also covers what is below its matches.
 */
static bool faults_unreadable(const char *path)
{
	for (size_t i = 0; i < F.nunreadable; i++) {
		const char *u = F.unreadable[i];
		char *r;
		bool m;

		if (strpbrk(u, "*?[")) {
			if (fnmatch(u, path, FNM_PATHNAME | FNM_LEADING_DIR) == 0)
				return true;
			continue;
		}
		if (path_below(path, u))
			return true;
		r = tree_resolve(u);
		m = path_below(path, r);
		free(r);
		if (m)
			return true;
	}
	return false;
}

/* A matched hang: which kind (F_ERR: none) and how long. */
struct hang {
	enum fault_kind kind;
	double secs;
};

static const char *const hang_names[] = {
	[F_HANG] = "hang",
	[F_HANG_D] = "hang-d",
	[F_APPLY_HANG] = "apply-then-hang",
};

/* The first matching hang (of any kind) and the first matching error for @path. */
static void faults_match(const char *path, struct hang *hang, int *err)
{
	bool have_hang = false, have_err = false;

	hang->kind = F_ERR;
	hang->secs = 0;
	*err = 0;
	for (size_t i = 0; i < F.n; i++) {
		const struct fault *f = &F.v[i];

		if ((f->kind != F_ERR ? have_hang : have_err) || !fault_path_matches(f, path))
			continue;
		if (!fault_take(f))
			continue;
		if (f->kind != F_ERR) {
			hang->kind = f->kind;
			hang->secs = f->secs;
			have_hang = true;
		} else {
			*err = f->err;
			have_err = true;
		}
	}
}

/* Our mount's ID in /proc/self/mountinfo, 0: unknown.  Set before serving. */
static unsigned long g_mount_id;

/* Undo the octal escapes (\040) of a mountinfo field, in place. */
static void mountinfo_unescape(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

/*
 * Scan /proc/self/mountinfo.  With @mnt (absolute, resolved): the ID of the
 * last FUSE mount on it, 0 if none.  Else: @id if mount @id still exists (or
 * the file cannot be read), 0 if it is gone.
 */
static unsigned long mountinfo_scan(const char *mnt, unsigned long id)
{
	unsigned long found = 0;
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return mnt ? 0 : id;
	while (getline(&line, &cap, f) >= 0) {
		char *save = NULL, *w[5], *sep, *type;
		unsigned long mid = strtoul(line, NULL, 10);
		size_t nw = 0;

		if (!mnt) {
			if (mid == id) {
				found = id;
				break;
			}
			continue;
		}
		sep = strstr(line, " - ");
		if (!sep)
			continue;
		type = sep + 3;
		*sep = '\0';
		for (char *t = strtok_r(line, " ", &save); t && nw < ARRAY_SIZE(w); t = strtok_r(NULL, " ", &save))
			w[nw++] = t;
		if (nw < 5 || strncmp(type, "fuse", 4))
			continue;
		mountinfo_unescape(w[4]);
		if (!strcmp(w[4], mnt))
			found = mid;
	}
	free(line);
	fclose(f);
	return found;
}

/*
 * The file system is going away: the connection was aborted (unmount, umount
 * -f), it is being destroyed, or, checked when @check_mount, our mount left
 * the mount table (a lazy umount -l while a caller still holds a file: the
 * kernel aborts nothing until that caller gets its reply).
 */
static bool fs_stopping(struct fuse_session *se, bool check_mount)
{
	bool stop;

	if (fuse_session_exited(se))
		return true;
	pthread_mutex_lock(&g_lock);
	stop = g_stop;
	pthread_mutex_unlock(&g_lock);
	return stop || (check_mount && g_mount_id && !mountinfo_scan(NULL, g_mount_id));
}

/*
 * Block for @secs with the lock released.  Gives up with -EINTR when the
 * file system is being unmounted or destroyed, and, if @interruptible, when
 * the caller is interrupted (a signal, e.g. its watchdog killing it).  An
 * uninterruptible wait ignores FUSE interrupts, like a driver stuck in D
 * state: the kernel keeps a killed caller waiting for the reply.
 */
static int hang_wait(double secs, bool interruptible)
{
	struct fuse_session *se = fuse_get_session(fuse_get_context()->fuse);
	struct timespec end, now;
	int r = 0;

	monotonic_now(&end);
	ts_add_ms(&end, (unsigned long)(secs * 1000.0));
	pthread_mutex_unlock(&g_lock);
	for (unsigned i = 0;; i++) {
		struct timespec slice = { 0, 20 * 1000000L };

		if ((interruptible && fuse_interrupted()) || fs_stopping(se, i % 5 == 0)) {
			r = -EINTR;
			break;
		}
		monotonic_now(&now);
		if (ts_before_eq(&end, &now))
			break;
		nanosleep(&slice, NULL);
	}
	pthread_mutex_lock(&g_lock);
	return r;
}

/*
 * Common prologue of mutating operations: re-read the faults, then apply
 * those for @path.  Returns 0 to go on, or -errno (with the lock held).
 * A hang or hang-d blocks here.  An apply-then-hang is left in *@after
 * (0: none) for faults_reply() once the operation has taken effect.
 */
static int faults_apply(const char *path, double *after)
{
	struct hang hang;
	int err, r;

	*after = 0;
	faults_load();
	if (F.bad)
		return -EBADMSG;
	faults_match(path, &hang, &err);
	if (hang.kind == F_APPLY_HANG) {
		*after = hang.secs;
	} else if (hang.kind != F_ERR && hang.secs > 0) {
		sim_log("%s %s %.3fs", hang_names[hang.kind], path, hang.secs);
		r = hang_wait(hang.secs, hang.kind == F_HANG);
		if (r < 0) {
			sim_log("%s %s = -EINTR", hang_names[hang.kind], path);
			return r;
		}
	}
	return err ? -err : 0;
}

/*
 * Epilogue: hold the reply of an operation that already took effect (result
 * @r) for the apply-then-hang time @after.  An interrupt, unmount or destroy
 * ends the wait with -EINTR; the effect stays.
 */
static int faults_reply(const char *path, double after, int r)
{
	if (after <= 0)
		return r;
	sim_log("apply-then-hang %s %.3fs", path, after);
	if (hang_wait(after, true) < 0) {
		sim_log("apply-then-hang %s = -EINTR", path);
		return -EINTR;
	}
	return r;
}

/* ------------------------------------------------------------------------ */
/* FUSE operations.                                                         */

static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return path;
}

static void log_data(struct sbuf *b, const char *buf, size_t size)
{
	for (size_t i = 0; i < size && i < 80; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\n')
			sb_printf(b, "\\n");
		else if (c == '\\' || c == '"')
			sb_printf(b, "\\%c", c);
		else if (isprint(c))
			sb_printf(b, "%c", c);
		else
			sb_printf(b, "\\x%02x", c);
	}
	if (size > 80)
		sb_printf(b, "...");
}

static void fill_stat(const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_uid = 0;
	st->st_gid = 0;
	st->st_atim = st->st_mtim = st->st_ctim = g_start;
	st->st_blksize = PAGE_SZ;
	switch (n->type) {
	case NT_DIR:
		st->st_mode = S_IFDIR | n->mode;
		st->st_nlink = 2;
		break;
	case NT_FILE:
		st->st_mode = S_IFREG | n->mode;
		st->st_nlink = 1;
		st->st_size = n->size0 ? 0 : PAGE_SZ;
		break;
	case NT_LINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t)strlen(n->text);
		break;
	}
}

static int sim_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	const struct node *n;
	int r = 0;

	pthread_mutex_lock(&g_lock);
	faults_load();
	n = tree_lookup(rel(path));
	if (n)
		fill_stat(n, st);
	else
		r = -ENOENT;
	pthread_mutex_unlock(&g_lock);
	return r;
}

static int sim_readlink(const char *path, char *buf, size_t size)
{
	const struct node *n;
	int r = 0;

	if (!size)
		return -EINVAL;
	pthread_mutex_lock(&g_lock);
	faults_load();
	n = tree_lookup(rel(path));
	if (!n)
		r = -ENOENT;
	else if (n->type != NT_LINK)
		r = -EINVAL;
	else if (faults_unreadable(rel(path)))
		r = -EACCES;
	else
		snprintf(buf, size, "%s", n->text);
	pthread_mutex_unlock(&g_lock);
	return r;
}

static int sim_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	char **names = NULL;
	size_t nnames = 0;
	const struct node *n;
	int r = 0;

	pthread_mutex_lock(&g_lock);
	faults_load();
	n = tree_lookup(rel(path));
	if (!n)
		r = -ENOENT;
	else if (n->type != NT_DIR)
		r = -ENOTDIR;
	else
		for (const struct node *k = n->kids; k; k = k->next)
			VEC_PUSH(names, nnames, xstrdup(k->name));
	pthread_mutex_unlock(&g_lock);
	if (r == 0) {
		filler(buf, ".", NULL, 0, 0);
		filler(buf, "..", NULL, 0, 0);
		for (size_t i = 0; i < nnames; i++)
			filler(buf, names[i], NULL, 0, 0);
	}
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	return r;
}

/* Only for the unreadable fault: directories are always readable otherwise. */
static int sim_opendir(const char *path, struct fuse_file_info *fi)
{
	const struct node *n;
	int r = 0;

	pthread_mutex_lock(&g_lock);
	faults_load();
	n = tree_lookup(rel(path));
	if (!n)
		r = -ENOENT;
	else if (n->type != NT_DIR)
		r = -ENOTDIR;
	else if (faults_unreadable(rel(path)))
		r = -EACCES;
	pthread_mutex_unlock(&g_lock);
	return r;
}

/* kernfs_fop_open(): EACCES when the attribute cannot be read or written. */
static int sim_open(const char *path, struct fuse_file_info *fi)
{
	const struct node *n;
	int acc = fi->flags & O_ACCMODE, r = 0;

	pthread_mutex_lock(&g_lock);
	faults_load();
	n = tree_lookup(rel(path));
	if (!n)
		r = -ENOENT;
	else if (n->type == NT_DIR)
		r = -EISDIR;
	else if (acc != O_WRONLY && !(n->mode & 0444))
		r = -EACCES;
	else if (acc != O_RDONLY && !(n->mode & 0222))
		r = -EACCES;
	else if (faults_unreadable(rel(path)))
		r = -EACCES;
	pthread_mutex_unlock(&g_lock);
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return r;
}

static int sim_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct sbuf b = { 0 };
	const struct node *n;
	int r = 0;

	pthread_mutex_lock(&g_lock);
	n = tree_lookup(rel(path));
	if (!n)
		r = -ENODEV;            /* kernfs: the attribute went away */
	else if (!(n->mode & 0444))
		r = -EACCES;
	else
		show(n, &b);
	pthread_mutex_unlock(&g_lock);
	if (r == 0 && off >= 0 && (size_t)off < b.len) {
		size_t cnt = b.len - (size_t)off;

		if (cnt > size)
			cnt = size;
		memcpy(buf, b.p + off, cnt);
		r = (int)cnt;
	}
	free(b.p);
	return r;
}

static int sim_write(const char *path, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	const char *p = rel(path);
	struct sbuf lb = { 0 };
	const struct node *n;
	double after;
	char *data;
	int r;

	if (size == 0)
		return 0;               /* kernfs does not call the store */
	if (size > PAGE_SZ)
		size = PAGE_SZ;         /* kernfs hands at most a page to the store */
	data = xcalloc(1, size + 1);
	memcpy(data, buf, size);
	pthread_mutex_lock(&g_lock);
	r = faults_apply(p, &after);
	if (r == 0) {
		n = tree_lookup(p);
		if (!n)
			r = -ENODEV;
		else if (!(n->mode & 0222))
			r = -EACCES;
		else
			r = store(n, data, size);
	}
	if (r == 0)
		build_tree();
	log_data(&lb, data, size);
	sim_log("write %s \"%s\" = %s%s", p, lb.p ? lb.p : "", r < 0 ? "-" : "0",
		r < 0 ? errno_name(r) : "");
	r = faults_reply(p, after, r);
	pthread_mutex_unlock(&g_lock);
	free(lb.p);
	free(data);
	return r < 0 ? r : (int)size;
}

static int sim_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	const struct node *n;
	int r = 0;

	pthread_mutex_lock(&g_lock);
	n = tree_lookup(rel(path));
	if (!n)
		r = -ENOENT;
	else if (n->type == NT_DIR)
		r = -EISDIR;
	pthread_mutex_unlock(&g_lock);
	return r;
}

/* The module name if @path is sys/module/NAME, else NULL. */
static const char *module_dir_name(const char *path)
{
	const char *name = path + strlen("sys/module/");

	if (strncmp(path, "sys/module/", strlen("sys/module/")) || !*name || strchr(name, '/'))
		return NULL;
	return name;
}

/* mkdir and rmdir of sys/module/NAME: loading and unloading a module (see README.md) */
static int module_dir_op(const char *path, const char *op, int (*fn)(struct module *m))
{
	const char *p = rel(path), *name = module_dir_name(p);
	struct module *m;
	double after;
	int r;

	if (!name)
		return -EPERM;
	pthread_mutex_lock(&g_lock);
	r = faults_apply(p, &after);
	if (r == 0) {
		m = find_module(name);
		r = m ? fn(m) : -ENOENT;
	}
	if (r == 0)
		build_tree();
	sim_log("%s %s = %s%s", op, p, r < 0 ? "-" : "0", r < 0 ? errno_name(r) : "");
	r = faults_reply(p, after, r);
	pthread_mutex_unlock(&g_lock);
	return r;
}

static int sim_mkdir(const char *path, mode_t mode)
{
	return module_dir_op(path, "mkdir", module_load);
}

static int sim_rmdir(const char *path)
{
	return module_dir_op(path, "rmdir", module_unload);
}

static int sim_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return -EACCES;
}

static int sim_mknod(const char *path, mode_t mode, dev_t rdev)
{
	return -EACCES;
}

static int sim_unlink(const char *path)
{
	return -EPERM;
}

static int sim_symlink(const char *target, const char *path)
{
	return -EPERM;
}

static int sim_rename(const char *from, const char *to, unsigned int flags)
{
	return -EPERM;
}

static int sim_link(const char *from, const char *to)
{
	return -EPERM;
}

static int sim_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return -EPERM;
}

static int sim_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	return -EPERM;
}

static int sim_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	int r;

	pthread_mutex_lock(&g_lock);
	r = tree_lookup(rel(path)) ? 0 : -ENOENT;
	pthread_mutex_unlock(&g_lock);
	return r;
}

static void *sim_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Nothing may be cached: links and files come and go with the state. */
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	cfg->hard_remove = 1;
	return NULL;
}

static void sim_destroy(void *data)
{
	pthread_mutex_lock(&g_lock);
	g_stop = true;
	pthread_cond_broadcast(&g_cond);
	pthread_mutex_unlock(&g_lock);
	if (g_prober_started)
		pthread_join(g_prober, NULL);
	while (g_pending) {
		struct pending *p = g_pending;

		g_pending = p->next;
		free(p);
	}
}

static const struct fuse_operations sim_ops = {
	.init = sim_init,
	.destroy = sim_destroy,
	.getattr = sim_getattr,
	.readlink = sim_readlink,
	.readdir = sim_readdir,
	.opendir = sim_opendir,
	.open = sim_open,
	.read = sim_read,
	.write = sim_write,
	.truncate = sim_truncate,
	.mkdir = sim_mkdir,
	.rmdir = sim_rmdir,
	.create = sim_create,
	.mknod = sim_mknod,
	.unlink = sim_unlink,
	.symlink = sim_symlink,
	.rename = sim_rename,
	.link = sim_link,
	.chmod = sim_chmod,
	.chown = sim_chown,
	.utimens = sim_utimens,
};

/* ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fputs("usage: simhost --spec SPEC [--faults FILE] [--log FILE] [-f] [-d] [-o OPT] MNT\n"
	      "Serves MNT/sys, MNT/proc and MNT/dev as described by SPEC.  Daemonizes once\n"
	      "the mount is ready unless -f; 'fusermount3 -u MNT' or 'umount MNT' ends it.\n"
	      "  --spec FILE    the host description (checked before mounting)\n"
	      "  --faults FILE  fault injection, re-read before every mutating operation\n"
	      "  --log FILE     append one line per write, mkdir, rmdir and bind change\n"
	      "  --check        only parse SPEC and exit\n", f);
}

/* An absolute version of @p: the daemon changes to / after mounting. */
static char *absolute(const char *p)
{
	char *cwd, *r;

	if (p[0] == '/' || !(cwd = get_current_dir_name()))
		return xstrdup(p);
	r = xasprintf("%s/%s", cwd, p);
	free(cwd);
	return r;
}

/*
 * Mount, then daemonize (the parent exits only once the mount is ready),
 * then serve with one thread per concurrent request until unmounted.
 */
static int serve(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts = { 0 };
	struct fuse_session *se;
	struct fuse *f = NULL;
	char *mnt = NULL;
	int r = 1;

	if (fuse_parse_cmdline(&args, &opts) != 0)
		goto out;
	if (opts.show_help || opts.show_version || !opts.mountpoint) {
		if (!opts.mountpoint)
			fputs("simhost: no mount point\n", stderr);
		usage(stderr);
		goto out;
	}
	f = fuse_new(&args, &sim_ops, sizeof(sim_ops), NULL);
	if (!f)
		goto out;
	se = fuse_get_session(f);
	/* Resolved while it is still a plain directory: nothing serves it yet. */
	mnt = realpath(opts.mountpoint, NULL);
	if (fuse_mount(f, opts.mountpoint) != 0)
		goto out;
	/* Our mount in the table: a hang ends when it leaves (umount -l). */
	if (mnt)
		g_mount_id = mountinfo_scan(mnt, 0);
	if (fuse_daemonize(opts.foreground) != 0 || fuse_set_signal_handlers(se) != 0) {
		fuse_unmount(f);
		goto out;
	}
	r = opts.singlethread ? fuse_loop(f) : fuse_loop_mt(f, opts.clone_fd);
	r = r ? 1 : 0;
	fuse_remove_signal_handlers(se);
	fuse_unmount(f);
out:
	if (f)
		fuse_destroy(f);
	free(mnt);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return r;
}

static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t len = strlen(name);

	if (!strcmp(argv[*i], name)) {
		if (*i + 1 >= argc) {
			fprintf(stderr, "simhost: %s needs a value\n", name);
			exit(2);
		}
		return argv[++*i];
	}
	if (!strncmp(argv[*i], name, len) && argv[*i][len] == '=')
		return argv[*i] + len + 1;
	return NULL;
}

int main(int argc, char **argv)
{
	const char *spec = NULL, *faults = NULL, *logfile = NULL, *v;
	char **fargv = xcalloc((size_t)argc + 4, sizeof(*fargv));
	bool check = false;
	int fargc = 0, r;

	fargv[fargc++] = argv[0];
	fargv[fargc++] = (char *)"-o";
	fargv[fargc++] = (char *)"fsname=simhost,subtype=simhost";
	for (int i = 1; i < argc; i++) {
		if ((v = opt_value(argc, argv, &i, "--spec")))
			spec = v;
		else if ((v = opt_value(argc, argv, &i, "--faults")))
			faults = v;
		else if ((v = opt_value(argc, argv, &i, "--log")))
			logfile = v;
		else if (!strcmp(argv[i], "--check"))
			check = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			free(fargv);
			return 0;
		} else
			fargv[fargc++] = argv[i];
	}
	if (!spec) {
		usage(stderr);
		free(fargv);
		return 2;
	}
	clock_gettime(CLOCK_REALTIME, &g_start);
	for (enum bus b = 0; b < _BUS_MAX; b++)
		S.autoprobe[b] = true;
	if (spec_load(spec) < 0) {
		model_free();
		free(fargv);
		return 1;
	}
	if (check) {
		model_free();
		free(fargv);
		return 0;
	}
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&g_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (faults)
		g_faults_path = absolute(faults);
	if (logfile) {
		char *abs = absolute(logfile);

		g_log = fopen(abs, "ae");
		if (!g_log) {
			fprintf(stderr, "simhost: %s: %s\n", abs, strerror(errno));
			free(abs);
			return 1;
		}
		free(abs);
	}
	build_tree();
	r = serve(fargc, fargv);
	node_free(g_root);
	faults_clear();
	while (g_counters) {
		struct counter *c = g_counters;

		g_counters = c->next;
		free(c->key);
		free(c);
	}
	model_free();
	free(g_faults_path);
	free(fargv);
	if (g_log)
		fclose(g_log);
	pthread_cond_destroy(&g_cond);
	return r;
}
