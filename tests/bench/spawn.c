/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * spawn N INPUT -- PROGRAM ARGV0 [ARGS...] [-- PROGRAM ARGV0 [ARGS...]]...
 * Runs each command N times, taking turns so that every command sees the same machine load,
 * with INPUT on stdin and stdout/stderr on /dev/null, and prints one line per command: the
 * median and mean wall time of a run in microseconds (exec, dynamic linking, the work, exit).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CMDS 8

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	char **cmd[MAX_CMDS];
	double *t[MAX_CMDS], sum[MAX_CMDS] = { 0 };
	int n, ncmd = 0, devnull;

	if (argc < 6 || strcmp(argv[3], "--") != 0) {
		fprintf(stderr, "usage: spawn N INPUT -- PROGRAM ARGV0 [ARGS...] [-- ...]\n");
		return 2;
	}
	n = atoi(argv[1]);
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--") != 0)
			continue;
		argv[i] = NULL;
		if (ncmd == MAX_CMDS || i + 2 >= argc)
			return 2;
		cmd[ncmd++] = argv + i + 1;
	}
	for (int c = 0; c < ncmd; c++)
		if (n <= 0 || !(t[c] = calloc((size_t)n, sizeof(double))))
			return 2;
	devnull = open("/dev/null", O_WRONLY);
	for (int i = 0; i < n; i++) {
		for (int c = 0; c < ncmd; c++) {
			int in = open(argv[2], O_RDONLY), status;
			double t0 = now();
			pid_t pid = fork();

			if (pid == 0) {
				dup2(in, 0);
				dup2(devnull, 1);
				dup2(devnull, 2);
				execv(cmd[c][0], cmd[c] + 1);
				_exit(127);
			}
			waitpid(pid, &status, 0);
			t[c][i] = now() - t0;
			close(in);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				fprintf(stderr, "spawn: %s exited with status %d\n", cmd[c][0], WEXITSTATUS(status));
				return 1;
			}
			sum[c] += t[c][i];
		}
	}
	for (int c = 0; c < ncmd; c++) {
		qsort(t[c], (size_t)n, sizeof(double), cmp);
		printf("%.1f %.1f\n", t[c][n / 2], sum[c] / n);
	}
	return 0;
}
