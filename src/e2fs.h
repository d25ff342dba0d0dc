/* SPDX-License-Identifier: MIT */
/*
 * e2fs.h - internals of mballoc as libext2fs's allocator: the attachment
 * (e2fs.c, its state in e2fs_state.c), the hooks libext2fs calls
 * (e2fs_hook.c) and the store over the live block bitmap (store_e2fs.c).  Only compiled with MB_HAVE_EXT2FS.
 *
 * Thread-safety: an attachment belongs to the one thread that drives its
 * libext2fs handle at a time (libext2fs is not thread-safe), so nothing in
 * struct mb_e2fs is locked; the volume underneath locks itself as always.
 */
#ifndef MB_E2FS_H
#define MB_E2FS_H

#include <ext2fs/ext2fs.h>

#include "mballoc.h"

/*
 * The floor of the blocks only metadata may take (see mb_e2fs_data_room):
 * what one insert into the deepest extent tree (5 levels, ext4's limit)
 * can need if every level splits and the root grows, twice (a write into
 * the middle of an extent inserts two).  Images of under 600 blocks get it
 * instead of ext4's 2%.
 */
#define MB_E2FS_META_RESERVE_MIN 12u

/* A file begun (mb_e2fs_file_begin) or picked up from a hook's context. */
struct mb_e2fs_file {
	uint32_t ino;
	bool auto_begun; /* begun by a hook, not by the caller */
	uint64_t cursor; /* logical block of the next range allocation */
	struct mb_file *file;
};

/* A run handed out by a hook and not yet checked against the fs bitmap. */
struct mb_e2fs_run {
	uint64_t start, len;
};

/* The hooks fs had before attach, put back at detach. */
struct mb_e2fs_saved {
	errcode_t (*gab)(ext2_filsys, blk64_t, blk64_t *);
	errcode_t (*gab2)(ext2_filsys, blk64_t, blk64_t *, struct blk_alloc_ctx *);
	errcode_t (*new_range)(ext2_filsys, int, blk64_t, blk64_t, blk64_t *, blk64_t *);
	void (*stats)(ext2_filsys, blk64_t, int);
	void (*stats_range)(ext2_filsys, blk64_t, blk_t, int);
};

struct mb_e2fs {
	ext2_filsys fs;
	struct mb_volume *vol;
	uint32_t flags; /* MB_E2FS_* */
	struct mb_e2fs_saved saved;
	struct mb_e2fs_file *files; /* nfiles of cap, unordered */
	size_t nfiles, files_cap;
	uint32_t cur_ino;	     /* current file for range allocations; 0 none */
	uint32_t auto_ino;	     /* the one auto-begun file; 0 none */
	struct mb_e2fs_run *pending; /* handed out since the last sync */
	size_t npending, pending_cap;
	uint64_t held; /* block kept from allocation (punch bug), 0 none */
	uint64_t resv; /* free blocks data may not take (st.resv_blocks) */
	struct mb_e2fs_stats st;
};

/* e2fs_state.c */
struct mb_e2fs *mb_e2fs_lookup(ext2_filsys fs);
int mb_e2fs_register(struct mb_e2fs *e);
void mb_e2fs_unregister(struct mb_e2fs *e);
struct mb_e2fs_file *mb_e2fs_file_add(struct mb_e2fs *e, uint32_t ino);
void mb_e2fs_file_drop(struct mb_e2fs *e, struct mb_e2fs_file *f);
struct mb_e2fs_file *mb_e2fs_file_find(struct mb_e2fs *e, uint32_t ino);
/* The file a data allocation for ino goes to, begun now if need be
 * (inode: its size, may be NULL); NULL on -ENOMEM (then: metadata path). */
struct mb_e2fs_file *mb_e2fs_file_for(struct mb_e2fs *e, uint32_t ino,
				      const struct ext2_inode *inode, uint64_t lblk);
int mb_e2fs_pending_add(struct mb_e2fs *e, uint64_t start, uint64_t len);
bool mb_e2fs_pending_has(const struct mb_e2fs *e, uint64_t b);

/* e2fs_hook.c */
void mb_e2fs_hooks_install(struct mb_e2fs *e);
void mb_e2fs_hooks_restore(struct mb_e2fs *e);
/* Whether this libext2fs passes (end, 0) to the range stats hook: a probe
 * on fs (see mb_e2fs_attach); false when it cannot tell. */
bool mb_e2fs_probe_range_args(ext2_filsys fs);
/* Whether this libext2fs cannot punch an extent ending at the last block
 * (1.46.6 <= version < 1.47.4). */
bool mb_e2fs_punch_off_by_one(void);
/* Mirrors a change libext2fs made to [start, start + len) of its bitmap. */
void mb_e2fs_mirror(struct mb_e2fs *e, uint64_t start, uint64_t len, int inuse);

/* store_e2fs.c */
/* Checks fs and derives the geometry; *why says what is refused. */
int mb_e2fs_geometry(ext2_filsys fs, struct mb_geometry *geo, const char **why);
/* A volume whose group bitmaps come from fs->block_map. */
int mb_e2fs_volume_new(ext2_filsys fs, const struct mb_geometry *geo, struct mb_volume **out);
/*
 * For group pieces of a range libext2fs changed: if group g's bitmaps were
 * never built, moves its free count by delta (they will be read from
 * fs->block_map, which already has the change) and returns true; false
 * when g is loaded (the caller applies the change with mb_free or
 * mb_mark_used).
 */
bool mb_e2fs_account_unloaded(struct mb_volume *vol, uint32_t g, int64_t delta);
/*
 * If group g's bitmaps were never built, sets its free count to free (its
 * descriptor's) and returns by how much it moved (0: unchanged); -1 when g
 * is loaded (nothing done).
 */
int64_t mb_e2fs_reseed_unloaded(struct mb_volume *vol, uint32_t g, uint32_t free);
/* Whether block b is used in mballoc's on-disk view (PAs count as free). */
bool mb_e2fs_vol_used(struct mb_volume *vol, uint64_t b);
/* Blocks where group g's on-disk view differs from fs (see mb_e2fs_verify). */
int64_t mb_e2fs_group_diff(struct mb_volume *vol, ext2_filsys fs, uint32_t g);

#endif
