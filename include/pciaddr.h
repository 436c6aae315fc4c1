/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A PCI function address, DDDD:BB:SS.F; the same limits as libvirt's virPCIDeviceAddressIsValid. */
struct pci_addr {
	unsigned domain, bus, slot, function;
};

#define PCI_ADDR_STRLEN 13 /* "0000:09:00.0" + NUL */

/* Accepts "DDDD:BB:SS.F" or "BB:SS.F" (hex, domain 0); returns 0 or -EINVAL. */
int pci_addr_parse(const char *s, struct pci_addr *ret);
/* The four hex attributes of a domain XML <address/> (domain may be NULL). */
int pci_addr_from_xml(const char *domain, const char *bus, const char *slot, const char *function,
		      struct pci_addr *ret);
void pci_addr_format(const struct pci_addr *a, char buf[PCI_ADDR_STRLEN]);
bool pci_addr_equal(const struct pci_addr *a, const struct pci_addr *b);
