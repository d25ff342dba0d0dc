/* SPDX-License-Identifier: MIT */
/*
 * image_reseal.h - test-side helper: recompute every checksum of a volume
 * image after a test or the fuzzer changed its bytes, so the code behind
 * the checksums is what gets tested.
 */
#ifndef MB_IMAGE_RESEAL_H
#define MB_IMAGE_RESEAL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Recomputes, in dependency order (docs/FORMAT.md): the bitmap_crc and
 * checksum of every home descriptor; in a journal transaction, the
 * superblock copy's checksum, the bitmap_crc and checksum of the
 * descriptors it carries (against the bitmaps it carries, else the home
 * ones), the header checksum, the commit block's data checksum and its own;
 * last the home superblock's checksum.  Trusts nothing in the image: every
 * location is bounds-checked against `size`, and what cannot be found is
 * left alone.
 */
void mb_image_reseal(uint8_t *img, size_t size);

#endif
