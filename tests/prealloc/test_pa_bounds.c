/* SPDX-License-Identifier: MIT */
/*
 * test_pa_bounds.c - fragmentation and accounting bounds of issue #3
 * that the library once missed; each test says what went wrong and how it
 * was fixed, so a regression names its cause.
 */
#include "pa_util.h"

#include <string.h>

/*
 * Bound: a lone sequential writer on an empty volume ends with <= 2
 * extents, whatever its inode number.  Used to miss it when the file's home
 * group (locality-group PA) was also the group its stream allocation
 * picked: the inode PAs started in a small hole in front of the group PA
 * and grew into it.  Fixed by letting a file that outgrows the locality
 * group keep filling that group PA (alloc.c, mb_group_or_file).
 */
TEST(single_writer_every_ino)
{
	static const struct {
		const char *name;
		struct mb_geometry geo;
		uint64_t blocks;
	} cases[] = {
		{ "4k-8groups", { 4096, 0, 262144, 0, 2, 0 }, 4096 },
		{ "4k-2groups", { 4096, 0, 65536, 0, 2, 0 }, 4096 },
		/* ext4's 1 KiB layout: the last group is one block short, so it is
		   the only group of largest free order 11 and optimized CR0 sends
		   the stream there, into the home group of the writer below */
		{ "1k-short-last", { 1024, 0, 262144, 1, 2, 0 }, 6144 },
	};

	uint64_t overall = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t worst = 0, worst_ino = 0, bad = 0;

		for (uint64_t ino = 1; ino <= 64; ino++) {
			struct mb_volume *vol;
			struct pa_writer w = { 0 };

			ASSERT_EQ_INT(mb_volume_create(&cases[i].geo, &vol), 0);
			ASSERT_EQ_INT(pa_lg_departures(vol), 0); /* continuity */
			ASSERT_EQ_INT(mb_file_open(vol, ino, &w.file), 0);
			while (w.next < cases[i].blocks)
				ASSERT_EQ_INT(pa_write(vol, &w, 1), 0);
			ASSERT_CHECK_CLEAN(vol);
			mb_volume_destroy(vol);
			bad += w.extents > 2;
			if (w.extents > worst) {
				worst = w.extents;
				worst_ino = ino;
			}
		}
		printf("%s: %" PRIu64 " of 64 files over 2 extents, worst %" PRIu64
		       " (ino %" PRIu64 ")\n",
		       cases[i].name, bad, worst, worst_ino);
		overall = worst > overall ? worst : overall;
	}
	ASSERT_LE_U64(overall, 2);
}

/*
 * ext4 counts a new locality-group PA in s_mb_preallocated at its full
 * size (mb_group_prealloc, 512), as it does an inode PA (the whole
 * window).  Here the group PA is counted without the request's own share
 * (511), while inode PAs count the whole window: mb_stats.preallocated
 * mixes two conventions.  (prealloc.c: mb_new_group_pa_locked sets
 * pa_len = found - request; mb_new_preallocation_locked adds pa_len.)
 */
TEST(group_pa_preallocated_stat)
{
	const struct mb_geometry geo = { 4096, 0, 65536, 0, 2, 0 };
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_stats st;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_stats", 1), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 1, &rq.file), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	mb_stats_get(vol, &st);
	printf("first small-file request: preallocated %" PRIu64 "\n", st.preallocated);
	ASSERT_EQ_U64(st.preallocated, 512);
	mb_volume_destroy(vol);
}

/*
 * Bound: 1000 small files written from one thread (pinned to one CPU)
 * without a goal land >= 90% in one or two groups.  Misses it (typically
 * 45-80%, depends on the seed): each time the locality group's PA runs
 * out, its successor is placed in the home group of the file that happens
 * to ask, and the home group is a hash of the inode number (alloc.c,
 * mb_home_group), so consecutive inode numbers scatter over the volume.
 * ext4 maps inode numbers to groups by range: a directory's new files
 * share a group.  With a shared goal the same files pack (test_pa_small_files).
 */
TEST(small_files_packed_no_goal)
{
	for (uint64_t seed = 1; seed <= 8; seed++)
		small_files_packed(UINT64_MAX, seed, "no goal");
}

/*
 * Bound: a file sharing a stream slot starts at the stream's position even
 * when a 512-block hole (order 9) lies behind it.  Misses it: optimized
 * CR_POWER2_ALIGNED scans each order's set over [goal, ngroups) and then
 * wraps to [0, goal) before trying the next order (alloc.c, mb_scan_set
 * called per order from mb_scan_criterion), so a smaller-order group behind
 * the goal beats a larger-order one after it.  ext4 (6.17 xarrays, after
 * the scan-range fix) walks every order over [goal, ngroups) first and
 * wraps once: ext4_mb_scan_groups_p2_aligned's wrap_around label.  The
 * same holds for the CR_GOAL_LEN_FAST and CR_BEST_AVAIL_LEN scans.
 */
TEST(stream_goal_with_small_hole_behind)
{
	stream_scenario(512);
}

/*
 * Bound: 16 interleaved 1-block writers end with <= 12 extents per 16 MiB
 * file.  Used to miss it (24 each): the first mb_stream_req (16) blocks of
 * every file came from the one locality-group PA, which hands out its front
 * block to whichever writer asks next.  Fixed by sending an append that is
 * not right behind the group PA's front to its own inode PA (alloc.c,
 * mb_group_or_file) -- now the mb_lg_continuity departure, off by default
 * (ext4 gives the 24).
 */
TEST(interleaved_writers_whole_file)
{
	const struct mb_geometry geo = { 4096, 0, 262144, 0, 2, 0 };
	struct pa_writer w[16];
	struct mb_volume *vol;
	uint64_t worst = 0, total = 0;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(pa_lg_departures(vol), 0);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 16; i++)
		ASSERT_EQ_INT(mb_file_open(vol, 100 + (uint64_t)i, &w[i].file), 0);
	for (int b = 0; b < 4096; b++)
		for (int i = 0; i < 16; i++)
			ASSERT_EQ_INT(pa_write(vol, &w[i], 1), 0);
	for (int i = 0; i < 16; i++) {
		total += w[i].extents;
		worst = w[i].extents > worst ? w[i].extents : worst;
	}
	printf("16 writers: mean %.2f, worst %" PRIu64 " extents per file\n", total / 16.0,
	       worst);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_LE_U64(worst, 12);
	mb_volume_destroy(vol);
}

