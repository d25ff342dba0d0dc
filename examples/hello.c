/* SPDX-License-Identifier: MIT */
/* hello.c - the README's example: one file, one allocation, one free. */
#include <mballoc.h>
#include <stdio.h>

int main(void)
{
	struct mb_geometry geo = { .block_size = 4096, .blocks_count = 1 << 20 };
	struct mb_volume *vol;
	struct mb_file *f;
	struct mb_extent ex;

	if (mb_volume_create(&geo, &vol)) /* 4 GiB, in memory */
		return 1;
	mb_file_open(vol, /*ino*/ 42, &f);
	struct mb_request rq = { .file = f, .logical = 0, .goal = MB_GOAL_NONE, .len = 16 };
	int err = mb_alloc(vol, &rq, &ex); /* 0 or -errno, e.g. -ENOSPC */
	if (!err) {
		printf("%u blocks at %llu\n", ex.len, (unsigned long long)ex.start);
		err = mb_free(vol, ex.start, ex.len);
	}
	mb_file_close(f);
	mb_volume_destroy(vol);
	return err ? 1 : 0;
}
