/* SPDX-License-Identifier: MIT */
/* lockstep.c - two volumes, the same operations on both (lockstep.h). */
#include <string.h>

#include "lockstep.h"

int mb_lockstep_init(struct mb_lockstep *ls, const struct mb_lockstep_opts *o)
{
	struct mb_geometry g = {.block_size = o->block_size, .blocks_per_group = o->bpg,
				.flex_bg = o->flex_bg, .first_data_block = o->first};

	memset(ls, 0, sizeof(*ls));
	g.blocks_count = (uint64_t)o->groups * o->bpg + o->first;
	ls->blocks = g.blocks_count;
	ls->rng = o->seed;
	ls->nfiles = o->nfiles;
	for (int k = 0; k < 2; k++) {
		int err = mb_volume_create(&g, &ls->v[k]);

		if (err)
			return err;
		mb_tunable_set(ls->v[k], "mb_stats", 1);
		for (int i = 0; i < MB_LOCKSTEP_TUNABLES && o->tunables[i].name; i++)
			mb_tunable_set(ls->v[k], o->tunables[i].name, o->tunables[i].v[k]);
		for (int i = 0; i < o->nfiles; i++)
			if ((err = mb_file_open(ls->v[k], o->ino + (uint64_t)i * o->ino_step,
						&ls->f[k][i])))
				return err;
	}
	if (o->hook)
		mb_hook_set(ls->v[1], o->hook, o->hook_arg);
	ls->cap = o->cap;
	ls->start = malloc(ls->cap * sizeof(*ls->start));
	ls->len = malloc(ls->cap * sizeof(*ls->len));
	return ls->start && ls->len ? 0 : -ENOMEM;
}

void mb_lockstep_destroy(struct mb_lockstep *ls)
{
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < ls->nfiles; i++)
			if (ls->f[k][i])
				mb_file_close(ls->f[k][i]);
		if (ls->v[k])
			mb_volume_destroy(ls->v[k]);
	}
	free(ls->start);
	free(ls->len);
}

void mb_lockstep_set(struct mb_lockstep *ls, const char *name, uint64_t v)
{
	for (int k = 0; k < 2; k++)
		mb_tunable_set(ls->v[k], name, v);
}

int mb_lockstep_mark(struct mb_lockstep *ls, uint64_t s, uint64_t l)
{
	for (int k = 0; k < 2; k++) {
		int err = mb_mark_used(ls->v[k], s, l);

		if (err)
			return err;
	}
	return 0;
}

int mb_lockstep_free_range(struct mb_lockstep *ls, uint64_t s, uint64_t l)
{
	for (uint64_t b = s; b < s + l; b++)
		for (int k = 0; k < 2; k++) {
			int err = mb_free(ls->v[k], b, 1);

			if (err && err != -EEXIST) /* -EEXIST: the fill left it free */
				return err;
		}
	return 0;
}

int mb_lockstep_age(struct mb_lockstep *ls, uint32_t maxlen, unsigned keep_pct)
{
	for (uint64_t pos = 0; pos < ls->blocks;) {
		uint64_t l = 1 + mb_rand_below(&ls->rng, maxlen);

		if (pos + l > ls->blocks)
			l = ls->blocks - pos;
		if (mb_rand_below(&ls->rng, 100) < keep_pct) {
			int err = mb_lockstep_mark(ls, pos, l);

			if (err)
				return err;
		}
		pos += l;
	}
	return 0;
}

int mb_lockstep_alloc(struct mb_lockstep *ls, const struct mb_request *r, int file)
{
	struct mb_extent e[2];
	int rc[2];

	for (int k = 0; k < 2; k++) {
		struct mb_request rk = *r;

		rk.file = file >= 0 ? ls->f[k][file] : NULL;
		rk.logical = file >= 0 ? ls->logical[file] : 0;
		rc[k] = mb_alloc(ls->v[k], &rk, &e[k]);
	}
	if (rc[0] != rc[1] || (!rc[0] && (e[0].start != e[1].start || e[0].len != e[1].len))) {
		fprintf(stderr, "differ: rc %d/%d, %" PRIu64 "+%u / %" PRIu64 "+%u\n", rc[0], rc[1],
			e[0].start, e[0].len, e[1].start, e[1].len);
		return 1;
	}
	if (rc[0])
		return 0;
	if (file >= 0)
		ls->logical[file] += e[0].len;
	ls->next_goal = e[0].start + e[0].len < ls->blocks ? e[0].start + e[0].len : 0;
	if (ls->n < ls->cap) {
		ls->start[ls->n] = e[0].start;
		ls->len[ls->n++] = e[0].len;
	}
	return 0;
}

int mb_lockstep_free_random(struct mb_lockstep *ls)
{
	if (!ls->n)
		return 0;
	size_t i = mb_rand_below(&ls->rng, ls->n);

	for (int k = 0; k < 2; k++) {
		int err = mb_free(ls->v[k], ls->start[i], ls->len[i]);

		if (err)
			return err;
	}
	ls->start[i] = ls->start[--ls->n];
	ls->len[i] = ls->len[ls->n];
	return 0;
}

uint64_t mb_lockstep_goal(struct mb_lockstep *ls)
{
	uint64_t g = mb_rand_below(&ls->rng, 3);

	return g == 0 ? MB_GOAL_NONE : g == 1 ? ls->next_goal : mb_rand_below(&ls->rng, ls->blocks);
}

int mb_lockstep_same_stats(struct mb_lockstep *ls)
{
	struct mb_stats s[2];

	for (int k = 0; k < 2; k++)
		mb_stats_get(ls->v[k], &s[k]);
	int bad = s[0].groups_scanned != s[1].groups_scanned ||
		  s[0].extents_scanned != s[1].extents_scanned || s[0].breaks != s[1].breaks ||
		  s[0].lost != s[1].lost || s[0].reqs != s[1].reqs;

	for (int c = 0; c < MB_NUM_CRS; c++) {
		if (!memcmp(&s[0].cr[c], &s[1].cr[c], sizeof(s[0].cr[c])))
			continue;
		bad = 1;
		fprintf(stderr,
			"%s differs: considered %" PRIu64 "/%" PRIu64 ", hits %" PRIu64 "/%" PRIu64
			"\n",
			mb_criteria_name(c), s[0].cr[c].groups_considered,
			s[1].cr[c].groups_considered, s[0].cr[c].hits, s[1].cr[c].hits);
	}
	if (bad)
		fprintf(stderr,
			"stats differ: groups scanned %" PRIu64 "/%" PRIu64 ", extents %" PRIu64
			"/%" PRIu64 "\n",
			s[0].groups_scanned, s[1].groups_scanned, s[0].extents_scanned,
			s[1].extents_scanned);
	return bad;
}

void mb_lockstep_count_hook(void *arg, int id, uint32_t group, int cr)
{
	(void)id;
	(void)group;
	(void)cr;
	++*(uint64_t *)arg;
}

int mb_lockstep_drain(struct mb_lockstep *ls, int ops, mb_lockstep_len_fn len, const void *arg,
		      int *enospc)
{
	int bad = 0;

	*enospc = 0;
	for (int i = 0; i < ops && !bad; i++) {
		struct mb_request r = {.len = len(ls, arg), .goal = MB_GOAL_NONE};
		size_t n;

		if (*enospc && i % 4 == 0)
			bad = mb_lockstep_free_random(ls);
		n = ls->n;
		if (!bad)
			bad = mb_lockstep_alloc(ls, &r, -1);
		*enospc += ls->n == n; /* no answer kept: the request failed */
	}
	return bad;
}

int mb_lockstep_ops(struct mb_lockstep *ls, int ops, bool files, mb_lockstep_req_fn req,
		    const void *arg)
{
	for (int i = 0; i < ops; i++) {
		uint64_t dice = mb_rand_below(&ls->rng, 100);

		if (dice < 25) {
			if (mb_lockstep_free_random(ls))
				return 1;
			continue;
		}
		struct mb_request r = {0};
		int file = req(ls, dice, files, &r, arg);

		if (mb_lockstep_alloc(ls, &r, file))
			return 1;
		if (files && dice == 99) {
			uint64_t f = mb_rand_below(&ls->rng, (uint64_t)ls->nfiles);

			for (int k = 0; k < 2; k++)
				mb_file_discard(ls->f[k][f]);
		}
	}
	return 0;
}

int mb_lockstep_run(struct mb_lockstep *ls, int ops, bool files, mb_lockstep_req_fn req,
		    const void *arg)
{
	return mb_lockstep_ops(ls, ops, files, req, arg) || mb_lockstep_same_stats(ls);
}
