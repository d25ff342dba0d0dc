/* SPDX-License-Identifier: MIT */
/*
 * test_trim_wait.c - an allocation that needs space held by a trim
 * callback, or by a discard in flight, sleeps until it comes back: it gets
 * the space however long that takes (no spurious ENOSPC) and burns no CPU
 * meanwhile (issue 9 item 5).
 *
 * The deterministic cases park the holder until the allocator is asleep
 * (the MB_HOOK_SPACE_WAIT hook fires under the event lock, right before
 * the sleep), so without the wakeup the allocator would sleep forever: a
 * missing signal shows up as a CTest timeout, not as a pass.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "mb_int.h"

struct ctx {
	struct mb_volume *vol;
	struct mb_file *file;
	pthread_mutex_t m;
	pthread_cond_t c;
	pthread_t holder;
	bool in_cb, alloc_started, alloc_asleep, alloc_done, holder_parked;
	int sleep_s; /* trim callback: sleep this long (0: wait for the allocator) */
	int64_t trim_ret, discard_ret;
	int alloc_err;
	struct mb_extent ex;
	double cpu_s, wall_s;
};

static void ctx_init(struct ctx *x)
{
	pthread_mutex_init(&x->m, NULL);
	pthread_cond_init(&x->c, NULL);
}

static void ctx_done(struct ctx *x)
{
	if (x->file)
		mb_file_close(x->file);
	mb_volume_destroy(x->vol);
	pthread_mutex_destroy(&x->m);
	pthread_cond_destroy(&x->c);
}

/* Sets *flag and wakes everybody waiting on x. */
static void ctx_set(struct ctx *x, bool *flag)
{
	pthread_mutex_lock(&x->m);
	*flag = true;
	pthread_cond_broadcast(&x->c);
	pthread_mutex_unlock(&x->m);
}

/* Waits until *a or *b (b may be NULL). */
static void ctx_wait(struct ctx *x, const bool *a, const bool *b)
{
	pthread_mutex_lock(&x->m);
	while (!*a && !(b && *b))
		pthread_cond_wait(&x->c, &x->m);
	pthread_mutex_unlock(&x->m);
}

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/*
 * The hook: tells the holder the allocator is asleep, and parks the file
 * discarder between its two phases until then.  Runs under the event lock
 * at MB_HOOK_SPACE_WAIT, so it only signals there, never waits.
 */
static void hook(void *arg, int id, uint32_t group, int cr)
{
	struct ctx *x = arg;

	(void)group, (void)cr;
	if (id == MB_HOOK_SPACE_WAIT) {
		ctx_set(x, &x->alloc_asleep);
	} else if (id == MB_HOOK_DISCARD_COLLECTED && pthread_equal(pthread_self(), x->holder) &&
		   !x->holder_parked) {
		ctx_set(x, &x->holder_parked);
		ctx_wait(x, &x->alloc_asleep, &x->alloc_done);
	}
}

/* One group of 1024 blocks, all allocated but [500, 600). */
static int one_free_run(struct ctx *x)
{
	struct mb_geometry geo = { 4096, 1024, 1024, 0, 2 };
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1024 };
	struct mb_extent ex;
	int err = mb_volume_create(&geo, &x->vol);

	while (!err && !mb_alloc(x->vol, &rq, &ex))
		;
	if (!err && mb_free_blocks(x->vol))
		err = -EIO;
	return err ? err : mb_free(x->vol, 500, 100);
}

/* The trim callback: holds the run while sleeping or until the allocator sleeps. */
static int hold_run(uint64_t start, uint64_t len, void *arg)
{
	struct ctx *x = arg;

	(void)start, (void)len;
	ctx_set(x, &x->in_cb);
	if (x->sleep_s) {
		struct timespec ts = { x->sleep_s, 0 };

		ctx_wait(x, &x->alloc_started, NULL);
		while (nanosleep(&ts, &ts))
			;
	} else {
		ctx_wait(x, &x->alloc_asleep, &x->alloc_done);
	}
	return 0;
}

static void *trimmer(void *arg)
{
	struct ctx *x = arg;

	x->trim_ret = mb_trim(x->vol, 0, UINT64_MAX, 1, hold_run, x);
	return NULL;
}

/* Allocates the held run's 100 blocks, timing the call in this thread. */
static void alloc_run(struct ctx *x)
{
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 100 };
	struct timespec w0, w1, c0, c1;

	clock_gettime(CLOCK_MONOTONIC, &w0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	ctx_set(x, &x->alloc_started);
	x->alloc_err = mb_alloc(x->vol, &rq, &x->ex);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &w1);
	x->cpu_s = ts_diff(&c0, &c1);
	x->wall_s = ts_diff(&w0, &w1);
	ctx_set(x, &x->alloc_done);
}

/* Runs a trim whose callback holds the only free run while we allocate it. */
static void trim_race(struct ctx *x)
{
	pthread_create(&x->holder, NULL, trimmer, x);
	ctx_wait(x, &x->in_cb, NULL);
	alloc_run(x);
	pthread_join(x->holder, NULL);
}

/*
 * The callback sleeps 3 s on the only free run.  The allocation must get
 * that run, and its thread must have slept, not spun: its CPU time a small
 * fraction of the wait.  (The old sched_yield loop gave up with -ENOSPC
 * after about 1.5 s of one full CPU, or got the run at 100% CPU.)
 */
TEST(slow_trim_callback_allocator_sleeps)
{
	struct ctx x = { .sleep_s = 3 };

	ctx_init(&x);
	ASSERT_EQ_INT(one_free_run(&x), 0);
	trim_race(&x);
	ASSERT_EQ_INT(x.alloc_err, 0);
	ASSERT_EQ_U64(x.ex.start, 500);
	ASSERT_EQ_U64(x.ex.len, 100);
	ASSERT_EQ_INT(x.trim_ret, 100);
	printf("allocator waited %.2f s wall, %.4f s CPU\n", x.wall_s, x.cpu_s);
	ASSERT_TRUE(x.wall_s >= 1.0); /* it did overlap the callback */
	ASSERT_TRUE(x.cpu_s < 0.25 * x.wall_s);
	ASSERT_EQ_U64(mb_free_blocks(x.vol), 0);
	ASSERT_CHECK_CLEAN(x.vol);
	ctx_done(&x);
}

/*
 * Deterministic: the callback returns only once the allocator is asleep
 * on the space event, so only the trim's wakeup can end that sleep.
 */
TEST(trim_return_wakes_sleeping_allocator)
{
	struct ctx x = { .sleep_s = 0 };

	ctx_init(&x);
	ASSERT_EQ_INT(one_free_run(&x), 0);
	mb_hook_set(x.vol, hook, &x);
	trim_race(&x);
	mb_hook_set(x.vol, NULL, NULL);
	ASSERT_EQ_INT(x.alloc_err, 0);
	ASSERT_TRUE(x.alloc_asleep); /* it slept: the wakeup was needed */
	ASSERT_EQ_U64(x.ex.start, 500);
	ASSERT_EQ_INT(x.trim_ret, 100);
	ASSERT_CHECK_CLEAN(x.vol);
	ctx_done(&x);
}

static void *discarder(void *arg)
{
	struct ctx *x = arg;

	x->discard_ret = mb_file_discard(x->file);
	ctx_set(x, &x->holder_parked); /* in case it never reached the hook */
	return NULL;
}

/*
 * A discard in flight: a legacy-policy truncate took the file's PA (the
 * only free space) and is parked before returning it; meanwhile the policy
 * is switched to seq and another thread allocates.  It sees the PA in
 * flight, sleeps, and the discard's second phase must wake it.  (The old
 * code spun 2^20 rounds and returned -ENOSPC.)
 */
TEST(discard_in_flight_wakes_sleeping_allocator)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
				   .blocks_count = 1024 };
	struct mb_request all = { .goal = MB_GOAL_NONE, .len = 1024 };
	struct ctx x = { .sleep_s = 0 };
	struct mb_extent ex;

	ctx_init(&x);
	ASSERT_EQ_INT(mb_volume_create(&geo, &x.vol), 0);
	while (!mb_alloc(x.vol, &all, &ex))
		;
	ASSERT_EQ_INT(mb_free(x.vol, 512, 128), 0);
	ASSERT_EQ_INT(mb_file_open(x.vol, 7, &x.file), 0);
	mb_file_set_size(x.file, 100); /* a 128-block window: the PA keeps 127 */
	struct mb_request one = { .file = x.file, .goal = MB_GOAL_NONE, .len = 1 };

	ASSERT_EQ_INT(mb_alloc(x.vol, &one, &ex), 0);
	ASSERT_EQ_U64(mb_free_blocks(x.vol), 127);

	ASSERT_EQ_INT(mb_tunable_set(x.vol, "mb_enospc_policy", MB_POLICY_LEGACY), 0);
	mb_hook_set(x.vol, hook, &x);
	pthread_create(&x.holder, NULL, discarder, &x);
	ctx_wait(&x, &x.holder_parked, NULL);
	ASSERT_EQ_INT(mb_tunable_set(x.vol, "mb_enospc_policy", MB_POLICY_SEQ), 0);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };

	x.alloc_err = mb_alloc(x.vol, &rq, &x.ex);
	ctx_set(&x, &x.alloc_done);
	pthread_join(x.holder, NULL);
	mb_hook_set(x.vol, NULL, NULL);
	ASSERT_EQ_INT(x.alloc_err, 0);
	ASSERT_TRUE(x.alloc_asleep);
	ASSERT_TRUE(x.ex.start >= 512 && x.ex.start < 640);
	ASSERT_EQ_INT(x.discard_ret, 127);
	ASSERT_EQ_U64(mb_free_blocks(x.vol), 126);
	ASSERT_CHECK_CLEAN(x.vol);
	ctx_done(&x);
}
