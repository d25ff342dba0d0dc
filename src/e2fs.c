/* SPDX-License-Identifier: MIT */
/*
 * e2fs.c - mballoc attached to a libext2fs handle (mb_e2fs_*): attach and
 * detach, beginning and ending files, giving back the runs handed out
 * and not yet confirmed (mb_e2fs_sync), statistics and the comparison
 * with the file system's bitmap.  The state both use is in e2fs_state.c,
 * the hooks in e2fs_hook.c, the store over the live bitmap in store_e2fs.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb_int.h"
#include "persist.h" /* mb_volume_open_error_set */

#ifdef MB_HAVE_EXT2FS
#include "e2fs.h"

/* Gives back the blocks of run r that fs left free and mballoc holds. */
static int64_t mb_e2fs_settle(struct mb_e2fs *e, const struct mb_e2fs_run *r)
{
	uint64_t b = r->start, end = r->start + r->len;
	int64_t back = 0;

	while (b < end) {
		blk64_t z, u;

		if (ext2fs_find_first_zero_block_bitmap2(e->fs->block_map, b, end - 1, &z))
			break; /* the rest is used by fs: confirmed */
		if (ext2fs_find_first_set_block_bitmap2(e->fs->block_map, z, end - 1, &u))
			u = end;
		for (b = z; b < u; b++) {
			if (!mb_e2fs_vol_used(e->vol, b))
				continue; /* freed since, and mirrored */
			if (mb_free(e->vol, b, 1))
				e->st.desync++;
			else
				back++;
		}
	}
	return back;
}

/* ------------------------------------------------------------------------ */
/* API                                                                       */
/* ------------------------------------------------------------------------ */

static int mb_e2fs_check_handle(ext2_filsys fs, const struct mb_e2fs_opts *opts, const char **why)
{
	if (fs->magic != EXT2_ET_MAGIC_EXT2FS_FILSYS) {
		*why = "not a libext2fs file system handle";
		return -EINVAL;
	}
	if (opts && ((opts->flags & ~(uint32_t)MB_E2FS_TRUST_RANGE_ARGS) ||
		     !mb_zeroed(opts->spare, sizeof(opts->spare)))) {
		*why = "unknown options";
		return -EINVAL;
	}
	if (!(fs->flags & EXT2_FLAG_RW)) {
		*why = "the file system was opened read-only (EXT2_FLAG_RW)";
		return -EROFS;
	}
	if (mb_e2fs_lookup(fs) || fs->get_alloc_block || fs->get_alloc_block2 || fs->new_range ||
	    fs->block_alloc_stats || fs->block_alloc_stats_range) {
		*why = "the file system already has allocator hooks installed";
		return -EBUSY;
	}
	return 0;
}

/* Keeps the last block from allocation where libext2fs cannot punch it. */
static void mb_e2fs_hold_last(struct mb_e2fs *e)
{
	uint64_t last = ext2fs_blocks_count(e->fs->super) - 1;

	if (!mb_e2fs_punch_off_by_one() || ext2fs_test_block_bitmap2(e->fs->block_map, last))
		return;
	if (!mb_mark_used(e->vol, last, 1)) {
		e->held = last;
		e->st.held_blocks = 1;
	}
}

/*
 * ext4_calculate_resv_clusters: 2% of the blocks, at most 4096, for an
 * extent-mapped file system (here always); never under the floor one
 * extent insert may need.
 */
static uint64_t mb_e2fs_resv_blocks(ext2_filsys fs)
{
	uint64_t r = ext2fs_blocks_count(fs->super) / 50;

	r = r < 4096 ? r : 4096;
	return r > MB_E2FS_META_RESERVE_MIN ? r : MB_E2FS_META_RESERVE_MIN;
}

static int mb_e2fs_attach_checked(ext2_filsys fs, const struct mb_e2fs_opts *opts,
				  struct mb_e2fs **out, const char **why)
{
	struct mb_geometry geo;
	struct mb_e2fs *e;
	int err = mb_e2fs_check_handle(fs, opts, why);

	if (!err)
		err = mb_e2fs_geometry(fs, &geo, why);
	if (err)
		return err;
	if (!fs->block_map && ext2fs_read_block_bitmap(fs)) {
		*why = "cannot read the block bitmap";
		return -EIO;
	}
	if (!(e = calloc(1, sizeof(*e))))
		return -ENOMEM;
	e->fs = fs;
	e->flags = opts ? opts->flags : 0;
	e->resv = mb_e2fs_resv_blocks(fs);
	e->st.resv_blocks = e->resv;
	if ((err = mb_e2fs_volume_new(fs, &geo, &e->vol))) {
		*why =
		    err == -ENOMEM ? NULL : "its geometry is outside what the allocator supports";
		free(e);
		return err;
	}
	if ((err = mb_e2fs_register(e))) {
		*why = "too many file systems attached in this process";
		mb_volume_destroy(e->vol);
		free(e);
		return err;
	}
	e->st.range_args_broken = mb_e2fs_probe_range_args(fs);
	mb_e2fs_hold_last(e);
	mb_e2fs_hooks_install(e);
	*out = e;
	return 0;
}

int mb_e2fs_attach(struct struct_ext2_filsys *fs, const struct mb_e2fs_opts *opts,
		   struct mb_e2fs **out)
{
	const char *why = NULL;
	int err;

	if (!fs || !out)
		err = -EINVAL;
	else
		err = mb_e2fs_attach_checked(fs, opts, out, &why);
	mb_volume_open_error_set(why);
	return err;
}

int64_t mb_e2fs_sync(struct mb_e2fs *e)
{
	int64_t back = 0;

	for (size_t i = 0; i < e->npending; i++)
		back += mb_e2fs_settle(e, &e->pending[i]);
	e->npending = 0;
	e->st.returned_blocks += (uint64_t)back;
	return back;
}

int mb_e2fs_detach(struct mb_e2fs *e)
{
	int64_t diff;

	if (!e)
		return -EINVAL;
	mb_e2fs_sync(e);
	if (e->held && mb_free(e->vol, e->held, 1) == 0) {
		e->held = 0;
		e->st.held_blocks = 0;
	}
	while (e->nfiles)
		mb_e2fs_file_drop(e, &e->files[0]);
	mb_discard_all(e->vol);
	diff = mb_e2fs_verify(e, NULL, 0);
	mb_e2fs_hooks_restore(e);
	mb_e2fs_unregister(e);
	mb_volume_destroy(e->vol);
	free(e->files);
	free(e->pending);
	free(e);
	return diff ? -EUCLEAN : 0;
}

struct mb_volume *mb_e2fs_volume(struct mb_e2fs *e)
{
	return e ? e->vol : NULL;
}

int mb_e2fs_file_begin(struct mb_e2fs *e, uint32_t ino, uint64_t size_blocks, uint32_t flags)
{
	struct mb_e2fs_file *f;

	if (!e || !ino || ino > e->fs->super->s_inodes_count || (flags & ~MB_E2FS_FILE_CLOSED))
		return -EINVAL;
	if (!(f = mb_e2fs_file_find(e, ino)) && !(f = mb_e2fs_file_add(e, ino)))
		return -ENOMEM;
	if (e->auto_ino == ino)
		e->auto_ino = 0; /* the caller owns its life now */
	f->auto_begun = false;
	f->cursor = 0;
	mb_file_set_size(f->file, size_blocks);
	mb_file_set_open_for_write(f->file, !(flags & MB_E2FS_FILE_CLOSED));
	e->cur_ino = ino;
	return 0;
}

int mb_e2fs_file_seek(struct mb_e2fs *e, uint32_t ino, uint64_t lblk)
{
	struct mb_e2fs_file *f = e ? mb_e2fs_file_find(e, ino) : NULL;

	if (!f)
		return -ENOENT;
	if (lblk >= MB_LOGICAL_LIMIT)
		return -EINVAL;
	f->cursor = lblk;
	e->cur_ino = ino;
	return 0;
}

int mb_e2fs_file_end(struct mb_e2fs *e, uint32_t ino)
{
	struct mb_e2fs_file *f = e ? mb_e2fs_file_find(e, ino) : NULL;

	if (!f)
		return -ENOENT;
	mb_e2fs_file_drop(e, f);
	mb_e2fs_sync(e);
	return 0;
}

int mb_e2fs_stats_get(struct mb_e2fs *e, struct mb_e2fs_stats *st)
{
	if (!e || !st)
		return -EINVAL;
	*st = e->st;
	st->files = (uint32_t)e->nfiles;
	return 0;
}

int64_t mb_e2fs_verify(struct mb_e2fs *e, char *buf, size_t buflen)
{
	size_t used = 0;
	int64_t total = 0;

	if (!e)
		return -EINVAL;
	if (buf && buflen)
		buf[0] = '\0';
	for (uint32_t g = 0; g < e->vol->ngroups; g++) {
		int64_t d = mb_e2fs_group_diff(e->vol, e->fs, g);

		if (e->held && mb_block_group(e->vol, e->held) == g)
			d -= d > 0; /* used in mballoc only, on purpose */

		if (d && buf && used + 1 < buflen) {
			int n = snprintf(buf + used, buflen - used,
					 "group %u: %lld blocks differ from the file system\n", g,
					 (long long)d);
			used += n > 0 ? (size_t)n : 0;
			if (used >= buflen)
				used = buflen - 1;
		}
		total += d;
	}
	return total;
}

#else  /* !MB_HAVE_EXT2FS */

int mb_e2fs_attach(struct struct_ext2_filsys *fs, const struct mb_e2fs_opts *opts,
		   struct mb_e2fs **out)
{
	(void)fs, (void)opts, (void)out;
	mb_volume_open_error_set("this mballoc was built without libext2fs");
	return -ENOTSUP;
}

int mb_e2fs_detach(struct mb_e2fs *e)
{
	(void)e;
	return -ENOTSUP;
}

struct mb_volume *mb_e2fs_volume(struct mb_e2fs *e)
{
	(void)e;
	return NULL;
}

int mb_e2fs_file_begin(struct mb_e2fs *e, uint32_t ino, uint64_t size_blocks, uint32_t flags)
{
	(void)e, (void)ino, (void)size_blocks, (void)flags;
	return -ENOTSUP;
}

int mb_e2fs_file_seek(struct mb_e2fs *e, uint32_t ino, uint64_t lblk)
{
	(void)e, (void)ino, (void)lblk;
	return -ENOTSUP;
}

int mb_e2fs_file_end(struct mb_e2fs *e, uint32_t ino)
{
	(void)e, (void)ino;
	return -ENOTSUP;
}

int64_t mb_e2fs_sync(struct mb_e2fs *e)
{
	(void)e;
	return -ENOTSUP;
}

int mb_e2fs_stats_get(struct mb_e2fs *e, struct mb_e2fs_stats *st)
{
	(void)e, (void)st;
	return -ENOTSUP;
}

int64_t mb_e2fs_verify(struct mb_e2fs *e, char *buf, size_t buflen)
{
	(void)e, (void)buf, (void)buflen;
	return -ENOTSUP;
}
#endif /* MB_HAVE_EXT2FS */
