/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "dlib.h"
#include "host.h"
#include "log.h"
#include "modprobe.h"

static char root[PATH_MAX];

int host_init(const char *dir)
{
	root[0] = '\0';
	if (dir && dir[0] && !streq(dir, "/")) {
		if (!realpath(dir, root))
			return negative_errno();
	}
	return 0;
}

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

int host_read_file(const char *path, size_t max, char **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	int r;

	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((size_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	r = read_fd_all(fd, buf, (size_t)st.st_size);
	if (r < 0)
		return r;
	buf[r] = '\0';
	*ret = TAKE_PTR(buf);
	return r;
}

void host_cpuinfo_field(const char *key, char *out, size_t size)
{
	char buf[4096]; /* the first CPU's block is enough, and comes first */
	size_t klen = strlen(key);

	out[0] = '\0';
	if (host_read(buf, sizeof(buf), "/proc/cpuinfo") < 0)
		return;
	for (char *line = buf, *next; line; line = next) {
		char *v;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, key, klen) != 0 || !strchr(" \t:", line[klen]) || !(v = strchr(line, ':')))
			continue;
		v += strspn(v + 1, " \t") + 1;
		snprintf(out, size, "%s", v);
		return;
	}
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

/*
 * A sysfs write that can wedge in the kernel (unbinding a busy GPU driver is the classic, an
 * allocation of huge pages the common one) is made by a child. The child gets /dev/null as
 * stdin/stdout/stderr and no other descriptor: libvirt waits for EOF on the hook's pipes, and
 * the next hook run for the lock, so an abandoned child must hold neither. A child that is
 * still in the kernel at the deadline may yet finish its write: -ETIMEDOUT means "outcome
 * unknown", not "not done".
 *
 * The child shares our memory (clone(CLONE_VM), as posix_spawn() does, without waiting for
 * it): no page tables to copy, which on a virtualized host costs more than the write itself
 * often does. So it touches nothing of ours: it runs on a mapping of its own, holding a copy of
 * what it writes, with every signal blocked, and makes system calls only. The mapping is
 * unmapped once the child has been reaped, and left alone when it was abandoned (killed, it
 * never runs user code again; the process ends soon after). Under valgrind and in sanitizer
 * builds it is an ordinary fork().
 */
#define KILL_GRACE 0.5
#define CHILD_STACK (64u * 1024)

struct child_job {
	bool sync;
	char path[PATH_MAX];
	char value[4096];
	size_t len;
};

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

static int child_main(void *arg)
{
	const struct child_job *job = arg;
	sigset_t all;
	int devnull, r = 0;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
	}
	/* nothing else: a child stuck in the kernel must not hold the lock's open file (the
	 * flock stays while any descriptor of it is open) nor anything of libvirt's */
	close_range(3, ~0U, 0);
	if (job->sync)
		sync();
	else
		r = write_now(job->path, job->value, job->len);
	_exit(-r & 0xff);
}

/* Not under valgrind, which cannot run such a child, nor in a sanitizer build, whose
 * interceptors keep per-thread state the child would share with us. */
static bool child_shares_memory(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return false;
#else
	const char *preload = getenv("LD_PRELOAD");

	return !preload || !strstr(preload, "/vgpreload_");
#endif
}

static int in_child(const struct child_job *job, double timeout)
{
	double deadline = now_seconds() + timeout, delay = 0.0005;
	_cleanup_close_ int pidfd = -1;
	struct child_job *copy;
	char *mem;
	int status, r;
	pid_t pid;

	mem = mmap(NULL, CHILD_STACK + sizeof(*job), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
		   -1, 0);
	if (mem == MAP_FAILED)
		return negative_errno();
	copy = (struct child_job *)(mem + CHILD_STACK);
	*copy = *job;
	fflush(NULL);
	if (child_shares_memory())
		/* the stack grows down from the job's copy on every architecture Linux runs VMs on */
		pid = clone(child_main, copy, CLONE_VM | SIGCHLD, copy);
	else {
		pid = fork();
		if (pid == 0)
			child_main(copy);
	}
	if (pid < 0) {
		r = negative_errno();
		munmap(mem, CHILD_STACK + sizeof(*job));
		return r;
	}
	/* woken the moment the child exits (a pidfd), not at the next tick of a sleep */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return negative_errno(); /* not ours to wait for: the mapping stays */
		if (pidfd >= 0 && now_seconds() < deadline) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
			(void)poll(&pfd, 1, (int)((deadline - now_seconds()) * 1000) + 1);
			continue;
		}
		if (now_seconds() >= deadline) {
			/* a write the kernel lets a fatal signal end (a hugepage allocation) is over
			 * once the child is gone: its outcome can be read now. One still in the kernel
			 * after the grace (an unbind in a driver) may yet happen: outcome unknown. */
			double grace = now_seconds() + KILL_GRACE;
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, WNOHANG) == 0) {
				if (now_seconds() >= grace)
					return -ETIMEDOUT; /* abandoned: the mapping stays */
				sleep_seconds(0.005);
			}
			munmap(mem, CHILD_STACK + sizeof(*job));
			return -EINTR;
		}
		sleep_seconds(delay);
		if (delay < 0.01)
			delay *= 2;
	}
	munmap(mem, CHILD_STACK + sizeof(*job));
	if (!WIFEXITED(status))
		return -EIO;
	return -WEXITSTATUS(status);
}

int host_sync(double timeout)
{
	return in_child(&(struct child_job){ .sync = true }, timeout);
}

int host_write(const char *value, size_t len, double timeout, const char *fmt, ...)
{
	struct child_job job;
	int r;

	r = VPATH(job.path, fmt);
	if (r < 0)
		return r;
	if (timeout <= 0)
		return write_now(job.path, value, len);
	if (len > sizeof(job.value))
		return -E2BIG;
	memcpy(job.value, value, len);
	job.len = len;
	job.sync = false;
	return in_child(&job, timeout);
}

int host_wait_link(const char *want, double timeout, const char *fmt, ...)
{
	char p[PATH_MAX], target[PATH_MAX];
	double deadline, delay = 0.0005;
	int r;

	r = VPATH(p, fmt);
	if (r < 0)
		return r;
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
	return host_exists("/sys/module/%s/initstate", n);
}

static void kmod_quiet(void *data, int priority, const char *file, int line, const char *fn,
		       const char *format, va_list args)
{
}

/*
 * The run's one libkmod context, made on first use (libkmod is loaded only by a run that loads
 * a module, or checks one it will load) and kept: making one reads the modprobe.d
 * configuration, and a prepare asks about several modules. It logs nothing (its messages
 * would go to our stderr, libvirt's log).
 */
static struct kmod_ctx *kmod_open(void)
{
	static struct kmod_ctx *ctx;

	if (ctx)
		return ctx;
	if (dlopen_libkmod() < 0 || !(ctx = sym_kmod_new(NULL, NULL)))
		return NULL;
	sym_kmod_set_log_fn(ctx, kmod_quiet, NULL);
	return ctx;
}

/*
 * The run's own modprobe resolution (src/modprobe.c), made on first use: the running kernel's
 * module indexes, modprobe.d and the kernel command line. NULL when it cannot be had (no
 * indexes); then libkmod does all of it.
 */
static struct modprobe *native_open(void)
{
	static struct modprobe *mp;
	static bool tried;
	static const char *const bases[] = { "/lib/modules", "/usr/lib/modules" };
	char cmdline[8192];
	struct utsname u;

	if (tried)
		return mp;
	tried = true;
	/* a command line too long to read whole: its options would be missed */
	if (uname(&u) < 0 || host_read(cmdline, sizeof(cmdline), "/proc/cmdline") >= (int)sizeof(cmdline) - 2)
		return NULL;
	for (size_t i = 0; !mp && i < ELEMENTSOF(bases); i++) {
		char dir[PATH_MAX];
		int r;
		if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", bases[i], u.release) >= sizeof(dir))
			continue;
		r = modprobe_new(&mp, dir, NULL, cmdline);
		if (r < 0)
			log_debug("kmod", "%s: modules left to libkmod (%s)", dir, strerror(-r));
	}
	return mp;
}

/* In the kernel, as libkmod tells: live or coming, or built in (a /sys/module entry without
 * initstate). */
static bool module_in_kernel(const char *name)
{
	char st[32];
	int r = host_read(st, sizeof(st), "/sys/module/%s/initstate", name);

	if (r >= 0)
		return streq(st, "live") || streq(st, "coming");
	return r == -ENOENT && host_exists("/sys/module/%s", name);
}

int host_module_check(const char *name)
{
	struct kmod_ctx *ctx;
	struct kmod_list *list = NULL, *it;
	struct modprobe *mp;
	int r;

	if (!host_is_real())
		return 0;
	if ((mp = native_open())) {
		char mod[128];
		module_dir_name(mod, sizeof(mod), name);
		if (module_in_kernel(mod))
			return 0; /* loaded already: libkmod's answer too, blacklisted or not */
		struct modprobe_step *steps;
		size_t n;
		r = modprobe_steps(mp, name, &steps, &n);
		if (r != -EOPNOTSUPP) {
			if (r >= 0)
				modprobe_steps_free(steps, n);
			return r;
		}
	}
	ctx = kmod_open();
	if (!ctx)
		return -ENOENT;
	r = sym_kmod_module_new_from_lookup(ctx, name, &list);
	if (r >= 0 && !list)
		r = -ENOENT;
	for (it = list; r >= 0 && it; it = sym_kmod_list_next(list, it)) {
		struct kmod_module *mod = sym_kmod_module_get_module(it);
		r = sym_kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST | KMOD_PROBE_DRY_RUN, NULL,
							NULL, NULL, NULL);
		if (r > 0)
			r = -EPERM; /* blacklisted */
		else if (r == -EEXIST)
			r = 0;      /* loaded already */
		sym_kmod_module_unref(mod);
	}
	if (list)
		sym_kmod_module_unref_list(list);
	return r < 0 ? r : 0;
}

/*
 * modprobe NAME through src/modprobe.c's list: each module not in the kernel yet inserted with
 * finit_module(2) and its options, as libkmod inserts it. A failure of NAME or a module it
 * depends on fails; a softdep's is ignored, as libkmod ignores it. -EOPNOTSUPP when libkmod
 * must do it (see include/modprobe.h, or a module file the kernel cannot decompress itself):
 * before anything is inserted, or when the kernel refuses a compressed file after all (libkmod
 * then inserts what is still missing).
 */
static int native_load(const char *name)
{
	struct modprobe *mp = native_open();
	struct modprobe_step *steps = NULL;
	char mod[128], z[32];
	size_t n = 0;
	int r;

	if (!mp)
		return -EOPNOTSUPP;
	module_dir_name(mod, sizeof(mod), name);
	if (module_in_kernel(mod))
		return 0; /* as libkmod: loaded already, blacklisted or not */
	r = modprobe_steps(mp, name, &steps, &n);
	if (r < 0)
		return r;
	if (host_read(z, sizeof(z), "/sys/module/compression") < 0)
		z[0] = '\0';
	for (size_t i = 0; r >= 0 && i < n; i++) {
		unsigned flags;
		if (steps[i].path && !modprobe_kernel_reads(steps[i].path, z, &flags))
			r = -EOPNOTSUPP;
	}
	for (size_t i = 0; r >= 0 && i < n; i++) {
		_cleanup_close_ int fd = -1;
		unsigned flags = 0;
		if (!steps[i].path || module_in_kernel(steps[i].name))
			continue;
		modprobe_kernel_reads(steps[i].path, z, &flags);
		fd = open(steps[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, steps[i].options ? steps[i].options : "", flags) < 0) {
			int e = negative_errno();
			if (e == -EEXIST)
				continue;
			if (flags) { /* the kernel could not take it compressed: libkmod decompresses */
				log_debug("kmod", "%s: the kernel refused it compressed (%s)", steps[i].path, strerror(-e));
				r = -EOPNOTSUPP;
			} else if (steps[i].required)
				r = log_error("kmod", e, "cannot insert %s (%s)", steps[i].name, steps[i].path);
		}
	}
	modprobe_steps_free(steps, n);
	return r;
}

int host_module_load(const char *name)
{
	struct kmod_ctx *ctx;
	struct kmod_list *list = NULL, *it;
	char n[128];
	int r;

	module_dir_name(n, sizeof(n), name);
	if (!host_is_real()) {
		char p[PATH_MAX];
		r = host_path(p, sizeof(p), "/sys/module/%s", n);
		if (r < 0)
			return r;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return negative_errno();
		return 0;
	}
	r = native_load(name);
	if (r != -EOPNOTSUPP)
		return r;
	log_debug("kmod", "%s: loaded by libkmod", name);
	ctx = kmod_open();
	if (!ctx)
		return -EOPNOTSUPP;
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
	return r < 0 ? r : 0;
}

static int add_deps(struct kmod_module *mod, char ***v, size_t *n, int depth)
{
	struct kmod_list *deps, *it;
	int r = 0;

	if (depth > 16)
		return -ELOOP;
	deps = sym_kmod_module_get_dependencies(mod);
	for (it = deps; r >= 0 && it; it = sym_kmod_list_next(deps, it)) {
		struct kmod_module *d = sym_kmod_module_get_module(it);
		const char *name = sym_kmod_module_get_name(d);
		bool seen = false;

		r = add_deps(d, v, n, depth + 1); /* theirs first */
		for (size_t i = 0; r >= 0 && i < *n; i++)
			seen |= streq((*v)[i], name);
		if (r >= 0 && !seen) {
			char **nv = realloc(*v, (*n + 1) * sizeof(**v));
			if (!nv || !(nv[*n] = strdup(name)))
				r = -ENOMEM;
			else
				(*n)++;
			if (nv)
				*v = nv;
		}
		sym_kmod_module_unref(d);
	}
	if (deps)
		sym_kmod_module_unref_list(deps);
	return r;
}

int host_module_deps(const char *name, char ***ret, size_t *ret_n)
{
	struct kmod_ctx *ctx;
	struct modprobe *mp;
	struct kmod_list *list = NULL;
	char **v = NULL;
	size_t n = 0;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (!host_is_real())
		return 0; /* a simulated host loads them, as modprobe does; they are found after */
	if ((mp = native_open()) && (r = modprobe_deps(mp, name, ret, ret_n)) != -EOPNOTSUPP)
		return r;
	ctx = kmod_open();
	if (!ctx)
		return -EOPNOTSUPP;
	r = sym_kmod_module_new_from_lookup(ctx, name, &list);
	if (r >= 0 && list) {
		struct kmod_module *mod = sym_kmod_module_get_module(list);
		r = add_deps(mod, &v, &n, 0);
		sym_kmod_module_unref(mod);
	}
	if (list)
		sym_kmod_module_unref_list(list);
	if (r < 0) {
		strv_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* What modprobe -r does for one module, without libkmod: delete_module(2), not waiting. */
int host_module_unload(const char *name)
{
	char n[128];
	int r;

	module_dir_name(n, sizeof(n), name);
	if (!host_is_real()) {
		char p[PATH_MAX];
		r = host_path(p, sizeof(p), "/sys/module/%s", n);
		if (r < 0)
			return r;
		return rmdir(p) < 0 ? negative_errno() : 0;
	}
	return syscall(SYS_delete_module, n, O_NONBLOCK) < 0 ? negative_errno() : 0;
}

void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int dir_list(const char *path, char ***ret, size_t *ret_n)
{
	_cleanup_(closedirp) DIR *d = NULL;
	char **v = NULL;
	size_t n = 0;
	struct dirent *de;
	int r;

	*ret = NULL;
	*ret_n = 0;
	d = opendir(path);
	if (!d)
		return negative_errno();
	while ((errno = 0, de = readdir(d))) {
		char **nv;
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv || !(nv[n] = strdup(de->d_name))) {
			strv_free(nv ? nv : v, n);
			return -ENOMEM;
		}
		v = nv;
		n++;
	}
	if (errno) {
		r = negative_errno();
		strv_free(v, n);
		return r;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*ret = v;
	*ret_n = n;
	return 0;
}

int host_dir_list(char ***ret, size_t *ret_n, const char *fmt, ...)
{
	char p[PATH_MAX];
	int r;

	*ret = NULL;
	*ret_n = 0;
	r = VPATH(p, fmt);
	if (r < 0)
		return r;
	r = dir_list(p, ret, ret_n);
	return r == -ENOENT || r == -ENOTDIR ? 0 : r;
}
