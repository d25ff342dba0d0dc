/* SPDX-License-Identifier: MIT */
/*
 * group_sets.c - the optimized-scan sets: each group sits in the set of its
 * largest free buddy order and in that of its average free-fragment order,
 * so the allocator finds candidate groups without visiting them; and, for
 * the linear passes (alloc.c), in free_ge[0..k] where 2^k <= bb_free, so a
 * pass that needs n free blocks visits only groups that may hold them.
 * largest_ge / avg_ge hold each group in the sets of its orders and every
 * lower one: one look tells whether any set of order k or more has a
 * member in a range of groups.
 * avg_hi (mb_int.h) splits each avg order by the next 3 bits of the
 * average, so CR_GOAL_LEN_FAST skips the members of its first set whose
 * average is below the goal without reading their counters.
 * Called whenever a group's buddy counters change, under its bb_lock.
 * With threads, a move also holds the lock of its group's word in the
 * sets (vol->set_locks): 64 groups' bb_locks write each word.
 */
#include <unistd.h>

#include "gset.h"
#include "percpu.h"

/*
 * free / frags, the average fragment: one fragment (a group used from its
 * front, or emptied) skips the division, whose latency (~20 cycles) the
 * orders that follow wait for; its instructions are as many either way.
 */
static inline uint32_t mb_frag_avg(uint32_t free, uint32_t frags)
{
	return frags == 1 ? free : free / frags;
}

int mb_group_avg_order(const struct mb_volume *vol, uint32_t free, uint32_t frags)
{
	if (!free || !frags)
		return -1;
	int o = mb_ilog2(mb_frag_avg(free, frags));

	return o < vol->max_order ? o : vol->max_order;
}

/*
 * floor(8 * avg / 2^ao) - 8 with avg = free / frags of order ao (capped at
 * max_order, so the sub too: 7), 0 for no order.  A group with sub s has
 * avg >= mb_avg_sub_floor(ao, s) (a whole number), and below the floor of
 * s + 1 unless capped: a goal of order ao with sub j is at least
 * mb_avg_sub_floor(ao, j), above the average of every sub below j.
 */
int mb_group_avg_sub(uint32_t free, uint32_t frags, int ao)
{
	if (ao < 0)
		return 0;
	uint64_t s = ((uint64_t)mb_frag_avg(free, frags) * MB_AVG_SUBS) >> ao;

	return s >= 2 * MB_AVG_SUBS ? MB_AVG_SUBS - 1 : (int)s - MB_AVG_SUBS;
}

/* The least average of sub j (0..MB_AVG_SUBS) in order ao: ceil((8 + j) 2^ao / 8). */
static uint64_t mb_avg_sub_floor(int ao, int j)
{
	return (((uint64_t)(MB_AVG_SUBS + j) << ao) + MB_AVG_SUBS - 1) / MB_AVG_SUBS;
}

/*
 * Words a bitmap of avg_hi takes: a bit per group, rounded up to a page
 * when it is as big as a set level that creation maps (gset.c), so that
 * each bitmap starts on a page of the mapping and mb_avg_hi_fill can map
 * the sets' image over it.
 */
static uint32_t mb_avg_hi_stride(uint32_t ngroups)
{
	uint64_t words = ((uint64_t)ngroups + 63) / 64, page = (uint64_t)sysconf(_SC_PAGESIZE);

	if (words * sizeof(uint64_t) < MB_BIGMEM_MIN || (int64_t)page <= 0)
		return (uint32_t)words;
	return (uint32_t)((words * sizeof(uint64_t) + page - 1) / page * page / sizeof(uint64_t));
}

int mb_avg_hi_init(struct mb_volume *vol)
{
	for (int k = 0; k <= vol->max_order; k++)
		for (int j = 0; j <= MB_AVG_SUBS; j++)
			vol->avg_floor[k][j] = k == vol->max_order && j == MB_AVG_SUBS ?
				UINT32_MAX : (uint32_t)mb_avg_sub_floor(k, j);
	vol->avg_hi_words = mb_avg_hi_stride(vol->ngroups);
	vol->avg_hi = mb_zmap((size_t)(MB_AVG_SUBS - 1) * vol->avg_hi_words * sizeof(uint64_t));
	vol->set_locks = mb_zmap((size_t)vol->avg_hi_words * sizeof(struct mb_mutex));
	return vol->avg_hi && vol->set_locks ? 0 : -ENOMEM;
}

void mb_avg_hi_destroy(struct mb_volume *vol)
{
	if (vol->avg_hi)
		mb_zunmap((void *)vol->avg_hi,
			  (size_t)(MB_AVG_SUBS - 1) * vol->avg_hi_words * sizeof(uint64_t));
	vol->avg_hi = NULL;
	if (vol->set_locks)
		mb_zunmap(vol->set_locks, (size_t)vol->avg_hi_words * sizeof(struct mb_mutex));
	vol->set_locks = NULL;
}

/*
 * A fresh avg_hi whose bitmaps 1..sub are img's level 0 (the groups [0,
 * n)), mapped copy-on-write, the others zero; NULL if it cannot be made.
 * Built aside and swapped in whole: a failed fixed mapping leaves a hole
 * in memory nobody else has seen.
 */
static _Atomic uint64_t *mb_avg_hi_mapped(struct mb_volume *vol, int sub, uint32_t n,
					  const struct mb_gset_image *img)
{
	size_t bytes = vol->avg_hi_words * sizeof(uint64_t), total = (MB_AVG_SUBS - 1) * bytes;
	char *r;

	if (!img || img->nbits != vol->ngroups || img->n != n || bytes < MB_BIGMEM_MIN ||
	    !(r = mb_zmap(total)))
		return NULL;
	for (int j = 1; j <= sub; j++) {
		if (!mb_gset_image_map(img, 0, r + (size_t)(j - 1) * bytes, bytes)) {
			mb_zunmap(r, total);
			return NULL;
		}
	}
	return (_Atomic uint64_t *)(void *)r;
}

/*
 * Groups [0, n), all of sub `sub`, join avg_hi: before the volume is
 * shared.  Each bitmap holds what a set's level 0 holds after a fill, so
 * the sets' image (img, gset.c) is mapped rather than up to 7 MiB stored
 * at 1 PiB.
 */
void mb_avg_hi_fill(struct mb_volume *vol, int sub, uint32_t n, const struct mb_gset_image *img)
{
	_Atomic uint64_t *mapped = sub ? mb_avg_hi_mapped(vol, sub, n, img) : NULL;

	if (mapped) {
		mb_zunmap((void *)vol->avg_hi,
			  (size_t)(MB_AVG_SUBS - 1) * vol->avg_hi_words * sizeof(uint64_t));
		vol->avg_hi = mapped;
		return;
	}
	for (int j = 1; j <= sub; j++) {
		_Atomic uint64_t *m = mb_avg_hi_map(vol, j);

		for (uint32_t w = 0; w < n / 64; w++)
			atomic_store_explicit(&m[w], ~0ULL, memory_order_relaxed);
		if (n % 64)
			atomic_store_explicit(&m[n / 64], (1ULL << (n % 64)) - 1,
					      memory_order_relaxed);
	}
}

/* One step of mb_avg_hi_move: the word at p takes `op` bit, p moves a
   stride on (plain: see there); with one thread (`one`) an op to memory
   (gset.h, mb_gset_word_plain) */
#define MB_AVG_HI_STEP(p, stride, op, bit, one)                                            \
	do {                                                                               \
		if (one)                                                                   \
			*(mb_gset_plain_word *)(void *)(p) =                               \
				*(mb_gset_plain_word *)(void *)(p) op(bit);                \
		else                                                                       \
			atomic_store_explicit(p,                                           \
					      atomic_load_explicit(p, memory_order_relaxed) \
						      op(bit),                             \
					      memory_order_relaxed);                       \
		(p) += (stride);                                                           \
	} while (0)

/* The n (< MB_AVG_SUBS) words a stride apart from p take `op` bit: a jump
   into the steps rather than a loop, whose count and test cost as much
   again as each step (a move crosses ~4 subs) */
#define MB_AVG_HI_STEPS(p, stride, n, op, bit, one)                                      \
	do {                                                                             \
		switch (n) {                                                             \
		case 7:                                                                  \
			MB_AVG_HI_STEP(p, stride, op, bit, one);                         \
			__attribute__((fallthrough));                                    \
		case 6:                                                                  \
			MB_AVG_HI_STEP(p, stride, op, bit, one);                         \
			__attribute__((fallthrough));                                    \
		case 5:                                                                  \
			MB_AVG_HI_STEP(p, stride, op, bit, one);                         \
			__attribute__((fallthrough));                                    \
		case 4:                                                                  \
			MB_AVG_HI_STEP(p, stride, op, bit, one);                         \
			__attribute__((fallthrough));                                    \
		case 3:                                                                  \
			MB_AVG_HI_STEP(p, stride, op, bit, one);                         \
			__attribute__((fallthrough));                                    \
		case 2:                                                                  \
			MB_AVG_HI_STEP(p, stride, op, bit, one);                         \
			__attribute__((fallthrough));                                    \
		case 1:                                                                  \
			MB_AVG_HI_STEP(p, stride, op, bit, one);                         \
			__attribute__((fallthrough));                                    \
		default:                                                                 \
			break;                                                           \
		}                                                                        \
	} while (0)

/*
 * Moves g from the avg_hi bitmaps of sub `from` to those of `to`, plain
 * stores: no other writer of g's words (gset.h: one thread, or g's word's
 * lock held; or the volume not yet shared).  g's word in bitmap j (sub j +
 * 1) is j strides past its word in the first: a pointer steps by the
 * stride from one sub's word to the next one's, each step a load, a store
 * and the step; with one thread (`one`) an op to memory and the step.
 */
static inline __attribute__((always_inline)) void mb_avg_hi_move(struct mb_volume *vol, mb_grp_t g,
								    int from, int to, bool one)
{
	_Static_assert(MB_AVG_SUBS == 8, "MB_AVG_HI_STEPS takes up to 7 steps");
	uint64_t bit = 1ULL << (g & 63);
	size_t stride = vol->avg_hi_words;
	_Atomic uint64_t *w = &vol->avg_hi[g >> 6];

	assert(from >= 0 && from < MB_AVG_SUBS && to >= 0 && to < MB_AVG_SUBS);
	if (to > from) { /* subs from + 1 .. to join */
		w += (size_t)from * stride;
		MB_AVG_HI_STEPS(w, stride, to - from, |, bit, one);
	} else { /* subs to + 1 .. from leave */
		w += (size_t)to * stride;
		MB_AVG_HI_STEPS(w, stride, from - to, &, ~bit, one);
	}
}

/* g (not yet in avg_hi) joins the bitmaps of sub `sub`, before the volume is shared. */
void mb_avg_hi_add(struct mb_volume *vol, mb_grp_t g, int sub)
{
	mb_avg_hi_move(vol, g, 0, sub, false);
}

/* The highest order at or below top with a free chunk, -1 if none. */
static inline int mb_largest_order_from(const uint32_t *counters, int top)
{
	for (int k = top; k >= 0; k--)
		if (counters[k])
			return k;
	return -1;
}

int mb_group_largest_order(const struct mb_volume *vol, const uint32_t *counters)
{
	return mb_largest_order_from(counters, vol->max_order);
}

/* ilog2(free) up to max_order, -1 when nothing is free: see free_ge. */
int mb_group_free_order(const struct mb_volume *vol, uint32_t free, uint32_t frags)
{
	if (!free || !frags)
		return -1;
	int o = mb_ilog2(free);

	return o < vol->max_order ? o : vol->max_order;
}

/*
 * Debug builds: a threaded writer of g's words in the sets holds g's
 * word's set lock (gset.h).  A move outside it loses an update only when
 * another move of the same word falls between its load and its store, a
 * window of a few instructions: test_race_set_move passed with
 * mb_group_move_sets_word's lock removed.  This check fails at the first
 * such move, in any threaded test.
 */
#define mb_set_lock_assert(vol, g) mb_assert_locked(&(vol)->set_locks[(g) >> 6])

/*
 * mb_group_move_sets_as with one thread and two levels when the three
 * orders move together from `from` to `to`, two or more apart: a group
 * used up (to -1) or given one free run (from -1) -- half the moves of
 * aging:8m64k, each across a dozen sets of each family.  The exact sets
 * as there; the three families in one pass (mb_gset_move_ge3_two).
 * Nobody looks at the sets between the stores (one thread), so their
 * order is free but for the hook's place.
 */
static inline __attribute__((always_inline)) void
mb_group_move_three(struct mb_volume *vol, struct mb_group *grp, uint32_t wi, uint64_t bit,
		    int from, int to)
{
	if (from >= 0)
		mb_gset_del_w(&vol->largest_set[from], wi, bit, MB_GSET_ONE2);
	MB_HOOK(vol, MB_HOOK_SET_MOVING, mb_group_no(vol, grp), to);
	if (to >= 0)
		mb_gset_add_w(&vol->largest_set[to], wi, bit, MB_GSET_ONE2);
	if (from >= 0)
		mb_gset_del_w(&vol->avg_set[from], wi, bit, MB_GSET_ONE2);
	if (to >= 0)
		mb_gset_add_w(&vol->avg_set[to], wi, bit, MB_GSET_ONE2);
	mb_gset_move_ge3_two(vol->free_ge, vol->largest_ge, vol->avg_ge, wi, bit, from, to);
	MB_WRITE_ONCE(grp->bb_free_order, to);
	MB_WRITE_ONCE(grp->bb_largest_free_order, to);
	MB_WRITE_ONCE(grp->bb_avg_fragment_size_order, to);
}

/* Moves the group to the sets of its new orders (some changed); `one`
   (gset.h): one thread, else the caller holds g's word's set lock. */
static inline __attribute__((always_inline)) void
mb_group_move_sets_as(struct mb_volume *vol, struct mb_group *grp, int lo, int ao, int fo, int as,
		      enum mb_gset_writer one)
{
	mb_grp_t g = mb_group_no(vol, grp);

	if (one == MB_GSET_MT || one == MB_GSET_MT2)
		mb_set_lock_assert(vol, g);
	if (as != grp->bb_avg_sub) {
		mb_avg_hi_move(vol, g, grp->bb_avg_sub, as,
			       one == MB_GSET_ONE || one == MB_GSET_ONE2);
		MB_WRITE_ONCE(grp->bb_avg_sub, as);
	}

	/* g's word and bit once for every set (gcc made them again in each
	   family's code, a shift by %cl and its moves) */
	uint32_t wi = g >> 6;
	uint64_t bit = 1ULL << (g & 63);

	if (fo != grp->bb_free_order) {
		int of = grp->bb_free_order;

		/* after the one-order tests that mb_gset_move_ge_w makes
		   first: gcc merges them, and one-order moves test no more */
		if (one == MB_GSET_ONE2 && fo != of - 1 && fo != of + 1 && lo == fo && ao == fo &&
		    grp->bb_largest_free_order == of && grp->bb_avg_fragment_size_order == of) {
			mb_group_move_three(vol, grp, wi, bit, of, fo);
			return;
		}
		mb_gset_move_ge_w(vol->free_ge, wi, bit, grp->bb_free_order, fo, one);
		MB_WRITE_ONCE(grp->bb_free_order, fo);
	}
	if (lo != grp->bb_largest_free_order) {
		if (grp->bb_largest_free_order >= 0)
			mb_gset_del_w(&vol->largest_set[grp->bb_largest_free_order], wi, bit, one);
		MB_HOOK(vol, MB_HOOK_SET_MOVING, g, lo);
		if (lo >= 0)
			mb_gset_add_w(&vol->largest_set[lo], wi, bit, one);
		mb_gset_move_ge_w(vol->largest_ge, wi, bit, grp->bb_largest_free_order, lo, one);
		MB_WRITE_ONCE(grp->bb_largest_free_order, lo);
	}
	if (ao != grp->bb_avg_fragment_size_order) {
		if (grp->bb_avg_fragment_size_order >= 0)
			mb_gset_del_w(&vol->avg_set[grp->bb_avg_fragment_size_order], wi, bit, one);
		if (ao >= 0)
			mb_gset_add_w(&vol->avg_set[ao], wi, bit, one);
		mb_gset_move_ge_w(vol->avg_ge, wi, bit, grp->bb_avg_fragment_size_order, ao, one);
		MB_WRITE_ONCE(grp->bb_avg_fragment_size_order, ao);
	}
}

/* The lock of g's word in the sets (struct mb_volume, set_locks). */
static inline struct mb_mutex *mb_set_lock(struct mb_volume *vol, mb_grp_t g)
{
	return &vol->set_locks[g >> 6];
}

/*
 * Takes wl, a set lock, knowing the process threaded (me: mb_lock_me()):
 * true if by bias (rank 0, its zeroed memory's), two plain stores then,
 * which a word held by one stream of requests soon is; else the word.
 * The unlock must be told which.
 */
static inline __attribute__((always_inline)) bool mb_set_lock_mt(struct mb_mutex *wl,
								  struct mb_lock_thr *me)
{
	if (MB_LIKELY(mb_lock_if_biased_at(wl, 0, me)))
		return true;
	mb_lock_one(wl, false);
	return false;
}

static inline __attribute__((always_inline)) void
mb_set_unlock_mt(struct mb_mutex *wl, struct mb_lock_thr *me, bool biased)
{
	if (MB_LIKELY(biased))
		mb_unlock_biased_at(wl, 0, me);
	else
		mb_unlock_one(wl, false);
}

/*
 * One look at the thread count for the whole move (up to ~40 sets).  The
 * discard_pa_seq bump comes first: a pass that looks the group up while
 * it is in neither set sees it in its ENOSPC decision (percpu.h).  With
 * threads, under the word's lock: one locked instruction (none once
 * biased) instead of an RMW for each word the move changes.  One thread
 * comes here only for sets of other than two levels (up to 64 groups, or
 * over 4096: mb_group_move_sets).
 */
static __attribute__((noinline)) void mb_group_move_sets_locked(struct mb_volume *vol,
								struct mb_group *grp, int lo,
								int ao, int fo, int as)
{
	mb_seq_bump(vol);
	if (MB_SINGLE_THREADED()) {
		mb_group_move_sets_as(vol, grp, lo, ao, fo, as, MB_GSET_ONE);
		return;
	}
	struct mb_mutex *wl = mb_set_lock(vol, mb_group_no(vol, grp));
	struct mb_lock_thr *me = mb_lock_me();
	bool biased = mb_set_lock_mt(wl, me);

	mb_group_move_sets_as(vol, grp, lo, ao, fo, as, MB_GSET_MT);
	mb_set_unlock_mt(wl, me, biased);
}

/*
 * The threaded move under a set lock not biased to this thread: its word
 * taken (mb_lock_one, whose slow paths are calls), the bump made by the
 * caller (mb_group_move_sets_mt2).
 */
static __attribute__((noinline)) void mb_group_move_sets_word(struct mb_volume *vol,
							      struct mb_group *grp, int lo, int ao,
							      int fo, int as)
{
	struct mb_mutex *wl = mb_set_lock(vol, mb_group_no(vol, grp));

	mb_lock_one(wl, false);
	mb_group_move_sets_as(vol, grp, lo, ao, fo, as, MB_GSET_MT2);
	mb_unlock_one(wl, false);
}

/*
 * The move with threads and sets of two levels (65 to 4096 groups, most
 * volumes), as mb_group_move_sets_one is with one thread: the sets known
 * to have two levels (gset.h's MB_GSET_MT2: no test of it a set, and the
 * one-order moves' short cases), and on its common path -- the bump with
 * no refresh of the CPU due, the word's set lock biased to this thread --
 * no call of a lock's or the CPU cache's slow paths: those are tail calls
 * (mb_group_move_sets_locked, mb_group_move_sets_word), so that their
 * code costs this path no registers.  Only gset.c's rare summary steps (a
 * remover's re-add, a family bit's clear) are calls: inline, they saved
 * ~2 instructions a call.  The bump first, as mb_group_move_sets_locked's.
 * Threaded aging:8m64k 905 -> 892, aging:triangle 2418 -> 2405
 * instructions a call.
 */
static __attribute__((noinline)) void mb_group_move_sets_mt2(struct mb_volume *vol,
							     struct mb_group *grp, int lo, int ao,
							     int fo, int as)
{
	uint32_t left = mb_cpu_left;

	if (MB_UNLIKELY(left == 1)) { /* the CPU read again: mb_seq_bump's call */
		mb_group_move_sets_locked(vol, grp, lo, ao, fo, as);
		return;
	}
	/* mb_seq_bump knowing the process threaded and the CPU's use left */
	mb_cpu_left = left - 1;
	struct mb_pcpu *slot = (struct mb_pcpu *)((char *)vol->pcpu + mb_cpu_tls.off);

	atomic_fetch_add_explicit(&slot->discard_pa_seq, 1, memory_order_relaxed);
	mb_cpu_tls.bumps++;
	struct mb_mutex *wl = mb_set_lock(vol, mb_group_no(vol, grp));
	struct mb_lock_thr *me = mb_lock_me();

	if (!MB_LIKELY(mb_lock_if_biased_at(wl, 0, me))) {
		mb_group_move_sets_word(vol, grp, lo, ao, fo, as);
		return;
	}
	mb_group_move_sets_as(vol, grp, lo, ao, fo, as, MB_GSET_MT2);
	mb_unlock_biased_at(wl, 0, me);
}

/* mb_seq_bump, out of line for mb_group_move_sets_one: its refresh's call */
static __attribute__((noinline)) void mb_group_seq_bump(struct mb_volume *vol)
{
	mb_seq_bump(vol);
}

/*
 * The move with one thread and sets of two levels (65 to 4096 groups,
 * most volumes): their summaries' updates inline (gset.h, MB_GSET_ONE2),
 * it calls nothing but the bump's rare refresh, a tail call -- no value
 * lives across a call, and none goes to the stack (the shared function
 * kept a frame and spilled; the registers gcc saves stay).  Nobody can
 * look at the sets between its stores, so the discard_pa_seq bump a
 * threaded move makes first comes last, where only vol is live.
 */
static __attribute__((noinline)) void mb_group_move_sets_one(struct mb_volume *vol,
							     struct mb_group *grp, int lo, int ao,
							     int fo, int as)
{
	mb_group_move_sets_as(vol, grp, lo, ao, fo, as, MB_GSET_ONE2);
	if (MB_UNLIKELY(mb_cpu_left == 1)) { /* the bump's count runs out: its refresh */
		mb_group_seq_bump(vol);
		return;
	}
	/* mb_seq_bump with one thread known: mb_ctr_add's plain add without
	   its second look at the thread count */
	_Atomic uint64_t *c = &mb_this_pcpu(vol)->discard_pa_seq;

	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	mb_cpu_tls.bumps++;
}

/*
 * Moves the group between the sets.  The look for one thread and two
 * levels is the caller's, inline: as a function of its own it is a jump
 * more, and in mb_group_move_sets_locked it comes after gcc saves the
 * registers the threaded move needs.
 */
static inline void mb_group_move_sets(struct mb_volume *vol, struct mb_group *grp, int lo, int ao,
				      int fo, int as)
{
	if (MB_LIKELY(vol->free_ge[0].nlevels == 2)) {
		if (MB_LIKELY(MB_SINGLE_THREADED()))
			mb_group_move_sets_one(vol, grp, lo, ao, fo, as);
		else
			mb_group_move_sets_mt2(vol, grp, lo, ao, fo, as);
	} else {
		mb_group_move_sets_locked(vol, grp, lo, ao, fo, as);
	}
}

/* mb_group_move_sub_locked's move with threads (its bump first, as
   there), under the word's lock as a move: mb_group_move_sub_mt's cases
   other than a falling average under a lock biased to this thread. */
static __attribute__((noinline)) void mb_group_move_sub_mt_slow(struct mb_volume *vol,
								struct mb_group *grp, int as)
{
	if (as > grp->bb_avg_sub)
		mb_seq_bump(vol);
	mb_grp_t g = mb_group_no(vol, grp);
	struct mb_mutex *wl = mb_set_lock(vol, g);
	struct mb_lock_thr *me = mb_lock_me();
	bool biased = mb_set_lock_mt(wl, me); /* the word's other writers excluded */

	mb_set_lock_assert(vol, g);
	mb_avg_hi_move(vol, g, grp->bb_avg_sub, as, false);
	mb_set_unlock_mt(wl, me, biased);
	MB_WRITE_ONCE(grp->bb_avg_sub, as);
}

/*
 * mb_group_move_sub_locked's move with threads.  Out of line, a tail call:
 * the lock's code would cost the one-thread path registers.  Its common
 * case, a falling average (no bump) under the word's lock biased to this
 * thread, keeps no frame; the others are a tail call (the slow lock's
 * calls had every move save and restore six registers, ~70 instructions
 * a move: threaded aging:triangle 2794 -> 2786 a call, raw:256 474 ->
 * 470, 8m64k 935 -> 932, eight others -1 to -3, sum -35; one thread
 * unchanged).  A failed biased try leaves nothing behind
 * (mb_bias_enter_at), so the slow path tries again.  The hold must end in
 * its unlock: an entry left in the thread's record makes the set lock's
 * next revoker wait for ever in mb_mutex_unbias while it holds its own
 * bb_lock.  That was session 30's hang: a build with the unlock removed
 * shows its backtrace under gdb, and this code ran 40 times under load
 * without it.  A slot lock's hold (rank 0 too) wipes such an entry, so
 * that plant hangs only some runs.  Tests: test_race_set_move,
 * test_avg_hi's avg_hi_seq_bumps_threaded.
 */
static __attribute__((noinline)) void mb_group_move_sub_mt(struct mb_volume *vol,
							   struct mb_group *grp, int as)
{
	mb_grp_t g = mb_group_no(vol, grp);
	struct mb_mutex *wl = mb_set_lock(vol, g);
	struct mb_lock_thr *me = mb_lock_me();

	if (MB_UNLIKELY(as > grp->bb_avg_sub) || !MB_LIKELY(mb_lock_if_biased_at(wl, 0, me))) {
		mb_group_move_sub_mt_slow(vol, grp, as);
		return;
	}
	mb_set_lock_assert(vol, g);
	mb_avg_hi_move(vol, g, grp->bb_avg_sub, as, false); /* the word's other writers excluded */
	mb_unlock_biased_at(wl, 0, me);
	MB_WRITE_ONCE(grp->bb_avg_sub, as);
}

/* mb_group_move_sub_locked's move of a rising average with one thread:
   out of line, as its bump's call would cost the falling move a frame */
static __attribute__((noinline)) void mb_group_move_sub_rise(struct mb_volume *vol,
							     struct mb_group *grp, int as)
{
	mb_seq_bump(vol);
	mb_avg_hi_move(vol, mb_group_no(vol, grp), grp->bb_avg_sub, as, true);
	MB_WRITE_ONCE(grp->bb_avg_sub, as);
}

/*
 * mb_group_move_sets_locked when only the average's sub moved (most moves
 * of a group filled or emptied in order: the sub steps every 1/8 of an
 * order of the average, the orders once an order): the avg_hi bitmaps
 * alone, without the frame the moves between sets need.
 *
 * A falling average only leaves avg_hi bitmaps: a walk that skips the
 * group for it skips what its test would now refuse, so no search can
 * have missed space by it and no retry can gain (no bump: in a threaded
 * process a locked add, on most moves of a group being filled).  A rising
 * one (a use that took a whole fragment) bumps (mb_group_move_sub_rise,
 * mb_group_move_sub_mt).  The falling move with one thread, the common
 * one, is a leaf: no frame.
 */
static __attribute__((noinline)) void mb_group_move_sub_locked(struct mb_volume *vol,
							       struct mb_group *grp, int as)
{
	if (MB_UNLIKELY(!MB_SINGLE_THREADED())) {
		mb_group_move_sub_mt(vol, grp, as);
		return;
	}
	if (MB_UNLIKELY(as > grp->bb_avg_sub)) {
		mb_group_move_sub_rise(vol, grp, as);
		return;
	}
	/* most falls are of one sub (cell:seq90:1000:zero:20 340 of 420):
	   one word, no jump into the steps */
	if (MB_LIKELY(grp->bb_avg_sub == as + 1))
		mb_avg_hi_move(vol, mb_group_no(vol, grp), as + 1, as, true);
	else
		mb_avg_hi_move(vol, mb_group_no(vol, grp), grp->bb_avg_sub, as, true);
	MB_WRITE_ONCE(grp->bb_avg_sub, as);
}

/*
 * Recomputes the largest-free, average-fragment and free orders and moves
 * the group between the scan sets.  Corrupt groups are in no set.  Most
 * allocations and frees change none of the orders: that case returns
 * before any set is touched.
 */
static inline void mb_group_update_orders_from(struct mb_volume *vol, struct mb_group *grp,
					       int top)
{
	bool corrupt = mb_group_corrupt(grp);
	int ao = corrupt ? -1 : mb_group_avg_order(vol, grp->bb_free, grp->bb_fragments);
	/* no average order: corrupt, or nothing free (no fragment) and every
	   counter 0, which the search would read from top down (a group used
	   up, a quarter of aging:8m64k's updates) */
	int lo = ao < 0 ? -1 : mb_largest_order_from(grp->bb_counters, top);
	int fo = corrupt ? -1 : mb_group_free_order(vol, grp->bb_free, grp->bb_fragments);
	int as = mb_group_avg_sub(grp->bb_free, grp->bb_fragments, ao);

	assert(ao >= 0 || corrupt || mb_group_largest_order(vol, grp->bb_counters) < 0);
	if (MB_LIKELY(lo == grp->bb_largest_free_order && ao == grp->bb_avg_fragment_size_order &&
		      fo == grp->bb_free_order)) {
		if (as != grp->bb_avg_sub)
			mb_group_move_sub_locked(vol, grp, as);
		return;
	}
	mb_group_move_sets(vol, grp, lo, ao, fo, as);
}

void mb_group_update_orders_locked(struct mb_volume *vol, struct mb_group *grp)
{
	mb_group_update_orders_from(vol, grp, vol->max_order);
}

/*
 * The sub of the group's average (mb_group_avg_sub) when its average order
 * is still the one recorded, ao: (8 avg) >> ao is 8 to 15 just when
 * ilog2(avg) is ao; else -1 (also for an average capped at max_order,
 * 16 or more: the general path's).  One division, as the general path's,
 * without its ilog2, cap, and four compares.  frags > 0.
 */
static inline int mb_group_sub_of(const struct mb_group *grp)
{
	uint32_t avg = mb_frag_avg(grp->bb_free, grp->bb_fragments);
	uint32_t s8 = (uint32_t)(((uint64_t)avg * MB_AVG_SUBS) >> grp->bb_avg_fragment_size_order);

	return s8 - MB_AVG_SUBS < MB_AVG_SUBS ? (int)(s8 - MB_AVG_SUBS) : -1;
}

/*
 * The same after blocks were marked used (buddy.c), when
 * mb_group_orders_hold_used_as (mb_int.h) says some order moved: a use only
 * empties chunks and splits them into lower orders, so no counter above
 * the largest order recorded before can have become non-zero, and the
 * search for the largest starts there.  -1 recorded (nothing free, or
 * corrupt before): the full search.
 *
 * Most of these moves are of the average's sub alone (a group filled
 * from the fronts of its runs; cell:seq90:1000:zero:20, 420 of its 520):
 * the largest order holds while its counter is non-zero, the free order
 * while free >= 2^fo (a use only lowers free), the average order while
 * the sub computed in it is in range (mb_group_sub_of) -- then only the
 * sub moves, without the general path's searches and compares
 * (cell:seq90:1000:zero:20 1461 -> 1446 instructions a call, sizes cells
 * -1 to -15).  Out of line: LTO's choice too once it grew; inline in
 * mb_use_found_locked it cost aged:256 +7, drain +4 a call.
 */
__attribute__((noinline)) void mb_group_reorder_used_locked(struct mb_volume *vol,
							    struct mb_group *grp)
{
	int top = grp->bb_largest_free_order;

	assert(top < 0 || top == vol->max_order ||
	       mb_group_largest_order(vol, grp->bb_counters) <= top);
	if (MB_LIKELY(top >= 0 && grp->bb_counters[top] && (grp->bb_free >> grp->bb_free_order))) {
		int s;

		assert(grp->bb_fragments && !mb_group_corrupt(grp));
		s = mb_group_sub_of(grp);
		if (MB_LIKELY(s >= 0)) {
			assert(s != grp->bb_avg_sub); /* the hold failed: some order moved */
			mb_group_move_sub_locked(vol, grp, s);
			mb_group_orders_check(vol, grp);
			return;
		}
	}
	mb_group_update_orders_from(vol, grp, top >= 0 ? top : vol->max_order);
}

/*
 * The same after blocks were freed (buddy.c): top is the highest order a
 * freed chunk ended in once merged (>= 0).  A free adds chunks only of the
 * orders they end in, and takes a chunk of order j away only by merging it
 * into one of order j + 1 or more, so the largest order is the one
 * recorded before or top, whichever is higher: the chunk that ended at top
 * is still there (one merged further would have ended higher), and one of
 * order lo could only have gone into a chunk above top.  That holds for -1
 * recorded too: nothing was free, and the largest is top (corrupt: -1,
 * whatever the start; mb_group_update_orders_from).
 *
 * Most frees change no order (a block or a few, in a group with more):
 * that case is told without a division, as mb_group_orders_hold_used_as
 * tells it for a use -- lo holds when top <= lo (so lo >= 0: orders
 * recorded, the group not corrupt); the average order and its sub while
 * avg_floor[ao][as] <= free / frags < avg_floor[ao][as + 1], two products
 * and compares (the average may rise or fall: the fragments may grow,
 * stay or shrink by one); the free order while ilog2(free), capped, is fo
 * (free rose: only its upper bound can fail).
 */
void mb_group_update_orders_freed_locked(struct mb_volume *vol, struct mb_group *grp, int top)
{
	int lo = grp->bb_largest_free_order;

	assert(top >= 0 && (mb_group_corrupt(grp) ||
			    mb_group_largest_order(vol, grp->bb_counters) == (lo > top ? lo : top)));
	if (MB_LIKELY(top <= lo)) {
		uint64_t free = grp->bb_free, frags = grp->bb_fragments;
		int fo = mb_ilog2(free);
		const uint32_t *floor =
			&vol->avg_floor[grp->bb_avg_fragment_size_order][grp->bb_avg_sub];

		assert(!mb_group_corrupt(grp) && free && frags);
		if (MB_LIKELY((fo < vol->max_order ? fo : vol->max_order) == grp->bb_free_order &&
			      free >= frags * floor[0] && free < frags * floor[1]))
			return;
	}
	mb_group_update_orders_from(vol, grp, lo > top ? lo : top);
}
