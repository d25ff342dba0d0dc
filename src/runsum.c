/* SPDX-License-Identifier: MIT */
/*
 * runsum.c - a group's free-run summary, so the complex scan can account
 * for a whole group without walking its bitmap when the walk could not
 * change anything but counters it can compute.
 *
 * The complex scan (alloc.c) walks a group's free runs from bb_first_free
 * and "measures" some of them: while the best extent so far is shorter than
 * the goal, CR_GOAL_LEN_SLOW and CR_ANY_FREE measure every run (with the
 * departure mb_slow_skip_short, CR_GOAL_LEN_SLOW only runs longer than the
 * best so far), the cheaper criteria only
 * runs that reach the goal.  A run is measured in CR_GOAL_LEN_SLOW exactly
 * when it is a record (longer than every run before it in the group) and
 * longer than the best the scan entered with.  So when no run reaches the
 * goal, the outcome of walking the whole group -- how many runs were
 * measured, and which one is the best afterwards (the first of the longest)
 * -- follows from the group's record runs and its run count.  The summary
 * keeps those, is rebuilt lazily from the bitmap, and is dropped by every
 * change of the bitmap (buddy.c).  Where the walk would stop inside the
 * group (mb_max_to_scan reached) or measure a run of goal length or more,
 * the caller walks as before: decisions are unchanged.
 *
 * Locking: everything here needs the group's bb_lock.
 */
#include "mb_int.h"

/*
 * Rebuilds grp's summary from its bitmap, exactly as the scan sees runs.
 * It stops at the first run of `stop` blocks or more (the walk that follows
 * stops near there too, so the summary would be wasted): the group is then
 * known to hold a run that long, which is all a request that long needs.
 */
static void mb_runsum_build_locked(const struct mb_volume *vol, struct mb_group *grp, uint32_t stop)
{
	struct mb_runsum *rs = &grp->bb_runsum;
	const uint64_t *map = grp->bb_bitmap;
	uint32_t i = grp->bb_first_free, total = 0, max = 0;

	rs->long_len = 0;
	rs->nruns = 0;
	rs->nrec = 0;
	rs->dropped_len = 0;
	while ((i = mb_find_next_zero_bit(map, vol->bpg, i)) < vol->bpg) {
		uint32_t j = mb_find_next_bit(map, vol->bpg, i);
		uint32_t len = j - i;

		if (len >= stop) {
			rs->state = MB_RUNSUM_LONG;
			rs->long_len = len;
			rs->long_order = grp->bb_largest_free_order;
			return;
		}
		rs->nruns++;
		total += len;
		if (len > max) {
			/* keep the last MB_RUNSUM_RECS records: the longest ones */
			if (rs->nrec == MB_RUNSUM_RECS) {
				rs->dropped_len = rs->rec[0].len;
				for (int k = 1; k < MB_RUNSUM_RECS; k++)
					rs->rec[k - 1] = rs->rec[k];
				rs->nrec--;
			}
			rs->rec[rs->nrec++] = (struct mb_run){i, len};
			max = len;
		}
		i = j;
	}
	/* counters that disagree with the bitmap: let the scan find it */
	rs->state = total == grp->bb_free ? MB_RUNSUM_USABLE : MB_RUNSUM_UNUSABLE;
}

/*
 * Building costs one walk of the group: worth it only where the walk would
 * cover the whole group anyway.  The cheap criteria stop at the first run
 * that reaches the goal, which a group that passed good_group usually has;
 * CR_GOAL_LEN_SLOW does too when the largest free order proves a run that
 * long; CR_ANY_FREE stops after mb_max_to_scan runs.
 */
static bool mb_runsum_worth_building(const struct mb_ac *ac, const struct mb_group *grp)
{
	uint64_t runs = ac->found + (uint64_t)grp->bb_fragments;

	/* a group that held a run this long at its last build most likely
	   still does while its largest free order has not dropped (a hint
	   that survives the drop of the summary) */
	if (grp->bb_runsum.long_len >= ac->g_ex.fe_len &&
	    grp->bb_largest_free_order >= grp->bb_runsum.long_order)
		return false;
	switch (ac->criteria) {
	case MB_CR_GOAL_LEN_SLOW:
		return grp->bb_largest_free_order >= 0 &&
		       (1ULL << grp->bb_largest_free_order) < ac->g_ex.fe_len;
	case MB_CR_ANY_FREE:
		return runs <= MB_READ_ONCE(ac->vol->t.mb_max_to_scan);
	default:
		return false;
	}
}

/*
 * Accounts for scanning all of grp under ac's criterion when the summary
 * makes the walk's outcome certain; returns false (nothing changed) when
 * the caller must walk.  On true the caller finishes as after a walk
 * (mb_check_limits_locked with finish).
 */
bool mb_runsum_scan_locked(struct mb_ac *ac, struct mb_group *grp)
{
	struct mb_volume *vol = ac->vol;
	struct mb_runsum *rs = &grp->bb_runsum;
	uint32_t goal = ac->g_ex.fe_len, best = ac->b_ex.fe_len;

	mb_assert_locked(&grp->bb_lock);
	if ((ac->flags & MB_HINT_FIRST) || ac->status != MB_AC_CONTINUE || best >= goal ||
	    !MB_READ_ONCE(vol->t.mb_scan_summary))
		return false;
	if (rs->state == MB_RUNSUM_LONG && rs->long_len < goal)
		rs->state = MB_RUNSUM_STALE; /* not enough to know for this goal */
	if (rs->state == MB_RUNSUM_LONG)
		return false;
	if (rs->state == MB_RUNSUM_STALE) {
		if (!mb_runsum_worth_building(ac, grp))
			return false;
		mb_runsum_build_locked(vol, grp, goal);
	}
	if (rs->state != MB_RUNSUM_USABLE)
		return false;
	const struct mb_run *top = rs->nrec ? &rs->rec[rs->nrec - 1] : NULL;
	uint32_t max = top ? top->len : 0, measured = 0;

	if (max >= goal)
		return false; /* a run reaches the goal: the walk decides */
	if (ac->criteria == MB_CR_GOAL_LEN_SLOW && MB_READ_ONCE(vol->t.mb_slow_skip_short)) {
		if (best < rs->dropped_len)
			return false; /* records we did not keep would count */
		for (uint32_t k = 0; k < rs->nrec; k++)
			measured += rs->rec[k].len > best;
	} else if (ac->criteria >= MB_CR_GOAL_LEN_SLOW) {
		measured = rs->nruns; /* ext4 measures every run here (rule 5) */
	} /* cheaper criteria measure only runs that reach the goal: none */
	if ((uint64_t)ac->found + measured > MB_READ_ONCE(vol->t.mb_max_to_scan))
		return false; /* the walk would stop inside this group */
	ac->found += measured;
	mb_stat_cr(vol, ac->criteria, 2, measured);
	if (measured && max > best)
		ac->b_ex =
		    (struct mb_fex){mb_group_no(vol, grp), top->start, max, ac->g_ex.fe_logical};
	return true;
}
