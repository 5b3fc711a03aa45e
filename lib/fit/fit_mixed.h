/*
 * fit_mixed.h - linear mixed models with one grouping factor or two
 * crossed ones, fitted by REML or ML (docs/fit.md, "Mixed models"):
 *
 *     y = X b + u[g1] + v[g2] + e,  u ~ N(0, s1 I), v ~ N(0, s2 I),
 *                                   e ~ N(0, sigma2 I)
 *
 * over plain arrays: the caller builds X (with its intercept) and codes
 * the factors.  To be folded into fit/fit.h.
 */
#ifndef QF_FIT_FIT_MIXED_H
#define QF_FIT_FIT_MIXED_H

#include "core/core.h"

#define QF_MIXED_MAXF 2		/* grouping factors at most */

typedef struct qf_mixed_opts {
	int ml;			/* 1: maximum likelihood; 0: REML */
	int intervals;		/* 1: profile likelihood intervals of the
				 * variance components (and the ICC) */
	double level;		/* of every interval; 0: 0.95 */
} qf_mixed_opts;

typedef struct qf_mixed_fit {
	int n, p, nf;		/* observations, fixed effects, factors */
	int levels[QF_MIXED_MAXF];	/* levels of each factor (max code + 1) */
	/* Fixed effects, p each: estimate, standard error (from the
	 * covariance sigma2 (X' H^-1 X)^-1 at the estimates), z, its
	 * two-sided normal p, and the normal interval of the level. */
	double *beta, *se, *z, *pval, *lo, *hi;
	double *cov;		/* p x p, row-major */
	/* Variance components: vc[k] of factor k, then the residual
	 * sigma2; vc_lo/vc_hi their profile likelihood intervals (NaN
	 * unless asked; a lower end at 0 when 0 is inside). */
	double vc[QF_MIXED_MAXF + 1];
	double vc_lo[QF_MIXED_MAXF + 1], vc_hi[QF_MIXED_MAXF + 1];
	/* Intraclass correlations vc[k] / (sum of vc[]), and, with one
	 * factor only, the profile interval of icc[0] (else NaN). */
	double icc[QF_MIXED_MAXF], icc_lo, icc_hi;
	/* The predicted random effects (BLUPs), th_k Z_k' H^-1 (y - X b):
	 * the levels of factor 1, then those of factor 2 (levels[0] +
	 * levels[1] values); e.g. each language's effect. */
	double *re;
	double llf;		/* the REML (or ML) log-likelihood */
	double dev;		/* -2 llf */
	/* Convergence: 1 when every start's simplex shrank below the
	 * tolerance and the starts agree on the optimum; the iterations of
	 * all starts together, the starts made, and the largest difference
	 * of -2 llf between the best start and the others that converged
	 * within 1e-3 relative of it in parameters. */
	int converged, iterations, starts;
	double start_spread;
} qf_mixed_fit;

/*
 * Fit by REML (o->ml 0) or ML.  y: n values; X: n x p, row-major (the
 * caller's columns, intercept included); groups[k][i]: the level, 0 or
 * more, of observation i in factor k, nf factors (1 or 2; two are
 * crossed or nested, as the codes say).  o may be NULL (REML, no
 * intervals).  Fills fit (release it with qf_mixed_fit_free).  Errors:
 *     mixed model: 3 observations for 3 fixed effects (need more)
 *     mixed model: factor 1 has 1 level (need 2 or more)
 *     mixed model: fixed-effects design is rank deficient (column 3)
 *     mixed model: y[4] is not finite
 */
int qf_mixed_fit_run(const double *y, const double *X, int n, int p,
		     const int *const *groups, int nf,
		     const qf_mixed_opts *o, qf_mixed_fit *fit, qf_err *err);
void qf_mixed_fit_free(qf_mixed_fit *fit);

#endif
