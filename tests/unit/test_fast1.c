/* SPDX-License-Identifier: MIT */
/*
 * test_fast1.c - alloc.c's one-block fast path (mb_alloc_one_fast: a
 * one-block request with no file, one thread, that CR_GOAL_LEN_FAST's
 * first group answers from a free tail, decided without the criteria
 * loop) changes speed, never a decision.  Two volumes, identical but that
 * the second has a no-op test hook set -- which keeps every request on the
 * regular path -- get the same seeded operations in lockstep
 * (lockstep.h): every answer must be the same.  mb_stats is off on both
 * (with it on, the fast path stands aside).  The requests are mostly of
 * one block, with goals of every kind and the flags that send them the
 * regular way or change its walk (MB_HINT_FIRST), a few longer ones and
 * frees in between (groups whose free blocks are no tail: the regular
 * path's); on empty and aged volumes, groups of a size no power of two or
 * of 2^max_order, data from block 1, and the scan limits both ways round
 * (mb_max_to_scan at or below mb_min_to_scan: the scan may break off and
 * the criteria loop take the best it left).  Free space (statfs) compared
 * too: the fast path's claim must be the regular one's.
 */
#include <stdio.h>
#include <string.h>

#include "lockstep.h"

struct one_case {
	uint32_t block_size, bpg, groups, first; /* first: first_data_block */
	uint64_t seed;
	uint32_t maxlen; /* ageing: runs of 1..maxlen blocks, keep% used; 0: none */
	unsigned keep;
	uint32_t max_to_scan, min_to_scan; /* 0: the defaults */
	int ops;
};

static int one_init(struct mb_lockstep *ls, const struct one_case *c, uint64_t *hooks)
{
	struct mb_lockstep_opts o = {
		.block_size = c->block_size, .bpg = c->bpg, .groups = c->groups, .first = c->first,
		.seed = c->seed, .cap = 1 << 15, .tunables = {{"mb_stats", {0, 0}}},
		.hook = mb_lockstep_count_hook, .hook_arg = hooks,
	};
	int t = 1;

	/* 0: the defaults */
	if (c->max_to_scan)
		o.tunables[t++] = (struct mb_lockstep_tunable){"mb_max_to_scan",
							       {c->max_to_scan, c->max_to_scan}};
	if (c->min_to_scan)
		o.tunables[t++] = (struct mb_lockstep_tunable){"mb_min_to_scan",
							       {c->min_to_scan, c->min_to_scan}};
	return mb_lockstep_init(ls, &o);
}

/* One block mostly, at a goal as mb_lockstep_goal or at block 0 (a
   sequential fill's); now and then longer, or a flag the path looks at. */
static int one_request(struct mb_lockstep *ls, uint64_t dice, bool files, struct mb_request *r,
		       const void *arg)
{
	const struct one_case *c = arg;
	uint64_t f = mb_rand_below(&ls->rng, 32);

	(void)files;
	r->len = dice < 90 ? 1 : 2 + (uint32_t)mb_rand_below(&ls->rng, 40);
	r->goal = f < 12 ? c->first : mb_lockstep_goal(ls);
	if (r->goal != MB_GOAL_NONE && r->goal < c->first)
		r->goal = c->first; /* blocks before group 0 are no goal */
	if (f == 12)
		r->flags |= MB_HINT_TRY_GOAL;
	else if (f == 13)
		r->flags |= MB_HINT_GOAL_ONLY;
	else if (f == 14)
		r->flags |= MB_HINT_DELALLOC_RESERVED;
	else if (f == 15)
		r->flags |= MB_HINT_DATA;
	else if (f == 16) /* the walk's first extent taken at once: the same block */
		r->flags |= MB_HINT_FIRST;
	return -1;
}

/* The free space both volumes report: the fast path's claim is the
   regular one's, what it leaves free and reservable too. */
static int same_space(struct mb_volume *const v[2])
{
	struct mb_statfs st[2];

	for (int k = 0; k < 2; k++)
		if (mb_statfs(v[k], &st[k]))
			return 1;
	if (st[0].free == st[1].free && st[0].avail == st[1].avail)
		return 0;
	fprintf(stderr, "free %llu / %llu, avail %llu / %llu\n", (unsigned long long)st[0].free,
		(unsigned long long)st[1].free, (unsigned long long)st[0].avail,
		(unsigned long long)st[1].avail);
	return 1;
}

static int one_same(const struct one_case *c)
{
	struct mb_lockstep ls;
	uint64_t hooks = 0;
	int bad = one_init(&ls, c, &hooks);

	if (!bad && c->maxlen)
		bad = mb_lockstep_age(&ls, c->maxlen, c->keep);
	for (int i = 0; !bad && i < 4; i++)
		bad = mb_lockstep_run(&ls, c->ops / 4, false, one_request, c) ||
		      same_space(ls.v);
	mb_lockstep_destroy(&ls);
	return bad;
}

/* Empty volumes: the fast path's home, groups filled from their front. */
TEST(empty_same)
{
	static const uint32_t bpg[] = {1024, 2048, 1536, 32768};

	for (unsigned k = 0; k < 8; k++) {
		const struct one_case c = {.block_size = k & 1 && bpg[k & 3] <= 8192 ? 1024 : 4096,
					   .bpg = bpg[k & 3],
					   .groups = bpg[k & 3] > 4096 ? 6 : 60,
					   .seed = mb_test_seed * 7 + k, .ops = 6000};

		ASSERT_EQ_INT(one_same(&c), 0);
	}
}

/* Data from block 1 (ext4's 1 KiB geometry): the goal's group past it. */
TEST(first_data_block_same)
{
	for (unsigned k = 0; k < 2; k++) {
		const struct one_case c = {.block_size = 1024, .bpg = k ? 1536 : 1024,
					   .groups = 40, .first = 1,
					   .seed = mb_test_seed * 17 + k, .ops = 5000};

		ASSERT_EQ_INT(one_same(&c), 0);
	}
}

/* Aged volumes: few free tails, the regular path's scans between. */
TEST(aged_same)
{
	static const unsigned keep[] = {30, 60, 90};

	for (unsigned k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		const struct one_case c = {.block_size = 4096, .bpg = 1024, .groups = 60,
					   .seed = mb_test_seed * 11 + k, .maxlen = 40,
					   .keep = keep[k], .ops = 4000};

		ASSERT_EQ_INT(one_same(&c), 0);
	}
}

/*
 * The scan limits: with mb_max_to_scan at or below mb_min_to_scan the
 * one-block scan may break off past mb_max_to_scan extents (a free tail
 * of many chunks), a verdict the fast path leaves to the regular one; and
 * a few extents at most either way.
 */
TEST(scan_limits_same)
{
	static const uint32_t lim[][2] = {{2, 10}, {3, 3}, {1, 0xffffffffu}, {5, 1}, {12, 11}};

	for (unsigned k = 0; k < sizeof(lim) / sizeof(lim[0]); k++) {
		const struct one_case c = {.block_size = 4096, .bpg = 2048, .groups = 30,
					   .seed = mb_test_seed * 13 + k, .max_to_scan = lim[k][0],
					   .min_to_scan = lim[k][1], .ops = 4000};

		ASSERT_EQ_INT(one_same(&c), 0);
	}
}

/*
 * A sequential fill of one-block requests at block 0 (raw:1's shape) to
 * ENOSPC and on, each group's front taken from its odd and even blocks:
 * the same extents, and every request of the first volume served without
 * the regular path's claim hook -- none reaches it -- until the volume is
 * full (checked by the second volume's hook count: it fires).
 */
TEST(sequential_fill_same)
{
	const struct mb_geometry g = {.block_size = 4096, .blocks_per_group = 1024,
				      .blocks_count = 8 * 1024};
	struct mb_volume *v[2];
	uint64_t hooks[2] = {0, 0};

	for (int k = 0; k < 2; k++) {
		ASSERT_EQ_INT(mb_volume_create(&g, &v[k]), 0);
		mb_tunable_set(v[k], "mb_stats", 0);
		mb_hook_set(v[k], mb_lockstep_count_hook, &hooks[k]);
	}
	mb_hook_set(v[0], NULL, NULL); /* the first volume: the fast path's */
	for (uint64_t i = 0; i < g.blocks_count + 4 && !mb_test_failed; i++) {
		struct mb_request r = {.len = 1, .goal = 0};
		struct mb_extent e[2];
		int err[2];

		for (int k = 0; k < 2; k++)
			err[k] = mb_alloc(v[k], &r, &e[k]);
		ASSERT_EQ_INT(err[0], err[1]);
		if (!err[0]) {
			ASSERT_EQ_U64(e[0].start, e[1].start);
			ASSERT_EQ_U64(e[0].len, e[1].len);
		}
		if (i % 1000 == 0)
			ASSERT_EQ_INT(same_space(v), 0);
	}
	ASSERT_EQ_INT(same_space(v), 0);
	ASSERT_TRUE(hooks[1] > 0);
	for (int k = 0; k < 2; k++)
		mb_volume_destroy(v[k]);
}
