/* SPDX-License-Identifier: MIT */
/*
 * fault_inject.h - syscall-level fault injection under the file backend.
 *
 * The test executable is linked with -Wl,--wrap=pread,--wrap=pwrite,...
 * so every call src/dev.c makes goes through fault_inject.c first (and on
 * to the real call, which under ASan/TSan is the sanitizer's interceptor).
 * Calls are numbered from 1 while counting is on; call `at` (and, in
 * FAULT_EIO_FOREVER mode, every later one) fails with EIO, or in
 * FAULT_SHORT_ONCE mode transfers half its bytes, or in FAULT_TORN_ONCE
 * mode (a write) writes its first half, rounded down to whole 512-byte
 * sectors (a sector is written whole or not at all, as dev.c's crash shim
 * assumes), and then fails with EIO.
 *
 * A failed fdatasync also loses every write since the last good one (they
 * are undone in the file): the page cache may drop them after a writeback
 * error, so a caller that ignores a sync error is caught by what it reads
 * back, not just by luck.
 */
#ifndef MB_FAULT_INJECT_H
#define MB_FAULT_INJECT_H

#include <stdbool.h>
#include <stdint.h>

enum fault_kind { FK_OPEN, FK_FSTAT, FK_FTRUNCATE, FK_PREAD, FK_PWRITE, FK_FDATASYNC, FK_FSYNC,
		  FK_NKINDS };
enum fault_mode { FAULT_EIO_ONCE, FAULT_EIO_FOREVER, FAULT_SHORT_ONCE, FAULT_TORN_ONCE,
		  FAULT_NMODES };

extern const char *const fault_kind_name[FK_NKINDS];
extern const char *const fault_mode_name[FAULT_NMODES];

/* Arms a fault at call `at` (1-based; 0 = none) and restarts the count. */
void fault_arm(uint64_t at, enum fault_mode mode);
/* Counting (and injecting) on or off, e.g. around the test's own checks. */
void fault_counting(bool on);
uint64_t fault_calls(void);
/* How many calls were made to fail or cut short since fault_arm(). */
uint64_t fault_fired(void);
/* Kind of counted call n (1-based), as recorded since fault_arm(). */
enum fault_kind fault_call_kind(uint64_t n);
/* Counted calls of each kind since fault_arm(). */
uint64_t fault_kind_calls(enum fault_kind k);

#endif
