/* SPDX-License-Identifier: MIT */
/*
 * test_alloc.c - mb_alloc / mb_free through the public API, over every
 * geometry: ext4's KUnit allocation scenarios (goal, next block, next
 * group, wrap, ENOSPC; freeing exactly the range asked), argument errors,
 * the all-or-nothing double free, bounded ENOSPC on a full volume, and the
 * GOAL_ONLY / MERGE / over-long request hints.  Group bitmaps are read
 * through mb_int.h only to check which bits a call changed.
 */
#include <string.h>

#include "harness.h"
#include "mb_test_int.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static uint64_t group_start(const struct mb_volume *vol, uint32_t g)
{
	struct mb_geometry geo;

	mb_volume_geometry(vol, &geo);
	return geo.first_data_block + (uint64_t)g * geo.blocks_per_group;
}

static uint32_t group_len(const struct mb_volume *vol, uint32_t g)
{
	struct mb_geometry geo;

	mb_volume_geometry(vol, &geo);
	uint64_t left = geo.blocks_count - group_start(vol, g);

	return left < geo.blocks_per_group ? (uint32_t)left : geo.blocks_per_group;
}

static uint32_t group_rsv(const struct mb_volume *vol, uint32_t g)
{
	struct mb_geometry geo;

	mb_volume_geometry(vol, &geo);
	return geo.reserved_per_group < group_len(vol, g) ? geo.reserved_per_group
							  : group_len(vol, g);
}

/* First block a fresh group hands out: right after its metadata. */
static uint64_t first_free(const struct mb_volume *vol, uint32_t g)
{
	return group_start(vol, g) + group_rsv(vol, g);
}

static uint32_t stat_free(struct mb_volume *vol, uint32_t g)
{
	struct mb_group_stat st;

	return mb_group_stat(vol, g, &st) ? UINT32_MAX : st.free;
}

static int alloc_one(struct mb_volume *vol, uint64_t goal, uint32_t len, uint32_t flags,
		     struct mb_extent *ex)
{
	struct mb_request rq = {.goal = goal, .len = len, .flags = flags};

	return mb_alloc(vol, &rq, ex);
}

/* Takes every free block of group g, run by run, each at its goal. */
static bool fill_group(struct mb_volume *vol, uint32_t g)
{
	struct mb_group_stat st;
	struct mb_extent ex;

	while (!mb_group_stat(vol, g, &st) && st.free) {
		uint64_t goal = group_start(vol, g) + st.first_free;

		if (alloc_one(vol, goal, st.free, MB_HINT_TRY_GOAL | MB_HINT_MERGE, &ex) ||
		    ex.start != goal)
			return false;
	}
	return true;
}

static bool fill_volume(struct mb_volume *vol)
{
	for (uint32_t g = 0; g < mb_groups_count(vol); g++)
		if (!fill_group(vol, g))
			return false;
	return mb_free_blocks(vol) == 0;
}

static struct mb_volume *new_volume(int gi, bool optimize_scan)
{
	struct mb_volume *vol = NULL;

	if (mb_volume_create(&mb_test_geos[gi].geo, &vol))
		return NULL;
	mb_tunable_set(vol, "mb_optimize_scan", optimize_scan);
	return vol;
}

/* Block b's bit in group g's on-disk and in-core bitmaps (1 = used). */
static void block_bits(struct mb_volume *vol, uint64_t b, bool *disk, bool *incore)
{
	struct mb_group *grp = mb_group_at(vol, mb_block_group(vol, b));
	uint32_t off = mb_block_offset(vol, b);

	mb_lock(&grp->bb_lock);
	mb_group_load_locked(vol, grp);
	*disk = mb_test_bit(grp->bb_disk, off);
	*incore = mb_test_bit(grp->bb_bitmap, off);
	mb_unlock(&grp->bb_lock);
}

static bool range_used(struct mb_volume *vol, uint64_t start, uint64_t len, bool used)
{
	for (uint64_t b = start; b < start + len; b++) {
		bool d, i;

		block_bits(vol, b, &d, &i);
		if (d != used || i != used)
			return false;
	}
	return true;
}

/* Every group's counters, to prove a failed call changed nothing. */
struct snap {
	uint64_t free;
	uint32_t n;
	struct mb_group_stat *st;
};

static void snap_take(struct mb_volume *vol, struct snap *s)
{
	s->free = mb_free_blocks(vol);
	s->n = mb_groups_count(vol);
	s->st = calloc(s->n, sizeof(*s->st));
	for (uint32_t g = 0; g < s->n; g++)
		mb_group_stat(vol, g, &s->st[g]);
}

static bool snap_same(struct mb_volume *vol, struct snap *s)
{
	bool same = mb_free_blocks(vol) == s->free;

	for (uint32_t g = 0; g < s->n && same; g++) {
		struct mb_group_stat now;

		mb_group_stat(vol, g, &now);
		now.flags = s->st[g].flags; /* a failed call may load a bitmap */
		same = !memcmp(&now, &s->st[g], sizeof(now));
	}
	free(s->st);
	return same;
}

/* ------------------------------------------------------------------------ */
/* KUnit: test_new_blocks_simple                                             */
/* ------------------------------------------------------------------------ */

static void new_blocks_simple(int gi)
{
	struct mb_volume *vol = new_volume(gi, false);
	struct mb_extent ex;
	uint32_t ng;

	ASSERT_TRUE(vol);
	ng = mb_groups_count(vol);
	ASSERT_TRUE(ng >= 2);
	/* first request gets the goal, the second the block after it */
	ASSERT_EQ_INT(alloc_one(vol, first_free(vol, 1), 1, MB_HINT_TRY_GOAL, &ex), 0);
	ASSERT_EQ_U64(ex.start, first_free(vol, 1));
	ASSERT_EQ_U64(ex.len, 1);
	ASSERT_EQ_INT(alloc_one(vol, first_free(vol, 1), 1, MB_HINT_TRY_GOAL, &ex), 0);
	ASSERT_EQ_U64(ex.start, first_free(vol, 1) + 1);
	/*
	 * Group 1 full: the next group.  Not necessarily its first free block:
	 * the scan keeps the smallest buddy chunk that fits (ext4's best fit),
	 * which on a group without metadata is its last chunk.
	 */
	ASSERT_TRUE(fill_group(vol, 1));
	ASSERT_EQ_INT(alloc_one(vol, first_free(vol, 1), 1, MB_HINT_TRY_GOAL, &ex), 0);
	ASSERT_EQ_U64(mb_block_group(vol, ex.start), 2 % ng);
	ASSERT_TRUE(ex.start >= first_free(vol, 2 % ng));
	/* every group after the goal's full: wrap to group 0 */
	for (uint32_t g = 2; g < ng; g++)
		ASSERT_TRUE(fill_group(vol, g));
	if (ng > 2) {
		ASSERT_EQ_INT(alloc_one(vol, first_free(vol, 1), 1, MB_HINT_TRY_GOAL, &ex), 0);
		ASSERT_EQ_U64(mb_block_group(vol, ex.start), 0);
		ASSERT_TRUE(ex.start >= first_free(vol, 0));
	}
	ASSERT_TRUE(fill_group(vol, 0));
	ASSERT_EQ_U64(mb_free_blocks(vol), 0);
	ASSERT_EQ_INT(alloc_one(vol, first_free(vol, 1), 1, MB_HINT_TRY_GOAL, &ex), -ENOSPC);
	ASSERT_EQ_INT(alloc_one(vol, MB_GOAL_NONE, 1, 0, &ex), -ENOSPC);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

TEST(new_blocks_goal_next_group_wrap_enospc)
{
	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++)
		new_blocks_simple(gi);
}

/* With optimized scanning (odd-24 has 41 groups) a full goal group still
 * moves the request elsewhere, to a block that was free. */
TEST(full_goal_group_optimized_scan)
{
	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct mb_volume *vol = new_volume(gi, true);
		struct mb_extent ex;

		ASSERT_TRUE(vol);
		ASSERT_TRUE(fill_group(vol, 1));
		uint64_t before = mb_free_blocks(vol);

		ASSERT_EQ_INT(alloc_one(vol, first_free(vol, 1), 1, MB_HINT_TRY_GOAL, &ex), 0);
		ASSERT_TRUE(mb_block_group(vol, ex.start) != 1);
		ASSERT_EQ_U64(mb_free_blocks(vol), before - 1);
		ASSERT_CHECK_CLEAN(vol);
		mb_volume_destroy(vol);
	}
}

/*
 * CR_POWER2_ALIGNED's walk looks at the first member of its set at or past
 * the goal inline (alloc.c, mb_scan_power2) and hands the rest of the walk
 * to the generic one.  With flex_bg 4, data stays out of groups 0, 4 and 8
 * at that criterion: a goal there is turned down, and the walk must go on
 * with the very next group of the set (the one after the goal), or, past
 * the last group, wrap to group 1.  Every other goal group answers itself.
 */
TEST(power2_walk_goes_on_after_first_member)
{
	const struct mb_geometry geo = {.block_size = 4096, .blocks_per_group = 1024,
					.blocks_count = 9 * 1024, .flex_bg = 4};

	for (uint32_t g = 0; g < 9 && !mb_test_failed; g++) {
		struct mb_volume *vol = NULL;
		struct mb_extent ex;

		ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
		mb_tunable_set(vol, "mb_optimize_scan", 1);
		ASSERT_EQ_INT(alloc_one(vol, group_start(vol, g) + 100, 64, MB_HINT_DATA, &ex), 0);
		uint32_t want = g % 4 ? g : g + 1 < 9 ? g + 1 : 1;

		ASSERT_EQ_U64(mb_block_group(vol, ex.start), want);
		ASSERT_EQ_U64(ex.len, 64);
		ASSERT_CHECK_CLEAN(vol);
		mb_volume_destroy(vol);
	}
}

/* ------------------------------------------------------------------------ */
/* KUnit: test_free_blocks_simple                                            */
/* ------------------------------------------------------------------------ */

/* Frees slice ranges of group g on a full volume; exactly they become free. */
static void free_slices(struct mb_volume *vol, uint64_t *rng, uint32_t g)
{
	uint32_t len = group_len(vol, g), rsv = group_rsv(vol, g), slice = len / 8;
	uint8_t *freed = calloc(len, 1);
	uint64_t total = 0, base = group_start(vol, g);

	for (int s = 0; s < 8; s++) {
		uint32_t lo = s * slice, hi = s == 7 ? len : lo + slice;
		uint32_t st = lo + (uint32_t)mb_rand_below(rng, hi - lo ? hi - lo : 1);
		uint32_t n = (uint32_t)mb_rand_below(rng, hi > st ? hi - st + 1 : 1);

		if (st < rsv) { /* metadata cannot be freed: tested elsewhere */
			n = st + n > rsv ? st + n - rsv : 0;
			st = rsv;
		}
		if (!n)
			continue;
		ASSERT_EQ_INT(mb_free(vol, base + st, n), 0);
		memset(freed + st, 1, n);
		total += n;
	}
	ASSERT_EQ_U64(mb_free_blocks(vol), total);
	ASSERT_EQ_U64(stat_free(vol, g), total);
	for (uint32_t o = 0; o < mb_groups_count(vol); o++)
		if (o != g)
			ASSERT_EQ_U64(stat_free(vol, o), 0);
	for (uint32_t b = 0; b < len; b++)
		ASSERT_TRUE(range_used(vol, base + b, 1, !freed[b]));
	ASSERT_CHECK_CLEAN(vol);
	free(freed);
}

TEST(free_exactly_the_range)
{
	uint64_t rng = mb_test_seed;

	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		for (int r = 0; r < 4 && !mb_test_failed; r++) {
			struct mb_volume *vol = new_volume(gi, r & 1);
			uint32_t g = (uint32_t)mb_rand_below(&rng, mb_groups_count(vol));

			ASSERT_TRUE(fill_volume(vol));
			free_slices(vol, &rng, r ? g : 1);
			mb_volume_destroy(vol);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Bad arguments                                                             */
/* ------------------------------------------------------------------------ */

static void bad_alloc_args(struct mb_volume *vol, struct mb_volume *other)
{
	struct mb_geometry geo;
	struct mb_extent ex;
	struct mb_file *foreign;
	static const uint32_t bad_flags[] = {0x0002, 0x0004, 0x0010, 0x0080,
					     0x0800, 0x4000, 0x8000, 0x80000000u};

	mb_volume_geometry(vol, &geo);
	ASSERT_EQ_INT(alloc_one(vol, MB_GOAL_NONE, 0, 0, &ex), -EINVAL);
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++)
		ASSERT_EQ_INT(alloc_one(vol, MB_GOAL_NONE, 1, bad_flags[i], &ex), -EINVAL);
	ASSERT_EQ_INT(alloc_one(vol, geo.blocks_count, 1, 0, &ex), -EINVAL);
	ASSERT_EQ_INT(alloc_one(vol, geo.blocks_count + 1000, 1, MB_HINT_TRY_GOAL, &ex), -EINVAL);
	ASSERT_EQ_INT(alloc_one(vol, UINT64_MAX - 1, 1, 0, &ex), -EINVAL);
	if (geo.first_data_block)
		ASSERT_EQ_INT(alloc_one(vol, 0, 1, MB_HINT_TRY_GOAL, &ex), -EINVAL);

	struct mb_request rq = {.goal = MB_GOAL_NONE, .len = 1};

	ASSERT_EQ_INT(mb_file_open(other, 7, &foreign), 0);
	rq.file = foreign;
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), -EINVAL);
	mb_file_close(foreign);
}

/*
 * The last group full, so frees past the end fail on bounds alone, and an
 * extent right after the metadata of another group.
 */
static void bad_free_setup(struct mb_volume *vol, struct mb_extent *ex)
{
	uint32_t last = mb_groups_count(vol) - 1;

	ASSERT_TRUE(fill_group(vol, last));
	ASSERT_EQ_INT(alloc_one(vol, first_free(vol, last == 1 ? 0 : 1), 4, MB_HINT_GOAL_ONLY, ex),
		      0);
}

static void bad_free_args(struct mb_volume *vol, const struct mb_extent *ex)
{
	struct mb_geometry geo;

	mb_volume_geometry(vol, &geo);
	ASSERT_EQ_INT(mb_free(vol, ex->start, 0), -EINVAL);
	ASSERT_EQ_INT(mb_free(vol, geo.blocks_count, 1), -EINVAL);
	ASSERT_EQ_INT(mb_free(vol, geo.blocks_count - 1, 2), -EINVAL);
	ASSERT_EQ_INT(mb_free(vol, geo.blocks_count - 1, UINT64_MAX), -EINVAL);
	ASSERT_EQ_INT(mb_free(vol, ex->start, UINT64_MAX - ex->start + 2), -EINVAL);
	ASSERT_EQ_INT(mb_free(vol, UINT64_MAX, 1), -EINVAL);
	if (geo.first_data_block)
		ASSERT_EQ_INT(mb_free(vol, 0, 2), -EINVAL);
	if (geo.reserved_per_group) {
		uint32_t g = mb_block_group(vol, ex->start);

		/* metadata: alone, and at the head of a range of used blocks */
		ASSERT_EQ_INT(mb_free(vol, group_start(vol, g), 1), -EINVAL);
		ASSERT_EQ_INT(mb_free(vol, ex->start - 1, 2), -EINVAL);
		ASSERT_EQ_INT(mb_free(vol, group_start(vol, g), group_rsv(vol, g) + 4), -EINVAL);
		ASSERT_EQ_INT(mb_free(vol, group_start(vol, 1), 1), -EINVAL);
	}
	ASSERT_TRUE(range_used(vol, ex->start, 4, true));
}

TEST(bad_arguments_change_nothing)
{
	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct mb_volume *vol = new_volume(gi, false), *other = new_volume(gi, false);
		struct snap s;

		ASSERT_TRUE(vol && other);
		snap_take(vol, &s);
		bad_alloc_args(vol, other);
		ASSERT_TRUE(snap_same(vol, &s));
		struct mb_extent ex;

		bad_free_setup(vol, &ex);
		snap_take(vol, &s);
		bad_free_args(vol, &ex);
		ASSERT_TRUE(snap_same(vol, &s));
		ASSERT_CHECK_CLEAN(vol);
		mb_volume_destroy(other);
		mb_volume_destroy(vol);
	}
}

/* ------------------------------------------------------------------------ */
/* Double free                                                               */
/* ------------------------------------------------------------------------ */

/*
 * A free whose blocks are used at both ends but free in the middle: the
 * validation must read every word between the end ones (free.c checks up
 * to 5 words in a leaf of its own, bitops.c the longer ranges 8 words a
 * step).  Lengths of 4 to 16 words; the hole is 100 blocks or more from
 * each end, so in a word of the middle.
 */
TEST(double_free_hole_inside_a_long_range)
{
	static const uint32_t lens[] = {200, 257, 300, 1000};

	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct mb_volume *vol = new_volume(gi, false);

		ASSERT_TRUE(vol);
		for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]) && !mb_test_failed; li++) {
			uint32_t len = lens[li], h = len / 2;
			struct mb_extent a;
			struct snap s;

			if (len > group_len(vol, 1) - group_rsv(vol, 1))
				continue;
			ASSERT_EQ_INT(alloc_one(vol, first_free(vol, 1), len, MB_HINT_GOAL_ONLY, &a), 0);
			ASSERT_EQ_U64(a.len, len);
			ASSERT_EQ_INT(mb_free(vol, a.start + h, 3), 0);
			snap_take(vol, &s);
			ASSERT_EQ_INT(mb_free(vol, a.start, a.len), -EEXIST);
			ASSERT_TRUE(snap_same(vol, &s));
			ASSERT_TRUE(range_used(vol, a.start, h, true));
			ASSERT_TRUE(range_used(vol, a.start + h, 3, false));
			ASSERT_TRUE(range_used(vol, a.start + h + 3, len - h - 3, true));
			ASSERT_CHECK_CLEAN(vol);
			ASSERT_EQ_INT(mb_free(vol, a.start, h), 0);
			ASSERT_EQ_INT(mb_free(vol, a.start + h + 3, len - h - 3), 0);
			ASSERT_CHECK_CLEAN(vol);
		}
		mb_volume_destroy(vol);
	}
}

TEST(double_free_changes_nothing)
{
	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct mb_volume *vol = new_volume(gi, false);
		struct mb_extent a, b;
		struct snap s;

		ASSERT_TRUE(vol);
		ASSERT_EQ_INT(alloc_one(vol, first_free(vol, 1), 10, MB_HINT_GOAL_ONLY, &a), 0);
		ASSERT_EQ_INT(alloc_one(vol, a.start + 10, 10, MB_HINT_GOAL_ONLY, &b), 0);
		ASSERT_EQ_INT(mb_free(vol, a.start, a.len), 0);
		snap_take(vol, &s);
		ASSERT_EQ_INT(mb_free(vol, a.start, a.len), -EEXIST);
		ASSERT_EQ_INT(mb_free(vol, a.start + 3, 1), -EEXIST);
		/* a range of used blocks followed by a free one */
		ASSERT_EQ_INT(mb_free(vol, b.start, b.len + 1), -EEXIST);
		/* free blocks then used ones: the used ones stay used */
		ASSERT_EQ_INT(mb_free(vol, a.start + 5, 10), -EEXIST);
		ASSERT_TRUE(snap_same(vol, &s));
		ASSERT_TRUE(range_used(vol, b.start, b.len, true));
		ASSERT_TRUE(range_used(vol, a.start, a.len, false));
		ASSERT_CHECK_CLEAN(vol);
		ASSERT_EQ_INT(mb_free(vol, b.start, b.len), 0);
		ASSERT_CHECK_CLEAN(vol);
		mb_volume_destroy(vol);
	}
}

/*
 * A free spanning two groups whose second half is already free: the first
 * half must stay allocated.  Needs groups without metadata at their head
 * (else the range would cross metadata and be -EINVAL, checked too).
 */
static void cross_group_double_free(const struct mb_geometry *geo)
{
	struct mb_volume *vol;
	struct mb_extent a, b;
	struct snap s;

	ASSERT_EQ_INT(mb_volume_create(geo, &vol), 0);
	if (mb_groups_count(vol) < 3 || group_len(vol, 2) < 8) {
		mb_volume_destroy(vol); /* needs a whole group 1 and room after it */
		return;
	}
	uint64_t edge = group_start(vol, 2);

	ASSERT_EQ_INT(alloc_one(vol, edge - 8, 8, MB_HINT_GOAL_ONLY, &a), 0);
	ASSERT_EQ_U64(a.start, edge - 8);
	if (group_rsv(vol, 2) == 0) {
		ASSERT_EQ_INT(alloc_one(vol, edge, 8, MB_HINT_GOAL_ONLY, &b), 0);
		ASSERT_EQ_INT(mb_free(vol, b.start, b.len), 0);
	}
	snap_take(vol, &s);
	int err = mb_free(vol, edge - 8, 16);

	ASSERT_EQ_INT(err, group_rsv(vol, 2) ? -EINVAL : -EEXIST);
	ASSERT_TRUE(snap_same(vol, &s));
	ASSERT_TRUE(range_used(vol, edge - 8, 8, true));
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(mb_free(vol, edge - 8, 8), 0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

TEST(cross_group_double_free_all_or_nothing)
{
	static const struct mb_geometry extra[] = {
	    {1024, 64, 64 * 6, 0, 0, 0},
	    {4096, 16, 16 * 5 + 3, 0, 0, 0},
	};

	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++)
		cross_group_double_free(&mb_test_geos[gi].geo);
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]) && !mb_test_failed; i++)
		cross_group_double_free(&extra[i]);
}

/* ------------------------------------------------------------------------ */
/* ENOSPC, GOAL_ONLY, long requests, MERGE                                   */
/* ------------------------------------------------------------------------ */

/* A full volume answers -ENOSPC, every time, without spinning. */
TEST(enospc_on_full_volume_is_prompt)
{
	uint64_t rng = mb_test_seed ^ 0xe05;
	int per_geo = 10000 / mb_test_ngeos + 1;

	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct mb_volume *vol = new_volume(gi, gi & 1);
		struct mb_file *file;
		struct mb_geometry geo;

		ASSERT_TRUE(vol && fill_volume(vol));
		ASSERT_EQ_INT(mb_file_open(vol, 42, &file), 0);
		mb_volume_geometry(vol, &geo);
		for (int i = 0; i < per_geo; i++) {
			struct mb_request rq = {.goal = MB_GOAL_NONE,
						.len = 1 + (uint32_t)mb_rand_below(&rng, 300)};
			struct mb_extent ex;

			if (i & 1)
				rq.goal =
				    geo.first_data_block +
				    mb_rand_below(&rng, geo.blocks_count - geo.first_data_block);
			rq.flags = (i & 2) ? MB_HINT_TRY_GOAL : (i & 4) ? MB_HINT_MERGE : 0;
			rq.file = (i & 8) ? file : NULL;
			rq.logical = (uint64_t)i * 16;
			ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), -ENOSPC);
		}
		ASSERT_EQ_U64(mb_free_blocks(vol), 0);
		ASSERT_CHECK_CLEAN(vol);
		mb_file_close(file);
		mb_volume_destroy(vol);
	}
}

TEST(goal_only)
{
	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct mb_volume *vol = new_volume(gi, false);
		struct mb_extent ex, ex2;
		uint64_t goal = first_free(vol, 1) + 3;

		ASSERT_TRUE(vol);
		ASSERT_EQ_INT(alloc_one(vol, goal, 2, MB_HINT_GOAL_ONLY, &ex), 0);
		ASSERT_EQ_U64(ex.start, goal);
		ASSERT_EQ_U64(ex.len, 2);
		uint64_t before = mb_free_blocks(vol);

		ASSERT_EQ_INT(alloc_one(vol, goal, 1, MB_HINT_GOAL_ONLY, &ex2), -ENOSPC);
		ASSERT_EQ_INT(alloc_one(vol, goal + 1, 1, MB_HINT_GOAL_ONLY, &ex2), -ENOSPC);
		/* metadata is never "free at the goal" */
		if (group_rsv(vol, 1))
			ASSERT_EQ_INT(
			    alloc_one(vol, group_start(vol, 1), 1, MB_HINT_GOAL_ONLY, &ex2),
			    -ENOSPC);
		ASSERT_EQ_U64(mb_free_blocks(vol), before);
		ASSERT_CHECK_CLEAN(vol);
		mb_volume_destroy(vol);
	}
}

/* One over-long request on a fresh volume: at most a group, in one group. */
static void long_request(int gi, uint32_t mult, bool try_goal)
{
	struct mb_volume *vol = new_volume(gi, false);
	struct mb_geometry geo;
	struct mb_extent ex;

	ASSERT_TRUE(vol);
	mb_volume_geometry(vol, &geo);
	uint32_t len = mult ? geo.blocks_per_group * mult + 1 : UINT32_MAX;
	uint64_t before = mb_free_blocks(vol);

	ASSERT_EQ_INT(alloc_one(vol, try_goal ? first_free(vol, 0) : MB_GOAL_NONE, len,
				try_goal ? MB_HINT_TRY_GOAL : 0, &ex),
		      0);
	ASSERT_TRUE(ex.len >= 1 && ex.len <= geo.blocks_per_group);
	ASSERT_EQ_U64(mb_block_group(vol, ex.start), mb_block_group(vol, ex.start + ex.len - 1));
	ASSERT_TRUE(ex.start >= geo.first_data_block && ex.start + ex.len <= geo.blocks_count);
	ASSERT_EQ_U64(mb_free_blocks(vol), before - ex.len);
	/* Without metadata a whole group is free: the cut request fills one. */
	if (!geo.reserved_per_group && !try_goal)
		ASSERT_EQ_U64(ex.len, geo.blocks_per_group);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

TEST(request_longer_than_group_is_cut)
{
	static const uint32_t mults[] = {0, 1, 7}; /* 0: UINT32_MAX */

	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++)
		for (size_t i = 0; i < 6 && !mb_test_failed; i++)
			long_request(gi, mults[i % 3], i >= 3);
}

TEST(merge_takes_shorter_extent_at_goal)
{
	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct mb_volume *vol = new_volume(gi, gi & 1);
		struct mb_extent ex, wall;
		uint64_t goal = first_free(vol, 1);

		ASSERT_TRUE(vol);
		ASSERT_EQ_INT(alloc_one(vol, goal + 5, 1, MB_HINT_GOAL_ONLY, &wall), 0);
		/* without MERGE the 5 free blocks at the goal are not enough */
		ASSERT_EQ_INT(alloc_one(vol, goal, 12, MB_HINT_TRY_GOAL, &ex), 0);
		ASSERT_TRUE(ex.start != goal);
		ASSERT_EQ_U64(ex.len, 12);
		ASSERT_EQ_INT(alloc_one(vol, goal, 12, MB_HINT_TRY_GOAL | MB_HINT_MERGE, &ex), 0);
		ASSERT_EQ_U64(ex.start, goal);
		ASSERT_EQ_U64(ex.len, 5);
		ASSERT_TRUE(range_used(vol, goal, 6, true));
		ASSERT_CHECK_CLEAN(vol);
		mb_volume_destroy(vol);
	}
}
