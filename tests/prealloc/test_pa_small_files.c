/* SPDX-License-Identifier: MIT */
/*
 * test_pa_small_files.c - small files share the locality group's PA and
 * land packed one after the other; closing files, mb_file_discard() and
 * mb_discard_all() give every unused preallocated block back.
 */
#include "pa_util.h"

#include <string.h>

/* With a shared goal (their directory's group) small files pack. */
TEST(small_files_packed_dir_goal)
{
	small_files_packed(3, mb_test_seed, "goal: their directory's group");
}

/* Without a goal: see test_pa_known_fail.c (small_files_packed_no_goal). */

/* Writes large (inode PA) and small (group PA) files; returns blocks held. */
static int write_mixed(struct mb_volume *vol, struct pa_writer *w, int n, uint64_t *held)
{
	*held = 0;
	for (int i = 0; i < n; i++) {
		int err = mb_file_open(vol, 50 + (uint64_t)i, &w[i].file);

		/* odd files: 5 blocks (small); even: 400 blocks, 1 at a time */
		for (uint32_t b = 0; !err && b < (i % 2 ? 5u : 400u); b++)
			err = pa_write(vol, &w[i], 1);
		if (err)
			return err;
		*held += w[i].held;
	}
	return 0;
}

/*
 * Unused PA space is free on disk (mb_free_blocks) but used in the buddy.
 * Discarding, closing and mb_discard_all() must return exactly that
 * space, and report how much they returned.
 */
TEST(closing_files_returns_pa_blocks)
{
	const struct mb_geometry geo = { 4096, 0, 262144, 0, 2, 0 };
	struct pa_writer w[8];
	struct mb_volume *vol;
	uint64_t held;

	memset(w, 0, sizeof(w));
	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	uint64_t free0 = mb_free_blocks(vol);

	ASSERT_EQ_U64(pa_buddy_free(vol), free0);
	ASSERT_EQ_INT(write_mixed(vol, w, 8, &held), 0);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_U64(mb_free_blocks(vol), free0 - held);
	uint64_t buddy = pa_buddy_free(vol);

	ASSERT_TRUE(buddy < free0 - held); /* PAs hold space */
	/* a discard returns what it frees, once; some file must own a PA (the
	   large ones outgrow the locality group's PA) */
	int64_t total = 0;

	for (int i = 0; i < 8; i++) {
		int64_t n = mb_file_discard(w[i].file);

		ASSERT_TRUE(n >= 0);
		ASSERT_EQ_U64(pa_buddy_free(vol), buddy + (uint64_t)n);
		ASSERT_EQ_INT(mb_file_discard(w[i].file), 0);
		buddy += (uint64_t)n;
		total += n;
	}
	ASSERT_TRUE(total > 0);
	ASSERT_EQ_U64(mb_free_blocks(vol), free0 - held);
	ASSERT_CHECK_CLEAN(vol);
	for (int i = 0; i < 8; i++)
		mb_file_close(w[i].file);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_U64(mb_free_blocks(vol), free0 - held);
	/* what is left is the locality group's PA: small files do not own it */
	buddy = pa_buddy_free(vol);
	int64_t lg = mb_discard_all(vol);

	printf("held %" PRIu64 ", file discard %" PRId64 ", locality-group PAs %" PRId64 "\n",
	       held, total, lg);
	ASSERT_TRUE(lg > 0);
	ASSERT_EQ_U64(buddy + (uint64_t)lg, free0 - held);
	ASSERT_EQ_U64(pa_buddy_free(vol), free0 - held);
	ASSERT_EQ_INT(mb_discard_all(vol), 0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* Files that never were small own only inode PAs: closing returns all. */
TEST(closing_large_files_returns_everything)
{
	const struct mb_geometry geo = { 4096, 0, 262144, 0, 2, 0 };
	struct pa_writer w[6];
	struct mb_volume *vol;
	uint64_t held = 0;

	memset(w, 0, sizeof(w));
	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	uint64_t free0 = mb_free_blocks(vol);

	for (int i = 0; i < 6; i++) {
		ASSERT_EQ_INT(mb_file_open(vol, 70 + (uint64_t)i, &w[i].file), 0);
		mb_file_set_size(w[i].file, 1000); /* an existing file being rewritten */
		for (int b = 0; b < 37 * (i + 1); b++) {
			struct mb_request rq = { .file = w[i].file, .logical = w[i].next,
						 .goal = MB_GOAL_NONE, .len = 1 };
			struct mb_extent ex;

			if (w[i].next)
				rq = (struct mb_request){ .file = w[i].file, .logical = w[i].next,
							  .goal = w[i].last + 1, .len = 1,
							  .flags = MB_HINT_TRY_GOAL,
							  .lleft = w[i].next - 1, .pleft = w[i].last };
			ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
			w[i].next++;
			w[i].last = ex.start;
			held++;
		}
	}
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_U64(mb_free_blocks(vol), free0 - held);
	ASSERT_TRUE(pa_buddy_free(vol) < free0 - held);
	for (int i = 0; i < 6; i++) {
		mb_file_close(w[i].file);
		ASSERT_CHECK_CLEAN(vol);
	}
	ASSERT_EQ_U64(pa_buddy_free(vol), free0 - held);
	ASSERT_EQ_U64(mb_free_blocks(vol), free0 - held);
	ASSERT_EQ_INT(mb_discard_all(vol), 0);
	mb_volume_destroy(vol);
}
