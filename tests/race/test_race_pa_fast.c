/* SPDX-License-Identifier: MIT */
/*
 * test_race_pa_fast.c - the PA fast path against a discarder.  A file's
 * inode PA is found without the group lock (the file's tree is the
 * owner's); a discarder may delete it and give its space back to the
 * buddy before the owner takes that lock.  The owner is parked right there
 * (MB_HOOK_PA_FAST_FOUND) while mb_discard_all() runs, then released: it
 * must see the PA deleted and fall back to a regular search.  Taking from
 * the deleted PA would mark blocks used on disk that the buddy calls free:
 * mb_check() reports it, and a later allocation could hand them out twice.
 */
#include <pthread.h>
#include <string.h>

#include "harness.h"
#include "mb_int.h"
#include "park.h"

struct fast_race {
	struct mb_volume *vol;
	struct mb_file *file;
	pthread_t owner;
	struct mb_park park; /* the owner, at PA_FAST_FOUND (its first time) */
	int err;
	struct mb_extent ex;
};

static void fast_hook(void *arg, int id, uint32_t group, int cr)
{
	struct fast_race *r = arg;

	(void)group;
	(void)cr;
	if (id == MB_HOOK_PA_FAST_FOUND && pthread_equal(pthread_self(), r->owner))
		mb_park_here(&r->park);
}

static void *fast_owner(void *arg)
{
	struct fast_race *r = arg;
	struct mb_request rq = { .file = r->file, .logical = 1, .goal = MB_GOAL_NONE, .len = 1 };

	r->err = mb_alloc(r->vol, &rq, &r->ex);
	mb_park_end(&r->park); /* in case it never reached the hook */
	return NULL;
}

/* One group of 1024 blocks, all used but 128; the file's PA holds 127 of them. */
static int fast_volume(struct fast_race *r)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
				   .blocks_count = 1024 };
	struct mb_request all = { .goal = MB_GOAL_NONE, .len = 1024 };
	struct mb_request first = { .goal = MB_GOAL_NONE, .len = 1 };
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
	mb_file_set_size(r->file, 100); /* a 128-block window */
	first.file = r->file;
	if ((err = mb_alloc(r->vol, &first, &ex)))
		return err;
	return mb_free_blocks(r->vol) == 127 ? 0 : -EIO;
}

TEST(fast_path_sees_a_discarded_pa)
{
	struct fast_race r;
	struct mb_request rest = { .goal = MB_GOAL_NONE, .len = 1 };
	struct mb_extent ex;

	memset(&r, 0, sizeof(r));
	mb_park_init(&r.park);
	ASSERT_EQ_INT(fast_volume(&r), 0);
	mb_hook_set(r.vol, fast_hook, &r);
	pthread_create(&r.owner, NULL, fast_owner, &r);
	ASSERT_TRUE(mb_park_wait_parked(&r.park));
	/* the owner holds its file's lock and the PA's address, not its group lock */
	ASSERT_EQ_INT(mb_discard_all(r.vol), 127);
	mb_park_release(&r.park);
	pthread_join(r.owner, NULL);
	mb_hook_set(r.vol, NULL, NULL);
	ASSERT_EQ_INT(r.err, 0);
	ASSERT_CHECK_CLEAN(r.vol);
	/* everything left goes to others: never the owner's block again */
	ASSERT_EQ_U64(mb_free_blocks(r.vol), 126);
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
