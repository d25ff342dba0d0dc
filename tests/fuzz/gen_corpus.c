/* SPDX-License-Identifier: MIT */
/*
 * gen_corpus.c - writes the seed corpus: tiny images (64 KiB: 1 KiB blocks,
 * two groups of 32) in the states open must handle: fresh, with a live
 * journal transaction, checkpointed and closed, and a torn journal.
 * Usage: gen_corpus DIR (the files are committed; rerun after format changes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mb_test_int.h"

static const struct mb_geometry geo = { .block_size = 1024, .blocks_per_group = 32,
					.blocks_count = 64, .reserved_per_group = 12 };
static const struct mb_open_opts o = { .commit_interval_s = 0 };

static void save(const char *dir, const char *name, struct mb_dev *dev)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f) {
		fwrite(mb_dev_memory_data(dev), 1, dev->size, f);
		fclose(f);
	}
}

static void work(struct mb_volume *vol)
{
	struct mb_request rq = { .goal = 40, .len = 5, .flags = MB_HINT_NOPREALLOC };
	struct mb_extent ex;

	mb_alloc(vol, &rq, &ex);
	rq.goal = 14;
	mb_alloc(vol, &rq, &ex);
	mb_free(vol, ex.start, 2);
}

int main(int argc, char **argv)
{
	struct mb_dev *dev, *img;
	struct mb_volume *vol;

	if (argc != 2)
		return 2;
	mb_dev_crash_open(NULL, 64 * 1024, &dev);
	mb_volume_format_dev(dev, &geo, NULL);
	save(argv[1], "fresh.vol", dev);
	mb_volume_open_dev(dev, &o, &vol);
	work(vol);
	mb_commit(vol);
	save(argv[1], "journal-live.vol", dev);
	work(vol);
	mb_dev_crash_arm(dev, 3); /* header, sb image, then the power cut */
	mb_commit(vol);
	mb_dev_crash_image(dev, 7, NULL, &img);
	save(argv[1], "journal-torn.vol", img);
	mb_dev_close(img);
	mb_volume_destroy(vol);

	/* closed cleanly: through a temporary file, since close frees the device */
	char tmp[] = "/tmp/mb_corpus_XXXXXX";
	int fd = mkstemp(tmp);

	close(fd);
	mb_volume_format(tmp, &geo, NULL);
	mb_volume_open(tmp, &o, &vol);
	work(vol);
	mb_volume_close(vol);
	mb_dev_open_file(tmp, true, 0, &dev);
	uint8_t buf[64 * 1024];
	mb_dev_read(dev, 0, buf, sizeof(buf));
	mb_dev_close(dev);
	mb_dev_open_memory(buf, sizeof(buf), false, &dev);
	save(argv[1], "closed.vol", dev);
	mb_dev_close(dev);
	unlink(tmp);
	return 0;
}
