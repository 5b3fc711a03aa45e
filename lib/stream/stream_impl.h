/* stream_impl.h - private to lib/stream: the shuffle filter and the
 * compression workers of the writer. */
#ifndef QF_STREAM_IMPL_H
#define QF_STREAM_IMPL_H

#include <stddef.h>

/* Byte-shuffle n bytes of s-byte elements (all first bytes, then all
 * second bytes, ...; n a multiple of s), and back (shuffle.c). */
void qf_shuffle(unsigned char *dst, const unsigned char *src, size_t n,
		size_t s);
void qf_unshuffle(unsigned char *dst, const unsigned char *src, size_t n,
		  size_t s);

/* Payload chunks compressed by worker threads and handed back in the
 * order given (zpar.c).  Every chunk is its own zstd frame made with the
 * same parameters whatever thread takes it, so the bytes are those of
 * the writer's own thread.  Only the writer's thread calls these. */
typedef struct qf_zpar qf_zpar;
/* threads workers at zstd level `level` (with content size and
 * checksum), at most depth chunks in flight; NULL when no thread could
 * be started (the writer compresses itself). */
qf_zpar *qf_zpar_new(int threads, int depth, int level);
/* No room for another chunk: the oldest must be popped first. */
int qf_zpar_full(const qf_zpar *z);
/* The next chunk's buffer, with room for n bytes (NULL: out of memory);
 * fill it (shuffled, if it is to be), then give it. */
unsigned char *qf_zpar_input(qf_zpar *z, size_t n);
void qf_zpar_give(qf_zpar *z, size_t n);
/* The oldest chunk's frame, if any chunk is in flight: 1 with *out and
 * *len (valid until qf_zpar_pop) and *error NULL, or *error set to
 * zstd's message or "out of memory"; 0 when none is in flight, or (wait
 * 0) the oldest is not done yet. */
int qf_zpar_head(qf_zpar *z, int wait, const unsigned char **out,
		 size_t *len, const char **error);
void qf_zpar_pop(qf_zpar *z);
/* Stop the workers and free everything, chunks in flight included. */
void qf_zpar_free(qf_zpar *z);

#endif
