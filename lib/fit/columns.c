/*
 * columns.c - a table's columns as numbers for qf-fit cor and perm
 * (docs/fit.md, "Correlations"): each a column or a transform of one,
 * written as a formula's factor (log(x), z(x), rank(x)...), over the rows
 * where every one of them holds a value.  The transforms are formula.c's,
 * computed over those rows only, so that z() and rank() see the rows a
 * correlation uses.
 */
#include <inttypes.h>
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
