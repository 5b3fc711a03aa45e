/* crc32c.c - CRC-32C (Castagnoli), the checksum of stream headers.
 *
 * Reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF;
 * crc32c("123456789") = 0xE3069283.  Headers are small, so a byte-wise
 * table is fast enough. */
#include <pthread.h>
#include <stdint.h>

#include "core/internal.h"

static uint32_t table[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void make_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		table[i] = c;
	}
}

uint32_t qf_crc32c(uint32_t crc, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	pthread_once(&once, make_table);
	crc = ~crc;
	while (n--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
