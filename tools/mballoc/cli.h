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

#include "json.h"
#include "mballoc.h"

#define MB_EXIT_OK 0
#define MB_EXIT_FAIL 1
#define MB_EXIT_USAGE 2
/* mballoc check, as e2fsck: 4 problems found (left as they are), 8 an
 * operational error (cannot open, in use, cannot read). */
#define MB_EXIT_CHECK_PROBLEMS 4
#define MB_EXIT_CHECK_ERROR 8
#define MB_EXIT_CHECK_USAGE 16

struct mb_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

/* Parses "123", "64K", "240M", "2G", "16T", "1P" (powers of 1024). */
int mb_parse_size(const char *s, uint64_t *out);
/* Parses a plain unsigned number; false on junk or overflow. */
bool mb_parse_u64(const char *s, uint64_t *out);
/* A --tunable value: a number, or for mb_profile a profile's name
 * (mballoc, ext4, project; cmd_tunables.c). */
bool mb_parse_tunable_value(const char *name, const char *s, uint64_t *out);
bool mb_parse_double(const char *s, double *out);

/* getopt's '?' (unknown option or missing value), in the CLI's format; set
 * opterr = 0 before parsing.  Returns MB_EXIT_USAGE. */
int mb_cli_bad_option(const char *cmd, char **argv);

/* Prints s to f as a JSON string (quoted, escaped; NULL prints ""): json.h's. */
#define mb_cli_json_str mb_json_quote

/* Prints "mballoc: cmd: msg" to stderr. */
void mb_cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Why a volume open or format failed: strerror, except for the conditions
 * the program understands (-EBUSY: another process has the volume open,
 * see mb_volume_open; -EINVAL: not an mballoc volume; -EUCLEAN ...), which
 * get their own words. */
const char *mb_cli_open_strerror(int err);
/* The same, knowing the path: -EINVAL names what PATH holds instead
 * (mb_probe).  Returns a static buffer (single-threaded callers). */
const char *mb_cli_volume_why(const char *path, int err);

/*
 * What a file or device holds, by the signatures of known formats (probe.c):
 * *what is a phrase such as "an XFS file system", MB_PROBE_MBALLOC, or NULL
 * when nothing known is there.  Returns 0 or -errno when it cannot be read
 * (*what NULL).  Not thread-safe (a static buffer).
 */
#define MB_PROBE_MBALLOC "an mballoc volume"
int mb_probe(const char *path, const char **what);
/* A failed mb_tunable_set(vol, name, value) in words: "unknown tunable
 * 'x' (known: ...)", or the range the volume accepts (cmd_tunables.c). */
void mb_cli_tunable_err(const char *cmd, struct mb_volume *vol, const char *name,
			uint64_t value, int err);
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
 * The synthetic aged in-memory volume of `groups`, `stats`, `freefrag` and
 * `map` (--synthetic; cmd_inspect.c): one seeded workload, so the same
 * options give the same volume in all of them.
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
	"  --synthetic             instead of PATH: an in-memory volume aged by a seeded\n"       \
	"                          workload, shaped by these options:\n"                          \
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

/*
 * What the inspecting commands read (source.c): a volume PATH, opened
 * read-only, or the synthetic aged volume (--synthetic and the aging
 * options).  Parse with MB_SOURCE_LONGOPTS in getopt_long, hand every
 * option value to mb_source_opt, then the operands to mb_source_args.
 */
struct mb_source {
	const char *path; /* NULL: synthetic */
	bool synthetic;
	bool age_given;   /* an aging option appeared */
	struct mb_age_opts age;
};
#define MB_SOURCE_DEFAULTS ((struct mb_source){ NULL, false, false, MB_AGE_DEFAULTS })
#define MB_SOURCE_LONGOPTS MB_AGE_LONGOPTS, { "synthetic", no_argument, 0, 'Y' }
/* Returns 0, MB_EXIT_USAGE (printed), or -1 when c is not a source option. */
int mb_source_opt(const char *cmd, int c, const char *arg, struct mb_source *s);
/* Takes PATH from argv[optind..]; checks PATH xor --synthetic.  0 or MB_EXIT_USAGE. */
int mb_source_args(const char *cmd, int argc, char **argv, struct mb_source *s);
/* Opens or builds the volume, mb_stats on.  0, or MB_EXIT_FAIL after printing why. */
int mb_source_open(const char *cmd, const struct mb_source *s, struct mb_volume **out);
/* PATH, or "synthetic volume (seed N)" (a static buffer). */
const char *mb_source_name(const struct mb_source *s);

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
int mb_cmd_trim(int argc, char **argv);
int mb_cmd_map(int argc, char **argv);
int mb_cmd_tunables(int argc, char **argv);
int mb_cmd_e2fs(int argc, char **argv);

#endif
