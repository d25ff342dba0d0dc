/* SPDX-License-Identifier: MIT */
/*
 * test_scan_default.c - the regular search under the default tunables
 * (mb_stats off, the optimized scan without linear groups, no hook:
 * vol->p2_fast_lo below UINT32_MAX) changes speed, never a decision.
 * There alloc.c skips each criterion pass whose opening test says it would
 * visit nothing (mb_scan_criteria_default) instead of going round the
 * criteria loop, which every other setting still takes; and a bulk count
 * that breaks off at mb_max_to_scan having just made one of its group's
 * runs the best takes it under the same lock (mb_take_best_on_break_locked)
 * instead of leaving it to mb_try_best_found.  Two volumes,
 * identical but for that setting, get the same seeded operations in
 * lockstep (lockstep.h) and must give the same answer to every request.
 * The second volume leaves the default way either by mb_stats on (the
 * indexed passes stay) or by a no-op hook (the plain passes too).  The
 * workloads reach every pass: aged volumes with goal lengths over and at
 * powers of two, files (normalized windows, so CR_BEST_AVAIL_LEN trims),
 * drains down to ENOSPC (strict retries, the lost-best pass).
 */
#include "lockstep.h"

struct dflt_case {
	uint32_t bpg, groups;
	uint64_t seed;
	bool hooked;     /* the second volume: a hook, else mb_stats on */
	uint32_t maxlen; /* ageing: runs of 1..maxlen blocks, keep% used */
	unsigned keep;
	int ops;
	bool files;
};

/* 4 KiB blocks, 3 files; mb_stats off on the first volume. */
static int dflt_init(struct mb_lockstep *ls, const struct dflt_case *c, uint64_t *hooks)
{
	const struct mb_lockstep_opts o = {
		.block_size = 4096, .bpg = c->bpg, .groups = c->groups, .seed = c->seed,
		.nfiles = 3, .ino = 500, .ino_step = 97, .cap = 1 << 15,
		.tunables = {{"mb_stats", {0, c->hooked ? 0 : 1}}},
		.hook = c->hooked ? mb_lockstep_count_hook : NULL, .hook_arg = hooks};
	int err = mb_lockstep_init(ls, &o);

	if (err)
		return err;
	/* the first volume takes the default way, the second does not */
	return ls->v[0]->p2_fast_lo == UINT32_MAX || ls->v[1]->p2_fast_lo != UINT32_MAX;
}

/* Goal lengths over a power of two, at one, short and long; a goal as
   mb_lockstep_goal; a third of them through files. */
static int dflt_request(struct mb_lockstep *ls, uint64_t dice, bool files, struct mb_request *r,
			const void *arg)
{
	uint32_t k = 1 + (uint32_t)mb_rand_below(&ls->rng, 9);

	(void)arg;
	if (dice < 55)
		r->len = (1u << k) + (uint32_t)mb_rand_below(&ls->rng, 1u << k);
	else if (dice < 75)
		r->len = 1u << k;
	else if (dice < 85)
		r->len = 1 + (uint32_t)mb_rand_below(&ls->rng, 8);
	else
		r->len = 200 + (uint32_t)mb_rand_below(&ls->rng, 600);
	r->goal = mb_lockstep_goal(ls);
	return files && dice % 3 == 0 ? (int)mb_rand_below(&ls->rng, 3) : -1;
}

/* The case's seeded operations, every answer the same on both volumes
   (no counters compared, as mb_lockstep_run would: the first keeps none). */
static int dflt_same(const struct dflt_case *c)
{
	struct mb_lockstep ls;
	uint64_t hooks = 0;
	int bad = dflt_init(&ls, c, &hooks) || mb_lockstep_age(&ls, c->maxlen, c->keep) ||
		  mb_lockstep_ops(&ls, c->ops, c->files, dflt_request, NULL);

	mb_lockstep_destroy(&ls);
	return bad || (c->hooked && !hooks);
}

/* Aged volumes of 130 groups, with and without files, both second ways. */
TEST(aged_same)
{
	static const unsigned keep[] = {50, 80, 90, 96};

	for (unsigned k = 0; k < 2 * sizeof(keep) / sizeof(keep[0]); k++) {
		const struct dflt_case c = {.bpg = 2048, .groups = 130,
					    .seed = mb_test_seed * 31 + k, .hooked = k & 1,
					    .maxlen = 64, .keep = keep[k / 2], .ops = 2500,
					    .files = k % 4 < 2};

		ASSERT_EQ_INT(dflt_same(&c), 0);
	}
}

/* Empty volumes: the first passes serve, the later ones are rarely reached. */
TEST(empty_same)
{
	for (unsigned k = 0; k < 2; k++) {
		const struct dflt_case c = {.bpg = 1024, .groups = 80,
					    .seed = mb_test_seed * 37 + k, .hooked = k,
					    .maxlen = 1, .keep = 0, .ops = 3000, .files = true};

		ASSERT_EQ_INT(dflt_same(&c), 0);
	}
}

/*
 * Down to ENOSPC without a goal, as bench_probes' drain asks: fixed and odd
 * lengths on a volume of short free runs, frees now and then once requests
 * fail (the retries, the pass after a lost best).
 */
/* *arg blocks, or 1 to 40 at random where it is 0 (mb_lockstep_drain). */
static uint32_t drain_len(struct mb_lockstep *ls, const void *arg)
{
	uint32_t len = *(const uint32_t *)arg;

	return len ? len : 1 + (uint32_t)mb_rand_below(&ls->rng, 40);
}

TEST(drain_same)
{
	static const uint32_t len[] = {16, 0};

	for (unsigned k = 0; k < 4; k++) {
		const struct dflt_case c = {.bpg = 1024, .groups = 40,
					    .seed = mb_test_seed * 41 + k, .hooked = k & 1,
					    .maxlen = 12, .keep = 75};
		struct mb_lockstep ls;
		uint64_t hooks = 0;
		int bad = dflt_init(&ls, &c, &hooks) || mb_lockstep_age(&ls, c.maxlen, c.keep);
		int enospc = 0;

		if (!bad)
			bad = mb_lockstep_drain(&ls, 12000, drain_len, &len[k / 2], &enospc);
		mb_lockstep_destroy(&ls);
		ASSERT_EQ_INT(bad, 0);
		ASSERT_TRUE(enospc > 0);
	}
}
