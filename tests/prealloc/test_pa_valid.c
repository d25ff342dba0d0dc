/* SPDX-License-Identifier: MIT */
/*
 * test_pa_valid.c - mb_request_valid (alloc.c) decides the common shape (no
 * neighbour, no CPU) in one test and the rest field by field: both must
 * accept exactly the requests struct mb_request's documented ranges allow
 * (mballoc.h).  Random requests built from each field's edge values are
 * checked against that rule written out plainly, and mb_alloc must answer
 * -EINVAL for every one the rule refuses.
 */
#define _GNU_SOURCE
#include <sched.h>

#include "alloc_ctx.h"
#include "pa_util.h"

struct mb_valid_env {
	struct mb_volume *vol;
	struct mb_file *own, *alien; /* alien: a file of another volume */
	uint64_t fdb, bc;
};

/* In the volume: [first_data_block, blocks_count). */
static bool mb_model_in(const struct mb_valid_env *e, uint64_t b)
{
	return b >= e->fdb && b < e->bc;
}

/* struct mb_request's valid ranges, as mballoc.h states them. */
static bool mb_model_valid(const struct mb_valid_env *e, const struct mb_request *r)
{
	bool left = r->pleft || (r->flags & MB_REQ_PLEFT);
	bool right = r->pright || (r->flags & MB_REQ_PRIGHT);

	if (r->spare0 || r->spare[0])
		return false;
	if (r->flags & ~(uint32_t)MB_HINT_PUBLIC_MASK)
		return false;
	if (!r->len)
		return false;
	if (!(r->flags & MB_REQ_CPU) && r->cpu != 0 && r->cpu != MB_CPU_CURRENT)
		return false;
	if (r->file == e->alien)
		return false;
	if ((unsigned __int128)r->logical + r->len > MB_LOGICAL_LIMIT)
		return false;
	if (r->goal != MB_GOAL_NONE && !mb_model_in(e, r->goal))
		return false;
	if (left && (!mb_model_in(e, r->pleft) || r->lleft >= r->logical))
		return false;
	if (right && (!mb_model_in(e, r->pright) ||
		      (unsigned __int128)r->lright < (unsigned __int128)r->logical + r->len))
		return false;
	return true;
}

static uint64_t mb_pick(uint64_t *rs, const uint64_t *v, int n)
{
	return v[mb_rand_below(rs, (uint64_t)n)];
}

/* Mostly the common shape, each field often at or next to an edge. */
static void mb_random_request(const struct mb_valid_env *e, uint64_t *rs, struct mb_request *r)
{
	const uint64_t blocks[] = { 0, 1, e->fdb, e->fdb + 1, e->bc - 1, e->bc, e->bc + 1,
				    e->bc / 2, MB_GOAL_NONE, MB_GOAL_NONE - 1 };
	const uint64_t logicals[] = { 0, 1, 7, 1000, MB_LOGICAL_LIMIT - 1, MB_LOGICAL_LIMIT,
				      MB_LOGICAL_LIMIT - 16, UINT64_MAX, UINT64_MAX - 3 };
	const uint64_t lens[] = { 0, 1, 2, 16, 255, 32768, UINT32_MAX };
	const uint64_t cpus[] = { 0, 1, 3, MB_CPU_CURRENT, MB_CPU_CURRENT - 1, 0x80000000u };
	const uint64_t flag_bits[] = { 0,
				       MB_REQ_PLEFT,
				       MB_REQ_PRIGHT,
				       MB_REQ_CPU,
				       MB_HINT_DELALLOC_RESERVED,
				       MB_HINT_NOPREALLOC,
				       MB_HINT_GOAL_ONLY,
				       1u << 31,
				       ~(uint32_t)MB_HINT_PUBLIC_MASK & (0u - 2u),
				       1u << (unsigned)mb_rand_below(rs, 32) };
	bool common = mb_rand_below(rs, 2);

	memset(r, 0, sizeof(*r));
	r->file = mb_rand_below(rs, 8) ? e->own : mb_rand_below(rs, 2) ? NULL : e->alien;
	r->logical = mb_rand_below(rs, 3) ? mb_rand_below(rs, 4096) : mb_pick(rs, logicals, 9);
	r->len = (uint32_t)(mb_rand_below(rs, 3) ? 1 + mb_rand_below(rs, 64) : mb_pick(rs, lens, 7));
	r->goal = mb_rand_below(rs, 3) ? mb_rand_below(rs, e->bc) : mb_pick(rs, blocks, 10);
	if (!mb_rand_below(rs, 4))
		r->flags = (uint32_t)mb_pick(rs, flag_bits, 10);
	if (!mb_rand_below(rs, 3))
		r->cpu = (uint32_t)mb_pick(rs, cpus, 6);
	if (!mb_rand_below(rs, 16)) /* one spare word set */
		switch (mb_rand_below(rs, 4)) {
		case 0: r->spare0 = 1u << mb_rand_below(rs, 32); break;
		default: r->spare[mb_rand_below(rs, sizeof(r->spare) / sizeof(r->spare[0]))] =
				1ull << mb_rand_below(rs, 64); break;
		}
	if (common)
		return;
	/* neighbours, present by value or by flag, on either side of the edges */
	if (mb_rand_below(rs, 2)) {
		r->pleft = mb_rand_below(rs, 2) ? mb_pick(rs, blocks, 10) : 0;
		r->lleft = r->logical + mb_rand_below(rs, 3) - 1;
		if (mb_rand_below(rs, 2))
			r->flags |= MB_REQ_PLEFT;
	}
	if (mb_rand_below(rs, 2)) {
		r->pright = mb_rand_below(rs, 2) ? mb_pick(rs, blocks, 10) : 0;
		r->lright = r->logical + r->len + mb_rand_below(rs, 3) - 1;
		if (mb_rand_below(rs, 2))
			r->flags |= MB_REQ_PRIGHT;
	}
}

TEST(request_valid_matches_the_documented_ranges)
{
	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct mb_valid_env e = { 0 };
		struct mb_volume *other;
		uint64_t rs = mb_test_seed + (uint64_t)gi;
		uint64_t n_valid = 0, n_invalid = 0;

		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &e.vol), 0);
		ASSERT_EQ_INT(mb_volume_create(&mb_test_geos[gi].geo, &other), 0);
		ASSERT_EQ_INT(mb_file_open(e.vol, 12, &e.own), 0);
		ASSERT_EQ_INT(mb_file_open(other, 12, &e.alien), 0);
		e.fdb = mb_test_geos[gi].geo.first_data_block;
		e.bc = mb_test_geos[gi].geo.blocks_count;
		for (int i = 0; i < 200000; i++) {
			struct mb_request r;
			struct mb_extent ex;
			bool want;

			mb_random_request(&e, &rs, &r);
			want = mb_model_valid(&e, &r);
			if (mb_request_valid(e.vol, &r) != want)
				mb_test_fail(__FILE__, __LINE__,
					     "%s #%d: valid %d, model %d (flags %#x cpu %u len %u "
					     "logical %#llx goal %#llx pleft %#llx pright %#llx)",
					     mb_test_geos[gi].name, i, !want, want, r.flags, r.cpu,
					     r.len, (unsigned long long)r.logical,
					     (unsigned long long)r.goal, (unsigned long long)r.pleft,
					     (unsigned long long)r.pright);
			ASSERT_TRUE(mb_request_valid(e.vol, &r) == want);
			if (want) {
				n_valid++;
			} else {
				n_invalid++;
				ASSERT_EQ_INT(mb_alloc(e.vol, &r, &ex), -EINVAL);
			}
		}
		/* both verdicts were exercised, on both shapes */
		ASSERT_TRUE(n_valid > 10000 && n_invalid > 10000);
		mb_file_close(e.own);
		mb_file_close(e.alien);
		mb_volume_destroy(other);
		mb_volume_destroy(e.vol);
	}
}
