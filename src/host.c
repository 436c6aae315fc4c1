/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "dlib.h"
#include "host.h"
#include "log.h"

static char root[PATH_MAX];
static bool dry_run;
/* dry-run: modules the plan unloads, so that later stages see their drivers gone */
static char planned_unloads[32][128];
static size_t n_planned_unloads;

int host_init(const char *dir, bool dry)
{
	dry_run = dry;
	root[0] = '\0';
	if (dir && dir[0] && !streq(dir, "/")) {
		if (!realpath(dir, root))
			return negative_errno();
	}
	return 0;
}

bool host_is_dry_run(void) { return dry_run; }
bool host_is_real(void) { return root[0] == '\0'; }
const char *host_root(void) { return root; }

double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_seconds(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int vpath(char *buf, size_t size, const char *fmt, va_list ap)
{
	size_t l = strlen(root);
	int n;

	if (l >= size)
		return -ENAMETOOLONG;
	memcpy(buf, root, l);
	n = vsnprintf(buf + l, size - l, fmt, ap);
	if (n < 0 || (size_t)n >= size - l)
		return -ENAMETOOLONG;
	return 0;
}

#define VPATH(buf, fmt)                                                                            \
	({                                                                                         \
		va_list _ap;                                                                       \
		int _r;                                                                            \
		va_start(_ap, fmt);                                                                \
		_r = vpath(buf, sizeof(buf), fmt, _ap);                                            \
		va_end(_ap);                                                                       \
		_r;                                                                                \
	})

int host_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vpath(buf, size, fmt, ap);
	va_end(ap);
	return r;
}

bool host_exists(const char *fmt, ...)
{
	char p[PATH_MAX];

	if (VPATH(p, fmt) < 0)
		return false;
	return access(p, F_OK) == 0;
}

static int read_fd_all(int fd, char *buf, size_t size)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (int)got;
}

int host_read(char *buf, size_t size, const char *fmt, ...)
{
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;
	int r;

	if (size == 0)
		return -EINVAL;
	r = VPATH(p, fmt);
	if (r < 0)
		return r;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	r = read_fd_all(fd, buf, size - 1);
	if (r < 0)
		return r;
	buf[r] = '\0';
	if (r > 0 && buf[r - 1] == '\n')
		buf[--r] = '\0';
	return r;
}

int host_read_all(char **ret, size_t max, const char *fmt, ...)
{
	char p[PATH_MAX];
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t cap = 4096, len = 0;
	int r;

	r = VPATH(p, fmt);
	if (r < 0)
		return r;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	for (;;) {
		char *nb = realloc(buf, cap + 1);
		if (!nb)
			return -ENOMEM;
		buf = nb;
		r = read_fd_all(fd, buf + len, cap - len);
		if (r < 0)
			return r;
		len += (size_t)r;
		if (len > max)
			return -EFBIG;
		if (len < cap)
			break; /* end of file */
		cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	return (int)len;
}

int host_link_name(char *buf, size_t size, const char *fmt, ...)
{
	char p[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;
	int r;

	r = VPATH(p, fmt);
	if (r < 0)
		return r;
	n = readlink(p, target, sizeof(target) - 1);
	if (n < 0)
		return negative_errno();
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= size)
		return -ENAMETOOLONG;
	strcpy(buf, base);
	return 0;
}

int host_readlink(char *buf, size_t size, const char *fmt, ...)
{
	char p[PATH_MAX];
	ssize_t n;
	int r;

	r = VPATH(p, fmt);
	if (r < 0)
		return r;
	n = readlink(p, buf, size - 1);
	if (n < 0)
		return negative_errno();
	buf[n] = '\0';
	return 0;
}

int host_realpath(char *buf, size_t size, const char *fmt, ...)
{
	char p[PATH_MAX], full[PATH_MAX];
	size_t l = strlen(root);
	int r;

	r = VPATH(p, fmt);
	if (r < 0)
		return r;
	if (!realpath(p, full))
		return negative_errno();
	if (l > 0) {
		/* the simulated host lives behind symlinks of its own; compare by content */
		if (strncmp(full, root, l) == 0 && (full[l] == '/' || full[l] == '\0'))
			memmove(full, full + l, strlen(full + l) + 1);
	}
	if (strlen(full) >= size)
		return -ENAMETOOLONG;
	strcpy(buf, full);
	return 0;
}

DIR *host_opendir(const char *fmt, ...)
{
	char p[PATH_MAX];

	if (VPATH(p, fmt) < 0) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return opendir(p);
}

static void print_value(FILE *f, const char *v, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '\n')
			fputs("\\n", f);
		else if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void host_action(const char *fmt, ...)
{
	char line[PATH_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (dry_run) {
		fputs(line, stdout);
		fputc('\n', stdout);
	} else
		log_debug("action", "%s", line);
}

static int write_now(const char *p, const char *value, size_t len)
{
	_cleanup_close_ int fd = -1;
	ssize_t n;

	/* never O_CREAT: a missing attribute is an error, not a file to make */
	fd = open(p, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return negative_errno();
	if ((size_t)n != len)
		return -EIO;
	return 0;
}

/*
 * A sysfs write that can wedge in the kernel (unbinding a busy GPU driver is the classic) is
 * made by a child. The child gets /dev/null as stdin/stdout/stderr: libvirt waits for EOF on
 * the hook's pipes, so an abandoned child must not hold them.
 */
static int write_watchdog(const char *p, const char *value, size_t len, double timeout)
{
	double deadline = now_seconds() + timeout, delay = 0.0005;
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return negative_errno();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		_exit(-write_now(p, value, len) & 0xff);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return negative_errno();
		if (now_seconds() >= deadline) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &status, WNOHANG);
			return -ETIMEDOUT;
		}
		sleep_seconds(delay);
		if (delay < 0.01)
			delay *= 2;
	}
	if (!WIFEXITED(status))
		return -EIO;
	return -WEXITSTATUS(status);
}

int host_write(const char *value, size_t len, double timeout, const char *fmt, ...)
{
	char p[PATH_MAX];
	char shown[PATH_MAX + 64];
	FILE *f;
	int r;
	size_t sz = 0;
	char *buf = NULL;

	r = VPATH(p, fmt);
	if (r < 0)
		return r;
	f = open_memstream(&buf, &sz);
	if (f) {
		print_value(f, value, len);
		fclose(f);
	}
	snprintf(shown, sizeof(shown), "%s", buf ? buf : "?");
	free(buf);
	host_action("write %s %s", p, shown);
	if (dry_run)
		return 0;
	if (timeout > 0)
		return write_watchdog(p, value, len, timeout);
	return write_now(p, value, len);
}

int host_wait_link(const char *want, double timeout, const char *fmt, ...)
{
	char p[PATH_MAX], target[PATH_MAX];
	double deadline, delay = 0.0005;
	int r;

	r = VPATH(p, fmt);
	if (r < 0)
		return r;
	host_action("wait %s -> %s (%.1f s)", p, want ? want : "(none)", timeout);
	if (dry_run)
		return 0;
	deadline = now_seconds() + timeout;
	for (;;) {
		ssize_t n = readlink(p, target, sizeof(target) - 1);
		if (n >= 0) {
			const char *base;
			target[n] = '\0';
			base = strrchr(target, '/');
			base = base ? base + 1 : target;
			if (want && streq(base, want))
				return 0;
		} else if (!want && errno == ENOENT)
			return 0;
		if (now_seconds() >= deadline)
			return -ETIMEDOUT;
		sleep_seconds(delay);
		if (delay < 0.02)
			delay *= 2;
	}
}

static void module_dir_name(char *out, size_t size, const char *name)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < size; i++)
		out[i] = name[i] == '-' ? '_' : name[i];
	out[i] = '\0';
}

bool host_module_loaded(const char *name)
{
	char n[128];

	module_dir_name(n, sizeof(n), name);
	for (size_t i = 0; i < n_planned_unloads; i++)
		if (streq(planned_unloads[i], n))
			return false;
	return host_exists("/sys/module/%s/initstate", n);
}

bool host_driver_gone(const char *bus, const char *driver)
{
	char mod[128];

	if (n_planned_unloads == 0 ||
	    host_link_name(mod, sizeof(mod), "/sys/bus/%s/drivers/%s/module", bus, driver) < 0)
		return false;
	return !host_module_loaded(mod);
}

static void kmod_quiet(void *data, int priority, const char *file, int line, const char *fn,
		       const char *format, va_list args)
{
}

bool host_module_available(const char *name)
{
	struct kmod_ctx *ctx;
	struct kmod_list *list = NULL;
	bool found;

	if (!host_is_real())
		return true;
	if (dlopen_libkmod() < 0 || !(ctx = sym_kmod_new(NULL, NULL)))
		return false;
	sym_kmod_set_log_fn(ctx, kmod_quiet, NULL);
	found = sym_kmod_module_new_from_lookup(ctx, name, &list) >= 0 && list;
	if (list)
		sym_kmod_module_unref_list(list);
	sym_kmod_unref(ctx);
	return found;
}

int host_module_load(const char *name)
{
	struct kmod_ctx *ctx;
	struct kmod_list *list = NULL, *it;
	char n[128];
	int r;

	module_dir_name(n, sizeof(n), name);
	host_action("load module %s", n);
	if (dry_run)
		return 0;
	if (!host_is_real()) {
		char p[PATH_MAX];
		r = host_path(p, sizeof(p), "/sys/module/%s", n);
		if (r < 0)
			return r;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return negative_errno();
		return 0;
	}
	r = dlopen_libkmod();
	if (r < 0)
		return r;
	ctx = sym_kmod_new(NULL, NULL);
	if (!ctx)
		return -ENOMEM;
	sym_kmod_set_log_fn(ctx, kmod_quiet, NULL);
	r = sym_kmod_module_new_from_lookup(ctx, name, &list);
	if (r >= 0 && !list)
		r = -ENOENT;
	for (it = list; r >= 0 && it; it = sym_kmod_list_next(list, it)) {
		struct kmod_module *mod = sym_kmod_module_get_module(it);
		r = sym_kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST, NULL, NULL,
							NULL, NULL);
		if (r > 0)
			r = -EPERM; /* blacklisted: administratively prohibited */
		sym_kmod_module_unref(mod);
	}
	if (list)
		sym_kmod_module_unref_list(list);
	sym_kmod_unref(ctx);
	return r < 0 ? r : 0;
}

int host_module_unload(const char *name)
{
	struct kmod_ctx *ctx;
	struct kmod_module *mod = NULL;
	char n[128];
	int r;

	module_dir_name(n, sizeof(n), name);
	host_action("unload module %s", n);
	if (dry_run) {
		if (n_planned_unloads < ELEMENTSOF(planned_unloads))
			snprintf(planned_unloads[n_planned_unloads++], sizeof(planned_unloads[0]), "%s", n);
		return 0;
	}
	if (!host_is_real()) {
		char p[PATH_MAX];
		r = host_path(p, sizeof(p), "/sys/module/%s", n);
		if (r < 0)
			return r;
		return rmdir(p) < 0 ? negative_errno() : 0;
	}
	r = dlopen_libkmod();
	if (r < 0)
		return r;
	ctx = sym_kmod_new(NULL, NULL);
	if (!ctx)
		return -ENOMEM;
	sym_kmod_set_log_fn(ctx, kmod_quiet, NULL);
	r = sym_kmod_module_new_from_name(ctx, n, &mod);
	if (r >= 0) {
		r = sym_kmod_module_remove_module(mod, KMOD_REMOVE_NOLOG);
		sym_kmod_module_unref(mod);
	}
	sym_kmod_unref(ctx);
	return r;
}
