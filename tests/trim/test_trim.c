/* SPDX-License-Identifier: MIT */
/*
 * test_trim.c - mb_trim(): it reports exactly the free runs long enough,
 * gives the space back, stops on a callback error, and never makes a
 * concurrent allocation fail while it holds free space.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "harness.h"

struct runs {
	uint64_t start[256], len[256];
	int n;
	int fail_at; /* return -EIO at this call (0 = never) */
	int min;
};

static int record(uint64_t start, uint64_t len, void *arg)
{
	struct runs *r = arg;

	if (r->n < 256) {
		r->start[r->n] = start;
		r->len[r->n] = len;
	}
	return ++r->n == r->fail_at ? -EIO : 0;
}

static int collect_long(uint64_t start, uint32_t len, void *arg)
{
	struct runs *r = arg;

	if (len >= (uint32_t)r->min)
		record(start, len, arg);
	return 0;
}

/* One group of 1024 blocks, used but for runs of 1, 3, 4, 9 and 100 blocks. */
static int holey_volume(struct mb_volume **vol)
{
	static const uint64_t holes[][2] = { { 10, 1 }, { 20, 3 }, { 40, 4 }, { 60, 9 }, { 200, 100 } };
	struct mb_geometry geo = { 4096, 1024, 1024, 0, 2 };
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1024 };
	struct mb_extent ex;
	int err = mb_volume_create(&geo, vol);

	while (!err && !mb_alloc(*vol, &rq, &ex))
		;
	for (size_t i = 0; !err && i < sizeof(holes) / sizeof(holes[0]); i++)
		err = mb_free(*vol, holes[i][0], holes[i][1]);
	return err;
}

TEST(trim_reports_long_free_runs)
{
	struct mb_volume *vol;
	struct runs got = { .n = 0 }, want = { .n = 0, .min = 4 };

	ASSERT_EQ_INT(holey_volume(&vol), 0);
	uint64_t free0 = mb_free_blocks(vol);

	ASSERT_EQ_INT(mb_group_free_extents(vol, 0, 0, collect_long, &want), 0);
	ASSERT_EQ_INT(mb_trim(vol, 0, 1024, 4, record, &got), 4 + 9 + 100);
	ASSERT_EQ_INT(got.n, want.n);
	ASSERT_EQ_INT(got.n, 3);
	for (int i = 0; i < got.n; i++) {
		ASSERT_EQ_U64(got.start[i], want.start[i]);
		ASSERT_EQ_U64(got.len[i], want.len[i]);
	}
	ASSERT_EQ_U64(mb_free_blocks(vol), free0); /* nothing kept */
	ASSERT_CHECK_CLEAN(vol);
	/* a sub-range cuts runs at its edges */
	got.n = 0;
	ASSERT_EQ_INT(mb_trim(vol, 250, 100, 1, record, &got), 50);
	ASSERT_EQ_U64(got.start[0], 250);
	mb_volume_destroy(vol);
}

TEST(trim_stops_on_callback_error)
{
	struct mb_volume *vol;
	struct runs got = { .n = 0, .fail_at = 2 };

	ASSERT_EQ_INT(holey_volume(&vol), 0);
	uint64_t free0 = mb_free_blocks(vol);

	ASSERT_EQ_INT(mb_trim(vol, 0, 1024, 1, record, &got), -EIO);
	ASSERT_EQ_INT(got.n, 2);
	ASSERT_EQ_U64(mb_free_blocks(vol), free0);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(mb_trim(vol, 0, 0, 1, record, &got), -EINVAL);
	ASSERT_EQ_INT(mb_trim(vol, 0, 10, 1, NULL, NULL), -EINVAL);
	mb_volume_destroy(vol);
}

/* ------------------------------------------------------------------------ */

struct race {
	struct mb_volume *vol;
	atomic_bool stop;
	uint64_t allocated;
	int err;
};

static int slow_discard(uint64_t start, uint64_t len, void *arg)
{
	struct timespec ts = { 0, 200000 }; /* a slow device: 0.2 ms */

	(void)start, (void)len, (void)arg;
	nanosleep(&ts, NULL);
	return 0;
}

static void *trimmer(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop))
		mb_trim(r->vol, 0, UINT64_MAX >> 1, 1, slow_discard, NULL);
	return NULL;
}

/*
 * One thread fills the volume a block at a time while another trims all
 * free space over and over.  Every free block is always either allocatable
 * or held by a trim, so the filler must get the whole capacity before its
 * first ENOSPC.  (With the allocator not waiting for trims, it stops early.)
 */
TEST(trim_never_causes_enospc)
{
	struct mb_geometry geo = { 4096, 1024, 8192, 0, 2 };
	struct race r = { .err = 0 };
	pthread_t t;

	ASSERT_EQ_INT(mb_volume_create(&geo, &r.vol), 0);
	uint64_t cap = mb_free_blocks(r.vol);

	pthread_create(&t, NULL, trimmer, &r);
	for (;;) {
		struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };
		struct mb_extent ex;
		int err = mb_alloc(r.vol, &rq, &ex);

		if (err) {
			r.err = err;
			break;
		}
		r.allocated += ex.len;
	}
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	ASSERT_EQ_INT(r.err, -ENOSPC);
	ASSERT_EQ_U64(r.allocated, cap);
	ASSERT_CHECK_CLEAN(r.vol);
	mb_volume_destroy(r.vol);
}
