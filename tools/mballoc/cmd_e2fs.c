/* SPDX-License-Identifier: MIT */
/*
 * cmd_e2fs.c - `mballoc e2fs SUBCOMMAND`: writing real ext4 images through
 * libext2fs (populate, fallocate, rm).  This file dispatches, opens and
 * checks the image, attaches the allocator, and reports errors and
 * progress; the subcommands live in cmd_e2fs_{populate,fallocate,rm}.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_e2fs.h"

static const char *const mb_e2img_help =
	"usage: mballoc e2fs SUBCOMMAND [options] IMAGE ...\n"
	"Writes an ext4 image through libext2fs, with mballoc placing every block.\n"
	"  populate IMAGE DIR        copy the tree DIR into the image (as mke2fs -d)\n"
	"  fallocate IMAGE PATH SIZE preallocate a file of SIZE bytes (created if missing)\n"
	"  rm [-r] IMAGE PATH        remove a file (a directory tree with -r)\n"
	"'mballoc e2fs SUBCOMMAND --help' describes one.  Each leaves the image\n"
	"e2fsck-clean, also when it stops on an error (a full image, a bad name).\n";

#ifdef MB_HAVE_EXT2FS
#include <et/com_err.h>

uint64_t mb_e2img_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

bool mb_e2img_is_enospc(errcode_t err)
{
	return err == ENOSPC || err == -ENOSPC || err == EXT2_ET_BLOCK_ALLOC_FAIL ||
	       err == EXT2_ET_INODE_ALLOC_FAIL || err == EXT2_ET_DIR_NO_SPACE ||
	       err == EXT2_ET_RES_GDT_BLOCKS;
}

const char *mb_e2img_strerror(errcode_t err)
{
	if (mb_e2img_is_enospc(err))
		return "no space left on the image (No space left on device)";
	if (err < 0 && err > -4096)
		return strerror((int)-err);
	return error_message(err);
}

bool mb_e2img_parse_allocator(const char *s, enum mb_e2img_allocator *out)
{
	if (!strcmp(s, "mballoc"))
		*out = MB_E2IMG_ALLOC_MBALLOC;
	else if (!strcmp(s, "ext2fs"))
		*out = MB_E2IMG_ALLOC_EXT2FS;
	else
		return false;
	return true;
}

void mb_e2img_progress(struct mb_e2img *e, const char *what)
{
	uint64_t now = mb_e2img_now_ns();

	if (!e->progress || now - e->last_progress_ns < 200000000ULL)
		return;
	e->last_progress_ns = now;
	fprintf(stderr, "\r\033[K%s: %llu files, %.1f MiB, %.0f s, %s", e->cmd,
		(unsigned long long)e->files, (double)e->bytes / 1048576.0,
		(double)(now - e->start_ns) / 1e9, what);
}

void mb_e2img_progress_clear(struct mb_e2img *e)
{
	if (e->progress && e->last_progress_ns)
		fprintf(stderr, "\r\033[K");
}

/* What about the opened file system keeps this tool out; NULL when none. */
static const char *mb_e2img_unsupported(ext2_filsys fs)
{
	struct ext2_super_block *sb = fs->super;

	if (!ext2fs_has_feature_extents(sb))
		return "not ext4 (no extents feature): an ext2/ext3 file system";
	if (ext2fs_has_feature_bigalloc(sb))
		return "unsupported feature: bigalloc";
	if (ext2fs_has_feature_journal_needs_recovery(sb))
		return "the journal needs recovery: run e2fsck first";
	if (ext2fs_has_feature_journal_dev(sb))
		return "an external journal device, not a file system";
	if (sb->s_state & EXT2_ERROR_FS || !(sb->s_state & EXT2_VALID_FS))
		return "the file system has errors or was not cleanly unmounted: run e2fsck first";
	return NULL;
}

static int mb_e2img_fail_open(struct mb_e2img *e, const char *why)
{
	mb_cli_err(e->cmd, "%s: %s", e->image, why);
	if (e->fs)
		ext2fs_close_free(&e->fs);
	return MB_EXIT_FAIL;
}

int mb_e2img_open(struct mb_e2img *e, const char *cmd, const char *image,
		 enum mb_e2img_allocator alloc, bool progress)
{
	int mount_flags = 0;
	errcode_t err;

	static bool table_added;

	if (!table_added) { /* error_message() then names libext2fs's codes */
		initialize_ext2_error_table();
		table_added = true;
	}
	*e = (struct mb_e2img){ .cmd = cmd, .image = image, .alloc = alloc, .progress = progress };
	e->start_ns = mb_e2img_now_ns();
	if (access(image, F_OK))
		return mb_e2img_fail_open(e, strerror(errno));
	err = ext2fs_check_if_mounted(image, &mount_flags);
	if (!err && (mount_flags & EXT2_MF_MOUNTED))
		return mb_e2img_fail_open(e, "mounted: unmount it first (Device or resource busy)");
	err = ext2fs_open2(image, NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager,
			   &e->fs);
	if (err) {
		e->fs = NULL;
		if (err == EXT2_ET_BAD_MAGIC || err == EXT2_ET_SB_CSUM_INVALID ||
		    err == EXT2_ET_CORRUPT_SUPERBLOCK || err == EXT2_ET_SHORT_READ)
			return mb_e2img_fail_open(e, "not an ext4 file system (bad superblock)");
		if (err == EXT2_ET_UNSUPP_FEATURE || err == EXT2_ET_RO_UNSUPP_FEATURE)
			return mb_e2img_fail_open(e, "unsupported feature (newer than this "
						    "libext2fs)");
		return mb_e2img_fail_open(e, mb_e2img_strerror(err));
	}
	const char *why = mb_e2img_unsupported(e->fs);

	if (why)
		return mb_e2img_fail_open(e, why);
	err = ext2fs_read_bitmaps(e->fs);
	if (err)
		return mb_e2img_fail_open(e, mb_e2img_strerror(err));
	if (alloc == MB_E2IMG_ALLOC_MBALLOC) {
		int rc = mb_e2img_attach_mballoc(e);

		if (rc)
			return rc;
	}
	return 0;
}

int mb_e2img_close(struct mb_e2img *e)
{
	errcode_t err;

	mb_e2img_progress_clear(e);
	if (!e->fs)
		return 0;
	mb_e2img_detach_mballoc(e);
	err = ext2fs_close_free(&e->fs);
	if (err) {
		mb_cli_err(e->cmd, "%s: cannot write the file system's metadata: %s", e->image,
			   mb_e2img_strerror(err));
		return MB_EXIT_FAIL;
	}
	return 0;
}
#endif /* MB_HAVE_EXT2FS */

int mb_cmd_e2fs(int argc, char **argv)
{
	if (argc < 2) {
		fputs(mb_e2img_help, stderr);
		return MB_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(mb_e2img_help, stdout);
		return MB_EXIT_OK;
	}
#ifdef MB_HAVE_EXT2FS
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} subs[] = {
		{ "populate", mb_e2img_populate },
		{ "fallocate", mb_e2img_fallocate },
		{ "rm", mb_e2img_rm },
	};
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].run(argc - 1, argv + 1);
#else
	if (!strcmp(argv[1], "populate") || !strcmp(argv[1], "fallocate") ||
	    !strcmp(argv[1], "rm")) {
		mb_cli_err("e2fs", "%s: this mballoc was built without libext2fs", argv[1]);
		return MB_EXIT_FAIL;
	}
#endif
	mb_cli_err("e2fs", "unknown subcommand '%s'", argv[1]);
	fputs(mb_e2img_help, stderr);
	return MB_EXIT_USAGE;
}
