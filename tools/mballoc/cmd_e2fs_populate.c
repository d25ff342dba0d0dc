/* SPDX-License-Identifier: MIT */
/*
 * cmd_e2fs_populate.c - `mballoc e2fs populate IMAGE DIR`: copies a tree
 * into an ext4 image as `mke2fs -d` does: regular files (holes kept),
 * directories, fast and slow symlinks, device nodes, FIFOs and sockets,
 * hard links, owners, modes, times (with nanoseconds on large inodes).
 * Each file is announced to mballoc (inode, final size) before its data is
 * written, as an open file's write would, so ext4's normalization applies.
 *
 * Entries are copied in name order (so two runs place the same blocks) and
 * a directory's attributes are set after its contents.  The first error
 * stops the copy: the entry being created is undone, everything copied
 * before stays, and the image is closed consistent.
 */
#define _GNU_SOURCE /* SEEK_DATA, SEEK_HOLE */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_e2fs.h"

#ifdef MB_HAVE_EXT2FS

static const char *const mb_pop_help =
	"usage: mballoc e2fs populate [options] IMAGE DIR\n"
	"Copies the tree DIR into the ext4 image IMAGE (as mke2fs -d): files, holes,\n"
	"directories, symlinks, device nodes, FIFOs, hard links, owners, modes and times.\n"
	"A name that already exists in the image is an error.  The first error stops the\n"
	"copy; what was copied before stays and the image is left e2fsck-clean.\n"
	"  -t, --to PATH           directory in the image to copy into (default /); created\n"
	"                          when missing (its parent must exist)\n"
	"  --allocator=A           mballoc (default when built in) or ext2fs (libext2fs's own\n"
	"                          forward search, the one mke2fs -d uses)\n"
	"  --progress, --no-progress  progress on stderr (default: if a terminal)\n"
	"  -q, --quiet             no summary line\n"
	"  -h, --help\n";

#define MB_POP_BUF (1U << 20)
#define MB_POP_CMD "e2fs populate"

/* A source inode with several names, and where it went in the image. */
struct mb_pop_link {
	dev_t dev;
	ino_t ino;
	ext2_ino_t e2ino;
};

struct mb_pop {
	struct mb_e2img e;
	const char *src;
	char dst[PATH_MAX]; /* the image path being written, for messages */
	char *buf;
	struct mb_pop_link *links;
	size_t nlinks, links_cap;
	uint64_t dirs, symlinks, others, hardlinks;
};

/* An error on the image side: stops the copy (returns -1). */
static int mb_pop_fail(struct mb_pop *p, errcode_t err)
{
	mb_e2img_progress_clear(&p->e);
	mb_cli_err(MB_POP_CMD, "%s: %s: %s", p->e.image, p->dst, mb_e2img_strerror(err));
	if (mb_e2img_is_enospc(err))
		mb_cli_err(MB_POP_CMD, "%s: stopped; %llu files copied before are complete", p->e.image,
			   (unsigned long long)p->e.files);
	return -1;
}

/* An error reading the source: stops the copy too. */
static int mb_pop_src_fail(struct mb_pop *p, const char *what, int err)
{
	mb_e2img_progress_clear(&p->e);
	mb_cli_err(MB_POP_CMD, "%s: source for %s: %s", p->src, what, strerror(err));
	return -1;
}

/* p->dst += "/name"; returns the old length to restore.  -1 when too long. */
static ssize_t mb_pop_push(struct mb_pop *p, const char *name)
{
	size_t len = strlen(p->dst);
	size_t slash = len && p->dst[len - 1] == '/' ? 0 : 1;

	if (len + slash + strlen(name) + 1 > sizeof(p->dst))
		return -1;
	if (slash)
		p->dst[len] = '/';
	strcpy(p->dst + len + slash, name);
	return (ssize_t)len;
}

static ext2_ino_t mb_pop_link_find(const struct mb_pop *p, const struct stat *st)
{
	for (size_t i = 0; i < p->nlinks; i++)
		if (p->links[i].dev == st->st_dev && p->links[i].ino == st->st_ino)
			return p->links[i].e2ino;
	return 0;
}

static int mb_pop_link_add(struct mb_pop *p, const struct stat *st, ext2_ino_t e2ino)
{
	if (p->nlinks == p->links_cap) {
		size_t cap = p->links_cap ? p->links_cap * 2 : 64;
		struct mb_pop_link *n = realloc(p->links, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->links = n;
		p->links_cap = cap;
	}
	p->links[p->nlinks++] = (struct mb_pop_link){ st->st_dev, st->st_ino, e2ino };
	return 0;
}

/* One more name for an inode already copied. */
static errcode_t mb_pop_hardlink(struct mb_pop *p, ext2_ino_t dir, const char *name,
				 ext2_ino_t ino, int ftype)
{
	struct ext2_inode inode;
	errcode_t err = ext2fs_read_inode(p->e.fs, ino, &inode);

	if (err)
		return err;
	if (inode.i_links_count >= EXT2_LINK_MAX)
		return EMLINK;
	err = mb_e2img_link(&p->e, dir, name, ino, ftype);
	if (err)
		return err;
	inode.i_links_count++;
	err = ext2fs_write_inode(p->e.fs, ino, &inode);
	if (err)
		ext2fs_unlink(p->e.fs, dir, name, ino, 0);
	return err;
}

/* Copies the data of fd into the open file: only the data segments, so
 * the source's holes stay holes. */
static errcode_t mb_pop_data(struct mb_pop *p, int fd, ext2_file_t f, uint64_t size)
{
	off_t off = 0;

	while ((uint64_t)off < size) {
		off_t data = lseek(fd, off, SEEK_DATA);
		off_t hole;

		if (data < 0 && errno == ENXIO)
			break; /* only a hole remains */
		if (data < 0) { /* no SEEK_DATA on the source: all of it is data */
			data = off;
			hole = (off_t)size;
		} else {
			hole = lseek(fd, data, SEEK_HOLE);
			if (hole < 0)
				hole = (off_t)size;
		}
		errcode_t err = ext2fs_file_llseek(f, (uint64_t)data, EXT2_SEEK_SET, NULL);

		if (err)
			return err;
		for (off = data; off < hole;) {
			size_t want = (uint64_t)(hole - off) < MB_POP_BUF ? (size_t)(hole - off)
									  : MB_POP_BUF;
			ssize_t n = pread(fd, p->buf, want, off);
			unsigned int done;

			if (n < 0)
				return (errcode_t)errno;
			if (n == 0) /* the source shrank: the rest is a hole */
				return 0;
			err = ext2fs_file_write(f, p->buf, (unsigned int)n, &done);
			if (err)
				return err;
			if (done != (unsigned int)n)
				return EXT2_ET_SHORT_WRITE;
			off += n;
			p->e.bytes += (uint64_t)n;
		}
	}
	return 0;
}

/*
 * Under mballoc, the blocks of each data segment are allocated in one
 * range request before any is written, as ext4's delayed allocation asks
 * at writeback: ext4's normalization sees the whole extent, not one block
 * at a time (which for files over 8 MiB it would not round up).  The data
 * overwrites every block (set_size zeroes the tail past EOF), so the
 * extents are marked initialized.  Before the file is opened: the open
 * file keeps its own copy of the inode.
 */
static errcode_t mb_pop_prealloc(struct mb_pop *p, int fd, ext2_ino_t ino, uint64_t size)
{
	uint64_t bs = p->e.fs->blocksize;
	off_t off = 0;

	while ((uint64_t)off < size) {
		off_t data = lseek(fd, off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0) {
			data = off;
			hole = (off_t)size;
		} else if ((hole = lseek(fd, data, SEEK_HOLE)) < 0 || (uint64_t)hole > size) {
			hole = (off_t)size;
		}
		uint64_t first = (uint64_t)data / bs, end = ((uint64_t)hole + bs - 1) / bs;
		errcode_t err = mb_e2img_file_seek(&p->e, ino, first);

		if (!err && end > first)
			err = ext2fs_fallocate(p->e.fs, EXT2_FALLOCATE_FORCE_INIT, ino, NULL, ~0ULL,
					       first, end - first);
		if (err)
			return err;
		off = hole;
	}
	return 0;
}

/* The data of a regular file, announced to the allocator as one file
 * written and closed, then flushed (cp with delayed allocation). */
static errcode_t mb_pop_write(struct mb_pop *p, int fd, ext2_ino_t ino, const struct stat *st)
{
	ext2_file_t f;
	errcode_t err = mb_e2img_file_begin(&p->e, ino, (uint64_t)st->st_size, true);

	if (!err && p->e.attach)
		err = mb_pop_prealloc(p, fd, ino, (uint64_t)st->st_size);
	if (err) {
		mb_e2img_file_end(&p->e, ino);
		return err;
	}
	err = ext2fs_file_open(p->e.fs, ino, EXT2_FILE_WRITE, &f);
	if (!err) {
		err = mb_pop_data(p, fd, f, (uint64_t)st->st_size);
		if (!err)
			err = ext2fs_file_set_size2(f, (ext2_off64_t)st->st_size);
		errcode_t cerr = ext2fs_file_close(f); /* flushes the last block */

		if (!err)
			err = cerr;
	}
	mb_e2img_file_end(&p->e, ino);
	return err;
}

static int mb_pop_file(struct mb_pop *p, int dirfd, const char *name, ext2_ino_t dir,
		       const struct stat *st)
{
	ext2_ino_t ino = st->st_nlink > 1 ? mb_pop_link_find(p, st) : 0;
	errcode_t err;

	if (ino) {
		err = mb_pop_hardlink(p, dir, name, ino, EXT2_FT_REG_FILE);
		p->hardlinks += !err;
		return err ? mb_pop_fail(p, err) : 0;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return mb_pop_src_fail(p, p->dst, errno);
	err = mb_e2img_new_inode(&p->e, dir, LINUX_S_IFREG | (st->st_mode & 07777), &ino);
	if (!err) {
		err = mb_e2img_link(&p->e, dir, name, ino, EXT2_FT_REG_FILE);
		if (!err) {
			err = mb_pop_write(p, fd, ino, st);
			if (!err)
				err = mb_e2img_set_attrs(&p->e, ino, st);
			if (err)
				ext2fs_unlink(p->e.fs, dir, name, ino, 0);
		}
		if (err)
			mb_e2img_release(&p->e, ino); /* undo: the file never was */
	}
	close(fd);
	if (err)
		return mb_pop_fail(p, err);
	if (st->st_nlink > 1 && mb_pop_link_add(p, st, ino))
		return mb_pop_src_fail(p, p->dst, ENOMEM);
	p->e.files++;
	return 0;
}

static int mb_pop_symlink(struct mb_pop *p, int dirfd, const char *name, ext2_ino_t dir,
			  const struct stat *st)
{
	char target[PATH_MAX + 1];
	ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
	ext2_ino_t ino;

	if (n < 0)
		return mb_pop_src_fail(p, p->dst, errno);
	target[n] = 0;
	if ((size_t)n >= p->e.fs->blocksize)
		return mb_pop_src_fail(p, p->dst, ENAMETOOLONG);
	errcode_t err = ext2fs_new_inode(p->e.fs, dir, LINUX_S_IFLNK | 0777, NULL, &ino);

	if (err)
		return mb_pop_fail(p, err);
	/* Linked first: ext2fs_symlink then cleans up after itself alone. */
	err = mb_e2img_link(&p->e, dir, name, ino, EXT2_FT_SYMLINK);
	if (err)
		return mb_pop_fail(p, err);
	err = ext2fs_symlink(p->e.fs, dir, ino, NULL, target);
	if (!err) {
		err = mb_e2img_set_attrs(&p->e, ino, st);
		if (err) {
			ext2fs_unlink(p->e.fs, dir, name, ino, 0);
			mb_e2img_release(&p->e, ino);
			return mb_pop_fail(p, err);
		}
	} else {
		ext2fs_unlink(p->e.fs, dir, name, ino, 0);
		return mb_pop_fail(p, err);
	}
	p->symlinks++;
	return 0;
}

/* Device nodes, FIFOs and sockets: an inode without data. */
static int mb_pop_special(struct mb_pop *p, const char *name, ext2_ino_t dir,
			  const struct stat *st)
{
	uint16_t fmt;
	int ftype;

	switch (st->st_mode & S_IFMT) {
	case S_IFCHR: fmt = LINUX_S_IFCHR; ftype = EXT2_FT_CHRDEV; break;
	case S_IFBLK: fmt = LINUX_S_IFBLK; ftype = EXT2_FT_BLKDEV; break;
	case S_IFIFO: fmt = LINUX_S_IFIFO; ftype = EXT2_FT_FIFO; break;
	default: fmt = LINUX_S_IFSOCK; ftype = EXT2_FT_SOCK; break;
	}
	ext2_ino_t ino = st->st_nlink > 1 ? mb_pop_link_find(p, st) : 0;
	errcode_t err;

	if (ino) {
		err = mb_pop_hardlink(p, dir, name, ino, ftype);
		p->hardlinks += !err;
		return err ? mb_pop_fail(p, err) : 0;
	}
	err = mb_e2img_new_inode(&p->e, dir, fmt, &ino);
	if (err)
		return mb_pop_fail(p, err);
	if (fmt == LINUX_S_IFCHR || fmt == LINUX_S_IFBLK) {
		struct ext2_inode inode;
		unsigned int ma = major(st->st_rdev), mi = minor(st->st_rdev);

		err = ext2fs_read_inode(p->e.fs, ino, &inode);
		/* Linux's two encodings: 8+8 bits in i_block[0] when they fit,
		 * else 12+20 bits in i_block[1]. */
		if (ma < 256 && mi < 256)
			inode.i_block[0] = ma * 256 + mi;
		else
			inode.i_block[1] = (mi & 0xff) | (ma << 8) | ((mi & ~0xffU) << 12);
		if (!err)
			err = ext2fs_write_inode(p->e.fs, ino, &inode);
	}
	if (!err) {
		err = mb_e2img_link(&p->e, dir, name, ino, ftype);
		if (!err) {
			err = mb_e2img_set_attrs(&p->e, ino, st);
			if (err)
				ext2fs_unlink(p->e.fs, dir, name, ino, 0);
		}
	}
	if (err) {
		mb_e2img_release(&p->e, ino);
		return mb_pop_fail(p, err);
	}
	if (st->st_nlink > 1 && mb_pop_link_add(p, st, ino))
		return mb_pop_src_fail(p, p->dst, ENOMEM);
	p->others++;
	return 0;
}

/* A new empty directory NAME in DIR. */
static errcode_t mb_pop_mkdir(struct mb_pop *p, ext2_ino_t dir, const char *name,
			      ext2_ino_t *out)
{
	ext2_ino_t ino;
	errcode_t err = ext2fs_new_inode(p->e.fs, dir, LINUX_S_IFDIR | 0755, NULL, &ino);

	if (err)
		return err;
	/* Linked first: a failed ext2fs_mkdir cleans up after itself, then
	 * only the entry is to undo. */
	err = mb_e2img_link(&p->e, dir, name, ino, EXT2_FT_DIR);
	if (err)
		return err;
	err = ext2fs_mkdir(p->e.fs, dir, ino, NULL);
	if (err) {
		ext2fs_unlink(p->e.fs, dir, name, ino, 0);
		return err;
	}
	*out = ino;
	return 0;
}

static int mb_pop_tree(struct mb_pop *p, int srcfd, ext2_ino_t dir);

static int mb_pop_dir(struct mb_pop *p, int dirfd, const char *name, ext2_ino_t dir,
		      const struct stat *st)
{
	ext2_ino_t ino;
	errcode_t err = mb_pop_mkdir(p, dir, name, &ino);

	if (err)
		return mb_pop_fail(p, err);
	p->dirs++;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return mb_pop_src_fail(p, p->dst, errno);
	int rc = mb_pop_tree(p, fd, ino);

	close(fd);
	if (rc)
		return rc;
	err = mb_e2img_set_attrs(&p->e, ino, st);
	return err ? mb_pop_fail(p, err) : 0;
}

static int mb_pop_entry(struct mb_pop *p, int dirfd, const char *name, ext2_ino_t dir)
{
	struct stat st;
	ext2_ino_t there;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return mb_pop_src_fail(p, p->dst, errno);
	if (strlen(name) > EXT2_NAME_LEN)
		return mb_pop_src_fail(p, p->dst, ENAMETOOLONG);
	errcode_t err = mb_e2img_lookup(&p->e, dir, name, &there);

	if (err)
		return mb_pop_fail(p, err);
	if (there) {
		mb_e2img_progress_clear(&p->e);
		mb_cli_err(MB_POP_CMD, "%s: %s: exists in the image (File exists)", p->e.image,
			   p->dst);
		return -1;
	}
	mb_e2img_progress(&p->e, p->dst);
	switch (st.st_mode & S_IFMT) {
	case S_IFREG: return mb_pop_file(p, dirfd, name, dir, &st);
	case S_IFDIR: return mb_pop_dir(p, dirfd, name, dir, &st);
	case S_IFLNK: return mb_pop_symlink(p, dirfd, name, dir, &st);
	default: return mb_pop_special(p, name, dir, &st);
	}
}

static int mb_pop_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory, sorted; NULL-terminated.  NULL on failure. */
static char **mb_pop_names(int fd, int *err)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d) {
		*err = errno;
		if (dfd >= 0)
			close(dfd);
		return NULL;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n + 1 >= cap) {
			cap = cap ? cap * 2 : 32;
			char **nv = realloc(v, cap * sizeof(*v));

			if (!nv)
				goto fail;
			v = nv;
		}
		if (!(v[n] = strdup(de->d_name)))
			goto fail;
		v[++n] = NULL;
		errno = 0;
	}
	if (errno)
		goto fail;
	closedir(d);
	if (!v && !(v = calloc(1, sizeof(*v))))
		goto fail_closed;
	qsort(v, n, sizeof(*v), mb_pop_cmp);
	return v;
fail:
	closedir(d);
fail_closed:
	*err = errno ? errno : ENOMEM;
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
	return NULL;
}

static int mb_pop_tree(struct mb_pop *p, int srcfd, ext2_ino_t dir)
{
	int err = 0;
	char **names = mb_pop_names(srcfd, &err);
	int rc = 0;

	if (!names)
		return mb_pop_src_fail(p, p->dst, err);
	for (size_t i = 0; names[i]; i++) {
		ssize_t old = rc ? 0 : mb_pop_push(p, names[i]);

		if (!rc && old < 0)
			rc = mb_pop_src_fail(p, names[i], ENAMETOOLONG);
		if (!rc) {
			rc = mb_pop_entry(p, srcfd, names[i], dir);
			p->dst[old] = 0;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* The directory to copy into: --to PATH, made when missing. */
static int mb_pop_target(struct mb_pop *p, const char *to, ext2_ino_t *out)
{
	ext2_ino_t parent, ino;
	const char *base;
	errcode_t err;

	snprintf(p->dst, sizeof(p->dst), "%s", to);
	if (to[0] != '/') {
		mb_cli_err(MB_POP_CMD, "%s: %s: the target must be an absolute path in the image",
			   p->e.image, to);
		return -1;
	}
	err = mb_e2img_resolve(&p->e, to, &parent, &base, &ino);
	if (err)
		return mb_pop_fail(p, err);
	if (!ino) {
		char name[EXT2_NAME_LEN + 1];

		snprintf(name, sizeof(name), "%.*s", (int)strcspn(base, "/"), base);
		err = mb_pop_mkdir(p, parent, name, &ino);
		if (err)
			return mb_pop_fail(p, err);
		p->dirs++;
	} else if ((err = ext2fs_check_directory(p->e.fs, ino))) {
		return mb_pop_fail(p, err);
	}
	*out = ino;
	return 0;
}

static int mb_pop_run(struct mb_pop *p, const char *to)
{
	struct stat st;
	ext2_ino_t top = 0;
	int fd = open(p->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st)) {
		mb_cli_err(MB_POP_CMD, "%s: %s", p->src, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int rc = mb_pop_target(p, to, &top);

	if (!rc) {
		snprintf(p->dst, sizeof(p->dst), "%s", to);
		rc = mb_pop_tree(p, fd, top);
	}
	if (!rc) {
		errcode_t err = mb_e2img_set_attrs(&p->e, top, &st); /* as cp -a does */

		if (err)
			rc = mb_pop_fail(p, err);
	}
	close(fd);
	return rc;
}

int mb_e2img_populate(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "to", required_argument, 0, 't' },	  { "allocator", required_argument, 0, 'a' },
		{ "progress", no_argument, 0, 'P' },	  { "no-progress", no_argument, 0, 'N' },
		{ "quiet", no_argument, 0, 'q' },	  { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	enum mb_e2img_allocator alloc = mb_e2img_have_mballoc() ? MB_E2IMG_ALLOC_MBALLOC
							      : MB_E2IMG_ALLOC_EXT2FS;
	bool progress = isatty(STDERR_FILENO), quiet = false;
	const char *to = "/";
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ht:q", lo, NULL)) != -1) {
		switch (c) {
		case 't': to = optarg; break;
		case 'a':
			if (!mb_e2img_parse_allocator(optarg, &alloc))
				return mb_cli_usage_err(MB_POP_CMD, "unknown allocator '%s' (mballoc "
								    "or ext2fs)", optarg);
			break;
		case 'P': progress = true; break;
		case 'N': progress = false; break;
		case 'q': quiet = true; break;
		case 'h': fputs(mb_pop_help, stdout); return MB_EXIT_OK;
		case '?': return mb_cli_bad_option(MB_POP_CMD, argv);
		default: return MB_EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return mb_cli_usage_err(MB_POP_CMD, "IMAGE and DIR expected");
	struct mb_pop *p = calloc(1, sizeof(*p));

	if (!p || !(p->buf = malloc(MB_POP_BUF))) {
		mb_cli_err(MB_POP_CMD, "%s", strerror(ENOMEM));
		free(p);
		return MB_EXIT_FAIL;
	}
	p->src = argv[optind + 1];
	int rc = MB_EXIT_FAIL;
	struct stat st;

	if (stat(p->src, &st))
		mb_cli_err(MB_POP_CMD, "%s: %s", p->src, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		mb_cli_err(MB_POP_CMD, "%s: not a directory", p->src);
	else if (!mb_e2img_open(&p->e, MB_POP_CMD, argv[optind], alloc, progress)) {
		rc = mb_pop_run(p, to) ? MB_EXIT_FAIL : MB_EXIT_OK;
		if (mb_e2img_close(&p->e))
			rc = MB_EXIT_FAIL;
		double secs = (double)(mb_e2img_now_ns() - p->e.start_ns) / 1e9;

		if (!quiet)
			printf("%s: %llu files (%llu bytes), %llu directories, %llu symlinks, "
			       "%llu hard links, %llu others in %.2f s (%s allocator)%s\n",
			       argv[optind], (unsigned long long)p->e.files,
			       (unsigned long long)p->e.bytes, (unsigned long long)p->dirs,
			       (unsigned long long)p->symlinks, (unsigned long long)p->hardlinks,
			       (unsigned long long)p->others, secs,
			       alloc == MB_E2IMG_ALLOC_MBALLOC ? "mballoc" : "ext2fs",
			       rc ? ", stopped early" : "");
	}
	free(p->links);
	free(p->buf);
	free(p);
	return rc;
}
#endif /* MB_HAVE_EXT2FS */
