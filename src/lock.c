/* SPDX-License-Identifier: MIT */
/*
 * lock.c - the mutex (a futex word on Linux, see mb_int.h) and its
 * condition variable: their slow paths, and the wrappers that carry a lock
 * rank.  In debug builds (MB_DEBUG) each thread keeps the ranks it holds and
 * every acquisition asserts the order declared in enum mb_lock_rank.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __linux__
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#endif

#include "mb_int.h"

#ifdef MB_LOCK_FUTEX
/*
 * Polls of a held lock before sleeping.  A group lock is held for a few
 * hundred instructions, so a locker on another core usually sees it free
 * within the spin and saves two system calls (its sleep and the holder's
 * wake); a holder that was preempted is not waited for long.  Only the
 * first waiter spins: once a waiter is counted others already sleep, the lock
 * is oversubscribed, and spinning would take the CPU from the holder.
 */
#ifndef MB_LOCK_SPIN
#define MB_LOCK_SPIN 40
#endif

static inline void mb_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/*
 * Sleeps while *word == val (or returns at once if it is not, or
 * spuriously); a timed sleep when a wake may be missed (no barrier, see
 * mb_mutex_lock_slow).
 */
static void mb_futex_wait(_Atomic uint32_t *word, uint32_t val, bool timed)
{
	static const struct timespec tick = { 0, 1000000 }; /* 1 ms */

	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, timed ? &tick : NULL, NULL,
		0);
}

static void mb_futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/*
 * Unlocks skip their fence (mb_mutex_unlock_raw) when the kernel has
 * membarrier: registered once, before main, so that no lock is in use
 * yet whatever the value.  Never changes afterwards.
 */
bool mb_lock_asym;

static int mb_membarrier(int cmd)
{
#ifdef SYS_membarrier
	return (int)syscall(SYS_membarrier, cmd, 0, 0);
#else
	(void)cmd;
	return -1;
#endif
}

__attribute__((constructor)) static void mb_lock_asym_init(void)
{
	mb_lock_asym = !mb_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED);
}

/*
 * A full barrier on every running thread of the process, the sleeper's
 * half of the unlock's Dekker (mb_mutex_unlock_raw).  False if it could
 * not be had (a process whose registration was lost): the caller then
 * sleeps in short ticks, so a missed wake costs a tick, never a hang.
 */
bool mb_lock_remote_fence(void)
{
	if (!mb_lock_asym)
		return true; /* every unlock fences itself */
	if (!mb_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		return true;
	return !mb_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) &&
	       !mb_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
}

/* The CAS of mb_mutex_lock_raw failed: spin a while, then sleep. */
void mb_mutex_lock_slow(struct mb_mutex *mx)
{
	uint32_t c;

	for (int i = 0; i < MB_LOCK_SPIN; i++) {
		mb_cpu_relax();
		/* relaxed: only hints of when to try the CAS, which orders */
		if (atomic_load_explicit(&mx->waiters, memory_order_relaxed) & ~MB_MUTEX_XCHG)
			break;
		c = atomic_load_explicit(&mx->word, memory_order_relaxed);
		if (c == 2)
			break;
		/* acquire; pairs with the release store in mb_mutex_unlock_raw */
		if (c == 0 && atomic_compare_exchange_weak_explicit(&mx->word, &c, 1,
								    memory_order_acquire,
								    memory_order_relaxed))
			return;
	}
	/*
	 * Count ourselves.  On a lock whose unlocks are still plain, set
	 * MB_MUTEX_XCHG, then the barrier: an unlock either drained its store
	 * before the barrier (our exchange below reads 0) or loads waiters
	 * after it (it sees us and wakes).  Once the flag is set, later
	 * sleepers skip the barrier: an unlock that read waiters before the
	 * flag and stores after it still loads waiters after its store, sees
	 * the flag and wakes; one whose load came first had its store drained
	 * by our barrier, and we then take the lock with a 2, so our unlock
	 * wakes the next.  Sleep while the word reads 2 (the unlock that swaps
	 * out a 2 wakes one; mb_mutex_unlock_slow).
	 */
	uint32_t w = atomic_fetch_add_explicit(&mx->waiters, 1, memory_order_seq_cst);
	bool timed = false;

	if (!(w & MB_MUTEX_XCHG)) {
		atomic_fetch_or_explicit(&mx->waiters, MB_MUTEX_XCHG, memory_order_seq_cst);
		timed = !mb_lock_remote_fence();
	}
	/* acquire; pairs with the release store or exchange of the unlock */
	while (atomic_exchange_explicit(&mx->word, 2, memory_order_acquire) != 0)
		mb_futex_wait(&mx->word, 2, timed);
	/* relaxed: an unlock reading the count stale only wakes in vain */
	atomic_fetch_sub_explicit(&mx->waiters, 1, memory_order_relaxed);
}

/* The plain unlock saw a waiter after its store: wake one. */
void mb_mutex_wake(struct mb_mutex *mx)
{
	mb_futex_wake(&mx->word, 1);
}

/*
 * The unlock read waiters nonzero before its store: a lock that has been
 * slept on swaps the word out and wakes one sleeper if it swapped out a 2;
 * one whose first sleeper is on its way (no flag yet) stores and wakes.
 */
void mb_mutex_unlock_slow(struct mb_mutex *mx, uint32_t waiters)
{
	if (waiters & MB_MUTEX_XCHG) {
		/* release; pairs with the acquire CAS or exchange of the next locker */
		if (atomic_exchange_explicit(&mx->word, 0, memory_order_release) == 2)
			mb_futex_wake(&mx->word, 1);
		return;
	}
	/* release; as in mb_mutex_unlock_raw */
	atomic_store_explicit(&mx->word, 0, memory_order_release);
	mb_futex_wake(&mx->word, 1);
}
#endif

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
#ifdef MB_LOCK_FUTEX
	atomic_init(&mx->word, 0);
	atomic_init(&mx->waiters, 0);
	return 0;
#else
	return -pthread_mutex_init(&mx->m, NULL);
#endif
}

void mb_mutex_destroy(struct mb_mutex *mx)
{
#ifdef MB_LOCK_FUTEX
	/* relaxed: the destroyer is the last user, ordered by whoever handed it over */
	assert(atomic_load_explicit(&mx->word, memory_order_relaxed) == 0);
#else
	pthread_mutex_destroy(&mx->m);
#endif
}

#ifdef MB_DEBUG /* else inline in mb_int.h */
void mb_lock(struct mb_mutex *mx)
{
	mb_rank_acquire(mx->rank);
	mb_mutex_lock_raw(mx);
	atomic_store_explicit(&mx->owner_tag, (pthread_t *)&mb_thread_tag, memory_order_relaxed);
}

int mb_trylock(struct mb_mutex *mx)
{
	if (mb_mutex_trylock_raw(mx))
		return -EBUSY;
	mb_rank_acquire(mx->rank);
	atomic_store_explicit(&mx->owner_tag, (pthread_t *)&mb_thread_tag, memory_order_relaxed);
	return 0;
}

/*
 * Like mb_trylock, but allowed while holding a lock of the same or a higher
 * rank: it never waits, so it cannot close a cycle.  For taking a second
 * group's lock from under a first (gcache.c drops a cold group's buddy).
 */
int mb_trylock_nested(struct mb_mutex *mx)
{
	if (mb_mutex_trylock_raw(mx))
		return -EBUSY;
	mb_rank_acquire_nested(mx->rank);
	atomic_store_explicit(&mx->owner_tag, (pthread_t *)&mb_thread_tag, memory_order_relaxed);
	return 0;
}

void mb_unlock(struct mb_mutex *mx)
{
	assert(mb_mutex_held(mx));
	atomic_store_explicit(&mx->owner_tag, NULL, memory_order_relaxed);
	mb_mutex_unlock_raw(mx);
	mb_rank_release(mx->rank);
}
#endif

int mb_cond_init(struct mb_cond *cv)
{
#ifdef MB_LOCK_FUTEX
	atomic_init(&cv->seq, 0);
	return 0;
#else
	return -pthread_cond_init(&cv->c, NULL);
#endif
}

void mb_cond_destroy(struct mb_cond *cv)
{
#ifndef MB_LOCK_FUTEX
	pthread_cond_destroy(&cv->c);
#else
	(void)cv;
#endif
}

/*
 * Waits on cv: mx is released during the sleep and held again on return,
 * which may be spurious (callers loop on their condition).  mx's rank stays
 * counted as held meanwhile (the thread takes nothing while asleep); the
 * owner tag is cleared so another thread may take mx.
 */
void mb_cond_wait(struct mb_cond *cv, struct mb_mutex *mx)
{
#ifdef MB_DEBUG
	assert(mb_mutex_held(mx));
	atomic_store_explicit(&mx->owner_tag, NULL, memory_order_relaxed);
#endif
#ifdef MB_LOCK_FUTEX
	/* relaxed: read under mx, as every bump is; mx's unlock below orders
	   this read before a broadcaster's bump, which then stops our sleep */
	uint32_t seq = atomic_load_explicit(&cv->seq, memory_order_relaxed);

	mb_mutex_unlock_raw(mx);
	mb_futex_wait(&cv->seq, seq, false);
	mb_mutex_lock_raw(mx);
#else
	pthread_cond_wait(&cv->c, &mx->m);
#endif
#ifdef MB_DEBUG
	atomic_store_explicit(&mx->owner_tag, (pthread_t *)&mb_thread_tag, memory_order_relaxed);
#endif
}

/* Wakes every waiter on cv; the caller holds the waiters' mutex. */
void mb_cond_broadcast(struct mb_cond *cv)
{
#ifdef MB_LOCK_FUTEX
	/* relaxed: under the mutex, which orders it against every waiter's read */
	atomic_fetch_add_explicit(&cv->seq, 1, memory_order_relaxed);
	mb_futex_wake(&cv->seq, INT_MAX);
#else
	pthread_cond_broadcast(&cv->c);
#endif
}
