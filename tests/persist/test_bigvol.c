/* SPDX-License-Identifier: MIT */
/*
 * test_bigvol.c - a 16 TiB volume in a sparse file opens by reading the
 * superblock and the descriptor table only (O(groups x 32 bytes)); bitmaps
 * are read on first use.  Prints the open time.  Skips (77) when the file
 * system cannot hold a sparse file that large.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "mb_test_int.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

TEST(open_16tib_reads_descriptors_only)
{
	char path[] = "/tmp/mb_bigvol_XXXXXX";
	int fd = mkstemp(path);
	struct mb_geometry geo = { .block_size = 4096, .blocks_count = 1ULL << 32,
				   .reserved_per_group = 2048 };
	struct mb_open_opts o = { .commit_interval_s = 0 };
	struct mb_volume *vol;
	struct mb_dev *dev;

	ASSERT_TRUE(fd >= 0);
	close(fd);
	int err = mb_volume_format(path, &geo, NULL);
	if (err == -EFBIG) { /* ext4 caps files at 16 TiB - 4 KiB */
		geo.blocks_count--;
		err = mb_volume_format(path, &geo, NULL);
	}
	if (err) {
		unlink(path);
		fprintf(stderr, "cannot create a 16 TiB sparse file: %d\n", err);
		mb_test_skip("no sparse-file room");
	}
	ASSERT_EQ_INT(mb_dev_open_file(path, false, 0, &dev), 0);
	double t0 = now();
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &o, &vol), 0);
	double t1 = now();
	struct mb_volume_info info;
	mb_volume_info(vol, &info);
	uint64_t budget = MB_SB_SIZE + (uint64_t)info.groups * MB_DESC_SIZE + 4096;
	printf("16 TiB volume (%u groups, %llu blocks): open %.3f s, read %llu bytes "
	       "(descriptor table %u blocks)\n", info.groups,
	       (unsigned long long)geo.blocks_count, t1 - t0,
	       (unsigned long long)info.open_bytes_read, info.desc_blocks);
	ASSERT_EQ_U64(info.groups, 131072);
	ASSERT_LE_U64(info.open_bytes_read, budget);
	ASSERT_EQ_U64(info.groups_uninit, info.groups);

	/* one allocation far away loads (synthesizes) one group only */
	struct mb_request rq = { .goal = (1ULL << 32) - 100000, .len = 64,
				 .flags = MB_HINT_NOPREALLOC };
	struct mb_extent ex;
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_EQ_INT(mb_volume_close(vol), 0);

	/* reopen: still O(descriptors); the written bitmap is read on use */
	ASSERT_EQ_INT(mb_dev_open_file(path, false, 0, &dev), 0);
	t0 = now();
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &o, &vol), 0);
	t1 = now();
	mb_volume_info(vol, &info);
	printf("reopen after one commit: %.3f s, read %llu bytes\n", t1 - t0,
	       (unsigned long long)info.open_bytes_read);
	ASSERT_LE_U64(info.open_bytes_read, budget);
	ASSERT_EQ_U64(info.groups_uninit, info.groups - 1);
	ASSERT_EQ_INT(mb_free(vol, ex.start, ex.len), 0);
	ASSERT_TRUE(info.bytes_read + 4096 >= atomic_load(&dev->bytes_read));
	ASSERT_EQ_INT(mb_volume_close(vol), 0);
	unlink(path);
}
