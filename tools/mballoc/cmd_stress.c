/* SPDX-License-Identifier: MIT */
/*
 * cmd_stress.c - `mballoc stress`: many threads allocating on a nearly
 * full volume (in memory, or a persistent --image), counting the ENOSPC
 * answers that should not have happened.  The default run is the seed scenario of the 2020 ext4 series
 * (240 MiB, 64 KiB blocks, 80 threads each faulting in its own sparse file
 * to 80 % of the volume).  Option parsing and reporting live here; the
 * iteration itself is in stress_run.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stress_int.h"

#define MB_STRESS_MAX_THREADS 4096

static const char *const mb_stress_modes[] = { "seed", "fill", "churn", "delalloc" };
static const char *const mb_stress_policies[] = { "seq", "legacy" };

/* Sums over the iterations. */
struct mb_stress_total {
	struct mb_stress_result sum; /* fill_reached: the minimum */
	uint64_t failed, done;
	bool check_ok;
};

static void mb_stress_usage(FILE *f)
{
	fprintf(f,
		"usage: mballoc stress [options]\n"
		"Threads race to allocate on a fresh in-memory volume (or a persistent\n"
		"--image); every ENOSPC answered while space was free is counted as spurious.\n"
		"  --mode MODE             seed: each thread faults in a sparse file of\n"
		"                          fill * capacity / threads blocks (default);\n"
		"                          fill: append until ENOSPC, goal 100%% filled;\n"
		"                          churn: random alloc/free under per-thread quotas;\n"
		"                          delalloc: each thread reserves (mb_reserve) chunk\n"
		"                          blocks per write up to fill * reservable / threads,\n"
		"                          and one more thread, the flusher, places them with\n"
		"                          MB_HINT_DELALLOC_RESERVED; every failure counts\n"
		"  --size SIZE             volume size (default 240M)\n"
		"  --block-size SIZE       1K..64K (default 64K)\n"
		"  --blocks-per-group N    default 8 * block size\n"
		"  --reserved N            metadata blocks per group (default 0)\n"
		"  --threads N             default 80\n"
		"  --fill F                seed: demand, churn: sum of quotas, as a fraction\n"
		"                          of capacity (default 0.80 seed, 1.00 churn)\n"
		"  --chunk N               blocks per request (default 1; churn: 1..16*N)\n"
		"  --iterations N          fresh volume each (default 10; churn 1)\n"
		"  --duration SECS         churn: seconds per iteration (default 10)\n"
		"  --policy seq|legacy     mb_enospc_policy: the 2020 fix or before it\n"
		"  --seed N                random seed (default: from the clock; printed)\n"
		"  --tunable NAME=VALUE    set a library tunable on every volume (repeatable;\n"
		"                          mb_enospc_policy is --policy's)\n"
		"  --image PATH            run on a persistent volume in PATH, reopened by every\n"
		"                          iteration (which frees what it allocated, commits\n"
		"                          and closes).  A missing PATH is formatted with the\n"
		"                          geometry options (--reserved: format's default);\n"
		"                          an existing one keeps its geometry, and a geometry\n"
		"                          option contradicting it is a usage error\n"
		"  --format                with --image: format PATH even if it exists\n"
		"  --reclaim               with --image: first free every block allocated on\n"
		"                          PATH (what a killed run left behind)\n"
		"  --commit-interval SECS  with --image: background commits every SECS (default\n"
		"                          1; fractions allowed; 0: only the commit ending each\n"
		"                          iteration and the --commit-log thread's)\n"
		"  --commit-log FILE       with --image: one more thread allocates a few extents,\n"
		"                          calls mb_commit, then appends them (\"start len\"\n"
		"                          lines) to FILE and fsyncs it, so FILE lists only\n"
		"                          durably allocated extents (see mballoc check\n"
		"                          --expect-allocated).  It keeps them until the\n"
		"                          iteration's end, empties FILE, then frees them;\n"
		"                          its quota is 1/16 of the capacity\n"
		"  --json                  one JSON object on stdout\n"
		"  --progress, --no-progress  progress on stderr (default: if a TTY)\n"
		"  -q, --quiet             no per-iteration lines\n"
		"  -h, --help\n"
		"Capacity is the fresh volume's free blocks (metadata excluded); on an image,\n"
		"its free blocks when the iteration opens it.\n"
		"An iteration fails on a spurious ENOSPC (in seed and churn mode every\n"
		"ENOSPC), a block allocated twice, an mb_check() problem, a free-count\n"
		"mismatch, a held extent the volume does not count as allocated, a failed\n"
		"commit or an unexpected error.\n"
		"Exit status: 0 clean, 1 an iteration failed, 2 usage.\n");
}

static int mb_stress_lookup(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* "NAME=VALUE": NAME is checked when the first volume is made. */
static bool mb_stress_tunable_opt(struct mb_stress_opts *o, char *arg)
{
	char *eq = strchr(arg, '=');

	if (!eq || eq == arg || o->ntunables == MB_STRESS_MAX_TUNABLES)
		return false;
	*eq = 0;
	o->tunable_name[o->ntunables] = arg;
	if (!mb_parse_tunable_value(arg, eq + 1, &o->tunable_value[o->ntunables])) {
		*eq = '=';
		return false;
	}
	o->ntunables++;
	return true;
}

/* The --image options. */
static bool mb_stress_image_opt(struct mb_stress_opts *o, int c, char *arg)
{
	switch (c) {
	case 'I': o->image = arg; return true;
	case 'L': o->commit_log = arg; return true;
	case 'F': o->format = true; return true;
	case 'R': o->reclaim = true; return true;
	case 'C': return mb_parse_double(arg, &o->commit_interval) && o->commit_interval >= 0 &&
			 o->commit_interval <= 86400;
	}
	return false;
}

static bool mb_stress_opt(struct mb_stress_opts *o, int c, char *arg, bool *fill_set,
			  bool *iter_set)
{
	switch (c) {
	case 's': o->geo_given |= MB_STRESS_GEO_SIZE;
		  return !mb_parse_size(arg, &o->vol.size);
	case 'b': o->geo_given |= MB_STRESS_GEO_BS;
		  return !mb_parse_size(arg, &o->vol.block_size);
	case 'g': o->geo_given |= MB_STRESS_GEO_BPG;
		  return mb_parse_u64(arg, &o->vol.blocks_per_group);
	case 'r': o->geo_given |= MB_STRESS_GEO_RESERVED;
		  return mb_parse_u64(arg, &o->vol.reserved);
	case 't': return mb_parse_u64(arg, &o->threads) && o->threads >= 1 &&
			 o->threads <= MB_STRESS_MAX_THREADS;
	case 'f': *fill_set = true;
		  return mb_parse_double(arg, &o->fill) && o->fill > 0 && o->fill <= 1;
	case 'c': return mb_parse_u64(arg, &o->chunk) && o->chunk >= 1 && o->chunk <= (1 << 20);
	case 'i': *iter_set = true;
		  return mb_parse_u64(arg, &o->iterations) && o->iterations >= 1;
	case 'd': return mb_parse_double(arg, &o->duration) && o->duration > 0 &&
			 o->duration <= 86400;
	case 'm': return (o->mode = mb_stress_lookup(arg, mb_stress_modes, 4)) >= 0;
	case 'p': return (o->policy = mb_stress_lookup(arg, mb_stress_policies, 2)) >= 0;
	case 'S': return mb_parse_u64(arg, &o->seed);
	case 'T': return mb_stress_tunable_opt(o, arg);
	case 'j': o->json = true; return true;
	case 'P': o->progress = true; return true;
	case 'N': o->progress = false; return true;
	case 'q': o->quiet = true; return true;
	}
	return mb_stress_image_opt(o, c, arg);
}

static void mb_stress_defaults(struct mb_stress_opts *o)
{
	*o = (struct mb_stress_opts){ .vol = { 240ULL << 20, 64 << 10, 0, 0 },
				      .threads = 80, .fill = 0.80, .chunk = 1,
				      .iterations = 10, .duration = 10,
				      .mode = MB_STRESS_SEED, .policy = MB_POLICY_SEQ,
				      .progress = isatty(2), .commit_interval = 1 };
	o->seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
}

static int mb_stress_parse(int argc, char **argv, struct mb_stress_opts *o)
{
	static const struct option longopts[] = {
		{ "size", required_argument, 0, 's' },	   { "block-size", required_argument, 0, 'b' },
		{ "blocks-per-group", required_argument, 0, 'g' },
		{ "reserved", required_argument, 0, 'r' }, { "threads", required_argument, 0, 't' },
		{ "fill", required_argument, 0, 'f' },	   { "chunk", required_argument, 0, 'c' },
		{ "iterations", required_argument, 0, 'i' },
		{ "duration", required_argument, 0, 'd' }, { "mode", required_argument, 0, 'm' },
		{ "policy", required_argument, 0, 'p' },   { "seed", required_argument, 0, 'S' },
		{ "tunable", required_argument, 0, 'T' },
		{ "image", required_argument, 0, 'I' },	   { "format", no_argument, 0, 'F' },
		{ "reclaim", no_argument, 0, 'R' },
		{ "commit-interval", required_argument, 0, 'C' },
		{ "commit-log", required_argument, 0, 'L' },
		{ "json", no_argument, 0, 'j' },	   { "progress", no_argument, 0, 'P' },
		{ "no-progress", no_argument, 0, 'N' },	   { "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' },	   { 0, 0, 0, 0 },
	};
	bool fill_set = false, iter_set = false, commit_set = false;
	int c, li;

	mb_stress_defaults(o);
	optind = 1;
	opterr = 0; /* our own message, in the CLI's format */
	while ((c = getopt_long(argc, argv, "qh", longopts, &li)) != -1) {
		if (c == 'h') {
			mb_stress_usage(stdout);
			exit(MB_EXIT_OK);
		}
		if (c == '?')
			return mb_cli_usage_err("stress", "bad option or missing value: '%s'",
						argv[optind - 1]);
		commit_set |= c == 'C';
		if (!mb_stress_opt(o, c, optarg, &fill_set, &iter_set))
			return mb_cli_usage_err("stress", "invalid value for --%s: '%s'",
						longopts[li].name, optarg ? optarg : "");
	}
	if (optind < argc)
		return mb_cli_usage_err("stress", "unexpected argument '%s'", argv[optind]);
	if (!o->image && (o->commit_log || o->format || o->reclaim || commit_set))
		return mb_cli_usage_err("stress", "--commit-log, --commit-interval, --format and "
						  "--reclaim need --image");
	if (o->mode == MB_STRESS_DELALLOC && o->commit_log)
		return mb_cli_usage_err("stress", "--commit-log does not go with --mode delalloc");
	if (o->mode == MB_STRESS_CHURN && !fill_set)
		o->fill = 1.0;
	if (o->mode == MB_STRESS_CHURN && !iter_set)
		o->iterations = 1;
	if (o->quiet)
		o->progress = false;
	return 0;
}

static const char *mb_stress_fill_word(int mode)
{
	return mode == MB_STRESS_SEED || mode == MB_STRESS_DELALLOC ? "written"
	       : mode == MB_STRESS_FILL				    ? "filled"
								    : "peak";
}

static bool mb_stress_failed(const struct mb_stress_result *r)
{
	return r->spurious || r->double_allocs || r->errors || r->commit_errors || !r->check_ok;
}

static void mb_stress_print_iter(const struct mb_stress_opts *o, uint64_t i,
				 const struct mb_stress_result *r)
{
	if (o->progress)
		fprintf(stderr, "\r\033[K");
	printf("iter %llu/%llu: enospc %llu spurious %llu, %s %.3f%%, %llu ops in %.3f s, "
	       "retries %llu, discarded %llu%s%s\n",
	       (unsigned long long)i, (unsigned long long)o->iterations,
	       (unsigned long long)r->enospc, (unsigned long long)r->spurious,
	       mb_stress_fill_word(o->mode), 100.0 * r->fill_reached, (unsigned long long)r->ops,
	       r->seconds, (unsigned long long)r->retries, (unsigned long long)r->discarded,
	       r->double_allocs ? ", DOUBLE ALLOCATION" : "", r->check_ok ? "" : ", CHECK FAILED");
	fflush(stdout);
}

static void mb_stress_add(struct mb_stress_total *tot, const struct mb_stress_result *r)
{
	struct mb_stress_result *s = &tot->sum;

	s->capacity = r->capacity;
	s->groups = r->groups;
	s->ops += r->ops;
	s->frees += r->frees;
	s->discards += r->discards;
	s->enospc += r->enospc;
	s->spurious += r->spurious;
	s->double_allocs += r->double_allocs;
	s->errors += r->errors;
	s->retries += r->retries;
	s->discarded += r->discarded;
	s->seconds += r->seconds;
	s->commits += r->commits;
	s->commit_errors += r->commit_errors;
	s->logged += r->logged;
	if (r->max_free_at_enospc > s->max_free_at_enospc)
		s->max_free_at_enospc = r->max_free_at_enospc;
	if (!tot->done || r->fill_reached < s->fill_reached)
		s->fill_reached = r->fill_reached;
	if (!tot->done || r->first_enospc_fill < s->first_enospc_fill)
		s->first_enospc_fill = r->first_enospc_fill;
	tot->check_ok &= r->check_ok;
	tot->failed += mb_stress_failed(r);
	tot->done++;
}

static void mb_stress_print_json(const struct mb_stress_opts *o, const struct mb_stress_total *t)
{
	const struct mb_stress_result *s = &t->sum;
	struct mb_json j;

	mb_json_start(&j, stdout, "stress");
	mb_json_str(&j, "mode", mb_stress_modes[o->mode]);
	mb_json_str(&j, "policy", mb_stress_policies[o->policy]);
	mb_json_u64(&j, "threads", o->threads);
	mb_json_u64(&j, "iterations", t->done);
	mb_json_u64(&j, "failed_iterations", t->failed);
	mb_json_u64(&j, "enospc", s->enospc);
	mb_json_u64(&j, "spurious_enospc", s->spurious);
	mb_json_dbl(&j, "fill_reached", s->fill_reached, 6);
	mb_json_u64(&j, "retries", s->retries);
	mb_json_u64(&j, "discarded_blocks", s->discarded);
	mb_json_u64(&j, "double_allocations", s->double_allocs);
	mb_json_bool(&j, "check_ok", t->check_ok);
	mb_json_u64(&j, "errors", s->errors);
	mb_json_str(&j, "path", o->image); /* null without --image */
	if (o->image) {
		mb_json_u64(&j, "commits", s->commits);
		mb_json_u64(&j, "commit_errors", s->commit_errors);
		mb_json_u64(&j, "logged_extents", s->logged);
	}
	mb_json_dbl(&j, "first_enospc_fill", s->first_enospc_fill, 6);
	mb_json_u64(&j, "max_free_at_enospc", s->max_free_at_enospc);
	mb_json_dbl(&j, "seconds", s->seconds, 6);
	mb_json_u64(&j, "ops", s->ops);
	mb_json_dbl(&j, "ops_per_s", s->seconds > 0 ? (double)s->ops / s->seconds : 0.0, 1);
	mb_json_u64(&j, "frees", s->frees);
	mb_json_u64(&j, "seed", o->seed);
	mb_json_u64(&j, "size_bytes", o->vol.size);
	mb_json_u64(&j, "block_size", o->vol.block_size);
	mb_json_u64(&j, "capacity_blocks", s->capacity);
	mb_json_u64(&j, "groups", s->groups);
	mb_json_dbl(&j, "fill", o->fill, 6);
	mb_json_u64(&j, "chunk_blocks", o->chunk);
	mb_json_dbl(&j, "duration", o->duration, 3);
	mb_json_finish(&j);
}

static void mb_stress_print_text(const struct mb_stress_opts *o, const struct mb_stress_total *t)
{
	const struct mb_stress_result *s = &t->sum;

	printf("mballoc stress: mode %s, policy %s, %llu threads, seed %llu\n",
	       mb_stress_modes[o->mode], mb_stress_policies[o->policy],
	       (unsigned long long)o->threads, (unsigned long long)o->seed);
	printf("  volume: %llu bytes, %llu-byte blocks, capacity %llu blocks, %u group(s)\n",
	       (unsigned long long)o->vol.size, (unsigned long long)o->vol.block_size,
	       (unsigned long long)s->capacity, s->groups);
	if (o->image)
		printf("  image: %s, %llu commit(s) by the tool (%llu failed), %llu extent(s) "
		       "logged\n", o->image, (unsigned long long)s->commits,
		       (unsigned long long)s->commit_errors, (unsigned long long)s->logged);
	printf("  iterations: %llu, failed %llu\n", (unsigned long long)t->done,
	       (unsigned long long)t->failed);
	printf("  enospc: %llu, spurious %llu (at most %llu blocks free at an ENOSPC)\n",
	       (unsigned long long)s->enospc, (unsigned long long)s->spurious,
	       (unsigned long long)s->max_free_at_enospc);
	printf("  %s: %.3f%% (min); held at the first ENOSPC: %.3f%% of capacity (min)\n",
	       mb_stress_fill_word(o->mode), 100.0 * s->fill_reached, 100.0 * s->first_enospc_fill);
	printf("  retries: %llu, discarded blocks: %llu\n", (unsigned long long)s->retries,
	       (unsigned long long)s->discarded);
	printf("  double allocations: %llu, check: %s, errors: %llu\n",
	       (unsigned long long)s->double_allocs, t->check_ok ? "ok" : "FAILED",
	       (unsigned long long)s->errors);
	printf("  ops: %llu in %.3f s (%.0f ops/s)\n", (unsigned long long)s->ops, s->seconds,
	       s->seconds > 0 ? (double)s->ops / s->seconds : 0.0);
	printf("%s\n", t->failed ? "FAIL" : "PASS");
}

int mb_cmd_stress(int argc, char **argv)
{
	struct mb_stress_opts o;
	struct mb_stress_total tot = { .check_ok = true };
	struct mb_stress_result r;
	int rc = mb_stress_parse(argc, argv, &o);

	if (rc)
		return rc;
	if (o.image && (rc = mb_stress_image_prepare(&o)))
		return rc;
	for (uint64_t i = 1; i <= o.iterations; i++) {
		int err = mb_stress_iteration(&o, i, &r);

		/* already reported; a geometry the library refuses is bad usage */
		if (err)
			return err == -EINVAL && i == 1 ? MB_EXIT_USAGE : MB_EXIT_FAIL;
		mb_stress_add(&tot, &r);
		if (!o.json && !o.quiet)
			mb_stress_print_iter(&o, i, &r);
	}
	if (o.progress)
		fprintf(stderr, "\r\033[K");
	if (o.json)
		mb_stress_print_json(&o, &tot);
	else
		mb_stress_print_text(&o, &tot);
	return tot.failed ? MB_EXIT_FAIL : MB_EXIT_OK;
}
