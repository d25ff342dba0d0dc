/* SPDX-License-Identifier: MIT */
/*
 * test_pa_scan.c - optimized scanning finds the one group that can serve a
 * 2^k request among 65536 without walking them; stream allocation makes
 * large files share a goal group that moves forward, while small files go
 * to the locality group.
 */
#include "pa_util.h"

#include "mb_test_int.h"

#define SCAN_GROUPS 65536
#define SCAN_BPG 16

/* Groups looked at (under the lock or not) by all criteria. */
static uint64_t considered(const struct mb_stats *st)
{
	uint64_t n = 0;

	for (int cr = 0; cr < MB_NUM_CRS; cr++)
		n += st->cr[cr].groups_considered;
	return n;
}

/*
 * 65536 groups of 16 blocks: every group keeps two lone free blocks, only
 * the last one has a free aligned 8-block chunk.  An 8-block request must
 * go there; with optimized scanning after examining O(1) groups.
 */
TEST(optimized_scan_finds_the_one_group)
{
	const struct mb_geometry geo = { 1024, SCAN_BPG, (uint64_t)SCAN_GROUPS * SCAN_BPG, 0, 0, 0 };
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 8 };
	const uint64_t last = (uint64_t)(SCAN_GROUPS - 1) * SCAN_BPG;
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_stats st;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_U64(mb_groups_count(vol), SCAN_GROUPS);
	for (uint64_t g = 0; g < SCAN_GROUPS; g++) {
		struct mb_request fill = { .goal = g * SCAN_BPG, .len = SCAN_BPG,
					   .flags = MB_HINT_GOAL_ONLY | MB_HINT_NOPREALLOC };

		ASSERT_EQ_INT(mb_alloc(vol, &fill, &ex), 0);
		ASSERT_EQ_U64(ex.len, SCAN_BPG);
		if (g + 1 < SCAN_GROUPS) { /* two free blocks that are not buddies */
			ASSERT_EQ_INT(mb_free(vol, g * SCAN_BPG + 1, 1), 0);
			ASSERT_EQ_INT(mb_free(vol, g * SCAN_BPG + 4, 1), 0);
		}
	}
	ASSERT_EQ_INT(mb_free(vol, last + 8, 8), 0);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_stats", 1), 0);

	uint64_t scanned[2], seen[2];

	for (int opt = 1; opt >= 0; opt--) {
		ASSERT_EQ_INT(mb_tunable_set(vol, "mb_optimize_scan", (uint64_t)opt), 0);
		mb_stats_reset(vol);
		ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
		mb_stats_get(vol, &st);
		ASSERT_EQ_U64(ex.start, last + 8);
		ASSERT_EQ_U64(ex.len, 8);
		scanned[opt] = st.groups_scanned;
		seen[opt] = considered(&st);
		printf("mb_optimize_scan=%d: groups_scanned %" PRIu64 ", groups considered %" PRIu64
		       "\n",
		       opt, scanned[opt], seen[opt]);
		ASSERT_EQ_INT(mb_free(vol, ex.start, ex.len), 0);
	}
	ASSERT_LE_U64(scanned[1], 4);
	ASSERT_LE_U64(seen[1], 4);
	/* the scenario discriminates: a linear scan walks the volume */
	ASSERT_TRUE(seen[0] >= SCAN_GROUPS / 2);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/*
 * Two large files whose inode numbers share a stream goal: the second
 * starts where the first one's allocations have got to, not in the
 * group-sized hole the first left behind at the start of the volume; small
 * files in between use the locality group and do not move the stream.
 * (With a smaller hole: test_pa_known_fail.c.)
 */
TEST(stream_goal_shared_and_small_files_apart)
{
	stream_scenario(2048);
}

/*
 * A stream's new window (alloc.c's window route, which hashes the
 * stream's slot once for its goal and its store) moves its own slot's
 * goal and no other: file 1's window starts at its slot's goal, group 5,
 * and leaves slot 0's, group 9, alone.  Needs two slots (two CPUs).
 */
TEST(stream_window_moves_its_own_slot)
{
	const struct mb_geometry geo = { 4096, 0, 16 * 32768, 0, 2, 0 };
	struct mb_request rq = { .logical = 0, .len = 64, .goal = MB_GOAL_NONE };
	struct mb_volume *vol;
	struct mb_extent ex;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	if (vol->nr_stream_goals < 2) {
		mb_volume_destroy(vol);
		return; /* one slot: every file's */
	}
	ASSERT_EQ_INT(mb_file_open(vol, 1, &rq.file), 0);
	ASSERT_EQ_INT(mb_stream_goal_set(vol, 0, 9), 0);
	ASSERT_EQ_INT(mb_stream_goal_set(vol, 1, 5), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_EQ_U64(ex.start / 32768, 5);
	ASSERT_EQ_U64(atomic_load(&vol->stream_goals[1]), 5);
	ASSERT_EQ_U64(atomic_load(&vol->stream_goals[0]), 9);
	mb_file_close(rq.file);
	mb_volume_destroy(vol);
}
