/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `vfiohook groups`: the IOMMU groups of this host, the tutorials' iommu-groups script made
 * useful for kvm.conf: every device with its class, ids, driver and reset method, the bridges
 * marked (they stay with the host), the groups that hold a GPU, and for each of those the
 * pci.devices line that passes all of the group's endpoints (prepare refuses less). When
 * there are no groups, it says that the IOMMU is off and what turns it on for this CPU.
 *
 * Everything is read through host.h, so --root shows a simulated host; nothing is changed.
 */
#include <ctype.h>
#include <string.h>

#include "cli.h"
#include "hook.h"
#include "host.h"

#define GROUPS "/sys/kernel/iommu_groups"

struct dev {
	char name[256];
	bool pci; /* it has a class: a PCI function (other buses have groups too) */
	unsigned long cls;
	unsigned vendor, device;
	char driver[256];
	char reset[256]; /* reset_method, empty when the kernel has no such file */
};

/* A short name for a PCI class (base, sub-class and, for USB, the interface). */
static const char *class_name(unsigned long cls)
{
	static const struct {
		unsigned code; /* base << 8 | sub */
		const char *name;
	} names[] = {
		{ 0x0100, "SCSI" },	    { 0x0101, "IDE" },	       { 0x0104, "RAID" },
		{ 0x0106, "SATA" },	    { 0x0107, "SAS" },	       { 0x0108, "NVMe" },
		{ 0x0200, "network" },	    { 0x0280, "network" },     { 0x0300, "VGA" },
		{ 0x0302, "3D" },	    { 0x0380, "display" },     { 0x0400, "video" },
		{ 0x0401, "audio" },	    { 0x0403, "audio" },       { 0x0600, "host bridge" },
		{ 0x0601, "ISA bridge" },   { 0x0604, "PCI bridge" },  { 0x0607, "CardBus bridge" },
		{ 0x0700, "serial" },	    { 0x0806, "IOMMU" },       { 0x0c00, "FireWire" },
		{ 0x0c03, "USB" },	    { 0x0c05, "SMBus" },       { 0x0c80, "serial bus" },
		{ 0x0d11, "Bluetooth" },   { 0x0d80, "wireless" },
	};
	/* when the sub-class is not one of the above: the base class alone */
	static const char *const bases[] = {
		[0x00] = "unclassified", [0x01] = "storage",	[0x02] = "network",   [0x03] = "display",
		[0x04] = "multimedia",	 [0x05] = "memory",	[0x06] = "bridge",    [0x07] = "communication",
		[0x08] = "system",	 [0x09] = "input",	[0x0a] = "docking",   [0x0b] = "processor",
		[0x0c] = "serial bus",	 [0x0d] = "wireless",	[0x0e] = "I2O",	      [0x0f] = "satellite",
		[0x10] = "encryption",	 [0x11] = "signal processing", [0x12] = "accelerator",
		[0x13] = "instrumentation",
	};
	unsigned code = (unsigned)(cls >> 8) & 0xffff;

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (names[i].code == code)
			return names[i].name;
	return code >> 8 < ELEMENTSOF(bases) && bases[code >> 8] ? bases[code >> 8] : "other";
}

static bool is_bridge(const struct dev *d)
{
	return d->pci && d->cls >> 16 == 0x06; /* as pci.c: vfio-pci cannot take them, they stay */
}

static bool is_gpu(const struct dev *d)
{
	return d->pci && d->cls >> 16 == 0x03;
}

static int read_hex(unsigned long *ret, const char *group, const char *name, const char *attr)
{
	char buf[32], *end;
	int r = host_read(buf, sizeof(buf), GROUPS "/%s/devices/%s/%s", group, name, attr);

	if (r < 0)
		return r;
	errno = 0;
	*ret = strtoul(buf, &end, 16);
	return errno || end == buf || *end ? -EINVAL : 0;
}

/* Through the group's own links: a device of another bus has no /sys/bus/pci entry. */
static void read_dev(const char *group, const char *name, struct dev *d)
{
	unsigned long v;

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->pci = read_hex(&d->cls, group, name, "class") == 0;
	if (read_hex(&v, group, name, "vendor") == 0)
		d->vendor = (unsigned)v;
	if (read_hex(&v, group, name, "device") == 0)
		d->device = (unsigned)v;
	if (host_link_name(d->driver, sizeof(d->driver), GROUPS "/%s/devices/%s/driver", group, name) < 0)
		snprintf(d->driver, sizeof(d->driver), "none");
	/* the kernel lists the methods space-separated; older kernels have no such file */
	(void)host_read(d->reset, sizeof(d->reset), GROUPS "/%s/devices/%s/reset_method", group, name);
}

static void print_dev(const struct dev *d)
{
	char line[1024];
	int n;

	if (!d->pci) {
		printf("  %s  (not a PCI function)\n", d->name);
		return;
	}
	n = snprintf(line, sizeof(line), "  %-12s  [%04lx] %-13s  %04x:%04x  driver %-16s", d->name,
		     (d->cls >> 8) & 0xffff, class_name(d->cls), d->vendor, d->device, d->driver);
	if (n > 0 && (size_t)n < sizeof(line) && d->reset[0])
		n += snprintf(line + n, sizeof(line) - (size_t)n, "  reset %s", d->reset);
	if (n > 0 && (size_t)n < sizeof(line) && is_bridge(d))
		n += snprintf(line + n, sizeof(line) - (size_t)n, "  bridge (stays with the host)");
	n = (int)MIN(strlen(line), sizeof(line) - 1);
	while (n > 0 && line[n - 1] == ' ')
		line[--n] = '\0'; /* the padded driver column, when nothing follows it */
	printf("%s\n", line);
}

/* Group numbers in numeric order (host_dir_list sorts them as text: 10 before 2). */
static int cmp_group(const void *a, const void *b)
{
	unsigned long x = strtoul(*(char *const *)a, NULL, 10), y = strtoul(*(char *const *)b, NULL, 10);

	return x < y ? -1 : x > y;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* One group; 1 when it holds a GPU, 0, or a negative errno. */
static int show_group(const char *group)
{
	char **names = NULL;
	struct dev *devs = NULL;
	size_t n = 0, endpoints = 0;
	bool gpu = false, foreign = false;
	int r;

	r = host_dir_list(&names, &n, GROUPS "/%s/devices", group);
	if (r < 0) {
		printf("IOMMU group %s\n  cannot list its devices: %s\n", group, strerror(-r));
		return 0;
	}
	devs = calloc(n ? n : 1, sizeof(*devs));
	if (!devs) {
		strv_free(names, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		read_dev(group, names[i], &devs[i]);
		gpu |= is_gpu(&devs[i]);
	}
	printf("IOMMU group %s%s\n", group, gpu ? " (GPU)" : "");
	for (size_t i = 0; i < n; i++)
		print_dev(&devs[i]);
	if (gpu) {
		/* every endpoint goes, or prepare refuses: the line names them all, no bridge */
		printf("  pci = { devices = [ ");
		for (size_t i = 0; i < n; i++) {
			bool same = false;

			if (is_bridge(&devs[i]) || !devs[i].pci)
				continue;
			printf("%s\"%s\"", endpoints++ ? ", " : "", devs[i].name);
			/* not a function of a GPU's slot (DDDD:BB:SS): the group is not the card alone */
			for (size_t j = 0; j < n; j++)
				same |= is_gpu(&devs[j]) && strncmp(devs[j].name, devs[i].name, 10) == 0;
			foreign |= !same;
		}
		printf(" ]; };\n");
		if (foreign)
			printf("  note: this group holds devices beyond the GPU card; they all go to the VM together, "
			       "or none does\n");
	}
	free(devs);
	strv_free(names, n);
	return gpu;
}

/*
 * Does the kernel command line set this parameter to this value: "key=value" given as one
 * word, also as one of a comma-separated list ("intel_iommu=on,sm_on")?
 */
static bool has_param(const char *cmdline, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = (size_t)(eq - kv) + 1, vlen = strlen(eq + 1);

	for (const char *w = cmdline; *w;) {
		size_t wlen;

		w += strspn(w, " \t\n");
		wlen = strcspn(w, " \t\n");
		if (wlen > klen && strncmp(w, kv, klen) == 0)
			for (const char *v = w + klen, *end = w + wlen; v < end; v++) {
				size_t l = MIN(strcspn(v, ","), (size_t)(end - v));

				if (l == vlen && strncmp(v, eq + 1, vlen) == 0)
					return true;
				v += l; /* to the comma, which the loop steps over */
			}
		w += wlen;
	}
	return false;
}

static void iommu_off(void)
{
	static const char *const offs[] = { "intel_iommu=off", "amd_iommu=off", "iommu=off" };
	char vendor[64], cmdline[4097]; /* COMMAND_LINE_SIZE is at most 4096 */
	char add[96] = "";
	const char *param = NULL, *firmware;
	bool amd;

	host_cpuinfo_field("vendor_id", vendor, sizeof(vendor));
	if (host_read(cmdline, sizeof(cmdline), "/proc/cmdline") < 0)
		cmdline[0] = '\0';
	amd = streq(vendor, "AuthenticAMD") || streq(vendor, "HygonGenuine");
	if (streq(vendor, "GenuineIntel")) {
		param = "intel_iommu=on";
		firmware = "VT-d (Intel Virtualization Technology for Directed I/O)";
	} else if (amd) {
		param = "amd_iommu=on";
		firmware = "the IOMMU (AMD-Vi)";
	} else
		firmware = "the IOMMU (VT-d on Intel, AMD-Vi on AMD)";

	printf("No IOMMU groups: the IOMMU is off (%s is empty).\n", GROUPS);
	printf("  CPU vendor           %s\n", vendor[0] ? vendor : "unknown (no vendor_id in /proc/cpuinfo)");
	printf("  kernel command line  %s\n", cmdline[0] ? cmdline : "(empty, or /proc/cmdline cannot be read)");
	printf("To enable it:\n");
	printf("  1. turn on %s in the firmware setup%s\n", firmware,
	       amd ? "; most kernels then enable it on AMD by default" : "");
	for (size_t i = 0; i < ELEMENTSOF(offs); i++)
		if (has_param(cmdline, offs[i]))
			printf("     remove %s from the kernel command line: it turns the IOMMU off\n", offs[i]);
	/* only the parameters the command line lacks */
	if (param && !has_param(cmdline, param))
		snprintf(add, sizeof(add), "%s", param);
	else if (!param)
		snprintf(add, sizeof(add), "intel_iommu=on (Intel) or amd_iommu=on (AMD)");
	if (!has_param(cmdline, "iommu=pt"))
		snprintf(add + strlen(add), sizeof(add) - strlen(add), "%siommu=pt", !add[0] ? "" : param ? " " : ", and ");
	if (add[0])
		printf("  2. %sadd %s to the kernel command line\n"
		       "     (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub)\n",
		       amd ? "if it stays off, " : "", add);
	else
		printf("  2. %s iommu=pt are on the kernel command line already: the firmware setting is what is "
		       "missing\n",
		       param);
	printf("  3. reboot, and run vfiohook groups again\n");
}

int cmd_groups(const struct options *o)
{
	char **groups = NULL;
	_cleanup_free_ char *gpus = NULL;
	size_t n = 0, shown = 0, gpus_len = 0;
	FILE *g;
	int r;

	r = host_dir_list(&groups, &n, GROUPS);
	if (r < 0) {
		fprintf(stderr, "vfiohook: cannot list %s: %s\n", GROUPS, strerror(-r));
		return EXIT_FAILED;
	}
	/* numeric names only: anything else is not a group the kernel made */
	for (size_t i = 0; i < n; i++)
		if (all_digits(groups[i]))
			groups[shown++] = groups[i];
		else
			free(groups[i]);
	n = shown;
	if (n == 0) {
		strv_free(groups, n);
		iommu_off();
		return EXIT_OK;
	}
	qsort(groups, n, sizeof(*groups), cmp_group);
	g = open_memstream(&gpus, &gpus_len);
	if (!g) {
		strv_free(groups, n);
		return EXIT_FAILED;
	}
	printf("%zu IOMMU group%s\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		putchar('\n');
		r = show_group(groups[i]);
		if (r < 0) {
			fclose(g);
			strv_free(groups, n);
			fprintf(stderr, "vfiohook: %s\n", strerror(-r));
			return EXIT_FAILED;
		}
		if (r > 0)
			fprintf(g, "%s%s", ftell(g) ? ", " : "", groups[i]);
	}
	strv_free(groups, n);
	if (fclose(g) != 0)
		return EXIT_FAILED;
	/* with many groups, the answer to "where is my GPU" should not need scrolling */
	if (gpus_len)
		printf("\nGPU%s in IOMMU group%s %s\n", strchr(gpus, ',') ? "s" : "", strchr(gpus, ',') ? "s" : "", gpus);
	else
		printf("\nno IOMMU group holds a GPU (PCI class 0x03)\n");
	return EXIT_OK;
}
