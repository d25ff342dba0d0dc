/* SPDX-License-Identifier: MIT */
/*
 * lock.c - mutex wrappers that carry a lock rank.  In debug
 * builds (MB_DEBUG) each thread keeps the ranks it holds and every
 * acquisition asserts the order declared in enum mb_lock_rank.
 */
#include <stdio.h>
#include <stdlib.h>

#include "mb_int.h"

#ifdef MB_DEBUG
/* Ranks held by this thread, as a bit set (ranks are < 32). */
static _Thread_local uint32_t mb_held_ranks;
static _Thread_local int mb_held_count[32];

static void mb_rank_acquire(int rank)
{
	uint32_t above = mb_held_ranks & ~((2u << rank) - 1);
	uint32_t same = mb_held_ranks & (1u << rank);

	if (above || same) {
		fprintf(stderr, "mballoc: lock order violation: taking rank %d while holding 0x%x\n",
			rank, mb_held_ranks);
		abort();
	}
	mb_held_ranks |= 1u << rank;
	mb_held_count[rank]++;
}

/* A trylock cannot deadlock: it may nest in a lock of its own rank. */
static void mb_rank_acquire_nested(int rank)
{
	mb_held_ranks |= 1u << rank;
	mb_held_count[rank]++;
}

static void mb_rank_release(int rank)
{
	if (--mb_held_count[rank] == 0)
		mb_held_ranks &= ~(1u << rank);
}

static _Thread_local char mb_thread_tag;

bool mb_mutex_held(struct mb_mutex *mx)
{
	return atomic_load_explicit(&mx->owner_tag, memory_order_relaxed) ==
	       (pthread_t *)&mb_thread_tag;
}
#else
#define mb_rank_acquire(r) ((void)(r))
#define mb_rank_acquire_nested(r) ((void)(r))
#define mb_rank_release(r) ((void)(r))
#endif

int mb_mutex_init(struct mb_mutex *mx, int rank)
{
	mx->rank = rank;
#ifdef MB_DEBUG
	atomic_init(&mx->owner_tag, NULL);
#endif
	return -pthread_mutex_init(&mx->m, NULL);
}

void mb_mutex_destroy(struct mb_mutex *mx)
{
	pthread_mutex_destroy(&mx->m);
}

#ifdef MB_DEBUG /* else inline in mb_int.h */
void mb_lock(struct mb_mutex *mx)
{
	mb_rank_acquire(mx->rank);
	pthread_mutex_lock(&mx->m);
#ifdef MB_DEBUG
	atomic_store_explicit(&mx->owner_tag, (pthread_t *)&mb_thread_tag, memory_order_relaxed);
#endif
}

int mb_trylock(struct mb_mutex *mx)
{
	if (pthread_mutex_trylock(&mx->m))
		return -EBUSY;
	mb_rank_acquire(mx->rank);
#ifdef MB_DEBUG
	atomic_store_explicit(&mx->owner_tag, (pthread_t *)&mb_thread_tag, memory_order_relaxed);
#endif
	return 0;
}

/*
 * Like mb_trylock, but allowed while holding a lock of the same or a higher
 * rank: it never waits, so it cannot close a cycle.  For taking a second
 * group's lock from under a first (gcache.c drops a cold group's buddy).
 */
int mb_trylock_nested(struct mb_mutex *mx)
{
	if (pthread_mutex_trylock(&mx->m))
		return -EBUSY;
	mb_rank_acquire_nested(mx->rank);
#ifdef MB_DEBUG
	atomic_store_explicit(&mx->owner_tag, (pthread_t *)&mb_thread_tag, memory_order_relaxed);
#endif
	return 0;
}

void mb_unlock(struct mb_mutex *mx)
{
#ifdef MB_DEBUG
	assert(mb_mutex_held(mx));
	atomic_store_explicit(&mx->owner_tag, NULL, memory_order_relaxed);
#endif
	pthread_mutex_unlock(&mx->m);
	mb_rank_release(mx->rank);
}
#endif

/*
 * pthread_cond_wait on mx: mx is released during the sleep and held again
 * on return.  Its rank stays counted as held meanwhile (the thread takes
 * nothing while asleep); the owner tag is cleared so another thread may
 * take mx.
 */
void mb_cond_wait(pthread_cond_t *cv, struct mb_mutex *mx)
{
#ifdef MB_DEBUG
	assert(mb_mutex_held(mx));
	atomic_store_explicit(&mx->owner_tag, NULL, memory_order_relaxed);
#endif
	pthread_cond_wait(cv, &mx->m);
#ifdef MB_DEBUG
	atomic_store_explicit(&mx->owner_tag, (pthread_t *)&mb_thread_tag, memory_order_relaxed);
#endif
}
