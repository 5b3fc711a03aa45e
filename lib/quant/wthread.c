/* wthread.c - batches of records (what one input record becomes), and a
 * writer thread that writes them, or records piece by piece, in order
 * while the caller prepares what comes next */
#include <pthread.h>
#include <stdlib.h>

#include "quant/quant.h"

/* What may wait: a few records held whole, or the pieces of one being
 * streamed, up to QBYTES.  The writer (and its compression threads,
 * lib/stream/zpar.c) works on what waits while the caller quantizes
 * what comes next: a smaller queue left both waiting in turn (4 MiB:
 * 0.73-0.86 s against 0.55 s for a 256 MiB tensor, docs/quantize.md). */
#define DEPTH 64		/* items */
#define QBYTES (16u << 20)	/* bytes of their payloads, unless one alone */

/* What the writer thread is given: a batch, or the start, a piece of the
 * payload or the end of a record written as it comes. */
enum { W_BATCH, W_BEGIN, W_DATA, W_END };
struct witem {
	int op;
	qf_wbatch *b;		/* W_BATCH */
	qf_rec rec;		/* W_BEGIN */
	void *buf;		/* W_DATA: malloc'd */
	size_t n;
};

struct qf_wthread {
	qf_writer *w;
	int threaded;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct witem ring[DEPTH];	/* waiting to be written, in order */
	int head, count;
	uint64_t bytes;			/* their payloads */
	int done, failed;
	qf_err err;
};

qf_wbatch *qf_wbatch_new(qf_err *err)
{
	qf_wbatch *b = calloc(1, sizeof *b);

	if (!b)
		return qf_err_set(err, "out of memory"), NULL;
	for (int i = 0; i < QF_WBATCH_MAX; i++)
		qf_rec_init(&b->rec[i]);
	return b;
}

void qf_wbatch_free(qf_wbatch *b)
{
	if (!b)
		return;
	for (int i = 0; i < QF_WBATCH_MAX; i++)
		qf_rec_free(&b->rec[i]);
	for (int i = 0; i < b->n; i++)
		free(b->data[i]);
	free(b);
}

static int batch_write(qf_writer *w, qf_wbatch *b, qf_err *e)
{
	for (int i = 0; i < b->n; i++)
		if (qf_writer_put(w, &b->rec[i], b->data[i], e) < 0)
			return -1;
	return 0;
}

/* Do what it says, and free what it held. */
static int item_write(qf_writer *w, struct witem *it, int skip, qf_err *e)
{
	int rc = 0;

	if (!skip) {
		switch (it->op) {
		case W_BATCH: rc = batch_write(w, it->b, e); break;
		case W_BEGIN: rc = qf_writer_begin(w, &it->rec, e); break;
		case W_DATA: rc = qf_writer_write(w, it->buf, it->n, e); break;
		default: rc = qf_writer_end(w, e); break;
		}
	}
	qf_wbatch_free(it->b);
	qf_rec_free(&it->rec);
	free(it->buf);
	return rc;
}

/* The payload bytes an item holds. */
static uint64_t item_bytes(const struct witem *it)
{
	uint64_t n = it->n;

	for (int i = 0; it->b && i < it->b->n; i++)
		n += qf_rec_nbytes(&it->b->rec[i]);
	return n;
}

/* The next item into *it; 0 when done. */
static int take(qf_wthread *t, struct witem *it)
{
	int got = 0;

	pthread_mutex_lock(&t->mu);
	while (!t->count && !t->done)
		pthread_cond_wait(&t->cv, &t->mu);
	if (t->count) {
		*it = t->ring[t->head];
		t->head = (t->head + 1) % DEPTH;
		t->count--;
		t->bytes -= item_bytes(it);
		got = 1;
	}
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	return got;
}

static void *writer_main(void *arg)
{
	qf_wthread *t = arg;
	struct witem it;

	while (take(t, &it)) {
		if (item_write(t->w, &it, t->failed, &t->err) < 0) {
			pthread_mutex_lock(&t->mu);
			t->failed = 1;
			pthread_mutex_unlock(&t->mu);
		}
	}
	return NULL;
}

qf_wthread *qf_wthread_start(qf_writer *w, int threaded, qf_err *err)
{
	qf_wthread *t = calloc(1, sizeof *t);

	if (!t)
		return qf_err_set(err, "out of memory"), NULL;
	t->w = w;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	if (threaded && pthread_create(&t->tid, NULL, writer_main, t) == 0)
		t->threaded = 1;
	return t;
}

/* Queue it (taking what it holds over), or write it at once. */
static int put(qf_wthread *t, struct witem *it, qf_err *err)
{
	uint64_t n = item_bytes(it);
	int failed;

	if (!t->threaded)
		return item_write(t->w, it, 0, err);
	pthread_mutex_lock(&t->mu);
	while ((t->count == DEPTH || (t->count && t->bytes + n > QBYTES)) &&
	       !t->failed)
		pthread_cond_wait(&t->cv, &t->mu);
	failed = t->failed;
	if (!failed) {
		t->ring[(t->head + t->count) % DEPTH] = *it;
		t->count++;
		t->bytes += n;
		pthread_cond_broadcast(&t->cv);
	}
	pthread_mutex_unlock(&t->mu);
	if (failed) {
		item_write(t->w, it, 1, err);
		*err = t->err;
		return -1;
	}
	return 0;
}

static void item_init(struct witem *it, int op)
{
	it->op = op;
	it->b = NULL;
	qf_rec_init(&it->rec);
	it->buf = NULL;
	it->n = 0;
}

int qf_wthread_put(qf_wthread *t, qf_wbatch *b, qf_err *err)
{
	struct witem it;

	item_init(&it, W_BATCH);
	it.b = b;
	return put(t, &it, err);
}

int qf_wthread_begin(qf_wthread *t, const qf_rec *rec, qf_err *err)
{
	struct witem it;

	item_init(&it, W_BEGIN);
	if (qf_rec_copy(&it.rec, rec, err) < 0) {
		qf_rec_free(&it.rec);
		return -1;
	}
	return put(t, &it, err);
}

int qf_wthread_write(qf_wthread *t, void *buf, size_t n, qf_err *err)
{
	struct witem it;

	item_init(&it, W_DATA);
	it.buf = buf;
	it.n = n;
	return put(t, &it, err);
}

int qf_wthread_end(qf_wthread *t, qf_err *err)
{
	struct witem it;

	item_init(&it, W_END);
	return put(t, &it, err);
}

int qf_wthread_finish(qf_wthread *t, qf_err *err)
{
	int failed;

	if (t->threaded) {
		pthread_mutex_lock(&t->mu);
		t->done = 1;
		pthread_cond_broadcast(&t->cv);
		pthread_mutex_unlock(&t->mu);
		pthread_join(t->tid, NULL);	/* it writes what is left */
	}
	failed = t->failed;
	if (failed)
		*err = t->err;
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t);
	return failed ? -1 : 0;
}
