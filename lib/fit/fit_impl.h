/*
 * fit_impl.h - private to lib/fit/: formulas as trees and the design
 * matrix they make from a table's rows.
 */
#ifndef QF_FIT_FIT_IMPL_H
#define QF_FIT_FIT_IMPL_H

#include "fit/fit.h"

/* A factor of a term: a column, a transform of a factor, or C(column). */
enum { F_COL, F_LOG, F_LOG1P, F_Z, F_RANK, F_SQ, F_C };
struct fexpr {
	int op;
	char *col;		/* F_COL and F_C: the column */
	struct fexpr *arg;	/* transforms: what they transform */
};

#define MAXFAC 8
struct fterm {
	int nf;
	struct fexpr *f[MAXFAC];
};

struct qf_fit_formula {
	struct fexpr *lhs;
	struct fterm *term;
	int nterm, intercept;
};

/* The design of a formula over chosen rows of a table: X column-major
 * (n x k), y, the weights (all 1 without), each column's name and each
 * row's index in the table. */
struct design {
	size_t n, k;
	double *X, *y, *w;
	char **name;
	size_t *row;
	int intercept;
};
void design_free(struct design *d);

/* The rows a fit uses: those where every column of f (and of vs, and the
 * weights' column) holds a value; an NA is an error naming the column
 * and row, or (drop_na) the row is left out and counted in *dropped. */
int fit_rows(const qf_fit_table *t, const qf_fit_formula *f,
	     const qf_fit_formula *vs, const char *weights, int drop_na,
	     size_t **rows, size_t *n, size_t *dropped, qf_err *err);
/* The values of numeric expression e (a column under its transforms)
 * over rows[0..n) of t into x[n]: the column read from the table's text,
 * or, when base is not NULL, from base[row] (the column already parsed,
 * those rows holding numbers); the transforms are computed over the rows
 * given. */
int fit_expr_values(const qf_fit_table *t, const struct fexpr *e,
		    const double *base, const size_t *rows, size_t n,
		    double *x, qf_err *err);
/* The design of f over rows[0..n) of t. */
int fit_design(const qf_fit_table *t, const qf_fit_formula *f,
	       const char *weights, const size_t *rows, size_t n,
	       struct design *d, qf_err *err);

/* The levels of column col over rows[0..n) (NA is a level: fit_rows has
 * dropped or refused it), sorted as numbers when all are, else as text;
 * the levels of C(col) and of a grouping factor of a mixed model. */
struct levels {
	size_t n;
	const char **name;	/* sorted: as numbers when all are */
	size_t *of;		/* each row's level */
};
int fit_levels(const qf_fit_table *t, const char *col, const size_t *rows,
	       size_t n, struct levels *lv, qf_err *err);
void fit_levels_free(struct levels *lv);

/* One line for a design least squares cannot fit (lm.c): n <= k, a
 * constant column besides the intercept, dependent columns (named). */
int fit_check(const struct design *d, qf_err *err);

/* A table's number: "\t" then %.{digits}g, or "\tNA" for NaN; never "-0". */
void fit_num(FILE *f, double v, int digits);

#endif
