/* SPDX-License-Identifier: MIT */
/*
 * pa_util.h - helpers shared by the preallocation tests: a sequential
 * writer that asks for blocks the way ext4's extent code does (goal = the
 * block after the last mapped one, lleft/pleft = that block), extent
 * counting by merging adjacent results, and volume-wide free counts in
 * buddy terms (where unused PA space counts as used).
 */
#ifndef MB_PA_UTIL_H
#define MB_PA_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>

#include "harness.h"

/* One file written front to back. */
struct pa_writer {
	struct mb_file *file;
	uint64_t next;     /* next logical block to write */
	uint64_t last;     /* physical block of logical next - 1 (valid if next) */
	uint64_t extents;  /* file extents after merging adjacent results */
	uint64_t first;    /* physical block of logical 0 */
	uint32_t flags;    /* MB_HINT_* added to every request */
	uint64_t held;     /* blocks the file holds */
	uint64_t goal0;    /* goal of the first request; 0 = MB_GOAL_NONE */
};

/*
 * Writes `len` more blocks (one request at a time of at most `len`).  The
 * request carries the nearest mapped left neighbour, as ext4's extent code
 * passes it, and the block after it as the goal.  Returns 0 or -errno.
 */
static inline int pa_write(struct mb_volume *vol, struct pa_writer *w, uint32_t len)
{
	while (len) {
		struct mb_request rq = { .file = w->file, .logical = w->next, .len = len,
					 .goal = MB_GOAL_NONE, .flags = w->flags };
		struct mb_extent ex;

		if (w->goal0)
			rq.goal = w->goal0;
		if (w->next) {
			rq.goal = w->last + 1;
			rq.lleft = w->next - 1;
			rq.pleft = w->last;
			rq.flags |= MB_HINT_TRY_GOAL;
		}
		mb_file_set_size(w->file, w->next); /* i_size before this write */
		int err = mb_alloc(vol, &rq, &ex);

		if (err)
			return err;
		if (!w->next)
			w->first = ex.start;
		if (!w->next || ex.start != w->last + 1)
			w->extents++;
		w->next += ex.len;
		w->last = ex.start + ex.len - 1;
		w->held += ex.len;
		len -= ex.len;
	}
	return 0;
}

/*
 * The project's departures from ext4 that a test was written for
 * (docs/FIDELITY.md): a file keeps its first locality group, and continuity
 * (not size alone) chooses between the group PA and an inode PA.  The
 * default is ext4's behaviour.  Returns 0 or -errno.
 */
static inline int pa_lg_departures(struct mb_volume *vol)
{
	int err = mb_tunable_set(vol, "mb_lg_sticky", 1);

	return err ? err : mb_tunable_set(vol, "mb_lg_continuity", 1);
}

/* Free blocks in buddy terms: what mb_free_blocks() counts minus PA space. */
static inline uint64_t pa_buddy_free(struct mb_volume *vol)
{
	uint64_t sum = 0;

	for (uint32_t g = 0; g < mb_groups_count(vol); g++) {
		struct mb_group_stat st;

		if (mb_group_stat(vol, g, &st) == 0)
			sum += st.free;
	}
	return sum;
}

/* Group of physical block b. */
static inline uint32_t pa_group_of(struct mb_volume *vol, uint64_t b)
{
	struct mb_geometry geo;

	mb_volume_geometry(vol, &geo);
	return (uint32_t)((b - geo.first_data_block) / geo.blocks_per_group);
}

/*
 * Pins the calling thread to one CPU (CPU 0 if allowed), so that it uses
 * one locality group.  Returns the CPU, or -1 if pinning failed.
 */
static inline int pa_pin_one_cpu(void)
{
	cpu_set_t set, one;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -1;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		return sched_setaffinity(0, sizeof(one), &one) ? -1 : cpu;
	}
	return -1;
}

/*
 * pa_scenarios.c: writes 1000 small files (goal: start of group dir_goal_group,
 * UINT64_MAX for none) and asserts they pack into <= 2 groups and follow
 * each other; file sizes come from `seed`; `what` names the case in the printed figures.
 */
void small_files_packed(uint64_t dir_goal_group, uint64_t seed, const char *what);

/*
 * pa_scenarios.c: two large files sharing a stream slot; the first leaves
 * a `hole`-block hole at the volume's start; checks the second and later
 * allocations follow the stream, and that small files use the locality
 * group.
 */
void stream_scenario(uint32_t hole);

#endif
