/* SPDX-License-Identifier: MIT */
/*
 * test_badinput.c - damaged and hostile images: each gives its documented
 * error (-EINVAL not ours, -EUCLEAN damaged, -EIO truncated, -EROFS
 * read-only), never a crash, and a failed open leaves the image unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

#include "harness.h"
#include "image_reseal.h"
#include "mb_test_int.h"

static const struct mb_geometry geo = {
	.block_size = 1024, .blocks_per_group = 256, .blocks_count = 8 * 256,
	.reserved_per_group = 16,
};
static const struct mb_open_opts no_thread = { .commit_interval_s = 0 };
#define IMG_SIZE (8 * 256 * 1024)

/* A formatted image with one committed transaction left in the journal. */
static uint8_t *good_image(void)
{
	struct mb_dev *dev;
	struct mb_volume *vol;
	struct mb_extent ex;
	struct mb_request rq = { .goal = 600, .len = 20, .flags = MB_HINT_NOPREALLOC };
	uint8_t *img = malloc(IMG_SIZE);

	if (mb_dev_open_memory(NULL, IMG_SIZE, false, &dev) || mb_volume_format_dev(dev, &geo, NULL) ||
	    mb_volume_open_dev(dev, &no_thread, &vol))
		abort();
	if (mb_alloc(vol, &rq, &ex) || mb_commit(vol))
		abort();
	memcpy(img, mb_dev_memory_data(dev), IMG_SIZE); /* unclean: journal is live */
	mb_volume_destroy(vol);
	return img;
}

/* Opens a copy of img (size bytes, ro device or not); checks nothing changed. */
static int try_open(const uint8_t *img, size_t size, bool ro_dev, bool ro_open)
{
	struct mb_dev *dev;
	struct mb_volume *vol;
	struct mb_open_opts o = { .read_only = ro_open };

	if (mb_dev_open_memory(img, size, ro_dev, &dev))
		abort();
	int err = mb_volume_open_dev(dev, &o, &vol);

	if (!err) {
		mb_volume_destroy(vol);
		return 0;
	}
	if (memcmp(mb_dev_memory_data(dev), img, size)) {
		mb_dev_close(dev);
		return -9999; /* a failed open wrote something */
	}
	mb_dev_close(dev);
	return err;
}

static void reseal_sb(uint8_t *img)
{
	mb_put_le32(img + MB_SB_SIZE - 4, mb_crc32c_field(0, img, MB_SB_SIZE, MB_SB_SIZE - 4));
}

TEST(good_image_opens)
{
	uint8_t *img = good_image();

	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), 0);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, true, true), 0);
	free(img);
}

TEST(wrong_magic)
{
	uint8_t *img = good_image();

	img[0] ^= 0xff;
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EINVAL);
	memset(img, 0, IMG_SIZE); /* all zeroes: not a volume */
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EINVAL);
	free(img);
}

TEST(bad_superblock_checksum)
{
	uint8_t *img = good_image();

	img[40] ^= 1; /* blocks_count */
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EUCLEAN);
	free(img);
}

TEST(unsupported_version_and_features)
{
	uint8_t *img = good_image();

	mb_put_le32(img + 4, 2);
	reseal_sb(img);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EINVAL);
	mb_put_le32(img + 4, 1);
	mb_put_le32(img + 12, 0x80); /* unknown incompatible feature */
	reseal_sb(img);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EINVAL);
	mb_put_le32(img + 12, 0);
	mb_put_le32(img + 16, 0x1); /* unknown ro-compatible feature */
	reseal_sb(img);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EROFS);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, true), 0);
	free(img);
}

TEST(impossible_geometry)
{
	static const struct { int off, width; uint64_t v; } cases[] = {
		{ 20, 4, 3000 },      /* block size not a power of two */
		{ 20, 4, 512 },       /* block size too small */
		{ 24, 4, 0 },         /* blocks per group 0 */
		{ 24, 4, 100 },       /* not a multiple of 8 */
		{ 24, 4, 1u << 20 },  /* more than one bitmap block */
		{ 32, 4, 256 },       /* every block reserved */
		{ 32, 4, 2 },         /* no room for the metadata */
		{ 36, 4, 9 },         /* group count disagrees */
		{ 40, 8, 0 },         /* no blocks */
		{ 40, 8, UINT64_MAX },
		{ 28, 4, 4096 },      /* first data block past the end */
	};
	uint8_t *img = good_image();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *c = malloc(IMG_SIZE);

		memcpy(c, img, IMG_SIZE);
		if (cases[i].width == 4)
			mb_put_le32(c + cases[i].off, (uint32_t)cases[i].v);
		else
			mb_put_le64(c + cases[i].off, cases[i].v);
		reseal_sb(c);
		int err = try_open(c, IMG_SIZE, false, false);
		if (err != -EUCLEAN && err != -EIO)
			fprintf(stderr, "case %zu: %d\n", i, err);
		ASSERT_TRUE(err == -EUCLEAN || err == -EIO);
		free(c);
	}
	free(img);
}

TEST(truncated_file)
{
	uint8_t *img = good_image();

	ASSERT_EQ_INT(try_open(img, IMG_SIZE - 1024, false, false), -EIO);
	ASSERT_EQ_INT(try_open(img, 4096, false, false), -EIO);
	ASSERT_EQ_INT(try_open(img, 100, false, false), -EIO);
	ASSERT_EQ_INT(try_open(img, 0, false, false), -EIO);
	free(img);
}

TEST(journal_outside_volume)
{
	uint8_t *img = good_image();
	uint8_t save[MB_SB_SIZE];

	memcpy(save, img, MB_SB_SIZE);
	mb_put_le64(img + 80, 1ULL << 40); /* journal start */
	reseal_sb(img);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EUCLEAN);
	memcpy(img, save, MB_SB_SIZE);
	mb_put_le32(img + 88, 1u << 30); /* journal length */
	reseal_sb(img);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EUCLEAN);
	memcpy(img, save, MB_SB_SIZE);
	mb_put_le64(img + 64, 200); /* descriptor table moved */
	reseal_sb(img);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EUCLEAN);
	free(img);
}

/* A checksummed transaction whose target is a data block is refused. */
TEST(journal_bad_target)
{
	uint8_t *img = good_image();
	uint64_t js = mb_get_le64(img + 80);
	uint8_t *hdr = img + js * 1024;

	ASSERT_EQ_U64(mb_get_le32(hdr), MB_JOURNAL_MAGIC);
	mb_put_le64(hdr + 24 + 8, 300); /* second target: a data block of group 1 */
	mb_put_le32(hdr + 1020, mb_crc32c_field(0, hdr, 1024, 1020));
	/* the commit block's data checksum now fails: the transaction is ignored */
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), 0);
	free(img);
}

TEST(bad_descriptor)
{
	uint8_t *img = good_image();
	uint64_t js = mb_get_le64(img + 80);

	memset(img + js * 1024, 0, 1024); /* no journal: the home table is read */
	img[1024 + 3 * 32 + 2] ^= 4;     /* group 3's free count */
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EUCLEAN);
	free(img);
}

/* A bad bitmap is found on first use: the group is flagged, not served. */
TEST(bad_bitmap)
{
	uint8_t *img = good_image();
	struct mb_dev *dev;
	struct mb_volume *vol;
	static char report[2048];

	/* group 2 holds the committed extent (block 600): corrupt its bitmap */
	ASSERT_EQ_INT(mb_dev_open_memory(img, IMG_SIZE, false, &dev), 0);
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0); /* replays home */
	uint8_t *raw = (uint8_t *)mb_dev_memory_data(dev);
	raw[(2 * 256) * 1024 + 80] ^= 0x10;
	ASSERT_EQ_INT(mb_free(vol, 600, 1), -EUCLEAN);
	int n = mb_volume_verify(vol, report, sizeof(report));
	ASSERT_TRUE(n >= 1);
	ASSERT_TRUE(strstr(report, "group 2") != NULL);
	struct mb_request rq = { .goal = 700, .len = 4, .flags = MB_HINT_NOPREALLOC };
	struct mb_extent ex;
	ASSERT_EQ_INT(mb_alloc(vol, &rq, &ex), 0);
	ASSERT_TRUE(mb_block_group(vol, ex.start) != 2);
	mb_volume_destroy(vol);
	free(img);
}

TEST(read_only_device)
{
	uint8_t *img = good_image();

	ASSERT_EQ_INT(try_open(img, IMG_SIZE, true, false), -EROFS);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, true, true), 0);
	free(img);
}

TEST(format_refuses_bad_geometry)
{
	struct mb_dev *dev;
	struct mb_geometry g = geo;
	struct mb_open_opts big = { .journal_blocks = 1000 };

	ASSERT_EQ_INT(mb_dev_open_memory(NULL, IMG_SIZE, false, &dev), 0);
	g.reserved_per_group = 0;
	ASSERT_EQ_INT(mb_volume_format_dev(dev, &g, NULL), -EINVAL);
	g.reserved_per_group = 10; /* sb, 1 desc block, bitmap, 8 journal: 11 needed */
	ASSERT_EQ_INT(mb_volume_format_dev(dev, &g, NULL), -EINVAL);
	g.reserved_per_group = 11;
	ASSERT_EQ_INT(mb_volume_format_dev(dev, &g, NULL), 0);
	ASSERT_EQ_INT(mb_volume_format_dev(dev, &geo, &big), -EINVAL);
	g = geo;
	g.block_size = 1000;
	ASSERT_EQ_INT(mb_volume_format_dev(dev, &g, NULL), -EINVAL);
	g = geo;
	g.blocks_count *= 2; /* larger than the device */
	ASSERT_EQ_INT(mb_volume_format_dev(dev, &g, NULL), -ENOSPC);
	mb_dev_close(dev);
	ASSERT_EQ_INT(mb_volume_open("/nonexistent/dir/vol", NULL, NULL), -EINVAL);
	struct mb_volume *vol;
	ASSERT_EQ_INT(mb_volume_open("/nonexistent/dir/vol", NULL, &vol), -ENOENT);
}

/*
 * A failed mb_volume_format() leaves nothing behind: no new file, and an
 * existing file keeps its size and bytes -- whichever check fails (the
 * geometry, the layout, the journal size).
 */
TEST(failed_format_leaves_nothing)
{
	char dir[] = "/tmp/mb_badfmt_XXXXXX";
	char path[64];
	struct mb_geometry tight = geo;
	struct mb_open_opts tiny = { .journal_blocks = 1 };
	struct stat st;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/vol", dir);
	tight.reserved_per_group = 10; /* the layout needs 11 */
	int e1 = mb_volume_format(path, &tight, NULL);
	int gone1 = stat(path, &st) != 0;
	int e2 = mb_volume_format(path, &geo, &tiny);
	int gone2 = stat(path, &st) != 0;
	FILE *f = fopen(path, "w"); /* an existing file of 5 bytes */

	if (f) {
		fputs("keep\n", f);
		fclose(f);
	}
	int e3 = mb_volume_format(path, &geo, &tiny);
	int kept = !stat(path, &st) && st.st_size == 5;

	unlink(path);
	rmdir(dir);
	ASSERT_EQ_INT(e1, -EINVAL);
	ASSERT_TRUE(gone1);
	ASSERT_EQ_INT(e2, -EINVAL);
	ASSERT_TRUE(gone2);
	ASSERT_EQ_INT(e3, -EINVAL);
	ASSERT_TRUE(kept);
}

/*
 * Issue 9, item 6: every superblock read from disk passes the same checks,
 * the home copy and the copy a journal transaction carries alike.  Each
 * case sets one field with every checksum recomputed, so only the
 * validation can refuse it.
 */
static const struct sb_case {
	const char *what;
	int off, width;
	uint64_t v;
} sb_cases[] = {
	{ "desc_blocks 0", 72, 4, 0 },
	{ "desc_blocks huge", 72, 4, 0xfffffff0u },
	{ "journal_start past the device", 80, 8, 1ULL << 40 },
	{ "journal_start last block", 80, 8, 8 * 256 - 1 },
	{ "desc_size 64", 76, 4, 64 },
	{ "desc_size 0", 76, 4, 0 },
	{ "groups 9", 36, 4, 9 },
	{ "groups 0", 36, 4, 0 },
	{ "journal_blocks 1", 88, 4, 1 },
	{ "free_blocks 2^63", 104, 8, 1ULL << 63 },
	{ "free_blocks off by one", 104, 8, 0 /* set below */ },
	{ "seq 2^64-1", 96, 8, UINT64_MAX },
};

static void set_field(uint8_t *sb, const struct sb_case *c)
{
	if (c->width == 4)
		mb_put_le32(sb + c->off, (uint32_t)c->v);
	else
		mb_put_le64(sb + c->off, c->v);
	if (c->off == 104 && !c->v) /* one more free block than the descriptors say */
		mb_put_le64(sb + 104, mb_get_le64(sb + 104) + 1);
}

/* The superblock image inside the live transaction of good_image(). */
static uint8_t *journal_sb(uint8_t *img)
{
	uint64_t js = mb_get_le64(img + 80);
	uint8_t *hdr = img + js * 1024;

	if (mb_get_le32(hdr) != MB_JOURNAL_MAGIC || mb_get_le64(hdr + 24) != 0)
		abort(); /* good_image() puts the superblock in slot 0 */
	return hdr + 1024;
}

/* An image whose journal holds nothing to replay: the home copy is read. */
static uint8_t *clean_image(void)
{
	uint8_t *img = good_image();

	memset(img + mb_get_le64(img + 80) * 1024, 0, 1024);
	return img;
}

TEST(home_superblock_fields_validated)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof(sb_cases) / sizeof(sb_cases[0]); i++) {
		uint8_t *img = clean_image();

		set_field(img, &sb_cases[i]);
		mb_image_reseal(img, IMG_SIZE);
		int rw = try_open(img, IMG_SIZE, false, false);
		int ro = try_open(img, IMG_SIZE, true, true);
		if (rw != -EUCLEAN || ro != -EUCLEAN) {
			fprintf(stderr, "home %s: rw %d ro %d\n", sb_cases[i].what, rw, ro);
			bad++;
		}
		free(img);
	}
	ASSERT_EQ_INT(bad, 0);
}

TEST(journal_superblock_fields_validated)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof(sb_cases) / sizeof(sb_cases[0]); i++) {
		uint8_t *img = good_image();

		set_field(journal_sb(img), &sb_cases[i]);
		mb_image_reseal(img, IMG_SIZE);
		int rw = try_open(img, IMG_SIZE, false, false);
		int ro = try_open(img, IMG_SIZE, true, true);
		if (rw != -EUCLEAN || ro != -EUCLEAN) {
			fprintf(stderr, "journal %s: rw %d ro %d\n", sb_cases[i].what, rw, ro);
			bad++;
		}
		free(img);
	}
	ASSERT_EQ_INT(bad, 0);
}

/* The helper itself: resealing an untouched image changes nothing. */
TEST(reseal_is_identity_on_good_images)
{
	uint8_t *img = good_image();
	uint8_t *copy = malloc(IMG_SIZE);

	memcpy(copy, img, IMG_SIZE);
	mb_image_reseal(copy, IMG_SIZE);
	for (size_t i = 0; i < IMG_SIZE; i++)
		if (img[i] != copy[i]) {
			fprintf(stderr, "reseal changed byte %zu (block %zu)\n", i, i / 1024);
			break;
		}
	ASSERT_TRUE(memcmp(img, copy, IMG_SIZE) == 0);
	free(copy);
	free(img);
}

/* Unknown ro_compat bits: read-only opens only, whichever copy has them. */
TEST(ro_compat_in_either_copy)
{
	uint8_t *img = clean_image();

	mb_put_le32(img + 16, 0x4);
	mb_image_reseal(img, IMG_SIZE);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EROFS);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, true), 0);
	free(img);

	img = good_image(); /* only the journal copy has the bit */
	mb_put_le32(journal_sb(img) + 16, 0x4);
	mb_image_reseal(img, IMG_SIZE);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EROFS);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, true), 0);
	free(img);
}

/* The journal copy must describe the same volume as the home one. */
TEST(journal_superblock_agrees_with_home)
{
	static const struct sb_case diff[] = {
		{ "uuid", 48, 4, 0x12345678 },
		{ "format_time", 112, 8, 42 },
		{ "journal_blocks 9", 88, 4, 9 },
		{ "blocks_count 2040 (still 8 groups)", 40, 8, 2040 },
	};
	for (size_t i = 0; i < sizeof(diff) / sizeof(diff[0]); i++) {
		uint8_t *img = good_image();

		set_field(journal_sb(img), &diff[i]);
		mb_image_reseal(img, IMG_SIZE);
		ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EUCLEAN);
		ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, true), -EUCLEAN);
		free(img);
	}
}

/* A transaction naming one block twice (ours never do) is damaged. */
TEST(journal_duplicate_target)
{
	uint8_t *img = good_image();
	uint8_t *hdr = img + mb_get_le64(img + 80) * 1024;

	ASSERT_TRUE(mb_get_le32(hdr + 16) >= 3);
	mb_put_le64(hdr + 24 + 16, mb_get_le64(hdr + 24 + 8));
	mb_image_reseal(img, IMG_SIZE);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), -EUCLEAN);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, true), -EUCLEAN);
	free(img);
}

/* Item 7: a huge informational free count once opened and overflowed on commit. */
TEST(free_blocks_huge_then_commit)
{
	uint8_t *img = clean_image();
	struct mb_dev *dev;
	struct mb_volume *vol;

	mb_put_le64(img + 104, 1ULL << 63);
	mb_image_reseal(img, IMG_SIZE);
	ASSERT_EQ_INT(mb_dev_open_memory(img, IMG_SIZE, false, &dev), 0);
	int err = mb_volume_open_dev(dev, &no_thread, &vol);
	if (!err) { /* the old code: the first commit did signed arithmetic on it */
		struct mb_request rq = { .goal = 700, .len = 4, .flags = MB_HINT_NOPREALLOC };
		struct mb_extent ex;

		mb_alloc(vol, &rq, &ex);
		mb_commit(vol);
		mb_volume_destroy(vol);
	} else {
		mb_dev_close(dev);
	}
	ASSERT_EQ_INT(err, -EUCLEAN);
	free(img);
}

/*
 * Found by fuzz_open: a clean volume's journal is not read, but once a
 * read-write open marked it dirty, the next open replayed it.  A sealed
 * transaction with a bad superblock copy then made a volume that had opened
 * fine unopenable after a power cut.  The clean open now clears it.
 */
TEST(clean_open_never_leaves_unchecked_journal)
{
	uint8_t *img = good_image();
	struct mb_dev *dev;
	struct mb_volume *vol;

	mb_put_le32(img + 92, MB_STATE_CLEAN);
	mb_put_le32(journal_sb(img) + 72, 0); /* desc_blocks 0 in the journal's copy */
	mb_image_reseal(img, IMG_SIZE);
	ASSERT_EQ_INT(mb_dev_open_memory(img, IMG_SIZE, false, &dev), 0);
	ASSERT_EQ_INT(mb_volume_open_dev(dev, &no_thread, &vol), 0);
	memcpy(img, mb_dev_memory_data(dev), IMG_SIZE); /* power cut: no close */
	mb_volume_destroy(vol);
	ASSERT_EQ_INT(try_open(img, IMG_SIZE, false, false), 0);
	free(img);
}
