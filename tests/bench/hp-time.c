/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Timing for the hugepage benchmark; prints "MICROSECONDS RESULT" on stdout.
 *
 *   hp-time write FILE VALUE
 *       one write(2) of VALUE to FILE, timed in this process (the floor: the kernel's own work
 *       and nothing else); RESULT is 0, or the errno of a failed write.
 *   hp-time run LIMIT INPUT OUTPUT -- PROGRAM ARGV0 [ARGS...]
 *       the whole process (fork, exec, dynamic linking, the work, exit), INPUT on stdin, stdout
 *       and stderr to OUTPUT; RESULT is its exit status, or "killed" when it ran for LIMIT
 *       seconds (0: no limit) and was killed with its process group.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int timed_write(const char *file, const char *value)
{
	int fd = open(file, O_WRONLY), err = 0;
	double t0, t1;

	if (fd < 0) {
		perror(file);
		return 1;
	}
	t0 = now_us();
	if (write(fd, value, strlen(value)) < 0)
		err = errno;
	t1 = now_us();
	close(fd);
	printf("%.0f %d\n", t1 - t0, err);
	return 0;
}

static int timed_run(double limit, const char *input, const char *output, char **cmd)
{
	int in = open(input, O_RDONLY), out = open(output, O_WRONLY | O_CREAT | O_TRUNC, 0600), pidfd, status;
	double t0, t1, deadline;
	bool killed = false;
	pid_t pid;

	if (in < 0 || out < 0) {
		perror("hp-time: input/output");
		return 1;
	}
	t0 = now_us();
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		setpgid(0, 0);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		execv(cmd[0], cmd + 1);
		_exit(127);
	}
	setpgid(pid, pid);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	deadline = t0 + limit * 1e6;
	while (limit > 0 && pidfd >= 0) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		double left = deadline - now_us();
		if (left <= 0) {
			kill(-pid, SIGKILL);
			killed = true;
			break;
		}
		if (poll(&p, 1, (int)(left / 1000) + 1) > 0)
			break;
	}
	waitpid(pid, &status, 0);
	t1 = now_us();
	if (killed)
		printf("%.0f killed\n", t1 - t0);
	else
		printf("%.0f %d\n", t1 - t0, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "write") == 0)
		return timed_write(argv[2], argv[3]);
	if (argc >= 8 && strcmp(argv[1], "run") == 0 && strcmp(argv[5], "--") == 0)
		return timed_run(atof(argv[2]), argv[3], argv[4], argv + 6);
	fprintf(stderr, "usage: hp-time write FILE VALUE\n"
			"       hp-time run LIMIT INPUT OUTPUT -- PROGRAM ARGV0 [ARGS...]\n");
	return 2;
}
