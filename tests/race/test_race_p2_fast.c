/* SPDX-License-Identifier: MIT */
/*
 * test_race_p2_fast.c - alloc.c's power-of-two fast path in a threaded
 * process (mb_scan_power2_fast_mt): its group lock, held by bias or by the
 * word (mb_trylock_mt, mb_unlock_mt), and its claim from the slot's share
 * under the slot's lock, held inline when biased (mb_resv_take_exact_mt).
 * Threads ask for 16-block extents with no file and no goal, so that they
 * meet in the same group: in rounds that start together (a barrier), each
 * frees three quarters of its extents, at random (the frees return blocks
 * to the slot's share under its lock while other threads take from it),
 * then takes until ENOSPC.  After every round every block must be handed
 * out exactly once (a shared map) and the volume must be full: a group
 * taken outside its lock hands a chunk out twice, a take of the share
 * outside the slot's lock loses updates (a spurious ENOSPC, or space
 * counted that is not there).  threads_one_slot puts eight threads on
 * slot 0 (the slot lock contended, biased and revoked); threads_own_slots
 * one thread per slot, none contended, so that they meet in the group as
 * often as they run at once.
 *
 * The executable is built twice: with the testing flavour's lock checks,
 * and against the library the tools link (test_race_p2_fast_rel), whose
 * release lock paths the testing flavour does not have.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "harness.h"
#include "mb_int.h"
#include "percpu.h"

#define P2_THREADS 8
#define P2_LEN 16
#define P2_BLOCKS 32768u
#define P2_MAX (P2_BLOCKS / P2_LEN + 64)

struct p2_thread;

struct p2_race {
	struct mb_volume *vol;
	_Atomic uint64_t map[P2_BLOCKS / 64]; /* blocks handed out and not freed */
	_Atomic uint64_t twice;               /* blocks handed out while out */
	_Atomic int err;                      /* an unexpected error */
	_Atomic unsigned arrived, phase; /* the spinning barrier (p2_wait) */
	int rounds, nthreads;
	bool one_slot; /* every thread on slot 0 */
	struct p2_thread *th;
	int bad_round; /* the first round that did not end full, or -1 */
	uint64_t bad_held, bad_free;
};

struct p2_thread {
	struct p2_race *r;
	int idx;
	uint64_t seed;
	uint32_t n; /* extents held */
	struct mb_extent ex[P2_MAX];
	uint64_t held; /* blocks held */
};

static _Thread_local int p2_slot;

static void p2_check(struct p2_race *r, int round);

/*
 * A barrier of the nthreads that spins a while before it yields: the
 * threads of a round's start are on their CPUs when it opens more often
 * than a sleeping barrier's wakes would let them be.  The last to come
 * looks at the volume (check: every thread met ENOSPC) before it opens.
 */
static void p2_wait(struct p2_race *r, int check_round)
{
	unsigned phase = atomic_load(&r->phase);

	if (atomic_fetch_add(&r->arrived, 1) + 1 == (unsigned)r->nthreads) {
		if (check_round >= 0)
			p2_check(r, check_round);
		atomic_store(&r->arrived, 0);
		atomic_store(&r->phase, phase + 1);
		return;
	}
	for (int i = 0; atomic_load(&r->phase) == phase; i++)
		if (i > 2000)
			sched_yield();
}

/* Every call on the thread's slot (mb_cpu_slot), whatever CPU it is on. */
static void on_slot(void)
{
	mb_cpu_pin(p2_slot); /* the next 63 uses keep it */
}

static void p2_mark(struct p2_race *r, const struct mb_extent *ex, bool set)
{
	for (uint64_t b = ex->start; b < ex->start + ex->len; b++) {
		uint64_t bit = 1ULL << (b & 63);

		if (b >= P2_BLOCKS)
			atomic_store(&r->err, -ERANGE);
		else if (set && (atomic_fetch_or(&r->map[b >> 6], bit) & bit))
			atomic_fetch_add(&r->twice, 1);
		else if (!set)
			atomic_fetch_and(&r->map[b >> 6], ~bit);
	}
}

/* One more extent for t; false on ENOSPC (or an error, noted). */
static bool p2_take(struct p2_thread *t)
{
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = P2_LEN };
	struct mb_extent *ex = &t->ex[t->n];
	int err;

	on_slot();
	err = mb_alloc(t->r->vol, &rq, ex);
	if (err) {
		if (err != -ENOSPC)
			atomic_store(&t->r->err, err);
		return false;
	}
	if (ex->len == 0 || ex->len > P2_LEN || t->n + 1 >= P2_MAX) {
		atomic_store(&t->r->err, -ERANGE);
		return false;
	}
	p2_mark(t->r, ex, true);
	t->held += ex->len;
	t->n++;
	return true;
}

static void p2_give_back(struct p2_thread *t, uint32_t i)
{
	struct mb_extent ex = t->ex[i];

	p2_mark(t->r, &ex, false); /* before the free: another may get them at once */
	on_slot();
	if (mb_free(t->r->vol, ex.start, ex.len))
		atomic_store(&t->r->err, -EIO);
	t->held -= ex.len;
	t->ex[i] = t->ex[--t->n];
}

static void *p2_thread(void *arg)
{
	struct p2_thread *t = arg;
	struct p2_race *r = t->r;

	p2_slot = r->one_slot ? 0 : t->idx; /* idx <= pcpu_mask, or folded by it */
	for (int round = 0; round < r->rounds; round++) {
		uint32_t keep = t->n / 4;

		p2_wait(r, -1); /* all start at once */
		while (t->n > keep)
			p2_give_back(t, (uint32_t)mb_rand_below(&t->seed, t->n));
		while (p2_take(t))
			;
		p2_wait(r, round); /* every thread met ENOSPC: the last looks */
	}
	return NULL;
}

static uint64_t p2_held(const struct p2_race *r)
{
	uint64_t sum = 0;

	for (int i = 0; i < r->nthreads; i++)
		sum += r->th[i].held;
	return sum;
}

/* After a round: every block out once, none free; the first bad round kept. */
static void p2_check(struct p2_race *r, int round)
{
	uint64_t held = p2_held(r), free = mb_free_blocks(r->vol);

	if (r->bad_round < 0 && (held != P2_BLOCKS || free || atomic_load(&r->twice) ||
				 atomic_load(&r->err))) {
		r->bad_round = round;
		r->bad_held = held;
		r->bad_free = free;
	}
}

static void p2_run(bool one_slot)
{
	/* 16 groups of 2048 blocks, no system reserve: a fill ends at 0 free */
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 2048,
				   .blocks_count = P2_BLOCKS };
	static struct p2_race r;
	static struct p2_thread th[P2_THREADS];
	pthread_t tid[P2_THREADS];

	memset(&r, 0, sizeof(r));
	memset(th, 0, sizeof(th));
	ASSERT_EQ_INT(mb_volume_create(&geo, &r.vol), 0);
	ASSERT_EQ_INT(mb_tunable_set(r.vol, "reserved_clusters", 0), 0);
	ASSERT_EQ_INT(mb_tunable_set(r.vol, "r_blocks_count", 0), 0);
	ASSERT_EQ_U64(mb_free_blocks(r.vol), P2_BLOCKS);
	r.th = th;
	r.bad_round = -1;
	r.rounds = mb_test_rounds(1000);
	r.one_slot = one_slot;
	r.nthreads = one_slot ? P2_THREADS : (int)r.vol->pcpu_mask + 1;
	if (r.nthreads < 2)
		r.nthreads = 2;
	if (r.nthreads > P2_THREADS)
		r.nthreads = P2_THREADS;
	for (int i = 0; i < r.nthreads; i++) {
		th[i].r = &r;
		th[i].idx = i;
		th[i].seed = mb_test_seed + (uint64_t)i;
		ASSERT_EQ_INT(pthread_create(&tid[i], NULL, p2_thread, &th[i]), 0);
	}
	for (int i = 0; i < r.nthreads; i++)
		pthread_join(tid[i], NULL);
	if (r.bad_round >= 0)
		fprintf(stderr, "round %d of %d: %" PRIu64 " blocks held, %" PRIu64 " free\n",
			r.bad_round, r.rounds, r.bad_held, r.bad_free);
	ASSERT_EQ_INT(atomic_load(&r.err), 0);
	ASSERT_EQ_U64(atomic_load(&r.twice), 0);
	ASSERT_EQ_INT(r.bad_round, -1);
	ASSERT_EQ_U64(p2_held(&r), P2_BLOCKS);
	ASSERT_EQ_U64(mb_free_blocks(r.vol), 0);
	ASSERT_CHECK_CLEAN(r.vol);
	mb_volume_destroy(r.vol);
}

TEST(threads_one_slot)
{
	p2_run(true);
}

TEST(threads_own_slots)
{
	p2_run(false);
}
