/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/*
 * The only code that touches /sys, /proc, /dev and /run. Paths are given as the host sees them
 * ("/sys/bus/pci/...") and are prefixed with the root directory of --root (empty for the real
 * host). It reads and changes; what to change is decided elsewhere (plan.h).
 *
 * All functions return a negative errno on failure. Paths are printf formats.
 */

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

int host_init(const char *root);
bool host_is_real(void); /* no --root: the machine's own /sys */
const char *host_root(void);

/* Writes the prefixed form of a host path into buf; -ENAMETOOLONG when it does not fit. */
int host_path(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);

bool host_exists(const char *fmt, ...) _printf_(1, 2);
/* Reads a small attribute, strips one trailing newline; returns its length. */
int host_read(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
/* Reads a file of any size up to max bytes into a new NUL-terminated buffer. */
int host_read_all(char **ret, size_t max, const char *fmt, ...) _printf_(3, 4);
/* A regular file given by a user (not below the root), up to max bytes. */
int host_read_file(const char *path, size_t max, char **ret);
/* The value of a "key : value" line of /proc/cpuinfo (the first CPU's), or "". */
void host_cpuinfo_field(const char *key, char *out, size_t size);
/* Basename of a symlink's target (a device's driver, iommu_group); -ENOENT when absent. */
int host_link_name(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
/* A symlink's target as stored (e.g. /proc/PID/fd/N -> /dev/dri/card0). */
int host_readlink(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
/* The link's target resolved to a host path (root prefix removed). */
int host_realpath(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
DIR *host_opendir(const char *fmt, ...) _printf_(1, 2);
/*
 * The names in a directory but "." and "..", sorted, in a new array (free with strv_free());
 * 0 entries when it does not exist. Never truncated: -ENOMEM rather than fewer.
 */
int host_dir_list(char ***ret, size_t *ret_n, const char *fmt, ...) _printf_(3, 4);
/* The same for a path given as it is (not below the root); -ENOENT when it does not exist. */
int dir_list(const char *path, char ***ret, size_t *ret_n);
void strv_free(char **v, size_t n);

/*
 * Writes value (len bytes, exactly, no newline added) with one write(). A write to a file
 * that can block in the kernel (unbind, bind, drivers_probe) passes timeout > 0: it is done in
 * a child process that is killed when it has not finished in time: -EINTR when the child was
 * then gone (the write is over, whatever it did: read the result back), -ETIMEDOUT when it is
 * still in the kernel and abandoned (the write may still happen).
 */
int host_write(const char *value, size_t len, double timeout, const char *fmt, ...) _printf_(4, 5);
#define host_write_str(value, timeout, ...) host_write(value, strlen(value), timeout, __VA_ARGS__)

/* sync(2) in a child, abandoned with -ETIMEDOUT after timeout seconds. */
int host_sync(double timeout);

/* Polls a symlink until its basename is want (or until it is gone, want == NULL). */
int host_wait_link(const char *want, double timeout, const char *fmt, ...) _printf_(3, 4);

/* Kernel modules: libkmod on the real host; under --root, mkdir/rmdir of sys/module/NAME. */
bool host_module_loaded(const char *name);
/*
 * Can it be loaded: 0; -ENOENT when modprobe's index does not know it; -EPERM when it is
 * blacklisted. Under --root every module is taken to be there.
 */
int host_module_check(const char *name);
int host_module_load(const char *name);
/* What loading it loads first, dependencies before the modules that need them (modprobe's
 * index); none when not known (a simulated host). */
int host_module_deps(const char *name, char ***ret, size_t *ret_n);
/* -EAGAIN when it is in use (as delete_module() with O_NONBLOCK says), -EPERM when built in. */
int host_module_unload(const char *name);

/* Monotonic seconds. */
double now_seconds(void);
void sleep_seconds(double s);
