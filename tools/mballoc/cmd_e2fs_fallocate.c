/* SPDX-License-Identifier: MIT */
/*
 * cmd_e2fs_fallocate.c - `mballoc e2fs fallocate IMAGE PATH SIZE`: as
 * fallocate(1) without options: the file (created empty, mode 0644, when
 * missing) gets every block of [0, SIZE) allocated, as unwritten extents
 * (reading zeros), and its size grows to SIZE if smaller.  The allocator
 * sees one open file asking for SIZE bytes.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_e2fs.h"

#ifdef MB_HAVE_EXT2FS

static const char *const mb_fa_help =
	"usage: mballoc e2fs fallocate [options] IMAGE PATH SIZE\n"
	"Allocates the blocks of the first SIZE bytes (K/M/G suffixes) of the file PATH in\n"
	"the image, as unwritten extents; the file is created when missing (its directory\n"
	"must exist) and grows to SIZE.  On a full image a new file is removed again; an\n"
	"existing one keeps what was allocated.  The image stays e2fsck-clean.\n"
	"  --allocator=A           mballoc (default when built in) or ext2fs\n"
	"  -q, --quiet             no summary line\n"
	"  -h, --help\n";

#define MB_FA_CMD "e2fs fallocate"

/* ctime and mtime (and atime for a new file): now. */
static errcode_t mb_fa_touch(struct mb_e2img *e, ext2_ino_t ino, bool created)
{
	struct stat st;
	struct ext2_inode inode;
	errcode_t err = ext2fs_read_inode(e->fs, ino, &inode);

	if (err)
		return err;
	memset(&st, 0, sizeof(st));
	st.st_mode = inode.i_mode;
	st.st_uid = inode_uid(inode);
	st.st_gid = inode_gid(inode);
	clock_gettime(CLOCK_REALTIME, &st.st_mtim);
	st.st_ctim = st.st_mtim;
	st.st_atim = st.st_mtim;
	if (!created)
		st.st_atim = (struct timespec){ inode.i_atime, 0 };
	return mb_e2img_set_attrs(e, ino, &st);
}

static errcode_t mb_fa_alloc(struct mb_e2img *e, ext2_ino_t ino, uint64_t size)
{
	struct ext2_inode inode;
	uint64_t bs = e->fs->blocksize, blocks = (size + bs - 1) / bs;
	errcode_t err = ext2fs_read_inode(e->fs, ino, &inode);

	if (err)
		return err;
	if (!LINUX_S_ISREG(inode.i_mode))
		return EINVAL;
	err = mb_e2img_file_begin(e, ino, size, false);
	if (!err)
		err = mb_e2img_file_seek(e, ino, 0);
	if (!err && blocks)
		/* No inode given: it reads the inode and writes it back with the
		 * blocks counted (given one, the caller would write it). */
		err = ext2fs_fallocate(e->fs, EXT2_FALLOCATE_FORCE_UNINIT, ino, NULL, ~0ULL, 0,
				       blocks);
	mb_e2img_file_end(e, ino);
	if (err)
		return err;
	err = ext2fs_read_inode(e->fs, ino, &inode);
	if (!err && EXT2_I_SIZE(&inode) < size) {
		err = ext2fs_inode_size_set(e->fs, &inode, size);
		if (!err)
			err = ext2fs_write_inode(e->fs, ino, &inode);
	}
	return err;
}

static int mb_fa_run(struct mb_e2img *e, const char *path, uint64_t size)
{
	ext2_ino_t parent, ino;
	const char *base;
	bool created = false;
	errcode_t err = path[0] == '/' ? mb_e2img_resolve(e, path, &parent, &base, &ino)
				       : EXT2_ET_FILE_NOT_FOUND;

	if (!err && !ino) {
		char name[EXT2_NAME_LEN + 1];

		snprintf(name, sizeof(name), "%.*s", (int)strcspn(base, "/"), base);
		if (!*name)
			err = EINVAL;
		if (!err)
			err = mb_e2img_new_inode(e, parent, LINUX_S_IFREG | 0644, &ino);
		if (!err) {
			err = mb_e2img_link(e, parent, name, ino, EXT2_FT_REG_FILE);
			if (err)
				mb_e2img_release(e, ino);
		}
		if (!err) {
			created = true;
			err = mb_fa_alloc(e, ino, size);
			if (err) { /* the new file goes again, with what it got */
				ext2fs_unlink(e->fs, parent, name, ino, 0);
				mb_e2img_release(e, ino);
			}
		}
	} else if (!err) {
		struct ext2_inode inode;

		err = ext2fs_read_inode(e->fs, ino, &inode);
		if (!err && !LINUX_S_ISREG(inode.i_mode))
			err = LINUX_S_ISDIR(inode.i_mode) ? EISDIR : EINVAL;
		if (!err)
			err = mb_fa_alloc(e, ino, size);
	}
	if (!err)
		err = mb_fa_touch(e, ino, created);
	if (err == EXT2_ET_FILE_NOT_FOUND)
		err = ENOENT;
	if (err) {
		mb_cli_err(MB_FA_CMD, "%s: %s: %s", e->image, path,
			   err == EINVAL ? "not a regular file" : mb_e2img_strerror(err));
		return -1;
	}
	return 0;
}

int mb_e2img_fallocate(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "allocator", required_argument, 0, 'a' }, { "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' },	  { 0, 0, 0, 0 },
	};
	enum mb_e2img_allocator alloc = mb_e2img_have_mballoc() ? MB_E2IMG_ALLOC_MBALLOC
								: MB_E2IMG_ALLOC_EXT2FS;
	struct mb_e2img e;
	bool quiet = false;
	uint64_t size;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hq", lo, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = true; break;
		case 'a':
			if (!mb_e2img_parse_allocator(optarg, &alloc))
				return mb_cli_usage_err(MB_FA_CMD, "unknown allocator '%s' (mballoc "
								   "or ext2fs)", optarg);
			break;
		case 'h': fputs(mb_fa_help, stdout); return MB_EXIT_OK;
		case '?': return mb_cli_bad_option(MB_FA_CMD, argv);
		default: return MB_EXIT_USAGE;
		}
	}
	if (argc - optind != 3)
		return mb_cli_usage_err(MB_FA_CMD, "IMAGE, PATH and SIZE expected");
	if (mb_parse_size(argv[optind + 2], &size))
		return mb_cli_usage_err(MB_FA_CMD, "invalid size '%s'", argv[optind + 2]);
	if (mb_e2img_open(&e, MB_FA_CMD, argv[optind], alloc, false))
		return MB_EXIT_FAIL;
	int rc = mb_fa_run(&e, argv[optind + 1], size) ? MB_EXIT_FAIL : MB_EXIT_OK;

	if (mb_e2img_close(&e))
		rc = MB_EXIT_FAIL;
	if (!rc && !quiet)
		printf("%s: %s: %llu bytes allocated\n", argv[optind], argv[optind + 1],
		       (unsigned long long)size);
	return rc;
}
#endif /* MB_HAVE_EXT2FS */
