/* SPDX-License-Identifier: MIT */
/*
 * test_gset.c - the group sets behind optimized scanning, against a bool
 * array: random add/del/next/test/count at sizes around the 64-bit word
 * and summary-level boundaries, then threads changing disjoint members of
 * shared words at once, after which next() must find exactly the members
 * (a summary bit left clear over a non-empty word hides a group forever).
 * The writers have two paths (gset.h): plain stores while the process has
 * one thread (`one`) and atomic RMWs else; the single-threaded cases run
 * on both, and check every summary bit, not only what next() sees.
 */
#include <pthread.h>
#include <string.h>

#include "harness.h"
#include "gset.h"
#include "mb_test_int.h"

static const uint32_t sizes[] = {1, 63, 64, 65, 4096, 4097, 300000};

static uint32_t naive_next(const bool *in, uint32_t n, uint32_t from)
{
	for (uint32_t i = from; i < n; i++)
		if (in[i])
			return i;
	return UINT32_MAX;
}

/* Walks the set with next() and compares the walk with the model. */
static bool walk_matches(const struct mb_gset *s, const bool *in, uint32_t n)
{
	uint32_t g = mb_gset_next(s, 0), expect = naive_next(in, n, 0);

	while (expect != UINT32_MAX) {
		if (g != expect)
			return false;
		g = expect + 1 < n ? mb_gset_next(s, expect + 1) : UINT32_MAX;
		expect = expect + 1 < n ? naive_next(in, n, expect + 1) : UINT32_MAX;
	}
	return g == UINT32_MAX;
}

/*
 * With one writer no summary bit is ever stale: bit i of level l + 1 is
 * set exactly when word i of level l is non-empty, and the family bit
 * exactly when the top word is (either write path).
 */
static bool summaries_exact(const struct mb_gset *s)
{
	for (int l = 0; l + 1 < s->nlevels; l++)
		for (uint32_t i = 0; i < s->nwords[l]; i++) {
			bool full = atomic_load(&s->lvl[l][i]) != 0;
			bool sum = (atomic_load(&s->lvl[l + 1][i >> 6]) >> (i & 63)) & 1;

			if (full != sum)
				return false;
		}
	if (s->fam && ((atomic_load(s->fam) & s->fam_bit) != 0) !=
			  (atomic_load(&s->lvl[s->nlevels - 1][0]) != 0))
		return false;
	return true;
}

/* A member near a recent one: clusters make words fill up and empty out. */
static uint32_t pick(uint64_t *rng, uint32_t n, uint32_t *hot)
{
	if (mb_rand_below(rng, 4) == 0)
		*hot = (uint32_t)mb_rand_below(rng, n);
	uint32_t g = *hot + (uint32_t)mb_rand_below(rng, 130);

	return g < n ? g : (uint32_t)mb_rand_below(rng, n);
}

/*
 * ops random adds and deletes on s (n groups, members in[], count of
 * them, family bit 7 in *fam next to another set's bit 3), each followed
 * by lookups checked against the model.
 */
static void random_ops_on(struct mb_gset *s, bool *in, uint32_t n, uint32_t count,
			  _Atomic uint64_t *fam, uint64_t *rng, enum mb_gset_writer one, int ops)
{
	uint32_t hot = 0;

	for (int op = 0; op < ops; op++) {
		uint32_t g = pick(rng, n, &hot);

		/* Adds and deletes only change membership, as group.c uses them. */
		if (mb_rand_below(rng, 2) && !in[g]) {
			mb_gset_add_as(s, g, one);
			in[g] = true;
			count++;
		} else if (in[g]) {
			mb_gset_del_as(s, g, one);
			in[g] = false;
			count--;
		}
		uint32_t from = mb_rand_below(rng, 3) ? pick(rng, n, &hot)
						      : (uint32_t)mb_rand_below(rng, n + 10);

		if (mb_gset_next(s, from) != naive_next(in, n, from < n ? from : n)) {
			mb_test_fail(__FILE__, __LINE__, "size %u op %d: next(%u) = %u, want %u", n,
				     op, from, mb_gset_next(s, from), naive_next(in, n, from));
			break;
		}
		/* the inline near-word answer (alloc.c's walks) is next()'s */
		if (mb_gset_next_near(s, from) != naive_next(in, n, from < n ? from : n)) {
			mb_test_fail(__FILE__, __LINE__, "size %u op %d: next_near(%u) = %u, want %u",
				     n, op, from, mb_gset_next_near(s, from),
				     naive_next(in, n, from));
			break;
		}
		/* and the far answer (mb_scan_power2_fast's first look) */
		if (mb_gset_next_far(s, from) != naive_next(in, n, from < n ? from : n)) {
			mb_test_fail(__FILE__, __LINE__, "size %u op %d: next_far(%u) = %u, want %u",
				     n, op, from, mb_gset_next_far(s, from),
				     naive_next(in, n, from));
			break;
		}
		/* a miss in from's word goes on past it (mb_gset_next_past) */
		if (from < n && !mb_gset_word_from(s, from) &&
		    mb_gset_next_past(s, from) != naive_next(in, n, from)) {
			mb_test_fail(__FILE__, __LINE__, "size %u op %d: next_past(%u) = %u, want %u",
				     n, op, from, mb_gset_next_past(s, from), naive_next(in, n, from));
			break;
		}
		/* any_from: never "none" over a member; with exact summaries
		   "some" only for a member in from's top-word bit or past it */
		if (from < n) {
			uint32_t span = from >> s->top_shift << s->top_shift;
			bool any = mb_gset_any_from(s, from);

			if ((naive_next(in, n, from) != UINT32_MAX && !any) ||
			    (any && naive_next(in, n, span) == UINT32_MAX)) {
				mb_test_fail(__FILE__, __LINE__, "size %u op %d: any_from(%u) = %d",
					     n, op, from, any);
				break;
			}
		}
		if (atomic_load(fam) != ((count ? 1ULL << 7 : 0) | 1ULL << 3)) {
			mb_test_fail(__FILE__, __LINE__, "size %u op %d: family word %#llx, %u members",
				     n, op, (unsigned long long)atomic_load(fam), count);
			break;
		}
		if (mb_gset_test(s, g) != in[g]) {
			mb_test_fail(__FILE__, __LINE__, "size %u: test(%u) wrong", n, g);
			break;
		}
		if ((n < 5000 || op % 64 == 0) && !summaries_exact(s)) {
			mb_test_fail(__FILE__, __LINE__, "size %u op %d (one %d): summary bits wrong",
				     n, op, one);
			break;
		}
		if (op % 1000 == 0 && (mb_gset_count(s) != count || !walk_matches(s, in, n))) {
			mb_test_fail(__FILE__, __LINE__, "size %u op %d: count/walk wrong", n, op);
			break;
		}
	}
	if (!mb_test_failed && (!walk_matches(s, in, n) || mb_gset_count(s) != count))
		mb_test_fail(__FILE__, __LINE__, "size %u: final walk wrong", n);
}

static void random_ops(uint32_t n, uint64_t *rng, enum mb_gset_writer one)
{
	struct mb_gset s;
	bool *in = calloc(n, sizeof(bool));

	/* bit 7: this set's family bit; bit 3: another set's, untouched */
	_Atomic uint64_t fam = 1ULL << 3;

	ASSERT_TRUE(in);
	ASSERT_EQ_INT(mb_gset_init(&s, n), 0);
	mb_gset_set_family(&s, &fam, 7);
	random_ops_on(&s, in, n, 0, &fam, rng, one, mb_test_rounds(60000));
	mb_gset_destroy(&s);
	free(in);
}

/* The writers a set of n groups may have (gset.h): MB_GSET_ONE2 and
   MB_GSET_MT2 only for two levels, 65 to 4096 groups */
static bool writer_fits(enum mb_gset_writer one, uint32_t n)
{
	return (one != MB_GSET_ONE2 && one != MB_GSET_MT2) || (n > 64 && n <= 4096);
}

TEST(gset_random_vs_naive)
{
	/* MB_GSET_MT2 too: the exact sets' threaded writer (gset.h,
	   mb_gset_up_mt), its family bit exact with one thread */
	for (int one = MB_GSET_MT2; one >= MB_GSET_MT && !mb_test_failed; one--) {
		uint64_t rng = mb_test_seed;

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && !mb_test_failed; i++)
			if (writer_fits(one, sizes[i]))
				random_ops(sizes[i], &rng, one);
	}
}

/* ------------------------------------------------------------------------ */
/* A family moved by mb_gset_move_ge_as                                     */
/* ------------------------------------------------------------------------ */

#define FAM_K 9 /* sets ge[0..8]; orders -1..8 */

/* ge[k] must hold exactly the groups of order >= k, every summary exact. */
static bool family_matches(const struct mb_gset *ge, const int8_t *order, uint32_t n)
{
	for (int k = 0; k < FAM_K; k++) {
		uint32_t g = mb_gset_next(&ge[k], 0);

		for (uint32_t i = 0; i < n; i++) {
			if (order[i] < k)
				continue;
			if (g != i)
				return false;
			g = i + 1 < n ? mb_gset_next(&ge[k], i + 1) : UINT32_MAX;
		}
		if (g != UINT32_MAX || !summaries_exact(&ge[k]))
			return false;
	}
	return true;
}

/*
 * Groups change order at random, by small steps and by jumps across the
 * whole family (a group filling up or emptying out), clustered so that
 * words empty and refill in every set, as group_sets.c moves them.  With
 * a family word (with_fam) or, as a volume's families, without: a
 * one-thread move's summaries take another path then (gset.h,
 * mb_gset_fam_ups).
 */
static void family_moves(uint32_t n, uint64_t *rng, enum mb_gset_writer one, bool with_fam)
{
	struct mb_gset ge[FAM_K];
	int8_t *order = calloc(n, 1);
	_Atomic uint64_t fam = 0;
	uint32_t hot = 0;

	ASSERT_TRUE(order);
	/* laid out as a volume's (gset.c): MB_GSET_ONE2 moves need it */
	ASSERT_EQ_INT(mb_gset_init_family(ge, FAM_K, n), 0);
	for (int k = 0; k < FAM_K && with_fam; k++)
		mb_gset_set_family(&ge[k], &fam, k);
	for (uint32_t i = 0; i < n; i++)
		order[i] = -1;
	const int ops = mb_test_rounds(20000);

	for (int op = 0; op < ops && !mb_test_failed; op++) {
		uint32_t g = pick(rng, n, &hot);
		int to = mb_rand_below(rng, 2) ? (int)mb_rand_below(rng, FAM_K + 1) - 1
					       : order[g] + (int)mb_rand_below(rng, 3) - 1;

		to = to < -1 ? -1 : to >= FAM_K ? FAM_K - 1 : to;
		mb_gset_move_ge_as(ge, g, order[g], to, one);
		order[g] = (int8_t)to;
		if ((op % (n < 5000 ? 16 : 2000) == 0 || op == ops - 1) &&
		    !family_matches(ge, order, n))
			mb_test_fail(__FILE__, __LINE__,
				     "size %u op %d (one %d, fam %d): family differs", n, op, one,
				     with_fam);
	}
	for (int k = 0; k < FAM_K; k++)
		mb_gset_destroy(&ge[k]);
	free(order);
}

TEST(gset_move_ge_vs_naive)
{
	/* MB_GSET_MT2 too: gset.h's threaded moves of a family (one thread
	   here: their words and summaries must come out exact) */
	for (int one = MB_GSET_MT2; one >= MB_GSET_MT && !mb_test_failed; one--) {
		uint64_t rng = mb_test_seed * 5;

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && !mb_test_failed; i++)
			for (int f = 0; f < 2 && writer_fits(one, sizes[i]); f++)
				family_moves(sizes[i], &rng, one, f);
	}
}

/*
 * Three families moved as group_sets.c moves a volume's free_ge,
 * largest_ge and avg_ge with one thread: a jump of two orders or more
 * that all three make together in one pass (gset.h,
 * mb_gset_move_ge3_two), the other moves one family at a time, so that
 * the families' words and summaries differ when the pass meets them.
 * Family 0 holds the others, order by order, as free_ge holds
 * largest_ge and avg_ge (the pass counts on it): a lone move keeps each
 * group's orders 1 and 2 at most its order 0.  Each family must hold
 * exactly its orders, every summary exact.
 */
static void family3_moves(uint32_t n, uint64_t *rng, bool with_fam)
{
	struct mb_gset ge[3][FAM_K];
	int8_t *order[3];
	_Atomic uint64_t fam[3] = { 0 };
	uint32_t hot = 0;

	for (int f = 0; f < 3; f++) {
		ASSERT_TRUE((order[f] = malloc(n)) != NULL);
		memset(order[f], -1, n);
		ASSERT_EQ_INT(mb_gset_init_family(ge[f], FAM_K, n), 0);
		for (int k = 0; k < FAM_K && with_fam; k++)
			mb_gset_set_family(&ge[f][k], &fam[f], k);
	}
	const int ops = mb_test_rounds(20000);

	for (int op = 0; op < ops && !mb_test_failed; op++) {
		uint32_t g = pick(rng, n, &hot);
		int from = order[0][g], to = (int)mb_rand_below(rng, FAM_K + 1) - 1;

		if (order[1][g] == from && order[2][g] == from && (to > from + 1 || to < from - 1)) {
			mb_gset_move_ge3_two(ge[0], ge[1], ge[2], g >> 6, 1ULL << (g & 63), from,
					     to);
			for (int f = 0; f < 3; f++)
				order[f][g] = (int8_t)to;
		} else { /* one family, by a step or a jump */
			int f = (int)mb_rand_below(rng, 3);

			to = mb_rand_below(rng, 2) ? to : order[f][g] + (int)mb_rand_below(rng, 3) - 1;
			to = to < -1 ? -1 : to >= FAM_K ? FAM_K - 1 : to;
			if (f && to > order[0][g]) /* family 0 holds the others */
				to = order[0][g];
			if (!f && to < order[1][g])
				to = order[1][g];
			if (!f && to < order[2][g])
				to = order[2][g];
			mb_gset_move_ge_as(ge[f], g, order[f][g], to, MB_GSET_ONE2);
			order[f][g] = (int8_t)to;
		}
		if (op % 16 == 0 || op == ops - 1)
			for (int f = 0; f < 3; f++)
				if (!family_matches(ge[f], order[f], n))
					mb_test_fail(__FILE__, __LINE__,
						     "size %u op %d (fam %d): family %d differs", n,
						     op, with_fam, f);
	}
	for (int f = 0; f < 3; f++) {
		for (int k = 0; k < FAM_K; k++)
			mb_gset_destroy(&ge[f][k]);
		free(order[f]);
	}
}

TEST(gset_move_ge3_vs_naive)
{
	uint64_t rng = mb_test_seed * 7;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && !mb_test_failed; i++)
		for (int f = 0; f < 2 && writer_fits(MB_GSET_ONE2, sizes[i]); f++)
			family3_moves(sizes[i], &rng, f);
}

/*
 * A summary bit set over an empty word (a remover between its two steps)
 * only moves next() on: at every level, it still finds the next member.
 */
TEST(gset_stale_summary)
{
	const uint32_t n = 300000; /* four levels */
	const uint32_t members[] = {70, 5000, 200000, 299999};
	bool *in = calloc(n, sizeof(bool));
	struct mb_gset s;

	ASSERT_TRUE(in);
	ASSERT_EQ_INT(mb_gset_init(&s, n), 0);
	ASSERT_EQ_INT(s.nlevels, 4);
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		mb_gset_add(&s, members[i]);
		in[members[i]] = true;
	}
	/* stale bits: level-0 words 0, 3 and 100 (groups 0-63, 192-255,
	   6400-6463), level-1 words 2 and 40 (groups 8192-12287, 163840-...) */
	atomic_fetch_or(&s.lvl[1][0], 1ULL << 0 | 1ULL << 3);
	atomic_fetch_or(&s.lvl[1][1], 1ULL << (100 - 64));
	atomic_fetch_or(&s.lvl[2][0], 1ULL << 2 | 1ULL << 40);
	/* the model's answers for every from, in one pass from the end:
	   naive_next from each of 13,000 froms read up to 195,000 flags
	   apiece, ~40 s of this test under TSan */
	uint32_t *next = malloc(((size_t)n + 1) * sizeof(*next));

	ASSERT_TRUE(next);
	next[n] = UINT32_MAX;
	for (uint32_t i = n; i-- > 0;)
		next[i] = in[i] ? i : next[i + 1];
	for (uint32_t from = 0; from < n; from += from < 13000 ? 1 : 97) {
		uint32_t got = mb_gset_next(&s, from), want = next[from];
		/* past from's word when it has none at or past from: level 1 up */
		uint32_t past = mb_gset_word_from(&s, from) ? want : mb_gset_next_past(&s, from);

		if (got != want || past != want || mb_gset_next_far(&s, from) != want) {
			mb_test_fail(__FILE__, __LINE__, "next(%u) = %u, next_past %u, want %u", from,
				     got, past, want);
			break;
		}
	}
	ASSERT_EQ_U64(mb_gset_next(&s, n), UINT32_MAX);
	mb_gset_destroy(&s);
	free(next);
	free(in);
}

/*
 * The same at two levels (the top one word: mb_gset_next's own path there),
 * stale top bits before, between and after the members' words, and the
 * last word partly past the set's end.
 */
TEST(gset_stale_summary_two_levels)
{
	const uint32_t n = 4000; /* words 0..62, the last one partly used */
	const uint32_t members[] = {70, 130, 1000, 3999};
	bool *in = calloc(n, sizeof(bool));
	struct mb_gset s;

	ASSERT_TRUE(in);
	ASSERT_EQ_INT(mb_gset_init(&s, n), 0);
	ASSERT_EQ_INT(s.nlevels, 2);
	ASSERT_EQ_U64(mb_gset_next(&s, 0), UINT32_MAX);
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		mb_gset_add_as(&s, members[i], true);
		in[members[i]] = true;
	}
	/* stale bits: words 0, 3 (between 130's word 2 and 1000's 15) and 40 */
	atomic_fetch_or(&s.lvl[1][0], 1ULL << 0 | 1ULL << 3 | 1ULL << 40);
	for (uint32_t from = 0; from <= n; from++) {
		uint32_t got = mb_gset_next(&s, from), want = naive_next(in, n, from);
		uint32_t far = mb_gset_next_far(&s, from); /* its inline walk of the top */

		if (got != want || far != want) {
			mb_test_fail(__FILE__, __LINE__, "next(%u) = %u, next_far %u, want %u", from,
				     got, far, want);
			break;
		}
	}
	mb_gset_destroy(&s);
	free(in);
}

/* Emptying the set and refilling it leaves no stale summary bit behind. */
TEST(gset_fill_drain)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t n = sizes[i];
		struct mb_gset s;

		ASSERT_EQ_INT(mb_gset_init(&s, n), 0);
		for (uint32_t g = 0; g < n; g++)
			mb_gset_add(&s, g);
		ASSERT_EQ_U64(mb_gset_count(&s), n);
		for (uint32_t g = 0; g + 1 < n; g++)
			mb_gset_del(&s, g);
		ASSERT_EQ_U64(mb_gset_next(&s, 0), n - 1);
		mb_gset_del(&s, n - 1);
		ASSERT_EQ_U64(mb_gset_next(&s, 0), UINT32_MAX);
		ASSERT_EQ_U64(mb_gset_count(&s), 0);
		for (uint32_t w = 0; w < s.nwords[s.nlevels - 1]; w++)
			ASSERT_EQ_U64(atomic_load(&s.lvl[s.nlevels - 1][w]), 0);
		mb_gset_add(&s, n / 2);
		ASSERT_EQ_U64(mb_gset_next(&s, 0), n / 2);
		ASSERT_EQ_U64(mb_gset_next(&s, n / 2 + 1 < n ? n / 2 + 1 : n), UINT32_MAX);
		mb_gset_destroy(&s);

		/* fill, as volume setup does, sets the family bit too */
		_Atomic uint64_t fam = 0;

		ASSERT_EQ_INT(mb_gset_init(&s, n), 0);
		mb_gset_set_family(&s, &fam, 63);
		mb_gset_fill(&s, 0, NULL);
		ASSERT_EQ_U64(atomic_load(&fam), 0);
		mb_gset_fill(&s, n, NULL);
		ASSERT_EQ_U64(atomic_load(&fam), 1ULL << 63);
		for (uint32_t g = 0; g < n; g++)
			mb_gset_del(&s, g);
		ASSERT_EQ_U64(atomic_load(&fam), 0);
		mb_gset_destroy(&s);
	}
}

/* ------------------------------------------------------------------------ */
/* Fills mapped copy-on-write from an image (volumes of 64 TiB and more)     */
/* ------------------------------------------------------------------------ */

/* Every word of every level alike. */
static bool words_equal(const struct mb_gset *a, const struct mb_gset *b)
{
	if (a->nlevels != b->nlevels)
		return false;
	for (int l = 0; l < a->nlevels; l++)
		for (uint32_t i = 0; i < a->nwords[l]; i++)
			if (atomic_load(&a->lvl[l][i]) != atomic_load(&b->lvl[l][i]))
				return false;
	return true;
}

/* Levels of at least MB_BIGMEM_MIN bytes with a member: what fill maps. */
static int levels_mapped(uint32_t nbits, uint32_t n)
{
	int levels = 0;

	for (uint32_t bits = nbits; bits > 1 && n; bits = (bits + 63) / 64, n = (n + 63) / 64)
		levels += (bits + 63) / 64 * sizeof(uint64_t) >= MB_BIGMEM_MIN;
	return levels;
}

/*
 * A set filled from an image holds, at every level, the words a fill by
 * stores makes (past the members too: the file's hole reads as zeros);
 * then random changes against the model, on both write paths, while a
 * sibling mapped from the same image keeps the image's words: each set's
 * first write to a page copies it for that set only.  The image is closed
 * before the changes: the mappings keep the file.
 */
static const struct {
	uint32_t nbits, n;
	int ops;
} fill_cases[] = {
	{524288, 524287, 60000},	    /* level 0 just mmap'd; as a volume: all but the last */
	{524288 + 77, 524288 + 76, 60000}, /* the members end in the middle of a word */
	{1u << 20, 32768 * 3, 60000},	    /* ... at the end of a page of level 0 */
	{1u << 20, 32768 * 3 + 1, 60000},  /* ... one past */
	{(1u << 20) + 4097 * 64, 200, 60000}, /* a few members, level 0 mostly hole */
	{(1u << 25) + 64 * 64 + 3, (1u << 25) + 5, 3000}, /* levels 0 and 1 mapped */
};

TEST(gset_fill_image_vs_naive)
{
	uint64_t rng = mb_test_seed;

	for (size_t c = 0; c < sizeof(fill_cases) / sizeof(fill_cases[0]) && !mb_test_failed; c++) {
		uint32_t nbits = fill_cases[c].nbits, n = fill_cases[c].n;
		bool *in = malloc(nbits);

		ASSERT_TRUE(in);
		for (int one = 1; one >= 0 && !mb_test_failed; one--) {
			struct mb_gset a, b, ref, other;
			struct mb_gset_image img;
			_Atomic uint64_t fam = 1ULL << 3;

			ASSERT_EQ_INT(mb_gset_init(&a, nbits), 0);
			ASSERT_EQ_INT(mb_gset_init(&b, nbits), 0);
			ASSERT_EQ_INT(mb_gset_init(&ref, nbits), 0);
			ASSERT_EQ_INT(mb_gset_init(&other, nbits + 64), 0);
			mb_gset_set_family(&a, &fam, 7);
			mb_gset_image_open(&img, nbits, n);
#ifdef __linux__
			ASSERT_TRUE(img.fd >= 0); /* else this test checks only stores */
#endif
			int want = img.fd >= 0 ? levels_mapped(nbits, n) : 0;

			ASSERT_TRUE(want || img.fd < 0);
			ASSERT_EQ_INT(mb_gset_fill(&a, n, &img), want);
			ASSERT_EQ_INT(mb_gset_fill(&b, n, &img), want);
			/* another size's set does not take the image */
			ASSERT_EQ_INT(mb_gset_fill(&other, n, &img), 0);
			mb_gset_image_close(&img);
			ASSERT_EQ_INT(mb_gset_fill(&ref, n, NULL), 0);
			ASSERT_TRUE(words_equal(&a, &ref));
			ASSERT_TRUE(words_equal(&b, &ref));
			ASSERT_TRUE(summaries_exact(&a));
			ASSERT_EQ_U64(mb_gset_count(&a), n);
			ASSERT_EQ_U64(mb_gset_next(&other, n), UINT32_MAX);
			ASSERT_EQ_U64(mb_gset_count(&other), n);
			ASSERT_EQ_U64(atomic_load(&fam), 1ULL << 7 | 1ULL << 3);
			for (uint32_t g = 0; g < nbits; g++)
				in[g] = g < n;
			ASSERT_TRUE(walk_matches(&a, in, nbits));
			random_ops_on(&a, in, nbits, n, &fam, &rng, one,
				      mb_test_rounds(fill_cases[c].ops));
			ASSERT_TRUE(words_equal(&b, &ref)); /* a's writes stayed a's */
			mb_gset_destroy(&a);
			mb_gset_destroy(&b);
			mb_gset_destroy(&ref);
			mb_gset_destroy(&other);
		}
		free(in);
	}
}

/* ------------------------------------------------------------------------ */
/* Threads on disjoint members of shared words                               */
/* ------------------------------------------------------------------------ */

struct stress_arg {
	struct mb_gset *s;
	bool *in; /* this thread writes only its own members' slots */
	uint32_t n, tid, nthreads;
	uint64_t seed;
	int ops;
	uint32_t drift; /* words the window moves every 4000 steps */
};

/*
 * Thread t owns members g with g % nthreads == t, so every word is shared.
 * Each step fills or empties this thread's part of one word of a small
 * window, so words really go empty (summary bits cleared) while another
 * thread refills them: the race gset.c's re-check exists for.
 */
static void *stress_thread(void *p)
{
	struct stress_arg *a = p;
	uint64_t rng = a->seed;
	uint32_t nwords = (a->n + 63) / 64;

	for (int i = 0; i < a->ops; i++) {
		/* The window drifts across level-1 word boundaries too. */
		uint32_t base = nwords > 8 ? (uint32_t)(i / 4000) * a->drift % (nwords - 7) : 0;
		uint32_t w = base + (uint32_t)mb_rand_below(&rng, nwords < 8 ? nwords : 8);
		bool add = mb_rand_below(&rng, 2);

		for (uint32_t g = w * 64; g < w * 64 + 64 && g < a->n; g++) {
			if (g % a->nthreads != a->tid || a->in[g] == add)
				continue;
			if (add)
				mb_gset_add(a->s, g);
			else
				mb_gset_del(a->s, g);
			a->in[g] = add;
		}
	}
	return NULL;
}

/* filled: the set starts with every group, mapped from an image (the
   threads' first writes to each page copy it: gset.c) */
static void run_stress(uint32_t n, uint32_t nthreads, uint64_t seed, bool filled)
{
	struct mb_gset s;
	pthread_t th[4];
	struct stress_arg args[4];
	bool *in = calloc(n, sizeof(bool));

	ASSERT_TRUE(in);
	ASSERT_EQ_INT(mb_gset_init(&s, n), 0);
	if (filled) {
		struct mb_gset_image img;

		mb_gset_image_open(&img, n, n);
		ASSERT_TRUE(mb_gset_fill(&s, n, &img) || img.fd < 0);
		mb_gset_image_close(&img);
		memset(in, 1, n);
	}
	for (uint32_t t = 0; t < nthreads; t++) {
		args[t] = (struct stress_arg){&s, in, n, t, nthreads, seed + t, 30000,
					       filled ? 613 : 61}; /* filled: over pages */
		ASSERT_EQ_INT(pthread_create(&th[t], NULL, stress_thread, &args[t]), 0);
	}
	for (uint32_t t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	uint32_t count = 0;

	for (uint32_t g = 0; g < n; g++)
		count += in[g];
	if (!walk_matches(&s, in, n))
		mb_test_fail(__FILE__, __LINE__,
			     "n %u threads %u: next() misses or invents members", n, nthreads);
	ASSERT_EQ_U64(mb_gset_count(&s), count);
	mb_gset_destroy(&s);
	free(in);
}

TEST(gset_threads_disjoint_members)
{
	for (uint32_t nthreads = 2; nthreads <= 4 && !mb_test_failed; nthreads++) {
		run_stress(4097, nthreads, mb_test_seed + nthreads, false);
		run_stress(300000, nthreads, mb_test_seed * 3 + nthreads, false);
	}
	run_stress(524288 + 77, 3, mb_test_seed * 5, true);
}

/* ------------------------------------------------------------------------ */
/* The summary-bit race, checked at quiescent points                         */
/* ------------------------------------------------------------------------ */

/*
 * Each thread owns one member in each of four words that straddle summary
 * word boundaries at levels 1 and 2, so nearly every delete empties a word
 * while another thread may be adding to it.  After each short burst all
 * threads stop at a barrier and thread 0 walks the set with next(): a
 * summary bit lost in the burst shows up as a missing member.
 */
static const uint32_t race_words[] = {63, 64, 4095, 4096};
#define RACE_NWORDS 4
#define RACE_N 300000

struct race_arg {
	struct mb_gset *s;
	bool *in; /* [word][thread]; slot written by its thread only */
	uint32_t tid, nthreads;
	uint64_t seed;
	int rounds;
	pthread_barrier_t *bar;
	int *bad_round; /* written by thread 0 between barriers */
};

static uint32_t race_member(uint32_t wi, uint32_t tid)
{
	return race_words[wi] * 64 + tid * 13;
}

/* Thread 0, everyone parked: the walk from 0 must list exactly the members. */
static bool race_walk_ok(struct race_arg *a)
{
	uint32_t g = mb_gset_next(a->s, 0);

	for (uint32_t wi = 0; wi < RACE_NWORDS; wi++) {
		for (uint32_t t = 0; t < a->nthreads; t++) {
			if (!a->in[wi * 4 + t])
				continue;
			if (g != race_member(wi, t))
				return false;
			g = mb_gset_next(a->s, g + 1);
		}
	}
	return g == UINT32_MAX;
}

static void *race_thread(void *p)
{
	struct race_arg *a = p;
	uint64_t rng = a->seed;

	for (int r = 0; r < a->rounds && *a->bad_round < 0; r++) {
		for (int i = 0; i < 16; i++) {
			uint32_t wi = (uint32_t)mb_rand_below(&rng, RACE_NWORDS);
			bool *slot = &a->in[wi * 4 + a->tid];

			if (*slot)
				mb_gset_del(a->s, race_member(wi, a->tid));
			else
				mb_gset_add(a->s, race_member(wi, a->tid));
			*slot = !*slot;
		}
		pthread_barrier_wait(a->bar);
		if (a->tid == 0 && !race_walk_ok(a))
			*a->bad_round = r;
		pthread_barrier_wait(a->bar);
	}
	return NULL;
}

TEST(gset_summary_race_quiescent_walk)
{
	int rounds = (int)(20000 * mb_test_scale);

	for (uint32_t nthreads = 2; nthreads <= 4 && !mb_test_failed; nthreads++) {
		struct mb_gset s;
		pthread_t th[4];
		struct race_arg args[4];
		pthread_barrier_t bar;
		bool in[RACE_NWORDS * 4] = {false};
		int bad_round = -1;

		ASSERT_EQ_INT(mb_gset_init(&s, RACE_N), 0);
		pthread_barrier_init(&bar, NULL, nthreads);
		for (uint32_t t = 0; t < nthreads; t++) {
			args[t] = (struct race_arg){
			    &s, in, t, nthreads, mb_test_seed + 77 * t, rounds, &bar, &bad_round};
			ASSERT_EQ_INT(pthread_create(&th[t], NULL, race_thread, &args[t]), 0);
		}
		for (uint32_t t = 0; t < nthreads; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&bar);
		mb_gset_destroy(&s);
		if (bad_round >= 0)
			mb_test_fail(__FILE__, __LINE__,
				     "%u threads: after round %d next() misses a member", nthreads,
				     bad_round);
	}
}

/* ------------------------------------------------------------------------ */
/* The family bit's race, made to happen                                     */
/* ------------------------------------------------------------------------ */

static uint32_t fam_hook_add = UINT32_MAX; /* the member the "other thread" adds */

static void fam_hook(struct mb_gset *s)
{
	if (fam_hook_add != UINT32_MAX)
		mb_gset_add(s, fam_hook_add); /* sets the family bit, which is still set */
	fam_hook_add = UINT32_MAX;
}

/*
 * A delete empties the set, and before it clears the family bit an adder
 * puts a member in (its add finds the bit set and leaves it).  The delete
 * must see the member on its re-check and set the bit again: a family bit
 * clear over a non-empty set hides the whole order from the scan.
 */
TEST(gset_family_bit_race)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t n = sizes[i];
		struct mb_gset s;
		_Atomic uint64_t fam = 0;

		ASSERT_EQ_INT(mb_gset_init(&s, n), 0);
		mb_gset_set_family(&s, &fam, 5);
		mb_gset_add(&s, 0);
		fam_hook_add = n - 1;
		mb_gset_family_hook = fam_hook;
		mb_gset_del(&s, 0);
		mb_gset_family_hook = NULL;
		ASSERT_EQ_U64(mb_gset_next(&s, 0), n - 1);
		ASSERT_EQ_U64(atomic_load(&fam), 1ULL << 5);
		mb_gset_destroy(&s);
	}
}

/* ------------------------------------------------------------------------ */
/* A re-checking remover that sets a summary bit again owns the one above    */
/* ------------------------------------------------------------------------ */

static bool recheck_armed;

/*
 * Remover R (deleting group 0) has cleared word 0's summary bit and not yet
 * re-checked word 0.  Adder A puts group 1 in word 0 and stops before its
 * summary bit; remover R2 deletes group 64, the only other member under
 * that summary word, which empties it, so R2 clears the bit above (the
 * family bit when that word is the top) and finds nothing on its re-check.
 */
static void recheck_hook(struct mb_gset *s, int l)
{
	if (!recheck_armed || l != 0)
		return;
	recheck_armed = false;
	atomic_fetch_or(&s->lvl[0][0], 1ULL << 1); /* A's first step */
	mb_gset_del(s, 64);                        /* R2, whole */
}

/*
 * Then R re-checks, finds group 1 and sets word 0's summary bit again, in
 * a summary word now empty; A sets that bit, finds it set, and stops.  If
 * R stopped too, nobody would set the bit above: group 1 would be hidden
 * (from next() at three levels or more, from the family word at two).
 */
TEST(gset_recheck_readd_propagates)
{
	static const uint32_t rsizes[] = {65, 4097, 300000};

	for (size_t i = 0; i < sizeof(rsizes) / sizeof(rsizes[0]) && !mb_test_failed; i++) {
		uint32_t n = rsizes[i];
		struct mb_gset s;
		_Atomic uint64_t fam = 0;

		ASSERT_EQ_INT(mb_gset_init(&s, n), 0);
		mb_gset_set_family(&s, &fam, 2);
		mb_gset_add(&s, 0);
		mb_gset_add(&s, 64);
		if (n > 4096)
			mb_gset_add(&s, n - 1); /* keeps a higher summary word non-empty */
		recheck_armed = true;
		mb_gset_recheck_hook = recheck_hook;
		mb_gset_del(&s, 0);
		mb_gset_recheck_hook = NULL;
		ASSERT_TRUE(!recheck_armed);
		/* A's second step: the summary bit R set again is there */
		ASSERT_TRUE(atomic_fetch_or(&s.lvl[1][0], 1ULL) & 1ULL);
		ASSERT_EQ_U64(mb_gset_next(&s, 0), 1);
		ASSERT_EQ_U64(atomic_load(&fam), 1ULL << 2);
		ASSERT_TRUE(summaries_exact(&s));
		mb_gset_destroy(&s);
	}
}

/* ------------------------------------------------------------------------ */
/* Threads moving disjoint groups through one family, each word's writers   */
/* excluded by its lock (vol->set_locks' contract, gset.h)                  */
/* ------------------------------------------------------------------------ */

struct fam_arg {
	struct mb_gset *ge;
	int8_t *order; /* this thread writes only its own groups' slots */
	pthread_mutex_t *wlock; /* wlock[w]: held to write word w of level 0 */
	uint32_t n, tid, nthreads;
	uint64_t seed;
};

/* Thread t owns groups g % nthreads == t, in a small drifting window so
   that words of every set empty while another thread refills them: the
   threads share level 0's words (each under its lock, as moves hold
   vol->set_locks) and race on the summaries and the family word. */
static void *fam_thread(void *p)
{
	struct fam_arg *a = p;
	uint64_t rng = a->seed;
	uint32_t span = a->n < 512 ? a->n : 512;

	for (int i = 0; i < 20000; i++) {
		uint32_t base = (uint32_t)(i / 2000) * 613 % (a->n - span + 1);
		uint32_t g = base + (uint32_t)mb_rand_below(&rng, span);

		g -= g % a->nthreads;
		g += a->tid;
		if (g >= a->n)
			continue;
		int to = (int)mb_rand_below(&rng, FAM_K + 1) - 1;

		pthread_mutex_lock(&a->wlock[g >> 6]);
		mb_gset_move_ge_as(a->ge, g, a->order[g], to, false);
		pthread_mutex_unlock(&a->wlock[g >> 6]);
		a->order[g] = (int8_t)to;
	}
	return NULL;
}

TEST(gset_threads_move_ge)
{
	/* 2048: two levels, whose summaries gset.h's mb_gset_up_mt writes inline */
	static const uint32_t tsizes[] = {2048, 4097, 300000};

	for (size_t i = 0; i < sizeof(tsizes) / sizeof(tsizes[0]) && !mb_test_failed; i++) {
		uint32_t n = tsizes[i], nthreads = 3;
		struct mb_gset ge[FAM_K];
		int8_t *order = malloc(n);
		pthread_mutex_t *wlock = malloc((n + 63) / 64 * sizeof(*wlock));
		_Atomic uint64_t fam = 0;
		pthread_t th[3];
		struct fam_arg args[3];

		ASSERT_TRUE(order && wlock);
		memset(order, -1, n);
		for (uint32_t w = 0; w < (n + 63) / 64; w++)
			pthread_mutex_init(&wlock[w], NULL);
		for (int k = 0; k < FAM_K; k++) {
			ASSERT_EQ_INT(mb_gset_init(&ge[k], n), 0);
			mb_gset_set_family(&ge[k], &fam, k);
		}
		for (uint32_t t = 0; t < nthreads; t++) {
			args[t] = (struct fam_arg){ge, order, wlock, n, t, nthreads, mb_test_seed * 7 + t};
			ASSERT_EQ_INT(pthread_create(&th[t], NULL, fam_thread, &args[t]), 0);
		}
		for (uint32_t t = 0; t < nthreads; t++)
			pthread_join(th[t], NULL);
		/* quiescent: no summary bit clear over a member (stale set ones may
		   remain, so only next() and the family word are compared) */
		for (int k = 0; k < FAM_K && !mb_test_failed; k++) {
			bool any = false;
			uint32_t g = mb_gset_next(&ge[k], 0);

			for (uint32_t x = 0; x < n; x++) {
				if (order[x] < k)
					continue;
				any = true;
				if (g != x) {
					mb_test_fail(__FILE__, __LINE__, "n %u set %d: next() gives %u, want %u",
						     n, k, g, x);
					break;
				}
				g = mb_gset_next(&ge[k], x + 1);
			}
			if (!mb_test_failed && g != UINT32_MAX)
				mb_test_fail(__FILE__, __LINE__, "n %u set %d: next() invents %u", n, k, g);
			if (any && !(atomic_load(&fam) & 1ULL << k))
				mb_test_fail(__FILE__, __LINE__, "n %u set %d: family bit clear", n, k);
		}
		for (int k = 0; k < FAM_K; k++)
			mb_gset_destroy(&ge[k]);
		for (uint32_t w = 0; w < (n + 63) / 64; w++)
			pthread_mutex_destroy(&wlock[w]);
		free(wlock);
		free(order);
	}
}

/* ------------------------------------------------------------------------ */
/* A threaded move's inline summaries (two levels, gset.h mb_gset_up_mt),    */
/* their races made to happen                                                */
/* ------------------------------------------------------------------------ */

static bool mt2_armed;

/* After the move that filled word 0 has looked at the family bit, found
   it set (group 64 is in), and before it would set it: another word's
   writer (its lock held) moves group 64 out, whole, which empties the
   top word unless the adder's bit is there already. */
static void mt2_adder_hook(struct mb_gset *s)
{
	if (!mt2_armed)
		return;
	mt2_armed = false;
	mb_gset_move_ge_as(s, 64, 0, -1, false);
}

/* Before the move that emptied the set clears its family bit, another
   word's writer (its lock held) moves group 64 in, whole: the top word was
   empty, the family bit still set. */
static void mt2_family_hook(struct mb_gset *s)
{
	if (!mt2_armed)
		return;
	mt2_armed = false;
	mb_gset_move_ge_as(s, 64, -1, 0, false);
}

/*
 * Threaded moves in and out of a set of two levels, one set as its family
 * of one (ge[0]: orders 0 and -1), with a family word: gset.h's
 * mb_gset_up_mt, its two races made to happen (each word's writers are
 * excluded by their lock, so only the top word and the family word are
 * shared).  First the adder's: it sets its bit in the top word, then
 * looks at the family bit; a remover of another word that empties the
 * top word in between must see the adder's bit, or clear the family bit
 * after the adder found it set (a look before the top word's bit, the
 * plant, hides the set).  Then the remover's: it must look at the top
 * word after its clear of the family bit and set the bit again for an
 * adder that found it still set.
 */
TEST(gset_move_ge_threaded_two_levels_races)
{
	/* ge[-1] and ge[1] inside one object: the moves index the set
	   array by order, -1 the way out, and gcc -O0 with -Werror
	   (the Debug build) warns of a write outside a lone set on a path
	   it cannot rule out */
	struct mb_gset sets[3];
	struct mb_gset *s = &sets[1];
	_Atomic uint64_t fam = 0;

	ASSERT_EQ_INT(mb_gset_init(s, 4096), 0);
	ASSERT_EQ_INT(s->nlevels, 2);
	mb_gset_set_family(s, &fam, 3);
	mb_gset_move_ge_as(s, 64, -1, 0, false); /* group 64 alone: the bit set */
	ASSERT_EQ_U64(atomic_load(&fam), 1ULL << 3);
	mt2_armed = true;
	mb_gset_adder_hook = mt2_adder_hook;
	mb_gset_move_ge_as(s, 0, -1, 0, false);
	mb_gset_adder_hook = NULL;
	ASSERT_TRUE(!mt2_armed);
	ASSERT_EQ_U64(atomic_load(&s->top), 1ULL);
	ASSERT_EQ_U64(mb_gset_next(s, 0), 0);
	ASSERT_EQ_U64(atomic_load(&fam), 1ULL << 3);
	ASSERT_TRUE(mb_gset_summaries_ok(s));

	/* the remover's race: group 0 the only member */
	ASSERT_EQ_U64(atomic_load(&fam), 1ULL << 3);
	mt2_armed = true;
	mb_gset_family_hook = mt2_family_hook;
	mb_gset_move_ge_as(s, 0, 0, -1, false);
	mb_gset_family_hook = NULL;
	ASSERT_TRUE(!mt2_armed);
	ASSERT_EQ_U64(mb_gset_next(s, 0), 64);
	ASSERT_EQ_U64(atomic_load(&fam), 1ULL << 3);
	ASSERT_TRUE(mb_gset_summaries_ok(s));
	mb_gset_destroy(s);
}
