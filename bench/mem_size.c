/* SPDX-License-Identifier: MIT */
/*
 * mem_size.c - bench_mem_size: what a volume costs as it grows.  For
 * in-memory volumes of 4 KiB blocks it prints
 *  - creation and destruction time, 1 GiB .. 1 PiB;
 *  - heap in use (mallinfo2: arena + mmapped bytes) and resident set growth
 *    per TiB, empty and aged to 50% / 90% (the shared Ceph harness's
 *    protocol: tiles of 1..64 blocks, each kept with probability p, marked
 *    used with mb_mark_used, then one 16-block request to touch the
 *    allocator);
 *  - the CPU time of an alloc+free pair of 16 blocks at a random goal, per
 *    size, with the goals in the volume's first GiB aged to 50% (the rest
 *    untouched), and over a whole aged volume.
 * Figures only: no timing or size is asserted (the CTest entry runs
 * --quick and checks that it ran to the end).
 *
 * Usage: bench_mem_size [--quick] [--age-gib N] [--max-gib N] [--cache N]
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mballoc.h"

#define GIB (1ULL << 30)
#define BS 4096ULL

static double mb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double mb_heap_mib(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (double)(mi.uordblks + mi.hblkhd) / (1 << 20);
}

static double mb_rss_mib(void)
{
	unsigned long long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%llu %llu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (double)res * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

static uint64_t mb_xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t mb_cache_groups; /* --cache: mb_cache_groups, 0 = default */

static int mb_create(uint64_t bytes, struct mb_volume **vol)
{
	struct mb_geometry g = {.block_size = BS, .blocks_count = bytes / BS};
	int err = mb_volume_create(&g, vol);

	if (!err && mb_cache_groups) {
		uint64_t max = 0;

		mb_tunable_info(*vol, "mb_cache_groups", NULL, &max, NULL);
		err = mb_tunable_set(*vol, "mb_cache_groups",
				     mb_cache_groups < max ? mb_cache_groups : max);
		if (err)
			mb_volume_destroy(*vol);
	}
	return err;
}

/* Marks tiles of 1..64 blocks used, each with probability pct/100. */
static int mb_age(struct mb_volume *vol, uint64_t blocks, unsigned pct, uint64_t seed)
{
	uint64_t s = seed, pos = 0, us = 0, ul = 0;

	while (pos < blocks) {
		uint64_t l = 1 + mb_xs(&s) % 64;

		if (pos + l > blocks)
			l = blocks - pos;
		if (mb_xs(&s) % 100 < pct) {
			if (!ul)
				us = pos;
			ul += l;
		} else if (ul) {
			int err = mb_mark_used(vol, us, ul);

			if (err)
				return err;
			ul = 0;
		}
		pos += l;
	}
	return ul ? mb_mark_used(vol, us, ul) : 0;
}

/* One 16-block request and its free. */
static int mb_touch(struct mb_volume *vol, uint64_t goal)
{
	struct mb_request rq = {.goal = goal, .len = 16, .flags = MB_HINT_NOPREALLOC};
	struct mb_extent ex;
	int err = mb_alloc(vol, &rq, &ex);

	return err ? err : mb_free(vol, ex.start, ex.len);
}

/* Mean ns of an alloc+free pair at random goals. */
/* CPU time of this thread: on a loaded machine the wall clock mostly
   measures the other processes (the calls are single-threaded). */
static double mb_cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double mb_call_ns(struct mb_volume *vol, uint64_t blocks, unsigned n, int *err)
{
	uint64_t s = 42;
	double t0 = mb_cpu_now();

	for (unsigned i = 0; i < n && !*err; i++)
		*err = mb_touch(vol, mb_xs(&s) % blocks);
	return (mb_cpu_now() - t0) * 1e9 / n;
}

/*
 * Creation, memory of the empty volume, then the call cost with the first
 * `region` blocks aged to 50% and every goal in them: the same fill and
 * fragmentation where the calls go, whatever the volume's size.
 */
static int mb_size_row(uint64_t bytes, uint64_t region, unsigned calls)
{
	struct mb_volume *vol;
	double h0 = mb_heap_mib(), r0 = mb_rss_mib(), t0 = mb_now();
	int err = mb_create(bytes, &vol);
	double tc = mb_now() - t0;

	if (err)
		return err;
	double heap = mb_heap_mib() - h0, rss = mb_rss_mib() - r0;
	double tib = (double)bytes / (1024.0 * GIB);

	err = mb_age(vol, region, 50, 777);
	double ns = err ? 0 : mb_call_ns(vol, region, calls, &err);

	t0 = mb_now();
	mb_volume_destroy(vol);
	printf("size %8.0f GiB  create %9.6f s  destroy %9.6f s  empty: heap %9.3f MiB/TiB  "
	       "rss %9.3f MiB/TiB  alloc+free(16) in its first %.0f GiB aged 50%%: %6.0f cpu ns\n",
	       (double)bytes / GIB, tc, mb_now() - t0, heap / tib, rss / tib,
	       (double)region * BS / GIB, ns);
	return err;
}

static int mb_fill_row(uint64_t bytes, unsigned pct, unsigned calls)
{
	struct mb_volume *vol;
	double h0 = mb_heap_mib(), r0 = mb_rss_mib();
	int err = mb_create(bytes, &vol);

	if (err)
		return err;
	double t0 = mb_now();

	err = pct ? mb_age(vol, bytes / BS, pct, 12345) : 0;
	double ta = mb_now() - t0;

	if (!err)
		err = mb_touch(vol, MB_GOAL_NONE);
	double heap = mb_heap_mib() - h0, rss = mb_rss_mib() - r0;
	double tib = (double)bytes / (1024.0 * GIB);
	double ns = err ? 0 : mb_call_ns(vol, bytes / BS, calls, &err);
	uint64_t cache = 0;

	mb_tunable_get(vol, "mb_cache_groups", &cache);
	printf("fill %3u%% of %6.0f GiB  age %7.2f s  heap %8.2f MiB/TiB  rss %8.2f MiB/TiB  "
	       "alloc+free(16, random goal) %8.0f cpu ns  (mb_cache_groups %" PRIu64 " of %u)\n",
	       pct, (double)bytes / GIB, ta, heap / tib, rss / tib, ns, cache,
	       mb_groups_count(vol));
	fflush(stdout);
	mb_volume_destroy(vol);
	return err;
}

static int mb_fill_child(uint64_t bytes, unsigned pct, unsigned calls)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid)
		_exit(mb_fill_row(bytes, pct, calls) ? 1 : 0);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	bool quick = false;
	uint64_t age_gib = 1024, max_gib = 1048576;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--age-gib") && i + 1 < argc)
			age_gib = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--cache") && i + 1 < argc)
			mb_cache_groups = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--max-gib") && i + 1 < argc)
			max_gib = strtoull(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: %s [--quick] [--age-gib N] [--max-gib N] [--cache N]\n", argv[0]);
			return 2;
		}
	}
	if (quick && age_gib == 1024)
		age_gib = 4;
	static const uint64_t sizes[] = {1, 64, 1024, 16384, 1048576}; /* GiB */
	unsigned calls = quick ? 2000 : 20000;
	int err = 0;

	printf("4 KiB blocks, 32768 per group; heap = mallinfo2 uordblks + hblkhd (malloc only;\n"
	       "the group structs and scan sets are mmap'd: see rss)\n");
	static const unsigned fills[] = {0, 50, 90};

	/* each fill in a child forked before any volume existed: its resident
	   set grows by exactly what the volume touches (no freed heap reused) */
	for (unsigned i = 0; i < 3 && !err; i++)
		err = mb_fill_child(age_gib * GIB, fills[i], calls);
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && sizes[i] <= max_gib && !err; i++)
		err = mb_size_row(sizes[i] * GIB, GIB / BS, calls);
	if (err) {
		fprintf(stderr, "bench_mem_size: %s\n", strerror(-err));
		return 1;
	}
	printf("done\n");
	return 0;
}
