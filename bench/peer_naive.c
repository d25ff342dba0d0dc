/* SPDX-License-Identifier: MIT */
/*
 * peer_naive.c - the control: one flat bitmap behind one global mutex,
 * first fit from the goal (wrapping once), a whole run of the asked length
 * if one exists, else the first free run found.  No summaries, no groups:
 * what every smarter allocator must beat.
 *
 * Locking: n_lock protects the bitmap and n_free.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mb_bench.h"

struct mb_naive {
	pthread_mutex_t n_lock;
	uint64_t *map; /* 1 = used; protected by n_lock */
	uint64_t blocks, n_free;
};

static bool mb_naive_test(const uint64_t *m, uint64_t b)
{
	return (m[b / 64] >> (b % 64)) & 1;
}

/* First block >= b with bit == want, or end. */
static uint64_t mb_naive_next(const uint64_t *m, uint64_t b, uint64_t end, int want)
{
	while (b < end) {
		uint64_t w = m[b / 64];

		if (!want)
			w = ~w;
		w &= ~0ULL << (b % 64);
		if (w) {
			uint64_t r = (b & ~63ULL) + (uint64_t)__builtin_ctzll(w);

			return r < end ? r : end;
		}
		b = (b & ~63ULL) + 64;
	}
	return end;
}

static void mb_naive_mark(uint64_t *m, uint64_t s, uint64_t len, int used)
{
	for (uint64_t b = s; b < s + len; b++) {
		if (used)
			m[b / 64] |= 1ULL << (b % 64);
		else
			m[b / 64] &= ~(1ULL << (b % 64));
	}
}

/* First run in [from, end) of at least len (want_full) or any length. */
static bool mb_naive_find(struct mb_naive *n, uint64_t from, uint64_t end, uint32_t len,
			  bool want_full, uint64_t *s, uint64_t *l)
{
	uint64_t b = from;

	while ((b = mb_naive_next(n->map, b, end, 0)) < end) {
		uint64_t e = mb_naive_next(n->map, b, b + len < end ? b + len : end, 1);

		if (!want_full || e - b >= len) {
			*s = b;
			*l = e - b;
			return true;
		}
		b = e;
	}
	return false;
}

static int mb_naive_alloc(void *ctx, const struct mb_bench_req *r, uint64_t *start, uint32_t *len)
{
	struct mb_naive *n = ctx;
	uint64_t goal = r->goal < n->blocks ? r->goal : 0, s = 0, l = 0;
	int err = 0;

	pthread_mutex_lock(&n->n_lock);
	for (int pass = 0; pass < 2; pass++) {
		bool full = pass == 0;

		if (mb_naive_find(n, goal, n->blocks, r->len, full, &s, &l) ||
		    mb_naive_find(n, 0, goal, r->len, full, &s, &l))
			break;
		l = 0;
	}
	if (l) {
		mb_naive_mark(n->map, s, l, 1);
		n->n_free -= l;
		*start = s;
		*len = (uint32_t)l;
	} else {
		err = -ENOSPC;
	}
	pthread_mutex_unlock(&n->n_lock);
	return err;
}

static int mb_naive_free(void *ctx, uint64_t start, uint32_t len)
{
	struct mb_naive *n = ctx;

	if (start + len > n->blocks)
		return -EINVAL;
	pthread_mutex_lock(&n->n_lock);
	for (uint64_t b = start; b < start + len; b++)
		if (!mb_naive_test(n->map, b)) {
			pthread_mutex_unlock(&n->n_lock);
			return -EEXIST;
		}
	mb_naive_mark(n->map, start, len, 0);
	n->n_free += len;
	pthread_mutex_unlock(&n->n_lock);
	return 0;
}

static int mb_naive_mark_used(void *ctx, uint64_t start, uint64_t len)
{
	struct mb_naive *n = ctx;

	if (!len || start >= n->blocks || len > n->blocks - start)
		return -EINVAL;
	pthread_mutex_lock(&n->n_lock);
	if (mb_naive_next(n->map, start, start + len, 1) < start + len) {
		pthread_mutex_unlock(&n->n_lock);
		return -EEXIST;
	}
	mb_naive_mark(n->map, start, len, 1);
	n->n_free -= len;
	pthread_mutex_unlock(&n->n_lock);
	return 0;
}

static uint64_t mb_naive_free_count(void *ctx)
{
	struct mb_naive *n = ctx;
	uint64_t f;

	pthread_mutex_lock(&n->n_lock);
	f = n->n_free;
	pthread_mutex_unlock(&n->n_lock);
	return f;
}

static void mb_naive_destroy(void *ctx)
{
	struct mb_naive *n = ctx;

	pthread_mutex_destroy(&n->n_lock);
	free(n->map);
	free(n);
}

int mb_bench_naive_create(const struct mb_bench_geo *g, struct mb_bench_alloc *a)
{
	struct mb_naive *n = calloc(1, sizeof(*n));

	memset(a, 0, sizeof(*a));
	a->name = "naive";
	if (n)
		n->map = calloc((g->blocks + 63) / 64 + 1, sizeof(uint64_t));
	if (!n || !n->map) {
		free(n);
		snprintf(a->note, sizeof(a->note), "skipped: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&n->n_lock, NULL);
	n->blocks = n->n_free = g->blocks;
	/* padding past the end reads as used */
	mb_naive_mark(n->map, g->blocks, 64 - g->blocks % 64, 1);
	a->threaded = true;
	a->ctx = n;
	a->alloc = mb_naive_alloc;
	a->free = mb_naive_free;
	a->destroy = mb_naive_destroy;
	a->mark_used = mb_naive_mark_used;
	a->free_count = mb_naive_free_count;
	return 0;
}
