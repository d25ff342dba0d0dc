/* SPDX-License-Identifier: MIT */
/*
 * gset.c - sets of groups for optimized scanning (ext4's mb_optimize_scan
 * lists, in the 6.17 shape: indexed by group and walked from the goal
 * group upward, then wrapping).  A 64-ary bitmap tree: level 0 has a bit
 * per group, level i+1 a bit per non-empty word of level i.
 *
 * Concurrency: updates are atomic RMWs made by the holder of that group's
 * lock; lookups are lock-free hints.  The one invariant that matters is
 * "no summary bit stays clear over a non-empty word", else a group could
 * become invisible.  A remover clears the summary bit when its word became
 * empty and then re-reads the word; if an adder slipped in, it sets the
 * summary bit again.  An adder sets the word bit before the summary bit.
 * With sequentially consistent RMWs every interleaving ends with the
 * summary set whenever the word is non-empty.  A family word (fam) is one
 * more level above the top word, shared by a family of sets: a bit per
 * set, kept the same way.
 */
#include <stdlib.h>

#include "mb_int.h"

int mb_gset_init(struct mb_gset *s, uint32_t nbits)
{
	uint32_t bits = nbits ? nbits : 1;

	s->nbits = nbits;
	s->nlevels = 0;
	s->fam = NULL;
	s->fam_bit = 0;
	do {
		uint32_t words = (bits + 63) / 64;

		if (s->nlevels == MB_GSET_MAX_LEVELS)
			return -EINVAL;
		s->lvl[s->nlevels] = mb_zmap(words * sizeof(uint64_t));
		if (!s->lvl[s->nlevels]) {
			mb_gset_destroy(s);
			return -ENOMEM;
		}
		s->nwords[s->nlevels++] = words;
		bits = words;
	} while (bits > 1);
	return 0;
}

void mb_gset_destroy(struct mb_gset *s)
{
	for (int i = 0; i < s->nlevels; i++)
		mb_zunmap((void *)s->lvl[i], s->nwords[i] * sizeof(uint64_t));
	s->nlevels = 0;
}

/* From now on fam's bit `bit` says whether s has a member (s still empty). */
void mb_gset_set_family(struct mb_gset *s, _Atomic uint64_t *fam, int bit)
{
	assert(bit < 64 && !atomic_load(&s->lvl[s->nlevels - 1][0]));
	s->fam = fam;
	s->fam_bit = 1ULL << bit;
}

/*
 * Makes groups [0, n) members, summaries included.  Only before the set is
 * shared (volume creation): plain stores, O(n / 64).
 */
void mb_gset_fill(struct mb_gset *s, uint32_t n)
{
	if (n && s->fam)
		atomic_fetch_or_explicit(s->fam, s->fam_bit, memory_order_relaxed);
	for (int l = 0; l < s->nlevels && n; l++) {
		mb_zmap_prefault((void *)s->lvl[l], (n + 63) / 64 * sizeof(uint64_t));
		for (uint32_t w = 0; w < n / 64; w++)
			atomic_store_explicit(&s->lvl[l][w], ~0ULL, memory_order_relaxed);
		if (n % 64)
			atomic_store_explicit(&s->lvl[l][n / 64], (1ULL << (n % 64)) - 1,
					      memory_order_relaxed);
		n = (n + 63) / 64;
	}
}

void mb_gset_add(struct mb_gset *s, uint32_t g)
{
	for (int l = 0; l < s->nlevels; l++, g >>= 6) {
		uint64_t bit = 1ULL << (g & 63);
		uint64_t old = atomic_fetch_or(&s->lvl[l][g >> 6], bit);

		if (old)
			return; /* the word was non-empty: its summary bit is set */
	}
	if (s->fam) /* the top word was empty */
		atomic_fetch_or(s->fam, s->fam_bit);
}

#ifdef MB_TESTING
void (*mb_gset_family_hook)(struct mb_gset *s);
#endif

/* The top word emptied: clear the family bit, re-checking for an adder. */
static void mb_gset_family_del(struct mb_gset *s)
{
	if (!s->fam)
		return;
#ifdef MB_TESTING
	if (mb_gset_family_hook)
		mb_gset_family_hook(s);
#endif
	atomic_fetch_and(s->fam, ~s->fam_bit);
	if (atomic_load(&s->lvl[s->nlevels - 1][0]))
		atomic_fetch_or(s->fam, s->fam_bit); /* an adder raced us */
}

void mb_gset_del(struct mb_gset *s, uint32_t g)
{
	uint64_t bit = 1ULL << (g & 63);
	uint64_t old = atomic_fetch_and(&s->lvl[0][g >> 6], ~bit);

	if (old & ~bit)
		return; /* the word is still non-empty */
	/* Word g>>6 may have emptied: clear summary bits upward, re-checking. */
	for (int l = 0; l + 1 < s->nlevels; l++) {
		uint32_t wi = g >> (6 * (l + 1)); /* word index at level l */
		_Atomic uint64_t *cur = &s->lvl[l][wi];
		_Atomic uint64_t *par = &s->lvl[l + 1][wi >> 6];
		uint64_t pbit = 1ULL << (wi & 63);
		uint64_t pold = atomic_fetch_and(par, ~pbit);

		if (atomic_load(cur)) {
			atomic_fetch_or(par, pbit); /* an adder raced us */
			return;
		}
		if (pold & ~pbit)
			return; /* the parent word is still non-empty */
	}
	mb_gset_family_del(s);
}

bool mb_gset_test(const struct mb_gset *s, uint32_t g)
{
	return (atomic_load_explicit(&s->lvl[0][g >> 6], memory_order_relaxed) >> (g & 63)) & 1;
}

static uint32_t mb_gset_level_bits(const struct mb_gset *s, int l)
{
	return l ? s->nwords[l - 1] : s->nbits;
}

/*
 * First member >= from: up the levels while from's word there has no bit
 * at or past it, then down through the first set bits.  A stale summary
 * bit (its word found empty on the way down) restarts the search past
 * that word: it just moves the search on.  No recursion, no call: a scan
 * asks this once per set it visits.
 */
uint32_t mb_gset_next(const struct mb_gset *s, uint32_t from)
{
	uint64_t pos = from;

again:
	if (pos >= s->nbits)
		return UINT32_MAX;
	uint32_t i = (uint32_t)pos;
	int l = 0;
	uint64_t w;

	for (;;) {
		w = atomic_load_explicit(&s->lvl[l][i >> 6], memory_order_relaxed) &
		    (~0ULL << (i & 63));
		if (w)
			break;
		if (l + 1 == s->nlevels)
			return UINT32_MAX;
		i = (i >> 6) + 1; /* the next word of level l, as a bit of level l + 1 */
		if (i >= mb_gset_level_bits(s, ++l))
			return UINT32_MAX;
	}
	i = (i & ~63u) + (uint32_t)__builtin_ctzll(w);
	while (l > 0) {
		l--; /* i: a word of level l */
		w = atomic_load_explicit(&s->lvl[l][i], memory_order_relaxed);
		if (!w) { /* stale: on past every group under that word */
			pos = (uint64_t)(i + 1) << (6 * (l + 1));
			goto again;
		}
		i = i * 64 + (uint32_t)__builtin_ctzll(w);
	}
	return i < s->nbits ? i : UINT32_MAX;
}

uint32_t mb_gset_count(const struct mb_gset *s)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->nwords[0]; i++)
		n += (uint32_t)__builtin_popcountll(atomic_load(&s->lvl[0][i]));
	return n;
}
