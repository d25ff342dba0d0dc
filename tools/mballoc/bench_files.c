/* SPDX-License-Identifier: MIT */
/*
 * bench_files.c - the `files` workload: N sequential writers appending
 * 64 KiB at a time to their big files, interleaved round-robin (as
 * writeback of N concurrent streams reaches the allocator), with a stream
 * of small files (1-4 blocks, written once) between the rounds.  What
 * matters is layout: extents per big file and per small file, after
 * merging pieces that landed back to back.  One thread drives all files so
 * every allocator sees the same order of requests; goals are the end of
 * the file's previous piece (none for a new file).
 *
 * Also the hook to bench/kernel_ext4.sh, shared with `threads`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"

#define MB_WRITERS 8

struct mb_ffile {
	void *st;
	uint64_t logical, goal, last_end, extents;
};

/* One append: the whole piece, in as many calls as the allocator needs. */
static int mb_files_write(struct mb_lane *l, struct mb_ffile *f, uint32_t len,
			  struct mb_bench_lat *lat, uint64_t *ops, uint64_t *ns)
{
	struct mb_bench_req rq = {.stream = f->st, .goal = f->goal};
	uint32_t done = 0, n;
	uint64_t s;

	while (done < len) {
		rq.logical = f->logical + done;
		rq.len = len - done;
		uint64_t t0 = mb_bench_now_ns();
		int err = mb_lane_alloc(l, &rq, &s, &n);
		uint64_t t = mb_bench_now_ns() - t0;

		if (err)
			return err;
		*ns += t;
		if (++*ops % lat->every == 0)
			mb_bench_lat_add(lat, t);
		f->extents += !(f->last_end == s && f->extents);
		f->last_end = s + n;
		done += n;
		rq.goal = f->goal = s + n < l->sh.blocks ? s + n : 0;
	}
	f->logical += len;
	return 0;
}

static void mb_files_run(const struct mb_bench_cfg *c, struct mb_lane *l, uint64_t big,
			 struct mb_bench_res *r)
{
	struct mb_ffile w[MB_WRITERS] = {0};
	uint32_t piece = (uint32_t)((64ULL << 10) / c->block_size);
	uint64_t rng = c->seed * 131 + 3, ops = 0, ns = 0, small = 0, small_ext = 0, id = 100;
	struct mb_bench_lat lat;
	int err = 0;

	mb_bench_lat_init(&lat, mb_cfg_sample(c, 1));
	for (int i = 0; i < MB_WRITERS; i++) {
		w[i].goal = MB_BENCH_NO_GOAL;
		w[i].st = l->a.stream_open ? l->a.stream_open(l->a.ctx, i + 1) : NULL;
	}
	for (uint64_t round = 0; round * piece < big && !err; round++) {
		for (int i = 0; i < MB_WRITERS && !err; i++)
			err = mb_files_write(l, &w[i], piece, &lat, &ops, &ns);
		for (int k = 0; k < 4 && !err; k++, small++) {
			struct mb_ffile f = {.goal = MB_BENCH_NO_GOAL};

			f.st = l->a.stream_open ? l->a.stream_open(l->a.ctx, ++id) : NULL;
			err = mb_files_write(l, &f, 1 + mb_bench_rng(&rng) % 4, &lat, &ops, &ns);
			if (f.st)
				l->a.stream_close(l->a.ctx, f.st);
			small_ext += f.extents;
		}
	}
	uint64_t big_ext = 0;

	for (int i = 0; i < MB_WRITERS; i++) {
		big_ext += w[i].extents;
		if (w[i].st)
			l->a.stream_close(l->a.ctx, w[i].st);
	}
	if (l->a.quiesce)
		l->a.quiesce(l->a.ctx);
	mb_bench_res_fill(r, &lat, ops, ns);
	r->aging = true;
	r->ext_per_alloc = (double)big_ext / MB_WRITERS;
	r->split_pct = 0;
	mb_bench_frag_from_shadow(&l->sh, c->block_size, &r->frag);
	snprintf(r->note, sizeof(r->note), "extents per big file %.1f, per small file %.2f%s%s",
		 (double)big_ext / MB_WRITERS, small ? (double)small_ext / (double)small : 0,
		 err ? "; error: " : "", err ? strerror(-err) : "");
	mb_lane_check(l, r);
	mb_bench_lat_free(&lat);
}

int mb_bench_files(const struct mb_bench_cfg *c)
{
	struct mb_bench_geo g = {.blocks = (c->quick ? 256ULL << 20 : 4ULL << 30) / c->block_size,
				 .block_size = c->block_size};
	uint64_t big = (c->quick ? 8ULL << 20 : 256ULL << 20) / c->block_size;
	struct mb_bench_row row = {.workload = "files", .nres = 3 + c->kernel};

	snprintf(row.params, sizeof(row.params), "%d writers x %llu MiB + small", MB_WRITERS,
		 (unsigned long long)(big * c->block_size >> 20));
	snprintf(row.note, sizeof(row.note),
		 "ext/al = extents per big file; 4 small files (1-4 blocks) per round; every call "
		 "timed; %llu MiB vol",
		 (unsigned long long)(g.blocks * c->block_size >> 20));
	for (int i = 0; i < MB_BENCH_NALLOC; i++) {
		struct mb_lane l;

		if (mb_lane_open(&l, i, &g)) {
			mb_res_skip(&row.res[i], l.a.name, l.a.note);
			continue;
		}
		row.res[i].alloc = l.a.name;
		mb_files_run(c, &l, big, &row.res[i]);
		mb_lane_close(&l);
	}
	if (c->kernel) {
		char args[64];

		snprintf(args, sizeof(args), "files %d %llu", MB_WRITERS,
			 (unsigned long long)(big * c->block_size >> 20));
		mb_bench_kernel(c, args, &row.res[3]);
	}
	mb_bench_out_row(c->out, &row);
	return 0;
}

/*
 * Runs the kernel script, which prints one line "ops=N ns=N [note=...]" or
 * "skipped: why".  Only root can set up the loop device it needs.
 */
void mb_bench_kernel(const struct mb_bench_cfg *c, const char *args, struct mb_bench_res *r)
{
	char cmd[512], line[256] = "";
	unsigned long long ops = 0, ns = 0;
	FILE *p;

	mb_res_skip(r, "kernel", "skipped: not root");
	if (geteuid() != 0)
		return;
	snprintf(cmd, sizeof(cmd), "sh '%s' %s %u %s 2>&1", c->kernel_script, args, c->block_size,
		 c->quick ? "quick" : "full");
	p = popen(cmd, "r");
	if (!p) {
		snprintf(r->note, sizeof(r->note), "skipped: cannot run %s", c->kernel_script);
		return;
	}
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, "ops=%llu ns=%llu", &ops, &ns) == 2)
			break;
		else
			snprintf(r->note, sizeof(r->note), "%.*s", (int)strcspn(line, "\n"), line);
	pclose(p);
	if (ops && ns) {
		char *note = strstr(line, "note=");

		r->skipped = false;
		r->ops = ops;
		r->ops_s = (double)ops * 1e9 / (double)ns;
		snprintf(r->note, sizeof(r->note), "fallocate() on ext4/loop/tmpfs%s%s",
			 note ? "; " : "", note ? note + 5 : "");
		r->note[strcspn(r->note, "\n")] = 0;
	}
}
