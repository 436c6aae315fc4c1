/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

/*
 * Logging: the journal (SYSLOG_IDENTIFIER=vfiohook, with VFIOHOOK_VM/_OP/_STAGE fields) and,
 * when asked for (-v, or check mode), stderr. Nothing here ever writes to stdout.
 *
 * log_fail() is for the one failure the user must see: it logs like log_error() and keeps the
 * first such message, which main() prints as the single line libvirt shows ("vfiohook: ...").
 */

void log_setup(bool to_stderr, int max_priority);
void log_set_context(const char *vm, const char *op);

/* Logs at PRIORITY; returns -|err| (or -EIO when err is 0) so callers can `return log_...`. */
int log_full(int priority, const char *stage, int err, const char *fmt, ...) _printf_(4, 5);
int log_fail(const char *stage, int err, const char *fmt, ...) _printf_(3, 4);
const char *log_failure(void);
void log_clear_failure(void);

#define log_error(stage, err, ...) log_full(LOG_ERR, stage, err, __VA_ARGS__)
#define log_warning(stage, err, ...) log_full(LOG_WARNING, stage, err, __VA_ARGS__)
#define log_info(stage, ...) log_full(LOG_INFO, stage, 0, __VA_ARGS__)
#define log_debug(stage, ...) log_full(LOG_DEBUG, stage, 0, __VA_ARGS__)
