/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The domain XML as a small tree: elements, text and the rest (comments, CDATA, processing
 * instructions), as libxml2 builds it (names without their namespace prefix, predefined
 * entities and character references replaced, adjacent text in one node, blanks kept).
 *
 * xml_read() first tries a strict reader of its own, for the XML libvirt writes: UTF-8, no
 * DTD, no CDATA, no processing instruction, prefixes only when declared. A document it is not
 * sure about (anything outside that subset, anything malformed) goes to libxml2, whose verdict
 * and error message are the answer. So libxml2, with its ICU and libstdc++, is loaded only for
 * documents libvirt does not write, and never changes what is accepted.
 */

#include <stdbool.h>
#include <stddef.h>

enum xml_kind {
	XML_KIND_ELEMENT,
	XML_KIND_TEXT,
	XML_KIND_OTHER, /* comment, CDATA section, processing instruction */
};

struct xml_prop {
	const char *name; /* local name */
	const char *value;
	struct xml_prop *next;
};

struct xml_node {
	enum xml_kind kind;
	const char *name;  /* element: local name */
	const char *text;  /* text: its content */
	struct xml_prop *props;
	struct xml_node *children, *last, *next;
};

struct xml_doc;

/* The document's root element. */
const struct xml_node *xml_doc_root(const struct xml_doc *doc);
void xml_doc_free(struct xml_doc *doc);

/*
 * Reads buf (len bytes, no NUL) into *ret: the strict reader, then libxml2 if needed. 0, or
 * -EINVAL with libxml2's reason in err ("line N: ..."), -ENOMEM, -ENOSYS without libxml2.
 * *used_libxml2 (may be NULL) says which one answered.
 */
int xml_read(const char *buf, size_t len, struct xml_doc **ret, bool *used_libxml2, char *err,
	     size_t errlen);

/* The two readers on their own (for tests comparing them): xml_read_strict() returns
 * -EOPNOTSUPP for a document it leaves to libxml2. */
int xml_read_strict(const char *buf, size_t len, struct xml_doc **ret);
int xml_read_libxml2(const char *buf, size_t len, struct xml_doc **ret, char *err, size_t errlen);

/* Walking the tree */
bool xn_is(const struct xml_node *n, const char *name);
const struct xml_node *xn_child(const struct xml_node *n, const char *name);
const char *xn_prop(const struct xml_node *n, const char *name); /* NULL when absent */
const char *xn_text(const struct xml_node *n); /* the element's one text child, or NULL */
