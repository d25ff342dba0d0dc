/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - mb_alloc(): the allocation context, ext4's regular allocator
 * (goal, then the criteria passes over the groups) and the ENOSPC retry
 * logic of the 2020 series.
 *
 * Design
 * ------
 * A request first tries the caller's preallocations (prealloc.c).  If
 * none serves it, normalization (normalize.c) widens it to a window the
 * file is likely to grow into, an empty PA object is allocated, and the
 * regular allocator searches: the goal block, then criteria from cheap to
 * expensive (CR_POWER2_ALIGNED: buddy lookup of a 2^k chunk;
 * CR_GOAL_LEN_FAST / CR_BEST_AVAIL_LEN: groups whose average free fragment
 * is long enough, found through the optimized-scan sets; CR_GOAL_LEN_SLOW:
 * any group with enough free blocks; CR_ANY_FREE: anything).  What is found
 * beyond the request becomes a preallocation in the same critical section
 * that marked it used.  Speed only (mb_scan_summary): the linear passes
 * jump through free_ge to the next group with enough free blocks, and an
 * optimized pass with no group of its orders in range is skipped at once
 * (largest_ge / avg_ge), and the passes judge each group's unlocked
 * prefilter inline, calling out only for a group worth its lock -- same
 * groups visited, same counters.
 *
 * When the search fails, preallocations are discarded and the search is
 * retried.  Whether a retry can help is decided by discard_pa_seq, a
 * per-CPU counter bumped by every buddy free, every move of a group between
 * scan sets and by discards (ext4: every mark-used too, see percpu.h):
 * the first failure always retries, with groups judged under their lock
 * (MB_STRICT_CHECK); later failures retry only if the counter moved, or if
 * a discard is in flight elsewhere.  The first pass never takes a lock just
 * to judge a group, so the fast path pays nothing for this.  Beyond the
 * series: pending frees are committed; space held by a trim callback or a
 * discard in flight is slept for on the volume's space event (wait.c), not
 * spun for and never reported as ENOSPC; and
 * while any request is in its retry rounds nobody preallocates (otherwise
 * a discarded PA is re-preallocated by its owner before the failing thread
 * gets to it).  Rounds are capped by mb_max_retries.
 *
 * Below CR_ANY_FREE, and for a stream's merge with its previous extent, a
 * group whose lock is taken is skipped (ext4 6.17): somebody works there,
 * and concurrent writers keep to different groups.
 *
 * Locking rules
 * -------------
 * Order (enum mb_lock_rank): v_lock < f_data_sem < lg_mutex < commit_mx <
 * bb_lock < space_ev.lock.
 * - bb_lock protects a group's bitmaps, counters, PA list and pending frees,
 *   and the state of the PAs in the group (pa_free, pa_deleted, a group
 *   PA's front).  Counters are also read without it as hints (good-group
 *   prefilter); only the locked re-check decides.
 * - A PA is created, listed in its group, and its space marked used in the
 *   buddy -- and the request's share on disk -- in one bb_lock hold (seed
 *   fix 2).  So no PA is ever "in use" outside a group lock, and discard
 *   never has to wait for or skip a busy PA.
 * - f_data_sem serializes a file's calls and protects its PA list;
 *   lg_mutex does the same for a locality group and its buckets.  Only
 *   the owner unlinks a PA from its list and frees it; others may only mark
 *   it deleted (and return its space) under the group lock.
 * - space_ev.lock (wait.c) guards only the sleep of a failing allocator.
 *   Only the retry path takes it, never the fast path; a trim signals it
 *   under bb_lock, and a signal with nobody asleep takes no lock at all.
 * - No lock is held while waiting for anything but another lock, except
 *   that sleep: it holds at most the caller's f_data_sem and lg_mutex, and
 *   its signallers (a trim, a legacy discard's second phase) take neither.
 */
#include <stdlib.h>

#include "alloc_ctx.h"
#include "probe.h"
#include "store.h"
#include "percpu.h"

/* ------------------------------------------------------------------------ */
/* Context                                                                   */
/* ------------------------------------------------------------------------ */

mb_grp_t mb_home_group(const struct mb_volume *vol, const struct mb_file *file)
{
	if (!file)
		return 0;
	/*
	 * ext4 puts data near the inode's group, and a directory's consecutive
	 * inodes share a group.  Inode numbers stand in for that: one "inode
	 * group" per block group, one inode per 16 KiB (mke2fs's default ratio).
	 */
	uint64_t ipg = ((uint64_t)vol->bpg * vol->geo.block_size) >> 14;

	return (mb_grp_t)(((file->f_ino ? file->f_ino - 1 : 0) / (ipg ? ipg : 1)) % vol->ngroups);
}

static bool mb_block_in_volume(const struct mb_volume *vol, uint64_t b)
{
	return b >= vol->geo.first_data_block && b < vol->geo.blocks_count;
}

/*
 * The valid range of every request field (mballoc.h, struct mb_request).
 * Everything downstream -- normalization windows, neighbour merges, PA
 * placement -- relies on these bounds to stay inside the volume and to
 * never wrap: a logical range below MB_LOGICAL_LIMIT, and neighbours that
 * are volume blocks on the correct side of the request.  Out of line: the
 * common shape's test (mb_request_valid) then keeps no neighbour in a
 * register, and its callers save none.
 */
static __attribute__((noinline)) bool mb_request_valid_full(const struct mb_volume *vol,
							      const struct mb_request *req)
{
	if (!(req->flags & MB_REQ_CPU) && req->cpu && req->cpu != MB_CPU_CURRENT)
		return false; /* a CPU named without the flag: the caller forgot it */
	if (req->file && req->file->f_vol != vol)
		return false;
	/* logical + len <= MB_LOGICAL_LIMIT; len < 2^32 < the limit: no wrap */
	if (req->logical > MB_LOGICAL_LIMIT - req->len)
		return false;
	if (!mb_block_in_volume(vol, req->goal) && req->goal != MB_GOAL_NONE)
		return false;
	if (mb_req_has_left(req) &&
	    (!mb_block_in_volume(vol, req->pleft) || req->lleft >= req->logical))
		return false;
	if (mb_req_has_right(req) &&
	    (!mb_block_in_volume(vol, req->pright) || req->lright < req->logical + req->len))
		return false;
	return true;
}

/*
 * The words and fields every request but the common shape has nonzero:
 * the spare words (which must be zero: the rare test says no), the
 * neighbours, a CPU (named, or MB_CPU_CURRENT, which the rare test
 * allows), the rare and the unknown flags (one mask), no length.
 * Nonzero: mb_request_rare_valid decides -- also for a length above 2^31,
 * valid but sent there by the length's test: one shift of len - 1 (a zero
 * length wraps to 2^32 - 1), not a compare and a set.  The CPU and spare0
 * share a word, ORed in with one load: the common shape's CPU is 0 (a
 * zeroed request); MB_CPU_CURRENT there cost a test of its own (~4
 * instructions a request), and now the rare path's.
 */
static inline uint64_t mb_request_rare(const struct mb_request *req)
{
	_Static_assert(sizeof(req->spare) == sizeof(uint64_t), "test every spare word");
	_Static_assert(offsetof(struct mb_request, spare0) == offsetof(struct mb_request, cpu) + 4 &&
			       !(offsetof(struct mb_request, cpu) & 7),
		       "cpu and spare0: one aligned word");
	uint64_t cpu_spare0;

	memcpy(&cpu_spare0, &req->cpu, sizeof(cpu_spare0));
	uint64_t bad = req->spare[0] | cpu_spare0;
	const uint32_t rare_flags = ~(uint32_t)MB_HINT_PUBLIC_MASK | MB_REQ_PLEFT | MB_REQ_PRIGHT |
				    MB_REQ_CPU;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* len and flags one word, len low: minus 1 leaves the flags whole
	   for a length of 1 or more and sets bit 31 for 0 (a borrow then
	   moves the flags, already sent to the rare path) and above 2^31 --
	   one mask of the word for the flags' test and the length's */
	_Static_assert(offsetof(struct mb_request, flags) == offsetof(struct mb_request, len) + 4 &&
			       !(offsetof(struct mb_request, len) & 7),
		       "len and flags: one aligned word");
	uint64_t len_flags;

	memcpy(&len_flags, &req->len, sizeof(len_flags));
	return bad | req->pleft | req->pright |
	       ((len_flags - 1) & ((uint64_t)rare_flags << 32 | 1u << 31));
#else
	return bad | req->pleft | req->pright | (req->flags & rare_flags) | ((req->len - 1u) >> 31);
#endif
}

/* mb_request_valid for a request mb_request_rare() sent here */
static inline bool mb_request_rare_valid(const struct mb_volume *vol, const struct mb_request *req)
{
	uint64_t bad = req->spare[0] | req->spare0;

	return !bad && !(req->flags & ~(uint32_t)MB_HINT_PUBLIC_MASK) && req->len &&
	       mb_request_valid_full(vol, req);
}

/* mb_request_valid_full's tests that remain for the common shape, but the
   file's (mb_alloc_anon has none) */
static inline bool mb_request_common_valid(const struct mb_volume *vol,
					   const struct mb_request *req)
{
	uint64_t goal = req->goal;

	if (req->logical > MB_LOGICAL_LIMIT - req->len)
		return false;
	/* one compare for a goal in the volume, and for MB_GOAL_NONE on a
	   volume whose data starts at block 0 (goal_base, goal_span) */
	_Static_assert(MB_GOAL_NONE == UINT64_MAX, "NONE wraps to the span's start");
	if (MB_LIKELY(goal - vol->goal_base < vol->goal_span))
		return true;
	return goal == MB_GOAL_NONE;
}

bool mb_request_valid(const struct mb_volume *vol, const struct mb_request *req)
{
	/* one branch for the common shape; the rare one sorts it out */
	if (MB_UNLIKELY(mb_request_rare(req)))
		return mb_request_rare_valid(vol, req);
	if (req->file && req->file->f_vol != vol)
		return false;
	return mb_request_common_valid(vol, req);
}

/* Sets up the context of a request mb_request_valid() accepted; anon: it
   has no file (the caller knows, so no test of one is made). */
static inline __attribute__((always_inline)) void mb_ac_init(struct mb_ac *ac,
							     struct mb_volume *vol,
							     const struct mb_request *req,
							     bool anon)
{
	/* the fields below b_ex are all set here, the rest zeroed one by one
	   (a whole-struct literal, or a memset of the tail, became a rep stos
	   of 16-24 words) */
	ac->b_ex = (struct mb_fex){ 0 };
	ac->f_len = 0;
	ac->criteria = 0;
	ac->found = 0;
	ac->groups_scanned = 0;
	ac->ac_2order = 0;
	ac->pa_obj = NULL;
	ac->pa = NULL;
	ac->pa_late = NULL;
	ac->pa_created = false;
	ac->lg = NULL;
	ac->seq = 0;
	ac->lock_epoch = 0; /* none: the claim takes it with threads (alloc_ctx.h) */
	ac->rounds = 0;
	ac->pressured = false;
	ac->load_err = 0;
	ac->vol = vol;
	ac->file = anon ? NULL : req->file;
	ac->req = req;
	ac->slot = mb_this_pcpu(vol);
	ac->flags = req->flags;
	if (!anon) /* normalize.c's and prealloc.c's only */
		ac->goal_block = req->goal != MB_GOAL_NONE;
	if (ac->file)
		ac->flags |= MB_HINT_DATA;
	uint32_t len = req->len < vol->bpg ? req->len : vol->bpg;

	if (req->goal != MB_GOAL_NONE) {
		ac->o_ex.fe_group = mb_block_group(vol, req->goal);
		ac->o_ex.fe_start = mb_block_offset(vol, req->goal);
	} else {
		ac->o_ex.fe_group = ac->file ? ac->file->f_home : 0;
		ac->o_ex.fe_start = 0;
		ac->flags &= ~(uint32_t)(MB_HINT_TRY_GOAL | MB_HINT_GOAL_ONLY);
	}
	ac->o_ex.fe_len = len;
	ac->o_ex.fe_logical = req->logical;
	ac->g_ex = ac->o_ex;
	ac->orig_goal_len = len;
	ac->status = MB_AC_CONTINUE;
}

/* ext4_fs_is_busy: allocators have been waiting for group locks lately. */
static bool mb_fs_busy(const struct mb_volume *vol)
{
	return atomic_load_explicit(&vol->lock_busy, memory_order_relaxed) >
	       MB_LOCK_BUSY_THRESHOLD;
}

/*
 * Departure mb_lg_continuity: the locality group is decided by continuity,
 * not size alone.  A file whose previous block is right behind a group
 * PA's front keeps filling that PA, whatever its size (so a file that
 * outgrows the group does not start its first own window in some hole); an
 * append that is *not* behind it was interleaved with other writers, and
 * sharing the group PA would cut it into one-block extents, so it gets an
 * inode PA.  lg_mutex held; returns whether the group PA is the answer.
 */
static bool mb_lg_continues_locked(struct mb_ac *ac, struct mb_lg *lg, bool small)
{
	const struct mb_request *req = ac->req;

	return mb_req_has_left(req) ? mb_lg_pa_at(lg, req->pleft + 1) != NULL : small;
}

/* mb_group_or_file's flag for a request that gets no locality group: a
   stream's inode PA, unless it ends the file at i_size (end, isize) */
static inline uint32_t mb_file_no_group(const struct mb_ac *ac, uint64_t end, uint64_t isize)
{
	bool inode_pa = end != isize || MB_READ_ONCE(ac->file->f_open_write) || mb_fs_busy(ac->vol);

	return inode_pa ? MB_STREAM_ALLOC : MB_HINT_NOPREALLOC;
}

/*
 * ext4_mb_group_or_file (6.x): small files share the CPU's locality group
 * PA; larger ones get their own inode PA and the stream goal.  A request
 * that ends at i_size of a file nobody holds open for write is the file's
 * last: it gets no inode PA (unless the volume is busy), so a large closed
 * file gets no preallocation at all.
 */
static void mb_group_or_file(struct mb_ac *ac)
{
	struct mb_volume *vol = ac->vol;
	struct mb_file *file = ac->file;

	if (!file || (ac->flags & MB_HINT_GOAL_ONLY))
		return; /* NOPREALLOC too is a stream (rule 3): fallocate's are */
	uint64_t end = ac->o_ex.fe_logical + ac->o_ex.fe_len;
	uint64_t isize = MB_READ_ONCE(file->f_size);
	bool small = (isize > end ? isize : end) <= MB_READ_ONCE(vol->t.mb_stream_req);
	bool continuity = MB_READ_ONCE(vol->t.mb_lg_continuity);
	/* the lg's tests first, the inode PA's after (the same f_size read):
	   a large file's request reads the tunables it needs first
	   (aging:triangle:file 1334.05 -> 1332.00, aging:8m64k:file
	   1223.74 -> 1222.26 instructions a call) */
	if (!MB_READ_ONCE(vol->t.mb_group_prealloc) ||
	    (!small && !(continuity && mb_req_has_left(ac->req)))) {
		ac->flags |= mb_file_no_group(ac, end, isize);
		return;
	}
	uint32_t no_group = mb_file_no_group(ac, end, isize);

	/* as ext4, a small NOPREALLOC request (a fallocate) takes the group
	   PA too, it only never makes one; departure mb_noprealloc_no_pa */
	if ((ac->flags & MB_HINT_NOPREALLOC) && MB_READ_ONCE(vol->t.mb_noprealloc_no_pa))
		return;
	struct mb_lg *lg = mb_file_lg(file, ac->req);

	mb_lock(&lg->lg_mutex);
	if (continuity && !mb_lg_continues_locked(ac, lg, small)) {
		mb_unlock(&lg->lg_mutex);
		ac->flags |= no_group;
		return;
	}
	ac->flags |= MB_HINT_GROUP_ALLOC;
	ac->lg = lg;
}

#if defined(__clang__) /* no noclone in clang, which clones less */
#define MB_NOCLONE
#else
#define MB_NOCLONE __attribute__((noclone))
#endif

/* ------------------------------------------------------------------------ */
/* Judging groups                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Rule 2: with flex groups of 4 or more groups, the first group of each
 * holds the whole flex group's bitmaps and inode tables, so ext4 keeps data
 * out of it at CR_POWER2_ALIGNED (later criteria may still use it).
 */
static bool mb_flex_first_group(const struct mb_ac *ac, const struct mb_group *grp)
{
	uint32_t flex = ac->vol->geo.flex_bg;

	return (ac->flags & MB_HINT_DATA) && flex >= 4 &&
	       !(mb_group_no(ac->vol, grp) & (flex - 1));
}

/* CR_GOAL_LEN_SLOW's good_group for a group of free blocks and a goal
   (skip_short: the tunable mb_slow_skip_short as read) */
static inline bool mb_goal_len_slow_good(const struct mb_group *grp, uint32_t free, uint32_t goal,
					 bool skip_short)
{
	if (!skip_short)
		return free >= goal; /* ext4 (rule 5) */
	/* departure: a free run of 4 * 2^k - 1 blocks would hold an aligned
	   2^(k+1) chunk, so with largest order k no run exceeds 4 * 2^k - 2;
	   skip groups where none can reach the goal */
	int lo = MB_READ_ONCE(grp->bb_largest_free_order);

	return free >= goal && lo >= 0 && (4ULL << lo) - 2 >= goal;
}

/*
 * ext4_mb_good_group: may group grp serve this criterion?  A pure predicate
 * on the counters; called with bb_lock held for a verdict, or without it as
 * a prefilter whose "no" is only a hint.
 */
static inline bool mb_good_group_inline(struct mb_ac *ac, struct mb_group *grp, int cr)
{
	uint32_t free = MB_READ_ONCE(grp->bb_free);
	uint32_t frags = MB_READ_ONCE(grp->bb_fragments);
	uint32_t goal = ac->g_ex.fe_len;

	if (cr == MB_CR_GOAL_LEN_FAST || cr == MB_CR_BEST_AVAIL_LEN) {
		/* free / frags >= goal with no division, the test that fails
		   first on the groups a set walk rejects (the product is 0 for
		   frags 0: the tests after it decide then) */
		return free >= (uint64_t)goal * frags && free && frags && !mb_group_corrupt(grp);
	}
	if (!free || !frags || mb_group_corrupt(grp))
		return false;
	switch (cr) {
	case MB_CR_POWER2_ALIGNED:
		if (mb_flex_first_group(ac, grp))
			return false;
		return free >= goal &&
		       MB_READ_ONCE(grp->bb_largest_free_order) >= ac->ac_2order;
	case MB_CR_GOAL_LEN_SLOW:
		return mb_goal_len_slow_good(grp, free, goal,
					     MB_READ_ONCE(ac->vol->t.mb_slow_skip_short));
	default:
		return true;
	}
}

bool mb_good_group(struct mb_ac *ac, struct mb_group *grp, int cr)
{
	return mb_good_group_inline(ac, grp, cr);
}

/* ------------------------------------------------------------------------ */
/* Taking what was found                                                     */
/* ------------------------------------------------------------------------ */

/*
 * What follows the buddy's mark of b_ex (mb_use_found_locked, and
 * mb_window_take_locked's closed-form mark): the found extent, the stream
 * goal, the PA of what the request leaves, the request's share on disk and
 * the free counter.  bb_lock held.
 * sh: the request's stream-goal slot (mb_stream_hash), or -1 for "work it
 * out here"; the window route hashed it already for mb_stream_goal, and a
 * second division cost ~5 instructions a window (aging:triangle:file
 * 1340.2 -> 1338.1, aging:8m64k:file 1228.0 -> 1226.7 a call).
 */
static inline __attribute__((always_inline)) void mb_use_marked_as(struct mb_ac *ac,
								    struct mb_group *grp, int64_t sh)
{
	struct mb_volume *vol = ac->vol;

	ac->f_len = ac->b_ex.fe_len;
	ac->status = MB_AC_FOUND;
	if (ac->flags & MB_STREAM_ALLOC) {
		uint32_t h = sh >= 0 ? (uint32_t)sh
				     : (uint32_t)(ac->file->f_ino % vol->nr_stream_goals);

		atomic_store_explicit(&vol->stream_goals[h], ac->b_ex.fe_group,
				      memory_order_relaxed);
	}
	if (ac->pa_obj && ac->b_ex.fe_len > ac->o_ex.fe_len)
		mb_new_preallocation_locked(ac, grp);
	/* mb_group_mark_disk_used_locked, on the slot this call looked up */
	mb_group_mark_disk_locked(grp, ac->b_ex.fe_start, ac->b_ex.fe_len);
	mb_free_counter_consume_slot(ac->slot, ac->b_ex.fe_len, ac->flags); /* U does not move */
}

static inline __attribute__((always_inline)) void mb_use_marked_locked(struct mb_ac *ac,
									struct mb_group *grp)
{
	mb_use_marked_as(ac, grp, -1);
}

/*
 * ext4_mb_use_best_found: trims the best extent to the goal, marks it used
 * in the buddy and -- seed fix 2 -- turns any surplus into a PA before the
 * group lock is dropped.  The request's own share is marked on disk here
 * too, so no other thread ever sees blocks that are used in the buddy but
 * belong to nobody.  Under the legacy policy the PA is linked later, after
 * the lock was dropped, as ext4 did before 5.8.  order: that of the maximal
 * free chunk b_ex starts, when the scan read it off the buddy, else -1.
 * piece: b_ex as found is whole maximal chunks of the buddy (ext4's
 * measure from a chunk's start), which end at pe, so that the mark works
 * out the orders of its first and last chunks instead of looking them up
 * (mb_buddy_mark_piece_used); else pe is not read.
 */
static inline __attribute__((always_inline)) void
mb_use_found_as(struct mb_ac *ac, struct mb_group *grp, int order, bool piece, uint32_t pe)
{
	struct mb_volume *vol = ac->vol;

	mb_assert_locked(&grp->bb_lock);
	assert(!piece || pe == ac->b_ex.fe_start + ac->b_ex.fe_len);
	if (ac->b_ex.fe_len > ac->g_ex.fe_len)
		ac->b_ex.fe_len = ac->g_ex.fe_len;
	ac->b_ex.fe_logical = ac->g_ex.fe_logical;
	/* a PA's surplus is used in the buddy, not on disk: the group may need
	   its own in-core bitmap (gcache.c); without memory for it, no PA --
	   the request takes the front of what was found */
	if (ac->pa_obj && ac->b_ex.fe_len > ac->o_ex.fe_len &&
	    mb_pa_unshare_locked(ac, grp, ac->b_ex.fe_len))
		ac->b_ex.fe_len = ac->o_ex.fe_len;
	/* trimmed or not, b_ex starts the chunk the scan found (order >= 0) */
	if (piece)
		mb_buddy_mark_piece_used(vol, grp, ac->b_ex.fe_start, ac->b_ex.fe_len, pe);
	else
		mb_buddy_mark_found_used(vol, grp, ac->b_ex.fe_start, ac->b_ex.fe_len, order);
	mb_use_marked_locked(ac, grp);
}

/* noinline: so the plain mark has one caller, which LTO inlines it into
   (with the piece's copy beside it gcc made it a call: aged:256 +24
   instructions a call) */
static __attribute__((noinline)) void mb_use_found_locked(struct mb_ac *ac, struct mb_group *grp,
							  int order)
{
	mb_use_found_as(ac, grp, order, false, 0);
}

/* The same for a best that is one of the long scan's pieces: from a run's
   start or the last piece's end to pe, the end of a maximal chunk
   (mb_long_piece) */
static __attribute__((noinline)) void mb_use_piece_found_locked(struct mb_ac *ac,
								struct mb_group *grp, uint32_t pe)
{
	mb_use_found_as(ac, grp, -1, true, pe);
}

/*
 * mb_use_found_locked for the one-block scan's take (mb_scan_one_block_locked):
 * one block, the first of the maximal free chunk of order k the scan
 * listed.  Whatever was asked (a goal cut to one block may be less than
 * the request), one block is no surplus over it: no PA of the rest, as
 * mb_use_found_locked finds.
 */
static void mb_use_one_found_locked(struct mb_ac *ac, struct mb_group *grp, int k)
{
	mb_assert_locked(&grp->bb_lock);
	assert(ac->g_ex.fe_len == 1 && ac->o_ex.fe_len >= 1 && ac->b_ex.fe_len == 1u << k);
	ac->b_ex.fe_len = 1;
	ac->b_ex.fe_logical = ac->g_ex.fe_logical;
	mb_buddy_mark_one_used(ac->vol, grp, ac->b_ex.fe_start, k);
	mb_use_marked_locked(ac, grp);
}

void mb_use_best_found_locked(struct mb_ac *ac, struct mb_group *grp)
{
	mb_use_found_locked(ac, grp, -1);
}

/*
 * ext4_mb_check_limits' verdict, the search for goal blocks still going on in group g:
 * stop (mb_max_to_scan extents measured), take the best (it reaches the
 * goal and lies in g, and the group is done or more than mb_min_to_scan
 * were measured), or go on.  Shared by mb_check_limits_locked and the
 * measure's inline copy of it (mb_scan_measure_at_locked).
 */
enum mb_limits { MB_LIMITS_GO_ON, MB_LIMITS_BREAK, MB_LIMITS_TAKE };

static inline __attribute__((always_inline)) enum mb_limits
mb_limits_verdict(const struct mb_ac *ac, mb_grp_t g, uint32_t goal, bool finish)
{
	const struct mb_volume *vol = ac->vol;

	if (ac->found > MB_READ_ONCE(vol->t.mb_max_to_scan) && !(ac->flags & MB_HINT_FIRST))
		return MB_LIMITS_BREAK;
	if (ac->b_ex.fe_len >= goal &&
	    (finish || ac->found > MB_READ_ONCE(vol->t.mb_min_to_scan)) && ac->b_ex.fe_group == g)
		return MB_LIMITS_TAKE;
	return MB_LIMITS_GO_ON;
}

/* ext4_mb_check_limits: decide when to stop. */
static __attribute__((noinline)) void mb_check_limits_locked(struct mb_ac *ac, struct mb_group *grp,
							   bool finish)
{
	if (ac->status == MB_AC_FOUND)
		return;
	switch (mb_limits_verdict(ac, mb_group_no(ac->vol, grp), ac->g_ex.fe_len, finish)) {
	case MB_LIMITS_BREAK:
		ac->status = MB_AC_BREAK;
		break;
	case MB_LIMITS_TAKE:
		mb_use_best_found_locked(ac, grp);
		break;
	case MB_LIMITS_GO_ON:
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* Scanning one group                                                        */
/* ------------------------------------------------------------------------ */

/* CR_POWER2_ALIGNED: the buddy names a free 2^k chunk directly. */
static void mb_simple_scan_group_locked(struct mb_ac *ac, struct mb_group *grp, mb_grp_t g)
{
	struct mb_volume *vol = ac->vol;

	for (int k = ac->ac_2order; k <= vol->max_order; k++) {
		mb_grpblk_t start;

		if (!grp->bb_counters[k])
			continue;
		if (mb_buddy_first_free_chunk(vol, grp, k, &start)) {
			mb_group_set_corrupt_locked(vol, grp);
			return;
		}
		ac->found++;
		ac->b_ex = (struct mb_fex){ g, (mb_grpblk_t)start, 1u << k, 0 };
		mb_use_found_locked(ac, grp, k); /* the buddy named its order */
		mb_stat_inc(vol, MB_ST_2N_HITS);
		return;
	}
}

/*
 * The shortest free run the complex scan measures next.  The cheap
 * criteria skip runs shorter than the goal with a bit scan, unmeasured.
 * From CR_GOAL_LEN_SLOW on ext4 measures every run and counts it toward
 * mb_min_to_scan / mb_max_to_scan (rule 5).  Departure mb_slow_skip_short:
 * CR_GOAL_LEN_SLOW skips runs not longer than the best so far while it is
 * short, so mb_max_to_scan counts only real candidates and a fitting run
 * behind hundreds of crumbs is still found.
 */
static bool mb_scan_skips_short(const struct mb_ac *ac)
{
	return ac->criteria == MB_CR_GOAL_LEN_SLOW && ac->b_ex.fe_len < ac->g_ex.fe_len &&
	       MB_READ_ONCE(ac->vol->t.mb_slow_skip_short);
}

static uint32_t mb_scan_need(const struct mb_ac *ac)
{
	if (ac->criteria < MB_CR_GOAL_LEN_SLOW)
		return ac->g_ex.fe_len;
	return mb_scan_skips_short(ac) ? ac->b_ex.fe_len + 1 : 1;
}

/* mb_scan_measure_at_locked's rare ends, out of line and tail calls:
   vol->bpg, where the walk ends */
static __attribute__((noinline)) uint32_t mb_scan_take_locked(struct mb_ac *ac,
							      struct mb_group *grp)
{
	mb_use_best_found_locked(ac, grp);
	return ac->vol->bpg;
}

static __attribute__((noinline)) uint32_t mb_scan_corrupt_locked(struct mb_volume *vol,
								 struct mb_group *grp)
{
	mb_group_set_corrupt_locked(vol, grp); /* counters disagree */
	return vol->bpg;
}

/*
 * Measures the free extent at i, where a run of `known` blocks or more
 * starts (0: i may even be used; len its measure if known, else 0), and
 * judges it: ext4_mb_measure_extent (keep the best) and
 * mb_check_limits_locked(.., false), their takes of the best deferred to
 * a tail call -- nothing between them reads the group.  Returns where the
 * walk resumes, or vol->bpg when the group was flagged corrupt or the best
 * taken.
 */
static uint32_t mb_scan_measure_at_locked(struct mb_ac *ac, struct mb_group *grp, uint32_t i,
					  uint32_t len, uint32_t known, uint32_t *free)
{
	struct mb_volume *vol = ac->vol;
	struct mb_fex *bex = &ac->b_ex;
	uint32_t goal = ac->g_ex.fe_len;

	if (!len)
		len = known ? mb_buddy_find_extent_known(vol, grp, i, goal, known)
			    : mb_buddy_find_extent(vol, grp, i, goal);
	if (!len || len > *free)
		return mb_scan_corrupt_locked(vol, grp); /* counters disagree */

	struct mb_fex ex = { mb_group_no(vol, grp), i, len, ac->g_ex.fe_logical };

	*free -= len;
	ac->found++;
	mb_stat_cr(vol, ac->criteria, 2, 1);
	if ((ac->flags & MB_HINT_FIRST) || len == goal) {
		*bex = ex;
		return mb_scan_take_locked(ac, grp);
	}
	if (bex->fe_len == 0) {
		*bex = ex;
	} else if (bex->fe_len < goal) {
		if (len > bex->fe_len)
			*bex = ex; /* short of the goal: longer is better */
	} else if (len >= goal && len < bex->fe_len) {
		*bex = ex; /* satisfied: the smallest that still fits */
	}
	/* mb_check_limits_locked(ac, grp, false), the status CONTINUE (the
	   callers measure only then), its take a tail call */
	switch (mb_limits_verdict(ac, ex.fe_group, goal, false)) {
	case MB_LIMITS_BREAK:
		ac->status = MB_AC_BREAK;
		break;
	case MB_LIMITS_TAKE:
		return mb_scan_take_locked(ac, grp);
	case MB_LIMITS_GO_ON:
		break;
	}
	return i + len;
}

/* ext4_mb_complex_scan_group: walk free runs from bb_first_free. */
static void mb_complex_walk_group_locked(struct mb_ac *ac, struct mb_group *grp)
{
	struct mb_volume *vol = ac->vol;
	uint32_t free = grp->bb_free;
	uint32_t i = grp->bb_first_free;

	while (free && ac->status == MB_AC_CONTINUE) {
		i = mb_find_next_zero_bit(grp->bb_bitmap, vol->bpg, i);
		if (i >= vol->bpg)
			break;
		uint32_t need = mb_scan_need(ac);

		if (need > 1) {
			uint32_t lim = vol->bpg - i > need ? i + need : vol->bpg;
			uint32_t j = mb_find_next_bit(grp->bb_bitmap, lim, i);

			if (j - i < need) {
				free -= j - i < free ? j - i : free;
				i = j;
				continue;
			}
		}
		i = mb_scan_measure_at_locked(ac, grp, i, 0, 0, &free);
	}
	if (mb_group_corrupt(grp))
		return;
	mb_check_limits_locked(ac, grp, true);
}

/*
 * A bulk count broke off (mb_max_to_scan) in grp, having just made the
 * first of grp's longest counted runs the best.  The criteria loop would
 * end there, and mb_try_best_found would lock grp again, measure that run
 * anew and take what is left of it.  Under the lock still held the run is
 * as counted (the measure could only return its length), so it is taken
 * now: one lock hold, no second measure.  Not with mb_stats on, whose
 * counters tell a break from a hit.  Most of drain's calls end so.
 */
static inline void mb_take_best_on_break_locked(struct mb_ac *ac, struct mb_group *grp)
{
	if (MB_READ_ONCE(ac->vol->t.mb_stats))
		return;
	assert(mb_buddy_find_extent(ac->vol, grp, ac->b_ex.fe_start, ac->b_ex.fe_len) ==
	       ac->b_ex.fe_len);
	mb_use_best_found_locked(ac, grp);
}

/*
 * Finds, from i, the next run of `want` blocks (returned; vol->bpg if
 * none) and accounts at once for the shorter runs before it, each measured
 * by the walk (need 1): it counts them, keeps the first of the longest
 * while the best is short, and stops after the run that takes `found` past
 * mb_max_to_scan (status BREAK), as the walk would.
 */
static uint32_t mb_scan_short_runs_locked(struct mb_ac *ac, struct mb_group *grp, uint32_t i,
					  uint32_t want)
{
	struct mb_volume *vol = ac->vol;
	struct mb_runsum_scan sc;
	uint32_t max = MB_READ_ONCE(vol->t.mb_max_to_scan);
	/* runs until BREAK: max - found + 1, at least 1, at most UINT32_MAX
	   (max - found is below it unless found is 0) */
	uint32_t left = ac->found < max ? max - ac->found : 0;

	left += left < UINT32_MAX;
	/* only a run longer than a short best matters: the walk need not
	   look inside parts whose runs are all no longer */
	uint32_t floor = ac->b_ex.fe_len < ac->g_ex.fe_len ? ac->b_ex.fe_len : UINT32_MAX;

	mb_runsum_scan_above(vol, grp, i, want, left, floor, &sc);
	if (!sc.runs)
		return sc.next;
	ac->found += sc.runs;
	mb_stat_cr(vol, ac->criteria, 2, sc.runs);
	/* longer than a short best: the floor (none is longer than UINT32_MAX,
	   the floor when the best is not short), not the best read again
	   after the walk (on main 4853e77: drain 1774 -> 1772, aged:256 2153 ->
	   2150, cell:aged90:256:zero:20 2114 -> 2111 instructions a call) */
	bool mine = sc.longest > floor;

	if (mine)
		ac->b_ex = (struct mb_fex){ mb_group_no(vol, grp), sc.at, sc.longest,
					    ac->g_ex.fe_logical };
	if (ac->found > max && !(ac->flags & MB_HINT_FIRST)) {
		ac->status = MB_AC_BREAK;
		if (mine)
			mb_take_best_on_break_locked(ac, grp);
	}
	assert(!sc.stopped || ac->status != MB_AC_CONTINUE);
	return sc.next;
}

/*
 * The walk for a one-block goal in a fresh search below CR_GOAL_LEN_SLOW:
 * it would measure extent after extent from bb_first_free, keeping the
 * first shortest, until one of one block (taken at once) or until `found`
 * makes mb_check_limits decide.  mb_buddy_scan1 lists those extents with
 * word ops; they are accounted for at once, with the walk's result.
 */
static bool mb_scan_one_block_applies(const struct mb_ac *ac)
{
	return ac->g_ex.fe_len == 1 && ac->criteria < MB_CR_GOAL_LEN_SLOW && !ac->b_ex.fe_len &&
	       !(ac->flags & MB_HINT_FIRST);
}

static void mb_scan_one_block_locked(struct mb_ac *ac, struct mb_group *grp)
{
	struct mb_volume *vol = ac->vol;
	uint32_t max = MB_READ_ONCE(vol->t.mb_max_to_scan);
	uint32_t min = MB_READ_ONCE(vol->t.mb_min_to_scan);
	uint64_t decide = (uint64_t)(max < min ? max : min) + 1; /* found that decides */
	uint64_t n = ac->found < decide ? decide - ac->found : 1;
	struct mb_scan1 s;

	mb_buddy_scan1(vol, grp, grp->bb_first_free, n < UINT32_MAX ? (uint32_t)n : UINT32_MAX,
		       grp->bb_free, &s);
	ac->found += s.count;
	mb_stat_cr(vol, ac->criteria, 2, s.count);
	if (s.count)
		ac->b_ex = (struct mb_fex){ mb_group_no(vol, grp), s.start, s.len,
					    ac->g_ex.fe_logical };
	if (s.over)
		mb_group_set_corrupt_locked(vol, grp); /* counters disagree */
	else if (s.len == 1)
		mb_use_one_found_locked(ac, grp, 0); /* a maximal chunk of order 0 */
	/* else mb_check_limits_locked(.., true) decides as the walk's last one
	   would have, at `decide` found or at the group's end; inline, the
	   status CONTINUE as at entry, the tunable read again as there, and no
	   MB_HINT_FIRST: past mb_max_to_scan a break, else the best, if any,
	   is this group's of the goal's one block.  On 9f55451 raw:1 1021.9
	   -> 1014.4 instructions a call; the caller returning at once after
	   this (no test of the status) moved drain's walk +45 (registers) */
	else if (ac->found > MB_READ_ONCE(vol->t.mb_max_to_scan))
		ac->status = MB_AC_BREAK;
	else if (s.count)
		mb_use_one_found_locked(ac, grp, __builtin_ctz(s.len));
	/* the takes above hand the mark the order of the chunk it starts: from
	   bb_first_free, a run's first block, every extent the walk measures
	   is a maximal chunk of 2^order blocks at its start (test_buddy's
	   scan1 tests); the mark's own lookup of it cost raw:1 34
	   instructions a call.  Its one block is marked by the closed form of
	   such a take (mb_buddy_mark_one_used: raw:1 928 -> 878 before the
	   one-block fast path, mb_alloc_one_fast) */
}

/*
 * mb_complex_jump_group_locked's scan for CR_GOAL_LEN_FAST's own visits
 * (mb_visit_long_group), a goal of two blocks or more: the run tree names
 * each run of the goal's length or more and where it ends
 * (mb_runsum_next_long_end), and its pieces are measured as
 * mb_scan_measure_at_locked would, in the same order and with the same
 * verdicts; but the best,
 * `found`, the free count and the tunables stay in registers across the
 * measures, and the measures' statistics are counted once.  The jump's
 * loop kept all in ac and called the measure, ~180 instructions a visit
 * (aging:triangle, ~2.5 measures a visit).  This copy is for a tree not
 * all fresh at the visit's start: each run from a walk of its own that
 * flushes and mends what it reaches; a fresh tree's is
 * mb_scan_long_runs_fresh, its measures inside one walk.
 */
static __attribute__((noinline)) void mb_scan_long_runs_stale(struct mb_ac *ac,
							     struct mb_group *grp)
{
	struct mb_volume *vol = ac->vol;
	const uint32_t goal = ac->g_ex.fe_len, bpg = vol->bpg;
	const uint32_t max = MB_READ_ONCE(vol->t.mb_max_to_scan);
	const uint32_t min = MB_READ_ONCE(vol->t.mb_min_to_scan);
	/* below it no verdict but the group's end: the first test of each */
	const uint32_t decide = max < min ? max : min;
	/* a piece this long or less is taken at once: with MB_HINT_FIRST
	   (take UINT32_MAX) any, else one of the goal's length */
	const uint32_t take = ac->flags & MB_HINT_FIRST ? UINT32_MAX : goal;
	const mb_grp_t g = mb_group_no(vol, grp);
	/* every piece holds the goal (mb_long_piece), so ext4's rule against
	   a best short of it (none, or less: any piece is longer) picks the
	   first piece, as against a best of UINT32_MAX blocks; against a best
	   of the goal or more, the shortest piece, the first of equals: one
	   test a piece (len < blen), and the best's start and length alone
	   in registers, written back when a piece replaced it (bstart set).
	   A best of the goal in this group is then one a piece made: one
	   that came in so would have been used at that visit's end (a group
	   is visited once a pass; a corrupt one's best is another group's),
	   asserted */
	uint32_t blen = ac->b_ex.fe_len < goal ? UINT32_MAX : ac->b_ex.fe_len;
	uint32_t bstart = UINT32_MAX; /* none replaced the best */
	const uint32_t found0 = ac->found;
	uint32_t found = found0, free = grp->bb_free;
	enum mb_limits verdict = MB_LIMITS_GO_ON;
	bool corrupt = false;
	const uint32_t cap = 1u << vol->max_order;

	assert(ac->criteria < MB_CR_GOAL_LEN_SLOW && goal > 1 && ac->status == MB_AC_CONTINUE);
	assert(ac->b_ex.fe_len < goal || ac->b_ex.fe_group != g);
	for (uint32_t i = grp->bb_first_free, e = 0;;) {
		/* the run tree names the next run of goal blocks or more, and
		   where it ends: its pieces are measured one after the other
		   while goal blocks are left, no walk between them (the walk
		   from a piece's end would name that end), each in closed
		   form (mb_long_piece, asserted against the buddy's measure) */
		uint32_t p = mb_runsum_next_long_end(vol, grp, i, goal, &e);

		if (p >= bpg)
			break;
		do {
			uint32_t len = mb_long_piece(p, e, goal, cap);

			assert(p == mb_runsum_next_long(vol, grp, i, goal) &&
			       len == mb_buddy_find_extent_known(vol, grp, p, goal, goal) &&
			       len >= goal);
			/* free less len, or len > free: one sub, its borrow */
			if (__builtin_sub_overflow(free, len, &free)) {
				corrupt = true; /* counters disagree */
				goto out;
			}
			found++;
			/* ext4_mb_measure_extent's rules, as mb_scan_measure_at_locked:
			   len == goal (len >= goal) or first, one test */
			if (len <= take) { /* the best, whatever it was */
				ac->b_ex = (struct mb_fex){ g, p, len, ac->g_ex.fe_logical };
				verdict = MB_LIMITS_TAKE;
				goto taken;
			}
			if (len < blen) {
				blen = len;
				bstart = p;
			}
			/* mb_limits_verdict(.., false), with no MB_HINT_FIRST here */
			if (MB_UNLIKELY(found > decide)) {
				if (found > max) {
					verdict = MB_LIMITS_BREAK;
					goto out;
				}
				if (bstart != UINT32_MAX) { /* found > min */
					verdict = MB_LIMITS_TAKE;
					goto out;
				}
			}
			i = p += len;
		} while (e - p >= goal);
		/* the next walk starts where the last piece ended when that
		   starts a leaf of the run tree (MB_RUNSUM_LEAF_BLOCKS: the
		   walk starts at the largest fresh node there), else at the
		   run's end, the rest of the run's words not read (on main cc34c1d,
		   aging:triangle 3445 instructions a call from the run's end
		   always, 3373 from the piece's end always, 3370 so) */
		if (p % MB_RUNSUM_LEAF_BLOCKS)
			i = e;
	}
out:
	if (bstart != UINT32_MAX) /* a piece replaced the best */
		ac->b_ex = (struct mb_fex){ g, bstart, blen, ac->g_ex.fe_logical };
taken:
	ac->found = found;
	mb_stat_cr(vol, ac->criteria, 2, found - found0);
	if (corrupt) {
		mb_group_set_corrupt_locked(vol, grp);
		return;
	}
	if (verdict == MB_LIMITS_GO_ON) {
		/* the group's end: mb_check_limits_locked(.., true) on the
		   locals, the status CONTINUE (as at entry) and the tunable read
		   again as there; its call reloaded all from ac (on 6b0f919:
		   aging:triangle 2620.8 -> 2612.1 instructions a call) */
		if (found > MB_READ_ONCE(vol->t.mb_max_to_scan) && take != UINT32_MAX)
			verdict = MB_LIMITS_BREAK;
		else if (bstart != UINT32_MAX)
			verdict = MB_LIMITS_TAKE;
	}
	/* the best is one of the pieces: from a run's start or the last
	   piece's end, to the end of a maximal chunk (mb_long_piece) */
	if (verdict == MB_LIMITS_TAKE)
		mb_use_piece_found_locked(ac, grp, ac->b_ex.fe_start + ac->b_ex.fe_len);
	else if (verdict == MB_LIMITS_BREAK)
		ac->status = MB_AC_BREAK; /* and so mb_check_limits_locked(.., true) */
}

/*
 * The scan in a tree all fresh when the visit begins (mb_runsum_long_begin
 * true), which stays so while the group's lock is held: its measures taken
 * inside one walk of the group (mb_runsum_long_measure_fresh, inline
 * here), which names each run of the goal as it goes on past the last, and
 * stops at the first verdict -- the same runs in the same order, the same
 * pieces, verdicts and end as mb_scan_long_runs_stale's.  Before, its runs
 * came in batches of eight from a walk out of line (the measures' loop
 * reading them from an array, two frames, and a walk that could not stop
 * at a verdict), or, for goals under 64 blocks, from a walk inline a run
 * at a time (aging:triangle 2415 -> 2359, cell:aged90:256:rand:20 2363 ->
 * 2307, cell:aged50:256:next:20 1210 -> 1186 instructions a call).  The
 * walk's measures kept out of line (a call from the walk, the state in a
 * struct): aging:triangle 2402.
 */
static __attribute__((noinline)) void mb_scan_long_runs_fresh(struct mb_ac *ac,
							     struct mb_group *grp)
{
	struct mb_volume *vol = ac->vol;
	const uint32_t goal = ac->g_ex.fe_len;
	const uint32_t max = MB_READ_ONCE(vol->t.mb_max_to_scan);
	const uint32_t min = MB_READ_ONCE(vol->t.mb_min_to_scan);
	struct mb_long_scan m = {
		.goal = goal,
		.decide = max < min ? max : min,
		.max = max,
		.cap = 1u << vol->max_order,
		.blen = ac->b_ex.fe_len < goal ? UINT32_MAX : ac->b_ex.fe_len,
		.bstart = UINT32_MAX,
		.found = ac->found,
		.free = grp->bb_free,
	};

	assert(ac->criteria < MB_CR_GOAL_LEN_SLOW && goal > 1 && ac->status == MB_AC_CONTINUE);
	assert(ac->b_ex.fe_len < goal || ac->b_ex.fe_group != mb_group_no(vol, grp));
	assert(!(ac->flags & MB_HINT_FIRST)); /* mb_scan_long_runs_locked */
	int end = mb_runsum_long_measure_fresh(vol, grp, &m);
	/* the group's number where the best is written, and ac->found the
	   count at entry until the pieces are counted: neither held across
	   the walk (aging:triangle 2308 -> 2299 instructions a call) */
	const mb_grp_t g = mb_group_no(vol, grp);

	/* the pieces kept are the buddy's measures there */
	assert(end != MB_LONG_TAKEN ||
	       m.tlen == mb_buddy_find_extent_known(vol, grp, m.tstart, goal, goal));
	assert(m.bstart == UINT32_MAX ||
	       m.blen == mb_buddy_find_extent_known(vol, grp, m.bstart, goal, goal));
	if (end == MB_LONG_TAKEN)
		ac->b_ex = (struct mb_fex){ g, m.tstart, m.tlen, ac->g_ex.fe_logical };
	else if (m.bstart != UINT32_MAX) /* a piece replaced the best */
		ac->b_ex = (struct mb_fex){ g, m.bstart, m.blen, ac->g_ex.fe_logical };
	mb_stat_cr(vol, ac->criteria, 2, m.found - ac->found);
	ac->found = m.found;
	if (end == MB_LONG_CORRUPT) {
		mb_group_set_corrupt_locked(vol, grp);
		return;
	}
	if (end == MB_LONG_GO_ON) {
		/* the group's end, as mb_scan_long_runs_stale's (no MB_HINT_FIRST) */
		if (m.found > MB_READ_ONCE(vol->t.mb_max_to_scan))
			end = MB_LONG_BREAK;
		else if (m.bstart != UINT32_MAX)
			end = MB_LONG_BEST;
	}
	if (end == MB_LONG_TAKEN || end == MB_LONG_BEST) /* a piece, as the stale copy's */
		mb_use_piece_found_locked(ac, grp, ac->b_ex.fe_start + ac->b_ex.fe_len);
	else if (end == MB_LONG_BREAK)
		ac->status = MB_AC_BREAK;
}

/*
 * A request with MB_HINT_FIRST goes to the stale copy whatever its tree:
 * it takes its first piece, one measure, and the fresh copy's walk then
 * has the goal for the length taken at once (a piece of the goal exactly)
 * -- one register fewer across its measures, whose spills around each run
 * it named cost aging:triangle 2208.4 -> 2198.9 instructions a call.
 */
static inline void mb_scan_long_runs_locked(struct mb_ac *ac, struct mb_group *grp)
{
	if (!mb_runsum_long_begin(ac->vol, grp) || MB_UNLIKELY(ac->flags & MB_HINT_FIRST))
		mb_scan_long_runs_stale(ac, grp);
	else
		mb_scan_long_runs_fresh(ac, grp);
}

/* The jump's end: a verdict taken (FOUND), or BREAK -- set only when found
   passed mb_max_to_scan with no MB_HINT_FIRST, as mb_check_limits_locked
   would find again: nothing left to decide, and no call (drain 1895 ->
   1885 instructions a call).  The tunable not read again here: a write
   since may move it */
static inline void mb_complex_jump_end_locked(struct mb_ac *ac, struct mb_group *grp)
{
	assert(ac->status != MB_AC_BREAK || !(ac->flags & MB_HINT_FIRST));
	if (ac->status != MB_AC_CONTINUE || mb_group_corrupt(grp))
		return;
	mb_check_limits_locked(ac, grp, true);
}

/*
 * The same walk, jumping: the run tree (runsum.c) names the next run the
 * walk would measure, and a stretch of runs the walk would measure one by
 * one without a decision (all shorter than the goal) is accounted for at
 * once.  Where a measure may decide -- a run of goal length or more, the
 * first run under MB_HINT_FIRST, a best of goal length in this group
 * waiting for mb_min_to_scan -- it measures exactly as the walk does.
 * This is its loop, from block i (a run's start, or bb_first_free) with
 * free blocks not yet measured; mb_complex_jump_group_locked starts it.
 */
static void mb_complex_jump_from_locked(struct mb_ac *ac, struct mb_group *grp, uint32_t i,
					uint32_t free)
{
	struct mb_volume *vol = ac->vol;

	while (i < vol->bpg && ac->status == MB_AC_CONTINUE) {
		/* every run is measured (need 1 but not a skip-short best of 0).
		   The group's number and need only where read: each worked
		   out ahead of the test cost on main 0449a65 drain 1775 -> 1782,
		   cell:aged90:256:zero:20 2114 -> 2124, aged:256 2176 -> 2181
		   instructions a call */
		bool bulk = ac->criteria >= MB_CR_GOAL_LEN_SLOW && !mb_scan_skips_short(ac) &&
			    !(ac->flags & MB_HINT_FIRST) &&
			    !(ac->b_ex.fe_len >= ac->g_ex.fe_len &&
			      ac->b_ex.fe_group == mb_group_no(vol, grp));
		uint32_t want = bulk ? ac->g_ex.fe_len : mb_scan_need(ac), p, len = 0;

		/* any free block will do (no shorter runs): a bit scan, and a
		   one-block goal's measure comes with it */
		if (want == 1)
			p = ac->g_ex.fe_len == 1 ? mb_buddy_next_extent1(vol, grp, i, &len)
						 : mb_find_next_zero_bit(grp->bb_bitmap, vol->bpg, i);
		else if (bulk)
			p = mb_scan_short_runs_locked(ac, grp, i, want);
		else
			p = mb_runsum_next_long(vol, grp, i, want);
		if (ac->status != MB_AC_CONTINUE || p >= vol->bpg)
			break;
		i = mb_scan_measure_at_locked(ac, grp, p, len, want > 1 ? want : 0, &free);
	}
	mb_complex_jump_end_locked(ac, grp);
}

/* The jump from bb_first_free, the one-block goal's scan first when it applies */
static void mb_complex_jump_group_locked(struct mb_ac *ac, struct mb_group *grp)
{
	if (mb_scan_one_block_applies(ac)) {
		mb_scan_one_block_locked(ac, grp); /* the walk is done */
		mb_complex_jump_end_locked(ac, grp);
		return;
	}
	mb_complex_jump_from_locked(ac, grp, grp->bb_first_free, grp->bb_free);
}

static void mb_complex_scan_group_locked(struct mb_ac *ac, struct mb_group *grp)
{
	if (MB_READ_ONCE(ac->vol->t.mb_scan_summary))
		mb_complex_jump_group_locked(ac, grp);
	else
		mb_complex_walk_group_locked(ac, grp);
}

/* mb_lock_group found grp's lock held; b: lock_busy as it sampled it. */
static __attribute__((noinline)) bool mb_lock_group_busy(struct mb_ac *ac, struct mb_group *grp,
							   bool may_skip, uint32_t b)
{
	_Atomic uint32_t *busy = &ac->vol->lock_busy;

	if (b < MB_LOCK_BUSY_MAX)
		atomic_store_explicit(busy, b + 1, memory_order_relaxed);
	if (may_skip && !(ac->flags & MB_STRICT_CHECK))
		return false;
	mb_lock(&grp->bb_lock);
	return true;
}

/*
 * Takes grp's lock, or -- when a busy group may be skipped and this is not
 * a strict retry -- only if it is free.  Returns whether it is held.
 * Inline: the lock is free on almost every call, and that path is short.
 */
static inline bool mb_lock_group(struct mb_ac *ac, struct mb_group *grp, bool may_skip)
{
	_Atomic uint32_t *busy = &ac->vol->lock_busy;
	uint32_t b = atomic_load_explicit(busy, memory_order_relaxed);

	/* ext4_lock_group's contention estimate: down when the lock was free
	   (no write when already 0: the common case stays a shared read), up
	   when somebody held it (mb_lock_group_busy).  Racy updates only blur
	   an estimate. */
	if (MB_LIKELY(!mb_trylock(&grp->bb_lock))) {
		if (b)
			atomic_store_explicit(busy, b - 1, memory_order_relaxed);
		return true;
	}
	return mb_lock_group_busy(ac, grp, may_skip, b);
}

/* Loads grp's bitmaps (bb_lock held); a failed read is remembered in ac. */
static int mb_ac_load_locked(struct mb_ac *ac, struct mb_group *grp)
{
	int err = mb_group_load_locked(ac->vol, grp);

	if (err && err != -EUCLEAN)
		ac->load_err = err;
	return err;
}

/*
 * Looks at one group that passed (or, on a strict retry, skipped) the
 * unlocked prefilter: takes its lock, loads it, judges it there -- the
 * verdict that counts -- and scans it.  Out of line: the set walks inline
 * the prefilter and call this only for a group worth a lock.  No clone
 * either: gcc, given one call site more, cloned it for a constant cr and
 * left the group scan out of the clone (a call per visit).  A copy of its
 * own for the linear passes (on 3628fb8, the scans forced inline in both)
 * left the run tree's count out of line: drain 1700 -> 1748; on cc01883
 * one for the linear criteria beside one for the set walks' (the scans'
 * criterion a constant in each) moved drain +28, raw:1 +13,
 * cell:aged90:256:zero:20 +16 instructions a call.
 */
/*
 * A group's visit by criterion cr, before its scan: its lock, load and
 * verdict.  Whether to scan it (its lock then held).  Always inline, and
 * the scan not in it: each scan keeps one caller, so it stays inline
 * there (one scan called from a shared body moved drain 1900 -> 1934
 * instructions a call).
 */
static inline __attribute__((always_inline)) bool mb_visit_enter(struct mb_ac *ac,
								 struct mb_group *grp, int cr)
{
	/*
	 * ext4 6.17: below CR_ANY_FREE a group whose lock is taken is skipped
	 * -- someone is working there, and the next group serves as well.  It
	 * keeps concurrent writers' windows in different groups (so their
	 * preallocation hits do not share a lock) and costs nothing at ENOSPC:
	 * the last criterion and every strict retry wait for each lock.
	 */
	if (!mb_lock_group(ac, grp, cr < MB_CR_ANY_FREE))
		return false;
	if (mb_ac_load_locked(ac, grp) || !mb_good_group_inline(ac, grp, cr)) {
		mb_unlock(&grp->bb_lock);
		return false;
	}
	ac->groups_scanned++;
	mb_stat_inc(ac->vol, MB_ST_GROUPS_SCANNED);
	return true;
}

static inline bool mb_visit_built(const struct mb_group *grp);

/*
 * mb_visit_enter for CR_GOAL_LEN_FAST's own visits (mb_visit_long_group),
 * whose callers (mb_scan_goal_len_fast_np2, mb_scan_goal_len_fast_on)
 * visit only a group whose counters they just found good by
 * mb_good_group_inline(.., MB_CR_GOAL_LEN_FAST), with nothing between.
 * With one thread nobody can have changed them since, and a group built
 * already (mb_visit_built) takes no load that could: the locked verdict
 * would repeat the prefilter's, and is not taken again (aging:triangle
 * ~11 instructions a visit).  With threads, or a load due, as
 * mb_visit_enter.
 */
static inline __attribute__((always_inline)) bool mb_visit_enter_prefiltered(struct mb_ac *ac,
									     struct mb_group *grp)
{
	if (!mb_lock_group(ac, grp, true))
		return false;
	if (!MB_SINGLE_THREADED() || !mb_visit_built(grp)) {
		if (mb_ac_load_locked(ac, grp) ||
		    !mb_good_group_inline(ac, grp, MB_CR_GOAL_LEN_FAST)) {
			mb_unlock(&grp->bb_lock);
			return false;
		}
	}
	/* the verdict that counts holds, taken or known */
	assert(mb_good_group_inline(ac, grp, MB_CR_GOAL_LEN_FAST));
	ac->groups_scanned++;
	mb_stat_inc(ac->vol, MB_ST_GROUPS_SCANNED);
	return true;
}

/* The visit after its scan: the lock given back, and the statistics. */
static inline __attribute__((always_inline)) void mb_visit_leave(struct mb_ac *ac,
								 struct mb_group *grp, int cr)
{
	mb_unlock(&grp->bb_lock);
	if (ac->pa_created) /* legacy: the race-2 window closes here (a test: no call) */
		mb_pa_after_unlock(ac);
	if (ac->status == MB_AC_FOUND)
		mb_stat_cr(ac->vol, cr, 0, 1);
}

static __attribute__((noinline)) MB_NOCLONE void mb_visit_group(struct mb_ac *ac,
							       struct mb_group *grp, mb_grp_t g,
							       int cr)
{
	if (!mb_visit_enter(ac, grp, cr))
		return;
	if (cr == MB_CR_POWER2_ALIGNED)
		mb_simple_scan_group_locked(ac, grp, g);
	else
		mb_complex_scan_group_locked(ac, grp);
	mb_visit_leave(ac, grp, cr);
}

/*
 * mb_visit_group for CR_GOAL_LEN_FAST's own walk (mb_scan_goal_len_fast,
 * mb_scan_goal_len_fast_on) with a goal of two blocks or more: the group's
 * scan is mb_scan_long_runs_locked when the run tree is on.  A function
 * of its own, so that mb_visit_group, every other criterion's, has no
 * test of which scan (one branch more in it moved drain 1967 -> 1984 and
 * aged:256 2397 -> 2422 instructions a call).  Inline in
 * mb_scan_goal_len_fast_np2 (summary true), whose members come only after
 * mb_scan_indexed read mb_scan_summary on (the plain walk and the run
 * tree's decide alike: that read stands for the visit's): no frame of its
 * own, no second read (aging:triangle 2127.6 -> 2108.6 instructions a
 * call).  The tunable read here first (summary false) out of line
 * (mb_visit_long_group).  Its part past the tunable a function of its
 * own, the wrapper calling it: drain, aged:256 and the aged cells +5 to
 * +8 (GCC's inlining elsewhere).
 */
static inline __attribute__((always_inline)) void mb_visit_long_group_as(struct mb_ac *ac,
									 struct mb_group *grp,
									 mb_grp_t g, bool summary)
{
	if (MB_UNLIKELY(!summary && !MB_READ_ONCE(ac->vol->t.mb_scan_summary))) {
		mb_visit_group(ac, grp, g, MB_CR_GOAL_LEN_FAST); /* the plain walk */
		return;
	}
	if (!mb_visit_enter_prefiltered(ac, grp))
		return;
	mb_scan_long_runs_locked(ac, grp);
	mb_visit_leave(ac, grp, MB_CR_GOAL_LEN_FAST);
}

static __attribute__((noinline)) void mb_visit_long_group(struct mb_ac *ac, struct mb_group *grp,
							  mb_grp_t g)
{
	mb_visit_long_group_as(ac, grp, g, false);
}

/*
 * A linear visit where the group's scan would only count runs: from
 * CR_GOAL_LEN_SLOW on, with no skip of short runs, no MB_HINT_FIRST and a
 * best still short of the goal (> 1 block), mb_complex_jump_group_locked's
 * first step is the bulk count from bb_first_free (mb_scan_short_runs_locked).
 * When the run tree's fresh root answers that count -- no run of the goal,
 * fewer runs than take `found` past mb_max_to_scan -- it is the whole scan:
 * the runs counted, the first of the longest kept if longer than the best,
 * no BREAK, and mb_check_limits_locked(.., true) returns at the short best.
 * Drain's and the aged cells' groups of crumbs before the one that decides
 * are mostly these.  Whether the first step is that count (max: the
 * tunable as read; found <= max, tested by the caller).  The linear pass
 * works it out from what it already knows (mb_visit_linear_count) and is
 * asserted against this, the reference: unused where asserts are off.
 */
static inline __attribute__((unused)) bool mb_visit_may_count(const struct mb_ac *ac)
{
	uint32_t goal = ac->g_ex.fe_len;

	return ac->criteria >= MB_CR_GOAL_LEN_SLOW && ac->b_ex.fe_len < goal && goal > 1 &&
	       !(ac->flags & MB_HINT_FIRST) && !mb_scan_skips_short(ac) &&
	       MB_READ_ONCE(ac->vol->t.mb_scan_summary);
}

/*
 * That count done here (true) when the fresh root answers it, else nothing
 * (false); left: the runs until BREAK, *room + 1 (mb_linear_room), which
 * the count takes its runs off.
 */
static inline bool mb_visit_counts_locked(struct mb_ac *ac, struct mb_volume *vol,
					  struct mb_group *grp, mb_grp_t g, uint32_t left,
					  uint32_t *room)
{
	struct mb_runsum_scan sc;

	if (!mb_runsum_scan_fresh_root(vol, grp, ac->g_ex.fe_len, left, &sc))
		return false;
	ac->found += sc.runs;
	*room -= sc.runs; /* fewer than left: found stays <= max */
	/* the runs measured and the group scanned: one read of mb_stats */
	if (MB_UNLIKELY(MB_READ_ONCE(vol->t.mb_stats))) {
		mb_stat_cr(vol, ac->criteria, 2, sc.runs);
		mb_stat_inc(vol, MB_ST_GROUPS_SCANNED);
	}
	if (sc.longest > ac->b_ex.fe_len)
		ac->b_ex = (struct mb_fex){ g, sc.at, sc.longest, ac->g_ex.fe_logical };
	return true;
}

/* grp's buddy is built and current (no load due): bb_buddy read plain,
   so with no other thread, or bb_lock held */
static inline bool mb_visit_built_as(const struct mb_group *grp, uint32_t state)
{
	return (state & (MB_GRP_NEED_INIT | MB_GRP_TRACKED)) == MB_GRP_TRACKED && grp->bb_buddy;
}

static inline bool mb_visit_built(const struct mb_group *grp)
{
	return mb_visit_built_as(grp, atomic_load_explicit(&grp->bb_state, memory_order_relaxed));
}

/*
 * With threads, whether grp's lock is biased to this thread and grp built:
 * then held (by the bias), else not.  Taken without the trylock's nested
 * test: this search holds no group lock (debug builds check the rank).
 * Held so, the group's verdict is the caller's prefilter, as with one
 * thread: nobody else held the lock since that read.  The bias read ours
 * at this entry was ours all along since the read: any other holder
 * clears it (revokes) before it touches the group, and only this thread's
 * own unlock of this lock sets it back to us (mb_mutex_streak), which it
 * did not do in between (a trylock's revoke that finds us inside puts it
 * back having touched nothing).  The writes before the grant were seen by
 * the word's acquire in the grant's hold.  No epoch needed, unlike
 * mb_held_alone_since, whose holder dropped the lock since its measure.
 */
static inline __attribute__((always_inline)) bool mb_visit_lock_built_biased(struct mb_group *grp)
{
	struct mb_lock_thr *me = mb_lock_me();

	if (!mb_lock_if_biased_at(&grp->bb_lock, MB_RANK_GROUP, me))
		return false;
	if (MB_LIKELY(mb_visit_built(grp)))
		return true;
	mb_unlock_biased_at(&grp->bb_lock, MB_RANK_GROUP, me);
	return false;
}

/*
 * How many runs the linear pass may count before the one that breaks
 * (mb_max_to_scan, as max): max - found, or 0 once found reached it.
 * Kept by the pass between visits -- only a count (which takes its runs
 * off) or a visit changes found -- so that a group's hint is one compare,
 * not found's load and two: with vol passed down to the count and no test
 * of free for 0 in the prefilter, drain 1675 -> 1662,
 * cell:aged90:256:zero:20 1958 -> 1939 instructions a call.
 */
static inline uint32_t mb_linear_room(const struct mb_ac *ac, uint32_t max)
{
	return ac->found < max ? max - ac->found : 0;
}

/*
 * The rest of mb_visit_linear_bulk's visit when its count did not end the
 * search, under the group's lock (held: taken already): the jump's loop
 * from the run of the goal the count found (p; vol->bpg: none), as
 * mb_complex_jump_group_locked goes on after its first count, and the
 * visit's end.  Out of line: rare, and its loop holds a copy of the count.
 */
static __attribute__((noinline)) void mb_visit_linear_go_on(struct mb_ac *ac, struct mb_group *grp,
							    int cr, uint32_t p, bool held)
{
	if (!held)
		mb_lock(&grp->bb_lock);
	uint32_t free = grp->bb_free;

	if (p < ac->vol->bpg)
		p = mb_scan_measure_at_locked(ac, grp, p, 0, ac->g_ex.fe_len, &free);
	mb_complex_jump_from_locked(ac, grp, p, free);
	mb_visit_leave(ac, grp, cr);
}

/*
 * A linear visit entered with no lock to take (one thread, the group
 * built) or with a lock biased to this thread: the contention estimate
 * as for a lock found free (mb_lock_group), and the group counted
 * scanned.  The prefilter's verdict stands (nothing could change it).
 */
static inline __attribute__((always_inline)) void
mb_visit_entered_free(struct mb_volume *vol, struct mb_ac *ac, struct mb_group *grp, int cr)
{
	_Atomic uint32_t *busy = &vol->lock_busy;
	uint32_t b = atomic_load_explicit(busy, memory_order_relaxed);

	assert(mb_good_group_inline(ac, grp, cr));
	(void)grp;
	(void)cr;
	if (b)
		atomic_store_explicit(busy, b - 1, memory_order_relaxed);
	ac->groups_scanned++;
	mb_stat_inc(vol, MB_ST_GROUPS_SCANNED);
}

/*
 * The end of a linear count's visit (mb_visit_linear_bulk_fresh, no lock
 * held; mb_visit_linear_bulk_held, the group's lock held;
 * mb_visit_linear_bulk, either): the runs
 * counted, the longest kept when above the floor, and at mb_max_to_scan a
 * BREAK that takes it (the lock taken first when not held), else the pass
 * goes on from where the count stopped.
 */
static inline __attribute__((always_inline)) void
mb_visit_lean_end(struct mb_ac *ac, struct mb_group *grp, mb_grp_t g, int cr,
		  const struct mb_runsum_scan *sc, uint32_t floor, uint32_t max, bool held)
{
	if (sc->runs) {
		bool mine = sc->longest > floor;

		ac->found += sc->runs;
		mb_stat_cr(ac->vol, cr, 2, sc->runs);
		if (mine)
			ac->b_ex = (struct mb_fex){ g, sc->at, sc->longest, ac->g_ex.fe_logical };
		if (ac->found > max) { /* no MB_HINT_FIRST (mb_visit_may_count) */
			ac->status = MB_AC_BREAK;
			if (!held && !mine)
				return;
			if (!held)
				mb_lock(&grp->bb_lock);
			if (mine)
				mb_take_best_on_break_locked(ac, grp);
			mb_visit_leave(ac, grp, cr);
			return;
		}
	}
	mb_visit_linear_go_on(ac, grp, cr, sc->next, held);
}

/*
 * mb_visit_linear_bulk for a group whose count is mb_runsum_count_fresh's
 * (mb_linear_fresh: one thread, the group built, its tree fresh at the
 * root and its runs long -- the aged cells'), the visit taking no lock
 * but for a take: its count's walk a lean one (inline here too), not the
 * generic walk mb_visit_linear_bulk inlines.  A function of its own, so
 * that the other's code stays as it was: the choice inside it cost drain
 * +54, aged:256:5000 +84 instructions a call (GCC's registers).  Its end
 * after the count is mb_visit_lean_end's with held false.
 */
static __attribute__((noinline)) void mb_visit_linear_bulk_fresh(struct mb_ac *ac,
								 struct mb_group *grp, mb_grp_t g,
								 int cr, uint32_t room)
{
	struct mb_volume *vol = ac->vol;
	struct mb_runsum_scan sc;

	mb_visit_entered_free(vol, ac, grp, cr); /* as mb_visit_linear_bulk's, no lock held */
	const uint32_t floor = ac->b_ex.fe_len;
	const uint32_t max = MB_READ_ONCE(vol->t.mb_max_to_scan);

	assert(mb_visit_may_count(ac) && room == mb_linear_room(ac, max));
	mb_runsum_count_fresh(vol, grp, ac->g_ex.fe_len, room + (room < UINT32_MAX), floor, &sc);
	mb_visit_lean_end(ac, grp, g, cr, &sc, floor, max, false);
}

/* Whether mb_visit_linear_bulk_fresh counts grp, a group of long runs
   (mb_runsum_long_runs) with one thread (state: bb_state as the
   prefilter read it): no other thread marks its tree */
static inline bool mb_linear_fresh(const struct mb_volume *vol, const struct mb_group *grp,
				   uint32_t state)
{
	assert(MB_SINGLE_THREADED());
	return mb_visit_built_as(grp, state) && mb_runsum_root_fresh(vol, grp);
}

/*
 * mb_visit_group for a linear pass's group whose scan starts with the bulk
 * count (mb_visit_may_count, as *may from mb_linear_may; room:
 * mb_linear_room as the pass keeps it; state: bb_state as the prefilter
 * read it), that count -- mb_scan_short_runs_locked's from bb_first_free
 * -- inline here: most of drain's and the aged cells' searches end in it
 * (BREAK).  With one thread and the group built, no lock for it either:
 * the verdict is the prefilter's and nobody can touch the group (as in
 * mb_visit_linear_count); only a take of the best or a scan past the
 * count (a run of the goal found, or the group's end) locks; with
 * threads, as mb_visit_group.  Against mb_visit_group's lock, verdict and
 * complex scan around the count, on eccc2f6: drain 1387 -> 1308,
 * cell:aged90:256:zero:20 1943 -> 1890, cell:aged90:256:rand:20 2331 ->
 * 2272, aged:256:5000 2041 -> 2013 instructions a call (threaded: drain
 * 1467 -> 1386, cell:aged90:256:zero:20 2053 -> 2006).  The count inline
 * in both (mb_runsum_scan_above), and the loop past it out of line in
 * both (mb_complex_jump_from_locked): the count out of line here cost
 * cell:aged90:256:zero:20 +11, the loop inline in both threaded raw:1
 * +25.
 */
static __attribute__((noinline)) void mb_visit_linear_bulk(struct mb_ac *ac, struct mb_group *grp,
							   mb_grp_t g, int cr, uint32_t room,
							   uint32_t state)
{
	struct mb_volume *vol = ac->vol;
	const bool held = !MB_SINGLE_THREADED() || !mb_visit_built_as(grp, state);
	struct mb_runsum_scan sc;

	/* with threads, a lock biased here skips the verdict, as in
	   mb_visit_linear_count (mb_visit_lock_built_biased) */
	if (!held || (!MB_SINGLE_THREADED() && mb_visit_lock_built_biased(grp))) {
		mb_visit_entered_free(vol, ac, grp, cr);
	} else if (!mb_visit_enter(ac, grp, cr)) {
		return;
	}
	const uint32_t floor = ac->b_ex.fe_len;
	const uint32_t max = MB_READ_ONCE(vol->t.mb_max_to_scan);

	assert(mb_visit_may_count(ac) && room == mb_linear_room(ac, max));
	mb_runsum_scan_above(vol, grp, grp->bb_first_free, ac->g_ex.fe_len,
			     room + (room < UINT32_MAX), floor, &sc);
	mb_visit_lean_end(ac, grp, g, cr, &sc, floor, max, held);
}

/*
 * mb_visit_linear_bulk with threads for a group of long runs
 * (mb_runsum_long_runs, the unlocked hint): its lock taken as there --
 * biased to this thread and the group built, or mb_visit_enter's lock,
 * load and verdict -- and then the count mb_runsum_count_locked's, which
 * tests the root's freshness under that lock: the lean walk of
 * mb_visit_linear_bulk_fresh with threads (the lock it holds is what
 * makes the root's word the tree's: one thread cannot read it while
 * another marks; on b1dd5b0 threaded: cell:aged90:256:zero:20 2004 ->
 * 1931, cell:aged90:256:rand:20 2275 -> 2210 instructions a call).  The
 * end is mb_visit_lean_end's with held true.  Hot: its one caller is
 * cold (mb_visit_linear_bulk_thr), and GCC would else lay it out and
 * build it for size (threaded +5).
 */
static __attribute__((noinline, hot)) void mb_visit_linear_bulk_held(struct mb_ac *ac,
								struct mb_group *grp, mb_grp_t g,
								int cr, uint32_t room)
{
	struct mb_volume *vol = ac->vol;
	struct mb_runsum_scan sc;

	if (mb_visit_lock_built_biased(grp)) {
		mb_visit_entered_free(vol, ac, grp, cr);
	} else if (!mb_visit_enter(ac, grp, cr)) {
		return;
	}
	const uint32_t floor = ac->b_ex.fe_len;
	const uint32_t max = MB_READ_ONCE(vol->t.mb_max_to_scan);

	assert(mb_visit_may_count(ac) && room == mb_linear_room(ac, max));
	mb_runsum_count_locked(vol, grp, ac->g_ex.fe_len, room + (room < UINT32_MAX), floor, &sc);
	mb_visit_lean_end(ac, grp, g, cr, &sc, floor, max, true);
}

/* mb_visit_linear_bulk_held, a jump to it alone: cold, so that GCC keeps
   the choice's registers in mb_visit_linear_bulk_pick as they were (its
   call there moved the group's number for every visit: drain, aged:256
   and the aged cells +1 instruction a call); the jump costs the threaded
   aged cells one */
static __attribute__((noinline, cold)) void mb_visit_linear_bulk_thr(struct mb_ac *ac,
								     struct mb_group *grp,
								     mb_grp_t g, int cr,
								     uint32_t room)
{
	mb_visit_linear_bulk_held(ac, grp, g, cr, room);
}

/* mb_visit_linear_bulk, mb_visit_linear_bulk_fresh or, with threads,
   mb_visit_linear_bulk_held, a tail call to each: the linear pass's code
   stays as it was (its choice inline there cost drain and aged:256:5000
   +15 instructions a call) */
static __attribute__((noinline)) void mb_visit_linear_bulk_pick(struct mb_ac *ac,
								struct mb_group *grp, mb_grp_t g,
								int cr, uint32_t room, uint32_t state)
{
	if (!mb_runsum_long_runs(grp)) /* first: drain's groups fail it */
		mb_visit_linear_bulk(ac, grp, g, cr, room, state);
	else if (!MB_SINGLE_THREADED())
		mb_visit_linear_bulk_thr(ac, grp, g, cr, room);
	else if (mb_linear_fresh(ac->vol, grp, state))
		mb_visit_linear_bulk_fresh(ac, grp, g, cr, room);
	else
		mb_visit_linear_bulk(ac, grp, g, cr, room, state);
}

/*
 * mb_visit_may_count with what the linear pass knows (*may: -1 until
 * worked out, again after each visit): ac->criteria is cr, mb_scan_summary
 * was on (mb_scan_indexed), and with the best short of the goal
 * mb_scan_skips_short is skip_short (drain 1744 -> 1728,
 * cell:aged90:256:zero:20 2057 -> 2043 instructions a call)
 */
static inline __attribute__((always_inline)) bool mb_linear_may(const struct mb_ac *ac, int cr,
								int *may, bool skip_short)
{
	if (*may < 0) {
		uint32_t goal = ac->g_ex.fe_len;

		*may = ac->b_ex.fe_len < goal && goal > 1 && !(ac->flags & MB_HINT_FIRST) &&
		       !skip_short;
		assert(ac->criteria == cr &&
		       (!MB_SINGLE_THREADED() || *may == mb_visit_may_count(ac)));
	}
	(void)cr;
	return *may;
}

/*
 * mb_visit_group for the linear passes (mb_scan_linear_indexed) when the
 * group's scan may only count (may: mb_visit_may_count as the pass last
 * read it; room: mb_linear_room as the pass keeps it): a group whose free
 * runs -- bb_fragments read unlocked as a hint -- are fewer than the runs
 * until BREAK gets mb_visit_group's lock (none with no other thread) and
 * verdict here, inline, and if the count is the whole scan
 * (mb_visit_counts_locked) is done without the call and the scan's
 * setup.  frags and state: the group's bb_fragments and bb_state as the
 * caller's prefilter read them (mb_linear_prefilter).  Returns false for
 * any other, which the caller sends to mb_visit_group (that takes the
 * lock again after a wrong hint).  A group counted or skipped leaves the
 * status CONTINUE (the count stops short of BREAK).
 */
static inline __attribute__((always_inline)) bool
mb_visit_linear_count(struct mb_ac *ac, struct mb_volume *vol, struct mb_group *grp, mb_grp_t g,
		      int cr, int *may, uint32_t *room, uint32_t frags, uint32_t state,
		      bool skip_short)
{
	/* the hint first: most groups that fail fail it.  A room of 0 (found
	   at max or past it) fails every group: the prefilter passed only
	   groups with runs */
	assert(cr < MB_CR_GOAL_LEN_SLOW || frags);
	if (cr < MB_CR_GOAL_LEN_SLOW || frags > *room)
		return false;
	if (!mb_linear_may(ac, cr, may, skip_short))
		return false;
	/* as mb_scan_short_runs_locked: runs until BREAK, max - found + 1 */
	uint32_t left = *room + (*room < UINT32_MAX);

	/* the verdict that counts is the locked one; but with no other thread
	   and the group built already (no load to recount it) it is the
	   prefilter's, which the caller just took on the same counters -- and
	   nothing can change the group or hold its lock while the count reads
	   it, so the count takes no lock: the lock's word stored and cleared
	   for nothing, and the thread tested three times, cost
	   cell:aged90:256:zero:20 33 and drain 22 instructions a call.  The
	   contention estimate moves as for a lock found free
	   (mb_lock_group).  With threads, bb_buddy is the first load's to
	   write under bb_lock: not read here */
	if (MB_SINGLE_THREADED() && mb_visit_built_as(grp, state)) {
		_Atomic uint32_t *busy = &vol->lock_busy;
		uint32_t b = atomic_load_explicit(busy, memory_order_relaxed);

		if (b)
			atomic_store_explicit(busy, b - 1, memory_order_relaxed);
		if (!mb_visit_counts_locked(ac, vol, grp, g, left, room))
			return false;
		ac->groups_scanned++;
		return true;
	}
	/* with threads, a group whose lock is biased here skips the verdict
	   (mb_visit_lock_built_biased): cell:aged90:256:zero:20 2295 -> 2245,
	   drain 1905 -> 1873 instructions a call threaded, one thread +3 */
	if (!MB_SINGLE_THREADED() && mb_visit_lock_built_biased(grp)) {
		_Atomic uint32_t *busy = &vol->lock_busy;
		uint32_t b = atomic_load_explicit(busy, memory_order_relaxed);

		if (b)
			atomic_store_explicit(busy, b - 1, memory_order_relaxed);
	} else {
		if (!mb_lock_group(ac, grp, cr < MB_CR_ANY_FREE))
			return true;
		if (mb_ac_load_locked(ac, grp) || !mb_good_group_inline(ac, grp, cr)) {
			mb_unlock(&grp->bb_lock);
			return true;
		}
	}
	assert(mb_good_group_inline(ac, grp, cr));
	if (!mb_visit_counts_locked(ac, vol, grp, g, left, room)) {
		mb_unlock(&grp->bb_lock);
		return false;
	}
	ac->groups_scanned++;
	mb_unlock(&grp->bb_lock);
	return true;
}

/*
 * Looks at one group (the caller counts it as considered).  The first pass
 * prefilters without the lock; under
 * MB_STRICT_CHECK (a retry, seq policy) the verdict is taken under the lock
 * only, so a group whose PAs are being returned is never wrongly skipped.
 */
static void mb_try_group(struct mb_ac *ac, mb_grp_t g, int cr)
{
	struct mb_volume *vol = ac->vol;
	struct mb_group *grp = mb_group_at(vol, g);

	if (!(ac->flags & MB_STRICT_CHECK) && !mb_good_group_inline(ac, grp, cr)) {
		MB_HOOK(vol, MB_HOOK_GOOD_GROUP_CHECKED, g, cr);
		return;
	}
	mb_visit_group(ac, grp, g, cr);
}

/* ------------------------------------------------------------------------ */
/* Choosing groups                                                           */
/* ------------------------------------------------------------------------ */

static bool mb_should_optimize(const struct mb_ac *ac, int cr)
{
	return MB_READ_ONCE(ac->vol->t.mb_optimize_scan) && cr <= MB_CR_BEST_AVAIL_LEN;
}

/*
 * May a pass jump through the group indexes (free_ge, largest_ge, avg_ge)?
 * Only where the plain pass would judge groups without their lock (not on
 * a strict retry), with the speed structures on (mb_scan_summary), and
 * with no test hook that waits for a group's unlocked verdict (a jump
 * never judges the groups it skips).
 */
static bool mb_scan_indexed(const struct mb_ac *ac)
{
	return !(ac->flags & MB_STRICT_CHECK) && MB_READ_ONCE(ac->vol->t.mb_scan_summary) &&
	       !ac->vol->hook_fn;
}

/*
 * mb_scan_set's walk when the prefilter may run inline (mb_scan_indexed):
 * a rejected group costs its counters' loads and a compare -- no call, no
 * hook to fire, no set lookup: the walk goes on through the members of
 * the level-0 word it read, and reads the word again only after a visit
 * (which may move groups) or to go to the next word.  Same groups in the
 * same order as the plain walk, the same verdicts, the same count
 * considered (added once, at the end).  always_inline: each caller passes
 * a constant cr, so the prefilter is that criterion's test.
 */
static inline __attribute__((always_inline)) void
mb_scan_set_hinted(struct mb_ac *ac, const struct mb_gset *set, int cr, mb_grp_t from,
		   mb_grp_t end)
{
	struct mb_volume *vol = ac->vol;
	uint64_t n = 0;

	for (uint32_t g = mb_gset_next_near(set, from); g < end;) {
		_Atomic uint64_t *word = &set->lvl[0][g >> 6];
		uint32_t base = g & ~63u;
		/* the members at or past g (g itself: next() just saw it), below end */
		uint64_t keep = end - base < 64 ? (1ULL << (end - base)) - 1 : ~0ULL;
		uint64_t w = ((atomic_load_explicit(word, memory_order_relaxed) | (1ULL << (g & 63))) &
			      (~0ULL << (g & 63))) & keep;

		do {
			g = base + (uint32_t)__builtin_ctzll(w);
			w &= w - 1;
			n++;
			struct mb_group *grp = mb_group_at(vol, g);

			if (!mb_good_group_inline(ac, grp, cr))
				continue;
			mb_visit_group(ac, grp, g, cr);
			if (ac->status != MB_AC_CONTINUE)
				goto out;
			/* the visit may have moved groups: the word again, past g */
			w = atomic_load_explicit(word, memory_order_relaxed) & (~1ULL << (g & 63)) & keep;
		} while (w);
		if (base + 64 >= end)
			break; /* no lookup past the range */
		g = mb_gset_next_near(set, base + 64);
	}
out:
	mb_stat_cr(vol, cr, 1, n);
}

/*
 * mb_scan_set_hinted for CR_GOAL_LEN_FAST's first set, avg_set[ilog2(goal)],
 * when the goal's sub j (mb_int.h, avg_hi) is not 0: only the members also
 * in hi (avg_hi's bitmap of j) are judged -- the others' average is below
 * the goal (group_sets.c), so the prefilter would reject them all -- a word
 * of 64 groups at a time.  The same groups visited in the same order, and,
 * with mb_stats on, the same count considered: the members the plain walk
 * passes, counted a word at a time up to each visited group.
 */
static inline __attribute__((always_inline)) void
mb_scan_set_hinted_hi(struct mb_ac *ac, const struct mb_gset *set, const _Atomic uint64_t *hi,
		      int cr, mb_grp_t from, mb_grp_t end)
{
	struct mb_volume *vol = ac->vol;
	bool count = MB_READ_ONCE(vol->t.mb_stats);
	uint64_t n = 0;

	for (uint32_t g = mb_gset_next_near(set, from); g < end;) {
		_Atomic uint64_t *word = &set->lvl[0][g >> 6];
		const _Atomic uint64_t *hw = &hi[g >> 6];
		uint32_t base = g & ~63u;
		uint64_t keep = end - base < 64 ? (1ULL << (end - base)) - 1 : ~0ULL;
		uint64_t w = ((atomic_load_explicit(word, memory_order_relaxed) | (1ULL << (g & 63))) &
			      (~0ULL << (g & 63))) & keep;

		for (;;) {
			uint64_t c = w & atomic_load_explicit(hw, memory_order_relaxed);

			if (!c) {
				n += count ? (uint64_t)__builtin_popcountll(w) : 0;
				break;
			}
			uint32_t b = (uint32_t)__builtin_ctzll(c);
			uint64_t upto = (2ULL << b) - 1; /* bits 0..b (all at b = 63) */

			n += count ? (uint64_t)__builtin_popcountll(w & upto) : 0;
			w &= ~upto;
			g = base + b;
			struct mb_group *grp = mb_group_at(vol, g);

			if (mb_good_group_inline(ac, grp, cr)) {
				mb_visit_group(ac, grp, g, cr);
				if (ac->status != MB_AC_CONTINUE)
					goto out;
				/* the visit may have moved groups: the word again, past g */
				w = atomic_load_explicit(word, memory_order_relaxed) & ~upto & keep;
			}
			if (!w)
				break;
		}
		if (base + 64 >= end)
			break; /* no lookup past the range */
		g = mb_gset_next_near(set, base + 64);
	}
out:
	mb_stat_cr(vol, cr, 1, n);
}

/*
 * The plain walk of `set`'s members in [from, end): mb_try_group for each
 * (a strict retry, a test hook, or mb_scan_summary off).  Out of line, so
 * that it costs the hinted walks' callers no registers.
 */
static __attribute__((noinline)) void mb_scan_set_plain(struct mb_ac *ac,
							const struct mb_gset *set, int cr,
							mb_grp_t from, mb_grp_t end)
{
	uint32_t g = mb_gset_next(set, from);

	while (g < end && ac->status == MB_AC_CONTINUE) {
		mb_stat_cr(ac->vol, cr, 1, 1);
		mb_try_group(ac, g, cr);
		if (g + 1 >= end || ac->status != MB_AC_CONTINUE)
			break; /* no lookup for a next group once one decided */
		g = mb_gset_next(set, g + 1);
	}
}

/*
 * Visits the sets of orders lo..hi: every order over [goal, ngroups) first,
 * then every order over [0, goal), as ext4 6.17 does -- so a group past the
 * goal is preferred to a better-sized one behind it (fewer far jumps).
 * always_inline into one function per criterion (below): cr is a constant.
 */
static inline __attribute__((always_inline)) void
mb_scan_orders_at(struct mb_ac *ac, const struct mb_gset *sets, const struct mb_gset *ge,
		  const _Atomic uint64_t *orders, int lo, int hi, int cr, mb_grp_t goal,
		  const _Atomic uint64_t *lo_hi, bool resume, int k0, mb_grp_t g0)
{
	/* lo_hi (a constant NULL but for one caller): the first set's walk
	   skips the members outside it (mb_scan_set_hinted_hi) */
	bool indexed = mb_scan_indexed(ac);

	if (lo > hi)
		return; /* a goal past the largest order: no set to visit */
	for (int pass = 0; pass < 2 && ac->status == MB_AC_CONTINUE; pass++) {
		mb_grp_t from = pass ? 0 : goal, end = pass ? goal : ac->vol->ngroups;
		/* resuming: the first pass goes on at order k0's set, from g0
		   (its range was looked at already) */
		bool at = resume && !pass;

		if (from >= end)
			continue; /* goal 0: the second pass has no groups */
		/* ge[lo] holds the members of every set visited here: when none
		   is in range, the pass would find every set empty there.  A
		   range to the volume's end needs only the top word's look (a
		   "yes" there that is wrong only costs the empty visits); the
		   whole volume (goal 0) none: `orders` below says as much. */
		if (!at && indexed && (from || end < ac->vol->ngroups) &&
		    (!mb_gset_any_from(&ge[lo], from) ||
		     (end < ac->vol->ngroups && mb_gset_next(&ge[lo], from) >= end)))
			continue;
		for (int k = at ? k0 : lo; k <= hi && ac->status == MB_AC_CONTINUE; k++) {
			/* the next order with a member, read after the last
			   set's visit (a visit may load a group and move it) */
			uint64_t m = atomic_load_explicit(orders, memory_order_relaxed) >> k;

			if (!m)
				break;
			k += __builtin_ctzll(m);
			if (k > hi)
				break;
			/* no mb_gset_any_from first: the set is not empty (its
			   bit in orders), and next() looks at from's word first */
			mb_grp_t s = at && k == k0 ? g0 : from;

			if (indexed && lo_hi && k == lo)
				mb_scan_set_hinted_hi(ac, &sets[k], lo_hi, cr, s, end);
			else if (indexed)
				mb_scan_set_hinted(ac, &sets[k], cr, s, end);
			else
				mb_scan_set_plain(ac, &sets[k], cr, s, end);
		}
	}
}

static inline __attribute__((always_inline)) void
mb_scan_orders(struct mb_ac *ac, const struct mb_gset *sets, const struct mb_gset *ge,
	       const _Atomic uint64_t *orders, int lo, int hi, int cr, mb_grp_t goal,
	       const _Atomic uint64_t *lo_hi)
{
	mb_scan_orders_at(ac, sets, ge, orders, lo, hi, cr, goal, lo_hi, false, 0, 0);
}

/*
 * No member in any set of order lo or more (lo <= max_order): mb_scan_orders
 * would find its loop over the orders empty at once in both passes.  The
 * callers look first, before the walk's set-up (a drained volume's case).
 */
static inline bool mb_orders_empty_from(const _Atomic uint64_t *orders, int lo)
{
	return !(atomic_load_explicit(orders, memory_order_relaxed) >> lo);
}

/* mb_scan_power2's walk past the group it looked at first: order k's set
   from g on, then the rest of mb_scan_orders' walk (k past max_order: its
   second pass alone). */
static __attribute__((noinline)) void mb_scan_power2_rest(struct mb_ac *ac, mb_grp_t goal, int k,
							  mb_grp_t g)
{
	struct mb_volume *vol = ac->vol;

	mb_scan_orders_at(ac, vol->largest_set, vol->largest_ge, &vol->largest_orders,
			  ac->ac_2order, vol->max_order, MB_CR_POWER2_ALIGNED, goal, NULL, true, k, g);
}

/* mb_scan_power2's walk whole, where it has no first step of its own.  Out
   of line, as the rest above: mb_scan_power2 then saves few registers. */
static __attribute__((noinline)) void mb_scan_power2_all(struct mb_ac *ac, mb_grp_t goal)
{
	struct mb_volume *vol = ac->vol;

	mb_scan_orders(ac, vol->largest_set, vol->largest_ge, &vol->largest_orders, ac->ac_2order,
		       vol->max_order, MB_CR_POWER2_ALIGNED, goal, NULL);
}

/*
 * CR_POWER2_ALIGNED's walk (mb_scan_orders), its first step inline: the
 * first member at or past the goal of the lowest order's set that has one.
 * On a volume with room that group answers, and the walk is a handful of
 * loads and one visit; otherwise mb_scan_power2_rest goes on from the next
 * member -- the same groups in the same order, the same count considered.
 */
static __attribute__((noinline)) void mb_scan_power2(struct mb_ac *ac, mb_grp_t goal)
{
	struct mb_volume *vol = ac->vol;
	int lo = ac->ac_2order;
	uint64_t m = atomic_load_explicit(&vol->largest_orders, memory_order_relaxed) >> lo;

	if (!m)
		return; /* mb_orders_empty_from (the caller looked: a set emptied since) */
	int k = lo + __builtin_ctzll(m);

	/* mb_scan_orders' first pass, [goal, ngroups): skipped when the
	   indexes say no set of order lo or more has a member there */
	if (!mb_scan_indexed(ac) || k > vol->max_order ||
	    (goal && !mb_gset_any_from(&vol->largest_ge[lo], goal))) {
		mb_scan_power2_all(ac, goal);
		return;
	}
	mb_grp_t g = mb_gset_next_near(&vol->largest_set[k], goal);

	/* a stream's goal (a file's request) is often past every member of
	   the lowest order's set: the first pass then visits nothing there,
	   and its first group is the first member at or past the goal of the
	   next order's set that has one.  Found here, a set's top word and
	   maybe a lookup an order (~270 instructions less a call than
	   mb_scan_power2_rest's walk of the empty sets; aging:8m64k:file) */
	while (g >= vol->ngroups) {
		m = atomic_load_explicit(&vol->largest_orders, memory_order_relaxed) >> k >> 1;
		if (!m || (k += 1 + __builtin_ctzll(m)) > vol->max_order) {
			k = vol->max_order + 1; /* the first pass has no group: the second's */
			break;
		}
		if (mb_gset_any_from(&vol->largest_set[k], goal))
			g = mb_gset_next_near(&vol->largest_set[k], goal);
	}
	if (g < vol->ngroups) {
		struct mb_group *grp = mb_group_at(vol, g);

		if (mb_good_group_inline(ac, grp, MB_CR_POWER2_ALIGNED))
			mb_visit_group(ac, grp, g, MB_CR_POWER2_ALIGNED);
		mb_stat_cr(vol, MB_CR_POWER2_ALIGNED, 1, 1);
		if (ac->status != MB_AC_CONTINUE)
			return;
		g++;
	}
	mb_scan_power2_rest(ac, goal, k, g);
}

/*
 * Would a request with no file reach mb_scan_power2's first step with the
 * indexes on, and nothing to count or report on the way?  Its length a
 * power of two 2^k the pass takes (mb_regular_allocator: 2^k no more than
 * a group, mb_order2_req) with k above MB_BUDDY_DERIVED (the chunks of
 * the orders below live in the bitmap, the regular path's case), no
 * goal to try first (neither TRY_GOAL nor GOAL_ONLY, goal or not), no
 * reservation of the caller's to use; mb_stats off (the done-probes off:
 * the caller's test, mb_alloc_anon_valid), no test hook, optimize_scan on
 * and no linear groups first (mb_scan_criterion); and a set for the pass
 * to walk.  Pure loads: a
 * "no" changes nothing.
 */
static int mb_alloc_regular_anon(struct mb_volume *vol, const struct mb_request *req,
				 struct mb_extent *out);

/* mb_scan_power2_fast_order's "no" for a request of one block: the one
   place that knows it without a test of its own (mb_alloc_one_fast) */
#define MB_P2_FAST_ONE_BLOCK (-2)

static inline int mb_scan_power2_fast_order(const struct mb_volume *vol,
					    const struct mb_request *req)
{
	uint32_t len = req->len;

	/* first what fails on other requests, and on a volume with no room
	   for the pass (mb_scan_power2 returns at once): a few instructions.
	   A power of two no more than 2^MB_BUDDY_DERIVED fails p2_fast_lo's
	   test below (mb_tunables_retune) */
	if (len & (len - 1))
		return -1;
	uint32_t lo = (uint32_t)__builtin_ctz(len);
	uint64_t m = atomic_load_explicit(&vol->largest_orders, memory_order_relaxed) >> lo;

	if (!m)
		return -1;
	/* p2_fast_lo: mb_order2_req, and UINT32_MAX for the tunables and the
	   hook that want the regular path (mb_tunables_retune).  lo <=
	   max_order (so len <= bpg) needs no test: largest_orders has no bit
	   above max_order, and one at lo or above is set.  TRY_GOAL and
	   GOAL_ONLY go to the regular path even without a goal (where they
	   change nothing: rare, and decided alike there), so that the test
	   is one mask, not the goal's compare and a select first */
	if (lo < MB_READ_ONCE(vol->p2_fast_lo) ||
	    (req->flags & (MB_HINT_DELALLOC_RESERVED | MB_HINT_TRY_GOAL | MB_HINT_GOAL_ONLY)))
		return lo ? -1 : MB_P2_FAST_ONE_BLOCK;
	return (int)lo + __builtin_ctzll(m);
}

/*
 * The first word from p on, below end, with a clear bit; end when none.
 * Eight words a test (two ANDs of four) while eight remain: an aged
 * group's first free block lies in a hole below the request, its chunks
 * of order k words on (cell:aged90:16:zero:4 read ~14 words a call at 8
 * instructions each: 559 -> 520 instructions a call; four a test, 523 with
 * no word inline first, 532 with).  Out of line: inline, it cost the fast
 * path's common case registers (cell:empty:256:zero:20 +6 a call).
 */
static __attribute__((noinline)) const uint64_t *mb_map_next_clear_word(const uint64_t *p,
									const uint64_t *end)
{
	for (; end - p >= 8; p += 8) {
		uint64_t a = p[0] & p[1] & p[2] & p[3];

		if (a != ~0ULL)
			goto found;
		if ((p[4] & p[5] & p[6] & p[7]) != ~0ULL) {
			p += 4;
			goto found;
		}
	}
	while (p < end && *p == ~0ULL)
		p++;
	return p;
found:
	while (*p == ~0ULL)
		p++;
	return p;
}

/*
 * mb_buddy_first_free_chunk's answer for an order k above
 * MB_BUDDY_DERIVED, which has its own map (a set bit: not a maximal free
 * chunk): the first clear bit from bb_first_free's chunk on, its block in
 * *start, or false when the counter's chunk is not there.  Here rather
 * than a call of it: a second caller made gcc stop inlining it into
 * mb_visit_group, where the regular path's power-of-two scan calls it (+13
 * instructions a visit).  A flag, not a signed start: the caller tested
 * the sign of a shifted block again.  always_inline: with mb_window_fast a
 * second caller, gcc made it a call here too (+17 instructions a call of
 * raw:16).
 */
static inline __attribute__((always_inline)) bool
mb_scan_power2_fast_chunk_at_locked(const struct mb_volume *vol, const struct mb_group *grp,
				    int k, uint32_t *start, uint64_t **kw, uint64_t *kbit)
{
	uint64_t *map = mb_buddy_order_map(vol, grp->bb_buddy, k);
	uint32_t first = grp->bb_first_free, i = first >> k, n = vol->mb_maxs[k];

	/* first < bpg (a free block) gives i < n with a chunk of order k
	   counted; else the test of mb_buddy_first_free_chunk's order: first
	   past the chunks but in the group, none to find; bpg (nothing
	   free), from the start.  Only an inconsistent group comes here */
	if (MB_UNLIKELY(i >= n)) {
		if (first < vol->bpg)
			return false;
		i = 0;
	}
	uint32_t w = i >> 6;
	uint64_t f = ~map[w] & (~0ULL << (i & 63));

	if (!f) {
		uint32_t nw = (n + 63) >> 6;

		/* the next word inline: many searches end there (a seq90
		   group's at its fill's end: cell:seq90:256:rand:20 484 -> 481
		   with it, aged90:16 513 -> 520) */
		if (++w < nw && map[w] == ~0ULL)
			w = (uint32_t)(mb_map_next_clear_word(map + w + 1, map + nw) - map);
		if (w >= nw)
			return false;
		f = ~map[w];
	}
	i = (w << 6) + (uint32_t)__builtin_ctzll(f);
	*start = i << k;
	*kw = &map[w];
	*kbit = f & -f; /* the chunk's bit: mb_buddy_mark_chunk_front_used_at */
	return i < n;
}

/*
 * mb_good_group_inline's CR_POWER2_ALIGNED verdict under the lock, for a
 * request of 2^lo blocks with flags and no context (the counters, not
 * corrupt, the flex group's first group kept from data, the order).
 */
static inline bool mb_power2_fast_good(const struct mb_volume *vol, struct mb_group *grp,
				       mb_grp_t g, uint32_t state, uint32_t flags, int lo)
{
	uint32_t flex = vol->geo.flex_bg;
	int top = grp->bb_largest_free_order;

	/* Under the lock the recorded orders are the counters' (a corrupt
	   group's all -1: mb_group_set_corrupt_locked, mb_group_update_orders),
	   so top >= lo says a free 2^top chunk: free >= 2^lo, frags > 0 and
	   not corrupt, the tests ext4 makes first, all pass -- one compare */
	assert(top < lo || (grp->bb_free >= 1u << lo && grp->bb_fragments &&
			    !(state & MB_GRP_CORRUPT) && grp->bb_counters[top]));
	(void)state;
	if (top < lo)
		return false;
	return !((flags & MB_HINT_DATA) && flex >= 4 && !(g & (flex - 1)));
}

static inline mb_grp_t mb_window_first_group(struct mb_volume *vol, int lo, mb_grp_t goal);

/*
 * mb_scan_power2_fast's first group when order k's set has no member from
 * the goal's group on (a random goal past them): the one mb_scan_power2's
 * walk visits first all the same -- the next orders' sets from the goal,
 * else the second pass's from group 0 -- as a window finds it
 * (mb_window_first_group); ngroups when the walk visits none.  Out of
 * line: the hot path keeps its registers.
 */
static __attribute__((noinline, cold)) mb_grp_t mb_power2_fast_far(struct mb_volume *vol, int lo,
								   mb_grp_t goal)
{
	return mb_window_first_group(vol, lo, goal);
}

/*
 * mb_scan_power2_fast's group when it is not built and counted in the
 * cache, grp's lock held: what the regular path's first visit would do
 * there (mb_scan_power2's prefilter, mb_visit_group's load and verdict),
 * when the load reads no bitmap -- an uninit group's first load
 * (pristine.c), a rebuild of dropped derived state -- as mb_window_judge_locked
 * does for a window.  The prefilter's test first, on the counters as they
 * are (synthesized before a first load: under the lock, the unlocked
 * prefilter's values); then the load, and the verdict on the counters it
 * built.  Whether the group is loaded and passes; a "no" leaves the
 * group as the regular path's visit would have left it (loaded or not),
 * and that path, given the same group first, decides alike: a bitmap to
 * read, or a load failing for memory, is its to make and remember
 * (ac->load_err).  Out of line and cold: ~1 call in a group's 2^15/len.
 */
static __attribute__((noinline, cold)) bool
mb_power2_fast_load_locked(struct mb_volume *vol, struct mb_group *grp, mb_grp_t g,
			   uint32_t flags, int lo)
{
	uint32_t state = atomic_load_explicit(&grp->bb_state, memory_order_relaxed);
	uint32_t free = grp->bb_free, frags = grp->bb_fragments, flex = vol->geo.flex_bg;

	/* mb_good_group_inline's CR_POWER2_ALIGNED test, goal 2^lo */
	if (!free || !frags || (state & MB_GRP_CORRUPT) ||
	    ((flags & MB_HINT_DATA) && flex >= 4 && !(g & (flex - 1))) || free < 1u << lo ||
	    grp->bb_largest_free_order < lo)
		return false;
	if ((state & MB_GRP_NEED_INIT) && !vol->store->ops->group_uninit(vol->store, g))
		return false;
	if (mb_group_load_locked(vol, grp))
		return false;
	state = atomic_load_explicit(&grp->bb_state, memory_order_relaxed);
	return mb_power2_fast_good(vol, grp, g, state, flags, lo);
}

/*
 * The lowest order from lo up with a free chunk in grp, its lock held.
 * bb_counters[bb_largest_free_order] is non-zero and that order is lo or
 * more (mb_power2_fast_good): the walk stops there at the latest.  Two
 * counters a load, the lower in the low half (little-endian); past the
 * first pair, a group whose free blocks all lie in chunks of its top order
 * (free = counters[top] * 2^top: no other counter can be non-zero) answers
 * top without a walk.  A group whole to split -- the random goals' first
 * touch of a group since it was emptied, 4 calls in 5 of
 * cell:empty:256:rand:20 -- walks from lo to its top order, 2^13 at
 * 4 KiB blocks (5 orders for 256 blocks): a counter a step cost it 25
 * instructions a call.  On main ff79f35: cell:empty:256:rand:20 580 ->
 * 564, cell:seq50:256:rand:20 503 -> 494, cell:empty:256:next:20 436 ->
 * 434, cell:seq90:256:rand:20 490 -> 488, aging:8m64k 893 -> 890 (the
 * pair read alone, without the whole-group test: empty rand 571, seq50
 * rand 497).  The pair read past the top order's counter ends in the
 * array: the top is max_order at most, 17 (64 KiB blocks), < MB_MAX_ORDERS - 1.
 */
static inline int mb_power2_fast_order_from(const struct mb_volume *vol,
					    const struct mb_group *grp, int lo)
{
	int k = lo;

	assert(vol->max_order < MB_MAX_ORDERS - 1);
	(void)vol;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t two;

	memcpy(&two, &grp->bb_counters[k], sizeof(two));
	if (MB_LIKELY(two))
		return k + !(uint32_t)two;
	int top = grp->bb_largest_free_order;

	if (grp->bb_free == grp->bb_counters[top] << top)
		return top;
	while (!two) {
		k += 2;
		memcpy(&two, &grp->bb_counters[k], sizeof(two));
	}
	return k + !(uint32_t)two;
#else
	while (!grp->bb_counters[k])
		k++;
	return k;
#endif
}

/*
 * mb_scan_power2_fast under the group's lock, its load and verdict taken:
 * the simple scan (mb_simple_scan_group_locked), the claim and what
 * mb_use_found_locked does for a request without a file (it takes the
 * chunk's front, makes no PA, has no stream goal, and nothing reserved:
 * the free counter does not move), the buddy's part in closed form
 * (mb_buddy_mark_chunk_front_used_at).  The claim is taken here, once the
 * blocks are in hand, as the PA fast path's (mb_resv_take_exact): only
 * when this CPU's share holds the whole request -- when the regular claim
 * would have been granted in full from the share too -- and never
 * settled, as exactly those blocks are marked used in this lock hold.
 * Returns the extent's first block in the group, or -1 when it took
 * nothing: then nothing changed but a buddy found inconsistent, flagged
 * corrupt as the scan would have.
 */
static inline __attribute__((always_inline)) int64_t
mb_scan_power2_fast_take_locked(struct mb_volume *vol, struct mb_group *grp, int lo,
				struct mb_lock_thr *me, bool one)
{
	int k = mb_power2_fast_order_from(vol, grp, lo);

	assert(k <= grp->bb_largest_free_order);
	uint32_t i = grp->bb_first_free >> k, start;
	uint64_t *kw = mb_buddy_order_map(vol, grp->bb_buddy, k) + (i >> 6), kbit = 1ULL << (i & 63);

	/* the chunk of order k that holds the first free block, its bit
	   clear (maximal and free): the first clear bit from there, the one
	   the search (mb_scan_power2_fast_chunk_at_locked) finds, found
	   without it.  Most calls: a group used from its front (every
	   cell's on an empty or seq volume, the zero goal's, a random
	   goal's group after its first call) has at its first free block
	   the back half the last take left, of the lowest order from lo
	   with a chunk; a whole group (the random goals' first touch of
	   one) a chunk of its top order.  Not past the counted chunks: a
	   first free block there is a group at odds with its counters (the
	   search's own test, and flag).  Else the search (an aged group's
	   first free block in a short run; seq90's group at the fill's end).
	   It replaced the test of a whole group: cell:empty:256:zero:20 403
	   -> 389, raw:256 413 -> 398, raw:16 354 -> 340, empty next 426 ->
	   412, seq50 rand 482 -> 474, aging:8m64k 831 -> 822; the failed
	   test and the search's inputs loaded again cost an aged group
	   (cell:aged90:16:zero:4 541 -> 555, aged50 next 1210 -> 1218) */
	if (MB_LIKELY(!(*kw & kbit) && i < vol->mb_maxs[k])) {
		start = i << k;
	} else {
		struct mb_group *sg = grp;

		/* the search's values its own, not kept from above (its inputs
		   loaded anew): kept, they cost the direct find registers and
		   stack stores */
		__asm__("" : "+r"(sg));
		if (!mb_scan_power2_fast_chunk_at_locked(vol, sg, k, &start, &kw, &kbit)) {
			mb_group_set_corrupt_locked(vol, grp);
			return -1;
		}
	}

	struct mb_pcpu *slot = mb_this_pcpu(vol);

	/* before the claim, undone if it fails: its bit and word then need
	   not wait on the stack across it */
	mb_buddy_chunk_leave(kw, kbit);
	mb_one_check(one);
	if (!(one ? mb_resv_take_exact_held(slot, 1u << lo, 1u << lo)
		  : mb_resv_take_exact_mt(slot, 1u << lo, 1u << lo, me))) {
		mb_buddy_chunk_unleave(kw, kbit);
		return -1;
	}
	mb_buddy_mark_chunk_front_used_anon(vol, grp, start, k, lo);
	mb_group_mark_disk_fast_locked(grp, start, 1u << lo);
	return start;
}

/*
 * The regular path of a request with no file that CR_POWER2_ALIGNED
 * serves from the first group its walk visits -- on an empty or lightly
 * used volume, almost every such request -- without an allocation
 * context: the steps mb_alloc_regular, mb_scan_power2, mb_visit_group and
 * mb_use_found_locked take, the same group, the same chunk -- that group
 * found past the goal's own word too (mb_power2_fast_far), and loaded
 * here when its load reads no bitmap (mb_power2_fast_load_locked).
 * Anything else -- another group needed, a bitmap to read, a lock taken,
 * a claim the share cannot grant -- declines, having changed nothing the
 * regular path would not do again, and the regular path decides (a group
 * whose bitmap must be read is left to it, so that a failing read is
 * tried once).
 * Returns mb_alloc's answer: a decline is a tail call of mb_alloc_regular_anon,
 * so that mb_alloc_anon, which tail-calls this, saves no register for the
 * requests that do not come here.
 */
static inline __attribute__((always_inline)) int
mb_scan_power2_fast(struct mb_volume *vol, const struct mb_request *req, struct mb_extent *out,
		    int k, bool one)
{
	int lo = __builtin_ctz(req->len);
	/* the goal's block from the data's start: MB_GOAL_NONE's lies past
	   every group, the first group's below bpg -- one compare for a goal
	   of group 0, the raw and zero-goal cells' (no shift first) */
	uint64_t gb = req->goal - vol->data_first;
	mb_grp_t goal = 0;

	assert(lo <= k && k <= vol->max_order);
	/* mb_gset_next_far without its test of goal against the set's size:
	   a valid goal's group is one of the ngroups the set holds; a miss in
	   goal's word goes on past it (mb_gset_next_past: no second look).
	   No look at largest_ge[lo] first: set k's members are all in it, so
	   where it has none from goal, neither has set k, and the search
	   declines alike (seq90 rand -13 a call).  Group 0 (no goal, or the
	   first group's) its own case: its word whole, no shift and mask */
	const struct mb_gset *set = &vol->largest_set[k];
	mb_grp_t g;

	if (gb < vol->bpg || req->goal == MB_GOAL_NONE) {
		uint64_t w = atomic_load_explicit(&set->lvl[0][0], memory_order_relaxed);

		g = w ? (uint32_t)__builtin_ctzll(w) : mb_gset_next_past(set, 0);
	} else {
		goal = (mb_grp_t)(vol->bpg_shift ? gb >> vol->bpg_shift : gb / vol->bpg);
		assert(goal == mb_block_group(vol, req->goal));
		uint64_t w = mb_gset_word_from(set, goal);

		g = w ? (goal & ~63u) + (uint32_t)__builtin_ctzll(w) : mb_gset_next_past(set, goal);
	}

	assert(goal < set->nbits && set->nbits == vol->ngroups);
	if (MB_UNLIKELY(g >= vol->ngroups)) {
		g = mb_power2_fast_far(vol, lo, goal);
		if (g >= vol->ngroups)
			return mb_alloc_regular_anon(vol, req, out);
	}
	int64_t start = -1;
	struct mb_group *grp;

	if (one) {
		/* no other thread: the group's state and verdict read before
		   the lock say what they would under it, a "no" declines
		   without the lock; TRACKED (a load's) implies SETUP, so one
		   load of the state stands for mb_group_at's too.  The lock is
		   free (mb_alloc holds none: mb_lock_one_free), and no
		   contention estimate moves: lock_busy rises only when a lock
		   was found held, never in a process with one thread */
		grp = &vol->groups[g];
		uint32_t state = atomic_load_explicit(&grp->bb_state, memory_order_relaxed);

		assert(!atomic_load_explicit(&vol->lock_busy, memory_order_relaxed));
		if (MB_LIKELY((state & (MB_GRP_NEED_INIT | MB_GRP_TRACKED)) == MB_GRP_TRACKED &&
			      grp->bb_buddy)) {
			if (!mb_power2_fast_good(vol, grp, g, state, req->flags, lo))
				return mb_alloc_regular_anon(vol, req, out);
			mb_lock_one_free(&grp->bb_lock);
		} else {
			grp = mb_group_at(vol, g);
			mb_lock_one_free(&grp->bb_lock);
			if (!mb_power2_fast_load_locked(vol, grp, g, req->flags, lo)) {
				mb_unlock_one(&grp->bb_lock, true);
				return mb_alloc_regular_anon(vol, req, out);
			}
		}
		start = mb_scan_power2_fast_take_locked(vol, grp, lo, NULL, true);
	} else {
		grp = mb_group_at(vol, g);
		/* mb_lock_group's free-lock case; a held lock is the regular
		   path's.  The lock before the verdict: the group answers on
		   almost every call, and one verdict under it is cheaper than a
		   prefilter and a verdict (a "no" here is the regular path's
		   prefilter's too) */
		_Atomic uint32_t *busy = &vol->lock_busy;
		uint32_t b = atomic_load_explicit(busy, memory_order_relaxed);
		struct mb_lock_thr *me = mb_lock_me();

		if (mb_trylock_mt(&grp->bb_lock, MB_RANK_GROUP, me))
			return mb_alloc_regular_anon(vol, req, out);
		if (b)
			atomic_store_explicit(busy, b - 1, memory_order_relaxed);

		/* built and counted in the cache: mb_group_load_locked's fast
		   case, tested on the one load of the state (its call would
		   load it again); else a load that reads no bitmap is made
		   here, and one that reads is left to the regular path, where
		   a failing read is remembered (ac->load_err) and tried once
		   (mb_power2_fast_load_locked) */
		uint32_t state = atomic_load_explicit(&grp->bb_state, memory_order_relaxed);

		bool built = (state & (MB_GRP_NEED_INIT | MB_GRP_TRACKED)) == MB_GRP_TRACKED &&
			     grp->bb_buddy;

		if (MB_LIKELY(built) ? mb_power2_fast_good(vol, grp, g, state, req->flags, lo)
				     : mb_power2_fast_load_locked(vol, grp, g, req->flags, lo))
			start = mb_scan_power2_fast_take_locked(vol, grp, lo, me, false);
		mb_unlock_mt(&grp->bb_lock, MB_RANK_GROUP);
	}
	if (one)
		mb_unlock_one(&grp->bb_lock, true);
	if (start < 0)
		return mb_alloc_regular_anon(vol, req, out);
	/* the group's number again from grp: g kept in a register all along
	   pushed the chunk's block and order onto the stack (~4 a call) */
	out->start = mb_group_first_block(vol, mb_group_no(vol, grp)) + (uint64_t)start;
	out->len = 1u << lo; /* req->len: not kept in a register all along */
	out->logical = req->logical;
	return 0;
}

/*
 * mb_scan_power2_fast in a process with one thread and in one with more,
 * a copy each, chosen by one read of MB_SINGLE_THREADED() (which cannot
 * change but by a thread this call starts, and it starts none): the
 * one-thread copy's lock, claim and unlock are plain loads and stores and
 * test nothing, the threaded one's read this thread's lock record once for
 * all three and hold the slot's biased lock inline (mb_trylock_mt,
 * mb_resv_take_exact_mt).
 */
static __attribute__((noinline)) int mb_scan_power2_fast_one(struct mb_volume *vol,
							      const struct mb_request *req,
							      struct mb_extent *out, int k)
{
	return mb_scan_power2_fast(vol, req, out, k, true);
}

static __attribute__((noinline)) int mb_scan_power2_fast_mt(struct mb_volume *vol,
							     const struct mb_request *req,
							     struct mb_extent *out, int k)
{
	return mb_scan_power2_fast(vol, req, out, k, false);
}

/*
 * Every member of avg_set[k] for k > ilog2(goal) has an average above the
 * goal; in the first set only those of the goal's sub j or above may reach
 * it (avg_hi, mb_int.h): with j > 0 the walk there skips the rest
 * (mb_scan_set_hinted_hi; j 0: no map).
 */
static const _Atomic uint64_t *mb_goal_len_fast_hi(const struct mb_volume *vol, int j)
{
	return j ? mb_avg_hi_map(vol, j) : NULL;
}

/* CR_GOAL_LEN_FAST's visit of grp (lo: ilog2 of the goal's length): a
   one-block goal's scan is mb_visit_group's */
static inline void mb_visit_goal_len_fast(struct mb_ac *ac, struct mb_group *grp, mb_grp_t g,
					  int lo)
{
	assert((lo > 0) == (ac->g_ex.fe_len > 1));
	if (lo > 0)
		mb_visit_long_group(ac, grp, g);
	else
		mb_visit_group(ac, grp, g, MB_CR_GOAL_LEN_FAST);
}

/* mb_scan_goal_len_fast's walk past the group it looked at first (as
   mb_scan_power2_rest), and its walk whole where it has no first step.
   Out of line: mb_scan_goal_len_fast then saves few registers. */
static __attribute__((noinline)) void mb_scan_goal_len_fast_rest(struct mb_ac *ac, mb_grp_t goal,
								 int lo, int j, int k, mb_grp_t g)
{
	struct mb_volume *vol = ac->vol;

	mb_scan_orders_at(ac, vol->avg_set, vol->avg_ge, &vol->avg_orders, lo, vol->max_order,
			  MB_CR_GOAL_LEN_FAST, goal, mb_goal_len_fast_hi(vol, j), true, k, g);
}

static __attribute__((noinline)) void mb_scan_goal_len_fast_all(struct mb_ac *ac, mb_grp_t goal,
								int lo, int j)
{
	struct mb_volume *vol = ac->vol;

	mb_scan_orders(ac, vol->avg_set, vol->avg_ge, &vol->avg_orders, lo, vol->max_order,
		       MB_CR_GOAL_LEN_FAST, goal, mb_goal_len_fast_hi(vol, j));
}

/*
 * mb_scan_goal_len_fast_p2's walk on from g, a member of order k's set
 * (g past them: none), once its first step met no group worth a visit --
 * still in mb_scan_orders' first pass, [goal, ngroups): the sets of the
 * orders from k up that have members, each member in turn, prefiltered
 * and counted considered one by one, as mb_scan_set_hinted takes them
 * (the prefilter moves no group: the word read once serves every
 * rejected member in it).  The first that passes is visited; unless that
 * decides, mb_scan_goal_len_fast_rest goes on from the member after it.
 * None passing, the rest does the second pass alone (an order past
 * max_order).  It saves the rest's set-up where the answer lies further
 * on in the first pass, a later word or order.  The goal's length in a
 * register and the members counted once (no mb_stats test a member)
 * shortened the member's loop but moved registers around it
 * (aging:triangle +3.3 on 3628fb8; the length alone +7).  A power of two
 * only: mb_scan_goal_len_fast_np2 walks the other lengths whole.
 */
static __attribute__((noinline)) void mb_scan_goal_len_fast_on(struct mb_ac *ac, mb_grp_t goal,
							       int lo, int k, mb_grp_t g)
{
	struct mb_volume *vol = ac->vol;
	const struct mb_gset *set = &vol->avg_set[k];

	for (;;) {
		while (g < vol->ngroups) {
			uint32_t base = g & ~63u;
			uint64_t w = mb_gset_word_from(set, g);

			for (; w; w &= w - 1) {
				g = base + (uint32_t)__builtin_ctzll(w);
				struct mb_group *grp = mb_group_at(vol, g);

				mb_stat_cr(vol, MB_CR_GOAL_LEN_FAST, 1, 1);
				if (mb_good_group_inline(ac, grp, MB_CR_GOAL_LEN_FAST)) {
					mb_visit_goal_len_fast(ac, grp, g, lo);
					if (ac->status == MB_AC_CONTINUE)
						mb_scan_goal_len_fast_rest(ac, goal, lo, 0, k, g + 1);
					return;
				}
			}
			g = base + 64 < vol->ngroups ? mb_gset_next_near(set, base + 64) : UINT32_MAX;
		}
		/* the next order with a member, read after this set's walk */
		uint64_t m = atomic_load_explicit(&vol->avg_orders, memory_order_relaxed) >> k >> 1;

		if (!m || (k += 1 + __builtin_ctzll(m)) > vol->max_order)
			break;
		set = &vol->avg_set[k];
		/* a goal past the set's members in its word: the miss goes on
		   inline (mb_gset_next_far; aging:triangle 3838 -> 3835) */
		g = mb_gset_next_far(set, goal);
	}
	mb_scan_goal_len_fast_rest(ac, goal, lo, 0, vol->max_order + 1, 0);
}

/*
 * mb_scan_goal_len_fast_np2's search for its next candidates: the members
 * of set that hi names (the sub's map, or the set's own level 0 for every
 * member) in the first word at or past g's that has any (g's own from g
 * on), below n; its index in *wi_out, which is past the words (nw) when
 * none -- 0 then.  Each word of the set read once, from the goal group
 * itself (no mb_gset_next_far before it, whose words this reads again).
 * A set of two levels (65 to 4096 groups) reads only the words its top
 * word names past g's (a stale bit only costs a look): the walk from
 * group 0 through a sparse map met ~4 words a call, half of them empty
 * in the set too (aging:triangle 2210 -> 2177 instructions a call with
 * the walk in one frame); other sets a word at a time, past empty ones
 * by mb_gset_next's summary.  The pointers in registers, not reloaded
 * after each atomic load (aging:triangle ~20 instructions a word).
 */
static inline __attribute__((always_inline)) uint64_t
mb_goal_len_fast_word(const struct mb_gset *set, const _Atomic uint64_t *hi, uint32_t g,
		      uint32_t n, uint32_t *wi_out)
{
	const _Atomic uint64_t *lvl0 = set->lvl[0];
	uint32_t nw = (n + 63) >> 6;

	if (set->nlevels == 2) {
		/* the top word names every word with a member (a stale bit
		   only costs a look): g's own word, then those it names past
		   it, no empty word read */
		uint32_t wi = g >> 6;
		uint64_t c = atomic_load_explicit(&lvl0[wi], memory_order_relaxed) &
			     atomic_load_explicit(&hi[wi], memory_order_relaxed) &
			     (~0ULL << (g & 63));
		if (!c) {
			uint64_t t = atomic_load_explicit(&set->top, memory_order_relaxed) &
				     (~1ULL << wi);

			do {
				if (!t)
					goto none;
				wi = (uint32_t)__builtin_ctzll(t);
				t &= t - 1;
				c = atomic_load_explicit(&lvl0[wi], memory_order_relaxed) &
				    atomic_load_explicit(&hi[wi], memory_order_relaxed);
			} while (!c);
		}
		*wi_out = wi;
		return c;
	}
	while (g < n) {
		uint32_t wi = g >> 6;
		uint64_t w = atomic_load_explicit(&lvl0[wi], memory_order_relaxed) &
			     (~0ULL << (g & 63));

		for (;;) {
			uint64_t c = w & atomic_load_explicit(&hi[wi], memory_order_relaxed);

			if (c) {
				*wi_out = wi;
				return c;
			}
			if (++wi >= nw)
				goto none;
			w = atomic_load_explicit(&lvl0[wi], memory_order_relaxed);
			if (!w)
				break;
		}
		g = mb_gset_next_past(set, wi * 64);
	}
none:
	*wi_out = nw;
	return 0;
}

/*
 * CR_GOAL_LEN_FAST's walk for a goal length that is a power of two
 * (mb_scan_orders over avg_set from order lo = ilog2(goal length), the sub
 * 0: no map; the caller saw a set of order lo or more with a member, lo <=
 * max_order), its first step inline, as mb_scan_power2's: the first member
 * at or past the goal group of the lowest order's set that has one -- on
 * a volume with room, the group that answers -- then
 * mb_scan_goal_len_fast_rest from the next member: the same groups in the
 * same order, the same count considered.  The powers of two's copy near,
 * not next_far as mb_scan_goal_len_fast_on's next orders: its inline miss
 * there cost raw:1 2 instructions a call (registers).
 */
static __attribute__((noinline)) void mb_scan_goal_len_fast_p2(struct mb_ac *ac, mb_grp_t goal,
								int lo)
{
	struct mb_volume *vol = ac->vol;
	uint64_t m = atomic_load_explicit(&vol->avg_orders, memory_order_relaxed) >> lo;

	if (!m)
		return; /* emptied since the caller looked */
	int k = lo + __builtin_ctzll(m);

	/* mb_scan_orders' first pass, [goal, ngroups): skipped when the
	   indexes say no set of order lo or more has a member there */
	if (!mb_scan_indexed(ac) || k > vol->max_order ||
	    (goal && !mb_gset_any_from(&vol->avg_ge[lo], goal))) {
		mb_scan_goal_len_fast_all(ac, goal, lo, 0);
		return;
	}
	const struct mb_gset *set = &vol->avg_set[k];
	mb_grp_t g = mb_gset_next_near(set, goal);

	if (g < vol->ngroups) {
		struct mb_group *grp = mb_group_at(vol, g);

		mb_stat_cr(vol, MB_CR_GOAL_LEN_FAST, 1, 1);
		if (!mb_good_group_inline(ac, grp, MB_CR_GOAL_LEN_FAST)) {
			mb_scan_goal_len_fast_on(ac, goal, lo, k, g + 1);
			return;
		}
		mb_visit_group(ac, grp, g, MB_CR_GOAL_LEN_FAST);
		if (ac->status == MB_AC_CONTINUE)
			mb_scan_goal_len_fast_rest(ac, goal, lo, 0, k, g + 1);
		return;
	}
	mb_scan_goal_len_fast_on(ac, goal, lo, k, vol->ngroups); /* none in order k's set */
}

/* The goal's sub in its order lo (mb_int.h, avg_hi) */
static inline int mb_goal_len_fast_sub(uint32_t len, int lo)
{
	return (int)(((uint64_t)len * MB_AVG_SUBS) >> lo) - MB_AVG_SUBS;
}

/*
 * CR_GOAL_LEN_FAST's walk for a goal length not a power of two (so more
 * than 2 blocks; the sub j may be > 0), visits by mb_visit_long_group_as: a
 * copy of its own, so that the powers of two's (raw:1's one block) has no
 * sub's map and no test of which visit (raw:1 1132 -> 1123 instructions a
 * call).  The whole of mb_scan_orders' first pass, [goal, ngroups), in
 * one frame: the sets of the orders from the lowest with a member up,
 * each member (in the first set, those the sub's map names:
 * mb_goal_len_fast_word) prefiltered and counted considered one by one in
 * turn, as mb_scan_set_hinted(_hi) takes them (the prefilter moves no
 * group: the word read once serves every rejected member in it); the
 * first that passes is visited, and unless that decides,
 * mb_scan_goal_len_fast_rest goes on from the member after it.  None
 * passing, the rest does the second pass alone (an order past
 * max_order).  The same groups in the same order, the same count
 * considered.  Not with mb_stats on and a map (counting what it skips):
 * the walk whole then.  A first step inline and a second function for the
 * walk on from a miss (as the powers of two's) set the walk up twice on
 * half of aging:triangle's calls.  Where the visit did not decide, the
 * group after it and the sub are worked out again from grp and the goal,
 * so neither is kept across the visit (on lead45: aging:triangle 2006 ->
 * 1995, cell:empty:100:zero:20 1358 -> 1351, cell:seq90:1000:zero:20
 * 1461 -> 1454 instructions a call).  Tried and lost: mb_stats read once
 * here, the walk's whole then (its visit testing no flag): +0 to +3 on
 * top, and the lockstep tests' stats runs no longer walk here; the
 * search for the first member that passes in a function of its own
 * beside one visit (a constant map flag): cell:empty:100:zero:20 +6; no
 * map as hi NULL (a test a word for a load) +0 to +4; the prefilter with
 * the goal's length in a register +8.
 */
static __attribute__((noinline)) void mb_scan_goal_len_fast_np2(struct mb_ac *ac, mb_grp_t goal,
								 int lo, uint32_t len)
{
	struct mb_volume *vol = ac->vol;
	int j = mb_goal_len_fast_sub(len, lo);
	uint64_t m = atomic_load_explicit(&vol->avg_orders, memory_order_relaxed) >> lo;

	if (!m)
		return; /* emptied since the caller looked */
	int k = lo + __builtin_ctzll(m);

	if (!mb_scan_indexed(ac) || k > vol->max_order ||
	    (goal && !mb_gset_any_from(&vol->avg_ge[lo], goal)) ||
	    (j && k == lo && MB_READ_ONCE(vol->t.mb_stats))) {
		mb_scan_goal_len_fast_all(ac, goal, lo, j);
		return;
	}
	const struct mb_gset *set = &vol->avg_set[k];
	const _Atomic uint64_t *hi = j && k == lo ? mb_avg_hi_map(vol, j) : set->lvl[0];
	mb_grp_t n = vol->ngroups;
	uint32_t wi;
	uint64_t w = mb_goal_len_fast_word(set, hi, goal, n, &wi);

	for (;;) {
		for (; w; w &= w - 1) {
			mb_grp_t g = wi * 64 + (uint32_t)__builtin_ctzll(w);
			struct mb_group *grp = mb_group_at(vol, g);

			mb_stat_cr(vol, MB_CR_GOAL_LEN_FAST, 1, 1);
			if (mb_good_group_inline(ac, grp, MB_CR_GOAL_LEN_FAST)) {
				mb_visit_long_group_as(ac, grp, g, true);
				if (ac->status == MB_AC_CONTINUE)
					mb_scan_goal_len_fast_rest(
						ac, goal, lo, mb_goal_len_fast_sub(ac->g_ex.fe_len, lo), k,
						mb_group_no(ac->vol, grp) + 1);
				return;
			}
		}
		if (wi * 64 + 64 < n) { /* wi past the words when none was found */
			w = mb_goal_len_fast_word(set, hi, wi * 64 + 64, n, &wi);
			if (w)
				continue;
		}
		uint64_t o = atomic_load_explicit(&vol->avg_orders, memory_order_relaxed) >> k >> 1;

		if (!o || (k += 1 + __builtin_ctzll(o)) > vol->max_order)
			break;
		set = &vol->avg_set[k];
		hi = set->lvl[0];
		w = mb_goal_len_fast_word(set, hi, goal, n, &wi);
	}
	mb_scan_goal_len_fast_rest(ac, goal, lo, j, vol->max_order + 1, 0);
}

/* Two tail calls, no frame: with the powers of two's walk inline here gcc
   saved six registers before the test, for the other copy's call too (on
   3628fb8: aging:triangle 2612.1 -> 2595.1, cell:aged90:256:rand:20
   2463.3 -> 2459.2, aged50:256:zero:20 1202.1 -> 1199.6 instructions a
   call; raw:1 1020.9 -> 1021.9, the jump to the powers of two's) */
static __attribute__((noinline)) void mb_scan_goal_len_fast(struct mb_ac *ac, mb_grp_t goal, int lo)
{
	uint32_t len = ac->g_ex.fe_len;

	if (MB_UNLIKELY(len & (len - 1))) /* not a power of two: the sub may be > 0 */
		mb_scan_goal_len_fast_np2(ac, goal, lo, len);
	else
		mb_scan_goal_len_fast_p2(ac, goal, lo);
}

/* One trim of CR_BEST_AVAIL_LEN: the goal is 2^order now. */
static __attribute__((noinline)) void mb_scan_best_avail_order(struct mb_ac *ac, int order,
							       mb_grp_t goal)
{
	struct mb_volume *vol = ac->vol;

	mb_scan_orders(ac, vol->avg_set, vol->avg_ge, &vol->avg_orders, order, vol->max_order,
		       MB_CR_BEST_AVAIL_LEN, goal, NULL);
}

/*
 * mb_group_at and mb_good_group_inline's verdict for the linear criteria
 * (cr from CR_GOAL_LEN_SLOW on; skip_short: mb_slow_skip_short as the pass
 * read it), on one load of the group's state: its SETUP, CORRUPT and --
 * for mb_visit_linear_count, with the counters in *state and *frags --
 * built bits.  Whether the group passes.  The state read three times, the
 * fragments twice and the tunable once a group cost (on d42c28f) drain
 * 1760 -> 1758, cell:aged90:256:zero:20 2072 -> 2069 instructions a call,
 * none worse.  Caching the rest of the set's word for the next member (as
 * mb_scan_set_hinted) moved drain +4, cell:aged50:256:zero:20 +8,
 * cell:aged90:256:zero:20 -8: few members follow in the same word.
 */
static inline __attribute__((always_inline)) bool
mb_linear_prefilter(const struct mb_ac *ac, struct mb_volume *vol, struct mb_group *grp, int cr,
		    bool skip_short, uint32_t *state, uint32_t *frags)
{
	uint32_t st = mb_group_setup_state(vol, grp);
	uint32_t free = MB_READ_ONCE(grp->bb_free);
	uint32_t fr = MB_READ_ONCE(grp->bb_fragments);
	uint32_t goal = ac->g_ex.fe_len;

	*state = st;
	*frags = fr;
	if (cr == MB_CR_GOAL_LEN_SLOW) {
		/* every form of its test has free >= goal, and the goal is a
		   block at least: no test of free for 0 */
		assert(goal);
		if (!fr || (st & MB_GRP_CORRUPT))
			return false;
		return mb_goal_len_slow_good(grp, free, goal, skip_short);
	}
	return free && fr && !(st & MB_GRP_CORRUPT); /* CR_ANY_FREE */
}

/* mb_linear_prefilter, checked against mb_good_group_inline, which it
   must agree with where its verdict is the one that counts (one thread:
   mb_visit_linear_count counts without a locked verdict) */
static inline __attribute__((always_inline)) bool
mb_linear_prefilter_checked(struct mb_ac *ac, struct mb_volume *vol, struct mb_group *grp,
			    int cr, bool skip_short, uint32_t *state, uint32_t *frags)
{
	bool ok = mb_linear_prefilter(ac, vol, grp, cr, skip_short, state, frags);

	assert(!MB_SINGLE_THREADED() || ok == mb_good_group_inline(ac, grp, cr));
	return ok;
}

/*
 * The linear pass through the index: every criterion's good_group needs
 * bb_free >= need (need 1 for CR_ANY_FREE), and free_ge[ilog2(need)] holds
 * every such group, so the groups it skips are exactly groups the plain
 * pass would reject unlocked.  It visits the rest in the same order and
 * counts as considered what the plain pass would have: every group up to
 * the one that decided, or all `count`.
 */
static inline __attribute__((always_inline)) void
mb_scan_linear_indexed(struct mb_ac *ac, int cr, mb_grp_t goal, uint32_t count)
{
	struct mb_volume *vol = ac->vol;
	uint32_t need = cr == MB_CR_ANY_FREE ? 1 : ac->g_ex.fe_len;
	int k = mb_ilog2(need ? need : 1);
	const struct mb_gset *set = &vol->free_ge[k < vol->max_order ? k : vol->max_order];
	/* positions [goal, goal + count) wrap once at ngroups: two ranges */
	uint64_t stop = (uint64_t)goal + count;
	/* what the count's first tests read, once for the pass; may (-1:
	   not read yet) again after each mb_visit_group, the only step here
	   that can change a term of mb_visit_may_count (the best) */
	uint32_t max = MB_READ_ONCE(vol->t.mb_max_to_scan);
	uint32_t room = mb_linear_room(ac, max);
	int may = -1;
	/* mb_good_group_inline's tunable, read once for the pass as max */
	bool skip_short = cr == MB_CR_GOAL_LEN_SLOW && MB_READ_ONCE(vol->t.mb_slow_skip_short);

	for (int pass = 0; pass < 2; pass++) {
		mb_grp_t from = pass ? 0 : goal;
		uint32_t end = pass ? (stop > vol->ngroups ? (uint32_t)(stop - vol->ngroups) : 0)
				    : (stop < vol->ngroups ? (uint32_t)stop : vol->ngroups);
		uint32_t base = pass ? vol->ngroups - goal : 0; /* position of group `from` */

		/* the first member too is looked for inline: from's own word
		   often has one (a pass from group 0 on a volume with space
		   there: the zero-goal cells), one load instead of the call
		   (on main 032936a: drain 1967 -> 1962,
		   cell:aged90:256:zero:20 2379 -> 2367 instructions a call);
		   a miss goes on past that word without a second look at it
		   (mb_gset_next_far): three drain passes in four miss it, as
		   the front of the volume empties (drain 1662 -> 1660) */
		for (uint32_t g = from < end ? mb_gset_next_far(set, from) : UINT32_MAX; g < end;
		     g = g + 1 < end ? mb_gset_next_near(set, g + 1) : UINT32_MAX) {
			/* mb_try_group's prefilter, inline: no hook, no strict
			   retry here (mb_scan_indexed) */
			struct mb_group *grp = &vol->groups[g];
			uint32_t state, frags;

			if (cr < MB_CR_GOAL_LEN_SLOW) {
				grp = mb_group_at(vol, g);
				if (!mb_good_group_inline(ac, grp, cr))
					continue;
				state = 0;
				frags = 0; /* not read: mb_visit_linear_count's cr test */
			} else if (!mb_linear_prefilter_checked(ac, vol, grp, cr, skip_short,
								&state, &frags) ||
				   mb_visit_linear_count(ac, vol, grp, g, cr, &may, &room, frags, state,
							 skip_short)) {
				assert(room == mb_linear_room(ac, max));
				continue;
			}
			if (cr >= MB_CR_GOAL_LEN_SLOW && mb_linear_may(ac, cr, &may, skip_short))
				mb_visit_linear_bulk_pick(ac, grp, g, cr, room, state);
			else
				mb_visit_group(ac, grp, g, cr);
			if (ac->status != MB_AC_CONTINUE) {
				/* the count summed only with mb_stats on */
				if (MB_UNLIKELY(MB_READ_ONCE(vol->t.mb_stats)))
					mb_stat_cr(vol, cr, 1, base + (g - from) + 1);
				return;
			}
			may = -1;
			room = mb_linear_room(ac, max);
		}
	}
	mb_stat_cr(vol, cr, 1, count);
}

static void mb_scan_linear(struct mb_ac *ac, int cr, mb_grp_t goal, uint32_t count)
{
	mb_grp_t g = goal;
	uint32_t n = 0;

	if (mb_scan_indexed(ac)) {
		/* the prefilter constant for the linear criteria, where every
		   search that gets past the sets ends up */
		if (cr == MB_CR_GOAL_LEN_SLOW)
			mb_scan_linear_indexed(ac, MB_CR_GOAL_LEN_SLOW, goal, count);
		else if (cr == MB_CR_ANY_FREE)
			mb_scan_linear_indexed(ac, MB_CR_ANY_FREE, goal, count);
		else
			mb_scan_linear_indexed(ac, cr, goal, count);
		return;
	}
	while (n < count && ac->status == MB_AC_CONTINUE) {
		n++;
		mb_try_group(ac, g, cr);
		if (++g == ac->vol->ngroups)
			g = 0;
	}
	mb_stat_cr(ac->vol, cr, 1, n);
}

/* CR_BEST_AVAIL_LEN: shrink the goal by up to mb_best_avail_max_trim_order. */
static void mb_scan_best_avail(struct mb_ac *ac, mb_grp_t goal)
{
	struct mb_volume *vol = ac->vol;

	/* a trim is a power of two at least the request and below the goal:
	   none when the smallest power of two holding the request reaches
	   the goal -- a goal no longer than the request (not widened), or a
	   file's 2048-block window asked for more than 1024 of it (3,000
	   searches of aging:8m64k:file, ~2 a call) -- so none is tried (g_ex
	   is the goal already) */
	if (1ULL << mb_fls32(ac->o_ex.fe_len - 1) >= ac->orig_goal_len)
		return;
	int order = mb_ilog2(ac->g_ex.fe_len);
	int min_order = order - (int)MB_READ_ONCE(vol->t.mb_best_avail_max_trim_order);
	int floor = mb_fls32(ac->o_ex.fe_len) - 1;

	if (min_order < floor)
		min_order = floor;
	if (min_order < 0)
		min_order = 0;
	/* no set of order min_order or more with a member: every trim's walk
	   would find none (g_ex is the goal again at the end either way) */
	if (min_order > vol->max_order || mb_orders_empty_from(&vol->avg_orders, min_order))
		return;
	for (int i = order; i >= min_order && ac->status == MB_AC_CONTINUE; i--) {
		uint32_t len = 1u << i;

		if (len >= ac->orig_goal_len || len < ac->o_ex.fe_len)
			continue; /* not a trim, or below what was asked */
		ac->g_ex.fe_len = len;
		/* a trim whose orders' sets are all empty: its walk would find
		   none (both passes), so no call and no pass set-up for it -- a
		   file's window cut to 1024, 512, 256 blocks on a volume whose
		   large averages are gone (aging:8m64k:file, ~4 a call) */
		if (!mb_orders_empty_from(&vol->avg_orders, i))
			mb_scan_best_avail_order(ac, i, goal);
	}
	if (ac->status == MB_AC_CONTINUE)
		ac->g_ex.fe_len = ac->orig_goal_len;
}

static void mb_scan_criterion(struct mb_ac *ac, int cr, mb_grp_t goal)
{
	struct mb_volume *vol = ac->vol;

	if (!mb_should_optimize(ac, cr)) {
		if (cr != MB_CR_BEST_AVAIL_LEN) /* same verdicts as GOAL_LEN_FAST */
			mb_scan_linear(ac, cr, goal, vol->ngroups);
		return;
	}
	uint32_t linear = MB_READ_ONCE(vol->t.mb_max_linear_groups);

	if (linear) {
		linear = linear < vol->ngroups ? linear : vol->ngroups;
		mb_scan_linear(ac, cr, goal, linear);
		if (ac->status != MB_AC_CONTINUE)
			return; /* the set walks below would do nothing (mb_scan_power2 assumes so) */
		goal = (mb_grp_t)(((uint64_t)goal + linear) % vol->ngroups);
	}
	/* each pass only if a set of its orders has a member (the pass's own
	   first test, here before its call: a drained volume's passes) */
	if (cr == MB_CR_POWER2_ALIGNED) {
		if (!mb_orders_empty_from(&vol->largest_orders, ac->ac_2order))
			mb_scan_power2(ac, goal);
	} else if (cr == MB_CR_GOAL_LEN_FAST) {
		int k = mb_ilog2(ac->g_ex.fe_len);

		/* past max_order mb_scan_orders has no order to visit either */
		if (k <= vol->max_order && !mb_orders_empty_from(&vol->avg_orders, k))
			mb_scan_goal_len_fast(ac, goal, k);
	} else {
		mb_scan_best_avail(ac, goal);
	}
}

/* ------------------------------------------------------------------------ */
/* The regular allocator                                                     */
/* ------------------------------------------------------------------------ */

/* ext4_mb_find_by_goal once the goal block is asked for (mb_find_by_goal) */
static __attribute__((noinline)) void mb_find_by_goal_asked(struct mb_ac *ac)
{
	struct mb_volume *vol = ac->vol;
	struct mb_group *grp = mb_group_at(vol, ac->g_ex.fe_group);

	if (!(ac->flags & MB_STRICT_CHECK) && !MB_READ_ONCE(grp->bb_free))
		return;
	/*
	 * Departure mb_goal_skip_busy (ext4 always waits here): a new window
	 * for a stream whose goal group is busy right now -- some other writer
	 * works there, and every preallocation hit of both would share that
	 * lock.  Give up this one merge and let the window go to a quiet group
	 * instead (GOAL_ONLY requests still wait).
	 */
	bool skip = MB_READ_ONCE(vol->t.mb_goal_skip_busy) && (ac->flags & MB_STREAM_ALLOC) &&
		    !(ac->flags & MB_HINT_GOAL_ONLY);

	if (!mb_lock_group(ac, grp, skip))
		return;
	if (mb_ac_load_locked(ac, grp) || mb_group_corrupt(grp)) {
		mb_unlock(&grp->bb_lock);
		return;
	}
	uint32_t len = mb_buddy_find_extent(vol, grp, ac->g_ex.fe_start, ac->g_ex.fe_len);

	if (len >= ac->g_ex.fe_len || (len && (ac->flags & MB_HINT_MERGE))) {
		ac->found++;
		ac->b_ex = ac->g_ex;
		ac->b_ex.fe_len = len;
		mb_use_best_found_locked(ac, grp);
		mb_stat_inc(vol, MB_ST_GOAL_HITS);
	}
	mb_unlock(&grp->bb_lock);
	mb_pa_after_unlock(ac);
}

/* ext4_mb_find_by_goal: the exact goal block, if asked for.  The test
   inline: with two copies of the regular path (mb_alloc_regular_as) gcc
   made all of it a call (drain +14 instructions a call). */
static inline __attribute__((always_inline)) void mb_find_by_goal(struct mb_ac *ac)
{
	if (ac->flags & (MB_HINT_TRY_GOAL | MB_HINT_GOAL_ONLY))
		mb_find_by_goal_asked(ac); /* before the group's lazy set-up: nothing asked of it */
}

/*
 * Whether the remembered best is still as its scan measured it, without a
 * new measure: in a process of one thread nobody else can have taken any
 * of it since its group's lock was dropped, and this search only read the
 * groups it visited after (a group's bitmap changes under a take or a
 * free, and a search takes only once, at its end).  With threads, the
 * same when nobody else held grp's lock (held now) since the call's claim
 * (mb_held_alone_since: it is biased to this thread and was all along),
 * as a group a thread's stream of requests keeps using soon is: the
 * re-measure cost cell:aged90:256:zero:20 83 instructions a call that
 * has one.  Under the default tunables only: no test hook can have run in
 * between (p2_fast_lo is UINT32_MAX while one is set).
 */
static inline bool mb_best_as_measured(const struct mb_ac *ac, const struct mb_group *grp)
{
	return (MB_SINGLE_THREADED() ||
		mb_held_alone_since(&grp->bb_lock, MB_RANK_GROUP, ac->lock_epoch)) &&
	       MB_READ_ONCE(ac->vol->p2_fast_lo) != UINT32_MAX;
}

/* Re-checks a remembered best extent under its group lock. */
static void mb_try_best_found(struct mb_ac *ac)
{
	struct mb_volume *vol = ac->vol;
	struct mb_group *grp = mb_group_at(vol, ac->b_ex.fe_group);

	mb_lock(&grp->bb_lock);
	/* its buddy may have been dropped since the scan (gcache.c) */
	uint32_t len = mb_ac_load_locked(ac, grp) ? 0 :
		mb_best_as_measured(ac, grp) ? ac->b_ex.fe_len :
		mb_buddy_find_extent(vol, grp, ac->b_ex.fe_start, ac->b_ex.fe_len);

	assert(!len || len == mb_buddy_find_extent(vol, grp, ac->b_ex.fe_start, ac->b_ex.fe_len));

	if (len) {
		if (len < ac->b_ex.fe_len)
			ac->b_ex.fe_len = len;
		mb_use_best_found_locked(ac, grp);
	}
	mb_unlock(&grp->bb_lock);
	mb_pa_after_unlock(ac);
}

static void mb_ac_reset_search(struct mb_ac *ac)
{
	ac->b_ex = (struct mb_fex){ 0 };
	ac->found = 0;
	ac->status = MB_AC_CONTINUE;
	ac->g_ex.fe_len = ac->orig_goal_len;
}

/*
 * The group a stream allocation starts from: where the last stream hashed
 * to the same goal ended.  Before any, ext4 starts every stream at group 0
 * (s_mb_last_groups is zeroed); departure mb_stream_spread starts them
 * spread over the volume, so writers hashed to different goals do not all
 * begin in group 0 and share its lock.  A relaxed hint (pairs with nothing:
 * a stale goal only starts the search elsewhere).
 */
static inline uint32_t mb_stream_hash(const struct mb_ac *ac)
{
	return (uint32_t)(ac->file->f_ino % ac->vol->nr_stream_goals);
}

/* mb_stream_goal of the stream whose slot is h (mb_stream_hash) */
static inline mb_grp_t mb_stream_goal_at(const struct mb_ac *ac, uint32_t h)
{
	const struct mb_volume *vol = ac->vol;
	uint64_t sg = atomic_load_explicit(&vol->stream_goals[h], memory_order_relaxed);

	if (sg < vol->ngroups)
		return (mb_grp_t)sg;
	if (!MB_READ_ONCE(vol->t.mb_stream_spread))
		return 0;
	return (mb_grp_t)((uint64_t)h * vol->ngroups / vol->nr_stream_goals);
}

static mb_grp_t mb_stream_goal(const struct mb_ac *ac)
{
	return mb_stream_goal_at(ac, mb_stream_hash(ac));
}

/*
 * The criteria loop from cr (CR_POWER2_ALIGNED or CR_GOAL_LEN_FAST) under
 * the default tunables (p2_fast_lo below UINT32_MAX: no stats counting
 * useless loops, the optimized scan without linear groups, no hook):
 * mb_scan_criterion's passes in turn, each pass's opening test of the sets
 * (or of the goal, CR_BEST_AVAIL_LEN's) made once, here, and a pass that
 * would visit nothing skipped without its round of the loop.  A drain's
 * and the aged cells' calls skip three so.
 */
static inline __attribute__((always_inline)) void
mb_scan_criteria_default(struct mb_volume *vol, struct mb_ac *ac, int cr, mb_grp_t goal)
{
	if (cr == MB_CR_POWER2_ALIGNED &&
	    !mb_orders_empty_from(&vol->largest_orders, ac->ac_2order)) {
		ac->criteria = cr;
		mb_scan_power2(ac, goal);
		if (ac->status != MB_AC_CONTINUE)
			return;
	}
	int k = mb_ilog2(ac->g_ex.fe_len);

	if (k <= vol->max_order && !mb_orders_empty_from(&vol->avg_orders, k)) {
		ac->criteria = MB_CR_GOAL_LEN_FAST;
		mb_scan_goal_len_fast(ac, goal, k);
		if (ac->status != MB_AC_CONTINUE)
			return;
	}
	if (ac->orig_goal_len > ac->o_ex.fe_len) {
		ac->criteria = MB_CR_BEST_AVAIL_LEN;
		mb_scan_best_avail(ac, goal);
		if (ac->status != MB_AC_CONTINUE)
			return;
	}
	/* the two linear passes unrolled: the status is CONTINUE here (each
	   pass above returned otherwise), and no test of it before the first
	   (drain 1728 -> 1721, cell:aged90:256:zero:20 2043 -> 2032
	   instructions a call) */
	_Static_assert(MB_CR_ANY_FREE == MB_CR_GOAL_LEN_SLOW + 1 && MB_NUM_CRS == MB_CR_ANY_FREE + 1,
		       "the linear criteria are the last two");
	ac->criteria = MB_CR_GOAL_LEN_SLOW;
	mb_scan_linear(ac, MB_CR_GOAL_LEN_SLOW, goal, vol->ngroups);
	if (ac->status != MB_AC_CONTINUE)
		return;
	ac->criteria = MB_CR_ANY_FREE;
	mb_scan_linear(ac, MB_CR_ANY_FREE, goal, vol->ngroups);
}

static void mb_regular_allocator_rest(struct mb_ac *ac, int cr, mb_grp_t goal);

/* The search state a round starts from: mb_ac_init's, or mb_ac_reset_search's
   before each retry (a PA path and mb_window_fast change none of it unless
   they found).  vol is ac->vol, the caller's register: read from ac, it
   was loaded again past the claim's merge. */
static inline __attribute__((always_inline)) void mb_regular_allocator(struct mb_volume *vol,
								      struct mb_ac *ac)
{
	assert(vol == ac->vol);
	assert(!ac->b_ex.fe_len && !ac->found && ac->status == MB_AC_CONTINUE &&
	       ac->g_ex.fe_len == ac->orig_goal_len);
	/* the status tested only after a goal's try (it is CONTINUE before):
	   GOAL_ONLY implies one */
	if (ac->flags & (MB_HINT_TRY_GOAL | MB_HINT_GOAL_ONLY)) {
		mb_find_by_goal(ac);
		if (ac->status == MB_AC_FOUND || (ac->flags & MB_HINT_GOAL_ONLY))
			return;
	}

	uint32_t len = ac->g_ex.fe_len;
	int k = __builtin_ctz(len | 1u << 31); /* ilog2(len) for a power of two */

	/* a power of two 2^k >= 2^(mb_order2_req - 1) up to max_order; in a
	   local first (stored, then read back, it cost a load and a store) */
	int order2 = 0;

	if (!(len & (len - 1)) && k + 1 >= (int)MB_READ_ONCE(vol->t.mb_order2_req) &&
	    k <= vol->max_order)
		order2 = k;
	ac->ac_2order = order2;
	int cr = order2 ? MB_CR_POWER2_ALIGNED : MB_CR_GOAL_LEN_FAST;

	if (ac->flags & MB_STREAM_ALLOC) {
		/* ext4: the stream goal replaces the goal group (mb_ac_stats
		   counts a stream goal hit against it) */
		ac->g_ex.fe_group = mb_stream_goal(ac);
	}
	mb_grp_t goal = ac->g_ex.fe_group;

	if (MB_READ_ONCE(vol->p2_fast_lo) != UINT32_MAX) {
		mb_scan_criteria_default(vol, ac, cr, goal);
		if (MB_LIKELY(ac->status == MB_AC_FOUND))
			return;
		cr = MB_NUM_CRS;
	}
	mb_regular_allocator_rest(ac, cr, goal);
}

/*
 * mb_regular_allocator past the default criteria's walk when it found
 * nothing: the general criteria loop (any tunables), the remembered
 * best's take and the lost best's retry.  Out of line: inline in each copy
 * of the regular path (mb_alloc_regular_as, mb_alloc_retry), its loop of
 * mb_scan_criterion kept registers and stack slots that the found
 * request, almost every one, set up and saved for nothing (raw:1 822 ->
 * 814, aged:256 2010 -> 2001, drain 1663 -> 1656, aging:triangle 2415 ->
 * 2407 instructions a call).
 */
static __attribute__((noinline)) void mb_regular_allocator_rest(struct mb_ac *ac, int cr,
								 mb_grp_t goal)
{
	struct mb_volume *vol = ac->vol;

again:
	for (; cr < MB_NUM_CRS && ac->status == MB_AC_CONTINUE; cr++) {
		ac->criteria = cr;
		mb_scan_criterion(ac, cr, goal);
		if (ac->status != MB_AC_FOUND)
			mb_stat_cr(vol, cr, 3, 1); /* a useless loop */
	}
	if (ac->status != MB_AC_FOUND && ac->b_ex.fe_len && !(ac->flags & MB_HINT_FIRST)) {
		mb_try_best_found(ac);
		if (ac->status != MB_AC_FOUND) {
			/* someone luckier took it: take the first thing found */
			mb_stat_inc(vol, MB_ST_LOST);
			mb_ac_reset_search(ac);
			ac->flags |= MB_HINT_FIRST;
			cr = MB_CR_ANY_FREE;
			goto again;
		}
	}
	if (ac->status == MB_AC_BREAK)
		mb_stat_inc(vol, MB_ST_BREAKS);
}

/* ------------------------------------------------------------------------ */
/* ENOSPC: discard and retry                                                 */
/* ------------------------------------------------------------------------ */

/*
 * ext4_mb_discard_preallocations: walk the groups from the goal, dropping
 * unused PAs until `needed` blocks came back.  *busy reports PAs being
 * torn down by another thread (a legacy-style two-phase discard): space
 * that will reappear, so the caller must not conclude ENOSPC yet.
 */
static int64_t mb_discard_preallocations(struct mb_volume *vol, mb_grp_t from, uint32_t needed,
					 bool *busy)
{
	int64_t freed = 0;

	mb_stat_inc(vol, MB_ST_DISCARD_PASSES);
	/* from the goal on, wrapping; a group never set up holds no PA */
	for (int pass = 0; pass < 2; pass++) {
		mb_grp_t end = pass ? from : vol->ngroups;

		for (mb_grp_t g = mb_group_next_setup(vol, pass ? 0 : from);
		     g < end && (uint64_t)freed < needed; g = mb_group_next_setup(vol, g + 1))
			freed += mb_discard_group_preallocations(vol, g, needed - (uint32_t)freed,
								 busy);
	}
	return freed;
}

/*
 * Beyond ext4: once a request is failing, nobody should hoard.  A discard
 * returns another thread's PA space, and that thread's next request would
 * otherwise normalize and preallocate it all again -- a ping-pong that
 * ends only at the retry cap, with a spurious ENOSPC.  While any request is
 * in its retry rounds (vol->enospc_pressure), new requests take only what
 * they ask for, and so does the failing request itself from now on.
 * Tunable mb_enospc_no_prealloc (1; 0 is ext4's behaviour).
 */
static void mb_ac_feel_pressure(struct mb_ac *ac)
{
	if (ac->pressured || !MB_READ_ONCE(ac->vol->t.mb_enospc_no_prealloc))
		return;
	ac->pressured = true;
	atomic_fetch_add_explicit(&ac->vol->enospc_pressure, 1, memory_order_relaxed);
	ac->flags |= MB_HINT_NOPREALLOC;
	ac->g_ex.fe_len = ac->o_ex.fe_len;
	ac->g_ex.fe_logical = ac->o_ex.fe_logical;
	ac->orig_goal_len = ac->o_ex.fe_len;
	if (ac->pa_obj) {
		mb_pa_free(ac->pa_obj);
		ac->pa_obj = NULL;
	}
}

/*
 * ext4_mb_discard_preallocations_should_retry plus the commit of pending
 * frees.  seq policy (the series): retry if a discard freed something, on
 * the first failure (then strictly) or if discard_pa_seq moved since the
 * last sample.  legacy: retry only if the discard freed something.
 *
 * Beyond the series, free space may be held rather than gone: a run under
 * an mb_trim() callback, or PAs a legacy-style discard took and has not
 * returned yet (*busy).  Then the rounds do not count toward the cap, and
 * once a strict search failed with nothing moved, the request sleeps until
 * held space comes back (wait.c) -- never a spin, never a spurious ENOSPC.
 */
static bool mb_should_retry(struct mb_ac *ac)
{
	struct mb_volume *vol = ac->vol;
	bool legacy = MB_READ_ONCE(vol->t.mb_enospc_policy) == MB_POLICY_LEGACY;
	bool busy = false;

	if (ac->rounds >= MB_READ_ONCE(vol->t.mb_max_retries) &&
	    !mb_resv_must_retry(vol, ac->flags)) /* reserved space never gives up */
		return false;
	mb_stat_inc(vol, MB_ST_RETRIES);
	if (!legacy)
		mb_ac_feel_pressure(ac);
	/* frees waiting for a commit are space only a commit can give back */
	if (atomic_load_explicit(&vol->free_pending, memory_order_relaxed) && !legacy &&
	    mb_force_commit(vol) > 0)
		return true;

	/* sampled before looking for held space: no return of it is missed */
	uint64_t ev = mb_space_sample(vol);
	int64_t freed = mb_discard_preallocations(vol, ac->g_ex.fe_group, ac->o_ex.fe_len, &busy);

	MB_HOOK(vol, MB_HOOK_BEFORE_RETRY, ac->g_ex.fe_group, 0);
	if (freed > 0) {
		ac->rounds++;
		return true;
	}
	if (legacy)
		return false;
	atomic_thread_fence(memory_order_acquire); /* the set lookups before what follows */
	/* pairs with the release in mb_trim_group; the fence above with the
	   release fence in mb_trim_take_locked: a run this request's search
	   missed because a trim took it is counted here */
	bool held = busy || atomic_load_explicit(&vol->trim_inflight, memory_order_acquire);
	uint64_t sum = mb_seq_sum(vol);
	bool moved = !(ac->flags & MB_STRICT_CHECK) || sum != ac->seq;

	ac->flags |= MB_STRICT_CHECK;
	ac->seq = sum;
	if (moved)
		mb_stat_inc(vol, MB_ST_STRICT_RETRIES);
	if (held) {
		if (!moved)
			mb_space_wait(vol, ev); /* holding at most f_data_sem, lg_mutex */
		return true;
	}
	ac->rounds++;
	return moved;
}

/* ------------------------------------------------------------------------ */
/* mb_alloc                                                                  */
/* ------------------------------------------------------------------------ */

static void mb_release_context(struct mb_ac *ac)
{
	/* one test where there is nothing to release (a request without a
	   file; a file's whose PA was made): three cost ~11 instructions.  A
	   group PA to re-bucket (ac->pa) comes with its locality group */
	assert(ac->lg || !ac->pa);
	if (!((uintptr_t)ac->lg | (uintptr_t)ac->pa_obj))
		return;
	mb_pa_release_context(ac);
	if (ac->lg)
		mb_unlock(&ac->lg->lg_mutex);
	if (ac->pa_obj)
		mb_pa_free(ac->pa_obj);
	ac->pa_obj = NULL;
}

static __attribute__((noinline)) void mb_ac_stats_count(struct mb_ac *ac, int err)
{
	struct mb_volume *vol = ac->vol;

	/* one slot for the request's counters, and one mb_stat_add inline
	   where there were five: inlined code the unit's growth budget keeps
	   for the hot paths (gcc's LTO stopped inlining mb_stat_add and
	   mb_cpu_slot everywhere when this file grew) */
	_Atomic uint64_t *st = mb_this_pcpu(vol)->stat;

	atomic_fetch_add_explicit(&st[MB_ST_REQS], 1, memory_order_relaxed);
	if (err) {
		atomic_fetch_add_explicit(&st[MB_ST_ENOSPC], 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&st[MB_ST_SUCCESS], ac->b_ex.fe_len >= ac->o_ex.fe_len,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&st[MB_ST_LEN_GOAL_HITS], ac->f_len == ac->orig_goal_len,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&st[MB_ST_STREAM_GOAL_HITS],
				  (ac->flags & MB_STREAM_ALLOC) && ac->b_ex.fe_group == ac->g_ex.fe_group,
				  memory_order_relaxed);
}

/* The request's counters, with mb_stats on.  The test inline, the count
   out of line: gcc made all of it a call from the two copies of the
   regular path (mb_alloc_regular_as; drain +10 instructions a call).
   The volume the caller holds in a register, not ac->vol, which a call
   made it read back from the stack. */
static inline __attribute__((always_inline)) void mb_ac_stats(const struct mb_volume *vol,
							       struct mb_ac *ac, int err)
{
	if (MB_UNLIKELY(MB_READ_ONCE(vol->t.mb_stats)))
		mb_ac_stats_count(ac, err);
}

/*
 * The group CR_POWER2_ALIGNED's walk from goal visits first for a window of
 * 2^lo blocks (mb_scan_power2, mb_scan_orders_at), or ngroups when it
 * visits none.  Its first pass, over [goal, ngroups), as mb_scan_power2's
 * first step finds it: the lowest order's set with a member, and past the
 * goal the next orders' sets; when that pass has no group, the second's,
 * over [0, goal): the first member of the lowest order's set that has one
 * there, unless largest_ge says no set has (the walk's skip of the pass).
 * Inline in both callers: with mb_power2_fast_far a second one, gcc made
 * it a call from mb_window_fast (aging:8m64k:file +9 instructions a call).
 */
static inline __attribute__((always_inline)) mb_grp_t
mb_window_first_group(struct mb_volume *vol, int lo, mb_grp_t goal)
{
	const _Atomic uint64_t *orders = &vol->largest_orders;
	uint64_t m = atomic_load_explicit(orders, memory_order_relaxed) >> lo;
	int k = lo + (m ? __builtin_ctzll(m) : 0);
	mb_grp_t g = vol->ngroups;

	if (!m || k > vol->max_order)
		return vol->ngroups; /* mb_orders_empty_from: the pass does nothing */
	/* a stream's goal is often past every member of the lower orders'
	   sets (the group it filled last keeps a larger chunk): their miss
	   goes on inline, no any_from first and no call of next()
	   (mb_gset_next_far; aging:8m64k:file 1477 -> 1472).  No look at
	   largest_ge[lo] first either: where it has no member past the goal
	   (the walk's skip of the pass), no set of order lo or more has one,
	   and the loop finds none the same (the goal's window almost always
	   has one: ~20 instructions a window less) */
	g = mb_gset_next_far(&vol->largest_set[k], goal);
	while (g >= vol->ngroups) {
		m = atomic_load_explicit(orders, memory_order_relaxed) >> k >> 1;
		if (!m || (k += 1 + __builtin_ctzll(m)) > vol->max_order)
			break;
		g = mb_gset_next_far(&vol->largest_set[k], goal);
	}
	if (g < vol->ngroups || !goal || mb_gset_next(&vol->largest_ge[lo], 0) >= goal)
		return g;
	for (k = lo; k <= vol->max_order; k++) {
		m = atomic_load_explicit(orders, memory_order_relaxed) >> k;
		if (!m || (k += __builtin_ctzll(m)) > vol->max_order)
			break;
		g = mb_gset_next_near(&vol->largest_set[k], 0);
		if (g < goal)
			return g;
	}
	return vol->ngroups;
}

/*
 * mb_visit_group's and mb_simple_scan_group_locked's steps for the window,
 * grp's lock held and its verdict given: the first free chunk of order lo
 * or more, its block in *start, its order in *k and its bit in order k's
 * map (*kw, *kbit: for the mark, which need not find it again), or false (nothing
 * taken) when the scan would find none or flag the group corrupt -- the
 * regular path then does that itself.
 */
static bool mb_window_chunk_locked(struct mb_volume *vol, struct mb_group *grp, int lo, int *k,
				   uint32_t *start, uint64_t **kw, uint64_t *kbit)
{
	for (*k = lo; !grp->bb_counters[*k];)
		if (++*k > vol->max_order)
			return false;
	return mb_scan_power2_fast_chunk_at_locked(vol, grp, *k, start, kw, kbit);
}

/*
 * mb_visit_group's verdict on the window's group, grp's lock held:
 * good_group, the load, and good_group again if the load built the
 * group's counters (its first load: till then they are synthesized).  The
 * walk tests good_group unlocked first, a hint that the locked test
 * repeats; a built group's load does nothing, and a rebuild of a dropped
 * one gives the same counters (buddy.c), so one locked test decides the
 * same there (~20 instructions a window).  A load that reads no bitmap --
 * an uninit group's first (pristine.c), a rebuild -- is made here as in
 * the visit the regular path would make next (512 first loads a run of
 * aging:8m64k:file, ~780 instructions less each); it can only fail for
 * memory, which the regular path then asks again, as for the bitmap's
 * copy.  A bitmap to read is left to the regular path: a failing read is
 * remembered there (ac->load_err) and the group passed over, not tried
 * twice.
 */
static bool mb_window_judge_locked(struct mb_ac *ac, struct mb_group *grp)
{
	struct mb_volume *vol = ac->vol;
	uint32_t state = atomic_load_explicit(&grp->bb_state, memory_order_relaxed);

	if (!mb_good_group_inline(ac, grp, MB_CR_POWER2_ALIGNED))
		return false;
	if (MB_LIKELY(!(state & MB_GRP_NEED_INIT)))
		return !mb_group_load_locked(vol, grp);
	return vol->store->ops->group_uninit(vol->store, mb_group_no(vol, grp)) &&
	       !mb_group_load_locked(vol, grp) &&
	       mb_good_group_inline(ac, grp, MB_CR_POWER2_ALIGNED);
}

/*
 * mb_use_found_locked for the window's chunk of order k at start, whose
 * front 2^lo blocks it takes, its bit in order k's map at *kw: the buddy's
 * part in closed form (mb_buddy_mark_chunk_front_used_at; the bitmap's
 * unsharing between lookup and take leaves the buddy's maps), then the rest as there
 * (mb_use_marked_locked).  The caller unshared the bitmap if a PA is made.
 * bb_lock held.
 */
static void mb_window_take_locked(struct mb_ac *ac, struct mb_group *grp, mb_grp_t g,
				  mb_grpblk_t start, int k, int lo, uint64_t *kw, uint64_t kbit,
				  int64_t sh)
{
	struct mb_volume *vol = ac->vol;

	ac->found++;
	ac->b_ex = (struct mb_fex){ g, start, 1u << lo, ac->g_ex.fe_logical };
	mb_buddy_chunk_leave(kw, kbit);
	mb_buddy_mark_chunk_front_used_at(vol, grp, start, k, lo);
	mb_use_marked_as(ac, grp, sh);
}

/*
 * A file's window of 2^lo blocks that CR_POWER2_ALIGNED serves from the
 * first group its walk visits -- a stream's new window, on a volume with
 * room -- taken without the criteria loop's set-up, the visit's and the
 * general mark's: the same group and chunk, the same PA and counters
 * (mb_regular_allocator, mb_scan_power2, mb_visit_group,
 * mb_simple_scan_group_locked, mb_use_found_locked).  The claim is the
 * context's, made already.  As mb_scan_power2_fast: the tunables and the
 * hook that want the regular path (p2_fast_lo), no goal block to try
 * first; anything else -- another group needed, a lock taken, a bitmap
 * to read, no memory for a load or the bitmap's copy -- declines having
 * changed nothing the regular path would not do again.  Whether it found.
 */
static __attribute__((noinline)) bool mb_window_fast(struct mb_ac *ac)
{
	struct mb_volume *vol = ac->vol;
	uint32_t len = ac->g_ex.fe_len;
	int lo = __builtin_ctz(len | 1u << 31);

	if ((len & (len - 1)) || lo <= MB_BUDDY_DERIVED || lo > vol->max_order ||
	    (uint32_t)lo < MB_READ_ONCE(vol->p2_fast_lo) ||
	    (ac->flags & (MB_HINT_TRY_GOAL | MB_HINT_GOAL_ONLY)))
		return false;
	ac->ac_2order = lo;
	int64_t sh = -1; /* the stream's slot, for the take's store */

	if (ac->flags & MB_STREAM_ALLOC) {
		sh = mb_stream_hash(ac);
		ac->g_ex.fe_group = mb_stream_goal_at(ac, (uint32_t)sh);
	}
	mb_grp_t g = mb_window_first_group(vol, lo, ac->g_ex.fe_group);

	if (g >= vol->ngroups)
		return false;
	struct mb_group *grp = mb_group_at(vol, g);
	_Atomic uint32_t *busy = &vol->lock_busy;
	uint32_t b = atomic_load_explicit(busy, memory_order_relaxed);
	uint32_t start;
	uint64_t *kw, kbit;
	int k;
	bool found = false;

	if (mb_trylock(&grp->bb_lock))
		return false;
	if (mb_window_judge_locked(ac, grp))
		found = mb_window_chunk_locked(vol, grp, lo, &k, &start, &kw, &kbit);
	if (!found || (ac->o_ex.fe_len < len && mb_pa_unshare_locked(ac, grp, len))) {
		mb_unlock(&grp->bb_lock);
		return false;
	}
	if (b) /* mb_lock_group's estimate, once the visit is ours */
		atomic_store_explicit(busy, b - 1, memory_order_relaxed);
	ac->criteria = MB_CR_POWER2_ALIGNED;
	ac->groups_scanned++;
	mb_window_take_locked(ac, grp, g, (mb_grpblk_t)start, k, lo, kw, kbit, sh);
	mb_unlock(&grp->bb_lock);
	mb_pa_after_unlock(ac);
	return true;
}

/*
 * Whether mb_window_fast may find: some group has a free chunk of the
 * window's order or more (largest_orders from lo; lo as there, and a
 * length not a power of two it declines anyway).  Else its first group is
 * none (mb_window_first_group) and it declines having changed nothing the
 * regular path does not set again (ac_2order, the stream goal:
 * mb_regular_allocator).  Tested inline, so that an aged volume's request
 * pays no call, no frame and no stream goal for that: on a77cafd every one
 * of cell:aged90:256:zero:20:file's 8,139 searches, ~57 instructions each.
 * Relaxed, as the pass's own read: a hint, the group's lock decides.
 */
static inline bool mb_window_may(const struct mb_volume *vol, const struct mb_ac *ac)
{
	int lo = __builtin_ctz(ac->g_ex.fe_len | 1u << 31);

	return atomic_load_explicit(&vol->largest_orders, memory_order_relaxed) >> lo;
}

/*
 * mb_alloc_search's rounds after a first that found nothing: ENOSPC's
 * discards and retries (mb_should_retry).  Out of line, its own copy of
 * the regular allocator: with the retry loop inline, the first round's
 * registers were saved and restored around it, and its fields read back
 * (drain 1697 -> 1694 instructions a call).  It ends the pressure its
 * rounds counted (mb_ac_feel_pressure): the first round counts none, so
 * mb_alloc_regular_as tests none (with the claim's test of claimed, which
 * a plain request always has, and mb_ac_stats on vol: drain 1693 -> 1687).
 */
static __attribute__((noinline, cold)) int mb_alloc_retry(struct mb_ac *ac)
{
	int err;

	for (;;) {
		if ((ac->flags & MB_HINT_GOAL_ONLY) || !mb_should_retry(ac)) {
			err = ac->load_err ? ac->load_err : -ENOSPC;
			break;
		}
		mb_ac_reset_search(ac); /* the first round's is mb_ac_init's */
		mb_regular_allocator(ac->vol, ac);
		if (ac->status == MB_AC_FOUND) {
			err = 0;
			break;
		}
	}
	/* the retry rounds are over: the pressure they counted ends here
	   (mb_ac_feel_pressure), not in mb_alloc_regular_as, whose first
	   round never counts any and so tests nothing */
	if (ac->pressured) {
		ac->pressured = false;
		atomic_fetch_sub_explicit(&ac->vol->enospc_pressure, 1, memory_order_relaxed);
	}
	return err;
}

/* anon: the request has no file, so no PA serves it, it has no locality
   group and is not normalized (each of those tests ac->file first) */
static inline __attribute__((always_inline)) int mb_alloc_search(struct mb_volume *vol,
								  struct mb_ac *ac, bool anon)
{
	if (!anon) {
		if (mb_use_inode_preallocated(ac))
			return 0;
		mb_group_or_file(ac);
		if (mb_use_group_preallocated(ac))
			return 0;
	}
	/* no discard_pa_seq sample here (ext4 takes one): mb_should_retry
	   compares with ac->seq only under MB_STRICT_CHECK, which it sets
	   together with the sum it samples itself, so the first is never read */
	/* a request elsewhere is short of space: take only what is asked */
	if (MB_UNLIKELY(atomic_load_explicit(&vol->enospc_pressure, memory_order_relaxed)))
		ac->flags |= MB_HINT_NOPREALLOC;
	if (!anon)
		mb_normalize_request(ac);
	if (!anon && ac->file && !(ac->flags & MB_HINT_NOPREALLOC)) {
		ac->pa_obj = mb_pa_alloc(); /* filled under the group lock later */
		if (!ac->pa_obj)
			return -ENOMEM;
		if (mb_window_may(vol, ac) && mb_window_fast(ac))
			return 0; /* a new window where CR_POWER2_ALIGNED looks first */
	}
	mb_regular_allocator(vol, ac);
	if (MB_LIKELY(ac->status == MB_AC_FOUND))
		return 0;
	return mb_alloc_retry(ac);
}

/*
 * What the PA fast path left: the allocation context and the search.  Out
 * of line (mb_alloc_regular, mb_alloc_regular_anon), so that its ~400-byte
 * context and its registers are not set up (and saved) on every PA hit.
 * anon: a request without a file that no hot probe listened to when it was
 * tested (mb_alloc_anon_valid; one that did comes here with anon false,
 * mb_alloc_anon_traced): no file to lock, no PA to use or make, no
 * locality group, nothing to release, and no alloc_done probe to fire, as
 * its request probe did not -- none of those tests made (~5 instructions
 * the probe's).
 */
static inline __attribute__((always_inline)) int mb_alloc_regular_as(struct mb_volume *vol,
								     const struct mb_request *req,
								     struct mb_extent *out,
								     bool anon)
{
	struct mb_ac ac;

	assert(!anon || !req->file);
	mb_ac_init(&ac, vol, req, anon);
	uint64_t claimed = 0; /* reserve.c: the free-space gate */
	int err = mb_resv_claim_request(&ac, &claimed);

	if (err)
		return err;
	if (!anon && ac.file)
		mb_lock(&ac.file->f_data_sem);
	err = mb_alloc_search(vol, &ac, anon);
	if (!err) {
		if (!anon && ac.lg && ac.file)
			ac.file->f_lg = ac.lg; /* it sticks to this group (mb_file_lg) */
		out->start = mb_fex_block(vol, &ac.b_ex);
		out->len = ac.b_ex.fe_len;
		out->logical = req->logical;
	}
	/* without a file there is no PA or locality group to release
	   (mb_group_or_file, mb_alloc_search) */
	assert(!anon || (!ac.lg && !ac.pa_obj && !ac.pa));
	if (!anon) {
		mb_probe_alloc_done(&ac, err);
		mb_release_context(&ac);
	}
	/* a plain request claimed a block at least (mb_resv_claim_request):
	   mb_resv_consumed_at's test of claimed goes (2 instructions) */
	if (!(ac.flags & MB_HINT_DELALLOC_RESERVED) && !claimed)
		__builtin_unreachable();
	mb_resv_consumed_at(vol, ac.slot, claimed, err ? 0 : ac.b_ex.fe_len, ac.flags);
	assert(!ac.pressured); /* mb_alloc_retry ended it */
	if (!anon && ac.file)
		mb_unlock(&ac.file->f_data_sem);
	mb_ac_stats(vol, &ac, err);
	return err;
}

static __attribute__((noinline)) int mb_alloc_regular(struct mb_volume *vol,
						      const struct mb_request *req,
						      struct mb_extent *out)
{
	return mb_alloc_regular_as(vol, req, out, false);
}

static __attribute__((noinline)) int mb_alloc_regular_anon(struct mb_volume *vol,
							   const struct mb_request *req,
							   struct mb_extent *out)
{
	return mb_alloc_regular_as(vol, req, out, true);
}

/*
 * mb_alloc_anon_valid's request while a tracer listens to one of the hot
 * probes (probe.h, mb_probe_hot): the request's probe, and the regular
 * path, which fires the others (the fast path fires none)
 */
static __attribute__((noinline, cold)) int mb_alloc_anon_traced(struct mb_volume *vol,
								  const struct mb_request *req,
								  struct mb_extent *out)
{
	mb_probe_request(vol, req);
	if (mb_store_read_only(vol->store))
		return -EROFS; /* nothing allocated could ever be committed */
	return mb_alloc_regular(vol, req, out);
}

/*
 * mb_alloc_one_fast's steps in a threaded process, from the group g the
 * walk visits first (as read without a lock, like the regular path's
 * walk): the visit's lock as mb_lock_group takes it when free -- a held
 * lock declines, and the regular path skips the group or waits, as its
 * criterion says -- and under it the state, the verdict and the tail's
 * test that the one-thread copy makes before its lock, then the claim
 * from this CPU's share under the slot's lock (mb_resv_take_exact_mt, as
 * the power-of-two fast path's) and the take.  Everything the answer
 * rests on is read under bb_lock, so that the block is one the regular
 * path, run alone at that moment, would take.  The contention estimate
 * moves as for a lock found free only when the take is made: a decline
 * leaves it to the regular path's own visit.  me: this thread's lock
 * record, read once for the group's and the slot's locks.  Threaded
 * raw:1:200000 778 -> 493 instructions a call (one thread: 459).  Test:
 * test_race_one_fast.
 */
static inline __attribute__((always_inline)) int mb_alloc_one_fast_mt_at(struct mb_volume *vol,
									  const struct mb_request *req,
									  struct mb_extent *out,
									  mb_grp_t g)
{
	struct mb_group *grp = mb_group_at(vol, g);
	struct mb_lock_thr *me = mb_lock_me();

	if (mb_trylock_mt(&grp->bb_lock, MB_RANK_GROUP, me))
		return mb_alloc_regular_anon(vol, req, out);
	uint32_t state = atomic_load_explicit(&grp->bb_state, memory_order_relaxed);
	uint32_t free = grp->bb_free, frags = grp->bb_fragments, first = grp->bb_first_free;

	/* built and counted (no load to make), passing the verdict, free
	   from its first free block on: else the regular path's */
	if ((state & (MB_GRP_NEED_INIT | MB_GRP_TRACKED | MB_GRP_CORRUPT)) != MB_GRP_TRACKED ||
	    !grp->bb_buddy || !frags || free < frags || !mb_scan1_tail_free(vol, grp, first, free))
		goto decline;
	assert(mb_good_group(&(struct mb_ac){ .g_ex.fe_len = 1 }, grp, MB_CR_GOAL_LEN_FAST));
	int k = mb_scan1_tail_order(vol, first);
	struct mb_ac ac;

	mb_ac_init(&ac, vol, req, true);
	if (!mb_resv_take_exact_mt(ac.slot, 1, 1, me))
		goto decline;
	ac.criteria = MB_CR_GOAL_LEN_FAST;
	ac.groups_scanned = 1;
	ac.found = 1; /* one extent at least: the count, only mb_stats' */
	ac.b_ex = (struct mb_fex){ g, first, 1u << k, req->logical };
	mb_use_one_found_locked(&ac, grp, k); /* first starts a maximal chunk of order k */
	mb_unlock_mt(&grp->bb_lock, MB_RANK_GROUP);
	assert(ac.status == MB_AC_FOUND && ac.b_ex.fe_len == 1 && !ac.pa_obj);

	_Atomic uint32_t *busy = &vol->lock_busy; /* mb_lock_group's, the lock found free */
	uint32_t b = atomic_load_explicit(busy, memory_order_relaxed);

	if (b)
		atomic_store_explicit(busy, b - 1, memory_order_relaxed);
	out->start = mb_group_first_block(vol, g) + first;
	out->len = 1;
	out->logical = req->logical;
	return 0;
decline:
	mb_unlock_mt(&grp->bb_lock, MB_RANK_GROUP);
	return mb_alloc_regular_anon(vol, req, out);
}

/*
 * A one-block request without a file, under the
 * default tunables (p2_fast_lo: no stats, the indexed scan, no linear
 * groups, no hook, a writable store), with no goal block to try first and
 * nothing reserved: what the regular path does for it when its first
 * group's free blocks are one run from bb_first_free to the group's end --
 * a sequential fill's, raw:1's every request -- without the allocation
 * context's search.  That path: CR_GOAL_LEN_FAST (a one-block goal is never
 * CR_POWER2_ALIGNED's, mb_regular_allocator), whose walk
 * (mb_scan_goal_len_fast_p2) visits first the first member of the
 * lowest non-empty average order's set from the goal's group; the visit's
 * verdict on its counters; the one-block scan from bb_first_free
 * (mb_scan_one_block_locked), whose first shortest extent is then the
 * tail's first chunk (mb_scan1_tail); and the take of its first block
 * (mb_use_one_found_locked, the one-block scan's take: the chunk's order
 * known, one block marked in closed form).  The claim is taken
 * here, once the block is in hand, as the power-of-two fast path's
 * (mb_scan_power2_fast): only from this CPU's share, and never settled.
 * Anything else -- the walk's skip of the set, no member, a group not
 * built or refused, free blocks that are no tail, a share that cannot
 * grant -- declines having changed nothing, and the regular path decides.
 * With one thread the group's lock is free: mb_alloc holds none
 * (mb_lock_one_free), and the group is read before it; a threaded
 * process takes it as the visit would (mb_alloc_one_fast_mt_at).  On
 * 8837a57 raw:1:200000 776 -> 506 instructions a call (456 with the
 * closed-form one-block mark).
 */
static inline __attribute__((always_inline)) int mb_alloc_one_fast_as(struct mb_volume *vol,
								      const struct mb_request *req,
								      struct mb_extent *out, bool one)
{
	uint64_t m = atomic_load_explicit(&vol->avg_orders, memory_order_relaxed);

	/* enospc_pressure: the regular path's NOPREALLOC, which changes nothing
	   for this request; declined all the same (rare) */
	if (!m || MB_READ_ONCE(vol->p2_fast_lo) == UINT32_MAX ||
	    (req->flags & (MB_HINT_DELALLOC_RESERVED | MB_HINT_TRY_GOAL | MB_HINT_GOAL_ONLY)) ||
	    atomic_load_explicit(&vol->enospc_pressure, memory_order_relaxed))
		return mb_alloc_regular_anon(vol, req, out);
	int ao = __builtin_ctzll(m); /* the lowest average order with a group */
	/* group 0's goal (no goal, or a block of the first group: a fill's
	   from block 0) by one compare, as mb_scan_power2_fast's */
	uint64_t gb = req->goal - vol->data_first;
	mb_grp_t goal = 0;

	if (gb >= vol->bpg && req->goal != MB_GOAL_NONE)
		goal = mb_block_group(vol, req->goal);

	/* the walk's first pass skipped, or its order past max_order: the
	   walk of every set, the regular path's */
	if (ao > vol->max_order || (goal && !mb_gset_any_from(&vol->avg_ge[0], goal)))
		return mb_alloc_regular_anon(vol, req, out);
	mb_grp_t g = mb_gset_next_near(&vol->avg_set[ao], goal);

	if (g >= vol->ngroups)
		return mb_alloc_regular_anon(vol, req, out);
	if (!one)
		return mb_alloc_one_fast_mt_at(vol, req, out, g);
	/* built and counted in the cache (TRACKED implies set up: mb_group_at
	   has nothing to do, the load nothing either); the prefilter's and the
	   locked verdict's test on the counters, free / frags >= 1 */
	struct mb_group *grp = &vol->groups[g];
	uint32_t state = atomic_load_explicit(&grp->bb_state, memory_order_relaxed);
	uint32_t free = grp->bb_free, frags = grp->bb_fragments;

	if ((state & (MB_GRP_NEED_INIT | MB_GRP_TRACKED | MB_GRP_CORRUPT)) != MB_GRP_TRACKED ||
	    !grp->bb_buddy || !frags || free < frags)
		return mb_alloc_regular_anon(vol, req, out);
	assert(free && mb_good_group(&(struct mb_ac){ .g_ex.fe_len = 1 }, grp,
				     MB_CR_GOAL_LEN_FAST));
	/* the scan's answer in closed form where the group is free from its
	   first free block on (a sequential fill's): the tail's first chunk,
	   the shortest (mb_scan1_tail), else the regular path's scan -- a
	   second caller of mb_buddy_scan1 made gcc stop inlining it into
	   mb_visit_group.  No count of the extents: where the scan breaks off
	   past mb_max_to_scan (that at or below mb_min_to_scan), the criteria
	   loop takes the best it left -- this chunk's front, as measured with
	   one thread (mb_try_best_found) -- the same block */
	uint32_t first = grp->bb_first_free;

	if (!mb_scan1_tail_free(vol, grp, first, free))
		return mb_alloc_regular_anon(vol, req, out);
	int k = mb_scan1_tail_order(vol, first);

	mb_lock_one_free(&grp->bb_lock);
	/* the take is the one-block scan's, on its context as the search left
	   it: mb_use_one_found_locked reads what it reads there (a call of the
	   buddy's general mark here made gcc stop inlining it into
	   mb_use_found_locked: drain +15 instructions a call); raw:1 506 -> 456
	   with the closed-form mark */
	struct mb_ac ac;

	mb_ac_init(&ac, vol, req, true);
	if (!mb_resv_take_exact_held(ac.slot, 1, 1)) {
		mb_unlock_one(&grp->bb_lock, true);
		return mb_alloc_regular_anon(vol, req, out);
	}
	ac.criteria = MB_CR_GOAL_LEN_FAST;
	ac.groups_scanned = 1;
	ac.found = 1; /* one extent at least: the count, only mb_stats' */
	ac.b_ex = (struct mb_fex){ g, first, 1u << k, req->logical };
	mb_use_one_found_locked(&ac, grp, k); /* first starts a maximal chunk of order k */
	mb_unlock_one(&grp->bb_lock, true);
	assert(ac.status == MB_AC_FOUND && ac.b_ex.fe_len == 1 && !ac.pa_obj);
	out->start = mb_group_first_block(vol, g) + first;
	out->len = 1;
	out->logical = req->logical;
	return 0;
}

/* mb_alloc_one_fast in a process of one thread and in a threaded one, a
   copy each (as mb_scan_power2_fast_one and _mt) */
static __attribute__((noinline)) int mb_alloc_one_fast(struct mb_volume *vol,
							const struct mb_request *req,
							struct mb_extent *out)
{
	return mb_alloc_one_fast_as(vol, req, out, true);
}

static __attribute__((noinline)) int mb_alloc_one_fast_mt(struct mb_volume *vol,
							   const struct mb_request *req,
							   struct mb_extent *out)
{
	return mb_alloc_one_fast_as(vol, req, out, false);
}

/* mb_alloc_anon's steps past a valid request's test */
static inline __attribute__((always_inline)) int mb_alloc_anon_valid(struct mb_volume *vol,
								     const struct mb_request *req,
								     struct mb_extent *out)
{
	/* one load and test for the four hot probes: the request's, which
	   fires here, and the three the fast path would skip */
	if (MB_UNLIKELY(MB_PROBE_HOT()))
		return mb_alloc_anon_traced(vol, req, out);
	/* a read-only store's p2_fast_lo sends every request past the fast
	   path (mb_tunables_retune): its test is the regular path's alone */
	int k = mb_scan_power2_fast_order(vol, req);

	if (k >= 0)
		return MB_SINGLE_THREADED() ? mb_scan_power2_fast_one(vol, req, out, k)
					    : mb_scan_power2_fast_mt(vol, req, out, k);
	if (MB_UNLIKELY(mb_store_read_only(vol->store)))
		return -EROFS; /* nothing allocated could ever be committed */
	if (k == MB_P2_FAST_ONE_BLOCK)
		return MB_SINGLE_THREADED() ? mb_alloc_one_fast(vol, req, out)
					    : mb_alloc_one_fast_mt(vol, req, out);
	return mb_alloc_regular_anon(vol, req, out);
}

/* mb_alloc_anon's request of a rare shape (mb_request_rare): its own
   function, so that mb_alloc_anon calls nothing and keeps no frame */
static __attribute__((noinline)) int mb_alloc_anon_rare(struct mb_volume *vol,
							const struct mb_request *req,
							struct mb_extent *out)
{
	if (!mb_request_rare_valid(vol, req))
		return -EINVAL;
	return mb_alloc_anon_valid(vol, req, out);
}

/*
 * mb_alloc's two shapes, out of line each so that mb_alloc itself is one
 * test and a jump: a request without a file reaches mb_alloc_regular_anon with
 * none of the frame the PA fast path's registers need (gcc set it up
 * before any test when both shared one function).  Without a file,
 * mb_request_valid's file test has nothing to test, and every way out is
 * a tail call or a return: no frame (the rare shape's call of
 * mb_request_valid_full set one up, 6 instructions a call).
 */
static __attribute__((noinline)) int mb_alloc_anon(struct mb_volume *vol,
						   const struct mb_request *req,
						   struct mb_extent *out)
{
	if (MB_UNLIKELY(mb_request_rare(req)))
		return mb_alloc_anon_rare(vol, req, out);
	if (!mb_request_common_valid(vol, req))
		return -EINVAL;
	return mb_alloc_anon_valid(vol, req, out);
}

/* A file's request that a PA may serve (mb_pa_fast_may): the PA fast
   path's frame is set up here, not in mb_alloc_file, which a miss leaves
   for the regular path with none (aging:triangle:file, half misses: ~20
   instructions a miss) */
static __attribute__((noinline)) int mb_alloc_file_pa(struct mb_volume *vol,
						      const struct mb_request *req,
						      struct mb_extent *out)
{
	if (mb_pa_fast_alloc(vol, req, out))
		return 0; /* its file's PA served it (prealloc.c) */
	return mb_alloc_regular(vol, req, out);
}

/* A file's request that a PA may serve, in a process of one thread: the
   one-word hit (mb_pa_fast_leaf), else the PA fast path's function */
static __attribute__((noinline)) int mb_alloc_file_hit(struct mb_volume *vol,
						       const struct mb_request *req,
						       struct mb_extent *out)
{
	if (mb_pa_fast_leaf(vol, req, out))
		return 0;
	return mb_alloc_file_pa(vol, req, out);
}

/* The same in a process with threads: the leaf's threaded copy, its
   locks held by bias (mb_pa_fast_leaf_mt) */
static __attribute__((noinline)) int mb_alloc_file_hit_mt(struct mb_volume *vol,
							  const struct mb_request *req,
							  struct mb_extent *out)
{
	if (mb_pa_fast_leaf_mt(vol, req, out))
		return 0;
	return mb_alloc_file_pa(vol, req, out);
}

/* mb_alloc_file's steps past a valid request's test: every way out a tail
   call or a return */
static inline __attribute__((always_inline)) int mb_alloc_file_valid(struct mb_volume *vol,
								     const struct mb_request *req,
								     struct mb_extent *out)
{
	mb_probe_request(vol, req);
	if (MB_UNLIKELY(mb_store_read_only(vol->store)))
		return -EROFS;
	if (mb_pa_fast_may(vol, req)) /* the leaf's one thread tested here */
		return MB_SINGLE_THREADED() ? mb_alloc_file_hit(vol, req, out)
					    : mb_alloc_file_hit_mt(vol, req, out);
	return mb_alloc_regular(vol, req, out);
}

/* mb_alloc_file's request of a rare shape (mb_request_rare): its own
   function, as mb_alloc_anon_rare, so that mb_alloc_file calls nothing
   and keeps no frame */
static __attribute__((noinline)) int mb_alloc_file_rare(struct mb_volume *vol,
							const struct mb_request *req,
							struct mb_extent *out)
{
	if (!mb_request_rare_valid(vol, req))
		return -EINVAL;
	return mb_alloc_file_valid(vol, req, out);
}

/* A file's request: mb_request_valid's tests, then the PA fast path's or
   the regular path's function, each a tail call from a frameless body */
static __attribute__((noinline)) int mb_alloc_file(struct mb_volume *vol,
						   const struct mb_request *req,
						   struct mb_extent *out)
{
	if (!req->file) /* mb_alloc's test: the inlined ones of req->file go */
		__builtin_unreachable();
	if (MB_UNLIKELY(mb_request_rare(req)))
		return mb_alloc_file_rare(vol, req, out);
	if (req->file->f_vol != vol || !mb_request_common_valid(vol, req))
		return -EINVAL;
	return mb_alloc_file_valid(vol, req, out);
}

int mb_alloc(struct mb_volume *vol, const struct mb_request *req, struct mb_extent *out)
{
	return req->file ? mb_alloc_file(vol, req, out) : mb_alloc_anon(vol, req, out);
}
