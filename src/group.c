/* SPDX-License-Identifier: MIT */
/*
 * group.c - per-group state: creation with synthesized counters, seeding
 * them from the store, lazy loading of the bitmaps from the store (ext4's
 * NEED_INIT / BLOCK_UNINIT), and corruption flags.  The optimized-scan
 * sets are kept in step with the counters by group_sets.c.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "mb_int.h"
#include "store.h"
#include "percpu.h"

/* Metadata blocks at the head of group g (reserved_per_group, clipped). */
/* The metadata blocks at the start of a group of len blocks. */
static inline uint32_t mb_reserved_in(const struct mb_volume *vol, uint32_t len)
{
	return vol->geo.reserved_per_group < len ? vol->geo.reserved_per_group : len;
}

uint32_t mb_group_reserved(const struct mb_volume *vol, const struct mb_group *grp)
{
	return mb_reserved_in(vol, grp->bb_len);
}

/* A group's length: bpg, the last one may be shorter. */
uint32_t mb_group_len(const struct mb_volume *vol, mb_grp_t g)
{
	uint64_t left = vol->geo.blocks_count - mb_group_first_block(vol, g);

	return left < vol->bpg ? (uint32_t)left : vol->bpg;
}

/* Free blocks of group g while it is pristine (BLOCK_UNINIT). */
uint32_t mb_group_pristine_free(const struct mb_volume *vol, mb_grp_t g)
{
	uint32_t len = mb_group_len(vol, g);
	uint32_t rsv = vol->geo.reserved_per_group;

	return rsv < len ? len - rsv : 0;
}

/*
 * A pristine group's counters: BLOCK_UNINIT, only its metadata used, the
 * rest one free run.  Orders as mb_group_update_orders_locked would set
 * them.
 */
static void mb_group_counts_pristine(const struct mb_volume *vol, uint32_t len,
				     struct mb_group_counts *c)
{
	uint32_t rsv = mb_reserved_in(vol, len);
	uint32_t free = len - rsv;

	c->free = free;
	c->fragments = free ? 1 : 0;
	c->first_free = free ? rsv : vol->bpg;
	memset(c->counters, 0, sizeof(c->counters));
	if (free)
		mb_buddy_counters_from_run(vol, c->counters, rsv, free, NULL);
	c->largest_free_order = mb_group_largest_order(vol, c->counters);
	c->avg_fragment_size_order = mb_group_avg_order(vol, free, c->fragments);
	c->free_order = mb_group_free_order(vol, free, c->fragments);
	c->avg_sub = mb_group_avg_sub(free, c->fragments, c->avg_fragment_size_order);
}

/*
 * Fills in a pristine group's counters, without touching the scan sets: a
 * pristine group is already in them (mb_groups_init).  Every group but
 * the last has the full length: a copy of the volume's (grp_pristine),
 * where working them out cost ~150 instructions a group set up
 * (cell:empty:256:rand:20 sets up 256, aging:triangle 512).
 */
static void mb_group_fill_pristine(struct mb_volume *vol, struct mb_group *grp, mb_grp_t g)
{
	struct mb_group_counts own;
	const struct mb_group_counts *c = &vol->grp_pristine;

	grp->bb_len = mb_group_len(vol, g);
	if (g == vol->ngroups - 1) { /* the last: maybe short, its own */
		mb_group_counts_pristine(vol, grp->bb_len, &own);
		c = &own;
	}
	grp->bg_free = c->free;
	grp->bb_free = c->free;
	grp->bb_fragments = c->fragments;
	grp->bb_first_free = c->first_free;
	memcpy(grp->bb_counters, c->counters, sizeof(grp->bb_counters));
	grp->bb_largest_free_order = c->largest_free_order;
	grp->bb_avg_fragment_size_order = c->avg_fragment_size_order;
	grp->bb_free_order = c->free_order;
	grp->bb_avg_sub = c->avg_sub;
}

/* Bytes of the group structs' mapping (vol->groups_mem). */
static size_t mb_groups_mem_bytes(const struct mb_volume *vol)
{
	return sizeof(struct mb_group) * (size_t)vol->ngroups + MB_CACHELINE;
}

/*
 * Groups whose structs are faulted in together (64 KiB of them at 256
 * bytes a struct): the first of a window to be set up faults in the
 * window's pages in one call (bigmem.c).  Otherwise each page of structs
 * takes two faults: a scan reads a group's bb_state first (mapping the
 * zero page), then its set-up's CAS writes it (a copy-on-write fault).
 * aging:triangle sets up its 512 groups so: 62 of its ~200 faults.  A
 * volume whose groups are used far apart holds at most the whole array
 * (256 bytes a group, 2 MiB per TiB), within the memory targets.
 */
#define MB_GROUP_WINDOW 256u

static size_t mb_groups_faulted_words(const struct mb_volume *vol)
{
	return ((size_t)vol->ngroups + 64 * MB_GROUP_WINDOW - 1) / (64 * MB_GROUP_WINDOW);
}

static void mb_group_prefault(struct mb_volume *vol, mb_grp_t g)
{
	uint32_t win = g / MB_GROUP_WINDOW;
	uint64_t bit = 1ULL << (win % 64);

	/* relaxed: the flag only spares a second call; the pages are the
	   kernel's to order */
	if (atomic_fetch_or_explicit(&vol->groups_faulted[win / 64], bit, memory_order_relaxed) &
	    bit)
		return;
	mb_grp_t first = win * MB_GROUP_WINDOW;
	uint32_t n = vol->ngroups - first < MB_GROUP_WINDOW ? vol->ngroups - first : MB_GROUP_WINDOW;

	mb_zmap_prefault_in(vol->groups_mem, mb_groups_mem_bytes(vol),
			    (size_t)((char *)&vol->groups[first] - (char *)vol->groups_mem),
			    (size_t)n * sizeof(struct mb_group));
}

/*
 * Sets up a group struct on its first use, once: the thread that flips
 * bb_state from 0 to SETTING fills it in and publishes SETUP with a release
 * store; the others wait for that (it takes a few hundred nanoseconds).
 * Nobody else writes a group before it is set up, so the struct's zeroes
 * (calloc) are all it holds until then.  prefault: fault in its window's
 * structs first (not at creation: an untouched volume costs no page).
 */
static void mb_group_setup_as(struct mb_volume *vol, struct mb_group *grp, bool prefault)
{
	uint32_t zero = 0;
	mb_grp_t g = mb_group_no(vol, grp);

	if (prefault)
		mb_group_prefault(vol, g);
	if (!atomic_compare_exchange_strong_explicit(&grp->bb_state, &zero, MB_GRP_SETTING,
						     memory_order_acquire,
						     memory_order_acquire)) {
		while (!(atomic_load_explicit(&grp->bb_state, memory_order_acquire) &
			 MB_GRP_SETUP))
			sched_yield();
		return;
	}
	mb_mutex_init(&grp->bb_lock, MB_RANK_GROUP);
	mb_list_init(&grp->bb_prealloc_list);
	mb_list_init(&grp->bb_pending);
	mb_group_fill_pristine(vol, grp, g);
	mb_gset_add(&vol->setup_set, g);
	/* release: pairs with the acquire loads in mb_group_at / mb_group_peek */
	atomic_store_explicit(&grp->bb_state, MB_GRP_NEED_INIT | MB_GRP_SETUP,
			      memory_order_release);
}

void mb_group_setup(struct mb_volume *vol, struct mb_group *grp)
{
	mb_group_setup_as(vol, grp, true);
}

/* Groups [0, n), all like tmpl, join the "order k or more" sets of their orders. */
static void mb_group_fill_ge(struct mb_volume *vol, const struct mb_group *tmpl, uint32_t n,
			     const struct mb_gset_image *img)
{
	for (int k = 0; k <= tmpl->bb_free_order; k++)
		mb_gset_fill(&vol->free_ge[k], n, img);
	for (int k = 0; k <= tmpl->bb_largest_free_order; k++)
		mb_gset_fill(&vol->largest_ge[k], n, img);
	for (int k = 0; k <= tmpl->bb_avg_fragment_size_order; k++)
		mb_gset_fill(&vol->avg_ge[k], n, img);
}

/*
 * Makes every group pristine (BLOCK_UNINIT: only its metadata used) without
 * visiting it: the structs stay zero until first use (mb_group_at), every
 * full-length group joins the scan sets of its orders in one fill, the last
 * group (maybe shorter) is set up now, and the free count is a product.
 */
int mb_groups_init(struct mb_volume *vol)
{
	size_t bytes = mb_groups_mem_bytes(vol);
	mb_grp_t last = vol->ngroups - 1;
	int err;

	vol->groups_mem = mb_zmap(bytes); /* untouched until a group is used */
	vol->zero_map = calloc(vol->bitmap_words, sizeof(uint64_t));
	vol->groups_faulted = calloc(mb_groups_faulted_words(vol), sizeof(uint64_t));
	mb_garena_init(&vol->garena);
	if (!vol->groups_mem || !vol->zero_map || !vol->groups_faulted)
		return -ENOMEM;
	vol->groups = (struct mb_group *)(((uintptr_t)vol->groups_mem + MB_CACHELINE - 1) &
					  ~(uintptr_t)(MB_CACHELINE - 1));
	err = mb_gset_init(&vol->setup_set, vol->ngroups);
	if (!err)
		err = mb_avg_hi_init(vol);
	if (!err)
		err = mb_gcache_init(vol);
	if (err)
		return err;
	/* before any group is set up (the last, below) */
	mb_group_counts_pristine(vol, mb_group_len(vol, 0), &vol->grp_pristine);
	if (last) {
		struct mb_group tmpl = { 0 };
		struct mb_gset_image img; /* the sets' words, written once for all */

		mb_gset_image_open(&img, vol->ngroups, last);
		mb_group_fill_pristine(vol, &tmpl, 0);
		if (tmpl.bb_largest_free_order >= 0)
			mb_gset_fill(&vol->largest_set[tmpl.bb_largest_free_order], last, &img);
		if (tmpl.bb_avg_fragment_size_order >= 0)
			mb_gset_fill(&vol->avg_set[tmpl.bb_avg_fragment_size_order], last, &img);
		mb_group_fill_ge(vol, &tmpl, last, &img);
		mb_avg_hi_fill(vol, tmpl.bb_avg_sub, last, &img);
		mb_gset_image_close(&img);
	}
	struct mb_group *lg = &vol->groups[last];

	mb_group_setup_as(vol, lg, false);

	if (lg->bb_largest_free_order >= 0)
		mb_gset_add(&vol->largest_set[lg->bb_largest_free_order], last);
	if (lg->bb_avg_fragment_size_order >= 0)
		mb_gset_add(&vol->avg_set[lg->bb_avg_fragment_size_order], last);
	for (int k = 0; k <= lg->bb_free_order; k++)
		mb_gset_add(&vol->free_ge[k], last);
	for (int k = 0; k <= lg->bb_largest_free_order; k++)
		mb_gset_add(&vol->largest_ge[k], last);
	for (int k = 0; k <= lg->bb_avg_fragment_size_order; k++)
		mb_gset_add(&vol->avg_ge[k], last);
	mb_avg_hi_add(vol, last, lg->bb_avg_sub);
	mb_free_counter_add(vol, (int64_t)last * mb_group_pristine_free(vol, 0) +
					 mb_group_pristine_free(vol, last));
	return 0;
}

void mb_groups_destroy(struct mb_volume *vol)
{
	if (vol->groups && vol->setup_set.nlevels) {
		for (mb_grp_t g = mb_group_next_setup(vol, 0); g != UINT32_MAX;
		     g = mb_group_next_setup(vol, g + 1)) {
			struct mb_group *grp = &vol->groups[g];

			if (grp->bb_bitmap != grp->bb_disk)
				free(grp->bb_bitmap);
			/* bb_disk and bb_buddy: the arena's, unmapped below */
			mb_mutex_destroy(&vol->groups[g].bb_lock);
		}
	}
	mb_gcache_destroy(vol);
	mb_garena_destroy(&vol->garena);
	mb_pristine_destroy(vol);
	mb_gset_destroy(&vol->setup_set);
	mb_avg_hi_destroy(vol);
	mb_zunmap(vol->groups_mem, mb_groups_mem_bytes(vol));
	free(vol->zero_map);
	free((void *)vol->groups_faulted);
	vol->groups_faulted = NULL;
	vol->groups = vol->groups_mem = NULL;
	vol->zero_map = NULL;
}

/* Bytes of a group's derived buffer (buddy, free-run tree, free-word
   summary), in whole cache lines: the arena hands them out on a line's
   start, so the buddy's top orders share one line (volume.c lays them out
   first). */
size_t mb_group_derived_bytes(const struct mb_volume *vol)
{
	size_t b = ((size_t)vol->fws_off + mb_fws_words(vol)) * sizeof(uint64_t);

	return (b + MB_CACHELINE - 1) & ~(size_t)(MB_CACHELINE - 1);
}

/* Bytes of a group's durable buffer: bb_disk, then pending and committing
   maps when the store's frees wait for a commit; whole cache lines. */
size_t mb_group_durable_bytes(const struct mb_volume *vol)
{
	size_t b = (vol->frees_wait ? 3 : 1) * (size_t)vol->bitmap_words * sizeof(uint64_t);

	return (b + MB_CACHELINE - 1) & ~(size_t)(MB_CACHELINE - 1);
}

/* A group's pieces, for the arena's chunk sizes (garena.c). */
size_t mb_group_arena_bytes(const struct mb_volume *vol)
{
	return mb_group_durable_bytes(vol) + mb_group_derived_bytes(vol);
}

/*
 * A derived buffer from the volume's arena (garena.c), on a cache line's
 * start.  Two mallocs a first load cost ~320 instructions and a fresh
 * page each ~1.6 groups; the arena's huge chunks fault once for ~300
 * groups.  Freed by mb_group_derived_free (mb_int.h) alone.
 */
static uint64_t *mb_group_derived_alloc(struct mb_volume *vol)
{
	return mb_garena_get(vol, MB_GARENA_DERIVED, mb_group_derived_bytes(vol),
			     mb_group_arena_bytes(vol), NULL);
}

/*
 * Builds the derived state of a loaded group whose derived state was
 * dropped (gcache.c): a group is dropped only with no PA, nothing pending
 * and nothing held out of the buddy, so its in-core bitmap is its on-disk
 * one (shared, or a private copy when frees wait); then the buddy and the
 * counters, which come out as they were.
 */
static int mb_group_rebuild_locked(struct mb_volume *vol, struct mb_group *grp)
{
	/* the buffer of the group this one displaces from the cache, if any */
	uint64_t *buf = mb_gcache_claim_locked(vol, grp);
	uint32_t expect = grp->bb_free, frags = grp->bb_fragments;

	assert(grp->bb_bitmap == grp->bb_disk && !grp->bb_pending_count);
	if (!buf)
		buf = mb_group_derived_alloc(vol);
	if (!buf)
		return -ENOMEM;
	if (vol->frees_wait && mb_gcache_unshare_locked(vol, grp)) {
		mb_group_derived_free(vol, buf);
		return -ENOMEM;
	}
	grp->bb_buddy = buf;
	mb_buddy_generate(vol, grp);
	assert(grp->bb_free == expect && grp->bb_fragments == frags);
	(void)expect;
	(void)frags;
	mb_stat_inc(vol, MB_ST_BUDDIES_GENERATED);
	return 0;
}

/*
 * Builds a NEED_INIT group's bitmaps.  The on-disk bitmap comes from the
 * volume's store, unless the store says the group is uninit (BLOCK_UNINIT;
 * every group of a memory store): then it is the group's metadata plus
 * the padding past bb_len, and its buddy, run tree and counters follow
 * from its shape (pristine.c: copied from the volume's template).  No PA
 * can exist in a group that was never loaded,
 * so the in-core bitmap equals the on-disk one.  The counters seeded from
 * the descriptor (hints, see mb_group_seed_locked) are replaced by the
 * real ones; the free count cannot change (the loader checks the bitmap
 * against the descriptor).  Two buffers: the durable one (on-disk bitmap,
 * and pending and committing maps when frees wait) and the derived one
 * (in-core bitmap, buddy and free-run tree, runsum.c), which gcache.c may drop when the group is
 * cold; then this rebuilds it.  A bitmap that fails its checks flags the
 * group corrupt and returns -EUCLEAN; the group stays NEED_INIT and is never
 * allocated from.  A read that fails (-EIO, -ENOMEM) says nothing about the
 * bitmap: the group stays NEED_INIT, not corrupt, and the next caller reads
 * it again.
 */
static int mb_group_first_load_locked(struct mb_volume *vol, struct mb_group *grp)
{
	if (mb_group_corrupt(grp))
		return -EUCLEAN;

	size_t dbytes = mb_group_durable_bytes(vol), xbytes = mb_group_derived_bytes(vol);
	bool zeroed;
	uint64_t *disk;
	const struct mb_pristine *t = NULL;
	/* the buffer of the group this one displaces from the cache, if any */
	uint64_t *buf = mb_gcache_claim_locked(vol, grp);
	uint32_t rsv = mb_group_reserved(vol, grp);

	/* disk: zeroes when fresh (zeroed), else not: written whole below
	   (the pristine fill, or zeroes and the store's read), all but the
	   zero words of fresh memory -- most of a pristine group's bitmap.
	   With the derived buffer when the cache gave none: one hold of the
	   arena's lock (garena.c) */
	if (!mb_garena_get_load(vol, dbytes, xbytes, dbytes + xbytes, &disk, &zeroed,
				buf ? NULL : &buf)) {
		mb_group_derived_free(vol, buf);
		return -ENOMEM;
	}
	bool pristine = vol->store->ops->group_uninit(vol->store, mb_group_no(vol, grp));

	if (!pristine) {
		if (!zeroed)
			memset(disk, 0, dbytes);
		int err = vol->store->ops->load_bitmap(vol->store, mb_group_no(vol, grp), disk);

		if (err) {
			mb_garena_put(vol, MB_GARENA_DURABLE, disk);
			mb_group_derived_free(vol, buf);
			if (err == -EUCLEAN)
				mb_group_set_corrupt_locked(vol, grp);
			return err;
		}
	} else {
		t = mb_pristine_fill_locked(vol, grp, disk, rsv, zeroed);
	}
	grp->bb_disk = disk;
	grp->bb_bitmap = disk; /* no PA, nothing pending yet: the same bits */
	if (vol->frees_wait && mb_gcache_unshare_locked(vol, grp)) {
		grp->bb_disk = grp->bb_bitmap = NULL;
		mb_garena_put(vol, MB_GARENA_DURABLE, disk);
		mb_group_derived_free(vol, buf);
		return -ENOMEM;
	}
	grp->bb_buddy = buf;

	uint32_t expect = grp->bb_free;

	if (pristine)
		mb_pristine_derive_locked(vol, grp, rsv, t);
	else
		mb_buddy_generate(vol, grp);
	assert(grp->bb_free == expect);
	(void)expect;
	atomic_fetch_and_explicit(&grp->bb_state, ~(uint32_t)MB_GRP_NEED_INIT,
				  memory_order_relaxed);
	mb_stat_inc(vol, MB_ST_BUDDIES_GENERATED);
	return 0;
}

/*
 * Makes grp's bitmaps and buddy usable: the first load, or a rebuild of a
 * dropped derived state; then counts it in the cache (gcache.c), which may
 * drop another group's.  bb_lock held.  0 or -errno (see above).
 */
/* mb_group_load_locked's work, out of line: its callers pay no frame for it. */
static __attribute__((noinline)) int mb_group_load_slow_locked(struct mb_volume *vol,
							      struct mb_group *grp, uint32_t state)
{
	int err = 0;

	if (state & MB_GRP_NEED_INIT)
		err = mb_group_first_load_locked(vol, grp);
	else if (!grp->bb_buddy)
		err = mb_group_rebuild_locked(vol, grp);
	if (!err) {
		/* the load claimed the group's slot (mb_gcache_claim_locked):
		   the track's RMW finds it set unless an eviction has cleared it
		   since, so a relaxed test spares the call (~17 instructions a
		   load) */
		if (!(atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_TRACKED))
			mb_gcache_track_locked(vol, grp);
		MB_HOOK(vol, MB_HOOK_GROUP_BUILT, mb_group_no(vol, grp), 0);
	}
	return err;
}

int mb_group_load_locked(struct mb_volume *vol, struct mb_group *grp)
{
	mb_assert_locked(&grp->bb_lock);
	uint32_t state = atomic_load_explicit(&grp->bb_state, memory_order_relaxed);

	/* built and counted in the cache: every allocation's case */
	if (MB_LIKELY((state & (MB_GRP_NEED_INIT | MB_GRP_TRACKED)) == MB_GRP_TRACKED &&
		      grp->bb_buddy))
		return 0;
	return mb_group_load_slow_locked(vol, grp, state);
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
 * Clears on-disk bits of a range being freed, and counts them free on
 * disk (the group is dirty), leaving the volume's free counter to the
 * caller.  With a shared map the buddy free that follows
 * (mb_return_blocks_locked, mb_buddy_free) clears them: nothing to do
 * here, and no PA of a shared group holds them (a free that meets one
 * splits the maps first: free.c, gcache.c).
 */
void mb_group_clear_disk_locked(struct mb_group *grp, mb_grpblk_t start, uint32_t len)
{
	mb_assert_locked(&grp->bb_lock);
	assert(mb_range_all_set(grp->bb_disk, start, len));
	if (grp->bb_bitmap != grp->bb_disk)
		mb_clear_bits(grp->bb_disk, start, len);
	grp->bg_free += len;
	mb_group_set_dirty_locked(grp);
}

/*
 * The pending-free map of a loaded group: blocks freed whose free is not
 * durable yet (not allocatable).  bb_lock.
 */
uint64_t *mb_group_pending_map(const struct mb_volume *vol, struct mb_group *grp)
{
	/* a store whose frees never wait has nothing pending: shared zeroes */
	return vol->frees_wait ? grp->bb_disk + vol->bitmap_words : vol->zero_map;
}

/*
 * The committing map: the subset of the pending map that the running
 * commit's snapshot of this group recorded as free; released when that
 * commit is durable.  Frees after the snapshot wait for the next commit.
 * bb_lock (written by the commit under it).
 */
uint64_t *mb_group_committing_map(const struct mb_volume *vol, struct mb_group *grp)
{
	assert(vol->frees_wait);
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
		struct mb_group *grp;
		uint32_t free;
		int err = st->ops->group_free(st, g, &free);

		if (!err && free > mb_group_pristine_free(vol, g))
			err = -EUCLEAN;
		if (err)
			return err;
		/* a group as free as at creation stays untouched (mb_group_at) */
		if (free == mb_group_pristine_free(vol, g) && !mb_group_peek(vol, g))
			continue;
		grp = mb_group_at(vol, g);
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

/* A group's own on-disk map (not the buddy's bitmap): the bits of a range
   it has clear */
static inline void mb_group_set_own_disk(struct mb_group *grp, mb_grpblk_t start, uint32_t len)
{
	assert(mb_range_all_clear(grp->bb_disk, start, len));
	mb_set_bits(grp->bb_disk, start, len);
}

/* The same as a call, for mb_group_mark_disk_fast_locked */
static __attribute__((noinline)) void mb_group_mark_disk_own(struct mb_group *grp,
							     mb_grpblk_t start, uint32_t len)
{
	mb_group_set_own_disk(grp, start, len);
}

static inline __attribute__((always_inline)) void
mb_group_mark_disk_as(struct mb_group *grp, mb_grpblk_t start, uint32_t len, bool own_call)
{
	mb_assert_locked(&grp->bb_lock);
	if (grp->bb_bitmap == grp->bb_disk) { /* shared: the buddy set them */
		assert(mb_range_all_set(grp->bb_disk, start, len));
	} else if (own_call) {
		mb_group_mark_disk_own(grp, start, len);
	} else {
		mb_group_set_own_disk(grp, start, len);
	}
	grp->bg_free -= len;
	mb_group_set_dirty_locked(grp);
}

/*
 * Sets on-disk bits for a range the buddy already counts as used, leaving
 * the volume's free counter to the caller (the PA fast path lowers it on
 * the per-CPU slot it already holds).  Inline (under LTO) into each take
 * (alloc.c's two, the PA fast path's): out of line it cost ~13
 * instructions a call.
 */
inline __attribute__((always_inline)) void mb_group_mark_disk_locked(struct mb_group *grp,
								      mb_grpblk_t start, uint32_t len)
{
	mb_group_mark_disk_as(grp, start, len, false);
}

/*
 * The same for the power-of-two fast path's take (alloc.c), whose group
 * on an empty volume shares its maps: a call when it has its own on-disk
 * map, so that the inlined take keeps nothing on the stack for that case
 * (its range's word offset did: ~2 instructions a call).  The regular
 * path's take, whose groups more often have their own, keeps it inline.
 */
inline __attribute__((always_inline)) void mb_group_mark_disk_fast_locked(struct mb_group *grp,
									   mb_grpblk_t start,
									   uint32_t len)
{
	mb_group_mark_disk_as(grp, start, len, true);
}

void mb_group_mark_disk_used_locked(struct mb_volume *vol, struct mb_group *grp,
				    mb_grpblk_t start, uint32_t len, uint32_t flags)
{
	mb_group_mark_disk_locked(grp, start, len);
	mb_free_counter_consume(vol, len, flags); /* claimed or reserved: U does not move */
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
	if (mb_range_bad(vol, start, len))
		return -EINVAL;
	/* One group: the piece validates under its lock before it applies,
	   so the validation pass would only repeat that check (and the lock). */
	if (len <= vol->bpg - mb_block_offset(vol, start))
		return mb_range_pass(vol, start, len, piece, true);
	int err = mb_range_pass(vol, start, len, piece, false);

	return err ? err : mb_range_pass(vol, start, len, piece, true);
}
