/* SPDX-License-Identifier: MIT */
/*
 * check.c - mb_check(): full verification of a volume.  Per group, under
 * its lock: the in-core bitmap equals on-disk | pending frees | PA space,
 * the buddy and every counter equal a rebuild, the descriptor count equals
 * the on-disk bitmap, every PA's free count matches its blocks, PAs do not
 * overlap, and the group sits in the right optimized-scan sets.  Then the
 * volume total and each file's PA list (sorted, disjoint).  Also the
 * queries built on the same bitmaps: mb_allocated_blocks() and
 * mb_group_free_extents().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb_int.h"

struct mb_report {
	char *buf;
	size_t len, used;
	int problems;
};

__attribute__((format(printf, 2, 3))) static void mb_report(struct mb_report *r,
							  const char *fmt, ...)
{
	va_list ap;

	r->problems++;
	if (!r->buf || r->used + 1 >= r->len)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(r->buf + r->used, r->len - r->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->used += (size_t)n < r->len - r->used ? (size_t)n : r->len - r->used - 1;
}

struct mb_check_bufs {
	uint64_t *expect;  /* expected in-core bitmap */
	uint64_t *disk;    /* a shared group's on-disk map (gcache.c) */
	uint64_t *paspace; /* PA ranges, to catch overlaps */
	uint64_t *buddy;   /* rebuilt buddy */
};

/* Adds [off, off + len) to the PA space map; reports overlaps. */
static void mb_check_pa_range(struct mb_report *r, mb_grp_t g, struct mb_check_bufs *b,
			      uint32_t off, uint32_t len)
{
	if (!mb_range_all_clear(b->paspace, off, len))
		mb_report(r, "group %u: preallocations overlap at %u+%u\n", g, off, len);
	mb_set_bits(b->paspace, off, len);
	mb_set_bits(b->expect, off, len);
}

static void mb_check_pas_locked(struct mb_volume *vol, struct mb_group *grp, mb_grp_t g,
				const uint64_t *disk, struct mb_check_bufs *b, struct mb_report *r)
{
	const uint64_t *pending = mb_group_pending_map(vol, grp);
	struct mb_list *pos;

	mb_list_for_each(pos, &grp->bb_prealloc_list)
	{
		struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_group_list);
		uint32_t off = mb_block_offset(vol, pa->pa_pstart);

		if (pa->pa_group != g || mb_block_group(vol, pa->pa_pstart) != g ||
		    off + pa->pa_len > grp->bb_len) {
			mb_report(r, "group %u: PA at %llu+%u lies outside its group\n", g,
				  (unsigned long long)pa->pa_pstart, pa->pa_len);
			continue;
		}
		uint32_t pfree = pa->pa_free;
		bool deleted = pa->pa_deleted;
		if (pa->pa_type == MB_GROUP_PA) {
			if (pfree != pa->pa_len)
				mb_report(r, "group %u: group PA at %u: free %u != len %u\n", g, off,
					  pfree, pa->pa_len);
			if (!mb_range_all_clear(disk, off, pfree))
				mb_report(r, "group %u: group PA at %u+%u is used on disk\n", g, off,
					  pfree);
			mb_check_pa_range(r, g, b, off, pfree);
			continue;
		}
		uint32_t unused = 0;
		for (uint32_t i = off; i < off + pa->pa_len; i++)
			unused += !mb_test_bit(disk, i) && !mb_test_bit(pending, i);
		if (!deleted && unused != pfree)
			mb_report(r, "group %u: inode PA at %u+%u: pa_free %u but %u unused blocks\n",
				  g, off, pa->pa_len, pfree, unused);
		mb_check_pa_range(r, g, b, off, pa->pa_len);
	}
}

static void mb_check_counters(struct mb_volume *vol, struct mb_group *grp, mb_grp_t g,
			      const uint64_t *disk, struct mb_check_bufs *b, struct mb_report *r)
{
	struct mb_buddy_summary sum;

	mb_buddy_build_runs(vol, grp->bb_bitmap, b->buddy, &sum);
	if (memcmp(b->buddy, grp->bb_buddy, vol->buddy_words * sizeof(uint64_t)))
		mb_report(r, "group %u: buddy differs from a rebuild\n", g);
	if (!mb_fws_ok(vol, grp->bb_bitmap, mb_fws(vol, grp)))
		mb_report(r, "group %u: free-word summary misses a free word\n", g);
	if (memcmp(sum.counters, grp->bb_counters, sizeof(sum.counters)))
		mb_report(r, "group %u: bb_counters differ from a rebuild\n", g);
	if (sum.free != grp->bb_free || sum.frags != grp->bb_fragments ||
	    sum.first != grp->bb_first_free)
		mb_report(r, "group %u: free/frags/first %u/%u/%u, rebuild says %u/%u/%u\n", g,
			  grp->bb_free, grp->bb_fragments, grp->bb_first_free, sum.free, sum.frags,
			  sum.first);
	uint32_t disk_free = mb_count_zero_bits(disk, 0, vol->bpg);
	if (disk_free != grp->bg_free)
		mb_report(r, "group %u: descriptor free %u, on-disk bitmap %u\n", g, grp->bg_free,
			  disk_free);
	uint32_t pend = vol->bitmap_words * 64 - mb_count_zero_bits(mb_group_pending_map(vol, grp),
								       0, vol->bitmap_words * 64);
	if (pend != grp->bb_pending_count)
		mb_report(r, "group %u: %u pending frees, count says %u\n", g, pend,
			  grp->bb_pending_count);
}

/* The group is in exactly the scan sets its counters name. */
static void mb_check_sets(struct mb_volume *vol, struct mb_group *grp, mb_grp_t g,
			  struct mb_report *r)
{
	bool corrupt = mb_group_corrupt(grp);
	int lo = corrupt ? -1 : mb_group_largest_order(vol, grp->bb_counters);
	int ao = corrupt ? -1 : mb_group_avg_order(vol, grp->bb_free, grp->bb_fragments);
	int fo = corrupt ? -1 : mb_group_free_order(vol, grp->bb_free, grp->bb_fragments);

	if (fo != grp->bb_free_order)
		mb_report(r, "group %u: cached free order %d, counters say %d\n", g,
			  grp->bb_free_order, fo);
	if (lo != grp->bb_largest_free_order || ao != grp->bb_avg_fragment_size_order)
		mb_report(r, "group %u: cached orders %d/%d, counters say %d/%d\n", g,
			  grp->bb_largest_free_order, grp->bb_avg_fragment_size_order, lo, ao);
	int as = mb_group_avg_sub(grp->bb_free, grp->bb_fragments, ao);

	if (as != grp->bb_avg_sub)
		mb_report(r, "group %u: cached avg sub %d, counters say %d\n", g, grp->bb_avg_sub, as);
	for (int j = 1; j < MB_AVG_SUBS; j++)
		if (((atomic_load(&mb_avg_hi_map(vol, j)[g >> 6]) >> (g & 63)) & 1) != (j <= as))
			mb_report(r, "group %u: wrong avg sub bitmap membership at %d\n", g, j);
	for (int k = 0; k <= vol->max_order; k++) {
		if (mb_gset_test(&vol->largest_set[k], g) != (k == lo))
			mb_report(r, "group %u: wrong largest-order set membership at %d\n", g, k);
		if (mb_gset_test(&vol->avg_set[k], g) != (k == ao))
			mb_report(r, "group %u: wrong avg-fragment set membership at %d\n", g, k);
		if (mb_gset_test(&vol->free_ge[k], g) != (k <= fo) ||
		    mb_gset_test(&vol->largest_ge[k], g) != (k <= lo) ||
		    mb_gset_test(&vol->avg_ge[k], g) != (k <= ao))
			mb_report(r, "group %u: wrong free/largest/avg-or-more set membership at %d\n",
				  g, k);
	}
}

/*
 * Every set's summary levels cover its members (gset.c): a clear summary
 * bit over a member hides it from every search, which mb_check_sets,
 * testing level 0, cannot see.
 */
static void mb_check_summaries(struct mb_volume *vol, struct mb_report *r)
{
	if (!mb_gset_summaries_ok(&vol->setup_set))
		mb_report(r, "volume: setup set summary bit clear over a member\n");
	for (int k = 0; k <= vol->max_order; k++) {
		const struct mb_gset *sets[] = { &vol->largest_set[k], &vol->avg_set[k],
						 &vol->free_ge[k], &vol->largest_ge[k],
						 &vol->avg_ge[k] };
		static const char *const names[] = { "largest", "avg", "free_ge", "largest_ge",
						      "avg_ge" };

		for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
			if (!mb_gset_summaries_ok(sets[i]))
				mb_report(r, "volume: %s set %d: summary bit clear over a member\n",
					  names[i], k);
	}
}

static void mb_check_group(struct mb_volume *vol, mb_grp_t g, struct mb_check_bufs *b,
			   struct mb_report *r, int64_t *disk_free)
{
	struct mb_group *grp = mb_group_at(vol, g);

	mb_lock(&grp->bb_lock);
	if (!mb_group_corrupt(grp))
		*disk_free += grp->bg_free;
	else
		mb_report(r, "group %u: flagged corrupt\n", g);
	if (atomic_load(&grp->bb_state) & MB_GRP_NEED_INIT) {
		if (!mb_list_empty(&grp->bb_prealloc_list) || grp->bb_free != grp->bg_free)
			mb_report(r, "group %u: unloaded but has PAs or free %u != %u\n", g,
				  grp->bb_free, grp->bg_free);
		mb_check_sets(vol, grp, g, r);
		mb_unlock(&grp->bb_lock);
		return;
	}
	int err = mb_group_load_locked(vol, grp); /* rebuilds a dropped buddy */

	if (err) {
		mb_report(r, "group %u: cannot rebuild its buddy: %d\n", g, err);
		mb_unlock(&grp->bb_lock);
		return;
	}
	size_t bytes = vol->bitmap_words * sizeof(uint64_t);
	/* shared with PAs: bb_disk without their tails (so a PA's free count
	   and the descriptor's are checked against the tails' bookkeeping) */
	const uint64_t *disk = mb_gcache_disk_view_locked(vol, grp, b->disk);

	memset(b->paspace, 0, bytes);
	memcpy(b->expect, disk, bytes);
	for (uint32_t w = 0; w < vol->bitmap_words; w++)
		b->expect[w] |= mb_group_pending_map(vol, grp)[w];
	mb_check_pas_locked(vol, grp, g, disk, b, r);
	if (memcmp(b->expect, grp->bb_bitmap, bytes))
		mb_report(r, "group %u: in-core bitmap != on-disk | pending | PAs\n", g);
	mb_check_counters(vol, grp, g, disk, b, r);
	mb_check_sets(vol, grp, g, r);
	mb_unlock(&grp->bb_lock);
}

static void mb_check_files(struct mb_volume *vol, struct mb_report *r)
{
	struct mb_list *fpos;

	mb_lock(&vol->v_lock);
	mb_list_for_each(fpos, &vol->v_files)
	{
		struct mb_file *f = MB_CONTAINER_OF(fpos, struct mb_file, f_link);
		uint64_t end = 0;
		uint32_t n = 0;

		mb_lock(&f->f_data_sem); /* the file's PA tree is its own */
		for (struct mb_pa *pa = mb_file_pa_from(f, 0); pa; pa = mb_file_pa_next(pa)) {
			if (pa->pa_lstart < end)
				mb_report(r, "file %llu: PAs overlap or are unsorted at logical %llu\n",
					  (unsigned long long)f->f_ino,
					  (unsigned long long)pa->pa_lstart);
			end = pa->pa_lstart + pa->pa_len;
			n++;
		}
		/* a count below the tree's would keep the PA fast path away */
		if (n != atomic_load_explicit(&f->f_npa, memory_order_relaxed))
			mb_report(r, "file %llu: %u PAs in its tree, f_npa says %u\n",
				  (unsigned long long)f->f_ino, n,
				  atomic_load_explicit(&f->f_npa, memory_order_relaxed));
		mb_unlock(&f->f_data_sem);
	}
	mb_unlock(&vol->v_lock);
}

int mb_check(struct mb_volume *vol, char *buf, size_t buflen)
{
	struct mb_report r = { buf, buflen, 0, 0 };
	size_t bytes = vol->bitmap_words * sizeof(uint64_t);
	struct mb_check_bufs b = { malloc(bytes), malloc(bytes), malloc(bytes),
				   malloc(vol->buddy_words * sizeof(uint64_t)) };
	int64_t disk_free = 0;

	if (buf && buflen)
		buf[0] = 0;
	if (!b.expect || !b.disk || !b.paspace || !b.buddy) {
		free(b.expect);
		free(b.disk);
		free(b.paspace);
		free(b.buddy);
		return -ENOMEM;
	}
	/* a group never set up is pristine: its free count is its geometry's */
	disk_free = (int64_t)(vol->ngroups - 1) * mb_group_pristine_free(vol, 0) +
		    mb_group_pristine_free(vol, vol->ngroups - 1);
	for (mb_grp_t g = mb_group_next_setup(vol, 0); g != UINT32_MAX;
	     g = mb_group_next_setup(vol, g + 1)) {
		disk_free -= mb_group_pristine_free(vol, g);
		mb_check_group(vol, g, &b, &r, &disk_free);
	}
	mb_check_summaries(vol, &r);
	if (disk_free != mb_free_counter_sum(vol))
		mb_report(&r, "volume: free counter %lld, groups add up to %lld\n",
			  (long long)mb_free_counter_sum(vol), (long long)disk_free);
	mb_check_files(vol, &r);
	free(b.expect);
	free(b.disk);
	free(b.paspace);
	free(b.buddy);
	return r.problems;
}

int64_t mb_allocated_blocks(struct mb_volume *vol, uint64_t start, uint64_t len)
{
	int64_t used = 0;

	if (!len || start < vol->geo.first_data_block || start >= vol->geo.blocks_count ||
	    len > vol->geo.blocks_count - start)
		return -EINVAL;
	while (len) {
		struct mb_group *grp = mb_group_at(vol, mb_block_group(vol, start));
		mb_grpblk_t off = mb_block_offset(vol, start);
		uint32_t n = (uint32_t)(len < vol->bpg - off ? len : vol->bpg - off);
		int err = mb_group_lock_usable(vol, grp);

		if (!err) /* a shared group's PA tails are free on disk (gcache.c) */
			used += n - mb_count_zero_bits(grp->bb_disk, off, n) -
				mb_gcache_tail_blocks_locked(vol, grp, off, n);
		mb_unlock(&grp->bb_lock);
		if (err)
			return err;
		start += n;
		len -= n;
	}
	return used;
}

int mb_group_free_extents(struct mb_volume *vol, uint32_t g, unsigned flags,
			  int (*fn)(uint64_t start, uint32_t len, void *arg), void *arg)
{
	if (g >= vol->ngroups || (flags & ~(unsigned)MB_FREE_ONDISK) || !fn)
		return -EINVAL;
	struct mb_group *grp = mb_group_at(vol, g);
	mb_fsblk_t base = mb_group_first_block(vol, g);
	int ret;

	ret = mb_group_lock_usable(vol, grp);
	uint64_t *scratch = NULL;
	const uint64_t *map = grp->bb_bitmap;

	if (!ret && (flags & MB_FREE_ONDISK))
		map = grp->bb_disk;
	if (!ret && (flags & MB_FREE_ONDISK) && mb_gcache_pa_tails_locked(grp)) {
		/* shared with PAs: a view without their tails (gcache.c) */
		scratch = malloc(vol->bitmap_words * sizeof(uint64_t));
		ret = scratch ? 0 : -ENOMEM;
		map = scratch ? mb_gcache_disk_view_locked(vol, grp, scratch) : map;
	}

	for (uint32_t i = 0; !ret && (i = mb_find_next_zero_bit(map, vol->bpg, i)) < vol->bpg;) {
		uint32_t end = mb_find_next_bit(map, vol->bpg, i);

		ret = fn(base + i, end - i, arg);
		i = end;
	}
	mb_unlock(&grp->bb_lock);
	free(scratch);
	return ret;
}
