/* SPDX-License-Identifier: MIT */
/*
 * bitops.c - bit searches and range operations on bitmaps stored as
 * little-endian 64-bit words (bit i is bit i%64 of word i/64, so the bytes
 * of a word array are also ext4's on-disk bit order on little-endian hosts).
 */
#include <string.h>

#include "mb_int.h"

static inline uint64_t mb_word_mask_from(uint32_t bit)
{
	return ~0ULL << (bit & 63);
}

/* First bit >= from whose value is `want` (the word is inverted for 0s). */
static uint32_t mb_find_next(const uint64_t *map, uint32_t size, uint32_t from, uint64_t invert)
{
	if (from >= size)
		return size;
	uint32_t w = from >> 6, nw = (size + 63) >> 6;
	uint64_t word = (map[w] ^ invert) & mb_word_mask_from(from);

	while (!word) {
		if (++w >= nw)
			return size;
		word = map[w] ^ invert;
	}
	uint32_t bit = (w << 6) + (uint32_t)__builtin_ctzll(word);
	return bit < size ? bit : size;
}

uint32_t mb_find_next_zero_bit(const uint64_t *map, uint32_t size, uint32_t from)
{
	return mb_find_next(map, size, from, ~0ULL);
}

uint32_t mb_find_next_bit(const uint64_t *map, uint32_t size, uint32_t from)
{
	return mb_find_next(map, size, from, 0);
}

/* Calls fn on each word of [start, start + len) with the mask of the range. */
#define MB_FOR_RANGE_WORDS(start, len, w, mask, body)                                              \
	do {                                                                                       \
		uint32_t _s = (start), _e = (start) + (len);                                       \
		while (_s < _e) {                                                                  \
			uint32_t w = _s >> 6, _b = _s & 63;                                        \
			uint32_t _n = 64 - _b < _e - _s ? 64 - _b : _e - _s;                       \
			uint64_t mask = (_n == 64 ? ~0ULL : ((1ULL << _n) - 1)) << _b;             \
			body;                                                                      \
			_s += _n;                                                                  \
		}                                                                                  \
	} while (0)

/*
 * Sets (fill ~0) or clears (fill 0) [start, start + len): masked words at
 * the ends, whole words between with memset, which a long extent (a
 * 2048-block allocation is 32 words) needs instead of 32 masked RMWs.
 */
static void mb_fill_bits(uint64_t *map, uint32_t start, uint32_t len, uint64_t fill)
{
	uint32_t end = start + len, w = start >> 6, last = (end - 1) >> 6;
	uint64_t head = ~0ULL << (start & 63), tail = ~0ULL >> (63 - ((end - 1) & 63));

	if (!len)
		return;
	if (w == last) {
		head &= tail;
		map[w] = (map[w] & ~head) | (fill & head);
		return;
	}
	map[w] = (map[w] & ~head) | (fill & head);
	if (last > w + 1)
		memset(map + w + 1, (int)(fill & 0xff), (size_t)(last - w - 1) * sizeof(uint64_t));
	map[last] = (map[last] & ~tail) | (fill & tail);
}

void mb_set_bits_words(uint64_t *map, uint32_t start, uint32_t len)
{
	mb_fill_bits(map, start, len, ~0ULL);
}

void mb_clear_bits(uint64_t *map, uint32_t start, uint32_t len)
{
	mb_fill_bits(map, start, len, 0);
}

/*
 * Is every bit of [start, start + len) equal to the bits of `want` (~0: all
 * set, 0: all clear)?  Masked words at the ends, OR-ed with the words
 * between, no branch until the answer; past 8 words between, the
 * differences are OR-ed 8 at a time, with no per-word mask or branch: a
 * free validates its whole range (a 2048-block extent is 32 words) and
 * the answer is nearly always yes.  Inline in its two callers, want a
 * constant: a 256-block free's check (4 words) was 59 instructions with
 * a test on each end word and a call.
 */
static inline __attribute__((always_inline)) bool
mb_range_all(const uint64_t *map, uint32_t start, uint32_t len, uint64_t want)
{
	if (!len)
		return true;
	uint32_t end = start + len, w = start >> 6, last = (end - 1) >> 6;
	uint64_t head = ~0ULL << (start & 63), tail = ~0ULL >> (63 - ((end - 1) & 63));

	if (w == last)
		return !((map[w] ^ want) & head & tail);
	uint64_t diff = ((map[w] ^ want) & head) | ((map[last] ^ want) & tail);
	uint32_t i = w + 1;

	/* 8 words a step as one expression: the loop over them paid its
	   count and test a word (aging:triangle's frees check 32) */
	for (; i + 8 <= last; i += 8) {
		const uint64_t *p = map + i;

		if (diff | (p[0] ^ want) | (p[1] ^ want) | (p[2] ^ want) | (p[3] ^ want) |
		    (p[4] ^ want) | (p[5] ^ want) | (p[6] ^ want) | (p[7] ^ want))
			return false;
	}
	for (; i < last; i++)
		diff |= map[i] ^ want;
	return !diff;
}

bool mb_range_all_set(const uint64_t *map, uint32_t start, uint32_t len)
{
	return mb_range_all(map, start, len, ~0ULL);
}

bool mb_range_all_clear(const uint64_t *map, uint32_t start, uint32_t len)
{
	return mb_range_all(map, start, len, 0);
}

uint32_t mb_count_zero_bits(const uint64_t *map, uint32_t start, uint32_t len)
{
	uint32_t n = 0;

	MB_FOR_RANGE_WORDS(start, len, w, mask, n += (uint32_t)__builtin_popcountll(~map[w] & mask));
	return n;
}

/* The free-word summary of a bitmap (mb_int.h, mb_fws): a bit a word. */
void mb_fws_build(const struct mb_volume *vol, const uint64_t *bitmap, uint64_t *fws)
{
	memset(fws, 0, mb_fws_words(vol) * sizeof(uint64_t));
	for (uint32_t w = 0; w < vol->bitmap_words; w++)
		fws[w >> 6] |= (uint64_t)(bitmap[w] != ~0ULL) << (w & 63);
}

/* Does fws summarize bitmap: a bit set over every word with a free block
   (one over a full word may be left by a mark)?  (mb_check, asserts) */
bool mb_fws_ok(const struct mb_volume *vol, const uint64_t *bitmap, const uint64_t *fws)
{
	for (uint32_t w = 0; w < vol->bitmap_words; w++)
		if (~bitmap[w] && !mb_test_bit(fws, w))
			return false;
	for (uint32_t w = vol->bitmap_words; w < mb_fws_words(vol) * 64; w++)
		if (mb_test_bit(fws, w))
			return false;
	return true;
}
