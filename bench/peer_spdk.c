/* SPDX-License-Identifier: MIT */
/*
 * peer_spdk.c - SPDK's spdk_bit_pool as a peer of `mballoc bench` (built
 * when CMake is given -DMB_SPDK_SRC=...): one block per call, the lowest
 * free one, no goal.  A single-block upper bound for len-1 requests only.
 * The pool is not thread-safe, so calls go through one mutex (uncontended
 * with one thread).
 *
 * Locking: s_lock protects the pool.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mb_bench.h"
#include "spdk/bit_pool.h"

struct mb_spdk {
	pthread_mutex_t s_lock;
	struct spdk_bit_pool *pool; /* protected by s_lock */
};

static int mb_spdk_alloc(void *ctx, const struct mb_bench_req *r, uint64_t *start, uint32_t *len)
{
	struct mb_spdk *s = ctx;
	uint32_t b;

	(void)r; /* one block, wherever the pool likes */
	pthread_mutex_lock(&s->s_lock);
	b = spdk_bit_pool_allocate_bit(s->pool);
	pthread_mutex_unlock(&s->s_lock);
	if (b == UINT32_MAX)
		return -ENOSPC;
	*start = b;
	*len = 1;
	return 0;
}

static int mb_spdk_free(void *ctx, uint64_t start, uint32_t len)
{
	struct mb_spdk *s = ctx;

	pthread_mutex_lock(&s->s_lock);
	for (uint64_t b = start; b < start + len; b++)
		spdk_bit_pool_free_bit(s->pool, (uint32_t)b);
	pthread_mutex_unlock(&s->s_lock);
	return 0;
}

static int mb_spdk_mark_used(void *ctx, uint64_t start, uint64_t len)
{
	struct mb_spdk *s = ctx;
	int err = 0;

	pthread_mutex_lock(&s->s_lock);
	for (uint64_t b = start; b < start + len && !err; b++)
		err = spdk_bit_pool_set_bit_allocated(s->pool, (uint32_t)b) ? -EEXIST : 0;
	pthread_mutex_unlock(&s->s_lock);
	return err;
}

static uint64_t mb_spdk_free_count(void *ctx)
{
	struct mb_spdk *s = ctx;
	uint64_t n;

	pthread_mutex_lock(&s->s_lock);
	n = spdk_bit_pool_count_free(s->pool);
	pthread_mutex_unlock(&s->s_lock);
	return n;
}

static void mb_spdk_destroy(void *ctx)
{
	struct mb_spdk *s = ctx;

	spdk_bit_pool_free(&s->pool);
	pthread_mutex_destroy(&s->s_lock);
	free(s);
}

int mb_bench_spdk_create(const struct mb_bench_geo *g, struct mb_bench_alloc *a)
{
	struct mb_spdk *s;

	memset(a, 0, sizeof(*a));
	a->name = "spdk-bitpool";
	if (g->blocks >= UINT32_MAX) {
		snprintf(a->note, sizeof(a->note), "skipped: the bit pool holds < 2^32 blocks");
		return -EFBIG;
	}
	s = calloc(1, sizeof(*s));
	if (s)
		s->pool = spdk_bit_pool_create((uint32_t)g->blocks);
	if (!s || !s->pool) {
		free(s);
		snprintf(a->note, sizeof(a->note), "skipped: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&s->s_lock, NULL);
	a->threaded = true;
	a->ctx = s;
	a->alloc = mb_spdk_alloc;
	a->free = mb_spdk_free;
	a->mark_used = mb_spdk_mark_used;
	a->free_count = mb_spdk_free_count;
	a->destroy = mb_spdk_destroy;
	return 0;
}
