/* SPDX-License-Identifier: MIT */
/*
 * test_scan_hinted.c - the group passes' inline prefilter (alloc.c's
 * hinted set walk and indexed linear pass) changes speed, never a
 * decision.  Two volumes, identical but that the second has a no-op test
 * hook set -- which sends every pass through the plain loops (one
 * mb_try_group call per group, the hook fired for each unlocked "no") --
 * get the same seeded operations in lockstep (lockstep.h).  Every mb_alloc
 * answer must be the same, and at the end every scan counter of mb_stats
 * (groups considered, hits, useless loops per criterion; groups and
 * extents scanned).  The workloads are built for the walk's edges: many groups
 * (sets spanning several 64-group words, goals inside a word so a pass
 * ends mid-word), goal lengths just over a power of two (most members of
 * the lowest order's set fail free / frags >= goal) and spread over the
 * order (avg_hi skips part of that set), both scan_summary
 * settings, optimize_scan off (the linear passes), and files.
 */
#include "lockstep.h"

/* The plain volume's hook: counts its calls, proof that it ran. */
/*
 * Seeded op mix: a quarter frees (mb_lockstep_run), the rest allocations,
 * many of them just over a power of two (2^k + 1..2^(k-2)), with no goal,
 * the last end, or a random block as the goal; some through files.
 */
static int hinted_request(struct mb_lockstep *ls, uint64_t dice, bool files, struct mb_request *r,
			  const void *arg)
{
	uint32_t k = 2 + (uint32_t)mb_rand_below(&ls->rng, 8);
	const bool *spread = arg;

	if (*spread && dice < 70) /* anywhere in the order: every avg_hi sub */
		r->len = (1u << k) + (uint32_t)mb_rand_below(&ls->rng, 1u << k);
	else if (dice < 70)
		r->len = (1u << k) + 1 + (uint32_t)mb_rand_below(&ls->rng, 1u << (k - 2));
	else if (dice < 80)
		r->len = 1u << k; /* the power-of-two pass */
	else
		r->len = 1 + (uint32_t)mb_rand_below(&ls->rng, 600);
	r->goal = mb_lockstep_goal(ls);
	return files && dice % 3 == 0 ? (int)mb_rand_below(&ls->rng, 3) : -1;
}

/* One case: the volumes, a tunable set on both, the ageing and the run. */
struct hinted_case {
	uint32_t bpg, groups;
	uint64_t seed;
	struct mb_lockstep_tunable tunable;
	uint32_t maxlen; /* ageing: runs of 1..maxlen blocks, keep% used */
	unsigned keep;
	int ops;
	bool files;
	bool spread; /* goal lengths spread over their order, not just over 2^k */
};

/* 1 KiB blocks, 3 files; the second volume plain: its hook counts into *hooks. */
static int hinted_init(struct mb_lockstep *ls, const struct hinted_case *c, uint64_t *hooks)
{
	const struct mb_lockstep_opts o = {.block_size = 1024, .bpg = c->bpg, .groups = c->groups,
					   .seed = c->seed, .nfiles = 3, .ino = 300, .ino_step = 131,
					   .cap = 1 << 15, .tunables = {c->tunable},
					   .hook = mb_lockstep_count_hook, .hook_arg = hooks};

	return mb_lockstep_init(ls, &o);
}

/* The case's volumes aged, then its op mix: 0 when every answer and counter agreed. */
static int hinted_same(const struct hinted_case *c, uint64_t *hooks)
{
	struct mb_lockstep ls;
	int bad = hinted_init(&ls, c, hooks) || mb_lockstep_age(&ls, c->maxlen, c->keep) ||
		  mb_lockstep_run(&ls, c->ops, c->files, hinted_request, &c->spread);

	mb_lockstep_destroy(&ls);
	return bad;
}

/* Aged volumes of 150 groups (three set words): the hinted walk's home. */
TEST(aged_over_power_of_two_same)
{
	static const unsigned keep[] = {60, 85, 93};

	for (unsigned k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		const struct hinted_case c = {.bpg = 2048, .groups = 150,
					      .seed = mb_test_seed * 5 + k, .maxlen = 48,
					      .keep = keep[k], .ops = 2500};
		uint64_t hooks = 0;

		ASSERT_EQ_INT(hinted_same(&c, &hooks), 0);
		ASSERT_TRUE(hooks > 0); /* the plain volume did judge groups unlocked */
	}
}

/*
 * Goal lengths anywhere in their order: CR_GOAL_LEN_FAST's first set walk
 * skips the members below the goal's sub (avg_hi) a word at a time, with
 * visits and counts that must match the plain walk's.
 */
TEST(aged_spread_goals_same)
{
	static const unsigned keep[] = {70, 90, 96};

	for (unsigned k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		const struct hinted_case c = {.bpg = 2048, .groups = 150,
					      .seed = mb_test_seed * 13 + k, .maxlen = 64,
					      .keep = keep[k], .ops = 2500, .spread = true};
		uint64_t hooks = 0;

		ASSERT_EQ_INT(hinted_same(&c, &hooks), 0);
		ASSERT_TRUE(hooks > 0);
	}
}

/*
 * The same with mb_stats off on both sides: the first set walk's search of
 * the sub's map then runs inline (mb_goal_len_fast_word; with mb_stats
 * on, the walk is taken whole to count what it skips), and every answer
 * must still be the plain walk's (the counters are all 0 then).
 */
TEST(aged_spread_goals_no_stats_same)
{
	static const unsigned keep[] = {70, 90, 96};

	for (unsigned k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		const struct hinted_case c = {.bpg = 2048, .groups = 150,
					      .seed = mb_test_seed * 19 + k,
					      .tunable = {"mb_stats", {0, 0}}, .maxlen = 64,
					      .keep = keep[k], .ops = 2500, .spread = true};
		uint64_t hooks = 0;

		ASSERT_EQ_INT(hinted_same(&c, &hooks), 0);
		ASSERT_TRUE(hooks > 0);
	}
}

/* Files: normalized goals, preallocations, discards; mb_scan_summary off. */
TEST(files_and_no_summary_same)
{
	for (unsigned k = 0; k < 2; k++) {
		const struct hinted_case c = {.bpg = 1024, .groups = 200,
					      .seed = mb_test_seed * 11 + k,
					      .tunable = {k ? "mb_scan_summary" : NULL, {0, 0}},
					      .maxlen = 32, .keep = 88, .ops = 2500, .files = true};
		uint64_t hooks = 0;

		ASSERT_EQ_INT(hinted_same(&c, &hooks), 0);
	}
}

/* Linear passes only (optimize_scan off), then with a few linear groups
   before the set walks (mb_max_linear_groups). */
TEST(linear_passes_same)
{
	static const struct mb_lockstep_tunable tun[] = {{"mb_optimize_scan", {0, 0}},
							  {"mb_max_linear_groups", {5, 5}}};

	for (unsigned k = 0; k < 2; k++) {
		const struct hinted_case c = {.bpg = 1024, .groups = 130,
					      .seed = mb_test_seed * 17 + k, .tunable = tun[k],
					      .maxlen = 40, .keep = 90, .ops = 2000, .files = k == 1};
		uint64_t hooks = 0;

		ASSERT_EQ_INT(hinted_same(&c, &hooks), 0);
	}
}

/* Down to ENOSPC: every criterion runs, strict retries included. */
TEST(drain_same)
{
	const struct hinted_case c = {.bpg = 1024, .groups = 70, .seed = mb_test_seed * 23};
	struct mb_lockstep ls;
	uint64_t hooks = 0;
	int bad = 0;

	ASSERT_EQ_INT(hinted_init(&ls, &c, &hooks), 0);
	ASSERT_EQ_INT(mb_lockstep_age(&ls, 20, 70), 0);
	for (int i = 0; i < 6000 && !bad; i++) {
		struct mb_request r = {.len = 3 + (uint32_t)mb_rand_below(&ls.rng, 40),
				       .goal = MB_GOAL_NONE};

		bad = mb_lockstep_alloc(&ls, &r, -1);
	}
	if (!bad)
		bad = mb_lockstep_same_stats(&ls);
	mb_lockstep_destroy(&ls);
	ASSERT_EQ_INT(bad, 0);
}
