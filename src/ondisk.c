/* SPDX-License-Identifier: MIT */
/*
 * ondisk.c - the on-disk format (docs/FORMAT.md): where each structure
 * lives, and the little-endian encoding of the superblock, the group
 * descriptors and the bitmap blocks, each with its crc32c.  Decoders check
 * input and never trust it: bad data gives -EUCLEAN or -EINVAL.
 */
#include <string.h>

#include "ondisk.h"

/*
 * Block 0 holds the superblock.  Group 0's reserved area, from block
 * max(first_data_block, 1) on, holds the descriptor table, group 0's bitmap
 * and the journal; group g > 0 keeps its bitmap in its first block.
 * `geo` must be resolved (blocks_per_group != 0).
 */
int mb_layout_compute(const struct mb_geometry *geo, uint32_t groups, struct mb_layout *lay)
{
	uint64_t meta = geo->first_data_block ? geo->first_data_block : 1;
	uint64_t len0 = geo->blocks_count - geo->first_data_block;
	uint64_t desc_bytes = (uint64_t)groups * MB_DESC_SIZE;

	if (len0 > geo->blocks_per_group)
		len0 = geo->blocks_per_group;
	uint64_t rsv0 = geo->reserved_per_group < len0 ? geo->reserved_per_group : len0;
	uint64_t end = geo->first_data_block + rsv0;

	lay->desc_blocks = (uint32_t)((desc_bytes + geo->block_size - 1) / geo->block_size);
	lay->desc_start = meta;
	lay->bitmap0 = meta + lay->desc_blocks;
	lay->journal_start = lay->bitmap0 + 1;
	if (!geo->reserved_per_group || lay->journal_start + MB_JOURNAL_MIN > end)
		return -EINVAL;
	lay->room = (uint32_t)(end - lay->journal_start);
	return 0;
}

void mb_sb_encode(const struct mb_sb *sb, uint8_t *buf)
{
	memset(buf, 0, MB_SB_SIZE);
	mb_put_le32(buf + 0, MB_SB_MAGIC);
	mb_put_le32(buf + 4, sb->version);
	mb_put_le32(buf + 8, sb->compat);
	mb_put_le32(buf + 12, sb->incompat);
	mb_put_le32(buf + 16, sb->ro_compat);
	mb_put_le32(buf + 20, sb->geo.block_size);
	mb_put_le32(buf + 24, sb->geo.blocks_per_group);
	mb_put_le32(buf + 28, sb->geo.first_data_block);
	mb_put_le32(buf + 32, sb->geo.reserved_per_group);
	mb_put_le32(buf + 36, sb->groups);
	mb_put_le64(buf + 40, sb->geo.blocks_count);
	memcpy(buf + 48, sb->uuid, 16);
	mb_put_le64(buf + 64, sb->desc_start);
	mb_put_le32(buf + 72, sb->desc_blocks);
	mb_put_le32(buf + 76, sb->desc_size);
	mb_put_le64(buf + 80, sb->journal_start);
	mb_put_le32(buf + 88, sb->journal_blocks);
	mb_put_le32(buf + 92, sb->state);
	mb_put_le64(buf + 96, sb->seq);
	mb_put_le64(buf + 104, sb->free_blocks);
	mb_put_le64(buf + 112, sb->format_time);
	mb_put_le32(buf + 120, sb->geo.flex_bg);
	mb_put_le32(buf + MB_SB_SIZE - 4, mb_crc32c_field(0, buf, MB_SB_SIZE, MB_SB_SIZE - 4));
}

/* -EINVAL: not ours (magic, version, features); -EUCLEAN: damaged. */
static int mb_sb_decode(const uint8_t *buf, struct mb_sb *sb)
{
	if (mb_get_le32(buf) != MB_SB_MAGIC)
		return -EINVAL;
	if (mb_get_le32(buf + MB_SB_SIZE - 4) != mb_crc32c_field(0, buf, MB_SB_SIZE, MB_SB_SIZE - 4))
		return -EUCLEAN;
	*sb = (struct mb_sb){
		.version = mb_get_le32(buf + 4),
		.compat = mb_get_le32(buf + 8),
		.incompat = mb_get_le32(buf + 12),
		.ro_compat = mb_get_le32(buf + 16),
		.geo = { mb_get_le32(buf + 20), mb_get_le32(buf + 24), mb_get_le64(buf + 40),
			 mb_get_le32(buf + 28), mb_get_le32(buf + 32), mb_get_le32(buf + 120) },
		.groups = mb_get_le32(buf + 36),
		.desc_start = mb_get_le64(buf + 64),
		.desc_blocks = mb_get_le32(buf + 72),
		.desc_size = mb_get_le32(buf + 76),
		.journal_start = mb_get_le64(buf + 80),
		.journal_blocks = mb_get_le32(buf + 88),
		.state = mb_get_le32(buf + 92),
		.seq = mb_get_le64(buf + 96),
		.free_blocks = mb_get_le64(buf + 104),
		.format_time = mb_get_le64(buf + 112),
	};
	memcpy(sb->uuid, buf + 48, 16);
	if (sb->version != MB_FORMAT_VERSION || (sb->incompat & ~MB_INCOMPAT_SUPP))
		return -EINVAL;
	if (sb->state != MB_STATE_CLEAN && sb->state != MB_STATE_DIRTY)
		return -EUCLEAN;
	return 0;
}

/*
 * The superblock's placement fields must be exactly what the geometry
 * implies (so a damaged one cannot point anywhere else), and the device must
 * hold the whole volume.  Geometry itself was checked by the caller.
 */
static int mb_sb_check_layout(const struct mb_sb *sb, uint64_t dev_size)
{
	struct mb_layout lay;

	if (mb_layout_compute(&sb->geo, sb->groups, &lay))
		return -EUCLEAN;
	if (sb->desc_size != MB_DESC_SIZE || sb->desc_start != lay.desc_start ||
	    sb->desc_blocks != lay.desc_blocks || sb->journal_start != lay.journal_start ||
	    sb->journal_blocks < MB_JOURNAL_MIN || sb->journal_blocks > lay.room)
		return -EUCLEAN;
	if (dev_size / sb->geo.block_size < sb->geo.blocks_count)
		return -EIO; /* truncated */
	return 0;
}

/*
 * Every superblock read from disk goes through here before any of its
 * fields is used: the home copy and each copy a journal transaction
 * carries.  Geometry, placement, sequence number and free count are
 * range-checked, so no later arithmetic on them can overflow (blocks_count
 * is below 2^51 once the geometry holds: 2^31 groups of at most 2^19).
 * The free count must also equal the descriptors' sum; the caller checks
 * that once the table is read.
 */
int mb_sb_load(const uint8_t *buf, uint64_t dev_size, bool writable, struct mb_sb *sb)
{
	struct mb_geometry geo;
	uint32_t groups;
	int err = mb_sb_decode(buf, sb);

	if (err)
		return err;
	if (!sb->geo.blocks_per_group || mb_geometry_validate(&sb->geo, &geo, &groups) ||
	    groups != sb->groups)
		return -EUCLEAN;
	err = mb_sb_check_layout(sb, dev_size);
	if (err)
		return err;
	if (sb->seq > MB_SEQ_MAX || sb->free_blocks > sb->geo.blocks_count)
		return -EUCLEAN;
	if (writable && (sb->ro_compat & ~MB_RO_COMPAT_SUPP))
		return -EROFS;
	return 0;
}

/*
 * Fields no transaction may change: a journal copy that differs from the
 * home superblock in any of them belongs to another volume or is damaged.
 * (Feature bits may change; each copy's are checked by mb_sb_load.)
 */
bool mb_sb_same_volume(const struct mb_sb *a, const struct mb_sb *b)
{
	return a->version == b->version && a->geo.block_size == b->geo.block_size &&
	       a->geo.blocks_per_group == b->geo.blocks_per_group &&
	       a->geo.blocks_count == b->geo.blocks_count &&
	       a->geo.first_data_block == b->geo.first_data_block &&
	       a->geo.reserved_per_group == b->geo.reserved_per_group &&
	       a->geo.flex_bg == b->geo.flex_bg && a->groups == b->groups &&
	       !memcmp(a->uuid, b->uuid, sizeof(a->uuid)) && a->desc_start == b->desc_start &&
	       a->desc_blocks == b->desc_blocks && a->desc_size == b->desc_size &&
	       a->journal_start == b->journal_start && a->journal_blocks == b->journal_blocks &&
	       a->format_time == b->format_time;
}

static uint32_t mb_desc_crc(const uint8_t *buf, uint32_t g)
{
	uint8_t gno[4];

	mb_put_le32(gno, g);
	return mb_crc32c_field(mb_crc32c(0, gno, 4), buf, MB_DESC_SIZE, MB_DESC_SIZE - 4);
}

void mb_desc_encode(const struct mb_desc *d, uint32_t g, uint8_t *buf)
{
	memset(buf, 0, MB_DESC_SIZE);
	mb_put_le32(buf + 0, d->free);
	buf[4] = (uint8_t)d->flags;
	buf[5] = (uint8_t)(d->flags >> 8);
	mb_put_le64(buf + 8, d->bitmap_block);
	mb_put_le32(buf + 16, d->bitmap_crc);
	mb_put_le32(buf + 28, mb_desc_crc(buf, g));
}

static int mb_desc_decode(const uint8_t *buf, uint32_t g, struct mb_desc *d)
{
	if (mb_get_le32(buf + 28) != mb_desc_crc(buf, g))
		return -EUCLEAN;
	d->free = mb_get_le32(buf);
	d->flags = (uint16_t)(buf[4] | buf[5] << 8);
	d->bitmap_block = mb_get_le64(buf + 8);
	d->bitmap_crc = mb_get_le32(buf + 16);
	return (d->flags & ~MB_DESC_BLOCK_UNINIT) ? -EUCLEAN : 0;
}

/*
 * Every descriptor read from disk (home table or a journal image of it)
 * goes through here: checksum, flags, a free count the group can hold, the
 * bitmap where the layout puts it.
 */
int mb_desc_load(const struct mb_volume *vol, const struct mb_layout *lay, const uint8_t *buf,
		 mb_grp_t g, struct mb_desc *d)
{
	uint32_t room = mb_group_pristine_free(vol, g);
	int err = mb_desc_decode(buf, g, d);

	if (!err && (d->free > room || d->bitmap_block != mb_bitmap_block_of(vol, lay, g) ||
		     ((d->flags & MB_DESC_BLOCK_UNINIT) && d->free != room)))
		err = -EUCLEAN;
	return err;
}

uint64_t mb_bitmap_block_of(const struct mb_volume *vol, const struct mb_layout *lay, mb_grp_t g)
{
	return g ? mb_group_first_block(vol, g) : lay->bitmap0;
}

/* Bit i of the group is bit i % 8 of byte i / 8; bytes past the map are 0xff. */
void mb_bitmap_encode(const struct mb_volume *vol, const uint64_t *map, uint8_t *block)
{
	uint32_t bytes = vol->bitmap_words * 8;

	for (uint32_t i = 0; i < bytes; i++)
		block[i] = (uint8_t)(map[i / 8] >> (8 * (i % 8)));
	memset(block + bytes, 0xff, vol->geo.block_size - bytes);
}

void mb_bitmap_decode(const struct mb_volume *vol, const uint8_t *block, uint64_t *map)
{
	for (uint32_t w = 0; w < vol->bitmap_words; w++)
		map[w] = mb_get_le64(block + 8 * w);
}
