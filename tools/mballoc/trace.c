/* SPDX-License-Identifier: MIT */
/*
 * trace.c - parser of ftrace text lines for `mballoc replay`: the line
 * header (task-pid, CPU, timestamp, event name), then each used event's
 * "name value" fields, found by name so that extra, reordered or empty
 * fields (ftrace prints "flags " with nothing after it) do not matter.
 */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

struct mb_tev_name {
	const char *name;
	enum mb_tev_kind kind;
};

static const struct mb_tev_name mb_tev_names[] = {
	{ "ext4_request_blocks", MB_TEV_REQUEST },
	{ "ext4_allocate_blocks", MB_TEV_ALLOCATED },
	{ "ext4_mballoc_alloc", MB_TEV_MBALLOC },
	{ "ext4_mballoc_prealloc", MB_TEV_PREALLOC },
	{ "ext4_mb_new_inode_pa", MB_TEV_NEW_INODE_PA },
	{ "ext4_mb_new_group_pa", MB_TEV_NEW_GROUP_PA },
	{ "ext4_discard_preallocations", MB_TEV_DISCARD_PA },
	{ "ext4_mb_release_inode_pa", MB_TEV_RELEASE_INODE_PA },
	{ "ext4_mb_release_group_pa", MB_TEV_RELEASE_GROUP_PA },
	{ "ext4_mballoc_free", MB_TEV_MB_FREE },
	{ "jbd2_commit_flushing", MB_TEV_COMMIT_FLUSHING },
	{ "jbd2_end_commit", MB_TEV_END_COMMIT },
	{ "ext4_da_write_end", MB_TEV_WRITE_END },
	{ "ext4_write_end", MB_TEV_WRITE_END },
	{ "ext4_fallocate_enter", MB_TEV_FALLOC_ENTER },
	{ "ext4_zero_range", MB_TEV_FALLOC_ENTER },
	{ "ext4_fallocate_exit", MB_TEV_FALLOC_EXIT },
	{ "ext4_collapse_range", MB_TEV_COLLAPSE },
	{ "ext4_insert_range", MB_TEV_INSERT },
	{ "ext4_begin_ordered_truncate", MB_TEV_TRUNCATE },
	{ "ext4_allocate_inode", MB_TEV_NEW_INODE },
	{ "ext4_free_inode", MB_TEV_FREE_INODE },
	{ "ext4_evict_inode", MB_TEV_EVICT },
};
#define MB_TEV_NNAMES (sizeof(mb_tev_names) / sizeof(mb_tev_names[0]))

static const struct {
	const char *name;
	uint32_t bit;
} mb_ext4_flags[] = {
	{ "HINT_MERGE", MB_EXT4_HINT_MERGE },       { "HINT_FIRST", MB_EXT4_HINT_FIRST },
	{ "HINT_DATA", MB_EXT4_HINT_DATA },         { "HINT_NOPREALLOC", MB_EXT4_HINT_NOPREALLOC },
	{ "HINT_GRP_ALLOC", MB_EXT4_HINT_GRP_ALLOC }, { "HINT_GOAL_ONLY", MB_EXT4_HINT_GOAL_ONLY },
	{ "HINT_TRY_GOAL", MB_EXT4_HINT_TRY_GOAL }, { "DELALLOC_RESV", MB_EXT4_DELALLOC_RESV },
	{ "STREAM_ALLOC", MB_EXT4_STREAM_ALLOC },   { "USE_ROOT_BLKS", MB_EXT4_USE_ROOT_BLKS },
	{ "USE_RESV", MB_EXT4_USE_RESV },           { "STRICT_CHECK", MB_EXT4_STRICT_CHECK },
};

const char *mb_tev_kind_name(enum mb_tev_kind k)
{
	for (size_t i = 0; i < MB_TEV_NNAMES; i++)
		if (mb_tev_names[i].kind == k)
			return mb_tev_names[i].name;
	return "other";
}

/* ------------------------------------------------------------------------ */
/* Values                                                                    */
/* ------------------------------------------------------------------------ */

/* The value after field `key` (a whole word followed by a space), or NULL.
 * The value runs to the next space; it may be empty. */
static const char *mb_field(const char *fields, const char *key, size_t *vlen)
{
	size_t kl = strlen(key);

	for (const char *p = fields; (p = strstr(p, key)); p += kl) {
		if ((p != fields && p[-1] != ' ') || p[kl] != ' ')
			continue;
		const char *v = p + kl + 1;

		*vlen = strcspn(v, " ");
		return v;
	}
	return NULL;
}

/* Parses [s, s + n) as an unsigned decimal (or 0x hex) number. */
static bool mb_num(const char *s, size_t n, uint64_t *out)
{
	char buf[32], *end;

	if (!n || n >= sizeof(buf) || !isdigit((unsigned char)s[0]))
		return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	errno = 0;
	*out = strtoull(buf, &end, 0);
	return !errno && *end == 0;
}

static bool mb_u64(const char *fields, const char *key, uint64_t *out)
{
	size_t n;
	const char *v = mb_field(fields, key, &n);

	return v && mb_num(v, n, out);
}

/* "group/start/len" with an optional "@logical"; start may be -1. */
static bool mb_gex(const char *fields, const char *key, struct mb_tev_gex *g)
{
	size_t n;
	const char *v = mb_field(fields, key, &n);
	char buf[96], *p, *end;

	if (!v || !n || n >= sizeof(buf))
		return false;
	memcpy(buf, v, n);
	buf[n] = 0;
	*g = (struct mb_tev_gex){ 0 };
	errno = 0;
	g->group = strtoull(buf, &end, 10);
	if (end == buf || *end != '/')
		return false;
	g->start = strtoll(p = end + 1, &end, 10);
	if (end == p || *end != '/')
		return false;
	g->len = strtoull(p = end + 1, &end, 10);
	if (end == p || (*end && *end != '@'))
		return false;
	if (*end == '@') {
		g->logical = strtoull(p = end + 1, &end, 10);
		if (end == p || *end)
			return false;
	}
	return !errno && isdigit((unsigned char)buf[0]);
}

/* ext4's "A|B|C" flag names (or a number); unknown names set *unknown. */
static bool mb_flags(const char *fields, const char *key, uint32_t *out, bool *unknown)
{
	size_t n, i;
	const char *v = mb_field(fields, key, &n);
	uint64_t num;

	*out = 0;
	if (!v)
		return false;
	for (const char *end = v + n; v < end; v += i + 1) {
		i = strcspn(v, "|");
		if (v + i > end)
			i = (size_t)(end - v);
		size_t k = 0;

		while (k < sizeof(mb_ext4_flags) / sizeof(mb_ext4_flags[0]) &&
		       (strlen(mb_ext4_flags[k].name) != i || memcmp(mb_ext4_flags[k].name, v, i)))
			k++;
		if (k < sizeof(mb_ext4_flags) / sizeof(mb_ext4_flags[0]))
			*out |= mb_ext4_flags[k].bit;
		else if (mb_num(v, i, &num) && num <= UINT32_MAX)
			*out |= (uint32_t)num;
		else if (i)
			*unknown = true;
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */
/* ------------------------------------------------------------------------ */

static bool mb_parse_request(const char *f, struct mb_tev *ev)
{
	bool ok = mb_flags(f, "flags", &ev->flags, &ev->unknown_flag) &&
		  mb_u64(f, "len", &ev->len) && mb_u64(f, "lblk", &ev->lblk) &&
		  mb_u64(f, "goal", &ev->goal) && mb_u64(f, "lleft", &ev->lleft) &&
		  mb_u64(f, "lright", &ev->lright) && mb_u64(f, "pleft", &ev->pleft) &&
		  mb_u64(f, "pright", &ev->pright);

	if (ok && ev->kind == MB_TEV_ALLOCATED)
		ok = mb_u64(f, "block", &ev->block);
	return ok;
}

static bool mb_parse_mballoc(const char *f, struct mb_tev *ev)
{
	size_t n;
	const char *cr = mb_field(f, "cr", &n);
	bool unknown = false;

	if (!cr || !mb_gex(f, "orig", &ev->orig) || !mb_gex(f, "result", &ev->res))
		return false;
	if (n >= sizeof(ev->cr))
		n = sizeof(ev->cr) - 1;
	memcpy(ev->cr, cr, n);
	ev->cr[n] = 0;
	if (!mb_gex(f, "goal", &ev->gl) || !mb_u64(f, "grps", &ev->grps) ||
	    !mb_u64(f, "blks", &ev->blks))
		return false;
	return mb_flags(f, "flags", &ev->mflags, &unknown);
}

static bool mb_parse_fields(const char *f, struct mb_tev *ev)
{
	bool ok = true;

	if (ev->kind != MB_TEV_COMMIT_FLUSHING && ev->kind != MB_TEV_END_COMMIT &&
	    ev->kind != MB_TEV_MB_FREE && ev->kind != MB_TEV_MBALLOC && ev->kind != MB_TEV_PREALLOC)
		ok = mb_u64(f, "ino", &ev->ino);
	else if (ev->kind != MB_TEV_COMMIT_FLUSHING && ev->kind != MB_TEV_END_COMMIT)
		ok = mb_u64(f, "inode", &ev->ino);
	if (!ok)
		return false;
	switch (ev->kind) {
	case MB_TEV_REQUEST:
	case MB_TEV_ALLOCATED: return mb_parse_request(f, ev);
	case MB_TEV_MBALLOC: return mb_parse_mballoc(f, ev);
	case MB_TEV_PREALLOC: return mb_gex(f, "orig", &ev->orig) && mb_gex(f, "result", &ev->res);
	case MB_TEV_NEW_INODE_PA:
	case MB_TEV_NEW_GROUP_PA:
		return mb_u64(f, "pstart", &ev->block) && mb_u64(f, "len", &ev->len) &&
		       mb_u64(f, "lstart", &ev->lblk);
	case MB_TEV_RELEASE_INODE_PA:
	case MB_TEV_RELEASE_GROUP_PA:
		return mb_u64(f, "block", &ev->block) && mb_u64(f, "count", &ev->len);
	case MB_TEV_MB_FREE: return mb_gex(f, "extent", &ev->res);
	case MB_TEV_COMMIT_FLUSHING:
	case MB_TEV_END_COMMIT: return mb_u64(f, "transaction", &ev->a);
	case MB_TEV_WRITE_END: {
		uint64_t pos = 0, copied = 0;

		ok = mb_u64(f, "pos", &pos) && mb_u64(f, "copied", &copied);
		ev->a = pos + copied;
		return ok && ev->a >= pos;
	}
	case MB_TEV_FALLOC_ENTER: {
		uint64_t off = 0, len = 0;
		size_t n;
		const char *mode = mb_field(f, "mode", &n);

		ok = mode && mb_u64(f, "offset", &off) && mb_u64(f, "len", &len);
		ev->a = off + len;
		ev->keep_size = ok && memmem(mode, n, "KEEP_SIZE", 9);
		return ok && ev->a >= off;
	}
	case MB_TEV_FALLOC_EXIT: {
		size_t n;
		const char *ret = mb_field(f, "ret", &n);

		if (!ret || !n)
			return false;
		ev->ret = atoi(ret);
		return true;
	}
	case MB_TEV_COLLAPSE:
	case MB_TEV_INSERT: return mb_u64(f, "len", &ev->a);
	case MB_TEV_TRUNCATE: return mb_u64(f, "new_size", &ev->a);
	default: return true;
	}
}

/* "TASK-PID [CPU] FLAGS TIMESTAMP: EVENT: FIELDS".  TASK may hold '-', '/',
 * ':' and spaces, so the anchor is the first "-PID [CPU]" after it. */
static const char *mb_parse_header(const char *line, struct mb_tev *ev)
{
	for (const char *p = strchr(line, '['); p; p = strchr(p + 1, '[')) {
		const char *d = p;
		char *end;

		while (d > line && d[-1] == ' ')
			d--;
		const char *pid = d;

		while (pid > line && isdigit((unsigned char)pid[-1]))
			pid--;
		if (pid == d || pid == line || pid[-1] != '-' || !isdigit((unsigned char)p[1]))
			continue;
		long cpu = strtol(p + 1, &end, 10);

		if (*end != ']' || cpu < 0 || cpu > 65535)
			continue;
		ev->pid = (uint32_t)strtoul(pid, NULL, 10);
		ev->cpu = (int)cpu;
		/* FLAGS, then the timestamp ending in ':', then "EVENT: ". */
		const char *ts = strstr(end, ": ");

		if (!ts)
			return NULL;
		const char *name = ts + 2, *colon = strstr(name, ":");

		if (!colon || colon == name || (size_t)(colon - name) >= sizeof(ev->event) ||
		    memchr(name, ' ', (size_t)(colon - name)))
			return NULL;
		memcpy(ev->event, name, (size_t)(colon - name));
		ev->event[colon - name] = 0;
		return colon[1] == ' ' ? colon + 2 : colon + 1;
	}
	return NULL;
}

int mb_trace_parse_line(const char *line, struct mb_tev *ev)
{
	const char *s = line + strspn(line, " \t");

	*ev = (struct mb_tev){ .kind = MB_TEV_OTHER };
	if (*s == '#' || *s == 0 || *s == '\n' || *s == '\r')
		return 1;
	const char *fields = mb_parse_header(line, ev);

	if (!fields)
		return -EINVAL;
	for (size_t i = 0; i < MB_TEV_NNAMES; i++)
		if (!strcmp(ev->event, mb_tev_names[i].name))
			ev->kind = mb_tev_names[i].kind;
	if (ev->kind == MB_TEV_OTHER)
		return 0;
	/* Field search wants a trailing space after every value. */
	char buf[4096 + 2];
	size_t n = strcspn(fields, "\r\n");

	if (n > sizeof(buf) - 2)
		return -EBADMSG;
	memcpy(buf, fields, n);
	buf[n] = ' ';
	buf[n + 1] = 0;
	return mb_parse_fields(buf, ev) ? 0 : -EBADMSG;
}

static void mb_trace_bad(struct mb_trace_reader *r)
{
	if (!r->n.malformed++) {
		r->n.first_malformed = r->n.lines;
		char *t = r->n.first_malformed_text;

		snprintf(t, sizeof(r->n.first_malformed_text), "%.*s",
			 (int)strcspn(r->line, "\r\n"), r->line);
		for (; *t; t++) /* printable ASCII only: it goes into messages and JSON */
			if ((unsigned char)*t < 0x20 || (unsigned char)*t > 0x7e)
				*t = '?';
	}
}

/* Skips the rest of an over-long line. */
static void mb_trace_skip_line(FILE *f)
{
	int c;

	while ((c = getc(f)) != EOF && c != '\n')
		;
}

int mb_trace_next(struct mb_trace_reader *r, struct mb_tev *ev)
{
	while (fgets(r->line, sizeof(r->line), r->f)) {
		size_t n = strlen(r->line);

		r->n.lines++;
		if (n == sizeof(r->line) - 1 && r->line[n - 1] != '\n') {
			mb_trace_skip_line(r->f);
			r->n.too_long++;
			mb_trace_bad(r);
			continue;
		}
		int rc = mb_trace_parse_line(r->line, ev);

		if (rc == 1) {
			r->n.comments++;
		} else if (rc < 0) {
			mb_trace_bad(r);
		} else {
			r->n.events++;
			r->n.kind[ev->kind]++;
			if (ev->kind == MB_TEV_OTHER)
				r->n.ignored++;
			r->n.unknown_flags += ev->unknown_flag;
			return 1;
		}
	}
	return ferror(r->f) ? -EIO : 0;
}
