/* SPDX-License-Identifier: MIT */
/*
 * test_fast256.c - alloc.c's power-of-two fast path (mb_scan_power2_fast:
 * a request with no file that CR_POWER2_ALIGNED serves from the first
 * group of its walk, decided without an allocation context) changes
 * speed, never a decision.  Two volumes, identical but that the second has
 * a no-op test hook set -- which keeps every request on the regular path
 * -- get the same seeded operations in lockstep (lockstep.h): every answer
 * must be the same.  mb_stats is off on both (with it on, the fast path
 * stands aside).  The requests are the fast path's shape and its edges:
 * powers of two from 2 blocks to more than a group, goals inside and past
 * a set's word, public flags that matter to the pass (MB_HINT_DATA with
 * flex groups: the flex group's first group is skipped; TRY_GOAL and
 * GOAL_ONLY, which send a request to the regular path; DELALLOC_RESERVED),
 * empty, aged and full volumes down to ENOSPC.
 */
#include <string.h>

#include "lockstep.h"
#include "probe.h"
#include "store.h"

struct fast_case {
	uint32_t bpg, groups, flex, first; /* first: first_data_block */
	uint64_t seed;
	uint32_t maxlen; /* ageing: runs of 1..maxlen blocks, keep% used; 0: none */
	unsigned keep;
	int ops;
};

/* The pair for a case: no files, mb_stats off on both (with it on, the
   fast path stands aside), the second held on the regular path by a hook. */
static int fast_init(struct mb_lockstep *ls, const struct fast_case *c, uint64_t *hooks)
{
	const struct mb_lockstep_opts o = {
		.block_size = c->first ? 1024 : 4096, .bpg = c->bpg, .groups = c->groups,
		.flex_bg = c->flex, .first = c->first, .seed = c->seed, .cap = 1 << 15,
		.tunables = {{"mb_stats", {0, 0}}},
		.hook = mb_lockstep_count_hook, .hook_arg = hooks,
	};

	return mb_lockstep_init(ls, &o);
}

/* A power of two, 2..2 * bpg blocks (a few 1-block and odd ones too), a
   goal as mb_lockstep_goal, now and then a flag the pass looks at. */
static int fast_request(struct mb_lockstep *ls, uint64_t dice, bool files, struct mb_request *r,
			const void *arg)
{
	const struct fast_case *c = arg;
	uint32_t top = (uint32_t)__builtin_ctz(c->bpg) + 1;
	uint64_t f = mb_rand_below(&ls->rng, 16);

	(void)files;
	if (dice < 90)
		r->len = 1u << (1 + mb_rand_below(&ls->rng, top));
	else if (dice < 95)
		r->len = 1;
	else
		r->len = 3 + (uint32_t)mb_rand_below(&ls->rng, 300);
	r->goal = mb_lockstep_goal(ls);
	if (r->goal < c->first)
		r->goal = c->first; /* blocks before group 0 are no goal */
	if (f < 4)
		r->flags |= MB_HINT_DATA;
	else if (f == 4)
		r->flags |= MB_HINT_TRY_GOAL;
	else if (f == 5)
		r->flags |= MB_HINT_DELALLOC_RESERVED;
	else if (f == 6)
		r->flags |= MB_HINT_MERGE | MB_HINT_FIRST;
	else if (f == 7) /* alone too: the fast path's one mask holds both */
		r->flags |= MB_HINT_GOAL_ONLY;
	return -1;
}

static int fast_same(const struct fast_case *c)
{
	struct mb_lockstep ls;
	uint64_t hooks = 0;
	int bad = fast_init(&ls, c, &hooks);

	if (!bad && c->maxlen)
		bad = mb_lockstep_age(&ls, c->maxlen, c->keep);
	if (!bad)
		bad = mb_lockstep_run(&ls, c->ops, false, fast_request, c);
	mb_lockstep_destroy(&ls);
	return bad;
}

/* Empty volumes: the fast path's home (almost every request its own). */
TEST(empty_same)
{
	for (unsigned k = 0; k < 4; k++) {
		const struct fast_case c = {.bpg = 2048, .groups = 150, .flex = k & 1 ? 16 : 0,
					    .seed = mb_test_seed * 7 + k, .ops = 4000};

		ASSERT_EQ_INT(fast_same(&c), 0);
	}
}

/*
 * Data from block 1 (ext4's 1 KiB geometry), and groups of a size no
 * power of two: the fast path finds the goal's group from the goal's
 * block past first_data_block, group 0's by one compare with bpg
 * (mb_scan_power2_fast), the others' by a shift or a division.
 */
TEST(first_data_block_same)
{
	static const uint32_t bpg[] = {1024, 1536};

	for (unsigned k = 0; k < 4; k++) {
		/* no ageing (mb_lockstep_age marks from block 0) */
		const struct fast_case c = {.bpg = bpg[k & 1], .groups = 70, .first = 1,
					    .seed = mb_test_seed * 17 + k, .ops = 3000 + 2000 * k};

		ASSERT_EQ_INT(fast_same(&c), 0);
	}
	/* on an empty volume the goal's own group serves: goals at a group's
	   last block and first, where a goal taken from block 0 would name
	   the next group or stay in the last */
	for (unsigned k = 0; k < 2; k++) {
		const struct mb_geometry g = {.block_size = 1024, .blocks_per_group = bpg[k],
					      .first_data_block = 1,
					      .blocks_count = 1 + 16ULL * bpg[k]};
		struct mb_volume *vol;
		struct mb_extent e;

		ASSERT_EQ_INT(mb_volume_create(&g, &vol), 0);
		mb_tunable_set(vol, "mb_stats", 0);
		for (uint64_t gno = 0; gno < 16; gno++) {
			for (int end = 0; end < 2; end++) {
				uint64_t goal = 1 + gno * bpg[k] + (end ? bpg[k] - 1 : 0);
				struct mb_request r = {.len = 32, .goal = goal};

				ASSERT_EQ_INT(mb_alloc(vol, &r, &e), 0);
				ASSERT_EQ_U64((e.start - 1) / bpg[k], gno);
			}
		}
		mb_volume_destroy(vol);
	}
}

/* Aged volumes: first groups that fail, sets of many orders. */
TEST(aged_same)
{
	static const unsigned keep[] = {30, 60, 85, 95};

	for (unsigned k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
		const struct fast_case c = {.bpg = 1024, .groups = 130, .flex = k & 1 ? 4 : 0,
					    .seed = mb_test_seed * 11 + k, .maxlen = 40,
					    .keep = keep[k], .ops = 3000};

		ASSERT_EQ_INT(fast_same(&c), 0);
	}
}

/* Down to ENOSPC with powers of two: claims the share cannot grant. */
/* 2 to 64 blocks, a power of two (mb_lockstep_drain). */
static uint32_t pow2_len(struct mb_lockstep *ls, const void *arg)
{
	(void)arg;
	return 1u << (1 + mb_rand_below(&ls->rng, 6));
}

TEST(drain_same)
{
	for (unsigned k = 0; k < 2; k++) {
		const struct fast_case c = {.bpg = 1024, .groups = 40, .flex = k ? 4 : 0,
					    .seed = mb_test_seed * 13 + k, .maxlen = 16,
					    .keep = 50};
		struct mb_lockstep ls;
		uint64_t hooks = 0;
		int bad = fast_init(&ls, &c, &hooks) || mb_lockstep_age(&ls, c.maxlen, c.keep);
		int enospc = 0;

		/* near full, a free now and then: failures and successes mixed */
		if (!bad)
			bad = mb_lockstep_drain(&ls, 20000, pow2_len, NULL, &enospc);
		mb_lockstep_destroy(&ls);
		ASSERT_EQ_INT(bad, 0);
		ASSERT_TRUE(enospc > 0);
	}
}

static void count_claims(void *arg, int id, uint32_t group, int cr)
{
	(void)group;
	(void)cr;
	*(uint64_t *)arg += id == MB_HOOK_RESV_CLAIMED;
}

/*
 * Two fresh volumes of geometry g, each counting its claims through the
 * regular path (count_claims): the hook holds v[1] on the regular path,
 * and v[0]'s p2_fast_lo is put back behind its hook's back, so v[0] keeps
 * the fast path.  The same requests on both must get the same extents.
 */
static int two_volumes_one_regular(const struct mb_geometry *g, struct mb_volume *v[2],
				   uint64_t claims[2])
{
	if (mb_volume_create(g, &v[0]))
		return -1;
	if (mb_volume_create(g, &v[1])) {
		mb_volume_destroy(v[0]);
		return -1;
	}
	uint32_t lo = v[0]->p2_fast_lo;

	for (int k = 0; k < 2; k++)
		mb_hook_set(v[k], count_claims, &claims[k]);
	v[0]->p2_fast_lo = lo;
	return 0;
}

static void two_volumes_destroy(struct mb_volume *v[2])
{
	for (int k = 0; k < 2; k++) {
		mb_hook_set(v[k], NULL, NULL);
		mb_volume_destroy(v[k]);
	}
}

/*
 * What sends a request the regular way is read from one word its setters
 * keep (vol->p2_fast_lo, mb_tunables_retune), so each must keep it: a
 * tunable set after the volume was made moves it, and undone moves it
 * back.  A hook set sends the next request the regular way, which claims
 * through mb_resv_claim_request (MB_HOOK_RESV_CLAIMED); the fast path
 * takes its blocks without that claim.
 */
TEST(settings_send_requests_the_regular_way)
{
	static const struct {
		const char *name;
		uint64_t on, off;
		uint32_t lo; /* p2_fast_lo with it on */
	} set[] = {
		{ "mb_stats", 1, 0, UINT32_MAX },
		{ "mb_optimize_scan", 0, 1, UINT32_MAX },
		{ "mb_max_linear_groups", 4, 0, UINT32_MAX },
		{ "mb_scan_summary", 0, 1, UINT32_MAX },
		{ "mb_order2_req", 6, 2, 5 }, /* 2^k blocks from k >= 6 - 1 */
		{ "mb_order2_req", 1, 2, 4 },  /* every power of two: from 16 */
	};
	const struct mb_geometry g = {.block_size = 4096, .blocks_per_group = 1024,
				      .blocks_count = 64 * 1024};
	struct mb_request r = {.len = 16, .goal = MB_GOAL_NONE};
	struct mb_volume *vol;
	struct mb_extent e;
	uint64_t claims = 0;

	ASSERT_EQ_INT(mb_volume_create(&g, &vol), 0);
	ASSERT_EQ_U64(vol->p2_fast_lo, 4); /* mb_order2_req 2; above MB_BUDDY_DERIVED */
	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
		ASSERT_EQ_INT(mb_tunable_set(vol, set[i].name, set[i].on), 0);
		ASSERT_EQ_U64(vol->p2_fast_lo, set[i].lo);
		ASSERT_EQ_INT(mb_tunable_set(vol, set[i].name, set[i].off), 0);
		ASSERT_EQ_U64(vol->p2_fast_lo, 4);
	}
	ASSERT_EQ_INT(mb_alloc(vol, &r, &e), 0); /* its group built: fast from here */
	mb_hook_set(vol, count_claims, &claims);
	ASSERT_EQ_INT(mb_alloc(vol, &r, &e), 0);
	ASSERT_EQ_U64(claims, 1);
	mb_hook_set(vol, NULL, NULL);
	ASSERT_EQ_U64(vol->p2_fast_lo, 4);
	mb_volume_destroy(vol);
}

/*
 * Two requests the fast path used to leave to the regular one, now its
 * own, decided alike: a group's first load that reads no bitmap (a memory
 * volume's every group: pristine.c; mb_power2_fast_load_locked), and a
 * goal past every member of the lowest order's set (the walk's first
 * group then lies further on or before the goal: mb_power2_fast_far).
 * Two fresh volumes, the second held on the regular path by the counting
 * hook, the first's p2_fast_lo put back behind its back (as above): the
 * same extents, and no claim through the regular path on the first.
 */
TEST(first_loads_and_far_goals_are_the_fast_paths)
{
	const struct mb_geometry g = {.block_size = 4096, .blocks_per_group = 1024,
				      .blocks_count = 64 * 1024};
	struct mb_volume *v[2];
	struct mb_extent e[2];
	uint64_t claims[2] = {0, 0};

	ASSERT_EQ_INT(two_volumes_one_regular(&g, v, claims), 0);
	/* the last 8 groups' largest chunks taken, each its group's first
	   request (its first load); then the rest of each, down to chunks of
	   16 blocks and less */
	for (uint32_t len = 512; len >= 16; len /= 2) {
		for (uint64_t gno = 56; gno < 64; gno++) {
			struct mb_request r = {.len = len, .goal = gno * 1024 + 1023};

			for (int k = 0; k < 2; k++)
				ASSERT_EQ_INT(mb_alloc(v[k], &r, &e[k]), 0);
			ASSERT_EQ_U64(e[0].start, e[1].start);
			ASSERT_EQ_U64(e[0].len, e[1].len);
			ASSERT_EQ_U64(e[0].start / 1024, gno);
		}
	}
	ASSERT_EQ_U64(claims[0], 0);
	/* goals in those groups: no set of order 5 or more has a member from
	   there on; the walk's first group is one before them */
	for (uint32_t i = 0; i < 24; i++) {
		struct mb_request r = {.len = 32u << (i % 3), .goal = (56 + i % 8) * 1024 + i};

		for (int k = 0; k < 2; k++)
			ASSERT_EQ_INT(mb_alloc(v[k], &r, &e[k]), 0);
		ASSERT_EQ_U64(e[0].start, e[1].start);
		ASSERT_EQ_U64(e[0].len, e[1].len);
		ASSERT_TRUE(e[0].start < 56 * 1024);
	}
	ASSERT_EQ_U64(claims[0], 0);
	ASSERT_TRUE(claims[1] > 0);
	two_volumes_destroy(v);
}

/*
 * A group whose free blocks all lie in chunks of its top order (whole):
 * the fast path takes the chunk at its first free block without the order
 * map's search (mb_scan_power2_fast_take_locked), so that chunk must be
 * the one the search finds -- each request of 256 blocks here is the first
 * of a whole group, the regular path's answer the same.  A buddy at odds
 * with its counters (the first chunk's bit set, the counters saying whole)
 * is the search's: the next chunk, as on the regular path.  64 groups,
 * not fewer: this CPU's share of the free blocks must hold each request,
 * or the fast path stands aside.
 */
TEST(whole_groups_take_the_chunk_the_search_finds)
{
	const struct mb_geometry g = {.block_size = 4096, .blocks_per_group = 32768,
				      .blocks_count = 64 * 32768};
	struct mb_volume *v[2];
	struct mb_extent e[2];
	uint64_t claims[2] = {0, 0};

	ASSERT_EQ_INT(two_volumes_one_regular(&g, v, claims), 0);
	for (int round = 0; round < 3; round++) {
		for (uint64_t gno = 1; gno < 8; gno++) {
			struct mb_request r = {.len = 256, .goal = gno * 32768 + 5000};

			for (int k = 0; k < 2; k++) {
				struct mb_group *grp = &v[k]->groups[gno];
				int top = grp->bb_largest_free_order;

				/* built by round 0's request: whole again after its free */
				ASSERT_TRUE(!round || grp->bb_free == grp->bb_counters[top] << top);
				if (round == 2) { /* the first chunk's bit set: at odds */
					uint32_t i = grp->bb_first_free >> top;

					mb_buddy_order_map(v[k], grp->bb_buddy, top)[i >> 6] |=
						1ULL << (i & 63);
				}
				ASSERT_EQ_INT(mb_alloc(v[k], &r, &e[k]), 0);
			}
			ASSERT_EQ_U64(e[0].start, e[1].start);
			ASSERT_EQ_U64(e[0].len, 256);
			ASSERT_EQ_U64(e[0].start / 32768, gno);
			for (int k = 0; k < 2; k++)
				ASSERT_EQ_INT(mb_free(v[k], e[k].start, e[k].len), 0);
		}
	}
	ASSERT_EQ_U64(claims[0], 0);
	two_volumes_destroy(v);
}

/*
 * The fast path takes the chunk of order k that holds a group's first free
 * block when its bit says it is free, without the order map's search
 * (mb_scan_power2_fast_take_locked).  A first free block past the chunks
 * counted (bb_first_free at bpg: a group at odds with its counters) is not
 * one: its index is past the map's chunks, and the search -- which then
 * looks from the group's start, as the regular path's does -- decides.
 * Each group is whole, built by round 0's request and freed; round 1 sets
 * its first free block past the group in both volumes.
 */
TEST(first_free_past_the_chunks_is_the_searchs)
{
	const struct mb_geometry g = {.block_size = 4096, .blocks_per_group = 32768,
				      .blocks_count = 64 * 32768};
	struct mb_volume *v[2];
	struct mb_extent e[2];
	uint64_t claims[2] = {0, 0};

	ASSERT_EQ_INT(two_volumes_one_regular(&g, v, claims), 0);
	for (int round = 0; round < 2; round++) {
		for (uint64_t gno = 1; gno < 8; gno++) {
			struct mb_request r = {.len = 256, .goal = gno * 32768 + 5000};

			for (int k = 0; k < 2; k++) {
				struct mb_group *grp = &v[k]->groups[gno];
				int top = grp->bb_largest_free_order;

				if (round == 1) {
					uint64_t *map = mb_buddy_order_map(v[k], grp->bb_buddy, top);
					uint32_t n = v[k]->mb_maxs[top];

					ASSERT_EQ_U64(grp->bb_free, (uint64_t)grp->bb_counters[top] << top);
					ASSERT_TRUE(n & 63); /* the bit past it in its last word */
					/* the map's bit past its last chunk clear, as the
					   chunk there would be were it counted */
					map[n >> 6] &= ~(1ULL << (n & 63));
					grp->bb_first_free = v[k]->bpg;
				}
				ASSERT_EQ_INT(mb_alloc(v[k], &r, &e[k]), 0);
			}
			ASSERT_EQ_U64(e[0].start, e[1].start);
			ASSERT_EQ_U64(e[0].len, 256);
			ASSERT_EQ_U64(e[0].start / 32768, gno);
			if (round == 0)
				for (int k = 0; k < 2; k++)
					ASSERT_EQ_INT(mb_free(v[k], e[k].start, e[k].len), 0);
		}
	}
	ASSERT_EQ_U64(claims[0], 0);
	two_volumes_destroy(v);
}

/*
 * A read-only store's volume turns every request away with -EROFS; the
 * fast path's share of that test is p2_fast_lo, set when the volume gets
 * its store (mb_volume_create_on, mb_tunables_retune): the first request,
 * whose group still needs its load, would otherwise go past the fast path
 * straight to the regular one and be served.
 */
TEST(read_only_store_turns_powers_of_two_away)
{
	const struct mb_geometry g = {.block_size = 4096, .blocks_per_group = 1024,
				      .blocks_count = 64 * 1024};
	struct mb_store *st;
	struct mb_volume *vol;
	struct mb_extent e;

	ASSERT_EQ_INT(mb_store_memory_new(&st), 0);
	st->flags |= MB_STORE_READ_ONLY;
	ASSERT_EQ_INT(mb_volume_create_on(&g, st, &vol), 0);
	ASSERT_EQ_U64(vol->p2_fast_lo, UINT32_MAX);
	for (uint32_t len = 16; len <= 1024; len *= 4) {
		struct mb_request r = {.len = len, .goal = len < 256 ? MB_GOAL_NONE : 0};

		ASSERT_EQ_INT(mb_alloc(vol, &r, &e), -EROFS);
	}
	mb_volume_destroy(vol);
}

#ifdef MB_HAVE_SDT
/*
 * The four hot probes' semaphores are the halfwords of one word
 * (probe.h, mb_probe_hot), which mb_alloc tests with one load: each
 * named semaphore -- the address its probe's note gives a tracer -- must
 * be its halfword, and a tracer's count in any of them must send a request
 * the regular way (which fires them; the fast path fires none).  The hook
 * that counts the regular path's claims would itself send every request
 * there (p2_fast_lo), so the test puts p2_fast_lo back behind its back.
 */
TEST(traced_hot_probes_send_requests_the_regular_way)
{
	unsigned short *sem[] = { &mballoc_ext4_request_blocks_semaphore,
				  &mballoc_ext4_allocate_blocks_semaphore,
				  &mballoc_ext4_mballoc_alloc_semaphore,
				  &mballoc_ext4_mballoc_prealloc_semaphore };
	const struct mb_geometry g = {.block_size = 4096, .blocks_per_group = 1024,
				      .blocks_count = 64 * 1024};
	struct mb_request r = {.len = 16, .goal = MB_GOAL_NONE};
	struct mb_volume *vol;
	struct mb_extent e;
	uint64_t claims = 0;

	ASSERT_EQ_INT(mb_volume_create(&g, &vol), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &r, &e), 0); /* its group built: fast from here */
	uint32_t lo = vol->p2_fast_lo;

	mb_hook_set(vol, count_claims, &claims);
	vol->p2_fast_lo = lo;
	for (int i = 0; i < 4; i++) {
		/* addresses as numbers, hidden from the compiler: to C these are
		   distinct objects, and clang folds their compare to false */
		uintptr_t a = (uintptr_t)sem[i], b = (uintptr_t)&mb_probe_hot.sem[i];

		__asm__("" : "+r"(a), "+r"(b));
		ASSERT_EQ_U64(a, b);
		ASSERT_EQ_INT(mb_alloc(vol, &r, &e), 0);
		ASSERT_EQ_U64(claims, (uint64_t)i); /* untraced: the fast path */
		*sem[i] = 1;                         /* as a tracer's uprobe */
		ASSERT_EQ_INT(mb_alloc(vol, &r, &e), 0);
		*sem[i] = 0;
		ASSERT_EQ_U64(claims, (uint64_t)i + 1);
	}
	mb_hook_set(vol, NULL, NULL);
	mb_volume_destroy(vol);
}
#endif
