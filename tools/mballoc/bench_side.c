/* SPDX-License-Identifier: MIT */
/*
 * bench_side.c - what the side-by-side workloads (matrix, drain and Ceph's
 * shapes: bench, 90_300, aging) share: the list of allocators of a row
 * (mballoc, mballoc through a file, then the peers chosen with --peer),
 * serving one request in full, the pre-fill layouts every allocator gets
 * alike, and the correctness checks that make a run fail (overlap, free
 * counts).  Their figures are per CPU-second of the process as well as per
 * wall second: on a loaded machine the CPU figure is the one to compare.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

static const char *const mb_peer_names[MB_PEER_COUNT] = {
    [MB_PEER_NAIVE] = "naive",	      [MB_PEER_STUPID] = "ceph-stupid", [MB_PEER_AVL] = "ceph-avl",
    [MB_PEER_BITMAP] = "ceph-bitmap", [MB_PEER_SPDK] = "spdk-bitpool",
};

#ifndef MB_HAVE_CEPH
int mb_bench_ceph_create(const char *kind, const struct mb_bench_geo *g, struct mb_bench_alloc *a)
{
	(void)kind;
	(void)g;
	memset(a, 0, sizeof(*a));
	snprintf(a->note, sizeof(a->note), "skipped: not built (cmake -DMB_CEPH_SRC=...)");
	return -EOPNOTSUPP;
}
#endif
#ifndef MB_HAVE_SPDK
int mb_bench_spdk_create(const struct mb_bench_geo *g, struct mb_bench_alloc *a)
{
	(void)g;
	memset(a, 0, sizeof(*a));
	snprintf(a->note, sizeof(a->note), "skipped: not built (cmake -DMB_SPDK_SRC=...)");
	return -EOPNOTSUPP;
}
#endif

const char *mb_side_peer_name(int peer)
{
	return peer >= 0 && peer < MB_PEER_COUNT ? mb_peer_names[peer] : "mballoc";
}

uint32_t mb_side_built_peers(void)
{
	uint32_t m = 1u << MB_PEER_NAIVE;
#ifdef MB_HAVE_CEPH
	m |= 1u << MB_PEER_STUPID | 1u << MB_PEER_AVL | 1u << MB_PEER_BITMAP;
#endif
#ifdef MB_HAVE_SPDK
	m |= 1u << MB_PEER_SPDK;
#endif
	return m;
}

uint32_t mb_side_default_peers(void)
{
	uint32_t m = mb_side_built_peers() & ~(1u << MB_PEER_NAIVE);

	return m ? m : 1u << MB_PEER_NAIVE;
}

int mb_side_parse_peers(const char *list, uint32_t *mask, char *bad, size_t nbad)
{
	*mask = 0;
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		int found = 0;

		if (n == 4 && !strncmp(p, "ceph", 4)) {
			*mask |= 1u << MB_PEER_STUPID | 1u << MB_PEER_AVL | 1u << MB_PEER_BITMAP;
			found = 1;
		} else if (n == 4 && !strncmp(p, "spdk", 4)) {
			*mask |= 1u << MB_PEER_SPDK;
			found = 1;
		}
		for (int i = 0; i < MB_PEER_COUNT && !found; i++)
			if (strlen(mb_peer_names[i]) == n && !strncmp(mb_peer_names[i], p, n)) {
				*mask |= 1u << i;
				found = 1;
			}
		if (!found) {
			snprintf(bad, nbad, "%.*s", (int)n, p);
			return -EINVAL;
		}
		p += n + (p[n] == ',');
	}
	return 0;
}

int mb_side_kinds(const struct mb_bench_cfg *c, bool with_file, uint32_t len,
		  struct mb_side_kind *k, int *nours)
{
	int n = 0;

	k[n++] = (struct mb_side_kind){"mballoc", -1, false};
	if (with_file)
		k[n++] = (struct mb_side_kind){"mballoc+file", -1, true};
	*nours = n;
	for (int i = 0; i < MB_PEER_COUNT && n < MB_BENCH_MAX_PEERS; i++) {
		if (!(c->peers & (1u << i)))
			continue;
		if (i == MB_PEER_SPDK && len != 1)
			continue; /* one block per call, no goal: len-1 rows only */
		k[n++] = (struct mb_side_kind){mb_peer_names[i], i, false};
	}
	return n;
}

int mb_side_create(const struct mb_side_kind *k, const struct mb_bench_geo *g,
		   struct mb_bench_alloc *a)
{
	int err;

	switch (k->peer) {
	case -1:
		err = mb_bench_ours_create(g, a);
		break;
	case MB_PEER_NAIVE:
		err = mb_bench_naive_create(g, a);
		break;
	case MB_PEER_STUPID:
		err = mb_bench_ceph_create("stupid", g, a);
		break;
	case MB_PEER_AVL:
		err = mb_bench_ceph_create("avl", g, a);
		break;
	case MB_PEER_BITMAP:
		err = mb_bench_ceph_create("bitmap", g, a);
		break;
	case MB_PEER_SPDK:
		err = mb_bench_spdk_create(g, a);
		break;
	default:
		return -EINVAL;
	}
	a->blocks = g->blocks;
	if (!err && (!a->mark_used || !a->free_count)) {
		mb_bench_alloc_destroy(a);
		snprintf(a->note, sizeof(a->note), "skipped: no pre-fill by position");
		return -EOPNOTSUPP;
	}
	return err;
}

int mb_side_get(struct mb_bench_alloc *a, void *stream, uint64_t logical, uint32_t len,
		uint64_t goal, struct mb_bench_exts *out, uint64_t *got)
{
	struct mb_bench_req rq = {.stream = stream, .logical = logical, .goal = goal, .len = len};
	uint64_t s;
	uint32_t n;
	int err;

	*got = 0;
	if (a->alloc_multi)
		return a->alloc_multi(a->ctx, &rq, out, got);
	while (*got < len) {
		rq.len = len - (uint32_t)*got;
		rq.logical = logical + *got;
		err = a->alloc(a->ctx, &rq, &s, &n);
		if (err)
			return err;
		if ((err = mb_bench_exts_push(out, s, n)))
			return err;
		*got += n;
		rq.goal = s + n < a->blocks ? s + n : 0;
	}
	return 0;
}

void mb_side_exts_free(struct mb_bench_exts *o)
{
	free(o->s);
	free(o->n);
	memset(o, 0, sizeof(*o));
}

/* ------------------------------------------------------------------------ */
/* Pre-fill layouts                                                         */
/* ------------------------------------------------------------------------ */

struct mb_tile {
	uint64_t s;
	uint32_t n;
	bool keep;
};

/* Aged: tile the volume with random 1-64-block extents, drop random tiles
 * until the level is reached; the kept ones are the used space. */
static int mb_layout_aged(struct mb_layout *lo, uint64_t blocks, double level, uint64_t seed)
{
	size_t cap = blocks / 16 + 16, nt = 0;
	struct mb_tile *t = malloc(cap * sizeof(*t));
	uint32_t *order;
	uint64_t rng = seed | 1, used = blocks, target = (uint64_t)(level * (double)blocks);
	int err = 0;

	if (!t)
		return -ENOMEM;
	for (uint64_t pos = 0; pos < blocks; nt++) {
		uint32_t n = 1 + (uint32_t)(mb_bench_rng(&rng) % 64);

		if (n > blocks - pos)
			n = (uint32_t)(blocks - pos);
		t[nt] = (struct mb_tile){pos, n, true};
		pos += n;
	}
	order = malloc(nt * sizeof(*order));
	if (!order) {
		free(t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nt; i++)
		order[i] = (uint32_t)i;
	for (size_t i = nt - 1; i > 0; i--) { /* Fisher-Yates */
		size_t j = mb_bench_rng(&rng) % (i + 1);
		uint32_t x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	for (size_t k = 0; k < nt && used > target; k++) {
		t[order[k]].keep = false;
		used -= t[order[k]].n;
	}
	for (size_t i = 0; i < nt && !err; i++)
		if (t[i].keep)
			err = mb_bench_exts_push(&lo->used, t[i].s, t[i].n);
	lo->used_blocks = used;
	free(order);
	free(t);
	return err;
}

int mb_layout_make(const char *name, uint64_t blocks, uint64_t seed, struct mb_layout *lo)
{
	memset(lo, 0, sizeof(*lo));
	if (!strcmp(name, "empty"))
		return 0;
	bool aged = !strncmp(name, "aged", 4);

	if (!aged && strncmp(name, "seq", 3))
		return -EINVAL;
	double level = atof(name + (aged ? 4 : 3)) / 100.0;

	if (level <= 0 || level >= 1)
		return -EINVAL;
	if (aged)
		return mb_layout_aged(lo, blocks, level, seed);
	lo->used_blocks = (uint64_t)(level * (double)blocks);
	/* One run from block 0, in pieces of at most 2^31 blocks (the list
	 * holds 32-bit lengths and joins contiguous pushes, so each piece is
	 * pushed after a one-block gap and the gap then closed). */
	for (uint64_t s = 0; s < lo->used_blocks;) {
		uint64_t n = lo->used_blocks - s < (1u << 31) ? lo->used_blocks - s : (1u << 31);
		int err = mb_bench_exts_push(&lo->used, s + 1, (uint32_t)n - 1);

		if (err)
			return err;
		lo->used.s[lo->used.cnt - 1] = s;
		lo->used.n[lo->used.cnt - 1] = (uint32_t)n;
		s += n;
	}
	return 0;
}

int mb_layout_apply(const struct mb_layout *lo, struct mb_bench_alloc *a)
{
	for (uint32_t i = 0; i < lo->used.cnt; i++) {
		int err = a->mark_used(a->ctx, lo->used.s[i], lo->used.n[i]);

		if (err)
			return err;
	}
	return 0;
}

void mb_layout_free(struct mb_layout *lo)
{
	mb_side_exts_free(&lo->used);
	lo->used_blocks = 0;
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                   */
/* ------------------------------------------------------------------------ */

void mb_side_fail(const struct mb_bench_cfg *c, struct mb_bench_res *r, const char *fmt, ...)
{
	char msg[180];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(r->note, sizeof(r->note), "BUG: %s", msg);
	if (c->failed)
		*c->failed = true;
}

bool mb_side_check_free(const struct mb_bench_cfg *c, struct mb_bench_alloc *a, uint64_t want,
			struct mb_bench_res *r)
{
	if (a->quiesce)
		a->quiesce(a->ctx);
	uint64_t have = a->free_count(a->ctx);

	if (have == want)
		return true;
	mb_side_fail(c, r, "%llu blocks free, expected %llu", (unsigned long long)have,
		     (unsigned long long)want);
	return false;
}

bool mb_side_check_overlap(const struct mb_bench_cfg *c, const struct mb_bench_exts *e, int n,
			   const struct mb_layout *lo, uint64_t blocks, struct mb_bench_res *r,
			   uint64_t *used)
{
	struct mb_bench_shadow sh;

	if (mb_bench_shadow_init(&sh, blocks)) {
		mb_side_fail(c, r, "out of memory for the overlap check");
		return false;
	}
	for (uint32_t i = 0; lo && i < lo->used.cnt; i++)
		mb_bench_shadow_set(&sh, lo->used.s[i], lo->used.n[i]);
	for (int k = 0; k < n; k++)
		for (uint32_t i = 0; i < e[k].cnt; i++) {
			if (e[k].s[i] + e[k].n[i] > blocks) {
				mb_side_fail(c, r, "extent %llu+%u past the end",
					     (unsigned long long)e[k].s[i], e[k].n[i]);
				mb_bench_shadow_free(&sh);
				return false;
			}
			mb_bench_shadow_set(&sh, e[k].s[i], e[k].n[i]);
		}
	uint64_t dup = sh.conflicts;

	if (used)
		*used = sh.used;
	mb_bench_shadow_free(&sh);
	if (dup)
		mb_side_fail(c, r, "%llu blocks handed out twice", (unsigned long long)dup);
	return !dup;
}

static int mb_cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define MB_SIDE_ROUNDS 64
#define MB_SIDE_ROUNDS_QUICK 3

int mb_side_rounds(const struct mb_bench_cfg *c, int n, double (*run)(void *ctx, int i),
		   void *ctx)
{
	const int rounds = c->quick ? MB_SIDE_ROUNDS_QUICK : MB_SIDE_ROUNDS;
	const double secs = c->secs;
	double cpu[MB_BENCH_MAX_PEERS] = {0};
	bool done[MB_BENCH_MAX_PEERS] = {0};
	int round = 0;

	while (round < rounds) {
		bool more = false;

		for (int jj = 0; jj < n; jj++) {
			int j = round % 2 ? n - 1 - jj : jj;

			if (!done[j]) {
				cpu[j] = run(ctx, j);
				done[j] = cpu[j] < 0;
			}
		}
		round++;
		for (int j = 0; j < n; j++)
			more |= !done[j] && cpu[j] < secs;
		if (!more)
			break;
	}
	return round;
}

double mb_side_median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), mb_cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t mb_side_blocks(const struct mb_bench_cfg *c, uint64_t dflt, uint64_t q)
{
	uint64_t bytes = c->size ? c->size : c->quick ? q : dflt;

	return bytes / c->block_size;
}
