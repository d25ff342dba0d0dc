/* SPDX-License-Identifier: MIT */
/*
 * ondisk.h - the mballoc on-disk format (docs/FORMAT.md): constants, the
 * superblock, descriptors and bitmaps with their encoders and checking
 * decoders (ondisk.c), CRC-32C (crc32c.c) and little-endian helpers.
 */
#ifndef MB_ONDISK_H
#define MB_ONDISK_H

#include <stddef.h>

#include "mb_int.h"

/* crc32c.c: CRC-32C (Castagnoli), chainable: crc = mb_crc32c(crc, p, n), start at 0. */
uint32_t mb_crc32c(uint32_t crc, const void *buf, size_t len);
/* The crc32c of buf with its own 4-byte checksum field (at field_off) read as zero. */
uint32_t mb_crc32c_field(uint32_t crc, const void *buf, size_t len, size_t field_off);

/* ondisk.c: the format (docs/FORMAT.md), encode/decode with checksums. */
#define MB_SB_MAGIC 0xB10CA11Cu
#define MB_FORMAT_VERSION 1
#define MB_SB_SIZE 512 /* bytes used at the start of block 0: one atomic sector */
#define MB_DESC_SIZE 32
#define MB_DESC_BLOCK_UNINIT 0x1
#define MB_STATE_CLEAN 1
#define MB_STATE_DIRTY 2
#define MB_JOURNAL_MIN 8 /* blocks */
#define MB_JOURNAL_MAGIC 0x4A4E524Cu
#define MB_INCOMPAT_SUPP 0u
#define MB_RO_COMPAT_SUPP 0u
/* Highest sequence number a superblock may carry: a commit per nanosecond
 * reaches it in 292 years, and seq + 1 never wraps. */
#define MB_SEQ_MAX (UINT64_MAX >> 1)

struct mb_sb {
	uint32_t version, compat, incompat, ro_compat;
	struct mb_geometry geo;
	uint32_t groups;
	uint8_t uuid[16];
	uint64_t desc_start;
	uint32_t desc_blocks, desc_size;
	uint64_t journal_start;
	uint32_t journal_blocks;
	uint32_t state;
	uint64_t seq;
	uint64_t free_blocks;
	uint64_t format_time;
};
struct mb_desc {
	uint32_t free;
	uint16_t flags;
	uint64_t bitmap_block;
	uint32_t bitmap_crc;
};
/* Where each structure lives, derived from the geometry alone. */
struct mb_layout {
	uint64_t desc_start, bitmap0, journal_start;
	uint32_t desc_blocks, room; /* room: group-0 reserved blocks from desc_start on */
};
int mb_layout_compute(const struct mb_geometry *geo, uint32_t groups, struct mb_layout *lay);
void mb_sb_encode(const struct mb_sb *sb, uint8_t *buf);
/* Decode + the one validation every superblock copy passes. -EINVAL not
 * ours, -EUCLEAN damaged, -EIO device too small, -EROFS (writable only). */
int mb_sb_load(const uint8_t *buf, uint64_t dev_size, bool writable, struct mb_sb *sb);
bool mb_sb_same_volume(const struct mb_sb *a, const struct mb_sb *b);
void mb_desc_encode(const struct mb_desc *d, uint32_t g, uint8_t *buf);
/* Decode + validation of descriptor g: -EUCLEAN when damaged. */
int mb_desc_load(const struct mb_volume *vol, const struct mb_layout *lay, const uint8_t *buf,
		 mb_grp_t g, struct mb_desc *d);
uint64_t mb_bitmap_block_of(const struct mb_volume *vol, const struct mb_layout *lay, mb_grp_t g);
void mb_bitmap_encode(const struct mb_volume *vol, const uint64_t *map, uint8_t *block);
void mb_bitmap_decode(const struct mb_volume *vol, const uint8_t *block, uint64_t *map);
static inline void mb_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void mb_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t mb_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t mb_get_le64(const uint8_t *p)
{
	return (uint64_t)mb_get_le32(p) | (uint64_t)mb_get_le32(p + 4) << 32;
}

#endif /* MB_ONDISK_H */
