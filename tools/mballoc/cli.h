/* SPDX-License-Identifier: MIT */
/*
 * cli.h - shared helpers of the mballoc command-line tool: argument
 * parsing (sizes with K/M/G/T suffixes), error messages in the form
 * "mballoc: <cmd>: <what>: <why>", and exit codes.
 */
#ifndef MB_CLI_H
#define MB_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mballoc.h"

#define MB_EXIT_OK 0
#define MB_EXIT_FAIL 1
#define MB_EXIT_USAGE 2

struct mb_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

/* Parses "123", "64K", "240M", "2G", "16T", "1P" (powers of 1024). */
int mb_parse_size(const char *s, uint64_t *out);
/* Parses a plain unsigned number; false on junk or overflow. */
bool mb_parse_u64(const char *s, uint64_t *out);
bool mb_parse_double(const char *s, double *out);

/* getopt's '?' (unknown option or missing value), in the CLI's format; set
 * opterr = 0 before parsing.  Returns MB_EXIT_USAGE. */
int mb_cli_bad_option(const char *cmd, char **argv);

/* Prints s to f as a JSON string (quoted, escaped; NULL prints ""). */
void mb_cli_json_str(FILE *f, const char *s);

/* Prints "mballoc: cmd: msg" to stderr. */
void mb_cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Why a volume open or format failed: strerror, except -EBUSY (another
 * process has the volume open, see mb_volume_open) gets its own words. */
const char *mb_cli_open_strerror(int err);
/* Usage error: message, then the command's usage hint; returns MB_EXIT_USAGE. */
int mb_cli_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Geometry options shared by the commands that build an in-memory volume. */
struct mb_vol_opts {
	uint64_t size;       /* bytes */
	uint64_t block_size; /* bytes */
	uint64_t blocks_per_group;
	uint64_t reserved;   /* per group */
};
/* Makes an in-memory volume from opts; prints the error itself. */
int mb_cli_make_volume(const char *cmd, const struct mb_vol_opts *o, struct mb_volume **out);

/*
 * The aged in-memory volume of `groups`, `stats` and `freefrag`
 * (cmd_inspect.c): one seeded workload, so the same options give the same
 * volume in all three.
 */
struct mb_age_opts {
	struct mb_vol_opts vol;
	double fill;    /* fraction of the free space to fill before freeing */
	uint64_t files; /* files written round-robin */
	uint64_t seed;
};
#define MB_AGE_DEFAULTS ((struct mb_age_opts){ { 256ULL << 20, 4096, 0, 0 }, 0.7, 64, 1 })
/* getopt_long entries of the aging options; their vals are 's' 'b' 'g' 'f' 'n' 'S'. */
#define MB_AGE_LONGOPTS                                                                            \
	{ "size", required_argument, 0, 's' }, { "block-size", required_argument, 0, 'b' },        \
	{ "blocks-per-group", required_argument, 0, 'g' }, { "fill", required_argument, 0, 'f' },  \
	{ "files", required_argument, 0, 'n' }, { "seed", required_argument, 0, 'S' }
#define MB_AGE_HELP                                                                                \
	"  --size SIZE             volume size (default 256M)\n"                                   \
	"  --block-size SIZE       block size, 1K..64K (default 4K)\n"                             \
	"  --blocks-per-group N    default 8 * block size\n"                                       \
	"  --fill F                fraction to fill before freeing (default 0.7)\n"                \
	"  --files N               files written round-robin (default 64)\n"                       \
	"  --seed N                workload seed (default 1)\n"
/*
 * Applies aging option c (a val of MB_AGE_LONGOPTS) with argument arg.
 * Returns 0, MB_EXIT_USAGE after printing a bad value, or -1 when c is not
 * an aging option.
 */
int mb_inspect_parse_opt(const char *cmd, int c, const char *arg, struct mb_age_opts *o);
/* Files grow by 1..8 blocks round-robin up to the fill mark; then a third
 * of the extents, picked by the seed, are freed.  Returns 0 or -errno. */
int mb_inspect_age(struct mb_volume *vol, const struct mb_age_opts *o);
/* Makes the volume (mb_stats on) and ages it; prints errors itself.
 * Returns 0 or MB_EXIT_FAIL. */
int mb_inspect_volume(const char *cmd, const struct mb_age_opts *o, struct mb_volume **out);

int mb_cmd_groups(int argc, char **argv);
int mb_cmd_stats(int argc, char **argv);
int mb_cmd_stress(int argc, char **argv);
int mb_cmd_format(int argc, char **argv);
int mb_cmd_info(int argc, char **argv);
int mb_cmd_check(int argc, char **argv);
int mb_cmd_bench(int argc, char **argv);
int mb_cmd_freefrag(int argc, char **argv);
int mb_cmd_replay(int argc, char **argv);
int mb_cmd_record(int argc, char **argv);

#endif
