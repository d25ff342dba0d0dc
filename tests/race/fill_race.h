/* SPDX-License-Identifier: MIT */
/*
 * fill_race.h - rounds of threads that empty a volume and fill it again to
 * ENOSPC, every block checked to be handed out once: the stress half of
 * test_race_p2_fast and test_race_one_fast, whose fast paths differ only
 * in the request's length and the volume's shape.
 *
 * In rounds that start together (a spinning barrier), each thread frees
 * its extents -- all of them, from the last, or in a "keep" round three
 * quarters at random (the frees return blocks to the slot's share under
 * its lock while other threads take from it) -- then asks for len blocks
 * with no file and no goal, so that the threads meet in one group, until
 * ENOSPC.  After every round (the last thread to the barrier looks) every
 * block must be out exactly once (a shared map), the volume must count
 * none free and, with check_rounds, mb_check must pass: a group taken
 * outside its lock hands a block out twice, a take of the share outside
 * the slot's lock loses updates (a spurious ENOSPC, or space counted that
 * is not there).  one_slot puts every thread on slot 0 (the slot lock
 * contended, biased and revoked); else one thread per slot.
 */
#ifndef MB_TEST_FILL_RACE_H
#define MB_TEST_FILL_RACE_H

#include <stdbool.h>
#include <stdint.h>

#include "mballoc.h"

#define FR_THREADS_MAX 8

struct fr_cfg {
	struct mb_volume *vol; /* no system reserve: a fill ends at 0 free */
	uint64_t blocks;       /* the volume's (a multiple of 64) */
	uint32_t len;	       /* each request's */
	int rounds;
	int threads;	   /* with one_slot; else one a slot, 2 to this many */
	bool one_slot;	   /* every thread on slot 0 */
	int keep_every;	   /* round % keep_every == keep_every - 1 keeps a quarter */
	bool check_rounds; /* mb_check after every round too */
};

/* Runs the rounds and asserts (harness.h) on the first bad one; destroys
   cfg->vol. */
void fr_run(const struct fr_cfg *cfg);

#endif
