/* SPDX-License-Identifier: MIT */
/*
 * free.c - freeing extents and the commit boundary.  A free clears the
 * on-disk bits at once; the blocks reach the buddy (become allocatable) at
 * once, unless the volume's store makes frees wait for the commit that
 * records them (MB_STORE_FREES_WAIT_COMMIT; ext4 keeps them per
 * transaction for the same reason: a crash before the commit must not find
 * them reused).
 *
 * Blocks freed inside a live inode PA go back to that PA, not to the buddy
 * (see prealloc.c for why).
 *
 * A free that waits is recorded in the group's pending map; the commit
 * machinery (commit.c) releases it once a commit recorded it durably.
 *
 * Locking: bb_lock per group, which also protects the PAs' state.
 */
#include <string.h>

#include "mb_int.h"
#include "percpu.h"
#include "probe.h"
#include "store.h"

/* The non-deleted inode PA of grp containing block `off`, or NULL. */
static struct mb_pa *mb_inode_pa_at_locked(struct mb_volume *vol, struct mb_group *grp,
					   mb_grpblk_t off, uint32_t *pa_end_off)
{
	mb_fsblk_t b = mb_group_first_block(vol, mb_group_no(vol, grp)) + off;
	struct mb_list *pos;

	mb_list_for_each(pos, &grp->bb_prealloc_list)
	{
		struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_group_list);

		if (pa->pa_type != MB_INODE_PA || b < pa->pa_pstart || b >= pa->pa_pstart + pa->pa_len)
			continue;
		*pa_end_off = mb_block_offset(vol, pa->pa_pstart) + pa->pa_len;
		return pa;
	}
	return NULL;
}

/* First block >= off that starts an inode PA, or `end`. */
static uint32_t mb_next_pa_start_locked(struct mb_volume *vol, struct mb_group *grp,
					mb_grpblk_t off, uint32_t end)
{
	mb_fsblk_t base = mb_group_first_block(vol, mb_group_no(vol, grp));
	struct mb_list *pos;

	mb_list_for_each(pos, &grp->bb_prealloc_list)
	{
		struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_group_list);
		uint32_t s = (uint32_t)(pa->pa_pstart - base);

		if (pa->pa_type == MB_INODE_PA && s >= off && s < end)
			end = s;
	}
	return end;
}

/*
 * Makes [off, off + len) allocatable again: pieces inside a live inode PA
 * return to it (pa_free grows, the buddy keeps them used); pieces inside a
 * PA being torn down are left for its release; the rest goes to the buddy.
 */
void mb_return_blocks_locked(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t off,
			     uint32_t len)
{
	uint32_t end = off + len;

	if (mb_list_empty(&grp->bb_prealloc_list)) { /* no PA: no walk for one */
		if (mb_buddy_free(vol, grp, off, len))
			mb_group_set_corrupt_locked(vol, grp);
		return;
	}
	while (off < end) {
		uint32_t pa_end;
		struct mb_pa *pa = mb_inode_pa_at_locked(vol, grp, off, &pa_end);

		if (pa) {
			uint32_t n = (pa_end < end ? pa_end : end) - off;

			if (!pa->pa_deleted)
				pa->pa_free += n;
			off += n;
			continue;
		}
		uint32_t stop = mb_next_pa_start_locked(vol, grp, off, end);

		if (mb_buddy_free(vol, grp, off, stop - off))
			mb_group_set_corrupt_locked(vol, grp);
		off = stop;
	}
}

/* Are [off, off + len), across words, all set in d?  Up to 5 words (a free
   of up to 257 blocks) the words' AND, the end ones masked, in a leaf of
   its own; past that bitops.c's.  free:empty:256:rand 615 -> 596
   instructions a free, free:aged50:256:zero 785 -> 770 (inline in
   mb_free_validate_locked the same test cost the short frees 6 more:
   free:aged50:1:rand 497 -> 503). */
static __attribute__((noinline)) bool mb_free_all_used(const uint64_t *d, uint32_t off,
						       uint32_t len)
{
	uint32_t w = off >> 6, lw = (off + len - 1) >> 6;

	if (lw - w > 4)
		return mb_range_all_set(d, off, len);
	uint64_t head = ~0ULL << (off & 63), tail = ~0ULL >> (63 - ((off + len - 1) & 63));
	uint64_t acc = (d[w] | ~head) & (d[lw] | ~tail);

	for (const uint64_t *p = d + w + 1, *stop = d + lw; p < stop; p++) {
		__asm__("" : "+r"(p)); /* no vector code for 3 words */
		acc &= *p;
	}
	return !~acc;
}

/*
 * mb_free_validate_locked's test in a group whose maps are shared with PAs
 * (gcache.c): it read bb_disk, which holds their unused tails too (a range
 * that passed it may still not be used on disk).  A free that meets a PA
 * splits the maps -- for the PA, which takes back blocks of its own, and
 * for the test, done again on the on-disk map; one elsewhere needs no
 * copy.  Out of line: inline, the free path kept more in registers (7
 * instructions a free of free:empty:256:rand, 4 so).
 */
static __attribute__((noinline, cold)) int mb_free_validate_shared_locked(struct mb_volume *vol,
									  struct mb_group *grp,
									  mb_grpblk_t off,
									  uint32_t len)
{
	int err = mb_gcache_unshare_range_locked(vol, grp, off, len);

	if (err || grp->bb_bitmap == grp->bb_disk)
		return err;
	return mb_range_all_set(grp->bb_disk, off, len) ? 0 : -EEXIST;
}

/* Checks a group-contained range: inside the group's data area, all used,
   none of it the store's metadata. */
static int mb_free_validate_locked(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t off,
				   uint32_t len)
{
	int err = mb_range_piece_check_locked(vol, grp, off, len);

	if (err)
		return err;
	/* in one word (a short free): its test inline, not bitops.c's call */
	uint32_t last = off + len - 1;

	if ((off ^ last) < 64 ? ~grp->bb_disk[off >> 6] & (~0ULL << (off & 63)) &
					(~0ULL >> (63 - (last & 63)))
			      : !mb_free_all_used(grp->bb_disk, off, len))
		return -EEXIST;
	if (MB_UNLIKELY(mb_gcache_pa_tails_locked(grp)) &&
	    (err = mb_free_validate_shared_locked(vol, grp, off, len)))
		return err;
	if (vol->store->ops->is_meta &&
	    vol->store->ops->is_meta(vol->store, mb_group_no(vol, grp), off, len))
		return -EINVAL; /* the store's metadata (an ext4 image's bitmaps...) */
	return 0;
}

static int mb_free_in_group(struct mb_volume *vol, mb_grp_t g, mb_grpblk_t off, uint32_t len,
			    bool apply)
{
	struct mb_group *grp = mb_group_at(vol, g);
	int err;

	mb_lock(&grp->bb_lock);
	err = mb_group_load_locked(vol, grp);
	if (!err)
		err = mb_free_validate_locked(vol, grp, off, len);
	if (!err && apply) {
		mb_probe_free(vol, g, off, len);
		mb_group_clear_disk_locked(grp, off, len);
		mb_free_counter_freed(vol, len);
		if (vol->frees_wait) { /* the free waits for its commit */
			mb_set_bits(mb_group_pending_map(vol, grp), off, len);
			grp->bb_pending_count += len;
			atomic_fetch_add_explicit(&vol->free_pending, len, memory_order_relaxed);
		} else if (grp->bb_bitmap == grp->bb_disk) {
			/* shared: the in-core bits are the on-disk ones the
			   validation found all set (nothing cleared them:
			   mb_group_clear_disk_locked leaves a shared map to the
			   buddy), and no PA holds them (one that did split the
			   maps in the validation) */
			mb_buddy_free_validated(vol, grp, off, len);
		} else {
			mb_return_blocks_locked(vol, grp, off, len);
		}
	}
	mb_unlock(&grp->bb_lock);
	return err;
}

/* mb_free's range that is not one group's valid piece (or a read-only
   store's): out of line, so that mb_free keeps no frame -- with
   mb_range_validate_apply inlined there, every free saved and restored
   five registers around its tail call (~12 instructions a free) */
static __attribute__((noinline, cold)) int mb_free_rare(struct mb_volume *vol, uint64_t start,
							uint64_t len)
{
	return mb_range_validate_apply(vol, start, len, mb_free_in_group);
}

/*
 * Validates every piece first, then applies (mb_range_validate_apply).  A
 * range inside one group -- nearly every free -- is one piece, which
 * validates under its lock before it applies: straight to it, after
 * mb_range_validate_apply's own checks (anything else goes there, and
 * gets its answers).  With the one-word test inline in
 * mb_free_validate_locked: free:aged50:1:rand 527 -> 497 instructions a
 * free, free:aged90:256:zero 881 -> 862.
 */
int mb_free(struct mb_volume *vol, uint64_t start, uint64_t len)
{
	if (MB_LIKELY(!mb_store_read_only(vol->store) && !mb_range_bad(vol, start, len))) {
		mb_grpblk_t off = mb_block_offset(vol, start);

		if (MB_LIKELY(len <= vol->bpg - off))
			return mb_free_in_group(vol, mb_block_group(vol, start), off, (uint32_t)len,
						true);
	}
	return mb_free_rare(vol, start, len);
}

/*
 * Makes pending frees allocatable as soon as possible: by the store's
 * commit.  Returns > 0 when blocks became allocatable, 0, or -errno.
 */
int mb_force_commit(struct mb_volume *vol)
{
	struct mb_store *st = vol->store;

	/* a store without commit frees at once: nothing is ever pending */
	return st->ops->commit ? st->ops->commit(st) : 0;
}
