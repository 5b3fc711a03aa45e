/*
 * table.c - the tables qf-fit reads: TSV as qf's tools write them, held
 * whole as text, joined on key columns and filtered by value.  Cells
 * become numbers only when a model asks for a column (qf_fit_cell_num),
 * so that a text column nobody uses never stops a fit.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "fit/fit.h"

/* Tables are small (a row per language, layer or configuration): a
 * generous limit, so that /dev/zero ends in a message. */
#define TABLE_MAX (256u << 20)

void qf_fit_table_free(qf_fit_table *t)
{
	for (size_t i = 0; i < t->ncol; i++)
		free(t->col[i]);
	for (size_t i = 0; i < t->nrow * t->ncol; i++)
		free(t->cell[i]);
	free(t->col);
	free(t->cell);
	free(t->line);
	free(t->path);
	memset(t, 0, sizeof *t);
}

long qf_fit_table_col(const qf_fit_table *t, const char *name)
{
	for (size_t i = 0; i < t->ncol; i++)
		if (strcmp(t->col[i], name) == 0)
			return (long)i;
	return -1;
}

/* The header line: unique, non-empty names. */
static int header(qf_fit_table *t, const qf_tsv *ts, qf_err *err)
{
	if (!(t->col = calloc(ts->n, sizeof *t->col)))
		return qf_err_set(err, "out of memory");
	for (size_t i = 0; i < ts->n; i++) {
		if (!ts->fld[i][0])
			return qf_err_set(err, "%s: line %" PRIu64 ": column %zu "
					  "has no name", t->path, ts->lineno, i + 1);
		if (qf_fit_table_col(t, ts->fld[i]) >= 0)
			return qf_err_set(err, "%s: line %" PRIu64 ": two columns "
					  "named '%s'", t->path, ts->lineno,
					  ts->fld[i]);
		if (!(t->col[i] = strdup(ts->fld[i])))
			return qf_err_set(err, "out of memory");
		t->ncol = i + 1;
	}
	return 0;
}

/* One row of cells, appended. */
static int add_row(qf_fit_table *t, const qf_tsv *ts, size_t *cap,
		   qf_err *err)
{
	if (ts->n != t->ncol)
		return qf_err_set(err, "%s: line %" PRIu64 ": %zu fields, the "
				  "header has %zu", t->path, ts->lineno, ts->n,
				  t->ncol);
	if (t->nrow == *cap) {
		size_t c = *cap ? 2 * *cap : 64;
		char **cell = realloc(t->cell, c * t->ncol * sizeof *cell);
		uint64_t *line;

		if (!cell)
			return qf_err_set(err, "out of memory");
		t->cell = cell;
		if (!(line = realloc(t->line, c * sizeof *line)))
			return qf_err_set(err, "out of memory");
		t->line = line;
		*cap = c;
	}
	for (size_t i = 0; i < t->ncol; i++) {
		char *s = strdup(ts->fld[i]);

		if (!s) {
			for (size_t j = 0; j < i; j++)
				free(t->cell[t->nrow * t->ncol + j]);
			return qf_err_set(err, "out of memory");
		}
		t->cell[t->nrow * t->ncol + i] = s;
	}
	t->line[t->nrow++] = ts->lineno;
	return 0;
}

int qf_fit_table_read(const char *path, qf_fit_table *t, qf_err *err)
{
	int stdin_ = strcmp(path, "-") == 0;
	size_t cap = 0;
	qf_tsv ts;
	int r, rc = -1;

	memset(t, 0, sizeof *t);
	if (!(t->path = strdup(stdin_ ? "<stdin>" : path)))
		return qf_err_set(err, "out of memory");
	if (qf_tsv_open(&ts, stdin_ ? "/dev/stdin" : path, TABLE_MAX) < 0) {
		qf_err_set(err, "%s: cannot open: %s", t->path, strerror(errno));
		goto out;
	}
	ts.path = t->path;
	while ((r = qf_tsv_next(&ts)) > 0) {
		if (ts.len == 0 || (!t->col && ts.line[0] == '#'))
			continue;
		if (!t->col ? header(t, &ts, err) < 0 :
		    add_row(t, &ts, &cap, err) < 0)
			goto out;
	}
	if (r < 0) {
		qf_tsv_fail(&ts, err);
		goto out;
	}
	if (!t->col) {
		qf_err_set(err, "%s: no header (an empty table)", t->path);
		goto out;
	}
	rc = 0;
out:
	qf_tsv_close(&ts);
	if (rc < 0)
		qf_fit_table_free(t);
	return rc;
}

int qf_fit_cell_num(const qf_fit_table *t, size_t row, size_t col,
		    double *v, qf_err *err)
{
	const char *s = t->cell[row * t->ncol + col];
	char *end;

	if (!*s || strcmp(s, "NA") == 0 || strcmp(s, "nan") == 0 ||
	    strcmp(s, "-nan") == 0)
		return 1;
	errno = 0;
	*v = strtod(s, &end);
	if (*end || end == s || s[0] == ' ' || s[0] == '\t')
		return qf_err_set(err, "%s: line %" PRIu64 ": column '%s': '%s' "
				  "is not a number", t->path, t->line[row],
				  t->col[col], s);
	if (!isfinite(*v))
		return qf_err_set(err, "%s: line %" PRIu64 ": column '%s': '%s' "
				  "is not finite", t->path, t->line[row],
				  t->col[col], s);
	return 0;
}

int qf_fit_table_where(qf_fit_table *t, const char *col, const char *val,
		       qf_err *err)
{
	long c = qf_fit_table_col(t, col);
	size_t k = 0;

	if (c < 0)
		return qf_err_set(err, "%s: --where: no column '%s'", t->path, col);
	for (size_t r = 0; r < t->nrow; r++) {
		char **row = t->cell + r * t->ncol;

		if (strcmp(row[c], val) != 0) {
			for (size_t i = 0; i < t->ncol; i++)
				free(row[i]);
			continue;
		}
		memmove(t->cell + k * t->ncol, row, t->ncol * sizeof *row);
		t->line[k++] = t->line[r];
	}
	t->nrow = k;
	return 0;
}

/* ------------------------------------------------------------ joining */

/* The key columns of t, or the missing one named. */
static int key_cols(const qf_fit_table *t, const char *const *keys, int nkey,
		    long *kc, qf_err *err)
{
	for (int i = 0; i < nkey; i++)
		if ((kc[i] = qf_fit_table_col(t, keys[i])) < 0)
			return qf_err_set(err, "%s: no column '%s' (a --join key)",
					  t->path, keys[i]);
	return 0;
}

static int same_key(const qf_fit_table *a, size_t ra, const long *ka,
		    const qf_fit_table *b, size_t rb, const long *kb, int nkey)
{
	for (int i = 0; i < nkey; i++)
		if (strcmp(a->cell[ra * a->ncol + ka[i]],
			   b->cell[rb * b->ncol + kb[i]]) != 0)
			return 0;
	return 1;
}

/* "lang=eng" or "model=m,layer=3" of row r, into buf. */
static const char *key_text(const qf_fit_table *t, size_t r, const long *kc,
			    int nkey, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; i < nkey && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s=%s", i ? "," : "",
				      t->col[kc[i]], t->cell[r * t->ncol + kc[i]]);
	return buf;
}

/* The row of u with the key of t's row r (-1: none), with every key of
 * each table once checked by the caller.  Quadratic: tables are small. */
static long find_row(const qf_fit_table *t, size_t r, const long *kt,
		     const qf_fit_table *u, const long *ku, int nkey)
{
	for (size_t j = 0; j < u->nrow; j++)
		if (same_key(t, r, kt, u, j, ku, nkey))
			return (long)j;
	return -1;
}

/* No key twice in t. */
static int unique_keys(const qf_fit_table *t, const long *kc, int nkey,
		       qf_err *err)
{
	char buf[512];

	for (size_t r = 1; r < t->nrow; r++)
		for (size_t q = 0; q < r; q++)
			if (same_key(t, r, kc, t, q, kc, nkey))
				return qf_err_set(err, "%s: line %" PRIu64 ": key %s "
						  "twice (line %" PRIu64 " too)",
						  t->path, t->line[r],
						  key_text(t, r, kc, nkey, buf,
							   sizeof buf),
						  t->line[q]);
	return 0;
}

/* Every key of a in b. */
static int all_in(const qf_fit_table *a, const long *ka,
		  const qf_fit_table *b, const long *kb, int nkey, qf_err *err)
{
	char buf[512];

	for (size_t r = 0; r < a->nrow; r++)
		if (find_row(a, r, ka, b, kb, nkey) < 0)
			return qf_err_set(err, "%s: no row with key %s (%s line %"
					  PRIu64 ")", b->path,
					  key_text(a, r, ka, nkey, buf, sizeof buf),
					  a->path, a->line[r]);
	return 0;
}

/* The columns of the join: t's, then u's that are not keys (a name t has
 * already gets ".num"). */
static int join_names(const qf_fit_table *t, const qf_fit_table *u,
		      const long *ku, int nkey, int num, char **col,
		      size_t *ncol, qf_err *err)
{
	size_t n = 0;

	for (size_t i = 0; i < t->ncol; i++)
		if (!(col[n++] = strdup(t->col[i])))
			return qf_err_set(err, "out of memory");
	for (size_t i = 0; i < u->ncol; i++) {
		int key = 0;

		for (int k = 0; k < nkey; k++)
			key |= ku[k] == (long)i;
		if (key)
			continue;
		if (qf_fit_table_col(t, u->col[i]) >= 0) {
			if (asprintf(&col[n], "%s.%d", u->col[i], num) < 0)
				col[n] = NULL;
		} else {
			col[n] = strdup(u->col[i]);
		}
		if (!col[n++])
			return qf_err_set(err, "out of memory");
	}
	*ncol = n;
	return 0;
}

int qf_fit_table_join(qf_fit_table *t, const qf_fit_table *u,
		      const char *const *keys, int nkey, int num, qf_err *err)
{
	long kt[64], ku[64];
	qf_fit_table j = { 0 };
	int rc = -1;

	if (nkey > 64)
		return qf_err_set(err, "more than 64 --join keys");
	if (key_cols(t, keys, nkey, kt, err) < 0 ||
	    key_cols(u, keys, nkey, ku, err) < 0 ||
	    unique_keys(t, kt, nkey, err) < 0 ||
	    unique_keys(u, ku, nkey, err) < 0 ||
	    all_in(t, kt, u, ku, nkey, err) < 0 ||
	    all_in(u, ku, t, kt, nkey, err) < 0)
		return -1;
	j.col = calloc(t->ncol + u->ncol, sizeof *j.col);
	j.cell = calloc(t->nrow * (t->ncol + u->ncol) + 1, sizeof *j.cell);
	j.line = calloc(t->nrow + 1, sizeof *j.line);
	j.path = strdup(t->path);
	if (!j.col || !j.cell || !j.line || !j.path) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	if (join_names(t, u, ku, nkey, num, j.col, &j.ncol, err) < 0)
		goto out;
	for (size_t r = 0; r < t->nrow; r++) {
		long q = find_row(t, r, kt, u, ku, nkey);
		size_t c = 0;

		for (size_t i = 0; i < t->ncol; i++)
			j.cell[r * j.ncol + c++] = t->cell[r * t->ncol + i];
		for (size_t i = 0; i < u->ncol; i++) {
			int key = 0;

			for (int k = 0; k < nkey; k++)
				key |= ku[k] == (long)i;
			if (!key && !(j.cell[r * j.ncol + c++] =
				      strdup(u->cell[(size_t)q * u->ncol + i]))) {
				qf_err_set(err, "out of memory");
				goto out;
			}
		}
		j.line[r] = t->line[r];
		j.nrow = r + 1;
	}
	/* t's cells now belong to j */
	for (size_t i = 0; i < t->ncol; i++)
		free(t->col[i]);
	free(t->col);
	free(t->cell);
	free(t->line);
	free(t->path);
	*t = j;
	return 0;
out:
	/* only u's copies are j's own; t keeps its cells */
	for (size_t r = 0; r < t->nrow; r++)
		for (size_t c = t->ncol; c < j.ncol; c++)
			free(j.cell[r * j.ncol + c]);
	for (size_t i = 0; j.col && i < t->ncol + u->ncol; i++)
		free(j.col[i]);
	free(j.col);
	free(j.cell);
	free(j.line);
	free(j.path);
	return rc;
}
