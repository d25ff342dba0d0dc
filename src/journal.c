/* SPDX-License-Identifier: MIT */
/*
 * journal.c - writing and reading one journal transaction.  The journal
 * holds at most one live transaction, always at its first block: a commit
 * checkpoints (copies home and syncs) before the next one starts, so a
 * torn newer transaction never hides an older one that still matters.
 * Layout (docs/FORMAT.md): header block, nr data blocks, commit block whose
 * crc32c covers the header and the data, so one sync after all of them is
 * enough: a transaction whose data did not all land fails the check.
 */
#include <stdlib.h>
#include <string.h>

#include "journal.h"

#define MB_JT_HEADER 1
#define MB_JT_COMMIT 2
#define MB_JH_TARGETS 24 /* offset of the target list in the header */

uint32_t mb_journal_capacity(uint32_t bs, uint32_t jblocks)
{
	uint32_t by_header = (bs - MB_JH_TARGETS - 4) / 8;

	return by_header < jblocks - 2 ? by_header : jblocks - 2;
}

static void mb_jblock_seal(uint8_t *blk, uint32_t bs)
{
	mb_put_le32(blk + bs - 4, mb_crc32c_field(0, blk, bs, bs - 4));
}

static bool mb_jblock_ok(const uint8_t *blk, uint32_t bs, uint32_t type, uint64_t seq)
{
	return mb_get_le32(blk) == MB_JOURNAL_MAGIC && mb_get_le32(blk + 4) == type &&
	       mb_get_le64(blk + 8) == seq && mb_get_le32(blk + bs - 4) == mb_crc32c_field(0, blk, bs, bs - 4);
}

static void mb_jblock_init(uint8_t *blk, uint32_t bs, uint32_t type, const struct mb_jtxn *t)
{
	memset(blk, 0, bs);
	mb_put_le32(blk, MB_JOURNAL_MAGIC);
	mb_put_le32(blk + 4, type);
	mb_put_le64(blk + 8, t->seq);
	mb_put_le32(blk + 16, t->nr);
}

/* Writes the transaction (no sync: the caller syncs once after it). */
int mb_journal_write(struct mb_dev *dev, uint32_t bs, uint64_t jstart, const struct mb_jtxn *t)
{
	uint8_t *blk = malloc(bs);
	int err = 0;

	if (!blk)
		return -ENOMEM;
	mb_jblock_init(blk, bs, MB_JT_HEADER, t);
	for (uint32_t i = 0; i < t->nr; i++)
		mb_put_le64(blk + MB_JH_TARGETS + 8 * i, t->targets[i]);
	mb_jblock_seal(blk, bs);
	uint32_t data_crc = mb_crc32c(0, blk, bs);

	err = mb_dev_write(dev, jstart * bs, blk, bs);
	for (uint32_t i = 0; i < t->nr && !err; i++) {
		const uint8_t *d = t->data + (size_t)i * bs;

		data_crc = mb_crc32c(data_crc, d, bs);
		err = mb_dev_write(dev, (jstart + 1 + i) * bs, d, bs);
	}
	if (!err) {
		mb_jblock_init(blk, bs, MB_JT_COMMIT, t);
		mb_put_le32(blk + 20, data_crc);
		mb_jblock_seal(blk, bs);
		err = mb_dev_write(dev, (jstart + 1 + t->nr) * bs, blk, bs);
	}
	free(blk);
	return err;
}

/* An all-zero header: no transaction (no sync). */
int mb_journal_clear(struct mb_dev *dev, uint32_t bs, uint64_t jstart)
{
	uint8_t *blk = calloc(1, bs);
	int err;

	if (!blk)
		return -ENOMEM;
	err = mb_dev_write(dev, jstart * bs, blk, bs);
	free(blk);
	return err;
}

void mb_jtxn_free(struct mb_jtxn *t)
{
	free(t->targets);
	free(t->data);
	*t = (struct mb_jtxn){ 0 };
}

/* Reads header + data + commit; 1 if they form a complete transaction. */
static int mb_journal_read_body(struct mb_dev *dev, uint32_t bs, uint64_t jstart, uint8_t *blk,
				struct mb_jtxn *t)
{
	uint32_t data_crc = mb_crc32c(0, blk, bs);
	int err = 0;

	t->targets = malloc(sizeof(uint64_t) * (t->nr ? t->nr : 1));
	t->data = malloc((size_t)bs * (t->nr ? t->nr : 1));
	if (!t->targets || !t->data)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nr; i++)
		t->targets[i] = mb_get_le64(blk + MB_JH_TARGETS + 8 * i);
	for (uint32_t i = 0; i < t->nr && !err; i++) {
		err = mb_dev_read(dev, (jstart + 1 + i) * bs, t->data + (size_t)i * bs, bs);
		data_crc = mb_crc32c(data_crc, t->data + (size_t)i * bs, bs);
	}
	if (!err)
		err = mb_dev_read(dev, (jstart + 1 + t->nr) * bs, blk, bs);
	if (err)
		return err;
	return mb_jblock_ok(blk, bs, MB_JT_COMMIT, t->seq) && mb_get_le32(blk + 16) == t->nr &&
	       mb_get_le32(blk + 20) == data_crc;
}

int mb_journal_read(struct mb_dev *dev, uint32_t bs, uint64_t jstart, uint32_t jblocks,
		    struct mb_jtxn *t)
{
	uint8_t *blk = malloc(bs);
	int ret;

	*t = (struct mb_jtxn){ 0 };
	if (!blk)
		return -ENOMEM;
	ret = mb_dev_read(dev, jstart * bs, blk, bs);
	if (ret)
		goto out;
	t->seq = mb_get_le64(blk + 8);
	t->nr = mb_get_le32(blk + 16);
	if (!mb_jblock_ok(blk, bs, MB_JT_HEADER, t->seq) || !t->nr ||
	    t->nr > mb_journal_capacity(bs, jblocks))
		goto out; /* no transaction (or a torn header): nothing to replay */
	ret = mb_journal_read_body(dev, bs, jstart, blk, t);
out:
	free(blk);
	if (ret <= 0)
		mb_jtxn_free(t);
	return ret;
}

/* Is blk a metadata block a transaction may carry? */
static bool mb_txn_target_ok(const struct mb_sb *sb, uint64_t blk)
{
	uint64_t rel;

	if (blk == 0 || (blk >= sb->desc_start && blk <= sb->desc_start + sb->desc_blocks))
		return true; /* superblock, descriptor table, group 0's bitmap */
	if (blk < sb->geo.first_data_block || blk >= sb->geo.blocks_count)
		return false;
	rel = blk - sb->geo.first_data_block;
	return rel % sb->geo.blocks_per_group == 0 && rel;
}

static int mb_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * A block named twice would be replayed in one order and overlaid in the
 * other (read-only opens take the first image); our writer never does it.
 */
int mb_jtxn_check(const struct mb_jtxn *t, const struct mb_sb *sb, uint32_t *sb_slot)
{
	uint64_t *sorted = malloc(sizeof(uint64_t) * t->nr);
	int err = 0;

	if (!sorted)
		return -ENOMEM;
	*sb_slot = UINT32_MAX;
	for (uint32_t i = 0; i < t->nr && !err; i++) {
		if (!mb_txn_target_ok(sb, t->targets[i]))
			err = -EUCLEAN;
		if (t->targets[i] == 0)
			*sb_slot = i;
		sorted[i] = t->targets[i];
	}
	qsort(sorted, t->nr, sizeof(uint64_t), mb_u64_cmp);
	for (uint32_t i = 1; i < t->nr && !err; i++)
		if (sorted[i] == sorted[i - 1])
			err = -EUCLEAN;
	free(sorted);
	return err ? err : *sb_slot == UINT32_MAX ? -EUCLEAN : 0;
}
