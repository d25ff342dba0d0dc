/* SPDX-License-Identifier: MIT */
/*
 * test_race_lean.c - the linear pass's lean count in a threaded process
 * (alloc.c, mb_visit_linear_bulk_held): two threads ask for 256 blocks
 * with no goal on a volume aged into free runs of 30-120 blocks, the aged
 * cells' shape (runs long: runsum.c, mb_runsum_long_runs), so that no
 * group holds a run of the goal and every search counts runs group by
 * group and takes the longest it met.  Each count tests the group's run
 * tree fresh at its root and walks it (mb_runsum_count_locked) while the
 * other thread's takes mark that tree: both under the group's lock.  Every
 * extent handed out must be free before, none may overlap another, and
 * the volume's free count must fall by exactly what was handed out.  The
 * root's test moved before the lock (planted, the count then lean
 * whatever it found) races a take's mark: the TSan build reported it in 3
 * of 3 runs (1-4 reports each); every visit of the count here takes that
 * way (~2700 a run).
 *
 * Built twice, as test_race_p2_fast: with the testing flavour's lock
 * checks (mb_visit_enter's lock) and against the library the tools link
 * (test_race_lean_rel: a lock biased to the thread, mb_visit_lock_built_biased).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define BPG 8192u /* eight leaves of the run tree, three levels */
#define NGROUPS 8u
#define MAXEX 20000u

struct taker {
	struct mb_volume *vol;
	uint64_t start[MAXEX];
	uint32_t len[MAXEX];
	uint32_t n;
	int err; /* the last error: -ENOSPC when drained */
};

static void *take_thread(void *arg)
{
	struct taker *d = arg;

	for (;;) {
		struct mb_request r = {.len = 256, .goal = MB_GOAL_NONE};
		struct mb_extent e;

		d->err = mb_alloc(d->vol, &r, &e);
		if (d->err || d->n == MAXEX)
			return NULL;
		d->start[d->n] = e.start;
		d->len[d->n++] = e.len;
	}
}

static int by_start(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/* Ages a volume to used runs of 1..24 blocks between free runs of 30..120. */
static struct mb_volume *aged_volume(uint64_t *rng, uint8_t *was_free)
{
	const struct mb_geometry g = {.block_size = 4096, .blocks_per_group = BPG,
				      .blocks_count = (uint64_t)NGROUPS * BPG};
	const uint64_t all = (uint64_t)NGROUPS * BPG;
	struct mb_volume *vol;

	if (mb_volume_create(&g, &vol))
		return NULL;
	memset(was_free, 1, (size_t)all);
	for (uint64_t pos = 0; pos < all;) {
		uint64_t used = 1 + mb_rand_below(rng, 24), gap = 30 + mb_rand_below(rng, 91);

		used = pos + used > all ? all - pos : used;
		if (mb_mark_used(vol, pos, used)) {
			mb_volume_destroy(vol);
			return NULL;
		}
		memset(was_free + pos, 0, used);
		pos += used + gap;
	}
	return vol;
}

TEST(two_takers_count_long_runs)
{
	static struct taker d[2];
	static uint64_t got_ex[2 * MAXEX][2];
	uint8_t *was_free = malloc((size_t)NGROUPS * BPG);
	uint64_t rng = mb_test_seed;

	ASSERT_TRUE(was_free);
	for (int round = 0; round < mb_test_rounds(8); round++) {
		struct mb_volume *vol = aged_volume(&rng, was_free);
		pthread_t t[2];
		uint64_t free0, got = 0;
		size_t n = 0;

		ASSERT_TRUE(vol);
		free0 = mb_free_blocks(vol);
		for (int k = 0; k < 2; k++) {
			d[k].vol = vol;
			d[k].n = 0;
			ASSERT_EQ_INT(pthread_create(&t[k], NULL, take_thread, &d[k]), 0);
		}
		for (int k = 0; k < 2; k++) {
			pthread_join(t[k], NULL);
			ASSERT_EQ_INT(d[k].err, -ENOSPC);
			for (uint32_t i = 0; i < d[k].n; i++) {
				ASSERT_TRUE(d[k].len[i] && d[k].len[i] <= 256);
				got_ex[n][0] = d[k].start[i];
				got_ex[n++][1] = d[k].len[i];
				got += d[k].len[i];
			}
		}
		qsort(got_ex, n, sizeof(got_ex[0]), by_start);
		for (size_t i = 0; i < n; i++) {
			ASSERT_TRUE(got_ex[i][0] + got_ex[i][1] <= (uint64_t)NGROUPS * BPG);
			if (i)
				ASSERT_TRUE(got_ex[i - 1][0] + got_ex[i - 1][1] <= got_ex[i][0]);
			for (uint64_t b = got_ex[i][0]; b < got_ex[i][0] + got_ex[i][1]; b++)
				ASSERT_TRUE(was_free[b]);
		}
		ASSERT_EQ_U64(mb_free_blocks(vol), free0 - got);
		mb_volume_destroy(vol);
	}
	free(was_free);
}
