/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>

#include "dlib.h"

#define DLSYM_DEFINE(s) __typeof__(s) *sym_##s;
#define DLSYM_ENTRY(s) { #s, (void **)&sym_##s },

DL_CONFIG_SYMBOLS(DLSYM_DEFINE)
DL_XML_SYMBOLS(DLSYM_DEFINE)
DL_KMOD_SYMBOLS(DLSYM_DEFINE)
DL_VIRT_SYMBOLS(DLSYM_DEFINE)
DL_BUS_SYMBOLS(DLSYM_DEFINE)

struct dlsym_entry {
	const char *name;
	void **ptr;
};

struct dlib {
	const char *soname;
	int state; /* 0 = not tried, 1 = loaded, < 0 = negative errno of the failure */
};

static int dlib_open(struct dlib *lib, const struct dlsym_entry *syms, size_t n)
{
	void *handle;

	if (lib->state != 0)
		return lib->state > 0 ? 0 : lib->state;
	handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!handle)
		return (lib->state = -EOPNOTSUPP);
	for (size_t i = 0; i < n; i++) {
		*syms[i].ptr = dlsym(handle, syms[i].name);
		if (!*syms[i].ptr) {
			dlclose(handle);
			return (lib->state = -EOPNOTSUPP);
		}
	}
	lib->state = 1;
	return 0;
}

#define DEFINE_DLOPEN(fn, so, LIST)                                                                \
	int fn(void)                                                                               \
	{                                                                                          \
		static struct dlib lib = { so, 0 };                                                \
		static const struct dlsym_entry syms[] = { LIST(DLSYM_ENTRY) };                    \
		return dlib_open(&lib, syms, sizeof(syms) / sizeof(syms[0]));                      \
	}

DEFINE_DLOPEN(dlopen_libconfig, "libconfig.so.9", DL_CONFIG_SYMBOLS)
DEFINE_DLOPEN(dlopen_libxml2, "libxml2.so.2", DL_XML_SYMBOLS)
DEFINE_DLOPEN(dlopen_libkmod, "libkmod.so.2", DL_KMOD_SYMBOLS)
DEFINE_DLOPEN(dlopen_libvirt, "libvirt.so.0", DL_VIRT_SYMBOLS)
DEFINE_DLOPEN(dlopen_sdbus, "libsystemd.so.0", DL_BUS_SYMBOLS)
