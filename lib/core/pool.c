/*
 * pool.c - a pool of threads that runs numbered tasks: the one thread
 * pool of lib/ (the model runtime's passes, the quantizers' tensors).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/internal.h"

struct qf_pool {
	int n;			/* threads, counting the caller */
	pthread_t *th;
	pthread_mutex_t mu;
	pthread_cond_t go;	/* a new job, or stop */
	pthread_cond_t done;	/* the last worker finished the job */
	unsigned long gen;	/* job number */
	int busy;		/* workers not yet through the job */
	int stop;
	qf_task_fn fn;
	void *ctx;
	int ntask;
	atomic_int next;	/* next task to hand out */
};

struct worker_arg {
	qf_pool *p;
	int tid;
};

static void run_tasks(qf_pool *p, int tid)
{
	int i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->ntask)
		p->fn(p->ctx, i, tid);
}

static void *worker(void *arg)
{
	struct worker_arg *wa = arg;
	qf_pool *p = wa->p;
	int tid = wa->tid;
	unsigned long seen = 0;

	free(wa);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->stop)
			break;
		seen = p->gen;
		pthread_mutex_unlock(&p->mu);
		run_tasks(p, tid);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

qf_pool *qf_pool_new(int n, qf_err *err)
{
	qf_pool *p = calloc(1, sizeof *p);
	int i, rc;

	if (n < 1)
		n = 1;
	if (!p || !(p->th = calloc((size_t)n, sizeof *p->th))) {
		free(p);
		qf_err_set(err, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	p->n = 1;
	for (i = 1; i < n; i++) {
		struct worker_arg *wa = malloc(sizeof *wa);

		if (!wa) {
			qf_pool_free(p);
			qf_err_set(err, "out of memory");
			return NULL;
		}
		wa->p = p;
		wa->tid = i;
		rc = pthread_create(&p->th[i], NULL, worker, wa);
		if (rc) {
			free(wa);
			qf_pool_free(p);
			qf_err_set(err, "cannot start a thread: %s", strerror(rc));
			return NULL;
		}
		p->n++;
	}
	return p;
}

int qf_pool_size(const qf_pool *p)
{
	return p ? p->n : 1;
}

void qf_pool_run(qf_pool *p, int ntask, qf_task_fn fn, void *ctx)
{
	if (ntask <= 0)
		return;
	if (!p || p->n == 1 || ntask == 1) {
		for (int i = 0; i < ntask; i++)
			fn(ctx, i, 0);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->ntask = ntask;
	atomic_store(&p->next, 0);
	p->busy = p->n - 1;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	run_tasks(p, 0);
	pthread_mutex_lock(&p->mu);
	while (p->busy)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void qf_pool_free(qf_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->th[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	free(p->th);
	free(p);
}

int qf_pool_replace(qf_pool **pool, int n, qf_err *err)
{
	qf_pool *p;

	if (n < 1)
		return qf_err_set(err, "thread count %d, expected at least 1", n);
	if (!(p = qf_pool_new(n, err)))
		return -1;
	qf_pool_free(*pool);
	*pool = p;
	return 0;
}
