/* SPDX-License-Identifier: MIT */
/*
 * cmd_inspect.c - `mballoc groups` and `mballoc stats`: ext4's
 * /proc/fs/ext4/<dev>/mb_groups and mb_stats, for a volume PATH (opened
 * read-only) or, with --synthetic, an in-memory volume aged by a seeded
 * workload (files growing in small requests, random frees).  The workload
 * and its options are shared with `freefrag` and `map` (cli.h, source.c).
 */
#define _GNU_SOURCE /* sched_getcpu, CPU_SET */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct mb_inspect_opts {
	struct mb_source src;
	bool json;
};

static void mb_inspect_usage(const char *cmd, FILE *f)
{
	fprintf(f,
		"usage: mballoc %s PATH [--json]\n"
		"       mballoc %s --synthetic [aging options] [--json]\n"
		"Prints %s of the volume in PATH (opened read-only)\n"
		"or of an in-memory volume aged by a seeded workload.\n"
		MB_AGE_HELP
		"  --json                  one JSON object on stdout\n"
		"  -h, --help\n",
		cmd, cmd, strcmp(cmd, "groups") ? "ext4's mb_stats" : "the per-group table");
}

int mb_inspect_parse_opt(const char *cmd, int c, const char *arg, struct mb_age_opts *o)
{
	static const struct option age[] = { MB_AGE_LONGOPTS };
	const char *name = "?";
	bool ok;

	switch (c) {
	case 's': ok = !mb_parse_size(arg, &o->vol.size); break;
	case 'b': ok = !mb_parse_size(arg, &o->vol.block_size); break;
	case 'g': ok = mb_parse_u64(arg, &o->vol.blocks_per_group); break;
	case 'f': ok = mb_parse_double(arg, &o->fill) && o->fill >= 0 && o->fill <= 1; break;
	case 'n': ok = mb_parse_u64(arg, &o->files) && o->files > 0 && o->files < 1000000; break;
	case 'S': ok = mb_parse_u64(arg, &o->seed); break;
	default: return -1;
	}
	if (ok)
		return 0;
	for (size_t i = 0; i < sizeof(age) / sizeof(age[0]); i++)
		if (age[i].val == c)
			name = age[i].name;
	return mb_cli_usage_err(cmd, "invalid value for --%s: '%s'", name, arg);
}

static int mb_inspect_parse(const char *cmd, int argc, char **argv, struct mb_inspect_opts *o)
{
	static const struct option longopts[] = {
		MB_SOURCE_LONGOPTS,
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c, rc;

	*o = (struct mb_inspect_opts){ MB_SOURCE_DEFAULTS, false };
	optind = 1;
	opterr = 0; /* our own message, in the CLI's format */
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': o->json = true; break;
		case 'h': mb_inspect_usage(cmd, stdout); exit(MB_EXIT_OK);
		case '?': return mb_cli_bad_option(cmd, argv);
		default:
			if ((rc = mb_source_opt(cmd, c, optarg, &o->src)))
				return rc < 0 ? MB_EXIT_USAGE : rc;
		}
	}
	return mb_source_args(cmd, argc, argv, &o->src);
}

static uint64_t mb_rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Appends one slot to *ex (capacity *cap); NULL when out of memory. */
static struct mb_extent *mb_inspect_slot(struct mb_extent **ex, size_t nex, size_t *cap)
{
	if (nex == *cap) {
		size_t ncap = *cap ? 2 * *cap : 1024;
		struct mb_extent *n = realloc(*ex, ncap * sizeof(*n));

		if (!n)
			return NULL;
		*ex = n;
		*cap = ncap;
	}
	return &(*ex)[nex];
}

int mb_inspect_age(struct mb_volume *vol, const struct mb_age_opts *o)
{
	uint64_t rng = o->seed * 2654435761ULL + 1, used = 0;
	uint64_t target = (uint64_t)(o->fill * (double)mb_free_blocks(vol));
	struct mb_file **files = calloc(o->files, sizeof(*files));
	uint64_t *next = calloc(o->files, sizeof(*next));
	struct mb_extent *ex = NULL, *slot;
	size_t nex = 0, cap = 0;
	int err = files && next ? 0 : -ENOMEM;

	for (uint64_t i = 0; !err && i < o->files; i++)
		err = mb_file_open(vol, i + 1, &files[i]);
	for (uint64_t i = 0; !err && used < target; i = (i + 1) % o->files) {
		struct mb_request rq = { .file = files[i], .logical = next[i], .goal = MB_GOAL_NONE,
					 .len = (uint32_t)(1 + mb_rng(&rng) % 8) };

		if (!(slot = mb_inspect_slot(&ex, nex, &cap)))
			err = -ENOMEM;
		else if (!(err = mb_alloc(vol, &rq, slot))) {
			next[i] += slot->len;
			used += slot->len;
			nex++;
		}
	}
	if (err == -ENOSPC)
		err = 0;
	for (size_t k = 0; !err && k < nex; k++)
		if (mb_rng(&rng) % 3 == 0)
			err = mb_free(vol, ex[k].start, ex[k].len);
	for (uint64_t i = 0; files && i < o->files; i++)
		if (files[i])
			mb_file_close(files[i]);
	free(files);
	free(next);
	free(ex);
	return err;
}

/*
 * Keeps the aging on the CPU it starts on: small files take the locality
 * group of the caller's CPU, so a migration in the middle would give the
 * same seed another volume.  Any one CPU gives the same volume (the groups
 * are symmetric).  Best effort: without it, runs may differ.
 */
static void mb_inspect_pin(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

int mb_inspect_volume(const char *cmd, const struct mb_age_opts *o, struct mb_volume **out)
{
	if (mb_cli_make_volume(cmd, &o->vol, out))
		return MB_EXIT_FAIL;
	mb_tunable_set(*out, "mb_stats", 1); /* so `stats` sees the workload */
	mb_inspect_pin();
	int err = mb_inspect_age(*out, o);

	if (err) {
		mb_cli_err(cmd, "workload failed: %s", strerror(-err));
		mb_volume_destroy(*out);
		*out = NULL;
		return MB_EXIT_FAIL;
	}
	return 0;
}

static int mb_inspect_setup(const char *cmd, int argc, char **argv, struct mb_inspect_opts *o,
			    struct mb_volume **vol)
{
	int rc = mb_inspect_parse(cmd, argc, argv, o);

	return rc ? rc : mb_source_open(cmd, &o->src, vol);
}

/* The kernel's mb_groups prints orders 0..13 whatever the block size:
 * zeros past the volume's highest order, nothing past 13. */
#define MB_KERNEL_ORDERS 14

static int mb_group_touch(uint64_t start, uint32_t len, void *arg)
{
	(void)start, (void)len, (void)arg;
	return 0;
}

static void mb_print_group_row(struct mb_volume *vol, uint32_t g, struct mb_json *j, int orders)
{
	struct mb_group_stat st;

	/* Reading mb_groups loads every group's buddy in ext4: show the
	   bitmap's counters, not a lazy group's estimate (a load error shows
	   as the corrupt flag or the estimate) */
	mb_group_free_extents(vol, g, 0, mb_group_touch, NULL);
	mb_group_stat(vol, g, &st);
	if (j) {
		mb_json_obj(j, NULL);
		mb_json_u64(j, "group", g);
		mb_json_u64(j, "free_blocks", st.free);
		mb_json_u64(j, "fragments", st.fragments);
		mb_json_u64(j, "first_free", st.first_free);
		mb_json_arr(j, "counters");
		for (int k = 0; k < orders; k++)
			mb_json_u64(j, NULL, st.counters[k]);
		mb_json_end(j);
		mb_json_bool(j, "corrupt", st.flags & MB_GROUP_CORRUPT);
		mb_json_end(j);
		return;
	}
	printf("#%-5u: %-5u %-5u %-5u [", g, st.free, st.fragments, st.first_free);
	for (int k = 0; k < MB_KERNEL_ORDERS; k++)
		printf(" %-5u", k < orders ? st.counters[k] : 0);
	printf(" ]%s\n", (st.flags & MB_GROUP_CORRUPT) ? " Block bitmap corrupted!" : "");
}

int mb_cmd_groups(int argc, char **argv)
{
	struct mb_inspect_opts o;
	struct mb_volume *vol;
	struct mb_json j;
	int rc = mb_inspect_setup("groups", argc, argv, &o, &vol);

	if (rc)
		return rc;
	int orders = mb_max_order(vol) + 1;
	if (o.json) {
		mb_json_start(&j, stdout, "groups");
		mb_json_str(&j, "path", o.src.path);
		mb_json_u64(&j, "free_blocks", mb_free_blocks(vol));
		mb_json_arr(&j, "groups");
	} else {
		printf("#group: free  frags first [");
		for (int k = 0; k < MB_KERNEL_ORDERS; k++)
			printf(" 2^%-3d", k);
		printf(" ]\n");
	}
	for (uint32_t g = 0; g < mb_groups_count(vol); g++)
		mb_print_group_row(vol, g, o.json ? &j : NULL, orders);
	if (o.json)
		mb_json_finish(&j);
	mb_volume_destroy(vol);
	return MB_EXIT_OK;
}

static const char *const mb_cr_stat_names[MB_NUM_CRS] = {
	"cr_p2_aligned_stats", "cr_goal_fast_stats", "cr_best_avail_stats", "cr_goal_slow_stats",
	"cr_any_free_stats"
};

static void mb_print_stats_text(struct mb_volume *vol, const struct mb_stats *st)
{
#define P(name, v) printf("\t%s: %llu\n", name, (unsigned long long)(v))
	printf("mballoc:\n");
	P("reqs", st->reqs);
	P("success", st->success);
	P("groups_scanned", st->groups_scanned);
	for (int cr = 0; cr < MB_NUM_CRS; cr++) {
		printf("\t%s:\n", mb_cr_stat_names[cr]);
		printf("\t\thits: %llu\n", (unsigned long long)st->cr[cr].hits);
		printf("\t\tgroups_considered: %llu\n",
		       (unsigned long long)st->cr[cr].groups_considered);
		printf("\t\textents_scanned: %llu\n", (unsigned long long)st->cr[cr].extents_scanned);
		printf("\t\tuseless_loops: %llu\n", (unsigned long long)st->cr[cr].useless_loops);
	}
	P("extents_scanned", st->extents_scanned);
	P("goal_hits", st->goal_hits);
	P("stream_goal_hits", st->stream_goal_hits);
	P("len_goal_hits", st->len_goal_hits);
	P("2^n_hits", st->two_n_hits);
	P("breaks", st->breaks);
	P("lost", st->lost);
	printf("\tbuddies_generated: %llu/%u\n", (unsigned long long)st->buddies_generated,
	       mb_groups_count(vol));
	P("preallocated", st->preallocated);
	P("discarded", st->discarded);
	P("pa_hits", st->pa_hits);
	P("enospc", st->enospc);
	P("retries", st->retries);
	P("strict_retries", st->strict_retries);
	P("discard_passes", st->discard_passes);
#undef P
}

/* The same counters under the same names (ext4's), in the "mballoc" object. */
static void mb_print_stats_json(struct mb_volume *vol, const char *path, const struct mb_stats *st)
{
	struct mb_json j;

	mb_json_start(&j, stdout, "stats");
	mb_json_str(&j, "path", path);
	mb_json_u64(&j, "groups", mb_groups_count(vol));
	mb_json_u64(&j, "free_blocks", mb_free_blocks(vol));
	mb_json_obj(&j, "mballoc");
	mb_json_u64(&j, "reqs", st->reqs);
	mb_json_u64(&j, "success", st->success);
	mb_json_u64(&j, "groups_scanned", st->groups_scanned);
	for (int cr = 0; cr < MB_NUM_CRS; cr++) {
		mb_json_obj(&j, mb_cr_stat_names[cr]);
		mb_json_u64(&j, "hits", st->cr[cr].hits);
		mb_json_u64(&j, "groups_considered", st->cr[cr].groups_considered);
		mb_json_u64(&j, "extents_scanned", st->cr[cr].extents_scanned);
		mb_json_u64(&j, "useless_loops", st->cr[cr].useless_loops);
		mb_json_end(&j);
	}
	mb_json_u64(&j, "extents_scanned", st->extents_scanned);
	mb_json_u64(&j, "goal_hits", st->goal_hits);
	mb_json_u64(&j, "stream_goal_hits", st->stream_goal_hits);
	mb_json_u64(&j, "len_goal_hits", st->len_goal_hits);
	mb_json_u64(&j, "2^n_hits", st->two_n_hits);
	mb_json_u64(&j, "breaks", st->breaks);
	mb_json_u64(&j, "lost", st->lost);
	mb_json_u64(&j, "buddies_generated", st->buddies_generated);
	mb_json_u64(&j, "preallocated", st->preallocated);
	mb_json_u64(&j, "discarded", st->discarded);
	mb_json_u64(&j, "pa_hits", st->pa_hits);
	mb_json_u64(&j, "enospc", st->enospc);
	mb_json_u64(&j, "retries", st->retries);
	mb_json_u64(&j, "strict_retries", st->strict_retries);
	mb_json_u64(&j, "discard_passes", st->discard_passes);
	mb_json_finish(&j);
}

int mb_cmd_stats(int argc, char **argv)
{
	struct mb_inspect_opts o;
	struct mb_volume *vol;
	struct mb_stats st;
	int rc = mb_inspect_setup("stats", argc, argv, &o, &vol);

	if (rc)
		return rc;
	/* on a volume PATH the counters are this open's: none are kept on disk */
	mb_stats_get(vol, &st);
	if (o.json)
		mb_print_stats_json(vol, o.src.path, &st);
	else
		mb_print_stats_text(vol, &st);
	mb_volume_destroy(vol);
	return MB_EXIT_OK;
}
