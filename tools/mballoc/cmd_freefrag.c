/* SPDX-License-Identifier: MIT */
/*
 * cmd_freefrag.c - `mballoc freefrag`: e2freefrag's report for an
 * in-memory volume aged as `mballoc groups` ages it (same options, same
 * seeded workload: files growing by 1-8 blocks round-robin up to the fill
 * mark, then a third of the extents freed).  Preallocations are discarded
 * first, so the buddy's free space is the on-disk free space.
 *
 * What the public API gives is per-group buddy counters (free chunks of
 * 2^k blocks, aligned and maximal) plus the count of free runs.  From them
 * the totals, the number of free extents, their average and the free-chunk
 * counts of --chunk (for power-of-two chunks up to a group: every aligned
 * free chunk lies in exactly one buddy chunk) are exact.  The histogram
 * counts buddy chunks, not extents: a free extent made of several buddy
 * chunks is counted once per chunk, and max/min are bounds.  Exact extents
 * need a call that walks a group's free extents (see docs/BENCHMARKS.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mb_bench.h"

struct mb_ff_opts {
	struct mb_vol_opts vol;
	double fill;
	uint64_t files, seed, chunk;
	bool json;
};

static void mb_ff_usage(FILE *f)
{
	fprintf(f, "usage: mballoc freefrag [options]\n"
		   "Builds an in-memory volume, ages it like 'mballoc groups' and prints\n"
		   "e2freefrag's report of its free space.\n"
		   "  --size SIZE             volume size (default 256M)\n"
		   "  --block-size SIZE       block size, 1K..64K (default 4K)\n"
		   "  --blocks-per-group N    default 8 * block size\n"
		   "  --fill F                fraction to fill before freeing (default 0.7)\n"
		   "  --files N               files written round-robin (default 64)\n"
		   "  --seed N                workload seed (default 1)\n"
		   "  -c, --chunk SIZE        also count free chunks of SIZE (power of two)\n"
		   "  --json                  one JSON object on stdout\n"
		   "  -h, --help\n");
}

static int mb_ff_parse(int argc, char **argv, struct mb_ff_opts *o)
{
	static const struct option lo[] = {
	    {"size", required_argument, 0, 's'},
	    {"block-size", required_argument, 0, 'b'},
	    {"blocks-per-group", required_argument, 0, 'g'},
	    {"fill", required_argument, 0, 'f'},
	    {"files", required_argument, 0, 'n'},
	    {"seed", required_argument, 0, 'S'},
	    {"chunk", required_argument, 0, 'c'},
	    {"json", no_argument, 0, 'j'},
	    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	int c;

	*o = (struct mb_ff_opts){{256ULL << 20, 4096, 0, 0}, 0.7, 64, 1, 0, false};
	optind = 1;
	while ((c = getopt_long(argc, argv, "hc:", lo, NULL)) != -1) {
		bool ok = true;

		switch (c) {
		case 's':
			ok = !mb_parse_size(optarg, &o->vol.size);
			break;
		case 'b':
			ok = !mb_parse_size(optarg, &o->vol.block_size);
			break;
		case 'g':
			ok = mb_parse_u64(optarg, &o->vol.blocks_per_group);
			break;
		case 'f':
			ok = mb_parse_double(optarg, &o->fill) && o->fill >= 0 && o->fill <= 1;
			break;
		case 'n':
			ok = mb_parse_u64(optarg, &o->files) && o->files > 0 && o->files < 1000000;
			break;
		case 'S':
			ok = mb_parse_u64(optarg, &o->seed);
			break;
		case 'c':
			ok = !mb_parse_size(optarg, &o->chunk) && o->chunk &&
			     !(o->chunk & (o->chunk - 1));
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			mb_ff_usage(stdout);
			exit(MB_EXIT_OK);
		default:
			return MB_EXIT_USAGE;
		}
		if (!ok)
			return mb_cli_usage_err("freefrag", "invalid value '%s'", optarg);
	}
	if (optind < argc)
		return mb_cli_usage_err("freefrag", "unexpected argument '%s'", argv[optind]);
	return 0;
}

static uint64_t mb_ff_rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The aging of `mballoc groups` (cmd_inspect.c), step for step, so the
 * same options give the same volume. */
static int mb_ff_age(struct mb_volume *vol, const struct mb_ff_opts *o)
{
	uint64_t rng = o->seed * 2654435761ULL + 1, used = 0, target;
	struct mb_file **files = calloc(o->files, sizeof(*files));
	uint64_t *next = calloc(o->files, sizeof(*next));
	struct mb_extent *ex = NULL;
	size_t nex = 0, cap = 0;
	int err = files && next ? 0 : -ENOMEM;

	target = (uint64_t)(o->fill * (double)mb_free_blocks(vol));
	for (uint64_t i = 0; !err && i < o->files; i++)
		err = mb_file_open(vol, i + 1, &files[i]);
	for (uint64_t i = 0; !err && used < target; i = (i + 1) % o->files) {
		struct mb_request rq = {.file = files[i],
					.logical = next[i],
					.goal = MB_GOAL_NONE,
					.len = (uint32_t)(1 + mb_ff_rng(&rng) % 8)};
		if (nex == cap) {
			struct mb_extent *n =
			    realloc(ex, (cap = cap ? 2 * cap : 1024) * sizeof(*ex));

			if (!n) {
				err = -ENOMEM;
				break;
			}
			ex = n;
		}
		if ((err = mb_alloc(vol, &rq, &ex[nex])))
			break;
		next[i] += ex[nex].len;
		used += ex[nex++].len;
	}
	if (err == -ENOSPC)
		err = 0;
	for (size_t k = 0; !err && k < nex; k++)
		if (mb_ff_rng(&rng) % 3 == 0)
			err = mb_free(vol, ex[k].start, ex[k].len);
	for (uint64_t i = 0; files && i < o->files; i++)
		if (files[i])
			mb_file_close(files[i]);
	free(files);
	free(next);
	free(ex);
	return err;
}

struct mb_ff_sum {
	uint64_t total, free, extents, chunks_total, chunks_free;
	uint64_t chunk_blocks;	/* 0 = no --chunk */
	struct mb_bench_frag f; /* histogram of buddy chunks */
	int largest_order, smallest_order;
};

/* Fully free aligned chunks of 2^c blocks in one group, from its counters. */
static uint64_t mb_ff_group_chunks(const struct mb_group_stat *st, int c, int maxo)
{
	uint64_t n = 0;

	for (int k = c; k <= maxo; k++)
		n += (uint64_t)st->counters[k] << (k - c);
	return n;
}

static void mb_ff_collect(struct mb_volume *vol, struct mb_ff_sum *s)
{
	struct mb_geometry geo;
	int maxo = mb_max_order(vol), c = s->chunk_blocks ? __builtin_ctzll(s->chunk_blocks) : 0;
	uint64_t run = 0; /* consecutive wholly free groups, for chunks > a group */

	mb_volume_geometry(vol, &geo);
	s->total = geo.blocks_count;
	s->largest_order = -1;
	s->smallest_order = MB_MAX_ORDERS;
	for (uint32_t g = 0; g < mb_groups_count(vol); g++) {
		struct mb_group_stat st;

		if (mb_group_stat(vol, g, &st))
			continue;
		s->free += st.free;
		s->extents += st.fragments;
		for (int k = 0; k <= maxo; k++)
			for (uint32_t i = 0; i < st.counters[k]; i++)
				mb_bench_frag_add(&s->f, 1ULL << k);
		if (st.largest_free_order > s->largest_order)
			s->largest_order = st.largest_free_order;
		for (int k = 0; k <= maxo; k++)
			if (st.counters[k] && k < s->smallest_order)
				s->smallest_order = k;
		if (s->chunk_blocks && c <= maxo) {
			s->chunks_free += mb_ff_group_chunks(&st, c, maxo);
		} else if (s->chunk_blocks) {
			uint64_t per = s->chunk_blocks / geo.blocks_per_group;

			run = st.free == geo.blocks_per_group ? run + 1 : 0;
			if (run && (g + 1) % per == 0 && run >= per)
				s->chunks_free++;
		}
	}
	if (s->chunk_blocks)
		s->chunks_total = s->total / s->chunk_blocks;
	mb_bench_frag_finish(&s->f, geo.block_size);
}

static void mb_ff_print_text(const struct mb_ff_sum *s, uint32_t bs)
{
	uint64_t kb = bs / 1024;

	printf("Device: in-memory volume (aged like 'mballoc groups')\n");
	printf("Blocksize: %u bytes\n", bs);
	printf("Total blocks: %llu\nFree blocks: %llu (%.1f%%)\n", (unsigned long long)s->total,
	       (unsigned long long)s->free, 100.0 * (double)s->free / (double)s->total);
	if (s->chunk_blocks)
		printf(
		    "\nChunksize: %llu bytes (%llu blocks)\nTotal chunks: %llu\n"
		    "Free chunks: %llu (%.1f%%)\n",
		    (unsigned long long)(s->chunk_blocks * bs), (unsigned long long)s->chunk_blocks,
		    (unsigned long long)s->chunks_total, (unsigned long long)s->chunks_free,
		    s->chunks_total ? 100.0 * (double)s->chunks_free / (double)s->chunks_total : 0);
	if (!s->extents)
		return;
	printf("\nMin. free extent: %llu KB (lower bound: smallest buddy chunk)\n",
	       (unsigned long long)((1ULL << s->smallest_order) * kb));
	printf("Max. free extent: %llu KB (lower bound: largest buddy chunk)\n",
	       (unsigned long long)((1ULL << s->largest_order) * kb));
	printf("Avg. free extent: %llu KB\nNum. free extent: %llu\n",
	       (unsigned long long)(s->free * kb / s->extents), (unsigned long long)s->extents);
	printf("Fragmentation score (Ceph-style, from buddy chunks): %.3f\n", s->f.score);
	printf("\nHISTOGRAM OF FREE EXTENT SIZES (buddy chunks; an extent of several chunks\n"
	       "counts once per chunk):\n");
	printf("%s :  %12s  %12s  %7s\n", "Extent Size Range", "Free extents", "Free Blocks",
	       "Percent");
	for (int k = 0; k < MB_BENCH_HIST; k++) {
		char lo[16], hi[16];
		uint64_t a = (1ULL << k) * bs, b = a * 2;

		if (!s->f.hist[k])
			continue;
		snprintf(lo, sizeof(lo), "%llu%c",
			 (unsigned long long)(a >= (1 << 20) ? a >> 20 : a >> 10),
			 a >= (1 << 20) ? 'M' : 'K');
		snprintf(hi, sizeof(hi), "%llu%c",
			 (unsigned long long)(b >= (1 << 20) ? b >> 20 : b >> 10),
			 b >= (1 << 20) ? 'M' : 'K');
		printf("%5s...%5s-  :  %12llu  %12llu  %6.2f%%\n", lo, hi,
		       (unsigned long long)s->f.hist[k], (unsigned long long)s->f.hist_blocks[k],
		       100.0 * (double)s->f.hist_blocks[k] / (double)s->free);
	}
}

static void mb_ff_print_json(const struct mb_ff_sum *s, uint32_t bs)
{
	printf("{\"block_size\":%u,\"total_blocks\":%llu,\"free_blocks\":%llu,"
	       "\"free_extents\":%llu,\"avg_free_extent_blocks\":%.2f,"
	       "\"min_free_extent_blocks_lower_bound\":%llu,"
	       "\"max_free_extent_blocks_lower_bound\":%llu,\"frag_score_buddy\":%.4f",
	       bs, (unsigned long long)s->total, (unsigned long long)s->free,
	       (unsigned long long)s->extents,
	       s->extents ? (double)s->free / (double)s->extents : 0,
	       s->extents ? 1ULL << s->smallest_order : 0,
	       s->extents ? 1ULL << s->largest_order : 0, s->f.score);
	if (s->chunk_blocks)
		printf(",\"chunk_blocks\":%llu,\"total_chunks\":%llu,\"free_chunks\":%llu",
		       (unsigned long long)s->chunk_blocks, (unsigned long long)s->chunks_total,
		       (unsigned long long)s->chunks_free);
	printf(",\"histogram\":[");
	for (int k = 0, first = 1; k < MB_BENCH_HIST; k++) {
		if (!s->f.hist[k])
			continue;
		printf("%s{\"min_blocks\":%llu,\"chunks\":%llu,\"blocks\":%llu}", first ? "" : ",",
		       1ULL << k, (unsigned long long)s->f.hist[k],
		       (unsigned long long)s->f.hist_blocks[k]);
		first = 0;
	}
	printf("],\"histogram_unit\":\"buddy chunks\"}\n");
}

int mb_cmd_freefrag(int argc, char **argv)
{
	struct mb_ff_opts o;
	struct mb_volume *vol;
	struct mb_ff_sum s = {0};
	struct mb_geometry geo;
	int rc = mb_ff_parse(argc, argv, &o);

	if (rc)
		return rc;
	if (mb_cli_make_volume("freefrag", &o.vol, &vol))
		return MB_EXIT_FAIL;
	int err = mb_ff_age(vol, &o);

	if (err) {
		mb_cli_err("freefrag", "workload failed: %s", strerror(-err));
		mb_volume_destroy(vol);
		return MB_EXIT_FAIL;
	}
	mb_discard_all(vol);
	mb_volume_geometry(vol, &geo);
	if (o.chunk && o.chunk < geo.block_size) {
		mb_volume_destroy(vol);
		return mb_cli_usage_err("freefrag", "chunk smaller than a block");
	}
	s.chunk_blocks = o.chunk / geo.block_size;
	mb_ff_collect(vol, &s);
	if (o.json)
		mb_ff_print_json(&s, geo.block_size);
	else
		mb_ff_print_text(&s, geo.block_size);
	mb_volume_destroy(vol);
	return MB_EXIT_OK;
}
