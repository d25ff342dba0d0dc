/* SPDX-License-Identifier: MIT */
/*
 * buddy.c - the buddy bitmap of one group: build it from the in-core
 * bitmap, mark extents used, free them, and find free extents.
 *
 * Semantics (ext4's): order 0 is the in-core bitmap, a bit per block, 0 =
 * free.  At order k >= 1 bit i covers the aligned chunk [i*2^k, (i+1)*2^k)
 * and is 0 exactly when that chunk is free and maximal (its buddy chunk is
 * not wholly free).  bb_counters[k] counts maximal free chunks of order k,
 * so bb_free = sum(bb_counters[k] << k).  Incremental updates keep the
 * buddy (and the free-run tree, runsum.c) bit-identical to a rebuild; the
 * tests hold us to that.
 *
 * Orders 1..MB_BUDDY_DERIVED (mb_int.h) have no map: a chunk of 2..8 blocks
 * and its parent lie inside one bitmap word, so whether the chunk is free
 * and maximal is a few shifts and masks of that word (mb_word_maximal).
 * Only orders above it are stored, about 1/8 of a full buddy.  Marking and
 * freeing keep the bitmap up to date before each such read.
 *
 * Locking: every function needs the group's bb_lock (or sole ownership).
 */
#include <string.h>

#include "mb_int.h"
#include "percpu.h"

/* The map of a stored order (k > MB_BUDDY_DERIVED). */
static inline uint64_t *mb_order_map(const struct mb_volume *vol, struct mb_group *grp, int k)
{
	assert(k > MB_BUDDY_DERIVED);
	return grp->bb_buddy + vol->mb_offsets[k];
}

/* Bit j of mb_lvl_mask[j]: set at the first block of each order-j chunk. */
static const uint64_t mb_lvl_mask[] = { ~0ULL, 0x5555555555555555ULL, 0x1111111111111111ULL,
					0x0101010101010101ULL, 0x0001000100010001ULL };

/* F: the wholly free order-j chunks of a word (a bit at each one's first
   block); returns those of order j + 1 (j + 1 <= MB_BUDDY_DERIVED + 1). */
static inline uint64_t mb_lvl_up(uint64_t F, int j)
{
	return F & (F >> (1u << j)) & mb_lvl_mask[j + 1];
}

/* The free blocks of bitmap word w; none past the group's bpg.  The tail
   is tested first, a branch: a bpg of a multiple of 64 (every volume ext4
   makes) has none, and the word test with it computed both sides. */
static inline uint64_t mb_free_word(const struct mb_volume *vol, const uint64_t *bitmap, uint32_t w)
{
	uint64_t f = ~bitmap[w];
	uint32_t tail = vol->bpg & 63;

	if (MB_UNLIKELY(tail) && w == vol->bitmap_words - 1)
		return f & ((1ULL << tail) - 1);
	return f;
}

/*
 * The maximal free chunks of order k <= MB_BUDDY_DERIVED in a word whose
 * free blocks are f, a bit at each one's first block: wholly free, and its
 * parent (same word) not -- or k is the top order.  A chunk whose parent
 * would pass the group's end has a used (masked) block there: maximal.
 */
static inline uint64_t mb_word_maximal(const struct mb_volume *vol, uint64_t f, int k)
{
	uint64_t F = f;

	for (int j = 0; j < k; j++)
		F = mb_lvl_up(F, j);
	if (k >= vol->max_order)
		return F;
	uint64_t P = mb_lvl_up(F, k);

	return F & ~(P | P << (1u << k));
}

/* Buddy bit (k, i), k >= 1: 0 when that chunk is free and maximal. */
bool mb_buddy_bit(const struct mb_volume *vol, const uint64_t *bitmap, const uint64_t *buddy,
		  int k, uint32_t i)
{
	if (k > MB_BUDDY_DERIVED)
		return mb_test_bit(buddy + vol->mb_offsets[k], i);
	if (i >= vol->mb_maxs[k])
		return true;
	uint32_t b = i << k;

	return !((mb_word_maximal(vol, mb_free_word(vol, bitmap, b >> 6), k) >> (b & 63)) & 1);
}

/* Largest order of an aligned chunk that starts at `start` and fits in len. */
static int mb_chunk_order(const struct mb_volume *vol, uint32_t start, uint32_t len)
{
	int order = mb_ilog2(len);

	if (start) {
		int align = __builtin_ctz(start);

		if (align < order)
			order = align;
	}
	return order < vol->max_order ? order : vol->max_order;
}

/*
 * Records the free run [start, start + len) as maximal aligned chunks.
 * Buddy bits are cleared only when buddy != NULL (NULL: counters only, for
 * groups whose bitmaps are synthesized lazily).  Order-0 bits are the
 * caller's business.
 */
void mb_buddy_counters_from_run(const struct mb_volume *vol, uint32_t *counters,
				mb_grpblk_t start, uint32_t len, uint64_t *buddy)
{
	while (len) {
		int k = mb_chunk_order(vol, start, len);

		if (k > MB_BUDDY_DERIVED && buddy)
			mb_clear_bit(buddy + vol->mb_offsets[k], start >> k);
		counters[k]++;
		start += 1u << k;
		len -= 1u << k;
	}
}

/*
 * ext4_mb_generate_buddy as a pure function, run by run: from an order-0
 * bitmap, the buddy orders >= 1 and the group's summary counters.  The
 * reference mb_buddy_build must equal (mb_check rebuilds with it, and
 * tests/unit/test_buddy.c compares the two).
 */
void mb_buddy_build_runs(const struct mb_volume *vol, const uint64_t *bitmap, uint64_t *buddy,
			 struct mb_buddy_summary *sum)
{
	uint32_t i = 0;

	memset(buddy, 0xff, vol->buddy_words * sizeof(uint64_t));
	memset(sum, 0, sizeof(*sum));
	sum->first = vol->bpg;
	while ((i = mb_find_next_zero_bit(bitmap, vol->bpg, i)) < vol->bpg) {
		uint32_t end = mb_find_next_bit(bitmap, vol->bpg, i);

		if (sum->first == vol->bpg)
			sum->first = i;
		sum->frags++;
		sum->free += end - i;
		mb_buddy_counters_from_run(vol, sum->counters, i, end - i, buddy);
		i = end;
	}
}

/* Population count without a libgcc call (no -mpopcnt in portable builds). */
static inline uint32_t mb_popcount64(uint64_t x)
{
	x -= (x >> 1) & 0x5555555555555555ULL;
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (uint32_t)((x * 0x0101010101010101ULL) >> 56);
}

/* Bit 2i of x to bit i (i < 32); odd bits are dropped. */
static inline uint64_t mb_even_bits(uint64_t x)
{
	x &= 0x5555555555555555ULL;
	x = (x | x >> 1) & 0x3333333333333333ULL;
	x = (x | x >> 2) & 0x0f0f0f0f0f0f0f0fULL;
	x = (x | x >> 4) & 0x00ff00ff00ff00ffULL;
	x = (x | x >> 8) & 0x0000ffff0000ffffULL;
	return (x | x >> 16) & 0x00000000ffffffffULL;
}

/*
 * One word of order k: w holds 64 chunks, 1 = wholly free (none past the
 * order's last chunk).  Both halves of a buddy pair free: the pair is one
 * wholly free chunk of order k + 1, written to bit (wi * 32 + i) of up, in
 * up_words words (up NULL at the top order, where nothing merges).
 * Returns the maximal chunks (1 = free and not merged).
 */
static inline uint64_t mb_buddy_merge_word(uint64_t w, uint32_t wi, uint64_t *up,
					   uint32_t up_words)
{
	if (!up)
		return w;
	if (!w) { /* common in aged groups and at high orders: nothing pairs */
		if (!(wi & 1) && wi / 2 < up_words)
			up[wi / 2] = 0;
		return 0;
	}
	uint64_t pairs = w & (w >> 1) & 0x5555555555555555ULL; /* at the even half */
	uint64_t half = mb_even_bits(pairs);

	if (wi / 2 < up_words) {
		if (wi & 1)
			up[wi / 2] |= half << 32;
		else
			up[wi / 2] = half;
	}
	/* a pair past up's end cannot be whole: the order has no such chunk */
	assert(wi / 2 < up_words || !half);
	return w & ~(pairs | pairs << 1);
}

static inline uint32_t mb_buddy_words_of(const struct mb_volume *vol, int k)
{
	return (vol->mb_maxs[k] + 63) / 64;
}

/* The first blocks of a word's wholly free chunks of the first stored
   order (bits at multiples of 2^(MB_BUDDY_DERIVED + 1)) packed into the
   low bits: one multiply, every partial product on its own bit. */
static inline uint64_t mb_gather_stored(uint64_t F)
{
#if MB_BUDDY_DERIVED == 3
	return (F * 0x0001000200040008ULL) >> 48 & 0xf;
#elif MB_BUDDY_DERIVED == 2
	return (F * 0x0102040810204080ULL) >> 56;
#else
#error "mb_gather_stored: MB_BUDDY_DERIVED must be 2 or 3"
#endif
}

/*
 * The same result as mb_buddy_build_runs, 64 blocks at a time: each bitmap
 * word gives the maximal chunks of orders 0..MB_BUDDY_DERIVED in-word and
 * the wholly free chunks of the first stored order; from there order k's
 * wholly free chunks (1 bits) give order k + 1's by pairing neighbours,
 * and a chunk is maximal when it did not pair.  Order k + 1's free map is
 * first written into its own buddy words, then read back and replaced by
 * its buddy bits (0 = maximal free).  About bpg / 32 word steps in all
 * instead of a step per free chunk: an aged group builds ~20x faster.
 */
void mb_buddy_build(const struct mb_volume *vol, const uint64_t *bitmap, uint64_t *buddy,
		    struct mb_buddy_summary *sum)
{
	const int lo = MB_BUDDY_DERIVED + 1; /* the first stored order */
	int top = vol->max_order < MB_BUDDY_DERIVED ? vol->max_order : MB_BUDDY_DERIVED;
	uint64_t carry = 0; /* bit 63 of the previous free word: a run going on */
	uint64_t *up = vol->max_order >= lo ? buddy + vol->mb_offsets[lo] : NULL;
	uint32_t per = 64u >> lo; /* order-lo chunks per bitmap word */
	uint32_t up_words;

	memset(sum, 0, sizeof(*sum));
	sum->first = vol->bpg;
	if (up)
		memset(up, 0, mb_buddy_words_of(vol, lo) * sizeof(uint64_t));
	else
		memset(buddy, 0xff, vol->buddy_words * sizeof(uint64_t));
	for (uint32_t i = 0; i < vol->bitmap_words; i++) {
		uint64_t f = mb_free_word(vol, bitmap, i), F = f;

		if (f == ~0ULL && up) { /* wholly free (a fresh group's every word) */
			/* no chunk of orders 0..MB_BUDDY_DERIVED is maximal: every
			   one pairs up to the word's order-lo chunks, all free */
			if (sum->first == vol->bpg)
				sum->first = i * 64;
			sum->frags += !carry;
			carry = 1;
			up[(i * per) >> 6] |= mb_gather_stored(mb_lvl_mask[lo]) << ((i * per) & 63);
			continue;
		}
		if (f && sum->first == vol->bpg)
			sum->first = i * 64 + (uint32_t)__builtin_ctzll(f);
		uint64_t starts = f & ~(f << 1 | carry);

		sum->frags += starts ? mb_popcount64(starts) : 0;
		carry = f >> 63;
		for (int j = 0; j <= top && F; j++) {
			uint64_t P = j < vol->max_order ? mb_lvl_up(F, j) : 0;
			uint64_t m = F & ~(P | P << (1u << j));

			sum->counters[j] += m ? mb_popcount64(m) : 0;
			F = P;
		}
		if (up && F) /* F: order lo's wholly free chunks */
			up[(i * per) >> 6] |= mb_gather_stored(F) << ((i * per) & 63);
	}
	for (int k = lo; k <= vol->max_order; k++) {
		uint64_t *map = buddy + vol->mb_offsets[k];
		uint32_t words = mb_buddy_words_of(vol, k);

		up = k < vol->max_order ? buddy + vol->mb_offsets[k + 1] : NULL;
		up_words = k < vol->max_order ? mb_buddy_words_of(vol, k + 1) : 0;
		for (uint32_t i = 0; i < words; i++) {
			uint64_t m = mb_buddy_merge_word(map[i], i, up, up_words);

			sum->counters[k] += m ? mb_popcount64(m) : 0;
			map[i] = ~m;
		}
	}
	/* every free block lies in exactly one maximal chunk */
	for (int k = 0; k <= vol->max_order; k++)
		sum->free += sum->counters[k] << k;
}

/* Rebuilds buddy orders >= 1 and every counter from bb_bitmap. */
void mb_buddy_generate(struct mb_volume *vol, struct mb_group *grp)
{
	struct mb_buddy_summary sum;

	mb_buddy_build(vol, grp->bb_bitmap, grp->bb_buddy, &sum);
	mb_fws_build(vol, grp->bb_bitmap, mb_fws(vol, grp));
	mb_runsum_invalidate_locked(vol, grp); /* built by its first query */
	mb_buddy_apply_summary_locked(vol, grp, &sum);
}

void mb_buddy_apply_summary_locked(struct mb_volume *vol, struct mb_group *grp,
				   const struct mb_buddy_summary *sum)
{
	memcpy(grp->bb_counters, sum->counters, sizeof(grp->bb_counters));
	MB_WRITE_ONCE(grp->bb_free, sum->free);
	MB_WRITE_ONCE(grp->bb_fragments, sum->frags);
	MB_WRITE_ONCE(grp->bb_first_free, sum->first);
	mb_group_update_orders_locked(vol, grp);
}

/* mb_buddy_order_for_block with F, the free blocks of block's bitmap word. */
static inline int mb_order_at(const struct mb_volume *vol, const struct mb_group *grp,
			      mb_grpblk_t block, uint64_t F)
{
	int top = vol->max_order < MB_BUDDY_DERIVED ? vol->max_order : MB_BUDDY_DERIVED;
	uint32_t pos = block & 63;

	for (int k = 1; k <= top; k++) { /* in-word: see mb_word_maximal */
		if ((block >> k) >= vol->mb_maxs[k])
			return 0;
		F = mb_lvl_up(F, k - 1);
		if (!((F >> (pos & ~((1u << k) - 1))) & 1))
			return 0; /* not wholly free: no higher chunk is either */
		if (k == vol->max_order || !((mb_lvl_up(F, k) >> (pos & ~((2u << k) - 1))) & 1))
			return k;
	}
	for (int k = MB_BUDDY_DERIVED + 1; k <= vol->max_order; k++) {
		if ((block >> k) >= vol->mb_maxs[k])
			break;
		if (!mb_test_bit(grp->bb_buddy + vol->mb_offsets[k], block >> k))
			return k;
	}
	return 0;
}

/* Smallest k >= 1 whose bit for `block` is clear; 0 if none (an order-0 chunk or used). */
int mb_buddy_order_for_block(const struct mb_volume *vol, const struct mb_group *grp,
			     mb_grpblk_t block)
{
	return mb_order_at(vol, grp, block, mb_free_word(vol, grp->bb_bitmap, block >> 6));
}

/*
 * The same answer as mb_buddy_order_for_block for a free block b of a
 * consistent buddy whose bitmap word is w (1 = used), with orders up to 6
 * read off w: the aligned chunk of order j holding b is wholly free iff
 * every used bit q of w has msb(q ^ b) >= j, and the used bits nearest to
 * b on either side give the smallest msb (msb(q ^ b) grows with |q - b| on
 * each side).  The maximal chunk is the largest wholly free one, capped at
 * max_order; only a wholly free word walks the stored orders, from 6 (above
 * MB_BUDDY_DERIVED).  Bits past bpg count as used (a chunk must lie in the
 * group).
 */
static inline int mb_order_fast_w(const struct mb_volume *vol, const struct mb_group *grp,
				  mb_grpblk_t b, uint64_t w)
{
	uint32_t pos = b & 63;
	int k = 6;

	_Static_assert(MB_BUDDY_DERIVED < 6, "orders above 5 are stored");
	assert(b < vol->bpg && !((w >> pos) & 1));
	if ((b >> 6) == (vol->bpg >> 6)) /* the word bpg cuts */
		w |= ~0ULL << (vol->bpg & 63);
	uint64_t hi = w & (~1ULL << pos), lo = w & ((1ULL << pos) - 1);

	if (hi) {
		int m = 31 - __builtin_clz((uint32_t)__builtin_ctzll(hi) ^ pos);

		k = m < k ? m : k;
	}
	if (lo) {
		int m = 31 - __builtin_clz((uint32_t)(63 - __builtin_clzll(lo)) ^ pos);

		k = m < k ? m : k;
	}
	if (k >= vol->max_order)
		return vol->max_order;
	if (k < 6)
		return k;
	for (; k <= vol->max_order && (b >> k) < vol->mb_maxs[k]; k++)
		if (!mb_test_bit(grp->bb_buddy + vol->mb_offsets[k], b >> k))
			return k;
	return 0; /* an inconsistent buddy: what the plain walk says */
}

int mb_buddy_order_fast(const struct mb_volume *vol, const struct mb_group *grp, mb_grpblk_t b)
{
	return mb_order_fast_w(vol, grp, b, grp->bb_bitmap[b >> 6]);
}

/*
 * The order of the maximal free chunk starting at free block x, which must
 * be some chunk's first block (x - 1 used, or the end of the chunk before).
 * The chunk is the largest aligned one at x that fits in x's free run
 * (mb_buddy_counters_from_run's split), so its order is at most ctz(x) and
 * max_order: within x's bitmap word that is the run's length there; a
 * wholly free word means order 6 or more, and the stored bits say which,
 * tried from the largest possible down (a chunk starting a run's rising
 * part, the usual case, is that largest).  Anything else -- a buddy at odds
 * with the bitmap -- takes mb_buddy_order_fast's answer.
 */
static inline int mb_order_at_start(const struct mb_volume *vol, const struct mb_group *grp,
				    mb_grpblk_t x)
{
	int cap = x ? __builtin_ctz(x) : 31;
	uint64_t f = mb_free_word(vol, grp->bb_bitmap, x >> 6) >> (x & 63);

	cap = cap < vol->max_order ? cap : vol->max_order;
	if (~f) { /* the run ends inside the word: (~f) has a bit at its end */
		int r = mb_ilog2((uint64_t)__builtin_ctzll(~f));

		return r < cap ? r : cap;
	}
	if (cap < 6) /* x == 0 mod 2^cap with cap < 6 and x + 2^cap fits: all free */
		return cap;
	for (int k = cap; k >= 6; k--)
		if ((x >> k) < vol->mb_maxs[k] &&
		    !mb_test_bit(grp->bb_buddy + vol->mb_offsets[k], x >> k))
			return k;
	return mb_buddy_order_fast(vol, grp, x);
}

/*
 * mb_bitmap_mark_clear's words w to last, more than 16: its end masks as
 * it computed them, memset between (mb_set_bits_words computed the masks
 * again, around the same memset: aging:triangle's 2048-block marks paid
 * ~35 instructions more).  Out of line: inline it grew the short marks.
 * The ends first, so that the memset is a tail call, no frame kept across
 * it (aging:triangle -6 instructions a call, 11k such marks).  Only for
 * more than 32 words between the ends (mb_bitmap_mark_clear).
 */
static __attribute__((noinline)) void mb_bitmap_mark_words(uint64_t *map, uint32_t w, uint32_t last,
							   uint64_t head, uint64_t tail)
{
	map[w] |= head;
	map[last] |= tail;
	memset(map + w + 1, 0xff, (size_t)(last - w - 1) * sizeof(*map));
}

typedef uint64_t mb_ones2 __attribute__((vector_size(16)));

/* Sets words p[0] to p[n - 1], n even: n / 2 16-byte stores (SSE2, in
   every x86-64). */
static inline __attribute__((always_inline)) void mb_words_fill(uint64_t *p, int n)
{
	const mb_ones2 ones = { ~0ULL, ~0ULL };

	for (int i = 0; i < n; i += 2)
		memcpy(p + i, &ones, sizeof(ones));
}

/*
 * mb_bitmap_mark_clear's words w to last, w < last: the end masks as it
 * computed them, and the n words between set by 16-byte stores from
 * each end, overlapping -- up to 15 words 1, 2 or 4 a side, 16 to 32 eight
 * a side, past that memset (mb_bitmap_mark_words).  A store a word
 * between (its loop ~4 instructions a word: a 1000-block extent's ~15
 * words ~60) had cell:seq90:1000:zero:20 at 1704 instructions a call,
 * these 1654; out of line, as inline the extra registers made gcc keep
 * bb_bitmap on the stack in mb_use_found_locked (aged:256 +6, the aged
 * cells +5 to +8 a call).  The 16-to-32 case, inline before, was the
 * same stores (aging:triangle 2128 -> 2120 a call when it left memset).
 */
static __attribute__((noinline)) void mb_bitmap_mark_span(uint64_t *map, uint32_t w, uint32_t last,
							  uint64_t head, uint64_t tail)
{
	uint32_t n = last - w - 1;
	uint64_t *p = map + w + 1, *q = map + last;

	if (n > 32) {
		mb_bitmap_mark_words(map, w, last, head, tail);
		return;
	}
	map[w] |= head;
	map[last] |= tail;
	if (n >= 4) {
		if (n >= 16) {
			mb_words_fill(p, 16);
			mb_words_fill(q - 16, 16);
		} else if (n >= 8) {
			mb_words_fill(p, 8);
			mb_words_fill(q - 8, 8);
		} else {
			mb_words_fill(p, 4);
			mb_words_fill(q - 4, 4);
		}
	} else if (n >= 2) {
		mb_words_fill(p, 2);
		mb_words_fill(q - 2, 2);
	} else if (n) {
		*p = ~0ULL;
	}
}

/*
 * Sets the bits of [start, start + len), all clear (mb_set_bits inline: an
 * allocation's extent is a few words at most, a store for each beats a
 * memset call).
 */
static inline void mb_bitmap_mark_clear(uint64_t *map, uint32_t start, uint32_t len)
{
	uint32_t w = start >> 6, last = (start + len - 1) >> 6;
	uint64_t head = ~0ULL << (start & 63), tail = ~0ULL >> (63 - ((start + len - 1) & 63));

	if (w == last) {
		map[w] |= head & tail;
		return;
	}
	mb_bitmap_mark_span(map, w, last, head, tail);
}

/*
 * The free-word summary (mb_fws) after [start, start + len), len >= 1, was
 * freed: every word it meets holds a free block now.  A mark needs no
 * update (a set bit over a full word only costs a look, and the next
 * search clears it: mb_fws_next_free); kept in every mark it cost raw:256
 * 19 instructions a call, raw:1 7, aging:triangle 64.
 */
static inline void mb_fws_freed(const struct mb_volume *vol, const struct mb_group *grp,
				uint32_t start, uint32_t len)
{
	uint32_t w = start >> 6, last = (start + len - 1) >> 6;
	uint64_t *fws = mb_fws(vol, grp);

	/* nearly every free's words lie under one summary word (4096
	   blocks): one mask, one OR.  Every free pays ~24 instructions
	   (free:empty:16:rand:20 448 -> 473); a call to mb_set_bits for
	   all cost +28, a bit each for the first and last words and
	   mb_set_bits between +57 on free:seq90:256:rand:20 */
	if (MB_LIKELY((w ^ last) < 64))
		fws[w >> 6] |= (~0ULL << (w & 63)) & (~0ULL >> (63 - (last & 63)));
	else
		mb_set_bits(fws, w, last - w + 1);
}

/*
 * The first free block after x (bpg if none), x used: the rest of x's
 * word, then the words the summary names, each of whose bits found over a
 * full word (marked so since) is cleared on the way.  bb_lock held: the
 * summary is the group's, a const scan's all the same.
 */
static inline uint32_t mb_fws_next_free(const struct mb_volume *vol, const struct mb_group *grp,
					uint32_t x)
{
	const uint64_t *map = grp->bb_bitmap;
	uint32_t w = x >> 6;
	uint64_t f = ~map[w] & (~0ULL << (x & 63));

	if (!f) {
		uint64_t *fws = mb_fws(vol, grp);
		uint32_t n = w + 1, i = n >> 6;

		if (n >= vol->bitmap_words)
			return vol->bpg;
		uint64_t m = fws[i] & (~0ULL << (n & 63));

		for (;;) {
			while (!m) {
				if (++i >= mb_fws_words(vol))
					return vol->bpg;
				m = fws[i];
			}
			w = (i << 6) + (uint32_t)__builtin_ctzll(m);
			f = ~map[w];
			if (f)
				break;
			m &= m - 1;
			fws[i] &= ~(1ULL << (w & 63)); /* full since: clear it */
		}
	}
	uint32_t p = (w << 6) + (uint32_t)__builtin_ctzll(f);

	return p < vol->bpg ? p : vol->bpg;
}

/*
 * The first block at or after word w, below limit (limit if none), whose
 * bit is not `skip`'s (~0: the first free block; 0: the first used one):
 * whole words 8 at a time, folded for one test.  An allocation at
 * bb_first_free is often followed by hundreds of used words (Ceph's aging
 * fills groups from the front), and a goal of a few thousand blocks
 * measures its run over dozens of free ones, where a test a word costs
 * twice as much.  skip is a constant at every call: it folds away.
 */
static inline uint32_t mb_next_unlike(const uint64_t *bitmap, uint32_t w, uint32_t limit,
				      uint64_t skip)
{
	uint32_t nw = (limit + 63) >> 6;

	for (; w + 8 <= nw; w += 8) {
		const uint64_t *p = bitmap + w;

		if ((p[0] ^ skip) | (p[1] ^ skip) | (p[2] ^ skip) | (p[3] ^ skip) | (p[4] ^ skip) |
		    (p[5] ^ skip) | (p[6] ^ skip) | (p[7] ^ skip))
			break;
	}
	for (; w < nw; w++) { /* the word of the 8 that differs, or the last few */
		uint64_t d = bitmap[w] ^ skip;

		if (d) {
			uint32_t i = (w << 6) + (uint32_t)__builtin_ctzll(d);

			return i < limit ? i : limit;
		}
	}
	return limit;
}

/* The first free block in word w or after, for when b's word had none.
   Out of line: the common case needs none of it. */
static __attribute__((noinline)) uint32_t mb_first_free_far(const struct mb_volume *vol,
							     const uint64_t *bitmap, uint32_t w)
{
	return mb_next_unlike(bitmap, w, vol->bpg, ~0ULL);
}

/*
 * The first free block at or after b (bpg if none), in a group with `free`
 * free blocks, none before b: its word inline, as the block after an
 * allocation at bb_first_free is usually free.  None free at all (the
 * allocation filled the group: half the far searches of aging:8m64k) is
 * bpg without reading the words up to it.
 */
static inline uint32_t mb_first_free_from(const struct mb_volume *vol, const uint64_t *bitmap,
					  uint32_t b, uint32_t free)
{
	if (b >= vol->bpg)
		return vol->bpg;
	uint64_t f = ~bitmap[b >> 6] & (~0ULL << (b & 63));

	if (f) {
		uint32_t i = (b & ~63u) + (uint32_t)__builtin_ctzll(f);

		return i < vol->bpg ? i : vol->bpg;
	}
	if (!free)
		return vol->bpg;
	return mb_first_free_far(vol, bitmap, (b >> 6) + 1);
}

/* Is the block before a range free, or the one at its end? */
static inline bool mb_is_free_before(const struct mb_group *grp, mb_grpblk_t start)
{
	return start && !mb_test_bit(grp->bb_bitmap, start - 1);
}

static inline bool mb_is_free_after(const struct mb_volume *vol, const struct mb_group *grp,
				    mb_grpblk_t end)
{
	return end < vol->bpg && !mb_test_bit(grp->bb_bitmap, end);
}

/* The maximal free chunk of order k at block c leaves the buddy (marked
   used, or about to be split): its bit set, one fewer counted. */
static inline void mb_chunk_take(struct mb_volume *vol, struct mb_group *grp, int k, uint32_t c)
{
	if (k > MB_BUDDY_DERIVED)
		mb_set_bit(mb_order_map(vol, grp, k), c >> k);
	grp->bb_counters[k]--;
}

/* The maximal free chunk of order k at block c joins the buddy: its bit
   cleared, one more counted. */
static inline void mb_chunk_put(struct mb_volume *vol, struct mb_group *grp, int k, uint32_t c)
{
	if (k > MB_BUDDY_DERIVED)
		mb_clear_bit(mb_order_map(vol, grp, k), c >> k);
	grp->bb_counters[k]++;
}

/* The orders whose maps are derived (none stored): their chunks only count. */
#define MB_DERIVED_MASK ((2u << MB_BUDDY_DERIVED) - 1)

/*
 * The counters of the derived orders, 0 to 3, as one vector: a run's
 * split (or a digit loop's) moves each by the bits of one or two numbers
 * below 16, which mb_low_bits gives lane by lane -- a table load, an add
 * and the counters' load and store, not a loop a digit nor four scalar
 * adds (mb_run_low_counts).
 */
typedef uint32_t mb_low4 __attribute__((vector_size(16)));
_Static_assert(MB_BUDDY_DERIVED == 3, "mb_low4 holds the counters of orders 0 to 3");

/* x's bits 0 to 3, lane j bit j of x */
#define MB_LOW_BITS(x) { (x) & 1, ((x) >> 1) & 1, ((x) >> 2) & 1, ((x) >> 3) & 1 }
static const mb_low4 mb_low_bits[16] = {
	MB_LOW_BITS(0),	 MB_LOW_BITS(1),  MB_LOW_BITS(2),  MB_LOW_BITS(3),
	MB_LOW_BITS(4),	 MB_LOW_BITS(5),  MB_LOW_BITS(6),  MB_LOW_BITS(7),
	MB_LOW_BITS(8),	 MB_LOW_BITS(9),  MB_LOW_BITS(10), MB_LOW_BITS(11),
	MB_LOW_BITS(12), MB_LOW_BITS(13), MB_LOW_BITS(14), MB_LOW_BITS(15),
};
#undef MB_LOW_BITS

/* The derived orders' counters move by v: down (take) or up. */
static inline __attribute__((always_inline)) void mb_low_counts_move(struct mb_group *grp,
								      mb_low4 v, bool take)
{
	mb_low4 c;

	memcpy(&c, grp->bb_counters, sizeof(c));
	c = take ? c - v : c + v;
	memcpy(grp->bb_counters, &c, sizeof(c));
}

/*
 * x != 0's lowest set bit, as a 64-bit index: __builtin_ctzll's int
 * result cost a sign extension (movslq) where it indexed, and gcc clears
 * the output register before its tzcnt -- two instructions a digit of
 * mb_chunks_digits_at's loop.  (Its bit's set by bts/btr on the word
 * loaded, one more less: cell:seq90:1000:zero:20 1 worse, tried.)  A CPU
 * without BMI1 runs tzcnt as bsf: the same index, x being nonzero.
 */
static inline __attribute__((always_inline)) uint64_t mb_ctz64(uint64_t x)
{
#if defined(__x86_64__)
	uint64_t j;

	__asm__("tzcnt %1, %0" : "=r"(j) : "r"(x) : "cc");
	return j;
#else
	return (uint64_t)__builtin_ctzll(x);
#endif
}

/*
 * The maximal free chunks of d blocks, one of order j for each bit j of d,
 * taken (take: bit set, one fewer counted) or given back (bit cleared, one
 * more).  Rising: they end at `base`, smallest first, so chunk j starts at
 * base - (d & -2^j); falling: they start at `base`, largest first, chunk j
 * at base + (d & -2^(j+1)).  Each place is that closed form of what is left
 * of d, not a running sum, so the loop carries d alone; the orders without
 * a map only count, by their row of mb_low_bits (low: else the caller
 * counts them, mb_run_low_counts; a loop of their own, a digit at a time,
 * was ~7 instructions a digit).  The order of the writes is free: each
 * chunk has its own bit.
 */
static inline __attribute__((always_inline)) void
mb_chunks_digits_at(struct mb_volume *vol, struct mb_group *grp, uint32_t base, uint32_t d,
		    bool rising, bool take, bool low, bool wide)
{
	uint64_t *buddy = grp->bb_buddy;

	if (low && (d & MB_DERIVED_MASK)) /* none: a test, as the loop a digit was */
		mb_low_counts_move(grp, mb_low_bits[d & MB_DERIVED_MASK], take);
	/* h and j 64-bit: j indexes the offsets and counters as it is (a
	   32-bit j was zero-extended into a copy, one instruction a digit) */
	for (uint64_t h = d & ~MB_DERIVED_MASK; h; h &= h - 1) {
		/* wide: mb_ctz64 (the piece's front take: its three loops
		   cell:seq90:1000:zero:20 1507 -> 1502 a call; in every loop
		   the other marks' registers moved, drain 1284 -> 1287) */
		uint64_t j = wide ? mb_ctz64(h) : (uint64_t)__builtin_ctzll(h);
		/* h: d's bits from j up.  Falling, the chunk starts at base +
		   (h - 2^j), a multiple of 2^j, so base + (h - 1) shifted by j
		   is its index: one lea, where h & (h - 1) was computed a
		   second time beside the loop's step */
		uint32_t i = (rising ? base - (uint32_t)h : base + (uint32_t)(h - 1)) >> j;
		/* the word's index a 32-bit sum: one add from memory */
		uint64_t *w = buddy + (vol->mb_offsets[j] + (i >> 6));

		uint32_t n = i & 63;

		if (take)
			*w |= 1ULL << n;
		else
			*w &= ~1ULL << n | ~1ULL >> (-n & 63); /* ~(1 << n): one rotate */
		grp->bb_counters[j] += take ? UINT32_MAX : 1u;
	}
}

static inline __attribute__((always_inline)) void
mb_chunks_digits_as(struct mb_volume *vol, struct mb_group *grp, uint32_t base, uint32_t d,
		    bool rising, bool take, bool low)
{
	mb_chunks_digits_at(vol, grp, base, d, rising, take, low, false);
}

static inline __attribute__((always_inline)) void
mb_chunks_digits(struct mb_volume *vol, struct mb_group *grp, uint32_t base, uint32_t d,
		 bool rising, bool take)
{
	mb_chunks_digits_as(vol, grp, base, d, rising, take, true);
}

/*
 * The derived orders' share of a run's split (mb_take_run, mb_put_run):
 * the chunks of orders 0 to 3 of its rising part, d1 blocks, and of its
 * falling part, d2 -- one of order j for each bit j of d1 and of d2: the
 * sum of two rows of mb_low_bits, one vector add to the four counters.
 * No loop a digit (~7 instructions each, and ~3 a loop); four scalar adds
 * of 2-bit fields of two sums (the even digits of d1 and d2 added, orders
 * 0 and 2, the odd ones, 1 and 3) were ~10 instructions more: drain 1724
 * -> 1714 a call with the digit loops' table below, aging:triangle 2818
 * -> 2809.  sign: UINT32_MAX takes the chunks, 1 gives them back.
 */
static inline __attribute__((always_inline)) void
mb_run_low_counts(struct mb_group *grp, uint32_t d1, uint32_t d2, uint32_t sign)
{
	mb_low_counts_move(grp,
			   mb_low_bits[d1 & MB_DERIVED_MASK] + mb_low_bits[d2 & MB_DERIVED_MASK],
			   sign != 1);
}

/*
 * Where the rising part of the split of a whole free run [b, end) ends:
 * the one multiple of 2^m in (b - 1, end], m the highest bit where b - 1
 * and end differ (b == 0: 31), capped at top (mb_take_rising's).
 */
static inline uint32_t mb_run_rising_end(uint32_t b, uint32_t end, uint32_t top)
{
	uint32_t m = (uint32_t)mb_ilog2((uint32_t)(b - 1) ^ end);

	m = m < top ? m : top;
	return end & ~((1u << m) - 1);
}

/*
 * The split of a whole free run [b, end) of fewer than 16 blocks, taken
 * (sign UINT32_MAX) or given back (1): its chunks are of orders 0 to 3,
 * which have no map, so only their counts move.  Its rising part ends at
 * r, the one multiple of 2^m in (b - 1, end], m the highest bit where b - 1
 * and end differ (mb_take_rising's; its cap at max_order >= 4 changes no
 * r of a run this short).  Inline: a drain's and an aged cell's runs are
 * mostly this short, and mb_take_run's call and loops were ~70
 * instructions a take.
 */
static inline __attribute__((always_inline)) int
mb_short_run_counts(struct mb_group *grp, uint32_t b, uint32_t end, uint32_t sign)
{
	uint32_t r = mb_run_rising_end(b, end, 31); /* no cap: a run this short */

	assert(end - b <= MB_DERIVED_MASK && r >= b && r <= end);
	mb_run_low_counts(grp, r - b, end - r, sign);
	return mb_ilog2((r - b) | (end - r)); /* the largest chunk's order */
}

/* The chunks of [b, b + d) with d below b's alignment: the binary digits
   of d, largest first, each a maximal free chunk taken. */
static inline void mb_take_digits(struct mb_volume *vol, struct mb_group *grp, uint32_t b,
				  uint32_t d)
{
	mb_chunks_digits(vol, grp, b, d, false, true);
}

/*
 * What is left free of a taken chunk before the extent, [c, x) with c
 * aligned to the chunk's order: its maximal chunks are the binary digits
 * of x - c, largest first, each aligned to the next order up, so that its
 * parent reaches x (now used).  Their bits were set (their parent was
 * free): they are cleared and counted.
 */
static inline void mb_put_before(struct mb_volume *vol, struct mb_group *grp, uint32_t c,
				 uint32_t x)
{
	mb_chunks_digits(vol, grp, c, x - c, false, false);
}

/* The same after the extent, [x, c) with c the chunk's end: smallest
   first, each one's parent reaching back before x (used). */
static inline void mb_put_after(struct mb_volume *vol, struct mb_group *grp, uint32_t x,
				uint32_t c)
{
	mb_chunks_digits(vol, grp, c, c - x, true, false);
}

/*
 * The order of the maximal free chunk holding free block x, given that
 * the aligned chunk of order lo holding x is wholly free (so the maximal
 * one is at least that large): with lo >= 6 x's word is wholly free and
 * only the stored orders from lo up can say.
 */
static inline int mb_order_holding(const struct mb_volume *vol, const struct mb_group *grp,
				   mb_grpblk_t x, int lo)
{
	if (lo < 6)
		return mb_order_fast_w(vol, grp, x, grp->bb_bitmap[x >> 6]);
	for (int k = lo; k <= vol->max_order && (x >> k) < vol->mb_maxs[k]; k++)
		if (!mb_test_bit(grp->bb_buddy + vol->mb_offsets[k], x >> k))
			return k;
	return 0; /* an inconsistent buddy: what the plain walk says */
}

/*
 * Takes the maximal free chunk holding x, the last block of an extent
 * whose rising chunks stopped at b (mb_take_rising), and returns its
 * order: b is a chunk boundary aligned to 2^jb (jb = min(ctz(b),
 * max_order)) and x < b + 2^jb, so that chunk starts at b or after and its
 * order is at most jb.  A used block in x's word keeps it below 6: the
 * word says.  Else the stored orders do, tried from jb down: most often
 * the chunk is the one at b (an allocation ends inside the large chunk
 * after its rising ones), one bit instead of a walk up from order 6.  The
 * bit found clear is set in the word just read (mb_chunk_take found it
 * again).
 */
static inline int mb_take_falling(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t x,
				  int jb)
{
	uint64_t w = grp->bb_bitmap[x >> 6];
	int k = 0; /* none: an inconsistent buddy, what the plain walk says */

	if (jb < 6 || w || (x >> 6) == (vol->bpg >> 6)) {
		k = mb_order_fast_w(vol, grp, x, w);
	} else {
		for (int j = jb; j >= 6; j--) {
			uint32_t i = x >> j;

			if (i >= vol->mb_maxs[j])
				continue;
			uint64_t *p = grp->bb_buddy + vol->mb_offsets[j] + (i >> 6);

			if (!((*p >> (i & 63)) & 1)) {
				*p |= 1ULL << (i & 63);
				grp->bb_counters[j]--;
				return j;
			}
		}
	}
	mb_chunk_take(vol, grp, k, x & ~((1u << k) - 1));
	return k;
}

/* Largest order of an aligned chunk at x inside [x, end), up to max_order:
   a lower bound for the maximal free chunk there. */
static inline int mb_fit_order(const struct mb_volume *vol, uint32_t x, uint32_t end)
{
	int k = mb_ilog2(end - x);

	if (x && __builtin_ctz(x) < k)
		k = __builtin_ctz(x);
	return k < vol->max_order ? k : vol->max_order;
}

/*
 * Rising: from b, a chunk boundary of a free run that goes on to end or
 * past it, the largest aligned chunk at b while it fits in [b, end).
 * They stop at r, end with its bits below m cleared, m the highest bit
 * where b - 1 and end differ, capped at max_order (the chunk at r, of
 * order m, would pass end): the chunks of [b, r) are the binary digits of
 * r - b, smallest first, those of max_order repeated.  Takes them;
 * returns r, and m in *jb.
 */
static __attribute__((noinline, cold)) uint32_t mb_take_rising_long(struct mb_volume *vol,
								      struct mb_group *grp, uint32_t b,
								      uint32_t end, uint32_t *jb)
{
	uint32_t top = (uint32_t)vol->max_order;
	uint32_t r = end & ~((1u << top) - 1);
	uint32_t d = (r - b) & ((1u << top) - 1);

	b += d;
	mb_chunks_digits(vol, grp, b, d, true, true);
	for (; b < r; b += 1u << top)
		mb_chunk_take(vol, grp, (int)top, b);
	*jb = top;
	return r;
}

/* m above max_order (the extent crosses a multiple of 2^(max_order + 1),
   or b == 0) is mb_take_rising_long's: the cap, and whole chunks of order
   max_order.  Else r - b < 2^m has a digit per chunk, no mask (the cap's
   masks and loop test inline were ~8 instructions a take and two spills:
   with mb_buddy_mark_rest's split, cell:empty:1000:rand:20 1689 -> 1674,
   seq90:1000 1659 -> 1653, the 100-block cells -5 to -9 a call).  An
   empty volume's takes start groups (b == 0, 765 of 820 calls of
   cell:empty:1000:rand:20): their "none" is told inline, the call cost
   +27 a call there. */
static inline uint32_t mb_take_rising(struct mb_volume *vol, struct mb_group *grp, uint32_t b,
				      uint32_t end, uint32_t *jb)
{
	uint32_t m = (uint32_t)mb_ilog2((uint32_t)(b - 1) ^ end); /* b == 0: 31 */

	if (MB_UNLIKELY(m > (uint32_t)vol->max_order)) {
		uint32_t top = (uint32_t)vol->max_order;

		/* none at all when b is a multiple of 2^max_order and end -
		   b below it: an extent from a group's start (b == 0) shorter
		   than 2^max_order, as in an empty volume */
		if ((end & (~0u << top)) == b) {
			*jb = top;
			return b;
		}
		return mb_take_rising_long(vol, grp, b, end, jb);
	}
	uint32_t r = end & (~0u << m);

	mb_chunks_digits(vol, grp, r, r - b, true, true);
	*jb = m;
	return r;
}

/*
 * The rest of mb_run_split's take from b, past its rising digits: the whole
 * chunks of order top (max_order) up to r, then the falling digits to end.
 * Only a run of 2^(top + 1) blocks or more has such chunks.  Out of line,
 * a tail call: with the loop inline, mb_take_run kept registers for it
 * that its usual run, shorter, never needed (two more registers saved and
 * restored, the loop's constants set up: ~8 instructions a take).
 */
static __attribute__((noinline, cold)) void mb_take_run_top(struct mb_volume *vol,
							   struct mb_group *grp, uint32_t b,
							   uint32_t r, uint32_t end)
{
	int top = vol->max_order;

	for (; b < r; b += 1u << top)
		mb_chunk_take(vol, grp, top, b);
	mb_chunks_digits_as(vol, grp, r, end - r, false, true, false);
}

/*
 * The split of a whole free run [b, end) whose rising part ends at r
 * (mb_run_rising_end), taken (take) or given back: the derived orders
 * counted in closed form (mb_run_low_counts), the rising chunks below
 * top, whole chunks of order top, then the falling part's digits.
 */
static inline __attribute__((always_inline)) void
mb_run_split(struct mb_volume *vol, struct mb_group *grp, uint32_t b, uint32_t r, uint32_t end,
	     bool take)
{
	uint32_t top = (uint32_t)vol->max_order;
	uint32_t d = (r - b) & ((1u << top) - 1);

	mb_run_low_counts(grp, r - b, end - r, take ? UINT32_MAX : 1);
	b += d;
	mb_chunks_digits_as(vol, grp, b, d, true, take, false);
	if (take && MB_UNLIKELY(b < r)) {
		mb_take_run_top(vol, grp, b, r, end);
		return;
	}
	for (; b < r; b += 1u << top) /* a free's put: inline (a call: +0.5 a free) */
		mb_chunk_put(vol, grp, (int)top, b);
	mb_chunks_digits_as(vol, grp, r, end - r, false, take, false);
}

/*
 * The split of a whole free run [b, end) whose rising part ends at r, a
 * multiple of 2^m, with m at most top (max_order): r - b and end - r are
 * below 2^m, so no chunk is of order top, and the split is the derived
 * orders' counts (mb_run_low_counts) and the digits of each part, both
 * from r -- taken (take: bit set, one fewer counted) or given back (bit
 * cleared, one more).  mb_run_split, for any m, moved b past the rising
 * digits and tested for chunks of order top between them and r: its
 * masks and tests, and the registers they held, were ~20 instructions of
 * the ~77 of a take (the aged90 len-256 cells' whole-run takes, ~1.5
 * stored digits a take).
 */
static inline __attribute__((always_inline)) void
mb_run_split_short(struct mb_volume *vol, struct mb_group *grp, uint32_t b, uint32_t r,
		   uint32_t end, bool take)
{
	mb_run_low_counts(grp, r - b, end - r, take ? UINT32_MAX : 1);
	mb_chunks_digits_as(vol, grp, r, r - b, true, take, false);
	mb_chunks_digits_as(vol, grp, r, end - r, false, take, false);
}

/* mb_take_run of a run that crosses a multiple of 2^(top + 1), top =
   max_order (mb_run_rising_end's cap bites: b == 0 is one): its split
   may hold whole chunks of order top.  Cold: a run so placed is rare. */
static __attribute__((noinline, cold)) void mb_take_run_long(struct mb_volume *vol,
							    struct mb_group *grp, uint32_t b,
							    uint32_t end)
{
	mb_run_split(vol, grp, b, mb_run_rising_end(b, end, (uint32_t)vol->max_order), end, true);
}

/*
 * Takes the maximal chunks of a whole free run [b, end) -- the block
 * before b and the one at end used, or past the group: the largest aligned
 * ones that fit, one after the other (mb_buddy_counters_from_run's
 * split), rising, then the binary digits of what is left, largest first.
 * No lookup: nothing of the run is left over.  The rising part ends at r,
 * the one multiple of 2^m in (b - 1, end], m the highest bit where b - 1
 * and end differ; with m at most max_order (nearly always) the split is
 * mb_run_split_short's, else mb_take_run_long's.  Out of line: inline it
 * made the mark of a longer run dearer; a run shorter than 16 blocks is
 * counted inline (mb_short_run_counts).
 */
static __attribute__((noinline)) void mb_take_run(struct mb_volume *vol, struct mb_group *grp,
						  uint32_t b, uint32_t end)
{
	uint32_t m = (uint32_t)mb_ilog2((uint32_t)(b - 1) ^ end); /* b == 0: 31 */

	if (MB_UNLIKELY(m > (uint32_t)vol->max_order)) {
		mb_take_run_long(vol, grp, b, end);
		return;
	}
	mb_run_split_short(vol, grp, b, end & (~0u << m), end, true);
}

/* mb_put_run's split past the cap (mb_take_run_long's mirror); returns
   the largest order given back. */
static __attribute__((noinline, cold)) int mb_put_run_long(struct mb_volume *vol,
							  struct mb_group *grp, uint32_t b,
							  uint32_t end)
{
	int top = vol->max_order;
	uint32_t r = mb_run_rising_end(b, end, (uint32_t)top);
	/* the largest chunk: the top digit of r - b or of end - r, capped
	   (r - b may hold several of order top); end - r < 2^m, m <= top
	   (mb_run_rising_end), so the cap changes only the rising part's:
	   one bsr, not one a part and their tests */
	int hi = mb_ilog2((r - b) | (end - r));

	mb_run_split(vol, grp, b, r, end, false);
	return hi < top ? hi : top;
}

/*
 * mb_take_run's mirror for a free: [b, end) was all used and so are the
 * blocks on either side (or past the group), so it becomes a free run of
 * its own, whose maximal chunks are its split (mb_buddy_counters_from_run):
 * the largest aligned ones rising from b while they fit, then the binary
 * digits of what is left, largest first -- each given back (bit cleared,
 * one more counted), no buddy to merge with (each one's buddy holds a used
 * block: the one before b or at end, or one of the run's chunk next to
 * it).  mb_buddy_free_chunk's loop, a chunk at a time, tested each
 * chunk's buddy.  Returns the largest order given back: below m, r - b
 * and end - r being below 2^m (mb_run_split_short).
 */
static __attribute__((noinline)) int mb_put_run(struct mb_volume *vol, struct mb_group *grp,
						uint32_t b, uint32_t end)
{
	uint32_t m = (uint32_t)mb_ilog2((uint32_t)(b - 1) ^ end); /* b == 0: 31 */

	if (MB_UNLIKELY(m > (uint32_t)vol->max_order))
		return mb_put_run_long(vol, grp, b, end);
	uint32_t r = end & (~0u << m);

	mb_run_split_short(vol, grp, b, r, end, false);
	return mb_ilog2((r - b) | (end - r));
}

/*
 * Clears the bits of [start, start + len), all set: mb_bitmap_mark_clear's
 * mirror (end masks, a store a word between, memset past 16 words).
 */
static __attribute__((noinline)) void mb_bitmap_clear_words(uint64_t *map, uint32_t w,
							    uint32_t last, uint64_t head,
							    uint64_t tail)
{
	map[w] &= ~head;
	memset(map + w + 1, 0, (size_t)(last - w - 1) * sizeof(*map));
	map[last] &= ~tail;
}

static inline void mb_bitmap_clear_set(uint64_t *map, uint32_t start, uint32_t len)
{
	uint32_t w = start >> 6, last = (start + len - 1) >> 6;
	uint64_t head = ~0ULL << (start & 63), tail = ~0ULL >> (63 - ((start + len - 1) & 63));

	if (w == last) {
		map[w] &= ~(head & tail);
		return;
	}
	if (last - w > 16) {
		mb_bitmap_clear_words(map, w, last, head, tail);
		return;
	}
	map[w] &= ~head;
	for (uint64_t *p = map + w + 1, *stop = map + last; p < stop; p++) {
		__asm__("" : "+r"(p)); /* no memset call, no vector code (see above) */
		*p = 0;
	}
	map[last] &= ~tail;
}

/*
 * The rest of a mark once the buddy has it (mb_buddy_mark_used_at): the
 * bitmap, the run tree, the group's counts and orders.  before, after:
 * the block before start, the one at end, free.  Returns whether the
 * orders held; if not, reorder false leaves mb_group_reorder_used_locked
 * to the caller (mb_buddy_mark_piece_used's one call).
 */
static inline __attribute__((always_inline)) bool
mb_buddy_mark_rest(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start, uint32_t len,
		   bool before, bool after, bool reorder)
{
	uint32_t end = start + len;

	{
		/* start's copy hidden from gcc (the empty asm is no
		   instruction): else it computes the mark's word and mask
		   at the function's entry, shared with the order lookups,
		   and keeps them on the stack across the whole take
		   (drain 1709.9 -> 1700.6, cell:aged90:256:zero:20 2000.5
		   -> 1992.8, aging:triangle 2695.7 -> 2684.4 a call) */
		uint32_t s = start;

		__asm__("" : "+r"(s));
		mb_bitmap_mark_clear(grp->bb_bitmap, s, len);
	}
	/* neither side free: the extent was a whole run, which the tree
	   then need not look for */
	mb_runsum_mark_locked(vol, grp, start, len, true, !before && !after);
	uint32_t frags = grp->bb_fragments + (uint32_t)before + (uint32_t)after - 1;
	uint32_t free = grp->bb_free - len;

	MB_WRITE_ONCE(grp->bb_fragments, frags);
	MB_WRITE_ONCE(grp->bb_free, free);
	/* after: the block at end is free (tested, or the last chunk taken
	   goes on past end), so it is the first free one -- no search when
	   the extent ended a chunk (raw:1 1006 -> 995 a call) */
	if (grp->bb_first_free == start)
		MB_WRITE_ONCE(grp->bb_first_free,
			      after ? end : mb_first_free_from(vol, grp->bb_bitmap, end, free));
	/* the counts as written, not read back; a side free (one fragment as
	   many or more): the average fell, its upper bound holds */
	if (MB_LIKELY(mb_group_orders_hold_used_as(vol, grp, free, frags, !before && !after))) {
		mb_group_orders_check(vol, grp);
		return true;
	}
	if (reorder)
		mb_group_reorder_used_locked(vol, grp);
	return false;
}

/*
 * Marks [start, start + len) used; every block in it must be free.  k: the
 * order of the maximal free chunk that starts at start, if the caller
 * found it there (the power-of-two scan), else -1.  discard_pa_seq is
 * bumped only if the group moves between scan sets (group_sets.c).
 *
 * The extent lies in one free run, whose maximal chunks are the largest
 * aligned ones that fit, one after the other (mb_buddy_counters_from_run):
 * orders rising to the run's middle, then falling.  An extent that is the
 * whole run (the blocks on either side used: an aged group's runs are
 * shorter than most requests) takes them all, split as the run is
 * (mb_take_run).  Else the chunks it touches are taken; what is left of
 * the first and the last is given back as maximal chunks (mb_put_before,
 * mb_put_after).  Only those two need the buddy read: between them, while
 * the order rises each chunk is the largest aligned one at its start (the
 * run goes on past the extent), and once it would overrun the extent's
 * end the chunks up to the last one are the binary digits of the distance
 * to it.  Both lookups read the buddy and bitmap before anything changes.
 * An extent of 16 blocks or more at the run's start (the complex scan's
 * usual find) needs no first lookup: its chunks rise from start itself.
 *
 * pe: 0, or the end of the piece the scan measured from start, before
 * any trim -- [start, pe) whole maximal chunks (mb_buddy_mark_piece_used).
 * A union of maximal chunks has no two free buddies side by side, so its
 * first chunk is the largest aligned one at start that fits before pe and
 * its last the largest aligned one ending at pe that fits after start
 * (mb_fit_order; the falling take's min(ctz(pe), jb)): the lookups become
 * arithmetic, and a trimmed extent (end < pe) is followed by a free block.
 */
static inline __attribute__((always_inline)) bool
mb_buddy_mark_used_at(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start, uint32_t len,
		      int k, uint32_t pe, bool reorder)
{
	uint32_t end = start + len, b;
	bool before = mb_is_free_before(grp, start);
	/* before: read below */
	bool after = before || end < pe || mb_is_free_after(vol, grp, end);

	assert(len && mb_range_all_clear(grp->bb_bitmap, start, len));
	assert(k < 0 || k == mb_buddy_order_for_block(vol, grp, start));
	if (!after) {
		/* a whole run: its own copy of the rest, neither side free
		   -- shared with the split's path, gcc kept before, after
		   and bb_bitmap in stack slots for it; this copy had drain
		   1307 -> 1284, aged:256 1705 -> 1688, aged50:4096:zero
		   1689 -> 1670 a call */
		if (len <= MB_DERIVED_MASK)
			mb_short_run_counts(grp, start, end, UINT32_MAX);
		else
			mb_take_run(vol, grp, start, end);
		return mb_buddy_mark_rest(vol, grp, start, len, false, false, reorder);
	} else {
		uint32_t c, jb;
		bool front = false; /* the extent starts the run, past 15 blocks */

		if (k < 0) {
			/* start inside the run: the chunk holding it; else a
			   run's first block is a chunk's first block */
			if (before)
				k = pe ? mb_fit_order(vol, start, pe)
				       : mb_order_holding(vol, grp, start,
							  mb_fit_order(vol, start, end));
			else if (len > MB_DERIVED_MASK)
				front = true;
			else
				k = mb_order_at_start(vol, grp, start);
		}
		if (front) {
			/* its rising chunks are the run's, from start (a chunk
			   boundary) while they fit in the extent: no lookup of
			   start's order, the split gives it (the first chunk is
			   one more digit).  A short extent's lookup is cheaper
			   than the falling one this may need (raw:1 +7 a call) */
			b = mb_take_rising(vol, grp, start, end, &jb);
		} else {
			assert(k == mb_buddy_order_for_block(vol, grp, start));
			c = start & ~((1u << k) - 1);
			b = c + (1u << k);
			mb_chunk_take(vol, grp, k, c);
			/* nothing before the extent in its chunk unless a
			   block before it is free: a run's first block, or the
			   scan's k, starts its chunk (c == start), and the
			   empty put's tests cost more than this one (raw:1
			   1021 -> 1006 instructions a call) */
			if (before)
				mb_put_before(vol, grp, c, start);
			if (b < end)
				b = mb_take_rising(vol, grp, b, end, &jb);
		}
		if (b < end) { /* falling: up to the chunk holding end - 1 */
#ifndef NDEBUG
			int want = mb_buddy_order_for_block(vol, grp, end - 1);
#endif
			/* the piece's last chunk, when it holds end - 1, is
			   of order min(ctz(pe), jb): one ending at pe of order
			   ctz(pe) below jb starts at b or after (b is aligned
			   to 2^jb), and one of order jb or more would hold
			   end - 1 only as the chunk at b, whose order is at
			   most jb (mb_take_falling's bound) */
			k = __builtin_ctz(pe | (1u << jb));
			if (pe && end > pe - (1u << k)) {
				c = pe - (1u << k);
				mb_chunk_take(vol, grp, k, c);
			} else {
				k = mb_take_falling(vol, grp, end - 1, (int)jb);
				c = (end - 1) & ~((1u << k) - 1);
			}
			assert(k == want && c == ((end - 1) & ~((1u << k) - 1)) && c >= b);
			/* most often none: the chunk is the one at b (an empty
			   loop's tests were ~9 instructions) */
			if (c != b)
				mb_take_digits(vol, grp, b, c - b);
			b = c + (1u << k);
		}
		/* b: the end of the last chunk taken; the block at end is free
		   if the chunk goes on past it */
		if (before)
			after = b > end || mb_is_free_after(vol, grp, end);
		mb_put_after(vol, grp, end, b);
	}
	return mb_buddy_mark_rest(vol, grp, start, len, before, after, reorder);
}

void mb_buddy_mark_used(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start,
			uint32_t len)
{
	mb_buddy_mark_used_at(vol, grp, start, len, -1, 0, true);
}

#ifndef NDEBUG
/* [start, pe) free and whole maximal chunks: start begins one, pe ends one */
static bool mb_is_piece(const struct mb_volume *vol, const struct mb_group *grp, uint32_t start,
			uint32_t pe)
{
	int k0 = mb_buddy_order_for_block(vol, grp, start);
	int kl = mb_buddy_order_for_block(vol, grp, pe - 1);

	return pe > start && pe <= vol->bpg && mb_range_all_clear(grp->bb_bitmap, start, pe - start) &&
	       !(start & ((1u << k0) - 1)) && !(pe & ((1u << kl) - 1));
}
#endif

/* The same for an allocation: k as mb_buddy_mark_used_at's (the order of
   the maximal free chunk that starts at start, when the scan read it off
   the buddy, else -1). */
void mb_buddy_mark_found_used(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start,
			      uint32_t len, int k)
{
	assert(k < 0 || k == mb_order_at_start(vol, grp, start));
	mb_buddy_mark_used_at(vol, grp, start, len, k, 0, true);
}

/*
 * mb_buddy_mark_used_at's piece take (pe) of an extent past 15 blocks that
 * starts its run and leaves a free block after it (the block before start
 * used, the one at end free): a long scan's usual take, the front of a run
 * (cell:seq90:1000:zero:20 780 of its 820, every one of
 * cell:empty:1000:rand:20's).  The same chunks as there: the rising digits
 * of r - start, the piece's last chunk (or the falling lookup), the falling
 * digits to it, what is left after end given back -- but with before and
 * after known, no flags kept across the take (gcc held them, bb_bitmap and
 * jb in stack slots), the fragments unchanged (one run shortened: no
 * store), no first-free search (the block at end is free), and the derived
 * orders' counts of all three digit sets moved by one vector op, not one
 * a set.  Returns whether the group's orders hold; else the caller
 * reorders, so that the piece take keeps a single call of
 * mb_group_reorder_used_locked (a second one here, and LTO stopped
 * inlining it into the power-of-two scans: aging:8m64k +3 a call).
 * Inline in mb_use_piece_found_locked (mb_buddy_mark_piece_used):
 * cell:seq90:1000:zero:20 1538 -> 1502 instructions a call,
 * cell:empty:1000:rand:20 1589 -> 1557, the 100-block empty and seq90
 * cells -36.
 */
static inline __attribute__((always_inline)) bool
mb_buddy_mark_piece_front(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start,
			  uint32_t len, uint32_t pe)
{
	uint32_t end = start + len, top = (uint32_t)vol->max_order;
	uint32_t m = (uint32_t)mb_ilog2((uint32_t)(start - 1) ^ end); /* start == 0: 31 */
	uint32_t r, b;
	mb_low4 low = { 0, 0, 0, 0 }; /* the derived orders' chunks taken, net */

	/* the rising chunks from start to r (mb_take_rising's, the counts of
	   orders 0 to 3 left to low) */
	if (MB_UNLIKELY(m > top)) {
		if ((end & (~0u << top)) == start) {
			r = start; /* none: start a multiple of 2^top, end before the next */
			m = top;
		} else {
			r = mb_take_rising_long(vol, grp, start, end, &m); /* counts its own */
		}
	} else {
		r = end & (~0u << m);
		low = mb_low_bits[(r - start) & MB_DERIVED_MASK];
		mb_chunks_digits_at(vol, grp, r, r - start, true, true, false, true);
	}
	b = r;
	if (b < end) { /* falling: as mb_buddy_mark_used_at's, up to the chunk holding end - 1 */
#ifndef NDEBUG
		int want = mb_buddy_order_for_block(vol, grp, end - 1);
#endif
		int k = __builtin_ctz(pe | (1u << m));
		uint32_t c = pe - (1u << k);

		if (MB_LIKELY(end > c)) {
			mb_chunk_take(vol, grp, k, c);
		} else {
			k = mb_take_falling(vol, grp, end - 1, (int)m);
			c = (end - 1) & ~((1u << k) - 1);
		}
		assert(k == want && c == ((end - 1) & ~((1u << k) - 1)) && c >= b);
		if (c != b) {
			low += mb_low_bits[(c - b) & MB_DERIVED_MASK];
			mb_chunks_digits_at(vol, grp, b, c - b, false, true, false, true);
		}
		b = c + (1u << k);
	}
	/* [end, b) given back (mb_put_after's) */
	low -= mb_low_bits[(b - end) & MB_DERIVED_MASK];
	mb_chunks_digits_at(vol, grp, b, b - end, true, false, false, true);
	mb_low_counts_move(grp, low, true);
	{
		uint32_t s = start;

		__asm__("" : "+r"(s)); /* as mb_buddy_mark_rest's */
		mb_bitmap_mark_clear(grp->bb_bitmap, s, len);
	}
	mb_runsum_mark_locked(vol, grp, start, len, true, false);
	uint32_t free = grp->bb_free - len;

	MB_WRITE_ONCE(grp->bb_free, free);
	if (grp->bb_first_free == start)
		MB_WRITE_ONCE(grp->bb_first_free, end);
	/* the fragments as they were: the average fell (rose false) */
	if (!mb_group_orders_hold_used_as(vol, grp, free, grp->bb_fragments, false))
		return false;
	mb_group_orders_check(vol, grp);
	return true;
}

/* The other piece takes (before free, short, or a whole run): the general
   mark, out of line (inline, the front take paid +10 a call on the cells
   above: cell:aged90:64:zero:20, whose pieces are a third whole runs and
   half inside a run, 1026 inline, 1028 so) */
static __attribute__((noinline)) bool mb_buddy_mark_piece_other(struct mb_volume *vol,
								 struct mb_group *grp,
								 mb_grpblk_t start, uint32_t len,
								 uint32_t pe)
{
	return mb_buddy_mark_used_at(vol, grp, start, len, -1, pe, false);
}

/* The same for the front of [start, pe), whole maximal chunks the scan
   measured (a piece of ext4's measure, alloc.c's long scans):
   mb_buddy_mark_used_at's pe.  A copy of its own, so that the other marks
   test no pe (with one copy aged:256, drain and the aged90 cells paid +5
   instructions a call); always inline, in its one caller,
   mb_use_piece_found_locked (a call, the front take's registers saved and
   restored twice: cell:seq90:1000:zero:20 1535 -> 1517 a call). */
inline __attribute__((always_inline)) void
mb_buddy_mark_piece_used(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start,
			 uint32_t len, uint32_t pe)
{
	assert(pe && pe - start >= len && mb_is_piece(vol, grp, start, pe));
	if (len > MB_DERIVED_MASK && !mb_is_free_before(grp, start) &&
	    (start + len < pe || mb_is_free_after(vol, grp, start + len))) {
		if (MB_LIKELY(mb_buddy_mark_piece_front(vol, grp, start, len, pe)))
			return;
	} else if (mb_buddy_mark_piece_other(vol, grp, start, len, pe)) {
		return;
	}
	mb_group_reorder_used_locked(vol, grp);
}

/*
 * mb_buddy_mark_found_used of the one block at c, the first of the
 * maximal free chunk of order k there (the one-block scan's take,
 * alloc.c): the chunk leaves the buddy and the rest of it, [c + 1, c +
 * 2^k), comes back as the binary digits of 2^k - 1, one chunk of each
 * order below k (mb_put_after's), so the block after c is free unless k
 * is 0.  None of the general mark's lookups or tests of where the extent
 * lies in its run; one bit of the bitmap, in one leaf of the run tree.
 */
void mb_buddy_mark_one_used(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t c, int k)
{
	const uint32_t end = c + 1;
	const bool before = mb_is_free_before(grp, c);
	const bool after = k || mb_is_free_after(vol, grp, end);

	assert(!mb_test_bit(grp->bb_bitmap, c));
	assert(k == mb_order_at_start(vol, grp, c) && !(c & ((1u << k) - 1)));
	mb_chunk_take(vol, grp, k, c);
	mb_put_after(vol, grp, end, c + (1u << k));
	grp->bb_bitmap[c >> 6] |= 1ULL << (c & 63);
	mb_runsum_mark_locked(vol, grp, c, 1, true, !before && !after);
	uint32_t frags = grp->bb_fragments + (uint32_t)before + (uint32_t)after - 1;
	uint32_t free = grp->bb_free - 1;

	MB_WRITE_ONCE(grp->bb_fragments, frags);
	MB_WRITE_ONCE(grp->bb_free, free);
	if (grp->bb_first_free == c)
		MB_WRITE_ONCE(grp->bb_first_free,
			      after ? end : mb_first_free_from(vol, grp->bb_bitmap, end, free));
	if (MB_LIKELY(mb_group_orders_hold_used_as(vol, grp, free, frags, !before && !after)))
		mb_group_orders_check(vol, grp);
	else
		mb_group_reorder_used_locked(vol, grp);
}

/* 2^lo blocks at c aligned to them, lo > 11 (64 words or more): no end
   masks, memset alone (mb_set_bits_words computed them: aging:8m64k's
   2048-block chunks paid ~50 instructions more).  Out of line, as the
   call it replaces: the fast path's inlined mark keeps its shape. */
static __attribute__((noinline)) void mb_bitmap_mark_chunk(uint64_t *map, uint32_t c, int lo)
{
	memset(map + (c >> 6), 0xff, (size_t)8 << (lo - 6));
}

/* mb_bitmap_mark_clear for [c, c + 2^lo) with c aligned to it: in one
   word up to order 6, whole words from there, no end masks.  Two tests
   reach each order's stores (4 for 16 blocks, 8 for 256: a chain of a
   test per order cost 10 instructions at 256). */
static inline void mb_bitmap_mark_aligned(uint64_t *map, uint32_t c, int lo)
{
	uint64_t *p = map + (c >> 6);

	if (lo < 8) {
		if (lo <= 6) {
			*p |= (~0ULL >> (63 & -(1u << lo))) << (c & 63);
		} else {
			p[0] = p[1] = ~0ULL;
		}
		return;
	}
	if (lo > 10) {
		/* 2048 blocks (Ceph's 8 MiB extents of 4 KiB blocks): a memset
		   of a constant 256 bytes, which gcc makes 16 vector stores
		   inline -- the call's and the library's set-up cost ~35
		   instructions a take (aging:8m64k 719 -> 706 a call) */
		if (lo == 11)
			memset(p, 0xff, 256);
		else
			mb_bitmap_mark_chunk(map, c, lo);
		return;
	}
	/* 4, 8 or 16 words: the stores of each doubling, no loop (a loop of
	   4 words cost 26 instructions) */
	p[0] = p[1] = p[2] = p[3] = ~0ULL;
	if (lo == 8)
		return;
	p[4] = p[5] = p[6] = p[7] = ~0ULL;
	if (lo == 9)
		return;
	for (int i = 8; i < 16; i++)
		p[i] = ~0ULL;
}

/*
 * mb_buddy_mark_found_used for the power-of-two fast path (alloc.c): the
 * first 2^lo blocks of the maximal free chunk of order k at c, with
 * MB_BUDDY_DERIVED < lo <= k, in closed form.  The chunk leaves the buddy
 * and its back halves of orders lo to k - 1, at c + 2^j, become maximal
 * (mb_put_after's digits of 2^k - 2^lo); all these orders have maps.
 * With lo < k the block after the extent is free (the first back half);
 * a free block after it is where bb_first_free moves when it was c.
 * always_inline into its two callers (alloc.c's fast paths): as a call,
 * +17 instructions a call of raw:16.  The chunk's bit in order k's map
 * the caller has set already (mb_buddy_chunk_leave): the lookup that found
 * the chunk holds its word and bit (mb_scan_power2_fast_chunk_at_locked),
 * finding them again cost ~8 instructions a call, and passing them here
 * kept them on the stack across the claim (~2).
 */
static inline __attribute__((always_inline)) void
mb_buddy_mark_chunk_front_used_as(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t c,
				  int k, int lo, bool anon)
{
	uint32_t len = 1u << lo, end = c + len;

	assert(lo > MB_BUDDY_DERIVED && lo <= k && !(c & ((1u << k) - 1)));
	assert(len && mb_range_all_clear(grp->bb_bitmap, c, len));
	assert(mb_test_bit(mb_order_map(vol, grp, k), c >> k));
	grp->bb_counters[k]--;
	uint64_t *buddy = grp->bb_buddy;

	if (lo == k) {
		/* no split: the request's size was the chunk's */
	} else if (!c) {
		/* a chunk at the group's front (a whole group's first take,
		   3 calls in 4 of cell:empty:256:rand): each back half is chunk
		   1 of its order, bit 1 of its map's first word -- no index or
		   mask to compute, 6 instructions an order instead of 11 */
		for (int j = lo; j < k; j++) {
			buddy[vol->mb_offsets[j]] &= ~2ULL;
			grp->bb_counters[j]++;
		}
	} else {
		/* x = c >> j, halved as j grows (no shift by j each order) */
		uint32_t x = c >> lo;

		for (int j = lo; j < k; j++, x >>= 1) {
			/* bit x | 1: x is even (c is 2^k aligned), so the back
			   half's bit is n + 1, n = x & 63 <= 62, and ~2 rotated
			   left by n clears it alone (one rotate, no OR, no NOT) */
			uint32_t n = x & 63;

			buddy[vol->mb_offsets[j] + (x >> 6)] &= ~2ULL << n | ~2ULL >> (-n & 63);
			grp->bb_counters[j]++;
		}
	}
	mb_bitmap_mark_aligned(grp->bb_bitmap, c, lo);
	mb_runsum_mark_aligned_used_locked(vol, grp, c, len, anon);
	uint32_t frags = grp->bb_fragments, free = grp->bb_free - len, first = grp->bb_first_free;
	bool hold;

	MB_WRITE_ONCE(grp->bb_free, free);
	if (MB_LIKELY(c == first) && (lo < k || mb_is_free_after(vol, grp, end))) {
		/* every block before bb_first_free is used, the one after the
		   extent is free: the run lost its front (frags stay), and its
		   new front is the first free block */
		assert(!mb_is_free_before(grp, c));
		MB_WRITE_ONCE(grp->bb_first_free, end);
		hold = mb_group_orders_hold_front_used(vol, grp, free, frags, k);
	} else {
		bool after = lo < k || mb_is_free_after(vol, grp, end);

		frags += (uint32_t)mb_is_free_before(grp, c) + after - 1;
		MB_WRITE_ONCE(grp->bb_fragments, frags);
		if (c == first)
			MB_WRITE_ONCE(grp->bb_first_free, mb_first_free_from(vol, grp->bb_bitmap, end, free));
		hold = mb_group_orders_hold_used_at(vol, grp, free, frags);
	}
	if (MB_LIKELY(hold))
		mb_group_orders_check(vol, grp);
	else
		mb_group_reorder_used_locked(vol, grp);
}

inline __attribute__((always_inline)) void
mb_buddy_mark_chunk_front_used_at(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t c,
				  int k, int lo)
{
	mb_buddy_mark_chunk_front_used_as(vol, grp, c, k, lo, false);
}

/* The same for the fast path of a request with no file (alloc.c): an idle
   run tree stays so through a long take too (its groups are seldom
   walked: mb_runsum_mark_aligned_used_locked) */
inline __attribute__((always_inline)) void
mb_buddy_mark_chunk_front_used_anon(struct mb_volume *vol, struct mb_group *grp,
				    mb_grpblk_t c, int k, int lo)
{
	mb_buddy_mark_chunk_front_used_as(vol, grp, c, k, lo, true);
}

/*
 * Frees one aligned chunk of order k at index i and merges it with free
 * buddies; returns the order of the chunk it ended in.  While merging
 * upward the buddy's sibling holds no block being freed (the chunks are
 * freed rising, and a later one is never a sibling's part: it is still
 * used), so free means maximal: for a derived order, the sibling's bits in
 * the bitmap, for a stored one its bit in the order's map.  A group of a
 * power-of-two bpg (every volume ext4 makes) has every sibling of an order
 * below max_order in range, so its climb has no bounds tests (they were
 * ~10 instructions a level: free:empty:256:rand climbs 5 stored orders a
 * free).
 */
static int mb_buddy_free_chunk(struct mb_volume *vol, struct mb_group *grp, int k, uint32_t i)
{
	uint32_t b = i << k;
	uint64_t *bitmap = grp->bb_bitmap;
	int top = vol->max_order;

	if (k < 6) { /* inside one word: one AND, not a call */
		bitmap[b >> 6] &= ~(((2ULL << ((1u << k) - 1)) - 1) << (b & 63));
	} else if (k >= 10) { /* 16 words or more: memset (a 2048-block chunk's
				  32 stores were ~100 instructions) */
		memset(bitmap + (b >> 6), 0, (size_t)8 << (k - 6));
	} else { /* whole words: a store each (see mb_bitmap_mark_clear) */
		uint64_t *p = bitmap + (b >> 6), *stop = p + (1u << (k - 6));

		for (; p < stop; p++) {
			__asm__("" : "+r"(p));
			*p = 0;
		}
	}
	if (MB_UNLIKELY(!vol->bpg_shift)) {
		/* the last sibling of an order may be past the group */
		while (k < top && (i >> 1) < vol->mb_maxs[k + 1] && (i ^ 1) < vol->mb_maxs[k]) {
			uint32_t s = (i ^ 1) << k;

			if (k <= MB_BUDDY_DERIVED
				    ? (bitmap[s >> 6] >> (s & 63)) & ((2ULL << ((1u << k) - 1)) - 1)
				    : mb_test_bit(mb_order_map(vol, grp, k), i ^ 1))
				break;
			if (k > MB_BUDDY_DERIVED)
				mb_set_bit(mb_order_map(vol, grp, k), i ^ 1);
			grp->bb_counters[k]--;
			i >>= 1;
			k++;
		}
	} else {
		for (; k <= MB_BUDDY_DERIVED && k < top; k++, i >>= 1) {
			uint32_t s = (i ^ 1) << k;

			if ((bitmap[s >> 6] >> (s & 63)) & ((2ULL << ((1u << k) - 1)) - 1))
				goto done;
			grp->bb_counters[k]--;
		}
		for (; k < top; k++, i >>= 1) {
			uint32_t s = i ^ 1;
			uint64_t *w = grp->bb_buddy + vol->mb_offsets[k] + (s >> 6);
			uint64_t bit = 1ULL << (s & 63);

			if (*w & bit)
				break;
			*w |= bit;
			grp->bb_counters[k]--;
		}
	}
done:
	if (k > MB_BUDDY_DERIVED)
		mb_clear_bit(mb_order_map(vol, grp, k), i);
	grp->bb_counters[k]++;
	return k;
}

/* Are the bits of [start, start + len) all set?  mb_range_all_set inline
   for an extent of a few words. */
static inline bool mb_bitmap_all_set(const uint64_t *map, uint32_t start, uint32_t len)
{
	uint32_t w = start >> 6, last = (start + len - 1) >> 6;
	uint64_t head = ~0ULL << (start & 63), tail = ~0ULL >> (63 - ((start + len - 1) & 63));

	if (!len || last - w > 16)
		return mb_range_all_set(map, start, len);
	if (w == last)
		return !(~map[w] & head & tail);
	uint64_t acc = (map[w] | ~head) & (map[last] | ~tail);

	for (const uint64_t *p = map + w + 1, *stop = map + last; p < stop; p++) {
		__asm__("" : "+r"(p)); /* no vector code for 2 or 3 words */
		acc &= *p;
	}
	return !~acc;
}

/*
 * Returns [start, start + len) to the buddy.  If any block is already free
 * nothing changes and -EEXIST is returned (a double free: the caller flags
 * the group).
 */
int mb_buddy_free(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start, uint32_t len)
{
	if (!mb_bitmap_all_set(grp->bb_bitmap, start, len))
		return -EEXIST;
	mb_buddy_free_validated(vol, grp, start, len);
	return 0;
}

/*
 * mb_buddy_free for a range whose in-core bits the caller has just found
 * all set under the same hold of bb_lock (mb_free_in_group, on a group
 * whose in-core bitmap is its on-disk one): the same bits again.  With
 * mb_range_all inline in its callers, free:empty:256:rand 700 -> 629
 * instructions a free.
 */
void mb_buddy_free_validated(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t start,
			     uint32_t len)
{
	assert(mb_range_all_set(grp->bb_bitmap, start, len));
	/* first, while start and len are in their argument registers */
	mb_fws_freed(vol, grp, start, len);

	uint32_t b = start, rest = len;
	int top = -1; /* the highest order a chunk ended in */
	bool before = mb_is_free_before(grp, start);
	bool after = mb_is_free_after(vol, grp, start + len);

	if (!before && !after && (start | len) & (len - 1)) { /* a run of its own: its split, no merge */
		top = len <= MB_DERIVED_MASK ? mb_short_run_counts(grp, start, start + len, 1)
					     : mb_put_run(vol, grp, start, start + len);
		mb_bitmap_clear_set(grp->bb_bitmap, start, len);
		rest = 0;
	}
	while (rest) {
		int k = mb_chunk_order(vol, b, rest);
		int end = mb_buddy_free_chunk(vol, grp, k, b >> k);

		top = end > top ? end : top;
		b += 1u << k;
		rest -= 1u << k;
	}
	assert(mb_fws_ok(vol, grp->bb_bitmap, mb_fws(vol, grp)));
	/* neither side free: the run is the range, which the tree then
	   need not look for (mb_rs_leaf_mark) */
	mb_runsum_mark_locked(vol, grp, start, len, false, !before && !after);
	/* the blocks on either side did not change: one run more when
	   neither is free, one fewer when both are */
	MB_WRITE_ONCE(grp->bb_fragments,
		      grp->bb_fragments + 1u - (uint32_t)before - (uint32_t)after);
	MB_WRITE_ONCE(grp->bb_free, grp->bb_free + len);
	if (start < grp->bb_first_free)
		MB_WRITE_ONCE(grp->bb_first_free, start);
	mb_seq_bump(vol);
	mb_group_update_orders_freed_locked(vol, grp, top);
}

/*
 * A free run at block that goes on past block + needed: what ext4's walk
 * of the buddy's maximal chunks from block's on measures until they cover
 * `needed` blocks.  Those chunks partition the free space (a free chunk
 * inside a larger free one would have merged), so they follow each other
 * without gaps, and the walk stops at the end of the one holding the
 * needed-th block: one order lookup, not one a chunk (a 2048-block goal
 * crosses up to 20 chunks).
 */
static inline uint32_t mb_extent_past(struct mb_volume *vol, struct mb_group *grp,
				      mb_grpblk_t block, uint32_t needed, bool start)
{
	uint32_t x = block + (needed ? needed - 1 : 0);
	uint64_t w = grp->bb_bitmap[x >> 6];
	int k;

	if (w || (x >> 6) == (vol->bpg >> 6) || vol->max_order < 6) {
		k = mb_order_fast_w(vol, grp, x, w);
	} else {
		/* x's word all free: the stored orders from both ends, 6 and
		   the top, inwards.  Most of aging:triangle's measures end in a
		   chunk of order 10 to 13, at or next to the top, which the
		   walk up from 6 reached in 6 steps; an aged group's, in one of
		   order 6 or 7.  The top is max_order, or, when the block
		   before block is used, the largest order whose chunk at x
		   starts at block or after -- as when block starts a
		   maximal chunk (`start`: the one before ends there).  On main f5e60ca + the run tree's
		   closed forms: aging:triangle 4138 -> 4013, drain 2310 ->
		   2308, aging:8m64k:file 1550 -> 1549, cell:aged50:256:next:20
		   1783 -> 1786 instructions a call (straight down from the top:
		   the triangle 3962, but cell:aged50 1799) */
		int top = vol->max_order;

		if (start || !block || mb_test_bit(grp->bb_bitmap, block - 1)) {
			int lb = block ? mb_ilog2(x ^ (block - 1)) : 31;

			top = lb < top ? lb : top;
		}
		k = 0; /* none: an inconsistent buddy, what the plain walk says */
		for (int lo = 6, hi = top; lo <= hi; lo++, hi--) {
			if ((x >> lo) < vol->mb_maxs[lo] &&
			    !mb_test_bit(grp->bb_buddy + vol->mb_offsets[lo], x >> lo)) {
				k = lo;
				break;
			}
			if ((x >> hi) < vol->mb_maxs[hi] &&
			    !mb_test_bit(grp->bb_buddy + vol->mb_offsets[hi], x >> hi)) {
				k = hi;
				break;
			}
		}
		assert(k == mb_buddy_order_for_block(vol, grp, x));
	}

	return (((x >> k) + 1) << k) - block;
}

/*
 * Length of the free extent starting at `block`, following maximal chunks
 * until `needed` blocks are covered or a used block ends it (ext4's
 * mb_find_extent).  0 if `block` is used.
 */
uint32_t mb_buddy_find_extent(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t block,
			      uint32_t needed)
{
	if (mb_test_bit(grp->bb_bitmap, block))
		return 0;
	/*
	 * A free run no longer than `needed` is exactly what the chunk walk
	 * below returns (it stops at the used block); a word-wise bit scan
	 * finds it far faster, and short runs are the common case on an aged
	 * volume.
	 */
	uint32_t limit = block + needed + 1 < vol->bpg ? block + needed + 1 : vol->bpg;
	uint64_t u = grp->bb_bitmap[block >> 6] >> (block & 63); /* bit 0 free */
	uint32_t next = u ? block + (uint32_t)__builtin_ctzll(u)
		   : (block | 63) + 1 < limit ? mb_next_unlike(grp->bb_bitmap, (block >> 6) + 1, limit, 0)
					      : limit;
	uint32_t run = (next < limit ? next : limit) - block;

	if (run <= needed)
		return run;
	return mb_extent_past(vol, grp, block, needed, false);
}

/*
 * mb_buddy_find_extent where the free run at block is known to hold
 * `known` >= 1 blocks (the run tree found it): the bit scan for the run's
 * end starts past them (a 2048-block goal's measure read 33 words to
 * learn what the tree knew), and when they are `needed` or more it is one
 * bit, the block past `needed`.  Block starts a maximal free chunk: the
 * block before it is used, or ends another chunk (the complex scan's
 * measures start at a run's start or where the last measure ended, the
 * end of its last chunk), so no chunk past it holds the one before.
 */
uint32_t mb_buddy_find_extent_known(struct mb_volume *vol, struct mb_group *grp,
				    mb_grpblk_t block, uint32_t needed, uint32_t known)
{
	assert(!block || mb_test_bit(grp->bb_bitmap, block - 1) ||
	       ((((block - 1) >> mb_buddy_order_for_block(vol, grp, block - 1)) + 1)
		<< mb_buddy_order_for_block(vol, grp, block - 1)) == block);
	if (known >= needed) {
		if (vol->bpg - block == needed || mb_test_bit(grp->bb_bitmap, block + needed))
			return needed;
	} else {
		uint32_t limit = vol->bpg - block > needed ? block + needed + 1 : vol->bpg;
		uint32_t run = mb_find_next_bit(grp->bb_bitmap, limit, block + known) - block;

		if (run <= needed)
			return run;
	}
	return mb_extent_past(vol, grp, block, needed, true);
}

/*
 * mb_find_next_zero_bit and mb_buddy_find_extent(.., 1) in one: the next
 * free block at or after `from` (bpg if none), and in *len what a one-block
 * goal measures there -- the rest of the maximal chunk holding it (1 when
 * the run is one block: its chunk is of order 0).
 */
static inline uint32_t mb_next_extent1(const struct mb_volume *vol, const struct mb_group *grp,
				       mb_grpblk_t from, uint32_t *len)
{
	const uint64_t *map = grp->bb_bitmap;
	uint32_t w = from >> 6, nw = (vol->bpg + 63) >> 6;
	uint64_t f;

	if (from >= vol->bpg)
		return vol->bpg;
	f = ~map[w] & (~0ULL << (from & 63));
	while (!f) {
		if (++w >= nw)
			return vol->bpg;
		f = ~map[w];
	}
	uint32_t p = (w << 6) + (uint32_t)__builtin_ctzll(f);

	if (p >= vol->bpg)
		return vol->bpg;
	int k = mb_buddy_order_fast(vol, grp, p);

	*len = (((p >> k) + 1) << k) - p;
	return p;
}

uint32_t mb_buddy_next_extent1(const struct mb_volume *vol, const struct mb_group *grp,
			       mb_grpblk_t from, uint32_t *len)
{
	return mb_next_extent1(vol, grp, from, len);
}

/*
 * mb_order_at_start's answer at x, a chunk's end inside a free run, when
 * the run rises there: the largest aligned chunk at x, of order j =
 * min(ctz(x), max_order), is a maximal free chunk.  For a stored order its
 * bit says so alone (clear: free, and not part of a larger free chunk,
 * which would hold x's predecessor too); for a derived one (2..8 blocks,
 * inside x's word) its blocks all free do, as they do for
 * mb_order_at_start.  One test instead of the bitmap word, the run's end
 * and the orders down from j; false (len untouched) otherwise.
 */
static inline bool mb_rising_chunk(const struct mb_volume *vol, const struct mb_group *grp,
				   uint32_t x, uint32_t *len)
{
	int j = __builtin_ctz(x); /* x > 0: past the scan's first extent */

	j = j < vol->max_order ? j : vol->max_order;
	if (j <= MB_BUDDY_DERIVED) {
		uint32_t l = 1u << j; /* x is aligned to l <= 8: one word holds it */

		if (!j || vol->bpg - x < l ||
		    ((grp->bb_bitmap[x >> 6] >> (x & 63)) & ((1ULL << l) - 1)))
			return false;
		*len = l;
		return true;
	}
	if ((x >> j) >= vol->mb_maxs[j] ||
	    mb_test_bit(grp->bb_buddy + vol->mb_offsets[j], x >> j))
		return false;
	*len = 1u << j;
	return true;
}

/*
 * The extents a one-block goal's scan measures from `from` on, one after
 * the other as mb_buddy_next_extent1 finds them: at most n, the last one
 * the first of one block, and none past the `free` blocks the counters
 * say there are (over: the next one would be, the counters disagree).
 * Gives their count and the first of the shortest.
 */
void mb_buddy_scan1(const struct mb_volume *vol, const struct mb_group *grp, mb_grpblk_t from,
		    uint32_t n, uint32_t free, struct mb_scan1 *out)
{
	const uint64_t *map = grp->bb_bitmap;
	uint32_t x, len;

	*out = (struct mb_scan1){ 0 };
	if (!n)
		return;
	if (mb_scan1_tail_free(vol, grp, from, free)) {
		mb_scan1_tail(vol, from, n, out);
		return;
	}
	x = mb_next_extent1(vol, grp, from, &len);
	/* after the first extent every one starts where a chunk ends: the
	   next chunk of the same run, or past a used block a run's first */
	for (;;) {
		if (x >= vol->bpg)
			return;
		if (len > free) {
			out->over = true;
			return;
		}
		free -= len;
		out->count++;
		if (!out->len || len < out->len) {
			out->start = x;
			out->len = len;
		}
		if (len == 1 || out->count >= n)
			return;
		x += len;
		if (x >= vol->bpg)
			return;
		/*
		 * Rising chunks, counted alone: every x here is aligned to the
		 * extent before it (a chunk's start, or the end of the one
		 * holding the first block), so a rising chunk is no shorter
		 * than it -- the shortest stays, and none is of one block.
		 */
		while (mb_rising_chunk(vol, grp, x, &len)) {
			if (len > free) {
				out->over = true;
				return;
			}
			free -= len;
			if (++out->count >= n)
				return;
			x += len;
			if (x >= vol->bpg)
				return;
		}
		if (mb_test_bit(map, x)) {
			assert(mb_fws_next_free(vol, grp, x) == mb_find_next_zero_bit(map, vol->bpg, x));
			x = mb_fws_next_free(vol, grp, x);
			if (x >= vol->bpg)
				return;
		}
		len = 1u << mb_order_at_start(vol, grp, x);
	}
}

/*
 * First free chunk of exactly order k >= 1 (ext4's simple scan; the
 * power-of-two pass starts at order 1).  -EUCLEAN if the counter said
 * there was one and the buddy has none.
 */
int mb_buddy_first_free_chunk(const struct mb_volume *vol, const struct mb_group *grp, int k,
			      mb_grpblk_t *start)
{
	assert(k >= 1 && k <= vol->max_order);
	/* no free chunk starts before bb_first_free: the search starts there */
	uint32_t first = grp->bb_first_free < vol->bpg ? grp->bb_first_free : 0;

	if (k <= MB_BUDDY_DERIVED) { /* no map: the bitmap, a word at a time */
		for (uint32_t w = first >> 6; w < vol->bitmap_words; w++) {
			uint64_t f = mb_free_word(vol, grp->bb_bitmap, w);
			uint64_t m = f ? mb_word_maximal(vol, f, k) : 0;

			if (m) {
				*start = w * 64 + (uint32_t)__builtin_ctzll(m);
				return 0;
			}
		}
		return -EUCLEAN;
	}
	const uint64_t *map = grp->bb_buddy + vol->mb_offsets[k];
	uint32_t i = mb_find_next_zero_bit(map, vol->mb_maxs[k], first >> k);

	if (i >= vol->mb_maxs[k])
		return -EUCLEAN;
	*start = i << k;
	return 0;
}
