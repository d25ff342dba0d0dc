/* SPDX-License-Identifier: MIT */
/*
 * test_race_p2_fast.c - alloc.c's power-of-two fast path in a threaded
 * process (mb_scan_power2_fast_mt): its group lock, held by bias or by the
 * word (mb_trylock_mt, mb_unlock_mt), and its claim from the slot's share
 * under the slot's lock, held inline when biased (mb_resv_take_exact_mt).
 * Threads ask for 16-block extents in fill_race.h's rounds, each freeing
 * three quarters of its extents at random before it fills again: a group
 * taken outside its lock hands a chunk out twice, a take of the share
 * outside the slot's lock loses updates (a spurious ENOSPC, or space
 * counted that is not there).  threads_one_slot puts eight threads on
 * slot 0 (the slot lock contended, biased and revoked); threads_own_slots
 * one thread per slot, none contended, so that they meet in the group as
 * often as they run at once.
 *
 * The executable is built twice: with the testing flavour's lock checks,
 * and against the library the tools link (test_race_p2_fast_rel), whose
 * release lock paths the testing flavour does not have.
 */
#include "fill_race.h"
#include "harness.h"

#define P2_BLOCKS 32768u

static void p2_run(bool one_slot)
{
	/* 16 groups of 2048 blocks, no system reserve: a fill ends at 0 free */
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 2048,
				   .blocks_count = P2_BLOCKS };
	struct fr_cfg c = { .blocks = P2_BLOCKS, .len = 16, .rounds = mb_test_rounds(1000),
			    .threads = 8, .one_slot = one_slot, .keep_every = 1 };

	ASSERT_EQ_INT(mb_volume_create(&geo, &c.vol), 0);
	ASSERT_EQ_INT(mb_tunable_set(c.vol, "reserved_clusters", 0), 0);
	ASSERT_EQ_INT(mb_tunable_set(c.vol, "r_blocks_count", 0), 0);
	ASSERT_EQ_U64(mb_free_blocks(c.vol), P2_BLOCKS);
	fr_run(&c);
}

TEST(threads_one_slot)
{
	p2_run(true);
}

TEST(threads_own_slots)
{
	p2_run(false);
}

