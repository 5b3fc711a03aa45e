/* internal.h - shared by lib/ files only; not installed. */
#ifndef QF_INTERNAL_H
#define QF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qf.h"

/* CRC-32C of buf, continuing from crc (start with 0). */
uint32_t qf_crc32c(uint32_t crc, const void *buf, size_t n);

static inline void qf_put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static inline void qf_put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline void qf_put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint16_t qf_get_u16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t qf_get_u32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t qf_get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int qf_utf8_valid(const char *s, size_t n);

/* A whole (text) file of at most max bytes, NUL-terminated, malloc'd. */
int qf_read_text_file(const char *path, size_t max, char **text, size_t *len,
		      qf_err *err);

/* Unicode classes for GPT-2's pre-tokenizer (lib/unicode_class.c,
 * generated): 0 other, 1 letter, 2 number, 3 White_Space; and the
 * Unicode version of the table. */
int qf_uni_class(uint32_t cp);
const char *qf_uni_version(void);

#endif
