/* SPDX-License-Identifier: MIT */
/*
 * stress_int.h - `mballoc stress` internals: options, the state one
 * iteration shares between its threads, and what an iteration reports.
 *
 * Split: cmd_stress.c parses options and prints; stress_run.c runs one
 * iteration (volume, threads, start gate, timing); stress_worker.c holds the
 * per-mode thread bodies and the accounting around mb_alloc/mb_free;
 * stress_verify.c checks the volume once the threads are joined;
 * stress_image.c handles --image (format or open, reclaim, commits) and
 * stress_log.c the --commit-log thread.
 *
 * Thread-safety: the options are read-only once parsed; struct
 * mb_stress_shared says per field who may touch it.
 */
#ifndef MB_STRESS_INT_H
#define MB_STRESS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

#define MB_STRESS_MAX_TUNABLES 16

/* Which geometry options were given (--image refuses contradicting ones). */
#define MB_STRESS_GEO_SIZE 0x1
#define MB_STRESS_GEO_BS 0x2
#define MB_STRESS_GEO_BPG 0x4
#define MB_STRESS_GEO_RESERVED 0x8

enum mb_stress_mode { MB_STRESS_SEED, MB_STRESS_FILL, MB_STRESS_CHURN, MB_STRESS_DELALLOC };

struct mb_stress_opts {
	struct mb_vol_opts vol;
	uint64_t threads;
	double fill; /* seed: demand / capacity; churn: sum of quotas / capacity */
	uint64_t chunk;
	uint64_t iterations;
	double duration; /* churn: seconds per iteration */
	int mode;	 /* enum mb_stress_mode */
	int policy;	 /* MB_POLICY_* */
	uint64_t seed;
	bool json, progress, quiet;
	/* --tunable NAME=VALUE, applied to every fresh volume */
	const char *tunable_name[MB_STRESS_MAX_TUNABLES];
	uint64_t tunable_value[MB_STRESS_MAX_TUNABLES];
	unsigned ntunables;
	/* --image: a persistent volume; vol is then the image's geometry */
	const char *image;
	const char *commit_log; /* --commit-log FILE, with --image only */
	bool format;		/* --format: format the image even if it exists */
	bool reclaim;		/* --reclaim: free what a killed run left allocated */
	unsigned geo_given;	/* MB_STRESS_GEO_* */
	double commit_interval; /* seconds; 0 = only the explicit commits */
};

/* What one iteration measured; cmd_stress.c sums these. */
struct mb_stress_result {
	uint64_t capacity; /* free blocks of the fresh volume */
	uint32_t groups;
	uint64_t ops; /* mb_alloc calls */
	uint64_t frees, discards;
	uint64_t enospc, spurious;
	uint64_t max_free_at_enospc; /* largest estimate of truly free blocks */
	uint64_t double_allocs;
	uint64_t errors; /* unexpected errno from the library */
	uint64_t retries, discarded;
	double fill_reached;
	double first_enospc_fill; /* fraction of capacity held at the first ENOSPC */
	double seconds;
	bool check_ok;
	/* --image */
	uint64_t commits, commit_errors; /* mb_commit calls of ours (not the library's) */
	uint64_t logged;		 /* extents the logger wrote to --commit-log */
};

/* One thread's view: its file, what it holds and its counters. */
struct mb_stress_thread {
	struct mb_stress_shared *sh;
	pthread_t tid;
	uint32_t idx;
	struct mb_file *file;
	uint64_t rng;
	uint64_t target;      /* seed: blocks to write; churn: quota; fill: unused */
	struct mb_extent *ex; /* extents held, in allocation order */
	size_t nex, cap;
	uint64_t held;			  /* sum of ex[].len */
	uint64_t next_logical, last_pblk; /* where the file's next write goes */
	bool mapped;			  /* the file has a last_pblk */
	uint64_t ops, frees, discards, enospc, spurious, errors, max_free;
	int first_err;
	/* delalloc mode: the writer reserves (its own counters below) and
	   hands blocks to the flusher through dirty; the flusher owns ex,
	   held, next_logical and the counters above. */
	_Atomic uint64_t dirty;
	uint64_t reserves, resv_fail, written;
};

/*
 * State of one iteration.  The counters are seq_cst atomics so that the
 * ENOSPC judgment in stress_worker.c (read inflight, then held) sees every
 * allocation in one of the two: see mb_stress_free_estimate().
 */
struct mb_stress_shared {
	const struct mb_stress_opts *o;
	struct mb_volume *vol;
	uint64_t capacity;
	uint64_t free0;		   /* free blocks of the fresh volume (delalloc: capacity
				      is what is reservable, free0 less the floor) */
	uint64_t nblocks;	   /* blocks_count: the shadow bitmap's size */
	_Atomic uint64_t *shadow;  /* one bit per block, set while held */
	_Atomic uint64_t held;	   /* blocks held by all threads */
	_Atomic uint64_t inflight; /* requested lengths of calls inside mb_alloc */
	_Atomic uint64_t peak_held;
	_Atomic uint64_t first_enospc_held; /* held at the first ENOSPC; UINT64_MAX: none */
	_Atomic uint64_t double_allocs;
	_Atomic bool stop;     /* churn: time is up */
	_Atomic bool reported; /* the first spurious ENOSPC has been described */
	_Atomic uint64_t commits, commit_errors; /* --image: our mb_commit calls */
	_Atomic int first_commit_err;
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;
	uint32_t gate_waiting; /* protected by gate_lock */
	bool gate_open;	       /* protected by gate_lock */
	struct mb_stress_thread *th;
	uint32_t nthreads; /* the workers, then the logger (if any) last */
	uint32_t nworkers;
	uint64_t iter; /* 1-based, for messages */
	bool persistent;    /* --image */
	int log_fd;	    /* --commit-log, or -1; written by the logger only */
	uint64_t logged;    /* extents logged this iteration; the logger's until joined */
	pthread_t committer; /* --commit-interval with a fraction */
	bool committer_running;
};

int mb_stress_iteration(const struct mb_stress_opts *o, uint64_t iter, struct mb_stress_result *r);

/* stress_worker.c */
void *mb_stress_thread_main(void *arg);
void *mb_stress_logger_main(void *arg);
void *mb_stress_flusher_main(void *arg);
void mb_stress_gate_wait(struct mb_stress_shared *sh);
uint64_t mb_stress_rng(uint64_t *s);
/* One mb_alloc for thread t with all the accounting; returns its result
 * (an error other than ENOSPC is also recorded in t). */
int mb_stress_alloc(struct mb_stress_thread *t, uint32_t len);
/* Records an unexpected error of t. */
void mb_stress_error(struct mb_stress_thread *t, int err);

/* stress_verify.c: runs after every thread is joined; false on failure. */
bool mb_stress_verify(struct mb_stress_shared *sh, struct mb_stress_result *r);

/*
 * stress_image.c.  prepare: formats the image (absent, or --format) or
 * checks the geometry options against it, then sets o->vol to the image's
 * geometry and, with --reclaim, frees every block it has allocated.
 * Returns an MB_EXIT_* code, the error printed.
 */
int mb_stress_image_prepare(struct mb_stress_opts *o);
/* Opens the image for one iteration (background commits as asked). */
int mb_stress_image_open(const struct mb_stress_opts *o, struct mb_volume **vol);
/* mb_commit with its accounting in sh; returns its result. */
int mb_stress_commit(struct mb_stress_shared *sh);
/* A fractional --commit-interval: a thread calling mb_stress_commit.
 * stop returns once it has seen sh->stop (set it first). */
int mb_stress_committer_start(struct mb_stress_shared *sh);
void mb_stress_committer_stop(struct mb_stress_shared *sh);

/* stress_log.c: the --commit-log file and its thread. */
int mb_stress_log_open(struct mb_stress_shared *sh);
/* Empties the log durably: call before freeing the logged extents. */
int mb_stress_log_truncate(struct mb_stress_shared *sh);
int mb_stress_log_reset(const char *path);
void mb_stress_log_close(struct mb_stress_shared *sh);
void mb_stress_logger(struct mb_stress_thread *t);

/* cmd_volume.c: format's default reserved blocks per group (cli.h is not
 * ours to change; this is its only other user). */
uint64_t mb_format_default_reserved(uint64_t blocks, uint64_t bs, uint64_t bpg, uint64_t journal);

#endif
