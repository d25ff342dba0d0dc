/* SPDX-License-Identifier: MIT */
/* json.c - the JSON writer of every `--json` output (see json.h). */
#include <assert.h>
#include <inttypes.h>
#include <math.h>

#include "json.h"

void mb_json_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* The comma and "key": of the next member. */
static void mb_json_member(struct mb_json *j, const char *key)
{
	assert(j->depth > 0);
	/* keys inside objects, none inside arrays */
	assert((j->close[j->depth - 1] == '}') == (key != NULL));
	if (j->has_item[j->depth - 1])
		fputc(',', j->f);
	j->has_item[j->depth - 1] = true;
	if (key) {
		mb_json_quote(j->f, key);
		fputc(':', j->f);
	}
}

static void mb_json_open(struct mb_json *j, char open, char close)
{
	assert(j->depth < MB_JSON_MAX_DEPTH);
	fputc(open, j->f);
	j->close[j->depth] = close;
	j->has_item[j->depth] = false;
	j->depth++;
}

void mb_json_start(struct mb_json *j, FILE *f, const char *command)
{
	j->f = f;
	j->depth = 0;
	mb_json_open(j, '{', '}');
	mb_json_u64(j, "schema_version", MB_JSON_SCHEMA_VERSION);
	mb_json_str(j, "command", command);
}

void mb_json_finish(struct mb_json *j)
{
	while (j->depth)
		mb_json_end(j);
	fputc('\n', j->f);
}

void mb_json_obj(struct mb_json *j, const char *key)
{
	mb_json_member(j, key);
	mb_json_open(j, '{', '}');
}

void mb_json_arr(struct mb_json *j, const char *key)
{
	mb_json_member(j, key);
	mb_json_open(j, '[', ']');
}

void mb_json_end(struct mb_json *j)
{
	assert(j->depth > 0);
	fputc(j->close[--j->depth], j->f);
}

void mb_json_u64(struct mb_json *j, const char *key, uint64_t v)
{
	mb_json_member(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void mb_json_i64(struct mb_json *j, const char *key, int64_t v)
{
	mb_json_member(j, key);
	fprintf(j->f, "%" PRId64, v);
}

void mb_json_dbl(struct mb_json *j, const char *key, double v, int digits)
{
	mb_json_member(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.*f", digits, v);
	else
		fputs("null", j->f);
}

void mb_json_str(struct mb_json *j, const char *key, const char *s)
{
	mb_json_member(j, key);
	if (s)
		mb_json_quote(j->f, s);
	else
		fputs("null", j->f);
}

void mb_json_bool(struct mb_json *j, const char *key, bool v)
{
	mb_json_member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void mb_json_null(struct mb_json *j, const char *key)
{
	mb_json_member(j, key);
	fputs("null", j->f);
}

void mb_json_raw(struct mb_json *j, const char *key, const char *value)
{
	mb_json_member(j, key);
	fputs(value, j->f);
}

void mb_json_raw_members(struct mb_json *j, const char *members)
{
	assert(j->depth > 0 && j->close[j->depth - 1] == '}');
	if (!*members)
		return;
	if (j->has_item[j->depth - 1])
		fputc(',', j->f);
	j->has_item[j->depth - 1] = true;
	fputs(members, j->f);
}
