/* SPDX-License-Identifier: MIT */
/*
 * bench_util.c - the bench's measuring tools: a clock, a seeded generator,
 * latency samples and their quantiles, the shadow bitmap that every
 * allocator's answers are checked against, and the free-extent statistics
 * computed from it (histogram, Ceph-style fragmentation score).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mb_bench.h"

uint64_t mb_bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t mb_bench_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t mb_bench_rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

void mb_bench_lat_init(struct mb_bench_lat *l, uint32_t every)
{
	memset(l, 0, sizeof(*l));
	l->every = every ? every : 1;
}

void mb_bench_lat_add(struct mb_bench_lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4096;
		uint32_t *v;

		if (cap > (16u << 20))
			return; /* 16 M samples are plenty for p99.9 */
		v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int mb_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t mb_bench_lat_q(struct mb_bench_lat *l, double q)
{
	if (!l->n)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), mb_cmp_u32);
	size_t i = (size_t)(q * (double)(l->n - 1) + 0.5);

	return l->v[i < l->n ? i : l->n - 1];
}

void mb_bench_lat_free(struct mb_bench_lat *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void mb_bench_res_fill(struct mb_bench_res *r, struct mb_bench_lat *lat, uint64_t ops, uint64_t ns)
{
	r->ops = ops;
	r->ops_s = ns ? (double)ops * 1e9 / (double)ns : 0;
	r->p50 = mb_bench_lat_q(lat, 0.5);
	r->p99 = mb_bench_lat_q(lat, 0.99);
	r->p999 = mb_bench_lat_q(lat, 0.999);
	r->sample_every = lat->every;
}

/* ------------------------------------------------------------------------ */
/* Shadow bitmap                                                            */
/* ------------------------------------------------------------------------ */

int mb_bench_shadow_init(struct mb_bench_shadow *s, uint64_t blocks)
{
	memset(s, 0, sizeof(*s));
	s->map = calloc((blocks + 63) / 64 + 1, sizeof(uint64_t));
	if (!s->map)
		return -ENOMEM;
	s->blocks = blocks;
	for (uint64_t b = blocks; b < (blocks + 63) / 64 * 64 + 64; b++)
		s->map[b / 64] |= 1ULL << (b % 64); /* padding reads as used */
	return 0;
}

/* Sets or clears [start, start + len); returns how many bits already had
 * the new value. */
static uint64_t mb_shadow_mark(uint64_t *m, uint64_t start, uint64_t len, bool set)
{
	uint64_t same = 0, b = start, end = start + len;

	while (b < end) {
		uint64_t n = 64 - b % 64 < end - b ? 64 - b % 64 : end - b;
		uint64_t mask = (n == 64 ? ~0ULL : ((1ULL << n) - 1)) << (b % 64);
		uint64_t *w = &m[b / 64];

		same += (uint64_t)__builtin_popcountll(set ? (*w & mask) : (~*w & mask));
		*w = set ? (*w | mask) : (*w & ~mask);
		b += n;
	}
	return same;
}

void mb_bench_shadow_set(struct mb_bench_shadow *s, uint64_t start, uint32_t len)
{
	uint64_t dup = mb_shadow_mark(s->map, start, len, true);

	s->conflicts += dup;
	s->used += len - dup;
}

void mb_bench_shadow_clear(struct mb_bench_shadow *s, uint64_t start, uint32_t len)
{
	s->used -= len - mb_shadow_mark(s->map, start, len, false);
}

/* First block >= b whose bit equals want, or s->blocks. */
static uint64_t mb_shadow_next(const struct mb_bench_shadow *s, uint64_t b, bool want)
{
	while (b < s->blocks) {
		uint64_t w = want ? s->map[b / 64] : ~s->map[b / 64];

		w &= ~0ULL << (b % 64);
		if (w) {
			uint64_t r = (b & ~63ULL) + (uint64_t)__builtin_ctzll(w);

			return r < s->blocks ? r : s->blocks;
		}
		b = (b & ~63ULL) + 64;
	}
	return s->blocks;
}

bool mb_bench_shadow_has_run(const struct mb_bench_shadow *s, uint32_t len)
{
	uint64_t b = 0;

	while ((b = mb_shadow_next(s, b, false)) < s->blocks) {
		uint64_t e = mb_shadow_next(s, b, true);

		if (e - b >= len)
			return true;
		b = e;
	}
	return false;
}

void mb_bench_shadow_free(struct mb_bench_shadow *s)
{
	free(s->map);
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------------ */
/* Free-extent statistics                                                   */
/* ------------------------------------------------------------------------ */

void mb_bench_frag_add(struct mb_bench_frag *f, uint64_t len)
{
	int k = 63 - __builtin_clzll(len);

	if (k >= MB_BENCH_HIST)
		k = MB_BENCH_HIST - 1;
	f->hist[k]++;
	f->hist_blocks[k] += len;
	if (!f->extents || len < f->min)
		f->min = len;
	if (len > f->max)
		f->max = len;
	f->extents++;
	f->free_blocks += len;
}

/*
 * The fragmentation score, in our words (after Ceph's BlueStore allocators):
 * a free extent is worth more than its size says when it is large, because
 * a large request can use it whole.  Each doubling of an extent's size in
 * bytes multiplies its worth per byte by 1.2 up to 1 MiB; the bonus falls
 * linearly to 1.0 at 128 MiB and stays 1.0 beyond (huge extents are all
 * equally useful).  Between powers of two the worth is interpolated
 * linearly.  The score places the volume's actual worth between the best
 * case (all free space in one extent: score 0) and the worst (every free
 * extent one block: score 1).
 */
static double mb_frag_worth(double bytes)
{
	static double scale[66];
	static bool ready;

	if (!ready) {
		scale[0] = 1;
		for (int k = 1; k < 66; k++) {
			double r = 1.2;

			if (k >= 27)
				r = 1.0;
			else if (k > 20)
				r = (1.0 * (k - 20) + 1.2 * (27 - k)) / 7.0;
			scale[k] = scale[k - 1] * r;
		}
		ready = true;
	}
	if (bytes < 1)
		return 0;
	int k = (int)floor(log2(bytes));

	if (k > 63)
		k = 63;
	double lo = ldexp(1.0, k), x = (bytes - lo) / lo;

	return lo * scale[k] * (1 - x) + 2 * lo * scale[k + 1] * x;
}

void mb_bench_frag_finish(struct mb_bench_frag *f, uint32_t block_size)
{
	double sum = (double)f->free_blocks * block_size, actual = 0;

	/* Worth is linear in length inside one power-of-two grade (and above
	 * 128 MiB everywhere), so a bucket's extents sum to count * worth of
	 * their mean: exact, and no list of extents is needed. */
	for (int k = 0; k < MB_BENCH_HIST; k++)
		if (f->hist[k])
			actual +=
			    (double)f->hist[k] * mb_frag_worth((double)f->hist_blocks[k] /
							       (double)f->hist[k] * block_size);
	double ideal = mb_frag_worth(sum);
	double worst = (double)f->free_blocks * mb_frag_worth(block_size);

	f->score = ideal > worst ? (ideal - actual) / (ideal - worst) : 0;
	if (f->score < 0)
		f->score = 0;
}

void mb_bench_frag_from_shadow(const struct mb_bench_shadow *s, uint32_t block_size,
			       struct mb_bench_frag *f)
{
	uint64_t b = 0;

	memset(f, 0, sizeof(*f));
	while ((b = mb_shadow_next(s, b, false)) < s->blocks) {
		uint64_t e = mb_shadow_next(s, b, true);

		mb_bench_frag_add(f, e - b);
		b = e;
	}
	mb_bench_frag_finish(f, block_size);
}

int mb_bench_exts_push(struct mb_bench_exts *o, uint64_t start, uint32_t len)
{
	if (o->cnt && o->s[o->cnt - 1] + o->n[o->cnt - 1] == start) {
		o->n[o->cnt - 1] += len; /* contiguous with the last piece */
		return 0;
	}
	if (o->cnt == o->cap) {
		uint32_t cap = o->cap ? 2 * o->cap : 4;
		uint64_t *ns = realloc(o->s, cap * sizeof(*ns));
		uint32_t *nn = ns ? realloc(o->n, cap * sizeof(*nn)) : NULL;

		if (ns)
			o->s = ns;
		if (!nn)
			return -ENOMEM;
		o->n = nn;
		o->cap = cap;
	}
	o->s[o->cnt] = start;
	o->n[o->cnt++] = len;
	return 0;
}
