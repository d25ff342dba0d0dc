/* SPDX-License-Identifier: MIT */
/*
 * test_runsum.c - the group scan's run summary (runsum.c) changes speed,
 * never a decision.  Two volumes, identical but for mb_scan_summary (1 and
 * 0), get the same seeded operations in lockstep (lockstep.h); every
 * mb_alloc answer (error, start, length) and, at the end, every scan
 * counter of mb_stats (groups considered, extents measured, hits per
 * criterion, breaks) must be the same.  Workloads are built to reach the
 * summary's every case: aged fills where no run reaches the request (whole
 * groups accounted for), small mb_max_to_scan (the walk stops inside a
 * group), groups whose runs grow in scan order (more records than the
 * summary keeps), and files (normalized goals, preallocations,
 * discards), drains to ENOSPC, 4 KiB groups (a deep tree), and the
 * skip-short departure.  A model test
 * holds the tree's queries (the next long run; the scan: that run, and
 * the count and the first longest of the shorter runs before it, up to a
 * limit) to a plain bit walk on random bitmaps of every test geometry,
 * from leaf edges too.
 */
#include "lockstep.h"
#include "runsum_model.h"

/* The pair: [0] summary on, [1] walking; mb_max_to_scan on both; 4 files. */
static int pair_init_geo(struct mb_lockstep *p, uint32_t block_size, uint32_t bpg, uint32_t groups,
			 uint32_t max_to_scan, uint64_t seed)
{
	const struct mb_lockstep_opts o = {
		.block_size = block_size, .bpg = bpg, .groups = groups, .seed = seed,
		.nfiles = 4, .ino = 100, .ino_step = 977, .cap = 1 << 16,
		.tunables = {{"mb_scan_summary", {1, 0}},
			     {"mb_max_to_scan", {max_to_scan, max_to_scan}}}};

	return mb_lockstep_init(p, &o);
}

static int pair_init(struct mb_lockstep *p, uint32_t groups, uint32_t max_to_scan, uint64_t seed)
{
	return pair_init_geo(p, 1024, 2048, groups, max_to_scan, seed);
}

/* Seeded op mix: mostly allocations of 1..*max_len with assorted goals. */
static int pair_request(struct mb_lockstep *p, uint64_t dice, bool files, struct mb_request *r,
			const void *max_len)
{
	r->len = 1 + (uint32_t)mb_rand_below(&p->rng, *(const uint32_t *)max_len);
	r->goal = mb_lockstep_goal(p);
	if (dice < 35)
		r->len = 1u << mb_rand_below(&p->rng, 9); /* the power-of-two pass */
	return files && dice % 2 ? (int)mb_rand_below(&p->rng, 4) : -1;
}

static int pair_run(struct mb_lockstep *p, int ops, uint32_t max_len, bool files)
{
	return mb_lockstep_run(p, ops, files, pair_request, &max_len);
}

/* Aged fills at several levels: requests longer than any run are common. */
TEST(aged_fills_same_answers)
{
	static const unsigned keep[] = {50, 80, 92, 97};

	for (unsigned k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		struct mb_lockstep p;

		ASSERT_EQ_INT(pair_init(&p, 24, 200, mb_test_seed + k), 0);
		ASSERT_EQ_INT(mb_lockstep_age(&p, 40, keep[k]), 0);
		int bad = pair_run(&p, 3000, 400, false);

		mb_lockstep_destroy(&p);
		ASSERT_EQ_INT(bad, 0);
	}
}

/* A small mb_max_to_scan: the walk often stops inside a group. */
TEST(max_to_scan_stops_inside_groups)
{
	static const uint32_t scan[] = {1, 5, 17, 60};

	for (unsigned k = 0; k < sizeof(scan) / sizeof(scan[0]); k++) {
		struct mb_lockstep p;

		ASSERT_EQ_INT(pair_init(&p, 16, scan[k], mb_test_seed * 31 + k), 0);
		ASSERT_EQ_INT(mb_lockstep_age(&p, 24, 90), 0);
		int bad = pair_run(&p, 2000, 300, false);

		mb_lockstep_destroy(&p);
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
	struct mb_lockstep p;

	ASSERT_EQ_INT(pair_init(&p, 8, 200, mb_test_seed ^ 0x5eed), 0);
	for (uint64_t g = 0; g < 8; g++) {
		uint64_t pos = g * 2048, end = pos + 2048;
		uint32_t run = 1 + (uint32_t)g % 3;

		while (pos < end) {
			uint64_t used = pos + run < end ? pos + run : end;

			if (used < end)
				ASSERT_EQ_INT(mb_lockstep_mark(&p, used, 1), 0);
			pos = used + 1;
			run = run < 60 ? run + 1 : 1 + (uint32_t)mb_rand_below(&p.rng, 61);
		}
	}
	int bad = pair_run(&p, 3000, 128, false);

	mb_lockstep_destroy(&p);
	ASSERT_EQ_INT(bad, 0);
}

/* Files: normalized windows, preallocations and their discards. */
TEST(files_same_answers)
{
	struct mb_lockstep p;

	ASSERT_EQ_INT(pair_init(&p, 24, 200, mb_test_seed + 77), 0);
	ASSERT_EQ_INT(mb_lockstep_age(&p, 48, 85), 0);
	int bad = pair_run(&p, 4000, 200, true);

	mb_lockstep_destroy(&p);
	ASSERT_EQ_INT(bad, 0);
}

/* 4 KiB blocks: 32768-block groups, a tree of 64 leaves; both scan modes. */
TEST(big_groups_same_answers)
{
	for (unsigned k = 0; k < 4; k++) {
		struct mb_lockstep p;

		ASSERT_EQ_INT(pair_init_geo(&p, 4096, 32768, 6, 200, mb_test_seed * 7 + k), 0);
		if (k & 1)
			mb_lockstep_set(&p, "mb_slow_skip_short", 1);
		if (k & 2)
			mb_lockstep_set(&p, "mb_min_to_scan", 40);
		ASSERT_EQ_INT(mb_lockstep_age(&p, 64, 88 + 3 * k), 0);
		int bad = pair_run(&p, 2500, k < 2 ? 300 : 24, false);

		mb_lockstep_destroy(&p);
		ASSERT_EQ_INT(bad, 0);
	}
}

/* Small requests chained from the last answer until ENOSPC, both alike. */
TEST(drain_same_answers)
{
	static const uint32_t len[] = {1, 16, 70};

	for (unsigned k = 0; k < sizeof(len) / sizeof(len[0]); k++) {
		struct mb_lockstep p;
		int bad = 0, n = 0;

		ASSERT_EQ_INT(pair_init_geo(&p, 4096, 8192, 5, k ? 200 : 30, mb_test_seed + 900 + k), 0);
		ASSERT_EQ_INT(mb_lockstep_age(&p, 64, 85), 0);
		for (;;) {
			struct mb_request r = {.len = len[k], .goal = p.next_goal};

			p.n = 0; /* nothing is freed here: keep no answers */
			if (mb_lockstep_alloc(&p, &r, -1) != 0 || ++n > 200000) {
				bad = 1;
				break;
			}
			if (!p.n)
				break; /* both said ENOSPC */
		}
		ASSERT_TRUE(n > 100);
		bad |= mb_lockstep_same_stats(&p);
		mb_lockstep_destroy(&p);
		ASSERT_EQ_INT(bad, 0);
	}
}

/*
 * Many groups, mostly too full for the request: the linear passes
 * (CR_GOAL_LEN_SLOW, CR_ANY_FREE, and every criterion without the
 * optimized scan or within mb_max_linear_groups) jump through the free_ge
 * index.  Groups considered per criterion are part of the stats compared.
 * Ends with a drain to ENOSPC (the strict retry walks every group).
 */
TEST(many_groups_linear_passes)
{
	for (unsigned k = 0; k < 4; k++) {
		struct mb_lockstep p;
		int bad, n = 0;

		ASSERT_EQ_INT(pair_init_geo(&p, 1024, 1024, 300, 40, mb_test_seed * 13 + k), 0);
		mb_lockstep_set(&p, "mb_optimize_scan", k != 1);
		mb_lockstep_set(&p, "mb_max_linear_groups", k == 2 ? 5 : 0);
		mb_lockstep_set(&p, "mb_slow_skip_short", k == 3);
		ASSERT_EQ_INT(mb_lockstep_age(&p, 30, 90 + 2 * k), 0);
		/* a few emptier groups far apart: the passes must reach them */
		for (uint64_t g = 7; g < 300; g += 61)
			ASSERT_EQ_INT(mb_lockstep_free_range(&p, g * 1024 + 100, 600), 0);
		bad = pair_run(&p, 1500, 200, k & 1);
		for (; !bad; n++) {
			struct mb_request r = {.len = 1 + (uint32_t)mb_rand_below(&p.rng, 24),
					       .goal = p.next_goal};

			p.n = 0;
			if (mb_lockstep_alloc(&p, &r, -1) != 0 || n > 400000)
				bad = 1;
			else if (!p.n)
				break; /* both said ENOSPC */
		}
		bad |= mb_lockstep_same_stats(&p);
		mb_lockstep_destroy(&p);
		ASSERT_EQ_INT(bad, 0);
	}
}

/*
 * The group indexes of a volume nobody touched yet: groups never set up
 * joined them in one fill at creation (group.c), and mb_check holds every
 * group's memberships to its counters.
 */
TEST(fresh_volume_indexes_match)
{
	char buf[256];

	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_volume *vol;
		struct mb_request r = {.len = 3, .goal = MB_GOAL_NONE};
		struct mb_extent e;

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &vol), 0);
		int rc = mb_check(vol, buf, sizeof(buf));

		if (rc)
			fprintf(stderr, "%s", buf);
		ASSERT_EQ_INT(rc, 0);
		ASSERT_EQ_INT(mb_alloc(vol, &r, &e), 0);
		rc = mb_check(vol, buf, sizeof(buf));
		if (rc)
			fprintf(stderr, "%s", buf);
		ASSERT_EQ_INT(rc, 0);
		mb_volume_destroy(vol);
	}
}

/* ------------------------------------------------------------------------ */
/* The tree's queries against a bit walk                                     */
/* ------------------------------------------------------------------------ */

/* The scan's answer against the model's: 1 (and a message) when they differ. */
static int scan_differs(struct mb_volume *vol, struct mb_group *grp, uint32_t from, uint32_t want,
			uint32_t max_runs)
{
	struct mb_runsum_scan o, m;

	mb_runsum_scan(vol, grp, from, want, max_runs, &o);
	rs_model_scan(grp->bb_bitmap, vol->bpg, from, want, max_runs, &m);
	uint32_t at = o.runs ? o.at : m.at;

	if (o.next == m.next && o.runs == m.runs && o.longest == m.longest && at == m.at &&
	    o.stopped == m.stopped)
		return 0;
	fprintf(stderr,
		"scan(from %u, want %u, max_runs %u), bpg %u: next %u/%u runs %u/%u longest %u/%u "
		"at %u/%u stopped %d/%d\n",
		from, want, max_runs, vol->bpg, o.next, m.next, o.runs, m.runs, o.longest,
		m.longest, at, m.at, o.stopped, m.stopped);
	return 1;
}

/*
 * mb_runsum_scan_above with the floor picked by `pick` (0: none, 1: just
 * below the model's longest, 2: at it, 3: all, else pick itself) against
 * the model's scan: the same next, runs and stop, and the model's longest
 * and its start when longer than the floor, else a longest no more than
 * the floor.  1 (and a message) when they differ.
 */
static int scan_above_differs(struct mb_volume *vol, struct mb_group *grp, uint32_t from,
			      uint32_t want, uint32_t max_runs, uint32_t pick)
{
	struct mb_runsum_scan o, m;

	rs_model_scan(grp->bb_bitmap, vol->bpg, from, want, max_runs, &m);
	uint32_t floor = pick == 0 ? 0 : pick == 1 ? m.longest - !!m.longest
			 : pick == 2 ? m.longest : pick == 3 ? UINT32_MAX : pick;

	mb_runsum_scan_above(vol, grp, from, want, max_runs, floor, &o);
	bool above = m.longest > floor;

	if (o.next == m.next && o.runs == m.runs && o.stopped == m.stopped &&
	    (above ? o.longest == m.longest && o.at == m.at : o.longest <= floor))
		return 0;
	fprintf(stderr,
		"scan above %u (from %u, want %u, max_runs %u), bpg %u: next %u/%u runs %u/%u "
		"longest %u/%u at %u/%u stopped %d/%d\n",
		floor, from, want, max_runs, vol->bpg, o.next, m.next, o.runs, m.runs, o.longest,
		m.longest, o.at, m.at, o.stopped, m.stopped);
	return 1;
}

/*
 * mb_runsum_count_fresh (the linear pass's count from bb_first_free in a
 * tree fresh at its root, by its own walk) against mb_runsum_scan_above's
 * count from there with the same floor: the same next, runs and stop, and
 * the same longest and its start when above the floor (at or below it,
 * either may say the floor or less: the caller keeps nothing then).  Run only where the
 * root is fresh (*counted counts them).  1 (and a message) when they differ.
 */
static int count_fresh_differs(struct mb_volume *vol, struct mb_group *grp, uint32_t want,
			       uint32_t max_runs, uint32_t floor, int *counted)
{
	struct mb_runsum_scan o, m;

	if (!mb_runsum_root_fresh(vol, grp))
		return 0;
	++*counted;
	mb_runsum_count_fresh(vol, grp, want, max_runs, floor, &o);
	mb_runsum_scan_above(vol, grp, grp->bb_first_free, want, max_runs, floor, &m);
	if (o.next == m.next && o.runs == m.runs && o.stopped == m.stopped &&
	    (o.longest > floor) == (m.longest > floor) &&
	    (o.longest <= floor || (o.longest == m.longest && o.at == m.at)))
		return 0;
	fprintf(stderr,
		"count fresh above %u (want %u, max_runs %u), bpg %u: next %u/%u runs %u/%u "
		"longest %u/%u at %u/%u stopped %d/%d\n",
		floor, want, max_runs, vol->bpg, o.next, m.next, o.runs, m.runs, o.longest,
		m.longest, o.at, m.at, o.stopped, m.stopped);
	return 1;
}

/*
 * mb_runsum_scan_fresh_root, when it answers (*answered counts it), against
 * the model's scan of the whole group: 1 (and a message) when they differ.
 */
static int fresh_root_differs(struct mb_volume *vol, struct mb_group *grp, uint32_t want,
			      uint32_t max_runs, int *answered)
{
	struct mb_runsum_scan o, m;

	if (!mb_runsum_scan_fresh_root(vol, grp, want, max_runs, &o))
		return 0;
	++*answered;
	rs_model_scan(grp->bb_bitmap, vol->bpg, 0, want, max_runs, &m);
	if (o.next == m.next && o.runs == m.runs && o.longest == m.longest && o.at == m.at &&
	    !o.stopped && !m.stopped)
		return 0;
	fprintf(stderr,
		"fresh root(want %u, max_runs %u), bpg %u: next %u/%u runs %u/%u longest %u/%u "
		"at %u/%u stopped %d/%d\n",
		want, max_runs, vol->bpg, o.next, m.next, o.runs, m.runs, o.longest, m.longest,
		o.at, m.at, o.stopped, m.stopped);
	return 1;
}

/* Blocks [b, end) in runs of random length, free with probability pct/100. */
static void random_runs(uint64_t *rng, uint64_t *map, uint32_t b, uint32_t end, uint32_t maxrun,
			unsigned pct)
{
	while (b < end) {
		uint32_t run = 1 + (uint32_t)mb_rand_below(rng, maxrun);
		bool free = mb_rand_below(rng, 100) < pct;

		run = run < end - b ? run : end - b;
		for (uint32_t i = b; i < b + run; i++)
			if (free)
				map[i >> 6] &= ~(1ULL << (i & 63));
			else
				map[i >> 6] |= 1ULL << (i & 63);
		b += run;
	}
}

TEST(queries_match_a_bit_walk)
{
	uint64_t rng = mb_test_seed ^ 0x7eee;
	int answered = 0; /* fresh-root answers checked */
	int counted = 0;  /* mb_runsum_count_fresh's counts checked */

	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_volume *vol;

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &vol), 0);
		for (int round = 0; round < 16; round++) {
			mb_grp_t g = (mb_grp_t)mb_rand_below(&rng, vol->ngroups);
			struct mb_group *grp = mb_group_at(vol, g);
			uint32_t bpg = vol->bpg;
			static const uint32_t maxrun[] = {1, 3, 40, 700};

			mb_lock(&grp->bb_lock);
			ASSERT_EQ_INT(mb_group_load_locked(vol, grp), 0);
			random_runs(&rng, grp->bb_bitmap, 0, grp->bb_len, maxrun[round % 4],
				    round < 8 ? 50 : round < 12 ? 95 : 5);
			mb_buddy_generate(vol, grp); /* counters and tree from the bitmap */
			for (int q = 0, nq = mb_test_rounds(400); q < nq; q++) {
				if (q % 40 == 39) { /* a few blocks change: their leaves refresh */
					uint32_t s = (uint32_t)mb_rand_below(&rng, grp->bb_len);
					uint32_t e = s + 1 + (uint32_t)mb_rand_below(&rng, 700);

					e = e < grp->bb_len ? e : grp->bb_len;
					random_runs(&rng, grp->bb_bitmap, s, e, maxrun[q % 4], 50);
					mb_runsum_update_locked(vol, grp, s, e - s);
					if (s < grp->bb_first_free) /* blocks before it: used */
						grp->bb_first_free = s;
				}
				uint32_t a = (uint32_t)mb_rand_below(&rng, bpg);
				uint32_t len = 1 + (uint32_t)mb_rand_below(&rng, q & 1 ? 80 : bpg);
				uint32_t k = q % 5 == 0	  ? 0
					     : q % 5 == 1 ? 1 + (uint32_t)mb_rand_below(&rng, 3)
					     : q % 5 == 2 ? UINT32_MAX
							  : 1 + (uint32_t)mb_rand_below(&rng, 200);

				if (q % 7 == 0)
					a = grp->bb_first_free - (grp->bb_first_free && q % 2);
				else if (q % 7 == 1) /* at a leaf's edge (512 blocks), or beside it */
					a = (a & ~511u) - (a >= 512 && q % 3 == 0) + (q % 3 == 1);
				else if (q % 7 == 2) /* at a word's edge: a walk's start (runsum.c)
							tells it from a leaf's */
					a &= ~63u;
				a = a < bpg ? a : bpg - 1;
				ASSERT_EQ_INT(mb_runsum_next_long(vol, grp, a, len),
					      rs_model_next_long(grp->bb_bitmap, bpg, a, len));
				ASSERT_EQ_INT(scan_differs(vol, grp, a, len, k), 0);
				uint32_t pick = q % 6 < 4 ? (uint32_t)q % 6
							  : (uint32_t)mb_rand_below(&rng, 100);

				if (k) /* the scan above always counts (runsum.c) */
					ASSERT_EQ_INT(scan_above_differs(vol, grp, a, len, k, pick), 0);
				/* after a scan of the whole group the root is fresh */
				if (k && q % 5 != 1)
					ASSERT_EQ_INT(fresh_root_differs(vol, grp, len, k, &answered), 0);
				/* the linear pass's lean count, floors as the scan above's */
				if (k && q % 3 == 0) {
					uint32_t fl = pick < 4 ? (uint32_t)mb_rand_below(&rng, 60) : pick;

					ASSERT_EQ_INT(count_fresh_differs(vol, grp, len, k, fl, &counted),
						      0);
				}
			}
			mb_unlock(&grp->bb_lock);
		}
		mb_volume_destroy(vol);
	}
	ASSERT_TRUE(answered > 0);
	ASSERT_TRUE(counted > 0);
}

/*
 * A group with no free block: its fresh root answers the count -- no runs,
 * no run of want -- as the model's scan of the whole group does.  The
 * linear visit asks it with no test of bb_first_free of its own
 * (mb_runsum_scan_fresh_root), so it must answer, and answer that.
 */
TEST(full_groups_fresh_root_answers_none)
{
	uint64_t rng = mb_test_seed ^ 0xf011;

	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_volume *vol;
		struct mb_group *grp;
		int answered = 0;

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &vol), 0);
		grp = mb_group_at(vol, (mb_grp_t)mb_rand_below(&rng, vol->ngroups));
		mb_lock(&grp->bb_lock);
		ASSERT_EQ_INT(mb_group_load_locked(vol, grp), 0);
		random_runs(&rng, grp->bb_bitmap, 0, grp->bb_len, 1, 0); /* all used */
		mb_buddy_generate(vol, grp);
		mb_runsum_flush_locked(vol, grp); /* the root fresh */
		for (uint32_t k = 1; k <= 3; k++)
			ASSERT_EQ_INT(fresh_root_differs(vol, grp, 1 + 7 * k, k, &answered), 0);
		ASSERT_EQ_INT(answered, 3);
		mb_unlock(&grp->bb_lock);
		mb_volume_destroy(vol);
	}
}

/*
 * mb_runsum_count_fresh where its count ends at a node that starts used
 * right after a free run one block long: that run closes at the node's
 * start, so the runs that close in the node are its own (none at its tail)
 * and that one -- and the count must end there (rem reaching 0), not go on
 * past the node to a longer run beyond it.  Leaf 0 holds m single free
 * blocks and its last block free, leaf 1 (starting used) q single blocks,
 * leaf 2 a run of 5; the count is limited to the runs up to leaf 1's end
 * (m + 1 + q).  A random bitmap seldom ends a count exactly at such a node.
 */
TEST(count_ends_at_a_node_after_a_one_block_run)
{
	int counted = 0;
	struct mb_volume *vol;

	ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[1].geo, &vol), 0); /* 32768 blocks a group */
	struct mb_group *grp = mb_group_at(vol, 1);

	mb_lock(&grp->bb_lock);
	ASSERT_EQ_INT(mb_group_load_locked(vol, grp), 0);
	ASSERT_TRUE(grp->bb_len >= 3 * 1024);
	for (uint32_t m = 1; m <= 6; m++) {
		for (uint32_t q = 1; q <= 6; q++) {
			uint64_t rng = 1;

			random_runs(&rng, grp->bb_bitmap, 0, grp->bb_len, 1, 0); /* all used */
			for (uint32_t i = 1; i <= m; i++) /* leaf 0: m single blocks */
				grp->bb_bitmap[(2 * i) >> 6] &= ~(1ULL << ((2 * i) & 63));
			grp->bb_bitmap[1023 >> 6] &= ~(1ULL << (1023 & 63)); /* open at leaf 1 */
			for (uint32_t i = 1; i <= q; i++) { /* leaf 1: q single blocks */
				uint32_t b = 1024 + 2 * i;

				grp->bb_bitmap[b >> 6] &= ~(1ULL << (b & 63));
			}
			for (uint32_t b = 2100; b < 2105; b++) /* leaf 2: a run of 5 */
				grp->bb_bitmap[b >> 6] &= ~(1ULL << (b & 63));
			mb_buddy_generate(vol, grp);
			mb_runsum_flush_locked(vol, grp); /* the root fresh */
			ASSERT_EQ_INT(count_fresh_differs(vol, grp, 100, m + 1 + q, 0, &counted), 0);
			ASSERT_EQ_INT(count_fresh_differs(vol, grp, 100, m + q, 0, &counted), 0);
		}
	}
	mb_unlock(&grp->bb_lock);
	mb_volume_destroy(vol);
	ASSERT_EQ_INT(counted, 72);
}

/*
 * mb_runsum_next_long_end against the model: the same run, and its end the
 * first used block past it (or bpg); *end untouched when there is none.
 * Long runs (up to 3000 blocks, most blocks free) so that the walk often
 * finds a run still open where it stops (mb_rs_run_end: the word, then the
 * leaves and nodes past it), over a tree all stale (just derived), one
 * partly mended by queries, and one with a few leaves changed since.  In a
 * tree all fresh, the scan's own copy of the walk for it
 * (mb_runsum_next_long_end_fresh, no stale test) must answer the same.
 */
static int fresh_asked; /* queries next_end_differs also put to the fresh walk */

static int next_end_differs(struct mb_volume *vol, struct mb_group *grp, uint32_t from,
			    uint32_t want)
{
	uint32_t e = 0xdeadbeef, m = rs_model_next_long(grp->bb_bitmap, vol->bpg, from, want);
	uint32_t me = m, fe = 0xdeadbeef, fn = m;
	/* a tree all fresh (its root is; from bb_first_free, once the
	   query's start has built or flushed what it would): the scan's
	   copy of the walk for it, too */
	bool fresh = from <= grp->bb_first_free ? mb_runsum_long_begin(vol, grp)
						: mb_runsum_tree(vol, grp)[1].cnt != UINT32_MAX;

	if (fresh) {
		fn = mb_runsum_next_long_end_fresh(vol, grp, from, want, &fe);
		fresh_asked++;
	}
	uint32_t n = mb_runsum_next_long_end(vol, grp, from, want, &e);

	while (me < vol->bpg && rs_model_free(grp->bb_bitmap, me))
		me++;
	if (n == m && e == (m < vol->bpg ? me : 0xdeadbeef) &&
	    (!fresh || (fn == m && fe == (m < vol->bpg ? me : 0xdeadbeef))))
		return 0;
	fprintf(stderr, "next_long_end(from %u, want %u), bpg %u: next %u/%u end %u/%u, "
		"fresh %d: %u %u\n", from, want, vol->bpg, n, m, e, me, fresh, fn, fe);
	return 1;
}

/*
 * mb_runsum_long_runs_fresh against the model, in a tree all fresh: every
 * run of want blocks or more from `from` on, in order, each with its end
 * (its first used block past it, or bpg), in batches of 1 to 5 runs, each
 * batch resumed where the last one said; a batch short of its size, or a
 * resume at bpg, says no run is left.  Its walk goes on past a run inside
 * the node where the run ends when that node holds no other run of want
 * (its suffix then open), else starts again at the end's leaf: both are
 * asked here, the runs long and short against want.
 */
static int long_runs_asked; /* runs the batches named */

static int long_runs_differ(struct mb_volume *vol, struct mb_group *grp, uint32_t from,
			    uint32_t want, uint64_t *rng)
{
	struct mb_runsum_run runs[5];
	uint32_t m = from, resume = from, bpg = vol->bpg;

	while (resume < bpg) {
		uint32_t nmax = 1 + (uint32_t)mb_rand_below(rng, 5);
		uint32_t k = mb_runsum_long_runs_fresh(vol, grp, resume, want, runs, nmax, &resume);

		for (uint32_t i = 0; i < k; i++) {
			uint32_t s = rs_model_next_long(grp->bb_bitmap, bpg, m, want), e = s;

			while (e < bpg && rs_model_free(grp->bb_bitmap, e))
				e++;
			if (runs[i].start != s || runs[i].end != e) {
				fprintf(stderr, "long_runs(from %u, want %u), bpg %u: run %u of %u "
					"[%u, %u), model [%u, %u)\n", from, want, bpg, i, k,
					runs[i].start, runs[i].end, s, e);
				return 1;
			}
			m = e;
			long_runs_asked++;
		}
		if (k > nmax || (k < nmax && resume < bpg)) {
			fprintf(stderr, "long_runs(from %u, want %u): %u runs of %u, resume %u\n",
				from, want, k, nmax, resume);
			return 1;
		}
	}
	if (rs_model_next_long(grp->bb_bitmap, bpg, m, want) < bpg) {
		fprintf(stderr, "long_runs(from %u, want %u): none after %u, model %u\n", from,
			want, m, rs_model_next_long(grp->bb_bitmap, bpg, m, want));
		return 1;
	}
	/* asked again from that resume (bpg: a full batch may end there,
	   and alloc.c's loop then asks once more), none */
	uint32_t k = mb_runsum_long_runs_fresh(vol, grp, resume, want, runs, 5, &resume);

	if (k || resume < bpg) {
		fprintf(stderr, "long_runs(from %u, want %u): %u runs past the end, resume %u\n",
			from, want, k, resume);
		return 1;
	}
	return 0;
}

TEST(next_long_end_names_the_run_end)
{
	uint64_t rng = mb_test_seed ^ 0xe4d5;
	int open = 0; /* runs found going on past the word or leaf that named them */

	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_volume *vol;

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &vol), 0);
		for (int round = 0; round < 16; round++) {
			struct mb_group *grp =
				mb_group_at(vol, (mb_grp_t)mb_rand_below(&rng, vol->ngroups));
			static const uint32_t maxrun[] = {3000, 700, 90};
			/* the last rounds crumbs: a stale tree the whole-group
			   start leaves stale (mb_rs_flush_long_runs), its walks
			   mend */
			const bool crumbs = round >= 12;

			mb_lock(&grp->bb_lock);
			ASSERT_EQ_INT(mb_group_load_locked(vol, grp), 0);
			random_runs(&rng, grp->bb_bitmap, 0, grp->bb_len, crumbs ? 6 : maxrun[round % 3],
				    crumbs ? 50 : round % 2 ? 90 : 70);
			mb_buddy_generate(vol, grp); /* the tree all stale */
			for (int q = 0, nq = mb_test_rounds(300); q < nq; q++) {
				if (q % 50 == 49) { /* a few leaves change: stale, or marked */
					uint32_t s = (uint32_t)mb_rand_below(&rng, grp->bb_len);
					uint32_t e = s + 1 + (uint32_t)mb_rand_below(&rng, 1500);

					e = e < grp->bb_len ? e : grp->bb_len;
					random_runs(&rng, grp->bb_bitmap, s, e, maxrun[q % 3], 80);
					mb_runsum_update_locked(vol, grp, s, e - s);
					if (s < grp->bb_first_free)
						grp->bb_first_free = s;
				}
				uint32_t a = (uint32_t)mb_rand_below(&rng, vol->bpg);
				uint32_t want = 1 + (uint32_t)mb_rand_below(&rng, q % 3 ? 600 : 60);

				if (q % 5 == 0)
					a = grp->bb_first_free;
				else if (q % 5 == 1)
					a &= ~511u;
				a = a < vol->bpg ? a : vol->bpg - 1;
				ASSERT_EQ_INT(next_end_differs(vol, grp, a, want), 0);
				/* the batches over a tree all fresh (a whole-group
				   start builds or flushes it first) */
				if ((a > grp->bb_first_free || mb_runsum_long_begin(vol, grp)) &&
				    mb_runsum_tree(vol, grp)[1].cnt != UINT32_MAX)
					ASSERT_EQ_INT(long_runs_differ(vol, grp, a, want, &rng), 0);
				uint32_t n = rs_model_next_long(grp->bb_bitmap, vol->bpg, a, want);

				open += n < vol->bpg && n + want < vol->bpg &&
					rs_model_free(grp->bb_bitmap, ((n + want + 63) & ~63u) < vol->bpg
									 ? (n + want + 63) & ~63u
									 : n);
			}
			mb_unlock(&grp->bb_lock);
		}
		mb_volume_destroy(vol);
	}
	ASSERT_TRUE(open > 0 && fresh_asked > 0 && long_runs_asked > 0);
}

/*
 * A run open at a word's end is closed by a word all used after it: the
 * free blocks of the word past that one start a new run, however long the
 * two are together.  In a leaf: r free blocks ending word 2, word 3 all
 * used, s free blocks starting word 4 (r + s >= want, each less), then a
 * run of want from word 6.  Every long-run query from the group's first
 * free block, or from word 2's start, names the run at word 6: the
 * stale and fresh walks (a leaf's words read from a start inside it), the
 * batches, and the scan's measure (the leaf descended into, its words
 * read up to its first max).  Random bitmaps seldom hold a used word
 * between two such runs: the words' loop skips an all-used word only
 * while no run is open.
 */
TEST(a_used_word_closes_an_open_run)
{
	const uint32_t r = 30, s = 30, want = 40;

	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_volume *vol;

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &vol), 0);
		for (mb_grp_t g = 0; g < vol->ngroups; g++) {
			struct mb_group *grp = mb_group_at(vol, g);
			uint64_t rng = 1;

			mb_lock(&grp->bb_lock);
			ASSERT_EQ_INT(mb_group_load_locked(vol, grp), 0);
			/* the last whole leaf of the group */
			const uint32_t leaf = MB_RUNSUM_LEAF_BLOCKS;
			uint32_t b = (grp->bb_len / leaf) * leaf, run = b - leaf + 384;

			if (b < leaf) {
				mb_unlock(&grp->bb_lock);
				continue;
			}
			b -= leaf;
			random_runs(&rng, grp->bb_bitmap, 0, grp->bb_len, 1, 0); /* all used */
			random_runs(&rng, grp->bb_bitmap, b + 192 - r, b + 192, r, 100);
			random_runs(&rng, grp->bb_bitmap, b + 256, b + 256 + s, s, 100);
			random_runs(&rng, grp->bb_bitmap, run, run + want, want, 100);
			ASSERT_EQ_INT(rs_model_next_long(grp->bb_bitmap, vol->bpg, b + 128, want), run);
			mb_buddy_generate(vol, grp); /* the tree all stale */
			ASSERT_EQ_INT(next_end_differs(vol, grp, b + 128, want), 0);
			mb_runsum_flush_locked(vol, grp); /* all fresh */
			ASSERT_EQ_INT(next_end_differs(vol, grp, b + 128, want), 0);
			ASSERT_EQ_INT(next_end_differs(vol, grp, grp->bb_first_free, want), 0);
			uint64_t brng = 7;

			ASSERT_EQ_INT(long_runs_differ(vol, grp, b + 128, want, &brng), 0);
			ASSERT_EQ_INT(long_runs_differ(vol, grp, grp->bb_first_free, want, &brng), 0);
			/* the scan's measure, a piece of the goal taken at once: the
			   run's, want blocks */
			struct mb_long_scan m = {.goal = want, .decide = 10,
						 .max = 200, .cap = 1u << vol->max_order,
						 .blen = UINT32_MAX, .bstart = UINT32_MAX,
						 .free = grp->bb_free};

			ASSERT_EQ_INT(mb_runsum_long_measure_fresh(vol, grp, &m), MB_LONG_TAKEN);
			ASSERT_EQ_INT(m.tstart, run);
			ASSERT_EQ_INT(m.found, 1);
			mb_buddy_generate(vol, grp);
			mb_unlock(&grp->bb_lock);
		}
		mb_volume_destroy(vol);
	}
}

/*
 * A count from the group's start over a tree mostly stale (more stale
 * leaves than a walk rebuilds at once), in a group with fewer free runs
 * than the count's limit: the count cannot end inside, so the walk would
 * reach every leaf unless a run of `want` stops it first -- the tree is
 * flushed whole before it (runsum.c, mb_rs_scan), and is then all fresh
 * even when a run of `want` near the start answers.  With as many runs as
 * the limit the count may end early: in a group of short runs (fewer than
 * 16 blocks a run on average) the tree is left to the walk, its root stale
 * after a stop at that run; in a group of longer runs it is flushed whole
 * all the same (mb_rs_flush_long_runs).
 */
TEST(a_count_of_every_run_flushes_a_stale_tree_first)
{
	uint64_t rng = mb_test_seed ^ 0x5f1d;
	int flushed = 0, left = 0, long_runs = 0;

	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_volume *vol;

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &vol), 0);
		for (int round = 0; round < 8; round++) {
			struct mb_group *grp =
				mb_group_at(vol, (mb_grp_t)mb_rand_below(&rng, vol->ngroups));
			const struct mb_rs *t;
			const uint32_t want = 100;

			mb_lock(&grp->bb_lock);
			ASSERT_EQ_INT(mb_group_load_locked(vol, grp), 0);
			if (grp->bb_len < 8 * MB_RUNSUM_LEAF_BLOCKS) { /* too few leaves to stay stale */
				mb_unlock(&grp->bb_lock);
				continue;
			}
			/* runs of 1-6 blocks: ~7 free blocks a run, or 1-40 */
			random_runs(&rng, grp->bb_bitmap, 0, grp->bb_len, round & 1 ? 40 : 6, 50);
			for (uint32_t b = 7; b <= 8 + want; b++) /* a run of want at 8 */
				if (b == 7 || b == 8 + want)
					grp->bb_bitmap[b >> 6] |= 1ULL << (b & 63);
				else
					grp->bb_bitmap[b >> 6] &= ~(1ULL << (b & 63));
			mb_buddy_generate(vol, grp); /* counters; the tree all stale */
			t = mb_runsum_tree(vol, grp);
			ASSERT_TRUE(t[1].cnt == UINT32_MAX && grp->bb_fragments > 1);
			ASSERT_EQ_INT(scan_differs(vol, grp, grp->bb_first_free, want,
						   grp->bb_fragments + 1),
				      0);
			ASSERT_EQ_INT(rs_model_tree_differs(vol, grp, false), 0); /* all fresh */
			flushed++;
			mb_runsum_invalidate_locked(vol, grp);
			ASSERT_EQ_INT(scan_differs(vol, grp, grp->bb_first_free, want,
						   grp->bb_fragments),
				      0);
			if (grp->bb_free >= 16 * grp->bb_fragments) { /* flushed all the same */
				ASSERT_EQ_INT(rs_model_tree_differs(vol, grp, false), 0);
				long_runs++;
			} else {
				ASSERT_TRUE(t[1].cnt == UINT32_MAX); /* stopped at the run of want */
				ASSERT_EQ_INT(rs_model_tree_differs(vol, grp, true), 0);
				left++;
			}
			mb_unlock(&grp->bb_lock);
		}
		mb_volume_destroy(vol);
	}
	ASSERT_TRUE(flushed > 0 && left > 0 && long_runs > 0);
}

/*
 * The long scan's whole-group start (mb_runsum_long_begin) in a tree all
 * stale: a group of long free runs (bb_free >= 16 a fragment) is flushed
 * whole, the tree then all fresh and the fresh walk's to take; a group of
 * crumbs keeps its stale tree for the stale walk, which stops at its
 * first runs.  Either way the walk from there names the model's run.
 */
TEST(a_long_scan_of_long_runs_flushes_a_stale_tree_first)
{
	uint64_t rng = mb_test_seed ^ 0x10e6;
	int long_runs = 0, left = 0;

	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_volume *vol;

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &vol), 0);
		for (int round = 0; round < 8; round++) {
			struct mb_group *grp =
				mb_group_at(vol, (mb_grp_t)mb_rand_below(&rng, vol->ngroups));
			const struct mb_rs *t;

			mb_lock(&grp->bb_lock);
			ASSERT_EQ_INT(mb_group_load_locked(vol, grp), 0);
			if (grp->bb_len < 8 * MB_RUNSUM_LEAF_BLOCKS) { /* too few leaves to stay stale */
				mb_unlock(&grp->bb_lock);
				continue;
			}
			random_runs(&rng, grp->bb_bitmap, 0, grp->bb_len, round & 1 ? 40 : 6, 50);
			mb_buddy_generate(vol, grp); /* counters; the tree all stale */
			t = mb_runsum_tree(vol, grp);
			ASSERT_TRUE(t[1].cnt == UINT32_MAX && grp->bb_fragments > 1);
			bool fresh = mb_runsum_long_begin(vol, grp);

			if (grp->bb_free >= 16 * grp->bb_fragments) {
				ASSERT_TRUE(fresh);
				ASSERT_EQ_INT(rs_model_tree_differs(vol, grp, false), 0);
				long_runs++;
			} else {
				ASSERT_TRUE(!fresh && t[1].cnt == UINT32_MAX);
				ASSERT_EQ_INT(rs_model_tree_differs(vol, grp, true), 0);
				left++;
			}
			for (uint32_t want = 2; want < 200; want += 13)
				ASSERT_EQ_INT(next_end_differs(vol, grp, grp->bb_first_free, want), 0);
			mb_unlock(&grp->bb_lock);
		}
		mb_volume_destroy(vol);
	}
	ASSERT_TRUE(long_runs > 0 && left > 0);
}

/*
 * A group whose free blocks are one run (or none), just derived from its
 * bitmap: its first scan builds the whole tree from the counters, each node
 * must equal the bit count, none left stale.  A bitmap that no longer is
 * what the counters say (blocks changed behind them) must not be taken
 * for it: the tree then is built from the words, and right.
 */
TEST(one_run_groups_build_whole)
{
	uint64_t rng = mb_test_seed ^ 0x0e1a;

	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_volume *vol;

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &vol), 0);
		for (int round = 0; round < 40; round++) {
			struct mb_group *grp =
				mb_group_at(vol, (mb_grp_t)mb_rand_below(&rng, vol->ngroups));
			uint32_t len, s, e;

			mb_lock(&grp->bb_lock);
			ASSERT_EQ_INT(mb_group_load_locked(vol, grp), 0);
			len = grp->bb_len;
			s = round % 8 == 0 ? 0 : (uint32_t)mb_rand_below(&rng, len);
			e = round % 8 == 1 ? s : round % 8 == 2 ? len
					     : s + (uint32_t)mb_rand_below(&rng, len - s + 1);
			random_runs(&rng, grp->bb_bitmap, 0, len, 1, 0); /* all used */
			random_runs(&rng, grp->bb_bitmap, s, e, len, 100);
			mb_buddy_generate(vol, grp); /* counters from the bitmap, tree stale */
			if (round % 5 == 4 && s < e) { /* a block changes behind the counters */
				uint32_t b = s + (uint32_t)mb_rand_below(&rng, e - s);

				grp->bb_bitmap[b >> 6] |= 1ULL << (b & 63);
			}
			uint32_t want = 1 + (uint32_t)mb_rand_below(&rng, len);

			ASSERT_EQ_INT(mb_runsum_next_long(vol, grp, grp->bb_first_free, want),
				      rs_model_next_long(grp->bb_bitmap, vol->bpg, grp->bb_first_free,
							 want));
			ASSERT_EQ_INT(rs_model_tree_differs(vol, grp, round % 5 == 4 || s == e), 0);
			mb_buddy_generate(vol, grp);
			mb_unlock(&grp->bb_lock);
		}
		mb_volume_destroy(vol);
	}
}

/*
 * The one-run build's confirm (mb_rs_is_one_run) reads the bitmap 32
 * words a step, two a load, after a first word when it is not 16-byte
 * aligned and with a last word alone: a block changed behind the counters
 * in any word -- each in turn, used inside the run or free past it, for
 * runs whose inner words start at either alignment -- must be seen,
 * and the tree then built from the words.  Every word of the groups of up
 * to 512 words.
 */
TEST(one_run_confirm_reads_every_word)
{
	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_volume *vol;

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &vol), 0);
		if (vol->bitmap_words > 512 || vol->bpg < 4 * 64) {
			mb_volume_destroy(vol);
			continue;
		}
		struct mb_group *grp = mb_group_at(vol, 0);

		mb_lock(&grp->bb_lock);
		ASSERT_EQ_INT(mb_group_load_locked(vol, grp), 0);
		for (int shape = 0; shape < 2; shape++) {
			uint32_t len = grp->bb_len;
			uint32_t s = shape ? 2 * 64 + 7 : 64 + 7, e = shape ? len : len - 70;

			/* from the run's first word: a block free before it would
			   break the counters' first free block, which the walks trust */
			for (uint32_t w = s / 64; w < vol->bitmap_words && 64 * w < len; w++) {
				uint32_t b = 64 * w + (w == s / 64 ? 63 : w == (e - 1) / 64 ? 0 : 31);
				uint64_t rng = 1;

				b = b < len ? b : len - 1;
				random_runs(&rng, grp->bb_bitmap, 0, len, 1, 0); /* all used */
				random_runs(&rng, grp->bb_bitmap, s, e, len, 100);
				mb_buddy_generate(vol, grp); /* counters from the bitmap, tree stale */
				grp->bb_bitmap[b >> 6] ^= 1ULL << (b & 63); /* behind the counters */
				ASSERT_EQ_INT(mb_runsum_next_long(vol, grp, grp->bb_first_free, 1),
					      rs_model_next_long(grp->bb_bitmap, vol->bpg,
								 grp->bb_first_free, 1));
				ASSERT_EQ_INT(rs_model_tree_differs(vol, grp, true), 0);
			}
		}
		random_runs(&(uint64_t){1}, grp->bb_bitmap, 0, grp->bb_len, 1, 100);
		mb_buddy_generate(vol, grp);
		mb_unlock(&grp->bb_lock);
		mb_volume_destroy(vol);
	}
}

/* ------------------------------------------------------------------------ */
/* The tree's nodes against a bit count                                      */
/* ------------------------------------------------------------------------ */

/*
 * Random bitmaps (runs of every length, words all free or all used, runs
 * across words and leaves), built, then changed by a few random marks
 * between flushes: every node must equal the bit count of its range.
 * Scans between marks refresh the nodes they reach: each fresh node must
 * be right then, and a stale one's ancestors stale (the flush relies on it).
 */
TEST(tree_nodes_match_a_bit_count)
{
	uint64_t rng = mb_test_seed ^ 0x1eaf;

	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_volume *vol;

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &vol), 0);
		for (int round = 0; round < 24; round++) {
			struct mb_group *grp = mb_group_at(vol, (mb_grp_t)mb_rand_below(&rng, vol->ngroups));
			static const uint32_t maxrun[] = {1, 2, 7, 40, 63, 64, 65, 130, 700};
			static const unsigned pct[] = {50, 95, 5, 80};

			mb_lock(&grp->bb_lock);
			ASSERT_EQ_INT(mb_group_load_locked(vol, grp), 0);
			random_runs(&rng, grp->bb_bitmap, 0, grp->bb_len, maxrun[round % 9],
				    pct[round % 4]);
			if (round % 3 == 0)
				mb_runsum_build_locked(vol, grp);
			else
				mb_runsum_invalidate_locked(vol, grp);
			mb_runsum_flush_locked(vol, grp);
			ASSERT_EQ_INT(rs_model_tree_differs(vol, grp, false), 0);
			grp->bb_first_free = 0; /* the marks below may free any block */
			for (int q = 0, nq = mb_test_rounds(60); q < nq; q++) {
				int marks = 1 + (int)mb_rand_below(&rng, q % 2 ? 1 : 6);

				for (int k = 0; k < marks; k++) {
					uint32_t s = (uint32_t)mb_rand_below(&rng, grp->bb_len);
					uint32_t e = s + 1 + (uint32_t)mb_rand_below(&rng, k % 2 ? 30 : 900);

					e = e < grp->bb_len ? e : grp->bb_len;
					random_runs(&rng, grp->bb_bitmap, s, e, maxrun[(q + k) % 9],
						    pct[q % 4]);
					mb_runsum_update_locked(vol, grp, s, e - s);
				}
				/* scans refresh what they reach, and must answer right */
				for (int k = 0; k < q % 4; k++) {
					uint32_t a = (uint32_t)mb_rand_below(&rng, vol->bpg) *
						     (k != 1);
					uint32_t len = 1 + (uint32_t)mb_rand_below(&rng, k ? 60 : 2000);
					uint32_t runs = (uint32_t)mb_rand_below(&rng, 300);

					ASSERT_EQ_INT(scan_differs(vol, grp, a, len, runs), 0);
					ASSERT_EQ_INT(rs_model_tree_differs(vol, grp, true), 0);
				}
				mb_runsum_flush_locked(vol, grp);
				ASSERT_EQ_INT(rs_model_tree_differs(vol, grp, false), 0);
			}
			/* the scan's queries rely on bb_first_free: a rebuild restores it */
			mb_buddy_generate(vol, grp);
			mb_unlock(&grp->bb_lock);
		}
		mb_volume_destroy(vol);
	}
}

/* A free block of [lo, hi), searched from a random one on; hi if none. */
static uint32_t some_block(uint64_t *rng, const uint64_t *map, uint32_t lo, uint32_t hi,
			   bool free)
{
	if (lo >= hi)
		return hi;
	uint32_t s = lo + (uint32_t)mb_rand_below(rng, hi - lo);

	for (uint32_t k = 0; k < hi - lo; k++) {
		uint32_t b = lo + (s - lo + k) % (hi - lo);

		if (rs_model_free(map, b) == free)
			return b;
	}
	return hi;
}

/*
 * The count's resume point (runsum.c, mb_rs_resume): counts from
 * bb_first_free, call after call, as the drain's, each followed by a
 * change through the buddy -- mostly the take of the count's longest
 * (which the point outlives), else a block marked or freed before the
 * point (which must drop it), at or past it (which it outlives), or the
 * run at bb_first_free taken.  want, floor and limit change now and then:
 * the point holds for some of them only.  Every count must match the
 * model's, and some must have had a point to resume from.
 */
TEST(a_count_resumes_only_where_nothing_changed)
{
	uint64_t rng = mb_test_seed ^ 0x2e5e;
	int resumable = 0, dropped = 0;

	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_volume *vol;

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &vol), 0);
		for (int round = 0; round < 4; round++) {
			struct mb_group *grp =
				mb_group_at(vol, (mb_grp_t)mb_rand_below(&rng, vol->ngroups));
			const struct mb_rs *t = NULL;

			mb_lock(&grp->bb_lock);
			ASSERT_EQ_INT(mb_group_load_locked(vol, grp), 0);
			for (int q = 0, nq = mb_test_rounds(600); q < nq; q++) {
				if (q % 150 == 0 || grp->bb_free < 64) { /* crumbs of 1-6 blocks */
					random_runs(&rng, grp->bb_bitmap, 0, grp->bb_len, 6, 50);
					mb_buddy_generate(vol, grp);
					t = mb_runsum_tree(vol, grp);
				}
				uint32_t want = q % 9 ? 16 : 2 + (uint32_t)mb_rand_below(&rng, 20);
				uint32_t k = q % 11 ? 201 : 1 + (uint32_t)mb_rand_below(&rng, 300);
				uint32_t pick = q % 7 < 4 ? 0 : q % 7 == 4 ? 1 + (uint32_t)q % 3
							  : (uint32_t)mb_rand_below(&rng, 8);
				uint32_t ff = grp->bb_first_free, b = t[0].max;
				struct mb_runsum_scan m;

				if (ff >= vol->bpg)
					continue;
				resumable += b != 0;
				ASSERT_EQ_INT(scan_above_differs(vol, grp, ff, want, k, pick), 0);
				rs_model_scan(grp->bb_bitmap, vol->bpg, ff, want, k, &m);
				b = t[0].max; /* the point the count left */
				uint32_t dice = (uint32_t)mb_rand_below(&rng, 100), x;

				if (dice < 55 && m.runs && m.longest) { /* the drain's take */
					mb_buddy_mark_used(vol, grp, m.at, m.longest);
				} else if (dice < 70 && b) { /* a block before the point */
					x = some_block(&rng, grp->bb_bitmap, ff, b, dice & 1);
					if (x < b && (dice & 1))
						mb_buddy_mark_used(vol, grp, x, 1);
					else if (x < b)
						ASSERT_EQ_INT(mb_buddy_free(vol, grp, x, 1), 0);
					dropped += x < b;
					ASSERT_TRUE(x >= b || t[0].max == 0);
				} else if (dice < 90) { /* at or past the point: it stays */
					x = some_block(&rng, grp->bb_bitmap, b, grp->bb_len, dice & 1);
					if (x < grp->bb_len && (dice & 1))
						mb_buddy_mark_used(vol, grp, x, 1);
					else if (x < grp->bb_len)
						ASSERT_EQ_INT(mb_buddy_free(vol, grp, x, 1), 0);
					ASSERT_EQ_INT(t[0].max, b);
				} else { /* bb_first_free taken: before any point */
					mb_buddy_mark_used(vol, grp, ff, 1);
				}
			}
			mb_unlock(&grp->bb_lock);
		}
		mb_volume_destroy(vol);
	}
	ASSERT_TRUE(resumable > 0 && dropped > 0);
	printf("resume points: %d counts had one, %d dropped by a change\n", resumable, dropped);
}
