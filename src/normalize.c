/* SPDX-License-Identifier: MIT */
/*
 * normalize.c - request normalization (ext4_mb_normalize_request): widen a
 * file's request to the window it will probably grow into, so sequential
 * writers asking one block at a time get large contiguous extents, then
 * clip the window to what is already mapped, to the group size and to the
 * file's live preallocations.
 *
 * Locking: reads the file's PA tree, which is the caller's own (it holds
 * f_data_sem).  PA bounds of inode PAs are constant.
 */
#include "alloc_ctx.h"

#define MB_KIB 1024ULL
#define MB_MIB (1024ULL * 1024)

/*
 * ext4's size table.  size: predicted file size in bytes.  Sets the window
 * in bytes (*wsize) and its start in blocks (*wstart).  Returns false for
 * "leave the request as it is".  `max` = 2 << blocksize_bits reproduces
 * ext4's NRL_CHECK_SIZE quirk: small blocks take the 2 MiB row early.
 */
bool mb_normalize_window(uint64_t size, uint64_t req_bytes, uint64_t logical, int bsbits,
			 uint64_t *wsize, uint64_t *wstart)
{
	uint64_t max = 2ULL << bsbits;

	/* a file past 8 MiB on blocks of 4 KiB or more (max 8 KiB or more:
	   the file lane's appending streams) fails the first four rows'
	   tests: one test of each bound instead of the four rows' seven; the
	   fifth row's block test is max > 8 KiB, blocks of 8 KiB or more
	   (test_pa_normalize's normalize_large_rows_every_block_size);
	   aging:triangle:file 1338.1 -> 1334.1, aging:8m64k:file 1226.7 ->
	   1223.7 instructions a call */
	if (size > 8 * MB_MIB && max > 4 * MB_KIB) {
		if (req_bytes > 8 * MB_MIB && max > 8 * MB_KIB)
			return false;
		*wsize = 8 * MB_MIB;
		*wstart = (logical >> (23 - bsbits)) << (23 - bsbits);
		return true;
	}
	*wstart = 0;
	if (size <= 16 * MB_KIB) {
		*wsize = 16 * MB_KIB;
	} else if (size <= MB_MIB) {
		*wsize = 1ULL << (64 - __builtin_clzll(size - 1)); /* next power of two */
	} else if (size <= 4 * MB_MIB || max <= 2 * MB_KIB) {
		*wsize = 2 * MB_MIB;
		*wstart = (logical >> (21 - bsbits)) << (21 - bsbits);
	} else if (size <= 8 * MB_MIB || max <= 4 * MB_KIB) {
		*wsize = 4 * MB_MIB;
		*wstart = (logical >> (22 - bsbits)) << (22 - bsbits);
	} else if (req_bytes <= 8 * MB_MIB || max <= 8 * MB_KIB) {
		*wsize = 8 * MB_MIB;
		*wstart = (logical >> (23 - bsbits)) << (23 - bsbits);
	} else {
		return false;
	}
	return true;
}

/*
 * ext4_mb_pa_adjust_overlap: shrink [*start, *end) so it overlaps none of
 * the file's live PAs.  Returns false if the request's first block lies in
 * one (it could not be served from it: the block there is taken).  A PA
 * that starts inside the request cuts the window short of the request's
 * end, as in ext4 (rule 6).
 */
static bool mb_adjust_to_pas(struct mb_ac *ac, uint64_t *start, uint64_t *end)
{
	uint64_t lblk = ac->o_ex.fe_logical;
	bool ok = true;

	/* the file's last PA ends at or before the window (an appending
	   file between windows: its PAs used up, or only ones it left
	   behind): none can overlap, as none ends past the last, and no
	   floor walk or next is needed (~10 instructions a window) */
	if (mb_file_pa_end(ac->file) <= *start)
		return true;
	/* PAs are disjoint and in order: only those from the one starting at
	   or before *start up to *end can overlap, and *end only shrinks */
	for (struct mb_pa *pa = mb_file_pa_from(ac->file, *start); pa && pa->pa_lstart < *end;
	     pa = mb_file_pa_next(pa)) {
		uint64_t ps = pa->pa_lstart, pe = ps + pa->pa_len;

		/* a PA being torn down still counts: trimming against it is harmless */
		if (pe <= *start)
			continue;
		if (ps <= lblk && pe > lblk) {
			ok = false;
			break;
		}
		if (pe <= lblk)
			*start = pe;
		else
			*end = ps;
	}
	return ok;
}

/* Whether the request names a neighbour (either side): one test of the
   words mb_req_has_left and mb_req_has_right look at */
static inline bool mb_req_has_neighbour(const struct mb_request *req)
{
	return req->pleft | req->pright | (req->flags & (MB_REQ_PLEFT | MB_REQ_PRIGHT));
}

/* Clips the window to the mapped neighbours the caller told us about.  Out
   of line, as mb_neighbour_goal: a request that names none (the file lane's
   usual one) keeps none of their words in a register. */
static __attribute__((noinline, cold)) void mb_clip_to_neighbours(const struct mb_request *req,
								 uint64_t *start, uint64_t *end)
{
	if (mb_req_has_left(req) && *start <= req->lleft)
		*start = req->lleft + 1;
	if (mb_req_has_right(req) && *end > req->lright)
		*end = req->lright;
}

/* The physical goal of a window [start, start + size) that touches a mapped
   neighbour of the request, or MB_GOAL_NONE (the left one wins). */
static __attribute__((noinline, cold)) mb_fsblk_t
mb_neighbour_goal(const struct mb_volume *vol, const struct mb_request *req, uint64_t start,
		  uint64_t size)
{
	mb_fsblk_t goal = MB_GOAL_NONE;

	if (mb_req_has_right(req) && req->lright == start + size && req->pright >= size &&
	    req->pright - size >= vol->geo.first_data_block)
		goal = req->pright - size;
	if (mb_req_has_left(req) && req->lleft + 1 == start && req->pleft + 1 < vol->geo.blocks_count)
		goal = req->pleft + 1;
	return goal;
}

/* Physical goal: merge with a mapped neighbour when the window touches it;
   nb: the request names one (mb_req_has_neighbour). */
static void mb_merge_goal(struct mb_ac *ac, uint64_t start, uint64_t size, bool nb)
{
	const struct mb_request *req = ac->req;
	struct mb_volume *vol = ac->vol;
	mb_fsblk_t goal = MB_UNLIKELY(nb) ? mb_neighbour_goal(vol, req, start, size) : MB_GOAL_NONE;

	if (goal == MB_GOAL_NONE && ac->goal_block) {
		/* the caller's goal names the request's block: shift it to the
		   window.  It is o_ex's block (mb_ac_init), read as given */
		mb_fsblk_t g0 = req->goal;
		uint64_t shift = ac->o_ex.fe_logical - start;

		assert(g0 == mb_fex_block(vol, &ac->o_ex));

		if (g0 >= vol->geo.first_data_block + shift) {
			ac->g_ex.fe_group = mb_block_group(vol, g0 - shift);
			ac->g_ex.fe_start = mb_block_offset(vol, g0 - shift);
		}
		return;
	}
	/* mb_ac_init keeps neighbours inside the volume; a goal outside it
	   would index past vol->groups, so never trust the arithmetic alone */
	if (goal < vol->geo.first_data_block || goal >= vol->geo.blocks_count)
		return;
	ac->g_ex.fe_group = mb_block_group(vol, goal);
	ac->g_ex.fe_start = mb_block_offset(vol, goal);
	ac->flags |= MB_HINT_TRY_GOAL;
}

void mb_normalize_request(struct mb_ac *ac)
{
	struct mb_volume *vol = ac->vol;
	int bsbits = mb_ilog2(vol->geo.block_size);

	if (!ac->file || (ac->flags & (MB_HINT_NOPREALLOC | MB_HINT_GOAL_ONLY)))
		return;
	if (ac->flags & MB_HINT_GROUP_ALLOC) {
		uint32_t gp = MB_READ_ONCE(vol->t.mb_group_prealloc);

		ac->g_ex.fe_len = gp < vol->bpg ? gp : vol->bpg;
		if (ac->g_ex.fe_len < ac->o_ex.fe_len)
			ac->g_ex.fe_len = ac->o_ex.fe_len;
		ac->orig_goal_len = ac->g_ex.fe_len;
		return;
	}
	uint64_t lblk = ac->o_ex.fe_logical, olen = ac->o_ex.fe_len;
	uint64_t size = lblk + olen, isize = MB_READ_ONCE(ac->file->f_size);
	uint64_t wsize, wstart;

	/* lblk + olen <= MB_LOGICAL_LIMIT (mb_ac_init); clamping the size too
	   keeps size << bsbits (< 2^57) and the window below 2^64 */
	if (isize > size)
		size = isize < MB_LOGICAL_LIMIT ? isize : MB_LOGICAL_LIMIT;
	if (!mb_normalize_window(size << bsbits, olen << bsbits, lblk, bsbits, &wsize, &wstart))
		return;
	uint64_t start = wstart, end = wstart + (wsize >> bsbits);

	if (end > MB_LOGICAL_LIMIT) /* no file block lies past the limit */
		end = MB_LOGICAL_LIMIT;
	/* tiny groups: stay in one (a mask where bpg is a power of two) */
	uint64_t grp_floor = vol->bpg_shift ? lblk & ~(uint64_t)(vol->bpg - 1)
					    : lblk - lblk % vol->bpg;
	bool nb = mb_req_has_neighbour(ac->req);

	if (start < grp_floor)
		start = grp_floor;
	if (MB_UNLIKELY(nb))
		mb_clip_to_neighbours(ac->req, &start, &end);
	if (end - start > vol->bpg)
		end = start + vol->bpg;
	/*
	 * Rule 6: the window must hold the request's first block, not all of
	 * it.  A window shorter than the request (a 544-block request at
	 * logical 0 of a 2176 KiB file gets the 2 MiB window of 512 blocks) is
	 * kept, as ext4 does: 512 blocks are allocated and the caller asks
	 * again for the rest.
	 */
	if (start > lblk || end <= lblk || !mb_adjust_to_pas(ac, &start, &end)) {
		ac->flags |= MB_HINT_NOPREALLOC; /* neighbours or PAs leave no room */
		return;
	}
	ac->g_ex.fe_logical = start;
	ac->g_ex.fe_len = (uint32_t)(end - start);
	ac->orig_goal_len = ac->g_ex.fe_len;
	mb_merge_goal(ac, start, end - start, nb);
}
