/* SPDX-License-Identifier: MIT */
/*
 * cmd_freefrag.c - `mballoc freefrag`: e2freefrag's report for a volume
 * PATH (opened read-only) or, with --synthetic, an in-memory volume aged
 * as `mballoc groups --synthetic` ages it (same options, same seeded
 * workload: mb_inspect_age() in cmd_inspect.c).
 *
 * Every figure is exact: the report walks each group's on-disk free
 * extents (mb_group_free_extents() with MB_FREE_ONDISK, as e2freefrag reads
 * the block bitmap, so unused preallocated space counts as free) and, as
 * e2freefrag does, joins an extent that ends at a group's end with one that
 * starts the next group.  --chunk counts chunks of SIZE aligned to block 0
 * that are wholly free.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mb_bench.h"

struct mb_ff_opts {
	struct mb_source src;
	uint64_t chunk; /* bytes; 0 = no --chunk */
	bool json;
};

static void mb_ff_usage(FILE *f)
{
	fprintf(f, "usage: mballoc freefrag PATH [options]\n"
		   "       mballoc freefrag --synthetic [aging options] [options]\n"
		   "Prints e2freefrag's report of the free space of the volume in PATH\n"
		   "(opened read-only) or of an in-memory volume aged by a seeded workload.\n"
		   MB_AGE_HELP
		   "  -c, --chunk SIZE        also count free chunks of SIZE (power of two)\n"
		   "  --json                  one JSON object on stdout\n"
		   "  -h, --help\n");
}

static int mb_ff_parse(int argc, char **argv, struct mb_ff_opts *o)
{
	static const struct option lo[] = {
		MB_SOURCE_LONGOPTS,
		{ "chunk", required_argument, 0, 'c' },
		{ "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c, rc;

	*o = (struct mb_ff_opts){ MB_SOURCE_DEFAULTS, 0, false };
	optind = 1;
	opterr = 0; /* our own message, in the CLI's format */
	while ((c = getopt_long(argc, argv, "hc:", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (mb_parse_size(optarg, &o->chunk) || !o->chunk ||
			    (o->chunk & (o->chunk - 1)))
				return mb_cli_usage_err("freefrag",
							"invalid value for --chunk: '%s'", optarg);
			break;
		case 'j': o->json = true; break;
		case 'h': mb_ff_usage(stdout); exit(MB_EXIT_OK);
		case '?': return mb_cli_bad_option("freefrag", argv);
		default:
			if ((rc = mb_source_opt("freefrag", c, optarg, &o->src)))
				return rc < 0 ? MB_EXIT_USAGE : rc;
		}
	}
	return mb_source_args("freefrag", argc, argv, &o->src);
}

struct mb_ff_sum {
	uint64_t total, chunks_total, chunks_free;
	uint64_t chunk_blocks;       /* 0 = no --chunk */
	uint64_t run_start, run_len; /* the extent being built; may span groups */
	struct mb_bench_frag f;      /* extents, min, max, histogram */
};

/* Counts the extent being built, once it can grow no more. */
static void mb_ff_flush(struct mb_ff_sum *s)
{
	uint64_t c = s->chunk_blocks, first, last;

	if (!s->run_len)
		return;
	mb_bench_frag_add(&s->f, s->run_len);
	if (c) {
		first = (s->run_start + c - 1) / c;
		last = (s->run_start + s->run_len) / c;
		s->chunks_free += last > first ? last - first : 0;
	}
	s->run_len = 0;
}

/* mb_group_free_extents() callback: extents arrive in volume block order. */
static int mb_ff_extent(uint64_t start, uint32_t len, void *arg)
{
	struct mb_ff_sum *s = arg;

	if (s->run_len && s->run_start + s->run_len == start) {
		s->run_len += len;
		return 0;
	}
	mb_ff_flush(s);
	s->run_start = start;
	s->run_len = len;
	return 0;
}

/* Walks every group; returns 0 or -errno (printed). */
static int mb_ff_collect(struct mb_volume *vol, struct mb_ff_sum *s)
{
	struct mb_geometry geo;
	int err;

	mb_volume_geometry(vol, &geo);
	s->total = geo.blocks_count;
	for (uint32_t g = 0; g < mb_groups_count(vol); g++) {
		err = mb_group_free_extents(vol, g, MB_FREE_ONDISK, mb_ff_extent, s);
		if (err) {
			mb_cli_err("freefrag", "group %u: %s", g, strerror(-err));
			return err;
		}
	}
	mb_ff_flush(s);
	if (s->chunk_blocks)
		s->chunks_total = s->total / s->chunk_blocks;
	mb_bench_frag_finish(&s->f, geo.block_size);
	if (s->f.free_blocks != mb_free_blocks(vol)) {
		mb_cli_err("freefrag", "free extents sum to %llu blocks, the volume counts %llu",
			   (unsigned long long)s->f.free_blocks,
			   (unsigned long long)mb_free_blocks(vol));
		return -EUCLEAN;
	}
	return 0;
}

/* "4K", "512K", "2M": e2freefrag's range labels. */
static void mb_ff_label(char *buf, size_t n, uint64_t bytes)
{
	if (bytes >= (1ULL << 30))
		snprintf(buf, n, "%lluG", (unsigned long long)(bytes >> 30));
	else if (bytes >= (1ULL << 20))
		snprintf(buf, n, "%lluM", (unsigned long long)(bytes >> 20));
	else
		snprintf(buf, n, "%lluK", (unsigned long long)(bytes >> 10));
}

static void mb_ff_print_hist(const struct mb_ff_sum *s, uint32_t bs)
{
	printf("\nHISTOGRAM OF FREE EXTENT SIZES:\n");
	printf("%s :  %12s  %12s  %7s\n", "Extent Size Range", "Free extents", "Free Blocks",
	       "Percent");
	for (int k = 0; k < MB_BENCH_HIST; k++) {
		char lo[16], hi[16];
		uint64_t a = (1ULL << k) * bs;

		if (!s->f.hist[k])
			continue;
		mb_ff_label(lo, sizeof(lo), a);
		if (k == MB_BENCH_HIST - 1) /* the last bucket takes every longer extent */
			snprintf(hi, sizeof(hi), "max");
		else
			mb_ff_label(hi, sizeof(hi), 2 * a);
		printf("%5s...%5s-  :  %12llu  %12llu  %6.2f%%\n", lo, hi,
		       (unsigned long long)s->f.hist[k], (unsigned long long)s->f.hist_blocks[k],
		       100.0 * (double)s->f.hist_blocks[k] / (double)s->f.free_blocks);
	}
}

static void mb_ff_print_text(const char *device, const struct mb_ff_sum *s, uint32_t bs)
{
	uint64_t kb = bs / 1024, free = s->f.free_blocks;

	printf("Device: %s\n", device);
	printf("Blocksize: %u bytes\n", bs);
	printf("Total blocks: %llu\nFree blocks: %llu (%.1f%%)\n", (unsigned long long)s->total,
	       (unsigned long long)free, 100.0 * (double)free / (double)s->total);
	if (s->chunk_blocks)
		printf("\nChunksize: %llu bytes (%llu blocks)\nTotal chunks: %llu\n"
		       "Free chunks: %llu (%.1f%%)\n",
		       (unsigned long long)(s->chunk_blocks * bs),
		       (unsigned long long)s->chunk_blocks, (unsigned long long)s->chunks_total,
		       (unsigned long long)s->chunks_free,
		       s->chunks_total ? 100.0 * (double)s->chunks_free / (double)s->chunks_total
				       : 0);
	if (!s->f.extents)
		return;
	printf("\nMin. free extent: %llu KB\nMax. free extent: %llu KB\n"
	       "Avg. free extent: %llu KB\nNum. free extent: %llu\n",
	       (unsigned long long)(s->f.min * kb), (unsigned long long)(s->f.max * kb),
	       (unsigned long long)(free * kb / s->f.extents), (unsigned long long)s->f.extents);
	printf("Fragmentation score (Ceph-style): %.3f\n", s->f.score);
	mb_ff_print_hist(s, bs);
}

static void mb_ff_print_json(const char *path, const struct mb_ff_sum *s, uint32_t bs)
{
	const struct mb_bench_frag *f = &s->f;
	struct mb_json j;

	mb_json_start(&j, stdout, "freefrag");
	mb_json_str(&j, "path", path);
	mb_json_u64(&j, "block_size", bs);
	mb_json_u64(&j, "blocks_count", s->total);
	mb_json_u64(&j, "free_blocks", f->free_blocks);
	mb_json_u64(&j, "free_extents", f->extents);
	mb_json_dbl(&j, "avg_free_extent_blocks",
		    f->extents ? (double)f->free_blocks / (double)f->extents : 0, 2);
	mb_json_u64(&j, "min_free_extent_blocks", f->min);
	mb_json_u64(&j, "max_free_extent_blocks", f->max);
	mb_json_dbl(&j, "frag_score", f->score, 4);
	if (s->chunk_blocks) {
		mb_json_u64(&j, "chunk_blocks", s->chunk_blocks);
		mb_json_u64(&j, "total_chunks", s->chunks_total);
		mb_json_u64(&j, "free_chunks", s->chunks_free);
	}
	mb_json_arr(&j, "histogram");
	for (int k = 0; k < MB_BENCH_HIST; k++) {
		if (!f->hist[k])
			continue;
		mb_json_obj(&j, NULL);
		mb_json_u64(&j, "min_blocks", 1ULL << k);
		mb_json_u64(&j, "free_extents", f->hist[k]);
		mb_json_u64(&j, "free_blocks", f->hist_blocks[k]);
		mb_json_end(&j);
	}
	mb_json_finish(&j);
}

int mb_cmd_freefrag(int argc, char **argv)
{
	struct mb_ff_opts o;
	struct mb_volume *vol;
	struct mb_ff_sum s = { 0 };
	struct mb_geometry geo;
	int rc = mb_ff_parse(argc, argv, &o);

	if (rc)
		return rc;
	if ((rc = mb_source_open("freefrag", &o.src, &vol)))
		return rc;
	mb_volume_geometry(vol, &geo);
	if (o.chunk && o.chunk < geo.block_size) {
		mb_volume_destroy(vol);
		return mb_cli_usage_err("freefrag", "chunk smaller than a block");
	}
	s.chunk_blocks = o.chunk / geo.block_size;
	rc = mb_ff_collect(vol, &s) ? MB_EXIT_FAIL : MB_EXIT_OK;
	if (!rc && o.json)
		mb_ff_print_json(o.src.path, &s, geo.block_size);
	else if (!rc)
		mb_ff_print_text(mb_source_name(&o.src), &s, geo.block_size);
	mb_volume_destroy(vol);
	return rc;
}
