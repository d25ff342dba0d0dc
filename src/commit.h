/* SPDX-License-Identifier: MIT */
/*
 * commit.h - the commit machinery shared by the stores whose frees wait
 * for a commit (commit.c): snapshotting the changed groups into batches,
 * handing each batch to the store to make durable, releasing the frees a
 * durable batch recorded, the sticky error, and the background commit
 * thread.  The store supplies only how a batch is written (and how many
 * groups fit one); the mballoc store journals it, the callback store hands
 * it to the caller.
 *
 * Per batch: each dirty group is snapshotted under its bb_lock (its
 * on-disk bitmap copied, its descriptor free count, DIRTY cleared, its
 * pending frees become the batch's: the committing map); the store writes
 * the batch; then exactly those frees are released.  Frees made after a
 * group's snapshot stay pending for the next commit, because the snapshot
 * (and so the durable state) still shows them allocated.
 *
 * Locking: commit_mx (MB_RANK_COMMIT) serializes commits; it is taken with
 * no group lock held and takes bb_locks inside.  The allocator may force a
 * commit with f_data_sem and an lg_mutex held (both of lower rank).
 */
#ifndef MB_COMMIT_H
#define MB_COMMIT_H

#include "mb_int.h"
#include "store.h"

/* One group as a batch records it. */
struct mb_commit_group {
	mb_grp_t group;
	uint32_t free; /* free blocks in bits (the descriptor count) */
	uint64_t *bits; /* the on-disk bitmap at the snapshot: 1 = used, bitmap_words words */
};

struct mb_commit_batch {
	struct mb_commit_group *groups; /* [0, n) snapshotted, in group order */
	uint32_t n;
	uint64_t tally[2]; /* the store's running count for fits(); zeroed per batch */
};

struct mb_committer_ops {
	/* Whether group g still fits batch b (b->n groups in it); may count it in b->tally. */
	bool (*fits)(struct mb_store *st, struct mb_commit_batch *b, mb_grp_t g);
	/*
	 * Makes the batch durable as one unit: after a crash the store holds
	 * either all of it or none of it.  0, or -errno (then the batch's
	 * groups stay dirty and the committer refuses further commits, see
	 * err).  commit_mx held, no group lock.
	 */
	int (*write)(struct mb_store *st, const struct mb_commit_batch *b);
};

struct mb_committer {
	struct mb_store *st;                /* const */
	const struct mb_committer_ops *ops; /* const */
	uint32_t batch_cap;                 /* most groups one batch holds; const */
	struct mb_mutex commit_mx;          /* rank MB_RANK_COMMIT */
	int err; /* sticky write error: commits refuse with it; commit_mx */
	/* Background commit thread. */
	pthread_t thr;
	bool thr_started;
	bool thr_stop; /* thr_mx */
	pthread_mutex_t thr_mx;
	pthread_cond_t thr_cv;
	uint32_t interval_s; /* const while the thread runs */
};

/* The two halves of deferred frees around a durable batch, per group (bb_lock). */
uint32_t mb_commit_snapshot_pending_locked(struct mb_volume *vol, struct mb_group *grp);
uint32_t mb_commit_release_locked(struct mb_volume *vol, struct mb_group *grp);

void mb_committer_init(struct mb_committer *c, struct mb_store *st,
		       const struct mb_committer_ops *ops, uint32_t batch_cap);
/* Stops the thread (if any) and frees what init set up.  Writes nothing. */
void mb_committer_fini(struct mb_committer *c);
/* Starts the background thread: a commit every interval_s (0: none). */
int mb_committer_start(struct mb_committer *c, uint32_t interval_s);
void mb_committer_stop(struct mb_committer *c);
/* mb_commit(): every change so far.  0 or -errno. */
int mb_committer_commit(struct mb_committer *c);
/* The store op commit: make pending frees durable (store.h's contract). */
int mb_committer_force(struct mb_committer *c);

#endif /* MB_COMMIT_H */
