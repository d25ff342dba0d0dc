/* SPDX-License-Identifier: MIT */
/*
 * e2fs_testlib.h - what the C tests of mballoc-as-libext2fs-allocator
 * share: a scratch directory of images made by mke2fs, opening one
 * read-write, creating / writing / fallocating / removing files through
 * libext2fs as a program would, the sync check (mballoc's free count and
 * bitmap equal the file system's) and e2fsck -fn.  Header-only (static
 * functions); each test file includes it once.
 */
#ifndef MB_E2FS_TESTLIB_H
#define MB_E2FS_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ext2fs/ext2fs.h>

#include "harness.h"

static char mb_tdir[64];

static __attribute__((unused)) void mb_tdir_cleanup(void)
{
	char cmd[128];

	if (getenv("MB_E2FS_KEEP")) { /* for a look at a failed image */
		fprintf(stderr, "images kept in %s\n", mb_tdir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mb_tdir);
	if (mb_tdir[0] && system(cmd))
		fprintf(stderr, "cannot remove %s\n", mb_tdir);
}

/* Makes an image with mke2fs OPTS SIZE in the scratch directory; skips
 * the whole test (77) without mke2fs.  Returns its path (static). */
static const char *mb_t_mkfs(const char *name, const char *opts, const char *size)
{
	static char path[128];
	char cmd[512];

	if (!mb_tdir[0]) {
		snprintf(mb_tdir, sizeof(mb_tdir), "/tmp/test_e2fs.XXXXXX");
		if (!mkdtemp(mb_tdir))
			mb_test_skip("mkdtemp failed");
		atexit(mb_tdir_cleanup);
	}
	snprintf(path, sizeof(path), "%s/%s", mb_tdir, name);
	snprintf(cmd, sizeof(cmd), "rm -f '%s'; mke2fs -q -F %s '%s' %s >/dev/null 2>&1", path,
		 opts, path, size);
	if (system(cmd))
		mb_test_skip("mke2fs failed or is missing");
	return path;
}

/* e2fsck -fn: 0 when the image is clean; else its report goes to stderr
 * (the first 60 lines), so a failure says what e2fsck found. */
static __attribute__((unused)) int mb_t_fsck(const char *path)
{
	char cmd[512];
	int rc;

	snprintf(cmd, sizeof(cmd), "e2fsck -fn '%s' >/dev/null 2>&1", path);
	if (!(rc = system(cmd)))
		return 0;
	snprintf(cmd, sizeof(cmd), "e2fsck -fn '%s' 2>&1 | head -60 >&2", path);
	if (system(cmd))
		fprintf(stderr, "e2fsck -fn %s: cannot show its report\n", path);
	return rc;
}

/* The image's bytes, for "untouched" checks (cksum output). */
static __attribute__((unused)) unsigned long mb_t_sum(const char *path)
{
	char cmd[256];
	unsigned long sum = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "cksum '%s'", path);
	if ((p = popen(cmd, "r"))) {
		if (fscanf(p, "%lu", &sum) != 1)
			sum = 0;
		pclose(p);
	}
	return sum;
}

static __attribute__((unused)) ext2_filsys mb_t_open(const char *path, int rw)
{
	ext2_filsys fs = NULL;

	if (ext2fs_open(path, EXT2_FLAG_64BITS | (rw ? EXT2_FLAG_RW : 0), 0, 0, unix_io_manager,
			&fs))
		return NULL;
	if (ext2fs_read_bitmaps(fs)) {
		ext2fs_close_free(&fs);
		return NULL;
	}
	return fs;
}

/* Links a new empty regular file name in the root; 0 on failure. */
static __attribute__((unused)) ext2_ino_t mb_t_create(ext2_filsys fs, const char *name)
{
	struct ext2_inode inode;
	ext2_extent_handle_t h;
	ext2_ino_t ino;
	errcode_t err;

	if (ext2fs_new_inode(fs, EXT2_ROOT_INO, LINUX_S_IFREG | 0644, 0, &ino))
		return 0;
	err = ext2fs_link(fs, EXT2_ROOT_INO, name, ino, EXT2_FT_REG_FILE);
	if (err == EXT2_ET_DIR_NO_SPACE) {
		if (ext2fs_expand_dir(fs, EXT2_ROOT_INO))
			return 0;
		err = ext2fs_link(fs, EXT2_ROOT_INO, name, ino, EXT2_FT_REG_FILE);
	}
	if (err)
		return 0;
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	memset(&inode, 0, sizeof(inode));
	inode.i_mode = LINUX_S_IFREG | 0644;
	inode.i_links_count = 1;
	inode.i_atime = inode.i_ctime = inode.i_mtime = (uint32_t)time(NULL);
	if (ext2fs_extent_open2(fs, ino, &inode, &h)) /* an empty extent tree */
		return 0;
	ext2fs_extent_free(h);
	return ext2fs_write_new_inode(fs, ino, &inode) ? 0 : ino;
}

/* Appends bytes (a pattern) to ino in chunk-sized writes; 0 or the errcode. */
static __attribute__((unused)) errcode_t mb_t_write(ext2_filsys fs, ext2_ino_t ino, uint64_t bytes,
						    unsigned chunk)
{
	ext2_file_t file;
	char *buf = malloc(chunk);
	errcode_t err, err2;

	if (!buf)
		return EXT2_ET_NO_MEMORY;
	memset(buf, 'm', chunk);
	if ((err = ext2fs_file_open(fs, ino, EXT2_FILE_WRITE, &file))) {
		free(buf);
		return err;
	}
	ext2fs_file_llseek(file, 0, EXT2_SEEK_END, NULL);
	while (!err && bytes) {
		unsigned n = bytes < chunk ? (unsigned)bytes : chunk, got = 0;

		err = ext2fs_file_write(file, buf, n, &got);
		bytes -= got;
	}
	err2 = ext2fs_file_close(file);
	free(buf);
	return err ? err : err2;
}

/* Unlinks name and frees its inode and blocks, as rm does. */
static __attribute__((unused)) errcode_t mb_t_remove(ext2_filsys fs, const char *name,
						     ext2_ino_t ino)
{
	struct ext2_inode inode;
	errcode_t err;

	if ((err = ext2fs_unlink(fs, EXT2_ROOT_INO, name, ino, 0)) ||
	    (err = ext2fs_read_inode(fs, ino, &inode)))
		return err;
	if ((err = ext2fs_punch(fs, ino, &inode, NULL, 0, ~0ULL)))
		return err;
	inode.i_links_count = 0;
	inode.i_dtime = (uint32_t)time(NULL);
	if ((err = ext2fs_write_inode(fs, ino, &inode)))
		return err;
	ext2fs_inode_alloc_stats2(fs, ino, -1, 0);
	return 0;
}

/* Extents of ino's data (leaves). */
static __attribute__((unused)) int mb_t_extents(ext2_filsys fs, ext2_ino_t ino)
{
	ext2_extent_handle_t h;
	struct ext2fs_extent ex;
	int n = 0, op = EXT2_EXTENT_ROOT;

	if (ext2fs_extent_open(fs, ino, &h))
		return -1;
	while (!ext2fs_extent_get(h, op, &ex)) {
		op = EXT2_EXTENT_NEXT;
		if (ex.e_flags & EXT2_EXTENT_FLAGS_LEAF)
			n++;
	}
	ext2fs_extent_free(h);
	return n;
}

/*
 * The invariant between libext2fs calls: after mb_e2fs_sync, mballoc's
 * free count and its bitmap equal the file system's.  Returns 0 or prints
 * what differs and returns -1.
 */
static __attribute__((unused)) int mb_t_in_sync(ext2_filsys fs, struct mb_e2fs *e, const char *when)
{
	static char buf[4096];
	uint64_t mb_free, fs_free = ext2fs_free_blocks_count(fs->super);
	int64_t diff;

	if (mb_e2fs_sync(e) < 0)
		return -1;
	struct mb_e2fs_stats st;

	mb_e2fs_stats_get(e, &st);
	/* a block held back from allocation is free in fs only */
	mb_free = mb_free_blocks(mb_e2fs_volume(e)) + st.held_blocks;
	diff = mb_e2fs_verify(e, buf, sizeof(buf));
	if (mb_free == fs_free && diff == 0)
		return 0;
	fprintf(stderr, "%s: mballoc free %llu, fs free %llu, %lld blocks differ\n%s", when,
		(unsigned long long)mb_free, (unsigned long long)fs_free, (long long)diff, buf);
	return -1;
}

#endif
