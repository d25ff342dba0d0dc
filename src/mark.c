/* SPDX-License-Identifier: MIT */
/*
 * mark.c - mb_mark_used(): marks blocks used that something other than the
 * allocator handed out, e.g. when a volume is seeded from a file system's
 * block bitmap, or a replay forces another allocator's decision.
 */
#include "mb_int.h"

/* A group-contained range: inside the data area and free in buddy terms. */
static int mb_mark_validate_locked(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t off,
				   uint32_t len)
{
	int err = mb_range_piece_check_locked(vol, grp, off, len);

	if (err)
		return err;
	/* bb_bitmap = on-disk | PAs | pending frees: all must be clear. */
	if (!mb_range_all_clear(grp->bb_bitmap, off, len))
		return -EEXIST;
	return 0;
}

static int mb_mark_in_group(struct mb_volume *vol, mb_grp_t g, mb_grpblk_t off, uint32_t len,
			    bool apply)
{
	struct mb_group *grp = mb_group_at(vol, g);
	int err;

	mb_lock(&grp->bb_lock);
	err = mb_group_load_locked(vol, grp);
	if (!err)
		err = mb_mark_validate_locked(vol, grp, off, len);
	if (!err && apply) {
		mb_buddy_mark_used(vol, grp, off, len);
		mb_group_mark_disk_locked(grp, off, len);
		mb_free_counter_add(vol, -(int64_t)len); /* nobody claimed these blocks */
	}
	mb_unlock(&grp->bb_lock);
	return err;
}

/* Validates every piece, then applies (all-or-nothing, as mb_free). */
int mb_mark_used(struct mb_volume *vol, uint64_t start, uint64_t len)
{
	return mb_range_validate_apply(vol, start, len, mb_mark_in_group);
}
