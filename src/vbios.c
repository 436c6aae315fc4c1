/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `vfiohook vbios`: the tutorials' advice about the GPU's ROM, automated. check says whether
 * a file is a valid PCI option ROM (a chain of images from offset 0, each with its PCIR, a
 * last image, right checksums); fix removes the header nvflash and GPU-Z put before the ROM
 * (the tutorials: "delete everything before the U of the 55AA before VIDEO") and writes the
 * result only once it is verified; dump reads the ROM of a device that nothing uses through
 * sysfs, verifies it and its ids, and writes it only then. A file is always written through a
 * temporary file in its directory, renamed over it: nothing half-written is ever left behind.
 */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "hook.h"
#include "host.h"
#include "pciaddr.h"
#include "vbios.h"

#define PCIR_MIN 0x18 /* the fields read here, up to the indicator and its reserved word */
#define HEADER_MIN 0x1a
#define MAX_DEVICE_LIST 256

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

const char *vbios_code_type_name(uint8_t type)
{
	switch (type) {
	case VBIOS_CODE_X86: return "x86 BIOS";
	case VBIOS_CODE_OPENFIRMWARE: return "Open Firmware";
	case VBIOS_CODE_PARISC: return "PA-RISC";
	case VBIOS_CODE_EFI: return "EFI";
	default: return NULL;
	}
}

static const char *efi_machine_name(uint16_t m)
{
	switch (m) {
	case 0x014c: return "IA32";
	case 0x0200: return "Itanium";
	case 0x0ebc: return "EBC";
	case 0x8664: return "x64";
	case 0xaa64: return "AArch64";
	default: return NULL;
	}
}

/* "x86 BIOS", "EFI x64", "code type 0x70" */
static void image_kind(const struct vbios_image *img, char *buf, size_t size)
{
	const char *t = vbios_code_type_name(img->code_type), *m = efi_machine_name(img->efi_machine);

	if (!t)
		snprintf(buf, size, "code type 0x%02x", img->code_type);
	else if (img->code_type == VBIOS_CODE_EFI && m)
		snprintf(buf, size, "%s %s", t, m);
	else
		snprintf(buf, size, "%s", t);
}

/* Does image i start with 55 AA and point to a "PCIR" inside data? */
static bool image_starts_at(const uint8_t *data, size_t len, size_t off)
{
	size_t p;

	if (len < HEADER_MIN || off > len - HEADER_MIN || data[off] != 0x55 || data[off + 1] != 0xaa)
		return false;
	p = off + le16(data + off + 0x18);
	return p > off && p <= len - 4 && memcmp(data + p, "PCIR", 4) == 0;
}

int vbios_parse(const uint8_t *data, size_t len, struct vbios_chain *c, char *why, size_t whylen)
{
	size_t off = 0;

	memset(c, 0, sizeof(*c));
	for (;;) {
		struct vbios_image *img;
		const uint8_t *h, *pcir;
		size_t n = c->n, ptr, init;

		if (n == VBIOS_MAX_IMAGES) {
			snprintf(why, whylen, "more than %d images without one marked last", VBIOS_MAX_IMAGES);
			return -EINVAL;
		}
		if (len - off < HEADER_MIN || data[off] != 0x55 || data[off + 1] != 0xaa) {
			if (off == 0 && len == 0)
				snprintf(why, whylen, "no 55AA signature at offset 0: the data is empty");
			else if (off == 0 && len >= 2 && (data[0] != 0x55 || data[1] != 0xaa))
				snprintf(why, whylen, "no 55AA signature at offset 0 (it starts with %02X %02X)", data[0],
					 data[1]);
			else if (off == 0)
				snprintf(why, whylen, "only %zu byte(s): too short for an option ROM header", len);
			else if (len - off >= 2 && data[off] == 0x55 && data[off + 1] == 0xaa)
				snprintf(why, whylen,
					 "image %zu at 0x%zx: only %zu byte(s) left, too short for an image header (image "
					 "%zu is not marked last)", n, off, len - off, n - 1);
			else
				snprintf(why, whylen,
					 "no 55AA signature at 0x%zx, where image %zu should start (image %zu is not "
					 "marked last)", off, n, n - 1);
			return -EINVAL;
		}
		h = data + off;
		ptr = le16(h + 0x18);
		if (ptr == 0) {
			snprintf(why, whylen, "image %zu at 0x%zx: no PCIR structure (its pointer at +0x18 is 0)", n, off);
			return -EINVAL;
		}
		if (ptr > len - off || len - off - ptr < PCIR_MIN) {
			snprintf(why, whylen,
				 "image %zu at 0x%zx: no PCIR structure: its pointer 0x%zx leads past the end of "
				 "the data (%zu bytes)", n, off, ptr, len);
			return -EINVAL;
		}
		pcir = h + ptr;
		if (memcmp(pcir, "PCIR", 4) != 0) {
			snprintf(why, whylen,
				 "image %zu at 0x%zx: bad PCIR signature at 0x%zx (%02X %02X %02X %02X, not \"PCIR\")",
				 n, off, off + ptr, pcir[0], pcir[1], pcir[2], pcir[3]);
			return -EINVAL;
		}
		img = &c->images[c->n++];
		img->offset = off;
		img->pcir = off + ptr;
		img->vendor = le16(pcir + 4);
		img->device = le16(pcir + 6);
		img->pcir_revision = pcir[0x0c];
		img->class_code = (uint32_t)pcir[0x0f] << 16 | (uint32_t)pcir[0x0e] << 8 | pcir[0x0d];
		img->length = (size_t)le16(pcir + 0x10) * 512;
		img->code_revision = le16(pcir + 0x12);
		img->code_type = pcir[0x14];
		img->indicator = pcir[0x15];
		img->last = img->indicator & 0x80;
		if (img->length == 0) {
			snprintf(why, whylen, "image %zu at 0x%zx: image length 0 in its PCIR", n, off);
			return -EINVAL;
		}
		if (img->length > len - off) {
			snprintf(why, whylen,
				 "image %zu at 0x%zx: its PCIR says %zu bytes, past the end of the data (%zu bytes "
				 "from 0x%zx)", n, off, img->length, len - off, off);
			return -EINVAL;
		}
		if (ptr + PCIR_MIN > img->length) {
			snprintf(why, whylen, "image %zu at 0x%zx: its PCIR structure at 0x%zx lies outside the image",
				 n, off, off + ptr);
			return -EINVAL;
		}
		if (img->code_type == VBIOS_CODE_EFI && le16(h + 4) == 0x0ef1)
			img->efi_machine = le16(h + 0x0a);
		if (img->code_type == VBIOS_CODE_X86) {
			/* the size a BIOS checks the sum over, at offset 2 */
			uint8_t sum = 0;
			init = (size_t)h[2] * 512;
			if (init == 0 || init > img->length) {
				snprintf(why, whylen,
					 "image %zu (x86 BIOS) at 0x%zx: its size byte at offset 2 says %zu bytes, its "
					 "PCIR %zu", n, off, init, img->length);
				return -EINVAL;
			}
			for (size_t i = 0; i < init; i++)
				sum = (uint8_t)(sum + h[i]);
			img->checksummed = true;
			img->checksum_ok = sum == 0;
			if (!img->checksum_ok) {
				snprintf(why, whylen,
					 "image %zu (x86 BIOS) at 0x%zx: bad checksum (its %zu bytes add up to 0x%02X "
					 "mod 256, not 0)", n, off, init, sum);
				return -EINVAL;
			}
		}
		off += img->length;
		if (img->last)
			break;
		if (off == len) {
			snprintf(why, whylen,
				 "no last-image indicator: image %zu at 0x%zx is not marked last, and the data ends "
				 "after it", n, img->offset);
			return -EINVAL;
		}
	}
	c->length = off;
	return 0;
}

int vbios_find(const uint8_t *data, size_t len, size_t *ret_offset, struct vbios_chain *c, char *why,
	       size_t whylen)
{
	for (size_t i = 0; len >= HEADER_MIN && i <= len - HEADER_MIN; i++) {
		const uint8_t *p = memchr(data + i, 0x55, len - HEADER_MIN + 1 - i);
		if (!p)
			break;
		i = (size_t)(p - data);
		if (!image_starts_at(data, len, i))
			continue;
		*ret_offset = i;
		return vbios_parse(data + i, len - i, c, why, whylen);
	}
	memset(c, 0, sizeof(*c));
	snprintf(why, whylen, "no option ROM image in it (no 55AA signature followed by a PCIR structure)");
	return -ENOENT;
}

/* Is device on the PCIR's device list (PCI Firmware 3.0: a pointer at +8, 0-terminated)? */
static bool on_device_list(const uint8_t *data, const struct vbios_image *img, uint16_t device)
{
	size_t ptr = le16(data + img->pcir + 8), p, end = img->offset + img->length;

	if (img->pcir_revision < 3 || ptr == 0)
		return false;
	p = img->pcir + ptr;
	for (size_t i = 0; i < MAX_DEVICE_LIST && p + 2 <= end; i++, p += 2) {
		uint16_t id = le16(data + p);
		if (id == 0)
			break;
		if (id == device)
			return true;
	}
	return false;
}

int vbios_match(const uint8_t *data, const struct vbios_chain *c, uint16_t vendor, uint16_t device, char *why,
		size_t whylen)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct vbios_image *img = &c->images[i];
		char kind[40];
		if (img->vendor == vendor && (img->device == device || on_device_list(data, img, device)))
			continue;
		image_kind(img, kind, sizeof(kind));
		snprintf(why, whylen, "image %zu (%s) at 0x%zx is for %04x:%04x, not %04x:%04x", i, kind,
			 img->offset, img->vendor, img->device, vendor, device);
		return -EINVAL;
	}
	return 0;
}

int vbios_write_file(const char *path, const void *data, size_t len)
{
	_cleanup_free_ char *d = strdup(path), *b = strdup(path);
	_cleanup_close_ int fd = -1;
	char tmp[PATH_MAX];
	const char *p = data;
	struct stat st;
	int r, n;

	if (!d || !b)
		return -ENOMEM;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return -EISDIR;
	n = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(d), basename(b));
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	for (size_t done = 0; done < len;) {
		ssize_t w = write(fd, p + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = w < 0 ? negative_errno() : -EIO;
			goto fail;
		}
		done += (size_t)w;
	}
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		r = negative_errno();
		goto fail;
	}
	r = close(TAKE_FD(fd));
	if (r < 0) {
		r = negative_errno();
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		r = negative_errno();
		goto fail;
	}
	return 0;
fail:
	unlink(tmp);
	return r;
}

/* Would writing out replace in (the same file, or a link to it)? */
static bool same_file(const char *in, const char *out)
{
	struct stat a, b;

	return stat(in, &a) == 0 && stat(out, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int vbios_fix(const char *in, const char *out, const struct vbios_ids *expect, bool dry_run,
	      struct vbios_result *res)
{
	_cleanup_free_ char *buf = NULL;
	char why[sizeof(res->why) - 64];
	int r;

	memset(res, 0, sizeof(*res));
	if (same_file(in, out)) {
		snprintf(res->why, sizeof(res->why), "%s is the input: fix writes a new file, never over the dump",
			 out);
		return -EEXIST;
	}
	r = host_read_file(in, VBIOS_MAX_SIZE, &buf);
	if (r < 0) {
		snprintf(res->why, sizeof(res->why), "cannot read %s: %s", in,
			 r == -EFBIG ? "larger than any ROM (32 MiB)" : r == -EINVAL ? "not a regular file" : strerror(-r));
		return r;
	}
	res->in_size = (size_t)r;
	r = vbios_find((const uint8_t *)buf, res->in_size, &res->offset, &res->chain, why, sizeof(why));
	if (r == -ENOENT) {
		snprintf(res->why, sizeof(res->why), "%s: %s", in, why);
		return r;
	}
	if (r < 0) {
		snprintf(res->why, sizeof(res->why), "%s: the ROM at offset 0x%zx is not valid: %s", in, res->offset,
			 why);
		return r;
	}
	if (expect) {
		r = vbios_match((const uint8_t *)buf + res->offset, &res->chain, expect->vendor, expect->device, why,
				sizeof(why));
		if (r < 0) {
			snprintf(res->why, sizeof(res->why), "%s: %s", in, why);
			return r;
		}
	}
	res->size = res->in_size - res->offset;
	if (dry_run)
		return 0;
	r = vbios_write_file(out, buf + res->offset, res->size);
	if (r < 0) {
		snprintf(res->why, sizeof(res->why), "cannot write %s: %s", out, strerror(-r));
		return r;
	}
	return 0;
}

/* An id attribute of a device ("0x10de"); -EINVAL when it is not one. */
static int read_id(const char *bdf, const char *attr, uint16_t *ret)
{
	char buf[32], *end;
	unsigned long v;
	int r = host_read(buf, sizeof(buf), "/sys/bus/pci/devices/%s/%s", bdf, attr);

	if (r < 0)
		return r;
	errno = 0;
	v = strtoul(buf, &end, 16);
	if (errno || end == buf || *end || v > 0xffff)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

static bool is_pid(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/*
 * A process that holds the device's VFIO group (/dev/vfio/N) or VFIO device (iommufd:
 * /dev/vfio/devices/vfioX): 1 with "PID (comm)" in who, 0 when none.
 */
static int vfio_holder(const char *bdf, char *who, size_t size)
{
	char group[32], nodes[2][PATH_MAX] = { "", "" }, t[PATH_MAX], comm[64];
	char **pids = NULL, **cdev = NULL;
	size_t n_pids = 0, n_cdev = 0;
	int r, found = 0;

	if (host_link_name(group, sizeof(group), "/sys/bus/pci/devices/%s/iommu_group", bdf) == 0)
		snprintf(nodes[0], sizeof(nodes[0]), "/dev/vfio/%s", group);
	if (host_dir_list(&cdev, &n_cdev, "/sys/bus/pci/devices/%s/vfio-dev", bdf) == 0 && n_cdev > 0)
		snprintf(nodes[1], sizeof(nodes[1]), "/dev/vfio/devices/%s", cdev[0]);
	strv_free(cdev, n_cdev);
	r = host_dir_list(&pids, &n_pids, "/proc");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_pids && !found; i++) {
		char **fds = NULL;
		size_t n_fds = 0;
		if (!is_pid(pids[i]) || host_dir_list(&fds, &n_fds, "/proc/%s/fd", pids[i]) < 0)
			continue;
		for (size_t j = 0; j < n_fds && !found; j++) {
			if (host_readlink(t, sizeof(t), "/proc/%s/fd/%s", pids[i], fds[j]) < 0)
				continue;
			found = (nodes[0][0] && streq(t, nodes[0])) || (nodes[1][0] && streq(t, nodes[1]));
		}
		strv_free(fds, n_fds);
		if (found) {
			if (host_read(comm, sizeof(comm), "/proc/%s/comm", pids[i]) < 0)
				snprintf(comm, sizeof(comm), "?");
			snprintf(who, size, "process %s (%s)", pids[i], comm);
		}
	}
	strv_free(pids, n_pids);
	return found;
}

static void rom_off(const char *bdf)
{
	int r = host_write_str("0", 0, "/sys/bus/pci/devices/%s/rom", bdf);

	if (r < 0)
		fprintf(stderr, "vfiohook: warning: cannot disable the ROM of %s again (%s)\n", bdf, strerror(-r));
}

int vbios_dump(const char *bdf_arg, const char *out, bool dry_run, struct vbios_result *res)
{
	_cleanup_free_ char *buf = NULL;
	struct pci_addr a;
	char drv[64], who[128], why[sizeof(res->why) - 96];
	const char *bdf = res->bdf;
	int r;

	memset(res, 0, sizeof(*res));
	if (pci_addr_parse(bdf_arg, &a) < 0) {
		snprintf(res->why, sizeof(res->why), "\"%s\" is not a PCI address (DDDD:BB:SS.F)", bdf_arg);
		return -EINVAL;
	}
	pci_addr_format(&a, res->bdf);
	if (!host_exists("/sys/bus/pci/devices/%s", bdf)) {
		snprintf(res->why, sizeof(res->why), "there is no PCI device %s", bdf);
		return -ENODEV;
	}
	if (read_id(bdf, "vendor", &res->ids.vendor) < 0 || read_id(bdf, "device", &res->ids.device) < 0) {
		snprintf(res->why, sizeof(res->why), "cannot read the vendor and device ids of %s", bdf);
		return -EIO;
	}
	if (!host_exists("/sys/bus/pci/devices/%s/rom", bdf)) {
		snprintf(res->why, sizeof(res->why), "%s (%04x:%04x) has no ROM BAR: the kernel offers no rom file for it",
			 bdf, res->ids.vendor, res->ids.device);
		return -ENOENT;
	}
	r = host_link_name(drv, sizeof(drv), "/sys/bus/pci/devices/%s/driver", bdf);
	if (r < 0 && r != -ENOENT) {
		snprintf(res->why, sizeof(res->why), "cannot tell which driver %s is bound to: %s", bdf, strerror(-r));
		return r;
	}
	if (r == 0 && !streq(drv, "vfio-pci")) {
		snprintf(res->why, sizeof(res->why),
			 "%s is in use by its driver %s: reading the ROM of a GPU in use can hang or return "
			 "garbage; dump it while it is unbound or on vfio-pci with its VM off (`vfiohook VM "
			 "prepare begin` puts it there, `vfiohook release VM` gives it back; or stop the display "
			 "manager and unbind %s)", bdf, drv, drv);
		return -EBUSY;
	}
	if (r == 0) {
		r = vfio_holder(bdf, who, sizeof(who));
		if (r < 0) {
			snprintf(res->why, sizeof(res->why), "cannot tell whether a VM uses %s: %s", bdf, strerror(-r));
			return r;
		}
		if (r > 0) {
			snprintf(res->why, sizeof(res->why),
				 "%s is on vfio-pci and %s holds it (a running VM?): dump its ROM when the VM is "
				 "shut off", bdf, who);
			return -EBUSY;
		}
	}
	if (dry_run)
		return 0;

	r = host_write_str("1", 0, "/sys/bus/pci/devices/%s/rom", bdf);
	if (r < 0) {
		snprintf(res->why, sizeof(res->why), "cannot enable the ROM of %s: %s", bdf, strerror(-r));
		rom_off(bdf);
		return r;
	}
	r = host_read_all(&buf, VBIOS_MAX_SIZE, "/sys/bus/pci/devices/%s/rom", bdf);
	rom_off(bdf);
	if (r < 0) {
		snprintf(res->why, sizeof(res->why), "cannot read the ROM of %s: %s%s", bdf,
			 r == -EFBIG ? "larger than any ROM (32 MiB)" : strerror(-r),
			 r == -EIO ? " (the kernel found no ROM signature in its BAR)" : "");
		return r;
	}
	res->in_size = res->size = (size_t)r;
	r = vbios_parse((const uint8_t *)buf, res->size, &res->chain, why, sizeof(why));
	if (r < 0) {
		snprintf(res->why, sizeof(res->why), "the ROM read from %s is not valid: %s", bdf, why);
		return r;
	}
	r = vbios_match((const uint8_t *)buf, &res->chain, res->ids.vendor, res->ids.device, why, sizeof(why));
	if (r < 0) {
		snprintf(res->why, sizeof(res->why), "the ROM read from %s is not its own: %s", bdf, why);
		return r;
	}
	r = vbios_write_file(out, buf, res->size);
	if (r < 0) {
		snprintf(res->why, sizeof(res->why), "cannot write %s: %s", out, strerror(-r));
		return r;
	}
	return 0;
}

/* ---------------------------------------------------------------------------- the command */

/* len: the bytes from the start of the chain to the end of the data */
static void print_chain(const struct vbios_chain *c, size_t base, size_t len)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct vbios_image *img = &c->images[i];
		char kind[40];
		image_kind(img, kind, sizeof(kind));
		printf("  image %zu at 0x%zx: %04x:%04x, %s, class %06x, %zu bytes%s%s\n", i, base + img->offset,
		       img->vendor, img->device, kind, img->class_code, img->length,
		       !img->checksummed ? "" : img->checksum_ok ? ", checksum ok" : ", checksum BAD",
		       img->last ? ", last image" : "");
	}
	if (c->length && c->length < len)
		printf("  then %zu byte(s) after the last image (not part of the ROM)\n", len - c->length);
}

static int vbios_check(const char *file)
{
	_cleanup_free_ char *buf = NULL;
	struct vbios_chain c, at_c;
	char why[400], why2[400];
	size_t at;
	int r;

	r = host_read_file(file, VBIOS_MAX_SIZE, &buf);
	if (r < 0) {
		fprintf(stderr, "vfiohook: cannot read %s: %s\n", file,
			r == -EFBIG ? "larger than any ROM (32 MiB)" : r == -EINVAL ? "not a regular file" : strerror(-r));
		return EXIT_FAILED;
	}
	printf("%s: %d bytes\n", file, r);
	if (vbios_parse((const uint8_t *)buf, (size_t)r, &c, why, sizeof(why)) < 0) {
		print_chain(&c, 0, (size_t)r);
		/* a dump with a header: say where the ROM is, and what removes the header */
		if (c.n == 0 && vbios_find((const uint8_t *)buf, (size_t)r, &at, &at_c, why2, sizeof(why2)) != -ENOENT)
			fprintf(stderr, "vfiohook: %s: not a valid ROM: %s; an image starts at 0x%zx (a dump with a "
					"header? vfiohook vbios fix removes it)\n", file, why, at);
		else
			fprintf(stderr, "vfiohook: %s: not a valid ROM: %s\n", file, why);
		return EXIT_FAILED;
	}
	print_chain(&c, 0, (size_t)r);
	printf("%s: valid ROM: %zu image%s, %zu bytes, for %04x:%04x\n", file, c.n, c.n == 1 ? "" : "s", c.length,
	       c.images[0].vendor, c.images[0].device);
	return EXIT_OK;
}

/* Which PCI devices of this host (or of --root) the ROM is for: a note, never a refusal. */
static void note_host_devices(const struct vbios_image *img)
{
	char **devs = NULL;
	size_t n = 0, found = 0;

	if (host_dir_list(&devs, &n, "/sys/bus/pci/devices") < 0 || n == 0) {
		strv_free(devs, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint16_t v, d;
		if (read_id(devs[i], "vendor", &v) == 0 && read_id(devs[i], "device", &d) == 0 && v == img->vendor &&
		    d == img->device) {
			printf("  for this host's %s (%04x:%04x)\n", devs[i], v, d);
			found++;
		}
	}
	if (!found)
		printf("  note: no PCI device of this host is %04x:%04x\n", img->vendor, img->device);
	strv_free(devs, n);
}

static int vbios_usage(const char *why)
{
	fprintf(stderr, "vfiohook: vbios: %s\n"
			"Usage: vfiohook vbios check FILE\n"
			"       vfiohook vbios fix IN OUT\n"
			"       vfiohook vbios dump BDF OUT\n", why);
	return EXIT_USAGE;
}

int cmd_vbios(const struct options *o)
{
	_cleanup_free_ struct vbios_result *res = calloc(1, sizeof(*res));
	const char *verb = o->n_args > 0 ? o->args[0] : "";
	struct pci_addr a;
	int r;

	if (!res) {
		fprintf(stderr, "vfiohook: out of memory\n");
		return EXIT_FAILED;
	}
	if (streq(verb, "check")) {
		if (o->n_args != 2)
			return vbios_usage("check takes one FILE");
		return vbios_check(o->args[1]);
	}
	if (streq(verb, "fix")) {
		if (o->n_args != 3)
			return vbios_usage("fix takes IN and OUT");
		r = vbios_fix(o->args[1], o->args[2], NULL, o->dry_run, res);
		if (r < 0 && res->chain.n > 0) {
			printf("%s: ROM at offset 0x%zx\n", o->args[1], res->offset);
			print_chain(&res->chain, res->offset, res->in_size - res->offset);
		}
		if (r < 0) {
			fprintf(stderr, "vfiohook: %s; %s not written\n", res->why, o->args[2]);
			return EXIT_FAILED;
		}
		if (res->offset)
			printf("%s: %zu bytes, a %zu-byte header before the ROM at 0x%zx\n", o->args[1], res->in_size,
			       res->offset, res->offset);
		else
			printf("%s: %zu bytes, the ROM starts at offset 0 (no header)\n", o->args[1], res->in_size);
		print_chain(&res->chain, res->offset, res->in_size - res->offset);
		note_host_devices(&res->chain.images[0]);
		printf("%s %s: %zu bytes, from 0x%zx to the end of %s\n", o->dry_run ? "would write" : "wrote",
		       o->args[2], res->size, res->offset, o->args[1]);
		return EXIT_OK;
	}
	if (streq(verb, "dump")) {
		if (o->n_args != 3)
			return vbios_usage("dump takes BDF and OUT");
		if (pci_addr_parse(o->args[1], &a) < 0)
			return vbios_usage("BDF must be a PCI address, DDDD:BB:SS.F");
		r = vbios_dump(o->args[1], o->args[2], o->dry_run, res);
		if (res->chain.n > 0) {
			printf("%s (%04x:%04x): %zu bytes of ROM\n", res->bdf, res->ids.vendor, res->ids.device,
			       res->size);
			print_chain(&res->chain, 0, res->size);
		}
		if (r < 0) {
			fprintf(stderr, "vfiohook: %s; %s not written\n", res->why, o->args[2]);
			return EXIT_FAILED;
		}
		if (o->dry_run)
			printf("would read the ROM of %s (%04x:%04x) through sysfs, verify it and write %s\n", res->bdf,
			       res->ids.vendor, res->ids.device, o->args[2]);
		else
			printf("wrote %s: %zu bytes, the verified ROM of %s\n", o->args[2], res->size, res->bdf);
		return EXIT_OK;
	}
	return vbios_usage(o->n_args ? "unknown verb (check, fix or dump)" : "check, fix or dump?");
}
