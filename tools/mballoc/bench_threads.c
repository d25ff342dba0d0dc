/* SPDX-License-Identifier: MIT */
/*
 * bench_threads.c - the `threads` workload: the churn of objects of 2 MiB
 * or 64 KiB (even odds), each written in 64 KiB appends through its own
 * file, at 1, 2, 4, 8 and 80 threads on one volume.  Every thread keeps its
 * own objects between its share of the 0.8/0.6 marks.  The figure is the
 * aggregate rate of allocation calls over the wall time (frees included in
 * the time, not in the count).  libext2fs is single-threaded: it runs the
 * 1-thread row only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"


struct mb_thr {
	struct mb_bench_alloc *a;
	pthread_t tid;
	uint64_t id, rng, high, low, used, ops, blocks, seq;
	uint32_t bs;
	struct mb_bench_exts *objs;
	size_t nobj, capobj;
	struct mb_bench_lat lat;
	atomic_bool *stop;
	int err;
};

static void mb_thr_drop(struct mb_thr *t, size_t i)
{
	struct mb_bench_exts *o = &t->objs[i];

	for (uint32_t k = 0; k < o->cnt; k++) {
		t->a->free(t->a->ctx, o->s[k], o->n[k]);
		t->used -= o->n[k];
	}
	free(o->s);
	free(o->n);
	t->objs[i] = t->objs[--t->nobj];
}

/* One object: a fresh file written in 64 KiB appends. */
static int mb_thr_object(struct mb_thr *t, struct mb_bench_exts *o)
{
	uint32_t size =
	    (uint32_t)(((mb_bench_rng(&t->rng) & 1) ? 2ULL << 20 : 64ULL << 10) / t->bs);
	uint32_t piece = (uint32_t)((64ULL << 10) / t->bs), done = 0, n;
	void *st = t->a->stream_open ? t->a->stream_open(t->a->ctx, t->id << 32 | ++t->seq) : NULL;
	struct mb_bench_req rq = {.stream = st, .goal = MB_BENCH_NO_GOAL};
	uint64_t s;
	int err = 0;

	while (done < size && !err) {
		rq.logical = done;
		rq.len = size - done < piece ? size - done : piece;
		if (t->ops % t->lat.every == 0) {
			uint64_t t0 = mb_bench_now_ns();

			err = t->a->alloc(t->a->ctx, &rq, &s, &n);
			mb_bench_lat_add(&t->lat, mb_bench_now_ns() - t0);
		} else {
			err = t->a->alloc(t->a->ctx, &rq, &s, &n);
		}
		if (err)
			break;
		t->ops++;
		t->used += n;
		done += n;
		rq.goal = s + n < t->blocks ? s + n : 0;
		err = mb_bench_exts_push(o, s, n);
	}
	if (st)
		t->a->stream_close(t->a->ctx, st);
	return err;
}

static void *mb_thr_main(void *arg)
{
	struct mb_thr *t = arg;

	while (!atomic_load_explicit(t->stop, memory_order_relaxed) && !t->err) {
		if (t->used >= t->high) {
			while (t->nobj && t->used > t->low)
				mb_thr_drop(t, mb_bench_rng(&t->rng) % t->nobj);
			continue;
		}
		if (t->nobj == t->capobj) {
			size_t cap = t->capobj ? 2 * t->capobj : 256;
			struct mb_bench_exts *n = realloc(t->objs, cap * sizeof(*n));

			if (!n) {
				t->err = -ENOMEM;
				break;
			}
			t->objs = n;
			t->capobj = cap;
		}
		memset(&t->objs[t->nobj], 0, sizeof(t->objs[0]));
		int err = mb_thr_object(t, &t->objs[t->nobj++]);

		if (err == -ENOSPC) /* others hold the space: shrink to the low mark */
			while (t->nobj && t->used > t->low)
				mb_thr_drop(t, mb_bench_rng(&t->rng) % t->nobj);
		else
			t->err = err;
	}
	return NULL;
}

/* Runs nthr threads on allocator a for secs; fills r. */
static void mb_threads_run(const struct mb_bench_cfg *c, struct mb_bench_alloc *a, uint64_t blocks,
			   int nthr, struct mb_bench_res *r)
{
	struct mb_thr *t = calloc(nthr, sizeof(*t));
	struct mb_bench_lat all;
	atomic_bool stop = false;
	uint64_t ops = 0, t0;
	int err = 0, started = 0;

	mb_bench_lat_init(&all, mb_cfg_sample(c, 16));
	for (int i = 0; t && i < nthr; i++) {
		t[i] = (struct mb_thr){.a = a,
				       .id = i + 1,
				       .rng = c->seed * 1000003 + i + 1,
				       .high = (uint64_t)(0.8 * blocks / nthr),
				       .low = (uint64_t)(0.6 * blocks / nthr),
				       .blocks = blocks,
				       .bs = c->block_size,
				       .stop = &stop};
		mb_bench_lat_init(&t[i].lat, all.every);
	}
	t0 = mb_bench_now_ns();
	for (int i = 0; t && i < nthr; i++, started++)
		if (pthread_create(&t[i].tid, NULL, mb_thr_main, &t[i]))
			break;
	usleep((useconds_t)(c->secs * 5 * 1e6));
	atomic_store_explicit(&stop, true, memory_order_relaxed);
	for (int i = 0; i < started; i++)
		pthread_join(t[i].tid, NULL);
	uint64_t ns = mb_bench_now_ns() - t0;

	for (int i = 0; i < started; i++) {
		ops += t[i].ops;
		err = err ? err : t[i].err;
		for (size_t k = 0; k < t[i].lat.n; k++)
			mb_bench_lat_add(&all, t[i].lat.v[k]);
		while (t[i].nobj)
			mb_thr_drop(&t[i], t[i].nobj - 1);
		free(t[i].objs);
		mb_bench_lat_free(&t[i].lat);
	}
	mb_bench_res_fill(r, &all, ops, ns);
	if (started < nthr)
		snprintf(r->note, sizeof(r->note), "only %d threads started", started);
	else if (err)
		snprintf(r->note, sizeof(r->note), "error: %s", strerror(-err));
	mb_bench_lat_free(&all);
	free(t);
}

int mb_bench_threads(const struct mb_bench_cfg *c)
{
	static const int counts[] = {1, 2, 4, 8, 80};
	struct mb_bench_geo g = {.blocks = (c->quick ? 256ULL << 20 : 4ULL << 30) / c->block_size,
				 .block_size = c->block_size};
	double ours[5] = {0};

	for (int k = 0; k < 5; k++) {
		struct mb_bench_row row = {.workload = "threads", .nres = 3 + c->kernel};

		snprintf(row.params, sizeof(row.params), "%2d threads, 2M|64K files", counts[k]);
		for (int i = 0; i < MB_BENCH_NALLOC; i++) {
			struct mb_bench_alloc a;

			if (mb_bench_alloc_create(i, &g, &a)) {
				mb_res_skip(&row.res[i], a.name, a.note);
				continue;
			}
			if (!a.threaded && counts[k] > 1) {
				mb_res_skip(&row.res[i], a.name,
					    "skipped: single-threaded library");
			} else {
				row.res[i].alloc = a.name;
				mb_threads_run(c, &a, g.blocks, counts[k], &row.res[i]);
			}
			mb_bench_alloc_destroy(&a);
		}
		if (c->kernel) {
			char args[64];

			snprintf(args, sizeof(args), "threads %d", counts[k]);
			mb_bench_kernel(c, args, &row.res[3]);
		}
		ours[k] = row.res[0].ops_s;
		int len = snprintf(row.note, sizeof(row.note),
				   "%llu MiB vol, %.2fs wall, latency from 1 call in %u",
				   (unsigned long long)(g.blocks * c->block_size >> 20),
				   c->secs * 5, mb_cfg_sample(c, 16));

		if (k && ours[0] > 0)
			len += snprintf(row.note + len, sizeof(row.note) - len,
					"; mballoc scaling: %.2fx of 1 thread", ours[k] / ours[0]);
		if (k > 1 && ours[1] > 0)
			snprintf(row.note + len, sizeof(row.note) - len, ", %.2fx of 2 threads",
				 ours[k] / ours[1]);
		mb_bench_out_row(c->out, &row);
	}
	return 0;
}
