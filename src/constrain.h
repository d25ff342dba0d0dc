/* SPDX-License-Identifier: MIT */
/*
 * constrain.h - internal interface between constrain.c (the constrained
 * search over the buddy) and allocvec.c (the public calls that gather
 * extents with it).  Not exported.
 */
#ifndef MB_CONSTRAIN_H
#define MB_CONSTRAIN_H

#include "alloc_ctx.h"

/*
 * One constrained call; lives on the caller's stack, never shared.
 * min, align, max are the validated constraint in blocks: align a power of
 * two, min >= 1 and max <= blocks_per_group both multiples of it.
 */
struct mb_cons {
	struct mb_volume *vol;
	uint32_t min, align, max;
	uint32_t flags;        /* the request's MB_HINT_* */
	mb_grp_t goal_group;   /* where the search starts */
	mb_grpblk_t goal_off;  /* the goal inside it (valid when has_goal) */
	bool has_goal;
	bool pressured;        /* counted in vol->enospc_pressure */
	int load_err;          /* a bitmap could not be read: the answer instead of ENOSPC */
	uint64_t seq;          /* discard_pa_seq sum before this round's passes */
	uint64_t own_seq;      /* mb_seq_own() when `seq` was sampled */
	uint64_t rest;         /* an all-or-nothing vector: blocks still wanted, else 0 */
	bool holding;          /* counted in vol->vec_holding (it may give pieces back) */
};

int mb_cons_setup(struct mb_cons *k, struct mb_volume *vol, const struct mb_constraint *c);
void mb_cons_set_goal(struct mb_cons *k, const struct mb_request *req);
uint32_t mb_cons_want(const struct mb_cons *k, uint64_t len);
uint32_t mb_cons_pass(struct mb_cons *k, uint32_t want, bool take, struct mb_fex *got);
void mb_cons_round_begin(struct mb_cons *k);
bool mb_cons_should_retry(struct mb_cons *k, bool took_nothing);
void mb_cons_end(struct mb_cons *k);
void mb_cons_undo(struct mb_volume *vol, const struct mb_fex *ex, uint32_t flags);
void mb_cons_hold_end(struct mb_cons *k);

#endif /* MB_CONSTRAIN_H */
