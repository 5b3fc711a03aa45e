/* wthread.c - batches of records (what one input record becomes), and a
 * writer thread that writes them in order while the caller prepares the
 * next */
#include <pthread.h>
#include <stdlib.h>

#include "quant/quant.h"

#define DEPTH 3		/* batches waiting: smooths out slow records */

struct qf_wthread {
	qf_writer *w;
	int threaded;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	qf_wbatch *ring[DEPTH];	/* waiting to be written, in order */
	int head, count;
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

/* The next batch, or NULL when done. */
static qf_wbatch *take(qf_wthread *t)
{
	qf_wbatch *b = NULL;

	pthread_mutex_lock(&t->mu);
	while (!t->count && !t->done)
		pthread_cond_wait(&t->cv, &t->mu);
	if (t->count) {
		b = t->ring[t->head];
		t->head = (t->head + 1) % DEPTH;
		t->count--;
	}
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	return b;
}

static void *writer_main(void *arg)
{
	qf_wthread *t = arg;
	qf_wbatch *b;

	while ((b = take(t))) {
		if (!t->failed && batch_write(t->w, b, &t->err) < 0) {
			pthread_mutex_lock(&t->mu);
			t->failed = 1;
			pthread_mutex_unlock(&t->mu);
		}
		qf_wbatch_free(b);
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

int qf_wthread_put(qf_wthread *t, qf_wbatch *b, qf_err *err)
{
	int failed;

	if (!t->threaded) {
		int rc = batch_write(t->w, b, err);
		qf_wbatch_free(b);
		return rc;
	}
	pthread_mutex_lock(&t->mu);
	while (t->count == DEPTH && !t->failed)
		pthread_cond_wait(&t->cv, &t->mu);
	failed = t->failed;
	if (!failed) {
		t->ring[(t->head + t->count) % DEPTH] = b;
		t->count++;
		pthread_cond_broadcast(&t->cv);
	}
	pthread_mutex_unlock(&t->mu);
	if (failed) {
		qf_wbatch_free(b);
		*err = t->err;
		return -1;
	}
	return 0;
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
