/* SPDX-License-Identifier: MIT */
/*
 * test_mark.c - mb_mark_used(): the exact range becomes used on disk and in
 * the buddy (an allocation avoids it, a free gives it back), across a group
 * boundary; all-or-nothing refusals of used, preallocated, reserved and
 * out-of-range blocks.
 */
#include "harness.h"

static struct mb_volume *mk(uint32_t rsv)
{
	struct mb_geometry geo = { .block_size = 1024, .blocks_per_group = 1024,
				   .blocks_count = 4097, .first_data_block = 1,
				   .reserved_per_group = rsv };
	struct mb_volume *vol = NULL;

	return mb_volume_create(&geo, &vol) ? NULL : vol;
}

TEST(mark_exact_range)
{
	struct mb_volume *vol = mk(0);

	ASSERT_TRUE(vol);
	uint64_t before = mb_free_blocks(vol);

	/* 1000..1100 crosses from group 0 (blocks 1..1024) into group 1. */
	ASSERT_EQ_INT(mb_mark_used(vol, 1000, 100), 0);
	ASSERT_EQ_U64(mb_free_blocks(vol), before - 100);
	ASSERT_EQ_INT(mb_allocated_blocks(vol, 990, 120), 100);
	ASSERT_EQ_INT(mb_allocated_blocks(vol, 999, 1), 0);
	ASSERT_EQ_INT(mb_allocated_blocks(vol, 1100, 1), 0);
	ASSERT_CHECK_CLEAN(vol);

	/* The allocator steps around it: a goal inside gets the block after. */
	struct mb_request rq = { .goal = 1050, .len = 1, .flags = MB_HINT_TRY_GOAL };
	struct mb_extent ex;

	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_TRUE(ex.start < 1000 || ex.start >= 1100);
	ASSERT_EQ_INT(mb_free(vol, 1000, 100), 0);
	ASSERT_EQ_INT(mb_allocated_blocks(vol, 1000, 100), 0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

TEST(mark_refuses_all_or_nothing)
{
	struct mb_volume *vol = mk(8);

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_mark_used(vol, 2000, 10), 0);
	uint64_t free0 = mb_free_blocks(vol);

	/* Overlaps the used 2000..2009 at its end: nothing of 1990.. changes. */
	ASSERT_EQ_INT(mb_mark_used(vol, 1990, 11), -EEXIST);
	ASSERT_EQ_INT(mb_allocated_blocks(vol, 1990, 10), 0);
	ASSERT_EQ_INT(mb_mark_used(vol, 1, 4), -EINVAL);        /* group 0's reserved */
	ASSERT_EQ_INT(mb_mark_used(vol, 1020, 10), -EINVAL);    /* runs into group 1's */
	ASSERT_EQ_INT(mb_mark_used(vol, 0, 1), -EINVAL);        /* before first_data_block */
	ASSERT_EQ_INT(mb_mark_used(vol, 4096, 2), -EINVAL);     /* past the end */
	ASSERT_EQ_INT(mb_mark_used(vol, 100, 0), -EINVAL);
	ASSERT_EQ_U64(mb_free_blocks(vol), free0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

TEST(mark_refuses_preallocated)
{
	struct mb_volume *vol = mk(8);
	struct mb_file *f = NULL;
	struct mb_extent ex;

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_file_open(vol, 12, &f), 0);
	mb_file_set_size(f, 64);
	struct mb_request rq = { .file = f, .goal = 3000, .len = 4 };

	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	/* The window beyond the 4 blocks is this file's PA: on-disk free,
	   but not free to mark. */
	int64_t held = mb_allocated_blocks(vol, ex.start + ex.len, 1);

	ASSERT_EQ_INT(held, 0);
	ASSERT_EQ_INT(mb_mark_used(vol, ex.start + ex.len, 1), -EEXIST);
	ASSERT_TRUE(mb_file_discard(f) > 0);
	ASSERT_EQ_INT(mb_mark_used(vol, ex.start + ex.len, 1), 0);
	ASSERT_CHECK_CLEAN(vol);
	mb_file_close(f);
	mb_volume_destroy(vol);
}
