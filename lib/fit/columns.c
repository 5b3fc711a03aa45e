/*
 * columns.c - a table's columns as numbers for qf-fit cor and perm
 * (docs/fit.md, "Correlations"): each a column or a transform of one,
 * written as a formula's factor (log(x), z(x), rank(x)...), over the rows
 * where every one of them holds a value.  The transforms are formula.c's,
 * computed over those rows only, so that z() and rank() see the rows a
 * correlation uses.  For many pairs (qf_fit_colset) each expression's
 * column is parsed from the text once, and with no NA its values and
 * ranks over all rows are computed once; a pair that drops rows computes
 * its transforms over them from the parsed column.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "fit/fit_impl.h"

void qf_fit_cols_free(qf_fit_cols *c)
{
	free(c->row);
	free(c->x);
	memset(c, 0, sizeof *c);
}

/* expr as the response of "EXPR ~ 1", so that formula.c parses it; a
 * factor C(), an interaction or a sum is not one column. */
static int parse_col(const char *expr, qf_fit_formula **f, qf_err *err)
{
	size_t len = strlen(expr);
	char *s = malloc(len + 5);
	qf_err e;
	int rc;

	*f = NULL;
	if (!s)
		return qf_err_set(err, "out of memory");
	memcpy(s, expr, len);
	memcpy(s + len, " ~ 1", 5);
	rc = strchr(expr, '~') || !*expr ? -1 : qf_fit_formula_parse(s, f, &e);
	free(s);
	if (rc < 0)
		return qf_err_set(err, "'%s' is not a column or a transform of "
				  "one (log, log1p, z, rank, sq)", expr);
	return 0;
}

/* The column under expression f's transforms. */
static long base_col(const qf_fit_table *t, const qf_fit_formula *f,
		     qf_err *err)
{
	const struct fexpr *e = f->lhs;
	long c;

	while (e->arg)
		e = e->arg;
	if ((c = qf_fit_table_col(t, e->col)) < 0)
		qf_err_set(err, "%s: no column '%s'", t->path, e->col);
	return c;
}

/* The candidate rows in[0..nin) (all, in NULL) where every column holds a
 * number into c->row; an NA drops the row, anything else not a number is
 * an error. */
static int complete_rows(const qf_fit_table *t, const long *col, int m,
			 const size_t *in, size_t nin, qf_fit_cols *c,
			 qf_err *err)
{
	size_t nr = in ? nin : t->nrow;

	if (!(c->row = malloc((nr + 1) * sizeof *c->row)))
		return qf_err_set(err, "out of memory");
	for (size_t i = 0; i < nr; i++) {
		size_t r = in ? in[i] : i;
		int na = 0;

		for (int j = 0; j < m && !na; j++) {
			double v;

			na = qf_fit_cell_num(t, r, (size_t)col[j], &v, err);
			if (na < 0)
				return -1;
		}
		if (na)
			c->dropped++;
		else
			c->row[c->n++] = r;
	}
	return 0;
}

int qf_fit_columns(const qf_fit_table *t, const char *const *expr, int m,
		   const size_t *in, size_t nin, qf_fit_cols *c, qf_err *err)
{
	qf_fit_formula **f = calloc((size_t)m + 1, sizeof *f);
	long *col = malloc(((size_t)m + 1) * sizeof *col);
	int rc = -1;

	memset(c, 0, sizeof *c);
	if (!f || !col) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	for (int j = 0; j < m; j++)
		if (parse_col(expr[j], &f[j], err) < 0 ||
		    (col[j] = base_col(t, f[j], err)) < 0)
			goto out;
	if (complete_rows(t, col, m, in, nin, c, err) < 0)
		goto out;
	if (!(c->x = malloc(((size_t)m * c->n + 1) * sizeof *c->x))) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	for (int j = 0; j < m && c->n; j++) {
		struct design d;

		if (fit_design(t, f[j], NULL, c->row, c->n, &d, err) < 0)
			goto out;
		memcpy(c->x + (size_t)j * c->n, d.y, c->n * sizeof *d.y);
		design_free(&d);
	}
	rc = 0;
out:
	for (int j = 0; f && j < m; j++)
		qf_fit_formula_free(f[j]);
	free(f);
	free(col);
	if (rc < 0)
		qf_fit_cols_free(c);
	return rc;
}

/* ------------------------------------------------ the columns of a run */

/* One distinct expression of a run, its column parsed once. */
struct colent {
	char *expr;
	qf_fit_formula *f;
	int ok;		/* parsed, its column found, every cell a number or NA;
			 * else qf_fit_columns says what is wrong */
	size_t nna;	/* rows where the column is NA */
	double *v;	/* [nrow] the column, NaN for NA */
	double *full;	/* [nrow] the expression over all rows (no NA, no
			 * error), else NULL */
	double *rank;	/* [nrow] full's average ranks (with ranks), or NULL */
};

struct qf_fit_colset {
	const qf_fit_table *t;
	int ranks;
	struct colent *e;
	int n, cap;
	int *pick;		/* [xm] a call's expressions: indices in e */
	size_t *all;		/* [nrow] 0, 1, ... */
	size_t *row;		/* [nrow] a call's rows */
	double *x;		/* [xm * nrow] a call's columns */
	int xm;
};

qf_fit_colset *qf_fit_colset_new(const qf_fit_table *t, int ranks)
{
	qf_fit_colset *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->t = t;
	s->ranks = ranks;
	s->all = malloc((t->nrow + 1) * sizeof *s->all);
	s->row = malloc((t->nrow + 1) * sizeof *s->row);
	if (!s->all || !s->row) {
		qf_fit_colset_free(s);
		return NULL;
	}
	for (size_t r = 0; r < t->nrow; r++)
		s->all[r] = r;
	return s;
}

void qf_fit_colset_free(qf_fit_colset *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++) {
		free(s->e[i].expr);
		qf_fit_formula_free(s->e[i].f);
		free(s->e[i].v);
		free(s->e[i].full);
		free(s->e[i].rank);
	}
	free(s->e);
	free(s->pick);
	free(s->all);
	free(s->row);
	free(s->x);
	free(s);
}

/* e's column from the table's text, and with no NA its values (and
 * ranks) over all rows; what goes wrong leaves e->ok 0 or e->full NULL,
 * for qf_fit_columns to say. */
static void colent_load(const qf_fit_colset *s, struct colent *e)
{
	const qf_fit_table *t = s->t;
	const struct fexpr *b;
	qf_err scratch;
	long c;

	if (parse_col(e->expr, &e->f, &scratch) < 0 ||
	    (c = base_col(t, e->f, &scratch)) < 0)
		return;
	for (b = e->f->lhs; b->arg; b = b->arg)
		;
	if (b->op != F_COL || !(e->v = malloc((t->nrow + 1) * sizeof *e->v)))
		return;
	for (size_t r = 0; r < t->nrow; r++)
		switch (qf_fit_cell_num(t, r, (size_t)c, &e->v[r], &scratch)) {
		case 1:
			e->v[r] = NAN;
			e->nna++;
			break;
		case -1:
			return;
		}
	e->ok = 1;
	if (e->nna || !t->nrow || t->nrow > INT32_MAX ||
	    !(e->full = malloc(t->nrow * sizeof *e->full)))
		return;
	if (fit_expr_values(t, e->f->lhs, e->v, s->all, t->nrow, e->full,
			    &scratch) < 0) {
		free(e->full);
		e->full = NULL;
		return;
	}
	if (s->ranks && (e->rank = malloc(t->nrow * sizeof *e->rank)) &&
	    qf_rank_average(e->full, (int)t->nrow, e->rank) < 0) {
		free(e->rank);
		e->rank = NULL;
	}
}

/* The index of expr's entry, loaded on first use; -1: out of memory. */
static int colset_get(qf_fit_colset *s, const char *expr)
{
	struct colent *e;

	for (int i = 0; i < s->n; i++)
		if (strcmp(s->e[i].expr, expr) == 0)
			return i;
	if (s->n == s->cap) {
		int cap = s->cap ? 2 * s->cap : 16;
		struct colent *ne = realloc(s->e, (size_t)cap * sizeof *ne);

		if (!ne)
			return -1;
		s->e = ne;
		s->cap = cap;
	}
	e = &s->e[s->n];
	memset(e, 0, sizeof *e);
	if (!(e->expr = strdup(expr)))
		return -1;
	colent_load(s, e);
	return s->n++;
}

/* qf_fit_columns's answer copied into s's buffers. */
static int colset_slow(qf_fit_colset *s, const char *const *expr, int m,
		       qf_fit_cols *c, qf_err *err)
{
	qf_fit_cols o;

	if (qf_fit_columns(s->t, expr, m, NULL, 0, &o, err) < 0)
		return -1;
	c->n = o.n;
	c->dropped = o.dropped;
	memcpy(s->row, o.row, o.n * sizeof *o.row);
	memcpy(s->x, o.x, (size_t)m * o.n * sizeof *o.x);
	qf_fit_cols_free(&o);
	return 0;
}

int qf_fit_colset_columns(qf_fit_colset *s, const char *const *expr, int m,
			  qf_fit_cols *c, qf_err *err)
{
	const qf_fit_table *t = s->t;
	int ok = 1, drop = 0;
	qf_err scratch;

	memset(c, 0, sizeof *c);
	if (m > s->xm) {
		int *p = realloc(s->pick, (size_t)m * sizeof *p);
		double *x;

		if (p)
			s->pick = p;
		x = p ? realloc(s->x, ((size_t)m * t->nrow + 1) * sizeof *x) : NULL;
		if (!x)
			return qf_err_set(err, "out of memory");
		s->x = x;
		s->xm = m;
	}
	c->row = s->row;
	c->x = s->x;
	for (int j = 0; j < m; j++) {
		if ((s->pick[j] = colset_get(s, expr[j])) < 0)
			return qf_err_set(err, "out of memory");
	}
	/* pointers only now: loading an entry may move them all */
	for (int j = 0; j < m; j++) {
		const struct colent *e = &s->e[s->pick[j]];

		ok &= e->ok && (e->nna || e->full);
		drop |= e->nna > 0;
	}
	if (!ok)
		return colset_slow(s, expr, m, c, err);
	if (!drop) {
		/* the common case: every row, the values computed once */
		c->n = t->nrow;
		memcpy(s->row, s->all, t->nrow * sizeof *s->row);
		for (int j = 0; j < m; j++)
			memcpy(s->x + (size_t)j * t->nrow, s->e[s->pick[j]].full,
			       t->nrow * sizeof *s->x);
		for (int j = 0; j < 2 && j < m; j++)
			c->rank[j] = s->e[s->pick[j]].rank;
		if (m < 2 || !c->rank[0] || !c->rank[1])
			c->rank[0] = c->rank[1] = NULL;
		return 0;
	}
	for (size_t r = 0; r < t->nrow; r++) {
		int j = 0;

		while (j < m && !isnan(s->e[s->pick[j]].v[r]))
			j++;
		if (j < m)
			c->dropped++;
		else
			s->row[c->n++] = r;
	}
	for (int j = 0; j < m && c->n; j++)
		if (fit_expr_values(t, s->e[s->pick[j]].f->lhs, s->e[s->pick[j]].v,
				    s->row, c->n, s->x + (size_t)j * c->n,
				    &scratch) < 0)
			return colset_slow(s, expr, m, c, err);
	return 0;
}
