/* SPDX-License-Identifier: GPL-2.0-or-later */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "dlib.h"
#include "log.h"

static bool log_to_stderr;
static int log_max_priority = LOG_INFO;
static const char *log_vm = "-", *log_op = "-";
static char failure[1024];

void log_setup(bool to_stderr, int max_priority)
{
	log_to_stderr = to_stderr;
	log_max_priority = max_priority;
}

void log_set_context(const char *vm, const char *op)
{
	log_vm = vm ? vm : "-";
	log_op = op ? op : "-";
}

static void log_journal(int priority, const char *stage, const char *msg)
{
	char f_msg[1200], f_prio[16], f_vm[512], f_op[64], f_stage[64];
	struct iovec iov[6];
	int n = 0;

	if (dlopen_journal() < 0)
		return;
#define FIELD(buf, ...)                                                                            \
	do {                                                                                       \
		int _l = snprintf(buf, sizeof(buf), __VA_ARGS__);                                  \
		iov[n].iov_base = buf;                                                             \
		iov[n++].iov_len = _l < 0 ? 0 : (size_t)_l >= sizeof(buf) ? sizeof(buf) - 1 : (size_t)_l; \
	} while (0)
	FIELD(f_msg, "MESSAGE=%s", msg);
	FIELD(f_prio, "PRIORITY=%d", priority);
	iov[n].iov_base = (char *)"SYSLOG_IDENTIFIER=vfiohook";
	iov[n++].iov_len = STRLEN("SYSLOG_IDENTIFIER=vfiohook");
	FIELD(f_vm, "VFIOHOOK_VM=%s", log_vm);
	FIELD(f_op, "VFIOHOOK_OP=%s", log_op);
	if (stage)
		FIELD(f_stage, "VFIOHOOK_STAGE=%s", stage);
#undef FIELD
	(void)sym_sd_journal_sendv(iov, n); /* no journal (early boot, containers): nothing to do */
}

static void log_vmsg(int priority, const char *stage, int err, const char *fmt, va_list ap,
		     char *out, size_t outlen)
{
	char msg[1024];
	int l;

	l = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err != 0 && l >= 0 && (size_t)l < sizeof(msg))
		snprintf(msg + l, sizeof(msg) - (size_t)l, ": %s", strerror(err < 0 ? -err : err));
	if (out)
		snprintf(out, outlen, "%s", msg);
	if (priority > log_max_priority)
		return;
	if (log_to_stderr)
		fprintf(stderr, "vfiohook: %s%s%s\n", stage ? stage : "", stage ? ": " : "", msg);
	if (priority <= LOG_INFO)
		log_journal(priority, stage, msg);
}

int log_full(int priority, const char *stage, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(priority, stage, err, fmt, ap, NULL, 0);
	va_end(ap);
	return err == 0 ? -EIO : err < 0 ? err : -err;
}

int log_fail(const char *stage, int err, const char *fmt, ...)
{
	char buf[sizeof(failure)];
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERR, stage, err, fmt, ap, buf, sizeof(buf));
	va_end(ap);
	if (failure[0] == '\0')
		memcpy(failure, buf, sizeof(failure));
	return err == 0 ? -EIO : err < 0 ? err : -err;
}

const char *log_failure(void)
{
	return failure[0] ? failure : NULL;
}

void log_clear_failure(void)
{
	failure[0] = '\0';
}
