/*
 * wstats.c - scans of a tensor's elements: the first that is not finite,
 * and the distribution's moments, absolute maximum and outliers, by
 * blocks on the thread pool.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_impl.h"

/* ---------------------------------------------------------------- finiteness */

struct nf_ctx {
	const float *x;
	uint64_t n;
	int64_t *first;
};

static void nf_block(void *arg, int b, int tid)
{
	struct nf_ctx *c = arg;
	uint64_t lo, hi;
	int bad = 0;

	(void)tid;
	hi = qblock_len(c->n, b, &lo) + lo;
	for (uint64_t i = lo; i < hi; i++)
		bad |= !(fabsf(c->x[i]) <= FLT_MAX);
	c->first[b] = -1;
	if (bad)
		for (uint64_t i = lo; i < hi; i++)
			if (!(fabsf(c->x[i]) <= FLT_MAX)) {
				c->first[b] = (int64_t)i;
				break;
			}
}

int64_t qf_find_nonfinite_pool(const float *x, uint64_t n, qf_pool *pool)
{
	size_t nb = qblocks(n);
	int64_t r = -1, one;
	struct nf_ctx c = { x, n, NULL };

	if (nb <= 1) {
		c.first = &one;
		if (nb)
			nf_block(&c, 0, 0);
		return nb ? one : -1;
	}
	c.first = malloc(nb * sizeof *c.first);
	if (!c.first) {		/* no memory: look without threads */
		for (uint64_t i = 0; i < n; i++)
			if (!(fabsf(x[i]) <= FLT_MAX))
				return (int64_t)i;
		return -1;
	}
	qf_pool_run(pool, (int)nb, nf_block, &c);
	for (size_t b = 0; b < nb && r < 0; b++)
		r = c.first[b];
	free(c.first);
	return r;
}

int64_t qf_find_nonfinite(const float *x, uint64_t n, int threads)
{
	qf_pool *pool = qblocks(n) > 1 ? qf_qpool_new(threads) : NULL;
	int64_t r = qf_find_nonfinite_pool(x, n, pool);

	qf_pool_free(pool);
	return r;
}

/* ---------------------------------------------------------------- weight statistics */

void qf_wstats_init(qf_wstats *s)
{
	memset(s, 0, sizeof *s);
}

void qf_wstats_merge(qf_wstats *a, const qf_wstats *b)
{
	double na = (double)a->n, nb = (double)b->n, n = na + nb, d, d2;

	if (b->n == 0)
		return;
	if (a->n == 0) {
		*a = *b;
		return;
	}
	d = b->mean - a->mean;
	d2 = d * d;
	a->m4 += b->m4 + d2 * d2 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n) +
		6 * d2 * (na * na * b->m2 + nb * nb * a->m2) / (n * n) +
		4 * d * (na * b->m3 - nb * a->m3) / n;
	a->m3 += b->m3 + d2 * d * na * nb * (na - nb) / (n * n) +
		3 * d * (na * b->m2 - nb * a->m2) / n;
	a->m2 += b->m2 + d2 * na * nb / n;
	a->mean += d * nb / n;
	a->n += b->n;
	if (b->absmax > a->absmax)
		a->absmax = b->absmax;
	a->sumsq += b->sumsq;
	a->outliers += b->outliers;
}

double qf_wstats_var(const qf_wstats *s)
{
	return s->n ? s->m2 / (double)s->n : NAN;
}

double qf_wstats_kurtosis(const qf_wstats *s)
{
	if (s->n == 0 || !(s->m2 > 0))
		return NAN;
	return (double)s->n * s->m4 / (s->m2 * s->m2) - 3;
}

struct ws_ctx {
	const float *x;
	uint64_t n;
	qf_wstats *part;
	double mean, thr;
	uint64_t *out;
};

void qf_ws_moments(const float *x, uint64_t n, qf_wstats *s)
{
	double sum = 0, ss = 0, m2 = 0, m3 = 0, m4 = 0, mean;
	float amax = 0;

	for (uint64_t i = 0; i < n; i++) {
		double v = x[i];
		sum += v;
		ss += v * v;
		if (fabsf(x[i]) > amax)
			amax = fabsf(x[i]);
	}
	mean = sum / (double)n;
	for (uint64_t i = 0; i < n; i++) {
		double d = x[i] - mean, d2 = d * d;
		m2 += d2;
		m3 += d2 * d;
		m4 += d2 * d2;
	}
	s->n = n;
	s->mean = mean;
	s->m2 = m2;
	s->m3 = m3;
	s->m4 = m4;
	s->absmax = amax;
	s->sumsq = ss;
	s->outliers = 0;
}

uint64_t qf_ws_outliers(const float *x, uint64_t n, double mean, double thr)
{
	uint64_t k = 0;

	for (uint64_t i = 0; i < n; i++)
		k += fabs(x[i] - mean) > thr;
	return k;
}

double qf_ws_threshold(const qf_wstats *s)
{
	return 6 * sqrt(s->m2 / (double)s->n);
}

/* A block's moments: two passes (mean, then central sums). */
static void ws_block(void *arg, int b, int tid)
{
	struct ws_ctx *c = arg;
	uint64_t lo, len = qblock_len(c->n, b, &lo);

	(void)tid;
	qf_ws_moments(c->x + lo, len, &c->part[b]);
}

static void ws_outliers(void *arg, int b, int tid)
{
	struct ws_ctx *c = arg;
	uint64_t lo, len = qblock_len(c->n, b, &lo);

	(void)tid;
	c->out[b] = qf_ws_outliers(c->x + lo, len, c->mean, c->thr);
}

int qf_wstats_pool(const float *x, uint64_t n, qf_pool *pool, qf_wstats *s,
		   qf_err *err)
{
	size_t nb = qblocks(n);
	struct ws_ctx c = { x, n, NULL, 0, 0, NULL };

	qf_wstats_init(s);
	if (n == 0)
		return 0;
	c.part = malloc(nb * sizeof *c.part);
	c.out = malloc(nb * sizeof *c.out);
	if (!c.part || !c.out) {
		free(c.part);
		free(c.out);
		return qf_err_set(err, "out of memory");
	}
	qf_pool_run(pool, (int)nb, ws_block, &c);
	for (size_t b = 0; b < nb; b++)
		qf_wstats_merge(s, &c.part[b]);
	c.mean = s->mean;
	c.thr = qf_ws_threshold(s);
	qf_pool_run(pool, (int)nb, ws_outliers, &c);
	for (size_t b = 0; b < nb; b++)
		s->outliers += c.out[b];
	free(c.part);
	free(c.out);
	return 0;
}


int qf_wstats_compute(const float *x, uint64_t n, int threads,
		      qf_wstats *s, qf_err *err)
{
	qf_pool *pool = qblocks(n) > 1 ? qf_qpool_new(threads) : NULL;
	int rc = qf_wstats_pool(x, n, pool, s, err);

	qf_pool_free(pool);
	return rc;
}
