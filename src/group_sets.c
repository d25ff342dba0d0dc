/* SPDX-License-Identifier: MIT */
/*
 * group_sets.c - the optimized-scan sets: each group sits in the set of its
 * largest free buddy order and in that of its average free-fragment order,
 * so the allocator finds candidate groups without visiting them; and, for
 * the linear passes (alloc.c), in free_ge[0..k] where 2^k <= bb_free, so a
 * pass that needs n free blocks visits only groups that may hold them.
 * largest_ge / avg_ge hold each group in the sets of its orders and every
 * lower one: one look tells whether any set of order k or more has a
 * member in a range of groups.
 * Called whenever a group's buddy counters change, under its bb_lock.
 */
#include "gset.h"

int mb_group_avg_order(const struct mb_volume *vol, uint32_t free, uint32_t frags)
{
	if (!free || !frags)
		return -1;
	int o = mb_ilog2(free / frags);

	return o < vol->max_order ? o : vol->max_order;
}

/* The highest order at or below top with a free chunk, -1 if none. */
static inline int mb_largest_order_from(const uint32_t *counters, int top)
{
	for (int k = top; k >= 0; k--)
		if (counters[k])
			return k;
	return -1;
}

int mb_group_largest_order(const struct mb_volume *vol, const uint32_t *counters)
{
	return mb_largest_order_from(counters, vol->max_order);
}

/* ilog2(free) up to max_order, -1 when nothing is free: see free_ge. */
int mb_group_free_order(const struct mb_volume *vol, uint32_t free, uint32_t frags)
{
	if (!free || !frags)
		return -1;
	int o = mb_ilog2(free);

	return o < vol->max_order ? o : vol->max_order;
}

/* Moves the group to the sets of its new orders (some changed); `one`: gset.h. */
static inline __attribute__((always_inline)) void
mb_group_move_sets_as(struct mb_volume *vol, struct mb_group *grp, int lo, int ao, int fo, bool one)
{
	mb_grp_t g = mb_group_no(vol, grp);

	if (fo != grp->bb_free_order) {
		mb_gset_move_ge_as(vol->free_ge, g, grp->bb_free_order, fo, one);
		MB_WRITE_ONCE(grp->bb_free_order, fo);
	}
	if (lo != grp->bb_largest_free_order) {
		if (grp->bb_largest_free_order >= 0)
			mb_gset_del_as(&vol->largest_set[grp->bb_largest_free_order], g, one);
		MB_HOOK(vol, MB_HOOK_SET_MOVING, g, lo);
		if (lo >= 0)
			mb_gset_add_as(&vol->largest_set[lo], g, one);
		mb_gset_move_ge_as(vol->largest_ge, g, grp->bb_largest_free_order, lo, one);
		MB_WRITE_ONCE(grp->bb_largest_free_order, lo);
	}
	if (ao != grp->bb_avg_fragment_size_order) {
		if (grp->bb_avg_fragment_size_order >= 0)
			mb_gset_del_as(&vol->avg_set[grp->bb_avg_fragment_size_order], g, one);
		if (ao >= 0)
			mb_gset_add_as(&vol->avg_set[ao], g, one);
		mb_gset_move_ge_as(vol->avg_ge, g, grp->bb_avg_fragment_size_order, ao, one);
		MB_WRITE_ONCE(grp->bb_avg_fragment_size_order, ao);
	}
}

/* One look at the thread count for the whole move (up to ~40 sets). */
static __attribute__((noinline)) void mb_group_move_sets_locked(struct mb_volume *vol,
								struct mb_group *grp, int lo,
								int ao, int fo)
{
	if (MB_SINGLE_THREADED())
		mb_group_move_sets_as(vol, grp, lo, ao, fo, true);
	else
		mb_group_move_sets_as(vol, grp, lo, ao, fo, false);
}

/*
 * Recomputes the largest-free, average-fragment and free orders and moves
 * the group between the scan sets.  Corrupt groups are in no set.  Most
 * allocations and frees change none of the orders: that case returns
 * before any set is touched.
 */
static inline void mb_group_update_orders_from(struct mb_volume *vol, struct mb_group *grp,
					       int top)
{
	bool corrupt = mb_group_corrupt(grp);
	int lo = corrupt ? -1 : mb_largest_order_from(grp->bb_counters, top);
	int ao = corrupt ? -1 : mb_group_avg_order(vol, grp->bb_free, grp->bb_fragments);
	int fo = corrupt ? -1 : mb_group_free_order(vol, grp->bb_free, grp->bb_fragments);

	if (MB_LIKELY(lo == grp->bb_largest_free_order && ao == grp->bb_avg_fragment_size_order &&
		      fo == grp->bb_free_order))
		return;
	mb_group_move_sets_locked(vol, grp, lo, ao, fo);
}

void mb_group_update_orders_locked(struct mb_volume *vol, struct mb_group *grp)
{
	mb_group_update_orders_from(vol, grp, vol->max_order);
}

/*
 * Do the recorded orders still hold after blocks were marked used?  A use
 * only empties chunks and splits them into lower orders, and lowers
 * bb_free: the largest order holds while its counter is non-zero, the free
 * order (ilog2(free), capped) while free >= 2^fo, and the average order
 * while 2^ao <= free / frags < 2^(ao + 1) (no upper bound at max_order),
 * which is free >= frags << ao and free < frags << (ao + 1) -- shifts and
 * compares instead of a division and two ilog2 (most uses change none).
 */
static inline bool mb_group_orders_hold_used(const struct mb_volume *vol, struct mb_group *grp)
{
	int lo = grp->bb_largest_free_order, ao = grp->bb_avg_fragment_size_order;
	int fo = grp->bb_free_order;
	uint64_t free = grp->bb_free, frags = grp->bb_fragments;

	if (lo < 0 || ao < 0 || fo < 0 || !frags || mb_group_corrupt(grp))
		return false;
	return grp->bb_counters[lo] && free >= 1ULL << fo && free >= frags << ao &&
	       (ao == vol->max_order || free < frags << (ao + 1));
}

/*
 * The same after blocks were marked used (buddy.c): that only empties
 * chunks and splits them into lower orders, so no counter above the
 * largest order recorded before can have become non-zero, and the search
 * for the largest starts there.  -1 recorded (nothing free, or corrupt
 * before): the full search.
 */
void mb_group_update_orders_used_locked(struct mb_volume *vol, struct mb_group *grp)
{
	int top = grp->bb_largest_free_order;

	assert(top < 0 || top == vol->max_order ||
	       mb_group_largest_order(vol, grp->bb_counters) <= top);
	if (MB_LIKELY(mb_group_orders_hold_used(vol, grp))) {
		assert(grp->bb_largest_free_order == mb_group_largest_order(vol, grp->bb_counters) &&
		       grp->bb_avg_fragment_size_order ==
			       mb_group_avg_order(vol, grp->bb_free, grp->bb_fragments) &&
		       grp->bb_free_order ==
			       mb_group_free_order(vol, grp->bb_free, grp->bb_fragments));
		return;
	}
	mb_group_update_orders_from(vol, grp, top >= 0 ? top : vol->max_order);
}

/*
 * The same after blocks were freed (buddy.c): top is the highest order a
 * freed chunk ended in once merged.  A free adds chunks only of the orders
 * they end in, and takes a chunk of order j away only by merging it into
 * one of order j + 1 or more, so the largest order is the one recorded
 * before or top, whichever is higher, and the search starts there.  -1
 * recorded (nothing free, or corrupt): the full search.
 */
void mb_group_update_orders_freed_locked(struct mb_volume *vol, struct mb_group *grp, int top)
{
	int lo = grp->bb_largest_free_order;

	top = lo < 0 ? vol->max_order : lo > top ? lo : top;
	assert(mb_group_largest_order(vol, grp->bb_counters) <= top);
	mb_group_update_orders_from(vol, grp, top);
}
