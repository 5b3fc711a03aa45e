/*
 * data.c - training data (train.h: qf_tdata): the token records of a
 * stream (text.h's token records, or any 1-d integer records with a lang
 * attribute) held per language as one sequence of its documents, each
 * followed by the separator; the mix file's sampling weights; and the
 * sampling of windows by those weights.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"
#include "train/train_impl.h"

/* ------------------------------------------------------------ token records */

/* A language: its documents, each followed by the separator. */
struct tlang {
	char *code;
	int32_t *tok;
	uint64_t n, cap;
	double w;
};

struct qf_tdata {
	struct tlang *lang;
	size_t n;
	double *cum;		/* cumulative probabilities, last 1 */
	int window;
};

void qf_tdata_free(qf_tdata *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->lang[i].code);
		free(d->lang[i].tok);
	}
	free(d->lang);
	free(d->cum);
	free(d);
}

static struct tlang *lang_of(qf_tdata *d, const char *code, int add,
			     qf_err *err)
{
	struct tlang *l;

	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->lang[i].code, code) == 0)
			return &d->lang[i];
	if (!add)
		return NULL;
	l = realloc(d->lang, (d->n + 1) * sizeof *l);
	if (!l) {
		qf_err_set(err, "out of memory");
		return NULL;
	}
	d->lang = l;
	l = &d->lang[d->n];
	memset(l, 0, sizeof *l);
	if (!(l->code = strdup(code))) {
		qf_err_set(err, "out of memory");
		return NULL;
	}
	d->n++;
	return l;
}

/* Append n ids and the separator to l. */
static int lang_append(struct tlang *l, const int32_t *tok, uint64_t n,
		       int32_t sep, qf_err *err)
{
	if (l->n + n + 1 > l->cap) {
		uint64_t cap = l->cap ? l->cap : 4096;
		int32_t *p;

		while (cap < l->n + n + 1)
			cap *= 2;
		if (!(p = realloc(l->tok, cap * sizeof *p)))
			return qf_err_set(err, "out of memory");
		l->tok = p;
		l->cap = cap;
	}
	memcpy(l->tok + l->n, tok, n * sizeof *tok);
	l->n += n;
	l->tok[l->n++] = sep;
	return 0;
}

/* A record of token ids: 1-d, integers, with a language; its language. */
static const char *record_lang(const char *name, const qf_rec *rec,
			       qf_err *err)
{
	const char *lang = qf_rec_get(rec, QF_ATTR_LANG);

	if (qf_dtype_is_float(rec->dtype) || rec->dtype == QF_BOOL ||
	    rec->ndim != 1) {
		qf_err_set(err, "%s: record %s: dtype %s, %d dims: expected 1-d "
			   "integer token ids", name, rec->name,
			   qf_dtype_name(rec->dtype), rec->ndim);
		return NULL;
	}
	if (!lang || !*lang) {
		qf_err_set(err, "%s: record %s: no " QF_ATTR_LANG " attribute",
			   name, rec->name);
		return NULL;
	}
	return lang;
}

/* The ids of rec, tok, are in [0, vocab). */
static int check_ids(const char *name, const qf_rec *rec, const int32_t *tok,
		     int vocab, qf_err *err)
{
	for (uint64_t i = 0; i < rec->dims[0]; i++)
		if (tok[i] < 0 || tok[i] >= vocab)
			return qf_err_set(err, "%s: record %s: token id %" PRId32
					  " at position %" PRIu64 " out of range "
					  "(vocab_size %d)", name, rec->name,
					  tok[i], i, vocab);
	return 0;
}

/* The record just read from r: its ids and the separator appended to its
 * language's sequence. */
static int add_record(qf_tdata *d, qf_reader *r, const qf_rec *rec,
		      int vocab, int32_t sep, qf_err *err)
{
	const char *name = qf_reader_name(r), *lang;
	struct tlang *l;
	int32_t *tok;
	int rc = -1;

	if (!(lang = record_lang(name, rec, err)) ||
	    qf_reader_read_as(r, QF_I32, (void **)&tok, err) < 0)
		return -1;
	if (check_ids(name, rec, tok, vocab, err) == 0 &&
	    (l = lang_of(d, lang, 1, err)) &&
	    lang_append(l, tok, rec->dims[0], sep, err) == 0)
		rc = 0;
	free(tok);
	return rc;
}

static int read_tokens(qf_tdata *d, const char *path, int vocab, int32_t sep,
		       qf_err *err)
{
	qf_reader *r = qf_reader_open(path, err);
	qf_rec rec;
	int rc;

	if (!r)
		return -1;
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(r, &rec, err)) > 0)
		if (add_record(d, r, &rec, vocab, sep, err) < 0) {
			rc = -1;
			break;
		}
	if (rc == 0 && d->n == 0)
		rc = qf_err_set(err, "%s: no token records", qf_reader_name(r));
	qf_rec_free(&rec);
	qf_reader_close(r);
	return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------ the mix */

/* What the mix file has said so far. */
struct mix {
	unsigned char *named;	/* [d->n]: the language has a line */
	int have_rest;		/* a '*' line was read */
	int seen;		/* lines neither blank nor comments */
	double rest;		/* the weight of '*' */
};

/* One line of the mix file (d's languages are those of tokens). */
static int mix_line(qf_tdata *d, const qf_tsv *ts, struct mix *m,
		    const char *tokens, qf_err *err)
{
	const char *path = ts->path, *lang = ts->fld[0], *wt;
	uint64_t ln = ts->lineno;
	struct tlang *l;
	double w;
	qf_err e2;

	if (ts->len == 0 || lang[0] == '#')
		return 0;
	if (ts->n != 2 || !*lang)
		return qf_err_set(err, "%s: line %" PRIu64 ": expected "
				  "'lang<TAB>weight'", path, ln);
	wt = ts->fld[1];
	if (!m->seen++ && strcmp(lang, "lang") == 0 &&
	    strcmp(wt, "weight") == 0)
		return 0;
	if (qf_parse_double(wt, &w, &e2) < 0 || !(w >= 0) || !isfinite(w))
		return qf_err_set(err, "%s: line %" PRIu64 ": weight '%s' is not "
				  "a non-negative number", path, ln, wt);
	if (strcmp(lang, "*") == 0) {
		if (m->have_rest)
			return qf_err_set(err, "%s: line %" PRIu64 ": '*' given "
					  "twice", path, ln);
		m->have_rest = 1;
		m->rest = w;
		return 0;
	}
	if (!(l = lang_of(d, lang, 0, err)))
		return qf_err_set(err, "%s: line %" PRIu64 ": language '%s' has "
				  "no documents in %s", path, ln, lang, tokens);
	if (m->named[l - d->lang])
		return qf_err_set(err, "%s: line %" PRIu64 ": language '%s' given "
				  "twice", path, ln, lang);
	m->named[l - d->lang] = 1;
	l->w = w;
	return 0;
}

/* The mix file: lines "lang<TAB>weight"; blank lines, lines starting with
 * '#' and a header "lang<TAB>weight" (the first other line) are skipped.
 * A line "*<TAB>weight" gives the weight of every language no other line
 * names (0 without one). */
static int read_mix(qf_tdata *d, const char *path, const char *tokens,
		    qf_err *err)
{
	struct mix m = { 0 };
	qf_tsv ts;
	int rc = 0, more = 0;

	if (qf_tsv_open(&ts, path, QF_TSV_MAX) < 0)
		return qf_err_set(err, "%s: cannot open: %s", path, strerror(errno));
	if (!(m.named = calloc(d->n, 1))) {
		qf_tsv_close(&ts);
		return qf_err_set(err, "out of memory");
	}
	while (rc == 0 && (more = qf_tsv_next(&ts)) > 0)
		rc = mix_line(d, &ts, &m, tokens, err);
	if (rc == 0 && more < 0)
		rc = qf_tsv_fail(&ts, err);
	for (size_t i = 0; rc == 0 && i < d->n; i++)
		if (!m.named[i])
			d->lang[i].w = m.rest;
	free(m.named);
	qf_tsv_close(&ts);
	return rc;
}

/* The sampling probabilities, cumulated, from the weights; a language
 * that is sampled must hold a window. */
static int probabilities(qf_tdata *d, const char *tokens, const char *mix,
			 qf_err *err)
{
	double sum = 0, acc = 0;
	size_t last = 0;

	for (size_t i = 0; i < d->n; i++) {
		if (d->lang[i].w > 0 && d->lang[i].n < (uint64_t)d->window)
			return qf_err_set(err, "%s: language '%s' has %" PRIu64
					  " tokens (separators included), fewer "
					  "than a window of %d", tokens,
					  d->lang[i].code, d->lang[i].n,
					  d->window);
		sum += d->lang[i].w;
	}
	if (!(sum > 0))
		return qf_err_set(err, "%s: every language has weight 0",
				  mix ? mix : "-");
	if (!(d->cum = malloc(d->n * sizeof *d->cum)))
		return qf_err_set(err, "out of memory");
	for (size_t i = 0; i < d->n; i++) {
		acc += d->lang[i].w / sum;
		d->cum[i] = acc;
		if (d->lang[i].w > 0)
			last = i;
	}
	for (size_t i = last; i < d->n; i++)
		d->cum[i] = 1.0;
	return 0;
}

qf_tdata *qf_tdata_load(const char *tokens, const char *mix, int vocab,
			int32_t sep, int window, qf_err *err)
{
	qf_tdata *d = calloc(1, sizeof *d);
	const char *src = tokens ? tokens : "-";

	if (!d) {
		qf_err_set(err, "out of memory");
		return NULL;
	}
	d->window = window;
	if (sep < 0 || sep >= vocab) {
		qf_err_set(err, "separator token %" PRId32 " out of range "
			   "(vocab_size %d)", sep, vocab);
		goto fail;
	}
	if (read_tokens(d, tokens, vocab, sep, err) < 0)
		goto fail;
	if (mix) {
		if (read_mix(d, mix, src, err) < 0)
			goto fail;
	} else {
		for (size_t i = 0; i < d->n; i++)
			d->lang[i].w = (double)d->lang[i].n;
	}
	if (probabilities(d, src, mix, err) < 0)
		goto fail;
	return d;
fail:
	qf_tdata_free(d);
	return NULL;
}

/* ------------------------------------------------------------ sampling */

/* Uniform integer in [0, n), n >= 1, without bias (Lemire). */
static uint64_t below(uint64_t s[4], uint64_t n)
{
	unsigned __int128 m = (unsigned __int128)qf_xoshiro256ss(s) * n;
	uint64_t lo = (uint64_t)m;

	if (lo < n) {
		uint64_t t = -n % n;

		while (lo < t) {
			m = (unsigned __int128)qf_xoshiro256ss(s) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

void qf_tdata_sample(const qf_tdata *d, uint64_t rng[4], int B, int32_t *tok,
		     int *langs)
{
	for (int b = 0; b < B; b++) {
		double u = qf_tr_uniform(rng);
		size_t i = 0;
		const struct tlang *l;
		uint64_t start;

		while (i + 1 < d->n && !(u < d->cum[i] && d->lang[i].w > 0))
			i++;
		l = &d->lang[i];
		start = below(rng, l->n - (uint64_t)d->window + 1);
		memcpy(tok + (size_t)b * d->window, l->tok + start,
		       (size_t)d->window * sizeof *tok);
		if (langs)
			langs[b] = (int)i;
	}
}

size_t qf_tdata_nlangs(const qf_tdata *d)
{
	return d->n;
}

const char *qf_tdata_lang(const qf_tdata *d, size_t i, double *p,
			  uint64_t *ntok)
{
	if (i >= d->n)
		return NULL;
	if (p)
		*p = d->cum[i] - (i ? d->cum[i - 1] : 0);
	if (ntok)
		*ntok = d->lang[i].n;
	return d->lang[i].code;
}
