/* SPDX-License-Identifier: MIT */
/*
 * stress_int.h - `mballoc stress` internals: options, the state one
 * iteration shares between its threads, and what an iteration reports.
 *
 * Split: cmd_stress.c parses options and prints; stress_run.c runs one
 * iteration (volume, threads, start gate, timing); stress_worker.c holds the
 * per-mode thread bodies and the accounting around mb_alloc/mb_free;
 * stress_verify.c checks the volume once the threads are joined.
 */
#ifndef MB_STRESS_INT_H
#define MB_STRESS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

#define MB_STRESS_MAX_TUNABLES 16

enum mb_stress_mode { MB_STRESS_SEED, MB_STRESS_FILL, MB_STRESS_CHURN };

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
	uint64_t nblocks;	   /* blocks_count: the shadow bitmap's size */
	_Atomic uint64_t *shadow;  /* one bit per block, set while held */
	_Atomic uint64_t held;	   /* blocks held by all threads */
	_Atomic uint64_t inflight; /* requested lengths of calls inside mb_alloc */
	_Atomic uint64_t peak_held;
	_Atomic uint64_t first_enospc_held; /* held at the first ENOSPC; UINT64_MAX: none */
	_Atomic uint64_t double_allocs;
	_Atomic bool stop;     /* churn: time is up */
	_Atomic bool reported; /* the first spurious ENOSPC has been described */
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;
	uint32_t gate_waiting; /* protected by gate_lock */
	bool gate_open;	       /* protected by gate_lock */
	struct mb_stress_thread *th;
	uint32_t nthreads;
	uint64_t iter; /* 1-based, for messages */
};

int mb_stress_iteration(const struct mb_stress_opts *o, uint64_t iter, struct mb_stress_result *r);

/* stress_worker.c */
void *mb_stress_thread_main(void *arg);
void mb_stress_gate_wait(struct mb_stress_shared *sh);

/* stress_verify.c: runs after every thread is joined; false on failure. */
bool mb_stress_verify(struct mb_stress_shared *sh, struct mb_stress_result *r);

#endif
