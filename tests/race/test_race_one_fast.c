/* SPDX-License-Identifier: MIT */
/*
 * test_race_one_fast.c - alloc.c's one-block fast path in a threaded
 * process (mb_alloc_one_fast_mt): the group's lock taken as the regular
 * path's visit takes a free one (mb_trylock_mt: held by bias or by the
 * word, a held lock declines), the group read under it, and the claim of
 * the block from the slot's share under the slot's lock
 * (mb_resv_take_exact_mt).
 *
 * locked_group_skipped: with the first group's lock held by the test,
 * another thread's one-block request must get its block elsewhere (the
 * regular path skips a busy group below CR_ANY_FREE), and once the lock
 * is given back, the first group's next block.  A fast path that took
 * the block without the lock answers from the locked group: this fails
 * at once, in every run.
 *
 * threads_one_slot, threads_own_slots: threads ask for one block at a
 * time with no file and no goal, so that they meet in the same group,
 * whose free blocks are a tail from its first free block on (the fast
 * path's case) after each round's frees have emptied it.  In rounds that
 * start together (a barrier), each thread frees all its blocks (one round
 * in three only three quarters, at random, which leaves holes the regular
 * path fills), then takes until ENOSPC.  After every round every block
 * must be handed out exactly once (a shared map), the volume must count
 * none free and its check must pass: a claim not taken leaves blocks
 * counted free that are not (at once, in every run); a block taken
 * outside the group's lock is handed out twice, a take of the share
 * outside the slot's lock loses updates (under contention: most runs).
 * threads_one_slot puts every thread on slot 0 (the slot lock contended,
 * biased and revoked); threads_own_slots one thread per slot.
 *
 * Built twice, as test_race_p2_fast: with the testing flavour's lock
 * checks, and against the library the tools link (test_race_one_fast_rel),
 * whose release lock paths the testing flavour does not have.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "harness.h"
#include "mb_int.h"
#include "percpu.h"

#define OF_THREADS 4
#define OF_BPG 256u
#define OF_BLOCKS 4096u /* 16 groups, optimize_scan on: one-block fills a round */

struct of_thread;

struct of_race {
	struct mb_volume *vol;
	_Atomic uint64_t map[OF_BLOCKS / 64]; /* blocks handed out and not freed */
	_Atomic uint64_t twice;               /* blocks handed out while out */
	_Atomic int err;                      /* an unexpected error */
	_Atomic unsigned arrived, phase;      /* the spinning barrier (of_wait) */
	int rounds, nthreads;
	bool one_slot; /* every thread on slot 0 */
	struct of_thread *th;
	int bad_round; /* the first round that did not end full, or -1 */
	uint64_t bad_held, bad_free;
};

struct of_thread {
	struct of_race *r;
	int idx;
	uint64_t seed;
	uint32_t n; /* blocks held */
	uint64_t blk[OF_BLOCKS];
};

static _Thread_local int of_slot;

static void of_check(struct of_race *r, int round);

/* A spinning barrier of the nthreads (test_race_p2_fast's); the last to
   come looks at the volume (check_round >= 0) before it opens. */
static void of_wait(struct of_race *r, int check_round)
{
	unsigned phase = atomic_load(&r->phase);

	if (atomic_fetch_add(&r->arrived, 1) + 1 == (unsigned)r->nthreads) {
		if (check_round >= 0)
			of_check(r, check_round);
		atomic_store(&r->arrived, 0);
		atomic_store(&r->phase, phase + 1);
		return;
	}
	for (int i = 0; atomic_load(&r->phase) == phase; i++)
		if (i > 2000)
			sched_yield();
}

/* Every call on the thread's slot, whatever CPU it is on. */
static void on_slot(void)
{
	mb_cpu_pin(of_slot); /* the next 63 uses keep it */
}

/* One more block for t; false on ENOSPC (or an error, noted). */
static bool of_take(struct of_thread *t)
{
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };
	struct mb_extent ex;
	int err;

	on_slot();
	err = mb_alloc(t->r->vol, &rq, &ex);
	if (err) {
		if (err != -ENOSPC)
			atomic_store(&t->r->err, err);
		return false;
	}
	if (ex.len != 1 || ex.start >= OF_BLOCKS || t->n >= OF_BLOCKS) {
		atomic_store(&t->r->err, -ERANGE);
		return false;
	}
	uint64_t bit = 1ULL << (ex.start & 63);

	if (atomic_fetch_or(&t->r->map[ex.start >> 6], bit) & bit)
		atomic_fetch_add(&t->r->twice, 1);
	t->blk[t->n++] = ex.start;
	return true;
}

static void of_give_back(struct of_thread *t, uint32_t i)
{
	uint64_t b = t->blk[i];

	/* out of the map before the free: another may get it at once */
	atomic_fetch_and(&t->r->map[b >> 6], ~(1ULL << (b & 63)));
	on_slot();
	if (mb_free(t->r->vol, b, 1))
		atomic_store(&t->r->err, -EIO);
	t->blk[i] = t->blk[--t->n];
}

static void *of_thread(void *arg)
{
	struct of_thread *t = arg;
	struct of_race *r = t->r;

	of_slot = r->one_slot ? 0 : t->idx; /* idx <= pcpu_mask, or folded by it */
	for (int round = 0; round < r->rounds; round++) {
		uint32_t keep = round % 3 == 2 ? t->n / 4 : 0;

		of_wait(r, -1); /* all start at once */
		while (t->n > keep)
			of_give_back(t, keep ? (uint32_t)mb_rand_below(&t->seed, t->n) : t->n - 1);
		while (of_take(t))
			;
		of_wait(r, round); /* every thread met ENOSPC: the last looks */
	}
	return NULL;
}

static uint64_t of_held(const struct of_race *r)
{
	uint64_t sum = 0;

	for (int i = 0; i < r->nthreads; i++)
		sum += r->th[i].n;
	return sum;
}

/* After a round: every block out once, none free; the first bad round kept. */
static void of_check(struct of_race *r, int round)
{
	uint64_t held = of_held(r), free = mb_free_blocks(r->vol);

	if (r->bad_round < 0 && (held != OF_BLOCKS || free || atomic_load(&r->twice) ||
				 atomic_load(&r->err) || mb_check(r->vol, NULL, 0))) {
		r->bad_round = round;
		r->bad_held = held;
		r->bad_free = free;
	}
}

/* 16 groups of 256 blocks (fewer turn optimize_scan off, and with it the
   fast path), no system reserve: a fill ends at 0 free */
static void of_volume(struct mb_volume **vol)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = OF_BPG,
				   .blocks_count = OF_BLOCKS };

	ASSERT_EQ_INT(mb_volume_create(&geo, vol), 0);
	ASSERT_EQ_INT(mb_tunable_set(*vol, "reserved_clusters", 0), 0);
	ASSERT_EQ_INT(mb_tunable_set(*vol, "r_blocks_count", 0), 0);
	ASSERT_EQ_U64(mb_free_blocks(*vol), OF_BLOCKS);
}

static void of_run(bool one_slot)
{
	static struct of_race r;
	static struct of_thread th[OF_THREADS];
	pthread_t tid[OF_THREADS];

	memset(&r, 0, sizeof(r));
	memset(th, 0, sizeof(th));
	of_volume(&r.vol);
	if (mb_test_failed)
		return;
	r.th = th;
	r.bad_round = -1;
	r.rounds = mb_test_rounds(30);
	r.one_slot = one_slot;
	r.nthreads = one_slot ? OF_THREADS : (int)r.vol->pcpu_mask + 1;
	if (r.nthreads < 2)
		r.nthreads = 2;
	if (r.nthreads > OF_THREADS)
		r.nthreads = OF_THREADS;
	for (int i = 0; i < r.nthreads; i++) {
		th[i].r = &r;
		th[i].idx = i;
		th[i].seed = mb_test_seed + (uint64_t)i;
		ASSERT_EQ_INT(pthread_create(&tid[i], NULL, of_thread, &th[i]), 0);
	}
	for (int i = 0; i < r.nthreads; i++)
		pthread_join(tid[i], NULL);
	if (r.bad_round >= 0)
		fprintf(stderr, "round %d of %d: %" PRIu64 " blocks held, %" PRIu64 " free\n",
			r.bad_round, r.rounds, r.bad_held, r.bad_free);
	ASSERT_EQ_INT(atomic_load(&r.err), 0);
	ASSERT_EQ_U64(atomic_load(&r.twice), 0);
	ASSERT_EQ_INT(r.bad_round, -1);
	ASSERT_EQ_U64(of_held(&r), OF_BLOCKS);
	ASSERT_EQ_U64(mb_free_blocks(r.vol), 0);
	ASSERT_CHECK_CLEAN(r.vol);
	mb_volume_destroy(r.vol);
}

TEST(threads_one_slot)
{
	of_run(true);
}

TEST(threads_own_slots)
{
	of_run(false);
}

struct of_one {
	struct mb_volume *vol;
	struct mb_extent ex;
	int err;
};

static void *of_alloc_one(void *arg)
{
	struct of_one *o = arg;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };

	/* every request on slot 0, whose share the first (regular) claim
	   filled: a dry share would send the fast path's claim to the
	   regular path, and the test would pass with the lock planted away */
	mb_cpu_pin(0);
	o->err = mb_alloc(o->vol, &rq, &o->ex);
	return NULL;
}

/* One block taken by a thread of its own, while the process is threaded:
   its first block, or UINT64_MAX (the test failed) */
static uint64_t of_alloc_by_thread(struct mb_volume *vol)
{
	struct of_one o = { .vol = vol };
	pthread_t t;

	if (pthread_create(&t, NULL, of_alloc_one, &o))
		return UINT64_MAX;
	pthread_join(t, NULL);
	return o.err || o.ex.len != 1 ? UINT64_MAX : o.ex.start;
}

TEST(locked_group_skipped)
{
	struct mb_volume *vol = NULL;
	struct mb_group *grp;
	uint64_t b;

	of_volume(&vol);
	if (mb_test_failed)
		return;
	/* the first group loaded, its free blocks a tail from block 2 on */
	for (uint64_t i = 0; i < 2; i++)
		ASSERT_EQ_U64(of_alloc_by_thread(vol), i);
	grp = mb_group_at(vol, 0);
	mb_lock(&grp->bb_lock);
	b = of_alloc_by_thread(vol); /* the group busy: the next one's */
	mb_unlock(&grp->bb_lock);
	ASSERT_EQ_U64(b / OF_BPG, 1);
	/* free again: its next block */
	ASSERT_EQ_U64(of_alloc_by_thread(vol), 2);
	ASSERT_EQ_U64(mb_free_blocks(vol), OF_BLOCKS - 4);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}
