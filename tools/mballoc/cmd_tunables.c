/* SPDX-License-Identifier: MIT */
/*
 * cmd_tunables.c - `mballoc tunables [PATH]`: every library tunable with
 * its value, range and meaning, from the library's own table
 * (mb_tunable_name, mb_tunable_info), and the words for a bad --tunable
 * shared by the commands that take one.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const mb_tunables_help =
	"usage: mballoc tunables [PATH] [--json]\n"
	"Lists the allocator's tunables (ext4's /sys/fs/ext4/<dev>/ names where ext4\n"
	"has them): value, accepted range and meaning.  Tunables live in memory and\n"
	"start at their defaults on every open; with PATH (opened read-only) the\n"
	"defaults and ranges are that volume's, without it those of a fresh in-memory\n"
	"volume of 256 MiB with 4 KiB blocks.  mb_profile sets every departure from\n"
	"ext4 at once (0 mballoc, the default; 1 ext4; 2 project); commands that take\n"
	"--tunable NAME=VALUE accept those names for it, e.g. --tunable mb_profile=ext4.\n"
	"  --json                  one JSON object on stdout\n"
	"  -h, --help\n";

static const char *const mb_profile_names[] = { "mballoc", "ext4", "project" };

bool mb_parse_tunable_value(const char *name, const char *s, uint64_t *out)
{
	if (!strcmp(name, "mb_profile"))
		for (uint64_t i = 0; i < sizeof(mb_profile_names) / sizeof(mb_profile_names[0]); i++)
			if (!strcmp(s, mb_profile_names[i])) {
				*out = i;
				return true;
			}
	return mb_parse_u64(s, out);
}

void mb_cli_tunable_err(const char *cmd, struct mb_volume *vol, const char *name,
			uint64_t value, int err)
{
	uint64_t lo, hi;
	const char *n;

	if (err == -EINVAL && !mb_tunable_info(vol, name, &lo, &hi, NULL)) {
		mb_cli_err(cmd, "tunable '%s': value %llu out of range (%llu..%llu)", name,
			   (unsigned long long)value, (unsigned long long)lo,
			   (unsigned long long)hi);
		return;
	}
	if (err != -ENOENT) {
		mb_cli_err(cmd, "tunable '%s': %s", name, strerror(-err));
		return;
	}
	fprintf(stderr, "mballoc: %s: unknown tunable '%s' (known:", cmd, name);
	for (unsigned i = 0; (n = mb_tunable_name(i)); i++)
		fprintf(stderr, "%s %s", i ? "," : "", n);
	fprintf(stderr, ")\n");
}

static int mb_tunables_parse(int argc, char **argv, const char **path, bool *json)
{
	static const struct option lo[] = {
		{ "json", no_argument, 0, 'j' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	int c;

	*path = NULL;
	*json = false;
	optind = 1;
	opterr = 0; /* our own message, in the CLI's format */
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'j': *json = true; break;
		case 'h': fputs(mb_tunables_help, stdout); exit(MB_EXIT_OK);
		case '?': return mb_cli_bad_option("tunables", argv);
		default: return MB_EXIT_USAGE;
		}
	}
	if (optind < argc)
		*path = argv[optind++];
	if (optind < argc)
		return mb_cli_usage_err("tunables", "unexpected argument '%s'", argv[optind]);
	return 0;
}

static int mb_tunables_open(const char *path, struct mb_volume **vol)
{
	struct mb_source src = MB_SOURCE_DEFAULTS;
	int err;

	if (path) {
		src.path = path;
		return mb_source_open("tunables", &src, vol);
	}
	src.age.vol.blocks_per_group = 0;
	if ((err = mb_cli_make_volume("tunables", &src.age.vol, vol)))
		return MB_EXIT_FAIL;
	return 0;
}

static void mb_tunables_print(struct mb_volume *vol, const char *path, bool json)
{
	struct mb_json j;
	const char *name, *help;
	uint64_t v, lo, hi;

	if (json) {
		mb_json_start(&j, stdout, "tunables");
		mb_json_str(&j, "path", path);
		mb_json_arr(&j, "tunables");
	} else {
		printf("%-29s %10s  %-15s %s\n", "name", "value", "range", "meaning");
	}
	for (unsigned i = 0; (name = mb_tunable_name(i)); i++) {
		mb_tunable_get(vol, name, &v);
		mb_tunable_info(vol, name, &lo, &hi, &help);
		if (!json) {
			char range[48];

			snprintf(range, sizeof(range), "%llu..%llu", (unsigned long long)lo,
				 (unsigned long long)hi);
			printf("%-29s %10llu  %-15s %s\n", name, (unsigned long long)v, range, help);
			continue;
		}
		mb_json_obj(&j, NULL);
		mb_json_str(&j, "name", name);
		mb_json_u64(&j, "value", v);
		mb_json_u64(&j, "min", lo);
		mb_json_u64(&j, "max", hi);
		mb_json_str(&j, "meaning", help);
		mb_json_end(&j);
	}
	if (json)
		mb_json_finish(&j);
}

int mb_cmd_tunables(int argc, char **argv)
{
	const char *path;
	bool json;
	struct mb_volume *vol;
	int rc = mb_tunables_parse(argc, argv, &path, &json);

	if (rc || (rc = mb_tunables_open(path, &vol)))
		return rc;
	/* mb_stats is on for inspection; show the default */
	mb_tunable_set(vol, "mb_stats", 0);
	mb_tunables_print(vol, path, json);
	mb_volume_destroy(vol);
	return MB_EXIT_OK;
}
