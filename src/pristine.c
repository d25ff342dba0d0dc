/* SPDX-License-Identifier: MIT */
/*
 * pristine.c - the buddy of a pristine group, built once per volume and
 * copied.  A group first loaded while BLOCK_UNINIT has a bitmap made of
 * its geometry alone (its metadata blocks, and the padding past its end),
 * so every full-length group with the same metadata count has the same
 * bitmap, the same buddy and the same counters.  The first such load
 * builds them (buddy.c) and publishes a copy; later ones copy it: a
 * memcpy instead of a build, which was most of a first touch (an aging
 * run over a fresh 64 GiB volume loads 512 groups).  The free-run tree
 * (runsum.c) is left stale, as after any build: rebuilding it for an
 * all-free group is cheap.
 */
#include <stdlib.h>
#include <string.h>

#include "mb_int.h"

struct mb_pristine {
	uint32_t rsv;                /* metadata blocks at the group's start */
	struct mb_buddy_summary sum; /* what the build counted */
	uint64_t buddy[];            /* buddy_words */
};

/*
 * Builds the template from grp's bitmap and publishes it, unless another
 * thread published first (under another group's lock): then that one is
 * returned.  NULL when out of memory (the caller builds as usual).
 */
static struct mb_pristine *mb_pristine_publish(struct mb_volume *vol, struct mb_group *grp,
					       uint32_t rsv)
{
	struct mb_pristine *t = malloc(sizeof(*t) + vol->buddy_words * sizeof(uint64_t));
	struct mb_pristine *expected = NULL;

	if (!t)
		return NULL;
	t->rsv = rsv;
	/* built in grp's own buffer (grp then needs no copy), then kept */
	mb_buddy_build(vol, grp->bb_bitmap, grp->bb_buddy, &t->sum);
	memcpy(t->buddy, grp->bb_buddy, vol->buddy_words * sizeof(uint64_t));
	/* release: pairs with the acquire load in mb_pristine_derive_locked,
	   so a thread that sees the pointer sees the template's contents */
	if (atomic_compare_exchange_strong_explicit(&vol->pristine, &expected, t,
						    memory_order_release, memory_order_acquire))
		return t;
	free(t);
	return expected;
}

#ifdef MB_DEBUG
/* The test flavour checks every copy against the builds it replaces. */
static void mb_pristine_verify_locked(struct mb_volume *vol, struct mb_group *grp,
				      const struct mb_pristine *t)
{
	uint64_t *buddy = malloc(vol->buddy_words * sizeof(uint64_t));
	struct mb_buddy_summary sum;

	if (!buddy)
		return;
	mb_buddy_build(vol, grp->bb_bitmap, buddy, &sum);
	assert(!memcmp(buddy, grp->bb_buddy, vol->buddy_words * sizeof(uint64_t)));
	assert(!memcmp(&sum, &t->sum, sizeof(sum)));
	free(buddy);
}
#endif

/*
 * Derives a pristine group's buddy and counters from its bitmap, as
 * mb_buddy_generate does, copying the template when the group has its
 * shape.  bb_lock held; the bitmap is the pristine one of a group with rsv
 * metadata blocks (group.c).
 */
void mb_pristine_derive_locked(struct mb_volume *vol, struct mb_group *grp, uint32_t rsv)
{
	mb_assert_locked(&grp->bb_lock);
	struct mb_pristine *t;

	if (grp->bb_len != vol->bpg) { /* a short last group: its own shape */
		mb_buddy_generate(vol, grp);
		return;
	}
	t = atomic_load_explicit(&vol->pristine, memory_order_acquire);
	if (!t)
		t = mb_pristine_publish(vol, grp, rsv); /* builds grp's buddy in place */
	else if (t->rsv == rsv)
		memcpy(grp->bb_buddy, t->buddy, vol->buddy_words * sizeof(uint64_t));
	if (!t || t->rsv != rsv) { /* out of memory, or another metadata count */
		mb_buddy_generate(vol, grp);
		return;
	}
	mb_runsum_invalidate_locked(vol, grp); /* built by its first query */
	mb_buddy_apply_summary_locked(vol, grp, &t->sum);
#ifdef MB_DEBUG
	mb_pristine_verify_locked(vol, grp, t);
#endif
}

void mb_pristine_destroy(struct mb_volume *vol)
{
	free(atomic_load_explicit(&vol->pristine, memory_order_relaxed));
	atomic_store_explicit(&vol->pristine, NULL, memory_order_relaxed);
}
