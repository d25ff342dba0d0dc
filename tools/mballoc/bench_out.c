/* SPDX-License-Identifier: MIT */
/*
 * bench_out.c - printing bench results: an aligned table on stdout as rows
 * finish (for people), or exactly one JSON object at the end (for
 * machines; rows are kept in memory until then).  Each peer's line carries
 * the ratio mballoc / peer of ops/s measured in the same row.  On a terminal,
 * stderr gets a progress line after each row (long runs take minutes).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mb_bench.h"

int mb_bench_out_init(struct mb_bench_out *o, bool json, bool quick)
{
	memset(o, 0, sizeof(*o));
	o->json = json;
	o->quick = quick;
	o->progress = isatty(STDERR_FILENO);
	o->start_ns = mb_bench_now_ns();
	if (!json)
		return 0;
	o->jf = open_memstream(&o->jbuf, &o->jlen);
	o->j = malloc(sizeof(*o->j));
	if (!o->jf || !o->j) {
		if (o->jf)
			fclose(o->jf);
		free(o->jbuf);
		free(o->j);
		return -1;
	}
	mb_json_start(o->j, o->jf, "bench");
	mb_json_bool(o->j, "quick", quick);
	mb_json_arr(o->j, "rows");
	return 0;
}

/* After a row, on a terminal: how far the run is (stdout may be a pipe). */
static void mb_bench_progress(struct mb_bench_out *o, const char *workload)
{
	if (!o->progress)
		return;
	fprintf(stderr, "\r\033[Kbench: %d rows done, last %s, %.0f s", o->rows, workload,
		(double)(mb_bench_now_ns() - o->start_ns) / 1e9);
}

/* Clears the progress line before the table goes on, on the same terminal. */
static void mb_bench_progress_clear(struct mb_bench_out *o)
{
	if (o->progress)
		fprintf(stderr, "\r\033[K");
}

/* spdk's bit pool is a single-block bound, reported apart from the peers. */
static bool mb_is_bound(const struct mb_bench_res *r)
{
	return r->alloc && !strncmp(r->alloc, "spdk", 4);
}

/* The bound's result in a row, or NULL. */
static const struct mb_bench_res *mb_row_bound(const struct mb_bench_row *r)
{
	for (int i = r->nours; i < r->nres; i++)
		if (mb_is_bound(&r->res[i]) && !r->res[i].skipped && r->res[i].cpu_ops_s > 0)
			return &r->res[i];
	return NULL;
}

/*
 * The best of mballoc's variants in a side-by-side row, per CPU-second
 * (wall when CPU time was not measured); *who gets its index.  Peers are
 * the results from `from` on.
 */
static double mb_row_best(const struct mb_bench_row *r, int from, int to, int *who)
{
	double best = 0;

	*who = -1;
	for (int i = from; i < to; i++) {
		const struct mb_bench_res *x = &r->res[i];
		double v = x->cpu_ops_s > 0 ? x->cpu_ops_s : x->ops_s;

		if (!x->skipped && v > best && !mb_is_bound(x)) {
			best = v;
			*who = i;
		}
	}
	return best;
}

static void mb_json_res(struct mb_json *j, const struct mb_bench_res *r, double ours)
{
	mb_json_obj(j, NULL);
	mb_json_str(j, "alloc", r->alloc);
	mb_json_bool(j, "skipped", r->skipped);
	if (!r->skipped) {
		mb_json_u64(j, "ops", r->ops);
		mb_json_dbl(j, "ops_per_s", r->ops_s, 0);
		mb_json_u64(j, "p50_ns", r->p50);
		mb_json_u64(j, "p99_ns", r->p99);
		mb_json_u64(j, "p999_ns", r->p999);
		mb_json_u64(j, "latency_sample_every", r->sample_every); /* 0 = not measured */
		if (ours > 0 && r->ops_s > 0)
			mb_json_dbl(j, "mballoc_ratio", ours / r->ops_s, 3);
		if (r->cpu_ops_s > 0)
			mb_json_dbl(j, "cpu_ops_per_s", r->cpu_ops_s, 0);
	}
	if (r->aging && !r->skipped) {
		mb_json_dbl(j, "extents_per_alloc", r->ext_per_alloc, 3);
		mb_json_dbl(j, "split_pct", r->split_pct, 3);
		mb_json_dbl(j, "frag_score", r->frag.score, 4);
		mb_json_u64(j, "free_extents", r->frag.extents);
		mb_json_u64(j, "free_blocks", r->frag.free_blocks);
		mb_json_arr(j, "free_hist_log2");
		for (int k = 0; k < MB_BENCH_HIST; k++)
			mb_json_u64(j, NULL, r->frag.hist[k]);
		mb_json_end(j);
	}
	mb_json_str(j, "note", r->note);
	mb_json_end(j);
}

static void mb_table_header(const char *workload)
{
	printf("\n== %s ==\n", workload);
	printf("%-34s %-9s %12s %9s %9s %9s %8s %7s %6s %6s  %s\n", "params", "alloc", "ops/s",
	       "p50 ns", "p99 ns", "p99.9 ns", "ours/x", "ext/al", "split%", "frag", "note");
}

/* "1.2M" style for ops/s. */
static void mb_fmt_rate(char *b, size_t n, double v)
{
	if (v >= 1e6)
		snprintf(b, n, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(b, n, "%.1fk", v / 1e3);
	else
		snprintf(b, n, "%.0f", v);
}

static void mb_table_res(const struct mb_bench_row *row, int i)
{
	const struct mb_bench_res *r = &row->res[i];
	char rate[32], ratio[32] = "", ea[16] = "", sp[16] = "", fr[16] = "";

	if (r->skipped) {
		printf("%-34s %-9s %12s %9s %9s %9s %8s %7s %6s %6s  %s\n", i ? "" : row->params,
		       r->alloc, "-", "-", "-", "-", "-", "", "", "", r->note);
		return;
	}
	mb_fmt_rate(rate, sizeof(rate), r->ops_s);
	if (i && !row->res[0].skipped && r->ops_s > 0)
		snprintf(ratio, sizeof(ratio), "%.2fx", row->res[0].ops_s / r->ops_s);
	if (r->aging) {
		snprintf(ea, sizeof(ea), "%.2f", r->ext_per_alloc);
		snprintf(sp, sizeof(sp), "%.1f", r->split_pct);
		snprintf(fr, sizeof(fr), "%.3f", r->frag.score);
	}
	char p50[24] = "-", p99[24] = "-", p999[24] = "-";

	if (r->sample_every) { /* 0: the peer measured no latency (kernel) */
		snprintf(p50, sizeof(p50), "%llu", (unsigned long long)r->p50);
		snprintf(p99, sizeof(p99), "%llu", (unsigned long long)r->p99);
		snprintf(p999, sizeof(p999), "%llu", (unsigned long long)r->p999);
	}
	printf("%-34s %-9s %12s %9s %9s %9s %8s %7s %6s %6s  %s\n", i ? "" : row->params, r->alloc,
	       rate, p50, p99, p999, ratio, ea, sp, fr, r->note);
}

static void mb_side_header(const char *workload)
{
	printf("\n== %s ==\n", workload);
	printf("%-34s %-13s %10s %11s %9s %7s %6s %6s  %s\n", "params", "alloc", "ops/s",
	       "ops/CPU-s", "best mb/x", "ext/al", "split%", "frag", "note");
}

/* A side-by-side row: rates per wall and CPU second, and for each peer the
 * best mballoc variant / this peer per CPU-second. */
static void mb_side_res(const struct mb_bench_row *row, int i, double best_ours)
{
	const struct mb_bench_res *r = &row->res[i];
	char rate[32], crate[32] = "-", ratio[32] = "", ea[16] = "", sp[16] = "", fr[16] = "";

	if (r->skipped) {
		printf("%-34s %-13s %10s %11s %9s %7s %6s %6s  %s\n", i ? "" : row->params,
		       r->alloc, "-", "-", "", "", "", "", r->note);
		return;
	}
	mb_fmt_rate(rate, sizeof(rate), r->ops_s);
	if (r->cpu_ops_s > 0)
		mb_fmt_rate(crate, sizeof(crate), r->cpu_ops_s);
	double v = r->cpu_ops_s > 0 ? r->cpu_ops_s : r->ops_s;

	if (i >= row->nours && best_ours > 0 && v > 0)
		snprintf(ratio, sizeof(ratio), "%.3fx", best_ours / v);
	if (r->aging) {
		snprintf(ea, sizeof(ea), "%.2f", r->ext_per_alloc);
		snprintf(sp, sizeof(sp), "%.1f", r->split_pct);
		snprintf(fr, sizeof(fr), "%.4f", r->frag.score);
	}
	printf("%-34s %-13s %10s %11s %9s %7s %6s %6s  %s\n", i ? "" : row->params, r->alloc, rate,
	       crate, ratio, ea, sp, fr, r->note);
}

static void mb_side_table(const struct mb_bench_row *r)
{
	int bo, bp;
	double ours = mb_row_best(r, 0, r->nours, &bo);
	double peer = mb_row_best(r, r->nours, r->nres, &bp);

	for (int i = 0; i < r->nres; i++)
		mb_side_res(r, i, ours);
	if (bo >= 0 && bp >= 0)
		printf("%-34s best: %s / %s = %.3fx per CPU-second\n", "", r->res[bo].alloc,
		       r->res[bp].alloc, ours / peer);
	const struct mb_bench_res *b = mb_row_bound(r);

	if (bo >= 0 && b)
		printf("%-34s bound: %s / %s = %.3fx per CPU-second\n", "", r->res[bo].alloc,
		       b->alloc, ours / b->cpu_ops_s);
}

static void mb_side_json(struct mb_json *j, const struct mb_bench_row *r)
{
	int bo, bp;
	double ours = mb_row_best(r, 0, r->nours, &bo);
	double peer = mb_row_best(r, r->nours, r->nres, &bp);

	const struct mb_bench_res *b = mb_row_bound(r);

	if (bo >= 0 && b)
		mb_json_dbl(j, "bound_ratio_cpu", ours / b->cpu_ops_s, 4);
	if (bo < 0 || bp < 0)
		return;
	mb_json_str(j, "best_mballoc", r->res[bo].alloc);
	mb_json_str(j, "best_peer", r->res[bp].alloc);
	mb_json_dbl(j, "best_ratio_cpu", ours / peer, 4);
}

/* Free-extent histogram of an aging row: "2^k:count" for non-empty buckets. */
static void mb_table_hist(const struct mb_bench_res *r)
{
	printf("%-34s %-9s free extents (log2 blocks:count):", "", "");
	for (int k = 0; k < MB_BENCH_HIST; k++)
		if (r->frag.hist[k])
			printf(" %d:%llu", k, (unsigned long long)r->frag.hist[k]);
	printf("\n");
}

void mb_bench_out_row(struct mb_bench_out *o, const struct mb_bench_row *r)
{
	if (o->json) {
		mb_json_obj(o->j, NULL);
		mb_json_str(o->j, "workload", r->workload);
		mb_json_str(o->j, "params", r->params);
		mb_json_str(o->j, "note", r->note);
		if (r->nours)
			mb_side_json(o->j, r);
		mb_json_arr(o->j, "results");
		for (int i = 0; i < r->nres; i++)
			mb_json_res(o->j, &r->res[i], i && !r->nours ? r->res[0].ops_s : 0);
		mb_json_end(o->j);
		mb_json_end(o->j);
	} else if (r->nours) {
		mb_bench_progress_clear(o);
		if (!o->last_workload || strcmp(o->last_workload, r->workload))
			mb_side_header(r->workload);
		mb_side_table(r);
		if (r->note[0])
			printf("%-34s note: %s\n", "", r->note);
		fflush(stdout);
	} else {
		mb_bench_progress_clear(o);
		if (!o->last_workload || strcmp(o->last_workload, r->workload))
			mb_table_header(r->workload);
		for (int i = 0; i < r->nres; i++) {
			mb_table_res(r, i);
			if (r->res[i].aging && !r->res[i].skipped)
				mb_table_hist(&r->res[i]);
		}
		if (r->note[0])
			printf("%-34s note: %s\n", "", r->note);
		fflush(stdout);
	}
	o->last_workload = r->workload;
	o->rows++;
	mb_bench_progress(o, r->workload);
}

void mb_bench_out_kv(struct mb_bench_out *o, const char *workload, const char *text,
		     const char *json_fields)
{
	if (o->json) {
		mb_json_obj(o->j, NULL);
		mb_json_str(o->j, "workload", workload);
		mb_json_raw_members(o->j, json_fields);
		mb_json_end(o->j);
	} else {
		mb_bench_progress_clear(o);
		if (!o->last_workload || strcmp(o->last_workload, workload))
			printf("\n== %s ==\n", workload);
		printf("%s\n", text);
		fflush(stdout);
	}
	o->last_workload = workload;
	o->rows++;
	mb_bench_progress(o, workload);
}

void mb_bench_out_finish(struct mb_bench_out *o, const char *machine_json)
{
	mb_bench_progress_clear(o);
	if (!o->json)
		return;
	mb_json_end(o->j); /* rows */
	mb_json_raw(o->j, "machine", machine_json);
	mb_json_finish(o->j);
	fclose(o->jf);
	fputs(o->jbuf ? o->jbuf : "", stdout);
	free(o->jbuf);
	free(o->j);
}
