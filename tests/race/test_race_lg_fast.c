/* SPDX-License-Identifier: MIT */
/*
 * test_race_lg_fast.c - the locality-group PA fast path against a
 * discarder.  A small file's request chooses its lg's PA under lg_mutex
 * (the buckets are the lg's own), without the PA's group lock; a discarder
 * holds only that group lock, so it may delete the PA and give its space
 * back to the buddy before the owner takes the lock.  The owner is parked
 * right there (MB_HOOK_LG_FAST_FOUND) while mb_discard_all() runs, then
 * released: it must see the PA deleted, forget it and fall back to a
 * regular search.  Taking from the deleted PA would mark blocks used on
 * disk that the buddy calls free: mb_check() reports it, and a later
 * allocation could hand them out twice.
 */
#include <pthread.h>
#include <string.h>

#include "harness.h"
#include "mb_int.h"
#include "park.h"

struct lg_race {
	struct mb_volume *vol;
	struct mb_file *file;
	pthread_t owner;
	struct mb_park park; /* the owner, at LG_FAST_FOUND (its first time) */
	int err;
	struct mb_extent ex;
};

static void lg_hook(void *arg, int id, uint32_t group, int cr)
{
	struct lg_race *r = arg;

	(void)group;
	(void)cr;
	if (id == MB_HOOK_LG_FAST_FOUND && pthread_equal(pthread_self(), r->owner))
		mb_park_here(&r->park);
}

/* Both requests name CPU 0: one locality group, whichever CPU runs them. */
static void *lg_owner(void *arg)
{
	struct lg_race *r = arg;
	struct mb_request rq = { .file = r->file, .logical = 1, .goal = MB_GOAL_NONE, .len = 1,
				 .flags = MB_REQ_CPU, .cpu = 0 };

	r->err = mb_alloc(r->vol, &rq, &r->ex);
	mb_park_end(&r->park); /* in case it never reached the hook */
	return NULL;
}

/* One group of 1024 blocks, all used but 128; the lg's PA holds 127 of them. */
static int lg_volume(struct lg_race *r)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
				   .blocks_count = 1024 };
	struct mb_request all = { .goal = MB_GOAL_NONE, .len = 1024 };
	struct mb_request first = { .goal = MB_GOAL_NONE, .len = 1, .flags = MB_REQ_CPU };
	struct mb_extent ex;
	int err = mb_volume_create(&geo, &r->vol);

	if (err)
		return err;
	while (!mb_alloc(r->vol, &all, &ex))
		;
	if (mb_free_blocks(r->vol) || mb_free(r->vol, 512, 128))
		return -EIO;
	if ((err = mb_file_open(r->vol, 7, &r->file)))
		return err;
	mb_file_set_size(r->file, 2); /* small: its blocks come from the lg's PA */
	first.file = r->file;
	if ((err = mb_alloc(r->vol, &first, &ex)))
		return err;
	/* no inode PA: the rest of the find went to a group PA */
	if (atomic_load(&r->file->f_npa) || mb_free_blocks(r->vol) != 127)
		return -EIO;
	return 0;
}

TEST(lg_fast_path_sees_a_discarded_pa)
{
	struct lg_race r;
	struct mb_request rest = { .goal = MB_GOAL_NONE, .len = 1 };
	struct mb_extent ex;

	memset(&r, 0, sizeof(r));
	mb_park_init(&r.park);
	ASSERT_EQ_INT(lg_volume(&r), 0);
	mb_hook_set(r.vol, lg_hook, &r);
	pthread_create(&r.owner, NULL, lg_owner, &r);
	ASSERT_TRUE(mb_park_wait_parked(&r.park));
	/* the owner holds its file's and its lg's locks and the PA's address,
	   not the PA's group lock */
	ASSERT_EQ_INT(mb_park_arrivals(&r.park), 1);
	ASSERT_EQ_INT(mb_discard_all(r.vol), 127);
	mb_park_release(&r.park);
	pthread_join(r.owner, NULL);
	mb_hook_set(r.vol, NULL, NULL);
	ASSERT_EQ_INT(r.err, 0);
	ASSERT_CHECK_CLEAN(r.vol);
	/* the owner's regular search made a new group PA of the rest */
	ASSERT_EQ_U64(mb_free_blocks(r.vol), 126);
	ASSERT_EQ_INT(mb_discard_all(r.vol), 126);
	for (int i = 0; i < 126; i++) {
		ASSERT_EQ_INT(mb_alloc(r.vol, &rest, &ex), 0);
		ASSERT_TRUE(ex.start != r.ex.start);
	}
	ASSERT_EQ_INT(mb_alloc(r.vol, &rest, &ex), -ENOSPC);
	ASSERT_CHECK_CLEAN(r.vol);
	mb_file_close(r.file);
	mb_volume_destroy(r.vol);
	mb_park_destroy(&r.park);
}
