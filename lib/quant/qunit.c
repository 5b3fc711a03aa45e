/*
 * qunit.c - a quantization unit's parameters: sums over its elements,
 * its fitted priors, its clip range by the spec's method (abs-max,
 * percentile, ACIQ, a search for the least squared error), its scale;
 * and its error figures once quantized.  Definitions: docs/quantize.md.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_impl.h"

#define MSE_GRID 2000		/* MSE search: alpha = A * m / MSE_GRID */
#define MSE_COARSE 20		/* coarse pass: every 20th m */

/* ------------------------------------------------------------ reductions */

void qf_racc_init(struct racc *a)
{
	memset(a, 0, sizeof *a);
	a->min = INFINITY;
	a->max = -INFINITY;
}

void qf_racc_range(const float *x, uint64_t n, int pass, double c,
		   struct racc *a)
{
	double s = 0, ss = 0, sa = 0;
	float mn = a->min, mx = a->max, am = a->amax;

	if (pass == 0) {
		for (uint64_t i = 0; i < n; i++) {
			double v = x[i];
			s += v;
			ss += v * v;
			sa += fabs(v);
			mn = x[i] < mn ? x[i] : mn;
			mx = x[i] > mx ? x[i] : mx;
			am = fabsf(x[i]) > am ? fabsf(x[i]) : am;
		}
	} else {
		for (uint64_t i = 0; i < n; i++) {
			double d = x[i] - c;
			ss += d * d;
			sa += fabs(d);
		}
	}
	a->sum += s;
	a->sumsq += ss;
	a->sumabs += sa;
	a->min = mn;
	a->max = mx;
	a->amax = am;
}

struct red_ctx {
	const float *x;
	uint64_t n;
	int pass;
	double c;
	struct racc *part;
};

static void red_block(void *arg, int b, int tid)
{
	struct red_ctx *c = arg;
	uint64_t lo, len = qblock_len(c->n, b, &lo);

	(void)tid;
	qf_racc_init(&c->part[b]);
	qf_racc_range(c->x + lo, len, c->pass, c->c, &c->part[b]);
}

static void racc_merge(struct racc *a, const struct racc *b)
{
	a->sum += b->sum;
	a->sumsq += b->sumsq;
	a->sumabs += b->sumabs;
	a->min = b->min < a->min ? b->min : a->min;
	a->max = b->max > a->max ? b->max : a->max;
	a->amax = b->amax > a->amax ? b->amax : a->amax;
}

/* The sums over x[0, n) in QBLOCK pieces (on the pool when there is one). */
static int reduce(const float *x, uint64_t n, int pass, double c,
		  qf_pool *pool, struct racc *a)
{
	size_t nb = qblocks(n);
	struct red_ctx ctx = { x, n, pass, c, NULL };
	struct racc one;

	qf_racc_init(a);
	if (nb <= 1 || qf_pool_size(pool) <= 1) {
		for (uint64_t lo = 0; lo < n; lo += QBLOCK) {
			qf_racc_init(&one);
			qf_racc_range(x + lo, n - lo < QBLOCK ? n - lo : QBLOCK,
				      pass, c, &one);
			racc_merge(a, &one);
		}
		return 0;
	}
	ctx.part = malloc(nb * sizeof *ctx.part);
	if (!ctx.part)
		return -1;
	qf_pool_run(pool, (int)nb, red_block, &ctx);
	for (size_t b = 0; b < nb; b++)
		racc_merge(a, &ctx.part[b]);
	free(ctx.part);
	return 0;
}

static float scan_absmax(const float *x, uint64_t n)
{
	float m[VL] = { 0 }, r = 0;
	uint64_t i = 0;

	for (; i + VL <= n; i += VL)
		for (int k = 0; k < VL; k++) {
			float a = fabsf(x[i + k]);
			m[k] = a > m[k] ? a : m[k];
		}
	for (; i < n; i++)
		r = fabsf(x[i]) > r ? fabsf(x[i]) : r;
	for (int k = 0; k < VL; k++)
		r = m[k] > r ? m[k] : r;
	return r;
}

static void scan_minmax(const float *x, uint64_t n, float *mn, float *mx)
{
	float lo[VL], hi[VL], a = INFINITY, b = -INFINITY;
	uint64_t i = 0;

	for (int k = 0; k < VL; k++) {
		lo[k] = INFINITY;
		hi[k] = -INFINITY;
	}
	for (; i + VL <= n; i += VL)
		for (int k = 0; k < VL; k++) {
			lo[k] = x[i + k] < lo[k] ? x[i + k] : lo[k];
			hi[k] = x[i + k] > hi[k] ? x[i + k] : hi[k];
		}
	for (; i < n; i++) {
		a = x[i] < a ? x[i] : a;
		b = x[i] > b ? x[i] : b;
	}
	for (int k = 0; k < VL; k++) {
		a = lo[k] < a ? lo[k] : a;
		b = hi[k] > b ? hi[k] : b;
	}
	*mn = a;
	*mx = b;
}

/* ------------------------------------------------------------ percentiles */

static void swapf(float *a, float *b)
{
	float t = *a;
	*a = *b;
	*b = t;
}

static int cmpf(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/* Partially order v so that v[k] is the k-th smallest, everything before
 * it no larger and everything after no smaller. */
static void select_k(float *v, uint64_t n, uint64_t k)
{
	uint64_t lo = 0, hi = n - 1;
	int depth = 0;

	while (hi > lo) {
		uint64_t mid = lo + (hi - lo) / 2, i, j;
		float p;

		if (++depth > 64) {	/* pathological: sort what is left */
			qsort(v + lo, (size_t)(hi - lo + 1), sizeof *v, cmpf);
			return;
		}
		if (v[mid] < v[lo]) swapf(&v[mid], &v[lo]);
		if (v[hi] < v[lo]) swapf(&v[hi], &v[lo]);
		if (v[hi] < v[mid]) swapf(&v[hi], &v[mid]);
		p = v[mid];
		i = lo;
		j = hi;
		while (i <= j) {
			while (v[i] < p)
				i++;
			while (v[j] > p)
				j--;
			if (i <= j) {
				swapf(&v[i], &v[j]);
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return;
	}
}

/* The p-th percentile of v[0, n) (v is reordered): with pos = p/100 *
 * (n - 1), k = floor(pos), the k-th and (k+1)-th smallest interpolated
 * linearly, as numpy's default does. */
static double percentile(float *v, uint64_t n, double p)
{
	double pos = p / 100.0 * (double)(n - 1), g;
	uint64_t k = (uint64_t)pos;
	float a, b;

	if (k >= n - 1)
		k = n - 1;
	g = pos - (double)k;
	select_k(v, n, k);
	a = v[k];
	if (g <= 0 || k + 1 >= n)
		return a;
	b = v[k + 1];
	for (uint64_t i = k + 2; i < n; i++)
		b = v[i] < b ? v[i] : b;
	return (double)a + ((double)b - a) * g;
}

/* ------------------------------------------------------------ clip ranges */

/* Clip range for a candidate alpha: symmetric [-alpha, alpha] capped by
 * max|x|; asymmetric [c - alpha, c + alpha] within [min, max]. */
static void range_for(const struct qjob *J, double alpha, const struct racc *a,
		      double c, float *lo, float *hi)
{
	float af = (float)alpha;

	if (J->q->scheme != QF_QS_INT || J->q->sym) {
		*hi = af < a->amax ? af : a->amax;
		*lo = -*hi;
		return;
	}
	*lo = (float)(c - alpha);
	*hi = (float)(c + alpha);
	*lo = *lo > a->min ? *lo : a->min;
	*hi = *hi < a->max ? *hi : a->max;
}

/* percentile:P: of |x| when symmetric; the two tails of (100 - P) / 2
 * each when asymmetric. */
static void clip_percentile(const qf_qspec *q, int asym, const float *x,
			    uint64_t n, float *tmp, float *lo, float *hi)
{
	if (asym) {
		double t = (100 - q->pct) / 2;
		memcpy(tmp, x, n * sizeof *tmp);
		*lo = (float)percentile(tmp, n, t);
		*hi = (float)percentile(tmp, n, 100 - t);
	} else {
		for (uint64_t i = 0; i < n; i++)
			tmp[i] = fabsf(x[i]);
		*hi = (float)percentile(tmp, n, q->pct);
		*lo = -*hi;
	}
}

/* SSE for a candidate alpha over the whole unit, in QBLOCK pieces. */
struct sse_ctx {
	const struct qjob *J;
	const struct uparam *p;
	const float *x;
	uint64_t n;
	double *part;
};

static void sse_block(void *arg, int b, int tid)
{
	struct sse_ctx *c = arg;
	uint64_t lo, len = qblock_len(c->n, b, &lo);
	float tmp[1024];

	(void)tid;
	c->part[b] = qf_qs_sse(c->J, c->p, c->x + lo, len, tmp);
}

static double unit_sse(const struct qjob *J, const struct uparam *p,
		       const float *x, uint64_t n, qf_pool *pool, double *part)
{
	size_t nb = qblocks(n);
	struct sse_ctx c = { J, p, x, n, part };
	double e = 0;

	qf_pool_run(pool, (int)nb, sse_block, &c);
	for (size_t b = 0; b < nb; b++)
		e += part[b];
	return e;
}

/* mse: the alpha = A * m / MSE_GRID of least squared error, A the
 * unit's half range, by a coarse pass over m and a fine one around its
 * best.  -1: out of memory. */
static int clip_mse(const struct qjob *J, const float *x, uint64_t n,
		    qf_pool *pool, const struct racc *a, double c, float *lo,
		    float *hi)
{
	int asym = J->q->scheme == QF_QS_INT && !J->q->sym;
	double A = asym ? fmax((double)a->max - c, c - a->min) : a->amax;
	double best = INFINITY, *part;
	int m0 = 0, mb = 0;

	part = malloc(qblocks(n) * sizeof *part);
	if (!part)
		return -1;
	for (int pass = 0; pass < 2; pass++) {
		int from = pass ? m0 - MSE_COARSE : MSE_COARSE;
		int to = pass ? m0 + MSE_COARSE : MSE_GRID;
		int step = pass ? 1 : MSE_COARSE;
		for (int m = from < 1 ? 1 : from; m <= to && m <= MSE_GRID;
		     m += step) {
			struct uparam cand;
			double e;
			range_for(J, A * m / MSE_GRID, a, c, lo, hi);
			qf_qs_scale(J, *lo, *hi, &cand);
			e = unit_sse(J, &cand, x, n, pool, part);
			if (e < best) {
				best = e;
				mb = m;
			}
		}
		m0 = mb;
	}
	free(part);
	range_for(J, A * mb / MSE_GRID, a, c, lo, hi);
	return 0;
}

/* ------------------------------------------------------------ a unit */

/* The unit's sums (a) and fitted priors (f): a Gaussian's sigma and a
 * Laplace's b around 0, or, for asymmetric INT when a fit or a clip
 * method needs it, around the mean.  -1: out of memory. */
static int unit_fit(const struct qjob *J, const float *x, uint64_t n,
		    qf_pool *pool, struct racc *a, struct ufit *f)
{
	const qf_qspec *q = J->q;
	struct racc d;

	if (reduce(x, n, 0, 0, pool, a) < 0)
		return -1;
	f->c = 0;
	f->sig = sqrt(a->sumsq / (double)n);
	f->b = a->sumabs / (double)n;
	if (q->scheme == QF_QS_INT && !q->sym &&
	    (J->need_fit || q->clip == QF_QC_ACIQ_GAUSS ||
	     q->clip == QF_QC_ACIQ_LAPLACE || q->clip == QF_QC_MSE)) {
		f->c = a->sum / (double)n;
		if (reduce(x, n, 1, f->c, pool, &d) < 0)
			return -1;
		f->sig = sqrt(d.sumsq / (double)n);
		f->b = d.sumabs / (double)n;
	}
	return 0;
}

/* The clip range by the spec's method.  -1: out of memory. */
static int clip_range(const struct qjob *J, const float *x, uint64_t n,
		      qf_pool *pool, float *tmp, const struct racc *a,
		      const struct ufit *f, float *lo, float *hi)
{
	const qf_qspec *q = J->q;
	int asym = q->scheme == QF_QS_INT && !q->sym;

	switch (q->clip) {
	case QF_QC_NONE:
		*lo = asym ? a->min : -a->amax;
		*hi = asym ? a->max : a->amax;
		return 0;
	case QF_QC_PERCENTILE:
		clip_percentile(q, asym, x, n, tmp, lo, hi);
		return 0;
	case QF_QC_ACIQ_GAUSS:
	case QF_QC_ACIQ_LAPLACE:
		range_for(J, J->alpha_k * (q->clip == QF_QC_ACIQ_GAUSS ?
					    f->sig : f->b), a, f->c, lo, hi);
		return 0;
	default:
		return clip_mse(J, x, n, pool, a, f->c, lo, hi);
	}
}

int qf_qunit_params(const struct qjob *J, const float *x, uint64_t n,
		    qf_pool *pool, float *tmp, struct uparam *p,
		    struct ufit *f)
{
	const qf_qspec *q = J->q;
	struct racc a;
	float lo, hi;

	if (q->clip == QF_QC_NONE && !J->need_fit && qf_pool_size(pool) <= 1) {
		/* abs-max and no statistics: one quick pass */
		if (q->scheme == QF_QS_INT && !q->sym)
			scan_minmax(x, n, &lo, &hi);
		else
			lo = -(hi = scan_absmax(x, n));
		memset(f, 0, sizeof *f);
		qf_qs_scale(J, lo, hi, p);
		return 0;
	}
	if (unit_fit(J, x, n, pool, &a, f) < 0 ||
	    clip_range(J, x, n, pool, tmp, &a, f, &lo, &hi) < 0)
		return -1;
	qf_qs_scale(J, lo, hi, p);
	return 0;
}

void qf_qunit_err(const struct qjob *J, const struct uparam *p,
		  const struct ufit *f, const float *x, const float *y,
		  uint64_t n, struct part *pt)
{
	double sse = 0, ss = 0, a_lo, a_hi;
	uint64_t clipped = 0;
	int bits = J->q->bits;

	for (uint64_t i = 0; i < n; i++) {
		double d = (double)x[i] - y[i];
		sse += d * d;
		ss += (double)x[i] * x[i];
		clipped += x[i] < p->lo || x[i] > p->hi;
	}
	pt->sse += sse;
	pt->sumsq += ss;
	pt->clipped += clipped;
	a_lo = f->c - p->lo;
	a_hi = p->hi - f->c;
	pt->pg += (double)n * qf_aciq_pred(0, a_lo, a_hi, f->sig, bits);
	pt->pl += (double)n * qf_aciq_pred(1, a_lo, a_hi, f->b, bits);
}
