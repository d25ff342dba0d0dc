/* SPDX-License-Identifier: MIT */
/*
 * bench_ours.c - libmballoc behind the bench's allocator interface, plus
 * the table of allocators a row is measured with.  Requests without a
 * stream go in with no file (no preallocation, ext4's metadata path);
 * requests with one go through the file's preallocations and
 * normalization, as ext4 data writes do.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mb_bench.h"

/*
 * A stream is a file plus its right-most mapped block.  A request at or
 * past it names that block as its left neighbour (lleft/pleft), as ext4's
 * extent tree does for every write: normalization then stays off the
 * logical blocks the file already has, and an appending file keeps one or
 * two PAs instead of thousands.  One thread per stream (as every workload).
 */
struct mb_ours_stream {
	struct mb_file *f;
	uint64_t lend, pend; /* logical / physical end of the right-most extent */
	bool mapped;
};

static int mb_ours_alloc(void *ctx, const struct mb_bench_req *r, uint64_t *start, uint32_t *len)
{
	struct mb_ours_stream *st = r->stream;
	struct mb_request rq = {
	    .file = st ? st->f : NULL,
	    .logical = r->logical,
	    .goal = r->goal,
	    .len = r->len,
	};
	struct mb_extent ex;

	if (st && st->mapped && r->logical >= st->lend) {
		rq.lleft = st->lend - 1;
		rq.pleft = st->pend - 1;
		rq.flags |= MB_REQ_PLEFT;
	}
	int err = mb_alloc(ctx, &rq, &ex);

	if (err)
		return err;
	if (st && r->logical + ex.len >= st->lend) {
		st->lend = r->logical + ex.len;
		st->pend = ex.start + ex.len;
		st->mapped = true;
	}
	*start = ex.start;
	*len = ex.len;
	return 0;
}

static int mb_ours_free(void *ctx, uint64_t start, uint32_t len)
{
	return mb_free(ctx, start, len);
}

static void *mb_ours_stream_open(void *ctx, uint64_t id)
{
	struct mb_ours_stream *st = calloc(1, sizeof(*st));

	if (st && mb_file_open(ctx, id, &st->f)) {
		free(st);
		st = NULL;
	}
	return st;
}

static void mb_ours_stream_close(void *ctx, void *stream)
{
	struct mb_ours_stream *st = stream;

	(void)ctx;
	if (st) {
		mb_file_close(st->f);
		free(st);
	}
}

static int mb_ours_mark_used(void *ctx, uint64_t start, uint64_t len)
{
	return mb_mark_used(ctx, start, len);
}

static uint64_t mb_ours_free_count(void *ctx)
{
	return mb_free_blocks(ctx);
}

static void mb_ours_quiesce(void *ctx)
{
	mb_discard_all(ctx);
}

/* The reserved blocks at the head of every group. */
static void mb_ours_metadata(void *ctx, uint64_t *map)
{
	struct mb_geometry geo;

	mb_volume_geometry(ctx, &geo);
	for (uint64_t b = 0; b < geo.first_data_block; b++)
		map[b / 64] |= 1ULL << (b % 64);
	for (uint32_t g = 0; g < mb_groups_count(ctx); g++) {
		uint64_t s = geo.first_data_block + (uint64_t)g * geo.blocks_per_group;

		for (uint64_t b = s; b < s + geo.reserved_per_group && b < geo.blocks_count; b++)
			map[b / 64] |= 1ULL << (b % 64);
	}
}

static void mb_ours_destroy(void *ctx)
{
	mb_volume_destroy(ctx);
}

int mb_bench_ours_create(const struct mb_bench_geo *g, struct mb_bench_alloc *a)
{
	struct mb_geometry geo = {
	    .block_size = g->block_size,
	    .blocks_per_group = g->blocks_per_group,
	    .blocks_count = g->blocks,
	};
	struct mb_volume *vol;
	int err = mb_volume_create(&geo, &vol);

	memset(a, 0, sizeof(*a));
	a->name = "mballoc";
	if (err) {
		snprintf(a->note, sizeof(a->note), "cannot create volume: %s", strerror(-err));
		return err;
	}
	a->threaded = true;
	a->ctx = vol;
	a->alloc = mb_ours_alloc;
	a->free = mb_ours_free;
	a->stream_open = mb_ours_stream_open;
	a->stream_close = mb_ours_stream_close;
	a->quiesce = mb_ours_quiesce;
	a->metadata = mb_ours_metadata;
	a->destroy = mb_ours_destroy;
	a->mark_used = mb_ours_mark_used;
	a->free_count = mb_ours_free_count;
	return 0;
}

int mb_bench_alloc_create(int i, const struct mb_bench_geo *g, struct mb_bench_alloc *a)
{
	switch (i) {
	case 0:
		return mb_bench_ours_create(g, a);
	case 1:
		return mb_bench_naive_create(g, a);
	case 2:
		return mb_bench_ext2fs_create(g, a);
	default:
		return -EINVAL;
	}
}

void mb_bench_alloc_destroy(struct mb_bench_alloc *a)
{
	if (a->ctx && a->destroy)
		a->destroy(a->ctx);
	a->ctx = NULL;
}
