/* SPDX-License-Identifier: MIT */
/*
 * bench_churn.c - the `churn` workload, aging as Ceph's allocator tests
 * do: fill to a high mark, free random objects down to a low mark, refill,
 * repeat.  Objects come from one of three generators: uniform 1-256
 * blocks, 2 MiB or 64 KiB with even odds, or 1-150 MiB objects written in
 * pieces of at most 8 MiB (through one mb_file per object for mballoc,
 * goal = end of the previous piece for everyone).
 *
 * Each request is served in full by repeated calls; every call is timed.
 * At least five refills are measured, then more until the calls add up to
 * the measuring time, so a single preemption cannot dominate the rate.
 * A request counts as split when its first answer was short although the
 * shadow bitmap held a free run of the full length at that moment.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

enum { MB_GEN_UNIFORM, MB_GEN_MIX, MB_GEN_OBJECTS };
static const char *const mb_gen_names[] = {"uniform 1-256", "2M|64K", "objects 1-150M/8M"};

struct mb_churn {
	const struct mb_bench_cfg *c;
	struct mb_lane *l;
	int gen;
	uint64_t rng, max_obj; /* blocks */
	struct mb_bench_exts *objs;
	size_t nobj, capobj;
	bool measure;
	uint64_t reqs, calls, splits, ns, ids;
	struct mb_bench_lat lat;
};

/* Serves one request of len blocks in full (or until ENOSPC). */
static int mb_churn_request(struct mb_churn *ch, struct mb_bench_exts *o, void *st, uint64_t logical,
			    uint32_t len, uint64_t *goal)
{
	struct mb_bench_req rq = {.stream = st, .logical = logical, .goal = *goal};
	uint32_t done = 0, n;
	uint64_t s;

	while (done < len) {
		rq.len = len - done;
		rq.logical = logical + done;
		uint64_t t0 = mb_bench_now_ns();
		int err = ch->l->a.alloc(ch->l->a.ctx, &rq, &s, &n);
		uint64_t t = mb_bench_now_ns() - t0;

		if (err)
			return err;
		if (ch->measure) {
			ch->ns += t;
			ch->calls++;
			mb_bench_lat_add(&ch->lat, t);
			if (!done && n < len && mb_bench_shadow_has_run(&ch->l->sh, len))
				ch->splits++;
		}
		mb_bench_shadow_set(&ch->l->sh, s, n);
		if ((err = mb_bench_exts_push(o, s, n)))
			return err;
		done += n;
		rq.goal = *goal = s + n < ch->l->sh.blocks ? s + n : 0;
	}
	ch->reqs += ch->measure;
	return 0;
}

/* Writes one object of the generator's size; -ENOSPC when full. */
static int mb_churn_object(struct mb_churn *ch, struct mb_bench_exts *o)
{
	uint64_t r = mb_bench_rng(&ch->rng), size, goal = MB_BENCH_NO_GOAL;
	struct mb_bench_alloc *a = &ch->l->a;
	void *st = NULL;
	int err = 0;

	if (ch->gen == MB_GEN_UNIFORM)
		return mb_churn_request(ch, o, NULL, 0, 1 + r % 256, &goal);
	if (ch->gen == MB_GEN_MIX)
		return mb_churn_request(
		    ch, o, NULL, 0,
		    (uint32_t)(((r & 1) ? 2ULL << 20 : 64ULL << 10) / ch->c->block_size), &goal);
	uint64_t mib = (1ULL << 20) / ch->c->block_size, piece = 8 * mib;

	size = mib + r % (ch->max_obj - mib + 1); /* 1 MiB .. max */
	if (a->stream_open)
		st = a->stream_open(a->ctx, ++ch->ids);
	for (uint64_t off = 0; off < size && !err; off += piece)
		err = mb_churn_request(ch, o, st, off,
				       (uint32_t)(size - off < piece ? size - off : piece), &goal);
	if (st)
		a->stream_close(a->ctx, st);
	return err;
}

static void mb_churn_drop(struct mb_churn *ch, size_t i)
{
	struct mb_bench_exts *o = &ch->objs[i];

	for (uint32_t k = 0; k < o->cnt; k++)
		mb_lane_free(ch->l, o->s[k], o->n[k]);
	free(o->s);
	free(o->n);
	ch->objs[i] = ch->objs[--ch->nobj];
}

static int mb_churn_fill(struct mb_churn *ch, uint64_t high)
{
	int err = 0;

	while (!err && mb_lane_used(ch->l) < high) {
		if (ch->nobj == ch->capobj) {
			size_t cap = ch->capobj ? 2 * ch->capobj : 1024;
			struct mb_bench_exts *n = realloc(ch->objs, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			ch->objs = n;
			ch->capobj = cap;
		}
		memset(&ch->objs[ch->nobj], 0, sizeof(ch->objs[0]));
		err = mb_churn_object(ch, &ch->objs[ch->nobj++]);
	}
	return err == -ENOSPC ? 0 : err;
}

static void mb_churn_run(struct mb_churn *ch, double hi, double lo, int cycles,
			 struct mb_bench_res *r)
{
	uint64_t high = (uint64_t)(hi * (double)ch->l->usable);
	uint64_t low = (uint64_t)(lo * (double)ch->l->usable);
	int err = mb_churn_fill(ch, high);

	uint64_t budget = (uint64_t)(ch->c->secs * 1e9);
	int cyc;

	/* At least `cycles` refills, then more until the measured time is long
	 * enough that one preemption cannot dominate it (at most 200). */
	for (cyc = 0; !err && (cyc < cycles || (ch->ns < budget && cyc < 200)); cyc++) {
		while (ch->nobj && mb_lane_used(ch->l) > low)
			mb_churn_drop(ch, mb_bench_rng(&ch->rng) % ch->nobj);
		ch->measure = true;
		err = mb_churn_fill(ch, high);
	}
	snprintf(r->note, sizeof(r->note), "%d refills", cyc);
	if (ch->l->a.quiesce)
		ch->l->a.quiesce(ch->l->a.ctx); /* preallocated space is free space */
	mb_bench_res_fill(r, &ch->lat, ch->calls, ch->ns);
	r->aging = true;
	r->ext_per_alloc = ch->reqs ? (double)ch->calls / (double)ch->reqs : 0;
	r->split_pct = ch->reqs ? 100.0 * (double)ch->splits / (double)ch->reqs : 0;
	mb_bench_frag_from_shadow(&ch->l->sh, ch->c->block_size, &r->frag);
	if (err)
		snprintf(r->note, sizeof(r->note), "error: %s", strerror(-err));
	mb_lane_check(ch->l, r);
	while (ch->nobj)
		mb_churn_drop(ch, ch->nobj - 1);
	free(ch->objs);
}

int mb_bench_churn(const struct mb_bench_cfg *c)
{
	static const double marks[2][2] = {{0.8, 0.6}, {0.9, 0.7}};
	struct mb_bench_geo g = {.blocks = (c->quick ? 256ULL << 20 : 2ULL << 30) / c->block_size,
				 .block_size = c->block_size};
	uint64_t max_obj = (150ULL << 20) / c->block_size;
	int cycles = c->quick ? 2 : 5;

	if (max_obj > g.blocks / 16)
		max_obj = g.blocks / 16;
	for (int m = 0; m < 2; m++)
		for (int gen = 0; gen < 3; gen++) {
			struct mb_bench_row row = {.workload = "churn", .nres = MB_BENCH_NALLOC};

			snprintf(row.params, sizeof(row.params), "%.1f/%.1f %s", marks[m][0],
				 marks[m][1], mb_gen_names[gen]);
			snprintf(
			    row.note, sizeof(row.note),
			    "%llu MiB vol, refills measured: >= %d, then until %.2fs of calls; "
			    "every call timed; frag at the high mark%s",
			    (unsigned long long)(g.blocks * c->block_size >> 20), cycles, c->secs,
			    gen == MB_GEN_OBJECTS && max_obj * c->block_size < (150ULL << 20)
				? ", objects capped at vol/16"
				: "");
			for (int i = 0; i < MB_BENCH_NALLOC; i++) {
				struct mb_lane l;
				struct mb_churn ch = {.c = c,
						      .l = &l,
						      .gen = gen,
						      .rng = c->seed * 31 + 7,
						      .max_obj = max_obj};

				if (mb_lane_open(&l, i, &g)) {
					mb_res_skip(&row.res[i], l.a.name, l.a.note);
					continue;
				}
				row.res[i].alloc = l.a.name;
				mb_bench_lat_init(&ch.lat, 1);
				mb_churn_run(&ch, marks[m][0], marks[m][1], cycles, &row.res[i]);
				mb_bench_lat_free(&ch.lat);
				mb_lane_close(&l);
			}
			mb_bench_out_row(c->out, &row);
		}
	return 0;
}
