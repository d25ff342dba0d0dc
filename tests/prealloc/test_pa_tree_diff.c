/* SPDX-License-Identifier: MIT */
/*
 * test_pa_tree_diff.c - a file's PAs in an ordered tree decide exactly as
 * the sorted list did.  Thousands of seeded random file operations
 * (appends, writes at random offsets, frees of what was written, discards,
 * truncates, a volume that fills up so ENOSPC rounds discard PAs) run on
 * one CPU; every result is folded into a hash per chunk of 64 operations
 * and compared with pa_tree_diff.golden, recorded from the list
 * implementation (commit 0e0f5e5).  A decision that changes shows as the
 * first chunk that differs.  MB_PA_DIFF_RECORD=1 rewrites the golden file
 * (only when a change of decision is intended and named);
 * MB_PA_DIFF_TRACE=FILE writes every result, to find the operation.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>

#include "harness.h"

#define NFILES 6
#define CHUNK 64
#define MAXEXT 8192

struct dext {
	uint64_t start, logical;
	uint32_t len;
	int file;
};

struct dstate {
	struct mb_volume *vol;
	struct mb_file *f[NFILES];
	uint64_t next[NFILES]; /* append point */
	struct dext ext[MAXEXT];
	unsigned n;
	uint64_t rng, hash;
	uint64_t reserved; /* mb_reserve()d, not yet placed */
	FILE *trace;
};

static void mix(struct dstate *s, uint64_t v)
{
	for (int i = 0; i < 8; i++) { /* FNV-1a over the value's bytes */
		s->hash ^= (v >> (8 * i)) & 0xff;
		s->hash *= 0x100000001b3ULL;
	}
}

static void note(struct dstate *s, int op, int64_t a, uint64_t b, uint64_t c)
{
	mix(s, (uint64_t)op);
	mix(s, (uint64_t)a);
	mix(s, b);
	mix(s, c);
	if (s->trace)
		fprintf(s->trace, "%d %lld %llu %llu\n", op, (long long)a, (unsigned long long)b,
			(unsigned long long)c);
}

static void drop(struct dstate *s, unsigned i)
{
	note(s, 9, mb_free(s->vol, s->ext[i].start, s->ext[i].len), s->ext[i].start, s->ext[i].len);
	s->ext[i] = s->ext[--s->n];
}

static void write_at(struct dstate *s, int fi, uint64_t logical, uint32_t len, uint64_t goal,
		     uint32_t flags)
{
	struct mb_request rq = { .file = s->f[fi], .logical = logical, .len = len, .goal = goal,
				 .flags = flags };
	struct mb_extent ex;
	int rc;

	if ((flags & MB_HINT_DELALLOC_RESERVED) && s->reserved < len)
		rq.flags &= ~(uint32_t)MB_HINT_DELALLOC_RESERVED;
	rc = mb_alloc(s->vol, &rq, &ex);
	note(s, 1, rc, rc ? 0 : ex.start, rc ? 0 : ex.len);
	if (!rc && (rq.flags & MB_HINT_DELALLOC_RESERVED))
		s->reserved -= ex.len;
	if (rc == -ENOSPC) { /* make room: free a third of what is held */
		for (unsigned k = s->n / 3; k && s->n; k--)
			drop(s, (unsigned)mb_rand_below(&s->rng, s->n));
		return;
	}
	if (rc || s->n == MAXEXT)
		return;
	s->ext[s->n++] = (struct dext){ ex.start, logical, ex.len, fi };
	if (logical + ex.len > s->next[fi])
		s->next[fi] = logical + ex.len;
}

/* Truncate: the file's blocks at or past `size` go, then its PAs. */
static void truncate_file(struct dstate *s, int fi, uint64_t size)
{
	for (unsigned i = 0; i < s->n;)
		if (s->ext[i].file == fi && s->ext[i].logical >= size)
			drop(s, i);
		else
			i++;
	mb_file_set_size(s->f[fi], size);
	s->next[fi] = size;
	note(s, 7, mb_file_discard(s->f[fi]), size, 0);
}

static void one_op(struct dstate *s)
{
	int fi = (int)mb_rand_below(&s->rng, NFILES);
	unsigned r = (unsigned)mb_rand_below(&s->rng, 100);
	uint32_t len = mb_rand_below(&s->rng, 4) ? 1 + (uint32_t)mb_rand_below(&s->rng, 16)
						 : 1 + (uint32_t)mb_rand_below(&s->rng, 300);
	uint64_t goal = mb_rand_below(&s->rng, 4) ? MB_GOAL_NONE
						  : mb_rand_below(&s->rng, 4 * 1024);
	uint32_t flags = mb_rand_below(&s->rng, 8) ? 0 : MB_HINT_DELALLOC_RESERVED;

	if (!mb_rand_below(&s->rng, 16))
		flags |= MB_HINT_NOPREALLOC;

	if (r < 45) {
		if (mb_rand_below(&s->rng, 2))
			mb_file_set_size(s->f[fi], s->next[fi]);
		write_at(s, fi, s->next[fi], len, goal, flags);
	} else if (r < 65) {
		write_at(s, fi, mb_rand_below(&s->rng, 6000), len, goal, flags);
	} else if (r < 75) {
		if (s->n)
			drop(s, (unsigned)mb_rand_below(&s->rng, s->n));
	} else if (r < 80) {
		note(s, 6, mb_file_discard(s->f[fi]), 0, 0);
	} else if (r < 83) {
		truncate_file(s, fi, mb_rand_below(&s->rng, s->next[fi] + 1));
	} else if (r < 88) {
		mb_file_set_open_for_write(s->f[fi], mb_rand_below(&s->rng, 2));
	} else if (r < 93) {
		mb_file_set_size(s->f[fi], mb_rand_below(&s->rng, 20000));
	} else if (r < 94) {
		note(s, 8, mb_discard_all(s->vol), 0, 0);
	} else if (r < 97) {
		/* reservations: the space left to plain claims shrinks (shares run dry) */
		uint64_t n = 1 + mb_rand_below(&s->rng, 600);
		int rc = mb_reserve(s->vol, n, 0);

		note(s, 10, rc, n, 0);
		s->reserved += rc ? 0 : n;
	} else if (r < 98) {
		uint64_t n = s->reserved / 2;

		if (n) {
			note(s, 11, mb_unreserve(s->vol, n), n, 0);
			s->reserved -= n;
		}
	} else {
		write_at(s, fi, s->next[fi], 1, MB_GOAL_NONE, 0); /* small tail write */
	}
}

static int pin_first_cpu(void)
{
	cpu_set_t set, one;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set)) {
			CPU_SET(c, &one);
			return sched_setaffinity(0, sizeof(one), &one) ? -errno : 0;
		}
	return -ENOENT;
}

/* Runs one seed; appends "seed chunk hash" lines to out. */
static int run_seed(uint64_t seed, unsigned ops, FILE *out, FILE *trace)
{
	static struct dstate s;
	const struct mb_geometry geo = { .block_size = 4096, .blocks_per_group = 1024,
					 .blocks_count = 4 * 1024 };
	int err;

	memset(&s, 0, sizeof(s));
	s.rng = seed;
	s.trace = trace;
	s.hash = 0xcbf29ce484222325ULL;
	if ((err = mb_volume_create(&geo, &s.vol)))
		return err;
	for (int i = 0; i < NFILES; i++)
		if ((err = mb_file_open(s.vol, 12 + (uint64_t)i * 2053, &s.f[i])))
			return err;
	for (unsigned k = 0; k < ops; k++) {
		one_op(&s);
		if ((k + 1) % CHUNK == 0)
			fprintf(out, "%llu %u %016llx\n", (unsigned long long)seed, k / CHUNK,
				(unsigned long long)s.hash);
	}
	char buf[1024];
	int bad = mb_check(s.vol, buf, sizeof(buf));

	for (int i = 0; i < NFILES; i++)
		mb_file_close(s.f[i]);
	mb_volume_destroy(s.vol);
	return bad ? -EUCLEAN : 0;
}

static const uint64_t seeds[] = { 1, 2, 3, 0xdecaf, 77 };
#define OPS 4096

TEST(tree_decides_as_the_list)
{
	const char *golden = getenv("MB_PA_DIFF_GOLDEN");
	const char *tr = getenv("MB_PA_DIFF_TRACE");
	bool record = getenv("MB_PA_DIFF_RECORD") != NULL;
	char *got = NULL, *want = NULL;
	size_t gotlen = 0, wantlen = 0;

	if (!golden)
		mb_test_skip("MB_PA_DIFF_GOLDEN not set (CTest sets it)");
	ASSERT_EQ_INT(pin_first_cpu(), 0);
	FILE *out = open_memstream(&got, &gotlen), *trace = tr ? fopen(tr, "w") : NULL;

	ASSERT_TRUE(out);
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		ASSERT_EQ_INT(run_seed(seeds[i], OPS, out, trace), 0);
	fclose(out);
	if (trace)
		fclose(trace);
	if (record) {
		FILE *g = fopen(golden, "w");

		ASSERT_TRUE(g && fwrite(got, 1, gotlen, g) == gotlen && fclose(g) == 0);
		free(got);
		return;
	}
	FILE *g = fopen(golden, "r");

	ASSERT_TRUE(g);
	want = calloc(1, gotlen + 2);
	wantlen = fread(want, 1, gotlen + 1, g);
	fclose(g);
	/* report the first chunk that differs */
	const char *a = got, *b = want;

	while (*a && *b) {
		const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');

		if (!ea || !eb || ea - a != eb - b || memcmp(a, b, (size_t)(ea - a)))
			break;
		a = ea + 1;
		b = eb + 1;
	}
	if (*a || *b)
		mb_test_fail(__FILE__, __LINE__, "first difference: got \"%.*s\" want \"%.*s\"",
			     (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
	ASSERT_EQ_U64(wantlen, gotlen);
	free(got);
	free(want);
}
