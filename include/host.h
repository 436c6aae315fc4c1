/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/*
 * The only code that touches /sys, /proc, /dev and /run. Paths are given as the host sees them
 * ("/sys/bus/pci/...") and are prefixed with the root directory of --root (empty for the real
 * host). In dry-run mode every change is printed on stdout as one plan line instead of being
 * made, and waits succeed at once: the stages decide from what they read before changing
 * anything, so the plan is exactly what a real run would do. A real run logs the same lines at
 * debug level ("-v").
 *
 * All functions return a negative errno on failure. Paths are printf formats.
 */

int host_init(const char *root, bool dry_run);
bool host_is_dry_run(void);
bool host_is_real(void); /* no --root: the machine's own /sys */
const char *host_root(void);

/* Writes the prefixed form of a host path into buf; -ENAMETOOLONG when it does not fit. */
int host_path(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);

bool host_exists(const char *fmt, ...) _printf_(1, 2);
/* Reads a small attribute, strips one trailing newline; returns its length. */
int host_read(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
/* Reads a file of any size up to max bytes into a new NUL-terminated buffer. */
int host_read_all(char **ret, size_t max, const char *fmt, ...) _printf_(3, 4);
/* Basename of a symlink's target (a device's driver, iommu_group); -ENOENT when absent. */
int host_link_name(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
/* A symlink's target as stored (e.g. /proc/PID/fd/N -> /dev/dri/card0). */
int host_readlink(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
/* The link's target resolved to a host path (root prefix removed). */
int host_realpath(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
DIR *host_opendir(const char *fmt, ...) _printf_(1, 2);

/*
 * Writes value (len bytes, exactly, no newline added) with one write(). A write to a file
 * that can block in the kernel (unbind, bind, drivers_probe) passes timeout > 0: it is done in
 * a child process that is abandoned with -ETIMEDOUT when it has not finished in time.
 */
int host_write(const char *value, size_t len, double timeout, const char *fmt, ...) _printf_(4, 5);
#define host_write_str(value, timeout, ...) host_write(value, strlen(value), timeout, __VA_ARGS__)

/* Polls a symlink until its basename is want (or until it is gone, want == NULL). */
int host_wait_link(const char *want, double timeout, const char *fmt, ...) _printf_(3, 4);

/* Kernel modules: libkmod on the real host; under --root, mkdir/rmdir of sys/module/NAME. */
bool host_module_loaded(const char *name);
/* Dry-run: is the driver's module one the plan has unloaded already? */
bool host_driver_gone(const char *bus, const char *driver);
/* Can it be loaded (known to modprobe's index; under --root: assumed)? */
bool host_module_available(const char *name);
int host_module_load(const char *name);
int host_module_unload(const char *name);

/* Dry-run: print the plan line; real run: log it at debug level. */
void host_action(const char *fmt, ...) _printf_(1, 2);

/* Monotonic seconds. */
double now_seconds(void);
void sleep_seconds(double s);
