/* SPDX-License-Identifier: MIT */
/*
 * stress_worker.c - the thread bodies of `mballoc stress` and the
 * bookkeeping around each library call: a shadow bitmap that catches a block
 * handed out twice the moment it happens, and the held/in-flight counters
 * that decide whether an ENOSPC was spurious.
 */
#include <errno.h>
#include <stdlib.h>

#include <sched.h>

#include "stress_int.h"

/* xorshift64*: cheap, and per thread, so the RNG adds no shared state. */
uint64_t mb_stress_rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/*
 * The start gate: threads park here until the main thread has created all
 * of them, then leave together, so the first requests really race.
 */
void mb_stress_gate_wait(struct mb_stress_shared *sh)
{
	pthread_mutex_lock(&sh->gate_lock);
	sh->gate_waiting++;
	pthread_cond_broadcast(&sh->gate_cond);
	while (!sh->gate_open)
		pthread_cond_wait(&sh->gate_cond, &sh->gate_lock);
	pthread_mutex_unlock(&sh->gate_lock);
}

static uint64_t mb_shadow_mask(uint64_t start, uint64_t len, uint64_t *n)
{
	uint64_t bit = start % 64;

	*n = len < 64 - bit ? len : 64 - bit;
	return (*n == 64 ? ~0ULL : (1ULL << *n) - 1) << bit;
}

/*
 * Marks [start, start + len) held; returns how many of its blocks some
 * thread already held.  Relaxed is enough: a block reaches a second owner
 * only through mb_free() and mb_alloc(), whose group lock orders the first
 * owner's clear (made before its mb_free) before our set.
 */
static uint64_t mb_shadow_mark(struct mb_stress_shared *sh, uint64_t start, uint64_t len)
{
	uint64_t dup = 0, n;

	while (len) {
		uint64_t mask = mb_shadow_mask(start, len, &n);
		uint64_t old =
		    atomic_fetch_or_explicit(&sh->shadow[start / 64], mask, memory_order_relaxed);

		dup += (uint64_t)__builtin_popcountll(old & mask);
		start += n;
		len -= n;
	}
	return dup;
}

/* Clears [start, start + len); call it before mb_free() (see above). */
static void mb_shadow_clear(struct mb_stress_shared *sh, uint64_t start, uint64_t len)
{
	uint64_t n;

	while (len) {
		uint64_t mask = mb_shadow_mask(start, len, &n);

		atomic_fetch_and_explicit(&sh->shadow[start / 64], ~mask, memory_order_relaxed);
		start += n;
		len -= n;
	}
}

void mb_stress_error(struct mb_stress_thread *t, int err)
{
	t->errors++;
	if (!t->first_err)
		t->first_err = err;
}

/*
 * Blocks that no thread holds and no call in flight may be taking: if one
 * exists now, after our ENOSPC, it existed during our call, since fill mode
 * never frees.  A caller moves its blocks into held before it takes its
 * request out of inflight, and both are seq_cst, so reading inflight first
 * and held second cannot miss an allocation (at worst it counts one twice,
 * which only makes the verdict more lenient).
 */
static uint64_t mb_stress_free_estimate(struct mb_stress_shared *sh)
{
	uint64_t busy = atomic_load(&sh->inflight);

	busy += atomic_load(&sh->held);
	return busy < sh->capacity ? sh->capacity - busy : 0;
}

/*
 * Describes the iteration's first spurious ENOSPC on stderr, as a lead for
 * whoever debugs it: the request, and the free space seen around it.
 */
static void mb_stress_report_spurious(struct mb_stress_thread *t, const struct mb_request *rq,
				      uint64_t free)
{
	struct mb_stress_shared *sh = t->sh;

	if (atomic_exchange_explicit(&sh->reported, true, memory_order_relaxed))
		return;
	mb_cli_err("stress",
		   "iteration %llu: thread %u: spurious ENOSPC for %u block(s) at logical %llu, "
		   "goal %lld: %llu block(s) neither held nor in flight, volume free count %llu",
		   (unsigned long long)sh->iter, t->idx, rq->len, (unsigned long long)rq->logical,
		   rq->goal == MB_GOAL_NONE ? -1LL : (long long)rq->goal, (unsigned long long)free,
		   (unsigned long long)mb_free_blocks(sh->vol));
}

/* ENOSPC is spurious by construction in seed and churn mode (demand never
 * exceeds capacity); in fill mode only while a block is truly free. */
static void mb_stress_enospc(struct mb_stress_thread *t, const struct mb_request *rq)
{
	uint64_t free = mb_stress_free_estimate(t->sh);
	uint64_t none = UINT64_MAX;

	atomic_compare_exchange_strong(&t->sh->first_enospc_held, &none, atomic_load(&t->sh->held));
	t->enospc++;
	if (free > t->max_free)
		t->max_free = free;
	if (t->sh->o->mode != MB_STRESS_FILL || free >= 1) {
		t->spurious++;
		mb_stress_report_spurious(t, rq, free);
	}
}

static void mb_stress_note_held(struct mb_stress_shared *sh, uint64_t len)
{
	uint64_t now = atomic_fetch_add(&sh->held, len) + len;
	uint64_t peak = atomic_load_explicit(&sh->peak_held, memory_order_relaxed);

	while (now > peak &&
	       !atomic_compare_exchange_weak_explicit(&sh->peak_held, &peak, now,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/* Takes ownership of a fresh extent: shadow bitmap, list, counters. */
static void mb_stress_record(struct mb_stress_thread *t, const struct mb_extent *ex, uint32_t asked)
{
	struct mb_stress_shared *sh = t->sh;

	if (!ex->len || ex->len > asked || ex->start >= sh->nblocks ||
	    ex->len > sh->nblocks - ex->start) {
		mb_stress_error(t, -ERANGE); /* the library returned nonsense */
		return;
	}
	uint64_t dup = mb_shadow_mark(sh, ex->start, ex->len);

	if (dup)
		atomic_fetch_add_explicit(&sh->double_allocs, dup, memory_order_relaxed);
	t->ex[t->nex++] = *ex;
	t->held += ex->len;
	t->next_logical += ex->len;
	t->last_pblk = ex->start + ex->len - 1;
	t->mapped = true;
	mb_stress_note_held(sh, ex->len);
}

static int mb_stress_reserve_slot(struct mb_stress_thread *t)
{
	if (t->nex < t->cap)
		return 0;
	size_t cap = t->cap ? 2 * t->cap : 64;
	struct mb_extent *ex = realloc(t->ex, cap * sizeof(*ex));

	if (!ex)
		return -ENOMEM;
	t->ex = ex;
	t->cap = cap;
	return 0;
}

/* The request a page fault at the file's next block makes: goal right
 * after the last mapped block, which is also the left neighbour. */
static void mb_stress_request(struct mb_stress_thread *t, uint32_t len, struct mb_request *rq)
{
	*rq = (struct mb_request){.file = t->file,
				  .logical = t->next_logical,
				  .goal = MB_GOAL_NONE,
				  .len = len,
				  .flags = MB_HINT_DATA};
	if (t->sh->o->mode == MB_STRESS_DELALLOC)
		rq->flags |= MB_HINT_DELALLOC_RESERVED;
	if (!t->mapped)
		return;
	rq->lleft = t->next_logical - 1;
	rq->pleft = t->last_pblk;
	rq->flags |= MB_REQ_PLEFT; /* block 0 too is a neighbour */
	if (t->last_pblk + 1 < t->sh->nblocks) {
		rq->goal = t->last_pblk + 1;
		rq->flags |= MB_HINT_TRY_GOAL;
	}
}

/* Delalloc mode: the stress's stand-in for a buffered write path. */
static void mb_stress_delalloc_writer(struct mb_stress_thread *t)
{
	uint64_t chunk = t->sh->o->chunk;

	while (t->written < t->target) {
		uint64_t left = t->target - t->written, n = left < chunk ? left : chunk;
		int err = mb_reserve(t->sh->vol, n, 0);

		t->reserves++;
		if (err) { /* the demand never exceeds what is reservable */
			t->resv_fail++;
			if (err != -ENOSPC)
				mb_stress_error(t, err);
			else if (!atomic_exchange(&t->sh->reported, true))
				mb_cli_err("stress", "iteration %llu: thread %u: mb_reserve(%llu) "
					   "failed with %llu of %llu written",
					   (unsigned long long)t->sh->iter, t->idx,
					   (unsigned long long)n, (unsigned long long)t->written,
					   (unsigned long long)t->target);
			return;
		}
		t->written += n;
		/* release: the flusher's exchange sees the reservation made */
		atomic_fetch_add_explicit(&t->dirty, n, memory_order_release);
	}
}

/* Writeback of one writer's dirty blocks, in chunk-sized requests. */
static void mb_stress_writeback(struct mb_stress_thread *w, uint64_t dirty)
{
	uint64_t chunk = w->sh->o->chunk;

	while (dirty) {
		uint32_t len = (uint32_t)(dirty < chunk ? dirty : chunk);

		mb_file_set_size(w->file, w->next_logical + len);
		uint64_t before = w->held;

		if (mb_stress_alloc(w, len))
			return; /* counted as spurious or an error: the run fails */
		dirty -= w->held - before;
	}
}

/*
 * The flusher: sweeps the writers' dirty counts until the writers are all
 * joined (sh->stop, set only then) and one whole sweep found nothing.
 */
void *mb_stress_flusher_main(void *arg)
{
	struct mb_stress_thread *f = arg;
	struct mb_stress_shared *sh = f->sh;

	mb_stress_gate_wait(sh);
	for (;;) {
		bool done = atomic_load(&sh->stop), found = false;

		for (uint32_t i = 0; i < sh->nworkers; i++) {
			uint64_t d = atomic_exchange_explicit(&sh->th[i].dirty, 0,
							      memory_order_acquire);

			if (d) {
				found = true;
				mb_stress_writeback(&sh->th[i], d);
			}
		}
		if (done && !found)
			break;
		if (!found)
			sched_yield();
	}
	return NULL;
}

/* One mb_alloc() with its accounting; returns its result. */
int mb_stress_alloc(struct mb_stress_thread *t, uint32_t len)
{
	struct mb_stress_shared *sh = t->sh;
	struct mb_request rq;
	struct mb_extent ex;
	int err = mb_stress_reserve_slot(t);

	if (err) {
		mb_stress_error(t, err);
		return err;
	}
	mb_stress_request(t, len, &rq);
	atomic_fetch_add(&sh->inflight, len);
	err = mb_alloc(sh->vol, &rq, &ex);
	if (!err)
		mb_stress_record(t, &ex, len);
	atomic_fetch_sub(&sh->inflight, len); /* after held grew: see free_estimate */
	t->ops++;
	if (err == -ENOSPC)
		mb_stress_enospc(t, &rq);
	else if (err)
		mb_stress_error(t, err);
	return err;
}

/*
 * Seed mode: a sparse file of `target` blocks written through mmap, one
 * page fault (chunk blocks) at a time.  A failed fault is SIGBUS: the
 * writer stops.
 */
static void mb_stress_seed(struct mb_stress_thread *t)
{
	uint64_t chunk = t->sh->o->chunk;

	mb_file_set_size(t->file, t->target);
	while (t->held < t->target) {
		uint64_t left = t->target - t->held;

		if (mb_stress_alloc(t, (uint32_t)(left < chunk ? left : chunk)))
			break;
	}
}

/* Fill mode: append chunk-sized writes until the volume says it is full. */
static void mb_stress_fill(struct mb_stress_thread *t)
{
	uint32_t chunk = (uint32_t)t->sh->o->chunk;

	do {
		/* a broken allocator could hand out blocks forever */
		if (atomic_load_explicit(&t->sh->held, memory_order_relaxed) > t->sh->capacity)
			break;
		mb_file_set_size(t->file, t->next_logical + chunk);
	} while (!mb_stress_alloc(t, chunk));
}

/* Frees a random held extent, or the tail of one. */
static void mb_stress_free_one(struct mb_stress_thread *t)
{
	struct mb_stress_shared *sh = t->sh;
	size_t i = mb_stress_rng(&t->rng) % t->nex;
	struct mb_extent *e = &t->ex[i];
	uint64_t r = mb_stress_rng(&t->rng);
	uint32_t keep = (e->len > 1 && (r & 1)) ? (uint32_t)((r >> 1) % e->len) : 0;
	uint64_t start = e->start + keep, len = e->len - keep;

	mb_shadow_clear(sh, start, len);
	int err = mb_free(sh->vol, start, len);

	if (err)
		mb_stress_error(t, err); /* we held it: a library bug */
	if (keep)
		e->len = keep;
	else
		t->ex[i] = t->ex[--t->nex];
	t->held -= len;
	atomic_fetch_sub(&sh->held, len); /* after the free: keeps estimates low */
	t->frees++;
}

/*
 * Churn mode: random allocations and frees under a quota, with an
 * occasional truncate (mb_file_discard).  The quotas sum to at most the
 * capacity, so every ENOSPC is spurious.
 */
static void mb_stress_churn(struct mb_stress_thread *t)
{
	uint64_t max = t->sh->o->chunk * 16;

	while (!atomic_load_explicit(&t->sh->stop, memory_order_relaxed) && t->target) {
		uint64_t r = mb_stress_rng(&t->rng);

		/* mostly allocate, so every quota and the volume stay nearly full */
		if (t->nex && (t->held >= t->target || (r & 3) == 0)) {
			mb_stress_free_one(t);
			continue;
		}
		if (r % 128 == 1) {
			mb_file_discard(t->file);
			t->discards++;
			continue;
		}
		uint64_t len = 1 + (r >> 8) % max;

		if (len > t->target - t->held)
			len = t->target - t->held;
		mb_file_set_size(t->file, t->next_logical + len);
		mb_stress_alloc(t, (uint32_t)len);
	}
}

void *mb_stress_thread_main(void *arg)
{
	struct mb_stress_thread *t = arg;

	mb_stress_gate_wait(t->sh);
	switch (t->sh->o->mode) {
	case MB_STRESS_SEED:
		mb_stress_seed(t);
		break;
	case MB_STRESS_FILL:
		mb_stress_fill(t);
		break;
	case MB_STRESS_DELALLOC:
		mb_stress_delalloc_writer(t);
		break;
	default:
		mb_stress_churn(t);
		break;
	}
	return NULL;
}

/* The --commit-log thread: the last one, after the workers. */
void *mb_stress_logger_main(void *arg)
{
	struct mb_stress_thread *t = arg;

	mb_stress_gate_wait(t->sh);
	mb_stress_logger(t);
	return NULL;
}
