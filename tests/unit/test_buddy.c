/* SPDX-License-Identifier: MIT */
/*
 * test_buddy.c - the buddy bitmap against an independent model, over every
 * geometry in mb_test_geos:
 *   (a) mb_buddy_build / mb_buddy_generate == a naive pairwise-merging
 *       builder, on KUnit-style random bitmaps (8 slices, one range each)
 *       and on random bit soups;
 *   (b) incremental mb_buddy_mark_used / mb_buddy_free == a fresh rebuild,
 *       bit for bit, after every operation (and a double free changes
 *       nothing);
 *   (c) the invariants of design section 1.3 on every buddy we see;
 *   (d) mb_buddy_find_extent == a walk over the naive maximal chunks, and
 *       mb_buddy_order_fast (word ops) == the plain buddy walk.
 * The model knows only the definition: chunk (k, i) covers blocks
 * [i*2^k, (i+1)*2^k) and is "free and maximal" when it is wholly free and
 * its parent chunk (k+1, i/2) is not (or does not exist).
 */
#include <string.h>

#include "harness.h"
#include "mb_test_int.h"
#include "runsum_model.h"

/* ------------------------------------------------------------------------ */
/* The naive model                                                           */
/* ------------------------------------------------------------------------ */

struct naive {
	uint32_t bpg;
	int max_order;
	uint32_t nchunks[MB_MAX_ORDERS]; /* chunks of order k: bpg >> k */
	uint8_t *whole[MB_MAX_ORDERS];	 /* chunk (k, i) wholly free */
	uint32_t counters[MB_MAX_ORDERS];
	uint32_t free, frags, first;
	int largest, avg, free_order; /* free_order: ilog2(free) capped, -1 none */
};

/* ext4's buddy: orders up to log2(bpg), capped at blocksize_bits + 1 (rule 4) */
static void naive_init(struct naive *n, uint32_t bpg, uint32_t block_size)
{
	int cap = 1;

	while ((1u << cap) < block_size)
		cap++;
	memset(n, 0, sizeof(*n));
	n->bpg = bpg;
	while ((2ULL << n->max_order) <= bpg && n->max_order < cap + 1)
		n->max_order++;
	for (int k = 0; k <= n->max_order; k++) {
		n->nchunks[k] = bpg >> k;
		n->whole[k] = calloc(n->nchunks[k] ? n->nchunks[k] : 1, 1);
	}
}

static void naive_destroy(struct naive *n)
{
	for (int k = 0; k <= n->max_order; k++)
		free(n->whole[k]);
}

static bool naive_maximal(const struct naive *n, int k, uint32_t i)
{
	if (i >= n->nchunks[k] || !n->whole[k][i])
		return false;
	if (k == n->max_order || (i >> 1) >= n->nchunks[k + 1])
		return true;
	return !n->whole[k + 1][i >> 1];
}

/* Builds the model from an order-0 bitmap (bit set = used). */
static void naive_build(struct naive *n, const uint64_t *bitmap)
{
	memset(n->counters, 0, sizeof(n->counters));
	n->free = n->frags = 0;
	n->first = n->bpg;
	for (uint32_t i = 0; i < n->bpg; i++) {
		bool f = !((bitmap[i / 64] >> (i % 64)) & 1);

		n->whole[0][i] = f;
		n->free += f;
		if (f && n->first == n->bpg)
			n->first = i;
		if (f && (i == 0 || !n->whole[0][i - 1]))
			n->frags++;
	}
	for (int k = 1; k <= n->max_order; k++)
		for (uint32_t i = 0; i < n->nchunks[k]; i++)
			n->whole[k][i] = n->whole[k - 1][2 * i] && n->whole[k - 1][2 * i + 1];
	n->largest = -1;
	for (int k = 0; k <= n->max_order; k++) {
		for (uint32_t i = 0; i < n->nchunks[k]; i++)
			n->counters[k] += naive_maximal(n, k, i);
		if (n->counters[k])
			n->largest = k;
	}
	n->avg = -1;
	n->free_order = -1;
	if (n->frags) {
		uint32_t a = n->free / n->frags;

		n->avg = 0;
		while (n->avg < n->max_order && (2u << n->avg) <= a)
			n->avg++;
		n->free_order = 0;
		while (n->free_order < n->max_order && (2u << n->free_order) <= n->free)
			n->free_order++;
	}
}

/* Order of the maximal free chunk holding free block b. */
static int naive_order_of(const struct naive *n, uint32_t b)
{
	for (int k = 0; k <= n->max_order; k++)
		if (naive_maximal(n, k, b >> k))
			return k;
	return -1;
}

/* mb_find_extent by definition: whole maximal chunks until `needed`. */
static uint32_t naive_find_extent(const struct naive *n, uint32_t b, uint32_t needed)
{
	if (!n->whole[0][b])
		return 0;
	int k = naive_order_of(n, b);
	uint32_t next = ((b >> k) + 1) << k, len = next - b;

	while (len < needed && next < n->bpg && n->whole[0][next]) {
		k = naive_order_of(n, next);
		len += 1u << k;
		next += 1u << k;
	}
	return len;
}

/* ------------------------------------------------------------------------ */
/* Comparing a buddy with the model                                          */
/* ------------------------------------------------------------------------ */

/* Orders 1..MB_BUDDY_DERIVED are read off the bitmap (buddy.c). */
static bool buddy_bit(const struct mb_volume *vol, const uint64_t *bitmap, uint64_t *buddy, int k,
		      uint32_t i)
{
	return mb_buddy_bit(vol, bitmap, buddy, k, i);
}

/* Every buddy bit of orders >= 1 is 0 exactly for naive maximal chunks. */
static bool compare_buddy(const struct mb_volume *vol, const uint64_t *bitmap, uint64_t *buddy,
			  const struct naive *n, const char *what)
{
	for (int k = 1; k <= n->max_order; k++) {
		for (uint32_t i = 0; i < n->nchunks[k]; i++) {
			if (buddy_bit(vol, bitmap, buddy, k, i) == !naive_maximal(n, k, i))
				continue;
			mb_test_fail(__FILE__, __LINE__,
				     "%s: buddy bit (%d, %u) is %d, model says %d", what, k, i,
				     buddy_bit(vol, bitmap, buddy, k, i), !naive_maximal(n, k, i));
			return false;
		}
	}
	return true;
}

static bool compare_counters(const uint32_t *counters, uint32_t free, uint32_t frags,
			     uint32_t first, const struct naive *n, const char *what)
{
	for (int k = 0; k < MB_MAX_ORDERS; k++) {
		if (counters[k] != n->counters[k]) {
			mb_test_fail(__FILE__, __LINE__, "%s: counters[%d] %u, model %u", what, k,
				     counters[k], n->counters[k]);
			return false;
		}
	}
	if (free != n->free || frags != n->frags || first != n->first) {
		mb_test_fail(__FILE__, __LINE__, "%s: free/frags/first %u/%u/%u, model %u/%u/%u",
			     what, free, frags, first, n->free, n->frags, n->first);
		return false;
	}
	return true;
}

/*
 * Design section 1.3: a 0 at (k, i) means 1s at (k-1, 2i) and (k-1, 2i+1)
 * (for k >= 2) and every covered block free; counters[k] counts the 0s of
 * order k; the 0s cover each free block exactly once (order-0 chunks are
 * the free blocks no higher 0 covers); free = sum of counters[k] << k.
 */
static bool check_invariants(const struct mb_volume *vol, const uint64_t *bitmap, uint64_t *buddy,
			     const uint32_t *counters, uint32_t nfree)
{
	uint32_t bpg = vol->bpg, *cover = calloc(bpg, sizeof(uint32_t)), c0 = 0;
	uint64_t sum = 0;
	bool ok = true;

	for (int k = 1; k <= vol->max_order && ok; k++) {
		uint32_t zeros = 0;

		for (uint32_t i = 0; i < (bpg >> k) && ok; i++) {
			if (buddy_bit(vol, bitmap, buddy, k, i))
				continue;
			zeros++;
			if (k >= 2 && (!buddy_bit(vol, bitmap, buddy, k - 1, 2 * i) ||
				       !buddy_bit(vol, bitmap, buddy, k - 1, 2 * i + 1)))
				ok = false;
			for (uint32_t b = i << k; b < (i + 1) << k; b++) {
				ok &= !mb_test_bit(bitmap, b);
				cover[b]++;
			}
		}
		ok &= zeros == counters[k];
		sum += (uint64_t)counters[k] << k;
	}
	for (uint32_t b = 0; b < bpg && ok; b++) {
		ok &= cover[b] <= 1;
		c0 += !mb_test_bit(bitmap, b) && !cover[b];
	}
	free(cover);
	if (!ok || c0 != counters[0] || sum + counters[0] != nfree) {
		mb_test_fail(__FILE__, __LINE__,
			     "buddy invariants broken (order-0 chunks %u/%u, sum %llu, free %u)",
			     c0, counters[0], (unsigned long long)(sum + counters[0]), nfree);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* Random bitmaps                                                            */
/* ------------------------------------------------------------------------ */

/* Padding past the group's end is used, as in the library's bitmaps. */
static void set_padding(const struct mb_volume *vol, uint64_t *bitmap, uint32_t bb_len)
{
	for (uint32_t b = bb_len; b < vol->bitmap_words * 64; b++)
		bitmap[b / 64] |= 1ULL << (b % 64);
}

static void set_range(uint64_t *bitmap, uint32_t start, uint32_t len, bool used)
{
	for (uint32_t b = start; b < start + len; b++) {
		if (used)
			bitmap[b / 64] |= 1ULL << (b % 64);
		else
			bitmap[b / 64] &= ~(1ULL << (b % 64));
	}
}

/* KUnit: the group cut into 8 slices, one random range (maybe empty) in each. */
static void slice_ranges(uint64_t *rng, uint32_t bb_len, uint32_t *start, uint32_t *len)
{
	uint32_t slice = bb_len / 8;

	for (int s = 0; s < 8; s++) {
		uint32_t lo = s * slice, hi = s == 7 ? bb_len : lo + slice;

		start[s] = lo + (uint32_t)mb_rand_below(rng, hi - lo ? hi - lo : 1);
		len[s] = (uint32_t)mb_rand_below(rng, hi - start[s] + 1);
		if (start[s] >= hi)
			len[s] = 0;
	}
}

static void random_bitmap(uint64_t *rng, const struct mb_volume *vol, uint64_t *bitmap,
			  uint32_t bb_len)
{
	unsigned kind = (unsigned)mb_rand_below(rng, 4);
	uint32_t start[8], len[8];

	if (kind < 2) { /* ranges used on a free group, or freed on a full one */
		memset(bitmap, kind ? 0xff : 0, vol->bitmap_words * 8);
		slice_ranges(rng, bb_len, start, len);
		for (int s = 0; s < 8; s++)
			set_range(bitmap, start[s], len[s], !kind);
	} else {
		/* bit soup; kind 3 runs of random length */
		uint32_t b = 0;

		while (b < bb_len) {
			uint32_t run = kind == 2 ? 1 : 1 + (uint32_t)mb_rand_below(rng, 300);

			run = run < bb_len - b ? run : bb_len - b;
			set_range(bitmap, b, run, mb_rand_below(rng, 2));
			b += run;
		}
	}
	set_padding(vol, bitmap, bb_len);
}

/* ------------------------------------------------------------------------ */
/* Per-geometry fixtures                                                     */
/* ------------------------------------------------------------------------ */

struct fixture {
	struct mb_volume *vol;
	struct naive n;
	uint64_t *bitmap, *buddy;
	const char *name;
};

static bool fixture_init_geo(struct fixture *f, const struct mb_test_geo *g)
{
	f->name = g->name;
	if (mb_volume_create(&g->geo, &f->vol))
		return false;
	naive_init(&f->n, f->vol->bpg, f->vol->geo.block_size);
	f->bitmap = calloc(f->vol->bitmap_words, sizeof(uint64_t));
	f->buddy = calloc(f->vol->buddy_words, sizeof(uint64_t));
	return f->bitmap && f->buddy && f->n.max_order == f->vol->max_order;
}

static bool fixture_init(struct fixture *f, int gi)
{
	return fixture_init_geo(f, &mb_test_geos[gi]);
}

static void fixture_destroy(struct fixture *f)
{
	naive_destroy(&f->n);
	free(f->bitmap);
	free(f->buddy);
	mb_volume_destroy(f->vol);
}

/* Rounds per geometry: about the same number of bits examined for each. */
static int rounds_for(const struct mb_volume *vol, int base)
{
	int r = (int)(base * 32768.0 / vol->bpg * mb_test_scale);

	return r < 2 ? 2 : r > 4 * base ? 4 * base : r;
}

/* Steps per round: every step re-checks the whole group, so fewer on big ones. */
static int steps_for(const struct mb_volume *vol, int base)
{
	int s = (int)(base * 65536.0 / vol->bpg * mb_test_scale);

	return s < 12 ? 12 : s > base ? base : s;
}

/* A random group, the short last one often: its padding matters. */
static mb_grp_t pick_group(uint64_t *rng, const struct mb_volume *vol)
{
	if (mb_rand_below(rng, 3) == 0)
		return vol->ngroups - 1;
	return (mb_grp_t)mb_rand_below(rng, vol->ngroups);
}

/* ------------------------------------------------------------------------ */
/* (a) build == model                                                        */
/* ------------------------------------------------------------------------ */

static bool check_build(struct fixture *f, uint64_t *rng, mb_grp_t g)
{
	struct mb_volume *vol = f->vol;
	struct mb_group *grp = mb_group_at(vol, g);
	struct mb_buddy_summary sum;
	bool ok;

	random_bitmap(rng, vol, f->bitmap, grp->bb_len);
	naive_build(&f->n, f->bitmap);
	mb_buddy_build(vol, f->bitmap, f->buddy, &sum);
	ok = compare_buddy(vol, f->bitmap, f->buddy, &f->n, f->name) &&
	     compare_counters(sum.counters, sum.free, sum.frags, sum.first, &f->n, f->name) &&
	     check_invariants(vol, f->bitmap, f->buddy, sum.counters, sum.free);
	if (!ok)
		return false;

	/* The same bitmap through a real group: its cached orders too. */
	mb_lock(&grp->bb_lock);
	ok = !mb_group_load_locked(vol, grp);
	memcpy(grp->bb_bitmap, f->bitmap, vol->bitmap_words * sizeof(uint64_t));
	mb_buddy_generate(vol, grp);
	ok = ok && !memcmp(grp->bb_buddy, f->buddy, vol->buddy_words * sizeof(uint64_t)) &&
	     compare_counters(grp->bb_counters, grp->bb_free, grp->bb_fragments, grp->bb_first_free,
			      &f->n, f->name) &&
	     grp->bb_largest_free_order == f->n.largest &&
	     grp->bb_avg_fragment_size_order == f->n.avg;
	mb_unlock(&grp->bb_lock);
	if (!ok && !mb_test_failed)
		mb_test_fail(__FILE__, __LINE__,
			     "%s group %u: generate differs (largest %d/%d avg %d/%d)", f->name, g,
			     grp->bb_largest_free_order, f->n.largest,
			     grp->bb_avg_fragment_size_order, f->n.avg);
	return ok;
}

TEST(generate_buddy_vs_naive)
{
	uint64_t rng = mb_test_seed;

	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct fixture f;

		ASSERT_TRUE(fixture_init(&f, gi));
		for (int r = rounds_for(f.vol, 60); r > 0 && !mb_test_failed; r--)
			check_build(&f, &rng, pick_group(&rng, f.vol));
		fixture_destroy(&f);
	}
}

/*
 * A bitmap for fast_build_equals_runs: the kinds of random_bitmap, plus
 * aligned power-of-two runs (high orders), aged tiles kept with a given
 * probability, all free and all used; sometimes junk past bpg (both builds
 * must ignore it).
 */
static void build_bitmap(uint64_t *rng, const struct mb_volume *vol, uint64_t *bitmap,
			 uint32_t bb_len)
{
	unsigned kind = (unsigned)mb_rand_below(rng, 7);

	if (kind < 4) {
		random_bitmap(rng, vol, bitmap, bb_len);
	} else if (kind == 4) { /* aligned chunks of random order, free or used */
		uint32_t b = 0;

		while (b < bb_len) {
			uint32_t k = (uint32_t)mb_rand_below(rng, (uint64_t)vol->max_order + 2);
			uint32_t run = 1u << k;

			run = run < bb_len - b ? run : bb_len - b;
			set_range(bitmap, b, run, mb_rand_below(rng, 2));
			b += run;
		}
		set_padding(vol, bitmap, bb_len);
	} else if (kind == 5) { /* aged: tiles of 1..64 blocks, each used with p% */
		uint32_t p = (uint32_t)mb_rand_below(rng, 101), b = 0;

		while (b < bb_len) {
			uint32_t run = 1 + (uint32_t)mb_rand_below(rng, 64);

			run = run < bb_len - b ? run : bb_len - b;
			set_range(bitmap, b, run, mb_rand_below(rng, 100) < p);
			b += run;
		}
		set_padding(vol, bitmap, bb_len);
	} else { /* all free or all used */
		memset(bitmap, mb_rand_below(rng, 2) ? 0xff : 0, vol->bitmap_words * 8);
		set_padding(vol, bitmap, bb_len);
	}
	if (mb_rand_below(rng, 4) == 0)
		for (uint32_t b = vol->bpg; b < vol->bitmap_words * 64; b++)
			if (mb_rand_below(rng, 2))
				bitmap[b / 64] &= ~(1ULL << (b % 64));
}

/*
 * The word-parallel mb_buddy_build against the run-by-run reference
 * (mb_buddy_build_runs) on random bitmaps of every geometry, the short last
 * group often: the same buddy words, counters, free, fragments, first free.
 * The fast build's buffer starts as junk: it must write every word.
 */
TEST(fast_build_equals_runs)
{
	uint64_t rng = mb_test_seed;

	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct fixture f;

		ASSERT_TRUE(fixture_init(&f, gi));
		uint64_t *ref = calloc(f.vol->buddy_words, sizeof(uint64_t));

		ASSERT_TRUE(ref != NULL);
		for (int r = rounds_for(f.vol, 400); r > 0 && !mb_test_failed; r--) {
			struct mb_group *grp = mb_group_at(f.vol, pick_group(&rng, f.vol));
			struct mb_buddy_summary fast, slow;

			build_bitmap(&rng, f.vol, f.bitmap, grp->bb_len);
			for (uint32_t w = 0; w < f.vol->buddy_words; w++)
				f.buddy[w] = mb_rand_next(&rng);
			memset(&fast, 0xa5, sizeof(fast));
			mb_buddy_build(f.vol, f.bitmap, f.buddy, &fast);
			mb_buddy_build_runs(f.vol, f.bitmap, ref, &slow);
			for (uint32_t w = 0; w < f.vol->buddy_words; w++)
				if (f.buddy[w] != ref[w]) {
					mb_test_fail(__FILE__, __LINE__,
						     "%s group %u: buddy word %u %016llx, runs %016llx",
						     f.name, mb_group_no(f.vol, grp), w,
						     (unsigned long long)f.buddy[w],
						     (unsigned long long)ref[w]);
					break;
				}
			for (int k = 0; k < MB_MAX_ORDERS && !mb_test_failed; k++)
				if (fast.counters[k] != slow.counters[k])
					mb_test_fail(__FILE__, __LINE__,
						     "%s: counters[%d] %u, runs %u", f.name, k,
						     fast.counters[k], slow.counters[k]);
			if (!mb_test_failed && (fast.free != slow.free || fast.frags != slow.frags ||
						fast.first != slow.first))
				mb_test_fail(__FILE__, __LINE__,
					     "%s: free/frags/first %u/%u/%u, runs %u/%u/%u", f.name,
					     fast.free, fast.frags, fast.first, slow.free, slow.frags,
					     slow.first);
		}
		free(ref);
		fixture_destroy(&f);
	}
}

/* Hand-made edge cases: all free, all used, one free block at each end. */
TEST(generate_buddy_edges)
{
	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct fixture f;
		struct mb_buddy_summary sum;
		uint32_t bpg;

		ASSERT_TRUE(fixture_init(&f, gi));
		bpg = f.vol->bpg;
		for (int c = 0; c < 4 && !mb_test_failed; c++) {
			memset(f.bitmap, c == 0 ? 0 : 0xff, f.vol->bitmap_words * 8);
			if (c == 2)
				set_range(f.bitmap, 0, 1, false);
			if (c == 3)
				set_range(f.bitmap, bpg - 1, 1, false);
			set_padding(f.vol, f.bitmap, bpg);
			naive_build(&f.n, f.bitmap);
			mb_buddy_build(f.vol, f.bitmap, f.buddy, &sum);
			if (!compare_buddy(f.vol, f.bitmap, f.buddy, &f.n, f.name) ||
			    !compare_counters(sum.counters, sum.free, sum.frags, sum.first, &f.n,
					      f.name))
				break;
		}
		/* A wholly free group is bpg >> max_order top chunks (ext4 caps
		   the order at blocksize_bits + 1) plus the rest of bpg's bits. */
		memset(f.bitmap, 0, f.vol->bitmap_words * 8);
		set_padding(f.vol, f.bitmap, bpg);
		mb_buddy_build(f.vol, f.bitmap, f.buddy, &sum);
		for (int k = 0; k < f.vol->max_order; k++)
			ASSERT_EQ_U64(sum.counters[k], (bpg >> k) & 1);
		ASSERT_EQ_U64(sum.counters[f.vol->max_order], bpg >> f.vol->max_order);
		fixture_destroy(&f);
	}
}

/* ------------------------------------------------------------------------ */
/* (b) incremental == rebuild                                                */
/* ------------------------------------------------------------------------ */

/* The group's state equals a fresh rebuild of its bitmap, and the model. */
static bool group_matches_rebuild(struct fixture *f, struct mb_group *grp, const char *op)
{
	struct mb_volume *vol = f->vol;
	struct mb_buddy_summary sum;

	mb_buddy_build(vol, grp->bb_bitmap, f->buddy, &sum);
	if (memcmp(f->buddy, grp->bb_buddy, vol->buddy_words * sizeof(uint64_t))) {
		mb_test_fail(__FILE__, __LINE__, "%s: after %s the buddy differs from a rebuild",
			     f->name, op);
		return false;
	}
	/* the free-run tree too (runsum.c): incremental == rebuilt */
	size_t tree_bytes = mb_runsum_words(vol) * sizeof(uint64_t);
	void *tree = malloc(tree_bytes);

	if (!tree)
		return false;
	mb_runsum_flush_locked(vol, grp); /* stale nodes are recomputed on use */
	memcpy(tree, mb_runsum_tree(vol, grp), tree_bytes);
	mb_runsum_build_locked(vol, grp);
	/* node by node, knowing the lazy all-used subtrees' rule */
	bool same_tree = !rs_model_nodes_differ(vol, tree, mb_runsum_tree(vol, grp), false);

	free(tree);
	if (!same_tree) {
		mb_test_fail(__FILE__, __LINE__, "%s: after %s the run tree differs from a rebuild",
			     f->name, op);
		return false;
	}
	naive_build(&f->n, grp->bb_bitmap);
	if (!compare_counters(grp->bb_counters, grp->bb_free, grp->bb_fragments,
			      grp->bb_first_free, &f->n, op) ||
	    !compare_buddy(vol, grp->bb_bitmap, grp->bb_buddy, &f->n, op) ||
	    !check_invariants(vol, grp->bb_bitmap, grp->bb_buddy, grp->bb_counters, grp->bb_free))
		return false;
	/* the scan-set orders (group_sets.c), kept up to date by every op */
	if (grp->bb_largest_free_order != f->n.largest ||
	    grp->bb_avg_fragment_size_order != f->n.avg || grp->bb_free_order != f->n.free_order) {
		mb_test_fail(__FILE__, __LINE__,
			     "%s: orders largest %d/%d avg %d/%d free %d/%d (group/model)", op,
			     grp->bb_largest_free_order, f->n.largest,
			     grp->bb_avg_fragment_size_order, f->n.avg, grp->bb_free_order,
			     f->n.free_order);
		return false;
	}
	return true;
}

/* A run of blocks all in state `used` starting at a random block, or 0. */
static uint32_t random_run(uint64_t *rng, const uint64_t *bitmap, uint32_t bb_len, bool used,
			   uint32_t *start)
{
	uint32_t b = (uint32_t)mb_rand_below(rng, bb_len), n = 0, cap;

	while (b < bb_len && mb_test_bit(bitmap, b) != used)
		b++;
	if (b >= bb_len)
		return 0;
	switch (mb_rand_below(rng, 3)) {
	case 0:
		cap = 1 + (uint32_t)mb_rand_below(rng, 8);
		break;
	case 1:
		cap = 1 + (uint32_t)mb_rand_below(rng, 600);
		break;
	default:
		cap = bb_len;
	}
	while (b + n < bb_len && n < cap && mb_test_bit(bitmap, b + n) == used)
		n++;
	*start = b;
	return n;
}

/* A double free (range with a free block) must leave everything as it was. */
static bool check_double_free(struct fixture *f, uint64_t *rng, struct mb_group *grp)
{
	struct mb_volume *vol = f->vol;
	size_t bw = vol->bitmap_words * 8, dw = vol->buddy_words * 8;
	uint64_t *bm = malloc(bw), *bd = malloc(dw);
	uint32_t cnt[MB_MAX_ORDERS], s, n = random_run(rng, grp->bb_bitmap, grp->bb_len, false, &s);
	uint32_t free0 = grp->bb_free, frag0 = grp->bb_fragments, first0 = grp->bb_first_free;
	bool ok = true;

	if (n) {
		/* widen over used neighbours so the range mixes used and free */
		uint32_t lo = s > 5 ? s - 5 : 0,
			 hi = s + n + 5 < grp->bb_len ? s + n + 5 : grp->bb_len;

		memcpy(bm, grp->bb_bitmap, bw);
		memcpy(bd, grp->bb_buddy, dw);
		memcpy(cnt, grp->bb_counters, sizeof(cnt));
		ok = mb_buddy_free(vol, grp, lo, hi - lo) == -EEXIST &&
		     !memcmp(bm, grp->bb_bitmap, bw) && !memcmp(bd, grp->bb_buddy, dw) &&
		     !memcmp(cnt, grp->bb_counters, sizeof(cnt)) && free0 == grp->bb_free &&
		     frag0 == grp->bb_fragments && first0 == grp->bb_first_free;
		if (!ok)
			mb_test_fail(__FILE__, __LINE__,
				     "%s: double free of %u+%u changed the group", f->name, lo,
				     hi - lo);
	}
	free(bm);
	free(bd);
	return ok;
}

/* The end of the piece ext4's measure takes from s to cover [s, s + n),
   all free: whole maximal chunks (mb_buddy_mark_piece_used's pe); 0 when
   s starts no maximal chunk. */
static uint32_t piece_end(struct mb_volume *vol, struct mb_group *grp, uint32_t s, uint32_t n)
{
	int k = mb_buddy_order_for_block(vol, grp, s);

	if (s & ((1u << k) - 1))
		return 0;
	return s + mb_buddy_find_extent(vol, grp, s, n);
}

/* One random step on a loaded group; mirrors it in `shadow`. */
static bool incremental_step(struct fixture *f, uint64_t *rng, struct mb_group *grp,
			     uint64_t *shadow)
{
	struct mb_volume *vol = f->vol;
	bool use = mb_rand_below(rng, 2);
	uint32_t s, n = random_run(rng, grp->bb_bitmap, grp->bb_len, !use, &s);
	char op[64];

	if (!n)
		return true;
	uint32_t pe = use ? piece_end(vol, grp, s, n) : 0;

	if (pe && mb_rand_below(rng, 2)) {
		/* the long scan's path: the front of a piece it measured */
		mb_buddy_mark_piece_used(vol, grp, s, n, pe);
	} else if (use && (s == 0 || mb_test_bit(grp->bb_bitmap, s - 1)) &&
		   mb_rand_below(rng, 2)) {
		/* the allocation's path: s starts a run, so the maximal chunk
		   holding s starts there, and its order is passed in */
		mb_buddy_mark_found_used(vol, grp, s, n, mb_buddy_order_for_block(vol, grp, s));
	} else if (use) {
		mb_buddy_mark_used(vol, grp, s, n);
	} else if (mb_buddy_free(vol, grp, s, n)) {
		mb_test_fail(__FILE__, __LINE__, "%s: free of used %u+%u failed", f->name, s, n);
		return false;
	}
	set_range(shadow, s, n, use);
	snprintf(op, sizeof(op), "%s %s %u+%u", f->name, use ? "mark_used" : "free", s, n);
	if (memcmp(shadow, grp->bb_bitmap, vol->bitmap_words * 8)) {
		mb_test_fail(__FILE__, __LINE__, "%s: order-0 bits other than the range changed",
			     op);
		return false;
	}
	return group_matches_rebuild(f, grp, op);
}

/* Loads group g and gives it a random starting bitmap. */
static void group_start(struct fixture *f, uint64_t *rng, struct mb_group *grp, uint64_t *shadow)
{
	struct mb_volume *vol = f->vol;

	mb_group_load_locked(vol, grp);
	random_bitmap(rng, vol, grp->bb_bitmap, grp->bb_len);
	mb_buddy_generate(vol, grp);
	memcpy(shadow, grp->bb_bitmap, vol->bitmap_words * 8);
}

/*
 * The loop of the incremental and query tests: over every geometry,
 * rounds_for(vol, rounds) random groups, each loaded with a random bitmap
 * (group_start) and then changed by `steps` incremental steps (steps < 0:
 * 0 to 3 of them, drawn from the rng), is handed to check() under its
 * bb_lock.  Stops at the first failure.  `seed` makes each test's rng
 * stream its own.
 */
static void for_each_random_group(uint64_t seed, int rounds, int steps,
				  void (*check)(struct fixture *f, uint64_t *rng,
						struct mb_group *grp, uint64_t *shadow))
{
	uint64_t rng = seed;

	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct fixture f;

		ASSERT_TRUE(fixture_init(&f, gi));
		uint64_t *shadow = calloc(f.vol->bitmap_words, 8);

		for (int r = rounds_for(f.vol, rounds); r > 0 && !mb_test_failed; r--) {
			struct mb_group *grp = mb_group_at(f.vol, pick_group(&rng, f.vol));

			mb_lock(&grp->bb_lock);
			group_start(&f, &rng, grp, shadow);
			for (int i = steps < 0 ? (int)mb_rand_below(&rng, 4) : steps; i > 0; i--)
				incremental_step(&f, &rng, grp, shadow);
			check(&f, &rng, grp, shadow);
			mb_unlock(&grp->bb_lock);
		}
		free(shadow);
		fixture_destroy(&f);
	}
}

static void check_incremental(struct fixture *f, uint64_t *rng, struct mb_group *grp,
			      uint64_t *shadow)
{
	for (int i = steps_for(f->vol, 60); i > 0 && !mb_test_failed; i--) {
		if (!incremental_step(f, rng, grp, shadow))
			break;
		if (i % 10 == 0)
			check_double_free(f, rng, grp);
	}
}

TEST(incremental_equals_rebuild)
{
	for_each_random_group(mb_test_seed ^ 0x1ec, 6, 0, check_incremental);
}

/*
 * KUnit's test_mb_mark_used / test_mb_free_blocks: slice ranges marked used
 * on a free group, or freed on a full one, one by one.
 */
TEST(kunit_slices_mark_and_free)
{
	uint64_t rng = mb_test_seed ^ 0x5a1;

	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct fixture f;

		ASSERT_TRUE(fixture_init(&f, gi));
		struct mb_volume *vol = f.vol;
		struct mb_group *grp = mb_group_at(vol, pick_group(&rng, vol));
		uint32_t start[8], len[8];

		mb_lock(&grp->bb_lock);
		mb_group_load_locked(vol, grp);
		for (int r = 0; r < (vol->bpg > 65536 ? 2 : 10) && !mb_test_failed; r++) {
			bool fill = r & 1; /* odd rounds: start full and free */

			memset(grp->bb_bitmap, fill ? 0xff : 0, vol->bitmap_words * 8);
			set_padding(vol, grp->bb_bitmap, grp->bb_len);
			mb_buddy_generate(vol, grp);
			slice_ranges(&rng, grp->bb_len, start, len);
			for (int s = 0; s < 8 && !mb_test_failed; s++) {
				if (!len[s])
					continue;
				if (fill)
					ASSERT_EQ_INT(mb_buddy_free(vol, grp, start[s], len[s]), 0);
				else
					mb_buddy_mark_used(vol, grp, start[s], len[s]);
				group_matches_rebuild(&f, grp, fill ? "slice free" : "slice used");
			}
		}
		mb_unlock(&grp->bb_lock);
		fixture_destroy(&f);
	}
}

/*
 * Block numbers where marking goes wrong if it does: the group's ends, word
 * edges, and each order's chunk edges (2^k - 1, 2^k, 2^k + 1 and 3 * 2^k).
 */
static uint32_t edge_points(const struct mb_volume *vol, uint32_t bb_len, uint32_t *pts)
{
	uint32_t n = 0;

	pts[n++] = 0;
	pts[n++] = 1;
	pts[n++] = 2;
	for (int k = 2; k <= vol->max_order + 1; k++) {
		uint32_t c = 1u << k, cand[4] = { c - 1, c, c + 1, 3 * c };

		for (int i = 0; i < 4; i++)
			if (cand[i] < bb_len)
				pts[n++] = cand[i];
	}
	pts[n++] = bb_len > 65 ? bb_len - 65 : 0;
	pts[n++] = bb_len - 1;
	pts[n++] = bb_len; /* as an end only */
	return n;
}

/*
 * Marking used, then freeing, extents [s, e) between edge points, inside
 * free runs that end at random distances around them (or fill the group):
 * the first chunk split, the rising and falling middle, the last chunk's
 * lookup, the group's end; the front of a piece from a chunk's start
 * (mb_buddy_mark_piece_used).  After each the group must equal a rebuild.
 */
static void check_mark_shapes(struct fixture *f, uint64_t *rng, struct mb_group *grp)
{
	struct mb_volume *vol = f->vol;
	uint32_t pts[4 * MB_MAX_ORDERS + 8], n = edge_points(vol, grp->bb_len, pts);
	uint32_t tries = (uint32_t)mb_test_rounds(grp->bb_len > 100000 ? 40 : 400);

	for (uint32_t t = 0; t < tries && !mb_test_failed; t++) {
		uint32_t s = pts[mb_rand_below(rng, n - 1)], e = pts[mb_rand_below(rng, n)];
		char op[80];

		if (e <= s)
			continue;
		/* the run around [s, e): the group free; or all used but [s, e)
		   and maybe one block after it, at any distance (bb_first_free
		   moves there); or a random bitmap with a free margin of 0 to
		   2^k blocks on each side */
		unsigned kind = (unsigned)mb_rand_below(rng, 4);

		if (kind == 0) {
			memset(grp->bb_bitmap, 0, vol->bitmap_words * 8);
		} else if (kind == 1) {
			memset(grp->bb_bitmap, 0xff, vol->bitmap_words * 8);
			set_range(grp->bb_bitmap, s, e - s, false);
			if (e < grp->bb_len && mb_rand_below(rng, 4))
				set_range(grp->bb_bitmap,
					  e + (uint32_t)mb_rand_below(rng, grp->bb_len - e), 1, false);
		} else {
			uint32_t ml = (uint32_t)mb_rand_below(rng, 2u << mb_rand_below(rng, 12));
			uint32_t mr = (uint32_t)mb_rand_below(rng, 2u << mb_rand_below(rng, 12));
			uint32_t lo = s > ml ? s - ml : 0, hi = grp->bb_len - e > mr ? e + mr : grp->bb_len;

			random_bitmap(rng, vol, grp->bb_bitmap, grp->bb_len);
			set_range(grp->bb_bitmap, lo, hi - lo, false);
			if (lo)
				set_range(grp->bb_bitmap, lo - 1, 1, true);
			if (hi < grp->bb_len)
				set_range(grp->bb_bitmap, hi, 1, true);
		}
		set_padding(vol, grp->bb_bitmap, grp->bb_len);
		mb_buddy_generate(vol, grp);
		uint32_t pe = piece_end(vol, grp, s, e - s);

		if (pe && (t & 2)) /* the front of a piece the long scan measured */
			mb_buddy_mark_piece_used(vol, grp, s, e - s, pe);
		else if ((s == 0 || mb_test_bit(grp->bb_bitmap, s - 1)) && (t & 1))
			mb_buddy_mark_found_used(vol, grp, s, e - s,
						 mb_buddy_order_for_block(vol, grp, s));
		else
			mb_buddy_mark_used(vol, grp, s, e - s);
		snprintf(op, sizeof(op), "mark_used %u+%u", s, e - s);
		if (!group_matches_rebuild(f, grp, op))
			break;
		ASSERT_EQ_INT(mb_buddy_free(vol, grp, s, e - s), 0);
		snprintf(op, sizeof(op), "free %u+%u", s, e - s);
		group_matches_rebuild(f, grp, op);
	}
}

TEST(mark_used_shapes)
{
	uint64_t rng = mb_test_seed ^ 0x3a9;

	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct fixture f;

		ASSERT_TRUE(fixture_init(&f, gi));
		for (int which = 0; which < 2 && !mb_test_failed; which++) {
			/* the first group, and the last (maybe short) one */
			struct mb_group *grp = mb_group_at(f.vol, which ? f.vol->ngroups - 1 : 0);

			mb_lock(&grp->bb_lock);
			mb_group_load_locked(f.vol, grp);
			check_mark_shapes(&f, &rng, grp);
			mb_unlock(&grp->bb_lock);
		}
		fixture_destroy(&f);
	}
}

/*
 * A group of 8256 blocks: a multiple of 64 (no bitmap word is cut), not of
 * 128, with exactly 64 chunks of order 7, so the chunk of order 7 or more
 * holding a block of the last word would be the first bit past its map
 * (the next order's map).  The falling lookup of an extent ending there
 * tries orders from the rising chunks' down and must skip those; here
 * the bit past order 7's map is clear (the free, maximal chunk [0, 256)
 * of order 8).  Then the random shapes on that geometry.
 */
TEST(mark_used_group_tail)
{
	static const struct mb_test_geo tail = { "tail-8256", { 4096, 8256, 2 * 8256 + 5, 0, 0, 0 } };
	uint64_t rng = mb_test_seed ^ 0x7a1;
	struct fixture f;

	ASSERT_TRUE(fixture_init_geo(&f, &tail));
	struct mb_volume *vol = f.vol;
	struct mb_group *grp = mb_group_at(vol, 0);

	ASSERT_EQ_INT((int)vol->bpg, 8256);
	ASSERT_EQ_INT((int)vol->mb_maxs[7], 64);
	mb_lock(&grp->bb_lock);
	mb_group_load_locked(vol, grp);
	/* free: [0, 256) and [8000, 8256), the rest used */
	memset(grp->bb_bitmap, 0xff, vol->bitmap_words * 8);
	set_range(grp->bb_bitmap, 0, 256, false);
	set_range(grp->bb_bitmap, 8000, 256, false);
	set_padding(vol, grp->bb_bitmap, grp->bb_len);
	mb_buddy_generate(vol, grp);
	/* rising chunks [8000, 8064), [8064, 8192), then 8192's order-13
	   chunk would pass the group's end: the last one is [8192, 8256) */
	mb_buddy_mark_used(vol, grp, 8000, 250);
	if (group_matches_rebuild(&f, grp, "mark_used 8000+250"))
		check_mark_shapes(&f, &rng, grp);
	mb_unlock(&grp->bb_lock);
	fixture_destroy(&f);
}

/*
 * mb_buddy_mark_chunk_front_used_at (the power-of-two fast path's mark): the
 * front 2^lo blocks of a maximal free chunk of order k >= lo, on random
 * bitmaps, on a free group, and with every block before the chunk used
 * (bb_first_free at the chunk); lo == k takes the whole chunk, and the
 * block after it may be free, used or past the group.  After each the
 * group must equal a rebuild.
 */
static void check_chunk_front(struct fixture *f, uint64_t *rng, struct mb_group *grp,
			      uint64_t *shadow)
{
	struct mb_volume *vol = f->vol;
	unsigned kind = (unsigned)mb_rand_below(rng, 3);

	if (vol->max_order <= MB_BUDDY_DERIVED)
		return;
	if (kind == 1) { /* a free group: its first chunk starts bb_first_free */
		memset(grp->bb_bitmap, 0, vol->bitmap_words * 8);
		set_padding(vol, grp->bb_bitmap, grp->bb_len);
		mb_buddy_generate(vol, grp);
		memcpy(shadow, grp->bb_bitmap, vol->bitmap_words * 8);
	}
	for (int i = steps_for(vol, 40); i > 0 && !mb_test_failed; i--) {
		int k = MB_BUDDY_DERIVED + 1 +
			(int)mb_rand_below(rng, (uint64_t)(vol->max_order - MB_BUDDY_DERIVED));
		mb_grpblk_t c;
		char op[80];

		while (k <= vol->max_order && !grp->bb_counters[k])
			k++;
		if (k > vol->max_order || mb_buddy_first_free_chunk(vol, grp, k, &c))
			return;
		if (kind == 2 && c) { /* all used before it: bb_first_free moves there */
			set_range(grp->bb_bitmap, 0, c, true);
			mb_buddy_generate(vol, grp);
			memcpy(shadow, grp->bb_bitmap, vol->bitmap_words * 8);
			if (grp->bb_first_free != c || mb_buddy_order_for_block(vol, grp, c) != k) {
				mb_test_fail(__FILE__, __LINE__, "%s: the chunk at %u moved", f->name, c);
				return;
			}
		}
		int lo = MB_BUDDY_DERIVED + 1 + (int)mb_rand_below(rng, (uint64_t)(k - MB_BUDDY_DERIVED));

		uint64_t *kw = mb_buddy_order_map(vol, grp->bb_buddy, k) + (c >> k >> 6);

		mb_buddy_chunk_leave(kw, 1ULL << ((c >> k) & 63));
		mb_buddy_mark_chunk_front_used_at(vol, grp, c, k, lo);
		set_range(shadow, c, 1u << lo, true);
		snprintf(op, sizeof(op), "%s chunk front %u order %d of %d", f->name, c, lo, k);
		if (memcmp(shadow, grp->bb_bitmap, vol->bitmap_words * 8)) {
			mb_test_fail(__FILE__, __LINE__, "%s: the bitmap is not the extent's", op);
			return;
		}
		if (!group_matches_rebuild(f, grp, op))
			return;
	}
}

TEST(chunk_front_equals_rebuild)
{
	for_each_random_group(mb_test_seed ^ 0xc4f, 6, 0, check_chunk_front);
}

/* ------------------------------------------------------------------------ */
/* (d) find_extent                                                           */
/* ------------------------------------------------------------------------ */

static uint32_t naive_run(const struct naive *n, uint32_t b)
{
	uint32_t e = b;

	while (e < n->bpg && n->whole[0][e])
		e++;
	return e - b;
}

static void check_find_extent(struct fixture *f, uint64_t *rng, struct mb_group *grp,
			      uint64_t *shadow)
{
	(void)shadow;
	/* junk past bpg, as check_order_fast's: the measure never reads it */
	bool all = mb_rand_below(rng, 2);

	for (uint32_t b = f->vol->bpg; b < f->vol->bitmap_words * 64; b++)
		if (all || mb_rand_below(rng, 2))
			grp->bb_bitmap[b / 64] &= ~(1ULL << (b % 64));
	naive_build(&f->n, grp->bb_bitmap);
	for (int q = 0; q < 300 && !mb_test_failed; q++) {
		uint32_t b = (uint32_t)mb_rand_below(rng, grp->bb_len);
		uint32_t need = 1 + (uint32_t)mb_rand_below(rng, q & 1 ? 64 : f->vol->bpg);
		uint32_t got = mb_buddy_find_extent(f->vol, grp, b, need);
		uint32_t run = naive_run(&f->n, b);

		if (got != naive_find_extent(&f->n, b, need) || got > run ||
		    got < (need < run ? need : run))
			mb_test_fail(__FILE__, __LINE__,
				     "%s: find_extent(%u, %u) = %u, model %u, run %u", f->name, b,
				     need, got, naive_find_extent(&f->n, b, need), run);
		if (!run)
			continue;
		/* the same where the run tree vouched for `known` blocks, from
		   the start of b's maximal chunk (find_extent_known's blocks
		   start one: a run's start, or the end of the chunk before,
		   where the complex scan's last measure ended -- mostly inside
		   a run), and from the run's start (the block before used: the
		   measure's walk down from the order whose chunk at b's end
		   starts at b) */
		uint32_t c = b >> mb_buddy_order_for_block(f->vol, grp, b)
				 << mb_buddy_order_for_block(f->vol, grp, b);
		uint32_t crun = naive_run(&f->n, c);
		uint32_t known = 1 + (uint32_t)mb_rand_below(rng, crun);

		got = mb_buddy_find_extent_known(f->vol, grp, c, need, known);
		if (got != naive_find_extent(&f->n, c, need))
			mb_test_fail(__FILE__, __LINE__,
				     "%s: find_extent_known(%u, %u, %u) = %u, model %u", f->name, c,
				     need, known, got, naive_find_extent(&f->n, c, need));
		while (b && !mb_test_bit(grp->bb_bitmap, b - 1))
			b--;
		run = naive_run(&f->n, b);
		need = 1 + (uint32_t)mb_rand_below(rng, run + 64);
		got = mb_buddy_find_extent(f->vol, grp, b, need);
		if (got != naive_find_extent(&f->n, b, need))
			mb_test_fail(__FILE__, __LINE__,
				     "%s: find_extent(%u, %u) at a run's start = %u, model %u",
				     f->name, b, need, got, naive_find_extent(&f->n, b, need));
	}
	/* one ending in the group's last word, which bpg may cut (its junk
	   free): from the last run's start, past all of it but a block */
	uint32_t bpg = f->vol->bpg, rs = bpg, wb = bpg & ~63u;

	while (rs && !mb_test_bit(grp->bb_bitmap, rs - 1))
		rs--;
	if (bpg - rs >= 2 && !mb_test_failed) {
		uint32_t lo = wb > rs ? wb - rs + 1 : 1, need = bpg - rs - 1;

		need = lo < need ? lo + (uint32_t)mb_rand_below(rng, need - lo + 1) : need;
		uint32_t got = mb_buddy_find_extent(f->vol, grp, rs, need);

		if (got != naive_find_extent(&f->n, rs, need))
			mb_test_fail(__FILE__, __LINE__,
				     "%s: find_extent(%u, %u) to the last word = %u, model %u",
				     f->name, rs, need, got, naive_find_extent(&f->n, rs, need));
	}
}

TEST(find_extent_vs_naive)
{
	for_each_random_group(mb_test_seed ^ 0xfe, 20, 4 /* incremental buddies too */,
			      check_find_extent);
}

/*
 * mb_buddy_order_fast reads orders up to 6 off the bitmap word and walks
 * the buddy only above: the same order as mb_buddy_order_for_block for
 * every free block, on random and incrementally changed groups (the short
 * last one often: padding past bb_len; junk past bpg where bpg cuts a word).
 */
static void check_order_fast(struct fixture *f, uint64_t *rng, struct mb_group *grp,
			     uint64_t *shadow)
{
	/* junk past bpg: the walk never reads it, nor may the fast one */
	bool all = mb_rand_below(rng, 2);

	(void)shadow;
	for (uint32_t b = f->vol->bpg; b < f->vol->bitmap_words * 64; b++)
		if (all || mb_rand_below(rng, 2))
			grp->bb_bitmap[b / 64] &= ~(1ULL << (b % 64));
	for (uint32_t b = 0; b < grp->bb_len && !mb_test_failed; b++) {
		if (mb_test_bit(grp->bb_bitmap, b))
			continue;
		int fast = mb_buddy_order_fast(f->vol, grp, b);
		int walk = mb_buddy_order_for_block(f->vol, grp, b);

		if (fast != walk)
			mb_test_fail(__FILE__, __LINE__,
				     "%s: order of free block %u: fast %d, walk %d", f->name, b,
				     fast, walk);
	}
}

TEST(order_fast_equals_walk)
{
	for_each_random_group(mb_test_seed ^ 0x0f5, 20, -1, check_order_fast);
}

/*
 * mb_buddy_next_extent1 == mb_find_next_zero_bit, then
 * mb_buddy_find_extent(.., 1) there: from every block of random groups
 * (and from bpg and past it: nothing).
 */
static void check_next_extent1(struct fixture *f, uint64_t *rng, struct mb_group *grp,
			       uint64_t *shadow)
{
	uint32_t bpg = f->vol->bpg;

	(void)rng;
	(void)shadow;
	for (uint32_t from = 0; from <= bpg + 1 && !mb_test_failed; from++) {
		uint32_t len = 0, p = mb_buddy_next_extent1(f->vol, grp, from, &len);
		uint32_t q = mb_find_next_zero_bit(grp->bb_bitmap, bpg, from);
		uint32_t want = q < bpg ? mb_buddy_find_extent(f->vol, grp, q, 1) : 0;

		if (p != q || (q < bpg && len != want))
			mb_test_fail(__FILE__, __LINE__,
				     "%s: from %u: next_extent1 %u+%u, plain %u+%u", f->name, from,
				     p, len, q, want);
	}
}

TEST(next_extent1_equals_plain)
{
	for_each_random_group(mb_test_seed ^ 0xe71, 20, -1, check_next_extent1);
}

/*
 * mb_buddy_scan1 == the plain walk it stands for: extent after extent
 * (next free block, mb_buddy_find_extent(.., 1)), at most n, ending after
 * the first of one block or before one exceeding the free budget; keeping
 * the first shortest.
 */
/* The plain walk mb_buddy_scan1 stands for, from `from`. */
static struct mb_scan1 plain_scan1(struct fixture *f, struct mb_group *grp, uint32_t from,
				   uint32_t n, uint32_t budget)
{
	uint32_t bpg = f->vol->bpg, i = from, left = budget;
	struct mb_scan1 want = { 0 };

	while (want.count < n) {
		uint32_t p = mb_find_next_zero_bit(grp->bb_bitmap, bpg, i);

		if (p >= bpg)
			break;
		uint32_t len = mb_buddy_find_extent(f->vol, grp, p, 1);

		if (len > left) {
			want.over = true;
			break;
		}
		left -= len;
		want.count++;
		if (!want.len || len < want.len) {
			want.start = p;
			want.len = len;
		}
		if (len == 1)
			break;
		i = p + len;
	}
	return want;
}

static void expect_scan1(struct fixture *f, struct mb_group *grp, uint32_t from, uint32_t n,
			 uint32_t budget)
{
	struct mb_scan1 got, want = plain_scan1(f, grp, from, n, budget);

	mb_buddy_scan1(f->vol, grp, from, n, budget, &got);
	if (got.count != want.count || got.len != want.len ||
	    (want.len && got.start != want.start) || got.over != want.over)
		mb_test_fail(__FILE__, __LINE__,
			     "%s: scan1(%u, n %u, free %u) = %u ext, %u+%u%s; "
			     "walk %u ext, %u+%u%s",
			     f->name, from, n, budget, got.count, got.start, got.len,
			     got.over ? " over" : "", want.count, want.start, want.len,
			     want.over ? " over" : "");
	/* from a run's first block, the first of the shortest starts a
	   maximal chunk whose order its length gives (the one-block scan
	   hands the mark that order: mb_scan_one_block_locked) */
	if (got.len && from == grp->bb_first_free &&
	    ((got.len & (got.len - 1)) || got.start & (got.len - 1) ||
	     mb_buddy_order_for_block(f->vol, grp, got.start) != __builtin_ctz(got.len)))
		mb_test_fail(__FILE__, __LINE__, "%s: scan1(%u) = %u+%u: not a chunk of its order",
			     f->name, from, got.start, got.len);
}

static void check_scan1(struct fixture *f, uint64_t *rng, struct mb_group *grp, uint64_t *shadow)
{
	uint32_t bpg = f->vol->bpg;

	(void)shadow;
	for (int q = 0; q < 200 && !mb_test_failed; q++) {
		uint32_t from = (uint32_t)mb_rand_below(rng, bpg + 2);
		uint32_t n = 1 + (uint32_t)mb_rand_below(rng, q & 1 ? 12 : 400);
		uint32_t budget =
		    q % 3 ? grp->bb_free : (uint32_t)mb_rand_below(rng, grp->bb_free + 1);

		expect_scan1(f, grp, from, n, budget);
		expect_scan1(f, grp, grp->bb_first_free, n, grp->bb_free); /* the caller's */
	}
}

TEST(scan1_equals_plain_walk)
{
	for_each_random_group(mb_test_seed ^ 0x5c1, 20, -1, check_scan1);
}

/*
 * mb_buddy_scan1 from the first free block of a group used up to p and
 * free from there to its end (a sequential fill's: mb_scan1_tail's closed
 * form where it applies) == the plain walk: every p near a chunk's edge,
 * every count up to past the chunks there are, the free count and one
 * less, and the same group with one block past p used (no closed form).
 */
TEST(scan1_tail_free_equals_plain_walk)
{
	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++) {
		struct fixture f;

		ASSERT_TRUE(fixture_init(&f, gi));
		struct mb_volume *vol = f.vol;
		uint32_t pts[4 * MB_MAX_ORDERS + 8];

		for (int last = 0; last < 2 && !mb_test_failed; last++) {
			struct mb_group *grp = mb_group_at(vol, last ? vol->ngroups - 1 : 0);
			uint32_t np = edge_points(vol, grp->bb_len, pts);

			mb_lock(&grp->bb_lock);
			mb_group_load_locked(vol, grp);
			for (uint32_t e = 0; e < np && !mb_test_failed; e++) {
				for (int hole = 0; hole < 2 && !mb_test_failed; hole++) {
					uint32_t p = pts[e];

					memset(grp->bb_bitmap, 0, vol->bitmap_words * 8);
					set_range(grp->bb_bitmap, 0, p, 1);
					if (hole && p + 3 < grp->bb_len)
						set_range(grp->bb_bitmap, p + 2, 1, 1);
					set_padding(vol, grp->bb_bitmap, grp->bb_len);
					mb_buddy_generate(vol, grp);
					for (uint32_t n = 1; n <= 24 && !mb_test_failed; n++) {
						expect_scan1(&f, grp, grp->bb_first_free, n, grp->bb_free);
						expect_scan1(&f, grp, grp->bb_first_free, n,
							     grp->bb_free ? grp->bb_free - 1 : 0);
					}
					expect_scan1(&f, grp, grp->bb_first_free, UINT32_MAX,
						     grp->bb_free);
				}
			}
			mb_unlock(&grp->bb_lock);
		}
		fixture_destroy(&f);
	}
}
