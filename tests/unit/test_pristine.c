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
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mb_int.h"

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
