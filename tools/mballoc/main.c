/* SPDX-License-Identifier: MIT */
/*
 * main.c - the mballoc command: subcommand dispatch, --help, --version and
 * `mballoc help [CMD]`.
 */
#include <string.h>

#include "cli.h"

static const struct mb_cmd mb_cmds[] = {
	{ "stress", "many threads allocating on a nearly full volume (the seed scenario)",
	  mb_cmd_stress },
	{ "groups", "per-group free space table of a volume (ext4's mb_groups)", mb_cmd_groups },
	{ "stats", "allocator statistics (ext4's mb_stats)", mb_cmd_stats },
	{ "map", "draw a volume's free space per group as an SVG picture", mb_cmd_map },
	{ "trim", "discard a volume's free space (fstrim)", mb_cmd_trim },
	{ "tunables", "the allocator's tunables: values, ranges, meaning", mb_cmd_tunables },
	{ "format", "create a persistent volume in a file or block device", mb_cmd_format },
	{ "info", "geometry, free space, journal and state of a persistent volume", mb_cmd_info },
	{ "check", "verify a persistent volume (every bitmap, checksum and counter)",
	  mb_cmd_check },
	{ "bench", "speed, scaling and fragmentation vs peers in the same run", mb_cmd_bench },
	{ "freefrag", "free-extent report (e2freefrag) of a volume", mb_cmd_freefrag },
	{ "replay", "replay a Linux ext4 allocator trace and compare decisions", mb_cmd_replay },
	{ "record", "capture a Linux ext4 allocator trace of a command (root)", mb_cmd_record },
	{ "e2fs", "write ext4 images through libext2fs: populate, fallocate, rm", mb_cmd_e2fs },
};
#define MB_NCMDS (sizeof(mb_cmds) / sizeof(mb_cmds[0]))

static void mb_usage(FILE *f)
{
	fprintf(f, "usage: mballoc <command> [options]\n\n"
		   "The ext4 multi-block allocator in userspace.\n\ncommands:\n");
	for (size_t i = 0; i < MB_NCMDS; i++)
		fprintf(f, "  %-8s %s\n", mb_cmds[i].name, mb_cmds[i].summary);
	fprintf(f, "\n'mballoc help <command>' or 'mballoc <command> --help' describes a "
		   "command.\nOptions: -h, --help; -V, --version.\n");
}

static const struct mb_cmd *mb_cmd_find(const char *name)
{
	for (size_t i = 0; i < MB_NCMDS; i++)
		if (!strcmp(name, mb_cmds[i].name))
			return &mb_cmds[i];
	return NULL;
}

/* `mballoc help [CMD]`: the command's own --help. */
static int mb_help(int argc, char **argv)
{
	if (argc < 3) {
		mb_usage(stdout);
		return MB_EXIT_OK;
	}
	const struct mb_cmd *c = mb_cmd_find(argv[2]);

	if (!c || argc > 3) {
		if (!c)
			fprintf(stderr, "mballoc: help: unknown command '%s'\n", argv[2]);
		else
			fprintf(stderr, "mballoc: help: one command expected\n");
		mb_usage(stderr);
		return MB_EXIT_USAGE;
	}
	char *args[] = { argv[2], "--help", NULL };

	return c->run(2, args);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		mb_usage(stderr);
		return MB_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		mb_usage(stdout);
		return MB_EXIT_OK;
	}
	if (!strcmp(argv[1], "help"))
		return mb_help(argc, argv);
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("mballoc %s\n", mb_version());
		return MB_EXIT_OK;
	}
	const struct mb_cmd *c = mb_cmd_find(argv[1]);

	if (c)
		return c->run(argc - 1, argv + 1);
	fprintf(stderr, "mballoc: unknown command '%s'\n", argv[1]);
	mb_usage(stderr);
	return MB_EXIT_USAGE;
}
