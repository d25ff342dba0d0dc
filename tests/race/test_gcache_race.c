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

struct gc_race {
	struct mb_volume *vol;
	pthread_mutex_t m;
	pthread_cond_t c;
	pthread_t a;
	bool a_parked, a_go;
	int a_err;
	struct mb_extent a_ex;
};

static void gc_hook(void *arg, int id, uint32_t group, int cr)
{
	struct gc_race *r = arg;

	(void)cr;
	pthread_mutex_lock(&r->m); /* orders the read of r->a after pthread_create */
	if (id != MB_HOOK_GROUP_BUILT || group != 1 || !pthread_equal(pthread_self(), r->a)) {
		pthread_mutex_unlock(&r->m);
		return;
	}
	r->a_parked = true;
	pthread_cond_broadcast(&r->c);
	while (!r->a_go)
		pthread_cond_wait(&r->c, &r->m);
	pthread_mutex_unlock(&r->m);
}

static void *gc_thread_a(void *arg)
{
	struct gc_race *r = arg;
	struct mb_request rq = { .goal = 1 * 1024 + 100, .len = 16, .flags = MB_HINT_NOPREALLOC };

	r->a_err = mb_alloc(r->vol, &rq, &r->a_ex);
	pthread_mutex_lock(&r->m);
	r->a_parked = true; /* in case it never reached the hook */
	pthread_cond_broadcast(&r->c);
	pthread_mutex_unlock(&r->m);
	return NULL;
}

TEST(buddy_not_dropped_under_its_user)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
					 .blocks_count = 16 * 1024 };
	static struct gc_race r;
	struct mb_extent ex;
	struct mb_request rq = { .goal = 2 * 1024 + 100, .len = 16, .flags = MB_HINT_NOPREALLOC };

	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.m, NULL);
	pthread_cond_init(&r.c, NULL);
	ASSERT_EQ_INT(mb_volume_create(&geo, &r.vol), 0);
	ASSERT_EQ_INT(mb_tunable_set(r.vol, "mb_cache_groups", 1), 0);
	mb_hook_set(r.vol, gc_hook, &r);
	pthread_mutex_lock(&r.m);
	ASSERT_EQ_INT(pthread_create(&r.a, NULL, gc_thread_a, &r), 0);
	while (!r.a_parked)
		pthread_cond_wait(&r.c, &r.m);
	pthread_mutex_unlock(&r.m);

	uint64_t drops = atomic_load(&r.vol->gc_drops);

	/* group 2: its build evicts group 1, whose lock A holds */
	ASSERT_EQ_INT(mb_alloc(r.vol, &rq, &ex), 0);
	ASSERT_EQ_U64(ex.start / 1024, 2);
	ASSERT_EQ_U64(atomic_load(&r.vol->gc_drops), drops); /* group 1 kept */
	pthread_mutex_lock(&r.m);
	r.a_go = true;
	pthread_cond_broadcast(&r.c);
	pthread_mutex_unlock(&r.m);
	pthread_join(r.a, NULL);
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
}
