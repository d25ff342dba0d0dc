/* SPDX-License-Identifier: MIT */
/*
 * fuzz_open.c - libFuzzer target: the input is a volume image.  Open it on
 * the memory backend (replaying its journal), verify it, and when it opens,
 * allocate, free and commit a little.  Any crash, sanitizer report or
 * mb_check problem on a volume that opened cleanly is a bug.
 */
#include <stdint.h>
#include <stdlib.h>

#include "mb_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mb_open_opts o = { .commit_interval_s = 0 };
	struct mb_dev *dev;
	struct mb_volume *vol;

	if (size > (8u << 20) || mb_dev_open_memory(data, size, false, &dev))
		return 0;
	if (mb_volume_open_dev(dev, &o, &vol)) {
		mb_dev_close(dev);
		return 0;
	}
	/* damaged bitmaps are reported, not fatal; a clean one must stay clean */
	int problems = mb_volume_verify(vol, NULL, 0);
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 8, .flags = MB_HINT_NOPREALLOC };
	struct mb_extent ex;

	if (mb_alloc(vol, &rq, &ex) == 0)
		mb_free(vol, ex.start, ex.len);
	mb_commit(vol);
	if (!problems && mb_check(vol, NULL, 0))
		abort();
	mb_volume_close(vol);
	return 0;
}
