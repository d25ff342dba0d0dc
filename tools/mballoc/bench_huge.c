/* SPDX-License-Identifier: MIT */
/*
 * bench_huge.c - the `huge` workload: in-memory volumes of 16 TiB (131072
 * groups of 128 MiB) and 1 PiB against a 1 GiB one.  Creation time, memory
 * (resident set from /proc/self/statm) per TiB, and the latency of 16-block
 * requests at 50% full.
 *
 * Filling 16 TiB one small request at a time would take hours, so every
 * group gets one NOPREALLOC request for half its blocks at its first block
 * (the group is then 50% full, its free half one extent).  Every group so
 * filled has its bitmaps built (16 KiB each at 4 KiB blocks): that is fine
 * for 131072 groups, not for the 8 M groups of 1 PiB, so there only the
 * first 131072 groups (16 TiB) are filled and requests aim at them; the
 * rest stay lazily initialized.  Every line says what was filled.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"
#include "cli.h"

struct mb_huge {
	uint64_t bytes;
	uint32_t fill_groups; /* groups filled to 50% (cap) */
	double create_s, fill_s, destroy_s;
	double rss_create, rss_fill; /* MiB */
	uint32_t groups, filled;
	uint64_t ops, p50, p99, p999;
	double mean;
	int err;
};

static double mb_rss_mib(void)
{
	unsigned long long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%llu %llu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (double)res * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

/* Half of each of the first fill_groups groups, one request each. */
static int mb_huge_fill(struct mb_volume *vol, struct mb_huge *h)
{
	struct mb_geometry geo;

	mb_volume_geometry(vol, &geo);
	for (uint32_t g = 0; g < h->groups && g < h->fill_groups; g++) {
		uint64_t first = geo.first_data_block + (uint64_t)g * geo.blocks_per_group;
		struct mb_request rq = {
		    .goal = first, .len = geo.blocks_per_group / 2, .flags = MB_HINT_NOPREALLOC};
		struct mb_extent ex;
		int err = mb_alloc(vol, &rq, &ex);

		if (err)
			return err;
		h->filled++;
	}
	return 0;
}

/* 16-block requests at random goals inside the filled part, in batches
 * freed between them so the fullness stays at 50%. */
static void mb_huge_measure(const struct mb_bench_cfg *c, struct mb_volume *vol, struct mb_huge *h)
{
	struct mb_geometry geo;
	struct mb_bench_lat lat;
	struct mb_extent ex[256];
	uint64_t rng = c->seed * 17 + 5, ns = 0, budget = (uint64_t)(c->secs * 1e9 * 2);

	mb_volume_geometry(vol, &geo);
	uint64_t span = (uint64_t)(h->filled ? h->filled : 1) * geo.blocks_per_group;

	mb_bench_lat_init(&lat, 1);
	while (ns < budget || h->ops < 256) {
		int n = 0;

		for (; n < 256; n++) {
			struct mb_request rq = {.goal = mb_bench_rng(&rng) % span, .len = 16};
			uint64_t t0 = mb_bench_now_ns();

			if (mb_alloc(vol, &rq, &ex[n]))
				break;
			uint64_t t = mb_bench_now_ns() - t0;

			ns += t;
			mb_bench_lat_add(&lat, t);
		}
		for (int i = 0; i < n; i++)
			mb_free(vol, ex[i].start, ex[i].len);
		h->ops += n;
		if (n < 256)
			break;
	}
	h->mean = h->ops ? (double)ns / (double)h->ops : 0;
	h->p50 = mb_bench_lat_q(&lat, 0.5);
	h->p99 = mb_bench_lat_q(&lat, 0.99);
	h->p999 = mb_bench_lat_q(&lat, 0.999);
	mb_bench_lat_free(&lat);
}

static void mb_huge_one(const struct mb_bench_cfg *c, struct mb_huge *h)
{
	struct mb_geometry geo = {.block_size = c->block_size,
				  .blocks_count = h->bytes / c->block_size};
	struct mb_volume *vol;
	double rss0 = mb_rss_mib();
	uint64_t t0 = mb_bench_now_ns();

	h->err = mb_volume_create(&geo, &vol);
	h->create_s = (double)(mb_bench_now_ns() - t0) / 1e9;
	if (h->err)
		return;
	h->rss_create = mb_rss_mib() - rss0;
	h->groups = mb_groups_count(vol);
	t0 = mb_bench_now_ns();
	h->err = mb_huge_fill(vol, h);
	h->fill_s = (double)(mb_bench_now_ns() - t0) / 1e9;
	h->rss_fill = mb_rss_mib() - rss0;
	if (!h->err)
		mb_huge_measure(c, vol, h);
	t0 = mb_bench_now_ns();
	mb_volume_destroy(vol);
	h->destroy_s = (double)(mb_bench_now_ns() - t0) / 1e9;
}

static void mb_huge_print(const struct mb_bench_cfg *c, const struct mb_huge *h,
			  const struct mb_huge *base)
{
	char text[600], json[700], name[32];
	double tib = (double)h->bytes / (double)(1ULL << 40);
	double r50 = base->p50 ? (double)h->p50 / (double)base->p50 : 0;
	double rmean = base->mean > 0 ? h->mean / base->mean : 0;

	if (h->bytes >= (1ULL << 50))
		snprintf(name, sizeof(name), "%llu PiB", (unsigned long long)(h->bytes >> 50));
	else if (h->bytes >= (1ULL << 40))
		snprintf(name, sizeof(name), "%llu TiB", (unsigned long long)(h->bytes >> 40));
	else
		snprintf(name, sizeof(name), "%llu GiB", (unsigned long long)(h->bytes >> 30));
	if (h->err) {
		snprintf(text, sizeof(text), "%-8s error: %s", name, strerror(-h->err));
		snprintf(json, sizeof(json), "\"volume\":\"%s\",\"error\":\"%s\"", name,
			 strerror(-h->err));
		mb_bench_out_kv(c->out, "huge", text, json);
		return;
	}
	snprintf(text, sizeof(text),
		 "%-8s groups %-8u create %.3fs destroy %.3fs  RSS %.1f MiB (%.2f MiB/TiB) "
		 "empty, %.1f MiB after filling %u groups to 50%% in %.2fs\n"
		 "%-8s 16-block allocs at 50%%: p50 %llu ns p99 %llu ns p99.9 %llu ns mean %.0f ns "
		 "(%llu ops); vs 1 GiB: p50 %.2fx mean %.2fx",
		 name, h->groups, h->create_s, h->destroy_s, h->rss_create, h->rss_create / tib,
		 h->rss_fill, h->filled, h->fill_s, "", (unsigned long long)h->p50,
		 (unsigned long long)h->p99, (unsigned long long)h->p999, h->mean,
		 (unsigned long long)h->ops, r50, rmean);
	snprintf(json, sizeof(json),
		 "\"volume\":\"%s\",\"bytes\":%llu,\"groups\":%u,\"create_s\":%.4f,"
		 "\"destroy_s\":%.4f,\"rss_empty_mib\":%.1f,\"rss_mib_per_tib\":%.3f,"
		 "\"groups_filled_50pct\":%u,\"fill_s\":%.3f,\"rss_filled_mib\":%.1f,"
		 "\"ops\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu,\"p999_ns\":%llu,\"mean_ns\":%.1f,"
		 "\"p50_vs_1gib\":%.3f,\"mean_vs_1gib\":%.3f",
		 name, (unsigned long long)h->bytes, h->groups, h->create_s, h->destroy_s,
		 h->rss_create, h->rss_create / tib, h->filled, h->fill_s, h->rss_fill,
		 (unsigned long long)h->ops, (unsigned long long)h->p50, (unsigned long long)h->p99,
		 (unsigned long long)h->p999, h->mean, r50, rmean);
	mb_bench_out_kv(c->out, "huge", text, json);
}

int mb_bench_huge(const struct mb_bench_cfg *c)
{
	/* quick: 1 GiB, 1 TiB filled, 16 TiB with its first 1 TiB filled */
	struct mb_huge h[3] = {
	    {.bytes = 1ULL << 30, .fill_groups = UINT32_MAX},
	    {.bytes = c->quick ? 1ULL << 40 : 16ULL << 40, .fill_groups = UINT32_MAX},
	    {.bytes = c->quick ? 16ULL << 40 : 1ULL << 50, .fill_groups = c->quick ? 8192 : 131072},
	};

	for (int i = 0; i < 3; i++) {
		mb_huge_one(c, &h[i]);
		mb_huge_print(c, &h[i], &h[0]);
	}
	return 0;
}
