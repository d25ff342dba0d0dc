/* SPDX-License-Identifier: MIT */
/*
 * stress_verify.c - the end of every `mballoc stress` iteration, with all
 * threads joined: no block held twice or inside metadata, mb_check() clean,
 * every held extent allocated (mb_allocated_blocks), and the volume's free
 * count equal to the capacity minus what the threads hold -- once with
 * their files' preallocations discarded, and again after they have freed
 * everything.  On an --image the frees are committed and the last check
 * is mb_volume_verify(), which also reads every bitmap back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress_int.h"

#define MB_STRESS_REPORT_LEN (64 * 1024)

/* mb_check, or with `full` on an image mb_volume_verify. */
static bool mb_stress_check(struct mb_stress_shared *sh, const char *when, bool full)
{
	char *buf = malloc(MB_STRESS_REPORT_LEN);
	size_t len = buf ? MB_STRESS_REPORT_LEN : 0;
	int n = full && sh->persistent ? mb_volume_verify(sh->vol, buf, len)
				       : mb_check(sh->vol, buf, len);

	if (n)
		mb_cli_err("stress", "iteration %llu: mb_check %s: %d problem(s):\n%s",
			   (unsigned long long)sh->iter, when, n, buf ? buf : "");
	free(buf);
	return n == 0;
}

/* True when some block of the extent is metadata (before first_data_block
 * or among a group's reserved blocks). */
static bool mb_stress_in_metadata(const struct mb_geometry *geo, uint64_t start, uint64_t len)
{
	uint64_t end = start + len;

	if (start < geo->first_data_block)
		return true;
	while (start < end) {
		uint64_t off = (start - geo->first_data_block) % geo->blocks_per_group;

		if (off < geo->reserved_per_group)
			return true;
		start += geo->blocks_per_group - off; /* the next group's first block */
	}
	return false;
}

/*
 * Rebuilds the shadow bitmap from every thread's list.  Returns the blocks
 * held twice (the atomic shadow has seen them already, this re-derives it
 * from the final state); *bad is set if an extent lies in metadata.
 */
static uint64_t mb_stress_overlaps(struct mb_stress_shared *sh, bool *bad)
{
	uint64_t *map = calloc((sh->nblocks + 63) / 64, sizeof(*map));
	struct mb_geometry geo;
	uint64_t dup = 0;

	if (!map)
		return 0;
	mb_volume_geometry(sh->vol, &geo);
	for (uint32_t i = 0; i < sh->nthreads; i++) {
		for (size_t k = 0; k < sh->th[i].nex; k++) {
			const struct mb_extent *e = &sh->th[i].ex[k];

			if (mb_stress_in_metadata(&geo, e->start, e->len)) {
				mb_cli_err("stress",
					   "iteration %llu: extent %llu+%u is in metadata",
					   (unsigned long long)sh->iter,
					   (unsigned long long)e->start, e->len);
				*bad = true;
			}
			for (uint64_t b = e->start; b < e->start + e->len; b++) {
				dup += (map[b / 64] >> (b % 64)) & 1;
				map[b / 64] |= 1ULL << (b % 64);
			}
		}
	}
	free(map);
	return dup;
}

static bool mb_stress_expect_free(struct mb_stress_shared *sh, uint64_t want, const char *when)
{
	uint64_t got = mb_free_blocks(sh->vol);

	if (got != want)
		mb_cli_err("stress", "iteration %llu: %s: %llu free blocks, expected %llu",
			   (unsigned long long)sh->iter, when, (unsigned long long)got,
			   (unsigned long long)want);
	return got == want;
}

/* Every thread frees everything it holds; each free must succeed. */
static bool mb_stress_free_all(struct mb_stress_shared *sh)
{
	bool ok = true;

	for (uint32_t i = 0; i < sh->nthreads; i++) {
		struct mb_stress_thread *t = &sh->th[i];

		for (size_t k = 0; k < t->nex; k++) {
			int err = mb_free(sh->vol, t->ex[k].start, t->ex[k].len);

			if (err && ok)
				mb_cli_err("stress", "iteration %llu: freeing held %llu+%u: %s",
					   (unsigned long long)sh->iter,
					   (unsigned long long)t->ex[k].start, t->ex[k].len,
					   strerror(-err));
			ok &= !err;
		}
		t->nex = 0;
		t->held = 0;
	}
	return ok;
}

/* The volume must agree that every block a thread holds is allocated. */
static bool mb_stress_held_allocated(struct mb_stress_shared *sh)
{
	uint64_t bad = 0;

	for (uint32_t i = 0; i < sh->nthreads; i++) {
		for (size_t k = 0; k < sh->th[i].nex; k++) {
			const struct mb_extent *e = &sh->th[i].ex[k];
			int64_t n = mb_allocated_blocks(sh->vol, e->start, e->len);

			if (n != e->len && !bad++)
				mb_cli_err("stress", "iteration %llu: held %llu+%u: %lld block(s) "
						     "allocated",
					   (unsigned long long)sh->iter,
					   (unsigned long long)e->start, e->len, (long long)n);
		}
	}
	if (bad)
		mb_cli_err("stress", "iteration %llu: %llu held extent(s) not allocated",
			   (unsigned long long)sh->iter, (unsigned long long)bad);
	return !bad;
}

/*
 * On an image: the log first forgets the extents (durably), then
 * everything is freed and committed, so that the log never names a freed
 * extent and the image is left as the iteration found it.
 */
static bool mb_stress_release(struct mb_stress_shared *sh)
{
	if (mb_stress_log_truncate(sh))
		return false;
	bool ok = mb_stress_free_all(sh);

	if (sh->persistent && mb_stress_commit(sh))
		ok = false; /* reported with the iteration's commit errors */
	return ok;
}

static uint64_t mb_stress_held(const struct mb_stress_shared *sh)
{
	uint64_t held = 0;

	for (uint32_t i = 0; i < sh->nthreads; i++)
		held += sh->th[i].held;
	return held;
}

bool mb_stress_verify(struct mb_stress_shared *sh, struct mb_stress_result *r)
{
	bool bad = false;
	uint64_t dup = mb_stress_overlaps(sh, &bad);
	uint64_t seen = atomic_load_explicit(&sh->double_allocs, memory_order_relaxed);

	r->double_allocs = dup > seen ? dup : seen;
	if (r->double_allocs)
		mb_cli_err("stress", "iteration %llu: %llu block(s) allocated twice",
			   (unsigned long long)sh->iter, (unsigned long long)r->double_allocs);
	bool ok = mb_stress_check(sh, "after the run", false) && !bad;

	for (uint32_t i = 0; i < sh->nthreads; i++) {
		mb_file_close(sh->th[i].file);
		sh->th[i].file = NULL;
	}
	mb_discard_all(sh->vol);
	/* with blocks counted twice the expected counts below mean nothing */
	if (r->double_allocs || bad)
		return false;
	uint64_t held = mb_stress_held(sh);

	if (sh->o->mode == MB_STRESS_DELALLOC) { /* every reservation placed, exactly */
		struct mb_statfs st;

		mb_statfs(sh->vol, &st);
		if (st.reserved || st.avail != sh->capacity - held) {
			mb_cli_err("stress", "iteration %llu: after writeback %llu reserved, "
				   "%llu reservable, expected 0 and %llu",
				   (unsigned long long)sh->iter, (unsigned long long)st.reserved,
				   (unsigned long long)st.avail,
				   (unsigned long long)(sh->capacity - held));
			ok = false;
		}
	}
	ok &= mb_stress_expect_free(sh, sh->free0 - held, "preallocations discarded");
	ok &= mb_stress_held_allocated(sh);
	ok &= mb_stress_release(sh);
	ok &= mb_stress_expect_free(sh, sh->free0, "after freeing everything");
	return mb_stress_check(sh, "after freeing everything", true) && ok;
}
