/* SPDX-License-Identifier: MIT */
/*
 * test_random.c - seeded differential test of mb_alloc / mb_free against a
 * naive per-block oracle, over several geometries.  Files with
 * preallocation and owner-less requests, random lengths, goals and hints,
 * frees of whole and partial live extents, discards, close and reopen.
 *
 * Checked on every operation: each extent lies in the volume, was free in
 * the oracle (so it overlaps no live extent) and holds no metadata;
 * mb_free_blocks() (on-disk terms: unused preallocated blocks count as
 * free) equals the oracle's free count; -ENOSPC only when the oracle has no
 * free block (the allocator discards preallocations itself before giving
 * up).  At checkpoints: buddy-free + what mb_discard_all() releases ==
 * oracle free, and after the discard buddy-free alone equals it; mb_check()
 * is clean.  Prints the library's single-thread alloc+free rate.
 *
 * The default run is about 10^6 operations; --scale N multiplies it.
 */
#include <string.h>
#include <time.h>

#include "harness.h"
#include "mb_test_int.h"

#define NFILES 6
#define CHECK_EVERY 5000
#define CHECKPOINT_EVERY 20000

enum { B_FREE = 0, B_USED = 1, B_META = 2 };

struct live {
	uint64_t start;
	uint32_t len;
};

struct model {
	struct mb_volume *vol;
	struct mb_geometry geo;
	uint8_t *state; /* per block; blocks before first_data_block are B_META */
	uint64_t nfree, data_blocks;
	struct live *ext;
	size_t n, cap;
	struct mb_file *files[NFILES];
	uint64_t next_logical[NFILES], last_end[NFILES], next_ino;
	uint64_t rng;
	double target; /* fill fraction the op mix steers towards */
	/* counts for the summary line */
	uint64_t allocs, frees, enospc, enospc_full, checkpoints, lib_ops;
	double lib_seconds;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                     */
/* ------------------------------------------------------------------------ */

static bool model_init(struct model *m, const struct mb_geometry *geo, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	m->rng = seed;
	m->target = 0.5;
	if (mb_volume_create(geo, &m->vol))
		return false;
	mb_volume_geometry(m->vol, &m->geo);
	m->state = malloc(m->geo.blocks_count);
	if (!m->state)
		return false;
	memset(m->state, B_META, m->geo.first_data_block);
	for (uint64_t b = m->geo.first_data_block; b < m->geo.blocks_count; b++) {
		uint64_t off = (b - m->geo.first_data_block) % m->geo.blocks_per_group;

		m->state[b] = off < m->geo.reserved_per_group ? B_META : B_FREE;
		m->nfree += m->state[b] == B_FREE;
	}
	m->data_blocks = m->nfree;
	for (int i = 0; i < NFILES; i++)
		if (mb_file_open(m->vol, ++m->next_ino, &m->files[i]))
			return false;
	return true;
}

static void model_destroy(struct model *m)
{
	for (int i = 0; i < NFILES; i++)
		if (m->files[i])
			mb_file_close(m->files[i]);
	mb_volume_destroy(m->vol);
	free(m->state);
	free(m->ext);
}

static void live_push(struct model *m, uint64_t start, uint32_t len)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 1024;
		m->ext = realloc(m->ext, m->cap * sizeof(*m->ext));
	}
	m->ext[m->n++] = (struct live){start, len};
}

/* ------------------------------------------------------------------------ */
/* Allocation                                                                */
/* ------------------------------------------------------------------------ */

static uint32_t random_flags(struct model *m, bool *goal_only)
{
	static const uint32_t hints[] = {MB_HINT_TRY_GOAL, MB_HINT_MERGE, MB_HINT_FIRST,
					 MB_HINT_NOPREALLOC};
	uint32_t f = 0;

	for (int i = 0; i < 4; i++)
		if (mb_rand_below(&m->rng, 3) == 0)
			f |= hints[i];
	*goal_only = mb_rand_below(&m->rng, 40) == 0;
	return *goal_only ? f | MB_HINT_GOAL_ONLY : f;
}

static void random_request(struct model *m, struct mb_request *rq, int *fi, bool *goal_only)
{
	uint64_t span = m->geo.blocks_count - m->geo.first_data_block;

	memset(rq, 0, sizeof(*rq));
	*fi = mb_rand_below(&m->rng, 5) < 3 ? (int)mb_rand_below(&m->rng, NFILES) : -1;
	rq->len = 1 + (uint32_t)mb_rand_below(&m->rng, mb_rand_below(&m->rng, 2) ? 16 : 300);
	rq->flags = random_flags(m, goal_only);
	rq->goal = m->geo.first_data_block + mb_rand_below(&m->rng, span);
	if (mb_rand_below(&m->rng, 4) == 0)
		rq->goal = MB_GOAL_NONE;
	if (*fi < 0)
		return;
	rq->file = m->files[*fi];
	rq->logical = m->next_logical[*fi];
	if (mb_rand_below(&m->rng, 10) == 0)
		rq->logical = mb_rand_below(&m->rng, 1u << 20); /* a sparse write */
	if (m->last_end[*fi] && m->last_end[*fi] < m->geo.blocks_count && mb_rand_below(&m->rng, 2))
		rq->goal = m->last_end[*fi]; /* ext4: goal = after the previous extent */
}

/* The extent came from free, non-metadata blocks inside the volume. */
static bool extent_valid(struct model *m, const struct mb_request *rq, const struct mb_extent *ex)
{
	if (ex->len < 1 || ex->len > rq->len || ex->len > m->geo.blocks_per_group ||
	    ex->start < m->geo.first_data_block || ex->start + ex->len > m->geo.blocks_count ||
	    ex->logical != rq->logical) {
		mb_test_fail(__FILE__, __LINE__,
			     "extent %llu+%u (logical %llu) for len %u: out of bounds",
			     (unsigned long long)ex->start, ex->len,
			     (unsigned long long)ex->logical, rq->len);
		return false;
	}
	for (uint64_t b = ex->start; b < ex->start + ex->len; b++) {
		if (m->state[b] != B_FREE) {
			mb_test_fail(__FILE__, __LINE__, "extent %llu+%u: block %llu is %s",
				     (unsigned long long)ex->start, ex->len, (unsigned long long)b,
				     m->state[b] == B_META ? "metadata" : "already allocated");
			return false;
		}
	}
	/* GOAL_ONLY without a goal is an ordinary request */
	if ((rq->flags & MB_HINT_GOAL_ONLY) && rq->goal != MB_GOAL_NONE && ex->start != rq->goal) {
		mb_test_fail(__FILE__, __LINE__, "GOAL_ONLY at %llu gave %llu",
			     (unsigned long long)rq->goal, (unsigned long long)ex->start);
		return false;
	}
	return true;
}

static bool do_alloc(struct model *m)
{
	struct mb_request rq;
	struct mb_extent ex;
	bool goal_only;
	int fi;

	random_request(m, &rq, &fi, &goal_only);
	double t = now();
	int err = mb_alloc(m->vol, &rq, &ex);

	m->lib_seconds += now() - t;
	m->lib_ops++;
	if (err == -ENOSPC) {
		m->enospc++;
		m->enospc_full += m->nfree == 0;
		if ((goal_only && rq.goal != MB_GOAL_NONE) || m->nfree == 0)
			return true;
		mb_test_fail(__FILE__, __LINE__,
			     "-ENOSPC for len %u flags %#x goal %llu file %d with %llu blocks free",
			     rq.len, rq.flags, (unsigned long long)rq.goal, fi,
			     (unsigned long long)m->nfree);
		return false;
	}
	if (err) {
		mb_test_fail(__FILE__, __LINE__, "mb_alloc: %d", err);
		return false;
	}
	if (!extent_valid(m, &rq, &ex))
		return false;
	memset(m->state + ex.start, B_USED, ex.len);
	m->nfree -= ex.len;
	live_push(m, ex.start, ex.len);
	m->allocs++;
	if (fi >= 0) {
		m->next_logical[fi] = rq.logical + ex.len;
		m->last_end[fi] = ex.start + ex.len;
		if (mb_rand_below(&m->rng, 8) == 0)
			mb_file_set_size(m->files[fi], m->next_logical[fi]);
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* Free, discard, reopen                                                     */
/* ------------------------------------------------------------------------ */

static bool lib_free(struct model *m, uint64_t start, uint64_t len, int want)
{
	double t = now();
	int err = mb_free(m->vol, start, len);

	m->lib_seconds += now() - t;
	m->lib_ops++;
	if (err != want) {
		mb_test_fail(__FILE__, __LINE__, "mb_free(%llu, %llu) = %d, want %d",
			     (unsigned long long)start, (unsigned long long)len, err, want);
		return false;
	}
	return true;
}

/* Frees a random live extent, whole or a piece of it (the rest stays live). */
static bool do_free(struct model *m)
{
	if (!m->n)
		return true;
	size_t i = mb_rand_below(&m->rng, m->n);
	struct live e = m->ext[i];
	uint32_t off = 0, len = e.len;

	if (e.len > 1 && mb_rand_below(&m->rng, 4) == 0) {
		off = (uint32_t)mb_rand_below(&m->rng, e.len);
		len = 1 + (uint32_t)mb_rand_below(&m->rng, e.len - off);
	}
	if (!lib_free(m, e.start + off, len, 0))
		return false;
	memset(m->state + e.start + off, B_FREE, len);
	m->nfree += len;
	m->frees++;
	m->ext[i] = m->ext[--m->n];
	if (off)
		live_push(m, e.start, off);
	if (off + len < e.len)
		live_push(m, e.start + off + len, e.len - off - len);
	/* Now and then the same range again: a double free changes nothing. */
	if (mb_rand_below(&m->rng, 50) == 0)
		return lib_free(m, e.start + off, len, -EEXIST);
	return true;
}

static void do_file_op(struct model *m)
{
	int fi = (int)mb_rand_below(&m->rng, NFILES);

	if (mb_rand_below(&m->rng, 3)) {
		mb_file_discard(m->files[fi]);
		return;
	}
	/* close and reopen as a new file; its blocks stay allocated */
	mb_file_close(m->files[fi]);
	m->files[fi] = NULL;
	if (mb_file_open(m->vol, ++m->next_ino, &m->files[fi]))
		mb_test_fail(__FILE__, __LINE__, "mb_file_open failed");
	m->next_logical[fi] = m->last_end[fi] = 0;
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                    */
/* ------------------------------------------------------------------------ */

static uint64_t buddy_free_sum(struct mb_volume *vol)
{
	uint64_t sum = 0;

	for (uint32_t g = 0; g < mb_groups_count(vol); g++) {
		struct mb_group_stat st;

		mb_group_stat(vol, g, &st);
		sum += st.free;
	}
	return sum;
}

/* Buddy terms + preallocated == oracle; after a full discard, buddy alone. */
static bool checkpoint(struct model *m)
{
	uint64_t before = buddy_free_sum(m->vol);
	int64_t released = mb_discard_all(m->vol);
	uint64_t after = buddy_free_sum(m->vol);

	m->checkpoints++;
	if (released < 0 || before + (uint64_t)released != m->nfree || after != m->nfree ||
	    mb_free_blocks(m->vol) != m->nfree) {
		mb_test_fail(__FILE__, __LINE__,
			     "checkpoint: buddy free %llu + discarded %lld, then %llu; volume "
			     "%llu; oracle %llu",
			     (unsigned long long)before, (long long)released,
			     (unsigned long long)after, (unsigned long long)mb_free_blocks(m->vol),
			     (unsigned long long)m->nfree);
		return false;
	}
	return true;
}

static bool check_clean(struct model *m, uint64_t op)
{
	static char buf[4096];
	int n = mb_check(m->vol, buf, sizeof(buf));

	if (n)
		mb_test_fail(__FILE__, __LINE__, "op %llu: mb_check: %d problems:\n%s",
			     (unsigned long long)op, n, buf);
	return !n;
}

/* ------------------------------------------------------------------------ */
/* The run                                                                   */
/* ------------------------------------------------------------------------ */

/* Steers between half-empty and full, so ENOSPC and near-full scans happen. */
static bool one_op(struct model *m, uint64_t op)
{
	static const double targets[] = {0.2, 0.5, 0.8, 0.95, 1.01};
	double used = 1.0 - (double)m->nfree / (double)m->data_blocks;
	uint64_t r = mb_rand_below(&m->rng, 1000);

	/* long enough for a big volume to fill up at the "full" target */
	if (op % (m->data_blocks / 20 > 3000 ? m->data_blocks / 20 : 3000) == 0)
		m->target = targets[mb_rand_below(&m->rng, 5)];
	if (r < 5) {
		do_file_op(m);
		return !mb_test_failed;
	}
	if (r < 5 + (used < m->target ? 800 : 300))
		return do_alloc(m);
	return do_free(m);
}

static void run_geometry(const struct mb_test_geo *tg, uint64_t ops, uint64_t seed,
			 double *lib_seconds, uint64_t *lib_ops)
{
	struct model m;

	ASSERT_TRUE(model_init(&m, &tg->geo, seed));
	for (uint64_t op = 1; op <= ops; op++) {
		if (!one_op(&m, op))
			break;
		if (mb_free_blocks(m.vol) != m.nfree) {
			mb_test_fail(
			    __FILE__, __LINE__, "%s op %llu: mb_free_blocks %llu, oracle %llu",
			    tg->name, (unsigned long long)op,
			    (unsigned long long)mb_free_blocks(m.vol), (unsigned long long)m.nfree);
			break;
		}
		if ((op % CHECK_EVERY == 0 && !check_clean(&m, op)) ||
		    (op % CHECKPOINT_EVERY == 0 && !checkpoint(&m)))
			break;
	}
	if (!mb_test_failed && check_clean(&m, ops))
		checkpoint(&m);
	printf("  %-10s %8llu ops: %llu allocs, %llu frees, %llu ENOSPC (%llu volume full), "
	       "%llu checkpoints\n",
	       tg->name, (unsigned long long)ops, (unsigned long long)m.allocs,
	       (unsigned long long)m.frees, (unsigned long long)m.enospc,
	       (unsigned long long)m.enospc_full, (unsigned long long)m.checkpoints);
	*lib_seconds += m.lib_seconds;
	*lib_ops += m.lib_ops;
	model_destroy(&m);
}

TEST(random_vs_oracle)
{
	uint64_t total = (uint64_t)(1000000 * mb_test_scale), lib_ops = 0;
	uint64_t per_geo = total / (uint64_t)mb_test_ngeos + 1;
	double lib_seconds = 0, t0 = now();

	for (int gi = 0; gi < mb_test_ngeos && !mb_test_failed; gi++)
		run_geometry(&mb_test_geos[gi], per_geo, mb_test_seed + (uint64_t)gi, &lib_seconds,
			     &lib_ops);
	printf("  single-thread alloc+free: %.0f ops/s inside the library (%llu calls), "
	       "%.0f ops/s with the oracle\n",
	       lib_seconds > 0 ? (double)lib_ops / lib_seconds : 0.0, (unsigned long long)lib_ops,
	       (double)(per_geo * (uint64_t)mb_test_ngeos) / (now() - t0));
}
