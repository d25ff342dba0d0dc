/* SPDX-License-Identifier: MIT */
/*
 * test_pa_cpu.c - rule 7 of issue 11: ext4 takes the current CPU's
 * locality group on every request.  A thread that alternates between two
 * CPUs must alternate between their two group PAs, request by request.
 * Needs two CPUs the thread may run on (else exit 77).
 */
#define _GNU_SOURCE
#include <sched.h>

#include "mb_int.h"
#include "pa_util.h"

static int pin(int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return sched_setaffinity(0, sizeof(one), &one);
}

TEST(rule7_lg_follows_the_cpu_on_every_request)
{
	const struct mb_geometry geo = { 4096, 0, 4 * 32768, 0, 0, 0 };
	int cpus[2], n = 0;
	cpu_set_t set;
	struct mb_volume *vol;

	ASSERT_EQ_INT(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	if (n < 2)
		mb_test_skip("needs two CPUs");
	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	if ((cpus[0] & (int)vol->pcpu_mask) == (cpus[1] & (int)vol->pcpu_mask))
		mb_test_skip("the two CPUs share a locality group");
	/* small files of 8 blocks, goal block 0: the first CPU's group PA
	   starts at 0, the second's right after it at 512; each file takes
	   the next 8 blocks of its CPU's PA */
	for (uint64_t k = 0; k < 16; k++) {
		struct mb_request rq = { .len = 8, .goal = 0 };
		struct mb_extent ex;

		ASSERT_EQ_INT(pin(cpus[k % 2]), 0);
		ASSERT_EQ_INT(mb_file_open(vol, 100 + k, &rq.file), 0);
		ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
		ASSERT_EQ_U64(ex.start, (k % 2) * 512 + (k / 2) * 8);
	}
	mb_volume_destroy(vol);
}

/*
 * A request may name its CPU (MB_REQ_CPU, mb_request.cpu): one thread
 * naming CPU 0 and CPU 1 in turn gets their two group PAs in turn, as the
 * pinned thread above.  Naming MB_CPU_CURRENT, or 0 without the flag, is
 * the CPU the call runs on.  Needs two per-CPU slots (else exit 77), not
 * two CPUs.
 */
TEST(named_cpu_chooses_the_locality_group)
{
	const struct mb_geometry geo = { 4096, 0, 4 * 32768, 0, 0, 0 };
	struct mb_volume *vol;
	int cpu = pa_pin_one_cpu();

	ASSERT_TRUE(cpu >= 0);
	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	if (vol->pcpu_mask < 1)
		mb_test_skip("one per-CPU slot: every CPU shares one locality group");
	unsigned mine = (unsigned)cpu & vol->pcpu_mask; /* my slot, and the other one */
	uint32_t named[2] = { mine, mine ^ 1 };

	for (uint64_t k = 0; k < 16; k++) {
		struct mb_request rq = { .len = 8, .goal = 0, .flags = MB_REQ_CPU,
					 .cpu = named[k % 2] };
		struct mb_extent ex;

		ASSERT_EQ_INT(mb_file_open(vol, 100 + k, &rq.file), 0);
		ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
		ASSERT_EQ_U64(ex.start, (k % 2) * 512 + (k / 2) * 8);
	}
	/* the current CPU (mine): its PA continues at 64, whichever way it is said */
	struct mb_request cur[3] = {
		{ .len = 8, .goal = 0 },
		{ .len = 8, .goal = 0, .cpu = MB_CPU_CURRENT },
		{ .len = 8, .goal = 0, .flags = MB_REQ_CPU, .cpu = MB_CPU_CURRENT },
	};
	for (uint64_t k = 0; k < 3; k++) {
		struct mb_extent ex;

		ASSERT_EQ_INT(mb_file_open(vol, 200 + k, &cur[k].file), 0);
		ASSERT_EQ_INT(mb_alloc(vol, &cur[k], &ex), 0);
		ASSERT_EQ_U64(ex.start, 64 + k * 8);
	}
	mb_volume_destroy(vol);
}
