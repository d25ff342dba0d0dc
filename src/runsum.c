/* SPDX-License-Identifier: MIT */
/*
 * runsum.c - a group's free-run tree, so the complex scan (alloc.c) can
 * jump over free runs instead of walking its bitmap one run at a time.
 *
 * The tree is a segment tree over the in-core bitmap (bb_bitmap) with a
 * leaf per 512 blocks.  Each node summarizes its range: the free blocks
 * at its start (pre) and end (suf), its longest free stretch (max), and how
 * many free runs start in it (cnt, counting a run that enters from the left
 * as not starting here).  It answers, from any block i taken as the start
 * of a run (the scan resumes inside a run after a partial measure):
 *  - the first run of at least L blocks (mb_runsum_next_long);
 *  - how many runs, and the longest, lie in [i, j) (mb_runsum_range);
 *  - where the k-th run starts (mb_runsum_kth).
 * in O(log) nodes plus a few words.  With them the scan reproduces exactly
 * the runs ext4's walk would skip, count and measure.  Every change of the
 * bitmap goes through buddy.c, which rebuilds the touched leaves and their
 * ancestors (mb_runsum_update_locked), lazily: at the next query.
 *
 * Storage: 2 * leaves nodes of 16 bytes behind the group's buddy, in the
 * derived buffer group.c allocates (and may drop: gcache.c) (about 6% of a group's bitmap memory).
 *
 * Locking: everything here needs the group's bb_lock.
 */
#include "alloc_ctx.h"
#include "percpu.h"

#define MB_RS_LEAF_WORDS 8u
#define MB_RS_LEAF_BITS (64u * MB_RS_LEAF_WORDS)
#define MB_RS_NONE UINT32_MAX
#define MB_RS_STALE UINT32_MAX /* in cnt: recompute before use */

/* Leaves, a power of two so that node n's children are 2n and 2n+1. */
static uint32_t mb_rs_leaves(const struct mb_volume *vol)
{
	uint32_t need = (vol->bitmap_words + MB_RS_LEAF_WORDS - 1) / MB_RS_LEAF_WORDS;

	return need <= 1 ? 1 : 1u << (32 - __builtin_clz(need - 1));
}

size_t mb_runsum_words(const struct mb_volume *vol)
{
	return 2 * (size_t)mb_rs_leaves(vol) * sizeof(struct mb_rs) / sizeof(uint64_t);
}

/* Must match the layout of the derived buffer (group.c): after the buddy. */
struct mb_rs *mb_runsum_tree(const struct mb_volume *vol, const struct mb_group *grp)
{
	return (struct mb_rs *)(grp->bb_buddy + vol->buddy_words);
}

/* Population count without a libgcc call (no -mpopcnt in portable builds). */
static inline uint32_t mb_rs_popcount(uint64_t x)
{
	x -= (x >> 1) & 0x5555555555555555ULL;
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (uint32_t)((x * 0x0101010101010101ULL) >> 56);
}

/* Free-block mask of word w; words past the bitmap are used. */
static inline uint64_t mb_rs_free(const struct mb_volume *vol, const struct mb_group *grp,
				  uint32_t w)
{
	return w < vol->bitmap_words ? ~grp->bb_bitmap[w] : 0;
}

/* Length of the free run at bit x of z (bit x free); runs end at bit 63. */
static inline uint32_t mb_rs_run_at(uint64_t z, uint32_t x)
{
	uint64_t inv = ~(z >> x); /* zeros shifted in: never all ones past x = 0 */

	return inv ? (uint32_t)__builtin_ctzll(inv) : 64;
}

static struct mb_rs mb_rs_word(uint64_t z)
{
	struct mb_rs r = {0, 0, 0, 0};

	if (!z)
		return r;
	if (z == ~0ULL)
		return (struct mb_rs){64, 64, 64, 1};
	r.pre = (uint32_t)__builtin_ctzll(~z);
	r.suf = (uint32_t)__builtin_clzll(~z);
	r.cnt = mb_rs_popcount(z & ~(z << 1));
	for (uint32_t x = 0; x < 64;) {
		uint64_t rest = z >> x;

		if (!rest)
			break;
		x += (uint32_t)__builtin_ctzll(rest);
		uint32_t l = mb_rs_run_at(z, x);

		if (l > r.max)
			r.max = l;
		x += l;
	}
	return r;
}

/* The summary of range A (na blocks) followed by range B (nb blocks). */
static inline struct mb_rs mb_rs_join(struct mb_rs a, uint32_t na, struct mb_rs b, uint32_t nb)
{
	struct mb_rs r;
	uint32_t mid = a.suf + b.pre;

	r.pre = a.pre == na ? na + b.pre : a.pre;
	r.suf = b.suf == nb ? nb + a.suf : b.suf;
	r.max = a.max > b.max ? a.max : b.max;
	if (mid > r.max)
		r.max = mid;
	r.cnt = a.cnt + b.cnt - (a.suf && b.pre);
	return r;
}

static struct mb_rs mb_rs_leaf(const struct mb_volume *vol, const struct mb_group *grp,
			       uint32_t leaf)
{
	uint32_t w0 = leaf * MB_RS_LEAF_WORDS;
	struct mb_rs r = mb_rs_word(mb_rs_free(vol, grp, w0));

	for (uint32_t k = 1; k < MB_RS_LEAF_WORDS; k++)
		r = mb_rs_join(r, 64 * k, mb_rs_word(mb_rs_free(vol, grp, w0 + k)), 64);
	return r;
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
}

void mb_runsum_build_locked(const struct mb_volume *vol, struct mb_group *grp)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);
	uint32_t p = mb_rs_leaves(vol);

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
 * ancestor, are marked stale (cnt = MB_RS_STALE) and recomputed by the
 * next query (mb_runsum_flush_locked).  A stale node's ancestors are all
 * stale, so the marking stops at the first one already marked: a group
 * allocated from many times between two scans pays for one refresh.
 */
void mb_runsum_update_locked(const struct mb_volume *vol, struct mb_group *grp, uint32_t start,
			     uint32_t len)
{
	struct mb_rs *t = mb_runsum_tree(vol, grp);
	uint32_t p = mb_rs_leaves(vol);
	uint32_t lo = start / MB_RS_LEAF_BITS, hi = (start + len - 1) / MB_RS_LEAF_BITS;

	assert(len && hi < p);
	for (uint32_t l = lo; l <= hi; l++)
		for (uint32_t n = p + l; n && t[n].cnt != MB_RS_STALE; n >>= 1)
			t[n].cnt = MB_RS_STALE;
}

static void mb_rs_flush_node(const struct mb_volume *vol, struct mb_group *grp, struct mb_rs *t,
			     uint32_t p, uint32_t n, uint32_t size)
{
	if (t[n].cnt != MB_RS_STALE)
		return;
	if (n >= p) {
		t[n] = mb_rs_leaf(vol, grp, n - p);
		return;
	}
	mb_rs_flush_node(vol, grp, t, p, 2 * n, size / 2);
	mb_rs_flush_node(vol, grp, t, p, 2 * n + 1, size / 2);
	t[n] = mb_rs_join(t[2 * n], size / 2, t[2 * n + 1], size / 2);
}

/* Recomputes the stale nodes: the tree then matches a fresh build. */
void mb_runsum_flush_locked(const struct mb_volume *vol, struct mb_group *grp)
{
	uint32_t p = mb_rs_leaves(vol);

	mb_rs_flush_node(vol, grp, mb_runsum_tree(vol, grp), p, 1, p * MB_RS_LEAF_BITS);
}

/* ------------------------------------------------------------------------ */
/* Walking the pieces of a range in order                                    */
/* ------------------------------------------------------------------------ */

enum { MB_RS_LONG, MB_RS_KTH, MB_RS_SUM };

/*
 * One in-order walk over [a, b): partial words at either end, whole nodes
 * between.  Each piece is either absorbed whole (its summary folded into
 * the walk's state) or, when the answer lies inside it, descended into
 * down to the bit.  The block before a is taken as used.
 */
struct mb_rs_walk {
	int mode;
	uint32_t want;  /* LONG: run length; KTH: run number (1-based) */
	uint32_t c, s;  /* LONG: free run open at the cursor, from block s */
	uint32_t runs;  /* KTH: runs started so far */
	bool prev_free; /* KTH: the block before the cursor is free */
	struct mb_rs acc; /* SUM: summary so far, of acc_n blocks */
	uint32_t acc_n;
	uint32_t found; /* the answer, MB_RS_NONE until known */
};

/* New runs piece x starts, given what precedes it. */
static inline uint32_t mb_rs_new_runs(const struct mb_rs_walk *w, const struct mb_rs *x)
{
	return x->cnt - (w->prev_free && x->pre);
}

/* Does the answer lie inside x?  (LONG may answer at once: w->found.) */
static bool mb_rs_inside(struct mb_rs_walk *w, const struct mb_rs *x, uint32_t start)
{
	switch (w->mode) {
	case MB_RS_LONG:
		if (w->c + x->pre >= w->want && w->c + x->pre) {
			w->found = w->c ? w->s : start;
			return false;
		}
		return x->max >= w->want;
	case MB_RS_KTH:
		return w->runs + mb_rs_new_runs(w, x) >= w->want;
	default:
		return false;
	}
}

static void mb_rs_absorb(struct mb_rs_walk *w, const struct mb_rs *x, uint32_t size,
			 uint32_t start)
{
	switch (w->mode) {
	case MB_RS_LONG:
		if (x->pre == size) {
			if (!w->c)
				w->s = start;
			w->c += size;
		} else {
			w->c = x->suf;
			w->s = start + size - x->suf;
		}
		break;
	case MB_RS_KTH:
		w->runs += mb_rs_new_runs(w, x);
		w->prev_free = x->suf > 0;
		break;
	default:
		w->acc = w->acc_n ? mb_rs_join(w->acc, w->acc_n, *x, size) : *x;
		w->acc_n += size;
	}
}

/* The answer is inside the word z at `start`: find its bit. */
static void mb_rs_resolve_word(struct mb_rs_walk *w, uint64_t z, uint32_t start)
{
	if (w->mode == MB_RS_KTH) {
		uint64_t starts = z & ~((z << 1) | (uint64_t)w->prev_free);

		for (uint32_t k = w->want - w->runs; k > 1; k--)
			starts &= starts - 1;
		w->found = start + (uint32_t)__builtin_ctzll(starts);
		return;
	}
	for (uint32_t x = 0; x < 64;) {
		uint64_t rest = z >> x;

		if (!rest)
			break;
		x += (uint32_t)__builtin_ctzll(rest);
		uint32_t l = mb_rs_run_at(z, x);
		bool joined = x == 0 && w->c;
		uint32_t len = joined ? w->c + l : l;

		if (len >= w->want) {
			w->found = joined ? w->s : start + x;
			return;
		}
		x += l;
	}
	assert(0); /* mb_rs_inside said the run was here */
}

static void mb_rs_piece_word(struct mb_rs_walk *w, uint64_t z, uint32_t start)
{
	struct mb_rs x = mb_rs_word(z);

	if (mb_rs_inside(w, &x, start))
		mb_rs_resolve_word(w, z, start);
	else if (w->found == MB_RS_NONE)
		mb_rs_absorb(w, &x, 64, start);
}

/* Whole node n (size blocks from start). */
static void mb_rs_piece_node(struct mb_rs_walk *w, const struct mb_volume *vol,
			     const struct mb_group *grp, uint32_t n, uint32_t size, uint32_t start)
{
	const struct mb_rs *t = mb_runsum_tree(vol, grp);
	uint32_t p = mb_rs_leaves(vol);

	if (!mb_rs_inside(w, &t[n], start)) {
		if (w->found == MB_RS_NONE)
			mb_rs_absorb(w, &t[n], size, start);
		return;
	}
	if (n >= p) { /* a leaf: its words */
		uint32_t w0 = (n - p) * MB_RS_LEAF_WORDS;

		for (uint32_t k = 0; k < MB_RS_LEAF_WORDS && w->found == MB_RS_NONE; k++)
			mb_rs_piece_word(w, mb_rs_free(vol, grp, w0 + k), start + 64 * k);
		return;
	}
	mb_rs_piece_node(w, vol, grp, 2 * n, size / 2, start);
	if (w->found == MB_RS_NONE)
		mb_rs_piece_node(w, vol, grp, 2 * n + 1, size / 2, start + size / 2);
}

/* Words [a, b) one at a time, bits outside the range taken as used. */
static void mb_rs_words(struct mb_rs_walk *w, const struct mb_volume *vol,
			const struct mb_group *grp, uint32_t a, uint32_t b)
{
	while (a < b && w->found == MB_RS_NONE) {
		uint32_t wi = a >> 6, end = (wi + 1) << 6;
		uint64_t z = mb_rs_free(vol, grp, wi) & (~0ULL << (a & 63));

		if (b < end)
			z &= ~(~0ULL << (b & 63));
		mb_rs_piece_word(w, z, wi << 6);
		a = end;
	}
}

static void mb_rs_walk_range(struct mb_rs_walk *w, const struct mb_volume *vol,
			     const struct mb_group *grp, uint32_t a, uint32_t b)
{
	/* every block before bb_first_free is used: start at a leaf edge then,
	   so that a walk over the whole group is its root alone */
	if (a <= grp->bb_first_free)
		a = 0;
	uint32_t p = mb_rs_leaves(vol);

	if (!a && b >= p * MB_RS_LEAF_BITS) {
		mb_rs_piece_node(w, vol, grp, 1, p * MB_RS_LEAF_BITS, 0);
		return;
	}
	uint32_t la = (a + MB_RS_LEAF_BITS - 1) / MB_RS_LEAF_BITS, lb = b / MB_RS_LEAF_BITS;

	if (la >= lb) { /* no whole leaf */
		mb_rs_words(w, vol, grp, a, b);
		return;
	}
	mb_rs_words(w, vol, grp, a, la * MB_RS_LEAF_BITS);
	/* the canonical nodes of leaves [la, lb), left to right */
	uint32_t right[64], nr = 0, lvl_r[64];
	uint32_t l = la + p, r = lb + p, lvl = 0;

	while (l < r && w->found == MB_RS_NONE) {
		if (l & 1) {
			uint32_t start = ((l << lvl) - p) * MB_RS_LEAF_BITS;

			mb_rs_piece_node(w, vol, grp, l, MB_RS_LEAF_BITS << lvl, start);
			l++;
		}
		if (r & 1) {
			r--;
			right[nr] = r;
			lvl_r[nr++] = lvl;
		}
		l >>= 1;
		r >>= 1;
		lvl++;
	}
	while (nr && w->found == MB_RS_NONE) {
		nr--;
		uint32_t start = ((right[nr] << lvl_r[nr]) - p) * MB_RS_LEAF_BITS;

		mb_rs_piece_node(w, vol, grp, right[nr], MB_RS_LEAF_BITS << lvl_r[nr], start);
	}
	mb_rs_words(w, vol, grp, lb * MB_RS_LEAF_BITS, b);
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * The first block p >= from that starts a free run of at least len blocks,
 * block from counting as a run start; vol->bpg if none.
 */
uint32_t mb_runsum_next_long(const struct mb_volume *vol, struct mb_group *grp, uint32_t from,
			     uint32_t len)
{
	struct mb_rs_walk w = {.mode = MB_RS_LONG, .want = len, .found = MB_RS_NONE};

	assert(len);
	if (from >= vol->bpg)
		return vol->bpg;
	mb_runsum_flush_locked(vol, grp);
	mb_rs_walk_range(&w, vol, grp, from, vol->bpg);
	if (w.found == MB_RS_NONE && w.c >= len)
		w.found = w.s;
	return w.found < vol->bpg ? w.found : vol->bpg;
}

/* How many free runs start in [a, b) (block a counting as a start), and the longest. */
void mb_runsum_range(const struct mb_volume *vol, struct mb_group *grp, uint32_t a, uint32_t b,
		     uint32_t *runs, uint32_t *longest)
{
	struct mb_rs_walk w = {.mode = MB_RS_SUM, .found = MB_RS_NONE};

	*runs = *longest = 0;
	if (a >= b)
		return;
	mb_runsum_flush_locked(vol, grp);
	mb_rs_walk_range(&w, vol, grp, a, b);
	*runs = w.acc.cnt;
	*longest = w.acc.max;
}

/* Where the k-th free run (k >= 1) from block a starts; vol->bpg if fewer. */
uint32_t mb_runsum_kth(const struct mb_volume *vol, struct mb_group *grp, uint32_t a, uint32_t k)
{
	struct mb_rs_walk w = {.mode = MB_RS_KTH, .want = k, .found = MB_RS_NONE};

	assert(k);
	if (a >= vol->bpg)
		return vol->bpg;
	mb_runsum_flush_locked(vol, grp);
	mb_rs_walk_range(&w, vol, grp, a, vol->bpg);
	return w.found < vol->bpg ? w.found : vol->bpg;
}
