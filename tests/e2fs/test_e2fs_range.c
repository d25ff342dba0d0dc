/* SPDX-License-Identifier: MIT */
/*
 * test_e2fs_range.c - libext2fs 1.43..1.47.3 pass (end, 0) instead of
 * (start, len) to the block_alloc_stats_range hook (e2fsprogs commit
 * 520caea1, "fix arguments passed to ->block_alloc_stats_range", in
 * 1.47.4).  Checks that attach's probe agrees with the library's version,
 * that ranges marked used or freed by ext2fs_block_alloc_stats_range (as
 * mk_hugefiles and other allocators do) reach mballoc with the workaround,
 * and that without it (MB_E2FS_TRUST_RANGE_ARGS) they do not on a broken
 * libext2fs: the workaround is needed here.  Skips (77) without libext2fs
 * or mke2fs.
 */
#include "harness.h"

#ifdef MB_HAVE_EXT2FS
#include "e2fs_testlib.h"

/* Whether this libext2fs's version has the bug (1.43 <= v < 1.47.4). */
static bool mb_t_version_broken(void)
{
	const char *ver = NULL, *date = NULL;
	int a = 0, b = 0, c = 0;

	ext2fs_get_library_version(&ver, &date);
	if (!ver || sscanf(ver, "%d.%d.%d", &a, &b, &c) < 2)
		return false;
	printf("libext2fs %s (%s)\n", ver, date ? date : "?");
	long v = a * 10000L + b * 100L + c;

	return v >= 14300 && v < 14704;
}

/* A free run of len blocks of fs inside group g, or 0. */
static blk64_t mb_t_free_run(ext2_filsys fs, uint32_t g, blk64_t len)
{
	blk64_t b;

	if (ext2fs_get_free_blocks2(fs, ext2fs_group_first_block2(fs, g),
				    ext2fs_group_last_block2(fs, g) - len, (int)len, fs->block_map,
				    &b))
		return 0;
	return b;
}

static bool mb_t_loaded(struct mb_e2fs *e, uint32_t g)
{
	struct mb_group_stat gs;

	return !mb_group_stat(mb_e2fs_volume(e), g, &gs) && (gs.flags & MB_GROUP_LOADED);
}

TEST(probe_matches_version)
{
	const char *img = mb_t_mkfs("probe.img", "-t ext4", "32M");
	ext2_filsys fs = mb_t_open(img, 1);
	struct mb_e2fs_stats st;
	struct mb_e2fs *e;
	uint64_t free0;

	ASSERT_TRUE(fs);
	free0 = ext2fs_free_blocks_count(fs->super);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
	ASSERT_EQ_INT(mb_e2fs_stats_get(e, &st), 0);
	ASSERT_EQ_INT(st.range_args_broken, mb_t_version_broken());
	/* the probe gave back what it took */
	ASSERT_EQ_U64(ext2fs_free_blocks_count(fs->super), free0);
	ASSERT_TRUE(ext2fs_test_block_bitmap2(fs->block_map, fs->super->s_first_data_block));
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "probe"), 0);
	ASSERT_EQ_INT(mb_e2fs_detach(e), 0);
	ASSERT_EQ_INT(ext2fs_close_free(&fs), 0);
	ASSERT_EQ_INT(mb_t_fsck(img), 0);
}

/*
 * Another allocator's ranges (used, then free again) through
 * ext2fs_block_alloc_stats_range, in a group mballoc has loaded (it placed
 * a file there) and in one it never loaded; returns how many of the steps
 * left mballoc in sync with fs (4 = all).
 */
static int mb_t_foreign_ranges(const char *img, uint32_t flags, struct mb_e2fs_stats *st)
{
	struct mb_e2fs_opts o = {.flags = flags};
	ext2_filsys fs = mb_t_open(img, 1);
	uint32_t last = fs ? fs->group_desc_count - 1 : 0;
	struct mb_e2fs *e;
	blk64_t b[2], pblk = 0;
	int good = 0;

	if (!fs || last < 2 || mb_e2fs_attach(fs, &o, &e))
		return -1;
	ext2_ino_t ino = mb_t_create(fs, "seed");

	mb_e2fs_file_begin(e, ino, 16, MB_E2FS_FILE_CLOSED);
	mb_t_write(fs, ino, 16 * fs->blocksize, 4096);
	mb_e2fs_file_end(e, ino);
	ext2fs_bmap2(fs, ino, NULL, NULL, 0, 0, NULL, &pblk);
	uint32_t seed_g = ext2fs_group_of_blk2(fs, pblk), cold = 1;

	while (cold < last && (cold == seed_g || mb_t_loaded(e, cold)))
		cold++; /* a group mballoc never loaded (the last may hold a block) */
	b[0] = mb_t_free_run(fs, seed_g, 300);
	b[1] = mb_t_free_run(fs, cold, 300);
	if (!b[0] || !b[1] || !mb_t_loaded(e, seed_g) || mb_t_loaded(e, cold))
		return -1;
	for (int i = 0; i < 2; i++) {
		ext2fs_block_alloc_stats_range(fs, b[i], 300, +1);
		good += mb_t_in_sync(fs, e, "range used") == 0;
		ext2fs_block_alloc_stats_range(fs, b[i] + 100, 150, -1);
		good += mb_t_in_sync(fs, e, "range freed") == 0;
		ext2fs_block_alloc_stats_range(fs, b[i], 100, -1);
		ext2fs_block_alloc_stats_range(fs, b[i] + 250, 50, -1);
	}
	good -= !mb_t_loaded(e, seed_g) || mb_t_loaded(e, cold);
	mb_e2fs_stats_get(e, st);
	mb_e2fs_detach(e);
	ext2fs_close_free(&fs);
	return good;
}

TEST(foreign_ranges_reach_mballoc)
{
	const char *img = mb_t_mkfs("foreign.img", "-t ext4", "32M");
	struct mb_e2fs_stats st;

	ASSERT_EQ_INT(mb_t_foreign_ranges(img, 0, &st), 4);
	ASSERT_EQ_U64(st.foreign_blocks, 600);
	ASSERT_EQ_U64(st.freed_blocks, 600);
	ASSERT_EQ_U64(st.desync, 0);
	ASSERT_EQ_U64(st.range_recovered, st.range_args_broken ? 8 : 0);
	ASSERT_EQ_INT(mb_t_fsck(img), 0);
}

/* The workaround is needed on this system's libext2fs (skips otherwise). */
TEST(without_workaround_desyncs)
{
	const char *img = mb_t_mkfs("trust.img", "-t ext4", "32M");
	struct mb_e2fs_stats st;

	if (!mb_t_version_broken()) {
		printf("this libext2fs passes the right arguments: nothing to show\n");
		return;
	}
	ASSERT_EQ_INT(mb_t_foreign_ranges(img, MB_E2FS_TRUST_RANGE_ARGS, &st), 0);
	ASSERT_EQ_U64(st.foreign_blocks, 0); /* the ranges never reached mballoc */
	ASSERT_EQ_INT(mb_t_fsck(img), 0);    /* the fs, the truth, is fine */
}

/*
 * libext2fs 1.46.6..1.47.3 refuse to punch an extent that ends at the last
 * block (e2fsprogs 509da989): mballoc holds that block back there, so a
 * file that filled the image can still be removed.
 */
TEST(last_block_held_where_punch_is_broken)
{
	const char *img = mb_t_mkfs("last.img", "-t ext4", "8M");
	ext2_filsys fs = mb_t_open(img, 1);
	const char *ver = NULL;
	struct mb_e2fs_stats st;
	struct mb_e2fs *e;
	ext2_ino_t ino;
	int a = 0, b = 0, c = 0;

	ASSERT_TRUE(fs);
	ext2fs_get_library_version(&ver, NULL);
	ASSERT_TRUE(ver && sscanf(ver, "%d.%d.%d", &a, &b, &c) >= 2);
	long v = a * 10000L + b * 100L + c;
	bool broken = v >= 14606 && v < 14704;

	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
	ASSERT_TRUE(ino = mb_t_create(fs, "all"));
	ASSERT_EQ_INT(mb_e2fs_file_begin(e, ino, 1 << 20, MB_E2FS_FILE_CLOSED), 0);
	ASSERT_EQ_INT(mb_t_write(fs, ino, 64ULL << 20, 1 << 16), EXT2_ET_BLOCK_ALLOC_FAIL);
	ASSERT_EQ_INT(mb_e2fs_file_end(e, ino), 0);
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "filled"), 0);
	/* data stops at the metadata reserve; metadata takes the rest */
	ASSERT_EQ_INT(mb_e2fs_stats_get(e, &st), 0);
	ASSERT_TRUE(ext2fs_free_blocks_count(fs->super) <= st.resv_blocks + 2);
	static blk64_t meta[1024];
	int nmeta = 0;

	while (nmeta < 1024 && !ext2fs_alloc_block2(fs, 0, NULL, &meta[nmeta]))
		nmeta++;
	ASSERT_TRUE(nmeta < 1024);
	ASSERT_EQ_U64(ext2fs_free_blocks_count(fs->super), broken); /* full but the held one */
	ASSERT_EQ_INT(
	    !!ext2fs_test_block_bitmap2(fs->block_map, ext2fs_blocks_count(fs->super) - 1),
	    !broken);
	while (nmeta)
		ext2fs_block_alloc_stats2(fs, meta[--nmeta], -1);
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "metadata given back"), 0);
	ASSERT_EQ_INT(mb_t_remove(fs, "all", ino), 0); /* EXT2_ET_BAD_BLOCK_NUM without */
	ASSERT_EQ_INT(mb_t_in_sync(fs, e, "removed"), 0);
	ASSERT_EQ_INT(mb_e2fs_stats_get(e, &st), 0);
	ASSERT_EQ_U64(st.held_blocks, broken);
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
