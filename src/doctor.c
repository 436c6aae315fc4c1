/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `vfiohook doctor VM`: what the GPU passthrough tutorials tell users to get right, checked
 * against the domain XML, kvm.conf and the host, each finding with its fix. Read-only: the
 * domain XML comes from a file or from libvirtd (read-only connection, the inactive
 * definition: what the next start uses), the host through host_* (so --root works).
 *
 * Every finding has a stable id (for scripts and tests: --json) and one of three severities:
 * error (the VM will not start, or the passthrough cannot work), warning (it starts, but
 * something users regularly trip over is wrong: performance, a black screen, a dead device),
 * hint (a recommendation). The ids, by topic:
 *
 *   host:        iommu-off
 *   passthrough: hostdev-missing, hostdev-bridge, hostdev-unmanaged, hostdev-managed,
 *                hostdev-group-incomplete, conf-device-not-in-domain, conf-vm-missing,
 *                conf-uuid-mismatch
 *   machine:     machine-not-q35, firmware-not-uefi
 *   display:     graphics-spice, video-emulated
 *   cpu:         cpu-not-host-passthrough, cpu-topology-mismatch, cpu-topology-missing,
 *                cpu-topology-threads, cpu-amd-topoext
 *   pinning:     vcpupin-missing, vcpupin-offline, vcpupin-shared, vcpupin-not-siblings,
 *                emulatorpin-overlap, iothreadpin-overlap, isolation-overlap
 *   windows:     hyperv-missing, hyperv-incomplete, hyperv-vendor-id, kvm-hidden, ioapic-kvm
 *   memory:      hugepages-not-backed, hugepages-not-allocated, hugepages-size-unsupported,
 *                hugepages-memory-unaligned, hugepages-size-conf-mismatch
 *   rom:         rom-missing, rom-header, rom-invalid, rom-mismatch
 *   input:       evdev-missing, qemu-evdev-missing, qemu-evdev-acl, qemu-evdev-native,
 *                input-virtio-missing
 *   audio:       audio-server-missing, audio-server-user
 *   disks:       disk-queues, disk-iothread, disk-iothread-undefined
 *   reset:       amd-reset-bug
 *
 * The XML is parsed as domain.c parses it (domain_parse() first: size bound, no NUL, no
 * DOCTYPE or entities, no network), then once more with the same options for XPath.
 */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "cpuset.h"
#include "dlib.h"
#include "doctor.h"
#include "virt.h"
#include "domain.h"
#include "hook.h"
#include "host.h"
#include "pciaddr.h"
#include "text.h"
#include "vbios.h"

#define NS_QEMU "http://libvirt.org/schemas/domain/qemu/1.0"
#define NS_OSINFO "http://libosinfo.org/xmlns/libvirt/domain/1.0"
#define QEMU_CONF "/etc/libvirt/qemu.conf"
#define QEMU_CONF_MAX (1024 * 1024)
/* Each check keeps its buffers (paths) to itself: inlined together they would not fit one frame. */
#define _noinline_ __attribute__((noinline))

enum severity { SEV_HINT, SEV_WARNING, SEV_ERROR };
static const char *const severity_names[] = { "hint", "warning", "error" };

struct finding {
	enum severity sev;
	const char *id;
	char *message, *why, *fix;
};

struct hostdev {
	const xmlNode *node;
	char bdf[PCI_ADDR_STRLEN];
	bool managed, exists, in_conf;
	unsigned long class, vendor, device;
	char group[32];  /* empty: none */
	char driver[64]; /* empty: none */
};

struct doctor {
	const char *vm_name;
	const struct conf *conf;
	const struct vm_conf *vm; /* NULL: kvm.conf does not configure it */
	const struct domain *dom;
	xmlXPathContextPtr xp;

	struct hostdev *hostdevs;
	size_t n_hostdevs;

	/* the host */
	char cpu_vendor[64];
	char cmdline[4097]; /* COMMAND_LINE_SIZE is at most 4096 */
	size_t n_groups;
	struct cpuset online;
	int smt; /* 1 on, 0 off, -1 not known */

	/* the domain */
	unsigned vcpus;
	bool has_topology;
	unsigned threads;
	struct cpuset vcpu_cpus; /* every host CPU a vCPU is pinned to */

	/* /etc/libvirt/qemu.conf */
	int qemu_conf;       /* 0 read, -ENOENT none (libvirt's defaults), else unreadable: not known */
	char qemu_user[256]; /* empty: not set */
	char **acl;
	size_t n_acl;

	struct finding *findings;
	size_t n_findings;
	bool oom;
};

/* --- small helpers ------------------------------------------------------------------------ */

static char *vstrf(const char *fmt, va_list ap) _printf_(1, 0);
static char *vstrf(const char *fmt, va_list ap)
{
	char *s;

	return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

/* Adds a finding; fix() gives it its fix. NULL when out of memory (remembered in d->oom). */
static struct finding *report(struct doctor *d, enum severity sev, const char *id, const char *why,
			      const char *fmt, ...) _printf_(5, 6);
static struct finding *report(struct doctor *d, enum severity sev, const char *id, const char *why,
			      const char *fmt, ...)
{
	struct finding *v, *f;
	va_list ap;

	v = realloc(d->findings, (d->n_findings + 1) * sizeof(*v));
	if (!v) {
		d->oom = true;
		return NULL;
	}
	d->findings = v;
	f = &v[d->n_findings];
	*f = (struct finding){ .sev = sev, .id = id, .why = strdup(why) };
	va_start(ap, fmt);
	f->message = vstrf(fmt, ap);
	va_end(ap);
	if (!f->message || !f->why) {
		free(f->message);
		free(f->why);
		d->oom = true;
		return NULL;
	}
	d->n_findings++;
	return f;
}

static void fix(struct doctor *d, struct finding *f, const char *fmt, ...) _printf_(3, 4);
static void fix(struct doctor *d, struct finding *f, const char *fmt, ...)
{
	va_list ap;

	if (!f)
		return;
	va_start(ap, fmt);
	free(f->fix);
	f->fix = vstrf(fmt, ap);
	va_end(ap);
	if (!f->fix)
		d->oom = true;
}

/* Walking libxml2's nodes (XPath gives them) */
static bool xml_is_elem(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && streq((const char *)n->name, name);
}

static const xmlNode *xml_child(const xmlNode *n, const char *name)
{
	for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (xml_is_elem(c, name))
			return c;
	return NULL;
}

/* An attribute's value without allocating (the text child of the attribute node); NULL when
 * absent. */
static const char *xml_attr(const xmlNode *n, const char *name)
{
	for (const xmlAttr *a = n && n->type == XML_ELEMENT_NODE ? n->properties : NULL; a; a = a->next)
		if (streq((const char *)a->name, name))
			return a->children && a->children->content ? (const char *)a->children->content
								     : "";
	return NULL;
}

/* The value of an attribute node, or the text of an element that is one text node. */
static const char *value(const xmlNode *n)
{
	if (!n)
		return NULL;
	if (n->type == XML_ATTRIBUTE_NODE)
		return n->children && n->children->content ? (const char *)n->children->content : "";
	if (!n->children || n->children->next || n->children->type != XML_TEXT_NODE)
		return NULL;
	return (const char *)n->children->content;
}

static bool attr_is(const xmlNode *n, const char *name, const char *want)
{
	const char *v = xml_attr(n, name);

	return v && streq(v, want);
}

/* The nodes expr selects, in document order, in a new array (free()); 0 when none. */
static size_t xp_all(struct doctor *d, const char *expr, const xmlNode ***ret)
{
	xmlXPathObjectPtr o = sym_xmlXPathEvalExpression((const xmlChar *)expr, d->xp);
	const xmlNode **v = NULL;
	size_t n = 0;

	if (o && o->type == XPATH_NODESET && o->nodesetval && o->nodesetval->nodeNr > 0) {
		v = calloc((size_t)o->nodesetval->nodeNr, sizeof(*v));
		if (v) {
			n = (size_t)o->nodesetval->nodeNr;
			for (size_t i = 0; i < n; i++)
				v[i] = o->nodesetval->nodeTab[i];
		} else
			d->oom = true;
	}
	if (o)
		sym_xmlXPathFreeObject(o);
	*ret = v;
	return n;
}

static const xmlNode *xp_first(struct doctor *d, const char *expr)
{
	const xmlNode **v, *n;

	if (xp_all(d, expr, &v) == 0)
		return NULL;
	n = v[0];
	free(v);
	return n;
}

static const char *xp_value(struct doctor *d, const char *expr)
{
	return value(xp_first(d, expr));
}

/* A decimal number of an attribute or element; def when absent, -1 when not a number. */
static long number(const char *s, long def)
{
	char *end;
	long v;

	if (!s)
		return def;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return -1;
	return v;
}

static bool starts_with(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Does the kernel command line have this word (a parameter with its value)? */
static bool has_word(const char *cmdline, const char *word)
{
	size_t l = strlen(word);

	for (const char *p = cmdline; (p = strstr(p, word)); p += l)
		if ((p == cmdline || isspace((unsigned char)p[-1])) && (!p[l] || isspace((unsigned char)p[l])))
			return true;
	return false;
}

static unsigned long read_hex(const char *bdf, const char *name)
{
	char buf[32];

	if (host_read(buf, sizeof(buf), "/sys/bus/pci/devices/%s/%s", bdf, name) < 0)
		return 0;
	return strtoul(buf, NULL, 16);
}

static bool is_stub_driver(const char *drv)
{
	return !drv[0] || streq(drv, "vfio-pci") || streq(drv, "pci-stub");
}

/* The <hostdev> element that passes bdf, on one line. */
static void hostdev_xml(const char *bdf, bool managed, char *buf, size_t size)
{
	struct pci_addr a = { 0 };

	(void)pci_addr_parse(bdf, &a);
	snprintf(buf, size,
		 "<hostdev mode='subsystem' type='pci' managed='%s'><source><address domain='0x%04x' bus='0x%02x' "
		 "slot='0x%02x' function='0x%x'/></source></hostdev>",
		 managed ? "yes" : "no", a.domain, a.bus, a.slot, a.function);
}

static void format_cpus(const struct cpuset *s, char *buf, size_t size)
{
	cpuset_format(s, buf, size);
	if (!buf[0])
		snprintf(buf, size, "(none)");
}

/* kvm.conf's page size words: "2M", "1G"; else the size in KiB. */
static void page_size_name(uint64_t kib, char *buf, size_t size)
{
	if (kib == 2048)
		snprintf(buf, size, "2M");
	else if (kib == 1048576)
		snprintf(buf, size, "1G");
	else
		snprintf(buf, size, "%llu KiB", (unsigned long long)kib);
}

static uint64_t meminfo_kib(const char *key)
{
	_cleanup_free_ char *buf = NULL;
	const char *p;

	if (host_read_all(&buf, 1024 * 1024, "/proc/meminfo") < 0 || !(p = strstr(buf, key)))
		return 0;
	return strtoull(p + strlen(key), NULL, 10);
}

/* --- the host ----------------------------------------------------------------------------- */

/* CPU n's SMT siblings (itself included); -errno when the kernel does not say. */
static int siblings(unsigned cpu, struct cpuset *ret)
{
	char buf[256];
	int r = host_read(buf, sizeof(buf), "/sys/devices/system/cpu/cpu%u/topology/thread_siblings_list", cpu);

	if (r < 0)
		return r;
	return cpuset_parse(buf, ret);
}

static bool amd_host(const struct doctor *d)
{
	return streq(d->cpu_vendor, "AuthenticAMD") || streq(d->cpu_vendor, "HygonGenuine");
}

static _noinline_ void load_host(struct doctor *d)
{
	char buf[1024], **groups = NULL;
	size_t n = 0;

	host_cpuinfo_field("vendor_id", d->cpu_vendor, sizeof(d->cpu_vendor));
	if (host_read(d->cmdline, sizeof(d->cmdline), "/proc/cmdline") < 0)
		d->cmdline[0] = '\0';
	(void)host_dir_list(&groups, &n, "/sys/kernel/iommu_groups");
	strv_free(groups, n);
	d->n_groups = n;
	if (host_read(buf, sizeof(buf), "/sys/devices/system/cpu/online") < 0 ||
	    cpuset_parse(buf, &d->online) < 0)
		memset(&d->online, 0, sizeof(d->online));

	/* SMT: the kernel's switch when it has one, else any core with more than one thread */
	d->smt = -1;
	if (host_read(buf, sizeof(buf), "/sys/devices/system/cpu/smt/active") >= 0)
		d->smt = streq(buf, "1");
	else
		for (unsigned c = 0; c < CPUSET_MAX; c++) {
			struct cpuset s;

			if (!cpuset_has(&d->online, c) || siblings(c, &s) < 0)
				continue;
			if (d->smt < 0)
				d->smt = 0;
			if (cpuset_count(&s) > 1) {
				d->smt = 1;
				break;
			}
		}
}

/* /etc/libvirt/qemu.conf: `user` and `cgroup_device_acl` (libvirt's virconf syntax). */
static _noinline_ void load_qemu_conf(struct doctor *d)
{
	char path[PATH_MAX], key[64] = "";
	_cleanup_free_ char *text = NULL;
	enum { KEY, EQ, VALUE, LIST } state = KEY;
	const char *p;

	d->qemu_conf = host_path(path, sizeof(path), QEMU_CONF);
	if (d->qemu_conf >= 0)
		d->qemu_conf = host_read_file(path, QEMU_CONF_MAX, &text);
	if (d->qemu_conf < 0)
		return;
	d->qemu_conf = 0;
	for (p = text; *p;) {
		if (isspace((unsigned char)*p) || *p == ',' || *p == ';') {
			p++;
		} else if (*p == '#') {
			p += strcspn(p, "\n");
		} else if (*p == '"' || *p == '\'') {
			char q = *p++;
			size_t l = strcspn(p, q == '"' ? "\"\n" : "'\n");
			_cleanup_free_ char *s = strndup(p, l);

			p += l;
			if (*p == q)
				p++;
			if (!s) {
				d->oom = true;
				return;
			}
			if (state == VALUE && streq(key, "user"))
				snprintf(d->qemu_user, sizeof(d->qemu_user), "%s", s);
			if (state == LIST && streq(key, "cgroup_device_acl")) {
				char **v = realloc(d->acl, (d->n_acl + 1) * sizeof(*v));
				if (!v) {
					d->oom = true;
					return;
				}
				d->acl = v;
				d->acl[d->n_acl++] = TAKE_PTR(s);
			}
			if (state == VALUE)
				state = KEY;
		} else if (*p == '=') {
			state = state == EQ ? VALUE : KEY;
			p++;
		} else if (*p == '[') {
			if (state == VALUE)
				state = LIST;
			p++;
		} else if (*p == ']') {
			state = KEY;
			p++;
		} else {
			size_t l = strcspn(p, " \t\r\n=[],;#\"'");
			if (l == 0)
				l = 1;
			if (state == KEY || state == EQ) {
				snprintf(key, sizeof(key), "%.*s", (int)MIN(l, sizeof(key) - 1), p);
				state = EQ;
			} else if (state == VALUE)
				state = KEY; /* a number or a bare word */
			p += l;
		}
	}
}

/* A user of the host's /etc/passwd (under --root: ROOT/etc/passwd): by name or by uid. */
static bool passwd_lookup(const char *name, uid_t *uid, char *ret_name, size_t size)
{
	char path[PATH_MAX];
	_cleanup_free_ char *text = NULL;

	if (host_path(path, sizeof(path), "/etc/passwd") < 0 || host_read_file(path, QEMU_CONF_MAX, &text) < 0)
		return false;
	for (char *line = text, *next; line && *line; line = next) {
		char *f[4] = { 0 };
		size_t i = 0;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		for (char *s = line; s && i < 4; i++) {
			f[i] = s;
			s = strchr(s, ':');
			if (s)
				*s++ = '\0';
		}
		if (i < 4 || !f[2])
			continue;
		if (name ? streq(f[0], name) : (uid_t)strtoul(f[2], NULL, 10) == *uid) {
			*uid = (uid_t)strtoul(f[2], NULL, 10);
			if (ret_name)
				snprintf(ret_name, size, "%s", f[0]);
			return true;
		}
	}
	return false;
}

/* --- the domain's PCI devices ------------------------------------------------------------- */

static bool conf_lists(const struct doctor *d, const char *bdf)
{
	char b[PCI_ADDR_STRLEN];

	if (!d->vm)
		return false;
	if (d->vm->pci_from_hostdev) {
		for (size_t i = 0; i < d->n_hostdevs; i++)
			if (streq(d->hostdevs[i].bdf, bdf))
				return true;
		return false;
	}
	for (size_t i = 0; i < d->vm->n_pci; i++) {
		pci_addr_format(&d->vm->pci[i], b);
		if (streq(b, bdf))
			return true;
	}
	return false;
}

static const struct hostdev *find_hostdev(const struct doctor *d, const char *bdf)
{
	for (size_t i = 0; i < d->n_hostdevs; i++)
		if (streq(d->hostdevs[i].bdf, bdf))
			return &d->hostdevs[i];
	return NULL;
}

static _noinline_ void load_hostdevs(struct doctor *d)
{
	const xmlNode **v;
	size_t n = xp_all(d, "/domain/devices/hostdev[@type='pci' and (not(@mode) or @mode='subsystem')]", &v);

	d->hostdevs = calloc(n ? n : 1, sizeof(*d->hostdevs));
	if (!d->hostdevs) {
		d->oom = true;
		free(v);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const xmlNode *a = xml_child(xml_child(v[i], "source"), "address");
		struct hostdev *h = &d->hostdevs[d->n_hostdevs];
		struct pci_addr addr;

		if (!a || pci_addr_from_xml(xml_attr(a, "domain"), xml_attr(a, "bus"), xml_attr(a, "slot"), xml_attr(a, "function"),
					    &addr) < 0)
			continue; /* domain_parse() refused that already */
		h->node = v[i];
		pci_addr_format(&addr, h->bdf);
		h->managed = attr_is(v[i], "managed", "yes");
		h->exists = host_exists("/sys/bus/pci/devices/%s", h->bdf);
		if (h->exists) {
			h->class = read_hex(h->bdf, "class");
			h->vendor = read_hex(h->bdf, "vendor");
			h->device = read_hex(h->bdf, "device");
			if (host_link_name(h->group, sizeof(h->group), "/sys/bus/pci/devices/%s/iommu_group", h->bdf) < 0)
				h->group[0] = '\0';
			if (host_link_name(h->driver, sizeof(h->driver), "/sys/bus/pci/devices/%s/driver", h->bdf) < 0)
				h->driver[0] = '\0';
		}
		d->n_hostdevs++;
	}
	for (size_t i = 0; i < d->n_hostdevs; i++)
		d->hostdevs[i].in_conf = conf_lists(d, d->hostdevs[i].bdf);
	free(v);
}

static bool is_gpu(const struct hostdev *h)
{
	return h->exists && h->class >> 16 == 0x03;
}

static bool has_gpu(const struct doctor *d, unsigned long vendor)
{
	for (size_t i = 0; i < d->n_hostdevs; i++)
		if (is_gpu(&d->hostdevs[i]) && (!vendor || d->hostdevs[i].vendor == vendor))
			return true;
	return false;
}

/* --- checks ------------------------------------------------------------------------------- */

static _noinline_ void check_iommu(struct doctor *d)
{
	static const char *const offs[] = { "intel_iommu=off", "amd_iommu=off", "iommu=off" };
	bool intel = streq(d->cpu_vendor, "GenuineIntel"), amd = amd_host(d);
	const char *param = intel ? "intel_iommu=on" : amd ? "amd_iommu=on" : NULL;
	const char *firmware = intel ? "VT-d" : amd ? "the IOMMU (AMD-Vi)" : "VT-d (Intel) or AMD-Vi (AMD)";
	const char *off = NULL;
	struct finding *f;

	if (d->n_groups)
		return;
	for (size_t i = 0; i < ELEMENTSOF(offs); i++)
		if (has_word(d->cmdline, offs[i]))
			off = offs[i];
	f = report(d, SEV_ERROR, "iommu-off",
		   "Without an IOMMU no device can be given to a VM: vfio-pci needs the device's IOMMU group.",
		   "the IOMMU is off: /sys/kernel/iommu_groups is empty%s%s%s", off ? " (the kernel command line has " : "",
		   off ? off : "", off ? ")" : "");
	if (off)
		fix(d, f, "remove %s from the kernel command line%s%s (GRUB_CMDLINE_LINUX in /etc/default/grub, then "
			  "update-grub), turn on %s in the firmware setup, and reboot",
		    off, param ? " and add " : "", param ? param : "", firmware);
	else if (param && has_word(d->cmdline, param))
		fix(d, f, "turn on %s in the firmware setup and reboot (the kernel command line has %s already)", firmware,
		    param);
	else
		fix(d, f, "add %s iommu=pt to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then "
			  "update-grub), turn on %s in the firmware setup, and reboot",
		    param ? param : "intel_iommu=on (Intel) or amd_iommu=on (AMD) and", firmware);
}

static _noinline_ void check_group(struct doctor *d, const struct hostdev *h, char ***reported, size_t *n_reported)
{
	char **members = NULL;
	size_t n = 0;

	if (host_dir_list(&members, &n, "/sys/kernel/iommu_groups/%s/devices", h->group) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *m = members[i];
		char drv[64] = "", xml[512];
		bool seen = false;
		struct finding *f;
		char **v;

		if (find_hostdev(d, m) || read_hex(m, "class") >> 16 == 0x06 || conf_lists(d, m))
			continue;
		if (host_link_name(drv, sizeof(drv), "/sys/bus/pci/devices/%s/driver", m) < 0)
			drv[0] = '\0';
		if (is_stub_driver(drv))
			continue;
		for (size_t j = 0; j < *n_reported; j++)
			seen |= streq((*reported)[j], m);
		if (seen)
			continue;
		v = realloc(*reported, (*n_reported + 1) * sizeof(*v));
		if (!v || !(v[*n_reported] = strdup(m))) {
			if (v)
				*reported = v;
			d->oom = true;
			break;
		}
		*reported = v;
		(*n_reported)++;
		hostdev_xml(m, !d->vm, xml, sizeof(xml));
		f = report(d, SEV_ERROR, "hostdev-group-incomplete",
			   "A VM gets a whole IOMMU group or none: QEMU refuses to start while another device of the "
			   "group has a host driver.",
			   "%s (driver %s) is in IOMMU group %s with %s, but is not passed to %s", m, drv, h->group,
			   h->bdf, d->vm_name);
		if (d->vm && !d->vm->pci_from_hostdev)
			fix(d, f, "add %s to <devices>, and \"%s\" to pci.devices of %s in kvm.conf", xml, m, d->vm_name);
		else
			fix(d, f, "add %s to <devices>", xml);
	}
	strv_free(members, n);
}

static _noinline_ void check_passthrough(struct doctor *d)
{
	char **reported = NULL, xml[512];
	size_t n_reported = 0;
	struct finding *f;

	for (size_t i = 0; i < d->n_hostdevs; i++) {
		const struct hostdev *h = &d->hostdevs[i];

		if (!h->exists) {
			f = report(d, SEV_ERROR, "hostdev-missing", "QEMU cannot start with a device the host does not have.",
				   "the <hostdev> %s does not exist on this host", h->bdf);
			fix(d, f, "remove the <hostdev> of %s, or correct its <source><address> (lspci -D lists the "
				  "host's devices)",
			    h->bdf);
			continue;
		}
		if (h->class >> 16 == 0x06) {
			f = report(d, SEV_ERROR, "hostdev-bridge",
				   "Bridges stay with the host: vfio-pci does not take them, and the VM does not need them.",
				   "the <hostdev> %s is a PCI bridge", h->bdf);
			fix(d, f, "remove the <hostdev> of %s%s", h->bdf,
			    h->in_conf && !d->vm->pci_from_hostdev ? " and its entry in pci.devices of kvm.conf" : "");
			continue;
		}
		if (h->in_conf && h->managed) {
			f = report(d, SEV_HINT, "hostdev-managed",
				   "With managed='yes' libvirt detaches the device itself and gives it back when the VM "
				   "stops, racing vfiohook, which already does both in order (after the display stack).",
				   "%s is managed='yes', and kvm.conf has vfiohook move it too", h->bdf);
			fix(d, f, "managed='no' on the <hostdev> of %s (or remove it from pci.devices of %s in kvm.conf)",
			    h->bdf, d->vm_name);
		}
		if (!h->in_conf && !h->managed && !is_stub_driver(h->driver)) {
			f = report(d, SEV_ERROR, "hostdev-unmanaged",
				   "QEMU can only open a device bound to vfio-pci, and with managed='no' libvirt leaves "
				   "the binding to someone else.",
				   "%s is managed='no' and bound to %s, and kvm.conf does not have vfiohook move it",
				   h->bdf, h->driver);
			if (d->vm && !d->vm->pci_from_hostdev)
				fix(d, f, "add \"%s\" to pci.devices of %s in kvm.conf", h->bdf, d->vm_name);
			else
				fix(d, f, "configure %s in kvm.conf: vm = ( { name = \"%s\"; pci = { devices = \"hostdev\"; "
					  "}; } ); (or managed='yes' on the <hostdev>)",
				    d->vm_name, d->vm_name);
		}
	}
	if (d->vm && !d->vm->pci_from_hostdev)
		for (size_t i = 0; i < d->vm->n_pci; i++) {
			char bdf[PCI_ADDR_STRLEN];

			pci_addr_format(&d->vm->pci[i], bdf);
			if (find_hostdev(d, bdf))
				continue;
			hostdev_xml(bdf, false, xml, sizeof(xml));
			f = report(d, SEV_WARNING, "conf-device-not-in-domain",
				   "vfiohook takes the device from the host at every start, and the VM never sees it.",
				   "kvm.conf gives %s to %s, but the domain has no <hostdev> for it", bdf, d->vm_name);
			fix(d, f, "add %s to <devices>, or remove \"%s\" from pci.devices of %s in kvm.conf", xml, bdf,
			    d->vm_name);
		}
	if (!d->vm && d->n_hostdevs) {
		f = report(d, SEV_HINT, "conf-vm-missing",
			   "Only a VM of kvm.conf gets its devices moved, its console, display manager and GPU "
			   "modules released, and everything given back in order when it stops.",
			   "kvm.conf does not configure %s: vfiohook leaves it alone", d->vm_name);
		fix(d, f, "vm = ( { name = \"%s\"; pci = { devices = \"hostdev\"; }; } ); in kvm.conf, and managed='no' "
			  "on its <hostdev>s",
		    d->vm_name);
	}
	if (d->vm && d->vm->uuid[0] && d->dom->uuid[0] && !streq(d->vm->uuid, d->dom->uuid)) {
		f = report(d, SEV_WARNING, "conf-uuid-mismatch",
			   "vfiohook manages a VM only when both its name and the UUID kvm.conf gives match.",
			   "kvm.conf gives %s the UUID %s, but the domain's is %s", d->vm_name, d->vm->uuid, d->dom->uuid);
		fix(d, f, "uuid = \"%s\"; for %s in kvm.conf (or remove the uuid line)", d->dom->uuid, d->vm_name);
	}
	/* the groups: only when there are any (iommu-off says why there are none) */
	for (size_t i = 0; d->n_groups && i < d->n_hostdevs; i++) {
		const struct hostdev *h = &d->hostdevs[i];

		if (h->exists && h->group[0] && h->class >> 16 != 0x06)
			check_group(d, h, &reported, &n_reported);
	}
	strv_free(reported, n_reported);
}

static _noinline_ void check_machine(struct doctor *d)
{
	const char *machine = xp_value(d, "/domain/os/type/@machine"), *firmware = xp_value(d, "/domain/os/@firmware");
	struct finding *f;

	if (!machine || !strstr(machine, "q35")) {
		if (machine)
			f = report(d, SEV_WARNING, "machine-not-q35",
				   "i440fx has no PCI Express: the GPU sits on a plain PCI bus, and drivers that expect "
				   "PCIe link and port features misbehave.",
				   "the machine type is \"%s\", not q35", machine);
		else
			f = report(d, SEV_WARNING, "machine-not-q35",
				   "i440fx has no PCI Express: the GPU sits on a plain PCI bus, and drivers that expect "
				   "PCIe link and port features misbehave.",
				   "the domain names no machine type (QEMU's default is i440fx), not q35");
		fix(d, f, "<type arch='x86_64' machine='q35'>hvm</type> in <os> (for a new domain: virt-install "
			  "--machine q35; an existing one needs its controllers and addresses redone)");
	}
	if (!(firmware && streq(firmware, "efi")) && !xp_first(d, "/domain/os/loader[@type='pflash']")) {
		f = report(d, SEV_WARNING, "firmware-not-uefi",
			   "Modern GPUs' ROMs and Windows 11 expect UEFI; SeaBIOS needs a legacy VGA ROM and VGA "
			   "arbitration on the host.",
			   "the domain boots with BIOS (SeaBIOS), not UEFI");
		fix(d, f, "<os firmware='efi'> (OVMF; for a new domain: virt-install --boot uefi)");
	}
}

static _noinline_ void check_display(struct doctor *d)
{
	const xmlNode **videos;
	size_t n;
	char types[256] = "";
	struct finding *f;

	if (!has_gpu(d, 0))
		return;
	if (xp_first(d, "/domain/devices/graphics[@type='spice']")) {
		f = report(d, SEV_HINT, "graphics-spice",
			   "With a real GPU the guest's screen is the monitor on the GPU; a SPICE display only adds a "
			   "second, emulated screen and input path.",
			   "the domain has a GPU and still a <graphics type='spice'> display");
		fix(d, f, "remove <graphics type='spice'> (and the spicevmc <channel>, <redirdev> and <audio type='spice'> "
			  "with it)");
	}
	n = xp_all(d, "/domain/devices/video", &videos);
	for (size_t i = 0; i < n; i++) {
		const char *t = xml_attr(xml_child(videos[i], "model"), "type");
		size_t l = strlen(types);

		if (t && streq(t, "none"))
			continue;
		snprintf(types + l, sizeof(types) - l, "%s%s", l ? ", " : "", t ? t : "(default)");
	}
	free(videos);
	if (types[0]) {
		f = report(d, SEV_WARNING, "video-emulated",
			   "The guest gets a second, emulated display adapter: Windows may keep it as the primary "
			   "display, and the GPU's monitor stays black or becomes the second screen.",
			   "the domain has a GPU and still an emulated video device (%s)", types);
		fix(d, f, "<video><model type='none'/></video> instead");
	}
}

/* The topology to suggest for the vCPUs: SMT pairs when the host has SMT. */
static void suggest_topology(const struct doctor *d, char *buf, size_t size)
{
	unsigned t = d->smt == 1 && d->vcpus % 2 == 0 ? 2 : 1;

	snprintf(buf, size, "<topology sockets='1' dies='1' cores='%u' threads='%u'/>", d->vcpus / t, t);
}

static _noinline_ void check_cpu(struct doctor *d)
{
	const char *mode = xp_value(d, "/domain/cpu/@mode");
	const xmlNode *topo = xp_first(d, "/domain/cpu/topology"), *feat;
	long vcpus = number(xp_value(d, "/domain/vcpu"), 1);
	char topology[128];
	struct finding *f;

	d->vcpus = vcpus > 0 && vcpus < 4096 ? (unsigned)vcpus : 1;
	if (!mode || !streq(mode, "host-passthrough")) {
		const char *why = "Other modes give the guest a CPU model that hides features and the cache layout of the "
				  "host's CPU; a passthrough VM cannot migrate anyway.";
		if (mode)
			f = report(d, SEV_WARNING, "cpu-not-host-passthrough", why, "<cpu mode='%s'> is not host-passthrough",
				   mode);
		else
			f = report(d, SEV_WARNING, "cpu-not-host-passthrough", why,
				   "the domain has no <cpu mode=...>: the guest gets QEMU's generic CPU model");
		fix(d, f, "<cpu mode='host-passthrough' check='none' migratable='on'>");
	}
	suggest_topology(d, topology, sizeof(topology));
	if (topo) {
		long s = number(xml_attr(topo, "sockets"), 0), di = number(xml_attr(topo, "dies"), 1),
		     cl = number(xml_attr(topo, "clusters"), 1), c = number(xml_attr(topo, "cores"), 0),
		     t = number(xml_attr(topo, "threads"), 0);

		d->has_topology = true;
		d->threads = t > 0 && t < 64 ? (unsigned)t : 1;
		if (s <= 0 || di <= 0 || cl <= 0 || c <= 0 || t <= 0 || s > 4096 || di > 4096 || cl > 4096 || c > 4096 ||
		    t > 4096 || s * di * cl * c * t != (long)d->vcpus) {
			f = report(d, SEV_ERROR, "cpu-topology-mismatch",
				   "libvirt refuses a topology that does not multiply out to the vCPU count.",
				   "<topology> gives sockets %s x dies %s x clusters %s x cores %s x threads %s, but <vcpu> "
				   "is %u",
				   xml_attr(topo, "sockets") ?: "?", xml_attr(topo, "dies") ?: "1", xml_attr(topo, "clusters") ?: "1",
				   xml_attr(topo, "cores") ?: "?", xml_attr(topo, "threads") ?: "?", d->vcpus);
			fix(d, f, "%s", topology);
			d->has_topology = false;
		} else if (d->smt == 1 && t == 1 && d->vcpus >= 2 && d->vcpus % 2 == 0) {
			f = report(d, SEV_HINT, "cpu-topology-threads",
				   "The guest schedules best when its cores are the host's: with SMT, two threads per core "
				   "pinned to the two threads of a host core.",
				   "the host has SMT, but the guest's topology has one thread per core");
			fix(d, f, "%s (and each vCPU pair pinned to the two threads of one host core)", topology);
		} else if (d->smt == 0 && t > 1) {
			f = report(d, SEV_HINT, "cpu-topology-threads",
				   "The guest takes threads of one core to share it, but this host's CPUs are all separate "
				   "cores.",
				   "the guest's topology has %ld threads per core, but the host has no SMT", t);
			fix(d, f, "%s", topology);
		}
	} else if (d->vcpus > 1) {
		f = report(d, SEV_WARNING, "cpu-topology-missing",
			   "Without it every vCPU is a socket of its own; Windows 10 and 11 use 1 socket (Home) or 2 "
			   "(Pro), and the other vCPUs sit idle.",
			   "the domain has %u vCPUs and no <topology>", d->vcpus);
		fix(d, f, "%s in <cpu>", topology);
	}
	if (amd_host(d) && d->has_topology && d->threads > 1) {
		const char *policy;

		feat = xp_first(d, "/domain/cpu/feature[@name='topoext']");
		policy = xml_attr(feat, "policy");
		if (!feat)
			f = report(d, SEV_HINT, "cpu-amd-topoext",
				   "On AMD CPUs the guest learns that two vCPUs are threads of one core from the topoext "
				   "feature; without it Windows sees no SMT.",
				   "the guest has %u threads per core on an AMD host, and <cpu> does not require topoext",
				   d->threads);
		else if (policy && (streq(policy, "disable") || streq(policy, "forbid")))
			f = report(d, SEV_WARNING, "cpu-amd-topoext",
				   "On AMD CPUs the guest learns that two vCPUs are threads of one core from the topoext "
				   "feature; without it Windows sees no SMT.",
				   "the guest has %u threads per core on an AMD host, and <cpu> sets topoext to %s",
				   d->threads, policy);
		else
			f = NULL;
		if (f)
			fix(d, f, "<feature policy='require' name='topoext'/> in <cpu>");
	}
}

/* The host CPUs no vCPU is pinned to: kvm.conf's host_cpus when it names them, else the rest. */
static void free_cpus(const struct doctor *d, char *buf, size_t size)
{
	struct cpuset rest = d->online;

	if (d->vm && d->vm->host_cpus[0] && !streq(d->vm->host_cpus, "auto") &&
	    cpuset_parse(d->vm->host_cpus, &rest) == 0 && !cpuset_intersects(&rest, &d->vcpu_cpus)) {
		cpuset_format(&rest, buf, size);
		return;
	}
	rest = d->online;
	for (size_t w = 0; w < ELEMENTSOF(rest.bits); w++)
		rest.bits[w] &= ~d->vcpu_cpus.bits[w];
	cpuset_format(&rest, buf, size);
}

static _noinline_ void check_pinning(struct doctor *d)
{
	const xmlNode **pins, **io;
	size_t n = xp_all(d, "/domain/cputune/vcpupin", &pins), n_io;
	_cleanup_free_ struct cpuset *sets = calloc(d->vcpus, sizeof(*sets));
	_cleanup_free_ bool *pinned = calloc(d->vcpus, sizeof(*pinned));
	_cleanup_free_ int *owner = NULL;
	struct cpuset missing = { { 0 } }, used = { { 0 } }, emu;
	char a[256], b[256], rest[256];
	struct finding *f;

	if (!sets || !pinned || !(owner = malloc(CPUSET_MAX * sizeof(*owner)))) {
		d->oom = true;
		free(pins);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		long v = number(xml_attr(pins[i], "vcpu"), -1);
		struct cpuset s;

		if (v < 0 || (unsigned long)v >= d->vcpus || cpuset_parse(xml_attr(pins[i], "cpuset") ?: "", &s) < 0)
			continue;
		sets[v] = s;
		pinned[v] = true;
	}
	free(pins);

	for (unsigned v = 0; v < d->vcpus; v++)
		if (!pinned[v])
			cpuset_set(&missing, v);
	if (!cpuset_empty(&missing)) {
		const char *why = "An unpinned vCPU floats over every host CPU, competing with the host and with the "
				  "other vCPUs: stutter under load.";
		format_cpus(&missing, a, sizeof(a));
		if (cpuset_count(&missing) == d->vcpus)
			f = report(d, SEV_WARNING, "vcpupin-missing", why, "no vCPU is pinned (<cputune> has no <vcpupin>)");
		else
			f = report(d, SEV_WARNING, "vcpupin-missing", why, "vCPU%s %s %s not pinned",
				   cpuset_count(&missing) > 1 ? "s" : "", a, cpuset_count(&missing) > 1 ? "are" : "is");
		fix(d, f, "<vcpupin vcpu='N' cpuset='HOST-CPU'/> in <cputune> for vCPU%s %s (vfiohook pin %s prints a "
			  "<cputune> for this host)",
		    cpuset_count(&missing) > 1 ? "s" : "", a, d->vm_name);
	}

	for (unsigned c = 0; c < CPUSET_MAX; c++)
		owner[c] = -1;
	for (unsigned v = 0; v < d->vcpus; v++) {
		struct cpuset off = sets[v];

		if (!pinned[v])
			continue;
		for (size_t w = 0; w < ELEMENTSOF(off.bits); w++) {
			off.bits[w] &= ~d->online.bits[w];
			d->vcpu_cpus.bits[w] |= sets[v].bits[w];
		}
		if (!cpuset_empty(&off) && !cpuset_empty(&d->online)) {
			format_cpus(&off, a, sizeof(a));
			format_cpus(&d->online, b, sizeof(b));
			f = report(d, SEV_ERROR, "vcpupin-offline",
				   "QEMU cannot run a vCPU on a CPU the host does not have (or has offline): the start fails.",
				   "vCPU %u is pinned to host CPU %s, which this host does not have online (online: %s)", v,
				   a, b);
			fix(d, f, "<vcpupin vcpu='%u' cpuset='...'/> with one of the host's CPUs %s", v, b);
		}
		if (cpuset_count(&sets[v]) != 1)
			continue;
		for (unsigned c = 0; c < CPUSET_MAX; c++) {
			if (!cpuset_has(&sets[v], c))
				continue;
			cpuset_set(&used, c);
			if (owner[c] < 0) {
				owner[c] = (int)v;
				continue;
			}
			f = report(d, SEV_WARNING, "vcpupin-shared",
				   "Two vCPUs on one host CPU take turns: each runs at half speed, and the guest does not "
				   "know.",
				   "host CPU %u runs both vCPU %d and vCPU %u", c, owner[c], v);
			fix(d, f, "<vcpupin vcpu='%u' cpuset='...'/> with a host CPU no other vCPU has", v);
		}
	}

	/* vCPUs that are threads of one core to the guest should be threads of one core on the host */
	for (unsigned g = 0; d->smt == 1 && d->has_topology && d->threads > 1 && g + d->threads <= d->vcpus;
	     g += d->threads) {
		unsigned first = CPUSET_MAX;
		struct cpuset sib;

		if (!pinned[g] || cpuset_count(&sets[g]) != 1)
			continue;
		for (unsigned c = 0; c < CPUSET_MAX && first == CPUSET_MAX; c++)
			if (cpuset_has(&sets[g], c))
				first = c;
		if (first == CPUSET_MAX || siblings(first, &sib) < 0)
			continue;
		for (unsigned v = g + 1; v < g + d->threads; v++) {
			unsigned other = CPUSET_MAX, suggest = CPUSET_MAX;

			struct cpuset gone = sets[v];

			for (size_t w = 0; w < ELEMENTSOF(gone.bits); w++)
				gone.bits[w] &= ~d->online.bits[w];
			/* an offline CPU is vcpupin-offline's */
			if (!pinned[v] || cpuset_count(&sets[v]) != 1 || cpuset_intersects(&sets[v], &sib) ||
			    !cpuset_empty(&gone))
				continue;
			for (unsigned c = 0; c < CPUSET_MAX; c++) {
				if (cpuset_has(&sets[v], c) && other == CPUSET_MAX)
					other = c;
				/* a sibling no vCPU has, or the one this vCPU has already */
				if (cpuset_has(&sib, c) && c != first && suggest == CPUSET_MAX && !cpuset_has(&used, c))
					suggest = c;
			}
			format_cpus(&sib, a, sizeof(a));
			f = report(d, SEV_WARNING, "vcpupin-not-siblings",
				   "The guest's scheduler takes the two for threads sharing one core; on two host cores "
				   "its choices go wrong, and the core's cache is not shared.",
				   "vCPUs %u and %u are threads of one core to the guest (threads='%u'), but host CPUs %u "
				   "and %u are not SMT siblings (CPU %u's: %s)",
				   g, v, d->threads, first, other, first, a);
			if (suggest != CPUSET_MAX)
				fix(d, f, "<vcpupin vcpu='%u' cpuset='%u'/> (CPU %u's sibling; vfiohook pin %s prints a whole "
					  "<cputune>)",
				    v, suggest, first, d->vm_name);
			else
				fix(d, f, "pin each vCPU pair to the two threads of one host core (vfiohook pin %s)",
				    d->vm_name);
		}
	}

	free_cpus(d, rest, sizeof(rest));
	if (d->dom->emulatorpin[0] && cpuset_parse(d->dom->emulatorpin, &emu) == 0 &&
	    cpuset_intersects(&emu, &d->vcpu_cpus)) {
		format_cpus(&emu, a, sizeof(a));
		f = report(d, SEV_WARNING, "emulatorpin-overlap",
			   "QEMU's own threads then preempt vCPUs: frame-time spikes in the guest.",
			   "<emulatorpin cpuset='%s'> shares host CPUs with the vCPUs", a);
		fix(d, f, "<emulatorpin cpuset='%s'/>", rest[0] ? rest : "CPUS-NO-VCPU-HAS");
	}
	n_io = xp_all(d, "/domain/cputune/iothreadpin", &io);
	for (size_t i = 0; i < n_io; i++) {
		struct cpuset s;
		const char *id = xml_attr(io[i], "iothread") ?: "?";

		if (cpuset_parse(xml_attr(io[i], "cpuset") ?: "", &s) < 0 || !cpuset_intersects(&s, &d->vcpu_cpus))
			continue;
		format_cpus(&s, a, sizeof(a));
		f = report(d, SEV_WARNING, "iothreadpin-overlap",
			   "The disk I/O thread then preempts vCPUs: frame-time spikes in the guest under disk load.",
			   "<iothreadpin iothread='%s' cpuset='%s'> shares host CPUs with the vCPUs", id, a);
		fix(d, f, "<iothreadpin iothread='%s' cpuset='%s'/>", id, rest[0] ? rest : "CPUS-NO-VCPU-HAS");
	}
	free(io);
	if (d->vm && d->vm->host_cpus[0] && !streq(d->vm->host_cpus, "auto")) {
		struct cpuset h;

		if (cpuset_parse(d->vm->host_cpus, &h) == 0 && cpuset_intersects(&h, &d->vcpu_cpus)) {
			struct cpuset rest_set = d->online;

			for (size_t w = 0; w < ELEMENTSOF(rest_set.bits); w++)
				rest_set.bits[w] &= ~d->vcpu_cpus.bits[w];
			cpuset_format(&rest_set, b, sizeof(b));
			f = report(d, SEV_WARNING, "isolation-overlap",
				   "The host's processes would be confined to CPUs the vCPUs run on: both slow down, and "
				   "the CPUs meant for the host stay idle.",
				   "isolation.host_cpus \"%s\" of kvm.conf shares CPUs with the vCPUs", d->vm->host_cpus);
			if (b[0])
				fix(d, f, "isolation = { host_cpus = \"%s\"; }; for %s in kvm.conf (or \"auto\")", b,
				    d->vm_name);
			else
				fix(d, f, "isolation = { host_cpus = \"auto\"; }; for %s in kvm.conf, and leave the host a "
					  "core no vCPU is pinned to",
				    d->vm_name);
		}
	}
}

static const struct {
	const char *name;
	const char *xml;
} enlightenments[] = {
	{ "relaxed", "<relaxed state='on'/>" },
	{ "vapic", "<vapic state='on'/>" },
	{ "spinlocks", "<spinlocks state='on' retries='8191'/>" },
	{ "vpindex", "<vpindex state='on'/>" },
	{ "runtime", "<runtime state='on'/>" },
	{ "synic", "<synic state='on'/>" },
	{ "stimer", "<stimer state='on'/>" },
	{ "reset", "<reset state='on'/>" },
	{ "frequencies", "<frequencies state='on'/>" },
};

static _noinline_ void check_hyperv(struct doctor *d)
{
	const char *os = xp_value(d, "/domain/metadata/libosinfo:libosinfo/libosinfo:os/@id");
	const xmlNode *hv = xp_first(d, "/domain/features/hyperv");
	bool windows = starts_with(os, "http://microsoft.com/win/") || hv, nvidia = has_gpu(d, 0x10de);
	const char *driver = xp_value(d, "/domain/features/ioapic/@driver");
	char names[256] = "", xml[1024] = "";
	struct finding *f;

	if (!windows)
		return;
	if (!hv) {
		for (size_t i = 0; i < ELEMENTSOF(enlightenments); i++)
			strncat(xml, enlightenments[i].xml, sizeof(xml) - strlen(xml) - 1);
		f = report(d, SEV_WARNING, "hyperv-missing",
			   "Windows runs much slower without the Hyper-V enlightenments: its timers, spinlocks and "
			   "interrupts take emulated paths.",
			   "%s is a Windows guest without <hyperv> enlightenments", d->vm_name);
		fix(d, f, "<hyperv mode='custom'>%s%s</hyperv> in <features>", xml,
		    nvidia ? "<vendor_id state='on' value='randomid'/>" : "");
	} else if (!attr_is(hv, "mode", "passthrough")) {
		for (size_t i = 0; i < ELEMENTSOF(enlightenments); i++) {
			const xmlNode *e = xml_child(hv, enlightenments[i].name);
			bool on = e && attr_is(e, "state", "on");

			bool few = false;

			if (on && streq(enlightenments[i].name, "spinlocks"))
				on = !(few = number(xml_attr(e, "retries"), 0) < 8191);
			if (on)
				continue;
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s%s", names[0] ? ", " : "",
				 enlightenments[i].name, few ? " (with fewer than 8191 retries)" : "");
			strncat(xml, enlightenments[i].xml, sizeof(xml) - strlen(xml) - 1);
		}
		if (names[0]) {
			f = report(d, SEV_HINT, "hyperv-incomplete",
				   "Each enlightenment saves Windows an emulated path (timers, interrupts, spinlocks); "
				   "these are the ones the passthrough guides turn on.",
				   "<hyperv> lacks %s", names);
			fix(d, f, "%s in <hyperv>", xml);
		}
		if (nvidia) {
			const xmlNode *vid = xml_child(hv, "vendor_id");
			const char *val = xml_attr(vid, "value");

			if (!vid || !attr_is(vid, "state", "on") || !val || !*val) {
				f = report(d, SEV_HINT, "hyperv-vendor-id",
					   "NVIDIA drivers before 465 stop with code 43 when they see the hypervisor's "
					   "vendor id; a vendor_id of your own hides it.",
					   "the guest has an NVIDIA GPU and <hyperv> has no <vendor_id state='on'>");
				fix(d, f, "<vendor_id state='on' value='randomid'/> in <hyperv>");
			}
		}
	}
	if (nvidia && !xp_first(d, "/domain/features/kvm/hidden[@state='on']")) {
		f = report(d, SEV_HINT, "kvm-hidden",
			   "NVIDIA drivers before 465 stop with code 43 when they find the KVM signature.",
			   "the guest has an NVIDIA GPU and the KVM signature is not hidden");
		fix(d, f, "<kvm><hidden state='on'/></kvm> in <features>");
	}
	if (!driver || !streq(driver, "kvm")) {
		f = report(d, SEV_HINT, "ioapic-kvm",
			   "With QEMU's userspace IOAPIC (a split IRQ chip) every interrupt of a passed device takes a "
			   "slower path; the in-kernel one is what Windows guests run best with.",
			   "the IOAPIC is %s%s%s, not KVM's", driver ? "\"" : "", driver ? driver : "left to QEMU's default",
			   driver ? "\"" : "");
		fix(d, f, "<ioapic driver='kvm'/> in <features>");
	}
}

static _noinline_ void check_hugepages(struct doctor *d)
{
	bool conf = d->vm && d->vm->hugepages, dom = d->dom->hugepages;
	uint64_t size = d->dom->n_pages ? d->dom->pages[0].size_kib : 0, mem = d->dom->memory_kib;
	char name[32], conf_name[32];
	struct finding *f;

	if (conf && !dom) {
		if (d->vm->hp_pages)
			f = report(d, SEV_WARNING, "hugepages-not-backed",
				   "vfiohook allocates the huge pages at every start, and QEMU never uses them: the "
				   "memory is taken twice.",
				   "kvm.conf allocates %llu huge pages for %s, but the domain has no <memoryBacking><hugepages/>",
				   (unsigned long long)d->vm->hp_pages, d->vm_name);
		else
			f = report(d, SEV_WARNING, "hugepages-not-backed",
				   "Without it the guest's memory comes from normal pages, and vfiohook allocates none "
				   "(pages = \"auto\" follows the domain).",
				   "kvm.conf has hugepages for %s, but the domain has no <memoryBacking><hugepages/>",
				   d->vm_name);
		if (d->vm->hp_size_kib)
			fix(d, f, "<memoryBacking><hugepages><page size='%llu' unit='KiB'/></hugepages></memoryBacking>, or "
				  "remove hugepages from %s in kvm.conf",
			    (unsigned long long)d->vm->hp_size_kib, d->vm_name);
		else
			fix(d, f, "<memoryBacking><hugepages/></memoryBacking>, or remove hugepages from %s in kvm.conf",
			    d->vm_name);
		return;
	}
	if (!dom)
		return;
	if (!size)
		size = conf && d->vm->hp_size_kib ? d->vm->hp_size_kib : meminfo_kib("Hugepagesize:");
	if (!size)
		size = 2048;
	page_size_name(size, name, sizeof(name));
	if (!host_exists("/sys/kernel/mm/hugepages/hugepages-%llukB", (unsigned long long)size)) {
		f = report(d, SEV_ERROR, "hugepages-size-unsupported",
			   "QEMU cannot back memory with a page size the kernel does not offer: the start fails.",
			   "the domain wants %s huge pages, which this host does not have "
			   "(/sys/kernel/mm/hugepages/hugepages-%llukB)",
			   name, (unsigned long long)size);
		fix(d, f, "<page size='2048' unit='KiB'/> in <hugepages> (1 GiB pages need hugepagesz=1G on the kernel "
			  "command line)");
		return;
	}
	if (mem % size) {
		uint64_t up = (mem + size - 1) / size * size;
		f = report(d, SEV_ERROR, "hugepages-memory-unaligned",
			   "Memory backed by huge pages must be a whole number of them; QEMU refuses the rest.",
			   "<memory> is %llu KiB, not a multiple of the %s page size", (unsigned long long)mem, name);
		fix(d, f, "<memory unit='KiB'>%llu</memory> and <currentMemory unit='KiB'>%llu</currentMemory>",
		    (unsigned long long)up, (unsigned long long)up);
	}
	if (conf && d->vm->hp_size_kib && d->vm->hp_size_kib != size) {
		page_size_name(d->vm->hp_size_kib, conf_name, sizeof(conf_name));
		f = report(d, SEV_ERROR, "hugepages-size-conf-mismatch",
			   "vfiohook allocates pages of the size kvm.conf names, and QEMU wants the domain's: the start "
			   "fails for want of them.",
			   "kvm.conf allocates %s pages for %s, but the domain uses %s pages", conf_name, d->vm_name, name);
		fix(d, f, "hugepages = { size = \"auto\"; }; for %s in kvm.conf (the domain's size), or <page size='%llu' "
			  "unit='KiB'/> in <hugepages>",
		    d->vm_name, (unsigned long long)d->vm->hp_size_kib);
	}
	if (!conf) {
		char buf[32];
		uint64_t free_pages = 0, need = (mem + size - 1) / size;

		if (host_read(buf, sizeof(buf), "/sys/kernel/mm/hugepages/hugepages-%llukB/free_hugepages",
			      (unsigned long long)size) >= 0)
			free_pages = strtoull(buf, NULL, 10);
		if (free_pages < need) {
			f = report(d, SEV_WARNING, "hugepages-not-allocated",
				   "QEMU fails to start (cannot allocate memory) when the pool has too few free pages, "
				   "and nothing allocates them.",
				   "the domain needs %llu %s huge pages, the host has %llu free, and kvm.conf allocates none "
				   "for %s",
				   (unsigned long long)need, name, (unsigned long long)free_pages, d->vm_name);
			fix(d, f, "hugepages = { size = \"%s\"; pages = \"auto\"; }; for %s in kvm.conf",
			    size == 2048 || size == 1048576 ? name : "auto", d->vm_name);
		}
	}
}

static _noinline_ void check_roms(struct doctor *d)
{
	for (size_t i = 0; i < d->n_hostdevs; i++) {
		const struct hostdev *h = &d->hostdevs[i];
		const char *file = xml_attr(xml_child(h->node, "rom"), "file");
		_cleanup_free_ char *data = NULL;
		_cleanup_free_ struct vbios_chain *chain = NULL;
		char path[PATH_MAX], why[512];
		struct finding *f;
		size_t off;
		int r;

		if (!file)
			continue;
		if (file[0] != '/' || host_path(path, sizeof(path), "%s", file) < 0) {
			f = report(d, SEV_ERROR, "rom-missing", "QEMU cannot start without the ROM file it is given.",
				   "the ROM file \"%s\" of %s is not an absolute path", file, h->bdf);
			fix(d, f, "<rom file='/usr/share/vgabios/NAME.rom'/> (an absolute path)");
			continue;
		}
		r = host_read_file(path, VBIOS_MAX_SIZE, &data);
		if (r == -ENOENT || r == -EACCES || r == -EPERM || r == -ENOTDIR || r == -ELOOP) {
			f = report(d, SEV_ERROR, "rom-missing", "QEMU cannot start without the ROM file it is given.",
				   "the ROM file %s of %s %s", file, h->bdf,
				   r == -ENOENT || r == -ENOTDIR ? "does not exist" : "cannot be read");
			fix(d, f, "put the GPU's ROM at %s (vfiohook vbios dump %s FILE reads it from the card), or remove "
				  "the <rom file=...> of %s",
			    file, h->bdf, h->bdf);
			continue;
		}
		chain = calloc(1, sizeof(*chain));
		if (!chain) {
			d->oom = true;
			return;
		}
		if (r < 0) {
			f = report(d, SEV_ERROR, "rom-invalid",
				   "A GPU given a ROM that is not one does not initialise in the guest: a black screen.",
				   "the ROM file %s of %s is not a PCI option ROM (%s)", file, h->bdf,
				   r == -EFBIG ? "far too large" : r == -EINVAL ? "not a regular file" : strerror(-r));
			fix(d, f, "a ROM of this GPU at %s (vfiohook vbios dump %s FILE), or no <rom file=...>", file, h->bdf);
			continue;
		}
		if (vbios_parse((const uint8_t *)data, (size_t)r, chain, why, sizeof(why)) < 0) {
			char why2[512];

			if (vbios_find((const uint8_t *)data, (size_t)r, &off, chain, why2, sizeof(why2)) == 0 && off > 0) {
				f = report(d, SEV_ERROR, "rom-header",
					   "The GPU's ROM must start at the first byte; a dump with a header (nvflash, GPU-Z) "
					   "leaves the GPU without a working ROM in the guest: a black screen.",
					   "the ROM file %s of %s has %zu bytes of header before the ROM", file, h->bdf, off);
				fix(d, f, "vfiohook vbios fix %s %s.fixed, then <rom file='%s.fixed'/>", file, file, file);
			} else {
				f = report(d, SEV_ERROR, "rom-invalid",
					   "A GPU given a ROM that is not one does not initialise in the guest: a black screen.",
					   "the ROM file %s of %s is not a valid PCI option ROM: %s", file, h->bdf, why);
				fix(d, f, "a ROM of this GPU at %s (vfiohook vbios dump %s FILE), or no <rom file=...>",
				    file, h->bdf);
			}
			continue;
		}
		if (h->exists &&
		    vbios_match((const uint8_t *)data, chain, (uint16_t)h->vendor, (uint16_t)h->device, why, sizeof(why)) < 0) {
			f = report(d, SEV_ERROR, "rom-mismatch",
				   "A ROM of another card does not initialise this one: a black screen, or a hung guest.",
				   "the ROM file %s is not for %s (%04lx:%04lx): %s", file, h->bdf, h->vendor, h->device, why);
			fix(d, f, "the ROM of this very card at %s (vfiohook vbios dump %s FILE), or no <rom file=...>", file,
			    h->bdf);
		}
	}
}

static bool in_acl(const struct doctor *d, const char *dev)
{
	char real[PATH_MAX];
	bool resolved = host_realpath(real, sizeof(real), "%s", dev) >= 0;

	for (size_t i = 0; i < d->n_acl; i++)
		if (streq(d->acl[i], dev) || (resolved && streq(d->acl[i], real)))
			return true;
	return false;
}

/* The evdev= path of QEMU's -object input-linux,...; NULL when it has none. */
static char *input_linux_evdev(const char *obj)
{
	const char *p;

	if (!starts_with(obj, "input-linux,"))
		return NULL;
	for (p = obj; (p = strstr(p, "evdev=")); p++)
		if (p[-1] == ',')
			return strndup(p + 6, strcspn(p + 6, ","));
	return NULL;
}

static _noinline_ void check_inputs(struct doctor *d)
{
	const xmlNode **v, **args;
	size_t n = xp_all(d, "/domain/devices/input[@type='evdev']", &v), n_args, evdevs = n;
	bool kbd, mouse;
	struct finding *f;

	for (size_t i = 0; i < n; i++) {
		const char *dev = xml_attr(xml_child(v[i], "source"), "dev");

		if (!dev || host_exists("%s", dev))
			continue;
		f = report(d, SEV_ERROR, "evdev-missing", "QEMU cannot start with an input device that is not there.",
			   "the <input type='evdev'> device %s does not exist", dev);
		fix(d, f, "<source dev='/dev/input/by-id/NAME'/> with a NAME of ls /dev/input/by-id (the *-event-kbd and "
			  "*-event-mouse ones)");
	}
	free(v);

	n_args = xp_all(d, "/domain/qemu:commandline/qemu:arg/@value", &args);
	for (size_t i = 0; i + 1 < n_args; i++) {
		_cleanup_free_ char *dev = NULL;
		const char *a = value(args[i]);

		if (!a || !streq(a, "-object") || !(dev = input_linux_evdev(value(args[i + 1]))))
			continue;
		evdevs++;
		if (!host_exists("%s", dev)) {
			f = report(d, SEV_ERROR, "qemu-evdev-missing",
				   "QEMU cannot start with an input device that is not there.",
				   "the qemu:commandline input-linux device %s does not exist", dev);
			fix(d, f, "evdev=/dev/input/by-id/NAME with a NAME of ls /dev/input/by-id (the *-event-kbd and "
				  "*-event-mouse ones)");
		} else if ((d->qemu_conf == 0 || d->qemu_conf == -ENOENT) && !in_acl(d, dev)) {
			/* (a qemu.conf this user cannot read says nothing: not a finding) */
			f = report(d, SEV_ERROR, "qemu-evdev-acl",
				   "libvirt lets QEMU open only the devices of cgroup_device_acl: the start fails with "
				   "\"Operation not permitted\".",
				   "the qemu:commandline input-linux device %s is not in cgroup_device_acl of %s", dev,
				   QEMU_CONF);
			fix(d, f, "cgroup_device_acl = [ \"/dev/null\", \"/dev/full\", \"/dev/zero\", \"/dev/random\", "
				  "\"/dev/urandom\", \"/dev/ptmx\", \"/dev/kvm\", \"%s\" ] in %s, then restart virtqemud "
				  "(or use <input type='evdev'>, which needs none of this)",
			    dev, QEMU_CONF);
		}
		f = report(d, SEV_HINT, "qemu-evdev-native",
			   "libvirt (7.4 and later) passes evdev devices itself: no qemu:commandline, no "
			   "cgroup_device_acl, and the device is checked when the domain is defined.",
			   "%s is passed with a qemu:commandline -object input-linux", dev);
		fix(d, f, "<input type='evdev'><source dev='%s'%s/></input> in <devices> instead", dev,
		    strstr(dev, "kbd") ? " grab='all' repeat='on' grabToggle='ctrl-ctrl'" : "");
	}
	free(args);

	if (!evdevs)
		return;
	kbd = xp_first(d, "/domain/devices/input[@type='keyboard' and @bus='virtio']");
	mouse = xp_first(d, "/domain/devices/input[@type='mouse' and @bus='virtio']");
	if (!kbd || !mouse) {
		f = report(d, SEV_HINT, "input-virtio-missing",
			   "Evdev input reaches the guest through its emulated keyboard and mouse; virtio ones (with the "
			   "guest's virtio-input driver) have less latency and no PS/2 limits.",
			   "the domain passes evdev input but has no virtio %s", !kbd && !mouse ? "keyboard or mouse"
												: !kbd ? "keyboard" : "mouse");
		fix(d, f, "%s%s in <devices>", !mouse ? "<input type='mouse' bus='virtio'/>" : "",
		    !kbd ? "<input type='keyboard' bus='virtio'/>" : "");
	}
}

/* One audio server socket the domain names: where it was named, and the path. */
static _noinline_ void check_socket(struct doctor *d, const char *where, const char *server)
{
	char path[PATH_MAX], user_name[320] = "", owner_name[256] = "";
	uid_t qemu_uid = 0, owner;
	bool user_known = true;
	struct finding *f;
	struct stat st;
	int r;

	if (starts_with(server, "unix:"))
		server += 5;
	if (server[0] != '/' || host_path(path, sizeof(path), "%s", server) < 0)
		return; /* a network server: nothing to check here */
	r = stat(path, &st) < 0 ? negative_errno() : 0;
	if (r < 0 || !S_ISSOCK(st.st_mode)) {
		f = report(d, SEV_WARNING, "audio-server-missing",
			   "QEMU's audio backend cannot connect: the guest has no sound, or QEMU refuses to start.",
			   "the audio server socket %s (%s) %s", server, where,
			   r == -ENOENT || r == -ENOTDIR ? "does not exist (is the user's PulseAudio or PipeWire running?)"
			   : r < 0 ? "cannot be reached" : "is not a socket");
		fix(d, f, "the socket of the desktop user's session: /run/user/UID/pulse/native (PulseAudio, or "
			  "pipewire-pulse), or <audio type='pipewire' runtimeDir='/run/user/UID'/>");
		return;
	}
	owner = st.st_uid;
	if (d->qemu_conf != 0 && d->qemu_conf != -ENOENT)
		return; /* who QEMU runs as is not known: qemu.conf cannot be read (by this user) */
	if (d->qemu_user[0] == '+')
		qemu_uid = (uid_t)strtoul(d->qemu_user + 1, NULL, 10);
	else if (d->qemu_user[0])
		user_known = passwd_lookup(d->qemu_user, &qemu_uid, NULL, 0);
	if (user_known && qemu_uid == owner)
		return;
	if (!passwd_lookup(NULL, &owner, owner_name, sizeof(owner_name)))
		snprintf(owner_name, sizeof(owner_name), "+%u", (unsigned)owner);
	if (d->qemu_user[0])
		snprintf(user_name, sizeof(user_name), "\"%s\"", d->qemu_user);
	else
		snprintf(user_name, sizeof(user_name), "libvirt's default user (no user in %s)", QEMU_CONF);
	f = report(d, SEV_WARNING, "audio-server-user",
		   "A PulseAudio or PipeWire server takes clients of its own user only: QEMU running as another "
		   "one gets no sound.",
		   "the audio server socket %s (%s) belongs to %s (uid %u), and QEMU runs as %s", server, where,
		   owner_name, (unsigned)owner, user_name);
	fix(d, f, "user = \"%s\" in %s, then restart virtqemud", owner_name, QEMU_CONF);
}

static _noinline_ void check_audio(struct doctor *d)
{
	const xmlNode **v;
	size_t n = xp_all(d, "/domain/devices/audio[@type='pulseaudio']", &v);
	char buf[PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		const char *s = xml_attr(v[i], "serverName");

		if (!s)
			s = xml_attr(xml_child(v[i], "output"), "serverName");
		if (!s)
			s = xml_attr(xml_child(v[i], "input"), "serverName");
		if (s)
			check_socket(d, "<audio type='pulseaudio'>", s);
	}
	free(v);
	n = xp_all(d, "/domain/devices/audio[@type='pipewire']/@runtimeDir", &v);
	for (size_t i = 0; i < n; i++)
		if (value(v[i]) && snprintf(buf, sizeof(buf), "%s/pipewire-0", value(v[i])) < (int)sizeof(buf))
			check_socket(d, "<audio type='pipewire'>", buf);
	free(v);
	n = xp_all(d, "/domain/qemu:commandline/qemu:env[@name='QEMU_PA_SERVER']/@value", &v);
	for (size_t i = 0; i < n; i++)
		if (value(v[i]))
			check_socket(d, "qemu:env QEMU_PA_SERVER", value(v[i]));
	free(v);
	n = xp_all(d, "/domain/qemu:commandline/qemu:arg/@value", &v);
	for (size_t i = 0; i + 1 < n; i++) {
		const char *a = value(v[i]), *b = value(v[i + 1]), *p;

		if (!a || !b || !streq(a, "-audiodev") || !starts_with(b, "pa,"))
			continue;
		for (p = b; (p = strstr(p, ",server=")); p++) {
			snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(p + 8, ","), p + 8);
			check_socket(d, "qemu:commandline -audiodev pa", buf);
			break;
		}
	}
	free(v);
}

static _noinline_ void check_disks(struct doctor *d)
{
	const xmlNode **v;
	size_t n = xp_all(d, "/domain/devices/disk[target/@bus='virtio']", &v);
	long iothreads = number(xp_value(d, "/domain/iothreads"), 0);
	struct finding *f;

	for (size_t i = 0; i < n; i++) {
		const xmlNode *drv = xml_child(v[i], "driver");
		const char *dev = xml_attr(xml_child(v[i], "target"), "dev") ?: "?";
		long queues = number(xml_attr(drv, "queues"), 0), io = number(xml_attr(drv, "iothread"), 0);
		char id[96];

		if (queues > (long)d->vcpus) {
			f = report(d, SEV_WARNING, "disk-queues",
				   "More queues than vCPUs only add interrupts and memory: each vCPU uses one queue.",
				   "virtio disk %s has queues='%ld', more than its %u vCPUs", dev, queues, d->vcpus);
			fix(d, f, "queues='%u' on the <driver> of disk %s (or none: QEMU then takes one per vCPU)", d->vcpus,
			    dev);
		}
		if (!xml_attr(drv, "iothread")) {
			f = report(d, SEV_HINT, "disk-iothread",
				   "Without an I/O thread the disk's requests run in QEMU's main loop, next to everything "
				   "else it emulates: latency spikes under disk load.",
				   "virtio disk %s has no iothread", dev);
			fix(d, f, "%s<driver ... iothread='1'/> on disk %s (and <iothreadpin iothread='1' cpuset='...'/> "
				  "with the host's CPUs)",
			    iothreads > 0 ? "" : "<iothreads>1</iothreads> in <domain>, ", dev);
			continue;
		}
		snprintf(id, sizeof(id), "/domain/iothreadids/iothread[@id='%ld']", io);
		if (io <= 0 || (io > iothreads && !xp_first(d, id))) {
			f = report(d, SEV_ERROR, "disk-iothread-undefined",
				   "libvirt refuses a disk on an I/O thread the domain does not define.",
				   "virtio disk %s uses iothread '%s', but the domain defines %ld", dev, xml_attr(drv, "iothread"),
				   iothreads > 0 ? iothreads : 0);
			fix(d, f, "<iothreads>%ld</iothreads> in <domain>", io > 0 ? io : 1);
		}
	}
	free(v);
}

/*
 * AMD GPUs that cannot reset themselves after a VM stops (the "AMD reset bug"): without
 * vendor-reset's device-specific reset the card stays in a state the next VM start (or amdgpu)
 * cannot use until the host reboots. The ids are those gnif/vendor-reset handles
 * (src/device-db.h, and its udev/99-vendor-reset.rules, which sets reset_method to
 * device_specific on kernels 5.15 and later).
 */
static const struct {
	const char *family;
	uint16_t ids[16];
} amd_reset[] = {
	{ "Polaris 10", { 0x67c0, 0x67c1, 0x67c2, 0x67c4, 0x67c7, 0x67c8, 0x67c9, 0x67ca, 0x67cc, 0x67cf, 0x67d0,
			  0x67df, 0x6fdf } },
	{ "Polaris 11", { 0x67e0, 0x67e1, 0x67e3, 0x67e7, 0x67e8, 0x67e9, 0x67eb, 0x67ef, 0x67ff } },
	{ "Polaris 12", { 0x6980, 0x6981, 0x6985, 0x6986, 0x6987, 0x6995, 0x6997, 0x699f } },
	{ "Vega 10", { 0x6860, 0x6861, 0x6862, 0x6863, 0x6864, 0x6867, 0x6868, 0x6869, 0x686a, 0x686b, 0x686c,
		       0x686d, 0x686e, 0x686f, 0x687f } },
	{ "Vega 20", { 0x66a0, 0x66a1, 0x66a2, 0x66a3, 0x66a4, 0x66a7, 0x66af, 0x738c } },
	{ "Navi 10", { 0x7310, 0x7312, 0x7318, 0x7319, 0x731a, 0x731b, 0x731e, 0x731f, 0x1681 } },
	{ "Navi 12", { 0x7360, 0x7362 } },
	{ "Navi 14", { 0x7340, 0x7341, 0x7347, 0x734f } },
};

static const char *amd_reset_family(unsigned long device)
{
	for (size_t i = 0; i < ELEMENTSOF(amd_reset); i++)
		for (size_t j = 0; j < ELEMENTSOF(amd_reset[i].ids) && amd_reset[i].ids[j]; j++)
			if (amd_reset[i].ids[j] == device)
				return amd_reset[i].family;
	return NULL;
}

static _noinline_ void check_amd_reset(struct doctor *d)
{
	for (size_t i = 0; i < d->n_hostdevs; i++) {
		const struct hostdev *h = &d->hostdevs[i];
		const char *family;
		char methods[256];
		struct finding *f;
		int r;

		if (!is_gpu(h) || h->vendor != 0x1002 || !(family = amd_reset_family(h->device)))
			continue;
		r = host_read(methods, sizeof(methods), "/sys/bus/pci/devices/%s/reset_method", h->bdf);
		if (r >= 0 && strstr(methods, "device_specific"))
			continue;
		if (r < 0 && host_exists("/sys/module/vendor_reset"))
			continue; /* before 5.15 vendor-reset hooks the reset itself */
		f = report(d, SEV_HINT, "amd-reset-bug",
			   "These AMD GPUs do not reset when a VM stops: the next start (or amdgpu on the host) finds the "
			   "card hung until the host reboots.",
			   "%s (%04lx:%04lx, %s) has the AMD reset bug, and its reset_method is %s", h->bdf, h->vendor,
			   h->device, family, r >= 0 ? methods : "not device_specific");
		fix(d, f, "install vendor-reset (DKMS), load it at boot, and echo device_specific > "
			  "/sys/bus/pci/devices/%s/reset_method (its udev rule does that)",
		    h->bdf);
	}
}

/* --- output ------------------------------------------------------------------------------- */

static void print_findings(const struct doctor *d, bool json)
{
	unsigned count[3] = { 0 };

	if (json)
		putchar('[');
	for (size_t i = 0; i < d->n_findings; i++) {
		const struct finding *f = &d->findings[i];

		count[f->sev]++;
		if (json) {
			fputs(i ? ",\n  {" : "\n  {", stdout);
			fputs("\"severity\": ", stdout);
			put_json_str(severity_names[f->sev]);
			fputs(", \"id\": ", stdout);
			put_json_str(f->id);
			fputs(", \"message\": ", stdout);
			put_json_str(f->message);
			fputs(", \"why\": ", stdout);
			put_json_str(f->why);
			fputs(", \"fix\": ", stdout);
			put_json_str(f->fix ? f->fix : "");
			putchar('}');
			continue;
		}
		printf("%s: %s: ", severity_names[f->sev], f->id);
		put_text(f->message);
		fputs(". ", stdout);
		put_text(f->why);
		if (f->fix) {
			fputs(" Fix: ", stdout);
			put_text(f->fix);
		}
		putchar('\n');
	}
	if (json) {
		puts(d->n_findings ? "\n]" : "]");
		return;
	}
	fputs(d->vm_name, stdout);
	if (d->n_findings == 0)
		puts(": no problems found");
	else
		printf(": %u error%s, %u warning%s, %u hint%s\n", count[SEV_ERROR], count[SEV_ERROR] == 1 ? "" : "s",
		       count[SEV_WARNING], count[SEV_WARNING] == 1 ? "" : "s", count[SEV_HINT],
		       count[SEV_HINT] == 1 ? "" : "s");
}

/* --- the command -------------------------------------------------------------------------- */

/* The domain's definition from libvirtd, read-only (what its next start uses). */
static char *fetch_xml(const char *name, char *err, size_t errlen)
{
	char *xml;
	int r = virt_domain_xml(name, VIR_DOMAIN_XML_INACTIVE, &xml);

	if (r >= 0)
		return xml;
	snprintf(err, errlen, "%s",
		 r == -EOPNOTSUPP    ? "libvirt is not installed"
		 : r == -EHOSTUNREACH ? "libvirt (qemu:///system) is not reachable"
		 : r == -ENOENT       ? "libvirt (qemu:///system) knows no domain of that name"
				      : "libvirt gives no XML for the domain");
	return NULL;
}

static void doctor_done(struct doctor *d)
{
	for (size_t i = 0; i < d->n_findings; i++) {
		free(d->findings[i].message);
		free(d->findings[i].why);
		free(d->findings[i].fix);
	}
	free(d->findings);
	free(d->hostdevs);
	strv_free(d->acl, d->n_acl);
	if (d->xp)
		sym_xmlXPathFreeContext(d->xp);
}

static int diagnose(struct doctor *d, const char *xml, size_t len, bool json)
{
	xmlDocPtr doc;
	bool errors = false;

	/* domain_parse() accepted the document (maybe without libxml2): the same options, for
	 * XPath */
	if (dlopen_libxml2() < 0) {
		fprintf(stderr, "vfiohook: doctor needs libxml2 (libxml2.so.2), which is not available\n");
		return EXIT_FAILED;
	}
	doc = sym_xmlReadMemory(xml, (int)len, "domain.xml", "UTF-8",
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc || doc->intSubset || doc->extSubset) {
		if (doc)
			sym_xmlFreeDoc(doc);
		fprintf(stderr, "vfiohook: %s: the domain XML cannot be parsed\n", d->vm_name);
		return EXIT_USAGE;
	}
	d->xp = sym_xmlXPathNewContext(doc);
	if (!d->xp || sym_xmlXPathRegisterNs(d->xp, (const xmlChar *)"qemu", (const xmlChar *)NS_QEMU) < 0 ||
	    sym_xmlXPathRegisterNs(d->xp, (const xmlChar *)"libosinfo", (const xmlChar *)NS_OSINFO) < 0) {
		sym_xmlFreeDoc(doc);
		fprintf(stderr, "vfiohook: out of memory\n");
		return EXIT_FAILED;
	}

	load_host(d);
	load_qemu_conf(d);
	load_hostdevs(d);

	check_iommu(d);
	check_passthrough(d);
	check_machine(d);
	check_display(d);
	check_cpu(d);
	check_pinning(d);
	check_hyperv(d);
	check_hugepages(d);
	check_roms(d);
	check_inputs(d);
	check_audio(d);
	check_disks(d);
	check_amd_reset(d);

	sym_xmlFreeDoc(doc);
	if (d->oom) {
		fprintf(stderr, "vfiohook: out of memory\n");
		return EXIT_FAILED;
	}
	print_findings(d, json);
	for (size_t i = 0; i < d->n_findings; i++)
		errors |= d->findings[i].sev == SEV_ERROR;
	return errors ? EXIT_FAILED : EXIT_OK;
}

int cmd_doctor(const struct options *o)
{
	const char *name = o->args[0];
	_cleanup_free_ struct domain *dom = calloc(1, sizeof(*dom));
	_cleanup_free_ struct doctor *d = calloc(1, sizeof(*d));
	_cleanup_free_ char *xml = NULL;
	size_t len;
	struct conf c = { 0 };
	char err[512];
	int r, ret;

	if (!dom || !d) {
		fprintf(stderr, "vfiohook: out of memory\n");
		return EXIT_FAILED;
	}
	d->vm_name = name;
	if (!vm_name_is_safe(name)) {
		fprintf(stderr, "vfiohook: \"%s\" is not a libvirt domain name\n", name);
		return EXIT_USAGE;
	}
	r = conf_load(o->config_path, o->root != NULL, &c);
	if (r < 0 && r != -ENOENT) {
		for (size_t i = 0; i < c.n_errors; i++)
			fprintf(stderr, "%s\n", c.errors[i]);
		if (c.n_errors == 0)
			fprintf(stderr, "vfiohook: %s: %s\n", o->config_path, strerror(-r));
		conf_done(&c);
		return EXIT_USAGE;
	}
	d->conf = &c;
	d->vm = r == 0 ? conf_find(&c, name) : NULL;

	if (o->xml_file) {
		r = host_read_file(o->xml_file, DOMAIN_XML_MAX + 1, &xml);
		if (r < 0) {
			fprintf(stderr, "vfiohook: %s: cannot read %s: %s\n", name, o->xml_file, strerror(-r));
			conf_done(&c);
			return EXIT_USAGE;
		}
		len = (size_t)r;
	} else if ((xml = fetch_xml(name, err, sizeof(err))))
		len = strlen(xml);
	else {
		fprintf(stderr, "vfiohook: %s: no domain XML: %s (--xml FILE gives it)\n", name, err);
		conf_done(&c);
		return EXIT_USAGE;
	}
	r = domain_parse(xml, len, dom, err, sizeof(err));
	if (r >= 0 && !streq(dom->name, name)) {
		snprintf(err, sizeof(err), "the domain XML describes \"%s\", not \"%s\"", dom->name, name);
		r = -EINVAL;
	}
	if (r < 0) {
		fprintf(stderr, "vfiohook: %s: %s\n", name, err);
		conf_done(&c);
		return EXIT_USAGE;
	}
	d->dom = dom;
	ret = diagnose(d, xml, len, o->json);
	doctor_done(d);
	conf_done(&c);
	return ret;
}
