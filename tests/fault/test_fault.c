/* SPDX-License-Identifier: MIT */
/*
 * test_fault.c - I/O faults at every system call of a workload on the
 * file backend.
 *
 * The workload formats a small volume in a file, opens it, allocates
 * (through files with inode PAs and without) and frees, commits, stops
 * without closing (as a crash would), reopens (replaying the journal),
 * works and commits again, and closes.  A first run counts its system
 * calls C (fault_inject.c wraps them).  Then for every N in 1..C and each
 * mode -- EIO once, EIO from call N on, a short transfer once, a write
 * torn (its first sectors land) and failed with EIO -- the workload is
 * replayed from scratch with the fault at call N.  Checked:
 *   - nothing crashes (ASan/UBSan builds: no sanitizer report);
 *   - a failed write or sync is reported by some call (format, open,
 *     commit or close), never swallowed; after a failed commit every later
 *     commit of that session fails too (the sticky error);
 *   - no call claims what is not durable: the image, reopened without
 *     faults, passes mb_volume_verify and every group is exactly as of the
 *     last commit that returned 0 or, after a failed commit, as that
 *     commit would have left it (a commit may be split per group, see
 *     mballoc.h); so an extent allocated before the last successful commit
 *     is allocated and a free it recorded is free;
 *   - no block is handed out twice, and no freed block is reused before a
 *     commit recording its free has succeeded.
 * A failed fdatasync also undoes the writes since the last good one (see
 * fault_inject.h), so an ignored sync error shows in what reopens.
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault_inject.h"
#include "harness.h"
#include "mb_test_int.h"

#define BPG 128
#define NGROUPS 6
#define NBLK (BPG * NGROUPS)
#define RSV 16
static const struct mb_geometry fault_geo = {
	.block_size = 1024, .blocks_per_group = BPG, .blocks_count = NBLK,
	.first_data_block = 0, .reserved_per_group = RSV,
};
/* A small journal: a commit of many groups is split into transactions. */
static const struct mb_open_opts fmt_opts = { .journal_blocks = 8 };
static const struct mb_open_opts no_thread = { .commit_interval_s = 0 };

#define MAX_EXT 256
struct model {
	bool formatted;         /* format returned 0 */
	uint8_t cur[NBLK];      /* allocated now, as far as the API told us */
	uint8_t durable[NBLK];  /* as of the last commit that returned 0 */
	uint8_t inflight[NBLK]; /* as of the first failed commit since then */
	bool failed;            /* a commit failed since `durable` */
	uint8_t unsafe[NBLK];   /* freed, the free not durable: must not be reused */
	uint8_t unsafe_at_fail[NBLK]; /* unsafe when the failed commit snapshotted */
	bool pinned[NGROUPS];   /* reused a free of the failed commit: the group's
				   transaction of it was durable (a split commit) */
	struct { uint64_t start; uint32_t len; } ext[MAX_EXT];
	int next;
	int errors;             /* calls that reported an error */
	char why[4600];         /* the first violation */
};

struct tally {
	uint64_t runs, fired, reported, matched_inflight, sticky_checked;
};

static char img_path[256];
static int session_ops = 60; /* 60 * --scale: runs x their length grow as its square */

#define VIOLATION(m, ...)                                                                          \
	do {                                                                                       \
		if (!(m)->why[0])                                                                  \
			snprintf((m)->why, sizeof((m)->why), __VA_ARGS__);                         \
	} while (0)

static bool data_block(uint64_t b)
{
	return b % BPG >= RSV;
}

static void model_durable(struct model *m, const uint8_t *state)
{
	memcpy(m->durable, state, NBLK);
	memset(m->unsafe, 0, NBLK);
	memset(m->pinned, 0, sizeof(m->pinned));
	m->failed = false;
}

static void model_failed(struct model *m, const uint8_t *state)
{
	if (!m->failed) {
		memcpy(m->inflight, state, NBLK);
		memcpy(m->unsafe_at_fail, m->unsafe, NBLK);
	}
	m->failed = true;
}

/*
 * Reads the volume's allocation state (faults paused) and checks that each
 * group is as of the durable or the in-flight commit.  Returns false and
 * records why otherwise.
 */
static bool read_state(struct mb_volume *vol, struct model *m, uint8_t *state, bool *inflight)
{
	uint64_t free_blocks = 0;

	*inflight = false;
	for (uint64_t b = 0; b < NBLK; b++) {
		if (!data_block(b))
			continue;
		int64_t n = mb_allocated_blocks(vol, b, 1);

		if (n < 0) {
			VIOLATION(m, "mb_allocated_blocks(%llu) = %lld", (unsigned long long)b,
				  (long long)n);
			return false;
		}
		state[b] = (uint8_t)n;
		free_blocks += !n;
	}
	for (uint64_t g = 0; g < NGROUPS; g++) {
		uint64_t s = g * BPG + RSV, n = BPG - RSV;
		bool eq_d = !m->pinned[g] && !memcmp(state + s, m->durable + s, n);
		bool eq_i = m->failed && !memcmp(state + s, m->inflight + s, n);

		if (!eq_d && !eq_i) {
			uint64_t b = s;

			while (b < s + n && state[b] == m->durable[b])
				b++;
			VIOLATION(m, "group %llu is neither as of the last durable commit nor as of "
				  "the failed one%s: block %llu is %s", (unsigned long long)g,
				  m->failed ? "" : " (none failed)", (unsigned long long)b,
				  state[b] ? "allocated" : "free");
			return false;
		}
		*inflight |= !eq_d;
	}
	if (mb_free_blocks(vol) != free_blocks) {
		VIOLATION(m, "mb_free_blocks %llu, bitmaps say %llu",
			  (unsigned long long)mb_free_blocks(vol), (unsigned long long)free_blocks);
		return false;
	}
	return true;
}

/*
 * Before an open: the model takes what the disk holds, once checked.  Read
 * through a read-only open with faults paused, so that the session's own
 * open and its lazy bitmap reads meet the faults.
 */
static bool adopt_state(struct model *m)
{
	static const struct mb_open_opts ro = { .read_only = 1 };
	uint8_t state[NBLK] = { 0 };
	struct mb_volume *vol;
	bool inflight, ok = false;

	fault_counting(false);
	int err = mb_volume_open(img_path, &ro, &vol);

	if (err) {
		VIOLATION(m, "read-only open failed: %d", err);
	} else {
		ok = read_state(vol, m, state, &inflight);
		mb_volume_destroy(vol);
	}
	fault_counting(true);
	if (!ok)
		return false;
	memcpy(m->cur, state, NBLK);
	model_durable(m, state);
	m->next = 0;
	for (uint64_t b = 0; b < NBLK && m->next < MAX_EXT;) { /* runs of allocated blocks */
		uint64_t e = b;

		while (e < NBLK && state[e])
			e++;
		if (e > b)
			m->ext[m->next++] = (typeof(m->ext[0])){ b, (uint32_t)(e - b) };
		b = e + 1;
	}
	return true;
}

static void note_error(struct model *m, const char *call, int err)
{
	m->errors++;
	/* nothing here is corrupt: -EUCLEAN would send a user to fsck for an I/O error */
	if (err != -EIO && err != -ENOSPC)
		VIOLATION(m, "%s returned %d", call, err);
	if (!fault_fired())
		VIOLATION(m, "%s returned %d with no fault injected", call, err);
}

static void do_alloc(struct mb_volume *vol, struct model *m, struct mb_file *f, uint64_t *rng)
{
	struct mb_persist *p = mb_persist_of(vol);
	struct mb_request rq = { .file = f, .len = 1 + (uint32_t)mb_rand_below(rng, 40),
				 .logical = mb_rand_below(rng, 2048), .goal = MB_GOAL_NONE };
	struct mb_extent ex;
	uint8_t before[NBLK];
	uint64_t seq0 = p->sb.seq;
	int perr0 = p->c.err;

	if (!mb_rand_below(rng, 3))
		rq.goal = mb_rand_below(rng, NBLK);
	if (!f)
		rq.flags = MB_HINT_NOPREALLOC;
	memcpy(before, m->cur, NBLK); /* what a commit forced by mb_alloc records */
	int err = mb_alloc(vol, &rq, &ex);

	/* seq counts transactions: a split commit may fail after one landed */
	if (p->c.err && !perr0)
		model_failed(m, before);
	else if (p->sb.seq != seq0)
		model_durable(m, before);
	if (err == -ENOSPC) {
		for (uint64_t b = 0; b < NBLK; b++)
			if (data_block(b) && !m->cur[b] && !m->unsafe[b]) {
				VIOLATION(m, "mb_alloc: -ENOSPC with block %llu free",
					  (unsigned long long)b);
				break;
			}
		return;
	}
	if (err) {
		note_error(m, "mb_alloc", err);
		return;
	}
	for (uint32_t i = 0; i < ex.len; i++) {
		uint64_t b = ex.start + i;

		if (b < NBLK && m->unsafe[b] && m->failed && m->unsafe_at_fail[b]) {
			m->unsafe[b] = 0; /* its group's part of the failed commit landed */
			m->pinned[b / BPG] = true;
		}
		if (b >= NBLK || !data_block(b) || m->cur[b] || m->unsafe[b]) {
			VIOLATION(m, "mb_alloc returned block %llu: %s", (unsigned long long)b,
				  b >= NBLK || !data_block(b) ? "metadata or out of volume"
				  : m->cur[b] ? "already allocated" : "its free is not durable");
			return;
		}
		m->cur[b] = 1;
	}
	if (m->next < MAX_EXT)
		m->ext[m->next++] = (typeof(m->ext[0])){ ex.start, ex.len };
}

/* Frees the head, the tail or all of a random extent. */
static void do_free(struct mb_volume *vol, struct model *m, uint64_t *rng)
{
	if (!m->next)
		return;
	int i = (int)mb_rand_below(rng, (uint64_t)m->next);
	uint64_t s = m->ext[i].start;
	uint32_t len = m->ext[i].len, n = 1 + (uint32_t)mb_rand_below(rng, len);
	bool head = mb_rand_below(rng, 2);
	uint64_t fs = head ? s : s + len - n;
	int err = mb_free(vol, fs, n);

	if (err) {
		note_error(m, "mb_free", err);
		return;
	}
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
}

static void do_commit(struct mb_volume *vol, struct model *m, struct tally *t)
{
	bool was_failed = m->failed;
	int err = mb_commit(vol);

	if (!err) {
		if (was_failed)
			VIOLATION(m, "mb_commit returned 0 after a failed commit");
		model_durable(m, m->cur);
		return;
	}
	note_error(m, "mb_commit", err);
	if (was_failed)
		t->sticky_checked++;
	model_failed(m, m->cur);
}

/*
 * The live volume after faults: consistent in memory, and while no commit
 * failed (so the disk matches the committed descriptors), every bitmap
 * reads back clean.  Faults paused.
 */
static void check_live(struct mb_volume *vol, struct model *m)
{
	static char report[4096];

	fault_counting(false);
	int n = mb_check(vol, report, sizeof(report));

	if (n)
		VIOLATION(m, "live mb_check: %d problems:\n%s", n, report);
	n = m->failed ? 0 : mb_volume_verify(vol, report, sizeof(report));
	if (n)
		VIOLATION(m, "live mb_volume_verify: %d problems:\n%s", n, report);
	fault_counting(true);
}

/* One session: open, `ops` operations, then close or stop as a crash. */
static void session(struct model *m, uint64_t *rng, int ops, bool close_it, struct tally *t)
{
	struct mb_volume *vol;
	struct mb_file *files[2];
	int err;

	if (!adopt_state(m))
		return;
	err = mb_volume_open(img_path, &no_thread, &vol);

	if (err) {
		note_error(m, "mb_volume_open", err);
		return;
	}
	if (mb_tunable_set(vol, "mb_group_prealloc", 0)) {
		mb_volume_destroy(vol);
		return;
	}
	for (int i = 0; i < 2; i++)
		if (mb_file_open(vol, 100 + (uint64_t)i, &files[i]))
			abort();
	for (int op = 0; op < ops; op++) {
		uint64_t r = mb_rand_below(rng, 100);

		if (r < 45)
			do_alloc(vol, m, r < 25 ? files[r % 2] : NULL, rng);
		else if (r < 82)
			do_free(vol, m, rng);
		else if (r < 86)
			mb_file_discard(files[r % 2]);
		else
			do_commit(vol, m, t);
	}
	for (int i = 0; i < 2; i++)
		mb_file_close(files[i]);
	check_live(vol, m);
	if (!close_it) {
		do_commit(vol, m, t); /* so that an error of a forced commit is reported */
		mb_volume_destroy(vol);
		return;
	}
	err = mb_volume_close(vol);
	if (!err) {
		model_durable(m, m->cur);
	} else {
		note_error(m, "mb_volume_close", err);
		model_failed(m, m->cur); /* its commit may or may not have landed */
	}
}

static void workload(struct model *m, uint64_t seed, struct tally *t)
{
	uint64_t rng = seed;

	memset(m, 0, sizeof(*m));
	unlink(img_path);
	int err = mb_volume_format(img_path, &fault_geo, &fmt_opts);

	if (err) {
		note_error(m, "mb_volume_format", err);
		return;
	}
	m->formatted = true;
	session(m, &rng, session_ops, false, t);
	session(m, &rng, session_ops, true, t);
}

/* Reopens the image without faults and checks it against the model. */
static void verify_image(struct model *m, struct tally *t)
{
	static char report[4096];
	struct mb_volume *vol;
	uint8_t state[NBLK] = { 0 };
	bool inflight;
	int err = mb_volume_open(img_path, &no_thread, &vol);

	if (err) {
		if (m->formatted)
			VIOLATION(m, "reopen failed: %d", err);
		return; /* a failed format may leave no volume */
	}
	int n = mb_volume_verify(vol, report, sizeof(report));

	if (n) {
		VIOLATION(m, "mb_volume_verify: %d problems:\n%s", n, report);
	} else if (read_state(vol, m, state, &inflight)) {
		t->matched_inflight += inflight;
		struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 3, .flags = MB_HINT_NOPREALLOC };
		struct mb_extent ex;

		/* the recovered volume keeps working */
		if (mb_alloc(vol, &rq, &ex) == 0 && mb_free(vol, ex.start, ex.len))
			VIOLATION(m, "free after recovery failed");
		if (mb_commit(vol))
			VIOLATION(m, "commit after recovery failed");
	}
	err = mb_volume_close(vol);
	if (err)
		VIOLATION(m, "close after recovery failed: %d", err);
}

/*
 * Runs the test on one CPU: a request's locality group, and so its goal,
 * depends on the CPU, and every replay must make the same calls as the
 * counting run up to its fault.
 */
static void pin_to_one_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &set)) {
			CPU_ZERO(&set);
			CPU_SET(c, &set);
			sched_setaffinity(0, sizeof(set), &set);
			return;
		}
	}
}

/* One run with the fault at call `at`; returns false on a violation. */
static bool one_run(uint64_t seed, uint64_t at, enum fault_mode mode, struct tally *t)
{
	static struct model m;

	fault_arm(at, mode);
	fault_counting(true);
	workload(&m, seed, t);
	fault_counting(false);
	uint64_t fired = fault_fired();
	enum fault_kind k = fault_call_kind(at);

	t->runs++;
	t->fired += fired > 0;
	if (fired && mode != FAULT_SHORT_ONCE && (k == FK_PWRITE || k == FK_FDATASYNC ||
						  k == FK_FSYNC || k == FK_FTRUNCATE)) {
		t->reported += m.errors > 0;
		if (!m.errors)
			VIOLATION(&m, "the failed %s was reported by no call", fault_kind_name[k]);
	}
	verify_image(&m, t);
	if (m.why[0])
		fprintf(stderr, "FAIL seed %llu, %s at call %llu (%s): %s\n", (unsigned long long)seed,
			fault_mode_name[mode], (unsigned long long)at,
			k < FK_NKINDS ? fault_kind_name[k] : "-", m.why);
	return !m.why[0];
}

TEST(faults_at_every_call)
{
	struct tally t[FAULT_NMODES] = { 0 }, clean = { 0 };
	const char *tmp = getenv("TMPDIR");

	/* tmpfs when there is one: thousands of fdatasyncs cost nothing there */
	if (!access("/dev/shm", W_OK))
		tmp = "/dev/shm";
	char dir[200];
	int failures = 0, diverged = 0;
	uint64_t seed = mb_test_seed;

	pin_to_one_cpu();
	session_ops = (int)(60 * mb_test_scale);
	session_ops = session_ops < 10 ? 10 : session_ops;
	snprintf(dir, sizeof(dir), "%s/mb_fault_XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ASSERT_TRUE(mkdtemp(dir) != NULL);
	snprintf(img_path, sizeof(img_path), "%s/img", dir);

	/* The counting run: no fault, nothing may fail. */
	ASSERT_TRUE(one_run(seed, 0, FAULT_EIO_ONCE, &clean));
	uint64_t calls = fault_calls(), per_kind[FK_NKINDS];
	enum fault_kind *kinds = malloc(sizeof(*kinds) * (calls + 1));

	ASSERT_TRUE(kinds != NULL);
	for (int k = 0; k < FK_NKINDS; k++)
		per_kind[k] = fault_kind_calls((enum fault_kind)k);
	for (uint64_t n = 1; n <= calls; n++)
		kinds[n] = fault_call_kind(n);
	printf("workload (seed %llu): %llu calls:", (unsigned long long)seed,
	       (unsigned long long)calls);
	for (int k = 0; k < FK_NKINDS; k++)
		printf(" %s %llu", fault_kind_name[k], (unsigned long long)per_kind[k]);
	printf("\n");
	/* the wrappers must see the backend's calls, or the test proves nothing */
	ASSERT_TRUE(per_kind[FK_OPEN] && per_kind[FK_FTRUNCATE] && per_kind[FK_PREAD] &&
		    per_kind[FK_PWRITE] && per_kind[FK_FDATASYNC]);

	for (int mode = 0; mode < FAULT_NMODES; mode++) {
		for (uint64_t n = 1; n <= calls && failures < 10; n++) {
			if (mode == FAULT_SHORT_ONCE && kinds[n] != FK_PREAD && kinds[n] != FK_PWRITE)
				continue;
			if (mode == FAULT_TORN_ONCE && kinds[n] != FK_PWRITE)
				continue;
			failures += !one_run(seed, n, (enum fault_mode)mode, &t[mode]);
			for (uint64_t q = 1; q < n; q++) { /* the same calls up to the fault */
				if (fault_call_kind(q) != kinds[q]) {
					diverged++;
					break;
				}
			}
		}
		printf("%-11s: %llu runs, fault fired in %llu, %llu failed writes/syncs all "
		       "reported, %llu images at the failed commit, %llu sticky-error checks\n",
		       fault_mode_name[mode], (unsigned long long)t[mode].runs,
		       (unsigned long long)t[mode].fired, (unsigned long long)t[mode].reported,
		       (unsigned long long)t[mode].matched_inflight,
		       (unsigned long long)t[mode].sticky_checked);
	}
	free(kinds);
	unlink(img_path);
	rmdir(dir);
	ASSERT_EQ_INT(failures, 0);
	ASSERT_EQ_INT(diverged, 0); /* the workload is deterministic: each fault hit call N */
	for (int mode = 0; mode < FAULT_NMODES; mode++)
		ASSERT_EQ_U64(t[mode].fired, t[mode].runs);
	ASSERT_TRUE(t[FAULT_EIO_ONCE].matched_inflight > 0);
}
