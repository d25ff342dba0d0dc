/* SPDX-License-Identifier: MIT */
/*
 * source.c - the volume an inspecting command reads: a PATH opened
 * read-only (a persistent mballoc volume; any image the library's open
 * recognises), or, behind --synthetic, the in-memory volume aged by the
 * seeded workload of cmd_inspect.c.  Aging options without --synthetic
 * are a usage error rather than silently ignored.
 */
#include <string.h>
#include <unistd.h> /* optind */

#include "cli.h"

int mb_source_opt(const char *cmd, int c, const char *arg, struct mb_source *s)
{
	if (c == 'Y') {
		s->synthetic = true;
		return 0;
	}
	int rc = mb_inspect_parse_opt(cmd, c, arg, &s->age);

	if (rc == 0)
		s->age_given = true;
	return rc;
}

int mb_source_args(const char *cmd, int argc, char **argv, struct mb_source *s)
{
	if (optind < argc)
		s->path = argv[optind++];
	if (optind < argc)
		return mb_cli_usage_err(cmd, "unexpected argument '%s'", argv[optind]);
	if (s->path && s->synthetic)
		return mb_cli_usage_err(cmd, "PATH and --synthetic exclude each other");
	if (!s->path && !s->synthetic)
		return mb_cli_usage_err(cmd, "missing PATH (or --synthetic for an aged "
					     "in-memory volume)");
	if (s->age_given && !s->synthetic)
		return mb_cli_usage_err(cmd, "--size, --block-size, --blocks-per-group, --fill, "
					     "--files and --seed shape --synthetic's volume");
	return 0;
}

int mb_source_open(const char *cmd, const struct mb_source *s, struct mb_volume **out)
{
	if (s->synthetic)
		return mb_inspect_volume(cmd, &s->age, out);
	struct mb_open_opts o = { .commit_interval_s = 0, .read_only = 1 };
	int err = mb_volume_open(s->path, &o, out);

	if (err) {
		mb_cli_err(cmd, "%s: %s", s->path, mb_cli_volume_why(s->path, err));
		return MB_EXIT_FAIL;
	}
	mb_tunable_set(*out, "mb_stats", 1);
	return 0;
}

const char *mb_source_name(const struct mb_source *s)
{
	static char buf[64];

	if (s->path)
		return s->path;
	snprintf(buf, sizeof(buf), "synthetic volume (seed %llu)", (unsigned long long)s->age.seed);
	return buf;
}
