/* SPDX-License-Identifier: MIT */
/*
 * store_mem.c - the memory store, under every mb_volume_create() volume:
 * each group starts as its metadata alone, frees are allocatable at once,
 * nothing is durable and nothing is ever read.
 */
#include <stdlib.h>

#include "mb_int.h"
#include "store.h"

static bool mb_mem_group_uninit(struct mb_store *st, uint32_t group)
{
	return true; /* the core builds every bitmap from the geometry */
}

/* Never called (every group is uninit); the same answer if it were. */
static int mb_mem_load_bitmap(struct mb_store *st, uint32_t group, uint64_t *bits)
{
	struct mb_volume *vol = st->vol;
	struct mb_group *grp = mb_group_at(vol, group);

	mb_set_bits(bits, 0, mb_group_reserved(vol, grp));
	mb_set_bits(bits, grp->bb_len, vol->bitmap_words * 64 - grp->bb_len);
	return 0;
}

static void mb_mem_destroy(struct mb_store *st)
{
	free(st);
}

static const struct mb_store_ops mb_mem_store_ops = {
	.name = "memory",
	.group_uninit = mb_mem_group_uninit,
	.load_bitmap = mb_mem_load_bitmap,
	.commit = NULL, /* frees are allocatable at once */
	.destroy = mb_mem_destroy,
};

int mb_store_memory_new(struct mb_store **out)
{
	struct mb_store *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	st->ops = &mb_mem_store_ops;
	*out = st;
	return 0;
}
