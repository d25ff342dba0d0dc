/* SPDX-License-Identifier: MIT */
/*
 * constrain.c - the constrained search: free runs that hold an extent of
 * at least min blocks, aligned (start and length) to `align` and at most
 * `max` long, found in the buddy; the exact ENOSPC decision for them; and
 * mb_largest_extent().  allocvec.c builds the public calls on it.
 *
 * Group choice: the goal group first, then the groups of the optimized-
 * scan sets by largest free order, highest first, from the goal onwards.
 * A group whose largest free chunk has order o < max_order holds no free
 * run longer than 4 * 2^o - 2 (a run of 4 * 2^o - 1 blocks contains an
 * aligned chunk of order o + 1), so orders that cannot hold min blocks --
 * or more than the best piece found so far -- are never visited, and the
 * cost follows the groups that might serve, not the volume's size.  Inside
 * a group the free runs are walked on the bitmap under bb_lock.
 *
 * Exact ENOSPC.  A pass judges every candidate group under its lock, but
 * one group after another: a run freed behind the pass is missed.  So a
 * round samples the discard_pa_seq sum (every buddy free and every move of
 * a group between scan sets bumps it, under the group lock) before its
 * passes; when they fail and the sum moved by more than this thread's own
 * bumps, something changed and the round is repeated.  When it did not
 * move, no buddy gained space and no group changed sets during the passes
 * (a use that moves none only takes space where the passes look), so
 * their view bounds the volume's and ENOSPC is true at that moment --
 * after the reclaiming mb_alloc's ENOSPC rounds do: pending frees
 * committed, every preallocation discarded, and a
 * sleep on the space event while a trim or a legacy discard holds space.
 * The set lookups are relaxed loads of seq_cst RMWs done after the bump in
 * the same lock hold; the acquire fence before the final sum orders them.
 * Space held rather than gone is waited for, not reported: a run under a
 * trim callback, PAs a discard is tearing down, and pieces an all-or-
 * nothing vector took and may give back (mb_cons_take_locked counts it
 * before its first such piece leaves the buddy, so a pass that found the
 * piece used, or its group in no set, sees the count after the fence).
 *
 * Locking: one bb_lock at a time, taken with no other lock held (the
 * caller holds no f_data_sem: constrained requests use no preallocation).
 */
#include "constrain.h"
#include "percpu.h"

static inline uint64_t mb_round_up(uint64_t x, uint32_t a)
{
	return (x + a - 1) & ~(uint64_t)(a - 1);
}

static inline uint64_t mb_round_down(uint64_t x, uint32_t a)
{
	return x & ~(uint64_t)(a - 1);
}

/* Validates c (NULL: none) and resolves its zeros; -EINVAL, see mballoc.h. */
int mb_cons_setup(struct mb_cons *k, struct mb_volume *vol, const struct mb_constraint *c)
{
	static const struct mb_constraint none;
	uint32_t bpg = vol->bpg;

	c = c ? c : &none;
	if (c->flags || !mb_zeroed(c->spare, sizeof(c->spare)) || (c->align & (c->align - 1)) ||
	    c->align > bpg || c->min_len > bpg)
		return -EINVAL;
	uint32_t a = c->align ? c->align : 1;

	if (c->min_len % a || c->max_len % a || (c->max_len && c->max_len < c->min_len))
		return -EINVAL;
	*k = (struct mb_cons){ .vol = vol, .align = a, .min = c->min_len ? c->min_len : a };
	k->max = (uint32_t)mb_round_down(bpg, a);
	if (c->max_len && c->max_len < k->max)
		k->max = c->max_len;
	return 0;
}

/* Where the search starts: the goal, or the file's home group. */
void mb_cons_set_goal(struct mb_cons *k, const struct mb_request *req)
{
	struct mb_volume *vol = k->vol;

	k->flags = req->flags;
	k->has_goal = req->goal != MB_GOAL_NONE;
	if (k->has_goal) {
		k->goal_group = mb_block_group(vol, req->goal);
		k->goal_off = mb_block_offset(vol, req->goal);
	} else {
		k->goal_group = mb_home_group(vol, req->file);
	}
}

/* The longest piece an extent of len may be: cut to max, aligned down. */
uint32_t mb_cons_want(const struct mb_cons *k, uint64_t len)
{
	return (uint32_t)mb_round_down(len < k->max ? len : k->max, k->align);
}

/*
 * The piece of the free run [s, e) of group g the call can use, from the
 * run's first aligned block: its length, at most want (0 if shorter than
 * min), and its start in *at.  Alignment is on volume block numbers.
 */
static uint32_t mb_cons_piece(const struct mb_cons *k, mb_grp_t g, uint32_t s, uint32_t e,
			      uint32_t want, mb_grpblk_t *at)
{
	uint64_t base = mb_group_first_block(k->vol, g);
	uint64_t as = mb_round_up(base + s, k->align), ae = mb_round_down(base + e, k->align);

	if (ae <= as || ae - as < k->min)
		return 0;
	*at = (mb_grpblk_t)(as - base);
	return (uint32_t)(ae - as < want ? ae - as : want);
}

/* The piece starting at the goal (aligned up), if the goal block is free. */
static uint32_t mb_cons_goal_piece_locked(struct mb_cons *k, struct mb_group *grp,
					  uint32_t want, struct mb_fex *ex)
{
	uint32_t off = k->goal_off;

	if (mb_test_bit(grp->bb_bitmap, off))
		return 0;
	ex->fe_len = mb_cons_piece(k, ex->fe_group, off,
				   mb_find_next_bit(grp->bb_bitmap, k->vol->bpg, off), want,
				   &ex->fe_start);
	return ex->fe_len;
}

/* The first piece of want in grp, else its longest; bb_lock held, loaded. */
static void mb_cons_scan_locked(struct mb_cons *k, struct mb_group *grp, uint32_t want,
				struct mb_fex *ex)
{
	uint32_t bpg = k->vol->bpg, i = grp->bb_first_free;

	mb_assert_locked(&grp->bb_lock);
	while ((i = mb_find_next_zero_bit(grp->bb_bitmap, bpg, i)) < bpg) {
		uint32_t e = mb_find_next_bit(grp->bb_bitmap, bpg, i);
		mb_grpblk_t at;
		uint32_t len = e - i >= k->min ? mb_cons_piece(k, ex->fe_group, i, e, want, &at) : 0;

		if (len > ex->fe_len) {
			ex->fe_start = at;
			ex->fe_len = len;
			if (len == want)
				return;
		}
		i = e;
	}
}

/*
 * Marks ex used in the buddy and on disk, as mb_use_best_found_locked does
 * for a request without preallocation.  The caller claimed (or reserved)
 * the blocks.  mb_buddy_mark_used bumps discard_pa_seq if the group moves
 * sets (counted as this thread's own: mb_seq_own).
 */
static void mb_cons_take_locked(struct mb_cons *k, struct mb_group *grp, const struct mb_fex *ex)
{
	/* a piece that does not finish an all-or-nothing vector may go back:
	   counted before it leaves the buddy, see mb_cons_should_retry */
	if (ex->fe_len < k->rest && !k->holding) {
		k->holding = true;
		atomic_fetch_add_explicit(&k->vol->vec_holding, 1, memory_order_relaxed);
	}
	mb_buddy_mark_used(k->vol, grp, ex->fe_start, ex->fe_len);
	mb_group_mark_disk_used_locked(k->vol, grp, ex->fe_start, ex->fe_len, k->flags);
}

/*
 * Looks at group g: with take, a piece of want is taken at once (returns
 * true); otherwise a piece longer than *best replaces it.
 */
static bool mb_cons_try_group(struct mb_cons *k, mb_grp_t g, uint32_t want, bool take,
			      struct mb_fex *best)
{
	struct mb_volume *vol = k->vol;
	struct mb_group *grp = mb_group_at(vol, g);
	struct mb_fex ex = { .fe_group = g };
	bool taken = false;
	int err = mb_group_lock_usable(vol, grp);

	if (err) {
		if (err != -EUCLEAN)
			k->load_err = err;
		goto out;
	}
	mb_stat_inc(vol, MB_ST_GROUPS_SCANNED);
	if (k->has_goal && g == k->goal_group)
		mb_cons_goal_piece_locked(k, grp, want, &ex);
	if (ex.fe_len < want && !(k->flags & MB_HINT_GOAL_ONLY))
		mb_cons_scan_locked(k, grp, want, &ex);
	if (take && ex.fe_len == want) {
		mb_cons_take_locked(k, grp, &ex);
		*best = ex;
		taken = true;
	} else if (ex.fe_len > best->fe_len) {
		*best = ex;
	}
out:
	mb_unlock(&grp->bb_lock);
	return taken;
}

/* Visits the members of set from the goal group onwards, wrapping. */
static bool mb_cons_visit_set(struct mb_cons *k, const struct mb_gset *set, uint32_t want,
			      bool take, struct mb_fex *best)
{
	mb_grp_t goal = k->goal_group, ngroups = k->vol->ngroups;

	for (int pass = 0; pass < 2; pass++) {
		mb_grp_t end = pass ? goal : ngroups;

		for (uint32_t g = mb_gset_next(set, pass ? 0 : goal + 1); g < end;
		     g = mb_gset_next(set, g + 1)) {
			if (mb_cons_try_group(k, g, want, take, best) || best->fe_len == want)
				return true;
		}
	}
	return false;
}

/* The longest free run a group with largest free order o may hold. */
static uint64_t mb_cons_order_bound(const struct mb_volume *vol, int o)
{
	return o >= vol->max_order ? vol->bpg : (4ULL << o) - 2;
}

/* Re-takes a remembered piece under its lock; false if it is gone. */
static bool mb_cons_take_best(struct mb_cons *k, const struct mb_fex *best)
{
	struct mb_group *grp = mb_group_at(k->vol, best->fe_group);
	bool ok;

	/* its buddy may have been dropped since the pass (gcache.c) */
	ok = !mb_group_lock_usable(k->vol, grp) &&
	     mb_range_all_clear(grp->bb_bitmap, best->fe_start, best->fe_len);
	if (ok)
		mb_cons_take_locked(k, grp, best);
	mb_unlock(&grp->bb_lock);
	return ok;
}

/*
 * One search: the first piece of want found (goal group, then the sets by
 * largest order), else the longest piece >= min on the volume.  With take
 * it is marked used.  Returns its length in *got (0: none).
 */
uint32_t mb_cons_pass(struct mb_cons *k, uint32_t want, bool take, struct mb_fex *got)
{
	struct mb_volume *vol = k->vol;
	/* no group holds more: stop at the first piece that long */
	uint32_t cap = (uint32_t)mb_round_down(vol->bpg - vol->geo.reserved_per_group, k->align);

	assert(want >= k->min && want <= k->max);
	*got = (struct mb_fex){ 0 };
	if (cap < k->min)
		return 0;
	want = want < cap ? want : cap;
	for (;;) {
		struct mb_fex best = { 0 };
		bool done = mb_cons_try_group(k, k->goal_group, want, take, &best) ||
			    best.fe_len == want;

		for (int o = vol->max_order; o >= 0 && !done && !(k->flags & MB_HINT_GOAL_ONLY);
		     o--) {
			uint64_t bound = mb_cons_order_bound(vol, o);

			if (bound < k->min || bound <= best.fe_len)
				break; /* no group from here down holds a longer piece */
			done = mb_cons_visit_set(k, &vol->largest_set[o], want, take, &best);
		}
		*got = best;
		if (!best.fe_len || !take || (done && best.fe_len == want))
			return best.fe_len;
		if (mb_cons_take_best(k, &best))
			return best.fe_len;
		/* taken meanwhile: whoever took it moved the buddy, search again */
	}
}

/* A round of passes starts: the ENOSPC decision compares against this. */
void mb_cons_round_begin(struct mb_cons *k)
{
	k->seq = mb_seq_sum(k->vol);
	k->own_seq = mb_seq_own();
}

/* Every group's preallocations, as mb_alloc's last ENOSPC rounds. */
static int64_t mb_cons_discard_all(struct mb_volume *vol, bool *busy)
{
	int64_t freed = 0;

	mb_stat_inc(vol, MB_ST_DISCARD_PASSES);
	/* a group never set up holds no PA */
	for (mb_grp_t g = mb_group_next_setup(vol, 0); g != UINT32_MAX;
	     g = mb_group_next_setup(vol, g + 1))
		freed += mb_discard_group_preallocations(vol, g, UINT32_MAX, busy);
	return freed;
}

/*
 * The pass finds groups in largest_set[o], lock-free.  A group moving
 * between two of those sets (group_sets.c, under its bb_lock: out of one,
 * then into the other) is in neither for a moment, and its discard_pa_seq
 * bump may be older than the round: the seq test cannot see that the pass
 * missed it.  largest_ge[o] never drops a group whose largest order stays
 * >= o, so this sweep (from the goal, each group under its lock) finds
 * every group that held a piece of min for the whole round.  True if a
 * piece of min is there now.
 */
static bool mb_cons_sweep(struct mb_cons *k)
{
	struct mb_volume *vol = k->vol;
	struct mb_fex best = { 0 };
	int o = 0;

	while (o < vol->max_order && mb_cons_order_bound(vol, o) < k->min)
		o++;
	if (mb_cons_try_group(k, k->goal_group, k->min, false, &best) || best.fe_len)
		return true;
	return mb_cons_visit_set(k, &vol->largest_ge[o], k->min, false, &best) || best.fe_len;
}

/* Does an all-or-nothing vector hold pieces?  (mb_space_wait_while's predicate.) */
static bool mb_cons_vec_held(struct mb_volume *vol, const void *arg)
{
	(void)arg;
	/* seq_cst: Dekker with mb_cons_hold_end, via space_ev.waiters */
	return atomic_load_explicit(&vol->vec_holding, memory_order_seq_cst) != 0;
}

/*
 * The round's passes failed: reclaims held space and says whether to search
 * again.  false means ENOSPC is true: nothing was reclaimed, nothing is
 * held, no group holds a piece of min (when the round took nothing), and
 * no buddy but ours changed since mb_cons_round_begin.
 */
bool mb_cons_should_retry(struct mb_cons *k, bool took_nothing)
{
	struct mb_volume *vol = k->vol;
	bool busy = false;

	if (!k->pressured && MB_READ_ONCE(vol->t.mb_enospc_no_prealloc)) {
		k->pressured = true; /* nobody preallocates what we discard */
		atomic_fetch_add_explicit(&vol->enospc_pressure, 1, memory_order_relaxed);
	}
	MB_HOOK(vol, MB_HOOK_CONS_FAILED, k->goal_group, 0);
	mb_stat_inc(vol, MB_ST_RETRIES);
	if (atomic_load_explicit(&vol->free_pending, memory_order_relaxed) &&
	    mb_force_commit(vol) > 0)
		return true;
	/* sampled before looking for held space: no return of it is missed */
	uint64_t ev = mb_space_sample(vol);

	if (mb_cons_discard_all(vol, &busy) > 0)
		return true;
	if (took_nothing && mb_cons_sweep(k))
		return true;
	atomic_thread_fence(memory_order_acquire); /* the set lookups before what follows */
	/* pairs with the release in mb_trim_group */
	bool other = busy || atomic_load_explicit(&vol->trim_inflight, memory_order_acquire);
	bool held = other || mb_cons_vec_held(vol, NULL);

	if (mb_seq_sum(vol) - k->seq != mb_seq_own() - k->own_seq)
		return true;
	if (held) /* holding no lock */
		mb_space_wait_while(vol, ev, other ? NULL : mb_cons_vec_held, NULL);
	return held;
}

void mb_cons_end(struct mb_cons *k)
{
	if (k->pressured)
		atomic_fetch_sub_explicit(&k->vol->enospc_pressure, 1, memory_order_relaxed);
	k->pressured = false;
}

/*
 * Gives back an extent this call took and will not hand out (an
 * all-or-nothing vector that fell short).  It goes straight to the buddy,
 * not through a pending free: nobody ever owned it, so reusing it before a
 * commit cannot hurt a crash (at worst the last commit shows it used: a
 * leak until the next one).  The free counter rises, the unclaimed space
 * does not: the caller's claim or reservation still covers these blocks.
 * mb_buddy_free bumps discard_pa_seq (counted as this thread's own).
 */
void mb_cons_undo(struct mb_volume *vol, const struct mb_fex *ex, uint32_t flags)
{
	struct mb_group *grp = mb_group_at(vol, ex->fe_group);

	mb_lock(&grp->bb_lock);
	/* a dropped buddy is rebuilt first (gcache.c); without the memory for
	   it the blocks stay used: a leak, never a double allocation */
	if (mb_group_load_locked(vol, grp)) {
		mb_unlock(&grp->bb_lock);
		return;
	}
	mb_group_clear_disk_locked(grp, ex->fe_start, ex->fe_len);
	mb_free_counter_unconsume(vol, ex->fe_len, flags);
	if (mb_buddy_free(vol, grp, ex->fe_start, ex->fe_len))
		mb_group_set_corrupt_locked(vol, grp);
	mb_unlock(&grp->bb_lock);
}

/*
 * An all-or-nothing vector's round is over: what it holds is its own or
 * given back (mb_cons_undo, before this).  Wakes a decision waiting for it.
 */
void mb_cons_hold_end(struct mb_cons *k)
{
	struct mb_volume *vol = k->vol;

	if (!k->holding)
		return;
	k->holding = false;
	atomic_fetch_sub_explicit(&vol->vec_holding, 1, memory_order_seq_cst);
	/* Dekker with mb_space_wait_while: the count published, then waiters read */
	if (atomic_load_explicit(&vol->space_ev.waiters, memory_order_seq_cst))
		mb_space_returned(vol);
}

int64_t mb_largest_extent(struct mb_volume *vol, const struct mb_constraint *c, uint64_t *start)
{
	struct mb_cons k;
	struct mb_fex ex;

	if (!vol)
		return -EINVAL;
	int err = mb_cons_setup(&k, vol, c);

	if (err)
		return err;
	uint32_t len = mb_cons_pass(&k, k.max, false, &ex);

	if (!len)
		return k.load_err;
	if (start)
		*start = mb_fex_block(vol, &ex);
	return len;
}
