/* SPDX-License-Identifier: MIT */
/*
 * test_race.c - the three races of the 2020 ext4 ENOSPC series, forced
 * deterministically with the library's test hooks.  Thread B is parked
 * inside a race window, thread A runs into it, then B is released at a
 * chosen point.  Each scenario runs under both policies: with `legacy`
 * (ext4 before the series) A must get a spurious -ENOSPC -- which shows the
 * test catches the race -- and with `seq` (the series) A must succeed.
 *
 * The volume: one group, everything allocated except one aligned 128-block
 * chunk, which ends up as the unused part of a preallocation.  So there is
 * always free space for A's one-block request: every -ENOSPC is spurious.
 */
#include <pthread.h>
#include <string.h>

#include "harness.h"
#include "mb_test_int.h"
#include "park.h"

struct race {
	struct mb_volume *vol;
	int park_id, park_cr;   /* where B parks */
	int release_id, release_cr; /* where A releases B */
	struct mb_park b_park;   /* B, in its window; released by A at A's point */
	struct mb_park a_window; /* A, at its point until B is done */
	struct mb_file *file;  /* the PA owner */
	int b_kind;            /* what B does: 0 alloc, 1 file alloc, 2 discard file */
	int a_err, b_err;
};

static _Thread_local char race_role; /* 'A' or 'B'; 0: not a race thread */

/* The hook: parks B at its window, lets A release B at A's point. */
static void race_hook(void *arg, int id, uint32_t group, int cr)
{
	struct race *r = arg;

	(void)group;
	if (race_role == 'B' && id == r->park_id) {
		mb_park_here(&r->b_park);
	} else if (race_role == 'A' && id == r->release_id &&
		   (r->release_cr < 0 || cr == r->release_cr)) {
		mb_park_release(&r->b_park);
		mb_park_here(&r->a_window); /* B finishes inside A's window */
	}
}

static void *race_thread_b(void *arg)
{
	struct race *r = arg;
	struct mb_extent ex;

	race_role = 'B';
	if (r->b_kind == 2) {
		r->b_err = mb_file_discard(r->file) > 0 ? 0 : -1;
	} else {
		struct mb_request rq = { .file = r->b_kind ? r->file : NULL, .goal = MB_GOAL_NONE,
					 .len = 1 };
		r->b_err = mb_alloc(r->vol, &rq, &ex);
	}
	mb_park_release(&r->a_window);
	mb_park_end(&r->b_park); /* in case B never reached its hook */
	return NULL;
}

static void *race_thread_a(void *arg)
{
	struct race *r = arg;
	struct mb_extent ex;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };

	race_role = 'A';
	r->a_err = mb_alloc(r->vol, &rq, &ex);
	mb_park_release(&r->b_park); /* never leave B parked */
	return NULL;
}

/* One group of 1024 blocks, all used but for an aligned 128-block chunk. */
static int race_volume(struct race *r, int policy)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
				   .blocks_count = 1024 };
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1024 };
	struct mb_extent ex;
	int err = mb_volume_create(&geo, &r->vol);

	if (err)
		return err;
	while (!mb_alloc(r->vol, &rq, &ex))
		;
	if (mb_free_blocks(r->vol) || mb_free(r->vol, 512, 128))
		return -EIO;
	mb_tunable_set(r->vol, "mb_enospc_policy", (uint64_t)policy);
	return mb_file_open(r->vol, 7, &r->file);
}

/* Gives the 128-block chunk to r->file: its PA keeps 127 unused blocks. */
static int race_make_pa(struct race *r)
{
	struct mb_request rq = { .file = r->file, .goal = MB_GOAL_NONE, .len = 1 };
	struct mb_extent ex;

	mb_file_set_size(r->file, 100); /* 400 KiB predicted: a 128-block window */
	int err = mb_alloc(r->vol, &rq, &ex);
	if (err)
		return err;
	return mb_free_blocks(r->vol) == 127 ? 0 : -EIO;
}

/* Runs B until it parks, then A; returns A's result. */
static int race_run(struct race *r)
{
	pthread_t a, b;

	mb_park_init(&r->b_park);
	mb_park_init(&r->a_window);
	mb_hook_set(r->vol, race_hook, r);
	pthread_create(&b, NULL, race_thread_b, r);
	mb_park_wait_parked(&r->b_park);
	pthread_create(&a, NULL, race_thread_a, r);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	mb_hook_set(r->vol, NULL, NULL);
	return r->a_err;
}

static void race_done(struct race *r)
{
	mb_file_close(r->file);
	mb_volume_destroy(r->vol);
	mb_park_destroy(&r->b_park);
	mb_park_destroy(&r->a_window);
}

/* Runs one scenario under one policy; *b_err gets B's result. */
static int race_scenario(struct race r, int policy, bool file_has_pa, int *b_err)
{
	int err = race_volume(&r, policy);

	if (!err && file_has_pa)
		err = race_make_pa(&r);
	if (!err) {
		mb_file_set_size(r.file, 100); /* 400 KiB predicted: a 128-block window */
		err = race_run(&r);
	}
	*b_err = r.b_err;
	race_done(&r);
	return err;
}

/*
 * Race 1 (patches 4-5): B, failing, discards the group's PAs under the group
 * lock and is parked before they reach the buddy.  A judges the group
 * without the lock in its last criterion, sees it empty, and only then does
 * B finish.  A's own discard finds nothing.  Legacy gives up; seq retries
 * once, judging groups under their lock, and finds B's leftovers.
 */
static int race1(int policy, int *b_err)
{
	struct race r = { .park_id = MB_HOOK_DISCARD_COLLECTED,
			  .release_id = MB_HOOK_GOOD_GROUP_CHECKED,
			  .release_cr = MB_CR_ANY_FREE, .b_kind = 0 };

	return race_scenario(r, policy, true, b_err);
}

/*
 * Race 2 (patch 1): B's allocation took the whole chunk for a one-block
 * request; B is parked after the group lock was dropped.  Legacy has not put
 * the 127-block leftover on the PA list yet, so A's discard finds nothing.
 * With seq the leftover was listed under the same lock, so A's discard
 * returns it and A's retry succeeds.
 */
static int race2(int policy, int *b_err)
{
	struct race r = { .park_id = MB_HOOK_LEFTOVER_UNLINKED, .release_id = MB_HOOK_BEFORE_RETRY,
			  .release_cr = -1, .b_kind = 1 };

	return race_scenario(r, policy, false, b_err);
}

/*
 * Race 3 (patch 3): B is discarding the file's PA (truncate).  Legacy does
 * it in two phases, as ext4 did, and B is parked between them: the PA is
 * taken but its space not yet returned, so A's discard skips it and gives
 * up.  With seq a PA is taken and returned in one hold of its group lock,
 * and a discard found in flight makes A retry: A succeeds.
 */
static int race3(int policy, int *b_err)
{
	struct race r = { .park_id = MB_HOOK_DISCARD_COLLECTED, .release_id = MB_HOOK_BEFORE_RETRY,
			  .release_cr = -1, .b_kind = 2 };

	return race_scenario(r, policy, true, b_err);
}

TEST(race1_unlocked_good_group)
{
	int b_err;

	ASSERT_EQ_INT(race1(MB_POLICY_LEGACY, &b_err), -ENOSPC); /* the race bites */
	ASSERT_EQ_INT(b_err, 0);
	ASSERT_EQ_INT(race1(MB_POLICY_SEQ, &b_err), 0); /* the fix */
	ASSERT_EQ_INT(b_err, 0);
}

TEST(race2_leftover_not_on_pa_list)
{
	int b_err;

	ASSERT_EQ_INT(race2(MB_POLICY_LEGACY, &b_err), -ENOSPC);
	ASSERT_EQ_INT(b_err, 0);
	ASSERT_EQ_INT(race2(MB_POLICY_SEQ, &b_err), 0);
	ASSERT_EQ_INT(b_err, 0);
}

TEST(race3_discard_in_flight)
{
	int b_err;

	ASSERT_EQ_INT(race3(MB_POLICY_LEGACY, &b_err), -ENOSPC);
	ASSERT_EQ_INT(b_err, 0);
	ASSERT_EQ_INT(race3(MB_POLICY_SEQ, &b_err), 0);
	ASSERT_EQ_INT(b_err, 0);
}
