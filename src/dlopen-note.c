/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libraries dlib.c opens with dlopen(), declared where packaging tools can see them: the
 * dynamic section lists none of them, so each gets an ELF note in section .note.dlopen, as
 * systemd's "Dlopen Metadata for ELF Files" specifies (owner "FDO", type 0x407c0c0a, the
 * descriptor a NUL-terminated JSON array of objects with feature, description, priority and
 * soname). `readelf -n build/vfiohook` shows them; tests/packaging/run.sh checks that they
 * name exactly the sonames of dlib.c.
 *
 * Priorities, as the package dependencies (debian/control, PKGBUILD) declare them too:
 * required: a managed VM cannot be handled without it; recommended: a stage or the journal
 * needs it; suggested: only vfiohook run by hand uses it.
 */
#include <stdint.h>

#define DLOPEN_NOTE_OWNER "FDO"
#define DLOPEN_NOTE_TYPE 0x407c0c0aU

/* One note: header, owner name and descriptor, each 4-byte aligned and padded with zeros. */
#define DLOPEN_NOTE(id, feature, priority, soname, description)                                    \
	DLOPEN_NOTE_JSON(id, "[{\"feature\":\"" feature "\",\"description\":\"" description     \
			     "\",\"priority\":\"" priority "\",\"soname\":[\"" soname "\"]}]")
#define DLOPEN_NOTE_JSON(id, json)                                                                 \
	__attribute__((used, section(".note.dlopen"), aligned(4))) static const struct {           \
		uint32_t n_namesz, n_descsz, n_type;                                               \
		char name[sizeof(DLOPEN_NOTE_OWNER)];                                              \
		_Alignas(4) char desc[sizeof(json)];                                               \
	} dlopen_note_##id = {                                                                     \
		.n_namesz = sizeof(DLOPEN_NOTE_OWNER),                                             \
		.n_descsz = sizeof(json),                                                          \
		.n_type = DLOPEN_NOTE_TYPE,                                                        \
		.name = DLOPEN_NOTE_OWNER,                                                         \
		.desc = json,                                                                      \
	}

_Static_assert(sizeof(DLOPEN_NOTE_OWNER) % 4 == 0, "the owner name needs no padding");

DLOPEN_NOTE(libconfig, "config", "required", "libconfig.so.9",
	    "Reads /etc/libvirt/hooks/kvm.conf (every managed VM)");
DLOPEN_NOTE(libxml2, "domain-xml", "required", "libxml2.so.2",
	    "Parses domain XML beyond what libvirt writes (declarations, CDATA), and for doctor");
DLOPEN_NOTE(libsystemd, "systemd-units", "recommended", "libsystemd.so.0",
	    "Stops and starts units (display manager) and confines slices to CPUs over D-Bus");
DLOPEN_NOTE(libkmod, "kmod", "recommended", "libkmod.so.2",
	    "Loads modules whose modprobe.d configuration needs it (aliases, install commands)");
DLOPEN_NOTE(libvirt, "libvirt", "suggested", "libvirt.so.0",
	    "Asks libvirtd for a domain's XML when run by hand without XML on stdin");
