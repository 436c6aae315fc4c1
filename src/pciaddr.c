/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pciaddr.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly n hex digits at s. */
static int hexfield(const char *s, size_t n, unsigned *ret)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		int d = hexval(s[i]);
		if (d < 0)
			return -EINVAL;
		v = v * 16 + (unsigned)d;
	}
	*ret = v;
	return 0;
}

static bool valid(const struct pci_addr *a)
{
	return a->domain <= 0xffff && a->bus <= 0xff && a->slot <= 0x1f && a->function <= 7;
}

int pci_addr_parse(const char *s, struct pci_addr *ret)
{
	struct pci_addr a = { 0 };
	size_t l;

	if (!s)
		return -EINVAL;
	l = strlen(s);
	if (l == 12) {
		if (s[4] != ':' || hexfield(s, 4, &a.domain) < 0)
			return -EINVAL;
		s += 5;
		l -= 5;
	}
	if (l != 7 || s[2] != ':' || s[5] != '.')
		return -EINVAL;
	if (hexfield(s, 2, &a.bus) < 0 || hexfield(s + 3, 2, &a.slot) < 0 ||
	    hexfield(s + 6, 1, &a.function) < 0)
		return -EINVAL;
	if (!valid(&a))
		return -EINVAL;
	*ret = a;
	return 0;
}

/* "0x1f" or "31"-style numbers as libvirt writes them (it always writes 0x..). */
static int xmlnum(const char *s, unsigned max, unsigned *ret)
{
	unsigned long v;
	char *end;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '-' || s[0] == '+' || s[0] == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

int pci_addr_from_xml(const char *domain, const char *bus, const char *slot, const char *function,
		      struct pci_addr *ret)
{
	struct pci_addr a = { 0 };

	if ((domain && xmlnum(domain, 0xffff, &a.domain) < 0) || xmlnum(bus, 0xff, &a.bus) < 0 ||
	    xmlnum(slot, 0x1f, &a.slot) < 0 || xmlnum(function, 7, &a.function) < 0)
		return -EINVAL;
	*ret = a;
	return 0;
}

void pci_addr_format(const struct pci_addr *a, char buf[PCI_ADDR_STRLEN])
{
	snprintf(buf, PCI_ADDR_STRLEN, "%04x:%02x:%02x.%x", a->domain & 0xffff, a->bus & 0xff,
		 a->slot & 0x1f, a->function & 7);
}

bool pci_addr_equal(const struct pci_addr *a, const struct pci_addr *b)
{
	return a->domain == b->domain && a->bus == b->bus && a->slot == b->slot &&
	       a->function == b->function;
}
