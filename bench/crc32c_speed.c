/* SPDX-License-Identifier: MIT */
/*
 * crc32c_speed.c - MB/s of the two crc32c implementations (table code and
 * the SSE4.2 instruction) over a block-sized and a 1 MiB buffer, in the
 * same run.  Prints figures and checks the two agreed; asserts no timing.
 *
 *   bench_crc32c [--quick]      (build/bench/bench_crc32c)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc32c.h"

typedef uint32_t (*mb_crc_fn)(uint32_t, const void *, size_t);

static double mb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* MB/s (10^6 bytes) of fn over buf for about secs seconds; *out its value. */
static double mb_speed(mb_crc_fn fn, const uint8_t *buf, size_t len, double secs, uint32_t *out)
{
	double t0 = mb_now(), t;
	uint64_t bytes = 0;
	uint32_t crc = 0;

	do {
		for (int i = 0; i < 64; i++)
			crc ^= fn(0, buf, len);
		bytes += 64 * (uint64_t)len;
		t = mb_now() - t0;
	} while (t < secs);
	*out = fn(0, buf, len) ^ (crc & 0); /* crc used: the loop is not dead */
	return (double)bytes / t / 1e6;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {4096, 1 << 20};
	double secs = argc > 1 && !strcmp(argv[1], "--quick") ? 0.02 : 1.0;
	uint8_t *buf = malloc(1 << 20);
	int rc = 0;

	if (!buf)
		return 1;
	for (size_t i = 0; i < 1 << 20; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	for (size_t s = 0; s < 2; s++) {
		uint32_t vs, vh = 0;
		double sw = mb_speed(mb_crc32c_sw, buf, sizes[s], secs, &vs), hw = 0;

		if (mb_crc32c_hw_available())
			hw = mb_speed(mb_crc32c_hw, buf, sizes[s], secs, &vh);
		printf("crc32c %7zu-byte buffer: table %8.0f MB/s", sizes[s], sw);
		if (hw > 0)
			printf(", sse4.2 %8.0f MB/s (%.1fx)%s\n", hw, hw / sw,
			       vh == vs ? "" : "  VALUES DIFFER");
		else
			printf(", sse4.2 skipped: not on this CPU\n");
		if (hw > 0 && vh != vs)
			rc = 1;
	}
	free(buf);
	return rc;
}
