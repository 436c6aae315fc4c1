/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The strict XML reader against libxml2 (src/xml.c). The one rule: a document the strict
 * reader accepts, libxml2 accepts too, with the same tree (kinds, names, text, attributes in
 * order). It is checked on libvirt's own documents (fixtures), on a table of the cases each
 * reader has to get right, and on many thousands of mutations of both. Documents the strict
 * reader steps aside for go to libxml2, whose verdict is the answer.
 */
#include "unit.h"

#include "xml.h"

/* Same tree; on a difference, a message naming where. */
static bool same_tree(const struct xml_node *a, const struct xml_node *b, char *where, size_t size)
{
	for (; a || b; a = a->next, b = b->next) {
		const struct xml_prop *pa, *pb;

		if (!a || !b) {
			snprintf(where, size, "%s node missing", a ? "libxml2's" : "strict reader's");
			return false;
		}
		if (a->kind != b->kind) {
			snprintf(where, size, "kind %d against %d", a->kind, b->kind);
			return false;
		}
		if (a->kind != XML_KIND_ELEMENT) {
			if (!streq(a->text, b->text)) {
				snprintf(where, size, "text \"%.60s\" against \"%.60s\"", a->text, b->text);
				return false;
			}
			continue;
		}
		if (!streq(a->name, b->name)) {
			snprintf(where, size, "element <%s> against <%s>", a->name, b->name);
			return false;
		}
		for (pa = a->props, pb = b->props; pa || pb; pa = pa->next, pb = pb->next)
			if (!pa || !pb || !streq(pa->name, pb->name) || !streq(pa->value, pb->value)) {
				snprintf(where, size, "<%s>: attribute %s=\"%.40s\" against %s=\"%.40s\"", a->name,
					 pa ? pa->name : "(none)", pa ? pa->value : "", pb ? pb->name : "(none)",
					 pb ? pb->value : "");
				return false;
			}
		if (!same_tree(a->children, b->children, where, size))
			return false;
	}
	return true;
}

enum verdict { STRICT, LIBXML2_OK, LIBXML2_ERROR };

/* Reads len bytes both ways; fails the test if the strict reader accepted what libxml2 would
 * not, or built another tree. Returns what happened. */
static enum verdict compare(const char *xml, size_t len)
{
	struct xml_doc *s = NULL, *l = NULL;
	char err[300] = "", where[300] = "";
	int rs = xml_read_strict(xml, len, &s), rl = xml_read_libxml2(xml, len, &l, err, sizeof(err));
	enum verdict v;

	if (rs != 0 && rs != -EOPNOTSUPP)
		fail_msg("strict reader: %d on \"%.*s\"", rs, (int)MIN(len, 200), xml);
	if (rs == 0 && rl != 0)
		fail_msg("the strict reader accepted what libxml2 refuses (%s): \"%.*s\"", err,
			 (int)MIN(len, 300), xml);
	if (rs == 0 && !same_tree(xml_doc_root(s), xml_doc_root(l), where, sizeof(where)))
		fail_msg("trees differ (strict against libxml2: %s) on \"%.*s\"", where, (int)MIN(len, 300), xml);
	v = rs == 0 ? STRICT : rl == 0 ? LIBXML2_OK : LIBXML2_ERROR;
	xml_doc_free(s);
	xml_doc_free(l);
	return v;
}

static const struct {
	const char *xml;
	enum verdict want;
} cases[] = {
	/* what libvirt writes, and what the strict reader therefore reads itself */
	{ "<domain/>", STRICT },
	{ " \n<domain>\n  <name>a</name>\n</domain>\n", STRICT },
	{ "<domain><name>a&amp;b&lt;&gt;&apos;&quot;c</name></domain>", STRICT },
	{ "<d a='x\ty\nz' b=\"it's\" c = '1' />", STRICT },
	{ "<d a='&#9;&#10;&#13;'>&#13;&#x1F600;&#65;&#xe9;</d>", STRICT },
	{ "<d>\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80</d>", STRICT },
	{ "<d><!-- c --> t <!----><!---x--></d>", STRICT },
	{ "<!-- WARNING: generated --><d/><!-- tail -->\n", STRICT },
	{ "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:commandline>"
	  "<qemu:arg value='-x'/></qemu:commandline></domain>",
	  STRICT },
	{ "<d xmlns='urn:x'><e xmlns=''/></d>", STRICT },
	{ "<d>]] a>b ]></d>", STRICT },
	{ "<d a='>]]>'/>", STRICT },
	{ "<a.b-c_d e.f-g_h='1'><_x/></a.b-c_d>", STRICT },
	/* what it leaves to libxml2, which accepts it */
	{ "<?xml version='1.0' encoding='UTF-8'?><d/>", LIBXML2_OK },
	{ "\xef\xbb\xbf<d/>", LIBXML2_OK },
	{ "<d>\r\n</d>", LIBXML2_OK },
	{ "<d a='\r'/>", LIBXML2_OK },
	{ "<d><![CDATA[x]]></d>", LIBXML2_OK },
	{ "<d><?pi x?></d>", LIBXML2_OK },
	{ "<d xml:lang='en'/>", LIBXML2_OK },
	{ "<d xmlns:q='urn:q' q:a='1'/>", LIBXML2_OK },
	{ "<d>\xc3\x80\xc3\x81</d>", STRICT },
	{ "<\xc3\xa9/>", LIBXML2_OK },
	/* what it leaves to libxml2, which refuses it */
	{ "<d>&nbsp;</d>", LIBXML2_ERROR },
	{ "<d>&#0;</d>", LIBXML2_ERROR },
	{ "<d>&#xD800;</d>", LIBXML2_ERROR },
	{ "<d>&#x110000;</d>", LIBXML2_ERROR },
	{ "<d>&#;</d>", LIBXML2_ERROR },
	{ "<d>&amp</d>", LIBXML2_ERROR },
	{ "<d a='1' a='2'/>", LIBXML2_ERROR },
	{ "<d a='1'b='2'/>", LIBXML2_ERROR },
	{ "<d a=1/>", LIBXML2_ERROR },
	{ "<d a='<'/>", LIBXML2_ERROR },
	{ "<d a='1/>", LIBXML2_ERROR },
	{ "<d>]]></d>", LIBXML2_ERROR },
	{ "<d><e></d></e>", LIBXML2_ERROR },
	{ "<d></dd>", LIBXML2_ERROR },
	{ "<d/><e/>", LIBXML2_ERROR },
	{ "<d/>x", LIBXML2_ERROR },
	{ "x<d/>", LIBXML2_ERROR },
	{ "<d><!-- a -- b --></d>", LIBXML2_ERROR },
	{ "<d><!-- a ---></d>", LIBXML2_ERROR },
	{ "<d>\xff</d>", LIBXML2_ERROR },
	{ "<d>\xed\xa0\x80</d>", LIBXML2_ERROR },
	{ "<d>\xef\xbf\xbe</d>", LIBXML2_ERROR },
	{ "<d>\xc0\xaf</d>", LIBXML2_ERROR },
	{ "<d>\x01</d>", LIBXML2_ERROR },
	{ "<1d/>", LIBXML2_ERROR },
	{ "<d", LIBXML2_ERROR },
	{ "<d>", LIBXML2_ERROR },
	{ "<d></d", LIBXML2_ERROR },
	{ "", LIBXML2_ERROR },
	{ "   ", LIBXML2_ERROR },
	{ "<d xmlns='a' xmlns='b'/>", LIBXML2_ERROR },
	{ "<d xmlns:q='a' xmlns:q='b'/>", LIBXML2_ERROR },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		enum verdict v = compare(cases[i].xml, strlen(cases[i].xml));
		if (v != cases[i].want)
			fail_msg("case %zu \"%s\": verdict %d, expected %d", i, cases[i].xml, v, cases[i].want);
	}
}

/* Namespaces as libxml2 names them: an undeclared prefix stays in the name. */
static void test_undeclared_prefix(void **state)
{
	struct xml_doc *doc;
	char err[300];
	bool used;

	(void)state;
	assert_int_equal(compare("<q:d/>", 6), LIBXML2_OK);
	assert_int_equal(xml_read("<d><q:e/></d>", 13, &doc, &used, err, sizeof(err)), 0);
	assert_true(used);
	assert_string_equal(xml_doc_root(doc)->children->name, "q:e");
	xml_doc_free(doc);
}

static const char *const fixtures[] = { "gaming-vm.xml", "libvirt-prepare-begin.xml", "libvirt-started-begin.xml" };

/* libvirt's own documents never need libxml2 */
static void test_fixtures_strict(void **state)
{
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(fixtures); i++) {
		size_t len;
		char *xml = unit_read_fixture(fixtures[i], &len);
		struct xml_doc *doc;
		char err[300];
		bool used = true;

		if (compare(xml, len) != STRICT)
			fail_msg("%s: the strict reader left it to libxml2", fixtures[i]);
		assert_int_equal(xml_read(xml, len, &doc, &used, err, sizeof(err)), 0);
		assert_false(used);
		assert_true(xn_is(xml_doc_root(doc), "domain"));
		free(xml);
		xml_doc_free(doc);
	}
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/*
 * Mutations of libvirt's documents and of the table's well-formed ones: bytes deleted, replaced or inserted
 * (markup characters, blanks, a carriage return, bits of references and comments, invalid
 * and multi-byte UTF-8), slices copied elsewhere, truncation. Every one is compared.
 */
static void test_mutations(void **state)
{
	static const char *const bits[] = { "<", ">", "&", "'", "\"", "/", "=", " ", "\t", "\n", "\r", "-", "!",
					    "?", ":", "]", "#", ";", "x", "\xc3", "\xa9", "\xff", "\x01", "&amp;",
					    "&#", "<!--", "-->", "]]>", "</", "/>", "xmlns:", "&#x", "\xef\xbf\xbe" };
	const char *bases[ELEMENTSOF(fixtures) + ELEMENTSOF(cases)];
	size_t lens[ELEMENTSOF(bases)], n_bases = 0, strict = 0, total = 0;
	char *owned[ELEMENTSOF(fixtures)];
	char *buf = malloc(1 << 20);
	/* UNIT_XML_MUTATIONS=N[:SEED] for a longer run */
	const char *env = getenv("UNIT_XML_MUTATIONS");
	unsigned long iterations = env ? strtoul(env, NULL, 10) : 12000;

	(void)state;
	if (env && strchr(env, ':'))
		rnd_state = strtoull(strchr(env, ':') + 1, NULL, 0) | 1;
	assert_non_null(buf);
	for (size_t i = 0; i < ELEMENTSOF(fixtures); i++) {
		owned[i] = unit_read_fixture(fixtures[i], &lens[n_bases]);
		bases[n_bases++] = owned[i];
	}
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		if (cases[i].want != STRICT)
			continue;
		bases[n_bases] = cases[i].xml;
		lens[n_bases++] = strlen(cases[i].xml);
	}
	for (unsigned long iter = 0; iter < iterations; iter++) {
		size_t b = rnd() % n_bases, len = lens[b], edits = 1 + rnd() % 2;

		memcpy(buf, bases[b], len);
		for (size_t e = 0; e < edits; e++) {
			size_t at = len ? rnd() % (len + 1) : 0, l;
			const char *bit = bits[rnd() % ELEMENTSOF(bits)];

			switch (rnd() % 5) {
			case 0: /* delete */
				if (at < len) {
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
				}
				break;
			case 1: /* replace */
				if (at < len)
					buf[at] = bit[0];
				break;
			case 2: /* insert */
				l = strlen(bit);
				memmove(buf + at + l, buf + at, len - at);
				memcpy(buf + at, bit, l);
				len += l;
				break;
			case 3: { /* copy a slice elsewhere */
				size_t from = len ? rnd() % len : 0, n = MIN(len - from, 1 + rnd() % 24);
				char tmp[24];
				memcpy(tmp, buf + from, n);
				memmove(buf + at + n, buf + at, len - at);
				memcpy(buf + at, tmp, n);
				len += n;
				break;
			}
			default: /* truncate */
				len = at;
			}
		}
		if (memchr(buf, '\0', len))
			continue; /* domain_parse() refuses those before any reader */
		total++;
		if (compare(buf, len) == STRICT)
			strict++;
	}
	print_message("%zu mutations, %zu read by the strict reader\n", total, strict);
	/* the comparison means something only if the strict reader accepted many of them */
	if (strict < total / 10)
		fail_msg("the strict reader accepted only %zu of %zu mutations", strict, total);
	for (size_t i = 0; i < ELEMENTSOF(fixtures); i++)
		free(owned[i]);
	free(buf);
}

/* Beyond the strict reader's depth, libxml2 decides (and refuses at its own limit). */
static void test_depth(void **state)
{
	char *xml = malloc(4096);
	size_t o = 0;

	(void)state;
	assert_non_null(xml);
	for (int i = 0; i < 202; i++, o += 3)
		memcpy(xml + o, "<a>", 3);
	for (int i = 0; i < 202; i++, o += 4)
		memcpy(xml + o, "</a>", 4);
	assert_int_equal(compare(xml, o), LIBXML2_OK);
	/* the root and 200 levels below it are the strict reader's */
	assert_int_equal(compare(xml + 3, o - 7), STRICT);
	free(xml);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_undeclared_prefix),
		cmocka_unit_test(test_fixtures_strict),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_depth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
