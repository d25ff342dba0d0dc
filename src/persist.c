/* SPDX-License-Identifier: MIT */
/*
 * persist.c - persistent volumes: format, open (validation, journal
 * replay, descriptor table), lazy bitmap reads, commit (snapshot, journal,
 * checkpoint, release of deferred frees), the background commit thread,
 * close and verification.  The format is in docs/FORMAT.md; the encoders
 * in ondisk.c, the journal in journal.c.
 *
 * Commit protocol, per transaction (several when the changed groups do not
 * fit one): snapshot each dirty group under its bb_lock (bitmap copy, free
 * count, DIRTY cleared, pending frees -> committing); write header, images
 * and commit record to the journal; sync; write the images home; sync;
 * then release the committing frees.  Open replays a complete transaction
 * whose seq is the superblock's or the next; a torn one fails its crc32c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "mb_int.h"
#include "store.h"
#include "store_ext4.h"

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

int mb_volume_format_dev(struct mb_dev *dev, const struct mb_geometry *geo,
			 const struct mb_open_opts *opts)
{
	struct mb_sb sb = { .version = MB_FORMAT_VERSION, .desc_size = MB_DESC_SIZE,
			    .state = MB_STATE_CLEAN };
	struct mb_layout lay;
	uint8_t buf[MB_SB_SIZE];
	int err;

	if (!geo || mb_geometry_validate(geo, &sb.geo, &sb.groups) ||
	    mb_layout_compute(&sb.geo, sb.groups, &lay))
		return -EINVAL;
	uint32_t jmax = mb_journal_capacity(sb.geo.block_size, UINT32_MAX) + 2;
	uint32_t want = opts ? opts->journal_blocks : 0;

	if (want && (want < MB_JOURNAL_MIN || want > lay.room))
		return -EINVAL;
	sb.journal_blocks = want ? want : (lay.room < jmax ? lay.room : jmax);
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

int mb_volume_format(const char *path, const struct mb_geometry *geo,
		     const struct mb_open_opts *opts)
{
	struct mb_geometry g;
	uint32_t groups;
	struct mb_dev *dev;

	if (!path || !geo || mb_geometry_validate(geo, &g, &groups) ||
	    (opts && !mb_zeroed(opts->spare, sizeof(opts->spare))))
		return -EINVAL;
	if (g.blocks_count > UINT64_MAX / g.block_size)
		return -EINVAL;
	int err = mb_dev_open_file(path, false, g.blocks_count * g.block_size, &dev);

	if (err)
		return err;
	err = mb_volume_format_dev(dev, geo, opts);
	mb_dev_close(dev);
	return err;
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
 * superblock's free count must be their sum.
 */
static int mb_open_read_desc(struct mb_persist *p, const struct mb_sb *sb, struct mb_volume *vol)
{
	uint32_t bs = sb->geo.block_size;
	size_t bytes = (size_t)sb->desc_blocks * bs;
	uint64_t free = 0;
	int err;

	p->desc = malloc(bytes);
	if (!p->desc)
		return -ENOMEM;
	err = mb_dev_read(p->dev, sb->desc_start * bs, p->desc, bytes);
	for (uint32_t i = 0; i < p->overlay.nr && !err; i++) {
		uint64_t b = p->overlay.targets[i];

		if (b >= sb->desc_start && b < sb->desc_start + sb->desc_blocks)
			memcpy(p->desc + (b - sb->desc_start) * bs, p->overlay.data + (size_t)i * bs, bs);
	}
	for (mb_grp_t g = 0; g < vol->ngroups && !err; g++) {
		struct mb_group *grp = &vol->groups[g];
		struct mb_desc d;

		err = mb_desc_load(vol, mb_desc_at(p, g), g, &d);
		if (!err) {
			free += d.free;
			mb_lock(&grp->bb_lock);
			mb_group_seed_locked(vol, grp, d.free);
			mb_unlock(&grp->bb_lock);
		}
	}
	return !err && free != sb->free_blocks ? -EUCLEAN : err;
}

/* Read-write open: the replayed transaction goes home, then "in use". */
static int mb_open_finish_rw(struct mb_persist *p)
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

static void *mb_commit_thread(void *arg);

static int mb_persist_start_thread(struct mb_volume *vol, uint32_t interval)
{
	struct mb_persist *p = mb_persist_of(vol);
	pthread_condattr_t ca;

	p->interval_s = interval;
	if (!interval || p->read_only)
		return 0;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&p->thr_cv);
	pthread_cond_init(&p->thr_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&p->thr, NULL, mb_commit_thread, vol))
		return -ENOMEM;
	p->thr_started = true;
	return 0;
}

static struct mb_persist *mb_persist_alloc(struct mb_dev *dev, bool read_only)
{
	struct mb_persist *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->store.ops = &mb_persist_store_ops;
	p->store.flags = MB_STORE_FREES_WAIT_COMMIT | (read_only ? MB_STORE_READ_ONLY : 0);
	p->dev = dev;
	p->read_only = read_only;
	mb_mutex_init(&p->commit_mx, MB_RANK_COMMIT);
	pthread_mutex_init(&p->thr_mx, NULL);
	pthread_cond_init(&p->thr_cv, NULL);
	return p;
}

static void mb_persist_free(struct mb_persist *p)
{
	mb_jtxn_free(&p->overlay);
	free(p->desc);
	mb_mutex_destroy(&p->commit_mx);
	pthread_mutex_destroy(&p->thr_mx);
	pthread_cond_destroy(&p->thr_cv);
	free(p);
}

/*
 * Validates everything before writing anything: a failed open leaves the
 * device as it was.
 */
int mb_volume_open_dev(struct mb_dev *dev, const struct mb_open_opts *opts,
		       struct mb_volume **out)
{
	bool ro = opts && opts->read_only;
	struct mb_persist *p = mb_persist_alloc(dev, ro);
	struct mb_volume *vol = NULL;
	uint64_t before = atomic_load_explicit(&dev->bytes_read, memory_order_relaxed);
	int err;

	if (!p || !out || (opts && !mb_zeroed(opts->spare, sizeof(opts->spare))))
		return p ? (mb_persist_free(p), -EINVAL) : -ENOMEM;
	err = mb_open_read_sb(dev, ro, &p->sb);
	p->was_clean = p->sb.state == MB_STATE_CLEAN;
	if (!err && !p->was_clean)
		err = mb_open_journal(p, &p->sb);
	if (!err)
		err = mb_volume_create_on(&p->sb.geo, &p->store, &vol);
	if (!err) {
		mb_layout_compute(&vol->geo, vol->ngroups, &p->lay);
		err = mb_open_read_desc(p, &p->sb, vol);
	}
	p->open_bytes_read = atomic_load_explicit(&dev->bytes_read, memory_order_relaxed) - before;
	if (!err && !ro)
		err = mb_open_finish_rw(p);
	if (!err) {
		err = mb_persist_start_thread(vol, opts ? opts->commit_interval_s
							: MB_COMMIT_INTERVAL_DEFAULT);
	}
	if (err) {
		if (vol) {
			p->dev = NULL; /* the caller keeps the device */
			mb_volume_destroy(vol); /* and the store with it */
		} else {
			mb_persist_free(p);
		}
		return err;
	}
	*out = vol;
	return 0;
}

int mb_volume_open(const char *path, const struct mb_open_opts *opts, struct mb_volume **out)
{
	struct mb_dev *dev;

	mb_volume_open_error_set(NULL);
	if (!path || !out)
		return -EINVAL;
	int err = mb_dev_open_file(path, opts && opts->read_only, 0, &dev);

	if (err)
		return err;
	err = mb_volume_open_dev(dev, opts, out);
	if (err)
		mb_dev_close(dev);
	if (err == -EINVAL && mb_ext4_probe(path)) /* not ours, but an ext4 image */
		return mb_volume_open_ext4_ro(path, opts, out);
	return err;
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
	struct mb_group *grp = &vol->groups[g];
	uint32_t bs = mb_bs(vol);
	uint8_t *blk = malloc(bs);
	struct mb_desc d;
	int err;

	mb_assert_locked(&grp->bb_lock);
	if (!blk)
		return -ENOMEM;
	err = mb_desc_load(vol, mb_desc_at(p, g), g, &d);
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
/* Commit                                                                    */
/* ------------------------------------------------------------------------ */

/* One transaction being built: slot 0 is the superblock. */
struct mb_txn_build {
	struct mb_jtxn t;
	uint32_t cap;
	mb_grp_t *groups; /* groups snapshotted into it */
	uint32_t *dslots; /* slot of each group's descriptor table block */
	uint32_t ngroups;
	int64_t free_delta; /* descriptor free counts: new - committed */
	uint64_t last_desc; /* desc table block of the last slot, or UINT64_MAX */
	uint32_t last_desc_slot;
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

/*
 * Snapshots grp (dirty) into the transaction: bitmap image, descriptor in
 * its table block's image, pending frees -> committing.  bb_lock held.
 */
static void mb_snapshot_group_locked(struct mb_volume *vol, struct mb_group *grp,
				     struct mb_txn_build *b)
{
	struct mb_persist *p = mb_persist_of(vol);
	mb_grp_t g = mb_group_no(vol, grp);
	uint32_t bs = mb_bs(vol), per = bs / MB_DESC_SIZE;
	uint64_t dblk = p->sb.desc_start + g / per;
	uint32_t slot = mb_txn_add(b, mb_bitmap_block_of(vol, g));
	struct mb_desc d = { grp->bg_free, 0, mb_bitmap_block_of(vol, g), 0 };

	mb_assert_locked(&grp->bb_lock);
	mb_bitmap_encode(vol, grp->bb_disk, mb_slot(b, bs, slot));
	d.bitmap_crc = mb_crc32c(0, mb_slot(b, bs, slot), bs);
	atomic_fetch_and_explicit(&grp->bb_state, ~(uint32_t)MB_GRP_DIRTY, memory_order_relaxed);
	mb_free_snapshot_pending_locked(vol, grp);
	if (b->last_desc != dblk) {
		b->last_desc = dblk;
		b->last_desc_slot = mb_txn_add(b, dblk);
		memcpy(mb_slot(b, bs, b->last_desc_slot), p->desc + (size_t)(g / per) * bs, bs);
	}
	b->free_delta += (int64_t)d.free - (int64_t)mb_get_le32(mb_desc_at(p, g));
	mb_desc_encode(&d, g, mb_slot(b, bs, b->last_desc_slot) + (g % per) * MB_DESC_SIZE);
	b->dslots[b->ngroups] = b->last_desc_slot;
	b->groups[b->ngroups++] = g;
}

/* Fills a transaction with dirty groups from *next on; commit_mx held. */
static void mb_txn_fill(struct mb_volume *vol, struct mb_txn_build *b, mb_grp_t *next)
{
	uint32_t per = mb_bs(vol) / MB_DESC_SIZE;

	b->t.nr = 1; /* slot 0: superblock */
	b->ngroups = 0;
	b->free_delta = 0;
	b->last_desc = UINT64_MAX;
	for (; *next < vol->ngroups; (*next)++) {
		struct mb_group *grp = &vol->groups[*next];
		uint64_t dblk = mb_persist_of(vol)->sb.desc_start + *next / per;

		/* hint: only a commit clears DIRTY, and commits are serialized */
		if (!(atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_DIRTY))
			continue;
		if (b->t.nr + 1 + (dblk != b->last_desc) > b->cap)
			break;
		mb_lock(&grp->bb_lock);
		mb_snapshot_group_locked(vol, grp, b);
		mb_unlock(&grp->bb_lock);
	}
}

/* Journal, sync, checkpoint, sync.  commit_mx held. */
static int mb_txn_write(struct mb_volume *vol, struct mb_txn_build *b)
{
	struct mb_persist *p = mb_persist_of(vol);
	uint32_t bs = mb_bs(vol);
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
	for (uint32_t i = 0; i < b->ngroups; i++) {
		mb_grp_t g = b->groups[i];

		memcpy(mb_desc_at(p, g),
		       mb_slot(b, bs, b->dslots[i]) + (g % (bs / MB_DESC_SIZE)) * MB_DESC_SIZE,
		       MB_DESC_SIZE);
	}
	return 0;
}

/* After a failed write the groups stay dirty in memory (for the record). */
static void mb_txn_redirty(struct mb_volume *vol, struct mb_txn_build *b)
{
	for (uint32_t i = 0; i < b->ngroups; i++)
		atomic_fetch_or_explicit(&vol->groups[b->groups[i]].bb_state, MB_GRP_DIRTY,
					 memory_order_relaxed);
}

static int64_t mb_txn_release(struct mb_volume *vol, struct mb_txn_build *b)
{
	int64_t released = 0;

	for (uint32_t i = 0; i < b->ngroups; i++) {
		struct mb_group *grp = &vol->groups[b->groups[i]];

		mb_lock(&grp->bb_lock);
		released += mb_free_release_committed_locked(vol, grp);
		mb_unlock(&grp->bb_lock);
	}
	return released;
}

/* The commit; commit_mx held.  Returns blocks released, or -errno. */
static int64_t mb_commit_locked(struct mb_volume *vol)
{
	struct mb_persist *p = mb_persist_of(vol);
	uint32_t bs = mb_bs(vol);
	struct mb_txn_build b = { .cap = mb_journal_capacity(bs, p->sb.journal_blocks) };
	int64_t released = 0;
	mb_grp_t next = 0;
	int err = 0;

	mb_assert_locked(&p->commit_mx);
	if (p->read_only)
		return -EROFS;
	if (p->err)
		return p->err;
	b.t.targets = malloc(sizeof(uint64_t) * b.cap);
	b.t.data = malloc((size_t)bs * b.cap);
	b.groups = malloc(sizeof(mb_grp_t) * b.cap);
	b.dslots = malloc(sizeof(uint32_t) * b.cap);
	if (!b.t.targets || !b.t.data || !b.groups || !b.dslots)
		err = -ENOMEM;
	while (!err && next < vol->ngroups) {
		mb_txn_fill(vol, &b, &next);
		if (!b.ngroups)
			break;
		err = mb_txn_write(vol, &b);
		if (err) {
			mb_txn_redirty(vol, &b);
			p->err = err == -ENOMEM ? 0 : -EIO;
			break;
		}
		released += mb_txn_release(vol, &b);
	}
	free(b.t.targets);
	free(b.t.data);
	free(b.groups);
	free(b.dslots);
	return err ? (p->err ? p->err : err) : released;
}

int mb_commit(struct mb_volume *vol)
{
	struct mb_persist *p = vol ? mb_persist_of(vol) : NULL;

	if (!p)
		return -EINVAL;
	mb_lock(&p->commit_mx);
	int64_t r = mb_commit_locked(vol);
	mb_unlock(&p->commit_mx);
	return r < 0 ? (int)r : 0;
}

/*
 * The store's commit, the allocator's last resort before -ENOSPC: a
 * durable commit.  If the pending frees were released while we waited for
 * commit_mx, report progress so the caller retries.
 */
static int mb_persist_force_commit(struct mb_store *st)
{
	struct mb_persist *p = (struct mb_persist *)st;
	struct mb_volume *vol = st->vol;
	int64_t r;

	mb_lock(&p->commit_mx);
	if (!atomic_load_explicit(&vol->free_pending, memory_order_relaxed))
		r = 1;
	else
		r = mb_commit_locked(vol);
	mb_unlock(&p->commit_mx);
	return r > INT32_MAX ? INT32_MAX : (int)r;
}

static void *mb_commit_thread(void *arg)
{
	struct mb_volume *vol = arg;
	struct mb_persist *p = mb_persist_of(vol);
	struct timespec ts;

	pthread_mutex_lock(&p->thr_mx);
	while (!p->thr_stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += p->interval_s;
		while (!p->thr_stop && pthread_cond_timedwait(&p->thr_cv, &p->thr_mx, &ts) == 0)
			;
		if (p->thr_stop)
			break;
		pthread_mutex_unlock(&p->thr_mx);
		mb_commit(vol); /* errors are sticky in p->err; the next mb_commit reports */
		pthread_mutex_lock(&p->thr_mx);
	}
	pthread_mutex_unlock(&p->thr_mx);
	return NULL;
}

static void mb_persist_stop_thread(struct mb_persist *p)
{
	if (!p->thr_started)
		return;
	pthread_mutex_lock(&p->thr_mx);
	p->thr_stop = true;
	pthread_cond_broadcast(&p->thr_cv);
	pthread_mutex_unlock(&p->thr_mx);
	pthread_join(p->thr, NULL);
	p->thr_started = false;
}

/* The store's destroy: stops the commit thread, writes nothing. */
static void mb_persist_destroy(struct mb_store *st)
{
	struct mb_persist *p = (struct mb_persist *)st;

	mb_persist_stop_thread(p);
	mb_dev_close(p->dev);
	mb_persist_free(p);
}

static const struct mb_store_ops mb_persist_store_ops = {
	.name = "mballoc",
	.group_uninit = mb_persist_group_uninit,
	.load_bitmap = mb_persist_load_bitmap,
	.commit = mb_persist_force_commit,
	.destroy = mb_persist_destroy,
};

int mb_volume_close(struct mb_volume *vol)
{
	struct mb_persist *p;
	int err = 0;

	if (!vol)
		return 0;
	p = mb_persist_of(vol);
	if (p && !p->read_only) {
		uint8_t buf[MB_SB_SIZE];

		mb_persist_stop_thread(p);
		err = mb_commit(vol);
		if (!err) {
			p->sb.state = MB_STATE_CLEAN;
			mb_sb_encode(&p->sb, buf);
			err = mb_dev_write(p->dev, 0, buf, MB_SB_SIZE);
		}
		if (!err)
			err = mb_dev_sync(p->dev);
	}
	mb_volume_destroy(vol);
	return err;
}

/* ------------------------------------------------------------------------ */
/* Info and verification                                                     */
/* ------------------------------------------------------------------------ */

void mb_volume_info(struct mb_volume *vol, struct mb_volume_info *info)
{
	struct mb_persist *p = mb_persist_of(vol);

	memset(info, 0, sizeof(*info));
	info->geo = vol->geo;
	info->groups = vol->ngroups;
	info->free_blocks = mb_free_blocks(vol);
	if (!p)
		return;
	mb_lock(&p->commit_mx);
	for (mb_grp_t g = 0; g < vol->ngroups; g++)
		info->groups_uninit += mb_persist_group_uninit(&p->store, g);
	memcpy(info->uuid, p->sb.uuid, 16);
	info->format_version = p->sb.version;
	info->desc_start = p->sb.desc_start;
	info->desc_blocks = p->sb.desc_blocks;
	info->journal_start = p->sb.journal_start;
	info->journal_blocks = p->sb.journal_blocks;
	info->journal_capacity = mb_journal_capacity(vol->geo.block_size, p->sb.journal_blocks);
	info->seq = p->sb.seq;
	mb_unlock(&p->commit_mx);
	info->persistent = 1;
	info->read_only = p->read_only;
	info->was_clean = p->was_clean;
	info->replayed = p->replayed;
	info->open_bytes_read = p->open_bytes_read;
	info->bytes_read = atomic_load_explicit(&p->dev->bytes_read, memory_order_relaxed);
	info->bytes_written = atomic_load_explicit(&p->dev->bytes_written, memory_order_relaxed);
	info->syncs = atomic_load_explicit(&p->dev->syncs, memory_order_relaxed);
}

int mb_volume_verify(struct mb_volume *vol, char *buf, size_t buflen)
{
	size_t used = 0;
	int problems = 0;

	if (buf && buflen)
		buf[0] = 0;
	for (mb_grp_t g = 0; g < vol->ngroups; g++) {
		struct mb_group *grp = &vol->groups[g];

		mb_lock(&grp->bb_lock);
		int err = mb_group_load_locked(vol, grp);
		mb_unlock(&grp->bb_lock);
		if (!err)
			continue;
		problems++;
		if (buf && used + 1 < buflen) {
			int n = snprintf(buf + used, buflen - used, "group %u: bitmap unreadable: %s\n",
					 g, err == -EUCLEAN ? "checksum or contents do not match "
							      "the descriptor" : "I/O error");
			used += n > 0 && (size_t)n < buflen - used ? (size_t)n : buflen - used - 1;
		}
	}
	int n = mb_check(vol, buf ? buf + used : NULL, buf ? buflen - used : 0);

	return n < 0 ? n : problems + n;
}
