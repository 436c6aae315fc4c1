/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/*
 * PCI option ROMs (PCI Firmware Specification 3.x): the GPU's VBIOS as a VM is given it
 * (<rom file=.../>). A ROM is a chain of images, each at the end of the one before: an image
 * starts with 55 AA, the 16-bit little-endian word at +0x18 points to its "PCIR" data
 * structure (vendor, device, image length in 512-byte units, code type, last-image flag),
 * and a legacy x86 image's bytes add up to 0 (mod 256) over the size its byte 2 gives.
 */

#define VBIOS_MAX_IMAGES 32
#define VBIOS_MAX_SIZE (32u << 20) /* a ROM BAR is at most 16 MiB; dumps carry a header */

enum {
	VBIOS_CODE_X86 = 0x00,
	VBIOS_CODE_OPENFIRMWARE = 0x01,
	VBIOS_CODE_PARISC = 0x02,
	VBIOS_CODE_EFI = 0x03,
};

struct vbios_image {
	size_t offset; /* from the start of the chain */
	size_t length; /* bytes, from the PCIR */
	size_t pcir;   /* offset of the PCIR structure, from the start of the chain */
	uint16_t vendor, device;
	uint32_t class_code;
	uint8_t pcir_revision;
	uint16_t code_revision;
	uint8_t code_type;
	uint8_t indicator;
	uint16_t efi_machine; /* EFI images: the machine type of the EFI header, else 0 */
	bool last;
	bool checksummed; /* legacy x86 images: the sum was computed */
	bool checksum_ok;
};

struct vbios_chain {
	struct vbios_image images[VBIOS_MAX_IMAGES];
	size_t n;      /* images parsed (on failure: those whose PCIR could be read) */
	size_t length; /* from the first byte to the end of the last image */
};

/* "x86 BIOS", "EFI", ... or NULL for a code type without a name. */
const char *vbios_code_type_name(uint8_t type);

/*
 * The chain that starts at data[0]: 0 when it is a valid ROM (a last image reached, every
 * legacy checksum right), else -EINVAL with the reason, one line, in why. Bytes after the last
 * image are not part of it (c->length < len).
 */
int vbios_parse(const uint8_t *data, size_t len, struct vbios_chain *c, char *why, size_t whylen);

/*
 * A ROM inside a dump with a header before it (nvflash, GPU-Z): the first offset where an
 * image starts (55 AA whose pointer leads to "PCIR"); its chain is then parsed as
 * vbios_parse() does, and that result returned. *ret_offset is where it starts. -ENOENT
 * when no image starts anywhere.
 */
int vbios_find(const uint8_t *data, size_t len, size_t *ret_offset, struct vbios_chain *c, char *why,
	       size_t whylen);

/*
 * Is every image of the chain (data as given to vbios_parse) for vendor:device? The device
 * may be the PCIR's own or on its device list (PCIR revision 3). 0 or -EINVAL (why).
 */
int vbios_match(const uint8_t *data, const struct vbios_chain *c, uint16_t vendor, uint16_t device, char *why,
		size_t whylen);

/* Writes data to path through a temporary file in its directory, renamed over it; mode 0644. */
int vbios_write_file(const char *path, const void *data, size_t len);

struct vbios_ids {
	uint16_t vendor, device;
};

/* What fix and dump found; why is the one line of a refusal. */
struct vbios_result {
	size_t offset;  /* fix: where the ROM starts in the input */
	size_t size;    /* the bytes written (or that would be) */
	size_t in_size; /* the size of the input */
	struct vbios_chain chain;
	struct vbios_ids ids; /* dump: the device's */
	char bdf[16];         /* dump: the device, canonical */
	char why[512];
};

/*
 * fix: the ROM inside the dump in, from its first image to the end of the file (what the
 * tutorials' hex-editor edit keeps), verified, and checked against expect when given; written
 * to out only then. Never writes over in. 0, or a negative errno with the reason in res->why.
 */
int vbios_fix(const char *in, const char *out, const struct vbios_ids *expect, bool dry_run,
	      struct vbios_result *res);

/*
 * dump: the ROM of PCI device bdf read through sysfs (rom: "1", read, "0", always), only while
 * it is unbound or on vfio-pci with no process holding its VFIO group; verified as check does
 * and against the device's vendor and device ids; written to out only then.
 */
int vbios_dump(const char *bdf, const char *out, bool dry_run, struct vbios_result *res);

/* `vfiohook vbios check FILE | fix IN OUT | dump BDF OUT`. */
int cmd_vbios(const struct options *o);
