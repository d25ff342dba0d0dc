/* SPDX-License-Identifier: MIT */
/*
 * replay_image.c - where `mballoc replay` starts and what it checks at the
 * end: ext4 images opened through the library's ext4 image store
 * (mb_volume_open_ext4).  The start image gives a scratch volume (changes
 * stay in memory) with every group loaded, as the kernel's were once
 * mb_groups had been read at mount; the end image a read-only volume whose
 * on-disk bitmap ours is compared with.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

int mb_rimage_load(const char *path, bool scratch, struct mb_rimage *img, const char **why)
{
	struct mb_open_opts o = { .read_only = !scratch };
	int err;

	*img = (struct mb_rimage){ 0 };
	*why = NULL;
	if ((err = mb_volume_open_ext4(path, &o, &img->vol))) {
		*why = mb_volume_open_error();
		return err;
	}
	mb_volume_geometry(img->vol, &img->geo);
	img->flex_bg = img->geo.flex_bg > 1 ? img->geo.flex_bg : 1;
	img->groups = mb_groups_count(img->vol);
	return 0;
}

void mb_rimage_free(struct mb_rimage *img)
{
	if (img->vol)
		mb_volume_destroy(img->vol);
	img->vol = NULL;
}

static int mb_rimage_nop(uint64_t start, uint32_t len, void *arg)
{
	(void)start, (void)len, (void)arg;
	return 0;
}

int mb_rimage_volume(struct mb_rimage *img, struct mb_volume **out)
{
	int err = 0;

	for (uint32_t g = 0; g < img->groups && !err; g++) /* load every group */
		err = mb_group_free_extents(img->vol, g, 0, mb_rimage_nop, NULL);
	if (err)
		return err;
	*out = img->vol;
	img->vol = NULL;
	return 0;
}

/* One group's on-disk free blocks, one byte per block (group-relative). */
struct mb_rcmp {
	uint8_t *free;
	uint64_t base;
};

static int mb_rimage_mark_free(uint64_t start, uint32_t len, void *arg)
{
	struct mb_rcmp *c = arg;

	memset(c->free + (start - c->base), 1, len);
	return 0;
}

static int mb_rimage_group_free(struct mb_volume *vol, uint32_t g, struct mb_rcmp *c)
{
	struct mb_geometry geo;

	mb_volume_geometry(vol, &geo);
	c->base = geo.first_data_block + (uint64_t)g * geo.blocks_per_group;
	memset(c->free, 0, geo.blocks_per_group);
	return mb_group_free_extents(vol, g, MB_FREE_ONDISK, mb_rimage_mark_free, c);
}

int64_t mb_rimage_compare(struct mb_volume *vol, const struct mb_rimage *end, uint64_t *first)
{
	uint32_t bpg = end->geo.blocks_per_group;
	struct mb_rcmp a = { malloc(bpg), 0 }, b = { malloc(bpg), 0 };
	uint64_t diff = 0;
	int err = a.free && b.free ? 0 : -ENOMEM;

	*first = UINT64_MAX;
	for (uint32_t g = 0; g < end->groups && !err; g++) {
		err = mb_rimage_group_free(vol, g, &a);
		if (!err)
			err = mb_rimage_group_free(end->vol, g, &b);
		for (uint32_t i = 0; !err && i < bpg; i++) {
			if (a.free[i] == b.free[i])
				continue;
			if (!diff++)
				*first = a.base + i;
		}
	}
	free(a.free);
	free(b.free);
	return err ? err : (int64_t)diff;
}
