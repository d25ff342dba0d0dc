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
 * sleeper_is_woken: a thread that went to sleep on the lock (counted in
 * waiters) gets it when the holder unlocks; a missing wake would hang the
 * test.
 * first_sleep_switches: a lock taken in turn keeps its plain unlocks
 * (waiters stays 0); once a thread has slept on it, it is flagged
 * MB_MUTEX_XCHG for good and its unlocks exchange (mb_int.h).
 * unlock_dekker: the unlock's half of its Dekker with a sleeper is a plain
 * store then a plain load, which the CPU may reorder; the sleeper's half
 * (mb_lock_remote_fence) must still make one side see the other's store.
 * Litmus rounds of both halves on two threads: both reading 0 is a lost
 * wake-up.  Without the remote fence x86 shows it within thousands of
 * rounds when the two threads run at once.
 * cond_broadcast: waiters sleep on a condition until a broadcast under the
 * mutex; rounds race the broadcast against each waiter's way to sleep, so
 * a lost wake-up would hang.
 * bias_waits_for_owner: a lock one thread took MB_BIAS_STREAK times is
 * biased to it, and its next hold is by bias (the word stays 0); another
 * thread's mb_lock meanwhile must wait until the owner drops it, and
 * leaves the lock unbiased.  Fails if the revoker does not wait.
 * bias_trylock_busy: a trylock from another thread while the owner holds
 * the lock by bias is -EBUSY and keeps the bias; once the owner is out it
 * succeeds.  Fails if the trylock's revocation does not check the owner.
 * bias_handoff: two threads add to plain counters in long runs, so the
 * lock is biased to one, then revoked by the other, over and over; no
 * update may be lost (TSan sees each hold ordered after the last).
 * bias_streak_grows: the streak that biases a lock is MB_BIAS_STREAK_MIN
 * until a thread revokes another's bias, then four times longer at each
 * such revocation up to MB_BIAS_STREAK, for good; a revocation by the
 * owner itself changes nothing.
 * held_alone_since: mb_held_alone_since (alloc.c re-measures no best it
 * says nobody else touched) is true for a hold by bias with no bias granted
 * to this thread since the epoch, across its holds; false for a hold by
 * the word once another thread held the lock, and still false for the
 * epoch after this thread won the bias back (a grant since).
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
		while (!(atomic_load_explicit(&s.mx.waiters, memory_order_relaxed) &
			 ~MB_MUTEX_XCHG))
			sched_yield();
#endif
		mb_unlock(&s.mx);
		pthread_join(t, NULL);
	}
	ASSERT_EQ_U64(s.a, 50);
	mb_mutex_destroy(&s.mx);
}

#ifdef MB_LOCK_FUTEX
TEST(first_sleep_switches)
{
	struct shared s = { 0 };
	pthread_t t;

	ASSERT_EQ_INT(mb_mutex_init(&s.mx, MB_RANK_LEAF), 0);
	/* taken in turn by two threads, never at once: unlocks stay plain */
	ASSERT_EQ_INT(pthread_create(&t, NULL, take_once, &s), 0);
	pthread_join(t, NULL);
	mb_lock(&s.mx);
	mb_unlock(&s.mx);
	ASSERT_EQ_INT(atomic_load_explicit(&s.mx.waiters, memory_order_relaxed), 0);
	/* one thread sleeps on it: the lock exchanges from then on */
	mb_lock(&s.mx);
	ASSERT_EQ_INT(pthread_create(&t, NULL, take_once, &s), 0);
	while (!(atomic_load_explicit(&s.mx.waiters, memory_order_relaxed) & ~MB_MUTEX_XCHG))
		sched_yield();
	mb_unlock(&s.mx);
	pthread_join(t, NULL);
	ASSERT_EQ_U64(s.a, 2);
	ASSERT_EQ_INT(atomic_load_explicit(&s.mx.waiters, memory_order_relaxed), MB_MUTEX_XCHG);
	ASSERT_EQ_INT(atomic_load_explicit(&s.mx.word, memory_order_relaxed), 0);
	mb_mutex_destroy(&s.mx);
}

#define DEKKER_ROUNDS 20000

struct dekker {
	_Atomic uint32_t go[2]; /* round each side may start */
	_Atomic uint32_t x, y;  /* x: the unlock's word, y: the sleeper's count */
	_Atomic uint32_t done;  /* rounds the unlock side finished */
	uint32_t r1[DEKKER_ROUNDS]; /* what the unlock side read of y */
};

/* Spins until *w reads v, yielding now and then (the machine may be busy). */
static void dekker_until(_Atomic uint32_t *w, uint32_t v)
{
	for (uint32_t n = 1; atomic_load_explicit(w, memory_order_acquire) != v; n++)
		if (!(n & 65535))
			sched_yield();
}

/* The unlock's side: store, compiler barrier only, load (mb_mutex_unlock_raw). */
static void *dekker_unlock(void *arg)
{
	struct dekker *d = arg;

	for (uint32_t i = 1; i <= DEKKER_ROUNDS; i++) {
		dekker_until(&d->go[0], i);
		atomic_store_explicit(&d->x, i, memory_order_release);
		if (mb_lock_asym)
			atomic_signal_fence(memory_order_seq_cst);
		else
			atomic_thread_fence(memory_order_seq_cst);
		d->r1[i - 1] = atomic_load_explicit(&d->y, memory_order_relaxed);
		atomic_store_explicit(&d->done, i, memory_order_release);
	}
	return NULL;
}

TEST(unlock_dekker)
{
	struct dekker *d = calloc(1, sizeof(*d));
	uint32_t lost = 0;
	pthread_t t;

	ASSERT_EQ_INT(pthread_create(&t, NULL, dekker_unlock, d), 0);
	for (uint32_t i = 1; i <= DEKKER_ROUNDS; i++) {
		atomic_store_explicit(&d->go[0], i, memory_order_release);
		/* a varying head start for the other thread, so that in some
		   rounds both halves run at the same moment */
		for (volatile uint32_t k = (i * 7) % 97; k; k--)
			;
		/* the sleeper's side: count (an RMW), the remote fence, load */
		atomic_fetch_add_explicit(&d->y, 1, memory_order_seq_cst);
		ASSERT_TRUE(mb_lock_remote_fence());
		uint32_t r2 = atomic_load_explicit(&d->x, memory_order_relaxed);

		dekker_until(&d->done, i);
		/* the unlock read the count of an older round (y < i) and the
		   sleeper the word of an older round (x < i): neither saw the
		   other */
		if (d->r1[i - 1] < i && r2 < i)
			lost++;
	}
	pthread_join(t, NULL);
	ASSERT_EQ_INT(lost, 0);
	free(d);
}
#endif

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

#ifdef MB_LOCK_FUTEX
struct biased {
	struct mb_mutex mx;
	_Atomic int phase;       /* 1: the owner holds by bias; 2: may drop it */
	_Atomic int biased, by_bias, word_free; /* what the owner saw */
	int inside;              /* protected by mx */
	uint64_t a[2];           /* protected by mx */
	int who;
	struct mb_mutex *outer;  /* bias_owner takes it around mx, if set */
	bool if_biased;          /* bias_owner holds by mb_lock_if_biased */
	_Atomic int took;        /* mb_lock_if_biased's answer */
};

static void sleep_ms(long ms)
{
	struct timespec t = { 0, ms * 1000000 };

	nanosleep(&t, NULL);
}

/* Takes mx MB_BIAS_STREAK times (it is then biased here), then holds it. */
static void *bias_owner(void *arg)
{
	struct biased *b = arg;

	for (int i = 0; i < MB_BIAS_STREAK; i++) {
		if (b->outer)
			mb_lock(b->outer);
		mb_lock(&b->mx);
		mb_unlock(&b->mx);
		if (b->outer)
			mb_unlock(b->outer);
	}
	atomic_store(&b->biased, atomic_load(&b->mx.bias) == mb_lock_self &&
					mb_lock_self != &mb_lock_nobody);
	if (b->outer)
		mb_lock(b->outer);
	if (b->if_biased)
		atomic_store(&b->took, mb_lock_if_biased(&b->mx));
	else
		mb_lock(&b->mx);
	atomic_store(&b->by_bias, atomic_load(&mb_lock_self->in[b->mx.rank]) == &b->mx);
	atomic_store(&b->word_free, atomic_load(&b->mx.word) == 0);
	b->inside = 1;
	atomic_store(&b->phase, 1);
	while (atomic_load(&b->phase) != 2)
		sched_yield();
	sleep_ms(50); /* a revoker that does not wait gets in meanwhile */
	b->inside = 0;
	if (b->if_biased)
		mb_unlock_biased(&b->mx);
	else
		mb_unlock(&b->mx);
	if (b->outer)
		mb_unlock(b->outer);
	return NULL;
}

static bool bias_wait_phase(struct biased *b, int phase)
{
	while (atomic_load(&b->phase) != phase)
		sched_yield();
	return true;
}

/*
 * b's owner thread takes b->mx until the lock is biased to it and holds it
 * by bias; then this thread's mb_lock revokes the bias and must wait for
 * the owner to drop it (b->inside seen 0).
 */
static void bias_revoke_waits(struct biased *b)
{
	pthread_t t;

	ASSERT_EQ_INT(pthread_create(&t, NULL, bias_owner, b), 0);
	bias_wait_phase(b, 1);
	ASSERT_TRUE(atomic_load(&b->biased));
	ASSERT_TRUE(atomic_load(&b->by_bias));
	ASSERT_TRUE(atomic_load(&b->word_free));
	atomic_store(&b->phase, 2);
	mb_lock(&b->mx); /* revokes, and must wait for the owner to drop it */
	int seen = b->inside;

	ASSERT_TRUE(atomic_load(&b->mx.bias) == NULL);
	mb_unlock(&b->mx);
	pthread_join(t, NULL);
	ASSERT_EQ_INT(seen, 0);
}

TEST(bias_waits_for_owner)
{
	struct biased b = { 0 };

	if (!mb_lock_asym)
		return; /* no membarrier: nothing is biased */
	ASSERT_EQ_INT(mb_mutex_init(&b.mx, MB_RANK_GROUP), 0);
	bias_revoke_waits(&b);
	if (!mb_test_failed) /* else the owner may still hold it */
		mb_mutex_destroy(&b.mx);
}

/*
 * A slot's resv_lock (mb_int.h, struct mb_pcpu) is zeroed memory, never
 * initialized: rank 0, checked as MB_RANK_SLOT.  The same as
 * bias_waits_for_owner on such a lock, taken inside a MB_RANK_LEAF lock
 * as a drain does inside rs_lock: the debug rank check must let it (rank
 * 0 checked as 0 is an order violation: abort), the owner's record uses
 * in[0], and the revoker still waits for it.
 */
TEST(zeroed_lock_is_a_slot_lock)
{
	struct biased b = { 0 };
	struct mb_mutex leaf;

	if (!mb_lock_asym)
		return;
	ASSERT_EQ_INT(mb_mutex_init(&leaf, MB_RANK_LEAF), 0);
	memset(&b.mx, 0, sizeof(b.mx));
	b.outer = &leaf;
	bias_revoke_waits(&b);
	if (mb_test_failed)
		return;
	mb_lock(&leaf); /* and inside the leaf lock from this thread too */
	mb_lock(&b.mx);
	mb_unlock(&b.mx);
	mb_unlock(&leaf);
	mb_mutex_destroy(&leaf);
}

/*
 * reserve.c's slot locks hold by mb_lock_if_biased: it takes a lock
 * biased here (and the revoker waits for it, as for mb_lock's), and
 * nothing else -- not a fresh lock, not one biased to another thread.
 */
TEST(lock_if_biased)
{
	struct biased b = { .if_biased = true };
	pthread_t t;

	if (!mb_lock_asym)
		return;
	ASSERT_EQ_INT(mb_mutex_init(&b.mx, MB_RANK_GROUP), 0);
	ASSERT_TRUE(!mb_lock_if_biased(&b.mx)); /* not biased: nothing taken */
	ASSERT_EQ_INT(atomic_load(&b.mx.word), 0);
	ASSERT_EQ_INT(pthread_create(&t, NULL, bias_owner, &b), 0);
	bias_wait_phase(&b, 1);
	ASSERT_TRUE(atomic_load(&b.took));
	ASSERT_TRUE(atomic_load(&b.by_bias));
	ASSERT_TRUE(!mb_lock_if_biased(&b.mx)); /* biased to the owner */
	atomic_store(&b.phase, 2);
	mb_lock(&b.mx); /* revokes, and must wait for the owner to drop it */
	int seen = b.inside;

	mb_unlock(&b.mx);
	pthread_join(t, NULL);
	ASSERT_EQ_INT(seen, 0);
	mb_mutex_destroy(&b.mx);
}

TEST(bias_trylock_busy)
{
	struct biased b = { 0 };
	pthread_t t;

	if (!mb_lock_asym)
		return;
	ASSERT_EQ_INT(mb_mutex_init(&b.mx, MB_RANK_GROUP), 0);
	ASSERT_EQ_INT(pthread_create(&t, NULL, bias_owner, &b), 0);
	bias_wait_phase(&b, 1);
	ASSERT_TRUE(atomic_load(&b.by_bias));
	ASSERT_EQ_INT(mb_trylock(&b.mx), -EBUSY);
	ASSERT_EQ_INT(mb_trylock_nested(&b.mx), -EBUSY);
	ASSERT_TRUE(atomic_load(&b.mx.bias) != NULL); /* put back */
	ASSERT_EQ_INT(atomic_load(&b.mx.word), 0);
	atomic_store(&b.phase, 2);
	pthread_join(t, NULL);
	ASSERT_EQ_INT(mb_trylock(&b.mx), 0);
	ASSERT_EQ_INT(b.inside, 0);
	ASSERT_TRUE(atomic_load(&b.mx.bias) == NULL);
	mb_unlock(&b.mx);
	mb_mutex_destroy(&b.mx);
}

static void *bias_runs(void *arg)
{
	struct biased *b = arg;
	int me = __atomic_fetch_add(&b->who, 1, __ATOMIC_RELAXED);

	for (int run = 0; run < 40; run++) {
		for (int i = 0; i < MB_BIAS_STREAK + 200; i++) {
			mb_lock(&b->mx);
			uint64_t a = b->a[0];

			if ((i & 255) == 0)
				sched_yield(); /* inside, now and then, when revoked */
			b->a[0] = a + 1;
			b->a[1]++;
			mb_unlock(&b->mx);
		}
		if (me)
			sched_yield();
	}
	return NULL;
}

/* A thread takes and drops mx n times (by the word until it is biased). */
struct streak_run {
	struct mb_mutex *mx;
	int n;
	_Atomic int biased; /* mx biased to it afterwards */
};

static void *streak_runner(void *arg)
{
	struct streak_run *s = arg;

	for (int i = 0; i < s->n; i++) {
		mb_lock(s->mx);
		mb_unlock(s->mx);
	}
	atomic_store(&s->biased, atomic_load(&s->mx->bias) == mb_lock_self &&
					 mb_lock_self != &mb_lock_nobody);
	return NULL;
}

/*
 * Another thread takes mx, made afresh (unheld, unbiased), n times; whether
 * mx ended biased to it.  Afresh: the thread may take over the record of
 * the last one (lock.c), and with it that one's streak on the lock.
 */
static bool streak_of(struct mb_mutex *mx, int n)
{
	struct streak_run s = { .mx = mx, .n = n };
	pthread_t t;

	if (mb_mutex_init(mx, MB_RANK_GROUP))
		return false;
	if (pthread_create(&t, NULL, streak_runner, &s))
		return false;
	pthread_join(t, NULL);
	return atomic_load(&s.biased);
}

TEST(bias_streak_grows)
{
	struct mb_mutex mx[5];
	uint32_t saved = atomic_load(&mb_bias_need);

	if (!mb_lock_asym)
		return; /* no membarrier: nothing is biased */
	for (int i = 0; i < 5; i++)
		ASSERT_EQ_INT(mb_mutex_init(&mx[i], MB_RANK_GROUP), 0);
	atomic_store(&mb_bias_need, MB_BIAS_STREAK_MIN); /* as a fresh process */
	streak_of(&mx[0], 0); /* a thread: this process's locks are the threaded ones */
	/* the owner takes its own lock by the word (a nested trylock while it
	   holds another of the rank by bias): no revocation by another
	   thread, the streak stays */
	for (int i = 0; i < MB_BIAS_STREAK_MIN; i++) {
		mb_lock(&mx[2]);
		mb_unlock(&mx[2]);
	}
	/* (this thread's first bias gave it its record, which it keeps:
	   a new streak; and a record of its own, not an exited thread's
	   that the locks below are biased to) */
	for (int i = 0; i < MB_BIAS_STREAK_MIN; i++) {
		mb_lock(&mx[4]);
		mb_unlock(&mx[4]);
	}
	ASSERT_TRUE(atomic_load(&mx[2].bias) == mb_lock_self);
	ASSERT_TRUE(atomic_load(&mx[4].bias) == mb_lock_self);
	mb_lock(&mx[4]); /* by bias: the rank's entry in use */
	int got = mb_trylock_nested(&mx[2]); /* so by the word, and unbiased */
	bool unbiased = atomic_load(&mx[2].bias) == NULL;

	if (!got)
		mb_unlock(&mx[2]);
	mb_unlock(&mx[4]);
	ASSERT_EQ_INT(got, 0);
	ASSERT_TRUE(unbiased);
	/* one short of the streak: not biased; the streak: biased */
	ASSERT_TRUE(!streak_of(&mx[0], MB_BIAS_STREAK_MIN - 1));
	ASSERT_TRUE(streak_of(&mx[1], MB_BIAS_STREAK_MIN));
	ASSERT_EQ_INT(atomic_load(&mb_bias_need), MB_BIAS_STREAK_MIN);
	/* this thread revokes mx[1], biased to the other: 4 times longer */
	mb_lock(&mx[1]);
	mb_unlock(&mx[1]);
	ASSERT_EQ_INT(atomic_load(&mb_bias_need), 4 * MB_BIAS_STREAK_MIN);
	ASSERT_TRUE(!streak_of(&mx[0], 4 * MB_BIAS_STREAK_MIN - 1));
	ASSERT_TRUE(streak_of(&mx[3], 4 * MB_BIAS_STREAK_MIN));
	mb_lock(&mx[3]);
	mb_unlock(&mx[3]);
	ASSERT_TRUE(atomic_load(&mb_bias_need) <= MB_BIAS_STREAK);
	while (atomic_load(&mb_bias_need) < MB_BIAS_STREAK) { /* up to the cap */
		ASSERT_TRUE(streak_of(&mx[3], (int)atomic_load(&mb_bias_need)));
		mb_lock(&mx[3]);
		mb_unlock(&mx[3]);
	}
	ASSERT_TRUE(streak_of(&mx[3], MB_BIAS_STREAK)); /* and it stays there */
	mb_lock(&mx[3]);
	mb_unlock(&mx[3]);
	ASSERT_EQ_INT(atomic_load(&mb_bias_need), MB_BIAS_STREAK);
	ASSERT_TRUE(!streak_of(&mx[0], MB_BIAS_STREAK - 1));
	atomic_store(&mb_bias_need, saved);
	for (int i = 0; i < 5; i++)
		mb_mutex_destroy(&mx[i]);
}

/* A thread that takes and drops mx once (revoking a bias to another). */
static void *take_drop(void *arg)
{
	mb_lock(arg);
	mb_unlock(arg);
	return NULL;
}

/* This thread takes and drops mx until it is biased here; whether it is. */
static bool bias_here(struct mb_mutex *mx)
{
	for (int i = 0; i <= MB_BIAS_STREAK && atomic_load(&mx->bias) != mb_lock_self; i++) {
		mb_lock(mx);
		mb_unlock(mx);
	}
	return atomic_load(&mx->bias) == mb_lock_self;
}

TEST(held_alone_since)
{
	struct mb_mutex mx;
	uint32_t saved = atomic_load(&mb_bias_need);
	pthread_t t;

	if (!mb_lock_asym)
		return; /* no membarrier: nothing is biased */
	ASSERT_EQ_INT(mb_mutex_init(&mx, MB_RANK_GROUP), 0);
	ASSERT_EQ_INT(pthread_create(&t, NULL, take_drop, &mx), 0); /* threaded locks */
	pthread_join(t, NULL);
	ASSERT_TRUE(bias_here(&mx));
	uint64_t epoch = mb_lock_epoch();

	for (int i = 0; i < 3; i++) { /* by bias, none granted since */
		mb_lock(&mx);
		bool alone = mb_held_alone_since(&mx, MB_RANK_GROUP, epoch);

		mb_unlock(&mx);
		ASSERT_TRUE(alone);
	}
	ASSERT_EQ_INT(pthread_create(&t, NULL, take_drop, &mx), 0); /* revokes */
	pthread_join(t, NULL);
	mb_lock(&mx); /* by the word */
	bool alone = mb_held_alone_since(&mx, MB_RANK_GROUP, epoch);

	mb_unlock(&mx);
	ASSERT_TRUE(!alone);
	ASSERT_TRUE(bias_here(&mx)); /* won back: a grant since the epoch */
	mb_lock(&mx);
	alone = mb_held_alone_since(&mx, MB_RANK_GROUP, epoch);
	bool fresh = mb_held_alone_since(&mx, MB_RANK_GROUP, mb_lock_epoch());

	mb_unlock(&mx);
	ASSERT_TRUE(!alone);
	ASSERT_TRUE(fresh);
	atomic_store(&mb_bias_need, saved);
	mb_mutex_destroy(&mx);
}

TEST(bias_handoff)
{
	struct biased b = { 0 };
	pthread_t t[2];

	ASSERT_EQ_INT(mb_mutex_init(&b.mx, MB_RANK_GROUP), 0);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ_INT(pthread_create(&t[i], NULL, bias_runs, &b), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ASSERT_EQ_U64(b.a[0], 2 * 40 * (uint64_t)(MB_BIAS_STREAK + 200));
	ASSERT_EQ_U64(b.a[1], b.a[0]);
	ASSERT_EQ_INT(mb_trylock(&b.mx), 0);
	mb_unlock(&b.mx);
	mb_mutex_destroy(&b.mx);
}
#endif
