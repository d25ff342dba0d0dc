/* SPDX-License-Identifier: MIT */
/*
 * test_pa_known_fail.c - fragmentation bounds of issue #3 that the
 * library misses today (registered DISABLED in CMakeLists.txt; run by
 * hand).  Each test says what goes wrong and where.
 */
#include "pa_util.h"

#include <string.h>

/*
 * Bound: 16 interleaved 1-block writers end with <= 12 extents per 16 MiB
 * file.  Misses it (24 each): the first mb_stream_req (16) blocks of every
 * file come from the one locality-group PA, which hands out its front
 * block to whichever writer asks next, so each file's first 16 blocks are
 * 16 separate extents; the 8 inode windows after that are one extent each.
 */
TEST(interleaved_writers_whole_file)
{
	const struct mb_geometry geo = { 4096, 0, 262144, 0, 2 };
	struct pa_writer w[16];
	struct mb_volume *vol;
	uint64_t worst = 0, total = 0;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 16; i++)
		ASSERT_EQ_INT(mb_file_open(vol, 100 + (uint64_t)i, &w[i].file), 0);
	for (int b = 0; b < 4096; b++)
		for (int i = 0; i < 16; i++)
			ASSERT_EQ_INT(pa_write(vol, &w[i], 1), 0);
	for (int i = 0; i < 16; i++) {
		total += w[i].extents;
		worst = w[i].extents > worst ? w[i].extents : worst;
	}
	printf("16 writers: mean %.2f, worst %" PRIu64 " extents per file\n", total / 16.0,
	       worst);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_LE_U64(worst, 12);
	mb_volume_destroy(vol);
}

