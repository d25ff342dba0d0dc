/* SPDX-License-Identifier: MIT */
/*
 * pa_small.c - the small-files packing scenario, shared by
 * test_pa_small_files.c and test_pa_known_fail.c: NFILES files of 1-16
 * blocks written from one pinned thread, each closed after writing.
 */
#include "pa_util.h"

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
	const struct mb_geometry geo = { 4096, 0, 262144, 0, 2 }; /* 1 GiB, 8 groups */
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

