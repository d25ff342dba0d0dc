/* SPDX-License-Identifier: MIT */
/*
 * test_persist.c - persistent volumes on the memory backend: format/open
 * round trips, commit and replay, deferred frees per transaction, lazy
 * bitmap loading, read-only opens, the ENOSPC-forced commit, crc32c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "mb_test_int.h"

static const struct mb_geometry small_geo = {
	.block_size = 1024, .blocks_per_group = 256, .blocks_count = 16 * 256,
	.first_data_block = 0, .reserved_per_group = 24,
};
static const struct mb_open_opts no_thread = { .commit_interval_s = 0 };

/* A freshly formatted memory device. */
static struct mb_dev *fresh_dev(const struct mb_geometry *geo)
{
	struct mb_dev *dev;

	if (mb_dev_open_memory(NULL, geo->blocks_count * geo->block_size, false, &dev))
		return NULL;
	if (mb_volume_format_dev(dev, geo, NULL)) {
		mb_dev_close(dev);
		return NULL;
	}
	return dev;
}

/* A new device holding a copy of dev's current image. */
static struct mb_dev *copy_dev(struct mb_dev *dev)
{
	struct mb_dev *n;

	return mb_dev_open_memory(mb_dev_memory_data(dev), dev->size, false, &n) ? NULL : n;
}

static bool block_allocated(struct mb_volume *vol, uint64_t b)
{
	struct mb_group *grp = mb_group_at(vol, mb_block_group(vol, b));
	bool used;

	mb_lock(&grp->bb_lock);
	used = !mb_group_load_locked(vol, grp) && mb_test_bit(grp->bb_disk, mb_block_offset(vol, b));
	mb_unlock(&grp->bb_lock);
	return used;
}

TEST(crc32c_vectors)
{
	ASSERT_EQ_U64(mb_crc32c(0, "123456789", 9), 0xE3069283u);
	ASSERT_EQ_U64(mb_crc32c(mb_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
	ASSERT_EQ_U64(mb_crc32c(0, "", 0), 0);
	uint8_t zeros[32] = { 0 };
	ASSERT_EQ_U64(mb_crc32c(0, zeros, 32), 0x8A9136AAu);
}

TEST(format_open_close_roundtrip)
{
	struct mb_dev *dev = fresh_dev(&small_geo);
	struct mb_volume *vol;
	struct mb_volume_info info;
	struct mb_extent ex[8];

	ASSERT_TRUE(dev);
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0);
	mb_volume_info(vol, &info);
	ASSERT_TRUE(info.was_clean && !info.replayed && info.persistent);
	ASSERT_EQ_U64(info.groups_uninit, 16);
	uint64_t free0 = mb_free_blocks(vol);
	ASSERT_EQ_U64(free0, 16 * (256 - 24));
	for (int i = 0; i < 8; i++) {
		struct mb_request rq = { .goal = 300 * (uint64_t)i + 30, .len = 40,
					 .flags = MB_HINT_NOPREALLOC };
		ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex[i]), 0);
	}
	ASSERT_EQ_INT(mb_commit(vol), 0);
	ASSERT_EQ_INT(mb_free(vol, ex[3].start, ex[3].len), 0);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(mb_volume_close(vol), 0); /* commits, marks clean, closes dev */
}

/* The flex_bg size is checked, kept on disk and read back (rule 2's input). */
TEST(flex_bg_geometry_roundtrip)
{
	struct mb_geometry geo = small_geo, got;
	struct mb_volume *vol;

	geo.flex_bg = 3;
	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), -EINVAL);
	geo.flex_bg = 4;
	struct mb_dev *dev = fresh_dev(&geo);

	ASSERT_TRUE(dev);
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0);
	mb_volume_geometry(vol, &got);
	ASSERT_EQ_U64(got.flex_bg, 4);
	ASSERT_EQ_INT(mb_volume_close(vol), 0);
}

/* Frees after a commit's snapshot wait for the next commit. */
TEST(deferred_free_per_transaction)
{
	struct mb_dev *dev = fresh_dev(&small_geo);
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_request rq = { .goal = 1000, .len = 16, .flags = MB_HINT_NOPREALLOC };

	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_EQ_INT(mb_commit(vol), 0);
	ASSERT_EQ_INT(mb_free(vol, ex.start, ex.len), 0);
	ASSERT_EQ_U64(atomic_load(&vol->free_pending), 16);
	/* not reusable: a goal-only request at the freed block fails */
	struct mb_request again = { .goal = ex.start, .len = 16,
				    .flags = MB_HINT_NOPREALLOC | MB_HINT_GOAL_ONLY };
	struct mb_extent ex2;
	ASSERT_EQ_INT(mb_alloc(vol, &again, &ex2), -ENOSPC);
	ASSERT_EQ_INT(mb_commit(vol), 0);
	ASSERT_EQ_U64(atomic_load(&vol->free_pending), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &again, &ex2), 0);
	ASSERT_EQ_U64(ex2.start, ex.start);
	ASSERT_CHECK_CLEAN(vol);

	/* a free made between snapshot and release stays pending: simulate by
	   snapshotting the group by hand, freeing, then releasing */
	struct mb_group *grp = mb_group_at(vol, mb_block_group(vol, ex2.start));
	ASSERT_EQ_INT(mb_free(vol, ex2.start, 8), 0);
	mb_lock(&grp->bb_lock);
	ASSERT_EQ_U64(mb_commit_snapshot_pending_locked(vol, grp), 8);
	mb_unlock(&grp->bb_lock);
	ASSERT_EQ_INT(mb_free(vol, ex2.start + 8, 8), 0);
	mb_lock(&grp->bb_lock);
	ASSERT_EQ_U64(mb_commit_release_locked(vol, grp), 8);
	mb_unlock(&grp->bb_lock);
	ASSERT_EQ_U64(atomic_load(&vol->free_pending), 8);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(mb_commit(vol), 0);
	ASSERT_EQ_U64(atomic_load(&vol->free_pending), 0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* Committed state survives destroy (a "crash"); uncommitted does not. */
TEST(commit_then_crash_reopen)
{
	struct mb_dev *dev = fresh_dev(&small_geo);
	struct mb_volume *vol;
	struct mb_extent a, b;
	struct mb_request rq = { .goal = 2000, .len = 50, .flags = MB_HINT_NOPREALLOC };

	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &a), 0);
	ASSERT_EQ_INT(mb_commit(vol), 0);
	rq.goal = 3000;
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &b), 0);
	struct mb_dev *img = copy_dev(dev); /* power cut: b never committed */
	mb_volume_destroy(vol);

	ASSERT_EQ_INT(mb_volume_open_dev(img, &no_thread, &vol), 0);
	struct mb_volume_info info;
	mb_volume_info(vol, &info);
	ASSERT_TRUE(!info.was_clean);
	ASSERT_EQ_U64(info.seq, 1);
	ASSERT_TRUE(block_allocated(vol, a.start) && block_allocated(vol, a.start + a.len - 1));
	ASSERT_TRUE(!block_allocated(vol, b.start));
	ASSERT_EQ_U64(mb_free_blocks(vol), 16 * (256 - 24) - 50);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(mb_volume_close(vol), 0);
}

/* A committed transaction whose checkpoint never landed is replayed. */
TEST(replay_uncheckpointed)
{
	struct mb_dev *dev;
	struct mb_volume *vol;
	struct mb_extent a;
	struct mb_request rq = { .goal = 700, .len = 30, .flags = MB_HINT_NOPREALLOC };

	ASSERT_EQ_INT(mb_dev_crash_open(NULL, small_geo.blocks_count * small_geo.block_size, &dev), 0);
	ASSERT_EQ_INT(mb_volume_format_dev(dev, &small_geo, NULL), 0);
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &a), 0);
	/* journal: header + sb + desc + bitmap + commit = 5 writes, then the
	   first checkpoint write crashes and every unsynced write is dropped */
	mb_dev_crash_arm(dev, 6);
	ASSERT_TRUE(mb_commit(vol) < 0);
	ASSERT_TRUE(mb_dev_crashed(dev));
	struct mb_dev *img;
	struct mb_crash_fates f;
	ASSERT_EQ_INT(mb_dev_crash_image(dev, 1, &f, &img), 0);
	ASSERT_EQ_U64(f.kept + f.dropped + f.torn, 1);
	mb_volume_destroy(vol);
	ASSERT_EQ_INT(mb_volume_open_dev(img, &no_thread, &vol), 0);
	struct mb_volume_info info;
	mb_volume_info(vol, &info);
	ASSERT_TRUE(info.replayed);
	ASSERT_TRUE(block_allocated(vol, a.start));
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(mb_volume_verify(vol, NULL, 0), 0);
	ASSERT_EQ_INT(mb_volume_close(vol), 0);
}

/* Only the superblock and descriptor table are read at open. */
TEST(lazy_loading_reads)
{
	struct mb_dev *dev = fresh_dev(&small_geo);
	struct mb_volume *vol;
	struct mb_extent ex;

	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0);
	for (int g = 0; g < 16; g += 3) {
		struct mb_request rq = { .goal = 256 * (uint64_t)g + 100, .len = 5,
					 .flags = MB_HINT_NOPREALLOC | MB_HINT_GOAL_ONLY };
		ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	}
	ASSERT_EQ_INT(mb_commit(vol), 0);
	struct mb_dev *img = copy_dev(dev);
	mb_volume_destroy(vol);

	ASSERT_EQ_INT(mb_volume_open_dev(img, &no_thread, &vol), 0);
	struct mb_volume_info info;
	mb_volume_info(vol, &info);
	/* superblock sector + 1 descriptor block + journal (unclean: header,
	   5 data blocks... at most the journal) -- never a bitmap */
	ASSERT_LE_U64(info.open_bytes_read, MB_SB_SIZE + 1024 + (uint64_t)info.journal_blocks * 1024);
	uint64_t before = atomic_load(&img->reads);
	ASSERT_TRUE(block_allocated(vol, 3 * 256 + 100));
	ASSERT_EQ_U64(atomic_load(&img->reads), before + 1); /* one bitmap block */
	ASSERT_TRUE(!block_allocated(vol, 1 * 256 + 100));  /* BLOCK_UNINIT: no read */
	ASSERT_EQ_U64(atomic_load(&img->reads), before + 1);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(mb_volume_close(vol), 0);
}

TEST(read_only_open)
{
	struct mb_dev *dev = fresh_dev(&small_geo);
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_request rq = { .goal = 900, .len = 10, .flags = MB_HINT_NOPREALLOC };
	struct mb_open_opts ro = { .read_only = 1 };

	struct mb_dev *img;

	mb_dev_close(dev);
	/* commit to the journal only: power cut at the first checkpoint write */
	ASSERT_EQ_INT(mb_dev_crash_open(NULL, small_geo.blocks_count * 1024, &dev), 0);
	ASSERT_EQ_INT(mb_volume_format_dev(dev, &small_geo, NULL), 0);
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	mb_dev_crash_arm(dev, 6);
	ASSERT_TRUE(mb_commit(vol) < 0);
	ASSERT_EQ_INT(mb_dev_crash_image(dev, 1, NULL, &img), 0);
	mb_volume_destroy(vol);

	ASSERT_EQ_INT(mb_volume_open_dev(img, &ro, &vol), 0);
	struct mb_volume_info info;
	mb_volume_info(vol, &info);
	ASSERT_TRUE(info.replayed && info.read_only);
	ASSERT_TRUE(block_allocated(vol, ex.start)); /* seen through the overlay */
	ASSERT_EQ_INT(mb_free(vol, ex.start, 1), -EROFS);
	ASSERT_EQ_INT(mb_commit(vol), -EROFS);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_U64(info.bytes_written, 0);
	ASSERT_EQ_INT(mb_volume_close(vol), 0);
}

/* A full volume whose only space is pending frees: the allocator commits. */
TEST(enospc_forces_commit)
{
	struct mb_geometry geo = { .block_size = 1024, .blocks_per_group = 64,
				   .blocks_count = 4 * 64, .reserved_per_group = 12 };
	struct mb_dev *dev = fresh_dev(&geo);
	struct mb_volume *vol;
	struct mb_extent ex;
	uint64_t got = 0;

	ASSERT_TRUE(dev);
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0);
	uint64_t total = mb_free_blocks(vol);
	for (;;) {
		struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 4, .flags = MB_HINT_NOPREALLOC };
		int err = mb_alloc(vol, &rq, &ex);
		if (err == -ENOSPC)
			break;
		ASSERT_EQ_INT(err, 0);
		got += ex.len;
	}
	ASSERT_EQ_U64(got, total);
	ASSERT_EQ_INT(mb_free(vol, ex.start, ex.len), 0);
	uint64_t syncs = atomic_load(&dev->syncs);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = ex.len, .flags = MB_HINT_NOPREALLOC };
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_TRUE(atomic_load(&dev->syncs) > syncs); /* a durable commit happened */
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* The background thread commits on its own. */
TEST(background_commit)
{
	struct mb_dev *dev = fresh_dev(&small_geo);
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_open_opts o = { .commit_interval_s = 1 };
	struct mb_request rq = { .goal = 500, .len = 10, .flags = MB_HINT_NOPREALLOC };

	ASSERT_EQ_INT(mb_volume_open_dev(dev, &o, &vol), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	struct mb_volume_info info;
	for (int i = 0; i < 40; i++) {
		mb_volume_info(vol, &info);
		if (info.seq)
			break;
		usleep(100 * 1000);
	}
	ASSERT_EQ_U64(info.seq, 1);
	ASSERT_EQ_INT(mb_volume_close(vol), 0);
}

/* A commit bigger than the journal is split into transactions. */
TEST(split_commit)
{
	struct mb_dev *dev;
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_open_opts fmt = { .journal_blocks = 8 };

	ASSERT_EQ_INT(mb_dev_open_memory(NULL, small_geo.blocks_count * 1024, false, &dev), 0);
	ASSERT_EQ_INT(mb_volume_format_dev(dev, &small_geo, &fmt), 0);
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0);
	for (int g = 0; g < 16; g++) {
		struct mb_request rq = { .goal = 256 * (uint64_t)g + 100, .len = 3,
					 .flags = MB_HINT_NOPREALLOC | MB_HINT_GOAL_ONLY };
		ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	}
	ASSERT_EQ_INT(mb_commit(vol), 0);
	struct mb_volume_info info;
	mb_volume_info(vol, &info);
	ASSERT_EQ_U64(info.journal_capacity, 6);
	ASSERT_EQ_U64(info.seq, 4); /* 16 groups, 4 per transaction (sb + desc + 4) */
	struct mb_dev *img = copy_dev(dev);
	mb_volume_destroy(vol);
	ASSERT_EQ_INT(mb_volume_open_dev(img, &no_thread, &vol), 0);
	for (int g = 0; g < 16; g++)
		ASSERT_TRUE(block_allocated(vol, 256 * (uint64_t)g + 100));
	ASSERT_EQ_INT(mb_volume_verify(vol, NULL, 0), 0);
	ASSERT_EQ_INT(mb_volume_close(vol), 0);
}
