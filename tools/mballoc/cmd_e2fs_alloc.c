/* SPDX-License-Identifier: MIT */
/*
 * cmd_e2fs_alloc.c - the allocator behind `mballoc e2fs`: mballoc attached
 * to the open ext2_filsys through the library's libext2fs hooks
 * (mb_e2fs_attach), or libext2fs's own when --allocator=ext2fs.  Each file
 * the tool writes is announced (mb_e2fs_file_begin with its final size),
 * so ext4's normalization and preallocation rules place it.
 */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "cmd_e2fs.h"

#ifdef MB_HAVE_EXT2FS
#ifdef MB_E2FS_FILE_CLOSED /* the library's libext2fs allocator API is there */

bool mb_e2img_have_mballoc(void)
{
	return true;
}

int mb_e2img_attach_mballoc(struct mb_e2img *e)
{
	struct mb_e2fs *att;
	int err = mb_e2fs_attach(e->fs, NULL, &att);

	if (err) {
		const char *why = mb_volume_open_error();

		mb_cli_err(e->cmd, "%s: mballoc cannot be its allocator: %s", e->image,
			   why ? why : strerror(-err));
		ext2fs_close_free(&e->fs);
		return MB_EXIT_FAIL;
	}
	e->attach = att;
	return 0;
}

void mb_e2img_detach_mballoc(struct mb_e2img *e)
{
	if (!e->attach)
		return;
	int err = mb_e2fs_detach(e->attach);

	e->attach = NULL;
	if (err)
		mb_cli_err(e->cmd, "%s: mballoc and the block bitmap disagreed (%s); the bitmap "
				   "is kept", e->image, strerror(-err));
}

errcode_t mb_e2img_file_begin(struct mb_e2img *e, ext2_ino_t ino, uint64_t size, bool closed)
{
	if (!e->attach)
		return 0;
	uint64_t bs = e->fs->blocksize;
	int err = mb_e2fs_file_begin(e->attach, ino, (size + bs - 1) / bs,
				     closed ? MB_E2FS_FILE_CLOSED : 0);

	return err ? (errcode_t)-err : 0;
}

errcode_t mb_e2img_file_seek(struct mb_e2img *e, ext2_ino_t ino, uint64_t lblk)
{
	if (!e->attach)
		return 0;
	int err = mb_e2fs_file_seek(e->attach, ino, lblk);

	return err ? (errcode_t)-err : 0;
}

void mb_e2img_file_end(struct mb_e2img *e, ext2_ino_t ino)
{
	if (e->attach)
		mb_e2fs_file_end(e->attach, ino);
}

#else /* an older library: libext2fs's allocator only */

bool mb_e2img_have_mballoc(void)
{
	return false;
}

int mb_e2img_attach_mballoc(struct mb_e2img *e)
{
	mb_cli_err(e->cmd, "%s: --allocator=mballoc is not available in this build "
			   "(use --allocator=ext2fs)", e->image);
	ext2fs_close_free(&e->fs);
	return MB_EXIT_FAIL;
}

void mb_e2img_detach_mballoc(struct mb_e2img *e)
{
	(void)e;
}

errcode_t mb_e2img_file_begin(struct mb_e2img *e, ext2_ino_t ino, uint64_t size, bool closed)
{
	(void)e, (void)ino, (void)size, (void)closed;
	return 0;
}

errcode_t mb_e2img_file_seek(struct mb_e2img *e, ext2_ino_t ino, uint64_t lblk)
{
	(void)e, (void)ino, (void)lblk;
	return 0;
}

void mb_e2img_file_end(struct mb_e2img *e, ext2_ino_t ino)
{
	(void)e, (void)ino;
}
#endif
#endif /* MB_HAVE_EXT2FS */
