/* internal.h - shared by lib/ files only; not installed. */
#ifndef QF_INTERNAL_H
#define QF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* Decode the code point at s (n >= 1 bytes).  Returns the bytes used and
 * sets *cp; for an ill-formed sequence *cp is -1 and the length is that
 * of its maximal subpart (Unicode 15, section 3.9, "U+FFFD Substitution
 * of Maximal Subparts"): the longest prefix of a well-formed sequence,
 * or one byte. */
size_t qf_utf8_next(const unsigned char *s, size_t n, int32_t *cp);
/* cp (at most U+10FFFF) as UTF-8 into u; returns its length (1..4). */
size_t qf_utf8_put(uint32_t cp, unsigned char *u);
/* Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int qf_utf8_valid(const char *s, size_t n);

/* Read exactly n bytes at offset from fd; "PATH: ..." errors. */
int qf_pread_all(int fd, void *buf, size_t n, uint64_t offset,
		 const char *path, qf_err *err);

/* A whole (text) file of at most max bytes, NUL-terminated, malloc'd. */
int qf_read_text_file(const char *path, size_t max, char **text, size_t *len,
		      qf_err *err);

/* ------------------------------------------------------------ TSV */

/* A tab-separated table read a line at a time.  qf_tsv_next strips the
 * line end and splits the line at tabs in place: fld[0..n) (an empty line
 * is one empty field), len the line's length, lineno its number from 1.
 * Returns 1, 0 at the end, -1 on a read error (errno): EFBIG when the file
 * goes on past the max bytes given to qf_tsv_open (a helper table, read
 * with QF_TSV_MAX: /dev/zero or a model named by mistake ends there, with
 * memory bounded).  qf_tsv_open returns -1 with errno when the file cannot
 * be opened; messages are the caller's, but for qf_tsv_fail's. */
#define QF_TSV_MAX (16u << 20)
typedef struct qf_tsv {
	FILE *f;
	const char *path;
	char *line;
	size_t cap, len;
	uint64_t lineno;
	uint64_t total, max;	/* bytes read, and the most allowed */
	char **fld;
	size_t n, fcap;
} qf_tsv;
int qf_tsv_open(qf_tsv *t, const char *path, uint64_t max);
int qf_tsv_next(qf_tsv *t);
/* The error of a failed qf_tsv_next (errno as it left it), -1:
 *     mix.tsv: larger than 16777216 bytes (the limit of a table)
 *     mix.tsv: read error: Is a directory */
int qf_tsv_fail(const qf_tsv *t, qf_err *err);
void qf_tsv_close(qf_tsv *t);

/* ------------------------------------------------------------ hashing */

/* FNV-1a 64: continue hash h (start with QF_FNV1A_INIT) over n bytes. */
#define QF_FNV1A_INIT 0xcbf29ce484222325ull
static inline uint64_t qf_fnv1a(uint64_t h, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* ------------------------------------------------------------ random numbers */

/* splitmix64: the next output of the sequence whose state is *x. */
static inline uint64_t qf_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15u);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
	return z ^ (z >> 31);
}

static inline uint64_t qf_rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: the next output of state s[4] (Blackman and Vigna). */
static inline uint64_t qf_xoshiro256ss(uint64_t *s)
{
	uint64_t r = qf_rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = qf_rotl64(s[3], 45);
	return r;
}

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
/* Replace *pool (NULL: none) by a pool of n threads; on failure *pool
 * stays.  "thread count 0, expected at least 1" for n < 1. */
int qf_pool_replace(qf_pool **pool, int n, qf_err *err);

/* ------------------------------------------------------------ OpenBLAS */

/* CPU features that matter for the choice of OpenBLAS core (tool/tool.h)
 * and for the dtype conversions. */
#define QF_CPU_AVX2 1u		/* AVX2 and FMA */
#define QF_CPU_AVX512 2u	/* AVX-512 F, CD, BW, DQ, VL */
#define QF_CPU_F16C 4u		/* AVX and F16C (half-precision conversion) */
unsigned qf_cpu_features(void);
/* A QF_OPENBLAS_CHOSEN_BY that is not one of the three, or set without
 * OPENBLAS_CORETYPE, is an error (qf_tool_init: misuse, exit 2). */
int qf_blas_check_env(qf_err *err);
/* Record who chose OpenBLAS's core (qf_blas_init): "qf", or what the
 * environment says. */
void qf_blas_set_chosen_by(const char *by);

#endif
