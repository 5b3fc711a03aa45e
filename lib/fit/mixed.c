/*
 * mixed.c - linear mixed models with one or two grouping factors by
 * profiled REML or ML (docs/fit.md, "Mixed models").
 *
 * The formulation is lme4's (Bates et al. 2015, section 3): with the
 * random effects' relative standard deviations lambda_k = sqrt(s_k /
 * sigma2) on the diagonal of Lambda, one Cholesky factorization of the
 * augmented cross-product matrix
 *
 *     [ Lambda Z'Z Lambda + I   Lambda Z'X   Lambda Z'y ]
 *     [ X'Z Lambda              X'X          X'y        ]   = U'U
 *     [ y'Z Lambda              y'X          y'y        ]
 *
 * gives every term of the profiled criterion: log|H| (H = I + Z Lambda^2
 * Z', the covariance over sigma2) from the first block, log|X'H^-1 X|
 * from the second, the generalized residual sum of squares r'H^-1 r as
 * the square of the last diagonal element, and the GLS estimate b from
 * U22 b = u23.  Its order is the number of levels plus p + 1, whatever
 * n: Z'Z, Z'X and the rest are formed once, each evaluation costs
 * O((q + p)^3) with q the levels (70 for 46 languages x 24 articles).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_roots.h>

#include "fit/fit.h"

/* LAPACK's Cholesky factorization, from OpenBLAS: Debian's OpenBLAS has
 * no LAPACKE (that is liblapacke, one more library for one call).  A
 * row-major upper triangle is the column-major lower one. */
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda,
	     int *info);

#define BIG 1e300		/* the criterion where it cannot be computed */
#define NM_TOL 1e-7		/* simplex size at which Nelder-Mead stops;
				 * polish() does the rest */
#define NM_ITER 4000

struct mm {
	int n, p, nf, q, m;	/* m = q + p + 1: the augmented order */
	int off[QF_MIXED_MAXF + 1];	/* first column of each factor */
	int ml;
	double *C;		/* m x m: [Z X y]'[Z X y] */
	double *A;		/* m x m: its scaled copy, factored */
	long evals;
};

/* What one factorization gives. */
struct dev {
	double ldm;		/* log|H| = log|Lambda Z'Z Lambda + I| */
	double ldx;		/* log|X' H^-1 X| */
	double r2;		/* r' H^-1 r at the GLS estimate */
};

static int mm_init(struct mm *s, const double *y, const double *X, int n,
		   int p, const int *const *g, int nf, const int *levels)
{
	int i, j, k, l, m;
	double *C;

	s->n = n;
	s->p = p;
	s->nf = nf;
	s->q = 0;
	for (k = 0; k < nf; k++) {
		s->off[k] = s->q;
		s->q += levels[k];
	}
	s->off[nf] = s->q;
	m = s->m = s->q + p + 1;
	s->C = calloc((size_t)m * m, sizeof *s->C);
	s->A = malloc((size_t)m * m * sizeof *s->A);
	if (!s->C || !s->A)
		return -1;
	C = s->C;
	for (i = 0; i < n; i++) {
		const double *x = X + (size_t)i * p;
		int zc[QF_MIXED_MAXF];

		for (k = 0; k < nf; k++)
			zc[k] = s->off[k] + g[k][i];
		for (k = 0; k < nf; k++) {
			for (l = 0; l < nf; l++)
				C[(size_t)zc[k] * m + zc[l]] += 1;
			for (j = 0; j < p; j++)
				C[(size_t)zc[k] * m + s->q + j] += x[j];
			C[(size_t)zc[k] * m + m - 1] += y[i];
		}
		for (j = 0; j < p; j++) {
			for (l = j; l < p; l++)
				C[(size_t)(s->q + j) * m + s->q + l] +=
					x[j] * x[l];
			C[(size_t)(s->q + j) * m + m - 1] += x[j] * y[i];
		}
		C[(size_t)m * m - 1] += y[i] * y[i];
	}
	/* Only the upper triangle is read (row-major 'U'). */
	return 0;
}

static void mm_free(struct mm *s)
{
	free(s->C);
	free(s->A);
}

/* Factor the augmented matrix at ratios th (s_k / sigma2).  Returns 0,
 * or LAPACK's info (> 0: the leading minor of that order is not
 * positive). */
static int mm_factor(struct mm *s, const double *th, struct dev *d)
{
	int m = s->m, i, j, k, info;
	double lam[QF_MIXED_MAXF + 1];
	double *A = s->A;

	s->evals++;
	for (k = 0; k < s->nf; k++)
		lam[k] = sqrt(th[k]);
	for (i = 0; i < m; i++) {
		double li = 1, lj;

		for (k = 0; k < s->nf; k++)
			if (i >= s->off[k] && i < s->off[k + 1])
				li = lam[k];
		for (j = i; j < m; j++) {
			lj = 1;
			for (k = 0; k < s->nf; k++)
				if (j >= s->off[k] && j < s->off[k + 1])
					lj = lam[k];
			A[(size_t)i * m + j] =
				li * lj * s->C[(size_t)i * m + j];
		}
		if (i < s->q)
			A[(size_t)i * m + i] += 1;
	}
	dpotrf_("L", &m, A, &m, &info);
	if (info != 0)
		return info;
	d->ldm = d->ldx = 0;
	for (i = 0; i < s->q; i++)
		d->ldm += 2 * log(A[(size_t)i * m + i]);
	for (; i < s->q + s->p; i++)
		d->ldx += 2 * log(A[(size_t)i * m + i]);
	d->r2 = A[(size_t)m * m - 1] * A[(size_t)m * m - 1];
	return 0;
}

/* The degrees of freedom sigma2 is estimated with: n - p for REML. */
static double mm_df(const struct mm *s)
{
	return s->ml ? s->n : s->n - s->p;
}

/* -2 log-likelihood at ratios th and residual variance s2; s2 <= 0:
 * at its estimate given th (the profiled criterion). */
static double mm_dev(struct mm *s, const double *th, double s2)
{
	struct dev d;
	double df = mm_df(s), v;

	if (mm_factor(s, th, &d) != 0 || !(d.r2 > 0))
		return BIG;
	if (s2 <= 0)
		s2 = d.r2 / df;
	v = df * log(2 * M_PI * s2) + d.ldm + d.r2 / s2;
	if (!s->ml)
		v += d.ldx;
	return v;
}

/* ------------------------------------------------------------ Nelder-Mead */

/* A criterion over free parameters x (dims): what it fixes, and how x
 * maps to the ratios and sigma2. */
struct crit {
	struct mm *s;
	int fixed;		/* -1: none (sigma2 profiled); k < nf: s_k;
				 * nf: sigma2; -2: the ratios fixed at th0 */
	double c;		/* the fixed value */
	int dims;
};

static void crit_map(const struct crit *cr, const double *x, double *th,
		     double *s2)
{
	int k, i = 0, nf = cr->s->nf;

	*s2 = 0;
	if (cr->fixed >= 0 && cr->fixed < nf)
		*s2 = exp(x[i++]);
	else if (cr->fixed == nf)
		*s2 = cr->c;
	for (k = 0; k < nf; k++) {
		if (k == cr->fixed)
			th[k] = cr->c / *s2;
		else
			th[k] = x[i] * x[i], i++;
	}
}

static double crit_f(const gsl_vector *v, void *arg)
{
	const struct crit *cr = arg;
	double x[QF_MIXED_MAXF + 1], th[QF_MIXED_MAXF], s2;
	int i;

	for (i = 0; i < cr->dims; i++)
		x[i] = gsl_vector_get(v, i);
	crit_map(cr, x, th, &s2);
	return mm_dev(cr->s, th, s2);
}

/* Minimize from x (updated in place) with initial steps step; returns
 * the minimum, *conv 1 when the simplex shrank below NM_TOL.  Once
 * converged it starts again from the point found, which catches a
 * simplex that collapsed early (a known weakness of the method). */
static double nm_min(struct crit *cr, double *x, const double *step,
		     int *conv, int *iters)
{
	const gsl_multimin_fminimizer_type *T =
		gsl_multimin_fminimizer_nmsimplex2;
	gsl_multimin_function f = { crit_f, (size_t)cr->dims, cr };
	gsl_vector *vx = gsl_vector_alloc(cr->dims);
	gsl_vector *vs = gsl_vector_alloc(cr->dims);
	gsl_multimin_fminimizer *mn = gsl_multimin_fminimizer_alloc(T,
								    cr->dims);
	double best = BIG;
	int i, round, it;

	*conv = 0;
	if (!vx || !vs || !mn)
		goto out;
	for (round = 0; round < 2; round++) {
		for (i = 0; i < cr->dims; i++) {
			gsl_vector_set(vx, i, x[i]);
			gsl_vector_set(vs, i, round ? step[i] * 1e-3 : step[i]);
		}
		gsl_multimin_fminimizer_set(mn, &f, vx, vs);
		*conv = 0;
		for (it = 0; it < NM_ITER; it++) {
			if (gsl_multimin_fminimizer_iterate(mn) != GSL_SUCCESS)
				break;
			if (gsl_multimin_test_size(
				    gsl_multimin_fminimizer_size(mn),
				    NM_TOL) == GSL_SUCCESS) {
				*conv = 1;
				break;
			}
		}
		*iters += it;
		for (i = 0; i < cr->dims; i++)
			x[i] = gsl_vector_get(mn->x, i);
		best = mn->fval;
	}
out:
	gsl_multimin_fminimizer_free(mn);
	gsl_vector_free(vx);
	gsl_vector_free(vs);
	return best;
}

/* ------------------------------------------------------------ the fit */

/* The REML (ML) estimates of the ratios, from every start on a grid of
 * relative standard deviations {0.2, 1, 5}^nf. */
static int fit_ratios(struct mm *s, qf_mixed_fit *fit, double *th)
{
	static const double grid[] = { 0.2, 1, 5 };
	struct crit cr = { s, -1, 0, s->nf };
	double devs[9], xs[9][QF_MIXED_MAXF], best = BIG;
	int nst = s->nf == 1 ? 3 : 9, st, k, ib = -1, convs[9];

	fit->iterations = 0;
	for (st = 0; st < nst; st++) {
		double step[QF_MIXED_MAXF];

		for (k = 0; k < s->nf; k++) {
			xs[st][k] = grid[k ? st / 3 : st % 3];
			step[k] = 0.5 * xs[st][k];
		}
		devs[st] = nm_min(&cr, xs[st], step, &convs[st],
				  &fit->iterations);
		if (devs[st] < best)
			best = devs[st], ib = st;
	}
	fit->starts = nst;
	if (ib < 0)
		return -1;
	fit->converged = convs[ib];
	fit->start_spread = 0;
	for (st = 0; st < nst; st++)
		if (convs[st] && devs[st] - best > fit->start_spread)
			fit->start_spread = devs[st] - best;
	if (fit->start_spread > 1e-6)
		fit->converged = 0;
	for (k = 0; k < s->nf; k++)
		th[k] = xs[ib][k] * xs[ib][k];
	return 0;
}

/* -2 llf profiled over sigma2, at ratios th with th[k] moved by d. */
static double dev_at(struct mm *s, const double *th, int k, double d)
{
	double t[QF_MIXED_MAXF];

	memcpy(t, th, sizeof t);
	if (k >= 0)
		t[k] += d;
	return mm_dev(s, t, 0);
}

/* The finite-difference step of a ratio: relative, but at least rel *
 * floor, since the criterion's rounding (1e-16 of about 100) over the
 * square of a step must stay small. */
static double fd_step(double th, double rel, double floor)
{
	return rel * (th > floor ? th : floor);
}

/* Finite-difference stencils: offsets (in steps) and weights of a
 * first and a second derivative, central, or forward for a ratio on or
 * near the boundary 0 (second order either way). */
struct stencil {
	int n, off[4];
	double w[4];
};

static const struct stencil d1c = { 2, { -1, 1 }, { -0.5, 0.5 } };
static const struct stencil d1f = { 3, { 0, 1, 2 }, { -1.5, 2, -0.5 } };
static const struct stencil d2c = { 3, { -1, 0, 1 }, { 1, -2, 1 } };
static const struct stencil d2f = { 4, { 0, 1, 2, 3 }, { 2, -5, 4, -1 } };

/* Second derivatives of -2 llf in the ratios of the components fr[k]
 * marks. */
static void dev_hess(struct mm *s, const double *th, const int *fr,
		     double h[QF_MIXED_MAXF][QF_MIXED_MAXF])
{
	double t[QF_MIXED_MAXF], st[QF_MIXED_MAXF];
	const struct stencil *s1[QF_MIXED_MAXF], *s2;
	int k, l, i, j;

	for (k = 0; k < s->nf; k++) {
		st[k] = fd_step(th[k], 1e-4, 1);
		s1[k] = th[k] > 3 * st[k] ? &d1c : &d1f;
		for (l = 0; l < s->nf; l++)
			h[k][l] = 0;
	}
	for (k = 0; k < s->nf; k++) {
		if (!fr[k])
			continue;
		s2 = th[k] > 3 * st[k] ? &d2c : &d2f;
		for (i = 0; i < s2->n; i++)
			h[k][k] += s2->w[i] * dev_at(s, th, k,
						     s2->off[i] * st[k]);
		h[k][k] /= st[k] * st[k];
		for (l = 0; l < k; l++) {
			if (!fr[l])
				continue;
			for (i = 0; i < s1[k]->n; i++)
				for (j = 0; j < s1[l]->n; j++) {
					memcpy(t, th, sizeof t);
					t[k] += s1[k]->off[i] * st[k];
					t[l] += s1[l]->off[j] * st[l];
					h[k][l] += s1[k]->w[i] * s1[l]->w[j] *
						   mm_dev(s, t, 0);
				}
			h[k][l] /= st[k] * st[l];
			h[l][k] = h[k][l];
		}
	}
}

/* Nelder-Mead cannot resolve the optimum better than the square root of
 * the rounding of the criterion (1e-8 relative): finish with Newton's
 * method on its gradient (fourth-order central differences, which
 * carry the rounding to 1e-12 or so).  A component whose ratio is near
 * 0 and whose criterion rises from 0 is set to 0, on the boundary, and
 * left out.  fr[k] says which are free. */
static int polish(struct mm *s, double *th, int *fr)
{
	double h[QF_MIXED_MAXF][QF_MIXED_MAXF], g[QF_MIXED_MAXF];
	double t[QF_MIXED_MAXF], f0, f1, det, step[QF_MIXED_MAXF];
	int k, it, nfree, half;

	for (k = 0; k < s->nf; k++) {
		fr[k] = 1;
		if (th[k] < 1e-6) {
			t[k] = th[k];
			th[k] = 0;
			if (dev_at(s, th, k, 1e-7) >= mm_dev(s, th, 0))
				fr[k] = 0;
			else
				th[k] = t[k];
		}
	}
	for (it = 0; it < 50; it++) {
		f0 = mm_dev(s, th, 0);
		for (k = nfree = 0; k < s->nf; k++) {
			double a = fd_step(th[k], 1e-3, 1e-3);

			g[k] = 0;
			if (!fr[k] || th[k] < 2 * a)
				continue;
			nfree++;
			g[k] = (-dev_at(s, th, k, 2 * a) +
				8 * dev_at(s, th, k, a) -
				8 * dev_at(s, th, k, -a) +
				dev_at(s, th, k, -2 * a)) / (12 * a);
		}
		if (!nfree)
			return 1;
		dev_hess(s, th, fr, h);
		for (k = 0; k < s->nf; k++)
			if (!g[k])
				h[k][k] = 1;
		if (s->nf == 1 || !g[0] || !g[1]) {
			for (k = 0; k < s->nf; k++)
				step[k] = g[k] / h[k][k];
		} else {
			det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
			step[0] = (h[1][1] * g[0] - h[0][1] * g[1]) / det;
			step[1] = (h[0][0] * g[1] - h[1][0] * g[0]) / det;
		}
		for (k = 0; k < s->nf; k++)
			if (h[k][k] <= 0)
				return 0;	/* not a minimum: leave it */
		/* Backtrack while the criterion rises (a long valley, where
		 * the differenced Hessian is poor). */
		for (half = 0; half < 40; half++) {
			for (k = 0; k < s->nf; k++)
				t[k] = fmax(th[k] - step[k], 0);
			f1 = mm_dev(s, t, 0);
			if (f1 <= f0 + 1e-13 * fabs(f0))
				break;
			for (k = 0; k < s->nf; k++)
				step[k] /= 2;
		}
		for (k = 0; k < s->nf; k++)
			if (fabs(step[k]) > 1e-8 * th[k])
				break;
		if (half == 40)
			return k == s->nf;	/* within the rounding */
		memcpy(th, t, sizeof t);
		if (k == s->nf)
			return 1;
	}
	return 0;
}

/* statsmodels' standard errors of b: the fixed-effects block of the
 * inverse observed information in (b, ratios) with sigma2 profiled,
 * which is s2 (X'H^-1X)^-1 widened by the cross derivatives
 *     d2 l / db dth_k = -X'H^-1 Z_k Z_k' H^-1 r / s2
 * (nonzero in a sample; zero in expectation, where the plain
 * s2 (X'H^-1X)^-1 of lme4 is the limit).  Like statsmodels, components
 * on the boundary count too (one-sided derivatives there).  On return
 * fit->cov holds the widened covariance, fit->re the random effects
 * (which need Z'H^-1 r too). */
static int widen_cov(struct mm *s, const double *th, qf_mixed_fit *fit)
{
	int p = s->p, q = s->q, m = s->m, k, l, i, j, c, nfr = 0;
	size_t w = (size_t)p + 1;
	double *W = NULL, *S = NULL, s2 = fit->vc[s->nf];
	double hd[QF_MIXED_MAXF][QF_MIXED_MAXF], *lbt[QF_MIXED_MAXF] = { 0 };
	double lam[QF_MIXED_MAXF], hi[QF_MIXED_MAXF][QF_MIXED_MAXF];
	const double *U = s->A, *C = s->C;
	struct dev d;
	int idx[QF_MIXED_MAXF], fr[QF_MIXED_MAXF] = { 1, 1 };

	for (k = 0; k < s->nf; k++)
		if (fr[k])
			idx[nfr++] = k;
	W = malloc(q * w * sizeof *W);
	S = malloc(q * w * sizeof *S);
	for (k = 0; k < nfr; k++)
		lbt[k] = calloc(p, sizeof(double));
	if (!W || !S || !lbt[nfr - 1] || mm_factor(s, th, &d) != 0)
		goto fail;
	for (k = 0; k < s->nf; k++)
		lam[k] = sqrt(th[k]);
#define LAM(i) lam[(i) >= s->off[1] && s->nf > 1 ? 1 : 0]
	/* S = M^-1 Lambda [Z'X Z'y], by U11' U11 = M. */
	for (c = 0; c <= p; c++) {
		for (i = 0; i < q; i++) {
			double v = LAM(i) * C[(size_t)i * m + q + c];

			for (j = 0; j < i; j++)
				v -= U[(size_t)j * m + i] * S[j * w + c];
			S[i * w + c] = v / U[(size_t)i * m + i];
		}
		for (i = q - 1; i >= 0; i--) {
			double v = S[i * w + c];

			for (j = i + 1; j < q; j++)
				v -= U[(size_t)i * m + j] * S[j * w + c];
			S[i * w + c] = v / U[(size_t)i * m + i];
		}
	}
	/* W = Z'H^-1 [X y] = [Z'X Z'y] - Z'Z Lambda S. */
	for (i = 0; i < q; i++)
		for (c = 0; c <= p; c++) {
			double v = C[(size_t)i * m + q + c];

			for (j = 0; j < q; j++) {
				double zz = j >= i ? C[(size_t)i * m + j] :
						     C[(size_t)j * m + i];

				v -= zz * LAM(j) * S[j * w + c];
			}
			W[i * w + c] = v;
		}
#undef LAM
	/* The column for y becomes Z'H^-1 r. */
	for (i = 0; i < q; i++)
		for (c = 0; c < p; c++)
			W[i * w + p] -= W[i * w + c] * fit->beta[c];
	for (k = 0; k < s->nf; k++)
		for (i = s->off[k]; i < s->off[k + 1]; i++)
			fit->re[i] = th[k] * W[i * w + p];
	for (k = 0; k < nfr; k++)
		for (i = s->off[idx[k]]; i < s->off[idx[k] + 1]; i++)
			for (c = 0; c < p; c++)
				lbt[k][c] -= W[i * w + c] *
					     W[i * w + p] / s2;
	/* With cov0 = s2 (X'H^-1X)^-1 = -l_bb^-1 and B = l_bth, Woodbury
	 * gives cov0 - cov0 B (l_thth + B' cov0 B)^-1 B' cov0, and l_thth
	 * (at fixed b) + B' cov0 B is the profile's second derivative,
	 * -1/2 the criterion's. */
	dev_hess(s, th, fr, hd);
	for (k = 0; k < nfr; k++)
		for (l = 0; l < nfr; l++)
			hi[k][l] = -hd[idx[k]][idx[l]] / 2;
	if (nfr == 1) {
		hi[0][0] = 1 / hi[0][0];
	} else {
		double det = hi[0][0] * hi[1][1] - hi[0][1] * hi[1][0], a;

		a = hi[0][0];
		hi[0][0] = hi[1][1] / det;
		hi[1][1] = a / det;
		hi[0][1] = -hi[0][1] / det;
		hi[1][0] = -hi[1][0] / det;
	}
	{
		double cl[QF_MIXED_MAXF][64], *cov = fit->cov;

		if (p > 64)
			goto fail;
		for (k = 0; k < nfr; k++)
			for (i = 0; i < p; i++) {
				double v = 0;

				for (j = 0; j < p; j++)
					v += cov[(size_t)i * p + j] * lbt[k][j];
				cl[k][i] = v;
			}
		for (i = 0; i < p; i++)
			for (j = 0; j < p; j++)
				for (k = 0; k < nfr; k++)
					for (l = 0; l < nfr; l++)
						cov[(size_t)i * p + j] -=
							cl[k][i] * hi[k][l] *
							cl[l][j];
	}
	free(W);
	free(S);
	for (k = 0; k < nfr; k++)
		free(lbt[k]);
	return 0;
fail:
	free(W);
	free(S);
	for (k = 0; k < nfr; k++)
		free(lbt[k]);
	return -1;
}

/* b and its covariance s2 (X'H^-1X)^-1 at ratios th. */
static int fit_fixed(struct mm *s, const double *th, qf_mixed_fit *fit)
{
	int p = s->p, m = s->m, q = s->q, i, j, l;
	const double *U = s->A;
	double *Ri = NULL;
	struct dev d;

	if (mm_factor(s, th, &d) != 0)
		return -1;
	fit->vc[s->nf] = d.r2 / mm_df(s);
	/* U22 b = u23, by back substitution. */
	for (i = p - 1; i >= 0; i--) {
		double v = U[(size_t)(q + i) * m + m - 1];

		for (j = i + 1; j < p; j++)
			v -= U[(size_t)(q + i) * m + q + j] * fit->beta[j];
		fit->beta[i] = v / U[(size_t)(q + i) * m + q + i];
	}
	/* cov = sigma2 U22^-1 U22^-T. */
	Ri = calloc((size_t)p * p, sizeof *Ri);
	if (!Ri)
		return -1;
	for (j = 0; j < p; j++) {
		Ri[(size_t)j * p + j] = 1 / U[(size_t)(q + j) * m + q + j];
		for (i = j - 1; i >= 0; i--) {
			double v = 0;

			for (l = i + 1; l <= j; l++)
				v += U[(size_t)(q + i) * m + q + l] *
				     Ri[(size_t)l * p + j];
			Ri[(size_t)i * p + j] =
				-v / U[(size_t)(q + i) * m + q + i];
		}
	}
	for (i = 0; i < p; i++)
		for (j = 0; j < p; j++) {
			double v = 0;

			for (l = i > j ? i : j; l < p; l++)
				v += Ri[(size_t)i * p + l] *
				     Ri[(size_t)j * p + l];
			fit->cov[(size_t)i * p + j] = fit->vc[s->nf] * v;
		}
	free(Ri);
	return 0;
}

/* Standard errors, z, p and intervals from fit->cov. */
static void fit_tests(qf_mixed_fit *fit, double level)
{
	double zq = gsl_cdf_ugaussian_Pinv(0.5 + level / 2);
	int i, p = fit->p;

	for (i = 0; i < p; i++) {
		fit->se[i] = sqrt(fit->cov[(size_t)i * p + i]);
		fit->z[i] = fit->beta[i] / fit->se[i];
		fit->pval[i] = 2 * gsl_cdf_ugaussian_Q(fabs(fit->z[i]));
		fit->lo[i] = fit->beta[i] - zq * fit->se[i];
		fit->hi[i] = fit->beta[i] + zq * fit->se[i];
	}
}

/* ------------------------------------------------------------ intervals */

struct prof {
	struct mm *s;
	int j;			/* the component profiled; -1: the ratio of
				 * the one factor (the ICC) */
	double x0[QF_MIXED_MAXF + 1];	/* where the inner search starts */
	double dmin, crit;	/* -2 llf at the estimates, the chi2 bound */
	int iters;
};

/* Profiled -2 llf with component j at c, less the minimum and the
 * bound: negative inside the interval. */
static double prof_g(double c, void *arg)
{
	struct prof *pr = arg;
	struct mm *s = pr->s;
	double x[QF_MIXED_MAXF + 1], step[QF_MIXED_MAXF + 1], v;
	int i, conv;
	struct crit cr = { s, pr->j, c, s->nf };

	if (pr->j < 0)
		return mm_dev(s, &c, 0) - pr->dmin - pr->crit;
	for (i = 0; i < cr.dims; i++) {
		x[i] = pr->x0[i];
		step[i] = fabs(x[i]) > 0.1 ? 0.2 * fabs(x[i]) : 0.1;
	}
	v = nm_min(&cr, x, step, &conv, &pr->iters);
	return v - pr->dmin - pr->crit;
}

/* The root of prof_g in [a, b] (g(a) < 0 < g(b) or the reverse). */
static double prof_root(struct prof *pr, double a, double b)
{
	gsl_function F = { prof_g, pr };
	gsl_root_fsolver *rs = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
	double r = NAN;
	int it;

	if (!rs)
		return NAN;
	if (gsl_root_fsolver_set(rs, &F, a, b) == GSL_SUCCESS) {
		for (it = 0; it < 100; it++) {
			if (gsl_root_fsolver_iterate(rs) != GSL_SUCCESS)
				break;
			r = gsl_root_fsolver_root(rs);
			if (gsl_root_test_interval(gsl_root_fsolver_x_lower(rs),
						   gsl_root_fsolver_x_upper(rs),
						   0, 1e-9) == GSL_SUCCESS)
				break;
		}
	}
	gsl_root_fsolver_free(rs);
	return r;
}

/* The interval {c : g(c) <= 0} around chat (>= 0), bounded below by 0;
 * scale: a size to start from when chat is 0. */
static void prof_interval(struct prof *pr, double chat, double scale,
			  double *lo, double *hi)
{
	double a, b;
	int i;

	*lo = *hi = NAN;
	a = chat;
	b = chat > 0 ? 2 * chat : 1e-3 * scale;
	for (i = 0; i < 60 && prof_g(b, pr) < 0; i++)
		a = b, b *= 4;
	*hi = i < 60 ? prof_root(pr, a, b) : INFINITY;
	if (chat <= 0) {
		*lo = 0;
		return;
	}
	if (pr->j != pr->s->nf) {
		if (prof_g(0, pr) <= 0)
			*lo = 0;
		else
			*lo = prof_root(pr, 0, chat);
		return;
	}
	/* sigma2 > 0: halve until outside. */
	b = chat / 2;
	for (i = 0; i < 200 && prof_g(b, pr) < 0; i++)
		b /= 2;
	*lo = i < 200 ? prof_root(pr, b, b * 2) : 0;
}

static void fit_intervals(struct mm *s, const double *th, double level,
			  qf_mixed_fit *fit)
{
	struct prof pr = { s, 0, { 0 }, fit->dev, 0, 0 };
	double s2 = fit->vc[s->nf];
	int j, k, i;

	pr.crit = gsl_cdf_chisq_Pinv(level, 1);
	for (j = 0; j <= s->nf; j++) {
		pr.j = j;
		i = 0;
		if (j < s->nf)
			pr.x0[i++] = log(s2);
		for (k = 0; k < s->nf; k++)
			if (k != j)
				pr.x0[i++] = sqrt(th[k]);
		prof_interval(&pr, fit->vc[j], s2, &fit->vc_lo[j],
			      &fit->vc_hi[j]);
	}
	if (s->nf == 1) {
		double tlo, thi;

		pr.j = -1;
		prof_interval(&pr, th[0], 1, &tlo, &thi);
		fit->icc_lo = tlo / (1 + tlo);
		fit->icc_hi = isinf(thi) ? 1 : thi / (1 + thi);
	}
	fit->iterations += pr.iters;
}

/* ------------------------------------------------------------ checks */

static int check_input(const double *y, const double *X, int n, int p,
		       const int *const *g, int nf, int *levels, qf_err *err)
{
	int i, j, k;

	if (nf < 1 || nf > QF_MIXED_MAXF)
		return qf_err_set(err, "mixed model: %d grouping factors "
				  "(1 or 2)", nf);
	if (p < 0 || n <= p)
		return qf_err_set(err, "mixed model: %d observations for %d "
				  "fixed effects (need more)", n, p);
	for (i = 0; i < n; i++) {
		if (!isfinite(y[i]))
			return qf_err_set(err, "mixed model: y[%d] is not "
					  "finite", i);
		for (j = 0; j < p; j++)
			if (!isfinite(X[(size_t)i * p + j]))
				return qf_err_set(err, "mixed model: X[%d][%d] "
						  "is not finite", i, j);
	}
	for (k = 0; k < nf; k++) {
		levels[k] = 0;
		for (i = 0; i < n; i++) {
			if (g[k][i] < 0 || g[k][i] > n)
				return qf_err_set(err, "mixed model: factor "
						  "%d: level %d of observation "
						  "%d out of range 0..%d",
						  k + 1, g[k][i], i, n);
			if (g[k][i] + 1 > levels[k])
				levels[k] = g[k][i] + 1;
		}
		if (levels[k] < 2)
			return qf_err_set(err, "mixed model: factor %d has %d "
					  "level (need 2 or more)", k + 1,
					  levels[k]);
	}
	return 0;
}

/* X must have full column rank: the pivots of X'X's Cholesky factor,
 * against the column's own sum of squares. */
static int check_rank(struct mm *s, qf_err *err)
{
	double th[QF_MIXED_MAXF] = { 0 };
	struct dev d;
	int info = mm_factor(s, th, &d), j, m = s->m;

	if (info > s->q && info <= s->q + s->p)
		return qf_err_set(err, "mixed model: fixed-effects design is "
				  "rank deficient (column %d)", info - s->q);
	for (j = 0; j < s->p && info == 0; j++) {
		size_t c = (size_t)(s->q + j) * m + s->q + j;

		if (s->A[c] * s->A[c] <= 1e-10 * s->C[c])
			return qf_err_set(err, "mixed model: fixed-effects "
					  "design is rank deficient "
					  "(column %d)", j + 1);
	}
	if (info != 0 || !(d.r2 > 1e-24 * s->C[(size_t)m * m - 1]))
		return qf_err_set(err, "mixed model: y is fitted exactly by "
				  "the fixed effects");
	return 0;
}

/* ------------------------------------------------------------ entry */

static int fit_alloc(qf_mixed_fit *fit, int p, int q)
{
	double **v[] = { &fit->beta, &fit->se, &fit->z, &fit->pval, &fit->lo,
			 &fit->hi };
	size_t i;

	for (i = 0; i < sizeof v / sizeof *v; i++)
		if (!(*v[i] = calloc((size_t)p + 1, sizeof(double))))
			return -1;
	fit->cov = calloc((size_t)p * p + 1, sizeof(double));
	fit->re = calloc((size_t)q, sizeof(double));
	return fit->cov && fit->re ? 0 : -1;
}

int qf_mixed_fit_run(const double *y, const double *X, int n, int p,
		     const int *const *groups, int nf,
		     const qf_mixed_opts *o, qf_mixed_fit *fit, qf_err *err)
{
	static const qf_mixed_opts defaults = { 0, 0, 0.95 };
	struct mm s = { 0 };
	double th[QF_MIXED_MAXF], level, tot;
	int k, ret = -1, fr[QF_MIXED_MAXF];
	gsl_error_handler_t *old = gsl_set_error_handler_off();

	memset(fit, 0, sizeof *fit);
	if (!o)
		o = &defaults;
	level = o->level > 0 ? o->level : 0.95;
	if (check_input(y, X, n, p, groups, nf, fit->levels, err) < 0)
		goto out;
	fit->n = n;
	fit->p = p;
	fit->nf = nf;
	s.ml = o->ml;
	if (mm_init(&s, y, X, n, p, groups, nf, fit->levels) < 0 ||
	    fit_alloc(fit, p, s.q) < 0) {
		qf_err_set(err, "mixed model: out of memory");
		goto out;
	}
	if (check_rank(&s, err) < 0)
		goto out;
	if (fit_ratios(&s, fit, th) < 0)
		th[0] = NAN;
	else
		fit->converged &= polish(&s, th, fr);
	if (isnan(th[0]) || fit_fixed(&s, th, fit) < 0 ||
	    widen_cov(&s, th, fit) < 0) {
		qf_err_set(err, "mixed model: the criterion cannot be "
			   "evaluated at any start");
		goto out;
	}
	fit_tests(fit, level);
	fit->dev = mm_dev(&s, th, 0);
	fit->llf = -fit->dev / 2;
	tot = fit->vc[nf];
	for (k = 0; k < nf; k++) {
		fit->vc[k] = th[k] * fit->vc[nf];
		tot += fit->vc[k];
	}
	for (k = 0; k < nf; k++)
		fit->icc[k] = fit->vc[k] / tot;
	for (k = 0; k <= nf; k++)
		fit->vc_lo[k] = fit->vc_hi[k] = NAN;
	fit->icc_lo = fit->icc_hi = NAN;
	if (o->intervals)
		fit_intervals(&s, th, level, fit);
	ret = 0;
out:
	mm_free(&s);
	if (ret < 0)
		qf_mixed_fit_free(fit);
	gsl_set_error_handler(old);
	return ret;
}

void qf_mixed_fit_free(qf_mixed_fit *fit)
{
	free(fit->beta);
	free(fit->se);
	free(fit->z);
	free(fit->pval);
	free(fit->lo);
	free(fit->hi);
	free(fit->cov);
	free(fit->re);
	fit->re = NULL;
	fit->beta = fit->se = fit->z = fit->pval = fit->lo = fit->hi = NULL;
	fit->cov = NULL;
}
