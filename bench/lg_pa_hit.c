/* SPDX-License-Identifier: MIT */
/*
 * lg_pa_hit.c - what one locality-group PA hit costs, for callgrind.  Many
 * small files (at most mb_stream_req blocks) append 1..15 blocks at a time,
 * each write naming its left neighbour and the block after it as the goal,
 * as ext4's extent tree does; they share this CPU's group PAs.  The same
 * seeded sequence runs twice on two fresh volumes: first with mb_stats on,
 * to learn which calls a PA served (pa_hits), then with it off, each call
 * through lg_hit_call() or lg_other_call() by that verdict, so that
 *
 *   valgrind --tool=callgrind --toggle-collect=lg_hit_call bench_lg_pa_hit
 *
 * counts the instructions of the hits alone (Ir / hits).  Both runs must
 * answer alike (hash): mb_stats sends every request the regular way, so a
 * fast path that decided otherwise shows here.  Exit 1 if they differ.
 *
 * With a third argument "inode", the inode-PA hit instead (mballoc bench
 * --workload pa): one file appends 1 block at a time, the goal the block
 * after its last; every INODE_ROUND blocks it is closed, its blocks freed,
 * and a fresh file starts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mballoc.h"

#define NFILES 32
#define RING 8192
#define VOL_BLOCKS (1u << 18)
#define SMALL 16 /* mb_stream_req's default: the files stay small */
#define INODE_ROUND 100000 /* blocks a file grows to in inode mode */

struct lg_file {
	struct mb_file *f;
	uint64_t next, pend; /* logical append point, physical end of the last extent */
};

struct lg_run {
	struct mb_volume *vol;
	struct lg_file file[NFILES];
	struct mb_extent ring[RING];
	unsigned head, used;
	uint64_t rng, hash, ino;
	unsigned char *hit; /* per call: a PA served it (from the stats run) */
	uint64_t hits, calls;
	bool stats, inode;
};

static uint64_t lg_rand(struct lg_run *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng;
}

static void lg_mix(struct lg_run *r, uint64_t v)
{
	r->hash = (r->hash ^ v) * 0x100000001b3ULL;
}

__attribute__((noinline)) int lg_hit_call(struct mb_volume *vol, const struct mb_request *rq,
					  struct mb_extent *ex)
{
	return mb_alloc(vol, rq, ex);
}

__attribute__((noinline)) int lg_other_call(struct mb_volume *vol, const struct mb_request *rq,
					    struct mb_extent *ex)
{
	return mb_alloc(vol, rq, ex);
}

static uint64_t lg_pa_hits(struct mb_volume *vol)
{
	struct mb_stats st;

	mb_stats_get(vol, &st);
	return st.pa_hits;
}

static int lg_call(struct lg_run *r, const struct mb_request *rq, struct mb_extent *ex)
{
	uint64_t i = r->calls++;
	int rc;

	if (r->stats) {
		uint64_t before = lg_pa_hits(r->vol);

		rc = mb_alloc(r->vol, rq, ex);
		r->hit[i] = lg_pa_hits(r->vol) != before;
	} else {
		rc = r->hit[i] ? lg_hit_call(r->vol, rq, ex) : lg_other_call(r->vol, rq, ex);
	}
	r->hits += r->hit[i];
	return rc;
}

/* A file outgrew SMALL: a fresh one takes its place (its blocks stay). */
static int lg_reopen(struct lg_run *r, struct lg_file *lf)
{
	if (lf->f)
		mb_file_close(lf->f);
	lf->next = lf->pend = 0;
	return mb_file_open(r->vol, r->ino++, &lf->f);
}

static int lg_op(struct lg_run *r)
{
	struct lg_file *lf = &r->file[lg_rand(r) % NFILES];
	uint32_t len = 1 + (uint32_t)(lg_rand(r) % 15);
	struct mb_extent ex;
	int rc;

	if (lf->next + len > SMALL && (rc = lg_reopen(r, lf)))
		return rc;
	/* the block after the file's last one, if the volume has it */
	struct mb_request rq = { .file = lf->f, .logical = lf->next, .len = len,
				 .goal = lf->next && lf->pend < VOL_BLOCKS ? lf->pend
									  : MB_GOAL_NONE };

	if (lf->next) {
		rq.lleft = lf->next - 1;
		rq.pleft = lf->pend - 1;
		rq.flags |= MB_REQ_PLEFT;
	}
	if ((rc = lg_call(r, &rq, &ex)))
		return rc;
	lg_mix(r, ex.start);
	lg_mix(r, ex.len);
	lf->next += ex.len;
	lf->pend = ex.start + ex.len;
	if (r->used == RING) { /* the oldest extent goes */
		struct mb_extent *old = &r->ring[r->head];

		if ((rc = mb_free(r->vol, old->start, old->len)))
			return rc;
		r->head = (r->head + 1) % RING;
		r->used--;
	}
	r->ring[(r->head + r->used++) % RING] = ex;
	return 0;
}

/* Inode mode: file[0] appends one block; its blocks are in ring order. */
static int lg_inode_op(struct lg_run *r)
{
	struct lg_file *lf = &r->file[0];
	struct mb_extent ex;
	int rc;

	if (lf->next == INODE_ROUND) {
		if ((rc = lg_reopen(r, lf)))
			return rc;
		for (unsigned i = 0; i < r->used; i++)
			if ((rc = mb_free(r->vol, r->ring[i].start, r->ring[i].len)))
				return rc;
		r->used = 0;
	}
	struct mb_request rq = { .file = lf->f, .logical = lf->next, .len = 1,
				 .goal = lf->next ? lf->pend : MB_GOAL_NONE };

	if ((rc = lg_call(r, &rq, &ex)))
		return rc;
	lg_mix(r, ex.start);
	lg_mix(r, ex.len);
	lf->next += ex.len;
	lf->pend = ex.start + ex.len < VOL_BLOCKS ? ex.start + ex.len : 0;
	/* extents one after another merge, so the ring holds the runs */
	if (r->used && r->ring[r->used - 1].start + r->ring[r->used - 1].len == ex.start)
		r->ring[r->used - 1].len += ex.len;
	else if (r->used < RING)
		r->ring[r->used++] = ex;
	else
		return -ENOSPC; /* too scattered for this driver */
	return 0;
}

static int lg_run_once(struct lg_run *r, uint64_t seed, uint64_t ops)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_count = VOL_BLOCKS };
	int rc = mb_volume_create(&geo, &r->vol);

	r->rng = seed | 1;
	r->hash = 0xcbf29ce484222325ULL;
	r->ino = 12;
	if (!rc && r->stats)
		rc = mb_tunable_set(r->vol, "mb_stats", 1);
	for (int i = 0; i < (r->inode ? 1 : NFILES) && !rc; i++)
		rc = lg_reopen(r, &r->file[i]);
	for (uint64_t k = 0; k < ops && !rc; k++)
		rc = r->inode ? lg_inode_op(r) : lg_op(r);
	for (int i = 0; i < NFILES; i++)
		if (r->file[i].f)
			mb_file_close(r->file[i].f);
	char buf[256];

	if (!rc && mb_check(r->vol, buf, sizeof(buf))) {
		fprintf(stderr, "mb_check: %s\n", buf);
		rc = -EUCLEAN;
	}
	mb_volume_destroy(r->vol);
	return rc;
}

static int lg_pin_first_cpu(void)
{
	cpu_set_t set, one;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set)) {
			CPU_SET(c, &one);
			return sched_setaffinity(0, sizeof(one), &one) ? -errno : 0;
		}
	return -ENOENT;
}

int main(int argc, char **argv)
{
	uint64_t ops = argc > 1 ? strtoull(argv[1], NULL, 0) : 200000;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 42;
	static struct lg_run a, b;
	int rc;

	if (lg_pin_first_cpu()) /* one CPU: one locality group, the same in both runs */
		fprintf(stderr, "warning: not pinned to one CPU\n");
	a.hit = b.hit = calloc(ops, 1);
	a.stats = true;
	a.inode = b.inode = argc > 3 && !strcmp(argv[3], "inode");
	if (!a.hit || (rc = lg_run_once(&a, seed, ops)) || (rc = lg_run_once(&b, seed, ops))) {
		fprintf(stderr, "bench_lg_pa_hit: %s\n", a.hit ? strerror(-rc) : "out of memory");
		return 1;
	}
	printf("ops %llu  pa hits %llu  hash stats-on %016llx stats-off %016llx  %s\n",
	       (unsigned long long)ops, (unsigned long long)b.hits, (unsigned long long)a.hash,
	       (unsigned long long)b.hash, a.hash == b.hash ? "same" : "DIFFER");
	free(a.hit);
	return a.hash == b.hash ? 0 : 1;
}
