/* SPDX-License-Identifier: MIT */
/*
 * gcache.c - which groups keep their derived state built.  A loaded group
 * has a durable on-disk bitmap (bb_disk), an in-core bitmap (bb_disk itself
 * while no PA -- but one listed under the lock, below --, pending free or trim makes
 * them differ: group.c) and
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
 * makes them differ) and 384 bytes of struct for good, and 1.8 KiB of
 * derived state (the stored buddy orders, 0.5 KiB, and the run tree) while
 * built: a volume whose every group was used holds about 51 MiB per TiB
 * (bench_mem_size), under ext4's 64, plus at most MB_GCACHE_QUIET private
 * copies that hot groups keep between PAs (128 KiB a volume, below).  A
 * smaller cache saves at most the derived part, and random goals over the
 * whole volume would then rebuild a buddy on most calls, so that is the
 * caller's choice.  With every group
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
	atomic_init(&vol->gc_copies, 0);
	vol->gq_size = vol->ngroups < MB_GCACHE_QUIET ? vol->ngroups : MB_GCACHE_QUIET;
	for (uint32_t i = 0; i < MB_GCACHE_QUIET; i++)
		atomic_init(&vol->gq_slot[i], 0);
	atomic_init(&vol->gq_hand, 0);
	atomic_init(&vol->gc_spare, NULL);
	vol->t.mb_cache_groups = mb_gcache_default(vol->ngroups);
	return 0;
}

void mb_gcache_destroy(struct mb_volume *vol)
{
	mb_zunmap((void *)vol->gc_slot, vol->gc_size * sizeof(*vol->gc_slot));
	vol->gc_slot = NULL;
	free(atomic_exchange_explicit(&vol->gc_spare, NULL, memory_order_relaxed));
}

/*
 * A group going cold gives its copy's memory back and the next group to
 * need a copy takes one: in the aging protocol with a file, groups go
 * cold and others need a copy some 2,500 times a run, and a malloc and a
 * free of 4 KiB cost ~300 instructions a pair.  One spare per volume, kept
 * in vol->gc_spare (exchanged, acquire and release: any thread, under any
 * group's lock), so at most one bitmap more than the copies in use; freed
 * at destroy.
 */
static uint64_t *mb_gcache_copy_mem(struct mb_volume *vol)
{
	/* acquire: the releaser's last writes to the memory (its group's
	   bitmap, under that group's lock) happen before our use of it */
	uint64_t *mem = atomic_exchange_explicit(&vol->gc_spare, NULL, memory_order_acquire);

	return mem ? mem : malloc(vol->bitmap_words * sizeof(uint64_t));
}

/*
 * acq_rel: release, so that our writes to mem happen before its next
 * owner's use or free; acquire, so that the last writes to the spare we
 * take out happen before our free of it.  Relaxed, a thread could free a
 * copy another had just written and given back (TSan, stress with more
 * groups than the quiet ring's slots: b4k_128g).
 */
static void mb_gcache_copy_release(struct mb_volume *vol, uint64_t *mem)
{
	free(atomic_exchange_explicit(&vol->gc_spare, mem, memory_order_acq_rel));
}

/*
 * The in-core bitmap is on-disk | PAs | pending frees | runs held by a trim.
 * While there are none of those (no PA, nothing pending or held) the two
 * are the same bits, and a group keeps one copy: bb_bitmap == bb_disk
 * ("shared"), 4 KiB per group instead of 8 at 4 KiB blocks.  Whoever is
 * about to make them differ -- a new PA, a trim's hold, a free that waits
 * for its commit -- first gives the group a private in-core copy
 * (mb_gcache_unshare_locked); when its last PA goes, the copy may be
 * dropped again (mb_gcache_share_locked).  Every write of the
 * on-disk map goes through mb_group_mark_disk_locked and
 * mb_group_clear_disk_locked, (group.c), which know that a shared map was
 * already written by the buddy (buddy.c marks and frees in bb_bitmap); a
 * private copy is kept equal to bb_disk outside PAs, pending frees and
 * holds, so it may outlive its need.
 * A store whose frees wait for a commit keeps a private copy whenever the
 * group is built: its frees change the on-disk map alone, in the apply
 * pass of mb_free, where an allocation could not fail cleanly.
 *
 * Shared with PAs.  A new PA under the seq policy -- listed under the
 * lock that made it -- does not need the copy: its unused blocks are at
 * most two runs, set in the shared map by the buddy and clear on disk,
 * and the rest of it is used on disk: a group PA's whole range, its clean
 * tail; an inode PA's front [its start, pa_front_end) -- blocks below its
 * request's share, when mb_inode_pa_lstart placed it before the request --
 * and its clean tail [pa_clean_off, its end), the share between them
 * (mb_gcache_pa_run).  While every PA listed in a shared group is so, the
 * on-disk map is bb_disk minus those runs.  The copy waits for whatever
 * would make the two differ otherwise, or reads the on-disk map apart
 * from the in-core one, and then splits the maps (mb_gcache_unshare_locked
 * clears the runs from bb_disk): a take past a PA's pa_clean_off or below
 * its pa_front_end (a hole in a run), a free that meets a PA, an imposed
 * PA, a PA listed after the lock (legacy), a trim's hold.  Until then a
 * PA's take sets bits the buddy set already (a no-op on a shared map), its
 * discard frees its runs in the buddy (which clears what on disk was
 * clear), and readers of the on-disk map derive it
 * (mb_gcache_disk_view_locked, mb_gcache_disk_used_locked,
 * mb_gcache_tail_blocks_locked).  Most PAs of a file's lanes are used up
 * or discarded before anything splits them: the 4 KiB copy (and its
 * release when the group goes cold) was ~140 instructions a call of the
 * aged90 zero cell's file lane, one a PA made, when every PA copied.
 *
 * Hysteresis.  A hot group makes and loses PAs over and over (a file
 * appending through it): sharing at every last PA and copying at every
 * first one cost a memcmp, a free, a malloc and a memcpy of the bitmap
 * each time (7% of mballoc's instructions in the aging protocol at 4 GiB).
 * So a group that loses its last PA keeps its copy and enters the quiet
 * ring (gq_slot, MB_GRP_QUIET) instead; its next PA needs no copy.  The
 * ring holds gq_size groups: a group goes cold -- is shared, if it may be
 * -- when the hand comes back to its slot, gq_size entries (tries) after
 * its own.  A cold group that has a PA again just leaves the ring, keeping
 * the copy it needs; its last PA puts it back.  So at most gq_size
 * bitmaps (32, 128 KiB at 4 KiB blocks) per volume are kept that no PA,
 * pending free or hold needs: the memory target holds (bench_mem_size).
 *
 * Locking of the ring: a group is in a slot exactly while its
 * MB_GRP_QUIET bit is set, and both change together under that group's
 * bb_lock -- whoever puts a group in holds its lock, whoever takes one out
 * holds the lock of the one it takes out (tried, never waited for: we hold
 * another group's).  A slot's CAS that succeeds under the lock of the group
 * it held is the proof that the group was still there; so the slots are
 * relaxed (the group locks order the rest), and a hand that races only
 * costs a group its place (it is then shared at once, as without the ring).
 */

/*
 * A PA listed in a shared group has its unused blocks, set in the shared
 * map by the buddy and clear on disk, in at most two runs (above): run 0,
 * an inode PA's front, [its start, pa_front_end); run 1, its clean tail,
 * [pa_clean_off, its end) -- a group PA's whole range (handed out from its
 * front, so pa_clean_off is its start, and pa_front_end 0).  Each is
 * [*from, *to) in group offsets, empty when *from >= *to.  bb_lock held.
 */
static inline void mb_gcache_pa_run(const struct mb_volume *vol, const struct mb_pa *pa, int i,
				    uint32_t *from, uint32_t *to)
{
	uint32_t start = (uint32_t)(pa->pa_pstart - mb_group_first_block(vol, pa->pa_group));

	assert(pa->pa_front_end <= pa->pa_clean_off &&
	       (pa->pa_front_end > start ? pa->pa_front_end - start : 0) +
			       (start + pa->pa_len - pa->pa_clean_off) ==
		       pa->pa_free);
	*from = i ? pa->pa_clean_off : start;
	*to = i ? start + pa->pa_len : pa->pa_front_end;
}

/* Clears the unused runs of grp's PAs (mb_gcache_pa_run) in map. */
static void mb_gcache_clear_pa_runs(const struct mb_volume *vol, struct mb_group *grp,
				    uint64_t *map)
{
	struct mb_list *pos;

	mb_list_for_each(pos, &grp->bb_prealloc_list)
	{
		for (int i = 0; i < 2; i++) {
			uint32_t from, to;

			mb_gcache_pa_run(vol, MB_CONTAINER_OF(pos, struct mb_pa, pa_group_list), i,
					 &from, &to);
			if (from < to)
				mb_clear_bits(map, from, to - from);
		}
	}
}

/*
 * Gives grp its own in-core bitmap, a copy of the shared one; a shared
 * group's PAs' unused runs then leave bb_disk (they were never on disk).
 * 0 or -ENOMEM (then nothing changed).  bb_lock held.
 */
int mb_gcache_unshare_locked(struct mb_volume *vol, struct mb_group *grp)
{
	mb_assert_locked(&grp->bb_lock);
	if (grp->bb_bitmap != grp->bb_disk)
		return 0; /* needed already, or kept while hot (quiet ring) */
	uint64_t *copy = mb_gcache_copy_mem(vol);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, grp->bb_disk, vol->bitmap_words * sizeof(uint64_t));
	grp->bb_bitmap = copy;
	mb_gcache_clear_pa_runs(vol, grp, grp->bb_disk);
	atomic_fetch_add_explicit(&vol->gc_copies, 1, memory_order_relaxed); /* tests, stats */
	return 0;
}

/*
 * Splits grp's maps (mb_gcache_unshare_locked) if it is shared and one of
 * its PAs meets [off, off + len): a free there changes a PA's used blocks
 * (an inode PA takes them back, clear on disk and used in the buddy) or is
 * refused for blocks that are not used on disk, which only bb_disk apart
 * tells.  A free elsewhere in a shared group needs no copy.  0 or -ENOMEM.
 * bb_lock held.
 */
int mb_gcache_unshare_range_locked(struct mb_volume *vol, struct mb_group *grp, uint32_t off,
				   uint32_t len)
{
	struct mb_list *pos;

	mb_assert_locked(&grp->bb_lock);
	if (grp->bb_bitmap != grp->bb_disk)
		return 0;
	mb_list_for_each(pos, &grp->bb_prealloc_list)
	{
		const struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_group_list);
		uint32_t s = (uint32_t)(pa->pa_pstart - mb_group_first_block(vol, pa->pa_group));

		if (off < s + pa->pa_len && s < off + len)
			return mb_gcache_unshare_locked(vol, grp);
	}
	return 0;
}

/*
 * grp's on-disk map: bb_disk, or -- shared with PAs -- a copy of it in
 * `scratch` (bitmap_words) without their unused runs.  bb_lock held.
 */
const uint64_t *mb_gcache_disk_view_locked(const struct mb_volume *vol, struct mb_group *grp,
					   uint64_t *scratch)
{
	mb_assert_locked(&grp->bb_lock);
	if (!mb_gcache_pa_tails_locked(grp))
		return grp->bb_disk;
	memcpy(scratch, grp->bb_disk, vol->bitmap_words * sizeof(uint64_t));
	mb_gcache_clear_pa_runs(vol, grp, scratch);
	return scratch;
}

/* How many blocks of [off, off + len) lie in a shared group's PAs' unused
   runs: set in bb_disk, free on disk.  bb_lock held. */
uint32_t mb_gcache_tail_blocks_locked(const struct mb_volume *vol, struct mb_group *grp,
				      uint32_t off, uint32_t len)
{
	struct mb_list *pos;
	uint32_t n = 0;

	mb_assert_locked(&grp->bb_lock);
	if (grp->bb_bitmap != grp->bb_disk)
		return 0;
	mb_list_for_each(pos, &grp->bb_prealloc_list)
	{
		for (int i = 0; i < 2; i++) {
			uint32_t from, to;

			mb_gcache_pa_run(vol, MB_CONTAINER_OF(pos, struct mb_pa, pa_group_list), i,
					 &from, &to);
			from = from > off ? from : off;
			to = to < off + len ? to : off + len;
			n += from < to ? to - from : 0;
		}
	}
	return n;
}

/* Whether block off of grp is used on disk.  bb_lock held. */
bool mb_gcache_disk_used_locked(const struct mb_volume *vol, struct mb_group *grp, uint32_t off)
{
	return mb_test_bit(grp->bb_disk, off) && !mb_gcache_tail_blocks_locked(vol, grp, off, 1);
}

/* Whether grp's private copy is needed: a PA, something pending, frees
   that wait (their copy is kept while built).  bb_lock held. */
static bool mb_gcache_needed_locked(const struct mb_volume *vol, struct mb_group *grp)
{
	return vol->frees_wait || !mb_list_empty(&grp->bb_prealloc_list) || grp->bb_pending_count;
}

/*
 * Whether grp's private in-core bitmap has the same bits as bb_disk.  The
 * in-core map is on-disk | PAs | pending | holds (above): a superset, so
 * the two are equal exactly when they count as many free blocks -- bb_free
 * and bg_free, both kept exact (mb_check rebuilds and compares each).  The
 * counts answer in two loads what a memcmp of the maps (4 KiB at 4 KiB
 * blocks, ~500 instructions) did on every group going cold: 2% of
 * aging:triangle:file.  A corrupt group's counters are not trusted: memcmp.
 * bb_lock held.
 */
static bool mb_gcache_same_bits_locked(const struct mb_volume *vol, struct mb_group *grp)
{
	size_t bytes = vol->bitmap_words * sizeof(uint64_t);

	if (MB_UNLIKELY(mb_group_corrupt(grp)))
		return !memcmp(grp->bb_bitmap, grp->bb_disk, bytes);
	assert((grp->bb_free == grp->bg_free) == !memcmp(grp->bb_bitmap, grp->bb_disk, bytes));
	return grp->bb_free == grp->bg_free;
}

/* Drops grp's private in-core bitmap now if nothing needs it and it has the
   same bits as on disk (which also rules out a trim's hold and a legacy PA
   not yet listed).  Whether grp is shared.  bb_lock held. */
static bool mb_gcache_share_now_locked(struct mb_volume *vol, struct mb_group *grp)
{
	mb_assert_locked(&grp->bb_lock);
	if (grp->bb_bitmap == grp->bb_disk)
		return true;
	if (mb_gcache_needed_locked(vol, grp) || !mb_gcache_same_bits_locked(vol, grp))
		return false;
	mb_gcache_copy_release(vol, grp->bb_bitmap);
	grp->bb_bitmap = grp->bb_disk;
	return true;
}

/*
 * Puts grp (private, not needed, not quiet) in the quiet ring; the group it
 * displaces goes cold: out of the ring, and shared if it may be.  Returns
 * false if grp could not get a slot (the group there is busy, or another
 * thread took the slot meanwhile): then the caller shares grp at once.
 * bb_lock held.
 */
static bool mb_gcache_quiet_locked(struct mb_volume *vol, struct mb_group *grp)
{
	uint32_t me = mb_group_no(vol, grp) + 1;
	uint64_t h = atomic_fetch_add_explicit(&vol->gq_hand, 1, memory_order_relaxed);
	_Atomic uint32_t *slot = &vol->gq_slot[h % vol->gq_size];
	/* relaxed: only a hint of whose lock to try; the CAS below decides */
	uint32_t old = atomic_load_explicit(slot, memory_order_relaxed);

	mb_assert_locked(&grp->bb_lock);
	assert(!(atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_QUIET));
	if (!old) {
		/* relaxed: a slot holding 0 is no group's; whoever wins it
		   holds the lock of the group it puts in (pairs with nothing) */
		if (!atomic_compare_exchange_strong_explicit(slot, &old, me, memory_order_relaxed,
							     memory_order_relaxed))
			return false;
		atomic_fetch_or_explicit(&grp->bb_state, MB_GRP_QUIET, memory_order_relaxed);
		return true;
	}
	/* peek, not mb_group_at: a group in the ring was built, so set up */
	struct mb_group *cold = mb_group_peek(vol, old - 1);

	assert(cold && cold != grp);
	if (mb_trylock_nested(&cold->bb_lock))
		return false; /* busy: someone's working set, it stays */
	/* relaxed: cold's lock orders its state; the slot changes from `old`
	   only under cold's lock, so success means cold was still there */
	bool won = atomic_compare_exchange_strong_explicit(slot, &old, me, memory_order_relaxed,
							   memory_order_relaxed);

	if (won) {
		atomic_fetch_and_explicit(&cold->bb_state, ~(uint32_t)MB_GRP_QUIET,
					  memory_order_relaxed);
		/* cold with a PA again keeps its copy, needed; its last PA's
		   release puts it back in the ring */
		mb_gcache_share_now_locked(vol, cold);
		atomic_fetch_or_explicit(&grp->bb_state, MB_GRP_QUIET, memory_order_relaxed);
	}
	mb_unlock(&cold->bb_lock);
	return won;
}

/* mb_gcache_share_locked's steps for a private, unneeded, cold group. */
static __attribute__((noinline)) bool mb_gcache_share_cold_locked(struct mb_volume *vol,
								  struct mb_group *grp)
{
	if (mb_gcache_quiet_locked(vol, grp))
		return false;
	return mb_gcache_share_now_locked(vol, grp);
}

/*
 * grp's last PA, pending free or hold is gone: its private in-core bitmap
 * is not needed any more.  A hot group keeps it (the quiet ring, above);
 * otherwise it is dropped if the two agree.  Returns whether the group is
 * shared now.  bb_lock held.  The usual answers -- shared already, needed,
 * hot -- take no frame: the ring's work is a call (a file's used-up
 * window, ~8,400 calls a run of aging:8m64k:file, mostly hot).  A PA's
 * release (prealloc.c, mb_pa_unlist_locked) tests "hot" itself first.
 */
bool mb_gcache_share_locked(struct mb_volume *vol, struct mb_group *grp)
{
	mb_assert_locked(&grp->bb_lock);
	if (grp->bb_bitmap == grp->bb_disk)
		return true;
	if (mb_gcache_needed_locked(vol, grp))
		return false;
	if (atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_QUIET)
		return false; /* hot: kept until it goes cold */
	return mb_gcache_share_cold_locked(vol, grp);
}

/*
 * Takes grp's derived state (buddy and run tree) away if it can be rebuilt
 * from bb_disk alone -- no PA, nothing pending, nothing held out of the
 * buddy (a trim in flight), which is when its in-core bitmap may be shared
 * with bb_disk (group.c) -- and returns its buffer (NULL if it cannot).
 * A shared group may have PAs (above): never dropped, as
 * their takes and releases use the buddy without loading the group.
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
		    !mb_gcache_same_bits_locked(vol, grp))
			return NULL;
		mb_gcache_copy_release(vol, grp->bb_bitmap);
		grp->bb_bitmap = grp->bb_disk;
	} else if (!mb_list_empty(&grp->bb_prealloc_list) || !mb_gcache_share_now_locked(vol, grp)) {
		/* a PA's take and release need the buddy built (a shared
		   group's too); a quiet group shared here stays in the ring:
		   harmless */
		return NULL;
	}
	grp->bb_buddy = NULL;
	atomic_fetch_add_explicit(&vol->gc_drops, 1, memory_order_relaxed); /* tests, stats */
	return buf;
}

/* Takes victim (group + 1) out of the accounting and drops it if it can:
   its derived buffer, or NULL.  Out of line: inlined, its trylock and drop
   made mb_gcache_claim_locked save and restore five registers at every
   claim, where most claims (a cache that never wraps: the default) evict
   nothing -- ~17 instructions a first load (cell:empty:1000:rand:20). */
static __attribute__((noinline)) uint64_t *mb_gcache_evict(struct mb_volume *vol, uint32_t victim)
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
	mb_group_derived_free(vol, mb_gcache_claim_locked(vol, grp));
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
