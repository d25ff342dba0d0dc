/* SPDX-License-Identifier: MIT */
/*
 * replay_image.c - an ext4 image's geometry and block bitmap for `mballoc
 * replay`, read with libext2fs (optional: without it, -ENOTSUP), and the
 * in-memory volume seeded from them with mb_mark_used().  Until the
 * library has an ext4 image store, this is how a replay starts from the
 * kernel's state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

#ifdef MB_HAVE_EXT2FS
#include <ext2fs/ext2fs.h>

static int mb_rimage_geometry(ext2_filsys fs, struct mb_rimage *img, const char **why)
{
	struct ext2_super_block *sb = fs->super;

	if (ext2fs_has_feature_bigalloc(sb)) {
		*why = "bigalloc is not supported";
		return -ENOTSUP;
	}
	img->geo = (struct mb_geometry){
		.block_size = EXT2_BLOCK_SIZE(sb),
		.blocks_per_group = sb->s_blocks_per_group,
		.blocks_count = ext2fs_blocks_count(sb),
		.first_data_block = sb->s_first_data_block,
		.reserved_per_group = 0,
		.flex_bg = ext2fs_has_feature_flex_bg(sb) ? 1u << sb->s_log_groups_per_flex : 1,
	};
	img->flex_bg = img->geo.flex_bg;
	img->groups = fs->group_desc_count;
	return 0;
}

static int mb_rimage_bitmap(ext2_filsys fs, struct mb_rimage *img)
{
	uint64_t n = img->geo.blocks_count;

	if (ext2fs_read_block_bitmap(fs))
		return -EIO;
	img->used = calloc((n + 63) / 64, sizeof(uint64_t));
	if (!img->used)
		return -ENOMEM;
	for (uint64_t b = img->geo.first_data_block; b < n; b++)
		if (ext2fs_test_block_bitmap2(fs->block_map, b))
			img->used[b >> 6] |= 1ull << (b & 63);
	return 0;
}

int mb_rimage_load(const char *path, struct mb_rimage *img, const char **why)
{
	ext2_filsys fs;
	int err;

	*img = (struct mb_rimage){ 0 };
	*why = NULL;
	if (ext2fs_open(path, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs)) {
		*why = "not an ext2/3/4 file system image";
		return -EINVAL;
	}
	err = mb_rimage_geometry(fs, img, why);
	if (!err)
		err = mb_rimage_bitmap(fs, img);
	ext2fs_close_free(&fs);
	if (err)
		mb_rimage_free(img);
	return err;
}
#else
int mb_rimage_load(const char *path, struct mb_rimage *img, const char **why)
{
	(void)path;
	*img = (struct mb_rimage){ 0 };
	*why = "built without libext2fs";
	return -ENOTSUP;
}
#endif

void mb_rimage_free(struct mb_rimage *img)
{
	free(img->used);
	img->used = NULL;
}

int mb_rimage_volume(const struct mb_rimage *img, struct mb_volume **out)
{
	struct mb_volume *vol;
	uint64_t n = img->geo.blocks_count;
	int err = mb_volume_create(&img->geo, &vol);

	if (err)
		return err;
	for (uint64_t b = img->geo.first_data_block; b < n && !err;) {
		if (!mb_rimage_used(img, b)) {
			b++;
			continue;
		}
		uint64_t e = b;

		while (e < n && mb_rimage_used(img, e))
			e++;
		err = mb_mark_used(vol, b, e - b);
		b = e;
	}
	if (err) {
		mb_volume_destroy(vol);
		return err;
	}
	*out = vol;
	return 0;
}

struct mb_rcmp {
	uint8_t *ours_free; /* one byte per block: on-disk free in ours */
};

static int mb_rimage_mark_free(uint64_t start, uint32_t len, void *arg)
{
	memset(((struct mb_rcmp *)arg)->ours_free + start, 1, len);
	return 0;
}

int64_t mb_rimage_compare(struct mb_volume *vol, const struct mb_rimage *img, uint64_t *first)
{
	uint64_t n = img->geo.blocks_count, diff = 0;
	struct mb_rcmp c = { calloc(n, 1) };
	int err = 0;

	if (!c.ours_free)
		return -ENOMEM;
	for (uint32_t g = 0; g < mb_groups_count(vol) && !err; g++)
		err = mb_group_free_extents(vol, g, MB_FREE_ONDISK, mb_rimage_mark_free, &c);
	*first = UINT64_MAX;
	for (uint64_t b = img->geo.first_data_block; b < n && !err; b++) {
		if (c.ours_free[b] == !mb_rimage_used(img, b))
			continue;
		if (!diff++)
			*first = b;
	}
	free(c.ours_free);
	return err ? err : (int64_t)diff;
}
