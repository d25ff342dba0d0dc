/* SPDX-License-Identifier: MIT */
/*
 * group.c - per-group state: creation with synthesized counters, seeding
 * them from the store, lazy loading of the bitmaps from the store (ext4's
 * NEED_INIT / BLOCK_UNINIT), and corruption flags.  The optimized-scan
 * sets are kept in step with the counters by group_sets.c.
 */
#include <stdlib.h>
#include <string.h>

#include "mb_int.h"
#include "store.h"
#include "percpu.h"

/* Metadata blocks at the head of group g (reserved_per_group, clipped). */
uint32_t mb_group_reserved(const struct mb_volume *vol, const struct mb_group *grp)
{
	return vol->geo.reserved_per_group < grp->bb_len ? vol->geo.reserved_per_group
							 : grp->bb_len;
}

/* Sets up every group as BLOCK_UNINIT: only its metadata is used. */
int mb_groups_init(struct mb_volume *vol)
{
	vol->groups = aligned_alloc(MB_CACHELINE, sizeof(struct mb_group) * vol->ngroups);
	if (!vol->groups)
		return -ENOMEM;
	memset(vol->groups, 0, sizeof(struct mb_group) * vol->ngroups);
	for (mb_grp_t g = 0; g < vol->ngroups; g++) {
		struct mb_group *grp = &vol->groups[g];
		uint64_t left = vol->geo.blocks_count - mb_group_first_block(vol, g);

		grp->bb_len = left < vol->bpg ? (uint32_t)left : vol->bpg;
		mb_mutex_init(&grp->bb_lock, MB_RANK_GROUP);
		mb_list_init(&grp->bb_prealloc_list);
		mb_list_init(&grp->bb_pending);
		atomic_init(&grp->bb_state, MB_GRP_NEED_INIT);
		grp->bb_largest_free_order = -1;
		grp->bb_avg_fragment_size_order = -1;

		uint32_t rsv = mb_group_reserved(vol, grp);
		uint32_t free = grp->bb_len - rsv;

		grp->bg_free = free;
		grp->bb_free = free;
		grp->bb_fragments = free ? 1 : 0;
		grp->bb_first_free = free ? rsv : vol->bpg;
		if (free)
			mb_buddy_counters_from_run(vol, grp->bb_counters, rsv, free, NULL);
		mb_group_update_orders_locked(vol, grp);
		mb_free_counter_add(vol, free);
	}
	return 0;
}

void mb_groups_destroy(struct mb_volume *vol)
{
	if (!vol->groups)
		return;
	for (mb_grp_t g = 0; g < vol->ngroups; g++) {
		free(vol->groups[g].bb_bitmap);
		mb_mutex_destroy(&vol->groups[g].bb_lock);
	}
	free(vol->groups);
	vol->groups = NULL;
}

/*
 * Builds a NEED_INIT group's bitmaps.  The on-disk bitmap comes from the
 * volume's store, unless the store says the group is uninit (BLOCK_UNINIT;
 * every group of a memory store): then it is the group's metadata plus
 * the padding past bb_len.  No PA can exist in a group that was never loaded,
 * so the in-core bitmap equals the on-disk one.  The counters seeded from
 * the descriptor (hints, see mb_group_seed_locked) are replaced by the
 * real ones; the free count cannot change (the loader checks the bitmap
 * against the descriptor).  One buffer holds in-core bitmap, buddy,
 * on-disk bitmap, pending-free map, committing map and the free-run tree
 * (runsum.c).  A bitmap that
 * fails its checks flags the group corrupt and returns -EUCLEAN; the group
 * stays NEED_INIT and is never allocated from.  A read that fails (-EIO,
 * -ENOMEM) says nothing about the bitmap: the group stays NEED_INIT, not
 * corrupt, and the next caller reads it again.
 */
int mb_group_load_locked(struct mb_volume *vol, struct mb_group *grp)
{
	mb_assert_locked(&grp->bb_lock);
	if (MB_LIKELY(!(atomic_load_explicit(&grp->bb_state, memory_order_relaxed) &
			MB_GRP_NEED_INIT)))
		return 0;
	if (mb_group_corrupt(grp))
		return -EUCLEAN;

	size_t words = 4 * (size_t)vol->bitmap_words + vol->buddy_words + mb_runsum_words(vol);
	uint64_t *buf = malloc(words * sizeof(uint64_t));

	if (!buf)
		return -ENOMEM;
	grp->bb_bitmap = buf;
	grp->bb_buddy = buf + vol->bitmap_words;
	grp->bb_disk = grp->bb_buddy + vol->buddy_words;
	memset(grp->bb_disk, 0, 3 * vol->bitmap_words * sizeof(uint64_t));
	if (!vol->store->ops->group_uninit(vol->store, mb_group_no(vol, grp))) {
		int err = vol->store->ops->load_bitmap(vol->store, mb_group_no(vol, grp),
						       grp->bb_disk);

		if (err) {
			free(buf);
			grp->bb_bitmap = grp->bb_buddy = grp->bb_disk = NULL;
			if (err == -EUCLEAN)
				mb_group_set_corrupt_locked(vol, grp);
			return err;
		}
	} else {
		mb_set_bits(grp->bb_disk, 0, mb_group_reserved(vol, grp));
		mb_set_bits(grp->bb_disk, grp->bb_len, vol->bitmap_words * 64 - grp->bb_len);
	}
	memcpy(grp->bb_bitmap, grp->bb_disk, vol->bitmap_words * sizeof(uint64_t));

	uint32_t expect = grp->bb_free;

	mb_buddy_generate(vol, grp);
	assert(grp->bb_free == expect);
	(void)expect;
	atomic_fetch_and_explicit(&grp->bb_state, ~(uint32_t)MB_GRP_NEED_INIT,
				  memory_order_relaxed);
	mb_stat_inc(vol, MB_ST_BUDDIES_GENERATED);
	return 0;
}

/*
 * Locks grp and builds its bitmaps if needed, for callers that read them.
 * Returns 0, -EUCLEAN if the group is corrupt, or the load's error; the
 * lock is held either way.
 */
int mb_group_lock_usable(struct mb_volume *vol, struct mb_group *grp)
{
	mb_lock(&grp->bb_lock);
	int err = mb_group_load_locked(vol, grp);

	return !err && mb_group_corrupt(grp) ? -EUCLEAN : err;
}

/*
 * The pending-free map of a loaded group: blocks freed whose free is not
 * durable yet (not allocatable).  bb_lock.
 */
uint64_t *mb_group_pending_map(const struct mb_volume *vol, struct mb_group *grp)
{
	return grp->bb_disk + vol->bitmap_words;
}

/*
 * The committing map: the subset of the pending map that the running
 * commit's snapshot of this group recorded as free; released when that
 * commit is durable.  Frees after the snapshot wait for the next commit.
 * bb_lock (written by the commit under it).
 */
uint64_t *mb_group_committing_map(const struct mb_volume *vol, struct mb_group *grp)
{
	return grp->bb_disk + 2 * vol->bitmap_words;
}

/*
 * Seeds a NEED_INIT group's counters from its descriptor's free count: as
 * if the free blocks were one run after the metadata.  Optimistic hints:
 * the allocator re-judges a group under its lock after loading it, which
 * replaces them; mb_check's NEED_INIT branch only needs bb_free == bg_free
 * and consistent scan sets.  Adjusts the volume's free counter.
 */
void mb_group_seed_locked(struct mb_volume *vol, struct mb_group *grp, uint32_t free)
{
	uint32_t rsv = mb_group_reserved(vol, grp);

	assert(free <= grp->bb_len - rsv);
	mb_free_counter_add(vol, (int64_t)free - (int64_t)grp->bg_free);
	grp->bg_free = free;
	MB_WRITE_ONCE(grp->bb_free, free);
	MB_WRITE_ONCE(grp->bb_fragments, free ? 1u : 0u);
	MB_WRITE_ONCE(grp->bb_first_free, free ? rsv : vol->bpg);
	memset(grp->bb_counters, 0, sizeof(grp->bb_counters));
	if (free)
		mb_buddy_counters_from_run(vol, grp->bb_counters, rsv, free, NULL);
	mb_group_update_orders_locked(vol, grp);
}

/*
 * Seeds every group from the free count its store records (store.h,
 * group_free), before the volume is used.  -EUCLEAN for a count larger
 * than the group's data area.
 */
int mb_groups_seed(struct mb_volume *vol)
{
	struct mb_store *st = vol->store;

	for (mb_grp_t g = 0; st->ops->group_free && g < vol->ngroups; g++) {
		struct mb_group *grp = &vol->groups[g];
		uint32_t free;
		int err = st->ops->group_free(st, g, &free);

		if (!err && free > grp->bb_len - mb_group_reserved(vol, grp))
			err = -EUCLEAN;
		if (err)
			return err;
		mb_lock(&grp->bb_lock);
		mb_group_seed_locked(vol, grp, free);
		mb_unlock(&grp->bb_lock);
	}
	return 0;
}

/*
 * Flags the group's bitmap corrupt: it leaves the scan sets and its free
 * blocks leave the volume's count, exactly once (test-and-set).
 */
void mb_group_set_corrupt_locked(struct mb_volume *vol, struct mb_group *grp)
{
	uint32_t old = atomic_fetch_or_explicit(&grp->bb_state, MB_GRP_CORRUPT,
						memory_order_relaxed);

	if (old & MB_GRP_CORRUPT)
		return;
	mb_free_counter_add(vol, -(int64_t)grp->bg_free);
	mb_group_update_orders_locked(vol, grp);
}

/* Sets on-disk bits for a range the buddy already counts as used. */
void mb_group_mark_disk_used_locked(struct mb_volume *vol, struct mb_group *grp,
				    mb_grpblk_t start, uint32_t len)
{
	mb_assert_locked(&grp->bb_lock);
	assert(mb_range_all_clear(grp->bb_disk, start, len));
	mb_set_bits(grp->bb_disk, start, len);
	grp->bg_free -= len;
	if (!(atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_DIRTY))
		atomic_fetch_or_explicit(&grp->bb_state, MB_GRP_DIRTY, memory_order_relaxed);
	mb_free_counter_consume(vol, len); /* claimed or reserved: U does not move */
}

/* A piece's common checks: inside the group's data area, group not corrupt. */
int mb_range_piece_check_locked(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t off,
				uint32_t len)
{
	mb_assert_locked(&grp->bb_lock);
	if (off < mb_group_reserved(vol, grp) || off + len > grp->bb_len)
		return -EINVAL;
	return mb_group_corrupt(grp) ? -EUCLEAN : 0;
}

/* Runs piece over the per-group pieces of [start, start + len). */
static int mb_range_pass(struct mb_volume *vol, uint64_t start, uint64_t len,
			 mb_range_piece_fn piece, bool apply)
{
	while (len) {
		mb_grp_t g = mb_block_group(vol, start);
		mb_grpblk_t off = mb_block_offset(vol, start);
		uint64_t room = vol->bpg - off;
		uint32_t n = (uint32_t)(len < room ? len : room);
		int err = piece(vol, g, off, n, apply);

		if (err)
			return err;
		start += n;
		len -= n;
	}
	return 0;
}

/*
 * mb_free and mb_mark_used on a range that may span groups: checks the
 * range, validates every piece, then applies them -- all-or-nothing unless
 * another thread changes an overlapping range at the same moment (then the
 * second pass reports it, e.g. -EEXIST).
 */
int mb_range_validate_apply(struct mb_volume *vol, uint64_t start, uint64_t len,
			    mb_range_piece_fn piece)
{
	if (mb_store_read_only(vol->store))
		return -EROFS;
	if (!len || start < vol->geo.first_data_block || start >= vol->geo.blocks_count ||
	    len > vol->geo.blocks_count - start)
		return -EINVAL;
	int err = mb_range_pass(vol, start, len, piece, false);

	return err ? err : mb_range_pass(vol, start, len, piece, true);
}
