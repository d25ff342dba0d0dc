/* SPDX-License-Identifier: MIT */
/*
 * cmd_map.c - `mballoc map PATH -o map.svg`: a picture of a volume's free
 * space.  One strip per group shows where its free extents lie, beside
 * bars for its free share and its largest free run and the count of its
 * fragments; below, the histogram of free extent sizes (e2freefrag's
 * buckets, extents joined across group boundaries as in `freefrag`).
 *
 * Free space is read on disk (MB_FREE_ONDISK), as freefrag reads it.  Each
 * strip carries its figures as data-* attributes, so a test can check the
 * drawing against them and against `groups --json`.  A group with more
 * fragments than the strip has pixels is drawn as one rectangle per pixel
 * column whose opacity is the column's free share, so the file stays
 * bounded on fragmented or huge volumes.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mb_bench.h"

/* Layout, in SVG user units (pixels). */
#define MB_MAP_W 1000.0
#define MB_MAP_LAYOUT_X 60.0 /* the strip of free extents */
#define MB_MAP_LAYOUT_W 600.0
#define MB_MAP_BAR_X 680.0 /* free share and largest run */
#define MB_MAP_BAR_W 200.0
#define MB_MAP_TOP 84.0
#define MB_MAP_HIST_H 160.0

static const char *const mb_map_help =
	"usage: mballoc map PATH -o FILE.svg\n"
	"       mballoc map --synthetic [aging options] -o FILE.svg\n"
	"Draws the free space of every group of the volume in PATH (opened\n"
	"read-only) as an SVG picture: a strip per group (where its free extents lie,\n"
	"its free share, its largest free run, its fragments) and the histogram of\n"
	"free extent sizes.\n"
	"  -o, --output FILE       the SVG file to write (- for standard output)\n" MB_AGE_HELP
	"  -h, --help\n";

struct mb_map_opts {
	struct mb_source src;
	const char *out;
};

/* One group's free extents, as the walk finds them. */
struct mb_map_group {
	uint64_t first;       /* the group's first block */
	uint32_t len;         /* blocks in the group */
	uint64_t free, largest, fragments;
	uint64_t cap, n;      /* extents kept: when the group has few */
	uint64_t *ext;        /* start, len pairs; group-relative */
	uint32_t *bins;       /* free blocks per pixel column, when it has many */
};

struct mb_map {
	FILE *f;
	struct mb_geometry geo;
	uint32_t groups;
	double row_h, pitch;
	struct mb_map_group grp;
	uint64_t run_start, run_len; /* the extent being joined across groups */
	struct mb_bench_frag frag;   /* the joined extents, as freefrag's */
};

static int mb_map_parse(int argc, char **argv, struct mb_map_opts *o)
{
	static const struct option lo[] = {
		MB_SOURCE_LONGOPTS,
		{ "output", required_argument, 0, 'o' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c, rc;

	*o = (struct mb_map_opts){ MB_SOURCE_DEFAULTS, NULL };
	optind = 1;
	opterr = 0; /* our own message, in the CLI's format */
	while ((c = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case 'h': fputs(mb_map_help, stdout); exit(MB_EXIT_OK);
		case '?': return mb_cli_bad_option("map", argv);
		default:
			if ((rc = mb_source_opt("map", c, optarg, &o->src)))
				return rc < 0 ? MB_EXIT_USAGE : rc;
		}
	}
	if ((rc = mb_source_args("map", argc, argv, &o->src)))
		return rc;
	if (!o->out)
		return mb_cli_usage_err("map", "missing -o FILE.svg");
	return 0;
}

static void mb_map_join_flush(struct mb_map *m)
{
	if (m->run_len)
		mb_bench_frag_add(&m->frag, m->run_len);
	m->run_len = 0;
}

/* mb_group_free_extents() callback, in block order. */
static int mb_map_extent(uint64_t start, uint32_t len, void *arg)
{
	struct mb_map *m = arg;
	struct mb_map_group *g = &m->grp;
	uint64_t rel = start - g->first;

	g->free += len;
	g->fragments++;
	g->largest = len > g->largest ? len : g->largest;
	if (g->n + 2 <= g->cap) {
		g->ext[g->n++] = rel;
		g->ext[g->n++] = len;
	}
	/* pixel columns: each block's share goes to its column */
	for (uint64_t b = rel; b < rel + len;) {
		uint64_t col = b * (uint64_t)MB_MAP_LAYOUT_W / m->geo.blocks_per_group;
		uint64_t col_end = ((col + 1) * m->geo.blocks_per_group + (uint64_t)MB_MAP_LAYOUT_W - 1) /
				   (uint64_t)MB_MAP_LAYOUT_W;
		uint64_t n = (col_end < rel + len ? col_end : rel + len) - b;

		g->bins[col] += (uint32_t)n;
		b += n;
	}
	if (m->run_len && m->run_start + m->run_len == start) {
		m->run_len += len;
		return 0;
	}
	mb_map_join_flush(m);
	m->run_start = start;
	m->run_len = len;
	return 0;
}

/* Text content with XML's special characters escaped. */
static void mb_map_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, f);
		}
	}
}

static void mb_map_header(struct mb_map *m, const char *name, uint64_t free, double height)
{
	FILE *f = m->f;

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		   "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"11\" "
		   "data-groups=\"%u\" data-blocks-per-group=\"%u\" data-free-blocks=\"%llu\">\n",
		MB_MAP_W, height, MB_MAP_W, height, m->groups, m->geo.blocks_per_group,
		(unsigned long long)free);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
	fprintf(f, "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">Free space of ");
	mb_map_text(f, name);
	fprintf(f, "</text>\n<text x=\"10\" y=\"42\">%u groups of %u blocks, %u-byte blocks; "
		   "%llu of %llu blocks free (%.1f%%)</text>\n",
		m->groups, m->geo.blocks_per_group, m->geo.block_size, (unsigned long long)free,
		(unsigned long long)m->geo.blocks_count,
		100.0 * (double)free / (double)m->geo.blocks_count);
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">where the free extents lie "
		   "(green free, grey used)</text>\n", MB_MAP_LAYOUT_X, MB_MAP_TOP - 8);
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">free share, largest free run</text>\n",
		MB_MAP_BAR_X, MB_MAP_TOP - 8);
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">fragments</text>\n", MB_MAP_BAR_X + MB_MAP_BAR_W + 10,
		MB_MAP_TOP - 8);
}

/* The free extents of the group just walked, on its strip at height y. */
static void mb_map_layout(struct mb_map *m, double y)
{
	const struct mb_map_group *g = &m->grp;
	double scale = MB_MAP_LAYOUT_W / (double)m->geo.blocks_per_group;
	FILE *f = m->f;

	fprintf(f, "<rect class=\"strip\" x=\"%.0f\" y=\"%.2f\" width=\"%.3f\" height=\"%.2f\" "
		   "fill=\"#d0d0d0\"/>\n", MB_MAP_LAYOUT_X, y, scale * g->len, m->row_h);
	if (2 * g->fragments <= g->cap) {
		for (uint64_t i = 0; i < g->n; i += 2)
			fprintf(f, "<rect class=\"extent\" x=\"%.3f\" y=\"%.2f\" width=\"%.3f\" "
				   "height=\"%.2f\" fill=\"#2e9e5b\" fill-opacity=\"1\"/>\n",
				MB_MAP_LAYOUT_X + scale * (double)g->ext[i], y,
				scale * (double)g->ext[i + 1], m->row_h);
		return;
	}
	/* too many to draw one by one: a column per pixel, as opaque as it is free */
	uint64_t bpg = m->geo.blocks_per_group, w = (uint64_t)MB_MAP_LAYOUT_W;

	for (uint32_t c = 0; c < (uint32_t)MB_MAP_LAYOUT_W; c++) {
		/* the column's blocks: those b with b * w / bpg == c */
		double col_blocks = (double)(((c + 1) * bpg + w - 1) / w - (c * bpg + w - 1) / w);

		if (!g->bins[c])
			continue;
		fprintf(f, "<rect class=\"extent\" x=\"%.3f\" y=\"%.2f\" width=\"1\" "
			   "height=\"%.2f\" fill=\"#2e9e5b\" fill-opacity=\"%.4f\"/>\n",
			MB_MAP_LAYOUT_X + c, y, m->row_h, (double)g->bins[c] / col_blocks);
	}
}

/* One group's strip: layout, free share, largest run, fragments. */
static void mb_map_row(struct mb_map *m, uint32_t gno)
{
	const struct mb_map_group *g = &m->grp;
	double y = MB_MAP_TOP + gno * m->pitch, share = (double)g->free / (double)g->len;
	FILE *f = m->f;

	fprintf(f, "<g class=\"group\" data-group=\"%u\" data-blocks=\"%u\" data-free=\"%llu\" "
		   "data-largest=\"%llu\" data-fragments=\"%llu\">\n<title>group %u: %llu of %u "
		   "blocks free (%.1f%%), largest free run %llu, %llu fragments</title>\n",
		gno, g->len, (unsigned long long)g->free, (unsigned long long)g->largest,
		(unsigned long long)g->fragments, gno, (unsigned long long)g->free, g->len,
		100.0 * share, (unsigned long long)g->largest, (unsigned long long)g->fragments);
	if (m->row_h >= 8)
		fprintf(f, "<text x=\"%.0f\" y=\"%.2f\" text-anchor=\"end\">%u</text>\n",
			MB_MAP_LAYOUT_X - 6, y + m->row_h - 1, gno);
	mb_map_layout(m, y);
	fprintf(f, "<rect class=\"share-bg\" x=\"%.0f\" y=\"%.2f\" width=\"%.0f\" "
		   "height=\"%.2f\" fill=\"#eeeeee\"/>\n", MB_MAP_BAR_X, y, MB_MAP_BAR_W, m->row_h);
	fprintf(f, "<rect class=\"free-share\" x=\"%.0f\" y=\"%.2f\" width=\"%.3f\" "
		   "height=\"%.2f\" fill=\"#9ecae1\"/>\n", MB_MAP_BAR_X, y, MB_MAP_BAR_W * share,
		m->row_h);
	fprintf(f, "<rect class=\"largest-run\" x=\"%.0f\" y=\"%.2f\" width=\"%.3f\" "
		   "height=\"%.2f\" fill=\"#2166ac\"/>\n", MB_MAP_BAR_X, y + m->row_h / 4,
		MB_MAP_BAR_W * (double)g->largest / (double)g->len, m->row_h / 2);
	if (m->row_h >= 8)
		fprintf(f, "<text x=\"%.0f\" y=\"%.2f\">%llu</text>\n",
			MB_MAP_BAR_X + MB_MAP_BAR_W + 10, y + m->row_h - 1,
			(unsigned long long)g->fragments);
	fprintf(f, "</g>\n");
}

/* "1", "2-3", "4-7", ..., "1K-2K", ..., "8M+": bucket k holds 2^k..2^(k+1)-1 blocks. */
static void mb_map_bucket_label(char *buf, size_t n, int k)
{
	static const char unit[] = { 0, 'K', 'M', 'G' };

	if (k == 0)
		snprintf(buf, n, "1");
	else if (k < 10)
		snprintf(buf, n, "%llu-%llu", 1ULL << k, (2ULL << k) - 1);
	else if (k == MB_BENCH_HIST - 1)
		snprintf(buf, n, "%llu%c+", 1ULL << (k % 10), unit[k / 10]);
	else
		snprintf(buf, n, "%llu%c-%llu%c", 1ULL << (k % 10), unit[k / 10],
			 (2ULL << (k % 10)) >> ((k % 10) == 9 ? 10 : 0),
			 unit[k / 10 + ((k % 10) == 9)]);
}

/* The free-extent histogram: a bar per bucket, its height its share of the free blocks. */
static void mb_map_histogram(struct mb_map *m, double y)
{
	const struct mb_bench_frag *h = &m->frag;
	int top = 0;
	FILE *f = m->f;

	uint64_t most = 1; /* the tallest bar's blocks */

	for (int k = 0; k < MB_BENCH_HIST; k++) {
		if (h->hist[k])
			top = k;
		most = h->hist_blocks[k] > most ? h->hist_blocks[k] : most;
	}
	/* room above the tallest bar for its count, below the title */
	double bw = MB_MAP_LAYOUT_W / (top + 1), base = y + 36 + MB_MAP_HIST_H;

	fprintf(f, "<g class=\"histogram\" data-free-extents=\"%llu\">\n<text x=\"%.0f\" "
		   "y=\"%.2f\" font-weight=\"bold\">free extents by size in blocks: bar height = "
		   "free blocks in them (tallest %.1f%% of the free space), label = extents"
		   "</text>\n", (unsigned long long)h->extents, MB_MAP_LAYOUT_X, y + 10,
		h->free_blocks ? 100.0 * (double)most / (double)h->free_blocks : 0);
	for (int k = 0; k <= top; k++) {
		char label[24];
		double x = MB_MAP_LAYOUT_X + k * bw;
		double bh = MB_MAP_HIST_H * (double)h->hist_blocks[k] / (double)most;

		mb_map_bucket_label(label, sizeof(label), k);
		fprintf(f, "<rect class=\"bin\" data-order=\"%d\" data-extents=\"%llu\" "
			   "data-blocks=\"%llu\" x=\"%.2f\" y=\"%.3f\" width=\"%.2f\" "
			   "height=\"%.3f\" fill=\"#2e9e5b\"/>\n",
			k, (unsigned long long)h->hist[k], (unsigned long long)h->hist_blocks[k],
			x + 1, base - bh, bw - 2, bh);
		fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%llu</text>\n",
			x + bw / 2, base - bh - 3, (unsigned long long)h->hist[k]);
		fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" "
			   "font-size=\"9\">%s</text>\n", x + bw / 2, base + 12, label);
	}
	fprintf(f, "<line x1=\"%.0f\" y1=\"%.2f\" x2=\"%.0f\" y2=\"%.2f\" stroke=\"#000\"/>\n"
		   "</g>\n", MB_MAP_LAYOUT_X, base, MB_MAP_LAYOUT_X + MB_MAP_LAYOUT_W, base);
}

/* Walks group g into m->grp; 0 or -errno. */
static int mb_map_walk(struct mb_volume *vol, struct mb_map *m, uint32_t gno)
{
	struct mb_map_group *g = &m->grp;
	uint64_t first = m->geo.first_data_block + (uint64_t)gno * m->geo.blocks_per_group;
	uint64_t left = m->geo.blocks_count - first;

	g->first = first;
	g->len = (uint32_t)(left < m->geo.blocks_per_group ? left : m->geo.blocks_per_group);
	g->free = g->largest = g->fragments = g->n = 0;
	memset(g->bins, 0, (size_t)MB_MAP_LAYOUT_W * sizeof(*g->bins));
	return mb_group_free_extents(vol, gno, MB_FREE_ONDISK, mb_map_extent, m);
}

static int mb_map_draw(struct mb_volume *vol, struct mb_map *m, const char *name)
{
	int err = 0;

	m->groups = mb_groups_count(vol);
	m->row_h = 600.0 / m->groups;
	m->row_h = m->row_h > 14 ? 14 : m->row_h < 2 ? 2 : m->row_h;
	m->pitch = m->row_h + (m->row_h >= 6 ? 2 : 0);
	double hist_y = MB_MAP_TOP + m->groups * m->pitch + 16;

	mb_map_header(m, name, mb_free_blocks(vol), hist_y + MB_MAP_HIST_H + 66);
	for (uint32_t g = 0; g < m->groups && !err; g++) {
		if (!(err = mb_map_walk(vol, m, g)))
			mb_map_row(m, g);
	}
	if (err)
		return err;
	mb_map_join_flush(m);
	mb_bench_frag_finish(&m->frag, m->geo.block_size);
	mb_map_histogram(m, hist_y);
	fprintf(m->f, "</svg>\n");
	return 0;
}

/* Opens the output and draws; prints its own errors.  0 or MB_EXIT_FAIL. */
static int mb_map_write(struct mb_volume *vol, const struct mb_map_opts *o, struct mb_map *m)
{
	bool to_stdout = !strcmp(o->out, "-");

	m->f = to_stdout ? stdout : fopen(o->out, "w");
	if (!m->f) {
		mb_cli_err("map", "%s: %s", o->out, strerror(errno));
		return MB_EXIT_FAIL;
	}
	int err = mb_map_draw(vol, m, mb_source_name(&o->src));

	if (ferror(m->f) && !err)
		err = -EIO;
	if (!to_stdout && fclose(m->f) && !err)
		err = -errno;
	if (!err)
		return 0;
	mb_cli_err("map", "%s: %s", err == -EIO || err == -ENOSPC ? o->out : mb_source_name(&o->src),
		   strerror(-err));
	if (!to_stdout)
		unlink(o->out); /* no half picture */
	return MB_EXIT_FAIL;
}

int mb_cmd_map(int argc, char **argv)
{
	struct mb_map_opts o;
	struct mb_volume *vol;
	struct mb_map m = { 0 };
	int rc = mb_map_parse(argc, argv, &o);

	if (rc || (rc = mb_source_open("map", &o.src, &vol)))
		return rc;
	mb_volume_geometry(vol, &m.geo);
	/* keep a group's extents when they fit the strip's pixels, else bin them */
	m.grp.cap = 2 * (uint64_t)MB_MAP_LAYOUT_W;
	m.grp.ext = calloc(m.grp.cap, sizeof(*m.grp.ext));
	m.grp.bins = calloc((size_t)MB_MAP_LAYOUT_W, sizeof(*m.grp.bins));
	if (!m.grp.ext || !m.grp.bins) {
		mb_cli_err("map", "%s", strerror(ENOMEM));
		rc = MB_EXIT_FAIL;
	} else {
		rc = mb_map_write(vol, &o, &m);
	}
	free(m.grp.ext);
	free(m.grp.bins);
	mb_volume_destroy(vol);
	if (!rc && strcmp(o.out, "-"))
		printf("%s: %u groups drawn\n", o.out, m.groups);
	return rc;
}
