/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Drop-in scripts in the layout the usual dispatcher made common:
 *   HOOKS_DIR/VM/OP/SUBOP/NAME (every executable, in strcmp order)
 *   HOOKS_DIR/VM/OP/SUBOP     (or one executable file)
 * Each gets the hook's argv and the domain XML on stdin, is exec'd directly (no shell), has a
 * time bound, and its output goes to the log, never to our stdout.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
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

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every name in dir but dot files, sorted; never truncated. */
static int list_names(const char *dir, char ***ret, size_t *ret_n)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;

	if (!d)
		return negative_errno();
	while ((de = readdir(d))) {
		char **nv;
		if (de->d_name[0] == '.')
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv || !(nv[n] = strdup(de->d_name))) {
			strv_free(nv ? nv : v, n);
			return -ENOMEM;
		}
		v = nv;
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*ret = v;
	*ret_n = n;
	return 0;
}

static void log_output(const char *name, char *buf, size_t *len, bool flush, char *last,
		       size_t lastsize)
{
	size_t start = 0;

	for (size_t i = 0; i < *len; i++) {
		if (buf[i] != '\n')
			continue;
		buf[i] = '\0';
		if (buf[start]) {
			log_info(STAGE, "%s: %s", name, buf + start);
			snprintf(last, lastsize, "%s", buf + start);
		}
		start = i + 1;
	}
	if (flush && start < *len) {
		buf[*len] = '\0';
		log_info(STAGE, "%s: %s", name, buf + start);
		snprintf(last, lastsize, "%s", buf + start);
		start = *len;
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
}

/*
 * Kills what a drop-in left behind. The hook is a child subreaper while scripts run, so a
 * process a script detached (setsid cmd &) is re-parented to us when its parent exits, and
 * is found among our children here. Our own children at this point are only such leftovers.
 */
static void kill_leftovers(void)
{
	char path[64];
	_cleanup_free_ char *children = NULL;
	char *save = NULL;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	{
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		char buf[4096];
		ssize_t n;
		if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
			return;
		buf[n] = '\0';
		children = strdup(buf);
	}
	if (!children)
		return;
	for (char *p = strtok_r(children, " \n", &save); p; p = strtok_r(NULL, " \n", &save)) {
		pid_t pid = (pid_t)strtol(p, NULL, 10);
		if (pid > 0) {
			log_info(STAGE, "killing process %d that a drop-in left running", (int)pid);
			kill(pid, SIGKILL);
			(void)waitpid(pid, NULL, 0);
		}
	}
}

static int run_one(const struct run *run, const char *path, const char *name, double timeout)
{
	char *argv[] = { (char *)path, (char *)run->vm_name, (char *)run->op, (char *)run->subop,
			 (char *)run->extra, NULL };
	char buf[4096 + 1], last[512] = "";
	size_t len = 0;
	int pipefd[2], in, status = 0;
	double deadline = now_seconds() + timeout;
	bool eof = false, exited = false, timed_out = false;
	pid_t pid;

	if (run->dry_run) {
		printf("run %s\n", path);
		return 0;
	}
	log_debug("action", "run %s", path);

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
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
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
	close(in);
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);

	while (!exited || !eof) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		double left = deadline - now_seconds();

		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (!eof)
			(void)poll(&pfd, 1, exited ? 0 : left > 0.05 ? 50 : (int)(left * 1000) + 1);
		for (;;) {
			ssize_t n;
			if (eof)
				break;
			if (len == sizeof(buf) - 1)
				log_output(name, buf, &len, true, last, sizeof(last));
			n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len);
			if (n > 0) {
				len += (size_t)n;
				log_output(name, buf, &len, false, last, sizeof(last));
				continue;
			}
			if (n == 0)
				eof = true;
			break;
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = true;
		/* a script that left a child holding its output is done when it exits */
		if (exited && !eof) {
			pfd.revents = 0;
			if (poll(&pfd, 1, 0) <= 0)
				break;
		}
	}
	log_output(name, buf, &len, true, last, sizeof(last));
	close(pipefd[0]);
	kill(-pid, SIGKILL); /* the script's session; detached leftovers: kill_leftovers() */
	if (exited)
		kill_leftovers();
	if (timed_out) {
		if (!exited)
			(void)waitpid(pid, &status, 0);
		return log_fail(STAGE, ETIMEDOUT, "drop-in %s did not finish within %.0f s", path, timeout);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_info(STAGE, "%s: done", name);
		return 0;
	}
	if (WIFSIGNALED(status))
		return log_fail(STAGE, EIO, "drop-in %s was killed by signal %d%s%s", path, WTERMSIG(status),
				last[0] ? ": " : "", last);
	return log_fail(STAGE, EIO, "drop-in %s failed with exit status %d%s%s", path,
			WEXITSTATUS(status), last[0] ? ": " : "", last);
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
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1); /* see kill_leftovers() */
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
