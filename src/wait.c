/* SPDX-License-Identifier: MIT */
/*
 * wait.c - the volume's space event.  Free space can be held away from
 * allocators for a while: a run under an mb_trim() callback, PAs a legacy
 * two-phase discard took but has not returned yet.  An allocator that fails
 * meanwhile must neither give up (spurious ENOSPC) nor spin: it sleeps here
 * until such space comes back.
 *
 * Protocol (an event count): the waiter samples gen, then looks for held
 * space (trim_inflight, a PA deleted but still listed); only if it found
 * some does it sleep, and only while gen still equals its sample.  Every
 * holder returns its space first and bumps gen after, so a return that the
 * waiter's look missed has already moved gen, and one it saw will move it.
 *
 * Locking: space_ev.lock (MB_RANK_EVENT) guards only the sleep.  Signallers
 * may hold a bb_lock; a waiter holds at most f_data_sem and an lg_mutex,
 * which no signaller takes.  A signal with nobody asleep is two atomics.
 */
#include "mb_int.h"

int mb_space_event_init(struct mb_volume *vol)
{
	struct mb_space_event *ev = &vol->space_ev;
	int err = mb_mutex_init(&ev->lock, MB_RANK_EVENT);

	if (err)
		return err;
	err = mb_cond_init(&ev->cond);
	if (err)
		mb_mutex_destroy(&ev->lock);
	atomic_init(&ev->gen, 0);
	atomic_init(&ev->waiters, 0);
	return err;
}

void mb_space_event_destroy(struct mb_volume *vol)
{
	mb_cond_destroy(&vol->space_ev.cond);
	mb_mutex_destroy(&vol->space_ev.lock);
}

/* The generation to pass to mb_space_wait; sample it before looking. */
uint64_t mb_space_sample(struct mb_volume *vol)
{
	/* pairs with the increment in mb_space_returned: space the caller's
	   later look still sees held is returned, and gen bumped, after this */
	return atomic_load_explicit(&vol->space_ev.gen, memory_order_seq_cst);
}

/*
 * Sleeps until held space came back since gen was `seen`.  No timeout: the
 * caller saw space held after sampling, so a signal is due.
 */
void mb_space_wait(struct mb_volume *vol, uint64_t seen)
{
	mb_space_wait_while(vol, seen, NULL, NULL);
}

/*
 * The same, but also wakes as soon as stay(vol, arg) is false.  stay is
 * evaluated after this waiter is counted, so a signaller that publishes
 * its change before reading `waiters` is either seen by stay or sees us
 * (reserve.c's settled claims use this, without touching gen when nobody
 * sleeps).
 */
void mb_space_wait_while(struct mb_volume *vol, uint64_t seen,
			 bool (*stay)(struct mb_volume *vol, const void *arg), const void *arg)
{
	struct mb_space_event *ev = &vol->space_ev;

	mb_lock(&ev->lock);
	/* Dekker with mb_space_returned: we publish waiters, then read gen; it
	   publishes gen, then reads waiters.  One of us sees the other. */
	atomic_fetch_add_explicit(&ev->waiters, 1, memory_order_seq_cst);
	while (atomic_load_explicit(&ev->gen, memory_order_seq_cst) == seen &&
	       (!stay || stay(vol, arg))) {
		MB_HOOK(vol, MB_HOOK_SPACE_WAIT, 0, 0);
		mb_cond_wait(&ev->cond, &ev->lock);
	}
	atomic_fetch_sub_explicit(&ev->waiters, 1, memory_order_seq_cst); /* same pair */
	mb_unlock(&ev->lock);
}

/* Held space was returned (to the buddy, already): wakes every sleeper. */
void mb_space_returned(struct mb_volume *vol)
{
	struct mb_space_event *ev = &vol->space_ev;

	atomic_fetch_add_explicit(&ev->gen, 1, memory_order_seq_cst);
	if (!atomic_load_explicit(&ev->waiters, memory_order_seq_cst))
		return; /* the common case: nobody asleep, no lock */
	/* a waiter that counted itself holds the lock until it sleeps, so
	   taking it here means the broadcast cannot fall between its check of
	   gen and its sleep */
	mb_lock(&ev->lock);
	mb_cond_broadcast(&ev->cond);
	mb_unlock(&ev->lock);
}
