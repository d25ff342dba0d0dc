/* SPDX-License-Identifier: MIT */
/*
 * test_ext4img.c - the ext4 image reader (src/store_ext4.c) on images made
 * by mkfs.ext4: geometry from the superblock; each group's used blocks
 * equal libext2fs's own block bitmap (which computes BLOCK_UNINIT groups
 * independently); unsupported features and corrupt bitmaps refused.
 * Skips (77) without libext2fs or mkfs.ext4.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "mb_test_int.h"
#include "store_ext4.h"

#ifdef MB_HAVE_EXT2FS
#include <ext2fs/ext2fs.h>

static char mb_dir[64];

static void mb_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mb_dir);
	if (mb_dir[0] && system(cmd))
		fprintf(stderr, "cannot remove %s\n", mb_dir);
}

/* Makes DIR/name with mkfs.ext4 OPTS SIZE; returns its path (static). */
static const char *mb_mkfs(const char *name, const char *opts, const char *size)
{
	static char path[128];
	char cmd[512];

	if (!mb_dir[0]) {
		snprintf(mb_dir, sizeof(mb_dir), "/tmp/test_ext4img.XXXXXX");
		if (!mkdtemp(mb_dir))
			mb_test_skip("mkdtemp failed");
		atexit(mb_cleanup);
	}
	snprintf(path, sizeof(path), "%s/%s", mb_dir, name);
	snprintf(cmd, sizeof(cmd), "rm -f '%s'; mkfs.ext4 -F -q %s '%s' %s 2>&1", path, opts, path,
		 size);
	if (system(cmd))
		mb_test_skip("mkfs.ext4 failed or is missing");
	return path;
}

/* libext2fs's view of block b (its read computes BLOCK_UNINIT groups). */
struct mb_ref {
	ext2_filsys fs;
};

static int mb_ref_open(const char *path, struct mb_ref *r)
{
	if (ext2fs_open(path, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &r->fs))
		return -1;
	return ext2fs_read_block_bitmap(r->fs) ? -1 : 0;
}

/* Compares every group of the image with libext2fs; returns the uninit count. */
static int mb_compare_image(const char *path, uint32_t want_bs, uint32_t want_flex)
{
	struct mb_ext4 *x;
	struct mb_geometry geo;
	struct mb_ref r;
	uint32_t flex, uninit = 0;
	const char *why;
	int err = mb_ext4_open(path, &x, &geo, &flex, &why);

	if (err) {
		fprintf(stderr, "open %s: %d %s\n", path, err, why ? why : "");
		return -1;
	}
	if (mb_ref_open(path, &r) || geo.block_size != want_bs || flex != want_flex ||
	    geo.blocks_count != ext2fs_blocks_count(r.fs->super) ||
	    geo.blocks_per_group != r.fs->super->s_blocks_per_group ||
	    geo.first_data_block != r.fs->super->s_first_data_block) {
		fprintf(stderr, "%s: geometry bs %u flex %u\n", path, geo.block_size, flex);
		mb_ext4_close(x);
		return -1;
	}
	uint64_t *used = calloc(geo.blocks_per_group / 64 + 1, sizeof(uint64_t));

	for (uint32_t g = 0; used && !err && g < r.fs->group_desc_count; g++) {
		uint64_t lo = geo.first_data_block + (uint64_t)g * geo.blocks_per_group;

		uninit += mb_ext4_group_uninit(x, g);
		if ((err = mb_ext4_read_group(x, g, used)))
			fprintf(stderr, "%s: group %u: %d\n", path, g, err);
		for (uint64_t b = lo; !err && b < lo + geo.blocks_per_group &&
				      b < geo.blocks_count; b++)
			if (mb_test_bit(used, (uint32_t)(b - lo)) !=
			    !!ext2fs_test_block_bitmap2(r.fs->block_map, b)) {
				fprintf(stderr, "%s: block %llu differs\n", path,
					(unsigned long long)b);
				err = -1;
			}
	}
	free(used);
	ext2fs_close_free(&r.fs);
	mb_ext4_close(x);
	return err ? -1 : (int)uninit;
}

TEST(reader_matches_libext2fs_4k_flex)
{
	const char *p = mb_mkfs("a.img", "-b 4096", "1G");

	ASSERT_TRUE(mb_compare_image(p, 4096, 16) > 0); /* some groups BLOCK_UNINIT */
}

TEST(reader_matches_libext2fs_1k_flex)
{
	const char *p = mb_mkfs("b.img", "-b 1024", "64M"); /* first data block 1 */

	ASSERT_TRUE(mb_compare_image(p, 1024, 16) > 0);
}

TEST(reader_matches_libext2fs_no_flex_bg)
{
	const char *p = mb_mkfs("c.img", "-b 4096 -O ^flex_bg", "512M");

	ASSERT_TRUE(mb_compare_image(p, 4096, 1) > 0);
}

TEST(reader_matches_libext2fs_2k_meta_bg_odd_end)
{
	/* meta_bg moves descriptor copies; 8001 KiB ends mid-group */
	const char *p = mb_mkfs("d.img", "-b 2048 -O meta_bg,^resize_inode -G 4", "40001K");

	ASSERT_TRUE(mb_compare_image(p, 2048, 4) >= 0);
}

TEST(reader_matches_libext2fs_uninit_bg)
{
	/* gdt_csum instead of metadata_csum still trusts BLOCK_UNINIT */
	const char *p = mb_mkfs("e.img", "-b 1024 -O ^metadata_csum,uninit_bg", "32M");

	ASSERT_TRUE(mb_compare_image(p, 1024, 16) > 0);
}

TEST(bigalloc_refused)
{
	const char *p = mb_mkfs("big.img", "-b 4096 -O bigalloc -C 65536", "256M");
	struct mb_ext4 *x;
	struct mb_geometry geo;
	uint32_t flex;
	const char *why;

	ASSERT_EQ_INT(mb_ext4_open(p, &x, &geo, &flex, &why), -ENOTSUP);
	ASSERT_TRUE(why && strstr(why, "bigalloc"));
}

TEST(not_ext4_refused)
{
	char path[128];
	struct mb_ext4 *x;
	struct mb_geometry geo;
	uint32_t flex;
	const char *why;

	mb_mkfs("dummy.img", "", "1M"); /* makes mb_dir */
	snprintf(path, sizeof(path), "%s/zero.img", mb_dir);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);

	ASSERT_TRUE(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	ASSERT_EQ_INT(mb_ext4_open(path, &x, &geo, &flex, &why), -EINVAL);
	ASSERT_TRUE(why && strstr(why, "bad magic"));
	snprintf(path, sizeof(path), "%s/missing.img", mb_dir);
	ASSERT_EQ_INT(mb_ext4_open(path, &x, &geo, &flex, &why), -ENOENT);
}

/* Rewrites one byte of group g's block bitmap (checksums not updated). */
static int mb_poke_bitmap(const char *path, uint32_t g, uint32_t bit, bool set)
{
	ext2_filsys fs;
	uint8_t byte;
	int fd, rc = -1;

	if (ext2fs_open(path, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs))
		return -1;
	off_t at = (off_t)ext2fs_block_bitmap_loc(fs, g) * fs->blocksize + bit / 8;

	ext2fs_close_free(&fs);
	if ((fd = open(path, O_RDWR)) < 0)
		return -1;
	if (pread(fd, &byte, 1, at) == 1 && !!(byte >> (bit & 7) & 1) != set) { /* a change */
		byte = set ? byte | (uint8_t)(1u << (bit & 7)) : byte & (uint8_t)~(1u << (bit & 7));
		rc = pwrite(fd, &byte, 1, at) == 1 ? 0 : -1;
	}
	close(fd);
	return rc;
}

/* Reads group g of the image at path: the reader's error. */
static int mb_read_one(const char *path, uint32_t g)
{
	struct mb_ext4 *x;
	struct mb_geometry geo;
	uint32_t flex;
	const char *why;
	int err = mb_ext4_open(path, &x, &geo, &flex, &why);

	if (err)
		return err;
	uint64_t *used = calloc(geo.blocks_per_group / 64 + 1, sizeof(uint64_t));

	err = used ? mb_ext4_read_group(x, g, used) : -ENOMEM;
	free(used);
	mb_ext4_close(x);
	return err;
}

TEST(metadata_left_free_is_corrupt)
{
	/* no checksums, so only the metadata check can see it: group 0's
	   first block (its superblock) marked free, the free count too */
	const char *p = mb_mkfs("m.img", "-b 4096 -O ^metadata_csum,^uninit_bg", "64M");

	ASSERT_EQ_INT(mb_read_one(p, 0), 0);
	ASSERT_EQ_INT(mb_poke_bitmap(p, 0, 0, false), 0);
	ASSERT_EQ_INT(mb_read_one(p, 0), -EUCLEAN);
}

TEST(free_count_mismatch_is_corrupt)
{
	/* a free data block marked used: no metadata involved, the
	   descriptor's free count disagrees */
	const char *p = mb_mkfs("f.img", "-b 4096 -O ^metadata_csum,^uninit_bg", "256M");

	ASSERT_EQ_INT(mb_read_one(p, 1), 0);
	ASSERT_EQ_INT(mb_poke_bitmap(p, 1, 32000, true), 0);
	ASSERT_EQ_INT(mb_read_one(p, 1), -EUCLEAN);
	ASSERT_EQ_INT(mb_read_one(p, 0), 0); /* other groups read fine */
}

TEST(bitmap_checksum_is_checked)
{
	/* one group of 16384 blocks: bit 30000 is padding (set), outside
	   every count and metadata run; only the checksum covers it */
	const char *p = mb_mkfs("c2.img", "-b 4096", "64M");

	ASSERT_EQ_INT(mb_read_one(p, 0), 0);
	ASSERT_EQ_INT(mb_poke_bitmap(p, 0, 30000, false), 0);
	ASSERT_EQ_INT(mb_read_one(p, 0), -EUCLEAN);
}
/* Every free extent the volume sees on disk, compared with libext2fs. */
struct mb_walk {
	ext2_filsys fs;
	uint64_t next, bad, free;
};

static int mb_walk_extent(uint64_t start, uint32_t len, void *arg)
{
	struct mb_walk *w = arg;

	for (uint64_t b = w->next; b < start + len; b++) /* used up to start, free after */
		w->bad += !!ext2fs_test_block_bitmap2(w->fs->block_map, b) != (b < start);
	w->next = start + len;
	w->free += len;
	return 0;
}

static int mb_walk_volume(struct mb_volume *vol, const char *path, uint64_t *free)
{
	struct mb_ref r;
	struct mb_geometry geo;
	int err = 0;

	if (mb_ref_open(path, &r))
		return -1;
	mb_volume_geometry(vol, &geo);
	struct mb_walk w = { r.fs, geo.first_data_block, 0, 0 };

	for (uint32_t g = 0; !err && g < mb_groups_count(vol); g++)
		err = mb_group_free_extents(vol, g, MB_FREE_ONDISK, mb_walk_extent, &w);
	mb_walk_extent(geo.blocks_count, 0, &w); /* the used tail */
	ext2fs_close_free(&r.fs);
	*free = w.free;
	return err ? err : (int)w.bad;
}

TEST(volume_read_only_matches_image)
{
	const char *p = mb_mkfs("v.img", "-b 1024", "64M");
	struct mb_open_opts ro = { .read_only = 1 };
	struct mb_volume *vol;
	struct mb_geometry geo;
	struct mb_extent ex;
	uint64_t free;

	ASSERT_EQ_INT(mb_volume_open_ext4(p, &ro, &vol), 0);
	ASSERT_TRUE(mb_volume_open_error() == NULL);
	mb_volume_geometry(vol, &geo);
	ASSERT_EQ_U64(geo.flex_bg, 16);
	ASSERT_EQ_U64(geo.first_data_block, 1);
	ASSERT_EQ_INT(mb_walk_volume(vol, p, &free), 0);
	ASSERT_EQ_U64(free, mb_free_blocks(vol));
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };

	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), -EROFS);
	ASSERT_EQ_INT(mb_mark_used(vol, 5000, 1), -EROFS);
	ASSERT_EQ_INT(mb_commit(vol), -EINVAL);
	ASSERT_CHECK_CLEAN(vol);
	struct mb_volume_info info;

	mb_volume_info(vol, &info);
	ASSERT_EQ_INT(info.read_only, 1);
	ASSERT_EQ_INT(mb_volume_close(vol), 0);
	/* mb_volume_open recognises it, read-only only */
	ASSERT_EQ_INT(mb_volume_open(p, &ro, &vol), 0);
	mb_volume_destroy(vol);
	ASSERT_EQ_INT(mb_volume_open(p, NULL, &vol), -EROFS);
	ASSERT_TRUE(mb_volume_open_error() && strstr(mb_volume_open_error(), "read-only"));
}

static uint64_t mb_file_sum(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint64_t h = 1469598103934665603ULL;
	int c;

	while (f && (c = getc(f)) != EOF)
		h = (h ^ (uint64_t)c) * 1099511628211ULL;
	if (f)
		fclose(f);
	return h;
}

TEST(volume_scratch_allocates_in_memory_only)
{
	const char *p = mb_mkfs("s.img", "-b 4096", "128M");
	struct mb_open_opts rw = { .read_only = 0 };
	struct mb_volume *vol;
	struct mb_extent ex;
	uint64_t sum = mb_file_sum(p), free0, free1;

	ASSERT_EQ_INT(mb_volume_open_ext4(p, &rw, &vol), 0);
	struct mb_volume_info info;

	mb_volume_info(vol, &info);
	ASSERT_EQ_INT(info.read_only, 0);
	free0 = mb_free_blocks(vol);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 300 };

	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_EQ_INT(mb_allocated_blocks(vol, ex.start, ex.len), ex.len);
	ASSERT_EQ_INT(mb_free(vol, ex.start, ex.len), 0);
	ASSERT_EQ_U64(mb_free_blocks(vol), free0); /* frees are reusable at once */
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(mb_volume_close(vol), 0);
	ASSERT_EQ_U64(mb_file_sum(p), sum); /* the image is never written */
	ASSERT_EQ_INT(mb_volume_open_ext4(p, NULL, &vol), 0); /* NULL: read-only */
	free1 = mb_free_blocks(vol);
	ASSERT_EQ_U64(free1, free0);
	mb_volume_destroy(vol);
}

/*
 * A scratch volume refuses to free file-system metadata: the superblock and
 * its backup, the descriptor table, each bitmap, the inode table, alone or
 * inside a larger range -- and nothing changes.
 */
TEST(scratch_refuses_freeing_metadata)
{
	const char *p = mb_mkfs("meta.img", "-b 1024", "32M");
	struct mb_open_opts rw = { .read_only = 0 };
	struct mb_volume *vol;
	ext2_filsys fs;
	uint64_t meta[8];
	size_t n = 0;

	ASSERT_TRUE(!ext2fs_open(p, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs));
	meta[n++] = fs->super->s_first_data_block;     /* superblock */
	meta[n++] = fs->super->s_first_data_block + 1; /* descriptors */
	meta[n++] = ext2fs_block_bitmap_loc(fs, 0);
	meta[n++] = ext2fs_inode_bitmap_loc(fs, 0);
	meta[n++] = ext2fs_inode_table_loc(fs, 0) + fs->inode_blocks_per_group - 1;
	meta[n++] = ext2fs_group_first_block2(fs, 1); /* group 1: a superblock backup */
	meta[n++] = ext2fs_inode_table_loc(fs, 1);    /* flex_bg: in group 0 */
	ASSERT_TRUE(ext2fs_bg_has_super(fs, 1));
	ext2fs_close_free(&fs);
	ASSERT_EQ_INT(mb_volume_open_ext4(p, &rw, &vol), 0);
	uint64_t free0 = mb_free_blocks(vol);

	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ_INT(mb_free(vol, meta[i], 1), -EINVAL);
		ASSERT_EQ_INT(mb_allocated_blocks(vol, meta[i], 1), 1);
	}
	/* a range of data blocks that ends in metadata: all of it refused */
	struct mb_request rq = { .goal = meta[5] - 64, .len = 32 };
	struct mb_extent ex;

	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_EQ_INT(mb_free(vol, ex.start, ex.len), 0);
	ASSERT_EQ_U64(mb_free_blocks(vol), free0);
	ASSERT_EQ_INT(mb_mark_used(vol, meta[5] - 8, 8), 0);
	ASSERT_EQ_INT(mb_free(vol, meta[5] - 8, 9), -EINVAL);
	ASSERT_EQ_INT(mb_allocated_blocks(vol, meta[5] - 8, 9), 9);
	ASSERT_EQ_INT(mb_free(vol, meta[5] - 8, 8), 0);
	ASSERT_EQ_U64(mb_free_blocks(vol), free0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

TEST(uninit_group_bitmap_never_read)
{
	/* garbage in every BLOCK_UNINIT group's bitmap block: a reader that
	   read it would fail its checksum; ours computes those groups */
	const char *p = mb_mkfs("u.img", "-b 4096", "1G");
	ext2_filsys fs;
	struct mb_volume *vol;
	uint32_t uninit = 0;
	uint64_t free;
	int fd = open(p, O_RDWR);
	uint8_t junk[4096];

	memset(junk, 0x5a, sizeof(junk));
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ_INT(ext2fs_open(p, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs), 0);
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		if (!ext2fs_bg_flags_test(fs, g, EXT2_BG_BLOCK_UNINIT))
			continue;
		uninit++;
		ASSERT_EQ_INT(pwrite(fd, junk, 4096, (off_t)ext2fs_block_bitmap_loc(fs, g) * 4096),
			      4096);
	}
	ext2fs_close_free(&fs);
	close(fd);
	ASSERT_TRUE(uninit > 0);
	ASSERT_EQ_INT(mb_volume_open_ext4(p, NULL, &vol), 0);
	ASSERT_EQ_INT(mb_walk_volume(vol, p, &free), 0);
	ASSERT_EQ_U64(free, mb_free_blocks(vol));
	mb_volume_destroy(vol);
}

TEST(volume_open_errors_in_words)
{
	const char *p = mb_mkfs("big2.img", "-b 4096 -O bigalloc -C 65536", "256M");
	struct mb_open_opts ro = { .read_only = 1 };
	struct mb_volume *vol = NULL;

	ASSERT_EQ_INT(mb_volume_open_ext4(p, &ro, &vol), -ENOTSUP);
	ASSERT_TRUE(vol == NULL);
	ASSERT_TRUE(mb_volume_open_error() && strstr(mb_volume_open_error(), "bigalloc"));
	ASSERT_EQ_INT(mb_volume_open(p, &ro, &vol), -ENOTSUP); /* through the generic open */
	ASSERT_TRUE(mb_volume_open_error() && strstr(mb_volume_open_error(), "bigalloc"));
	ASSERT_EQ_INT(mb_volume_open_ext4(NULL, &ro, &vol), -EINVAL);
	ASSERT_EQ_INT(mb_volume_open_ext4("/nonexistent/x.img", &ro, &vol), -ENOENT);
	ASSERT_TRUE(mb_volume_open_error() == NULL); /* strerror says it */
}
#else
TEST(no_ext2fs_enotsup)
{
	struct mb_volume *vol;

	ASSERT_EQ_INT(mb_volume_open_ext4("/dev/null", NULL, &vol), -ENOTSUP);
	ASSERT_TRUE(mb_volume_open_error() && strstr(mb_volume_open_error(), "libext2fs"));
}

TEST(skipped)
{
	mb_test_skip("built without libext2fs");
}
#endif
