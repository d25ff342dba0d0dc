/* SPDX-License-Identifier: MIT */
/*
 * runsum.c - a group's free-run tree, so the complex scan (alloc.c) can
 * jump over free runs instead of walking its bitmap one run at a time.
 *
 * The tree is a segment tree over the in-core bitmap (bb_bitmap) with a
 * leaf per 1024 blocks (MB_RS_LEAF_BITS).  Each node summarizes its range: the free blocks
 * at its start (pre) and end (suf), its longest free stretch (max) and
 * where the first of that length starts (at), and how many free runs it
 * holds (cnt, each once, one that goes on past its edges too: a join takes
 * one off where the halves share a run).  It answers, from any block i taken as the start of a run (the
 * scan resumes inside a run after a partial measure):
 *  - the first run of at least L blocks (mb_runsum_next_long);
 *  - with it, how many shorter runs lie before it, up to a limit, and the
 *    first of the longest of them (mb_runsum_scan: a node absorbed whole
 *    names it by its at, no descent);
 * in O(log) nodes plus a few words.  With them the scan reproduces exactly
 * the runs ext4's walk would skip, count and measure.  Every change of the
 * bitmap goes through buddy.c, which tells the tree (mb_runsum_mark_locked):
 * a leaf wholly inside the range, now all used or all free, is set at
 * once; a fresh leaf partly inside follows from the run the change split
 * or joined (mb_rs_leaf_mark), or else is read again from its words at
 * once (mb_rs_leaf_redo): it stays fresh.  In a tree all fresh
 * the ancestors of the leaves so set follow them at once (mb_rs_lift,
 * mb_rs_mark_long_fresh, mb_rs_mark_long_used_fresh), and a used mark over whole nodes sets the
 * highest of them alone, their subtrees left hidden until a free or a walk
 * from a used block there pushes down (mb_rs_unlazy_slow: the rule); else
 * they go stale.  A query's walk recomputes the stale nodes it reaches, no others
 * (mb_rs_scan_node).
 *
 * Storage: 2 * leaves nodes of 20 bytes behind the group's buddy, in the
 * derived buffer group.c allocates (and may drop: gcache.c): 1.25 KiB for
 * a group of 32768 blocks, then a count's resume point (mb_rs_resume, 56
 * bytes).
 * Node 0, no node of the tree, counts the stale leaves (mb_rs_stale_leaves),
 * says whether the stale nodes lie on one leaf's path (mb_rs_stale_path),
 * and holds the resume point's block (mb_rs_resume_at).
 *
 * Locking: everything here needs the group's bb_lock.
 */
#include <string.h>

#include "alloc_ctx.h"
#include "percpu.h"

/*
 * A leaf of 1024 blocks, 16 words: the tree has half the nodes of 512-block
 * leaves (1.25 KiB a group of 32768 blocks against 2.5), a long mark climbs
 * a level less, and aging's groups keep more of their trees in cache.
 * Measured against 512 (every decision the same), before mb_rs_leaf_full
 * unrolled all 16 words (with it: aged90 rand 2221, aged:256 1808,
 * aged90 zero 1931): instructions a call
 * aged:256 1960 -> 1868, aging:triangle 2289 -> 2227, 8m64k 777 -> 759,
 * but cell:aged90:256:zero:20 1864 -> 1935, rand 2164 -> 2310 (a leaf's
 * read after a cut reads 16 words); CPU time of Ceph's aging shapes +4%
 * to +19% calls a CPU-second over four interleaved pairs, the aged90
 * len-256 cells within their noise (-5% to +5%).  Leaves of 256 and 2048
 * cost more instructions overall.
 */
#define MB_RS_LEAF_WORDS 16u
#define MB_RS_LEAF_BITS (64u * MB_RS_LEAF_WORDS)
#define MB_RS_LEAF_SHIFT 10u /* log2(MB_RS_LEAF_BITS) */
_Static_assert(1u << MB_RS_LEAF_SHIFT == MB_RS_LEAF_BITS, "leaf shift");
_Static_assert(MB_RS_LEAF_BITS == MB_RUNSUM_LEAF_BLOCKS, "the leaf size mb_int.h tells alloc.c");
#define MB_RS_NONE UINT32_MAX
#define MB_RS_STALE UINT32_MAX /* in cnt: recompute before use */

/* Leaves, a power of two so that node n's children are 2n and 2n+1. */
uint32_t mb_runsum_leaves_for(uint32_t bitmap_words)
{
	uint32_t need = (bitmap_words + MB_RS_LEAF_WORDS - 1) / MB_RS_LEAF_WORDS;

	return need <= 1 ? 1 : 1u << (32 - __builtin_clz(need - 1));
}

/* Set with the geometry (volume.c): every query needs it, none recomputes it. */
static inline uint32_t mb_rs_leaves(const struct mb_volume *vol)
{
	assert(vol->rs_leaves == mb_runsum_leaves_for(vol->bitmap_words));
	return vol->rs_leaves;
}

/*
 * A count's resume point: a counting walk's state (mb_rs_walk's fields) at
 * block b -- the runs it closed in [from, b), the first of the longest
 * above its floor, the free run open at b -- so that the next count from
 * the same block walks from b alone (mb_rs_scan_resumed).  The drain
 * counts the same first runs of a group call after call, each call taking
 * the longest of them and the count then reaching one run further: its
 * walk starts at the root and descends ~6 levels to where the count ends,
 * each time.  b is the start of the count's longest run, noted as the walk
 * closes it (mb_rs_close: the runs before it, the longest before it, no
 * run open there): the take starts at b and leaves [from, b) as it was.
 * A longest that a node's summary names (an inner run) notes nothing: the
 * point noted before it stays, earlier.  b lives in node 0's max, which every
 * change of the bitmap tests (mb_rs_resume_cut): a mark or free that starts
 * before b drops it (0: none); the state itself lies behind the tree.
 * Locking: bb_lock, as the tree.
 */
struct mb_rs_snap {
	uint32_t b, runs, longest, at, c;
};

struct mb_rs_resume {
	uint32_t from, floor;           /* the count it continues */
	struct mb_rs_snap s;            /* its state at b (s.b == b) */
	uint32_t cand_from, cand_floor; /* the current walk's count, and */
	struct mb_rs_snap cand;         /* its state at its longest's start (b 0: none) */
};

static inline struct mb_rs_resume *mb_rs_resume(struct mb_rs *t, uint32_t p)
{
	return (struct mb_rs_resume *)(t + 2 * (size_t)p);
}

static inline uint32_t *mb_rs_resume_at(struct mb_rs *t)
{
	return &t[0].max;
}

/* Blocks from start on change: a resume point past start goes.  A change
   from b on leaves the count before b, and the run open at b, as they were
   (the walk from b reads the rest). */
static inline void mb_rs_resume_cut(struct mb_rs *t, uint32_t start)
{
	if (start < *mb_rs_resume_at(t))
		*mb_rs_resume_at(t) = 0;
}

size_t mb_runsum_words(const struct mb_volume *vol)
{
	return (2 * (size_t)mb_rs_leaves(vol) * sizeof(struct mb_rs) + sizeof(struct mb_rs_resume) +
		sizeof(uint64_t) - 1) / sizeof(uint64_t);
}

/* Must match the layout of the derived buffer (group.c): after the buddy. */
struct mb_rs *mb_runsum_tree(const struct mb_volume *vol, const struct mb_group *grp)
{
	return (struct mb_rs *)(grp->bb_buddy + vol->buddy_words);
}

/* Free-block mask of word w; words past the bitmap are used. */
static inline uint64_t mb_rs_free(const struct mb_volume *vol, const struct mb_group *grp,
				  uint32_t w)
{
	return w < vol->bitmap_words ? ~grp->bb_bitmap[w] : 0;
}

/* Of the n words from w, how many lie in the bitmap (the rest are used). */
static inline uint32_t mb_rs_words_in(const struct mb_volume *vol, uint32_t w, uint32_t n)
{
	return w >= vol->bitmap_words ? 0 : vol->bitmap_words - w < n ? vol->bitmap_words - w : n;
}

/* Length of the free run at bit x of z (bit x free); runs end at bit 63. */
static inline uint32_t mb_rs_run_at(uint64_t z, uint32_t x)
{
	uint64_t inv = ~(z >> x); /* zeros shifted in: never all ones past x = 0 */

	return inv ? (uint32_t)__builtin_ctzll(inv) : 64;
}

/*
 * The summary of range A (na blocks) followed by range B (nb blocks).
 * mul: whether the halves share a run is told by a product (a.suf * b.pre
 * != 0: a multiply and a test) instead of two tests and an and -- three
 * instructions fewer a join, taken where joins follow one another up a
 * path (mb_rs_join_up).  In the walk's inlined mends and the builds it
 * cost more (GCC schedules them worse: aged:256 +34, drain +11
 * instructions a call on main 4d5be9f), so they keep the tests.
 */
static inline __attribute__((always_inline)) struct mb_rs
mb_rs_join_with(struct mb_rs a, uint32_t na, struct mb_rs b, uint32_t nb, bool mul)
{
	struct mb_rs r;
	uint32_t mid = a.suf + b.pre;

	r.pre = a.pre == na ? na + b.pre : a.pre;
	r.suf = b.suf == nb ? nb + a.suf : b.suf;
	/* the first stretch of max: A's (were it A's tail, the joined one
	   starts there too), else the joined one, else B's (were it B's head,
	   the joined one would be as long: A's tail is empty); the earlier
	   wins a tie, each a compare and two moves */
	r.max = b.max;
	r.at = na + b.at;
	if (mid >= r.max) {
		r.max = mid;
		r.at = na - a.suf;
	}
	if (a.max >= r.max) {
		r.max = a.max;
		r.at = a.at;
	}
	/* the product of two run lengths fits in 64 bits */
	r.cnt = a.cnt + b.cnt - (mul ? (uint64_t)a.suf * b.pre != 0 : a.suf && b.pre);
	return r;
}

static inline struct mb_rs mb_rs_join(struct mb_rs a, uint32_t na, struct mb_rs b, uint32_t nb)
{
	return mb_rs_join_with(a, na, b, nb, false);
}

/* The same, in the lifts, a long mark's climb and a flush: on main
   4d5be9f aging:triangle 3969 -> 3936, cell:aged90:256:zero:20 2778 ->
   2753, cell:aged90:256:rand:20 3571 -> 3545, drain 2275 -> 2271
   instructions a call. */
static inline struct mb_rs mb_rs_join_up(struct mb_rs a, uint32_t na, struct mb_rs b, uint32_t nb)
{
	return mb_rs_join_with(a, na, b, nb, true);
}

/*
 * mb_rs_join_up with max and at tried from the left half's on (its max,
 * then the run across the middle, then the right half's, each later one
 * taken only when longer: the same summary, the earlier first of a tie).
 * For a climb whose left half usually holds the longest run, its moves
 * then skipped: in mb_rs_mark_long_used_fresh, a's climb where the node
 * outside the range is the left half (in aging:triangle 96% of those
 * joins took its max), and b's climb, below the common ancestor and
 * above it, where the climbing node is the left half.  On 89ef3c5
 * aging:triangle 2511 -> 2501, aging:8m64k:file 1174 -> 1173
 * instructions a call; above the common ancestor with the climbing node
 * the right half, the left first cost aging:triangle +1.  And in
 * mb_rs_mark_long_fresh's b climb, the climbing node the left half (a
 * free: it holds the freed run), aging:triangle -0.4.  The long marks'
 * lifts so (the freed node first, or a used one's sibling) saved
 * nothing.
 */
static inline __attribute__((always_inline)) struct mb_rs
mb_rs_join_up_left(struct mb_rs a, uint32_t na, struct mb_rs b, uint32_t nb)
{
	struct mb_rs r;
	const uint32_t mid = a.suf + b.pre;

	r.pre = a.pre == na ? na + b.pre : a.pre;
	r.suf = b.suf == nb ? nb + a.suf : b.suf;
	r.max = a.max;
	r.at = a.at;
	if (mid > r.max) {
		r.max = mid;
		r.at = na - a.suf;
	}
	if (b.max > r.max) {
		r.max = b.max;
		r.at = na + b.at;
	}
	r.cnt = a.cnt + b.cnt - ((uint64_t)a.suf * b.pre != 0);
	return r;
}

/* Free blocks at the start (dir 1) or the end (dir -1) of the leaf's words at w. */
static uint32_t mb_rs_leaf_edge(const struct mb_volume *vol, const struct mb_group *grp,
				uint32_t w, int dir)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < MB_RS_LEAF_WORDS; k++, w += (uint32_t)dir) {
		uint64_t z = mb_rs_free(vol, grp, w);

		if (z != ~0ULL)
			return n + (uint32_t)(dir > 0 ? __builtin_ctzll(~z) : __builtin_clzll(~z));
		n += 64;
	}
	return n;
}

/*
 * A leaf's summary straight from its words: the edges by ctz/clz, the
 * runs one by one, each by adding its lowest bit (the carry runs through
 * the run and stops at the used block past it: a few instructions a run).
 * A run open at a word's end is followed to the next used bit, and the
 * words with no free bit are passed in a loop of their own, a load and a
 * test each: a leaf of an aged group has more used words than runs
 * across words, and the loop that went word by word with an open run
 * beside it paid ~15 instructions a used word (on main a508c67:
 * cell:aged90:256:rand:20 3522 -> 3420, aged:256 3067 -> 3011,
 * cell:aged90:256:zero:20 2728 -> 2691, drain 2254 -> 2232 instructions a
 * call).  That loop tests at its bottom: as a while loop GCC closed
 * each step with a jump back to the test (on main b4d3a25 with the edge
 * tests of mb_rs_leaf: cell:aged90:256:rand:20 3186 -> 3165,
 * cell:aged90:256:zero:20 2453 -> 2445, drain 2013 -> 2011 instructions a
 * call; GCC then unrolls it).
 * A leaf wholly in the bitmap has a loop of its own (mb_rs_leaf_full_as);
 * this one reads the others.  mb_rs_leaf_runs: the runs'
 * part, max, at and cnt into r; mb_rs_leaf_runs_to with early also stops
 * at the first run of stop blocks (mb_rs_leaf_redo's, whose count is
 * dropped as unused).  mb_rs_span, their loop: the runs of nw words at map
 * from word k on, z the free bits of word k not yet passed (a read from
 * inside a leaf: mb_rs_leaf_redo_after).
 */
static inline __attribute__((always_inline)) void
mb_rs_span(const uint64_t *map, uint32_t nw, struct mb_rs *r, bool early, uint32_t stop,
	   uint32_t k, uint64_t z) /* z: the free bits of word k not yet passed */
{
	uint32_t max = r->max, at = r->at, cnt = r->cnt;

	for (;;) {
		if (!z) { /* used words: a load and a test each */
			do {
				if (++k >= nw)
					goto out;
				z = ~map[k];
			} while (!z);
		}
		/* past: the run's bits cleared, the block after it set -- z's
		   low zeros filled and 1 added, the carry running through them
		   and the run: z + (z & -z), an instruction fewer, and x read
		   from z, not from its lowest bit.  Here, in the leaf loops
		   and the walks' word scans, on lead41 42c4180: aged:256:5000
		   1712 -> 1700, cell:aged90:256:rand:20 2028 -> 2021,
		   cell:aged50:256:next:20 1089 -> 1084 instructions a call */
		uint64_t past = (z | (z - 1)) + 1;
		uint32_t x = (uint32_t)__builtin_ctzll(z), end;

		cnt++;
		if (past) { /* a run inside word k */
			uint32_t len = (uint32_t)__builtin_ctzll(past) - x;

			if (len > max) {
				max = len;
				at = 64 * k + x;
				if (early && max == stop)
					goto out;
			}
			z &= past;
			continue;
		}
		uint64_t u;

		/* open at the word's end: it ends at a used bit further on (the
		   close is written twice: one exit, joined, cost drain 9
		   instructions a call) */
		x += 64 * k;
		do {
			if (++k >= nw) { /* words past the bitmap are used */
				end = 64 * nw;
				goto last;
			}
			u = map[k];
		} while (!u);
		end = 64 * k + (uint32_t)__builtin_ctzll(u);
		z = ~u & (~0ULL << (end & 63));
		if (end - x > max) {
			max = end - x;
			at = x;
			if (early && max == stop)
				goto out;
		}
		continue;
last:
		if (end - x > max) {
			max = end - x;
			at = x;
		}
		break;
	}
out:
	r->max = max;
	r->at = at;
	r->cnt = cnt;
}

static inline __attribute__((always_inline)) void
mb_rs_leaf_runs_to(const struct mb_volume *vol, const struct mb_group *grp, uint32_t w0,
		   struct mb_rs *r, bool early, uint32_t stop) /* early: stop at a run of stop */
{
	const uint64_t *map = grp->bb_bitmap + w0;
	uint32_t nw = mb_rs_words_in(vol, w0, MB_RS_LEAF_WORDS);

	mb_rs_span(map, nw, r, early, stop, 0, nw ? ~map[0] : 0);
}

static inline __attribute__((always_inline)) void
mb_rs_leaf_runs(const struct mb_volume *vol, const struct mb_group *grp, uint32_t w0,
		struct mb_rs *r)
{
	mb_rs_leaf_runs_to(vol, grp, w0, r, false, 0);
}

/* A run of blocks [s, e) of a leaf closed, counted already: the first of
   the longest kept. */
static inline __attribute__((always_inline)) void mb_rs_close_max(uint32_t s, uint32_t e,
								  uint32_t *max, uint32_t *at)
{
	if (e - s > *max) {
		*max = e - s;
		*at = s;
	}
}

/* A run of blocks [s, e) of a leaf closed: counted, and the first of the longest kept. */
static inline __attribute__((always_inline)) void mb_rs_close_run(uint32_t s, uint32_t e,
								  uint32_t *max, uint32_t *at,
								  uint32_t *cnt)
{
	++*cnt;
	if (e - s > *max) {
		*max = e - s;
		*at = s;
	}
}

/*
 * mb_rs_leaf of a leaf whose words all lie in the bitmap (every leaf but
 * a short group's last): the words unrolled, all 16 (unrolled by 8, half
 * the indices were variables again: cell:aged90:256:rand:20 2221 -> 2310,
 * aged:256:5000 1808 -> 1868 instructions a call), so that each word's
 * index is a constant -- an all-used word costs a compare and a branch
 * (and a test of the run open before it), with no bound on the index to
 * test, and a run's start its bit plus a constant.  The run open at a
 * word's end is carried in os (its start, MB_RS_NONE when none) and closed
 * at the next used bit; the one open at the leaf's end is the suffix, and
 * the prefix is read apart only when the leaf's first block is free.  An
 * aged90 leaf holds ~3 runs among mostly used words: the loop of
 * mb_rs_span, its index tested against the words in the bitmap at each
 * used word (~7 instructions), and the edges' reads, tested so too, cost
 * ~165 instructions a leaf, this ~85.  The all-used test first, before
 * the open run's: in its own branch GCC put two jumps on an all-used
 * word's way (cell:aged90:256:rand:20 2193 -> 2165, aged:256:5000 1957 ->
 * 1960 instructions a call).  Out of line it cost aged:256:5000 +21.
 */
static inline __attribute__((always_inline)) uint32_t mb_rs_leaf_pre(const uint64_t *map)
{
	uint32_t k = 0;

	while (k < MB_RS_LEAF_WORDS && !map[k])
		k++;
	return k < MB_RS_LEAF_WORDS ? 64 * k + (uint32_t)__builtin_ctzll(map[k]) : MB_RS_LEAF_BITS;
}

/*
 * pre_last: the prefix read after the runs, not before, for the flushes
 * of mb_rs_flush_inner, which build many leaves in a row.  Read first, GCC
 * loads all 16 words ahead of the prefix's test, for both loops, and
 * spills half of them: ~26 instructions a leaf, where one leaf in ten
 * starts free.  After the runs, its words read again (the empty asm: no
 * word kept live across the loop), an all-free leaf goes through the
 * loop as one run open from block 0 to the end -- the same summary.  On
 * a77cafd: cell:aged90:256:zero:20:file 1961 -> 1949,
 * cell:aged90:256:rand:20 2103 -> 2091 instructions a call.  Not for the
 * other callers' single leaves: in mb_rs_flush_node's, no change.
 */
static inline __attribute__((always_inline)) struct mb_rs mb_rs_leaf_full_as(const uint64_t *map,
									    bool pre_last)
{
	/* a run is counted as it opens, not as it closes: closed inside its
	   word GCC kept the count's old value beside the new for the exit of
	   a run open at the word's end, a move a run (aged:256:5000 1700 ->
	   1698 instructions a call; ~546 -> ~514 a leaf of its 28 runs with
	   mb_rs_span's past, replayed alone on its leaves).
	   Tried and lost (replayed on the leaves the probes build): a word
	   with no run longer than max (max 7..14, runs >= 8 by three
	   shift-ands) counted by its run starts alone, no run measured:
	   aged:256's leaves ~518 -> 670 instructions a leaf (popcount by
	   GCC's libcall, or ~7 a start by a loop: no popcnt in portable
	   builds), the shift-ands and the count costing more than the ~14
	   instructions a run of this loop at ~1.75 runs a word */
	uint32_t max = 0, at = 0, cnt = 0, os = MB_RS_NONE, pre = 0, suf = 0;

	if (!pre_last && !(map[0] & 1)) { /* the leaf starts free: its prefix */
		pre = mb_rs_leaf_pre(map);
		if (pre == MB_RS_LEAF_BITS)
			return (struct mb_rs){MB_RS_LEAF_BITS, MB_RS_LEAF_BITS, MB_RS_LEAF_BITS, 1, 0};
	}
	_Static_assert(MB_RS_LEAF_WORDS == 16, "the unroll below takes the leaf's words");
#pragma GCC unroll 16
	for (uint32_t k = 0; k < MB_RS_LEAF_WORDS; k++) {
		uint64_t u = map[k], z = ~u;

		if (u == ~0ULL && os == MB_RS_NONE)
			continue; /* all used */
		if (os != MB_RS_NONE) { /* a run open from the word before */
			if (!u)
				continue; /* all free: it goes on */
			uint32_t e = 64 * k + (uint32_t)__builtin_ctzll(u);

			mb_rs_close_max(os, e, &max, &at); /* counted as it opened */
			os = MB_RS_NONE;
			z &= ~0ULL << (e & 63);
		}
		while (z) {
			uint64_t past = (z | (z - 1)) + 1; /* as mb_rs_span */
			uint32_t x = (uint32_t)__builtin_ctzll(z);

			cnt++;
			if (!past) { /* open at the word's end */
				os = 64 * k + x;
				break;
			}
			mb_rs_close_max(64 * k + x, 64 * k + (uint32_t)__builtin_ctzll(past), &max, &at);
			z &= past;
		}
	}
	if (os != MB_RS_NONE) {
		suf = MB_RS_LEAF_BITS - os;
		mb_rs_close_max(os, MB_RS_LEAF_BITS, &max, &at);
	}
	if (pre_last && !(map[0] & 1)) {
		__asm__("" : "+r"(map)); /* the words read again, not kept live */
		pre = mb_rs_leaf_pre(map);
	}
	return (struct mb_rs){pre, suf, max, cnt, at};
}

#ifndef NDEBUG
/*
 * The debug reference of mb_rs_leaf_full_as: its loop as it was before
 * the runs were counted as they open and their past bit found by
 * (z | (z - 1)) + 1 (each run's lowest bit isolated, then added), so that
 * the asserts build checks every leaf the new loop builds against it.
 */
static __attribute__((noinline)) struct mb_rs mb_rs_leaf_full_ref(const uint64_t *map)
{
	uint32_t max = 0, at = 0, cnt = 0, os = MB_RS_NONE, pre = 0, suf = 0;

	if (!(map[0] & 1)) { /* the leaf starts free: its prefix */
		pre = mb_rs_leaf_pre(map);
		if (pre == MB_RS_LEAF_BITS)
			return (struct mb_rs){MB_RS_LEAF_BITS, MB_RS_LEAF_BITS, MB_RS_LEAF_BITS, 1, 0};
	}
	_Static_assert(MB_RS_LEAF_WORDS == 16, "the unroll below takes the leaf's words");
#pragma GCC unroll 16
	for (uint32_t k = 0; k < MB_RS_LEAF_WORDS; k++) {
		uint64_t u = map[k], z = ~u;

		if (u == ~0ULL && os == MB_RS_NONE)
			continue; /* all used */
		if (os != MB_RS_NONE) { /* a run open from the word before */
			if (!u)
				continue; /* all free: it goes on */
			uint32_t e = 64 * k + (uint32_t)__builtin_ctzll(u);

			mb_rs_close_run(os, e, &max, &at, &cnt);
			os = MB_RS_NONE;
			z &= ~0ULL << (e & 63);
		}
		while (z) {
			uint64_t lo = z & -z, past = z + lo;
			uint32_t x = (uint32_t)__builtin_ctzll(lo);

			if (!past) { /* open at the word's end */
				os = 64 * k + x;
				break;
			}
			mb_rs_close_run(64 * k + x, 64 * k + (uint32_t)__builtin_ctzll(past), &max, &at,
					&cnt);
			z &= past;
		}
	}
	if (os != MB_RS_NONE) {
		suf = MB_RS_LEAF_BITS - os;
		mb_rs_close_run(os, MB_RS_LEAF_BITS, &max, &at, &cnt);
	}
	return (struct mb_rs){pre, suf, max, cnt, at};
}

static bool mb_rs_leaf_full_ok(struct mb_rs r, const uint64_t *map)
{
	struct mb_rs o = mb_rs_leaf_full_ref(map);

	return r.pre == o.pre && r.suf == o.suf && r.max == o.max && r.cnt == o.cnt && r.at == o.at;
}
#endif

/*
 * The first of the longest runs of a leaf wholly in the bitmap that holds
 * want runs (its count, known): mb_rs_leaf_full_as's loop for max and at
 * alone, no edge read apart, left once the want-th run is closed -- the
 * words past a leaf's last run are not read (mb_rs_leaf_redo).  A copy
 * of that loop on purpose: the two as one always_inline loop with a
 * constant stop flag cost cell:aged90:256:rand:20 +22,
 * cell:aged50:256:next:20 +17 instructions a call (GCC's registers).
 */
static inline __attribute__((always_inline)) void
mb_rs_leaf_full_max(const uint64_t *map, uint32_t want, uint32_t *pmax, uint32_t *pat)
{
	uint32_t max = 0, at = 0, cnt = 0, os = MB_RS_NONE;

#pragma GCC unroll 16
	for (uint32_t k = 0; k < MB_RS_LEAF_WORDS; k++) {
		uint64_t u = map[k], z = ~u;

		if (u == ~0ULL && os == MB_RS_NONE)
			continue; /* all used */
		if (os != MB_RS_NONE) { /* a run open from the word before */
			if (!u)
				continue; /* all free: it goes on */
			uint32_t e = 64 * k + (uint32_t)__builtin_ctzll(u);

			mb_rs_close_run(os, e, &max, &at, &cnt);
			if (cnt == want)
				goto out;
			os = MB_RS_NONE;
			z &= ~0ULL << (e & 63);
		}
		while (z) {
			uint64_t past = (z | (z - 1)) + 1; /* as mb_rs_span */
			uint32_t x = (uint32_t)__builtin_ctzll(z);

			if (!past) { /* open at the word's end */
				os = 64 * k + x;
				break;
			}
			mb_rs_close_run(64 * k + x, 64 * k + (uint32_t)__builtin_ctzll(past), &max, &at,
					&cnt);
			if (cnt == want)
				goto out;
			z &= past;
		}
	}
	if (os != MB_RS_NONE)
		mb_rs_close_run(os, MB_RS_LEAF_BITS, &max, &at, &cnt);
out:
	*pmax = max;
	*pat = at;
}

/* A leaf reaching past the bitmap (words there are used): a short
   group's last.  Out of line: inline, its loop's word indices kept the
   sweep's loop six induction variables (cell:aged90:256:rand:20 2212 ->
   2193, cell:aged50:256:next:20 1170 -> 1164 instructions a call). */
static __attribute__((noinline)) struct mb_rs mb_rs_leaf_short(const struct mb_volume *vol,
							      const struct mb_group *grp, uint32_t w0)
{
	/* an edge block used (most leaves of an aged group): a bit test, no
	   loop (on main b4d3a25 with mb_rs_flush_node's leaf at once:
	   cell:aged90:256:rand:20 3193 -> 3186, aged:256:5000 2781 -> 2777
	   instructions a call) */
	struct mb_rs r = {mb_rs_free(vol, grp, w0) & 1 ? mb_rs_leaf_edge(vol, grp, w0, 1) : 0,
			  0, 0, 0, 0};

	if (r.pre == MB_RS_LEAF_BITS)
		return (struct mb_rs){MB_RS_LEAF_BITS, MB_RS_LEAF_BITS, MB_RS_LEAF_BITS, 1, 0};
	if (mb_rs_free(vol, grp, w0 + MB_RS_LEAF_WORDS - 1) >> 63)
		r.suf = mb_rs_leaf_edge(vol, grp, w0 + MB_RS_LEAF_WORDS - 1, -1);
	mb_rs_leaf_runs(vol, grp, w0, &r);
	return r;
}

static inline __attribute__((always_inline)) struct mb_rs
mb_rs_leaf_as(const struct mb_volume *vol, const struct mb_group *grp, uint32_t leaf, bool pre_last)
{
	uint32_t w0 = leaf * MB_RS_LEAF_WORDS;

	if (MB_LIKELY(w0 + MB_RS_LEAF_WORDS <= vol->bitmap_words)) {
		struct mb_rs r = mb_rs_leaf_full_as(grp->bb_bitmap + w0, pre_last);

		assert(mb_rs_leaf_full_ok(r, grp->bb_bitmap + w0));
		return r;
	}
	return mb_rs_leaf_short(vol, grp, w0);
}

static inline __attribute__((always_inline)) struct mb_rs
mb_rs_leaf(const struct mb_volume *vol, const struct mb_group *grp, uint32_t leaf)
{
	return mb_rs_leaf_as(vol, grp, leaf, false);
}

/*
 * How many leaves are stale, kept in the unused node 0: a walk rebuilds a
 * stale subtree at once when there are few (mb_rs_scan_node).
 */
static inline uint32_t *mb_rs_stale_leaves(struct mb_rs *t)
{
	return &t[0].cnt;
}

/*
 * Where the stale nodes lie, kept in node 0 beside their count: leaf node
 * m when they are all on m's path (m, maybe, and its ancestors) -- a group
 * changed at one place since its last query, the common case -- else 0.
 * A flush then rejoins that path bottom-up instead of searching the
 * subtree for stale children (mb_rs_flush_node).
 */
static inline uint32_t *mb_rs_stale_path(struct mb_rs *t)
{
	return &t[0].pre;
}

/*
 * Whether a walk has read the tree since its group's load, kept in node 0
 * beside the stale count: a tree the walks use keeps its fresh nodes fresh
 * under marks (mb_rs_lift_partial); one they do not pays no joins.
 */
static inline uint32_t *mb_rs_walked(struct mb_rs *t)
{
	return &t[0].suf;
}

/*
 * Whether the group's bitmap is known to be the pristine template's, kept
 * in node 0 beside the stale count: set in the template's stale tree
 * (pristine.c, mb_runsum_set_pristine), so every group whose first load
 * copies it has it, and cleared by every invalidation -- a bitmap built or
 * rewritten some other way (a store's read, mb_buddy_generate after a
 * test's writes) is confirmed word by word again -- and by every build
 * (the first query's spends it).  A group's marks and frees before that
 * leave it: they change the bitmap and the counters together, and
 * counters that again name the template's one run can only be its
 * bitmap.  So mb_rs_build_one_run trusts counters that name that run
 * without reading the 4 KiB bitmap (~590 instructions a group, all cache
 * misses, at aging:triangle's 512 first queries).
 */
static inline uint32_t *mb_rs_pristine_map(struct mb_rs *t)
{
	return &t[0].at;
}

void mb_runsum_set_pristine(struct mb_rs *t)
{
	*mb_rs_pristine_map(t) = 1;
}

/*
 * Marks the whole tree stale: the next query builds it (a freshly built
 * group whose request is served at its goal never pays for the tree).
 */
void mb_runsum_invalidate_locked(const struct mb_volume *vol, struct mb_group *grp)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);

	for (uint32_t n = 1; n < 2 * mb_rs_leaves(vol); n++)
		t[n].cnt = MB_RS_STALE;
	*mb_rs_stale_leaves(t) = mb_rs_leaves(vol);
	*mb_rs_stale_path(t) = 0;
	*mb_rs_walked(t) = 0;
	*mb_rs_pristine_map(t) = 0;
	*mb_rs_resume_at(t) = 0;
	*mb_rs_resume(t, mb_rs_leaves(vol)) = (struct mb_rs_resume){0, 0, {0}, 0, 0, {0}};
}

/* mb_rs_is_one_run's ors left in the order written (see below); GCC's
   option, which also keeps mb_rs_is_one_run out of its caller */
#if defined(__GNUC__) && !defined(__clang__)
#define MB_RS_CHAIN __attribute__((optimize("no-tree-reassoc")))
#else
#define MB_RS_CHAIN
#endif

/*
 * Two bitmap words as one value, for mb_rs_words_are: 16-byte aligned, so
 * that each load folds into its and/or (a word at a time, the loads were
 * half of the loop), and of the words' alias set.
 */
typedef uint64_t mb_rs_w2 __attribute__((vector_size(16), may_alias));

/*
 * Whether words [w, end) of bb_bitmap all equal v (0 or ~0): thirty-two
 * words a step, two a load, folded into one value and tested once a step
 * (a whole group's bitmap is 512 words; a test a word cost aging:triangle
 * 2500 instructions a group).  A word first when w is not 16-byte aligned
 * (the bitmap's words are 8-byte aligned), the rest two a load, and a
 * last word.  A step of 32 words costs ~27 instructions where two of 16,
 * a word a load, cost ~40: on 27df693 the confirm of
 * mb_rs_build_one_run ~720 -> 588 instructions a group, aging:triangle
 * 2522 -> 2512 a call with the fills below.  The chain of ors kept one
 * (MB_RS_CHAIN): GCC's reassociation made it a tree, a load and an or
 * more each four words.  Inline: v is a constant at each call, so a word
 * is one and/or.
 */
static inline __attribute__((always_inline)) bool mb_rs_words_are(const uint64_t *map, uint32_t w,
								   uint32_t end, uint64_t v)
{
	uint64_t acc = v;

	if (w < end && (uintptr_t)(map + w) & 8 && map[w++] != v)
		return false;
	for (; w + 32 <= end && acc == v; w += 32) {
		const mb_rs_w2 *m = (const mb_rs_w2 *)(const void *)(map + w);
		mb_rs_w2 x = m[0];

		for (int i = 1; i < 16; i++) /* one chain: each load folds */
			x = v ? x & m[i] : x | m[i];
		acc = v ? x[0] & x[1] : x[0] | x[1];
	}
	if (acc != v)
		return false;
	if (w + 2 <= end) { /* the rest two a load, then a word */
		mb_rs_w2 x = *(const mb_rs_w2 *)(const void *)(map + w);

		for (w += 2; w + 2 <= end; w += 2)
			x = v ? x & *(const mb_rs_w2 *)(const void *)(map + w)
			      : x | *(const mb_rs_w2 *)(const void *)(map + w);
		acc = v ? x[0] & x[1] : x[0] | x[1];
	}
	if (w < end)
		acc = v ? acc & map[w] : acc | map[w];
	return acc == v;
}

/* Whether the bitmap's free blocks are exactly [s, e) (none if s == e). */
static MB_RS_CHAIN bool mb_rs_is_one_run(const struct mb_volume *vol, const struct mb_group *grp, uint32_t s,
			     uint32_t e)
{
	const uint64_t *map = grp->bb_bitmap;
	uint32_t ws = s >> 6, we = (e - 1) >> 6;
	uint64_t head = ~0ULL << (s & 63), tail = ~0ULL >> (63 - ((e - 1) & 63));

	if (s >= e || e > vol->bpg)
		return s == e && mb_rs_words_are(map, 0, vol->bitmap_words, ~0ULL);
	if (ws == we)
		return map[ws] == ~(head & tail) && mb_rs_words_are(map, 0, ws, ~0ULL) &&
		       mb_rs_words_are(map, ws + 1, vol->bitmap_words, ~0ULL);
	return map[ws] == ~head && map[we] == ~tail && mb_rs_words_are(map, 0, ws, ~0ULL) &&
	       mb_rs_words_are(map, ws + 1, we, 0) &&
	       mb_rs_words_are(map, we + 1, vol->bitmap_words, ~0ULL);
}

/*
 * A whole stale tree whose group's free blocks are one run [s, e), or
 * none (s == e) -- a group just loaded (mb_runsum_invalidate_locked) and
 * never allocated from, its metadata at its start: each node follows from
 * the run in closed form, no leaf read and no join.  The counters only
 * name the run; the bitmap confirms it, a compare a word (unless it is
 * known the pristine template's: mb_rs_pristine_map), or the walks build
 * the tree as usual.  aging:triangle's 512 groups each paid their
 * leaves one by one, and the joins above them, on first use.
 */
/* Two 32-bit fields of a node as the 8 bytes they fill, lo's first (in
   either byte order: a shift and an or) */
static inline uint64_t mb_rs_two(uint32_t lo, uint32_t hi)
{
	const uint32_t f[2] = {lo, hi};
	uint64_t w;

	memcpy(&w, f, sizeof(w));
	return w;
}

/*
 * Nodes [k, end) of a level all free, sz blocks each, four a step: their
 * 80 bytes as five 16-byte values built in registers from the node's
 * fields -- (pre, suf), (max, cnt), (at, pre), (suf, max), (cnt, at), and
 * again -- five stores where a pair a step, its 40 bytes as two 16-byte
 * stores and one of 8, took six for two nodes, and its template went
 * through the stack each level (aging:triangle's first queries set ~114
 * all-free nodes a group).  On 27df693 with the confirm above,
 * mb_rs_build_one_run's levels 940 -> 893 instructions a group.
 */
static inline __attribute__((always_inline)) void mb_rs_fill_free(struct mb_rs *lvl, uint32_t k,
								   uint32_t end, uint32_t sz)
{
	const uint64_t ps = mb_rs_two(sz, sz), mc = mb_rs_two(sz, 1), ap = mb_rs_two(0, sz);
	const uint64_t ca = mb_rs_two(1, 0);
	/* each its own value, not an array: GCC kept an array on the stack */
	const mb_rs_w2 v0 = {ps, mc}, v1 = {ap, ps}, v2 = {ca, ps}, v3 = {mc, ap}, v4 = {ps, ca};
	char *q = (char *)(lvl + k);
	uint32_t n = k < end ? end - k : 0;

	_Static_assert(5 * sizeof(v0) == 4 * sizeof(struct mb_rs), "a node is five 32-bit fields");
	for (; n >= 4; n -= 4, q += 4 * sizeof(struct mb_rs)) {
		memcpy(q, &v0, sizeof(v0));
		memcpy(q + 16, &v1, sizeof(v1));
		memcpy(q + 32, &v2, sizeof(v2));
		memcpy(q + 48, &v3, sizeof(v3));
		memcpy(q + 64, &v4, sizeof(v4));
	}
	if (n >= 2) { /* two: the first 40 bytes */
		memcpy(q, &v0, sizeof(v0));
		memcpy(q + 16, &v1, sizeof(v1));
		memcpy(q + 32, &ca, sizeof(ca));
		q += 2 * sizeof(struct mb_rs);
	}
	if (n & 1) { /* one: the first 20 */
		memcpy(q, &v0, sizeof(v0));
		memcpy(q + 16, &ap, sizeof(uint32_t)); /* at: ap's first field */
	}
}

/* Nodes [k, end) of a level all used (zero) */
static inline __attribute__((always_inline)) void mb_rs_fill_used(struct mb_rs *lvl, uint32_t k,
								   uint32_t end)
{
	if (k < end)
		memset(lvl + k, 0, (end - k) * sizeof(struct mb_rs));
}

/*
 * Each level's two end nodes in closed form from where they start (ks's
 * reaches its end, ke's its start, when they differ), a level's shift
 * counted down, and none free a fill of its own: mb_rs_build_one_run
 * 1944 -> 1759 instructions a group, aging:triangle 2667 -> 2660 a call
 * (the general node's min, max and empty test, and GCC's vector packing
 * of its fields, cost ~130 a level).  With GCC's SLP vectorizer off for
 * it (MB_RS_SCALAR), 2667 -> 2673.  The bitmap's confirm (588 a group:
 * mb_rs_words_are) stays where the bitmap was not copied from the
 * template: a test changes the bitmap behind the counters.
 */
static inline __attribute__((always_inline)) void
mb_rs_fill_one_run(const struct mb_volume *vol, struct mb_rs *t, uint32_t s, uint32_t e)
{
	const uint32_t p = mb_rs_leaves(vol);

	if (s == e) /* none free: every node all used */
		mb_rs_fill_used(t, 1, 2 * p);
	for (uint32_t first = 1, sh = MB_RS_LEAF_SHIFT + (uint32_t)__builtin_ctz(p);
	     s < e && first < 2 * p; first *= 2, sh--) {
		struct mb_rs *lvl = t + first;
		/* the nodes holding s and e - 1, and where they start: before
		   ks and past ke all used, between them all free, and only
		   those two worked out -- the run's part in each, which
		   reaches the end of ks's node and the start of ke's when they
		   differ (a node counts a run that enters it too: mb_rs_join
		   takes one off where two halves share a run) */
		const uint32_t sz = 1u << sh, ks = s >> sh, ke = (e - 1) >> sh;
		const uint32_t ns = ks << sh, ne = ke << sh;

		mb_rs_fill_used(lvl, 0, ks);
		mb_rs_fill_free(lvl, ks + 1, ke, sz);
		mb_rs_fill_used(lvl, ke + 1, first);
		if (ks == ke) {
			lvl[ks] = (struct mb_rs){s == ns ? e - s : 0, e == ns + sz ? e - s : 0, e - s, 1,
						 s - ns};
			continue;
		}
		lvl[ks] = (struct mb_rs){s == ns ? sz : 0, ns + sz - s, ns + sz - s, 1, s - ns};
		lvl[ke] = (struct mb_rs){e - ne, e == ne + sz ? sz : 0, e - ne, 1, 0};
	}
}

/*
 * Nodes 1 .. 2 * leaves - 1 of t, fresh, for free blocks [s, e) alone (the
 * bitmap unread): pristine.c's template of a pristine group's built tree.
 */
void mb_runsum_fill_one_run(const struct mb_volume *vol, struct mb_rs *t, uint32_t s, uint32_t e)
{
	mb_rs_fill_one_run(vol, t, s, e);
}

/*
 * The tree of a group confirmed one run: copied from the volume's
 * template (pristine.c) when the run is a pristine full-length group's,
 * as the first query of every such group finds it -- one memcpy of the
 * nodes where their fill cost ~890 instructions a group (aging:triangle's
 * 512); else filled.  Node 0 (the stale count, path, walked flag,
 * pristine mark) is the group's own: not copied.  A group first loaded
 * from the template whose counters name its run skips the confirm:
 * aging:triangle 2210 -> 2187 instructions a call, and 4 KiB of cold reads
 * a group.  Out of line whole: GCC's split of it put the
 * confirm's call inline in mb_rs_scan's callers (aged:256 +21, drain +17
 * instructions a call).
 */
static __attribute__((noinline)) void mb_rs_build_one_run(const struct mb_volume *vol, const struct mb_group *grp,
				struct mb_rs *t, uint32_t s, uint32_t e)
{
	/* acquire: pairs with the release store in mb_pristine_publish (the
	   group may have been built, not copied, before it was published) */
	const struct mb_rs *tmpl = atomic_load_explicit(&vol->rs_pristine, memory_order_acquire);
	bool as_tmpl = tmpl && s == vol->rs_pristine_start && e == vol->bpg;

	/* a pristine copy's counters naming the template's run need no read */
	if (!(as_tmpl && *mb_rs_pristine_map(t)) && !mb_rs_is_one_run(vol, grp, s, e))
		return;
	if (as_tmpl)
		memcpy(t + 1, tmpl + 1, (2 * (size_t)mb_rs_leaves(vol) - 1) * sizeof(*t));
	else
		mb_rs_fill_one_run(vol, t, s, e);
	*mb_rs_stale_leaves(t) = 0;
	*mb_rs_stale_path(t) = 0;
	*mb_rs_pristine_map(t) = 0; /* spent: built */
}

void mb_runsum_build_locked(const struct mb_volume *vol, struct mb_group *grp)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);
	uint32_t p = mb_rs_leaves(vol);

	*mb_rs_stale_leaves(t) = 0;
	*mb_rs_pristine_map(t) = 0; /* built from words a caller may have written */
	for (uint32_t l = 0; l < p; l++)
		t[p + l] = mb_rs_leaf(vol, grp, l);
	for (uint32_t n = p - 1; n >= 1; n--) {
		/* node n at depth floor(log2(n)) covers p >> depth leaves */
		uint32_t half = MB_RS_LEAF_BITS * (p >> (31 - __builtin_clz(n))) / 2;

		t[n] = mb_rs_join(t[2 * n], half, t[2 * n + 1], half);
	}
}

/*
 * Bits [start, start + len) of bb_bitmap changed: their leaves, and every
 * ancestor, are marked stale (cnt = MB_RS_STALE) and recomputed when a
 * walk reaches them (or by mb_runsum_flush_locked).  A stale node's ancestors are all
 * stale, so the marking stops at the first one already marked: a group
 * allocated from many times between two scans pays for one refresh.
 */
static inline void mb_rs_mark_path(struct mb_rs *t, uint32_t from, uint32_t leaf)
{
	uint32_t n = from;

	for (; n && t[n].cnt != MB_RS_STALE; n >>= 1)
		t[n].cnt = MB_RS_STALE;
	if (!n) /* the root was fresh: no other node is stale */
		*mb_rs_stale_path(t) = leaf;
	else if (n != from && *mb_rs_stale_path(t) != leaf)
		*mb_rs_stale_path(t) = 0; /* joined stale nodes elsewhere */
}

static inline void mb_rs_mark_stale(struct mb_rs *t, uint32_t leaf)
{
	if (t[leaf].cnt == MB_RS_STALE)
		return; /* and so are its ancestors */
	++*mb_rs_stale_leaves(t);
	mb_rs_mark_path(t, leaf, leaf);
}

/*
 * Lazy all-used subtrees.  A used mark that covers an inner node's whole
 * range sets that node alone, all used, and leaves its subtree as it was
 * (mb_rs_mark_long_fresh's siblings inside the range, mb_rs_mark_node in a
 * tree all fresh): the walks never descend into a node of max 0, and a
 * used mark's leaves hold free blocks, so no ancestor of theirs is all
 * used.  The rule, which the tests' model checks (runsum_model.c): below a
 * fresh node of max 0, a node holds its true summary (all used) or the
 * all-free summary of its size, and then so does every node below it --
 * what they held when the mark came, their range all free in a tree all
 * fresh ("hidden" nodes, never stale).  So a leaf that holds used blocks
 * and reads all free is hidden, and only then: a free's leaves, and a
 * walk's first leaf when it starts at a used block, are checked so, and
 * when hidden, pushed down (mb_rs_unlazy_slow): from the lowest ancestor
 * not reading all free -- all used -- down to the leaf, each node on the
 * path and its sibling are set all used (true, as their parent is).  Then
 * the leaf's path and its siblings are true, which is all that a mark's
 * leaf set, its climbs and lift, and a walk from there read.  A tree goes
 * stale only through mb_runsum_invalidate_locked (every node then stale:
 * nothing hidden) or mb_runsum_update_locked (which pushes down first):
 * hidden nodes are never stale, nor are the all-used nodes above them.
 */
static __attribute__((noinline)) void mb_rs_unlazy_slow(struct mb_rs *t, uint32_t n)
{
	uint32_t m = n / 2, sz = 2 * MB_RS_LEAF_BITS, d = 1;

	/* up through the nodes reading all free (hidden ones, or, for a
	   leaf truly all free, true ones) */
	for (; m && t[m].cnt == 1 && t[m].pre == sz; m /= 2, sz *= 2)
		d++;
	if (!m || t[m].max || t[m].cnt)
		return; /* no all-used node above: the leaf is true */
	for (; d; d--) { /* from m's children down to the leaf */
		uint32_t c = n >> (d - 1);

		t[c] = t[c ^ 1] = (struct mb_rs){0, 0, 0, 0, 0};
	}
}

/* Leaf node n is true once this returns (see above): one compare when it
   does not read all free. */
static inline void mb_rs_unlazy(struct mb_rs *t, uint32_t n)
{
	if (MB_UNLIKELY(t[n].pre == MB_RS_LEAF_BITS) && t[n].cnt == 1)
		mb_rs_unlazy_slow(t, n);
}

#ifndef NDEBUG
static inline bool mb_rs_same(struct mb_rs x, struct mb_rs y)
{
	return x.pre == y.pre && x.suf == y.suf && x.max == y.max && x.cnt == y.cnt && x.at == y.at;
}
#endif

/* The ancestors of fresh leaf `leaf`, up to the first one already stale. */
static inline void mb_rs_mark_above(struct mb_rs *t, uint32_t leaf)
{
	mb_rs_mark_path(t, leaf / 2, leaf);
}

/* Used-block mask of word w; words past the bitmap are used. */
static inline uint64_t mb_rs_used(const struct mb_volume *vol, const struct mb_group *grp,
				  uint32_t w)
{
	return w < vol->bitmap_words ? grp->bb_bitmap[w] : ~0ULL;
}

/* The first used block at or after x, or end (a leaf's end) if none before it. */
static inline uint32_t mb_rs_used_from(const struct mb_volume *vol, const struct mb_group *grp,
				       uint32_t x, uint32_t end)
{
	if (x >= end)
		return end;
	uint32_t w = x >> 6;
	uint64_t m = mb_rs_used(vol, grp, w) & (~0ULL << (x & 63));

	while (!m) {
		if (++w == end >> 6)
			return end;
		m = mb_rs_used(vol, grp, w);
	}
	return (w << 6) + (uint32_t)__builtin_ctzll(m);
}

/*
 * mb_rs_used_from, or MB_RS_NONE when x's word holds no used block from x
 * on and the leaf's free blocks at its end, suf (0: none known), cover
 * [x, end): the run goes on to end, and the caller takes another way
 * (mb_rs_mark_leaf_used_suf).  The test only past x's word: a run that
 * ends in it (an aged group's, nearly all) pays nothing for it -- a test
 * before each used mark's look cost cell:aged90:64:zero:20 +3, drain +2
 * instructions a call.
 */
static inline uint32_t mb_rs_used_from_or(const struct mb_volume *vol, const struct mb_group *grp,
					  uint32_t x, uint32_t end, uint32_t suf)
{
	if (x >= end)
		return end;
	uint32_t w = x >> 6;
	uint64_t m = mb_rs_used(vol, grp, w) & (~0ULL << (x & 63));

	while (MB_UNLIKELY(!m)) {
		if (w == x >> 6 && end - x <= suf)
			return MB_RS_NONE;
		if (++w == end >> 6)
			return end;
		m = mb_rs_used(vol, grp, w);
	}
	return (w << 6) + (uint32_t)__builtin_ctzll(m);
}

/* The block after the last used block before x, or begin (a leaf's start) if none. */
static inline uint32_t mb_rs_used_before(const struct mb_volume *vol, const struct mb_group *grp,
					 uint32_t x, uint32_t begin)
{
	if (x <= begin)
		return begin;
	uint32_t w = (x - 1) >> 6;
	uint64_t m = mb_rs_used(vol, grp, w) & (~0ULL >> (63 - ((x - 1) & 63)));

	while (!m) {
		if (w-- == begin >> 6)
			return begin;
		m = mb_rs_used(vol, grp, w);
	}
	return (w << 6) + 64 - (uint32_t)__builtin_clzll(m);
}

/*
 * Where a leaf's part of a mark lies, a constant at each call: inside the
 * leaf, or reaching its end (to_end) or from its start (from_start) -- a
 * mark over two leaves or more, at its first and last leaf.  A run marked
 * used there was the leaf's last (first) one: its start (end) is in the
 * leaf's suf (pre), no look in the bitmap.  aging:triangle's marks span
 * leaves: the look for the run's far end read up to 8 words in each
 * (on main 2655b25, aging:triangle 4297 -> 4195 instructions a call).
 * In mb_rs_mark_short's two leaves it cost cell:aged90:256:zero:20 4
 * instructions a call and saved the triangle 3 (on main 2655b25); a used
 * mark's there since lead43 (mb_rs_mark_two): its 1000-block takes read
 * up to a leaf's words for the run's ends, cell:seq90:1000:zero:20 1704 ->
 * 1636, aging:triangle 2070 -> 2064, cell:aged90:256:zero:20 1759 -> 1758.
 */
enum mb_rs_edge { MB_RS_INSIDE, MB_RS_TO_END, MB_RS_FROM_START };

/*
 * Fresh leaf r (blocks [b0, b0 + MB_RS_LEAF_BITS)): [s, e) inside it was all free and
 * is now all used (used), or the other way.  Its summary follows from the
 * run the change split or joined, [a, b), found in the bitmap as it is
 * now: pre and suf move when that run touches an edge, cnt by the runs
 * made or merged, max grows on a free (whole: the blocks on either side
 * of [s, e) are used or past the leaf, so [a, b) is [s, e) and no look
 * finds it; nor at a used mark's edge, mb_rs_edge).  A mark that cuts the
 * first of the leaf's longest runs, with other runs beside it, may leave a shorter max
 * that only a look at every run finds: false, max and at left as they
 * were, the cut run's, for mb_rs_leaf_redo (a cut of a later run as long
 * leaves the first: neither moves).
 */
static inline bool mb_rs_leaf_mark(const struct mb_volume *vol, const struct mb_group *grp,
				   struct mb_rs *r, uint32_t b0, uint32_t s, uint32_t e, bool used,
				   bool whole, enum mb_rs_edge edge)
{
	uint32_t a, b;

	assert(edge != MB_RS_TO_END || e == b0 + MB_RS_LEAF_BITS);
	assert(edge != MB_RS_FROM_START || s == b0);
	if (used && !whole && edge == MB_RS_TO_END) { /* the leaf's last run, as it was */
		assert(r->suf >= e - s);
		a = e - r->suf, b = e;
	} else if (used && !whole && edge == MB_RS_FROM_START) { /* its first run */
		assert(r->pre >= e - s);
		a = s, b = s + r->pre;
	} else {
		a = whole ? s : mb_rs_used_before(vol, grp, s, b0);
		b = whole ? e : mb_rs_used_from(vol, grp, e, b0 + MB_RS_LEAF_BITS);
	}
	uint32_t sides = (a < s) + (e < b); /* the run's parts beside [s, e) */
	bool known = true;

	if (used) {
		if (b - a == r->max && a - b0 == r->at) {
			known = r->cnt == 1;
			if (known) { /* else max stays the cut run's: mb_rs_leaf_redo */
				r->max = s - a >= b - e ? s - a : b - e;
				r->at = !r->max ? 0 : s - a >= b - e ? a - b0 : e - b0;
			}
		}
		r->cnt = r->cnt - 1 + sides;
		if (a == b0)
			r->pre = s - b0;
		if (b == b0 + MB_RS_LEAF_BITS)
			r->suf = b - e;
	} else {
		if (b - a > r->max || (b - a == r->max && a - b0 < r->at)) {
			r->max = b - a; /* the first of max now */
			r->at = a - b0;
		}
		r->cnt = r->cnt + 1 - sides;
		if (a == b0)
			r->pre = b - b0;
		if (b == b0 + MB_RS_LEAF_BITS)
			r->suf = b - a;
	}
	return known;
}

/* The shifts that make a word's free bits z into the starts of its runs of
   at least m blocks (1 <= m <= 64): z &= z >> s for each, doubling the
   length covered (1, 2, 4, ...) up to m; a shift of 0 changes nothing.
   Up to 8 blocks, the first three: 1, 2, m - 4 from m = 4 on (an aged
   volume's runs are of 1-7 blocks). */
static inline void mb_rs_long_shifts(uint32_t m, uint32_t sh[6])
{
	if (m <= 8) {
		sh[0] = m > 1;
		sh[1] = m >= 4 ? 2 : m > 2;
		sh[2] = m >= 4 ? m - 4 : 0;
		return;
	}
	for (uint32_t j = 0, l = 1; j < 6; j++) {
		sh[j] = l < m - l ? l : m - l;
		l += sh[j];
	}
}

/*
 * The first run of at least m blocks (1 <= m <= 64, sh its shifts, the
 * first steps of them: 3 when m <= 8) that starts in word k of the leaf's
 * nw words at map, or later, z the free bits of word k not yet passed:
 * its start, or MB_RS_NONE.  A word at a time, no run by run: a run inside
 * a word is found by shifting and anding its free bits (a few
 * instructions a word, against ~13 a run for mb_rs_span's walk: aged
 * leaves hold several runs a word), a run across words by the free blocks
 * open at a word's top (c, fewer than m) and those at the next one's
 * bottom, tested first (that run starts before any inside the word).
 */
static inline __attribute__((always_inline)) uint32_t
mb_rs_find_long(const uint64_t *map, uint32_t nw, uint32_t k, uint64_t z, uint32_t m,
		const uint32_t sh[6], uint32_t steps)
{
	uint32_t c = 0;

	for (;;) {
		while (!z) { /* used words: a load and a test each */
			if (++k >= nw)
				return MB_RS_NONE;
			z = ~map[k];
			c = 0;
		}
		/* 1 <= m - c <= 63: c < m <= 64 */
		if (c && !(~z & ((1ULL << (m - c)) - 1)))
			return 64 * k - c;
		uint64_t f = z;

		for (uint32_t j = 0; j < steps; j++)
			f &= f >> sh[j];
		if (f)
			return 64 * k + (uint32_t)__builtin_ctzll(f);
		/* no run of m inside: the word has a used block, and its top
		   run (c blocks) is shorter than m */
		c = (uint32_t)__builtin_clzll(~z);
		if (++k >= nw)
			return MB_RS_NONE;
		z = ~map[k];
	}
}

/* mb_rs_find_long with the shifts for m, its steps a constant in each copy.
   Runs of 4 to 8 blocks (aged:256's, the drain's) have a copy of their
   own whose first two shifts, 1 and 2, are constants: a shift by a
   variable costs a move of the count and of the word more each (on
   a77cafd with mb_rs_leaf_redo_after inline in the partial mark:
   aged:256:5000 1771 -> 1762 instructions a call). */
static inline __attribute__((always_inline)) uint32_t
mb_rs_find_long_m(const uint64_t *map, uint32_t nw, uint32_t k, uint64_t z, uint32_t m)
{
	uint32_t sh[6];

	mb_rs_long_shifts(m, sh);
	assert(m > 1); /* mb_rs_leaf_redo_after's m - 1 of m > 2 at the least */
	if (m >= 4 && m <= 8) {
		const uint32_t c[6] = {1, 2, m - 4, 0, 0, 0};

		assert(c[0] == sh[0] && c[1] == sh[1] && c[2] == sh[2]);
		return mb_rs_find_long(map, nw, k, z, m, c, 3);
	}
	if (m <= 8)
		return mb_rs_find_long(map, nw, k, z, m, sh, 3);
	return mb_rs_find_long(map, nw, k, z, m, sh, 6);
}

/*
 * A mark of fresh leaf r that mb_rs_leaf_mark cannot follow (it cut the
 * first of the leaf's longest runs, with others beside it): the leaf's
 * runs are read again now for its max and at (its pre, suf and count
 * followed), rather than the leaf marked stale for the next scan to
 * rebuild -- the same words, read once, but the leaf stays fresh, so its
 * ancestors can lift in a tree all fresh (mb_rs_lift) and a walk judges
 * it without a flush.  The drain cuts such a run every other call or so.
 * On main 83cadb2: cell:aged90:256:rand:20 4154 -> 4096, aged:256 3259 ->
 * 3239, drain 2654 -> 2643 instructions a call.  Only the runs, not the
 * edges or the count (mb_rs_leaf), and none when a later run as long was
 * cut: cell:aged90:256:zero:20 3194 -> 3188, drain 2555 -> 2548.
 * r->max still holds the cut run's length m (mb_rs_leaf_mark leaves it):
 * every run before the cut one was shorter and its pieces are, so the
 * first run of m met, if any, is the first of the leaf's longest now, and
 * the read stops there (an aged leaf often has another run as long).  On
 * main 51256a5: aged:256:5000 2873 -> 2808, drain 2067 -> 2049,
 * cell:aged90:256:zero:20 2542 -> 2537 instructions a call; passed as an
 * argument instead, m grew the inlined mark (aged90 cells +11).
 * Out of line: inline in buddy.c's mark it would grow every mark.
 * A leaf with more runs than m blocks (mb_rs_leaf_redo_after: the aged
 * volume's runs of 1-7 free blocks) is read from the cut run on first.
 * Any other leaf wholly in the bitmap is read by mb_rs_leaf_full_max, no
 * stop at m (an aged90 leaf rarely has another run of m) but at its last
 * run, the count known: its words unrolled, an all-used word a load, a
 * compare and a branch against mb_rs_span's ~7 instructions; it replaced
 * the reads of a leaf of one run or two (mb_rs_run_next's, word by word)
 * too.  On 80c74a3: cell:aged90:256:zero:20 1931 -> 1896,
 * cell:aged90:256:rand:20 2221 -> 2177, cell:aged50:256:zero:20 1196 ->
 * 1174 instructions a call (all 16 words read, no stop at the count:
 * aged90 zero 1901, rand 2179).
 */
/*
 * mb_rs_leaf_redo for a leaf of more runs than m: every run before the cut
 * one (at a, r->at) is shorter than m, so the first run of m at or after a
 * is the leaf's first; only if there is none are the runs before a read,
 * up to the word of a -- its runs from a on, read again, are no longer
 * than the best after a, and one as long is that best (the first after a
 * of its length, or cut short at the word's end: shorter).
 * aged:256 finds another run of m in 58% of its reads, and the runs before
 * a are passed; in the aged cells (a run of 24-64 blocks cut among 1-5)
 * there is rarely another and the read from the start, with its one stop,
 * costs less, hence the test (drain, its leaves of 1-21 runs of up to 7,
 * is even either way).  On fe829d8 with the partial lift's joins out of
 * line: aged:256:5000 2138 -> 2088, drain 1771 -> 1770 instructions a
 * call, the others equal; read from a in every leaf, aged90 zero +37.
 * The parameters in the registers mb_rs_leaf_redo receives them in: its
 * test and call then cost the aged cells nothing (passed as vol and grp,
 * +4 instructions a call).
 * A leaf of 16 runs or more, m 3 to 64, is searched word by word instead
 * (mb_rs_find_long: its runs packed a few a word): the first run of m
 * from a on, else the first of m - 1 from the leaf's start (aged:256's
 * new longest in 98% of such reads), else all its runs.  On 75ae1c7:
 * aged:256:5000 1806 -> 1784, drain 1292 -> 1291 instructions a call;
 * in leaves of fewer runs too, drain +7 (its leaves of few runs, far
 * apart), and the runs of m - 1, then m - 2 ..., searched each from the
 * start, +3 more.
 */
static inline __attribute__((always_inline)) void mb_rs_leaf_redo_after_in(uint32_t words,
									const uint64_t *bitmap,
									struct mb_rs *r,
									uint32_t leaf)
{
	const uint32_t m = r->max, a = r->at, w0 = leaf * MB_RS_LEAF_WORDS;
	const uint64_t *map = bitmap + w0;
	const uint32_t nw = words - w0 < MB_RS_LEAF_WORDS ? words - w0 : MB_RS_LEAF_WORDS;

	if (m <= 64 && m > 2 && r->cnt >= 16) {
		uint32_t x = mb_rs_find_long_m(map, nw, a / 64, ~map[a / 64] & ~0ULL << (a % 64), m);

		if (x != MB_RS_NONE) {
			r->at = x;
			return;
		}
		/* every run shorter than m now: a run of m - 1 is the longest
		   (in most), its first the leaf's; else all the runs are read,
		   up to the first of m - 2 */
		x = mb_rs_find_long_m(map, nw, 0, ~map[0], m - 1);
		if (x != MB_RS_NONE) {
			r->max = m - 1;
			r->at = x;
			return;
		}
		struct mb_rs all = {0, 0, 0, 0, 0};

		mb_rs_span(map, nw, &all, true, m - 2, 0, ~map[0]);
		assert(all.max < m - 1);
		r->max = all.max;
		r->at = all.at;
		return;
	}
	/* their cnt unused: the compiler drops the count */
	struct mb_rs hi = {0, 0, 0, 0, 0}, lo = {0, 0, 0, 0, 0};

	mb_rs_span(map, nw, &hi, true, m, a / 64, ~map[a / 64] & ~0ULL << (a % 64));
	if (hi.max == m) {
		r->at = hi.at;
		return;
	}
	if (a) {
		mb_rs_span(map, nw < (a + 63) / 64 ? nw : (a + 63) / 64, &lo, true, m - 1, 0,
			   ~map[0]);
		if (lo.max >= hi.max) /* as long: before a, or a's word's run at hi.at */
			hi = lo;
	}
	assert(hi.max < m);
	r->max = hi.max;
	r->at = hi.at;
}

/* Out of line for mb_rs_leaf_redo and the all-fresh used mark: inline in
   mb_rs_mark_leaf_used too, drain -1 but cell:aged90:256:zero:20 and
   rand +1 instructions a call (see mb_rs_cut_lift_as). */
static __attribute__((noinline)) void mb_rs_leaf_redo_after(uint32_t words,
							    const uint64_t *bitmap,
							    struct mb_rs *r, uint32_t leaf)
{
	mb_rs_leaf_redo_after_in(words, bitmap, r, leaf);
}

/*
 * mb_rs_leaf_redo for a leaf of no more runs than m: read by
 * mb_rs_leaf_full_max when wholly in the bitmap, else (a short group's
 * last) by mb_rs_span up to a run of m.  Out of line and with the
 * parameters of mb_rs_leaf_redo_after, as it is: inline, or given others,
 * its register saves or moves cost every redo (aged:256:5000 +5
 * instructions a call).
 */
static inline __attribute__((always_inline)) void
mb_rs_leaf_redo_upto_in(uint32_t words, const uint64_t *bitmap, struct mb_rs *r, uint32_t leaf)
{
	const uint32_t w0 = leaf * MB_RS_LEAF_WORDS;

	if (MB_LIKELY(w0 + MB_RS_LEAF_WORDS <= words)) {
		mb_rs_leaf_full_max(bitmap + w0, r->cnt, &r->max, &r->at);
		return;
	}
	/* its cnt unused: the compiler drops the count */
	struct mb_rs runs = {0, 0, 0, 0, 0};

	mb_rs_span(bitmap + w0, words - w0, &runs, true, r->max, 0, ~bitmap[w0]);
	assert(runs.max <= r->max);
	r->max = runs.max;
	r->at = runs.at;
}

static __attribute__((noinline)) void mb_rs_leaf_redo_upto(uint32_t words, const uint64_t *bitmap,
							   struct mb_rs *r, uint32_t leaf)
{
	mb_rs_leaf_redo_upto_in(words, bitmap, r, leaf);
}

static __attribute__((noinline)) void mb_rs_leaf_redo(const struct mb_volume *vol,
						      const struct mb_group *grp, struct mb_rs *r,
						      uint32_t leaf)
{
	if (r->max < r->cnt)
		mb_rs_leaf_redo_after(vol->bitmap_words, grp->bb_bitmap, r, leaf);
	else
		mb_rs_leaf_redo_upto(vol->bitmap_words, grp->bb_bitmap, r, leaf);
}

/*
 * GCC's SLP vectorizer packs a node's five fields into an SSE store (four
 * moves and three shuffles for one): in a loop of joins, each a level,
 * the plain stores cost fewer instructions.  On main ea495d0:
 * cell:aged90:256:zero:20 3214 -> 3190 instructions a call.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define MB_RS_SCALAR __attribute__((optimize("no-tree-slp-vectorize")))
#else
#define MB_RS_SCALAR
#endif

/* Node n (at q) joined with its sibling beside it (q[-1] or q[1]), each
   of half blocks: their parent's summary.  A climb keeps q, the node just
   joined, at hand: only the sibling is read. */
static inline __attribute__((always_inline)) struct mb_rs
mb_rs_join_beside(const struct mb_rs *q, uint32_t n, struct mb_rs cur, uint32_t half)
{
	return n & 1 ? mb_rs_join_up(q[-1], half, cur, half) : mb_rs_join_up(cur, half, q[1], half);
}

/* The same where cur holds a used block (used: a used mark's node and
   every ancestor of it): the parent's edge on cur's side is cur's own, no
   compare. */
static inline __attribute__((always_inline)) struct mb_rs
mb_rs_join_beside_as(const struct mb_rs *q, size_t n, struct mb_rs cur, uint32_t half, bool used)
{
	struct mb_rs r;

	assert(!used || (cur.pre < half && cur.suf < half));
	if (n & 1) {
		r = mb_rs_join_up(q[-1], half, cur, half);
		if (used)
			r.suf = cur.suf;
	} else {
		r = mb_rs_join_up(cur, half, q[1], half);
		if (used)
			r.pre = cur.pre;
	}
	return r;
}

/* Node n's ancestors joined from their children up to the root (n was
   just set to cur): no compare with an old value (see mb_rs_lift_from).
   The index 64-bit, as mb_rs_lift_inside's (no zero extension for each
   level's address: on d42c28f with mb_rs_mark_long_fresh's climbs so,
   aging:triangle 2854 -> 2846, cell:aged90:256:zero:20 2072 -> 2071
   instructions a call), and the loop on the parent's index u, its test
   the flag of the halving (not i > 1 and then i / 2 again: 2846 -> 2836
   with mb_rs_lift_inside's and mb_rs_lift_partial_joins' so). */
static inline __attribute__((always_inline)) void
mb_rs_lift_joins_as(struct mb_rs *t, uint32_t n, struct mb_rs cur, uint32_t half, bool used)
{
	size_t i = n;
	const struct mb_rs *q = t + i;

	for (size_t u = i / 2; u; i = u, u /= 2, half *= 2) {
		struct mb_rs *up = t + u;

		assert(up->cnt != MB_RS_STALE);
		cur = mb_rs_join_beside_as(q, i, cur, half, used);
		*up = cur;
		q = up;
	}
}

static inline __attribute__((always_inline)) void mb_rs_lift_joins(struct mb_rs *t, uint32_t n,
								   struct mb_rs cur, uint32_t half)
{
	mb_rs_lift_joins_as(t, n, cur, half, false);
}

/*
 * Node n's ancestors when its pre and suf did not move (o's): neither do
 * theirs (an edge follows from the children's edges alone), nor the runs
 * two children share, so each count moves by n's, d, and only max and at
 * are joined -- the sibling's max and the edge it shares with the node
 * below read, two fields stored and a count added to, not five joined and
 * stored.  A used mark inside a leaf, away from its edges, is most marks
 * of an aged group.  part: in a tree partly stale, up to the first stale
 * ancestor (mb_rs_lift_partial).  Stopping where max and at come out as
 * they were (then only counts above) cost more than it saved: a compare a
 * level against ~1 level spared (cell:aged90:256:zero:20 2158 -> 2160,
 * drain 1831 -> 1834 instructions a call).  Each side's max and at
 * written out (mb_rs_join_with's, as the node is the right half or the
 * left), the climbing node's inner edge loaded on its side alone: the
 * join of a node copy with max and at replaced had GCC load both edges
 * each level.  On main ff79f35: cell:aged90:256:zero:20 2127 -> 2121,
 * cell:aged90:256:rand:20 2612 -> 2607, aged:256:5000 2168 -> 2164
 * instructions a call.
 */
static inline __attribute__((always_inline)) void
mb_rs_lift_inside(struct mb_rs *t, uint32_t n, struct mb_rs cur, uint32_t d, uint32_t half,
		  bool part)
{
	uint32_t max = cur.max, at = cur.at;
	/* 64-bit: the parent's address with no zero extension a level (on
	   ccea269: cell:aged90:256:zero:20 2077 -> 2072, cell:aged90:256:rand:20
	   2556 -> 2551, aged:256:5000 2083 -> 2079 instructions a call); the
	   loop on the parent's index u, as mb_rs_lift_joins_as's (on 97050f9:
	   cell:aged90:256:zero:20 2071 -> 2067, cell:aged90:256:rand:20 2550
	   -> 2547, aged:256:5000 2079 -> 2075) */
	size_t i = n;
	const struct mb_rs *q = t + i;

	for (size_t u = i / 2; u && (!part || t[u].cnt != MB_RS_STALE); i = u, u /= 2, half *= 2) {
		struct mb_rs *up = t + u;

		assert(up->cnt != MB_RS_STALE);
		if (i & 1) { /* q[-1], then q: a tie goes to the earlier */
			uint32_t ls = q[-1].suf, mid = ls + q->pre;

			at += half;
			if (mid >= max) {
				max = mid;
				at = half - ls;
			}
			if (q[-1].max >= max) {
				max = q[-1].max;
				at = q[-1].at;
			}
		} else { /* q, then q[1] */
			uint32_t qs = q->suf, mid = qs + q[1].pre, m = q[1].max, a = half + q[1].at;

			if (mid >= m) {
				m = mid;
				a = half - qs;
			}
			if (max < m) {
				max = m;
				at = a;
			}
		}
		assert(max == mb_rs_join(t[i & ~(size_t)1], half, t[i | 1], half).max &&
		       at == mb_rs_join(t[i & ~(size_t)1], half, t[i | 1], half).at);
		up->max = max;
		up->at = at;
		up->cnt += d;
		q = up;
	}
}

/* Node n's count moved by d, nothing else: its ancestors' counts follow. */
static inline __attribute__((always_inline)) void mb_rs_lift_count(struct mb_rs *t, uint32_t n,
								   uint32_t d)
{
	for (n /= 2; d && n; n /= 2)
		t[n].cnt += d;
}

/* mb_rs_lift_from_as's joins, out of line and used a constant in each: the
   climb inside a leaf, most lifts, then saves no registers for them (six
   pushes and pops a lift; on main 9e09878: cell:aged90:256:zero:20 2121
   -> 2110, cell:aged90:256:rand:20 2607 -> 2598, drain 1787 -> 1785
   instructions a call) */
static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_lift_joins_used(struct mb_rs *t, uint32_t n, uint32_t half)
{
	mb_rs_lift_joins_as(t, n, t[n], half, true);
}

static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_lift_joins_free(struct mb_rs *t, uint32_t n, uint32_t half)
{
	mb_rs_lift_joins_as(t, n, t[n], half, false);
}

/*
 * Node n (half blocks) of a tree all fresh was o and is now t[n]: its
 * ancestors follow at once.  When only its count moved, theirs move by as
 * much (an ancestor's pre, suf, max and at follow from its children's);
 * else each is joined from its children up to the root, without comparing
 * it with its old value to stop early: a change reaches the root in most
 * marks (cell:aged90:256:zero:20: 27,095 of 36,696 lifts join all 6
 * levels, 5.2 on average), and the compare, with the old value's loads,
 * cost more than the joins it saved.  On main ea495d0:
 * cell:aged90:256:zero:20 3263 -> 3214, drain 2572 -> 2558, aging:triangle
 * 4397 -> 4360 instructions a call.  A group allocated from between two
 * scans then pays no flush at its next scan (a path of 6 joins, ~600
 * instructions with its leaf in aged90).  Only in a tree all fresh: in one
 * partly stale (the drain's group, whose walks stop early) the walk mends
 * the nodes it passes anyway, and a lift there cost the drain ~30
 * instructions a call.
 * When n's edges stayed, a lift of max and at alone (mb_rs_lift_inside),
 * and a used mark's joins take cur's edge on its side as it is
 * (mb_rs_join_beside_as; used, a constant: two copies, the used one now
 * mb_rs_mark_leaf_used's, which knows what moved without o).
 * On main d17a8ae: cell:aged90:256:zero:20 2240 -> 2164,
 * cell:aged90:256:rand:20 2718 -> 2652, drain 1844 -> 1831 instructions a
 * call (the joins alone: aged90 zero 2240 -> 2225).
 */
static inline __attribute__((always_inline)) void
mb_rs_lift_from_as(struct mb_rs *t, uint32_t n, struct mb_rs o, uint32_t half, bool used)
{
	struct mb_rs cur = t[n];

	if (cur.pre == o.pre && cur.suf == o.suf) {
		uint32_t d = cur.cnt - o.cnt; /* mod 2^32: a drop adds back */

		if (cur.max == o.max && cur.at == o.at) {
			mb_rs_lift_count(t, n, d);
			return;
		}
		mb_rs_lift_inside(t, n, cur, d, half, false);
		return;
	}
	if (used)
		mb_rs_lift_joins_used(t, n, half);
	else
		mb_rs_lift_joins_free(t, n, half);
}

/* The same for mb_rs_mark_long's lifts, no edges' test (a leaf wholly
   inside, or two leaves joined: their edges move): with the leaf's tests
   and mb_rs_lift_inside, aging:triangle 3208 -> 3214 (aged90 zero -6, rand
   -12) instructions a call. */
static inline __attribute__((always_inline)) void mb_rs_lift_from(struct mb_rs *t, uint32_t n,
								  struct mb_rs o, uint32_t half)
{
	struct mb_rs cur = t[n];

	if (cur.pre == o.pre && cur.suf == o.suf && cur.max == o.max && cur.at == o.at) {
		mb_rs_lift_count(t, n, cur.cnt - o.cnt); /* mod 2^32: a drop adds back */
		return;
	}
	mb_rs_lift_joins(t, n, cur, half);
}

/* A leaf's lift, a free's and a used mark's.  Out of line: inline in
   buddy.c's mark it grew every mark. */
static __attribute__((noinline)) MB_RS_SCALAR void mb_rs_lift(struct mb_rs *t, uint32_t n,
							      struct mb_rs o)
{
	mb_rs_lift_from_as(t, n, o, MB_RS_LEAF_BITS, false);
}

/* mb_rs_lift_partial_as's joins up to the first stale ancestor, out of
   line as mb_rs_lift_joins_used/_free are, for the same reason: the
   climb inside a leaf, most partial lifts, then saves fewer registers
   (on main fe829d8: aged:256:5000 2148 -> 2138, cell:aged50:256:next:20
   1314 -> 1315, cell:aged50:256:zero:20 1232 -> 1231 instructions a call,
   the others equal) */
static inline __attribute__((always_inline)) void
mb_rs_lift_partial_joins(struct mb_rs *t, uint32_t n, bool used)
{
	struct mb_rs cur = t[n];
	uint32_t half = MB_RS_LEAF_BITS;
	size_t i = n; /* 64-bit, as mb_rs_lift_joins_as's */
	const struct mb_rs *q = t + i;

	for (size_t u = i / 2; u && t[u].cnt != MB_RS_STALE; i = u, u /= 2, half *= 2) {
		struct mb_rs *up = t + u;

		cur = mb_rs_join_beside_as(q, i, cur, half, used);
		*up = cur;
		q = up;
	}
}

static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_lift_partial_joins_used(struct mb_rs *t, uint32_t n)
{
	mb_rs_lift_partial_joins(t, n, true);
}

static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_lift_partial_joins_free(struct mb_rs *t, uint32_t n)
{
	mb_rs_lift_partial_joins(t, n, false);
}

/*
 * Leaf n, fresh and just set (it was o), in a tree partly stale that the
 * walks use (mb_rs_walked): its ancestors are joined up to the first stale
 * one, whose own ancestors are stale already (a fresh node has fresh
 * children, so each sibling met is fresh).  Marked stale instead, those
 * ancestors cost the next walk a descent to the leaf and a mend on its way
 * up, and a walk that stops before passing them (a count ends there)
 * leaves them stale for the next; a group whose walks stop before its last
 * leaves keeps its root stale for good, so mb_rs_lift never applies there.
 * Not in a tree no walk has read since its load (mb_rs_walked clear): the
 * power-of-two fast path's groups would pay joins nobody reads
 * (aging:8m64k +20 instructions a call).  On main fd37d55: aged:256:5000
 * 2776 -> 2418, cell:aged50:256:next:20 1648 -> 1518, aging:triangle 3693
 * -> 3683 instructions a call.
 * The climbs of mb_rs_lift_from_as, each stopped at the first stale
 * ancestor: the count alone when only it moved, max and at alone when the
 * edges stayed (mb_rs_lift_inside), a used mark's edge on its side as it
 * is -- a copy for each value of used, as mb_rs_lift's, and the helpers
 * the long marks share (mb_rs_lift_count, mb_rs_lift_joins_as) left as
 * they were: given the stop too, mb_rs_mark_range came out worse
 * (aging:triangle +5 instructions a call, no partial lift in it).  On main
 * 2febe32: aged:256:5000 2191 -> 2168, cell:aged50:256:next:20 1340 ->
 * 1318, cell:aged50:256:zero:20 1253 -> 1235 instructions a call, the
 * others -3..0.
 */
static inline __attribute__((always_inline)) void
mb_rs_lift_partial_as(struct mb_rs *t, uint32_t n, struct mb_rs o, bool used)
{
	struct mb_rs cur = t[n];
	uint32_t half = MB_RS_LEAF_BITS;

	if (cur.pre == o.pre && cur.suf == o.suf) {
		uint32_t d = cur.cnt - o.cnt; /* mod 2^32: a drop adds back */

		if (cur.max == o.max && cur.at == o.at) {
			for (n /= 2; d && n && t[n].cnt != MB_RS_STALE; n /= 2)
				t[n].cnt += d;
			return;
		}
		mb_rs_lift_inside(t, n, cur, d, half, true);
		return;
	}
	if (used)
		mb_rs_lift_partial_joins_used(t, n);
	else
		mb_rs_lift_partial_joins_free(t, n);
}

static __attribute__((noinline)) MB_RS_SCALAR void mb_rs_lift_partial(struct mb_rs *t, uint32_t n,
								      struct mb_rs o)
{
	mb_rs_lift_partial_as(t, n, o, false);
}

/* Fresh leaf `leaf` holds [s, e) of a range just made all used or all free: set at once. */
static inline __attribute__((always_inline)) void
mb_rs_leaf_set(const struct mb_volume *vol, const struct mb_group *grp, struct mb_rs *t,
	       uint32_t leaf, uint32_t s, uint32_t e, bool used, bool whole, enum mb_rs_edge edge)
{
	struct mb_rs *r = &t[mb_rs_leaves(vol) + leaf];

	assert(r->cnt != MB_RS_STALE);
	if (!mb_rs_leaf_mark(vol, grp, r, leaf * MB_RS_LEAF_BITS, s, e, used, whole, edge))
		mb_rs_leaf_redo(vol, grp, r, leaf);
	assert(mb_rs_same(*r, mb_rs_leaf(vol, grp, leaf)));
}

/*
 * A used mark inside fresh leaf n = p + leaf, its edges as they were, that
 * cut the first of its longest runs: the leaf's max and at read again when
 * redo (mb_rs_leaf_redo's two reads, the one of a leaf of few runs inline),
 * then its ancestors' max and at lifted and their counts moved by d -- in
 * a tree all fresh to the root, else (part) up to the first stale ancestor.
 * In the partial copy the read of a leaf of many runs is inline too: the
 * aged volume's (aged:256, its tree partly stale) cuts one in nearly every
 * call, and the call's register saves went (on 21c9f4c: aged:256:5000
 * 1786 -> 1771 instructions a call, the others equal).
 */
static inline __attribute__((always_inline)) void
mb_rs_cut_lift_as(uint32_t words, const uint64_t *bitmap, struct mb_rs *t, uint32_t n,
		  uint32_t leaf, uint32_t d, bool redo, bool part)
{
	if (redo && t[n].max < t[n].cnt && part)
		mb_rs_leaf_redo_after_in(words, bitmap, t + n, leaf);
	else if (redo && t[n].max < t[n].cnt)
		mb_rs_leaf_redo_after(words, bitmap, t + n, leaf);
	else if (redo)
		mb_rs_leaf_redo_upto_in(words, bitmap, t + n, leaf);
	mb_rs_lift_inside(t, n, t[n], d, MB_RS_LEAF_BITS, part);
}

/*
 * The ancestors of node n (h blocks), just set after a used mark of [s, e)
 * that started a free run and ended inside it, the run going on to n's
 * end: a sequential take, its run on to its group's end.  Each ancestor
 * whose one run (cnt 1) is that run, from s to its end (its suf, hi - s),
 * keeps it from e on: suf and max hi - e, at e - lo, pre 0 (it was, s
 * past the node's start; or s is the node's start, the node was all
 * free: a take from an empty group's start, or a leaf's in an all-free
 * stretch), and the count stays 1 (e before the node's end, as before
 * n's).  No sibling read, four stores a level (~24 instructions, a join
 * ~42); from the first other
 * ancestor on, the joins.  A closed form of every used lift (each
 * ancestor's pre, suf, count, max and at from its own old summary and
 * the run's ends, a sibling's edge read where the run passes a child's)
 * cost more than the joins: ~95 instructions a level against ~42
 * (cell:empty:100:zero:20 1574 -> 1772 a call).  With
 * mb_rs_mark_leaf_used_suf and mb_rs_mark_two's take, on lead42 62d916f:
 * cell:empty:100:zero:20 1574 -> 1491, cell:empty:100:rand:20 1698 ->
 * 1564, cell:seq90:100:rand:20 1714 -> 1637 instructions a call.  With
 * s at a node's start too (cell:empty:1000:rand's takes, each from a
 * fresh group's block 0, had every ancestor joined), on lead43 2555073:
 * cell:empty:1000:rand:20 1729 -> 1647, cell:empty:100:rand:20 1428 ->
 * 1388, cell:empty:100:zero:20 1446 -> 1427 instructions a call, the
 * rest even.  The general closed form (either piece of the cut run left,
 * mb_rs_used_one on lead43) cost ~38 instructions a level against the
 * join's ~45: cell:seq90:1000:zero:20 +29, cell:empty:100:rand:20 +32.
 */
static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_lift_take_used(struct mb_rs *t, uint32_t n, uint32_t h, uint32_t s, uint32_t e)
{
	size_t i = n; /* the node last set */

	assert(e < (s & ~(h - 1)) + h);
	for (size_t u = i / 2; u; i = u, u /= 2) {
		struct mb_rs *q = t + u;
		const uint32_t lo = s & ~(2 * h - 1), hi = lo + 2 * h;

		if (q->cnt != 1 || q->suf != hi - s)
			break;
		q->pre = 0; /* it was already, unless s == lo: the node was all free */
		q->suf = q->max = hi - e;
		q->at = e - lo;
		h *= 2;
		assert(mb_rs_same(*q, mb_rs_join(t[i & ~(size_t)1], h / 2, t[i | 1], h / 2)));
	}
	mb_rs_lift_joins_as(t, (uint32_t)i, t[i], h, true);
}

/*
 * mb_rs_mark_leaf of a used mark with its lift, in a tree all fresh or
 * (part) one whose leaf's parent is fresh: what moved follows from the run
 * the mark cut, [a, b) -- the leaf's edges when it touched one, its max and
 * at when it was the first of the longest (read again unless the leaf had
 * that one run), its count by the pieces left beside [s, e) -- and picks
 * the lift: the counts alone, max and at with them (mb_rs_lift_inside), or
 * the joins.  The same lifts mb_rs_lift_from_as picks from the leaf's old
 * summary, o: the mark copied o, passed it on the stack to the lift, and
 * the lift compared it with the new summary field by field; the read was a
 * call of its own (mb_rs_leaf_redo, then _upto or _after).  One call here,
 * out of line as the lift was (inline, the take's registers grew: aged:256
 * +13 instructions a call).  On a77cafd: cell:aged90:256:zero:20 1814 ->
 * 1800, cell:aged90:256:rand:20 2103 -> 2089, aged:256:5000 1790 -> 1786,
 * cell:aged50:256:next:20 1119 -> 1115, drain 1298 -> 1294, raw:1 460 ->
 * 462 (on b1dd5b0, the leaf's staleness tested after the root's instead:
 * zero -6, rand -7, raw:1 +5 more -- but a stale leaf under a fresh root
 * is marked).
 */
static void mb_rs_mark_leaf_used_suf(const struct mb_volume *vol, const struct mb_group *grp,
				     uint32_t s, uint32_t e);

static inline __attribute__((always_inline)) void
mb_rs_mark_leaf_used_in(const struct mb_volume *vol, const struct mb_group *grp, uint32_t s,
			uint32_t e, bool whole, bool part, bool suf)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);
	const uint32_t p = mb_rs_leaves(vol), leaf = s / MB_RS_LEAF_BITS, n = p + leaf;
	const uint32_t b0 = leaf * MB_RS_LEAF_BITS;
	struct mb_rs *r = &t[n];
	const uint32_t b = suf	  ? b0 + MB_RS_LEAF_BITS
			   : whole ? e
				   : mb_rs_used_from_or(vol, grp, e, b0 + MB_RS_LEAF_BITS,
							part ? 0 : r->suf);

	if (!suf && b == MB_RS_NONE) { /* [e, the leaf's end) free */
		mb_rs_mark_leaf_used_suf(vol, grp, s, e);
		return;
	}
	const uint32_t a = whole ? s : mb_rs_used_before(vol, grp, s, b0);
	const uint32_t d = (a < s) + (e < b) - 1; /* mod 2^32: a drop adds back */
	const bool cut = b - a == r->max && a - b0 == r->at;
	const bool edges = a == b0 || b == b0 + MB_RS_LEAF_BITS;
	bool redo = false;

	assert(r->cnt != MB_RS_STALE && (part || t[1].cnt != MB_RS_STALE));
	assert(!suf || (!whole && e < b0 + MB_RS_LEAF_BITS &&
			b == mb_rs_used_from(vol, grp, e, b0 + MB_RS_LEAF_BITS)));
	if (cut && r->cnt == 1) { /* its one run: what is left of it */
		r->max = s - a >= b - e ? s - a : b - e;
		r->at = !r->max ? 0 : s - a >= b - e ? a - b0 : e - b0;
	} else if (cut) {
		redo = true;
	}
	r->cnt += d;
	if (a == b0)
		r->pre = s - b0;
	if (b == b0 + MB_RS_LEAF_BITS)
		r->suf = b - e;
	if (!edges && !cut) {
		for (uint32_t u = n / 2; d && u && (!part || t[u].cnt != MB_RS_STALE); u /= 2)
			t[u].cnt += d;
	} else if (!edges) {
		mb_rs_cut_lift_as(vol->bitmap_words, grp->bb_bitmap, t, n, leaf, d, redo, part);
	} else {
		if (redo)
			mb_rs_leaf_redo(vol, grp, r, leaf);
		if (suf && a == s) /* a sequential take, or one from an empty group's start */
			mb_rs_lift_take_used(t, n, MB_RS_LEAF_BITS, s, e);
		else
			part ? mb_rs_lift_partial_joins_used(t, n)
			     : mb_rs_lift_joins_used(t, n, MB_RS_LEAF_BITS);
	}
	assert(mb_rs_same(*r, mb_rs_leaf(vol, grp, leaf)));
}

/* The same where [e, the leaf's end) is free (its suf covers it: the
   general mark's look for the run's end, mb_rs_used_from_or, says so past
   e's word): the run the mark cut ends at the leaf's end, no look in the
   bitmap for it (the words up to the leaf's end were ~95 instructions a
   call of a sequential take, whose run goes on to its group's end), and
   from the start of that run the lift is mb_rs_lift_take_used's.  A copy
   of its own: the take's lift inside the general mark's cost
   cell:aged90:64:zero:20 +7 instructions a call. */
static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_mark_leaf_used_suf(const struct mb_volume *vol, const struct mb_group *grp, uint32_t s,
			 uint32_t e)
{
	mb_rs_mark_leaf_used_in(vol, grp, s, e, false, false, true);
}

static inline __attribute__((always_inline)) void
mb_rs_mark_leaf_used_as(const struct mb_volume *vol, const struct mb_group *grp, uint32_t s,
			uint32_t e, bool whole, bool part)
{
	mb_rs_mark_leaf_used_in(vol, grp, s, e, whole, part, false);
}

static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_mark_leaf_used(const struct mb_volume *vol, const struct mb_group *grp, uint32_t s,
		     uint32_t e, bool whole)
{
	mb_rs_mark_leaf_used_as(vol, grp, s, e, whole, false);
}

static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_mark_leaf_used_partial(const struct mb_volume *vol, const struct mb_group *grp, uint32_t s,
			     uint32_t e, bool whole)
{
	mb_rs_mark_leaf_used_as(vol, grp, s, e, whole, true);
}

/*
 * Leaf `leaf` holds [s, e) of a range just made all used or all free: set
 * at once when fresh (mb_rs_leaf_set), else left stale.  Its ancestors then
 * follow it (lift, in a tree all fresh: mb_rs_lift) or go stale
 * (mb_rs_mark_long sets them itself).
 */
static inline __attribute__((always_inline)) void
mb_rs_mark_leaf(const struct mb_volume *vol, const struct mb_group *grp, struct mb_rs *t,
		uint32_t leaf, uint32_t s, uint32_t e, bool used, bool whole, enum mb_rs_edge edge,
		bool lift)
{
	uint32_t p = mb_rs_leaves(vol);
	struct mb_rs *r = &t[p + leaf];

	assert(!lift || edge == MB_RS_INSIDE);
	/* first: a fresh root does not make every leaf fresh (test_runsum's
	   drain_same_answers marks one under it) */
	if (r->cnt == MB_RS_STALE) { /* a tree never scanned: every mark */
		mb_rs_mark_stale(t, p + leaf);
		return;
	}
	if (used && lift && t[1].cnt != MB_RS_STALE) { /* all fresh */
		mb_rs_mark_leaf_used(vol, grp, s, e, whole);
		return;
	}
	if (used && lift && *mb_rs_walked(t) && t[(p + leaf) / 2].cnt != MB_RS_STALE) {
		mb_rs_mark_leaf_used_partial(vol, grp, s, e, whole);
		return;
	}
	if (used) { /* no lift (its ancestors go stale), or its parent stale, or no walk yet */
		mb_rs_leaf_set(vol, grp, t, leaf, s, e, used, whole, edge);
		mb_rs_mark_above(t, p + leaf);
		return;
	}
	struct mb_rs o = *r;

	mb_rs_leaf_set(vol, grp, t, leaf, s, e, used, whole, edge);
	if (lift && t[1].cnt != MB_RS_STALE) /* all fresh */
		mb_rs_lift(t, p + leaf, o);
	else if (lift && *mb_rs_walked(t) && t[(p + leaf) / 2].cnt != MB_RS_STALE)
		mb_rs_lift_partial(t, p + leaf, o);
	else
		mb_rs_mark_above(t, p + leaf);
}

void mb_runsum_update_locked(const struct mb_volume *vol, struct mb_group *grp, uint32_t start,
			     uint32_t len)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);
	uint32_t p = mb_rs_leaves(vol);
	uint32_t lo = start / MB_RS_LEAF_BITS, hi = (start + len - 1) / MB_RS_LEAF_BITS;

	assert(len && hi < p);
	/* dropped whatever the range: its leaves go stale, and a resume point
	   needs a leaf fresh (mb_rs_resume_keep) */
	*mb_rs_resume_at(t) = 0;
	for (uint32_t l = lo; l <= hi; l++) {
		mb_rs_unlazy_slow(t, p + l); /* a stale node is never above a hidden one */
		mb_rs_mark_stale(t, p + l);
	}
}

/*
 * mb_rs_join(x, w, ..) and mb_rs_join(w, x, ..) in closed form, for x and w
 * of h blocks each, w all used (used) or all free as the mark made it, and
 * x's block beside w marked too (its suf, or pre, is 0 when used, else not).
 * Used, w adds nothing, and x's max passes through unchanged (x's first of
 * max was first: a tie goes to the earlier), moved by h after w (at 0 when
 * x has no free block).  Free, the joined max is the run across the middle
 * (x's own max, at most h, is shorter unless x is all free, and then the
 * run across is longer still): it starts at x's suffix run, or at 0 after
 * w.  The count stays x's: w's run is x's run at the middle, or none.
 */
static inline struct mb_rs mb_rs_join_whole_after(struct mb_rs x, uint32_t h, bool used)
{
	assert(used ? !x.suf : x.suf);
	if (used)
		return (struct mb_rs){x.pre, 0, x.max, x.cnt, x.at};
	return (struct mb_rs){x.pre == h ? 2 * h : x.pre, x.suf + h, x.suf + h, x.cnt, h - x.suf};
}

static inline struct mb_rs mb_rs_join_whole_before(struct mb_rs x, uint32_t h, bool used)
{
	assert(used ? !x.pre : x.pre);
	if (used)
		return (struct mb_rs){0, x.suf, x.max, x.cnt, x.max ? h + x.at : 0};
	return (struct mb_rs){h + x.pre, x.suf == h ? 2 * h : x.suf, h + x.pre, x.cnt, 0};
}

/*
 * mb_rs_mark_long in a tree all fresh: it stays fresh.  The free marks'
 * (a used mark has mb_rs_mark_long_used_fresh).  The leaves changed
 * are lo..hi: the ends (set as mb_rs_leaf_set sets them) and those between,
 * wholly inside.  At each level above, the nodes over them are one range
 * too, from a's to b's: those between are all used or all free, as their
 * leaves; a's and b's follow from the nodes just set below, held in L and
 * R (not read back), and from a sibling: outside the range, a join; else
 * inside it, all used or all free, a join in closed form
 * (mb_rs_join_whole_after/before).  From where a and b are siblings,
 * their parent is joined and a lift (mb_rs_lift_from: the count alone
 * when only it moved there) goes on to the root.  On main 2655b25 with
 * the edges (mb_rs_edge): aging:triangle 4195 -> 4148 instructions a
 * call.  These are the joins a later
 * walk's flush would make (both ends' paths, ~10 in aging:triangle, found
 * there by a descent that tests both children of each), made now without
 * the search; a second mark of the group before its next scan pays its
 * joins again, which the triangle's groups rarely get (1 scan in 30
 * follows two marks or more).  On main 7c24ea9: aging:triangle 5063 ->
 * 4733 instructions a call.  a's path climbed first, then b's, instead of
 * both a level at a time, and `used` a constant (two copies): on main
 * b4d3a25 aging:triangle 3754 -> 3745 (fewer spills).
 */
static inline __attribute__((always_inline)) void
mb_rs_mark_long_fresh(const struct mb_volume *vol, const struct mb_group *grp, struct mb_rs *t,
		      uint32_t start, uint32_t len, bool used, bool whole, struct mb_rs all)
{
	/* mb_rs_mark_long's leaves: lo..hi changed, [in, out) wholly inside */
	uint32_t p = mb_rs_leaves(vol);
	uint32_t lo = start / MB_RS_LEAF_BITS, hi = (start + len - 1) / MB_RS_LEAF_BITS;
	uint32_t in = (start + MB_RS_LEAF_BITS - 1) / MB_RS_LEAF_BITS;
	uint32_t out = (start + len) / MB_RS_LEAF_BITS;
	uint32_t a = p + lo, b = p + hi, half = MB_RS_LEAF_BITS;

	if (a == b) { /* one leaf, wholly inside: its lift */
		const struct mb_rs o = t[a];

		assert(lo == in && out == lo + 1);
		t[a] = all;
		mb_rs_lift_from(t, a, o, half);
		return;
	}
	if (lo < in)
		mb_rs_leaf_set(vol, grp, t, lo, start, in * MB_RS_LEAF_BITS, used, whole,
			       MB_RS_TO_END);
	if (hi >= out)
		mb_rs_leaf_set(vol, grp, t, hi, out * MB_RS_LEAF_BITS, start + len, used, whole,
			       MB_RS_FROM_START);
	if (used) { /* lazy: the end leaves if inside, the rest by the climbs */
		if (lo == in)
			t[a] = all;
		if (hi < out)
			t[b] = all;
	} else {
		for (uint32_t l = in; l < out; l++) {
			assert(mb_rs_leaf(vol, grp, l).max == all.max); /* the caller's word */
			t[p + l] = all;
		}
	}
	/* a and b meet k levels up, at their common ancestor a >> k; below
	   it, a's ancestors end inside the range and b's begin in it */
	const uint32_t k = 32 - (uint32_t)__builtin_clz(a ^ b);
	struct mb_rs L = t[a], R = t[b];

	/* free: the nodes strictly between a's and b's at each level below
	   the common ancestor, all free as their leaves */
	for (uint32_t d = 1, sz = 2 * half; !used && d < k; d++, sz *= 2)
		for (uint32_t n = (a >> d) + 1; n < b >> d; n++)
			t[n] = (struct mb_rs){sz, sz, sz, 1, 0};
	/* a's path, then b's: each climb alone keeps its node in registers.
	   A sibling inside the range is all used or all free: a join in
	   closed form; used, it is set here, all used, and its subtree left
	   hidden (see mb_rs_unlazy_slow: the highest nodes inside the range
	   are these siblings, and a and b).  The range covers a's node's end
	   and b's node's start: used, L.suf and R.pre are 0; free, not (what
	   the compiler is told, with h >= a leaf: a join's far edge then
	   folds; aging:triangle 3218 -> 3208 instructions a call).  Each
	   climb counts its k - 1 levels down, its index 64-bit and the node
	   just set kept as the next level's q (not the loop's test of a's
	   ancestor and both addresses from 32-bit indices each level: on
	   d42c28f aging:triangle 2863 -> 2854 instructions a call) */
	size_t x = a, y = b;
	struct mb_rs *q = t + x;

	for (uint32_t h = half, lv = k - 1; lv; lv--, x /= 2, h *= 2) {
		struct mb_rs *up = t + x / 2;

		if ((used ? L.suf != 0 : L.suf == 0) || h < MB_RS_LEAF_BITS)
			__builtin_unreachable();
		if (used && !(x & 1))
			q[1] = all;
		L = x & 1 ? mb_rs_join_up(q[-1], h, L, h) : mb_rs_join_whole_after(L, h, used);
		assert(mb_rs_same(L, mb_rs_join(t[x & ~(size_t)1], h, t[x | 1], h)));
		*up = L;
		q = up;
	}
	q = t + y;
	for (uint32_t h = half, lv = k - 1; lv; lv--, y /= 2, h *= 2) {
		struct mb_rs *up = t + y / 2;

		if ((used ? R.pre != 0 : R.pre == 0) || h < MB_RS_LEAF_BITS)
			__builtin_unreachable();
		if (used && y & 1)
			q[-1] = all;
		R = y & 1 ? mb_rs_join_whole_before(R, h, used) : mb_rs_join_up_left(R, h, q[1], h);
		assert(mb_rs_same(R, mb_rs_join(t[y & ~(size_t)1], h, t[y | 1], h)));
		*up = R;
		q = up;
	}
	const uint32_t top = a >> k, ht = half << (k - 1);

	/* the top join's halves end and start inside the range, as the
	   climbs' nodes did: used, L.suf and R.pre are 0, so neither half is
	   all free and no run crosses the middle (aging:triangle 3208 ->
	   3187 instructions a call: the join's middle and edges fold) */
	assert(used ? !L.suf && !R.pre : L.suf && R.pre);
	if ((used ? L.suf || R.pre || L.pre == ht || R.suf == ht : !L.suf || !R.pre) ||
	    ht < MB_RS_LEAF_BITS)
		__builtin_unreachable();
	const struct mb_rs c = mb_rs_join_up(L, ht, R, ht);

	t[top] = c;
	mb_rs_lift_joins(t, top, c, 2 * ht);
}

/*
 * mb_rs_leaf_mark of a used mark at a fresh leaf's end, [x, MB_RS_LEAF_BITS)
 * with 0 < x: the leaf's last run, [MB_RS_LEAF_BITS - suf, MB_RS_LEAF_BITS),
 * keeps its part before x.
 * False, and max and at left as they were, when that run was the first of
 * the leaf's longest and others are left (mb_rs_leaf_redo).  No bound,
 * side or edge test of the general mark, no flag kept for the redo: in
 * mb_rs_mark_long_used_fresh, aging:triangle 2660 -> 2646 instructions a
 * call (nearly every end leaf of the triangle's marks holds one run).
 */
static inline __attribute__((always_inline)) bool mb_rs_leaf_used_to_end(struct mb_rs *r,
									  uint32_t x)
{
	const uint32_t a = MB_RS_LEAF_BITS - r->suf, m = x - a; /* the run's part left */
	const uint32_t cnt = r->cnt - (a == x), pre = a ? r->pre : x;

	assert(x && r->suf >= MB_RS_LEAF_BITS - x);
	if (r->max == r->suf && r->at == a) { /* the first of the longest cut */
		if (MB_UNLIKELY(r->cnt != 1)) {
			*r = (struct mb_rs){pre, 0, r->max, cnt, r->at};
			return false;
		}
		*r = (struct mb_rs){pre, 0, m, cnt, m ? a : 0};
		return true;
	}
	*r = (struct mb_rs){pre, 0, r->max, cnt, r->at};
	return true;
}

/* The same at a fresh leaf's start, [0, y) with y < MB_RS_LEAF_BITS: its first run,
   [0, pre), keeps its part from y. */
static inline __attribute__((always_inline)) bool mb_rs_leaf_used_from_start(struct mb_rs *r,
									      uint32_t y)
{
	const uint32_t b = r->pre, m = b - y; /* the run's part left */
	const uint32_t cnt = r->cnt - (b == y), suf = b == MB_RS_LEAF_BITS ? m : r->suf;

	assert(y < MB_RS_LEAF_BITS && r->pre >= y);
	if (r->max == b && !r->at) { /* the first of the longest cut */
		if (MB_UNLIKELY(r->cnt != 1)) {
			*r = (struct mb_rs){0, suf, r->max, cnt, r->at};
			return false;
		}
		*r = (struct mb_rs){0, suf, m, cnt, m ? y : 0};
		return true;
	}
	*r = (struct mb_rs){0, suf, r->max, cnt, r->at};
	return true;
}

/* An end leaf of mb_rs_mark_long_used_fresh stored: v as its helper set it,
   or, when it could not (!exact: the first of the leaf's longest runs cut
   and others left), read again (mb_rs_leaf_redo).  Returns the leaf. */
static inline __attribute__((always_inline)) struct mb_rs
mb_rs_end_leaf_store(const struct mb_volume *vol, const struct mb_group *grp, struct mb_rs *leaf,
		     uint32_t no, struct mb_rs v, bool exact)
{
	*leaf = v;
	if (!exact) {
		mb_rs_leaf_redo(vol, grp, leaf, no);
		v = *leaf;
	}
	assert(mb_rs_same(v, mb_rs_leaf(vol, grp, no)));
	return v;
}

/* The node at byte offset o of the tree at base (mb_rs_mark_long_used_fresh's climbs) */
static inline __attribute__((always_inline)) struct mb_rs *mb_rs_at(char *base, size_t o)
{
	_Static_assert(sizeof(struct mb_rs) == 20, "a node's offset tells its parity by bit 2");
	return (struct mb_rs *)(base + o);
}

/*
 * mb_rs_mark_long_fresh for a used mark: a's path, then b's on to the root
 * in one climb.  Below the common ancestor a sibling inside the range is
 * set all used, its subtree hidden, and from the common ancestor on each
 * node holds a used block: its edge on the climbing side is its child's
 * (mb_rs_join_beside_as).  So b's climb goes on past the common ancestor,
 * whose left half a's climb has just stored, instead of a join of L and R
 * kept in registers and a lift: one node in registers at a time, the node
 * just stored kept as the next level's q.  The end leaves are set in
 * registers (mb_rs_leaf_used_to_end/from_start), stored once.  Called
 * from mb_rs_mark_long, not mb_rs_mark_range, whose frame and setup it
 * then skips.  aging:triangle 2700 -> 2641 instructions a call with
 * those leaf helpers (~449 -> ~429 a mark), aging:triangle:file 1302 ->
 * 1300, aging:8m64k:file 1202 -> 1198, the others equal.  Tried: both
 * leaves set before the climbs, each climb reloading its leaf (2667 ->
 * 2692); the climbs' level counters as their stop nodes (2660 -> 2662).
 * Stopping b's climb at the first ancestor left as it was would spare 12%
 * of its levels above the common ancestor, one whose edges stayed (max
 * and at alone, mb_rs_lift_inside) 33%: fewer than their compares cost
 * (measured on 6b0f919: a compare a level, ~5 instructions, on 46698
 * levels, to spare ~15 on 8737 of them).
 * The climbs go by the nodes' byte offsets (mb_rs_at): a test of bit 2
 * for the side, a shift (and a subtract) for the parent, where the index
 * cost a copy, a shift, two address computations and the tree's address
 * reloaded from the stack each level (on 6b0f919: aging:triangle 2621 ->
 * 2594, aging:8m64k:file 1190 -> 1187 instructions a call).
 */
static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_mark_long_used_fresh(const struct mb_volume *vol, const struct mb_group *grp,
			   struct mb_rs *t, uint32_t start, uint32_t len)
{
	const uint32_t p = mb_rs_leaves(vol), end = start + len;
	/* the leaves at the range's ends, each partly inside or wholly */
	const uint32_t lo = start / MB_RS_LEAF_BITS, hi = (end - 1) / MB_RS_LEAF_BITS;
	const uint32_t a = p + lo, b = p + hi;
	/* a and b meet k levels up (a < b: a range of one leaf is a chunk,
	   mb_rs_mark_node's) */
	const uint32_t k = 32 - (uint32_t)__builtin_clz(a ^ b);
	struct mb_rs L = {0, 0, 0, 0, 0}, R = {0, 0, 0, 0, 0};
	bool exact = true;

	assert(lo < hi && t[1].cnt != MB_RS_STALE);
	if (start % MB_RS_LEAF_BITS) {
		L = t[a];
		exact = mb_rs_leaf_used_to_end(&L, start % MB_RS_LEAF_BITS);
	}
	L = mb_rs_end_leaf_store(vol, grp, t + a, lo, L, exact);

	/* the climbs by the nodes' byte offsets: node x at 20x, its parent at
	   20x / 2 less 10 when x is odd, which bit 2 of 20x tells (20 = 4 * 5) */
	char *const base = (char *)t;
	size_t o = (size_t)a * sizeof(struct mb_rs);
	uint32_t h = MB_RS_LEAF_BITS;

	for (uint32_t lv = k - 1; lv; lv--, h *= 2) {
		if (L.suf || L.pre >= h)
			__builtin_unreachable();
		if (o & 4) {
			L = mb_rs_join_up_left(*mb_rs_at(base, o - sizeof(struct mb_rs)), h, L, h);
			L.suf = 0;
			o = (o - sizeof(struct mb_rs)) / 2;
		} else {
			*mb_rs_at(base, o + sizeof(struct mb_rs)) = (struct mb_rs){0, 0, 0, 0, 0};
			o /= 2;
		}
		*mb_rs_at(base, o) = L;
	}
	exact = true;
	if (end % MB_RS_LEAF_BITS) {
		R = t[b];
		exact = mb_rs_leaf_used_from_start(&R, end % MB_RS_LEAF_BITS);
	}
	R = mb_rs_end_leaf_store(vol, grp, t + b, hi, R, exact);

	o = (size_t)b * sizeof(struct mb_rs);
	h = MB_RS_LEAF_BITS;
	for (uint32_t lv = k - 1; lv; lv--, h *= 2) {
		if (R.pre || R.suf >= h)
			__builtin_unreachable();
		if (o & 4) {
			*mb_rs_at(base, o - sizeof(struct mb_rs)) = (struct mb_rs){0, 0, 0, 0, 0};
			R = mb_rs_join_whole_before(R, h, true);
			o = (o - sizeof(struct mb_rs)) / 2;
		} else {
			R = mb_rs_join_up_left(R, h, *mb_rs_at(base, o + sizeof(struct mb_rs)), h);
			R.pre = 0;
			o /= 2;
		}
		*mb_rs_at(base, o) = R;
	}
	/* the common ancestor: its halves, b's ancestor below it (a right
	   child) and a's just stored, end and start inside the range -- no
	   run across the middle and neither half all free, so only max and at
	   are joined (on 4609c39, the loop's general join there instead:
	   aging:triangle 2594 -> 2580, aging:8m64k:file 1187 -> 1185
	   instructions a call) */
	{
		const struct mb_rs *l = mb_rs_at(base, o - sizeof(struct mb_rs));

		assert(o & 4 && !l->suf && !R.pre && l->pre < h && R.suf < h);
		if (l->max >= R.max) /* a tie goes to the earlier */
			R = (struct mb_rs){l->pre, R.suf, l->max, l->cnt + R.cnt, l->at};
		else
			R = (struct mb_rs){l->pre, R.suf, R.max, l->cnt + R.cnt, h + R.at};
		o = (o - sizeof(struct mb_rs)) / 2;
		assert(mb_rs_same(R, mb_rs_join(t[2 * (o / sizeof(struct mb_rs))], h,
						 t[2 * (o / sizeof(struct mb_rs)) + 1], h)));
		*mb_rs_at(base, o) = R;
		h *= 2;
	}
	/* and on up */
	for (; o > sizeof(struct mb_rs); h *= 2) {
		if (R.pre >= h || R.suf >= h)
			__builtin_unreachable();
		if (o & 4) {
			const uint32_t suf = R.suf;

			R = mb_rs_join_up(*mb_rs_at(base, o - sizeof(struct mb_rs)), h, R, h);
			R.suf = suf;
			o = (o - sizeof(struct mb_rs)) / 2;
		} else {
			const uint32_t pre = R.pre;

			R = mb_rs_join_up_left(R, h, *mb_rs_at(base, o + sizeof(struct mb_rs)), h);
			R.pre = pre;
			o /= 2;
		}
		assert(mb_rs_same(R, mb_rs_join(t[2 * (o / sizeof(struct mb_rs))], h,
						 t[2 * (o / sizeof(struct mb_rs)) + 1], h)));
		*mb_rs_at(base, o) = R;
	}
}

/* Nodes q[0] and q[1] both set to v: their 40 bytes as five words, as
   mb_rs_fill stores them. */
static inline __attribute__((always_inline)) void mb_rs_set_pair(struct mb_rs *q, struct mb_rs v)
{
	const struct mb_rs two[2] = {v, v};
	uint64_t w[5];

	_Static_assert(sizeof(two) == sizeof(w), "a node is five 32-bit fields");
	memcpy(w, two, sizeof(w));
	for (int i = 0; i < 5; i++)
		memcpy((char *)q + 8 * i, &w[i], 8);
}

/*
 * mb_rs_mark_long for a chunk of 2^lo blocks at c, aligned to it, lo >= 9
 * (a leaf or more): the blocks of one node n's subtree, which is then all
 * used (used) or all free -- every node in it a constant, set level by
 * level, no join.  In a tree all fresh n's lift goes on to the root (where
 * mb_rs_mark_long_fresh would climb both ends' paths to n, each join in
 * closed form); else n's ancestors go stale, up to the first one stale
 * already (mb_rs_mark_range would test each node of each level for being
 * inside the range).  The power-of-two fast path's marks (alloc.c) are
 * these, and the frees of what they took; aging:8m64k's groups, never
 * walked between its marks, have a stale tree.  On main b4d3a25:
 * aging:8m64k 1030 -> 992, aging:triangle:file 1584 -> 1555,
 * aging:8m64k:file 1417 -> 1403 instructions a call.
 * In a stale tree the subtree's levels are written two nodes a step, each
 * pair as five words (mb_rs_set_pair), its leaves' stale ones counted by
 * the top bit of their count: GCC vectorized the loops a node a step, a
 * count of four leaves (the 8 MiB chunks) costing ~40 instructions of
 * setup and reduction, and each level's trip count a division.  On
 * 4c6c9d2: aging:8m64k 873 -> 856, aging:triangle:file 1326 -> 1313,
 * aging:8m64k:file 1217 -> 1210 instructions a call; with GCC's vectorizer
 * off for the function instead, 8m64k 873 -> 880.  The leaves' loop
 * counted down (as the levels' is) cost 8m64k +1.
 */
/* mb_rs_mark_node's used chunk in a tree all fresh: node n (2^lo blocks)
   set all used, its ancestors joined up to the root.  Out of line: the
   joins' registers, saved on entry, cost every mark of a chunk, most of
   them in a stale tree (the file lane's, aging:8m64k's): four saved
   instead of six.  On c639acd aging:8m64k 842 -> 840,
   aging:triangle:file 1278 -> 1277 instructions a call. */
static __attribute__((noinline)) MB_RS_SCALAR void mb_rs_node_used_lift(struct mb_rs *t, uint32_t n,
									  uint32_t lo)
{
	t[n] = (struct mb_rs){0, 0, 0, 0, 0};
	mb_rs_lift_joins(t, n, t[n], 1u << lo);
}

/* The same for a free chunk: node n all free (on 31345af aging:8m64k
   840 -> 839.6 instructions a call) */
static __attribute__((noinline)) MB_RS_SCALAR void mb_rs_node_free_lift(struct mb_rs *t, uint32_t n,
									  uint32_t lo)
{
	const uint32_t w = 1u << lo;

	t[n] = (struct mb_rs){w, w, w, 1, 0};
	mb_rs_lift_joins(t, n, t[n], w);
}

static inline __attribute__((always_inline)) void
mb_rs_mark_node(const struct mb_volume *vol, const struct mb_group *grp, uint32_t c, uint32_t lo,
		bool used)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);
	const uint32_t d = lo - MB_RS_LEAF_SHIFT, p = mb_rs_leaves(vol);
	const uint32_t n = (p + c / MB_RS_LEAF_BITS) >> d;
	const uint32_t w = used ? 0 : 1u << lo;
	const bool fresh = t[1].cnt != MB_RS_STALE;
	uint32_t stale = 0; /* of its leaves, before */

	assert(lo >= MB_RS_LEAF_SHIFT && !(c & ((1u << lo) - 1)));
	assert((n << d) - p + (1u << d) <= p);
	if (used && fresh) { /* n alone: its subtree hidden (mb_rs_unlazy_slow) */
		mb_rs_node_used_lift(t, n, lo);
		return;
	}
	if (!d) {
		stale = t[n].cnt == MB_RS_STALE;
	} else {
		const uint32_t v = used ? 0 : MB_RS_LEAF_BITS;
		struct mb_rs *q = t + ((size_t)n << d), *end = q + ((size_t)1 << d);

		do {
			assert(mb_rs_leaf(vol, grp, (uint32_t)(q - t) - p).max == v);
			assert(mb_rs_leaf(vol, grp, (uint32_t)(q - t) + 1 - p).max == v);
			/* a count of runs is below 2^31: its top bit set is stale */
			assert((q[0].cnt == MB_RS_STALE) == q[0].cnt >> 31);
			assert((q[1].cnt == MB_RS_STALE) == q[1].cnt >> 31);
			stale += (q[0].cnt >> 31) + (q[1].cnt >> 31);
			mb_rs_set_pair(q, (struct mb_rs){v, v, v, !used, 0});
			q += 2;
		} while (q != end);
	}
	for (uint32_t i = d, sz = 2 * MB_RS_LEAF_BITS; i-- > 1; sz *= 2) { /* levels above */
		const uint32_t v = used ? 0 : sz;
		struct mb_rs *q = t + ((size_t)n << i);

		for (uint32_t k = 1u << (i - 1); k; k--, q += 2)
			mb_rs_set_pair(q, (struct mb_rs){v, v, v, !used, 0});
	}
	if (fresh) { /* none of its leaves was stale: a free (used returned above) */
		assert(!used);
		mb_rs_node_free_lift(t, n, lo);
		return;
	}
	t[n] = (struct mb_rs){w, w, w, !used, 0};
	*mb_rs_stale_leaves(t) -= stale;
	for (uint32_t m = n / 2; m && t[m].cnt != MB_RS_STALE; m /= 2)
		t[m].cnt = MB_RS_STALE;
	*mb_rs_stale_path(t) = 0; /* stale nodes over a range of leaves */
}

/* mb_rs_mark_node with used a constant: its nodes' values fold */
static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_mark_node_used_any(const struct mb_volume *vol, const struct mb_group *grp, uint32_t c,
			 uint32_t lo)
{
	mb_rs_mark_node(vol, grp, c, lo, true);
}

/*
 * mb_rs_mark_node_used, with a copy of its own for a chunk of two leaves
 * (2048 blocks: aging:8m64k's 8 MiB requests, nearly all its marks) in a
 * stale tree: both leaves and their parent n set, n's ancestors stale --
 * mb_rs_mark_node's steps in its order, without its loops over leaves and
 * levels, and a leaf (no frame: the rest is a tail call).
 */
static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_mark_node_used(const struct mb_volume *vol, const struct mb_group *grp, uint32_t c,
		     uint32_t lo)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);

	if (lo != MB_RS_LEAF_SHIFT + 1 || t[1].cnt != MB_RS_STALE) {
		mb_rs_mark_node_used_any(vol, grp, c, lo);
		return;
	}
	const uint32_t n = (mb_rs_leaves(vol) + c / MB_RS_LEAF_BITS) >> 1;
	struct mb_rs *q = t + 2 * (size_t)n;
	/* a count of runs is below 2^31: its top bit set is stale */
	uint32_t stale = (q[0].cnt >> 31) + (q[1].cnt >> 31);

	assert(!(c & ((1u << lo) - 1)));
	assert((q[0].cnt == MB_RS_STALE) == q[0].cnt >> 31);
	assert((q[1].cnt == MB_RS_STALE) == q[1].cnt >> 31);
	assert(mb_rs_leaf(vol, grp, 2 * n - mb_rs_leaves(vol)).max == 0);
	assert(mb_rs_leaf(vol, grp, 2 * n + 1 - mb_rs_leaves(vol)).max == 0);
	memset(q, 0, 2 * sizeof(*q)); /* both leaves all used */
	memset(&t[n], 0, sizeof(*q));
	*mb_rs_stale_leaves(t) -= stale;
	for (uint32_t m = n / 2; m && t[m].cnt != MB_RS_STALE; m /= 2)
		t[m].cnt = MB_RS_STALE;
	*mb_rs_stale_path(t) = 0; /* stale nodes over a range of leaves */
}

static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_mark_node_free(const struct mb_volume *vol, const struct mb_group *grp, uint32_t c,
		     uint32_t lo)
{
	mb_rs_mark_node(vol, grp, c, lo, false);
}

/*
 * [start, start + len) of bb_bitmap was just made all used (used) or all
 * free -- every mark and free of buddy.c: a leaf inside it is set at once
 * to what it now is, the two at the range's ends as mb_rs_mark_leaf sets
 * them, and only ancestors go stale, so that a walk rejoins nodes instead
 * of rebuilding the 4 or 5 leaves of a 2048-block extent; in a tree all
 * fresh the ancestors are set too (mb_rs_mark_long_fresh; a used range's
 * come to mb_rs_mark_long_used_fresh instead).  Out of line:
 * only a range of a leaf or more gets here.  Scalar stores (MB_RS_SCALAR)
 * for its joins: aging:triangle 4470 -> 4420 instructions a call.
 */
static __attribute__((noinline)) MB_RS_SCALAR void mb_rs_mark_range(const struct mb_volume *vol,
								    const struct mb_group *grp,
								    uint32_t start, uint32_t len,
								    bool used, bool whole)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);
	uint32_t p = mb_rs_leaves(vol);
	uint32_t lo = start / MB_RS_LEAF_BITS, hi = (start + len - 1) / MB_RS_LEAF_BITS;
	/* the leaves [in, out) lie wholly inside (in <= out: len >= a leaf) */
	uint32_t in = (start + MB_RS_LEAF_BITS - 1) / MB_RS_LEAF_BITS;
	uint32_t out = (start + len) / MB_RS_LEAF_BITS;
	const struct mb_rs all = used ? (struct mb_rs){0, 0, 0, 0, 0}
				      : (struct mb_rs){MB_RS_LEAF_BITS, MB_RS_LEAF_BITS,
						       MB_RS_LEAF_BITS, 1, 0};

	assert(len >= MB_RS_LEAF_BITS && hi < p && in <= out);
	if (t[1].cnt != MB_RS_STALE) { /* used a constant in each: its joins fold */
		assert(!used); /* mb_rs_mark_long_used_fresh */
		if (whole) /* the end leaves need not look for the run's ends */
			mb_rs_mark_long_fresh(vol, grp, t, start, len, false, true, all);
		else
			mb_rs_mark_long_fresh(vol, grp, t, start, len, false, false, all);
		return;
	}
	if (lo < in) /* the ends, partly inside */
		mb_rs_mark_leaf(vol, grp, t, lo, start, in * MB_RS_LEAF_BITS, used, whole,
				MB_RS_TO_END, false);
	if (hi >= out)
		mb_rs_mark_leaf(vol, grp, t, hi, out * MB_RS_LEAF_BITS, start + len, used, whole,
				MB_RS_FROM_START, false);
	for (uint32_t l = in; l < out; l++) {
		assert(mb_rs_leaf(vol, grp, l).max == all.max); /* the caller's word */
		*mb_rs_stale_leaves(t) -= t[p + l].cnt == MB_RS_STALE;
		t[p + l] = all;
	}
	/* their ancestors, a level at a time, up to a level all stale before
	   (whose ancestors are then stale too): one whose leaves all lie in
	   [in, out) is all used or all free as they are, set at once (a walk
	   never rejoins it); the one or two at the level's ends that reach
	   past the range go stale */
	for (uint32_t d = 1, a = (p + in) / 2, b = (p + out - 1) / 2; in < out && a;
	     d++, a /= 2, b /= 2) {
		uint32_t sz = MB_RS_LEAF_BITS << d;
		bool fresh = false;

		for (uint32_t n = a; n <= b; n++) {
			fresh |= t[n].cnt != MB_RS_STALE;
			if ((n << d) - p >= in && ((n + 1) << d) - p <= out)
				t[n] = used ? (struct mb_rs){0, 0, 0, 0, 0}
					    : (struct mb_rs){sz, sz, sz, 1, 0};
			else
				t[n].cnt = MB_RS_STALE;
		}
		if (!fresh)
			break;
	}
	if (in < out) /* stale nodes over a range of leaves */
		*mb_rs_stale_path(t) = 0;
}

/*
 * A range of a leaf or more: one node's subtree when it is a chunk (a
 * power of two, aligned: mb_rs_mark_node), a used one in a tree all fresh
 * mb_rs_mark_long_used_fresh, else mb_rs_mark_range.  Out of
 * line, a test and a jump to either: the test inside mb_rs_mark_range
 * cost aging:triangle 20 instructions a call (its code laid out worse),
 * and inline in buddy.c's marks it grew the power-of-two fast path's
 * (raw:16 +5).  A copy for each value of used (mb_rs_mark_long_used and
 * _free; buddy.c's callers each pass a constant): a free's takes whole
 * too, so that its end leaves need not look for the run's ends
 * (mb_rs_leaf_mark) -- as one function of six arguments its frame moved
 * onto every path, the used marks' too.  On 72a3112: aging:triangle 2532
 * -> 2522, aging:triangle:file 1282 -> 1279, aging:8m64k(:file) -3
 * instructions a call (drain, cell:aged90:256:zero:20 +1: mb_use_found's
 * blocks laid out anew).
 */
static inline __attribute__((always_inline)) void
mb_rs_mark_long(const struct mb_volume *vol, const struct mb_group *grp, uint32_t start,
		uint32_t len, bool used, bool whole)
{
	/* the tree's address once: recomputed, it was loaded again after the
	   resume point's store (aging:triangle 2 instructions a mark) */
	struct mb_rs *const t = mb_runsum_tree(vol, grp);

	mb_rs_resume_cut(t, start);
	if (!used) { /* the range's end leaves true: see mb_rs_unlazy_slow */
		uint32_t p = mb_rs_leaves(vol);

		mb_rs_unlazy(t, p + start / MB_RS_LEAF_BITS);
		mb_rs_unlazy(t, p + (start + len - 1) / MB_RS_LEAF_BITS);
	}
	if (!((start | len) & (len - 1)) && used)
		mb_rs_mark_node_used(vol, grp, start, (uint32_t)__builtin_ctz(len));
	else if (!((start | len) & (len - 1)))
		mb_rs_mark_node_free(vol, grp, start, (uint32_t)__builtin_ctz(len));
	else if (used && t[1].cnt != MB_RS_STALE) /* all fresh */
		mb_rs_mark_long_used_fresh(vol, grp, t, start, len);
	else
		mb_rs_mark_range(vol, grp, start, len, used, whole);
}

static __attribute__((noinline)) void mb_rs_mark_long_used(const struct mb_volume *vol,
							   const struct mb_group *grp,
							   uint32_t start, uint32_t len)
{
	mb_rs_mark_long(vol, grp, start, len, true, false);
}

static __attribute__((noinline)) void mb_rs_mark_long_free(const struct mb_volume *vol,
							   const struct mb_group *grp,
							   uint32_t start, uint32_t len, bool whole)
{
	mb_rs_mark_long(vol, grp, start, len, false, whole);
}

/*
 * A range shorter than a leaf across leaves lo and lo + 1.  In a tree all
 * fresh both are set, then their ancestors climb together: the two paths
 * are adjacent nodes (a right child, then a left one) up to where they are
 * siblings, each joined with its outer sibling, and from their common
 * parent one lift goes on to the root -- instead of a lift from each leaf
 * to the root, the second one rejoining the first's path above the
 * parent.  Else as mb_rs_mark_leaf, leaf by leaf.  Out of line
 * (mb_rs_mark_two_out): a mark within one leaf, the common one, keeps
 * buddy.c's inlined mark short.
 */
static inline __attribute__((always_inline)) void
mb_rs_mark_two(const struct mb_volume *vol, const struct mb_group *grp, uint32_t lo,
	       uint32_t start, uint32_t len, bool used, bool whole)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);
	uint32_t p = mb_rs_leaves(vol), mid = (lo + 1) * MB_RS_LEAF_BITS;
	uint32_t a = p + lo, b = a + 1, half = MB_RS_LEAF_BITS;

	if (!used) { /* see mb_rs_unlazy_slow */
		mb_rs_unlazy(t, a);
		mb_rs_unlazy(t, b);
	}
	if (t[1].cnt == MB_RS_STALE) {
		mb_rs_mark_leaf(vol, grp, t, lo, start, mid, used, whole, MB_RS_INSIDE, true);
		mb_rs_mark_leaf(vol, grp, t, lo + 1, mid, start + len, used, whole, MB_RS_INSIDE,
				true);
		return;
	}
	mb_rs_leaf_set(vol, grp, t, lo, start, mid, used, whole, used ? MB_RS_TO_END : MB_RS_INSIDE);
	mb_rs_leaf_set(vol, grp, t, lo + 1, mid, start + len, used, whole,
		       used ? MB_RS_FROM_START : MB_RS_INSIDE);
	struct mb_rs L = t[a], R = t[b];

	for (; a / 2 != b / 2; a /= 2, b /= 2, half *= 2) {
		/* a and b = a + 1 and their parents side by side: one address each */
		const struct mb_rs *q = t + a;
		struct mb_rs *up = t + a / 2;

		assert(a & 1 && !(b & 1) && b == a + 1);
		assert(used ? !L.suf && !R.pre : L.suf && R.pre); /* see below */
		if ((used ? L.suf || R.pre : !L.suf || !R.pre) || half < MB_RS_LEAF_BITS)
			__builtin_unreachable();
		L = mb_rs_join_up(q[-1], half, L, half);
		R = mb_rs_join_up(R, half, q[2], half);
		up[0] = L;
		up[1] = R;
	}
	const struct mb_rs o = t[a / 2];

	/* L's node ends inside the range, R's starts there: used, L.suf and
	   R.pre are 0, else both are not (the joins' middles fold) */
	assert(used ? !L.suf && !R.pre : L.suf && R.pre);
	if ((used ? L.suf || R.pre : !L.suf || !R.pre) || half < MB_RS_LEAF_BITS)
		__builtin_unreachable();
	t[a / 2] = mb_rs_join_up(L, half, R, half);
	/* a sequential take (mb_rs_lift_take_used): the run goes on from the
	   range's end to the common parent's end.  The range, shorter than a
	   leaf, starts after the parent's start and ends before its end. */
	assert(start & (2 * half - 1) && (start + len) & (2 * half - 1));
	if (used && t[a / 2].suf == 2 * half - ((start + len) & (2 * half - 1)))
		mb_rs_lift_take_used(t, a / 2, 2 * half, start, start + len);
	else
		mb_rs_lift_from(t, a / 2, o, 2 * half);
}

/*
 * mb_rs_mark_two's used mark in a tree all fresh when it takes the start
 * of a run that held leaf lo's end alone and leaf lo + 1 was all free: a
 * take of a free run's head over a leaf boundary (cell:seq90:1000's and
 * the empty cells' takes, each 1000 blocks from the end of the last).
 * Then each node of a's climb that held that run alone, [start, mid), is
 * all used now, and each of b's climb that was all free keeps [e, its
 * end): no join, no look in the bitmap (mb_rs_leaf_mark), and nothing
 * carried from level to level; else the join, from the nodes just
 * stored.  At the common parent, if it held the run alone, on to its end,
 * its summary so and mb_rs_lift_take_used's closed form from there; else
 * mb_rs_mark_two's ending.  The leaves so (mb_rs_two_is_take) tested
 * inline in mb_rs_mark_two_out.  With mb_rs_mark_two's leaves set from
 * their edges, on lead43 2555073: cell:seq90:1000:zero:20 1704 -> 1592
 * instructions a call (the edges alone 1704 -> 1636; the closed forms
 * inside mb_rs_mark_two, its L and R carried from level to level,
 * 1636 -> 1627: GCC spilled them), aging:triangle 2070 -> 2064, the
 * aged cells within +-2.
 */
static inline bool mb_rs_two_is_take(const struct mb_rs *t, uint32_t p, uint32_t lo, uint32_t start)
{
	const size_t a = (size_t)p + lo;

	return t[1].cnt != MB_RS_STALE && t[a].cnt == 1 &&
	       t[a].suf == (lo + 1) * MB_RS_LEAF_BITS - start && t[a + 1].cnt == 1 &&
	       t[a + 1].pre == MB_RS_LEAF_BITS;
}

static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_mark_two_take(struct mb_rs *t, uint32_t p, uint32_t lo, uint32_t start, uint32_t e)
{
	const uint32_t mid = (lo + 1) * MB_RS_LEAF_BITS, r = e - mid; /* the take's part in b */
	size_t a = (size_t)p + lo, b = a + 1;
	uint32_t half = MB_RS_LEAF_BITS;

	assert(start < mid && mid < e && e - start < MB_RS_LEAF_BITS);
	assert(mb_rs_two_is_take(t, p, lo, start));
	t[a] = (struct mb_rs){0, 0, 0, 0, 0}; /* start past the leaf's start: pre 0 */
	t[b] = (struct mb_rs){0, MB_RS_LEAF_BITS - r, MB_RS_LEAF_BITS - r, 1, r};
	for (; a / 2 != b / 2; a /= 2, b /= 2, half *= 2) {
		struct mb_rs *up = t + a / 2;
		const struct mb_rs *q = t + a;

		assert(a & 1 && !(b & 1) && b == a + 1);
		if (up[0].cnt == 1) { /* the run: start - 1 is used, in leaf lo */
			assert(up[0].suf == mid - start);
			up[0] = (struct mb_rs){0, 0, 0, 0, 0};
		} else {
			up[0] = mb_rs_join_up(q[-1], half, q[0], half);
		}
		if (up[1].pre == 2 * half)
			up[1] = (struct mb_rs){0, 2 * half - r, 2 * half - r, 1, r};
		else
			up[1] = mb_rs_join_up(q[1], half, q[2], half);
	}
	struct mb_rs *up = t + a / 2;
	const struct mb_rs o = *up;

	if (o.cnt == 1 && o.suf == mid + half - start) {
		*up = (struct mb_rs){0, mid + half - e, mid + half - e, 1, e - (mid - half)};
		assert(mb_rs_same(*up, mb_rs_join(t[a], half, t[b], half)));
		mb_rs_lift_take_used(t, (uint32_t)(a / 2), 2 * half, start, e);
		return;
	}
	*up = mb_rs_join_up(t[a], half, t[b], half);
	if (up->suf == 2 * half - (e & (2 * half - 1)))
		mb_rs_lift_take_used(t, (uint32_t)(a / 2), 2 * half, start, e);
	else
		mb_rs_lift_from(t, (uint32_t)(a / 2), o, 2 * half);
}

/* mb_rs_mark_two out of line, a copy for each value of used: the climbs'
   joins fold (cell:aged90:256:rand:20 2718 -> 2710, cell:aged90:256:zero:20
   2240 -> 2237 instructions a call), and the caller, inline in buddy.c's
   marks, keeps its shape (a copy called for each: raw:16 +2, aging:8m64k
   +3) */
static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_mark_two_out(const struct mb_volume *vol, const struct mb_group *grp, uint32_t lo,
		   uint32_t start, uint32_t len, bool used, bool whole)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);

	if (used && mb_rs_two_is_take(t, mb_rs_leaves(vol), lo, start)) {
		mb_rs_mark_two_take(t, mb_rs_leaves(vol), lo, start, start + len);
		return;
	}
	if (used)
		mb_rs_mark_two(vol, grp, lo, start, len, true, whole);
	else
		mb_rs_mark_two(vol, grp, lo, start, len, false, whole);
}

/* The same for a range shorter than a leaf: in one leaf or two.  Inline
   always: GCC kept it out of line once mb_rs_mark_leaf grew the calls of
   mb_rs_mark_leaf_used (cell:aged90:256:zero:20 +24 instructions a call). */
static inline __attribute__((always_inline)) void
mb_rs_mark_short(const struct mb_volume *vol, const struct mb_group *grp, uint32_t start,
		 uint32_t len, bool used, bool whole)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);
	uint32_t lo = start / MB_RS_LEAF_BITS, hi = (start + len - 1) / MB_RS_LEAF_BITS;

	assert(len && hi < mb_rs_leaves(vol));
	/* here, not in mb_runsum_mark_locked: the tree's address is at hand
	   (free:empty:16:rand:4 517 -> 513 instructions a call) */
	mb_rs_resume_cut(t, start);
	if (MB_UNLIKELY(lo != hi)) {
		mb_rs_mark_two_out(vol, grp, lo, start, len, used, whole);
		return;
	}
	if (!used) /* see mb_rs_unlazy_slow */
		mb_rs_unlazy(t, mb_rs_leaves(vol) + lo);
	mb_rs_mark_leaf(vol, grp, t, lo, start, start + len, used, whole, MB_RS_INSIDE, true);
}

/*
 * mb_runsum_mark_locked of len blocks used, aligned to a power of two at
 * least len: the power-of-two takes (buddy.c).  In an idle tree -- every
 * leaf stale, as in a tree never scanned (the fast path's on an empty
 * volume, aging:8m64k's groups) -- a range shorter than a leaf marks
 * nothing, and so, with stay_idle, does a longer one: a stale node's
 * ancestors are stale, so every node is (hidden nodes never are:
 * mb_rs_unlazy_slow), and nothing holds a summary the mark would change;
 * the resume point is 0 (kept only with a leaf fresh: mb_rs_resume_keep)
 * and stale nodes over two leaves lie on no one path, so the long mark's
 * cut and mb_rs_mark_node's stores of the path and the count change
 * nothing either.  Its stores of the range's leaves and subtree (fresh,
 * all used) only spare a later walk their reads: a stale leaf's walk
 * recomputes the same summary from the bitmap.  Skipped, aging:8m64k's
 * 2048-block takes save mb_rs_mark_node's ~65 instructions, and the tree
 * stays idle for its 16-block ones: 739 -> 719 instructions a call.  The
 * fast path of a request with no file skips (stay_idle: its groups are
 * seldom walked); a file lane's window (mb_window_fast) keeps the stores,
 * as its groups' walks come (skipping there too: aging:triangle:file
 * +19, aging:8m64k:file +21).  The tests in this order keep the window's
 * code as it was (the stale count first: mb_window_fast +6 a call).
 */
inline __attribute__((always_inline)) void
mb_runsum_mark_aligned_used_locked(const struct mb_volume *vol, struct mb_group *grp,
				   uint32_t start, uint32_t len, bool stay_idle)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);
	uint32_t p = mb_rs_leaves(vol);

	assert(!(start & (len - 1)) && !(len & (len - 1)));
	if ((stay_idle || len < MB_RS_LEAF_BITS) && *mb_rs_stale_leaves(t) == p) { /* idle */
		assert(t[p + start / MB_RS_LEAF_BITS].cnt == MB_RS_STALE && t[1].cnt == MB_RS_STALE);
		assert(!*mb_rs_resume_at(t) && (p == 1 || !*mb_rs_stale_path(t)));
		return;
	}
	if (len >= MB_RS_LEAF_BITS) {
		mb_rs_mark_long_used(vol, grp, start, len);
		return;
	}
	mb_rs_mark_short(vol, grp, start, len, true, false);
}

/*
 * [start, start + len) of bb_bitmap was all free and is now all used
 * (used), or the other way: buddy.c's mark and free, which check it.  Any
 * other change goes through mb_runsum_update_locked.  whole: the blocks
 * on either side of the range are used (or past the group) -- the buddy's
 * mark knows, and then no leaf looks for the run's ends (mb_rs_leaf_mark);
 * false when not known.  Inline (under LTO) into buddy.c's mark and free,
 * as the update was.
 */
inline __attribute__((always_inline)) void mb_runsum_mark_locked(const struct mb_volume *vol,
								 struct mb_group *grp,
								 uint32_t start, uint32_t len,
								 bool used, bool whole)
{
	if (len >= MB_RS_LEAF_BITS)
		used ? mb_rs_mark_long_used(vol, grp, start, len)
		     : mb_rs_mark_long_free(vol, grp, start, len, whole);
	else
		mb_rs_mark_short(vol, grp, start, len, used, whole);
}

/*
 * Every stale node of n0's subtree (d levels above its leaves), a level
 * at a time from the leaves up, each node tested once: a stale node's
 * children are fresh by the time its level comes, and a fresh node's
 * subtree is fresh (hidden nodes too: never stale), so only stale nodes
 * change and each is joined once, as mb_rs_flush_inner's descent would.
 * With many stale leaves -- a group's first walk after its load flushes
 * the whole tree (mb_runsum_scan) -- the descent paid a test of both
 * children and a step back up for each stale node, ~20 instructions,
 * where this pays ~5 a node of the subtree, stale or not.  The stale
 * count is the tree's: for a subtree it only guesses (either way the
 * same nodes).  On main 032936a with the leaf's way kept apart
 * (mb_rs_flush_node): cell:aged90:256:rand:20 2950 -> 2902, aged:256:5000
 * 2397 -> 2391, cell:aged50:256:next:20 1481 -> 1478 instructions a call.
 * With no stale leaf at all, a sweep of the inner nodes too: the file
 * lane's groups, filled since their load by power-of-two marks
 * (mb_rs_mark_node: each chunk's subtree set, its ancestors left stale),
 * reach their first walk with 31-34 of their 63 inner nodes stale and
 * their stale nodes on no one path; the descent cost ~75 instructions a
 * stale node with its join, the sweep ~55.  On 4c6c9d2:
 * aging:triangle:file 1340 -> 1326, aging:8m64k:file 1228 -> 1217
 * instructions a call (the leaves' loop kept apart from the test of the
 * count, or a copy of the inner sweep of its own: cell:aged90:256:rand:20
 * +2..3).
 */
#define MB_RS_SWEEP_SHARE 8u /* sweep when stale leaves * this >= its leaves */

static inline __attribute__((always_inline)) void
mb_rs_sweep(const struct mb_volume *vol, const struct mb_group *grp, struct mb_rs *t, uint32_t n0,
	    uint32_t d)
{
	const uint32_t p = mb_rs_leaves(vol);
	uint32_t stale = 0;

	if (*mb_rs_stale_leaves(t)) { /* else only inner nodes are stale */
		for (uint32_t m = n0 << d, end = (n0 + 1) << d; m < end; m++)
			if (t[m].cnt == MB_RS_STALE) {
				t[m] = mb_rs_leaf_as(vol, grp, m - p, true);
				stale++;
			}
		*mb_rs_stale_leaves(t) -= stale;
	}
	for (uint32_t i = d, h = MB_RS_LEAF_BITS; i-- > 0; h *= 2) {
		const struct mb_rs *c = t + (n0 << (i + 1)); /* m's children: c[0], c[1] */

		for (uint32_t m = n0 << i, end = (n0 + 1) << i; m < end; m++, c += 2)
			if (t[m].cnt == MB_RS_STALE)
				t[m] = mb_rs_join_up(c[0], h, c[1], h);
	}
}

/*
 * Recomputes stale node n0 (children of half0 blocks each) and every stale
 * node below it: the subtree then matches a fresh build.  When the stale
 * nodes lie on one leaf's path, that path is rejoined from the leaf up.
 * Else, with many stale leaves or none, a sweep (mb_rs_sweep); with few, as a
 * stale node's ancestors are stale, a walk down stale nodes from n0,
 * children before parents, finds them all; no recursion.  A stale leaf
 * n0 -- what the walks flush most, as they first reach a group's leaves
 * after its load -- is read at once (mb_rs_flush_node), and its
 * summary stored as five scalar stores (MB_RS_SCALAR), not packed into one
 * vector store.  On main b4d3a25: cell:aged90:256:rand:20 3215 -> 3193,
 * aged:256:5000 2794 -> 2781, cell:aged50:256:next:20 1682 -> 1675, drain
 * 2015 -> 2014 instructions a call.
 */
static __attribute__((noinline)) MB_RS_SCALAR void
mb_rs_flush_inner(const struct mb_volume *vol, const struct mb_group *grp, struct mb_rs *t,
		  uint32_t n0, uint32_t half0)
{
	uint32_t p = mb_rs_leaves(vol), n = n0, half = half0, m = *mb_rs_stale_path(t);

	if (m && m >> (__builtin_clz(n0) - __builtin_clz(m)) == n0) { /* on m's path */
		struct mb_rs cur = t[m];

		if (cur.cnt == MB_RS_STALE) {
			cur = t[m] = mb_rs_leaf_as(vol, grp, m - p, true);
			--*mb_rs_stale_leaves(t);
		}
		/* the node just joined stays at hand: only its sibling is read */
		const struct mb_rs *q = t + m;

		for (n = m, half = MB_RS_LEAF_BITS; n / 2 >= n0; n /= 2, half *= 2) {
			struct mb_rs *up = t + n / 2;

			cur = mb_rs_join_beside(q, n, cur, half);
			*up = cur;
			q = up;
		}
		return;
	}
	/* leaves under n0, n0 at depth log2(n0) and the leaves at log2(p) */
	const uint32_t d = (uint32_t)__builtin_ctz(p) - (31 - (uint32_t)__builtin_clz(n0));

	if (!*mb_rs_stale_leaves(t) || *mb_rs_stale_leaves(t) * MB_RS_SWEEP_SHARE >= 1u << d) {
		mb_rs_sweep(vol, grp, t, n0, d);
		return;
	}
	for (;;) {
		if (n >= p) {
			t[n] = mb_rs_leaf_as(vol, grp, n - p, true);
			--*mb_rs_stale_leaves(t);
		} else if (t[2 * n].cnt == MB_RS_STALE || t[2 * n + 1].cnt == MB_RS_STALE) {
			n = 2 * n + (t[2 * n].cnt != MB_RS_STALE);
			half /= 2;
			continue;
		} else {
			t[n] = mb_rs_join_up(t[2 * n], half, t[2 * n + 1], half);
		}
		if (n == n0)
			return;
		n /= 2; /* the parent: stale, its other child maybe too */
		half *= 2;
	}
}

/* The same, a leaf's at once; the rest out of line, so that the walks'
   leaf flushes pay no more registers saved (~4 instructions each). */
static MB_RS_SCALAR void mb_rs_flush_node(const struct mb_volume *vol, const struct mb_group *grp,
					  struct mb_rs *t, uint32_t n0, uint32_t half0)
{
	if (n0 >= mb_rs_leaves(vol)) { /* a leaf, the walks' common case: no path above it to rejoin */
		t[n0] = mb_rs_leaf(vol, grp, n0 - mb_rs_leaves(vol));
		--*mb_rs_stale_leaves(t);
		return;
	}
	mb_rs_flush_inner(vol, grp, t, n0, half0);
}

/* Recomputes the stale nodes: the tree then matches a fresh build. */
void mb_runsum_flush_locked(const struct mb_volume *vol, struct mb_group *grp)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);

	if (t[1].cnt == MB_RS_STALE)
		mb_rs_flush_node(vol, grp, t, 1, mb_rs_leaves(vol) * MB_RS_LEAF_BITS / 2);
}

/* ------------------------------------------------------------------------ */
/* The scan: one walk from a block to the end of the group                  */
/* ------------------------------------------------------------------------ */

/*
 * The walk visits, left to right, pieces that tile [from, end of tree):
 * the words of from's leaf, then the largest whole nodes (up, then right).
 * A node is absorbed by its summary unless what is sought may lie inside
 * -- a run of `want`, the run that closes the count, or a longest short
 * run that its summary cannot place -- and then its children (a leaf: its
 * words) are the next pieces.  Blocks before from and past the group are
 * used.  Short runs are counted when they close (their end is known), so
 * the run open at the cursor, the candidate for `want`, is never counted.
 *
 * The walk's state is a local of its query and every step below is
 * inlined into one loop, so that the state stays in registers (a store to
 * a node, or to the caller's answer, could otherwise alias it).  The open
 * run ends at the cursor, so its start is the cursor less c, not a field:
 * one value fewer live in the loop, and on d17a8ae drain 1844 -> 1814,
 * cell:aged90:256:zero:20 2240 -> 2212, cell:aged90:256:rand:20 2718 ->
 * 2694, aged:256:5000 2245 -> 2199, aging:triangle 3208 -> 3176
 * instructions a call.  Tried and not kept there: counting down the runs
 * left instead of up to left (drain 1814 -> 1829), `stopped` told from
 * `done` and next (+2), the descent through stale nodes as a loop of its
 * own (+18, +25), the tree's address taken once for the root's test and
 * the walk (+37).
 */
struct mb_rs_walk {
	struct mb_rs *t;
	const struct mb_volume *vol;
	const struct mb_group *grp;
	uint32_t p;       /* leaves: node n >= p is leaf n - p */
	uint32_t want;    /* the run length sought */
	uint32_t left;    /* stop when this many short runs closed; 0: no counting */
	uint32_t c;       /* the free run open at the cursor: its c blocks (< want) end there */
	uint32_t next;    /* the run of want found, or MB_RS_NONE */
	uint32_t runs;    /* short runs closed */
	uint32_t longest; /* the longest of them, at `at` */
	uint32_t at;
	bool stopped;     /* the left-th closed */
	bool done;        /* next found, or stopped */
	bool mend;        /* stale leaves past MB_RS_FLUSH_STALE at the start */
};

#define MB_RS_INLINE static inline __attribute__((always_inline))

/* A short run [at, at + len) closed: count it, keep the first of the longest. */
MB_RS_INLINE void mb_rs_close(struct mb_rs_walk *w, uint32_t len, uint32_t at)
{
	if (!w->left)
		return;
	if (len > w->longest) {
		/* the state at the run's start, for a resume point (mb_rs_resume):
		   c stays 0 (mb_rs_scan_resumed), four stores, not five (on
		   ca805af: aged:256:5000 2075 -> 2055, cell:aged90:256:zero:20
		   1986 -> 1978 instructions a call) */
		struct mb_rs_snap *cd = &mb_rs_resume(w->t, w->p)->cand;

		cd->b = at;
		cd->runs = w->runs;
		cd->longest = w->longest;
		cd->at = w->at;
		w->longest = len;
		w->at = at;
	}
	w->runs++;
	if (w->runs == w->left)
		w->done = w->stopped = true;
}

MB_RS_INLINE void mb_rs_found(struct mb_rs_walk *w, uint32_t at)
{
	w->next = at;
	w->done = true;
}

/*
 * Word z (free bits) at block `start`: its runs one by one, each by adding
 * its lowest bit (the carry clears the run and stops at the block past it).
 */
MB_RS_INLINE void mb_rs_scan_word(struct mb_rs_walk *w, uint64_t z, uint32_t start)
{
	if (w->c) { /* the open run goes on into this word, or ended before it */
		uint32_t lead = mb_rs_run_at(z, 0), len = w->c + lead, s = start - w->c;

		if (len >= w->want) {
			mb_rs_found(w, s);
			return;
		}
		if (lead == 64) {
			w->c = len;
			return;
		}
		w->c = 0;
		mb_rs_close(w, len, s);
		if (w->done)
			return;
		z &= ~0ULL << lead;
	}
	while (z) {
		uint64_t past = (z | (z - 1)) + 1; /* as mb_rs_span */
		uint32_t x = (uint32_t)__builtin_ctzll(z);
		uint32_t len = past ? (uint32_t)__builtin_ctzll(past) - x : 64 - x;

		if (len >= w->want) {
			mb_rs_found(w, start + x);
			return;
		}
		if (!past) { /* open at the word's end */
			w->c = len;
			return;
		}
		mb_rs_close(w, len, start + x);
		if (w->done)
			return;
		z &= past;
	}
}

/*
 * Counting: must node x (sz blocks; free run j closing at its head, runs
 * and longest so far; the count ends inside it or not) be walked inside?
 * Only when an inner run may be longer than any so far (max > top): when
 * the count ends among its runs (which of them count), or when its first
 * stretch of max is its tail run (at: that one is still open, measured
 * later, and may turn out the run of `want`, leaving an inner run the
 * longest).  Else its runs counted are no longer than the longest, or the
 * first of max is an inner run (x->at): the count and that are all the
 * walk needs from them.
 * Tried on fe829d8 and not kept: a leaf the count ends in, its first of
 * max an inner run, settled without its words when the runs that start
 * before x->at (popcounts of free & ~(free << 1 | carry)) are fewer than
 * those left -- drain's walks end so in 218K leaves, but the count ends
 * before x->at in 152K of them, and the popcounts (no popcnt in portable
 * builds: ~20 instructions a word, 5.7 words) cost more than the scan:
 * drain 1771 -> 1944, cell:aged90:256:zero:20 2086 -> 2101.
 */
MB_RS_INLINE bool mb_rs_count_inside(const struct mb_rs_walk *w, const struct mb_rs *x,
				     uint32_t sz, uint32_t j, bool ends)
{
	uint32_t top = j > w->longest ? j : w->longest;

	if (x->max <= top)
		return false;
	if (ends)
		return !j || w->runs + 1 < w->left; /* not when run j ends it */
	return x->at == sz - x->suf;
}

/*
 * Node n (sz blocks from st): absorbs it, or says its children are next.
 * A stale node is refreshed here, when the walk needs it, not before.
 * With few stale leaves in the group (one: a group allocated from once
 * since its last scan), it is rebuilt at once, a join a level, and then
 * judged as any node.  With more, a stale inner node is walked inside (its
 * parts summarize the same blocks) and mended on the way up (mb_rs_mend):
 * a scan that stops early does not pay for the stale leaves past its stop.
 * One stale leaf at most, not two: with the marks of a walked tree joining
 * its fresh nodes (mb_rs_lift_partial), on main 2b8150b aged:256:5000 2422
 * -> 2408, drain 1992 -> 1980, cell:aged90:256:rand:20 2972 -> 2964,
 * cell:aged50:256:next:20 1519 -> 1512, cell:aged90:256:zero:20 2399 ->
 * 2393, aging:triangle 3676 -> 3683 instructions a call (none: aged:256
 * 2430, drain 1989).
 */
#define MB_RS_FLUSH_STALE 1u /* stale leaves a walk rebuilds at once */

/*
 * A count ended in leaf n, a right child, unentered (mb_rs_scan_node): its
 * parent is joined when stale with both leaves fresh.  The walk's mends
 * (mb_rs_mend) join a node only as it climbs out of it, and a walk that
 * stops there never climbs: aged:256 revisits each group ~20 times, its
 * counts ending in the same pair of leaves, and each walk descended the
 * stale parent to judge both.  Joined once (~255 joins in its 5000
 * calls), the parent ends the next counts itself: aged:256:5000 1764 ->
 * 1708 instructions a call.  Only a leaf's parent: joins on up the path,
 * or for a count ending in an inner node too, cost more than they save (a
 * fresh node is judged where a stale one is descended at once: aged:256
 * 1738 and 1728).  Out of line, in the branch that ends a count: inline,
 * or the stop kept in the walk and mended after it, the walk's loop lost
 * registers (drain +8 to +51 instructions a call).
 */
static __attribute__((noinline)) void mb_rs_mend_stop(struct mb_rs *t, uint32_t n)
{
	if (t[n - 1].cnt != MB_RS_STALE && t[n / 2].cnt == MB_RS_STALE)
		t[n / 2] = mb_rs_join(t[n - 1], MB_RS_LEAF_BITS, t[n], MB_RS_LEAF_BITS);
}

MB_RS_INLINE bool mb_rs_scan_node(struct mb_rs_walk *w, uint32_t n, uint32_t sz, uint32_t st)
{
	if (w->t[n].cnt == MB_RS_STALE) {
		/* the count first: t is at hand, p is not (drain 1814 -> 1808) */
		if (*mb_rs_stale_leaves(w->t) > MB_RS_FLUSH_STALE && n < w->p)
			return true;
		mb_rs_flush_node(w->vol, w->grp, w->t, n, sz / 2);
	}
	const struct mb_rs x = w->t[n];
	uint32_t c = w->c, j = c + x.pre, at = st - c;

	if (j >= w->want) {
		mb_rs_found(w, at);
		return false;
	}
	if (x.pre == sz) { /* all free: the open run goes on */
		w->c = j;
		return false;
	}
	if (x.max >= w->want)
		return true;
	if (w->left) {
		uint32_t inner = x.cnt - (x.pre > 0) - (x.suf > 0);
		bool ends = w->runs + (j > 0) + inner >= w->left;

		if (mb_rs_count_inside(w, &x, sz, j, ends))
			return true;
		if (j)
			mb_rs_close(w, j, at);
		if (!w->done && ends) { /* among runs no longer than the longest */
			w->runs = w->left;
			w->done = w->stopped = true;
			if ((n & 1) && n > w->p) /* a leaf, its left one passed */
				mb_rs_mend_stop(w->t, n);
		}
		if (!w->done) {
			w->runs += inner;
			if (x.max > w->longest) { /* an inner run */
				w->longest = x.max;
				w->at = st + x.at;
			}
		}
	}
	w->c = x.suf;
	return false;
}

MB_RS_INLINE void mb_rs_scan_leaf_words(struct mb_rs_walk *w, uint32_t wi, uint32_t end)
{
	/* the bitmap's words in [wi, end): all of them but in the last leaf
	   (one min and max, not mb_rs_words_in's count: drain 1808 -> 1801,
	   cell:aged90:256:rand:20 2694 -> 2684) */
	uint32_t bw = w->vol->bitmap_words, in = end <= bw ? end : wi < bw ? bw : wi;

	/* most of drain's scanned words are all used (580K of 997K), ~16
	   instructions each here; yet on fe829d8 the used words passed by a
	   loop of their own cost drain 1771 -> 1817, cell:aged90:256:zero:20
	   2086 -> 2129 (the walk's registers spilled), a word read only when
	   free or a run open 1782 and 2109, and this loop out of line 1886 */
	for (; wi < in && !w->done; wi++)
		mb_rs_scan_word(w, ~w->grp->bb_bitmap[wi], wi << 6);
	if (wi < end && !w->done) /* past the bitmap: used, the open run closes */
		mb_rs_scan_word(w, 0, wi << 6);
}

/*
 * The walk leaves node m (children of half blocks each): when it is stale
 * and its children are not, it is joined, so that the next walk absorbs
 * it.  A node is fresh only when all below it is (update marks leaves and
 * ancestors), which mb_rs_flush_node's descent relies on.
 */
MB_RS_INLINE void mb_rs_mend(struct mb_rs *t, uint32_t m, uint32_t half)
{
	if (m && t[m].cnt == MB_RS_STALE && t[2 * m].cnt != MB_RS_STALE &&
	    t[2 * m + 1].cnt != MB_RS_STALE)
		t[m] = mb_rs_join(t[2 * m], half, t[2 * m + 1], half);
}

MB_RS_INLINE void mb_rs_scan_walk(struct mb_rs_walk *w, uint32_t from)
{
	uint32_t p = w->p, n = 1, sz = p * MB_RS_LEAF_BITS, st = 0;

	/* every block before bb_first_free is used: a walk from there is
	   a walk of the whole group, from its root */
	if (from > w->grp->bb_first_free) {
		uint32_t leaf = from / MB_RS_LEAF_BITS, wi = from >> 6;

		/* a used block at from may lie in a node a used mark set
		   alone, its leaf hidden (mb_rs_unlazy_slow), and the walk reads
		   the leaf's path: then made true.  A leaf reading all free
		   with from used is hidden; each test rides on what the walk
		   reads anyway (the leaf's cnt, from's word) */
		if (from % MB_RS_LEAF_BITS == 0 && w->t[p + leaf].cnt != MB_RS_STALE) {
			if (MB_UNLIKELY(w->t[p + leaf].pre == MB_RS_LEAF_BITS) &&
			    mb_test_bit(w->grp->bb_bitmap, from))
				mb_rs_unlazy_slow(w->t, p + leaf);
			/* from starts a fresh leaf (a measure often ends at
			   one): the walk starts at the largest fresh node
			   starting there, not at the leaf's words */
			n = p + leaf;
			sz = MB_RS_LEAF_BITS;
			st = from;
			for (; !(n & 1) && w->t[n / 2].cnt != MB_RS_STALE; n /= 2)
				sz *= 2;
			goto node;
		}
		uint64_t z = mb_rs_free(w->vol, w->grp, wi) & (~0ULL << (from & 63));

		if (!z && MB_UNLIKELY(w->t[p + leaf].pre == MB_RS_LEAF_BITS) &&
		    w->t[p + leaf].cnt == 1) /* fresh (a hidden leaf is), from used */
			mb_rs_unlazy_slow(w->t, p + leaf);
		mb_rs_scan_word(w, z, wi << 6);
		mb_rs_scan_leaf_words(w, wi + 1, (leaf + 1) * MB_RS_LEAF_WORDS);
		n = p + leaf;
		sz = MB_RS_LEAF_BITS;
		st = leaf * MB_RS_LEAF_BITS;
		goto next;
	}
	for (;;) {
node:
		if (mb_rs_scan_node(w, n, sz, st)) {
			if (n < p) { /* its left child next */
				n *= 2;
				sz /= 2;
				continue;
			}
			uint32_t w0 = (n - p) * MB_RS_LEAF_WORDS;

			mb_rs_scan_leaf_words(w, w0, w0 + MB_RS_LEAF_WORDS);
		}
next:
		if (w->done)
			return;
		st += sz;
		for (; n & 1; n >>= 1) { /* up while a right child */
			if (w->mend)
				mb_rs_mend(w->t, n / 2, sz);
			sz *= 2;
		}
		if (!n)
			break;
		n++;
	}
	if (w->c) /* a run up to the tree's end (the group fills its last leaf) */
		mb_rs_close(w, w->c, st - w->c);
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * The end of the free run that goes on at block x, a word's first (x - 1
 * free; x's word all free, mb_rs_run_end): the first used block past x,
 * or bpg.  The rest of x's leaf a word at a time, then the largest nodes
 * from there (up, then right), as the walk goes: the first fresh one not
 * all free places it by its pre, a stale one is read inside (a leaf: its
 * words).  None of these nodes is hidden (mb_rs_unlazy_slow): each starts
 * right after a free block, so no all-used node holds it.  Nothing is
 * mended (a query's walk does that).  A run reaching far (aging:triangle's
 * often reach the group's end) pays a node a level, not a word a 64 blocks.
 */
static __attribute__((noinline)) uint32_t mb_rs_run_end_slow(const struct mb_volume *vol,
							   const struct mb_group *grp, uint32_t x)
{
	const struct mb_rs *t = mb_runsum_tree(vol, grp);
	const uint32_t p = mb_rs_leaves(vol);
	uint32_t n = p + x / MB_RS_LEAF_BITS, sz = MB_RS_LEAF_BITS, st = x - x % MB_RS_LEAF_BITS;
	uint32_t wi = x >> 6, wend = 0;

	if (x % MB_RS_LEAF_BITS) /* x's leaf from x's word on */
		goto words;
	/* the largest fresh node starting at x */
	for (; !(n & 1) && t[n / 2].cnt != MB_RS_STALE; n /= 2)
		sz *= 2;
	for (;;) {
		if (t[n].cnt == MB_RS_STALE) {
			if (n < p) { /* its left child next */
				n *= 2;
				sz /= 2;
				continue;
			}
			wi = st >> 6;
		words:
			for (wend = (n - p + 1) * MB_RS_LEAF_WORDS; wi < wend; wi++) {
				uint64_t u = wi < vol->bitmap_words ? grp->bb_bitmap[wi] : ~0ULL;

				if (u) {
					uint32_t e = (wi << 6) + (uint32_t)__builtin_ctzll(u);

					return e < vol->bpg ? e : vol->bpg;
				}
			}
		} else if (t[n].pre < sz) {
			return st + t[n].pre < vol->bpg ? st + t[n].pre : vol->bpg;
		}
		st += sz;
		for (; n & 1; n >>= 1) /* up while a right child */
			sz *= 2;
		if (!n)
			return vol->bpg;
		n++;
	}
}

MB_RS_INLINE uint32_t mb_rs_run_end(const struct mb_volume *vol, const struct mb_group *grp,
				    uint32_t x)
{
	uint64_t u;

	assert(!(x & 63));
	if (x >= vol->bpg)
		return vol->bpg;
	u = grp->bb_bitmap[x >> 6];
	if (u)
		return x + (uint32_t)__builtin_ctzll(u) < vol->bpg ? x + (uint32_t)__builtin_ctzll(u)
								      : vol->bpg;
	return mb_rs_run_end_slow(vol, grp, x);
}

/*
 * A walk of the whole group (from its first free block) that its fresh
 * root answers: no run of `want`, and every run counted without the count
 * ending (fewer than max_runs).  Its longest is the root's max, the first
 * of them at the root's at (its tail run too is closed, at the group's
 * end, and counted).  Drain's walks are mostly these.
 */
MB_RS_INLINE bool mb_rs_scan_root(const struct mb_rs *r, uint32_t sz, uint32_t want,
				  uint32_t max_runs, struct mb_runsum_scan *o)
{
	if (r->cnt == MB_RS_STALE || r->max >= want || r->pre == sz)
		return false;
	if (max_runs && r->cnt >= max_runs)
		return false;
	*o = (struct mb_runsum_scan){.next = UINT32_MAX};
	if (max_runs) {
		o->runs = r->cnt;
		o->longest = r->max;
		o->at = r->at;
	}
	return true;
}

/*
 * Whether a count from bb_first_free flushes a stale tree whole first,
 * whatever its limit: when the group's free runs average
 * MB_RS_FLUSH_RUN blocks or more.  Such a group (the aged cells' 30-70
 * blocks a run) takes few marks between its walks and its walks absorb
 * whole fresh nodes (no run of want, few runs in each), so the tree kept
 * fresh pays.  A group of crumbs (drain's and aged:256's ~4 blocks a
 * run) is the other way: each call's walk stops after its count near
 * the group's start and each call marks, and there stale nodes on the
 * walk's path cost less than fresh ones -- a stale node is passed down
 * unjudged (~16 instructions) where a fresh one on the count's end is
 * judged (~45), and a mark under a stale parent joins nothing, where in
 * a tree all fresh it lifts to the root (~150).  Every group's tree
 * flushed so: drain 1675 -> 1905, aged:256:5000 2008 -> 2923,
 * cell:aged90:256:rand:20 2432 -> 2398, cell:aged50:256:next:20 1275 ->
 * 1224 instructions a call (on main 72a3112); by this test, the cells'
 * gains at drain's and aged:256's +5 (the test; tested after the count's
 * limit instead, GCC's code for the walk cost them +12 and +8).  Any
 * threshold from 8 to 32 gives the same; the counts are the buddy's (PA
 * space used), a hint.
 */
#define MB_RS_FLUSH_RUN 16u

MB_RS_INLINE bool mb_rs_flush_long_runs(const struct mb_group *grp)
{
	return MB_UNLIKELY(grp->bb_free >= MB_RS_FLUSH_RUN * grp->bb_fragments);
}

#ifndef NDEBUG
/* The resume point's state against a bit walk of [from, b) (asserts only). */
static bool mb_rs_resume_true(const struct mb_volume *vol, const struct mb_group *grp,
			      uint32_t from, uint32_t floor, const struct mb_rs_snap *s)
{
	uint32_t runs = 0, longest = floor, at = 0, c = 0;

	for (uint32_t i = from; i < s->b; i++) {
		if (i < vol->bpg && !mb_test_bit(grp->bb_bitmap, i)) {
			c++;
			continue;
		}
		if (c && c > longest) {
			longest = c;
			at = i - c;
		}
		runs += c > 0;
		c = 0;
	}
	return runs == s->runs && longest == s->longest && at == s->at && c == s->c;
}
#endif

/*
 * The walk closed a longest run at cand.b: its state there kept as the
 * group's resume point when no inner run named by a node came after it
 * longer still, or the point is before that one too (either way at or
 * before the run its caller takes), past both from and bb_first_free (the
 * walk from it then never starts at the root), and with a leaf fresh (a
 * tree all stale takes marks unseen: mb_runsum_mark_aligned_used_locked).
 * Inline at the walk's end (the walk's loop is done with its registers
 * there): out of line, its call saved and reloaded the walk's vol and
 * group around it on each of drain's 189K keeps in 229K calls; on 42d9ea5
 * drain 1284 -> 1277 instructions a call, aged:256:5000 1688 -> 1690,
 * cell:aged90:256:zero:20 1697 -> 1698, drain:aged90 1111 -> 1112 (GCC's
 * registers in the same copy of the walk; the test hinted likely there:
 * drain 1276, aged:256:5000 1691).
 */
static inline __attribute__((always_inline)) void mb_rs_resume_keep(struct mb_rs *t, uint32_t p,
						       const struct mb_group *grp, uint32_t at)
{
	struct mb_rs_resume *r = mb_rs_resume(t, p);
	uint32_t b = r->cand.b;

	if (at >= b && b > r->cand_from && b > grp->bb_first_free && *mb_rs_stale_leaves(t) < p) {
		*mb_rs_resume_at(t) = b;
		r->from = r->cand_from;
		r->floor = r->cand_floor;
		r->s = r->cand;
	}
}

/*
 * The walk from `from` (mb_rs_scan's, its fields set but the count's), or
 * from the group's resume point when it holds for this count: the same
 * block, a count not ended before b, no run of want before b (all are no
 * longer than its longest), and the first longest before b known above
 * this floor (its longest above its own floor, or this floor no lower).
 * Then the walk, counting, notes the state at the start of each longer run
 * it closes, and at its end keeps the last one.  On 3751bc5: drain 1663
 * -> 1399 instructions a call; aged:256:5000 2011 -> 2055,
 * cell:aged90:256:zero:20 1927 -> 1978 (their walks seldom resume: a
 * random group a call, or a want and floor that change; they pay the
 * notes, and the test of a point alone, never taken, cost them ~11 in
 * GCC's code for the walk -- a copy of the walk of its own for a resumed
 * count, out of line, cost more still: aged:256:5000 2086, drain 1586).
 * The state noted at the start of each leaf read instead (the point then
 * the last leaf's start at or before the longest): drain 1513,
 * aged:256:5000 2040, cell:aged90:256:zero:20 1954; each walk reads the
 * longest's leaf from its start again, and aged:256's walks end at nodes
 * absorbed, seldom reading a leaf (12 in 5000 walks).
 */
MB_RS_INLINE void mb_rs_scan_resumed(struct mb_rs_walk *w, uint32_t from, uint32_t floor)
{
	struct mb_rs *t = w->t;
	struct mb_rs_resume *r = mb_rs_resume(t, w->p);
	uint32_t b = *mb_rs_resume_at(t), start = from;

	if (MB_UNLIKELY(b) && w->left && r->from == from && r->s.runs < w->left &&
	    r->s.longest < w->want && (r->s.longest > r->floor || floor >= r->floor)) {
		assert(b == r->s.b && b > from && b > w->grp->bb_first_free);
		assert(mb_rs_resume_true(w->vol, w->grp, from, r->floor, &r->s));
		w->runs = r->s.runs;
		if (r->s.longest > floor) {
			w->longest = r->s.longest;
			w->at = r->s.at;
		}
		w->c = r->s.c;
		start = b;
	}
	/* what the walk's end needs, in memory: no register held across it */
	r->cand_from = from;
	r->cand_floor = floor;
	r->cand.b = 0;
	r->cand.c = 0; /* a run's start: none open */
	mb_rs_scan_walk(w, start);
	if (MB_UNLIKELY(mb_rs_resume(w->t, w->p)->cand.b))
		mb_rs_resume_keep(w->t, w->p, w->grp, w->at);
}

/*
 * From block `from` (a run start, whatever precedes it): the first run of
 * at least `want` blocks (o->next, vol->bpg if none); with max_runs > 0,
 * also the shorter runs before it -- how many, the longest and where the
 * first of them starts -- stopping after the max_runs-th (o->stopped).
 * One walk: what ext4's complex scan would skip, count and measure.
 * Tried on fe829d8: a stale root left stale here (the walk descends it
 * unjudged) skipped, the walk started at node 2: drain 1771 -> 1765 but
 * cell:aged90:256:zero:20 2086 -> 2095, cell:aged90:256:rand:20 2562 ->
 * 2570 (2079 -> 2088 on 0abdc3f); down the whole stale left spine, all
 * worse (drain 1776); the stale root's case as a goto past scan_root,
 * drain 1792.
 */
MB_RS_INLINE void mb_rs_scan(const struct mb_volume *vol, struct mb_group *grp, uint32_t from,
			     uint32_t want, uint32_t max_runs, uint32_t floor,
			     struct mb_runsum_scan *o)
{
	struct mb_rs_walk w = {.want = want, .left = max_runs, .next = vol->bpg, .longest = floor};

	assert(want);
	if (from <= grp->bb_first_free && from < vol->bpg) {
		struct mb_rs *t = mb_runsum_tree(vol, grp);
		uint32_t sz = mb_rs_leaves(vol) * MB_RS_LEAF_BITS;

		if (MB_UNLIKELY(*mb_rs_stale_leaves(t) == mb_rs_leaves(vol)) && grp->bb_fragments <= 1)
			mb_rs_build_one_run(vol, grp, t, grp->bb_fragments ? grp->bb_first_free : 0,
					    grp->bb_fragments ? grp->bb_first_free + grp->bb_free : 0);

		/* with few stale leaves, as the walk would; with more, when
		   the group has fewer runs than the count's limit: the count
		   cannot end inside, so the walk would reach every leaf but
		   for a run of want, and a walk down a tree mostly stale (a
		   group's first) pays a descent, a judgement and a mend a
		   node, where the flush joins each once and the root answers
		   (on main 9b0ef1f: cell:aged90:256:rand:20 3159 -> 2992
		   instructions a call, drain 2010 -> 2014: its test).
		   A count also when the group's free runs average
		   MB_RS_FLUSH_RUN blocks or more (mb_rs_flush_long_runs) */
		if (t[1].cnt == MB_RS_STALE && (*mb_rs_stale_leaves(t) <= MB_RS_FLUSH_STALE ||
						 (max_runs && (mb_rs_flush_long_runs(grp) ||
								grp->bb_fragments < max_runs))))
			mb_rs_flush_node(vol, grp, t, 1, sz / 2);
		if (mb_rs_scan_root(&t[1], sz, want, max_runs, o)) {
			o->next = vol->bpg;
			return;
		}
	}
	if (from < vol->bpg) {
		w.t = mb_runsum_tree(vol, grp);
		w.vol = vol;
		w.grp = grp;
		w.p = mb_rs_leaves(vol);
		/* with few stale leaves the walk flushes each stale node it
		   meets (mb_rs_scan_node): the mends on its way up are left to
		   that, later (a test a level saved) */
		w.mend = *mb_rs_stale_leaves(w.t) > MB_RS_FLUSH_STALE;
		*mb_rs_walked(w.t) = 1;
		mb_rs_scan_resumed(&w, from, floor);
	}
	*o = (struct mb_runsum_scan){.next = w.next < vol->bpg ? w.next : vol->bpg,
				     .runs = w.runs,
				     .longest = w.longest,
				     .at = w.at,
				     .stopped = w.stopped};
}

void mb_runsum_scan(const struct mb_volume *vol, struct mb_group *grp, uint32_t from,
		    uint32_t want, uint32_t max_runs, struct mb_runsum_scan *o)
{
	mb_rs_scan(vol, grp, from, want, max_runs, 0, o);
}

/* mb_runsum_scan counting (max_runs > 0) runs longer than floor only;
   inline in each of its callers (LTO: alloc.c's mb_visit_group and
   mb_visit_linear_bulk), the walk's state in registers */
inline __attribute__((always_inline)) void
mb_runsum_scan_above(const struct mb_volume *vol, struct mb_group *grp, uint32_t from, uint32_t want,
		     uint32_t max_runs, uint32_t floor, struct mb_runsum_scan *o)
{
	/* its caller (mb_scan_short_runs_locked) always counts: told so, the
	   walk inlined here drops its tests of a count at every node and run
	   (on main 2febe32: drain 1788 -> 1782, aged:256 2191 -> 2181, raw:1
	   1059 -> 1053, cell:aged50:256:next:20 1340 -> 1334 instructions a
	   call, none worse) */
	assert(max_runs);
	if (!max_runs)
		__builtin_unreachable();
	mb_rs_scan(vol, grp, from, want, max_runs, floor, o);
}

/*
 * The state of mb_rs_count_fresh's walk: mb_rs_walk's counting fields,
 * the runs as those left until the count ends (rem), the rest in locals.
 */
struct mb_rs_cw {
	uint32_t rem;     /* runs until the count ends: its left less those closed */
	uint32_t c;       /* the free run open at the cursor (< want) */
	uint32_t longest; /* the longest closed above the floor (the floor if none) */
	uint32_t at;      /* the first of them */
	uint32_t next;    /* the run of want found, or MB_RS_NONE */
};

/* mb_rs_close for mb_rs_count_fresh: true when it ends the count */
MB_RS_INLINE bool mb_rs_cw_close(struct mb_rs_cw *s, uint32_t len, uint32_t at)
{
	if (len > s->longest) {
		s->longest = len;
		s->at = at;
	}
	return !--s->rem;
}

/* mb_rs_scan_word for mb_rs_count_fresh: true when the walk ends (the
   count, or a run of want found: next).  of_want false: inside a node the
   count ends in (mb_rs_count_fresh's `inside`), where no run is of want,
   so none is measured against it (mb_rs_cw_word_count) */
static inline __attribute__((always_inline)) bool
mb_rs_cw_word_as(struct mb_rs_cw *s, uint64_t z, uint32_t start, uint32_t want, bool of_want)
{
	if (s->c) {
		uint32_t lead = mb_rs_run_at(z, 0), len = s->c + lead;

		if (of_want && len >= want) {
			s->next = start - s->c;
			return true;
		}
		if (lead == 64) {
			s->c = len;
			return false;
		}
		if (mb_rs_cw_close(s, len, start - s->c))
			return true;
		s->c = 0;
		z &= ~0ULL << lead;
	}
	while (z) {
		uint64_t past = (z | (z - 1)) + 1; /* as mb_rs_span */
		uint32_t x = (uint32_t)__builtin_ctzll(z);
		uint32_t len = past ? (uint32_t)__builtin_ctzll(past) - x : 64 - x;

		if (of_want && len >= want) {
			s->next = start + x;
			return true;
		}
		if (!past) { /* open at the word's end */
			s->c = len;
			return false;
		}
		if (mb_rs_cw_close(s, len, start + x))
			return true;
		z &= past;
	}
	return false;
}

MB_RS_INLINE bool mb_rs_cw_word(struct mb_rs_cw *s, uint64_t z, uint32_t start, uint32_t want)
{
	return mb_rs_cw_word_as(s, z, start, want, true);
}

MB_RS_INLINE bool mb_rs_cw_word_count(struct mb_rs_cw *s, uint64_t z, uint32_t start)
{
	return mb_rs_cw_word_as(s, z, start, UINT32_MAX, false);
}

/*
 * mb_rs_scan's counting walk from the root (from bb_first_free) in a tree
 * whose root is fresh and did not answer the count (mb_rs_scan_root): so is
 * every node (a node is fresh only when all below it is), and the walk
 * meets none stale and mends none.  mb_rs_scan_walk's judgements
 * (mb_rs_scan_node, mb_rs_count_inside) in the same order, its state in
 * locals and the runs kept as those left (one register fewer), apart from
 * the generic walk: that one, inlined in mb_visit_linear_bulk, keeps its
 * cursors on the stack, ~45 instructions a node judged.  Inline in its
 * callers' own functions (mb_runsum_count_fresh: alloc.c's
 * mb_visit_linear_bulk_fresh, whose few values stay out of the loop's
 * registers; mb_runsum_count_locked): a call of its own, seven arguments
 * and the answer through memory, cost cell:aged90:256:zero:20 1786 ->
 * 1814, cell:aged90:256:rand:20 2077 -> 2103 instructions a call.
 * Neither uses nor notes a resume point (the aged cells' counts, whose
 * trees are fresh, seldom resume: their floor and their group change call
 * to call); a point noted stays true, as the bitmap is.
 */
static inline __attribute__((always_inline)) void
mb_rs_count_fresh(const struct mb_volume *vol, const struct mb_group *grp, const struct mb_rs *t,
		  uint32_t want, uint32_t left, uint32_t floor, struct mb_runsum_scan *o)
{
	const uint32_t p = mb_rs_leaves(vol);
	uint32_t n = 1, sz = p * MB_RS_LEAF_BITS, st = 0;
	struct mb_rs_cw s = {.rem = left, .longest = floor, .next = MB_RS_NONE};
	bool stopped = false;

	const struct mb_rs *x;
	uint32_t pre, j;

	for (;;) {
		x = &t[n];
		pre = x->pre;
		j = s.c + pre;
		assert(x->cnt != MB_RS_STALE && s.rem);
		if (j >= want) {
			s.next = st - s.c;
			goto out;
		}
		if (pre == sz) { /* all free: the open run goes on */
			s.c = j;
			goto up;
		}
		if (x->max < want) {
			/* the runs that close in x (its tail's does not): j's
			   and the inner ones, (j > 0) + cnt - (pre > 0) -
			   (suf > 0), as cnt - (suf > 0) plus the open run
			   when x starts used -- not three flags, one of them
			   kept on the stack for the test of j below (on
			   62d916f: cell:aged50:4096:zero:20 1679 -> 1674,
			   cell:aged50:1000:zero:20 1728 -> 1723,
			   cell:aged90:256:zero:20 1760 -> 1758 instructions
			   a call).  When they hold the count's end, x is
			   judged as below (judge) and, walked inside, walked
			   by the loop that ends the count: no run of want
			   there (j, max shorter), so no test of one, nor of a
			   tail run of max, at a node or word (on 7b9d99b
			   cell:aged50:4096:zero:20 1671 -> 1548,
			   cell:aged50:1000:zero:20 1716 -> 1616,
			   cell:aged90:256:zero:20 1746 -> 1697 instructions a
			   call; a leaf's words read only up to its first max
			   closed, 1555: lost) */
			uint32_t closes = x->cnt - (x->suf > 0) + (!pre & (s.c > 0));

			if (closes >= s.rem) /* the count ends in x */
				goto judge;
			/* absorbed unless its first run of max is its tail run
			   (mb_rs_count_inside: still open, measured later, it
			   may turn out the run of want, leaving an inner run
			   the longest): its runs counted, none the count's
			   last, its longest kept */
			if (x->max <= (j > s.longest ? j : s.longest) || x->at != sz - x->suf) {
				s.rem -= closes;
				if (j > s.longest) {
					s.longest = j;
					s.at = st - s.c;
				}
				if (x->max > s.longest) { /* an inner run */
					s.longest = x->max;
					s.at = st + x->at;
				}
				s.c = x->suf;
				goto up;
			}
		}
		/* an inner node (sz, in a register, not n < p: p was
		   reloaded from the stack at each descent; on 62d916f
		   cell:aged50:4096:zero:20 1683 -> 1679,
		   cell:aged50:1000:zero:20 1732 -> 1728, cell:aged90:256:zero:20
		   1763 -> 1760 instructions a call; in mb_rs_scan_walk the same
		   cost aged:256:5000 +27): its left child next */
		if (sz > MB_RS_LEAF_BITS) {
			n *= 2;
			sz /= 2;
			continue;
		}
		/* a leaf: its words in the bitmap, then past it (used) */
		uint32_t wi = (n - p) * MB_RS_LEAF_WORDS, end = wi + MB_RS_LEAF_WORDS;
		uint32_t bw = vol->bitmap_words, in = end <= bw ? end : wi < bw ? bw : wi;

		for (; wi < in; wi++)
			if (mb_rs_cw_word(&s, ~grp->bb_bitmap[wi], wi << 6, want))
				goto ended;
		if (wi < end && mb_rs_cw_word(&s, 0, wi << 6, want))
			goto ended;
	up:
		st += sz;
		for (; n & 1; n >>= 1) /* up while a right child */
			sz *= 2;
		if (!n)
			break;
		n++;
	}
	/* a run up to the tree's end (the group fills its last leaf) */
	if (s.c && mb_rs_cw_close(&s, s.c, st - s.c))
		stopped = true;
	goto out;
	/* node n (sz blocks from st) holds the count's end and is walked
	   inside: no run there is of want (its j and max are shorter), and
	   the walk ends in it.  A level a step: the left child absorbed
	   unless the count ends in it, then the child holding the end judged
	   (ended there, or walked inside) */
	for (;;) {
		if (sz == MB_RS_LEAF_BITS) {
			uint32_t wi = (n - p) * MB_RS_LEAF_WORDS, end = wi + MB_RS_LEAF_WORDS;
			uint32_t bw = vol->bitmap_words, in = end <= bw ? end : wi < bw ? bw : wi;

			for (; wi < in; wi++)
				if (mb_rs_cw_word_count(&s, ~grp->bb_bitmap[wi], wi << 6))
					break;
			if (wi == in)
				mb_rs_cw_word_count(&s, 0, wi << 6);
			assert(!s.rem);
			stopped = true;
			goto out;
		}
		n *= 2;
		sz /= 2;
		x = &t[n];
		pre = x->pre;
		j = s.c + pre;
		if (pre != sz) {
			uint32_t closes = x->cnt - (x->suf > 0) + (!pre & (s.c > 0));

			if (closes >= s.rem)
				goto judge;
			/* absorbed: its runs counted, its longest kept (even
			   when that is its tail run, still open: that run closes
			   in the right child, counted, no shorter, from the
			   same block) */
			s.rem -= closes;
			if (j > s.longest) {
				s.longest = j;
				s.at = st - s.c;
			}
			if (x->max > s.longest) {
				s.longest = x->max;
				s.at = st + x->at;
			}
			j = x->suf;
		}
		s.c = j;
		st += sz;
		n++;
		x = &t[n];
		pre = x->pre;
		j = s.c + pre;
	judge:
		assert(pre != sz && j < want && x->max < want);
		if (x->max <= (j > s.longest ? j : s.longest) || (j && s.rem == 1)) {
			if (j)
				mb_rs_cw_close(&s, j, st - s.c);
			s.rem = 0;
			stopped = true;
			goto out;
		}
	}
ended:
	stopped = s.next == MB_RS_NONE;
out:
	*o = (struct mb_runsum_scan){.next = s.next < vol->bpg ? s.next : vol->bpg,
				     .runs = left - s.rem,
				     .longest = s.longest,
				     .at = s.at,
				     .stopped = stopped};
}

/* Whether grp's run tree is fresh at its root, so throughout (bb_lock, or
   no other thread; grp built) */
bool mb_runsum_root_fresh(const struct mb_volume *vol, const struct mb_group *grp)
{
	return mb_runsum_tree(vol, grp)[1].cnt != MB_RS_STALE;
}

/*
 * Whether grp's free runs are long (mb_rs_flush_long_runs: the aged
 * cells' groups, not drain's crumbs), a hint read without the lock: a
 * count there whose tree is fresh walks as mb_runsum_count_fresh.  Not in
 * a group of crumbs, whose counts resume (mb_rs_scan_resumed): drain's
 * fresh walks so cost drain 1295 -> 1348 instructions a call.
 */
bool mb_runsum_long_runs(const struct mb_group *grp)
{
	/* unlocked (mb_linear_fresh tests it before its thread test): each
	   count read once, relaxed -- with threads a mark may move them, and
	   the answer is then not used */
	return MB_UNLIKELY(MB_READ_ONCE(grp->bb_free) >=
			   MB_RS_FLUSH_RUN * MB_READ_ONCE(grp->bb_fragments));
}

/*
 * mb_runsum_scan_above from bb_first_free in a tree fresh at its root
 * (mb_runsum_root_fresh): the root's answer, or mb_rs_count_fresh's walk.
 * The same result, even with no free block (the root answers none).
 * Inline in its caller (LTO: alloc.c's mb_visit_linear_bulk_fresh), as
 * mb_runsum_scan_above, the walk with it.
 */
inline __attribute__((always_inline)) void
mb_runsum_count_fresh(const struct mb_volume *vol, struct mb_group *grp, uint32_t want,
		      uint32_t max_runs, uint32_t floor, struct mb_runsum_scan *o)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);

	assert(max_runs && want && t[1].cnt != MB_RS_STALE);
	if (mb_rs_scan_root(&t[1], mb_rs_leaves(vol) * MB_RS_LEAF_BITS, want, max_runs, o)) {
		o->next = vol->bpg;
		return;
	}
	*mb_rs_walked(t) = 1;
	mb_rs_count_fresh(vol, grp, t, want, max_runs, floor, o);
}

/* mb_runsum_scan_above from bb_first_free, out of line: a stale root's
   count for mb_runsum_count_locked, a copy of the generic walk kept off
   its caller's path */
static __attribute__((noinline)) void mb_rs_count_stale(const struct mb_volume *vol,
							struct mb_group *grp, uint32_t want,
							uint32_t max_runs, uint32_t floor,
							struct mb_runsum_scan *o)
{
	mb_runsum_scan_above(vol, grp, grp->bb_first_free, want, max_runs, floor, o);
}

/*
 * mb_runsum_scan_above from bb_first_free under bb_lock (grp built):
 * mb_runsum_count_fresh's when the root is fresh -- tested here, under
 * the lock, as the tree's rule asks -- else the generic count.  The
 * linear pass's count with threads (alloc.c, mb_visit_linear_bulk_held),
 * whose root a thread may have marked stale up to the lock's taking.
 */
void mb_runsum_count_locked(const struct mb_volume *vol, struct mb_group *grp, uint32_t want,
			    uint32_t max_runs, uint32_t floor, struct mb_runsum_scan *o)
{
	mb_assert_locked(&grp->bb_lock);
	if (MB_UNLIKELY(!mb_runsum_root_fresh(vol, grp))) {
		mb_rs_count_stale(vol, grp, want, max_runs, floor, o);
		return;
	}
	mb_runsum_count_fresh(vol, grp, want, max_runs, floor, o);
}

/*
 * mb_runsum_scan from bb_first_free when the root is fresh and answers it
 * (mb_rs_scan_root: no run of `want`, fewer than max_runs runs, max_runs >
 * 0): true, with the same answer; else false and nothing done (a stale
 * root is the full scan's to flush).  A linear visit of a group the
 * allocator only counts runs in asks this first (alloc.c).  A group with
 * no free block (bb_first_free past the group) needs no test of its own:
 * its fresh root answers no runs, as the scan from bb_first_free would
 * (and the visit's verdict sends none here).  The test dropped: on
 * fe829d8 cell:aged90:256:zero:20 2086 -> 2079, cell:aged90:256:rand:20
 * 2562 -> 2558, drain 1771 -> 1765 instructions a call.
 */
bool mb_runsum_scan_fresh_root(const struct mb_volume *vol, struct mb_group *grp, uint32_t want,
			       uint32_t max_runs, struct mb_runsum_scan *o)
{
	const struct mb_rs *r = &mb_runsum_tree(vol, grp)[1];

	assert(want && max_runs);
	/* told so, mb_rs_scan_root drops its test of a count: on 0abdc3f
	   drain 1765 -> 1762, cell:aged90:256:zero:20 2079 -> 2077,
	   cell:aged90:256:rand:20 2558 -> 2555, aged:256:5000 2148 -> 2144
	   instructions a call, none worse */
	if (!max_runs)
		__builtin_unreachable();
	if (!mb_rs_scan_root(r, mb_rs_leaves(vol) * MB_RS_LEAF_BITS, want, max_runs, o))
		return false;
	o->next = vol->bpg;
	return true;
}

/*
 * The first block p >= from that starts a free run of at least len blocks,
 * block from counting as a run start; vol->bpg if none.
 */
uint32_t mb_runsum_next_long(const struct mb_volume *vol, struct mb_group *grp, uint32_t from,
			     uint32_t len)
{
	struct mb_runsum_scan o;

	/* its own copy of the walk, the counting folded away (max_runs 0);
	   out of line as mb_runsum_scan, so that LTO does not grow the
	   scan's caller, mb_visit_group, with them (raw:1 pays then) */
	mb_rs_scan(vol, grp, from, len, 0, 0, &o);
	return o.next;
}

/*
 * A run inside a word touching neither of its edges has a used bit on
 * each side: 62 blocks at most.  So a run of more than MB_RS_LONG_EDGES
 * blocks is a word's top free bits, whole free words and the next word's
 * bottom free bits, and for such a want a word is read by its edges alone
 * (mb_rs_long_word_edges: a ctz and a clz, no loop over the runs inside).
 * The remainders' long scans of the aged cells (wants of 3 to 75 there):
 * cell:aged50:100:zero:20 2647 -> 2616, cell:aged90:100:zero:20 2115 ->
 * 2113 instructions a call, the others equal.
 */
#define MB_RS_LONG_EDGES 62u

/*
 * mb_rs_long_word (below) for a want past MB_RS_LONG_EDGES, from word u's
 * used bits: the run open at the cursor (*c) goes on through its free
 * bottom bits, or a run of the word's free top bits is left open in *c
 * (all of it, with *c's, when the word is all free).
 */
MB_RS_INLINE bool mb_rs_long_word_edges(uint64_t u, uint32_t start, uint32_t want, uint32_t *c,
					uint32_t *at, uint32_t *e, bool *open)
{
	uint32_t lead = u ? (uint32_t)__builtin_ctzll(u) : 64;

	assert(want > MB_RS_LONG_EDGES);
	if (*c + lead >= want) {
		*at = start - *c;
		*e = start + lead;
		*open = lead == 64;
		return true;
	}
	*c = u ? (uint32_t)__builtin_clzll(u) : *c + 64;
	return false;
}

/*
 * Word z (free bits) at block `start` for mb_rs_long_walk: the run open at
 * the cursor (its last *c blocks before start) goes on into it or closes;
 * the first run of want inside it is found (true: its start *at, *e how
 * far the word has it free, *open whether it goes on past the word), else
 * the run open at the word's end is left in *c.  mb_rs_scan_word with no
 * count.
 */
MB_RS_INLINE bool mb_rs_long_word(uint64_t z, uint32_t start, uint32_t want, uint32_t *c,
				  uint32_t *at, uint32_t *e, bool *open)
{
	if (want > MB_RS_LONG_EDGES)
		return mb_rs_long_word_edges(~z, start, want, c, at, e, open);
	if (*c) {
		uint32_t lead = mb_rs_run_at(z, 0), len = *c + lead;

		if (len >= want) {
			*at = start - *c;
			*e = start + lead;
			*open = lead == 64;
			return true;
		}
		if (lead == 64) {
			*c = len;
			return false;
		}
		*c = 0;
		z &= ~0ULL << lead;
	}
	/* a run of want inside the word has its first block and its want-th
	   free (want <= 62 here): a word with no such pair of free blocks
	   want - 1 apart holds none, and only its top run (shorter than want)
	   goes on -- a shift, an and and a clz, no run by run.  91% of the
	   words cell:aged50:100:zero:20's long scans read so (69% in
	   aged90:100): 2640 -> 2619, cell:aged90:100:zero:20 2124 -> 2116
	   instructions a call */
	if (!(z & (z >> (want - 1)))) {
		*c = (uint32_t)__builtin_clzll(~z);
		return false;
	}
	while (z) {
		uint64_t past = (z | (z - 1)) + 1; /* as mb_rs_span */
		uint32_t x = (uint32_t)__builtin_ctzll(z);
		uint32_t len = past ? (uint32_t)__builtin_ctzll(past) - x : 64 - x;

		if (len >= want) {
			*at = start + x;
			*e = start + x + len;
			*open = !past;
			return true;
		}
		if (!past) { /* open at the word's end */
			*c = len;
			return false;
		}
		z &= past;
	}
	return false;
}

/*
 * Words [wi, wend) of a leaf for mb_rs_long_walk (mb_rs_long_word each),
 * word wi's used bits u already read (wi < lim, lim the least of wend and
 * the bitmap's end).
 */
MB_RS_INLINE bool mb_rs_long_words_u(const uint64_t *bm, uint32_t wi, uint64_t u, uint32_t lim,
				     uint32_t wend, uint32_t want, uint32_t *c, uint32_t *at,
				     uint32_t *e, bool *open)
{
	const uint32_t sh = want - 1;

	assert(wi < lim);
	if (want > MB_RS_LONG_EDGES) { /* a loop of its own: want tested once */
		for (;;) {
			if (u == ~0ULL && !*c) {
				do {
					if (++wi >= lim)
						goto past;
				} while ((u = bm[wi]) == ~0ULL);
			}
			if (mb_rs_long_word_edges(u, wi << 6, want, c, at, e, open))
				return true;
			if (++wi >= lim)
				goto past;
			u = bm[wi];
		}
	}
	for (;;) {
		/* all used with no run open: nothing to close or find (an
		   aged group's leaves are mostly such words): on to the
		   next word with a free block, a load and a test a word */
		if (u == ~0ULL && !*c) {
			do {
				if (++wi >= lim)
					goto past;
			} while ((u = bm[wi]) == ~0ULL);
		}
		/* no run open and no run of want inside (mb_rs_long_word's
		   test, here before its call; u has a used bit: want <= 62),
		   its shift a local of the loop: the word's top run goes on
		   (cell:aged50:100:zero:20 2619 -> 2592, aged90:100 2116 ->
		   2111 instructions a call) */
		if (MB_LIKELY(!*c && !(~u & (~u >> sh)))) {
			*c = (uint32_t)__builtin_clzll(u);
		} else if (mb_rs_long_word(~u, wi << 6, want, c, at, e, open)) {
			return true;
		}
		if (++wi >= lim)
			goto past;
		u = bm[wi];
	}
past:
	if (wi < wend) /* past the bitmap: used */
		*c = 0;
	return false;
}

/* Words [wi, wend) of a leaf for mb_rs_long_walk (mb_rs_long_word each). */
MB_RS_INLINE bool mb_rs_long_words(const struct mb_volume *vol, const struct mb_group *grp,
				   uint32_t wi, uint32_t wend, uint32_t want, uint32_t *c,
				   uint32_t *at, uint32_t *e, bool *open)
{
	/* the bitmap's end tested once, not at each word (on 261012f:
	   cell:aged90:256:rand:20 2100.9 -> 2086.1, aged90:256:zero 1813.4
	   -> 1807.1 instructions a call; the aged cells' long visits read
	   ~54 words each); the used words skipped in a loop of their own
	   (-> 2079.0, 1802.8; two words a test there gained nothing) */
	const uint32_t lim = wend < vol->bitmap_words ? wend : vol->bitmap_words;

	if (wi >= lim) {
		if (wi < wend) /* past the bitmap: used */
			*c = 0;
		return false;
	}
	return mb_rs_long_words_u(grp->bb_bitmap, wi, grp->bb_bitmap[wi], lim, wend, want, c, at,
				  e, open);
}

/*
 * mb_rs_scan_walk for mb_runsum_next_long_end (no count, nothing sought
 * but a run of want): the same pieces, the same stale nodes flushed or
 * mended, and the same answer, its state in locals of one loop.
 * mb_rs_scan's walk, inlined into its query and so into
 * mb_scan_long_runs_locked, kept its state in a struct GCC left on the
 * stack beside the measures' (~40 instructions a node absorbed, ~14
 * here): aging:triangle 3208 -> 3148 instructions a call.  A run found
 * all free to a node's end is closed by the nodes after it, the walk's
 * next steps (mb_rs_run_end_slow climbed again from its leaf): 3148 ->
 * 3130.  The climb from a leaf-aligned start stopping below a parent that
 * holds a run of want (no descent back into it) cost 3148 -> 3156: an
 * extra read a level, and few such descents (4k of 137k nodes judged).
 * Returns where the run of want starts (bpg or more if none) and, found,
 * in *end where it ends.
 *
 * fresh: the root is fresh, and so every node (a fresh node's children
 * are): no node is tested for stale, nothing is mended, and the climbs
 * are in closed form, a ctz for the levels -- up from a fresh leaf while
 * a left child, up while a right child (a load and a test a level before:
 * aging:triangle 3109 -> 3068 instructions a call, the climbs alone); a
 * walk of the whole group starts at the root's children (the caller read
 * the root).  The fresh walk is inline in mb_scan_long_runs_locked's
 * copy for a fresh tree and a short goal (mb_runsum_next_long_end_fresh:
 * out of line, it paid a frame of six saved registers a walk, 2.2 walks a
 * call in aging:triangle); a long goal's batches have a copy of their own
 * (mb_runsum_long_runs_fresh); the stale copy calls mb_rs_long_walk,
 * either way out of line.  An open run's start is not kept: it is the cursor's block less
 * the run's length (st - c), one register fewer in the loop.  A node not
 * holding a run of want carries on its suffix, or the open run and all of
 * it when it is all free, by a cmov.  All but the climbs: aging:triangle
 * 3068 -> 2949 instructions a call.  A node whose one run past its prefix
 * is its max (cnt 1 + (pre != 0)) names it with no descent, as
 * mb_runsum_long_runs_fresh's nodes (on 4c6c9d2: cell:aged90:256:rand:20
 * 2516 -> 2496, zero 2031 -> 2022, aging:triangle -6, aged50 next +2).
 * A leaf descended into reads its words only up to its first max (x.at):
 * the first run of want is that one or starts before it, so the words of
 * that run and its end's mb_rs_run_end are spared (on 6b0f919:
 * cell:aged50:256:zero:20 1202 -> 1196, cell:aged50:256:next:20 1295 ->
 * 1291, cell:aged90:256:rand:20 2464 -> 2462 instructions a call; the same
 * in mb_runsum_long_runs_fresh cost aging:triangle 2621 -> 2632).
 */
MB_RS_INLINE uint32_t mb_rs_long_walk_as(const struct mb_volume *vol, struct mb_group *grp,
					 struct mb_rs *t, uint32_t from, uint32_t want,
					 uint32_t *end, bool fresh)
{
	const uint32_t p = mb_rs_leaves(vol);
	/* a tree all fresh has nothing to mend: no stale leaf */
	const bool mend = !fresh && *mb_rs_stale_leaves(t) > MB_RS_FLUSH_STALE;
	uint32_t n = 1, sz = p * MB_RS_LEAF_BITS, st = 0, c = 0, at, e;
	bool open;

	assert(!fresh || (t[1].cnt != MB_RS_STALE && !*mb_rs_stale_leaves(t)));
	if (from > grp->bb_first_free) { /* else from the root, as mb_rs_scan_walk */
		uint32_t leaf = from / MB_RS_LEAF_BITS, wi = from >> 6;

		n = p + leaf;
		sz = MB_RS_LEAF_BITS;
		if (from % MB_RS_LEAF_BITS == 0 && (fresh || t[n].cnt != MB_RS_STALE)) {
			if (MB_UNLIKELY(t[n].pre == MB_RS_LEAF_BITS) &&
			    mb_test_bit(grp->bb_bitmap, from))
				mb_rs_unlazy_slow(t, n);
			st = from;
			if (fresh) {
				/* all fresh: up while a left child, in closed form
				   (leaf > 0: from > bb_first_free) */
				uint32_t k = (uint32_t)__builtin_ctz(n);

				n >>= k;
				sz <<= k;
			} else {
				for (; !(n & 1) && t[n / 2].cnt != MB_RS_STALE; n /= 2)
					sz *= 2;
			}
		} else {
			uint64_t z = mb_rs_free(vol, grp, wi) & (~0ULL << (from & 63));

			if (!z && MB_UNLIKELY(t[n].pre == MB_RS_LEAF_BITS) && t[n].cnt == 1)
				mb_rs_unlazy_slow(t, n);
			if (mb_rs_long_word(z, wi << 6, want, &c, &at, &e, &open) ||
			    mb_rs_long_words(vol, grp, wi + 1, (leaf + 1) * MB_RS_LEAF_WORDS, want,
					     &c, &at, &e, &open))
				goto found;
			st = leaf * MB_RS_LEAF_BITS;
			goto next;
		}
	} else if (fresh && p > 1) {
		/* its children, not the root: the caller read the root
		   (mb_rs_scan_root), and its children answer as it would */
		n = 2;
		sz /= 2;
	}
	for (;;) {
		struct mb_rs x = t[n];

		if (!fresh && x.cnt == MB_RS_STALE) {
			if (n < p && *mb_rs_stale_leaves(t) > MB_RS_FLUSH_STALE)
				goto down;
			mb_rs_flush_node(vol, grp, t, n, sz / 2);
			x = t[n];
		}
		if (c + x.pre >= want) {
			at = st - c;
			e = st + x.pre;
			open = false;
			if (x.pre == sz)
				goto end;
			goto found;
		}
		/* a node all free has max sz: with max >= want, c + pre was */
		if (x.max >= want) {
			if (t[n].cnt != 1u + (x.pre != 0))
				goto down;
			/* its one run past its prefix is its max: no descent */
			at = st + t[n].at;
			e = at + x.max;
			open = false;
			if (e - st == sz)
				goto end;
			goto found;
		}
		c = (x.pre == sz ? c : 0) + x.suf; /* all free: the open run goes on */
next:
		st += sz;
		if (fresh || MB_LIKELY(!mend)) { /* up while a right child */
			uint32_t k = (uint32_t)__builtin_ctz(~n);

			n >>= k;
			sz <<= k;
		} else {
			for (; n & 1; n >>= 1) {
				mb_rs_mend(t, n / 2, sz);
				sz *= 2;
			}
		}
		if (!n)
			return MB_RS_NONE; /* not bpg: no load in the loop */
		n++;
		continue;
down:
		if (n < p) { /* its left child next */
			n *= 2;
			sz /= 2;
			continue;
		}
		{
			/* the leaf's first run of want starts at its first max
			   or before: its words before that run's, then that
			   word's bits below it (bit a - 1 is used: a > 0, else
			   c + pre reached want), else it is that run */
			uint32_t a = st + x.at, wa = a >> 6;

			if (mb_rs_long_words(vol, grp, (n - p) * MB_RS_LEAF_WORDS, wa, want, &c,
					     &at, &e, &open) ||
			    mb_rs_long_word(mb_rs_free(vol, grp, wa) & ((1ULL << (a & 63)) - 1),
					    wa << 6, want, &c, &at, &e, &open))
				goto found;
			at = a;
			e = a + x.max;
			open = x.at + x.max == MB_RS_LEAF_BITS;
			goto found;
		}
	}
end:
	/* node n is all free, the run goes on past it: the nodes after it
	   place its end, as mb_rs_run_end_slow does from its leaf (the climb
	   to them saved); a stale one is left to mb_rs_run_end */
	for (;;) {
		uint32_t k = (uint32_t)__builtin_ctz(~n); /* up while a right child */

		n >>= k;
		sz <<= k;
		if (!n)
			break; /* the run reaches the tree's end: e */
		n++;
		if (!fresh && t[n].cnt == MB_RS_STALE) {
			open = true;
			break;
		}
		if (t[n].pre < sz) {
			e += t[n].pre;
			break;
		}
		e += sz;
	}
found:
	if (at < vol->bpg)
		*end = open ? mb_rs_run_end(vol, grp, e) : e < vol->bpg ? e : vol->bpg;
	return at;
}

/* The walk out of line, either way (see mb_rs_long_walk_as). */
static __attribute__((noinline)) uint32_t mb_rs_long_walk(const struct mb_volume *vol,
							  struct mb_group *grp, uint32_t from,
							  uint32_t want, uint32_t *end)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);

	*mb_rs_walked(t) = 1;
	if (MB_LIKELY(t[1].cnt != MB_RS_STALE))
		return mb_rs_long_walk_as(vol, grp, t, from, want, end, true);
	return mb_rs_long_walk_as(vol, grp, t, from, want, end, false);
}

/*
 * The whole-group start of a query from bb_first_free, the tree's part: a
 * whole stale tree of one run (or none) built in closed form, a stale root
 * flushed when few leaves are stale, or when the group's free runs are
 * long (mb_rs_flush_long_runs, as a count's start).  Such a group's long
 * scans stop after a few runs (mb_min_to_scan's pieces): the leaves past
 * them stayed stale for good (cell:aged50:100:zero:20's stale visits met
 * 20-32 stale leaves of 32, the root never fresh), and every visit took
 * the stale copy, a walk from each run's end, mending as it went.  Flushed
 * once, the tree stays fresh under the marks and frees (their lifts), and
 * the visits take the fresh copy, one walk measuring as it goes: on
 * lead42 cell:seq90:1000:zero:20 2176 -> 1729, cell:aged50:100:zero:20
 * 2718 -> 2647, cell:seq90:100:rand:20 1714 -> 1663,
 * cell:aged90:100:zero:20 2153 -> 2115, cell:aged90:64:zero:20 1045 ->
 * 1038, but cell:aged50:4096:rand:20 1981 -> 1993 instructions a call (its
 * random goals visit a group's tree about once: the flush does not pay;
 * flushing only a tree walked before, 1988 there, seq90:1000 1734), the
 * 17 probes -3..0.  mb_runsum_long_begin returns whether
 * the tree is then all fresh (its root is), and so stays while the group's
 * lock is held and no block changes: then mb_runsum_next_long_end_fresh
 * answers.  The stale part out of line: inline in mb_visit_long_group, its
 * calls moved GCC's code of mb_visit_group (drain, aged:256 +5
 * instructions a call).
 */
static __attribute__((noinline)) void mb_rs_long_begin_stale(const struct mb_volume *vol,
							     struct mb_group *grp, struct mb_rs *t)
{
	if (*mb_rs_stale_leaves(t) == mb_rs_leaves(vol) && grp->bb_fragments <= 1)
		mb_rs_build_one_run(vol, grp, t, grp->bb_fragments ? grp->bb_first_free : 0,
				    grp->bb_fragments ? grp->bb_first_free + grp->bb_free : 0);
	if (t[1].cnt == MB_RS_STALE &&
	    (*mb_rs_stale_leaves(t) <= MB_RS_FLUSH_STALE || mb_rs_flush_long_runs(grp)))
		mb_rs_flush_node(vol, grp, t, 1, mb_rs_leaves(vol) * MB_RS_LEAF_BITS / 2);
}

inline __attribute__((always_inline)) bool mb_runsum_long_begin(const struct mb_volume *vol,
								 struct mb_group *grp)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);

	/* a fresh root: no stale leaf, nothing to build or flush */
	if (MB_UNLIKELY(t[1].cnt == MB_RS_STALE))
		mb_rs_long_begin_stale(vol, grp, t);
	return t[1].cnt != MB_RS_STALE;
}

/*
 * mb_runsum_next_long, and in *end where that run ends (its first used
 * block past it, or bpg), when one is found (*end untouched if none).  The
 * walk (mb_rs_long_walk) stops where it learns the run holds len blocks: a
 * node's pre or a word places the end there, or the run goes on past what
 * it read -- past a node all free, the nodes after it, as the walk goes on;
 * past a word, mb_rs_run_end.  The complex scan measures the run piece by
 * piece (alloc.c): with its end known, each piece is a closed form and
 * needs no walk before it.
 */
static inline __attribute__((always_inline)) uint32_t
mb_rs_next_long_end_as(const struct mb_volume *vol, struct mb_group *grp, uint32_t from,
		       uint32_t len, uint32_t *end, bool fresh)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);
	uint32_t next;

	assert(len);
	assert(!fresh || t[1].cnt != MB_RS_STALE);
	if (from >= vol->bpg)
		return vol->bpg;
	if (from <= grp->bb_first_free) { /* mb_rs_scan's whole-group start */
		struct mb_runsum_scan o;

		if (!fresh)
			mb_runsum_long_begin(vol, grp);
		if (mb_rs_scan_root(&t[1], mb_rs_leaves(vol) * MB_RS_LEAF_BITS, len, 0, &o))
			return vol->bpg;
	}
	if (fresh) {
		*mb_rs_walked(t) = 1;
		next = mb_rs_long_walk_as(vol, grp, t, from, len, end, true);
	} else {
		next = mb_rs_long_walk(vol, grp, from, len, end);
	}
	return next < vol->bpg ? next : vol->bpg;
}

/* The measures of a run [p, e) of want blocks or more for
   mb_runsum_long_measure_fresh: mb_long_measure_run (mb_int.h, where the
   unit test reaches it) */
MB_RS_INLINE int mb_rs_long_measure(const struct mb_volume *vol, struct mb_group *grp,
				    struct mb_long_scan *m, uint32_t p, uint32_t e)
{
	(void)vol;
	(void)grp;
	return mb_long_measure_run(m, p, e, false);
}

/*
 * The runs of want blocks or more from `from` on (a run start, whatever
 * precedes it; a from of bpg names none), in a tree all fresh (mb_runsum_long_begin true since):
 * up to nmax of them, in order, each [start, end) into runs[] as
 * mb_runsum_next_long_end_fresh would name them one by one; returns how
 * many, and in *resume where the next batch starts (bpg or more when none
 * is left).  mb_rs_long_walk_as's fresh walk in a loop of its own (out of
 * line: the measures' loop keeps its registers, the walk its own), going
 * on past each run it names.  When the run ends inside a node that holds
 * no other run of want (its max is less), the walk goes on from that
 * node with its suffix open, as a new walk would once past it; else it
 * starts again at the end's leaf (the run's rest there is shorter than
 * want when the run holds want blocks before the leaf's start: a
 * leaf-aligned start reads no word), or at the end itself.
 * A node to descend into (max >= want, c + pre less) whose runs are its
 * prefix's, if any, and one more (cnt 1 + (pre != 0)) holds that one as
 * its max: the run starts at its at and ends at at + max, or goes on past
 * the node's end as an all-free node's does -- no descent, no word read,
 * and nothing more in the node after it (on 4c6c9d2: aging:triangle
 * 2818 -> 2757 instructions a call; the same in mb_rs_long_walk_as).  So
 * too after a run that ended inside node n: n's runs past it, cnt less
 * its prefix's, none (go on past n) or one that is its max (at not 0), is
 * the next run with no new walk (2751 -> 2744); cnt and at read from the
 * tree where tested, not with the node's other fields (GCC kept at on the
 * stack and spilled sz: 2744 -> 2722).
 * measure: no runs[], no batch -- each run measured where it is named
 * (mb_rs_long_measure, m), the walk ending at the first verdict, which it
 * returns (enum mb_long_end): mb_runsum_long_measure_fresh.
 */
MB_RS_INLINE uint32_t mb_rs_long_runs_as(const struct mb_volume *vol, struct mb_group *grp,
					 uint32_t from, uint32_t want, struct mb_runsum_run *runs,
					 uint32_t nmax, uint32_t *resume, struct mb_long_scan *m,
					 bool measure)
{
/* a run [s, e) named: into runs[], or measured (a verdict returned) */
#define MB_RS_EMIT(s_, e_)                                                  \
	do {                                                               \
		if (measure) {                                             \
			int r_ = mb_rs_long_measure(vol, grp, m, (s_), (e_)); \
			if (r_)                                            \
				return (uint32_t)r_;                       \
		} else {                                                   \
			runs[k].start = (s_);                              \
			runs[k++].end = (e_);                              \
		}                                                          \
	} while (0)
	struct mb_rs *t = mb_runsum_tree(vol, grp);
	const uint32_t p = mb_rs_leaves(vol), bpg = vol->bpg;
	uint32_t k = 0, sz, st, c = 0, at, e;
	/* 64-bit: each node's address with no zero extension (on 6e75f25:
	   aging:triangle 2836 -> 2830 instructions a call; in mb_rs_long_walk_as
	   it cost cell:aged90:256:rand:20 2547 -> 2550, in mb_rs_scan_walk
	   drain 1759 -> 1760) */
	size_t n;
	uint32_t leaf, wi;
	bool open;

	assert(want && (measure || nmax) && t[1].cnt != MB_RS_STALE && !*mb_rs_stale_leaves(t));
	if (from <= grp->bb_first_free) { /* mb_rs_scan's whole-group start */
		/* mb_rs_scan_root's "none" in a fresh root: its longest run
		   short of want (all free, its max is its size) -- no test of
		   a stale count or of pre (aging:triangle 2479.7 -> 2478.4
		   instructions a call) */
		if (t[1].max < want)
			goto none;
		*mb_rs_walked(t) = 1;
		/* its children, not the root: the root answered as it would */
		n = p > 1 ? 2 : 1;
		sz = p > 1 ? p * MB_RS_LEAF_BITS / 2 : MB_RS_LEAF_BITS;
		st = 0;
		goto node;
	}
	/* a resume of bpg: the last batch was full, its last run reaching
	   bpg (tested past the whole-group start, which reads no from) */
	if (from >= bpg)
		goto none;
	*mb_rs_walked(t) = 1;
restart: /* from > bb_first_free, from < bpg, no run open */
	assert(from < bpg);
	{
		leaf = from / MB_RS_LEAF_BITS;
		wi = from >> 6;
		n = p + leaf;
		sz = MB_RS_LEAF_BITS;
		if (from % MB_RS_LEAF_BITS == 0) {
			if (MB_UNLIKELY(t[n].pre == MB_RS_LEAF_BITS) &&
			    mb_test_bit(grp->bb_bitmap, from))
				mb_rs_unlazy_slow(t, n);
			st = from;
			uint32_t up = (uint32_t)__builtin_ctzll(n); /* up while a left child */

			n >>= up;
			sz <<= up;
			goto node;
		}
		/* from's unlazy test: a walk's first leaf, from a used block
		   (see mb_rs_unlazy_slow).  The measure's restarts come after
		   a run that ends at from, inside its leaf: that leaf holds
		   free blocks, never hidden -- no test */
		if (!measure && (grp->bb_bitmap[wi] | ((1ULL << (from & 63)) - 1)) == ~0ULL &&
		    MB_UNLIKELY(t[n].pre == MB_RS_LEAF_BITS) && t[n].cnt == 1)
			mb_rs_unlazy_slow(t, n);
	}
cont: /* from inside leaf `leaf`, not at its start, word wi: the leaf's
	 words from from on */
	{
		const uint32_t wend = (leaf + 1) * MB_RS_LEAF_WORDS;

		/* from < bpg: its word lies in the bitmap; the blocks before
		   from read as used */
		if (mb_rs_long_words_u(grp->bb_bitmap, wi,
				       grp->bb_bitmap[wi] | ((1ULL << (from & 63)) - 1),
				       wend < vol->bitmap_words ? wend : vol->bitmap_words, wend,
				       want, &c, &at, &e, &open))
			goto words;
		n = p + leaf;
		sz = MB_RS_LEAF_BITS;
		st = leaf * MB_RS_LEAF_BITS;
		goto next;
	}
node:
	for (;;) {
		struct mb_rs x = t[n];

		if (c + x.pre >= want) {
			at = st - c;
			e = st + x.pre;
			if (x.pre == sz)
				goto end;
			goto inside;
		}
		if (x.max >= want) {
			if (t[n].cnt != 1u + (x.pre != 0))
				goto down;
			/* its one run past its prefix is its max: no descent */
			at = st + t[n].at;
			e = at + x.max;
			if (e - st == sz)
				goto end;
			goto alone;
		}
		c = (x.pre == sz ? c : 0) + x.suf; /* all free: the open run goes on */
next:
		st += sz;
		uint32_t up = (uint32_t)__builtin_ctzll(~n); /* up while a right child */

		n >>= up;
		sz <<= up;
		if (!n)
			goto none;
		n++;
		continue;
down:
		if (n < p) { /* its left child next */
			n *= 2;
			sz /= 2;
			continue;
		}
		{
			/* the leaf's first run of want starts at its first max
			   (a) or before: its words up to a's (as
			   mb_rs_long_walk_as's, but a's word read whole: a run
			   found there is that one or one before it), else the
			   max is the run -- its words and its end's
			   mb_rs_run_end spared.  After the two below:
			   cell:aged50:100:zero:20 2535 -> 2503,
			   cell:aged90:100:zero:20 2089 -> 2086, but
			   aging:triangle 2064 -> 2065, and the cells whose
			   scans all take the tail run (no walk: GCC's
			   registers for it moved) cell:empty:100:rand:20 1424
			   -> 1428, cell:empty:1000:rand:20 1728 -> 1732 */
			const uint32_t a = st + t[n].at;

			if (mb_rs_long_words(vol, grp, (n - p) * MB_RS_LEAF_WORDS, (a >> 6) + 1,
					     want, &c, &at, &e, &open))
				goto words;
			at = a;
			e = a + x.max;
			open = e - st == MB_RS_LEAF_BITS;
			goto words;
		}
	}
end:
	/* node n is all free, the run goes on past it: the nodes after it
	   place its end (as mb_rs_long_walk_as) */
	for (;;) {
		uint32_t up = (uint32_t)__builtin_ctzll(~n);

		n >>= up;
		sz <<= up;
		if (!n) { /* the run reaches the tree's end */
			if (at < bpg)
				MB_RS_EMIT(at, e < bpg ? e : bpg);
			goto none;
		}
		n++;
		if (t[n].pre < sz)
			break;
		e += sz;
	}
	st = e;
	e += t[n].pre;
inside:
	/* the run ends at e inside node n (at st, sz blocks) */
	if (at >= bpg)
		goto none;
	MB_RS_EMIT(at, e < bpg ? e : bpg);
	if (e >= bpg)
		goto none;
	if (!measure && k == nmax) {
		*resume = e % MB_RS_LEAF_BITS < want ? e - e % MB_RS_LEAF_BITS : e;
		return k;
	}
	c = 0;
	if (t[n].max < want) { /* nothing more in n: its suffix is open */
		c = t[n].suf;
		goto next;
	}
	{
		/* n's runs past the one just named (its prefix, if any) */
		uint32_t rem = t[n].cnt - (t[n].pre != 0);

		if (!rem) /* none: nothing more in n */
			goto next;
		if (rem == 1 && t[n].at) { /* one, its max (not its prefix) */
			at = st + t[n].at;
			e = at + t[n].max;
			if (t[n].at + t[n].max == sz)
				goto end;
			goto alone;
		}
	}
	/* the restart's from, here alone: the runs named with no new walk
	   need none (aging:triangle 2485.3 -> 2479.7 instructions a call) */
	from = e % MB_RS_LEAF_BITS < want ? e - e % MB_RS_LEAF_BITS : e;
	goto restart;
alone:
	/* the run ends at e inside node n, which holds no other run */
	if (at >= bpg)
		goto none;
	MB_RS_EMIT(at, e < bpg ? e : bpg);
	if (e >= bpg)
		goto none;
	if (!measure && k == nmax) {
		*resume = e % MB_RS_LEAF_BITS < want ? e - e % MB_RS_LEAF_BITS : e;
		return k;
	}
	c = 0;
	goto next;
words:
	if (at >= bpg)
		goto none;
	e = open ? mb_rs_run_end(vol, grp, e) : e < bpg ? e : bpg;
	MB_RS_EMIT(at, e);
	if (e >= bpg)
		goto none;
	c = 0;
	if (measure && !open && e % MB_RS_LEAF_BITS >= want) {
		/* the run ended inside the word that named it, in the leaf
		   being read, want blocks or more past its start: the
		   restart's leaf and word known, no leaf-aligned test, and
		   no unlazy test (the leaf holds free blocks).  With the
		   restart's first word read in the words' loop (its blocks
		   before from read as used, not a word of its own):
		   cell:aged50:100:zero:20 2592 -> 2575 -> 2535,
		   cell:aged90:100:zero:20 2111 -> 2106 -> 2089 instructions
		   a call */
		from = e;
		leaf = e / MB_RS_LEAF_BITS;
		wi = e >> 6;
		goto cont;
	}
	from = e % MB_RS_LEAF_BITS < want ? e - e % MB_RS_LEAF_BITS : e;
	if (!measure && k == nmax) {
		*resume = from;
		return k;
	}
	goto restart;
none:
	if (measure)
		return MB_LONG_GO_ON;
	*resume = bpg;
	return k;
#undef MB_RS_EMIT
}

__attribute__((noinline)) uint32_t mb_runsum_long_runs_fresh(const struct mb_volume *vol,
							      struct mb_group *grp, uint32_t from,
							      uint32_t want, struct mb_runsum_run *runs,
							      uint32_t nmax, uint32_t *resume)
{
	return mb_rs_long_runs_as(vol, grp, from, want, runs, nmax, resume, NULL, false);
}

/*
 * The runs of the goal that a fresh root names alone, for
 * mb_runsum_long_measure_fresh: [*s1, *e1) then [*s2, *e2) (empty: s2 ==
 * e2), either of them shorter than the goal (measured as none), every
 * other run of the group short of it; the free count (bb_free) is the
 * bitmap's, as the tail's test there takes it.  Returns 0 when the root
 * says no run holds the goal (the walk's first test), 1 with the runs,
 * -1 when the root does not place them (the walk then).  Ends cut at bpg
 * (the tree's blocks past it).
 *  - the root's longest run leaving fewer than the goal's blocks to the
 *    others: it alone;
 *  - two runs (cnt 2), the second its suffix: the first is the longest
 *    when that is not the suffix, else its prefix, or else the run at the
 *    first free block (bb_first_free, a lower bound: when free there),
 *    its length the free count less the suffix's.
 * The harness's sequential cells, their groups a tail run and one hole
 * that a best piece past the first left behind:
 * cell:seq90:1000:zero:20 1538 -> 1497, cell:empty:100:zero:20 1418 ->
 * 1394, cell:seq90:100:rand:20 1518 -> 1471 instructions a call (the
 * one-run test alone: seq90:1000 1528).
 */
static inline __attribute__((always_inline)) int
mb_rs_long_root_runs(const struct mb_volume *vol, const struct mb_group *grp, uint32_t free,
		     uint32_t goal, uint32_t *s1, uint32_t *e1, uint32_t *s2, uint32_t *e2)
{
	const struct mb_rs *t = mb_runsum_tree(vol, grp);
	const uint32_t bpg = vol->bpg, size = mb_rs_leaves(vol) * MB_RS_LEAF_BITS;
	const uint32_t at = t[1].at, max = t[1].max;

	if (max < goal)
		return 0;
	if (at >= bpg)
		return -1;
	uint32_t e = at + max < bpg ? at + max : bpg;

	/* the others' blocks: free less the run's (a free count short of
	   it, corrupt, wraps: no answer here) */
	if (free - (e - at) < goal) {
		*s1 = at;
		*e1 = e;
		return 1;
	}
	uint32_t suf = t[1].suf;

	if (t[1].cnt != 2 || !suf || size - suf >= bpg)
		return -1;
	*s2 = size - suf;
	if (at + max != size) { /* the longest is the first run */
		*s1 = at;
		*e1 = e;
		return 1;
	}
	if (t[1].pre) {
		*s1 = 0;
		*e1 = t[1].pre;
		return 1;
	}
	uint32_t f = grp->bb_first_free, l = free - (bpg - *s2);

	if (f >= *s2 || mb_test_bit(grp->bb_bitmap, f) || l - 1 >= *s2 - f - 1)
		return -1; /* not the first run's start, or counts that disagree */
	*s1 = f;
	*e1 = f + l;
	return 1;
}

/*
 * The long scan of a whole group from bb_first_free in a tree all fresh
 * (mb_runsum_long_begin true since), its measures taken in the walk
 * (m: see struct mb_long_scan): the walk of mb_runsum_long_runs_fresh, a
 * run measured where it named it.  Returns how it ended (enum
 * mb_long_end), m's counts as measured to there.  Inline in its caller
 * (alloc.c's mb_scan_long_runs_fresh, through LTO): m's fields then live
 * in registers, not in a struct each run reads and writes, and one frame
 * (out of line: aging:triangle 2402 instructions a call, inline 2359).
 */
inline __attribute__((always_inline)) int mb_runsum_long_measure_fresh(const struct mb_volume *vol,
							   struct mb_group *grp,
							   struct mb_long_scan *m)
{
	const uint32_t from = grp->bb_first_free, bpg = vol->bpg, goal = m->goal;
	uint32_t s1, e1, s2 = bpg, e2 = bpg; /* the root's runs, in order */

	/* the group's free blocks all past its first free one (a lower
	   bound of the first: buddy.c): one run to the group's end, the
	   walk's only run when it holds the goal (as the root's max says) --
	   measured with no walk, its rising pieces in bulk.  The harness's
	   empty and sequential cells: cell:empty:100:rand:20 1698 -> 1557,
	   cell:empty:1000:rand:20 1824 -> 1708, cell:empty:100:zero:20 1574 ->
	   1530 instructions a call (the rising pieces alone: 1698 -> 1654) */
	if (m->free == bpg - from) {
		if (m->free < goal)
			return MB_LONG_GO_ON;
		*mb_rs_walked(mb_runsum_tree(vol, grp)) = 1;
		return mb_long_measure_run(m, from, bpg, true);
	}
	/* the root's runs in a group of two runs or one (the counter a hint
	   alone: the root decides); more, the walk at once -- the aged
	   cells' groups, whose roots seldom place their runs
	   (cell:aged50:100:zero:20 2499 -> 2508 instructions a call for the
	   root's tests, 2501 so; aging:triangle 2053 -> 2040) */
	int r = grp->bb_fragments <= 2
			? mb_rs_long_root_runs(vol, grp, m->free, goal, &s1, &e1, &s2, &e2)
			: -1;

	if (r < 0)
		return (int)mb_rs_long_runs_as(vol, grp, from, goal, NULL, 0, NULL, m, true);
	if (!r)
		return MB_LONG_GO_ON;
	*mb_rs_walked(mb_runsum_tree(vol, grp)) = 1;
	/* each run of the goal, as the walk would name it (the tail's
	   measure kept apart: its runs in this loop cost
	   cell:empty:1000:rand:20 1589 -> 1611 instructions a call) */
	for (;;) {
		if (e1 - s1 >= goal) {
			int v = mb_long_measure_run(m, s1, e1, true);

			if (v)
				return v;
		}
		if (s2 >= e2)
			return MB_LONG_GO_ON;
		s1 = s2;
		e1 = e2;
		s2 = e2;
	}
}

uint32_t mb_runsum_next_long_end(const struct mb_volume *vol, struct mb_group *grp,
				 uint32_t from, uint32_t len, uint32_t *end)
{
	return mb_rs_next_long_end_as(vol, grp, from, len, end, false);
}

/*
 * The same in a tree all fresh (mb_runsum_long_begin true since), its walk
 * inline in the caller's loop (mb_scan_long_runs_locked's): out of line
 * the walk paid a frame of six saved registers, 2.2 walks a call in
 * aging:triangle.
 */
inline __attribute__((always_inline)) uint32_t
mb_runsum_next_long_end_fresh(const struct mb_volume *vol, struct mb_group *grp, uint32_t from,
			      uint32_t len, uint32_t *end)
{
	return mb_rs_next_long_end_as(vol, grp, from, len, end, true);
}
