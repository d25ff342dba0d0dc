/* SPDX-License-Identifier: MIT */
/*
 * bench_out.c - printing bench results: an aligned table on stdout as rows
 * finish (for people), or exactly one JSON object at the end (for
 * machines; rows are kept in memory until then).  Each peer's line carries
 * the ratio mballoc / peer of ops/s measured in the same row.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mb_bench.h"

int mb_bench_out_init(struct mb_bench_out *o, bool json, bool quick)
{
	memset(o, 0, sizeof(*o));
	o->json = json;
	o->quick = quick;
	if (json) {
		o->jf = open_memstream(&o->jbuf, &o->jlen);
		if (!o->jf)
			return -1;
	}
	return 0;
}

static void mb_json_res(FILE *f, const struct mb_bench_res *r, double ours)
{
	fprintf(f, "{\"alloc\":");
	mb_cli_json_str(f, r->alloc);
	fprintf(f, ",\"skipped\":%s", r->skipped ? "true" : "false");
	if (!r->skipped) {
		fprintf(f,
			",\"ops\":%llu,\"ops_per_s\":%.0f,\"p50_ns\":%llu,\"p99_ns\":%llu,"
			"\"p999_ns\":%llu,\"latency_sample_every\":%u" /* 0 = not measured */,
			(unsigned long long)r->ops, r->ops_s, (unsigned long long)r->p50,
			(unsigned long long)r->p99, (unsigned long long)r->p999, r->sample_every);
		if (ours > 0 && r->ops_s > 0)
			fprintf(f, ",\"mballoc_ratio\":%.3f", ours / r->ops_s);
	}
	if (r->aging && !r->skipped) {
		fprintf(f,
			",\"extents_per_alloc\":%.3f,\"split_pct\":%.3f,\"frag_score\":%.4f,"
			"\"free_extents\":%llu,\"free_blocks\":%llu,\"free_hist_log2\":[",
			r->ext_per_alloc, r->split_pct, r->frag.score,
			(unsigned long long)r->frag.extents,
			(unsigned long long)r->frag.free_blocks);
		for (int k = 0; k < MB_BENCH_HIST; k++)
			fprintf(f, "%s%llu", k ? "," : "", (unsigned long long)r->frag.hist[k]);
		fputc(']', f);
	}
	fprintf(f, ",\"note\":");
	mb_cli_json_str(f, r->note);
	fputc('}', f);
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
		fprintf(o->jf, "%s{\"workload\":", o->rows ? "," : "");
		mb_cli_json_str(o->jf, r->workload);
		fprintf(o->jf, ",\"params\":");
		mb_cli_json_str(o->jf, r->params);
		fprintf(o->jf, ",\"note\":");
		mb_cli_json_str(o->jf, r->note);
		fprintf(o->jf, ",\"results\":[");
		for (int i = 0; i < r->nres; i++) {
			if (i)
				fputc(',', o->jf);
			mb_json_res(o->jf, &r->res[i], i ? r->res[0].ops_s : 0);
		}
		fprintf(o->jf, "]}");
	} else {
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
}

void mb_bench_out_kv(struct mb_bench_out *o, const char *workload, const char *text,
		     const char *json_fields)
{
	if (o->json) {
		fprintf(o->jf, "%s{\"workload\":", o->rows ? "," : "");
		mb_cli_json_str(o->jf, workload);
		fprintf(o->jf, ",%s}", json_fields);
	} else {
		if (!o->last_workload || strcmp(o->last_workload, workload))
			printf("\n== %s ==\n", workload);
		printf("%s\n", text);
		fflush(stdout);
	}
	o->last_workload = workload;
	o->rows++;
}

void mb_bench_out_finish(struct mb_bench_out *o, const char *machine_json)
{
	if (!o->json)
		return;
	fclose(o->jf);
	printf("{\"tool\":\"mballoc bench\",\"quick\":%s,\"machine\":%s,\"rows\":[%s]}\n",
	       o->quick ? "true" : "false", machine_json, o->jbuf ? o->jbuf : "");
	free(o->jbuf);
}
