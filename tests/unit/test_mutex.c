/* SPDX-License-Identifier: MIT */
/*
 * test_mutex.c - the mutex and condition variable of lock.c (a futex word
 * on Linux).
 *
 * trylock_busy: a held lock refuses trylock and trylock_nested with -EBUSY
 * from another thread, and a free one grants them.
 * exclusion: threads add to plain counters under one lock, some holding it
 * across a yield so that the others spin out and sleep; no update may be
 * lost (and TSan sees each critical section ordered after the last).
 * sleeper_is_woken: a thread that went to sleep on the lock (the word reads
 * 2) gets it when the holder unlocks; a missing wake would hang the test.
 * cond_broadcast: waiters sleep on a condition until a broadcast under the
 * mutex; rounds race the broadcast against each waiter's way to sleep, so
 * a lost wake-up would hang.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "harness.h"
#include "mb_int.h"

#define NTHR 4

struct shared {
	struct mb_mutex mx;
	struct mb_cond cv;
	uint64_t a, b;   /* protected by mx */
	int iters;
	int flag;        /* protected by mx */
	int woken;       /* protected by mx */
	int try_rc[2];
};

static void *try_both(void *arg)
{
	struct shared *s = arg;

	s->try_rc[0] = mb_trylock(&s->mx);
	if (!s->try_rc[0])
		mb_unlock(&s->mx);
	s->try_rc[1] = mb_trylock_nested(&s->mx);
	if (!s->try_rc[1])
		mb_unlock(&s->mx);
	return NULL;
}

TEST(trylock_busy)
{
	struct shared s = { 0 };
	pthread_t t;

	ASSERT_EQ_INT(mb_mutex_init(&s.mx, MB_RANK_LEAF), 0);
	mb_lock(&s.mx);
	ASSERT_EQ_INT(pthread_create(&t, NULL, try_both, &s), 0);
	pthread_join(t, NULL);
	ASSERT_EQ_INT(s.try_rc[0], -EBUSY);
	ASSERT_EQ_INT(s.try_rc[1], -EBUSY);
	mb_unlock(&s.mx);
	ASSERT_EQ_INT(pthread_create(&t, NULL, try_both, &s), 0);
	pthread_join(t, NULL);
	ASSERT_EQ_INT(s.try_rc[0], 0);
	ASSERT_EQ_INT(s.try_rc[1], 0);
	mb_mutex_destroy(&s.mx);
}

static void *adder(void *arg)
{
	struct shared *s = arg;

	for (int i = 0; i < s->iters; i++) {
		mb_lock(&s->mx);
		uint64_t a = s->a;

		/* now and then hold the lock across a yield: the others run
		   out of spins and sleep, so the futex wait and wake run too */
		if ((i & 63) == 0)
			sched_yield();
		s->a = a + 1;
		s->b += 2;
		mb_unlock(&s->mx);
	}
	return NULL;
}

TEST(exclusion)
{
	struct shared s = { .iters = 20000 };
	pthread_t t[NTHR];

	ASSERT_EQ_INT(mb_mutex_init(&s.mx, MB_RANK_LEAF), 0);
	for (int i = 0; i < NTHR; i++)
		ASSERT_EQ_INT(pthread_create(&t[i], NULL, adder, &s), 0);
	for (int i = 0; i < NTHR; i++)
		pthread_join(t[i], NULL);
	ASSERT_EQ_U64(s.a, (uint64_t)NTHR * s.iters);
	ASSERT_EQ_U64(s.b, 2 * (uint64_t)NTHR * s.iters);
	ASSERT_EQ_INT(mb_trylock(&s.mx), 0); /* left free */
	mb_unlock(&s.mx);
	mb_mutex_destroy(&s.mx);
}

static void *take_once(void *arg)
{
	struct shared *s = arg;

	mb_lock(&s->mx);
	s->a++;
	mb_unlock(&s->mx);
	return NULL;
}

TEST(sleeper_is_woken)
{
	struct shared s = { 0 };

	ASSERT_EQ_INT(mb_mutex_init(&s.mx, MB_RANK_LEAF), 0);
	for (int round = 0; round < 50; round++) {
		pthread_t t;

		mb_lock(&s.mx);
		ASSERT_EQ_INT(pthread_create(&t, NULL, take_once, &s), 0);
#ifdef MB_LOCK_FUTEX
		/* until the other thread has marked the lock contended (it
		   then sleeps, or is about to); it cannot take the lock, so
		   this ends as soon as it gets past its spin */
		while (atomic_load_explicit(&s.mx.word, memory_order_relaxed) != 2)
			sched_yield();
#endif
		mb_unlock(&s.mx);
		pthread_join(t, NULL);
	}
	ASSERT_EQ_U64(s.a, 50);
	mb_mutex_destroy(&s.mx);
}

static void *cond_waiter(void *arg)
{
	struct shared *s = arg;

	mb_lock(&s->mx);
	while (!s->flag)
		mb_cond_wait(&s->cv, &s->mx);
	s->woken++;
	mb_unlock(&s->mx);
	return NULL;
}

TEST(cond_broadcast)
{
	struct shared s = { 0 };

	ASSERT_EQ_INT(mb_mutex_init(&s.mx, MB_RANK_LEAF), 0);
	ASSERT_EQ_INT(mb_cond_init(&s.cv), 0);
	for (int round = 0; round < 200; round++) {
		pthread_t t[NTHR];

		mb_lock(&s.mx);
		s.flag = 0;
		s.woken = 0;
		mb_unlock(&s.mx);
		for (int i = 0; i < NTHR; i++)
			ASSERT_EQ_INT(pthread_create(&t[i], NULL, cond_waiter, &s), 0);
		if (round & 1)
			sched_yield(); /* let some reach their sleep first */
		mb_lock(&s.mx);
		s.flag = 1;
		mb_cond_broadcast(&s.cv);
		mb_unlock(&s.mx);
		for (int i = 0; i < NTHR; i++)
			pthread_join(t[i], NULL);
		ASSERT_EQ_INT(s.woken, NTHR);
	}
	mb_cond_destroy(&s.cv);
	mb_mutex_destroy(&s.mx);
}
