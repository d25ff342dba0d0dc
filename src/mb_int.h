/* SPDX-License-Identifier: MIT */
/*
 * mb_int.h - the core's internal types, shared by the library's source
 * files: units, the volume, groups, preallocations, locality groups,
 * per-CPU state, lock ranks and debug assertions.  Nothing here is
 * exported (the build uses -fvisibility=hidden and src/mballoc.map).
 * The other internal headers, each for one layer: alloc_ctx.h (one
 * mb_alloc call), store.h (the store interface), commit.h (the commit
 * machinery), dev.h, ondisk.h, journal.h and store_mballoc.h (the mballoc
 * format store), persist.h (the layer above the stores).
 *
 * Thread-safety of each field is written next to it.  "hint" means a
 * lock-free reader may see a stale value and the code that uses it must be
 * (and says why it is) safe with that.
 */
#ifndef MB_INT_H
#define MB_INT_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mballoc.h"
#include "avl.h"
#include "mb_list.h"

typedef uint32_t mb_grp_t;    /* group number */
typedef uint32_t mb_grpblk_t; /* block number relative to its group */
typedef uint64_t mb_fsblk_t;  /* block number on the volume */

#define MB_CACHELINE 64
#define MB_ALIGNED __attribute__((aligned(MB_CACHELINE)))
#define MB_LIKELY(x) __builtin_expect(!!(x), 1)
#define MB_UNLIKELY(x) __builtin_expect(!!(x), 0)

/*
 * Plain fields that are written under a lock and read without it as hints.
 * Relaxed atomics make the race defined (and ThreadSanitizer-clean); the
 * pairing is always "writer holds the lock, reader tolerates staleness".
 */
#define MB_READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define MB_WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* ------------------------------------------------------------------------ */
/* Locks with ranks (debug builds check the order, jemalloc-witness style)   */
/* ------------------------------------------------------------------------ */

/*
 * Lock order, outermost first.  A thread may only take a lock whose rank is
 * greater than every rank it holds (two locks of one rank are never held
 * together).  Written once here; checked by mb_lock() when MB_DEBUG is on.
 */
enum mb_lock_rank {
	MB_RANK_VOLUME = 1,    /* mb_volume.v_lock: the file list */
	MB_RANK_FILE_DATA,     /* mb_file.f_data_sem: one call per file; its PA list */
	MB_RANK_LG,            /* mb_lg.lg_mutex: one user per locality group; its buckets */
	MB_RANK_COMMIT,        /* mb_persist.commit_mx: one commit at a time */
	MB_RANK_GROUP,         /* mb_group.bb_lock: bitmaps, counters, PA state */
	MB_RANK_EVENT,         /* mb_space_event.lock: only the sleep of a failing
				  allocator (wait.c); signalled under bb_lock */
	MB_RANK_LEAF,          /* short leaf locks: nothing is taken inside
				  (but a slot's resv_lock, in rs_lock) */
	MB_RANK_SLOT,          /* mb_pcpu.resv_lock: one slot's resv_word, inside
				  rs_lock or bb_lock; nothing is taken inside.
				  A zeroed mb_mutex (rank 0: the slots are
				  memset, never initialized) has this rank; so
				  has mb_volume.set_locks, inside bb_lock */
};

/*
 * The lock itself.  On Linux a 32-bit word and the futex system call, so an
 * uncontended lock is one compare-and-swap and an unlock a plain store,
 * both inline; elsewhere, or with -DMB_LOCK_PTHREAD, the pthread mutex.
 *
 * The word has three states: 0 free, 1 held, 2 held and a thread may be
 * asleep on it.  A locker that finds it taken spins briefly, then swaps in
 * 2 and sleeps while the word still reads 2.  lock.c has the slow paths.
 *
 * Unlocks come in two kinds, chosen per lock by its history:
 * - Never contended (the common case: a file's lock, a group one thread
 *   uses): the unlock is a plain store of 0 and a plain load of waiters,
 *   no locked instruction.  That is one half of an asymmetric Dekker; a
 *   sleeper counts itself in waiters, then runs membarrier (a barrier on
 *   every running thread), so either its later look at the word sees the
 *   store or the unlock's load sees the count.
 * - Once a thread has had to sleep on it, the lock sets MB_MUTEX_XCHG in
 *   waiters, for good: its unlocks swap out the word and wake one sleeper
 *   when they swap out a 2 (Drepper's mutex).  The woken thread swaps in 2
 *   again, so each later unlock wakes the next, and a thread that takes the
 *   lock without sleeping (0 to 1) unlocks without a wake.  Under
 *   oversubscription this is what matters: a plain unlock must wake on
 *   every release while anyone waits, and every sleeper must pay a
 *   membarrier (80 threads on 2 cores ran at half the speed).
 * Every change that takes the lock is acquire and pairs with the release
 * store or exchange of the unlock before it (ThreadSanitizer sees it).
 *
 * Bias: a lock one thread takes over and over (a file's f_data_sem, the
 * group lock of the PA a stream is using) is handed to that thread, which
 * then takes and drops it with plain stores into its own record
 * (struct mb_lock_thr), no locked instruction.  Any other thread takes the
 * word as usual and, finding `bias` set, revokes it before it goes on: it
 * clears `bias`, issues a barrier on every thread of the process
 * (membarrier) and waits until the owner's record no longer names the
 * lock.  That is a Dekker pair with the owner's entry (mb_bias_enter:
 * record the lock, then re-read `bias`): either the owner's store was
 * drained by the barrier and the revoker waits for it, or its re-read
 * comes after the barrier and sees `bias` cleared.  `bias` is set only by
 * the holder of the word, at its unlock, after mb_bias_need unlocks in a
 * row by the same thread (cand, streak): MB_BIAS_STREAK_MIN until a bias
 * was revoked by another thread, then MB_BIAS_STREAK, so a lock shared
 * between threads is revoked at most once per that many word locks.  Without membarrier
 * (mb_lock_asym false) nothing is ever biased.
 */
#if defined(__linux__) && !defined(MB_LOCK_PTHREAD)
#define MB_LOCK_FUTEX 1
#endif

struct mb_mutex {
#ifdef MB_LOCK_FUTEX
	_Atomic uint32_t word;    /* 0 free, 1 held: the futex word */
	/* threads past their spin, about to sleep or asleep; MB_MUTEX_XCHG */
	_Atomic uint32_t waiters;
	/* the thread (its record) the lock is biased to, or NULL; written by the
	   word's holder only, read by the owner's entry without the word */
	_Atomic(struct mb_lock_thr *) bias;
	struct mb_lock_thr *cand; /* under the word: the last word holder */
	uint32_t streak;          /* under the word: its unlocks in a row */
#else
	pthread_mutex_t m;
#endif
	int rank;
#ifdef MB_DEBUG
	_Atomic(pthread_t *) owner_tag; /* debug: which thread holds it */
#endif
};

/*
 * A condition variable for an mb_mutex: wait and broadcast only, both with
 * the mutex held.  On the futex lock a 32-bit sequence: a waiter reads it
 * under the mutex, drops the mutex and sleeps while it is unchanged; a
 * broadcast bumps it under the mutex and wakes all, so a bump between the
 * read and the sleep makes the sleep return at once (no lost wake-up).
 */
struct mb_cond {
#ifdef MB_LOCK_FUTEX
	_Atomic uint32_t seq; /* changed under the mutex; relaxed: the mutex orders it */
#else
	pthread_cond_t c;
#endif
};

int mb_mutex_init(struct mb_mutex *mx, int rank);
void mb_mutex_destroy(struct mb_mutex *mx);
int mb_cond_init(struct mb_cond *cv);
void mb_cond_destroy(struct mb_cond *cv);
void mb_cond_wait(struct mb_cond *cv, struct mb_mutex *mx);
void mb_cond_broadcast(struct mb_cond *cv);

/* The process has one thread (see mb_mutex_lock_raw and mb_ctr_add). */
#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define MB_SINGLE_THREADED() (__libc_single_threaded != 0)
#endif
#endif
#ifndef MB_SINGLE_THREADED
#define MB_SINGLE_THREADED() false
#endif

/*
 * Read-modify-writes of the per-CPU counters (struct mb_pcpu).  While the
 * process has one thread nobody else reads or writes them, as for the
 * lock: a load and a store instead of a locked instruction, which costs
 * about 20 cycles (a PA hit makes two, a regular allocation four or
 * five).  `mo` orders the atomic path only; with one thread there is no
 * other thread to order against.  Unsigned arithmetic: a counter wraps,
 * as the atomic's would, instead of overflowing.
 */
static inline void mb_ctr_add(_Atomic uint64_t *c, uint64_t n, memory_order mo)
{
	if (MB_SINGLE_THREADED())
		atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
				      memory_order_relaxed);
	else
		atomic_fetch_add_explicit(c, n, mo);
}

static inline void mb_ctr_add_signed(_Atomic int64_t *c, int64_t n, memory_order mo)
{
	if (MB_SINGLE_THREADED())
		atomic_store_explicit(
		    c, (int64_t)((uint64_t)atomic_load_explicit(c, memory_order_relaxed) + (uint64_t)n),
		    memory_order_relaxed);
	else
		atomic_fetch_add_explicit(c, n, mo);
}

/* Takes n from *c if it holds at least need (n <= need); seq_cst CAS loop. */
static inline bool mb_ctr_take(_Atomic int64_t *c, int64_t need, int64_t n)
{
	int64_t v = atomic_load_explicit(c, memory_order_relaxed);

	if (MB_SINGLE_THREADED()) {
		if (v < need)
			return false;
		atomic_store_explicit(c, v - n, memory_order_relaxed);
		return true;
	}
	while (v >= need)
		if (atomic_compare_exchange_weak_explicit(c, &v, v - n, memory_order_seq_cst,
							  memory_order_relaxed))
			return true;
	return false;
}

#ifdef MB_LOCK_FUTEX
/* In waiters: a thread has slept on this lock, its unlocks exchange (above). */
#define MB_MUTEX_XCHG 0x80000000u

void mb_mutex_lock_slow(struct mb_mutex *mx);
void mb_mutex_wake(struct mb_mutex *mx);
void mb_mutex_unlock_slow(struct mb_mutex *mx, uint32_t waiters);
/* lock.c: sleepers issue a process-wide barrier (membarrier), so an unlock
   needs no fence of its own; false where the kernel has none */
extern bool mb_lock_asym;
bool mb_lock_remote_fence(void); /* the sleeper's half (lock.c) */

/*
 * A thread's record for biased locks (lock.c hands them out and recycles
 * them at thread exit, never frees them: a lock's `bias` may name a thread
 * that has exited).  in[rank]: the lock this thread holds by bias at that
 * rank, NULL if none; written by this thread only, read by revokers.
 */
#define MB_BIAS_RANKS 12 /* > every enum mb_lock_rank */
/*
 * Unlocks in a row that bias a lock: MB_BIAS_STREAK_MIN while no thread of
 * the process has revoked a bias held by another, then 4 times more at each
 * such revocation up to MB_BIAS_STREAK, for good (mb_bias_need, lock.c).  A
 * group lock serves one stream for a few hundred holds (128 requests of 256
 * blocks fill a group), which the long streak never biased; where threads
 * share locks, four revocations (4, 16, 64, 256, 1024) give the long
 * streak back, which keeps them to one per MB_BIAS_STREAK word locks of a
 * lock.  4 rather than 64 (session 29): a stream that moves on from a group
 * every few dozen holds had it biased late or never -- threaded raw:256
 * 492 -> 480, aging:triangle 3007 -> 2982, triangle:file 1529 -> 1499,
 * 8m64k 1045 -> 1032, 8m64k:file 1406 -> 1372 instructions a call, no
 * probe higher (16: about two thirds of that; 2 and 1: within 2 of 4).
 */
#define MB_BIAS_STREAK_MIN 4
#define MB_BIAS_STREAK 1024
struct mb_lock_thr {
	_Atomic(struct mb_mutex *) in[MB_BIAS_RANKS];
};
/*
 * A thread's two views of its record, equal once it has one (lock.c's
 * mb_rec_get sets both, its exit resets both).  Before that, two shared
 * records that no lock is ever biased to (bias names only a record of
 * its own, mb_mutex_streak), so no entry through either succeeds:
 * - mb_lock_self, &mb_lock_nobody: what an unlock reads to tell a biased
 *   hold from the word's (me->in[rank] == mx), and the entries that
 *   pre-check `bias` (mb_mutex_lock_threaded, mb_mutex_trylock_raw_as),
 *   which then never write it.  Nobody writes mb_lock_nobody: its in[]
 *   stays NULL, and an unlock through it is the word's.
 * - mb_lock_entry, &mb_lock_sink: mb_lock_me(), what the _at entries
 *   (mb_lock_if_biased_at) write, with no pre-check.  Threads without a
 *   record all store into mb_lock_sink, so its in[] holds whatever one of
 *   them stored last: it is written, never read for a decision.  Its
 *   readers: the entry's own re-read of `bias` (never &mb_lock_sink: the
 *   entry fails, clears and takes the word), mb_unlock_biased_at (only
 *   after an entry that succeeded, so never through the sink) and the
 *   revokers (they read the record `bias` names, never the sink).  Every
 *   unlock of a hold that may be the word's goes through mb_lock_self
 *   (mb_unlock_mt too, not its caller's me), so a sink holding mx from
 *   another thread's entry cannot pass for our biased hold of mx.
 * The pre-check shared one record for both (nobody) and cost a load and
 * a compare a biased entry (threaded aging:8m64k 782 -> 769,
 * cell:aged90:256:zero:20 1900 -> 1874, drain 1379 -> 1371 instructions
 * a call without it); a test of "no record yet" in mb_lock_me() instead
 * cost all of that back (780, 1896, 1385): its callers read it about as
 * often as they enter.  One thread runs none of it, but LTO allocates
 * the registers of mb_scan_linear and mb_visit_linear_bulk, which inline
 * the threaded visit, otherwise: drain 1301 -> 1311, aged:256 1712 ->
 * 1720 (the 17's sum +37, threaded -182).  tests/race/test_race_sink.c
 * keeps record-less threads hammering a lock by both kinds of entry
 * (with one record for both views an unlock takes another's entry for
 * its own and the word is never released).
 */
extern _Thread_local struct mb_lock_thr *mb_lock_self
    __attribute__((tls_model("initial-exec")));
extern _Thread_local struct mb_lock_thr *mb_lock_entry
    __attribute__((tls_model("initial-exec")));
extern struct mb_lock_thr mb_lock_nobody, mb_lock_sink;
extern _Atomic uint32_t mb_bias_need; /* the streak that biases a lock (lock.c) */
/* biases this thread was granted (mb_lock_epoch); this thread's alone */
extern _Thread_local uint64_t mb_bias_grants __attribute__((tls_model("initial-exec")));
void mb_mutex_unbias(struct mb_mutex *mx);
bool mb_mutex_unbias_try(struct mb_mutex *mx);
void mb_mutex_unlock_word(struct mb_mutex *mx, struct mb_lock_thr *me);

/*
 * The owner's entry (see struct mb_mutex): record the lock, then re-read
 * `bias`.  The compiler barrier keeps the load after the store; the CPU
 * may still reorder them, which the revoker's membarrier covers.  False:
 * revoked meanwhile, take the word.  A trylock (`nested`) may nest in a
 * lock of its own rank, whose entry may be in use: it then takes the word
 * (mb_lock never nests so, which debug builds assert).  Relaxed: what the
 * last holder wrote was written by this thread (any other holder revoked
 * the bias first).
 */
static inline __attribute__((always_inline)) bool
mb_bias_enter_at(struct mb_lock_thr *me, struct mb_mutex *mx, int rank, bool nested)
{
	_Atomic(struct mb_mutex *) *in = &me->in[rank];

	if (nested && atomic_load_explicit(in, memory_order_relaxed))
		return false;
	/* not nested: no hold of this rank's slot to overwrite (the sink's
	   in[] is other threads' leftovers, see mb_lock_entry) */
	assert(nested || me == &mb_lock_sink || !atomic_load_explicit(in, memory_order_relaxed));
	atomic_store_explicit(in, mx, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst); /* the load stays after the store */
	if (MB_LIKELY(atomic_load_explicit(&mx->bias, memory_order_relaxed) == me))
		return true;
	atomic_store_explicit(in, NULL, memory_order_release);
	return false;
}

/* mb_bias_enter_at at mx's own rank */
static inline __attribute__((always_inline)) bool
mb_bias_enter(struct mb_lock_thr *me, struct mb_mutex *mx, bool nested)
{
	return mb_bias_enter_at(me, mx, mx->rank, nested);
}

/*
 * While the process has one thread (glibc's __libc_single_threaded, which
 * pthread_create clears before the new thread runs), nobody can contend:
 * the lock is a plain load and store, as glibc's own mutex does then.  An
 * atomic RMW pair costs about 6 ns more, and the PA fast path takes two
 * pairs.  Relaxed is enough: a thread created later synchronizes with us
 * through pthread_create.  (Nothing is biased then: bias is set only by
 * the threaded unlock.)
 */
/* The lock without rank checks (mb_lock in release builds, lock.c's in debug).
   always_inline, as mb_lock: LTO kept them out of line (two calls a pair). */
/* The lock's path with other threads (or a word found taken with none). */
static inline __attribute__((always_inline)) void mb_mutex_lock_threaded(struct mb_mutex *mx)
{
	uint32_t c = 0;
	struct mb_lock_thr *me = mb_lock_self;

	if (atomic_load_explicit(&mx->bias, memory_order_relaxed) == me &&
	    MB_LIKELY(mb_bias_enter(me, mx, false)))
		return;
	/* acquire; pairs with the release store in mb_mutex_unlock_raw */
	if (MB_UNLIKELY(!atomic_compare_exchange_strong_explicit(&mx->word, &c, 1,
								 memory_order_acquire,
								 memory_order_relaxed)))
		mb_mutex_lock_slow(mx);
	/* relaxed: set by a holder of the word before its release */
	if (MB_UNLIKELY(atomic_load_explicit(&mx->bias, memory_order_relaxed)))
		mb_mutex_unbias(mx); /* its owner may be inside: wait it out */
}

/*
 * `one`: the caller read MB_SINGLE_THREADED() once for a whole stretch in
 * which it starts no thread (the PA fast path: one read for its four lock
 * operations and its claim, instead of one each).  The process cannot
 * gain a thread but through us, so the answer holds till we start one.
 */
static inline __attribute__((always_inline)) void mb_mutex_lock_raw_one(struct mb_mutex *mx,
									 bool one)
{
	if (one && MB_LIKELY(!atomic_load_explicit(&mx->word, memory_order_relaxed))) {
		atomic_store_explicit(&mx->word, 1, memory_order_relaxed); /* see above */
		return;
	}
	mb_mutex_lock_threaded(mx);
}

static inline __attribute__((always_inline)) void mb_mutex_lock_raw(struct mb_mutex *mx)
{
	mb_mutex_lock_raw_one(mx, MB_SINGLE_THREADED());
}

static inline __attribute__((always_inline)) int mb_mutex_trylock_raw_as(struct mb_mutex *mx,
									 bool nested)
{
	uint32_t c = 0;

	if (MB_SINGLE_THREADED()) { /* no other thread: see mb_mutex_lock_raw */
		if (atomic_load_explicit(&mx->word, memory_order_relaxed))
			return -EBUSY;
		atomic_store_explicit(&mx->word, 1, memory_order_relaxed);
		return 0;
	}
	struct mb_lock_thr *me = mb_lock_self;

	if (atomic_load_explicit(&mx->bias, memory_order_relaxed) == me &&
	    mb_bias_enter(me, mx, nested))
		return 0;
	/* acquire; pairs with the release store in mb_mutex_unlock_raw */
	if (!atomic_compare_exchange_strong_explicit(&mx->word, &c, 1, memory_order_acquire,
						     memory_order_relaxed))
		return -EBUSY;
	/* relaxed: as in mb_mutex_lock_raw; a trylock never waits for the
	   owner (it may nest in a lock of its rank): busy if it is inside */
	if (MB_UNLIKELY(atomic_load_explicit(&mx->bias, memory_order_relaxed)) &&
	    !mb_mutex_unbias_try(mx))
		return -EBUSY; /* the word is released again */
	return 0;
}

/* A trylock that may nest in a lock of its rank (mb_trylock_nested): the
   biased entry checks the record's slot is free (mb_bias_enter_at).
   mb_trylock never nests so (debug builds check the rank) and skips it:
   threaded cell:aged90:256:zero:20 2245 -> 2241, drain 1873 -> 1869,
   aged:256 2238 -> 2234 instructions a call, one thread -1 */
static inline int mb_mutex_trylock_raw(struct mb_mutex *mx)
{
	return mb_mutex_trylock_raw_as(mx, true);
}

/*
 * A lock never slept on unlocks with a plain store and a plain load (see
 * struct mb_mutex); waiters is read first, so that a contended lock goes
 * to its exchange.  Without membarrier (mb_lock_asym false) the plain
 * unlock fences itself.
 * mb_mutex_word_unlock is that unlock of the word alone (no bias).
 */
static inline __attribute__((always_inline)) void mb_mutex_word_unlock(struct mb_mutex *mx)
{
	/* relaxed: a count or mode set after this load is caught by the one below */
	uint32_t w = atomic_load_explicit(&mx->waiters, memory_order_relaxed);

	if (MB_UNLIKELY(w)) {
		mb_mutex_unlock_slow(mx, w);
		return;
	}
	/* release; pairs with the acquire CAS or exchange of the next locker */
	atomic_store_explicit(&mx->word, 0, memory_order_release);
	if (MB_LIKELY(mb_lock_asym))
		atomic_signal_fence(memory_order_seq_cst); /* the load stays after the store */
	else
		atomic_thread_fence(memory_order_seq_cst);
	/* relaxed: the barrier above (or the sleeper's) orders it */
	if (MB_UNLIKELY(atomic_load_explicit(&mx->waiters, memory_order_relaxed)))
		mb_mutex_wake(mx);
}

/*
 * Held by bias (this thread's record names it): clear the record; release,
 * paired with a revoker's acquire read of it.  Else count the streak that
 * biases the lock, then release the word (out of line: inline, its code
 * cost the single-threaded path's registers, +14 instructions a raw:1
 * call).
 */
static inline __attribute__((always_inline)) void mb_mutex_unlock_raw_one(struct mb_mutex *mx,
									   bool one)
{
	if (one) { /* no other thread: see mb_mutex_lock_raw */
		atomic_store_explicit(&mx->word, 0, memory_order_relaxed);
		return; /* a waiter is a thread */
	}
	struct mb_lock_thr *me = mb_lock_self;

	if (atomic_load_explicit(&me->in[mx->rank], memory_order_relaxed) == mx) {
		atomic_store_explicit(&me->in[mx->rank], NULL, memory_order_release);
		return;
	}
	mb_mutex_unlock_word(mx, me);
}

static inline __attribute__((always_inline)) void mb_mutex_unlock_raw(struct mb_mutex *mx)
{
	mb_mutex_unlock_raw_one(mx, MB_SINGLE_THREADED());
}
#else
static inline __attribute__((always_inline)) void mb_mutex_lock_raw(struct mb_mutex *mx)
{
	pthread_mutex_lock(&mx->m);
}

static inline int mb_mutex_trylock_raw(struct mb_mutex *mx)
{
	return pthread_mutex_trylock(&mx->m) ? -EBUSY : 0;
}

static inline int mb_mutex_trylock_raw_as(struct mb_mutex *mx, bool nested)
{
	(void)nested;
	return mb_mutex_trylock_raw(mx);
}

static inline __attribute__((always_inline)) void mb_mutex_unlock_raw(struct mb_mutex *mx)
{
	pthread_mutex_unlock(&mx->m);
}
#endif

#ifdef MB_DEBUG
void mb_lock(struct mb_mutex *mx);
int mb_trylock(struct mb_mutex *mx);
int mb_trylock_nested(struct mb_mutex *mx);
void mb_unlock(struct mb_mutex *mx);
#else
/* Without rank checks a lock is the raw one, inlined (lock.c has the
   checked ones). */
static inline __attribute__((always_inline)) void mb_lock(struct mb_mutex *mx)
{
	mb_mutex_lock_raw(mx);
}

static inline int mb_trylock(struct mb_mutex *mx)
{
	return mb_mutex_trylock_raw_as(mx, false);
}

static inline int mb_trylock_nested(struct mb_mutex *mx)
{
	return mb_mutex_trylock_raw(mx);
}

static inline __attribute__((always_inline)) void mb_unlock(struct mb_mutex *mx)
{
	mb_mutex_unlock_raw(mx);
}
#endif

/*
 * The caller's `one` must still hold (a test's hook may start a thread):
 * debug builds abort when it does not, as on a lock order violation,
 * asserts or not (lock.c).
 */
#ifdef MB_DEBUG
void mb_one_check_failed(void);
#define mb_one_check(one) ((one) && !MB_SINGLE_THREADED() ? mb_one_check_failed() : (void)0)
#else
#define mb_one_check(one) ((void)(one))
#endif

/*
 * mb_lock and mb_unlock for a caller that read MB_SINGLE_THREADED() once
 * (`one`, see mb_mutex_lock_raw_one); a lock and its unlock must see the
 * same `one`, or the unlock false (a thread started since).  Debug builds
 * and pthread locks: mb_lock and mb_unlock, asserting that `one` holds.
 */
#if defined(MB_LOCK_FUTEX) && !defined(MB_DEBUG)
static inline __attribute__((always_inline)) void mb_lock_one(struct mb_mutex *mx, bool one)
{
	mb_mutex_lock_raw_one(mx, one);
}

static inline __attribute__((always_inline)) void mb_unlock_one(struct mb_mutex *mx, bool one)
{
	mb_mutex_unlock_raw_one(mx, one);
}

/* mb_trylock for a caller whose `one` read true: a plain load and store */
static inline __attribute__((always_inline)) int mb_trylock_one(struct mb_mutex *mx)
{
	if (atomic_load_explicit(&mx->word, memory_order_relaxed))
		return -EBUSY;
	atomic_store_explicit(&mx->word, 1, memory_order_relaxed); /* see mb_mutex_lock_raw */
	return 0;
}

/*
 * mb_trylock_one for a caller whose `one` read true and that holds no
 * lock at all (mb_alloc's top: the power-of-two fast path's one-thread
 * copy).  The only thread holds none, so mx is free: the store alone,
 * no load and test (4 instructions a call of raw:256).  A caller that did
 * hold one -- a store callback calling mb_alloc under its group's lock,
 * which store.h forbids (a callback takes only leaf locks) -- is caught by
 * debug builds, where this is mb_trylock_one asserted to succeed.
 */
static inline __attribute__((always_inline)) void mb_lock_one_free(struct mb_mutex *mx)
{
	assert(!atomic_load_explicit(&mx->word, memory_order_relaxed));
	atomic_store_explicit(&mx->word, 1, memory_order_relaxed); /* see mb_mutex_lock_raw */
}
#else
static inline void mb_lock_one(struct mb_mutex *mx, bool one)
{
	mb_one_check(one);
	mb_lock(mx);
}

static inline void mb_unlock_one(struct mb_mutex *mx, bool one)
{
	mb_one_check(one);
	mb_unlock(mx);
}

static inline int mb_trylock_one(struct mb_mutex *mx)
{
	mb_one_check(true);
	return mb_trylock(mx);
}

static inline void mb_lock_one_free(struct mb_mutex *mx)
{
	int err = mb_trylock_one(mx);

	assert(!err);
	(void)err;
}
#endif

#ifdef MB_DEBUG
bool mb_mutex_held(const struct mb_mutex *mx);
#define mb_assert_locked(mx) assert(mb_mutex_held(mx))
#else
#define mb_assert_locked(mx) ((void)(mx))
#endif

/*
 * A hold of a few instructions by a caller that knows the process is
 * threaded (reserve.c's slot locks): mb_lock_if_biased takes mx, as
 * mb_lock would, when it is biased to this thread (true), else takes
 * nothing (false: take it with mb_lock); a hold it took ends with
 * mb_unlock_biased, mb_unlock's biased half.  No call on the way: a
 * caller whose other path calls mb_lock's slow paths would otherwise save
 * and restore its registers around every hold.  Debug builds make
 * mb_lock's checks (lock.c).
 */
#ifdef MB_DEBUG
void mb_lock_noted(struct mb_mutex *mx);
void mb_unlock_noted(struct mb_mutex *mx);
#endif
/*
 * The _at forms are for a caller that read mb_lock_me() once (me) for
 * several holds and knows mx's rank (a constant: a slot lock's is 0, its
 * zeroed memory's, which indexes a record's in[]).  me may be
 * &mb_lock_sink, also when a hold since made this thread its record: no
 * lock is biased to the sink, so its holds are the word's.  The entry
 * goes straight to the record's store and the re-read of `bias`, with no
 * pre-check of it (mb_lock_entry says why that is safe).  The caller
 * holds no lock of mx's rank slot (debug builds assert it).
 */
struct mb_lock_thr;
#ifdef MB_LOCK_FUTEX
#define mb_lock_me() mb_lock_entry
static inline __attribute__((always_inline)) bool
mb_lock_if_biased_at(struct mb_mutex *mx, int rank, struct mb_lock_thr *me)
{
	if (!mb_bias_enter_at(me, mx, rank, false))
		return false;
#ifdef MB_DEBUG
	mb_lock_noted(mx);
#endif
	return true;
}

static inline __attribute__((always_inline)) void
mb_unlock_biased_at(struct mb_mutex *mx, int rank, struct mb_lock_thr *me)
{
#ifdef MB_DEBUG
	mb_unlock_noted(mx);
#else
	(void)mx;
#endif
	/* release, as in mb_mutex_unlock_raw: a revoker's acquire reads it */
	atomic_store_explicit(&me->in[rank], NULL, memory_order_release);
}

static inline __attribute__((always_inline)) bool mb_lock_if_biased(struct mb_mutex *mx)
{
	return mb_lock_if_biased_at(mx, mx->rank, mb_lock_me());
}

/* after a hold that succeeded, mb_lock_me() is the thread's own record */
static inline __attribute__((always_inline)) void mb_unlock_biased(struct mb_mutex *mx)
{
	mb_unlock_biased_at(mx, mx->rank, mb_lock_me());
}
#else
#define mb_lock_me() ((struct mb_lock_thr *)NULL) /* nothing is biased */
static inline bool mb_lock_if_biased_at(struct mb_mutex *mx, int rank, struct mb_lock_thr *me)
{
	(void)mx;
	(void)rank;
	(void)me;
	return false;
}

static inline void mb_unlock_biased_at(struct mb_mutex *mx, int rank, struct mb_lock_thr *me)
{
	(void)rank;
	(void)me;
	mb_unlock(mx);
}

static inline bool mb_lock_if_biased(struct mb_mutex *mx)
{
	(void)mx;
	return false; /* nothing is biased */
}

static inline void mb_unlock_biased(struct mb_mutex *mx)
{
	mb_unlock(mx);
}
#endif

/*
 * Whether nobody else held mx since epoch (a mb_lock_epoch() this thread
 * took then; mx held by it now, of rank `rank`): true only if it holds mx
 * by bias and was granted no bias since.  Any other holder -- by bias or
 * by the word -- clears `bias` (revokes it) first, and only this thread's
 * own streak sets it back to this thread (mb_mutex_streak, which counts
 * it), so `bias` read as ours at this entry was ours all along since
 * epoch.  The entry's re-read is the one that counts: a revoker whose
 * clear it missed waits for this hold to end (the Dekker of struct
 * mb_mutex).  alloc.c's mb_try_best_found trusts its measure by it.  False
 * in debug builds' pthread locks and without membarrier (nothing biased).
 */
#ifdef MB_LOCK_FUTEX
static inline uint64_t mb_lock_epoch(void)
{
	return mb_bias_grants;
}

static inline bool mb_held_alone_since(const struct mb_mutex *mx, int rank, uint64_t epoch)
{
	assert(mx->rank == rank);
	return atomic_load_explicit(&mb_lock_self->in[rank], memory_order_relaxed) == mx &&
	       mb_bias_grants == epoch;
}
#else
static inline uint64_t mb_lock_epoch(void)
{
	return 0;
}

static inline bool mb_held_alone_since(const struct mb_mutex *mx, int rank, uint64_t epoch)
{
	(void)mx;
	(void)rank;
	(void)epoch;
	return false;
}
#endif

/*
 * A trylock and its unlock for a path that knows the process threaded and
 * read mb_lock_me() once (me: alloc.c's power-of-two fast path, whose
 * one-thread copy takes mb_trylock_one), on a lock of a constant rank of
 * which it holds none (mb_alloc's top: so the biased entry needs no
 * nested test, as mb_trylock's).  Debug builds and pthread locks:
 * mb_trylock and mb_unlock.
 */
#if defined(MB_LOCK_FUTEX) && !defined(MB_DEBUG)
static inline __attribute__((always_inline)) int
mb_trylock_mt(struct mb_mutex *mx, int rank, struct mb_lock_thr *me)
{
	uint32_t c = 0;

	if (mb_lock_if_biased_at(mx, rank, me))
		return 0;
	/* acquire; pairs with the release store in mb_mutex_unlock_raw */
	if (!atomic_compare_exchange_strong_explicit(&mx->word, &c, 1, memory_order_acquire,
						     memory_order_relaxed))
		return -EBUSY;
	/* relaxed: as in mb_mutex_trylock_raw, and as busy if the owner is inside */
	if (MB_UNLIKELY(atomic_load_explicit(&mx->bias, memory_order_relaxed)) &&
	    !mb_mutex_unbias_try(mx))
		return -EBUSY;
	return 0;
}

/* mb_lock for such a path: the biased entry inline, with no nested test
   (mb_lock never nests in its rank), else mb_lock's own way */
static inline __attribute__((always_inline)) void mb_lock_mt(struct mb_mutex *mx, int rank,
							      struct mb_lock_thr *me)
{
	if (MB_LIKELY(mb_lock_if_biased_at(mx, rank, me)))
		return;
	mb_mutex_lock_threaded(mx);
}

/* No record passed: the caller's mb_lock_me() may be the sink, so the
   test of the hold is on mb_lock_self (see mb_lock_entry) */
static inline __attribute__((always_inline)) void mb_unlock_mt(struct mb_mutex *mx, int rank)
{
	struct mb_lock_thr *me = mb_lock_self;

	if (atomic_load_explicit(&me->in[rank], memory_order_relaxed) == mx) {
		atomic_store_explicit(&me->in[rank], NULL, memory_order_release);
		return;
	}
	mb_mutex_unlock_word(mx, me);
}
#else
static inline int mb_trylock_mt(struct mb_mutex *mx, int rank, struct mb_lock_thr *me)
{
	(void)me;
	assert(mx->rank == rank);
	return mb_trylock(mx);
}

static inline void mb_lock_mt(struct mb_mutex *mx, int rank, struct mb_lock_thr *me)
{
	(void)me;
	assert(mx->rank == rank);
	mb_lock(mx);
}

static inline void mb_unlock_mt(struct mb_mutex *mx, int rank)
{
	(void)rank;
	mb_unlock(mx);
}
#endif

/* ------------------------------------------------------------------------ */
/* Group sets for optimized scanning                                         */
/* ------------------------------------------------------------------------ */

/*
 * A set of group numbers as a bitmap with summary levels (64-ary), so
 * "next member at or after g" costs O(log64 groups).  Members are added and
 * removed with atomic RMW by whoever holds the group's lock; lookups take no
 * lock and are hints (a group may leave the set just after being found; the
 * caller re-checks under the group lock).  See gset.c for why a summary bit
 * is never left clear over a non-empty word.
 */
#define MB_AVG_SUBS 8 /* bb_avg_sub in [0, MB_AVG_SUBS): vol->avg_hi */
#define MB_GSET_MAX_LEVELS 6
struct mb_gset {
	_Atomic uint64_t *lvl[MB_GSET_MAX_LEVELS]; /* lvl[0]: one bit per group */
	/* The top level, one word by construction: here, lvl[nlevels - 1]
	   pointing at it, so that a search's first look is one load off the
	   set rather than two (its level's pointer, then the word). */
	_Atomic uint64_t top;
	uint32_t nbits;
	uint32_t top_shift; /* 6 * (nlevels - 1): group g's bit in top is g >> top_shift */
	int nlevels;
	uint32_t nwords[MB_GSET_MAX_LEVELS];
	/* A family's summary: fam_bit is set in *fam while the set has a
	   member (one level above the top word, same protocol); NULL: none. */
	_Atomic uint64_t *fam;
	uint64_t fam_bit;
	/* Level 0 in a family's block (mb_gset_init_family): the block's
	   words in its first set, which frees it; lvl0_borrowed in the others,
	   which free no level 0.  Both 0: level 0 is the set's own. */
	uint32_t lvl0_block;
	bool lvl0_borrowed;
	/* to 128 bytes: at 96 and 112 (nwords' last word dropped) gcc spilled
	   more in mb_scan_goal_len_fast, worse on 8 of 9 probes */
	uint64_t pad[1];
};
_Static_assert(sizeof(struct mb_gset) == 128, "struct mb_gset: 128 bytes (see pad)");

/* bigmem.c: zeroed memory untouched until used (mmap from MB_BIGMEM_MIN
   bytes; below, calloc is as cheap and wastes no page). */
#define MB_BIGMEM_MIN (64u << 10)
void *mb_zmap(size_t size);
void mb_zunmap(void *p, size_t size);
void mb_zmap_prefault(void *p, size_t size);
void mb_zmap_prefault_in(void *map, size_t map_size, size_t off, size_t len);

/* garena.c: the groups' durable and derived buffers (group.c) */
enum { MB_GARENA_DURABLE, MB_GARENA_DERIVED };
/* the pieces' sizes a volume's groups take (group.c): durable (bb_disk and
   the frees' maps), derived (buddy and run tree), both */
size_t mb_group_durable_bytes(const struct mb_volume *vol);
size_t mb_group_derived_bytes(const struct mb_volume *vol);
size_t mb_group_arena_bytes(const struct mb_volume *vol);
struct mb_garena;
void mb_garena_init(struct mb_garena *a);
void mb_garena_destroy(struct mb_garena *a);
void *mb_garena_get(struct mb_volume *vol, int k, size_t bytes, size_t group_bytes, bool *zeroed);
bool mb_garena_get_load(struct mb_volume *vol, size_t dbytes, size_t xbytes, size_t group_bytes,
			uint64_t **disk, bool *zeroed, uint64_t **derived);
void mb_garena_put(struct mb_volume *vol, int k, void *p);

/*
 * The words of a set of nbits groups whose members are [0, n), level by
 * level, in a memory file: a fill maps them copy-on-write instead of
 * storing them (gset.c).  fd -1: none (no memfd here); fills then store.
 */
struct mb_gset_image {
	int fd;
	uint32_t nbits, n;
	int64_t off[MB_GSET_MAX_LEVELS]; /* level l's words in the file, or -1 */
};

int mb_gset_init(struct mb_gset *s, uint32_t nbits);
int mb_gset_init_family(struct mb_gset *sets, int n, uint32_t nbits);
void mb_gset_destroy(struct mb_gset *s);
void mb_gset_add(struct mb_gset *s, uint32_t g);
void mb_gset_image_open(struct mb_gset_image *img, uint32_t nbits, uint32_t n);
void mb_gset_image_close(struct mb_gset_image *img);
int mb_gset_fill(struct mb_gset *s, uint32_t n, const struct mb_gset_image *img);
void *mb_gset_image_map(const struct mb_gset_image *img, int l, void *at, size_t bytes);
void mb_gset_set_family(struct mb_gset *s, _Atomic uint64_t *fam, int bit);
#ifdef MB_TESTING
/* Test-only: called by a delete that emptied s, before it clears s's
   family bit (an adder acting there is the race gset.c re-checks for). */
extern void (*mb_gset_family_hook)(struct mb_gset *s);
/* Test-only: called by a delete between clearing a summary bit for level l
   and re-checking level l. */
extern void (*mb_gset_recheck_hook)(struct mb_gset *s, int l);
#endif
void mb_gset_del(struct mb_gset *s, uint32_t g);
bool mb_gset_test(const struct mb_gset *s, uint32_t g);
/* First member >= from, or UINT32_MAX. */
uint32_t mb_gset_next(const struct mb_gset *s, uint32_t from);

/*
 * Whether the set may have a member >= from: its top word (one, by
 * construction) has a bit at or past from's.  One load, inline, so that a
 * scan over many mostly empty sets pays no call for each.  A hint, as any
 * lookup: "no" means none was there when the word was read.
 */
static inline bool mb_gset_any_from(const struct mb_gset *s, uint32_t from)
{
	/* from < nbits: its bit in the top word is < 64 (the word covers
	   every group); a member at or past it leaves a bit after the shift */
	return from < s->nbits &&
	       (atomic_load_explicit(&s->top, memory_order_relaxed) >> (from >> s->top_shift));
}
/* The members of from's own word at or past from (from < nbits). */
static inline uint64_t mb_gset_word_from(const struct mb_gset *s, uint32_t from)
{
	return atomic_load_explicit(&s->lvl[0][from >> 6], memory_order_relaxed) &
	       (~0ULL << (from & 63));
}
/*
 * mb_gset_next, answered inline when from's own word has a member at or
 * past it (a walk's next member usually is near): one load.  Bits past
 * nbits are never set, so the answer is next()'s.
 */
static inline uint32_t mb_gset_next_near(const struct mb_gset *s, uint32_t from)
{
	if (MB_LIKELY(from < s->nbits)) {
		uint64_t w = mb_gset_word_from(s, from);

		if (w)
			return (from & ~63u) + (uint32_t)__builtin_ctzll(w);
	}
	return mb_gset_next(s, from);
}
/*
 * A set of two levels (65 to 4096 groups): its first member in the words
 * past word wi that the top word names, in order, a stale top bit only
 * moving on; UINT32_MAX when none.  No bit past nbits is ever set.
 * Shared by gset.c's mb_gset_next2 and mb_gset_next_far.
 */
static inline uint32_t mb_gset2_next_past(const struct mb_gset *s, uint32_t wi)
{
	/* wi < 64: ~1 << 63 leaves none */
	uint64_t top = atomic_load_explicit(&s->top, memory_order_relaxed) & (~1ULL << wi);
	uint64_t w;

	do {
		if (!top)
			return UINT32_MAX;
		wi = (uint32_t)__builtin_ctzll(top);
		top &= top - 1;
		w = atomic_load_explicit(&s->lvl[0][wi], memory_order_relaxed);
	} while (!w);
	return wi * 64 + (uint32_t)__builtin_ctzll(w);
}
uint32_t mb_gset_next_word_past(const struct mb_gset *s, uint32_t wi);
/*
 * mb_gset_next once from's own word was seen to have no member at or past
 * from (from < nbits): the words past it, inline in a set of two levels,
 * the others from level 1 up (gset.c) -- no second look at from's word.
 */
static inline uint32_t mb_gset_next_past(const struct mb_gset *s, uint32_t from)
{
	if (s->nlevels == 2)
		return mb_gset2_next_past(s, from >> 6);
	return mb_gset_next_word_past(s, from >> 6);
}
/*
 * The same as mb_gset_next_near for a first look that is often far from
 * the members (a goal group at random in a full part of the volume): its
 * miss goes on past from's word (mb_gset_next_past), inline in a set of
 * two levels -- without the call and mb_gset_next2's second look at
 * from's word.  Its own function: as mb_gset_next_near's, this costs the
 * other walks registers.
 */
static inline uint32_t mb_gset_next_far(const struct mb_gset *s, uint32_t from)
{
	if (MB_UNLIKELY(from >= s->nbits))
		return UINT32_MAX;
	uint64_t w = mb_gset_word_from(s, from);

	if (w)
		return (from & ~63u) + (uint32_t)__builtin_ctzll(w);
	return mb_gset_next_past(s, from);
}
uint32_t mb_gset_count(const struct mb_gset *s);
bool mb_gset_summaries_ok(const struct mb_gset *s);

/* ------------------------------------------------------------------------ */
/* Groups                                                                    */
/* ------------------------------------------------------------------------ */

/* Groups that keep a private in-core bitmap after their last PA, while
   hot (gcache.c): at most this many extra bitmaps per volume. */
#define MB_GCACHE_QUIET 32

/* bb_state bits (atomic) */
#define MB_GRP_NEED_INIT 0x1   /* bitmaps not built yet: counters synthesized */
#define MB_GRP_CORRUPT 0x2     /* BBITMAP_CORRUPT: never allocate from it */
#define MB_GRP_WAS_TRIMMED 0x4
#define MB_GRP_DIRTY 0x8       /* changed since the last commit */
#define MB_GRP_SETUP 0x10      /* struct set up (mb_group_at); never cleared */
#define MB_GRP_SETTING 0x20    /* being set up by one thread: others wait */
#define MB_GRP_TRACKED 0x40    /* counted in the derived-state ring (gcache.c) */
#define MB_GRP_QUIET 0x80      /* in the quiet ring: keeps an unneeded in-core
				  copy while hot (gcache.c); under bb_lock */

/* A node of a group's free-run tree (runsum.c). */
struct mb_rs {
	uint32_t pre, suf; /* free blocks at the start / end of the range */
	uint32_t max;      /* longest free stretch inside */
	uint32_t cnt;      /* free runs inside, each once (one going on past an edge too) */
	uint32_t at;       /* where the first free stretch of max starts, from the range's
			      start (0 when max is 0) */
};

struct mb_group {
	struct mb_mutex bb_lock; /* rank MB_RANK_GROUP */

	/*
	 * Buddy counters.  Protected by bb_lock; written with MB_WRITE_ONCE and
	 * read without the lock as hints by the good-group prefilter and
	 * mb_free_blocks(): a stale value can only make the prefilter skip or
	 * visit a group needlessly, and the retry path re-judges under the lock.
	 */
	uint32_t bb_free;      /* free in buddy terms: PA space counts as used */
	uint32_t bb_fragments; /* free runs */
	uint32_t bb_first_free;
	int32_t bb_largest_free_order;      /* -1: nothing free */
	int32_t bb_avg_fragment_size_order; /* -1: nothing free */
	int32_t bb_free_order; /* ilog2(bb_free) up to max_order; -1: nothing free */
	int32_t bb_avg_sub;    /* where the average sits in its order: vol->avg_hi */
	_Atomic uint32_t bb_state;          /* MB_GRP_* */

	uint32_t bg_free; /* descriptor free count, on-disk terms; bb_lock */
	uint32_t bb_len;  /* blocks in this group (last may be short); const */

	/*
	 * Bitmaps, allocated on first load (NEED_INIT cleared), protected by
	 * bb_lock.  bb_disk = the on-disk bitmap (persistent truth), then --
	 * when the store's frees wait for a commit -- the pending and the
	 * committing maps: kept while the volume lives.  bb_bitmap = buddy
	 * order 0 = on-disk | PAs | pending frees: bb_disk itself while they
	 * agree (shared), else a private copy (group.c).  Shared, bb_disk may
	 * also hold the unused blocks of its PAs -- a front [start,
	 * pa_front_end) and a clean tail [pa_clean_off, end), set in the
	 * buddy, clear on disk -- and the on-disk map is bb_disk minus
	 * those: read it through mb_gcache_disk_view_locked & co., and
	 * split the maps (mb_gcache_unshare_locked) before a PA's used
	 * blocks could be other than the run between them (gcache.c).  bb_buddy and the
	 * free-run tree behind it (one buffer): derived, dropped when cold
	 * (NULL; gcache.c) and rebuilt by mb_group_load_locked.  Padding bits
	 * past bb_len are set in both bitmaps.
	 */
	uint64_t *bb_bitmap;
	uint64_t *bb_buddy; /* orders >= 1, at vol->mb_offsets[k] (in words); line-aligned */
	uint64_t *bb_disk;

	/* free chunks per order; bb_lock.  Before the lists: every
	   allocation and free reads the counters from max_order down, and
	   here they end in the third cache line (offsets 96..175 without
	   MB_DEBUG), so the hot fields take three lines rather than four. */
	uint32_t bb_counters[MB_MAX_ORDERS];

	struct mb_list bb_prealloc_list; /* every PA in this group; bb_lock */
	struct mb_list bb_pending;       /* frees awaiting commit; bb_lock */
	uint32_t bb_pending_count;       /* blocks in bb_pending; bb_lock */
} MB_ALIGNED;

/* ------------------------------------------------------------------------ */
/* Preallocations, files, locality groups                                    */
/* ------------------------------------------------------------------------ */

enum mb_pa_type { MB_INODE_PA = 0, MB_GROUP_PA = 1 };

/*
 * A preallocation.  Its state is protected by the bb_lock of its group:
 * every use, creation, free-back and discard happens under that lock, so
 * no per-PA lock or reference count is needed.  Its memory belongs to its
 * owner (the file, or the locality group): a discarder marks it deleted,
 * returns its space and unlinks it from the group list; only the owner
 * unlinks it from the owner's list and frees it, the next time it looks.
 */
struct mb_pa {
	mb_fsblk_t pa_pstart;    /* physical start (group PA: advances as used); bb_lock */
	uint64_t pa_lstart;      /* logical start (group PA: == pa_pstart); bb_lock */
	uint32_t pa_len;         /* size; inode PA: constant; bb_lock */
	uint32_t pa_free;        /* unused blocks; bb_lock (only the owner decreases it) */
	/* the PA's blocks from group offset pa_clean_off to its end are
	   unused -- none was taken since the PA was made, so none is used on
	   disk or a pending free -- and a take there needs no look at the
	   bitmaps (prealloc.c, mb_pa_in_clean_tail).  Set where the PA is
	   made (after the request's share, after an imposed PA's last used
	   block); UINT32_MAX: nothing known.  Only grows, at each take.  In a
	   group whose maps are shared (struct mb_group, bb_disk) every
	   block of the PA below it is used on disk but its front (below
	   pa_front_end), and a take past it splits the maps first; bb_lock */
	uint32_t pa_clean_off;
	bool pa_deleted;         /* set once, under bb_lock, by whoever tears it down */
	bool pa_release_pending; /* legacy file discard: deleted, space not yet back */
	uint8_t pa_type;         /* enum mb_pa_type; const */
	mb_grp_t pa_group;       /* group holding it; const */
	/* an inode PA placed before its request (mb_inode_pa_lstart) left
	   its front unused: in a group whose maps are shared, its blocks
	   from its start to group offset pa_front_end are unused too (and
	   those from there to pa_clean_off used on disk); a take below
	   pa_front_end splits the maps first.  Set where the PA is made
	   (<= its start: no front), read only while the maps are shared
	   (a group with PAs is never shared again); bb_lock */
	uint32_t pa_front_end;
	struct mb_list pa_group_list; /* on group->bb_prealloc_list; bb_lock */
	union {
		struct mb_list pa_node;      /* group PA: on an lg bucket (lg_mutex) */
		struct mb_avl_node pa_tnode; /* inode PA: in f_pa_tree (f_data_sem) */
	};
	struct mb_list pa_tmp_list;   /* a discarder's private list, under bb_lock */
	struct mb_file *pa_file;      /* inode PA owner; const */
	struct mb_lg *pa_lg;          /* group PA owner; const */
	int pa_bucket;                /* lg bucket it is on (-1 none); lg_mutex */
};

struct mb_file {
	struct mb_volume *f_vol;
	uint64_t f_ino;
	struct mb_mutex f_data_sem; /* rank MB_RANK_FILE_DATA; ext4's i_data_sem */
	struct mb_avl f_pa_tree;    /* inode PAs by pa_lstart, disjoint; f_data_sem */
	uint64_t f_size;            /* blocks; MB_READ_ONCE/MB_WRITE_ONCE */
	uint32_t f_open_write;      /* a writer holds it open; MB_READ_ONCE/MB_WRITE_ONCE */
	struct mb_lg *f_lg;         /* locality group that served it last; f_data_sem */
	/* the tree's PA that served or was made last, or NULL: written under
	   f_data_sem (MB_WRITE_ONCE), read without it by the PA fast path to
	   skip a file that names none (a stale answer only picks the other
	   path, which decides the same) */
	struct mb_pa *f_pa_last;
	mb_grp_t f_home;            /* mb_home_group(), computed at open; const */
	struct mb_list f_link;      /* on vol->v_files; vol->v_lock */
	/* PAs in f_pa_tree: written under f_data_sem (one writer, so a
	   relaxed load and store); mb_check reads it. */
	_Atomic uint32_t f_npa;
};

#define MB_LG_BUCKETS 10
struct mb_lg {
	struct mb_mutex lg_mutex; /* rank MB_RANK_LG; one user; protects the buckets */
	struct mb_list lg_prealloc_list[MB_LG_BUCKETS]; /* by fls(pa_free) - 1 */
	uint32_t lg_bucket_len[MB_LG_BUCKETS];
	uint32_t lg_nonempty; /* bit b: lg_prealloc_list[b] holds a PA; lg_mutex */
} MB_ALIGNED;

/* ------------------------------------------------------------------------ */
/* Per-CPU state                                                             */
/* ------------------------------------------------------------------------ */

enum mb_stat_id {
	MB_ST_REQS, MB_ST_SUCCESS, MB_ST_GROUPS_SCANNED, MB_ST_EXTENTS_SCANNED,
	MB_ST_GOAL_HITS, MB_ST_STREAM_GOAL_HITS, MB_ST_LEN_GOAL_HITS, MB_ST_2N_HITS,
	MB_ST_BREAKS, MB_ST_LOST, MB_ST_BUDDIES_GENERATED, MB_ST_PREALLOCATED,
	MB_ST_DISCARDED, MB_ST_ENOSPC, MB_ST_RETRIES, MB_ST_STRICT_RETRIES,
	MB_ST_DISCARD_PASSES, MB_ST_PA_HITS,
	MB_ST_CR_BASE, /* then 4 per criterion: hits, considered, extents, useless */
	MB_ST_COUNT = MB_ST_CR_BASE + 4 * MB_NUM_CRS
};

/*
 * One slot per CPU (sched_getcpu() modulo the slot count), one cache line
 * or more each, so the fast path writes only lines its CPU owns.  A thread
 * that migrates mid-update still updates atomically, just a remote slot.
 */
struct mb_pcpu {
	/* bumped (relaxed) on every buddy free, when a discard takes a PA and
	   when a group moves between scan sets (before the move); summed only
	   on the ENOSPC path.  A mark-used that moves no set does not bump: it
	   only takes space, in a group every lookup still finds.  Pairs with
	   the group lock: every bump happens under a group lock, and the sum
	   is taken after the failed pass released its locks. */
	_Atomic uint64_t discard_pa_seq;
	/* reserve.c: the part of the volume free counter F that is not in U:
	   F = rs_pool + every share + every free_delta, where a plain claim
	   in flight reads as used (its blocks left U at the claim, and F does
	   not move when they are marked).  Moves only for reservations: +n at
	   mb_reserve, -n at mb_unreserve and -got when a DELALLOC_RESERVED
	   allocation marks its blocks. */
	_Atomic int64_t free_delta;
	/* reserve.c: guards resv_word once the process has a second thread
	   (before, plain loads and stores: nobody else runs).  A lock, not a
	   CAS: the thread that keeps using this slot gets it biased (lock.c)
	   and claims with no locked instruction.  Never initialized: zeroed
	   memory (volume.c) is a free futex lock of rank 0 (and a free
	   pthread mutex in glibc and musl, MB_LOCK_PTHREAD), which lock.c
	   checks as MB_RANK_SLOT and whose bias uses a record's in[0] (no
	   other lock has rank 0; a thread holds one slot lock at a time).
	   Taken alone, or inside rs_lock or bb_lock; nothing inside it. */
	struct mb_mutex resv_lock;
	/* reserve.c: one word, so a claim is one read-modify-write under
	   resv_lock and its settle another: the low 48 bits (signed) are the
	   unclaimed free blocks this slot may hand out without the pool lock
	   (may go negative: corruption, mb_mark_used); the high 16 the plain
	   claims taken here and not yet settled (settled here too: a claim
	   remembers its slot).
	   Locking: every write is a read-modify-write under resv_lock (a
	   take, a settle or return, a refill, a drain into the pool), so none
	   is lost and a drain reads share and count in one hold.  Relaxed
	   atomics, so the reads without it are defined: a spill's check
	   (a hint), the roomy-slot pick (under rs_lock, which orders it after
	   every earlier pick's add; stale only by takes, which stop at
	   MB_RESV_FLIGHT_MAX, so a count reaches that plus one at most),
	   mb_free_counter_sum (under rs_lock: a snapshot, exact when no
	   claim races it) and the space waiter's look at the counts (after
	   its membarrier, which pairs with the settle's store then load of
	   waiters: mb_resv_settle_at). */
	_Atomic uint64_t resv_word;
	/* reserve.c: the blocks reserved here and released (used or
	   unreserved) here: only the sums mean something, both only grow
	   (mb_resv_held). */
	_Atomic uint64_t resv_added;
	_Atomic uint64_t resv_removed;
	_Atomic uint64_t stat[MB_ST_COUNT];
} MB_ALIGNED;

/* ------------------------------------------------------------------------ */
/* Tunables                                                                  */
/* ------------------------------------------------------------------------ */

struct mb_tunables {
	/* Read relaxed by allocators; written by mb_tunable_set. */
	uint32_t mb_stats;
	uint32_t mb_max_to_scan;
	uint32_t mb_min_to_scan;
	uint32_t mb_order2_req;
	uint32_t mb_stream_req;
	uint32_t mb_group_prealloc;
	uint32_t mb_max_linear_groups;
	uint32_t mb_optimize_scan;
	uint32_t mb_best_avail_max_trim_order;
	uint32_t mb_enospc_policy;
	uint32_t mb_max_retries; /* bound on ENOSPC retry rounds (see alloc.c) */
	/* Departures from ext4 (docs/FIDELITY.md); 0 = ext4's behaviour. */
	uint32_t mb_lg_sticky;     /* a file keeps the first locality group it used */
	uint32_t mb_lg_continuity; /* group PA or inode PA decided by continuity */
	uint32_t reserved_clusters; /* system reserve, ext4's s_resv_clusters */
	uint32_t r_blocks_count;    /* root blocks, ext4's s_r_blocks_count */
	uint32_t mb_stream_spread; /* stream goals start spread, not at group 0 */
	uint32_t mb_goal_skip_busy; /* a stream's new window skips a busy goal group */
	uint32_t mb_enospc_no_prealloc; /* no new PA while a request is in ENOSPC rounds */
	/* Not a departure: speed only, same decisions. */
	uint32_t mb_scan_summary; /* complex scan may use a group's run summary */
	uint32_t mb_slow_skip_short; /* CR_GOAL_LEN_SLOW skips runs not beating the best */
	uint32_t mb_noprealloc_no_pa; /* a NOPREALLOC request is never served from a PA */
	uint32_t mb_profile; /* the MB_PROFILE_* last selected (stats.c sets the rest) */
	/* Memory only: groups whose derived state stays built (gcache.c). */
	uint32_t mb_cache_groups;
};

/* ------------------------------------------------------------------------ */
/* Test-only race hooks (hook.c)                                             */
/* ------------------------------------------------------------------------ */

enum mb_hook_id {
	MB_HOOK_GOOD_GROUP_CHECKED, /* race 1: group judged unlocked */
	MB_HOOK_LEFTOVER_UNLINKED,  /* race 2: surplus marked used, PA not listed */
	MB_HOOK_DISCARD_COLLECTED,  /* race 3: PAs taken off the list, not freed */
	MB_HOOK_BEFORE_RETRY,       /* the ENOSPC retry decision */
	MB_HOOK_SPACE_WAIT,         /* an allocator is about to sleep (event lock held) */
	MB_HOOK_RESV_DECIDED,       /* a claim's precise path decided, not yet taken */
	MB_HOOK_RESV_CLAIMED,       /* a plain mb_alloc claimed its blocks, not yet searched */
	MB_HOOK_CONS_FAILED,        /* constrain.c: a pass found nothing, not yet decided */
	MB_HOOK_PA_FAST_FOUND,      /* the PA fast path found its PA, group lock not taken */
	MB_HOOK_GROUP_BUILT,        /* group.c: a group's buddy built, bb_lock held */
	MB_HOOK_RESV_SETTLING,      /* a claim's unused part is back, its settle half done */
	MB_HOOK_SET_MOVING,         /* group_sets.c: a group left its largest_set, not in the new one
				       (with threads its word's set lock held: a hook that parks
				       there blocks every move of the word's 64 groups) */
	MB_HOOK_LG_FAST_FOUND,      /* the lg PA fast path chose its PA, group lock not taken */
	MB_HOOK_VEC_SHORT,          /* allocvec.c: an all-or-nothing gathering fell short, not undone */
	MB_HOOK_RESV_SUMMING,       /* reserve.c: a sum of the reservations read slot 0 only */
	MB_HOOK_TRIM_TAKEN,         /* trim.c: a run marked used for the discard, bb_lock held */
	MB_HOOK_RESV_DRAINING,      /* reserve.c: a drain read a slot's word, not yet stored (its
				       resv_lock and rs_lock held; group: the slot's index) */
	MB_HOOK_COUNT
};

#ifdef MB_TESTING
void mb_hook_fire(struct mb_volume *vol, enum mb_hook_id id, mb_grp_t group, int cr);
#define MB_HOOK(vol, id, g, cr) mb_hook_fire((vol), (id), (g), (cr))
#else
#define MB_HOOK(vol, id, g, cr) ((void)0)
#endif

/* A test's hook: which point, the group involved, the criterion (or 0). */
typedef void (*mb_hook_fn)(void *arg, int id, uint32_t group, int cr);

/* ------------------------------------------------------------------------ */
/* The volume                                                                */
/* ------------------------------------------------------------------------ */

/*
 * An event count (wait.c): "held free space came back".  Bumped when a trim
 * returns a run and when a legacy discard's second phase returns its PAs;
 * a failing allocator samples gen before it looks for held space and
 * sleeps while gen has not moved.  Touched only on the ENOSPC retry path
 * and by those two signallers, never by the allocation fast path.
 */
struct mb_space_event {
	_Alignas(MB_CACHELINE) struct mb_mutex lock; /* rank MB_RANK_EVENT: the sleep only */
	struct mb_cond cond;     /* broadcast under lock */
	_Atomic uint64_t gen;    /* seq_cst; pairs with the waiters load (Dekker) */
	_Atomic uint32_t waiters; /* sleepers, changed under lock; seq_cst, pairs with gen */
};

/*
 * Reservations (reserve.c).  U, the free blocks nobody has claimed, lives
 * in rs_pool plus every slot's share (resv_word); a block of U is in exactly
 * one of them.  Claims take from the own slot's share lock-free; the precise path
 * drains every share into the pool under rs_lock and decides there.
 */
struct mb_resv {
	_Alignas(MB_CACHELINE) struct mb_mutex rs_lock; /* rank MB_RANK_LEAF */
	int64_t rs_pool; /* protected by rs_lock */
} MB_ALIGNED;

struct mb_volume {
	/* Geometry: constant after creation. */
	struct mb_geometry geo;
	uint32_t bpg;        /* blocks per group */
	uint32_t ngroups;
	int max_order;       /* min(floor(log2(bpg)), log2(block_size) + 1): ext4's */
	int bpg_shift;       /* log2(bpg) when bpg is a power of two, else 0 */
	uint32_t bitmap_words;               /* uint64_t words of one bitmap */
	uint32_t mb_offsets[MB_MAX_ORDERS];  /* buddy order k: word offset, top order first */
	uint32_t mb_maxs[MB_MAX_ORDERS];     /* buddy order k: bits (bpg >> k) */
	uint32_t buddy_words;
	uint32_t rs_leaves;  /* leaves of a group's run tree (runsum.c) */
	uint32_t fws_off;    /* words from bb_buddy to the free-word summary (mb_fws) */
	/* geo.first_data_block in 64 bits: one subtract from a block (x86
	   has none of a 32-bit memory operand) */
	uint64_t data_first;
	/*
	 * A request's goal is valid when goal - goal_base < goal_span
	 * (unsigned): the blocks of the volume, from first_data_block on --
	 * and, when that is 0, MB_GOAL_NONE too (UINT64_MAX: the range then
	 * starts there and wraps).  One compare for the common goals
	 * (mb_request_common_valid); a volume with a first data block tests
	 * MB_GOAL_NONE apart.
	 */
	uint64_t goal_base, goal_span;

	/*
	 * ngroups structs, zero until first use: mb_group_at() sets a group up
	 * on first access (so creating a huge volume touches no group), and
	 * setup_set lists the groups set up (walks skip the untouched ones,
	 * which hold nothing but their geometry).  groups_mem: the allocation.
	 */
	struct mb_group *groups;
	void *groups_mem;
	struct mb_gset setup_set;
	/* gcache.c: the ring of groups with derived state built (group + 1). */
	_Atomic uint32_t *gc_slot;
	uint32_t gc_size;           /* const; the most mb_cache_groups may be */
	_Atomic uint64_t gc_hand;   /* relaxed: next slot */
	_Atomic uint64_t gc_drops;  /* derived states dropped (relaxed count) */
	/* gcache.c: the quiet ring, groups that keep a private in-core bitmap
	   they no longer need (group + 1; a slot changes only under the lock
	   of the group it holds or gets) */
	_Atomic uint32_t gq_slot[MB_GCACHE_QUIET];
	uint32_t gq_size;           /* const: slots in use, min(ngroups, MB_GCACHE_QUIET) */
	_Atomic uint64_t gq_hand;   /* relaxed: next slot */
	_Atomic uint64_t gc_copies; /* in-core copies made (relaxed count; tests, stats) */
	_Atomic(uint64_t *) gc_spare; /* a dropped copy's memory, for the next copy */
	uint64_t *zero_map;         /* bitmap_words zeros: the pending map of stores
				       whose frees never wait; const */
	/* pristine.c: the bitmap, buddy and run tree of a pristine full-length
	   group, published once (release CAS), then read with acquire loads;
	   freed at destroy */
	_Atomic(struct mb_pristine *) pristine;
	bool frees_wait;            /* the store's MB_STORE_FREES_WAIT_COMMIT, kept:
				       destroy tears the store down first; const */
	/* Optimized scanning: by largest free order, by avg fragment order. */
	struct mb_gset largest_set[MB_MAX_ORDERS];
	struct mb_gset avg_set[MB_MAX_ORDERS];
	/* Bit k: largest_set[k] (avg_set[k]) has a member -- a scan over the
	   orders skips the empty ones in one look (gset.c keeps them). */
	_Atomic uint64_t largest_orders, avg_orders;
	/* The linear passes' index: free_ge[k] holds the groups with
	   bb_free_order >= k (a group is in free_ge[0..bb_free_order]). */
	struct mb_gset free_ge[MB_MAX_ORDERS];
	/* largest_ge[k]: the members of largest_set[k..]; avg_ge likewise. */
	struct mb_gset largest_ge[MB_MAX_ORDERS];
	struct mb_gset avg_ge[MB_MAX_ORDERS];
	/* Where in its order a group's average free fragment (free / frags,
	   order ao) sits: bb_avg_sub = floor(8 * avg / 2^ao) - 8, the 3 bits
	   after the leading one (0..7; 7 also past the order at max_order; 0
	   when in no avg set).  avg_hi is 7 flat bitmaps of avg_hi_words words
	   (a bit per group; a big volume's rounded up to a page, so that
	   creation can map them: mb_avg_hi_fill):
	   the j-th (j = 1..7, at (j - 1) * avg_hi_words) holds the groups with
	   bb_avg_sub >= j.  CR_GOAL_LEN_FAST's walk of avg_set[ilog2(goal)]
	   skips the members outside the bitmap of the goal's own sub: their
	   average is below the goal (group_sets.c).  Written by the group's
	   lock holder (atomic RMWs with threads), read racily as a hint like
	   the counters it mirrors. */
	_Atomic uint64_t *avg_hi;
	uint32_t avg_hi_words;
	/* set_locks[i]: held, with threads, by whoever writes word i of
	   level 0 of the sets above (largest_set .. avg_ge, avg_hi): a
	   group's move between them (group_sets.c), under the bb_lock of one
	   of the word's 64 groups.  Those words then take plain loads and
	   stores (gset.h): one lock for the move, rather than a locked RMW
	   for each word it changes (five to twenty).  Zeroed, never
	   initialized: rank 0, MB_RANK_SLOT; nothing is taken inside.
	   Readers take no lock.  avg_hi_words of them. */
	struct mb_mutex *set_locks;
	/* avg_floor[ao][s]: the least average of sub s in order ao (s = 8:
	   of the next order; UINT32_MAX at max_order: no bound); const */
	uint32_t avg_floor[MB_MAX_ORDERS][MB_AVG_SUBS + 1];

	struct mb_tunables t;
	/*
	 * The lowest order mb_scan_power2_fast serves (alloc.c), or UINT32_MAX
	 * while the tunables, a test hook or a read-only store send every
	 * request the regular way: mb_order2_req's bound and the fast path's
	 * own (above MB_BUDDY_DERIVED) folded with mb_stats, mb_optimize_scan,
	 * mb_max_linear_groups, mb_scan_summary, hook_fn and the store, so
	 * that a request reads one word for them, not eight.  Written (relaxed) by whatever
	 * writes those (mb_tunables_retune: mb_tunables_default,
	 * mb_tunable_set, mb_hook_set); a request racing a write sees the
	 * value before or after, as it would see either tunable.
	 */
	uint32_t p2_fast_lo;

	struct mb_pcpu *pcpu;
	uint32_t pcpu_mask; /* slots - 1 (a power of two) */
	struct mb_lg *lgs;  /* one per slot */

	/* Stream goals (ext4 6.17: several, hashed by inode); relaxed hints.
	   MB_STREAM_GOAL_UNSET until a stream allocation wrote one. */
	_Atomic uint64_t *stream_goals;
	uint32_t nr_stream_goals;

	struct mb_mutex v_lock; /* rank MB_RANK_VOLUME: protects v_files */
	struct mb_list v_files;

	/* Requests in their ENOSPC retry rounds; while > 0 nobody preallocates.
	   Written only on the failure path, read (relaxed) by every request:
	   its own cache line keeps the fast path's read shared and clean. */
	_Alignas(MB_CACHELINE) _Atomic int enospc_pressure;
	char enospc_pad[MB_CACHELINE - sizeof(int)];

	/* ext4's s_lock_busy: group lock contention seen by allocators, 0..
	   MB_LOCK_BUSY_MAX; above MB_LOCK_BUSY_THRESHOLD the volume is busy
	   and closed files keep their inode PAs.  A relaxed estimate. */
	_Atomic uint32_t lock_busy;

	/* Free blocks held out of the buddy by an mb_trim() callback in flight. */
	_Atomic uint64_t trim_inflight;
	/* All-or-nothing vectors holding pieces they may give back (allocvec.c):
	   a constrained ENOSPC waits for them (constrain.c). */
	_Atomic uint64_t vec_holding;
	/* Failing allocators sleep here until held space comes back (wait.c). */
	struct mb_space_event space_ev;

	/* Blocks freed but not yet committed (deferred frees), all groups. */
	_Atomic uint64_t free_pending;
	struct mb_store *store; /* where the bitmaps live (store.h); const after creation */

	struct mb_resv resv; /* reserve.c; own cache lines */

	/* Test hooks: set before threads start; read without a lock. */
	mb_hook_fn hook_fn;
	void *hook_arg;

	/* group.c: a full-length pristine group's counters and orders, worked
	   out once (mb_groups_init) and copied into each such group at its
	   setup; const (unused with a single group).  Last: the fields before
	   keep their offsets (placed among them, GCC's code of mb_scan_linear
	   changed: aged:256, drain +6..9 instructions a call) */
	struct mb_group_counts {
		uint32_t free, first_free, fragments;
		int32_t largest_free_order, avg_fragment_size_order, free_order, avg_sub;
		uint32_t counters[MB_MAX_ORDERS];
	} grp_pristine;
	/* pristine.c: the template's built run tree of a pristine full-length
	   group, whose one free run starts at rs_pristine_start (set before
	   the release store of the pointer; NULL until a template is
	   published).  Read by runsum.c with an acquire load: a field, not a
	   call, so that runsum.c does not depend on pristine.c, which builds
	   the tree with runsum.c */
	_Atomic(const struct mb_rs *) rs_pristine;
	uint32_t rs_pristine_start;
	/* garena.c: the memory of the groups' bitmaps and derived buffers */
	struct mb_garena {
		struct mb_mutex lock;           /* rank MB_RANK_LEAF: the rest */
		char *next, *end;               /* the current chunk's unused part */
		struct mb_garena_chunk *chunks; /* every chunk, newest first */
		uint64_t left;                  /* bytes the groups not loaded may take */
		void *free[2];                  /* pieces given back, by kind */
		size_t bytes[2];                /* a piece's size, by kind */
	} garena;
	/* group.c: a bit per window of MB_GROUP_WINDOW group structs whose
	   pages were faulted in together (set once, by an RMW) */
	_Atomic uint64_t *groups_faulted;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

/* A public struct's spare space is all zero (mballoc.h: Growing structs). */
static inline bool mb_zeroed(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t any = 0;
	size_t i = 0;

	/* word by word, no early exit: a few loads and ors (every mb_alloc
	   checks its request's spare words; a byte loop cost ~25 instructions) */
	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, c + i, 8);
		any |= w;
	}
	for (; i < n; i++)
		any |= c[i];
	return !any;
}

/* The request names a left (right) neighbour: the flag, or a non-zero
   block as before the flag existed (mballoc.h, struct mb_request). */
static inline bool mb_req_has_left(const struct mb_request *req)
{
	return req->pleft || (req->flags & MB_REQ_PLEFT);
}

static inline bool mb_req_has_right(const struct mb_request *req)
{
	return req->pright || (req->flags & MB_REQ_PRIGHT);
}

static inline int mb_fls32(uint32_t x) /* 1-based index of the top bit; 0 for 0 */
{
	return x ? 32 - __builtin_clz(x) : 0;
}

static inline int mb_ilog2(uint64_t x) /* floor(log2 x), x > 0 */
{
	return 63 - __builtin_clzll(x);
}

/* Groups are almost always a power of two in size: shift, don't divide. */
static inline mb_grp_t mb_block_group(const struct mb_volume *vol, mb_fsblk_t b)
{
	b -= vol->data_first;
	return (mb_grp_t)(vol->bpg_shift ? b >> vol->bpg_shift : b / vol->bpg);
}

static inline mb_grpblk_t mb_block_offset(const struct mb_volume *vol, mb_fsblk_t b)
{
	b -= vol->data_first;
	return (mb_grpblk_t)(vol->bpg_shift ? b & (vol->bpg - 1) : b % vol->bpg);
}

static inline mb_fsblk_t mb_group_first_block(const struct mb_volume *vol, mb_grp_t g)
{
	return vol->data_first + (mb_fsblk_t)g * vol->bpg;
}

static inline bool mb_test_bit(const uint64_t *map, uint32_t i)
{
	return (map[i >> 6] >> (i & 63)) & 1;
}

static inline void mb_set_bit(uint64_t *map, uint32_t i)
{
	map[i >> 6] |= 1ULL << (i & 63);
}

static inline void mb_clear_bit(uint64_t *map, uint32_t i)
{
	map[i >> 6] &= ~(1ULL << (i & 63));
}

/* bitops.c */
uint32_t mb_find_next_zero_bit(const uint64_t *map, uint32_t size, uint32_t from);
uint32_t mb_find_next_bit(const uint64_t *map, uint32_t size, uint32_t from);
void mb_set_bits_words(uint64_t *map, uint32_t start, uint32_t len);
/*
 * A range inside one word (a PA hit's few blocks) is one OR, inline.  An
 * empty range touches nothing (it may start at the map's end).
 */
static inline void mb_set_bits(uint64_t *map, uint32_t start, uint32_t len)
{
	uint32_t b = start & 63;

	if (len - 1 < 64 - b) { /* 1 <= len <= 64 - b, without overflow */
		map[start >> 6] |= (~0ULL >> (64 - len)) << b;
		return;
	}
	mb_set_bits_words(map, start, len);
}
void mb_clear_bits(uint64_t *map, uint32_t start, uint32_t len);
bool mb_range_all_set(const uint64_t *map, uint32_t start, uint32_t len);
bool mb_range_all_clear(const uint64_t *map, uint32_t start, uint32_t len);
uint32_t mb_count_zero_bits(const uint64_t *map, uint32_t start, uint32_t len);

/*
 * A group's free-word summary: a bit a word of bb_bitmap, set over every
 * word that holds a free block (bits past bitmap_words clear), so that a
 * search for the next free block skips a used stretch 64 words a summary
 * word instead of a word at a time.  The one-block scan (mb_buddy_scan1)
 * jumps over used stretches of hundreds of words after the round's holes
 * are taken: cell:aged90:1:zero:20 read ~320 bitmap words a call for it.
 * A bit over a full word is allowed: marks leave theirs (each mark's
 * update cost 7 to 64 instructions a call in the other probes), and the
 * search that finds one clears it (mb_fws_next_free).  A free sets its
 * words' bits (mb_fws_freed): every change that frees a block is in
 * buddy.c, next to the run tree's mark.  Derived from the bitmap, as the
 * buddy: it lives in the derived buffer after the run tree (vol->fws_off;
 * 8 words for 32768 blocks), built with the buddy (mb_buddy_generate, the
 * pristine template).  mb_check and the asserts check it (mb_fws_ok).
 * Locking: bb_lock, as the bitmap.
 */
static inline uint32_t mb_fws_words(const struct mb_volume *vol)
{
	return (vol->bitmap_words + 63) >> 6;
}

static inline uint64_t *mb_fws(const struct mb_volume *vol, const struct mb_group *grp)
{
	return grp->bb_buddy + vol->fws_off;
}
void mb_fws_build(const struct mb_volume *vol, const uint64_t *bitmap, uint64_t *fws);
bool mb_fws_ok(const struct mb_volume *vol, const uint64_t *bitmap, const uint64_t *fws);

/* reserve.c: the free-block counter (per-CPU stripes) and reservations */
void mb_free_counter_add(struct mb_volume *vol, int64_t delta);
void mb_free_counter_add_at(struct mb_volume *vol, struct mb_pcpu *slot, int64_t delta);
void mb_free_counter_consume(struct mb_volume *vol, uint64_t len, uint32_t flags);
void mb_free_counter_unconsume(struct mb_volume *vol, uint64_t len, uint32_t flags);
int64_t mb_free_counter_sum(const struct mb_volume *vol);
void mb_resv_init(struct mb_volume *vol);
void mb_resv_destroy(struct mb_volume *vol);
struct mb_ac;
int mb_resv_claim_request_slow(struct mb_ac *ac, uint64_t *claimed); /* alloc_ctx.h */
void mb_resv_consumed(struct mb_volume *vol, uint64_t claimed, uint64_t got, uint32_t flags);
struct mb_pcpu;
bool mb_resv_take_exact(struct mb_pcpu *slot, uint64_t need, uint64_t n);
bool mb_resv_take_exact_one(struct mb_pcpu *slot, uint64_t need, uint64_t n, bool one);
void mb_resv_retune(struct mb_volume *vol);
bool mb_resv_must_retry(struct mb_volume *vol, uint32_t flags);
uint32_t mb_resv_default_clusters(const struct mb_volume *vol);
uint64_t mb_resv_claim_span(struct mb_volume *vol, uint64_t lo, uint64_t hi, uint32_t flags,
			    struct mb_pcpu **slot);

/* stats.c (the per-CPU statistics inlines are in percpu.h) */
void mb_tunables_default(struct mb_volume *vol);
void mb_tunables_retune(struct mb_volume *vol);

/* gcache.c */
int mb_gcache_init(struct mb_volume *vol);
void mb_gcache_destroy(struct mb_volume *vol);
void mb_gcache_track_locked(struct mb_volume *vol, struct mb_group *grp);
uint64_t *mb_gcache_claim_locked(struct mb_volume *vol, struct mb_group *grp);
int mb_gcache_unshare_locked(struct mb_volume *vol, struct mb_group *grp);
int mb_gcache_unshare_range_locked(struct mb_volume *vol, struct mb_group *grp, uint32_t off,
				   uint32_t len);
bool mb_gcache_share_locked(struct mb_volume *vol, struct mb_group *grp);
/* Whether grp's bb_disk holds PAs' unused blocks, free on disk (gcache.c):
   its maps shared and a PA listed.  bb_lock held. */
static inline bool mb_gcache_pa_tails_locked(const struct mb_group *grp)
{
	/* most groups hold no PA: that test first (a free's) */
	return !mb_list_empty(&grp->bb_prealloc_list) && grp->bb_bitmap == grp->bb_disk;
}
const uint64_t *mb_gcache_disk_view_locked(const struct mb_volume *vol, struct mb_group *grp,
					   uint64_t *scratch);
uint32_t mb_gcache_tail_blocks_locked(const struct mb_volume *vol, struct mb_group *grp,
				      uint32_t off, uint32_t len);
bool mb_gcache_disk_used_locked(const struct mb_volume *vol, struct mb_group *grp, uint32_t off);

/* runsum.c: bb_lock held (the tree lives in the group's bitmap buffer) */
uint32_t mb_runsum_leaves_for(uint32_t bitmap_words);
size_t mb_runsum_words(const struct mb_volume *vol);
struct mb_rs *mb_runsum_tree(const struct mb_volume *vol, const struct mb_group *grp);
void mb_runsum_build_locked(const struct mb_volume *vol, struct mb_group *grp);
void mb_runsum_invalidate_locked(const struct mb_volume *vol, struct mb_group *grp);
void mb_runsum_fill_one_run(const struct mb_volume *vol, struct mb_rs *t, uint32_t s, uint32_t e);
void mb_runsum_set_pristine(struct mb_rs *t);
void mb_runsum_update_locked(const struct mb_volume *vol, struct mb_group *grp, uint32_t start,
			     uint32_t len);
void mb_runsum_mark_locked(const struct mb_volume *vol, struct mb_group *grp, uint32_t start,
			   uint32_t len, bool used, bool whole);
void mb_runsum_mark_aligned_used_locked(const struct mb_volume *vol, struct mb_group *grp,
					uint32_t start, uint32_t len, bool stay_idle);
void mb_runsum_flush_locked(const struct mb_volume *vol, struct mb_group *grp);
uint32_t mb_runsum_next_long(const struct mb_volume *vol, struct mb_group *grp, uint32_t from,
			     uint32_t len);
/* blocks a leaf of the run tree covers (runsum.c's MB_RS_LEAF_BITS) */
#define MB_RUNSUM_LEAF_BLOCKS 1024u
uint32_t mb_runsum_next_long_end(const struct mb_volume *vol, struct mb_group *grp,
				 uint32_t from, uint32_t len, uint32_t *end);
/* The long scan's whole-group start (bb_lock held): true when the tree is
   then all fresh, and mb_runsum_next_long_end_fresh answers, its walk inline */
bool mb_runsum_long_begin(const struct mb_volume *vol, struct mb_group *grp);
uint32_t mb_runsum_next_long_end_fresh(const struct mb_volume *vol, struct mb_group *grp,
				       uint32_t from, uint32_t len, uint32_t *end);
/* a free run [start, end) of mb_runsum_long_runs_fresh's batch (the
   scan measures in the walk instead: mb_runsum_long_measure_fresh) */
struct mb_runsum_run {
	uint32_t start, end;
};
#define MB_RUNSUM_RUNS 8u /* the runs a batch holds at most */
uint32_t mb_runsum_long_runs_fresh(const struct mb_volume *vol, struct mb_group *grp,
				   uint32_t from, uint32_t len, struct mb_runsum_run *runs,
				   uint32_t nmax, uint32_t *resume);
/*
 * What ext4's measure (mb_find_extent, here mb_buddy_find_extent_known)
 * gets at q for a goal of `goal` blocks, when the free run holding q ends
 * at e >= q + goal and q starts a maximal free chunk (the run's start, or
 * where the last measure ended): the end of the maximal chunk holding the
 * goal's last block x.  A free run's maximal chunks are the largest
 * aligned ones inside it, capped at max_order; the aligned chunk of order
 * k holding x lies in [q, e) iff x and q - 1 differ in a bit k or higher,
 * as do x and e, so its order is ilog2 of the least of x ^ (q - 1), x ^ e
 * and 2^max_order (cap).  No buddy bit is read: the run tree gave e.
 */
static inline uint32_t mb_long_piece(uint32_t q, uint32_t e, uint32_t goal, uint32_t cap)
{
	uint32_t x = q + goal - 1, a = x ^ (q - 1u), b = x ^ e;
	uint32_t m = a < b ? a : b;
	/* ilog2 as clz ^ 31: one bsr (63 - clz left GCC a bsr, a xor and
	   a sub) */
	int k = __builtin_clz(m < cap ? m : cap) ^ 31;

	return (((x >> k) + 1) << k) - q;
}

/*
 * The long scan's measures (alloc.c, mb_scan_long_runs_fresh), taken by
 * mb_runsum_long_measure_fresh at each run of the goal as its walk names
 * it: ext4's pieces of the run (mb_long_piece) and its verdicts on each,
 * the walk going on only while none decides.  The best of the goal or
 * more (blen, bstart: none replaced it while bstart is UINT32_MAX), the
 * pieces counted (found) and the group's free count as measured down.
 */
struct mb_long_scan {
	/* as mb_scan_long_runs_stale's, its take the goal: no MB_HINT_FIRST */
	uint32_t goal, decide, max, cap;
	uint32_t blen, bstart, found, free;
	uint32_t tstart, tlen; /* MB_LONG_TAKEN: the piece taken at once */
};
enum mb_long_end {
	MB_LONG_GO_ON,   /* the group's end: no verdict */
	MB_LONG_TAKEN,   /* a piece of the goal exactly: tstart, tlen */
	MB_LONG_BEST,    /* found past decide and min, a best: take it */
	MB_LONG_BREAK,   /* found past max */
	MB_LONG_CORRUPT, /* a piece longer than the free count */
};
int mb_runsum_long_measure_fresh(const struct mb_volume *vol, struct mb_group *grp,
				 struct mb_long_scan *m);

/*
 * The measures of a run [p, e) of the goal or more for the long scan
 * (runsum.c's mb_rs_long_measure and mb_runsum_long_measure_fresh): its
 * pieces one after the other while the goal's length is left, each in
 * closed form (mb_long_piece), with alloc.c's verdicts
 * (mb_scan_long_runs_stale's); a verdict ends the walk.
 * The rising pieces in bulk: where a piece ended at p, with s =
 * min(lowbit(p), cap) more than the goal and e - p >= s, the next piece is
 * s (the goal's last block lies in [p, p + s), an aligned chunk of order
 * log s the run holds), and it ends at a multiple of 2s, or of cap: the
 * pieces rise so, the powers of two that sum to p rounded up to cap, then
 * pieces of cap while cap blocks are left, until one no longer fits
 * (then they fall, each from mb_long_piece again).  None is the goal (all
 * more) and none is shorter than s, so none replaces a best of s or less:
 * while found stays at lim or less (the count where a verdict falls: past
 * decide with a best of this visit, past max without) and within the free
 * count, they change nothing but the two counts -- a loop of lowbits up
 * to cap, and the pieces of cap counted at once.  The piece that may
 * decide is measured as before.  cell:empty:100:rand:20 measured 6.3
 * pieces a call, each ~29 instructions.  rise: in bulk (the tail runs of
 * mb_runsum_long_measure_fresh), or one by one (the walk's runs, mostly
 * of a piece or two: in bulk aging:triangle 2070 -> 2081 instructions a
 * call).  A closed form of the rising part too (a popcount of P - p, the
 * verdict's piece placed arithmetically) spilled more than it saved:
 * cell:empty:100:zero:20 1574 -> 1563 against 1554 with this loop.
 */
static inline __attribute__((always_inline)) int mb_long_measure_run(struct mb_long_scan *m,
								      uint32_t p, uint32_t e, bool rise)
{
	const uint32_t goal = m->goal;
	uint32_t free = m->free, found = m->found, blen = m->blen, bstart = m->bstart;
	int r = MB_LONG_GO_ON;

	for (;;) {
		uint32_t len = mb_long_piece(p, e, goal, m->cap);

		/* the buddy's measure there: asserted by the caller
		   (mb_scan_long_runs_fresh) on the pieces it keeps -- a call of
		   buddy.c from runsum.c would make the two depend on each
		   other (scripts/depgraph.py) */
		assert(len >= goal);
		if (__builtin_sub_overflow(free, len, &free)) {
			r = MB_LONG_CORRUPT;
			break;
		}
		found++;
		if (len == goal) { /* take: the goal (no MB_HINT_FIRST here) */
			m->tstart = p;
			m->tlen = len;
			r = MB_LONG_TAKEN;
			break;
		}
		if (len < blen) {
			blen = len;
			bstart = p;
		}
		if (MB_UNLIKELY(found > m->decide)) {
			if (found > m->max) {
				r = MB_LONG_BREAK;
				break;
			}
			if (bstart != UINT32_MAX) {
				r = MB_LONG_BEST;
				break;
			}
		}
		p += len;
		if (e - p < goal)
			break;
		if (!rise) /* the walk's runs: one by one (aging:triangle +11 in bulk) */
			continue;
		/* the rising pieces while no verdict can fall (see above) */
		uint32_t s = p & -p;

		s = s < m->cap ? s : m->cap;
		if (s > goal && s >= blen) {
			uint32_t lim = bstart != UINT32_MAX ? m->decide : m->max;

			while (s < m->cap && found < lim && e - p >= s && free >= s) {
				free -= s;
				found++;
				p += s;
				s = p & -p;
			}
			if (s >= m->cap && found < lim) {
				int lg = __builtin_ctz(m->cap);
				uint32_t nc = (e - p) >> lg, f = free >> lg;

				nc = nc < f ? nc : f;
				nc = nc < lim - found ? nc : lim - found;
				found += nc;
				p += nc << lg;
				free -= nc << lg;
			}
			if (e - p < goal)
				break;
		}
	}
	m->free = free;
	m->found = found;
	m->blen = blen;
	m->bstart = bstart;
	return r;
}
/* mb_runsum_scan's answer: see there */
struct mb_runsum_scan {
	uint32_t next;     /* first block of a run of `want` or more, or bpg */
	uint32_t runs;     /* shorter runs before it (at most max_runs) */
	uint32_t longest;  /* the longest of them */
	uint32_t at;       /* where the first of them starts */
	bool stopped;      /* the max_runs-th closed before a run of `want` */
};
void mb_runsum_scan(const struct mb_volume *vol, struct mb_group *grp, uint32_t from,
		    uint32_t want, uint32_t max_runs, struct mb_runsum_scan *o);
/* max_runs > 0 here */
void mb_runsum_scan_above(const struct mb_volume *vol, struct mb_group *grp, uint32_t from,
			  uint32_t want, uint32_t max_runs, uint32_t floor,
			  struct mb_runsum_scan *o);
bool mb_runsum_root_fresh(const struct mb_volume *vol, const struct mb_group *grp);
bool mb_runsum_long_runs(const struct mb_group *grp);
void mb_runsum_count_fresh(const struct mb_volume *vol, struct mb_group *grp, uint32_t want,
			   uint32_t max_runs, uint32_t floor, struct mb_runsum_scan *o);
void mb_runsum_count_locked(const struct mb_volume *vol, struct mb_group *grp, uint32_t want,
			    uint32_t max_runs, uint32_t floor, struct mb_runsum_scan *o);
bool mb_runsum_scan_fresh_root(const struct mb_volume *vol, struct mb_group *grp, uint32_t want,
			       uint32_t max_runs, struct mb_runsum_scan *o);

/* buddy.c: every function needs the group's bb_lock (or exclusive access) */
void mb_buddy_generate(struct mb_volume *vol, struct mb_group *grp);
void mb_buddy_mark_used(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start,
			uint32_t len);
void mb_buddy_mark_found_used(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start,
			      uint32_t len, int k);
void mb_buddy_mark_piece_used(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start,
			      uint32_t len, uint32_t pe);
void mb_buddy_mark_one_used(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t c, int k);
void mb_buddy_mark_chunk_front_used_at(struct mb_volume *vol, struct mb_group *grp,
				       mb_grpblk_t c, int k, int lo);
void mb_buddy_mark_chunk_front_used_anon(struct mb_volume *vol, struct mb_group *grp,
					 mb_grpblk_t c, int k, int lo);
/*
 * The first step of mb_buddy_mark_chunk_front_used_at, which its callers
 * take themselves: the maximal free chunk of order k at c leaves the
 * buddy -- its bit kbit in word *kw of order k's map, as the lookup that
 * found it hands them (mb_scan_power2_fast_chunk_at_locked), is set.
 * mb_buddy_chunk_unleave undoes it while nothing else changed (a claim
 * that failed).  bb_lock held.
 */
static inline void mb_buddy_chunk_leave(uint64_t *kw, uint64_t kbit)
{
	assert(!(*kw & kbit));
	*kw |= kbit;
}
static inline void mb_buddy_chunk_unleave(uint64_t *kw, uint64_t kbit)
{
	*kw &= ~kbit;
}
int mb_buddy_free(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start, uint32_t len);
void mb_buddy_free_validated(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start,
			     uint32_t len);
uint32_t mb_buddy_find_extent(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t block,
			      uint32_t needed);
uint32_t mb_buddy_find_extent_known(struct mb_volume *vol, struct mb_group *grp,
				    mb_grpblk_t block, uint32_t needed, uint32_t known);
uint32_t mb_buddy_next_extent1(const struct mb_volume *vol, const struct mb_group *grp,
			       mb_grpblk_t from, uint32_t *len);
struct mb_scan1 {
	uint32_t count;		/* extents measured */
	mb_grpblk_t start;	/* the first of the shortest of them */
	uint32_t len;		/* its length; 0 if none */
	bool over;		/* stopped: the next one exceeds the free count */
};
void mb_buddy_scan1(const struct mb_volume *vol, const struct mb_group *grp, mb_grpblk_t from,
		    uint32_t n, uint32_t free, struct mb_scan1 *out);
/*
 * mb_buddy_scan1 from the group's first free block when every block from
 * there to the group's end is free (its free count is that tail's length)
 * and the group's end is a multiple of 2^max_order: one run, whose
 * maximal chunks rise from from's alignment (each chunk's end aligned to
 * the next's larger order) up to 2^max_order, then stay there.  The first
 * is the shortest (1 block when from is odd: the walk ends there), the
 * chunks are one a set bit of the rising part's length, then one a
 * 2^max_order, and none exceeds the free count: the walk's answer without
 * a read of the bitmap or buddy.  The sequential fill of one-block
 * requests (raw:1) finds its groups so: the walk's chunk after chunk cost
 * it ~100 instructions a call.  Here, not in buddy.c: alloc.c's one-block
 * fast path (mb_alloc_one_fast) answers with it alone -- a second caller
 * of mb_buddy_scan1 made gcc stop inlining it into mb_visit_group.
 */
static inline bool mb_scan1_tail_free(const struct mb_volume *vol, const struct mb_group *grp,
				      mb_grpblk_t from, uint32_t free)
{
	return from == grp->bb_first_free && free == grp->bb_free && free &&
	       free == vol->bpg - from && !(vol->bpg & ((1u << vol->max_order) - 1));
}

/* the order of that tail's first chunk, the shortest */
static inline int mb_scan1_tail_order(const struct mb_volume *vol, mb_grpblk_t from)
{
	int top = vol->max_order, k = from ? __builtin_ctz(from) : top;

	return k < top ? k : top;
}

static inline void mb_scan1_tail(const struct mb_volume *vol, mb_grpblk_t from, uint32_t n,
				 struct mb_scan1 *out)
{
	int top = vol->max_order, k = mb_scan1_tail_order(vol, from);
	uint32_t step = 1u << top, rise_end = (from + step - 1) & ~(step - 1);
	uint32_t chunks = (uint32_t)__builtin_popcount(rise_end - from) +
			  ((vol->bpg - rise_end) >> top);

	out->start = from;
	out->len = 1u << k;
	out->count = k == 0 ? 1 : chunks < n ? chunks : n;
}
int mb_buddy_order_fast(const struct mb_volume *vol, const struct mb_group *grp,
			mb_grpblk_t block);
int mb_buddy_order_for_block(const struct mb_volume *vol, const struct mb_group *grp,
			     mb_grpblk_t block);
int mb_buddy_first_free_chunk(const struct mb_volume *vol, const struct mb_group *grp, int order,
			      mb_grpblk_t *start);
void mb_buddy_counters_from_run(const struct mb_volume *vol, uint32_t *counters,
				mb_grpblk_t start, uint32_t len, uint64_t *buddy);
struct mb_buddy_summary {
	uint32_t free, frags, first;
	uint32_t counters[MB_MAX_ORDERS];
};
void mb_buddy_build(const struct mb_volume *vol, const uint64_t *bitmap, uint64_t *buddy,
		    struct mb_buddy_summary *sum);
/* Sets grp's counters and scan sets from a build's summary (the free-run
   tree is the caller's to keep in step).  bb_lock. */
void mb_buddy_apply_summary_locked(struct mb_volume *vol, struct mb_group *grp,
				   const struct mb_buddy_summary *sum);
/* pristine.c: a pristine group's bitmap, buddy and run tree, copied from
   the volume's template */
struct mb_pristine;
const struct mb_pristine *mb_pristine_fill_locked(struct mb_volume *vol,
						  const struct mb_group *grp, uint64_t *disk,
						  uint32_t rsv, bool zeroed);
void mb_pristine_derive_locked(struct mb_volume *vol, struct mb_group *grp, uint32_t rsv,
			       const struct mb_pristine *t);
void mb_pristine_destroy(struct mb_volume *vol);
/* The reference build, run by run (mb_check, tests): the same result. */
void mb_buddy_build_runs(const struct mb_volume *vol, const uint64_t *bitmap, uint64_t *buddy,
			 struct mb_buddy_summary *sum);
/*
 * Buddy orders 1..MB_BUDDY_DERIVED have no map: their chunks lie inside one
 * bitmap word, so a bit is read off the in-core bitmap (buddy.c) -- 7/8 of
 * a full buddy's memory at 4 KiB blocks.  mb_buddy_order_map is for the
 * orders above; mb_buddy_bit answers for any order >= 1.
 */
#define MB_BUDDY_DERIVED 3
static inline uint64_t *mb_buddy_order_map(const struct mb_volume *vol, uint64_t *buddy, int k)
{
	assert(k > MB_BUDDY_DERIVED);
	return buddy + vol->mb_offsets[k];
}
bool mb_buddy_bit(const struct mb_volume *vol, const uint64_t *bitmap, const uint64_t *buddy,
		  int k, uint32_t i);

/* group_sets.c: the optimized-scan sets, kept in step with the counters */
int mb_group_avg_order(const struct mb_volume *vol, uint32_t free, uint32_t frags);
int mb_group_free_order(const struct mb_volume *vol, uint32_t free, uint32_t frags);
int mb_group_largest_order(const struct mb_volume *vol, const uint32_t *counters);
void mb_group_update_orders_locked(struct mb_volume *vol, struct mb_group *grp);
void mb_group_reorder_used_locked(struct mb_volume *vol, struct mb_group *grp);
void mb_group_update_orders_freed_locked(struct mb_volume *vol, struct mb_group *grp, int top);
int mb_group_avg_sub(uint32_t free, uint32_t frags, int ao);
int mb_avg_hi_init(struct mb_volume *vol);
void mb_avg_hi_destroy(struct mb_volume *vol);
void mb_avg_hi_fill(struct mb_volume *vol, int sub, uint32_t n, const struct mb_gset_image *img);
void mb_avg_hi_add(struct mb_volume *vol, mb_grp_t g, int sub);
/* avg_hi's bitmap of sub j (1..MB_AVG_SUBS - 1) */
static inline _Atomic uint64_t *mb_avg_hi_map(const struct mb_volume *vol, int j)
{
	return vol->avg_hi + (size_t)(j - 1) * vol->avg_hi_words;
}

/* group.c */
int mb_groups_init(struct mb_volume *vol);
void mb_group_setup(struct mb_volume *vol, struct mb_group *grp);
uint32_t mb_group_len(const struct mb_volume *vol, mb_grp_t g);
uint32_t mb_group_pristine_free(const struct mb_volume *vol, mb_grp_t g);
/* grp set up (mb_group_setup if it was not), and its bb_state as then read */
static inline uint32_t mb_group_setup_state(struct mb_volume *vol, struct mb_group *grp)
{
	/* acquire: pairs with the release store that ends mb_group_setup */
	uint32_t st = atomic_load_explicit(&grp->bb_state, memory_order_acquire);

	if (MB_UNLIKELY(!(st & MB_GRP_SETUP))) {
		mb_group_setup(vol, grp);
		st = atomic_load_explicit(&grp->bb_state, memory_order_relaxed);
	}
	return st;
}

/*
 * Group g, set up on first use (lazy; safe from any thread, lock-free).
 * Every access to a group goes through here or mb_group_peek().
 */
static inline struct mb_group *mb_group_at(struct mb_volume *vol, mb_grp_t g)
{
	struct mb_group *grp = &vol->groups[g];

	(void)mb_group_setup_state(vol, grp);
	return grp;
}
/* Group g if it was ever set up, else NULL (it is then pristine: only its
   metadata used, no PA, nothing pending).  Lock-free. */
static inline struct mb_group *mb_group_peek(struct mb_volume *vol, mb_grp_t g)
{
	struct mb_group *grp = &vol->groups[g];

	return (atomic_load_explicit(&grp->bb_state, memory_order_acquire) & MB_GRP_SETUP) ? grp
											   : NULL;
}
/* The next group >= g ever set up, or UINT32_MAX: walks skip the rest. */
static inline mb_grp_t mb_group_next_setup(const struct mb_volume *vol, mb_grp_t g)
{
	return mb_gset_next(&vol->setup_set, g);
}
void mb_groups_destroy(struct mb_volume *vol);
int mb_group_load_locked(struct mb_volume *vol, struct mb_group *grp);
/* Gives a group's derived buffer (buddy, run tree) back to the volume's
   arena (garena.c; NULL: nothing).  Here, not in group.c: gcache.c frees
   one too, and group.c calls gcache.c */
static inline void mb_group_derived_free(struct mb_volume *vol, uint64_t *buf)
{
	mb_garena_put(vol, MB_GARENA_DERIVED, buf);
}
int mb_group_lock_usable(struct mb_volume *vol, struct mb_group *grp);
void mb_group_set_corrupt_locked(struct mb_volume *vol, struct mb_group *grp);
static inline mb_grp_t mb_group_no(const struct mb_volume *vol, const struct mb_group *grp)
{
	return (mb_grp_t)(grp - vol->groups);
}
static inline bool mb_group_corrupt(struct mb_group *grp)
{
	return atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_CORRUPT;
}
/*
 * The on-disk map changed since the last commit (bb_lock held).  Only a
 * commit's snapshot clears DIRTY, and it takes bb_lock: a flag seen set
 * here stays set until we unlock, so the locked OR is needed only when it
 * is clear -- once a commit, not once a change.
 */
static inline void mb_group_set_dirty_locked(struct mb_group *grp)
{
	if (!(atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_DIRTY))
		atomic_fetch_or_explicit(&grp->bb_state, MB_GRP_DIRTY, memory_order_relaxed);
}
/*
 * Do the recorded orders still hold after blocks were marked used?  A use
 * only empties chunks and splits them into lower orders, and lowers
 * bb_free: the largest order holds while its counter is non-zero, the free
 * order (ilog2(free), capped) while free >= 2^fo, and the average order
 * and its sub s while avg_floor[ao][s] <= free / frags < avg_floor[ao][s
 * + 1] (no upper bound at max_order's top sub: UINT32_MAX there, above
 * any free), which is free >= frags * avg_floor[ao][s] and free < frags *
 * avg_floor[ao][s + 1] -- two loads, products and compares instead of a
 * division and two ilog2 (most uses change none).  The recorded orders
 * are all -1 (nothing free, or corrupt: mb_group_update_orders_from) or
 * all >= 0, so lo alone says which; a use that took the last free run
 * left no counter, and fails at lo's.  Inline in buddy.c's mark: most
 * uses end here, and a call would cost as much as the test.  rose: the
 * average may have risen -- the use took a whole free run, one fragment
 * fewer; else the fragments stayed or grew by one as free fell, the
 * average only fell, and the upper bound it was below holds (_as with
 * rose false: one load, product and compare fewer).
 */
static inline bool mb_group_orders_hold_used_as(const struct mb_volume *vol,
						struct mb_group *grp, uint64_t free, uint64_t frags,
						bool rose)
{
	int lo = grp->bb_largest_free_order, ao = grp->bb_avg_fragment_size_order;
	int fo = grp->bb_free_order, as = grp->bb_avg_sub;

	assert(free == grp->bb_free && frags == grp->bb_fragments);
	if (lo < 0 || !grp->bb_counters[lo])
		return false;
	assert(ao >= 0 && fo >= 0 && frags && !mb_group_corrupt(grp));
	const uint32_t *floor = &vol->avg_floor[ao][as];

	assert(rose || free < frags * floor[1]);
	return free >= 1ULL << fo && free >= frags * floor[0] && (!rose || free < frags * floor[1]);
}

/* mb_group_orders_hold_used_as when the caller cannot say the average
   fell: the upper bound tested too */
static inline bool mb_group_orders_hold_used_at(const struct mb_volume *vol,
						struct mb_group *grp, uint64_t free, uint64_t frags)
{
	return mb_group_orders_hold_used_as(vol, grp, free, frags, true);
}

/*
 * mb_group_orders_hold_used_at for a use that left the fragments as they
 * were (it took the front of a run, not all of it) and lowered free: the
 * average only fell, and stays below the upper bound it was below.  The
 * group had that run free, so its recorded orders are not -1.  The use
 * took a chunk of order k and gave back halves to orders below it
 * (buddy.c's front take): only a largest order of k can have lost its
 * last chunk (k <= it; the others' counters grew or stayed) -- one compare
 * of k, not the counter's load; and free >= 2^fo is free >> fo, no shift
 * of a 1 to compare with.
 */
static inline bool mb_group_orders_hold_front_used(const struct mb_volume *vol,
						   struct mb_group *grp, uint64_t free,
						   uint64_t frags, int k)
{
	int lo = grp->bb_largest_free_order, ao = grp->bb_avg_fragment_size_order;
	int fo = grp->bb_free_order, as = grp->bb_avg_sub;

	assert(free == grp->bb_free && frags == grp->bb_fragments);
	assert(lo >= 0 && ao >= 0 && fo >= 0 && frags && !mb_group_corrupt(grp));
	assert(k <= lo && (k == lo || grp->bb_counters[lo]));
	if (lo == k && !grp->bb_counters[lo])
		return false;
	assert(free < frags * vol->avg_floor[ao][as + 1]);
	return (free >> fo) && free >= frags * vol->avg_floor[ao][as];
}

/* Debug builds: the orders recorded are those the counters give. */
static inline void mb_group_orders_check(const struct mb_volume *vol, struct mb_group *grp)
{
	assert(grp->bb_largest_free_order == mb_group_largest_order(vol, grp->bb_counters) &&
	       grp->bb_avg_fragment_size_order ==
		       mb_group_avg_order(vol, grp->bb_free, grp->bb_fragments) &&
	       grp->bb_free_order == mb_group_free_order(vol, grp->bb_free, grp->bb_fragments) &&
	       grp->bb_avg_sub == mb_group_avg_sub(grp->bb_free, grp->bb_fragments,
						   grp->bb_avg_fragment_size_order));
	(void)vol;
	(void)grp;
}

uint64_t *mb_group_pending_map(const struct mb_volume *vol, struct mb_group *grp);
void mb_group_clear_disk_locked(struct mb_group *grp, mb_grpblk_t start, uint32_t len);
void mb_group_mark_disk_locked(struct mb_group *grp, mb_grpblk_t start, uint32_t len);
void mb_group_mark_disk_fast_locked(struct mb_group *grp, mb_grpblk_t start, uint32_t len);
void mb_group_mark_disk_used_locked(struct mb_volume *vol, struct mb_group *grp,
				    mb_grpblk_t start, uint32_t len, uint32_t flags);
/* One group's piece of a range; apply false: only validate it. */
typedef int (*mb_range_piece_fn)(struct mb_volume *vol, mb_grp_t g, mb_grpblk_t off,
				 uint32_t len, bool apply);
int mb_range_piece_check_locked(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t off,
				uint32_t len);
/* A range mb_free or mb_mark_used refuses with -EINVAL: empty, or not
   inside the volume's data blocks (written so that no sum can wrap) */
static inline bool mb_range_bad(const struct mb_volume *vol, uint64_t start, uint64_t len)
{
	return !len || start < vol->geo.first_data_block || start >= vol->geo.blocks_count ||
	       len > vol->geo.blocks_count - start;
}
int mb_range_validate_apply(struct mb_volume *vol, uint64_t start, uint64_t len,
			    mb_range_piece_fn piece);

/* normalize.c, prealloc.c, alloc.c, free.c: see the per-file headers */
struct mb_ac;
void mb_normalize_request(struct mb_ac *ac);
bool mb_normalize_window(uint64_t size, uint64_t req_bytes, uint64_t logical, int bsbits,
			 uint64_t *wsize, uint64_t *wstart);
bool mb_use_inode_preallocated(struct mb_ac *ac);
bool mb_pa_fast_may(const struct mb_volume *vol, const struct mb_request *req);
uint32_t mb_pa_fast_alloc(struct mb_volume *vol, const struct mb_request *req,
			  struct mb_extent *out);
/* the widest request mb_pa_fast_leaf serves: one bitmap word */
#define MB_PA_LEAF_MAX 64u
bool mb_pa_fast_leaf(struct mb_volume *vol, const struct mb_request *req, struct mb_extent *out);
bool mb_pa_fast_leaf_mt(struct mb_volume *vol, const struct mb_request *req,
			struct mb_extent *out);
bool mb_use_group_preallocated(struct mb_ac *ac);
struct mb_pa *mb_lg_pa_at(struct mb_lg *lg, mb_fsblk_t block);
struct mb_lg *mb_file_lg(struct mb_file *file, const struct mb_request *req);
/* A file's inode PAs in pa_lstart order; f_data_sem held.  _from(file, l):
   the first that may overlap [l, ...) (the last starting at or before l,
   else the first); NULL past the end. */
struct mb_pa *mb_file_pa_from(const struct mb_file *file, uint64_t lblk);
uint64_t mb_file_pa_end(const struct mb_file *file);
struct mb_pa *mb_file_pa_next(const struct mb_pa *pa);
void *mb_zalloc_lines(size_t size);
void mb_free_lines(void *p);
struct mb_pa *mb_pa_alloc(void);
void mb_pa_free(struct mb_pa *pa);
void mb_new_preallocation_locked(struct mb_ac *ac, struct mb_group *grp);
int mb_pa_unshare_locked(struct mb_ac *ac, struct mb_group *grp, uint32_t len);
void mb_pa_after_unlock(struct mb_ac *ac);
void mb_pa_release_context(struct mb_ac *ac);
int64_t mb_discard_group_preallocations(struct mb_volume *vol, mb_grp_t g, uint32_t needed,
					bool *busy);
int64_t mb_discard_file_preallocations(struct mb_file *file);
void mb_lgs_init(struct mb_volume *vol);
void mb_lgs_destroy(struct mb_volume *vol);
int mb_force_commit(struct mb_volume *vol);
void mb_return_blocks_locked(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t off,
			     uint32_t len);

/* wait.c */
int mb_space_event_init(struct mb_volume *vol);
void mb_space_event_destroy(struct mb_volume *vol);
uint64_t mb_space_sample(struct mb_volume *vol);
void mb_space_wait(struct mb_volume *vol, uint64_t seen);
void mb_space_wait_while(struct mb_volume *vol, uint64_t seen,
			 bool (*stay)(struct mb_volume *vol, const void *arg), const void *arg);
void mb_space_returned(struct mb_volume *vol);

/* volume.c */
int mb_geometry_validate(const struct mb_geometry *in, struct mb_geometry *out, uint32_t *groups);

/* group.c: seeding counters from a store, the metadata area, the commit's map */
void mb_group_seed_locked(struct mb_volume *vol, struct mb_group *grp, uint32_t free);
uint32_t mb_group_reserved(const struct mb_volume *vol, const struct mb_group *grp);
uint64_t *mb_group_committing_map(const struct mb_volume *vol, struct mb_group *grp);

/* ext4's EXT4_CONTENTION_THRESHOLD and EXT4_MAX_CONTENTION (lock_busy). */
#define MB_LOCK_BUSY_THRESHOLD 2
#define MB_LOCK_BUSY_MAX 8
#define MB_STREAM_GOAL_UNSET UINT64_MAX

#ifdef MB_TESTING
void mb_hook_set(struct mb_volume *vol, mb_hook_fn fn, void *arg);
#endif

#endif /* MB_INT_H */
