/* SPDX-License-Identifier: MIT */
/*
 * Stand-in for SPDK's spdk/env.h when `mballoc bench` compiles SPDK's bit
 * pool (lib/util/bit_array.c) from the user's checkout: the two memory
 * calls it makes, on the C library, instead of SPDK's DPDK environment.
 */
#ifndef MB_SPDK_ENV_STANDIN_H
#define MB_SPDK_ENV_STANDIN_H
#include <stdlib.h>

static inline void *spdk_realloc(void *buf, size_t size, size_t align)
{
	(void)align; /* the bit array needs no special alignment here */
	return realloc(buf, size);
}

static inline void spdk_free(void *buf)
{
	free(buf);
}
#endif
