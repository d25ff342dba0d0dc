/* SPDX-License-Identifier: MIT */
/*
 * test_pristine.c - a pristine group's buddy copied from the volume's
 * template (pristine.c) is the buddy a build gives.
 *
 * every_shape: volumes whose groups differ from the template (a short last
 * group, metadata that fills a group, tiny groups, 1 KiB blocks with a
 * first data block) load every group; each group's buddy and counters
 * must equal a run-by-run build of its bitmap, and mb_check must be clean.
 * The test flavour also asserts each copy against a build as it is made.
 * concurrent_first_loads: threads load a fresh volume's groups at once, so
 * several race to publish the template (run under TSan in CI).
 * copies_are_pristine: the template's own group is worked hard before the
 * others load; each of them must still get its metadata and padding used
 * and nothing else (checked bit by bit, not by the closed form pristine.c
 * uses), a buddy and counters as a build gives, and a run tree that a
 * flush makes equal to a build.  The volume's arena holds a piece of
 * each kind full of ones before each load (the first it hands out), so a
 * word the load leaves unwritten shows.
 * first_query_copies_built_tree: a pristine group's first query copies
 * the template's built run tree: its nodes against bit counts.
 * pristine_mark_only_while_template: the first query trusts a copy's
 * counters only while its bitmap can be the template's.
 * frees_wait_maps_start_empty: the same for a persistent volume, whose
 * groups also carry pending and committing maps and a private copy.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mb_int.h"
#include "mb_test_int.h"
#include "runsum_model.h"

/* Loads group g by asking for one block at its first data block. */
static int touch(struct mb_volume *v, mb_grp_t g)
{
	struct mb_geometry geo;
	struct mb_extent e;

	mb_volume_geometry(v, &geo);
	uint64_t first = geo.first_data_block + (uint64_t)g * geo.blocks_per_group;
	struct mb_request r = { .goal = first + geo.reserved_per_group, .len = 1 };

	if (r.goal >= geo.blocks_count)
		r.goal = first;
	int err = mb_alloc(v, &r, &e);

	return err ? err : mb_free(v, e.start, e.len);
}

/* Group g's buddy and counters against a run-by-run build of its bitmap. */
static bool same_as_build(struct mb_volume *v, mb_grp_t g)
{
	struct mb_group *grp = mb_group_at(v, g);
	uint64_t *buddy = calloc(v->buddy_words, sizeof(uint64_t));
	struct mb_buddy_summary sum;
	bool same;

	mb_lock(&grp->bb_lock);
	mb_buddy_build_runs(v, grp->bb_bitmap, buddy, &sum);
	same = !memcmp(buddy, grp->bb_buddy, v->buddy_words * sizeof(uint64_t)) &&
	       sum.free == grp->bb_free && sum.frags == grp->bb_fragments &&
	       !memcmp(sum.counters, grp->bb_counters, sizeof(sum.counters));
	mb_unlock(&grp->bb_lock);
	free(buddy);
	return same;
}

TEST(every_shape)
{
	static const struct mb_geometry shapes[] = {
		{ .block_size = 4096, .blocks_count = 3 * 32768 + 1000, .reserved_per_group = 2 },
		{ .block_size = 4096, .blocks_count = 4 * 32768 + 40, .reserved_per_group = 33 },
		{ .block_size = 1024, .blocks_count = 5 * 8192 + 1, .first_data_block = 1,
		  .reserved_per_group = 260 },
		{ .block_size = 4096, .blocks_per_group = 16, .blocks_count = 16 * 9 + 15,
		  .reserved_per_group = 3 },
		{ .block_size = 4096, .blocks_per_group = 72, .blocks_count = 72 * 5 + 71,
		  .reserved_per_group = 0 },
		{ .block_size = 65536, .blocks_count = 2 * 524288 + 77, .reserved_per_group = 1 },
	};

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		struct mb_volume *v;

		ASSERT_EQ_INT(mb_volume_create(&shapes[i], &v), 0);
		uint32_t n = mb_groups_count(v);

		/* the last (short) group first: it must not become the template */
		for (uint32_t k = 0; k < n; k++)
			ASSERT_EQ_INT(touch(v, n - 1 - k), 0);
		for (uint32_t g = 0; g < n; g++)
			ASSERT_TRUE(same_as_build(v, g));
		ASSERT_CHECK_CLEAN(v);
		mb_volume_destroy(v);
	}
}

struct loader {
	struct mb_volume *v;
	uint32_t first, step;
	int err;
};

static void *load_groups(void *arg)
{
	struct loader *l = arg;

	for (uint32_t g = l->first; g < mb_groups_count(l->v) && !l->err; g += l->step)
		l->err = touch(l->v, g);
	return NULL;
}

TEST(concurrent_first_loads)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
				   .blocks_count = 1024 * 64, .reserved_per_group = 5 };

	for (int round = 0; round < 20; round++) {
		struct mb_volume *v;
		pthread_t t[4];
		struct loader l[4];

		ASSERT_EQ_INT(mb_volume_create(&geo, &v), 0);
		for (int i = 0; i < 4; i++) {
			l[i] = (struct loader){ .v = v, .first = (uint32_t)i, .step = 4 };
			ASSERT_EQ_INT(pthread_create(&t[i], NULL, load_groups, &l[i]), 0);
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			ASSERT_EQ_INT(l[i].err, 0);
		}
		for (uint32_t g = 0; g < mb_groups_count(v); g++)
			ASSERT_TRUE(same_as_build(v, g));
		ASSERT_CHECK_CLEAN(v);
		mb_volume_destroy(v);
	}
}

/*
 * Leaves a piece of each kind full of ones on v's arena's free lists, which
 * the next first load gets before any fresh (zeroed) memory: what a group
 * loaded after another's buffers were given back finds (garena.c).
 */
static void soil_arena(struct mb_volume *v)
{
	static const int kinds[] = { MB_GARENA_DURABLE, MB_GARENA_DERIVED };

	for (int i = 0; i < 2; i++) {
		size_t bytes = i ? mb_group_derived_bytes(v) : mb_group_durable_bytes(v);
		void *p = mb_garena_get(v, kinds[i], bytes, mb_group_arena_bytes(v), NULL);

		if (p) {
			memset(p, 0xff, bytes);
			mb_garena_put(v, kinds[i], p); /* all but its first word stay ones */
		}
	}
}

/* Bit by bit: metadata and padding used, the rest free. */
static bool bitmap_is_pristine(struct mb_volume *v, const struct mb_group *grp, const uint64_t *map)
{
	uint32_t rsv = mb_group_reserved(v, grp);

	for (uint32_t b = 0; b < v->bitmap_words * 64; b++)
		if (mb_test_bit(map, b) != (b < rsv || b >= grp->bb_len))
			return false;
	return true;
}

/* grp's run tree, flushed, against a fresh build: every node. */
static bool tree_as_built(struct mb_volume *v, struct mb_group *grp)
{
	size_t words = mb_runsum_words(v);
	struct mb_rs *t = mb_runsum_tree(v, grp);
	struct mb_rs *copy = malloc(words * sizeof(uint64_t));
	bool same;

	mb_runsum_flush_locked(v, grp);
	memcpy(copy, t, words * sizeof(uint64_t));
	mb_runsum_build_locked(v, grp);
	same = !rs_model_nodes_differ(v, copy, t, false); /* knows the lazy subtrees' rule */
	free(copy);
	return same;
}

/* Loads group g (its buffers soiled first) and checks everything it derived. */
static bool loads_pristine(struct mb_volume *v, mb_grp_t g)
{
	struct mb_group *grp = mb_group_at(v, g);
	bool ok;

	soil_arena(v);
	if (mb_group_lock_usable(v, grp)) {
		mb_unlock(&grp->bb_lock);
		return false;
	}
	ok = bitmap_is_pristine(v, grp, grp->bb_disk) && bitmap_is_pristine(v, grp, grp->bb_bitmap);
	if (v->frees_wait) /* nothing pending, nothing committing */
		ok &= mb_count_zero_bits(grp->bb_disk + v->bitmap_words, 0,
					 2 * v->bitmap_words * 64) == 2 * v->bitmap_words * 64;
	ok &= tree_as_built(v, grp);
	mb_unlock(&grp->bb_lock);
	return ok && same_as_build(v, g);
}

/* Many short allocations at goals in group g (only there: GOAL_ONLY): its
   bitmap, buddy and tree all change. */
static void work_group(struct mb_volume *v, mb_grp_t g, uint32_t n)
{
	struct mb_geometry geo;

	mb_volume_geometry(v, &geo);
	uint32_t room = geo.blocks_per_group - geo.reserved_per_group;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t goal = geo.first_data_block + (uint64_t)g * geo.blocks_per_group +
				geo.reserved_per_group + 7 * i % room;
		struct mb_request r = { .goal = goal, .len = 1 + i % 5,
					.flags = MB_HINT_NOPREALLOC | MB_HINT_GOAL_ONLY };
		struct mb_extent e;

		(void)mb_alloc(v, &r, &e);
	}
}

/* Volumes with a short last group: 4 KiB blocks in groups of 4096, 32768
   and 72 (no reserve), 1 KiB blocks from block 1. */
static const struct mb_geometry pristine_shapes[] = {
	{ .block_size = 4096, .blocks_per_group = 4096, .blocks_count = 6 * 4096 + 1000,
	  .reserved_per_group = 70 },
	{ .block_size = 4096, .blocks_count = 4 * 32768 + 100, .reserved_per_group = 513 },
	{ .block_size = 4096, .blocks_per_group = 72, .blocks_count = 72 * 5 + 71,
	  .reserved_per_group = 0 },
	{ .block_size = 1024, .blocks_count = 5 * 8192 + 1, .first_data_block = 1,
	  .reserved_per_group = 260 },
};

TEST(copies_are_pristine)
{
	for (size_t i = 0; i < sizeof(pristine_shapes) / sizeof(pristine_shapes[0]); i++) {
		struct mb_volume *v;

		ASSERT_EQ_INT(mb_volume_create(&pristine_shapes[i], &v), 0);
		uint32_t n = mb_groups_count(v);

		ASSERT_TRUE(loads_pristine(v, 1)); /* builds the template */
		work_group(v, 1, 200);
		ASSERT_TRUE(mb_group_at(v, 1)->bb_free < mb_group_pristine_free(v, 1));
		for (uint32_t g = 0; g < n; g++)
			if (g != 1)
				ASSERT_TRUE(loads_pristine(v, g));
		ASSERT_CHECK_CLEAN(v);
		mb_volume_destroy(v);
	}
}

/*
 * A pristine group's first query builds its run tree by copying the
 * template's built one (pristine.c, vol->rs_pristine): on groups loaded
 * after the template's own group was worked hard (their buffers soiled), the
 * query's answer must be the bitmap's and every node a bit count's, none
 * stale; so must they be for the short last group and for groups whose
 * run lost its head before their first query, which fill instead.
 */
TEST(first_query_copies_built_tree)
{
	for (size_t i = 0; i < sizeof(pristine_shapes) / sizeof(pristine_shapes[0]); i++) {
		struct mb_volume *v;

		ASSERT_EQ_INT(mb_volume_create(&pristine_shapes[i], &v), 0);
		uint32_t n = mb_groups_count(v);

		ASSERT_TRUE(loads_pristine(v, 1)); /* builds the template */
		work_group(v, 1, 200);
		for (uint32_t g = 0; g < n; g++) {
			struct mb_group *grp = mb_group_at(v, g);

			if (g == 1)
				continue;
			soil_arena(v);
			if (g % 3 == 2) /* its run's head taken before its first
					   query: one run still, not the template's */
				work_group(v, g, 1);
			ASSERT_EQ_INT(mb_group_lock_usable(v, grp), 0);
			uint32_t want = 1 + g % 4 * (grp->bb_len / 4);

			ASSERT_EQ_INT(mb_runsum_next_long(v, grp, grp->bb_first_free, want),
				      rs_model_next_long(grp->bb_bitmap, v->bpg, grp->bb_first_free,
							 want));
			/* a group with no free block (metadata past a short last
			   group's end) is never queried: its tree stays stale */
			ASSERT_EQ_INT(rs_model_tree_differs(v, grp, !grp->bb_free), 0);
			mb_unlock(&grp->bb_lock);
		}
		ASSERT_CHECK_CLEAN(v);
		mb_volume_destroy(v);
	}
}

/*
 * The pristine mark that lets a copy's first query skip the bitmap's
 * confirm (runsum.c, mb_rs_pristine_map) stays only while the bitmap can
 * be the template's.  A pristine group worked and given back (counters
 * naming the template's run again: so is its bitmap) is queried without
 * a read and must still be right; a group whose bitmap was rewritten and
 * its buddy regenerated (the mark gone) with a block changed behind its
 * counters must be confirmed, and its tree built from the words.
 */
TEST(pristine_mark_only_while_template)
{
	for (size_t i = 0; i < sizeof(pristine_shapes) / sizeof(pristine_shapes[0]); i++) {
		struct mb_volume *v;

		ASSERT_EQ_INT(mb_volume_create(&pristine_shapes[i], &v), 0);
		uint32_t n = mb_groups_count(v);

		ASSERT_TRUE(loads_pristine(v, 0)); /* builds the template */
		for (uint32_t g = 1; g + 1 < n; g++) {
			struct mb_group *grp = mb_group_at(v, g);
			uint32_t want, b;

			ASSERT_EQ_INT(mb_group_lock_usable(v, grp), 0);
			if (g % 2) { /* worked, every block given back */
				uint32_t full = grp->bb_free;
				struct mb_extent e[4];
				uint32_t k = 0;

				mb_unlock(&grp->bb_lock);
				for (; k < 4; k++) {
					uint64_t at = v->geo.first_data_block +
						      (uint64_t)g * v->bpg +
						      mb_group_reserved(v, grp) + 16 * k;
					struct mb_request r = { .goal = at, .len = 5 + k,
								.flags = MB_HINT_NOPREALLOC |
									 MB_HINT_GOAL_ONLY };

					ASSERT_EQ_INT(mb_alloc(v, &r, &e[k]), 0);
				}
				while (k--)
					ASSERT_EQ_INT(mb_free(v, e[k].start, e[k].len), 0);
				mb_lock(&grp->bb_lock);
				ASSERT_EQ_INT(grp->bb_free, full);
				want = full;
			} else { /* regenerated, then a block changed behind it */
				mb_buddy_generate(v, grp);
				b = grp->bb_first_free + grp->bb_free / 2;
				grp->bb_bitmap[b >> 6] |= 1ULL << (b & 63);
				want = grp->bb_free;
			}
			ASSERT_EQ_INT(mb_runsum_next_long(v, grp, grp->bb_first_free, want),
				      rs_model_next_long(grp->bb_bitmap, v->bpg, grp->bb_first_free,
							 want));
			ASSERT_EQ_INT(rs_model_tree_differs(v, grp, g % 2 == 0), 0);
			if (g % 2 == 0) {
				grp->bb_bitmap[b >> 6] &= ~(1ULL << (b & 63));
				mb_buddy_generate(v, grp);
			}
			mb_unlock(&grp->bb_lock);
		}
		ASSERT_CHECK_CLEAN(v);
		mb_volume_destroy(v);
	}
}

TEST(frees_wait_maps_start_empty)
{
	static const struct mb_geometry geo = { .block_size = 1024, .blocks_per_group = 1024,
						.blocks_count = 8 * 1024 + 300,
						.reserved_per_group = 40 };
	static const struct mb_open_opts no_thread = { .commit_interval_s = 0 };
	struct mb_dev *dev;
	struct mb_volume *v;

	ASSERT_EQ_INT(mb_dev_open_memory(NULL, geo.blocks_count * geo.block_size, false, &dev), 0);
	ASSERT_EQ_INT(mb_volume_format_dev(dev, &geo, NULL), 0);
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &v), 0);
	ASSERT_TRUE(v->frees_wait);
	/* the format's own metadata may make group 0 differ: start past it */
	uint32_t n = mb_groups_count(v), first = n - 1;

	for (uint32_t g = 1; g < n; g++)
		if (v->store->ops->group_uninit(v->store, g)) {
			first = g;
			break;
		}
	ASSERT_TRUE(first < n - 1);
	ASSERT_TRUE(loads_pristine(v, first)); /* builds the template */
	work_group(v, first, 100);
	ASSERT_TRUE(mb_group_at(v, first)->bb_free < mb_group_pristine_free(v, first));
	for (uint32_t g = first + 1; g < n; g++)
		if (v->store->ops->group_uninit(v->store, g))
			ASSERT_TRUE(loads_pristine(v, g));
	ASSERT_CHECK_CLEAN(v);
	ASSERT_EQ_INT(mb_volume_close(v), 0);
}
