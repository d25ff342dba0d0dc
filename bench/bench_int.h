/* SPDX-License-Identifier: MIT */
/*
 * bench_int.h - declarations shared by the `mballoc bench` source files:
 * the run's configuration and the "lane" (one allocator with its shadow
 * bitmap) that single-threaded workloads drive.
 */
#ifndef MB_BENCH_INT_H
#define MB_BENCH_INT_H

#include "mb_bench.h"

struct mb_bench_cfg {
	bool quick;
	uint64_t seed;
	uint32_t block_size;
	double secs;	 /* measuring budget per allocator and row */
	uint32_t sample; /* latency: time 1 call in N (0 = workload default) */
	bool kernel;	 /* also run bench/kernel_ext4.sh where it applies */
	const char *kernel_script;
	struct mb_bench_out *out;
};

/* One allocator under a single-threaded workload, with its shadow. */
struct mb_lane {
	struct mb_bench_alloc a;
	struct mb_bench_shadow sh;
	uint64_t meta;	 /* blocks the allocator never hands out */
	uint64_t usable; /* blocks - meta */
	bool ok;
};

int mb_lane_open(struct mb_lane *l, int which, const struct mb_bench_geo *g);
void mb_lane_close(struct mb_lane *l);
/* Data blocks in use (shadow minus metadata). */
static inline uint64_t mb_lane_used(const struct mb_lane *l)
{
	return l->sh.used - l->meta;
}
int mb_lane_alloc(struct mb_lane *l, const struct mb_bench_req *r, uint64_t *s, uint32_t *n);
int mb_lane_free(struct mb_lane *l, uint64_t s, uint32_t n);
/* Marks a skipped or failed result. */
void mb_res_skip(struct mb_bench_res *r, const char *alloc, const char *why);
/* Checks the shadow after a run: a note if anything was handed out twice. */
void mb_lane_check(struct mb_lane *l, struct mb_bench_res *r);
uint32_t mb_cfg_sample(const struct mb_bench_cfg *c, uint32_t dflt);

int mb_bench_fill(const struct mb_bench_cfg *c);
int mb_bench_churn(const struct mb_bench_cfg *c);
int mb_bench_pa(const struct mb_bench_cfg *c);
int mb_bench_files(const struct mb_bench_cfg *c);
int mb_bench_threads(const struct mb_bench_cfg *c);
int mb_bench_huge(const struct mb_bench_cfg *c);
/* Runs bench/kernel_ext4.sh; fills r (skipped with its message if it can't). */
void mb_bench_kernel(const struct mb_bench_cfg *c, const char *args, struct mb_bench_res *r);
/* The path of kernel_ext4.sh for this binary, in buf (n bytes) or a constant. */
const char *mb_bench_kernel_script(char *buf, size_t n);

#endif
