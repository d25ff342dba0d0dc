/* SPDX-License-Identifier: MIT */
/*
 * stress_image.c - `mballoc stress --image`: the persistent volume the
 * iterations run on.  Formats it (or checks the geometry options against
 * it), frees what a killed run left allocated (--reclaim), opens it for each
 * iteration, and makes the commits the tool itself asks for.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stress_int.h"

static int mb_stress_image_format(const struct mb_stress_opts *o)
{
	uint64_t bs = o->vol.block_size, bpg = o->vol.blocks_per_group;
	uint64_t blocks = bs ? o->vol.size / bs : 0;
	uint64_t reserved = o->geo_given & MB_STRESS_GEO_RESERVED
				    ? o->vol.reserved
				    : mb_format_default_reserved(blocks, bs, bpg ? bpg : 8 * bs, 0);

	if (bs < 1024 || bs > 65536 || bpg > UINT32_MAX || reserved > UINT32_MAX)
		return mb_cli_usage_err("stress", "invalid geometry for %s", o->image);
	struct mb_geometry geo = { .block_size = (uint32_t)bs,
				   .blocks_per_group = (uint32_t)bpg,
				   .blocks_count = blocks,
				   .reserved_per_group = (uint32_t)reserved };
	int err = mb_volume_format(o->image, &geo, NULL);

	if (err) {
		mb_cli_err("stress", "%s: cannot format: %s", o->image, mb_cli_open_strerror(err));
		return err == -EINVAL ? MB_EXIT_USAGE : MB_EXIT_FAIL;
	}
	return MB_EXIT_OK;
}

/* A geometry option the user gave must agree with the image. */
static int mb_stress_image_agree(const struct mb_stress_opts *o, const struct mb_geometry *g)
{
	static const char *const names[] = { "--size", "--block-size", "--blocks-per-group",
					      "--reserved" };
	const uint64_t want[] = { o->vol.size, o->vol.block_size, o->vol.blocks_per_group,
				  o->vol.reserved };
	const uint64_t have[] = { g->blocks_count * g->block_size, g->block_size,
				  g->blocks_per_group, g->reserved_per_group };

	for (int i = 0; i < 4; i++)
		if ((o->geo_given & (1u << i)) && want[i] != have[i])
			return mb_cli_usage_err("stress",
						"%s %llu contradicts %s, which has %llu "
						"(omit it, or add --format)",
						names[i], (unsigned long long)want[i], o->image,
						(unsigned long long)have[i]);
	return MB_EXIT_OK;
}

/*
 * Frees every allocated block of [start, start + len), a range without
 * metadata, halving it until each piece is all free or all allocated.
 * Returns the blocks freed, or -errno.
 */
static int64_t mb_stress_reclaim_range(struct mb_volume *vol, uint64_t start, uint64_t len)
{
	int64_t used = mb_allocated_blocks(vol, start, len);

	if (used <= 0)
		return used;
	if ((uint64_t)used == len) {
		int err = mb_free(vol, start, len);

		return err ? err : used;
	}
	int64_t a = mb_stress_reclaim_range(vol, start, len / 2);

	if (a < 0)
		return a;
	int64_t b = mb_stress_reclaim_range(vol, start + len / 2, len - len / 2);

	return b < 0 ? b : a + b;
}

/* --reclaim: the data blocks of every group, then a commit and a close. */
static int mb_stress_reclaim(const char *path)
{
	struct mb_open_opts oo = { .commit_interval_s = 0 };
	struct mb_volume *vol;
	struct mb_geometry g;
	int64_t freed = 0;
	int err = mb_volume_open(path, &oo, &vol);

	if (err)
		goto out;
	mb_volume_geometry(vol, &g);
	for (uint32_t i = 0; i < mb_groups_count(vol) && !err; i++) {
		uint64_t start = g.first_data_block + (uint64_t)i * g.blocks_per_group;
		uint64_t end = start + g.blocks_per_group;

		end = end < g.blocks_count ? end : g.blocks_count;
		start += g.reserved_per_group;
		if (start >= end)
			continue;
		int64_t n = mb_stress_reclaim_range(vol, start, end - start);

		if (n < 0)
			err = (int)n;
		else
			freed += n;
	}
	if (err)
		mb_volume_destroy(vol); /* nothing of a half reclaim is committed */
	else
		err = mb_volume_close(vol);
out:
	if (err)
		mb_cli_err("stress", "%s: reclaim: %s", path, mb_cli_open_strerror(err));
	else if (freed)
		fprintf(stderr, "mballoc: stress: %s: reclaimed %lld block(s)\n", path,
			(long long)freed);
	return err;
}

/* The geometry options are checked on a read-only open: a refusal writes nothing. */
int mb_stress_image_prepare(struct mb_stress_opts *o)
{
	struct mb_open_opts oo = { .commit_interval_s = 0, .read_only = 1 };
	struct mb_volume *vol;
	struct mb_geometry g;
	int rc = MB_EXIT_OK, err;

	if (o->format || access(o->image, F_OK))
		rc = mb_stress_image_format(o);
	if (rc)
		return rc;
	err = mb_volume_open(o->image, &oo, &vol);
	if (err) {
		mb_cli_err("stress", "%s: %s", o->image, mb_cli_open_strerror(err));
		return MB_EXIT_FAIL;
	}
	mb_volume_geometry(vol, &g);
	mb_volume_destroy(vol);
	rc = mb_stress_image_agree(o, &g);
	if (!rc && o->reclaim && o->commit_log && mb_stress_log_reset(o->commit_log))
		rc = MB_EXIT_FAIL;
	if (!rc && o->reclaim && mb_stress_reclaim(o->image))
		rc = MB_EXIT_FAIL;
	o->vol = (struct mb_vol_opts){ .size = g.blocks_count * g.block_size,
				       .block_size = g.block_size,
				       .blocks_per_group = g.blocks_per_group,
				       .reserved = g.reserved_per_group };
	return rc;
}

/*
 * A whole number of seconds is the library's own background commit thread;
 * the library counts in seconds, so a fraction is our committer's job.
 */
static bool mb_stress_whole_seconds(double secs)
{
	return secs == floor(secs) && secs <= UINT32_MAX;
}

int mb_stress_image_open(const struct mb_stress_opts *o, struct mb_volume **vol)
{
	struct mb_open_opts oo = { .commit_interval_s = 0 };
	int err;

	if (mb_stress_whole_seconds(o->commit_interval))
		oo.commit_interval_s = (uint32_t)o->commit_interval;
	err = mb_volume_open(o->image, &oo, vol);
	if (err)
		mb_cli_err("stress", "%s: %s", o->image, mb_cli_open_strerror(err));
	return err;
}

int mb_stress_commit(struct mb_stress_shared *sh)
{
	int err = mb_commit(sh->vol);
	int none = 0;

	atomic_fetch_add_explicit(&sh->commits, 1, memory_order_relaxed);
	if (err) {
		atomic_fetch_add_explicit(&sh->commit_errors, 1, memory_order_relaxed);
		atomic_compare_exchange_strong(&sh->first_commit_err, &none, err);
	}
	return err;
}

static void *mb_stress_committer_main(void *arg)
{
	struct mb_stress_shared *sh = arg;
	double slept = 0;

	/* short naps, so that stop is seen at once whatever the interval */
	while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
		double left = sh->o->commit_interval - slept;
		double nap = left < 0.02 ? left : 0.02;
		struct timespec ts = { 0, (long)(nap * 1e9) };

		nanosleep(&ts, NULL);
		slept += nap;
		if (slept >= sh->o->commit_interval) {
			mb_stress_commit(sh);
			slept = 0;
		}
	}
	return NULL;
}

int mb_stress_committer_start(struct mb_stress_shared *sh)
{
	if (!sh->persistent || mb_stress_whole_seconds(sh->o->commit_interval))
		return 0;
	int err = pthread_create(&sh->committer, NULL, mb_stress_committer_main, sh);

	if (err) {
		mb_cli_err("stress", "cannot create the commit thread: %s", strerror(err));
		return -err;
	}
	sh->committer_running = true;
	return 0;
}

void mb_stress_committer_stop(struct mb_stress_shared *sh)
{
	if (!sh->committer_running)
		return;
	pthread_join(sh->committer, NULL);
	sh->committer_running = false;
}
