/* SPDX-License-Identifier: MIT */
/*
 * test_bitops.c - bit searches and range operations against a naive
 * bit-at-a-time model, on random bitmaps whose sizes are often not a
 * multiple of 64 (the tail word is where word-at-a-time code goes wrong).
 */
#include <string.h>

#include "harness.h"
#include "mb_test_int.h"

#define MAX_WORDS 40

static bool naive_bit(const uint64_t *map, uint32_t i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

static uint32_t naive_find(const uint64_t *map, uint32_t size, uint32_t from, bool want)
{
	for (uint32_t i = from; i < size; i++)
		if (naive_bit(map, i) == want)
			return i;
	return size;
}

/* Random words with a random density, so long runs of 0s and 1s both occur. */
static void random_map(uint64_t *rng, uint64_t *map, uint32_t words)
{
	unsigned dens = (unsigned)mb_rand_below(rng, 5);

	for (uint32_t w = 0; w < words; w++) {
		uint64_t x = mb_rand_next(rng);

		if (dens == 0)
			x &= mb_rand_next(rng) & mb_rand_next(rng); /* sparse 1s */
		else if (dens == 1)
			x |= mb_rand_next(rng) | mb_rand_next(rng); /* sparse 0s */
		else if (dens == 2)
			x = mb_rand_below(rng, 2) ? ~0ULL : 0; /* whole words */
		map[w] = x;
	}
}

static uint32_t random_size(uint64_t *rng)
{
	switch (mb_rand_below(rng, 4)) {
	case 0:
		return 64 * (uint32_t)(1 + mb_rand_below(rng, MAX_WORDS - 1));
	case 1:
		return (uint32_t)(1 + mb_rand_below(rng, 130));
	default:
		return (uint32_t)(1 + mb_rand_below(rng, 64 * (MAX_WORDS - 1)));
	}
}

TEST(find_next_vs_naive)
{
	uint64_t rng = mb_test_seed, map[MAX_WORDS];

	for (int round = 0; round < 3000; round++) {
		uint32_t size = random_size(&rng);

		random_map(&rng, map, MAX_WORDS);
		for (int q = 0; q < 40; q++) {
			/* from also past size: the search must answer size */
			uint32_t from = (uint32_t)mb_rand_below(&rng, size + 70);

			ASSERT_EQ_U64(mb_find_next_zero_bit(map, size, from),
				      naive_find(map, size, from, false));
			ASSERT_EQ_U64(mb_find_next_bit(map, size, from),
				      naive_find(map, size, from, true));
		}
	}
}

/* Bits set past `size` must not be reported by a zero search either way. */
TEST(find_next_ignores_tail_bits)
{
	uint64_t map[2] = {~0ULL, 0};

	ASSERT_EQ_U64(mb_find_next_zero_bit(map, 64, 0), 64);
	ASSERT_EQ_U64(mb_find_next_zero_bit(map, 70, 0), 64);
	ASSERT_EQ_U64(mb_find_next_bit(map, 70, 64), 70);
	map[1] = 1ULL << 10;
	ASSERT_EQ_U64(mb_find_next_bit(map, 74, 64), 74);
	ASSERT_EQ_U64(mb_find_next_bit(map, 75, 64), 74);
	ASSERT_EQ_U64(mb_find_next_bit(map, 73, 3), 3);
}

/*
 * Long stretches of whole words with nothing to find (all 1s for a zero
 * search, all 0s for a one search), then one bit to find, or none, at every
 * distance: the search tests whole words 8 at a time, so the block holding
 * the bit, the last partial block and the bit's word past `size` matter.
 */
TEST(find_next_long_stretches)
{
	uint64_t rng = mb_test_seed ^ 0x10b, map[MAX_WORDS];

	for (int round = 0; round < 20000; round++) {
		bool want = round & 1;
		uint32_t size = random_size(&rng);
		uint32_t from = (uint32_t)mb_rand_below(&rng, size + 2);
		uint32_t at = (uint32_t)mb_rand_below(&rng, MAX_WORDS * 64);

		memset(map, want ? 0 : 0xff, sizeof(map));
		if (mb_rand_below(&rng, 8)) /* else nothing to find at all */
			map[at / 64] ^= 1ULL << (at % 64);
		if (mb_rand_below(&rng, 4) == 0) /* a second one, further on */
			map[MAX_WORDS - 1 - mb_rand_below(&rng, 9)] ^= 1ULL << mb_rand_below(&rng, 64);
		ASSERT_EQ_U64(want ? mb_find_next_bit(map, size, from)
				   : mb_find_next_zero_bit(map, size, from),
			      naive_find(map, size, from, want));
	}
}

/* set/clear change exactly [start, start + len): compare every bit. */
static bool check_range_op(uint64_t *rng, bool set)
{
	uint64_t map[MAX_WORDS], ref[MAX_WORDS];
	uint32_t nbits = MAX_WORDS * 64;
	uint32_t start = (uint32_t)mb_rand_below(rng, nbits);
	uint32_t len = (uint32_t)mb_rand_below(rng, nbits - start + 1);

	random_map(rng, map, MAX_WORDS);
	memcpy(ref, map, sizeof(map));
	for (uint32_t i = start; i < start + len; i++) {
		if (set)
			ref[i / 64] |= 1ULL << (i % 64);
		else
			ref[i / 64] &= ~(1ULL << (i % 64));
	}
	if (set)
		mb_set_bits(map, start, len);
	else
		mb_clear_bits(map, start, len);
	return !memcmp(map, ref, sizeof(map));
}

TEST(set_clear_bits_vs_naive)
{
	uint64_t rng = mb_test_seed ^ 0x5e7;

	for (int round = 0; round < 20000; round++) {
		ASSERT_TRUE(check_range_op(&rng, true));
		ASSERT_TRUE(check_range_op(&rng, false));
	}
}

static void naive_range(const uint64_t *map, uint32_t start, uint32_t len, bool *all_set,
			bool *all_clear, uint32_t *zeros)
{
	*all_set = *all_clear = true;
	*zeros = 0;
	for (uint32_t i = start; i < start + len; i++) {
		bool b = naive_bit(map, i);

		*all_set &= b;
		*all_clear &= !b;
		*zeros += !b;
	}
}

TEST(range_queries_vs_naive)
{
	uint64_t rng = mb_test_seed ^ 0xabc, map[MAX_WORDS];
	uint32_t nbits = MAX_WORDS * 64;

	for (int round = 0; round < 20000; round++) {
		uint32_t start = (uint32_t)mb_rand_below(&rng, nbits);
		uint32_t len = (uint32_t)mb_rand_below(&rng, nbits - start + 1);
		bool set, clear;
		uint32_t zeros;

		random_map(&rng, map, MAX_WORDS);
		/* Short ranges inside uniform words are the interesting ones. */
		if (mb_rand_below(&rng, 2))
			len = (uint32_t)mb_rand_below(
			    &rng, (nbits - start < 140 ? nbits - start : 140) + 1);
		naive_range(map, start, len, &set, &clear, &zeros);
		ASSERT_EQ_INT(mb_range_all_set(map, start, len), set);
		ASSERT_EQ_INT(mb_range_all_clear(map, start, len), clear);
		ASSERT_EQ_U64(mb_count_zero_bits(map, start, len), zeros);
	}
}

/*
 * A uniform map but for one bit: a range is all set (all clear) unless it
 * holds that bit, wherever it lies among the words the checks fold
 * together (8 a step between the ends: mb_range_all).
 */
TEST(range_all_finds_one_odd_bit)
{
	uint64_t rng = mb_test_seed ^ 0x0dd, map[MAX_WORDS];
	uint32_t nbits = MAX_WORDS * 64;

	for (int round = 0; round < 20000; round++) {
		bool ones = mb_rand_below(&rng, 2);
		uint32_t start = (uint32_t)mb_rand_below(&rng, nbits);
		uint32_t len = (uint32_t)mb_rand_below(&rng, nbits - start + 1);
		uint32_t odd = start + (uint32_t)mb_rand_below(&rng, len + 1);

		if (mb_rand_below(&rng, 4) == 0) /* sometimes outside */
			odd = (uint32_t)mb_rand_below(&rng, nbits);
		memset(map, ones ? 0xff : 0, sizeof(map));
		if (odd < nbits)
			map[odd / 64] ^= 1ULL << (odd % 64);
		bool in = odd >= start && odd < start + len;
		/* (a range of the odd bit alone is all of its kind) */
		bool only = in && len == 1;
		bool set = !len || (ones ? !in : only), clear = !len || (ones ? only : !in);

		ASSERT_EQ_INT(mb_range_all_set(map, start, len), set);
		ASSERT_EQ_INT(mb_range_all_clear(map, start, len), clear);
	}
}

/* The inline single-bit helpers agree with the word layout the rest assumes. */
TEST(single_bit_helpers)
{
	uint64_t rng = mb_test_seed ^ 0x1, map[MAX_WORDS] = {0};
	bool ref[MAX_WORDS * 64] = {false};

	for (int i = 0; i < 50000; i++) {
		uint32_t b = (uint32_t)mb_rand_below(&rng, MAX_WORDS * 64);

		if (mb_rand_below(&rng, 2)) {
			mb_set_bit(map, b);
			ref[b] = true;
		} else {
			mb_clear_bit(map, b);
			ref[b] = false;
		}
		uint32_t p = (uint32_t)mb_rand_below(&rng, MAX_WORDS * 64);

		ASSERT_EQ_INT(mb_test_bit(map, p), ref[p]);
		ASSERT_EQ_INT(naive_bit(map, p), ref[p]);
	}
}

/*
 * An empty range at the map's end touches no word: a group load sets
 * [bb_len, bb_len + 0) on a map whose last word ends there, and a stray
 * write of that word races with whoever owns the memory after it.  The
 * map here is one word of heap, so ASan (and TSan) report the stray word.
 */
TEST(set_bits_empty_range_at_end)
{
	uint64_t *map = malloc(sizeof(uint64_t));

	ASSERT_TRUE(map != NULL);
	map[0] = 0;
	mb_set_bits(map, 64, 0);
	mb_set_bits(map, 63, 1);
	mb_set_bits(map, 0, 0);
	ASSERT_EQ_U64(map[0], 1ULL << 63);
	free(map);
	/* a range of one full word, and one that fills a word to its end */
	uint64_t m2[2] = {0, 0};

	mb_set_bits(m2, 0, 64);
	mb_set_bits(m2, 65, 63);
	ASSERT_EQ_U64(m2[0], ~0ULL);
	ASSERT_EQ_U64(m2[1], ~0ULL << 1);
}
