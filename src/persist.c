/* SPDX-License-Identifier: MIT */
/*
 * persist.c - the layer above the stores: the public calls that format,
 * open, commit, close, describe and verify volumes.  A volume is built on
 * its store in one sequence (mb_volume_open_dev): the store checks what it
 * holds, mb_volume_create_on builds the volume, the store reads its group
 * table, mb_groups_seed seeds the counters, then the commit thread starts.
 * The stores: store_mem.c, store_mballoc.c, store_ext4.c, store_cb.c (store.h
 * says how to add one).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist.h"
#include "store_ext4.h"
#include "store_mballoc.h"

int mb_volume_format_dev(struct mb_dev *dev, const struct mb_geometry *geo,
			 const struct mb_open_opts *opts)
{
	return mb_mballoc_format(dev, geo, opts);
}

/*
 * Every check first, then the file: a failed format leaves nothing behind
 * (a file it created is removed, an existing one gets its size back; its
 * bytes change only when a write itself failed).
 */
int mb_volume_format(const char *path, const struct mb_geometry *geo,
		     const struct mb_open_opts *opts)
{
	struct mb_geometry g;
	uint32_t groups;
	struct mb_dev *dev;
	struct stat st;

	if (!path || !geo || mb_geometry_validate(geo, &g, &groups) ||
	    (opts && !mb_zeroed(opts->spare, sizeof(opts->spare))))
		return -EINVAL;
	if (g.blocks_count > UINT64_MAX / g.block_size || mb_mballoc_format_check(geo, opts))
		return -EINVAL;
	bool existed = !stat(path, &st);
	int err = mb_dev_open_file(path, false, g.blocks_count * g.block_size, &dev);

	bool opened = !err;

	if (opened) {
		err = mb_volume_format_dev(dev, geo, opts);
		mb_dev_close(dev);
	}
	if (err && !existed) {
		unlink(path);
	} else if (err && opened && S_ISREG(st.st_mode)) {
		int undo = truncate(path, st.st_size); /* the format's error says more */

		(void)undo;
	}
	return err;
}

/*
 * The volume on the store, its group table read and its counters seeded;
 * nothing written yet.  On failure the store is gone, the device is not.
 */
static int mb_open_build(struct mb_persist *p, struct mb_volume **out)
{
	struct mb_volume *vol;
	int err = mb_volume_create_on(&p->sb.geo, &p->store, &vol);

	if (err) {
		p->dev = NULL;
		p->store.ops->destroy(&p->store);
		return err;
	}
	err = mb_mballoc_read_groups(p);
	if (!err)
		err = mb_groups_seed(vol);
	if (err) {
		p->dev = NULL; /* the caller keeps the device */
		mb_volume_destroy(vol); /* and the store with it */
		return err;
	}
	*out = vol;
	return 0;
}

/*
 * Validates everything before writing anything: a failed open leaves the
 * device as it was.
 */
int mb_volume_open_dev(struct mb_dev *dev, const struct mb_open_opts *opts,
		       struct mb_volume **out)
{
	bool ro = opts && opts->read_only;
	uint64_t before = atomic_load_explicit(&dev->bytes_read, memory_order_relaxed);
	struct mb_volume *vol = NULL;
	struct mb_persist *p;
	int err;

	if (!out || (opts && !mb_zeroed(opts->spare, sizeof(opts->spare))))
		return -EINVAL;
	err = mb_mballoc_open(dev, ro, &p);
	if (err)
		return err;
	err = mb_open_build(p, &vol);
	if (err)
		return err;
	p->open_bytes_read = atomic_load_explicit(&dev->bytes_read, memory_order_relaxed) - before;
	if (!ro)
		err = mb_mballoc_mark_in_use(p);
	if (!err)
		err = mb_committer_start(&p->c, opts ? opts->commit_interval_s
						    : MB_COMMIT_INTERVAL_DEFAULT);
	if (err) {
		p->dev = NULL; /* the caller keeps the device */
		mb_volume_destroy(vol);
		return err;
	}
	*out = vol;
	return 0;
}

/* Why this thread's last open failed, in words (mb_volume_open_error). */
static _Thread_local const char *mb_open_why;

const char *mb_volume_open_error(void)
{
	return mb_open_why;
}

void mb_volume_open_error_set(const char *why)
{
	mb_open_why = why;
}

int mb_volume_open_ext4(const char *path, const struct mb_open_opts *opts,
			struct mb_volume **out)
{
	struct mb_geometry geo;
	struct mb_volume *vol;
	struct mb_store *st;
	int err;

	mb_open_why = NULL;
	if (!path || !out || (opts && !mb_zeroed(opts->spare, sizeof(opts->spare))))
		return -EINVAL;
	err = mb_store_ext4_new(path, !opts || opts->read_only, &st, &geo, &mb_open_why);
	if (err)
		return err;
	err = mb_volume_create_on(&geo, st, &vol);
	if (err) {
		st->ops->destroy(st);
		mb_open_why = "its geometry is outside what the allocator supports";
		return err;
	}
	err = mb_groups_seed(vol);
	if (err) {
		mb_volume_destroy(vol); /* and the store with it */
		mb_open_why = "a group descriptor counts more free blocks than its group has";
		return err;
	}
	*out = vol;
	return 0;
}

int mb_volume_open(const char *path, const struct mb_open_opts *opts, struct mb_volume **out)
{
	struct mb_dev *dev;

	mb_open_why = NULL;
	if (!path || !out)
		return -EINVAL;
	int err = mb_dev_open_file(path, opts && opts->read_only, 0, &dev);

	if (err)
		return err;
	err = mb_volume_open_dev(dev, opts, out);
	if (err)
		mb_dev_close(dev);
	if (err != -EINVAL || !mb_ext4_probe(path))
		return err;
	/* not ours, but an ext4 image: inspecting opens only */
	if (!opts || !opts->read_only) {
		mb_open_why = "ext4 images open read-only here (mb_volume_open_ext4 "
			      "gives a scratch volume)";
		return -EROFS;
	}
	return mb_volume_open_ext4(path, opts, out);
}

int mb_volume_open_callbacks(const struct mb_geometry *geo,
			     const struct mb_store_callbacks *cb,
			     const struct mb_open_opts *opts, struct mb_volume **out)
{
	struct mb_volume *vol;
	struct mb_store *st;
	int err;

	if (!geo || !cb || !cb->load || !cb->commit || !out ||
	    !mb_zeroed(cb->spare, sizeof(cb->spare)) ||
	    (opts && !mb_zeroed(opts->spare, sizeof(opts->spare))))
		return -EINVAL;
	err = mb_store_callbacks_new(cb, opts && opts->read_only, &st);
	if (err)
		return err;
	err = mb_volume_create_on(geo, st, &vol);
	if (err) {
		st->ops->destroy(st);
		return err;
	}
	err = mb_groups_seed(vol);
	if (!err)
		err = mb_committer_start(st->committer, opts ? opts->commit_interval_s
							  : MB_COMMIT_INTERVAL_DEFAULT);
	if (err) {
		mb_volume_destroy(vol);
		return err;
	}
	*out = vol;
	return 0;
}

int mb_commit(struct mb_volume *vol)
{
	if (!vol || !vol->store->committer)
		return -EINVAL;
	return mb_committer_commit(vol->store->committer);
}

int mb_volume_close(struct mb_volume *vol)
{
	struct mb_store *st;
	int err = 0;

	if (!vol)
		return 0;
	st = vol->store;
	if (st->committer && !mb_store_read_only(st)) {
		mb_committer_stop(st->committer);
		err = mb_committer_commit(st->committer);
	}
	if (!err && st->ops->mark_clean)
		err = st->ops->mark_clean(st);
	mb_volume_destroy(vol);
	return err;
}

void mb_volume_info(struct mb_volume *vol, struct mb_volume_info *info)
{
	memset(info, 0, sizeof(*info));
	info->geo = vol->geo;
	info->groups = vol->ngroups;
	info->free_blocks = mb_free_blocks(vol);
	if (vol->store->ops->info)
		vol->store->ops->info(vol->store, info);
}

int mb_volume_verify(struct mb_volume *vol, char *buf, size_t buflen)
{
	size_t used = 0;
	int problems = 0;

	if (buf && buflen)
		buf[0] = 0;
	for (mb_grp_t g = 0; g < vol->ngroups; g++) {
		struct mb_group *grp = mb_group_at(vol, g);

		mb_lock(&grp->bb_lock);
		int err = mb_group_load_locked(vol, grp);
		mb_unlock(&grp->bb_lock);
		if (!err)
			continue;
		problems++;
		if (buf && used + 1 < buflen) {
			int n = snprintf(buf + used, buflen - used, "group %u: bitmap unreadable: %s\n",
					 g, err == -EUCLEAN ? "checksum or contents do not match "
							      "the descriptor" : "I/O error");
			used += n > 0 && (size_t)n < buflen - used ? (size_t)n : buflen - used - 1;
		}
	}
	int n = mb_check(vol, buf ? buf + used : NULL, buf ? buflen - used : 0);

	return n < 0 ? n : problems + n;
}
