/* SPDX-License-Identifier: MIT */
/*
 * test_race_pa_leaf.c - prealloc.c's one-word PA hit in a threaded process
 * (mb_pa_fast_leaf_mt): f_data_sem, the PA's group lock and the slot's
 * lock, each held by bias only (a lock not biased to the thread sends the
 * request to the general path), every test of the PA, the group and the
 * share made under them.
 *
 * A writer appends one block at a time to files of its own (inode PAs of
 * a few thousand blocks: almost every request a leaf hit) while another
 * thread, in bursts, takes and frees single blocks without a file in the
 * same group, reserves and unreserves single blocks (the slot's word
 * alone), and now and then discards every PA (mb_discard_all) -- the
 * group's lock and the slot's taken by the word, the writer's biases
 * revoked -- every call of both on slot 0 (its share and its lock
 * shared).  Every block handed out is checked out once (a shared map);
 * at the end, everything freed and discarded, the volume must count all
 * blocks free and mb_check must pass.  A leaf that takes the group
 * without its lock loses the other's updates of the group's on-disk free
 * count and bitmap word (mb_check), one that takes the share without the
 * slot's lock loses a claim or a return (the free count), and one that
 * takes a PA a discard deleted hands its blocks out twice.
 *
 * held_lock_holds_the_hit: with each of the three locks in turn held by
 * the test (its bias to the writer revoked), the writer's next hit must
 * wait for it -- done only once the lock is given back, the file's next
 * block.  A leaf that skips a lock's test answers while it is held: this
 * fails at once, in every run.
 *
 * Built twice, as test_race_p2_fast: the testing flavour (whose debug
 * locks the leaf leaves to the general path) and against the library the
 * tools link (test_race_pa_leaf_rel), where the leaf runs.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "mb_int.h"
#include "percpu.h"

#define PL_BLOCKS 16384u /* one group: every call meets in it */
#define PL_FILE_BLOCKS 3000u
#define PL_HELD_MAX 64u

struct pl_race {
	struct mb_volume *vol;
	_Atomic uint64_t map[PL_BLOCKS / 64]; /* blocks out */
	_Atomic uint64_t twice, err;
	_Atomic uint64_t writes; /* the writer's requests so far */
	_Atomic bool done;   /* the other's bursts made: the writer stops */
	_Atomic bool w_gone; /* the writer stopped (an error: the other stops too) */
	int rounds; /* the other's bursts */
};

/* Marks [start, start + len) out (or back, !out); counts a block out twice. */
static void pl_mark(struct pl_race *r, uint64_t start, uint64_t len, bool out)
{
	for (uint64_t b = start; b < start + len; b++) {
		uint64_t bit = 1ULL << (b & 63);
		uint64_t old = out ? atomic_fetch_or(&r->map[b / 64], bit)
				   : atomic_fetch_and(&r->map[b / 64], ~bit);

		if (!(old & bit) == out)
			continue;
		atomic_fetch_add(&r->twice, 1);
	}
}

/* Files of PL_FILE_BLOCKS blocks, one block a request, freed and closed. */
static void *pl_writer(void *arg)
{
	struct pl_race *r = arg;
	struct mb_extent *ex = calloc(PL_FILE_BLOCKS, sizeof(*ex));

	while (ex && !atomic_load(&r->done)) {
		struct mb_file *file;
		uint32_t n = 0;

		if (mb_file_open(r->vol, 11, &file)) {
			atomic_fetch_add(&r->err, 1);
			break;
		}
		mb_file_set_size(file, 1u << 16); /* a large file: inode PAs */
		for (uint32_t l = 0; l < PL_FILE_BLOCKS; l++) {
			struct mb_request rq = { .file = file, .logical = l, .goal = MB_GOAL_NONE,
						 .len = 1 };

			mb_cpu_pin(0);
			if (mb_alloc(r->vol, &rq, &ex[n]))
				continue; /* the other's blocks and PAs: may be full */
			pl_mark(r, ex[n].start, ex[n].len, true);
			n++;
			atomic_fetch_add_explicit(&r->writes, 1, memory_order_relaxed);
		}
		/* freed a run of consecutive extents at a time (the hits' one
		   block each): the writer's time goes to its requests */
		for (uint32_t i = 0, j; i < n; i = j) {
			uint64_t end = ex[i].start + ex[i].len;

			for (j = i + 1; j < n && ex[j].start == end; j++)
				end += ex[j].len;
			pl_mark(r, ex[i].start, end - ex[i].start, false);
			mb_cpu_pin(0);
			if (mb_free(r->vol, ex[i].start, end - ex[i].start))
				atomic_fetch_add(&r->err, 1);
		}
		mb_file_close(file);
	}
	free(ex);
	if (!ex)
		atomic_fetch_add(&r->err, 1);
	atomic_store(&r->w_gone, true);
	return NULL;
}

/* Bursts of single blocks taken and freed in the writer's group -- a few
   dozen times each, some of them long enough to meet the writer's hits
   on the other CPU -- and a discard of every PA after every fourth, each
   once the writer made a few hundred requests (its locks biased again
   meanwhile) */
static void *pl_other(void *arg)
{
	struct pl_race *r = arg;
	struct mb_extent ex[PL_HELD_MAX];
	uint64_t seed = mb_test_seed ^ 0x5eed, last = 0;

	for (int burst = 0; burst < r->rounds && !atomic_load(&r->w_gone); burst++) {
		uint32_t reps = 1 + (uint32_t)mb_rand_below(&seed, 64);
		uint64_t next = last + 200 + mb_rand_below(&seed, 1200);

		/* spins (the writer on the other CPU), yielding now and then */
		for (unsigned spin = 1; atomic_load_explicit(&r->writes, memory_order_relaxed) < next &&
					!atomic_load(&r->w_gone);
		     spin++)
			if (!(spin % 1024))
				sched_yield();
		last = atomic_load_explicit(&r->writes, memory_order_relaxed);
		for (uint32_t rep = 0; rep < reps; rep++) {
			uint32_t n = 0, want = 1 + (uint32_t)mb_rand_below(&seed, PL_HELD_MAX);

			for (uint32_t i = 0; i < want; i++) {
				struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 1 };

				mb_cpu_pin(0);
				if (mb_alloc(r->vol, &rq, &ex[n]))
					break;
				pl_mark(r, ex[n].start, ex[n].len, true);
				n++;
			}
			/* the slot's word alone, under its lock, many times */
			for (uint32_t i = 0; i < 4 * want; i++) {
				mb_cpu_pin(0);
				if (mb_reserve(r->vol, 1, 0) || (mb_cpu_pin(0), mb_unreserve(r->vol, 1)))
					break; /* full: the writer frees soon */
			}
			while (n--) {
				pl_mark(r, ex[n].start, ex[n].len, false);
				mb_cpu_pin(0);
				if (mb_free(r->vol, ex[n].start, ex[n].len))
					atomic_fetch_add(&r->err, 1);
			}
		}
		if (burst % 4 == 3)
			mb_discard_all(r->vol);
	}
	atomic_store(&r->done, true); /* the writer's last file */
	return NULL;
}

TEST(leaf_hits_against_group_and_slot_users)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = PL_BLOCKS,
				   .blocks_count = PL_BLOCKS };
	struct pl_race *r = calloc(1, sizeof(*r));
	pthread_t w, o;

	ASSERT_TRUE(r);
	r->rounds = mb_test_rounds(400); /* the other's bursts */
	ASSERT_EQ_INT(mb_volume_create(&geo, &r->vol), 0);
	ASSERT_EQ_INT(mb_tunable_set(r->vol, "reserved_clusters", 0), 0);
	ASSERT_EQ_INT(mb_tunable_set(r->vol, "r_blocks_count", 0), 0);
	ASSERT_EQ_INT(pthread_create(&o, NULL, pl_other, r), 0);
	ASSERT_EQ_INT(pthread_create(&w, NULL, pl_writer, r), 0);
	pthread_join(w, NULL);
	pthread_join(o, NULL);
	mb_discard_all(r->vol);
	ASSERT_EQ_U64(atomic_load(&r->err), 0);
	ASSERT_EQ_U64(atomic_load(&r->twice), 0);
	ASSERT_EQ_U64(mb_free_blocks(r->vol), PL_BLOCKS);
	ASSERT_CHECK_CLEAN(r->vol);
	mb_volume_destroy(r->vol);
	free(r);
}

struct hl_race {
	struct mb_volume *vol;
	struct mb_file *file;
	_Atomic int ready, go, done; /* the phase the writer is at */
	int err;
	uint64_t last; /* the writer's last block */
};

#define HL_WARM 2100 /* hits that bias the writer's locks (MB_BIAS_STREAK's streak and more) */

/* One block of the file at its next logical block; the writer's. */
static int hl_alloc(struct hl_race *h, uint64_t *logical)
{
	struct mb_request rq = { .file = h->file, .logical = (*logical)++,
				 .goal = MB_GOAL_NONE, .len = 1 };
	struct mb_extent ex;

	mb_cpu_pin(0);
	int err = mb_alloc(h->vol, &rq, &ex);

	if (!err && ex.start != h->last + 1 && h->last != UINT64_MAX)
		err = -EIO; /* one window's PA: the next block */
	h->last = err ? h->last : ex.start;
	return err;
}

/* Per phase: warm hits, then one hit on the test's word */
static void *hl_writer(void *arg)
{
	struct hl_race *h = arg;
	uint64_t logical = 0;

	for (int phase = 1; phase <= 3; phase++) {
		h->last = UINT64_MAX; /* a new window's PA may start elsewhere */
		for (int i = 0; i < HL_WARM && !h->err; i++)
			h->err = hl_alloc(h, &logical);
		atomic_store(&h->ready, phase);
		while (atomic_load(&h->go) != phase)
			sched_yield();
		if (!h->err)
			h->err = hl_alloc(h, &logical);
		atomic_store(&h->done, phase);
	}
	return NULL;
}

TEST(held_lock_holds_the_hit)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = PL_BLOCKS,
				   .blocks_count = PL_BLOCKS };
	struct hl_race h = { .last = UINT64_MAX };
	pthread_t w;

	ASSERT_EQ_INT(mb_volume_create(&geo, &h.vol), 0);
	ASSERT_EQ_INT(mb_file_open(h.vol, 11, &h.file), 0);
	mb_file_set_size(h.file, 1u << 16); /* a large file: inode PAs of 2048 blocks */
	ASSERT_EQ_INT(pthread_create(&w, NULL, hl_writer, &h), 0);
	for (int phase = 1; phase <= 3; phase++) {
		struct mb_mutex *mx = phase == 1   ? &h.file->f_data_sem
				      : phase == 2 ? &mb_group_at(h.vol, 0)->bb_lock
						   : &h.vol->pcpu[0].resv_lock;
		bool early = false;

		while (atomic_load(&h.ready) != phase)
			sched_yield();
		mb_lock(mx); /* the writer's bias revoked */
		atomic_store(&h.go, phase);
		/* a while for a hit that does not wait to show itself */
		for (int i = 0; i < 100 && !early; i++) {
			nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
			early = atomic_load(&h.done) == phase;
		}
		mb_unlock(mx);
		while (atomic_load(&h.done) != phase)
			sched_yield();
		ASSERT_EQ_INT(early ? phase : 0, 0); /* the phase whose lock it skipped */
	}
	pthread_join(w, NULL);
	ASSERT_EQ_INT(h.err, 0);
	ASSERT_CHECK_CLEAN(h.vol);
	mb_file_close(h.file);
	mb_volume_destroy(h.vol);
}
