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
	uint32_t peers; /* side-by-side peers: bits of enum mb_peer_id */
	uint64_t size;	/* side-by-side volume size in bytes (0 = default) */
	bool *failed;	/* set when a correctness check fails (exit status 1) */
	const char *cells; /* matrix cells to run (--cells; NULL = all) */
};

/* ------------------------------------------------------------------------ */
/* Side-by-side workloads (bench_side.c, bench_matrix.c, bench_ceph.c)      */
/* ------------------------------------------------------------------------ */

/* The peers mballoc is measured against; ours come first in every row. */
enum mb_peer_id {
	MB_PEER_NAIVE,
	MB_PEER_STUPID,
	MB_PEER_AVL,
	MB_PEER_BITMAP,
	MB_PEER_SPDK,
	MB_PEER_COUNT
};

/* One allocator of a side-by-side row, and how the workload drives it. */
struct mb_side_kind {
	const char *name; /* "mballoc", "mballoc+file", "ceph-bitmap", ... */
	int peer;	  /* enum mb_peer_id, or -1 for mballoc */
	bool file;	  /* mballoc through one mb_file per thread */
};

/* Fills k with mballoc (and mballoc+file when with_file) then the chosen
 * peers that can serve len-block requests (len 0: any); returns the count
 * and sets *nours. */
int mb_side_kinds(const struct mb_bench_cfg *c, bool with_file, uint32_t len,
		  struct mb_side_kind *k, int *nours);
/* Parses --peer into *mask; 0, or -EINVAL with *bad = the unknown name. */
int mb_side_parse_peers(const char *list, uint32_t *mask, char *bad, size_t nbad);
/* The peers built into this binary (the default: Ceph's and spdk's when
 * built, else the naive bitmap). */
uint32_t mb_side_built_peers(void);
uint32_t mb_side_default_peers(void);
const char *mb_side_peer_name(int peer);
/* Creates a fresh allocator of kind k (a->note holds why not). */
int mb_side_create(const struct mb_side_kind *k, const struct mb_bench_geo *g,
		   struct mb_bench_alloc *a);

/*
 * Serves a request of len blocks in full: one alloc_multi call, or alloc
 * calls from the goal, each further one at the end of the previous piece.
 * Pieces land in out (contiguous ones joined).  Returns 0, -ENOSPC when
 * space ran out (*got < len; the pieces got stay in out), or -errno.
 */
int mb_side_get(struct mb_bench_alloc *a, void *stream, uint64_t logical, uint32_t len,
		uint64_t goal, struct mb_bench_exts *out, uint64_t *got);
void mb_side_exts_free(struct mb_bench_exts *o);

/* A pre-fill every allocator of a row gets alike: used runs, ascending. */
struct mb_layout {
	struct mb_bench_exts used;
	uint64_t used_blocks;
};
/* name: "empty", "seqP" or "agedP" (P percent). */
int mb_layout_make(const char *name, uint64_t blocks, uint64_t seed, struct mb_layout *lo);
int mb_layout_apply(const struct mb_layout *lo, struct mb_bench_alloc *a);
void mb_layout_free(struct mb_layout *lo);
/* Checks the allocator's own free count (after quiescing it) is `want`;
 * false (with a note, and the run marked failed) when not. */
bool mb_side_check_free(const struct mb_bench_cfg *c, struct mb_bench_alloc *a, uint64_t want,
			struct mb_bench_res *r);
/* Checks that no two of the n extents overlap (shadow bitmap of blocks). */
bool mb_side_check_overlap(const struct mb_bench_cfg *c, const struct mb_bench_exts *e, int n,
			   const struct mb_layout *lo, uint64_t blocks, struct mb_bench_res *r,
			   uint64_t *used);
double mb_side_median(double *v, int n);
/*
 * Rounds of interleaved runs on fresh allocators, for rows whose one run is
 * shorter than a loaded machine's noise (drain, aging): every allocator
 * once a round, in A B .. B A order so that a drift in the load falls on
 * all alike, until each has spent c->secs of CPU, or after 64 rounds (3
 * with c->quick, which the tests run).  run(ctx, i) runs allocator i once
 * and returns its CPU seconds so far, negative when it was skipped or
 * failed (no more runs).  Returns the rounds run.
 */
int mb_side_rounds(const struct mb_bench_cfg *c, int n, double (*run)(void *ctx, int i),
		   void *ctx);
/* Marks the run failed and writes "BUG: ..." into r->note. */
void mb_side_fail(const struct mb_bench_cfg *c, struct mb_bench_res *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The side-by-side volume size in blocks: --size, or dflt bytes (quick: q). */
uint64_t mb_side_blocks(const struct mb_bench_cfg *c, uint64_t dflt, uint64_t q);

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
int mb_bench_matrix(const struct mb_bench_cfg *c);
/* Whether every name of a --cells list is a matrix fill, len, goal or
 * thread count. */
bool mb_bench_matrix_cells_valid(const char *list);
int mb_bench_drain(const struct mb_bench_cfg *c);
int mb_bench_cephbench(const struct mb_bench_cfg *c);
int mb_bench_90_300(const struct mb_bench_cfg *c);
int mb_bench_aging(const struct mb_bench_cfg *c);
/* Runs bench/kernel_ext4.sh; fills r (skipped with its message if it can't). */
void mb_bench_kernel(const struct mb_bench_cfg *c, const char *args, struct mb_bench_res *r);
/* The path of kernel_ext4.sh for this binary, in buf (n bytes) or a constant. */
const char *mb_bench_kernel_script(char *buf, size_t n);

#endif
