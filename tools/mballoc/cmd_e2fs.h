/* SPDX-License-Identifier: MIT */
/*
 * cmd_e2fs.h - internals shared by `mballoc e2fs populate|fallocate|rm`
 * (cmd_e2fs*.c): an ext4 image opened read-write through libext2fs, with
 * either libext2fs's own block allocator or mballoc placing the blocks,
 * and the inode-level steps each subcommand builds on.
 *
 * Consistency rule: every step either completes or undoes itself before
 * returning an error (an inode created and not linked is freed again), so
 * when a command stops (a full image, a bad name), what closing writes is
 * e2fsck-clean.  Single-threaded: one command, one image, one thread.
 */
#ifndef MB_CMD_E2FS_H
#define MB_CMD_E2FS_H

#ifdef MB_HAVE_EXT2FS
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include <ext2fs/ext2fs.h>

enum mb_e2img_allocator {
	MB_E2IMG_ALLOC_MBALLOC, /* mballoc places every block (e2fslib's hooks) */
	MB_E2IMG_ALLOC_EXT2FS,  /* libext2fs's own forward search, as mke2fs -d */
};

/* One open image, for one command. */
struct mb_e2img {
	const char *cmd;        /* "e2fs populate", for messages */
	const char *image;
	ext2_filsys fs;
	enum mb_e2img_allocator alloc;
	void *attach;           /* the mballoc attachment (NULL: ext2fs's allocator) */
	bool progress;          /* a progress line on stderr (a terminal) */
	uint64_t files, bytes;  /* done so far, for the progress line and the summary */
	uint64_t last_progress_ns;
	uint64_t start_ns;
};

/*
 * Opens IMAGE read-write and checks that this tool can write it: ext4
 * (extents), no feature it does not handle (bigalloc, ...), not mounted,
 * clean (no journal to recover, no recorded errors).  Attaches the chosen
 * allocator.  Prints why on failure.  Returns 0 or MB_EXIT_FAIL.
 */
int mb_e2img_open(struct mb_e2img *e, const char *cmd, const char *image,
		 enum mb_e2img_allocator alloc, bool progress);
/* Detaches the allocator and closes the image (bitmaps, counters and the
 * superblock written).  Prints why on failure.  Returns 0 or MB_EXIT_FAIL. */
int mb_e2img_close(struct mb_e2img *e);
/* Parses "mballoc" or "ext2fs" for --allocator; false when neither. */
bool mb_e2img_parse_allocator(const char *s, enum mb_e2img_allocator *out);
/* Whether `--allocator=mballoc` is available in this build. */
bool mb_e2img_have_mballoc(void);

/* The mballoc attachment (cmd_e2fs_alloc.c, over the library's e2fs
 * API): attach prints why it failed and returns MB_EXIT_FAIL; detach
 * drops the preallocations still held.  Both no-ops for ext2fs. */
int mb_e2img_attach_mballoc(struct mb_e2img *e);
void mb_e2img_detach_mballoc(struct mb_e2img *e);

/* Tells mballoc which file the next allocations are for (inode, its final
 * size in bytes; closed: written back after close(2), as delalloc does
 * for cp, else held open), seek: the logical block the next range
 * allocation (ext2fs_fallocate) starts at; end: done with it (its
 * preallocations dropped).  No-ops under libext2fs's allocator.  Return
 * 0 or an errcode_t (a positive errno). */
errcode_t mb_e2img_file_begin(struct mb_e2img *e, ext2_ino_t ino, uint64_t size, bool closed);
errcode_t mb_e2img_file_seek(struct mb_e2img *e, ext2_ino_t ino, uint64_t lblk);
void mb_e2img_file_end(struct mb_e2img *e, ext2_ino_t ino);

/* A libext2fs or errno error in words; full-image conditions all read
 * "no space left on the image (No space left on device)". */
const char *mb_e2img_strerror(errcode_t err);
bool mb_e2img_is_enospc(errcode_t err);

/* The progress line (on a terminal, at most 5 per second), and its clearing. */
void mb_e2img_progress(struct mb_e2img *e, const char *what);
void mb_e2img_progress_clear(struct mb_e2img *e);

/* --- inode steps (cmd_e2fs_inode.c) --- */

/* Links NAME in DIR to INO, growing DIR by a block when it is full. */
errcode_t mb_e2img_link(struct mb_e2img *e, ext2_ino_t dir, const char *name, ext2_ino_t ino,
		       int ftype);
/* Frees everything INO holds (blocks, extended attribute block) and the
 * inode itself; it must be linked nowhere.  Used to undo a failed create
 * and by rm when the last link goes. */
errcode_t mb_e2img_release(struct mb_e2img *e, ext2_ino_t ino);
/* Copies owner, permission bits and times (with nanoseconds when the
 * inode has room for them) from st into INO. */
errcode_t mb_e2img_set_attrs(struct mb_e2img *e, ext2_ino_t ino, const struct stat *st);
/* A new regular (or special) inode of mode MODE (LINUX_S_*), marked in
 * use, not linked; extents when the file system has them. */
errcode_t mb_e2img_new_inode(struct mb_e2img *e, ext2_ino_t dir, uint16_t mode, ext2_ino_t *out);
/* DIR's entry NAME: its inode, or 0 when there is none. */
errcode_t mb_e2img_lookup(struct mb_e2img *e, ext2_ino_t dir, const char *name, ext2_ino_t *out);
/* Resolves an absolute PATH in the image (no symlink followed at the
 * end); *parent gets the directory holding the last component and *base
 * points into PATH at it ("" for "/").  Errors: EXT2_ET_FILE_NOT_FOUND. */
errcode_t mb_e2img_resolve(struct mb_e2img *e, const char *path, ext2_ino_t *parent,
			  const char **base, ext2_ino_t *ino);

uint64_t mb_e2img_now_ns(void);

/* The subcommands (argv[0] is the subcommand's name). */
int mb_e2img_populate(int argc, char **argv);
int mb_e2img_fallocate(int argc, char **argv);
int mb_e2img_rm(int argc, char **argv);
#endif /* MB_HAVE_EXT2FS */

#endif
