/* SPDX-License-Identifier: MIT */
/*
 * fill_race.c - the rounds fill_race.h describes.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "fill_race.h"
#include "harness.h"
#include "mb_int.h"
#include "percpu.h"

struct fr_thread;

struct fr_race {
	const struct fr_cfg *cfg;
	_Atomic uint64_t *map;		 /* blocks handed out and not freed */
	_Atomic uint64_t twice;		 /* blocks handed out while out */
	_Atomic int err;		 /* an unexpected error */
	_Atomic unsigned arrived, phase; /* the spinning barrier (fr_wait) */
	int nthreads;
	struct fr_thread *th;
	int bad_round; /* the first round that did not end full, or -1 */
	uint64_t bad_held, bad_free;
};

struct fr_thread {
	struct fr_race *r;
	int idx;
	uint64_t seed;
	uint32_t n, cap; /* extents held, room for them */
	struct mb_extent *ex;
	uint64_t held; /* blocks held */
};

static _Thread_local int fr_slot;

/* After a round: every block out once, none free; the first bad round kept. */
static void fr_check(struct fr_race *r, int round)
{
	uint64_t held = 0, free = mb_free_blocks(r->cfg->vol);

	for (int i = 0; i < r->nthreads; i++)
		held += r->th[i].held;
	if (r->bad_round < 0 &&
	    (held != r->cfg->blocks || free || atomic_load(&r->twice) || atomic_load(&r->err) ||
	     (r->cfg->check_rounds && mb_check(r->cfg->vol, NULL, 0)))) {
		r->bad_round = round;
		r->bad_held = held;
		r->bad_free = free;
	}
}

/*
 * A barrier of the nthreads that spins a while before it yields: the
 * threads of a round's start are on their CPUs when it opens more often
 * than a sleeping barrier's wakes would let them be.  The last to come
 * looks at the volume (check_round >= 0: every thread met ENOSPC) before
 * it opens.
 */
static void fr_wait(struct fr_race *r, int check_round)
{
	unsigned phase = atomic_load(&r->phase);

	if (atomic_fetch_add(&r->arrived, 1) + 1 == (unsigned)r->nthreads) {
		if (check_round >= 0)
			fr_check(r, check_round);
		atomic_store(&r->arrived, 0);
		atomic_store(&r->phase, phase + 1);
		return;
	}
	for (int i = 0; atomic_load(&r->phase) == phase; i++)
		if (i > 2000)
			sched_yield();
}

/* Every call on the thread's slot (mb_cpu_slot), whatever CPU it is on. */
static void fr_on_slot(void)
{
	mb_cpu_pin(fr_slot); /* the next 63 uses keep it */
}

static void fr_mark(struct fr_race *r, const struct mb_extent *ex, bool set)
{
	for (uint64_t b = ex->start; b < ex->start + ex->len; b++) {
		uint64_t bit = 1ULL << (b & 63);

		if (b >= r->cfg->blocks)
			atomic_store(&r->err, -ERANGE);
		else if (set && (atomic_fetch_or(&r->map[b >> 6], bit) & bit))
			atomic_fetch_add(&r->twice, 1);
		else if (!set)
			atomic_fetch_and(&r->map[b >> 6], ~bit);
	}
}

/* One more extent for t; false on ENOSPC (or an error, noted). */
static bool fr_take(struct fr_thread *t)
{
	struct mb_request rq = {.goal = MB_GOAL_NONE, .len = t->r->cfg->len};
	struct mb_extent *ex = &t->ex[t->n];
	int err;

	fr_on_slot();
	err = mb_alloc(t->r->cfg->vol, &rq, ex);
	if (err) {
		if (err != -ENOSPC)
			atomic_store(&t->r->err, err);
		return false;
	}
	if (ex->len == 0 || ex->len > rq.len || t->n + 1 >= t->cap) {
		atomic_store(&t->r->err, -ERANGE);
		return false;
	}
	fr_mark(t->r, ex, true);
	t->held += ex->len;
	t->n++;
	return true;
}

static void fr_give_back(struct fr_thread *t, uint32_t i)
{
	struct mb_extent ex = t->ex[i];

	fr_mark(t->r, &ex, false); /* before the free: another may get them at once */
	fr_on_slot();
	if (mb_free(t->r->cfg->vol, ex.start, ex.len))
		atomic_store(&t->r->err, -EIO);
	t->held -= ex.len;
	t->ex[i] = t->ex[--t->n];
}

static void *fr_thread(void *arg)
{
	struct fr_thread *t = arg;
	struct fr_race *r = t->r;
	const struct fr_cfg *c = r->cfg;

	fr_slot = c->one_slot ? 0 : t->idx; /* idx <= pcpu_mask, or folded by it */
	for (int round = 0; round < c->rounds; round++) {
		uint32_t keep = round % c->keep_every == c->keep_every - 1 ? t->n / 4 : 0;

		fr_wait(r, -1); /* all start at once */
		while (t->n > keep)
			fr_give_back(t, keep ? (uint32_t)mb_rand_below(&t->seed, t->n) : t->n - 1);
		while (fr_take(t))
			;
		fr_wait(r, round); /* every thread met ENOSPC: the last looks */
	}
	return NULL;
}

void fr_run(const struct fr_cfg *c)
{
	struct fr_race r = {.cfg = c, .bad_round = -1};
	struct fr_thread th[FR_THREADS_MAX] = {0};
	pthread_t tid[FR_THREADS_MAX];
	int started = 0;

	ASSERT_TRUE(c->threads >= 2 && c->threads <= FR_THREADS_MAX && c->keep_every > 0 &&
		    c->blocks % 64 == 0);
	r.map = calloc(c->blocks / 64, sizeof(*r.map));
	ASSERT_TRUE(r.map != NULL);
	r.th = th;
	r.nthreads = c->one_slot ? c->threads : (int)c->vol->pcpu_mask + 1;
	if (r.nthreads < 2)
		r.nthreads = 2;
	if (r.nthreads > c->threads)
		r.nthreads = c->threads;
	for (int i = 0; i < r.nthreads; i++) {
		th[i].r = &r;
		th[i].idx = i;
		th[i].seed = mb_test_seed + (uint64_t)i;
		th[i].cap = (uint32_t)(c->blocks / c->len + 64);
		th[i].ex = calloc(th[i].cap, sizeof(*th[i].ex));
		ASSERT_TRUE(th[i].ex != NULL);
	}
	for (; started < r.nthreads; started++)
		if (pthread_create(&tid[started], NULL, fr_thread, &th[started]))
			break;
	ASSERT_EQ_INT(started, r.nthreads); /* a missing thread: its barrier hangs */
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	if (r.bad_round >= 0)
		fprintf(stderr, "round %d of %d: %" PRIu64 " blocks held, %" PRIu64 " free\n",
			r.bad_round, c->rounds, r.bad_held, r.bad_free);
	ASSERT_EQ_INT(atomic_load(&r.err), 0);
	ASSERT_EQ_U64(atomic_load(&r.twice), 0);
	ASSERT_EQ_INT(r.bad_round, -1);
	ASSERT_EQ_U64(mb_free_blocks(c->vol), 0);
	ASSERT_CHECK_CLEAN(c->vol);
	mb_volume_destroy(c->vol);
	for (int i = 0; i < r.nthreads; i++)
		free(th[i].ex);
	free(r.map);
}
