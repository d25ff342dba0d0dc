/* SPDX-License-Identifier: MIT */
#include "bench_int.h"
int mb_bench_threads(const struct mb_bench_cfg *c) { (void)c; return 0; }
int mb_bench_files(const struct mb_bench_cfg *c) { (void)c; return 0; }
int mb_bench_huge(const struct mb_bench_cfg *c) { (void)c; return 0; }
