/* SPDX-License-Identifier: MIT */
/*
 * test_scan_hinted.c - the group passes' inline prefilter (alloc.c's
 * hinted set walk and indexed linear pass) changes speed, never a
 * decision.  Two volumes, identical but that the second has a no-op test
 * hook set -- which sends every pass through the plain loops (one
 * mb_try_group call per group, the hook fired for each unlocked "no") --
 * get the same seeded operations in lockstep.  Every mb_alloc answer must
 * be the same, and at the end every scan counter of mb_stats (groups
 * considered, hits, useless loops per criterion; groups and extents
 * scanned).  The workloads are built for the walk's edges: many groups
 * (sets spanning several 64-group words, goals inside a word so a pass
 * ends mid-word), goal lengths just over a power of two (most members of
 * the lowest order's set fail free / frags >= goal), both scan_summary
 * settings, optimize_scan off (the linear passes), and files.
 */
#include <string.h>

#include "harness.h"
#include "mb_int.h"

struct twin {
	struct mb_volume *v[2]; /* [0] hinted walks, [1] plain (hook set) */
	struct mb_file *f[2][3];
	uint64_t *start;
	uint32_t *len;
	size_t n, cap;
	uint64_t rng, next_goal, logical[3], blocks;
	uint64_t hook_calls; /* the plain volume's hook: proof it ran */
};

static void twin_hook(void *arg, int id, uint32_t group, int cr)
{
	struct twin *t = arg;

	(void)id;
	(void)group;
	(void)cr;
	t->hook_calls++;
}

static int twin_init(struct twin *t, uint32_t bpg, uint32_t groups, uint64_t seed)
{
	struct mb_geometry g = {.block_size = 1024, .blocks_per_group = bpg};

	memset(t, 0, sizeof(*t));
	g.blocks_count = (uint64_t)groups * bpg;
	t->blocks = g.blocks_count;
	t->rng = seed;
	for (int k = 0; k < 2; k++) {
		int err = mb_volume_create(&g, &t->v[k]);

		if (err)
			return err;
		mb_tunable_set(t->v[k], "mb_stats", 1);
		for (int i = 0; i < 3; i++)
			if ((err = mb_file_open(t->v[k], 300 + (uint64_t)i * 131, &t->f[k][i])))
				return err;
	}
	mb_hook_set(t->v[1], twin_hook, t);
	t->cap = 1 << 15;
	t->start = malloc(t->cap * sizeof(*t->start));
	t->len = malloc(t->cap * sizeof(*t->len));
	return t->start && t->len ? 0 : -ENOMEM;
}

static void twin_set(struct twin *t, const char *name, uint64_t v)
{
	for (int k = 0; k < 2; k++)
		mb_tunable_set(t->v[k], name, v);
}

static void twin_destroy(struct twin *t)
{
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < 3; i++)
			mb_file_close(t->f[k][i]);
		mb_volume_destroy(t->v[k]);
	}
	free(t->start);
	free(t->len);
}

/* Tiles the volume with runs of 1..maxlen blocks, keeping keep_pct used. */
static int twin_age(struct twin *t, uint32_t maxlen, unsigned keep_pct)
{
	for (uint64_t pos = 0; pos < t->blocks;) {
		uint64_t l = 1 + mb_rand_below(&t->rng, maxlen);

		if (pos + l > t->blocks)
			l = t->blocks - pos;
		if (mb_rand_below(&t->rng, 100) < keep_pct)
			for (int k = 0; k < 2; k++) {
				int err = mb_mark_used(t->v[k], pos, l);

				if (err)
					return err;
			}
		pos += l;
	}
	return 0;
}

/* The same request on both; 1 when the answers differ. */
static int twin_alloc(struct twin *t, const struct mb_request *r, int file)
{
	struct mb_extent e[2];
	int rc[2];

	for (int k = 0; k < 2; k++) {
		struct mb_request rk = *r;

		rk.file = file >= 0 ? t->f[k][file] : NULL;
		rk.logical = file >= 0 ? t->logical[file] : 0;
		rc[k] = mb_alloc(t->v[k], &rk, &e[k]);
	}
	if (rc[0] != rc[1] || (!rc[0] && (e[0].start != e[1].start || e[0].len != e[1].len))) {
		fprintf(stderr, "differ: rc %d/%d, %" PRIu64 "+%u / %" PRIu64 "+%u\n", rc[0], rc[1],
			e[0].start, e[0].len, e[1].start, e[1].len);
		return 1;
	}
	if (rc[0])
		return 0;
	if (file >= 0)
		t->logical[file] += e[0].len;
	t->next_goal = e[0].start + e[0].len < t->blocks ? e[0].start + e[0].len : 0;
	if (t->n < t->cap) {
		t->start[t->n] = e[0].start;
		t->len[t->n++] = e[0].len;
	}
	return 0;
}

static int twin_free_random(struct twin *t)
{
	if (!t->n)
		return 0;
	size_t i = mb_rand_below(&t->rng, t->n);

	for (int k = 0; k < 2; k++) {
		int err = mb_free(t->v[k], t->start[i], t->len[i]);

		if (err)
			return err;
	}
	t->start[i] = t->start[--t->n];
	t->len[i] = t->len[t->n];
	return 0;
}

/* Every scan counter must agree. */
static int twin_same_stats(struct twin *t)
{
	struct mb_stats s[2];
	int bad;

	for (int k = 0; k < 2; k++)
		mb_stats_get(t->v[k], &s[k]);
	bad = s[0].groups_scanned != s[1].groups_scanned ||
	      s[0].extents_scanned != s[1].extents_scanned || s[0].breaks != s[1].breaks ||
	      s[0].lost != s[1].lost || s[0].reqs != s[1].reqs;
	for (int c = 0; c < MB_NUM_CRS; c++) {
		if (!memcmp(&s[0].cr[c], &s[1].cr[c], sizeof(s[0].cr[c])))
			continue;
		bad = 1;
		fprintf(stderr, "%s differs: considered %" PRIu64 "/%" PRIu64 ", hits %" PRIu64
				"/%" PRIu64 "\n",
			mb_criteria_name(c), s[0].cr[c].groups_considered,
			s[1].cr[c].groups_considered, s[0].cr[c].hits, s[1].cr[c].hits);
	}
	if (bad)
		fprintf(stderr, "stats differ: groups scanned %" PRIu64 "/%" PRIu64 "\n",
			s[0].groups_scanned, s[1].groups_scanned);
	return bad;
}

/*
 * Seeded op mix: a quarter frees, the rest allocations, many of them just
 * over a power of two (2^k + 1..2^(k-2)), with no goal, the last end, or a
 * random block as the goal; some through files.
 */
static int twin_run(struct twin *t, int ops, bool files)
{
	for (int i = 0; i < ops; i++) {
		uint64_t dice = mb_rand_below(&t->rng, 100);

		if (dice < 25) {
			if (twin_free_random(t))
				return 1;
			continue;
		}
		struct mb_request r = {0};
		uint32_t k = 2 + (uint32_t)mb_rand_below(&t->rng, 8);

		if (dice < 70)
			r.len = (1u << k) + 1 + (uint32_t)mb_rand_below(&t->rng, 1u << (k - 2));
		else if (dice < 80)
			r.len = 1u << k; /* the power-of-two pass */
		else
			r.len = 1 + (uint32_t)mb_rand_below(&t->rng, 600);
		uint64_t g = mb_rand_below(&t->rng, 3);

		r.goal = g == 0 ? MB_GOAL_NONE : g == 1 ? t->next_goal : mb_rand_below(&t->rng, t->blocks);
		int file = files && dice % 3 == 0 ? (int)mb_rand_below(&t->rng, 3) : -1;

		if (twin_alloc(t, &r, file))
			return 1;
		if (files && dice == 99) {
			uint64_t f = mb_rand_below(&t->rng, 3);

			for (int v = 0; v < 2; v++)
				mb_file_discard(t->f[v][f]);
		}
	}
	return twin_same_stats(t);
}

/* Aged volumes of 150 groups (three set words): the hinted walk's home. */
TEST(aged_over_power_of_two_same)
{
	static const unsigned keep[] = {60, 85, 93};

	for (unsigned k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		struct twin t;

		ASSERT_EQ_INT(twin_init(&t, 2048, 150, mb_test_seed * 5 + k), 0);
		ASSERT_EQ_INT(twin_age(&t, 48, keep[k]), 0);
		int bad = twin_run(&t, 2500, false);
		uint64_t hooks = t.hook_calls;

		twin_destroy(&t);
		ASSERT_EQ_INT(bad, 0);
		ASSERT_TRUE(hooks > 0); /* the plain volume did judge groups unlocked */
	}
}

/* Files: normalized goals, preallocations, discards; mb_scan_summary off. */
TEST(files_and_no_summary_same)
{
	for (unsigned k = 0; k < 2; k++) {
		struct twin t;

		ASSERT_EQ_INT(twin_init(&t, 1024, 200, mb_test_seed * 11 + k), 0);
		if (k)
			twin_set(&t, "mb_scan_summary", 0);
		ASSERT_EQ_INT(twin_age(&t, 32, 88), 0);
		int bad = twin_run(&t, 2500, true);

		twin_destroy(&t);
		ASSERT_EQ_INT(bad, 0);
	}
}

/* Linear passes only (optimize_scan off), then with a few linear groups
   before the set walks (mb_max_linear_groups). */
TEST(linear_passes_same)
{
	for (unsigned k = 0; k < 2; k++) {
		struct twin t;

		ASSERT_EQ_INT(twin_init(&t, 1024, 130, mb_test_seed * 17 + k), 0);
		if (k)
			twin_set(&t, "mb_max_linear_groups", 5);
		else
			twin_set(&t, "mb_optimize_scan", 0);
		ASSERT_EQ_INT(twin_age(&t, 40, 90), 0);
		int bad = twin_run(&t, 2000, k == 1);

		twin_destroy(&t);
		ASSERT_EQ_INT(bad, 0);
	}
}

/* Down to ENOSPC: every criterion runs, strict retries included. */
TEST(drain_same)
{
	struct twin t;
	int bad = 0;

	ASSERT_EQ_INT(twin_init(&t, 1024, 70, mb_test_seed * 23), 0);
	ASSERT_EQ_INT(twin_age(&t, 20, 70), 0);
	for (int i = 0; i < 6000 && !bad; i++) {
		struct mb_request r = {.len = 3 + (uint32_t)mb_rand_below(&t.rng, 40),
				       .goal = MB_GOAL_NONE};

		bad = twin_alloc(&t, &r, -1);
	}
	if (!bad)
		bad = twin_same_stats(&t);
	twin_destroy(&t);
	ASSERT_EQ_INT(bad, 0);
}
