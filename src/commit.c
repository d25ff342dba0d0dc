/* SPDX-License-Identifier: MIT */
/*
 * commit.c - the commit machinery of stores whose frees wait (commit.h):
 * batches of group snapshots, the release of the frees a durable batch
 * recorded, the sticky error and the background commit thread.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commit.h"

/*
 * A snapshot's half of deferred frees: grp's pending frees become this
 * batch's (the committing map).  Returns how many.  The previous commit
 * released its own before this one started (commits are serialized).
 */
uint32_t mb_commit_snapshot_pending_locked(struct mb_volume *vol, struct mb_group *grp)
{
	mb_assert_locked(&grp->bb_lock);
	memcpy(mb_group_committing_map(vol, grp), mb_group_pending_map(vol, grp),
	       vol->bitmap_words * sizeof(uint64_t));
	return grp->bb_pending_count;
}

/* A snapshot of grp into cg; bb_lock held. */
static void mb_commit_snapshot_locked(struct mb_volume *vol, struct mb_group *grp,
				      struct mb_commit_group *cg)
{
	mb_assert_locked(&grp->bb_lock);
	cg->group = mb_group_no(vol, grp);
	cg->free = grp->bg_free;
	memcpy(cg->bits, grp->bb_disk, vol->bitmap_words * sizeof(uint64_t));
	atomic_fetch_and_explicit(&grp->bb_state, ~(uint32_t)MB_GRP_DIRTY, memory_order_relaxed);
	mb_commit_snapshot_pending_locked(vol, grp);
}

/*
 * The release's half: the batch that snapshotted grp is durable, its frees
 * become allocatable (to the buddy, or back to a live inode PA).  Returns
 * blocks.
 */
uint32_t mb_commit_release_locked(struct mb_volume *vol, struct mb_group *grp)
{
	uint64_t *pending = mb_group_pending_map(vol, grp);
	uint64_t *committing = mb_group_committing_map(vol, grp);
	uint32_t i = 0, released = 0;

	mb_assert_locked(&grp->bb_lock);
	while ((i = mb_find_next_bit(committing, vol->bpg, i)) < vol->bpg) {
		uint32_t j = mb_find_next_zero_bit(committing, vol->bpg, i);

		assert(mb_range_all_set(pending, i, j - i));
		mb_clear_bits(committing, i, j - i);
		mb_clear_bits(pending, i, j - i);
		mb_return_blocks_locked(vol, grp, i, j - i);
		released += j - i;
		i = j;
	}
	MB_WRITE_ONCE(grp->bb_pending_count, grp->bb_pending_count - released);
	atomic_fetch_sub_explicit(&vol->free_pending, released, memory_order_relaxed);
	return released;
}

/* Fills a batch with dirty groups from *next on; commit_mx held. */
static void mb_commit_fill(struct mb_committer *c, struct mb_commit_batch *b, mb_grp_t *next)
{
	struct mb_volume *vol = c->st->vol;

	b->n = 0;
	memset(b->tally, 0, sizeof(b->tally));
	for (; *next < vol->ngroups && b->n < c->batch_cap; (*next)++) {
		/* a group never set up never changed: skip to the next one */
		*next = mb_group_next_setup(vol, *next);
		if (*next >= vol->ngroups) {
			*next = vol->ngroups;
			break;
		}
		struct mb_group *grp = mb_group_at(vol, *next);

		/* hint: only a commit clears DIRTY, and commits are serialized */
		if (!(atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_DIRTY))
			continue;
		if (!c->ops->fits(c->st, b, *next))
			break;
		mb_lock(&grp->bb_lock);
		mb_commit_snapshot_locked(vol, grp, &b->groups[b->n++]);
		mb_unlock(&grp->bb_lock);
	}
}

/* After a failed write the groups stay dirty in memory (for the record). */
static void mb_commit_redirty(struct mb_volume *vol, const struct mb_commit_batch *b)
{
	for (uint32_t i = 0; i < b->n; i++)
		atomic_fetch_or_explicit(&mb_group_at(vol, b->groups[i].group)->bb_state, MB_GRP_DIRTY,
					 memory_order_relaxed);
}

static int64_t mb_commit_release(struct mb_volume *vol, const struct mb_commit_batch *b)
{
	int64_t released = 0;

	for (uint32_t i = 0; i < b->n; i++) {
		struct mb_group *grp = mb_group_at(vol, b->groups[i].group);

		mb_lock(&grp->bb_lock);
		released += mb_commit_release_locked(vol, grp);
		mb_unlock(&grp->bb_lock);
	}
	return released;
}

static int mb_commit_batch_alloc(struct mb_committer *c, struct mb_commit_batch *b)
{
	size_t words = c->st->vol->bitmap_words;
	uint64_t *bits = malloc(sizeof(uint64_t) * words * c->batch_cap);

	b->groups = malloc(sizeof(*b->groups) * c->batch_cap);
	if (!bits || !b->groups) {
		free(bits);
		free(b->groups);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < c->batch_cap; i++)
		b->groups[i].bits = bits + i * words;
	return 0;
}

static void mb_commit_batch_free(struct mb_commit_batch *b)
{
	if (b->groups)
		free(b->groups[0].bits);
	free(b->groups);
}

/* The commit; commit_mx held.  Returns blocks released, or -errno. */
static int64_t mb_commit_locked(struct mb_committer *c)
{
	struct mb_volume *vol = c->st->vol;
	struct mb_commit_batch b = { 0 };
	int64_t released = 0;
	mb_grp_t next = 0;
	int err;

	mb_assert_locked(&c->commit_mx);
	if (mb_store_read_only(c->st))
		return -EROFS;
	if (c->err)
		return c->err;
	err = mb_commit_batch_alloc(c, &b);
	while (!err && next < vol->ngroups) {
		mb_commit_fill(c, &b, &next);
		if (!b.n)
			break;
		err = c->ops->write(c->st, &b);
		if (err) {
			mb_commit_redirty(vol, &b);
			c->err = err == -ENOMEM ? 0 : -EIO;
			break;
		}
		released += mb_commit_release(vol, &b);
	}
	mb_commit_batch_free(&b);
	return err ? (c->err ? c->err : err) : released;
}

int mb_committer_commit(struct mb_committer *c)
{
	mb_lock(&c->commit_mx);
	int64_t r = mb_commit_locked(c);
	mb_unlock(&c->commit_mx);
	return r < 0 ? (int)r : 0;
}

/*
 * The allocator's last resort before -ENOSPC: a durable commit.  If the
 * pending frees were released while we waited for commit_mx, report
 * progress so the caller retries.
 */
int mb_committer_force(struct mb_committer *c)
{
	int64_t r;

	mb_lock(&c->commit_mx);
	if (!atomic_load_explicit(&c->st->vol->free_pending, memory_order_relaxed))
		r = 1;
	else
		r = mb_commit_locked(c);
	mb_unlock(&c->commit_mx);
	return r > INT32_MAX ? INT32_MAX : (int)r;
}

/* ------------------------------------------------------------------------ */
/* The background commit thread                                              */
/* ------------------------------------------------------------------------ */

static void *mb_commit_thread(void *arg)
{
	struct mb_committer *c = arg;
	struct timespec ts;

	pthread_mutex_lock(&c->thr_mx);
	while (!c->thr_stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += c->interval_s;
		while (!c->thr_stop && pthread_cond_timedwait(&c->thr_cv, &c->thr_mx, &ts) == 0)
			;
		if (c->thr_stop)
			break;
		pthread_mutex_unlock(&c->thr_mx);
		mb_committer_commit(c); /* errors are sticky in c->err; the next mb_commit reports */
		pthread_mutex_lock(&c->thr_mx);
	}
	pthread_mutex_unlock(&c->thr_mx);
	return NULL;
}

int mb_committer_start(struct mb_committer *c, uint32_t interval_s)
{
	pthread_condattr_t ca;

	c->interval_s = interval_s;
	if (!interval_s || mb_store_read_only(c->st))
		return 0;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&c->thr_cv);
	pthread_cond_init(&c->thr_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&c->thr, NULL, mb_commit_thread, c))
		return -ENOMEM;
	c->thr_started = true;
	return 0;
}

void mb_committer_stop(struct mb_committer *c)
{
	if (!c->thr_started)
		return;
	pthread_mutex_lock(&c->thr_mx);
	c->thr_stop = true;
	pthread_cond_broadcast(&c->thr_cv);
	pthread_mutex_unlock(&c->thr_mx);
	pthread_join(c->thr, NULL);
	c->thr_started = false;
}

void mb_committer_init(struct mb_committer *c, struct mb_store *st,
		       const struct mb_committer_ops *ops, uint32_t batch_cap)
{
	memset(c, 0, sizeof(*c));
	c->st = st;
	c->ops = ops;
	c->batch_cap = batch_cap ? batch_cap : 1;
	mb_mutex_init(&c->commit_mx, MB_RANK_COMMIT);
	pthread_mutex_init(&c->thr_mx, NULL);
	pthread_cond_init(&c->thr_cv, NULL);
	st->committer = c;
}

void mb_committer_fini(struct mb_committer *c)
{
	mb_committer_stop(c);
	mb_mutex_destroy(&c->commit_mx);
	pthread_mutex_destroy(&c->thr_mx);
	pthread_cond_destroy(&c->thr_cv);
}
