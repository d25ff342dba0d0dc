/* SPDX-License-Identifier: MIT */
/*
 * e2fs_hook.c - the hooks libext2fs calls once mballoc is attached: block
 * and range allocation (placed by mb_alloc), and the two "stats" hooks
 * through which every change libext2fs makes to its block bitmap reaches
 * mballoc.  Also the probe and workaround for libext2fs 1.43..1.47.3,
 * whose ext2fs_block_alloc_stats_range() hands its hook the end of the
 * range and a length of 0 (it counts its loop variables down first; fixed
 * in 1.47.4).
 *
 * Who marks what: a hook that places blocks does not touch fs->block_map.
 * libext2fs marks them afterwards (ext2fs_alloc_block3 and
 * ext2fs_alloc_range through the stats functions, callers of
 * ext2fs_new_block2 and ext2fs_new_range themselves), and the stats hook
 * then finds them used in mballoc already.  A caller may also drop what
 * it was given (ext2fs_fallocate does when a run does not meet its
 * neighbour): every run handed out is remembered until mb_e2fs_sync().
 *
 * Thread-safety: the thread driving libext2fs (e2fs.h).
 */
#include <errno.h>
#include <stdio.h>

#include "mb_int.h"

#ifdef MB_HAVE_EXT2FS
#include "e2fs.h"

static uint64_t mb_e2fs_goal(ext2_filsys fs, blk64_t goal)
{
	if (goal < fs->super->s_first_data_block || goal >= ext2fs_blocks_count(fs->super))
		return MB_GOAL_NONE;
	return goal;
}

static errcode_t mb_e2fs_errcode(int err)
{
	return err == -ENOMEM ? EXT2_ET_NO_MEMORY : EXT2_ET_BLOCK_ALLOC_FAIL;
}

/*
 * Whether libext2fs already has a block of [start, start + len) used: then
 * mballoc's view was wrong, the run is marked used in mballoc where
 * libext2fs has it so (it is), and the caller asks again.
 */
static bool mb_e2fs_taken(struct mb_e2fs *e, uint64_t start, uint64_t len)
{
	blk64_t first_used;

	if (ext2fs_find_first_set_block_bitmap2(e->fs->block_map, start, start + len - 1,
						&first_used))
		return false; /* ENOENT: all free */
	mb_free(e->vol, start, len);
	for (uint64_t b = first_used; b < start + len; b++)
		if (ext2fs_test_block_bitmap2(e->fs->block_map, b)) {
			e->st.desync++;
			mb_e2fs_mirror(e, b, 1, +1);
		}
	return true;
}

/*
 * Blocks a data allocation may take now: the free ones (less the held
 * block) but for e->resv, which only metadata may use -- ext4's
 * s_resv_clusters, which data written even by root leaves free.
 * libext2fs needs it for the reason ext4 has it: a data run is marked used
 * before its extent goes into the tree, and that insert may have to split
 * tree blocks.  ext2fs_fallocate (1.47.0) marks a run (claim_range, and
 * i_blocks) and, when the split finds no block, returns the error without
 * giving the run back: blocks used and mapped by no file (e2fsck: "i_blocks
 * is N, should be N-2", "Block bitmap differences: -B").  A data request
 * that would eat into the reserve is shortened, or refused with ENOSPC,
 * before it reaches mballoc.
 */
static uint64_t mb_e2fs_data_room(const struct mb_e2fs *e)
{
	uint64_t free = ext2fs_free_blocks_count(e->fs->super);

	free -= free >= e->st.held_blocks ? e->st.held_blocks : free;
	return free > e->resv ? free - e->resv : 0;
}

/* Fits data request req (exactly len blocks when exact) into the room
 * data may use; -ENOSPC when it cannot. */
static int mb_e2fs_fit_data(struct mb_e2fs *e, struct mb_request *req, bool exact)
{
	uint64_t room = mb_e2fs_data_room(e);

	if (room >= req->len)
		return 0;
	if (!room || exact) {
		e->st.enospc++;
		return -ENOSPC;
	}
	req->len = (uint32_t)room;
	return 0;
}

/*
 * Places req with mballoc (constrained when c is not NULL), checked
 * against fs's bitmap and remembered as handed out.
 */
static int mb_e2fs_place(struct mb_e2fs *e, struct mb_request *req, const struct mb_constraint *c,
			 struct mb_extent *ex)
{
	int err, tries = 0;

	do {
		err = c ? mb_alloc_constrained(e->vol, req, c, ex) : mb_alloc(e->vol, req, ex);
	} while (!err && mb_e2fs_taken(e, ex->start, ex->len) && ++tries < 8);
	if (!err && tries == 8)
		err = -EUCLEAN;
	if (!err && (err = mb_e2fs_pending_add(e, ex->start, ex->len)))
		mb_free(e->vol, ex->start, ex->len);
	if (err) {
		e->st.enospc += err == -ENOSPC;
		return err;
	}
	if (req->file) {
		e->st.data_allocs++;
		e->st.data_blocks += ex->len;
	} else {
		e->st.meta_allocs++;
		e->st.meta_blocks += ex->len;
	}
	return 0;
}

/*
 * libext2fs's goal for a data block is the physical block of lblk - 1 when
 * that is mapped (its own allocator searches forward from there).  ext4
 * gives mballoc the block after it, plus the neighbour itself (lleft,
 * pleft) for normalization: the same here, once the mapping is confirmed.
 */
static void mb_e2fs_left(struct mb_e2fs *e, const struct blk_alloc_ctx *ctx, struct mb_request *req)
{
	blk64_t p = 0;

	if (!ctx->lblk || !ctx->inode || req->goal == MB_GOAL_NONE ||
	    req->goal + 1 >= e->vol->geo.blocks_count ||
	    ext2fs_bmap2(e->fs, ctx->ino, ctx->inode, NULL, 0, ctx->lblk - 1, NULL, &p) ||
	    p != req->goal)
		return;
	req->lleft = ctx->lblk - 1;
	req->pleft = p;
	req->flags |= MB_REQ_PLEFT;
	req->goal = p + 1;
}

static errcode_t mb_e2fs_get_block2(ext2_filsys fs, blk64_t goal, blk64_t *ret,
				    struct blk_alloc_ctx *ctx)
{
	struct mb_e2fs *e = mb_e2fs_lookup(fs);
	struct mb_request req = {.goal = mb_e2fs_goal(fs, goal), .len = 1};
	struct mb_extent ex;
	int err;

	if (!e)
		return EXT2_ET_BLOCK_ALLOC_FAIL;
	if (ctx && ctx->flags == BLOCK_ALLOC_DATA && ctx->ino && ctx->lblk < MB_LOGICAL_LIMIT - 1) {
		struct mb_e2fs_file *f = mb_e2fs_file_for(e, ctx->ino, ctx->inode, ctx->lblk);

		if (f) {
			req.file = f->file;
			req.logical = ctx->lblk;
			mb_e2fs_left(e, ctx, &req);
		}
		if ((err = mb_e2fs_fit_data(e, &req, true)))
			return mb_e2fs_errcode(err);
	}
	if ((err = mb_e2fs_place(e, &req, NULL, &ex)))
		return mb_e2fs_errcode(err);
	*ret = ex.start;
	return 0;
}

static errcode_t mb_e2fs_get_block(ext2_filsys fs, blk64_t goal, blk64_t *ret)
{
	return mb_e2fs_get_block2(fs, goal, ret, NULL);
}

/*
 * ext2fs_new_range: fallocate's data, or ext2fs_alloc_range.  No inode is
 * named: the current file takes it at its cursor, else metadata.  A fixed
 * goal with a minimum length must be met exactly (a constrained request at
 * the goal); without a minimum a shorter run is fine, as from libext2fs.
 */
static errcode_t mb_e2fs_new_range(ext2_filsys fs, int flags, blk64_t goal, blk64_t len,
				   blk64_t *pblk, blk64_t *plen)
{
	struct mb_e2fs *e = mb_e2fs_lookup(fs);
	struct mb_e2fs_file *f = e ? mb_e2fs_file_find(e, e->cur_ino) : NULL;
	uint32_t bpg = fs->super->s_blocks_per_group;
	struct mb_request req = {.goal = mb_e2fs_goal(fs, goal)};
	struct mb_constraint c = {.min_len = (uint32_t)len};
	struct mb_extent ex;
	bool exact = flags & EXT2_NEWRANGE_MIN_LENGTH;
	int err;

	if (!e || !len || (exact && len > bpg))
		return EXT2_ET_BLOCK_ALLOC_FAIL;
	req.len = len < bpg ? (uint32_t)len : bpg;
	if (flags & EXT2_NEWRANGE_FIXED_GOAL) {
		if (req.goal == MB_GOAL_NONE)
			return EXT2_ET_BLOCK_ALLOC_FAIL;
		req.flags |= MB_HINT_GOAL_ONLY;
	}
	if ((err = mb_e2fs_fit_data(e, &req, exact))) /* a range is data, file or not */
		return mb_e2fs_errcode(err);
	if (f && f->cursor + req.len <= MB_LOGICAL_LIMIT) {
		req.file = f->file;
		req.logical = f->cursor;
	}
	if ((err = mb_e2fs_place(e, &req, exact ? &c : NULL, &ex)))
		return mb_e2fs_errcode(err);
	if (f && req.file)
		f->cursor += ex.len;
	*pblk = ex.start;
	*plen = ex.len;
	return 0;
}

/*
 * Applies one group's piece of a change libext2fs made.  A free of blocks
 * mballoc holds used: mb_free.  A use of blocks mballoc placed: nothing;
 * of blocks it did not (another allocator): mb_mark_used, after
 * discarding preallocations if one covers them.
 */
static void mb_e2fs_mirror_piece(struct mb_e2fs *e, uint64_t start, uint64_t len, int inuse)
{
	uint64_t b = start, end = start + len;

	while (b < end) {
		bool used = mb_e2fs_vol_used(e->vol, b);
		uint64_t run = b + 1;
		int err;

		while (run < end && mb_e2fs_vol_used(e->vol, run) == used)
			run++;
		if (used == (inuse > 0)) { /* mballoc agrees already */
			b = run;
			continue;
		}
		if (inuse < 0) {
			err = mb_free(e->vol, b, run - b);
			e->st.frees++;
			e->st.freed_blocks += run - b;
		} else {
			err = mb_mark_used(e->vol, b, run - b);
			if (err == -EEXIST) { /* inside a preallocation */
				mb_discard_all(e->vol);
				err = mb_mark_used(e->vol, b, run - b);
			}
			e->st.foreign_allocs++;
			e->st.foreign_blocks += run - b;
		}
		if (err)
			e->st.desync += run - b;
		b = run;
	}
}

/* A change to blocks of a group never loaded: only counted. */
static void mb_e2fs_count_unloaded(struct mb_e2fs *e, uint64_t n, int inuse)
{
	if (inuse < 0) {
		e->st.frees++;
		e->st.freed_blocks += n;
	} else {
		e->st.foreign_allocs++;
		e->st.foreign_blocks += n;
	}
}

void mb_e2fs_mirror(struct mb_e2fs *e, uint64_t start, uint64_t len, int inuse)
{
	struct mb_volume *vol = e->vol;
	uint64_t end;

	if (e->held && inuse > 0 && e->held >= start && e->held - start < len) {
		e->held = 0; /* libext2fs took it itself: mballoc has it used already */
		e->st.held_blocks = 0;
	}

	if (!inuse || !len || start < vol->geo.first_data_block || start >= vol->geo.blocks_count ||
	    len > vol->geo.blocks_count - start)
		return;
	end = start + len;
	while (start < end) {
		mb_grp_t g = mb_block_group(vol, start);
		uint64_t gend = mb_group_first_block(vol, g) + mb_group_len(vol, g);
		uint64_t n = (end < gend ? end : gend) - start;

		if (mb_e2fs_account_unloaded(vol, g, inuse > 0 ? -(int64_t)n : (int64_t)n))
			mb_e2fs_count_unloaded(e, n, inuse);
		else
			mb_e2fs_mirror_piece(e, start, n, inuse);
		start += n;
	}
}

static void mb_e2fs_stats_hook(ext2_filsys fs, blk64_t blk, int inuse)
{
	struct mb_e2fs *e = mb_e2fs_lookup(fs);

	if (e)
		mb_e2fs_mirror(e, blk, 1, inuse);
}

/*
 * One loaded group's part of a range libext2fs reported as (end, 0): walks
 * back from end (inside [lo, end)) over the blocks whose state libext2fs
 * just set and mballoc does not have yet; a block handed out and not yet
 * marked stops a free's walk (it is not part of it).  Returns the start.
 */
static uint64_t mb_e2fs_walk_back(struct mb_e2fs *e, uint64_t lo, uint64_t end, int inuse)
{
	uint64_t b = end;

	while (b > lo) {
		bool fs_used = ext2fs_test_block_bitmap2(e->fs->block_map, b - 1);

		if (fs_used != (inuse > 0) || mb_e2fs_vol_used(e->vol, b - 1) == fs_used)
			break;
		if (inuse < 0 && mb_e2fs_pending_has(e, b - 1))
			break;
		b--;
	}
	return b;
}

/*
 * The workaround: libext2fs gave (end, 0) and has already changed
 * [start, end) in its bitmap and descriptors.  Group by group from end
 * down: a loaded group's part is found by walking back (and continues into
 * the group before only when it reached the group's first block); an
 * unloaded group takes its descriptor's count (exact, whatever the range)
 * and the walk continues only if that count moved (libext2fs moves every
 * descriptor a range touches).  Returns the blocks recovered.
 */
static uint64_t mb_e2fs_recover(struct mb_e2fs *e, uint64_t end, int inuse)
{
	struct mb_volume *vol = e->vol;
	uint64_t b = end, n = 0;

	while (b > vol->geo.first_data_block) {
		mb_grp_t g = mb_block_group(vol, b - 1);
		uint64_t lo = mb_group_first_block(vol, g), s;
		int64_t moved =
		    mb_e2fs_reseed_unloaded(vol, g, ext2fs_bg_free_blocks_count(e->fs, g));

		if (moved == 0)
			break;
		if (moved > 0) {
			mb_e2fs_count_unloaded(e, (uint64_t)moved, inuse);
			n += (uint64_t)moved;
			b = lo;
			continue;
		}
		s = mb_e2fs_walk_back(e, lo, b, inuse);
		mb_e2fs_mirror_piece(e, s, b - s, inuse);
		n += b - s;
		if (s > lo)
			break;
		b = lo;
	}
	return n;
}

static void mb_e2fs_stats_range_hook(ext2_filsys fs, blk64_t blk, blk_t num, int inuse)
{
	struct mb_e2fs *e = mb_e2fs_lookup(fs);

	if (!e)
		return;
	if (e->st.range_args_broken && !(e->flags & MB_E2FS_TRUST_RANGE_ARGS) && !num &&
	    blk <= ext2fs_blocks_count(fs->super)) {
		e->st.range_recovered++;
		mb_e2fs_recover(e, blk, inuse);
		return;
	}
	mb_e2fs_mirror(e, blk, num, inuse);
}

void mb_e2fs_hooks_install(struct mb_e2fs *e)
{
	ext2_filsys fs = e->fs;

	ext2fs_set_alloc_block_callback(fs, mb_e2fs_get_block, &e->saved.gab);
	/* 1.47 has no setter for the context-taking hook: the field is public */
	e->saved.gab2 = fs->get_alloc_block2;
	fs->get_alloc_block2 = mb_e2fs_get_block2;
	ext2fs_set_new_range_callback(fs, mb_e2fs_new_range, &e->saved.new_range);
	ext2fs_set_block_alloc_stats_callback(fs, mb_e2fs_stats_hook, &e->saved.stats);
	ext2fs_set_block_alloc_stats_range_callback(fs, mb_e2fs_stats_range_hook,
						    &e->saved.stats_range);
}

void mb_e2fs_hooks_restore(struct mb_e2fs *e)
{
	ext2_filsys fs = e->fs;

	ext2fs_set_alloc_block_callback(fs, e->saved.gab, NULL);
	fs->get_alloc_block2 = e->saved.gab2;
	ext2fs_set_new_range_callback(fs, e->saved.new_range, NULL);
	ext2fs_set_block_alloc_stats_callback(fs, e->saved.stats, NULL);
	ext2fs_set_block_alloc_stats_range_callback(fs, e->saved.stats_range, NULL);
}

static long mb_e2fs_version(void)
{
	const char *ver = NULL, *date = NULL;
	int a = 0, b = 0, c = 0;

	ext2fs_get_library_version(&ver, &date);
	if (!ver || sscanf(ver, "%d.%d.%d", &a, &b, &c) < 2)
		return 0;
	return a * 10000L + b * 100L + c;
}

/*
 * e2fsprogs 509da989 ("fix off-by-one bug in punch_extent_blocks"):
 * 1.46.6 added a range check that refuses an extent ending at the last
 * block; 1.47.4 fixed it.  Not probed: that needs a file.
 */
bool mb_e2fs_punch_off_by_one(void)
{
	long v = mb_e2fs_version();

	return v >= 14606 && v < 14704;
}

/* What the probe's hook saw. */
static _Thread_local struct {
	blk64_t blk;
	blk_t num;
	bool called;
} mb_e2fs_probe_seen;

static void mb_e2fs_probe_hook(ext2_filsys fs, blk64_t blk, blk_t num, int inuse)
{
	(void)fs, (void)inuse;
	mb_e2fs_probe_seen.blk = blk;
	mb_e2fs_probe_seen.num = num;
	mb_e2fs_probe_seen.called = true;
}

/*
 * Releases and re-takes the primary superblock's block (always used)
 * through ext2fs_block_alloc_stats_range with a hook that records its
 * arguments: a fixed libext2fs passes (b, 1), a broken one (b + 1, 0).
 * The counters and the bitmap end as they started.
 */
bool mb_e2fs_probe_range_args(ext2_filsys fs)
{
	void (*old)(ext2_filsys, blk64_t, blk_t, int);
	blk64_t b = fs->super->s_first_data_block;

	if (!ext2fs_test_block_bitmap2(fs->block_map, b))
		return false;
	mb_e2fs_probe_seen.called = false;
	ext2fs_set_block_alloc_stats_range_callback(fs, mb_e2fs_probe_hook, &old);
	ext2fs_block_alloc_stats_range(fs, b, 1, -1);
	ext2fs_block_alloc_stats_range(fs, b, 1, +1);
	ext2fs_set_block_alloc_stats_range_callback(fs, old, NULL);
	return mb_e2fs_probe_seen.called && mb_e2fs_probe_seen.num == 0 &&
	       mb_e2fs_probe_seen.blk == b + 1;
}
#endif /* MB_HAVE_EXT2FS */
