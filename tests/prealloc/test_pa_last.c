/* SPDX-License-Identifier: MIT */
/*
 * test_pa_last.c - a file's last-PA cache (f_pa_last, prealloc.c) names
 * only a PA of its own tree: once that PA is gone (discarded, used up) it
 * must not serve the file again, even when its memory now holds another
 * file's PA (freed PAs are reused, most recent first).
 */
#define _GNU_SOURCE
#include <sched.h>

#include "mb_int.h"
#include "pa_util.h"

static const struct mb_geometry geo = { 4096, 0, 2 * 32768, 0, 0, 0 };

static int one(struct mb_volume *vol, struct mb_file *f, uint64_t logical, uint64_t *start)
{
	struct mb_request rq = { .file = f, .logical = logical, .len = 1, .goal = MB_GOAL_NONE };
	struct mb_extent ex = { 0 };
	int err = mb_alloc(vol, &rq, &ex);

	*start = ex.start;
	return err;
}

TEST(discarded_last_pa_does_not_serve_its_file)
{
	struct mb_volume *vol;
	struct mb_file *a, *b;
	uint64_t a0, a1, b0, b1, b2, x;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 12, &a), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 13, &b), 0);
	mb_file_set_size(a, 64); /* past mb_stream_req: inode PAs, not the lg's */
	mb_file_set_size(b, 64);
	ASSERT_EQ_INT(one(vol, a, 0, &a0), 0); /* makes a's PA */
	ASSERT_EQ_INT(one(vol, a, 1, &a1), 0); /* served by it: a's last PA */
	ASSERT_EQ_U64(a1, a0 + 1);
	ASSERT_TRUE(mb_prealloc_discard_at(vol, a, a0) > 0); /* a's PA is gone */
	/* b's first PA covers logical 0.. too; its memory was a's PA's */
	ASSERT_EQ_INT(one(vol, b, 0, &b0), 0);
	ASSERT_EQ_INT(one(vol, a, 2, &x), 0); /* a new window for a, not b's PA */
	ASSERT_EQ_INT(one(vol, b, 1, &b1), 0);
	ASSERT_EQ_INT(one(vol, b, 2, &b2), 0);
	ASSERT_EQ_U64(b1, b0 + 1);
	ASSERT_EQ_U64(b2, b0 + 2); /* still b's: a took nothing from it */
	ASSERT_TRUE(x != b0 + 2);
	ASSERT_CHECK_CLEAN(vol);
	mb_file_close(a);
	mb_file_close(b);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

static void count_fast(void *arg, int id, uint32_t group, int cr)
{
	(void)group;
	(void)cr;
	if (id == MB_HOOK_PA_FAST_FOUND)
		++*(int *)arg;
}

/*
 * The fast path is tried only while the file names a last PA (a file
 * without one goes the regular way at once: its request is a PA miss):
 * the PA a request makes becomes that PA, so the next request, inside it,
 * is served without the allocation context.  Inserted PAs elsewhere in the
 * tree take over too; a used-up one leaves none.
 */
TEST(a_new_pa_serves_the_next_request_fast)
{
	struct mb_volume *vol;
	struct mb_file *f;
	uint64_t s0, s;
	int fast = 0;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 12, &f), 0);
	mb_file_set_size(f, 64); /* past mb_stream_req: inode PAs, not the lg's */
	mb_hook_set(vol, count_fast, &fast);
	ASSERT_EQ_INT(one(vol, f, 0, &s0), 0); /* makes the PA: no PA to find */
	ASSERT_EQ_INT(fast, 0);
	for (int i = 1; i < 8; i++) {
		ASSERT_EQ_INT(one(vol, f, (uint64_t)i, &s), 0);
		ASSERT_EQ_U64(s, s0 + (uint64_t)i);
		ASSERT_EQ_INT(fast, i); /* each one through the fast path */
	}
	/* a second PA, far away in the file: it is the last PA now */
	ASSERT_EQ_INT(one(vol, f, 1 << 20, &s0), 0);
	ASSERT_EQ_INT(fast, 7);
	ASSERT_EQ_INT(one(vol, f, (1 << 20) + 1, &s), 0);
	ASSERT_EQ_U64(s, s0 + 1);
	ASSERT_EQ_INT(fast, 8);
	mb_hook_set(vol, NULL, NULL);
	ASSERT_CHECK_CLEAN(vol);
	mb_file_close(f);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/*
 * PA memory (prealloc.c, mb_zalloc_lines): whole cache lines of their own,
 * aligned by hand inside a malloc'd block, zeroed, and given back to
 * malloc whole -- past the thread's list of freed PAs, so more PAs than it
 * holds.  Every byte of every line is written while all are alive: under
 * ASan a block too short for its aligned lines fails here, and a free of
 * the PA's address instead of the block's fails in any build.
 */
#define PA_MANY 300
#define PA_LINES ((sizeof(struct mb_pa) + MB_CACHELINE - 1) & ~(size_t)(MB_CACHELINE - 1))

static void pa_check_new(const struct mb_pa *pa)
{
	ASSERT_TRUE(pa != NULL);
	ASSERT_EQ_U64((uintptr_t)pa % MB_CACHELINE, 0);
	/* every field, as mb_pa_zero sets them one by one (no memset) */
	ASSERT_EQ_U64(pa->pa_pstart, 0);
	ASSERT_EQ_U64(pa->pa_lstart, 0);
	ASSERT_EQ_U64(pa->pa_len, 0);
	ASSERT_EQ_U64(pa->pa_free, 0);
	ASSERT_EQ_U64(pa->pa_group, 0);
	ASSERT_EQ_INT(pa->pa_type, 0);
	ASSERT_TRUE(!pa->pa_deleted && !pa->pa_release_pending);
	ASSERT_TRUE(pa->pa_file == NULL && pa->pa_lg == NULL);
	/* the union: pa_node an empty list over pa_tnode's links, the rest zero */
	ASSERT_TRUE(mb_list_empty(&pa->pa_node));
	ASSERT_TRUE(pa->pa_tnode.parent == NULL && pa->pa_tnode.height == 0);
	ASSERT_EQ_INT(pa->pa_bucket, -1);
	ASSERT_EQ_U64(pa->pa_clean_off, UINT32_MAX);
	ASSERT_TRUE(mb_list_empty(&pa->pa_group_list) && mb_list_empty(&pa->pa_tmp_list));
}

TEST(pa_memory_is_whole_lines_and_goes_back_whole)
{
	static struct mb_pa *pas[PA_MANY];

	for (int round = 0; round < 2; round++) { /* the second: from the list too */
		for (int i = 0; i < PA_MANY; i++) {
			pas[i] = mb_pa_alloc();
			pa_check_new(pas[i]);
		}
		for (int i = 0; i < PA_MANY; i++)
			memset(pas[i], 0xa5, PA_LINES); /* dirty: a reuse must zero it */
		for (int i = 0; i < PA_MANY; i++)
			mb_pa_free(pas[i]);
	}
}
