/* SPDX-License-Identifier: GPL-2.0-or-later */
/* PCI addresses: the kvm.conf form (DDDD:BB:SS.F, BB:SS.F) and the domain XML attributes. */
#include "unit.h"

#include "pciaddr.h"

/* what a failed parse must leave in *ret: untouched */
static const struct pci_addr SENTINEL = { 0xdead, 0xbe, 0xef, 0x42 };

static void assert_addr(const struct pci_addr *a, unsigned d, unsigned b, unsigned s, unsigned f)
{
	assert_int_equal(a->domain, d);
	assert_int_equal(a->bus, b);
	assert_int_equal(a->slot, s);
	assert_int_equal(a->function, f);
}

static void assert_parse(const char *s, unsigned d, unsigned b, unsigned sl, unsigned f)
{
	struct pci_addr a = SENTINEL;

	if (pci_addr_parse(s, &a) != 0)
		fail_msg("pci_addr_parse(\"%s\") failed", s);
	assert_addr(&a, d, b, sl, f);
}

static void assert_parse_fails(const char *s)
{
	struct pci_addr a = SENTINEL;
	int r = pci_addr_parse(s, &a);

	if (r != -EINVAL)
		fail_msg("pci_addr_parse(\"%s\") returned %d, expected -EINVAL", s ? s : "(null)", r);
	assert_true(pci_addr_equal(&a, &SENTINEL));
}

static void test_parse_long_form(void **state)
{
	(void)state;
	assert_parse("0000:09:00.0", 0, 0x09, 0x00, 0);
	assert_parse("0000:09:00.1", 0, 0x09, 0x00, 1);
	assert_parse("0001:0a:1f.7", 1, 0x0a, 0x1f, 7);
	assert_parse("ffff:ff:1f.7", 0xffff, 0xff, 0x1f, 7);
	assert_parse("0000:00:00.0", 0, 0, 0, 0);
	assert_parse("10de:c1:0b.3", 0x10de, 0xc1, 0x0b, 3);
}

static void test_parse_short_form(void **state)
{
	(void)state;
	assert_parse("09:00.0", 0, 0x09, 0, 0);
	assert_parse("0a:00.1", 0, 0x0a, 0, 1);
	assert_parse("ff:1f.7", 0, 0xff, 0x1f, 7);
	assert_parse("00:00.0", 0, 0, 0, 0);
}

static void test_parse_hex_case(void **state)
{
	(void)state;
	assert_parse("ABCD:EF:1F.7", 0xabcd, 0xef, 0x1f, 7);
	assert_parse("abcd:ef:1f.7", 0xabcd, 0xef, 0x1f, 7);
	assert_parse("AbCd:eF:1f.7", 0xabcd, 0xef, 0x1f, 7);
	assert_parse("0A:1E.6", 0, 0x0a, 0x1e, 6);
}

static void test_parse_out_of_range(void **state)
{
	(void)state;
	/* slot is 5 bits, function 3 bits */
	assert_parse_fails("0000:09:20.0");
	assert_parse_fails("0000:09:ff.0");
	assert_parse_fails("09:20.0");
	assert_parse_fails("0000:09:00.8");
	assert_parse_fails("0000:09:00.f");
	assert_parse_fails("09:00.9");
	/* the largest valid values still parse */
	assert_parse("0000:09:1f.7", 0, 9, 0x1f, 7);
}

static void test_parse_separators(void **state)
{
	(void)state;
	assert_parse_fails("0000:09:00:0");
	assert_parse_fails("0000.09:00.0");
	assert_parse_fails("0000:09.00.0");
	assert_parse_fails("0000-09-00-0");
	assert_parse_fails("0000_09_00_0");
	assert_parse_fails("09.00.0");
	assert_parse_fails("09:00:0");
	assert_parse_fails("09-00.0");
	/* the tutorials' virsh nodedev name is not an address */
	assert_parse_fails("pci_0000_09_00_0");
}

static void test_parse_trailing_junk(void **state)
{
	(void)state;
	assert_parse_fails("0000:09:00.0x");
	assert_parse_fails("0000:09:00.0 ");
	assert_parse_fails("0000:09:00.0\n");
	assert_parse_fails("09:00.0\n");
	assert_parse_fails("09:00.0 ");
	assert_parse_fails(" 09:00.0");
	assert_parse_fails("09:00.00");
	assert_parse_fails("0000:09:00.0.0");
}

static void test_parse_empty_and_length(void **state)
{
	(void)state;
	assert_parse_fails(NULL);
	assert_parse_fails("");
	assert_parse_fails(":");
	assert_parse_fails(":.");
	/* too long */
	assert_parse_fails("00000:09:00.0");
	assert_parse_fails("0000:009:00.0");
	assert_parse_fails("0000:09:000.0");
	assert_parse_fails("0000:0000:09:00.0");
	/* too short */
	assert_parse_fails("000:09:00.0");
	assert_parse_fails("0000:9:00.0");
	assert_parse_fails("9:00.0");
	assert_parse_fails("09:0.0");
	assert_parse_fails("09:00.");
}

static void test_parse_not_hex(void **state)
{
	(void)state;
	assert_parse_fails("000g:09:00.0");
	assert_parse_fails("0000:0g:00.0");
	assert_parse_fails("0000:09:0g.0");
	assert_parse_fails("0000:09:00.g");
	assert_parse_fails(" 000:09:00.0");
	assert_parse_fails("+000:09:00.0");
	assert_parse_fails("-000:09:00.0");
	assert_parse_fails("0x00:09:00.0");
	assert_parse_fails("0000:+9:00.0");
	assert_parse_fails("0000:09:-1.0");
}

static void assert_xml(const char *d, const char *b, const char *s, const char *f, unsigned ed,
		       unsigned eb, unsigned es, unsigned ef)
{
	struct pci_addr a = SENTINEL;

	if (pci_addr_from_xml(d, b, s, f, &a) != 0)
		fail_msg("pci_addr_from_xml(%s, %s, %s, %s) failed", d ? d : "NULL", b ? b : "NULL",
			 s ? s : "NULL", f ? f : "NULL");
	assert_addr(&a, ed, eb, es, ef);
}

static void assert_xml_fails(const char *d, const char *b, const char *s, const char *f)
{
	struct pci_addr a = SENTINEL;
	int r = pci_addr_from_xml(d, b, s, f, &a);

	if (r != -EINVAL)
		fail_msg("pci_addr_from_xml(%s, %s, %s, %s) returned %d, expected -EINVAL",
			 d ? d : "NULL", b ? b : "NULL", s ? s : "NULL", f ? f : "NULL", r);
	assert_true(pci_addr_equal(&a, &SENTINEL));
}

static void test_xml_hex(void **state)
{
	(void)state;
	/* what libvirt writes */
	assert_xml("0x0000", "0x09", "0x00", "0x0", 0, 9, 0, 0);
	assert_xml("0x0000", "0x0a", "0x00", "0x1", 0, 0x0a, 0, 1);
	assert_xml("0xffff", "0xff", "0x1f", "0x7", 0xffff, 0xff, 0x1f, 7);
	assert_xml("0X0001", "0XC1", "0X1F", "0X7", 1, 0xc1, 0x1f, 7);
	assert_xml("0x0000", "0xAb", "0x1E", "0x6", 0, 0xab, 0x1e, 6);
	/* leading zeros do not count against the range */
	assert_xml("0x000000", "0x0000009", "0x00000", "0x0000", 0, 9, 0, 0);
}

static void test_xml_decimal(void **state)
{
	(void)state;
	assert_xml("0", "9", "0", "0", 0, 9, 0, 0);
	assert_xml("65535", "255", "31", "7", 0xffff, 0xff, 0x1f, 7);
	/* base 0, as libvirt's virStrToLong_uip(..., 0, ...): a leading 0 is octal */
	assert_xml("0", "010", "017", "07", 0, 8, 15, 7);
}

static void test_xml_missing_domain(void **state)
{
	(void)state;
	assert_xml(NULL, "0x09", "0x00", "0x1", 0, 9, 0, 1);
	assert_xml(NULL, "0xff", "0x1f", "0x7", 0, 0xff, 0x1f, 7);
	/* the other three are required */
	assert_xml_fails("0x0000", NULL, "0x00", "0x0");
	assert_xml_fails("0x0000", "0x09", NULL, "0x0");
	assert_xml_fails("0x0000", "0x09", "0x00", NULL);
	assert_xml_fails(NULL, NULL, NULL, NULL);
}

static void test_xml_out_of_range(void **state)
{
	(void)state;
	assert_xml_fails("0x10000", "0x09", "0x00", "0x0");
	assert_xml_fails("0x0000", "0x100", "0x00", "0x0");
	assert_xml_fails("0x0000", "0x09", "0x20", "0x0");
	assert_xml_fails("0x0000", "0x09", "32", "0x0");
	assert_xml_fails("0x0000", "0x09", "0x00", "0x8");
	assert_xml_fails("0x0000", "0x09", "0x00", "8");
	assert_xml_fails("0x0000", "256", "0x00", "0x0");
	assert_xml_fails("65536", "0x09", "0x00", "0x0");
	/* beyond unsigned long: strtoul's ERANGE */
	assert_xml_fails("0x0000", "0x1ffffffffffffffffff", "0x00", "0x0");
	assert_xml_fails("0x0000", "99999999999999999999999", "0x00", "0x0");
	/* wraps to a small number if truncated to 32 bits */
	assert_xml_fails("0x0000", "0x100000009", "0x00", "0x0");
}

static void test_xml_malformed(void **state)
{
	(void)state;
	assert_xml_fails("", "0x09", "0x00", "0x0");
	assert_xml_fails("0x0000", "", "0x00", "0x0");
	assert_xml_fails("0x0000", "0x09", "", "0x0");
	assert_xml_fails("0x0000", "0x09", "0x00", "");
	assert_xml_fails("0x0000", "-1", "0x00", "0x0");
	assert_xml_fails("0x0000", "+9", "0x00", "0x0");
	assert_xml_fails("0x0000", " 9", "0x00", "0x0");
	assert_xml_fails("0x0000", "9 ", "0x00", "0x0");
	assert_xml_fails("0x0000", "0x", "0x00", "0x0");
	assert_xml_fails("0x0000", "0x0g", "0x00", "0x0");
	assert_xml_fails("0x0000", "09", "0x00", "0x0"); /* not octal */
	assert_xml_fails("0x0000", "nine", "0x00", "0x0");
	assert_xml_fails("0x0000", "0x09", "0x00", "0x0.");
}

static void test_format(void **state)
{
	struct pci_addr a = { 0, 9, 0, 0 }, b = { 0xabcd, 0xef, 0x1f, 7 };
	char buf[PCI_ADDR_STRLEN];

	(void)state;
	pci_addr_format(&a, buf);
	assert_string_equal(buf, "0000:09:00.0");
	pci_addr_format(&b, buf);
	assert_string_equal(buf, "abcd:ef:1f.7"); /* lower case, as sysfs names devices */
	assert_int_equal(strlen(buf) + 1, PCI_ADDR_STRLEN);
}

static void test_format_round_trip(void **state)
{
	static const unsigned domains[] = { 0, 1, 0x10, 0xabcd, 0xffff };
	char buf[PCI_ADDR_STRLEN];
	size_t n = 0;

	(void)state;
	for (size_t d = 0; d < ELEMENTSOF(domains); d++)
		for (unsigned b = 0; b <= 0xff; b++)
			for (unsigned s = 0; s <= 0x1f; s++)
				for (unsigned f = 0; f <= 7; f++) {
					struct pci_addr a = { domains[d], b, s, f }, back = SENTINEL;

					pci_addr_format(&a, buf);
					if (pci_addr_parse(buf, &back) != 0 || !pci_addr_equal(&a, &back))
						fail_msg("round trip of %s failed", buf);
					/* and the short form means domain 0 */
					if (domains[d] == 0) {
						back = SENTINEL;
						assert_int_equal(pci_addr_parse(buf + 5, &back), 0);
						assert_true(pci_addr_equal(&a, &back));
					}
					n++;
				}
	assert_int_equal(n, 5 * 256 * 32 * 8);
}

static void test_equal(void **state)
{
	struct pci_addr a = { 0, 9, 0, 0 }, b = { 0, 9, 0, 0 };

	(void)state;
	assert_true(pci_addr_equal(&a, &b));
	b.function = 1;
	assert_false(pci_addr_equal(&a, &b));
	b = a;
	b.slot = 1;
	assert_false(pci_addr_equal(&a, &b));
	b = a;
	b.bus = 0x0a;
	assert_false(pci_addr_equal(&a, &b));
	b = a;
	b.domain = 1;
	assert_false(pci_addr_equal(&a, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_long_form),
		cmocka_unit_test(test_parse_short_form),
		cmocka_unit_test(test_parse_hex_case),
		cmocka_unit_test(test_parse_out_of_range),
		cmocka_unit_test(test_parse_separators),
		cmocka_unit_test(test_parse_trailing_junk),
		cmocka_unit_test(test_parse_empty_and_length),
		cmocka_unit_test(test_parse_not_hex),
		cmocka_unit_test(test_xml_hex),
		cmocka_unit_test(test_xml_decimal),
		cmocka_unit_test(test_xml_missing_domain),
		cmocka_unit_test(test_xml_out_of_range),
		cmocka_unit_test(test_xml_malformed),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
