/* SPDX-License-Identifier: MIT */
/*
 * replay_stats.c - the kernel's /proc/fs/ext4/<dev>/mb_stats (as captured
 * in a trace folder's mb_stats.end) with our counter beside each of its
 * lines, for `mballoc replay --stats FILE`.  Lines we have no counter for
 * (buddies_time_used) show "-"; a line we cannot read is skipped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "replay.h"

static const char *const mb_rs_crs[MB_NUM_CRS] = {
	"cr_p2_aligned_stats", "cr_goal_fast_stats", "cr_best_avail_stats",
	"cr_goal_slow_stats", "cr_any_free_stats",
};

static bool mb_rs_cr(const char *key, const struct mb_stats *st, int cr, uint64_t *v)
{
	if (!strcmp(key, "hits"))
		*v = st->cr[cr].hits;
	else if (!strcmp(key, "groups_considered"))
		*v = st->cr[cr].groups_considered;
	else if (!strcmp(key, "extents_scanned"))
		*v = st->cr[cr].extents_scanned;
	else if (!strcmp(key, "useless_loops"))
		*v = st->cr[cr].useless_loops;
	else
		return false;
	return true;
}

/* Our value of the kernel's counter `key` (in section `sec`, or NULL). */
static bool mb_rs_ours(const char *sec, const char *key, const struct mb_stats *st, uint64_t *v)
{
	static const struct {
		const char *name;
		size_t off;
	} top[] = {
		{ "reqs", offsetof(struct mb_stats, reqs) },
		{ "success", offsetof(struct mb_stats, success) },
		{ "groups_scanned", offsetof(struct mb_stats, groups_scanned) },
		{ "extents_scanned", offsetof(struct mb_stats, extents_scanned) },
		{ "goal_hits", offsetof(struct mb_stats, goal_hits) },
		{ "stream_goal_hits", offsetof(struct mb_stats, stream_goal_hits) },
		{ "len_goal_hits", offsetof(struct mb_stats, len_goal_hits) },
		{ "2^n_hits", offsetof(struct mb_stats, two_n_hits) },
		{ "breaks", offsetof(struct mb_stats, breaks) },
		{ "lost", offsetof(struct mb_stats, lost) },
		{ "preallocated", offsetof(struct mb_stats, preallocated) },
		{ "discarded", offsetof(struct mb_stats, discarded) },
	};

	for (int cr = 0; sec && cr < MB_NUM_CRS; cr++)
		if (!strcmp(sec, mb_rs_crs[cr]))
			return mb_rs_cr(key, st, cr, v);
	if (sec)
		return false;
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		if (!strcmp(key, top[i].name)) {
			memcpy(v, (const char *)st + top[i].off, sizeof(*v));
			return true;
		}
	return false;
}

struct mb_rs_line {
	char key[64], val[64];
	int tabs;
};

/* "<tabs>key: value" (value may be empty: a section header). */
static bool mb_rs_split(const char *line, struct mb_rs_line *l)
{
	const char *p = line, *colon;

	for (l->tabs = 0; *p == '\t'; p++)
		l->tabs++;
	colon = strchr(p, ':');
	if (!colon || colon == p || (size_t)(colon - p) >= sizeof(l->key))
		return false;
	memcpy(l->key, p, (size_t)(colon - p));
	l->key[colon - p] = 0;
	p = colon + 1 + strspn(colon + 1, " \t");
	snprintf(l->val, sizeof(l->val), "%.*s", (int)strcspn(p, "\r\n"), p);
	return true;
}

int mb_rstats_print(const char *path, const struct mb_stats *st, struct mb_json *j)
{
	FILE *f = fopen(path, "r");
	char line[256], sec[64] = "";
	struct mb_rs_line l;
	uint64_t v = 0;

	if (!f)
		return -errno;
	if (!j)
		printf("mb_stats (%s | ours):\n", path);
	while (fgets(line, sizeof(line), f)) {
		if (!mb_rs_split(line, &l))
			continue;
		if (!l.val[0]) { /* a section header ("mballoc:", "cr_..._stats:") */
			snprintf(sec, sizeof(sec), "%s", l.tabs ? l.key : "");
			if (!j)
				printf("%*s%s:\n", 2 * l.tabs, "", l.key);
			continue;
		}
		if (l.tabs <= 1)
			sec[0] = 0;
		bool have = mb_rs_ours(sec[0] ? sec : NULL, l.key, st, &v);

		if (j) {
			mb_json_obj(j, NULL);
			mb_json_str(j, "name", sec[0] ? sec : l.key);
			if (sec[0])
				mb_json_str(j, "counter", l.key);
			mb_json_str(j, "kernel", l.val);
			if (have)
				mb_json_u64(j, "ours", v);
			else
				mb_json_null(j, "ours");
			mb_json_end(j);
		} else if (have) {
			printf("%*s%-24s %12s | %llu\n", 2 * l.tabs, "", l.key, l.val,
			       (unsigned long long)v);
		} else {
			printf("%*s%-24s %12s | -\n", 2 * l.tabs, "", l.key, l.val);
		}
	}
	fclose(f);
	return 0;
}
