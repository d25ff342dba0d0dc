/* SPDX-License-Identifier: MIT */
/*
 * bigmem.c - large zeroed arrays that cost nothing until touched: the group
 * structs and the scan sets of a huge volume.  They come straight from
 * mmap, so the kernel hands out zero pages on first touch and creating a
 * 1 PiB volume writes nothing.  (calloc would do so too, until glibc's
 * sliding mmap threshold moves up after a big free and serves them from the
 * heap -- with a memset of every byte.)
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "mb_int.h"

void *mb_zmap(size_t size)
{
	if (size < MB_BIGMEM_MIN)
		return calloc(1, size ? size : 1);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * Faults in the pages of [p, p + size) that are about to be written, in one
 * call instead of a page fault each (those are slow in some VMs).  Only a
 * hint: without MADV_POPULATE_WRITE (Linux 5.14) the writes fault as usual.
 */
void mb_zmap_prefault(void *p, size_t size)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095;

	if (size >= MB_BIGMEM_MIN)
		(void)madvise((void *)a, (uintptr_t)p + size - a, MADV_POPULATE_WRITE);
#else
	(void)p;
	(void)size;
#endif
}

/*
 * Faults in the pages of [off, off + len) of map, an mb_zmap(map_size), in
 * one call: a page that is read before it is written (a group's state, then
 * its set-up) otherwise takes two faults, the shared zero page's and then
 * the write's copy (~2.6 us on this guest, against ~1.4 a page populated).
 * Clipped to the map; a map below MB_BIGMEM_MIN is calloc's, and left.
 * Only a hint: without MADV_POPULATE_WRITE (Linux 5.14) the pages fault
 * as usual.
 */
void mb_zmap_prefault_in(void *map, size_t map_size, size_t off, size_t len)
{
#ifdef MADV_POPULATE_WRITE
	if (map_size < MB_BIGMEM_MIN || off >= map_size)
		return;
	uintptr_t a = ((uintptr_t)map + off) & ~(uintptr_t)4095;
	uintptr_t e = (uintptr_t)map + (len < map_size - off ? off + len : map_size);

	(void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#else
	(void)map;
	(void)map_size;
	(void)off;
	(void)len;
#endif
}

/* Frees mb_zmap(size)'s p; size must be the same. */
void mb_zunmap(void *p, size_t size)
{
	if (!p)
		return;
	if (size < MB_BIGMEM_MIN)
		free(p);
	else
		munmap(p, size);
}
