/* SPDX-License-Identifier: MIT */
/*
 * bench_matrix.c - two side-by-side workloads run the same way for every
 * allocator of a row, interleaved in one process:
 *
 * matrix: fills empty, seq50, seq90, aged50, aged90 (every allocator gets
 *   the same used runs), requests of 1, 16 and 256 blocks (or the lengths
 *   --cells names) served in full,
 *   goal zero / next (end of the thread's previous answer) / random, 1 and
 *   2 threads.  A round is 0.5% of the volume in requests, timed from a
 *   barrier to the last thread done, then freed untimed; rounds repeat for
 *   --seconds.  Each cell runs every allocator 3 times, A B .. B A, and
 *   reports the median per wall second and per CPU-second of the process.
 *   The first round of every run is checked against the pre-fill for
 *   overlap, and every allocator's free count against the pre-fill after it.
 *
 * drain: an aged 90% volume; 1 or 2 threads ask for 16 blocks a call
 *   (shorter answers accepted), each from the end of its previous answer,
 *   until the allocator says no space.  The drain must be exact: every
 *   block handed out once, none left free, the allocator's count at 0 and
 *   one more call refused.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

enum { MB_HINT_P_ZERO, MB_HINT_P_NEXT, MB_HINT_P_RANDOM };
static const char *const mb_hint_names[] = {"zero", "next", "random"};

/* One timed run of one allocator in one cell. */
struct mb_mx_run {
	const struct mb_bench_cfg *c;
	struct mb_bench_alloc *a;
	const struct mb_layout *lo;
	uint64_t blocks, n_per, seed;
	uint32_t len;
	int hint, threads;
	bool file, check;
	/* shared between the threads; ordered by the barrier */
	pthread_barrier_t bar;
	bool stop;
	struct mb_bench_exts ex[2];
	uint64_t wall_ns, cpu_ns, ops, rounds;
	int err[2];
	struct mb_bench_res *r;
};

struct mb_mx_arg {
	struct mb_mx_run *run;
	int t;
};

/*
 * One thread's requests of a round; returns requests served.  The extent
 * list is worked on in a copy on this thread's stack and stored back at the
 * end: m->ex[0] and m->ex[1] share a cache line, and a count written by
 * both threads on every call would time the line's ping-pong, not the
 * allocator (all allocators alike, so every 2-thread ratio toward 1).
 */
static uint64_t mb_mx_requests(struct mb_mx_run *m, int t, void *st, uint64_t *logical,
			       uint64_t *prev, uint64_t *rng)
{
	struct mb_bench_exts mine = m->ex[t], *ex = &mine;
	uint64_t i;

	for (i = 0; i < m->n_per; i++) {
		uint64_t goal = m->hint == MB_HINT_P_ZERO   ? 0
				: m->hint == MB_HINT_P_NEXT ? *prev
							    : mb_bench_rng(rng) % m->blocks;
		uint64_t got;
		int err = mb_side_get(m->a, st, *logical, m->len, goal, ex, &got);

		*logical += got;
		if (ex->cnt)
			*prev = ex->s[ex->cnt - 1] + ex->n[ex->cnt - 1];
		if (*prev >= m->blocks)
			*prev = 0;
		if (err) {
			m->err[t] = err;
			break;
		}
	}
	m->ex[t] = mine;
	return i;
}

static void *mb_mx_worker(void *p)
{
	struct mb_mx_arg *arg = p;
	struct mb_mx_run *m = arg->run;
	int t = arg->t;
	struct mb_bench_alloc *a = m->a;
	void *st = m->file && a->stream_open ? a->stream_open(a->ctx, 1000 + (uint64_t)t) : NULL;
	uint64_t logical = 0, rng = m->seed * 1000003 + (uint64_t)t * 7919 + 1;
	uint64_t prev =
	    m->hint == MB_HINT_P_NEXT ? m->blocks / (uint64_t)m->threads * (uint64_t)t : 0;

	for (uint64_t round = 0;; round++) {
		uint64_t w0 = 0, c0 = 0, done;

		pthread_barrier_wait(&m->bar);
		if (m->stop)
			break;
		if (t == 0) {
			c0 = mb_bench_cpu_ns();
			w0 = mb_bench_now_ns();
		}
		done = mb_mx_requests(m, t, st, &logical, &prev, &rng);
		pthread_barrier_wait(&m->bar);
		if (t == 0) {
			m->wall_ns += mb_bench_now_ns() - w0;
			m->cpu_ns += mb_bench_cpu_ns() - c0;
			m->rounds++;
		}
		__atomic_add_fetch(&m->ops, done, __ATOMIC_RELAXED);
		pthread_barrier_wait(&m->bar);
		if (t == 0 && m->check && round == 0) /* untimed: overlap with anything */
			mb_side_check_overlap(m->c, m->ex, m->threads, m->lo, m->blocks, m->r,
					      NULL);
		pthread_barrier_wait(&m->bar);
		for (uint32_t i = 0; i < m->ex[t].cnt; i++)
			if (a->free(a->ctx, m->ex[t].s[i], m->ex[t].n[i]) && !m->err[t])
				m->err[t] = -EIO;
		m->ex[t].cnt = 0;
		pthread_barrier_wait(&m->bar);
		if (t == 0) {
			if (m->file && a->quiesce)
				a->quiesce(a->ctx); /* the files' preallocations back */
			/* --quick: one round, the checks are the point */
			if ((double)m->wall_ns >= m->c->secs * 1e9 || m->c->quick || m->err[0] ||
			    m->err[1])
				m->stop = true;
		}
	}
	if (st)
		a->stream_close(a->ctx, st);
	return NULL;
}

/* Runs one allocator in one cell once; ops per wall and CPU second. */
static int mb_mx_once(struct mb_mx_run *m, double *ops_s, double *cpu_ops_s)
{
	pthread_t th[2];
	struct mb_mx_arg args[2] = {{m, 0}, {m, 1}};
	int started = 0, err = 0;

	m->stop = false;
	m->wall_ns = m->cpu_ns = m->ops = m->rounds = 0;
	m->err[0] = m->err[1] = 0;
	pthread_barrier_init(&m->bar, NULL, (unsigned)m->threads);
	for (int t = 1; t < m->threads; t++)
		if (!pthread_create(&th[t], NULL, mb_mx_worker, &args[t]))
			started++;
	if (started != m->threads - 1) {
		/* cannot happen with two threads short of resources; say so */
		mb_side_fail(m->c, m->r, "pthread_create failed");
		m->stop = true;
	}
	mb_mx_worker(&args[0]);
	for (int t = 1; t <= started; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(&m->bar);
	err = m->err[0] ? m->err[0] : m->err[1];
	*ops_s = m->wall_ns ? (double)m->ops * 1e9 / (double)m->wall_ns : 0;
	*cpu_ops_s = m->cpu_ns ? (double)m->ops * 1e9 / (double)m->cpu_ns : 0;
	return err;
}

struct mb_mx_lane {
	struct mb_side_kind k;
	struct mb_bench_alloc a;
	bool ok;
};

/* One cell (len, hint, threads): every allocator `reps` times, A B .. B A. */
static void mb_mx_cell(const struct mb_bench_cfg *c, struct mb_mx_lane *ln, int n, int nours,
		       const struct mb_layout *lo, const char *fill, uint64_t blocks, uint32_t len,
		       int hint, int threads, uint64_t cell)
{
	struct mb_bench_row row = {.workload = "matrix", .nours = nours};
	int reps = c->quick ? 1 : 3, idx[MB_BENCH_MAX_PEERS], ni = 0;
	double ops[MB_BENCH_MAX_PEERS][3], cops[MB_BENCH_MAX_PEERS][3];
	struct mb_mx_run m = {.c = c,
			      .lo = lo,
			      .blocks = blocks,
			      .len = len,
			      .hint = hint,
			      .threads = threads,
			      .check = true};

	snprintf(row.params, sizeof(row.params), "%-6s len %-3u goal %-6s %d thr", fill, len,
		 mb_hint_names[hint], threads);
	m.n_per = blocks / 200 / len / (uint64_t)threads;
	if (!m.n_per)
		m.n_per = 1;
	snprintf(row.note, sizeof(row.note),
		 "%llu MiB vol; rounds of %llu requests per thread, median of %d interleaved runs",
		 (unsigned long long)(blocks * c->block_size >> 20), (unsigned long long)m.n_per,
		 reps);
	for (int i = 0; i < n; i++)
		if (len == 1 || ln[i].k.peer != MB_PEER_SPDK)
			idx[ni++] = i;
	row.nres = ni;
	for (int j = 0; j < ni; j++) {
		struct mb_mx_lane *l = &ln[idx[j]];

		if (!l->ok)
			mb_res_skip(&row.res[j], l->k.name, l->a.note);
		else
			row.res[j].alloc = l->k.name;
	}
	for (int r = 0; r < reps; r++)
		for (int jj = 0; jj < ni; jj++) {
			int j = r % 2 ? ni - 1 - jj : jj;
			struct mb_mx_lane *l = &ln[idx[j]];
			struct mb_bench_res *res = &row.res[j];

			if (!l->ok || res->note[0])
				continue; /* skipped or already failed */
			m.a = &l->a;
			m.file = l->k.file;
			m.r = res;
			m.seed = cell * 100 + (uint64_t)r;
			int err = mb_mx_once(&m, &ops[j][r], &cops[j][r]);

			res->ops += m.ops;
			if (err && !res->note[0])
				snprintf(res->note, sizeof(res->note), "stopped: %s",
					 strerror(-err));
			mb_side_check_free(c, &l->a, blocks - lo->used_blocks, res);
			if (res->note[0])
				continue;
			res->ops_s = ops[j][r]; /* medians below once all reps ran */
		}
	for (int j = 0; j < ni; j++) {
		struct mb_bench_res *res = &row.res[j];

		if (res->skipped || res->note[0])
			continue;
		res->ops_s = mb_side_median(ops[j], reps);
		res->cpu_ops_s = mb_side_median(cops[j], reps);
	}
	mb_side_exts_free(&m.ex[0]);
	mb_side_exts_free(&m.ex[1]);
	mb_bench_out_row(c->out, &row);
}

static const char *const mb_mx_fills[] = {"empty", "seq50", "seq90", "aged50", "aged90"};
static const char *const mb_mx_thrs[] = {"1thr", "2thr"};

/* The dimensions of --cells, each a list of the names it may hold. */
static const struct mb_mx_dim {
	const char *const *names;
	size_t n;
} mb_mx_dims[] = {
    {mb_mx_fills, 5},
    {NULL, 0}, /* lengths: numbers (mb_mx_len_of) */
    {mb_hint_names, 3},
    {mb_mx_thrs, 2},
};

/* The most blocks a --cells length may ask: 2^20, a request longer than
   any group (ext4 answers it a group's run at a time). */
#define MB_MX_LEN_MAX (1u << 20)

/* A --cells name of digits: a request length in blocks, else 0 (not digits,
   0, a leading zero or past MB_MX_LEN_MAX). */
static uint32_t mb_mx_len_of(const char *name, size_t len)
{
	uint32_t v = 0;

	if (!len || len > 7 || name[0] == '0')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		v = v * 10 + (uint32_t)(name[i] - '0');
	}
	return v <= MB_MX_LEN_MAX ? v : 0;
}

/* The dimension a --cells name belongs to, or -1.  Any length is a name
   of the lengths' dimension: 1, 16 and 256 are the matrix's own. */
static int mb_mx_dim_of(const char *name, size_t len)
{
	if (mb_mx_len_of(name, len))
		return 1;
	for (size_t d = 0; d < sizeof(mb_mx_dims) / sizeof(mb_mx_dims[0]); d++)
		for (size_t i = 0; i < mb_mx_dims[d].n; i++)
			if (strlen(mb_mx_dims[d].names[i]) == len &&
			    !strncmp(mb_mx_dims[d].names[i], name, len))
				return (int)d;
	return -1;
}

bool mb_bench_matrix_cells_valid(const char *list)
{
	for (const char *p = list; *p; p += *p == ',') {
		size_t n = strcspn(p, ",");

		if (mb_mx_dim_of(p, n) < 0)
			return false;
		p += n;
	}
	return true;
}

/* Whether `name` of dimension d is selected: named in the list, or the
 * list names nothing of that dimension. */
static bool mb_mx_selected(const char *list, int d, const char *name)
{
	bool any = false;

	for (const char *p = list ? list : ""; *p; p += *p == ',') {
		size_t n = strcspn(p, ",");

		if (mb_mx_dim_of(p, n) == d) {
			any = true;
			if (strlen(name) == n && !strncmp(p, name, n))
				return true;
		}
		p += n;
	}
	return !any;
}

/*
 * The lengths --cells names, in its order, up to max; none named: the
 * matrix's own three.  A length's cell numbers (its runs' seeds) are the
 * same whatever else is named: 1, 16 and 256 keep their places among the
 * 18 cells of a fill, any other gets its own past them.
 */
static size_t mb_mx_lens_named(const char *list, uint32_t *lens, uint64_t *base, size_t max)
{
	size_t n = 0;

	for (const char *p = list ? list : ""; *p && n < max; p += *p == ',') {
		size_t k = strcspn(p, ",");
		uint32_t v = mb_mx_len_of(p, k);

		p += k;
		if (!v)
			continue;
		lens[n] = v;
		base[n] = v == 1 ? 0 : v == 16 ? 6 : v == 256 ? 12 : 90 + 6ULL * v;
		n++;
	}
	if (n)
		return n;
	static const uint32_t own[] = {1, 16, 256};

	for (size_t i = 0; i < 3; i++) {
		lens[i] = own[i];
		base[i] = 6 * i;
	}
	return 3;
}

int mb_bench_matrix(const struct mb_bench_cfg *c)
{
	static const char *const *fills = mb_mx_fills;
	uint32_t lens[16];
	uint64_t lbase[16];
	const size_t nlens = mb_mx_lens_named(c->cells, lens, lbase, 16);
	struct mb_bench_geo g = {.blocks = mb_side_blocks(c, 32ULL << 30, 64ULL << 20),
				 .block_size = c->block_size};
	struct mb_side_kind k[MB_BENCH_MAX_PEERS];
	int nours, n = mb_side_kinds(c, true, 1, k, &nours);
	uint64_t cell = 0;

	for (size_t f = 0; f < 5; f++) {
		struct mb_mx_lane ln[MB_BENCH_MAX_PEERS];
		struct mb_layout lo;

		cell += 18; /* cell numbers (the seeds) do not depend on --cells */
		if (!mb_mx_selected(c->cells, 0, fills[f]))
			continue;
		cell -= 18;

		if (mb_layout_make(fills[f], g.blocks, 12345, &lo))
			return -1;
		for (int i = 0; i < n; i++) {
			ln[i].k = k[i];
			ln[i].ok = !mb_side_create(&k[i], &g, &ln[i].a);
			if (ln[i].ok && mb_layout_apply(&lo, &ln[i].a)) {
				mb_bench_alloc_destroy(&ln[i].a);
				snprintf(ln[i].a.note, sizeof(ln[i].a.note), "pre-fill failed");
				ln[i].ok = false;
			}
		}
		for (size_t li = 0; li < nlens; li++)
			for (int h = 0; h < 3; h++)
				for (int t = 1; t <= 2; t++)
					if (mb_mx_selected(c->cells, 2, mb_hint_names[h]) &&
					    mb_mx_selected(c->cells, 3, mb_mx_thrs[t - 1]))
						mb_mx_cell(c, ln, n, nours, &lo, fills[f], g.blocks,
							   lens[li], h, t,
							   cell + lbase[li] + 2 * (uint64_t)h + t);
		cell += 18;
		for (int i = 0; i < n; i++)
			if (ln[i].ok)
				mb_bench_alloc_destroy(&ln[i].a);
		mb_layout_free(&lo);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* drain                                                                    */
/* ------------------------------------------------------------------------ */

/* Its own cache line (64 bytes on the machines we bench on): calls, got and
   ex change on every call, and d[0] and d[1] sit side by side. */
struct mb_dr_thread {
	_Alignas(64) struct mb_bench_alloc *a;
	bool file;
	int t, threads;
	uint64_t blocks, calls, got;
	struct mb_bench_exts ex;
	int err;
};

static void *mb_dr_worker(void *p)
{
	struct mb_dr_thread *d = p;
	struct mb_bench_alloc *a = d->a;
	void *st = d->file && a->stream_open ? a->stream_open(a->ctx, 2000 + (uint64_t)d->t) : NULL;
	struct mb_bench_req rq = {
	    .stream = st, .goal = d->blocks / (uint64_t)d->threads * (uint64_t)d->t, .len = 16};

	for (;;) {
		uint64_t s, got = 0;
		uint32_t n;
		int err;

		if (a->alloc_multi) {
			err = a->alloc_multi(a->ctx, &rq, &d->ex, &got);
			if (err == -ENOSPC && got)
				err = 0; /* a short answer is an answer */
		} else {
			err = a->alloc(a->ctx, &rq, &s, &n);
			if (!err) {
				err = mb_bench_exts_push(&d->ex, s, n);
				got = n;
			}
		}
		d->calls++;
		if (err) {
			d->err = err == -ENOSPC ? 0 : err;
			break;
		}
		d->got += got;
		rq.logical += got;
		rq.goal = d->ex.s[d->ex.cnt - 1] + d->ex.n[d->ex.cnt - 1];
		if (rq.goal >= d->blocks)
			rq.goal = 0;
	}
	if (st)
		a->stream_close(a->ctx, st);
	return NULL;
}

/* One allocator's drains, summed over the rounds of a row. */
struct mb_dr_sum {
	uint64_t calls, got, wall, cpu;
	int drains;
	bool done; /* skipped or failed: no more drains */
};

/* Drains one fresh allocator, adds it to s, fills r from the sums and checks
   the drain was exact. */
static void mb_dr_run(const struct mb_bench_cfg *c, const struct mb_side_kind *k,
		      const struct mb_bench_geo *g, const struct mb_layout *lo, int threads,
		      struct mb_bench_res *r, struct mb_dr_sum *s)
{
	struct mb_bench_alloc a;
	struct mb_dr_thread d[2];
	struct mb_bench_exts ex[2];
	pthread_t th[2];
	uint64_t w0, c0, calls = 0, got = 0, used = 0;
	int err = mb_side_create(k, g, &a);

	if (err) {
		mb_res_skip(r, k->name, a.note);
		s->done = true;
		return;
	}
	r->alloc = k->name;
	if (mb_layout_apply(lo, &a)) {
		mb_side_fail(c, r, "pre-fill failed");
		s->done = true;
		mb_bench_alloc_destroy(&a);
		return;
	}
	for (int t = 0; t < threads; t++)
		d[t] = (struct mb_dr_thread){
		    .a = &a, .file = k->file, .t = t, .threads = threads, .blocks = g->blocks};
	c0 = mb_bench_cpu_ns();
	w0 = mb_bench_now_ns();
	int started = 1;

	for (int t = 1; t < threads; t++)
		started += !pthread_create(&th[t], NULL, mb_dr_worker, &d[t]);
	mb_dr_worker(&d[0]);
	for (int t = 1; t < started; t++)
		pthread_join(th[t], NULL);
	uint64_t wall = mb_bench_now_ns() - w0, cpu = mb_bench_cpu_ns() - c0;

	for (int t = 0; t < threads; t++) {
		calls += d[t].calls;
		got += d[t].got;
		ex[t] = d[t].ex;
		err = err ? err : d[t].err;
	}
	s->calls += calls;
	s->got += got;
	s->wall += wall;
	s->cpu += cpu;
	s->drains++;
	r->ops = s->calls;
	r->ops_s = s->wall ? (double)s->calls * 1e9 / (double)s->wall : 0;
	r->cpu_ops_s = s->cpu ? (double)s->calls * 1e9 / (double)s->cpu : 0;
	snprintf(r->note, sizeof(r->note), "%llu blocks x %d drains in %.3f s wall, %.3f s CPU",
		 (unsigned long long)got, s->drains, (double)s->wall / 1e9, (double)s->cpu / 1e9);
	if (started != threads)
		mb_side_fail(c, r, "pthread_create failed");
	else if (err)
		mb_side_fail(c, r, "allocation failed: %s", strerror(-err));
	else if (mb_side_check_overlap(c, ex, threads, lo, g->blocks, r, &used) &&
		 used != g->blocks)
		mb_side_fail(c, r, "drain not exact: %llu blocks left free",
			     (unsigned long long)(g->blocks - used));
	else if (used == g->blocks && mb_side_check_free(c, &a, 0, r)) {
		struct mb_bench_req rq = {.goal = 0, .len = 1};
		struct mb_bench_exts more = {0};
		uint64_t bs, extra = 0;
		uint32_t n;

		/* one more call, now that nothing is in flight: must be refused */
		err = a.alloc_multi ? a.alloc_multi(a.ctx, &rq, &more, &extra)
				    : a.alloc(a.ctx, &rq, &bs, &n);
		if (err != -ENOSPC || extra)
			mb_side_fail(c, r, "a call after the drain did not say ENOSPC (%d)", err);
		mb_side_exts_free(&more);
	}
	if (strncmp(r->note, "BUG", 3) == 0)
		s->done = true; /* one failure is the row's verdict */
	for (int t = 0; t < threads; t++)
		mb_side_exts_free(&ex[t]);
	mb_bench_alloc_destroy(&a);
}

/* A drain is short (~0.01 s of CPU on a 32 GiB volume), shorter than the
   noise of a loaded machine: a row's drains run in rounds (mb_side_rounds)
   until each allocator has spent --seconds of CPU in them. */

struct mb_dr_rows {
	const struct mb_bench_cfg *c;
	const struct mb_side_kind *k;
	const struct mb_bench_geo *g;
	const struct mb_layout *lo;
	int threads;
	struct mb_bench_row *row;
	struct mb_dr_sum sum[MB_BENCH_MAX_PEERS];
};

static double mb_dr_round(void *ctx, int i)
{
	struct mb_dr_rows *d = ctx;

	mb_dr_run(d->c, &d->k[i], d->g, d->lo, d->threads, &d->row->res[i], &d->sum[i]);
	return d->sum[i].done ? -1 : (double)d->sum[i].cpu / 1e9;
}

static void mb_dr_row(const struct mb_bench_cfg *c, const struct mb_side_kind *k, int n,
		      const struct mb_bench_geo *g, const struct mb_layout *lo, int threads,
		      struct mb_bench_row *row)
{
	struct mb_dr_rows d = {.c = c, .k = k, .g = g, .lo = lo, .threads = threads, .row = row};

	mb_side_rounds(c, n, mb_dr_round, &d);
}

int mb_bench_drain(const struct mb_bench_cfg *c)
{
	struct mb_bench_geo g = {.blocks = mb_side_blocks(c, 32ULL << 30, 64ULL << 20),
				 .block_size = c->block_size};
	struct mb_side_kind k[MB_BENCH_MAX_PEERS];
	int nours, n = mb_side_kinds(c, true, 16, k, &nours);
	struct mb_layout lo;

	if (mb_layout_make("aged90", g.blocks, 12345, &lo))
		return -1;
	for (int threads = 1; threads <= 2; threads++) {
		struct mb_bench_row row = {.workload = "drain", .nres = n, .nours = nours};

		snprintf(row.params, sizeof(row.params), "aged90 -> 0, 16 a call, %d thr", threads);
		snprintf(
		    row.note, sizeof(row.note),
		    "%llu MiB vol, %llu blocks to drain; ops = calls; must end at exactly 0 free",
		    (unsigned long long)(g.blocks * c->block_size >> 20),
		    (unsigned long long)(g.blocks - lo.used_blocks));
		mb_dr_row(c, k, n, &g, &lo, threads, &row);
		mb_bench_out_row(c->out, &row);
	}
	mb_layout_free(&lo);
	return 0;
}
