/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The domain XML as a small tree (xml.h): a strict reader for what libvirt writes, and
 * libxml2 for everything else.
 *
 * The strict reader accepts a document only when it is sure it is well-formed XML 1.0 and
 * knows the tree libxml2 would build for it; on anything else it steps aside (-EOPNOTSUPP)
 * rather than report an error, so libxml2 stays the one judge of a document and the one
 * voice of its errors. What it reads:
 *   - bytes: UTF-8 (checked), no control character but tab and newline (a carriage return
 *     would need line-end normalization), no byte order mark;
 *   - markup: elements, attributes in quotes, comments (no "--" inside); no XML declaration,
 *     DOCTYPE, CDATA or processing instruction;
 *   - names: ASCII letters, digits, '_', '-', '.', with at most one ':' whose prefix an
 *     xmlns:prefix on the element or an ancestor declares (prefixed attributes other than
 *     namespace declarations step aside); xmlns and xmlns:* are declarations, not attributes,
 *     as in libxml2;
 *   - references: the five predefined entities and character references to XML characters;
 *   - attribute values: tab and newline become spaces (XML 1.0 3.3.3), '<' is refused;
 *   - "]]>" outside markup is refused; nothing but blanks and comments around the root;
 *   - bounds below libxml2's: depth 200, names of 1,000 bytes, 64 attributes an element,
 *     text and values of 1 MiB.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlib.h"
#include "macro.h"
#include "text.h"
#include "xml.h"

#define STRICT_MAX_DEPTH 200
#define STRICT_MAX_NAME 1000
#define STRICT_MAX_PROPS 64
#define STRICT_MAX_TEXT (1u << 20)
#define CHUNK_SIZE (64u * 1024)

struct chunk {
	struct chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct xml_doc {
	struct chunk *chunks;
	struct xml_node *root;
};

/* ---- the tree's memory: bump allocation in chunks, freed at once ---- */

static void *doc_alloc(struct xml_doc *doc, size_t n)
{
	struct chunk *c = doc->chunks;
	void *p;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!c || c->size - c->used < n) {
		size_t size = MAX(CHUNK_SIZE, n);
		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = doc->chunks;
		doc->chunks = c;
	}
	p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

static char *doc_strndup(struct xml_doc *doc, const char *s, size_t n)
{
	char *p = doc_alloc(doc, n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static struct xml_node *doc_node(struct xml_doc *doc, struct xml_node *parent, enum xml_kind kind)
{
	struct xml_node *n = doc_alloc(doc, sizeof(*n));

	if (!n)
		return NULL;
	*n = (struct xml_node){ .kind = kind };
	if (parent) {
		if (parent->last)
			parent->last->next = n;
		else
			parent->children = n;
		parent->last = n;
	}
	return n;
}

void xml_doc_free(struct xml_doc *doc)
{
	if (!doc)
		return;
	for (struct chunk *c = doc->chunks, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(doc);
}

const struct xml_node *xml_doc_root(const struct xml_doc *doc)
{
	return doc ? doc->root : NULL;
}

/* ---- the strict reader ---- */

struct reader {
	const char *p, *end;
	struct xml_doc *doc;
	char *buf; /* decoded text or value: never longer than the document */
};

/* Not for us: libxml2 decides. */
#define PUNT (-EOPNOTSUPP)

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

static bool name_start(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool name_char(unsigned char c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* A name, with at most one ':' between two non-empty parts; its length, or 0. */
static size_t scan_name(const struct reader *rd)
{
	const char *s = rd->p;
	bool colon = false;

	if (s >= rd->end || !name_start((unsigned char)*s))
		return 0;
	for (s++; s < rd->end; s++) {
		if (*s == ':' && !colon && s + 1 < rd->end && name_start((unsigned char)s[1]))
			colon = true;
		else if (!name_char((unsigned char)*s))
			break;
	}
	return (size_t)(s - rd->p) > STRICT_MAX_NAME ? 0 : (size_t)(s - rd->p);
}

/* The length of one well-formed UTF-8 sequence of an XML character at s, or 0. */
static size_t utf8_char(const unsigned char *s, const unsigned char *end)
{
	uint32_t c;
	size_t n = utf8_decode(s, end, &c);

	/* U+FFFE and U+FFFF are no XML characters */
	return n && c != 0xfffe && c != 0xffff ? n : 0;
}

static size_t utf8_put(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* A reference after '&' at rd->p: appended to out; its decoded length, or PUNT. */
static int reference(struct reader *rd, char *out)
{
	static const struct {
		const char *name;
		char c;
	} predefined[] = { { "lt;", '<' }, { "gt;", '>' }, { "amp;", '&' }, { "apos;", '\'' }, { "quot;", '"' } };
	const char *s = rd->p + 1;
	uint32_t c = 0;

	if (s < rd->end && *s == '#') {
		bool hex = s + 1 < rd->end && s[1] == 'x';
		const char *digits = s + 1 + hex;

		for (s = digits; s < rd->end && *s != ';'; s++) {
			unsigned d;
			if (*s >= '0' && *s <= '9')
				d = (unsigned)(*s - '0');
			else if (hex && *s >= 'a' && *s <= 'f')
				d = (unsigned)(*s - 'a' + 10);
			else if (hex && *s >= 'A' && *s <= 'F')
				d = (unsigned)(*s - 'A' + 10);
			else
				return PUNT;
			c = c * (hex ? 16 : 10) + d;
			if (c > 0x10ffff)
				return PUNT;
		}
		if (s == digits || s >= rd->end)
			return PUNT;
		if (!(c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
		      (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff)))
			return PUNT;
		rd->p = s + 1;
		return (int)utf8_put(c, out);
	}
	for (size_t i = 0; i < ELEMENTSOF(predefined); i++) {
		size_t l = strlen(predefined[i].name);
		if ((size_t)(rd->end - s) >= l && memcmp(s, predefined[i].name, l) == 0) {
			*out = predefined[i].c;
			rd->p = s + l;
			return 1;
		}
	}
	return PUNT;
}

/*
 * Character data up to stop (a quote, or '<' for text) into rd->buf: its length, or PUNT.
 * In an attribute value, '<' is an error and blanks become spaces.
 */
static int chardata(struct reader *rd, char stop, size_t *ret)
{
	size_t n = 0;

	while (rd->p < rd->end && *rd->p != stop) {
		unsigned char c = (unsigned char)*rd->p;
		size_t l;

		if (n > STRICT_MAX_TEXT)
			return PUNT;
		if (c == '&') {
			int r = reference(rd, rd->buf + n);
			if (r < 0)
				return r;
			n += (size_t)r;
			continue;
		}
		if (c == '<' || (c < 0x20 && c != '\t' && c != '\n'))
			return PUNT;
		if (c == ']' && stop == '<' && rd->end - rd->p >= 3 && memcmp(rd->p, "]]>", 3) == 0)
			return PUNT;
		l = utf8_char((const unsigned char *)rd->p, (const unsigned char *)rd->end);
		if (l == 0)
			return PUNT;
		if (stop != '<' && (c == '\t' || c == '\n'))
			rd->buf[n] = ' ';
		else
			memcpy(rd->buf + n, rd->p, l);
		n += l;
		rd->p += l;
	}
	if (rd->p >= rd->end)
		return PUNT;
	*ret = n;
	return 0;
}

static void skip_blanks(struct reader *rd)
{
	while (rd->p < rd->end && is_blank(*rd->p))
		rd->p++;
}

static bool at(const struct reader *rd, const char *s)
{
	size_t l = strlen(s);
	return (size_t)(rd->end - rd->p) >= l && memcmp(rd->p, s, l) == 0;
}

/* A comment at "<!--": into parent's children when parent is given. */
static int comment(struct reader *rd, struct xml_node *parent)
{
	const char *start = rd->p + 4, *end;
	struct xml_node *n;

	/* the first "--" must be the end: "--" inside a comment is an error */
	end = memmem(start, (size_t)(rd->end - start), "--", 2);
	if (!end || rd->end - end < 3 || end[2] != '>')
		return PUNT;
	for (const char *c = start; c < end;) {
		unsigned char b = (unsigned char)*c;
		size_t l = b < 0x20 && b != '\t' && b != '\n'
				   ? 0 : utf8_char((const unsigned char *)c, (const unsigned char *)end);
		if (l == 0)
			return PUNT;
		c += l;
	}
	if (parent && (!(n = doc_node(rd->doc, parent, XML_KIND_OTHER)) ||
		       !(n->text = doc_strndup(rd->doc, start, (size_t)(end - start)))))
		return -ENOMEM;
	rd->p = end + 3;
	return 0;
}

/* A prefix's declaration in scope: on one of the open elements (stack[0..depth]). */
static bool prefix_declared(char *const *decls, size_t depth, const char *name, size_t prefix_len)
{
	for (size_t i = 0; i <= depth; i++)
		for (const char *d = decls[i]; d && *d; d += strlen(d) + 1)
			if (strlen(d) == prefix_len && memcmp(d, name, prefix_len) == 0)
				return true;
	return false;
}

/* The local part of a qualified name. */
static const char *local_name(const char *qname)
{
	const char *colon = strchr(qname, ':');
	return colon ? colon + 1 : qname;
}

int xml_read_strict(const char *buf, size_t len, struct xml_doc **ret)
{
	struct reader rd = { .p = buf, .end = buf + len };
	/* the open elements: node, qualified name, declared prefixes (NUL-separated, "" ends) */
	struct xml_node *stack[STRICT_MAX_DEPTH + 1];
	const char *qnames[STRICT_MAX_DEPTH + 1];
	char *decls[STRICT_MAX_DEPTH + 1];
	size_t depth = 0;
	bool open = false; /* the root is open */
	int r;

	*ret = NULL;
	rd.doc = calloc(1, sizeof(*rd.doc));
	rd.buf = malloc(MIN(len, STRICT_MAX_TEXT) + 8);
	if (!rd.doc || !rd.buf) {
		r = -ENOMEM;
		goto fail;
	}

	/* before the root: blanks and comments */
	for (;;) {
		skip_blanks(&rd);
		if (!at(&rd, "<!--"))
			break;
		if ((r = comment(&rd, NULL)) < 0)
			goto fail;
	}

	while (rd.p < rd.end) {
		struct xml_node *parent = open ? stack[depth] : NULL, *n;
		size_t l;

		if (*rd.p != '<') {
			if (!open) {
				/* after the root: blanks only (and comments, below) */
				skip_blanks(&rd);
				if (rd.p == rd.end)
					break;
				if (!at(&rd, "<!--")) {
					r = PUNT;
					goto fail;
				}
				continue;
			}
			if ((r = chardata(&rd, '<', &l)) < 0)
				goto fail;
			/* one run of character data up to the next markup: one text node, as libxml2
			 * makes it (references included) */
			if (!(n = doc_node(rd.doc, parent, XML_KIND_TEXT)) || !(n->text = doc_strndup(rd.doc, rd.buf, l))) {
				r = -ENOMEM;
				goto fail;
			}
			continue;
		}
		if (at(&rd, "<!--")) {
			if ((r = comment(&rd, parent)) < 0)
				goto fail;
			continue;
		}
		if (at(&rd, "</")) {
			size_t ql;
			if (!open) {
				r = PUNT;
				goto fail;
			}
			rd.p += 2;
			ql = strlen(qnames[depth]);
			if ((size_t)(rd.end - rd.p) < ql || memcmp(rd.p, qnames[depth], ql) != 0 ||
			    scan_name(&rd) != ql) {
				r = PUNT;
				goto fail;
			}
			rd.p += ql;
			skip_blanks(&rd);
			if (rd.p >= rd.end || *rd.p != '>') {
				r = PUNT;
				goto fail;
			}
			rd.p++;
			if (depth == 0)
				open = false;
			else
				depth--;
			continue;
		}
		/* a start tag; after the root closed, a second root is not ours */
		if (!open && rd.doc->root) {
			r = PUNT;
			goto fail;
		}
		rd.p++;
		if (!(l = scan_name(&rd))) {
			r = PUNT;
			goto fail;
		}
		if (open && ++depth > STRICT_MAX_DEPTH) {
			r = PUNT;
			goto fail;
		}
		if (!(n = doc_node(rd.doc, parent, XML_KIND_ELEMENT)) || !(qnames[depth] = doc_strndup(rd.doc, rd.p, l))) {
			r = -ENOMEM;
			goto fail;
		}
		stack[depth] = n;
		decls[depth] = NULL;
		if (!open)
			rd.doc->root = n;
		open = true;
		rd.p += l;
		{
			struct xml_prop *last = NULL;
			size_t n_props = 0, decl_len = 0;
			char decl_buf[1024];
			bool default_ns = false;

			for (;;) {
				bool blank = rd.p < rd.end && is_blank(*rd.p);
				const char *name;
				char quote;
				size_t vl, nl;

				skip_blanks(&rd);
				if (rd.p >= rd.end) {
					r = PUNT;
					goto fail;
				}
				if (*rd.p == '>' || at(&rd, "/>"))
					break;
				if (!blank || !(nl = scan_name(&rd)) || ++n_props > STRICT_MAX_PROPS) {
					r = PUNT;
					goto fail;
				}
				name = rd.p;
				rd.p += nl;
				skip_blanks(&rd);
				if (rd.p >= rd.end || *rd.p != '=') {
					r = PUNT;
					goto fail;
				}
				rd.p++;
				skip_blanks(&rd);
				if (rd.p >= rd.end || (*rd.p != '"' && *rd.p != '\'')) {
					r = PUNT;
					goto fail;
				}
				quote = *rd.p++;
				if ((r = chardata(&rd, quote, &vl)) < 0)
					goto fail;
				rd.p++;
				if (nl == 5 && memcmp(name, "xmlns", 5) == 0) {
					/* the default namespace: a declaration, not an attribute */
					if (default_ns) {
						r = PUNT;
						goto fail;
					}
					default_ns = true;
					continue;
				}
				if (memchr(name, ':', nl)) {
					/* xmlns:prefix with a value: a declaration; any other prefix: libxml2's */
					if (nl <= 6 || memcmp(name, "xmlns:", 6) != 0 || vl == 0 ||
					    (nl == 9 && memcmp(name + 6, "xml", 3) == 0) ||
					    (nl == 11 && memcmp(name + 6, "xmlns", 5) == 0) ||
					    decl_len + (nl - 6) + 2 > sizeof(decl_buf)) {
						r = PUNT;
						goto fail;
					}
					for (const char *d = decl_buf; d < decl_buf + decl_len; d += strlen(d) + 1)
						if (strlen(d) == nl - 6 && memcmp(d, name + 6, nl - 6) == 0) {
							r = PUNT;
							goto fail;
						}
					memcpy(decl_buf + decl_len, name + 6, nl - 6);
					decl_len += nl - 6;
					decl_buf[decl_len++] = '\0';
					continue;
				}
				for (const struct xml_prop *a = n->props; a; a = a->next)
					if (strlen(a->name) == nl && memcmp(a->name, name, nl) == 0) {
						r = PUNT; /* a duplicate */
						goto fail;
					}
				{
					struct xml_prop *a = doc_alloc(rd.doc, sizeof(*a));
					if (!a || !(a->name = doc_strndup(rd.doc, name, nl)) ||
					    !(a->value = doc_strndup(rd.doc, rd.buf, vl))) {
						r = -ENOMEM;
						goto fail;
					}
					a->next = NULL;
					if (last)
						last->next = a;
					else
						n->props = a;
					last = a;
				}
			}
			if (decl_len) {
				decl_buf[decl_len++] = '\0';
				if (!(decls[depth] = doc_alloc(rd.doc, decl_len))) {
					r = -ENOMEM;
					goto fail;
				}
				memcpy(decls[depth], decl_buf, decl_len);
			}
		}
		/* the element's name: its prefix must be declared */
		{
			const char *q = qnames[depth], *colon = strchr(q, ':');
			if (colon && (!prefix_declared(decls, depth, q, (size_t)(colon - q)) ||
				      (colon - q == 3 && memcmp(q, "xml", 3) == 0))) {
				r = PUNT;
				goto fail;
			}
			n->name = local_name(q);
		}
		if (*rd.p == '/') {
			rd.p += 2; /* "/>": an empty element */
			if (depth == 0)
				open = false;
			else
				depth--;
		} else
			rd.p++;
	}
	if (open || !rd.doc->root) {
		r = PUNT;
		goto fail;
	}
	free(rd.buf);
	*ret = rd.doc;
	return 0;
fail:
	free(rd.buf);
	xml_doc_free(rd.doc);
	return r;
}

/* ---- libxml2, and its tree copied into ours ---- */

static struct xml_node *copy_node(struct xml_doc *doc, struct xml_node *parent, const xmlNode *from)
{
	enum xml_kind kind = from->type == XML_ELEMENT_NODE ? XML_KIND_ELEMENT
			   : from->type == XML_TEXT_NODE    ? XML_KIND_TEXT
							    : XML_KIND_OTHER;
	struct xml_node *n = doc_node(doc, parent, kind);
	struct xml_prop *last = NULL;

	if (!n)
		return NULL;
	if (kind != XML_KIND_ELEMENT) {
		const char *t = from->content ? (const char *)from->content : "";
		return (n->text = doc_strndup(doc, t, strlen(t))) ? n : NULL;
	}
	if (!(n->name = doc_strndup(doc, (const char *)from->name, strlen((const char *)from->name))))
		return NULL;
	for (const xmlAttr *a = from->properties; a; a = a->next) {
		struct xml_prop *p = doc_alloc(doc, sizeof(*p));
		const char *v = a->children && a->children->content ? (const char *)a->children->content : "";
		if (!p || !(p->name = doc_strndup(doc, (const char *)a->name, strlen((const char *)a->name))) ||
		    !(p->value = doc_strndup(doc, v, strlen(v))))
			return NULL;
		p->next = NULL;
		if (last)
			last->next = p;
		else
			n->props = p;
		last = p;
	}
	for (const xmlNode *c = from->children; c; c = c->next)
		if (!copy_node(doc, n, c))
			return NULL;
	return n;
}

int xml_read_libxml2(const char *buf, size_t len, struct xml_doc **ret, char *err, size_t errlen)
{
	xmlDocPtr xdoc;
	struct xml_doc *doc;
	const xmlNode *root;
	int r;

	*ret = NULL;
	if (len > INT32_MAX)
		return -EFBIG;
	r = dlopen_libxml2();
	if (r < 0) {
		snprintf(err, errlen, "libxml2 is not available");
		return -ENOSYS;
	}
	/* UTF-8, whatever the document declares: a caller's check of the bytes must see what the
	 * parser sees (an EBCDIC document would hide a DOCTYPE) */
	xdoc = sym_xmlReadMemory(buf, (int)len, "domain.xml", "UTF-8",
				 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!xdoc) {
		const xmlError *e = sym_xmlGetLastError();
		char msg[256];
		size_t l;

		snprintf(msg, sizeof(msg), "%s", e && e->message ? e->message : "parse error");
		l = strlen(msg);
		while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
			msg[--l] = '\0';
		snprintf(err, errlen, "line %d: %s", e ? e->line : 0, msg);
		return -EINVAL;
	}
	if (xdoc->intSubset || xdoc->extSubset) {
		sym_xmlFreeDoc(xdoc);
		return -EPERM;
	}
	doc = calloc(1, sizeof(*doc));
	root = sym_xmlDocGetRootElement(xdoc);
	if (!doc || (root && !(doc->root = copy_node(doc, NULL, root)))) {
		sym_xmlFreeDoc(xdoc);
		xml_doc_free(doc);
		return -ENOMEM;
	}
	sym_xmlFreeDoc(xdoc);
	*ret = doc;
	return 0;
}

int xml_read(const char *buf, size_t len, struct xml_doc **ret, bool *used_libxml2, char *err, size_t errlen)
{
	int r = xml_read_strict(buf, len, ret);

	if (used_libxml2)
		*used_libxml2 = r == PUNT;
	return r == PUNT ? xml_read_libxml2(buf, len, ret, err, errlen) : r;
}

/* ---- walking ---- */

bool xn_is(const struct xml_node *n, const char *name)
{
	return n && n->kind == XML_KIND_ELEMENT && streq(n->name, name);
}

const struct xml_node *xn_child(const struct xml_node *n, const char *name)
{
	for (const struct xml_node *c = n ? n->children : NULL; c; c = c->next)
		if (xn_is(c, name))
			return c;
	return NULL;
}

const char *xn_prop(const struct xml_node *n, const char *name)
{
	for (const struct xml_prop *a = n && n->kind == XML_KIND_ELEMENT ? n->props : NULL; a; a = a->next)
		if (streq(a->name, name))
			return a->value;
	return NULL;
}

const char *xn_text(const struct xml_node *n)
{
	if (!n || !n->children || n->children->next || n->children->kind != XML_KIND_TEXT)
		return NULL;
	return n->children->text;
}
