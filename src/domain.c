/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dlib.h"
#include "domain.h"
#include "macro.h"

bool xml_is_elem(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && streq((const char *)n->name, name);
}

const xmlNode *xml_child(const xmlNode *n, const char *name)
{
	for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (xml_is_elem(c, name))
			return c;
	return NULL;
}

/* Attribute value without allocating: the text child of the attribute node. */
const char *xml_attr(const xmlNode *n, const char *name)
{
	for (const xmlAttr *a = n && n->type == XML_ELEMENT_NODE ? n->properties : NULL; a; a = a->next)
		if (streq((const char *)a->name, name))
			return a->children && a->children->content ? (const char *)a->children->content
								     : "";
	return NULL;
}

/* The element's text when it is one text node (all libvirt writes). */
static const char *text(const xmlNode *n)
{
	if (!n || !n->children || n->children->next || n->children->type != XML_TEXT_NODE)
		return NULL;
	return (const char *)n->children->content;
}

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

static int parse_tree(const xmlNode *root, struct domain *d, char *err, size_t errlen)
{
	const xmlNode *n, *devs;

	if (!root || !xml_is_elem(root, "domain")) {
		snprintf(err, errlen, "the document is not a libvirt <domain>");
		return -EINVAL;
	}
	if (copy(d->name, sizeof(d->name), text(xml_child(root, "name"))) < 0) {
		snprintf(err, errlen, "<name> is too long");
		return -EINVAL;
	}
	if (!d->name[0]) {
		snprintf(err, errlen, "<domain> has no <name>");
		return -EINVAL;
	}
	if ((n = xml_child(root, "uuid")) && uuid_normalize(text(n) ? text(n) : "", d->uuid) < 0) {
		snprintf(err, errlen, "<uuid> is not a UUID");
		return -EINVAL;
	}
	if ((n = xml_child(root, "memory")) && to_kib(text(n), xml_attr(n, "unit"), &d->memory_kib) < 0) {
		snprintf(err, errlen, "<memory> is not a size");
		return -EINVAL;
	}
	if ((n = xml_child(xml_child(root, "memoryBacking"), "hugepages"))) {
		d->hugepages = true;
		for (const xmlNode *p = n->children; p; p = p->next) {
			struct domain_hugepage *hp;
			if (!xml_is_elem(p, "page"))
				continue;
			if (d->n_pages == DOMAIN_MAX_PAGES) {
				snprintf(err, errlen, "too many <page> elements");
				return -E2BIG;
			}
			hp = &d->pages[d->n_pages++];
			if (to_kib(xml_attr(p, "size"), xml_attr(p, "unit"), &hp->size_kib) < 0 ||
			    copy(hp->nodeset, sizeof(hp->nodeset), xml_attr(p, "nodeset")) < 0) {
				snprintf(err, errlen, "a hugepages <page> has a bad size or nodeset");
				return -EINVAL;
			}
		}
	}
	for (n = xml_child(xml_child(root, "cpu"), "numa") ? xml_child(xml_child(root, "cpu"), "numa")->children : NULL;
	     n; n = n->next) {
		struct domain_cell *c;
		const char *id = xml_attr(n, "id");
		if (!xml_is_elem(n, "cell"))
			continue;
		if (d->n_cells == DOMAIN_MAX_CELLS) {
			snprintf(err, errlen, "too many NUMA cells");
			return -E2BIG;
		}
		c = &d->cells[d->n_cells++];
		if (!id || to_kib(xml_attr(n, "memory"), xml_attr(n, "unit"), &c->memory_kib) < 0) {
			snprintf(err, errlen, "a NUMA <cell> has no id or a bad memory size");
			return -EINVAL;
		}
		c->id = (unsigned)strtoul(id, NULL, 10);
	}
	if ((n = xml_child(xml_child(root, "numatune"), "memory"))) {
		if (copy(d->numa_mode, sizeof(d->numa_mode), xml_attr(n, "mode")) < 0 ||
		    copy(d->numa_nodeset, sizeof(d->numa_nodeset), xml_attr(n, "nodeset")) < 0) {
			snprintf(err, errlen, "<numatune><memory> is malformed");
			return -EINVAL;
		}
	}
	if ((n = xml_child(root, "cputune"))) {
		for (const xmlNode *p = n->children; p; p = p->next) {
			int r = 0;
			if (xml_is_elem(p, "vcpupin"))
				r = append_cpuset(d->vcpupin, sizeof(d->vcpupin), xml_attr(p, "cpuset"));
			else if (xml_is_elem(p, "emulatorpin"))
				r = copy(d->emulatorpin, sizeof(d->emulatorpin), xml_attr(p, "cpuset"));
			if (r < 0) {
				snprintf(err, errlen, "<cputune> is too large");
				return r;
			}
		}
	}
	devs = xml_child(root, "devices");
	for (n = devs ? devs->children : NULL; n; n = n->next) {
		const char *mode = xml_attr(n, "mode"), *type = xml_attr(n, "type"), *managed;
		const xmlNode *a;
		struct domain_hostdev *h;

		if (!xml_is_elem(n, "hostdev") || !type || !streq(type, "pci") || (mode && !streq(mode, "subsystem")))
			continue;
		a = xml_child(xml_child(n, "source"), "address");
		if (d->n_hostdevs == DOMAIN_MAX_HOSTDEVS) {
			snprintf(err, errlen, "more than %d PCI <hostdev> elements", DOMAIN_MAX_HOSTDEVS);
			return -E2BIG;
		}
		h = &d->hostdevs[d->n_hostdevs];
		if (!a || pci_addr_from_xml(xml_attr(a, "domain"), xml_attr(a, "bus"), xml_attr(a, "slot"),
					    xml_attr(a, "function"), &h->addr) < 0) {
			snprintf(err, errlen, "a PCI <hostdev> has no valid source <address>");
			return -EINVAL;
		}
		managed = xml_attr(n, "managed");
		h->managed = managed && streq(managed, "yes");
		d->n_hostdevs++;
	}
	return 0;
}

int domain_parse(const char *xml, size_t len, struct domain *ret, char *err, size_t errlen)
{
	xmlDocPtr doc;
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
	r = dlopen_libxml2();
	if (r < 0) {
		snprintf(err, errlen, "libxml2 is not available");
		return r;
	}
	/* UTF-8, whatever the document declares: the DOCTYPE check above must see what the
	 * parser sees (an EBCDIC document would hide it) */
	doc = sym_xmlReadMemory(xml, (int)len, "domain.xml", "UTF-8",
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = sym_xmlGetLastError();
		char msg[256];
		size_t l;

		snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "parse error");
		l = strlen(msg);
		while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
			msg[--l] = '\0';
		snprintf(err, errlen, "malformed domain XML (line %d: %s)", e ? e->line : 0, msg);
		return -EINVAL;
	}
	if (doc->intSubset || doc->extSubset) {
		sym_xmlFreeDoc(doc);
		snprintf(err, errlen, "domain XML with a DOCTYPE or ENTITY declaration refused");
		return -EINVAL;
	}
	r = parse_tree(sym_xmlDocGetRootElement(doc), ret, err, errlen);
	sym_xmlFreeDoc(doc);
	return r;
}
