/* SPDX-License-Identifier: MIT */
/*
 * prealloc.c - preallocations (PAs): inode PAs owned by a file and keyed by
 * logical block, group PAs owned by a per-CPU locality group; their
 * creation (under the group lock that marked them used), use, release and
 * discard.
 *
 * An inode PA covers [pa_pstart, pa_pstart + pa_len) for its whole life
 * and that whole range stays used in the buddy.  Inside it, a block is
 * unused (counted in pa_free) exactly when it is clear on disk and not a
 * pending free; a block the file frees inside a live PA comes back to the
 * PA, not to the buddy (free.c), so that invariant holds even when callers
 * free blocks of a file that still has preallocations.  A group PA hands
 * out blocks from its front: its unused part is [pa_pstart, +pa_free).
 *
 * Ownership (see struct mb_pa): PA state lives under its group's bb_lock;
 * the memory belongs to the owner, whose tree / buckets only the owner
 * touches (f_data_sem / lg_mutex).  Anyone holding the group lock may
 * discard a PA; the owner frees a deleted PA when it next finds it.  So the fast
 * path -- a request served from its file's PA -- takes the file's mutex and
 * one group lock, and nothing else; served from its locality group's PA,
 * the lg's mutex too.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_ctx.h"
#include "percpu.h"
#include "probe.h"
#include "store.h"

/* The USDT probes' semaphores (probe.h), defined once: here, with the PA hit. */
MB_PROBE_SEMAPHORES_DEFINE

/*
 * PAs and files are written on every fast-path hit by the thread that owns
 * them; whole cache lines each keep two threads' objects from sharing one.
 * The lines come from a plain malloc of a line more, aligned here: glibc's
 * aligned_alloc (_int_memalign) cost ~440 instructions a call, some 1,400
 * new PAs a run of aging:8m64k:file (1882 -> 1866 instructions a call).
 * The word before the first line names the block malloc returned (malloc
 * aligns to at least a pointer, so the line boundary past that word lies
 * within MB_CACHELINE bytes of it); mb_free_lines gives the block back.
 */
_Static_assert(_Alignof(max_align_t) >= sizeof(void *), "room for the word before the lines");

void *mb_zalloc_lines(size_t size)
{
	size_t bytes = (size + MB_CACHELINE - 1) & ~(size_t)(MB_CACHELINE - 1);
	char *raw = malloc(bytes + MB_CACHELINE);
	uintptr_t at;

	if (!raw)
		return NULL;
	at = ((uintptr_t)raw + sizeof(void *) + MB_CACHELINE - 1) & ~(uintptr_t)(MB_CACHELINE - 1);
	((void **)at)[-1] = raw;
	memset((void *)at, 0, bytes);
	return (void *)at;
}

void mb_free_lines(void *p)
{
	if (p)
		free(((void **)p)[-1]);
}

/*
 * PA memory: every search that may make a PA takes an empty one first
 * (seed fix 2), and most go back unused; a file's PAs come and go every
 * few requests.  A malloc and a free cost hundreds of instructions a pair, so
 * each thread keeps up to MB_PA_CACHE_MAX freed PAs on a list of its own:
 * no lock, no sharing (a PA freed by another thread than made it simply
 * joins that thread's list).  A thread's list is freed when it exits, or
 * leaks if the library is unloaded first (mb_pa_cache_fini).
 * Sanitized builds keep plain malloc/free, so ASan still sees a PA used
 * after it was freed.
 */
#if defined(__SANITIZE_ADDRESS__)
#define MB_PA_CACHE_MAX 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MB_PA_CACHE_MAX 0
#endif
#endif
#ifndef MB_PA_CACHE_MAX
#define MB_PA_CACHE_MAX 32
#endif
#define MB_PA_BYTES ((sizeof(struct mb_pa) + MB_CACHELINE - 1) & ~(size_t)(MB_CACHELINE - 1))

#if MB_PA_CACHE_MAX
struct mb_pa_cached {
	struct mb_pa_cached *next;
};

static _Thread_local struct mb_pa_cached *mb_pa_cache_head MB_TLS_FAST;
static _Thread_local unsigned mb_pa_cache_n MB_TLS_FAST;
static _Thread_local bool mb_pa_cache_keyed MB_TLS_FAST;
static pthread_key_t mb_pa_cache_key;
static pthread_once_t mb_pa_cache_once = PTHREAD_ONCE_INIT;
static bool mb_pa_cache_key_ok;

/* Thread exit: the list's memory goes back to malloc. */
static void mb_pa_cache_drain(void *unused)
{
	(void)unused;
	while (mb_pa_cache_head) {
		struct mb_pa_cached *c = mb_pa_cache_head;

		mb_pa_cache_head = c->next;
		mb_free_lines(c);
	}
	mb_pa_cache_n = 0;
}

static void mb_pa_cache_key_init(void)
{
	mb_pa_cache_key_ok = !pthread_key_create(&mb_pa_cache_key, mb_pa_cache_drain);
}

/*
 * The library is unloaded (dlclose) or the process exits: threads still
 * alive must not run mb_pa_cache_drain, which goes away with the library.
 * Without the key their lists are never drained: at most MB_PA_CACHE_MAX
 * PAs per thread leak, instead of a jump into unmapped code at their exit.
 * This thread's own list is drained here.
 */
__attribute__((destructor)) static void mb_pa_cache_fini(void)
{
	if (mb_pa_cache_key_ok)
		pthread_key_delete(mb_pa_cache_key);
	mb_pa_cache_drain(NULL);
}

/* Whether this thread may keep a list: its exit must drain it. */
static inline bool mb_pa_cache_usable(void)
{
	if (MB_LIKELY(mb_pa_cache_keyed))
		return true;
	pthread_once(&mb_pa_cache_once, mb_pa_cache_key_init);
	/* any non-NULL value: the destructor runs only for those */
	mb_pa_cache_keyed = mb_pa_cache_key_ok &&
			    !pthread_setspecific(mb_pa_cache_key, &mb_pa_cache_keyed);
	return mb_pa_cache_keyed;
}
#endif

#if MB_PA_CACHE_MAX
/*
 * A cached PA made new: every field zero, as mb_zalloc_lines leaves one
 * (mb_pa_alloc sets the lists, pa_bucket and pa_clean_off after).  Field
 * by field, not a memset of its 128 bytes, which gcc made a rep stos of 16
 * words: aging:8m64k:file 1697 -> 1692, aging:triangle:file 1856 -> 1848
 * instructions a call.  A new field of struct mb_pa must be zeroed here
 * (test_pa_last checks a recycled PA's fields).
 */
_Static_assert(sizeof(void *) != 8 || sizeof(struct mb_pa) == 128,
	       "a new field of struct mb_pa: zero it in mb_pa_zero");
_Static_assert(offsetof(struct mb_pa, pa_node) == offsetof(struct mb_pa, pa_tnode.left) &&
		       sizeof(struct mb_list) == 2 * sizeof(struct mb_avl_node *),
	       "pa_node covers pa_tnode's links, which mb_pa_zero leaves to it");

static inline void mb_pa_zero(struct mb_pa *pa)
{
	pa->pa_pstart = 0;
	pa->pa_lstart = 0;
	pa->pa_len = 0;
	pa->pa_free = 0;
	pa->pa_deleted = false;
	pa->pa_release_pending = false;
	pa->pa_type = 0;
	pa->pa_group = 0;
	pa->pa_front_end = 0;
	/* left and right lie under pa_node, which mb_pa_alloc sets next */
	pa->pa_tnode.parent = NULL;
	pa->pa_tnode.height = 0;
	pa->pa_file = NULL;
	pa->pa_lg = NULL;
}
#endif

struct mb_pa *mb_pa_alloc(void)
{
	struct mb_pa *pa = NULL;

#if MB_PA_CACHE_MAX
	if ((pa = (struct mb_pa *)mb_pa_cache_head)) {
		mb_pa_cache_head = mb_pa_cache_head->next;
		mb_pa_cache_n--;
		mb_pa_zero(pa);
	}
#endif
	if (!pa && !(pa = mb_zalloc_lines(sizeof(*pa))))
		return NULL;
	mb_list_init(&pa->pa_group_list);
	mb_list_init(&pa->pa_node); /* an inode PA's pa_tnode is set on insert */
	mb_list_init(&pa->pa_tmp_list);
	pa->pa_bucket = -1;
	pa->pa_clean_off = UINT32_MAX; /* its creator may know better */
	return pa;
}

/* mb_pa_free's body: inline in mb_pa_forget, which frees every used-up PA */
static inline __attribute__((always_inline)) void mb_pa_free_inline(struct mb_pa *pa)
{
#if MB_PA_CACHE_MAX
	if (mb_pa_cache_n < MB_PA_CACHE_MAX && mb_pa_cache_usable()) {
		struct mb_pa_cached *c = (struct mb_pa_cached *)pa;

		c->next = mb_pa_cache_head;
		mb_pa_cache_head = c;
		mb_pa_cache_n++;
		return;
	}
#endif
	mb_free_lines(pa);
}

void mb_pa_free(struct mb_pa *pa)
{
	mb_pa_free_inline(pa);
}

static inline mb_fsblk_t mb_pa_end(const struct mb_pa *pa)
{
	return pa->pa_pstart + pa->pa_len;
}

/*
 * A PA's group needs no mb_group_at (its setup check, ~8 instructions a PA
 * hit): the group was set up before the PA was made in it (under its
 * bb_lock), setup is never undone (MB_GRP_SETUP), and whoever reaches the
 * PA does so through a lock its creator released after (f_data_sem,
 * lg_mutex or bb_lock), which orders the setup before us.
 */
static inline struct mb_group *mb_pa_grp(struct mb_volume *vol, const struct mb_pa *pa)
{
	struct mb_group *grp = &vol->groups[pa->pa_group];

	assert(atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_SETUP);
	return grp;
}

/* ------------------------------------------------------------------------ */
/* A file's PA tree (f_data_sem)                                             */
/* ------------------------------------------------------------------------ */

/*
 * A file's inode PAs are disjoint logical ranges, kept in an AVL tree by
 * pa_lstart (constant for an inode PA), as ext4 keeps them in an rbtree
 * since 6.4: the PA covering a block, and the PAs overlapping a window,
 * are found in O(log n) however many PAs the file's history left.
 */
static inline struct mb_pa *mb_tnode_pa(const struct mb_avl_node *n)
{
	return n ? MB_CONTAINER_OF(n, struct mb_pa, pa_tnode) : NULL;
}

static int mb_pa_cmp(const struct mb_avl_node *a, const struct mb_avl_node *b)
{
	uint64_t x = mb_tnode_pa(a)->pa_lstart, y = mb_tnode_pa(b)->pa_lstart;

	return x < y ? -1 : x > y;
}

static int mb_pa_key_cmp(const void *key, const struct mb_avl_node *n)
{
	uint64_t l = *(const uint64_t *)key, s = mb_tnode_pa(n)->pa_lstart;

	return l < s ? -1 : l > s;
}

/* The file's PA with the greatest pa_lstart <= lblk, or NULL. */
static inline struct mb_pa *mb_file_pa_floor(const struct mb_file *file, uint64_t lblk)
{
	return mb_tnode_pa(mb_avl_floor(&file->f_pa_tree, &lblk, mb_pa_key_cmp));
}

/*
 * The file's PA covering lblk, or NULL (f_data_sem held).  An appending
 * file asks its last PA again and again: f_pa_last answers without the
 * tree walk.  The same PA the tree gives: the tree's PAs are disjoint (a
 * deleted one too, until forgotten: normalization trims against it), so
 * the one covering lblk is its floor.  mb_file_insert_pa sets it (the
 * newest PA serves the next request), mb_file_remove_pa clears it.
 */
static inline struct mb_pa *mb_file_pa_covering(struct mb_file *file, uint64_t lblk)
{
	struct mb_pa *pa = file->f_pa_last;

	if (pa && lblk - pa->pa_lstart < pa->pa_len) /* wraps when lblk < pa_lstart */
		return pa;
	pa = mb_file_pa_floor(file, lblk);
	if (!pa || lblk >= pa->pa_lstart + pa->pa_len)
		return NULL;
	MB_WRITE_ONCE(file->f_pa_last, pa);
	return pa;
}

struct mb_pa *mb_file_pa_from(const struct mb_file *file, uint64_t lblk)
{
	struct mb_pa *pa = mb_file_pa_floor(file, lblk);

	return pa ? pa : mb_tnode_pa(mb_avl_first(&file->f_pa_tree));
}

/* The end (pa_lstart + pa_len) of the file's last PA, 0 if it has none:
   no PA of the file reaches past it (they are disjoint and in order). */
uint64_t mb_file_pa_end(const struct mb_file *file)
{
	const struct mb_pa *pa = mb_tnode_pa(mb_avl_last(&file->f_pa_tree));

	return pa ? pa->pa_lstart + pa->pa_len : 0;
}

/*
 * The file's last PA has no next: answered from the tree's last node, not
 * by the climb to the root mb_avl_next would take (the window trim of
 * every request of an appending file ends there: ~25 instructions).
 */
struct mb_pa *mb_file_pa_next(const struct mb_pa *pa)
{
	return mb_tnode_pa(mb_avl_next(&pa->pa_file->f_pa_tree, &pa->pa_tnode));
}

/* f_npa follows the tree; f_data_sem held, so no other writer. */
static void mb_file_npa_add(struct mb_file *file, int d)
{
	uint32_t n = atomic_load_explicit(&file->f_npa, memory_order_relaxed);

	atomic_store_explicit(&file->f_npa, n + (uint32_t)d, memory_order_relaxed);
}

/*
 * Ties cannot happen (disjoint); mb_avl_insert would put it after them.
 * The new PA is the file's last: its next request, inside it, is a fast
 * path hit (mb_pa_fast_alloc tries only a file that names one).
 */
static void mb_file_insert_pa(struct mb_file *file, struct mb_pa *pa)
{
	mb_avl_insert(&file->f_pa_tree, &pa->pa_tnode, mb_pa_cmp);
	mb_file_npa_add(file, 1);
	MB_WRITE_ONCE(file->f_pa_last, pa);
}

static inline __attribute__((always_inline)) void mb_file_remove_pa(struct mb_file *file,
								    struct mb_pa *pa)
{
	if (file->f_pa_last == pa)
		MB_WRITE_ONCE(file->f_pa_last, NULL);
	mb_avl_remove(&file->f_pa_tree, &pa->pa_tnode);
	mb_file_npa_add(file, -1);
}

#define mb_file_for_each_pa(pa, file)                                                              \
	for (pa = mb_tnode_pa(mb_avl_first(&(file)->f_pa_tree)); pa; pa = mb_file_pa_next(pa))

static bool mb_policy_legacy(const struct mb_volume *vol)
{
	return MB_READ_ONCE(vol->t.mb_enospc_policy) == MB_POLICY_LEGACY;
}

/* ------------------------------------------------------------------------ */
/* Returning a PA's unused space to the buddy                                */
/* ------------------------------------------------------------------------ */

/*
 * The first block in [from, end) that is unused (clear on disk and not
 * pending) if `unused`, else the first that is used; end if none.  Four
 * words an iteration past the first: a used-up PA's release and a long
 * take (mb_pa_unused_run_locked) look at every word a PA covers, 32 for
 * 2048 blocks.  Inline: `unused` is a constant at every call.
 */
static inline uint32_t mb_unused_next(const uint64_t *disk, const uint64_t *pending,
				      uint32_t from, uint32_t end, bool unused)
{
#define MB_HIT(i) ((disk[i] | pending[i]) ^ flip)
	uint64_t flip = unused ? ~0ULL : 0, hit;
	uint32_t w, last, i;

	if (from >= end)
		return end;
	w = from >> 6;
	last = (end - 1) >> 6;
	hit = MB_HIT(w) >> (from & 63);
	if (hit) {
		i = from + (uint32_t)__builtin_ctzll(hit);
		return i < end ? i : end;
	}
	for (w++; w + 4 <= last + 1; w += 4)
		if (MB_HIT(w) | MB_HIT(w + 1) | MB_HIT(w + 2) | MB_HIT(w + 3))
			break;
	for (; w <= last; w++)
		if ((hit = MB_HIT(w))) {
			i = (w << 6) + (uint32_t)__builtin_ctzll(hit);
			return i < end ? i : end;
		}
	return end;
#undef MB_HIT
}

/*
 * ext4_mb_release_inode_pa: frees every run of the PA that is clear on
 * disk and not a pending free.  Returns the count (pa_free, when the
 * bookkeeping is right; the bitmap wins, and mb_check reports a mismatch).
 * In a group whose maps are shared its runs are its front and its clean
 * tail (gcache.c), set in bb_disk by the buddy alone: freed in that order,
 * as the scan below would find them.
 */
static uint32_t mb_release_inode_pa_locked(struct mb_volume *vol, struct mb_group *grp,
					   struct mb_pa *pa)
{
	uint32_t start = mb_block_offset(vol, pa->pa_pstart), end = start + pa->pa_len;
	const uint64_t *pending = mb_group_pending_map(vol, grp);
	uint32_t n = 0;

	if (grp->bb_bitmap == grp->bb_disk) {
		uint32_t runs[2][2] = { { start, pa->pa_front_end }, { pa->pa_clean_off, end } };

		assert(pa->pa_front_end <= pa->pa_clean_off && pa->pa_clean_off <= end);
		for (int r = 0; r < 2; r++) {
			uint32_t i = runs[r][0], j = runs[r][1];

			if (i >= j)
				continue;
			if (mb_buddy_free(vol, grp, i, j - i))
				mb_group_set_corrupt_locked(vol, grp);
			mb_probe_release_inode_pa(vol, pa, pa->pa_pstart + (i - start), j - i);
			n += j - i;
		}
		assert(n == pa->pa_free);
		return n;
	}
	for (uint32_t i = mb_unused_next(grp->bb_disk, pending, start, end, true); i < end;) {
		uint32_t j = mb_unused_next(grp->bb_disk, pending, i, end, false);

		if (mb_buddy_free(vol, grp, i, j - i))
			mb_group_set_corrupt_locked(vol, grp);
		mb_probe_release_inode_pa(vol, pa, pa->pa_pstart + (i - start), j - i);
		n += j - i;
		i = mb_unused_next(grp->bb_disk, pending, j, end, true);
	}
	return n;
}

/*
 * A deleted PA leaves its group's list; bb_lock held.  Its group's last PA
 * gives the group back to gcache.c, unless the group is in the quiet ring
 * (hot: mb_gcache_share_locked would keep its copy and do nothing), which
 * is tested here, with no call: 7,700 of 9,900 last PAs a run of
 * aging:triangle:file, most of 8,400 in aging:8m64k:file; 1302 -> 1299
 * and 1202 -> 1200 instructions a call.
 */
static void mb_pa_unlist_locked(struct mb_volume *vol, struct mb_group *grp, struct mb_pa *pa)
{
	pa->pa_release_pending = false;
	mb_list_del(&pa->pa_group_list);
	if (mb_list_empty(&grp->bb_prealloc_list) &&
	    !(atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_QUIET))
		mb_gcache_share_locked(vol, grp); /* its last PA: one bitmap again */
}

/*
 * Returns a deleted PA's unused space to the buddy and takes it off the
 * group list; bb_lock held.  Returns the blocks freed.
 */
static uint32_t mb_pa_release_locked(struct mb_volume *vol, struct mb_group *grp,
				     struct mb_pa *pa)
{
	uint32_t n = 0;

	mb_assert_locked(&grp->bb_lock);
	assert(pa->pa_deleted);
	if (pa->pa_type == MB_INODE_PA) {
		n = mb_release_inode_pa_locked(vol, grp, pa);
	} else if (pa->pa_free) {
		mb_probe_release_group_pa(vol, pa);
		n = pa->pa_free;
		if (mb_buddy_free(vol, grp, mb_block_offset(vol, pa->pa_pstart), n))
			mb_group_set_corrupt_locked(vol, grp);
	}
	mb_pa_unlist_locked(vol, grp, pa);
	mb_stat_add(vol, MB_ST_DISCARDED, n);
	return n;
}

/* Tears down a live PA: deleted, space back, off the group list. */
static uint32_t mb_pa_discard_locked(struct mb_volume *vol, struct mb_group *grp,
				     struct mb_pa *pa)
{
	pa->pa_deleted = true;
	return mb_pa_release_locked(vol, grp, pa);
}

/*
 * Retires a live PA its last take used up (pa_free 0); bb_lock held.
 * Nothing is unused, so there is nothing to return and no block to look
 * at: mb_pa_release_locked's scan of a used-up inode PA finds no run (it
 * cost ~490 instructions for 2048 blocks, 8% of aging:8m64k:file), and
 * ext4 does not scan one either (ext4_mb_put_pa only unlinks it).
 */
static void mb_pa_retire_locked(struct mb_volume *vol, struct mb_group *grp, struct mb_pa *pa)
{
	mb_assert_locked(&grp->bb_lock);
	assert(!pa->pa_free && !pa->pa_deleted);
	assert(pa->pa_type != MB_INODE_PA ||
	       mb_unused_next(grp->bb_disk, mb_group_pending_map(vol, grp),
			      mb_block_offset(vol, pa->pa_pstart),
			      mb_block_offset(vol, pa->pa_pstart) + pa->pa_len,
			      true) == mb_block_offset(vol, pa->pa_pstart) + pa->pa_len);
	pa->pa_deleted = true;
	mb_pa_unlist_locked(vol, grp, pa);
}

/* ------------------------------------------------------------------------ */
/* Discard                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * ext4_mb_discard_group_preallocations, the ENOSPC reclaimer.  Everything
 * happens under one hold of the group lock (the 2020 follow-up "discard
 * preallocations before releasing group lock"), so nothing is ever hidden
 * on a private list while the lock is free.  A PA found deleted but still
 * listed belongs to a legacy-style discard in flight: under the seq policy
 * that is reported as *busy (its space will reappear, and the discard
 * signals the space event when it has: wait); the legacy policy skips it,
 * as ext4 did before the series.
 */
int64_t mb_discard_group_preallocations(struct mb_volume *vol, mb_grp_t g, uint32_t needed,
					bool *busy)
{
	struct mb_group *grp = mb_group_at(vol, g);
	struct mb_list list, *pos, *tmp;
	int64_t freed = 0;

	(void)needed; /* a group's PAs all go: they are few and ext4 does so too */
	mb_list_init(&list);
	mb_lock(&grp->bb_lock);
	mb_list_for_each(pos, &grp->bb_prealloc_list)
	{
		struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_group_list);

		if (pa->pa_deleted) {
			*busy |= !mb_policy_legacy(vol);
			continue;
		}
		pa->pa_deleted = true;
		mb_list_add_tail(&pa->pa_tmp_list, &list);
	}
	if (!mb_list_empty(&list))
		mb_seq_bump(vol); /* only when a PA was taken: no dead loop */
	MB_HOOK(vol, MB_HOOK_DISCARD_COLLECTED, g, 0);
	mb_list_for_each_safe(pos, tmp, &list)
	{
		struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_tmp_list);

		freed += mb_pa_release_locked(vol, grp, pa);
		mb_list_del(&pa->pa_tmp_list);
	}
	mb_unlock(&grp->bb_lock);
	return freed;
}

/*
 * Legacy file discard, as ext4 before 5.8: first mark every PA deleted (each
 * under its group lock), then return their space in a second pass.  Between
 * the two, other threads see the PAs neither usable nor discardable (race
 * 3 of the seed letter).
 */
static int64_t mb_discard_file_pas_legacy(struct mb_volume *vol, struct mb_file *file)
{
	struct mb_pa *pa;
	int64_t freed = 0;

	mb_file_for_each_pa(pa, file)
	{
		struct mb_group *grp = mb_pa_grp(vol, pa);

		mb_lock(&grp->bb_lock);
		if (!pa->pa_deleted)
			pa->pa_deleted = pa->pa_release_pending = true;
		mb_unlock(&grp->bb_lock);
	}
	MB_HOOK(vol, MB_HOOK_DISCARD_COLLECTED, UINT32_MAX, 0);
	mb_file_for_each_pa(pa, file)
	{
		struct mb_group *grp = mb_pa_grp(vol, pa);

		mb_lock(&grp->bb_lock);
		if (pa->pa_release_pending)
			freed += mb_pa_release_locked(vol, grp, pa);
		mb_unlock(&grp->bb_lock);
	}
	/* a seq-policy allocator may have seen these PAs in flight (*busy in
	   mb_discard_group_preallocations) and sleep until they are back */
	mb_space_returned(vol);
	return freed;
}

/* Frees the memory of every PA in the file's tree (all deleted by now). */
static void mb_file_free_pas(struct mb_file *file)
{
	while (!mb_avl_empty(&file->f_pa_tree)) {
		/* the last: no walk, and no unlink if it is held out */
		struct mb_pa *pa = mb_tnode_pa(mb_avl_last(&file->f_pa_tree));

		assert(pa->pa_deleted && !mb_list_linked(&pa->pa_group_list));
		mb_file_remove_pa(file, pa);
		mb_pa_free(pa);
	}
}

/*
 * Discards a file's inode PAs (truncate, close).  Caller holds f_data_sem.
 * Each PA is torn down in one hold of its group lock.  Returns blocks freed.
 */
int64_t mb_discard_file_preallocations(struct mb_file *file)
{
	struct mb_volume *vol = file->f_vol;
	struct mb_pa *pa;
	int64_t freed = 0;

	mb_assert_locked(&file->f_data_sem);
	mb_probe_discard_preallocations(file);
	if (mb_policy_legacy(vol)) {
		freed = mb_discard_file_pas_legacy(vol, file);
	} else {
		mb_file_for_each_pa(pa, file)
		{
			struct mb_group *grp = mb_pa_grp(vol, pa);

			mb_lock(&grp->bb_lock);
			if (!pa->pa_deleted)
				freed += mb_pa_discard_locked(vol, grp, pa);
			mb_unlock(&grp->bb_lock);
		}
		if (!mb_avl_empty(&file->f_pa_tree)) {
			mb_seq_bump(vol);
			MB_HOOK(vol, MB_HOOK_DISCARD_COLLECTED, UINT32_MAX, 0);
		}
	}
	mb_file_free_pas(file);
	return freed;
}

/* ------------------------------------------------------------------------ */
/* Using PAs                                                                 */
/* ------------------------------------------------------------------------ */

/* A take longer than a word: out of line, so the one-word hits keep their registers. */
static __attribute__((noinline)) uint32_t mb_unused_run_long(const uint64_t *disk,
							     const uint64_t *pending, uint32_t off,
							     uint32_t len)
{
	return mb_unused_next(disk, pending, off, off + len, false) - off;
}

/* How many of [off, off + len) from off on are unused: clear on disk, not pending. */
static inline uint32_t mb_pa_unused_run_locked(struct mb_volume *vol, struct mb_group *grp,
					       mb_grpblk_t off, uint32_t len)
{
	const uint64_t *disk = grp->bb_disk, *pending = mb_group_pending_map(vol, grp);
	uint32_t b = off & 63;

	if (MB_LIKELY(b + len <= 64)) { /* a hit's few blocks: one word of each map */
		uint64_t used = (disk[off >> 6] | pending[off >> 6]) >> b;
		uint32_t n = used ? (uint32_t)__builtin_ctzll(used) : 64 - b;

		return n < len ? n : len;
	}
	return mb_unused_run_long(disk, pending, off, len);
}

/*
 * Whether a take from group offset off (to at most the PA's end) lies in
 * pa's clean tail (struct mb_pa): all unused, so its run is the whole take
 * and no bitmap word need be read.  An appending file's requests, and a
 * group PA's (always at its front), take there: a request taking the rest
 * of a 2048-block PA read up to 32 words of two maps (~110 instructions a
 * take in aging:8m64k:file), a one-word hit its run's word and pending's.
 */
static inline bool mb_pa_in_clean_tail(const struct mb_pa *pa, mb_grpblk_t off)
{
	return off >= pa->pa_clean_off;
}

/*
 * A take past pa's pa_clean_off leaves a hole below its new clean tail,
 * and one below pa_front_end a hole in its front: unused blocks that
 * neither run names, so the group's maps must be apart first (gcache.c).
 * 0, or -ENOMEM (then the PA is not used).  Out of line: such takes are
 * rare in a file's lanes.  bb_lock held.
 */
static __attribute__((noinline)) int mb_pa_hole_unshare_locked(struct mb_volume *vol,
								struct mb_group *grp)
{
	return mb_gcache_unshare_locked(vol, grp);
}

/* Whether a take at off from pa needs the maps apart first (above). */
static inline bool mb_pa_take_splits(const struct mb_pa *pa, mb_grpblk_t off)
{
	return off > pa->pa_clean_off || off < pa->pa_front_end;
}

/*
 * Whether n is the unused run at off (up to len) of pa's group: on a
 * shared map (gcache.c) all of a take from the tail's start, nothing
 * between the front and the tail (a take elsewhere split the maps); else
 * what the maps say.  For asserts.
 */
static inline __attribute__((unused)) bool mb_pa_run_ok(struct mb_volume *vol,
							 struct mb_group *grp,
							 const struct mb_pa *pa, mb_grpblk_t off,
							 uint32_t len, uint32_t n)
{
	if (grp->bb_bitmap == grp->bb_disk)
		return off < pa->pa_clean_off ? off >= pa->pa_front_end && !n
					      : off == pa->pa_clean_off && n == len;
	return mb_pa_unused_run_locked(vol, grp, off, len) == n;
}

/*
 * The leaves' (mb_pa_fast_leaf*) test of a take at off from pa: in its
 * clean tail -- at the tail's start if grp's maps are shared: a take past
 * it splits them first (mb_pa_fast_take_locked), which the leaves leave to
 * the general path.  bb_lock held (or one thread).
 */
static inline bool mb_pa_leaf_tail(const struct mb_pa *pa, const struct mb_group *grp,
				   mb_grpblk_t off)
{
	if (MB_LIKELY(off == pa->pa_clean_off)) /* an appending file's next blocks */
		return true;
	/* read again: the tail's start kept in no register for this rare
	   case, the likely test is one of the word in memory (file:1 239 ->
	   236 instructions a call) */
	__asm__("" ::: "memory");
	return off > pa->pa_clean_off && grp->bb_bitmap != grp->bb_disk;
}

/*
 * Whether [off, off + n) of pa is unused on disk before its take: on a
 * shared map the front of its clean tail (gcache.c), else clear in
 * bb_disk.  For asserts.
 */
static inline __attribute__((unused)) bool mb_pa_take_clear(const struct mb_group *grp,
							    const struct mb_pa *pa,
							    mb_grpblk_t off, uint32_t n)
{
	if (grp->bb_bitmap == grp->bb_disk)
		return off == pa->pa_clean_off;
	return mb_range_all_clear(grp->bb_disk, off, n);
}

/* A take of [off, end) moved the clean tail's start to end at least. */
static inline void mb_pa_clean_after_take(struct mb_pa *pa, mb_grpblk_t end)
{
	if (end > pa->pa_clean_off)
		pa->pa_clean_off = end;
}

/*
 * Marks [off, off + len) of a live PA used on disk and takes it out of
 * pa_free; bb_lock held.  Only the leading blocks that are really unused
 * qualify (the caller may re-write a logical block it already holds).  A
 * PA used up is retired (deleted, off the group list); its owner frees it.
 * Returns the blocks taken.
 */
static uint32_t mb_pa_take_locked(struct mb_ac *ac, struct mb_group *grp, struct mb_pa *pa,
				  mb_grpblk_t off, uint32_t len)
{
	struct mb_volume *vol = ac->vol;

	if (MB_UNLIKELY(mb_pa_take_splits(pa, off)) && mb_pa_hole_unshare_locked(vol, grp))
		return 0; /* no memory to split the maps: the regular path serves it */
	uint32_t n = mb_pa_in_clean_tail(pa, off) ? len : mb_pa_unused_run_locked(vol, grp, off, len);

	assert(mb_pa_run_ok(vol, grp, pa, off, len, n));
	if (!n)
		return 0;
	mb_group_mark_disk_used_locked(vol, grp, off, n, ac->flags);
	mb_pa_clean_after_take(pa, off + n);
	pa->pa_free -= n;
	if (pa->pa_type == MB_GROUP_PA) {
		pa->pa_pstart += n;
		pa->pa_lstart += n;
		pa->pa_len -= n;
	}
	if (!pa->pa_free)
		mb_pa_retire_locked(vol, grp, pa); /* nothing to return */
	ac->b_ex = (struct mb_fex){ mb_group_no(vol, grp), off, n, ac->o_ex.fe_logical };
	return n;
}

/* mb_pa_serve's verdicts. */
enum mb_serve { MB_SERVE_DELETED = -1, MB_SERVE_NO = 0, MB_SERVE_OK = 1, MB_SERVE_USED_UP = 2 };

/*
 * Serves the request from pa if it is still live.  Everything about the PA
 * is decided under its group lock: afterwards the owner may only act on the
 * verdict (a PA a discarder deleted may still be on that discarder's list
 * until it drops the lock, so its memory can be freed only after that).
 */
static enum mb_serve mb_pa_serve(struct mb_ac *ac, struct mb_pa *pa, mb_fsblk_t start,
				  uint32_t len)
{
	struct mb_volume *vol = ac->vol;
	struct mb_group *grp = mb_pa_grp(vol, pa);
	enum mb_serve ret = MB_SERVE_DELETED;

	mb_lock(&grp->bb_lock);
	if (!pa->pa_deleted) {
		ret = MB_SERVE_NO;
		if (mb_pa_take_locked(ac, grp, pa, mb_block_offset(vol, start), len))
			ret = pa->pa_deleted ? MB_SERVE_USED_UP : MB_SERVE_OK;
	}
	mb_unlock(&grp->bb_lock);
	return ret;
}

/* Takes a group PA off its lg bucket, if it is on one; lg_mutex held. */
static void mb_lg_unbucket(struct mb_lg *lg, struct mb_pa *pa)
{
	int b = pa->pa_bucket;

	if (b < 0)
		return;
	mb_list_del(&pa->pa_node);
	if (!--lg->lg_bucket_len[b])
		lg->lg_nonempty &= ~(1u << b);
	pa->pa_bucket = -1;
}

/*
 * The owner unlinks and frees a PA it found deleted: an inode PA from its
 * file's tree (f_data_sem), a group PA from its bucket (lg_mutex).
 */
static void mb_pa_forget(struct mb_pa *pa)
{
	if (pa->pa_type == MB_INODE_PA)
		mb_file_remove_pa(pa->pa_file, pa);
	else
		mb_lg_unbucket(pa->pa_lg, pa);
	mb_pa_free_inline(pa);
}

/* mb_pa_forget of an inode PA, inline where a file's take used it up */
static inline __attribute__((always_inline)) void mb_pa_forget_inode(struct mb_pa *pa)
{
	assert(pa->pa_type == MB_INODE_PA);
	mb_file_remove_pa(pa->pa_file, pa);
	mb_pa_free_inline(pa);
}

/* The PA covering the request's first block, if any: PAs are disjoint. */
static bool mb_use_inode_pa(struct mb_ac *ac)
{
	uint64_t lblk = ac->o_ex.fe_logical;
	struct mb_pa *pa = mb_file_pa_covering(ac->file, lblk);

	if (!pa)
		return false;
	mb_fsblk_t start = pa->pa_pstart + (lblk - pa->pa_lstart);
	uint64_t room = mb_pa_end(pa) - start;
	uint32_t len = ac->o_ex.fe_len < room ? ac->o_ex.fe_len : (uint32_t)room;
	enum mb_serve r = mb_pa_serve(ac, pa, start, len);

	if (r == MB_SERVE_USED_UP || r == MB_SERVE_DELETED)
		mb_pa_forget(pa); /* retired by us, or a discarder took it */
	return r == MB_SERVE_OK || r == MB_SERVE_USED_UP;
}

/*
 * The group PA a request of len blocks goes to (lg_mutex held), as ext4's
 * two looks: one whose next block is the caller's goal (a file continuing
 * it: the first such in bucket order) takes what it has, up to the
 * request; else the PA nearest the goal (the caller's, or the start of the
 * file's home group) with room for all of it, from every bucket of the
 * request's order and up -- ext4_mb_use_preallocated does not stop at the
 * first bucket with a candidate, so a fresh PA near the goal wins over a
 * nearly used-up one far away (test_pa_fidelity).  On a tie the first met
 * wins (bucket, then list order: re-filing moves a PA to the tail).  One
 * pass over the buckets holding PAs answers both.  Both paths -- the
 * regular one and mb_pa_fast_alloc -- choose here.  pa_free and pa_pstart
 * of our lg's PAs change only under lg_mutex, which we hold; pa_deleted is
 * checked under the group lock when serving.
 */
static struct mb_pa *mb_lg_choose_pa(struct mb_lg *lg, bool has_goal, mb_fsblk_t goal,
				     uint32_t len)
{
	int order = mb_fls32(len) - 1;
	uint32_t buckets = lg->lg_nonempty & (has_goal ? ~0u : ~0u << order);
	struct mb_pa *best = NULL;
	uint64_t best_d = 0;

	while (buckets) {
		int b = __builtin_ctz(buckets);
		struct mb_list *pos;

		buckets &= buckets - 1;
		mb_list_for_each(pos, &lg->lg_prealloc_list[b])
		{
			struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_node);
			uint64_t d = pa->pa_pstart > goal ? pa->pa_pstart - goal : goal - pa->pa_pstart;

			if (has_goal && !d)
				return pa;
			if (b < order || pa->pa_free < len)
				continue;
			if (!best || d < best_d) {
				best = pa;
				best_d = d;
			}
		}
	}
	return best;
}

/* mb_lg_choose_pa's choice, served; a PA a discarder deleted is forgotten. */
static bool mb_use_group_pa(struct mb_ac *ac)
{
	struct mb_pa *pa;

	for (;;) {
		pa = mb_lg_choose_pa(ac->lg, ac->goal_block, mb_fex_block(ac->vol, &ac->o_ex),
				     ac->o_ex.fe_len);
		if (!pa)
			return false;
		uint32_t len = ac->o_ex.fe_len < pa->pa_free ? ac->o_ex.fe_len : pa->pa_free;
		enum mb_serve r = mb_pa_serve(ac, pa, pa->pa_pstart, len);

		if (r == MB_SERVE_OK || r == MB_SERVE_USED_UP) {
			ac->pa = pa; /* re-bucketed (or freed, if used up) at release */
			return true;
		}
		if (r == MB_SERVE_NO)
			return false; /* cannot happen: a group PA's front is unused */
		mb_pa_forget(pa); /* deleted by a discarder */
	}
}

/* The PA of lg whose next block is `block` (a file continuing it), or NULL. */
struct mb_pa *mb_lg_pa_at(struct mb_lg *lg, mb_fsblk_t block)
{
	for (int b = 0; b < MB_LG_BUCKETS; b++) {
		struct mb_list *pos;

		mb_list_for_each(pos, &lg->lg_prealloc_list[b])
		{
			struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_node);

			if (pa->pa_pstart == block)
				return pa;
		}
	}
	return NULL;
}

/*
 * The locality group a file's small-file requests go to: the request's
 * CPU's (the one it names, else the one it runs on), as in ext4.
 * Departure mb_lg_sticky: a file that already has one keeps it across
 * migrations, so its blocks keep coming from one group PA (a thread that
 * moves to another CPU mid-file would otherwise start a new extent there).
 * f_lg: f_data_sem, held by our caller.
 */
struct mb_lg *mb_file_lg(struct mb_file *file, const struct mb_request *req)
{
	struct mb_volume *vol = file->f_vol;

	if (file->f_lg && MB_READ_ONCE(vol->t.mb_lg_sticky))
		return file->f_lg;
	return &vol->lgs[mb_req_cpu_slot(vol, req)];
}

static bool mb_pa_hit(struct mb_ac *ac)
{
	ac->status = MB_AC_FOUND;
	ac->f_len = ac->b_ex.fe_len;
	mb_stat_inc(ac->vol, MB_ST_PA_HITS);
	return true;
}

/*
 * ext4_mb_use_preallocated does not look at NOPREALLOC: the hint stops
 * normalization and new PAs, yet a PA that exists still serves the request
 * (an inode PA holding its block, or its locality group's).  Departure
 * mb_noprealloc_no_pa: never from a PA.
 */
static bool mb_may_use_pa(const struct mb_ac *ac)
{
	if (!ac->file || (ac->flags & MB_HINT_GOAL_ONLY))
		return false;
	return !(ac->flags & MB_HINT_NOPREALLOC) || !MB_READ_ONCE(ac->vol->t.mb_noprealloc_no_pa);
}

/*
 * ext4_mb_use_preallocated, first half: the file's own PAs, tried before
 * anything else (the fast path: no group search, no locality group).
 */
bool mb_use_inode_preallocated(struct mb_ac *ac)
{
	return mb_may_use_pa(ac) && mb_use_inode_pa(ac) && mb_pa_hit(ac);
}

/* Second half, once the group-or-file decision is made: the lg's PAs. */
bool mb_use_group_preallocated(struct mb_ac *ac)
{
	/* the flag first: a file's own request (no locality group) is
	   done with one test */
	if (!(ac->flags & MB_HINT_GROUP_ALLOC) || !mb_may_use_pa(ac))
		return false;
	return mb_use_group_pa(ac) && mb_pa_hit(ac);
}

/* ------------------------------------------------------------------------ */
/* The fast path: a plain request its file's PA or its lg's PA serves        */
/* ------------------------------------------------------------------------ */

/*
 * The fast path reads MB_SINGLE_THREADED() once (`one`) for its locks and
 * its claim (mb_lock_one): nothing on it starts a thread -- save a test's
 * hook (MB_HOOK), so with hooks built in every use reads it again, as
 * mb_lock would (a lock taken with `one` may then be released without).
 * 12 instructions a file:1 hit.
 */
#ifdef MB_TESTING
#define mb_pa_one(one) ((one) && MB_SINGLE_THREADED())
#else
#define mb_pa_one(one) (one)
#endif

/*
 * The fast path's holds of f_data_sem and of an inode PA's group lock:
 * mb_lock_one's with one thread; with threads, mb_lock_mt's on the thread's
 * record read once (me) and mb_unlock_mt's, the ranks known,
 * no second test of the thread count (threaded: file:1 331 -> 325,
 * file:16 342 -> 336 instructions a call; one thread equal).
 */
static inline __attribute__((always_inline)) void
mb_pa_lock(struct mb_mutex *mx, int rank, bool one, struct mb_lock_thr *me)
{
	if (one)
		mb_lock_one(mx, mb_pa_one(one));
	else
		mb_lock_mt(mx, rank, me);
}

static inline __attribute__((always_inline)) void
mb_pa_unlock(struct mb_mutex *mx, int rank, bool one)
{
	if (one)
		mb_unlock_one(mx, mb_pa_one(one));
	else
		mb_unlock_mt(mx, rank);
}

/*
 * Requests the fast path may decide: a file's, allowed to use PAs, and
 * with nothing to count (mb_stats counts requests in the allocation
 * context; with it on, every request goes the regular way).
 */
static bool mb_pa_fast_ok(const struct mb_volume *vol, const struct mb_request *req)
{
	assert(req->file); /* mb_alloc_file's request: no test of it here */
	return !(req->flags & (MB_HINT_NOPREALLOC | MB_HINT_GOAL_ONLY)) &&
	       !MB_READ_ONCE(vol->t.mb_stats);
}

/*
 * mb_group_mark_disk_locked's bookkeeping for a live PA's run, whose bits
 * the caller set in bb_disk: in a group with its private in-core copy,
 * the on-disk map; in one whose maps are shared, bits the buddy set when
 * the PA was made (its clean tail's front: gcache.c).  bb_lock held.
 */
static inline __attribute__((always_inline)) void
mb_pa_disk_marked_locked(struct mb_group *grp, uint32_t n)
{
	grp->bg_free -= n;
	mb_group_set_dirty_locked(grp);
}

/*
 * The claim and the marks of mb_pa_fast_take_locked, once the unused run
 * at off is known to be n blocks long (word: the one bb_disk word holding
 * it, read as bits, or NULL).
 */
static inline __attribute__((always_inline)) uint32_t
mb_pa_fast_claim_locked(struct mb_volume *vol, struct mb_group *grp, struct mb_pa *pa,
			const struct mb_request *req, mb_grpblk_t off, uint32_t n, uint32_t len,
			uint64_t *word, uint64_t bits, bool one, bool group_pa)
{
	struct mb_pcpu *slot;

	if (!n)
		return 0;
	slot = mb_this_pcpu(vol); /* the claim's share and the free counter's stripe */
	/* one test of the flag for the claim and the free counter (the
	   counter's stripe is per-CPU and relaxed: its update may come first) */
	if (req->flags & MB_HINT_DELALLOC_RESERVED)
		mb_free_counter_consume_slot(slot, n, MB_HINT_DELALLOC_RESERVED);
	else if (!(one ? mb_resv_take_exact_one(slot, len, n, mb_pa_one(one))
		       : mb_resv_take_exact_mt(slot, len, n, mb_lock_me())))
		return 0; /* threaded, the slot's biased hold inline, no call:
			     file:1 345 -> 331 instructions a call */
	/* mb_group_mark_disk_used_locked, on the slot at hand */
	assert(mb_pa_take_clear(grp, pa, off, n));
	if (word)
		*word = bits | (~0ULL >> (64 - n)) << (off & 63); /* 1 <= n <= 64 - off % 64 */
	else
		mb_set_bits(grp->bb_disk, off, n);
	mb_pa_disk_marked_locked(grp, n);
	mb_pa_clean_after_take(pa, off + n);
	pa->pa_free -= n;
	assert(group_pa == (pa->pa_type == MB_GROUP_PA));
	if (group_pa) { /* handed out from its front */
		pa->pa_pstart += n;
		pa->pa_lstart += n;
		pa->pa_len -= n;
	}
	if (!pa->pa_free)
		mb_pa_retire_locked(vol, grp, pa); /* nothing to return */
	return n;
}

/*
 * A take of more than one word.  It was out of line, so that the one-word
 * hits kept their registers (a call in their function spilled its count:
 * +4 instructions a file:1 hit); since the hit has a function of its own
 * (mb_alloc_file_pa), whose frame saves every register anyway, inline it
 * saves the long take's second frame: aging:triangle:file 1364 -> 1344,
 * aging:8m64k:file 1249 -> 1236 instructions a call, file:1 276 -> 277,
 * file:16 285 -> 286 (with mb_pa_fast_alloc's start no longer zeroed
 * first; without that, 279 and 288).  A copy of the fast path for wide
 * requests alone, the take inline there only, made gcc give up inlining
 * elsewhere: file:1 292.
 */
static inline __attribute__((always_inline)) uint32_t
mb_pa_fast_take_long_locked(struct mb_volume *vol, struct mb_group *grp, struct mb_pa *pa,
			    const struct mb_request *req, mb_grpblk_t off, uint32_t max, uint32_t len,
			    bool one, bool group_pa)
{
	const uint64_t *pending = mb_group_pending_map(vol, grp);
	uint32_t n = mb_pa_in_clean_tail(pa, off) ? max
						  : mb_unused_run_long(grp->bb_disk, pending, off, max);

	assert(mb_pa_run_ok(vol, grp, pa, off, max, n));
	return mb_pa_fast_claim_locked(vol, grp, pa, req, off, n, len, NULL, 0, one, group_pa);
}

/*
 * Takes what the regular path would take from a live PA: the unused run at
 * `start`, up to `max` blocks (the request, cut at an inode PA's end or to
 * a group PA's pa_free), advancing a group PA's front.  A plain request
 * claims exactly that, and only if its CPU's share of the unclaimed space
 * holds the whole request (`len`) -- just when the regular claim would have
 * been granted in full from that share, so the outcome is the same.
 * Returns the blocks taken (0: leave the request to the regular path).
 * Inline in both callers: out of line, its call cost ~30 instructions a hit.
 *
 * A hit's few blocks lie in one word of bb_disk: that word is read once,
 * for the unused run, and written back with the run set after the claim
 * (mb_pa_unused_run_locked and mb_group_mark_disk_locked inline, ~30
 * instructions less a hit than the call).  bb_lock keeps the word as read
 * meanwhile, which the compiler cannot know across the claim's CAS.
 */
static inline __attribute__((always_inline)) uint32_t
mb_pa_fast_take_locked(struct mb_volume *vol, struct mb_group *grp, struct mb_pa *pa,
		       const struct mb_request *req, mb_fsblk_t start, uint32_t max, uint32_t len,
		       bool one, bool group_pa)
{
	/* a PA lies in its group: no mb_block_offset (its modulo's test) */
	mb_grpblk_t off = (mb_grpblk_t)(start - mb_group_first_block(vol, pa->pa_group));
	uint32_t b = off & 63, n;
	uint64_t *word, bits, used;

	assert(off == mb_block_offset(vol, start));
	if (MB_UNLIKELY(mb_pa_take_splits(pa, off)) && mb_pa_hole_unshare_locked(vol, grp))
		return 0; /* no memory to split the maps: the regular path tries */
	if (MB_UNLIKELY(b + max > 64))
		return mb_pa_fast_take_long_locked(vol, grp, pa, req, off, max, len, one, group_pa);
	word = &grp->bb_disk[off >> 6];
	bits = used = *word;
	if (MB_LIKELY(mb_pa_in_clean_tail(pa, off))) /* an appending file's next blocks */
		return mb_pa_fast_claim_locked(vol, grp, pa, req, off, max, len, word, bits, one,
					       group_pa);
	if (vol->frees_wait) /* else nothing is pending (mb_group_pending_map) */
		used |= mb_group_pending_map(vol, grp)[off >> 6];
	used >>= b;
	n = used ? (uint32_t)__builtin_ctzll(used) : 64 - b;
	n = n < max ? n : max;
	return mb_pa_fast_claim_locked(vol, grp, pa, req, off, n, len, word, bits, one, group_pa);
}

/* The inode PA covering the request's first block serves it (f_data_sem). */
static inline __attribute__((always_inline)) uint32_t
mb_inode_fast_alloc_locked(struct mb_volume *vol, const struct mb_request *req, struct mb_pa *pa,
			   uint32_t len, mb_fsblk_t *start, bool one, struct mb_lock_thr *me)
{
	struct mb_group *grp = mb_pa_grp(vol, pa);
	uint64_t room;
	uint32_t got = 0;
	bool used_up;

	*start = pa->pa_pstart + (req->logical - pa->pa_lstart);
	room = mb_pa_end(pa) - *start;
	MB_HOOK(vol, MB_HOOK_PA_FAST_FOUND, pa->pa_group, 0);
	mb_pa_lock(&grp->bb_lock, MB_RANK_GROUP, one, me);
	if (!pa->pa_deleted)
		got = mb_pa_fast_take_locked(vol, grp, pa, req, *start,
					     len < room ? len : (uint32_t)room, len, one, false);
	used_up = got && !pa->pa_free; /* then retired by us (mb_pa_retire_locked) */
	mb_pa_unlock(&grp->bb_lock, MB_RANK_GROUP, one);
	if (used_up)
		mb_pa_forget_inode(pa); /* retired by us: its memory is ours to free */
	return got;
}

/*
 * Whether ext4_mb_group_or_file sends this request to its locality group,
 * as mb_group_or_file decides it for a request whose claim was granted in
 * full (the fast path's claim is all or nothing): a small file, group
 * preallocation on.  Departure mb_lg_continuity (which looks in the lg's
 * buckets) is left to the regular path.  f_size is read once, as there.
 */
static bool mb_lg_fast_ok(const struct mb_volume *vol, const struct mb_request *req,
			  uint32_t len)
{
	uint64_t end = req->logical + len;
	uint64_t isize = MB_READ_ONCE(req->file->f_size);

	/* the size first: a large file's miss is decided there */
	return (isize > end ? isize : end) <= MB_READ_ONCE(vol->t.mb_stream_req) &&
	       MB_READ_ONCE(vol->t.mb_group_prealloc) && !MB_READ_ONCE(vol->t.mb_lg_continuity);
}

static void mb_lg_refile(struct mb_volume *vol, struct mb_lg *lg, struct mb_pa *pa,
			 bool deleted);

/*
 * The locality group's PA serves a small file's request (f_data_sem held,
 * no inode PA covering its block): the PA mb_lg_choose_pa picks, served
 * and re-filed in its bucket under lg_mutex and one hold of its group lock,
 * as mb_use_group_pa and mb_pa_release_context would.  Re-filing trusts
 * pa_deleted as seen in that hold: a discarder may delete the PA right
 * after it, which the regular path allows too (after its release), and the
 * deleted PA waits in its bucket until we next meet it.  The lg is the
 * file's from now on (f_lg), as after a regular hit.
 */
static uint32_t mb_lg_fast_alloc_locked(struct mb_volume *vol, const struct mb_request *req,
					uint32_t len, mb_fsblk_t *start)
{
	struct mb_file *file = req->file;
	bool has_goal = req->goal != MB_GOAL_NONE;
	mb_fsblk_t goal = has_goal ? req->goal : mb_group_first_block(vol, file->f_home);
	struct mb_lg *lg = mb_file_lg(file, req);
	struct mb_pa *pa;
	uint32_t got = 0;
	bool deleted, one;

	mb_lock(&lg->lg_mutex);
	while ((pa = mb_lg_choose_pa(lg, has_goal, goal, len))) {
		struct mb_group *grp = mb_pa_grp(vol, pa);

		MB_HOOK(vol, MB_HOOK_LG_FAST_FOUND, pa->pa_group, 0);
		*start = pa->pa_pstart;
		one = MB_SINGLE_THREADED(); /* after the hook, which may start one */
		mb_lock_one(&grp->bb_lock, one);
		deleted = pa->pa_deleted; /* a discarder's, since we chose it */
		if (!deleted)
			got = mb_pa_fast_take_locked(vol, grp, pa, req, *start,
						     len < pa->pa_free ? len : pa->pa_free, len,
						     one, true);
		deleted = pa->pa_deleted; /* now also: used up by us */
		mb_unlock_one(&grp->bb_lock, one);
		if (got) {
			mb_lg_refile(vol, lg, pa, deleted);
			file->f_lg = lg;
			break;
		}
		if (!deleted)
			break; /* nothing taken: the regular path decides */
		mb_pa_forget(pa);
	}
	mb_unlock(&lg->lg_mutex);
	return got;
}

/*
 * The fast path's work under f_data_sem, which it takes and leaves held:
 * one copy for each `one` (mb_pa_fast_alloc), a constant in it.
 */
static inline __attribute__((always_inline)) uint32_t
mb_pa_fast_alloc_locked(struct mb_volume *vol, const struct mb_request *req, uint32_t len,
			mb_fsblk_t *start, bool one, struct mb_lock_thr *me)
{
	struct mb_file *file = req->file;
	struct mb_pa *pa;

	mb_pa_lock(&file->f_data_sem, MB_RANK_FILE_DATA, one, me);
	pa = mb_file_pa_covering(file, req->logical);
	if (pa)
		return mb_inode_fast_alloc_locked(vol, req, pa, len, start, one, me);
	if (mb_lg_fast_ok(vol, req, len))
		return mb_lg_fast_alloc_locked(vol, req, len, start);
	return 0;
}

/*
 * Whether mb_pa_fast_alloc may serve the request: mb_pa_fast_ok, and a PA
 * to look at.  Without a last PA, a request is a miss -- its file's PA was
 * used up, or it starts a new window -- save for a rare one in another of
 * the file's PAs, which the regular path serves as well; a stale f_pa_last
 * or f_size only picks the other path, which decides the same.  The miss
 * costs no lock and no lookup (~15,000 a run of aging:8m64k:file), and
 * its caller (mb_alloc_file) tests it before it sets up the hit's frame.
 * A large file's size test comes first: it fails the lg's test alone.
 */
bool mb_pa_fast_may(const struct mb_volume *vol, const struct mb_request *req)
{
	return mb_pa_fast_ok(vol, req) &&
	       (MB_READ_ONCE(req->file->f_pa_last) ||
		mb_lg_fast_ok(vol, req, req->len < vol->bpg ? req->len : vol->bpg));
}

/*
 * mb_alloc's first try, before any allocation context exists: a PA serves
 * the request under f_data_sem (ext4: i_data_sem) and the PA's group lock
 * (ext4: pa_lock), with one CAS for the space claim and nothing in flight
 * to settle.  The inode PA covering the request's first block, as the
 * regular path's first step, mb_use_inode_pa; else, for a small file, its
 * locality group's PA, as mb_use_group_pa (lg_mutex too).  Only for a
 * request mb_pa_fast_may let through (mb_stats off, a PA to look at).
 * Whatever it cannot decide that way (a PA deleted by a discarder, the
 * block taken, a dry share) it leaves alone and returns 0, and the regular
 * path starts from scratch.  Returns the blocks allocated (*out filled)
 * or 0.  No malloc.
 */
uint32_t mb_pa_fast_alloc(struct mb_volume *vol, const struct mb_request *req,
			  struct mb_extent *out)
{
	uint32_t len = req->len < vol->bpg ? req->len : vol->bpg, got;
	mb_fsblk_t start; /* set wherever got is nonzero */
	struct mb_lock_thr *me = NULL;
	bool one;

	assert(mb_pa_fast_may(vol, req));
	one = MB_SINGLE_THREADED();
	if (one)
		got = mb_pa_fast_alloc_locked(vol, req, len, &start, true, NULL);
	else
		got = mb_pa_fast_alloc_locked(vol, req, len, &start, false, me = mb_lock_me());
	if (got) {
		out->start = start;
		out->len = got;
		out->logical = req->logical;
		if (req->flags & MB_HINT_DELALLOC_RESERVED)
			mb_resv_consumed(vol, 0, got, req->flags);
		mb_probe_pa_fast(vol, req, out->start, got, len);
	}
	mb_pa_unlock(&req->file->f_data_sem, MB_RANK_FILE_DATA, one);
	return got;
}

/* mb_this_pcpu's slot, as read when no refresh is due */
static inline struct mb_pcpu *mb_pa_leaf_slot(struct mb_volume *vol)
{
	return (struct mb_pcpu *)((char *)vol->pcpu + mb_cpu_tls.off);
}

/*
 * mb_pa_fast_alloc's commonest hit, whole, in code that calls nothing:
 * one thread (the caller tested it: nothing here starts one, and at
 * mb_alloc's top it holds no lock), a request of at most one bitmap word
 * in the clean tail of the inode PA that served last (an appending
 * file's next blocks), which leaves the PA some room, in a group marked
 * dirty already, claimed from this CPU's share, with nobody listening
 * (probes, a test's hook).  The same stores as mb_pa_fast_alloc's for it;
 * anything else -- a long or unclean take, the PA's last blocks, the
 * per-CPU cache's refresh, a dry share -- returns false having changed
 * nothing, and the general path decides.  Inline in its caller
 * (mb_alloc_file_hit), which saves four registers where mb_alloc_file_pa
 * saves six and spills four values: file:1 269 -> 238, file:16 278 -> 247
 * instructions a call.
 */
bool mb_pa_fast_leaf(struct mb_volume *vol, const struct mb_request *req, struct mb_extent *out)
{
	uint32_t len = req->len;

	assert(MB_SINGLE_THREADED()); /* the caller's test */
	if (len > MB_PA_LEAF_MAX || len > vol->bpg || (req->flags & MB_HINT_DELALLOC_RESERVED) ||
	    (MB_PROBE_HOT() & MB_PROBE_HOT_PA_FAST))
		return false;
#ifdef MB_TESTING
	if (vol->hook_fn)
		return false; /* MB_HOOK_PA_FAST_FOUND fires on the general path */
#endif
	/* mb_this_pcpu's lookup with no refresh, and the claim's share: first,
	   so that len is not kept past them */
	if (mb_cpu_left <= 1 ||
	    mb_resv_share_of(atomic_load_explicit(&mb_pa_leaf_slot(vol)->resv_word,
						  memory_order_relaxed)) < (int64_t)len)
		return false;
	struct mb_pa *pa = req->file->f_pa_last; /* mb_file_pa_covering's first answer */

	if (!pa)
		return false;
	uint64_t d = req->logical - pa->pa_lstart; /* the request's first block in the PA */

	if (d >= pa->pa_len) /* wraps when logical < pa_lstart */
		return false;
	/* each value computed where it is tested, few kept past the tests
	   (the claim's slot is looked up again below): no spill */
	uint32_t n = len < pa->pa_len - d ? len : (uint32_t)(pa->pa_len - d);
	mb_grpblk_t off =
	    (mb_grpblk_t)(pa->pa_pstart + d - mb_group_first_block(vol, pa->pa_group));

	/* mb_pa_fast_take_locked's one-word take in the clean tail, no retire */
	if ((off & 63) + n > 64 || pa->pa_free <= n || pa->pa_deleted)
		return false;
	struct mb_group *grp = mb_pa_grp(vol, pa);

	if (!mb_pa_leaf_tail(pa, grp, off) ||
	    !(atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_DIRTY))
		return false;
	/* mb_alloc's top, one thread: no lock is held (mb_lock_one_free) */
	mb_lock_one_free(&req->file->f_data_sem);
	mb_lock_one_free(&grp->bb_lock);
	assert(mb_cpu_tls.off ==
	       ((unsigned)mb_cpu_cached & vol->pcpu_mask) * sizeof(struct mb_pcpu));
	assert(off == mb_block_offset(vol, pa->pa_pstart + d) && n);
	mb_cpu_left--;
	/* mb_resv_take_exact_held, its share tested above; the slot looked up
	   again, not kept in a register through the tests */
	struct mb_pcpu *slot = mb_pa_leaf_slot(vol);

	atomic_store_explicit(&slot->resv_word,
			      atomic_load_explicit(&slot->resv_word, memory_order_relaxed) - n,
			      memory_order_relaxed);
	/* the rest as mb_pa_fast_claim_locked; the group is dirty already
	   (mb_pa_disk_marked_locked) */
	assert(mb_pa_take_clear(grp, pa, off, n));
	grp->bb_disk[off >> 6] |= (~0ULL >> (64 - n)) << (off & 63);
	grp->bg_free -= n;
	pa->pa_clean_off = off + n; /* mb_pa_clean_after_take: off in the clean tail, n > 0 */
	pa->pa_free -= n;
	mb_unlock_one(&grp->bb_lock, true);
	out->start = pa->pa_pstart + (req->logical - pa->pa_lstart);
	out->len = n;
	out->logical = req->logical;
	mb_unlock_one(&req->file->f_data_sem, true);
	return true;
}

/*
 * mb_pa_fast_leaf in a process with threads: the same hit, under the same
 * three locks as the general path's (f_data_sem, the PA's group lock, the
 * slot's lock for the claim), each held by bias -- the locks a stream
 * keeps using are biased to its thread (lock.c) -- and every test of the
 * file's, the PA's, the group's and the share's state made under them.  A
 * lock not biased to this thread returns false having changed nothing (a
 * record entry written and cleared), as does any test the one-thread leaf
 * fails; the general path then decides, on the word's locks.  The group's
 * and the slot's entries share one Dekker (struct mb_mutex): both records
 * written, then both `bias` re-read, so a revoker of either waits for this
 * hold or this hold sees it revoked; the file's biased entry before them
 * means `me` is a thread's own record (no lock is biased to nobody), so
 * theirs need no look at `bias` first.  Release lock paths only (debug
 * builds' locks are lock.c's; there it declines).  Threaded: file:1 318
 * -> 255, file:16 329 -> 268, aging:8m64k:file 1249 -> 1234 instructions
 * a call (aging:triangle:file 1349 -> 1351: its declines).
 */
#if defined(MB_LOCK_FUTEX) && !defined(MB_DEBUG)
bool mb_pa_fast_leaf_mt(struct mb_volume *vol, const struct mb_request *req,
			struct mb_extent *out)
{
	uint32_t len = req->len;

	if (len > MB_PA_LEAF_MAX || len > vol->bpg || (req->flags & MB_HINT_DELALLOC_RESERVED) ||
	    (MB_PROBE_HOT() & MB_PROBE_HOT_PA_FAST) || mb_cpu_left <= 1)
		return false;
#ifdef MB_TESTING
	if (vol->hook_fn)
		return false; /* MB_HOOK_PA_FAST_FOUND fires on the general path */
#endif
	struct mb_file *file = req->file;
	struct mb_lock_thr *me = mb_lock_me();

	if (!mb_lock_if_biased_at(&file->f_data_sem, MB_RANK_FILE_DATA, me))
		return false;
	struct mb_pa *pa = file->f_pa_last; /* f_data_sem: mb_file_pa_covering's first answer */
	uint64_t d;

	if (!pa || (d = req->logical - pa->pa_lstart) >= pa->pa_len)
		goto out_file;
	/* the PA's place and size are its own (an inode PA's: const) */
	uint32_t n = len < pa->pa_len - d ? len : (uint32_t)(pa->pa_len - d);
	mb_grpblk_t off =
	    (mb_grpblk_t)(pa->pa_pstart + d - mb_group_first_block(vol, pa->pa_group));
	struct mb_group *grp = mb_pa_grp(vol, pa);
	struct mb_pcpu *slot = mb_pa_leaf_slot(vol);
	_Atomic(struct mb_mutex *) *ing = &me->in[MB_RANK_GROUP], *ins = &me->in[0];

	atomic_store_explicit(ing, &grp->bb_lock, memory_order_relaxed);
	atomic_store_explicit(ins, &slot->resv_lock, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst); /* the loads stay after the stores */
	if (MB_UNLIKELY(atomic_load_explicit(&grp->bb_lock.bias, memory_order_relaxed) != me ||
			atomic_load_explicit(&slot->resv_lock.bias, memory_order_relaxed) != me))
		goto out_both;
	/* both held: the one-thread leaf's tests, on what the locks keep */
	if ((off & 63) + n > 64 || !mb_pa_leaf_tail(pa, grp, off) || pa->pa_free <= n ||
	    pa->pa_deleted ||
	    !(atomic_load_explicit(&grp->bb_state, memory_order_relaxed) & MB_GRP_DIRTY))
		goto out_both;
	uint64_t w = atomic_load_explicit(&slot->resv_word, memory_order_relaxed);

	if (mb_resv_share_of(w) < (int64_t)len)
		goto out_both;
	assert(mb_cpu_tls.off ==
	       ((unsigned)mb_cpu_cached & vol->pcpu_mask) * sizeof(struct mb_pcpu));
	assert(off == mb_block_offset(vol, pa->pa_pstart + d) && n);
	mb_cpu_left--;
	atomic_store_explicit(&slot->resv_word, w - n, memory_order_relaxed);
	/* release: a revoker's acquire reads what the hold wrote */
	atomic_store_explicit(ins, NULL, memory_order_release);
	assert(mb_pa_take_clear(grp, pa, off, n));
	grp->bb_disk[off >> 6] |= (~0ULL >> (64 - n)) << (off & 63);
	grp->bg_free -= n;
	pa->pa_clean_off = off + n;
	pa->pa_free -= n;
	atomic_store_explicit(ing, NULL, memory_order_release);
	out->start = pa->pa_pstart + d;
	out->len = n;
	out->logical = req->logical;
	mb_unlock_biased_at(&file->f_data_sem, MB_RANK_FILE_DATA, me);
	return true;
out_both:
	atomic_store_explicit(ins, NULL, memory_order_release);
	atomic_store_explicit(ing, NULL, memory_order_release);
out_file:
	mb_unlock_biased_at(&file->f_data_sem, MB_RANK_FILE_DATA, me);
	return false;
}
#else
bool mb_pa_fast_leaf_mt(struct mb_volume *vol, const struct mb_request *req,
			struct mb_extent *out)
{
	(void)vol;
	(void)req;
	(void)out;
	return false; /* lock.c's locks: the general path */
}
#endif

/* ------------------------------------------------------------------------ */
/* Creating PAs (under the group lock that marked the space used)            */
/* ------------------------------------------------------------------------ */

/*
 * When less than the normalized goal was found (len blocks), place the PA
 * logically so it still covers the original request: at the goal window's
 * end, else its start, else the request's start (ext4 6.4).  Its logical
 * start; found the goal, the goal's.
 */
static inline uint64_t mb_inode_pa_lstart(const struct mb_ac *ac, uint32_t len)
{
	uint64_t goal_end = ac->g_ex.fe_logical + ac->orig_goal_len;
	uint64_t o_end = ac->o_ex.fe_logical + ac->o_ex.fe_len;

	if (len >= ac->orig_goal_len)
		return ac->g_ex.fe_logical;
	if (goal_end >= len && ac->o_ex.fe_logical >= goal_end - len)
		return goal_end - len;
	if (o_end <= ac->g_ex.fe_logical + len)
		return ac->g_ex.fe_logical;
	return ac->o_ex.fe_logical;
}

/* b_ex (from the goal's logical start) placed by mb_inode_pa_lstart */
static void mb_place_inode_pa(struct mb_ac *ac)
{
	assert(ac->b_ex.fe_logical == ac->g_ex.fe_logical);
	ac->b_ex.fe_logical = mb_inode_pa_lstart(ac, ac->b_ex.fe_len);
}

/*
 * A PA of the surplus of a find of len blocks is about to be made in grp
 * (mb_new_preallocation_locked, after the buddy's mark): whether grp's
 * maps must be apart first.  Not under the seq policy, whose PAs are
 * listed under this lock with their unused blocks in at most two runs, a
 * front and a clean tail (gcache.c): a group PA's, all tail; an inode
 * PA's, its request's share between them.  The legacy policy lists its
 * PA after the lock: the copy is made.  0 or -ENOMEM.  bb_lock held.
 * Inline (under LTO) into alloc.c's two PA makers.
 */
inline __attribute__((always_inline)) int mb_pa_unshare_locked(struct mb_ac *ac,
								 struct mb_group *grp, uint32_t len)
{
	(void)len;
	if (grp->bb_bitmap != grp->bb_disk || !mb_policy_legacy(ac->vol))
		return 0;
	return mb_gcache_unshare_locked(ac->vol, grp);
}

static void mb_new_inode_pa_locked(struct mb_ac *ac, struct mb_pa *pa)
{
	struct mb_volume *vol = ac->vol;

	mb_place_inode_pa(ac);
	pa->pa_type = MB_INODE_PA;
	pa->pa_file = ac->file;
	pa->pa_lstart = ac->b_ex.fe_logical;
	pa->pa_pstart = mb_fex_block(vol, &ac->b_ex);
	pa->pa_len = ac->b_ex.fe_len;

	/* ext4_mb_use_inode_pa: the request's share comes out at once.  The
	   window held the request and no logical range wraps (mb_ac_init), so
	   the PA covers the request's first block */
	assert(pa->pa_lstart <= ac->o_ex.fe_logical &&
	       ac->o_ex.fe_logical - pa->pa_lstart < pa->pa_len);
	mb_fsblk_t start = pa->pa_pstart + (ac->o_ex.fe_logical - pa->pa_lstart);
	uint64_t room = mb_pa_end(pa) - start;
	uint32_t len = ac->o_ex.fe_len < room ? ac->o_ex.fe_len : (uint32_t)room;

	pa->pa_free = pa->pa_len - len;
	ac->b_ex.fe_start = mb_block_offset(vol, start);
	pa->pa_front_end = ac->b_ex.fe_start; /* below the share: unused (a front) */
	pa->pa_clean_off = ac->b_ex.fe_start + len; /* the space found was unused; ours came out */
	ac->b_ex.fe_len = len;
	ac->b_ex.fe_logical = ac->o_ex.fe_logical;
}

static void mb_new_group_pa_locked(struct mb_ac *ac, struct mb_pa *pa)
{
	uint32_t len = ac->o_ex.fe_len;

	pa->pa_type = MB_GROUP_PA;
	pa->pa_lg = ac->lg;
	pa->pa_pstart = mb_fex_block(ac->vol, &ac->b_ex) + len;
	pa->pa_lstart = pa->pa_pstart;
	pa->pa_len = ac->b_ex.fe_len - len;
	pa->pa_free = pa->pa_len;
	pa->pa_clean_off = ac->b_ex.fe_start + len; /* all of it: handed out from the front */
	ac->b_ex.fe_len = len;
	ac->b_ex.fe_logical = ac->o_ex.fe_logical;
}

/*
 * ext4_mb_new_preallocation, called from use_best_found with bb_lock held:
 * the surplus of what was found (ac->f_len) becomes a PA.  Under the seq policy it is on the
 * group list before the lock is dropped (seed fix 2); under legacy, after
 * (mb_pa_after_unlock).  The file's tree is ours (f_data_sem); a group PA
 * joins its bucket at release (lg_mutex is held throughout).  Inline (under
 * LTO) into alloc.c's mb_use_marked_locked, whose two users -- the window
 * route and mb_use_found_locked -- make a PA on most calls in a file's
 * lanes: as a call it cost ~23 instructions a new PA (aging:8m64k:file
 * 1496.7 -> 1488.7 a call), and the searches that make none pay ~1 a call
 * for the larger function (aged:256 3084 -> 3085).
 */
inline __attribute__((always_inline)) void mb_new_preallocation_locked(struct mb_ac *ac,
								 struct mb_group *grp)
{
	struct mb_volume *vol = ac->vol;
	struct mb_pa *pa = ac->pa_obj;

	ac->pa_obj = NULL;
	if (ac->flags & MB_HINT_GROUP_ALLOC)
		mb_new_group_pa_locked(ac, pa);
	else
		mb_new_inode_pa_locked(ac, pa);
	pa->pa_group = mb_group_no(vol, grp);
	mb_probe_new_pa(ac, pa);
	ac->pa_created = true;
	mb_stat_add(vol, MB_ST_PREALLOCATED, ac->f_len); /* the whole find, as ext4 */
	if (pa->pa_type == MB_INODE_PA)
		mb_file_insert_pa(ac->file, pa);
	else
		ac->pa = pa;
	if (mb_policy_legacy(vol)) {
		ac->pa_late = pa;
		return;
	}
	mb_list_add_tail(&pa->pa_group_list, &grp->bb_prealloc_list);
}

/* The legacy policy's PA, listed in its group after the lock was dropped. */
static __attribute__((noinline)) void mb_pa_list_late(struct mb_ac *ac)
{
	struct mb_pa *pa = ac->pa_late;
	struct mb_group *grp = mb_pa_grp(ac->vol, pa);

	ac->pa_late = NULL;
	mb_lock(&grp->bb_lock);
	mb_list_add_tail(&pa->pa_group_list, &grp->bb_prealloc_list);
	mb_unlock(&grp->bb_lock);
}

/*
 * After the group lock of a successful search was dropped: the hook point of
 * race 2, and where the legacy policy finally lists its new PA.  Inline
 * (under LTO) into alloc.c's callers, the listing out of line: as a call it
 * cost ~13 instructions a new window.
 */
inline __attribute__((always_inline)) void mb_pa_after_unlock(struct mb_ac *ac)
{
	if (!ac->pa_created)
		return;
	ac->pa_created = false;
	MB_HOOK(ac->vol, MB_HOOK_LEFTOVER_UNLINKED, ac->b_ex.fe_group, 0);
	if (ac->pa_late)
		mb_pa_list_late(ac);
}

/* ------------------------------------------------------------------------ */
/* Release                                                                   */
/* ------------------------------------------------------------------------ */

#define MB_LG_BUCKET_MAX 8  /* ext4: a bucket over 8 PAs is trimmed ... */
#define MB_LG_BUCKET_KEEP 5 /* ... down to 5 */

/* Discards the oldest PAs of one lg bucket down to `keep`; lg_mutex held. */
static void mb_lg_trim_bucket(struct mb_volume *vol, struct mb_lg *lg, int b, uint32_t keep)
{
	struct mb_list *pos, *tmp;

	mb_list_for_each_safe(pos, tmp, &lg->lg_prealloc_list[b])
	{
		struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_node);
		struct mb_group *grp = mb_pa_grp(vol, pa);

		if (lg->lg_bucket_len[b] <= keep)
			break;
		mb_lock(&grp->bb_lock);
		if (!pa->pa_deleted)
			mb_pa_discard_locked(vol, grp, pa);
		mb_unlock(&grp->bb_lock);
		mb_pa_forget(pa);
	}
}

/*
 * ext4_mb_add_n_trim: (re)file a group PA in its bucket by pa_free, at the
 * tail; a deleted one (used up, or a discarder took it) is freed instead.
 * lg_mutex held; `deleted` was read under the PA's group lock.
 */
static void mb_lg_refile(struct mb_volume *vol, struct mb_lg *lg, struct mb_pa *pa, bool deleted)
{
	if (deleted) {
		mb_lg_unbucket(lg, pa);
		mb_pa_free(pa); /* used up, or a discarder took it */
		return;
	}
	int b = mb_fls32(pa->pa_free) - 1;
	struct mb_list *head;

	if (b >= MB_LG_BUCKETS)
		b = MB_LG_BUCKETS - 1;
	head = &lg->lg_prealloc_list[b];
	if (pa->pa_bucket != b || pa->pa_node.next != head) { /* else already its tail */
		mb_lg_unbucket(lg, pa);
		pa->pa_bucket = b;
		lg->lg_bucket_len[b]++;
		lg->lg_nonempty |= 1u << b;
		mb_list_add_tail(&pa->pa_node, head);
	}
	if (lg->lg_bucket_len[b] > MB_LG_BUCKET_MAX)
		mb_lg_trim_bucket(vol, lg, b, MB_LG_BUCKET_KEEP);
}

static void mb_lg_add_n_trim(struct mb_volume *vol, struct mb_lg *lg, struct mb_pa *pa)
{
	struct mb_group *grp = mb_pa_grp(vol, pa);
	bool deleted;

	mb_lock(&grp->bb_lock);
	deleted = pa->pa_deleted;
	mb_unlock(&grp->bb_lock);
	mb_lg_refile(vol, lg, pa, deleted);
}

/* ext4_mb_release_context, PA part: re-bucket a group PA we used or made. */
void mb_pa_release_context(struct mb_ac *ac)
{
	struct mb_pa *pa = ac->pa;

	ac->pa = NULL;
	if (pa && pa->pa_type == MB_GROUP_PA)
		mb_lg_add_n_trim(ac->vol, pa->pa_lg, pa);
}

/* ------------------------------------------------------------------------ */
/* Locality groups                                                           */
/* ------------------------------------------------------------------------ */

void mb_lgs_init(struct mb_volume *vol)
{
	for (uint32_t i = 0; i <= vol->pcpu_mask; i++) {
		struct mb_lg *lg = &vol->lgs[i];

		mb_mutex_init(&lg->lg_mutex, MB_RANK_LG);
		for (int b = 0; b < MB_LG_BUCKETS; b++) {
			mb_list_init(&lg->lg_prealloc_list[b]);
			lg->lg_bucket_len[b] = 0;
		}
		lg->lg_nonempty = 0;
	}
}

/* Frees every group PA; their space must have been discarded already. */
void mb_lgs_destroy(struct mb_volume *vol)
{
	for (uint32_t i = 0; i <= vol->pcpu_mask; i++) {
		struct mb_lg *lg = &vol->lgs[i];

		for (int b = 0; b < MB_LG_BUCKETS; b++)
			while (!mb_list_empty(&lg->lg_prealloc_list[b]))
				mb_pa_forget(MB_CONTAINER_OF(lg->lg_prealloc_list[b].next,
							     struct mb_pa, pa_node));
		mb_mutex_destroy(&lg->lg_mutex);
	}
}

/* ------------------------------------------------------------------------ */
/* Imposed PAs (mb_prealloc_add, mb_prealloc_discard_at)                     */
/* ------------------------------------------------------------------------ */

/*
 * Checks [off, off + len) of grp for a PA: *used = blocks allocated on
 * disk, the rest must be clear in bb_bitmap (not in another PA, not a
 * pending free).  A group PA is used from its front: its used blocks must
 * be a prefix.  *clean: the offset after the last used block (the PA's
 * clean tail starts there).  bb_lock held.
 */
static int mb_pa_add_check_locked(struct mb_volume *vol, struct mb_group *grp, mb_grpblk_t off,
				  uint32_t len, bool group_pa, uint32_t *used, uint32_t *clean)
{
	int err = mb_range_piece_check_locked(vol, grp, off, len);

	if (err)
		return err;
	*used = 0;
	*clean = off;
	for (uint32_t i = off; i < off + len; i++) {
		if (mb_test_bit(grp->bb_disk, i)) {
			if (group_pa && i != off + *used)
				return -EINVAL;
			(*used)++;
			*clean = i + 1;
		} else if (mb_test_bit(grp->bb_bitmap, i)) {
			return -EEXIST;
		}
	}
	return *used == len ? -EINVAL : 0;
}

/* Marks the PA's free blocks used in the buddy (not on disk) and lists it. */
static void mb_pa_add_locked(struct mb_volume *vol, struct mb_group *grp, struct mb_pa *pa,
			     mb_grpblk_t off, uint32_t len)
{
	for (uint32_t i = off; i < off + len;) {
		if (mb_test_bit(grp->bb_disk, i)) {
			i++;
			continue;
		}
		uint32_t j = i + 1;

		while (j < off + len && !mb_test_bit(grp->bb_disk, j))
			j++;
		mb_buddy_mark_used(vol, grp, i, j - i);
		i = j;
	}
	mb_list_add_tail(&pa->pa_group_list, &grp->bb_prealloc_list);
}

/* Whether logical [lstart, lstart + len) meets a PA on the file's list. */
static bool mb_file_pa_overlaps(struct mb_file *file, uint64_t lstart, uint64_t len)
{
	for (struct mb_pa *pa = mb_file_pa_from(file, lstart); pa && pa->pa_lstart < lstart + len;
	     pa = mb_file_pa_next(pa))
		if (lstart < pa->pa_lstart + pa->pa_len)
			return true;
	return false;
}

int mb_prealloc_add(struct mb_volume *vol, struct mb_file *file, uint32_t cpu, uint64_t pstart,
		    uint64_t lstart, uint32_t len)
{
	if (mb_store_read_only(vol->store))
		return -EROFS;
	if (!len || len > vol->bpg || pstart < vol->geo.first_data_block ||
	    pstart >= vol->geo.blocks_count || len > vol->geo.blocks_count - pstart ||
	    mb_block_group(vol, pstart) != mb_block_group(vol, pstart + len - 1) ||
	    (file && (file->f_vol != vol || lstart >= MB_LOGICAL_LIMIT ||
		      len > MB_LOGICAL_LIMIT - lstart)))
		return -EINVAL;
	struct mb_request who = { .flags = MB_REQ_CPU, .cpu = cpu };
	struct mb_group *grp = mb_group_at(vol, mb_block_group(vol, pstart));
	mb_grpblk_t off = mb_block_offset(vol, pstart);
	struct mb_lg *lg = file ? NULL : &vol->lgs[mb_req_cpu_slot(vol, &who)];
	struct mb_pa *pa = mb_pa_alloc();
	uint32_t used = 0, clean = UINT32_MAX;
	int err = 0;

	if (!pa)
		return -ENOMEM;
	mb_lock(file ? &file->f_data_sem : &lg->lg_mutex);
	if (file && mb_file_pa_overlaps(file, lstart, len))
		err = -EEXIST;
	mb_lock(&grp->bb_lock);
	err = err ? err : mb_group_load_locked(vol, grp);
	/* the check reads the on-disk map apart from the in-core one: a group
	   shared with PAs splits first (gcache.c) */
	if (!err && !mb_list_empty(&grp->bb_prealloc_list))
		err = mb_gcache_unshare_locked(vol, grp);
	err = err ? err : mb_pa_add_check_locked(vol, grp, off, len, !file, &used, &clean);
	err = err ? err : mb_gcache_unshare_locked(vol, grp); /* PA space: not on disk */
	if (!err) {
		pa->pa_type = file ? MB_INODE_PA : MB_GROUP_PA;
		pa->pa_file = file;
		pa->pa_lg = lg;
		pa->pa_group = mb_group_no(vol, grp);
		/* a group PA keeps only its unused tail (mb_new_group_pa_locked) */
		pa->pa_pstart = file ? pstart : pstart + used;
		pa->pa_lstart = file ? lstart : pa->pa_pstart;
		pa->pa_len = file ? len : len - used;
		pa->pa_free = len - used;
		pa->pa_clean_off = clean;
		mb_pa_add_locked(vol, grp, pa, off, len);
	}
	mb_unlock(&grp->bb_lock);
	if (!err && file)
		mb_file_insert_pa(file, pa);
	else if (!err)
		mb_lg_add_n_trim(vol, lg, pa);
	mb_unlock(file ? &file->f_data_sem : &lg->lg_mutex);
	if (err)
		mb_pa_free(pa);
	return err;
}

/* Discards pa (found live on its owner's list, the owner's lock held). */
static int64_t mb_pa_drop(struct mb_volume *vol, struct mb_pa *pa)
{
	struct mb_group *grp = mb_pa_grp(vol, pa);
	int64_t n = 0;

	mb_lock(&grp->bb_lock);
	if (!pa->pa_deleted) {
		n = mb_pa_discard_locked(vol, grp, pa);
		mb_seq_bump(vol);
	}
	mb_unlock(&grp->bb_lock);
	mb_pa_forget(pa);
	return n;
}

static bool mb_pa_holds(const struct mb_pa *pa, mb_fsblk_t block)
{
	return block >= pa->pa_pstart && block - pa->pa_pstart < pa->pa_len;
}

/* The file's inode PA whose blocks (pa_pstart .. + pa_len) hold block. */
static struct mb_pa *mb_file_pa_at(struct mb_file *file, mb_fsblk_t block)
{
	struct mb_pa *pa;

	mb_file_for_each_pa(pa, file)
		if (mb_pa_holds(pa, block))
			return pa;
	return NULL;
}

/* The group PA on an lg bucket whose unused blocks hold block. */
static struct mb_pa *mb_pa_list_at(struct mb_list *list, mb_fsblk_t block)
{
	struct mb_list *pos;

	mb_list_for_each(pos, list)
	{
		struct mb_pa *pa = MB_CONTAINER_OF(pos, struct mb_pa, pa_node);

		if (mb_pa_holds(pa, block))
			return pa;
	}
	return NULL;
}

int64_t mb_prealloc_discard_at(struct mb_volume *vol, struct mb_file *file, uint64_t block)
{
	struct mb_pa *pa;
	int64_t n = 0;

	if (file && file->f_vol != vol)
		return -EINVAL;
	if (file) {
		mb_lock(&file->f_data_sem);
		if ((pa = mb_file_pa_at(file, block)))
			n = mb_pa_drop(vol, pa);
		mb_unlock(&file->f_data_sem);
		return n;
	}
	for (uint32_t i = 0; i <= vol->pcpu_mask; i++) {
		struct mb_lg *lg = &vol->lgs[i];

		mb_lock(&lg->lg_mutex);
		for (int b = 0; b < MB_LG_BUCKETS && !n; b++)
			if ((pa = mb_pa_list_at(&lg->lg_prealloc_list[b], block)))
				n = mb_pa_drop(vol, pa) + 1;
		mb_unlock(&lg->lg_mutex);
		if (n)
			return n - 1;
	}
	return 0;
}
