/*
 * fit.h - the statistics of a study over TSV tables (docs/fit.md): the
 * tables qf's tools and pipelines write, read, joined and filtered;
 * model formulas; linear models (OLS and WLS).  The work of qf-fit.
 * Depends on core/ only: tables in, numbers out.
 */
#ifndef QF_FIT_FIT_H
#define QF_FIT_FIT_H

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

/* ------------------------------------------------ mixed models (qf-fit mixed) */
/* (this block: qf-fit mixed; the model itself is fit/fit_mixed.h's) */

#include "fit/fit_mixed.h"

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

/* ------------------------------------------------ end of mixed models */

#endif
