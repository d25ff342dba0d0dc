/* SPDX-License-Identifier: MIT */
/*
 * test_constrain_model.c - a differential test under threads.  Several
 * threads run constrained allocations, vectors (all-or-nothing or not),
 * plain allocations and frees on a small volume kept nearly full; a model
 * bitmap follows them and checks, after every call:
 *   - no block is handed out twice (a shadow bitmap, as ext4's debug mode);
 *   - every extent satisfies its constraint and the vector its contract;
 *   - every -ENOSPC was justified: the blocks that were surely free for the
 *     whole call (lock-free model check, below) hold no run the call could
 *     have used -- for an all-or-nothing vector, not len blocks in n pieces;
 *   - at the end, nothing in flight: every free block is claimable again.
 *
 * "Surely free for the whole call [t0, t1]" (t = a model clock): the block's
 * last free returned before t0, no free of it is running, and no allocation
 * that started before t1 holds it.  Before judging, the checker waits until
 * every other thread's allocation that started before t1 has published its
 * result.  An all-or-nothing vector that failed may have held any block
 * while it ran (it rolled back): an ENOSPC whose call overlapped one of
 * those is not judged (counted as skipped).  The check is conservative:
 * it never accuses a true ENOSPC, and misses only what it skips.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "harness.h"

#define NTHREADS 6
#define NBLOCKS (16 * 128)
#define MAXEXT 2048/* extents a thread holds */
#define NALLRING 4096

static const struct mb_geometry geo = {
	.block_size = 1024, .blocks_per_group = 128, .blocks_count = NBLOCKS,
	.first_data_block = 0, .reserved_per_group = 1,
};

static const struct mb_constraint table[] = {
	{ 4, 4, 16, 0 }, { 8, 8, 0, 0 }, { 16, 16, 32, 0 }, { 6, 2, 12, 0 },
	{ 32, 32, 0, 0 }, { 1, 0, 3, 0 }, { 0, 64, 0, 0 }, { 24, 8, 48, 0 },
};
#define NCONS (sizeof(table) / sizeof(table[0]))

/* The model; every field under mx. */
static struct {
	pthread_mutex_t mx;
	uint64_t clock;
	uint8_t used[NBLOCKS], freeing[NBLOCKS];
	uint64_t free_end[NBLOCKS], alloc_start[NBLOCKS];
	uint64_t inflight[NTHREADS]; /* start of the running allocation, 0 none */
	struct { uint64_t s, e; } allring[NALLRING]; /* failed all-or-nothing calls */
	uint64_t nall;
	uint64_t checked, skipped, violations, ops, enospc;
} m;

static struct mb_volume *vol;

static uint64_t tick_locked(void)
{
	return ++m.clock;
}

static void violation(const char *what, uint64_t a, uint64_t b)
{
	m.violations++;
	if (m.violations < 10)
		fprintf(stderr, "violation: %s (%" PRIu64 ", %" PRIu64 ")\n", what, a, b);
}

/* ------------------------------------------------------------------------ */
/* What the surely-free blocks could have given                              */
/* ------------------------------------------------------------------------ */

static bool surely_free(uint64_t b, uint64_t t0, uint64_t t1)
{
	if (m.freeing[b] || m.free_end[b] >= t0)
		return false;
	return !m.used[b] || m.alloc_start[b] > t1;
}

static uint32_t align_of(const struct mb_constraint *c)
{
	return c->align ? c->align : 1;
}

/* Pieces (as allocvec.c cuts them) of the surely-free runs, longest first. */
static int pieces(const struct mb_constraint *c, uint64_t t0, uint64_t t1, uint32_t *out)
{
	uint32_t a = align_of(c), max = c->max_len ? c->max_len : geo.blocks_per_group / a * a;
	int np = 0;

	for (uint64_t g = 0; g < NBLOCKS; g += geo.blocks_per_group) {
		uint64_t b = g;

		while (b < g + geo.blocks_per_group) {
			if (!surely_free(b, t0, t1)) {
				b++;
				continue;
			}
			uint64_t e = b;

			while (e < g + geo.blocks_per_group && surely_free(e, t0, t1))
				e++;
			uint64_t as = (b + a - 1) / a * a, ae = e / a * a;

			for (uint64_t s = as; s < ae; s += max)
				out[np++] = (uint32_t)(ae - s < max ? ae - s : max);
			b = e;
		}
	}
	/* longest first: insertion sort, few pieces */
	for (int i = 1; i < np; i++)
		for (int j = i; j > 0 && out[j] > out[j - 1]; j--) {
			uint32_t t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return np;
}

/* Could len have been gathered in n extents (the last may be below min)? */
static bool could_gather(const struct mb_constraint *c, uint64_t len, uint32_t n, uint64_t t0,
			 uint64_t t1)
{
	static uint32_t p[NBLOCKS];
	uint32_t min = c->min_len ? c->min_len : align_of(c);
	int np = pieces(c, t0, t1, p);
	uint64_t r = len;

	for (int i = 0; i < np && (uint32_t)i < n && r; i++) {
		if (p[i] >= r)
			return true;
		if (p[i] < min)
			return false;
		r -= p[i];
	}
	return r == 0;
}

/* Waits until no other allocation that started before t1 is unpublished. */
static void wait_published(int self, uint64_t t1)
{
	for (;;) {
		bool busy = false;

		pthread_mutex_lock(&m.mx);
		for (int i = 0; i < NTHREADS; i++)
			busy |= i != self && m.inflight[i] && m.inflight[i] < t1;
		pthread_mutex_unlock(&m.mx);
		if (!busy)
			return;
		sched_yield();
	}
}

static bool overlaps_failed_all_locked(int self, uint64_t t0, uint64_t t1)
{
	(void)self;
	uint64_t lo = m.nall > NALLRING ? m.nall - NALLRING : 0;

	if (m.nall > NALLRING) /* the ring forgot some: cannot tell */
		return true;
	for (uint64_t i = lo; i < m.nall; i++)
		if (m.allring[i % NALLRING].s < t1 && m.allring[i % NALLRING].e > t0)
			return true;
	return false;
}

/*
 * An ENOSPC of a call over [t0, t1]: kind 0 mb_alloc, 1 one constrained
 * extent, 2 an all-or-nothing vector (len, n).
 */
static void judge_enospc(int self, int kind, const struct mb_constraint *c, uint64_t len,
			 uint32_t n, uint64_t t0, uint64_t t1)
{
	wait_published(self, t1);
	pthread_mutex_lock(&m.mx);
	m.enospc++;
	if (overlaps_failed_all_locked(self, t0, t1)) {
		m.skipped++;
	} else {
		static const struct mb_constraint any = { 1, 1, 1, 0 };
		bool could = kind == 0 ? could_gather(&any, 1, 1, t0, t1)
			     : kind == 1 ? could_gather(c, c->min_len ? c->min_len : align_of(c), 1,
						       t0, t1)
					 : could_gather(c, len, n, t0, t1);

		m.checked++;
		if (could)
			violation("spurious ENOSPC (kind, len)", (uint64_t)kind, len);
	}
	pthread_mutex_unlock(&m.mx);
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */
/* ------------------------------------------------------------------------ */

struct worker {
	int id;
	uint64_t rng;
	struct mb_extent held[MAXEXT];
	int nheld;
	int ops;
};

static uint64_t begin_alloc(struct worker *w)
{
	pthread_mutex_lock(&m.mx);
	uint64_t t0 = tick_locked();

	m.inflight[w->id] = t0;
	pthread_mutex_unlock(&m.mx);
	return t0;
}

/* Publishes the extents a call returned; returns t1 (call end). */
static uint64_t end_alloc(struct worker *w, uint64_t t0, const struct mb_extent *ex, int n)
{
	pthread_mutex_lock(&m.mx);
	for (int i = 0; i < n; i++) {
		if (ex[i].start < geo.first_data_block || ex[i].start + ex[i].len > NBLOCKS) {
			violation("extent outside the volume", ex[i].start, ex[i].len);
			continue;
		}
		for (uint64_t b = ex[i].start; b < ex[i].start + ex[i].len; b++) {
			if (m.used[b])
				violation("double allocation", b, ex[i].len);
			m.used[b] = 1;
			m.alloc_start[b] = t0;
		}
		if (w->nheld < MAXEXT)
			w->held[w->nheld++] = ex[i];
	}
	m.inflight[w->id] = 0;
	m.ops++;
	uint64_t t1 = tick_locked();

	pthread_mutex_unlock(&m.mx);
	return t1;
}

static void check_extent(const struct mb_extent *e, const struct mb_constraint *c, bool last)
{
	uint32_t a = align_of(c), min = c->min_len ? c->min_len : a;

	if (e->start % a || e->len % a || (!last && e->len < min) ||
	    (c->max_len && e->len > c->max_len) || !e->len)
		violation("constraint not satisfied (start, len)", e->start, e->len);
}

static void op_constrained(struct worker *w, const struct mb_constraint *c)
{
	uint32_t a = align_of(c), min = c->min_len ? c->min_len : a;
	struct mb_request rq = { .goal = MB_GOAL_NONE,
				 .len = min + (uint32_t)mb_rand_below(&w->rng, 40) };
	struct mb_extent ex;

	if (mb_rand_below(&w->rng, 2))
		rq.goal = mb_rand_below(&w->rng, NBLOCKS);
	uint64_t t0 = begin_alloc(w);
	int err = mb_alloc_constrained(vol, &rq, c, &ex);
	uint64_t t1 = end_alloc(w, t0, &ex, err ? 0 : 1);

	if (err == -ENOSPC)
		judge_enospc(w->id, 1, c, 0, 1, t0, t1);
	else if (err)
		violation("mb_alloc_constrained error", (uint64_t)-err, 0);
	else
		check_extent(&ex, c, false);
}

static void op_vec(struct worker *w, const struct mb_constraint *c)
{
	uint32_t a = align_of(c), min = c->min_len ? c->min_len : a;
	uint32_t n = 1 + (uint32_t)mb_rand_below(&w->rng, 4);
	uint32_t vf = mb_rand_below(&w->rng, 6) == 0 ? MB_VEC_ALL : 0;
	uint64_t len = (min + mb_rand_below(&w->rng, 100)) / a * a;
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = (uint32_t)len };
	struct mb_extent ex[4];

	if (len < min)
		return;
	uint64_t t0 = begin_alloc(w);
	int got = mb_alloc_vec(vol, &rq, c, vf, ex, n);
	uint64_t t1 = end_alloc(w, t0, ex, got > 0 ? got : 0);

	if (got == -ENOSPC) {
		if (vf) {
			pthread_mutex_lock(&m.mx);
			m.allring[m.nall++ % NALLRING].s = t0;
			m.allring[(m.nall - 1) % NALLRING].e = t1;
			pthread_mutex_unlock(&m.mx);
		}
		judge_enospc(w->id, vf ? 2 : 1, c, len, n, t0, t1);
		return;
	}
	if (got <= 0 || (uint32_t)got > n) {
		violation("mb_alloc_vec result", (uint64_t)-got, n);
		return;
	}
	uint64_t sum = 0;

	for (int i = 0; i < got; i++) {
		sum += ex[i].len;
		check_extent(&ex[i], c, i == got - 1 && sum == len);
		if (ex[i].logical != sum - ex[i].len)
			violation("vector logical", ex[i].logical, sum - ex[i].len);
	}
	if (sum > len || (vf && sum != len))
		violation("vector length (sum, len)", sum, len);
}

static void op_plain(struct worker *w)
{
	struct mb_request rq = { .goal = MB_GOAL_NONE,
				 .len = 1 + (uint32_t)mb_rand_below(&w->rng, 20) };
	struct mb_extent ex;
	uint64_t t0 = begin_alloc(w);
	int err = mb_alloc(vol, &rq, &ex);
	uint64_t t1 = end_alloc(w, t0, &ex, err ? 0 : 1);

	if (err == -ENOSPC)
		judge_enospc(w->id, 0, NULL, 0, 1, t0, t1);
	else if (err)
		violation("mb_alloc error", (uint64_t)-err, 0);
}

/* Frees one held extent, or a piece of it (the rest stays held). */
static void op_free(struct worker *w)
{
	if (!w->nheld)
		return;
	int i = (int)mb_rand_below(&w->rng, (uint64_t)w->nheld);
	struct mb_extent e = w->held[i];
	uint64_t part = e.len > 1 && mb_rand_below(&w->rng, 3) == 0 ? e.len / 2 : e.len;

	pthread_mutex_lock(&m.mx);
	for (uint64_t b = e.start; b < e.start + part; b++) {
		m.used[b] = 0;
		m.freeing[b] = 1;
	}
	pthread_mutex_unlock(&m.mx);
	int err = mb_free(vol, e.start, part);

	pthread_mutex_lock(&m.mx);
	uint64_t t = tick_locked();

	for (uint64_t b = e.start; b < e.start + part; b++) {
		m.freeing[b] = 0;
		m.free_end[b] = t;
	}
	if (err)
		violation("mb_free error", (uint64_t)-err, e.start);
	pthread_mutex_unlock(&m.mx);
	if (part == e.len) {
		w->held[i] = w->held[--w->nheld];
	} else {
		w->held[i].start += part;
		w->held[i].len -= (uint32_t)part;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->ops; i++) {
		uint64_t r = mb_rand_below(&w->rng, 100);
		const struct mb_constraint *c = &table[mb_rand_below(&w->rng, NCONS)];

		/* nearly full: free a bit more often once past 90% */
		if (r < 30 || (r < 45 && mb_free_blocks(vol) < NBLOCKS / 10))
			op_free(w);
		else if (r < 65)
			op_constrained(w, c);
		else if (r < 90)
			op_vec(w, c);
		else
			op_plain(w);
	}
	return NULL;
}

TEST(differential_under_threads)
{
	static struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	int ops = (int)(20000 * mb_test_scale);

	memset(&m, 0, sizeof(m));
	pthread_mutex_init(&m.mx, NULL);
	ASSERT_EQ_INT(mb_volume_create(&geo, &vol), 0);
	for (uint64_t b = 0; b < NBLOCKS; b += geo.blocks_per_group)
		m.used[b] = 1; /* metadata: never free */
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .id = i, .rng = mb_test_seed + (uint64_t)i * 7919,
					.ops = ops };
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	printf("ops %" PRIu64 ", ENOSPC %" PRIu64 " (judged %" PRIu64 ", skipped %" PRIu64
	       "), violations %" PRIu64 "\n",
	       m.ops, m.enospc, m.checked, m.skipped, m.violations);
	/* quiescent, no reservations: every free block is claimable again (a
	   claim never settled, or settled short, would leave avail below) */
	struct mb_statfs st;

	ASSERT_EQ_INT(mb_statfs(vol, &st), 0);
	ASSERT_EQ_U64(st.avail, st.free);
	ASSERT_EQ_U64(m.violations, 0);
	ASSERT_TRUE(m.checked > 0); /* the ENOSPC path was judged */
	ASSERT_CHECK_CLEAN(vol);
	uint64_t used = 0;

	for (int i = 0; i < NTHREADS; i++)
		for (int j = 0; j < w[i].nheld; j++) {
			ASSERT_EQ_INT(mb_free(vol, w[i].held[j].start, w[i].held[j].len), 0);
			used += w[i].held[j].len;
		}
	ASSERT_TRUE(used > 0);
	ASSERT_EQ_U64(mb_free_blocks(vol), NBLOCKS - NBLOCKS / geo.blocks_per_group);
	ASSERT_CHECK_CLEAN(vol);
	mb_volume_destroy(vol);
	pthread_mutex_destroy(&m.mx);
}
