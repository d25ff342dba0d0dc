/* SPDX-License-Identifier: MIT */
/*
 * allocvec.c - mb_alloc_constrained() and mb_alloc_vec(): argument checks,
 * the reservation gate, and the greedy gathering of extents over
 * constrain.c's search, with the all-or-nothing rollback.
 *
 * Gathering takes the longest piece the volume has (capped at what is
 * still wanted), each next one from where the last ended when that piece
 * is as long, until the vector is full.  Taking the longest first is what
 * makes "fails only when the space is not there" exact: the pieces a run
 * offers are max-long chunks from its first aligned block plus a
 * remainder, taking one leaves the same pieces minus it, and the best n
 * pieces of that multiset are the n largest -- which is what the greedy
 * takes.  Only the last extent of a vector may be shorter than min: it
 * completes the length asked.
 *
 * A gathering that fell short is judged like a failed pass (constrain.c):
 * if no buddy but ours moved during it, it ran on one consistent state,
 * and the shortfall is true; otherwise it is rolled back and run again.
 * While an all-or-nothing gathering holds pieces it may give back, it is
 * counted (vol->vec_holding): another call's failing decision waits for it
 * instead of answering ENOSPC over space that is about to come back.
 */
#include "constrain.h"
#include "store.h"

/* Shared checks; -EINVAL or -EROFS, nothing changed. */
static int mb_cons_request(struct mb_cons *k, struct mb_volume *vol, const struct mb_request *req,
			   const struct mb_constraint *c)
{
	if (!mb_request_valid(vol, req))
		return -EINVAL;
	int err = mb_cons_setup(k, vol, c);

	if (err)
		return err;
	mb_cons_set_goal(k, req);
	if ((req->flags & MB_HINT_GOAL_ONLY) && k->has_goal && req->goal % k->align)
		return -EINVAL; /* no aligned extent can start there */
	if (mb_store_read_only(vol->store))
		return -EROFS;
	return 0;
}

static void mb_vec_to_extent(const struct mb_volume *vol, const struct mb_fex *ex,
			     uint64_t logical, struct mb_extent *out)
{
	*out = (struct mb_extent){ mb_fex_block(vol, ex), logical, ex->fe_len };
}

static struct mb_fex mb_vec_to_fex(const struct mb_volume *vol, const struct mb_extent *e)
{
	return (struct mb_fex){ mb_block_group(vol, e->start), mb_block_offset(vol, e->start),
				e->len, 0 };
}

/*
 * One greedy gathering of up to len blocks in up to n extents (see the top
 * of the file), written to out[] from `logical` on.  Returns the extents
 * taken; *sum their blocks.  `asked` is req->len: len is less when the
 * claim was cut, and then a remainder below min is not gathered (only a
 * last extent that completes req->len may be shorter than min).
 */
static uint32_t mb_vec_gather(struct mb_cons *k, uint64_t len, uint64_t asked, uint32_t n,
			      bool all, uint64_t logical, struct mb_extent *out, uint64_t *sum)
{
	struct mb_volume *vol = k->vol;
	uint32_t cnt = 0, min = k->min;
	struct mb_fex ex;

	*sum = 0;
	while (cnt < n && *sum < len) {
		uint32_t want = mb_cons_want(k, len - *sum);

		if (want < min && *sum + want != asked)
			break; /* a short vector: the claim was cut */
		k->min = want < min ? want : min; /* the last piece completes len */
		k->rest = all ? len - *sum : 0;
		uint32_t got = mb_cons_pass(k, want, true, &ex);

		k->min = min;
		if (!got)
			break;
		mb_vec_to_extent(vol, &ex, logical + *sum, &out[cnt++]);
		*sum += got;
		/* contiguous first: the next piece starts where this one ended */
		uint32_t end = ex.fe_start + got;

		k->has_goal = end < vol->bpg;
		k->goal_group = k->has_goal ? ex.fe_group : (ex.fe_group + 1) % vol->ngroups;
		k->goal_off = k->has_goal ? end : 0;
	}
	return cnt;
}

/*
 * Gathers len blocks (all: exactly, or nothing stays taken) into ex[0..n),
 * with the ENOSPC rounds of constrain.c.  Returns the extent count or
 * -errno.  GOAL_ONLY gets a single round, as in mb_alloc.
 */
static int mb_vec_place(struct mb_cons *k, uint64_t len, uint64_t asked, uint32_t n, bool all,
			uint64_t logical, struct mb_extent *out, uint64_t *sum)
{
	struct mb_cons start = *k;

	for (;;) {
		k->has_goal = start.has_goal;
		k->goal_group = start.goal_group;
		k->goal_off = start.goal_off;
		mb_cons_round_begin(k);
		uint32_t cnt = mb_vec_gather(k, len, asked, n, all, logical, out, sum);

		k->rest = 0;
		if (*sum == len || (cnt && !all)) {
			mb_cons_hold_end(k);
			return (int)cnt;
		}
		if (cnt)
			MB_HOOK(k->vol, MB_HOOK_VEC_SHORT, k->goal_group, (int)cnt);
		for (uint32_t i = 0; i < cnt; i++) {
			struct mb_fex ex = mb_vec_to_fex(k->vol, &out[i]);

			mb_cons_undo(k->vol, &ex, k->flags);
		}
		mb_cons_hold_end(k); /* what it held is back */
		*sum = 0;
		if ((k->flags & MB_HINT_GOAL_ONLY) || !mb_cons_should_retry(k, !cnt))
			return k->load_err ? k->load_err : -ENOSPC;
	}
}

/*
 * The gate (reserve.c), then placement.  A plain request claims hi blocks,
 * halving down to lo; a DELALLOC_RESERVED one places its caller's
 * reservation.  *len becomes what may be placed.
 */
static int mb_vec_run(struct mb_cons *k, uint64_t lo, uint64_t *len, uint32_t n, bool all,
		      uint64_t logical, struct mb_extent *out, uint64_t *sum)
{
	struct mb_volume *vol = k->vol;
	bool plain = !(k->flags & MB_HINT_DELALLOC_RESERVED);
	uint64_t claimed = 0, asked = *len;
	struct mb_pcpu *slot = NULL; /* where the claim settles */
	int ret;

	if (plain) {
		claimed = mb_resv_claim_span(vol, lo, *len, k->flags, &slot);
		if (!claimed)
			return -ENOSPC;
		*len = claimed - claimed % k->align; /* >= lo: lo is a multiple of align */
	}
	ret = mb_vec_place(k, *len, asked, n, all, logical, out, sum);
	mb_cons_end(k);
	if (plain) /* on the slot it claimed on */
		mb_resv_consumed_at(vol, slot, claimed, ret < 0 ? 0 : *sum, k->flags);
	else
		mb_resv_consumed(vol, 0, ret < 0 ? 0 : *sum, k->flags);
	return ret;
}

static bool mb_cons_is_none(const struct mb_constraint *c)
{
	return !c || !(c->min_len | c->align | c->max_len | c->flags);
}

int mb_alloc_constrained(struct mb_volume *vol, const struct mb_request *req,
			 const struct mb_constraint *c, struct mb_extent *out)
{
	struct mb_cons k;
	uint64_t sum;

	if (!vol || !req || !out)
		return -EINVAL;
	if (mb_cons_is_none(c))
		return mb_alloc(vol, req, out); /* ext4's decisions, unchanged */
	int err = mb_cons_request(&k, vol, req, c);

	if (err)
		return err;
	uint64_t len = mb_cons_want(&k, req->len); /* cut to a group, max_len, align */

	if (len < k.min)
		return -EINVAL;
	struct mb_extent ex;

	err = mb_vec_run(&k, k.min, &len, 1, false, req->logical, &ex, &sum);
	if (err < 0)
		return err;
	*out = ex; /* written only on success */
	return 0;
}

int mb_alloc_vec(struct mb_volume *vol, const struct mb_request *req,
		 const struct mb_constraint *c, uint32_t vflags, struct mb_extent *out, uint32_t n)
{
	struct mb_cons k;
	uint64_t len, sum;

	if (!vol || !req || !out || !n || (vflags & ~(uint32_t)MB_VEC_ALL) ||
	    (req->flags & MB_HINT_GOAL_ONLY))
		return -EINVAL;
	int err = mb_cons_request(&k, vol, req, c);

	if (err)
		return err;
	len = req->len;
	if (len % k.align || len < k.min)
		return -EINVAL;
	bool all = vflags & MB_VEC_ALL;

	return mb_vec_run(&k, all ? len : k.min, &len, n, all, req->logical, out, &sum);
}
