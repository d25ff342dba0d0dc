/* SPDX-License-Identifier: MIT */
/*
 * fuzz_open.c - libFuzzer target: the input is a volume image (mutated with
 * its checksums recomputed, see fuzz_mutator.c).  It is opened read-only,
 * then read-write, on the memory backend.  A bug is: any crash or sanitizer
 * report; a failed open, or a read-only open, that changed a byte of the
 * image; mb_check problems on a volume that opened with readable bitmaps;
 * a volume that opened and committed but does not reopen.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb_test_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MB_FUZZ_MAX_IMAGE (8u << 20)

static void fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz_open: %s\n", why);
	abort();
}

static void fuzz_work(struct mb_volume *vol)
{
	struct mb_request rq = { .goal = MB_GOAL_NONE, .len = 8, .flags = MB_HINT_NOPREALLOC };
	struct mb_extent ex;

	if (mb_alloc(vol, &rq, &ex) == 0)
		mb_free(vol, ex.start, ex.len);
	rq.len = 3;
	mb_alloc(vol, &rq, &ex);
}

/* A read-only open never writes; what it opens must be consistent. */
static void fuzz_read_only(const uint8_t *data, size_t size)
{
	static const struct mb_open_opts ro = { .read_only = 1 };
	struct mb_dev *dev;
	struct mb_volume *vol;

	if (mb_dev_open_memory(data, size, false, &dev))
		return;
	if (mb_volume_open_dev(dev, &ro, &vol) == 0) {
		if (!mb_volume_verify(vol, NULL, 0) && mb_check(vol, NULL, 0))
			fuzz_fail("read-only open: mb_check found problems");
		if (memcmp(mb_dev_memory_data(dev), data, size))
			fuzz_fail("read-only open wrote to the image");
		mb_volume_destroy(vol);
		return;
	}
	if (memcmp(mb_dev_memory_data(dev), data, size))
		fuzz_fail("failed read-only open wrote to the image");
	mb_dev_close(dev);
}

/* What a committed volume left on disk must open again. */
static void fuzz_reopen(const uint8_t *img, size_t size)
{
	static const struct mb_open_opts o = { .commit_interval_s = 0 };
	struct mb_dev *dev;
	struct mb_volume *vol;

	if (mb_dev_open_memory(img, size, false, &dev))
		return;
	int err = mb_volume_open_dev(dev, &o, &vol);

	if (err) {
		fprintf(stderr, "fuzz_open: reopen: %d\n", err);
		fuzz_fail("a committed volume does not reopen");
	}
	mb_volume_close(vol);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mb_open_opts o = { .commit_interval_s = 0 };
	struct mb_dev *dev;
	struct mb_volume *vol;

	if (size > MB_FUZZ_MAX_IMAGE)
		return 0;
	fuzz_read_only(data, size);
	if (mb_dev_open_memory(data, size, false, &dev))
		return 0;
	if (mb_volume_open_dev(dev, &o, &vol)) {
		if (memcmp(mb_dev_memory_data(dev), data, size))
			fuzz_fail("failed open wrote to the image");
		mb_dev_close(dev);
		return 0;
	}
	/* damaged bitmaps are reported, not fatal; a clean one must stay clean */
	int problems = mb_volume_verify(vol, NULL, 0);

	fuzz_work(vol);
	if (!problems && mb_check(vol, NULL, 0))
		fuzz_fail("mb_check found problems after work");
	if (mb_commit(vol) == 0) {
		uint8_t *img = malloc(size ? size : 1);

		if (img) {
			memcpy(img, mb_dev_memory_data(dev), size);
			fuzz_reopen(img, size);
			free(img);
		}
	}
	mb_volume_close(vol);
	return 0;
}
