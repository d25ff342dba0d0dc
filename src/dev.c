/* SPDX-License-Identifier: MIT */
/*
 * dev.c - the block-device backends under the mballoc format store: a
 * regular file or block device (pread/pwrite + fdatasync) and a memory
 * image.  The crash shim the tests cut power with lives in the test
 * harness (tests/harness/crash_dev.c).
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <errno.h>

#include "dev.h"

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
					       mb_fdev_close, NULL };

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

static const uint8_t *mb_mem_data(struct mb_dev *dev)
{
	return ((struct mb_dev_mem *)dev)->data;
}

static const struct mb_dev_ops mb_mem_ops = { mb_mem_read, mb_mem_write, mb_mem_sync,
					      mb_mem_close, mb_mem_data };

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
	return dev->ops->memory ? dev->ops->memory(dev) : NULL;
}
