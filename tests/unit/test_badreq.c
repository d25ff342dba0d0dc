/* SPDX-License-Identifier: MIT */
/*
 * test_badreq.c - hostile struct mb_request fields (issue 9, items 1-2):
 * neighbours outside the volume, logical ranges that wrap past 2^64, and
 * the boundary of every field's valid range as the header defines it.  A
 * request outside its range gets -EINVAL and changes nothing; one just
 * inside it is served with an extent inside the volume, and mb_check()
 * stays clean either way.
 */
#include <string.h>

#include "harness.h"

/* 1 KiB blocks, first_data_block 1 (ext4's 1 KiB layout), 4 groups of 64. */
static const struct mb_geometry geo1k = { .block_size = 1024, .blocks_per_group = 64,
					  .blocks_count = 1 + 4 * 64, .first_data_block = 1,
					  .reserved_per_group = 2 };

struct vol_model {
	struct mb_volume *vol;
	struct mb_geometry geo;
	uint64_t free0, allocated;
};

static int model_open(struct vol_model *m, const struct mb_geometry *geo)
{
	memset(m, 0, sizeof(*m));
	int err = mb_volume_create(geo, &m->vol);

	if (!err) {
		mb_volume_geometry(m->vol, &m->geo);
		m->free0 = mb_free_blocks(m->vol);
	}
	return err;
}

/* An extent handed out lies in the volume's data area and was free. */
static bool extent_sane(const struct vol_model *m, const struct mb_extent *ex)
{
	const struct mb_geometry *g = &m->geo;

	if (!ex->len || ex->start < g->first_data_block || ex->start >= g->blocks_count ||
	    ex->len > g->blocks_count - ex->start)
		return false;
	uint64_t off = (ex->start - g->first_data_block) % g->blocks_per_group;

	return off >= g->reserved_per_group && off + ex->len <= g->blocks_per_group;
}

/*
 * mb_alloc through the model: any extent must be sane and the free count
 * must follow (so a block counted twice or outside the volume shows up);
 * returns the error.  *ok is false when an invariant broke.
 */
static int model_alloc(struct vol_model *m, const struct mb_request *rq, struct mb_extent *ex,
		       bool *ok)
{
	int err = mb_alloc(m->vol, rq, ex);

	if (!err) {
		*ok = *ok && extent_sane(m, ex);
		m->allocated += ex->len;
	}
	*ok = *ok && mb_free_blocks(m->vol) == m->free0 - m->allocated &&
	      mb_check(m->vol, NULL, 0) == 0;
	return err;
}

/* ------------------------------------------------------------------------ */
/* Item 1: out-of-volume neighbours                                          */
/* ------------------------------------------------------------------------ */

/* pleft = 2^64-1 made normalization's goal pleft + 1 wrap to block 0,
   before first_data_block: group number ~2^32, read far out of bounds. */
TEST(neighbour_pleft_wraps)
{
	struct vol_model m;
	struct mb_file *f;
	struct mb_extent ex;
	bool ok = true;

	ASSERT_EQ_INT(model_open(&m, &geo1k), 0);
	ASSERT_EQ_INT(mb_file_open(m.vol, 7, &f), 0);
	struct mb_request rq = { .file = f, .logical = 100, .goal = MB_GOAL_NONE, .len = 1,
				 .lleft = 99, .pleft = UINT64_MAX };
	ASSERT_EQ_INT(model_alloc(&m, &rq, &ex, &ok), -EINVAL);
	ASSERT_TRUE(ok);
	ASSERT_EQ_U64(mb_free_blocks(m.vol), m.free0);
	mb_volume_destroy(m.vol);
}

/* pright past the end: the merge goal pright - size lies past the volume. */
TEST(neighbour_pright_past_end)
{
	struct vol_model m;
	struct mb_file *f;
	struct mb_extent ex;
	bool ok = true;

	ASSERT_EQ_INT(model_open(&m, &geo1k), 0);
	ASSERT_EQ_INT(mb_file_open(m.vol, 7, &f), 0);
	struct mb_request rq = { .file = f, .logical = 30, .goal = MB_GOAL_NONE, .len = 16,
				 .lright = 46, .pright = (1ULL << 63) - 128 };
	ASSERT_EQ_INT(model_alloc(&m, &rq, &ex, &ok), -EINVAL);
	ASSERT_TRUE(ok);
	rq.pright = m.geo.blocks_count + 1000;
	ASSERT_EQ_INT(model_alloc(&m, &rq, &ex, &ok), -EINVAL);
	ASSERT_TRUE(ok);
	ASSERT_EQ_U64(mb_free_blocks(m.vol), m.free0);
	mb_volume_destroy(m.vol);
}

/* ------------------------------------------------------------------------ */
/* Item 2: a logical range wrapping past 2^64                                */
/* ------------------------------------------------------------------------ */

/*
 * logical + len wrapped to 0: the file looked small, normalization's window
 * [2^64-64, 0) wrapped, and on a fragmented volume the inode PA was placed
 * so that the request's block lay past its end -- a block someone else
 * owned was handed out again and pa_free and the descriptor went wrong.
 * The volume is full but for blocks [100, 104), so any block handed out
 * elsewhere is a double allocation.
 */
TEST(logical_wraps_twice)
{
	struct vol_model m;
	struct mb_file *f;
	struct mb_extent ex;
	int err[2];
	bool ok = true;

	ASSERT_EQ_INT(model_open(&m, &geo1k), 0);
	ASSERT_EQ_INT(mb_file_open(m.vol, 7, &f), 0);
	mb_file_set_size(f, 4096); /* a large file: its own inode PA */
	struct mb_request fill = { .goal = MB_GOAL_NONE, .len = 64, .flags = MB_HINT_NOPREALLOC };
	while (model_alloc(&m, &fill, &ex, &ok) == 0)
		;
	ASSERT_TRUE(ok);
	ASSERT_EQ_INT(mb_free(m.vol, 100, 4), 0);
	m.allocated -= 4;
	struct mb_request rq = { .file = f, .logical = UINT64_MAX, .goal = MB_GOAL_NONE,
				 .len = 1 };
	for (int i = 0; i < 2; i++) {
		err[i] = model_alloc(&m, &rq, &ex, &ok);
		if (!err[i] && (ex.start < 100 || ex.start + ex.len > 104))
			mb_test_fail(__FILE__, __LINE__, "call %d: block %" PRIu64 " was not free", i,
				     ex.start);
		ASSERT_CHECK_CLEAN(m.vol);
		ASSERT_TRUE(ok);
	}
	ASSERT_EQ_INT(err[0], -EINVAL);
	ASSERT_EQ_INT(err[1], -EINVAL);
	ASSERT_EQ_INT(mb_file_discard(f), 0);
	ASSERT_EQ_U64(mb_free_blocks(m.vol), 4);
	ASSERT_CHECK_CLEAN(m.vol);
	mb_volume_destroy(m.vol);
}

/* The same request just inside the limit is served from the free run. */
TEST(logical_at_limit_fragmented)
{
	struct vol_model m;
	struct mb_file *f;
	struct mb_extent ex;
	bool ok = true;

	ASSERT_EQ_INT(model_open(&m, &geo1k), 0);
	ASSERT_EQ_INT(mb_file_open(m.vol, 7, &f), 0);
	mb_file_set_size(f, UINT64_MAX);
	struct mb_request fill = { .goal = MB_GOAL_NONE, .len = 64, .flags = MB_HINT_NOPREALLOC };
	while (model_alloc(&m, &fill, &ex, &ok) == 0)
		;
	ASSERT_EQ_INT(mb_free(m.vol, 100, 4), 0);
	m.allocated -= 4;
	for (uint64_t i = 0; i < 4; i++) {
		struct mb_request rq = { .file = f, .logical = MB_LOGICAL_LIMIT - 4 + i,
					 .goal = MB_GOAL_NONE, .len = 1 };
		ASSERT_EQ_INT(model_alloc(&m, &rq, &ex, &ok), 0);
		ASSERT_TRUE(ok && ex.start >= 100 && ex.start < 104);
	}
	ASSERT_EQ_U64(mb_free_blocks(m.vol), 0);
	ASSERT_CHECK_CLEAN(m.vol);
	mb_volume_destroy(m.vol);
}

/* ------------------------------------------------------------------------ */
/* The boundary of every field                                               */
/* ------------------------------------------------------------------------ */

struct boundary {
	const char *what;
	struct mb_request rq; /* file filled in by the test when use_file */
	bool use_file;
	int err;
};

/*
 * Each row is a field at or just past its edge on geo1k (blocks 1..256,
 * data from block 3 of each group).  Rows are independent: each runs on a
 * fresh volume.
 */
#define L MB_LOGICAL_LIMIT
#define N MB_GOAL_NONE
static const struct boundary rows[] = {
	{ "len 0", { .goal = N, .len = 0 }, true, -EINVAL },
	{ "len 1", { .goal = N, .len = 1 }, true, 0 },
	{ "len UINT32_MAX (cut to a group)", { .goal = N, .len = UINT32_MAX }, true, 0 },
	{ "len UINT32_MAX, no file", { .goal = N, .len = UINT32_MAX }, false, 0 },
	{ "logical L-1, len 1", { .logical = L - 1, .goal = N, .len = 1 }, true, 0 },
	{ "logical L-16, len 16", { .logical = L - 16, .goal = N, .len = 16 }, true, 0 },
	{ "logical L-1, len 2", { .logical = L - 1, .goal = N, .len = 2 }, true, -EINVAL },
	{ "logical L", { .logical = L, .goal = N, .len = 1 }, true, -EINVAL },
	{ "logical L, no file", { .logical = L, .goal = N, .len = 1 }, false, -EINVAL },
	{ "logical 2^64-1", { .logical = UINT64_MAX, .goal = N, .len = 1 }, true, -EINVAL },
	{ "logical 2^64-16, len 32", { .logical = UINT64_MAX - 15, .goal = N, .len = 32 }, true,
	  -EINVAL },
	{ "goal before first_data_block", { .goal = 0, .len = 1 }, true, -EINVAL },
	{ "goal first_data_block", { .goal = 1, .len = 1 }, true, 0 },
	{ "goal last block", { .goal = 256, .len = 4 }, true, 0 },
	{ "goal blocks_count", { .goal = 257, .len = 1 }, true, -EINVAL },
	{ "goal 2^64-2", { .goal = UINT64_MAX - 1, .len = 1 }, false, -EINVAL },
	/* without a file, mb_alloc_anon's own tests (mb_request_rare, _common_valid) */
	{ "len 0, no file", { .goal = N, .len = 0 }, false, -EINVAL },
	{ "len 2^31, no file", { .goal = N, .len = 1u << 31 }, false, 0 },
	{ "len 2^31+1, no file", { .goal = N, .len = (1u << 31) + 1 }, false, 0 },
	{ "logical L-1, len 2, no file", { .logical = L - 1, .goal = N, .len = 2 }, false, -EINVAL },
	{ "goal before first_data_block, no file", { .goal = 0, .len = 1 }, false, -EINVAL },
	{ "goal first_data_block, no file", { .goal = 1, .len = 16 }, false, 0 },
	{ "goal last block, no file", { .goal = 256, .len = 4 }, false, 0 },
	{ "goal blocks_count, no file", { .goal = 257, .len = 16 }, false, -EINVAL },
	{ "goal 2^64-2, no file", { .goal = UINT64_MAX - 1, .len = 16 }, false, -EINVAL },
	{ "unknown flag 0x2", { .goal = N, .len = 1, .flags = 0x2 }, true, -EINVAL },
	{ "internal flag GROUP_ALLOC", { .goal = N, .len = 1, .flags = 0x80 }, true, -EINVAL },
	{ "internal flag STRICT_CHECK", { .goal = N, .len = 1, .flags = 0x4000 }, false, -EINVAL },
	{ "flag 2^31", { .goal = N, .len = 1, .flags = 1u << 31 }, true, -EINVAL },
	{ "pleft last block", { .logical = 50, .goal = N, .len = 1, .lleft = 49, .pleft = 256 },
	  true, 0 },
	{ "pleft first_data_block", { .logical = 50, .goal = N, .len = 1, .lleft = 49, .pleft = 1 },
	  true, 0 },
	{ "pleft blocks_count", { .logical = 50, .goal = N, .len = 1, .lleft = 49, .pleft = 257 },
	  true, -EINVAL },
	{ "pleft 2^64-1", { .logical = 50, .goal = N, .len = 1, .lleft = 49, .pleft = UINT64_MAX },
	  true, -EINVAL },
	{ "pleft, no file", { .logical = 50, .goal = N, .len = 1, .lleft = 49, .pleft = 257 },
	  false, -EINVAL },
	{ "lleft = logical", { .logical = 50, .goal = N, .len = 1, .lleft = 50, .pleft = 100 },
	  true, -EINVAL },
	{ "lleft 2^64-1", { .logical = 50, .goal = N, .len = 1, .lleft = UINT64_MAX, .pleft = 100 },
	  true, -EINVAL },
	{ "lleft anything, pleft 0", { .logical = 50, .goal = N, .len = 1, .lleft = UINT64_MAX },
	  true, 0 },
	{ "pright first_data_block",
	  { .logical = 50, .goal = N, .len = 4, .lright = 54, .pright = 1 }, true, 0 },
	{ "pright last block", { .logical = 50, .goal = N, .len = 4, .lright = 54, .pright = 256 },
	  true, 0 },
	{ "pright blocks_count",
	  { .logical = 50, .goal = N, .len = 4, .lright = 54, .pright = 257 }, true, -EINVAL },
	{ "lright inside the request",
	  { .logical = 50, .goal = N, .len = 4, .lright = 53, .pright = 100 }, true, -EINVAL },
	{ "lright 0", { .logical = 50, .goal = N, .len = 4, .lright = 0, .pright = 100 }, true,
	  -EINVAL },
	{ "lright anything, pright 0", { .logical = 50, .goal = N, .len = 4, .lright = 3 }, true, 0 },
	{ "neighbours at the logical limit",
	  { .logical = L - 2, .goal = N, .len = 1, .lleft = L - 3, .pleft = 200, .lright = L - 1,
	    .pright = 201 },
	  true, 0 },
};

/*
 * The goal's edges on a volume whose data starts at block 0 (geo0: 4 KiB
 * blocks, blocks 0..255), where the goal's test is one compare of a range
 * that wraps to take MB_GOAL_NONE in (struct mb_volume, goal_base).
 */
static const struct mb_geometry geo0 = { .block_size = 4096, .blocks_per_group = 64,
					 .blocks_count = 4 * 64, .reserved_per_group = 2 };
static const struct boundary rows0[] = {
	{ "block 0: goal 0", { .goal = 0, .len = 1 }, true, 0 },
	{ "block 0: goal 0, no file", { .goal = 0, .len = 16 }, false, 0 },
	{ "block 0: goal last block", { .goal = 255, .len = 4 }, true, 0 },
	{ "block 0: goal last block, no file", { .goal = 255, .len = 16 }, false, 0 },
	{ "block 0: goal blocks_count", { .goal = 256, .len = 1 }, true, -EINVAL },
	{ "block 0: goal blocks_count, no file", { .goal = 256, .len = 16 }, false, -EINVAL },
	{ "block 0: goal 2^64-2, no file", { .goal = UINT64_MAX - 1, .len = 16 }, false, -EINVAL },
	{ "block 0: goal NONE", { .goal = N, .len = 1 }, true, 0 },
	{ "block 0: goal NONE, no file", { .goal = N, .len = 16 }, false, 0 },
};
#undef L
#undef N

static void run_rows(const struct boundary *tab, size_t n, const struct mb_geometry *geo)
{
	for (size_t i = 0; i < n; i++) {
		struct vol_model m;
		struct mb_file *f;
		struct mb_extent ex;
		struct mb_request rq = tab[i].rq;
		bool ok = true;

		ASSERT_EQ_INT(model_open(&m, geo), 0);
		ASSERT_EQ_INT(mb_file_open(m.vol, 7, &f), 0);
		if (tab[i].use_file)
			rq.file = f;
		int err = model_alloc(&m, &rq, &ex, &ok);

		if (err != tab[i].err || !ok)
			mb_test_fail(__FILE__, __LINE__, "%s: err %d (want %d), invariants %s",
				     tab[i].what, err, tab[i].err, ok ? "held" : "broken");
		/* a valid one twice: the second may come from the PA made by the first */
		if (!err)
			err = model_alloc(&m, &rq, &ex, &ok);
		ASSERT_TRUE(ok);
		ASSERT_EQ_INT(mb_file_discard(f) >= 0, 1);
		ASSERT_CHECK_CLEAN(m.vol);
		mb_volume_destroy(m.vol);
		if (mb_test_failed)
			return;
	}
}

TEST(field_boundaries)
{
	run_rows(rows, sizeof(rows) / sizeof(rows[0]), &geo1k);
}

TEST(goal_boundaries_data_at_block_0)
{
	run_rows(rows0, sizeof(rows0) / sizeof(rows0[0]), &geo0);
}

/* A file of another volume. */
TEST(file_of_other_volume)
{
	struct vol_model a, b;
	struct mb_file *f;
	struct mb_extent ex;
	bool ok = true;

	ASSERT_EQ_INT(model_open(&a, &geo1k), 0);
	ASSERT_EQ_INT(model_open(&b, &geo1k), 0);
	ASSERT_EQ_INT(mb_file_open(b.vol, 1, &f), 0);
	struct mb_request rq = { .file = f, .goal = MB_GOAL_NONE, .len = 1 };
	ASSERT_EQ_INT(model_alloc(&a, &rq, &ex, &ok), -EINVAL);
	ASSERT_TRUE(ok);
	mb_volume_destroy(a.vol);
	mb_volume_destroy(b.vol);
}

/*
 * Every combination of the public flags, with and without a file, a goal
 * and neighbours, on every test geometry, near the logical limit and at 0:
 * always an answer in range and a clean volume.
 */
TEST(every_flag_combination)
{
	static const uint32_t bits[] = { MB_HINT_MERGE, MB_HINT_FIRST, MB_HINT_DATA,
					 MB_HINT_NOPREALLOC, MB_HINT_GOAL_ONLY, MB_HINT_TRY_GOAL };

	for (int gi = 0; gi < mb_test_ngeos; gi++) {
		struct vol_model m;
		struct mb_file *f;

		ASSERT_EQ_INT(model_open(&m, &mb_test_geos[gi].geo), 0);
		ASSERT_EQ_INT(mb_file_open(m.vol, 3, &f), 0);
		for (uint32_t c = 0; c < (1u << 6) * 8; c++) {
			struct mb_request rq = { .len = 1 + c % 37, .goal = MB_GOAL_NONE };
			struct mb_extent ex;
			bool ok = true;

			for (int b = 0; b < 6; b++)
				rq.flags |= (c >> b) & 1 ? bits[b] : 0;
			rq.file = (c >> 6) & 1 ? f : NULL;
			if ((c >> 7) & 1)
				rq.goal = m.geo.blocks_count - 1 - c % 5;
			rq.logical = c % 3 == 0 ? MB_LOGICAL_LIMIT - rq.len : c;
			if (rq.logical) {
				rq.lleft = rq.logical - 1;
				rq.pleft = m.geo.blocks_count - 1;
			}
			int err = model_alloc(&m, &rq, &ex, &ok);

			if ((err && err != -ENOSPC) || !ok)
				mb_test_fail(__FILE__, __LINE__, "%s: flags %#x file %d: err %d, %s",
					     mb_test_geos[gi].name, rq.flags, rq.file != NULL, err,
					     ok ? "invariants held" : "invariants broken");
			if (mb_test_failed)
				return;
		}
		ASSERT_TRUE(mb_file_discard(f) >= 0);
		ASSERT_CHECK_CLEAN(m.vol);
		mb_volume_destroy(m.vol);
	}
}

/* A huge file size must not make normalization's byte arithmetic wrap. */
TEST(huge_file_size)
{
	struct vol_model m;
	struct mb_file *f;
	struct mb_extent ex;
	bool ok = true;

	ASSERT_EQ_INT(model_open(&m, &geo1k), 0);
	ASSERT_EQ_INT(mb_file_open(m.vol, 7, &f), 0);
	mb_file_set_size(f, UINT64_MAX);
	for (uint64_t lg = 0; lg < 3; lg++) {
		struct mb_request rq = { .file = f, .logical = lg * 1000, .goal = MB_GOAL_NONE,
					 .len = 3 };
		ASSERT_EQ_INT(model_alloc(&m, &rq, &ex, &ok), 0);
		ASSERT_TRUE(ok);
	}
	ASSERT_TRUE(mb_file_discard(f) >= 0);
	ASSERT_CHECK_CLEAN(m.vol);
	mb_volume_destroy(m.vol);
}
