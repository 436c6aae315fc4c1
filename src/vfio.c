/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vfio modules (vfio_pci, vfio_iommu_type1 and what they depend on): loaded for a VM that
 * is given PCI devices, when they are not loaded yet, and unloaded again once nothing uses
 * them. They are shared by every VM: a VM that finds them loaded for another VM holds them
 * too, and the last one to release unloads them. A module that still drives a device (one the
 * admin put on vfio-pci meanwhile) is left loaded. The PCI stage plans the loading, between
 * the checks of its devices and their detaching.
 */
#include <string.h>

#include "hook.h"
#include "host.h"
#include "log.h"
#include "pci.h"

#define STAGE "vfio"

static const char *const wanted[] = { "vfio_pci", "vfio_iommu_type1" };

static int plan_load(struct plan *p, const char *module)
{
	struct record rec = { .kind = REC_VFIO };
	struct action *a;
	struct op *o;

	if (record_set_key(&rec, module) < 0)
		return log_fail(STAGE, 0, "module name %s is too long", module);
	a = plan_action(p, REC_VFIO, &rec);
	if (!a || !(o = plan_op(p, OP_MODULE_LOAD, module, NULL)))
		return -ENOMEM;
	snprintf(o->fail, sizeof(o->fail), "cannot load module %s", module);
	snprintf(a->done, sizeof(a->done), "%s loaded", module);
	return 0;
}

int vfio_plan_load(struct plan *p)
{
	int r;

	/* loaded for another VM: hold them too */
	for (size_t i = 0; i < p->n_others; i++)
		for (size_t j = 0; j < p->others[i].n_records; j++) {
			const struct record *o = &p->others[i].records[j];
			bool mine = false;
			if (o->kind != REC_VFIO)
				continue;
			for (size_t k = 0; k < p->n_actions; k++)
				mine |= p->actions[k].stage == REC_VFIO && streq(record_key(&p->actions[k].rec), o->vfio.module);
			if (!mine && (r = plan_hold(p, REC_VFIO, o->vfio.module)) < 0)
				return r;
		}
	for (size_t i = 0; i < ELEMENTSOF(wanted); i++) {
		char **deps = NULL;
		size_t n_deps = 0;

		if (view_module_loaded(p, wanted[i]) || (i == 0 && view_exists(p, "/sys/bus/pci/drivers/vfio-pci")))
			continue;
		r = host_module_check(wanted[i]);
		if (r == -EPERM)
			return log_fail(STAGE, 0, "loading %s is administratively prohibited (blacklisted?)", wanted[i]);
		if (r < 0)
			return log_fail(STAGE, 0, "module %s is not available on this host (kernel without VFIO?)",
					wanted[i]);
		/* what it depends on first, each recorded before it is loaded: a crash between a load
		 * and its record would leave a module nobody unloads */
		r = host_module_deps(wanted[i], &deps, &n_deps);
		if (r < 0)
			return log_fail(STAGE, r, "cannot tell what %s depends on", wanted[i]);
		for (size_t j = 0; r >= 0 && j <= n_deps; j++) {
			const char *m = j < n_deps ? deps[j] : wanted[i];
			if (j < n_deps && view_module_loaded(p, m))
				continue;
			r = plan_load(p, m);
		}
		strv_free(deps, n_deps);
		if (r < 0)
			return r;
		if (i == 0 && (r = view_add_exists(p, "/sys/bus/pci/drivers/vfio-pci")) < 0)
			return r;
	}
	return 0;
}

/* Is any device bound to a PCI driver of this module? The kernel would unbind it on unload. */
static bool module_has_devices(struct plan *p, const char *module)
{
	_cleanup_(closedirp) DIR *d = host_opendir("/sys/module/%s/drivers", module);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_(closedirp) DIR *dd = NULL;
		struct dirent *e;
		if (strncmp(de->d_name, "pci:", 4) != 0)
			continue;
		dd = host_opendir("/sys/bus/pci/drivers/%s", de->d_name + 4);
		while (dd && (e = readdir(dd))) {
			struct pci_addr a;
			char drv[128];
			/* bound now, and not given back by an earlier undo of this plan */
			if (pci_addr_parse(e->d_name, &a) == 0) {
				view_driver(p, "pci", e->d_name, drv, sizeof(drv));
				if (streq(drv, de->d_name + 4))
					return true;
			}
		}
	}
	return false;
}

static int vfio_plan_undo(struct plan *p, const struct record *rec, size_t index)
{
	const char *m = rec->vfio.module;
	struct action *a = plan_undo_action(p, REC_VFIO, index);
	struct op *o;

	if (!a)
		return -ENOMEM;
	if (!view_module_loaded(p, m))
		return 0;
	if (module_has_devices(p, m)) {
		/* a driver's bound devices hold no module reference: unloading would take them
		 * from whoever uses them (another VM, or the admin) */
		snprintf(a->done, sizeof(a->done), "%s still drives devices; leaving it loaded", m);
		return 0;
	}
	o = plan_op(p, OP_MODULE_UNLOAD, m, NULL);
	if (!o)
		return -ENOMEM;
	o->ok_errno = EAGAIN; /* in use (by something else): it stays */
	snprintf(o->fail, sizeof(o->fail), "%s stays loaded, in use", m);
	return 0;
}

const struct stage stage_vfio = {
	.kind = REC_VFIO,
	.plan = NULL, /* planned by the PCI stage, once its devices passed their checks */
	.plan_undo = vfio_plan_undo,
};
