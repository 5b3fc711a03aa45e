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

/* A table's rows sorted by key (then by row: equal keys in row order),
 * for joins in n log n: tables of units can be long. */
struct keyed {
	const qf_fit_table *t;
	long kc[64];
	int nkey;
	size_t *ord;
};

/* Row ra of a against row rb of b, key by key, as strcmp. */
static int cmp_key(const qf_fit_table *a, size_t ra, const long *ka,
		   const qf_fit_table *b, size_t rb, const long *kb, int nkey)
{
	for (int i = 0; i < nkey; i++) {
		int c = strcmp(a->cell[ra * a->ncol + ka[i]],
			       b->cell[rb * b->ncol + kb[i]]);

		if (c)
			return c;
	}
	return 0;
}

static int cmp_ord(const void *x, const void *y, void *arg)
{
	const struct keyed *k = arg;
	size_t p = *(const size_t *)x, q = *(const size_t *)y;
	int c = cmp_key(k->t, p, k->kc, k->t, q, k->kc, k->nkey);

	return c ? c : (p > q) - (p < q);
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

/* t's key columns and its rows sorted; a missing key column, or a key
 * twice (the first row that repeats an earlier one), is the error. */
static int keyed_make(struct keyed *k, const qf_fit_table *t,
		      const char *const *keys, int nkey, qf_err *err)
{
	size_t dup = SIZE_MAX, first = 0;
	char buf[512];

	k->t = t;
	k->nkey = nkey;
	k->ord = NULL;
	if (key_cols(t, keys, nkey, k->kc, err) < 0)
		return -1;
	if (!(k->ord = malloc((t->nrow + 1) * sizeof *k->ord)))
		return qf_err_set(err, "out of memory");
	for (size_t r = 0; r < t->nrow; r++)
		k->ord[r] = r;
	qsort_r(k->ord, t->nrow, sizeof *k->ord, cmp_ord, k);
	for (size_t i = 1, g = 0; i < t->nrow; i++) {
		if (cmp_key(t, k->ord[i], k->kc, t, k->ord[g], k->kc, nkey)) {
			g = i;
			continue;
		}
		if (i == g + 1 && k->ord[i] < dup) {
			dup = k->ord[i];
			first = k->ord[g];
		}
	}
	if (dup == SIZE_MAX)
		return 0;
	return qf_err_set(err, "%s: line %" PRIu64 ": key %s twice (line %"
			  PRIu64 " too)", t->path, t->line[dup],
			  key_text(t, dup, k->kc, nkey, buf, sizeof buf),
			  t->line[first]);
}

/* The row of k's table with the key of a's row r, or -1. */
static long keyed_find(const struct keyed *k, const qf_fit_table *a,
		       size_t r, const long *ka)
{
	size_t lo = 0, hi = k->t->nrow;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_key(a, r, ka, k->t, k->ord[mid], k->kc, k->nkey);

		if (c == 0)
			return (long)k->ord[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Every key of a's table in b's. */
static int all_in(const struct keyed *a, const struct keyed *b, qf_err *err)
{
	char buf[512];

	for (size_t r = 0; r < a->t->nrow; r++)
		if (keyed_find(b, a->t, r, a->kc) < 0)
			return qf_err_set(err, "%s: no row with key %s (%s line %"
					  PRIu64 ")", b->t->path,
					  key_text(a->t, r, a->kc, a->nkey, buf,
						   sizeof buf),
					  a->t->path, a->t->line[r]);
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
	struct keyed kt = { 0 }, ku = { 0 };
	qf_fit_table j = { 0 };
	int rc = -1;

	if (nkey > 64)
		return qf_err_set(err, "more than 64 --join keys");
	if (keyed_make(&kt, t, keys, nkey, err) < 0 ||
	    keyed_make(&ku, u, keys, nkey, err) < 0 ||
	    all_in(&kt, &ku, err) < 0 || all_in(&ku, &kt, err) < 0)
		goto out;
	j.col = calloc(t->ncol + u->ncol, sizeof *j.col);
	j.cell = calloc(t->nrow * (t->ncol + u->ncol) + 1, sizeof *j.cell);
	j.line = calloc(t->nrow + 1, sizeof *j.line);
	j.path = strdup(t->path);
	if (!j.col || !j.cell || !j.line || !j.path) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	if (join_names(t, u, ku.kc, nkey, num, j.col, &j.ncol, err) < 0)
		goto out;
	for (size_t r = 0; r < t->nrow; r++) {
		long q = keyed_find(&ku, t, r, kt.kc);
		size_t c = 0;

		for (size_t i = 0; i < t->ncol; i++)
			j.cell[r * j.ncol + c++] = t->cell[r * t->ncol + i];
		for (size_t i = 0; i < u->ncol; i++) {
			int key = 0;

			for (int k = 0; k < nkey; k++)
				key |= ku.kc[k] == (long)i;
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
	free(kt.ord);
	free(ku.ord);
	return 0;
out:
	free(kt.ord);
	free(ku.ord);
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
