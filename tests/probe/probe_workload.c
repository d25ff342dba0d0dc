/* SPDX-License-Identifier: MIT */
/*
 * probe_workload.c - one pass through every code path that fires a USDT
 * probe (src/probe.h), against the shared library, for t-usdt.sh to trace:
 * an inode PA created, hit and discarded; a request without a file (the
 * regular path, traced); a group PA created and hit; a free; a trim;
 * every PA discarded.  Prints the blocks mb_alloc returned,
 * which the test compares with the sum of ext4_allocate_blocks' len.
 */
#include <mballoc.h>
#include <stdio.h>

#define MB_WL_INO 4242 /* the test filters ext4_request_blocks on it */

static uint64_t mb_wl_total;

static int mb_wl_alloc(struct mb_volume *vol, struct mb_file *f, uint64_t logical, uint32_t len,
		       struct mb_extent *ex)
{
	struct mb_request rq = {.file = f, .logical = logical, .goal = MB_GOAL_NONE, .len = len};
	int err = mb_alloc(vol, &rq, ex);

	if (err)
		fprintf(stderr, "mb_alloc(%llu, %u): %d\n", (unsigned long long)logical, len, err);
	else
		mb_wl_total += ex->len;
	return err;
}

static int mb_wl_discard(uint64_t start, uint64_t len, void *arg)
{
	return 0;
}

int main(void)
{
	struct mb_geometry geo = {.block_size = 4096, .blocks_count = 4 * 32768};
	struct mb_volume *vol;
	struct mb_file *big, *s1, *s2;
	struct mb_extent ex;
	int err;

	if (mb_volume_create(&geo, &vol))
		return 1;
	mb_file_open(vol, MB_WL_INO, &big);
	mb_file_open(vol, 7, &s1);
	mb_file_open(vol, 8, &s2);
	mb_file_set_size(big, 4096); /* a big file, open: an inode PA */
	err = mb_wl_alloc(vol, big, 0, 8, &ex) || mb_wl_alloc(vol, big, 8, 8, &ex);
	/* 3 blocks: no power of two, so no fast path would be tried */
	err = err || mb_wl_alloc(vol, NULL, 0, 3, &ex);
	mb_file_set_size(s1, 2); /* two small files: the locality group's PA */
	mb_file_set_size(s2, 2);
	err = err || mb_wl_alloc(vol, s1, 0, 2, &ex) || mb_wl_alloc(vol, s2, 0, 2, &ex);
	err = err || mb_free(vol, ex.start, ex.len);
	err = err || mb_file_discard(big) <= 0;      /* releases the inode PA */
	err = err || mb_trim(vol, 0, geo.blocks_count, 64, mb_wl_discard, NULL) <= 0;
	err = err || mb_discard_all(vol) <= 0;       /* releases the group PA */
	mb_file_close(s2);
	mb_file_close(s1);
	mb_file_close(big);
	mb_volume_destroy(vol);
	printf("allocated %llu\n", (unsigned long long)mb_wl_total);
	return err ? 1 : 0;
}
