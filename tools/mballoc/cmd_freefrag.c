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

/* e2freefrag's histogram: bucket k holds extents of [2^k, 2^(k+1)) blocks,
 * the last one everything longer. */
#define MB_FF_HIST 32

struct mb_ff_sum {
	uint64_t total, chunks_total, chunks_free;
	uint64_t chunk_blocks;       /* 0 = no --chunk */
	uint64_t run_start, run_len; /* the extent being built; may span groups */
	struct mb_bench_frag f;      /* extents, min, max, score, JSON histogram */
	uint64_t hist[MB_FF_HIST], hist_blocks[MB_FF_HIST]; /* the text report's */
};

static int mb_ilog2_u64(uint64_t x)
{
	return 63 - __builtin_clzll(x);
}

/* Counts the extent being built, once it can grow no more. */
static void mb_ff_flush(struct mb_ff_sum *s)
{
	uint64_t c = s->chunk_blocks, first, last;

	if (!s->run_len)
		return;
	mb_bench_frag_add(&s->f, s->run_len);
	int k = mb_ilog2_u64(s->run_len);

	k = k < MB_FF_HIST ? k : MB_FF_HIST - 1;
	s->hist[k]++;
	s->hist_blocks[k] += s->run_len;
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

/*
 * e2freefrag's range label of bucket k: its start, 2^k blocks, in the
 * largest unit (K, M, G, ...) that keeps it a whole number; the end is
 * twice the start in the start's unit ("512K...1024K-"), "max" for the
 * last bucket.
 */
static void mb_ff_range(char *buf, size_t n, int k, uint32_t bs)
{
	static const char units[] = "KMGTPEZY";
	uint64_t v = ((uint64_t)bs << k) >> 10; /* KiB */
	int u = 0;
	char end[24];

	while (v >= 1024 && !(v & 1023) && units[u + 1]) {
		v >>= 10;
		u++;
	}
	if (k == MB_FF_HIST - 1)
		snprintf(end, sizeof(end), "max ");
	else
		snprintf(end, sizeof(end), "%5llu%c-", (unsigned long long)(2 * v), units[u]);
	snprintf(buf, n, "%5llu%c...%7s", (unsigned long long)v, units[u], end);
}

static void mb_ff_print_hist(const struct mb_ff_sum *s, uint32_t bs)
{
	printf("\nHISTOGRAM OF FREE EXTENT SIZES:\n");
	printf("%s :  %12s  %12s  %7s\n", "Extent Size Range", "Free extents", "Free Blocks",
	       "Percent");
	for (int k = 0; k < MB_FF_HIST; k++) {
		char range[48];

		if (!s->hist[k])
			continue;
		mb_ff_range(range, sizeof(range), k, bs);
		printf("%s  :  %12llu  %12llu  %6.2f%%\n", range, (unsigned long long)s->hist[k],
		       (unsigned long long)s->hist_blocks[k],
		       100.0 * (double)s->hist_blocks[k] / (double)s->f.free_blocks);
	}
}

static void mb_ff_print_text(const char *device, const struct mb_ff_sum *s, uint32_t bs)
{
	uint64_t kb = bs / 1024, free = s->f.free_blocks;

	printf("Device: %s\n", device);
	printf("Blocksize: %u bytes\n", bs);
	printf("Total blocks: %llu\nFree blocks: %llu (%.1f%%)\n", (unsigned long long)s->total,
	       (unsigned long long)free, 100.0 * (double)free / (double)s->total);
	if (s->chunk_blocks) {
		/* e2freefrag's count: one more than the whole chunks (a partial
		   last chunk, even when there is none); JSON has the real one */
		uint64_t tc = s->chunks_total + 1;

		printf("\nChunksize: %llu bytes (%llu blocks)\nTotal chunks: %llu\n"
		       "Free chunks: %llu (%.1f%%)\n",
		       (unsigned long long)(s->chunk_blocks * bs),
		       (unsigned long long)s->chunk_blocks, (unsigned long long)tc,
		       (unsigned long long)s->chunks_free,
		       100.0 * (double)s->chunks_free / (double)tc);
	}
	if (!s->f.extents)
		return;
	/* e2freefrag's lines, its trailing blank after the minimum included */
	printf("\nMin. free extent: %llu KB \nMax. free extent: %llu KB\n"
	       "Avg. free extent: %llu KB\nNum. free extent: %llu\n",
	       (unsigned long long)(s->f.min * kb), (unsigned long long)(s->f.max * kb),
	       (unsigned long long)(free / s->f.extents * kb), (unsigned long long)s->f.extents);
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
