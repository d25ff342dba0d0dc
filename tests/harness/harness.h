/* SPDX-License-Identifier: MIT */
/*
 * harness.h - the tiny test framework: TEST(name) cases, ASSERT_* macros
 * that report file:line and the values, a seeded RNG whose seed is printed
 * (override with --seed N or MB_SEED), and exit codes 0 pass, 1 fail,
 * 77 skip.  Each test executable's main() is the harness's; it runs every
 * TEST in the file, or those named on the command line.
 */
#ifndef MB_HARNESS_H
#define MB_HARNESS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>

#include "mballoc.h"

struct mb_test {
	const char *name;
	void (*fn)(void);
	struct mb_test *next;
};
void mb_test_register(struct mb_test *t);

#define TEST(name)                                                                                 \
	static void mb_test_##name(void);                                                          \
	static struct mb_test mb_test_reg_##name = { #name, mb_test_##name, NULL };               \
	__attribute__((constructor)) static void mb_test_ctor_##name(void)                         \
	{                                                                                          \
		mb_test_register(&mb_test_reg_##name);                                             \
	}                                                                                          \
	static void mb_test_##name(void)

/* Marks the current test failed and returns from it. */
void mb_test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
extern int mb_test_failed;

#define ASSERT_TRUE(c)                                                                             \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			mb_test_fail(__FILE__, __LINE__, "ASSERT_TRUE(%s)", #c);                   \
			return;                                                                    \
		}                                                                                  \
	} while (0)
#define ASSERT_EQ_U64(a, b)                                                                        \
	do {                                                                                       \
		uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                                   \
		if (_a != _b) {                                                                    \
			mb_test_fail(__FILE__, __LINE__, "%s == %s: %" PRIu64 " != %" PRIu64, #a,  \
				     #b, _a, _b);                                                  \
			return;                                                                    \
		}                                                                                  \
	} while (0)
#define ASSERT_EQ_INT(a, b)                                                                        \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b) {                                                                    \
			mb_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, _a, _b); \
			return;                                                                    \
		}                                                                                  \
	} while (0)
#define ASSERT_LE_U64(a, b)                                                                        \
	do {                                                                                       \
		uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                                   \
		if (_a > _b) {                                                                     \
			mb_test_fail(__FILE__, __LINE__, "%s <= %s: %" PRIu64 " > %" PRIu64, #a,   \
				     #b, _a, _b);                                                  \
			return;                                                                    \
		}                                                                                  \
	} while (0)
/* mb_check() must be clean; prints its report otherwise. */
#define ASSERT_CHECK_CLEAN(vol)                                                                    \
	do {                                                                                       \
		static char _buf[4096];                                                            \
		int _n = mb_check((vol), _buf, sizeof(_buf));                                      \
		if (_n) {                                                                          \
			mb_test_fail(__FILE__, __LINE__, "mb_check: %d problems:\n%s", _n, _buf);  \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/* Skips the whole executable (exit 77). */
void mb_test_skip(const char *why) __attribute__((noreturn));

/* The run's seed (printed at start) and a splitmix64 generator. */
extern uint64_t mb_test_seed;
/* A scale factor for long runs: MB_TEST_SCALE or --scale (default 1). */
extern double mb_test_scale;
/* n scaled by mb_test_scale, at least 1: a loop's rounds in a sanitizer build. */
static inline int mb_test_rounds(int n)
{
	double r = n * mb_test_scale;

	return r < 1 ? 1 : r > 1e9 ? 1000000000 : (int)r;
}
uint64_t mb_rand_next(uint64_t *state);
static inline uint64_t mb_rand_below(uint64_t *state, uint64_t n)
{
	return n ? mb_rand_next(state) % n : 0;
}

/* Geometries every buddy/alloc test runs over (1K, 4K, 64K, odd group sizes). */
struct mb_test_geo {
	const char *name;
	struct mb_geometry geo;
};
extern const struct mb_test_geo mb_test_geos[];
extern const int mb_test_ngeos;

#endif
