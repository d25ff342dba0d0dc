/* SPDX-License-Identifier: MIT */
/*
 * store_ext4.h - internal interface of the ext4 image reader
 * (store_ext4.c): an ext4 image opened read-only through libext2fs, its
 * geometry and each group's used blocks.  Thread-safety: mb_ext4_read_group
 * may run for different groups at once (it serializes libext2fs itself);
 * open and close must not race with anything.
 */
#ifndef MB_STORE_EXT4_H
#define MB_STORE_EXT4_H

#include <stdbool.h>
#include <stdint.h>

#include "mballoc.h"

struct mb_ext4;

/*
 * Opens the image at path read-only.  *geo gets its geometry
 * (reserved_per_group 0: ext4's metadata is not at each group's head, it is
 * in the used blocks), *flex_bg the groups per flex group (1 without
 * flex_bg).  On failure *why says why in words (a static string).
 * Errors: -ENOTSUP built without libext2fs, bigalloc or another feature
 *         the allocator cannot model, a journal that needs recovery;
 *         -EINVAL not an ext2/3/4 file system; -EUCLEAN a bad checksum or
 *         a descriptor pointing outside the file system; -EIO; -ENOMEM;
 *         other -errno from open(2).
 */
int mb_ext4_open(const char *path, struct mb_ext4 **out, struct mb_geometry *geo,
		 uint32_t *flex_bg, const char **why);
void mb_ext4_close(struct mb_ext4 *x);

/* Whether group g is BLOCK_UNINIT (its bitmap was never written: reading
 * it computes its metadata instead).  Constant after open. */
bool mb_ext4_group_uninit(const struct mb_ext4 *x, uint32_t g);

/* Free blocks of group g by its descriptor.  Constant after open. */
uint32_t mb_ext4_group_free(const struct mb_ext4 *x, uint32_t g);

/*
 * Sets bit i of used (group-relative, bits [0, len) where len is the
 * group's length; bits past it untouched) for every used block of group g:
 * its block bitmap, or for a BLOCK_UNINIT group its metadata, computed.
 * Errors: -EUCLEAN the bitmap fails its checksum, leaves a metadata block
 *         free or disagrees with the descriptor's free count; -EIO the
 *         read failed; -EINVAL no group g; -ENOMEM.
 */
int mb_ext4_read_group(struct mb_ext4 *x, uint32_t g, uint64_t *used);

/* Whether any block of [off, off + len) of group g is file-system metadata
 * (superblock or descriptor copy, bitmap, inode table).  Constant data:
 * any thread, no lock, no allocation. */
bool mb_ext4_range_meta(const struct mb_ext4 *x, uint32_t g, uint32_t off, uint32_t len);

/* Whether path holds the ext2/3/4 superblock magic (0xEF53 at byte 1080). */
bool mb_ext4_probe(const char *path);

struct mb_store;

/*
 * The ext4 image store on the image at path (store.h): *geo gets the
 * volume's geometry; read_only sets MB_STORE_READ_ONLY, else the volume is
 * a scratch copy (changes stay in memory, frees are reusable at once).
 * The image is never written.  Errors as mb_ext4_open, *why set the same.
 */
int mb_store_ext4_new(const char *path, bool read_only, struct mb_store **out,
		      struct mb_geometry *geo, const char **why);

#endif
