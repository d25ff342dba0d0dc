/* SPDX-License-Identifier: MIT */
/* test_smoke.c - one allocation and free per geometry: the build works. */
#include "harness.h"

TEST(alloc_free_roundtrip)
{
	for (int i = 0; i < mb_test_ngeos; i++) {
		struct mb_volume *vol;
		struct mb_extent ex;
		struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 8 };

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[i].geo, &vol), 0);
		uint64_t before = mb_free_blocks(vol);
		ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
		ASSERT_EQ_U64(ex.len, 8);
		ASSERT_EQ_U64(mb_free_blocks(vol), before - 8);
		ASSERT_CHECK_CLEAN(vol);
		ASSERT_EQ_INT(mb_free(vol, ex.start, ex.len), 0);
		ASSERT_EQ_INT(mb_free(vol, ex.start, ex.len), -EEXIST);
		ASSERT_EQ_U64(mb_free_blocks(vol), before);
		ASSERT_CHECK_CLEAN(vol);
		mb_volume_destroy(vol);
	}
}

TEST(allocated_blocks_query)
{
	struct mb_geometry geo = { 4096, 1024, 4096, 0, 2, 0 };
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_request rq = { .goal = 1500, .len = 100, .flags = MB_HINT_TRY_GOAL };

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_EQ_U64(ex.start, 1500);
	ASSERT_EQ_INT(mb_allocated_blocks(vol, 1500, 100), 100);
	ASSERT_EQ_INT(mb_allocated_blocks(vol, 1490, 20), 10);  /* half in, half out */
	ASSERT_EQ_INT(mb_allocated_blocks(vol, 1020, 8), 2);    /* metadata of group 1 */
	ASSERT_EQ_INT(mb_allocated_blocks(vol, 0, 0), -EINVAL);
	ASSERT_EQ_INT(mb_allocated_blocks(vol, 4000, 200), -EINVAL);
	ASSERT_EQ_INT(mb_free(vol, 1550, 50), 0);
	ASSERT_EQ_INT(mb_allocated_blocks(vol, 1500, 100), 50);
	mb_volume_destroy(vol);
}

static int collect_extent(uint64_t start, uint32_t len, void *arg)
{
	uint64_t *acc = arg;

	acc[0]++;
	acc[1] += len;
	acc[2] = start;
	return 0;
}

TEST(free_extents_walk)
{
	struct mb_geometry geo = { 4096, 1024, 4096, 0, 2, 0 };
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_request rq = { .goal = 1500, .len = 100, .flags = MB_HINT_TRY_GOAL };
	uint64_t acc[3] = { 0 };

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_EQ_INT(mb_group_free_extents(vol, 1, 0, collect_extent, acc), 0);
	ASSERT_EQ_U64(acc[0], 2);              /* [1026,1500) and [1600,2048) */
	ASSERT_EQ_U64(acc[1], 1022 - 100);
	ASSERT_EQ_U64(acc[2], 1600);
	ASSERT_EQ_INT(mb_group_free_extents(vol, 4, 0, collect_extent, acc), -EINVAL);
	ASSERT_EQ_INT(mb_group_free_extents(vol, 0, 0x80, collect_extent, acc), -EINVAL);
	mb_volume_destroy(vol);
}
