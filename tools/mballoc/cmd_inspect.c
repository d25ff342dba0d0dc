/* SPDX-License-Identifier: MIT */
/*
 * cmd_inspect.c - `mballoc groups` and `mballoc stats`: ext4's
 * /proc/fs/ext4/<dev>/mb_groups and mb_stats, for an in-memory volume aged
 * by a seeded workload (files growing in small requests, random frees).
 * The workload and its options are shared with `mballoc freefrag` (cli.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct mb_inspect_opts {
	struct mb_age_opts age;
	bool json;
};

static void mb_inspect_usage(const char *cmd, FILE *f)
{
	fprintf(f,
		"usage: mballoc %s [options]\n"
		"Builds an in-memory volume, ages it with a seeded workload and prints %s.\n"
		MB_AGE_HELP
		"  --json                  one JSON object on stdout\n"
		"  -h, --help\n",
		cmd, strcmp(cmd, "groups") ? "ext4's mb_stats" : "the per-group table");
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
		MB_AGE_LONGOPTS,
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c, rc;

	*o = (struct mb_inspect_opts){ MB_AGE_DEFAULTS, false };
	optind = 1;
	opterr = 0; /* our own message, in the CLI's format */
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': o->json = true; break;
		case 'h': mb_inspect_usage(cmd, stdout); exit(MB_EXIT_OK);
		case '?':
			return mb_cli_usage_err(cmd, "bad option or missing value: '%s'",
						argv[optind - 1]);
		default:
			if ((rc = mb_inspect_parse_opt(cmd, c, optarg, &o->age)))
				return rc < 0 ? MB_EXIT_USAGE : rc;
		}
	}
	if (optind < argc)
		return mb_cli_usage_err(cmd, "unexpected argument '%s'", argv[optind]);
	return 0;
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

int mb_inspect_volume(const char *cmd, const struct mb_age_opts *o, struct mb_volume **out)
{
	if (mb_cli_make_volume(cmd, &o->vol, out))
		return MB_EXIT_FAIL;
	mb_tunable_set(*out, "mb_stats", 1); /* so `stats` sees the workload */
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

	return rc ? rc : mb_inspect_volume(cmd, &o->age, vol);
}

static void mb_print_group_row(struct mb_volume *vol, uint32_t g, bool json, int orders)
{
	struct mb_group_stat st;

	mb_group_stat(vol, g, &st);
	if (json) {
		printf("%s{\"group\":%u,\"free\":%u,\"frags\":%u,\"first\":%u,\"counters\":[", g ? "," : "",
		       g, st.free, st.fragments, st.first_free);
		for (int k = 0; k < orders; k++)
			printf("%s%u", k ? "," : "", st.counters[k]);
		printf("],\"corrupt\":%s}", (st.flags & MB_GROUP_CORRUPT) ? "true" : "false");
		return;
	}
	printf("#%-5u: %-5u %-5u %-5u [", g, st.free, st.fragments, st.first_free);
	for (int k = 0; k < orders; k++)
		printf(" %-5u", st.counters[k]);
	printf(" ]%s\n", (st.flags & MB_GROUP_CORRUPT) ? " Block bitmap corrupted!" : "");
}

int mb_cmd_groups(int argc, char **argv)
{
	struct mb_inspect_opts o;
	struct mb_volume *vol;
	int rc = mb_inspect_setup("groups", argc, argv, &o, &vol);

	if (rc)
		return rc;
	int orders = mb_max_order(vol) + 1;
	if (o.json) {
		printf("{\"groups\":[");
	} else {
		printf("#group: free  frags first [");
		for (int k = 0; k < orders; k++)
			printf(" 2^%-3d", k);
		printf(" ]\n");
	}
	for (uint32_t g = 0; g < mb_groups_count(vol); g++)
		mb_print_group_row(vol, g, o.json, orders);
	if (o.json)
		printf("]}\n");
	mb_volume_destroy(vol);
	return MB_EXIT_OK;
}

static void mb_print_stats(struct mb_volume *vol, const struct mb_stats *st, bool json)
{
	static const char *const crn[MB_NUM_CRS] = { "cr_p2_aligned_stats", "cr_goal_fast_stats",
						     "cr_best_avail_stats", "cr_goal_slow_stats",
						     "cr_any_free_stats" };
	const char *f = json ? "\"%s\":%llu," : "\t%s: %llu\n";
#define P(name, v) printf(f, name, (unsigned long long)(v))
	printf(json ? "{\"mballoc\":{" : "mballoc:\n");
	P("reqs", st->reqs);
	P("success", st->success);
	P("groups_scanned", st->groups_scanned);
	for (int cr = 0; cr < MB_NUM_CRS; cr++) {
		printf(json ? "\"%s\":{" : "\t%s:\n", crn[cr]);
		const char *g = json ? "\"%s\":%llu%s" : "\t\t%s: %llu\n%s";
		printf(g, "hits", (unsigned long long)st->cr[cr].hits, json ? "," : "");
		printf(g, "groups_considered", (unsigned long long)st->cr[cr].groups_considered,
		       json ? "," : "");
		printf(g, "extents_scanned", (unsigned long long)st->cr[cr].extents_scanned,
		       json ? "," : "");
		printf(g, "useless_loops", (unsigned long long)st->cr[cr].useless_loops, "");
		if (json)
			printf("},");
	}
	P("extents_scanned", st->extents_scanned);
	P("goal_hits", st->goal_hits);
	P("stream_goal_hits", st->stream_goal_hits);
	P("len_goal_hits", st->len_goal_hits);
	P("2^n_hits", st->two_n_hits);
	P("breaks", st->breaks);
	P("lost", st->lost);
	if (json)
		printf("\"buddies_generated\":%llu,\"groups\":%u,",
		       (unsigned long long)st->buddies_generated, mb_groups_count(vol));
	else
		printf("\tbuddies_generated: %llu/%u\n", (unsigned long long)st->buddies_generated,
		       mb_groups_count(vol));
	P("preallocated", st->preallocated);
	P("discarded", st->discarded);
	P("pa_hits", st->pa_hits);
	P("enospc", st->enospc);
	P("retries", st->retries);
	P("strict_retries", st->strict_retries);
	printf(json ? "\"discard_passes\":%llu}}\n" : "\tdiscard_passes: %llu\n",
	       (unsigned long long)st->discard_passes);
#undef P
}

int mb_cmd_stats(int argc, char **argv)
{
	struct mb_inspect_opts o;
	struct mb_volume *vol;
	struct mb_stats st;
	int rc = mb_inspect_setup("stats", argc, argv, &o, &vol);

	if (rc)
		return rc;
	mb_stats_get(vol, &st);
	mb_print_stats(vol, &st, o.json);
	mb_volume_destroy(vol);
	return MB_EXIT_OK;
}
