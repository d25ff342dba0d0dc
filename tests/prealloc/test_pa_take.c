/* SPDX-License-Identifier: MIT */
/*
 * test_pa_take.c - what a file's request takes from its inode PA, against
 * a block-by-block model: the run of unused blocks (clear on disk, not a
 * pending free) from the request's block, up to the request and the PA's
 * end; nothing from the PA when that block is taken (the request goes
 * elsewhere).  PAs up to 2048 blocks with used blocks scattered in them,
 * blocks given back while the PA lives (pending until a commit on a
 * persistent volume), takes through the fast path (mb_stats off) and the
 * regular one (on), until the PA is used up and retired.  Closing the
 * file returns exactly the unused blocks.  Guards prealloc.c's long-run
 * scan (mb_unused_run), a used-up PA's retirement and the release scan.
 * Half the PAs are imposed (mb_prealloc_add), half made by the file's
 * first request (its 8 MiB window, the request's share anywhere in it):
 * both kinds know a clean tail (struct mb_pa's pa_clean_off), where takes
 * skip the scan, and the model catches a take that trusts a tail that is
 * not clean.
 */
#define _GNU_SOURCE
#include <unistd.h>

#include "pa_util.h"

#define TK_BPG 32768
#define TK_MAXLEN 2048

enum { TK_UNUSED, TK_PRE, TK_HELD, TK_PENDING };

struct tk {
	struct mb_volume *vol;
	bool persistent;
	uint64_t rng, ino;
	uint64_t pstart, lstart;
	uint32_t len;
	uint8_t st[TK_MAXLEN];
};

/* Frees every maximal run of blocks in state `which` (they become `to`). */
static int tk_free_runs(struct tk *t, int which, int to)
{
	for (uint32_t i = 0; i < t->len;) {
		uint32_t j = i;

		while (j < t->len && t->st[j] == which)
			j++;
		if (j == i) {
			i++;
			continue;
		}
		int err = mb_free(t->vol, t->pstart + i, j - i);

		if (err)
			return err;
		for (uint32_t k = i; k < j; k++)
			t->st[k] = (uint8_t)to;
		i = j;
	}
	return 0;
}

static uint32_t tk_unused(const struct tk *t)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < t->len; i++)
		n += t->st[i] == TK_UNUSED;
	return n;
}

/* A free range of len blocks, clean (nothing pending), at a random place. */
static void tk_place(struct tk *t)
{
	uint64_t g = 1 + mb_rand_below(&t->rng, 3);
	struct mb_request rq = { .goal = g * TK_BPG + 256 + mb_rand_below(&t->rng, TK_BPG - 4096),
				 .len = t->len, .flags = MB_HINT_NOPREALLOC };
	struct mb_extent ex;

	ASSERT_EQ_INT(mb_alloc(t->vol, &rq, &ex), 0);
	ASSERT_EQ_U64(ex.len, t->len);
	ASSERT_EQ_INT(mb_free(t->vol, ex.start, ex.len), 0);
	if (t->persistent)
		ASSERT_EQ_INT(mb_commit(t->vol), 0);
	t->pstart = ex.start;
}

/* Scatters used blocks over the range (density 0, 1/64, 1/8 or 1/2), one left unused. */
static void tk_scatter(struct tk *t)
{
	static const unsigned shift[] = { 31, 6, 3, 1 };
	unsigned s = shift[mb_rand_below(&t->rng, 4)];

	for (uint32_t i = 0; i < t->len; i++)
		t->st[i] = (s < 31 && !(mb_rand_next(&t->rng) >> (64 - s))) ? TK_PRE : TK_UNUSED;
	t->st[mb_rand_below(&t->rng, t->len)] = TK_UNUSED;
	for (uint32_t i = 0; i < t->len; i++)
		if (t->st[i] == TK_PRE)
			ASSERT_EQ_INT(mb_mark_used(t->vol, t->pstart + i, 1), 0);
}

/* One request at PA offset i; checks it against the model.  *live: the PA still is. */
static void tk_request(struct tk *t, struct mb_file *f, bool *live)
{
	uint32_t i = (uint32_t)mb_rand_below(&t->rng, t->len);
	uint32_t room = t->len - i + 16; /* sometimes past the PA's end */
	uint32_t len = 1 + (uint32_t)mb_rand_below(&t->rng, mb_rand_below(&t->rng, 2) ? 8 : room);
	struct mb_request rq = { .file = f, .logical = t->lstart + i, .len = len,
				 .goal = MB_GOAL_NONE };
	struct mb_extent ex;

	ASSERT_EQ_INT(mb_tunable_set(t->vol, "mb_stats", mb_rand_below(&t->rng, 2)), 0);
	ASSERT_EQ_INT(mb_alloc(t->vol, &rq, &ex), 0);
	if (t->st[i] != TK_UNUSED) { /* taken or pending: not from the PA */
		ASSERT_TRUE(ex.start + ex.len <= t->pstart || ex.start >= t->pstart + t->len);
		ASSERT_EQ_INT(mb_free(t->vol, ex.start, ex.len), 0);
		return;
	}
	uint32_t run = 0;

	while (run < len && i + run < t->len && t->st[i + run] == TK_UNUSED)
		run++;
	ASSERT_EQ_U64(ex.start, t->pstart + i);
	ASSERT_EQ_U64(ex.len, run);
	for (uint32_t k = i; k < i + run; k++)
		t->st[k] = TK_HELD;
	*live = tk_unused(t) > 0; /* pa_free 0: retired */
}

/* Gives back a random run of held blocks inside the live PA. */
static void tk_give_back(struct tk *t)
{
	uint32_t i = (uint32_t)mb_rand_below(&t->rng, t->len), j = i;
	uint32_t most = 1 + (uint32_t)mb_rand_below(&t->rng, 300);

	while (j < t->len && j - i < most && t->st[j] == TK_HELD)
		j++;
	if (j == i)
		return;
	ASSERT_EQ_INT(mb_free(t->vol, t->pstart + i, j - i), 0);
	for (uint32_t k = i; k < j; k++)
		t->st[k] = t->persistent ? TK_PENDING : TK_UNUSED;
}

static void tk_commit(struct tk *t)
{
	ASSERT_EQ_INT(mb_commit(t->vol), 0);
	for (uint32_t k = 0; k < t->len; k++)
		if (t->st[k] == TK_PENDING)
			t->st[k] = TK_UNUSED;
}

/* An imposed PA of random length, with used blocks scattered in it. */
static void tk_impose(struct tk *t, struct mb_file *f)
{
	t->len = 1 + (uint32_t)(mb_rand_below(&t->rng, 4) ? mb_rand_below(&t->rng, TK_MAXLEN)
							   : mb_rand_below(&t->rng, 130));
	tk_place(t);
	if (!mb_test_failed)
		tk_scatter(t);
	if (mb_test_failed)
		return;
	t->lstart = mb_rand_below(&t->rng, 1u << 20);
	mb_file_set_size(f, t->lstart + t->len);
	ASSERT_EQ_INT(mb_prealloc_add(t->vol, f, 0, t->pstart, t->lstart, t->len), 0);
}

/*
 * A PA the file's first request makes: a file past 8 MiB gets the 8 MiB
 * window (TK_MAXLEN blocks) holding its block, found whole on this nearly
 * empty volume; the request's share comes out at its offset in it.  *live:
 * the PA still is (the request may use it up).
 */
static void tk_born(struct tk *t, struct mb_file *f, bool *live)
{
	uint32_t off = (uint32_t)mb_rand_below(&t->rng, TK_MAXLEN), room = TK_MAXLEN - off;
	uint32_t n = 1 + (uint32_t)mb_rand_below(&t->rng, mb_rand_below(&t->rng, 2) && room > 16
								  ? 16 : room);
	struct mb_request rq = { .file = f, .len = n, .goal = MB_GOAL_NONE };
	struct mb_extent ex;
	uint64_t before = pa_buddy_free(t->vol);

	t->len = TK_MAXLEN;
	t->lstart = TK_MAXLEN * (1 + mb_rand_below(&t->rng, 400));
	rq.logical = t->lstart + off;
	mb_file_set_size(f, t->lstart + TK_MAXLEN);
	ASSERT_EQ_INT(mb_tunable_set(t->vol, "mb_stats", mb_rand_below(&t->rng, 2)), 0);
	ASSERT_EQ_INT(mb_alloc(t->vol, &rq, &ex), 0);
	ASSERT_EQ_U64(ex.len, n);
	ASSERT_EQ_U64(before - pa_buddy_free(t->vol), TK_MAXLEN); /* the whole window */
	t->pstart = ex.start - off;
	for (uint32_t k = 0; k < TK_MAXLEN; k++)
		t->st[k] = k >= off && k < off + n ? TK_HELD : TK_UNUSED;
	*live = tk_unused(t) > 0;
}

static void tk_round(struct tk *t)
{
	struct mb_file *f;
	bool live = true;
	uint64_t free0 = pa_buddy_free(t->vol);

	ASSERT_EQ_INT(mb_file_open(t->vol, t->ino++, &f), 0);
	if (mb_rand_below(&t->rng, 2))
		tk_impose(t, f);
	else
		tk_born(t, f, &live);
	if (mb_test_failed)
		return;
	for (int step = 0; step < 48 && live; step++) {
		uint64_t r = mb_rand_below(&t->rng, 8);

		if (r < 5)
			tk_request(t, f, &live);
		else if (r < 7)
			tk_give_back(t);
		else if (t->persistent)
			tk_commit(t);
		if (mb_test_failed)
			return;
		ASSERT_CHECK_CLEAN(t->vol);
	}
	/* closing returns the PA's unused blocks, and only those */
	uint32_t unused = live ? tk_unused(t) : 0;
	uint64_t before = pa_buddy_free(t->vol);

	mb_file_close(f);
	ASSERT_EQ_U64(pa_buddy_free(t->vol), before + unused);
	ASSERT_EQ_INT(tk_free_runs(t, TK_HELD, TK_PENDING), 0);
	ASSERT_EQ_INT(tk_free_runs(t, TK_PRE, TK_PENDING), 0);
	if (t->persistent)
		tk_commit(t);
	if (mb_test_failed)
		return;
	ASSERT_CHECK_CLEAN(t->vol);
	ASSERT_EQ_U64(pa_buddy_free(t->vol), free0);
}

static void tk_run(bool persistent)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = TK_BPG,
				   .blocks_count = 4 * TK_BPG, .reserved_per_group = 64 };
	char path[] = "/tmp/mb_pa_take_XXXXXX";
	struct tk *t = calloc(1, sizeof(*t));

	ASSERT_TRUE(t);
	t->persistent = persistent;
	t->rng = mb_test_seed ^ (persistent ? 0x9e3779b97f4a7c15ULL : 0);
	t->ino = 100;
	if (persistent) {
		struct mb_open_opts o = { .commit_interval_s = 0 };
		int fd = mkstemp(path);

		ASSERT_TRUE(fd >= 0);
		close(fd);
		ASSERT_EQ_INT(mb_volume_format(path, &geo, NULL), 0);
		ASSERT_EQ_INT(mb_volume_open(path, &o, &t->vol), 0);
	} else {
		ASSERT_EQ_INT(mb_volume_create(&geo, &t->vol), 0);
	}
	int rounds = (int)(200 * mb_test_scale);

	for (int r = 0; r < rounds && !mb_test_failed; r++)
		tk_round(t);
	if (persistent) {
		ASSERT_EQ_INT(mb_volume_close(t->vol), 0);
		unlink(path);
	} else {
		mb_volume_destroy(t->vol);
	}
	free(t);
}

TEST(takes_match_the_model_in_memory)
{
	tk_run(false);
}

TEST(takes_match_the_model_with_pending_frees)
{
	tk_run(true);
}
