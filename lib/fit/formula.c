/*
 * formula.c - model formulas, patsy-like (docs/fit.md, "Formulas"), and
 * the design matrix one makes from a table's rows: transforms, factor
 * codings, interactions, names as patsy gives them.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_impl.h"

/* ------------------------------------------------------------ parsing */

struct lexer {
	const char *s, *p;	/* the formula, the position */
	qf_err *err;
};

static const char *const fname[] = {
	[F_LOG] = "log", [F_LOG1P] = "log1p", [F_Z] = "z", [F_RANK] = "rank",
	[F_SQ] = "sq", [F_C] = "C",
};

static void skip(struct lexer *l)
{
	while (*l->p == ' ')
		l->p++;
}

static int bad(struct lexer *l, const char *what)
{
	return qf_err_set(l->err, "formula '%s': %s at '%s'", l->s, what,
			  *l->p ? l->p : "the end");
}

static int name_char(int c, int first)
{
	return isalpha(c) || c == '_' || c == '.' || (!first && isdigit(c));
}

static void fexpr_free(struct fexpr *e)
{
	if (!e)
		return;
	fexpr_free(e->arg);
	free(e->col);
	free(e);
}

/* NAME, FUNC(expr) or C(NAME). */
static struct fexpr *parse_expr(struct lexer *l)
{
	const char *b;
	struct fexpr *e;
	size_t n;

	skip(l);
	if (!name_char((unsigned char)*l->p, 1)) {
		bad(l, "a column name expected");
		return NULL;
	}
	for (b = l->p; name_char((unsigned char)*l->p, 0); l->p++)
		;
	n = (size_t)(l->p - b);
	if (!(e = calloc(1, sizeof *e)) || !(e->col = strndup(b, n))) {
		free(e);
		qf_err_set(l->err, "out of memory");
		return NULL;
	}
	skip(l);
	if (*l->p != '(')
		return e;	/* F_COL */
	for (e->op = F_LOG; e->op <= F_C; e->op++)
		if (strcmp(e->col, fname[e->op]) == 0)
			break;
	if (e->op > F_C) {
		bad(l, "no function of this name (log, log1p, z, rank, sq, C)");
		goto fail;
	}
	free(e->col);
	e->col = NULL;
	l->p++;
	if (!(e->arg = parse_expr(l)))
		goto fail;
	if (e->op == F_C) {
		if (e->arg->op != F_COL) {
			bad(l, "C() takes a column name");
			goto fail;
		}
		e->col = e->arg->col;
		e->arg->col = NULL;
		fexpr_free(e->arg);
		e->arg = NULL;
	}
	skip(l);
	if (*l->p != ')') {
		bad(l, "')' expected");
		goto fail;
	}
	l->p++;
	return e;
fail:
	fexpr_free(e);
	return NULL;
}

/* The name of e as patsy writes it, into buf: "z(log(x))". */
static void expr_name(const struct fexpr *e, char *buf, size_t len)
{
	char in[256];

	if (e->op == F_COL) {
		snprintf(buf, len, "%s", e->col);
	} else if (e->op == F_C) {
		snprintf(buf, len, "C(%s)", e->col);
	} else {
		expr_name(e->arg, in, sizeof in);
		snprintf(buf, len, "%s(%s)", fname[e->op], in);
	}
}


static int term_name(const struct fterm *t, char *buf, size_t len)
{
	size_t o = 0;

	for (int i = 0; i < t->nf && o < len; i++) {
		char in[512];

		expr_name(t->f[i], in, sizeof in);
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ":" : "", in);
	}
	return 0;
}

/* Is the term's last factor one of the others (x:x)? */
static int factor_twice(const struct fterm *t)
{
	char a[256], b[256];

	expr_name(t->f[t->nf - 1], a, sizeof a);
	for (int i = 0; i < t->nf - 1; i++) {
		expr_name(t->f[i], b, sizeof b);
		if (strcmp(a, b) == 0)
			return 1;
	}
	return 0;
}

/* A term: factors joined by ':'. */
static int parse_term(struct lexer *l, struct fterm *t)
{
	t->nf = 0;
	for (;;) {
		if (t->nf == MAXFAC)
			return bad(l, "more than 8 factors in a term");
		if (!(t->f[t->nf] = parse_expr(l)))
			return -1;
		t->nf++;
		if (factor_twice(t))
			return bad(l, "a factor twice in one term");
		skip(l);
		if (*l->p != ':')
			return 0;
		l->p++;
	}
}

static void term_free(struct fterm *t)
{
	for (int i = 0; i < t->nf; i++)
		fexpr_free(t->f[i]);
	t->nf = 0;
}

/* One item of the right-hand side after its sign: 0, 1 or a term. */
static int parse_item(struct lexer *l, qf_fit_formula *f, int minus)
{
	struct fterm t = { 0 };
	char a[1024], b[1024];

	skip(l);
	if ((*l->p == '0' || *l->p == '1') && !isalnum((unsigned char)l->p[1])) {
		f->intercept = (*l->p == '1') != minus;
		l->p++;
		return 0;
	}
	if (minus)
		return bad(l, "only '- 1' may be subtracted");
	if (parse_term(l, &t) < 0) {
		term_free(&t);
		return -1;
	}
	term_name(&t, a, sizeof a);
	for (int i = 0; i < f->nterm; i++) {
		term_name(&f->term[i], b, sizeof b);
		if (strcmp(a, b) == 0) {
			term_free(&t);
			return qf_err_set(l->err, "formula '%s': term '%s' twice",
					  l->s, a);
		}
	}
	{
		struct fterm *p = realloc(f->term, (size_t)(f->nterm + 1) *
					  sizeof *p);

		if (!p) {
			term_free(&t);
			return qf_err_set(l->err, "out of memory");
		}
		f->term = p;
		f->term[f->nterm++] = t;
	}
	return 0;
}

static int parse_rhs(struct lexer *l, qf_fit_formula *f)
{
	int minus = 0;

	skip(l);
	if (*l->p == '-' || *l->p == '+')
		minus = *l->p++ == '-';
	for (;;) {
		if (parse_item(l, f, minus) < 0)
			return -1;
		skip(l);
		if (!*l->p)
			return 0;
		if (*l->p == '*')
			return bad(l, "'*' is not supported (write a + b + a:b)");
		if (*l->p != '+' && *l->p != '-')
			return bad(l, "'+', '-' or ':' expected");
		minus = *l->p++ == '-';
	}
}

void qf_fit_formula_free(qf_fit_formula *f)
{
	if (!f)
		return;
	fexpr_free(f->lhs);
	for (int i = 0; i < f->nterm; i++)
		term_free(&f->term[i]);
	free(f->term);
	free(f);
}

int qf_fit_formula_parse(const char *s, qf_fit_formula **out, qf_err *err)
{
	struct lexer l = { s, s, err };
	qf_fit_formula *f = calloc(1, sizeof *f);

	*out = NULL;
	if (!f)
		return qf_err_set(err, "out of memory");
	f->intercept = 1;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			qf_err_set(err, "formula: a control character");
			goto fail;
		}
	if (!(f->lhs = parse_expr(&l)))
		goto fail;
	if (f->lhs->op == F_C) {
		qf_err_set(err, "formula '%s': the response cannot be a factor", s);
		goto fail;
	}
	skip(&l);
	if (*l.p != '~') {
		bad(&l, "'~' expected");
		goto fail;
	}
	l.p++;
	if (parse_rhs(&l, f) < 0)
		goto fail;
	if (!f->nterm && !f->intercept) {
		qf_err_set(err, "formula '%s': no terms and no intercept", s);
		goto fail;
	}
	*out = f;
	return 0;
fail:
	qf_fit_formula_free(f);
	return -1;
}

/* ------------------------------------------------------------ rows */

/* The column c of t names, or the error. */
static long need_col(const qf_fit_table *t, const char *name, qf_err *err)
{
	long c = qf_fit_table_col(t, name);

	if (c < 0)
		qf_err_set(err, "%s: no column '%s'", t->path, name);
	return c;
}

/* Is expression e's column NA in row r? 1 yes, 0 no, -1 an error. */
static int expr_na(const qf_fit_table *t, const struct fexpr *e, size_t r,
		   qf_err *err)
{
	double v;
	long c;

	while (e->arg)
		e = e->arg;
	if ((c = need_col(t, e->col, err)) < 0)
		return -1;
	if (e->op == F_C) {
		const char *s = t->cell[r * t->ncol + (size_t)c];

		if (!*s || strcmp(s, "NA") == 0)
			goto na;
		return 0;
	}
	switch (qf_fit_cell_num(t, r, (size_t)c, &v, err)) {
	case 0:
		return 0;
	case 1:
		goto na;
	}
	return -1;
na:
	qf_err_set(err, "%s: line %" PRIu64 ": column '%s' is NA (--drop-na "
		   "drops such rows)", t->path, t->line[r], e->col);
	return 1;
}

/* NA in any column of f in row r? */
static int formula_na(const qf_fit_table *t, const qf_fit_formula *f,
		      size_t r, qf_err *err)
{
	int na;

	if (!f)
		return 0;
	if ((na = expr_na(t, f->lhs, r, err)) != 0)
		return na;
	for (int i = 0; i < f->nterm; i++)
		for (int j = 0; j < f->term[i].nf; j++)
			if ((na = expr_na(t, f->term[i].f[j], r, err)) != 0)
				return na;
	return 0;
}

int fit_rows(const qf_fit_table *t, const qf_fit_formula *f,
	     const qf_fit_formula *vs, const char *weights, int drop_na,
	     size_t **rows, size_t *n, size_t *dropped, qf_err *err)
{
	struct fexpr w = { F_COL, (char *)weights, NULL };
	size_t *r = malloc((t->nrow + 1) * sizeof *r);

	*n = *dropped = 0;
	if (!r)
		return qf_err_set(err, "out of memory");
	for (size_t i = 0; i < t->nrow; i++) {
		int na = formula_na(t, f, i, err);

		if (!na)
			na = formula_na(t, vs, i, err);
		if (!na && weights)
			na = expr_na(t, &w, i, err);
		if (na < 0 || (na && !drop_na)) {
			free(r);
			return -1;
		}
		if (na)
			++*dropped;
		else
			r[(*n)++] = i;
	}
	*rows = r;
	return 0;
}

/* ------------------------------------------------------------ values */

static int cmp_dbl_idx(const void *a, const void *b, void *v)
{
	const double *x = v;
	double p = x[*(const size_t *)a], q = x[*(const size_t *)b];

	return (p > q) - (p < q);
}

/* Average ranks from 1, as scipy.stats.rankdata. */
static int ranks(double *x, size_t n, qf_err *err)
{
	size_t *o = malloc((n + 1) * sizeof *o);
	double *r = malloc((n + 1) * sizeof *r);

	if (!o || !r) {
		free(o);
		free(r);
		return qf_err_set(err, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		o[i] = i;
	qsort_r(o, n, sizeof *o, cmp_dbl_idx, x);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && x[o[j]] == x[o[i]]; j++)
			;
		for (size_t q = i; q < j; q++)
			r[o[q]] = (double)(i + j + 1) / 2;
	}
	memcpy(x, r, n * sizeof *x);
	free(o);
	free(r);
	return 0;
}

/* z-scores with the sample SD (n - 1). */
static int zscore(double *x, size_t n, const char *name, qf_err *err)
{
	double m = 0, s = 0;

	for (size_t i = 0; i < n; i++)
		m += x[i];
	m /= (double)n;
	for (size_t i = 0; i < n; i++)
		s += (x[i] - m) * (x[i] - m);
	s = sqrt(s / (double)(n - 1));
	if (n < 2 || !(s > 0))
		return qf_err_set(err, "z(%s): constant over the rows fitted", name);
	for (size_t i = 0; i < n; i++)
		x[i] = (x[i] - m) / s;
	return 0;
}

int fit_expr_values(const qf_fit_table *t, const struct fexpr *e,
		    const double *base, const size_t *rows, size_t n,
		    double *x, qf_err *err)
{
	char name[512];

	if (e->op == F_COL && base) {
		for (size_t i = 0; i < n; i++)
			x[i] = base[rows[i]];
		return 0;
	}
	if (e->op == F_COL) {
		long c = need_col(t, e->col, err);

		if (c < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (qf_fit_cell_num(t, rows[i], (size_t)c, &x[i], err) != 0)
				return -1;	/* NA rows are gone */
		return 0;
	}
	if (fit_expr_values(t, e->arg, base, rows, n, x, err) < 0)
		return -1;
	expr_name(e->arg, name, sizeof name);
	switch (e->op) {
	case F_Z:
		return zscore(x, n, name, err);
	case F_RANK:
		return ranks(x, n, err);
	}
	for (size_t i = 0; i < n; i++) {
		if ((e->op == F_LOG && !(x[i] > 0)) ||
		    (e->op == F_LOG1P && !(x[i] > -1)))
			return qf_err_set(err, "%s: line %" PRIu64 ": %s(%s): %.17g "
					  "is out of its domain", t->path,
					  t->line[rows[i]], fname[e->op], name,
					  x[i]);
		x[i] = e->op == F_LOG ? log(x[i]) : e->op == F_LOG1P ?
		       log1p(x[i]) : x[i] * x[i];
	}
	return 0;
}

/* ------------------------------------------------------------ factors */

static int numeric(const char *s, double *v)
{
	char *end;

	*v = strtod(s, &end);
	return *s && !*end;
}

static int cmp_text(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_level(const void *a, const void *b)
{
	const char *p = *(const char *const *)a, *q = *(const char *const *)b;
	double x, y;

	if (numeric(p, &x) && numeric(q, &y) && x != y)
		return (x > y) - (x < y);
	return strcmp(p, q);
}

int fit_levels(const qf_fit_table *t, const char *col, const size_t *rows,
	       size_t n, struct levels *lv, qf_err *err)
{
	long c = need_col(t, col, err);
	int allnum = 1;
	double v;

	if (c < 0)
		return -1;
	lv->n = 0;
	lv->name = malloc((n + 1) * sizeof *lv->name);
	lv->of = malloc((n + 1) * sizeof *lv->of);
	if (!lv->name || !lv->of)
		return qf_err_set(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *s = t->cell[rows[i] * t->ncol + (size_t)c];
		size_t k;

		for (k = 0; k < lv->n && strcmp(lv->name[k], s) != 0; k++)
			;
		if (k == lv->n)
			lv->name[lv->n++] = s;
		allnum &= numeric(s, &v);
	}
	/* mixed text and numbers sort as text */
	qsort(lv->name, lv->n, sizeof *lv->name, allnum ? cmp_level : cmp_text);
	for (size_t i = 0; i < n; i++) {
		const char *s = t->cell[rows[i] * t->ncol + (size_t)c];

		for (lv->of[i] = 0; strcmp(lv->name[lv->of[i]], s) != 0;
		     lv->of[i]++)
			;
	}
	return 0;
}

void fit_levels_free(struct levels *lv)
{
	free(lv->name);
	free(lv->of);
	memset(lv, 0, sizeof *lv);
}

/* Does the formula have the term t without its factor j (the intercept
 * when that leaves nothing)?  Then factor j is coded by treatment
 * contrasts, else in full: patsy's rule for the usual cases. */
static int has_lower(const qf_fit_formula *f, const struct fterm *t, int j)
{
	char a[1024], b[1024];
	struct fterm u = { 0 };

	for (int i = 0; i < t->nf; i++)
		if (i != j)
			u.f[u.nf++] = t->f[i];
	if (u.nf == 0)
		return f->intercept;
	term_name(&u, a, sizeof a);
	for (int i = 0; i < f->nterm; i++) {
		term_name(&f->term[i], b, sizeof b);
		if (strcmp(a, b) == 0)
			return 1;
	}
	return 0;
}

/* One factor of a term, evaluated: its columns (1 for a number, the
 * coded levels of a C()) as n x m values and names. */
struct fcols {
	size_t m;
	double *v;
	char **name;
};

static void fcols_free(struct fcols *c)
{
	for (size_t i = 0; i < c->m; i++)
		free(c->name[i]);
	free(c->name);
	free(c->v);
	memset(c, 0, sizeof *c);
}

static int factor_cols(const qf_fit_table *t, const struct fexpr *e,
		       int full, const size_t *rows, size_t n,
		       struct fcols *c, qf_err *err)
{
	struct levels lv = { 0 };
	char name[512];
	size_t first = full ? 0 : 1;

	expr_name(e, name, sizeof name);
	if (e->op != F_C) {
		c->m = 1;
		c->v = malloc((n + 1) * sizeof *c->v);
		c->name = calloc(1, sizeof *c->name);
		if (!c->v || !c->name || !(c->name[0] = strdup(name)))
			return qf_err_set(err, "out of memory");
		return fit_expr_values(t, e, NULL, rows, n, c->v, err);
	}
	if (fit_levels(t, e->col, rows, n, &lv, err) < 0)
		goto fail;
	if (lv.n < 2) {
		qf_err_set(err, "%s: one level ('%s') in the rows fitted", name,
			   lv.n ? lv.name[0] : "");
		goto fail;
	}
	c->m = lv.n - first;
	c->v = calloc(n * c->m + 1, sizeof *c->v);
	c->name = calloc(c->m + 1, sizeof *c->name);
	if (!c->v || !c->name) {
		qf_err_set(err, "out of memory");
		goto fail;
	}
	for (size_t l = 0; l < c->m; l++)
		if (asprintf(&c->name[l], "%s[%s%s]", name, full ? "" : "T.",
			     lv.name[l + first]) < 0) {
			c->name[l] = NULL;
			qf_err_set(err, "out of memory");
			goto fail;
		}
	for (size_t i = 0; i < n; i++)
		if (lv.of[i] >= first)
			c->v[(lv.of[i] - first) * n + i] = 1;
	fit_levels_free(&lv);
	return 0;
fail:
	fit_levels_free(&lv);
	return -1;
}

void design_free(struct design *d)
{
	for (size_t i = 0; d->name && i < d->k; i++)
		free(d->name[i]);
	free(d->name);
	free(d->X);
	free(d->y);
	free(d->w);
	free(d->row);
	memset(d, 0, sizeof *d);
}

/* Room for m more columns in d. */
static int grow(struct design *d, size_t m, size_t *cap, qf_err *err)
{
	if (d->k + m > *cap) {
		size_t c = 2 * (d->k + m);
		double *X = realloc(d->X, c * d->n * sizeof *X + 1);
		char **name;

		if (!X)
			return qf_err_set(err, "out of memory");
		d->X = X;
		if (!(name = realloc(d->name, c * sizeof *name)))
			return qf_err_set(err, "out of memory");
		d->name = name;
		*cap = c;
	}
	return 0;
}

/* The columns of term t: the products of its factors' columns, the first
 * factor's varying fastest. */
static int add_term(const qf_fit_table *t, const qf_fit_formula *f,
		    const struct fterm *tm, struct design *d, size_t *cap,
		    qf_err *err)
{
	struct fcols fc[MAXFAC] = { 0 };
	size_t m = 1, n = d->n, idx[MAXFAC] = { 0 };
	int rc = -1;

	for (int j = 0; j < tm->nf; j++) {
		if (factor_cols(t, tm->f[j], !has_lower(f, tm, j), d->row, n,
				&fc[j], err) < 0)
			goto out;
		m *= fc[j].m;
	}
	if (grow(d, m, cap, err) < 0)
		goto out;
	for (size_t q = 0; q < m; q++) {
		double *x = d->X + (d->k + q) * n;
		char buf[2048];
		size_t o = 0;

		for (size_t i = 0; i < n; i++)
			x[i] = 1;
		for (int j = 0; j < tm->nf; j++) {
			for (size_t i = 0; i < n; i++)
				x[i] *= fc[j].v[idx[j] * n + i];
			o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s",
					      j ? ":" : "", fc[j].name[idx[j]]);
			if (o >= sizeof buf)
				o = sizeof buf - 1;
		}
		if (!(d->name[d->k + q] = strdup(buf))) {
			d->k += q;
			qf_err_set(err, "out of memory");
			goto out;
		}
		for (int j = 0; j < tm->nf && ++idx[j] == fc[j].m; j++)
			idx[j] = 0;
	}
	d->k += m;
	rc = 0;
out:
	for (int j = 0; j < tm->nf; j++)
		fcols_free(&fc[j]);
	return rc;
}

int fit_design(const qf_fit_table *t, const qf_fit_formula *f,
	       const char *weights, const size_t *rows, size_t n,
	       struct design *d, qf_err *err)
{
	size_t cap = 0;

	memset(d, 0, sizeof *d);
	d->n = n;
	d->intercept = f->intercept;
	d->y = malloc((n + 1) * sizeof *d->y);
	d->w = malloc((n + 1) * sizeof *d->w);
	d->row = malloc((n + 1) * sizeof *d->row);
	if (!d->y || !d->w || !d->row)
		goto oom;
	memcpy(d->row, rows, n * sizeof *rows);
	if (fit_expr_values(t, f->lhs, NULL, rows, n, d->y, err) < 0)
		goto fail;
	if (weights) {
		struct fexpr w = { F_COL, (char *)weights, NULL };

		if (fit_expr_values(t, &w, NULL, rows, n, d->w, err) < 0)
			goto fail;
		for (size_t i = 0; i < n; i++)
			if (!(d->w[i] > 0)) {
				qf_err_set(err, "%s: line %" PRIu64 ": weight '%s' is "
					   "%.17g, not positive", t->path,
					   t->line[rows[i]], weights, d->w[i]);
				goto fail;
			}
	} else {
		for (size_t i = 0; i < n; i++)
			d->w[i] = 1;
	}
	if (f->intercept) {
		if (grow(d, 1, &cap, err) < 0)
			goto fail;
		for (size_t i = 0; i < n; i++)
			d->X[i] = 1;
		if (!(d->name[0] = strdup("Intercept")))
			goto oom;
		d->k = 1;
	}
	for (int i = 0; i < f->nterm; i++)
		if (add_term(t, f, &f->term[i], d, &cap, err) < 0)
			goto fail;
	return 0;
oom:
	qf_err_set(err, "out of memory");
fail:
	design_free(d);
	return -1;
}
