/* SPDX-License-Identifier: MIT */
/*
 * test_scan_passes.c - each optimized criterion pass is tried when a set
 * of its orders has a member, and serves the request there: alloc.c looks
 * at the set summaries (largest_orders, avg_orders) before calling a pass,
 * to skip the passes a drained volume has nothing for.  A look one order
 * too high would skip a pass that had an answer, and a later criterion
 * would serve instead -- counted in mb_stats' per-criterion hits.
 *
 * The volumes: 32 groups of 1024 blocks (optimized scanning on), every
 * group free only in runs of `run` blocks every `period` blocks, from
 * block 0 of the group (so each run starts aligned to its size's chunk).
 */
#include "harness.h"

#define BPG 1024u
#define NGROUPS 32u

static struct mb_volume *tiled_volume(uint32_t run, uint32_t period)
{
	const struct mb_geometry geo = { 4096, BPG, (uint64_t)NGROUPS * BPG, 0, 0, 0 };
	struct mb_volume *vol;

	if (mb_volume_create(&geo, &vol))
		return NULL;
	for (uint64_t o = 0; o < (uint64_t)NGROUPS * BPG; o += period)
		if (mb_mark_used(vol, o + run, period - run)) {
			mb_volume_destroy(vol);
			return NULL;
		}
	if (mb_tunable_set(vol, "mb_stats", 1)) {
		mb_volume_destroy(vol);
		return NULL;
	}
	return vol;
}

/* The criterion whose pass served the one request since the last reset, or -1. */
static int served_by(struct mb_volume *vol)
{
	struct mb_stats st;
	int cr = -1;

	mb_stats_get(vol, &st);
	for (int i = 0; i < MB_NUM_CRS; i++)
		if (st.cr[i].hits)
			cr = cr < 0 ? i : 99; /* two: not one pass */
	return cr;
}

/*
 * Every group free in runs of run blocks every 32: a request of run blocks
 * with no file gets the first run, aligned to 32, from criterion cr's pass.
 */
static void first_run_served_by(uint32_t run, int cr)
{
	struct mb_volume *vol = tiled_volume(run, 32);
	struct mb_request r = { .goal = MB_GOAL_NONE, .len = run };
	struct mb_extent e;

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_alloc(vol, &r, &e), 0);
	ASSERT_EQ_U64(e.len, run);
	ASSERT_EQ_U64(e.start % 32, 0);
	ASSERT_EQ_INT(served_by(vol), cr);
	mb_volume_destroy(vol);
}

/* Runs of 16, a 16-block request: CR_POWER2_ALIGNED, order 4 exactly. */
TEST(power2_pass_at_the_request_order)
{
	first_run_served_by(16, MB_CR_POWER2_ALIGNED);
}

/* Runs of 12 (average order 3), a 12-block request: CR_GOAL_LEN_FAST. */
TEST(goal_len_fast_pass_at_the_goal_order)
{
	first_run_served_by(12, MB_CR_GOAL_LEN_FAST);
}

/*
 * Runs of 4 (average order 2); a small file's one-block request takes the
 * locality group's 16-block window (mb_group_prealloc 16), which no group
 * holds whole: CR_BEST_AVAIL_LEN trims it to 8 (no set), then to 4 -- the
 * lowest order its trims reach (4 - mb_best_avail_max_trim_order 3 = 1).
 */
TEST(best_avail_pass_at_its_lowest_trim)
{
	struct mb_volume *vol = tiled_volume(4, 8);
	struct mb_file *f;
	struct mb_extent e;
	struct mb_stats st;

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_group_prealloc", 16), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 12, &f), 0);
	struct mb_request r = { .file = f, .logical = 0, .goal = MB_GOAL_NONE, .len = 1 };

	ASSERT_EQ_INT(mb_alloc(vol, &r, &e), 0);
	ASSERT_EQ_U64(e.len, 1);
	ASSERT_EQ_U64(e.start % 8, 0); /* the front of a 4-block run */
	ASSERT_EQ_INT(served_by(vol), MB_CR_BEST_AVAIL_LEN);
	/* the trims walked: only those whose orders' sets have a member
	   (alloc.c skips a trim whose sets are all empty, without its walk);
	   the trim to 8 has no set at order 3 or more and is skipped, the
	   trim to 4 finds a whole run, which the request's block and the
	   group PA share -- 4 blocks found, not the 2 a trim skipped one
	   order too far down would find */
	mb_stats_get(vol, &st);
	ASSERT_EQ_U64(st.cr[MB_CR_BEST_AVAIL_LEN].hits, 1);
	ASSERT_EQ_U64(st.preallocated, 4);
	ASSERT_EQ_U64(st.cr[MB_CR_BEST_AVAIL_LEN].groups_considered, 1);
	mb_file_close(f);
	mb_volume_destroy(vol);
}
