/* SPDX-License-Identifier: MIT */
/* harness.c - test registration, running, seeds and the geometry table. */
#include <stdarg.h>
#include <string.h>

#include "harness.h"

static struct mb_test *mb_tests, **mb_tests_tail = &mb_tests;
int mb_test_failed;
uint64_t mb_test_seed;
double mb_test_scale = 1.0;

void mb_test_register(struct mb_test *t)
{
	*mb_tests_tail = t;
	mb_tests_tail = &t->next;
}

void mb_test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: FAIL: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (seed %" PRIu64 ")\n", mb_test_seed);
	mb_test_failed = 1;
}

void mb_test_skip(const char *why)
{
	printf("SKIP: %s\n", why);
	exit(77);
}

uint64_t mb_rand_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

const struct mb_test_geo mb_test_geos[] = {
	{ "1k", { 1024, 0, 3 * 8192 + 100, 1, 2, 0 } },
	{ "4k", { 4096, 0, 2 * 32768 + 777, 0, 3, 0 } },
	{ "64k-small", { 65536, 0, 600000, 0, 1, 0 } },
	{ "odd-24", { 4096, 24, 24 * 40 + 13, 0, 1, 0 } },
	{ "odd-136", { 1024, 136, 136 * 9 + 5, 0, 3, 0 } },
	{ "odd-1000", { 4096, 1000, 1000 * 7, 0, 0, 0 } },
};
const int mb_test_ngeos = sizeof(mb_test_geos) / sizeof(mb_test_geos[0]);

static bool mb_selected(const char *name, int argc, char **argv)
{
	bool any = false;

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			i++; /* an option and its value */
			continue;
		}
		any = true;
		if (!strcmp(argv[i], name))
			return true;
	}
	return !any;
}

static void mb_parse_args(int argc, char **argv)
{
	const char *s = getenv("MB_SEED"), *sc = getenv("MB_TEST_SCALE");

	mb_test_seed = s ? strtoull(s, NULL, 0) : 0;
	if (sc)
		mb_test_scale = strtod(sc, NULL);
	for (int i = 1; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--seed"))
			mb_test_seed = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--scale"))
			mb_test_scale = strtod(argv[i + 1], NULL);
	}
	if (!mb_test_seed) {
		FILE *f = fopen("/dev/urandom", "rb");
		if (!f || fread(&mb_test_seed, sizeof(mb_test_seed), 1, f) != 1)
			mb_test_seed = 12345;
		if (f)
			fclose(f);
	}
}

int main(int argc, char **argv)
{
	int run = 0, failed = 0;

	mb_parse_args(argc, argv);
	printf("seed %" PRIu64 " (rerun with --seed %" PRIu64 ")\n", mb_test_seed, mb_test_seed);
	for (struct mb_test *t = mb_tests; t; t = t->next) {
		if (!mb_selected(t->name, argc, argv))
			continue;
		mb_test_failed = 0;
		t->fn();
		run++;
		failed += mb_test_failed;
		printf("%s %s\n", mb_test_failed ? "FAIL" : "ok  ", t->name);
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", run - failed, failed);
	return failed ? 1 : 0;
}
