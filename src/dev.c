/* SPDX-License-Identifier: MIT */
/*
 * dev.c - the block-device backends under a persistent volume: a regular
 * file or block device (pread/pwrite + fdatasync), a memory image, and the
 * crash shim tests use to cut power at any write (SQLite's test6.c idea):
 * it keeps the synced image and the writes since the last sync, and builds
 * what survives a crash by keeping, dropping or tearing each of them.
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mb_int.h"

#define MB_SECTOR 512

static void mb_dev_count(_Atomic uint64_t *ops, _Atomic uint64_t *bytes, size_t len)
{
	atomic_fetch_add_explicit(ops, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(bytes, len, memory_order_relaxed);
}

static bool mb_dev_in_range(const struct mb_dev *dev, uint64_t off, size_t len)
{
	return off <= dev->size && len <= dev->size - off;
}

int mb_dev_read(struct mb_dev *dev, uint64_t off, void *buf, size_t len)
{
	if (!mb_dev_in_range(dev, off, len))
		return -EIO;
	mb_dev_count(&dev->reads, &dev->bytes_read, len);
	return dev->ops->read(dev, off, buf, len);
}

int mb_dev_write(struct mb_dev *dev, uint64_t off, const void *buf, size_t len)
{
	if (dev->read_only)
		return -EROFS;
	if (!mb_dev_in_range(dev, off, len))
		return -EIO;
	mb_dev_count(&dev->writes, &dev->bytes_written, len);
	return dev->ops->write(dev, off, buf, len);
}

int mb_dev_sync(struct mb_dev *dev)
{
	if (dev->read_only)
		return 0;
	atomic_fetch_add_explicit(&dev->syncs, 1, memory_order_relaxed);
	return dev->ops->sync(dev);
}

void mb_dev_close(struct mb_dev *dev)
{
	if (dev)
		dev->ops->close(dev);
}

/* ------------------------------------------------------------------------ */
/* Files and block devices                                                   */
/* ------------------------------------------------------------------------ */

struct mb_dev_file {
	struct mb_dev dev;
	int fd;
};

static int mb_fdev_read(struct mb_dev *dev, uint64_t off, void *buf, size_t len)
{
	struct mb_dev_file *f = (struct mb_dev_file *)dev;

	while (len) {
		ssize_t n = pread(f->fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf = (uint8_t *)buf + n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int mb_fdev_write(struct mb_dev *dev, uint64_t off, const void *buf, size_t len)
{
	struct mb_dev_file *f = (struct mb_dev_file *)dev;

	while (len) {
		ssize_t n = pwrite(f->fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf = (const uint8_t *)buf + n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int mb_fdev_sync(struct mb_dev *dev)
{
	return fdatasync(((struct mb_dev_file *)dev)->fd) ? -errno : 0;
}

static void mb_fdev_close(struct mb_dev *dev)
{
	close(((struct mb_dev_file *)dev)->fd);
	free(dev);
}

static const struct mb_dev_ops mb_fdev_ops = { mb_fdev_read, mb_fdev_write, mb_fdev_sync,
					       mb_fdev_close };

/* Size of an open file or block device; grows a regular file to create_size. */
static int mb_fdev_size(int fd, uint64_t create_size, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size))
			return -errno;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (create_size && (uint64_t)st.st_size != create_size) {
		if (ftruncate(fd, (off_t)create_size))
			return -errno;
		st.st_size = (off_t)create_size;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/*
 * One writer per volume (two would each commit over the other's updates):
 * a read-write open takes an exclusive flock, a read-only open a shared
 * one, so readers coexist with each other but not with a writer.  The lock
 * belongs to this open file description and goes with its close.  A block
 * device opened for writing also gets O_EXCL, which the kernel enforces
 * against mounts and other exclusive openers (flock is advisory).
 */
static int mb_fdev_lock(int fd, bool read_only)
{
	if (!flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB))
		return 0;
	return errno == EWOULDBLOCK ? -EBUSY : -errno;
}

static int mb_fdev_open_flags(const char *path, bool read_only, uint64_t create_size)
{
	struct stat st;

	if (!read_only && !stat(path, &st) && S_ISBLK(st.st_mode))
		return O_RDWR | O_EXCL | O_CLOEXEC; /* exists: no O_CREAT (EEXIST with O_EXCL) */
	return (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | (create_size ? O_CREAT : 0);
}

int mb_dev_open_file(const char *path, bool read_only, uint64_t create_size,
		     struct mb_dev **out)
{
	int fd = open(path, mb_fdev_open_flags(path, read_only, create_size), 0644);

	if (fd < 0)
		return errno == EACCES && !read_only && !access(path, R_OK) ? -EROFS : -errno;
	struct mb_dev_file *f = calloc(1, sizeof(*f));
	/* locked before the size: format must not truncate a volume in use */
	int err = f ? mb_fdev_lock(fd, read_only) : -ENOMEM;

	if (!err)
		err = mb_fdev_size(fd, create_size, &f->dev.size);
	if (err) {
		free(f);
		close(fd);
		return err;
	}
	f->fd = fd;
	f->dev.ops = &mb_fdev_ops;
	f->dev.read_only = read_only;
	*out = &f->dev;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Memory images                                                             */
/* ------------------------------------------------------------------------ */

struct mb_dev_mem {
	struct mb_dev dev;
	uint8_t *data; /* the live image; disjoint ranges may be accessed in parallel */
};

static int mb_mem_read(struct mb_dev *dev, uint64_t off, void *buf, size_t len)
{
	memcpy(buf, ((struct mb_dev_mem *)dev)->data + off, len);
	return 0;
}

static int mb_mem_write(struct mb_dev *dev, uint64_t off, const void *buf, size_t len)
{
	memcpy(((struct mb_dev_mem *)dev)->data + off, buf, len);
	return 0;
}

static int mb_mem_sync(struct mb_dev *dev)
{
	return 0;
}

static void mb_mem_close(struct mb_dev *dev)
{
	free(((struct mb_dev_mem *)dev)->data);
	free(dev);
}

static const struct mb_dev_ops mb_mem_ops = { mb_mem_read, mb_mem_write, mb_mem_sync,
					      mb_mem_close };

static int mb_mem_init(struct mb_dev_mem *m, const void *image, size_t size)
{
	m->data = malloc(size ? size : 1);
	if (!m->data)
		return -ENOMEM;
	if (image)
		memcpy(m->data, image, size);
	else
		memset(m->data, 0, size);
	m->dev.size = size;
	return 0;
}

int mb_dev_open_memory(const void *image, size_t size, bool read_only, struct mb_dev **out)
{
	struct mb_dev_mem *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	if (mb_mem_init(m, image, size)) {
		free(m);
		return -ENOMEM;
	}
	m->dev.ops = &mb_mem_ops;
	m->dev.read_only = read_only;
	*out = &m->dev;
	return 0;
}

const uint8_t *mb_dev_memory_data(struct mb_dev *dev)
{
	return ((struct mb_dev_mem *)dev)->data;
}

/* ------------------------------------------------------------------------ */
/* The crash shim                                                            */
/* ------------------------------------------------------------------------ */

struct mb_pending_write {
	uint64_t off;
	size_t len;
	uint8_t *data;
};

struct mb_dev_crash {
	struct mb_dev_mem mem; /* first: the live image, all writes applied */
	pthread_mutex_t mx;    /* everything below */
	uint8_t *synced;       /* what a crash cannot take away */
	struct mb_pending_write *pend;
	size_t npend, cap;
	uint64_t nwrites, crash_at;
	bool crashed;
};

static int mb_crash_read(struct mb_dev *dev, uint64_t off, void *buf, size_t len)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;

	pthread_mutex_lock(&c->mx);
	int err = c->crashed ? -EIO : mb_mem_read(dev, off, buf, len);
	pthread_mutex_unlock(&c->mx);
	return err;
}

static int mb_crash_record(struct mb_dev_crash *c, uint64_t off, const void *buf, size_t len)
{
	if (c->npend == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		void *p = realloc(c->pend, cap * sizeof(*c->pend));

		if (!p)
			return -ENOMEM;
		c->pend = p;
		c->cap = cap;
	}
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	c->pend[c->npend++] = (struct mb_pending_write){ off, len, copy };
	return 0;
}

static int mb_crash_write(struct mb_dev *dev, uint64_t off, const void *buf, size_t len)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;
	int err = -EIO;

	pthread_mutex_lock(&c->mx);
	if (!c->crashed) {
		err = mb_crash_record(c, off, buf, len);
		if (!err)
			mb_mem_write(dev, off, buf, len);
		if (++c->nwrites == c->crash_at)
			c->crashed = true; /* the write is in flight: it may or may not land */
	}
	pthread_mutex_unlock(&c->mx);
	return err;
}

static void mb_crash_drop_pending(struct mb_dev_crash *c)
{
	for (size_t i = 0; i < c->npend; i++)
		free(c->pend[i].data);
	c->npend = 0;
}

static int mb_crash_sync(struct mb_dev *dev)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;
	int err = -EIO;

	pthread_mutex_lock(&c->mx);
	if (!c->crashed) {
		for (size_t i = 0; i < c->npend; i++)
			memcpy(c->synced + c->pend[i].off, c->pend[i].data, c->pend[i].len);
		mb_crash_drop_pending(c);
		err = 0;
	}
	pthread_mutex_unlock(&c->mx);
	return err;
}

static void mb_crash_close(struct mb_dev *dev)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;

	mb_crash_drop_pending(c);
	free(c->pend);
	free(c->synced);
	pthread_mutex_destroy(&c->mx);
	mb_mem_close(dev);
}

static const struct mb_dev_ops mb_crash_ops = { mb_crash_read, mb_crash_write, mb_crash_sync,
						mb_crash_close };

int mb_dev_crash_open(const void *image, size_t size, struct mb_dev **out)
{
	struct mb_dev_crash *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	if (mb_mem_init(&c->mem, image, size)) {
		free(c);
		return -ENOMEM;
	}
	c->synced = malloc(size ? size : 1);
	if (!c->synced) {
		mb_mem_close(&c->mem.dev);
		return -ENOMEM;
	}
	memcpy(c->synced, c->mem.data, size);
	pthread_mutex_init(&c->mx, NULL);
	c->mem.dev.ops = &mb_crash_ops;
	*out = &c->mem.dev;
	return 0;
}

void mb_dev_crash_arm(struct mb_dev *dev, uint64_t crash_at)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;

	pthread_mutex_lock(&c->mx);
	c->crash_at = crash_at ? c->nwrites + crash_at : 0;
	pthread_mutex_unlock(&c->mx);
}

bool mb_dev_crashed(struct mb_dev *dev)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;

	pthread_mutex_lock(&c->mx);
	bool crashed = c->crashed;
	pthread_mutex_unlock(&c->mx);
	return crashed;
}

static uint64_t mb_crash_rng(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Applies one unsynced write to img: kept, dropped, or torn by sectors. */
static void mb_crash_apply(const struct mb_pending_write *w, uint8_t *img, uint64_t *rng,
			   struct mb_crash_fates *f)
{
	switch (mb_crash_rng(rng) % 3) {
	case 0:
		memcpy(img + w->off, w->data, w->len);
		f->kept++;
		return;
	case 1:
		f->dropped++;
		return;
	}
	f->torn++;
	for (size_t s = 0; s < w->len; s += MB_SECTOR) {
		size_t n = w->len - s < MB_SECTOR ? w->len - s : MB_SECTOR;

		if (mb_crash_rng(rng) & 1)
			memcpy(img + w->off + s, w->data + s, n);
	}
}

int mb_dev_crash_image(struct mb_dev *dev, uint64_t seed, struct mb_crash_fates *fates,
		       struct mb_dev **out)
{
	struct mb_dev_crash *c = (struct mb_dev_crash *)dev;
	struct mb_crash_fates f = { 0 };
	uint64_t rng = seed;

	pthread_mutex_lock(&c->mx);
	int err = mb_dev_crash_open(c->synced, c->mem.dev.size, out);

	if (!err) {
		struct mb_dev_crash *n = (struct mb_dev_crash *)*out;

		for (size_t i = 0; i < c->npend; i++)
			mb_crash_apply(&c->pend[i], n->mem.data, &rng, &f);
		memcpy(n->synced, n->mem.data, n->mem.dev.size);
	}
	pthread_mutex_unlock(&c->mx);
	if (fates)
		*fates = f;
	return err;
}
