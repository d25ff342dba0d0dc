/* SPDX-License-Identifier: MIT */
/*
 * test_crc32c.c - both crc32c implementations (table and SSE4.2) give the
 * published CRC-32C values and the same value as each other on random
 * buffers at every alignment and length, chained or whole; mb_crc32c()
 * (the one the library uses) agrees with them.
 */
#include <string.h>

#include "crc32c.h"
#include "harness.h"
#include "mb_test_int.h"

typedef uint32_t (*mb_crc_fn)(uint32_t, const void *, size_t);

/* Published CRC-32C check values (the "123456789" check; RFC 3720 B.4). */
static void mb_check_vectors(mb_crc_fn fn, const char *name)
{
	uint8_t b[32];

	printf("  vectors: %s\n", name);
	ASSERT_EQ_U64(fn(0, "123456789", 9), 0xE3069283u);
	ASSERT_EQ_U64(fn(0, "", 0), 0);
	memset(b, 0, sizeof(b));
	ASSERT_EQ_U64(fn(0, b, 32), 0x8A9136AAu);
	memset(b, 0xff, sizeof(b));
	ASSERT_EQ_U64(fn(0, b, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	ASSERT_EQ_U64(fn(0, b, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	ASSERT_EQ_U64(fn(0, b, 32), 0x113FDB5Cu);
	/* chainable: the crc of a whole is the crc of its tail from its head's */
	ASSERT_EQ_U64(fn(fn(0, "12345", 5), "6789", 4), 0xE3069283u);
}

TEST(table_vectors)
{
	mb_check_vectors(mb_crc32c_sw, "table");
}

TEST(hw_vectors)
{
	if (!mb_crc32c_hw_available()) {
		printf("  no SSE4.2 on this CPU: the table code is the only path\n");
		return;
	}
	mb_check_vectors(mb_crc32c_hw, "sse4.2");
}

TEST(dispatch_vectors)
{
	mb_check_vectors(mb_crc32c, "mb_crc32c");
}

/* Random buffers: every length 0..300 at offsets 0..7, then long ones. */
TEST(hw_equals_table_random)
{
	enum { N = 70000 };
	uint64_t rng = mb_test_seed;
	uint8_t *buf = malloc(N);
	bool hw = mb_crc32c_hw_available();

	ASSERT_TRUE(buf);
	for (size_t i = 0; i < N; i++)
		buf[i] = (uint8_t)mb_rand_next(&rng);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 300; len++) {
			uint32_t seed = (uint32_t)mb_rand_next(&rng);
			uint32_t sw = mb_crc32c_sw(seed, buf + off, len);

			/* the sums taken before a failure frees buf */
			uint32_t h = hw ? mb_crc32c_hw(seed, buf + off, len) : sw;
			uint32_t c = mb_crc32c(seed, buf + off, len);

			if (h != sw || c != sw) {
				free(buf);
				ASSERT_EQ_U64(h, sw);
				ASSERT_EQ_U64(c, sw);
			}
		}
	for (int round = 0; round < 200; round++) {
		size_t off = mb_rand_below(&rng, 64), len = mb_rand_below(&rng, N - 64);
		size_t cut = mb_rand_below(&rng, len + 1);
		uint32_t sw = mb_crc32c_sw(0, buf + off, len);
		uint32_t chained = mb_crc32c(mb_crc32c(0, buf + off, cut), buf + off + cut, len - cut);
		uint32_t h = hw ? mb_crc32c_hw(0, buf + off, len) : sw;

		if (h != sw || chained != sw) {
			printf("  off %zu len %zu cut %zu\n", off, len, cut);
			free(buf);
			ASSERT_EQ_U64(h, sw);
			ASSERT_EQ_U64(chained, sw);
		}
	}
	free(buf);
}
