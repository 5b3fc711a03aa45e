/*
 * fit_cor.h - correlations, multiple testing and permutation tests over
 * plain arrays: the numbers behind `qf-fit cor` and `qf-fit perm`
 * (docs/fit.md, "Correlations"; fit.h includes it).
 *
 * Inputs are double arrays; NaN is a missing value.  A correlation drops
 * the pairs in which either value is NaN (pairwise) and says how many it
 * dropped.  Errors are one line without a file name ("x is constant"):
 * the caller prefixes the file and the columns it read the arrays from.
 * Every random draw comes from an explicit seed (xoshiro256** seeded by
 * splitmix64, one generator a replicate, as lib/eval's bootstrap): the
 * same inputs and seed give the same numbers.
 */
#ifndef QF_FIT_FIT_COR_H
#define QF_FIT_FIT_COR_H

#include <stdint.h>

#include "core/core.h"

/* Pearson, Spearman (Pearson of the average ranks), Kendall's tau-b. */
enum { QF_COR_PEARSON, QF_COR_SPEARMAN, QF_COR_KENDALL, QF_COR_METHODS };
/* "pearson", "spearman", "kendall"; parse returns -1 when unknown. */
const char *qf_cor_method_name(int method);
int qf_cor_method_parse(const char *s);

/* One correlation and its test. */
typedef struct qf_cor {
	int n;		/* complete pairs used */
	int ndrop;	/* pairs dropped for a NaN */
	double r;	/* the coefficient */
	double stat;	/* t (Pearson, Spearman, partial) or z (Kendall,
			 * asymptotic); NaN when the p is exact */
	double df;	/* degrees of freedom of t; NaN for z and exact */
	double p;	/* two-sided p-value */
	int exact;	/* p from the exact null distribution (Kendall) */
	double lo, hi;	/* Fisher-z interval at the level asked (Pearson
			 * and partial); NaN for Spearman and Kendall */
} qf_cor;

/* The coefficient of x[0..n) and y[0..n) by method, its two-sided p as
 * scipy.stats computes it (pearsonr, spearmanr, kendalltau with
 * method='auto'), and for Pearson the Fisher-z interval at level (0.95).
 * Needs 3 complete pairs and neither variable constant:
 *     2 complete pairs (1 dropped for NaN): a correlation needs 3
 *     x is constant */
int qf_cor_test(int method, const double *x, const double *y, int n,
		double level, qf_cor *out, qf_err *err);

/* The partial (Pearson) correlation of x and y given the k covariates
 * z[i * k + j] (row i, covariate j, row-major): the correlation of the
 * residuals of least squares of x and of y on [1, z], with a t test on
 * n - 2 - k degrees of freedom and a Fisher-z interval with standard
 * error 1 / sqrt(n - 3 - k) (as pingouin.partial_corr, ppcor).  A row
 * with a NaN anywhere is dropped.  Needs n - 3 - k >= 1 rows:
 *     5 complete rows for 2 covariates: a partial correlation needs 6
 *     the covariates are collinear (rank 2 of 3 columns with the intercept) */
int qf_cor_partial(const double *x, const double *y, const double *z,
		   int n, int k, double level, qf_cor *out, qf_err *err);

/* A permutation p of the coefficient by method: y stays, x is permuted.
 * All n! orders when n! <= max_exact (*exact = 1), else nperm seeded
 * random orders (*exact = 0, p = (1 + count) / (1 + nperm)); two-sided
 * as scipy.stats.permutation_test with permutation_type='pairings':
 * twice the smaller tail, capped at 1, values within 1e-14 relative of
 * the observed one counting as equal. */
int qf_cor_perm(int method, const double *x, const double *y, int n,
		uint64_t max_exact, uint64_t nperm, uint64_t seed,
		double *p, int *exact, qf_err *err);

/* Bootstrap intervals. */
enum { QF_BOOT_PERCENTILE, QF_BOOT_BCA };

/* A bootstrap interval at level of the coefficient by method: nboot
 * replicates of n pairs drawn with replacement (replicate b's draws
 * come from its own generator: splitmix64 from seed + 4 b 0x9E37..15
 * fills xoshiro256**'s state, each index is the high 64 bits of
 * draw * n), then the percentile or BCa interval as
 * scipy.stats.bootstrap(paired=True) reads it off.  A replicate whose
 * coefficient is undefined (a constant draw) makes the interval NaN,
 * counted in *nbad. */
int qf_cor_boot(int method, const double *x, const double *y, int n,
		int nboot, uint64_t seed, double level, int kind,
		double *lo, double *hi, int *nbad, qf_err *err);

/* Only the coefficient of n complete pairs (no NaN): NaN when a
 * variable is constant or n < 2. */
double qf_cor_coef(int method, const double *x, const double *y, int n);

/* Average ranks (1-based, ties get their mean rank) of x[0..n) into r. */
int qf_rank_average(const double *x, int n, double *r);

/* Multiple testing: Holm's step-down and Benjamini-Hochberg's step-up
 * adjusted p-values, as statsmodels' multipletests 'holm' and 'fdr_bh'.
 * NaN p-values stay NaN and do not count among the tests. */
enum { QF_ADJ_HOLM, QF_ADJ_BH, QF_ADJ_METHODS };
const char *qf_adjust_name(int method);	/* "holm", "bh" */
int qf_adjust_parse(const char *s);	/* also "fdr_bh"; -1 if unknown */
int qf_p_adjust(int method, const double *p, int m, double *adj,
		qf_err *err);

/* A permutation test of mean(a) - mean(b). */
typedef struct qf_perm {
	int na, nb;		/* values used (NaN dropped) */
	int ndrop;
	double diff;		/* mean(a) - mean(b) */
	double p;		/* two-sided */
	int exact;		/* all relabelings were enumerated */
	uint64_t nperm;		/* relabelings counted (C(na + nb, na) or
				 * the random ones) */
} qf_perm;

/* All C(na + nb, na) splits of the pooled values when that is at most
 * max_exact, else nperm seeded random splits (a partial Fisher-Yates
 * shuffle of the pooled indices, one generator a split as above) with
 * p = (1 + count) / (1 + nperm); two-sided as
 * scipy.stats.permutation_test(permutation_type='independent'): twice
 * the smaller tail, capped at 1.  Needs a value in each group:
 *     group b has no values */
int qf_perm_diff(const double *a, int na, const double *b, int nb,
		 uint64_t max_exact, uint64_t nperm, uint64_t seed,
		 qf_perm *out, qf_err *err);

#endif
