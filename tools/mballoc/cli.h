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

/* Prints "mballoc: cmd: msg" to stderr. */
void mb_cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
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

int mb_cmd_groups(int argc, char **argv);
int mb_cmd_stats(int argc, char **argv);
int mb_cmd_stress(int argc, char **argv);
int mb_cmd_format(int argc, char **argv);
int mb_cmd_info(int argc, char **argv);
int mb_cmd_check(int argc, char **argv);
int mb_cmd_bench(int argc, char **argv);
int mb_cmd_freefrag(int argc, char **argv);

#endif
