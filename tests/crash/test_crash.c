/* SPDX-License-Identifier: MIT */
/*
 * test_crash.c - power cuts at every write of seeded workloads.
 *
 * Each workload (random allocations through files with inode PAs, plain
 * allocations, partial frees, commits; the volume is small enough that the
 * allocator must force commits to reuse freed space) first runs to the end
 * on the crash shim to count its device writes W.  Then it is replayed with
 * the power cut at write N for every N in 1..W: each write not yet synced
 * is kept, dropped or torn at 512-byte sectors.  The surviving image must
 * open, pass mb_volume_verify (every bitmap read and checked, mb_check),
 * and hold exactly the allocation state of the last durable commit or of
 * the commit that was in flight -- nothing in between, nothing later.
 * During the run, no allocation may return a block whose free is not
 * durable yet.  The default run cuts power at >= 1000 points; the long
 * variant (--scale 10) at >= 10000; sanitizer builds (--scale 0.15) at
 * >= 150, with 100-operation workloads instead of 160.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mb_test_int.h"

#define NBLK (12 * 128)
static const struct mb_geometry crash_geo = {
	.block_size = 1024, .blocks_per_group = 128, .blocks_count = NBLK,
	.first_data_block = 0, .reserved_per_group = 20,
};
static const struct mb_open_opts no_thread = { .commit_interval_s = 0 };

#define MAX_EXT 512
struct model {
	uint8_t cur[NBLK];     /* allocated now (what a snapshot would record) */
	uint8_t durable[NBLK]; /* as of the last commit that returned 0 */
	uint8_t inflight[NBLK]; /* as of the commit running when power was cut */
	uint8_t unsafe[NBLK];  /* freed, free not durable: must not be reused */
	bool cut_in_commit;
	struct { uint64_t start; uint32_t len; } ext[MAX_EXT];
	int next;
};

struct run_stats {
	uint64_t points, runs_no_cut, matched_durable, matched_inflight, kept, dropped, torn;
	uint64_t forced_commits;
};

static struct mb_volume *g_vol;

static void model_commit_done(struct model *m)
{
	memcpy(m->durable, m->cur, NBLK);
	memset(m->unsafe, 0, NBLK);
}

/* One allocation; fails the test on a double allocation or unsafe reuse. */
static int do_alloc(struct model *m, struct mb_dev *dev, struct mb_file *f, uint64_t *rng)
{
	struct mb_request rq = { .file = f, .len = 1 + (uint32_t)mb_rand_below(rng, 24),
				 .logical = mb_rand_below(rng, 4096) };
	struct mb_extent ex;

	rq.goal = mb_rand_below(rng, 3) ? MB_GOAL_NONE : mb_rand_below(rng, NBLK);
	if (!f)
		rq.flags = MB_HINT_NOPREALLOC;
	uint64_t seq0 = mb_persist_of(g_vol)->sb.seq;
	memcpy(m->inflight, m->cur, NBLK); /* a forced commit would snapshot this */
	int err = mb_alloc(g_vol, &rq, &ex);

	if (mb_persist_of(g_vol)->sb.seq != seq0)
		model_commit_done(m); /* forced, durable, before the extent was taken */
	if (mb_dev_crashed(dev)) {
		m->cut_in_commit = true;
		return -EIO;
	}
	if (err)
		return err == -ENOSPC ? 0 : err;
	for (uint32_t i = 0; i < ex.len; i++) {
		if (m->cur[ex.start + i] || m->unsafe[ex.start + i])
			return -EEXIST;
		m->cur[ex.start + i] = 1;
	}
	if (m->next < MAX_EXT)
		m->ext[m->next++] = (typeof(m->ext[0])){ ex.start, ex.len };
	return 0;
}

/* Frees a random piece (head, tail or all) of a random extent. */
static int do_free(struct model *m, uint64_t *rng)
{
	if (!m->next)
		return 0;
	int i = (int)mb_rand_below(rng, (uint64_t)m->next);
	uint64_t s = m->ext[i].start;
	uint32_t len = m->ext[i].len, n = 1 + (uint32_t)mb_rand_below(rng, len);
	bool head = mb_rand_below(rng, 2);
	uint64_t fs = head ? s : s + len - n;

	int err = mb_free(g_vol, fs, n);
	if (err)
		return err;
	for (uint32_t k = 0; k < n; k++) {
		m->cur[fs + k] = 0;
		m->unsafe[fs + k] = 1;
	}
	if (n == len)
		m->ext[i] = m->ext[--m->next];
	else if (head)
		m->ext[i] = (typeof(m->ext[0])){ s + n, len - n };
	else
		m->ext[i].len = len - n;
	return 0;
}

/*
 * The workload: `ops` operations, a commit every few.  Stops at the power
 * cut.  Returns 0, or -errno on an unexpected error, -EEXIST on a
 * double allocation / unsafe reuse.
 */
static int workload(struct model *m, struct mb_dev *dev, uint64_t seed, int ops)
{
	uint64_t rng = seed;
	struct mb_file *files[4];
	int err = 0;

	for (int i = 0; i < 4; i++)
		mb_file_open(g_vol, 100 + (uint64_t)i, &files[i]);
	for (int op = 0; op < ops && !err && !mb_dev_crashed(dev); op++) {
		uint64_t r = mb_rand_below(&rng, 100);

		if (r < 50) {
			err = do_alloc(m, dev, r < 30 ? files[r % 4] : NULL, &rng);
		} else if (r < 85) {
			err = do_free(m, &rng);
		} else if (r < 88) {
			mb_file_discard(files[r % 4]);
		} else {
			memcpy(m->inflight, m->cur, NBLK);
			err = mb_commit(g_vol);
			if (!err)
				model_commit_done(m);
			else if (mb_dev_crashed(dev))
				m->cut_in_commit = true, err = 0;
		}
		if (err == -EIO && mb_dev_crashed(dev))
			err = 0;
	}
	for (int i = 0; i < 4; i++)
		mb_file_close(files[i]);
	return err;
}

static struct mb_dev *formatted;

static int start(struct mb_dev **dev)
{
	int err = mb_dev_crash_open(mb_dev_memory_data(formatted), formatted->size, dev);

	if (!err)
		err = mb_volume_open_dev(*dev, &no_thread, &g_vol);
	if (!err)
		err = mb_tunable_set(g_vol, "mb_group_prealloc", 0); /* no per-CPU state */
	return err;
}

/* The reopened image must equal exactly one of the two candidate states. */
static int verify_image(struct mb_dev *img, struct model *m, struct run_stats *st, char *why,
			size_t whylen)
{
	struct mb_volume *vol;
	static char report[4096];
	int err = mb_volume_open_dev(img, &no_thread, &vol);

	if (err) {
		snprintf(why, whylen, "reopen failed: %d", err);
		mb_dev_close(img);
		return 1;
	}
	int n = mb_volume_verify(vol, report, sizeof(report));
	bool eq_d = true, eq_i = m->cut_in_commit;
	uint64_t free_d = 0, free_i = 0;

	for (uint64_t b = 0; b < NBLK; b++) {
		struct mb_group *grp = mb_group_at(vol, mb_block_group(vol, b));
		uint32_t off = mb_block_offset(vol, b);

		if (off < crash_geo.reserved_per_group)
			continue;
		bool used = mb_test_bit(grp->bb_disk, off);
		eq_d &= used == m->durable[b];
		eq_i &= used == m->inflight[b];
		free_d += !m->durable[b];
		free_i += !m->inflight[b];
	}
	uint64_t fb = mb_free_blocks(vol);
	int bad = n != 0 || !(eq_d || eq_i) || fb != (eq_d ? free_d : free_i);

	if (n)
		snprintf(why, whylen, "verify: %d problems:\n%s", n, report);
	else if (bad)
		snprintf(why, whylen, "state matches neither the durable (%d) nor the in-flight "
			 "(%d) commit; free %llu", eq_d, eq_i, (unsigned long long)fb);
	st->matched_durable += eq_d;
	st->matched_inflight += !eq_d && eq_i;
	/* the recovered volume keeps working */
	if (!bad) {
		struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 3, .flags = MB_HINT_NOPREALLOC };
		struct mb_extent ex;

		if (mb_alloc(vol, &rq, &ex) == 0 && mb_free(vol, ex.start, ex.len))
			bad = 1, snprintf(why, whylen, "free after recovery failed");
		if (!bad && mb_volume_close(vol))
			bad = 1, snprintf(why, whylen, "close after recovery failed");
	} else {
		mb_volume_destroy(vol);
	}
	return bad;
}

/* One power cut: run with the cut at write `cut`, rebuild, verify. */
static int one_cut(uint64_t seed, int ops, uint64_t cut, struct run_stats *st, char *why,
		   size_t whylen)
{
	static struct model m;
	struct mb_dev *dev, *img;
	struct mb_crash_fates f;

	memset(&m, 0, sizeof(m));
	if (start(&dev)) {
		snprintf(why, whylen, "open failed");
		return 1;
	}
	mb_dev_crash_arm(dev, cut);
	int err = workload(&m, dev, seed, ops);

	if (err) {
		snprintf(why, whylen, "workload error %d", err);
		mb_volume_destroy(g_vol);
		return 1;
	}
	if (!mb_dev_crashed(dev)) {
		st->runs_no_cut++;
		mb_volume_destroy(g_vol);
		return 0;
	}
	st->points++;
	mb_dev_crash_image(dev, seed ^ (cut * 0x9E3779B97F4A7C15ULL), &f, &img);
	st->kept += f.kept;
	st->dropped += f.dropped;
	st->torn += f.torn;
	mb_volume_destroy(g_vol); /* closes dev */
	return verify_image(img, &m, st, why, whylen);
}

TEST(power_cuts)
{
	struct run_stats st = { 0 };
	uint64_t target = (uint64_t)(1000 * mb_test_scale);
	/* the cuts of one workload cost its writes squared: a scaled-down run
	   (sanitizers) takes shorter ones, which still force commits */
	int ops = mb_test_scale < 1 ? 100 : 160, failures = 0;
	char why[4600];

	ASSERT_EQ_INT(mb_dev_open_memory(NULL, NBLK * 1024, false, &formatted), 0);
	ASSERT_EQ_INT(mb_volume_format_dev(formatted, &crash_geo, NULL), 0);
	for (uint64_t w = 0; st.points < target && failures < 5; w++) {
		uint64_t seed = mb_test_seed + w;
		struct mb_dev *dev;
		static struct model m;

		memset(&m, 0, sizeof(m));
		ASSERT_EQ_INT(start(&dev), 0);
		uint64_t w0 = atomic_load(&dev->writes);
		ASSERT_EQ_INT(workload(&m, dev, seed, ops), 0);
		uint64_t writes = atomic_load(&dev->writes) - w0;
		mb_volume_destroy(g_vol);
		for (uint64_t cut = 1; cut <= writes && failures < 5; cut++) {
			if (one_cut(seed, ops, cut, &st, why, sizeof(why))) {
				failures++;
				fprintf(stderr, "FAIL seed %llu cut at write %llu: %s\n",
					(unsigned long long)seed, (unsigned long long)cut, why);
			}
		}
	}
	mb_dev_close(formatted);
	printf("power cuts: %llu points (%llu matched the durable commit, %llu the in-flight "
	       "one), %llu runs ended before the cut; unsynced writes kept %llu, dropped %llu, "
	       "torn %llu; failures %d\n",
	       (unsigned long long)st.points, (unsigned long long)st.matched_durable,
	       (unsigned long long)st.matched_inflight, (unsigned long long)st.runs_no_cut,
	       (unsigned long long)st.kept, (unsigned long long)st.dropped,
	       (unsigned long long)st.torn, failures);
	ASSERT_EQ_INT(failures, 0);
	ASSERT_TRUE(st.points >= target);
	ASSERT_TRUE(st.matched_inflight > 0 && st.matched_durable > 0);
}
