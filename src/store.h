/* SPDX-License-Identifier: MIT */
/*
 * store.h - the one interface between the allocator and where a volume's
 * block bitmaps live.  The core (group.c, free.c, volume.c, alloc.c,
 * reserve.c) calls only what is declared here; it never knows which store
 * a volume has.  Every volume has exactly one store, fixed when the volume
 * is created (mb_volume_create_on) and torn down first by
 * mb_volume_destroy().
 *
 * Stores today: "memory" (store_mem.c, mb_volume_create volumes: every
 * group starts as its metadata only, nothing is durable), "mballoc"
 * (store_mballoc.c: the on-disk format with its journal, docs/FORMAT.md),
 * "ext4" (store_ext4.c: an ext4 image through libext2fs, read-only or a
 * scratch copy in memory), "callbacks" (store_cb.c: the caller's load and
 * commit functions).
 * The layer above them (persist.c) opens, closes and describes volumes.
 *
 * How to add a store
 * ------------------
 * Embed a struct mb_store first in your own struct, fill in ops and flags,
 * build the volume with mb_volume_create_on(), then mb_groups_seed() before
 * anyone allocates (persist.c shows the whole sequence).  What each op must
 * guarantee:
 *
 * group_uninit(st, g): true when group g holds nothing but its metadata
 *   (the first reserved_per_group blocks) -- ext4's BLOCK_UNINIT.  The core
 *   then builds the bitmap itself and never calls load_bitmap for g.  Called
 *   with g's bb_lock held; must not sleep long and must not take any lock
 *   of rank <= MB_RANK_GROUP.  The answer for a group that was never loaded
 *   must not change while the volume lives.
 *
 * load_bitmap(st, g, bits): fills bits (one bit per block of the group,
 *   1 = used, vol->bitmap_words words; bits past the group's length and the
 *   group's metadata blocks must be set) with the group's durable state.
 *   Called once per group, lazily, with g's bb_lock held (as ext4 waits on
 *   the bitmap buffer under the group lock): other groups are usable
 *   meanwhile.  Returns 0; -EUCLEAN when the bitmap is damaged or disagrees
 *   with the free count the store seeded (the core flags the group corrupt
 *   and never allocates from it); -EIO or -ENOMEM for a failed read (the
 *   group stays unloaded and the next user retries).  May be called from
 *   any thread.
 *
 * commit(st): makes the frees recorded so far durable, so that the core may
 *   hand their blocks out again.  Called by an allocator that found no
 *   space, with no group lock held (it may hold a file's f_data_sem and a
 *   locality group's lg_mutex, both of lower rank than MB_RANK_COMMIT).
 *   Returns > 0 when blocks became allocatable (a count, or 1 when another
 *   commit already released them), 0 when nothing did, or -errno.  NULL
 *   when the store never defers frees.
 *
 * destroy(st): stops everything the store runs (threads), writes nothing
 *   and frees it.  Called once, first, by mb_volume_destroy(), with no
 *   other call in flight on the volume.
 *
 * Optional ops:
 * group_free(st, g, &free): the free count the store's metadata records
 *   for g (its descriptor), so that counters are right before any bitmap
 *   is read; mb_groups_seed() asks every group once, before the volume is
 *   used.  load_bitmap must later agree with it (or answer -EUCLEAN).
 *   NULL: every group starts with all but its metadata free.
 * is_meta(st, g, off, len): whether any block of [off, off + len) of group
 *   g is the store's metadata beyond the group's first reserved_per_group
 *   blocks (the core refuses those itself): mb_free() of such a range
 *   answers -EINVAL and changes nothing.  Called with g's bb_lock held; must
 *   not sleep, allocate or take a lock.  NULL: no metadata elsewhere.
 * mark_clean(st): mb_volume_close(), after the final commit: record that
 *   the volume was closed cleanly.
 * info(st, info): fills the store's part of mb_volume_info.
 *
 * Stores whose frees wait usually build on the commit machinery (commit.h):
 * they set committer and use mb_committer_force as their commit op; then
 * mb_commit() and mb_volume_close() commit through it.
 *
 * Properties (flags, constant after creation):
 *   MB_STORE_FREES_WAIT_COMMIT: a freed block becomes allocatable only
 *     after the commit that records the free (a crash before it must not
 *     find the block reused).  Without it frees are allocatable at once.
 *   MB_STORE_READ_ONLY: nothing can be recorded: mb_alloc, mb_free,
 *     mb_mark_used and reservations answer -EROFS.
 */
#ifndef MB_STORE_H
#define MB_STORE_H

#include <stdbool.h>
#include <stdint.h>

struct mb_store;
struct mb_volume;
struct mb_geometry;
struct mb_volume_info;

struct mb_store_ops {
	const char *name; /* "memory", "mballoc", ... */
	bool (*group_uninit)(struct mb_store *st, uint32_t group);
	int (*load_bitmap)(struct mb_store *st, uint32_t group, uint64_t *bits);
	int (*commit)(struct mb_store *st); /* NULL: frees never wait */
	void (*destroy)(struct mb_store *st);
	/* Optional (NULL: nothing to do / say): */
	int (*group_free)(struct mb_store *st, uint32_t group, uint32_t *free);
	bool (*is_meta)(struct mb_store *st, uint32_t group, uint32_t off, uint32_t len);
	int (*mark_clean)(struct mb_store *st);
	void (*info)(struct mb_store *st, struct mb_volume_info *info);
};

#define MB_STORE_FREES_WAIT_COMMIT 0x1u
#define MB_STORE_READ_ONLY 0x2u

struct mb_committer;

struct mb_store {
	const struct mb_store_ops *ops; /* const */
	struct mb_volume *vol;          /* set by mb_volume_create_on; const after */
	uint32_t flags;                 /* MB_STORE_*; const */
	struct mb_committer *committer; /* commit.h, for stores whose frees wait; else NULL */
};

static inline bool mb_store_read_only(const struct mb_store *st)
{
	return st->flags & MB_STORE_READ_ONLY;
}

static inline bool mb_store_frees_wait(const struct mb_store *st)
{
	return st->flags & MB_STORE_FREES_WAIT_COMMIT;
}

/* group.c: seeds every group's counters from the store's group_free. */
int mb_groups_seed(struct mb_volume *vol);

/* store_mem.c: the store of mb_volume_create() volumes. */
int mb_store_memory_new(struct mb_store **out);
/* store_cb.c: the callback store of mb_volume_open_callbacks(); cb is copied. */
struct mb_store_callbacks;
int mb_store_callbacks_new(const struct mb_store_callbacks *cb, bool read_only,
			   struct mb_store **out);

/*
 * volume.c: builds a volume on st.  On success the volume owns st (its
 * destroy op runs first in mb_volume_destroy); on failure the caller still
 * does.  Every group starts seeded as metadata-only.
 */
int mb_volume_create_on(const struct mb_geometry *geo, struct mb_store *st,
			struct mb_volume **out);

#endif /* MB_STORE_H */
