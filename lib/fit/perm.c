/*
 * perm.c - resampling: permutation p-values of a correlation and of a
 * difference of two means (exact enumeration or seeded Monte-Carlo, as
 * scipy.stats.permutation_test), and bootstrap intervals of a
 * correlation (percentile and BCa, as scipy.stats.bootstrap)
 * (docs/fit.md, "Correlations").
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include "fit/cor_impl.h"

double qf_perm_p(uint64_t nless, uint64_t ngreater, uint64_t nperm,
		 int exact)
{
	double adj = exact ? 0 : 1, pl, pg;

	pl = ((double)nless + adj) / ((double)nperm + adj);
	pg = ((double)ngreater + adj) / ((double)nperm + adj);
	return fmin(1.0, 2 * fmin(pl, pg));
}

/* The tails of one resampled statistic v against the observed obs. */
struct tails {
	double obs, gamma;
	uint64_t less, greater, n;
};

static void tails_init(struct tails *t, double obs)
{
	*t = (struct tails){ .obs = obs,
			     .gamma = fmax(QF_PERM_EPS, fabs(QF_PERM_EPS * obs)) };
}

static void tails_add(struct tails *t, double v)
{
	t->less += v <= t->obs + t->gamma;
	t->greater += v >= t->obs - t->gamma;
	t->n++;
}

/* n!, or UINT64_MAX when it exceeds max. */
static uint64_t factorial_upto(int n, uint64_t max)
{
	uint64_t f = 1;

	for (int i = 2; i <= n; i++) {
		if (f > max / (uint64_t)i)
			return UINT64_MAX;
		f *= (uint64_t)i;
	}
	return f;
}

/* C(n, k), or UINT64_MAX when it exceeds max. */
static uint64_t choose_upto(int n, int k, uint64_t max)
{
	unsigned __int128 c = 1;

	if (k > n - k)
		k = n - k;
	for (int i = 1; i <= k; i++) {
		c = c * (unsigned)(n - k + i) / (unsigned)i;
		if (c > max)
			return UINT64_MAX;
	}
	return (uint64_t)c;
}

/* ------------------------------------------------- correlation, permuted */

struct corperm {
	int method, n;
	const double *x, *y;	/* ranks for Spearman */
	double *xp;		/* x in the current order */
};

static double corperm_stat(const struct corperm *c, const int *idx)
{
	int m = c->method == QF_COR_SPEARMAN ? QF_COR_PEARSON : c->method;

	for (int i = 0; i < c->n; i++)
		c->xp[i] = c->x[idx[i]];
	return qf_cor_coef(m, c->xp, c->y, c->n);
}

/* Every order of idx by Heap's algorithm (iterative). */
static void corperm_exact(const struct corperm *c, int *idx, int *cnt,
			  struct tails *t)
{
	int n = c->n, i = 1;

	memset(cnt, 0, (size_t)n * sizeof *cnt);
	tails_add(t, corperm_stat(c, idx));
	while (i < n) {
		if (cnt[i] < i) {
			int j = i % 2 ? cnt[i] : 0, s = idx[j];

			idx[j] = idx[i];
			idx[i] = s;
			tails_add(t, corperm_stat(c, idx));
			cnt[i]++;
			i = 1;
		} else {
			cnt[i++] = 0;
		}
	}
}

static void corperm_random(const struct corperm *c, int *idx,
			   uint64_t nperm, uint64_t seed, struct tails *t)
{
	uint64_t s[4];

	for (uint64_t b = 0; b < nperm; b++) {
		qf_fit_rng(seed, b, s);
		for (int i = 0; i < c->n; i++)
			idx[i] = i;
		/* Fisher-Yates */
		for (int i = c->n - 1; i > 0; i--) {
			int j = (int)qf_fit_below(s, (uint64_t)i + 1), v = idx[i];

			idx[i] = idx[j];
			idx[j] = v;
		}
		tails_add(t, corperm_stat(c, idx));
	}
}

int qf_cor_perm(int method, const double *x, const double *y, int n,
		uint64_t max_exact, uint64_t nperm, uint64_t seed,
		double *p, int *exact, qf_err *err)
{
	struct corperm c = { .method = method };
	double *buf = NULL, *xs, *ys, obs;
	int *idx = NULL, m, rc = -1;
	struct tails t;
	uint64_t nfact;

	if (method < 0 || method >= QF_COR_METHODS)
		return qf_err_set(err, "unknown correlation method %d", method);
	buf = malloc(5 * (size_t)(n > 0 ? n : 1) * sizeof *buf);
	idx = malloc(2 * (size_t)(n > 0 ? n : 1) * sizeof *idx);
	if (!buf || !idx) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	xs = buf;
	ys = xs + n;
	m = qf_cor_complete(x, y, n, xs, ys);
	c.n = m;
	c.x = xs;
	c.y = ys;
	c.xp = buf + 4 * (size_t)n;
	if (method == QF_COR_SPEARMAN) {
		qf_rank_average(xs, m, buf + 2 * (size_t)n);
		qf_rank_average(ys, m, buf + 3 * (size_t)n);
		c.x = buf + 2 * (size_t)n;
		c.y = buf + 3 * (size_t)n;
	}
	for (int i = 0; i < m; i++)
		idx[i] = i;
	obs = m >= 3 ? corperm_stat(&c, idx) : NAN;
	if (isnan(obs)) {
		qf_err_set(err, m < 3 ? "%d complete pairs: a correlation needs 3"
			   : "x or y is constant", m);
		goto out;
	}
	tails_init(&t, obs);
	nfact = factorial_upto(m, max_exact);
	*exact = nfact <= max_exact;
	if (*exact) {
		corperm_exact(&c, idx, idx + n, &t);
	} else if (nperm == 0) {
		qf_err_set(err, "%d! orders exceed %llu and no random ones asked",
			   m, (unsigned long long)max_exact);
		goto out;
	} else {
		corperm_random(&c, idx, nperm, seed, &t);
	}
	*p = qf_perm_p(t.less, t.greater, t.n, *exact);
	rc = 0;
out:
	free(buf);
	free(idx);
	return rc;
}

/* ------------------------------------------------------------- bootstrap */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q-quantile of sorted v[0..n), linear between order statistics
 * (numpy's default, which scipy's bootstrap uses). */
static double quantile(const double *v, int n, double q)
{
	double pos = q * (n - 1);
	int i = (int)pos;

	if (!(q >= 0 && q <= 1))
		return NAN;
	if (i >= n - 1)
		return v[n - 1];
	return v[i] + (v[i + 1] - v[i]) * (pos - i);
}

/* scipy.special.ndtri, infinite at 0 and 1 (GSL would call its error
 * handler). */
static double ndtri(double p)
{
	if (!(p > 0))
		return p == 0 ? -INFINITY : NAN;
	if (!(p < 1))
		return p == 1 ? INFINITY : NAN;
	return gsl_cdf_ugaussian_Pinv(p);
}

/* The acceleration of BCa from the jackknife (Efron and Tibshirani
 * 1993, 14.15): leave-one-out coefficients theta_i, U_i = (n - 1)
 * (mean - theta_i), a = sum U^3 / n^3 / (6 (sum U^2 / n^2)^1.5). */
static double bca_accel(int method, const double *x, const double *y, int n,
			double *xb, double *yb)
{
	double *th = malloc((size_t)n * sizeof *th), mean = 0, num = 0, den = 0;

	if (!th)
		return NAN;
	for (int i = 0; i < n; i++) {
		int k = 0;

		for (int j = 0; j < n; j++)
			if (j != i) {
				xb[k] = x[j];
				yb[k++] = y[j];
			}
		th[i] = qf_cor_coef(method, xb, yb, n - 1);
		mean += th[i];
	}
	mean /= n;
	for (int i = 0; i < n; i++) {
		double u = (n - 1) * (mean - th[i]);

		num += u * u * u;
		den += u * u;
	}
	free(th);
	num /= (double)n * n * n;
	den /= (double)n * n;
	return num / 6 / pow(den, 1.5);
}

/* BCa's levels (Efron and Tibshirani 1993, 14.10) as scipy's
 * _bca_interval: z0 from the share of replicates below the estimate
 * (ties count half). */
static void bca_levels(const double *th, int B, double est, double acc,
		       double alpha, double *a1, double *a2)
{
	double below = 0, z0, za = ndtri(alpha), num;

	for (int b = 0; b < B; b++)
		below += (th[b] < est) + (th[b] <= est);
	z0 = ndtri(below / (2.0 * B));
	num = z0 + za;
	*a1 = gsl_cdf_ugaussian_P(z0 + num / (1 - acc * num));
	num = z0 - za;
	*a2 = gsl_cdf_ugaussian_P(z0 + num / (1 - acc * num));
}

/* Replicate b's coefficient. */
static double boot_rep(int method, const double *x, const double *y, int n,
		       uint64_t seed, int b, double *xb, double *yb)
{
	uint64_t s[4];

	qf_fit_rng(seed, (uint64_t)b, s);
	for (int i = 0; i < n; i++) {
		int j = (int)qf_fit_below(s, (uint64_t)n);

		xb[i] = x[j];
		yb[i] = y[j];
	}
	return qf_cor_coef(method, xb, yb, n);
}

int qf_cor_boot(int method, const double *x, const double *y, int n,
		int nboot, uint64_t seed, double level, int kind,
		double *lo, double *hi, int *nbad, qf_err *err)
{
	double *buf = NULL, *xs, *ys, *xb, *yb, *th = NULL, est, alpha;
	double a1, a2, acc;
	int m, rc = -1;

	*lo = *hi = NAN;
	*nbad = 0;
	if (method < 0 || method >= QF_COR_METHODS)
		return qf_err_set(err, "unknown correlation method %d", method);
	if (!(level > 0 && level < 1))
		return qf_err_set(err, "interval level %g is not between 0 and 1",
				  level);
	if (nboot < 1)
		return qf_err_set(err, "%d bootstrap replicates", nboot);
	buf = malloc(4 * (size_t)(n > 0 ? n : 1) * sizeof *buf);
	th = malloc((size_t)nboot * sizeof *th);
	if (!buf || !th) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	xs = buf;
	ys = xs + n;
	xb = ys + n;
	yb = xb + n;
	m = qf_cor_complete(x, y, n, xs, ys);
	est = m >= 3 ? qf_cor_coef(method, xs, ys, m) : NAN;
	if (isnan(est)) {
		qf_err_set(err, m < 3 ? "%d complete pairs: a correlation needs 3"
			   : "x or y is constant", m);
		goto out;
	}
	for (int b = 0; b < nboot; b++) {
		th[b] = boot_rep(method, xs, ys, m, seed, b, xb, yb);
		*nbad += isnan(th[b]);
	}
	rc = 0;
	if (*nbad)
		goto out;
	alpha = (1 - level) / 2;
	a1 = alpha;
	a2 = 1 - alpha;
	if (kind == QF_BOOT_BCA) {
		acc = bca_accel(method, xs, ys, m, xb, yb);
		bca_levels(th, nboot, est, acc, alpha, &a1, &a2);
	}
	qsort(th, (size_t)nboot, sizeof *th, cmp_double);
	*lo = quantile(th, nboot, a1);
	*hi = quantile(th, nboot, a2);
out:
	free(buf);
	free(th);
	return rc;
}

/* ------------------------------------------------- difference of means */

/* mean(v[idx[0..k)]) - mean(v[idx[k..n)]) */
static double diff_means(const double *v, const int *idx, int k, int n)
{
	double sa = 0, sb = 0;

	for (int i = 0; i < k; i++)
		sa += v[idx[i]];
	for (int i = k; i < n; i++)
		sb += v[idx[i]];
	return sa / k - sb / (n - k);
}

/* Every split: the first group runs through the k-subsets of [0, n) in
 * lexicographic order (comb), the second is the rest. */
static void diff_exact(const double *v, int k, int n, int *comb, int *idx,
		       struct tails *t)
{
	for (int i = 0; i < k; i++)
		comb[i] = i;
	for (;;) {
		int j = 0, r = k, i;

		for (i = 0; i < n; i++)
			if (j < k && comb[j] == i)
				idx[j++] = i;
			else
				idx[r++] = i;
		tails_add(t, diff_means(v, idx, k, n));
		for (i = k - 1; i >= 0 && comb[i] == n - k + i; i--)
			;
		if (i < 0)
			return;
		comb[i]++;
		for (j = i + 1; j < k; j++)
			comb[j] = comb[j - 1] + 1;
	}
}

static void diff_random(const double *v, int k, int n, uint64_t nperm,
			uint64_t seed, int *idx, struct tails *t)
{
	uint64_t s[4];

	for (uint64_t b = 0; b < nperm; b++) {
		qf_fit_rng(seed, b, s);
		for (int i = 0; i < n; i++)
			idx[i] = i;
		/* a partial Fisher-Yates shuffle: the first k are a uniform
		 * k-subset */
		for (int i = 0; i < k; i++) {
			int j = i + (int)qf_fit_below(s, (uint64_t)(n - i)), w = idx[i];

			idx[i] = idx[j];
			idx[j] = w;
		}
		tails_add(t, diff_means(v, idx, k, n));
	}
}

static int drop_nan(const double *a, int n, double *out)
{
	int m = 0;

	for (int i = 0; i < n; i++)
		if (!isnan(a[i]))
			out[m++] = a[i];
	return m;
}

int qf_perm_diff(const double *a, int na, const double *b, int nb,
		 uint64_t max_exact, uint64_t nperm, uint64_t seed,
		 qf_perm *out, qf_err *err)
{
	int n = na + nb, *idx = NULL, rc = -1;
	double *v = NULL;
	struct tails t;
	uint64_t nsplit;

	memset(out, 0, sizeof *out);
	out->diff = out->p = NAN;
	if (na < 0 || nb < 0)
		return qf_err_set(err, "bad sizes %d, %d", na, nb);
	v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
	idx = malloc(2 * (size_t)(n > 0 ? n : 1) * sizeof *idx);
	if (!v || !idx) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	out->na = drop_nan(a, na, v);
	out->nb = drop_nan(b, nb, v + out->na);
	out->ndrop = n - out->na - out->nb;
	n = out->na + out->nb;
	if (out->na == 0 || out->nb == 0) {
		qf_err_set(err, "group %s has no values", out->na ? "b" : "a");
		goto out;
	}
	for (int i = 0; i < n; i++)
		idx[i] = i;
	out->diff = diff_means(v, idx, out->na, n);
	tails_init(&t, out->diff);
	nsplit = choose_upto(n, out->na, max_exact);
	out->exact = nsplit <= max_exact;
	if (out->exact) {
		diff_exact(v, out->na, n, idx + n, idx, &t);
	} else if (nperm == 0) {
		qf_err_set(err, "C(%d, %d) splits exceed %llu and no random ones "
			   "asked", n, out->na, (unsigned long long)max_exact);
		goto out;
	} else {
		diff_random(v, out->na, n, nperm, seed, idx, &t);
	}
	out->nperm = t.n;
	out->p = qf_perm_p(t.less, t.greater, t.n, out->exact);
	rc = 0;
out:
	free(v);
	free(idx);
	return rc;
}
