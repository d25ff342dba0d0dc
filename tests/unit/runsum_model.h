/* SPDX-License-Identifier: MIT */
/*
 * runsum_model.h - the run tree (runsum.c) against a walk of the bitmap,
 * bit by bit: what test_runsum and test_runsum_marks hold the tree to.
 * The model knows nothing of the tree's layout but its geometry (a leaf
 * per 512 blocks, node n's children 2n and 2n + 1, node 0 counting the
 * stale leaves and, when not 0, naming the leaf node on whose path every
 * stale node lies), so a bug in the tree cannot hide in a shared shortcut.
 */
#ifndef MB_TEST_RUNSUM_MODEL_H
#define MB_TEST_RUNSUM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "mb_int.h"

/* Block b of a bitmap (1 = used) is free. */
static inline bool rs_model_free(const uint64_t *map, uint32_t b)
{
	return !((map[b >> 6] >> (b & 63)) & 1);
}

/* mb_runsum_scan by a bit walk: the runs from `from` one by one. */
void rs_model_scan(const uint64_t *map, uint32_t bpg, uint32_t from, uint32_t want,
		   uint32_t max_runs, struct mb_runsum_scan *o);

/* The first run of >= want from `from` (from counts as a start); bpg if none. */
uint32_t rs_model_next_long(const uint64_t *map, uint32_t bpg, uint32_t from, uint32_t want);

/* Node n's summary by a bit count; blocks past the bitmap's words are used. */
struct mb_rs rs_model_node(const struct mb_volume *vol, const uint64_t *map, uint32_t n);

/*
 * 1 (and a message on stderr) when a node of grp's tree differs from the
 * bit count of its range; with stale_ok, stale nodes are skipped but must
 * have stale ancestors.  Node 0 must count the stale leaves, and every
 * stale node lie on the path node 0 names (if any).
 */
int rs_model_tree_differs(struct mb_volume *vol, struct mb_group *grp, bool stale_ok);

/*
 * The same against truth[n] (a build's nodes, say) for the nodes of t.
 * Both know the rule of the lazy all-used subtrees (runsum.c,
 * mb_rs_unlazy_slow): below a fresh node of max 0, a node is all used or
 * hidden -- the all-free summary of its size, as every node below it --
 * and two siblings are both one or both the other; hidden nodes are never
 * stale.
 */
int rs_model_nodes_differ(const struct mb_volume *vol, const struct mb_rs *t,
			  const struct mb_rs *truth, bool stale_ok);

#endif
