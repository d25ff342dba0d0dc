/* SPDX-License-Identifier: MIT */
/*
 * bench_lane.c - a lane: one allocator driven by one thread, every answer
 * mirrored into a shadow bitmap (which also proves no block was handed out
 * twice), and the `pa` workload (the per-file preallocation fast path).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

uint32_t mb_cfg_sample(const struct mb_bench_cfg *c, uint32_t dflt)
{
	return c->sample ? c->sample : dflt;
}

void mb_res_skip(struct mb_bench_res *r, const char *alloc, const char *why)
{
	memset(r, 0, sizeof(*r));
	r->alloc = alloc;
	r->skipped = true;
	snprintf(r->note, sizeof(r->note), "%s", why);
}

int mb_lane_open(struct mb_lane *l, int which, const struct mb_bench_geo *g)
{
	memset(l, 0, sizeof(*l));
	int err = mb_bench_alloc_create(which, g, &l->a);

	if (err)
		return err;
	err = mb_bench_shadow_init(&l->sh, g->blocks);
	if (err) {
		mb_bench_alloc_destroy(&l->a);
		snprintf(l->a.note, sizeof(l->a.note), "skipped: out of memory");
		return err;
	}
	if (l->a.metadata)
		l->a.metadata(l->a.ctx, l->sh.map);
	uint64_t used = 0;

	for (uint64_t w = 0; w < (g->blocks + 63) / 64; w++)
		used += (uint64_t)__builtin_popcountll(l->sh.map[w]);
	if (g->blocks % 64) /* the last word's padding bits are set too */
		used -= 64 - g->blocks % 64;
	l->sh.used = l->meta = used;
	l->usable = g->blocks - used;
	l->ok = true;
	return 0;
}

void mb_lane_close(struct mb_lane *l)
{
	mb_bench_alloc_destroy(&l->a);
	mb_bench_shadow_free(&l->sh);
	l->ok = false;
}

int mb_lane_alloc(struct mb_lane *l, const struct mb_bench_req *r, uint64_t *s, uint32_t *n)
{
	int err = l->a.alloc(l->a.ctx, r, s, n);

	if (!err)
		mb_bench_shadow_set(&l->sh, *s, *n);
	return err;
}

int mb_lane_free(struct mb_lane *l, uint64_t s, uint32_t n)
{
	int err = l->a.free(l->a.ctx, s, n);

	if (!err)
		mb_bench_shadow_clear(&l->sh, s, n);
	return err;
}

void mb_lane_check(struct mb_lane *l, struct mb_bench_res *r)
{
	if (l->sh.conflicts)
		snprintf(r->note, sizeof(r->note), "BUG: %llu blocks handed out twice",
			 (unsigned long long)l->sh.conflicts);
}

/* ------------------------------------------------------------------------ */
/* pa: one file, one block at a time                                        */
/* ------------------------------------------------------------------------ */

/* Frees [s, s+n) runs of a sequential file: consecutive blocks in one call. */
static void mb_pa_release(struct mb_lane *l, const uint64_t *blk, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i + 1;

		while (j < n && blk[j] == blk[j - 1] + 1 && j - i < (1u << 30))
			j++;
		mb_lane_free(l, blk[i], (uint32_t)(j - i));
		i = j;
	}
}

/* One round: a fresh file grows block by block up to `cap` blocks. */
static int mb_pa_round(struct mb_lane *l, uint64_t *blk, size_t cap, uint64_t id,
		       struct mb_bench_lat *lat, uint64_t *ops, uint64_t *ns)
{
	void *st = l->a.stream_open ? l->a.stream_open(l->a.ctx, id) : NULL;
	struct mb_bench_req rq = {.stream = st, .goal = MB_BENCH_NO_GOAL, .len = 1};
	size_t n = 0;
	uint32_t got;
	int err = 0;

	while (n < cap && !err) {
		size_t end = n + 4096 < cap ? n + 4096 : cap;
		uint64_t t0 = mb_bench_now_ns();

		for (; n < end; n++) {
			rq.logical = n;
			if (n % lat->every == 0) {
				uint64_t t = mb_bench_now_ns();

				err = l->a.alloc(l->a.ctx, &rq, &blk[n], &got);
				mb_bench_lat_add(lat, mb_bench_now_ns() - t);
			} else {
				err = l->a.alloc(l->a.ctx, &rq, &blk[n], &got);
			}
			if (err)
				break;
			rq.goal = blk[n] + 1 < l->sh.blocks ? blk[n] + 1 : 0;
		}
		*ns += mb_bench_now_ns() - t0;
	}
	*ops += n;
	for (size_t i = 0; i < n; i++)
		mb_bench_shadow_set(&l->sh, blk[i], 1);
	if (l->a.stream_close)
		l->a.stream_close(l->a.ctx, st);
	mb_pa_release(l, blk, n);
	return err == -ENOSPC ? 0 : err;
}

struct mb_pa_acc {
	struct mb_bench_lat lat;
	uint64_t ops, ns, id, cpu_ns; /* cpu_ns: the process's, over whole slices */
	int err;
};

/* One slice: rounds until `budget` ns; lanes take turns slice by slice. */
static void mb_pa_slice(struct mb_lane *l, uint64_t *blk, size_t cap, struct mb_pa_acc *a,
			uint64_t budget)
{
	uint64_t ns0 = a->ns, ops0 = a->ops, c0 = mb_bench_cpu_ns(), w0 = mb_bench_now_ns();

	while (!a->err && (a->ns - ns0 < budget || a->ops == ops0))
		a->err = mb_pa_round(l, blk, cap, ++a->id, &a->lat, &a->ops, &a->ns);
	/* CPU of the timed batches: their time times the process's CPU share
	 * over the slice (which also holds the untimed frees) */
	uint64_t cpu = mb_bench_cpu_ns() - c0, wall = mb_bench_now_ns() - w0;

	a->cpu_ns += (uint64_t)((double)(a->ns - ns0) *
				(wall && cpu < wall ? (double)cpu / (double)wall : 1.0));
}

int mb_bench_pa(const struct mb_bench_cfg *c)
{
	struct mb_bench_geo g = {.blocks = (c->quick ? 1ULL << 30 : 16ULL << 30) / c->block_size,
				 .block_size = c->block_size};
	struct mb_bench_row row = {.workload = "pa", .nres = MB_BENCH_NALLOC};

	snprintf(row.params, sizeof(row.params), "1-block appends, %llu MiB vol",
		 (unsigned long long)(g.blocks * c->block_size >> 20));
	snprintf(row.note, sizeof(row.note),
		 "mballoc: one mb_file (inode PA); peers: goal = previous block + 1; latency "
		 "sampled 1 call in %u",
		 mb_cfg_sample(c, 256));
	struct mb_lane l[MB_BENCH_NALLOC];
	struct mb_pa_acc acc[MB_BENCH_NALLOC] = {0};
	uint64_t *blk[MB_BENCH_NALLOC] = {0};
	size_t cap[MB_BENCH_NALLOC] = {0};

	for (int i = 0; i < MB_BENCH_NALLOC; i++) {
		mb_bench_lat_init(&acc[i].lat, mb_cfg_sample(c, 256));
		if (mb_lane_open(&l[i], i, &g)) {
			mb_res_skip(&row.res[i], l[i].a.name, l[i].a.note);
			continue;
		}
		cap[i] = l[i].usable / 2 < (1u << 20) ? l[i].usable / 2 : (1u << 20);
		blk[i] = malloc(cap[i] * sizeof(uint64_t));
		if (!blk[i])
			acc[i].err = -ENOMEM;
	}
	for (int k = 0; k < 5; k++)
		for (int i = 0; i < MB_BENCH_NALLOC; i++)
			if (l[i].ok && blk[i])
				mb_pa_slice(&l[i], blk[i], cap[i], &acc[i],
					    (uint64_t)(c->secs * 2e8));
	for (int i = 0; i < MB_BENCH_NALLOC; i++) {
		if (l[i].ok) {
			struct mb_bench_res *r = &row.res[i];

			r->alloc = l[i].a.name;
			mb_bench_res_fill(r, &acc[i].lat, acc[i].ops, acc[i].ns);
			if (acc[i].cpu_ns) {
				r->cpu_ops_s = (double)acc[i].ops * 1e9 / (double)acc[i].cpu_ns;
				snprintf(r->note, sizeof(r->note), "%.2fM per CPU-second",
					 r->cpu_ops_s / 1e6);
			}
			if (acc[i].err)
				snprintf(r->note, sizeof(r->note), "error: %s",
					 strerror(-acc[i].err));
			mb_lane_check(&l[i], r);
			mb_lane_close(&l[i]);
		}
		mb_bench_lat_free(&acc[i].lat);
		free(blk[i]);
	}
	mb_bench_out_row(c->out, &row);
	return 0;
}
