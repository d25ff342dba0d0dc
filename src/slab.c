/* SPDX-License-Identifier: MIT */
/*
 * slab.c - buffers of one size cut from chunks of fresh anonymous pages
 * (mb_int.h, struct mb_slab): group.c's durable and derived buffers.  A
 * fresh buffer reads as zeroes, and a chunk's pages are touched only as
 * its buffers are used.  Taking a fresh buffer is a fetch-and-add on the
 * newest chunk's count; one given back waits on the slab's free list
 * (under its leaf lock) for the next taker.  Chunks are unmapped at the
 * volume's end alone.
 */
#include <sys/mman.h>

#include "mb_int.h"

/* A chunk: its header's cache line, then cap buffers, each a whole number
   of lines; at most this many bytes unless one buffer needs more, at most
   ngroups buffers. */
#define MB_SLAB_CHUNK_BYTES (1u << 20)

struct mb_slab_chunk {
	_Alignas(MB_CACHELINE) struct mb_slab_chunk *next; /* older */
	size_t bytes;          /* the mapping's length */
	uint32_t cap;          /* buffers it holds */
	_Atomic uint32_t used; /* buffers handed out (may count past cap: full) */
};

/* Maps a chunk of slot-byte buffers after old (sl's newest, full, or NULL)
   and makes it the newest, unless another thread did first.  false when
   out of memory. */
static __attribute__((noinline, cold)) bool mb_slab_grow(const struct mb_volume *vol,
							  struct mb_slab *sl, size_t slot,
							  struct mb_slab_chunk *old)
{
	size_t cap = (MB_SLAB_CHUNK_BYTES - sizeof(struct mb_slab_chunk)) / slot;

	cap = cap < 1 ? 1 : cap > vol->ngroups ? vol->ngroups : cap;
	size_t bytes = sizeof(struct mb_slab_chunk) + cap * slot;
	struct mb_slab_chunk *c = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (c == MAP_FAILED)
		return false;
	c->next = old;
	c->bytes = bytes;
	c->cap = (uint32_t)cap;
	atomic_init(&c->used, 0);
	/* release: a thread that takes a buffer from c sees its header */
	if (!atomic_compare_exchange_strong_explicit(&sl->chunk, &old, c, memory_order_release,
						     memory_order_acquire))
		munmap(c, bytes); /* another thread's is newer: use it */
	return true;
}

/*
 * A buffer of slot bytes from sl, or NULL when out of memory: one given
 * back if there is one, else never used (zeroes).  *fresh: which.  Any
 * thread, under its group's lock.
 */
uint64_t *mb_slab_alloc(const struct mb_volume *vol, struct mb_slab *sl, size_t slot,
			       bool *fresh)
{
	/* relaxed: a hint; the pop below reads it again under the lock */
	if (MB_UNLIKELY(atomic_load_explicit(&sl->free, memory_order_relaxed))) {
		mb_lock(&sl->lock);
		uint64_t *p = atomic_load_explicit(&sl->free, memory_order_relaxed);

		if (p)
			atomic_store_explicit(&sl->free, (uint64_t *)p[0], memory_order_relaxed);
		mb_unlock(&sl->lock);
		if (p) {
			*fresh = false;
			return p;
		}
	}
	*fresh = true;
	for (;;) {
		/* acquire: pairs with the release CAS in mb_slab_grow */
		struct mb_slab_chunk *c = atomic_load_explicit(&sl->chunk, memory_order_acquire);

		if (MB_LIKELY(c)) {
			uint32_t i = atomic_fetch_add_explicit(&c->used, 1, memory_order_relaxed);

			if (MB_LIKELY(i < c->cap))
				return (uint64_t *)((char *)(c + 1) + (size_t)i * slot);
		}
		if (!mb_slab_grow(vol, sl, slot, c))
			return NULL;
	}
}

/* Gives p (from sl) back for the next mb_slab_alloc.  Any thread. */
void mb_slab_free(struct mb_slab *sl, uint64_t *p)
{
	mb_lock(&sl->lock);
	p[0] = (uint64_t)(uintptr_t)atomic_load_explicit(&sl->free, memory_order_relaxed);
	atomic_store_explicit(&sl->free, p, memory_order_relaxed);
	mb_unlock(&sl->lock);
}

/* Unmaps sl's chunks (every buffer goes with them): the volume's end. */
void mb_slab_destroy(struct mb_slab *sl)
{
	struct mb_slab_chunk *c = atomic_exchange_explicit(&sl->chunk, NULL, memory_order_acquire);

	while (c) {
		struct mb_slab_chunk *next = c->next;

		munmap(c, c->bytes);
		c = next;
	}
	atomic_store_explicit(&sl->free, NULL, memory_order_relaxed);
}

