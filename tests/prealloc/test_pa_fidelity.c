/* SPDX-License-Identifier: MIT */
/*
 * test_pa_fidelity.c - issue 11's rules, one case each: the decisions
 * Linux 6.18's mballoc makes, checked on small hand-made layouts (the
 * real traces are replayed by tests/replay).
 */
#include "pa_util.h"

/* A 4 KiB, 1-group volume with mb_stats on. */
static struct mb_volume *fid_volume(void)
{
	const struct mb_geometry geo = { 4096, 0, 32768, 0, 2, 0 };
	struct mb_volume *vol = NULL;

	if (mb_volume_create(&geo, &vol) || mb_tunable_set(vol, "mb_stats", 1)) {
		mb_volume_destroy(vol);
		return NULL;
	}
	return vol;
}

/*
 * One request of len blocks at logical 0 for a file of size_blocks, open
 * for write or not.  Returns the blocks it preallocated (mb_stats).
 */
static uint64_t fid_one_request(struct mb_volume *vol, uint64_t ino, uint64_t size_blocks,
				uint32_t len, bool open, struct mb_extent *ex)
{
	struct mb_request rq = { .logical = 0, .len = len, .goal = MB_GOAL_NONE };
	struct mb_stats a, b;
	struct mb_file *f;

	if (mb_file_open(vol, ino, &f))
		return UINT64_MAX;
	mb_file_set_size(f, size_blocks);
	mb_file_set_open_for_write(f, open);
	rq.file = f;
	mb_stats_get(vol, &a);
	if (mb_alloc(vol, &rq, ex))
		return UINT64_MAX;
	mb_stats_get(vol, &b);
	return b.preallocated - a.preallocated;
}

/*
 * Rule 1 (ext4_mb_group_or_file): writeback of a 29-block file after its
 * last close is the file's last request -- it ends at i_size and nobody
 * holds the file open for write.  ext4 gives it no preallocation: not
 * normalized to 32, no inode PA, no stream goal.  Open, it gets the usual
 * 32-block window.
 */
TEST(rule1_closed_file_at_isize_gets_no_pa)
{
	struct mb_volume *vol = fid_volume();
	struct mb_extent ex;

	ASSERT_TRUE(vol != NULL);
	ASSERT_EQ_U64(fid_one_request(vol, 12, 29, 29, false, &ex), 0);
	ASSERT_EQ_U64(ex.len, 29);
	ASSERT_EQ_U64(mb_discard_all(vol), 0);
	ASSERT_EQ_U64(fid_one_request(vol, 13, 29, 29, true, &ex), 32);
	ASSERT_EQ_U64(ex.len, 29);
	ASSERT_EQ_U64(mb_discard_all(vol), 3);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/*
 * Rule 1, the other halves: a closed file whose request ends before i_size
 * (more of it will be written back) keeps its inode PA, and a closed small
 * file (<= mb_stream_req blocks) still shares the locality group's PA:
 * 6.x only refuses closed files the *inode* PA.
 */
TEST(rule1_closed_file_other_cases)
{
	struct mb_volume *vol = fid_volume();
	struct mb_extent ex;

	ASSERT_TRUE(vol != NULL);
	ASSERT_EQ_U64(fid_one_request(vol, 12, 64, 29, false, &ex), 64);
	ASSERT_EQ_U64(mb_discard_all(vol), 64 - 29);
	ASSERT_EQ_U64(fid_one_request(vol, 13, 10, 10, false, &ex), 512); /* group PA */
	ASSERT_EQ_U64(mb_discard_all(vol), 512 - 10);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* A file nobody said anything about counts as open (mb_file_open). */
TEST(rule1_default_is_open)
{
	struct mb_volume *vol = fid_volume();
	struct mb_request rq = { .logical = 0, .len = 29, .goal = MB_GOAL_NONE };
	struct mb_extent ex;
	struct mb_file *f;

	ASSERT_TRUE(vol != NULL);
	ASSERT_EQ_INT(mb_file_open(vol, 12, &f), 0);
	mb_file_set_size(f, 29);
	rq.file = f;
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_EQ_U64(mb_file_discard(f), 3);
	mb_volume_destroy(vol);
}

/* One large request (64 blocks) of file ino with a goal in group 2 of a
 * 16-group volume; returns the group it went to. */
static uint64_t fid_stream_group(uint32_t flags, uint64_t ino, bool spread)
{
	const struct mb_geometry geo = { 4096, 0, 16 * 32768, 0, 2, 0 };
	struct mb_request rq = { .logical = 0, .len = 64, .goal = 2 * 32768 + 100, .flags = flags };
	struct mb_volume *vol;
	struct mb_extent ex;
	uint64_t g = UINT64_MAX;

	if (mb_volume_create(&geo, &vol))
		return g;
	if (!mb_tunable_set(vol, "mb_stream_spread", spread) && !mb_file_open(vol, ino, &rq.file) &&
	    !mb_alloc(vol, &rq, &ex))
		g = ex.start / 32768;
	mb_volume_destroy(vol);
	return g;
}

/*
 * Rule 3: fallocate's requests carry NOPREALLOC, yet ext4 still makes a
 * large one a stream allocation: it starts at the stream goal, not at the
 * caller's goal group.  And ext4's stream goals all start at group 0
 * (s_mb_last_groups is zeroed); spreading them is the mb_stream_spread
 * departure.
 */
TEST(rule3_noprealloc_stream_from_group0)
{
	ASSERT_EQ_U64(fid_stream_group(MB_HINT_NOPREALLOC, 1, false), 0);
	ASSERT_EQ_U64(fid_stream_group(0, 1, false), 0);
	ASSERT_EQ_U64(fid_stream_group(MB_HINT_NOPREALLOC, 1, true) == 0, 0); /* spread */
	/* GOAL_ONLY is never a stream: it stays at its goal */
	ASSERT_EQ_U64(fid_stream_group(MB_HINT_NOPREALLOC | MB_HINT_GOAL_ONLY, 1, false), 2);
}

/* mb_stream_goal_set() (the replay's resync of ext4's s_mb_last_groups)
 * moves where the next stream allocation of that slot starts. */
TEST(stream_goal_set)
{
	const struct mb_geometry geo = { 4096, 0, 16 * 32768, 0, 2, 0 };
	struct mb_request rq = { .logical = 0, .len = 64, .goal = MB_GOAL_NONE };
	struct mb_volume *vol;
	struct mb_extent ex;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 7, &rq.file), 0);
	ASSERT_EQ_INT(mb_stream_goal_set(vol, 7, 16), -EINVAL);
	ASSERT_EQ_INT(mb_stream_goal_set(vol, 7, 5), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_EQ_U64(ex.start / 32768, 5);
	mb_volume_destroy(vol);
}

/*
 * Rule 4: ext4's buddy stops at order blocksize_bits + 1 (13 at 4 KiB, 11
 * at 1 KiB), not log2(blocks per group): an empty 32768-block group is 4
 * free chunks of order 13 (mb_groups counts them so).
 */
TEST(rule4_buddy_orders_stop_at_blocksize_bits_plus_1)
{
	static const struct {
		struct mb_geometry geo;
		int max_order;
		uint64_t top_chunks;
	} cases[] = {
		{ { 4096, 0, 2 * 32768, 0, 0, 0 }, 13, 4 },
		{ { 1024, 0, 2 * 8192 + 1, 1, 0, 0 }, 11, 4 },
		{ { 65536, 4096, 2 * 4096, 0, 0, 0 }, 12, 1 }, /* small groups: log2(bpg) */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mb_volume *vol;
		struct mb_group_stat st;

		ASSERT_EQ_INT(mb_volume_create(&cases[i].geo, &vol), 0);
		ASSERT_EQ_INT(mb_max_order(vol), cases[i].max_order);
		ASSERT_EQ_INT(mb_group_stat(vol, 1, &st), 0);
		ASSERT_EQ_U64(st.counters[cases[i].max_order], cases[i].top_chunks);
		mb_volume_destroy(vol);
	}
}

/* A 64-block request (a power of two: CR_POWER2_ALIGNED) aimed at group 0
 * of an empty 8-group volume with the given flex_bg size; data when with a
 * file.  Returns the group it went to. */
static uint64_t fid_flex_group(uint32_t flex_bg, bool data)
{
	const struct mb_geometry geo = { 4096, 0, 8 * 32768, 0, 2, flex_bg };
	struct mb_request rq = { .logical = 0, .len = 64, .goal = 100, .flags = MB_HINT_NOPREALLOC };
	struct mb_volume *vol;
	struct mb_extent ex;
	uint64_t g = UINT64_MAX;

	if (mb_volume_create(&geo, &vol))
		return g;
	if ((!data || !mb_file_open(vol, 3, &rq.file)) && !mb_alloc(vol, &rq, &ex))
		g = ex.start / 32768;
	mb_volume_destroy(vol);
	return g;
}

/*
 * Rule 2 (ext4_mb_good_group, CR_POWER2_ALIGNED): with flex groups of 4 or
 * more groups, a data request never gets the first group of a flex group
 * there -- it holds the flex group's bitmaps and inode tables.  Smaller
 * flex groups, no flex_bg, and metadata are not affected.
 */
TEST(rule2_flex_bg_first_group_skipped_for_data)
{
	ASSERT_EQ_U64(fid_flex_group(16, true), 1);
	ASSERT_EQ_U64(fid_flex_group(4, true), 1);
	ASSERT_EQ_U64(fid_flex_group(2, true), 0);
	ASSERT_EQ_U64(fid_flex_group(0, true), 0);
	ASSERT_EQ_U64(fid_flex_group(16, false), 0);
}

/* One small-file request (the locality group's) of len blocks with a goal. */
static int fid_lg_request(struct mb_volume *vol, uint64_t ino, uint32_t len, uint64_t goal,
			  struct mb_extent *ex)
{
	struct mb_request rq = { .logical = 0, .len = len, .goal = goal };
	struct mb_file *f;
	int err = mb_file_open(vol, ino, &f);

	if (err)
		return err;
	mb_file_set_size(f, len);
	rq.file = f;
	err = mb_alloc(vol, &rq, ex);
	mb_file_close(f);
	return err;
}

/*
 * ext4_mb_use_preallocated: among the locality group's PAs with room for
 * the request, the one nearest the goal, looked for in every bucket from
 * the request's order up -- not the first bucket that has one.  Here a
 * nearly used-up PA in group 0 (4 free: bucket 2) and a fresh one in group
 * 3 (bucket 8); a 3-block request with its goal in group 3 takes the fresh
 * one, a 2-block one with its goal in group 0 the old one.  (Our captures
 * k2-small-nofl and k1-churn-nofl: 52% and 57% exact before, 100% after.)
 */
TEST(lg_pa_nearest_goal_over_all_buckets)
{
	const struct mb_geometry geo = { 4096, 0, 4 * 32768, 0, 0, 0 };
	const uint64_t g3 = 3 * 32768 + 1000;
	struct mb_volume *vol = NULL;
	struct mb_extent ex;
	uint64_t ino = 100, pa1;

	ASSERT_TRUE(pa_pin_one_cpu() >= 0); /* one locality group throughout */
	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	/* The library re-reads the caller's CPU every 64 uses: make it see the
	   pin before the first locality-group request (no PA is made here). */
	for (int i = 0; i < 64; i++) {
		struct mb_request rq = { .len = 1, .goal = 100, .flags = MB_HINT_NOPREALLOC };

		ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
		ASSERT_EQ_INT(mb_free(vol, ex.start, 1), 0);
	}
	ASSERT_EQ_INT(fid_lg_request(vol, ino++, 8, 100, &ex), 0);
	pa1 = ex.start;
	ASSERT_EQ_U64(pa1 / 32768, 0);
	for (int i = 0; i < 50; i++) /* 8 + 500 of the 512-block PA */
		ASSERT_EQ_INT(fid_lg_request(vol, ino++, 10, 100, &ex), 0);
	ASSERT_EQ_U64(ex.start, pa1 + 498);
	ASSERT_EQ_INT(fid_lg_request(vol, ino++, 7, g3, &ex), 0); /* too big: a new PA */
	ASSERT_EQ_U64(ex.start / 32768, 3);
	uint64_t pa2 = ex.start;

	ASSERT_EQ_INT(fid_lg_request(vol, ino++, 3, g3, &ex), 0);
	ASSERT_EQ_U64(ex.start, pa2 + 7);
	ASSERT_EQ_INT(fid_lg_request(vol, ino++, 2, 100, &ex), 0);
	ASSERT_EQ_U64(ex.start, pa1 + 508);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/*
 * Rule 5 (ext4_mb_complex_scan_group, ext4_mb_measure_extent): from
 * CR_GOAL_LEN_SLOW on, ext4 measures every free run and counts it toward
 * mb_max_to_scan.  One group: ten 50-block runs, then a 150-block run; a
 * 100-block request (average fragment too small for CR_GOAL_LEN_FAST).
 * With mb_max_to_scan 5 ext4 stops after six runs and takes the best so
 * far, the first 50-block run; skipping runs that cannot beat the best
 * (departure mb_slow_skip_short) reaches the 150-block run instead.
 */
static int fid_slow_scan(uint32_t skip_short, struct mb_extent *ex)
{
	const struct mb_geometry geo = { 4096, 0, 32768, 0, 0, 0 };
	struct mb_request rq = { .len = 100, .goal = 0 };
	struct mb_volume *vol;
	uint64_t used = 0;
	int err;

	if (mb_volume_create(&geo, &vol))
		return -1;
	for (uint64_t r = 0; r <= 10; r++) { /* runs at 1000, 2000, ..., 11000 */
		uint64_t start = 1000 * (r + 1), len = r < 10 ? 50 : 150;

		mb_mark_used(vol, used, start - used);
		used = start + len;
	}
	mb_mark_used(vol, used, 32768 - used);
	err = mb_tunable_set(vol, "mb_max_to_scan", 5);
	err = err ? err : mb_tunable_set(vol, "mb_slow_skip_short", skip_short);
	err = err ? err : mb_alloc(vol, &rq, ex);
	mb_volume_destroy(vol);
	return err;
}

TEST(rule5_goal_len_slow_counts_every_run)
{
	struct mb_extent ex;

	ASSERT_EQ_INT(fid_slow_scan(0, &ex), 0);
	ASSERT_EQ_U64(ex.start, 1000);
	ASSERT_EQ_U64(ex.len, 50);
	ASSERT_EQ_INT(fid_slow_scan(1, &ex), 0); /* the departure */
	ASSERT_EQ_U64(ex.start, 11000);
	ASSERT_EQ_U64(ex.len, 100);
}

/*
 * Rule 6 (ext4_mb_normalize_request): the window must hold the request's
 * first block, not all of it.  A 544-block request at logical 0 of a file
 * of 544 blocks (2176 KiB) gets the 2 MiB row: a 512-block window at 0,
 * shorter than the request.  ext4 keeps it and allocates 512 blocks (the
 * caller asks again for the other 32); the library used to refuse the
 * window and allocate all 544 unnormalized.
 */
TEST(rule6_short_window_kept)
{
	struct mb_volume *vol = fid_volume();
	struct mb_extent ex;

	ASSERT_TRUE(vol != NULL);
	ASSERT_EQ_U64(fid_one_request(vol, 12, 544, 544, true, &ex), 0); /* no PA */
	ASSERT_EQ_U64(ex.len, 512);
	ASSERT_EQ_U64(ex.start % 512, 0); /* a 2^9 goal: CR_POWER2_ALIGNED */
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* One request of file ino (size_blocks), its CPU named: CPU 0. */
static int fid_cpu0_request(struct mb_volume *vol, uint64_t ino, uint64_t size_blocks,
			    uint64_t logical, uint32_t len, uint32_t flags, struct mb_file **keep,
			    struct mb_extent *ex)
{
	struct mb_request rq = { .logical = logical, .len = len, .goal = 0,
				 .flags = flags | MB_REQ_CPU, .cpu = 0 };
	int err = *keep ? 0 : mb_file_open(vol, ino, keep);

	if (err)
		return err;
	mb_file_set_size(*keep, size_blocks);
	rq.file = *keep;
	return mb_alloc(vol, &rq, ex);
}

/*
 * ext4_mb_use_preallocated does not look at HINT_NOPREALLOC: a small
 * fallocate still takes the next blocks of its CPU's group PA, and a
 * request inside a file's inode PA still comes from it -- NOPREALLOC only
 * stops normalization and new PAs.  Departure mb_noprealloc_no_pa (the
 * library's behaviour before) served neither from a PA.
 */
static int fid_noprealloc(uint32_t no_pa, uint64_t *grp_pa_start, uint64_t *grp_start,
			  uint64_t *ino_pa_start, uint64_t *ino_start)
{
	struct mb_volume *vol = fid_volume();
	struct mb_file *a = NULL, *b = NULL, *c = NULL;
	struct mb_extent ex;
	struct mb_stats st0, st1;
	int err = vol ? mb_tunable_set(vol, "mb_noprealloc_no_pa", no_pa) : -ENOMEM;

	/* a small file makes CPU 0's group PA: 8 blocks at 512 (the aligned
	   chunk; 0 and 1 are reserved), the PA [520, 1024) */
	err = err ? err : fid_cpu0_request(vol, 100, 8, 0, 8, 0, &a, &ex);
	*grp_pa_start = ex.start + 8;
	/* a larger open file gets an inode PA: logical [0, 128) */
	err = err ? err : fid_cpu0_request(vol, 101, 100, 0, 1, 0, &b, &ex);
	*ino_pa_start = ex.start;
	if (!err)
		mb_stats_get(vol, &st0);
	/* a 4-block fallocate of a small file, and one inside b's PA */
	err = err ? err : fid_cpu0_request(vol, 102, 4, 0, 4, MB_HINT_NOPREALLOC, &c, &ex);
	*grp_start = ex.start;
	err = err ? err : fid_cpu0_request(vol, 101, 100, 50, 4, MB_HINT_NOPREALLOC, &b, &ex);
	*ino_start = ex.start;
	if (!err) {
		mb_stats_get(vol, &st1);
		if (st1.preallocated != st0.preallocated)
			err = -EEXIST; /* NOPREALLOC made a PA */
	}
	for (struct mb_file **f = (struct mb_file *[]){ a, b, c }, **e = f + 3; f < e; f++)
		if (*f)
			mb_file_close(*f);
	if (!err && mb_check(vol, NULL, 0) != 0)
		err = -EUCLEAN;
	mb_volume_destroy(vol);
	return err;
}

TEST(noprealloc_served_from_existing_pas)
{
	uint64_t gpa, g, ipa, i;

	ASSERT_EQ_INT(fid_noprealloc(0, &gpa, &g, &ipa, &i), 0);
	ASSERT_EQ_U64(gpa, 520);
	ASSERT_EQ_U64(g, gpa);      /* the group PA's next blocks */
	ASSERT_EQ_U64(i, ipa + 50); /* the inode PA's block for logical 50 */
	ASSERT_EQ_INT(fid_noprealloc(1, &gpa, &g, &ipa, &i), 0); /* the departure */
	ASSERT_TRUE(g != gpa);
	ASSERT_TRUE(i != ipa + 50);
}
