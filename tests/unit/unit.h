/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the unit tests: temporary directories and files. Everything is static
 * inline so that each test binary only keeps what it uses.
 *
 * cmocka needs these headers before its own.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"

/* A fresh directory under $TMPDIR (or /tmp); the path is written into buf. */
static inline void unit_mkdtemp(char *buf, size_t size)
{
	const char *t = getenv("TMPDIR");
	int n = snprintf(buf, size, "%s/vfiohook-unit.XXXXXX", t && *t ? t : "/tmp");

	assert_true(n > 0 && (size_t)n < size);
	assert_non_null(mkdtemp(buf));
}

static inline int unit_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static inline void unit_rm_rf(const char *dir)
{
	if (dir && dir[0])
		(void)nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes len bytes to path with the exact mode (no umask), replacing any old file. */
static inline void unit_write_mode(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, mode), 0);
	if (len > 0)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static inline void unit_write(const char *path, const char *text)
{
	unit_write_mode(path, text, strlen(text), 0644);
}

/* Reads a whole (small) file into a new string; NULL when it does not exist. */
static inline char *unit_read(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = calloc(1, 1 << 20);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Formats into a buffer of its own (each call site gets one). */
#define unit_fmt(buf, ...)                                                                         \
	({                                                                                         \
		int _n = snprintf((buf), sizeof(buf), __VA_ARGS__);                                \
		assert_true(_n >= 0 && (size_t)_n < sizeof(buf));                                  \
		(buf);                                                                             \
	})

/* A file of tests/unit/fixtures/ (the tests run from the top of the source tree) and its length. */
static inline char *unit_read_fixture(const char *name, size_t *len)
{
	char path[PATH_MAX];
	char *text;

	unit_fmt(path, "tests/unit/fixtures/%s", name);
	text = unit_read(path);
	if (!text)
		fail_msg("cannot read %s (run from the top of the source tree): %s", path, strerror(errno));
	*len = strlen(text);
	return text;
}

/*
 * A test that demonstrates a known bug in src/ starts with KNOWN_BUG("file: summary"): it is
 * skipped (counted as skipped, never as passed) unless UNIT_KNOWN_BUGS=1 is set, which runs it
 * and shows the failure.
 */
static inline bool unit_known_bugs(void)
{
	const char *e = getenv("UNIT_KNOWN_BUGS");
	return e && streq(e, "1");
}

#define KNOWN_BUG(what)                                                                            \
	do {                                                                                       \
		if (!unit_known_bugs()) {                                                          \
			print_message("[  KNOWN   ] %s\n", what);                                  \
			skip();                                                                    \
		}                                                                                  \
	} while (0)
