/* SPDX-License-Identifier: MIT */
/*
 * store_ext4.c - the ext4 image reader under the ext4 image store: an
 * ext4 image opened read-only through libext2fs (optional at build time;
 * without it mb_ext4_open answers -ENOTSUP).  Geometry comes from the
 * superblock; a group's used blocks from its block bitmap, or, for a
 * BLOCK_UNINIT group, from the layout alone (superblock and descriptor
 * copies, bitmaps, inode tables), as ext4 computes them, without a read.
 * Every metadata block must be used: a bitmap that leaves one free, fails
 * its checksum or disagrees with its descriptor's free count is corrupt
 * (ext4 marks such a group's bitmap corrupt too).  Nothing is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mb_int.h"
#include "store.h"
#include "store_ext4.h"

#ifdef MB_HAVE_EXT2FS
#include <ext2fs/ext2fs.h>

/* A run of metadata blocks: a group's block bitmap, inode bitmap or
 * inode table. */
struct mb_ext4_run {
	uint64_t start;
	uint64_t len;
};

/* Descriptor facts a group load needs, copied at open. */
struct mb_ext4_grp {
	uint64_t bitmap; /* block of the block bitmap */
	uint32_t free;   /* bg_free_blocks_count */
	bool uninit;     /* BLOCK_UNINIT, trusted (checksummed descriptors) */
};

struct mb_ext4 {
	ext2_filsys fs;          /* libext2fs is not thread-safe: io_mx */
	struct mb_mutex io_mx;   /* MB_RANK_LEAF: taken under a bb_lock */
	struct mb_geometry geo;  /* const */
	uint32_t groups;         /* const */
	struct mb_ext4_grp *grp; /* groups entries; const */
	struct mb_ext4_run *meta; /* every group's bitmaps and inode table,
				     sorted by start; const */
	size_t nmeta;
	uint64_t old_desc_blocks; /* descriptor (+ reserved GDT) blocks after a
				     superblock copy; const */
};

static uint64_t mb_ext4_group_start(const struct mb_ext4 *x, uint32_t g)
{
	return x->geo.first_data_block + (uint64_t)g * x->geo.blocks_per_group;
}

static uint32_t mb_ext4_group_len(const struct mb_ext4 *x, uint32_t g)
{
	uint64_t left = x->geo.blocks_count - mb_ext4_group_start(x, g);

	return left < x->geo.blocks_per_group ? (uint32_t)left : x->geo.blocks_per_group;
}

/* libext2fs's answer to ext2fs_open, in words and as an errno. */
static int mb_ext4_open_err(errcode_t e, const char **why)
{
	switch (e) {
	case EXT2_ET_BAD_MAGIC:
		*why = "not an ext2/3/4 file system (bad magic)";
		return -EINVAL;
	case EXT2_ET_UNSUPP_FEATURE:
		*why = "the file system has incompatible features libext2fs does not know";
		return -ENOTSUP;
	case EXT2_ET_SB_CSUM_INVALID:
		*why = "the ext4 superblock's checksum is wrong";
		return -EUCLEAN;
	case EXT2_ET_NO_MEMORY:
		*why = "out of memory";
		return -ENOMEM;
	case EXT2_ET_SHORT_READ:
		*why = "the image is shorter than its file system";
		return -EIO;
	}
	if (e > 0 && e < 4096) { /* com_err passes errno values through */
		*why = NULL;
		return -(int)e;
	}
	*why = "libext2fs cannot open it: the superblock or descriptors are corrupt";
	return -EUCLEAN;
}

/* Refuses what the allocator cannot model. */
static int mb_ext4_check_features(ext2_filsys fs, const char **why)
{
	struct ext2_super_block *sb = fs->super;

	if (ext2fs_has_feature_bigalloc(sb)) {
		*why = "bigalloc is not supported (the allocator works in blocks, not clusters)";
		return -ENOTSUP;
	}
	if (ext2fs_has_feature_journal_dev(sb)) {
		*why = "an external journal device holds no block groups";
		return -ENOTSUP;
	}
	if (ext2fs_has_feature_journal_needs_recovery(sb)) {
		*why = "its journal needs recovery (mount it once or run e2fsck first)";
		return -ENOTSUP;
	}
	if (sb->s_blocks_per_group % 8 || sb->s_blocks_per_group < 16 ||
	    sb->s_blocks_per_group > 8 * (uint32_t)EXT2_BLOCK_SIZE(sb)) {
		*why = "its blocks per group are outside what the allocator supports";
		return -ENOTSUP;
	}
	return 0;
}

static int mb_ext4_run_cmp(const void *a, const void *b)
{
	const struct mb_ext4_run *p = a, *q = b;

	return p->start < q->start ? -1 : p->start > q->start;
}

/* Adds a run of metadata; it must lie inside the file system. */
static int mb_ext4_add_meta(struct mb_ext4 *x, uint64_t start, uint64_t len)
{
	if (start < x->geo.first_data_block || start >= x->geo.blocks_count ||
	    len > x->geo.blocks_count - start)
		return -EUCLEAN;
	x->meta[x->nmeta++] = (struct mb_ext4_run){ start, len };
	return 0;
}

/* Copies the descriptors' facts and collects the metadata runs. */
static int mb_ext4_scan_desc(struct mb_ext4 *x, const char **why)
{
	ext2_filsys fs = x->fs;
	bool csum = ext2fs_has_group_desc_csum(fs);
	int err = 0;

	x->grp = calloc(x->groups, sizeof(*x->grp));
	x->meta = calloc(3 * (size_t)x->groups, sizeof(*x->meta));
	if (!x->grp || !x->meta) {
		*why = "out of memory";
		return -ENOMEM;
	}
	for (uint32_t g = 0; g < x->groups && !err; g++) {
		if (csum && !ext2fs_group_desc_csum_verify(fs, g)) {
			*why = "a group descriptor's checksum is wrong";
			return -EUCLEAN;
		}
		x->grp[g].bitmap = ext2fs_block_bitmap_loc(fs, g);
		x->grp[g].free = ext2fs_bg_free_blocks_count(fs, g);
		x->grp[g].uninit = csum && ext2fs_bg_flags_test(fs, g, EXT2_BG_BLOCK_UNINIT);
		if (x->grp[g].free > mb_ext4_group_len(x, g))
			err = -EUCLEAN;
		if (!err)
			err = mb_ext4_add_meta(x, x->grp[g].bitmap, 1);
		if (!err)
			err = mb_ext4_add_meta(x, ext2fs_inode_bitmap_loc(fs, g), 1);
		if (!err)
			err = mb_ext4_add_meta(x, ext2fs_inode_table_loc(fs, g),
					       fs->inode_blocks_per_group);
	}
	if (err) {
		*why = "a group descriptor points outside the file system or counts too many free blocks";
		return err;
	}
	qsort(x->meta, x->nmeta, sizeof(*x->meta), mb_ext4_run_cmp);
	return 0;
}

static int mb_ext4_load(struct mb_ext4 *x, uint32_t *flex_bg, const char **why)
{
	struct ext2_super_block *sb = x->fs->super;
	int err = mb_ext4_check_features(x->fs, why);

	if (err)
		return err;
	x->geo = (struct mb_geometry){
		.block_size = EXT2_BLOCK_SIZE(sb),
		.blocks_per_group = sb->s_blocks_per_group,
		.blocks_count = ext2fs_blocks_count(sb),
		.first_data_block = sb->s_first_data_block,
		.reserved_per_group = 0,
	};
	x->groups = x->fs->group_desc_count;
	x->old_desc_blocks = ext2fs_has_feature_meta_bg(sb)
				     ? sb->s_first_meta_bg
				     : x->fs->desc_blocks + sb->s_reserved_gdt_blocks;
	*flex_bg = ext2fs_has_feature_flex_bg(sb) && sb->s_log_groups_per_flex < 32
			   ? 1u << sb->s_log_groups_per_flex
			   : 1;
	x->geo.flex_bg = *flex_bg;
	return mb_ext4_scan_desc(x, why);
}

int mb_ext4_open(const char *path, struct mb_ext4 **out, struct mb_geometry *geo,
		 uint32_t *flex_bg, const char **why)
{
	struct mb_ext4 *x = calloc(1, sizeof(*x));
	errcode_t e;
	int err;

	*why = NULL;
	if (!x) {
		*why = "out of memory";
		return -ENOMEM;
	}
	e = ext2fs_open(path, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &x->fs);
	if (e) {
		free(x);
		return mb_ext4_open_err(e, why);
	}
	mb_mutex_init(&x->io_mx, MB_RANK_LEAF);
	err = mb_ext4_load(x, flex_bg, why);
	if (err) {
		mb_ext4_close(x);
		return err;
	}
	*geo = x->geo;
	*out = x;
	return 0;
}

void mb_ext4_close(struct mb_ext4 *x)
{
	if (!x)
		return;
	ext2fs_close_free(&x->fs);
	mb_mutex_destroy(&x->io_mx);
	free(x->grp);
	free(x->meta);
	free(x);
}

bool mb_ext4_group_uninit(const struct mb_ext4 *x, uint32_t g)
{
	return x->grp[g].uninit;
}

uint32_t mb_ext4_group_free(const struct mb_ext4 *x, uint32_t g)
{
	return x->grp[g].free;
}

/* Sets the bits of [start, start + len) that fall inside group g. */
static void mb_ext4_mark(const struct mb_ext4 *x, uint32_t g, uint64_t *map, uint64_t start,
			 uint64_t len)
{
	uint64_t lo = mb_ext4_group_start(x, g), hi = lo + mb_ext4_group_len(x, g);
	uint64_t s = start > lo ? start : lo, e = start + len < hi ? start + len : hi;

	if (s < e)
		mb_set_bits(map, (uint32_t)(s - lo), (uint32_t)(e - s));
}

/*
 * Every metadata block inside group g: its superblock and descriptor
 * copies (where sparse_super / meta_bg put them) and any group's bitmaps
 * and inode table that lie in it (with flex_bg, those of its whole flex
 * group sit in its first group).
 */
static void mb_ext4_meta_bits(const struct mb_ext4 *x, uint32_t g, uint64_t *map)
{
	uint64_t lo = mb_ext4_group_start(x, g), hi = lo + mb_ext4_group_len(x, g);
	blk64_t super = 0, old_desc = 0, new_desc = 0;
	size_t a = 0, b = x->nmeta;

	if (ext2fs_bg_has_super(x->fs, g))
		mb_ext4_mark(x, g, map, lo, 1);
	ext2fs_super_and_bgd_loc2(x->fs, g, &super, &old_desc, &new_desc, NULL);
	if (old_desc)
		mb_ext4_mark(x, g, map, old_desc, x->old_desc_blocks);
	if (new_desc)
		mb_ext4_mark(x, g, map, new_desc, 1);
	while (a < b) { /* the first run that ends past lo */
		size_t m = a + (b - a) / 2;

		if (x->meta[m].start + x->meta[m].len <= lo)
			a = m + 1;
		else
			b = m;
	}
	for (; a < x->nmeta && x->meta[a].start < hi; a++)
		mb_ext4_mark(x, g, map, x->meta[a].start, x->meta[a].len);
}

static bool mb_ext4_overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

bool mb_ext4_range_meta(const struct mb_ext4 *x, uint32_t g, uint32_t off, uint32_t len)
{
	uint64_t lo = mb_ext4_group_start(x, g), s = lo + off;
	blk64_t super = 0, old_desc = 0, new_desc = 0;
	size_t a = 0, b = x->nmeta;

	if (ext2fs_bg_has_super(x->fs, g) && mb_ext4_overlaps(s, len, lo, 1))
		return true;
	ext2fs_super_and_bgd_loc2(x->fs, g, &super, &old_desc, &new_desc, NULL);
	if ((old_desc && mb_ext4_overlaps(s, len, old_desc, x->old_desc_blocks)) ||
	    (new_desc && mb_ext4_overlaps(s, len, new_desc, 1)))
		return true;
	while (a < b) { /* the first run that ends past s */
		size_t m = a + (b - a) / 2;

		if (x->meta[m].start + x->meta[m].len <= s)
			a = m + 1;
		else
			b = m;
	}
	return a < x->nmeta && x->meta[a].start < s + len;
}

/* Reads group g's bitmap block into used; io_mx serializes libext2fs. */
static int mb_ext4_read_bitmap(struct mb_ext4 *x, uint32_t g, uint64_t *used)
{
	uint32_t bs = x->geo.block_size, bytes = x->geo.blocks_per_group / 8;
	uint8_t *blk = malloc(bs);
	int err = 0;

	if (!blk)
		return -ENOMEM;
	mb_lock(&x->io_mx);
	if (io_channel_read_blk64(x->fs->io, x->grp[g].bitmap, 1, blk))
		err = -EIO;
	else if (ext2fs_has_feature_metadata_csum(x->fs->super) &&
		 !ext2fs_block_bitmap_csum_verify(x->fs, g, (char *)blk, (int)bytes))
		err = -EUCLEAN;
	mb_unlock(&x->io_mx);
	for (uint32_t i = 0; !err && i < mb_ext4_group_len(x, g); i++)
		if (blk[i >> 3] >> (i & 7) & 1)
			mb_set_bit(used, i);
	free(blk);
	return err;
}

int mb_ext4_read_group(struct mb_ext4 *x, uint32_t g, uint64_t *used)
{
	uint32_t len, words;
	uint64_t *meta;
	int err;

	if (g >= x->groups)
		return -EINVAL;
	len = mb_ext4_group_len(x, g);
	words = (len + 63) / 64;
	mb_clear_bits(used, 0, len);
	if (x->grp[g].uninit) {
		mb_ext4_meta_bits(x, g, used);
	} else {
		if (!(meta = calloc(words, sizeof(uint64_t))))
			return -ENOMEM;
		mb_ext4_meta_bits(x, g, meta);
		err = mb_ext4_read_bitmap(x, g, used);
		for (uint32_t w = 0; !err && w < words; w++)
			if (meta[w] & ~used[w])
				err = -EUCLEAN; /* a metadata block is free */
		free(meta);
		if (err)
			return err;
	}
	return mb_count_zero_bits(used, 0, len) == x->grp[g].free ? 0 : -EUCLEAN;
}

#else /* !MB_HAVE_EXT2FS */

int mb_ext4_open(const char *path, struct mb_ext4 **out, struct mb_geometry *geo,
		 uint32_t *flex_bg, const char **why)
{
	(void)path, (void)out, (void)geo, (void)flex_bg;
	*why = "this mballoc was built without libext2fs: ext4 images cannot be opened";
	return -ENOTSUP;
}

void mb_ext4_close(struct mb_ext4 *x)
{
	(void)x;
}

bool mb_ext4_group_uninit(const struct mb_ext4 *x, uint32_t g)
{
	(void)x, (void)g;
	return false;
}

uint32_t mb_ext4_group_free(const struct mb_ext4 *x, uint32_t g)
{
	(void)x, (void)g;
	return 0;
}

int mb_ext4_read_group(struct mb_ext4 *x, uint32_t g, uint64_t *used)
{
	(void)x, (void)g, (void)used;
	return -ENOTSUP;
}

bool mb_ext4_range_meta(const struct mb_ext4 *x, uint32_t g, uint32_t off, uint32_t len)
{
	(void)x, (void)g, (void)off, (void)len;
	return false;
}
#endif


/* ------------------------------------------------------------------------ */
/* The store: an image under a volume (built with or without libext2fs:     */
/* without it mb_ext4_open answers -ENOTSUP and nothing below runs further) */
/* ------------------------------------------------------------------------ */

struct mb_ext4_store {
	struct mb_store st; /* first: the core sees only this */
	struct mb_ext4 *x;  /* const; its reads serialize themselves */
};

/*
 * Never "uninit" to the core: it would build such a group as
 * reserved_per_group metadata blocks at its head, while ext4's metadata
 * lies anywhere.  load_bitmap computes a BLOCK_UNINIT group's metadata
 * itself, without a read.
 */
static bool mb_ext4_st_uninit(struct mb_store *st, uint32_t g)
{
	(void)st, (void)g;
	return false;
}

static int mb_ext4_st_load(struct mb_store *st, uint32_t g, uint64_t *bits)
{
	struct mb_volume *vol = st->vol;
	uint32_t len = mb_group_len(vol, g);
	int err = mb_ext4_read_group(((struct mb_ext4_store *)st)->x, g, bits);

	if (!err) /* the core's convention: padding past the group is used */
		mb_set_bits(bits, len, vol->bitmap_words * 64 - len);
	return err;
}

/* Each group's free count from its descriptor, until the group loads. */
static int mb_ext4_st_group_free(struct mb_store *st, uint32_t g, uint32_t *free)
{
	*free = mb_ext4_group_free(((struct mb_ext4_store *)st)->x, g);
	return 0;
}

/* ext4's metadata lies anywhere in a group: a free must not reach it. */
static bool mb_ext4_st_is_meta(struct mb_store *st, uint32_t g, uint32_t off, uint32_t len)
{
	return mb_ext4_range_meta(((struct mb_ext4_store *)st)->x, g, off, len);
}

static void mb_ext4_st_info(struct mb_store *st, struct mb_volume_info *info)
{
	info->read_only = mb_store_read_only(st);
}

static void mb_ext4_st_destroy(struct mb_store *st)
{
	mb_ext4_close(((struct mb_ext4_store *)st)->x);
	free(st);
}

static const struct mb_store_ops mb_ext4_store_ops = {
	.name = "ext4",
	.group_uninit = mb_ext4_st_uninit,
	.load_bitmap = mb_ext4_st_load,
	.commit = NULL, /* nothing is ever written: frees are reusable at once */
	.destroy = mb_ext4_st_destroy,
	.group_free = mb_ext4_st_group_free,
	.is_meta = mb_ext4_st_is_meta,
	.info = mb_ext4_st_info,
};

int mb_store_ext4_new(const char *path, bool read_only, struct mb_store **out,
		      struct mb_geometry *geo, const char **why)
{
	struct mb_ext4_store *s = calloc(1, sizeof(*s));
	uint32_t flex;
	int err;

	*why = NULL;
	if (!s)
		return -ENOMEM;
	if ((err = mb_ext4_open(path, &s->x, geo, &flex, why))) {
		free(s);
		return err;
	}
	s->st.ops = &mb_ext4_store_ops;
	s->st.flags = read_only ? MB_STORE_READ_ONLY : 0;
	*out = &s->st;
	return 0;
}

bool mb_ext4_probe(const char *path)
{
	uint8_t magic[2];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool yes;

	if (fd < 0)
		return false;
	yes = pread(fd, magic, 2, 1024 + 56) == 2 && magic[0] == 0x53 && magic[1] == 0xef;
	close(fd);
	return yes;
}
