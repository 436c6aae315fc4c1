/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

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

/*
 * The journal's native protocol, spoken directly (a documented, stable interface: one datagram
 * of "FIELD=value\n" lines to /run/systemd/journal/socket; a value with a newline is written
 * as FIELD, a newline, its length as 64-bit little endian, the value and a newline), so that
 * logging costs no library. No journal (early boot, a container): nothing is sent.
 */
static void journal_field(struct iovec *iov, size_t *n, char *buf, size_t size, const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value);

	if (!memchr(value, '\n', vl)) {
		int l = snprintf(buf, size, "%s=%s\n", key, value);
		iov[*n].iov_base = buf;
		iov[(*n)++].iov_len = l < 0 ? 0 : (size_t)l >= size ? size - 1 : (size_t)l;
		return;
	}
	if (kl + 1 + 8 + vl + 1 > size)
		vl = size - kl - 10;
	memcpy(buf, key, kl);
	buf[kl] = '\n';
	for (int i = 0; i < 8; i++)
		buf[kl + 1 + i] = (char)((uint64_t)vl >> (8 * i));
	memcpy(buf + kl + 9, value, vl);
	buf[kl + 9 + vl] = '\n';
	iov[*n].iov_base = buf;
	iov[(*n)++].iov_len = kl + 10 + vl;
}

static void log_journal(int priority, const char *stage, const char *msg)
{
	static const struct sockaddr_un addr = { .sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/socket" };
	static int fd = -2;
	char f_msg[1200], f_prio[32], f_id[48], f_vm[512], f_op[64], f_stage[64], prio[12];
	struct iovec iov[6];
	struct msghdr mh = { .msg_name = (void *)&addr, .msg_namelen = sizeof(addr), .msg_iov = iov };
	size_t n = 0;

	if (fd == -2)
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	snprintf(prio, sizeof(prio), "%d", priority);
	journal_field(iov, &n, f_msg, sizeof(f_msg), "MESSAGE", msg);
	journal_field(iov, &n, f_prio, sizeof(f_prio), "PRIORITY", prio);
	journal_field(iov, &n, f_id, sizeof(f_id), "SYSLOG_IDENTIFIER", "vfiohook");
	journal_field(iov, &n, f_vm, sizeof(f_vm), "VFIOHOOK_VM", log_vm);
	journal_field(iov, &n, f_op, sizeof(f_op), "VFIOHOOK_OP", log_op);
	if (stage)
		journal_field(iov, &n, f_stage, sizeof(f_stage), "VFIOHOOK_STAGE", stage);
	mh.msg_iovlen = n;
	(void)sendmsg(fd, &mh, MSG_NOSIGNAL);
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
