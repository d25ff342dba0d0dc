/* SPDX-License-Identifier: MIT */
/*
 * pa_scenarios.c - scenarios shared by the passing tests and by
 * test_pa_known_fail.c: small files packing into the locality group, and
 * large files sharing a stream goal.
 */
#include "pa_util.h"

#include "mb_test_int.h"

#define NFILES 1000

struct placed {
	uint64_t first, end; /* first physical block, last + 1 */
	uint64_t extents;
};

/* Writes NFILES small files from this thread, each closed after writing. */
static int write_small_files(struct mb_volume *vol, uint64_t goal_of_dir, uint64_t seed,
			     struct placed *p)
{
	uint64_t rng = seed;

	for (int i = 0; i < NFILES; i++) {
		struct pa_writer w = { .goal0 = goal_of_dir == MB_GOAL_NONE ? 0 : goal_of_dir };
		uint32_t size = 1 + (uint32_t)mb_rand_below(&rng, 16);
		int err = mb_file_open(vol, 1000 + (uint64_t)i, &w.file);

		if (err)
			return err;
		while (!err && w.next < size) {
			uint32_t chunk = 1 + (uint32_t)mb_rand_below(&rng, 4);

			if (chunk > size - w.next)
				chunk = size - (uint32_t)w.next;
			err = pa_write(vol, &w, chunk);
		}
		mb_file_close(w.file);
		if (err)
			return err;
		p[i] = (struct placed){ w.first, w.last + 1, w.extents };
	}
	return 0;
}

/* Share of files in the two most used groups, and of adjacent pairs, in %. */
static void packing(struct mb_volume *vol, const struct placed *p, double *in_two,
		    double *adjacent, uint64_t *one_extent)
{
	uint32_t ngroups = mb_groups_count(vol);
	uint32_t *count = calloc(ngroups, sizeof(*count));
	uint32_t top[2] = { 0, 0 }, adj = 0;

	*one_extent = 0;
	for (int i = 0; i < NFILES; i++) {
		count[pa_group_of(vol, p[i].first)]++;
		*one_extent += p[i].extents == 1;
		adj += i && p[i].first == p[i - 1].end;
	}
	for (uint32_t g = 0; g < ngroups; g++) {
		if (count[g] > top[0]) {
			top[1] = top[0];
			top[0] = count[g];
		} else if (count[g] > top[1]) {
			top[1] = count[g];
		}
	}
	free(count);
	*in_two = 100.0 * (top[0] + top[1]) / NFILES;
	*adjacent = 100.0 * adj / (NFILES - 1);
}

void small_files_packed(uint64_t dir_goal_group, uint64_t seed, const char *what)
{
	const struct mb_geometry geo = { 4096, 0, 262144, 0, 2, 0 }; /* 1 GiB, 8 groups */
	struct placed *p = calloc(NFILES, sizeof(*p));
	struct mb_volume *vol;
	double in_two, adjacent;
	uint64_t one_extent;
	int cpu = pa_pin_one_cpu();

	ASSERT_TRUE(p != NULL);
	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	/* ext4 gives a new file its inode's group as goal; a directory's
	   files share one */
	uint64_t goal = dir_goal_group == UINT64_MAX ? MB_GOAL_NONE
						      : dir_goal_group * 32768 + 2;
	ASSERT_EQ_INT(write_small_files(vol, goal, seed, p), 0);
	ASSERT_CHECK_CLEAN(vol);
	packing(vol, p, &in_two, &adjacent, &one_extent);
	printf("%d small files (%s, seed %" PRIu64 ", cpu %d): %.1f%% in the two busiest groups, "
	       "%.1f%% of consecutive files adjacent, %" PRIu64 " in one extent\n",
	       NFILES, what, seed, cpu, in_two, adjacent, one_extent);
	free(p);
	ASSERT_TRUE(in_two >= 90.0);
	ASSERT_TRUE(adjacent >= 90.0);
	mb_volume_destroy(vol);
}


#define SGEO_BPG 2048 /* 8 MiB groups at 4 KiB */

/* Writes `blocks` in 512-block requests, no goal; records the groups. */
static int stream_write(struct mb_volume *vol, struct pa_writer *w, uint64_t blocks,
			uint32_t *first_group, uint32_t *last_group, bool *monotonic)
{
	*monotonic = true;
	for (uint64_t end = w->next + blocks; w->next < end;) {
		/* window-aligned requests need no neighbour to clip against */
		struct mb_request rq = { .file = w->file, .logical = w->next, .goal = MB_GOAL_NONE,
					 .len = 512 };
		struct mb_extent ex;
		int err = mb_alloc(vol, &rq, &ex);

		if (err)
			return err;
		uint32_t g = pa_group_of(vol, ex.start);

		if (w->next == end - blocks)
			*first_group = g;
		else if (g < *last_group)
			*monotonic = false;
		*last_group = g;
		if (!w->held)
			w->first = ex.start;
		w->held += ex.len;
		w->next += ex.len;
	}
	return 0;
}

void stream_scenario(uint32_t hole)
{
	const struct mb_geometry geo = { 4096, SGEO_BPG, 262144, 0, 0, 0 }; /* 128 groups */
	struct pa_writer a = { 0 }, b = { 0 };
	struct mb_file *small[2];
	struct mb_extent sx[2];
	struct mb_volume *vol;
	uint32_t a0, a1, b0, b1, c0, c1;
	bool mono;

	/* one CPU from the start: the library caches the caller's CPU for up to
	   64 uses, so a pin taken mid-test may not be seen by the next request */
	ASSERT_TRUE(pa_pin_one_cpu() >= 0);
	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	uint64_t ino_b = 100 + vol->nr_stream_goals; /* same stream slot as 100 */

	ASSERT_EQ_INT(mb_file_open(vol, 100, &a.file), 0);
	ASSERT_EQ_INT(mb_file_open(vol, ino_b, &b.file), 0);
	ASSERT_EQ_INT(stream_write(vol, &a, 6144, &a0, &a1, &mono), 0); /* 24 MiB */
	ASSERT_TRUE(mono);
	ASSERT_TRUE(a1 > a0);
	/* A's first blocks go away: a hole before the stream's position */
	ASSERT_EQ_U64(a.first, 0);
	ASSERT_EQ_INT(mb_free(vol, a.first, hole), 0);
	ASSERT_EQ_INT(stream_write(vol, &b, 2048, &b0, &b1, &mono), 0);
	printf("file A: groups %u..%u; file B (same stream slot): %u..%u; %u-block hole in group "
	       "%u\n",
	       a0, a1, b0, b1, hole, pa_group_of(vol, a.first));
	ASSERT_TRUE(mono);
	ASSERT_TRUE(b0 >= a1);
	ASSERT_TRUE(b0 <= a1 + 1);

	/* small files: one locality-group PA, packed, wherever it is (one CPU,
	   pinned above: a migration between the two would mean another group's PA) */
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_stats", 1), 0);
	for (int i = 0; i < 2; i++) {
		struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 4 };

		ASSERT_EQ_INT(mb_file_open(vol, 9000 + (uint64_t)i * 7, &small[i]), 0);
		rq.file = small[i];
		mb_stats_reset(vol);
		ASSERT_EQ_INT(mb_alloc(vol, &rq, &sx[i]), 0);
		struct mb_stats st;

		mb_stats_get(vol, &st);
		ASSERT_EQ_U64(st.pa_hits, i); /* the second is served from the group PA */
	}
	ASSERT_EQ_U64(sx[1].start, sx[0].start + 4);
	printf("small files: group %u\n", pa_group_of(vol, sx[0].start));
	/* the stream goes on where B left it */
	ASSERT_EQ_INT(stream_write(vol, &a, 1024, &c0, &c1, &mono), 0);
	printf("file A again: groups %u..%u\n", c0, c1);
	ASSERT_TRUE(c0 >= b1 && c0 <= b1 + 1);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}
