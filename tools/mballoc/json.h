/* SPDX-License-Identifier: MIT */
/*
 * json.h - the one writer behind every `--json` of the mballoc command.
 *
 * Each command prints exactly one object on one line, opened by
 * mb_json_start() with "schema_version" and "command" first, so every
 * output carries the same header.  The writer places commas and escapes
 * strings; it never checks key names: the schema (the same key for the
 * same quantity in every command) is documented in mballoc(1), section
 * "JSON OUTPUT".  Not thread-safe: one writer per output, one thread.
 */
#ifndef MB_JSON_H
#define MB_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Raised when a key changes meaning or disappears; new keys keep it. */
#define MB_JSON_SCHEMA_VERSION 1
#define MB_JSON_MAX_DEPTH 16

struct mb_json {
	FILE *f;
	int depth;                          /* open containers, the top object is 1 */
	char close[MB_JSON_MAX_DEPTH];      /* '}' or ']' for each */
	bool has_item[MB_JSON_MAX_DEPTH];   /* a comma goes before the next item */
};

/* Opens the top object: {"schema_version":N,"command":"cmd". */
void mb_json_start(struct mb_json *j, FILE *f, const char *command);
/* Closes every open container and ends the line. */
void mb_json_finish(struct mb_json *j);

/*
 * Members.  key is the member name inside an object and must be NULL
 * inside an array.  mb_json_obj/mb_json_arr open a container that
 * mb_json_end closes.
 */
void mb_json_obj(struct mb_json *j, const char *key);
void mb_json_arr(struct mb_json *j, const char *key);
void mb_json_end(struct mb_json *j);
void mb_json_u64(struct mb_json *j, const char *key, uint64_t v);
void mb_json_i64(struct mb_json *j, const char *key, int64_t v);
/* digits: decimals printed (fixed notation); NaN and infinities print null. */
void mb_json_dbl(struct mb_json *j, const char *key, double v, int digits);
void mb_json_str(struct mb_json *j, const char *key, const char *s); /* NULL prints null */
void mb_json_bool(struct mb_json *j, const char *key, bool v);
void mb_json_null(struct mb_json *j, const char *key);

/*
 * Pre-encoded JSON from trusted code (values the program formatted
 * itself): mb_json_raw writes one member whose value is `value`;
 * mb_json_raw_members writes `members` ("\"a\":1,\"b\":2") into the open
 * object.  The writer only places the commas.
 */
void mb_json_raw(struct mb_json *j, const char *key, const char *value);
void mb_json_raw_members(struct mb_json *j, const char *members);

/* Prints s to f as a JSON string (quoted, escaped; NULL prints ""). */
void mb_json_quote(FILE *f, const char *s);

#endif
