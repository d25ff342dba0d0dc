/* SPDX-License-Identifier: MIT */
/*
 * test_pa_leaf.c - the PA fast path's one-word hit (mb_pa_fast_leaf,
 * prealloc.c) does what the general fast path does for it.  Two volumes
 * take the same requests, frees and discards; one has a test's hook set,
 * which sends every request past the leaf.  After each step the two must
 * agree: the extent, the per-CPU cache's uses (one a hit), the claim's
 * share, and at the end every PA's fields and the volume's check.
 */
#define _GNU_SOURCE
#include <sched.h>

#include "mb_int.h"
#include "pa_util.h"
#include "percpu.h"

#define FILES 3
#define STEPS 6000

static const struct mb_geometry geo = { 4096, 0, 4 * 32768, 0, 0, 0 };

/* the hook that keeps a volume off the leaf; counts the general path's
   inode PA hits that the leaf could have served (a request of one word) */
static uint64_t found;

static void on_hook(void *arg, int id, uint32_t group, int cr)
{
	(void)arg;
	(void)group;
	(void)cr;
	if (id == MB_HOOK_PA_FAST_FOUND)
		found++;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

struct side {
	struct mb_volume *vol;
	struct mb_file *f[FILES];
	uint64_t next[FILES];
};

static void side_open(struct side *s, bool hooked)
{
	ASSERT_EQ_INT(mb_volume_create(&geo, &s->vol), 0);
	if (hooked)
		mb_hook_set(s->vol, on_hook, NULL);
	for (int i = 0; i < FILES; i++) {
		ASSERT_EQ_INT(mb_file_open(s->vol, 20 + (uint64_t)i, &s->f[i]), 0);
		s->next[i] = 0;
	}
}

/* one append of len blocks at file i's end: the error, the extent, and
   the per-CPU cache's uses and this CPU's claim word it left */
struct step {
	int err;
	struct mb_extent ex;
	int32_t used; /* uses of the per-CPU cache: mb_cpu_left's drop */
	uint64_t word;
};

/* uses of the per-CPU cache until `left` remain (a refresh on the way) */
static void cache_left(struct mb_volume *vol, int32_t left)
{
	while ((int32_t)mb_cpu_left != left)
		(void)mb_this_pcpu(vol);
}

/* at_one: the call's first use of the per-CPU cache reads the CPU again
   (the leaf leaves that to the general path); else none of its uses does,
   so the drop counts them */
static struct step side_append(struct side *s, int i, uint32_t len, bool at_one)
{
	struct mb_request rq = { .file = s->f[i], .logical = s->next[i], .len = len,
				 .goal = MB_GOAL_NONE };
	struct step st = { 0 };
	int32_t left = at_one ? 1 : 40;

	mb_file_set_size(s->f[i], s->next[i] + len);
	cache_left(s->vol, left);
	st.err = mb_alloc(s->vol, &rq, &st.ex);
	st.used = left - (int32_t)mb_cpu_left;
	st.word = atomic_load(&mb_this_pcpu(s->vol)->resv_word);
	if (!st.err)
		s->next[i] += st.ex.len;
	return st;
}

static void pa_same(struct mb_pa *a, struct mb_pa *b)
{
	ASSERT_EQ_U64(a->pa_pstart, b->pa_pstart);
	ASSERT_EQ_U64(a->pa_lstart, b->pa_lstart);
	ASSERT_EQ_U64(a->pa_len, b->pa_len);
	ASSERT_EQ_U64(a->pa_free, b->pa_free);
	ASSERT_EQ_U64(a->pa_clean_off, b->pa_clean_off);
	ASSERT_EQ_INT(a->pa_deleted, b->pa_deleted);
}

TEST(leaf_decides_as_the_general_fast_path)
{
	struct side leaf, gen;
	static struct mb_extent blocks[STEPS];
	size_t nb = 0;
	int cpu = sched_getcpu();
	cpu_set_t one;

	/* on one CPU: each step reads this CPU's claim word after both sides'
	   calls, and a move between them read two CPUs' words (a CI assert
	   run under load failed so, 131059 != 832, and passed with its seed
	   again); an error (no such call here) leaves the test as it was */
	CPU_ZERO(&one);
	if (cpu >= 0) {
		CPU_SET(cpu, &one);
		(void)sched_setaffinity(0, sizeof(one), &one);
	}
	side_open(&leaf, false);
	side_open(&gen, true);
	for (int step = 0; step < STEPS; step++) {
		uint32_t r = next_rand() % 100;
		int i = (int)(next_rand() % FILES);

		if (r < 85 || !nb) {
			/* mostly one word or less; some wider, some across a word */
			uint32_t len = r < 60 ? 1 + next_rand() % 16 : 1 + next_rand() % 80;
			bool at_one = next_rand() % 16 == 0;
			struct step a = side_append(&leaf, i, len, at_one);
			struct step b = side_append(&gen, i, len, at_one);

			ASSERT_EQ_INT(a.err, b.err);
			ASSERT_EQ_U64(a.ex.start, b.ex.start);
			ASSERT_EQ_U64(a.ex.len, b.ex.len);
			ASSERT_EQ_U64(a.ex.logical, b.ex.logical);
			ASSERT_EQ_INT(a.used, b.used);
			ASSERT_EQ_U64(a.word, b.word);
			if (!a.err && nb < STEPS)
				blocks[nb++] = a.ex;
		} else if (r < 97) {
			/* a freed extent: later takes look past the clean tail */
			size_t k = next_rand() % nb;

			ASSERT_EQ_INT(mb_free(leaf.vol, blocks[k].start, blocks[k].len),
				      mb_free(gen.vol, blocks[k].start, blocks[k].len));
			blocks[k] = blocks[--nb];
		} else {
			/* a PA discarded: the file's next request makes a window */
			uint64_t b = blocks[next_rand() % nb].start;

			ASSERT_EQ_INT((int)mb_prealloc_discard_at(leaf.vol, leaf.f[i], b),
				      (int)mb_prealloc_discard_at(gen.vol, gen.f[i], b));
		}
	}
	ASSERT_TRUE(found > STEPS / 4); /* the leaf had hits to serve */
	for (int i = 0; i < FILES; i++) {
		struct mb_pa *a = mb_file_pa_from(leaf.f[i], 0), *b = mb_file_pa_from(gen.f[i], 0);

		for (; a && b; a = mb_file_pa_next(a), b = mb_file_pa_next(b))
			pa_same(a, b);
		ASSERT_TRUE(!a && !b);
	}
	ASSERT_EQ_U64(mb_free_counter_sum(leaf.vol), mb_free_counter_sum(gen.vol));
	ASSERT_CHECK_CLEAN(leaf.vol);
	ASSERT_CHECK_CLEAN(gen.vol);
	for (int i = 0; i < FILES; i++) {
		mb_file_close(leaf.f[i]);
		mb_file_close(gen.f[i]);
	}
	mb_volume_destroy(leaf.vol);
	mb_volume_destroy(gen.vol);
}
