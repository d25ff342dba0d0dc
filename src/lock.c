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

/* ---- biased locks (struct mb_mutex says how they work) ---- */

/*
 * A thread without a record of its own points at these, so that the
 * inline paths need no NULL test: no lock is ever biased to either (the
 * streak gets the thread a real record first).  Nobody's in[] stays all
 * NULL; the sink's is written by the _at entries of every such thread and
 * read for nothing (mb_int.h, mb_lock_entry, says why each is safe).
 */
struct mb_lock_thr mb_lock_nobody;
struct mb_lock_thr mb_lock_sink MB_ALIGNED; /* its own line: written by many threads */
_Thread_local struct mb_lock_thr *mb_lock_self __attribute__((tls_model("initial-exec"))) =
    &mb_lock_nobody;
_Thread_local struct mb_lock_thr *mb_lock_entry __attribute__((tls_model("initial-exec"))) =
    &mb_lock_sink;

/*
 * Records are never freed: a lock's `bias` may name the record of a thread
 * that has exited, and its revoker reads it.  An exiting thread's record
 * goes to the free list and the next new thread takes it over, biases and
 * all (the old thread holds nothing any more).  One cache line each: an
 * owner writes its own at every entry.
 */
struct mb_lock_rec {
	struct mb_lock_thr thr;  /* first: a record is its thr */
	struct mb_lock_rec *next; /* free list, under mb_rec_lock */
} MB_ALIGNED;

static pthread_mutex_t mb_rec_lock = PTHREAD_MUTEX_INITIALIZER; /* the free list, the pool */
static struct mb_lock_rec *mb_rec_free;
static struct mb_lock_rec mb_rec_pool[64]; /* the first threads' (no malloc) */
static unsigned mb_rec_used;
static pthread_key_t mb_rec_key;
static pthread_once_t mb_rec_once = PTHREAD_ONCE_INIT;
static _Thread_local bool mb_rec_exiting; /* after the destructor: no new record */

/* Thread exit: the record goes back (it names no lock, this thread holds none). */
static void mb_rec_put(void *p)
{
	struct mb_lock_rec *r = p;

	for (int i = 0; i < MB_BIAS_RANKS; i++)
		assert(!atomic_load_explicit(&r->thr.in[i], memory_order_relaxed));
	mb_lock_self = &mb_lock_nobody;
	mb_lock_entry = &mb_lock_sink;
	mb_rec_exiting = true;
	pthread_mutex_lock(&mb_rec_lock);
	r->next = mb_rec_free;
	mb_rec_free = r;
	pthread_mutex_unlock(&mb_rec_lock);
}

static bool mb_rec_key_ok; /* mb_rec_key was made: the unload deletes it */

static void mb_rec_key_init(void)
{
	if (pthread_key_create(&mb_rec_key, mb_rec_put))
		mb_rec_exiting = true; /* this thread goes unbiased; others retry (once ran) */
	else
		mb_rec_key_ok = true;
}

/*
 * The library is unloaded (dlclose) or the process exits: threads still
 * alive must not run mb_rec_put, which goes away with the library (as
 * prealloc.c's mb_pa_cache_fini).  Their records are never handed back,
 * which no one can miss: the pool and every lock go with the library.
 * Since the streak that biases a lock is 4 (MB_BIAS_STREAK_MIN), nearly
 * every thread that calls in has a record: test_dlclose's worker crashed
 * at its exit without this.
 */
__attribute__((destructor)) static void mb_rec_fini(void)
{
	if (mb_rec_key_ok)
		pthread_key_delete(mb_rec_key);
}

/* This thread's record, made on its first streak; NULL if none can be had. */
static struct mb_lock_thr *mb_rec_get(void)
{
	struct mb_lock_rec *r = NULL;

	pthread_once(&mb_rec_once, mb_rec_key_init);
	if (mb_rec_exiting)
		return NULL;
	pthread_mutex_lock(&mb_rec_lock);
	if (mb_rec_free) {
		r = mb_rec_free;
		mb_rec_free = r->next;
	} else if (mb_rec_used < sizeof(mb_rec_pool) / sizeof(mb_rec_pool[0])) {
		r = &mb_rec_pool[mb_rec_used++];
	}
	pthread_mutex_unlock(&mb_rec_lock);
	if (!r) {
		if (posix_memalign((void **)&r, MB_CACHELINE, sizeof(*r)))
			return NULL;
		memset(r, 0, sizeof(*r)); /* pooled and recycled ones name no lock */
	}
	if (pthread_setspecific(mb_rec_key, r)) {
		pthread_mutex_lock(&mb_rec_lock);
		r->next = mb_rec_free;
		mb_rec_free = r;
		pthread_mutex_unlock(&mb_rec_lock);
		return NULL;
	}
	mb_lock_self = &r->thr;
	mb_lock_entry = &r->thr;
	return &r->thr;
}

/*
 * The streak that biases a lock (MB_BIAS_STREAK_MIN, mb_int.h): raised by
 * mb_bias_revoked, never lowered.  Relaxed: a stale value only biases a
 * lock a little sooner or later.
 */
_Atomic uint32_t mb_bias_need = MB_BIAS_STREAK_MIN;

/* Biases granted to this thread (mb_mutex_streak): mb_held_alone_since's
   epoch.  Per thread, not per record: a record taken over from a thread
   that exited brings biases granted before this thread ran.  From 1: no
   epoch is 0, which names none (alloc.c's before a claim took one). */
_Thread_local uint64_t mb_bias_grants __attribute__((tls_model("initial-exec"))) = 1;

/* A bias held by another thread was revoked: lengthen the streak. */
static void mb_bias_revoked(void)
{
	uint32_t need = atomic_load_explicit(&mb_bias_need, memory_order_relaxed);

	if (need < MB_BIAS_STREAK)
		atomic_store_explicit(&mb_bias_need, need * 4 < MB_BIAS_STREAK ? need * 4 : MB_BIAS_STREAK,
				      memory_order_relaxed);
}

/*
 * A word unlock completed mb_bias_need unlocks in a row by this thread
 * (cand mb_lock_nobody: by threads without a record, most likely this one
 * alone, which gets its record now).  Word held.  The bias is set before the
 * word's release store, so the next holder of the word sees it.
 */
static __attribute__((noinline)) void mb_mutex_streak(struct mb_mutex *mx)
{
	struct mb_lock_thr *me = mb_lock_self != &mb_lock_nobody ? mb_lock_self : mb_rec_get();

	mx->cand = me;
	mx->streak = 0; /* unbiased (no record, no membarrier): count again */
	if (me && mb_lock_asym) {
		mb_bias_grants++; /* before the bias is ours: see mb_held_alone_since */
		atomic_store_explicit(&mx->bias, me, memory_order_relaxed);
	}
}

/* mb_mutex_unlock_raw of a lock held by the word (me: mb_lock_self). */
void mb_mutex_unlock_word(struct mb_mutex *mx, struct mb_lock_thr *me)
{
	if (mx->cand != me) { /* plain: under the word */
		mx->cand = me;
		mx->streak = 0;
	}
	/* relaxed: see mb_bias_need */
	if (MB_UNLIKELY(++mx->streak >= atomic_load_explicit(&mb_bias_need, memory_order_relaxed)))
		mb_mutex_streak(mx);
	mb_mutex_word_unlock(mx);
}

/*
 * Clears the bias, the word held; returns the owner whose record the
 * caller must check, or NULL if that is the caller (it came by the word,
 * so its record does not name mx).  Then the barrier of the Dekker (see
 * struct mb_mutex): after it, an owner not seen inside cannot enter.
 */
static struct mb_lock_thr *mb_unbias_begin(struct mb_mutex *mx)
{
	/* relaxed: written under the word, which we hold */
	struct mb_lock_thr *o = atomic_load_explicit(&mx->bias, memory_order_relaxed);

	atomic_store_explicit(&mx->bias, NULL, memory_order_relaxed);
	mx->cand = NULL;
	mx->streak = 0;
	if (o == mb_lock_self)
		return NULL;
	mb_bias_revoked();
	if (!mb_lock_remote_fence()) {
		/*
		 * No membarrier after all (registration lost): the owner's
		 * record store may still sit in its CPU's store buffer.  A
		 * millisecond drains any store buffer; after it the record
		 * shows an owner that got in, and one that did not yet store
		 * will re-read `bias` after our store is visible.
		 */
		static const struct timespec ms = { 0, 1000000 };

		nanosleep(&ms, NULL);
	}
	return o;
}

/* Whether o's record names mx; acquire: pairs with its exit's release. */
static bool mb_bias_inside(struct mb_lock_thr *o, struct mb_mutex *mx)
{
	return atomic_load_explicit(&o->in[mx->rank], memory_order_acquire) == mx;
}

/*
 * The word was taken and `bias` is set: revoke it, waiting while the owner
 * is inside.  The owner does not wake us (its exit is one store), so the
 * wait polls: a few spins, then sleeps growing to a millisecond.  Rare: at
 * most once per mb_bias_need word locks of the lock.
 */
void mb_mutex_unbias(struct mb_mutex *mx)
{
	struct mb_lock_thr *o = mb_unbias_begin(mx);

	for (long ns = 1000; o && mb_bias_inside(o, mx);) {
		struct timespec t = { 0, ns };

		for (int i = 0; i < MB_LOCK_SPIN && mb_bias_inside(o, mx); i++)
			mb_cpu_relax();
		if (!mb_bias_inside(o, mx))
			break;
		nanosleep(&t, NULL);
		ns = ns < 1000000 ? 2 * ns : 1000000;
	}
}

/*
 * The trylock's revocation: it never waits (it may nest in a lock of the
 * same rank, whose holder may be the owner).  Owner inside: the bias is
 * put back and the word released; false.  Else as mb_mutex_unbias; true.
 */
bool mb_mutex_unbias_try(struct mb_mutex *mx)
{
	struct mb_lock_thr *o = mb_unbias_begin(mx);

	if (!o || !mb_bias_inside(o, mx))
		return true;
	/* relaxed: the word's release below publishes it */
	atomic_store_explicit(&mx->bias, o, memory_order_relaxed);
	mb_mutex_word_unlock(mx);
	return false;
}
#endif

#ifdef MB_DEBUG
/* Ranks held by this thread, as a bit set (ranks are < 32). */
static _Thread_local uint32_t mb_held_ranks;
static _Thread_local int mb_held_count[32];

/* mb_one_check's failure: a lock or claim told "one thread" with two. */
void mb_one_check_failed(void)
{
	fprintf(stderr, "mballoc: a one-thread lock or claim while another thread runs\n");
	abort();
}

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

bool mb_mutex_held(const struct mb_mutex *mx)
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
	assert(rank >= 0 && rank < MB_BIAS_RANKS); /* indexes a record's in[] */
	atomic_init(&mx->bias, NULL);
	mx->cand = NULL;
	mx->streak = 0;
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
/* A zeroed lock (rank 0) is a slot's resv_lock: MB_RANK_SLOT (mb_int.h). */
static int mb_rank_of(const struct mb_mutex *mx)
{
	return mx->rank ? mx->rank : MB_RANK_SLOT;
}

void mb_lock(struct mb_mutex *mx)
{
	mb_rank_acquire(mb_rank_of(mx));
	mb_mutex_lock_raw(mx);
	atomic_store_explicit(&mx->owner_tag, (pthread_t *)&mb_thread_tag, memory_order_relaxed);
}

int mb_trylock(struct mb_mutex *mx)
{
	if (mb_mutex_trylock_raw_as(mx, false)) /* never nested: checked below */
		return -EBUSY;
	mb_rank_acquire(mb_rank_of(mx));
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
	mb_rank_acquire_nested(mb_rank_of(mx));
	atomic_store_explicit(&mx->owner_tag, (pthread_t *)&mb_thread_tag, memory_order_relaxed);
	return 0;
}

void mb_unlock(struct mb_mutex *mx)
{
	assert(mb_mutex_held(mx));
	atomic_store_explicit(&mx->owner_tag, NULL, memory_order_relaxed);
	mb_mutex_unlock_raw(mx);
	mb_rank_release(mb_rank_of(mx));
}

/* mb_lock_if_biased took mx: mb_lock's checks, after the fact (mb_int.h). */
void mb_lock_noted(struct mb_mutex *mx)
{
	mb_rank_acquire(mb_rank_of(mx));
	atomic_store_explicit(&mx->owner_tag, (pthread_t *)&mb_thread_tag, memory_order_relaxed);
}

/* mb_unlock_biased is about to drop mx: mb_unlock's checks. */
void mb_unlock_noted(struct mb_mutex *mx)
{
	assert(mb_mutex_held(mx));
	atomic_store_explicit(&mx->owner_tag, NULL, memory_order_relaxed);
	mb_rank_release(mb_rank_of(mx));
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
