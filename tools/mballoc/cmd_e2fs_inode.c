/* SPDX-License-Identifier: MIT */
/*
 * cmd_e2fs_inode.c - inode-level steps of `mballoc e2fs`: create, link
 * (growing a full directory), name lookup, attributes, release.  Each step
 * leaves the file system consistent when it fails.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cmd_e2fs.h"

#ifdef MB_HAVE_EXT2FS
#include <ext2fs/ext3_extents.h>
#endif

#ifdef MB_HAVE_EXT2FS

errcode_t mb_e2img_link(struct mb_e2img *e, ext2_ino_t dir, const char *name, ext2_ino_t ino,
		       int ftype)
{
	errcode_t err = ext2fs_link(e->fs, dir, name, ino, ftype);

	if (err != EXT2_ET_DIR_NO_SPACE)
		return err;
	/* libext2fs 1.47.0 leaves growing to the caller: one more block,
	 * then the entry surely fits (a name is at most 255 bytes). */
	err = ext2fs_expand_dir(e->fs, dir);
	if (err)
		return err;
	return ext2fs_link(e->fs, dir, name, ino, ftype);
}

errcode_t mb_e2img_lookup(struct mb_e2img *e, ext2_ino_t dir, const char *name, ext2_ino_t *out)
{
	errcode_t err = ext2fs_lookup(e->fs, dir, name, (int)strlen(name), NULL, out);

	if (err == EXT2_ET_FILE_NOT_FOUND) {
		*out = 0;
		return 0;
	}
	return err;
}

errcode_t mb_e2img_resolve(struct mb_e2img *e, const char *path, ext2_ino_t *parent,
			  const char **base, ext2_ino_t *ino)
{
	ext2_ino_t dir = EXT2_ROOT_INO, cur = EXT2_ROOT_INO;
	const char *p = path;
	char name[EXT2_NAME_LEN + 1];

	*parent = EXT2_ROOT_INO;
	*base = path + strlen(path);
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, "/");

		if (n > EXT2_NAME_LEN)
			return EXT2_ET_FILE_NOT_FOUND;
		if (!cur) /* a component under a missing one */
			return EXT2_ET_FILE_NOT_FOUND;
		memcpy(name, p, n);
		name[n] = 0;
		dir = cur;
		*base = p;
		errcode_t err = mb_e2img_lookup(e, dir, name, &cur);

		if (err)
			return err;
		p += n;
		if (cur && *p) { /* more to come: it must be a directory */
			errcode_t d = ext2fs_check_directory(e->fs, cur);

			if (d)
				return d;
		}
	}
	*parent = dir;
	*ino = cur;
	return 0;
}

errcode_t mb_e2img_new_inode(struct mb_e2img *e, ext2_ino_t dir, uint16_t mode, ext2_ino_t *out)
{
	struct ext2_inode inode;
	ext2_ino_t ino;
	errcode_t err = ext2fs_new_inode(e->fs, dir, mode, NULL, &ino);

	if (err)
		return err;
	memset(&inode, 0, sizeof(inode));
	inode.i_mode = mode;
	inode.i_links_count = 1;
	if (LINUX_S_ISREG(mode) && ext2fs_has_feature_extents(e->fs->super)) {
		ext2_extent_handle_t h;

		/* An empty extent header in i_block, EXT4_EXTENTS_FL set. */
		err = ext2fs_extent_open2(e->fs, ino, &inode, &h);
		if (err)
			return err;
		ext2fs_extent_free(h);
	}
	err = ext2fs_write_new_inode(e->fs, ino, &inode);
	if (err)
		return err;
	ext2fs_inode_alloc_stats2(e->fs, ino, +1, 0);
	*out = ino;
	return 0;
}

/* An inode of the file system's inode size, read whole. */
static errcode_t mb_e2img_read_full(struct mb_e2img *e, ext2_ino_t ino,
				   struct ext2_inode_large **out)
{
	int isz = EXT2_INODE_SIZE(e->fs->super);
	struct ext2_inode_large *in = calloc(1, (size_t)isz < sizeof(*in) ? sizeof(*in)
									   : (size_t)isz);
	if (!in)
		return ENOMEM;
	errcode_t err = ext2fs_read_inode_full(e->fs, ino, (struct ext2_inode *)in, isz);

	if (err) {
		free(in);
		return err;
	}
	*out = in;
	return 0;
}

/* Whether the large inode's extra area reaches past field offset `end`. */
static bool mb_e2img_has_extra(ext2_filsys fs,
			      const struct ext2_inode_large *in, size_t end)
{
	return EXT2_INODE_SIZE(fs->super) > EXT2_GOOD_OLD_INODE_SIZE &&
	       EXT2_GOOD_OLD_INODE_SIZE + (size_t)in->i_extra_isize >= end;
}

/* ext4's encoding of the extra time word: 2 epoch bits, 30 bits of ns. */
static uint32_t mb_e2img_time_extra(const struct timespec *ts)
{
	int64_t epoch = ((int64_t)ts->tv_sec - (int64_t)(int32_t)ts->tv_sec) >> 32;

	return (uint32_t)((uint64_t)ts->tv_nsec << 2) | ((uint32_t)epoch & 3);
}

errcode_t mb_e2img_set_attrs(struct mb_e2img *e, ext2_ino_t ino, const struct stat *st)
{
	struct ext2_inode_large *in;
	errcode_t err = mb_e2img_read_full(e, ino, &in);

	if (err)
		return err;
	in->i_mode = (uint16_t)((in->i_mode & LINUX_S_IFMT) | (st->st_mode & 07777));
	in->i_uid = (uint16_t)st->st_uid;
	ext2fs_set_i_uid_high(*in, (uint16_t)(st->st_uid >> 16));
	in->i_gid = (uint16_t)st->st_gid;
	ext2fs_set_i_gid_high(*in, (uint16_t)(st->st_gid >> 16));
	in->i_atime = (uint32_t)st->st_atim.tv_sec;
	in->i_mtime = (uint32_t)st->st_mtim.tv_sec;
	in->i_ctime = (uint32_t)st->st_ctim.tv_sec;
	if (mb_e2img_has_extra(e->fs, in, offsetof(struct ext2_inode_large, i_atime_extra) + 4)) {
		in->i_ctime_extra = mb_e2img_time_extra(&st->st_ctim);
		in->i_mtime_extra = mb_e2img_time_extra(&st->st_mtim);
		in->i_atime_extra = mb_e2img_time_extra(&st->st_atim);
	}
	err = ext2fs_write_inode_full(e->fs, ino, (struct ext2_inode *)in,
				      EXT2_INODE_SIZE(e->fs->super));
	free(in);
	return err;
}

/* Marks blocks [blk, blk + len) free, after checking they are in the
 * file system (a corrupt tree must not free metadata). */
static errcode_t mb_e2img_free_range(ext2_filsys fs, blk64_t blk, blk64_t len)
{
	if (blk < fs->super->s_first_data_block || len > ext2fs_blocks_count(fs->super) ||
	    blk > ext2fs_blocks_count(fs->super) - len)
		return EXT2_ET_BAD_BLOCK_NUM;
	ext2fs_block_alloc_stats_range(fs, blk, (blk_t)len, -1);
	return 0;
}

/*
 * Frees every block of an extent-mapped inode: data extents and the tree's
 * own blocks, walked once; then an empty tree.  Not ext2fs_punch: 1.47.0's
 * refuses an extent that ends at the last block of the file system
 * (EXT2_ET_BAD_BLOCK_NUM), and a file being deleted needs no tree edits.
 */
static errcode_t mb_e2img_free_extents(struct mb_e2img *e, ext2_ino_t ino,
				       struct ext2_inode *in)
{
	ext2_extent_handle_t h;
	struct ext2fs_extent ex;
	errcode_t err = ext2fs_extent_open2(e->fs, ino, in, &h);

	if (err)
		return err;
	err = ext2fs_extent_get(h, EXT2_EXTENT_ROOT, &ex);
	while (!err) {
		if (ex.e_flags & EXT2_EXTENT_FLAGS_LEAF) {
			if (ex.e_len)
				err = mb_e2img_free_range(e->fs, ex.e_pblk, ex.e_len);
		} else if (!(ex.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT)) {
			err = mb_e2img_free_range(e->fs, ex.e_pblk, 1); /* a tree block */
		}
		if (!err)
			err = ext2fs_extent_get(h, EXT2_EXTENT_NEXT, &ex);
	}
	ext2fs_extent_free(h);
	if (err != EXT2_ET_EXTENT_NO_NEXT && err != EXT2_ET_NO_CURRENT_NODE)
		return err;
	struct ext3_extent_header *eh = (struct ext3_extent_header *)in->i_block;

	memset(in->i_block, 0, sizeof(in->i_block));
	eh->eh_magic = ext2fs_cpu_to_le16(EXT3_EXT_MAGIC);
	eh->eh_max = ext2fs_cpu_to_le16((sizeof(in->i_block) - sizeof(*eh)) /
					sizeof(struct ext3_extent));
	return ext2fs_iblk_set(e->fs, in, 0);
}

errcode_t mb_e2img_release(struct mb_e2img *e, ext2_ino_t ino)
{
	struct ext2_inode_large *in;
	errcode_t err = mb_e2img_read_full(e, ino, &in);

	if (err)
		return err;
	int isdir = LINUX_S_ISDIR(in->i_mode);
	struct ext2_inode *small = (struct ext2_inode *)in;

	/* A fast symlink keeps its target in i_block: no block to free. */
	if (ext2fs_inode_has_valid_blocks2(e->fs, small)) {
		if (small->i_flags & EXT4_EXTENTS_FL)
			err = mb_e2img_free_extents(e, ino, small);
		else
			err = ext2fs_punch(e->fs, ino, small, NULL, 0, ~0ULL);
		if (err)
			goto out;
	}
	if (ext2fs_file_acl_block(e->fs, small)) {
		err = ext2fs_free_ext_attr(e->fs, ino, in);
		if (err)
			goto out;
	}
	in->i_links_count = 0;
	in->i_dtime = e->fs->now ? (uint32_t)e->fs->now : (uint32_t)time(NULL);
	ext2fs_inode_size_set(e->fs, small, 0);
	err = ext2fs_write_inode_full(e->fs, ino, small, EXT2_INODE_SIZE(e->fs->super));
	if (!err)
		ext2fs_inode_alloc_stats2(e->fs, ino, -1, isdir);
out:
	free(in);
	return err;
}
#endif /* MB_HAVE_EXT2FS */
