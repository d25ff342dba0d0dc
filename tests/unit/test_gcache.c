/* SPDX-License-Identifier: MIT */
/*
 * test_gcache.c - lazily set-up groups and dropped buddies (group.c,
 * gcache.c) change no decision.
 *
 * drops_same_decisions: two volumes, one with mb_cache_groups = 1 (every
 * build drops the previous group's bitmap and buddy, so nearly every request
 * rebuilds), run the same seeded mix of file and metadata allocations,
 * frees, mark-used, constrained allocations, trims and discards; every
 * answer must be identical, and both volumes mb_check-clean.
 * untouched_groups_stay_untouched: a 64 TiB volume sets up only the groups
 * it uses, and its counts add up as if every group were there.
 * short_last_group: the pristine counts of a volume whose last group is
 * short hold to the last block.
 * one_bitmap_until_a_pa: a built group without PA, pending free or trim
 * keeps one bitmap (in-core == on-disk, shared), and so does one whose PA
 * is tail-clean (an lg PA); a trim's hold gives it its own in-core copy,
 * which the group keeps while hot (the quiet ring) and gives back when it
 * goes cold.
 * shared_pa_splits_when_needed: a file's PA made at its request's front
 * keeps its group's maps shared through takes at its tail and its
 * discard, with the on-disk map (mb_check, mb_allocated_blocks,
 * mb_group_free_extents) without the PA's tail; a take past the tail, a
 * free inside the PA or of its tail, a trim and an imposed PA each split
 * the maps first, and the volume stays mb_check-clean throughout.
 * shared_pa_front_stays_shared: a file's PA placed before its request (an
 * unused front below the request's share) keeps the maps shared through
 * a take at its tail and its discard, the on-disk map without its front
 * and tail; a take in the front and a free there split the maps first.
 * legacy_pa_copies_before_listing: the legacy policy's PA, listed after
 * the group lock, splits the maps before: the on-disk map read in between
 * holds the request's share only.
 * hot_group_keeps_its_copy: PA create/release cycles on one group copy its
 * bitmap once (gc_copies), not once a cycle; MB_GCACHE_QUIET other groups
 * losing their last PA make it cold: shared again (its copy's memory kept
 * as the volume's spare), and copied again by its next PA, into the spare;
 * at most gq_size groups hold a copy nothing needs.
 * quiet_copy_not_freed_under_its_user: a thread holds a quiet group's lock
 * while another group's entry displaces it from the quiet ring; the copy is
 * only tried, so it stays (the holder reads it after: a use after free
 * under ASan, and a changed pointer, without the trylock), and the newcomer
 * is shared at once instead.
 * cold_group_with_a_hold_keeps_its_copy: a quiet group goes cold while a
 * trim holds one of its runs (used in the buddy, free on disk): its copy
 * differs from bb_disk only there, and it must not be shared (the free
 * counts tell, mb_gcache_same_bits_locked).
 * arena_goes_huge_after_sixteen_groups: the arena's first chunk holds
 * sixteen groups' worth, then a huge one follows.
 * arena_pieces_by_kind_and_apart: the groups' buffers (garena.c) are
 * reused by kind only and never overlap.
 * group_structs_faulted_by_window: the first set-up in a window of group
 * structs faults in that window's pages, no other, and creation none.
 * built_group_in_8k: at 4 KiB blocks a built group -- struct, shared
 * bitmap, stored buddy orders and run tree -- fits in 8 KiB, ext4's
 * bitmap + buddy: 64 MiB per TiB with every group built.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "mb_int.h"

#define NFILES 8

struct pair {
	struct mb_volume *v[2];
	struct mb_file *f[2][NFILES];
	uint64_t fsize[NFILES];
};

static int no_discard(uint64_t start, uint64_t len, void *arg)
{
	(void)start;
	(void)len;
	(void)arg;
	return 0;
}

/* Locality groups follow the CPU: keep both volumes' calls on one. */
static void pin_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

/* Extents handed out and not freed yet (the same for both volumes). */
struct held {
	uint64_t start[4096];
	uint32_t len[4096];
	unsigned n;
};

static void one_alloc(struct pair *p, struct held *h, uint64_t *rng, int *err, uint64_t *start)
{
	struct mb_geometry geo;
	int fi = (int)mb_rand_below(rng, NFILES + 2) - 2; /* < 0: metadata */
	uint32_t len = 1 + (uint32_t)mb_rand_below(rng, mb_rand_below(rng, 4) ? 32 : 300);
	bool goal = mb_rand_below(rng, 3) == 0;
	bool cons = mb_rand_below(rng, 10) == 0;
	struct mb_extent ex[2];

	mb_volume_geometry(p->v[0], &geo);
	uint64_t g = goal ? mb_rand_below(rng, geo.blocks_count) : MB_GOAL_NONE;

	for (int i = 0; i < 2; i++) {
		struct mb_request rq = { .file = fi >= 0 ? p->f[i][fi] : NULL,
					 .logical = fi >= 0 ? p->fsize[fi] : 0,
					 .goal = g, .len = len };
		struct mb_constraint c = { .align = 4 };

		if (fi >= 0)
			mb_file_set_size(p->f[i][fi], p->fsize[fi] + len);
		err[i] = cons ? mb_alloc_constrained(p->v[i], &rq, &c, &ex[i])
			      : mb_alloc(p->v[i], &rq, &ex[i]);
		start[i] = err[i] ? 0 : ex[i].start * 65536 + ex[i].len;
	}
	if (!err[0] && err[1] == 0 && start[0] == start[1]) {
		if (fi >= 0)
			p->fsize[fi] += ex[0].len;
		if (h->n < 4096) {
			h->start[h->n] = ex[0].start;
			h->len[h->n++] = ex[0].len;
		}
	}
}

/* One random operation on both volumes; 0 when they answered alike. */
static int one_op(struct pair *p, struct held *h, uint64_t *rng, unsigned step)
{
	unsigned op = (unsigned)mb_rand_below(rng, 100);
	int err[2] = { 0, 0 };
	uint64_t got[2] = { 0, 0 };

	if (op < 55 || !h->n) {
		one_alloc(p, h, rng, err, got);
	} else if (op < 85) {
		unsigned k = (unsigned)mb_rand_below(rng, h->n);

		for (int i = 0; i < 2; i++)
			err[i] = mb_free(p->v[i], h->start[k], h->len[k]);
		h->start[k] = h->start[--h->n];
		h->len[k] = h->len[h->n];
	} else if (op < 90) {
		uint64_t b = mb_rand_below(rng, mb_groups_count(p->v[0]) * 1024ULL);

		for (int i = 0; i < 2; i++)
			err[i] = mb_mark_used(p->v[i], b, 3);
		if (!err[0] && h->n < 4096) {
			h->start[h->n] = b;
			h->len[h->n++] = 3;
		}
	} else if (op < 95) {
		int fi = (int)mb_rand_below(rng, NFILES);

		for (int i = 0; i < 2; i++)
			got[i] = (uint64_t)mb_file_discard(p->f[i][fi]);
	} else if (op < 97) {
		uint64_t b = mb_rand_below(rng, mb_groups_count(p->v[0]) * 1024ULL - 4096);

		for (int i = 0; i < 2; i++)
			got[i] = (uint64_t)mb_trim(p->v[i], b, 4096, 8, no_discard, NULL);
	} else {
		for (int i = 0; i < 2; i++)
			got[i] = (uint64_t)mb_discard_all(p->v[i]);
	}
	if (err[0] != err[1] || got[0] != got[1]) {
		printf("step %u op %u: err %d/%d, result %" PRIu64 "/%" PRIu64 "\n", step, op,
		       err[0], err[1], got[0], got[1]);
		return -1;
	}
	return 0;
}

TEST(drops_same_decisions)
{
	/* 64 groups of 1024 blocks, 2 metadata blocks each */
	const struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
					 .blocks_count = 72 * 1024, .reserved_per_group = 2 };
	static struct pair p;
	static struct held h;
	uint64_t rng = mb_test_seed;
	unsigned steps = (unsigned)(6000 * mb_test_scale);
	struct mb_stats st[2];

	pin_cpu();
	memset(&p, 0, sizeof(p));
	h.n = 0;
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ_INT(mb_volume_create(&geo, &p.v[i]), 0);
		ASSERT_EQ_INT(mb_tunable_set(p.v[i], "mb_stats", 1), 0);
		for (int f = 0; f < NFILES; f++)
			ASSERT_EQ_INT(mb_file_open(p.v[i], 100 + 37 * (uint64_t)f, &p.f[i][f]), 0);
	}
	ASSERT_EQ_INT(mb_tunable_set(p.v[1], "mb_cache_groups", 1), 0);
	ASSERT_EQ_INT(mb_tunable_set(p.v[1], "mb_cache_groups", 0), -EINVAL);
	for (unsigned s = 0; s < steps; s++)
		ASSERT_EQ_INT(one_op(&p, &h, &rng, s), 0);
	mb_stats_get(p.v[0], &st[0]);
	mb_stats_get(p.v[1], &st[1]);
	printf("%u steps: %" PRIu64 " drops, buddies generated %" PRIu64 " (cached) / %" PRIu64
	       " (one group cached)\n",
	       steps, (uint64_t)atomic_load(&p.v[1]->gc_drops), st[0].buddies_generated,
	       st[1].buddies_generated);
	ASSERT_EQ_U64(atomic_load(&p.v[0]->gc_drops), 0);
	ASSERT_LE_U64(steps / 10, atomic_load(&p.v[1]->gc_drops)); /* it really dropped */
	ASSERT_EQ_U64(mb_free_blocks(p.v[0]), mb_free_blocks(p.v[1]));
	ASSERT_CHECK_CLEAN(p.v[0]);
	ASSERT_CHECK_CLEAN(p.v[1]);
	for (int i = 0; i < 2; i++)
		mb_volume_destroy(p.v[i]);
}

TEST(untouched_groups_stay_untouched)
{
	/* 64 TiB of 4 KiB blocks: 524288 groups */
	const struct mb_geometry geo = { .block_size = 4096, .blocks_count = 1ULL << 34 };
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_request rq = { .goal = (1ULL << 34) - 100000, .len = 64 };
	struct mb_statfs sf;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	/* the last group is set up at creation; nothing else yet */
	ASSERT_EQ_U64(mb_gset_count(&vol->setup_set), 1);
	ASSERT_EQ_U64(mb_free_blocks(vol), 1ULL << 34);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_EQ_U64(mb_gset_count(&vol->setup_set), 2);
	ASSERT_EQ_INT(mb_statfs(vol, &sf), 0);
	ASSERT_EQ_U64(mb_free_blocks(vol), (1ULL << 34) - 64);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(mb_free(vol, ex.start, ex.len), 0);
	ASSERT_EQ_U64(mb_discard_all(vol), 0);
	ASSERT_EQ_U64(mb_gset_count(&vol->setup_set), 2);
	ASSERT_EQ_U64(mb_free_blocks(vol), 1ULL << 34);
	mb_volume_destroy(vol);
}

TEST(short_last_group)
{
	/* 10 groups of 512 and a last one of 100 blocks, 7 metadata blocks each */
	const struct mb_geometry geo = { .block_size = 1024, .blocks_per_group = 512,
					 .blocks_count = 1 + 10 * 512 + 100,
					 .first_data_block = 1, .reserved_per_group = 7 };
	struct mb_volume *vol;
	uint64_t want = 10 * (512 - 7) + (100 - 7), got = 0;
	struct mb_extent ex;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 64, .flags = MB_HINT_NOPREALLOC };

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_U64(mb_free_blocks(vol), want);
	ASSERT_CHECK_CLEAN(vol);
	while (mb_alloc(vol, &rq, &ex) == 0)
		got += ex.len;
	ASSERT_EQ_U64(got, want);
	ASSERT_EQ_U64(mb_free_blocks(vol), 0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

static int count_runs(uint64_t start, uint64_t len, void *arg)
{
	struct mb_volume *vol = arg;
	struct mb_group *grp = mb_group_at(vol, mb_block_group(vol, start));

	(void)len;
	/* the run is held: used in the buddy, free on disk, so two bitmaps */
	return grp->bb_bitmap == grp->bb_disk ? -EIO : 0;
}

/* Whether grp holds an in-core copy that nothing needs (in the quiet ring);
   such a copy must have the on-disk bits. */
static bool quiet_copy(struct mb_volume *vol, struct mb_group *grp)
{
	bool quiet = atomic_load(&grp->bb_state) & MB_GRP_QUIET;

	if (grp->bb_bitmap == grp->bb_disk || !mb_list_empty(&grp->bb_prealloc_list))
		return false;
	return quiet && !memcmp(grp->bb_bitmap, grp->bb_disk, vol->bitmap_words * sizeof(uint64_t));
}

/* A PA made and released in each group of [first, last): each enters the
   quiet ring once (a 1024-block group geometry). */
static void cycle_groups(struct mb_volume *vol, struct mb_file *f, uint32_t first, uint32_t last,
			 uint64_t *lblk)
{
	for (uint32_t g = first; g < last; g++) {
		ASSERT_EQ_INT(mb_prealloc_add(vol, f, 0, (uint64_t)g * 1024 + 500, *lblk, 8), 0);
		*lblk += 8;
		ASSERT_EQ_U64((uint64_t)mb_file_discard(f), 8);
	}
}

TEST(one_bitmap_until_a_pa)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
					 .blocks_count = 72 * 1024, .reserved_per_group = 2 };
	struct mb_volume *vol;
	struct mb_file *f;
	struct mb_extent ex;
	struct mb_request md = { .goal = 1024 + 100, .len = 5, .flags = MB_HINT_NOPREALLOC };

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	struct mb_group *grp = mb_group_at(vol, 1);

	ASSERT_EQ_INT(mb_alloc(vol, &md, &ex), 0);
	ASSERT_EQ_U64(mb_block_group(vol, ex.start), 1);
	ASSERT_TRUE(grp->bb_disk && grp->bb_bitmap == grp->bb_disk);
	ASSERT_CHECK_CLEAN(vol);
	/* a file's 1-block write is normalized: the rest of the window is a PA */
	ASSERT_EQ_INT(mb_file_open(vol, 7, &f), 0);
	mb_file_set_size(f, 1);
	struct mb_request rq = { .file = f, .goal = 1024 + 300, .len = 1 };

	uint64_t copies = atomic_load(&vol->gc_copies);

	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_EQ_U64(mb_block_group(vol, ex.start), 1);
	ASSERT_TRUE(!mb_list_empty(&grp->bb_prealloc_list));
	/* an lg PA (a small file) is handed out from its front: tail-clean */
	ASSERT_TRUE(grp->bb_bitmap == grp->bb_disk);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_LE_U64(1, (uint64_t)mb_discard_all(vol));
	ASSERT_TRUE(mb_list_empty(&grp->bb_prealloc_list));
	ASSERT_TRUE(grp->bb_bitmap == grp->bb_disk);
	ASSERT_EQ_U64(atomic_load(&vol->gc_copies) - copies, 0);
	ASSERT_CHECK_CLEAN(vol);
	struct mb_file *g;
	uint64_t lblk = 0;

	ASSERT_EQ_INT(mb_file_open(vol, 8, &g), 0);
	/* a trim holds each run apart while its callback runs; then the group
	   keeps the copy while hot, and shares when cold */
	ASSERT_LE_U64(1, (uint64_t)mb_trim(vol, 1024, 1024, 1, count_runs, vol));
	ASSERT_TRUE(quiet_copy(vol, grp));
	cycle_groups(vol, g, 2 + vol->gq_size, 2 + 2 * vol->gq_size, &lblk);
	ASSERT_TRUE(grp->bb_bitmap == grp->bb_disk);
	mb_file_close(g);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_INT(mb_free(vol, ex.start, ex.len), 0);
	mb_file_close(f);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* The PA a file's first request made in group g: an inode PA whose
   request's share is its front, in a group whose maps stay shared. */
static struct mb_pa *front_pa(struct mb_volume *vol, struct mb_file *f, uint32_t g,
			      struct mb_extent *ex)
{
	struct mb_request rq = { .file = f, .goal = (uint64_t)g * 1024 + 128, .len = 8,
				 .flags = MB_HINT_TRY_GOAL };
	struct mb_group *grp = mb_group_at(vol, g);

	mb_file_set_size(f, 64); /* not a small file: an inode PA */
	if (mb_alloc(vol, &rq, ex) || mb_block_group(vol, ex->start) != g ||
	    mb_list_empty(&grp->bb_prealloc_list) || grp->bb_bitmap != grp->bb_disk)
		return NULL;
	struct mb_pa *pa = MB_CONTAINER_OF(grp->bb_prealloc_list.next, struct mb_pa, pa_group_list);

	return pa->pa_type == MB_INODE_PA && pa->pa_pstart == ex->start &&
			       pa->pa_clean_off == mb_block_offset(vol, ex->start) + 8 &&
			       pa->pa_free == pa->pa_len - 8
		       ? pa
		       : NULL;
}

static int count_free(uint64_t start, uint32_t len, void *arg)
{
	(void)start;
	*(uint64_t *)arg += len;
	return 0;
}

static int keep_going(uint64_t start, uint64_t len, void *arg)
{
	(void)start;
	(void)len;
	(void)arg;
	return 0;
}

TEST(shared_pa_splits_when_needed)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
					 .blocks_count = 72 * 1024, .reserved_per_group = 2 };
	struct mb_volume *vol;
	struct mb_file *f[8];
	struct mb_extent ex, ex2;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	for (int i = 0; i < 8; i++)
		ASSERT_EQ_INT(mb_file_open(vol, 20 + (uint64_t)i, &f[i]), 0);
	uint64_t copies = atomic_load(&vol->gc_copies);

	/* group 1: takes at the tail and the discard, one bitmap throughout */
	struct mb_group *grp = mb_group_at(vol, 1);
	struct mb_pa *pa = front_pa(vol, f[1], 1, &ex);

	ASSERT_TRUE(pa != NULL);
	uint32_t plen = pa->pa_len;
	uint64_t disk_free = 0, incore_free = 0;

	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_U64((uint64_t)mb_allocated_blocks(vol, pa->pa_pstart, plen), 8);
	ASSERT_EQ_INT(mb_group_free_extents(vol, 1, MB_FREE_ONDISK, count_free, &disk_free), 0);
	ASSERT_EQ_INT(mb_group_free_extents(vol, 1, 0, count_free, &incore_free), 0);
	ASSERT_EQ_U64(disk_free, grp->bg_free);
	ASSERT_EQ_U64(incore_free + plen - 8, disk_free);
	struct mb_request next = { .file = f[1], .logical = 8, .goal = ex.start + 8, .len = 8 };

	ASSERT_EQ_INT(mb_alloc(vol, &next, &ex2), 0);
	ASSERT_EQ_U64(ex2.start, ex.start + 8);
	ASSERT_TRUE(grp->bb_bitmap == grp->bb_disk);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_U64((uint64_t)mb_file_discard(f[1]), plen - 16);
	ASSERT_TRUE(grp->bb_bitmap == grp->bb_disk && mb_list_empty(&grp->bb_prealloc_list));
	ASSERT_EQ_U64(atomic_load(&vol->gc_copies) - copies, 0);
	ASSERT_CHECK_CLEAN(vol);

	/* groups 2 and 3: a take past the tail (the fast path, then with
	   mb_stats on the regular one) leaves a hole: split first */
	for (uint32_t g = 2; g <= 3; g++) {
		grp = mb_group_at(vol, g);
		ASSERT_EQ_INT(mb_tunable_set(vol, "mb_stats", g == 3), 0);
		ASSERT_TRUE((pa = front_pa(vol, f[g], g, &ex)) != NULL);
		struct mb_request past = { .file = f[g], .logical = 16, .goal = ex.start + 16,
					   .len = 8 };

		ASSERT_EQ_INT(mb_alloc(vol, &past, &ex2), 0);
		ASSERT_EQ_U64(ex2.start, ex.start + 16);
		ASSERT_TRUE(grp->bb_bitmap != grp->bb_disk);
		ASSERT_EQ_U64(pa->pa_free, pa->pa_len - 16);
		ASSERT_CHECK_CLEAN(vol);
	}
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_stats", 0), 0);
	/* group 4: a free inside the PA's used front goes back to the PA */
	grp = mb_group_at(vol, 4);
	ASSERT_TRUE((pa = front_pa(vol, f[4], 4, &ex)) != NULL);
	ASSERT_EQ_INT(mb_free(vol, ex.start + 2, 2), 0);
	ASSERT_TRUE(grp->bb_bitmap != grp->bb_disk);
	ASSERT_EQ_U64(pa->pa_free, pa->pa_len - 6);
	ASSERT_CHECK_CLEAN(vol);
	/* group 5: the PA's tail is not used on disk: its free is refused */
	grp = mb_group_at(vol, 5);
	ASSERT_TRUE((pa = front_pa(vol, f[5], 5, &ex)) != NULL);
	ASSERT_EQ_INT(mb_free(vol, ex.start + 8, 1), -EEXIST);
	ASSERT_EQ_INT(mb_free(vol, ex.start + 7, 2), -EEXIST);
	ASSERT_CHECK_CLEAN(vol);
	/* group 6: a trim's hold */
	grp = mb_group_at(vol, 6);
	ASSERT_TRUE((pa = front_pa(vol, f[6], 6, &ex)) != NULL);
	ASSERT_LE_U64(1, (uint64_t)mb_trim(vol, 6 * 1024, 1024, 1, keep_going, NULL));
	ASSERT_TRUE(grp->bb_bitmap != grp->bb_disk);
	ASSERT_CHECK_CLEAN(vol);
	/* group 7: an imposed PA, checked against the on-disk map */
	grp = mb_group_at(vol, 7);
	ASSERT_TRUE((pa = front_pa(vol, f[7], 7, &ex)) != NULL);
	ASSERT_EQ_INT(mb_prealloc_add(vol, f[0], 0, ex.start + 8, 0, 4), -EEXIST);
	ASSERT_TRUE(grp->bb_bitmap != grp->bb_disk);
	ASSERT_EQ_INT(mb_prealloc_add(vol, f[0], 0, ex.start + pa->pa_len, 0, 4), 0);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_U64(atomic_load(&vol->gc_copies) - copies, 6);
	for (int i = 0; i < 8; i++)
		mb_file_close(f[i]);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* The PA a file's request at logical 40 made in group g: an inode PA
   placed before its request (the normalized window starts at logical 0),
   its front unused, in a group whose maps stay shared. */
static struct mb_pa *front_gap_pa(struct mb_volume *vol, struct mb_file *f, uint32_t g,
				  struct mb_extent *ex)
{
	struct mb_request rq = { .file = f, .logical = 40, .goal = (uint64_t)g * 1024 + 128 + 40,
				 .len = 8, .flags = MB_HINT_TRY_GOAL };
	struct mb_group *grp = mb_group_at(vol, g);

	mb_file_set_size(f, 64);
	if (mb_alloc(vol, &rq, ex) || mb_block_group(vol, ex->start) != g ||
	    mb_list_empty(&grp->bb_prealloc_list) || grp->bb_bitmap != grp->bb_disk)
		return NULL;
	struct mb_pa *pa = MB_CONTAINER_OF(grp->bb_prealloc_list.next, struct mb_pa, pa_group_list);

	return pa->pa_type == MB_INODE_PA && pa->pa_pstart + 40 == ex->start &&
			       pa->pa_lstart == 0 && pa->pa_len == 64 &&
			       pa->pa_front_end == mb_block_offset(vol, ex->start) &&
			       pa->pa_clean_off == mb_block_offset(vol, ex->start) + 8 &&
			       pa->pa_free == 56
		       ? pa
		       : NULL;
}

/*
 * A PA with an unused front keeps its group's maps shared: the on-disk
 * map's readers see its front and tail free (mb_check, mb_allocated_blocks,
 * mb_group_free_extents with MB_FREE_ONDISK), a take at its tail and its
 * discard (front and tail back to the buddy) copy nothing; a take in the
 * front, and a free there, split the maps first.
 */
TEST(shared_pa_front_stays_shared)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
					 .blocks_count = 72 * 1024, .reserved_per_group = 2 };
	struct mb_volume *vol;
	struct mb_file *f[4];
	struct mb_extent ex, ex2;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ_INT(mb_file_open(vol, 40 + (uint64_t)i, &f[i]), 0);
	uint64_t copies = atomic_load(&vol->gc_copies);

	/* group 1: the tail's take and the discard, one bitmap throughout */
	struct mb_group *grp = mb_group_at(vol, 1);
	struct mb_pa *pa = front_gap_pa(vol, f[1], 1, &ex);
	uint64_t disk_free = 0, incore_free = 0;

	ASSERT_TRUE(pa != NULL);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_U64((uint64_t)mb_allocated_blocks(vol, pa->pa_pstart, 64), 8);
	ASSERT_EQ_U64((uint64_t)mb_allocated_blocks(vol, pa->pa_pstart + 39, 1), 0);
	ASSERT_EQ_U64((uint64_t)mb_allocated_blocks(vol, pa->pa_pstart + 40, 1), 1);
	ASSERT_EQ_INT(mb_group_free_extents(vol, 1, MB_FREE_ONDISK, count_free, &disk_free), 0);
	ASSERT_EQ_INT(mb_group_free_extents(vol, 1, 0, count_free, &incore_free), 0);
	ASSERT_EQ_U64(disk_free, grp->bg_free);
	ASSERT_EQ_U64(incore_free + 56, disk_free);
	struct mb_request next = { .file = f[1], .logical = 48, .goal = ex.start + 8, .len = 8 };

	ASSERT_EQ_INT(mb_alloc(vol, &next, &ex2), 0);
	ASSERT_EQ_U64(ex2.start, ex.start + 8);
	ASSERT_TRUE(grp->bb_bitmap == grp->bb_disk);
	ASSERT_CHECK_CLEAN(vol);
	uint64_t pstart = pa->pa_pstart;

	ASSERT_EQ_U64((uint64_t)mb_file_discard(f[1]), 48);
	ASSERT_TRUE(grp->bb_bitmap == grp->bb_disk && mb_list_empty(&grp->bb_prealloc_list));
	ASSERT_EQ_U64(atomic_load(&vol->gc_copies) - copies, 0);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_U64((uint64_t)mb_allocated_blocks(vol, pstart, 64), 16);

	/* group 2: a take in the front (logical 8) splits the maps first,
	   then takes its blocks as unused */
	grp = mb_group_at(vol, 2);
	ASSERT_TRUE((pa = front_gap_pa(vol, f[2], 2, &ex)) != NULL);
	struct mb_request back = { .file = f[2], .logical = 8, .goal = ex.start - 32, .len = 8 };

	ASSERT_EQ_INT(mb_alloc(vol, &back, &ex2), 0);
	ASSERT_EQ_U64(ex2.start, ex.start - 32);
	ASSERT_TRUE(grp->bb_bitmap != grp->bb_disk);
	ASSERT_EQ_U64(pa->pa_free, 48);
	ASSERT_EQ_U64(atomic_load(&vol->gc_copies) - copies, 1);
	ASSERT_CHECK_CLEAN(vol);
	ASSERT_EQ_U64((uint64_t)mb_file_discard(f[2]), 48);
	ASSERT_CHECK_CLEAN(vol);

	/* group 3: the front is not used on disk: its free is refused (the
	   maps split to tell) */
	grp = mb_group_at(vol, 3);
	ASSERT_TRUE((pa = front_gap_pa(vol, f[3], 3, &ex)) != NULL);
	ASSERT_EQ_INT(mb_free(vol, ex.start - 1, 1), -EEXIST);
	ASSERT_EQ_INT(mb_free(vol, ex.start - 1, 2), -EEXIST);
	ASSERT_EQ_INT(mb_free(vol, ex.start, 1), 0);
	ASSERT_EQ_U64(pa->pa_free, 57);
	ASSERT_CHECK_CLEAN(vol);
	for (int i = 0; i < 4; i++)
		mb_file_close(f[i]);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

struct disk_count {
	struct mb_volume *vol;
	int64_t used;
};

/* The hook of legacy_pa_copies_before_listing: group 1's blocks used on
   disk where the legacy policy's new PA is not yet listed. */
static void count_on_disk(void *arg, int id, uint32_t group, int cr)
{
	struct disk_count *c = arg;

	(void)cr;
	if (id == MB_HOOK_LEFTOVER_UNLINKED && group == 1)
		c->used = mb_allocated_blocks(c->vol, 1024, 1024);
}

/*
 * The legacy policy lists its PA after the group lock is dropped: made in
 * a shared group, the PA's unused blocks would be set in bb_disk with no
 * PA to tell they are free on disk.  So it copies first, and the on-disk
 * map read in between holds only the request's share.
 */
TEST(legacy_pa_copies_before_listing)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
					 .blocks_count = 8 * 1024, .reserved_per_group = 2 };
	struct mb_volume *vol;
	struct mb_file *f;
	struct mb_extent ex;
	struct disk_count c = { .used = -1 };

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_enospc_policy", MB_POLICY_LEGACY), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 9, &f), 0);
	c.vol = vol;
	int64_t before = mb_allocated_blocks(vol, 1024, 1024);
	struct mb_request rq = { .file = f, .goal = 1024 + 128, .len = 8,
				 .flags = MB_HINT_TRY_GOAL };

	mb_file_set_size(f, 64);
	mb_hook_set(vol, count_on_disk, &c);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	mb_hook_set(vol, NULL, NULL);
	ASSERT_EQ_U64(mb_block_group(vol, ex.start), 1);
	ASSERT_TRUE(!mb_list_empty(&mb_group_at(vol, 1)->bb_prealloc_list));
	ASSERT_EQ_U64((uint64_t)c.used, (uint64_t)before + 8);
	ASSERT_EQ_U64((uint64_t)mb_allocated_blocks(vol, 1024, 1024), (uint64_t)before + 8);
	ASSERT_CHECK_CLEAN(vol);
	mb_file_close(f);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* The group a trim holds goes cold mid-hold: gq_size other groups take
   the quiet ring from it while its run is held (used in the buddy, free on
   disk).  The held run is the only difference, and the count test
   (mb_gcache_same_bits_locked) must see it: sharing now would lose it. */
struct cold_hold {
	struct mb_volume *vol;
	struct mb_file *f;
	uint64_t lblk;
	int calls;
};

static int cold_during_hold(uint64_t start, uint64_t len, void *arg)
{
	struct cold_hold *c = arg;
	struct mb_group *grp = mb_group_at(c->vol, mb_block_group(c->vol, start));

	(void)len;
	if (c->calls++)
		return 0;
	if (!(atomic_load(&grp->bb_state) & MB_GRP_QUIET))
		return -EIO; /* the set-up below did not make it quiet */
	cycle_groups(c->vol, c->f, 2, 2 + c->vol->gq_size, &c->lblk);
	if (atomic_load(&grp->bb_state) & MB_GRP_QUIET)
		return -EIO; /* not displaced: nothing tested */
	return grp->bb_bitmap == grp->bb_disk ? -EIO : 0;
}

TEST(cold_group_with_a_hold_keeps_its_copy)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
					 .blocks_count = 72 * 1024, .reserved_per_group = 2 };
	struct mb_volume *vol;
	struct cold_hold c = { 0 };

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 8, &c.f), 0);
	c.vol = vol;
	/* group 1 hot: a PA made and released there, its copy kept (quiet) */
	cycle_groups(vol, c.f, 1, 2, &c.lblk);
	struct mb_group *grp = mb_group_at(vol, 1);

	ASSERT_TRUE(quiet_copy(vol, grp));
	ASSERT_LE_U64(1, (uint64_t)mb_trim(vol, 1024, 1024, 1, cold_during_hold, &c));
	ASSERT_LE_U64(1, (uint64_t)c.calls);
	ASSERT_CHECK_CLEAN(vol);
	mb_file_close(c.f);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

TEST(built_group_in_8k)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_count = 4 * 32768 };
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_request rq = { .goal = 32768 + 77, .len = 16, .flags = MB_HINT_NOPREALLOC };

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	struct mb_group *grp = mb_group_at(vol, 1);
	size_t bitmap = vol->bitmap_words * sizeof(uint64_t);
	size_t derived = (vol->fws_off + mb_fws_words(vol)) * sizeof(uint64_t);

	ASSERT_TRUE(grp->bb_buddy && grp->bb_bitmap == grp->bb_disk);
	printf("built group: struct %zu + bitmap %zu + buddy %zu + run tree %zu bytes\n",
	       sizeof(struct mb_group), bitmap, vol->buddy_words * sizeof(uint64_t),
	       mb_runsum_words(vol) * sizeof(uint64_t));
	/* the arena's pieces: whole cache lines (garena.c) */
	ASSERT_LE_U64(sizeof(struct mb_group) + bitmap + ((derived + 63) & ~(size_t)63), 8192);
	ASSERT_EQ_INT(mb_free(vol, ex.start, ex.len), 0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* The derived buffer starts a cache line and the buddy's top orders lie in
   that line: a 256-block take in a cold group (random goals) reads and
   splits orders 8 to 13 at 4 KiB blocks, one line for them all (volume.c,
   group.c). */
TEST(derived_top_orders_in_first_line)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_count = 4 * 32768 };
	struct mb_volume *vol;
	struct mb_extent ex[4];

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(vol->max_order, 13);
	for (int k = 8; k <= vol->max_order; k++)
		ASSERT_LE_U64(vol->mb_offsets[k] + (vol->mb_maxs[k] + 63) / 64, 8);
	/* every group's buffer (the arena's, on a line: four groups, in
	   case one started a line by chance) */
	for (mb_grp_t g = 0; g < 4; g++) {
		struct mb_request rq = { .goal = g * 32768 + 77, .len = 256,
					 .flags = MB_HINT_NOPREALLOC };

		ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex[g]), 0);
		struct mb_group *grp = mb_group_at(vol, g);

		ASSERT_TRUE(grp->bb_buddy != NULL);
		ASSERT_EQ_U64((uintptr_t)grp->bb_buddy % 64, 0);
	}
	for (int g = 0; g < 4; g++)
		ASSERT_EQ_INT(mb_free(vol, ex[g].start, ex[g].len), 0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

TEST(hot_group_keeps_its_copy)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
					 .blocks_count = 128 * 1024, .reserved_per_group = 2 };
	struct mb_volume *vol;
	struct mb_file *f;
	uint64_t lblk = 0;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 7, &f), 0);
	ASSERT_EQ_U64(vol->gq_size, MB_GCACHE_QUIET);
	struct mb_group *grp = mb_group_at(vol, 1);
	uint64_t copies = atomic_load(&vol->gc_copies);

	/* hot: ten PAs come and go, one copy */
	for (int i = 0; i < 10; i++) {
		cycle_groups(vol, f, 1, 2, &lblk);
		ASSERT_EQ_U64(atomic_load(&vol->gc_copies) - copies, 1);
	}
	ASSERT_TRUE(quiet_copy(vol, grp));
	ASSERT_CHECK_CLEAN(vol);
	/* one group short of cold: still kept */
	cycle_groups(vol, f, 2, 1 + MB_GCACHE_QUIET, &lblk);
	ASSERT_TRUE(quiet_copy(vol, grp));
	/* the next group makes it cold: shared, the same bits; the copy's
	   memory is the volume's spare */
	uint64_t *mem = grp->bb_bitmap;

	cycle_groups(vol, f, 1 + MB_GCACHE_QUIET, 2 + MB_GCACHE_QUIET, &lblk);
	ASSERT_TRUE(grp->bb_bitmap == grp->bb_disk);
	ASSERT_TRUE(!(atomic_load(&grp->bb_state) & MB_GRP_QUIET));
	ASSERT_EQ_U64(atomic_load(&vol->gc_copies) - copies, 1 + MB_GCACHE_QUIET);
	ASSERT_TRUE(atomic_load(&vol->gc_spare) == mem);
	ASSERT_CHECK_CLEAN(vol);
	/* its next PA copies again, into the spare (taken: the spare now is
	   the copy of the group its return to the ring made cold) */
	cycle_groups(vol, f, 1, 2, &lblk);
	ASSERT_EQ_U64(atomic_load(&vol->gc_copies) - copies, 2 + MB_GCACHE_QUIET);
	ASSERT_TRUE(grp->bb_bitmap == mem && atomic_load(&vol->gc_spare) != mem);
	/* many groups through the ring: never more than gq_size unneeded copies */
	cycle_groups(vol, f, 2, 128, &lblk);
	uint32_t kept = 0;

	for (uint32_t g = 1; g < 128; g++)
		kept += quiet_copy(vol, mb_group_at(vol, g));
	ASSERT_EQ_U64(kept, vol->gq_size);
	mb_file_close(f);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* Thread B: holds a group's lock until told, then reads its in-core map. */
struct holder {
	struct mb_group *grp;
	pthread_mutex_t m;
	pthread_cond_t c;
	bool held, go;
	const uint64_t *seen; /* bb_bitmap when the lock was taken */
	uint64_t sum;         /* of the map read after go: used, so not elided */
};

static void *hold_group(void *arg)
{
	struct holder *h = arg;

	mb_lock(&h->grp->bb_lock);
	pthread_mutex_lock(&h->m);
	h->seen = h->grp->bb_bitmap;
	h->held = true;
	pthread_cond_broadcast(&h->c);
	while (!h->go)
		pthread_cond_wait(&h->c, &h->m);
	pthread_mutex_unlock(&h->m);
	for (size_t i = 0; i < 16; i++)
		h->sum += h->seen[i]; /* freed under us without the trylock */
	mb_unlock(&h->grp->bb_lock);
	return NULL;
}

TEST(quiet_copy_not_freed_under_its_user)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
					 .blocks_count = 72 * 1024, .reserved_per_group = 2 };
	static struct holder h;
	struct mb_volume *vol;
	struct mb_file *f;
	pthread_t b;
	uint64_t lblk = 0;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	ASSERT_EQ_INT(mb_file_open(vol, 7, &f), 0);
	ASSERT_EQ_U64(vol->gq_size, MB_GCACHE_QUIET);
	struct mb_group *grp = mb_group_at(vol, 1), *late = mb_group_at(vol, 1 + MB_GCACHE_QUIET);

	/* group 1 first in the ring, then all but one slot filled */
	cycle_groups(vol, f, 1, 1 + MB_GCACHE_QUIET, &lblk);
	ASSERT_TRUE(quiet_copy(vol, grp));
	memset(&h, 0, sizeof(h));
	h.grp = grp;
	pthread_mutex_init(&h.m, NULL);
	pthread_cond_init(&h.c, NULL);
	ASSERT_EQ_INT(pthread_create(&b, NULL, hold_group, &h), 0);
	pthread_mutex_lock(&h.m);
	while (!h.held)
		pthread_cond_wait(&h.c, &h.m);
	pthread_mutex_unlock(&h.m);
	/* the next group's entry lands on group 1's slot: busy, so kept */
	cycle_groups(vol, f, 1 + MB_GCACHE_QUIET, 2 + MB_GCACHE_QUIET, &lblk);
	ASSERT_TRUE(late->bb_bitmap == late->bb_disk); /* the newcomer: shared at once */
	ASSERT_TRUE(!(atomic_load(&late->bb_state) & MB_GRP_QUIET));
	pthread_mutex_lock(&h.m);
	h.go = true;
	pthread_cond_broadcast(&h.c);
	pthread_mutex_unlock(&h.m);
	pthread_join(b, NULL);
	ASSERT_TRUE(grp->bb_bitmap == h.seen && quiet_copy(vol, grp));
	ASSERT_CHECK_CLEAN(vol);
	/* with nobody holding it, the hand's next turn makes it cold */
	cycle_groups(vol, f, 2 + MB_GCACHE_QUIET, 2 + 2 * MB_GCACHE_QUIET, &lblk);
	ASSERT_TRUE(grp->bb_bitmap == grp->bb_disk);
	mb_file_close(f);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
	pthread_mutex_destroy(&h.m);
	pthread_cond_destroy(&h.c);
}

/* Whether the pieces [p[i], p[i] + len[i]) are all apart. */
static bool pieces_apart(const char **p, const size_t *len, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			if (p[i] < p[j] + len[j] && p[j] < p[i] + len[i])
				return false;
	return true;
}

/*
 * The arena's first chunk (small pages) holds 16 groups' worth: the
 * seventeenth group's first load of a volume with groups enough to fill
 * a huge chunk takes one (2 MiB, on a 2 MiB boundary: mb_garena_map_huge),
 * where a larger first chunk faulted a small page each 4 KiB of its many
 * more groups (garena.c).  At least its first eight stay on small pages;
 * not exactly sixteen, since under AddressSanitizer a poisoned line
 * between pieces fills the first chunk a group or two sooner.
 */
TEST(arena_goes_huge_after_sixteen_groups)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_count = 512 * 32768ULL };
	struct mb_volume *vol;
	mb_grp_t first_huge = UINT32_MAX;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	for (mb_grp_t g = 0; g < 17; g++) {
		struct mb_group *grp = mb_group_at(vol, g);

		ASSERT_EQ_INT(mb_group_lock_usable(vol, grp), 0);
		mb_unlock(&grp->bb_lock);
		/* the newest chunk: once huge, every later one is too */
		bool huge = (uintptr_t)vol->garena.chunks % (2u << 20) == 0;

		if (huge && first_huge == UINT32_MAX)
			first_huge = g;
		ASSERT_EQ_INT(huge, first_huge != UINT32_MAX);
	}
	/* the seventeenth group's load at the latest, the ninth at the soonest */
	ASSERT_TRUE(first_huge >= 8 && first_huge <= 16);
	mb_volume_destroy(vol);
}

/*
 * The groups' buffers come from the volume's arena (garena.c): a piece
 * given back is handed out again for its own kind only (a derived buffer
 * is shorter than a bitmap), on a cache line; and over more groups than
 * the first chunk and a huge chunk hold, loaded in a random order with a
 * cache of 3 (derived buffers dropped and given back), no two live pieces
 * overlap and every group checks clean.
 */
TEST(arena_pieces_by_kind_and_apart)
{
	const struct mb_geometry geo = { .block_size = 4096, .blocks_count = 200 * 32768ULL };
	enum { NG = 200 };
	static const char *p[2 * NG];
	static size_t len[2 * NG];
	struct mb_volume *vol;
	uint64_t rng = mb_test_seed ^ 0xa7e4a;
	static mb_grp_t order[NG];
	static struct mb_extent ex[NG];

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	size_t dur = vol->bitmap_words * sizeof(uint64_t);
	size_t der = ((vol->fws_off + mb_fws_words(vol)) * sizeof(uint64_t) + 63) & ~(size_t)63;
	struct mb_group *g0 = mb_group_at(vol, 0);

	mb_lock(&g0->bb_lock);
	void *a = mb_garena_get(vol, MB_GARENA_DERIVED, der, dur + der, NULL);
	void *b = mb_garena_get(vol, MB_GARENA_DURABLE, dur, dur + der, NULL);

	ASSERT_TRUE(a && b && a != b);
	ASSERT_EQ_U64((uintptr_t)a % 64 + (uintptr_t)b % 64, 0);
	mb_garena_put(vol, MB_GARENA_DERIVED, a);
	void *c = mb_garena_get(vol, MB_GARENA_DURABLE, dur, dur + der, NULL);

	ASSERT_TRUE(c != a && c != b); /* not the derived piece given back */
	ASSERT_TRUE(mb_garena_get(vol, MB_GARENA_DERIVED, der, dur + der, NULL) == a);
	mb_garena_put(vol, MB_GARENA_DURABLE, b);
	mb_garena_put(vol, MB_GARENA_DURABLE, c);
	mb_garena_put(vol, MB_GARENA_DERIVED, a);
	mb_unlock(&g0->bb_lock);

	ASSERT_EQ_INT(mb_tunable_set(vol, "mb_cache_groups", 3), 0);
	for (mb_grp_t g = 0; g < NG; g++)
		order[g] = g;
	for (mb_grp_t g = NG - 1; g > 0; g--) {
		mb_grp_t k = (mb_grp_t)mb_rand_below(&rng, g + 1), t = order[g];

		order[g] = order[k];
		order[k] = t;
	}
	for (unsigned i = 0; i < NG; i++) {
		struct mb_request rq = { .goal = order[i] * 32768ULL + 100, .len = 16,
					 .flags = MB_HINT_NOPREALLOC };

		ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex[i]), 0);
		ASSERT_EQ_U64(ex[i].start / 32768, order[i]);
	}
	unsigned n = 0;

	for (mb_grp_t g = 0; g < NG; g++) {
		struct mb_group *grp = mb_group_at(vol, g);

		p[n] = (const char *)grp->bb_disk;
		len[n++] = dur;
		if (grp->bb_buddy) {
			p[n] = (const char *)grp->bb_buddy;
			len[n++] = der;
		}
	}
	ASSERT_TRUE(n > NG && n < 2 * NG); /* some dropped, some built */
	ASSERT_TRUE(pieces_apart(p, len, n));
	for (unsigned i = 0; i < NG; i++)
		ASSERT_EQ_INT(mb_free(vol, ex[i].start, ex[i].len), 0);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
}

/* Resident pages among those of groups [first, first + n)'s structs, and
   their number in *pages. */
static unsigned structs_resident(struct mb_volume *vol, mb_grp_t first, unsigned n, unsigned *pages)
{
	uintptr_t a = (uintptr_t)&vol->groups[first] & ~(uintptr_t)4095;
	uintptr_t e = ((uintptr_t)&vol->groups[first + n] + 4095) & ~(uintptr_t)4095;
	static unsigned char vec[1024];
	unsigned in = 0;

	*pages = (unsigned)((e - a) / 4096);
	if (*pages > sizeof(vec) || mincore((void *)a, e - a, vec))
		return UINT32_MAX;
	for (unsigned i = 0; i < *pages; i++)
		in += vec[i] & 1;
	return in;
}

/*
 * The group structs (group.c): a page of them read before it is written
 * faults twice (the zero page, then the copy), so the first set-up in a
 * window of 256 groups faults in the window's pages at once
 * (MADV_POPULATE_WRITE).  Creation, which sets up the last group alone,
 * faults in no window (an untouched volume's memory); a set-up faults in
 * its own window and no other.  Pages by mincore; skipped where the kernel
 * has no MADV_POPULATE_WRITE.
 */
TEST(group_structs_faulted_by_window)
{
#ifdef MADV_POPULATE_WRITE
	const struct mb_geometry geo = { .block_size = 4096, .blocks_count = 1024 * 32768ULL };
	void *probe = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_TRUE(probe != MAP_FAILED);
	int unsupported = madvise(probe, 4096, MADV_POPULATE_WRITE);

	munmap(probe, 4096);
	if (unsupported)
		return;
	struct mb_volume *vol;
	unsigned pages;

	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	/* nothing of windows 0 to 2; of the last, the last group's page */
	ASSERT_EQ_INT(structs_resident(vol, 0, 768, &pages), 0);
	ASSERT_TRUE(structs_resident(vol, 768, 256, &pages) <= 1);
	(void)mb_group_at(vol, 300);
	ASSERT_EQ_INT(structs_resident(vol, 256, 256, &pages), pages);
	ASSERT_EQ_INT(structs_resident(vol, 0, 256, &pages), 0);
	ASSERT_EQ_INT(structs_resident(vol, 512, 256, &pages), 0);
	(void)mb_group_at(vol, 1000); /* the last window: the whole of it too */
	ASSERT_EQ_INT(structs_resident(vol, 768, 256, &pages), pages);
	mb_volume_destroy(vol);
#endif
}
