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
 * moved and not the other: an allocation's mark on disk lowers F but not U
 * (mb_free_counter_consume) -- the claim already counted those blocks --
 * and every other change of F moves U by the same amount
 * (mb_free_counter_add moves both, mb_resv_adjust U alone).  Since plain allocations claim
 * first, F >= R always: a USE_RESERVED allocation always has its blocks
 * somewhere on disk, free, in a PA, pending a commit or being trimmed.
 *
 * Exactness without a global lock on the fast path
 * ------------------------------------------------
 * Like a percpu_counter, U is striped: rs_pool plus one resv_cache per
 * slot.  Unlike a percpu_counter the stripes are not deltas of an estimate
 * but disjoint shares: a block of U is in exactly one place.  A claim takes
 * from its own slot's share with a CAS (never below n), so a fast-path
 * success is always backed by real blocks.  A claim the own share cannot
 * serve takes rs_lock; if the pool alone cannot serve it either, it drains
 * every share into the pool (atomic exchange) and decides on the exact
 * total.  Shares are refilled from the pool by `batch` only while the pool
 * stays above the largest floor by nslots * batch, so near empty every
 * share is drained and every claim decides under the lock (the precise
 * path).  Returns of space (frees, unreserve, a claim's unused part) add
 * to the own share lock-free; one that races with a precise decision may
 * be missed by it, which only orders that return after the failing claim.
 *
 * Lock order: rs_lock is a leaf (MB_RANK_LEAF); it is taken with at most
 * f_data_sem / lg_mutex held, never under bb_lock (mb_resv_adjust, called
 * under bb_lock, is lock-free).
 */
#include "alloc_ctx.h"
#include "store.h"
#include "percpu.h"

/* Blocks a slot's share is refilled with; the precise zone is slots * this. */
#define MB_RESV_BATCH 64

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
	mb_mutex_init(&vol->resv.rs_lock, MB_RANK_LEAF);
	vol->resv.rs_pool = 0;
}

void mb_resv_destroy(struct mb_volume *vol)
{
	mb_mutex_destroy(&vol->resv.rs_lock);
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

/* Lock-free: a free, a seeded or corrupt group, mb_mark_used. */
void mb_resv_adjust(struct mb_volume *vol, int64_t delta)
{
	/* relaxed: only the share's total matters; rs_lock orders the drain */
	mb_ctr_add_signed(&mb_resv_slot(vol)->resv_cache, delta, memory_order_relaxed);
}

/* Moves every slot's share into the pool: afterwards the pool is U. */
static void mb_resv_drain_locked(struct mb_volume *vol)
{
	mb_assert_locked(&vol->resv.rs_lock);
	for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
		vol->resv.rs_pool +=
			atomic_exchange_explicit(&vol->pcpu[i].resv_cache, 0, memory_order_relaxed);
}

/*
 * A plain claim in flight may leave part of its blocks unused: until it
 * settles, a failing claim must wait for it rather than answer ENOSPC
 * (mb_resv_claim_wait).  Two counts, each only growing: resv_started goes
 * up before the blocks leave U (seq_cst), so a precise decision that
 * drained them also sees the claim started; resv_settled goes up after the
 * unused part is back in U.  Claims in flight = started - settled, summed.
 * One RMW for each end of a claim, whatever slot either end runs on.
 */
static void mb_resv_start(struct mb_pcpu *slot)
{
	mb_ctr_add(&slot->resv_started, 1, memory_order_seq_cst);
}

static void mb_resv_settle(struct mb_volume *vol, struct mb_pcpu *slot)
{
	mb_ctr_add(&slot->resv_settled, 1, memory_order_seq_cst);
	MB_HOOK(vol, MB_HOOK_RESV_SETTLING, 0, 0);
	/* Dekker with mb_space_wait_while: settled published, then waiters read */
	if (atomic_load_explicit(&vol->space_ev.waiters, memory_order_seq_cst))
		mb_space_returned(vol);
}

/* Takes n of `slot`'s share (the caller looked its slot up). */
static inline bool mb_resv_take_share_at(struct mb_volume *vol, struct mb_pcpu *slot, uint64_t n,
					 bool track)
{
	if (atomic_load_explicit(&slot->resv_cache, memory_order_relaxed) < (int64_t)n)
		return false; /* near empty the shares are dry: nothing published */
	if (track)
		mb_resv_start(slot);
	/* seq_cst: ordered after the in-flight publication for a drain */
	if (mb_ctr_take(&slot->resv_cache, (int64_t)n, (int64_t)n))
		return true;
	if (track)
		mb_resv_settle(vol, slot); /* lost the race: withdraw, wake who saw it */
	return false;
}

static bool mb_resv_take_share(struct mb_volume *vol, uint64_t n, bool track)
{
	return mb_resv_take_share_at(vol, mb_resv_slot(vol), n, track);
}

/*
 * The PA fast path's claim (prealloc.c, mb_pa_fast_alloc): takes n blocks
 * of this CPU's slot's share (the caller looked the slot up once for this
 * and for the free counter) if the share holds at least `need` (the whole
 * request, so the regular claim would have been granted in full from the
 * share as well).  One CAS; nothing is published in flight, because the
 * caller marks exactly these n blocks used in the bb_lock hold it is in
 * (lock-free, so no rank question): no claimed block is ever handed back.
 */
bool mb_resv_take_exact(struct mb_pcpu *slot, uint64_t need, uint64_t n)
{
	assert(n <= need);
	/* seq_cst, as mb_resv_take_share: ordered for a drain's exchange */
	return mb_ctr_take(&slot->resv_cache, (int64_t)need, (int64_t)n);
}

/* The slow path: decides under rs_lock, on the exact total if need be. */
static int mb_resv_claim_slow(struct mb_volume *vol, uint64_t n, uint32_t flags, bool track)
{
	struct mb_resv *rs = &vol->resv;
	int64_t need = (int64_t)(n + mb_resv_floor(vol, flags));
	int64_t zone = (int64_t)(vol->pcpu_mask + 1) * MB_RESV_BATCH;
	int64_t top = (int64_t)mb_resv_floor(vol, 0);

	mb_lock(&rs->rs_lock);
	if (rs->rs_pool < need + zone)
		mb_resv_drain_locked(vol);
	bool ok = rs->rs_pool >= need;

	MB_HOOK(vol, MB_HOOK_RESV_DECIDED, 0, ok);
	if (ok) {
		rs->rs_pool -= (int64_t)n;
		if (track) /* under rs_lock: every later decision sees it */
			mb_resv_start(mb_resv_slot(vol));
		/* far from empty: give this slot a share for its next claims */
		if (rs->rs_pool - MB_RESV_BATCH >= top + zone) {
			rs->rs_pool -= MB_RESV_BATCH;
			atomic_fetch_add_explicit(&mb_resv_slot(vol)->resv_cache, MB_RESV_BATCH,
						  memory_order_relaxed);
		}
	}
	mb_unlock(&rs->rs_lock);
	return ok ? 0 : -ENOSPC;
}

/*
 * Claims n blocks of U (ext4_claim_free_clusters); 0 or -ENOSPC.  track:
 * the claim is a plain mb_alloc's, in flight until mb_resv_consumed.
 */
static int mb_resv_claim(struct mb_volume *vol, uint64_t n, uint32_t flags, bool track)
{
	/*
	 * A share is handed out only while the pool keeps the largest floor,
	 * so taking from it respects every flag's floor.
	 */
	if (mb_resv_take_share(vol, n, track))
		return 0;
	return mb_resv_claim_slow(vol, n, flags, track);
}

/* Sum of one of the two counts over every slot (offset: which). */
static uint64_t mb_resv_count_all(struct mb_volume *vol, size_t which)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
		sum += atomic_load_explicit((_Atomic uint64_t *)((char *)&vol->pcpu[i] + which),
					    memory_order_seq_cst);
	return sum;
}

static uint64_t mb_resv_started_sum(struct mb_volume *vol)
{
	return mb_resv_count_all(vol, offsetof(struct mb_pcpu, resv_started));
}

static uint64_t mb_resv_settled_sum(struct mb_volume *vol)
{
	return mb_resv_count_all(vol, offsetof(struct mb_pcpu, resv_settled));
}

/* mb_space_wait_while's predicate: no claim settled since *arg was sampled. */
static bool mb_resv_unsettled(struct mb_volume *vol, const void *arg)
{
	uint64_t settled = *(const uint64_t *)arg;

	return mb_resv_started_sum(vol) != settled && mb_resv_settled_sum(vol) == settled;
}

/*
 * Claims n blocks -- or the largest n >> k that fits, but not below lo (lo
 * itself is tried last) -- and returns what it claimed, 0 when U truly
 * lacks even lo.  "Truly":
 * blocks other plain allocations claimed and may not use are waited for
 * (they settle), never reported as missing.  Sleeps, never spins; every
 * wakeup is another claim settling.  Call with no lock held.
 */
static __attribute__((noinline)) uint64_t mb_resv_claim_wait_slow(struct mb_volume *vol,
								     uint64_t n, uint64_t lo,
								     uint32_t flags, bool track)
{
	for (;;) {
		/* sampled before the attempt: a settle after it wakes us */
		uint64_t settled = mb_resv_settled_sum(vol);
		uint64_t gen = mb_space_sample(vol);

		/* n, n/2, ... while above lo, then lo itself */
		for (uint64_t m = n; m >= lo; m = m > lo && m >> 1 < lo ? lo : m >> 1) {
			if (!mb_resv_claim(vol, m, flags, track))
				return m;
			if (m == lo)
				break;
		}
		/*
		 * ENOSPC only if no claim was in flight at the decision
		 * and none settled since: one that settled after it may
		 * have handed back what the decision missed.  The counts
		 * only grow, so a settled sum equal to the sample means no
		 * settle between the two reads of any slot; then every
		 * claim counted settled started before, and the started
		 * sum, read after the decision, counts every claim in
		 * flight at it: equal sums mean none was.
		 */
		if (mb_resv_started_sum(vol) == settled && mb_resv_settled_sum(vol) == settled)
			return 0;
		mb_space_wait_while(vol, gen, mb_resv_unsettled, &settled);
	}
}

static uint64_t mb_resv_claim_wait(struct mb_volume *vol, uint64_t n, uint64_t lo,
				   uint32_t flags, bool track)
{
	assert(lo >= 1 && lo <= n);
	/*
	 * The common case first: this slot's share holds all of n.  That is
	 * the loop's own first step, less the two sums over every slot it
	 * samples for a wait that a granted claim never needs.
	 */
	if (mb_resv_take_share(vol, n, track))
		return n;
	return mb_resv_claim_wait_slow(vol, n, lo, flags, track);
}

/*
 * mb_alloc's gate (ext4_mb_new_blocks): a plain request claims its length,
 * halved until the claim fits, and is cut to what it claimed; -ENOSPC when
 * not even one block is there for it, even after every other claim in
 * flight settled (ext4 answers ENOSPC at once, though a concurrent claim
 * may hand blocks back).  A DELALLOC_RESERVED one claimed when its caller
 * reserved.
 */
int mb_resv_claim_request(struct mb_ac *ac, uint64_t *claimed)
{
	uint64_t n = ac->o_ex.fe_len;

	*claimed = 0;
	if (ac->flags & MB_HINT_DELALLOC_RESERVED)
		return 0;
	/* mb_resv_claim_wait's first step, on the slot the call looked up */
	if (!mb_resv_take_share_at(ac->vol, ac->slot, n, true))
		n = mb_resv_claim_wait_slow(ac->vol, n, 1, ac->flags, true);
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
 * is there.  Settle it with mb_resv_consumed.
 */
uint64_t mb_resv_claim_span(struct mb_volume *vol, uint64_t lo, uint64_t hi, uint32_t flags)
{
	return mb_resv_claim_wait(vol, hi, lo, flags, true);
}

/*
 * An allocation is over: it got `got` blocks.  A plain one returns what it
 * claimed beyond that; a DELALLOC_RESERVED one used `got` of the caller's
 * reservation (U does not move: F and R both fell by got).
 */
void mb_resv_consumed_at(struct mb_volume *vol, struct mb_pcpu *slot, uint64_t claimed,
			 uint64_t got, uint32_t flags)
{
	if (flags & MB_HINT_DELALLOC_RESERVED) {
		mb_ctr_add(&slot->resv_removed, got, memory_order_seq_cst);
		return;
	}
	assert(got <= claimed);
	if (claimed > got)
		mb_ctr_add_signed(&slot->resv_cache, (int64_t)(claimed - got),
				  memory_order_relaxed);
	if (claimed)
		mb_resv_settle(vol, slot);
}

void mb_resv_consumed(struct mb_volume *vol, uint64_t claimed, uint64_t got, uint32_t flags)
{
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
	int err = mb_resv_claim_wait(vol, n, n, flags, false) ? 0 : -ENOSPC;

	if (!err)
		atomic_fetch_add_explicit(&mb_resv_slot(vol)->resv_added, n, memory_order_seq_cst);
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
	atomic_fetch_add_explicit(&slot->resv_cache, (int64_t)n, memory_order_relaxed);
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
 * reservable count too (reserve.c).
 */
void mb_free_counter_add(struct mb_volume *vol, int64_t delta)
{
	struct mb_pcpu *slot = mb_this_pcpu(vol); /* mb_resv_slot's, looked up once */

	mb_ctr_add_signed(&slot->free_delta, delta, memory_order_relaxed);
	mb_ctr_add_signed(&slot->resv_cache, delta, memory_order_relaxed);
}

/* An allocation marks blocks it claimed (or that were reserved) on disk. */
void mb_free_counter_consume(struct mb_volume *vol, uint64_t len)
{
	mb_ctr_add_signed(&mb_this_pcpu(vol)->free_delta, -(int64_t)len, memory_order_relaxed);
}

int64_t mb_free_counter_sum(const struct mb_volume *vol)
{
	int64_t sum = 0;

	for (uint32_t i = 0; i <= vol->pcpu_mask; i++)
		sum += atomic_load_explicit(&vol->pcpu[i].free_delta, memory_order_relaxed);
	return sum;
}

uint64_t mb_free_blocks(const struct mb_volume *vol)
{
	int64_t n = mb_free_counter_sum(vol);

	return n > 0 ? (uint64_t)n : 0;
}
