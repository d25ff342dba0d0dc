/* SPDX-License-Identifier: MIT */
/*
 * replay_cpu.c - runs a replayed request on the CPU the kernel ran it on.
 * The library picks a locality group (and per-CPU counters) by the CPU
 * its caller runs on (sched_getcpu(), cached per thread), so each trace
 * CPU gets a worker thread pinned to the same CPU number, and mb_alloc()
 * is handed to it synchronously.  A CPU this machine cannot pin to (absent,
 * or outside our affinity mask) runs on the caller's thread instead, and
 * the call says so.
 *
 * Thread-safety: one caller at a time; each worker is idle except while
 * the caller waits for it (mutex + condition variable per worker).
 */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "replay.h"

#define MB_RCPU_MAX 256

struct mb_rworker {
	pthread_t thr;
	pthread_mutex_t mx;
	pthread_cond_t cv;
	int cpu;
	int state; /* protected by mx: 0 idle, 1 job posted, 2 job done, 3 exit */
	bool failed; /* could not pin (set before the first job; const after) */
	struct mb_volume *vol; /* the job: protected by mx hand-off */
	const struct mb_request *rq;
	struct mb_extent *ex;
	int rc;
};

struct mb_rcpu {
	struct mb_rworker *w[MB_RCPU_MAX]; /* created on first use */
	bool unusable[MB_RCPU_MAX];
};

static void *mb_rworker_main(void *arg)
{
	struct mb_rworker *w = arg;

	pthread_mutex_lock(&w->mx);
	for (;;) {
		while (w->state != 1 && w->state != 3)
			pthread_cond_wait(&w->cv, &w->mx);
		if (w->state == 3)
			break;
		w->rc = mb_alloc(w->vol, w->rq, w->ex);
		w->state = 2;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mx);
	return NULL;
}

static struct mb_rworker *mb_rworker_start(int cpu)
{
	struct mb_rworker *w = calloc(1, sizeof(*w));
	cpu_set_t set;

	if (!w)
		return NULL;
	w->cpu = cpu;
	pthread_mutex_init(&w->mx, NULL);
	pthread_cond_init(&w->cv, NULL);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_create(&w->thr, NULL, mb_rworker_main, w)) {
		free(w);
		return NULL;
	}
	/* Pinned before any job is posted; the job checks where it runs. */
	w->failed = pthread_setaffinity_np(w->thr, sizeof(set), &set) != 0;
	return w;
}

int mb_rcpu_init(struct mb_rcpu **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

static void mb_rworker_stop(struct mb_rworker *w)
{
	pthread_mutex_lock(&w->mx);
	w->state = 3;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mx);
	pthread_join(w->thr, NULL);
	pthread_mutex_destroy(&w->mx);
	pthread_cond_destroy(&w->cv);
	free(w);
}

void mb_rcpu_destroy(struct mb_rcpu *rc)
{
	if (!rc)
		return;
	for (int i = 0; i < MB_RCPU_MAX; i++)
		if (rc->w[i])
			mb_rworker_stop(rc->w[i]);
	free(rc);
}

static struct mb_rworker *mb_rcpu_worker(struct mb_rcpu *rc, int cpu)
{
	if (cpu < 0 || cpu >= MB_RCPU_MAX || rc->unusable[cpu])
		return NULL;
	if (!rc->w[cpu]) {
		struct mb_rworker *w = mb_rworker_start(cpu);

		if (!w || w->failed) {
			if (w)
				mb_rworker_stop(w);
			rc->unusable[cpu] = true;
			return NULL;
		}
		rc->w[cpu] = w;
	}
	return rc->w[cpu];
}

int mb_rcpu_alloc(struct mb_rcpu *rc, int cpu, struct mb_volume *vol,
		  const struct mb_request *rq, struct mb_extent *ex, bool *pinned)
{
	struct mb_rworker *w = rc ? mb_rcpu_worker(rc, cpu) : NULL;

	*pinned = w != NULL;
	if (!w)
		return mb_alloc(vol, rq, ex);
	pthread_mutex_lock(&w->mx);
	w->vol = vol;
	w->rq = rq;
	w->ex = ex;
	w->state = 1;
	pthread_cond_broadcast(&w->cv);
	while (w->state != 2)
		pthread_cond_wait(&w->cv, &w->mx);
	w->state = 0;
	int r = w->rc;

	pthread_mutex_unlock(&w->mx);
	return r;
}
