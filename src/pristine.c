/* SPDX-License-Identifier: MIT */
/*
 * pristine.c - a pristine group's first load, copied from a template built
 * once per volume.  A group first loaded while BLOCK_UNINIT has a bitmap
 * made of its geometry alone (its metadata blocks, and the padding past its
 * end), so every full-length group with the same metadata count has the
 * same bitmap, the same buddy, the same free-run tree (runsum.c) and the
 * same counters.  The first such load builds them (in closed form from
 * its shape: mb_pristine_build; runsum.c) and
 * publishes a copy of its durable bitmap and its derived buffer; later ones
 * copy them: two memcpys instead of a zeroed allocation (a memset of the
 * bitmap, then its metadata bits), a buddy build and the tree's marking
 * stale -- most of a first touch (aging:triangle loads 512 groups of a
 * fresh 64 GiB volume).
 * The template costs one bitmap and one derived buffer per volume (7 KiB
 * at 4 KiB blocks), whatever the volume's size.
 *
 * The copied tree is all stale, as mb_buddy_generate leaves it: its first
 * query builds it (runsum.c, in closed form while the group is one run).
 * A fresh copy at the load would spare that build but costs every mark
 * before a query its ancestors' joins: raw:256 went from 698 to 1262
 * instructions a call with it.  So the template keeps the built tree
 * apart (published in vol->rs_pristine), and the first query of a group
 * still pristine copies it instead of filling its nodes.  The stale tree
 * copied here carries runsum.c's pristine mark (mb_runsum_set_pristine):
 * that query then takes the counters' word that the group is still one
 * run without reading its 4 KiB bitmap.
 */
#include <stdlib.h>
#include <string.h>

#include "mb_int.h"

struct mb_pristine {
	uint32_t rsv;                /* metadata blocks at the group's start */
	/* the bitmap's words [head, tail) are zeroes: a copy onto zeroes
	   writes [0, head) and [tail, bitmap_words) alone */
	uint32_t head, tail;
	struct mb_buddy_summary sum; /* what the build counted */
	/* bitmap_words of the bitmap, then the derived buffer as group.c
	   lays it out (buddy_words of buddy, then the run tree, stale, then
	   the free-word summary): one memcpy; then the run tree built
	   (vol->rs_pristine) */
	uint64_t words[];
};

static size_t mb_pristine_derived_words(const struct mb_volume *vol)
{
	return (size_t)vol->fws_off + mb_fws_words(vol);
}

/* The template, if it fits a group of grp's shape with rsv metadata blocks. */
static const struct mb_pristine *mb_pristine_for(struct mb_volume *vol,
						 const struct mb_group *grp, uint32_t rsv)
{
	/* acquire: pairs with the release CAS in mb_pristine_publish, so a
	   thread that sees the pointer sees the template's contents */
	const struct mb_pristine *t = atomic_load_explicit(&vol->pristine, memory_order_acquire);

	/* a short last group has its own shape */
	return t && grp->bb_len == vol->bpg && t->rsv == rsv ? t : NULL;
}

/* The pristine bitmap of a group of len blocks with rsv metadata blocks;
   zeroed: map is all zeroes already. */
static void mb_pristine_bitmap(const struct mb_volume *vol, uint64_t *map, uint32_t rsv,
			       uint32_t len, bool zeroed)
{
	if (!zeroed)
		memset(map, 0, vol->bitmap_words * sizeof(uint64_t));
	mb_set_bits(map, 0, rsv);
	mb_set_bits(map, len, vol->bitmap_words * 64 - len);
}

/* The template's bitmap onto disk; zeroed: disk is all zeroes already, and
   its zero words [head, tail) are left so -- never written, the group's
   first takes find them in no cache line and fault no page early. */
static void mb_pristine_copy_bitmap(const struct mb_volume *vol, const struct mb_pristine *t,
				    uint64_t *disk, bool zeroed)
{
	if (!zeroed) {
		memcpy(disk, t->words, vol->bitmap_words * sizeof(uint64_t));
		return;
	}
	/* no call for an empty part: a group with no metadata (the probes')
	   has neither, and the two calls cost ~40 instructions a load */
	if (t->head)
		memcpy(disk, t->words, t->head * sizeof(uint64_t));
	if (t->tail < vol->bitmap_words)
		memcpy(disk + t->tail, t->words + t->tail,
		       (vol->bitmap_words - t->tail) * sizeof(uint64_t));
}

/* Whether words [h, e) of map all are v */
static bool mb_pristine_words_are(const uint64_t *map, uint32_t h, uint32_t e, uint64_t v)
{
	for (uint32_t w = h; w < e; w++)
		if (map[w] != v)
			return false;
	return true;
}

/* The zero words [head, tail) of a template's bitmap of n words (len
   blocks, the first rsv of them metadata: mb_pristine_bitmap): those past
   the metadata's and before the padding's, in closed form where a read of
   the 4 KiB cost ~3,100 instructions a volume. */
static void mb_pristine_zero_span(struct mb_pristine *t, uint32_t n, uint32_t rsv, uint32_t len)
{
	uint32_t h = (rsv + 63) / 64, e = len / 64 > h ? len / 64 : h;

	assert(e <= n && mb_pristine_words_are(t->words, h, e, 0));
	assert(!h || t->words[h - 1]);
	assert(e == n || t->words[e] || e == h);
	(void)mb_pristine_words_are;
	t->head = h;
	t->tail = e;
}

/*
 * Writes the durable buffer of a pristine group (group.c: bitmap_words of
 * on-disk bitmap, then the pending and committing maps when frees wait):
 * its metadata and padding used, the rest free, nothing pending.  zeroed:
 * disk is all zeroes (a fresh arena piece, garena.c), and only its nonzero
 * words are written; else every word is.  Returns the template it copied
 * (NULL: none fits), for mb_pristine_derive_locked.  bb_lock held.
 */
const struct mb_pristine *mb_pristine_fill_locked(struct mb_volume *vol,
						  const struct mb_group *grp, uint64_t *disk,
						  uint32_t rsv, bool zeroed)
{
	mb_assert_locked(&grp->bb_lock);
	const struct mb_pristine *t = mb_pristine_for(vol, grp, rsv);
	size_t bytes = vol->bitmap_words * sizeof(uint64_t);

	if (t)
		mb_pristine_copy_bitmap(vol, t, disk, zeroed);
	else
		mb_pristine_bitmap(vol, disk, rsv, grp->bb_len, zeroed);
	if (vol->frees_wait && !zeroed)
		memset(disk + vol->bitmap_words, 0, 2 * bytes);
	return t;
}

/*
 * The buddy, its summary and the free-word summary of a full-length
 * pristine group (its bitmap mb_pristine_bitmap's: one free run after
 * rsv metadata blocks), in closed form: the run's maximal chunks
 * (mb_buddy_counters_from_run, as the reference build mb_buddy_build_runs
 * takes each run), and a bit over every word that holds a block of the
 * run.  The bitmap's builds read its 4 KiB word by word: ~22,500
 * instructions a volume (mb_buddy_build ~17,300, mb_fws_build ~5,100),
 * most of cell:empty:256:zero:2's 472 -> 394 instructions a call with
 * the load's other cuts (group.c, garena.c).  The debug flavour checks
 * every copy of it against mb_buddy_build (mb_pristine_verify_locked).
 */
static void mb_pristine_build(const struct mb_volume *vol, struct mb_group *grp, uint32_t rsv,
			      struct mb_buddy_summary *sum)
{
	uint32_t len = vol->bpg;

	memset(grp->bb_buddy, 0xff, vol->buddy_words * sizeof(uint64_t));
	memset(sum, 0, sizeof(*sum));
	memset(mb_fws(vol, grp), 0, mb_fws_words(vol) * sizeof(uint64_t));
	sum->first = len;
	if (rsv >= len)
		return;
	sum->first = rsv;
	sum->frags = 1;
	sum->free = len - rsv;
	mb_buddy_counters_from_run(vol, sum->counters, rsv, len - rsv, grp->bb_buddy);
	mb_set_bits(mb_fws(vol, grp), rsv / 64, (len + 63) / 64 - rsv / 64);
}

/*
 * Builds the template in grp's own buffers (grp, pristine and full-length,
 * then needs no copy) and publishes it, unless another thread published
 * first (under another group's lock): then that one is returned.  NULL
 * when out of memory (grp's buddy and tree are made all the same).
 */
static const struct mb_pristine *mb_pristine_publish(struct mb_volume *vol, struct mb_group *grp,
						     uint32_t rsv, struct mb_buddy_summary *sum)
{
	size_t bwords = vol->bitmap_words, dwords = mb_pristine_derived_words(vol);
	size_t twords = mb_runsum_words(vol);
	struct mb_pristine *t = malloc(sizeof(*t) + (bwords + dwords + twords) * sizeof(uint64_t));
	struct mb_pristine *expected = NULL;

	mb_pristine_build(vol, grp, rsv, sum);
	/* the fields a stale node does not use are zeroes in every copy */
	memset(mb_runsum_tree(vol, grp), 0, mb_runsum_words(vol) * sizeof(uint64_t));
	mb_runsum_invalidate_locked(vol, grp);
	/* its bitmap is the template's: so is every copy's (runsum.c's first
	   query then trusts the counters that name its run) */
	mb_runsum_set_pristine(mb_runsum_tree(vol, grp));
	if (!t)
		return NULL;
	t->rsv = rsv;
	t->sum = *sum;
	memcpy(t->words, grp->bb_bitmap, bwords * sizeof(uint64_t));
	mb_pristine_zero_span(t, (uint32_t)bwords, rsv, vol->bpg);
	memcpy(t->words + bwords, grp->bb_buddy, dwords * sizeof(uint64_t));
	/* node 0 is each group's own: zeroes, never copied */
	memset(t->words + bwords + dwords, 0, sizeof(struct mb_rs));
	mb_runsum_fill_one_run(vol, (struct mb_rs *)(t->words + bwords + dwords), rsv, vol->bpg);
	/* release: pairs with the acquire load in mb_pristine_for */
	if (atomic_compare_exchange_strong_explicit(&vol->pristine, &expected, t,
						    memory_order_release, memory_order_acquire)) {
		/* the built tree for runsum.c's first queries (mb_rs_build_one_run):
		   its start first, then the pointer with release, which that
		   reader's acquire load pairs with; only the CAS's winner
		   writes them */
		vol->rs_pristine_start = rsv;
		atomic_store_explicit(&vol->rs_pristine,
				      (const struct mb_rs *)(t->words + bwords + dwords),
				      memory_order_release);
		return t;
	}
	free(t);
	return expected;
}

#ifdef MB_DEBUG
/*
 * The test flavour checks every copy against the builds it replaces: the
 * bitmap against its closed form, the buddy and the counters against a
 * build, the tree against the group's own marking stale.
 */
static void mb_pristine_verify_locked(struct mb_volume *vol, struct mb_group *grp,
				      const struct mb_pristine *t, uint32_t rsv)
{
	size_t twords = mb_runsum_words(vol);
	uint64_t *map = malloc(vol->bitmap_words * sizeof(uint64_t));
	uint64_t *buddy = malloc(vol->buddy_words * sizeof(uint64_t));
	uint64_t *tree = malloc(twords * sizeof(uint64_t));
	struct mb_buddy_summary sum;

	if (map && buddy && tree) {
		mb_pristine_bitmap(vol, map, rsv, grp->bb_len, false);
		assert(!memcmp(map, grp->bb_disk, vol->bitmap_words * sizeof(uint64_t)));
		assert(!memcmp(grp->bb_bitmap, grp->bb_disk, vol->bitmap_words * sizeof(uint64_t)));
		mb_buddy_build(vol, grp->bb_bitmap, buddy, &sum);
		assert(!memcmp(buddy, grp->bb_buddy, vol->buddy_words * sizeof(uint64_t)));
		assert(!memcmp(&sum, &t->sum, sizeof(sum)));
		assert(mb_fws_ok(vol, grp->bb_bitmap, mb_fws(vol, grp)));
		/* marked again in place: the same nodes if the copy was right */
		memcpy(tree, mb_runsum_tree(vol, grp), twords * sizeof(uint64_t));
		mb_runsum_invalidate_locked(vol, grp);
		mb_runsum_set_pristine(mb_runsum_tree(vol, grp));
		assert(!memcmp(tree, mb_runsum_tree(vol, grp), twords * sizeof(uint64_t)));
	}
	free(map);
	free(buddy);
	free(tree);
}
#endif

/*
 * Whether grp's counters already are the template's summary s: those of
 * the one run [s->first, s->first + s->free) after its metadata (none
 * when s->frags is 0).  A group set up pristine (group.c: a copy of
 * vol->grp_pristine) or seeded as free as at creation has them, and its
 * orders and scan sets follow them: the summary's apply (a recompute of
 * the orders, ~68 instructions) would change nothing.  A group's counters
 * as one run are told by where it starts and its length, so the three
 * compare; the debug flavour checks the counters themselves.
 */
static bool mb_pristine_counts_hold(const struct mb_group *grp, const struct mb_buddy_summary *s)
{
	bool hold = grp->bb_free == s->free && grp->bb_fragments == s->frags &&
		    grp->bb_first_free == s->first;

	assert(!hold || s->frags > 1 ||
	       !memcmp(grp->bb_counters, s->counters, sizeof(grp->bb_counters)));
	return hold && s->frags <= 1;
}

/*
 * Derives a pristine group's buddy, run tree and counters from its bitmap
 * (written by mb_pristine_fill_locked), as mb_buddy_generate does, copying
 * the template t when the group has its shape (t: what the fill returned,
 * one lookup a load; NULL also when a template was published since then:
 * the group builds its own), else building them (the first full-length
 * group builds the template).  bb_lock held.
 */
void mb_pristine_derive_locked(struct mb_volume *vol, struct mb_group *grp, uint32_t rsv,
			       const struct mb_pristine *t)
{
	mb_assert_locked(&grp->bb_lock);
	struct mb_buddy_summary sum;

	if (t) {
		memcpy(grp->bb_buddy, t->words + vol->bitmap_words,
		       mb_pristine_derived_words(vol) * sizeof(uint64_t));
		if (!mb_pristine_counts_hold(grp, &t->sum))
			mb_buddy_apply_summary_locked(vol, grp, &t->sum);
#ifdef MB_DEBUG
		mb_pristine_verify_locked(vol, grp, t, rsv);
#endif
		return;
	}
	if (grp->bb_len != vol->bpg || atomic_load_explicit(&vol->pristine, memory_order_relaxed)) {
		mb_buddy_generate(vol, grp); /* a short last group, or another metadata count */
		return;
	}
	mb_pristine_publish(vol, grp, rsv, &sum); /* builds grp's in place */
	mb_buddy_apply_summary_locked(vol, grp, &sum);
}

void mb_pristine_destroy(struct mb_volume *vol)
{
	free(atomic_load_explicit(&vol->pristine, memory_order_relaxed));
	atomic_store_explicit(&vol->pristine, NULL, memory_order_relaxed);
}
