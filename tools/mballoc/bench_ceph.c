/* SPDX-License-Identifier: MIT */
/*
 * bench_ceph.c - the shapes of Ceph's own allocator tests, as workloads of
 * `mballoc bench` (our code; the definitions follow Ceph's
 * src/test/objectstore Allocator_bench and Allocator_aging_fragmentation):
 *
 * bench:  requests of 2^U(0..9) blocks, each followed by releasing
 *         2^U(0..7) blocks taken from random live extents (a live extent
 *         longer than what is left to release is cut), until 2x the
 *         volume has been allocated or it is full.  Timed whole.
 * 90_300: fill to 90% with 2^U(0..9)-block requests, then release
 *         2^U(0..9) and allocate 2^U(0..9) blocks until 3x the volume has
 *         been overwritten.  Timed whole.
 * aging:  fill to the high mark (80%), free random extents down to the low
 *         mark (60%), refill; three times.  Sizes from one of two
 *         generators: triangular on [1 B, 16 MiB] with its mode at 8 MiB,
 *         rounded up to a block, or 8 MiB / 64 KiB with even odds.  After
 *         each extent a request got, a random live extent is freed with
 *         probability 0.1 (the leak).  Allocation calls are timed (wall
 *         and process CPU per request); `split%` is the share of requests
 *         of the last refill served in more than one extent; `frag` is
 *         the fragmentation score at the high mark.
 *
 * Every allocator starts empty with the same seed; mballoc runs without a
 * file and with one file for the whole run (ext4's data path with inode
 * preallocation).  Each run ends with checks: no two live extents overlap,
 * and the allocator's free count equals the volume less the live blocks.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

/* The live extents of a run, as Ceph's tests track them. */
struct mb_live {
	uint64_t *s;
	uint32_t *n;
	size_t cnt, cap;
	uint64_t blocks; /* sum of n */
};

static int mb_live_push(struct mb_live *l, uint64_t s, uint32_t n)
{
	if (l->cnt == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4096;
		uint64_t *ns = realloc(l->s, cap * sizeof(*ns));
		uint32_t *nn = ns ? realloc(l->n, cap * sizeof(*nn)) : NULL;

		if (ns)
			l->s = ns;
		if (!nn)
			return -ENOMEM;
		l->n = nn;
		l->cap = cap;
	}
	l->s[l->cnt] = s;
	l->n[l->cnt++] = n;
	l->blocks += n;
	return 0;
}

/* Takes a random live extent, at most max blocks of it (0 = all of it). */
static bool mb_live_pop(struct mb_live *l, uint64_t *rng, uint64_t max, uint64_t *s, uint32_t *n)
{
	if (!l->cnt)
		return false;
	size_t i = mb_bench_rng(rng) % l->cnt;

	*s = l->s[i];
	*n = l->n[i];
	if (max && *n > max) {
		*n = (uint32_t)max;
		l->s[i] += max;
		l->n[i] -= (uint32_t)max;
	} else {
		l->s[i] = l->s[--l->cnt];
		l->n[i] = l->n[l->cnt];
	}
	l->blocks -= *n;
	return true;
}

static void mb_live_free(struct mb_live *l)
{
	free(l->s);
	free(l->n);
	memset(l, 0, sizeof(*l));
}

/* One run of one allocator. */
struct mb_cb {
	const struct mb_bench_cfg *c;
	struct mb_bench_alloc a;
	void *st;
	uint64_t logical, rng, blocks;
	struct mb_live live;
	struct mb_bench_exts tmp;
	uint64_t reqs, split, pieces, wall_ns, cpu_ns;
	bool timed_calls; /* aging: clock each request (wall_ns) */
	int err;
};

/* One request in full; its pieces become live extents.  false when the
 * volume is full (or on error, in cb->err). */
static bool mb_cb_alloc(struct mb_cb *cb, uint32_t want)
{
	uint64_t got, w0 = 0;
	int err;

	/* Only the monotonic clock per request: it is read in user space,
	 * while the CPU clock is a system call that would cost more than a
	 * fast allocator's call (see mb_aging_fill for the CPU figure). */
	cb->tmp.cnt = 0;
	if (cb->timed_calls)
		w0 = mb_bench_now_ns();
	err = mb_side_get(&cb->a, cb->st, cb->logical, want, MB_BENCH_NO_GOAL, &cb->tmp, &got);
	if (cb->timed_calls)
		cb->wall_ns += mb_bench_now_ns() - w0;
	cb->logical += got;
	cb->reqs++;
	cb->split += cb->tmp.cnt > 1;
	cb->pieces += cb->tmp.cnt;
	for (uint32_t i = 0; i < cb->tmp.cnt; i++)
		if (mb_live_push(&cb->live, cb->tmp.s[i], cb->tmp.n[i]))
			err = -ENOMEM;
	if (err && err != -ENOSPC)
		cb->err = err;
	return !err;
}

/* Releases `want` blocks from random live extents (cut to fit). */
static void mb_cb_release(struct mb_cb *cb, uint64_t want)
{
	uint64_t s;
	uint32_t n;

	while (want && mb_live_pop(&cb->live, &cb->rng, want, &s, &n)) {
		if (cb->a.free(cb->a.ctx, s, n) && !cb->err)
			cb->err = -EIO;
		want -= n;
	}
}

/* The end-of-run checks: live extents disjoint, free count matches. */
static void mb_cb_check(struct mb_cb *cb, struct mb_bench_res *r)
{
	struct mb_bench_exts e = {.s = cb->live.s, .n = cb->live.n, .cnt = (uint32_t)cb->live.cnt};
	uint64_t used = 0;

	if (cb->err) {
		mb_side_fail(cb->c, r, "allocator error: %s", strerror(-cb->err));
		return;
	}
	if (cb->st) {
		cb->a.stream_close(cb->a.ctx, cb->st); /* its preallocation is free space */
		cb->st = NULL;
	}
	if (mb_side_check_overlap(cb->c, &e, 1, NULL, cb->blocks, r, &used))
		mb_side_check_free(cb->c, &cb->a, cb->blocks - used, r);
}

/* Free-space fragmentation after the run (from the live extents). */
static void mb_cb_frag(struct mb_cb *cb, struct mb_bench_res *r)
{
	struct mb_bench_shadow sh;

	if (!strncmp(r->note, "BUG", 3) || mb_bench_shadow_init(&sh, cb->blocks))
		return;
	for (size_t i = 0; i < cb->live.cnt; i++)
		mb_bench_shadow_set(&sh, cb->live.s[i], cb->live.n[i]);
	mb_bench_frag_from_shadow(&sh, cb->c->block_size, &r->frag);
	mb_bench_shadow_free(&sh);
}

static int mb_cb_open(struct mb_cb *cb, const struct mb_bench_cfg *c, const struct mb_side_kind *k,
		      const struct mb_bench_geo *g, uint64_t seed, struct mb_bench_res *r)
{
	memset(cb, 0, sizeof(*cb));
	cb->c = c;
	cb->blocks = g->blocks;
	cb->rng = seed;
	if (mb_side_create(k, g, &cb->a)) {
		mb_res_skip(r, k->name, cb->a.note);
		return -1;
	}
	r->alloc = k->name;
	if (k->file && cb->a.stream_open)
		cb->st = cb->a.stream_open(cb->a.ctx, 77);
	return 0;
}

static void mb_cb_close(struct mb_cb *cb)
{
	if (cb->st)
		cb->a.stream_close(cb->a.ctx, cb->st);
	mb_bench_alloc_destroy(&cb->a);
	mb_live_free(&cb->live);
	mb_side_exts_free(&cb->tmp);
}

/* bench or 90_300 on one fresh allocator. */
static void mb_cb_shape(const struct mb_bench_cfg *c, const struct mb_side_kind *k,
			const struct mb_bench_geo *g, bool b90, uint64_t seed,
			struct mb_bench_res *r)
{
	struct mb_cb cb;
	uint64_t done = 0, B = g->blocks;
	bool full = false;

	if (mb_cb_open(&cb, c, k, g, seed, r))
		return;
	uint64_t c0 = mb_bench_cpu_ns(), w0 = mb_bench_now_ns();

	if (!b90) {
		while (done < 2 * B && !cb.err) {
			uint32_t want = 1u << (mb_bench_rng(&cb.rng) % 10);

			if (!mb_cb_alloc(&cb, want)) {
				full = true;
				break;
			}
			done += want;
			mb_cb_release(&cb, 1u << (mb_bench_rng(&cb.rng) % 8));
		}
	} else {
		while (done < B - B / 10 && !cb.err) {
			uint32_t want = 1u << (mb_bench_rng(&cb.rng) % 10);

			if (!mb_cb_alloc(&cb, want)) {
				full = true;
				break;
			}
			done += want;
		}
		for (done = 0; done < 3 * B && !full && !cb.err;) {
			mb_cb_release(&cb, 1u << (mb_bench_rng(&cb.rng) % 10));
			uint32_t want = 1u << (mb_bench_rng(&cb.rng) % 10);

			full = !mb_cb_alloc(&cb, want);
			done += want;
		}
	}
	uint64_t wall = mb_bench_now_ns() - w0, cpu = mb_bench_cpu_ns() - c0;

	r->ops = cb.reqs;
	r->ops_s = wall ? (double)cb.reqs * 1e9 / (double)wall : 0;
	r->cpu_ops_s = cpu ? (double)cb.reqs * 1e9 / (double)cpu : 0;
	r->aging = true;
	r->split_pct = cb.reqs ? 100.0 * (double)cb.split / (double)cb.reqs : 0;
	r->ext_per_alloc = cb.reqs ? (double)cb.pieces / (double)cb.reqs : 0;
	snprintf(r->note, sizeof(r->note), "%.3f s wall, %.3f s CPU%s", (double)wall / 1e9,
		 (double)cpu / 1e9, full ? ", ended full" : "");
	mb_cb_check(&cb, r);
	mb_cb_frag(&cb, r);
	mb_cb_close(&cb);
}

/* Runs every allocator of the row `reps` times (A B .. B A); keeps the
 * median of each. */
static void mb_cb_row(const struct mb_bench_cfg *c, const char *workload, bool b90, uint64_t bytes,
		      uint64_t q)
{
	struct mb_bench_geo g = {.blocks = mb_side_blocks(c, bytes, q),
				 .block_size = c->block_size};
	struct mb_side_kind k[MB_BENCH_MAX_PEERS];
	int nours, n = mb_side_kinds(c, true, 0, k, &nours), reps = c->quick ? 1 : 2;
	struct mb_bench_row row = {.workload = workload, .nres = n, .nours = nours};
	double ops[MB_BENCH_MAX_PEERS][2], cops[MB_BENCH_MAX_PEERS][2];

	snprintf(row.params, sizeof(row.params), "%s %llu MiB", workload,
		 (unsigned long long)(g.blocks * c->block_size >> 20));
	snprintf(row.note, sizeof(row.note),
		 "ops = requests, timed whole with the releases; split%% = requests in more "
		 "than one extent; median of %d interleaved runs",
		 reps);
	for (int rep = 0; rep < reps; rep++)
		for (int jj = 0; jj < n; jj++) {
			int j = rep % 2 ? n - 1 - jj : jj;
			struct mb_bench_res one = {0};

			mb_cb_shape(c, &k[j], &g, b90, 42 + (uint64_t)rep, &one);
			ops[j][rep] = one.ops_s;
			cops[j][rep] = one.cpu_ops_s;
			if (rep == 0 || !strncmp(one.note, "BUG", 3))
				row.res[j] = one;
		}
	for (int j = 0; j < n; j++)
		if (!row.res[j].skipped && strncmp(row.res[j].note, "BUG", 3)) {
			row.res[j].ops_s = mb_side_median(ops[j], reps);
			row.res[j].cpu_ops_s = mb_side_median(cops[j], reps);
		}
	mb_bench_out_row(c->out, &row);
}

int mb_bench_cephbench(const struct mb_bench_cfg *c)
{
	mb_cb_row(c, "bench", false, 64ULL << 30, 256ULL << 20);
	return 0;
}

int mb_bench_90_300(const struct mb_bench_cfg *c)
{
	mb_cb_row(c, "90_300", true, 16ULL << 30, 256ULL << 20);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* aging                                                                    */
/* ------------------------------------------------------------------------ */

/* A uniform double in [0, 1). */
static double mb_unit(uint64_t *rng)
{
	return (double)(mb_bench_rng(rng) >> 11) * 0x1p-53;
}

/* Request size in blocks from generator gen (0 triangle, 1 8M|64K). */
static uint32_t mb_aging_size(uint64_t *rng, int gen, uint32_t bs)
{
	if (gen == 1)
		return (uint32_t)(((mb_bench_rng(rng) & 1) ? 8ULL << 20 : 64ULL << 10) / bs);
	/* triangular on [a, c] with mode m, by inverting its distribution */
	const double a = 1, m = 8 << 20, cc = 16 << 20;
	double u = mb_unit(rng), x;

	if (u < (m - a) / (cc - a))
		x = a + sqrt(u * (cc - a) * (m - a));
	else
		x = cc - sqrt((1 - u) * (cc - a) * (cc - m));
	uint64_t bytes = ((uint64_t)x + bs) & ~(uint64_t)(bs - 1);

	return (uint32_t)(bytes / bs);
}

/* Frees one random live extent; its size (0 when none is live). */
static uint64_t mb_aging_free_one(struct mb_cb *cb)
{
	uint64_t s;
	uint32_t n;

	if (!mb_live_pop(&cb->live, &cb->rng, 0, &s, &n))
		return 0;
	if (cb->a.free(cb->a.ctx, s, n) && !cb->err)
		cb->err = -EIO;
	return n;
}

static void mb_aging_fill_calls(struct mb_cb *cb, int gen, uint64_t mark, uint32_t leak);

/*
 * One fill to the mark.  The CPU time of the allocation calls is their
 * wall time times the share of a CPU the process got during the fill
 * (process CPU / wall of the whole fill, at most 1 with one thread).
 */
static void mb_aging_fill(struct mb_cb *cb, int gen, uint64_t mark, uint32_t leak)
{
	uint64_t c0 = mb_bench_cpu_ns(), w0 = mb_bench_now_ns(), a0 = cb->wall_ns;

	mb_aging_fill_calls(cb, gen, mark, leak);
	uint64_t cpu = mb_bench_cpu_ns() - c0, wall = mb_bench_now_ns() - w0;
	double share = wall && cpu < wall ? (double)cpu / (double)wall : 1.0;

	cb->cpu_ns += (uint64_t)((double)(cb->wall_ns - a0) * share);
}

static void mb_aging_fill_calls(struct mb_cb *cb, int gen, uint64_t mark, uint32_t leak)
{
	while (cb->live.blocks < mark && !cb->err) {
		uint32_t want = mb_aging_size(&cb->rng, gen, cb->c->block_size);
		size_t before = cb->live.cnt;

		if (!mb_cb_alloc(cb, want)) {
			/* full before the mark: give the partial answer back */
			while (cb->live.cnt > before) {
				cb->live.cnt--;
				cb->live.blocks -= cb->live.n[cb->live.cnt];
				cb->a.free(cb->a.ctx, cb->live.s[cb->live.cnt],
					   cb->live.n[cb->live.cnt]);
			}
			break;
		}
		for (uint32_t i = 0; i < cb->tmp.cnt; i++)
			if ((uint32_t)mb_bench_rng(&cb->rng) < leak)
				mb_aging_free_one(cb);
	}
}

static void mb_aging_run(const struct mb_bench_cfg *c, const struct mb_side_kind *k,
			 const struct mb_bench_geo *g, int gen, struct mb_bench_res *r)
{
	const double high = 0.8, low = 0.6, leak = 0.1;
	struct mb_cb cb;
	uint64_t hi = (uint64_t)(high * (double)g->blocks),
		 lo = (uint64_t)(low * (double)g->blocks);

	if (mb_cb_open(&cb, c, k, g, 0x5eed, r))
		return;
	cb.timed_calls = true;
	mb_aging_fill(&cb, gen, hi, (uint32_t)(leak * 4294967295.0));
	uint64_t reqs0 = 0, split0 = 0, pieces0 = 0;

	for (int i = 0; i < 3 && !cb.err; i++) {
		reqs0 = cb.reqs; /* split% and ext/al: the last refill's */
		split0 = cb.split;
		pieces0 = cb.pieces;
		while (cb.live.blocks > lo && mb_aging_free_one(&cb))
			;
		mb_aging_fill(&cb, gen, hi, (uint32_t)(leak * 4294967295.0));
	}
	uint64_t last = cb.reqs - reqs0 ? cb.reqs - reqs0 : 1;

	r->aging = true;
	r->split_pct = 100.0 * (double)(cb.split - split0) / (double)last;
	r->ext_per_alloc = (double)(cb.pieces - pieces0) / (double)last;
	r->ops = cb.reqs;
	r->ops_s = cb.wall_ns ? (double)cb.reqs * 1e9 / (double)cb.wall_ns : 0;
	r->cpu_ops_s = cb.cpu_ns ? (double)cb.reqs * 1e9 / (double)cb.cpu_ns : 0;
	snprintf(r->note, sizeof(r->note), "allocation calls %.3f s wall, %.3f s CPU; level %.1f%%",
		 (double)cb.wall_ns / 1e9, (double)cb.cpu_ns / 1e9,
		 100.0 * (double)cb.live.blocks / (double)g->blocks);
	mb_cb_check(&cb, r);
	mb_cb_frag(&cb, r);
	mb_cb_close(&cb);
}

/*
 * One row's runs: a run's timed calls are milliseconds of CPU (~0.003-0.01
 * s at 64 GiB), below a loaded machine's noise, so the row runs in rounds
 * (mb_side_rounds, as the drain's) until each allocator has spent
 * --seconds of CPU in its timed calls, and its rates are the sums'.  The
 * other figures are the first run's, as the seed makes every run the same
 * requests.
 */

struct mb_aging_sums {
	const struct mb_bench_cfg *c;
	const struct mb_side_kind *k;
	const struct mb_bench_geo *g;
	int gen;
	struct mb_bench_row *row;
	double ops[MB_BENCH_MAX_PEERS], wall[MB_BENCH_MAX_PEERS], cpu[MB_BENCH_MAX_PEERS];
	int runs[MB_BENCH_MAX_PEERS];
};

static double mb_aging_round(void *ctx, int j)
{
	struct mb_aging_sums *a = ctx;
	struct mb_bench_res one = {0};
	bool first = !a->runs[j]++;

	mb_aging_run(a->c, &a->k[j], a->g, a->gen, &one);
	bool bad = one.skipped || !strncmp(one.note, "BUG", 3);

	if (first || bad)
		a->row->res[j] = one;
	a->ops[j] += (double)one.ops;
	a->wall[j] += one.ops_s > 0 ? (double)one.ops / one.ops_s : 0;
	a->cpu[j] += one.cpu_ops_s > 0 ? (double)one.ops / one.cpu_ops_s : 0;
	return bad ? -1 : a->cpu[j];
}

/* Runs the row's rounds and sets its rates from the sums; the rounds run. */
static int mb_aging_rounds(const struct mb_bench_cfg *c, const struct mb_side_kind *k, int n,
			   const struct mb_bench_geo *g, int gen, struct mb_bench_row *row)
{
	struct mb_aging_sums a = {.c = c, .k = k, .g = g, .gen = gen, .row = row};
	int rounds = mb_side_rounds(c, n, mb_aging_round, &a);

	for (int j = 0; j < n; j++)
		if (!row->res[j].skipped && strncmp(row->res[j].note, "BUG", 3)) {
			row->res[j].ops = (uint64_t)a.ops[j];
			row->res[j].ops_s = a.wall[j] > 0 ? a.ops[j] / a.wall[j] : 0;
			row->res[j].cpu_ops_s = a.cpu[j] > 0 ? a.ops[j] / a.cpu[j] : 0;
		}
	return rounds;
}

int mb_bench_aging(const struct mb_bench_cfg *c)
{
	static const char *const gens[] = {"triangle", "8M|64K"};
	struct mb_bench_geo g = {.blocks = mb_side_blocks(c, 64ULL << 30, 256ULL << 20),
				 .block_size = c->block_size};
	struct mb_side_kind k[MB_BENCH_MAX_PEERS];
	int nours, n = mb_side_kinds(c, true, 0, k, &nours);

	for (int gen = 0; gen < 2; gen++) {
		struct mb_bench_row row = {.workload = "aging", .nres = n, .nours = nours};

		snprintf(row.params, sizeof(row.params), "%s %uK %lluM", gens[gen],
			 c->block_size >> 10, (unsigned long long)(g.blocks * c->block_size >> 20));
		int rounds = mb_aging_rounds(c, k, n, &g, gen, &row);

		snprintf(row.note, sizeof(row.note),
			 "marks 0.8/0.6, 3 refills, leak 0.1; ops = requests (every fill), each "
			 "timed; sums of %d interleaved runs; split%% and ext/al of the first "
			 "run's last refill; frag at its high mark",
			 rounds);
		mb_bench_out_row(c->out, &row);
	}
	return 0;
}
