/* SPDX-License-Identifier: MIT */
/*
 * test_reserve.c - mb_reserve / mb_unreserve / mb_statfs and
 * MB_HINT_DELALLOC_RESERVED: the exact boundary (alone and under threads),
 * the system reserve's flags, delalloc placement while PAs and pending
 * frees hold the space, and bad arguments that change nothing.
 */
#define _GNU_SOURCE /* CPU affinity: first_charge_is_the_running_cpus_slot */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "harness.h"
#include "mb_test_int.h"
#include "park.h"
#include "percpu.h"

static const struct mb_geometry geo64k = {
	.block_size = 4096, .blocks_per_group = 0, .blocks_count = 65536,
	.first_data_block = 0, .reserved_per_group = 2,
};

static struct mb_volume *new_volume(void)
{
	struct mb_volume *vol = NULL;

	return mb_volume_create(&geo64k, &vol) ? NULL : vol;
}

static uint64_t avail(struct mb_volume *vol)
{
	struct mb_statfs st;

	return mb_statfs(vol, &st) ? UINT64_MAX : st.avail;
}

static uint64_t reserved(struct mb_volume *vol)
{
	struct mb_statfs st;

	return mb_statfs(vol, &st) ? UINT64_MAX : st.reserved;
}

/* Leaves exactly k blocks reservable with flags 0, through the system reserve. */
static int leave_reservable(struct mb_volume *vol, uint64_t k)
{
	uint64_t free = mb_free_blocks(vol);

	return mb_tunable_set(vol, "reserved_clusters", free - k);
}

TEST(statfs_quiescent)
{
	struct mb_volume *vol = new_volume();
	struct mb_statfs st;

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_statfs(vol, &st), 0);
	ASSERT_EQ_U64(st.total, 65536);
	ASSERT_EQ_U64(st.free, 65532);
	ASSERT_EQ_U64(st.reserved, 0);
	ASSERT_EQ_U64(st.resv_clusters, 0);
	ASSERT_EQ_U64(st.avail, 65532);
	ASSERT_EQ_INT(mb_tunable_set(vol, "reserved_clusters", 1000), 0);
	ASSERT_EQ_INT(mb_tunable_set(vol, "r_blocks_count", 24), 0);
	ASSERT_EQ_INT(mb_reserve(vol, 8, 0), 0);
	ASSERT_EQ_INT(mb_statfs(vol, &st), 0);
	ASSERT_EQ_U64(st.reserved, 8);
	ASSERT_EQ_U64(st.resv_clusters, 1000);
	ASSERT_EQ_U64(st.r_blocks, 24);
	ASSERT_EQ_U64(st.avail, 65532 - 1024 - 8);
	mb_volume_destroy(vol);
}

/* Reserving exactly what is reservable succeeds, one more fails; each
 * system-reserve flag opens exactly its part of the floor. */
TEST(exact_boundary_and_floors)
{
	struct mb_volume *vol = new_volume();

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_tunable_set(vol, "reserved_clusters", 100), 0);
	ASSERT_EQ_INT(mb_tunable_set(vol, "r_blocks_count", 20), 0);
	uint64_t k = avail(vol);

	ASSERT_EQ_U64(k, 65532 - 120);
	ASSERT_EQ_INT(mb_reserve(vol, k + 1, 0), -ENOSPC);
	ASSERT_EQ_U64(reserved(vol), 0);
	ASSERT_EQ_INT(mb_reserve(vol, k, 0), 0);
	ASSERT_EQ_INT(mb_reserve(vol, 1, 0), -ENOSPC);
	ASSERT_EQ_U64(avail(vol), 0);
	ASSERT_EQ_INT(mb_unreserve(vol, 1), 0);
	ASSERT_EQ_U64(avail(vol), 1);
	ASSERT_EQ_INT(mb_reserve(vol, 1, 0), 0);
	/* root blocks: 20 with USE_ROOT_BLOCKS, not one more */
	ASSERT_EQ_INT(mb_reserve(vol, 21, MB_HINT_USE_ROOT_BLOCKS), -ENOSPC);
	ASSERT_EQ_INT(mb_reserve(vol, 20, MB_HINT_USE_ROOT_BLOCKS), 0);
	ASSERT_EQ_INT(mb_reserve(vol, 1, MB_HINT_USE_ROOT_BLOCKS), -ENOSPC);
	/* the system reserve: 100 more with USE_RESERVED, then nothing */
	ASSERT_EQ_INT(mb_reserve(vol, 100, MB_HINT_USE_RESERVED), 0);
	ASSERT_EQ_INT(mb_reserve(vol, 1, MB_HINT_USE_RESERVED), -ENOSPC);
	ASSERT_EQ_U64(reserved(vol), 65532);
	/* every free block is reserved: a plain allocation may not take one */
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };
	struct mb_extent ex;

	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), -ENOSPC);
	rq.flags = MB_HINT_USE_RESERVED;
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), -ENOSPC);
	/* writeback places all of it */
	uint64_t placed = 0;

	rq = (struct mb_request){ .goal = MB_GOAL_NONE, .len = 4096,
				  .flags = MB_HINT_DELALLOC_RESERVED };
	while (reserved(vol)) {
		uint64_t left = reserved(vol);

		rq.len = left < 4096 ? (uint32_t)left : 4096;
		ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
		placed += ex.len;
	}
	ASSERT_EQ_U64(placed, 65532);
	ASSERT_EQ_U64(mb_free_blocks(vol), 0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* One block at a time: the per-CPU shares and the precise path together
 * hand out exactly what is reservable. */
TEST(one_by_one_exact)
{
	struct mb_volume *vol = new_volume();
	uint64_t n = 0;

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(leave_reservable(vol, 5000), 0);
	while (mb_reserve(vol, 1, 0) == 0)
		n++;
	ASSERT_EQ_U64(n, 5000);
	ASSERT_EQ_U64(avail(vol), 0);
	/* a plain allocation claims, then returns what it did not use */
	ASSERT_EQ_INT(mb_unreserve(vol, 300), 0);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1000 };
	struct mb_extent ex;

	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_TRUE(ex.len <= 300);
	ASSERT_EQ_U64(avail(vol), 300 - ex.len);
	ASSERT_EQ_INT(mb_free(vol, ex.start, ex.len), 0);
	ASSERT_EQ_U64(avail(vol), 300);
	mb_volume_destroy(vol);
}

TEST(bad_arguments_change_nothing)
{
	struct mb_volume *vol = new_volume();
	struct mb_statfs before, after;

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_reserve(vol, 10, 0), 0);
	ASSERT_EQ_INT(mb_statfs(vol, &before), 0);
	ASSERT_EQ_INT(mb_reserve(NULL, 1, 0), -EINVAL);
	ASSERT_EQ_INT(mb_reserve(vol, 0, 0), -EINVAL);
	ASSERT_EQ_INT(mb_reserve(vol, 65537, 0), -EINVAL);
	ASSERT_EQ_INT(mb_reserve(vol, UINT64_MAX, 0), -EINVAL);
	ASSERT_EQ_INT(mb_reserve(vol, 1, MB_HINT_DELALLOC_RESERVED), -EINVAL);
	ASSERT_EQ_INT(mb_reserve(vol, 1, 0x80000000u), -EINVAL);
	ASSERT_EQ_INT(mb_reserve(vol, 65536, 0), -ENOSPC);
	ASSERT_EQ_INT(mb_unreserve(NULL, 1), -EINVAL);
	ASSERT_EQ_INT(mb_unreserve(vol, 0), -EINVAL);
	ASSERT_EQ_INT(mb_unreserve(vol, 11), -EINVAL);
	ASSERT_EQ_INT(mb_unreserve(vol, UINT64_MAX), -EINVAL);
	ASSERT_EQ_INT(mb_statfs(NULL, &after), -EINVAL);
	ASSERT_EQ_INT(mb_statfs(vol, NULL), -EINVAL);
	ASSERT_EQ_INT(mb_tunable_set(vol, "reserved_clusters", 65536), -EINVAL);
	ASSERT_EQ_INT(mb_tunable_set(vol, "r_blocks_count", 65536), -EINVAL);
	ASSERT_EQ_INT(mb_statfs(vol, &after), 0);
	ASSERT_TRUE(memcmp(&before, &after, sizeof(before)) == 0);
	ASSERT_EQ_INT(mb_unreserve(vol, 10), 0);
	ASSERT_EQ_U64(reserved(vol), 0);
	mb_volume_destroy(vol);
}

/*
 * Delalloc placement never fails while its blocks are held by inode PAs
 * (other files' windows) or by frees waiting for a commit, even with the
 * retry cap at 1.  Persistent volume on the memory backend, no commit
 * thread: only the allocator's forced commit returns the pending frees.
 */
TEST(delalloc_reclaims_pas_and_pending_frees)
{
	static const struct mb_open_opts no_thread = { .commit_interval_s = 0 };
	struct mb_geometry geo = { .block_size = 1024, .blocks_per_group = 256,
				   .blocks_count = 16 * 256, .reserved_per_group = 24 };
	struct mb_dev *dev = NULL;
	struct mb_volume *vol = NULL;

	ASSERT_EQ_INT(mb_dev_open_memory(NULL, geo.blocks_count * geo.block_size, false, &dev), 0);
	ASSERT_EQ_INT(mb_volume_format_dev(dev, &geo, NULL), 0);
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0);
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_max_retries", 1), 0);

	/* files write a little each: their normalized windows become PAs */
	enum { NF = 32 };
	struct mb_file *f[NF];
	static struct mb_extent kept[NF * 8];
	int nk = 0;

	for (int i = 0; i < NF; i++) {
		ASSERT_EQ_INT(mb_file_open(vol, 100 + (uint64_t)i * 64, &f[i]), 0);
		for (int j = 0; j < 8; j++) {
			struct mb_request rq = { .file = f[i], .logical = (uint64_t)j * 3,
						 .goal = MB_GOAL_NONE, .len = 3 };

			mb_file_set_size(f[i], (uint64_t)j * 3 + 3);
			ASSERT_EQ_INT(mb_alloc(vol, &rq, &kept[nk]), 0);
			nk++;
		}
	}
	ASSERT_EQ_INT(mb_commit(vol), 0);
	/* half of it freed again: pending until a commit */
	for (int i = 0; i < nk; i += 2)
		ASSERT_EQ_INT(mb_free(vol, kept[i].start, kept[i].len), 0);

	/* the space really is held: pending frees, and PAs beyond them */
	uint64_t pending = atomic_load(&vol->free_pending), buddy_free = 0;

	for (mb_grp_t g = 0; g < vol->ngroups; g++)
		buddy_free += mb_group_at(vol, g)->bb_free;
	ASSERT_TRUE(pending > 0);
	ASSERT_TRUE(buddy_free + pending < mb_free_blocks(vol));

	uint64_t k = avail(vol);

	ASSERT_EQ_U64(k, mb_free_blocks(vol));
	ASSERT_EQ_INT(mb_reserve(vol, k, 0), 0);
	/* writeback of a file that owns no PA, in 16-block pieces */
	struct mb_file *w;
	uint64_t placed = 0;

	ASSERT_EQ_INT(mb_file_open(vol, 9, &w), 0);
	while (placed < k) {
		uint64_t left = k - placed;
		struct mb_request rq = { .file = w, .logical = placed, .goal = MB_GOAL_NONE,
					 .len = left < 16 ? (uint32_t)left : 16,
					 .flags = MB_HINT_DELALLOC_RESERVED };
		struct mb_extent ex;

		ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
		placed += ex.len;
	}
	ASSERT_EQ_U64(placed, k);
	ASSERT_EQ_U64(reserved(vol), 0);
	ASSERT_EQ_U64(mb_free_blocks(vol), 0);
	ASSERT_CHECK_CLEAN(vol);
	mb_file_close(w);
	for (int i = 0; i < NF; i++)
		mb_file_close(f[i]);
	mb_volume_destroy(vol);
}

/* ------------------------------------------------------------------------ */
/* Threads at the boundary                                                   */
/* ------------------------------------------------------------------------ */

struct race {
	struct mb_volume *vol;
	pthread_barrier_t go;
	_Atomic uint64_t ok, fail;
	int tries;
};

/* Widens the window between the precise decision and the take. */
static void race_hook(void *arg, int id, uint32_t group, int cr)
{
	(void)arg;
	(void)group;
	(void)cr;
	if (id == MB_HOOK_RESV_DECIDED)
		for (int i = 0; i < 3; i++)
			sched_yield();
}

static void *reserver(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(&r->go);
	for (int i = 0; i < r->tries; i++) {
		int err = mb_reserve(r->vol, 1, 0);

		if (err == 0)
			atomic_fetch_add(&r->ok, 1);
		else if (err == -ENOSPC)
			atomic_fetch_add(&r->fail, 1);
	}
	return NULL;
}

/* nthreads * tries attempts of 1 block on k reservable: exactly k succeed. */
static int race_exact_k(uint64_t k, int nthreads, int tries, uint64_t *ok)
{
	struct race r = { .tries = tries };
	pthread_t th[64];

	if (mb_volume_create(&geo64k, &r.vol) || leave_reservable(r.vol, k))
		return -1;
	mb_hook_set(r.vol, race_hook, &r);
	pthread_barrier_init(&r.go, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, reserver, &r);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&r.go);
	mb_hook_set(r.vol, NULL, NULL);
	*ok = r.ok;
	int bad = r.ok + r.fail != (uint64_t)nthreads * (uint64_t)tries || avail(r.vol) != 0 ||
		  reserved(r.vol) != r.ok;
	mb_volume_destroy(r.vol);
	return bad ? -1 : 0;
}

TEST(threads_exact_k_near_empty)
{
	for (int round = 0; round < 20; round++) {
		uint64_t ok = 0;

		ASSERT_EQ_INT(race_exact_k(37, 16, 4, &ok), 0);
		ASSERT_EQ_U64(ok, 37);
	}
}

/* Far from empty first (shares), then down to the last block. */
TEST(threads_exact_k_through_shares)
{
	uint64_t k = 20000 + 13;

	for (int round = 0; round < 3; round++) {
		uint64_t ok = 0;

		ASSERT_EQ_INT(race_exact_k(k, 8, 3000, &ok), 0);
		ASSERT_EQ_U64(ok, k);
	}
}

/* ------------------------------------------------------------------------ */
/* A claim in flight that will not use all it claimed                        */
/* ------------------------------------------------------------------------ */

struct inflight {
	struct mb_volume *vol;
	pthread_t a;
	struct mb_park a_park; /* A, right after its claim */
	struct mb_park b_park; /* marked when B goes to sleep, ended when it returns */
	int a_err, b_err;
	struct mb_extent a_ex, b_ex;
};

/* Parks A right after its claim; tells the test when B goes to sleep. */
static void inflight_hook(void *arg, int id, uint32_t group, int cr)
{
	struct inflight *t = arg;

	(void)group;
	(void)cr;
	if (id == MB_HOOK_RESV_CLAIMED && pthread_equal(pthread_self(), t->a))
		mb_park_here(&t->a_park);
	else if (id == MB_HOOK_SPACE_WAIT && !pthread_equal(pthread_self(), t->a))
		mb_park_mark(&t->b_park); /* the event lock is held: never block */
}

static void *inflight_a(void *arg)
{
	struct inflight *t = arg;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 2 };

	t->a_err = mb_alloc(t->vol, &rq, &t->a_ex);
	return NULL;
}

static void *inflight_b(void *arg)
{
	struct inflight *t = arg;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };

	t->b_err = mb_alloc(t->vol, &rq, &t->b_ex);
	mb_park_end(&t->b_park);
	return NULL;
}

/*
 * Two single free blocks.  A asks for 2 and claims both, then is parked;
 * B asks for 1.  B must wait for A's claim to settle -- A can only use one
 * block -- and get the other, not answer ENOSPC with a block free.
 */
TEST(plain_claim_waits_for_claims_in_flight)
{
	struct inflight t = { 0 };
	struct mb_extent ex;
	pthread_t b;

	ASSERT_TRUE((t.vol = new_volume()) != NULL);
	for (;;) { /* fill the volume */
		struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 4096 };

		if (mb_alloc(t.vol, &rq, &ex))
			break;
	}
	ASSERT_EQ_U64(mb_free_blocks(t.vol), 0);
	ASSERT_EQ_INT(mb_free(t.vol, 1000, 1), 0);
	ASSERT_EQ_INT(mb_free(t.vol, 1002, 1), 0);
	mb_park_init(&t.a_park);
	mb_park_init(&t.b_park);
	mb_hook_set(t.vol, inflight_hook, &t);

	pthread_create(&t.a, NULL, inflight_a, &t);
	mb_park_wait_parked(&t.a_park);
	pthread_create(&b, NULL, inflight_b, &t);
	bool b_finished_early = !mb_park_wait_parked(&t.b_park); /* else asleep */
	mb_park_release(&t.a_park); /* release A either way, so the threads end */
	pthread_join(t.a, NULL);
	pthread_join(b, NULL);
	mb_hook_set(t.vol, NULL, NULL);

	ASSERT_EQ_INT(t.b_err, 0); /* old code: -ENOSPC with block 1002 free */
	ASSERT_TRUE(!b_finished_early);
	ASSERT_EQ_INT(t.a_err, 0);
	ASSERT_EQ_U64(t.a_ex.len + t.b_ex.len, 2);
	ASSERT_EQ_U64(mb_free_blocks(t.vol), 0);
	ASSERT_EQ_U64(avail(t.vol), 0);
	ASSERT_EQ_INT(mb_check(t.vol, NULL, 0), 0);
	mb_park_destroy(&t.a_park);
	mb_park_destroy(&t.b_park);
	mb_volume_destroy(t.vol);
}

/* ------------------------------------------------------------------------ */
/* A claim that settles between a failed decision and the in-flight check    */
/* ------------------------------------------------------------------------ */

/*
 * A claims two single free blocks and is parked; B's claim of one block
 * decides on the exact total -- nothing unclaimed -- and is parked right
 * there (holding rs_lock).  A goes on, uses one block, returns the other
 * and settles (fully, or -- halfway -- parked between the two halves of
 * its settle); then B goes on.  A block is free from start to end, so B
 * must get it: B's decision is stale, not a reason for ENOSPC.
 */
struct settle_race {
	struct mb_volume *vol;
	bool halfway; /* A parked inside its settle while B goes on */
	struct mb_park a_claimed, b_decided, a_settling;
	int a_err, b_err;
	struct mb_extent a_ex, b_ex;
};

static _Thread_local char settle_role; /* 'A' or 'B'; 0: not a race thread */

static void settle_hook(void *arg, int id, uint32_t group, int ok)
{
	struct settle_race *t = arg;

	(void)group;
	if (id == MB_HOOK_RESV_CLAIMED && settle_role == 'A')
		mb_park_here(&t->a_claimed);
	else if (id == MB_HOOK_RESV_DECIDED && settle_role == 'B' && !ok)
		mb_park_here(&t->b_decided);
	else if (id == MB_HOOK_RESV_SETTLING && settle_role == 'A' && t->halfway)
		mb_park_here(&t->a_settling);
}

static void *settle_a(void *arg)
{
	struct settle_race *t = arg;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 2 };

	settle_role = 'A';
	t->a_err = mb_alloc(t->vol, &rq, &t->a_ex);
	return NULL;
}

static void *settle_b(void *arg)
{
	struct settle_race *t = arg;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };

	settle_role = 'B';
	t->b_err = mb_alloc(t->vol, &rq, &t->b_ex);
	return NULL;
}

/* Runs the race; 0 when both got a block and nothing is left over. */
static int settle_race_run(bool halfway)
{
	struct settle_race t = { .halfway = halfway };
	struct mb_extent ex;
	pthread_t a, b;
	int bad;

	if (!(t.vol = new_volume()))
		return -1;
	for (;;) { /* fill the volume */
		struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 4096 };

		if (mb_alloc(t.vol, &rq, &ex))
			break;
	}
	if (mb_free(t.vol, 1000, 1) || mb_free(t.vol, 1002, 1))
		return -1;
	mb_park_init(&t.a_claimed);
	mb_park_init(&t.b_decided);
	mb_park_init(&t.a_settling);
	mb_hook_set(t.vol, settle_hook, &t);
	pthread_create(&a, NULL, settle_a, &t);
	mb_park_wait_parked(&t.a_claimed);
	pthread_create(&b, NULL, settle_b, &t);
	mb_park_wait_parked(&t.b_decided); /* B saw nothing unclaimed */
	mb_park_release(&t.a_claimed);
	if (halfway)
		mb_park_wait_parked(&t.a_settling); /* its unused block is back */
	else
		pthread_join(a, NULL); /* settled */
	mb_park_release(&t.b_decided);
	pthread_join(b, NULL);
	if (halfway) {
		mb_park_release(&t.a_settling);
		pthread_join(a, NULL);
	}
	mb_hook_set(t.vol, NULL, NULL);
	if (t.b_err)
		fprintf(stderr, "B: %d with a block free (halfway %d)\n", t.b_err, halfway);
	bad = t.a_err || t.b_err || t.a_ex.len + t.b_ex.len != 2 || mb_free_blocks(t.vol) ||
	      avail(t.vol) || mb_check(t.vol, NULL, 0);
	mb_park_destroy(&t.a_claimed);
	mb_park_destroy(&t.b_decided);
	mb_park_destroy(&t.a_settling);
	mb_volume_destroy(t.vol);
	return bad ? -1 : 0;
}

/* old code: B answered -ENOSPC (it read no claim in flight, and stopped) */
TEST(failed_claim_sees_a_settle_after_its_decision)
{
	ASSERT_EQ_INT(settle_race_run(false), 0);
}

/* old code: the in-flight sum fell before the settled count rose */
TEST(failed_claim_sees_a_settle_halfway)
{
	ASSERT_EQ_INT(settle_race_run(true), 0);
}

/*
 * mb_unreserve's check reads every slot's reservations one after another.
 * 10 blocks are reserved on slot 1; U unreserves them and is parked after
 * reading slot 0.  Meanwhile 5 more are reserved on slot 0 and a delalloc
 * allocation consumes them on slot 1.  10 blocks stay reserved throughout,
 * so U must succeed: the old sum read slot 0 before the reserve and slot 1
 * after the use, 5, and answered -EINVAL.  The slot a call uses is forced
 * through the thread's cached CPU (percpu.h).
 */
struct unresv_race {
	struct mb_volume *vol;
	struct mb_park park; /* the first sum, whoever runs it: U's */
	int err;
};

static void on_slot(unsigned s)
{
	mb_cpu_pin((int)s); /* the next 63 uses keep it */
}

static void unresv_hook(void *arg, int id, uint32_t group, int cr)
{
	struct unresv_race *t = arg;

	(void)group;
	(void)cr;
	if (id == MB_HOOK_RESV_SUMMING)
		mb_park_here(&t->park);
}

static void *unresv_u(void *arg)
{
	struct unresv_race *t = arg;

	on_slot(1);
	t->err = mb_unreserve(t->vol, 10);
	return NULL;
}

TEST(unreserve_sum_never_reads_low)
{
	struct unresv_race t = { 0 };
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 5,
				 .flags = MB_HINT_DELALLOC_RESERVED };
	struct mb_extent ex;
	pthread_t u;

	ASSERT_TRUE((t.vol = new_volume()) != NULL);
	if (!t.vol->pcpu_mask) {
		mb_volume_destroy(t.vol);
		printf("one slot: nothing to tear, not run\n");
		return;
	}
	on_slot(1);
	ASSERT_EQ_INT(mb_reserve(t.vol, 10, 0), 0);
	mb_park_init(&t.park);
	mb_hook_set(t.vol, unresv_hook, &t);
	pthread_create(&u, NULL, unresv_u, &t);
	mb_park_wait_parked(&t.park);
	on_slot(0);
	ASSERT_EQ_INT(mb_reserve(t.vol, 5, 0), 0); /* slot 0, read already */
	on_slot(1);
	ASSERT_EQ_INT(mb_alloc(t.vol, &rq, &ex), 0); /* consumes 5 on slot 1 */
	ASSERT_EQ_U64(ex.len, 5);
	mb_park_release(&t.park);
	pthread_join(u, NULL);
	mb_hook_set(t.vol, NULL, NULL);
	if (t.err)
		fprintf(stderr, "U: mb_unreserve(10) = %d with 10 blocks reserved throughout\n",
			t.err);
	ASSERT_EQ_INT(t.err, 0);
	ASSERT_EQ_U64(reserved(t.vol), 0);
	ASSERT_EQ_U64(avail(t.vol), mb_free_blocks(t.vol));
	mb_park_destroy(&t.park);
	mb_volume_destroy(t.vol);
}

/* ------------------------------------------------------------------------ */
/* The slot word: share and claims in flight, against a model               */
/* ------------------------------------------------------------------------ */

/* reserve.c's decoding of a slot's word (white box): share, then count. */
static int64_t word_share(uint64_t w)
{
	return (int64_t)(w << 16) >> 16;
}

static uint32_t word_flight(uint64_t w)
{
	return (uint32_t)((w - (uint64_t)word_share(w)) >> 48);
}

/*
 * Random allocations (plain, and delalloc ones using a reservation), frees,
 * reservations and mb_mark_used calls, each on a random slot, down to
 * ENOSPC and back: after every step mb_free_blocks and now and then statfs
 * must equal the model (free blocks, and free less reserved with no system
 * reserve), and no slot may count a claim in flight.  mb_mark_used on a
 * slot with a small share drives it negative, which a decoding that mixed
 * the share's sign into the count would read as claims in flight (and a
 * failing claim would then wait forever, or answer wrong).
 */
TEST(slot_words_match_a_model)
{
	struct mb_volume *vol = new_volume();
	uint64_t rng = mb_test_seed ^ 0x5eed;
	enum { MAXEX = 4096 };
	static uint64_t xs[MAXEX], xl[MAXEX];
	size_t nx = 0;
	uint64_t free_m, resv_m = 0;
	int64_t min_share = 0;
	unsigned enospc = 0;

	ASSERT_TRUE(vol);
	ASSERT_EQ_INT(mb_tunable_set(vol, "reserved_clusters", 0), 0);
	free_m = mb_free_blocks(vol);
	for (int step = 0; step < 20000; step++) {
		unsigned op = (unsigned)mb_rand_below(&rng, 10);
		struct mb_extent ex;

		on_slot((unsigned)mb_rand_below(&rng, vol->pcpu_mask + 1));
		if (op < 5 && nx < MAXEX) { /* allocate: fills toward ENOSPC */
			struct mb_request rq = { .goal = MB_GOAL_NONE,
						 .len = 1 + (uint32_t)mb_rand_below(&rng, 64) };
			int err = mb_alloc(vol, &rq, &ex);

			if (err) {
				ASSERT_EQ_INT(err, -ENOSPC);
				ASSERT_TRUE(free_m - resv_m < rq.len);
				enospc++;
			} else {
				xs[nx] = ex.start, xl[nx++] = ex.len;
				free_m -= ex.len;
			}
		} else if (op < 7 && nx) { /* free one */
			size_t i = (size_t)mb_rand_below(&rng, nx);

			ASSERT_EQ_INT(mb_free(vol, xs[i], xl[i]), 0);
			free_m += xl[i];
			xs[i] = xs[--nx], xl[i] = xl[nx];
		} else if (op == 7) { /* reserve, or give some back */
			uint64_t n = 1 + mb_rand_below(&rng, 32);

			if (resv_m >= n && mb_rand_below(&rng, 2)) {
				ASSERT_EQ_INT(mb_unreserve(vol, n), 0);
				resv_m -= n;
			} else if (!mb_reserve(vol, n, 0)) {
				resv_m += n;
			} else {
				ASSERT_TRUE(free_m - resv_m < n);
			}
		} else if (op == 9 && nx < MAXEX && resv_m) { /* use a reservation */
			struct mb_request rq = { .goal = MB_GOAL_NONE,
						 .len = 1 + (uint32_t)mb_rand_below(&rng, resv_m),
						 .flags = MB_HINT_DELALLOC_RESERVED };

			ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
			xs[nx] = ex.start, xl[nx++] = ex.len;
			free_m -= ex.len;
			resv_m -= ex.len;
		} else if (op == 8 && nx < MAXEX && free_m - resv_m >= 8) {
			/* mark a free run used behind the allocator's back */
			uint64_t b = mb_rand_below(&rng, 65536 - 8);
			int64_t used = mb_allocated_blocks(vol, b, 8);

			if (used == 0 && !mb_mark_used(vol, b, 8)) {
				xs[nx] = b, xl[nx++] = 8;
				free_m -= 8;
			}
		}
		ASSERT_EQ_U64(mb_free_blocks(vol), free_m);
		for (uint32_t s = 0; s <= vol->pcpu_mask; s++) {
			uint64_t w = atomic_load(&vol->pcpu[s].resv_word);

			ASSERT_EQ_U64(word_flight(w), 0);
			min_share = word_share(w) < min_share ? word_share(w) : min_share;
		}
		if (mb_rand_below(&rng, 8)) /* statfs drains the shares: not every step */
			continue;
		struct mb_statfs st;

		ASSERT_EQ_INT(mb_statfs(vol, &st), 0);
		ASSERT_EQ_U64(st.free, free_m);
		ASSERT_EQ_U64(st.avail, free_m - resv_m);
	}
	printf("ENOSPC %u times, lowest share %lld\n", enospc, (long long)min_share);
	ASSERT_TRUE(enospc > 0);
	ASSERT_TRUE(min_share < 0);
	ASSERT_EQ_INT(mb_check(vol, NULL, 0), 0);
	mb_volume_destroy(vol);
}

/*
 * Threads reserve and unreserve one block at a time, all on slot 0: every
 * take and every return writes that slot's word, under its lock (biased
 * to one of them now and then, revoked by the other).  Afterwards the
 * volume must be as before; a read-modify-write of the word outside the
 * lock loses some of them (the available count drifts).
 */
struct one_slot {
	struct mb_volume *vol;
	int err;
};

static void *one_slot_churn(void *arg)
{
	struct one_slot *t = arg;

	for (int i = 0; i < 100000; i++) {
		on_slot(0);
		if (mb_reserve(t->vol, 1, 0)) {
			__atomic_store_n(&t->err, 1, __ATOMIC_RELAXED);
			break;
		}
		on_slot(0);
		if (mb_unreserve(t->vol, 1)) {
			__atomic_store_n(&t->err, 2, __ATOMIC_RELAXED);
			break;
		}
	}
	return NULL;
}

TEST(one_slot_many_threads)
{
	struct one_slot t = { .vol = new_volume() };
	pthread_t th[3];

	ASSERT_TRUE(t.vol);
	uint64_t before = avail(t.vol);

	for (int i = 0; i < 3; i++)
		ASSERT_EQ_INT(pthread_create(&th[i], NULL, one_slot_churn, &t), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	ASSERT_EQ_INT(t.err, 0);
	ASSERT_EQ_U64(avail(t.vol), before);
	ASSERT_EQ_U64(reserved(t.vol), 0);
	mb_volume_destroy(t.vol);
}

/*
 * A drain holds slot 0's lock between reading its word and storing it
 * (parked at MB_HOOK_RESV_DRAINING, inside mb_statfs); meanwhile T takes
 * a block from slot 0's share (mb_reserve) or returns one to it
 * (mb_unreserve).  T must wait for the drain: with the drain, the take or
 * the return outside the slot's lock, T's write lands between the drain's
 * read and store and is lost (a block made up, or one gone), which the
 * counts afterwards show.  No timing: the test releases the drain once T
 * has finished (the lock is missing) or is counted among the slot lock's
 * waiters (it waits, as it must).
 */
#ifdef MB_LOCK_FUTEX
struct drain_race {
	struct mb_volume *vol;
	struct mb_park park; /* D, in slot 0's drain */
	bool unreserve;      /* T returns a block, else takes one */
	int d_err, t_err;
	_Atomic int t_done;
};

static _Thread_local char drain_role; /* 'D' in the draining thread */

static void drain_hook(void *arg, int id, uint32_t group, int cr)
{
	struct drain_race *t = arg;

	(void)cr;
	if (id == MB_HOOK_RESV_DRAINING && group == 0 && drain_role == 'D')
		mb_park_here(&t->park);
}

static void *drain_d(void *arg)
{
	struct drain_race *t = arg;
	struct mb_statfs st;

	drain_role = 'D';
	t->d_err = mb_statfs(t->vol, &st);
	return NULL;
}

static void *drain_t(void *arg)
{
	struct drain_race *t = arg;

	on_slot(0);
	t->t_err = t->unreserve ? mb_unreserve(t->vol, 1) : mb_reserve(t->vol, 1, 0);
	atomic_store(&t->t_done, 1);
	return NULL;
}

static void drain_race_run(bool unreserve)
{
	struct drain_race t = { .unreserve = unreserve };
	pthread_t d, th;

	ASSERT_TRUE((t.vol = new_volume()) != NULL);
	uint64_t avail0 = avail(t.vol); /* drains: every share is in the pool now */

	on_slot(0);
	ASSERT_EQ_INT(mb_reserve(t.vol, 2, 0), 0); /* from the pool, and slot 0 gets a share */
	ASSERT_TRUE(word_share(atomic_load(&t.vol->pcpu[0].resv_word)) >= 1);
	mb_park_init(&t.park);
	mb_hook_set(t.vol, drain_hook, &t);
	ASSERT_EQ_INT(pthread_create(&d, NULL, drain_d, &t), 0);
	ASSERT_TRUE(mb_park_wait_parked(&t.park));
	ASSERT_EQ_INT(pthread_create(&th, NULL, drain_t, &t), 0);
	/* T ends (no lock kept it out) or sleeps on one: slot 0's, or rs_lock's
	   if it missed the share (then this test proves nothing: it fails) */
	bool on_pool = false;

	for (;;) {
		if (atomic_load(&t.t_done))
			break;
		if (atomic_load(&t.vol->pcpu[0].resv_lock.waiters))
			break;
		if ((on_pool = atomic_load(&t.vol->resv.rs_lock.waiters) != 0))
			break;
		sched_yield();
	}
	mb_park_release(&t.park);
	pthread_join(d, NULL);
	pthread_join(th, NULL);
	mb_hook_set(t.vol, NULL, NULL);
	ASSERT_TRUE(!on_pool);
	ASSERT_EQ_INT(t.d_err, 0);
	ASSERT_EQ_INT(t.t_err, 0);
	uint64_t held = unreserve ? 1 : 3; /* the 2 above, less or plus T's */

	ASSERT_EQ_U64(reserved(t.vol), held);
	ASSERT_EQ_U64(avail(t.vol), avail0 - held);
	ASSERT_EQ_INT(mb_check(t.vol, NULL, 0), 0);
	mb_park_destroy(&t.park);
	mb_volume_destroy(t.vol);
}

TEST(drain_excludes_a_take)
{
	drain_race_run(false);
}

TEST(drain_excludes_a_return)
{
	drain_race_run(true);
}
#endif

/*
 * mb_cpu_slot (percpu.h) reads the CPU on a thread's first use and then
 * on every 64th: the slot a call charges follows from the uses alone.  A
 * value the cache never holds (mb_cpu_refresh stores no negative CPU)
 * shows when it was read again.
 */
static void *cpu_reads(void *arg)
{
	struct mb_volume *vol = arg;
	int *reread_at = calloc(1, sizeof(int));

	if (!reread_at)
		return NULL;
	if (mb_cpu_cached != -1)
		return reread_at; /* 0: a new thread's cache was read already */
	(void)mb_cpu_slot(vol);
	if (mb_cpu_cached < 0)
		return reread_at; /* the first use did not read it */
	mb_cpu_cached = -5;
	for (int use = 1; use <= 200 && !*reread_at; use++) {
		(void)mb_cpu_slot(vol);
		if (mb_cpu_cached != -5)
			*reread_at = use;
	}
	return reread_at;
}

TEST(cpu_read_every_64th_use)
{
	struct mb_volume *vol = new_volume();
	pthread_t t;
	void *got = NULL;

	ASSERT_TRUE(vol != NULL);
	ASSERT_EQ_INT(pthread_create(&t, NULL, cpu_reads, vol), 0);
	ASSERT_EQ_INT(pthread_join(t, &got), 0);
	ASSERT_TRUE(got != NULL);
	ASSERT_EQ_INT(*(int *)got, MB_CPU_USES);
	free(got);
	mb_volume_destroy(vol);
}

/*
 * mb_this_pcpu adds the offset cached with the CPU (percpu.h): a thread
 * pinned to slot s (mb_cpu_pin) charges s -- its reservation is counted
 * on s's resv_added and on no other slot's.  An offset not kept with the
 * CPU charges another slot.
 */
TEST(pinned_slot_is_the_one_charged)
{
	struct mb_volume *vol = new_volume();

	ASSERT_TRUE(vol != NULL);
	for (uint32_t s = 0; s <= vol->pcpu_mask; s++) {
		uint64_t before[1024];

		for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
			before[i] = atomic_load(&vol->pcpu[i].resv_added);
		mb_cpu_pin((int)s);
		ASSERT_EQ_INT(mb_reserve(vol, 3, 0), 0);
		for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
			ASSERT_EQ_U64(atomic_load(&vol->pcpu[i].resv_added) - before[i],
				      (uint64_t)(i == s ? 3 : 0));
		ASSERT_EQ_INT(mb_unreserve(vol, 3), 0);
	}
	mb_volume_destroy(vol);
}

/*
 * A new thread's first reservation is charged to the slot of the CPU it
 * runs on: its first lookup (mb_this_pcpu) counts a use and reads the CPU,
 * as mb_cpu_slot's does (mb_cpu_use).  A lookup that skipped the count
 * would charge the never-read cache's slot 0 from every CPU.  Each thread
 * is bound to one CPU, so it cannot move between its read and its charge.
 */
struct charge_arg {
	struct mb_volume *vol;
	int cpu;
	bool bound; /* it ran on cpu: else not tried (a machine that refuses) */
	int err;
};

static void *charge_on_cpu(void *p)
{
	struct charge_arg *a = p;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(a->cpu, &set);
	a->bound = !pthread_setaffinity_np(pthread_self(), sizeof(set), &set) &&
		   sched_getcpu() == a->cpu;
	if (a->bound)
		a->err = mb_reserve(a->vol, 3, 0);
	return NULL;
}

TEST(first_charge_is_the_running_cpus_slot)
{
	struct mb_volume *vol = new_volume();
	cpu_set_t mine;
	int tried = 0;

	ASSERT_TRUE(vol != NULL);
	ASSERT_EQ_INT(pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine), 0);
	for (int c = 0; c < CPU_SETSIZE && c <= (int)vol->pcpu_mask; c++) {
		if (!CPU_ISSET(c, &mine))
			continue;
		uint64_t before[1024];
		struct charge_arg a = {vol, c, false, 0};
		pthread_t th;

		for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
			before[i] = atomic_load(&vol->pcpu[i].resv_added);
		ASSERT_EQ_INT(pthread_create(&th, NULL, charge_on_cpu, &a), 0);
		ASSERT_EQ_INT(pthread_join(th, NULL), 0);
		if (!a.bound)
			continue;
		ASSERT_EQ_INT(a.err, 0);
		for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
			ASSERT_EQ_U64(atomic_load(&vol->pcpu[i].resv_added) - before[i],
				      (uint64_t)(i == ((unsigned)c & vol->pcpu_mask) ? 3 : 0));
		ASSERT_EQ_INT(mb_unreserve(vol, 3), 0);
		tried++;
	}
	mb_volume_destroy(vol);
	/* not mb_test_skip: it would end the binary's other tests too */
	if (tried < 2)
		printf("note: first_charge_is_the_running_cpus_slot: %d CPU(s) to bind to, "
		       "slot 0 alone can pass\n", tried);
}
