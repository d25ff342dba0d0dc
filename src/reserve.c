/* SPDX-License-Identifier: MIT */
/*
 * reserve.c - reservations as in ext4's delayed allocation: mb_reserve(),
 * mb_unreserve(), the claim every plain mb_alloc() makes first, the system
 * reserve (ext4's s_resv_clusters and root blocks) and mb_statfs().
 *
 * Accounting
 * ----------
 * F is the volume's free counter (on-disk free: PA space, pending frees and
 * trims in flight count, as they are all reclaimable).  R is what mb_reserve
 * handed out, C what plain allocations in flight claimed.  U = F - R - C is
 * the unclaimed free space; a claim of n (reserve, or a plain allocation)
 * succeeds iff U - floor >= n, where floor is the system reserve its flags
 * may not touch (ext4_has_free_clusters):
 *   none: reserved_clusters + r_blocks_count; MB_HINT_USE_ROOT_BLOCKS:
 *   reserved_clusters; MB_HINT_USE_RESERVED: 0.
 * U is kept directly, never computed from F and R, so no reader can see one
 * moved and not the other.  F is kept as U plus the reservations: F =
 * rs_pool + every share + every slot's free_delta, which only reservations
 * move (+n at mb_reserve, -n at mb_unreserve, -got when a delalloc
 * allocation marks its reserved blocks: mb_free_counter_consume).  A plain
 * claim's blocks leave F with U, at the claim, so its mark on disk writes
 * no counter at all and F reads low by the claims in flight (what they do
 * not use comes back with the settle).  Every other change of F moves U by
 * the same amount (mb_free_counter_add: a free, a group seeded or found
 * corrupt, mb_mark_used).  Since plain allocations claim first, F >= R
 * always: a USE_RESERVED allocation always has its blocks somewhere on
 * disk, free, in a PA, pending a commit or being trimmed.
 *
 * Exactness without a global lock on the fast path
 * ------------------------------------------------
 * Like a percpu_counter, U is striped: rs_pool plus one share per slot
 * (the low bits of its resv_word).  Unlike a percpu_counter the stripes are
 * not deltas of an estimate but disjoint shares: a block of U is in exactly
 * one place.  A claim takes from its own slot's share (never below n),
 * under the slot's lock, which the thread that keeps using the slot gets
 * biased (lock.c: no locked instruction), so a fast-path success is always
 * backed by real blocks.  A claim the own share cannot serve takes
 * rs_lock; if the pool alone cannot serve it either, it drains every share
 * into the pool (each under its slot's lock) and decides on the exact
 * total.  Shares are refilled from the pool (by
 * mb_resv_refill, 256 to 4096 blocks) only while what is left stays above
 * the largest floor by nslots * MB_RESV_BATCH, so near empty every
 * share is drained and every claim decides under the lock (the precise
 * path).  Returns of space (frees, unreserve, a claim's unused part) add
 * to the own share, under its lock only; one that races with a precise
 * decision may be missed by it, which only orders that return after the
 * failing claim.  The slot locks are what struct mb_pcpu says of
 * resv_word: every write of a word is under its slot's lock.
 *
 * Lock order: rs_lock is a leaf (MB_RANK_LEAF): only a slot's resv_lock
 * (MB_RANK_SLOT, inside which nothing is taken) is taken inside it.
 * Claims take it with at most f_data_sem / lg_mutex held; under bb_lock
 * only the rare spill of a share grown past 2^44 blocks does
 * (mb_resv_share_add; the common add takes the slot's lock alone).
 *
 * Cost: a claim is one hold of the slot's lock and its settle one more
 * (the share and the count of claims in flight share the word); a PA hit's
 * claim is one.  Nothing else of this file is on the fast path.
 */
#include <time.h>

#include "alloc_ctx.h"
#include "store.h"
#include "percpu.h"

/* The least a slot's share is refilled with; the precise zone is slots * this. */
#define MB_RESV_BATCH 64
/* The most (see mb_resv_refill). */
#define MB_RESV_REFILL_MAX 4096

/*
 * A slot's share is refilled for 64 more requests of n, at least 4 *
 * MB_RESV_BATCH, at most MB_RESV_REFILL_MAX: a dry share sends a PA hit
 * down the regular path (prealloc.c), and with 64 blocks a stream of
 * 16-block hits found it dry every fourth time.  Only the pool's far-from-
 * empty part is handed out (mb_resv_claim_slow), so the size moves no
 * decision, only how often the pool lock is taken.
 */
static inline int64_t mb_resv_refill(uint64_t n)
{
	uint64_t r = n < MB_RESV_REFILL_MAX / 64 ? n * 64 : MB_RESV_REFILL_MAX;

	return r > 4 * MB_RESV_BATCH ? (int64_t)r : 4 * MB_RESV_BATCH;
}

/*
 * A slot's word (struct mb_pcpu, resv_word): its share of U in the low 48
 * bits, two's complement, and its claims in flight in the high 16, so that
 * taking blocks and counting the claim is one RMW, and so is a settle with
 * its return.  The word is an integer sum, share + claims * 2^48 (mod
 * 2^64): adding a signed delta to it moves the share alone while the share
 * stays within +-2^47, which mb_resv_share_add keeps (a share past
 * MB_RESV_SPILL goes to the pool); the count stays below 2^16
 * (MB_RESV_FLIGHT_MAX: a slot that full takes no more claims).  The
 * share's decoding (mb_resv_share_of) and the exact take are in percpu.h,
 * for the power-of-two fast path's inline claim.
 */
/* MB_RESV_SPILL: percpu.h, for a free's inline add (mb_free_counter_freed) */

static struct mb_pcpu *mb_resv_slot(struct mb_volume *vol)
{
	return mb_this_pcpu(vol);
}

/* ext4_calculate_resv_clusters: 2% of the volume, at most 4096 blocks. */
uint32_t mb_resv_default_clusters(const struct mb_volume *vol)
{
	uint64_t r = vol->geo.blocks_count / 50;

	return (uint32_t)(r < 4096 ? r : 4096);
}

void mb_resv_init(struct mb_volume *vol)
{
	/* the slots' resv_locks are zeroed memory (volume.c), which is an
	   unlocked lock of MB_RANK_SLOT (mb_int.h) */
	mb_mutex_init(&vol->resv.rs_lock, MB_RANK_LEAF);
	vol->resv.rs_pool = 0;
}

void mb_resv_destroy(struct mb_volume *vol)
{
	mb_mutex_destroy(&vol->resv.rs_lock);
}

/* Adds delta to slot's word, its lock held (or no other thread). Relaxed:
   the lock orders it against every other writer. */
static inline void mb_resv_word_add_held(struct mb_pcpu *slot, uint64_t delta)
{
	atomic_store_explicit(&slot->resv_word,
			      atomic_load_explicit(&slot->resv_word, memory_order_relaxed) + delta,
			      memory_order_relaxed);
}

static __attribute__((noinline)) void mb_resv_word_add_locked(struct mb_pcpu *slot,
							      uint64_t delta)
{
	mb_lock(&slot->resv_lock);
	mb_resv_word_add_held(slot, delta);
	mb_unlock(&slot->resv_lock);
}

/*
 * Adds delta to slot's word: under its lock once the process has threads
 * (struct mb_pcpu), a plain load and store before.  The biased hold
 * inline, the general one out of line (mb_lock_if_biased says why).
 */
static inline void mb_resv_word_add_mt(struct mb_pcpu *slot, uint64_t delta)
{
	struct mb_lock_thr *me;

	if (MB_LIKELY(mb_lock_if_biased_at(&slot->resv_lock, 0, me = mb_lock_me()))) {
		mb_resv_word_add_held(slot, delta);
		mb_unlock_biased_at(&slot->resv_lock, 0, me);
	} else {
		mb_resv_word_add_locked(slot, delta);
	}
}

static inline void mb_resv_word_add(struct mb_pcpu *slot, uint64_t delta)
{
	if (MB_SINGLE_THREADED())
		mb_resv_word_add_held(slot, delta);
	else
		mb_resv_word_add_mt(slot, delta);
}

static uint64_t mb_resv_floor(const struct mb_volume *vol, uint32_t flags)
{
	uint64_t resv = MB_READ_ONCE(vol->t.reserved_clusters);

	if (flags & MB_HINT_USE_RESERVED)
		return 0;
	if (flags & MB_HINT_USE_ROOT_BLOCKS)
		return resv;
	return resv + MB_READ_ONCE(vol->t.r_blocks_count);
}

/* Moves slot's whole share into the pool, leaving its claim count. */
static int64_t mb_resv_drain_slot_locked(struct mb_volume *vol, struct mb_pcpu *slot,
					 uint32_t *flight)
{
	uint64_t w;
	int64_t share;

	mb_assert_locked(&vol->resv.rs_lock);
	mb_lock(&slot->resv_lock); /* the share and the count read in one hold */
	w = atomic_load_explicit(&slot->resv_word, memory_order_relaxed);
	share = mb_resv_share_of(w);
	MB_HOOK(vol, MB_HOOK_RESV_DRAINING, (mb_grp_t)(slot - vol->pcpu), 0);
	atomic_store_explicit(&slot->resv_word, w - (uint64_t)share, memory_order_relaxed);
	mb_unlock(&slot->resv_lock);
	vol->resv.rs_pool += share;
	if (flight)
		*flight += mb_resv_flight_of(w);
	return share;
}

/* A share grown past MB_RESV_SPILL, either way, goes to the pool. */
static inline void mb_resv_spill(struct mb_volume *vol, struct mb_pcpu *slot)
{
	int64_t share = mb_resv_share_of(atomic_load_explicit(&slot->resv_word,
							      memory_order_relaxed));

	if (MB_UNLIKELY(share > MB_RESV_SPILL || share < -MB_RESV_SPILL)) {
		mb_lock(&vol->resv.rs_lock);
		mb_resv_drain_slot_locked(vol, slot, NULL);
		mb_unlock(&vol->resv.rs_lock);
	}
}

/*
 * Adds delta to slot's share, under the slot's lock (a leaf: callable
 * under bb_lock).  A delta too
 * big for the 48-bit share goes to the pool, and so does a share that grew
 * past MB_RESV_SPILL either way (frees on one slot, or marks of blocks
 * nobody claimed): rs_lock takes only slot locks inside it.
 */
static void mb_resv_share_add(struct mb_volume *vol, struct mb_pcpu *slot, int64_t delta)
{
	if (MB_UNLIKELY(delta > MB_RESV_SPILL / 16 || delta < -MB_RESV_SPILL / 16)) {
		mb_lock(&vol->resv.rs_lock);
		vol->resv.rs_pool += delta;
		mb_unlock(&vol->resv.rs_lock);
		return;
	}
	mb_resv_word_add(slot, (uint64_t)delta);
	mb_resv_spill(vol, slot);
}

/*
 * Moves every slot's share into the pool: afterwards the pool is U.
 * Returns the claims in flight it saw, each slot's as of its move.
 */
static uint32_t mb_resv_drain_locked(struct mb_volume *vol)
{
	uint32_t flight = 0;

	for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
		mb_resv_drain_slot_locked(vol, &vol->pcpu[i], &flight);
	return flight;
}

/*
 * Takes n of slot's share if it holds at least need (n <= need); a claim
 * (track) also counts itself in flight on the slot, in the same hold.  A
 * plain claim in flight may leave part of its blocks unused: until it
 * settles (mb_resv_settle_at, on the same slot), a failing claim must wait
 * for it rather than answer ENOSPC (mb_resv_claim_wait_slow).  One hold
 * of the slot's lock: a drain that moves the share after it sees the
 * claim in flight, one before it left nothing to take.
 */
static inline bool mb_resv_take_word(struct mb_pcpu *slot, uint64_t need, uint64_t n,
				     bool track)
{
	/* percpu.h's, which the power-of-two fast path and the regular
	   path's claim (alloc_ctx.h) inline */
	return track ? mb_resv_take_claim_held(slot, need, n) : mb_resv_take_exact_held(slot, need, n);
}

/* The general hold of the slot's lock (one that is not biased here). */
static __attribute__((noinline)) bool mb_resv_take_word_locked(struct mb_pcpu *slot,
							       uint64_t need, uint64_t n, bool track)
{
	mb_lock(&slot->resv_lock);
	bool ok = mb_resv_take_word(slot, need, n, track);

	mb_unlock(&slot->resv_lock);
	return ok;
}

/*
 * Out of line: inline, the lock's code cost the one-thread path 9
 * instructions a file:1 hit.  The biased hold makes no call, so it saves
 * no register (mb_lock_if_biased).  A copy for claims (track) and one for
 * exact takes, each with one read of the thread's record.
 */
static inline __attribute__((always_inline)) bool
mb_resv_take_locked(struct mb_pcpu *slot, uint64_t need, uint64_t n, bool track)
{
	struct mb_lock_thr *me = mb_lock_me();

	if (MB_LIKELY(mb_lock_if_biased_at(&slot->resv_lock, 0, me))) {
		bool ok = mb_resv_take_word(slot, need, n, track);

		mb_unlock_biased_at(&slot->resv_lock, 0, me);
		return ok;
	}
	return mb_resv_take_word_locked(slot, need, n, track);
}

static __attribute__((noinline)) bool mb_resv_take_claim_locked(struct mb_pcpu *slot,
								 uint64_t need, uint64_t n)
{
	return mb_resv_take_locked(slot, need, n, true);
}

static __attribute__((noinline)) bool mb_resv_take_exact_locked(struct mb_pcpu *slot,
								 uint64_t need, uint64_t n)
{
	return mb_resv_take_locked(slot, need, n, false);
}

static inline bool mb_resv_take(struct mb_pcpu *slot, uint64_t need, uint64_t n, bool track)
{
	if (MB_SINGLE_THREADED()) /* no other thread: see mb_ctr_add */
		return mb_resv_take_word(slot, need, n, track);
	return track ? mb_resv_take_claim_locked(slot, need, n)
		     : mb_resv_take_exact_locked(slot, need, n);
}

/*
 * A claim ends: `unused` of its blocks go back to the share and the claim
 * leaves the count, in one hold of the slot's lock.  Then waiters is read:
 * a Dekker with mb_space_wait_while, whose waiter counts itself, runs a
 * barrier on every thread (membarrier) and then reads the counts; our
 * store and load need only stay in order for the compiler.
 */
static inline __attribute__((always_inline)) void mb_resv_settle_at(struct mb_volume *vol,
								    struct mb_pcpu *slot,
								    uint64_t unused)
{
	bool one = MB_SINGLE_THREADED();

	if (one)
		mb_resv_word_add_held(slot, unused - MB_RESV_FLIGHT_ONE);
	else
		mb_resv_word_add_mt(slot, unused - MB_RESV_FLIGHT_ONE);
	MB_HOOK(vol, MB_HOOK_RESV_SETTLING, 0, 0);
#ifdef MB_LOCK_FUTEX
	atomic_signal_fence(memory_order_seq_cst); /* the load stays after the store */
#else
	atomic_thread_fence(memory_order_seq_cst); /* the waiter runs no membarrier */
#endif
	/* with one thread none is asleep in mb_space_wait_while (a waiter is
	   a thread): no waiters to read.  A thread a test hook starts after
	   the store counts itself, then reads the counts, this settle's too */
	if (!one && atomic_load_explicit(&vol->space_ev.waiters, memory_order_seq_cst))
		mb_space_returned(vol);
	if (MB_UNLIKELY(unused > (uint64_t)MB_RESV_SPILL / 16))
		mb_resv_spill(vol, slot);
}

/*
 * The PA fast path's claim (prealloc.c, mb_pa_fast_alloc): takes n blocks
 * of this CPU's slot's share (the caller looked the slot up once for this
 * and for the free counter) if the share holds at least `need` (the whole
 * request, so the regular claim would have been granted in full from the
 * share as well).  One hold of the slot's lock (biased: no locked
 * instruction); nothing is counted in flight, because the
 * caller marks exactly these n blocks used in the bb_lock hold it is in
 * (the slot's lock ranks after bb_lock): no claimed block is ever handed
 * back.
 */
bool mb_resv_take_exact(struct mb_pcpu *slot, uint64_t need, uint64_t n)
{
	assert(n <= need);
	return mb_resv_take(slot, need, n, false);
}

/* The same, for a caller that read MB_SINGLE_THREADED() once (`one`:
   see mb_mutex_lock_raw_one) */
bool mb_resv_take_exact_one(struct mb_pcpu *slot, uint64_t need, uint64_t n, bool one)
{
	assert(n <= need);
	mb_one_check(one);
	if (one) /* no other thread: see mb_ctr_add */
		return mb_resv_take_word(slot, need, n, false);
	return mb_resv_take_exact_locked(slot, need, n);
}

/* A slot that can count one more claim: *slot, else the first with room. */
static struct mb_pcpu *mb_resv_roomy_slot(struct mb_volume *vol, struct mb_pcpu *slot)
{
	for (uint32_t i = 0;; i++) {
		uint64_t w = atomic_load_explicit(&slot->resv_word, memory_order_relaxed);

		if (mb_resv_flight_of(w) < MB_RESV_FLIGHT_MAX)
			return slot;
		if (i > vol->pcpu_mask)
			return NULL;
		slot = &vol->pcpu[i];
	}
}

/*
 * The slow path: decides under rs_lock, on the exact total if need be.
 * A failure always drained every share: *flight is the claims in flight
 * it saw then (a claim whose slot is full is turned down as if one were).
 */
static int mb_resv_claim_slow(struct mb_volume *vol, struct mb_pcpu **slotp, uint64_t n,
			      uint32_t flags, bool track, uint32_t *flight)
{
	struct mb_resv *rs = &vol->resv;
	int64_t need = (int64_t)(n + mb_resv_floor(vol, flags));
	int64_t zone = (int64_t)(vol->pcpu_mask + 1) * MB_RESV_BATCH;
	int64_t top = (int64_t)mb_resv_floor(vol, 0);
	struct mb_pcpu *slot = *slotp;

	*flight = 0;
	mb_lock(&rs->rs_lock);
	if (rs->rs_pool < need + zone)
		*flight = mb_resv_drain_locked(vol);
	bool ok = rs->rs_pool >= need;

	if (ok && track && !(slot = mb_resv_roomy_slot(vol, slot))) {
		ok = false; /* 2^16 claims in flight on every slot: wait for one */
		*flight = 1;
	}
	MB_HOOK(vol, MB_HOOK_RESV_DECIDED, 0, ok);
	if (ok) {
		uint64_t add = track ? MB_RESV_FLIGHT_ONE : 0; /* under rs_lock: every
								   later decision sees it */

		rs->rs_pool -= (int64_t)n;
		/* far from empty: give this slot a share for its next claims */
		int64_t refill = mb_resv_refill(n);

		if (rs->rs_pool - refill < top + zone)
			refill = MB_RESV_BATCH;
		if (rs->rs_pool - refill >= top + zone) {
			rs->rs_pool -= refill;
			add += (uint64_t)refill;
		}
		if (add)
			mb_resv_word_add(slot, add);
		*slotp = slot;
	}
	mb_unlock(&rs->rs_lock);
	return ok ? 0 : -ENOSPC;
}

/*
 * Claims n blocks of U (ext4_claim_free_clusters) on *slot (a full slot's
 * claim may move to another: *slot tells); 0 or -ENOSPC, with *flight as
 * mb_resv_claim_slow.  track: the claim is a plain mb_alloc's, in flight
 * until mb_resv_consumed_at.
 */
static int mb_resv_claim(struct mb_volume *vol, struct mb_pcpu **slot, uint64_t n,
			 uint32_t flags, bool track, uint32_t *flight)
{
	/*
	 * A share is handed out only while the pool keeps the largest floor,
	 * so taking from it respects every flag's floor.
	 */
	if (mb_resv_take(*slot, n, n, track))
		return 0;
	return mb_resv_claim_slow(vol, slot, n, flags, track, flight);
}

/*
 * mb_space_wait_while's predicate: a claim is in flight (on any slot).
 * Called after the waiter counted itself, so first the heavy half of the
 * Dekker with mb_resv_settle_at, whose store of the count may be a plain
 * one (a biased slot lock) still in its CPU's store buffer: a barrier on
 * every thread (membarrier).  Without one (registration lost, never seen)
 * a millisecond drains any store buffer, as lock.c's revoker assumes.
 */
static bool mb_resv_any_in_flight(struct mb_volume *vol, const void *arg)
{
	(void)arg;
#ifdef MB_LOCK_FUTEX
	if (!mb_lock_remote_fence()) {
		static const struct timespec ms = { 0, 1000000 };

		nanosleep(&ms, NULL);
	}
#endif
	for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
		if (mb_resv_flight_of(atomic_load_explicit(&vol->pcpu[i].resv_word,
							   memory_order_seq_cst)))
			return true;
	return false;
}

/*
 * Claims n blocks -- or the largest n >> k that fits, but not below lo (lo
 * itself is tried last) -- and returns what it claimed, 0 when U truly
 * lacks even lo.  "Truly": blocks other plain allocations claimed and may
 * not use are waited for (they settle), never reported as missing.  Sleeps,
 * never spins; every wakeup is a claim settling.  Call with no lock held.
 */
static __attribute__((noinline)) uint64_t
mb_resv_claim_wait_slow(struct mb_volume *vol, struct mb_pcpu **slot, uint64_t n, uint64_t lo,
			uint32_t flags, bool track)
{
	for (;;) {
		uint64_t gen = mb_space_sample(vol);
		uint32_t flight = 0;

		/* n, n/2, ... while above lo, then lo itself */
		for (uint64_t m = n; m >= lo; m = m > lo && m >> 1 < lo ? lo : m >> 1) {
			if (!mb_resv_claim(vol, slot, m, flags, track, &flight))
				return m;
			if (m == lo)
				break;
		}
		/*
		 * ENOSPC only if no claim was in flight at the decision.  The
		 * drain moved each slot's share and read its count in one hold
		 * of the slot's lock:
		 * a claim that took before the move is counted there unless
		 * it settled first -- then its return was moved too -- and one
		 * that took after it took blocks the decision never had.
		 */
		if (!flight)
			return 0;
		/*
		 * Sleep while a claim is in flight: each settle wakes us
		 * (mb_resv_settle_at reads waiters after its store; we count
		 * ourselves, then fence, before reading the counts).  One that settled
		 * before we looked may leave us asleep until the next, and
		 * one is in flight, so it comes.
		 */
		mb_space_wait_while(vol, gen, mb_resv_any_in_flight, NULL);
	}
}

static uint64_t mb_resv_claim_wait(struct mb_volume *vol, struct mb_pcpu **slot, uint64_t n,
				   uint64_t lo, uint32_t flags, bool track)
{
	assert(lo >= 1 && lo <= n);
	/*
	 * The common case first: this slot's share holds all of n.  That is
	 * the loop's own first step, less the drain a granted claim never
	 * needs.
	 */
	if (mb_resv_take(*slot, n, n, track))
		return n;
	return mb_resv_claim_wait_slow(vol, slot, n, lo, flags, track);
}

/*
 * mb_alloc's gate (ext4_mb_new_blocks): a plain request claims its length,
 * halved until the claim fits, and is cut to what it claimed; -ENOSPC when
 * not even one block is there for it, even after every other claim in
 * flight settled (ext4 answers ENOSPC at once, though a concurrent claim
 * may hand blocks back).  A DELALLOC_RESERVED one claimed when its caller
 * reserved.  The claim is counted on ac->slot, where it settles.
 */
int mb_resv_claim_request_slow(struct mb_ac *ac, uint64_t *claimed)
{
	uint64_t n = ac->o_ex.fe_len;

	*claimed = 0;
	if (ac->flags & MB_HINT_DELALLOC_RESERVED)
		return 0;
	/* mb_resv_claim_wait's first step, on the slot the call looked up:
	   with one thread, mb_resv_claim_request's inline take failed; with
	   threads, it failed or the slot's lock is not biased here */
	if (MB_SINGLE_THREADED() || !mb_resv_take_locked(ac->slot, n, n, true))
		n = mb_resv_claim_wait_slow(ac->vol, &ac->slot, n, 1, ac->flags, true);
	if (!n)
		return -ENOSPC;
	MB_HOOK(ac->vol, MB_HOOK_RESV_CLAIMED, 0, 0);
	if (n < ac->o_ex.fe_len) {
		ac->o_ex.fe_len = (uint32_t)n;
		ac->g_ex.fe_len = (uint32_t)n;
		ac->orig_goal_len = (uint32_t)n;
	}
	*claimed = n;
	return 0;
}

/*
 * constrain.c's gate: a plain constrained request or vector claims hi
 * blocks, halving down to lo, as mb_resv_claim_request; 0 when not even lo
 * is there.  Settle it with mb_resv_consumed_at on *slot.
 */
uint64_t mb_resv_claim_span(struct mb_volume *vol, uint64_t lo, uint64_t hi, uint32_t flags,
			    struct mb_pcpu **slot)
{
	*slot = mb_resv_slot(vol);
	return mb_resv_claim_wait(vol, slot, hi, lo, flags, true);
}

/*
 * An allocation is over: it got `got` blocks.  A plain one returns what it
 * claimed beyond that and settles, on the slot it claimed on; a
 * DELALLOC_RESERVED one used `got` of the caller's reservation (U does not
 * move: F and R both fell by got).  always_inline (link-time), as
 * mb_resv_settle_at into it: with one thread's settle its own branch, gcc
 * stopped inlining either into mb_alloc_regular_as (+9 instructions a
 * regular call; inlined, raw:1 1008 -> 1004, drain 1697 -> 1693).
 */
__attribute__((always_inline)) inline void mb_resv_consumed_at(struct mb_volume *vol,
							       struct mb_pcpu *slot,
							       uint64_t claimed, uint64_t got,
							       uint32_t flags)
{
	if (flags & MB_HINT_DELALLOC_RESERVED) {
		mb_ctr_add(&slot->resv_removed, got, memory_order_seq_cst);
		return;
	}
	assert(got <= claimed);
	if (claimed)
		mb_resv_settle_at(vol, slot, claimed - got);
}

void mb_resv_consumed(struct mb_volume *vol, uint64_t claimed, uint64_t got, uint32_t flags)
{
	assert(!claimed); /* a claim settles on its own slot: mb_resv_consumed_at */
	mb_resv_consumed_at(vol, mb_resv_slot(vol), claimed, got, flags);
}

/*
 * Blocks reserved and not yet used or unreserved, never read low: a
 * caller that holds n reserved blocks throughout sees at least n.  The
 * released sum is read first, every slot, then the reserved sum: a release
 * counted in the first was preceded by the reservation it releases, which
 * the second, read after it, counts.  So the difference is at least the
 * total at the moment between the two (it may read high: a reservation
 * made after that moment is counted, its release not).  seq_cst with the
 * RMWs, for that order.
 */
static int64_t mb_resv_held(struct mb_volume *vol)
{
	uint64_t removed = 0, added = 0;

	for (uint32_t i = 0; i <= vol->pcpu_mask; i++) {
		removed += atomic_load_explicit(&vol->pcpu[i].resv_removed, memory_order_seq_cst);
		if (!i)
			MB_HOOK(vol, MB_HOOK_RESV_SUMMING, 0, 0);
	}
	for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
		added += atomic_load_explicit(&vol->pcpu[i].resv_added, memory_order_seq_cst);
	return (int64_t)(added - removed);
}

/*
 * A USE_RESERVED (delalloc) allocation may not give up while free blocks
 * exist on disk: F >= R, so they are its own reserved blocks, held by a PA,
 * a pending free or a trim that the retry rounds reclaim.  This lifts the
 * mb_max_retries cap only; the rounds themselves sleep or follow progress
 * (alloc.c, mb_should_retry), they never spin.
 */
bool mb_resv_must_retry(struct mb_volume *vol, uint32_t flags)
{
	/* the free sum may read low (a free on a slot read before it, the
	   reuse on one read after); the reservations' never does, and while
	   the caller's own is outstanding F >= R > 0 */
	return (flags & MB_HINT_DELALLOC_RESERVED) &&
	       (mb_free_blocks(vol) != 0 || mb_resv_held(vol) > 0);
}

/* reserved_clusters or r_blocks_count changed: shares must respect the new floor. */
void mb_resv_retune(struct mb_volume *vol)
{
	mb_lock(&vol->resv.rs_lock);
	mb_resv_drain_locked(vol);
	mb_unlock(&vol->resv.rs_lock);
}

static bool mb_resv_read_only(const struct mb_volume *vol)
{
	return mb_store_read_only(vol->store);
}

int mb_reserve(struct mb_volume *vol, uint64_t n, uint32_t flags)
{
	if (!vol || !n || n > vol->geo.blocks_count ||
	    (flags & ~(uint32_t)(MB_HINT_USE_ROOT_BLOCKS | MB_HINT_USE_RESERVED)))
		return -EINVAL;
	if (mb_resv_read_only(vol))
		return -EROFS;
	struct mb_pcpu *slot = mb_resv_slot(vol);
	int err = mb_resv_claim_wait(vol, &slot, n, n, flags, false) ? 0 : -ENOSPC;

	if (!err) {
		atomic_fetch_add_explicit(&slot->resv_added, n, memory_order_seq_cst);
		/* the blocks left U, not F */
		atomic_fetch_add_explicit(&slot->free_delta, (int64_t)n, memory_order_relaxed);
	}
	return err;
}

int mb_unreserve(struct mb_volume *vol, uint64_t n)
{
	if (!vol || !n)
		return -EINVAL;
	int64_t held = mb_resv_held(vol);

	if (held < 0 || n > (uint64_t)held)
		return -EINVAL;
	struct mb_pcpu *slot = mb_resv_slot(vol);

	atomic_fetch_add_explicit(&slot->resv_removed, n, memory_order_seq_cst);
	/* back in U, as they were in F: U first, so F never reads high */
	mb_resv_share_add(vol, slot, (int64_t)n);
	atomic_fetch_sub_explicit(&slot->free_delta, (int64_t)n, memory_order_relaxed);
	return 0;
}

int mb_statfs(struct mb_volume *vol, struct mb_statfs *st)
{
	if (!vol || !st)
		return -EINVAL;
	struct mb_resv *rs = &vol->resv;
	int64_t held = mb_resv_held(vol);

	*st = (struct mb_statfs){
		.total = vol->geo.blocks_count,
		.free = mb_free_blocks(vol),
		.reserved = held > 0 ? (uint64_t)held : 0,
		.resv_clusters = MB_READ_ONCE(vol->t.reserved_clusters),
		.r_blocks = MB_READ_ONCE(vol->t.r_blocks_count),
	};
	/*
	 * Under the lock, after a drain, the pool is what a claim would see:
	 * shares taken meanwhile are gone, returns added meanwhile are only
	 * missed (never more than a reservation could get).
	 */
	mb_lock(&rs->rs_lock);
	mb_resv_drain_locked(vol);
	int64_t avail = rs->rs_pool - (int64_t)mb_resv_floor(vol, 0);
	mb_unlock(&rs->rs_lock);
	st->avail = avail > 0 ? (uint64_t)avail : 0;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The free-block counter: per-CPU stripes, the reservations' input          */
/* ------------------------------------------------------------------------ */

/*
 * Free blocks that appear or vanish outside an allocation (a free, a group
 * seeded or flagged corrupt, mb_mark_used) are unclaimed: they change the
 * reservable count by as much, so only the share moves (F is U plus the
 * reservations).  Lock-free, under bb_lock.
 */
/* noinline: it was its callers' call while a free made one too (since
   mb_free_counter_freed, gcc inlined it into mb_group_set_corrupt_locked
   and the rest, and the ripple cost raw:1 2 instructions a call) */
__attribute__((noinline)) void mb_free_counter_add(struct mb_volume *vol, int64_t delta)
{
	mb_resv_share_add(vol, mb_this_pcpu(vol), delta);
}

/* The same on a slot the caller looked up (mb_free_counter_freed's
   threaded add, and its rare spill): a call, so that the free's one-thread
   path keeps no threaded code around it */
__attribute__((noinline)) void mb_free_counter_add_at(struct mb_volume *vol, struct mb_pcpu *slot, int64_t delta)
{
	mb_resv_share_add(vol, slot, delta);
}

/* An allocation marks blocks it claimed (nothing to do) or that were reserved. */
void mb_free_counter_consume(struct mb_volume *vol, uint64_t len, uint32_t flags)
{
	mb_free_counter_consume_slot(mb_this_pcpu(vol), len, flags);
}

/* constrain.c gives back blocks it marked: the opposite of the consume. */
void mb_free_counter_unconsume(struct mb_volume *vol, uint64_t len, uint32_t flags)
{
	if (flags & MB_HINT_DELALLOC_RESERVED) /* relaxed, as the consume */
		mb_ctr_add_signed(&mb_this_pcpu(vol)->free_delta, (int64_t)len,
				  memory_order_relaxed);
}

/*
 * F: the pool, every share and every free_delta, under rs_lock (a drain
 * moves shares into the pool; a spill too).  A plain claim in flight reads
 * as used.  rs_lock is a leaf: callable under any other lock.
 */
int64_t mb_free_counter_sum(const struct mb_volume *cvol)
{
	struct mb_volume *vol = (struct mb_volume *)cvol; /* for rs_lock only */
	int64_t sum;

	mb_lock(&vol->resv.rs_lock);
	sum = vol->resv.rs_pool;
	for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
		sum += mb_resv_share_of(atomic_load_explicit(&vol->pcpu[i].resv_word,
							     memory_order_relaxed)) +
		       atomic_load_explicit(&vol->pcpu[i].free_delta, memory_order_relaxed);
	mb_unlock(&vol->resv.rs_lock);
	return sum;
}

uint64_t mb_free_blocks(const struct mb_volume *vol)
{
	int64_t n = mb_free_counter_sum(vol);

	return n > 0 ? (uint64_t)n : 0;
}
