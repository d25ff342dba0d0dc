/* SPDX-License-Identifier: MIT */
/*
 * test_race_one_fast.c - alloc.c's one-block fast path in a threaded
 * process (mb_alloc_one_fast_mt): the group's lock taken as the regular
 * path's visit takes a free one (mb_trylock_mt: held by bias or by the
 * word, a held lock declines), the group read under it, and the claim of
 * the block from the slot's share under the slot's lock
 * (mb_resv_take_exact_mt).
 *
 * locked_group_skipped: with the first group's lock held by the test,
 * another thread's one-block request must get its block elsewhere (the
 * regular path skips a busy group below CR_ANY_FREE), and once the lock
 * is given back, the first group's next block.  A fast path that took
 * the block without the lock answers from the locked group: this fails
 * at once, in every run.
 *
 * np2_walk_skips_a_locked_group: the same busy first group met by
 * CR_GOAL_LEN_FAST's walk for 100 blocks (mb_scan_goal_len_fast_np2),
 * whose decline sends the walk on from the group after it: a walk that
 * went on from elsewhere answers from group 2, not 1.
 *
 * threads_one_slot, threads_own_slots: threads ask for one block at a
 * time in fill_race.h's rounds, on a volume whose groups' free blocks are
 * a tail from their first free block on (the fast path's case) after a
 * round's frees have emptied it: a thread frees all its blocks, but one
 * round in three only three quarters, at random, which leaves holes the
 * regular path fills; mb_check after every round.  A claim not taken
 * leaves blocks counted free that are not (at once, in every run); a
 * block taken outside the group's lock is handed out twice, a take of the
 * share outside the slot's lock loses updates (under contention: most
 * runs).  threads_one_slot puts every thread on slot 0 (the slot lock
 * contended, biased and revoked); threads_own_slots one thread per slot.
 *
 * Built twice, as test_race_p2_fast: with the testing flavour's lock
 * checks, and against the library the tools link (test_race_one_fast_rel),
 * whose release lock paths the testing flavour does not have.
 */
#include <pthread.h>

#include "fill_race.h"
#include "harness.h"
#include "mb_int.h"
#include "percpu.h"

#define OF_BPG 256u
#define OF_BLOCKS 4096u /* 16 groups, optimize_scan on: one-block fills a round */

/* 16 groups of 256 blocks (fewer turn optimize_scan off, and with it the
   fast path), no system reserve: a fill ends at 0 free */
static void of_volume(struct mb_volume **vol)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = OF_BPG,
				   .blocks_count = OF_BLOCKS };

	ASSERT_EQ_INT(mb_volume_create(&geo, vol), 0);
	ASSERT_EQ_INT(mb_tunable_set(*vol, "reserved_clusters", 0), 0);
	ASSERT_EQ_INT(mb_tunable_set(*vol, "r_blocks_count", 0), 0);
	ASSERT_EQ_U64(mb_free_blocks(*vol), OF_BLOCKS);
}

static void of_run(bool one_slot)
{
	struct fr_cfg c = { .blocks = OF_BLOCKS, .len = 1, .rounds = mb_test_rounds(30),
			    .threads = 4, .one_slot = one_slot, .keep_every = 3,
			    .check_rounds = true };

	of_volume(&c.vol);
	if (mb_test_failed)
		return;
	fr_run(&c);
}

TEST(threads_one_slot)
{
	of_run(true);
}

TEST(threads_own_slots)
{
	of_run(false);
}

struct of_one {
	struct mb_volume *vol;
	uint32_t len;
	struct mb_extent ex;
	int err;
};

static void *of_alloc_one(void *arg)
{
	struct of_one *o = arg;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = o->len };

	/* every request on slot 0, whose share the first (regular) claim
	   filled: a dry share would send the fast path's claim to the
	   regular path, and the test would pass with the lock planted away */
	mb_cpu_pin(0);
	o->err = mb_alloc(o->vol, &rq, &o->ex);
	return NULL;
}

/* len blocks taken by a thread of its own, while the process is threaded:
   the extent's first block, or UINT64_MAX (the test failed, or the extent
   is shorter) */
static uint64_t of_alloc_len_by_thread(struct mb_volume *vol, uint32_t len)
{
	struct of_one o = { .vol = vol, .len = len };
	pthread_t t;

	if (pthread_create(&t, NULL, of_alloc_one, &o))
		return UINT64_MAX;
	pthread_join(t, NULL);
	return o.err || o.ex.len != len ? UINT64_MAX : o.ex.start;
}

static uint64_t of_alloc_by_thread(struct mb_volume *vol)
{
	return of_alloc_len_by_thread(vol, 1);
}

/* The same while the test holds the first group's lock */
static uint64_t of_alloc_len_group0_busy(struct mb_volume *vol, uint32_t len)
{
	struct mb_group *grp = mb_group_at(vol, 0);
	uint64_t b;

	mb_lock(&grp->bb_lock);
	b = of_alloc_len_by_thread(vol, len);
	mb_unlock(&grp->bb_lock);
	return b;
}

TEST(locked_group_skipped)
{
	struct mb_volume *vol = NULL;

	of_volume(&vol);
	if (mb_test_failed)
		return;
	/* the first group loaded, its free blocks a tail from block 2 on */
	for (uint64_t i = 0; i < 2; i++)
		ASSERT_EQ_U64(of_alloc_by_thread(vol), i);
	/* the group busy: the next one's */
	ASSERT_EQ_U64(of_alloc_len_group0_busy(vol, 1) / OF_BPG, 1);
	/* free again: its next block */
	ASSERT_EQ_U64(of_alloc_by_thread(vol), 2);
	ASSERT_EQ_U64(mb_free_blocks(vol), OF_BLOCKS - 4);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/*
 * CR_GOAL_LEN_FAST's walk for a length not a power of two (alloc.c,
 * mb_scan_goal_len_fast_np2) with its first group busy: every group of
 * the fresh volume is in one order's set, the first member's visit
 * declines, and the walk goes on from the member after it
 * (mb_scan_goal_len_fast_rest), whose first 100 blocks it takes.  Only a
 * busy lock (or a failed load) reaches that step: no probe does.  A walk
 * that went on from elsewhere answers from another group.
 */
TEST(np2_walk_skips_a_locked_group)
{
	struct mb_volume *vol = NULL;

	of_volume(&vol);
	if (mb_test_failed)
		return;
	/* the group busy: the next one's first blocks */
	ASSERT_EQ_U64(of_alloc_len_group0_busy(vol, 100), OF_BPG);
	/* free again, but walked after group 1: its one run of 156 blocks
	   files it under order 7, below the fresh groups' 8 */
	ASSERT_EQ_U64(of_alloc_len_by_thread(vol, 100), OF_BPG + 100);
	ASSERT_EQ_U64(mb_free_blocks(vol), OF_BLOCKS - 200);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}
