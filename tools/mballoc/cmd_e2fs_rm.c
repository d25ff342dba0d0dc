/* SPDX-License-Identifier: MIT */
/*
 * cmd_e2fs_rm.c - `mballoc e2fs rm [-r] IMAGE PATH...`: removes files (and
 * directory trees with -r) from an ext4 image, as unlink(2) does: the name
 * goes, and when it was the last link the blocks (through ext2fs_punch,
 * which the allocator hooks see) and the inode are freed.  With
 * populate, this ages an image by realistic create/delete cycles.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_e2fs.h"

#ifdef MB_HAVE_EXT2FS

static const char *const mb_rm_help =
	"usage: mballoc e2fs rm [options] IMAGE PATH...\n"
	"Removes each PATH (absolute, in the image) as unlink(2): its blocks and inode are\n"
	"freed with its last link.  A directory needs -r.  The first error stops; what was\n"
	"removed before stays removed and the image is left e2fsck-clean.\n"
	"  -r, --recursive         remove directories and their contents\n"
	"  -f, --force             a missing PATH is not an error\n"
	"  --allocator=A           mballoc (default when built in) or ext2fs\n"
	"  -q, --quiet             no summary line\n"
	"  -h, --help\n";

#define MB_RM_CMD "e2fs rm"

struct mb_rm {
	struct mb_e2img e;
	bool recursive, force;
	uint64_t removed, dirs;
};

/* A directory's entries (name, inode), "." and ".." left out. */
struct mb_rm_ents {
	char **names;
	ext2_ino_t *inos;
	size_t n, cap;
	int err;
};

static int mb_rm_collect(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
			 int blocksize, char *buf, void *arg)
{
	struct mb_rm_ents *v = arg;
	int len = ext2fs_dirent_name_len(de);

	(void)dir, (void)entry, (void)offset, (void)blocksize, (void)buf;
	if ((len == 1 && de->name[0] == '.') || (len == 2 && !memcmp(de->name, "..", 2)))
		return 0;
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 32;
		char **nn = realloc(v->names, cap * sizeof(*nn));
		ext2_ino_t *ni = nn ? realloc(v->inos, cap * sizeof(*ni)) : NULL;

		if (nn)
			v->names = nn;
		if (!ni) {
			v->err = ENOMEM;
			return DIRENT_ABORT;
		}
		v->inos = ni;
		v->cap = cap;
	}
	if (!(v->names[v->n] = strndup(de->name, (size_t)len))) {
		v->err = ENOMEM;
		return DIRENT_ABORT;
	}
	v->inos[v->n++] = de->inode;
	return 0;
}

static void mb_rm_ents_free(struct mb_rm_ents *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->names[i]);
	free(v->names);
	free(v->inos);
}

static errcode_t mb_rm_entry(struct mb_rm *r, ext2_ino_t dir, const char *name, ext2_ino_t ino);

/* Empties directory INO (its entries collected first: the directory is
 * not changed while it is walked). */
static errcode_t mb_rm_contents(struct mb_rm *r, ext2_ino_t ino)
{
	struct mb_rm_ents v = { 0 };
	errcode_t err = ext2fs_dir_iterate2(r->e.fs, ino, 0, NULL, mb_rm_collect, &v);

	if (!err)
		err = v.err;
	for (size_t i = 0; !err && i < v.n; i++)
		err = mb_rm_entry(r, ino, v.names[i], v.inos[i]);
	mb_rm_ents_free(&v);
	return err;
}

static errcode_t mb_rm_entry(struct mb_rm *r, ext2_ino_t dir, const char *name, ext2_ino_t ino)
{
	struct ext2_inode inode;
	errcode_t err = ext2fs_read_inode(r->e.fs, ino, &inode);

	if (err)
		return err;
	bool isdir = LINUX_S_ISDIR(inode.i_mode);

	if (isdir && !r->recursive)
		return EISDIR;
	if (isdir && (err = mb_rm_contents(r, ino)))
		return err;
	err = ext2fs_unlink(r->e.fs, dir, name, ino, 0);
	if (err)
		return err;
	if (isdir) { /* its ".." pointed at the parent */
		struct ext2_inode parent;

		err = ext2fs_read_inode(r->e.fs, dir, &parent);
		if (err)
			return err;
		if (parent.i_links_count > 2)
			parent.i_links_count--;
		err = ext2fs_write_inode(r->e.fs, dir, &parent);
		r->dirs++;
	} else if (inode.i_links_count > 1) { /* other names remain */
		inode.i_links_count--;
		err = ext2fs_write_inode(r->e.fs, ino, &inode);
		r->removed++;
		return err;
	}
	if (!err)
		err = mb_e2img_release(&r->e, ino);
	r->removed += !err && !isdir;
	mb_e2img_progress(&r->e, name);
	return err;
}

static int mb_rm_path(struct mb_rm *r, const char *path)
{
	ext2_ino_t parent, ino;
	const char *base;
	char name[EXT2_NAME_LEN + 1];
	errcode_t err;

	if (path[0] != '/') {
		mb_cli_err(MB_RM_CMD, "%s: %s: an absolute path in the image expected", r->e.image,
			   path);
		return -1;
	}
	err = mb_e2img_resolve(&r->e, path, &parent, &base, &ino);
	if (!err && !ino && r->force)
		return 0;
	if (!err && !ino)
		err = EXT2_ET_FILE_NOT_FOUND;
	if (!err && ino == EXT2_ROOT_INO) {
		mb_cli_err(MB_RM_CMD, "%s: %s: refusing to remove the root directory", r->e.image,
			   path);
		return -1;
	}
	if (!err) {
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(base, "/"), base);
		err = mb_rm_entry(r, parent, name, ino);
	}
	if (err == EXT2_ET_FILE_NOT_FOUND)
		err = ENOENT;
	if (err) {
		mb_e2img_progress_clear(&r->e);
		mb_cli_err(MB_RM_CMD, "%s: %s: %s", r->e.image, path,
			   err == EISDIR ? "is a directory (use -r)" : mb_e2img_strerror(err));
		return -1;
	}
	return 0;
}

int mb_e2img_rm(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "recursive", no_argument, 0, 'r' },	  { "force", no_argument, 0, 'f' },
		{ "allocator", required_argument, 0, 'a' }, { "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' },	  { 0, 0, 0, 0 },
	};
	struct mb_rm r = { 0 };
	enum mb_e2img_allocator alloc = mb_e2img_have_mballoc() ? MB_E2IMG_ALLOC_MBALLOC
								: MB_E2IMG_ALLOC_EXT2FS;
	bool quiet = false;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hrfq", lo, NULL)) != -1) {
		switch (c) {
		case 'r': r.recursive = true; break;
		case 'f': r.force = true; break;
		case 'q': quiet = true; break;
		case 'a':
			if (!mb_e2img_parse_allocator(optarg, &alloc))
				return mb_cli_usage_err(MB_RM_CMD, "unknown allocator '%s' (mballoc "
								   "or ext2fs)", optarg);
			break;
		case 'h': fputs(mb_rm_help, stdout); return MB_EXIT_OK;
		case '?': return mb_cli_bad_option(MB_RM_CMD, argv);
		default: return MB_EXIT_USAGE;
		}
	}
	if (argc - optind < 2)
		return mb_cli_usage_err(MB_RM_CMD, "IMAGE and at least one PATH expected");
	if (mb_e2img_open(&r.e, MB_RM_CMD, argv[optind], alloc, isatty(STDERR_FILENO)))
		return MB_EXIT_FAIL;
	blk64_t free0 = ext2fs_free_blocks_count(r.e.fs->super);
	int rc = MB_EXIT_OK;

	for (int i = optind + 1; i < argc && rc == MB_EXIT_OK; i++)
		if (mb_rm_path(&r, argv[i]))
			rc = MB_EXIT_FAIL;
	blk64_t freed = ext2fs_free_blocks_count(r.e.fs->super) - free0;

	if (mb_e2img_close(&r.e))
		rc = MB_EXIT_FAIL;
	if (!quiet)
		printf("%s: removed %llu files, %llu directories; %llu blocks freed\n", argv[optind],
		       (unsigned long long)r.removed, (unsigned long long)r.dirs,
		       (unsigned long long)freed);
	return rc;
}
#endif /* MB_HAVE_EXT2FS */
