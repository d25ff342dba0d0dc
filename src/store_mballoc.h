/* SPDX-License-Identifier: MIT */
/*
 * store_mballoc.h - the mballoc format store (store_mballoc.c): a volume
 * in a file or block device with a descriptor table, one bitmap block per
 * group and a journal (docs/FORMAT.md).  persist.c, the layer above,
 * builds volumes on it; tests reach its state through mb_persist_of().
 */
#ifndef MB_STORE_MBALLOC_H
#define MB_STORE_MBALLOC_H

#include "commit.h"
#include "dev.h"
#include "journal.h"
#include "ondisk.h"
#include "store.h"

/*
 * The store's state.  Lock order: see commit.h (commit_mx is c.commit_mx).
 */
struct mb_persist {
	struct mb_store store; /* first: the volume's store ("mballoc") */
	struct mb_committer c; /* journals each batch as one transaction */
	struct mb_dev *dev;
	bool read_only;
	struct mb_sb sb;         /* the latest superblock written; commit_mx */
	struct mb_layout lay;    /* const */
	uint8_t *desc;           /* committed descriptor table (desc_blocks blocks): entries
				    of loaded groups change under commit_mx only; a NEED_INIT
				    group's entry is constant, so its loader reads it freely */
	bool was_clean, replayed;
	uint64_t open_bytes_read;
	/* Read-only open with a transaction to replay: its blocks overlay the disk. */
	struct mb_jtxn overlay;
};

/* Writes a fresh volume of geometry geo on dev (opts: journal_blocks). */
int mb_mballoc_format(struct mb_dev *dev, const struct mb_geometry *geo,
		      const struct mb_open_opts *opts);
/* The checks of mb_mballoc_format that need no device: -EINVAL or 0. */
int mb_mballoc_format_check(const struct mb_geometry *geo, const struct mb_open_opts *opts);
/*
 * Reads and checks the superblock and the journal of dev (nothing written)
 * into a new store; its geometry is then p->sb.geo.  On failure the caller
 * keeps dev.
 */
int mb_mballoc_open(struct mb_dev *dev, bool read_only, struct mb_persist **out);
/* After mb_volume_create_on: reads and checks the descriptor table. */
int mb_mballoc_read_groups(struct mb_persist *p);
/* Read-write open: the replayed transaction goes home, then "in use". */
int mb_mballoc_mark_in_use(struct mb_persist *p);
/* The mballoc store of vol, or NULL when vol has another store. */
struct mb_persist *mb_persist_of(const struct mb_volume *vol);

#endif /* MB_STORE_MBALLOC_H */
