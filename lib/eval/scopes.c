/*
 * scopes.c - the languages of the data and the scopes of the disparity
 * table: "all", each value of a column of a languages table (--group-by)
 * and each named list of languages (--group), made once every record is
 * in (docs/eval.md, "Disparity").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_impl.h"

/* ------------------------------------------------------------ languages */

int qf_ev_lang_index(qf_eval *ev, const char *code)
{
	struct lang *l;

	if (ev->last >= 0 && strcmp(ev->lang[ev->last].code, code) == 0)
		return ev->last;
	for (int i = 0; i < ev->nlang; i++)
		if (strcmp(ev->lang[i].code, code) == 0)
			return ev->last = i;
	if (ev->nlang == ev->langcap) {
		int c = ev->langcap ? 2 * ev->langcap : 16;

		l = realloc(ev->lang, (size_t)c * sizeof *l);
		if (!l)
			return -1;
		ev->lang = l;
		ev->langcap = c;
	}
	l = &ev->lang[ev->nlang];
	memset(l, 0, sizeof *l);
	if (!(l->code = strdup(code)))
		return -1;
	return ev->last = ev->nlang++;
}

int qf_ev_find_lang(const qf_eval *ev, const char *code)
{
	for (int l = 0; l < ev->nlang; l++)
		if (strcmp(ev->lang[l].code, code) == 0)
			return l;
	return -1;
}

int qf_ev_lang_add_unit(qf_eval *ev, int li, int unit)
{
	struct lang *l = &ev->lang[li];

	if (l->n == l->cap) {
		int c = l->cap ? 2 * l->cap : 16;
		int *p = realloc(l->unit, (size_t)c * sizeof *p);

		if (!p)
			return -1;
		l->unit = p;
		l->cap = c;
	}
	l->unit[l->n++] = unit;
	return 0;
}

static int cmp_lang(const void *a, const void *b)
{
	return strcmp(((const struct lang *)a)->code,
		      ((const struct lang *)b)->code);
}

void qf_ev_sort_langs(qf_eval *ev)
{
	qsort(ev->lang, (size_t)ev->nlang, sizeof *ev->lang, cmp_lang);
	for (int l = 0; l < ev->nlang; l++)
		for (int i = 0; i < ev->lang[l].n; i++)
			ev->u[ev->lang[l].unit[i]].lang = l;
}

/* ------------------------------------------------------------ --group, --group-by */

int qf_eval_group(qf_eval *ev, const char *name, const char *langs,
		  qf_err *err)
{
	char **a = realloc(ev->gname_, (size_t)(ev->ngroup + 1) * sizeof *a);

	if (!a)
		return qf_err_set(err, "out of memory");
	ev->gname_ = a;
	a = realloc(ev->glist, (size_t)(ev->ngroup + 1) * sizeof *a);
	if (!a)
		return qf_err_set(err, "out of memory");
	ev->glist = a;
	ev->gname_[ev->ngroup] = strdup(name);
	ev->glist[ev->ngroup] = strdup(langs);
	ev->ngroup++;
	if (!ev->gname_[ev->ngroup - 1] || !ev->glist[ev->ngroup - 1])
		return qf_err_set(err, "out of memory");
	return 0;
}

/* A new, empty table of ev (freed with it); column NULL: the codes
 * only.  NULL: out of memory. */
static struct table *new_table(qf_eval *ev, const char *path,
			       const char *column)
{
	struct table *t = realloc(ev->tab, (size_t)(ev->ntab + 1) * sizeof *t);

	if (!t)
		return NULL;
	ev->tab = t;
	t = &ev->tab[ev->ntab++];
	memset(t, 0, sizeof *t);
	if ((column && !(t->column = strdup(column))) ||
	    !(t->path = strdup(path)))
		return NULL;
	return t;
}

/* Append a row: a language code and its value. */
static int table_add(struct table *t, const char *code, const char *val)
{
	char **c = realloc(t->code, (size_t)(t->n + 1) * sizeof *c);

	if (!c)
		return -1;
	t->code = c;
	c = realloc(t->val, (size_t)(t->n + 1) * sizeof *c);
	if (!c)
		return -1;
	t->val = c;
	t->code[t->n] = strdup(code);
	t->val[t->n] = strdup(val);
	t->n++;
	return t->code[t->n - 1] && t->val[t->n - 1] ? 0 : -1;
}

/* The index of column in the header line of ts (0, the codes, for
 * NULL), or -1 with err set. */
static int header_column(qf_tsv *ts, const char *column, qf_err *err)
{
	int r = qf_tsv_next(ts);

	if (r < 0)
		return qf_tsv_fail(ts, err);
	if (r == 0)
		return qf_err_set(err, "%s: empty, expected a header line",
				  ts->path);
	if (!column)
		return 0;
	for (size_t i = 1; i < ts->n; i++)
		if (strcmp(ts->fld[i], column) == 0)
			return (int)i;
	return qf_err_set(err, "%s: no column %s", ts->path, column);
}

/* The rows of a languages table: code and the value in column col. */
static int table_rows(struct table *t, qf_tsv *ts, int col, qf_err *err)
{
	int r;

	while ((r = qf_tsv_next(ts)) > 0) {
		if (ts->len == 0)
			continue;
		if (ts->n <= (size_t)col)
			return qf_err_set(err, "%s: line %" PRIu64 ": %zu fields, "
					  "expected at least %d", ts->path,
					  ts->lineno, ts->n, col + 1);
		if (table_add(t, ts->fld[0], ts->fld[col]) < 0)
			return qf_err_set(err, "out of memory");
	}
	return r < 0 ? qf_tsv_fail(ts, err) : 0;
}

int qf_eval_group_by(qf_eval *ev, const char *path, const char *column,
		     qf_err *err)
{
	qf_tsv ts;
	struct table *t;
	int col, rc = -1;

	if (qf_tsv_open(&ts, path, QF_TSV_MAX) < 0)
		return qf_err_set(err, "cannot open %s: %s", path, strerror(errno));
	if (!(t = new_table(ev, path, column)))
		qf_err_set(err, "out of memory");
	else if ((col = header_column(&ts, column, err)) >= 0)
		rc = table_rows(t, &ts, col, err);
	qf_tsv_close(&ts);
	return rc;
}

int qf_eval_languages(qf_eval *ev, const char *path, qf_err *err)
{
	return qf_eval_group_by(ev, path, NULL, err);
}

/* ------------------------------------------------------------ scopes */

/* Add scope NAME of the languages marked in in[nlang], which it takes
 * (freed on failure). */
static int add_scope(qf_eval *ev, const char *name, unsigned char *in)
{
	struct scope *s = realloc(ev->sc, (size_t)(ev->nsc + 1) * sizeof *s);

	if (!s) {
		free(in);
		return -1;
	}
	ev->sc = s;
	s = &ev->sc[ev->nsc];
	if (!(s->name = strdup(name))) {
		free(in);
		return -1;
	}
	s->in = in;
	s->n = 0;
	for (int l = 0; l < ev->nlang; l++)
		s->n += s->in[l];
	ev->nsc++;
	return 0;
}

static int all_scope(qf_eval *ev)
{
	size_t L = (size_t)ev->nlang;
	unsigned char *in = calloc(L ? L : 1, 1);

	if (!in)
		return -1;
	memset(in, 1, L);
	return add_scope(ev, "all", in);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each language's value in table tb, into val[nlang] (pointers into tb);
 * a language of the data must have a row (docs/eval.md: whether or not
 * the table makes scopes). */
static int table_values(const qf_eval *ev, const struct table *tb,
			char **val, qf_err *err)
{
	for (int l = 0; l < ev->nlang; l++) {
		val[l] = NULL;
		for (int i = 0; i < tb->n; i++)
			if (strcmp(tb->code[i], ev->lang[l].code) == 0) {
				val[l] = tb->val[i];
				break;
			}
		if (!val[l])
			return qf_err_set(err, "%s: no row for language %s (in the "
					  "data)", tb->path, ev->lang[l].code);
	}
	return 0;
}

/* Scope "COLUMN=V" of the languages whose value val[l] is v. */
static int value_scope(qf_eval *ev, const char *column, char *const *val,
		       const char *v)
{
	size_t L = (size_t)ev->nlang;
	unsigned char *in = calloc(L, 1);
	char name[512];

	if (!in)
		return -1;
	for (size_t k = 0; k < L; k++)
		in[k] = strcmp(val[k], v) == 0;
	snprintf(name, sizeof name, "%s=%s", column, v);
	return add_scope(ev, name, in);
}

/* A scope for each value of table tb's column, in value order; none for
 * a table of codes only. */
static int table_scopes(qf_eval *ev, const struct table *tb, qf_err *err)
{
	size_t L = (size_t)ev->nlang;
	char **val = calloc(L ? L : 1, sizeof *val);
	char **uniq = malloc((L ? L : 1) * sizeof *uniq);
	int rc = -1;

	if (!val || !uniq) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	if (table_values(ev, tb, val, err) < 0)
		goto out;
	if (!tb->column) {	/* --languages alone: checked, no scopes */
		rc = 0;
		goto out;
	}
	memcpy(uniq, val, L * sizeof *uniq);
	qsort(uniq, L, sizeof *uniq, cmp_str);
	for (size_t l = 0; l < L; l++) {
		if (l > 0 && strcmp(uniq[l], uniq[l - 1]) == 0)
			continue;
		if (value_scope(ev, tb->column, val, uniq[l]) < 0) {
			qf_err_set(err, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	free(val);
	free(uniq);
	return rc;
}

/* The scope of --group g: its languages must be in the data. */
static int group_scope(qf_eval *ev, int g, qf_err *err)
{
	size_t L = (size_t)ev->nlang;
	char *copy = strdup(ev->glist[g]), *tok, *save = NULL;
	unsigned char *in = calloc(L ? L : 1, 1);

	if (!copy || !in)
		goto oom;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int l = qf_ev_find_lang(ev, tok);

		if (l < 0) {
			qf_err_set(err, "group %s: language %s not in the data",
				   ev->gname_[g], tok);
			free(copy);
			free(in);
			return -1;
		}
		in[l] = 1;
	}
	free(copy);
	if (add_scope(ev, ev->gname_[g], in) < 0)
		return qf_err_set(err, "out of memory");
	return 0;
oom:
	free(copy);
	free(in);
	return qf_err_set(err, "out of memory");
}

int qf_ev_make_scopes(qf_eval *ev, qf_err *err)
{
	if (all_scope(ev) < 0)
		return qf_err_set(err, "out of memory");
	for (int t = 0; t < ev->ntab; t++)
		if (table_scopes(ev, &ev->tab[t], err) < 0)
			return -1;
	for (int g = 0; g < ev->ngroup; g++)
		if (group_scope(ev, g, err) < 0)
			return -1;
	return 0;
}

void qf_ev_scopes_free(qf_eval *ev)
{
	for (int l = 0; l < ev->nlang; l++) {
		free(ev->lang[l].code);
		free(ev->lang[l].unit);
		free(ev->lang[l].cstart);
		free(ev->lang[l].cpos);
	}
	free(ev->lang);
	for (int t = 0; t < ev->ntab; t++) {
		for (int i = 0; i < ev->tab[t].n; i++) {
			free(ev->tab[t].code[i]);
			free(ev->tab[t].val[i]);
		}
		free(ev->tab[t].code);
		free(ev->tab[t].val);
		free(ev->tab[t].column);
		free(ev->tab[t].path);
	}
	free(ev->tab);
	for (int g = 0; g < ev->ngroup; g++) {
		free(ev->gname_[g]);
		free(ev->glist[g]);
	}
	free(ev->gname_);
	free(ev->glist);
	for (int s = 0; s < ev->nsc; s++) {
		free(ev->sc[s].name);
		free(ev->sc[s].in);
	}
	free(ev->sc);
}
