/* SPDX-License-Identifier: MIT */
/*
 * park.h - park a thread at a race hook until the test releases it.
 *
 * A race test's hook callback calls mb_park_here() at the point it wants
 * a thread held (its own filters -- hook id, thread, group -- decide
 * which call that is); the test thread sleeps in mb_park_wait_parked()
 * until the thread is there, does its part of the race, then calls
 * mb_park_release().  Only the first arrival parks: once a thread has
 * parked (or the park was marked), every later mb_park_here() returns at
 * once, so a hook that other threads also pass, or that the parked thread
 * reaches again after its release, never blocks them.
 *
 * Thread-safe; every field is protected by mx.  The mutex is a leaf: a
 * hook may call in with library locks held, and the test thread calls in
 * holding none.
 */
#ifndef MB_PARK_H
#define MB_PARK_H

#include <pthread.h>
#include <stdbool.h>

struct mb_park {
	pthread_mutex_t mx;
	pthread_cond_t cv;
	unsigned arrivals; /* mb_park_here() calls, parked or not; protected by mx */
	unsigned parks;    /* times a thread parked (0 or 1); protected by mx */
	bool reached;      /* a thread parked, or mb_park_mark(); protected by mx */
	bool released;     /* protected by mx */
	bool ended;        /* mb_park_end(): the thread will never park; protected by mx */
};

void mb_park_init(struct mb_park *p);
void mb_park_destroy(struct mb_park *p);

/*
 * From the hook: the first arrival marks the park reached, wakes the
 * waiter and sleeps until mb_park_release(); true if this call parked.
 */
bool mb_park_here(struct mb_park *p);

/* From a hook that must not block (e.g. under the event lock): reached, go on. */
void mb_park_mark(struct mb_park *p);

/*
 * From the thread that would park, when it returns: wakes a waiter that
 * would otherwise wait forever for a thread that never reached the hook.
 */
void mb_park_end(struct mb_park *p);

/*
 * Test thread: sleeps until the park is reached or its thread ended.
 * True when it is reached and its thread still runs; false when the
 * thread ended (whether or not it passed the point first).
 */
bool mb_park_wait_parked(struct mb_park *p);

/* Test thread: lets the parked thread go (and every later arrival pass). */
void mb_park_release(struct mb_park *p);

/* The counts so far (for asserts and for showing a test still parks). */
unsigned mb_park_arrivals(struct mb_park *p);
unsigned mb_park_parks(struct mb_park *p);

#endif /* MB_PARK_H */
