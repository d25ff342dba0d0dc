/* SPDX-License-Identifier: MIT */
/*
 * test_race_set_move.c - group_sets.c's set moves in a threaded process:
 * the lock of a group's word in the sets (vol->set_locks), held by bias or
 * by the word, taken over (revoked) by another thread.  64 groups, so that
 * every move of every group takes the same set lock.  Each of four threads
 * fills and empties groups of its own (1-block requests at a goal in its
 * groups: the average falls a sub at a time, mb_group_move_sub_mt's
 * biased fast path, and the orders move; the frees raise them), in rounds
 * that run one thread alone (long enough for the set lock to be biased to
 * it, whatever the streak mb_bias_need has grown to), then all together
 * (each bias revoked by the others).  After every call the thread's lock
 * record must name no lock (a call that returns with a bias entry left
 * set makes the lock's next revoker wait for it for ever: the hang of a
 * fast path that skipped its unlock), and at the end the sets must agree
 * with the counters (mb_check: a move outside the word's lock loses an
 * update).  The test fails unless some thread saw the set lock biased to
 * it.
 *
 * set_lock_two_levels does the same on 128 groups, whose sets have two
 * levels (group_sets.c's mb_group_move_sets_mt2, gset.h's MB_GSET_MT2),
 * the threads' groups those of the second word, 64 to 127.
 *
 * The executable is built twice: with the testing flavour's lock checks,
 * and against the library the tools link (test_race_set_move_rel), whose
 * release lock paths (mb_lock_if_biased_at without mb_lock_noted) the
 * testing flavour does not have.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "harness.h"
#include "mb_int.h"

#define SM_THREADS 4
#define SM_GROUPS 64 /* the threads' groups: one word of the sets */
#define SM_BPG 1024u
#define SM_MAX (SM_GROUPS * SM_BPG)

struct sm_race {
	struct mb_volume *vol;
	_Atomic unsigned arrived, phase; /* the barrier (sm_wait) */
	_Atomic int err;                 /* an unexpected error */
	_Atomic int left_in;             /* calls that returned with a bias entry */
	_Atomic int biased;              /* times the set lock was seen biased to its thread */
	int rounds;
	uint32_t base; /* the threads' first group: SM_GROUPS from it, one set lock's */
};

struct sm_thread {
	struct sm_race *r;
	int idx;
	uint32_t n;
	uint64_t blk[SM_MAX]; /* blocks held, one a request */
};

static void sm_wait(struct sm_race *r)
{
	unsigned phase = atomic_load(&r->phase);

	if (atomic_fetch_add(&r->arrived, 1) + 1 == SM_THREADS) {
		atomic_store(&r->arrived, 0);
		atomic_store(&r->phase, phase + 1);
		return;
	}
	while (atomic_load(&r->phase) == phase)
		sched_yield();
}

/* No lock is held between calls: this thread's record names none. */
static void sm_after_call(struct sm_thread *t)
{
#ifdef MB_LOCK_FUTEX
	for (int k = 0; k < MB_BIAS_RANKS; k++)
		if (atomic_load_explicit(&mb_lock_self->in[k], memory_order_relaxed)) {
			atomic_fetch_add(&t->r->left_in, 1);
			/* clear it, or the next revoker waits here for ever */
			atomic_store_explicit(&mb_lock_self->in[k], NULL, memory_order_release);
		}
#else
	(void)t;
#endif
}

static void sm_saw_bias(struct sm_thread *t)
{
#ifdef MB_LOCK_FUTEX
	if (atomic_load_explicit(&t->r->vol->set_locks[t->r->base >> 6].bias,
				 memory_order_relaxed) ==
	    mb_lock_self)
		atomic_fetch_add(&t->r->biased, 1);
#else
	(void)t;
#endif
}

/* Fills this thread's groups a block at a time, then frees it all. */
static void sm_cycle(struct sm_thread *t)
{
	struct sm_race *r = t->r;

	for (uint32_t g = r->base + (uint32_t)t->idx; g < r->base + SM_GROUPS; g += SM_THREADS) {
		for (uint32_t i = 0; i < SM_BPG; i++) {
			struct mb_request rq = { .goal = (uint64_t)g * SM_BPG + i, .len = 1 };
			struct mb_extent ex;
			int err = mb_alloc(r->vol, &rq, &ex);

			sm_after_call(t);
			if (err == -ENOSPC)
				break;
			if (err || t->n == SM_MAX) {
				atomic_store(&r->err, err ? err : -E2BIG);
				return;
			}
			t->blk[t->n++] = ex.start;
		}
		sm_saw_bias(t);
	}
	while (t->n) {
		int err = mb_free(r->vol, t->blk[--t->n], 1);

		sm_after_call(t);
		if (err) {
			atomic_store(&r->err, err);
			return;
		}
	}
}

static void *sm_main(void *arg)
{
	struct sm_thread *t = arg;
	struct sm_race *r = t->r;

	for (int round = 0; round < r->rounds; round++) {
		for (int solo = 0; solo < SM_THREADS; solo++) {
			if (solo == t->idx)
				sm_cycle(t);
			sm_wait(r);
		}
		sm_cycle(t); /* all together */
		sm_wait(r);
	}
	return NULL;
}

/* The threads' groups from base on; the volume's groups: ngroups */
static void sm_run(uint32_t base, uint32_t ngroups)
{
	struct mb_geometry geo = { .block_size = 1024, .blocks_per_group = SM_BPG,
				   .blocks_count = (uint64_t)ngroups * SM_BPG };
	static struct sm_thread th[SM_THREADS];
	static struct sm_race r;
	pthread_t id[SM_THREADS];

	memset(&r, 0, sizeof(r));
	r.rounds = mb_test_scale < 1 ? 2 : 12;
	r.base = base;
	ASSERT_EQ_INT(mb_volume_create(&geo, &r.vol), 0);
	ASSERT_EQ_INT(r.vol->free_ge[0].nlevels, ngroups > 64 ? 2 : 1);
	for (int i = 0; i < SM_THREADS; i++) {
		th[i].r = &r;
		th[i].idx = i;
		th[i].n = 0;
		ASSERT_EQ_INT(pthread_create(&id[i], NULL, sm_main, &th[i]), 0);
	}
	for (int i = 0; i < SM_THREADS; i++)
		pthread_join(id[i], NULL);
	ASSERT_EQ_INT(atomic_load(&r.err), 0);
	ASSERT_EQ_INT(atomic_load(&r.left_in), 0);
#ifdef MB_LOCK_FUTEX
	if (mb_lock_asym) /* else nothing is ever biased */
		ASSERT_TRUE(atomic_load(&r.biased) > 0);
#endif
	ASSERT_CHECK_CLEAN(r.vol);
	mb_volume_destroy(r.vol);
}

TEST(set_lock_biased_and_revoked)
{
	sm_run(0, SM_GROUPS);
}

TEST(set_lock_two_levels)
{
	sm_run(64, 128);
}
