/*
 * fit.h - the statistics of a study over TSV tables (docs/fit.md): the
 * tables qf's tools and pipelines write, read, joined and filtered;
 * model formulas; linear models (OLS and WLS); correlations, multiple
 * testing and permutation tests; linear mixed models.  The work of qf-fit.
 * Depends on core/ only: tables in, numbers out.
 */
#ifndef QF_FIT_FIT_H
#define QF_FIT_FIT_H

#include <stdint.h>

#include "core/core.h"

/* ---------------------------------------------------------------- tables */

/* A table held whole: column names and cells as text, row-major.  Rows
 * remember their line in the first table read, for messages
 * ("a.tsv: line 7: ..."). */
typedef struct qf_fit_table {
	char *path;		/* the first table's name, for messages */
	size_t ncol, nrow;
	char **col;		/* [ncol] */
	char **cell;		/* [nrow * ncol] */
	uint64_t *line;		/* [nrow] */
} qf_fit_table;

/* Read a TSV table as qf's tools write them: comment lines '# ...'
 * first (the provenance) are skipped, then a header of unique non-empty
 * names, then rows of as many cells; empty lines are skipped.  "-" is
 * standard input. */
int qf_fit_table_read(const char *path, qf_fit_table *t, qf_err *err);
/* Join u into t on the key columns keys[0..nkey): every key value must
 * be once in each table, and in both (else one line naming the key and
 * the table it is missing from).  u's other columns are appended; a name
 * t already has gets ".N", N the table's number (2 for the second). */
int qf_fit_table_join(qf_fit_table *t, const qf_fit_table *u,
		      const char *const *keys, int nkey, int num, qf_err *err);
/* Keep the rows whose column col is the text val. */
int qf_fit_table_where(qf_fit_table *t, const char *col, const char *val,
		       qf_err *err);
/* The index of column name, or -1. */
long qf_fit_table_col(const qf_fit_table *t, const char *name);
void qf_fit_table_free(qf_fit_table *t);
/* A cell as a number: 0, 1 when it is NA ("NA", "nan", "-nan", or
 * empty), -1 with "FILE: line N: column 'C': 'X' is not a number". */
int qf_fit_cell_num(const qf_fit_table *t, size_t row, size_t col,
		    double *v, qf_err *err);

/* ---------------------------------------------------------------- formulas */

/* A model formula, patsy-like: "y ~ x1 + x2 + x1:x2 + C(f)", "- 1" or
 * "+ 0" drops the intercept; transforms log(), log1p(), z() (z-score,
 * sample SD), rank() (average ranks), sq(), nested as z(log(x)).
 * docs/fit.md has the grammar. */
typedef struct qf_fit_formula qf_fit_formula;
int qf_fit_formula_parse(const char *s, qf_fit_formula **f, qf_err *err);
void qf_fit_formula_free(qf_fit_formula *f);

/* ---------------------------------------------------------------- linear models */

typedef struct qf_fit_lm_opts {
	const char *weights;	/* WLS weights' column, or NULL: OLS */
	int drop_na;		/* drop rows with an NA in a column used */
	int folds;		/* k-fold CV R^2 with this many folds; 0: none */
	uint64_t seed;		/* of the folds */
	const char *cv_group;	/* leave-one-level-out CV R^2 over it; or NULL */
	const qf_fit_formula *vs;	/* the smaller nested model, or NULL */
} qf_fit_lm_opts;

typedef struct qf_fit_coef {
	char *term;
	double est, se, se_hc3, t, p, lo, hi;
} qf_fit_coef;

/* A fitted model.  NAN where a figure was not asked for. */
typedef struct qf_fit_lm {
	size_t n, k;		/* rows and coefficients */
	size_t dropped;		/* rows dropped for an NA (drop_na) */
	int k_const;		/* 1 when the design holds a constant */
	qf_fit_coef *coef;	/* [k] */
	double df_model, df_resid, r2, r2_adj, f, f_p, resid_sd;
	double llf, aic, bic, r2_loo, r2_kfold, r2_group;
	double vs_f, vs_df, vs_p;
} qf_fit_lm;

/* Fit formula f on the rows of t (docs/fit.md, "Linear models").  Bad
 * data (an NA without drop_na, a log of a non-positive value, a
 * rank-deficient design, n <= k, a constant column) is one line naming
 * the column (and row). */
int qf_fit_lm_run(const qf_fit_table *t, const qf_fit_formula *f,
		  const qf_fit_lm_opts *o, qf_fit_lm *r, qf_err *err);
void qf_fit_lm_free(qf_fit_lm *r);
/* The coefficients table and the model table (docs/fit.md), after the
 * provenance line; numbers with %.{digits}g. */
int qf_fit_lm_write_coef(FILE *f, const qf_fit_lm *r, int digits);
int qf_fit_lm_write_model(FILE *f, const qf_fit_lm *r, const char *formula,
			  const char *vs, int digits);

/* ---------------------------------------------------------------- correlations */

/* Correlations, multiple testing and permutation tests over plain arrays:
 * the numbers behind qf-fit cor and perm (docs/fit.md, "Correlations").
 * Inputs are double arrays; NaN is a missing value.  A correlation drops
 * the pairs in which either value is NaN (pairwise) and says how many it
 * dropped.  Errors are one line without a file name ("x is constant"):
 * the caller prefixes the file and the columns it read the arrays from.
 * Every random draw comes from an explicit seed (xoshiro256** seeded by
 * splitmix64, one generator a replicate, as lib/eval's bootstrap): the
 * same inputs and seed give the same numbers. */

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
/* qf_cor_test on x and y's own arrays, and for Spearman on their average
 * ranks rx and ry (qf_rank_average) when not NULL: the same numbers
 * without copying or ranking again (a NaN in x or y: qf_cor_test). */
int qf_cor_test_ranked(int method, const double *x, const double *y,
		       const double *rx, const double *ry, int n, double level,
		       qf_cor *out, qf_err *err);

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

/* ---------------------------------------------------- correlations of a table */

/* Columns of a table as numbers: m of them, n rows, column j at
 * x + j * n, row i from the table's row row[i]. */
typedef struct qf_fit_cols {
	size_t n, dropped;	/* rows used; rows dropped for an NA */
	size_t *row;		/* [n] */
	double *x;		/* [m * n] */
	const double *rank[2];	/* qf_fit_colset_columns asked for ranks, and
				 * no row dropped: columns 0 and 1's average
				 * ranks (qf_rank_average), [n] each; else NULL */
} qf_fit_cols;

/* The m expressions expr[] (each a column or a transform of one, as a
 * formula's factor: x, log(x), z(log1p(x))...) over the rows in[0..nin)
 * of t (all rows when in is NULL) where every one of their columns holds
 * a number: a row with an NA in any is dropped and counted, z() and
 * rank() are computed over the rows kept.  Errors: an expression that is
 * not one column, a column missing, a cell not a number, a log out of
 * its domain. */
int qf_fit_columns(const qf_fit_table *t, const char *const *expr, int m,
		   const size_t *in, size_t nin, qf_fit_cols *c, qf_err *err);
void qf_fit_cols_free(qf_fit_cols *c);

/* The columns of one table for many calls (qf-fit cor's pairs): each
 * distinct expression's column is parsed from the table's text once, and
 * when it has no NA its values over all rows (and, with ranks, their
 * average ranks) are computed once too.  qf_fit_colset_columns(s, expr,
 * m, c, err) gives what qf_fit_columns(t, expr, m, NULL, 0, c, err) gives
 * (the same rows, numbers and errors), but c's arrays belong to s and
 * hold until the next call or qf_fit_colset_free (no qf_fit_cols_free).
 * NULL: out of memory. */
typedef struct qf_fit_colset qf_fit_colset;
qf_fit_colset *qf_fit_colset_new(const qf_fit_table *t, int ranks);
int qf_fit_colset_columns(qf_fit_colset *s, const char *const *expr, int m,
			  qf_fit_cols *c, qf_err *err);
void qf_fit_colset_free(qf_fit_colset *s);

/* ---------------------------------------------------------------- mixed models */

/* Linear mixed models with one grouping factor or two crossed ones,
 * fitted by REML or ML (docs/fit.md, "Mixed models"):
 *
 *     y = X b + u[g1] + v[g2] + e,  u ~ N(0, s1 I), v ~ N(0, s2 I),
 *                                   e ~ N(0, sigma2 I)
 *
 * over plain arrays: the caller builds X (with its intercept) and codes
 * the factors. */

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

/* ---------------------------------------------------- mixed models of a table */

typedef struct qf_fit_mixed_opts {
	const char *groups[QF_MIXED_MAXF];	/* the grouping columns */
	int ngroups;		/* 1 or 2 */
	int ml;			/* ML rather than REML */
	int intervals;		/* profile intervals of the components */
	int drop_na;		/* drop rows with an NA in a column used */
} qf_fit_mixed_opts;

/* A mixed model fitted on a table's rows: the fit, the names of its
 * fixed effects and of the levels of each factor (the random effects'
 * order), and, for one factor in a balanced design with an intercept
 * only, the one-way ANOVA's ICC(1) with its F interval (McGraw & Wong
 * 1996, case 1); NaN else. */
typedef struct qf_fit_mixed {
	qf_mixed_fit fit;
	size_t n, dropped;
	int ml;
	const char *group[QF_MIXED_MAXF];	/* the options' */
	char **term;		/* [nterm]: fit.p once fitted */
	int nterm;
	char **level[QF_MIXED_MAXF];	/* [nlevel[k]] */
	int nlevel[QF_MIXED_MAXF];
	int replicates;		/* rows per level when balanced, else 0 */
	double icc_f, icc_f_lo, icc_f_hi, f, f_p;	/* ANOVA's */
} qf_fit_mixed;

/* Fit formula f with random intercepts over the groups of o on the rows
 * of t (docs/fit.md, "Mixed models"): bad data is one line naming the
 * column (and line). */
int qf_fit_mixed_run(const qf_fit_table *t, const qf_fit_formula *f,
		     const qf_fit_mixed_opts *o, qf_fit_mixed *r, qf_err *err);
void qf_fit_mixed_free(qf_fit_mixed *r);
/* The coefficients, components, random effects and ICC tables
 * (docs/fit.md), after the provenance line; numbers with %.{digits}g. */
int qf_fit_mixed_write_coef(FILE *f, const qf_fit_mixed *r, int digits);
int qf_fit_mixed_write_model(FILE *f, const qf_fit_mixed *r,
			     const char *formula, int digits);
int qf_fit_mixed_write_ranef(FILE *f, const qf_fit_mixed *r, int digits);
int qf_fit_mixed_write_icc(FILE *f, const qf_fit_mixed *r, int digits);


#endif
