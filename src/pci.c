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
 *
 * Every refusal is decided in the plan, before anything changes: a device that does not exist,
 * a bridge, a device the host needs, an IOMMU group with an endpoint that is not passed and
 * still has a driver (as the plan leaves it: a driver whose module the plan unloads is gone),
 * a device another VM holds.
 */
#include <string.h>

#include "hook.h"
#include "host.h"
#include "log.h"
#include "pci.h"

#define STAGE "pci"

int pci_devices(const struct run *run, struct pci_list *l)
{
	const struct vm_conf *vm = run->vm;

	l->n = 0;
	if (vm->pci_from_hostdev) {
		if (!run->dom)
			return log_fail(STAGE, 0, "pci.devices = \"hostdev\" needs the domain XML, and there is none");
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

static unsigned long pci_class(const char *bdf)
{
	char class[32];

	if (host_read(class, sizeof(class), "/sys/bus/pci/devices/%s/class", bdf) < 0)
		return 0;
	return strtoul(class, NULL, 16);
}

/* Bridges (class 0x06) stay with the host; vfio-pci cannot take them. */
static bool is_bridge(const char *bdf)
{
	return pci_class(bdf) >> 16 == 0x06;
}

static bool is_stub_driver(const char *drv)
{
	return !drv[0] || streq(drv, "vfio-pci") || streq(drv, "pci-stub");
}

static int check_group(struct plan *p, const struct pci_list *l, const char *bdf)
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
		view_driver(p, "pci", de->d_name, drv, sizeof(drv));
		if (!is_stub_driver(drv))
			r = log_fail(STAGE, 0,
				     "IOMMU group %s of %s also holds %s (driver %s), which is not passed to "
				     "%s: add it to pci.devices of kvm.conf (all endpoints of a group go "
				     "together)",
				     group, bdf, de->d_name, drv, p->run->vm_name);
	}
	closedir(d);
	return r;
}

static const struct state *owner(const struct plan *p, const char *bdf)
{
	return plan_holder(p, REC_PCI, bdf);
}

static int check_device(struct plan *p, const struct pci_list *l, const char *bdf)
{
	const struct state *other;
	char why[512];
	int r;

	if (!host_exists("/sys/bus/pci/devices/%s", bdf))
		return log_fail(STAGE, 0, "PCI device %s does not exist on this host", bdf);
	if (is_bridge(bdf))
		return log_fail(STAGE, 0, "%s is a PCI bridge; only endpoints can be passed to a VM", bdf);
	if (!host_exists("/sys/bus/pci/devices/%s/driver_override", bdf))
		return log_fail(STAGE, 0, "%s has no driver_override (kernel older than 3.16?)", bdf);
	r = host_needs_device(bdf, pci_class(bdf) >> 16 == 0x03, why, sizeof(why));
	if (r < 0)
		return log_fail(STAGE, 0, "cannot tell whether the host needs %s (%s); refusing to give it away",
				bdf, why);
	if (r > 0)
		return log_fail(STAGE, 0, "%s is %s: the host cannot give it away", bdf, why);
	r = check_group(p, l, bdf);
	if (r < 0)
		return r;
	other = owner(p, bdf);
	if (other)
		return log_fail(STAGE, 0, "%s is already given to VM \"%s\"", bdf, other->vm);
	return 0;
}

static int plan_detach(struct plan *p, const char *bdf)
{
	const struct vm_conf *vm = p->run->vm;
	struct record rec = { .kind = REC_PCI };
	char override[64], now[64];
	struct action *a;
	struct op *o;
	int r;

	/* the record keeps the driver the device has before the plan, even one whose module the
	 * plan unloads: whatever loads that module again later, release brings the device back */
	view_driver(p, "pci", bdf, now, sizeof(now));
	if (streq(now, "vfio-pci")) {
		log_info(STAGE, "%s is already on vfio-pci", bdf);
		return 0;
	}
	if (host_link_name(rec.pci.driver, sizeof(rec.pci.driver), "/sys/bus/pci/devices/%s/driver", bdf) < 0)
		rec.pci.driver[0] = '\0';
	r = view_read(p, override, sizeof(override), "/sys/bus/pci/devices/%s/driver_override", bdf);
	if (r < 0)
		return log_fail(STAGE, r, "cannot read driver_override of %s", bdf);
	if (!streq(override, "(null)"))
		strcpy(rec.pci.override, override);
	strcpy(rec.pci.bdf, bdf);

	a = plan_action(p, REC_PCI, &rec);
	if (!a || !(o = plan_op(p, OP_WRITE, "vfio-pci", "/sys/bus/pci/devices/%s/driver_override", bdf)))
		return -ENOMEM;
	snprintf(o->fail, sizeof(o->fail), "cannot set driver_override of %s", bdf);
	if (now[0]) {
		o = plan_op(p, OP_WRITE, bdf, "/sys/bus/pci/devices/%s/driver/unbind", bdf);
		if (!o)
			return -ENOMEM;
		o->timeout = vm->unbind_timeout;
		snprintf(o->fail, sizeof(o->fail), "cannot unbind %s from %s", bdf, rec.pci.driver);
	}
	o = plan_op(p, OP_WRITE, bdf, "/sys/bus/pci/drivers_probe");
	if (!o)
		return -ENOMEM;
	o->timeout = vm->unbind_timeout;
	snprintf(o->fail, sizeof(o->fail), "cannot probe %s", bdf);
	o = plan_op(p, OP_WAIT_LINK, "vfio-pci", "/sys/bus/pci/devices/%s/driver", bdf);
	if (!o)
		return -ENOMEM;
	o->timeout = vm->pci_timeout;
	snprintf(o->fail, sizeof(o->fail), "%s did not bind to vfio-pci", bdf);
	snprintf(a->done, sizeof(a->done), "%s: %s -> vfio-pci", bdf, now[0] ? now : "(none)");
	return 0;
}

static int pci_plan(struct plan *p)
{
	struct pci_list l;
	int r;

	r = pci_devices(p->run, &l);
	if (r < 0 || l.n == 0)
		return r;
	for (size_t i = 0; r >= 0 && i < l.n; i++)
		r = check_device(p, &l, l.bdf[i]);
	if (r >= 0)
		r = vfio_plan_load(p);
	for (size_t i = 0; r >= 0 && i < l.n; i++)
		r = plan_detach(p, l.bdf[i]);
	return r;
}

static int pci_plan_undo(struct plan *p, const struct record *rec, size_t index)
{
	const char *bdf = rec->pci.bdf, *orig = rec->pci.driver;
	double timeout = p->run->vm ? p->run->vm->pci_timeout : 5.0;
	double unbind_timeout = p->run->vm ? p->run->vm->unbind_timeout : 10.0;
	struct action *a = plan_undo_action(p, REC_PCI, index);
	char drv[256];
	struct op *o;

	if (!a)
		return -ENOMEM;
	if (!host_exists("/sys/bus/pci/devices/%s", bdf)) {
		log_warning(STAGE, 0, "%s is gone from the host; nothing to give back", bdf);
		return 0;
	}
	o = plan_op(p, OP_WRITE, rec->pci.override[0] ? rec->pci.override : "\n",
		    "/sys/bus/pci/devices/%s/driver_override", bdf);
	if (!o)
		return -ENOMEM;
	snprintf(o->fail, sizeof(o->fail), "cannot restore driver_override of %s", bdf);

	view_driver(p, "pci", bdf, drv, sizeof(drv));
	if (streq(drv, orig))
		return 0; /* never moved, or libvirt already gave it back */
	if (drv[0] && !streq(drv, "vfio-pci")) {
		log_warning(STAGE, 0, "%s is now on %s, not vfio-pci; leaving it there", bdf, drv);
		return 0;
	}
	if (drv[0]) {
		o = plan_op(p, OP_WRITE, bdf, "/sys/bus/pci/drivers/vfio-pci/unbind");
		if (!o)
			return -ENOMEM;
		o->timeout = unbind_timeout;
		snprintf(o->fail, sizeof(o->fail), "cannot unbind %s from vfio-pci", bdf);
		o = plan_op(p, OP_WAIT_LINK, "", "/sys/bus/pci/devices/%s/driver", bdf);
		if (!o)
			return -ENOMEM;
		o->timeout = timeout;
		snprintf(o->fail, sizeof(o->fail), "%s did not leave vfio-pci", bdf);
	}
	if (!orig[0])
		return 0;
	if (!view_exists(p, "/sys/bus/pci/drivers/%s", orig)) {
		snprintf(a->done, sizeof(a->done),
			 "driver %s of %s is not loaded; the device stays without a driver until its module is loaded",
			 orig, bdf);
		return 0;
	}
	o = plan_op(p, OP_WRITE, bdf, "/sys/bus/pci/drivers_probe");
	if (!o)
		return -ENOMEM;
	o->timeout = unbind_timeout;
	snprintf(o->fail, sizeof(o->fail), "cannot probe %s", bdf);
	o = plan_op(p, OP_WAIT_LINK, orig, "/sys/bus/pci/devices/%s/driver", bdf);
	if (!o)
		return -ENOMEM;
	o->timeout = timeout;
	snprintf(o->fail, sizeof(o->fail), "%s did not return to %s", bdf, orig);
	snprintf(a->done, sizeof(a->done), "%s: vfio-pci -> %s", bdf, orig);
	return 0;
}

const struct stage stage_pci = {
	.kind = REC_PCI,
	.plan = pci_plan,
	.plan_undo = pci_plan_undo,
};
