/* SPDX-License-Identifier: MIT */
/*
 * stress_run.c - one iteration of `mballoc stress`: a fresh volume (or the
 * reopened --image), one file per thread, the threads released together
 * through a start gate, then the verification and the iteration's figures.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stress_int.h"

static double mb_stress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: spreads (seed, iteration, thread) over distinct streams. */
static uint64_t mb_stress_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return (x ^ (x >> 31)) | 1;
}

/*
 * Per-thread targets: seed mode splits fill * capacity blocks of demand,
 * churn mode as many blocks of quota; the remainder goes one block each to
 * the first threads so that --fill 1 asks for exactly the capacity.  The
 * --commit-log thread's quota, a sixteenth of the capacity, comes off the
 * top, so that demand still never exceeds the capacity.
 */
static void mb_stress_targets(struct mb_stress_shared *sh)
{
	uint64_t log_quota = sh->o->commit_log ? sh->capacity / 16 : 0;
	uint64_t room = sh->capacity - log_quota;
	double want = sh->o->fill * (double)sh->capacity;
	uint64_t total = want >= (double)room ? room : (uint64_t)want;
	uint64_t each = total / sh->nworkers, rest = total % sh->nworkers;

	for (uint32_t i = 0; i < sh->nworkers; i++)
		sh->th[i].target = each + (i < rest);
	if (log_quota)
		sh->th[sh->nworkers].target = log_quota;
}

static int mb_stress_open_files(struct mb_stress_shared *sh, uint64_t iter)
{
	for (uint32_t i = 0; i < sh->nthreads; i++) {
		struct mb_stress_thread *t = &sh->th[i];

		t->sh = sh;
		t->idx = i;
		t->rng = mb_stress_mix(sh->o->seed ^ mb_stress_mix(iter * 1000003 + i));
		/* inode numbers as ext4 hands them out: 12 is the first file */
		int err = mb_file_open(sh->vol, 12 + i, &t->file);

		if (err) {
			mb_cli_err("stress", "cannot open file %u: %s", i, strerror(-err));
			return err;
		}
	}
	mb_stress_targets(sh);
	return 0;
}

/* Statistics on (retries and discards are read from them), the policy,
 * then the user's --tunable settings. */
static int mb_stress_tunables(struct mb_volume *vol, const struct mb_stress_opts *o)
{
	int err = mb_tunable_set(vol, "mb_stats", 1);

	if (!err)
		err = mb_tunable_set(vol, "mb_enospc_policy", (uint64_t)o->policy);
	if (err) {
		mb_cli_err("stress", "cannot set statistics and policy: %s", strerror(-err));
		return err;
	}
	for (unsigned i = 0; i < o->ntunables; i++) {
		err = mb_tunable_set(vol, o->tunable_name[i], o->tunable_value[i]);
		if (err) {
			mb_cli_tunable_err("stress", vol, o->tunable_name[i], o->tunable_value[i],
					   err);
			return -EINVAL; /* bad usage */
		}
	}
	return 0;
}

static int mb_stress_setup(struct mb_stress_shared *sh, const struct mb_stress_opts *o,
			   uint64_t iter)
{
	struct mb_geometry geo;

	memset(sh, 0, sizeof(*sh));
	sh->o = o;
	sh->iter = iter;
	sh->nworkers = (uint32_t)o->threads;
	sh->nthreads = sh->nworkers + (o->commit_log || o->mode == MB_STRESS_DELALLOC ? 1 : 0);
	sh->log_fd = -1;
	sh->persistent = o->image != NULL;
	pthread_mutex_init(&sh->gate_lock, NULL);
	pthread_cond_init(&sh->gate_cond, NULL);
	if (sh->persistent ? mb_stress_image_open(o, &sh->vol) != 0
			   : mb_cli_make_volume("stress", &o->vol, &sh->vol) != 0)
		return sh->persistent ? -EIO : -EINVAL;
	int err = mb_stress_tunables(sh->vol, o);

	if (err)
		return err;
	mb_volume_geometry(sh->vol, &geo);
	sh->nblocks = geo.blocks_count;
	sh->capacity = mb_free_blocks(sh->vol);
	sh->free0 = sh->capacity;
	if (o->mode == MB_STRESS_DELALLOC) { /* what mb_reserve can get */
		struct mb_statfs st;

		mb_statfs(sh->vol, &st);
		sh->capacity = st.avail;
	}
	atomic_init(&sh->first_enospc_held, UINT64_MAX);
	sh->shadow = calloc((sh->nblocks + 63) / 64, sizeof(*sh->shadow));
	sh->th = calloc(sh->nthreads, sizeof(*sh->th));
	if (!sh->shadow || !sh->th) {
		mb_cli_err("stress", "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	err = mb_stress_log_open(sh);
	return err ? err : mb_stress_open_files(sh, iter);
}

/*
 * Closes what setup opened; safe on a half-built state.  A persistent
 * volume is closed (a last commit); false if that fails.
 */
static bool mb_stress_teardown(struct mb_stress_shared *sh)
{
	int err = 0;

	for (uint32_t i = 0; sh->th && i < sh->nthreads; i++) {
		if (sh->th[i].file)
			mb_file_close(sh->th[i].file);
		free(sh->th[i].ex);
	}
	pthread_mutex_destroy(&sh->gate_lock);
	pthread_cond_destroy(&sh->gate_cond);
	free(sh->th);
	free((void *)sh->shadow);
	mb_stress_log_close(sh);
	if (sh->vol && sh->persistent)
		err = mb_volume_close(sh->vol);
	else if (sh->vol)
		mb_volume_destroy(sh->vol);
	if (err)
		mb_cli_err("stress", "iteration %llu: %s: close: %s", (unsigned long long)sh->iter,
			   sh->o->image, strerror(-err));
	return !err;
}

/* Lets the first `n` created threads go once all of them are parked. */
static void mb_stress_open_gate(struct mb_stress_shared *sh, uint32_t n)
{
	pthread_mutex_lock(&sh->gate_lock);
	while (sh->gate_waiting < n)
		pthread_cond_wait(&sh->gate_cond, &sh->gate_lock);
	sh->gate_open = true;
	pthread_cond_broadcast(&sh->gate_cond);
	pthread_mutex_unlock(&sh->gate_lock);
}

static void mb_stress_progress(const struct mb_stress_opts *o, uint64_t iter, double secs)
{
	if (!o->progress)
		return;
	if (o->mode == MB_STRESS_CHURN)
		fprintf(stderr, "\rmballoc stress: iteration %llu/%llu: %.0f/%.0f s ",
			(unsigned long long)iter, (unsigned long long)o->iterations, secs,
			o->duration);
	else
		fprintf(stderr, "\rmballoc stress: iteration %llu/%llu ", (unsigned long long)iter,
			(unsigned long long)o->iterations);
}

/* Churn mode: the main thread keeps time and calls the threads off. */
static void mb_stress_keep_time(struct mb_stress_shared *sh, double t0)
{
	double now;

	while ((now = mb_stress_now() - t0) < sh->o->duration) {
		double left = sh->o->duration - now;
		double nap = left < 0.1 ? left : 0.1;
		struct timespec ts = {0, (long)(nap * 1e9)};

		mb_stress_progress(sh->o, sh->iter, now);
		nanosleep(&ts, NULL);
	}
	atomic_store_explicit(&sh->stop, true, memory_order_relaxed);
}

/*
 * Creates, releases and joins the threads; returns the seconds they ran.
 * The workers are joined first: in seed and fill mode their end is what
 * stops the logger and the committer.
 */
static int mb_stress_race(struct mb_stress_shared *sh, double *secs)
{
	uint32_t n = 0;
	int err = 0;

	mb_stress_progress(sh->o, sh->iter, 0);
	for (; n < sh->nthreads; n++) {
		err = pthread_create(&sh->th[n].tid, NULL,
				     n < sh->nworkers		      ? mb_stress_thread_main
				     : sh->o->mode == MB_STRESS_DELALLOC ? mb_stress_flusher_main
									 : mb_stress_logger_main,
				     &sh->th[n]);
		if (err) {
			mb_cli_err("stress", "cannot create thread %u: %s", n, strerror(err));
			atomic_store(&sh->stop, true); /* the ones created finish at once */
			break;
		}
	}
	mb_stress_open_gate(sh, n);
	double t0 = mb_stress_now();

	if (!err && (err = -mb_stress_committer_start(sh)))
		atomic_store(&sh->stop, true);
	if (!err && sh->o->mode == MB_STRESS_CHURN)
		mb_stress_keep_time(sh, t0);
	for (uint32_t i = 0; i < n && i < sh->nworkers; i++)
		pthread_join(sh->th[i].tid, NULL);
	atomic_store(&sh->stop, true);
	for (uint32_t i = sh->nworkers; i < n; i++)
		pthread_join(sh->th[i].tid, NULL);
	mb_stress_committer_stop(sh);
	*secs = mb_stress_now() - t0;
	return err ? -err : 0;
}

/* Sums the threads' counters into the iteration's result. */
static void mb_stress_collect(struct mb_stress_shared *sh, struct mb_stress_result *r)
{
	uint64_t target = 0, held = 0, all_held = 0;

	for (uint32_t i = 0; i < sh->nthreads; i++) {
		struct mb_stress_thread *t = &sh->th[i];

		r->ops += t->ops;
		r->frees += t->frees;
		r->discards += t->discards;
		r->enospc += t->enospc;
		r->spurious += t->spurious;
		r->errors += t->errors;
		if (t->max_free > r->max_free_at_enospc)
			r->max_free_at_enospc = t->max_free;
		if (t->first_err)
			mb_cli_err("stress", "iteration %llu: thread %u: unexpected error: %s",
				   (unsigned long long)sh->iter, i, strerror(-t->first_err));
		r->ops += t->reserves;
		r->enospc += t->resv_fail;
		r->spurious += t->resv_fail;
		all_held += t->held;
		if (i < sh->nworkers) { /* the logger stops with the workers, short of its quota */
			target += t->target;
			held += t->held;
		}
	}
	uint64_t first = atomic_load(&sh->first_enospc_held);

	r->first_enospc_fill =
	    first == UINT64_MAX || !sh->capacity ? 1.0 : (double)first / (double)sh->capacity;
	if (sh->o->mode == MB_STRESS_SEED || sh->o->mode == MB_STRESS_DELALLOC)
		r->fill_reached = target ? (double)held / (double)target : 1.0;
	else if (sh->o->mode == MB_STRESS_FILL)
		r->fill_reached = sh->capacity ? (double)all_held / (double)sh->capacity : 1.0;
	else
		r->fill_reached =
		    sh->capacity ? (double)atomic_load(&sh->peak_held) / (double)sh->capacity : 1.0;
}

/*
 * Runs iteration `iter` (1-based).  Returns 0 when the iteration ran (its
 * verdict is in *r), or a negative errno when it could not be set up.
 */
int mb_stress_iteration(const struct mb_stress_opts *o, uint64_t iter, struct mb_stress_result *r)
{
	struct mb_stress_shared sh;
	struct mb_stats st;
	int err = mb_stress_setup(&sh, o, iter);

	memset(r, 0, sizeof(*r));
	if (!err)
		err = mb_stress_race(&sh, &r->seconds);
	if (!err) {
		r->capacity = sh.capacity;
		r->groups = mb_groups_count(sh.vol);
		mb_stress_collect(&sh, r);
		r->check_ok = mb_stress_verify(&sh, r);
		mb_stats_get(sh.vol, &st);
		r->retries = st.retries;
		r->discarded = st.discarded;
	}
	r->logged = sh.logged;
	if (!mb_stress_teardown(&sh))
		r->check_ok = false;
	r->commits = atomic_load(&sh.commits);
	r->commit_errors = atomic_load(&sh.commit_errors);
	if (r->commit_errors)
		mb_cli_err("stress", "iteration %llu: %llu commit(s) failed, the first: %s",
			   (unsigned long long)iter, (unsigned long long)r->commit_errors,
			   strerror(-atomic_load(&sh.first_commit_err)));
	return err;
}
