/*
 * cor.c - Pearson, Spearman and Kendall tau-b correlations with the
 * p-values scipy.stats gives them, partial correlation through least
 * squares (LAPACKE), Holm and Benjamini-Hochberg adjusted p-values
 * (docs/fit.md, "Correlations").
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <lapacke.h>

#include "fit/cor_impl.h"

static const char *const method_names[QF_COR_METHODS] = {
	"pearson", "spearman", "kendall"
};

const char *qf_cor_method_name(int method)
{
	return method >= 0 && method < QF_COR_METHODS ? method_names[method] : "?";
}

int qf_cor_method_parse(const char *s)
{
	for (int m = 0; m < QF_COR_METHODS; m++)
		if (strcmp(s, method_names[m]) == 0)
			return m;
	return -1;
}

int qf_cor_complete(const double *x, const double *y, int n,
		    double *xo, double *yo)
{
	int m = 0;

	for (int i = 0; i < n; i++)
		if (!isnan(x[i]) && !isnan(y[i])) {
			xo[m] = x[i];
			yo[m++] = y[i];
		}
	return m;
}

static int all_equal(const double *x, int n)
{
	for (int i = 1; i < n; i++)
		if (x[i] != x[0])
			return 0;
	return 1;
}

static double mean(const double *x, int n)
{
	double s = 0;

	for (int i = 0; i < n; i++)
		s += x[i];
	return s / n;
}

/* scipy.stats.pearsonr's: the dot product of the centred vectors, each
 * divided by its norm, clipped to [-1, 1].  Within 1e-13 of +-1 it is
 * +-1: collinear data up to rounding, where the last bits (and so t and
 * p) depend on the order of the sums, not on the data. */
static double pearson(const double *x, const double *y, int n)
{
	double mx = mean(x, n), my = mean(y, n), nx = 0, ny = 0, r = 0;

	for (int i = 0; i < n; i++) {
		nx += (x[i] - mx) * (x[i] - mx);
		ny += (y[i] - my) * (y[i] - my);
	}
	nx = sqrt(nx);
	ny = sqrt(ny);
	for (int i = 0; i < n; i++)
		r += (x[i] - mx) / nx * ((y[i] - my) / ny);
	if (fabs(r) > 1 - 1e-13)
		return r > 0 ? 1.0 : -1.0;
	return r;
}

struct ix {
	double v;
	int i;
};

static int cmp_ix(const void *a, const void *b)
{
	const struct ix *p = a, *q = b;

	if (p->v != q->v)
		return p->v < q->v ? -1 : 1;
	return (p->i > q->i) - (p->i < q->i);
}

int qf_rank_average(const double *x, int n, double *r)
{
	struct ix *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);

	if (!s)
		return -1;
	for (int i = 0; i < n; i++)
		s[i] = (struct ix){ x[i], i };
	qsort(s, (size_t)n, sizeof *s, cmp_ix);
	for (int i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && s[j].v == s[i].v; j++)
			;
		/* ranks i+1 .. j share their mean */
		for (int t = i; t < j; t++)
			r[s[t].i] = 0.5 * (double)(i + 1 + j);
	}
	free(s);
	return 0;
}

/* Kendall's counts over the pairs of x, y (O(n^2), exact integers). */
struct kendall {
	int64_t tot, dis, xtie, ytie, ntie;
	double x0, x1, y0, y1;	/* sums over tie groups of t(t-1)(t-2)
				 * and t(t-1)(2t+5) */
};

struct xy {
	double x, y;
};

static int cmp_xy(const void *a, const void *b)
{
	const struct xy *p = a, *q = b;

	if (p->x != q->x)
		return p->x < q->x ? -1 : 1;
	return (p->y > q->y) - (p->y < q->y);
}

/* Merge sort v[0..n) (tmp: n scratch), returning the number of strict
 * inversions (i < j, v[i] > v[j]): equal values are not one. */
static int64_t inversions(double *v, double *tmp, int n)
{
	int h = n / 2, i = 0, j = h, o = 0;
	int64_t c;

	if (n < 2)
		return 0;
	c = inversions(v, tmp, h) + inversions(v + h, tmp, n - h);
	while (i < h && j < n)
		if (v[j] < v[i]) {
			c += h - i;
			tmp[o++] = v[j++];
		} else {
			tmp[o++] = v[i++];
		}
	while (i < h)
		tmp[o++] = v[i++];
	while (j < n)
		tmp[o++] = v[j++];
	memcpy(v, tmp, (size_t)n * sizeof *v);
	return c;
}

/* Over the runs of equal values of sorted data, p's x (or (x, y) with
 * both), else v: the pairs they tie and the sums of t(t-1)(t-2) and
 * t(t-1)(2t+5), t a run's length. */
static int64_t tie_runs(const struct xy *p, const double *v, int n, int both,
			double *s0, double *s1)
{
	int64_t pairs = 0;

	*s0 = *s1 = 0;
	for (int i = 0, j; i < n; i = j) {
		double t;

		for (j = i + 1; j < n; j++)
			if (p ? p[j].x != p[i].x || (both && p[j].y != p[i].y)
			      : v[j] != v[i])
				break;
		t = j - i;
		pairs += (int64_t)(j - i) * (j - i - 1) / 2;
		*s0 += t * (t - 1) * (t - 2);
		*s1 += t * (t - 1) * (2 * t + 5);
	}
	return pairs;
}

/* Knight's (1966) O(n log n) counts, as scipy's kendalltau: sorted by
 * (x, y), the discordant pairs are the strict inversions of y; -1: out
 * of memory. */
static int kendall_counts(const double *x, const double *y, int n,
			  struct kendall *k)
{
	struct xy *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
	double *v = malloc(2 * (size_t)(n > 0 ? n : 1) * sizeof *v), d;

	memset(k, 0, sizeof *k);
	if (!p || !v) {
		free(p);
		free(v);
		return -1;
	}
	k->tot = (int64_t)n * (n - 1) / 2;
	for (int i = 0; i < n; i++)
		p[i] = (struct xy){ x[i], y[i] };
	qsort(p, (size_t)n, sizeof *p, cmp_xy);
	k->xtie = tie_runs(p, NULL, n, 0, &k->x0, &k->x1);
	k->ntie = tie_runs(p, NULL, n, 1, &d, &d);
	for (int i = 0; i < n; i++)
		v[i] = p[i].y;
	k->dis = inversions(v, v + n, n);
	k->ytie = tie_runs(NULL, v, n, 0, &k->y0, &k->y1);	/* v sorted */
	free(p);
	free(v);
	return 0;
}

static double kendall_tau(const struct kendall *k)
{
	double cmd = (double)(k->tot - k->xtie - k->ytie + k->ntie - 2 * k->dis);
	double tau;

	if (k->xtie == k->tot || k->ytie == k->tot)
		return NAN;
	tau = cmd / sqrt((double)(k->tot - k->xtie)) /
	      sqrt((double)(k->tot - k->ytie));
	return fmax(-1.0, fmin(1.0, tau));
}

double qf_cor_coef(int method, const double *x, const double *y, int n)
{
	struct kendall k;
	double *rx, *ry, r = NAN;

	if (n < 2 || all_equal(x, n) || all_equal(y, n))
		return NAN;
	switch (method) {
	case QF_COR_PEARSON:
		return pearson(x, y, n);
	case QF_COR_KENDALL:
		if (kendall_counts(x, y, n, &k) < 0)
			return NAN;
		return kendall_tau(&k);
	case QF_COR_SPEARMAN:
		rx = malloc(2 * (size_t)n * sizeof *rx);
		if (!rx)
			return NAN;
		ry = rx + n;
		qf_rank_average(x, n, rx);
		qf_rank_average(y, n, ry);
		r = pearson(rx, ry, n);
		free(rx);
	}
	return r;
}

/* scipy's _kendall_p_exact (two-sided): the number of orders of n with
 * at most c discordant pairs, by the recursion of Kendall (1970) over
 * n, as a probability; c concordant pairs observed. */
static double kendall_p_exact(int n, int64_t c)
{
	int64_t tot = (int64_t)n * (n - 1) / 2;
	double *nw, fact1 = 1, fact, sum = 0, p;

	if (tot - c < c)
		c = tot - c;
	for (int j = 2; j < n; j++)
		fact1 *= j;
	fact = fact1 * n;	/* inf from 171: p 0, as scipy's */
	if (n <= 2)
		return 1.0;
	if (c == 0)
		return 2.0 / fact;
	if (c == 1)
		return 2.0 / fact1;
	if (4 * c == tot * 2)
		return 1.0;
	if (!(nw = calloc((size_t)c + 1, sizeof *nw)))
		return NAN;
	nw[0] = nw[1] = 1.0;
	for (int j = 3; j <= n; j++) {
		for (int64_t i = 1; i <= c; i++)
			nw[i] += nw[i - 1];
		if (j <= c)
			for (int64_t i = c; i >= j; i--)
				nw[i] -= nw[i - j];
	}
	for (int64_t i = 0; i <= c; i++)
		sum += nw[i];
	free(nw);
	p = 2.0 * sum / fact;
	return fmax(0.0, fmin(1.0, p));
}

/* -1: out of memory */
static int kendall_test(const double *x, const double *y, int n, qf_cor *o)
{
	struct kendall k;
	double cmd, m = (double)n * (n - 1), var, z;

	if (kendall_counts(x, y, n, &k) < 0)
		return -1;
	o->r = kendall_tau(&k);
	/* scipy's method='auto': exact without ties for n <= 33 or when at
	 * most one pair is discordant (or concordant) */
	if (k.xtie == 0 && k.ytie == 0 &&
	    (n <= 33 || k.dis <= 1 || k.tot - k.dis <= 1)) {
		o->exact = 1;
		o->p = kendall_p_exact(n, k.tot - k.dis);
		return isnan(o->p) ? -1 : 0;
	}
	cmd = (double)(k.tot - k.xtie - k.ytie + k.ntie - 2 * k.dis);
	var = (m * (2.0 * n + 5) - k.x1 - k.y1) / 18 +
	      (2.0 * (double)k.xtie * (double)k.ytie) / m +
	      k.x0 * k.y0 / (9 * m * (n - 2));
	z = cmd / sqrt(var);
	o->stat = z;
	o->p = 2 * gsl_cdf_ugaussian_Q(fabs(z));
	return 0;
}

/* A two-sided t test of a correlation on df degrees of freedom, as
 * scipy's _ttest_finish: t = r sqrt(df / ((1 + r)(1 - r))). */
static void t_test(qf_cor *o, double df)
{
	double r = o->r;

	o->df = df;
	if (fabs(r) >= 1) {
		o->stat = r > 0 ? INFINITY : -INFINITY;
		o->p = 0;
		return;
	}
	o->stat = r * sqrt(df / ((r + 1.0) * (1.0 - r)));
	o->p = 2 * gsl_cdf_tdist_Q(fabs(o->stat), df);
}

/* The Fisher-z interval: tanh(atanh(r) -+ z_(1+level)/2 se). */
static void fisher_ci(qf_cor *o, double se, double level)
{
	double z = gsl_cdf_ugaussian_Pinv((1 + level) / 2), zr = atanh(o->r);

	o->lo = tanh(zr - z * se);
	o->hi = tanh(zr + z * se);
}

static void cor_init(qf_cor *o, int n, int ndrop)
{
	*o = (qf_cor){ .n = n, .ndrop = ndrop, .r = NAN, .stat = NAN,
		       .df = NAN, .p = NAN, .lo = NAN, .hi = NAN };
}

static int check_level(double level, qf_err *err)
{
	if (!(level > 0 && level < 1))
		return qf_err_set(err, "interval level %g is not between 0 and 1",
				  level);
	return 0;
}

static int too_few(int m, int n, int need, qf_err *err)
{
	if (m == n)
		return qf_err_set(err, "%d complete pairs: a correlation needs %d",
				  m, need);
	return qf_err_set(err, "%d complete pairs (%d dropped for NaN): a "
			  "correlation needs %d", m, n - m, need);
}

/* The test of m complete pairs xs, ys (of n given) into out, by their
 * ranks rx, ry for Spearman when not NULL; method and level checked. */
static int cor_test_complete(int method, const double *xs, const double *ys,
			     const double *rx, const double *ry, int m, int n,
			     double level, qf_cor *out, qf_err *err)
{
	cor_init(out, m, n - m);
	if (m < 3)
		return too_few(m, n, 3, err);
	if (all_equal(xs, m) || all_equal(ys, m))
		return qf_err_set(err, "%s is constant",
				  all_equal(xs, m) ? "x" : "y");
	if (method == QF_COR_KENDALL) {
		if (kendall_test(xs, ys, m, out) < 0)
			return qf_err_set(err, "out of memory");
		return 0;
	}
	if (method == QF_COR_SPEARMAN && rx && ry)
		out->r = pearson(rx, ry, m);
	else
		out->r = qf_cor_coef(method, xs, ys, m);
	if (isnan(out->r))
		return qf_err_set(err, "out of memory");
	t_test(out, m - 2);
	/* scipy's pearsonr interval: only for n > 3 */
	if (method == QF_COR_PEARSON && m > 3)
		fisher_ci(out, 1 / sqrt(m - 3.0), level);
	return 0;
}

int qf_cor_test(int method, const double *x, const double *y, int n,
		double level, qf_cor *out, qf_err *err)
{
	double *xs;
	int m, rc;

	if (method < 0 || method >= QF_COR_METHODS)
		return qf_err_set(err, "unknown correlation method %d", method);
	if (check_level(level, err) < 0)
		return -1;
	if (n < 0 || !(xs = malloc(2 * (size_t)(n > 0 ? n : 1) * sizeof *xs)))
		return qf_err_set(err, "out of memory");
	m = qf_cor_complete(x, y, n, xs, xs + n);
	rc = cor_test_complete(method, xs, xs + n, NULL, NULL, m, n, level,
			       out, err);
	free(xs);
	return rc;
}

int qf_cor_test_ranked(int method, const double *x, const double *y,
		       const double *rx, const double *ry, int n, double level,
		       qf_cor *out, qf_err *err)
{
	for (int i = 0; i < n; i++)
		if (isnan(x[i]) || isnan(y[i]))
			return qf_cor_test(method, x, y, n, level, out, err);
	if (method < 0 || method >= QF_COR_METHODS)
		return qf_err_set(err, "unknown correlation method %d", method);
	if (check_level(level, err) < 0)
		return -1;
	return cor_test_complete(method, x, y, rx, ry, n, n, level, out, err);
}

/* ---------------------------------------------------------------- partial */

/* The residuals of least squares of the columns of b (n x 2) on a
 * (n x p, row-major), by LAPACKE's complete orthogonal factorization
 * (dgelsy); -1 when a has rank < p (its rank in *rank). */
static int residuals(const double *a, int n, int p, double *b, int *rank)
{
	double *qa = malloc((size_t)n * p * sizeof *qa);
	double *qb = malloc((size_t)n * 2 * sizeof *qb);
	int *jpvt = calloc((size_t)p, sizeof *jpvt), rc = -2;

	if (!qa || !qb || !jpvt)
		goto out;
	memcpy(qa, a, (size_t)n * p * sizeof *qa);
	memcpy(qb, b, (size_t)n * 2 * sizeof *qb);
	/* rcond: a column that adds less than 1e-10 of the leading one's
	 * size is collinear with the others */
	if (LAPACKE_dgelsy(LAPACK_ROW_MAJOR, n, p, 2, qa, p, qb, 2, jpvt,
			   1e-10, rank) != 0)
		goto out;
	rc = -1;
	if (*rank < p)
		goto out;
	for (int i = 0; i < n; i++)
		for (int c = 0; c < 2; c++) {
			double f = 0;

			for (int j = 0; j < p; j++)
				f += a[(size_t)i * p + j] * qb[j * 2 + c];
			b[i * 2 + c] -= f;
		}
	rc = 0;
out:
	free(qa);
	free(qb);
	free(jpvt);
	return rc;
}

/* The sum of squares about its mean of column c of b (m x 2). */
static double spread(const double *b, int m, int c)
{
	double mu = 0, ss = 0;

	for (int i = 0; i < m; i++)
		mu += b[i * 2 + c];
	mu /= m;
	for (int i = 0; i < m; i++)
		ss += (b[i * 2 + c] - mu) * (b[i * 2 + c] - mu);
	return ss;
}

/* The rows of x, y, z without a NaN: a = [1, z], b = [x, y]. */
static int partial_rows(const double *x, const double *y, const double *z,
			int n, int k, double *a, double *b)
{
	int m = 0;

	for (int i = 0; i < n; i++) {
		int ok = !isnan(x[i]) && !isnan(y[i]);

		for (int j = 0; j < k && ok; j++)
			ok = !isnan(z[(size_t)i * k + j]);
		if (!ok)
			continue;
		a[(size_t)m * (k + 1)] = 1;
		for (int j = 0; j < k; j++)
			a[(size_t)m * (k + 1) + 1 + j] = z[(size_t)i * k + j];
		b[m * 2] = x[i];
		b[m * 2 + 1] = y[i];
		m++;
	}
	return m;
}

int qf_cor_partial(const double *x, const double *y, const double *z,
		   int n, int k, double level, qf_cor *out, qf_err *err)
{
	double *a = NULL, *b = NULL, *rx = NULL, *ry, ss[2];
	int m, rank, rc = -1, rr;

	if (k < 0 || n < 0)
		return qf_err_set(err, "bad sizes n %d, k %d", n, k);
	if (check_level(level, err) < 0)
		return -1;
	a = malloc((size_t)(n > 0 ? n : 1) * (k + 1) * sizeof *a);
	b = malloc(2 * (size_t)(n > 0 ? n : 1) * sizeof *b);
	rx = malloc(2 * (size_t)(n > 0 ? n : 1) * sizeof *rx);
	if (!a || !b || !rx) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	ry = rx + n;
	m = partial_rows(x, y, z, n, k, a, b);
	cor_init(out, m, n - m);
	if (m < k + 4) {
		qf_err_set(err, "%d complete rows for %d covariates: a partial "
			   "correlation needs %d", m, k, k + 4);
		goto out;
	}
	ss[0] = spread(b, m, 0);
	ss[1] = spread(b, m, 1);
	rr = residuals(a, m, k + 1, b, &rank);
	if (rr == -1)
		qf_err_set(err, "the covariates are collinear (rank %d of %d "
			   "columns with the intercept)", rank, k + 1);
	else if (rr < 0)
		qf_err_set(err, "out of memory");
	if (rr < 0)
		goto out;
	for (int i = 0; i < m; i++) {
		rx[i] = b[i * 2];
		ry[i] = b[i * 2 + 1];
	}
	/* residuals below 1e-10 of the spread are rounding noise */
	for (int c = 0; c < 2; c++)
		if (spread(b, m, c) <= 1e-20 * ss[c]) {
			qf_err_set(err, ss[c] > 0 ? "%s is a linear function "
				   "of the covariates" : "%s is constant", c ? "y" : "x");
			goto out;
		}
	out->r = qf_cor_coef(QF_COR_PEARSON, rx, ry, m);
	t_test(out, m - 2 - k);
	fisher_ci(out, 1 / sqrt(m - 3.0 - k), level);
	rc = 0;
out:
	free(a);
	free(b);
	free(rx);
	return rc;
}

/* ------------------------------------------------------ multiple testing */

const char *qf_adjust_name(int method)
{
	return method == QF_ADJ_HOLM ? "holm" : method == QF_ADJ_BH ? "bh" : "?";
}

int qf_adjust_parse(const char *s)
{
	if (strcmp(s, "holm") == 0)
		return QF_ADJ_HOLM;
	if (strcmp(s, "bh") == 0 || strcmp(s, "fdr_bh") == 0)
		return QF_ADJ_BH;
	return -1;
}

/* statsmodels' multipletests over the m sorted p-values: Holm's
 * (m - i) p_(i) made non-decreasing from the smallest up, BH's
 * m p_(i) / (i + 1) made non-increasing from the largest down; both
 * capped at 1. */
int qf_p_adjust(int method, const double *p, int m, double *adj,
		qf_err *err)
{
	struct ix *s;
	int t = 0;

	if (method != QF_ADJ_HOLM && method != QF_ADJ_BH)
		return qf_err_set(err, "unknown adjustment %d", method);
	if (m < 0 || !(s = malloc((size_t)(m > 0 ? m : 1) * sizeof *s)))
		return qf_err_set(err, "out of memory");
	for (int i = 0; i < m; i++) {
		adj[i] = NAN;
		if (isnan(p[i]))
			continue;
		if (p[i] < 0 || p[i] > 1) {
			free(s);
			return qf_err_set(err, "p-value %g is not in [0, 1]", p[i]);
		}
		s[t++] = (struct ix){ p[i], i };
	}
	qsort(s, (size_t)t, sizeof *s, cmp_ix);
	if (method == QF_ADJ_HOLM) {
		double run = 0;

		for (int i = 0; i < t; i++) {
			run = fmax(run, s[i].v * (t - i));
			adj[s[i].i] = fmin(run, 1.0);
		}
	} else {
		double run = INFINITY;

		for (int i = t - 1; i >= 0; i--) {
			run = fmin(run, s[i].v * t / (i + 1));
			adj[s[i].i] = fmin(run, 1.0);
		}
	}
	free(s);
	return 0;
}
