/* SPDX-License-Identifier: MIT */
/*
 * cmd_replay.c - `mballoc replay IMAGE TRACE`: replays a Linux ext4 trace
 * (ftrace text, see ../shared/traces/README.md) from the file system's
 * start image and reports how often the library made the kernel's exact
 * choice, the first divergence and the divergences grouped by kind, each
 * with the kernel's line beside ours.  --end checks the final bitmap.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "replay.h"

#define MB_RP_MAX_TUNABLES 16

struct mb_rp_opts {
	struct mb_replay_opts run;
	const char *image, *trace, *end, *stats;
	uint64_t show; /* kinds printed */
	bool json;
	char *tunable[MB_RP_MAX_TUNABLES]; /* NAME=VALUE, checked when set */
	unsigned ntunables;
};

static void mb_rp_usage(FILE *f)
{
	fprintf(f, "usage: mballoc replay [options] IMAGE TRACE\n"
		   "Replays an ext4 allocator trace (tracefs text; '-' = stdin) from IMAGE, a\n"
		   "raw ext4 image of the file system when the trace began, and compares\n"
		   "every allocation with the kernel's.\n"
		   "  -m, --mode MODE   resync (default): a differing extent is replaced by the\n"
		   "                    kernel's, so the bitmaps keep tracking the kernel;\n"
		   "                    free: our extents stay (free-running)\n"
		   "  -e, --end IMAGE   check that the final bitmap equals this image's\n"
		   "  -k, --kinds N     divergence kinds shown (default 12; all are counted)\n"
		   "  -s, --stats FILE  the kernel's mb_stats (mb_stats.end) with ours beside it\n"
		   "  --no-pin          do not run requests on their trace CPU (they still\n"
		   "                    name it: MB_REQ_CPU)\n"
		   "  --no-pa-resync    resync imposes the kernel's extents only, not the PAs\n"
		   "                    of its ext4_mb_new_inode_pa / ext4_mb_new_group_pa\n"
		   "  --fast-paths      mb_stats off, as a production caller runs: the PA fast\n"
		   "                    paths then decide (with --mode free; no path labels,\n"
		   "                    no --stats)\n"
		   "  -t, --tunable NAME=VALUE  set a library tunable first (repeatable), e.g.\n"
		   "                    mb_lg_sticky=1 to measure a departure from ext4, or\n"
		   "                    mb_profile=ext4 (every ext4 value; later ones override)\n"
		   "  --json            one JSON object on stdout\n"
		   "  -h, --help\n");
}

static int mb_rp_parse(int argc, char **argv, struct mb_rp_opts *o)
{
	static const struct option lo[] = {
		{ "mode", required_argument, 0, 'm' }, { "end", required_argument, 0, 'e' },
		{ "kinds", required_argument, 0, 'k' }, { "json", no_argument, 0, 'j' },
		{ "no-pin", no_argument, 0, 'P' },     { "stats", required_argument, 0, 's' },
		{ "tunable", required_argument, 0, 't' }, { "no-pa-resync", no_argument, 0, 'A' },
		{ "fast-paths", no_argument, 0, 'F' }, { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c;

	*o = (struct mb_rp_opts){ .run = { MB_REPLAY_RESYNC, 256, false }, .show = 12 };
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hm:e:k:s:t:", lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "resync"))
				o->run.mode = MB_REPLAY_RESYNC;
			else if (!strcmp(optarg, "free"))
				o->run.mode = MB_REPLAY_FREE;
			else
				return mb_cli_usage_err("replay", "invalid value for --mode: '%s' "
								  "(resync or free)", optarg);
			break;
		case 'e': o->end = optarg; break;
		case 's': o->stats = optarg; break;
		case 'k':
			if (!mb_parse_u64(optarg, &o->show))
				return mb_cli_usage_err("replay", "invalid value for --kinds: '%s'",
							optarg);
			break;
		case 'j': o->json = true; break;
		case 'P': o->run.no_pin = true; break;
		case 'A': o->run.no_pa_resync = true; break;
		case 'F': o->run.fast_paths = true; break;
		case 't':
			if (!strchr(optarg, '=') || o->ntunables == MB_RP_MAX_TUNABLES)
				return mb_cli_usage_err("replay", "invalid --tunable '%s' "
								  "(NAME=VALUE, at most %d)",
							optarg, MB_RP_MAX_TUNABLES);
			o->tunable[o->ntunables++] = optarg;
			break;
		case 'h': mb_rp_usage(stdout); exit(MB_EXIT_OK);
		default: return mb_cli_bad_option("replay", argv);
		}
	}
	/* resync removes the PAs we made by their counters; --stats prints them */
	if (o->run.fast_paths && (o->run.mode != MB_REPLAY_FREE || o->stats))
		return mb_cli_usage_err("replay", "--fast-paths needs --mode free, without --stats");
	if (argc - optind < 2)
		return mb_cli_usage_err("replay", "IMAGE and TRACE are required");
	if (argc - optind > 2)
		return mb_cli_usage_err("replay", "unexpected argument '%s'", argv[optind + 2]);
	o->image = argv[optind];
	o->trace = argv[optind + 1];
	return 0;
}

/* Applies --tunable NAME=VALUE to the new volume; -errno on a bad one. */
static int mb_rp_set_tunables(struct mb_rp_opts *o, struct mb_volume *vol)
{
	for (unsigned i = 0; i < o->ntunables; i++) {
		char *eq = strchr(o->tunable[i], '=');
		uint64_t v = UINT64_MAX; /* stays so when the value does not parse */
		int err = -EINVAL;

		*eq = '\0';
		if (mb_parse_tunable_value(o->tunable[i], eq + 1, &v))
			err = mb_tunable_set(vol, o->tunable[i], v);
		else
			mb_cli_err("replay", "--tunable %s: invalid value '%s'", o->tunable[i], eq + 1);
		if (err && v != UINT64_MAX)
			mb_cli_tunable_err("replay", vol, o->tunable[i], v, err);
		*eq = '=';
		if (err)
			return err;
	}
	return 0;
}

static double mb_pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

/* Most frequent first; ties by first occurrence. */
static int mb_rp_kind_cmp(const void *x, const void *y)
{
	const struct mb_rkind *a = x, *b = y;

	if (a->count != b->count)
		return a->count < b->count ? 1 : -1;
	return a->first_req < b->first_req ? -1 : a->first_req > b->first_req;
}

struct mb_rp_end {
	bool checked;
	int64_t diff; /* blocks that differ, or -errno */
	uint64_t first;
};

static void mb_rp_print_trace(const struct mb_trace_counts *t)
{
	printf("trace: %llu lines, %llu events (%llu not used), %llu malformed",
	       (unsigned long long)t->lines, (unsigned long long)t->events,
	       (unsigned long long)t->ignored, (unsigned long long)t->malformed);
	if (t->first_malformed)
		printf(" (first at line %llu: \"%s\")", (unsigned long long)t->first_malformed,
		       t->first_malformed_text);
	printf(", %llu unknown flags\n", (unsigned long long)t->unknown_flags);
}

static void mb_rp_print_text(const struct mb_rp_opts *o, const struct mb_rimage *img,
			     const struct mb_replay_result *r, const struct mb_rp_end *e)
{
	printf("replay: %s (%llu blocks of %u bytes, %u groups, %u blocks per group, flex_bg %u)\n"
	       "mode: %s\n",
	       o->image, (unsigned long long)img->geo.blocks_count, img->geo.block_size,
	       img->groups, img->geo.blocks_per_group, img->flex_bg,
	       o->run.mode == MB_REPLAY_RESYNC ? "resync" : "free");
	mb_rp_print_trace(&r->trace);
	printf("requests %llu, exact %llu (%.1f%%), same group %llu (%.1f%%), first divergence "
	       "%lld\n",
	       (unsigned long long)r->requests, (unsigned long long)r->exact,
	       mb_pct(r->exact, r->requests), (unsigned long long)r->same_group,
	       mb_pct(r->same_group, r->requests), (long long)r->first_divergence);
	printf("unmatched %llu, ours failed %llu, kernel failed %llu, replaced %llu, resync "
	       "conflicts %llu (PA drops %llu), PAs imposed %llu (%llu refused)\n",
	       (unsigned long long)r->unmatched, (unsigned long long)r->ours_failed,
	       (unsigned long long)r->kernel_failed, (unsigned long long)r->replaced,
	       (unsigned long long)r->resync_conflicts, (unsigned long long)r->resync_pa_discards,
	       (unsigned long long)r->pa_resyncs, (unsigned long long)r->pa_resync_conflicts);
	printf("frees %llu (%llu blocks, %llu refused), commits %llu, PA discards %llu, "
	       "evictions %llu, inodes freed %llu\n",
	       (unsigned long long)r->frees, (unsigned long long)r->free_blocks,
	       (unsigned long long)r->free_errors, (unsigned long long)r->commits,
	       (unsigned long long)r->discards, (unsigned long long)r->evictions,
	       (unsigned long long)r->inode_frees);
	printf("CPUs: highest %llu; %llu of %llu requests ran on their trace CPU; %llu data requests "
	       "end past the i_size the trace shows; %llu on a file not open for write\n",
	       (unsigned long long)r->cpu_max, (unsigned long long)r->cpu_pinned,
	       (unsigned long long)r->requests, (unsigned long long)r->beyond_isize,
	       (unsigned long long)r->closed_for_write);
	if (e->checked && e->diff >= 0)
		printf("final bitmap: %s", e->diff ? "DIFFERS" : "matches the end image\n");
	if (e->checked && e->diff > 0)
		printf(" in %lld blocks (first %llu)\n", (long long)e->diff,
		       (unsigned long long)e->first);
	if (r->nkinds)
		printf("divergences by kind (count, first request, kernel's line / ours):\n");
	for (uint32_t i = 0; i < r->nkinds && i < o->show; i++)
		printf("%6llu  #%llu  %s\n        kernel: %s\n        ours:   %s\n",
		       (unsigned long long)r->kinds[i].count,
		       (unsigned long long)r->kinds[i].first_req, r->kinds[i].name,
		       r->kinds[i].kernel, r->kinds[i].ours);
	if (r->nkinds > o->show)
		printf("  ... %u more kinds (--kinds N)\n", r->nkinds - (uint32_t)o->show);
	if (o->stats)
		mb_rstats_print(o->stats, &r->stats, NULL);
}

static void mb_rp_print_json(const struct mb_rp_opts *o, const struct mb_rimage *img,
			     const struct mb_replay_result *r, const struct mb_rp_end *e)
{
	const struct mb_trace_counts *t = &r->trace;
	struct mb_json j;

	mb_json_start(&j, stdout, "replay");
	mb_json_str(&j, "mode", o->run.mode == MB_REPLAY_RESYNC ? "resync" : "free");
	mb_json_obj(&j, "geometry");
	mb_json_u64(&j, "block_size", img->geo.block_size);
	mb_json_u64(&j, "blocks_count", img->geo.blocks_count);
	mb_json_u64(&j, "blocks_per_group", img->geo.blocks_per_group);
	mb_json_u64(&j, "first_data_block", img->geo.first_data_block);
	mb_json_u64(&j, "groups", img->groups);
	mb_json_u64(&j, "flex_bg", img->flex_bg);
	mb_json_end(&j);
	mb_json_u64(&j, "requests", r->requests);
	mb_json_u64(&j, "exact", r->exact);
	mb_json_dbl(&j, "exact_pct", mb_pct(r->exact, r->requests), 2);
	mb_json_u64(&j, "same_group", r->same_group);
	mb_json_dbl(&j, "same_group_pct", mb_pct(r->same_group, r->requests), 2);
	mb_json_i64(&j, "first_divergence", r->first_divergence);
	if (!e->checked || e->diff < 0)
		mb_json_null(&j, "final_bitmap_matches");
	else
		mb_json_bool(&j, "final_bitmap_matches", !e->diff);
	mb_json_u64(&j, "final_bitmap_diff_blocks",
		    e->checked && e->diff > 0 ? (uint64_t)e->diff : 0);
	mb_json_u64(&j, "unmatched", r->unmatched);
	mb_json_u64(&j, "ours_failed", r->ours_failed);
	mb_json_u64(&j, "kernel_failed", r->kernel_failed);
	mb_json_u64(&j, "replaced", r->replaced);
	mb_json_u64(&j, "resync_conflicts", r->resync_conflicts);
	mb_json_u64(&j, "pa_resyncs", r->pa_resyncs);
	mb_json_u64(&j, "pa_resync_conflicts", r->pa_resync_conflicts);
	mb_json_u64(&j, "frees", r->frees);
	mb_json_u64(&j, "free_errors", r->free_errors);
	mb_json_u64(&j, "commits", r->commits);
	mb_json_u64(&j, "cpu_pinned", r->cpu_pinned);
	mb_json_u64(&j, "beyond_isize", r->beyond_isize);
	mb_json_u64(&j, "closed_for_write", r->closed_for_write);
	mb_json_obj(&j, "trace");
	mb_json_u64(&j, "lines", t->lines);
	mb_json_u64(&j, "events", t->events);
	mb_json_u64(&j, "ignored", t->ignored);
	mb_json_u64(&j, "malformed", t->malformed);
	mb_json_u64(&j, "too_long", t->too_long);
	mb_json_u64(&j, "unknown_flags", t->unknown_flags);
	mb_json_u64(&j, "first_malformed_line", t->first_malformed);
	mb_json_obj(&j, "kinds");
	for (int k = 1; k < MB_TEV_NKINDS; k++)
		mb_json_u64(&j, mb_tev_kind_name((enum mb_tev_kind)k), t->kind[k]);
	mb_json_end(&j);
	mb_json_end(&j);
	mb_json_arr(&j, "divergences");
	for (uint32_t i = 0; i < r->nkinds; i++) {
		mb_json_obj(&j, NULL);
		mb_json_str(&j, "kind", r->kinds[i].name);
		mb_json_u64(&j, "count", r->kinds[i].count);
		mb_json_u64(&j, "first", r->kinds[i].first_req);
		mb_json_str(&j, "kernel", r->kinds[i].kernel);
		mb_json_str(&j, "ours", r->kinds[i].ours);
		mb_json_end(&j);
	}
	mb_json_end(&j);
	if (o->stats) {
		mb_json_arr(&j, "mb_stats");
		mb_rstats_print(o->stats, &r->stats, &j);
		mb_json_end(&j);
	}
	mb_json_finish(&j);
}

/* Loads an image; prints the error itself. */
static int mb_rp_load(const char *path, bool scratch, struct mb_rimage *img)
{
	const char *why;
	int err = mb_rimage_load(path, scratch, img, &why);

	if (err)
		mb_cli_err("replay", "%s: %s", path, why ? why : strerror(-err));
	return err;
}

static struct mb_rp_end mb_rp_check_end(const char *path, struct mb_volume *vol,
					const struct mb_rimage *start)
{
	struct mb_rp_end e = { .checked = true, .diff = -EINVAL };
	struct mb_rimage end;

	if (mb_rp_load(path, false, &end))
		return e;
	if (memcmp(&end.geo, &start->geo, sizeof(end.geo)))
		mb_cli_err("replay", "%s: not the geometry of the start image", path);
	else
		e.diff = mb_rimage_compare(vol, &end, &e.first);
	if (e.diff < 0 && e.diff != -EINVAL)
		mb_cli_err("replay", "%s: %s", path, strerror((int)-e.diff));
	mb_rimage_free(&end);
	return e;
}

static FILE *mb_rp_open_trace(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;

	if (!f)
		mb_cli_err("replay", "%s: %s", path, strerror(errno));
	return f;
}

int mb_cmd_replay(int argc, char **argv)
{
	struct mb_rp_opts o;
	struct mb_rimage img;
	struct mb_replay_result r = { 0 };
	struct mb_rp_end e = { 0 };
	struct mb_volume *vol = NULL;
	FILE *f;
	int rc = mb_rp_parse(argc, argv, &o), err;

	if (rc)
		return rc;
	if (o.stats && access(o.stats, R_OK)) {
		mb_cli_err("replay", "%s: %s", o.stats, strerror(errno));
		return MB_EXIT_FAIL;
	}
	if (mb_rp_load(o.image, true, &img))
		return MB_EXIT_FAIL;
	if ((err = mb_rimage_volume(&img, &vol))) {
		mb_cli_err("replay", "%s: cannot build the volume: %s", o.image, strerror(-err));
		mb_rimage_free(&img);
		return MB_EXIT_FAIL;
	}
	if (mb_rp_set_tunables(&o, vol)) {
		rc = MB_EXIT_USAGE;
		goto out;
	}
	if (!(f = mb_rp_open_trace(o.trace))) {
		rc = MB_EXIT_FAIL;
		goto out;
	}
	err = mb_replay_run(vol, &img, f, &o.run, &r);
	if (f != stdin)
		fclose(f);
	if (err)
		mb_cli_err("replay", "%s: %s", o.trace, strerror(-err));
	if (r.nkinds) /* qsort(NULL, 0) is undefined */
		qsort(r.kinds, r.nkinds, sizeof(*r.kinds), mb_rp_kind_cmp);
	if (o.end)
		e = mb_rp_check_end(o.end, vol, &img);
	if (o.json)
		mb_rp_print_json(&o, &img, &r, &e);
	else
		mb_rp_print_text(&o, &img, &r, &e);
	rc = err || (e.checked && e.diff != 0) ? MB_EXIT_FAIL : MB_EXIT_OK;
	mb_replay_result_free(&r);
out:
	mb_volume_destroy(vol);
	mb_rimage_free(&img);
	return rc;
}
