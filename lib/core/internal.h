/* internal.h - shared by lib/ files only; not installed. */
#ifndef QF_INTERNAL_H
#define QF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/core.h"

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

/* Read exactly n bytes at offset from fd; "PATH: ..." errors. */
int qf_pread_all(int fd, void *buf, size_t n, uint64_t offset,
		 const char *path, qf_err *err);

/* A whole (text) file of at most max bytes, NUL-terminated, malloc'd. */
int qf_read_text_file(const char *path, size_t max, char **text, size_t *len,
		      qf_err *err);

/* ------------------------------------------------------------ threads */

/* A pool of n threads counting the caller: qf_pool_run calls fn(ctx, i,
 * tid) for every task i in [0, ntask), spread over the threads (tid in
 * [0, n)), and returns when all are done. */
typedef struct qf_pool qf_pool;
typedef void (*qf_task_fn)(void *ctx, int task, int tid);
qf_pool *qf_pool_new(int n, qf_err *err);
int qf_pool_size(const qf_pool *p);
void qf_pool_run(qf_pool *p, int ntask, qf_task_fn fn, void *ctx);
void qf_pool_free(qf_pool *p);

/* ------------------------------------------------------------ OpenBLAS */

/* Record who chose OpenBLAS's core (qf_blas_init): "qf", or what the
 * environment says. */
void qf_blas_set_chosen_by(const char *by);

#endif
