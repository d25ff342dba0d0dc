/* SPDX-License-Identifier: MIT */
/*
 * runsum_model.c - the run tree's model: bit walks (runsum_model.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "runsum_model.h"

#define RS_MODEL_LEAF_BITS MB_RUNSUM_LEAF_BLOCKS
#define RS_MODEL_STALE UINT32_MAX

void rs_model_scan(const uint64_t *map, uint32_t bpg, uint32_t from, uint32_t want,
		   uint32_t max_runs, struct mb_runsum_scan *o)
{
	*o = (struct mb_runsum_scan){.next = bpg};
	for (uint32_t i = from; i < bpg;) {
		if (!rs_model_free(map, i)) {
			i++;
			continue;
		}
		uint32_t e = i;

		while (e < bpg && rs_model_free(map, e))
			e++;
		if (e - i >= want) {
			o->next = i;
			return;
		}
		if (max_runs) {
			o->runs++;
			if (e - i > o->longest) {
				o->longest = e - i;
				o->at = i;
			}
			if (o->runs == max_runs) {
				o->stopped = true;
				return;
			}
		}
		i = e;
	}
}

uint32_t rs_model_next_long(const uint64_t *map, uint32_t bpg, uint32_t from, uint32_t want)
{
	struct mb_runsum_scan o;

	rs_model_scan(map, bpg, from, want, 0, &o);
	return o.next;
}

struct mb_rs rs_model_node(const struct mb_volume *vol, const uint64_t *map, uint32_t n)
{
	uint32_t p = vol->rs_leaves, depth = 31 - (uint32_t)__builtin_clz(n);
	uint32_t sz = (p >> depth) * RS_MODEL_LEAF_BITS, st = (n - (1u << depth)) * sz;
	struct mb_rs r = {0, 0, 0, 0, 0};
	uint32_t c = 0;

	for (uint32_t b = st; b < st + sz; b++) {
		if (!(b < vol->bitmap_words * 64u && rs_model_free(map, b))) {
			c = 0;
			continue;
		}
		r.cnt += !c;
		c++;
		if (c > r.max) {
			r.max = c;
			r.at = b + 1 - c - st;
		}
		if (c == b - st + 1)
			r.pre = c;
	}
	r.suf = c;
	return r;
}

/* Node n's size in blocks. */
static uint32_t rs_model_size(const struct mb_volume *vol, uint32_t n)
{
	return (vol->rs_leaves >> (31 - (uint32_t)__builtin_clz(n))) * RS_MODEL_LEAF_BITS;
}

static bool rs_model_is(struct mb_rs x, uint32_t sz, bool free)
{
	uint32_t v = free ? sz : 0;

	return x.pre == v && x.suf == v && x.max == v && x.cnt == (uint32_t)free && x.at == 0;
}

/* Where a node lies: reached by the walks (true summary), below a node
   of max 0 (all used, or hidden), or below a hidden one (hidden). */
enum { RS_TRUE, RS_UNDER_USED, RS_HIDDEN };

int rs_model_nodes_differ(const struct mb_volume *vol, const struct mb_rs *t,
			  const struct mb_rs *truth, bool stale_ok)
{
	uint32_t stale = 0, nodes = 2 * vol->rs_leaves;
	unsigned char *where = calloc(nodes, 1);

	if (!where)
		return 1;
	for (uint32_t n = vol->rs_leaves; n < nodes; n++)
		stale += t[n].cnt == RS_MODEL_STALE;
	if (t[0].cnt != stale) {
		fprintf(stderr, "%u stale leaves, counted %u\n", stale, t[0].cnt);
		goto bad;
	}
	for (uint32_t n = 1; n < nodes; n++) {
		struct mb_rs m = truth[n];
		uint32_t sz = rs_model_size(vol, n);
		bool inner = n < vol->rs_leaves;

		if (where[n] != RS_TRUE) {
			/* the rule of mb_rs_unlazy_slow: below a node of max 0,
			   both children all used, or both hidden (all free, as
			   all below them) */
			bool hid = rs_model_is(t[n], sz, true);

			if (where[n] == RS_HIDDEN ? !hid : !hid && !rs_model_is(t[n], sz, false)) {
				fprintf(stderr, "node %u below an all-used one: neither all used nor "
						"hidden (pre %u max %u cnt %u)\n",
					n, t[n].pre, t[n].max, t[n].cnt);
				goto bad;
			}
			if (where[n] == RS_UNDER_USED && !(n & 1) &&
			    hid != rs_model_is(t[n + 1], sz, true)) {
				fprintf(stderr, "node %u and its sibling: one hidden, one not\n", n);
				goto bad;
			}
			if (inner)
				where[2 * n] = where[2 * n + 1] = hid ? RS_HIDDEN : RS_UNDER_USED;
			continue;
		}
		if (t[n].cnt == RS_MODEL_STALE) {
			uint32_t on = t[0].pre; /* 0, or the leaf whose path holds them all */

			if (on && on >> (__builtin_clz(n) - __builtin_clz(on)) != n) {
				fprintf(stderr, "node %u stale, off leaf node %u's path\n", n, on);
				goto bad;
			}
			if (!stale_ok || (n > 1 && t[n / 2].cnt != RS_MODEL_STALE)) {
				fprintf(stderr, "node %u stale (parent %s)\n", n,
					n > 1 && t[n / 2].cnt != RS_MODEL_STALE ? "fresh" : "stale");
				goto bad;
			}
			continue;
		}
		if (t[n].pre != m.pre || t[n].suf != m.suf || t[n].max != m.max ||
		    t[n].cnt != m.cnt || t[n].at != m.at) {
			fprintf(stderr, "node %u/%u: pre %u/%u suf %u/%u max %u/%u cnt %u/%u at %u/%u\n",
				n, nodes, t[n].pre, m.pre, t[n].suf, m.suf, t[n].max, m.max, t[n].cnt,
				m.cnt, t[n].at, m.at);
			goto bad;
		}
		if (inner && !m.max)
			where[2 * n] = where[2 * n + 1] = RS_UNDER_USED;
	}
	free(where);
	return 0;
bad:
	free(where);
	return 1;
}

int rs_model_tree_differs(struct mb_volume *vol, struct mb_group *grp, bool stale_ok)
{
	uint32_t nodes = 2 * vol->rs_leaves;
	struct mb_rs *truth = malloc(nodes * sizeof(*truth));
	int bad;

	if (!truth)
		return 1;
	for (uint32_t n = 1; n < nodes; n++)
		truth[n] = rs_model_node(vol, grp->bb_bitmap, n);
	bad = rs_model_nodes_differ(vol, mb_runsum_tree(vol, grp), truth, stale_ok);
	free(truth);
	return bad;
}
