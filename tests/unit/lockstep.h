/* SPDX-License-Identifier: MIT */
/*
 * lockstep.h - two volumes run side by side: the differential tests' pair.
 * A speed structure or a fast walk must change speed, never a decision, so
 * a test builds two volumes identical but for what it checks (a tunable
 * set per side, a test hook on the second), gives both the same seeded
 * operations, and compares every mb_alloc answer (error, start, length)
 * and, at the end, every scan counter of mb_stats.  Used by test_runsum
 * (mb_scan_summary on / off) and test_scan_hinted (hinted walks / the
 * plain ones a hook forces), test_fast256 and test_fast1 (the fast paths /
 * the regular path a hook forces).  Single-threaded, as the tests are.
 */
#ifndef MB_TEST_LOCKSTEP_H
#define MB_TEST_LOCKSTEP_H

#include <stdbool.h>

#include "harness.h"
#include "mb_int.h"

#define MB_LOCKSTEP_FILES 4    /* files per volume, at most */
#define MB_LOCKSTEP_TUNABLES 3 /* tunables set per side, at most */

/* A tunable set to v[0] on the first volume, v[1] on the second. */
struct mb_lockstep_tunable {
	const char *name; /* NULL: none (ends the list) */
	uint64_t v[2];
};

/* What the two volumes are; what differs between them. */
struct mb_lockstep_opts {
	uint32_t block_size, bpg, groups;
	uint32_t flex_bg;	/* the geometry's flex_bg (0: none) */
	uint32_t first;		/* the geometry's first_data_block (groups start past it) */
	uint64_t seed;		/* the operations' generator */
	int nfiles;		/* files per volume (<= MB_LOCKSTEP_FILES) */
	uint64_t ino, ino_step; /* file i's inode: ino + i * ino_step */
	size_t cap;		/* answers kept, for mb_lockstep_free_random */
	struct mb_lockstep_tunable tunables[MB_LOCKSTEP_TUNABLES]; /* after mb_stats = 1 */
	mb_hook_fn hook; /* the second volume's test hook, or NULL */
	void *hook_arg;
};

struct mb_lockstep {
	struct mb_volume *v[2];
	struct mb_file *f[2][MB_LOCKSTEP_FILES];
	int nfiles;
	uint64_t *start; /* the answers kept (the first cap), to free later */
	uint32_t *len;
	size_t n, cap;
	uint64_t rng, next_goal, logical[MB_LOCKSTEP_FILES];
	uint64_t blocks;
};

/*
 * Fills a request of the test's op mix (r zeroed, dice in [25, 100)) and
 * returns the file it goes through, or -1.  arg: the test's own.
 */
typedef int (*mb_lockstep_req_fn)(struct mb_lockstep *ls, uint64_t dice, bool files,
				  struct mb_request *r, const void *arg);

/* A test hook that counts its calls in *(uint64_t *)arg. */
void mb_lockstep_count_hook(void *arg, int id, uint32_t group, int cr);

/* Both volumes, their files, mb_stats on, the tunables, the hook: 0 or -errno. */
int mb_lockstep_init(struct mb_lockstep *ls, const struct mb_lockstep_opts *o);
/* Safe after a failed mb_lockstep_init. */
void mb_lockstep_destroy(struct mb_lockstep *ls);
void mb_lockstep_set(struct mb_lockstep *ls, const char *name, uint64_t v);

/* Marks [s, s + l) used on both (a pre-fill). */
int mb_lockstep_mark(struct mb_lockstep *ls, uint64_t s, uint64_t l);
/* Frees [s, s + l) on both, block by block (blocks a pre-fill marked used). */
int mb_lockstep_free_range(struct mb_lockstep *ls, uint64_t s, uint64_t l);
/* Tiles the volumes with runs of 1..maxlen blocks, keeping keep_pct used. */
int mb_lockstep_age(struct mb_lockstep *ls, uint32_t maxlen, unsigned keep_pct);

/* The same request on both (file: an index or -1); 1 when the answers differ. */
int mb_lockstep_alloc(struct mb_lockstep *ls, const struct mb_request *r, int file);
/* Frees one kept answer, at random, on both. */
int mb_lockstep_free_random(struct mb_lockstep *ls);
/* A request's length for mb_lockstep_drain (arg: the test's own). */
typedef uint32_t (*mb_lockstep_len_fn)(struct mb_lockstep *ls, const void *arg);
/*
 * ops requests of len() blocks with no goal and no file; once one has
 * failed, a kept answer freed every fourth op, so that near full, failures
 * and successes mix.  *enospc: how many failed.  1 when the answers differ.
 */
int mb_lockstep_drain(struct mb_lockstep *ls, int ops, mb_lockstep_len_fn len, const void *arg,
		      int *enospc);
/* No goal, the last answer's end, or a random block: a third each. */
uint64_t mb_lockstep_goal(struct mb_lockstep *ls);
/* 1 (and a message) when a scan counter differs. */
int mb_lockstep_same_stats(struct mb_lockstep *ls);

/*
 * ops seeded operations: a quarter frees, the rest req's requests; with
 * files, a random file's preallocations discarded now and then.  1 when
 * an answer differs.
 */
int mb_lockstep_ops(struct mb_lockstep *ls, int ops, bool files, mb_lockstep_req_fn req,
		    const void *arg);
/* mb_lockstep_ops, then 1 also when a scan counter differs at the end. */
int mb_lockstep_run(struct mb_lockstep *ls, int ops, bool files, mb_lockstep_req_fn req,
		    const void *arg);

#endif
