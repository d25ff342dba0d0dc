/* SPDX-License-Identifier: MIT */
/*
 * test_window_fast.c - alloc.c's file-window route (mb_window_fast: a
 * file's normalized window of 2^k blocks that CR_POWER2_ALIGNED serves
 * from the first group of its walk, taken without the criteria loop, with
 * the closed-form buddy mark, and its PA made there) changes speed, never
 * a decision.  Two volumes, identical but that the second has a no-op test
 * hook set -- which keeps every request on the regular path -- get the
 * same seeded operations in lockstep (lockstep.h), mb_stats off on both
 * (with it on the route stands aside): every answer must be the same, so
 * the PAs the route makes (their place, length and free count) must be
 * the regular path's, as later requests served from them show.  The
 * requests are the aging protocol's and their edges: appends of 8 MiB
 * and 64 KiB through long-lived files (new windows that leave a PA, and
 * whole windows that leave none), other powers of two, odd lengths,
 * continuation goals and random ones, mapped neighbours (a goal to try
 * first: the regular path's), fallocate-style NOPREALLOC, frees and PA
 * discards, on empty and aged volumes, with flex groups, with the legacy
 * ENOSPC policy (its PA listed after the lock), and near ENOSPC.
 */
#include <string.h>

#include "lockstep.h"

struct window_case {
	uint32_t bpg, groups;
	uint64_t seed;
	uint32_t maxlen; /* ageing: runs of 1..maxlen blocks, keep% used; 0: none */
	unsigned keep;
	int ops;
	size_t live; /* answers kept at most: older ones freed at random */
	bool legacy;
	uint32_t flex; /* flex_bg: the first group of each is not CR_POWER2_ALIGNED's */
	uint32_t cache; /* mb_cache_groups (0: the default, every group): rebuilds */
};

/* 4 KiB blocks (8 MiB windows of 2048 blocks), 3 files, mb_stats off. */
static int window_init(struct mb_lockstep *ls, const struct window_case *c, uint64_t *hooks)
{
	const struct mb_lockstep_opts o = {
		.block_size = 4096, .bpg = c->bpg, .groups = c->groups, .flex_bg = c->flex,
		.seed = c->seed,
		.nfiles = 3, .ino = 12, .ino_step = 7, .cap = 1 << 15,
		.tunables = { { "mb_stats", { 0, 0 } },
			      { "mb_enospc_policy", { c->legacy, c->legacy } },
			      { c->cache ? "mb_cache_groups" : NULL, { c->cache, c->cache } } },
		.hook = mb_lockstep_count_hook, .hook_arg = hooks,
	};
	int err = mb_lockstep_init(ls, &o);

	if (!err && c->maxlen)
		err = mb_lockstep_age(ls, c->maxlen, c->keep);
	return err;
}

/* Mostly appends of 2048 or 16 blocks through a file; now and then
   something else the route must leave alone or decide alike. */
static int window_request(struct mb_lockstep *ls, uint64_t dice, struct mb_request *r)
{
	uint64_t f = mb_rand_below(&ls->rng, 32);
	int file = (int)mb_rand_below(&ls->rng, 3);

	if (dice < 80)
		r->len = dice & 1 ? 2048 : 16;
	else if (dice < 90)
		r->len = 1u << mb_rand_below(&ls->rng, 13);
	else
		r->len = 1 + (uint32_t)mb_rand_below(&ls->rng, 3000);
	r->goal = f < 20 ? ls->next_goal : f < 24 ? MB_GOAL_NONE : mb_lockstep_goal(ls);
	if (f == 24 && ls->n) { /* a mapped left neighbour: merge_goal's TRY_GOAL */
		r->lleft = ls->logical[file] ? ls->logical[file] - 1 : 0;
		r->pleft = ls->start[ls->n - 1];
		r->flags |= MB_REQ_PLEFT;
	} else if (f == 25) {
		r->flags |= MB_HINT_NOPREALLOC;
	} else if (f == 26) {
		r->flags |= MB_HINT_DELALLOC_RESERVED;
	}
	if (dice == 98)
		return -1;
	return file;
}

/*
 * ops requests (mb_lockstep_run's loop, without its quarter of frees):
 * kept answers beyond c->live are freed at random first, so the volume
 * keeps room for windows as the aging protocol's does, and now and then a
 * file's PAs are discarded.
 */
static int window_run(struct mb_lockstep *ls, const struct window_case *c)
{
	for (int i = 0, ops = mb_test_rounds(c->ops); i < ops; i++) {
		uint64_t dice = mb_rand_below(&ls->rng, 100);
		struct mb_request r = {0};

		while (ls->n > c->live)
			if (mb_lockstep_free_random(ls))
				return 1;
		int file = window_request(ls, dice, &r);

		if (mb_lockstep_alloc(ls, &r, file))
			return 1;
		if (dice == 97)
			for (int k = 0; k < 2; k++)
				mb_file_discard(ls->f[k][file >= 0 ? file : 0]);
	}
	return 0;
}

static int window_same(const struct window_case *c)
{
	struct mb_lockstep ls;
	uint64_t hooks = 0;
	int bad = window_init(&ls, c, &hooks);

	if (!bad)
		bad = window_run(&ls, c);
	mb_lockstep_destroy(&ls);
	return bad || !hooks; /* the regular side ran through the hook */
}

/* Empty volumes: most new windows are the route's. */
TEST(empty_same)
{
	for (unsigned k = 0; k < 3; k++) {
		const struct window_case c = {.bpg = k ? 8192 : 32768, .groups = k ? 96 : 24,
					      .seed = mb_test_seed * 5 + k, .ops = 12000, .live = 200,
					      .legacy = k == 2};

		ASSERT_EQ_INT(window_same(&c), 0);
	}
}

/* Aged volumes: first groups without a chunk, sets of many orders, windows
   that fall past CR_POWER2_ALIGNED, PAs on groups with other PAs. */
TEST(aged_same)
{
	static const unsigned keep[] = {40, 70, 90};

	for (unsigned k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		const struct window_case c = {.bpg = 4096, .groups = 64,
					      .seed = mb_test_seed * 17 + k, .maxlen = 600,
					      .keep = keep[k], .ops = 10000, .live = 60,
					      .legacy = k == 1};

		ASSERT_EQ_INT(window_same(&c), 0);
	}
}

/*
 * Flex groups of 4 and 16: the first group of each takes no data at
 * CR_POWER2_ALIGNED (rule 2), so the group the walk's sets name first is
 * often one the regular path passes over -- the route must decline there
 * (its verdict under the lock), on empty and aged volumes; the last case
 * keeps 6 groups built, so the route also rebuilds dropped groups.
 */
TEST(flex_same)
{
	for (unsigned k = 0; k < 4; k++) {
		const struct window_case c = {.bpg = 4096, .groups = 64, .flex = k & 1 ? 16 : 4,
					      .seed = mb_test_seed * 29 + k, .maxlen = k < 2 ? 0 : 600,
					      .keep = 60, .ops = 6000, .live = k < 2 ? 200 : 60,
					      .cache = k == 3 ? 6 : 0};

		ASSERT_EQ_INT(window_same(&c), 0);
	}
}

/*
 * Bitmaps read through a store (the callback store: nothing uninit), the
 * first read of the file's goal group failing: the regular path remembers
 * the failure (-EIO if no group serves) and passes the group over, reading
 * it again only at a later criterion or request.  The route must leave
 * such a load to it -- a read of its own that failed, then the regular
 * path's that worked, would serve the request from the group the regular
 * path passed over.
 */
#define CB_BPG 4096u
#define CB_GROUPS 8u
#define CB_RSV 2u

struct cb_db {
	bool read[CB_GROUPS]; /* the group was read (group 0: its read failed) */
};

static int cb_load(void *arg, uint32_t g, uint64_t *bits)
{
	struct cb_db *d = arg;

	if (!g && !d->read[g]) { /* the file's goal group: the walk's first */
		d->read[g] = true;
		return -EIO;
	}
	bits[0] |= (1ULL << CB_RSV) - 1;
	return 0;
}

static int cb_free(void *arg, uint32_t g, uint32_t *free)
{
	(void)arg;
	(void)g;
	*free = CB_BPG - CB_RSV;
	return 0;
}

static int cb_commit(void *arg, const struct mb_group_bitmap *groups, uint32_t n)
{
	(void)arg;
	(void)groups;
	(void)n;
	return 0;
}

TEST(read_fails_same)
{
	static const struct mb_geometry geo = {.block_size = 4096, .blocks_per_group = CB_BPG,
					       .blocks_count = (uint64_t)CB_BPG * CB_GROUPS,
					       .reserved_per_group = CB_RSV};
	struct cb_db db[2] = {0};
	struct mb_volume *v[2] = {0};
	struct mb_file *f[2] = {0};
	uint64_t hooks = 0, logical = 0;
	int diff = 0;

	for (int k = 0; k < 2; k++) {
		const struct mb_store_callbacks cb = {.arg = &db[k], .load = cb_load,
						      .commit = cb_commit, .group_free = cb_free};

		ASSERT_EQ_INT(mb_volume_open_callbacks(&geo, &cb, NULL, &v[k]), 0);
		mb_tunable_set(v[k], "mb_stats", 0);
		mb_tunable_set(v[k], "mb_optimize_scan", 1); /* off below 16 groups */
		ASSERT_EQ_INT(mb_file_open(v[k], 12, &f[k]), 0);
	}
	mb_hook_set(v[1], mb_lockstep_count_hook, &hooks); /* the regular path only */
	for (int i = 0; i < 24; i++) {
		struct mb_request r = {.file = f[0], .logical = logical, .len = i % 3 ? 16 : 2048,
				       .goal = MB_GOAL_NONE};
		struct mb_extent e[2] = {{0}};
		int rc[2];

		for (int k = 0; k < 2; k++) {
			r.file = f[k];
			rc[k] = mb_alloc(v[k], &r, &e[k]);
		}
		diff += rc[0] != rc[1] || e[0].start != e[1].start || e[0].len != e[1].len;
		if (!rc[0])
			logical += e[0].len;
	}
	for (int k = 0; k < 2; k++) {
		mb_file_close(f[k]);
		mb_volume_destroy(v[k]);
	}
	ASSERT_EQ_INT(diff, 0);
	ASSERT_TRUE(db[0].read[0] && hooks > 0); /* a read failed, and the regular side ran */
}

/* Near ENOSPC: windows cut short, retries, claims that fail. */
TEST(full_same)
{
	const struct window_case c = {.bpg = 4096, .groups = 12, .seed = mb_test_seed * 23,
				      .maxlen = 300, .keep = 50, .ops = 12000, .live = 1000};

	ASSERT_EQ_INT(window_same(&c), 0);
}

