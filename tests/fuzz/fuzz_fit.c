/*
 * fuzz_fit.c - qf-fit's parsers and its fit on arbitrary bytes: a
 * formula (lib/fit/formula.c), a TSV table (lib/fit/table.c), and when
 * both read, the linear model on them (lib/fit/lm.c) with every option,
 * and the mixed model.
 *
 * The input is the formula up to the first NUL byte, then one byte of
 * flags, then the table.  Flags: bit 0 --drop-na, bit 1 --folds 2, bit
 * 2 --cv-group on the first column, bit 3 --weights on the last column,
 * bit 4 --vs 'FIRST ~ 1' (the response of the formula), bit 5 the table
 * joined with itself on its first column; bit 6 qf-fit cor's columns
 * (lib/fit/columns.c) of the first and last columns, transformed, and
 * their correlations, and a mixed model (lib/fit/mixed_table.c) grouped
 * by the first column, and by the last as well with bit 7 (--drop-na
 * with bit 0, --intervals with bit 1, --ml with bit 2).
 *
 * Checked: a formula that does not parse, and every failure, is one
 * non-empty line; a fit that succeeds writes both tables.
 *
 *   make BUILD=b b/fuzz/fuzz_fit
 *   b/fuzz/fuzz_fit tests/fuzz/corpus/fit
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qf.h"

static int fd = -1;
static char path[64];

static void check_err(const qf_err *e)
{
	if (!e->msg[0] || strchr(e->msg, '\n'))
		abort();
}

/* The table's first and last column names, for the options. */
static void fit(const qf_fit_formula *f, const qf_fit_table *t, unsigned fl)
{
	char vs[300];
	qf_fit_formula *fvs = NULL;
	qf_fit_lm_opts o = { 0 };
	qf_fit_lm r;
	qf_err e;
	FILE *out;

	o.drop_na = fl & 1;
	o.folds = fl & 2 ? 2 : 0;
	o.seed = 1;
	o.cv_group = fl & 4 && t->ncol ? t->col[0] : NULL;
	o.weights = fl & 8 && t->ncol ? t->col[t->ncol - 1] : NULL;
	if (fl & 16 && t->ncol) {
		snprintf(vs, sizeof vs, "%.200s ~ 1", t->col[0]);
		if (qf_fit_formula_parse(vs, &fvs, &e) == 0)
			o.vs = fvs;
	}
	if (qf_fit_lm_run(t, f, &o, &r, &e) < 0) {
		check_err(&e);
	} else {
		if (!(out = fopen("/dev/null", "w")))
			abort();
		qf_fit_lm_write_coef(out, &r, 17);
		qf_fit_lm_write_model(out, &r, "f", NULL, 6);
		fclose(out);
		qf_fit_lm_free(&r);
	}
	qf_fit_formula_free(fvs);
}

/* cor, perm: the first column against log1p(last) and rank(first), as
 * qf-fit cor reads them; every method on what reads. */
static void cor(const qf_fit_table *t)
{
	char last[300];
	const char *ex[3] = { t->col[0], last, NULL };
	qf_fit_cols c;
	qf_cor r;
	qf_err e;
	char rk[300];

	snprintf(last, sizeof last, "log1p(%.200s)", t->col[t->ncol - 1]);
	snprintf(rk, sizeof rk, "rank(%.200s)", t->col[0]);
	ex[2] = rk;
	if (qf_fit_columns(t, ex, 3, NULL, 0, &c, &e) < 0) {
		check_err(&e);
		return;
	}
	if (c.n > 1000) {
		qf_fit_cols_free(&c);
		return;
	}
	for (int m = 0; m < QF_COR_METHODS; m++)
		if (qf_cor_test(m, c.x, c.x + c.n, (int)c.n, 0.95, &r, &e) < 0)
			check_err(&e);
	if (qf_cor_partial(c.x, c.x + c.n, c.x + 2 * c.n, (int)c.n, 1, 0.95,
			   &r, &e) < 0)
		check_err(&e);
	qf_fit_cols_free(&c);
}

/* qf-fit mixed's fit and tables. */
static void fit_mixed(const qf_fit_formula *f, const qf_fit_table *t,
		      unsigned fl)
{
	qf_fit_mixed_opts o = { { NULL }, 1, 0, (fl >> 1) & 1, fl & 1 };
	qf_fit_mixed r;
	qf_err e;
	FILE *out;

	if (!t->ncol)
		return;
	o.ml = (fl >> 2) & 1;
	o.groups[0] = t->col[0];
	if (fl & 128 && t->ncol > 1)
		o.groups[o.ngroups++] = t->col[t->ncol - 1];
	if (qf_fit_mixed_run(t, f, &o, &r, &e) < 0) {
		check_err(&e);
		return;
	}
	if (!(out = fopen("/dev/null", "w")))
		abort();
	qf_fit_mixed_write_coef(out, &r, 17);
	qf_fit_mixed_write_model(out, &r, "f", 6);
	qf_fit_mixed_write_ranef(out, &r, 6);
	if (r.fit.nf == 1)
		qf_fit_mixed_write_icc(out, &r, 6);
	fclose(out);
	qf_fit_mixed_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	qf_fit_formula *f = NULL;
	qf_fit_table t, u;
	unsigned fl;
	char *text;
	qf_err e;

	if (fd < 0) {
		if ((fd = memfd_create("fuzz_fit", 0)) < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (!nul || (size_t)(nul - data) + 2 > size)
		return 0;
	if (!(text = strndup((const char *)data, (size_t)(nul - data))))
		abort();
	fl = nul[1];
	if (ftruncate(fd, 0) < 0 ||
	    pwrite(fd, nul + 2, size - (size_t)(nul - data) - 2, 0) < 0)
		abort();
	if (qf_fit_formula_parse(text, &f, &e) < 0) {
		check_err(&e);
	} else if (qf_fit_table_read(path, &t, &e) < 0) {
		check_err(&e);
	} else {
		if (fl & 32 && t.ncol) {
			const char *key[1] = { t.col[0] };

			if (qf_fit_table_read(path, &u, &e) < 0)
				abort();
			if (qf_fit_table_join(&t, &u, key, 1, 2, &e) < 0)
				check_err(&e);
			qf_fit_table_free(&u);
		}
		fit(f, &t, fl);
		if (fl & 64 && t.ncol) {
			cor(&t);
			fit_mixed(f, &t, fl);
		}
		qf_fit_table_free(&t);
	}
	qf_fit_formula_free(f);
	free(text);
	return 0;
}
