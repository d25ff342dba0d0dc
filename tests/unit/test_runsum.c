/* SPDX-License-Identifier: MIT */
/*
 * test_runsum.c - the group scan's run summary (runsum.c) changes speed,
 * never a decision.  Two volumes, identical but for mb_scan_summary (1 and
 * 0), get the same seeded operations in lockstep; every mb_alloc answer
 * (error, start, length) and, at the end, every scan counter of mb_stats
 * (groups considered, extents measured, hits per criterion, breaks) must
 * be the same.  Workloads are built to reach the summary's every case:
 * aged fills where no run reaches the request (whole groups accounted
 * for), small mb_max_to_scan (the walk stops inside a group), groups whose
 * runs grow in scan order (more records than the summary keeps), and
 * files (normalized goals, preallocations, discards).
 */
#include <string.h>

#include "harness.h"

struct pair {
	struct mb_volume *v[2]; /* [0] summary on, [1] walking */
	struct mb_file *f[2][4];
	uint64_t *start;
	uint32_t *len;
	size_t n, cap;
	uint64_t rng, next_goal, logical[4];
	uint64_t blocks;
};

static int pair_init(struct pair *p, uint32_t groups, uint32_t max_to_scan, uint64_t seed)
{
	struct mb_geometry g = {.block_size = 1024, .blocks_per_group = 2048};

	memset(p, 0, sizeof(*p));
	g.blocks_count = (uint64_t)groups * g.blocks_per_group;
	p->blocks = g.blocks_count;
	p->rng = seed;
	for (int k = 0; k < 2; k++) {
		int err = mb_volume_create(&g, &p->v[k]);

		if (err)
			return err;
		mb_tunable_set(p->v[k], "mb_scan_summary", k == 0);
		mb_tunable_set(p->v[k], "mb_stats", 1);
		mb_tunable_set(p->v[k], "mb_max_to_scan", max_to_scan);
		for (int i = 0; i < 4; i++)
			if ((err = mb_file_open(p->v[k], 100 + (uint64_t)i * 977, &p->f[k][i])))
				return err;
	}
	p->cap = 1 << 16;
	p->start = malloc(p->cap * sizeof(*p->start));
	p->len = malloc(p->cap * sizeof(*p->len));
	return p->start && p->len ? 0 : -ENOMEM;
}

static void pair_destroy(struct pair *p)
{
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < 4; i++)
			mb_file_close(p->f[k][i]);
		mb_volume_destroy(p->v[k]);
	}
	free(p->start);
	free(p->len);
}

/* Marks [s, s + l) used on both volumes, group by group (a pre-fill). */
static int pair_mark(struct pair *p, uint64_t s, uint64_t l)
{
	for (int k = 0; k < 2; k++) {
		int err = mb_mark_used(p->v[k], s, l);

		if (err)
			return err;
	}
	return 0;
}

/* The same request on both; 1 when the answers differ. */
static int pair_alloc(struct pair *p, struct mb_request *r, int file)
{
	struct mb_extent e[2];
	int rc[2];

	for (int k = 0; k < 2; k++) {
		struct mb_request rk = *r;

		rk.file = file >= 0 ? p->f[k][file] : NULL;
		rk.logical = file >= 0 ? p->logical[file] : 0;
		rc[k] = mb_alloc(p->v[k], &rk, &e[k]);
	}
	if (rc[0] != rc[1] || (!rc[0] && (e[0].start != e[1].start || e[0].len != e[1].len))) {
		fprintf(stderr, "differ: rc %d/%d, %" PRIu64 "+%u / %" PRIu64 "+%u\n", rc[0], rc[1],
			e[0].start, e[0].len, e[1].start, e[1].len);
		return 1;
	}
	if (rc[0])
		return 0;
	if (file >= 0)
		p->logical[file] += e[0].len;
	p->next_goal = e[0].start + e[0].len < p->blocks ? e[0].start + e[0].len : 0;
	if (p->n < p->cap) {
		p->start[p->n] = e[0].start;
		p->len[p->n++] = e[0].len;
	}
	return 0;
}

static int pair_free_random(struct pair *p)
{
	if (!p->n)
		return 0;
	size_t i = mb_rand_below(&p->rng, p->n);

	for (int k = 0; k < 2; k++) {
		int err = mb_free(p->v[k], p->start[i], p->len[i]);

		if (err)
			return err;
	}
	p->start[i] = p->start[--p->n];
	p->len[i] = p->len[p->n];
	return 0;
}

/* Tiles the volume with 1..maxlen runs, keeping a `keep_pct` share used. */
static int pair_age(struct pair *p, uint32_t maxlen, unsigned keep_pct)
{
	for (uint64_t pos = 0; pos < p->blocks;) {
		uint64_t l = 1 + mb_rand_below(&p->rng, maxlen);

		if (pos + l > p->blocks)
			l = p->blocks - pos;
		if (mb_rand_below(&p->rng, 100) < keep_pct) {
			int err = pair_mark(p, pos, l);

			if (err)
				return err;
		}
		pos += l;
	}
	return 0;
}

/* Every scan counter must agree: the walk and the summary measured alike. */
static int pair_same_stats(struct pair *p)
{
	struct mb_stats s[2];

	for (int k = 0; k < 2; k++)
		mb_stats_get(p->v[k], &s[k]);
	int bad = s[0].groups_scanned != s[1].groups_scanned ||
		  s[0].extents_scanned != s[1].extents_scanned || s[0].breaks != s[1].breaks ||
		  s[0].lost != s[1].lost;

	for (int c = 0; c < MB_NUM_CRS; c++)
		bad |= memcmp(&s[0].cr[c], &s[1].cr[c], sizeof(s[0].cr[c])) != 0;
	if (bad)
		fprintf(stderr, "stats differ: extents %" PRIu64 "/%" PRIu64 "\n",
			s[0].extents_scanned, s[1].extents_scanned);
	return bad;
}

/* Seeded op mix: mostly allocations of 1..max_len with assorted goals. */
static int pair_run(struct pair *p, int ops, uint32_t max_len, bool files)
{
	for (int i = 0; i < ops; i++) {
		uint64_t dice = mb_rand_below(&p->rng, 100);

		if (dice < 25) {
			if (pair_free_random(p))
				return 1;
			continue;
		}
		struct mb_request r = {.len = 1 + (uint32_t)mb_rand_below(&p->rng, max_len)};
		uint64_t g = mb_rand_below(&p->rng, 3);

		r.goal = g == 0	  ? MB_GOAL_NONE
			 : g == 1 ? p->next_goal
				  : mb_rand_below(&p->rng, p->blocks);
		if (dice < 35)
			r.len = 1u << mb_rand_below(&p->rng, 9); /* the power-of-two pass */
		int file = files && dice % 2 ? (int)mb_rand_below(&p->rng, 4) : -1;

		if (pair_alloc(p, &r, file))
			return 1;
		if (files && dice == 99) {
			uint64_t f = mb_rand_below(&p->rng, 4);

			for (int k = 0; k < 2; k++)
				mb_file_discard(p->f[k][f]);
		}
	}
	return pair_same_stats(p);
}

/* Aged fills at several levels: requests longer than any run are common. */
TEST(aged_fills_same_answers)
{
	static const unsigned keep[] = {50, 80, 92, 97};

	for (unsigned k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		struct pair p;

		ASSERT_EQ_INT(pair_init(&p, 24, 200, mb_test_seed + k), 0);
		ASSERT_EQ_INT(pair_age(&p, 40, keep[k]), 0);
		int bad = pair_run(&p, 3000, 400, false);

		pair_destroy(&p);
		ASSERT_EQ_INT(bad, 0);
	}
}

/* A small mb_max_to_scan: the walk often stops inside a group. */
TEST(max_to_scan_stops_inside_groups)
{
	static const uint32_t scan[] = {1, 5, 17, 60};

	for (unsigned k = 0; k < sizeof(scan) / sizeof(scan[0]); k++) {
		struct pair p;

		ASSERT_EQ_INT(pair_init(&p, 16, scan[k], mb_test_seed * 31 + k), 0);
		ASSERT_EQ_INT(pair_age(&p, 24, 90), 0);
		int bad = pair_run(&p, 2000, 300, false);

		pair_destroy(&p);
		ASSERT_EQ_INT(bad, 0);
	}
}

/*
 * Groups whose free runs grow in scan order (1, 2, 3, ... blocks apart by
 * one used block) hold more records than the summary keeps, so entry
 * bests below the dropped records must walk.
 */
TEST(more_records_than_kept)
{
	struct pair p;

	ASSERT_EQ_INT(pair_init(&p, 8, 200, mb_test_seed ^ 0x5eed), 0);
	for (uint64_t g = 0; g < 8; g++) {
		uint64_t pos = g * 2048, end = pos + 2048;
		uint32_t run = 1 + (uint32_t)g % 3;

		while (pos < end) {
			uint64_t used = pos + run < end ? pos + run : end;

			if (used < end)
				ASSERT_EQ_INT(pair_mark(&p, used, 1), 0);
			pos = used + 1;
			run = run < 60 ? run + 1 : 1 + (uint32_t)mb_rand_below(&p.rng, 61);
		}
	}
	int bad = pair_run(&p, 3000, 128, false);

	pair_destroy(&p);
	ASSERT_EQ_INT(bad, 0);
}

/* Files: normalized windows, preallocations and their discards. */
TEST(files_same_answers)
{
	struct pair p;

	ASSERT_EQ_INT(pair_init(&p, 24, 200, mb_test_seed + 77), 0);
	ASSERT_EQ_INT(pair_age(&p, 48, 85), 0);
	int bad = pair_run(&p, 4000, 200, true);

	pair_destroy(&p);
	ASSERT_EQ_INT(bad, 0);
}
