/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fragment PCT RESERVE_MIB: makes a fragmented machine for the hugepage benchmark, and holds
 * it until it is killed.
 *
 * It fills all but RESERVE_MIB of the free memory (the page cache stays) with the pages of a
 * memfd, allocated with fallocate(): tmpfs allocates them without writing to them, so filling
 * gigabytes takes seconds, where touching them takes minutes in a VM whose host backs memory
 * lazily. The page allocator hands such pages out one pageblock after the other, so every
 * 2 MiB of the file lies in about one 2 MiB pageblock. In PCT % of the machine's pageblocks'
 * worth of those 2 MiB windows, spread evenly, it keeps the first 4 KiB page, punches the rest
 * out, and pins what it kept as io_uring fixed buffers (IORING_REGISTER_BUFFERS pins with
 * FOLL_LONGTERM: unlike mlock'ed memory, which compaction migrates at will, a long-term pinned
 * page cannot be moved, so its pageblock can never become a huge page again). The machine
 * keeps its free memory, in pieces. It reports in how many distinct pageblocks the pins really
 * are (/proc/self/pagemap, root only). Raw syscalls, no liburing.
 *
 * Prints one line "ready: ..." on stdout when the pins are in place. The pins go with the
 * process (closing the rings unpins), which ends on SIGTERM or SIGINT, when its parent dies,
 * or after 15 minutes at the latest.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define BLOCK_PAGES 512ul     /* pages of a 2 MiB pageblock */
#define CHUNK (PAGE * BLOCK_PAGES)
#define MAX_REG_BUFFERS 16384 /* IORING_MAX_REG_BUFFERS: per ring */

static uint64_t meminfo_kib(const char *field)
{
	char line[256];
	uint64_t v = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0) {
			v = strtoull(line + strlen(field), NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void quit(int sig)
{
	(void)sig;
	_exit(0); /* the rings close with the process: the pins go */
}

int main(int argc, char **argv)
{
	uint64_t free_kib = meminfo_kib("MemFree:"), total_kib = meminfo_kib("MemTotal:");
	size_t fill, nchunks, want, npin, *pin, blocks = 0;
	uint64_t *pfn;
	unsigned pct;
	long reserve_mib;
	char *mem;
	int fd, pm;
	double t0, t1, t2, t3;

	if (argc != 3) {
		fprintf(stderr, "usage: fragment PCT RESERVE_MIB\n");
		return 2;
	}
	pct = (unsigned)atoi(argv[1]);
	reserve_mib = atol(argv[2]);
	if (pct == 0 || pct > 100 || reserve_mib < 0)
		return 2;
	if (free_kib / 1024 <= (uint64_t)reserve_mib + 256) {
		fprintf(stderr, "fragment: only %llu MiB free\n", (unsigned long long)(free_kib / 1024));
		return 3;
	}
	signal(SIGTERM, quit);
	signal(SIGINT, quit);
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the benchmark */
	if (getppid() == 1)
		return 1;
	alarm(900);
	fill = (size_t)(free_kib / 1024 - (uint64_t)reserve_mib) << 20;
	nchunks = fill / CHUNK;
	fill = nchunks * CHUNK;
	want = (size_t)(total_kib / (BLOCK_PAGES * 4) * pct / 100);
	npin = want < nchunks ? want : nchunks;
	t0 = now();
	fd = memfd_create("vfiohook-bench-fragment", MFD_CLOEXEC);
	if (fd < 0 || fallocate(fd, 0, 0, (off_t)fill) < 0) {
		perror("fragment: memfd fallocate");
		return 1;
	}
	pin = malloc((npin + 1) * sizeof(*pin));
	if (!pin)
		return 1;
	for (size_t j = 0; j < npin; j++)
		pin[j] = (size_t)((unsigned long long)j * nchunks / npin);
	pin[npin] = nchunks;
	t1 = now();
	/* everything but the first page of the chosen chunks goes back */
	for (size_t j = 0; j <= npin; j++) {
		off_t from = j > 0 ? (off_t)(pin[j - 1] * CHUNK + PAGE) : 0, to = (off_t)(pin[j] * CHUNK);
		if (from < to && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, from, to - from) < 0) {
			perror("fragment: punching holes");
			return 1;
		}
	}
	t2 = now();
	mem = mmap(NULL, fill, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		perror("fragment: mmap");
		return 1;
	}
	for (size_t j = 0; j < npin; j++)
		mem[pin[j] * CHUNK] = 1;

	for (size_t done = 0; done < npin;) {
		size_t n = npin - done < MAX_REG_BUFFERS ? npin - done : MAX_REG_BUFFERS;
		struct io_uring_params params = { 0 };
		struct iovec *iov = calloc(n, sizeof(*iov));
		int ring = (int)syscall(__NR_io_uring_setup, 1, &params);

		if (ring < 0 || !iov) {
			perror("fragment: io_uring_setup");
			return 1;
		}
		for (size_t j = 0; j < n; j++) {
			iov[j].iov_base = mem + pin[done + j] * CHUNK;
			iov[j].iov_len = PAGE;
		}
		if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, iov, (unsigned)n) < 0) {
			perror("fragment: io_uring_register(IORING_REGISTER_BUFFERS)");
			return 1;
		}
		free(iov); /* the ring fd stays open: the pins live as long as this process */
		done += n;
	}

	t3 = now();
	/* in how many distinct pageblocks the pins are */
	pm = open("/proc/self/pagemap", O_RDONLY);
	pfn = calloc(npin, sizeof(*pfn));
	if (pm < 0 || !pfn) {
		perror("fragment: /proc/self/pagemap");
		return 1;
	}
	for (size_t j = 0; j < npin; j++) {
		uint64_t e = 0;
		if (pread(pm, &e, sizeof(e), (off_t)(((uintptr_t)mem + pin[j] * CHUNK) / PAGE * sizeof(e))) != sizeof(e))
			break;
		pfn[j] = e >> 63 ? (e & ((1ull << 55) - 1)) / BLOCK_PAGES : 0;
	}
	close(pm);
	qsort(pfn, npin, sizeof(*pfn), cmp_u64);
	for (size_t j = 0; j < npin; j++)
		if (pfn[j] && (j == 0 || pfn[j] != pfn[j - 1]))
			blocks++;
	free(pfn);

	printf("ready: %zu pages of 4 KiB pinned (%u %% of the %llu pageblocks of 2 MiB), in %zu distinct "
	       "pageblocks (fill of %zu MiB %.1f s, holes %.1f s, pins %.1f s)\n",
	       npin, pct, (unsigned long long)(total_kib / (BLOCK_PAGES * 4)), blocks, fill >> 20, t1 - t0, t2 - t1,
	       t3 - t2);
	fflush(stdout);
	for (;;)
		pause();
}
