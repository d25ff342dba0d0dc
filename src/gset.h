/* SPDX-License-Identifier: MIT */
/*
 * gset.h - the writers' fast path of the group sets (gset.c), inline for
 * group_sets.c, whose moves make nearly all writes: a group whose orders
 * change leaves and enters dozens of sets at once.
 *
 * Level 0's words here are written with a relaxed load and store, no RMW
 * (a lock-prefixed instruction, ~20 cycles): the caller excludes every
 * other writer of g's word.  Either the process has one thread (`one`:
 * the caller saw MB_SINGLE_THREADED(), once for a whole move;
 * pthread_create clears the flag before a second thread runs, and orders
 * our stores before it), or the caller holds the lock of g's word,
 * vol->set_locks (group_sets.c), which every writer of these sets' level
 * 0 holds.  The summaries above are shared by the words of many locks:
 * `one`, plain too, and a remover needs no re-check; else the atomic
 * protocol of gset.c (mb_gset_add_up, mb_gset_del_up_wi), or for a set of
 * two levels blind RMWs inline (mb_gset_up_mt, mb_gset_top_mt).
 */
#ifndef MB_GSET_H
#define MB_GSET_H

#include "mb_int.h"

/*
 * Who writes level 0 through the helpers below, as `one` says: threads,
 * each word under its lock (MB_GSET_MT, false), or so with the set known
 * to have two levels (MB_GSET_MT2); one thread (MB_GSET_ONE, true); or
 * one thread, the set known to have two levels (MB_GSET_ONE2):
 * every set of a volume has ngroups bits, so a move looks once
 * (group_sets.c), and its summaries' updates then make no call at all --
 * no call in the move, which keeps its values in scratch registers, no
 * frame to save them in.
 */
enum mb_gset_writer { MB_GSET_MT = 0, MB_GSET_ONE = 1, MB_GSET_ONE2 = 2, MB_GSET_MT2 = 3 };

/*
 * One thread (MB_GSET_ONE, MB_GSET_ONE2): the word at w takes bit (add) or
 * loses it by a plain read-modify-write, which x86-64 does in one
 * instruction (an OR or AND to memory) where a relaxed atomic load and
 * store take three -- no other thread runs, so none can see the word
 * between the two halves; the type may alias the _Atomic word (gcc must
 * not move an atomic access of it past this one), whose size and
 * representation are uint64_t's.  For the writes whose result the move
 * does not test (a family's steps, the summaries of the words a move
 * filled or emptied, the avg_hi bitmaps: group_sets.c) and a clear whose
 * result is the flags of that one instruction (mb_gset_word_clear).
 */
typedef uint64_t __attribute__((may_alias)) mb_gset_plain_word;
_Static_assert(sizeof(_Atomic uint64_t) == sizeof(uint64_t), "a set's word is a uint64_t");

static inline __attribute__((always_inline)) void mb_gset_word_plain(_Atomic uint64_t *w,
								      uint64_t bit, bool add)
{
	mb_gset_plain_word *p = (mb_gset_plain_word *)(void *)w;

	if (add)
		*p |= bit;
	else
		*p &= ~bit;
}

/* The word at w loses bit, its other writers excluded (see above): true
   if it emptied. */
static inline __attribute__((always_inline)) bool mb_gset_word_clear(_Atomic uint64_t *w,
								      uint64_t bit,
								      enum mb_gset_writer one)
{
	if (one == MB_GSET_ONE || one == MB_GSET_ONE2) {
		mb_gset_plain_word *p = (mb_gset_plain_word *)(void *)w;

		return !(*p &= ~bit);
	}
	uint64_t v = atomic_load_explicit(w, memory_order_relaxed) & ~bit;

	atomic_store_explicit(w, v, memory_order_relaxed);
	return !v;
}

/* One thread: level 0's word wi was empty and has a member now (or has
   emptied): its summary bit, and so on upward (gset.c). */
void mb_gset_add_one_up(struct mb_gset *s, uint32_t wi);
void mb_gset_del_one_up(struct mb_gset *s, uint32_t wi);
/* The same with threads, RMWs (gset.c). */
void mb_gset_add_up(struct mb_gset *s, uint32_t wi);
void mb_gset_del_up_wi(struct mb_gset *s, uint32_t wi);
/* With threads: a remover emptied the top word of s, which has a family
   word; the family bit's clear and re-check (gset.c). */
void mb_gset_fam_clear(struct mb_gset *s);

/*
 * One thread: the summary above level 0's word wi, which was empty and has
 * a member now (add) or has emptied (!add).  A set of 65 to 4096 groups
 * has two levels, the top one word (mb_gset_init): its bit wi there, then
 * the family bit when that word changed between empty and not -- inline,
 * as a move makes a few of these (sparse sets of high orders empty and
 * fill words often), where a call and the general loop cost twice that.
 * Other shapes: gset.c.
 */
static inline __attribute__((always_inline)) void mb_gset_up_one(struct mb_gset *s, uint32_t wi,
								  bool add, bool two)
{
	assert(!two || s->nlevels == 2);
	if (!two && s->nlevels != 2) {
		if (add)
			mb_gset_add_one_up(s, wi);
		else
			mb_gset_del_one_up(s, wi);
		return;
	}
	_Atomic uint64_t *top = &s->top;
	uint64_t bit = 1ULL << wi; /* wi < 64: level 0 has at most 64 words */
	bool edge; /* the top word was empty, or emptied */

	if (add) {
		uint64_t old = atomic_load_explicit(top, memory_order_relaxed); /* one thread */

		atomic_store_explicit(top, old | bit, memory_order_relaxed);
		edge = !old;
	} else {
		edge = mb_gset_word_clear(top, bit, MB_GSET_ONE);
	}
	if (edge && s->fam)
		mb_gset_word_plain(s->fam, s->fam_bit, add);
}

#ifdef MB_TESTING
/* Test-only: called by a threaded adder of a two-level set with a family
   word (mb_gset_up_mt) after its look at the family bit (A2), before it
   sets the bit (A3) if it found it clear. */
extern void (*mb_gset_adder_hook)(struct mb_gset *s);
#endif

/*
 * With threads: the summary above level 0's word wi, which has a member now
 * after none (add) or has emptied.  A set of two levels (65 to 4096
 * groups, the top one word: a volume's exact sets, largest_set and
 * avg_set, with a family word, largest_orders / avg_orders) inline, and
 * with no RMW whose old value is read: on x86-64 each such is a
 * compare-exchange loop (a load, the op, `lock cmpxchg`, a branch back),
 * where an RMW whose result goes unused is one `lock or` / `lock and`, as
 * is one whose result is only tested for zero (gcc 12 then tests the
 * instruction's flags).
 *
 * The top word's bit wi has one writer at a time, the holder of set lock
 * wi (group_sets.c; gset.h's head): it changes only as word wi fills or
 * empties, and the writer knows that from its own word.  So it takes a
 * blind RMW (other bits of the word are other locks'), and a remover
 * needs no re-check of word wi: no adder of it can race (mb_gset_top_mt,
 * the families' sets, argues the same).  mb_gset_add and mb_gset_del
 * (creation, tests) must not run on a set while threaded moves do.
 *
 * The family word is every lock's: its bit is kept by a look rather than
 * by the old value of the top word.
 *   adder:   A1 top |= bit; A2 look at the family bit; A3 if clear, set it.
 *   remover: R1 top &= ~bit; R2 if that left top empty (R1's result):
 *            R3 clear the family bit; R4 look at top; R5 if non-empty,
 *            set the family bit again (mb_gset_fam_clear).
 * All seq_cst (x86-64: the RMWs are lock-prefixed, full barriers; the
 * loads plain movs: no instruction more).  Why no family bit stays
 * clear over a non-empty top word once the writers stop: take the last
 * time the top word went from empty to non-empty, an adder's A1 (only
 * adders set top bits), and call it T; in the single order S of the
 * seq_cst operations its A2 follows it.  After T the top word never
 * empties, so an R1 after T leaves it non-empty and starts no clear.  If A2
 * saw the family bit clear, A3 sets it; if set, A2 read the latest write
 * to the bit before it in S, a set.  Either way the bit is set at some
 * point after T in S, and any clear R3 later than that in S is followed
 * by its R4, later than T: it sees the top word non-empty, and R5 sets
 * the bit again.  So the last write to the bit sets it.  This is the
 * store-buffering shape (A: write top, read fam; R: write fam, read top):
 * acquire and release are not enough, seq_cst is (neither load may pass
 * the RMW before it).  A family bit left set over an empty top word (an
 * R5 for an adder whose bit has gone again) is a hint, as a stale summary
 * bit is (gset.c); with one writer at a time, as in every probe, the bits
 * come out exact, as before.  Tests: test_gset's
 * gset_move_ge_threaded_two_levels_races (hooks between the steps),
 * gset_threads_move_ge, gset_random_vs_naive (MB_GSET_MT2).
 * Threaded aging:8m64k 782 -> 769 instructions a call, aging:triangle
 * 2175 -> 2169, raw:256 441 -> 438, sum of the 17 -35 (the
 * compare-exchange loops and the remover's re-check of word wi go; the
 * family clear, blind, LTO now inlines at most sites, a call of gset.c's
 * general step before); one thread unchanged.
 * Other shapes: gset.c.
 * two: the caller knows s has two levels (MB_GSET_MT2), and the test of
 * it goes.
 */
static inline __attribute__((always_inline)) void mb_gset_up_mt(struct mb_gset *s, uint32_t wi,
								 bool add, bool two)
{
	assert(!two || s->nlevels == 2);
	if (!two && s->nlevels != 2) {
		if (add)
			mb_gset_add_up(s, wi);
		else
			mb_gset_del_up_wi(s, wi);
		return;
	}
	uint64_t bit = 1ULL << wi; /* wi < 64: level 0 has at most 64 words */

	if (add) {
		/* A1; seq_cst, so a release too: a reader that sees the bit
		   sees word wi's member */
		atomic_fetch_or_explicit(&s->top, bit, memory_order_seq_cst);
		if (s->fam) {
			uint64_t f = atomic_load_explicit(s->fam, memory_order_seq_cst); /* A2 */

#ifdef MB_TESTING
			if (mb_gset_adder_hook)
				mb_gset_adder_hook(s);
#endif
			if (MB_UNLIKELY(!(f & s->fam_bit))) /* A3 */
				atomic_fetch_or_explicit(s->fam, s->fam_bit, memory_order_seq_cst);
		}
		return;
	}
	/* R1, R2 (the test of its result: the `lock and`'s flags); R3 to R5 a
	   call, a set emptied */
	if (MB_UNLIKELY(!(atomic_fetch_and_explicit(&s->top, ~bit, memory_order_seq_cst) & ~bit)) &&
	    s->fam)
		mb_gset_fam_clear(s);
}

/* Level 0's word wi has a member now after none (add), or has emptied:
   the summaries above, as `one` says (see above). */
static inline __attribute__((always_inline)) void mb_gset_up(struct mb_gset *s, uint32_t wi,
								 bool add, enum mb_gset_writer one)
{
	if (one == MB_GSET_ONE || one == MB_GSET_ONE2)
		mb_gset_up_one(s, wi, add, one == MB_GSET_ONE2);
	else
		mb_gset_up_mt(s, wi, add, one == MB_GSET_MT2);
}

/* Adds g (its word index wi and bit there), the writer holding g's lock
   and excluding its word's other writers: see above for `one`. */
static inline __attribute__((always_inline)) void
mb_gset_add_w(struct mb_gset *s, uint32_t wi, uint64_t bit, enum mb_gset_writer one)
{
	_Atomic uint64_t *w = &s->lvl[0][wi];
	uint64_t v = atomic_load_explicit(w, memory_order_relaxed) | bit; /* no other writer */

	atomic_store_explicit(w, v, memory_order_relaxed);
	if (MB_UNLIKELY(v == bit)) /* the word was empty (or held g alone: no harm) */
		mb_gset_up(s, wi, true, one);
}

static inline __attribute__((always_inline)) void
mb_gset_del_w(struct mb_gset *s, uint32_t wi, uint64_t bit, enum mb_gset_writer one)
{
	if (MB_UNLIKELY(mb_gset_word_clear(&s->lvl[0][wi], bit, one)))
		mb_gset_up(s, wi, false, one);
}

/* The same given g. */
static inline __attribute__((always_inline)) void mb_gset_add_as(struct mb_gset *s, uint32_t g,
								  enum mb_gset_writer one)
{
	mb_gset_add_w(s, g >> 6, 1ULL << (g & 63), one);
}

static inline __attribute__((always_inline)) void mb_gset_del_as(struct mb_gset *s, uint32_t g,
								  enum mb_gset_writer one)
{
	mb_gset_del_w(s, g >> 6, 1ULL << (g & 63), one);
}

/* g's word at w (a family's block, gset.c) takes or loses bit, and w steps
   by `step` words, to its word in the next set: alone in the process one op
   to memory (mb_gset_word_plain); with threads (mt) a relaxed load and store
   (readers take no lock; its other writers are excluded, above) */
#define MB_GSET_FAM_STEP(w, step, add, bit, mt)                                      \
	do {                                                                         \
		if (mt) {                                                            \
			uint64_t v_ = atomic_load_explicit(w, memory_order_relaxed); \
			atomic_store_explicit(w, (add) ? v_ | (bit) : v_ & ~(bit),   \
					      memory_order_relaxed);                 \
		} else {                                                             \
			mb_gset_word_plain(w, bit, add);                             \
		}                                                                    \
		(w) += (step);                                                       \
	} while (0)

/*
 * g's n words at q and in the n - 1 sets after it, `step` words apart, take
 * bit (add) or lose it: a jump into the steps, each an op to memory and
 * the stride -- the loop took the set's pointer, its test, count and
 * compare besides (~9 instructions a set; a group filled or emptied moves
 * a dozen sets in each of three families).  With threads (mt), an add
 * steps upward and a delete downward, as mb_gset_move_ge_w's loops do, so
 * that the stores keep g's words nested (ge[k]'s holds ge[k + 1]'s) in
 * their order.
 */
static inline __attribute__((always_inline)) void
mb_gset_fam_steps_as(_Atomic uint64_t *q, ptrdiff_t step, int n, bool add, uint64_t bit, bool mt)
{
	_Static_assert(MB_MAX_ORDERS == 20, "mb_gset_fam_steps_as takes up to 20 steps");
	_Atomic uint64_t *w = q;

	assert(n >= 0 && n <= MB_MAX_ORDERS);
	switch (n) {
#define MB_GSET_FAM_CASE(j)                                \
	case (j) + 1:                                      \
		MB_GSET_FAM_STEP(w, step, add, bit, mt);   \
		__attribute__((fallthrough))
		MB_GSET_FAM_CASE(19);
		MB_GSET_FAM_CASE(18);
		MB_GSET_FAM_CASE(17);
		MB_GSET_FAM_CASE(16);
		MB_GSET_FAM_CASE(15);
		MB_GSET_FAM_CASE(14);
		MB_GSET_FAM_CASE(13);
		MB_GSET_FAM_CASE(12);
		MB_GSET_FAM_CASE(11);
		MB_GSET_FAM_CASE(10);
		MB_GSET_FAM_CASE(9);
		MB_GSET_FAM_CASE(8);
		MB_GSET_FAM_CASE(7);
		MB_GSET_FAM_CASE(6);
		MB_GSET_FAM_CASE(5);
		MB_GSET_FAM_CASE(4);
		MB_GSET_FAM_CASE(3);
		MB_GSET_FAM_CASE(2);
		MB_GSET_FAM_CASE(1);
		MB_GSET_FAM_CASE(0);
#undef MB_GSET_FAM_CASE
	default:
		break;
	}
}

/* mb_gset_fam_steps_as alone in the process, stepping down a stride st */
static inline __attribute__((always_inline)) void
mb_gset_fam_steps(_Atomic uint64_t *q, size_t st, int n, bool add, uint64_t bit)
{
	mb_gset_fam_steps_as(q, -(ptrdiff_t)st, n, add, bit, false);
}

/*
 * The summaries of g's words in ge[top], ge[top - 1], ... down to ge[stop
 * + 1] while the word is g alone (add: it was empty) or empty (it emptied):
 * ge[top]'s, at q, is known to be.  Out of the common path: most moves
 * fill or empty no word.  The lowest order whose summary changed.
 */
static inline __attribute__((always_inline)) int
mb_gset_fam_ups(struct mb_gset *ge, _Atomic uint64_t *q, size_t st, uint32_t wi, uint64_t bit,
		int top, int stop, bool add)
{
	/* A volume's families have no family word (volume.c: the exact
	   sets have): their top words alone, each an op to memory, no test
	   of whether it emptied or filled */
	if (MB_LIKELY(!ge[top].fam)) {
		for (int k = top;;) {
			assert(!ge[k].fam);
			mb_gset_word_plain(&ge[k].top, 1ULL << wi, add);
			q -= st;
			if (--k <= stop ||
			    atomic_load_explicit(q, memory_order_relaxed) != (add ? bit : 0))
				return k + 1;
		}
	}
	for (int k = top;;) {
		mb_gset_up(&ge[k], wi, add, MB_GSET_ONE2);
		q -= st;
		if (--k <= stop ||
		    atomic_load_explicit(q, memory_order_relaxed) != (add ? bit : 0))
			return k + 1;
	}
}

/*
 * mb_gset_fam_ups when g's words in ge[top] .. ge[low] (low > stop) are
 * known to be g alone (add) or empty: their summaries without a look at
 * them, then on down as there.  q: g's word in ge[top].
 */
static inline __attribute__((always_inline)) void
mb_gset_fam_ups_known(struct mb_gset *ge, _Atomic uint64_t *q, size_t st, uint32_t wi,
		      uint64_t bit, int top, int low, int stop, bool add)
{
	int k = top;

	assert(low > stop && low <= top);
	if (MB_LIKELY(!ge[top].fam)) {
		for (; k >= low; k--, q -= st) {
			assert(!ge[k].fam);
			assert(atomic_load_explicit(q, memory_order_relaxed) == (add ? bit : 0));
			mb_gset_word_plain(&ge[k].top, 1ULL << wi, add);
		}
	} else {
		for (; k >= low; k--, q -= st) {
			assert(atomic_load_explicit(q, memory_order_relaxed) == (add ? bit : 0));
			mb_gset_up(&ge[k], wi, add, MB_GSET_ONE2);
		}
	}
	if (k > stop && atomic_load_explicit(q, memory_order_relaxed) == (add ? bit : 0))
		mb_gset_fam_ups(ge, q, st, wi, bit, k, stop, add);
}

/*
 * mb_gset_fam_steps for three families laid out alike (mb_gset_move_ge3_two):
 * g's words at index i of a, b and c and the n - 1 below them, st words
 * apart, take bit or lose it -- each level three ops to memory and one
 * step of the shared index, where the loop took a second index for its
 * end, its compare and branch (aging:8m64k: ~6 orders a move).
 */
static inline __attribute__((always_inline)) void
mb_gset_fam3_steps(_Atomic uint64_t *a, _Atomic uint64_t *b, _Atomic uint64_t *c, size_t i,
		   size_t st, int n, bool add, uint64_t bit)
{
	_Static_assert(MB_MAX_ORDERS == 20, "mb_gset_fam3_steps takes up to 20 steps");
	assert(n >= 0 && n <= MB_MAX_ORDERS);
	switch (n) {
#define MB_GSET_FAM3_CASE(j)                                  \
	case (j) + 1:                                         \
		mb_gset_word_plain(&a[i], bit, add);          \
		mb_gset_word_plain(&b[i], bit, add);          \
		mb_gset_word_plain(&c[i], bit, add);          \
		i -= st;                                      \
		__attribute__((fallthrough))
		MB_GSET_FAM3_CASE(19);
		MB_GSET_FAM3_CASE(18);
		MB_GSET_FAM3_CASE(17);
		MB_GSET_FAM3_CASE(16);
		MB_GSET_FAM3_CASE(15);
		MB_GSET_FAM3_CASE(14);
		MB_GSET_FAM3_CASE(13);
		MB_GSET_FAM3_CASE(12);
		MB_GSET_FAM3_CASE(11);
		MB_GSET_FAM3_CASE(10);
		MB_GSET_FAM3_CASE(9);
		MB_GSET_FAM3_CASE(8);
		MB_GSET_FAM3_CASE(7);
		MB_GSET_FAM3_CASE(6);
		MB_GSET_FAM3_CASE(5);
		MB_GSET_FAM3_CASE(4);
		MB_GSET_FAM3_CASE(3);
		MB_GSET_FAM3_CASE(2);
		MB_GSET_FAM3_CASE(1);
		MB_GSET_FAM3_CASE(0);
#undef MB_GSET_FAM3_CASE
	default:
		break;
	}
}

/*
 * mb_gset_move_ge_two_as for three families of two-level sets, all laid out
 * alike by mb_gset_init_family, whose moves are the same, from `from` to
 * `to`, two or more orders apart (a group filled up, or given one free
 * run: its three orders move together, by a dozen orders at a time in
 * aging:8m64k).  The three words of a level change in one step, a
 * stride of one index for all three, and one dispatch serves where each
 * family had its own (mb_gset_fam3_steps); the summaries after, a family
 * at a time.  ga's sets hold gb's and gc's, order by order (free_ge
 * holds largest_ge and avg_ge): where ga's word emptied or was filled by
 * g alone, so were theirs.
 */
static inline __attribute__((always_inline)) void
mb_gset_move_ge3_two(struct mb_gset *ga, struct mb_gset *gb, struct mb_gset *gc, uint32_t wi,
		     uint64_t bit, int from, int to)
{
	size_t st = ga[0].nwords[0];
	bool add = to > from;
	int top = add ? to : from, stop = add ? from : to;
	size_t i = wi + (size_t)top * st;
	_Atomic uint64_t *a = ga[0].lvl[0], *b = gb[0].lvl[0], *c = gc[0].lvl[0];

	assert(ga[0].lvl0_block && gb[0].lvl0_block && gc[0].lvl0_block);
	assert(gb[0].nwords[0] == st && gc[0].nwords[0] == st && top > stop + 1);
	assert(ga[top].lvl[0] == a + (size_t)top * st && gb[top].lvl[0] == b + (size_t)top * st &&
	       gc[top].lvl[0] == c + (size_t)top * st);
	if (add) /* two copies: add a constant in each (gcc tested it a step) */
		mb_gset_fam3_steps(a, b, c, i, st, top - stop, true, bit);
	else
		mb_gset_fam3_steps(a, b, c, i, st, top - stop, false, bit);
	if (MB_UNLIKELY(atomic_load_explicit(&a[i], memory_order_relaxed) == (add ? bit : 0))) {
		/* b and c hold no group a does not, order by order (free_ge
		   holds largest_ge and avg_ge: a group's largest run and its
		   average fragment are at most its free count), so their
		   words at the orders where a's is g alone or empty are too:
		   those summaries without a look at the words */
		int low = mb_gset_fam_ups(ga, &a[i], st, wi, bit, top, stop, add);

		mb_gset_fam_ups_known(gb, &b[i], st, wi, bit, top, low, stop, add);
		mb_gset_fam_ups_known(gc, &c[i], st, wi, bit, top, low, stop, add);
		return;
	}
	if (MB_UNLIKELY(atomic_load_explicit(&b[i], memory_order_relaxed) == (add ? bit : 0)))
		mb_gset_fam_ups(gb, &b[i], st, wi, bit, top, stop, add);
	if (MB_UNLIKELY(atomic_load_explicit(&c[i], memory_order_relaxed) == (add ? bit : 0)))
		mb_gset_fam_ups(gc, &c[i], st, wi, bit, top, stop, add);
}

/*
 * With threads (MB_GSET_MT2), a family of two-level sets laid out by
 * mb_gset_init_family: level 0's word wi of every set has one writer at a
 * time, the holder of set lock wi (group_sets.c), so bit wi of each top
 * word has too -- it changes only as word wi fills or empties, and the
 * writer knows that from its own word's value.  That bit then takes an
 * RMW whose result goes unused (x86-64: a `lock or`/`lock and`, not the
 * compare-exchange loop an RMW whose old value is read needs), and a
 * remover needs no re-check of its word: no adder of it can race.  Other
 * bits of the top word belong to other locks: hence the RMW.  The family
 * word above (mb_gset_set_family) is shared by all locks' words: a set
 * with one takes mb_gset_up_mt's protocol.  mb_gset_add and mb_gset_del
 * (creation) must not run on a set while threaded moves do.
 */
static inline __attribute__((always_inline)) void mb_gset_top_mt(struct mb_gset *s, uint32_t wi,
								  bool add)
{
	assert(s->nlevels == 2 && !s->fam);
	if (add) /* release: a reader that sees the bit sees the word's member */
		atomic_fetch_or_explicit(&s->top, 1ULL << wi, memory_order_release);
	else
		atomic_fetch_and_explicit(&s->top, ~(1ULL << wi), memory_order_relaxed);
}

/* mb_gset_fam_ups with threads (see above), g's words already stored: a
   set with a family word (tests: a volume's families have none) takes
   mb_gset_up_mt's protocol */
static inline __attribute__((always_inline)) void
mb_gset_fam_ups_mt(struct mb_gset *ge, _Atomic uint64_t *q, size_t st, uint32_t wi, uint64_t bit,
		   int top, int stop, bool add)
{
	if (MB_LIKELY(!ge[top].fam)) {
		for (int k = top;;) {
			mb_gset_top_mt(&ge[k], wi, add);
			q -= st;
			if (--k <= stop ||
			    atomic_load_explicit(q, memory_order_relaxed) != (add ? bit : 0))
				return;
		}
	}
	for (int k = top;;) {
		mb_gset_up_mt(&ge[k], wi, add, true);
		q -= st;
		if (--k <= stop ||
		    atomic_load_explicit(q, memory_order_relaxed) != (add ? bit : 0))
			return;
	}
}

/*
 * mb_gset_move_ge_w in a family of two-level sets laid out by
 * mb_gset_init_family, two orders or more: g's word in ge[k] is k strides
 * (a level 0's words) past its word in ge[0].  The words change first,
 * every one blindly (mb_gset_fam_steps_as), and the summaries after: as
 * the sets nest, the words that were empty before an add (that emptied in
 * a delete) are the top ones of the range, so a look at the top one tells
 * whether there are any (most moves: none), and a walk down finds them.
 * Alone in the process (MB_GSET_ONE2) nobody looks during the move.  With
 * threads (mt, MB_GSET_MT2) the words go upward for an add and downward
 * for a delete: a reader sees a word filled before its summary bit (as a
 * member not yet added: the move's discard_pa_seq bump came first,
 * group_sets.c), and a summary bit over a word emptied (a hint: it finds
 * no member there).  Threaded aging:8m64k 803 -> 782 instructions a call:
 * the generic loops' test and count a set go, and the summaries'
 * compare-exchange loops (mb_gset_top_mt).  Measured and left: a threaded
 * pass of the three families at once (as mb_gset_move_ge3_two) made 790,
 * triangle +5 (its test on every move, and registers); mb_gset_top_mt in
 * the one-order moves too, 788, triangle +4.
 */
static inline __attribute__((always_inline)) void
mb_gset_move_ge_two_as(struct mb_gset *ge, uint32_t wi, uint64_t bit, int from, int to, bool mt)
{
	size_t st = ge[0].nwords[0];
	_Atomic uint64_t *p = ge[0].lvl[0] + wi; /* ge[k]'s word: p[k * st] */

	assert(ge[0].lvl0_block && ge[0].nlevels == 2);
	assert(from < 1 || ge[from].lvl[0] == ge[0].lvl[0] + (size_t)from * st);
	assert(to < 1 || ge[to].lvl[0] == ge[0].lvl[0] + (size_t)to * st);
	if (to > from) {
		_Atomic uint64_t *q = p + (size_t)to * st;

		if (mt)
			mb_gset_fam_steps_as(p + (ptrdiff_t)(from + 1) * (ptrdiff_t)st,
					     (ptrdiff_t)st, to - from, true, bit, true);
		else
			mb_gset_fam_steps(q, st, to - from, true, bit);
		/* g alone: the word was empty (g was in none of them) */
		if (MB_UNLIKELY(atomic_load_explicit(q, memory_order_relaxed) == bit)) {
			if (mt)
				mb_gset_fam_ups_mt(ge, q, st, wi, bit, to, from, true);
			else
				mb_gset_fam_ups(ge, q, st, wi, bit, to, from, true);
		}
		return;
	}
	if (from > to) {
		_Atomic uint64_t *q = p + (size_t)from * st;

		mb_gset_fam_steps_as(q, -(ptrdiff_t)st, from - to, false, bit, mt);
		if (MB_UNLIKELY(!atomic_load_explicit(q, memory_order_relaxed))) {
			if (mt)
				mb_gset_fam_ups_mt(ge, q, st, wi, bit, from, to, false);
			else
				mb_gset_fam_ups(ge, q, st, wi, bit, from, to, false);
		}
	}
}

/*
 * Moves g from the sets ge[0..from] to ge[0..to] (-1: in none): a family
 * where set k holds the groups of order >= k.  Adds go upward and deletes
 * downward, so g is never in ge[k] without being in ge[k - 1].
 * g's word index wi and bit; no other writer of the words (see above).
 * As the sets nest, so do g's words: ge[k]'s holds ge[k + 1]'s (their
 * writers excluded, the words hold still).  Once an add finds a word
 * empty, every word above it is empty too (stored as the bit alone, their
 * summaries set); once a delete leaves a word non-empty, every word below
 * it stays non-empty (no test).  g was in none of ge[from + 1..to].
 */
static inline __attribute__((always_inline)) void
mb_gset_move_ge_w(struct mb_gset *ge, uint32_t wi, uint64_t bit, int from, int to,
		  enum mb_gset_writer one)
{
	/* One order down or up, most moves (a use or a free of a fragment):
	   ge[from]'s word alone loses g, or ge[to]'s gains it -- one word,
	   without the loops' setup and tests (aging:triangle -5 a call).
	   MB_GSET_ONE2 and MB_GSET_MT2 only: in mb_group_move_sets_locked
	   (threads, any shape) the extra code cost gcc registers, spills
	   there; in mb_group_move_sets_mt2 threaded aging:triangle -8 */
	if ((one == MB_GSET_ONE2 || one == MB_GSET_MT2) && to == from - 1) {
		if (MB_UNLIKELY(mb_gset_word_clear(&ge[from].lvl[0][wi], bit, one)))
			mb_gset_up(&ge[from], wi, false, one);
		return;
	}
	if ((one == MB_GSET_ONE2 || one == MB_GSET_MT2) && to == from + 1) {
		_Atomic uint64_t *w = &ge[to].lvl[0][wi];
		uint64_t v = atomic_load_explicit(w, memory_order_relaxed) | bit;

		atomic_store_explicit(w, v, memory_order_relaxed);
		if (MB_UNLIKELY(v == bit))
			mb_gset_up(&ge[to], wi, true, one);
		return;
	}
	if (one == MB_GSET_ONE2) {
		mb_gset_move_ge_two_as(ge, wi, bit, from, to, false);
		return;
	}
	if (one == MB_GSET_MT2) {
		mb_gset_move_ge_two_as(ge, wi, bit, from, to, true);
		return;
	}
	int k = from + 1;

	for (; k <= to; k++) {
		_Atomic uint64_t *w = &ge[k].lvl[0][wi];
		uint64_t v = atomic_load_explicit(w, memory_order_relaxed) | bit;

		if (MB_UNLIKELY(v == bit))
			break; /* empty: so are the words above */
		atomic_store_explicit(w, v, memory_order_relaxed);
	}
	for (; k <= to; k++) {
		assert(!atomic_load_explicit(&ge[k].lvl[0][wi], memory_order_relaxed));
		atomic_store_explicit(&ge[k].lvl[0][wi], bit, memory_order_relaxed);
		mb_gset_up(&ge[k], wi, true, one);
	}
	for (k = from; k > to; k--) {
		_Atomic uint64_t *w = &ge[k].lvl[0][wi];
		uint64_t v = atomic_load_explicit(w, memory_order_relaxed) & ~bit;

		atomic_store_explicit(w, v, memory_order_relaxed);
		if (MB_LIKELY(v))
			break; /* non-empty: so are the words below */
		mb_gset_up(&ge[k], wi, false, one);
	}
	while (--k > to) {
		_Atomic uint64_t *w = &ge[k].lvl[0][wi];
		uint64_t v = atomic_load_explicit(w, memory_order_relaxed) & ~bit;

		assert(v);
		atomic_store_explicit(w, v, memory_order_relaxed);
	}
}

static inline __attribute__((always_inline)) void
mb_gset_move_ge_as(struct mb_gset *ge, uint32_t g, int from, int to, enum mb_gset_writer one)
{
	mb_gset_move_ge_w(ge, g >> 6, 1ULL << (g & 63), from, to, one);
}

#endif /* MB_GSET_H */
