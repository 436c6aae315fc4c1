/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * GPU ROMs (vbios.c): synthetic PCI option ROM images built here (55AA, PCIR, legacy
 * checksum, EFI header), parsed, found behind an nvflash-style header, checked against the
 * GPU's ids, written only once verified; and the sysfs dump, against a temporary root whose
 * rom attribute is a FIFO served by a thread that behaves as the kernel does ("1", the ROM,
 * "0").
 */
#include "unit.h"

#include <pthread.h>

#include "host.h"
#include "vbios.h"

#define NV_VENDOR 0x10de
#define NV_DEVICE 0x1e84
#define AMD_VENDOR 0x1002
#define AMD_DEVICE 0x67df
#define HEADER_LEN 680 /* nvflash's header is a few hundred bytes */

struct spec {
	uint16_t vendor, device;
	uint8_t code_type;
	size_t blocks; /* 512-byte units */
	bool last;
	uint8_t seed;
};

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v & 0xff);
	p[1] = (uint8_t)(v >> 8);
}

/* One image at p (s->blocks * 512 bytes); returns its length. */
static size_t build_image(uint8_t *p, const struct spec *s)
{
	size_t len = s->blocks * 512;
	uint8_t *pcir = p + 0x40, sum = 0;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + s->seed);
	memset(p, 0, 0x60);
	p[0] = 0x55;
	p[1] = 0xaa;
	if (s->code_type == VBIOS_CODE_X86) {
		p[2] = (uint8_t)s->blocks;
		p[3] = 0xe9; /* jmp: the init entry */
		memcpy(p + 0x1e, "IBM", 3);
		memcpy(p + 0x80, "NVIDIA VIDEO BIOS", 17);
	} else if (s->code_type == VBIOS_CODE_EFI) {
		put16(p + 2, (unsigned)s->blocks);
		put16(p + 4, 0x0ef1);
		put16(p + 0x0a, 0x8664);
	}
	put16(p + 0x18, 0x40);
	memcpy(pcir, "PCIR", 4);
	put16(pcir + 4, s->vendor);
	put16(pcir + 6, s->device);
	put16(pcir + 0x0a, 0x18);
	pcir[0x0c] = 3;
	pcir[0x0f] = 0x03; /* display controller, VGA */
	put16(pcir + 0x10, (unsigned)s->blocks);
	put16(pcir + 0x12, 1);
	pcir[0x14] = s->code_type;
	pcir[0x15] = s->last ? 0x80 : 0;
	if (s->code_type == VBIOS_CODE_X86) {
		p[len - 1] = 0;
		for (size_t i = 0; i < len; i++)
			sum = (uint8_t)(sum + p[i]);
		p[len - 1] = (uint8_t)-sum;
	}
	return len;
}

static const struct spec NV_LEGACY = { NV_VENDOR, NV_DEVICE, VBIOS_CODE_X86, 120, true, 1 };
static const struct spec NV_LEGACY_MORE = { NV_VENDOR, NV_DEVICE, VBIOS_CODE_X86, 120, false, 1 };
static const struct spec NV_EFI = { NV_VENDOR, NV_DEVICE, VBIOS_CODE_EFI, 112, true, 2 };
static const struct spec AMD_LEGACY = { AMD_VENDOR, AMD_DEVICE, VBIOS_CODE_X86, 116, true, 3 };

/* An nvflash-style header: text, a stray 55 AA that starts no image, padding. */
static size_t build_header(uint8_t *p)
{
	memset(p, 0xff, HEADER_LEN);
	memcpy(p, "NVGI\x00\x01", 6);
	memcpy(p + 0x20, "NVIDIA Firmware Update Header", 29);
	p[0x100] = 0x55;
	p[0x101] = 0xaa;
	p[0x118] = 0x10; /* its "pointer" leads to no PCIR */
	p[0x119] = 0x00;
	return HEADER_LEN;
}

struct fx {
	char dir[PATH_MAX];
	char in[PATH_MAX + 16], out[PATH_MAX + 16];
	uint8_t *buf;
	size_t len;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	unit_mkdtemp(f->dir, sizeof(f->dir));
	snprintf(f->in, sizeof(f->in), "%s/dump.rom", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/fixed.rom", f->dir);
	f->buf = calloc(1, 1 << 20);
	assert_non_null(f->buf);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	(void)host_init(NULL);
	unit_rm_rf(f->dir);
	free(f->buf);
	free(f);
	return 0;
}

static void add(struct fx *f, const struct spec *s)
{
	f->len += build_image(f->buf + f->len, s);
}

/* The whole file at path, its length in *len; NULL when it does not exist. */
static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *b;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void assert_file_equals(const char *path, const uint8_t *data, size_t len)
{
	size_t n = 0;
	uint8_t *b = slurp(path, &n);

	if (!b)
		fail_msg("%s was not written", path);
	assert_int_equal(n, len);
	assert_memory_equal(b, data, len);
	free(b);
}

/* No file but the ones named is in the directory (no temporary file left behind). */
static void assert_dir_holds(const char *dir, size_t n_expected)
{
	char **names = NULL;
	size_t n = 0;

	assert_int_equal(dir_list(dir, &names, &n), 0);
	if (n != n_expected) {
		for (size_t i = 0; i < n; i++)
			print_message("  %s\n", names[i]);
		fail_msg("%s holds %zu entries, expected %zu", dir, n, n_expected);
	}
	strv_free(names, n);
}

static void assert_parse_fails(const uint8_t *data, size_t len, const char *reason)
{
	struct vbios_chain c;
	char why[512] = "";
	int r = vbios_parse(data, len, &c, why, sizeof(why));

	if (r != -EINVAL || !strstr(why, reason))
		fail_msg("vbios_parse: %d \"%s\", expected -EINVAL with \"%s\"", r, why, reason);
}

/* ---------------------------------------------------------------------------- parsing */

static void test_plain_valid(void **state)
{
	struct fx *f = *state;
	struct vbios_chain c;
	char why[512] = "";

	add(f, &NV_LEGACY);
	assert_int_equal(vbios_parse(f->buf, f->len, &c, why, sizeof(why)), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.length, 120 * 512);
	assert_int_equal(c.images[0].offset, 0);
	assert_int_equal(c.images[0].pcir, 0x40);
	assert_int_equal(c.images[0].vendor, NV_VENDOR);
	assert_int_equal(c.images[0].device, NV_DEVICE);
	assert_int_equal(c.images[0].code_type, VBIOS_CODE_X86);
	assert_int_equal(c.images[0].class_code, 0x030000);
	assert_int_equal(c.images[0].length, 120 * 512);
	assert_true(c.images[0].last);
	assert_true(c.images[0].checksummed);
	assert_true(c.images[0].checksum_ok);
	assert_string_equal(vbios_code_type_name(VBIOS_CODE_X86), "x86 BIOS");
	assert_string_equal(vbios_code_type_name(VBIOS_CODE_EFI), "EFI");
	assert_null(vbios_code_type_name(0x70));
}

static void test_trailing_bytes_not_part(void **state)
{
	struct fx *f = *state;
	struct vbios_chain c;
	char why[512] = "";

	add(f, &NV_LEGACY);
	memset(f->buf + f->len, 0xff, 4096); /* the rest of the flash chip */
	assert_int_equal(vbios_parse(f->buf, f->len + 4096, &c, why, sizeof(why)), 0);
	assert_int_equal(c.length, f->len);
}

static void test_bad_checksum(void **state)
{
	struct fx *f = *state;
	struct vbios_chain c;
	char why[512] = "";

	add(f, &NV_LEGACY);
	f->buf[0x200] ^= 0x01;
	assert_int_equal(vbios_parse(f->buf, f->len, &c, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "bad checksum"));
	assert_non_null(strstr(why, "image 0"));
	/* the image is listed, its checksum known to be bad */
	assert_int_equal(c.n, 1);
	assert_true(c.images[0].checksummed);
	assert_false(c.images[0].checksum_ok);
}

static void test_reasons(void **state)
{
	struct fx *f = *state;
	uint8_t *p = f->buf;

	add(f, &NV_LEGACY);
	assert_parse_fails(p, 0, "no 55AA signature at offset 0: the data is empty");
	assert_parse_fails(p, 1, "only 1 byte(s): too short");
	assert_parse_fails(p + 1, f->len - 1, "no 55AA signature at offset 0 (it starts with AA 78)");
	/* shorter than the header with its PCIR pointer */
	assert_parse_fails(p, 0x19, "only 25 byte(s): too short for an option ROM header");
	/* past the end: a truncated dump */
	assert_parse_fails(p, f->len - 512, "past the end of the data");
	/* a PCIR pointer leading past the end */
	assert_parse_fails(p, 0x50, "leads past the end");

	f->buf[0x18] = 0;
	assert_parse_fails(p, f->len, "no PCIR structure (its pointer at +0x18 is 0)");
	f->buf[0x18] = 0x40;

	f->buf[0x41] = 'X';
	assert_parse_fails(p, f->len, "bad PCIR signature at 0x40");
	f->buf[0x41] = 'C';

	put16(f->buf + 0x50, 0);
	assert_parse_fails(p, f->len, "image length 0");
	put16(f->buf + 0x50, 120);

	f->buf[2] = 0;
	assert_parse_fails(p, f->len, "size byte at offset 2 says 0 bytes");
	f->buf[2] = 121;
	assert_parse_fails(p, f->len, "size byte at offset 2 says 61952 bytes");
	f->buf[2] = 120;

	/* not marked last (the reserved byte after it keeps the sum), and nothing after it */
	f->buf[0x55] = 0;
	f->buf[0x56] = 0x80;
	assert_parse_fails(p, f->len, "no last-image indicator");
	/* not marked last, and what follows is no image */
	memset(f->buf + f->len, 0xff, 1024);
	assert_parse_fails(p, f->len + 1024, "no 55AA signature at 0xf000, where image 1 should start");
	/* ... or only the start of one */
	f->buf[f->len] = 0x55;
	f->buf[f->len + 1] = 0xaa;
	assert_parse_fails(p, f->len + 16, "image 1 at 0xf000: only 16 byte(s) left, too short");
	f->buf[0x55] = 0x80;
	f->buf[0x56] = 0;

	/* intact again */
	{
		struct vbios_chain c;
		char why[512];
		assert_int_equal(vbios_parse(p, f->len, &c, why, sizeof(why)), 0);
	}
}

static void test_too_many_images(void **state)
{
	struct fx *f = *state;
	struct spec s = { NV_VENDOR, NV_DEVICE, VBIOS_CODE_EFI, 1, false, 5 };

	for (int i = 0; i < VBIOS_MAX_IMAGES + 1; i++)
		add(f, &s);
	assert_parse_fails(f->buf, f->len, "more than 32 images");
}

static void test_chain_legacy_efi(void **state)
{
	struct fx *f = *state;
	struct vbios_chain c;
	char why[512] = "";

	add(f, &NV_LEGACY_MORE);
	add(f, &NV_EFI);
	assert_int_equal(vbios_parse(f->buf, f->len, &c, why, sizeof(why)), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.length, (120 + 112) * 512);
	assert_int_equal(c.images[0].code_type, VBIOS_CODE_X86);
	assert_false(c.images[0].last);
	assert_true(c.images[0].checksum_ok);
	assert_int_equal(c.images[1].offset, 120 * 512);
	assert_int_equal(c.images[1].code_type, VBIOS_CODE_EFI);
	assert_int_equal(c.images[1].efi_machine, 0x8664);
	assert_false(c.images[1].checksummed);
	assert_true(c.images[1].last);
}

/* ---------------------------------------------------------------------------- finding, ids */

static void test_find_behind_header(void **state)
{
	struct fx *f = *state;
	struct vbios_chain c;
	char why[512] = "";
	size_t at = 0;

	f->len = build_header(f->buf);
	add(f, &NV_LEGACY);
	assert_parse_fails(f->buf, f->len, "no 55AA signature at offset 0 (it starts with 4E 56)");
	assert_int_equal(vbios_find(f->buf, f->len, &at, &c, why, sizeof(why)), 0);
	assert_int_equal(at, HEADER_LEN);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.length, 120 * 512);

	/* nothing that starts an image anywhere */
	assert_int_equal(vbios_find(f->buf, HEADER_LEN, &at, &c, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "no option ROM image"));
	assert_int_equal(vbios_find(f->buf, 3, &at, &c, why, sizeof(why)), -ENOENT);
}

static void test_find_reports_broken_first_image(void **state)
{
	struct fx *f = *state;
	struct vbios_chain c;
	char why[512] = "";
	size_t at = 0;

	/* the legacy image is broken: its valid EFI sibling must not be taken instead */
	f->len = build_header(f->buf);
	add(f, &NV_LEGACY_MORE);
	add(f, &NV_EFI);
	f->buf[HEADER_LEN + 0x300] ^= 0xff;
	assert_int_equal(vbios_find(f->buf, f->len, &at, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(at, HEADER_LEN);
	assert_non_null(strstr(why, "bad checksum"));
}

static void test_match(void **state)
{
	struct fx *f = *state;
	struct vbios_chain c;
	char why[512] = "";

	add(f, &NV_LEGACY_MORE);
	add(f, &NV_EFI);
	assert_int_equal(vbios_parse(f->buf, f->len, &c, why, sizeof(why)), 0);
	assert_int_equal(vbios_match(f->buf, &c, NV_VENDOR, NV_DEVICE, why, sizeof(why)), 0);
	assert_int_equal(vbios_match(f->buf, &c, AMD_VENDOR, AMD_DEVICE, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "image 0 (x86 BIOS) at 0x0 is for 10de:1e84, not 1002:67df"));
	assert_int_equal(vbios_match(f->buf, &c, NV_VENDOR, 0x1e87, why, sizeof(why)), -EINVAL);

	/* the EFI image alone names another device: refused, naming it */
	put16(f->buf + 120 * 512 + 0x40 + 6, 0x1e87);
	assert_int_equal(vbios_parse(f->buf, f->len, &c, why, sizeof(why)), 0);
	assert_int_equal(vbios_match(f->buf, &c, NV_VENDOR, NV_DEVICE, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "image 1 (EFI x64)"));
	/* unless its device list (PCIR revision 3, pointer at +8) has the device */
	put16(f->buf + 120 * 512 + 0x40 + 8, 0x20);
	put16(f->buf + 120 * 512 + 0x60, 0x1e82);
	put16(f->buf + 120 * 512 + 0x62, NV_DEVICE);
	put16(f->buf + 120 * 512 + 0x64, 0);
	assert_int_equal(vbios_match(f->buf, &c, NV_VENDOR, NV_DEVICE, why, sizeof(why)), 0);
	/* a PCIR revision before 3 has no device list */
	f->buf[120 * 512 + 0x40 + 0x0c] = 0;
	assert_int_equal(vbios_parse(f->buf, f->len, &c, why, sizeof(why)), 0);
	assert_int_equal(vbios_match(f->buf, &c, NV_VENDOR, NV_DEVICE, why, sizeof(why)), -EINVAL);
}

/* ---------------------------------------------------------------------------- fix */

static void test_fix_plain(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;
	struct stat st;

	add(f, &NV_LEGACY);
	unit_write_mode(f->in, f->buf, f->len, 0600);
	assert_int_equal(vbios_fix(f->in, f->out, NULL, false, &res), 0);
	assert_int_equal(res.offset, 0);
	assert_int_equal(res.size, f->len);
	assert_file_equals(f->out, f->buf, f->len);
	assert_int_equal(stat(f->out, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_dir_holds(f->dir, 2);
}

static void test_fix_nvflash_header(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;
	const struct vbios_ids ids = { NV_VENDOR, NV_DEVICE };
	mode_t old = umask(077);
	struct stat st;

	f->len = build_header(f->buf);
	add(f, &NV_LEGACY);
	unit_write_mode(f->in, f->buf, f->len, 0644);
	assert_int_equal(vbios_fix(f->in, f->out, &ids, false, &res), 0);
	umask(old);
	assert_int_equal(res.offset, HEADER_LEN);
	assert_int_equal(res.in_size, f->len);
	assert_int_equal(res.size, f->len - HEADER_LEN);
	/* byte for byte the embedded image */
	assert_file_equals(f->out, f->buf + HEADER_LEN, f->len - HEADER_LEN);
	/* 0644 whatever the umask */
	assert_int_equal(stat(f->out, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* the input is untouched */
	assert_file_equals(f->in, f->buf, f->len);
	assert_dir_holds(f->dir, 2);
}

static void test_fix_keeps_chain_and_rest(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;

	f->len = build_header(f->buf);
	add(f, &NV_LEGACY_MORE);
	add(f, &NV_EFI);
	memset(f->buf + f->len, 0xff, 2048); /* what the flash holds after the last image */
	f->len += 2048;
	unit_write_mode(f->in, f->buf, f->len, 0644);
	assert_int_equal(vbios_fix(f->in, f->out, NULL, false, &res), 0);
	assert_int_equal(res.chain.n, 2);
	assert_int_equal(res.chain.images[1].code_type, VBIOS_CODE_EFI);
	/* as the tutorials' edit: from the 55 of the first image to the end of the dump */
	assert_file_equals(f->out, f->buf + HEADER_LEN, f->len - HEADER_LEN);
}

static void test_fix_refuses_bad_checksum(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;

	f->len = build_header(f->buf);
	add(f, &NV_LEGACY);
	f->buf[HEADER_LEN + 0x1000] += 1;
	unit_write_mode(f->in, f->buf, f->len, 0644);
	assert_int_equal(vbios_fix(f->in, f->out, NULL, false, &res), -EINVAL);
	assert_non_null(strstr(res.why, "bad checksum"));
	assert_non_null(strstr(res.why, "offset 0x2a8"));
	assert_int_equal(access(f->out, F_OK), -1);
	assert_dir_holds(f->dir, 1);
}

static void test_fix_refuses_other_vendor(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;
	const struct vbios_ids nv = { NV_VENDOR, NV_DEVICE }, amd = { AMD_VENDOR, AMD_DEVICE };

	f->len = build_header(f->buf);
	add(f, &AMD_LEGACY);
	unit_write_mode(f->in, f->buf, f->len, 0644);
	/* an OUT that exists already stays as it was */
	unit_write(f->out, "old");
	assert_int_equal(vbios_fix(f->in, f->out, &nv, false, &res), -EINVAL);
	assert_non_null(strstr(res.why, "is for 1002:67df, not 10de:1e84"));
	assert_file_equals(f->out, (const uint8_t *)"old", 3);
	assert_dir_holds(f->dir, 2);
	/* for its own card it is fine */
	assert_int_equal(vbios_fix(f->in, f->out, &amd, false, &res), 0);
	assert_file_equals(f->out, f->buf + HEADER_LEN, f->len - HEADER_LEN);
}

static void test_fix_never_over_input(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;
	char link[PATH_MAX + 16];

	f->len = build_header(f->buf);
	add(f, &NV_LEGACY);
	unit_write_mode(f->in, f->buf, f->len, 0644);
	assert_int_equal(vbios_fix(f->in, f->in, NULL, false, &res), -EEXIST);
	assert_non_null(strstr(res.why, "is the input"));
	/* a link to it is the input too */
	snprintf(link, sizeof(link), "%s/link.rom", f->dir);
	assert_int_equal(symlink(f->in, link), 0);
	assert_int_equal(vbios_fix(f->in, link, NULL, false, &res), -EEXIST);
	assert_file_equals(f->in, f->buf, f->len);
}

static void test_fix_input_problems(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;
	char missing[PATH_MAX + 16];

	snprintf(missing, sizeof(missing), "%s/nope", f->dir);
	assert_int_equal(vbios_fix(missing, f->out, NULL, false, &res), -ENOENT);
	assert_non_null(strstr(res.why, "cannot read"));
	assert_int_equal(vbios_fix(f->dir, f->out, NULL, false, &res), -EINVAL);
	assert_non_null(strstr(res.why, "not a regular file"));
	/* a file with no image at all */
	f->len = build_header(f->buf);
	unit_write_mode(f->in, f->buf, f->len, 0644);
	assert_int_equal(vbios_fix(f->in, f->out, NULL, false, &res), -ENOENT);
	assert_non_null(strstr(res.why, "no option ROM image"));
	/* a dry run verifies and writes nothing */
	add(f, &NV_LEGACY);
	unit_write_mode(f->in, f->buf, f->len, 0644);
	assert_int_equal(vbios_fix(f->in, f->out, NULL, true, &res), 0);
	assert_int_equal(res.size, 120 * 512);
	assert_int_equal(access(f->out, F_OK), -1);
	/* OUT in a directory that does not exist: nothing written anywhere */
	snprintf(missing, sizeof(missing), "%s/nodir/out.rom", f->dir);
	assert_int_equal(vbios_fix(f->in, missing, NULL, false, &res), -ENOENT);
	assert_non_null(strstr(res.why, "cannot write"));
	/* OUT a directory */
	assert_int_equal(vbios_fix(f->in, f->dir, NULL, false, &res), -EISDIR);
	assert_dir_holds(f->dir, 1);
}

/* ---------------------------------------------------------------------------- dump */

#define BDF "0000:01:00.0"

/* A device of a temporary root: vendor, device, and a rom file (regular, or a FIFO). */
static void make_device(struct fx *f, const char *vendor, const char *device, bool fifo)
{
	char p[PATH_MAX + 200];

	assert_int_equal(system(unit_fmt(p, "mkdir -p '%s/sys/bus/pci/devices/" BDF "'", f->dir)), 0);
	unit_write(unit_fmt(p, "%s/sys/bus/pci/devices/" BDF "/vendor", f->dir), vendor);
	unit_write(unit_fmt(p, "%s/sys/bus/pci/devices/" BDF "/device", f->dir), device);
	if (fifo)
		assert_int_equal(mkfifo(unit_fmt(p, "%s/sys/bus/pci/devices/" BDF "/rom", f->dir), 0600), 0);
	assert_int_equal(host_init(f->dir), 0);
}

static void bind_driver(struct fx *f, const char *drv)
{
	char p[PATH_MAX + 160], target[128];

	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/" BDF "/driver", f->dir);
	assert_int_equal(symlink(unit_fmt(target, "../../../../bus/pci/drivers/%s", drv), p), 0);
}

/* The kernel's rom attribute: "1" enables it, a read gives the ROM, "0" disables it. */
struct rom_attr {
	char path[PATH_MAX + 160];
	const uint8_t *rom;
	size_t len;
	char writes[8]; /* the first byte of each write, in order */
};

static void read_write(struct rom_attr *k, size_t i)
{
	char c = '?';
	int fd = open(k->path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, &c, 1) != 1)
			c = '-';
		close(fd);
	}
	k->writes[i] = c;
}

static void *rom_attr_thread(void *arg)
{
	struct rom_attr *k = arg;
	int fd;

	read_write(k, 0);
	fd = open(k->path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		for (size_t done = 0; done < k->len;) {
			ssize_t n = write(fd, k->rom + done, k->len - done);
			if (n <= 0)
				break;
			done += (size_t)n;
		}
		close(fd);
	}
	read_write(k, 1);
	return NULL;
}

static int dump_with_kernel(struct fx *f, const uint8_t *rom, size_t len, struct vbios_result *res,
			    char writes[8])
{
	struct rom_attr k = { .rom = rom, .len = len };
	pthread_t t;
	int r;

	snprintf(k.path, sizeof(k.path), "%s/sys/bus/pci/devices/" BDF "/rom", f->dir);
	assert_int_equal(pthread_create(&t, NULL, rom_attr_thread, &k), 0);
	r = vbios_dump(BDF, f->out, false, res);
	assert_int_equal(pthread_join(t, NULL), 0);
	memcpy(writes, k.writes, 8);
	return r;
}

static void test_dump_unbound(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;
	char writes[8];

	add(f, &NV_LEGACY_MORE);
	add(f, &NV_EFI);
	make_device(f, "0x10de", "0x1e84", true);
	assert_int_equal(dump_with_kernel(f, f->buf, f->len, &res, writes), 0);
	assert_memory_equal(writes, "10", 2);
	assert_string_equal(res.bdf, BDF);
	assert_int_equal(res.ids.vendor, NV_VENDOR);
	assert_int_equal(res.ids.device, NV_DEVICE);
	assert_int_equal(res.chain.n, 2);
	assert_file_equals(f->out, f->buf, f->len);
}

static void test_dump_on_vfio(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;
	char writes[8];

	add(f, &NV_LEGACY);
	make_device(f, "0x10de", "0x1e84", true);
	bind_driver(f, "vfio-pci");
	/* a BB:SS.F address is taken as domain 0 */
	{
		struct rom_attr k = { .rom = f->buf, .len = f->len };
		pthread_t t;
		snprintf(k.path, sizeof(k.path), "%s/sys/bus/pci/devices/" BDF "/rom", f->dir);
		assert_int_equal(pthread_create(&t, NULL, rom_attr_thread, &k), 0);
		assert_int_equal(vbios_dump("01:00.0", f->out, false, &res), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		memcpy(writes, k.writes, 8);
	}
	assert_memory_equal(writes, "10", 2);
	assert_file_equals(f->out, f->buf, f->len);
}

static void test_dump_wrong_rom_disabled_and_not_written(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;
	char writes[8];

	/* the ROM the BAR gives is another card's (a shadow copy, a wrong read) */
	add(f, &AMD_LEGACY);
	make_device(f, "0x10de", "0x1e84", true);
	assert_int_equal(dump_with_kernel(f, f->buf, f->len, &res, writes), -EINVAL);
	assert_memory_equal(writes, "10", 2);
	assert_non_null(strstr(res.why, "not its own"));
	assert_non_null(strstr(res.why, "1002:67df, not 10de:1e84"));
	assert_int_equal(access(f->out, F_OK), -1);
}

static void test_dump_garbage(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;
	char writes[8];

	memset(f->buf, 0xff, 65536);
	make_device(f, "0x10de", "0x1e84", true);
	assert_int_equal(dump_with_kernel(f, f->buf, 65536, &res, writes), -EINVAL);
	assert_memory_equal(writes, "10", 2);
	assert_non_null(strstr(res.why, "not valid: no 55AA signature at offset 0"));
	assert_int_equal(access(f->out, F_OK), -1);

	/* an empty read */
	assert_int_equal(dump_with_kernel(f, f->buf, 0, &res, writes), -EINVAL);
	assert_memory_equal(writes, "10", 2);
	assert_non_null(strstr(res.why, "empty"));
	assert_int_equal(access(f->out, F_OK), -1);
}

static void test_dump_refuses_bound_gpu(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;
	char rom[PATH_MAX + 160];

	add(f, &NV_LEGACY);
	make_device(f, "0x10de", "0x1e84", false);
	snprintf(rom, sizeof(rom), "%s/sys/bus/pci/devices/" BDF "/rom", f->dir);
	unit_write_mode(rom, f->buf, f->len, 0600);
	bind_driver(f, "nvidia");
	assert_int_equal(vbios_dump(BDF, f->out, false, &res), -EBUSY);
	assert_non_null(strstr(res.why, "in use by its driver nvidia"));
	assert_non_null(strstr(res.why, "vfio-pci"));
	/* nothing was written to the rom attribute */
	assert_file_equals(rom, f->buf, f->len);
	assert_int_equal(access(f->out, F_OK), -1);
}

static void test_dump_refuses_vfio_in_use(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;
	char rom[PATH_MAX + 160], p[PATH_MAX + 200];

	add(f, &NV_LEGACY);
	make_device(f, "0x10de", "0x1e84", false);
	snprintf(rom, sizeof(rom), "%s/sys/bus/pci/devices/" BDF "/rom", f->dir);
	unit_write_mode(rom, f->buf, f->len, 0600);
	bind_driver(f, "vfio-pci");
	snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/" BDF "/iommu_group", f->dir);
	assert_int_equal(symlink("../../../../kernel/iommu_groups/16", p), 0);
	/* QEMU holds /dev/vfio/16 */
	assert_int_equal(system(unit_fmt(p, "mkdir -p '%s/proc/4242/fd'", f->dir)), 0);
	unit_write(unit_fmt(p, "%s/proc/4242/comm", f->dir), "qemu-system-x86\n");
	snprintf(p, sizeof(p), "%s/proc/4242/fd/31", f->dir);
	assert_int_equal(symlink("/dev/vfio/16", p), 0);
	assert_int_equal(vbios_dump(BDF, f->out, false, &res), -EBUSY);
	assert_non_null(strstr(res.why, "process 4242 (qemu-system-x86) holds it"));
	assert_file_equals(rom, f->buf, f->len);

	/* another group's node is not ours: dry run goes through */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("/dev/vfio/17", p), 0);
	assert_int_equal(vbios_dump(BDF, f->out, true, &res), 0);
	assert_file_equals(rom, f->buf, f->len);
	assert_int_equal(access(f->out, F_OK), -1);
}

static void test_dump_no_device_no_rom(void **state)
{
	struct fx *f = *state;
	struct vbios_result res;

	make_device(f, "0x10de", "0x1e84", false);
	assert_int_equal(vbios_dump("0000:02:00.0", f->out, false, &res), -ENODEV);
	assert_non_null(strstr(res.why, "no PCI device 0000:02:00.0"));
	assert_int_equal(vbios_dump(BDF, f->out, false, &res), -ENOENT);
	assert_non_null(strstr(res.why, "has no ROM BAR"));
	assert_int_equal(vbios_dump("1:2:3", f->out, false, &res), -EINVAL);
	assert_non_null(strstr(res.why, "not a PCI address"));
	assert_int_equal(access(f->out, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trailing_bytes_not_part, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_legacy_efi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_behind_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_reports_broken_first_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fix_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fix_nvflash_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fix_keeps_chain_and_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fix_refuses_bad_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fix_refuses_other_vendor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fix_never_over_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fix_input_problems, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_unbound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_on_vfio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_wrong_rom_disabled_and_not_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_refuses_bound_gpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_refuses_vfio_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_no_device_no_rom, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
