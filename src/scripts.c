/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Drop-in scripts in the layout the usual dispatcher made common:
 *   HOOKS_DIR/VM/OP/SUBOP/NAME (every executable, in strcmp order)
 *   HOOKS_DIR/VM/OP/SUBOP     (or one executable file)
 * Each gets the hook's argv and the domain XML on stdin, is exec'd directly (no shell), has a
 * time bound that bounds the hook too, and its output goes to the log (up to a bound), never to
 * our stdout. Nothing it starts outlives it: see sweep().
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "hook.h"
#include "host.h"
#include "log.h"

#define STAGE "scripts"

extern char **environ;

static int script_path(char *buf, size_t size, const char *hooks_dir, const char *vm,
		       const char *op, const char *subop)
{
	int n;

	/* the VM name becomes a path component: it must be one */
	if (!vm_name_is_safe(vm) || !vm_name_is_safe(op) || !vm_name_is_safe(subop))
		return -EINVAL;
	n = snprintf(buf, size, "%s/%s/%s/%s", hooks_dir, vm, op, subop);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int check_safe(const struct run *run, const char *path, const struct stat *st)
{
	if (st->st_uid != 0 && !(run->relax_owner && st->st_uid == geteuid()))
		return log_error(STAGE, EPERM, "refusing %s: not owned by root", path);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return log_error(STAGE, EPERM, "refusing %s: group- or world-writable (chmod go-w)", path);
	return 0;
}

/* Every name in dir but dot files, sorted; never truncated. */
static int list_names(const char *dir, char ***ret, size_t *ret_n)
{
	size_t k = 0;
	int r = dir_list(dir, ret, ret_n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < *ret_n; i++) {
		if ((*ret)[i][0] == '.')
			free((*ret)[i]);
		else
			(*ret)[k++] = (*ret)[i];
	}
	*ret_n = k;
	return 0;
}

/*
 * What a drop-in prints goes to the journal, a line per entry, up to a bound: a script that
 * prints without end (a loop, `yes`) must neither flood the journal nor hold up the hook. Past
 * the bound its output is still read, so that it does not block on a full pipe, and dropped.
 */
#define OUTPUT_MAX_LINES 500
#define OUTPUT_MAX_BYTES (64 * 1024)
/* read per round of the loop, so that a script writing without pause cannot keep the loop
 * from looking at its deadline */
#define READ_BUDGET (64 * 1024)
/* after SIGKILL: how long the drop-in and what it started get to go away; a process blocked in
 * the kernel (D state, an unanswered FUSE request) may never, and is then left behind */
#define KILL_WAIT 1.0

struct output {
	const char *name;
	char buf[4096 + 1];
	size_t len;
	unsigned lines;         /* logged */
	size_t bytes;           /* logged */
	unsigned long long dropped; /* read but not logged */
	char last[512];         /* the last line, for the failure message */
};

/* the longest piece of a line in one journal entry: log.c keeps messages under 1 KiB */
#define OUTPUT_PIECE 768

static void output_line(struct output *o, const char *line)
{
	size_t l = strlen(line);

	if (!l)
		return;
	snprintf(o->last, sizeof(o->last), "%s", line);
	if (o->dropped == 0 && o->lines < OUTPUT_MAX_LINES && o->bytes + l <= OUTPUT_MAX_BYTES) {
		/* a long line in pieces, rather than cut short by the logger */
		for (size_t at = 0; at < l; at += OUTPUT_PIECE)
			log_info(STAGE, "%s: %.*s", o->name, OUTPUT_PIECE, line + at);
		o->lines++;
		o->bytes += l;
		return;
	}
	if (o->dropped == 0)
		log_info(STAGE, "%s: more output than %d lines or %d KiB; the rest is dropped", o->name,
			 OUTPUT_MAX_LINES, OUTPUT_MAX_BYTES / 1024);
	o->dropped += l + 1;
}

/* Logs the complete lines in o->buf; with flush, the incomplete one at the end too. */
static void output_lines(struct output *o, bool flush)
{
	size_t start = 0;

	for (size_t i = 0; i < o->len; i++) {
		if (o->buf[i] != '\n')
			continue;
		o->buf[i] = '\0';
		output_line(o, o->buf + start);
		start = i + 1;
	}
	if (flush && start < o->len) {
		o->buf[o->len] = '\0';
		output_line(o, o->buf + start);
		start = o->len;
	}
	memmove(o->buf, o->buf + start, o->len - start);
	o->len -= start;
}

/* Reads what is there, up to READ_BUDGET; returns true at end of file. */
static bool output_read(struct output *o, int fd)
{
	size_t budget = READ_BUDGET;

	while (budget > 0) {
		size_t room;
		ssize_t n;

		if (o->len == sizeof(o->buf) - 1)
			output_lines(o, true); /* a line longer than the buffer: logged in pieces */
		room = sizeof(o->buf) - 1 - o->len;
		n = read(fd, o->buf + o->len, room < budget ? room : budget);
		if (n > 0) {
			o->len += (size_t)n;
			budget -= (size_t)n;
			output_lines(o, false);
			continue;
		}
		if (n == 0)
			return true;
		if (errno == EINTR)
			continue;
		return errno != EAGAIN; /* EAGAIN: nothing more now; anything else: give up on it */
	}
	return false;
}

/* The children of pid (0: ours), zombies included, from /proc/PID/task/TID/children. */
static int read_children(pid_t pid, pid_t **ret, size_t *ret_n)
{
	char dir[64];
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	pid_t *v = NULL;
	size_t n = 0;

	if (pid)
		snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	else
		snprintf(dir, sizeof(dir), "/proc/self/task");
	d = opendir(dir);
	if (!d)
		return negative_errno();
	while ((de = readdir(d))) {
		char path[96], buf[32];
		_cleanup_fclose_ FILE *f = NULL;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%.16s/children", dir, de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue; /* a thread that just ended */
		while (fscanf(f, "%31s", buf) == 1) {
			long child = strtol(buf, NULL, 10);
			pid_t *nv;
			if (child <= 0)
				continue;
			nv = realloc(v, (n + 1) * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			v[n++] = (pid_t)child;
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static bool pid_in(pid_t pid, const pid_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == pid)
			return true;
	return false;
}

/* The parent of pid, from /proc/PID/stat ("pid (comm) state ppid ..."); 0 when unknown. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	_cleanup_close_ int fd = -1;
	const char *p;
	ssize_t n;
	int ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold anything, ")" too */
	return p && sscanf(p + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : 0;
}

static void comm_of(pid_t pid, char *buf, size_t size)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, size - 1);
	if (n <= 0) {
		snprintf(buf, size, "?");
		return;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

static void append_proc(char *list, size_t size, pid_t pid)
{
	char comm[32];
	size_t l = strlen(list);

	if (l + 1 >= size)
		return;
	comm_of(pid, comm, sizeof(comm));
	snprintf(list + l, size - l, "%s%s (pid %d)", l ? ", " : "", comm, (int)pid);
}

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

static int pidfd_kill(int pidfd, int sig)
{
#ifdef SYS_pidfd_send_signal
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

/* What a sweep killed, named while they still have names (once reaped, they are gone). */
struct sweep {
	pid_t *seen;
	size_t n_seen;
	char killed[256];
};

static void sweep_note(struct sweep *sw, pid_t pid)
{
	pid_t *ns;

	if (pid_in(pid, sw->seen, sw->n_seen) || !(ns = realloc(sw->seen, (sw->n_seen + 1) * sizeof(*ns))))
		return;
	sw->seen = ns;
	sw->seen[sw->n_seen++] = pid;
	if (sw->n_seen <= 8)
		append_proc(sw->killed, sizeof(sw->killed), pid);
}

/*
 * SIGKILLs what lies below parent, a process that did not die: one stuck in the kernel never
 * gets to reap its children nor to hand them to us by dying. These are not our children, so
 * each is held by a pidfd and checked to be parent's child, while parent (our child, or held
 * by parent_fd) is still alive, before the signal goes to the pidfd: a PID that was reused
 * is never hit.
 */
static void kill_below(struct sweep *sw, pid_t parent, int parent_fd, unsigned depth)
{
	_cleanup_free_ pid_t *kids = NULL;
	size_t n = 0;

	if (depth > 16 || read_children(parent, &kids, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int fd = pidfd_open_(kids[i]);

		if (fd < 0 || parent_of(kids[i]) != parent ||
		    (parent_fd >= 0 && pidfd_kill(parent_fd, 0) < 0))
			continue;
		sweep_note(sw, kids[i]);
		if (pidfd_kill(fd, SIGKILL) < 0)
			continue;
		kill_below(sw, kids[i], fd, depth + 1);
	}
}

/*
 * Kills and reaps every process a drop-in started. The hook is a child subreaper while scripts
 * run, so whatever a script started (detached with setsid or not) is one of our descendants,
 * and becomes our child when its parent dies. Our children are killed by PID: no one else
 * reaps them, so their PIDs cannot have been reused. Round by round the top of the tree is
 * killed and reaped, and what it started comes up to us; below a child that does not die,
 * kill_below() reaches further down. Children that were ours before the script ran (keep) are
 * not touched. Gives up after KILL_WAIT, reporting what is left: a process blocked in the
 * kernel may ignore SIGKILL for good.
 */
static void sweep(const char *name, pid_t script, const pid_t *keep, size_t n_keep,
		  int *script_status, bool *script_reaped)
{
	double until = now_seconds() + KILL_WAIT, delay = 0.001;
	struct sweep sw = { .killed = "" };
	char left[256] = "";
	bool unlisted = false;

	for (;;) {
		_cleanup_free_ pid_t *kids = NULL;
		size_t n = 0, ours = 0, alive = 0;
		bool late = now_seconds() >= until;
		int r;

		r = read_children(0, &kids, &n);
		if (r < 0) {
			/* without the list, the script at least */
			if (!unlisted)
				log_error(STAGE, r, "%s: cannot list the processes it left", name);
			unlisted = true;
			kids = *script_reaped ? NULL : malloc(sizeof(*kids));
			n = kids ? 1 : 0;
			if (kids)
				kids[0] = script;
		}
		for (size_t i = 0; i < n; i++) {
			int status;

			if (pid_in(kids[i], keep, n_keep))
				continue;
			ours++;
			if (kids[i] != script)
				sweep_note(&sw, kids[i]);
			(void)kill(kids[i], SIGKILL);
			if (waitpid(kids[i], &status, WNOHANG) == kids[i]) {
				if (kids[i] == script) {
					*script_status = status;
					*script_reaped = true;
				}
				continue;
			}
			alive++;
			kill_below(&sw, kids[i], -1, 0);
			if (late)
				append_proc(left, sizeof(left), kids[i]);
		}
		/* done when none is left: one reaped just now may have left its children to us */
		if (!ours)
			break;
		if (late) {
			if (alive)
				log_error(STAGE, 0, "%s: %zu process(es) did not end within %.1f s of SIGKILL "
					  "(blocked in the kernel?); left behind: %s", name, alive, KILL_WAIT, left);
			else
				log_error(STAGE, 0, "%s: still starting processes after %.1f s of SIGKILL; "
					  "some may be left", name, KILL_WAIT);
			break;
		}
		if (!alive)
			continue;
		sleep_seconds(delay);
		if (delay < 0.02)
			delay *= 2;
	}
	if (sw.n_seen)
		log_info(STAGE, "%s: killed %zu process(es) it left: %s%s", name, sw.n_seen, sw.killed,
			 sw.n_seen > 8 ? ", ..." : "");
	free(sw.seen);
}

/* Has the script ended? It is left a zombie: its PID, and so its process group, stay ours. */
static bool script_ended(pid_t pid)
{
	siginfo_t si = { 0 };

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

static int run_one(const struct run *run, const char *path, const char *name, double timeout)
{
	char *argv[] = { (char *)path, (char *)run->vm_name, (char *)run->op, (char *)run->subop,
			 (char *)run->extra, NULL };
	_cleanup_free_ struct output *o = NULL;
	_cleanup_free_ pid_t *keep = NULL;
	_cleanup_close_ int pidfd = -1;
	size_t n_keep = 0;
	int pipefd[2], in, status = 0, r;
	double deadline;
	bool eof = false, ended = false, reaped = false;
	pid_t pid;

	if (run->dry_run) {
		printf("run %s\n", path);
		return 0;
	}
	log_debug("action", "run %s", path);

	o = calloc(1, sizeof(*o));
	if (!o)
		return log_error(STAGE, ENOMEM, "cannot run %s", path);
	o->name = name;
	/* our children now are not the script's: the sweep leaves them alone */
	r = read_children(0, &keep, &n_keep);
	if (r < 0)
		log_warning(STAGE, r, "cannot list our own processes; leftovers of %s may survive", name);
	in = memfd_create("domain-xml", MFD_CLOEXEC);
	if (in < 0)
		return log_error(STAGE, errno, "memfd_create");
	if (run->xml_len && write(in, run->xml, run->xml_len) != (ssize_t)run->xml_len) {
		close(in);
		return log_error(STAGE, errno, "cannot buffer the domain XML");
	}
	lseek(in, 0, SEEK_SET);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		close(in);
		return log_error(STAGE, errno, "pipe");
	}
	/* until the sweep: what the script leaves behind is re-parented to us, not to init */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warning(STAGE, errno, "cannot become a child subreaper; leftovers of %s may survive", name);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		(void)prctl(PR_SET_CHILD_SUBREAPER, 0);
		close(in);
		close(pipefd[0]);
		close(pipefd[1]);
		return log_error(STAGE, errno, "fork");
	}
	if (pid == 0) {
		setsid();
		dup2(in, 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		signal(SIGPIPE, SIG_DFL);
		execve(path, argv, environ);
		dprintf(2, "cannot execute: %s\n", strerror(errno));
		_exit(127);
	}
	deadline = now_seconds() + timeout;
	close(in);
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	/* readable when the script ends; without it (kernels before 5.3) the loop looks every
	 * 20 ms */
	pidfd = pidfd_open_(pid);

	/* until the script ends or its time is up; the deadline is looked at on every round */
	while (!ended) {
		struct pollfd pfd[2];
		double left = deadline - now_seconds();
		nfds_t nfds = 0;
		int ms;

		if (left <= 0)
			break;
		ms = (int)(left * 1000) + 1;
		if (pidfd < 0 && ms > 20)
			ms = 20;
		if (!eof)
			pfd[nfds++] = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
		if (pidfd >= 0)
			pfd[nfds++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		(void)poll(pfd, nfds, ms);
		if (!eof)
			eof = output_read(o, pipefd[0]);
		ended = script_ended(pid);
	}
	/* what it wrote before it ended; a child it left holding the pipe does not hold us up */
	if (ended && !eof)
		(void)output_read(o, pipefd[0]);
	output_lines(o, true);
	close(pipefd[0]);

	/* its process group (the session it leads), then whatever else it started; its PID is
	 * not reaped yet, so the group cannot be someone else's */
	(void)kill(-pid, SIGKILL);
	if (ended) {
		(void)waitpid(pid, &status, 0);
		reaped = true;
	}
	sweep(name, pid, keep, n_keep, &status, &reaped);
	(void)prctl(PR_SET_CHILD_SUBREAPER, 0);
	if (o->dropped)
		log_debug(STAGE, "%s: %llu bytes of output dropped", name, o->dropped);

	if (!ended)
		return log_fail(STAGE, ETIMEDOUT, "drop-in %s did not finish within %.0f s", path, timeout);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_info(STAGE, "%s: done", name);
		return 0;
	}
	if (WIFSIGNALED(status))
		return log_fail(STAGE, EIO, "drop-in %s was killed by signal %d%s%s", path, WTERMSIG(status),
				o->last[0] ? ": " : "", o->last);
	return log_fail(STAGE, EIO, "drop-in %s failed with exit status %d%s%s", path,
			WEXITSTATUS(status), o->last[0] ? ": " : "", o->last);
}

int scripts_run(struct run *run, bool stop_on_failure)
{
	char dir[PATH_MAX];
	char **names = NULL;
	size_t n = 0;
	struct stat st;
	double timeout = run->vm ? run->vm->script_timeout : 60.0;
	int r = 0;

	if (script_path(dir, sizeof(dir), run->hooks_dir, run->vm_name, run->op, run->subop) < 0)
		return 0;
	if (lstat(dir, &st) < 0)
		return 0;
	if (S_ISREG(st.st_mode)) {
		if (!(st.st_mode & 0111))
			return 0;
		r = check_safe(run, dir, &st);
		if (r < 0)
			return log_fail(STAGE, r, "refusing drop-in %s: owner or permissions unsafe", dir);
		return run_one(run, dir, run->subop, timeout);
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (check_safe(run, dir, &st) < 0)
		return log_fail(STAGE, EPERM, "refusing drop-in directory %s: owner or permissions unsafe", dir);
	r = list_names(dir, &names, &n);
	if (r < 0)
		return log_fail(STAGE, r, "cannot read %s", dir);
	for (size_t i = 0; i < n; i++) {
		char p[PATH_MAX];
		int k;
		if (r < 0 && stop_on_failure)
			break;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, names[i]) >= sizeof(p) || lstat(p, &st) < 0)
			continue;
		if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
			log_debug(STAGE, "skipping %s: not an executable file", p);
			continue;
		}
		if (check_safe(run, p, &st) < 0)
			k = log_fail(STAGE, EPERM, "refusing drop-in %s: owner or permissions unsafe", p);
		else
			k = run_one(run, p, names[i], timeout);
		if (k < 0)
			r = k;
	}
	strv_free(names, n);
	return r;
}
