/* SPDX-License-Identifier: MIT */
/*
 * trim.c - FITRIM (ext4_trim_fs): hand every free run of at least minlen
 * blocks to the caller's discard callback (a device TRIM, an SPDK unmap),
 * with the run held away from allocators meanwhile.
 *
 * A run being trimmed is marked used in the buddy (not on disk) while the
 * group lock is dropped for the callback, as ext4 does.  That space is
 * free but briefly unallocatable -- one of the spurious-ENOSPC sources the
 * design lists -- so vol->trim_inflight counts it and a failing allocation
 * waits for it (alloc.c, mb_should_retry) instead of giving up.
 *
 * Locking: bb_lock per group, never held across the callback.
 */
#include "mb_int.h"

/* Takes the next run >= minlen in [*pos, end) off the buddy; bb_lock held. */
static uint32_t mb_trim_take_locked(struct mb_volume *vol, struct mb_group *grp,
				    mb_grpblk_t *pos, uint32_t end, uint32_t minlen)
{
	while (*pos < end) {
		uint32_t s = mb_find_next_zero_bit(grp->bb_bitmap, end, *pos);
		uint32_t e = mb_find_next_bit(grp->bb_bitmap, end, s);

		*pos = e;
		if (s >= end || e - s < minlen)
			continue;
		mb_buddy_mark_used(vol, grp, s, e - s);
		atomic_fetch_add_explicit(&vol->trim_inflight, e - s, memory_order_relaxed);
		*pos = s; /* the caller resumes after the run it got */
		return e - s;
	}
	return 0;
}

static int64_t mb_trim_group(struct mb_volume *vol, mb_grp_t g, mb_grpblk_t from, uint32_t to,
			     uint32_t minlen, int (*discard)(uint64_t, uint64_t, void *), void *arg)
{
	struct mb_group *grp = &vol->groups[g];
	mb_fsblk_t base = mb_group_first_block(vol, g);
	int64_t trimmed = 0;
	mb_grpblk_t pos = from;
	int err = mb_group_lock_usable(vol, grp);

	while (!err) {
		uint32_t n = mb_trim_take_locked(vol, grp, &pos, to, minlen);

		if (!n)
			break;
		mb_unlock(&grp->bb_lock);
		err = discard(base + pos, n, arg);
		mb_lock(&grp->bb_lock);
		if (mb_buddy_free(vol, grp, pos, n))
			mb_group_set_corrupt_locked(vol, grp);
		atomic_fetch_sub_explicit(&vol->trim_inflight, n, memory_order_release);
		if (!err)
			trimmed += n;
		pos += n;
	}
	mb_unlock(&grp->bb_lock);
	return err ? err : trimmed;
}

int64_t mb_trim(struct mb_volume *vol, uint64_t start, uint64_t len, uint32_t minlen,
		int (*discard)(uint64_t start, uint64_t len, void *arg), void *arg)
{
	int64_t total = 0;

	if (!discard || !len || start >= vol->geo.blocks_count)
		return -EINVAL;
	if (start < vol->geo.first_data_block)
		start = vol->geo.first_data_block;
	if (len > vol->geo.blocks_count - start)
		len = vol->geo.blocks_count - start;
	if (!minlen)
		minlen = 1;
	while (len) {
		mb_grp_t g = mb_block_group(vol, start);
		mb_grpblk_t off = mb_block_offset(vol, start);
		uint32_t n = (uint32_t)(len < vol->bpg - off ? len : vol->bpg - off);
		int64_t r = mb_trim_group(vol, g, off, off + n, minlen, discard, arg);

		if (r < 0)
			return r;
		total += r;
		start += n;
		len -= n;
	}
	return total;
}
