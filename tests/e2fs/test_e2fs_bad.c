/* SPDX-License-Identifier: MIT */
/*
 * test_e2fs_bad.c - mb_e2fs_attach refuses what it cannot serve with a
 * clear error (errno and words) and leaves the file system untouched: no
 * ext4 (ext2, no extents), bigalloc, a read-only handle, a handle with
 * hooks of its own or already attached, NULL and bad options.  The API's
 * other calls reject bad arguments.  Skips (77) without libext2fs/mke2fs.
 */
#include "harness.h"

#ifdef MB_HAVE_EXT2FS
#include "e2fs_testlib.h"

/* attach on img opened rw must fail with want; the image stays the same
 * byte for byte and the handle keeps no hook. */
static int mb_t_refused(const char *img, int rw, int want, const char *why_part)
{
	unsigned long sum = mb_t_sum(img);
	ext2_filsys fs = mb_t_open(img, rw);
	struct mb_e2fs *e = NULL;
	const char *why;
	int err;

	if (!fs)
		return -1;
	err = mb_e2fs_attach(fs, NULL, &e);
	why = mb_volume_open_error();
	if (err != want || e || !why || !strstr(why, why_part) || fs->get_alloc_block2 ||
	    fs->block_alloc_stats || fs->block_alloc_stats_range || fs->new_range) {
		fprintf(stderr, "%s: got %d (%s), want %d (%s)\n", img, err, why ? why : "-", want,
			why_part);
		return -1;
	}
	ext2fs_close_free(&fs);
	return mb_t_sum(img) == sum ? 0 : -1;
}

TEST(not_ext4)
{
	const char *img = mb_t_mkfs("ext2.img", "-t ext2", "16M");

	ASSERT_EQ_INT(mb_t_refused(img, 1, -ENOTSUP, "not an ext4"), 0);
}

TEST(bigalloc)
{
	const char *img = mb_t_mkfs("bigalloc.img", "-t ext4 -O bigalloc -C 16384", "64M");

	ASSERT_EQ_INT(mb_t_refused(img, 1, -ENOTSUP, "bigalloc"), 0);
}

TEST(read_only_handle)
{
	const char *img = mb_t_mkfs("ro.img", "-t ext4", "16M");

	ASSERT_EQ_INT(mb_t_refused(img, 0, -EROFS, "read-only"), 0);
	ASSERT_EQ_INT(mb_t_fsck(img), 0);
}

/* Someone else's hook: must never run while mballoc is refused. */
static void mb_t_other_hook(ext2_filsys fs, blk64_t blk, int inuse)
{
	(void)fs, (void)blk, (void)inuse;
	abort();
}

TEST(busy)
{
	const char *img = mb_t_mkfs("busy.img", "-t ext4", "16M");
	ext2_filsys fs = mb_t_open(img, 1);
	struct mb_e2fs *e, *e2 = NULL;

	ASSERT_TRUE(fs);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e2), -EBUSY);
	ASSERT_TRUE(e2 == NULL);
	ASSERT_EQ_INT(mb_e2fs_detach(e), 0);
	/* hooks of someone else: refused, and left in place */
	ext2fs_set_block_alloc_stats_callback(fs, mb_t_other_hook, NULL);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e2), -EBUSY);
	ASSERT_TRUE(fs->block_alloc_stats == mb_t_other_hook);
	ext2fs_set_block_alloc_stats_callback(fs, NULL, NULL);
	ASSERT_EQ_INT(ext2fs_close_free(&fs), 0);
	ASSERT_EQ_INT(mb_t_fsck(img), 0);
}

TEST(bad_arguments)
{
	const char *img = mb_t_mkfs("args.img", "-t ext4", "16M");
	ext2_filsys fs = mb_t_open(img, 1);
	struct mb_e2fs_opts bad = {.flags = 0x80}, spare = {.spare[3] = 1};
	struct mb_e2fs_stats st;
	struct mb_e2fs *e = NULL;
	errcode_t magic;

	ASSERT_TRUE(fs);
	ASSERT_EQ_INT(mb_e2fs_attach(NULL, NULL, &e), -EINVAL);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, NULL), -EINVAL);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, &bad, &e), -EINVAL);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, &spare, &e), -EINVAL);
	magic = fs->magic;
	fs->magic = 0;
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), -EINVAL);
	fs->magic = magic;
	ASSERT_TRUE(e == NULL);
	ASSERT_EQ_INT(mb_e2fs_attach(fs, NULL, &e), 0);
	ASSERT_EQ_INT(mb_e2fs_file_begin(e, 0, 1, 0), -EINVAL);
	ASSERT_EQ_INT(mb_e2fs_file_begin(e, fs->super->s_inodes_count + 1, 1, 0), -EINVAL);
	ASSERT_EQ_INT(mb_e2fs_file_begin(e, 12, 1, 0x10), -EINVAL);
	ASSERT_EQ_INT(mb_e2fs_file_end(e, 12), -ENOENT);
	ASSERT_EQ_INT(mb_e2fs_file_seek(e, 12, 0), -ENOENT);
	ASSERT_EQ_INT(mb_e2fs_file_begin(e, 12, 1, 0), 0);
	ASSERT_EQ_INT(mb_e2fs_file_seek(e, 12, MB_LOGICAL_LIMIT), -EINVAL);
	ASSERT_EQ_INT(mb_e2fs_file_end(e, 12), 0);
	ASSERT_EQ_INT(mb_e2fs_stats_get(e, NULL), -EINVAL);
	ASSERT_EQ_INT(mb_e2fs_stats_get(NULL, &st), -EINVAL);
	ASSERT_EQ_INT(mb_e2fs_verify(NULL, NULL, 0), -EINVAL);
	ASSERT_EQ_INT(mb_e2fs_detach(NULL), -EINVAL);
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
