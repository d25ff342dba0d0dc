/* SPDX-License-Identifier: MIT */
/*
 * test_pa_impose.c - mb_prealloc_add / mb_prealloc_discard_at: a PA another
 * allocator decided (the kernel's, in `mballoc replay --mode resync`)
 * serves later requests as one of ours would, is given back whole, and a
 * bad one is refused with nothing changed.
 */
#define _GNU_SOURCE
#include <sched.h>

#include "mb_int.h"
#include "pa_util.h"

static const struct mb_geometry geo = { 4096, 0, 2 * 32768, 0, 0, 0 };

static struct mb_extent req(struct mb_volume *vol, struct mb_file *f, uint64_t logical,
			    uint32_t len, uint32_t cpu, int *err)
{
	struct mb_request rq = { .file = f, .logical = logical, .len = len, .goal = 30000,
				 .flags = MB_REQ_CPU, .cpu = cpu };
	struct mb_extent ex = { 0 };

	*err = mb_alloc(vol, &rq, &ex);
	return ex;
}

TEST(imposed_inode_pa_serves_the_file)
{
	struct mb_volume *vol;
	struct mb_file *f;
	int err;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	uint64_t free0 = pa_buddy_free(vol);

	ASSERT_EQ_INT(mb_file_open(vol, 12, &f), 0);
	mb_file_set_size(f, 64);
	/* the request that made it took logical 0..3 at 1000 */
	ASSERT_EQ_INT(mb_mark_used(vol, 1000, 4), 0);
	ASSERT_EQ_INT(mb_prealloc_add(vol, f, 0, 1000, 0, 64), 0);
	ASSERT_EQ_U64(pa_buddy_free(vol), free0 - 64);
	struct mb_extent ex = req(vol, f, 4, 8, 0, &err);

	ASSERT_EQ_INT(err, 0);
	ASSERT_EQ_U64(ex.start, 1004); /* pstart + logical - lstart */
	ASSERT_EQ_U64(ex.len, 8);
	/* discarding at one of its blocks gives the rest back: 64 - 12 */
	ASSERT_EQ_INT(mb_prealloc_discard_at(vol, f, 1030), 52);
	ASSERT_EQ_INT(mb_prealloc_discard_at(vol, f, 1030), 0);
	ASSERT_EQ_U64(pa_buddy_free(vol), free0 - 12);
	ASSERT_CHECK_CLEAN(vol);
	mb_file_close(f);
	mb_volume_destroy(vol);
}

TEST(imposed_group_pa_serves_its_cpu)
{
	struct mb_volume *vol;
	struct mb_file *a, *b;
	int err;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 20, &a), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 21, &b), 0);
	mb_file_set_size(a, 8);
	mb_file_set_size(b, 8);
	/* the kernel's group PA of CPU 1: the 8 blocks of its first file at
	   the front, 504 blocks left */
	ASSERT_EQ_INT(mb_mark_used(vol, 2048, 8), 0);
	ASSERT_EQ_INT(mb_prealloc_add(vol, NULL, 1, 2048, 0, 512), 0);
	struct mb_extent ex = req(vol, a, 0, 8, 1, &err);

	ASSERT_EQ_INT(err, 0);
	ASSERT_EQ_U64(ex.start, 2056);
	/* another CPU's locality group does not see it (one slot: the same) */
	ex = req(vol, b, 0, 8, 0, &err);
	ASSERT_EQ_INT(err, 0);
	if (vol->pcpu_mask)
		ASSERT_TRUE(ex.start != 2064);
	ASSERT_EQ_INT(mb_prealloc_discard_at(vol, NULL, 2064), 512 - 16);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

TEST(bad_imposed_pa_refused_nothing_changes)
{
	struct mb_volume *vol, *other;
	struct mb_file *f, *g;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_volume_create(&geo, &other), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 12, &f), 0);
	ASSERT_EQ_INT(mb_file_open(other, 12, &g), 0);
	ASSERT_EQ_INT(mb_mark_used(vol, 100, 4), 0);
	ASSERT_EQ_INT(mb_prealloc_add(vol, f, 0, 100, 0, 16), 0);
	uint64_t free0 = pa_buddy_free(vol), disk0 = mb_free_blocks(vol);

	ASSERT_EQ_INT(mb_prealloc_add(vol, f, 0, 200, 0, 0), -EINVAL);          /* empty */
	ASSERT_EQ_INT(mb_prealloc_add(vol, f, 0, 32760, 0, 16), -EINVAL);      /* 2 groups */
	ASSERT_EQ_INT(mb_prealloc_add(vol, f, 0, 65530, 0, 16), -EINVAL);      /* past the end */
	ASSERT_EQ_INT(mb_prealloc_add(vol, g, 0, 200, 0, 16), -EINVAL);        /* other volume */
	ASSERT_EQ_INT(mb_prealloc_add(vol, f, 0, 200, 8, 16), -EEXIST);        /* overlaps logically */
	ASSERT_EQ_INT(mb_prealloc_add(vol, f, 0, 110, 100, 16), -EEXIST);      /* other PA's blocks */
	ASSERT_EQ_INT(mb_prealloc_add(vol, NULL, 0, 98, 0, 8), -EINVAL);       /* used not a prefix */
	ASSERT_EQ_INT(mb_prealloc_add(vol, NULL, 0, 100, 0, 4), -EINVAL);      /* nothing free */
	ASSERT_EQ_INT(mb_prealloc_discard_at(vol, g, 100), -EINVAL);
	ASSERT_EQ_U64(pa_buddy_free(vol), free0);
	ASSERT_EQ_U64(mb_free_blocks(vol), disk0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(other);
	mb_volume_destroy(vol);
}
