/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pciaddr.h"

#define DOMAIN_XML_MAX (16u * 1024 * 1024)
#define DOMAIN_MAX_HOSTDEVS 64
#define DOMAIN_MAX_PAGES 16
#define DOMAIN_MAX_CELLS 64

struct domain_hostdev {
	struct pci_addr addr;
	bool managed;
};

struct domain_hugepage {
	uint64_t size_kib; /* 0: the default huge page size */
	char nodeset[64];  /* guest NUMA cells this size backs; empty = all */
};

struct domain_cell {
	unsigned id;
	uint64_t memory_kib;
};

/* What vfiohook needs of a libvirt domain definition. */
struct domain {
	char name[256];
	char uuid[37];
	uint64_t memory_kib;
	bool hugepages;
	struct domain_hugepage pages[DOMAIN_MAX_PAGES];
	size_t n_pages;
	struct domain_cell cells[DOMAIN_MAX_CELLS]; /* guest NUMA cells */
	size_t n_cells;
	char numa_mode[16];       /* numatune/memory@mode */
	char numa_nodeset[128];   /* numatune/memory@nodeset: host nodes */
	char emulatorpin[256];    /* cputune/emulatorpin@cpuset */
	char vcpupin[1024];       /* union of cputune/vcpupin@cpuset, comma-joined */
	struct domain_hostdev hostdevs[DOMAIN_MAX_HOSTDEVS];
	size_t n_hostdevs;
};

/*
 * Parses a domain XML document. Untrusted input: no network, no DTD, no entities, bounded
 * size and depth. Returns 0 or a negative errno with a one-line reason in err.
 */
int domain_parse(const char *xml, size_t len, struct domain *ret, char *err, size_t errlen);
