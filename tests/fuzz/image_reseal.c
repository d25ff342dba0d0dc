/* SPDX-License-Identifier: MIT */
/*
 * image_reseal.c - recomputes the checksums of a (mutated) volume image; see
 * image_reseal.h.  An independent reading of docs/FORMAT.md: it uses only
 * the CRC and byte-order helpers of the library, not its encoders.
 */
#include <string.h>

#include "image_reseal.h"
#include "mb_test_int.h"

#define SB_CRC_OFF (MB_SB_SIZE - 4)
#define JH_TARGETS 24

struct img {
	uint8_t *p;
	size_t size;
	uint32_t bs;
	uint64_t desc_start, desc_blocks, groups;
	/* the journal transaction, when there is one */
	const uint8_t *jdata;
	const uint8_t *jtargets;
	uint32_t jnr;
};

static uint8_t *blk(const struct img *im, uint64_t b)
{
	if (b >= im->size / im->bs)
		return NULL;
	return im->p + b * im->bs;
}

static void seal_sb(uint8_t *sb)
{
	mb_put_le32(sb + SB_CRC_OFF, mb_crc32c_field(0, sb, MB_SB_SIZE, SB_CRC_OFF));
}

/* The image of block b as a replay would leave it: the journal's, else home. */
static const uint8_t *bitmap_image(const struct img *im, uint64_t b)
{
	for (uint32_t i = 0; im->jdata && i < im->jnr; i++)
		if (mb_get_le64(im->jtargets + 8 * i) == b)
			return im->jdata + (size_t)i * im->bs;
	return blk(im, b);
}

/* One descriptor-table block whose first entry is group first_g. */
static void seal_desc_block(const struct img *im, uint8_t *d, uint64_t first_g)
{
	for (uint32_t k = 0; k < im->bs / MB_DESC_SIZE; k++, d += MB_DESC_SIZE) {
		uint64_t g = first_g + k;
		uint8_t gno[4];

		if (g >= im->groups)
			break; /* entries past the last group are not ours to seal */
		if (!(d[4] & MB_DESC_BLOCK_UNINIT)) {
			const uint8_t *bm = bitmap_image(im, mb_get_le64(d + 8));

			if (bm)
				mb_put_le32(d + 16, mb_crc32c(0, bm, im->bs));
		}
		mb_put_le32(gno, (uint32_t)g);
		mb_put_le32(d + 28, mb_crc32c_field(mb_crc32c(0, gno, 4), d, MB_DESC_SIZE, 28));
	}
}

static bool is_desc_block(const struct img *im, uint64_t b)
{
	return b >= im->desc_start && b - im->desc_start < im->desc_blocks;
}

static void seal_home_desc(struct img *im)
{
	const uint8_t *jdata = im->jdata;

	im->jdata = NULL; /* home descriptors describe home bitmaps */
	for (uint64_t i = 0; i < im->desc_blocks; i++) {
		uint8_t *d = blk(im, im->desc_start + i);

		if (!d)
			break;
		seal_desc_block(im, d, i * (im->bs / MB_DESC_SIZE));
	}
	im->jdata = jdata;
}

/* Header at block js: finds the transaction's data; false if there is none. */
static bool find_txn(struct img *im, uint64_t js)
{
	const uint8_t *h = blk(im, js);
	uint64_t nblocks = im->size / im->bs;

	if (!h || mb_get_le32(h) != MB_JOURNAL_MAGIC || mb_get_le32(h + 4) != 1)
		return false;
	uint32_t nr = mb_get_le32(h + 16);
	uint32_t fit = (im->bs - JH_TARGETS - 4) / 8;

	if (nr > fit)
		nr = fit;
	if (js + 1 + nr >= nblocks) /* data and commit block must be in the image */
		return false;
	im->jnr = nr;
	im->jtargets = h + JH_TARGETS;
	im->jdata = im->p + (js + 1) * im->bs;
	return true;
}

static void seal_journal(struct img *im, uint64_t js)
{
	uint32_t bs = im->bs;

	if (!find_txn(im, js))
		return;
	uint8_t *h = im->p + js * bs, *data = h + bs, *c = data + (size_t)im->jnr * bs;

	for (uint32_t i = 0; i < im->jnr; i++) {
		uint64_t t = mb_get_le64(im->jtargets + 8 * i);

		if (t == 0)
			seal_sb(data + (size_t)i * bs);
		else if (is_desc_block(im, t))
			seal_desc_block(im, data + (size_t)i * bs,
					(t - im->desc_start) * (bs / MB_DESC_SIZE));
	}
	mb_put_le32(h + bs - 4, mb_crc32c_field(0, h, bs, bs - 4));
	if (mb_get_le32(c) != MB_JOURNAL_MAGIC || mb_get_le32(c + 4) != 2)
		return;
	/* the data checksum covers the header as written, then the nr blocks */
	mb_put_le32(c + 20, mb_crc32c(0, h, (size_t)(im->jnr + 1) * bs));
	mb_put_le32(c + bs - 4, mb_crc32c_field(0, c, bs, bs - 4));
}

void mb_image_reseal(uint8_t *img, size_t size)
{
	struct img im = { .p = img, .size = size };

	if (size < MB_SB_SIZE || mb_get_le32(img) != MB_SB_MAGIC)
		return;
	im.bs = mb_get_le32(img + 20);
	if (im.bs >= 1024 && im.bs <= 65536 && !(im.bs & (im.bs - 1))) {
		im.desc_start = mb_get_le64(img + 64);
		im.desc_blocks = mb_get_le32(img + 72);
		im.groups = mb_get_le32(img + 36);
		seal_home_desc(&im);
		seal_journal(&im, mb_get_le64(img + 80));
	}
	seal_sb(img);
}
