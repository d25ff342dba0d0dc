/* SPDX-License-Identifier: MIT */
/*
 * crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of every on-disk structure.  x86-64 CPUs with SSE4.2 compute it
 * with the crc32 instruction (chosen at run time, cpuid); others use
 * slicing-by-8 over tables built once.  The instruction implements the same
 * polynomial, so both give the same value for the same bytes: a volume
 * written on one machine verifies on any other (test_crc32c compares them).
 */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"
#include "mb_int.h"

#define MB_CRC32C_POLY 0x82F63B78u

static uint32_t mb_crc_tab[8][256];
static bool mb_crc_hw; /* written once under mb_crc_once; read after it */
static pthread_once_t mb_crc_once = PTHREAD_ONCE_INIT;

static void mb_crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (c & 1 ? MB_CRC32C_POLY : 0);
		mb_crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			mb_crc_tab[t][i] = (mb_crc_tab[t - 1][i] >> 8) ^
					   mb_crc_tab[0][mb_crc_tab[t - 1][i] & 0xff];
#if defined(__x86_64__)
	__builtin_cpu_init();
	mb_crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

bool mb_crc32c_hw_available(void)
{
	pthread_once(&mb_crc_once, mb_crc32c_init);
	return mb_crc_hw;
}

#if defined(__x86_64__)
/* 8 bytes per instruction, then the tail a byte at a time. */
__attribute__((target("sse4.2"))) uint32_t mb_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8); /* unaligned: callers checksum any offset */
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#else
uint32_t mb_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return mb_crc32c_sw(crc, buf, len); /* never chosen: no instruction here */
}
#endif

uint32_t mb_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&mb_crc_once, mb_crc32c_init);
	if (mb_crc_hw)
		return mb_crc32c_hw(crc, buf, len);
	return mb_crc32c_sw(crc, buf, len);
}

uint32_t mb_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&mb_crc_once, mb_crc32c_init);
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				     (uint32_t)p[3] << 24);
		crc = mb_crc_tab[7][lo & 0xff] ^ mb_crc_tab[6][(lo >> 8) & 0xff] ^
		      mb_crc_tab[5][(lo >> 16) & 0xff] ^ mb_crc_tab[4][lo >> 24] ^
		      mb_crc_tab[3][p[4]] ^ mb_crc_tab[2][p[5]] ^ mb_crc_tab[1][p[6]] ^
		      mb_crc_tab[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ mb_crc_tab[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

/*
 * The checksum of a structure that holds its own checksum at field_off:
 * computed over all len bytes with that field read as zero.  (A crc32c
 * stored right after the bytes it covers would make any later crc32c over
 * the whole structure blind to its contents -- the CRC residue property --
 * so the journal's checksum could not tell two sealed superblocks apart.)
 */
uint32_t mb_crc32c_field(uint32_t crc, const void *buf, size_t len, size_t field_off)
{
	static const uint8_t zero[4];
	const uint8_t *p = buf;

	crc = mb_crc32c(crc, p, field_off);
	crc = mb_crc32c(crc, zero, 4);
	return mb_crc32c(crc, p + field_off + 4, len - field_off - 4);
}
