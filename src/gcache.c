/* SPDX-License-Identifier: MIT */
/*
 * gcache.c - which groups keep their derived state built.  A loaded group
 * has a durable on-disk bitmap (bb_disk), an in-core bitmap (bb_disk itself
 * while no PA, pending free or trim makes them differ: group.c) and
 * derived state: the buddy and the run summary, rebuilt from the bitmap by
 * mb_group_load_locked.  ext4 keeps buddy pages in the
 * page cache and loses them under memory pressure; we keep at most
 * mb_cache_groups groups built (tunable, 1..ngroups) and drop the
 * derived state of the oldest beyond that.  A rebuild gives a bit-identical
 * bitmap and buddy and the same counters (buddy.c), so decisions do not
 * depend on what was dropped (tests/unit/test_gcache.c).
 *
 * The ring: gc_slot[] holds group + 1 of the groups built most recently;
 * a group is in it at most once, exactly while its MB_GRP_TRACKED bit is
 * set (set by whoever turns it on, under the group's lock; cleared by
 * whoever takes it out of the ring).  A group that is used while built but
 * untracked is put back in (mb_gcache_track_locked), so a group that could
 * not be dropped when it was evicted is re-counted the next time it works.
 *
 * Locking: called with one group's bb_lock held; a victim's lock is only
 * tried (mb_trylock_nested), never waited for: a busy victim is someone's
 * working set and stays built, untracked.  The ring itself is atomics, and
 * it is touched only when a group is built or re-tracked -- never on the
 * path of a request whose groups are built.
 */
#include <stdlib.h>
#include <string.h>

#include "mb_int.h"

/*
 * The default of mb_cache_groups: every group, so nothing is ever dropped
 * and a request never pays for a rebuild.  At 4 KiB blocks a used group
 * costs 4 KiB of bitmap (one, shared by on-disk and in-core while no PA
 * makes them differ) and 384 bytes of struct for good, and 2.6 KiB of
 * derived state (the stored buddy orders, 0.5 KiB, and the run tree) while
 * built: a volume whose every group was used holds about 55 MiB per TiB
 * (bench_mem_size), under ext4's 64.  A smaller cache saves at most the
 * derived part, and random goals over the whole volume would then rebuild
 * a buddy on most calls, so that is the caller's choice.  With every group
 * in the ring (one slot each) the ring never wraps: no victim.
 */
static uint32_t mb_gcache_default(uint32_t ngroups)
{
	return ngroups;
}

int mb_gcache_init(struct mb_volume *vol)
{
	vol->gc_size = vol->ngroups;
	vol->gc_slot = mb_zmap(vol->gc_size * sizeof(*vol->gc_slot));
	if (!vol->gc_slot)
		return -ENOMEM;
	atomic_init(&vol->gc_hand, 0);
	vol->t.mb_cache_groups = mb_gcache_default(vol->ngroups);
	return 0;
}

void mb_gcache_destroy(struct mb_volume *vol)
{
	mb_zunmap((void *)vol->gc_slot, vol->gc_size * sizeof(*vol->gc_slot));
	vol->gc_slot = NULL;
}

/*
 * The in-core bitmap is on-disk | PAs | pending frees | runs held by a trim.
 * While there are none of those (no PA, nothing pending or held) the two
 * are the same bits, and a group keeps one copy: bb_bitmap == bb_disk
 * ("shared"), 4 KiB per group instead of 8 at 4 KiB blocks.  Whoever is
 * about to make them differ -- a new PA, a trim's hold, a free that waits
 * for its commit -- first gives the group a private in-core copy
 * (mb_gcache_unshare_locked); when its last PA goes, the copy is dropped
 * again if the two agree (mb_gcache_share_locked).  Every write of the
 * on-disk map goes through mb_group_mark_disk_locked and
 * mb_group_clear_disk_locked, (group.c), which know that a shared map was
 * already written by the buddy (buddy.c marks and frees in bb_bitmap).
 * A store whose frees wait for a commit keeps a private copy whenever the
 * group is built: its frees change the on-disk map alone, in the apply
 * pass of mb_free, where an allocation could not fail cleanly.
 */

/* Gives grp its own in-core bitmap, a copy of the shared one.  0 or
   -ENOMEM (then nothing changed).  bb_lock held. */
int mb_gcache_unshare_locked(struct mb_volume *vol, struct mb_group *grp)
{
	mb_assert_locked(&grp->bb_lock);
	if (grp->bb_bitmap != grp->bb_disk)
		return 0;
	uint64_t *copy = malloc(vol->bitmap_words * sizeof(uint64_t));

	if (!copy)
		return -ENOMEM;
	memcpy(copy, grp->bb_disk, vol->bitmap_words * sizeof(uint64_t));
	grp->bb_bitmap = copy;
	return 0;
}

/*
 * Drops grp's private in-core bitmap if it may be shared again: no PA on
 * the group's list, nothing pending, and the same bits as on disk (which
 * also rules out a trim's hold and a legacy PA not yet listed), and frees
 * that do not wait.  Returns whether the group is shared now.  bb_lock held.
 */
bool mb_gcache_share_locked(struct mb_volume *vol, struct mb_group *grp)
{
	mb_assert_locked(&grp->bb_lock);
	if (grp->bb_bitmap == grp->bb_disk)
		return true;
	if (vol->frees_wait || !mb_list_empty(&grp->bb_prealloc_list) || grp->bb_pending_count ||
	    memcmp(grp->bb_bitmap, grp->bb_disk, vol->bitmap_words * sizeof(uint64_t)))
		return false;
	free(grp->bb_bitmap);
	grp->bb_bitmap = grp->bb_disk;
	return true;
}

/*
 * Takes grp's derived state (buddy and run tree) away if it can be rebuilt
 * from bb_disk alone -- no PA, nothing pending, nothing held out of the
 * buddy (a trim in flight), which is when its in-core bitmap may be shared
 * with bb_disk (group.c) -- and returns its buffer (NULL if it cannot).
 * bb_lock held.
 */
static uint64_t *mb_group_drop_locked(struct mb_volume *vol, struct mb_group *grp)
{
	uint64_t *buf = grp->bb_buddy; /* the run tree follows it */

	mb_assert_locked(&grp->bb_lock);
	if (!buf || mb_group_corrupt(grp))
		return NULL;
	if (vol->frees_wait) { /* a private copy while built: drop it too */
		if (!mb_list_empty(&grp->bb_prealloc_list) || grp->bb_pending_count ||
		    memcmp(grp->bb_bitmap, grp->bb_disk, vol->bitmap_words * sizeof(uint64_t)))
			return NULL;
		free(grp->bb_bitmap);
		grp->bb_bitmap = grp->bb_disk;
	} else if (!mb_gcache_share_locked(vol, grp)) {
		return NULL;
	}
	grp->bb_buddy = NULL;
	atomic_fetch_add_explicit(&vol->gc_drops, 1, memory_order_relaxed); /* tests, stats */
	return buf;
}

/* Takes victim (group + 1) out of the accounting and drops it if it can:
   its derived buffer, or NULL. */
static uint64_t *mb_gcache_evict(struct mb_volume *vol, uint32_t victim)
{
	/* peek, not mb_group_at: a group in the ring was built, so set up */
	struct mb_group *grp = mb_group_peek(vol, victim - 1);
	uint64_t *buf;

	assert(grp);

	if (mb_trylock_nested(&grp->bb_lock)) {
		/* busy: it stays built; its user's next load re-tracks it */
		atomic_fetch_and_explicit(&grp->bb_state, ~(uint32_t)MB_GRP_TRACKED,
					  memory_order_relaxed);
		return NULL;
	}
	atomic_fetch_and_explicit(&grp->bb_state, ~(uint32_t)MB_GRP_TRACKED,
				  memory_order_relaxed);
	buf = mb_group_drop_locked(vol, grp);
	mb_unlock(&grp->bb_lock);
	return buf;
}

/*
 * grp's derived state is built and in use: count it in the ring (once) and
 * drop the group it displaces.  bb_lock held.
 */
void mb_gcache_track_locked(struct mb_volume *vol, struct mb_group *grp)
{
	free(mb_gcache_claim_locked(vol, grp));
}

/*
 * grp is about to be built (or is): count it in the ring (once) and drop
 * the group it displaces, whose derived buffer is returned for grp to
 * reuse (NULL if none): a rebuild in a full cache then costs no malloc,
 * no free and no fresh page.  bb_lock held.
 */
uint64_t *mb_gcache_claim_locked(struct mb_volume *vol, struct mb_group *grp)
{
	mb_assert_locked(&grp->bb_lock);
	uint32_t old = atomic_fetch_or_explicit(&grp->bb_state, MB_GRP_TRACKED,
						memory_order_relaxed);

	if (old & MB_GRP_TRACKED)
		return NULL;
	uint32_t cap = MB_READ_ONCE(vol->t.mb_cache_groups);

	if (!cap || cap > vol->gc_size)
		cap = vol->gc_size; /* mb_tunable_set keeps it in range; be safe */
	/* relaxed: the ring is bookkeeping; each victim is judged under its
	   own lock, which orders everything that matters */
	uint64_t h = atomic_fetch_add_explicit(&vol->gc_hand, 1, memory_order_relaxed);
	uint32_t victim = atomic_exchange_explicit(&vol->gc_slot[h % cap],
						   mb_group_no(vol, grp) + 1, memory_order_relaxed);

	return victim && victim != mb_group_no(vol, grp) + 1 ? mb_gcache_evict(vol, victim) : NULL;
}
