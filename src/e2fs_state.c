/* SPDX-License-Identifier: MIT */
/*
 * e2fs_state.c - what an attachment keeps between hook calls: the slot
 * table that finds it from an ext2_filsys, its files (the inode a data
 * allocation goes to) and the runs handed out but not yet confirmed.
 * Both e2fs.c (the API) and e2fs_hook.c (the hooks) use it; it uses
 * neither, so the two do not import each other.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mb_int.h"

#ifdef MB_HAVE_EXT2FS
#include "e2fs.h"

/*
 * Attachments, found from the ext2_filsys a hook receives (fs->priv_data
 * belongs to the application).  Slots are claimed with a CAS at attach and
 * read with acquire loads by the hooks: no lock on the hook path.
 */
#define MB_E2FS_SLOTS 64
static _Atomic(struct mb_e2fs *) mb_e2fs_slots[MB_E2FS_SLOTS];

struct mb_e2fs *mb_e2fs_lookup(ext2_filsys fs)
{
	for (int i = 0; i < MB_E2FS_SLOTS; i++) {
		/* acquire: pairs with the release CAS in mb_e2fs_register */
		struct mb_e2fs *e = atomic_load_explicit(&mb_e2fs_slots[i], memory_order_acquire);

		if (e && e->fs == fs)
			return e;
	}
	return NULL;
}

int mb_e2fs_register(struct mb_e2fs *e)
{
	for (int i = 0; i < MB_E2FS_SLOTS; i++) {
		struct mb_e2fs *none = NULL;

		if (atomic_compare_exchange_strong_explicit(
			&mb_e2fs_slots[i], &none, e, memory_order_release, memory_order_relaxed))
			return 0;
	}
	return -EBUSY;
}

void mb_e2fs_unregister(struct mb_e2fs *e)
{
	for (int i = 0; i < MB_E2FS_SLOTS; i++) {
		struct mb_e2fs *me = e;

		if (atomic_compare_exchange_strong_explicit(
			&mb_e2fs_slots[i], &me, NULL, memory_order_release, memory_order_relaxed))
			return;
	}
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

struct mb_e2fs_file *mb_e2fs_file_find(struct mb_e2fs *e, uint32_t ino)
{
	if (!ino)
		return NULL;
	for (size_t i = 0; i < e->nfiles; i++)
		if (e->files[i].ino == ino)
			return &e->files[i];
	return NULL;
}

struct mb_e2fs_file *mb_e2fs_file_add(struct mb_e2fs *e, uint32_t ino)
{
	struct mb_e2fs_file *f;

	if (e->nfiles == e->files_cap) {
		size_t cap = e->files_cap ? 2 * e->files_cap : 8;
		void *p = realloc(e->files, cap * sizeof(*e->files));

		if (!p)
			return NULL;
		e->files = p;
		e->files_cap = cap;
	}
	f = &e->files[e->nfiles];
	*f = (struct mb_e2fs_file){.ino = ino};
	if (mb_file_open(e->vol, ino, &f->file))
		return NULL;
	e->nfiles++;
	return f;
}

/* Discards f's preallocations and forgets it (no sync: hooks call it). */
void mb_e2fs_file_drop(struct mb_e2fs *e, struct mb_e2fs_file *f)
{
	if (e->cur_ino == f->ino)
		e->cur_ino = 0;
	if (e->auto_ino == f->ino)
		e->auto_ino = 0;
	mb_file_close(f->file);
	*f = e->files[--e->nfiles];
}

struct mb_e2fs_file *mb_e2fs_file_for(struct mb_e2fs *e, uint32_t ino,
				      const struct ext2_inode *inode, uint64_t lblk)
{
	struct mb_e2fs_file *f = mb_e2fs_file_find(e, ino), *prev;
	uint64_t size = lblk + 1;

	if (f)
		return f;
	/* One auto-begun file at a time: ext4 drops an inode's PAs when it
	   is evicted, and the caller said nothing about this one's life. */
	if ((prev = mb_e2fs_file_find(e, e->auto_ino)))
		mb_e2fs_file_drop(e, prev);
	if (!(f = mb_e2fs_file_add(e, ino)))
		return NULL;
	if (inode) {
		uint64_t isize = EXT2_I_SIZE(inode);
		uint64_t blocks = (isize + e->fs->blocksize - 1) / e->fs->blocksize;

		size = blocks > size ? blocks : size;
	}
	f->auto_begun = true;
	e->auto_ino = ino;
	mb_file_set_size(f->file, size);
	return f;
}

/* ------------------------------------------------------------------------ */
/* Runs handed out and not yet confirmed                                     */
/* ------------------------------------------------------------------------ */

int mb_e2fs_pending_add(struct mb_e2fs *e, uint64_t start, uint64_t len)
{
	struct mb_e2fs_run *last = e->npending ? &e->pending[e->npending - 1] : NULL;

	if (last && last->start + last->len == start) {
		last->len += len;
		return 0;
	}
	if (e->npending == e->pending_cap) {
		size_t cap = e->pending_cap ? 2 * e->pending_cap : 64;
		void *p = realloc(e->pending, cap * sizeof(*e->pending));

		if (!p)
			return -ENOMEM;
		e->pending = p;
		e->pending_cap = cap;
	}
	e->pending[e->npending++] = (struct mb_e2fs_run){start, len};
	return 0;
}

bool mb_e2fs_pending_has(const struct mb_e2fs *e, uint64_t b)
{
	for (size_t i = 0; i < e->npending; i++)
		if (b >= e->pending[i].start && b - e->pending[i].start < e->pending[i].len)
			return true;
	return false;
}

#endif /* MB_HAVE_EXT2FS */
