/* SPDX-License-Identifier: MIT */
/*
 * store_e2fs.c - the store under an mb_e2fs attachment: a live,
 * read-write libext2fs handle.  A group's used blocks come from the
 * handle's in-memory block bitmap (fs->block_map), the truth that
 * libext2fs keeps and writes; this store never reads or writes the disk
 * itself, and frees are reusable at once (libext2fs has no journal to
 * wait for).  Groups load lazily; until a group loads, changes libext2fs
 * makes to it only move its free count (mb_e2fs_account_unloaded), since
 * the bitmap it will load from already has them.
 *
 * Thread-safety: load_bitmap runs under the group's lock from whatever
 * thread allocates, which for an attachment is the one thread driving
 * libext2fs (see e2fs.h); reading fs->block_map needs no lock then.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mb_int.h"
#include "store.h"

#ifdef MB_HAVE_EXT2FS
#include "e2fs.h"

struct mb_e2fs_store {
	struct mb_store st; /* first: the core sees only this */
	ext2_filsys fs;	    /* const; the attachment's */
};

int mb_e2fs_geometry(ext2_filsys fs, struct mb_geometry *geo, const char **why)
{
	struct ext2_super_block *sb = fs->super;

	if (!ext2fs_has_feature_extents(sb)) {
		*why = "not an ext4 file system (no extents feature)";
		return -ENOTSUP;
	}
	if (ext2fs_has_feature_bigalloc(sb)) {
		*why = "bigalloc is not supported (the allocator works in blocks, not clusters)";
		return -ENOTSUP;
	}
	if (ext2fs_has_feature_journal_dev(sb)) {
		*why = "an external journal device holds no block groups";
		return -ENOTSUP;
	}
	if (ext2fs_has_feature_journal_needs_recovery(sb)) {
		*why = "its journal needs recovery (mount it once or run e2fsck first)";
		return -ENOTSUP;
	}
	if (sb->s_blocks_per_group % 8 || sb->s_blocks_per_group < 16 ||
	    sb->s_blocks_per_group > 8 * (uint32_t)EXT2_BLOCK_SIZE(sb)) {
		*why = "its blocks per group are outside what the allocator supports";
		return -ENOTSUP;
	}
	*geo = (struct mb_geometry){
	    .block_size = EXT2_BLOCK_SIZE(sb),
	    .blocks_per_group = sb->s_blocks_per_group,
	    .blocks_count = ext2fs_blocks_count(sb),
	    .first_data_block = sb->s_first_data_block,
	    .reserved_per_group = 0, /* metadata lies anywhere: it is in the bitmap */
	    .flex_bg = ext2fs_has_feature_flex_bg(sb) && sb->s_log_groups_per_flex < 32
			   ? 1u << sb->s_log_groups_per_flex
			   : 1,
	};
	return 0;
}

/* Never "uninit": the core would build metadata at each group's head. */
static bool mb_e2fs_st_uninit(struct mb_store *st, uint32_t g)
{
	(void)st, (void)g;
	return false;
}

/*
 * Group g's bits from fs->block_map.  The count must equal what the core
 * holds for the group (its descriptor's at attach, moved by every change
 * since): else libext2fs's bitmap and its descriptors disagree, and the
 * group is corrupt, as ext4 would find it.
 */
static int mb_e2fs_st_load(struct mb_store *st, uint32_t g, uint64_t *bits)
{
	struct mb_e2fs_store *s = (struct mb_e2fs_store *)st;
	struct mb_volume *vol = st->vol;
	struct mb_group *grp = mb_group_at(vol, g);
	uint64_t first = mb_group_first_block(vol, g);
	uint32_t len = grp->bb_len;
	uint8_t *bytes = calloc(1, (len + 7) / 8);

	if (!bytes)
		return -ENOMEM;
	if (ext2fs_get_block_bitmap_range2(s->fs->block_map, first, len, bytes)) {
		free(bytes);
		return -EIO;
	}
	for (uint32_t i = 0; i < len; i++)
		if (bytes[i >> 3] >> (i & 7) & 1)
			mb_set_bit(bits, i);
	free(bytes);
	mb_set_bits(bits, len, vol->bitmap_words * 64 - len);
	return mb_count_zero_bits(bits, 0, len) == grp->bg_free ? 0 : -EUCLEAN;
}

static void mb_e2fs_st_destroy(struct mb_store *st)
{
	free(st);
}

static const struct mb_store_ops mb_e2fs_store_ops = {
    .name = "ext2fs",
    .group_uninit = mb_e2fs_st_uninit,
    .load_bitmap = mb_e2fs_st_load,
    .commit = NULL, /* libext2fs writes; frees are reusable at once */
    .destroy = mb_e2fs_st_destroy,
};

int mb_e2fs_volume_new(ext2_filsys fs, const struct mb_geometry *geo, struct mb_volume **out)
{
	struct mb_e2fs_store *s = calloc(1, sizeof(*s));
	struct mb_volume *vol;
	int err;

	if (!s)
		return -ENOMEM;
	s->fs = fs;
	s->st.ops = &mb_e2fs_store_ops;
	if ((err = mb_volume_create_on(geo, &s->st, &vol))) {
		free(s);
		return err;
	}
	for (mb_grp_t g = 0; g < vol->ngroups; g++) {
		uint32_t free = ext2fs_bg_free_blocks_count(fs, g);

		/* a group as free as at creation stays untouched (mb_group_at) */
		if (free == mb_group_pristine_free(vol, g) && !mb_group_peek(vol, g))
			continue;
		struct mb_group *grp = mb_group_at(vol, g);

		mb_lock(&grp->bb_lock);
		if (free <= grp->bb_len)
			mb_group_seed_locked(vol, grp, free);
		else /* an impossible descriptor: never allocate there */
			mb_group_set_corrupt_locked(vol, grp);
		mb_unlock(&grp->bb_lock);
	}
	*out = vol;
	return 0;
}

bool mb_e2fs_account_unloaded(struct mb_volume *vol, uint32_t g, int64_t delta)
{
	struct mb_group *grp = mb_group_at(vol, g);
	bool unloaded;

	mb_lock(&grp->bb_lock);
	unloaded = atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_NEED_INIT;
	if (unloaded && !mb_group_corrupt(grp)) {
		int64_t free = (int64_t)grp->bg_free + delta;

		if (free < 0 || free > grp->bb_len)
			mb_group_set_corrupt_locked(vol, grp);
		else
			mb_group_seed_locked(vol, grp, (uint32_t)free);
	}
	mb_unlock(&grp->bb_lock);
	return unloaded;
}

int64_t mb_e2fs_reseed_unloaded(struct mb_volume *vol, uint32_t g, uint32_t free)
{
	struct mb_group *grp = mb_group_at(vol, g);
	int64_t moved = -1;

	mb_lock(&grp->bb_lock);
	if ((atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_NEED_INIT) &&
	    !mb_group_corrupt(grp)) {
		moved = (int64_t)free - grp->bg_free;
		moved = moved < 0 ? -moved : moved;
		if (free > grp->bb_len)
			mb_group_set_corrupt_locked(vol, grp);
		else
			mb_group_seed_locked(vol, grp, free);
	}
	mb_unlock(&grp->bb_lock);
	return moved;
}

bool mb_e2fs_vol_used(struct mb_volume *vol, uint64_t b)
{
	return mb_allocated_blocks(vol, b, 1) == 1;
}

int64_t mb_e2fs_group_diff(struct mb_volume *vol, ext2_filsys fs, uint32_t g)
{
	struct mb_group *grp = mb_group_at(vol, g);
	uint64_t first = mb_group_first_block(vol, g);
	int64_t diff = 0;

	mb_lock(&grp->bb_lock);
	if (mb_group_corrupt(grp)) {
		diff = 0; /* never allocated from: nothing to compare */
	} else if (atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_NEED_INIT) {
		int64_t d = (int64_t)grp->bg_free - ext2fs_bg_free_blocks_count(fs, g);

		diff = d < 0 ? -d : d;
	} else {
		for (uint32_t i = 0; i < grp->bb_len; i++) /* PA tails: gcache.c */
			diff += mb_gcache_disk_used_locked(vol, grp, i) !=
				!!ext2fs_test_block_bitmap2(fs->block_map, first + i);
	}
	mb_unlock(&grp->bb_lock);
	return diff;
}
#endif /* MB_HAVE_EXT2FS */
