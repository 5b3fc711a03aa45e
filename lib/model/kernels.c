/*
 * kernels.c - the model runtime's linear algebra: sgemm (OpenBLAS) for
 * linear layers and attention on the thread pool (core/pool.c), and the
 * vector math OpenBLAS does not cover.
 *
 * Threads.  One pool does all the work of a pass, and OpenBLAS is set to
 * one thread for the pass (qf_model's pass sets it and puts it back).  A
 * linear layer's product is split into blocks of output columns, each a
 * task and a single-threaded sgemm; attention is many small
 * products, one per head and block of query rows, each a task.  With
 * OpenBLAS's own threads beside the pool, its idle threads spun in
 * sched_yield while the pool worked (18% of a pass's samples under
 * perf on 2 CPUs).  The blocks depend on the shapes alone, so the thread
 * count does not change results (qf_linear).  The element-wise kernels
 * (softmax and log-sum-exp here, LayerNorm and GELU in gpt2.c) run on the
 * pool by rows.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>

#include "model/runtime.h"

/* OpenBLAS's extensions, declared here too in case cblas.h is another
 * implementation's (Debian's alternatives); the library is OpenBLAS. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

void qf_blas_set_threads(int n)
{
	openblas_set_num_threads(n < 1 ? 1 : n);
}

int qf_blas_threads(void)
{
	return openblas_get_num_threads();
}

/* ------------------------------------------------------------ linear */

struct linear_job {
	float *y;
	const float *x, *w, *b;
	int T, in, out, per;
};

/* Columns [c0, c1) of y, block `task` of per columns. */
static void linear_task(void *ctx, int task, int tid)
{
	const struct linear_job *j = ctx;
	int c0 = task * j->per;
	int c1 = c0 + j->per < j->out ? c0 + j->per : j->out;

	(void)tid;
	if (j->b)
		for (int t = 0; t < j->T; t++)
			memcpy(j->y + (size_t)t * j->out + c0, j->b + c0,
			       (size_t)(c1 - c0) * sizeof *j->y);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->T, c1 - c0,
		    j->in, 1.0f, j->x, j->in, j->w + (size_t)c0 * j->in, j->in,
		    j->b ? 1.0f : 0.0f, j->y + c0, j->out);
}

/* The column blocks depend on the shape alone, never on the thread
 * count: OpenBLAS's result for an element can depend on the shape of the
 * call that computes it (its small-matrix kernels, and the Haswell
 * kernels' edges), so the same calls for any -j give the same bytes. */
void qf_linear(qf_pool *p, float *y, const float *x, const float *w,
	       const float *b, int T, int in, int out)
{
	int per = ((out + QF_LINEAR_BLOCKS - 1) / QF_LINEAR_BLOCKS + 15) & ~15;
	struct linear_job j = { y, x, w, b, T, in, out, per < 64 ? 64 : per };

	qf_pool_run(p, (out + j.per - 1) / j.per, linear_task, &j);
}

void qf_add(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += x[i];
}

/* ------------------------------------------------------------ softmax */

/* The common part of softmax and log-sum-exp over s[0..n) (n >= 1), as
 * torch computes them: 16 lanes, the maximum taken out, the tail of the
 * row in a padded copy.  Returns sum exp(s - max) and the maximum in *max;
 * with store, s[0..full) becomes exp(s - max); the tail's exp is left in
 * *tail (its padding is 0) for the caller to store. */
static inline __attribute__((always_inline)) float
exp_sum_row(float *s, int n, int store, qf_v16 *tail, float *max)
{
	qf_v16 v, mx, acc = { 0 };
	float m;
	int i, full = n & ~15, rest = n - full;

	for (i = 0; i < 16; i++)
		(*tail)[i] = -INFINITY;
	memcpy(tail, s + full, (size_t)rest * sizeof *s);
	mx = *tail;
	for (i = 0; i < full; i += 16) {
		memcpy(&v, s + i, sizeof v);
		mx = (qf_v16)(((qf_v16i)v & (v > mx)) | ((qf_v16i)mx & ~(v > mx)));
	}
	m = mx[0];
	for (i = 1; i < 16; i++)
		m = mx[i] > m ? mx[i] : m;
	for (i = 0; i < full; i += 16) {
		memcpy(&v, s + i, sizeof v);
		v -= m;
		qf_v16_exp(&v);
		acc += v;
		if (store)
			memcpy(s + i, &v, sizeof v);
	}
	*tail -= m;
	qf_v16_exp(tail);		/* exp(-inf) = 0 for the padding */
	acc += *tail;
	*max = m;
	return qf_v16_sum(&acc);
}

/* s[0..full) *= c, and the rest of the row (up to n) = tail · c. */
static inline __attribute__((always_inline)) void
scale_store(float *s, int n, qf_v16 *tail, float c)
{
	qf_v16 v;
	int i, full = n & ~15, rest = n - full;

	for (i = 0; i < full; i += 16) {
		memcpy(&v, s + i, sizeof v);
		v *= c;
		memcpy(s + i, &v, sizeof v);
	}
	*tail *= c;
	memcpy(s + full, tail, (size_t)rest * sizeof *s);
}

/* Softmax of s[0..n) in place (n >= 1): exp(s - max) / sum; returns 1 /
 * sum.  With norm 0 the row is left at exp(s - max), for the caller to
 * scale what it computes from it by 1 / sum (one pass over the row
 * less). */
QF_CLONES
static float softmax_row(float *s, int n, int norm)
{
	qf_v16 tail;
	float m, inv;
	int full = n & ~15;

	inv = 1.0f / exp_sum_row(s, n, 1, &tail, &m);
	if (norm)
		scale_store(s, n, &tail, inv);
	else
		memcpy(s + full, &tail, (size_t)(n - full) * sizeof *s);
	return inv;
}

/* The clones stay static: clang (make fuzz) cannot call a target_clones
 * function from another file. */
float qf_softmax_row(float *s, int n, int norm)
{
	return softmax_row(s, n, norm);
}

/* -log softmax(row)[target] over n logits.  With grad, row becomes the
 * gradient of scale · nll: (softmax(row) - onehot(target)) · scale. */
QF_CLONES
static float ce_row(float *row, int n, int target, int grad, float scale)
{
	qf_v16 tail;
	float m, xt = row[target], sum, nll;

	sum = exp_sum_row(row, n, grad, &tail, &m);
	nll = logf(sum) + m - xt;
	if (!grad)
		return nll;
	scale_store(row, n, &tail, scale / sum);
	row[target] -= scale;
	return nll;
}

float qf_ce_row(float *row, int n, int target, int grad, float scale)
{
	return ce_row(row, n, target, grad, scale);
}

/* ------------------------------------------------------------ attention */

static void scale_row(float *x, int n, float c)
{
	for (int i = 0; i < n; i++)
		x[i] *= c;
}

struct attn_job {
	const struct qf_attn *a;
	int what;
	int nblk;
	float scale;
};

/* Rows [i0, i0 + rows) of head h's probabilities into s (row stride
 * lds; key/value head g): s = q kᵀ / sqrt(hd), then softmax over keys
 * 0..t, zero after (up to end: a->T for QF_ATTN_PROBS, else i0 + rows).
 * All rows against keys [0, i0 + m), then rows [i0 + m, i0 + rows)
 * against keys [i0 + m, i0 + rows), so that of the upper triangle only
 * blocks of QF_ATTN_QB / 2 on the diagonal are computed.  With norm 0
 * the rows are left unnormalised and inv[r] gets their 1 / sum. */
static void attn_probs(const struct attn_job *j, int h, int g, int i0,
		       int rows, float *s, int lds, int norm, float *inv)
{
	const struct qf_attn *a = j->a;
	int m = rows < QF_ATTN_QB / 2 ? rows : QF_ATTN_QB / 2;
	int end = j->what == QF_ATTN_PROBS ? a->T : i0 + rows;
	const float *q = a->q + (size_t)i0 * a->ldq + h * a->hd;
	const float *k = a->k + g * a->hd;

	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows,
		    i0 + m, a->hd, j->scale, q, a->ldq, k, a->ldkv,
		    0.0f, s, lds);
	if (rows > m)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
			    rows - m, rows - m, a->hd, j->scale,
			    q + (size_t)m * a->ldq, a->ldq,
			    k + (size_t)(i0 + m) * a->ldkv, a->ldkv,
			    0.0f, s + (size_t)m * lds + i0 + m, lds);
	for (int r = 0; r < rows; r++) {
		float *row = s + (size_t)r * lds;
		int t = i0 + r;

		inv[r] = qf_softmax_row(row, t + 1, norm);
		memset(row + t + 1, 0, (size_t)(end - t - 1) * sizeof *row);
	}
}

/* Task i: head h, query rows [i0, i1); the heaviest blocks (last rows)
 * go first.  Query row t attends to keys 0..t. */
static void attn_task(void *ctx, int task, int tid)
{
	const struct attn_job *j = ctx;
	const struct qf_attn *a = j->a;
	int h = task % a->n_head;
	int blk = j->nblk - 1 - task / a->n_head;
	int g = h / (a->n_head / a->n_kv_head);
	int i0 = blk * QF_ATTN_QB;
	int i1 = i0 + QF_ATTN_QB < a->T ? i0 + QF_ATTN_QB : a->T;
	int rows = i1 - i0, lds, r;
	int norm = j->what != QF_ATTN_ALL;
	float *s, *out, inv[QF_ATTN_QB];

	if (j->what == QF_ATTN_ALL) {
		s = a->scratch + (size_t)tid * QF_ATTN_QB * a->ld_scratch;
		lds = a->ld_scratch;
	} else {
		s = a->probs + ((size_t)h * a->T + i0) * a->T;
		lds = a->T;
	}
	if (j->what != QF_ATTN_APPLY)
		attn_probs(j, h, g, i0, rows, s, lds, norm, inv);
	if (j->what == QF_ATTN_PROBS)
		return;
	out = a->out + (size_t)i0 * a->ldo + h * a->hd;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, a->hd,
		    i1, 1.0f, s, lds, a->v + g * a->hd, a->ldkv, 0.0f, out,
		    a->ldo);
	if (!norm)	/* the softmax's division, on hd values a row */
		for (r = 0; r < rows; r++)
			scale_row(out + (size_t)r * a->ldo, a->hd, inv[r]);
}

void qf_attention(qf_pool *p, const struct qf_attn *a, int what)
{
	struct attn_job j = { a, what, (a->T + QF_ATTN_QB - 1) / QF_ATTN_QB,
			      1.0f / sqrtf((float)a->hd) };
	int nb = qf_blas_threads();

	if (qf_pool_size(p) > 1 && nb > 1)
		qf_blas_set_threads(1);
	qf_pool_run(p, j.nblk * a->n_head, attn_task, &j);
	if (qf_pool_size(p) > 1 && nb > 1)
		qf_blas_set_threads(nb);
}

