/* SPDX-License-Identifier: MIT */
/*
 * runsum_model.c - the run tree's model: bit walks (runsum_model.h).
 */
#include <stdio.h>

#include "runsum_model.h"

#define RS_MODEL_LEAF_BITS 512u
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

int rs_model_tree_differs(struct mb_volume *vol, struct mb_group *grp, bool stale_ok)
{
	const struct mb_rs *t = mb_runsum_tree(vol, grp);
	uint32_t stale = 0;

	for (uint32_t n = vol->rs_leaves; n < 2 * vol->rs_leaves; n++)
		stale += t[n].cnt == RS_MODEL_STALE;
	if (t[0].cnt != stale) {
		fprintf(stderr, "%u stale leaves, counted %u\n", stale, t[0].cnt);
		return 1;
	}
	for (uint32_t n = 1; n < 2 * vol->rs_leaves; n++) {
		struct mb_rs m = rs_model_node(vol, grp->bb_bitmap, n);

		if (t[n].cnt == RS_MODEL_STALE) {
			uint32_t on = t[0].pre; /* 0, or the leaf whose path holds them all */

			if (on && on >> (__builtin_clz(n) - __builtin_clz(on)) != n) {
				fprintf(stderr, "node %u stale, off leaf node %u's path\n", n, on);
				return 1;
			}
			if (!stale_ok || (n > 1 && t[n / 2].cnt != RS_MODEL_STALE)) {
				fprintf(stderr, "node %u stale (parent %s)\n", n,
					n > 1 && t[n / 2].cnt != RS_MODEL_STALE ? "fresh" : "stale");
				return 1;
			}
			continue;
		}
		if (t[n].pre != m.pre || t[n].suf != m.suf || t[n].max != m.max ||
		    t[n].cnt != m.cnt || t[n].at != m.at) {
			fprintf(stderr, "node %u/%u: pre %u/%u suf %u/%u max %u/%u cnt %u/%u at %u/%u\n",
				n, 2 * vol->rs_leaves, t[n].pre, m.pre, t[n].suf, m.suf, t[n].max,
				m.max, t[n].cnt, m.cnt, t[n].at, m.at);
			return 1;
		}
	}
	return 0;
}
