/* SPDX-License-Identifier: MIT */
/*
 * bench_fill.c - the `fill` workload: allocation rate of 1, 16 and
 * 256-block requests on a volume held at 0/50/90/99% full, pre-filled
 * sequentially or aged (tiled with random 1-64-block extents, random tiles
 * freed down to the fill level), with goals none, next or random.
 *
 * The fill level stays put while measuring: requests go in batches that
 * take at most 1/8 of the free space, each batch is freed (untimed) before
 * the next.  A batch is timed as a whole; 1 call in N is also timed alone
 * for the latency quantiles.  The allocators of a row take turns in five
 * slices of the measuring time.  Requests carry no file (ext4's no-prealloc
 * path), so every allocator does the same work: find a run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

enum { MB_GOAL_P_NONE, MB_GOAL_P_NEXT, MB_GOAL_P_RANDOM };
static const char *const mb_goal_names[] = {"none", "next", "random"};

struct mb_ext {
	uint64_t s;
	uint32_t n;
};

/* Sequential pre-fill: big runs from the start up to the level. */
static int mb_prefill_seq(struct mb_lane *l, double level)
{
	uint64_t target = (uint64_t)(level * (double)l->usable), goal = MB_BENCH_NO_GOAL, s;
	uint32_t n;

	while (mb_lane_used(l) < target) {
		uint64_t left = target - mb_lane_used(l);
		struct mb_bench_req rq = {.goal = goal, .len = left < 2048 ? (uint32_t)left : 2048};
		int err = mb_lane_alloc(l, &rq, &s, &n);

		if (err)
			return err == -ENOSPC ? 0 : err;
		goal = s + n < l->sh.blocks ? s + n : 0;
	}
	return 0;
}

/* Aged pre-fill: tile the whole volume, free random tiles down to level. */
static int mb_prefill_aged(struct mb_lane *l, double level, uint64_t seed)
{
	size_t cap = l->usable / 16 + 1024, nt = 0;
	struct mb_ext *t = malloc(cap * sizeof(*t));
	uint64_t rng = seed | 1, goal = MB_BENCH_NO_GOAL, target;
	int err = 0;

	if (!t)
		return -ENOMEM;
	while (!err) {
		struct mb_bench_req rq = {.goal = goal, .len = 1 + mb_bench_rng(&rng) % 64};

		if (nt == cap) {
			struct mb_ext *nx = realloc(t, 2 * cap * sizeof(*t));

			if (!nx) {
				err = -ENOMEM;
				break;
			}
			t = nx;
			cap *= 2;
		}
		err = mb_lane_alloc(l, &rq, &t[nt].s, &t[nt].n);
		if (!err) {
			goal = t[nt].s + t[nt].n < l->sh.blocks ? t[nt].s + t[nt].n : 0;
			nt++;
		}
	}
	if (err == -ENOSPC)
		err = 0;
	target = (uint64_t)(level * (double)l->usable);
	while (!err && nt && mb_lane_used(l) > target) {
		size_t i = mb_bench_rng(&rng) % nt;

		err = mb_lane_free(l, t[i].s, t[i].n);
		t[i] = t[--nt];
	}
	free(t);
	return err;
}

struct mb_fill_case {
	uint32_t size;
	int goal;
};

/* Allocates one batch; returns ops done.  *err: first failure. */
static uint64_t mb_fill_batch(struct mb_lane *l, const struct mb_fill_case *fc, struct mb_ext *ex,
			      uint64_t b, uint64_t *rng, uint64_t *next, struct mb_bench_lat *lat,
			      uint64_t *seq, int *err)
{
	struct mb_bench_req rq = {.len = fc->size};
	uint64_t i;

	for (i = 0; i < b; i++) {
		rq.goal = fc->goal == MB_GOAL_P_NONE   ? MB_BENCH_NO_GOAL
			  : fc->goal == MB_GOAL_P_NEXT ? *next
						       : mb_bench_rng(rng) % l->sh.blocks;
		if (++*seq % lat->every == 0) {
			uint64_t t = mb_bench_now_ns();

			*err = l->a.alloc(l->a.ctx, &rq, &ex[i].s, &ex[i].n);
			mb_bench_lat_add(lat, mb_bench_now_ns() - t);
		} else {
			*err = l->a.alloc(l->a.ctx, &rq, &ex[i].s, &ex[i].n);
		}
		if (*err)
			break;
		*next = ex[i].s + ex[i].n < l->sh.blocks ? ex[i].s + ex[i].n : 0;
	}
	return i;
}

/* What one allocator has measured so far in a row (over several slices). */
struct mb_fill_acc {
	struct mb_bench_lat lat;
	uint64_t ops, ns, short_, seq, rng, next;
	int err;
};

/*
 * One slice of a row for one lane: batches until `budget` ns of allocation
 * time.  The allocators of a row take turns slice by slice, so a burst of
 * load from elsewhere on the machine hits them all alike.
 */
static void mb_fill_slice(struct mb_lane *l, const struct mb_fill_case *fc, struct mb_fill_acc *a,
			  uint64_t budget)
{
	uint64_t b = (l->usable - mb_lane_used(l)) / (8ULL * fc->size), ns = 0, ops = 0;

	b = b < 1 ? 1 : b > 1024 ? 1024 : b;
	struct mb_ext *ex = malloc(b * sizeof(*ex));

	while (ex && !a->err && (ns < budget || ops < 4) && a->ops < 100000000) {
		uint64_t t0 = mb_bench_now_ns();
		uint64_t n =
		    mb_fill_batch(l, fc, ex, b, &a->rng, &a->next, &a->lat, &a->seq, &a->err);

		ns += mb_bench_now_ns() - t0;
		ops += n;
		for (uint64_t i = 0; i < n; i++) {
			mb_bench_shadow_set(&l->sh, ex[i].s, ex[i].n);
			a->short_ += ex[i].n < fc->size;
		}
		for (uint64_t i = 0; i < n; i++)
			mb_lane_free(l, ex[i].s, ex[i].n);
		if (a->err == -ENOSPC && n)
			a->err = 0;
	}
	a->ns += ns;
	a->ops += ops;
	free(ex);
}

static void mb_fill_result(struct mb_lane *l, struct mb_fill_acc *a, struct mb_bench_res *r)
{
	mb_bench_res_fill(r, &a->lat, a->ops, a->ns);
	if (a->err)
		snprintf(r->note, sizeof(r->note), "stopped: %s", strerror(-a->err));
	else if (a->short_)
		snprintf(r->note, sizeof(r->note), "%.2f%% answers shorter than asked",
			 100.0 * (double)a->short_ / (double)(a->ops ? a->ops : 1));
	mb_lane_check(l, r);
	mb_bench_lat_free(&a->lat);
}

#define MB_FILL_SLICES 5

static void mb_fill_row(const struct mb_bench_cfg *c, struct mb_lane *lanes, char (*why)[160],
			const struct mb_fill_case *fc, struct mb_bench_row *row)
{
	struct mb_fill_acc acc[MB_BENCH_NALLOC];
	uint64_t slice = (uint64_t)(c->secs * 1e9 / MB_FILL_SLICES);

	for (int i = 0; i < MB_BENCH_NALLOC; i++) {
		acc[i] = (struct mb_fill_acc){.rng = c->seed * 7919 + fc->size,
					      .next = MB_BENCH_NO_GOAL};
		mb_bench_lat_init(&acc[i].lat, mb_cfg_sample(c, 16));
	}
	for (int k = 0; k < MB_FILL_SLICES; k++)
		for (int i = 0; i < MB_BENCH_NALLOC; i++)
			if (lanes[i].ok)
				mb_fill_slice(&lanes[i], fc, &acc[i], slice);
	for (int i = 0; i < MB_BENCH_NALLOC; i++) {
		if (!lanes[i].ok) {
			mb_res_skip(&row->res[i], lanes[i].a.name, why[i]);
			mb_bench_lat_free(&acc[i].lat);
			continue;
		}
		row->res[i].alloc = lanes[i].a.name;
		mb_fill_result(&lanes[i], &acc[i], &row->res[i]);
	}
}

/* All rows of one (pre-fill kind, level): the lanes are filled once. */
static void mb_fill_level(const struct mb_bench_cfg *c, const struct mb_bench_geo *g, bool aged,
			  double level)
{
	static const uint32_t sizes[] = {1, 16, 256};
	struct mb_lane lanes[MB_BENCH_NALLOC];
	char why[MB_BENCH_NALLOC][160];

	for (int i = 0; i < MB_BENCH_NALLOC; i++) {
		int err = mb_lane_open(&lanes[i], i, g);

		if (!err)
			err = aged ? mb_prefill_aged(&lanes[i], level, c->seed)
				   : mb_prefill_seq(&lanes[i], level);
		snprintf(why[i], sizeof(why[i]), "%s", lanes[i].a.note);
		if (err && lanes[i].ok) {
			snprintf(why[i], sizeof(why[i]), "pre-fill failed: %s", strerror(-err));
			mb_lane_close(&lanes[i]);
		}
	}
	for (int si = 0; si < 3; si++)
		for (int gp = 0; gp < 3; gp++) {
			struct mb_fill_case fc = {sizes[si], gp};
			struct mb_bench_row row = {.workload = "fill", .nres = MB_BENCH_NALLOC};

			snprintf(row.params, sizeof(row.params), "%s %2.0f%% len %-3u goal %s",
				 aged ? "aged" : "seq ", level * 100, fc.size, mb_goal_names[gp]);
			snprintf(row.note, sizeof(row.note),
				 "%llu MiB vol; batches timed whole, latency from 1 call in %u",
				 (unsigned long long)(g->blocks * c->block_size >> 20),
				 mb_cfg_sample(c, 16));
			mb_fill_row(c, lanes, why, &fc, &row);
			mb_bench_out_row(c->out, &row);
		}
	for (int i = 0; i < MB_BENCH_NALLOC; i++)
		if (lanes[i].ok)
			mb_lane_close(&lanes[i]);
}

int mb_bench_fill(const struct mb_bench_cfg *c)
{
	static const double levels[] = {0, 0.5, 0.9, 0.99};
	struct mb_bench_geo g = {.blocks = (c->quick ? 64ULL << 20 : 1ULL << 30) / c->block_size,
				 .block_size = c->block_size};

	for (int aged = 0; aged < 2; aged++)
		for (int k = 0; k < 4; k++)
			mb_fill_level(c, &g, aged, levels[k]);
	return 0;
}
