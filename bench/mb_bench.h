/* SPDX-License-Identifier: MIT */
/*
 * mb_bench.h - what `mballoc bench` shares between its workloads (in
 * tools/mballoc/bench_*.c) and the peers it measures in the same run
 * (bench/peer_*.c): one small allocator interface, the request it takes,
 * and the helpers every workload uses (timing, latency samples, a shadow
 * bitmap, free-extent statistics, result rows).
 *
 * Thread-safety: an allocator instance is safe from many threads only when
 * its `threaded` flag says so; everything else here is per-thread or is
 * used by the one thread that drives a workload.
 */
#ifndef MB_BENCH_H
#define MB_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Geometry every allocator of one row is given (4 KiB blocks by default). */
struct mb_bench_geo {
	uint64_t blocks;     /* volume size in blocks */
	uint32_t block_size; /* bytes */
	uint32_t blocks_per_group;
};

/* One allocation request, as the workloads express it. */
struct mb_bench_req {
	void *stream;	  /* the allocator's per-file handle, or NULL */
	uint64_t logical; /* logical block in the file (streams only) */
	uint64_t goal;	  /* physical goal, or MB_BENCH_NO_GOAL */
	uint32_t len;	  /* blocks wanted; the answer may be shorter */
};
#define MB_BENCH_NO_GOAL UINT64_MAX

struct mb_bench_exts;

/*
 * An allocator under test.  alloc returns 0 and one extent (1..len blocks,
 * the full length whenever the allocator finds a free run that long),
 * -ENOSPC when nothing is free, another -errno on failure.
 */
struct mb_bench_alloc {
	const char *name;
	bool threaded; /* alloc/free may be called from many threads at once */
	uint64_t blocks; /* the volume's size (set by mb_side_create) */
	void *ctx;
	int (*alloc)(void *ctx, const struct mb_bench_req *r, uint64_t *start, uint32_t *len);
	int (*free)(void *ctx, uint64_t start, uint32_t len);
	/* Per-file state (mballoc: a struct mb_file); NULL ops = none. */
	void *(*stream_open)(void *ctx, uint64_t id);
	void (*stream_close)(void *ctx, void *stream);
	/* Returns reserved-but-unused space (preallocations) to the free pool. */
	void (*quiesce)(void *ctx);
	/* Marks the blocks the allocator never hands out (metadata) in map. */
	void (*metadata)(void *ctx, uint64_t *map);
	void (*destroy)(void *ctx);
	/*
	 * Optional, for the side-by-side workloads (bench_side.c):
	 * mark_used takes [start, start + len) out of the free space without a
	 * search (a pre-fill every allocator gets alike); free_count is the
	 * allocator's own count of free blocks; alloc_multi serves a request
	 * in one call with as many extents as the allocator chooses (Ceph's
	 * allocate() gathers pieces), appending them to out and adding the
	 * blocks to *got (short only when space ran out: then -ENOSPC).
	 */
	int (*mark_used)(void *ctx, uint64_t start, uint64_t len);
	uint64_t (*free_count)(void *ctx);
	int (*alloc_multi)(void *ctx, const struct mb_bench_req *r, struct mb_bench_exts *out,
			   uint64_t *got);
	char note[160]; /* printed with every row of this allocator */
};

/*
 * Constructors: 0 and *a filled, or -errno with a reason in a->note
 * ("skipped: ..." when the peer cannot run here).
 */
int mb_bench_ours_create(const struct mb_bench_geo *g, struct mb_bench_alloc *a);
int mb_bench_naive_create(const struct mb_bench_geo *g, struct mb_bench_alloc *a);
int mb_bench_ext2fs_create(const struct mb_bench_geo *g, struct mb_bench_alloc *a);
/*
 * Optional peers built from the user's checkouts (bench/peer_ceph.cc with
 * -DMB_CEPH_SRC, bench/peer_spdk.c with -DMB_SPDK_SRC).  kind: "stupid",
 * "avl" or "bitmap".  Thread-safety: the Ceph allocators lock inside;
 * spdk's bit pool is wrapped in a mutex by the peer.
 */
int mb_bench_ceph_create(const char *kind, const struct mb_bench_geo *g, struct mb_bench_alloc *a);
int mb_bench_spdk_create(const struct mb_bench_geo *g, struct mb_bench_alloc *a);
/* mkfs.ext4 images are cached per geometry; remove them at exit. */
void mb_bench_ext2fs_cleanup(void);
bool mb_bench_ext2fs_available(void);

/* ------------------------------------------------------------------------ */
/* Helpers (tools/mballoc/bench_util.c)                                     */
/* ------------------------------------------------------------------------ */

uint64_t mb_bench_now_ns(void);
/* CPU time of the whole process, all threads (CLOCK_PROCESS_CPUTIME_ID). */
uint64_t mb_bench_cpu_ns(void);
uint64_t mb_bench_rng(uint64_t *s); /* xorshift64*, seeded != 0 */

/* Latency samples in ns; every `every`-th call is timed. */
struct mb_bench_lat {
	uint32_t *v;
	size_t n, cap;
	uint32_t every;
};
void mb_bench_lat_init(struct mb_bench_lat *l, uint32_t every);
void mb_bench_lat_add(struct mb_bench_lat *l, uint64_t ns);
/* Sorts the samples and returns the q-quantile (0 when empty). */
uint64_t mb_bench_lat_q(struct mb_bench_lat *l, double q);
void mb_bench_lat_free(struct mb_bench_lat *l);

/* A growable list of extents (an object's pieces), merging contiguous ones. */
struct mb_bench_exts {
	uint64_t *s; /* starts */
	uint32_t *n; /* lengths */
	uint32_t cnt, cap;
};
int mb_bench_exts_push(struct mb_bench_exts *o, uint64_t start, uint32_t len);

/* A shadow bitmap of used blocks: catches double allocation, and is where
 * free-extent statistics come from. */
struct mb_bench_shadow {
	uint64_t *map;
	uint64_t blocks;
	uint64_t used;
	uint64_t conflicts; /* blocks handed out twice (must stay 0) */
};
int mb_bench_shadow_init(struct mb_bench_shadow *s, uint64_t blocks);
void mb_bench_shadow_set(struct mb_bench_shadow *s, uint64_t start, uint32_t len);
void mb_bench_shadow_clear(struct mb_bench_shadow *s, uint64_t start, uint32_t len);
/* True when some free run of at least len blocks exists. */
bool mb_bench_shadow_has_run(const struct mb_bench_shadow *s, uint32_t len);
void mb_bench_shadow_free(struct mb_bench_shadow *s);

#define MB_BENCH_HIST 24 /* free extents by log2 of length: 1, 2-3, 4-7, ... */
struct mb_bench_frag {
	uint64_t extents, free_blocks, min, max;
	uint64_t hist[MB_BENCH_HIST];
	uint64_t hist_blocks[MB_BENCH_HIST];
	double score; /* Ceph-style: 0 = one free extent, 1 = all one block */
};
/* Walks the free runs of the shadow bitmap. */
void mb_bench_frag_from_shadow(const struct mb_bench_shadow *s, uint32_t block_size,
			       struct mb_bench_frag *f);
/* Adds one free extent of len blocks (for callers with their own walk). */
void mb_bench_frag_add(struct mb_bench_frag *f, uint64_t len);
/* Computes f->score from the extents added so far. */
void mb_bench_frag_finish(struct mb_bench_frag *f, uint32_t block_size);

/* One allocator's figures in one row. */
struct mb_bench_res {
	const char *alloc;
	bool skipped;
	double ops_s;
	double cpu_ops_s; /* ops per CPU-second of the process; 0 = not measured */
	uint64_t ops;
	uint64_t p50, p99, p999; /* ns */
	uint32_t sample_every;
	bool aging; /* the four fields below are meaningful */
	double ext_per_alloc, split_pct;
	struct mb_bench_frag frag;
	char note[200];
};

#define MB_BENCH_MAX_PEERS 8
struct mb_bench_row {
	const char *workload;
	char params[96];
	int nres;
	/* res[0 .. nours-1] are mballoc's variants (0 = just res[0]); ratios
	 * then compare the best of them with each peer, per CPU-second */
	int nours;
	struct mb_bench_res res[MB_BENCH_MAX_PEERS]; /* res[0] is ours */
	char note[200];
};

/* Output sink: a table on stdout as rows arrive, or one JSON object. */
struct mb_json;
struct mb_bench_out {
	bool json;
	bool quick;
	bool progress;     /* a line on stderr after each row: it is a terminal */
	uint64_t start_ns; /* for the progress line */
	FILE *jf; /* JSON rows, in memory until the end */
	char *jbuf;
	size_t jlen;
	struct mb_json *j; /* the writer on jf */
	int rows;
	const char *last_workload;
};
int mb_bench_out_init(struct mb_bench_out *o, bool json, bool quick);
void mb_bench_out_row(struct mb_bench_out *o, const struct mb_bench_row *r);
/* A free-form result (huge volumes): key/value pairs already JSON-encoded. */
void mb_bench_out_kv(struct mb_bench_out *o, const char *workload, const char *text,
		     const char *json_fields);
void mb_bench_out_finish(struct mb_bench_out *o, const char *machine_json);

/* Fills r from lat and the op count/time. */
void mb_bench_res_fill(struct mb_bench_res *r, struct mb_bench_lat *lat, uint64_t ops, uint64_t ns);

/* Creates allocator i of a row: 0 ours, 1 naive, 2 libext2fs. */
#define MB_BENCH_NALLOC 3
int mb_bench_alloc_create(int i, const struct mb_bench_geo *g, struct mb_bench_alloc *a);
void mb_bench_alloc_destroy(struct mb_bench_alloc *a);

#endif
