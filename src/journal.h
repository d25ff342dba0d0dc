/* SPDX-License-Identifier: MIT */
/*
 * journal.h - the mballoc format's journal (journal.c).
 */
#ifndef MB_JOURNAL_H
#define MB_JOURNAL_H

#include "dev.h"
#include "ondisk.h"

/*
 * journal.c: one transaction = header block (seq, target block numbers),
 * the blocks' new images, a commit block (crc32c of header and data).
 * Transactions always start at the journal's first block; see FORMAT.md.
 */
struct mb_jtxn {
	uint64_t seq;
	uint32_t nr;
	uint64_t *targets; /* nr home block numbers */
	uint8_t *data;     /* nr blocks */
};
uint32_t mb_journal_capacity(uint32_t block_size, uint32_t journal_blocks);
int mb_journal_write(struct mb_dev *dev, uint32_t bs, uint64_t jstart, const struct mb_jtxn *t);
int mb_journal_clear(struct mb_dev *dev, uint32_t bs, uint64_t jstart);
/* 1 = a complete transaction was read into *t (caller frees), 0 = none, <0 error. */
int mb_journal_read(struct mb_dev *dev, uint32_t bs, uint64_t jstart, uint32_t jblocks,
		    struct mb_jtxn *t);
void mb_jtxn_free(struct mb_jtxn *t);
/* Targets of a transaction read for volume sb: each a metadata block, none
 * twice, the superblock among them (its slot in *sb_slot); else -EUCLEAN. */
int mb_jtxn_check(const struct mb_jtxn *t, const struct mb_sb *sb, uint32_t *sb_slot);

#endif /* MB_JOURNAL_H */
