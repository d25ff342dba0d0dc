/* SPDX-License-Identifier: MIT */
/*
 * prealloc.c - preallocations (PAs): inode PAs owned by a file and keyed by
 * logical block, group PAs owned by a per-CPU locality group; their
 * creation (under the group lock that marked them used), use, release and
 * discard.
 *
 * An inode PA covers [pa_pstart, pa_pstart + pa_len) for its whole life
 * and that whole range stays used in the buddy.  Inside it, a block is
 * unused (counted in pa_free) exactly when it is clear on disk and not a
 * pending free; a block the file frees inside a live PA comes back to the
 * PA, not to the buddy (free.c), so that invariant holds even when callers
 * free blocks of a file that still has preallocations.  A group PA hands
 * out blocks from its front: its unused part is [pa_pstart, +pa_free).
 *
 * Locking: see alloc.c.  Lists: bb_prealloc_list under bb_lock, f_pa_list
 * under f_pa_lock, lg buckets under lg_prealloc_lock.
 */
#include <sched.h>
#include <stdlib.h>

#include "mb_int.h"

struct mb_pa *mb_pa_alloc(void)
{
	struct mb_pa *pa = calloc(1, sizeof(*pa));

	if (!pa)
		return NULL;
	mb_mutex_init(&pa->pa_lock, MB_RANK_PA);
	mb_list_init(&pa->pa_group_list);
	mb_list_init(&pa->pa_node);
	mb_list_init(&pa->pa_tmp_list);
	pa->pa_bucket = -1;
	return pa;
}

void mb_pa_free(struct mb_pa *pa)
{
	mb_mutex_destroy(&pa->pa_lock);
	free(pa);
}

static inline mb_fsblk_t mb_pa_end(const struct mb_pa *pa)
{
	return pa->pa_pstart + pa->pa_len;
}

/* Pins pa for an allocation unless it is being torn down or empty. */
static bool mb_pa_pin(struct mb_pa *pa, uint32_t min_free)
{
	bool ok;

	mb_lock(&pa->pa_lock);
	ok = !pa->pa_deleted && pa->pa_free >= min_free && pa->pa_free > 0;
	if (ok)
		pa->pa_count++;
	mb_unlock(&pa->pa_lock);
	return ok;
}

/* ------------------------------------------------------------------------ */
/* Owner lists                                                               */
/* ------------------------------------------------------------------------ */

/* Inserts an inode PA into its file's list, kept sorted by pa_lstart. */
static void mb_file_insert_pa(struct mb_file *file, struct mb_pa *pa)
{
	struct mb_list *pos;

	mb_write_lock(&file->f_pa_lock);
	mb_list_for_each(pos, &file->f_pa_list)
	{
		struct mb_pa *cur = MB_CONTAINER_OF(pos, struct mb_pa, pa_node);

		if (cur->pa_lstart > pa->pa_lstart)
			break;
	}
	mb_list_add_tail(&pa->pa_node, pos);
	mb_rw_unlock(&file->f_pa_lock);
}

/* Removes pa from its owner (file list or lg bucket). */
static void mb_pa_unlink_object(struct mb_pa *pa)
{
	if (pa->pa_type == MB_INODE_PA) {
		mb_write_lock(&pa->pa_file->f_pa_lock);
		mb_list_del(&pa->pa_node);
		mb_rw_unlock(&pa->pa_file->f_pa_lock);
	} else {
		mb_lock(&pa->pa_lg->lg_prealloc_lock);
		if (pa->pa_bucket >= 0) {
			pa->pa_lg->lg_bucket_len[pa->pa_bucket]--;
			pa->pa_bucket = -1;
		}
		mb_list_del(&pa->pa_node);
		mb_unlock(&pa->pa_lg->lg_prealloc_lock);
	}
}

/* ------------------------------------------------------------------------ */
/* Returning a PA's unused space to the buddy                                */
/* ------------------------------------------------------------------------ */

/*
 * ext4_mb_release_inode_pa: frees every run of the PA that is clear on
 * disk and not a pending free.  *freed gets the count, which the caller may
 * compare with pa_free (the bitmap wins).
 */
void mb_release_inode_pa_locked(struct mb_volume *vol, struct mb_group *grp, struct mb_pa *pa,
				uint32_t *freed)
{
	uint32_t start = mb_block_offset(vol, pa->pa_pstart), end = start + pa->pa_len;
	const uint64_t *pending = mb_group_pending_map(vol, grp);
	uint32_t n = 0;

	mb_assert_locked(&grp->bb_lock);
	for (uint32_t i = start; i < end;) {
		if (mb_test_bit(grp->bb_disk, i) || mb_test_bit(pending, i)) {
			i++;
			continue;
		}
		uint32_t j = i + 1;

		while (j < end && !mb_test_bit(grp->bb_disk, j) && !mb_test_bit(pending, j))
			j++;
		if (mb_buddy_free(vol, grp, i, j - i))
			mb_group_set_corrupt_locked(vol, grp);
		n += j - i;
		i = j;
	}
	*freed = n;
}

/* Releases a deleted PA's unused space; bb_lock held. Returns blocks freed. */
static uint32_t mb_pa_release_locked(struct mb_volume *vol, struct mb_group *grp,
				     struct mb_pa *pa)
{
	uint32_t n = 0;

	if (pa->pa_type == MB_INODE_PA) {
		mb_release_inode_pa_locked(vol, grp, pa, &n);
	} else if (pa->pa_free) {
		n = pa->pa_free;
		if (mb_buddy_free(vol, grp, mb_block_offset(vol, pa->pa_pstart), n))
			mb_group_set_corrupt_locked(vol, grp);
	}
	mb_list_del(&pa->pa_group_list);
	mb_stat_add(vol, MB_ST_DISCARDED, n);
	return n;
}

/* Tears down PAs collected (already marked deleted) on a private list. */
static int64_t mb_pa_release_list(struct mb_volume *vol, struct mb_list *list)
{
	struct mb_list *pos, *tmp;
	int64_t freed = 0;

	mb_list_for_each_safe(pos, tmp, list)
	{
		struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_tmp_list);
		struct mb_group *grp = &vol->groups[pa->pa_group];

		mb_lock(&grp->bb_lock);
		freed += mb_pa_release_locked(vol, grp, pa);
		mb_unlock(&grp->bb_lock);
		mb_list_del(&pa->pa_tmp_list);
		mb_pa_free(pa);
	}
	return freed;
}

/* Claims pa for teardown.  Returns 1 taken, 0 pinned, -1 deleted already. */
static int mb_pa_claim(struct mb_pa *pa)
{
	int ret;

	mb_lock(&pa->pa_lock);
	if (pa->pa_count)
		ret = 0;
	else if (pa->pa_deleted)
		ret = -1;
	else {
		pa->pa_deleted = true;
		ret = 1;
	}
	mb_unlock(&pa->pa_lock);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Discard                                                                   */
/* ------------------------------------------------------------------------ */

/* Collects the group's claimable PAs; bb_lock held.  Returns their free sum. */
static uint32_t mb_collect_group_pas_locked(struct mb_group *grp, struct mb_list *out,
					    bool *pinned, bool *inflight)
{
	struct mb_list *pos;
	uint32_t free = 0;

	mb_list_for_each(pos, &grp->bb_prealloc_list)
	{
		struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_group_list);
		int r = mb_pa_claim(pa);

		if (r == 0)
			*pinned = true;
		else if (r < 0)
			*inflight = true;
		else {
			free += pa->pa_free;
			mb_list_add_tail(&pa->pa_tmp_list, out);
		}
	}
	return free;
}

/*
 * ext4_mb_discard_group_preallocations, the ENOSPC reclaimer: everything
 * happens under one hold of the group lock (the 2020 fix "discard
 * preallocations before releasing group lock"), so nothing is ever hidden
 * on a private list while the lock is free.  *busy: some PA was pinned by a
 * user or is being torn down by another thread (seq policy only: the legacy
 * policy skips those, as ext4 did before the series).
 */
int64_t mb_discard_group_preallocations(struct mb_volume *vol, mb_grp_t g, uint32_t needed,
					bool *busy)
{
	struct mb_group *grp = &vol->groups[g];
	bool legacy = MB_READ_ONCE(vol->t.mb_enospc_policy) == MB_POLICY_LEGACY;
	int64_t freed = 0;

	for (;;) {
		struct mb_list list, *pos, *tmp;
		bool pinned = false, inflight = false;

		mb_list_init(&list);
		mb_lock(&grp->bb_lock);
		if (mb_list_empty(&grp->bb_prealloc_list)) {
			mb_unlock(&grp->bb_lock);
			return freed;
		}
		mb_collect_group_pas_locked(grp, &list, &pinned, &inflight);
		if (!mb_list_empty(&list))
			mb_seq_bump(vol); /* only when a PA was taken: no dead loop */
		MB_HOOK(vol, MB_HOOK_DISCARD_COLLECTED, g, 0);
		mb_list_for_each_safe(pos, tmp, &list)
		{
			struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_tmp_list);

			mb_pa_unlink_object(pa);
			freed += mb_pa_release_locked(vol, grp, pa);
			mb_list_del(&pa->pa_tmp_list);
			mb_pa_free(pa);
		}
		mb_unlock(&grp->bb_lock);
		if (!legacy) {
			*busy |= pinned || inflight;
			return freed;
		}
		/* ext4 5.7: wait for pinned PAs while short of the need */
		if (!pinned || (uint64_t)freed >= needed)
			return freed;
		sched_yield();
	}
}

/*
 * Discards a file's inode PAs (truncate, close).  PAs another thread is
 * tearing down stay on the list until it unlinks them; with wait_all the
 * call waits for that, so the file can be freed afterwards.
 */
static int64_t mb_discard_file_pas(struct mb_file *file, bool wait_all)
{
	struct mb_volume *vol = file->f_vol;
	int64_t freed = 0;

	for (;;) {
		struct mb_list list, *pos, *tmp;
		bool left = false;

		mb_list_init(&list);
		mb_write_lock(&file->f_pa_lock);
		mb_list_for_each_safe(pos, tmp, &file->f_pa_list)
		{
			struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_node);

			if (mb_pa_claim(pa) != 1) {
				left = true; /* pinned by nobody (f_data_sem held): in-flight teardown */
				continue;
			}
			mb_list_del(&pa->pa_node);
			mb_list_add_tail(&pa->pa_tmp_list, &list);
		}
		mb_rw_unlock(&file->f_pa_lock);
		if (!mb_list_empty(&list)) {
			mb_seq_bump(vol);
			MB_HOOK(vol, MB_HOOK_DISCARD_COLLECTED, UINT32_MAX, 0);
		}
		freed += mb_pa_release_list(vol, &list);
		if (!left || !wait_all)
			return freed;
		sched_yield();
	}
}

int64_t mb_discard_file_preallocations(struct mb_file *file)
{
	return mb_discard_file_pas(file, true);
}

/* ------------------------------------------------------------------------ */
/* Using PAs                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Marks [start, start + len) used on disk for a pinned PA and takes it out
 * of pa_free.  Only the leading blocks that are really unused qualify (the
 * caller may re-write a logical block it already holds).  Returns blocks.
 */
static uint32_t mb_pa_take(struct mb_ac *ac, struct mb_pa *pa, mb_fsblk_t start, uint32_t len)
{
	struct mb_volume *vol = ac->vol;
	mb_grp_t g = mb_block_group(vol, start);
	struct mb_group *grp = &vol->groups[g];
	mb_grpblk_t off = mb_block_offset(vol, start);

	mb_lock(&grp->bb_lock);
	uint32_t n = mb_find_next_bit(grp->bb_disk, off + len, off) - off;
	uint32_t p = mb_find_next_bit(mb_group_pending_map(vol, grp), off + n, off) - off;

	n = p < n ? p : n;
	if (n) {
		mb_group_mark_disk_used_locked(vol, grp, off, n);
		mb_lock(&pa->pa_lock);
		pa->pa_free -= n;
		if (pa->pa_type == MB_GROUP_PA) {
			pa->pa_pstart += n;
			pa->pa_lstart += n;
			pa->pa_len -= n;
		}
		mb_unlock(&pa->pa_lock);
	}
	mb_unlock(&grp->bb_lock);
	ac->b_ex = (struct mb_fex){ g, off, n, ac->o_ex.fe_logical };
	return n;
}

static void mb_pa_put(struct mb_volume *vol, struct mb_pa *pa);

static bool mb_use_inode_pa(struct mb_ac *ac)
{
	struct mb_file *file = ac->file;
	uint64_t lblk = ac->o_ex.fe_logical;
	struct mb_pa *found = NULL;
	struct mb_list *pos;

	mb_read_lock(&file->f_pa_lock);
	mb_list_for_each(pos, &file->f_pa_list)
	{
		struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_node);

		if (pa->pa_lstart > lblk)
			break;
		if (lblk < pa->pa_lstart + pa->pa_len && mb_pa_pin(pa, 1)) {
			found = pa;
			break;
		}
	}
	mb_rw_unlock(&file->f_pa_lock);
	if (!found)
		return false;

	mb_fsblk_t start = found->pa_pstart + (lblk - found->pa_lstart);
	uint64_t room = mb_pa_end(found) - start;
	uint32_t len = ac->o_ex.fe_len < room ? ac->o_ex.fe_len : (uint32_t)room;

	if (!mb_pa_take(ac, found, start, len)) {
		mb_pa_put(ac->vol, found);
		return false;
	}
	ac->pa = found;
	return true;
}

/* Distance from the goal, for choosing among group PAs. */
static uint64_t mb_goal_distance(const struct mb_ac *ac, const struct mb_pa *pa)
{
	mb_fsblk_t goal = mb_fex_block(ac->vol, &ac->o_ex);

	return pa->pa_pstart > goal ? pa->pa_pstart - goal : goal - pa->pa_pstart;
}

/* The locality group's PA nearest the goal with room for the request. */
static struct mb_pa *mb_find_group_pa(struct mb_ac *ac)
{
	struct mb_lg *lg = ac->lg;
	struct mb_pa *best = NULL;
	int order = mb_fls32(ac->o_ex.fe_len) - 1;

	mb_lock(&lg->lg_prealloc_lock);
	for (int i = order; i < MB_LG_BUCKETS && !best; i++) {
		struct mb_list *pos;

		mb_list_for_each(pos, &lg->lg_prealloc_list[i])
		{
			struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_node);

			/* pa_free of our lg's PAs changes only under lg_mutex, which we
			   hold; pa_deleted is re-checked by mb_pa_pin under pa_lock */
			if (pa->pa_free < ac->o_ex.fe_len)
				continue;
			if (!best || mb_goal_distance(ac, pa) < mb_goal_distance(ac, best))
				best = pa;
		}
	}
	if (best && !mb_pa_pin(best, ac->o_ex.fe_len))
		best = NULL;
	mb_unlock(&lg->lg_prealloc_lock);
	return best;
}

static bool mb_use_group_pa(struct mb_ac *ac)
{
	struct mb_pa *pa = mb_find_group_pa(ac);

	if (!pa)
		return false;
	if (!mb_pa_take(ac, pa, pa->pa_pstart, ac->o_ex.fe_len)) {
		mb_pa_put(ac->vol, pa);
		return false;
	}
	ac->pa = pa;
	return true;
}

/*
 * Beyond ext4: a file that outgrew the locality group (its first
 * mb_stream_req blocks came from this CPU's group PA) and asks for the
 * block right after them may keep taking the group PA's front, as long as
 * it is the group PA's next block.  Otherwise its first own window lands
 * elsewhere and the file starts with a needless break.  Takes lg_mutex
 * (kept in ac->lg until release, like a group allocation).
 */
static bool mb_use_lg_front(struct mb_ac *ac)
{
	struct mb_volume *vol = ac->vol;
	struct mb_lg *lg = &vol->lgs[mb_cpu_slot(vol)];
	mb_fsblk_t goal = mb_fex_block(vol, &ac->o_ex);
	struct mb_pa *hit = NULL;

	mb_lock(&lg->lg_mutex);
	mb_lock(&lg->lg_prealloc_lock);
	for (int b = 0; b < MB_LG_BUCKETS && !hit; b++) {
		struct mb_list *pos;

		mb_list_for_each(pos, &lg->lg_prealloc_list[b])
		{
			struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_node);

			if (pa->pa_pstart == goal && mb_pa_pin(pa, 1)) {
				hit = pa;
				break;
			}
		}
	}
	mb_unlock(&lg->lg_prealloc_lock);
	if (hit) {
		uint32_t len = ac->o_ex.fe_len < hit->pa_free ? ac->o_ex.fe_len : hit->pa_free;

		if (mb_pa_take(ac, hit, hit->pa_pstart, len)) {
			ac->pa = hit;
			ac->lg = lg;
			return true;
		}
		mb_pa_put(vol, hit);
	}
	mb_unlock(&lg->lg_mutex);
	return false;
}

/* ext4_mb_use_preallocated: serve the request from a PA, no group search. */
bool mb_use_preallocated(struct mb_ac *ac)
{
	if (!ac->file || (ac->flags & (MB_HINT_NOPREALLOC | MB_HINT_GOAL_ONLY)))
		return false;
	bool ok = (ac->flags & MB_HINT_GROUP_ALLOC) ? mb_use_group_pa(ac) : mb_use_inode_pa(ac);

	if (!ok && (ac->flags & MB_STREAM_ALLOC) && ac->goal_block &&
	    MB_READ_ONCE(ac->vol->t.mb_group_prealloc))
		ok = mb_use_lg_front(ac);

	if (ok) {
		ac->status = MB_AC_FOUND;
		ac->f_ex = ac->b_ex;
		mb_stat_inc(ac->vol, MB_ST_PA_HITS);
	}
	return ok;
}

/* ------------------------------------------------------------------------ */
/* Creating PAs (under the group lock that marked the space used)            */
/* ------------------------------------------------------------------------ */

/*
 * When less than the normalized goal was found, place the PA logically so
 * it still covers the original request: at the goal window's end, else its
 * start, else the request's start (ext4 6.4).
 */
static void mb_place_inode_pa(struct mb_ac *ac)
{
	uint64_t goal_end = ac->g_ex.fe_logical + ac->orig_goal_len;
	uint64_t o_end = ac->o_ex.fe_logical + ac->o_ex.fe_len;
	uint32_t len = ac->b_ex.fe_len;

	if (len >= ac->orig_goal_len)
		return;
	if (goal_end >= len && ac->o_ex.fe_logical >= goal_end - len) {
		ac->b_ex.fe_logical = goal_end - len;
		return;
	}
	if (o_end <= ac->g_ex.fe_logical + len) {
		ac->b_ex.fe_logical = ac->g_ex.fe_logical;
		return;
	}
	ac->b_ex.fe_logical = ac->o_ex.fe_logical;
}

static void mb_new_inode_pa_locked(struct mb_ac *ac, struct mb_pa *pa)
{
	struct mb_volume *vol = ac->vol;

	mb_place_inode_pa(ac);
	pa->pa_type = MB_INODE_PA;
	pa->pa_file = ac->file;
	pa->pa_lstart = ac->b_ex.fe_logical;
	pa->pa_pstart = mb_fex_block(vol, &ac->b_ex);
	pa->pa_len = ac->b_ex.fe_len;

	/* ext4_mb_use_inode_pa: the request's share comes out at once */
	mb_fsblk_t start = pa->pa_pstart + (ac->o_ex.fe_logical - pa->pa_lstart);
	uint64_t room = mb_pa_end(pa) - start;
	uint32_t len = ac->o_ex.fe_len < room ? ac->o_ex.fe_len : (uint32_t)room;

	pa->pa_free = pa->pa_len - len;
	ac->b_ex.fe_start = mb_block_offset(vol, start);
	ac->b_ex.fe_len = len;
	ac->b_ex.fe_logical = ac->o_ex.fe_logical;
}

static void mb_new_group_pa_locked(struct mb_ac *ac, struct mb_pa *pa)
{
	uint32_t len = ac->o_ex.fe_len;

	pa->pa_type = MB_GROUP_PA;
	pa->pa_lg = ac->lg;
	pa->pa_pstart = mb_fex_block(ac->vol, &ac->b_ex) + len;
	pa->pa_lstart = pa->pa_pstart;
	pa->pa_len = ac->b_ex.fe_len - len;
	pa->pa_free = pa->pa_len;
	ac->b_ex.fe_len = len;
	ac->b_ex.fe_logical = ac->o_ex.fe_logical;
}

/*
 * ext4_mb_new_preallocation, called from use_best_found with bb_lock held:
 * the surplus of ac->f_ex becomes a PA pinned by this request.  Under the
 * seq policy it is linked to the group and its owner before the lock is
 * dropped (seed fix 2); under legacy, after (mb_pa_after_unlock).
 */
void mb_new_preallocation_locked(struct mb_ac *ac, struct mb_group *grp)
{
	struct mb_volume *vol = ac->vol;
	struct mb_pa *pa = ac->pa_obj;

	ac->pa_obj = NULL;
	if (ac->flags & MB_HINT_GROUP_ALLOC)
		mb_new_group_pa_locked(ac, pa);
	else
		mb_new_inode_pa_locked(ac, pa);
	pa->pa_group = mb_group_no(vol, grp);
	pa->pa_count = 1;
	ac->pa = pa;
	ac->pa_created = true;
	mb_stat_add(vol, MB_ST_PREALLOCATED, ac->f_ex.fe_len); /* the whole find, as ext4 */
	if (MB_READ_ONCE(vol->t.mb_enospc_policy) == MB_POLICY_LEGACY) {
		ac->pa_late = pa;
		return;
	}
	mb_list_add_tail(&pa->pa_group_list, &grp->bb_prealloc_list);
	if (pa->pa_type == MB_INODE_PA)
		mb_file_insert_pa(ac->file, pa);
}

/*
 * After the group lock of a successful search was dropped: the hook point of
 * race 2, and where the legacy policy finally links its new PA.
 */
void mb_pa_after_unlock(struct mb_ac *ac)
{
	if (!ac->pa_created)
		return;
	ac->pa_created = false;
	MB_HOOK(ac->vol, MB_HOOK_LEFTOVER_UNLINKED, ac->f_ex.fe_group, 0);
	struct mb_pa *pa = ac->pa_late;

	if (!pa)
		return;
	ac->pa_late = NULL;
	struct mb_group *grp = &ac->vol->groups[pa->pa_group];

	mb_lock(&grp->bb_lock);
	mb_list_add_tail(&pa->pa_group_list, &grp->bb_prealloc_list);
	mb_unlock(&grp->bb_lock);
	if (pa->pa_type == MB_INODE_PA)
		mb_file_insert_pa(ac->file, pa);
}

/* ------------------------------------------------------------------------ */
/* Release                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * ext4_mb_put_pa: drops a pin; the last pin on a consumed PA tears it down
 * (pa_deleted decides who, so a concurrent discarder never double-frees).
 */
static void mb_pa_put(struct mb_volume *vol, struct mb_pa *pa)
{
	bool teardown;

	mb_lock(&pa->pa_lock);
	teardown = --pa->pa_count == 0 && pa->pa_free == 0 && !pa->pa_deleted;
	if (teardown)
		pa->pa_deleted = true;
	mb_unlock(&pa->pa_lock);
	if (!teardown)
		return;
	struct mb_group *grp = &vol->groups[pa->pa_group];

	mb_lock(&grp->bb_lock);
	mb_pa_release_locked(vol, grp, pa); /* blocks freed back into it meanwhile */
	mb_unlock(&grp->bb_lock);
	mb_pa_unlink_object(pa);
	mb_pa_free(pa);
}

/* Discards unpinned PAs of one lg bucket down to `keep` entries. */
static void mb_lg_trim_bucket(struct mb_volume *vol, struct mb_lg *lg, int b, uint32_t keep)
{
	struct mb_list list, *pos, *tmp;

	mb_list_init(&list);
	mb_lock(&lg->lg_prealloc_lock);
	mb_list_for_each_safe(pos, tmp, &lg->lg_prealloc_list[b])
	{
		struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_node);

		if (lg->lg_bucket_len[b] <= keep)
			break;
		if (mb_pa_claim(pa) != 1)
			continue;
		mb_list_del(&pa->pa_node);
		pa->pa_bucket = -1;
		lg->lg_bucket_len[b]--;
		mb_list_add_tail(&pa->pa_tmp_list, &list);
	}
	mb_unlock(&lg->lg_prealloc_lock);
	mb_pa_release_list(vol, &list);
}

#define MB_LG_BUCKET_MAX 8  /* ext4: a bucket over 8 PAs is trimmed ... */
#define MB_LG_BUCKET_KEEP 5 /* ... down to 5 */

/* ext4_mb_add_n_trim: (re)file a group PA in its bucket by pa_free. */
static void mb_lg_add_n_trim(struct mb_volume *vol, struct mb_lg *lg, struct mb_pa *pa)
{
	int b = -1;

	mb_lock(&lg->lg_prealloc_lock);
	if (pa->pa_bucket >= 0) {
		lg->lg_bucket_len[pa->pa_bucket]--;
		mb_list_del(&pa->pa_node);
		pa->pa_bucket = -1;
	}
	mb_lock(&pa->pa_lock);
	if (pa->pa_free && !pa->pa_deleted) {
		b = mb_fls32(pa->pa_free) - 1;
		if (b >= MB_LG_BUCKETS)
			b = MB_LG_BUCKETS - 1;
		pa->pa_bucket = b;
		lg->lg_bucket_len[b]++;
		mb_list_add_tail(&pa->pa_node, &lg->lg_prealloc_list[b]);
	}
	mb_unlock(&pa->pa_lock);
	bool trim = b >= 0 && lg->lg_bucket_len[b] > MB_LG_BUCKET_MAX;
	mb_unlock(&lg->lg_prealloc_lock);
	if (trim)
		mb_lg_trim_bucket(vol, lg, b, MB_LG_BUCKET_KEEP);
}

/* ext4_mb_release_context, PA part: re-bucket group PAs, drop the pin. */
void mb_pa_release_context(struct mb_ac *ac)
{
	struct mb_pa *pa = ac->pa;

	if (!pa)
		return;
	ac->pa = NULL;
	if (pa->pa_type == MB_GROUP_PA)
		mb_lg_add_n_trim(ac->vol, pa->pa_lg, pa);
	mb_pa_put(ac->vol, pa);
}

/* ------------------------------------------------------------------------ */
/* Locality groups                                                           */
/* ------------------------------------------------------------------------ */

void mb_lgs_init(struct mb_volume *vol)
{
	for (uint32_t i = 0; i <= vol->pcpu_mask; i++) {
		struct mb_lg *lg = &vol->lgs[i];

		mb_mutex_init(&lg->lg_mutex, MB_RANK_LG);
		mb_mutex_init(&lg->lg_prealloc_lock, MB_RANK_OBJECT);
		for (int b = 0; b < MB_LG_BUCKETS; b++) {
			mb_list_init(&lg->lg_prealloc_list[b]);
			lg->lg_bucket_len[b] = 0;
		}
	}
}

void mb_lgs_destroy(struct mb_volume *vol)
{
	for (uint32_t i = 0; i <= vol->pcpu_mask; i++) {
		mb_mutex_destroy(&vol->lgs[i].lg_mutex);
		mb_mutex_destroy(&vol->lgs[i].lg_prealloc_lock);
	}
}
