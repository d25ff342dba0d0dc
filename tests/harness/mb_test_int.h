/* SPDX-License-Identifier: MIT */
/*
 * mb_test_int.h - every internal header of the library, for tests that
 * reach inside it (white-box tests, fuzzers), plus the tests' crash shim.
 */
#ifndef MB_TEST_INT_H
#define MB_TEST_INT_H

#include "alloc_ctx.h"
#include "commit.h"
#include "crash_dev.h"
#include "dev.h"
#include "journal.h"
#include "ondisk.h"
#include "persist.h"
#include "store.h"
#include "store_mballoc.h"

#endif /* MB_TEST_INT_H */
