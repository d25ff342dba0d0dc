/* SPDX-License-Identifier: MIT */
/*
 * test_gcache_race.c - a group's buddy is never dropped under its user.
 *
 * With mb_cache_groups = 1, thread A builds group 1's buddy and parks (at
 * MB_HOOK_GROUP_BUILT, bb_lock of group 1 held, about to scan it).  The
 * main thread then allocates in group 2: building that buddy evicts group
 * 1 from the ring, and gcache.c may drop group 1's buddy only if it can take
 * group 1's lock -- which A holds.  Then A goes on and must find its buddy
 * intact: its allocation succeeds and mb_check is clean.  Without the
 * trylock (dropping regardless) A scans freed memory: a crash, or a wrong
 * answer caught by the asserts.
 */
#include <pthread.h>
#include <string.h>

#include "harness.h"
#include "mb_int.h"
#include "park.h"

struct gc_race {
	struct mb_volume *vol;
	struct mb_park a_park; /* A, at group 1's GROUP_BUILT */
	int a_err;
	struct mb_extent a_ex;
};

static _Thread_local bool gc_is_a; /* set by A itself: no read of a pthread_t it races */

static void gc_hook(void *arg, int id, uint32_t group, int cr)
{
	struct gc_race *r = arg;

	(void)cr;
	if (id == MB_HOOK_GROUP_BUILT && group == 1 && gc_is_a)
		mb_park_here(&r->a_park);
}

static void *gc_thread_a(void *arg)
{
	struct gc_race *r = arg;
	struct mb_request rq = { .goal = 1 * 1024 + 100, .len = 16, .flags = MB_HINT_NOPREALLOC };

	gc_is_a = true;
	r->a_err = mb_alloc(r->vol, &rq, &r->a_ex);
	mb_park_end(&r->a_park); /* in case it never reached the hook */
	return NULL;
}

TEST(buddy_not_dropped_under_its_user)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
					 .blocks_count = 16 * 1024 };
	static struct gc_race r;
	pthread_t a;
	struct mb_extent ex;
	struct mb_request rq = { .goal = 2 * 1024 + 100, .len = 16, .flags = MB_HINT_NOPREALLOC };

	memset(&r, 0, sizeof(r));
	mb_park_init(&r.a_park);
	ASSERT_EQ_INT(mb_volume_create(&geo, &r.vol), 0);
	ASSERT_EQ_INT(mb_tunable_set(r.vol, "mb_cache_groups", 1), 0);
	mb_hook_set(r.vol, gc_hook, &r);
	ASSERT_EQ_INT(pthread_create(&a, NULL, gc_thread_a, &r), 0);
	ASSERT_TRUE(mb_park_wait_parked(&r.a_park)); /* else A never held group 1 */

	uint64_t drops = atomic_load(&r.vol->gc_drops);

	/* group 2: its build evicts group 1, whose lock A holds */
	ASSERT_EQ_INT(mb_alloc(r.vol, &rq, &ex), 0);
	ASSERT_EQ_U64(ex.start / 1024, 2);
	ASSERT_EQ_U64(atomic_load(&r.vol->gc_drops), drops); /* group 1 kept */
	mb_park_release(&r.a_park);
	pthread_join(a, NULL);
	mb_hook_set(r.vol, NULL, NULL);
	ASSERT_EQ_INT(r.a_err, 0);
	ASSERT_EQ_U64(r.a_ex.start / 1024, 1);
	ASSERT_EQ_U64(r.a_ex.len, 16);
	ASSERT_CHECK_CLEAN(r.vol);
	/* and with nobody holding it, the next build does drop it */
	rq.goal = 3 * 1024 + 100;
	ASSERT_EQ_INT(mb_alloc(r.vol, &rq, &ex), 0);
	ASSERT_LE_U64(drops + 1, atomic_load(&r.vol->gc_drops));
	ASSERT_CHECK_CLEAN(r.vol);
	mb_volume_destroy(r.vol);
	mb_park_destroy(&r.a_park);
}
