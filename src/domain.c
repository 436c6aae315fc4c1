/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dlib.h"
#include "domain.h"
#include "macro.h"
#include "xml.h"

static int copy(char *dst, size_t size, const char *src)
{
	if (!src)
		return 0;
	if (strlen(src) >= size)
		return -E2BIG;
	strcpy(dst, src);
	return 0;
}

/* libvirt's scaled integers (virScaleInteger): value and unit to KiB. */
static int to_kib(const char *value, const char *unit, uint64_t *ret)
{
	static const struct {
		const char *unit;
		uint64_t bytes;
	} units[] = {
		{ "b", 1 }, { "bytes", 1 }, { "KB", 1000 }, { "k", 1024 }, { "K", 1024 }, { "KiB", 1024 },
		{ "MB", 1000000 }, { "m", 1ull << 20 }, { "M", 1ull << 20 }, { "MiB", 1ull << 20 },
		{ "GB", 1000000000 }, { "g", 1ull << 30 }, { "G", 1ull << 30 }, { "GiB", 1ull << 30 },
		{ "TB", 1000000000000ull }, { "t", 1ull << 40 }, { "T", 1ull << 40 }, { "TiB", 1ull << 40 },
	};
	unsigned long long v;
	uint64_t mul = 1024;
	char *end;

	if (!value || !*value || *value == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (unit) {
		size_t i;
		for (i = 0; i < ELEMENTSOF(units); i++)
			if (streq(unit, units[i].unit))
				break;
		if (i == ELEMENTSOF(units))
			return -EINVAL;
		mul = units[i].bytes;
	}
	if (mul != 0 && v > (UINT64_MAX - 1023) / mul)
		return -ERANGE;
	*ret = (v * mul + 1023) / 1024;
	return 0;
}

static int append_cpuset(char *dst, size_t size, const char *set)
{
	size_t l = strlen(dst);

	if (!set || !*set)
		return 0;
	if (l + strlen(set) + 2 > size)
		return -E2BIG;
	snprintf(dst + l, size - l, "%s%s", l ? "," : "", set);
	return 0;
}

static int parse_tree(const struct xml_node *root, struct domain *d, char *err, size_t errlen)
{
	const struct xml_node *n, *devs;

	if (!root || !xn_is(root, "domain")) {
		snprintf(err, errlen, "the document is not a libvirt <domain>");
		return -EINVAL;
	}
	if (copy(d->name, sizeof(d->name), xn_text(xn_child(root, "name"))) < 0) {
		snprintf(err, errlen, "<name> is too long");
		return -EINVAL;
	}
	if (!d->name[0]) {
		snprintf(err, errlen, "<domain> has no <name>");
		return -EINVAL;
	}
	if ((n = xn_child(root, "uuid")) && uuid_normalize(xn_text(n) ? xn_text(n) : "", d->uuid) < 0) {
		snprintf(err, errlen, "<uuid> is not a UUID");
		return -EINVAL;
	}
	if ((n = xn_child(root, "memory")) && to_kib(xn_text(n), xn_prop(n, "unit"), &d->memory_kib) < 0) {
		snprintf(err, errlen, "<memory> is not a size");
		return -EINVAL;
	}
	if ((n = xn_child(xn_child(root, "memoryBacking"), "hugepages"))) {
		d->hugepages = true;
		for (const struct xml_node *p = n->children; p; p = p->next) {
			struct domain_hugepage *hp;
			if (!xn_is(p, "page"))
				continue;
			if (d->n_pages == DOMAIN_MAX_PAGES) {
				snprintf(err, errlen, "too many <page> elements");
				return -E2BIG;
			}
			hp = &d->pages[d->n_pages++];
			if (to_kib(xn_prop(p, "size"), xn_prop(p, "unit"), &hp->size_kib) < 0 ||
			    copy(hp->nodeset, sizeof(hp->nodeset), xn_prop(p, "nodeset")) < 0) {
				snprintf(err, errlen, "a hugepages <page> has a bad size or nodeset");
				return -EINVAL;
			}
		}
	}
	for (n = xn_child(xn_child(root, "cpu"), "numa") ? xn_child(xn_child(root, "cpu"), "numa")->children : NULL;
	     n; n = n->next) {
		struct domain_cell *c;
		const char *id = xn_prop(n, "id");
		if (!xn_is(n, "cell"))
			continue;
		if (d->n_cells == DOMAIN_MAX_CELLS) {
			snprintf(err, errlen, "too many NUMA cells");
			return -E2BIG;
		}
		c = &d->cells[d->n_cells++];
		if (!id || to_kib(xn_prop(n, "memory"), xn_prop(n, "unit"), &c->memory_kib) < 0) {
			snprintf(err, errlen, "a NUMA <cell> has no id or a bad memory size");
			return -EINVAL;
		}
		c->id = (unsigned)strtoul(id, NULL, 10);
	}
	if ((n = xn_child(xn_child(root, "numatune"), "memory"))) {
		if (copy(d->numa_mode, sizeof(d->numa_mode), xn_prop(n, "mode")) < 0 ||
		    copy(d->numa_nodeset, sizeof(d->numa_nodeset), xn_prop(n, "nodeset")) < 0) {
			snprintf(err, errlen, "<numatune><memory> is malformed");
			return -EINVAL;
		}
	}
	if ((n = xn_child(root, "cputune"))) {
		for (const struct xml_node *p = n->children; p; p = p->next) {
			int r = 0;
			if (xn_is(p, "vcpupin"))
				r = append_cpuset(d->vcpupin, sizeof(d->vcpupin), xn_prop(p, "cpuset"));
			else if (xn_is(p, "emulatorpin"))
				r = copy(d->emulatorpin, sizeof(d->emulatorpin), xn_prop(p, "cpuset"));
			if (r < 0) {
				snprintf(err, errlen, "<cputune> is too large");
				return r;
			}
		}
	}
	devs = xn_child(root, "devices");
	for (n = devs ? devs->children : NULL; n; n = n->next) {
		const char *mode = xn_prop(n, "mode"), *type = xn_prop(n, "type"), *managed;
		const struct xml_node *a;
		struct domain_hostdev *h;

		if (!xn_is(n, "hostdev") || !type || !streq(type, "pci") || (mode && !streq(mode, "subsystem")))
			continue;
		a = xn_child(xn_child(n, "source"), "address");
		if (d->n_hostdevs == DOMAIN_MAX_HOSTDEVS) {
			snprintf(err, errlen, "more than %d PCI <hostdev> elements", DOMAIN_MAX_HOSTDEVS);
			return -E2BIG;
		}
		h = &d->hostdevs[d->n_hostdevs];
		if (!a || pci_addr_from_xml(xn_prop(a, "domain"), xn_prop(a, "bus"), xn_prop(a, "slot"),
					    xn_prop(a, "function"), &h->addr) < 0) {
			snprintf(err, errlen, "a PCI <hostdev> has no valid source <address>");
			return -EINVAL;
		}
		managed = xn_prop(n, "managed");
		h->managed = managed && streq(managed, "yes");
		d->n_hostdevs++;
	}
	return 0;
}

int domain_parse(const char *xml, size_t len, struct domain *ret, char *err, size_t errlen)
{
	struct xml_doc *doc;
	char msg[300];
	int r;

	memset(ret, 0, sizeof(*ret));
	if (len == 0) {
		snprintf(err, errlen, "no domain XML on standard input");
		return -ENODATA;
	}
	if (len > DOMAIN_XML_MAX) {
		snprintf(err, errlen, "domain XML larger than %u bytes", DOMAIN_XML_MAX);
		return -EFBIG;
	}
	if (memchr(xml, '\0', len)) {
		snprintf(err, errlen, "domain XML contains a NUL byte");
		return -EINVAL;
	}
	/* libvirt never writes a DTD; one here can only be an entity trick */
	if (memmem(xml, len, "<!DOCTYPE", 9) || memmem(xml, len, "<!ENTITY", 8)) {
		snprintf(err, errlen, "domain XML with a DOCTYPE or ENTITY declaration refused");
		return -EINVAL;
	}
	r = xml_read(xml, len, &doc, NULL, msg, sizeof(msg));
	if (r == -EPERM)
		snprintf(err, errlen, "domain XML with a DOCTYPE or ENTITY declaration refused");
	else if (r == -ENOSYS)
		snprintf(err, errlen, "%s", msg);
	else if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory reading the domain XML");
	else if (r < 0)
		snprintf(err, errlen, "malformed domain XML (%s)", msg);
	if (r < 0)
		return r == -ENOMEM || r == -ENOSYS ? r : -EINVAL;
	r = parse_tree(xml_doc_root(doc), ret, err, errlen);
	xml_doc_free(doc);
	return r;
}
