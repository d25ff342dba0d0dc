/* SPDX-License-Identifier: MIT */
/*
 * test_constrain.c - mb_alloc_constrained, mb_largest_extent, mb_alloc_vec:
 * constraints satisfied exactly over every test geometry; ENOSPC when small
 * pieces are free but no aligned run is, and success when one aligned run
 * exists far away; space held by preallocations, pending frees and a trim
 * in flight reclaimed before ENOSPC; vectors (contiguous first, all-or-
 * nothing, the n limit, reservations); unconstrained calls identical to
 * mb_alloc; bad arguments; and a hook race on the ENOSPC decision.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "harness.h"
#include "mb_test_int.h"
#include "park.h"

/* 16 groups of 256 1 KiB blocks, 2 metadata blocks each (group g starts at g * 256). */
static const struct mb_geometry geo16 = {
	.block_size = 1024, .blocks_per_group = 256, .blocks_count = 16 * 256,
	.first_data_block = 0, .reserved_per_group = 2,
};

static struct mb_volume *new_volume(const struct mb_geometry *geo)
{
	struct mb_volume *vol = NULL;

	return mb_volume_create(geo, &vol) ? NULL : vol;
}

/* Allocates every free block (no preallocation). */
static void fill(struct mb_volume *vol)
{
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1u << 15,
				 .flags = MB_HINT_NOPREALLOC };
	struct mb_extent ex;

	while (mb_alloc(vol, &rq, &ex) == 0)
		;
}

static bool satisfies(const struct mb_extent *ex, const struct mb_constraint *c)
{
	uint32_t a = c->align ? c->align : 1, min = c->min_len ? c->min_len : a;

	return ex->start % a == 0 && ex->len % a == 0 && ex->len >= min &&
	       (!c->max_len || ex->len <= c->max_len);
}

static struct mb_constraint cons(uint32_t min, uint32_t align, uint32_t max)
{
	return (struct mb_constraint){ .min_len = min, .align = align, .max_len = max };
}

/* Every geometry, fresh and then fragmented at random: each extent satisfies
 * its constraint, lies on free blocks, and the volume checks clean. */
TEST(constraint_satisfied_exactly)
{
	uint64_t rng = mb_test_seed;

	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_volume *vol = new_volume(&mb_test_geos[gi].geo);
		struct mb_geometry geo;

		ASSERT_TRUE(vol);
		mb_volume_geometry(vol, &geo);
		for (int i = 0; i < 300; i++) {
			uint32_t a = 1u << mb_rand_below(&rng, 7);
			uint32_t min = a * (1 + (uint32_t)mb_rand_below(&rng, 4));

			while (min > geo.blocks_per_group) /* the valid range */
				min = a = a / 2;
			uint32_t max = min * (uint32_t)mb_rand_below(&rng, 3); /* 0: none */
			struct mb_constraint c = cons(min, a, max);
			struct mb_request rq = { .goal = MB_GOAL_NONE,
						 .len = min + (uint32_t)mb_rand_below(&rng, 300) };
			struct mb_extent ex;
			uint64_t free = mb_free_blocks(vol);

			if (mb_rand_below(&rng, 2))
				rq.goal = geo.first_data_block +
					  mb_rand_below(&rng, geo.blocks_count - geo.first_data_block);
			int err = mb_alloc_constrained(vol, &rq, &c, &ex);

			if (err == -ENOSPC)
				break;
			ASSERT_EQ_INT(err, 0);
			ASSERT_TRUE(satisfies(&ex, &c));
			ASSERT_TRUE(ex.len <= rq.len);
			ASSERT_EQ_U64(mb_free_blocks(vol), free - ex.len);
			ASSERT_EQ_INT(mb_allocated_blocks(vol, ex.start, ex.len), (int64_t)ex.len);
			/* free half of them again: holes of every shape */
			if (i % 2)
				ASSERT_EQ_INT(mb_free(vol, ex.start + ex.len / 2, ex.len - ex.len / 2), 0);
		}
		ASSERT_CHECK_CLEAN(vol);
		mb_volume_destroy(vol);
	}
}

/*
 * Every group holds free runs of 15 blocks starting at 16k + 1: plenty of
 * free space, no aligned run of 16.  Aligned requests get -ENOSPC and the
 * query says 0; unaligned ones of 15 succeed.  Old code (no constraint
 * call): not expressible; the point is ENOSPC with 1800+ blocks free.
 */
static void crumble(struct mb_volume *vol, uint32_t period, uint32_t run)
{
	fill(vol);
	for (uint64_t b = 16; b + period < geo16.blocks_count; b += period)
		if (b % 256 >= 2 && b % 256 + 1 + run <= 256)
			mb_free(vol, b + 1, run);
}

/* Frees the used blocks of [start, start + len): crumbs join into one run. */
static void join(struct mb_volume *vol, uint64_t start, uint64_t len)
{
	for (uint64_t b = start; b < start + len; b++)
		if (mb_allocated_blocks(vol, b, 1) == 1)
			mb_free(vol, b, 1);
}

TEST(enospc_when_no_aligned_run)
{
	struct mb_volume *vol = new_volume(&geo16);
	struct mb_constraint c16 = cons(16, 16, 0), c15 = cons(15, 0, 0);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 64 };
	struct mb_extent ex;
	uint64_t start = 0;

	ASSERT_TRUE(vol);
	crumble(vol, 16, 15);
	uint64_t free = mb_free_blocks(vol);

	ASSERT_TRUE(free > 1800);
	ASSERT_EQ_INT(mb_largest_extent(vol, &c16, NULL), 0);
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c16, &ex), -ENOSPC);
	struct mb_constraint a8 = cons(0, 8, 0); /* 8 aligned: yes, inside 16k+1..16k+15 */

	ASSERT_EQ_INT(mb_largest_extent(vol, &a8, &start), 8);
	ASSERT_EQ_U64(start % 8, 0);
	ASSERT_EQ_INT(mb_largest_extent(vol, &c15, NULL), 15);
	ASSERT_EQ_U64(mb_free_blocks(vol), free);
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c15, &ex), 0);
	ASSERT_EQ_U64(ex.len, 15);
	struct mb_extent v[4];

	rq.len = 32;
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &c16, 0, v, 4), -ENOSPC);
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &c16, MB_VEC_ALL, v, 4), -ENOSPC);
	ASSERT_EQ_U64(mb_free_blocks(vol), free - 15);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* The opposite: the same crumbs, and one aligned run of 64 in the last
 * group, far from the goal and from the home group. */
TEST(one_aligned_run_far_away)
{
	struct mb_volume *vol = new_volume(&geo16);
	struct mb_constraint c = cons(64, 64, 0);
	struct mb_request rq = { .goal = 10, .len = 64 };
	struct mb_extent ex;
	uint64_t start = 0;

	ASSERT_TRUE(vol);
	crumble(vol, 16, 15);
	join(vol, 15 * 256 + 128, 64); /* free: [15 * 256 + 113, 15 * 256 + 208) */
	ASSERT_EQ_INT(mb_largest_extent(vol, &c, &start), 64);
	ASSERT_EQ_U64(start, 15 * 256 + 128);
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), 0);
	ASSERT_EQ_U64(ex.start, 15 * 256 + 128);
	ASSERT_EQ_U64(ex.len, 64);
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), -ENOSPC);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* Alignment is on volume block numbers, also when group 0 starts at 1. */
TEST(alignment_is_absolute)
{
	struct mb_geometry g = geo16;
	struct mb_constraint c = cons(32, 32, 32);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 100 };
	struct mb_extent ex;

	g.first_data_block = 1;
	g.blocks_count += 1;
	struct mb_volume *vol = new_volume(&g);

	ASSERT_TRUE(vol);
	for (int i = 0; i < 50; i++) {
		ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), 0);
		ASSERT_EQ_U64(ex.start % 32, 0);
		ASSERT_EQ_U64(ex.len, 32);
	}
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* The longest piece, capped by len, max_len and a group; min respected. */
TEST(longest_up_to_len_and_max)
{
	struct mb_volume *vol = new_volume(&geo16);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1000 };
	struct mb_extent ex;
	struct mb_constraint c = cons(4, 4, 0);

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), 0);
	ASSERT_EQ_U64(ex.len, 252); /* a group: 256 - 2 metadata, aligned down to 4 */
	c.max_len = 40;
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), 0);
	ASSERT_EQ_U64(ex.len, 40);
	rq.len = 30; /* rounded down to 28 */
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), 0);
	ASSERT_EQ_U64(ex.len, 28);
	mb_volume_destroy(vol);
	vol = new_volume(&geo16);
	crumble(vol, 16, 12); /* [16k + 1, 16k + 13): 4-aligned, [16k + 4, 16k + 12) */
	c = cons(8, 4, 0);
	rq.len = 64;
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), 0);
	ASSERT_EQ_U64(ex.len, 8);
	c = cons(12, 4, 0);
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), -ENOSPC);
	mb_volume_destroy(vol);
}

/*
 * Group choice does not grow with the volume: on 65536 groups, pieces of a
 * whole group's worth are found in the goal group or the next one.  Before
 * the pass stopped at the longest piece a group can hold, every call looked
 * at every group for a piece of 32768 that no group has.
 */
TEST(groups_visited_not_linear)
{
	static const struct mb_geometry big = { .block_size = 4096, .blocks_count = 65536ULL * 32768,
						 .reserved_per_group = 1 };
	struct mb_volume *vol = new_volume(&big);
	struct mb_constraint c = cons(64, 64, 0);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 40000 };
	struct mb_extent ex, v[8];
	struct mb_stats st;

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_stats", 1), 0);
	for (int i = 0; i < 50; i++) {
		ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), 0);
		ASSERT_EQ_U64(ex.len, 32704);
	}
	rq.len = 8 * 32704;
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &c, MB_VEC_ALL, v, 8), 8);
	ASSERT_EQ_INT(mb_largest_extent(vol, &c, NULL), 32704);
	mb_stats_get(vol, &st);
	ASSERT_LE_U64(st.groups_scanned, 3 * 59);
	mb_volume_destroy(vol);
}

/* TRY_GOAL takes the aligned goal; GOAL_ONLY only there, aligned goals only. */
TEST(goal_hints)
{
	struct mb_volume *vol = new_volume(&geo16);
	struct mb_constraint c = cons(16, 16, 0);
	struct mb_request rq = { .goal = 5 * 256 + 64, .len = 16, .flags = MB_HINT_TRY_GOAL };
	struct mb_extent ex;

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), 0);
	ASSERT_EQ_U64(ex.start, 5 * 256 + 64);
	rq.flags = MB_HINT_GOAL_ONLY;
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), -ENOSPC); /* taken */
	rq.goal += 16;
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), 0);
	ASSERT_EQ_U64(ex.start, 5 * 256 + 80);
	rq.goal += 1;
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), -EINVAL);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* ------------------------------------------------------------------------ */
/* Held space is reclaimed before ENOSPC                                     */
/* ------------------------------------------------------------------------ */

/* The only aligned run sits in a file's inode preallocation. */
TEST(reclaims_preallocation)
{
	struct mb_volume *vol = new_volume(&geo16);
	struct mb_file *f;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };
	struct mb_extent ex;
	struct mb_constraint c = cons(32, 32, 0);

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_file_open(vol, 1, &f), 0);
	crumble(vol, 16, 15);
	join(vol, 7 * 256 + 64, 64); /* the only run longer than 15: 95 blocks */
	ASSERT_EQ_INT(mb_largest_extent(vol, &c, NULL), 64);
	/* a large file's first 4 blocks: its window preallocates that run */
	rq.file = f;
	rq.goal = 7 * 256 + 64;
	rq.len = 4;
	rq.flags = MB_HINT_TRY_GOAL;
	mb_file_set_size(f, 1000);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_EQ_INT(mb_largest_extent(vol, &c, NULL), 0); /* the rest is in the PA */
	rq = (struct mb_request){ .goal = MB_GOAL_NONE, .len = 32 };
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), 0);
	ASSERT_EQ_U64(ex.start % 32, 0);
	ASSERT_TRUE(ex.start >= 7 * 256 + 64 && ex.start < 7 * 256 + 144);
	ASSERT_CHECK_CLEAN(vol);
	mb_file_close(f);
	mb_volume_destroy(vol);
}

/* The only aligned run was freed and waits for its commit. */
TEST(reclaims_pending_frees)
{
	static const struct mb_open_opts no_thread = { .commit_interval_s = 0 };
	struct mb_geometry geo = geo16;
	struct mb_dev *dev = NULL;
	struct mb_volume *vol = NULL;
	struct mb_extent ex, v[2];
	struct mb_constraint c = cons(64, 64, 0);

	geo.reserved_per_group = 24;
	ASSERT_EQ_INT(mb_dev_open_memory(NULL, geo.blocks_count * geo.block_size, false, &dev), 0);
	ASSERT_EQ_INT(mb_volume_format_dev(dev, &geo, NULL), 0);
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0);
	fill(vol);
	ASSERT_EQ_INT(mb_commit(vol), 0);
	ASSERT_EQ_INT(mb_free(vol, 3 * 256 + 64, 64), 0);
	ASSERT_EQ_INT(mb_free(vol, 9 * 256 + 128, 64), 0);
	ASSERT_EQ_INT(mb_largest_extent(vol, &c, NULL), 0); /* pending */
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 64 };

	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &c, &ex), 0);
	ASSERT_EQ_U64(ex.len, 64);
	ASSERT_EQ_INT(mb_free(vol, ex.start, 64), 0);
	rq.len = 128; /* both runs, all or nothing: needs the commit again */
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &c, MB_VEC_ALL, v, 2), 2);
	ASSERT_EQ_U64(v[0].len + v[1].len, 128);
	ASSERT_EQ_INT(mb_check(vol, NULL, 0), 0);
	mb_volume_destroy(vol);
}

/* The only aligned run is under a trim callback: the allocation sleeps until
 * the callback returns, then takes it. */
struct trimwait {
	struct mb_volume *vol;
	struct mb_park in_discard; /* the trim thread, in its discard callback */
	struct mb_park asleep;     /* marked when the allocation sleeps, ended when it returns */
	int err;
	struct mb_extent ex;
};

static int trim_park(uint64_t start, uint64_t len, void *arg)
{
	struct trimwait *t = arg;

	(void)start;
	(void)len;
	mb_park_here(&t->in_discard);
	return 0;
}

static void *trim_thread(void *arg)
{
	struct trimwait *t = arg;

	mb_trim(t->vol, 11 * 256, 256, 64, trim_park, t);
	return NULL;
}

static void *cons_thread(void *arg)
{
	struct trimwait *t = arg;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 64 };
	struct mb_constraint c = cons(64, 64, 0);

	t->err = mb_alloc_constrained(t->vol, &rq, &c, &t->ex);
	mb_park_end(&t->asleep); /* it never slept: the assert below says so */
	return NULL;
}

static void trim_hook(void *arg, int id, uint32_t group, int cr)
{
	struct trimwait *t = arg;

	(void)group;
	(void)cr;
	if (id == MB_HOOK_SPACE_WAIT)
		mb_park_mark(&t->asleep); /* the event lock is held: never block */
}

TEST(waits_for_trim_in_flight)
{
	struct trimwait t = { 0 };
	pthread_t tt, ct;

	ASSERT_TRUE((t.vol = new_volume(&geo16)) != NULL);
	crumble(t.vol, 16, 15);
	join(t.vol, 11 * 256 + 64, 64); /* the only run of 64 or more */
	mb_park_init(&t.in_discard);
	mb_park_init(&t.asleep);
	mb_hook_set(t.vol, trim_hook, &t);
	pthread_create(&tt, NULL, trim_thread, &t);
	mb_park_wait_parked(&t.in_discard);
	pthread_create(&ct, NULL, cons_thread, &t);
	mb_park_wait_parked(&t.asleep); /* asleep, or returned */
	mb_park_release(&t.in_discard);
	pthread_join(tt, NULL);
	pthread_join(ct, NULL);
	mb_hook_set(t.vol, NULL, NULL);
	ASSERT_EQ_INT(t.err, 0);
	ASSERT_EQ_U64(t.ex.start, 11 * 256 + 64);
	ASSERT_EQ_INT(mb_check(t.vol, NULL, 0), 0);
	mb_park_destroy(&t.in_discard);
	mb_park_destroy(&t.asleep);
	mb_volume_destroy(t.vol);
}

/* ------------------------------------------------------------------------ */
/* Vectors                                                                   */
/* ------------------------------------------------------------------------ */

TEST(vec_contiguous_first)
{
	struct mb_volume *vol = new_volume(&geo16);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .logical = 100, .len = 200 };
	struct mb_extent v[8];

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, NULL, 0, v, 8), 1);
	ASSERT_EQ_U64(v[0].len, 200);
	ASSERT_EQ_U64(v[0].logical, 100);
	/* more than a group: continues across the group boundary */
	rq.len = 600;
	rq.logical = 300;
	int n = mb_alloc_vec(vol, &rq, NULL, MB_VEC_ALL, v, 8);

	ASSERT_TRUE(n >= 3 && n <= 4);
	uint64_t sum = 0;

	for (int i = 0; i < n; i++) {
		ASSERT_EQ_U64(v[i].logical, 300 + sum);
		sum += v[i].len;
		if (i)
			ASSERT_TRUE(v[i].start == v[i - 1].start + v[i - 1].len ||
				    v[i].start == v[i - 1].start + v[i - 1].len + 2); /* metadata */
	}
	ASSERT_EQ_U64(sum, 600);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* All-or-nothing: exactly len, or ENOSPC with nothing kept; the n limit. */
TEST(vec_all_or_nothing)
{
	struct mb_volume *vol = new_volume(&geo16);
	struct mb_constraint c = cons(8, 8, 0);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 0 };
	struct mb_extent v[64];

	ASSERT_TRUE(vol);
	crumble(vol, 32, 8); /* 8-runs at 32k+1: no 8-aligned run */
	for (uint64_t g = 0; g < 4; g++) /* four aligned 16-runs */
		ASSERT_EQ_INT(mb_free(vol, g * 256 + 128, 16), 0);
	uint64_t free = mb_free_blocks(vol);

	rq.len = 64;
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &c, MB_VEC_ALL, v, 4), 4);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ_U64(v[i].len, 16);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ_INT(mb_free(vol, v[i].start, v[i].len), 0);
	/* 64 in 3 extents: impossible, and nothing stays */
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &c, MB_VEC_ALL, v, 3), -ENOSPC);
	ASSERT_EQ_U64(mb_free_blocks(vol), free);
	rq.len = 72; /* more than the aligned space */
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &c, MB_VEC_ALL, v, 64), -ENOSPC);
	ASSERT_EQ_U64(mb_free_blocks(vol), free);
	ASSERT_CHECK_CLEAN(vol);
	/* without ALL: what there is */
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &c, 0, v, 64), 4);
	ASSERT_EQ_U64(mb_free_blocks(vol), free - 64);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* A run of 16 and one of 8, min 8, 20 in 2 extents: the last extent may be
 * shorter than min when it completes the vector: 16 + 4. */
TEST(vec_last_extent_completes)
{
	struct mb_volume *vol = new_volume(&geo16);
	struct mb_constraint c = cons(8, 4, 0);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 20 };
	struct mb_extent v[2];

	ASSERT_TRUE(vol);
	fill(vol);
	ASSERT_EQ_INT(mb_free(vol, 512 + 64, 16), 0);
	ASSERT_EQ_INT(mb_free(vol, 1024 + 64, 8), 0);
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &c, MB_VEC_ALL, v, 2), 2);
	ASSERT_EQ_U64(v[0].len, 16);
	ASSERT_EQ_U64(v[1].len, 4);
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &c, MB_VEC_ALL, v, 2), -ENOSPC);
	ASSERT_EQ_U64(mb_free_blocks(vol), 4);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/*
 * A plain vector whose claim was cut (halving: 20 did not fit, 10 did)
 * gathers only what it claimed, but its last extent may be shorter than
 * min only when it completes req->len: free runs of 6, min 6 align 2, 20
 * asked -> one extent of 6, never 6 + 4 (test_constrain_model's "constraint
 * not satisfied (1696, 4)": a claim cut under contention near full).
 */
TEST(vec_cut_claim_keeps_min)
{
	struct mb_volume *vol = new_volume(&geo16);
	struct mb_constraint c = cons(6, 2, 12);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 20, .flags = MB_HINT_USE_RESERVED };
	struct mb_extent v[4];

	ASSERT_TRUE(vol);
	fill(vol);
	for (uint64_t g = 2; g < 5; g++) /* 18 free: a claim of 20 is cut to 10 */
		ASSERT_EQ_INT(mb_free(vol, g * 256 + 64, 6), 0);
	int n = mb_alloc_vec(vol, &rq, &c, 0, v, 4);

	ASSERT_TRUE(n >= 1);
	for (int i = 0; i < n; i++)
		ASSERT_TRUE(satisfies(&v[i], &c));
	ASSERT_EQ_INT(n, 1);
	ASSERT_EQ_U64(mb_free_blocks(vol), 12);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* Reservations: a plain vector cannot take reserved blocks; a delalloc one
 * places them and the reservation falls by what it placed. */
TEST(vec_and_reservations)
{
	struct mb_volume *vol = new_volume(&geo16);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 512 };
	struct mb_extent v[8];
	struct mb_statfs st;

	ASSERT_TRUE(vol);
	uint64_t free = mb_free_blocks(vol);

	ASSERT_EQ_INT(mb_reserve(vol, free - 300, 0), 0);
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, NULL, MB_VEC_ALL, v, 8), -ENOSPC);
	ASSERT_EQ_U64(mb_free_blocks(vol), free);
	int n = mb_alloc_vec(vol, &rq, NULL, 0, v, 8); /* partial: what is unclaimed */

	ASSERT_TRUE(n > 0);
	uint64_t sum = 0;

	for (int i = 0; i < n; i++)
		sum += v[i].len;
	ASSERT_TRUE(sum <= 300 && sum >= 256);
	rq.flags = MB_HINT_DELALLOC_RESERVED;
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, NULL, MB_VEC_ALL, v, 8) > 0, 1);
	ASSERT_EQ_INT(mb_statfs(vol, &st), 0);
	ASSERT_EQ_U64(st.reserved, free - 300 - 512);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* ------------------------------------------------------------------------ */
/* Unconstrained = mb_alloc; bad arguments                                   */
/* ------------------------------------------------------------------------ */

TEST(unconstrained_is_mb_alloc)
{
	struct mb_volume *a = new_volume(&mb_test_geos[1].geo);
	struct mb_volume *b = new_volume(&mb_test_geos[1].geo);
	struct mb_file *fa, *fb;
	struct mb_constraint zero = { 0 };
	uint64_t rng = mb_test_seed;

	cpu_set_t one;

	/* both volumes' locality groups by the same CPU slot */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	ASSERT_TRUE(a && b);
	ASSERT_EQ_INT(mb_file_open(a, 12, &fa), 0);
	ASSERT_EQ_INT(mb_file_open(b, 12, &fb), 0);
	for (int i = 0; i < 2000; i++) {
		uint32_t len = 1 + (uint32_t)mb_rand_below(&rng, 100);
		bool file = mb_rand_below(&rng, 2);
		struct mb_request ra = { .file = file ? fa : NULL, .logical = (uint64_t)i * 100,
					 .goal = MB_GOAL_NONE, .len = len };
		struct mb_request rb = ra;
		struct mb_extent ea, eb;

		rb.file = file ? fb : NULL;
		int e1 = mb_alloc(a, &ra, &ea);
		int e2 = mb_alloc_constrained(b, &rb, i % 2 ? &zero : NULL, &eb);

		ASSERT_EQ_INT(e1, e2);
		if (e1)
			break;
		ASSERT_EQ_U64(ea.start, eb.start);
		ASSERT_EQ_U64(ea.len, eb.len);
		if (mb_rand_below(&rng, 3) == 0) {
			ASSERT_EQ_INT(mb_free(a, ea.start, ea.len), 0);
			ASSERT_EQ_INT(mb_free(b, eb.start, eb.len), 0);
		}
	}
	mb_volume_destroy(a);
	mb_volume_destroy(b);
}

TEST(bad_arguments_change_nothing)
{
	struct mb_volume *vol = new_volume(&geo16);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 64 };
	struct mb_extent ex = { 7, 7, 7 }, v[4];
	static const struct mb_constraint bad[] = {
		{ .align = 3 },                      /* not a power of two */
		{ .align = 512 },                    /* above a group */
		{ .min_len = 257 },                  /* above a group */
		{ .min_len = 12, .align = 8 },       /* min not a multiple */
		{ .max_len = 12, .align = 8 },       /* max not a multiple */
		{ .min_len = 16, .max_len = 8 },     /* min > max */
		{ .min_len = 1, .flags = 1 },        /* reserved flags */
	};
	struct mb_constraint ok = cons(8, 8, 0);

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &ok, &ex), 0); /* some state */
	uint64_t free = mb_free_blocks(vol);
	struct mb_statfs before, after;

	ASSERT_EQ_INT(mb_statfs(vol, &before), 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &bad[i], &ex), -EINVAL);
		ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &bad[i], 0, v, 4), -EINVAL);
		ASSERT_EQ_INT(mb_largest_extent(vol, &bad[i], NULL), -EINVAL);
	}
	ASSERT_EQ_INT(mb_alloc_constrained(NULL, &rq, &ok, &ex), -EINVAL);
	ASSERT_EQ_INT(mb_alloc_constrained(vol, NULL, &ok, &ex), -EINVAL);
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &rq, &ok, NULL), -EINVAL);
	ASSERT_EQ_INT(mb_largest_extent(NULL, &ok, NULL), -EINVAL);
	ASSERT_EQ_INT(mb_alloc_vec(NULL, &rq, &ok, 0, v, 4), -EINVAL);
	ASSERT_EQ_INT(mb_alloc_vec(vol, NULL, &ok, 0, v, 4), -EINVAL);
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &ok, 0, NULL, 4), -EINVAL);
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &ok, 0, v, 0), -EINVAL);     /* n = 0 */
	ASSERT_EQ_INT(mb_alloc_vec(vol, &rq, &ok, 0x2, v, 4), -EINVAL);   /* vflags */
	struct mb_request r2 = rq;

	r2.len = 4; /* below min */
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &r2, &ok, &ex), -EINVAL);
	ASSERT_EQ_INT(mb_alloc_vec(vol, &r2, &ok, 0, v, 4), -EINVAL);
	r2.len = 12; /* a vector's len must be a multiple of align */
	ASSERT_EQ_INT(mb_alloc_vec(vol, &r2, &ok, 0, v, 4), -EINVAL);
	r2.len = 0;
	ASSERT_EQ_INT(mb_alloc_vec(vol, &r2, &ok, 0, v, 4), -EINVAL);
	r2 = rq;
	r2.logical = MB_LOGICAL_LIMIT - 8; /* logical + len wraps the limit */
	ASSERT_EQ_INT(mb_alloc_vec(vol, &r2, &ok, 0, v, 4), -EINVAL);
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &r2, &ok, &ex), -EINVAL);
	r2 = rq;
	r2.goal = geo16.blocks_count;
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &r2, &ok, &ex), -EINVAL);
	r2 = rq;
	r2.flags = 0x80000000u;
	ASSERT_EQ_INT(mb_alloc_vec(vol, &r2, &ok, 0, v, 4), -EINVAL);
	r2 = rq;
	r2.flags = MB_HINT_GOAL_ONLY;
	r2.goal = 300;
	ASSERT_EQ_INT(mb_alloc_vec(vol, &r2, &ok, 0, v, 4), -EINVAL);
	r2.goal = 301; /* unaligned goal with GOAL_ONLY */
	ASSERT_EQ_INT(mb_alloc_constrained(vol, &r2, &ok, &ex), -EINVAL);
	ASSERT_EQ_U64(mb_free_blocks(vol), free);
	ASSERT_EQ_INT(mb_statfs(vol, &after), 0);
	ASSERT_TRUE(memcmp(&before, &after, sizeof(before)) == 0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* ------------------------------------------------------------------------ */
/* The ENOSPC decision races a free                                          */
/* ------------------------------------------------------------------------ */

struct decide {
	struct mb_volume *vol;
	pthread_t a;
	struct mb_park park;
	int err;
	struct mb_extent ex;
};

/* Parks A once, after its pass found nothing and before it decides. */
static void decide_hook(void *arg, int id, uint32_t group, int cr)
{
	struct decide *t = arg;

	(void)group;
	(void)cr;
	if (id == MB_HOOK_CONS_FAILED && pthread_equal(pthread_self(), t->a))
		mb_park_here(&t->park);
}

static void *decide_a(void *arg)
{
	struct decide *t = arg;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 32 };
	struct mb_constraint c = cons(32, 32, 0);

	t->err = mb_alloc_constrained(t->vol, &rq, &c, &t->ex);
	return NULL;
}

/*
 * A searches for an aligned 32 on a crumbled volume and finds none; parked
 * before its decision, B frees an aligned run in a group A already passed.
 * A must see the buddy moved and find it.  Two checks in
 * mb_cons_should_retry catch it, each alone: the seq comparison and the
 * sweep of a round that took nothing (mb_cons_sweep).  With both removed,
 * A answers -ENOSPC with the run free.
 */
TEST(enospc_decision_sees_a_free_behind_the_pass)
{
	struct decide t = { 0 };

	ASSERT_TRUE((t.vol = new_volume(&geo16)) != NULL);
	crumble(t.vol, 16, 15);
	mb_park_init(&t.park);
	mb_hook_set(t.vol, decide_hook, &t);
	pthread_create(&t.a, NULL, decide_a, &t);
	mb_park_wait_parked(&t.park);
	join(t.vol, 2 * 256 + 96, 32); /* B: [2 * 256 + 81, 2 * 256 + 128) */
	mb_park_release(&t.park);
	pthread_join(t.a, NULL);
	mb_hook_set(t.vol, NULL, NULL);
	ASSERT_EQ_INT(t.err, 0);
	ASSERT_EQ_U64(t.ex.start, 2 * 256 + 96);
	ASSERT_EQ_INT(mb_check(t.vol, NULL, 0), 0);
	mb_park_destroy(&t.park);
	mb_volume_destroy(t.vol);
}

/* ------------------------------------------------------------------------ */
/* A group between two largest-order sets while the ENOSPC decision runs     */
/* ------------------------------------------------------------------------ */

/*
 * Group 5 has [32, 128) free: chunks of order 5 and 6.  X takes [64, 96)
 * there, and is parked in the middle of moving the group from
 * largest_set[6] to largest_set[5] (holding its bb_lock, its discard_pa_seq
 * bump already done).  Y asks for 32 aligned blocks: [32, 64) and
 * [96, 128) stay free from start to end, so Y must not answer ENOSPC.
 */
struct move_race {
	struct mb_volume *vol;
	struct mb_park x_moving, y_failed_pass;
	int x_err, y_err;
	struct mb_extent x_ex, y_ex;
};

static _Thread_local char move_role;

static void move_hook(void *arg, int id, uint32_t group, int cr)
{
	struct move_race *t = arg;

	(void)cr;
	if (id == MB_HOOK_SET_MOVING && move_role == 'X' && group == 5)
		mb_park_here(&t->x_moving);
	else if (id == MB_HOOK_CONS_FAILED && move_role == 'Y')
		mb_park_here(&t->y_failed_pass);
}

static void *move_x(void *arg)
{
	struct move_race *t = arg;
	struct mb_constraint c = cons(32, 32, 32);
	struct mb_request rq = { .goal = 5 * 256 + 64, .len = 32, .flags = MB_HINT_GOAL_ONLY };

	move_role = 'X';
	t->x_err = mb_alloc_constrained(t->vol, &rq, &c, &t->x_ex);
	return NULL;
}

static void *move_y(void *arg)
{
	struct move_race *t = arg;
	struct mb_constraint c = cons(32, 32, 32);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 32 };

	move_role = 'Y';
	t->y_err = mb_alloc_constrained(t->vol, &rq, &c, &t->y_ex);
	return NULL;
}

TEST(enospc_decision_sees_a_group_between_sets)
{
	struct move_race t = { 0 };
	pthread_t x, y;

	ASSERT_TRUE((t.vol = new_volume(&geo16)) != NULL);
	fill(t.vol);
	ASSERT_EQ_INT(mb_free(t.vol, 5 * 256 + 32, 96), 0);
	mb_park_init(&t.x_moving);
	mb_park_init(&t.y_failed_pass);
	mb_hook_set(t.vol, move_hook, &t);
	pthread_create(&x, NULL, move_x, &t);
	mb_park_wait_parked(&t.x_moving); /* group 5 in no largest_set, its lock held */
	pthread_create(&y, NULL, move_y, &t);
	mb_park_wait_parked(&t.y_failed_pass); /* Y's pass missed group 5 */
	mb_park_release(&t.x_moving);
	pthread_join(x, NULL);
	mb_park_release(&t.y_failed_pass);
	pthread_join(y, NULL);
	mb_hook_set(t.vol, NULL, NULL);
	ASSERT_EQ_INT(t.x_err, 0);
	ASSERT_EQ_U64(t.x_ex.start, 5 * 256 + 64);
	ASSERT_EQ_INT(t.y_err, 0); /* old code: -ENOSPC with 64 aligned blocks free */
	ASSERT_EQ_U64(mb_block_group(t.vol, t.y_ex.start), 5);
	ASSERT_CHECK_CLEAN(t.vol);
	mb_park_destroy(&t.x_moving);
	mb_park_destroy(&t.y_failed_pass);
	mb_volume_destroy(t.vol);
}

/*
 * An all-or-nothing vector holds what it took until it gives it back.
 * Free: [64, 128) of group 5, and 100 single blocks (no aligned run).  X
 * asks for 96 blocks, aligned 32, in at most 2 extents: it takes the 64,
 * finds no 32 more and is parked before it gives them back (its claim of
 * 96 leaves 68 unclaimed).  Y asks for 32 aligned blocks: its pass finds
 * none, and nothing moved during it -- but X is about to return 64.  Y must
 * wait for X and get 32 of them, not answer ENOSPC.  X is released once Y
 * sleeps (MB_HOOK_SPACE_WAIT) or returned.
 */
struct hold_race {
	struct mb_volume *vol;
	struct mb_park x_short; /* X, before it gives back what it took */
	struct mb_park y_asleep; /* marked when Y sleeps, ended when it returns */
	int x_err, y_err;
	struct mb_extent x_ex[2], y_ex;
};

static _Thread_local char hold_role;

static void hold_hook(void *arg, int id, uint32_t group, int cr)
{
	struct hold_race *t = arg;

	(void)group;
	(void)cr;
	if (id == MB_HOOK_VEC_SHORT && hold_role == 'X')
		mb_park_here(&t->x_short);
	else if (id == MB_HOOK_SPACE_WAIT && hold_role == 'Y')
		mb_park_mark(&t->y_asleep); /* the event lock is held: never block */
}

static void *hold_x(void *arg)
{
	struct hold_race *t = arg;
	struct mb_constraint c = cons(32, 32, 0);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 96 };

	hold_role = 'X';
	t->x_err = mb_alloc_vec(t->vol, &rq, &c, MB_VEC_ALL, t->x_ex, 2);
	return NULL;
}

static void *hold_y(void *arg)
{
	struct hold_race *t = arg;
	struct mb_constraint c = cons(32, 32, 32);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 32 };

	hold_role = 'Y';
	t->y_err = mb_alloc_constrained(t->vol, &rq, &c, &t->y_ex);
	mb_park_end(&t->y_asleep);
	return NULL;
}

TEST(enospc_decision_waits_for_a_vector_that_gives_back)
{
	struct hold_race t = { 0 };
	pthread_t x, y;

	ASSERT_TRUE((t.vol = new_volume(&geo16)) != NULL);
	fill(t.vol);
	ASSERT_EQ_INT(mb_free(t.vol, 5 * 256 + 64, 64), 0);
	for (uint64_t i = 0; i < 50; i++) {
		ASSERT_EQ_INT(mb_free(t.vol, 9 * 256 + 3 + 4 * i, 1), 0);
		ASSERT_EQ_INT(mb_free(t.vol, 10 * 256 + 3 + 4 * i, 1), 0);
	}
	mb_park_init(&t.x_short);
	mb_park_init(&t.y_asleep);
	mb_hook_set(t.vol, hold_hook, &t);
	pthread_create(&x, NULL, hold_x, &t);
	mb_park_wait_parked(&t.x_short);
	pthread_create(&y, NULL, hold_y, &t); /* X holds [64, 128) of group 5 */
	mb_park_wait_parked(&t.y_asleep); /* asleep, or returned */
	mb_park_release(&t.x_short);
	pthread_join(x, NULL);
	pthread_join(y, NULL);
	mb_hook_set(t.vol, NULL, NULL);
	if (t.y_err)
		fprintf(stderr, "Y: %d while X held 64 aligned blocks it gave back (%" PRIu64
				" blocks free now)\n",
			t.y_err, mb_free_blocks(t.vol));
	ASSERT_EQ_INT(t.y_err, 0);
	ASSERT_TRUE(satisfies(&t.y_ex, &(struct mb_constraint){ 32, 32, 32, 0 }));
	ASSERT_EQ_U64(mb_block_group(t.vol, t.y_ex.start), 5);
	ASSERT_EQ_INT(t.x_err, -ENOSPC); /* 32 of the 64 are Y's: no 96 in 2 */
	ASSERT_CHECK_CLEAN(t.vol);
	mb_park_destroy(&t.x_short);
	mb_park_destroy(&t.y_asleep);
	mb_volume_destroy(t.vol);
}
