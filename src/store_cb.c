/* SPDX-License-Identifier: MIT */
/*
 * store_cb.c - the callback store (mb_volume_open_callbacks): the caller
 * keeps the bitmaps.  Loads go to its load(), checked here as the mballoc
 * store checks its blocks; commits go through the commit machinery
 * (commit.c), each batch handed to its commit() as one transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "commit.h"

#define MB_CB_MAX_GROUPS_DEFAULT 64

struct mb_cb_store {
	struct mb_store store; /* first */
	struct mb_committer c;
	struct mb_store_callbacks cb;  /* const */
	struct mb_group_bitmap *batch; /* what commit() gets; commit_mx */
};

static struct mb_cb_store *mb_cb(struct mb_store *st)
{
	return (struct mb_cb_store *)st;
}

/* The caller's errors are negative errnos; anything else is an I/O error. */
static int mb_cb_err(int err)
{
	return err > 0 || err < -4095 ? -EIO : err;
}

/* Every group is read through the caller: nothing is known uninit. */
static bool mb_cb_group_uninit(struct mb_store *st, uint32_t g)
{
	return false;
}

/*
 * Reads group g from the caller into bits (zeroed) and checks it: the
 * metadata blocks used; the padding past the group's end is set here.
 * *free gets the free count.
 */
static int mb_cb_read(struct mb_cb_store *s, uint32_t g, uint64_t *bits, uint32_t *free)
{
	struct mb_volume *vol = s->store.vol;
	struct mb_group *grp = mb_group_at(vol, g);
	int err = mb_cb_err(s->cb.load(s->cb.arg, g, bits));

	if (err)
		return err;
	mb_set_bits(bits, grp->bb_len, vol->bitmap_words * 64 - grp->bb_len);
	if (!mb_range_all_set(bits, 0, mb_group_reserved(vol, grp)))
		return -EUCLEAN;
	*free = mb_count_zero_bits(bits, 0, grp->bb_len);
	return 0;
}

/* bb_lock held: the seeded count (bg_free of a never-loaded group) must match. */
static int mb_cb_load_bitmap(struct mb_store *st, uint32_t g, uint64_t *bits)
{
	uint32_t free;
	int err = mb_cb_read(mb_cb(st), g, bits, &free);

	if (!err && free != mb_group_at(st->vol, g)->bg_free)
		err = -EUCLEAN;
	return err;
}

/* At open: the caller's count, or one load to count. */
static int mb_cb_group_free(struct mb_store *st, uint32_t g, uint32_t *nfree)
{
	struct mb_cb_store *s = mb_cb(st);

	if (s->cb.group_free)
		return mb_cb_err(s->cb.group_free(s->cb.arg, g, nfree));
	uint64_t *bits = calloc(st->vol->bitmap_words, sizeof(uint64_t));
	int err = bits ? mb_cb_read(s, g, bits, nfree) : -ENOMEM;

	free(bits);
	return err;
}

static bool mb_cb_fits(struct mb_store *st, struct mb_commit_batch *b, mb_grp_t g)
{
	return true; /* the committer stops at batch_cap = max_groups */
}

/* One batch, one commit() call.  commit_mx held. */
static int mb_cb_write(struct mb_store *st, const struct mb_commit_batch *b)
{
	struct mb_cb_store *s = mb_cb(st);

	for (uint32_t i = 0; i < b->n; i++)
		s->batch[i] = (struct mb_group_bitmap){ b->groups[i].group, b->groups[i].free,
							 b->groups[i].bits };
	return mb_cb_err(s->cb.commit(s->cb.arg, s->batch, b->n));
}

static const struct mb_committer_ops mb_cb_committer_ops = {
	.fits = mb_cb_fits,
	.write = mb_cb_write,
};

static int mb_cb_commit(struct mb_store *st)
{
	return mb_committer_force(st->committer);
}

static void mb_cb_info(struct mb_store *st, struct mb_volume_info *info)
{
	info->persistent = 1;
	info->read_only = mb_store_read_only(st);
}

static void mb_cb_destroy(struct mb_store *st)
{
	struct mb_cb_store *s = mb_cb(st);

	mb_committer_fini(&s->c);
	free(s->batch);
	free(s);
}

static const struct mb_store_ops mb_cb_store_ops = {
	.name = "callbacks",
	.group_uninit = mb_cb_group_uninit,
	.load_bitmap = mb_cb_load_bitmap,
	.commit = mb_cb_commit,
	.destroy = mb_cb_destroy,
	.group_free = mb_cb_group_free,
	.info = mb_cb_info,
};

int mb_store_callbacks_new(const struct mb_store_callbacks *cb, bool read_only,
			   struct mb_store **out)
{
	struct mb_cb_store *s = calloc(1, sizeof(*s));
	uint32_t max = cb->max_groups ? cb->max_groups : MB_CB_MAX_GROUPS_DEFAULT;

	if (s)
		s->batch = calloc(max, sizeof(*s->batch));
	if (!s || !s->batch) {
		free(s);
		return -ENOMEM;
	}
	s->cb = *cb;
	s->store.ops = &mb_cb_store_ops;
	s->store.flags = MB_STORE_FREES_WAIT_COMMIT | (read_only ? MB_STORE_READ_ONLY : 0);
	mb_committer_init(&s->c, &s->store, &mb_cb_committer_ops, max);
	*out = &s->store;
	return 0;
}
