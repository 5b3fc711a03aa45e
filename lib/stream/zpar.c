/*
 * zpar.c - payload chunks compressed by worker threads, handed back in
 * the order given.  The writer gives each chunk, then writes the oldest
 * frame once it is ready: a record is compressed on several cores while
 * its chunks keep the order of the stream.  A worker compresses a chunk
 * exactly as the writer's own thread would (the same level, content size
 * and checksum), so the bytes do not depend on the number of threads.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "stream/stream_impl.h"

enum { S_FREE, S_QUEUED, S_BUSY, S_DONE };

struct slot {
	int state;
	unsigned char *in, *out;
	size_t in_len, in_cap, out_len, out_cap;
	const char *error;		/* zstd's, or "out of memory" */
};

struct qf_zpar {
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	int depth, nthreads, stop, level;
	struct slot *slot;
	uint64_t given, taken, popped;	/* chunks given, taken by a worker, popped */
	pthread_t *tid;
};

static int grow(unsigned char **buf, size_t *cap, size_t need)
{
	unsigned char *p;

	if (*cap >= need)
		return 0;
	if (!(p = realloc(*buf, need ? need : 1)))
		return -1;
	*buf = p;
	*cap = need;
	return 0;
}

static void compress(ZSTD_CCtx *c, struct slot *s)
{
	size_t bound = ZSTD_compressBound(s->in_len), r;

	s->error = NULL;
	if (!c || grow(&s->out, &s->out_cap, bound) < 0) {
		s->error = "out of memory";
		return;
	}
	r = ZSTD_compress2(c, s->out, bound, s->in, s->in_len);
	if (ZSTD_isError(r))
		s->error = ZSTD_getErrorName(r);
	else
		s->out_len = r;
}

static void *worker(void *arg)
{
	qf_zpar *z = arg;
	ZSTD_CCtx *c = ZSTD_createCCtx();

	if (c) {
		ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, z->level);
		ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
		ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
	}
	pthread_mutex_lock(&z->mu);
	for (;;) {
		struct slot *s;

		while (!z->stop && z->taken == z->given)
			pthread_cond_wait(&z->work, &z->mu);
		if (z->stop)
			break;
		s = &z->slot[z->taken++ % (uint64_t)z->depth];
		s->state = S_BUSY;
		pthread_mutex_unlock(&z->mu);
		compress(c, s);
		pthread_mutex_lock(&z->mu);
		s->state = S_DONE;
		pthread_cond_broadcast(&z->done);
	}
	pthread_mutex_unlock(&z->mu);
	ZSTD_freeCCtx(c);
	return NULL;
}

qf_zpar *qf_zpar_new(int threads, int depth, int level)
{
	qf_zpar *z = calloc(1, sizeof *z);

	if (!z)
		return NULL;
	z->depth = depth;
	z->level = level;
	z->slot = calloc((size_t)depth, sizeof *z->slot);
	z->tid = calloc((size_t)threads, sizeof *z->tid);
	if (!z->slot || !z->tid) {
		free(z->slot);
		free(z->tid);
		free(z);
		return NULL;
	}
	pthread_mutex_init(&z->mu, NULL);
	pthread_cond_init(&z->work, NULL);
	pthread_cond_init(&z->done, NULL);
	while (z->nthreads < threads &&
	       pthread_create(&z->tid[z->nthreads], NULL, worker, z) == 0)
		z->nthreads++;
	if (z->nthreads == 0) {
		qf_zpar_free(z);
		return NULL;
	}
	return z;
}

int qf_zpar_full(const qf_zpar *z)
{
	return z->given - z->popped == (uint64_t)z->depth;
}

/* Only the caller's thread changes given and popped, and the next slot
 * to give is past every slot a worker may hold. */
unsigned char *qf_zpar_input(qf_zpar *z, size_t n)
{
	struct slot *s = &z->slot[z->given % (uint64_t)z->depth];

	return grow(&s->in, &s->in_cap, n) < 0 ? NULL : s->in;
}

void qf_zpar_give(qf_zpar *z, size_t n)
{
	struct slot *s = &z->slot[z->given % (uint64_t)z->depth];

	s->in_len = n;
	pthread_mutex_lock(&z->mu);
	s->state = S_QUEUED;
	z->given++;
	pthread_cond_signal(&z->work);
	pthread_mutex_unlock(&z->mu);
}

int qf_zpar_head(qf_zpar *z, int wait, const unsigned char **out,
		 size_t *len, const char **error)
{
	struct slot *s = &z->slot[z->popped % (uint64_t)z->depth];
	int ready;

	if (z->popped == z->given)
		return 0;
	pthread_mutex_lock(&z->mu);
	while (wait && s->state != S_DONE)
		pthread_cond_wait(&z->done, &z->mu);
	ready = s->state == S_DONE;
	pthread_mutex_unlock(&z->mu);
	if (!ready)
		return 0;
	*out = s->out;
	*len = s->out_len;
	*error = s->error;
	return 1;
}

void qf_zpar_pop(qf_zpar *z)
{
	pthread_mutex_lock(&z->mu);
	z->slot[z->popped++ % (uint64_t)z->depth].state = S_FREE;
	pthread_mutex_unlock(&z->mu);
}

void qf_zpar_free(qf_zpar *z)
{
	if (!z)
		return;
	pthread_mutex_lock(&z->mu);
	z->stop = 1;
	pthread_cond_broadcast(&z->work);
	pthread_mutex_unlock(&z->mu);
	for (int i = 0; i < z->nthreads; i++)
		pthread_join(z->tid[i], NULL);
	for (int i = 0; i < z->depth; i++) {
		free(z->slot[i].in);
		free(z->slot[i].out);
	}
	pthread_mutex_destroy(&z->mu);
	pthread_cond_destroy(&z->work);
	pthread_cond_destroy(&z->done);
	free(z->slot);
	free(z->tid);
	free(z);
}
