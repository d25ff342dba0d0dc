/* SPDX-License-Identifier: MIT */
/*
 * crc32c.h - the two implementations behind mb_crc32c() (ondisk.h), named
 * so tests and the crc32c bench can run each: the table code every CPU
 * has, and the SSE4.2 crc32 instruction.  Both compute the same function
 * (the instruction's polynomial is Castagnoli's), so the choice never
 * changes a value on disk.  Thread-safety: all are pure functions.
 */
#ifndef MB_CRC32C_H
#define MB_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Slicing-by-8 over tables built once: the fallback, any CPU. */
uint32_t mb_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* True if this CPU has SSE4.2 (and this build has the code for it). */
bool mb_crc32c_hw_available(void);
/* The SSE4.2 crc32 instruction; only when mb_crc32c_hw_available(). */
uint32_t mb_crc32c_hw(uint32_t crc, const void *buf, size_t len);

#endif
