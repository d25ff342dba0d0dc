/* SPDX-License-Identifier: MIT */
/*
 * test_pa_writers.c - sequential writers asking one block at a time end
 * with few extents thanks to normalization and inode preallocation: one
 * writer alone, and sixteen interleaved ones.
 */
#include "pa_util.h"

#include <string.h>

/* One writer, 1-block requests, on an empty volume; returns its extents. */
static int one_writer(const struct mb_geometry *geo, uint64_t blocks, uint64_t ino,
		      uint32_t flags, uint64_t *extents)
{
	struct mb_volume *vol;
	struct pa_writer w = { .flags = flags };
	int err = mb_volume_create(geo, &vol);

	if (err)
		return err;
	err = pa_lg_departures(vol); /* the 2-extent bound needs continuity */
	if (!err)
		err = mb_file_open(vol, ino, &w.file);
	while (!err && w.next < blocks)
		err = pa_write(vol, &w, 1);
	*extents = w.extents;
	if (!err && mb_check(vol, NULL, 0))
		err = -EUCLEAN;
	mb_volume_destroy(vol);
	return err;
}

/*
 * A file written block by block ends with at most 2 extents: its first
 * mb_stream_req blocks come from the locality-group PA, the rest from
 * inode PAs that each start where the previous one ended.  (Files whose
 * home group is also where their stream allocation lands get 3: see
 * test_pa_known_fail.c.)  This is the mb_lg_continuity departure: under
 * ext4's rule the file leaves the group PA at block 16 and its goal there
 * is taken, so it ends with 3.
 */
TEST(single_sequential_writer)
{
	static const struct {
		const char *name;
		struct mb_geometry geo;
		uint64_t blocks;
	} cases[] = {
		{ "4k", { 4096, 0, 262144, 0, 2, 0 }, 4096 },  /* 16 MiB file, 1 GiB volume */
		{ "1k", { 1024, 0, 262145, 1, 2, 0 }, 6144 },  /* 6 MiB file, 32 full groups */
		{ "64k", { 65536, 0, 16384, 0, 2, 0 }, 256 },  /* 16 MiB file */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t with_pa, without_pa;

		ASSERT_EQ_INT(one_writer(&cases[i].geo, cases[i].blocks, 12, 0, &with_pa), 0);
		ASSERT_EQ_INT(one_writer(&cases[i].geo, cases[i].blocks, 12, MB_HINT_NOPREALLOC,
					 &without_pa),
			      0);
		printf("single writer %s, %" PRIu64 " blocks: %" PRIu64
		       " extents with PAs, %" PRIu64 " with NOPREALLOC\n",
		       cases[i].name, cases[i].blocks, with_pa, without_pa);
		ASSERT_LE_U64(with_pa, 2);
	}
}

/*
 * Two writers on a one-group volume, interleaved: without PAs their goals
 * collide and each request is its own extent; with PAs each file keeps
 * one extent per normalization window past its locality-group prefix.
 */
static int two_writers(uint32_t flags, uint64_t *extents)
{
	const struct mb_geometry geo = { 4096, 0, 32768, 0, 2, 0 };
	struct pa_writer w[2] = { { .flags = flags }, { .flags = flags } };
	struct mb_volume *vol;
	int err = mb_volume_create(&geo, &vol);

	for (int i = 0; !err && i < 2; i++)
		err = mb_file_open(vol, 1 + (uint64_t)i, &w[i].file);
	for (int b = 0; !err && b < 1024; b++)
		for (int i = 0; !err && i < 2; i++)
			err = pa_write(vol, &w[i], 1);
	*extents = w[0].extents > w[1].extents ? w[0].extents : w[1].extents;
	if (!err && mb_check(vol, NULL, 0))
		err = -EUCLEAN;
	mb_volume_destroy(vol);
	return err;
}

TEST(pa_versus_noprealloc)
{
	uint64_t with_pa, without_pa;

	ASSERT_EQ_INT(two_writers(0, &with_pa), 0);
	ASSERT_EQ_INT(two_writers(MB_HINT_NOPREALLOC, &without_pa), 0);
	printf("two interleaved writers, 1024 blocks each: worst %" PRIu64
	       " extents with PAs, %" PRIu64 " with NOPREALLOC\n",
	       with_pa, without_pa);
	/* 16 prefix blocks, then the windows from 16 up to 1024 blocks: 6 */
	ASSERT_LE_U64(with_pa, 16 + 6);
	ASSERT_TRUE(without_pa > 4 * with_pa); /* the scenario does discriminate */
}

#define NWRITERS 16
#define FILE_BLOCKS 4096 /* 16 MiB at 4 KiB */
#define PREFIX 16	 /* mb_stream_req: blocks served by the locality group */

/*
 * Inode normalization windows a 16 MiB file passes through after its
 * locality-group prefix, at 4 KiB blocks (design doc 2.6): [16,32) in the
 * 128 KiB window, then 256K, 512K, 1M, the 2 MiB windows [256,512) and
 * [512,1024), the 4 MiB window [1024,2048), the 8 MiB one [2048,4096).
 */
#define INODE_WINDOWS 8

/*
 * Sixteen writers, round-robin, one block per request: past the
 * locality-group prefix each file has at most one extent per
 * normalization window it passed through.  (The bound on the whole file,
 * prefix included, is in test_pa_known_fail.c.)
 */
TEST(interleaved_sequential_writers)
{
	const struct mb_geometry geo = { 4096, 0, 262144, 0, 2, 0 }; /* 1 GiB */
	struct pa_writer w[NWRITERS];
	uint64_t prefix[NWRITERS];
	struct mb_volume *vol;
	uint64_t total = 0, worst_tail = 0;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < NWRITERS; i++)
		ASSERT_EQ_INT(mb_file_open(vol, 100 + (uint64_t)i, &w[i].file), 0);
	for (uint64_t b = 0; b < FILE_BLOCKS; b++) {
		for (int i = 0; i < NWRITERS; i++)
			ASSERT_EQ_INT(pa_write(vol, &w[i], 1), 0);
		if (b + 1 == PREFIX)
			for (int i = 0; i < NWRITERS; i++)
				prefix[i] = w[i].extents;
	}
	ASSERT_CHECK_CLEAN(vol);
	for (int i = 0; i < NWRITERS; i++) {
		uint64_t tail = w[i].extents - prefix[i];

		total += w[i].extents;
		if (tail > worst_tail)
			worst_tail = tail;
	}
	printf("16 interleaved writers, 16 MiB files: mean %.2f extents per file; past the "
	       "%d-block prefix at most %" PRIu64 " (windows %d)\n",
	       (double)total / NWRITERS, PREFIX, worst_tail, INODE_WINDOWS);
	ASSERT_LE_U64(worst_tail, INODE_WINDOWS);
	mb_volume_destroy(vol);
}
