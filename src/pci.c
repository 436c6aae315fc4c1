/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PCI detach to vfio-pci and reattach, through sysfs (never through libvirt: a hook must not
 * call back into it). The sequence is the one libvirt's virPCIDeviceBindWithDriverOverride()
 * documents, plus a bounded wait for the result, which the kernel does not report:
 *
 *   echo vfio-pci > /sys/bus/pci/devices/BDF/driver_override
 *   echo BDF > /sys/bus/pci/devices/BDF/driver/unbind
 *   echo BDF > /sys/bus/pci/drivers_probe
 *   wait until /sys/bus/pci/devices/BDF/driver -> .../vfio-pci
 *
 * and back: "\n" (or the old value) to driver_override, unbind from vfio-pci, drivers_probe,
 * wait for the recorded driver.
 */
#include <limits.h>
#include <string.h>

#include "hook.h"
#include "host.h"
#include "log.h"

#define STAGE "pci"
#define NO_DRIVER "(none)"

struct pci_list {
	struct pci_addr a[DOMAIN_MAX_HOSTDEVS];
	char bdf[DOMAIN_MAX_HOSTDEVS][PCI_ADDR_STRLEN];
	size_t n;
};

static int device_list(const struct run *run, struct pci_list *l)
{
	const struct vm_conf *vm = run->vm;

	l->n = 0;
	if (vm->pci_from_hostdev) {
		if (!run->dom)
			return log_fail(STAGE, 0,
					"pci.devices = \"hostdev\" needs the domain XML, and there is none");
		for (size_t i = 0; i < run->dom->n_hostdevs; i++)
			l->a[l->n++] = run->dom->hostdevs[i].addr;
	} else {
		if (vm->n_pci > DOMAIN_MAX_HOSTDEVS)
			return log_fail(STAGE, E2BIG, "too many PCI devices");
		for (size_t i = 0; i < vm->n_pci; i++)
			l->a[l->n++] = vm->pci[i];
	}
	for (size_t i = 0; i < l->n; i++)
		pci_addr_format(&l->a[i], l->bdf[i]);
	return 0;
}

static bool in_list(const struct pci_list *l, const char *bdf)
{
	for (size_t i = 0; i < l->n; i++)
		if (streq(l->bdf[i], bdf))
			return true;
	return false;
}

static void driver_of(const char *bdf, char *buf, size_t size)
{
	/* in a dry run, a driver whose module the plan unloaded has let go of its devices */
	if (host_link_name(buf, size, "/sys/bus/pci/devices/%s/driver", bdf) < 0 ||
	    (host_is_dry_run() && host_driver_gone("pci", buf)))
		snprintf(buf, size, NO_DRIVER);
}

/* Bridges (class 0x06) stay with the host; vfio-pci cannot take them. */
static bool is_bridge(const char *bdf)
{
	char class[32];

	if (host_read(class, sizeof(class), "/sys/bus/pci/devices/%s/class", bdf) < 0)
		return false;
	return strtoul(class, NULL, 16) >> 16 == 0x06;
}

static bool is_stub_driver(const char *drv)
{
	return streq(drv, NO_DRIVER) || streq(drv, "vfio-pci") || streq(drv, "pci-stub");
}

static int check_group(const struct run *run, const struct pci_list *l, const char *bdf)
{
	char group[32];
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (host_link_name(group, sizeof(group), "/sys/bus/pci/devices/%s/iommu_group", bdf) < 0)
		return log_fail(STAGE, 0,
				"%s has no IOMMU group: enable the IOMMU in the firmware and on the kernel "
				"command line (intel_iommu=on or amd_iommu=on)",
				bdf);
	d = host_opendir("/sys/kernel/iommu_groups/%s/devices", group);
	if (!d)
		return log_fail(STAGE, errno, "cannot list IOMMU group %s of %s", group, bdf);
	while (r == 0 && (de = readdir(d))) {
		char drv[256];
		if (de->d_name[0] == '.' || in_list(l, de->d_name) || is_bridge(de->d_name))
			continue;
		driver_of(de->d_name, drv, sizeof(drv));
		if (!is_stub_driver(drv))
			r = log_fail(STAGE, 0,
				     "IOMMU group %s of %s also holds %s (driver %s), which is not passed to "
				     "%s: add it to pci.devices of kvm.conf (all endpoints of a group go "
				     "together)",
				     group, bdf, de->d_name, drv, run->vm_name);
	}
	closedir(d);
	return r;
}

/* Is the block device at this sysfs path (a /sys/dev/block or /sys/class/block link) on it? */
static bool block_on_device(const char *needle, const char *link)
{
	char dev[PATH_MAX];

	if (host_realpath(dev, sizeof(dev) - 1, "%s", link) < 0)
		return false;
	strcat(dev, "/");
	return strstr(dev, needle) != NULL;
}

/* Does the host need this device: the controller behind a mounted filesystem or active swap? */
static int check_host_use(const char *bdf)
{
	_cleanup_free_ char *mounts = NULL, *swaps = NULL;
	char needle[PCI_ADDR_STRLEN + 2];
	char *save = NULL;

	snprintf(needle, sizeof(needle), "/%s/", bdf);
	if (host_read_all(&mounts, 4 * 1024 * 1024, "/proc/self/mountinfo") >= 0) {
		for (char *line = strtok_r(mounts, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char majmin[32], mnt[PATH_MAX / 4], link[64];
			unsigned maj, min;
			if (sscanf(line, "%*s %*s %31s %*s %1023s", majmin, mnt) != 2 ||
			    sscanf(majmin, "%u:%u", &maj, &min) != 2 || maj == 0)
				continue;
			snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", maj, min);
			if (block_on_device(needle, link))
				return log_fail(STAGE, 0,
						"%s is the controller of a mounted filesystem (%s): the host "
						"cannot give it away",
						bdf, mnt);
		}
	}
	save = NULL;
	if (host_read_all(&swaps, 1024 * 1024, "/proc/swaps") >= 0) {
		for (char *line = strtok_r(swaps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char path[PATH_MAX / 4], link[PATH_MAX / 4 + 32];
			if (sscanf(line, "%1023s", path) != 1 || strncmp(path, "/dev/", 5) != 0 ||
			    strchr(path + 5, '/'))
				continue;
			snprintf(link, sizeof(link), "/sys/class/block/%s", path + 5);
			if (block_on_device(needle, link))
				return log_fail(STAGE, 0,
						"%s is the controller of active swap (%s): the host cannot "
						"give it away",
						bdf, path);
		}
	}
	return 0;
}

struct owner_query {
	const char *bdf;
	char owner[256];
};

static int find_owner(const struct state *other, const struct record *r, void *data)
{
	struct owner_query *q = data;

	if (r->n_fields >= 2 && streq(r->fields[0], STAGE) && streq(r->fields[1], q->bdf)) {
		snprintf(q->owner, sizeof(q->owner), "%s", other->vm);
		return 1;
	}
	return 0;
}

static int preflight(const struct run *run, const struct pci_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *bdf = l->bdf[i];
		struct owner_query q = { .bdf = bdf };
		int r;

		if (!host_exists("/sys/bus/pci/devices/%s", bdf))
			return log_fail(STAGE, 0, "PCI device %s does not exist on this host", bdf);
		if (is_bridge(bdf))
			return log_fail(STAGE, 0, "%s is a PCI bridge; only endpoints can be passed to a VM",
					bdf);
		if (!host_exists("/sys/bus/pci/devices/%s/driver_override", bdf))
			return log_fail(STAGE, 0, "%s has no driver_override (kernel older than 3.16?)",
					bdf);
		r = check_host_use(bdf);
		if (r < 0)
			return r;
		r = check_group(run, l, bdf);
		if (r < 0)
			return r;
		if (state_foreach_other(run->state, find_owner, &q) > 0)
			return log_fail(STAGE, 0, "%s is already given to VM \"%s\"", bdf, q.owner);
	}
	return 0;
}

/* Names of the loaded modules (those with an initstate: built-ins have none). */
static size_t loaded_modules(char names[][64], size_t max)
{
	DIR *d = host_opendir("/sys/module");
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] != '.' && l < 64 && host_module_loaded(de->d_name))
			memcpy(names[n++], de->d_name, l + 1);
	}
	closedir(d);
	return n;
}

static bool name_in(char names[][64], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(names[i], name))
			return true;
	return false;
}

/*
 * Loading vfio-pci also loads what it depends on (vfio_pci_core, vfio, ...). Record every
 * module that appeared, dependencies first, so that undoing the records in reverse unloads
 * each one after the modules that hold it.
 */
static int record_new_modules(struct run *run, char before[][64], size_t n_before)
{
	static char after[256][64];
	size_t n_after = loaded_modules(after, ELEMENTSOF(after));
	bool done[256] = { false };
	bool progress = true;

	while (progress) {
		progress = false;
		for (size_t i = 0; i < n_after; i++) {
			bool held_dep = false;
			if (done[i] || name_in(before, n_before, after[i]))
				continue;
			/* wait while a module it holds (one it depends on) is not recorded yet */
			for (size_t j = 0; j < n_after; j++)
				if (j != i && !done[j] && !name_in(before, n_before, after[j]) &&
				    host_exists("/sys/module/%s/holders/%s", after[j], after[i]))
					held_dep = true;
			if (held_dep)
				continue;
			done[i] = progress = true;
			if (state_add(run->state, "module", after[i], NULL) < 0)
				return log_fail(STAGE, EIO, "cannot record state");
		}
	}
	for (size_t i = 0; i < n_after; i++) /* a dependency cycle: record the rest as they come */
		if (!done[i] && !name_in(before, n_before, after[i]) &&
		    state_add(run->state, "module", after[i], NULL) < 0)
			return log_fail(STAGE, EIO, "cannot record state");
	return 0;
}

/* Another VM loaded the vfio modules: hold them too, so the last VM to release unloads them. */
static int hold_module(const struct state *other, const struct record *rec, void *data)
{
	struct run *run = data;

	if (rec->n_fields == 2 && streq(rec->fields[0], "module") &&
	    !hook_shared_held_by_self(run, "module", rec->fields[1]))
		return state_add(run->state, "module", rec->fields[1], NULL) < 0 ? -EIO : 0;
	return 0;
}

static int ensure_vfio(struct run *run)
{
	static const char *const mods[] = { "vfio_pci", "vfio_iommu_type1" };
	static char before[256][64];
	size_t n_before = 0;
	bool loading = false;
	int r = 0;

	if (state_foreach_other(run->state, hold_module, run) < 0)
		return log_fail(STAGE, EIO, "cannot record state");

	for (size_t i = 0; i < ELEMENTSOF(mods); i++) {
		if (host_module_loaded(mods[i]) ||
		    (i == 0 && host_exists("/sys/bus/pci/drivers/vfio-pci")))
			continue;
		if (!loading)
			n_before = loaded_modules(before, ELEMENTSOF(before));
		loading = true;
		r = host_module_load(mods[i]);
		if (r == -EPERM) {
			r = log_fail(STAGE, r, "loading %s is administratively prohibited (blacklisted?)",
				     mods[i]);
			break;
		}
		if (r < 0) {
			r = log_fail(STAGE, r, "cannot load module %s", mods[i]);
			break;
		}
	}
	if (loading && !host_is_dry_run()) {
		int k = record_new_modules(run, before, n_before);
		if (r == 0)
			r = k;
	}
	if (r < 0)
		return r;
	if (!host_is_dry_run() && !host_exists("/sys/bus/pci/drivers/vfio-pci"))
		return log_fail(STAGE, ENOENT, "the vfio-pci driver is not available after loading vfio_pci");
	return 0;
}

static int detach(struct run *run, const char *bdf, double timeout, double unbind_timeout)
{
	char drv[256], override[256];
	int r;

	driver_of(bdf, drv, sizeof(drv));
	if (streq(drv, "vfio-pci")) {
		log_info(STAGE, "%s is already on vfio-pci", bdf);
		return 0;
	}
	r = host_read(override, sizeof(override), "/sys/bus/pci/devices/%s/driver_override", bdf);
	if (r < 0)
		return log_fail(STAGE, r, "cannot read driver_override of %s", bdf);
	if (!override[0])
		strcpy(override, "(null)");

	r = state_add(run->state, STAGE, bdf, drv, override, NULL);
	if (r < 0)
		return log_fail(STAGE, r, "cannot record state");
	r = host_write_str("vfio-pci", 0, "/sys/bus/pci/devices/%s/driver_override", bdf);
	if (r < 0)
		return log_fail(STAGE, r, "cannot set driver_override of %s", bdf);
	if (!streq(drv, NO_DRIVER)) {
		r = host_write_str(bdf, unbind_timeout, "/sys/bus/pci/devices/%s/driver/unbind", bdf);
		if (r == -ETIMEDOUT)
			return log_fail(STAGE, 0,
					"unbinding %s from %s did not finish within %.0f s (is something still "
					"using the GPU?)",
					bdf, drv, unbind_timeout);
		if (r < 0)
			return log_fail(STAGE, r, "cannot unbind %s from %s", bdf, drv);
	}
	r = host_write_str(bdf, unbind_timeout, "/sys/bus/pci/drivers_probe");
	if (r < 0)
		return log_fail(STAGE, r, "cannot probe %s", bdf);
	r = host_wait_link("vfio-pci", timeout, "/sys/bus/pci/devices/%s/driver", bdf);
	if (r < 0) {
		driver_of(bdf, drv, sizeof(drv));
		return log_fail(STAGE, r == -ETIMEDOUT ? 0 : r,
				"%s did not bind to vfio-pci within %.1f s (driver: %s)", bdf, timeout, drv);
	}
	log_info(STAGE, "%s: %s -> vfio-pci", bdf, drv);
	return 0;
}

static int pci_prepare(struct run *run)
{
	struct pci_list l;
	int r;

	r = device_list(run, &l);
	if (r < 0 || l.n == 0)
		return r;
	r = preflight(run, &l);
	if (r < 0)
		return r;
	r = ensure_vfio(run);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l.n; i++) {
		r = detach(run, l.bdf[i], run->vm->pci_timeout, run->vm->unbind_timeout);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Record: pci BDF ORIGINAL-DRIVER ORIGINAL-OVERRIDE */
static int pci_undo(struct run *run, const struct record *rec)
{
	const char *bdf, *orig, *override;
	double timeout = run->vm ? run->vm->pci_timeout : 5.0;
	double unbind_timeout = run->vm ? run->vm->unbind_timeout : 10.0;
	char drv[256];
	int r;

	if (rec->n_fields != 4)
		return log_error(STAGE, EINVAL, "malformed state record");
	bdf = rec->fields[1];
	orig = rec->fields[2];
	override = rec->fields[3];
	if (!host_exists("/sys/bus/pci/devices/%s", bdf)) {
		log_warning(STAGE, 0, "%s is gone from the host; nothing to give back", bdf);
		return 0;
	}
	r = host_write(streq(override, "(null)") ? "\n" : override,
		       streq(override, "(null)") ? 1 : strlen(override), 0,
		       "/sys/bus/pci/devices/%s/driver_override", bdf);
	if (r < 0)
		return log_error(STAGE, r, "cannot restore driver_override of %s", bdf);

	driver_of(bdf, drv, sizeof(drv));
	if (streq(drv, orig))
		return 0; /* never moved, or libvirt already gave it back */
	if (streq(drv, "vfio-pci")) {
		r = host_write_str(bdf, unbind_timeout, "/sys/bus/pci/drivers/vfio-pci/unbind");
		if (r < 0)
			return log_error(STAGE, r, "cannot unbind %s from vfio-pci", bdf);
	} else if (!streq(drv, NO_DRIVER)) {
		log_warning(STAGE, 0, "%s is now on %s, not vfio-pci; leaving it there", bdf, drv);
		return 0;
	}
	if (streq(orig, NO_DRIVER))
		return 0;
	if (!host_is_dry_run() && !host_exists("/sys/bus/pci/drivers/%s", orig)) {
		log_warning(STAGE, 0,
			    "driver %s of %s is not loaded; the device stays without a driver until its "
			    "module is loaded",
			    orig, bdf);
		return 0;
	}
	r = host_write_str(bdf, unbind_timeout, "/sys/bus/pci/drivers_probe");
	if (r < 0)
		return log_error(STAGE, r, "cannot probe %s", bdf);
	r = host_wait_link(orig, timeout, "/sys/bus/pci/devices/%s/driver", bdf);
	if (r < 0) {
		driver_of(bdf, drv, sizeof(drv));
		return log_error(STAGE, r == -ETIMEDOUT ? 0 : r,
				 "%s did not return to %s within %.1f s (driver: %s)", bdf, orig, timeout, drv);
	}
	log_info(STAGE, "%s: vfio-pci -> %s", bdf, orig);
	return 0;
}

const struct stage stage_pci = {
	.name = STAGE,
	.prepare = pci_prepare,
	.undo = pci_undo,
};

/* Is any device bound to a PCI driver of this module? The kernel would unbind it on unload. */
static bool module_has_devices(const char *module)
{
	char drivers[8][64];
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	bool used = false;

	d = host_opendir("/sys/module/%s/drivers", module);
	while (d && (de = readdir(d)) && n < ELEMENTSOF(drivers))
		if (strncmp(de->d_name, "pci:", 4) == 0 && strlen(de->d_name + 4) < sizeof(drivers[0]))
			memcpy(drivers[n++], de->d_name + 4, strlen(de->d_name + 4) + 1);
	if (d)
		closedir(d);
	if (streq(module, "vfio_pci") && n < ELEMENTSOF(drivers))
		strcpy(drivers[n++], "vfio-pci");
	for (size_t i = 0; !used && i < n; i++) {
		d = host_opendir("/sys/bus/pci/drivers/%s", drivers[i]);
		while (d && !used && (de = readdir(d))) {
			struct pci_addr a;
			used = pci_addr_parse(de->d_name, &a) == 0;
		}
		if (d)
			closedir(d);
	}
	return used;
}

/*
 * Record: module NAME (loaded by vfiohook; unloaded again once nothing uses it), or the same
 * record as a hold by a VM that found it loaded for another VM (shared: the last one unloads).
 */
static int module_undo(struct run *run, const struct record *rec)
{
	int r;

	if (rec->n_fields != 2)
		return log_error("module", EINVAL, "malformed state record");
	if (!host_is_dry_run() && !host_module_loaded(rec->fields[1]))
		return 0;
	if (module_has_devices(rec->fields[1])) {
		/* a driver's bound devices hold no module reference: unloading would take them
		 * from whoever uses them (another VM, or the admin) */
		log_info("module", "%s still drives devices; leaving it loaded", rec->fields[1]);
		return 0;
	}
	r = host_module_unload(rec->fields[1]);
	if (r == -EBUSY || r == -EAGAIN) {
		log_info("module", "%s is in use; leaving it loaded", rec->fields[1]);
		return 0;
	}
	if (r < 0)
		return log_error("module", r, "cannot unload %s", rec->fields[1]);
	return 0;
}

const struct stage stage_module = {
	.name = "module",
	.prepare = NULL,
	.undo = module_undo,
	.shared = true,
};
