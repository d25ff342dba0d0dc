/* SPDX-License-Identifier: MIT */
/*
 * volume.c - creating and destroying volumes (geometry checks, derived
 * sizes, per-CPU slots), files, and the volume-wide queries.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mb_int.h"
#include "alloc_ctx.h"
#include "store.h"

const char *mb_version(void)
{
	return MB_VERSION_STRING;
}

static bool mb_is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* Fills in the derived geometry; -EINVAL for anything impossible. */
static int mb_geometry_resolve(struct mb_volume *vol, const struct mb_geometry *in)
{
	struct mb_geometry geo = *in;

	if (!mb_zeroed(geo.spare, sizeof(geo.spare)))
		return -EINVAL;
	if (!mb_is_pow2(geo.block_size) || geo.block_size < 1024 || geo.block_size > 65536)
		return -EINVAL;
	if (!geo.blocks_per_group)
		geo.blocks_per_group = 8 * geo.block_size;
	if (geo.blocks_per_group % 8 || geo.blocks_per_group < 16 ||
	    geo.blocks_per_group > 8 * geo.block_size)
		return -EINVAL;
	if (geo.blocks_count <= geo.first_data_block || geo.reserved_per_group >= geo.blocks_per_group)
		return -EINVAL;
	uint64_t groups = (geo.blocks_count - geo.first_data_block + geo.blocks_per_group - 1) /
			  geo.blocks_per_group;
	if (groups > (1ULL << 31))
		return -EINVAL;
	if (geo.flex_bg > 1 && !mb_is_pow2(geo.flex_bg))
		return -EINVAL;

	vol->geo = geo;
	vol->data_first = geo.first_data_block;
	vol->goal_base = geo.first_data_block ? geo.first_data_block : MB_GOAL_NONE;
	vol->goal_span = geo.blocks_count - geo.first_data_block + !geo.first_data_block;
	vol->bpg = geo.blocks_per_group;
	vol->ngroups = (uint32_t)groups;
	/* ext4's buddy stops at order blocksize_bits + 1 (MB_NUM_ORDERS): a
	   longer free run is several chunks of that order (rule 4) */
	int cap = mb_ilog2(geo.block_size) + 1;

	vol->max_order = mb_ilog2(vol->bpg) < cap ? mb_ilog2(vol->bpg) : cap;
	vol->bpg_shift = mb_is_pow2(vol->bpg) ? mb_ilog2(vol->bpg) : 0;
	vol->bitmap_words = (vol->bpg + 63) / 64;
	uint32_t off = 0;

	for (int k = 1; k <= vol->max_order; k++)
		vol->mb_maxs[k] = vol->bpg >> k;
	/* the maps from the top order down, orders above MB_BUDDY_DERIVED
	   (the lower ones are read off the bitmap, buddy.c: no map): the
	   orders of a word or two each come first, in the derived buffer's
	   first cache line (group.c aligns it) -- at 4 KiB blocks orders 8 to
	   13, every word a 256-block take reads or splits.  From order 4 up
	   they ended the buffer, over two lines, and a cold group's take
	   missed in one, read the chunk's word, then missed in the other for
	   the split.  As many misses now (callgrind: the run tree's node 0,
	   behind the buddy, is a line of its own), but none waits on another:
	   empty:256:rand ~1% less time a call, seq50 rand ~0.5%.  Ascending
	   with node 0's line holding orders 9 to 13 gained nothing */
	for (int k = vol->max_order; k > MB_BUDDY_DERIVED; k--) {
		vol->mb_offsets[k] = off;
		off += (vol->mb_maxs[k] + 63) / 64;
	}
	vol->mb_maxs[0] = vol->bpg;
	vol->buddy_words = off ? off : 1;
	vol->rs_leaves = mb_runsum_leaves_for(vol->bitmap_words);
	/* the free-word summary after the run tree: the derived buffer's end */
	vol->fws_off = vol->buddy_words + (uint32_t)mb_runsum_words(vol);
	return 0;
}

/* Resolves and checks a geometry without building a volume. */
int mb_geometry_validate(const struct mb_geometry *in, struct mb_geometry *out, uint32_t *groups)
{
	struct mb_volume *tmp = calloc(1, sizeof(*tmp));
	int err = tmp ? mb_geometry_resolve(tmp, in) : -ENOMEM;

	if (!err) {
		*out = tmp->geo;
		*groups = tmp->ngroups;
	}
	free(tmp);
	return err;
}

static int mb_volume_alloc_state(struct mb_volume *vol)
{
	uint32_t slots = mb_pcpu_slots(); /* percpu.c: every volume alike */

	vol->pcpu_mask = slots - 1;
	vol->pcpu = aligned_alloc(MB_CACHELINE, sizeof(struct mb_pcpu) * slots);
	vol->lgs = aligned_alloc(MB_CACHELINE, sizeof(struct mb_lg) * slots);
	if (!vol->pcpu || !vol->lgs) {
		free(vol->lgs);
		vol->lgs = NULL; /* not initialized: destroy must skip it */
		return -ENOMEM;
	}
	memset(vol->pcpu, 0, sizeof(struct mb_pcpu) * slots);
	mb_lgs_init(vol);

	uint32_t goals = (vol->ngroups + 3) / 4;
	vol->nr_stream_goals = goals < slots ? goals : slots;
	vol->stream_goals = calloc(vol->nr_stream_goals, sizeof(*vol->stream_goals));
	if (!vol->stream_goals)
		return -ENOMEM;
	/* No stream has a goal yet: mb_stream_goal() says where it starts. */
	for (uint32_t i = 0; i < vol->nr_stream_goals; i++)
		atomic_init(&vol->stream_goals[i], MB_STREAM_GOAL_UNSET);
	for (int k = 0; k <= vol->max_order; k++) {
		int err = mb_gset_init(&vol->largest_set[k], vol->ngroups);

		if (!err)
			err = mb_gset_init(&vol->avg_set[k], vol->ngroups);
		if (!err) {
			mb_gset_set_family(&vol->largest_set[k], &vol->largest_orders, k);
			mb_gset_set_family(&vol->avg_set[k], &vol->avg_orders, k);
		}
		if (err)
			return err;
	}
	/* the "order k or more" families, laid out for their moves (gset.c) */
	int err = mb_gset_init_family(vol->free_ge, vol->max_order + 1, vol->ngroups);

	if (!err)
		err = mb_gset_init_family(vol->largest_ge, vol->max_order + 1, vol->ngroups);
	if (!err)
		err = mb_gset_init_family(vol->avg_ge, vol->max_order + 1, vol->ngroups);
	return err;
}

int mb_volume_create_on(const struct mb_geometry *geo, struct mb_store *st,
			struct mb_volume **out)
{
	struct mb_volume *vol;
	int err;

	if (!geo || !out)
		return -EINVAL;
	vol = calloc(1, sizeof(*vol));
	if (!vol)
		return -ENOMEM;
	mb_mutex_init(&vol->v_lock, MB_RANK_VOLUME);
	mb_list_init(&vol->v_files);
	mb_resv_init(vol);
	err = mb_space_event_init(vol);
	if (err) {
		mb_resv_destroy(vol);
		mb_mutex_destroy(&vol->v_lock);
		free(vol);
		return err;
	}
	err = mb_geometry_resolve(vol, geo);
	if (!err)
		err = mb_volume_alloc_state(vol);
	if (!err) {
		mb_tunables_default(vol);
		err = mb_groups_init(vol);
	}
	if (err) {
		mb_volume_destroy(vol); /* no store yet: the caller keeps st */
		return err;
	}
	st->vol = vol;
	vol->store = st;
	vol->frees_wait = mb_store_frees_wait(st);
	mb_tunables_retune(vol); /* p2_fast_lo: a read-only store's requests go the regular way */
	*out = vol;
	return 0;
}

int mb_volume_create(const struct mb_geometry *geo, struct mb_volume **out)
{
	struct mb_store *st;
	int err;

	if (!geo || !out)
		return -EINVAL;
	err = mb_store_memory_new(&st);
	if (err)
		return err;
	err = mb_volume_create_on(geo, st, out);
	if (err)
		st->ops->destroy(st);
	return err;
}

void mb_volume_destroy(struct mb_volume *vol)
{
	if (!vol)
		return;
	if (vol->store) { /* stops its threads, writes nothing; nothing below calls it */
		vol->store->ops->destroy(vol->store);
		vol->store = NULL;
	}
	while (!mb_list_empty(&vol->v_files))
		mb_file_close(MB_CONTAINER_OF(vol->v_files.next, struct mb_file, f_link));
	if (vol->groups)
		mb_discard_all(vol);
	mb_groups_destroy(vol);
	for (int k = 0; k < MB_MAX_ORDERS; k++) {
		mb_gset_destroy(&vol->largest_set[k]);
		mb_gset_destroy(&vol->avg_set[k]);
		mb_gset_destroy(&vol->free_ge[k]);
		mb_gset_destroy(&vol->largest_ge[k]);
		mb_gset_destroy(&vol->avg_ge[k]);
	}
	if (vol->lgs)
		mb_lgs_destroy(vol);
	free(vol->lgs);
	free(vol->pcpu);
	free((void *)vol->stream_goals);
	mb_space_event_destroy(vol);
	mb_resv_destroy(vol);
	mb_mutex_destroy(&vol->v_lock);
	free(vol);
}

void mb_volume_geometry(const struct mb_volume *vol, struct mb_geometry *geo)
{
	*geo = vol->geo;
}

uint32_t mb_groups_count(const struct mb_volume *vol)
{
	return vol->ngroups;
}

int mb_max_order(const struct mb_volume *vol)
{
	return vol->max_order;
}

int64_t mb_discard_all(struct mb_volume *vol)
{
	int64_t freed = 0;

	/* a group never set up holds no PA */
	for (mb_grp_t g = mb_group_next_setup(vol, 0); g != UINT32_MAX;
	     g = mb_group_next_setup(vol, g + 1)) {
		bool busy = false;

		freed += mb_discard_group_preallocations(vol, g, UINT32_MAX, &busy);
	}
	return freed;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

int mb_file_open(struct mb_volume *vol, uint64_t ino, struct mb_file **out)
{
	struct mb_file *f = mb_zalloc_lines(sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->f_vol = vol;
	f->f_ino = ino;
	f->f_home = mb_home_group(vol, f);
	f->f_open_write = 1; /* see mb_file_set_open_for_write() */
	mb_mutex_init(&f->f_data_sem, MB_RANK_FILE_DATA);
	mb_avl_init(&f->f_pa_tree);
	mb_lock(&vol->v_lock);
	mb_list_add_tail(&f->f_link, &vol->v_files);
	mb_unlock(&vol->v_lock);
	*out = f;
	return 0;
}

void mb_file_set_size(struct mb_file *file, uint64_t size_blocks)
{
	MB_WRITE_ONCE(file->f_size, size_blocks);
}

int mb_stream_goal_set(struct mb_volume *vol, uint64_t ino, uint32_t group)
{
	if (group >= vol->ngroups)
		return -EINVAL;
	/* relaxed: a hint, as every stream goal (alloc.c, mb_stream_goal) */
	atomic_store_explicit(&vol->stream_goals[ino % vol->nr_stream_goals], group,
			      memory_order_relaxed);
	return 0;
}

void mb_file_set_open_for_write(struct mb_file *file, bool open)
{
	MB_WRITE_ONCE(file->f_open_write, open ? 1u : 0u);
}

int64_t mb_file_discard(struct mb_file *file)
{
	mb_lock(&file->f_data_sem);
	int64_t n = mb_discard_file_preallocations(file);
	mb_unlock(&file->f_data_sem);
	return n;
}

void mb_file_close(struct mb_file *file)
{
	struct mb_volume *vol = file->f_vol;

	mb_file_discard(file);
	mb_lock(&vol->v_lock);
	mb_list_del(&file->f_link);
	mb_unlock(&vol->v_lock);
	mb_mutex_destroy(&file->f_data_sem);
	mb_free_lines(file);
}
