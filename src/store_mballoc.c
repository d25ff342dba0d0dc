/* SPDX-License-Identifier: MIT */
/*
 * store_mballoc.c - the mballoc format store: format, the checks of open
 * (superblock, journal replay, descriptor table), lazy bitmap reads, and
 * the write of one commit batch as one journal transaction (journal,
 * sync, checkpoint, sync).  The format is in docs/FORMAT.md; the encoders
 * in ondisk.c, the journal in journal.c, the commit machinery (snapshots,
 * releasing frees, the commit thread) in commit.c, the public calls in
 * persist.c.  Open replays a complete transaction whose seq is the
 * superblock's or the next; a torn one fails its crc32c.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "store_mballoc.h"

static uint32_t mb_bs(const struct mb_volume *vol)
{
	return vol->geo.block_size;
}

static uint8_t *mb_desc_at(struct mb_persist *p, mb_grp_t g)
{
	return p->desc + (size_t)g * MB_DESC_SIZE;
}

static const struct mb_store_ops mb_persist_store_ops;

struct mb_persist *mb_persist_of(const struct mb_volume *vol)
{
	struct mb_store *st = vol->store;

	return st && st->ops == &mb_persist_store_ops ? (struct mb_persist *)st : NULL;
}

static bool mb_persist_group_uninit(struct mb_store *st, uint32_t g)
{
	return ((struct mb_persist *)st)->desc[(size_t)g * MB_DESC_SIZE + 4] &
	       MB_DESC_BLOCK_UNINIT;
}

/* A block as the volume sees it: the replay overlay (read-only opens) first. */
static int mb_read_block(struct mb_persist *p, uint32_t bs, uint64_t blk, uint8_t *buf)
{
	for (uint32_t i = 0; i < p->overlay.nr; i++)
		if (p->overlay.targets[i] == blk) {
			memcpy(buf, p->overlay.data + (size_t)i * bs, bs);
			return 0;
		}
	return mb_dev_read(p->dev, blk * bs, buf, bs);
}

/* Writes a metadata block home; block 0 (the superblock) is one sector. */
static int mb_write_home(struct mb_dev *dev, uint32_t bs, uint64_t blk, const uint8_t *buf)
{
	return mb_dev_write(dev, blk * bs, buf, blk ? bs : MB_SB_SIZE);
}

/* ------------------------------------------------------------------------ */
/* Format                                                                    */
/* ------------------------------------------------------------------------ */

static void mb_make_uuid(uint8_t *uuid)
{
	if (getrandom(uuid, 16, 0) != 16) {
		uint64_t a = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();

		mb_put_le64(uuid, a);
		mb_put_le64(uuid + 8, a * 0xBF58476D1CE4E5B9ULL);
	}
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* RFC 4122 version 4 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
}

/* Descriptor table of a fresh volume: every group BLOCK_UNINIT. */
static int mb_format_write_desc(struct mb_dev *dev, const struct mb_sb *sb)
{
	uint32_t bs = sb->geo.block_size, per = bs / MB_DESC_SIZE;
	uint8_t *blk = malloc(bs);
	int err = 0;

	if (!blk)
		return -ENOMEM;
	for (uint32_t b = 0; b < sb->desc_blocks && !err; b++) {
		memset(blk, 0, bs);
		for (uint32_t i = 0; i < per && b * per + i < sb->groups; i++) {
			uint32_t g = b * per + i;
			uint64_t first = sb->geo.first_data_block + (uint64_t)g * sb->geo.blocks_per_group;
			uint64_t len = sb->geo.blocks_count - first;

			len = len < sb->geo.blocks_per_group ? len : sb->geo.blocks_per_group;
			uint32_t rsv = (uint32_t)(sb->geo.reserved_per_group < len
							  ? sb->geo.reserved_per_group : len);
			struct mb_desc d = { (uint32_t)len - rsv, MB_DESC_BLOCK_UNINIT,
					     g ? first : sb->desc_start + sb->desc_blocks, 0 };

			mb_desc_encode(&d, g, blk + i * MB_DESC_SIZE);
		}
		err = mb_dev_write(dev, (sb->desc_start + b) * bs, blk, bs);
	}
	if (!err) /* no transaction in the journal */
		err = mb_journal_clear(dev, bs, sb->journal_start);
	free(blk);
	return err;
}

static uint64_t mb_sb_initial_free(const struct mb_sb *sb)
{
	uint64_t free = 0;

	for (uint32_t g = 0; g < sb->groups; g++) {
		uint64_t first = sb->geo.first_data_block + (uint64_t)g * sb->geo.blocks_per_group;
		uint64_t len = sb->geo.blocks_count - first;

		len = len < sb->geo.blocks_per_group ? len : sb->geo.blocks_per_group;
		free += len - (sb->geo.reserved_per_group < len ? sb->geo.reserved_per_group : len);
	}
	return free;
}

/* Every check of a format that needs no device; fills the superblock's
   geometry, group count and journal size. */
static int mb_format_plan(const struct mb_geometry *geo, const struct mb_open_opts *opts,
			  struct mb_sb *sb, struct mb_layout *lay)
{
	if (!geo || mb_geometry_validate(geo, &sb->geo, &sb->groups) ||
	    mb_layout_compute(&sb->geo, sb->groups, lay))
		return -EINVAL;
	uint32_t jmax = mb_journal_capacity(sb->geo.block_size, UINT32_MAX) + 2;
	uint32_t want = opts ? opts->journal_blocks : 0;

	if (want && (want < MB_JOURNAL_MIN || want > lay->room))
		return -EINVAL;
	sb->journal_blocks = want ? want : (lay->room < jmax ? lay->room : jmax);
	return 0;
}

int mb_mballoc_format_check(const struct mb_geometry *geo, const struct mb_open_opts *opts)
{
	struct mb_sb sb;
	struct mb_layout lay;

	return mb_format_plan(geo, opts, &sb, &lay);
}

int mb_mballoc_format(struct mb_dev *dev, const struct mb_geometry *geo,
		      const struct mb_open_opts *opts)
{
	struct mb_sb sb = { .version = MB_FORMAT_VERSION, .desc_size = MB_DESC_SIZE,
			    .state = MB_STATE_CLEAN };
	struct mb_layout lay;
	uint8_t buf[MB_SB_SIZE];
	int err = mb_format_plan(geo, opts, &sb, &lay);

	if (err)
		return err;
	if (dev->size / sb.geo.block_size < sb.geo.blocks_count)
		return -ENOSPC;
	sb.desc_start = lay.desc_start;
	sb.desc_blocks = lay.desc_blocks;
	sb.journal_start = lay.journal_start;
	sb.free_blocks = mb_sb_initial_free(&sb);
	sb.format_time = (uint64_t)time(NULL);
	mb_make_uuid(sb.uuid);
	/* Everything else first: a format cut short leaves no valid superblock. */
	err = mb_format_write_desc(dev, &sb);
	if (!err)
		err = mb_dev_sync(dev);
	mb_sb_encode(&sb, buf);
	if (!err)
		err = mb_dev_write(dev, 0, buf, MB_SB_SIZE);
	return err ? err : mb_dev_sync(dev);
}

/* ------------------------------------------------------------------------ */
/* Open: superblock, journal, descriptors                                    */
/* ------------------------------------------------------------------------ */

/* The home superblock: the same checks as every copy (mb_sb_load). */
static int mb_open_read_sb(struct mb_dev *dev, bool read_only, struct mb_sb *sb)
{
	uint8_t buf[MB_SB_SIZE];
	int err;

	if (dev->size < MB_SB_SIZE)
		return -EIO;
	err = mb_dev_read(dev, 0, buf, MB_SB_SIZE);
	if (!err)
		err = mb_sb_load(buf, dev->size, !read_only, sb);
	if (!err && !read_only && dev->read_only)
		err = -EROFS;
	return err;
}

/*
 * The superblock a transaction carries passes the checks of the home copy,
 * then must describe the same volume at the transaction's seq.
 */
static int mb_open_journal_sb(struct mb_persist *p, const struct mb_sb *home, uint32_t slot,
			      struct mb_sb *nsb)
{
	const uint8_t *img = p->overlay.data + (size_t)slot * home->geo.block_size;
	int err = mb_sb_load(img, p->dev->size, !p->read_only, nsb);

	if (err)
		return err == -EROFS || err == -ENOMEM ? err : -EUCLEAN;
	if (!mb_sb_same_volume(home, nsb) || nsb->seq != p->overlay.seq)
		return -EUCLEAN;
	return 0;
}

/*
 * Reads the journal of an unclean volume into p->overlay when it holds a
 * transaction to replay, and takes the superblock image it carries.
 */
static int mb_open_journal(struct mb_persist *p, struct mb_sb *sb)
{
	struct mb_jtxn *t = &p->overlay;
	struct mb_sb nsb;
	uint32_t slot;
	int ret = mb_journal_read(p->dev, sb->geo.block_size, sb->journal_start,
				  sb->journal_blocks, t);

	if (ret <= 0)
		return ret;
	if (t->seq < sb->seq) { /* already checkpointed and superseded */
		mb_jtxn_free(t);
		return 0;
	}
	if (t->seq - sb->seq > 1)
		return -EUCLEAN;
	ret = mb_jtxn_check(t, sb, &slot);
	if (!ret)
		ret = mb_open_journal_sb(p, sb, slot, &nsb);
	if (ret)
		return ret;
	*sb = nsb;
	p->replayed = true;
	return 0;
}

/*
 * Reads and checks the whole descriptor table (through the overlay); the
 * superblock's free count must be their sum.  The volume exists (its
 * geometry places each group's bitmap); mb_groups_seed() then asks
 * mb_persist_group_free for each group's count.
 */
int mb_mballoc_read_groups(struct mb_persist *p)
{
	struct mb_volume *vol = p->store.vol;
	uint32_t bs = p->sb.geo.block_size;
	size_t bytes = (size_t)p->sb.desc_blocks * bs;
	uint64_t free = 0;
	int err;

	mb_layout_compute(&vol->geo, vol->ngroups, &p->lay);
	p->desc = malloc(bytes);
	if (!p->desc)
		return -ENOMEM;
	err = mb_dev_read(p->dev, p->sb.desc_start * bs, p->desc, bytes);
	for (uint32_t i = 0; i < p->overlay.nr && !err; i++) {
		uint64_t b = p->overlay.targets[i];

		if (b >= p->sb.desc_start && b < p->sb.desc_start + p->sb.desc_blocks)
			memcpy(p->desc + (b - p->sb.desc_start) * bs,
			       p->overlay.data + (size_t)i * bs, bs);
	}
	for (mb_grp_t g = 0; g < vol->ngroups && !err; g++) {
		struct mb_desc d;

		err = mb_desc_load(vol, &p->lay, mb_desc_at(p, g), g, &d);
		free += err ? 0 : d.free;
	}
	return !err && free != p->sb.free_blocks ? -EUCLEAN : err;
}

/* The store's group_free: the committed descriptor's count (checked at open). */
static int mb_persist_group_free(struct mb_store *st, uint32_t g, uint32_t *free)
{
	*free = mb_get_le32(mb_desc_at((struct mb_persist *)st, g));
	return 0;
}

/* Read-write open: the replayed transaction goes home, then "in use". */
int mb_mballoc_mark_in_use(struct mb_persist *p)
{
	uint32_t bs = p->sb.geo.block_size;
	uint8_t buf[MB_SB_SIZE];
	int err = 0;

	for (uint32_t i = 0; i < p->overlay.nr && !err; i++)
		err = mb_write_home(p->dev, bs, p->overlay.targets[i],
				    p->overlay.data + (size_t)i * bs);
	/*
	 * A clean open never read the journal, and from the dirty superblock
	 * on a later open would replay what it holds: clear it first, so
	 * nothing this open did not check can ever be replayed.
	 */
	if (!err && p->was_clean)
		err = mb_journal_clear(p->dev, bs, p->sb.journal_start);
	if (!err && (p->overlay.nr || p->was_clean))
		err = mb_dev_sync(p->dev);
	mb_jtxn_free(&p->overlay);
	p->sb.state = MB_STATE_DIRTY;
	mb_sb_encode(&p->sb, buf);
	if (!err)
		err = mb_dev_write(p->dev, 0, buf, MB_SB_SIZE);
	return err ? err : mb_dev_sync(p->dev);
}

/* ------------------------------------------------------------------------ */
/* Lazy bitmap loading                                                       */
/* ------------------------------------------------------------------------ */

/*
 * The store's load_bitmap: reads group g's bitmap into bits and checks it
 * against its descriptor: crc32c, metadata and padding bits set, free
 * count.  bb_lock held (the read happens under it, as ext4 waits on the
 * buffer).
 */
static int mb_persist_load_bitmap(struct mb_store *st, uint32_t g, uint64_t *bits)
{
	struct mb_persist *p = (struct mb_persist *)st;
	struct mb_volume *vol = st->vol;
	struct mb_group *grp = mb_group_at(vol, g);
	uint32_t bs = mb_bs(vol);
	uint8_t *blk = malloc(bs);
	struct mb_desc d;
	int err;

	mb_assert_locked(&grp->bb_lock);
	if (!blk)
		return -ENOMEM;
	err = mb_desc_load(vol, &p->lay, mb_desc_at(p, g), g, &d);
	if (!err)
		err = mb_read_block(p, bs, d.bitmap_block, blk);
	if (!err && mb_crc32c(0, blk, bs) != d.bitmap_crc)
		err = -EUCLEAN;
	if (!err) {
		uint32_t rsv = mb_group_reserved(vol, grp);
		uint32_t pad = vol->bitmap_words * 64 - grp->bb_len;

		mb_bitmap_decode(vol, blk, bits);
		if (!mb_range_all_set(bits, 0, rsv) || !mb_range_all_set(bits, grp->bb_len, pad) ||
		    mb_count_zero_bits(bits, 0, grp->bb_len) != d.free)
			err = -EUCLEAN;
	}
	free(blk);
	return err;
}

/* ------------------------------------------------------------------------ */
/* Commit: one batch = one journal transaction                               */
/* ------------------------------------------------------------------------ */

/*
 * A transaction's slots: the superblock, then each group's bitmap block,
 * and its descriptor table block when it differs from the previous
 * group's.  tally[0]: slots so far (0 = none yet), tally[1]: the last
 * descriptor table block + 1.
 */
static bool mb_persist_fits(struct mb_store *st, struct mb_commit_batch *b, mb_grp_t g)
{
	struct mb_persist *p = (struct mb_persist *)st;
	uint32_t per = mb_bs(st->vol) / MB_DESC_SIZE;
	uint64_t dblk = p->sb.desc_start + g / per;
	uint64_t slots = b->tally[0] ? b->tally[0] : 1;
	uint64_t need = slots + 1 + (dblk + 1 != b->tally[1]);

	if (need > mb_journal_capacity(mb_bs(st->vol), p->sb.journal_blocks))
		return false;
	b->tally[0] = need;
	b->tally[1] = dblk + 1;
	return true;
}

/* One transaction being built: slot 0 is the superblock. */
struct mb_txn_build {
	struct mb_jtxn t;
	uint32_t *dslots;   /* slot of each group's descriptor table block */
	int64_t free_delta; /* descriptor free counts: new - committed */
};

static uint8_t *mb_slot(struct mb_txn_build *b, uint32_t bs, uint32_t i)
{
	return b->t.data + (size_t)i * bs;
}

static uint32_t mb_txn_add(struct mb_txn_build *b, uint64_t target)
{
	b->t.targets[b->t.nr] = target;
	return b->t.nr++;
}

/* The batch's images: bitmaps and their descriptors in table block images. */
static void mb_txn_fill(struct mb_persist *p, const struct mb_commit_batch *cb,
			struct mb_txn_build *b)
{
	struct mb_volume *vol = p->store.vol;
	uint32_t bs = mb_bs(vol), per = bs / MB_DESC_SIZE, dslot = 0;
	uint64_t last_desc = UINT64_MAX;

	b->t.nr = 1; /* slot 0: superblock */
	for (uint32_t i = 0; i < cb->n; i++) {
		const struct mb_commit_group *cg = &cb->groups[i];
		mb_grp_t g = cg->group;
		uint64_t dblk = p->sb.desc_start + g / per;
		uint32_t slot = mb_txn_add(b, mb_bitmap_block_of(vol, &p->lay, g));
		struct mb_desc d = { cg->free, 0, mb_bitmap_block_of(vol, &p->lay, g), 0 };

		mb_bitmap_encode(vol, cg->bits, mb_slot(b, bs, slot));
		d.bitmap_crc = mb_crc32c(0, mb_slot(b, bs, slot), bs);
		if (last_desc != dblk) {
			last_desc = dblk;
			dslot = mb_txn_add(b, dblk);
			memcpy(mb_slot(b, bs, dslot), p->desc + (size_t)(g / per) * bs, bs);
		}
		b->free_delta += (int64_t)d.free - (int64_t)mb_get_le32(mb_desc_at(p, g));
		mb_desc_encode(&d, g, mb_slot(b, bs, dslot) + (g % per) * MB_DESC_SIZE);
		b->dslots[i] = dslot;
	}
}

/* Journal, sync, checkpoint, sync.  commit_mx held. */
static int mb_txn_write(struct mb_persist *p, const struct mb_commit_batch *cb,
			struct mb_txn_build *b)
{
	uint32_t bs = mb_bs(p->store.vol);
	struct mb_sb sb = p->sb;
	int err;

	if (sb.seq >= MB_SEQ_MAX)
		return -EOVERFLOW; /* unreachable in practice: see MB_SEQ_MAX */
	sb.seq++;
	sb.state = MB_STATE_DIRTY;
	/* open checked free_blocks = the descriptors' sum (< 2^51): no wrap */
	sb.free_blocks = (uint64_t)((int64_t)sb.free_blocks + b->free_delta);
	memset(mb_slot(b, bs, 0), 0, bs);
	mb_sb_encode(&sb, mb_slot(b, bs, 0));
	b->t.targets[0] = 0;
	b->t.seq = sb.seq;
	err = mb_journal_write(p->dev, bs, p->sb.journal_start, &b->t);
	if (!err)
		err = mb_dev_sync(p->dev);
	for (uint32_t i = 0; i < b->t.nr && !err; i++)
		err = mb_write_home(p->dev, bs, b->t.targets[i], mb_slot(b, bs, i));
	if (!err)
		err = mb_dev_sync(p->dev);
	if (err)
		return err;
	p->sb = sb;
	/* entry by entry: loaders of other groups read their entries meanwhile */
	for (uint32_t i = 0; i < cb->n; i++) {
		mb_grp_t g = cb->groups[i].group;

		memcpy(mb_desc_at(p, g),
		       mb_slot(b, bs, b->dslots[i]) + (g % (bs / MB_DESC_SIZE)) * MB_DESC_SIZE,
		       MB_DESC_SIZE);
	}
	return 0;
}

/* The committer's write: the batch as one transaction.  commit_mx held. */
static int mb_persist_write(struct mb_store *st, const struct mb_commit_batch *cb)
{
	struct mb_persist *p = (struct mb_persist *)st;
	uint32_t bs = mb_bs(st->vol);
	uint32_t cap = mb_journal_capacity(bs, p->sb.journal_blocks);
	struct mb_txn_build b = { 0 };
	int err = -ENOMEM;

	b.t.targets = malloc(sizeof(uint64_t) * cap);
	b.t.data = malloc((size_t)bs * cap);
	b.dslots = malloc(sizeof(uint32_t) * (cb->n ? cb->n : 1));
	if (b.t.targets && b.t.data && b.dslots) {
		mb_txn_fill(p, cb, &b);
		err = mb_txn_write(p, cb, &b);
	}
	free(b.t.targets);
	free(b.t.data);
	free(b.dslots);
	return err;
}

static const struct mb_committer_ops mb_persist_committer_ops = {
	.fits = mb_persist_fits,
	.write = mb_persist_write,
};

/* ------------------------------------------------------------------------ */
/* The store                                                                 */
/* ------------------------------------------------------------------------ */

static int mb_persist_commit(struct mb_store *st)
{
	return mb_committer_force(st->committer);
}

/* After the final commit: the clean superblock. */
static int mb_persist_mark_clean(struct mb_store *st)
{
	struct mb_persist *p = (struct mb_persist *)st;
	uint8_t buf[MB_SB_SIZE];
	int err;

	if (p->read_only)
		return 0;
	p->sb.state = MB_STATE_CLEAN;
	mb_sb_encode(&p->sb, buf);
	err = mb_dev_write(p->dev, 0, buf, MB_SB_SIZE);
	return err ? err : mb_dev_sync(p->dev);
}

static void mb_persist_info(struct mb_store *st, struct mb_volume_info *info)
{
	struct mb_persist *p = (struct mb_persist *)st;
	struct mb_volume *vol = st->vol;

	mb_lock(&p->c.commit_mx);
	for (mb_grp_t g = 0; g < vol->ngroups; g++)
		info->groups_uninit += mb_persist_group_uninit(st, g);
	memcpy(info->uuid, p->sb.uuid, 16);
	info->format_version = p->sb.version;
	info->desc_start = p->sb.desc_start;
	info->desc_blocks = p->sb.desc_blocks;
	info->journal_start = p->sb.journal_start;
	info->journal_blocks = p->sb.journal_blocks;
	info->journal_capacity = mb_journal_capacity(vol->geo.block_size, p->sb.journal_blocks);
	info->seq = p->sb.seq;
	mb_unlock(&p->c.commit_mx);
	info->persistent = 1;
	info->read_only = p->read_only;
	info->was_clean = p->was_clean;
	info->replayed = p->replayed;
	info->open_bytes_read = p->open_bytes_read;
	info->bytes_read = atomic_load_explicit(&p->dev->bytes_read, memory_order_relaxed);
	info->bytes_written = atomic_load_explicit(&p->dev->bytes_written, memory_order_relaxed);
	info->syncs = atomic_load_explicit(&p->dev->syncs, memory_order_relaxed);
}

/* The store's destroy: stops the commit thread, writes nothing. */
static void mb_persist_destroy(struct mb_store *st)
{
	struct mb_persist *p = (struct mb_persist *)st;

	mb_committer_fini(&p->c);
	mb_dev_close(p->dev);
	mb_jtxn_free(&p->overlay);
	free(p->desc);
	free(p);
}

static const struct mb_store_ops mb_persist_store_ops = {
	.name = "mballoc",
	.group_uninit = mb_persist_group_uninit,
	.load_bitmap = mb_persist_load_bitmap,
	.commit = mb_persist_commit,
	.destroy = mb_persist_destroy,
	.group_free = mb_persist_group_free,
	.mark_clean = mb_persist_mark_clean,
	.info = mb_persist_info,
};

/* Validates before anything is written: a failed open leaves dev as it was. */
int mb_mballoc_open(struct mb_dev *dev, bool read_only, struct mb_persist **out)
{
	struct mb_persist *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->store.ops = &mb_persist_store_ops;
	p->store.flags = MB_STORE_FREES_WAIT_COMMIT | (read_only ? MB_STORE_READ_ONLY : 0);
	p->dev = dev;
	p->read_only = read_only;
	err = mb_open_read_sb(dev, read_only, &p->sb);
	p->was_clean = p->sb.state == MB_STATE_CLEAN;
	if (!err && !p->was_clean)
		err = mb_open_journal(p, &p->sb);
	if (err) {
		mb_jtxn_free(&p->overlay);
		free(p);
		return err;
	}
	mb_committer_init(&p->c, &p->store, &mb_persist_committer_ops,
			  mb_journal_capacity(p->sb.geo.block_size, p->sb.journal_blocks));
	*out = p;
	return 0;
}
