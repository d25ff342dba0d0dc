/* SPDX-License-Identifier: MIT */
/*
 * garena.c - the memory of the groups' bitmaps and derived buffers: a
 * per-volume arena of mmap'd chunks, carved in cache-line multiples.
 *
 * Why: a group's first load wants a durable buffer (bb_disk, 4 KiB at
 * 4 KiB blocks) and a derived one (buddy and run tree, ~1.8 KiB), and
 * nothing else has touched that memory yet.  Two mallocs cost ~320
 * instructions, but the pages cost more: on a guest a fresh page's fault
 * costs ~1.1 us, and aging:triangle's first loads of 512 groups take ~870
 * of them, ~30% of its CPU time (glibc's malloc with huge pages ran the
 * triangle 1.9 -> 2.7 M calls per CPU-second).  So once a volume has
 * loaded MB_GARENA_FIRST groups' worth, the arena takes 2 MiB chunks,
 * aligned and madvise'd for transparent huge pages: one fault (and one
 * TLB entry) for ~300 groups.  The first chunk uses small pages, and a
 * huge chunk is only taken while the groups not yet loaded could fill a
 * quarter of it: a volume that loads a few groups (or is small) pays no
 * huge page, and a full one wastes under 1.5 MiB (the memory targets:
 * bench_mem_size).  Without THP (or with it off) the chunks fault page by
 * page as malloc's memory did.
 * The first chunk holds 16 groups' worth: a small page's fault costs
 * ~1.2 us here (a populating madvise ~1.1: batching them buys nothing),
 * a huge page's ~46 us, so every group past a few is cheaper in a huge
 * chunk.  With 64, aging's 512 first loads faulted ~70 small pages more
 * a run (1857 -> 1168 faults over ten aging:8m64k runs), and with 16
 * bench_mem_size's resident figures are lower too (aged 1 TiB 50.93 ->
 * 50.56 MiB, one group of it loaded 0.57 -> 0.48).
 *
 * Pieces come back (a derived buffer dropped by gcache.c, a load's error
 * path) to a free list of their kind and are handed out again; the chunks
 * go back to the system when the volume is destroyed.  So a volume holds
 * at most what its groups hold at once, plus a chunk's unused tail.
 *
 * Locking: gc_lock (MB_RANK_LEAF), taken under a group's bb_lock by first
 * loads, rebuilds and drops -- never on a built group's path.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "mb_int.h"

/*
 * Under AddressSanitizer a chunk is poisoned but for the pieces handed
 * out, and a cache line between pieces stays poisoned: an overrun of a
 * bitmap or a buddy is still caught, as malloc's redzones caught it.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1 /* clang's name for it */
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define MB_GARENA_GAP MB_CACHELINE
#define MB_GARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define MB_GARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define MB_GARENA_GAP 0
#define MB_GARENA_POISON(p, n) ((void)(p), (void)(n))
#define MB_GARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define MB_GARENA_HUGE (2u << 20) /* a THP's size */
#define MB_GARENA_FIRST 16        /* groups' worth in the first chunk */

/* A chunk's first cache line: the chunk list, for destroy. */
struct mb_garena_chunk {
	struct mb_garena_chunk *next;
	size_t bytes;
};

void mb_garena_init(struct mb_garena *a)
{
	mb_mutex_init(&a->lock, MB_RANK_LEAF);
	a->next = a->end = NULL;
	a->chunks = NULL;
	a->left = 0;
	a->free[0] = a->free[1] = NULL;
	a->bytes[0] = a->bytes[1] = 0;
}

void mb_garena_destroy(struct mb_garena *a)
{
	for (struct mb_garena_chunk *c = a->chunks, *n; c; c = n) {
		n = c->next;
		MB_GARENA_UNPOISON(c, c->bytes); /* the next mapping there is not ours */
		munmap(c, c->bytes);
	}
	a->chunks = NULL;
	a->next = a->end = NULL;
	a->free[0] = a->free[1] = NULL;
	mb_mutex_destroy(&a->lock);
}

/* A 2 MiB chunk on a 2 MiB boundary, for a huge page; NULL if none. */
static void *mb_garena_map_huge(void)
{
	size_t span = 2 * (size_t)MB_GARENA_HUGE;
	char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (raw == MAP_FAILED)
		return NULL;
	char *p = (char *)(((uintptr_t)raw + MB_GARENA_HUGE - 1) & ~(uintptr_t)(MB_GARENA_HUGE - 1));

	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (raw + span > p + MB_GARENA_HUGE)
		munmap(p + MB_GARENA_HUGE, (size_t)(raw + span - (p + MB_GARENA_HUGE)));
#ifdef MADV_HUGEPAGE
	(void)madvise(p, MB_GARENA_HUGE, MADV_HUGEPAGE); /* only a hint */
#endif
	return p;
}

/*
 * A new chunk with room for bytes past its header; the old one's tail is
 * left unused (never touched, so it costs no page unless huge).  left:
 * what the groups not yet loaded could still take, the huge page's test.
 * gc_lock held.
 */
static bool mb_garena_grow(struct mb_garena *a, size_t bytes, size_t group_bytes)
{
	size_t want = bytes + sizeof(struct mb_garena_chunk);
	size_t size;
	char *c;

	want = (want + MB_CACHELINE - 1) & ~(size_t)(MB_CACHELINE - 1);
	if (a->chunks && a->left >= MB_GARENA_HUGE / 4 && want <= MB_GARENA_HUGE &&
	    (c = mb_garena_map_huge())) {
		size = MB_GARENA_HUGE;
	} else {
		size_t cap = a->chunks ? MB_GARENA_HUGE : MB_GARENA_FIRST * group_bytes;

		size = a->left < cap ? (size_t)a->left : cap;
		size = size < want ? want : size;
		size = (size + 4095) & ~(size_t)4095;
		c = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (c == MAP_FAILED)
			return false;
	}
	struct mb_garena_chunk *h = (struct mb_garena_chunk *)(void *)c;

	h->next = a->chunks;
	h->bytes = size;
	a->chunks = h;
	a->next = c + ((sizeof(*h) + MB_CACHELINE - 1) & ~(size_t)(MB_CACHELINE - 1));
	a->end = c + size;
	a->left = a->left > size ? a->left - size : 0;
	MB_GARENA_POISON(a->next, (size_t)(a->end - a->next));
	return true;
}

/*
 * A piece of kind k (MB_GARENA_DURABLE, MB_GARENA_DERIVED) of bytes, a
 * multiple of MB_CACHELINE, on a cache line.  group_bytes: what one
 * group's pieces take, for the chunk sizes (the first call sets the
 * volume's need from it).  NULL when out of memory.  *zeroed (if zeroed is
 * not NULL): whether the piece is all zeroes, as a chunk's memory never
 * handed out is (mmap's); a piece given back is not.  Then its owner
 * writes only its nonzero words: a pristine group's bitmap is 4 KiB of
 * zeroes but for its metadata's first words, whose copy was ~60% of a
 * first load, and every line it wrote was a cache miss that the group's
 * first takes then mostly never read.  mb_garena_take: gc_lock held;
 * mb_garena_get and mb_garena_get_load take it.
 */
static inline __attribute__((always_inline)) void *
mb_garena_take(struct mb_volume *vol, int k, size_t bytes, size_t group_bytes, bool *zeroed)
{
	struct mb_garena *a = &vol->garena;
	void *p;

	assert(!(bytes % MB_CACHELINE));
	assert(!a->bytes[k] || a->bytes[k] == bytes);
	a->bytes[k] = bytes; /* the same at every get of kind k */
	p = a->free[k];
	if (zeroed)
		*zeroed = !p;
	if (p) {
		MB_GARENA_UNPOISON(p, bytes);
		a->free[k] = *(void **)p;
	} else {
		if (!a->chunks)
			a->left = (uint64_t)vol->ngroups * group_bytes;
		if ((size_t)(a->end - a->next) < bytes + MB_GARENA_GAP &&
		    !mb_garena_grow(a, bytes + MB_GARENA_GAP, group_bytes))
			return NULL;
		p = a->next;
		a->next += bytes + MB_GARENA_GAP;
	}
	MB_GARENA_UNPOISON(p, bytes);
	return p;
}

void *mb_garena_get(struct mb_volume *vol, int k, size_t bytes, size_t group_bytes, bool *zeroed)
{
	mb_lock(&vol->garena.lock);
	void *p = mb_garena_take(vol, k, bytes, group_bytes, zeroed);

	mb_unlock(&vol->garena.lock);
	return p;
}

/*
 * A group's first load: its durable piece (dbytes, *zeroed as above) and,
 * when derived is not NULL, a derived piece (xbytes) under one hold of the
 * lock, in the order two gets would take them.  A call and a hold of the
 * lock fewer a first load: cell:empty:1000:rand:20 -54 instructions a
 * load.  false when out of memory: then neither is held.
 */
bool mb_garena_get_load(struct mb_volume *vol, size_t dbytes, size_t xbytes, size_t group_bytes,
			uint64_t **disk, bool *zeroed, uint64_t **derived)
{
	mb_lock(&vol->garena.lock);
	*disk = mb_garena_take(vol, MB_GARENA_DURABLE, dbytes, group_bytes, zeroed);
	if (derived && *disk &&
	    !(*derived = mb_garena_take(vol, MB_GARENA_DERIVED, xbytes, group_bytes, NULL))) {
		mb_unlock(&vol->garena.lock);
		mb_garena_put(vol, MB_GARENA_DURABLE, *disk);
		*disk = NULL;
		return false;
	}
	mb_unlock(&vol->garena.lock);
	return *disk != NULL;
}

/* Gives back a piece of kind k for the next get of that kind. */
void mb_garena_put(struct mb_volume *vol, int k, void *p)
{
	struct mb_garena *a = &vol->garena;

	if (!p)
		return;
	mb_lock(&a->lock);
	*(void **)p = a->free[k];
	a->free[k] = p;
	/* all but the link: a use after the put is caught */
	MB_GARENA_POISON((char *)p + sizeof(void *), a->bytes[k] - sizeof(void *));
	mb_unlock(&a->lock);
}
