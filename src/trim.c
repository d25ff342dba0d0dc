/* SPDX-License-Identifier: MIT */
/*
 * trim.c - FITRIM (ext4_trim_fs): hand every free run of at least minlen
 * blocks to the caller's discard callback (a device TRIM, an SPDK unmap),
 * with the run held away from allocators meanwhile.
 *
 * A run being trimmed is marked used in the buddy (not on disk) while the
 * group lock is dropped for the callback, as ext4 does.  That space is
 * free but briefly unallocatable -- one of the spurious-ENOSPC sources the
 * design lists -- so vol->trim_inflight counts it, and a failing allocation
 * sleeps on the space event (wait.c) until the run is returned, instead of
 * giving up.
 *
 * The callback's verdict: 0 trimmed (counted), < 0 an error (the walk stops
 * and it is returned), > 0 stop (that run is not counted; the count of the
 * runs before it is returned).
 *
 * Locking: bb_lock per group, never held across the callback.
 */
#include "mb_int.h"
#include "probe.h"

/* The caller's callback and its argument. */
struct mb_trim_cb {
	int (*discard)(uint64_t start, uint64_t len, void *arg);
	void *arg;
};

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
		/* held: used in the buddy, free on disk (group.c); no memory for
		   the copy: this group is not trimmed */
		if (mb_gcache_unshare_locked(vol, grp))
			return 0;
		/*
		 * Counted before it leaves the sets.  The mark's stores (the
		 * group sets' RMWs, bb_free, the orders) are what a lock-free
		 * pass reads to skip this group; an allocator that skipped it
		 * must also see the count, or it answers ENOSPC for a run that
		 * is only held.  Pair: this release fence (the increment
		 * before any store of the mark) with the acquire fence after
		 * the set lookups in mb_should_retry / mb_cons_should_retry --
		 * whichever of the mark's stores such a lookup read, the
		 * increment happens before its trim_inflight load.  (mb_alloc's
		 * strict round and the discard pass also lock every group
		 * before deciding; this does not lean on that.)
		 */
		atomic_fetch_add_explicit(&vol->trim_inflight, e - s, memory_order_relaxed);
		atomic_thread_fence(memory_order_release);
		mb_buddy_mark_used(vol, grp, s, e - s);
		MB_HOOK(vol, MB_HOOK_TRIM_TAKEN, mb_group_no(vol, grp), 0);
		*pos = s; /* the caller resumes after the run it got */
		return e - s;
	}
	return 0;
}

/*
 * Trims the runs of group g inside [from, to).  Returns the blocks trimmed,
 * or -errno; *stop is set when the callback asked to stop (a positive
 * return: that run is not counted).
 */
static int64_t mb_trim_group(struct mb_volume *vol, mb_grp_t g, mb_grpblk_t from, uint32_t to,
			     uint32_t minlen, const struct mb_trim_cb *cb, bool *stop)
{
	struct mb_group *grp = mb_group_at(vol, g);
	mb_fsblk_t base = mb_group_first_block(vol, g);
	int64_t trimmed = 0;
	mb_grpblk_t pos = from;
	int ret = mb_group_lock_usable(vol, grp);

	while (!ret) {
		uint32_t n = mb_trim_take_locked(vol, grp, &pos, to, minlen);

		if (!n)
			break;
		mb_probe_trim_extent(vol, g, pos, n);
		mb_unlock(&grp->bb_lock);
		ret = cb->discard(base + pos, n, cb->arg);
		mb_lock(&grp->bb_lock);
		if (mb_buddy_free(vol, grp, pos, n))
			mb_group_set_corrupt_locked(vol, grp);
		/*
		 * Back in the sets first, uncounted after, signalled last: a
		 * failing allocator that still reads the count sampled the
		 * space event before this signal and is woken; one that reads
		 * it uncounted synchronizes with this release (pair: the
		 * acquire load in mb_should_retry / mb_cons_should_retry), so
		 * it sees the free's discard_pa_seq bump and retries.
		 */
		atomic_fetch_sub_explicit(&vol->trim_inflight, n, memory_order_release);
		mb_space_returned(vol); /* wakes allocators waiting for this run */
		if (!ret)
			trimmed += n;
		pos += n;
	}
	mb_gcache_share_locked(vol, grp); /* nothing held any more */
	mb_unlock(&grp->bb_lock);
	*stop = ret > 0;
	return ret < 0 ? ret : trimmed;
}

int64_t mb_trim(struct mb_volume *vol, uint64_t start, uint64_t len, uint32_t minlen,
		int (*discard)(uint64_t start, uint64_t len, void *arg), void *arg)
{
	const struct mb_trim_cb cb = { discard, arg };
	uint64_t fdb = vol->geo.first_data_block, count = vol->geo.blocks_count;
	/* the end saturates: a length past 2^64 means "to the end" */
	uint64_t end = len > UINT64_MAX - start ? UINT64_MAX : start + len;
	int64_t total = 0;
	bool stop = false;

	if (!discard || !len || start >= count || minlen > vol->bpg)
		return -EINVAL;
	/* clip [start, end) to the data blocks; the end stays where it was */
	start = start > fdb ? start : fdb;
	end = end < count ? end : count;
	minlen = minlen ? minlen : 1;
	while (start < end && !stop) {
		mb_grp_t g = mb_block_group(vol, start);
		mb_grpblk_t off = mb_block_offset(vol, start);
		uint32_t n = (uint32_t)(end - start < vol->bpg - off ? end - start : vol->bpg - off);
		int64_t r = mb_trim_group(vol, g, off, off + n, minlen, &cb, &stop);

		if (r < 0)
			return r;
		total += r;
		start += n;
	}
	return total;
}
