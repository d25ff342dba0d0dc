/* SPDX-License-Identifier: MIT */
/*
 * alloc_ctx.h - one mb_alloc() call's context, shared by alloc.c,
 * normalize.c, prealloc.c and reserve.c.  It lives on the caller's stack
 * and is never shared between threads.
 */
#ifndef MB_ALLOC_CTX_H
#define MB_ALLOC_CTX_H

#include "mb_int.h"
#include "percpu.h"

/* Internal request flags (ext4 values). */
#define MB_HINT_GROUP_ALLOC 0x0080
#define MB_STREAM_ALLOC 0x0800
#define MB_STRICT_CHECK 0x4000

/* A free extent: group-relative start. */
struct mb_fex {
	mb_grp_t fe_group;
	mb_grpblk_t fe_start;
	uint32_t fe_len;
	uint64_t fe_logical;
};

enum mb_ac_status { MB_AC_CONTINUE, MB_AC_FOUND, MB_AC_BREAK };

/* One mb_alloc() call; lives on the caller's stack, never shared. */
struct mb_ac {
	/* set by mb_ac_init, up to b_ex */
	struct mb_volume *vol;
	struct mb_file *file;
	const struct mb_request *req;
	struct mb_pcpu *slot; /* this CPU's slot, looked up once: the claim and its settling */
	struct mb_fex o_ex;   /* the original request */
	struct mb_fex g_ex;   /* the normalized goal */
	uint32_t orig_goal_len;
	uint32_t flags;
	enum mb_ac_status status;
	/* a physical goal was given: set for a file's request only (mb_ac_init),
	   read by normalize.c and prealloc.c, which no other request reaches */
	bool goal_block;
	/* zeroed by mb_ac_init, from here to the end */
	struct mb_fex b_ex; /* best found so far / the result */
	int criteria;
	uint32_t found;          /* extents measured */
	uint32_t groups_scanned; /* groups examined under their lock */
	int ac_2order;           /* log2(goal) for the power-of-two pass, or 0 */
	struct mb_pa *pa_obj;    /* empty PA allocated before the search (seed fix 2) */
	struct mb_pa *pa;        /* group PA used or created (re-bucketed at release) */
	struct mb_pa *pa_late;   /* legacy policy: PA to link after the group unlock */
	struct mb_lg *lg;        /* locality group (lg_mutex held) or NULL */
	uint64_t seq;            /* discard_pa_seq sample */
	uint64_t lock_epoch;     /* mb_lock_epoch() at the claim with threads, before any
				    search; 0 (none) else (alloc.c, mb_best_as_measured) */
	uint32_t rounds;         /* ENOSPC retry rounds (count toward mb_max_retries) */
	int load_err;            /* a group's bitmap could not be read (-EIO, -ENOMEM): the
				    answer instead of -ENOSPC, whose promise it cannot keep */
	uint32_t f_len;          /* what was marked used in the buddy (ext4's ac_f_ex): b_ex
				    before a new PA took its surplus, in b_ex's group */
	/* last, together: the zeroed fields above have no hole between them
	   (mb_ac_init's stores merge into wide ones) */
	bool pa_created;         /* a new PA was made in this pass (hook point) */
	bool pressured;          /* counted in vol->enospc_pressure */
};

static inline mb_fsblk_t mb_fex_block(const struct mb_volume *vol, const struct mb_fex *e)
{
	return mb_group_first_block(vol, e->fe_group) + e->fe_start;
}

bool mb_good_group(struct mb_ac *ac, struct mb_group *grp, int cr);
bool mb_request_valid(const struct mb_volume *vol, const struct mb_request *req);
mb_grp_t mb_home_group(const struct mb_volume *vol, const struct mb_file *file);
void mb_use_best_found_locked(struct mb_ac *ac, struct mb_group *grp);
/* reserve.c: mb_resv_consumed on a slot the caller already looked up */
void mb_resv_consumed_at(struct mb_volume *vol, struct mb_pcpu *slot, uint64_t claimed,
			 uint64_t got, uint32_t flags);

/*
 * mb_alloc's gate (reserve.c, mb_resv_claim_request_slow says what it
 * does): a plain request's take of its whole length from the slot's share,
 * inline -- as the slow one's first step -- with one thread, or with
 * threads under the slot's lock when it is biased here (the call to the
 * slow one cost cell:aged90:256:zero:20 28 instructions a call threaded);
 * else, or when that fails, the slow one.  Inline so that both copies of
 * the regular path (alloc.c, mb_alloc_regular_as) have it without a call:
 * a function of reserve.c with two callers, gcc made it a call (drain +15
 * instructions a call).
 */
static inline __attribute__((always_inline)) int mb_resv_claim_request_mt(struct mb_ac *ac,
									    uint64_t *claimed)
{
	uint64_t n = ac->o_ex.fe_len;

	ac->lock_epoch = mb_lock_epoch(); /* the search's, taken here: known threaded */
	if (MB_LIKELY(!(ac->flags & MB_HINT_DELALLOC_RESERVED) &&
		      mb_resv_take_claim_biased(ac->slot, n, n))) {
		MB_HOOK(ac->vol, MB_HOOK_RESV_CLAIMED, 0, 0);
		*claimed = n;
		return 0;
	}
	return mb_resv_claim_request_slow(ac, claimed);
}

static inline int mb_resv_claim_request(struct mb_ac *ac, uint64_t *claimed)
{
	uint64_t n = ac->o_ex.fe_len;

	if (!MB_SINGLE_THREADED())
		return mb_resv_claim_request_mt(ac, claimed);
	if (MB_LIKELY(!(ac->flags & MB_HINT_DELALLOC_RESERVED) &&
		      mb_resv_take_claim_held(ac->slot, n, n))) {
		MB_HOOK(ac->vol, MB_HOOK_RESV_CLAIMED, 0, 0);
		*claimed = n;
		return 0;
	}
	return mb_resv_claim_request_slow(ac, claimed);
}

#endif /* MB_ALLOC_CTX_H */
