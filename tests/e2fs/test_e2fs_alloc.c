/* SPDX-License-Identifier: MIT */
/*
 * test_e2fs_alloc.c - mballoc as libext2fs's allocator on mke2fs images:
 * files written, fallocated and removed through libext2fs get their blocks
 * from mballoc (its counters say so), every free libext2fs makes reaches
 * mballoc (free counts and bitmaps equal after every operation), metadata
 * takes the metadata path, a full image answers ENOSPC cleanly, and the
 * image is e2fsck-clean after detach.  Skips (77) without libext2fs or
 * mke2fs.
 */
#include "harness.h"

#ifdef MB_HAVE_EXT2FS
#include "e2fs_testlib.h"

#define MB_KIB 1024ULL

/* Writes a file as a copying program would: begin (final size, closed:
 * writeback after close), 64 KiB writes, end. */
static ext2_ino_t mb_t_copy(ext2_filsys fs, struct mb_e2fs *e, const char *name, uint64_t bytes,
			    errcode_t *err)
{
	ext2_ino_t ino = mb_t_create(fs, name);

	*err = ino ? 0 : EXT2_ET_INODE_ALLOC_FAIL;
	if (!ino)
		return 0;
	mb_e2fs_file_begin(e, ino, (bytes + fs->blocksize - 1) / fs->blocksize,
			   MB_E2FS_FILE_CLOSED);
	*err = mb_t_write(fs, ino, bytes, 64 * 1024);
	mb_e2fs_file_end(e, ino);
	return ino;
}

TEST(files_written_by_mballoc)
{
	const char *img = mb_t_mkfs("write.img", "-t ext4", "64M");
	ext2_filsys fs = mb_t_open(img, 1);
	struct mb_e2fs_stats st;
	struct mb_stats ms;
	struct mb_e2fs *e;
	uint64_t data = 0;
	char name[32];
	errcode_t err;

	ASSERT_TRUE(fs);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
	ASSERT_EQ_INT(mb_tunable_set(mb_e2fs_volume(e), "mb_stats", 1), 0);
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "attach"), 0);
	for (int i = 0; i < 40; i++) {
		uint64_t bytes = (i % 5 == 0) ? 1024 * MB_KIB : (uint64_t)(i + 1) * 7 * MB_KIB;
		ext2_ino_t ino;

		snprintf(name, sizeof(name), "file%02d", i);
		ino = mb_t_copy(fs, e, name, bytes, &err);
		ASSERT_TRUE(ino);
		ASSERT_EQ_INT(err, 0);
		data += (bytes + fs->blocksize - 1) / fs->blocksize;
		ASSERT_EQ_INT(mb_t_in_sync(fs, e, name), 0);
		if (bytes == 1024 * MB_KIB) /* normalized to one window: one extent */
			ASSERT_EQ_INT(mb_t_extents(fs, ino), 1);
	}
	ASSERT_EQ_INT(mb_e2fs_stats_get(e, &st), 0);
	ASSERT_EQ_U64(st.data_blocks, data); /* every data block came from mballoc */
	ASSERT_EQ_U64(st.foreign_blocks, 0);
	ASSERT_EQ_U64(st.desync, 0);
	ASSERT_EQ_U64(st.files, 0);
	mb_stats_get(mb_e2fs_volume(e), &ms);
	ASSERT_TRUE(ms.preallocated > 0); /* normalization made inode/group PAs */
	ASSERT_TRUE(ms.pa_hits > 0);	  /* and later blocks came out of them */
	ASSERT_CHECK_CLEAN(mb_e2fs_volume(e));
	ASSERT_EQ_INT(mb_e2fs_detach(e), 0);
	ASSERT_EQ_INT(ext2fs_close_free(&fs), 0);
	ASSERT_EQ_INT(mb_t_fsck(img), 0);
}

/* Directory blocks and extent tree blocks take the metadata path. */
TEST(metadata_path)
{
	const char *img = mb_t_mkfs("meta.img", "-t ext4", "64M");
	ext2_filsys fs = mb_t_open(img, 1);
	struct mb_e2fs_stats st;
	struct mb_e2fs *e;
	ext2_ino_t ino;
	char name[64];

	ASSERT_TRUE(fs);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
	/* enough long names to grow the root directory by several blocks */
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "a-rather-long-file-name-to-fill-blocks-%04d", i);
		ASSERT_TRUE(mb_t_create(fs, name));
	}
	ASSERT_EQ_INT(mb_e2fs_stats_get(e, &st), 0);
	ASSERT_TRUE(st.meta_blocks >= 3);
	ASSERT_EQ_U64(st.data_blocks, 0);
	/* a file of many one-block extents (every other block punched) needs
	   extent tree blocks: metadata too */
	ino = mb_t_create(fs, "holey");
	ASSERT_TRUE(ino);
	ASSERT_EQ_INT(mb_e2fs_file_begin(e, ino, 2048, 0), 0);
	ASSERT_EQ_INT(mb_t_write(fs, ino, 2048ULL * fs->blocksize, 4096), 0);
	for (blk64_t b = 1; b < 2048; b += 2) {
		struct ext2_inode inode;

		ASSERT_EQ_INT(ext2fs_read_inode(fs, ino, &inode), 0);
		ASSERT_EQ_INT(ext2fs_punch(fs, ino, &inode, NULL, b, b), 0);
	}
	ASSERT_EQ_INT(mb_e2fs_file_end(e, ino), 0);
	uint64_t before = st.meta_blocks;

	ASSERT_EQ_INT(mb_e2fs_stats_get(e, &st), 0);
	ASSERT_TRUE(st.meta_blocks > before); /* extent tree leaves */
	ASSERT_TRUE(st.freed_blocks >= 1024); /* the punched blocks reached mballoc */
	ASSERT_EQ_INT(mb_t_extents(fs, ino), 1024);
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "punched"), 0);
	ASSERT_EQ_INT(mb_e2fs_detach(e), 0);
	ASSERT_EQ_INT(ext2fs_close_free(&fs), 0);
	ASSERT_EQ_INT(mb_t_fsck(img), 0);
}

/* Removing files (punch + unlink) frees through the hooks; fallocate
 * allocates through new_range; the counts agree after each step. */
TEST(remove_and_fallocate)
{
	const char *img = mb_t_mkfs("rm.img", "-t ext4", "64M");
	ext2_filsys fs = mb_t_open(img, 1);
	ext2_ino_t inos[24];
	struct mb_e2fs_stats st;
	struct mb_e2fs *e;
	char name[32];
	errcode_t err;

	ASSERT_TRUE(fs);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
	for (int i = 0; i < 24; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		inos[i] = mb_t_copy(fs, e, name, (uint64_t)(i + 1) * 150 * MB_KIB, &err);
		ASSERT_TRUE(inos[i]);
		ASSERT_EQ_INT(err, 0);
	}
	for (int i = 0; i < 24; i += 3) {
		snprintf(name, sizeof(name), "f%d", i);
		ASSERT_EQ_INT(mb_t_remove(fs, name, inos[i]), 0);
		ASSERT_EQ_INT(mb_t_in_sync(fs, e, name), 0);
	}
	ASSERT_EQ_INT(mb_e2fs_stats_get(e, &st), 0);
	ASSERT_TRUE(st.freed_blocks > 0);
	/* fallocate 8 MiB into a new file: range allocations, cursor-driven */
	ext2_ino_t ino = mb_t_create(fs, "falloc");
	struct ext2_inode inode;
	uint64_t len = 8 * 1024 * MB_KIB / fs->blocksize, before = st.data_blocks;

	ASSERT_TRUE(ino);
	ASSERT_EQ_INT(mb_e2fs_file_begin(e, ino, len, MB_E2FS_FILE_CLOSED), 0);
	ASSERT_EQ_INT(ext2fs_read_inode(fs, ino, &inode), 0);
	ASSERT_EQ_INT(ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_INIT, ino, &inode, ~0ULL, 0, len),
		      0);
	ASSERT_EQ_INT(ext2fs_inode_size_set(fs, &inode, len * fs->blocksize), 0);
	ASSERT_EQ_INT(ext2fs_write_inode(fs, ino, &inode), 0);
	ASSERT_EQ_INT(mb_e2fs_file_end(e, ino), 0);
	ASSERT_EQ_INT(mb_e2fs_stats_get(e, &st), 0);
	ASSERT_EQ_U64(st.data_blocks - before, len);
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "fallocate"), 0);
	ASSERT_EQ_U64(st.desync, 0);
	ASSERT_EQ_INT(mb_e2fs_detach(e), 0);
	ASSERT_EQ_INT(ext2fs_close_free(&fs), 0);
	ASSERT_EQ_INT(mb_t_fsck(img), 0);
}

/* A full image: libext2fs gets EXT2_ET_BLOCK_ALLOC_FAIL from the hook, and
 * everything stays consistent (after the partial file is removed). */
TEST(full_image_enospc)
{
	const char *img = mb_t_mkfs("full.img", "-t ext4", "8M");
	ext2_filsys fs = mb_t_open(img, 1);
	struct mb_e2fs_stats st;
	struct mb_e2fs *e;
	errcode_t err = 0;
	char name[32];
	int i;

	ASSERT_TRUE(fs);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
	for (i = 0; i < 100 && !err; i++) {
		snprintf(name, sizeof(name), "big%d", i);
		ASSERT_TRUE(mb_t_copy(fs, e, name, 1024 * MB_KIB, &err));
	}
	ASSERT_EQ_INT(err, EXT2_ET_BLOCK_ALLOC_FAIL);
	ASSERT_EQ_INT(mb_e2fs_stats_get(e, &st), 0);
	ASSERT_TRUE(st.enospc > 0);
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "full"), 0);
	/* full for data: what is left is the metadata reserve (a split may
	   have dipped into it), and the held block */
	ASSERT_TRUE(ext2fs_free_blocks_count(fs->super) <= st.resv_blocks + st.held_blocks);
	ASSERT_TRUE(ext2fs_free_blocks_count(fs->super) + 12 >= st.resv_blocks);
	/* the partial last file goes; its blocks come back to both */
	ext2_ino_t ino;

	ASSERT_EQ_INT(ext2fs_lookup(fs, EXT2_ROOT_INO, name, strlen(name), NULL, &ino), 0);
	ASSERT_EQ_INT(mb_t_remove(fs, name, ino), 0);
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "removed"), 0);
	ASSERT_EQ_INT(mb_e2fs_detach(e), 0);
	ASSERT_EQ_INT(ext2fs_close_free(&fs), 0);
	ASSERT_EQ_INT(mb_t_fsck(img), 0);
}

/* Reattaching after a detach starts from what the first one left. */
TEST(detach_reattach)
{
	const char *img = mb_t_mkfs("re.img", "-t ext4", "32M");
	ext2_filsys fs = mb_t_open(img, 1);
	struct mb_e2fs *e;
	errcode_t err;

	ASSERT_TRUE(fs);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
	ASSERT_TRUE(mb_t_copy(fs, e, "one", 500 * MB_KIB, &err));
	ASSERT_EQ_INT(mb_e2fs_detach(e), 0);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "reattach"), 0);
	ASSERT_TRUE(mb_t_copy(fs, e, "two", 500 * MB_KIB, &err));
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "two"), 0);
	ASSERT_EQ_INT(mb_e2fs_detach(e), 0);
	ASSERT_EQ_INT(ext2fs_close_free(&fs), 0);
	ASSERT_EQ_INT(mb_t_fsck(img), 0);
}

/* Large files, written as writeback after close would: each one's windows
 * continue the last one physically, so a file is a few extents however
 * large; both block sizes mke2fs picks. */
TEST(large_files_few_extents)
{
	static const struct {
		const char *opts, *size;
		uint64_t bytes;
	} cases[] = {
	    {"-t ext4 -b 4096", "256M", 60 * 1024 * MB_KIB},
	    {"-t ext4 -b 1024", "64M", 16 * 1024 * MB_KIB},
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const char *img = mb_t_mkfs("large.img", cases[c].opts, cases[c].size);
		ext2_filsys fs = mb_t_open(img, 1);
		struct mb_e2fs *e;
		errcode_t err;
		char name[16];

		ASSERT_TRUE(fs);
		ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
		for (int i = 0; i < 3; i++) {
			snprintf(name, sizeof(name), "large%d", i);
			ext2_ino_t ino = mb_t_copy(fs, e, name, cases[c].bytes, &err);

			ASSERT_TRUE(ino);
			ASSERT_EQ_INT(err, 0);
			int n = mb_t_extents(fs, ino);

			printf("%s: %s %d extents\n", cases[c].opts, name, n);
			/* per-block placement would give thousands */
			ASSERT_TRUE(n >= 1 && n <= (c == 0 ? 3 : 8));
		}
		ASSERT_EQ_INT(mb_t_in_sync(fs, e, "large"), 0);
		ASSERT_EQ_INT(mb_e2fs_detach(e), 0);
		ASSERT_EQ_INT(ext2fs_close_free(&fs), 0);
		ASSERT_EQ_INT(mb_t_fsck(img), 0);
	}
}

/* Fallocates len blocks at lblk of ino (begun as a closed file of size
 * blocks) as a copying program would; 0 or libext2fs's error. */
static errcode_t mb_t_falloc(ext2_filsys fs, struct mb_e2fs *e, ext2_ino_t ino, uint64_t lblk,
			     uint64_t len, uint64_t size)
{
	struct ext2_inode inode;
	errcode_t err;

	mb_e2fs_file_begin(e, ino, size, MB_E2FS_FILE_CLOSED);
	mb_e2fs_file_seek(e, ino, lblk);
	if ((err = ext2fs_read_inode(fs, ino, &inode)))
		return err;
	err = ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_INIT, ino, &inode, ~0ULL, lblk, len);
	if (EXT2_I_SIZE(&inode) < size * fs->blocksize)
		ext2fs_inode_size_set(fs, &inode, size * fs->blocksize);
	ext2fs_write_inode(fs, ino, &inode);
	return err;
}

/*
 * Aging: create files of random sizes (some fallocated), delete a third,
 * create again until ENOSPC; mballoc and the file system agree after every
 * operation and the image is clean at the end.
 */
static void mb_t_aging(uint64_t seed)
{
	const char *img = mb_t_mkfs("aging.img", "-t ext4", "48M");
	ext2_filsys fs = mb_t_open(img, 1);
	uint64_t rng = seed;
	static ext2_ino_t inos[1200];
	struct mb_e2fs_stats st;
	struct mb_e2fs *e;
	int n = 0, full = 0;
	char name[32];
	errcode_t err = 0;

	memset(inos, 0, sizeof(inos));
	ASSERT_TRUE(fs);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
	for (int round = 0; round < 3; round++) {
		for (err = 0; !err && n < 1200; n++) {
			uint64_t bytes =
			    1 + mb_rand_below(&rng,
					      mb_rand_below(&rng, 4) ? 64 * MB_KIB : 2048 * MB_KIB);
			uint64_t len = (bytes + fs->blocksize - 1) / fs->blocksize;

			snprintf(name, sizeof(name), "f%04d", n);
			if (mb_rand_below(&rng, 5) == 0) { /* fallocate */
				ASSERT_TRUE(inos[n] = mb_t_create(fs, name));
				err = mb_t_falloc(fs, e, inos[n], 0, len, len);
				mb_e2fs_file_end(e, inos[n]);
			} else {
				inos[n] = mb_t_copy(fs, e, name, bytes, &err);
				ASSERT_TRUE(inos[n]);
			}
			ASSERT_EQ_INT(mb_t_in_sync(fs, e, name), 0);
		}
		full += err == EXT2_ET_BLOCK_ALLOC_FAIL;
		for (int i = round; i < n; i += 3) { /* delete a third */
			if (!inos[i])
				continue;
			snprintf(name, sizeof(name), "f%04d", i);
			/* with 1.47.0 this needs the held last block (punch) */
			ASSERT_EQ_INT(mb_t_remove(fs, name, inos[i]), 0);
			inos[i] = 0;
			ASSERT_EQ_INT(mb_t_in_sync(fs, e, name), 0);
		}
	}
	ASSERT_EQ_INT(mb_e2fs_stats_get(e, &st), 0);
	ASSERT_TRUE(full >= 2); /* the image did fill up */
	if (st.held_blocks)	/* and never to its last block (punch bug) */
		ASSERT_TRUE(
		    !ext2fs_test_block_bitmap2(fs->block_map, ext2fs_blocks_count(fs->super) - 1));
	ASSERT_EQ_U64(st.desync, 0);
	ASSERT_TRUE(st.freed_blocks > 0 && st.data_blocks > 0);
	ASSERT_CHECK_CLEAN(mb_e2fs_volume(e));
	ASSERT_EQ_INT(mb_e2fs_detach(e), 0);
	ASSERT_EQ_INT(ext2fs_close_free(&fs), 0);
	ASSERT_EQ_INT(mb_t_fsck(img), 0);
}

/* Seeded (--seed). */
TEST(aging_cycles)
{
	mb_t_aging(mb_test_seed);
}

/*
 * The seed that found the metadata reserve missing: round 1's last file,
 * fallocated, got the last free block for an extent whose insert had to
 * split a full leaf and found no block; libext2fs kept the block marked
 * and counted in i_blocks, mapped by nothing (e2fsck: "Inode 209,
 * i_blocks is 3458, should be 3456", "Block bitmap differences: -9728").
 */
TEST(aging_seed_full_leaf_at_enospc)
{
	mb_t_aging(10168695572638545460ULL);
}

/*
 * The same built on purpose: a file whose in-inode extent root is full
 * (4 extents), an image with one free block left, then one more extent
 * for that file.  The insert must split the root into a leaf block, so
 * data may not take the last blocks: ENOSPC, nothing leaked, e2fsck clean.
 */
TEST(metadata_reserve_kept_for_extent_split)
{
	const char *img = mb_t_mkfs("reserve.img", "-t ext4 -b 1024", "8M");
	ext2_filsys fs = mb_t_open(img, 1);
	ext2_ino_t ino, filler;
	struct mb_e2fs_stats st;
	struct mb_e2fs *e;
	uint64_t free;
	errcode_t err;

	ASSERT_TRUE(fs);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
	ASSERT_TRUE(ino = mb_t_create(fs, "rooted"));
	for (uint64_t l = 0; l < 8; l += 2) /* holes between: 4 extents */
		ASSERT_EQ_INT(mb_t_falloc(fs, e, ino, l, 1, 16), 0);
	ASSERT_EQ_INT(mb_e2fs_file_end(e, ino), 0);
	ASSERT_EQ_INT(mb_t_extents(fs, ino), 4);
	/* all but one usable free block to a filler (the held one is not
	   usable); it stops earlier where data must */
	ASSERT_EQ_INT(mb_e2fs_stats_get(e, &st), 0);
	ASSERT_TRUE(filler = mb_t_create(fs, "filler"));
	free = ext2fs_free_blocks_count(fs->super) - st.held_blocks;
	err = mb_t_falloc(fs, e, filler, 0, free - 1, free - 1);
	ASSERT_EQ_INT(mb_e2fs_file_end(e, filler), 0);
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "filler"), 0);
	printf("filler: err %ld, %llu blocks left free\n", (long)err,
	       (unsigned long long)ext2fs_free_blocks_count(fs->super));
	/* one more extent for the full root: refused, or placed with its leaf */
	err = mb_t_falloc(fs, e, ino, 10, 1, 16);
	ASSERT_EQ_INT(mb_e2fs_file_end(e, ino), 0);
	printf("one more extent: err %ld, %d extents\n", (long)err, mb_t_extents(fs, ino));
	ASSERT_TRUE(err == 0 || err == EXT2_ET_BLOCK_ALLOC_FAIL);
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "split"), 0);
	ASSERT_EQ_INT(mb_e2fs_detach(e), 0);
	ASSERT_EQ_INT(ext2fs_close_free(&fs), 0);
	ASSERT_EQ_INT(mb_t_fsck(img), 0);
}

#else
TEST(skipped)
{
	mb_test_skip("built without libext2fs");
}
#endif
