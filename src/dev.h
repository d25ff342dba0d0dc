/* SPDX-License-Identifier: MIT */
/*
 * dev.h - the block devices under the mballoc format store (dev.c): a
 * regular file or block device, and a memory image.  Other backends (the
 * tests' crash shim, tests/harness/crash_dev.c) fill in struct mb_dev_ops.
 */
#ifndef MB_DEV_H
#define MB_DEV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * dev.c: block devices.  Byte-addressed; every call is thread-safe (each
 * backend either touches only disjoint ranges, uses pread/pwrite, or
 * serializes internally, as the tests' crash shim does).  Reads past the end return -EIO.  Counters are
 * relaxed atomics: totals for tests and `mballoc info`.
 */
struct mb_dev;
struct mb_dev_ops {
	int (*read)(struct mb_dev *dev, uint64_t off, void *buf, size_t len);
	int (*write)(struct mb_dev *dev, uint64_t off, const void *buf, size_t len);
	int (*sync)(struct mb_dev *dev);
	void (*close)(struct mb_dev *dev);
	const uint8_t *(*memory)(struct mb_dev *dev); /* the live image, or NULL */
};
struct mb_dev {
	const struct mb_dev_ops *ops;
	uint64_t size;  /* bytes; const */
	bool read_only; /* const */
	_Atomic uint64_t bytes_read, reads, bytes_written, writes, syncs;
};
int mb_dev_read(struct mb_dev *dev, uint64_t off, void *buf, size_t len);
int mb_dev_write(struct mb_dev *dev, uint64_t off, const void *buf, size_t len);
int mb_dev_sync(struct mb_dev *dev);
void mb_dev_close(struct mb_dev *dev);
/* A file or block device.  create_size > 0: create/extend a regular file to it.
 * Holds the volume lock until closed (flock; O_EXCL for a writable block
 * device): -EBUSY when a writer, or for a writer any opener, holds it. */
int mb_dev_open_file(const char *path, bool read_only, uint64_t create_size,
		     struct mb_dev **out);
/* A private copy of image[0, size) (image NULL: zeroes). */
int mb_dev_open_memory(const void *image, size_t size, bool read_only, struct mb_dev **out);
/* Memory image contents (backends with a memory op): the live view, else NULL. */
const uint8_t *mb_dev_memory_data(struct mb_dev *dev);

#endif /* MB_DEV_H */
