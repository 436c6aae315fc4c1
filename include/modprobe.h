/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * What `modprobe NAME` inserts, worked out as libkmod does it (kmod 30's rules: depmod's
 * modules.dep.bin, softdeps from modules.softdep and modprobe.d, options from modprobe.d and
 * the kernel command line, the blacklist), without loading libkmod and the compression and
 * crypto libraries it pulls in. It answers only where its answer is libkmod's own: a name that
 * is an alias, a softdep name that may be one, an install command, a module file the kernel
 * cannot read itself, or anything it does not understand gives -EOPNOTSUPP, and the caller
 * asks libkmod.
 */

struct modprobe;

struct modprobe_step {
	char *name;    /* module name, '-' as '_' */
	char *path;    /* absolute; NULL for a built-in module (a softdep can name one) */
	char *options; /* NULL when none */
	bool required; /* the module or one of its dependencies: its failure fails the load */
};

/*
 * Reads the configuration: MODDIR (/lib/modules/RELEASE) with its indexes; CONFDIRS, a
 * NULL-terminated list of modprobe.d directories or files (NULL: modprobe's own list);
 * CMDLINE, the kernel command line (NULL: none). -EOPNOTSUPP when the indexes are missing or
 * not depmod's format.
 */
int modprobe_new(struct modprobe **ret, const char *moddir, const char *const *confdirs, const char *cmdline);
void modprobe_free(struct modprobe *m);

/*
 * The modules `modprobe NAME` would insert, in order, loaded ones included (libkmod's
 * KMOD_PROBE_IGNORE_LOADED; the same module can come twice, as in libkmod's list).
 * 0 and the steps; -EPERM: NAME is blacklisted; -EOPNOTSUPP: ask libkmod.
 */
int modprobe_steps(struct modprobe *m, const char *name, struct modprobe_step **ret, size_t *ret_n);
void modprobe_steps_free(struct modprobe_step *s, size_t n);

/* The modules NAME depends on (modules.dep), in the order they load. -EOPNOTSUPP: ask libkmod. */
int modprobe_deps(struct modprobe *m, const char *name, char ***ret, size_t *ret_n);

/* Can the running kernel read this module file itself (a plain .ko, or compressed as
 * /sys/module/compression says)? Sets *flags for finit_module(2). */
bool modprobe_kernel_reads(const char *path, const char *kernel_compression, unsigned *flags);
