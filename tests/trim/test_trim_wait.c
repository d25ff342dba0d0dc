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
#include "mb_test_int.h"

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
	struct mb_geometry geo = { 4096, 1024, 1024, 0, 2, 0 };
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

/*
 * The take's window.  A trim marks its run used in the buddy, which drops
 * the group out of the sets an allocator's lock-free pass reads; if the
 * run were counted in trim_inflight only after that, an allocator whose
 * pass skipped the group could read the count as 0 and answer ENOSPC for
 * space that is only held.  (Today mb_alloc's strict round and the
 * discard pass lock every group before that decision, which hides it; the
 * count must not lean on that.)  The trimmer parks right after the mark
 * (MB_HOOK_TRIM_TAKEN, bb_lock held) and this thread looks as a failing
 * allocator does: lock-free set lookups, the acquire fence, the count.
 * (The old order -- count after the mark -- read 0 here.)
 */
struct taken {
	struct ctx x;
	bool parked, looked;
	uint32_t group;
};

static void park_taken(void *arg, int id, uint32_t group, int cr)
{
	struct taken *t = arg;

	(void)cr;
	if (id != MB_HOOK_TRIM_TAKEN || t->parked)
		return;
	t->group = group;
	ctx_set(&t->x, &t->parked);
	ctx_wait(&t->x, &t->looked, NULL);
}

static int count_runs(uint64_t start, uint64_t len, void *arg)
{
	(void)start, (void)len, (void)arg;
	return 0;
}

static void *taken_trimmer(void *arg)
{
	struct taken *t = arg;

	t->x.trim_ret = mb_trim(t->x.vol, 0, UINT64_MAX, 1, count_runs, NULL);
	return NULL;
}

TEST(trim_counts_run_before_sets_drop_it)
{
	struct taken t = { .x = { .sleep_s = 0 } };
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 100 };
	bool in_sets = false;

	ctx_init(&t.x);
	ASSERT_EQ_INT(one_free_run(&t.x), 0);
	struct mb_volume *vol = t.x.vol;

	mb_hook_set(vol, park_taken, &t);
	pthread_create(&t.x.holder, NULL, taken_trimmer, &t);
	ctx_wait(&t.x, &t.parked, NULL);
	for (int k = 0; k <= vol->max_order; k++)
		in_sets |= mb_gset_test(&vol->largest_set[k], t.group);
	atomic_thread_fence(memory_order_acquire); /* as mb_should_retry */
	uint64_t held = atomic_load_explicit(&vol->trim_inflight, memory_order_acquire);

	ctx_set(&t.x, &t.looked);
	pthread_join(t.x.holder, NULL);
	mb_hook_set(vol, NULL, NULL);
	ASSERT_EQ_INT(t.group, 0);
	ASSERT_TRUE(!in_sets); /* the window is real: a pass skips the group */
	ASSERT_EQ_U64(held, 100); /* and the run is counted as held */
	ASSERT_EQ_INT(t.x.trim_ret, 100);
	ASSERT_EQ_U64(atomic_load(&vol->trim_inflight), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &t.x.ex), 0); /* and it came back */
	ASSERT_EQ_U64(t.x.ex.start, 500);
	ASSERT_CHECK_CLEAN(vol);
	ctx_done(&t.x);
}

/* ------------------------------------------------------------------------ */

struct fill {
	struct mb_volume *vol;
	struct filler_arg {
		struct fill *f;
		int i;
	} args[4];
	atomic_bool stop;
	atomic_uint_fast64_t allocated;
	atomic_uint sleeps; /* allocators that went to sleep (hook) */
	int errs[4];
	uint64_t seed;
};

static int short_sleep(uint64_t start, uint64_t len, void *arg)
{
	struct timespec ts = { 0, 200000 }; /* a slow device: 0.2 ms per run */

	(void)start, (void)len, (void)arg;
	nanosleep(&ts, NULL);
	return 0;
}

static void *fill_trimmer(void *arg)
{
	struct fill *f = arg;

	while (!atomic_load(&f->stop))
		mb_trim(f->vol, 0, UINT64_MAX, 1, short_sleep, NULL);
	return NULL;
}

/* Filler i: odd ones write a file (PAs, lg_mutex held while waiting), even ones not. */
static void *filler(void *arg)
{
	struct fill *f = ((struct filler_arg *)arg)->f;
	int i = ((struct filler_arg *)arg)->i;
	struct mb_file *file = NULL;
	uint64_t rng = f->seed + (uint64_t)i * 0x9e3779b97f4a7c15ull, logical = 0;
	int err = (i & 1) ? mb_file_open(f->vol, 100 + (uint64_t)i, &file) : 0;

	while (!err) {
		struct mb_request rq = { .file = file, .goal = MB_GOAL_NONE, .logical = logical };
		struct mb_extent ex;

		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		rq.len = 1 + (uint32_t)(rng >> 61);
		if (file)
			mb_file_set_size(file, logical + rq.len);
		err = mb_alloc(f->vol, &rq, &ex);
		if (!err) {
			atomic_fetch_add(&f->allocated, ex.len);
			logical += ex.len;
		}
	}
	f->errs[i] = err;
	if (file)
		mb_file_close(file); /* returns its unused PA space: after the count */
	return NULL;
}

static void count_sleeps(void *arg, int id, uint32_t group, int cr)
{
	struct fill *f = arg;

	(void)group, (void)cr;
	if (id == MB_HOOK_SPACE_WAIT)
		atomic_fetch_add(&f->sleeps, 1);
}

/*
 * Four threads fill a fragmented volume (512 free runs of 4 blocks) while
 * another trims every free run over and over with a slow callback:
 * allocators keep sleeping on trimmed runs and must be woken each time.  Every free block is always allocatable or held
 * by a trim, so together they must get the whole capacity before ENOSPC
 * (and a lost wakeup would hang: CTest's timeout).
 */
/* One round on a fresh fragmented volume. */
static void fill_round(struct fill *f, int round)
{
	struct mb_geometry geo = { 4096, 1024, 8192, 0, 2, 0 };
	struct mb_request all = { .goal = MB_GOAL_NONE, .len = 1024 };
	struct mb_extent ex;
	pthread_t tt, ft[4];

	*f = (struct fill){ .seed = mb_test_seed + (uint64_t)round, .sleeps = f->sleeps };
	ASSERT_EQ_INT(mb_volume_create(&geo, &f->vol), 0);
	while (!mb_alloc(f->vol, &all, &ex))
		;
	for (uint64_t b = 0; b < 8192; b += 16)
		ASSERT_EQ_INT(mb_free(f->vol, b + 8, 4), 0);
	uint64_t cap = mb_free_blocks(f->vol);

	ASSERT_EQ_U64(cap, 2048);
	mb_hook_set(f->vol, count_sleeps, f);
	pthread_create(&tt, NULL, fill_trimmer, f);
	for (int i = 0; i < 4; i++) {
		f->args[i] = (struct filler_arg){ f, i };
		pthread_create(&ft[i], NULL, filler, &f->args[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(ft[i], NULL);
	atomic_store(&f->stop, true);
	pthread_join(tt, NULL);
	mb_hook_set(f->vol, NULL, NULL);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ_INT(f->errs[i], -ENOSPC);
	ASSERT_EQ_U64(atomic_load(&f->allocated), cap);
	ASSERT_EQ_U64(mb_free_blocks(f->vol), 0);
	ASSERT_CHECK_CLEAN(f->vol);
	mb_volume_destroy(f->vol);
}

TEST(fillers_with_trimmer_get_all)
{
	static struct fill f;

	for (int round = 0; round < 20 && !mb_test_failed; round++)
		fill_round(&f, round);
	printf("fillers slept %u times in 20 rounds\n", atomic_load(&f.sleeps));
}
