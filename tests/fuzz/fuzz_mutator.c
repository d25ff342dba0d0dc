/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mutator.c - libFuzzer custom mutator for fuzz_open: libFuzzer's own
 * byte mutations, plus, half the time, an "interesting" value written into
 * a field of a structure open reads (home superblock, the superblock copy
 * in the journal, the journal header, a descriptor); then, 7 times in 8,
 * every checksum is recomputed (image_reseal.c) so the mutation reaches the
 * validation behind the checksums.  Built only into the libFuzzer target.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "image_reseal.h"
#include "mb_test_int.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Offsets and widths of the superblock's fields (docs/FORMAT.md). */
static const struct { uint16_t off, width; } sb_fields[] = {
	{ 4, 4 },  { 8, 4 },  { 12, 4 }, { 16, 4 }, { 20, 4 }, { 24, 4 },  { 28, 4 },
	{ 32, 4 }, { 36, 4 }, { 40, 8 }, { 64, 8 }, { 72, 4 }, { 76, 4 },  { 80, 8 },
	{ 88, 4 }, { 92, 4 }, { 96, 8 }, { 104, 8 }, { 112, 8 },
};

static uint64_t interesting(uint64_t *s, uint64_t old)
{
	static const uint64_t v[] = { 0, 1, 2, 7, 8, 9, 31, 32, 33, 64, 255, 256, 1023, 1024,
				      4096, 65536, 0x7fffffff, 0x80000000, 0xffffffff,
				      1ULL << 32, 1ULL << 40, 1ULL << 63, UINT64_MAX };
	uint64_t r = rng_next(s);

	switch (r % 6) {
	case 0:
		return old + 1;
	case 1:
		return old - 1;
	case 2:
		return old ^ (1ULL << (r >> 8) % 64);
	}
	return v[(r >> 8) % (sizeof(v) / sizeof(v[0]))]; /* half the time */
}

static void put(uint8_t *data, size_t size, size_t off, unsigned width, uint64_t v)
{
	if (off > size || width > size - off)
		return;
	if (width == 4)
		mb_put_le32(data + off, (uint32_t)v);
	else
		mb_put_le64(data + off, v);
}

static uint64_t get(const uint8_t *data, size_t size, size_t off, unsigned width)
{
	if (off > size || width > size - off)
		return 0;
	return width == 4 ? mb_get_le32(data + off) : mb_get_le64(data + off);
}

/* One field of one structure set to an interesting value. */
static void mutate_field(uint8_t *data, size_t size, uint64_t *s)
{
	uint32_t bs = (uint32_t)get(data, size, 20, 4);
	uint64_t js = get(data, size, 80, 8), ds = get(data, size, 64, 8);
	size_t base = 0, off;
	unsigned width;

	if (bs < 1024 || bs > 65536 || (bs & (bs - 1)) || js > size / bs || ds > size / bs)
		bs = 0;
	uint64_t which = bs ? rng_next(s) % 4 : 0;

	switch (which) {
	case 0: /* home superblock */
	case 1: /* the copy in the journal's first data block */
		base = which ? (js + 1) * bs : 0;
		off = sb_fields[rng_next(s) % (sizeof(sb_fields) / sizeof(sb_fields[0]))].off;
		width = off == 40 || off == 64 || off == 80 || (off >= 96 && off <= 112) ? 8 : 4;
		break;
	case 2: { /* journal header: seq, nr, a target */
		uint64_t r = rng_next(s) % 4;

		base = js * bs;
		off = r == 0 ? 8 : r == 1 ? 16 : 24 + 8 * (rng_next(s) % 8);
		width = r == 1 ? 4 : 8;
		break;
	}
	default: { /* a descriptor: free, flags, bitmap block */
		uint64_t r = rng_next(s) % 3;

		base = ds * bs + 32 * (rng_next(s) % 8);
		off = r == 0 ? 0 : r == 1 ? 4 : 8;
		width = r == 2 ? 8 : 4;
		break;
	}
	}
	put(data, size, base + off, width, interesting(s, get(data, size, base + off, width)));
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	uint64_t s = seed;

	if (rng_next(&s) % 2)
		size = LLVMFuzzerMutate(data, size, max_size);
	else
		mutate_field(data, size, &s);
	if (rng_next(&s) % 8)
		mb_image_reseal(data, size);
	return size;
}
