/* SPDX-License-Identifier: MIT */
/*
 * test_avg_hi.c - avg_hi (mb_int.h, group_sets.c), the index that lets
 * CR_GOAL_LEN_FAST skip the members of avg_set[ilog2(goal)] whose average
 * free fragment is below the goal, against a brute-force model.  After
 * every few seeded allocations and frees, every group (set up or still
 * pristine) must have the sub the model computes from its counters, be in
 * exactly the bitmaps of that sub, and -- the property the scan relies on
 * -- for every goal length, each member of the goal's avg set that the
 * prefilter would accept (free >= goal * frags) must be in the goal's
 * bitmap.  The walk's decisions and counts: test_scan_hinted.  And one
 * use set up by hand whose reorder must move the free order alone.
 */
#include <pthread.h>

#include "lockstep.h"
#include "percpu.h"

/* The model: the highest s in 0..7 with floor(free / frags) * 8 >= (8 + s) 2^ao. */
static int model_sub(uint32_t free, uint32_t frags, int ao)
{
	int s = 0;

	if (ao < 0)
		return 0;
	while (s + 1 < MB_AVG_SUBS &&
	       (uint64_t)(free / frags) * MB_AVG_SUBS >= (uint64_t)(MB_AVG_SUBS + s + 1) << ao)
		s++;
	return s;
}

static bool in_hi(struct mb_volume *vol, int j, mb_grp_t g)
{
	return (atomic_load(&mb_avg_hi_map(vol, j)[g >> 6]) >> (g & 63)) & 1;
}

/* Group g's counters, or those a pristine group has before it is set up. */
static void group_counters(struct mb_volume *vol, mb_grp_t g, uint32_t *free, uint32_t *frags,
			   int *ao)
{
	struct mb_group *grp = mb_group_peek(vol, g);

	if (grp) {
		*free = grp->bb_free;
		*frags = grp->bb_fragments;
		*ao = grp->bb_avg_fragment_size_order;
		return;
	}
	*free = mb_group_pristine_free(vol, g);
	*frags = *free ? 1 : 0;
	*ao = mb_group_avg_order(vol, *free, *frags);
}

/* Group g is in exactly the bitmaps of the sub the model gives it. */
static int bits_check(struct mb_volume *vol, mb_grp_t g)
{
	uint32_t free, frags;
	int ao;

	group_counters(vol, g, &free, &frags, &ao);
	int s = model_sub(free, frags, ao);

	for (int j = 1; j < MB_AVG_SUBS; j++)
		if (in_hi(vol, j, g) != (j <= s)) {
			fprintf(stderr, "group %u: bitmap %d says %d, sub %d\n", g, j, in_hi(vol, j, g),
				s);
			return 1;
		}
	return 0;
}

/* 0 when every group agrees with the model; 1 (and a message) otherwise. */
static int model_check(struct mb_volume *vol, uint64_t *filtered)
{
	for (mb_grp_t g = 0; g < vol->ngroups; g++) {
		uint32_t free, frags;
		int ao;

		group_counters(vol, g, &free, &frags, &ao);
		int s = model_sub(free, frags, ao);
		struct mb_group *grp = mb_group_peek(vol, g);

		if (grp && grp->bb_avg_sub != s) {
			fprintf(stderr, "group %u: sub %d, model %d\n", g, grp->bb_avg_sub, s);
			return 1;
		}
		if (bits_check(vol, g))
			return 1;
		if (ao < 0)
			continue;
		/* every goal whose first set is avg_set[ao] */
		for (uint64_t len = 1ULL << ao; len < 2ULL << ao && len <= vol->bpg; len++) {
			int j = (int)((len * MB_AVG_SUBS) >> ao) - MB_AVG_SUBS;
			bool pass = free >= len * frags;

			if (!j)
				continue;
			if (pass && !in_hi(vol, j, g)) {
				fprintf(stderr, "group %u (free %u, frags %u) passes goal %llu, skipped\n",
					g, free, frags, (unsigned long long)len);
				return 1;
			}
			*filtered += !in_hi(vol, j, g);
		}
	}
	return 0;
}

/* Lengths spread over whole orders, so goals fall in every sub. */
static int spread_request(struct mb_lockstep *ls, uint64_t dice, bool files, struct mb_request *r,
			  const void *arg)
{
	uint32_t k = (uint32_t)mb_rand_below(&ls->rng, 9);

	(void)dice;
	(void)files;
	(void)arg;
	r->len = (1u << k) + (uint32_t)mb_rand_below(&ls->rng, 1u << k);
	r->goal = mb_lockstep_goal(ls);
	return -1;
}

/* Aged volumes, ops in rounds, the model after each round. */
TEST(avg_hi_matches_model)
{
	static const unsigned keep[] = {50, 80, 95};

	for (unsigned c = 0; c < sizeof(keep) / sizeof(keep[0]); c++) {
		const struct mb_lockstep_opts o = {.block_size = 1024, .bpg = 1024, .groups = 140,
						   .seed = mb_test_seed * 7 + c, .cap = 1 << 14};
		struct mb_lockstep ls;
		uint64_t filtered = 0;
		int bad = mb_lockstep_init(&ls, &o);

		/* pristine groups: the creation's fill */
		if (!bad)
			bad = model_check(ls.v[0], &filtered);
		if (!bad)
			bad = mb_lockstep_age(&ls, 40, keep[c]) || model_check(ls.v[0], &filtered);
		for (int round = 0; round < 40 && !bad; round++)
			bad = mb_lockstep_run(&ls, 60, false, spread_request, NULL) ||
			      model_check(ls.v[0], &filtered);
		mb_lockstep_destroy(&ls);
		ASSERT_EQ_INT(bad, 0);
		ASSERT_TRUE(filtered > 0); /* the index did exclude someone */
	}
}

/*
 * Reserved blocks per group put the pristine groups' average anywhere in
 * its order: the creation's fill (groups never set up) and the first
 * allocations in each group must agree with the model for every sub.
 */
TEST(avg_hi_pristine_fill)
{
	for (uint32_t rsv = 0; rsv < 512; rsv += 37) {
		struct mb_geometry geo = {.block_size = 1024, .blocks_per_group = 1024,
					  .blocks_count = 1024 * 100, .reserved_per_group = rsv};
		struct mb_volume *vol;
		uint64_t filtered = 0, rng = mb_test_seed + rsv;
		int bad;

		ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
		bad = model_check(vol, &filtered);
		for (int i = 0; i < 300 && !bad; i++) {
			uint32_t k = (uint32_t)mb_rand_below(&rng, 7);
			struct mb_request r = {
				.len = (1u << k) + (uint32_t)mb_rand_below(&rng, 1u << k),
				.goal = mb_rand_below(&rng, geo.blocks_count)};
			struct mb_extent e;

			if (!mb_alloc(vol, &r, &e) && mb_rand_below(&rng, 3) == 0)
				bad = mb_free(vol, e.start, e.len) != 0;
			if (!bad && i % 30 == 0)
				bad = model_check(vol, &filtered);
		}
		mb_volume_destroy(vol);
		ASSERT_EQ_INT(bad, 0);
	}
}

/*
 * A volume whose bitmaps are a page or more (2^19 groups and more): the
 * creation maps the sets' image over them copy-on-write (mb_avg_hi_fill)
 * instead of storing them.  Every group must read as the model says, and
 * a group that moves between subs must move in its own bitmaps only: the
 * seven bitmaps map the same words of one file, and a write to one must
 * not show in another, nor in another volume's.
 */
TEST(avg_hi_mapped_fill)
{
	const uint32_t groups = (1u << 19) + 101;
	struct mb_geometry geo = {.block_size = 1024, .blocks_per_group = 1024,
				  .blocks_count = 1024ULL * (groups - 1) + 700,
				  .reserved_per_group = 300};
	struct mb_volume *vol, *other;
	uint64_t rng = mb_test_seed;
	int bad = 0;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_volume_create(&geo, &other), 0);
	ASSERT_EQ_U64(vol->ngroups, groups);
	for (mb_grp_t g = 0; g < vol->ngroups && !bad; g++)
		bad = bits_check(vol, g);
	ASSERT_TRUE(in_hi(vol, 1, 0)); /* the pristine sub fills some bitmap */
	/* allocations at group starts spread over the volume (and past a
	   page of bitmap: 32768 groups), some freed again */
	for (int i = 0; i < 400 && !bad; i++) {
		mb_grp_t g = (mb_grp_t)mb_rand_below(&rng, groups);
		struct mb_request r = {.len = 1 + (uint32_t)mb_rand_below(&rng, 300),
				       .goal = (uint64_t)g * 1024};
		struct mb_extent e;

		if (!mb_alloc(vol, &r, &e) && mb_rand_below(&rng, 3) == 0)
			bad = mb_free(vol, e.start, e.len) != 0;
		for (mb_grp_t h = g ? g - 1 : 0; h <= g + 1 && h < groups && !bad; h++)
			bad = bits_check(vol, h) || bits_check(other, h);
	}
	for (mb_grp_t g = 0; g < vol->ngroups && !bad; g++)
		bad = bits_check(vol, g) || (g % 97 == 0 && bits_check(other, g));
	mb_volume_destroy(other);
	mb_volume_destroy(vol);
	ASSERT_EQ_INT(bad, 0);
}

/* A set-up group's orders and sub, to tell what one allocation moved. */
struct grp_pos {
	bool up;
	int lo, ao, fo, as;
};

static bool grp_pos_eq(const struct grp_pos *a, const struct grp_pos *b)
{
	return a->up == b->up && a->lo == b->lo && a->ao == b->ao && a->fo == b->fo &&
	       a->as == b->as;
}

static void grp_pos_of(struct mb_volume *vol, mb_grp_t g, struct grp_pos *p)
{
	struct mb_group *grp = mb_group_peek(vol, g);

	p->up = grp != NULL;
	p->lo = grp ? grp->bb_largest_free_order : 0;
	p->ao = grp ? grp->bb_avg_fragment_size_order : 0;
	p->fo = grp ? grp->bb_free_order : 0;
	p->as = grp ? grp->bb_avg_sub : 0;
}

/*
 * discard_pa_seq and the avg_hi moves (group_sets.c): an allocation bumps
 * it once when its group moves between scan sets or its average rises to
 * a higher sub (a whole fragment taken: the group may newly pass a walk's
 * test, so a failing search must retry), and not at all when the sub only
 * falls or stays (what a walk would now refuse).  Raw requests, no PA:
 * nothing else bumps on the allocation path.  Every kind must be seen.
 * ngroups (up to 128): 64, sets of one level; 128, of two, whose moves
 * with one thread bump last (mb_group_move_sets_one).
 */
static void seq_bumps_run(mb_grp_t ngroups)
{
	struct mb_geometry geo = {.block_size = 1024, .blocks_per_group = 1024,
				  .blocks_count = 1024 * (uint64_t)ngroups};
	struct mb_volume *vol;
	struct grp_pos before[128], after[128];
	uint64_t rng = mb_test_seed * 3 + 1, seen_move = 0, seen_rise = 0, seen_quiet = 0;
	uint64_t *kept = calloc(4096, sizeof(*kept));
	uint32_t *klen = calloc(4096, sizeof(*klen));
	size_t nkept = 0;
	int bad = 0;

	ASSERT_TRUE(kept && klen);
	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	for (int i = 0; i < 6000 && !bad; i++) {
		if (nkept && (nkept == 4096 || mb_rand_below(&rng, 5) < 2)) {
			size_t k = (size_t)mb_rand_below(&rng, nkept);

			bad = mb_free(vol, kept[k], klen[k]) != 0;
			kept[k] = kept[--nkept];
			klen[k] = klen[nkept];
			continue;
		}
		struct mb_request r = {.len = 1 + (uint32_t)mb_rand_below(&rng, 96),
				       .goal = mb_rand_below(&rng, geo.blocks_count)};
		struct mb_extent e;

		for (mb_grp_t g = 0; g < ngroups; g++)
			grp_pos_of(vol, g, &before[g]);
		uint64_t own = mb_seq_own();

		if (mb_alloc(vol, &r, &e))
			continue;
		uint64_t bumps = mb_seq_own() - own;
		mb_grp_t eg = (mb_grp_t)(e.start / 1024);
		int others = 0;

		kept[nkept] = e.start;
		klen[nkept++] = e.len;
		for (mb_grp_t g = 0; g < ngroups; g++) {
			grp_pos_of(vol, g, &after[g]);
			others += g != eg && !grp_pos_eq(&before[g], &after[g]);
		}
		if (others || !before[eg].up)
			continue; /* a group set up, or another moved: not this rule */
		const struct grp_pos *b = &before[eg], *a = &after[eg];
		bool moved = a->lo != b->lo || a->ao != b->ao || a->fo != b->fo;
		uint64_t want = moved || a->as > b->as;

		seen_move += moved;
		seen_rise += !moved && a->as > b->as;
		seen_quiet += !moved && a->as <= b->as;
		if (bumps != want) {
			fprintf(stderr, "alloc %u at %llu: orders %d/%d/%d -> %d/%d/%d, sub %d -> %d: "
					"%llu bumps, want %llu\n",
				r.len, (unsigned long long)e.start, b->lo, b->ao, b->fo, a->lo,
				a->ao, a->fo, b->as, a->as, (unsigned long long)bumps,
				(unsigned long long)want);
			bad = 1;
		}
	}
	mb_volume_destroy(vol);
	free(kept);
	free(klen);
	ASSERT_EQ_INT(bad, 0);
	ASSERT_TRUE(seen_move > 0 && seen_rise > 0 && seen_quiet > 0);
}

TEST(avg_hi_seq_bumps)
{
	seq_bumps_run(64);
}

TEST(avg_hi_seq_bumps_two_levels)
{
	seq_bumps_run(128);
}

/* A second thread that waits, doing nothing, until released. */
static pthread_mutex_t park_mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static bool park_done;

static void *park_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&park_mx);
	while (!park_done)
		pthread_cond_wait(&park_cv, &park_mx);
	pthread_mutex_unlock(&park_mx);
	return NULL;
}

/*
 * The same in a process with a second thread: the moves then take the
 * threaded paths (group_sets.c), where a falling sub under the set word's
 * lock biased to this thread (soon: one thread takes it) skips the slow
 * lock and the bump (mb_group_move_sub_mt), and a rising one must not.
 */
static void seq_bumps_threaded(mb_grp_t ngroups)
{
	pthread_t th;

	park_done = false;
	ASSERT_EQ_INT(pthread_create(&th, NULL, park_thread, NULL), 0);
	seq_bumps_run(ngroups);
	pthread_mutex_lock(&park_mx);
	park_done = true;
	pthread_cond_signal(&park_cv);
	pthread_mutex_unlock(&park_mx);
	pthread_join(th, NULL);
}

TEST(avg_hi_seq_bumps_threaded)
{
	seq_bumps_threaded(64);
}

/* sets of two levels, threaded: mb_group_move_sets_mt2's own bump */
TEST(avg_hi_seq_bumps_threaded_two_levels)
{
	seq_bumps_threaded(128);
}

/*
 * A use that leaves the largest order and the average's sub as they were
 * but lowers the free order (group_sets.c, mb_group_reorder_used_locked:
 * its short path holds only while free >> fo is non-zero): group 0's free
 * blocks an aligned chunk of 32 and 32 single blocks, free 64 (free order
 * 6), and one single block taken (63: free order 5).  A short path that
 * kept the free order leaves it 6, which mb_check reports.
 */
TEST(a_use_that_lowers_only_the_free_order_moves_it)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 256,
				   .blocks_count = 256 * 16 };
	struct mb_volume *vol;
	struct mb_extent ex;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_tunable_set(vol, "reserved_clusters", 0), 0);
	ASSERT_EQ_INT(mb_tunable_set(vol, "r_blocks_count", 0), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &(struct mb_request){ .goal = 0, .len = 256 }, &ex), 0);
	ASSERT_EQ_U64(ex.start, 0);
	ASSERT_EQ_U64(ex.len, 256);
	ASSERT_EQ_INT(mb_free(vol, 0, 32), 0);
	for (uint64_t b = 65; b < 128; b += 2)
		ASSERT_EQ_INT(mb_free(vol, b, 1), 0);

	struct mb_group *grp = mb_group_at(vol, 0);

	ASSERT_EQ_INT(grp->bb_free, 64);
	ASSERT_EQ_INT(grp->bb_free_order, 6);
	ASSERT_EQ_INT(grp->bb_largest_free_order, 5);
	int sub = grp->bb_avg_sub;

	ASSERT_EQ_INT(mb_alloc(vol, &(struct mb_request){ .goal = 65, .len = 1 }, &ex), 0);
	ASSERT_EQ_U64(ex.start, 65);
	ASSERT_EQ_INT(grp->bb_largest_free_order, 5);
	ASSERT_EQ_INT(grp->bb_avg_sub, sub);
	ASSERT_EQ_INT(grp->bb_free_order, 5);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}
