/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "domain.h"
#include "pciaddr.h"

struct run;

/* The PCI devices a VM is given: kvm.conf's pci.devices, or the domain's <hostdev>s. */
struct pci_list {
	struct pci_addr a[DOMAIN_MAX_HOSTDEVS];
	char bdf[DOMAIN_MAX_HOSTDEVS][PCI_ADDR_STRLEN];
	size_t n;
};

/* 0, or a negative errno after log_fail() (hostdev without a domain XML). */
int pci_devices(const struct run *run, struct pci_list *ret);

struct plan;
/* Plans loading the vfio modules that are not loaded (vfio.c); refuses when one is missing. */
int vfio_plan_load(struct plan *p);
