/* SPDX-License-Identifier: MIT */
/*
 * peer_ext2fs.c - e2fsprogs' allocator (libext2fs) as a peer: an image
 * made by mkfs.ext4 in /tmp at the row's block size, opened in memory and
 * never written back.  Requests go to ext2fs_new_range (a run of the full
 * length first, else the first free run after the goal) or, for single
 * blocks, ext2fs_new_block2; ext2fs_block_alloc_stats_range marks them.
 *
 * ext2fs_new_range can loop forever when no run is long enough and the
 * volume's last block is in use (its "wrap to the first block" path does
 * not set its loop guard).  We keep the last block free and never hand it
 * out, so every scan finds a free block past any start and the guard is
 * reached.  Built only when CMake finds libext2fs (MB_HAVE_EXT2FS).
 *
 * Thread-safety: none; libext2fs is single-threaded.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mb_bench.h"

#ifdef MB_HAVE_EXT2FS
#include <ext2fs/ext2fs.h>

struct mb_e2 {
	ext2_filsys fs;
	uint64_t blocks; /* the row's geometry */
	blk64_t first, last;
};

/* Cached images, one per geometry. */
static struct {
	char path[96];
	uint64_t blocks;
	uint32_t bs;
} mb_e2_imgs[8];
static int mb_e2_nimgs;

/*
 * A run killed by a signal (^C, or SIGPIPE under `| head`) must not leave
 * its images in /tmp: unlink them (async-signal-safe), then die as asked.
 */
static void mb_e2_on_signal(int sig)
{
	for (int i = 0; i < mb_e2_nimgs; i++)
		unlink(mb_e2_imgs[i].path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void mb_e2_catch_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (signal(sigs[i], SIG_IGN) != SIG_IGN) /* keep what the caller ignores */
			signal(sigs[i], mb_e2_on_signal);
}

static const char *mb_e2_image(const struct mb_bench_geo *g, char *why, size_t wlen)
{
	for (int i = 0; i < mb_e2_nimgs; i++)
		if (mb_e2_imgs[i].blocks == g->blocks && mb_e2_imgs[i].bs == g->block_size)
			return mb_e2_imgs[i].path;
	if (mb_e2_nimgs == 8) {
		snprintf(why, wlen, "skipped: too many image geometries");
		return NULL;
	}
	char *p = mb_e2_imgs[mb_e2_nimgs].path;
	char cmd[400];

	snprintf(p, sizeof(mb_e2_imgs[0].path), "/tmp/mballoc-bench-%d-%d.img", (int)getpid(),
		 mb_e2_nimgs);
	/* no journal or resize inode, few inodes: the space is data space */
	snprintf(cmd, sizeof(cmd),
		 "mkfs.ext4 -F -q -b %u -g %u -N 256 -m 0 -O ^has_journal,^resize_inode "
		 "-E nodiscard,lazy_itable_init=1 %s %llu >/dev/null 2>&1",
		 g->block_size, g->blocks_per_group, p, (unsigned long long)g->blocks);
	if (system(cmd) != 0) {
		unlink(p);
		snprintf(why, wlen, "skipped: mkfs.ext4 failed (is e2fsprogs installed?)");
		return NULL;
	}
	if (!mb_e2_nimgs)
		mb_e2_catch_signals();
	mb_e2_imgs[mb_e2_nimgs].blocks = g->blocks;
	mb_e2_imgs[mb_e2_nimgs].bs = g->block_size;
	return mb_e2_imgs[mb_e2_nimgs++].path;
}

void mb_bench_ext2fs_cleanup(void)
{
	for (int i = 0; i < mb_e2_nimgs; i++)
		unlink(mb_e2_imgs[i].path);
	mb_e2_nimgs = 0;
}

bool mb_bench_ext2fs_available(void)
{
	return true;
}

static int mb_e2_err(errcode_t e)
{
	return e == EXT2_ET_BLOCK_ALLOC_FAIL ? -ENOSPC : -EIO;
}

/* The last block is ours to keep free (see the header comment). */
static bool mb_e2_trim(struct mb_e2 *e, blk64_t s, blk64_t *l)
{
	if (s >= e->last)
		return false;
	if (s + *l > e->last)
		*l = e->last - s;
	return true;
}

static int mb_e2_alloc(void *ctx, const struct mb_bench_req *r, uint64_t *start, uint32_t *len)
{
	struct mb_e2 *e = ctx;
	blk64_t goal = r->goal < e->last ? r->goal : e->first, s = 0, l = 1;
	errcode_t err;

	if (r->len == 1) {
		err = ext2fs_new_block2(e->fs, goal, NULL, &s);
		if (!err && s == e->last)
			err = ext2fs_new_block2(e->fs, e->first, NULL, &s);
		if (!err && s == e->last)
			return -ENOSPC;
		if (err)
			return mb_e2_err(err);
		ext2fs_block_alloc_stats2(e->fs, s, +1);
		*start = s;
		*len = 1;
		return 0;
	}
	err = ext2fs_new_range(e->fs, EXT2_NEWRANGE_MIN_LENGTH, goal, r->len, NULL, &s, &l);
	if (!err && (!mb_e2_trim(e, s, &l) || l < r->len))
		err = EXT2_ET_BLOCK_ALLOC_FAIL;
	if (err) /* no run that long: the first free run after the goal */
		err = ext2fs_new_range(e->fs, 0, goal, r->len, NULL, &s, &l);
	if (!err && !mb_e2_trim(e, s, &l))
		err = ext2fs_new_range(e->fs, 0, e->first, r->len, NULL, &s, &l);
	if (!err && !mb_e2_trim(e, s, &l))
		return -ENOSPC;
	if (err)
		return mb_e2_err(err);
	if (l > r->len)
		l = r->len;
	ext2fs_block_alloc_stats_range(e->fs, s, (blk_t)l, +1);
	*start = s;
	*len = (uint32_t)l;
	return 0;
}

static int mb_e2_free(void *ctx, uint64_t start, uint32_t len)
{
	struct mb_e2 *e = ctx;

	if (len == 1)
		ext2fs_block_alloc_stats2(e->fs, start, -1);
	else
		ext2fs_block_alloc_stats_range(e->fs, start, len, -1);
	return 0;
}

static void mb_e2_set(uint64_t *map, uint64_t s, uint64_t n)
{
	for (uint64_t b = s; b < s + n; b++)
		map[b / 64] |= 1ULL << (b % 64);
}

/* Metadata = every block the fresh image has in use, plus our last block. */
static void mb_e2_metadata(void *ctx, uint64_t *map)
{
	struct mb_e2 *e = ctx;
	blk64_t b = e->first, s, z;

	mb_e2_set(map, 0, e->first);
	while (b <= e->last &&
	       !ext2fs_find_first_set_block_bitmap2(e->fs->block_map, b, e->last, &s)) {
		if (ext2fs_find_first_zero_block_bitmap2(e->fs->block_map, s, e->last, &z))
			z = e->last + 1;
		mb_e2_set(map, s, z - s);
		b = z;
	}
	mb_e2_set(map, e->last, e->blocks - e->last);
}

static void mb_e2_destroy(void *ctx)
{
	struct mb_e2 *e = ctx;

	ext2fs_free(e->fs); /* drops every change: the image stays pristine */
	free(e);
}

int mb_bench_ext2fs_create(const struct mb_bench_geo *g, struct mb_bench_alloc *a)
{
	struct mb_e2 *e = calloc(1, sizeof(*e));
	const char *img;

	memset(a, 0, sizeof(*a));
	a->name = "libext2fs";
	if (!e || !(img = mb_e2_image(g, a->note, sizeof(a->note)))) {
		free(e);
		return -ENOENT;
	}
	errcode_t err = ext2fs_open(img, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &e->fs);

	if (!err)
		err = ext2fs_read_block_bitmap(e->fs);
	if (err) {
		snprintf(a->note, sizeof(a->note), "skipped: cannot open %s: %s", img,
			 error_message(err));
		if (e->fs)
			ext2fs_free(e->fs);
		free(e);
		return -EIO;
	}
	e->blocks = g->blocks;
	e->first = e->fs->super->s_first_data_block;
	e->last = ext2fs_blocks_count(e->fs->super) - 1;
	if (ext2fs_test_block_bitmap2(e->fs->block_map, e->last))
		ext2fs_block_alloc_stats2(e->fs, e->last, -1); /* never happens on mkfs output */
	a->ctx = e;
	a->alloc = mb_e2_alloc;
	a->free = mb_e2_free;
	a->metadata = mb_e2_metadata;
	a->destroy = mb_e2_destroy;
	snprintf(a->note, sizeof(a->note), "last block kept free (new_range loop guard)");
	return 0;
}

#else /* !MB_HAVE_EXT2FS */

int mb_bench_ext2fs_create(const struct mb_bench_geo *g, struct mb_bench_alloc *a)
{
	(void)g;
	memset(a, 0, sizeof(*a));
	a->name = "libext2fs";
	snprintf(a->note, sizeof(a->note), "skipped: libext2fs not found");
	return -ENOENT;
}

void mb_bench_ext2fs_cleanup(void)
{
}

bool mb_bench_ext2fs_available(void)
{
	return false;
}
#endif
