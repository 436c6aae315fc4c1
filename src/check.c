/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `vfiohook check`: after the configuration, the host. One line per finding, "ok:", "warning:"
 * or "error:"; nothing is changed. Returns the number of errors.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "check.h"
#include "cpuset.h"
#include "host.h"

static unsigned errors;

static void finding(const char *level, const char *fmt, ...) _printf_(2, 3);
static void finding(const char *level, const char *fmt, ...)
{
	va_list ap;

	if (streq(level, "error"))
		errors++;
	printf("  %s: ", level);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void check_iommu(void)
{
	DIR *d = host_opendir("/sys/kernel/iommu_groups");
	struct dirent *de;
	unsigned n = 0;

	if (d) {
		while ((de = readdir(d)))
			n += de->d_name[0] != '.';
		closedir(d);
	}
	if (n)
		finding("ok", "IOMMU enabled (%u groups)", n);
	else
		finding("error", "no IOMMU groups: enable VT-d/AMD-Vi in the firmware and intel_iommu=on or "
				 "amd_iommu=on on the kernel command line");
}

static void check_vfio(void)
{
	if (host_exists("/sys/bus/pci/drivers/vfio-pci"))
		finding("ok", "vfio-pci driver loaded");
	else if (host_module_available("vfio-pci"))
		finding("ok", "vfio-pci not loaded yet; prepare loads it");
	else
		finding("error", "vfio-pci is not available");
}

static void check_devices(const struct vm_conf *vm)
{
	for (size_t i = 0; i < vm->n_pci; i++) {
		char bdf[PCI_ADDR_STRLEN], drv[128] = "(none)", group[32];
		struct dirent *de;
		DIR *d;

		pci_addr_format(&vm->pci[i], bdf);
		if (!host_exists("/sys/bus/pci/devices/%s", bdf)) {
			finding("error", "%s: PCI device %s does not exist", vm->name, bdf);
			continue;
		}
		(void)host_link_name(drv, sizeof(drv), "/sys/bus/pci/devices/%s/driver", bdf);
		if (host_link_name(group, sizeof(group), "/sys/bus/pci/devices/%s/iommu_group", bdf) < 0) {
			finding("error", "%s: %s has no IOMMU group", vm->name, bdf);
			continue;
		}
		finding("ok", "%s: %s (driver %s) in IOMMU group %s", vm->name, bdf, drv, group);
		d = host_opendir("/sys/kernel/iommu_groups/%s/devices", group);
		while (d && (de = readdir(d))) {
			struct pci_addr a;
			char class[16] = "0", mdrv[128] = "(none)";
			bool listed = false;
			if (de->d_name[0] == '.' || pci_addr_parse(de->d_name, &a) < 0)
				continue;
			for (size_t j = 0; j < vm->n_pci; j++)
				listed |= pci_addr_equal(&a, &vm->pci[j]);
			(void)host_read(class, sizeof(class), "/sys/bus/pci/devices/%s/class", de->d_name);
			(void)host_link_name(mdrv, sizeof(mdrv), "/sys/bus/pci/devices/%s/driver", de->d_name);
			if (listed || strtoul(class, NULL, 16) >> 16 == 0x06 || streq(mdrv, "(none)") ||
			    streq(mdrv, "vfio-pci") || streq(mdrv, "pci-stub"))
				continue;
			finding("error", "%s: group %s also holds %s (driver %s), which is not listed", vm->name,
				group, de->d_name, mdrv);
		}
		if (d)
			closedir(d);
	}
}

static void check_governor(const struct vm_conf *vm)
{
	DIR *d;
	struct dirent *de;
	bool any = false;

	if (!vm->governor[0])
		return;
	d = host_opendir("/sys/devices/system/cpu/cpufreq");
	while (d && (de = readdir(d))) {
		char avail[512];
		if (strncmp(de->d_name, "policy", 6) != 0 ||
		    host_read(avail, sizeof(avail), "/sys/devices/system/cpu/cpufreq/%s/scaling_available_governors",
			      de->d_name) < 0)
			continue;
		any = true;
		if (!strstr(avail, vm->governor))
			finding("error", "%s: %s does not offer governor %s (offers: %s)", vm->name, de->d_name,
				vm->governor, avail);
	}
	if (d)
		closedir(d);
	if (!any)
		finding("error", "%s: no cpufreq policies on this host, but a governor is configured", vm->name);
	else
		finding("ok", "%s: cpufreq policies checked for governor %s", vm->name, vm->governor);
}

static void check_units(const struct vm_conf *vm)
{
	struct sd_bus *bus = NULL;

	if (vm->n_units == 0 && !vm->host_cpus[0])
		return;
	if (bus_connect(&bus) < 0) {
		finding("warning", "%s: cannot reach systemd to check units: %s", vm->name, bus_last_error());
		return;
	}
	for (size_t i = 0; i < vm->n_units; i++) {
		const char *u = streq(vm->units[i], "auto") ? "display-manager.service" : vm->units[i];
		char state[32];
		if (bus_unit_state(bus, u, state, sizeof(state)) < 0)
			finding("warning", "%s: unit %s is not loaded (nothing will be stopped)", vm->name, u);
		else
			finding("ok", "%s: unit %s is %s", vm->name, u, state);
	}
	bus_close(bus);
}

static void check_memory(const struct vm_conf *vm)
{
	_cleanup_free_ char *meminfo = NULL;
	const char *p;
	unsigned long long avail_kib, need_kib;

	if (!vm->hugepages || !vm->hp_pages)
		return;
	if (host_read_all(&meminfo, 1 << 20, "/proc/meminfo") < 0 || !(p = strstr(meminfo, "MemAvailable:")))
		return;
	avail_kib = strtoull(p + 13, NULL, 10);
	need_kib = vm->hp_pages * (vm->hp_size_kib ? vm->hp_size_kib : 2048);
	finding(avail_kib > need_kib ? "ok" : "warning", "%s: hugepages need %llu MiB, %llu MiB available now",
		vm->name, need_kib / 1024, avail_kib / 1024);
}

unsigned check_host(const struct conf *c)
{
	errors = 0;
	printf("host:\n");
	check_iommu();
	check_vfio();
	for (size_t i = 0; i < c->n_vms; i++) {
		check_devices(&c->vms[i]);
		check_governor(&c->vms[i]);
		check_units(&c->vms[i]);
		check_memory(&c->vms[i]);
	}
	return errors;
}
