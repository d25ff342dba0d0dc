/* SPDX-License-Identifier: MIT */
/*
 * probes.c - fixed workloads whose instruction counts compare two builds.
 *
 * On a shared, loaded machine seconds mislead; instructions do not.  Each
 * probe sets up a volume untimed, then runs a fixed sequence of requests in
 * probe_phase() alone, so that
 *
 *   valgrind --tool=callgrind --toggle-collect=probe_phase bench_probes PROBE
 *
 * counts what the allocator spends on those requests (bench/icount.sh does
 * that for a list of probes).  Each run prints a hash of every extent it
 * got: two builds that print the same hash made the same decisions, so
 * their counts compare like for like.
 *
 * Probes (32 GiB of 4 KiB blocks, 32768 blocks a group, unless said):
 *   raw:LEN:N      N requests of LEN blocks, goal 0, no file, empty volume
 *   aged:LEN:N     N requests, random goals, on a volume aged to runs of
 *                  1-64 used blocks with gaps of 1-7 free
 *   file:LEN:N     one file appending LEN blocks a request (PA hits)
 *   drain          the aged volume, 16-block requests without a goal until
 *                  ENOSPC
 *   drain:aged90   `mballoc bench --workload drain`'s one thread: the
 *                  aged90 tiles (as cell:aged90's, marked used as that
 *                  bench lays them out), 16-block requests, each goal the
 *                  end of the last answer (0 at first), until ENOSPC
 *   cell:FILL:LEN:GOAL:ROUNDS[:file]
 *                  a cell of the shared Ceph harness's matrix
 *                  (../shared/peers/ceph): FILL empty, seqP or agedP (tiles
 *                  of 1-64 blocks, random ones freed down to P% used), GOAL
 *                  zero, next or rand; each round asks 0.5% of the volume
 *                  in LEN-block operations, each served in as many calls as
 *                  it takes (every call asks for the rest, its goal the end
 *                  of the last piece), then frees it all (untimed, as there)
 *   free:FILL:LEN:GOAL:ROUNDS[:file]
 *                  the same rounds as cell:, but the allocations untimed
 *                  and the frees timed (each extent freed alone, the last
 *                  one first, as the cell does); calls counts the frees,
 *                  and the hash also takes the free count after each
 *                  round (the extents are the cell's)
 *   aging:GEN[:file]
 *                  Ceph's aging protocol as `mballoc bench --workload
 *                  aging` runs it: 64 GiB, no goal, fill to 80% with a 10%
 *                  leak, free random extents to 60%, refill, three times;
 *                  GEN triangle or 8m64k
 * A trailing ":file" sends the requests through one long-lived file.
 *
 * --check runs every probe shape at small sizes twice, with the speed
 * structures on (the run tree, the group indexes: tunable mb_scan_summary)
 * and off (ext4's plain walks), and exits 1 unless both made the same
 * decisions: the structures may only make a search cheaper.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mballoc.h"

#define BPG 32768u

struct probe {
	struct mb_volume *vol;
	struct mb_file *file;
	uint64_t blocks, logical, rng, hash;
	uint64_t calls, frees;
	/* live extents: the cells free theirs after each round, aging at random */
	uint64_t *s;
	uint32_t *n;
	size_t cnt, cap;
	uint64_t live;
};

static uint64_t pr_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* xorshift64*: `mballoc bench`'s generator (mb_bench_rng), for its layouts */
static uint64_t pr_rand_star(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void pr_mix(struct probe *p, uint64_t v)
{
	p->hash = (p->hash ^ v) * 1099511628211ULL;
}

static void pr_die(const char *what, int err)
{
	fprintf(stderr, "bench_probes: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(2);
}

static void pr_push(struct probe *p, uint64_t s, uint32_t n)
{
	if (p->cnt == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 4096;
		uint64_t *ns = realloc(p->s, cap * sizeof(*ns));

		if (ns)
			p->s = ns;
		uint32_t *nn = realloc(p->n, cap * sizeof(*nn));

		if (!ns || !nn)
			pr_die("realloc", ENOMEM);
		p->n = nn;
		p->cap = cap;
	}
	p->s[p->cnt] = s;
	p->n[p->cnt++] = n;
	p->live += n;
}

static void pr_free_at(struct probe *p, size_t i)
{
	int err = mb_free(p->vol, p->s[i], p->n[i]);

	if (err)
		pr_die("mb_free", err);
	p->live -= p->n[i];
	p->s[i] = p->s[--p->cnt];
	p->n[i] = p->n[p->cnt];
}

static void pr_open(struct probe *p, uint64_t blocks, bool plain, uint64_t ino)
{
	struct mb_geometry g = {.block_size = 4096, .blocks_per_group = BPG,
				.blocks_count = blocks};
	int err;

	memset(p, 0, sizeof(*p));
	p->blocks = blocks;
	p->hash = 1469598103934665603ULL;
	if ((err = mb_volume_create(&g, &p->vol)))
		pr_die("mb_volume_create", err);
	if (plain && (err = mb_tunable_set(p->vol, "mb_scan_summary", 0)))
		pr_die("mb_scan_summary", err);
	if (ino && (err = mb_file_open(p->vol, ino, &p->file)))
		pr_die("mb_file_open", err);
}

static void pr_close(struct probe *p)
{
	if (p->file)
		mb_file_close(p->file);
	mb_volume_destroy(p->vol);
	free(p->s);
	free(p->n);
}

/* One call; its extent is hashed and kept live.  Returns 0 or -errno. */
static int pr_call(struct probe *p, uint64_t goal, uint32_t len, uint32_t *got)
{
	struct mb_request r = {.file = p->file, .logical = p->logical, .goal = goal, .len = len};
	struct mb_extent e;
	int err = mb_alloc(p->vol, &r, &e);

	p->calls++;
	if (err) {
		pr_mix(p, (uint64_t)-err);
		return err;
	}
	pr_mix(p, e.start);
	pr_mix(p, e.len);
	p->logical += e.len;
	*got = e.len;
	pr_push(p, e.start, e.len);
	return 0;
}

/* Marks [s, s + n) used as the harness does: goal-only requests per group. */
static void pr_mark(struct probe *p, uint64_t s, uint64_t n)
{
	while (n) {
		uint64_t room = (s / BPG + 1) * BPG - s, k = n < room ? n : room;
		struct mb_request r = {.goal = s, .len = (uint32_t)k,
				       .flags = MB_HINT_GOAL_ONLY | MB_HINT_NOPREALLOC};
		struct mb_extent e;
		int err = mb_alloc(p->vol, &r, &e);

		if (err || e.start != s || e.len != k)
			pr_die("prefill", err ? err : EIO);
		s += k;
		n -= k;
	}
}

/* Runs of 1-64 used blocks with gaps of 1-7 free (the goals' generator goes on from here). */
static void pr_age_runs(struct probe *p, uint64_t *rng)
{
	uint64_t b = 0;

	while (b < p->blocks) {
		uint64_t run = 1 + pr_rand(rng) % 64, gap = 1 + pr_rand(rng) % 7;

		if (b + run > p->blocks)
			run = p->blocks - b;
		int err = mb_mark_used(p->vol, b, run);

		if (err)
			pr_die("mb_mark_used", err);
		b += run + gap;
	}
}

/* The harness's aged fill: tiles of 1-64 blocks, random ones freed to pct% used;
   direct: `mballoc bench`'s instead (mb_layout_aged, same seed): its
   generator, and each run of used tiles marked with mb_mark_used
   (mb_layout_apply), else the harness's marks (pr_mark) */
static void pr_age_tiles(struct probe *p, int pct, bool direct)
{
	uint64_t rng = 12345 | 1, used = p->blocks, goal = (uint64_t)(pct / 100.0 * (double)p->blocks);
	size_t nt = 0, maxt = p->blocks + 1;
	uint64_t *ts = malloc(maxt * sizeof(*ts));
	uint32_t *ord = malloc(maxt * sizeof(*ord));
	char *keep = malloc(maxt);

	if (!ts || !ord || !keep)
		pr_die("malloc", ENOMEM);
	uint64_t (*gen)(uint64_t *) = direct ? pr_rand_star : pr_rand;

	for (uint64_t pos = 0; pos < p->blocks; nt++) {
		ts[nt] = pos;
		pos += 1 + gen(&rng) % 64;
		pos = pos < p->blocks ? pos : p->blocks;
	}
	ts[nt] = p->blocks; /* tile i is [ts[i], ts[i + 1]) */
	for (size_t i = 0; i < nt; i++)
		ord[i] = (uint32_t)i;
	for (size_t i = nt - 1; i > 0; i--) {
		size_t j = gen(&rng) % (i + 1);
		uint32_t x = ord[i];

		ord[i] = ord[j];
		ord[j] = x;
	}
	memset(keep, 1, nt);
	for (size_t k = 0; k < nt && used > goal; k++) {
		keep[ord[k]] = 0;
		used -= ts[ord[k] + 1] - ts[ord[k]];
	}
	for (size_t i = 0; i < nt;) { /* each maximal run of kept tiles */
		size_t j = i;

		if (!keep[i]) {
			i++;
			continue;
		}
		while (j < nt && keep[j])
			j++;
		if (!direct)
			pr_mark(p, ts[i], ts[j] - ts[i]);
		else if (mb_mark_used(p->vol, ts[i], ts[j] - ts[i]))
			pr_die("mb_mark_used", EIO);
		i = j;
	}
	free(ts);
	free(ord);
	free(keep);
}

/* ------------------------------------------------------------------------ */
/* The measured phases                                                       */
/* ------------------------------------------------------------------------ */

enum pr_kind { PR_RAW, PR_AGED, PR_FILE, PR_DRAIN, PR_CELL, PR_AGING, PR_FREE, PR_DRAIN_NEXT };

struct pr_args {
	enum pr_kind kind;
	uint32_t len, n;
	int fill_pct, gen;     /* cell: fill; aging: generator */
	bool seq, file;        /* cell: seqP fill */
	int hint;              /* cell: 0 zero, 1 next, 2 rand */
	uint64_t prev, goal_rng, size_rng;
};

/* Fixed count (raw, aged, file) or until ENOSPC (drain). */
static void pr_requests(struct probe *p, struct pr_args *a)
{
	for (uint64_t i = 0; a->kind == PR_DRAIN || i < a->n; i++) {
		uint64_t goal = a->kind == PR_DRAIN ? MB_GOAL_NONE
				: a->kind == PR_AGED ? pr_rand(&a->goal_rng) % p->blocks : 0;
		uint32_t got;
		int err = pr_call(p, goal, a->len, &got);

		if (err == -ENOSPC && a->kind == PR_DRAIN)
			return;
		if (err)
			pr_die("mb_alloc", err);
	}
}

/* The bench's drain (drain:aged90): each goal the end of the last answer,
   until ENOSPC.  A loop of its own, so that pr_requests' probes keep
   their code, and out of line: inline in probe_phase it moved the aging
   probes' own loop +19..+25 instructions a call (no allocator change) */
static __attribute__((noinline)) void pr_drain_next(struct probe *p, struct pr_args *a)
{
	uint64_t goal = 0;

	for (;;) {
		uint32_t got;
		int err = pr_call(p, goal, a->len, &got);

		if (err == -ENOSPC)
			return;
		if (err)
			pr_die("mb_alloc", err);
		goal = p->s[p->cnt - 1] + got;
		goal = goal < p->blocks ? goal : 0;
	}
}

/* One operation of len blocks, in as many calls as it takes (the harness's get_full). */
static inline __attribute__((always_inline)) uint64_t pr_full(struct probe *p, uint32_t len,
							     uint64_t goal)
{
	uint64_t got = 0;

	while (got < len) {
		uint32_t n;

		if (pr_call(p, goal, len - (uint32_t)got, &n))
			break;
		got += n;
		goal = p->s[p->cnt - 1] + n;
		goal = goal < p->blocks ? goal : 0;
	}
	return got;
}

/* One round of a harness cell: 0.5% of the volume in len-block operations.
   Inline in probe_phase, as it was before the free: probes gave it a
   second caller (pr_run): made a call, it cost aging:8m64k +19
   instructions a call. */
static inline __attribute__((always_inline)) void pr_cell_round(struct probe *p, struct pr_args *a)
{
	uint64_t ops = p->blocks / 200 / a->len;

	for (uint64_t i = 0; i < ops; i++) {
		uint64_t goal = a->hint == 0 ? 0 : a->hint == 2 ? pr_rand(&a->goal_rng) % p->blocks
							      : a->prev;

		pr_full(p, a->len, goal);
		if (p->cnt) {
			a->prev = p->s[p->cnt - 1] + p->n[p->cnt - 1];
			a->prev = a->prev < p->blocks ? a->prev : 0;
		}
	}
}

/* A request size of the aging protocol's generators, in 4 KiB blocks. */
static uint32_t pr_aging_size(struct pr_args *a)
{
	if (a->gen)
		return (uint32_t)(((pr_rand(&a->size_rng) & 1) ? 8ULL << 20 : 64ULL << 10) / 4096);
	/* triangular on [1 B, 16 MiB], mode 8 MiB, by inverting its distribution */
	const double lo = 1, mode = 8 << 20, hi = 16 << 20;
	double u = (double)(pr_rand(&a->size_rng) >> 11) * 0x1p-53, x;

	if (u < (mode - lo) / (hi - lo))
		x = lo + sqrt(u * (hi - lo) * (mode - lo));
	else
		x = hi - sqrt((1 - u) * (hi - lo) * (hi - mode));
	return (uint32_t)((((uint64_t)x + 4096) & ~4095ULL) / 4096);
}

/* One aging request: its pieces, each maybe followed by a leaked free. */
static bool pr_aging_request(struct probe *p, struct pr_args *a)
{
	size_t before = p->cnt;
	uint32_t want = pr_aging_size(a);

	if (pr_full(p, want, MB_GOAL_NONE) < want)
		return false;
	for (size_t i = 0, pieces = p->cnt - before; i < pieces; i++)
		if ((uint32_t)pr_rand(&a->size_rng) < (uint32_t)(0.1 * 4294967295.0))
			pr_free_at(p, pr_rand(&a->size_rng) % p->cnt);
	return true;
}

__attribute__((noinline)) void probe_phase(struct probe *p, struct pr_args *a, uint64_t mark)
{
	switch (a->kind) {
	case PR_CELL:
		pr_cell_round(p, a);
		break;
	case PR_AGING:
		while (p->live < mark && pr_aging_request(p, a))
			;
		break;
	case PR_FREE:
		for (; p->cnt; p->frees++)
			pr_free_at(p, p->cnt - 1);
		break;
	case PR_DRAIN_NEXT:
		pr_drain_next(p, a);
		break;
	default:
		pr_requests(p, a);
	}
}

static bool pr_parse(const char *spec, struct pr_args *a)
{
	char kind[16], fill[16], hint[16], gen[16];
	unsigned len, n;

	memset(a, 0, sizeof(*a));
	a->goal_rng = 88172645463325252ULL;
	a->size_rng = 0x5eed;
	a->file = strstr(spec, ":file") != NULL;
	if (sscanf(spec, "%15[a-z]:%u:%u", kind, &len, &n) == 3 && len && len <= BPG) {
		a->len = len;
		a->n = n;
		a->kind = !strcmp(kind, "raw") ? PR_RAW : !strcmp(kind, "aged") ? PR_AGED : PR_FILE;
		a->file = a->kind == PR_FILE;
		return !strcmp(kind, "raw") || !strcmp(kind, "aged") || !strcmp(kind, "file");
	}
	if (!strcmp(spec, "drain") || !strcmp(spec, "drain:aged90")) {
		a->kind = spec[5] ? PR_DRAIN_NEXT : PR_DRAIN;
		a->len = 16;
		a->fill_pct = spec[5] ? 90 : 0;
		return true;
	}
	if ((sscanf(spec, "cell:%15[a-z0-9]:%u:%15[a-z]:%u", fill, &len, hint, &n) == 4 ||
	     sscanf(spec, "free:%15[a-z0-9]:%u:%15[a-z]:%u", fill, &len, hint, &n) == 4) &&
	    len && len <= BPG && n) {
		a->kind = spec[0] == 'f' ? PR_FREE : PR_CELL;
		a->len = len;
		a->n = n;
		a->hint = !strcmp(hint, "zero") ? 0 : !strcmp(hint, "next") ? 1 : 2;
		if (strcmp(hint, "zero") && strcmp(hint, "next") && strcmp(hint, "rand"))
			return false;
		a->goal_rng = 100 * 1000003 + 1;
		if (!strcmp(fill, "empty"))
			return true;
		a->seq = !strncmp(fill, "seq", 3);
		a->fill_pct = atoi(fill + (a->seq ? 3 : 4));
		return (a->seq || !strncmp(fill, "aged", 4)) && a->fill_pct > 0 && a->fill_pct < 100;
	}
	if (sscanf(spec, "aging:%15[a-z0-9]", gen) == 1 &&
	    (!strcmp(gen, "triangle") || !strcmp(gen, "8m64k"))) {
		a->kind = PR_AGING;
		a->gen = !strcmp(gen, "8m64k");
		return true;
	}
	return false;
}

/* Runs one probe; returns its hash (calls and free count printed). */
static uint64_t pr_run(const char *spec, bool plain, bool stats, bool quiet)
{
	struct pr_args a;
	struct probe p;

	if (!pr_parse(spec, &a)) {
		fprintf(stderr, "bench_probes: bad probe '%s'\n", spec);
		exit(2);
	}
	pr_open(&p, (a.kind == PR_AGING ? 64ULL : 32ULL) << 18, plain,
		!a.file ? 0 : a.kind == PR_FILE ? 12 : 1000);
	if (stats)
		mb_tunable_set(p.vol, "mb_stats", 1);
	if (a.kind == PR_AGED || a.kind == PR_DRAIN)
		pr_age_runs(&p, &a.goal_rng);
	else if ((a.kind == PR_CELL || a.kind == PR_FREE) && a.seq)
		pr_mark(&p, 0, p.blocks * (uint64_t)a.fill_pct / 100);
	else if ((a.kind == PR_CELL || a.kind == PR_FREE || a.kind == PR_DRAIN_NEXT) &&
		 a.fill_pct)
		pr_age_tiles(&p, a.fill_pct, a.kind == PR_DRAIN_NEXT);
	if (a.kind == PR_FREE) {
		for (uint32_t r = 0; r < a.n; r++) {
			pr_cell_round(&p, &a);
			if (p.file)
				mb_file_discard(p.file);
			probe_phase(&p, &a, 0);
			pr_mix(&p, mb_free_blocks(p.vol));
		}
	} else if (a.kind == PR_CELL) {
		for (uint32_t r = 0; r < a.n; r++) {
			probe_phase(&p, &a, 0);
			if (p.file)
				mb_file_discard(p.file);
			while (p.cnt)
				pr_free_at(&p, p.cnt - 1);
		}
	} else if (a.kind == PR_AGING) {
		uint64_t hi = (uint64_t)(0.8 * (double)p.blocks), lo = (uint64_t)(0.6 * (double)p.blocks);

		probe_phase(&p, &a, hi);
		for (int i = 0; i < 3; i++) {
			while (p.live > lo)
				pr_free_at(&p, pr_rand(&a.size_rng) % p.cnt);
			probe_phase(&p, &a, hi);
		}
	} else {
		probe_phase(&p, &a, 0);
	}
	uint64_t free_now = mb_free_blocks(p.vol);

	if (!quiet)
		printf("%s calls %llu hash %016llx free %llu\n", spec,
		       (unsigned long long)(a.kind == PR_FREE ? p.frees : p.calls),
		       (unsigned long long)p.hash, (unsigned long long)free_now);
	if (stats) {
		struct mb_stats st;

		mb_stats_get(p.vol, &st);
		for (int c = 0; c < MB_NUM_CRS; c++)
			printf("  %-18s hits %llu considered %llu extents %llu\n", mb_criteria_name(c),
			       (unsigned long long)st.cr[c].hits,
			       (unsigned long long)st.cr[c].groups_considered,
			       (unsigned long long)st.cr[c].extents_scanned);
	}
	pr_close(&p);
	return p.hash;
}

/* Small versions of every shape, speed structures on and off. */
static int pr_check(void)
{
	static const char *const specs[] = {
	    "raw:256:2000",          "raw:16:5000",           "aged:256:500",
	    "aged:16:2000",          "file:1:20000",          "file:16:5000",
	    "cell:aged90:256:zero:2", "cell:aged90:256:rand:2", "cell:aged50:256:next:2",
	    "cell:aged90:16:zero:1", "cell:seq90:256:rand:2", "cell:empty:256:zero:2",
	    "cell:aged90:1:zero:1:file", "aging:triangle",    "aging:8m64k:file",
	    "free:aged50:256:zero:2", "free:empty:16:rand:1", "free:aged90:1:zero:1:file",
	    "drain:aged90",
	    /* lengths off the matrix's: np2 pieces, a long run's, stale trees, the linear pass */
	    "cell:empty:100:zero:2", "cell:seq90:1000:zero:2", "cell:aged50:100:zero:2",
	    "cell:aged90:64:zero:2", "cell:aged90:1000:zero:2", "cell:aged50:4096:rand:2",
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		uint64_t fast = pr_run(specs[i], false, false, true);
		uint64_t plain = pr_run(specs[i], true, false, true);

		printf("%-28s %016llx %s\n", specs[i], (unsigned long long)fast,
		       fast == plain ? "same" : "DIFFERS with mb_scan_summary 0");
		bad |= fast != plain;
	}
	return bad;
}

int main(int argc, char **argv)
{
	bool plain = false, stats = false;
	int nprobes = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--check"))
			return pr_check();
		if (!strcmp(argv[i], "--plain"))
			plain = true;
		else if (!strcmp(argv[i], "--stats"))
			stats = true;
	}
	for (int i = 1; i < argc; i++)
		if (argv[i][0] != '-') {
			pr_run(argv[i], plain, stats, false);
			nprobes++;
		}
	if (!nprobes) {
		fprintf(stderr, "usage: bench_probes [--plain] [--stats] PROBE... | --check\n"
				"  (see bench/probes.c for the probes)\n");
		return 2;
	}
	return 0;
}
