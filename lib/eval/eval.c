/*
 * eval.c - per-language quality of a reference model and test models,
 * their degradation, its disparity across languages, and paired bootstrap
 * intervals (the work of qf-eval; docs/eval.md is the specification).
 *
 * qf_eval_doc runs every model over one record, window by window: the
 * reference first, its log-probabilities of the window's scored rows kept
 * (a logits hook), then each test model, compared row by row on the
 * eval's thread pool.  What is kept per record (a unit) is a handful of
 * sums per model and the per-token KL values.  qf_eval_finish computes
 * every figure from the units, once for the estimate and once per
 * bootstrap replicate, on the pool; replicate b has its own generator,
 * so the result does not depend on the thread count.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stddef.h>

#include "model/runtime.h"
#include "eval/eval.h"

/* Per-language figures, in the order of the table's columns. */
enum {
	F_FERT, F_NLL, F_PPL, F_BPB, F_BPC, F_DNLL, F_PPLR, F_DEG, F_DBPB,
	F_DEGB, F_KLMEAN, F_KLMED, F_KLP99, F_TOP1, F_RMSDP, F_RELDEG, NF
};
static const char *const fname[NF] = {
	"fertility", "nll", "ppl", "bpb", "bpc", "d_nll", "ppl_ratio", "deg",
	"d_bpb", "deg_byte", "kl_mean", "kl_median", "kl_p99", "top1",
	"rms_dp", "rel_deg",
};

/* Disparity figures over a scope. */
enum {
	G_MEAN, G_MAX, G_MIN, G_RANGE, G_MAXMIN, G_CV, G_RELREF, G_GRATIO,
	G_GDIFF, G_MEAN_VB, G_RANGE_VB, G_MAXMIN_VB, G_CV_VB, G_RELREF_VB, NG
};
static const char *const gname[NG] = {
	"mean", "max", "min", "range", "max_min", "cv", "rel_ref_mean",
	"group_ratio", "group_diff", "mean_vs_base", "range_vs_base",
	"max_min_vs_base", "cv_vs_base", "rel_ref_mean_vs_base",
};
/* The figure each _vs_base one divides. */
static const int vs_of[NG] = {
	[G_MEAN_VB] = G_MEAN, [G_RANGE_VB] = G_RANGE, [G_MAXMIN_VB] = G_MAXMIN,
	[G_CV_VB] = G_CV, [G_RELREF_VB] = G_RELREF,
};

/* Why a figure has no value: not applicable (no status), or a
 * degenerate denominator (reported). */
enum { R_OK, R_NA, R_DEN0, R_DENMIN };

/* The sums a unit keeps per model. */
enum { S_NLL, S_KL, S_TOP1, S_DP2, NS };

struct unit {
	int lang;
	uint64_t scored, tokens, bytes, chars, words;
	size_t kl_off;		/* its KL values in kl[t][kl_off ..] */
};

struct lang {
	char *code;
	int *unit;		/* its units, in stream order */
	int n, cap;
};

struct scope {
	char *name;
	unsigned char *in;	/* [nlang]: member */
	int n;
};

struct table {			/* --group-by: a column of the languages table */
	char *column, *path;
	char **code, **val;
	int n;
};

/* One set of figures: the estimate or a replicate. */
struct figs {
	double *f;		/* [nlang][nm][NF] */
	unsigned char *r;	/* reasons, same shape */
	double *g;		/* [ntest][nscope][NG] */
	unsigned char *gr;
	int *gmax, *gmin;	/* [ntest][nscope]: languages (estimate only) */
};

struct qf_eval {
	qf_eval_opts o;
	qf_model **m;
	char **name;
	int nm;			/* models; 0 is the reference */
	int V, W, S;
	qf_pool *pool;
	/* data */
	struct unit *u;
	size_t nu, ucap;
	double *usum;		/* [nu][nm][NS] */
	float **kl;		/* [nm - 1][total scored] */
	size_t nkl, klcap;
	struct lang *lang;	/* sorted by code at finish */
	int nlang, langcap, last;
	/* one window */
	float *lpr;		/* [W][V]: the reference's log-probabilities */
	int32_t *ref_arg;	/* [W] */
	float *row_kl, *row_dp;	/* [W] */
	unsigned char *row_top1;
	float **nll;		/* [nm][n - 1], one record */
	size_t nllcap;
	/* scopes */
	struct table *tab;
	int ntab;
	char **gname_, **glist;	/* --group NAME=L1,L2 */
	int ngroup;
	struct scope *sc;
	int nsc;
	/* results */
	int finished;
	struct figs est;
	struct figs *rep;	/* [bootstrap] */
	int ref_lang;		/* index, or -1 */
	char *err;		/* a replicate's failure */
};

/* ------------------------------------------------------------ setup */

static char *dupstr(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

const char *qf_measure_name(int m)
{
	static const char *const n[] = { "deg_byte", "deg", "d_bpb", "d_nll" };

	return m >= 0 && m < 4 ? n[m] : NULL;
}

int qf_measure_parse(const char *s)
{
	for (int m = 0; m < 4; m++)
		if (strcmp(s, qf_measure_name(m)) == 0)
			return m;
	return -1;
}

/* The per-language figure a measure is. */
static int measure_fig(int m)
{
	static const int f[] = { F_DEGB, F_DEG, F_DBPB, F_DNLL };

	return f[m];
}

qf_eval *qf_eval_new(qf_model **models, const char *const *names, int n,
		     const qf_eval_opts *o, qf_err *err)
{
	qf_eval *ev;
	int W = o->window, S = o->stride, C = 0;

	if (n < 1) {
		qf_err_set(err, "no reference model");
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		const qf_model_config *c = qf_model_cfg(models[i]);

		if (c->vocab_size != qf_model_cfg(models[0])->vocab_size) {
			qf_err_set(err, "model %s has vocab_size %d, the reference "
				   "%s %d: models must share a vocabulary", names[i],
				   c->vocab_size, names[0],
				   qf_model_cfg(models[0])->vocab_size);
			return NULL;
		}
		C = i == 0 || c->n_ctx < C ? c->n_ctx : C;
	}
	if (W == 0)
		W = C;
	if (W < 2 || W > C) {
		qf_err_set(err, "window %d out of range [2, n_ctx %d]", W, C);
		return NULL;
	}
	if (S == 0)
		S = W / 2 > 0 ? W / 2 : 1;
	if (S < 1 || S >= W) {
		qf_err_set(err, "stride %d out of range [1, window %d)", S, W);
		return NULL;
	}
	if (o->baseline < 0 || (n > 1 && o->baseline >= n - 1)) {
		qf_err_set(err, "baseline model %d out of range", o->baseline);
		return NULL;
	}
	if (!(ev = calloc(1, sizeof *ev)))
		goto oom;
	ev->o = *o;
	ev->nm = n;
	ev->V = qf_model_cfg(models[0])->vocab_size;
	ev->W = W;
	ev->S = S;
	ev->last = -1;
	ev->ref_lang = -1;
	ev->m = calloc((size_t)n, sizeof *ev->m);
	ev->name = calloc((size_t)n, sizeof *ev->name);
	ev->nll = calloc((size_t)n, sizeof *ev->nll);
	ev->kl = calloc((size_t)n, sizeof *ev->kl);
	ev->lpr = malloc((size_t)W * ev->V * sizeof *ev->lpr);
	ev->ref_arg = malloc((size_t)W * sizeof *ev->ref_arg);
	ev->row_kl = malloc((size_t)W * sizeof *ev->row_kl);
	ev->row_dp = malloc((size_t)W * sizeof *ev->row_dp);
	ev->row_top1 = malloc((size_t)W);
	if (!ev->m || !ev->name || !ev->nll || !ev->kl || !ev->lpr ||
	    !ev->ref_arg || !ev->row_kl || !ev->row_dp || !ev->row_top1)
		goto oom;
	for (int i = 0; i < n; i++) {
		ev->m[i] = models[i];
		if (!(ev->name[i] = dupstr(names[i])))
			goto oom;
	}
	if (!(ev->pool = qf_pool_new(o->threads > 0 ? o->threads : 1, err))) {
		qf_eval_free(ev);
		return NULL;
	}
	return ev;
oom:
	qf_eval_free(ev);
	qf_err_set(err, "out of memory");
	return NULL;
}

void qf_eval_free(qf_eval *ev)
{
	if (!ev)
		return;
	for (int i = 0; i < ev->nm; i++) {
		if (ev->name)
			free(ev->name[i]);
		if (ev->nll)
			free(ev->nll[i]);
		if (ev->kl)
			free(ev->kl[i]);
	}
	free(ev->m);
	free(ev->name);
	free(ev->nll);
	free(ev->kl);
	free(ev->lpr);
	free(ev->ref_arg);
	free(ev->row_kl);
	free(ev->row_dp);
	free(ev->row_top1);
	free(ev->u);
	free(ev->usum);
	for (int l = 0; l < ev->nlang; l++) {
		free(ev->lang[l].code);
		free(ev->lang[l].unit);
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
	free(ev->est.f);
	free(ev->est.r);
	free(ev->est.g);
	free(ev->est.gr);
	free(ev->est.gmax);
	free(ev->est.gmin);
	if (ev->rep)
		for (int b = 0; b < ev->o.bootstrap; b++) {
			free(ev->rep[b].f);
			free(ev->rep[b].r);
			free(ev->rep[b].g);
			free(ev->rep[b].gr);
		}
	free(ev->rep);
	free(ev->err);
	if (ev->pool)
		qf_pool_free(ev->pool);
	free(ev);
}

/* ------------------------------------------------------------ rows */

/* max + log Σ exp(x - max) over n values (torch's log-sum-exp). */
QF_CLONES
static float lse_row(const float *x, int n)
{
	qf_v16 v, acc = { 0 };
	float m = x[0], s;
	int i, full = n & ~15;

	for (i = 1; i < n; i++)
		m = x[i] > m ? x[i] : m;
	for (i = 0; i < full; i += 16) {
		memcpy(&v, x + i, sizeof v);
		v -= m;
		qf_v16_exp(&v);
		acc += v;
	}
	s = qf_v16_sum(&acc);
	for (; i < n; i++)
		s += expf(x[i] - m);
	return m + logf(s);
}

/* KL(p ‖ q) = Σ p (log p - log q) with log p = lpr, log q = x - lse. */
QF_CLONES
static double kl_row(const float *lpr, const float *x, float lse, int n)
{
	qf_v16 a, b, acc;
	double kl = 0;
	int i = 0, full = n & ~15;

	while (i < full) {
		int end = i + 1024 < full ? i + 1024 : full;

		memset(&acc, 0, sizeof acc);
		for (; i < end; i += 16) {
			memcpy(&a, lpr + i, sizeof a);
			memcpy(&b, x + i, sizeof b);
			b = a - (b - lse);
			qf_v16_exp(&a);
			acc += a * b;
		}
		kl += qf_v16_sum(&acc);
	}
	for (; i < n; i++)
		kl += (double)expf(lpr[i]) * (lpr[i] - (x[i] - lse));
	return kl;
}

/* The lowest id of the largest logit. */
static int32_t argmax_row(const float *x, int n)
{
	int32_t a = 0;

	for (int i = 1; i < n; i++)
		if (x[i] > x[a])
			a = i;
	return a;
}

/* A logits block of one pass: rows predict targets pos + i + 1; row index
 * in the window's arrays: target - first. */
struct rows_job {
	qf_eval *ev;
	const float *x;
	const int32_t *tok;	/* the document */
	int64_t pos;
	uint64_t first;
	int test;
};

static void ref_row(void *ctx, int i, int tid)
{
	const struct rows_job *j = ctx;
	qf_eval *ev = j->ev;
	int V = ev->V;
	const float *x = j->x + (size_t)i * V;
	size_t r = (size_t)(j->pos + i + 1 - (int64_t)j->first);
	float *lp = ev->lpr + r * V, lse = lse_row(x, V);

	(void)tid;
	for (int v = 0; v < V; v++)
		lp[v] = x[v] - lse;
	ev->ref_arg[r] = argmax_row(x, V);
}

static void test_row(void *ctx, int i, int tid)
{
	const struct rows_job *j = ctx;
	qf_eval *ev = j->ev;
	int V = ev->V;
	const float *x = j->x + (size_t)i * V;
	uint64_t target = (uint64_t)(j->pos + i + 1);
	size_t r = (size_t)(target - j->first);
	const float *lp = ev->lpr + r * V;
	float lse = lse_row(x, V);
	int32_t y = j->tok[target];

	(void)tid;
	ev->row_kl[r] = (float)kl_row(lp, x, lse, V);
	ev->row_top1[r] = argmax_row(x, V) == ev->ref_arg[r];
	ev->row_dp[r] = expf(x[y] - lse) - expf(lp[y]);
}

static int rows_hook(void *ctx, const qf_site_info *s, const float *x)
{
	struct rows_job *j = ctx;

	j->x = x;
	j->pos = s->pos;
	qf_pool_run(j->ev->pool, s->T, j->test ? test_row : ref_row, j);
	return 0;
}

/* ------------------------------------------------------------ records */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if (!(q = realloc(*p, c * size)))
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static int lang_index(qf_eval *ev, const char *code)
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
	if (!(l->code = dupstr(code)))
		return -1;
	return ev->last = ev->nlang++;
}

static int attr_u64(const char *src, const qf_rec *rec, const char *key,
		    uint64_t *v, qf_err *err)
{
	const char *s = qf_rec_get(rec, key);
	qf_err e2;

	if (!s)
		return qf_err_set(err, "%s: record %s: no attribute %s (qf-extract "
				  "text writes it)", src, rec->name, key);
	if (qf_parse_u64(s, UINT64_MAX, v, &e2) < 0)
		return qf_err_set(err, "%s: record %s: attribute %s=%s is not a "
				  "count", src, rec->name, key, s);
	return 0;
}

int qf_eval_doc(qf_eval *ev, const char *src, const qf_rec *rec,
		const int32_t *tok, uint64_t n, float *const *nll, qf_err *err)
{
	const char *code = qf_rec_get(rec, "lang");
	uint64_t bytes, chars, words, tokens, fb, fc, nw, scored;
	struct rows_job job = { ev, NULL, tok, 0, 0, 0 };
	qf_hooks h = { NULL, 0, NULL, &job, rows_hook };
	struct unit *u;
	double *sum;
	qf_window *w = NULL;
	qf_err e2;
	int li, rc = -1;

	if (ev->finished)
		return qf_err_set(err, "evaluation already finished");
	if (!code || !*code)
		return qf_err_set(err, "%s: record %s: no attribute lang", src,
				  rec->name);
	if (attr_u64(src, rec, "bytes", &bytes, err) < 0 ||
	    attr_u64(src, rec, "chars", &chars, err) < 0 ||
	    attr_u64(src, rec, "words", &words, err) < 0 ||
	    attr_u64(src, rec, "tokens", &tokens, err) < 0 ||
	    attr_u64(src, rec, "first_bytes", &fb, err) < 0 ||
	    attr_u64(src, rec, "first_chars", &fc, err) < 0)
		return -1;
	if (fb > bytes || fc > chars)
		return qf_err_set(err, "%s: record %s: first_bytes %" PRIu64
				  " or first_chars %" PRIu64 " beyond bytes %"
				  PRIu64 " or chars %" PRIu64, src, rec->name,
				  fb, fc, bytes, chars);
	if (n == 0)
		return qf_err_set(err, "%s: record %s: empty document", src,
				  rec->name);
	for (uint64_t i = 0; i < n; i++)
		if (tok[i] < 0 || tok[i] >= ev->V)
			return qf_err_set(err, "%s: record %s: token id %" PRId32
					  " at position %" PRIu64 " out of range "
					  "(vocab_size %d)", src, rec->name,
					  tok[i], i, ev->V);
	scored = n - 1;
	/* the per-token NLL of every model */
	if (grow((void **)&ev->nll[0], &ev->nllcap, scored ? scored : 1,
		 sizeof(float)) < 0)
		goto oom;
	for (int m = 1; m < ev->nm; m++) {
		float *p = realloc(ev->nll[m], ev->nllcap * sizeof *p);

		if (!p)
			goto oom;
		ev->nll[m] = p;
	}
	if (grow((void **)&ev->u, &ev->ucap, ev->nu + 1, sizeof *ev->u) < 0)
		goto oom;
	{
		size_t cap = ev->ucap;
		double *p = realloc(ev->usum, cap * ev->nm * NS * sizeof *p);

		if (!p)
			goto oom;
		ev->usum = p;
	}
	{
		size_t cap = ev->klcap;

		if (ev->nkl + scored > cap) {
			size_t c = cap ? cap : 4096;

			while (c < ev->nkl + scored)
				c *= 2;
			for (int t = 1; t < ev->nm; t++) {
				float *p = realloc(ev->kl[t], c * sizeof *p);

				if (!p)
					goto oom;
				ev->kl[t] = p;
			}
			ev->klcap = c;
		}
	}
	if ((li = lang_index(ev, code)) < 0)
		goto oom;
	u = &ev->u[ev->nu];
	sum = ev->usum + ev->nu * ev->nm * NS;
	memset(sum, 0, (size_t)ev->nm * NS * sizeof *sum);
	*u = (struct unit){ li, scored, tokens, bytes - fb, chars - fc, words,
			    ev->nkl };
	/* window by window: the reference, then each test model */
	nw = qf_windows(n, ev->W, ev->S, NULL);
	if (nw && !(w = malloc(nw * sizeof *w)))
		goto oom;
	qf_windows(n, ev->W, ev->S, w);
	for (uint64_t k = 0; k < nw; k++) {
		job.first = w[k].first;
		for (int m = 0; m < ev->nm; m++) {
			job.test = m > 0;
			if (qf_model_window(ev->m[m], tok, n, &w[k], &h,
					    ev->nll[m], &e2) != 0) {
				qf_err_set(err, "%s: record %s: model %s: %s", src,
					   rec->name, ev->name[m], e2.msg);
				goto out;
			}
			if (m == 0)
				continue;
			for (uint64_t p = w[k].first; p < w[k].end; p++) {
				size_t r = p - w[k].first;
				double *s = sum + (size_t)m * NS;

				s[S_KL] += ev->row_kl[r];
				s[S_TOP1] += ev->row_top1[r];
				s[S_DP2] += (double)ev->row_dp[r] * ev->row_dp[r];
				ev->kl[m][ev->nkl + p - 1] = ev->row_kl[r];
			}
		}
	}
	for (int m = 0; m < ev->nm; m++) {
		double s = 0;

		for (uint64_t i = 0; i < scored; i++)
			s += ev->nll[m][i];
		sum[(size_t)m * NS + S_NLL] = s;
		if (nll && nll[m])
			memcpy(nll[m], ev->nll[m], scored * sizeof **nll);
	}
	{
		struct lang *l = &ev->lang[li];

		if (l->n == l->cap) {
			int c = l->cap ? 2 * l->cap : 16;
			int *p = realloc(l->unit, (size_t)c * sizeof *p);

			if (!p)
				goto oom;
			l->unit = p;
			l->cap = c;
		}
		l->unit[l->n++] = (int)ev->nu;
	}
	ev->nkl += scored;
	ev->nu++;
	rc = 0;
	goto out;
oom:
	qf_err_set(err, "out of memory");
out:
	free(w);
	return rc;
}

/* ------------------------------------------------------------ scopes */

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
	ev->gname_[ev->ngroup] = dupstr(name);
	ev->glist[ev->ngroup] = dupstr(langs);
	ev->ngroup++;
	if (!ev->gname_[ev->ngroup - 1] || !ev->glist[ev->ngroup - 1])
		return qf_err_set(err, "out of memory");
	return 0;
}

/* Split line at tabs in place (at most max fields); returns the count. */
static int split_tabs(char *line, char **f, int max)
{
	int n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		f[n++] = line;
		if (!(line = strchr(line, '\t')))
			break;
		*line++ = '\0';
	}
	return n;
}

int qf_eval_group_by(qf_eval *ev, const char *path, const char *column,
		     qf_err *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *fld[256];
	size_t cap = 0;
	int col = -1, nf, lineno = 1, rc = -1;
	struct table *t;

	if (!f)
		return qf_err_set(err, "cannot open %s: %s", path, strerror(errno));
	t = realloc(ev->tab, (size_t)(ev->ntab + 1) * sizeof *t);
	if (!t) {
		fclose(f);
		return qf_err_set(err, "out of memory");
	}
	ev->tab = t;
	t = &ev->tab[ev->ntab++];
	memset(t, 0, sizeof *t);
	if (!(t->column = dupstr(column)) || !(t->path = dupstr(path)))
		goto oom;
	if (getline(&line, &cap, f) < 0) {
		qf_err_set(err, "%s: empty, expected a header line", path);
		goto out;
	}
	nf = split_tabs(line, fld, 256);
	for (int i = 1; i < nf; i++)
		if (strcmp(fld[i], column) == 0)
			col = i;
	if (col < 0) {
		qf_err_set(err, "%s: no column %s", path, column);
		goto out;
	}
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		if (line[0] == '\n' || line[0] == '\0')
			continue;
		nf = split_tabs(line, fld, 256);
		if (nf <= col) {
			qf_err_set(err, "%s: line %d: %d fields, expected at least "
				   "%d", path, lineno, nf, col + 1);
			goto out;
		}
		{
			char **c = realloc(t->code, (size_t)(t->n + 1) * sizeof *c);

			if (!c)
				goto oom;
			t->code = c;
			c = realloc(t->val, (size_t)(t->n + 1) * sizeof *c);
			if (!c)
				goto oom;
			t->val = c;
			t->code[t->n] = dupstr(fld[0]);
			t->val[t->n] = dupstr(fld[col]);
			t->n++;
			if (!t->code[t->n - 1] || !t->val[t->n - 1])
				goto oom;
		}
	}
	if (ferror(f)) {
		qf_err_set(err, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
oom:
	qf_err_set(err, "out of memory");
out:
	free(line);
	fclose(f);
	return rc;
}

static int add_scope(qf_eval *ev, const char *name, unsigned char **in)
{
	struct scope *s = realloc(ev->sc, (size_t)(ev->nsc + 1) * sizeof *s);

	if (!s)
		return -1;
	ev->sc = s;
	s = &ev->sc[ev->nsc];
	if (!(s->name = dupstr(name)))
		return -1;
	s->in = *in;
	*in = NULL;
	s->n = 0;
	for (int l = 0; l < ev->nlang; l++)
		s->n += s->in[l];
	ev->nsc++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_lang(const void *a, const void *b)
{
	return strcmp(((const struct lang *)a)->code,
		      ((const struct lang *)b)->code);
}

static int find_lang(const qf_eval *ev, const char *code)
{
	for (int l = 0; l < ev->nlang; l++)
		if (strcmp(ev->lang[l].code, code) == 0)
			return l;
	return -1;
}

/* The scopes: all, each value of each --group-by column, each --group. */
static int make_scopes(qf_eval *ev, qf_err *err)
{
	size_t L = (size_t)ev->nlang;
	unsigned char *in = calloc(L ? L : 1, 1);
	char name[512];

	if (!in)
		return qf_err_set(err, "out of memory");
	memset(in, 1, L);
	if (add_scope(ev, "all", &in) < 0)
		goto oom;
	for (int t = 0; t < ev->ntab; t++) {
		const struct table *tb = &ev->tab[t];
		char **val = calloc(L ? L : 1, sizeof *val), **uniq;
		int nu = 0;

		if (!val)
			goto oom;
		for (size_t l = 0; l < L; l++) {
			for (int i = 0; i < tb->n; i++)
				if (strcmp(tb->code[i], ev->lang[l].code) == 0) {
					val[l] = tb->val[i];
					break;
				}
			if (!val[l]) {
				free(val);
				free(in);
				return qf_err_set(err, "%s: no row for language %s "
						  "(in the data)", tb->path,
						  ev->lang[l].code);
			}
		}
		if (!(uniq = malloc((L ? L : 1) * sizeof *uniq))) {
			free(val);
			goto oom;
		}
		memcpy(uniq, val, L * sizeof *uniq);
		qsort(uniq, L, sizeof *uniq, cmp_str);
		for (size_t l = 0; l < L; l++) {
			if (l > 0 && strcmp(uniq[l], uniq[l - 1]) == 0)
				continue;
			if (!(in = calloc(L, 1))) {
				free(val);
				free(uniq);
				goto oom;
			}
			for (size_t k = 0; k < L; k++)
				in[k] = strcmp(val[k], uniq[l]) == 0;
			snprintf(name, sizeof name, "%s=%s", tb->column, uniq[l]);
			if (add_scope(ev, name, &in) < 0) {
				free(val);
				free(uniq);
				goto oom;
			}
			nu++;
		}
		free(val);
		free(uniq);
	}
	for (int g = 0; g < ev->ngroup; g++) {
		char *copy = dupstr(ev->glist[g]), *tok, *save = NULL;

		if (!copy || !(in = calloc(L ? L : 1, 1))) {
			free(copy);
			goto oom;
		}
		for (tok = strtok_r(copy, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			int l = find_lang(ev, tok);

			if (l < 0) {
				qf_err_set(err, "group %s: language %s not in the "
					   "data", ev->gname_[g], tok);
				free(copy);
				free(in);
				return -1;
			}
			in[l] = 1;
		}
		free(copy);
		if (add_scope(ev, ev->gname_[g], &in) < 0)
			goto oom;
	}
	return 0;
oom:
	free(in);
	return qf_err_set(err, "out of memory");
}

/* ------------------------------------------------------------ figures */

/* The k-th smallest of v[0..n) (Wirth's selection): afterwards nothing
 * before v[k] is larger and nothing after it smaller. */
static float select_k(float *v, size_t n, size_t k)
{
	ptrdiff_t l = 0, m = (ptrdiff_t)n - 1, K = (ptrdiff_t)k;

	while (l < m) {
		float x = v[K], t;
		ptrdiff_t i = l, j = m;

		do {
			while (v[i] < x)
				i++;
			while (x < v[j])
				j--;
			if (i <= j) {
				t = v[i];
				v[i] = v[j];
				v[j] = t;
				i++;
				j--;
			}
		} while (i <= j);
		if (j < K)
			l = i;
		if (K < i)
			m = j;
	}
	return v[K];
}

/* Quantile q of v[0..n) (linear between order statistics, numpy's
 * default); reorders v. */
static double quantile(float *v, size_t n, double q)
{
	double pos = q * (double)(n - 1), frac;
	size_t k = (size_t)pos;
	float a, b;

	if (n == 0)
		return NAN;
	a = select_k(v, n, k);
	frac = pos - (double)k;
	if (frac == 0 || k + 1 >= n)
		return a;
	b = v[k + 1];		/* the least of what select_k left above k */
	for (size_t i = k + 2; i < n; i++)
		b = v[i] < b ? v[i] : b;
	return a + (b - a) * frac;
}

/* Per language and model, the sums over a multiset of units. */
struct acc {
	double units, tokens, scored, bytes, chars, words, s[NS];
};

/* A ratio num / den with the degenerate cases of docs/eval.md. */
static double ratio(double num, double den, double min_den, unsigned char *r)
{
	if (isnan(num) || isnan(den)) {
		*r = R_NA;
		return NAN;
	}
	if (den <= 0) {
		*r = R_DEN0;
		return NAN;
	}
	if (den <= min_den) {
		*r = R_DENMIN;
		return NAN;
	}
	*r = R_OK;
	return num / den;
}

struct work {
	float *klbuf;		/* gather of KL values */
	size_t klcap;
	struct acc *acc;	/* [nm] */
	int *draw;
	size_t drawcap;
};

#define FIG(fs, ev, l, m, k) ((fs)->f[(((size_t)(l) * (ev)->nm + (m)) * NF) + (k)])
#define REA(fs, ev, l, m, k) ((fs)->r[(((size_t)(l) * (ev)->nm + (m)) * NF) + (k)])
#define GFIG(fs, ev, t, s, k) ((fs)->g[(((size_t)(t) * (ev)->nsc + (s)) * NG) + (k)])
#define GREA(fs, ev, t, s, k) ((fs)->gr[(((size_t)(t) * (ev)->nsc + (s)) * NG) + (k)])

static void set(double *f, unsigned char *r, double v)
{
	*f = v;
	*r = isnan(v) ? R_NA : R_OK;
}

/* Figures of language l from units draw[0..n) (indices into its units),
 * into fs. */
static int lang_figs(const qf_eval *ev, int l, const int *draw, int n,
		     struct work *wk, struct figs *fs)
{
	const struct lang *lg = &ev->lang[l];
	struct acc *a = wk->acc;
	size_t nkl = 0;
	double ln2 = log(2.0);

	memset(a, 0, (size_t)ev->nm * sizeof *a);
	for (int i = 0; i < n; i++) {
		const struct unit *u = &ev->u[lg->unit[draw[i]]];
		const double *s = ev->usum + (size_t)lg->unit[draw[i]] * ev->nm * NS;

		for (int m = 0; m < ev->nm; m++) {
			a[m].units++;
			a[m].tokens += (double)u->tokens;
			a[m].scored += (double)u->scored;
			a[m].bytes += (double)u->bytes;
			a[m].chars += (double)u->chars;
			a[m].words += (double)u->words;
			for (int k = 0; k < NS; k++)
				a[m].s[k] += s[(size_t)m * NS + k];
		}
		nkl += u->scored;
	}
	if (nkl > wk->klcap) {
		float *p = realloc(wk->klbuf, nkl * sizeof *p);

		if (!p)
			return -1;
		wk->klbuf = p;
		wk->klcap = nkl;
	}
	for (int m = 0; m < ev->nm; m++) {
		const struct acc *x = &a[m], *r0 = &a[0];
		double *f = &FIG(fs, ev, l, m, 0);
		unsigned char *r = &REA(fs, ev, l, m, 0);

		set(&f[F_FERT], &r[F_FERT], x->words > 0 ? x->tokens / x->words : NAN);
		set(&f[F_NLL], &r[F_NLL], x->scored > 0 ? x->s[S_NLL] / x->scored : NAN);
		set(&f[F_PPL], &r[F_PPL], exp(f[F_NLL]));
		set(&f[F_BPB], &r[F_BPB], x->bytes > 0 ? x->s[S_NLL] / (x->bytes * ln2) : NAN);
		set(&f[F_BPC], &r[F_BPC], x->chars > 0 ? x->s[S_NLL] / (x->chars * ln2) : NAN);
		for (int k = F_DNLL; k <= F_RELDEG; k++) {
			f[k] = NAN;
			r[k] = R_NA;
		}
		if (m == 0)
			continue;
		{
			const double *f0 = &FIG(fs, ev, l, 0, 0);
			double d = f[F_NLL] - f0[F_NLL], db = f[F_BPB] - f0[F_BPB];

			set(&f[F_DNLL], &r[F_DNLL], d);
			set(&f[F_PPLR], &r[F_PPLR], exp(d));
			set(&f[F_DEG], &r[F_DEG], expm1(d));
			set(&f[F_DBPB], &r[F_DBPB], db);
			set(&f[F_DEGB], &r[F_DEGB], expm1(db * ln2));
		}
		if (x->scored > 0) {
			set(&f[F_KLMEAN], &r[F_KLMEAN], x->s[S_KL] / x->scored);
			set(&f[F_TOP1], &r[F_TOP1], x->s[S_TOP1] / x->scored);
			set(&f[F_RMSDP], &r[F_RMSDP], sqrt(x->s[S_DP2] / x->scored));
			nkl = 0;
			for (int i = 0; i < n; i++) {
				const struct unit *u = &ev->u[lg->unit[draw[i]]];

				memcpy(wk->klbuf + nkl, ev->kl[m] + u->kl_off,
				       u->scored * sizeof *wk->klbuf);
				nkl += u->scored;
			}
			set(&f[F_KLMED], &r[F_KLMED], quantile(wk->klbuf, nkl, 0.5));
			set(&f[F_KLP99], &r[F_KLP99], quantile(wk->klbuf, nkl, 0.99));
		}
		(void)r0;
	}
	return 0;
}

/* rel_deg of every language, once all languages have their figures. */
static void rel_figs(const qf_eval *ev, struct figs *fs)
{
	int mf = measure_fig(ev->o.measure);

	for (int m = 1; m < ev->nm; m++) {
		double den = ev->ref_lang >= 0 ? FIG(fs, ev, ev->ref_lang, m, mf) : NAN;

		for (int l = 0; l < ev->nlang; l++) {
			unsigned char *r = &REA(fs, ev, l, m, F_RELDEG);

			FIG(fs, ev, l, m, F_RELDEG) =
				ratio(FIG(fs, ev, l, m, mf), den, ev->o.min_den, r);
		}
	}
}

/* Disparity figures of every test model and scope. */
static void disp_figs(const qf_eval *ev, struct figs *fs)
{
	int mf = measure_fig(ev->o.measure), rl = ev->ref_lang;
	double md = ev->o.min_den;

	for (int t = 0; t < ev->nm - 1; t++) {
		int m = t + 1;

		for (int s = 0; s < ev->nsc; s++) {
			const struct scope *sc = &ev->sc[s];
			double *g = &GFIG(fs, ev, t, s, 0);
			unsigned char *gr = &GREA(fs, ev, t, s, 0);
			double sum = 0, sq = 0, mx = -INFINITY, mn = INFINITY;
			double osum = 0, rsum = 0, dref;
			int n = 0, on = 0, rn = 0, amax = -1, amin = -1, bad = 0;

			for (int k = 0; k < NG; k++) {
				g[k] = NAN;
				gr[k] = R_NA;
			}
			for (int l = 0; l < ev->nlang; l++) {
				double d = FIG(fs, ev, l, m, mf);

				if (isnan(d))
					bad = 1;
				if (!sc->in[l]) {
					osum += d;
					on++;
					continue;
				}
				sum += d;
				n++;
				if (d > mx) {
					mx = d;
					amax = l;
				}
				if (d < mn) {
					mn = d;
					amin = l;
				}
			}
			if (fs->gmax) {
				fs->gmax[(size_t)t * ev->nsc + s] = amax;
				fs->gmin[(size_t)t * ev->nsc + s] = amin;
			}
			if (bad || n == 0)
				continue;
			set(&g[G_MEAN], &gr[G_MEAN], sum / n);
			set(&g[G_MAX], &gr[G_MAX], mx);
			set(&g[G_MIN], &gr[G_MIN], mn);
			set(&g[G_RANGE], &gr[G_RANGE], mx - mn);
			g[G_MAXMIN] = ratio(mx, mn, md, &gr[G_MAXMIN]);
			if (n >= 2) {
				for (int l = 0; l < ev->nlang; l++)
					if (sc->in[l]) {
						double d = FIG(fs, ev, l, m, mf) - sum / n;

						sq += d * d;
					}
				g[G_CV] = ratio(sqrt(sq / (n - 1)), sum / n, md, &gr[G_CV]);
			}
			dref = rl >= 0 ? FIG(fs, ev, rl, m, mf) : NAN;
			for (int l = 0; l < ev->nlang; l++)
				if (sc->in[l] && l != rl) {
					rsum += FIG(fs, ev, l, m, mf);
					rn++;
				}
			if (rn > 0 && rl >= 0)
				g[G_RELREF] = ratio(rsum / rn, dref, md, &gr[G_RELREF]);
			if (on > 0) {
				g[G_GRATIO] = ratio(sum / n, osum / on, md, &gr[G_GRATIO]);
				set(&g[G_GDIFF], &gr[G_GDIFF], sum / n - osum / on);
			}
		}
	}
	/* against the baseline, in the same scope */
	for (int t = 0; t < ev->nm - 1; t++)
		for (int s = 0; s < ev->nsc; s++)
			for (int k = G_MEAN_VB; k <= G_RELREF_VB; k++) {
				int of = vs_of[k];
				double num = GFIG(fs, ev, t, s, of);
				double den = GFIG(fs, ev, ev->o.baseline, s, of);
				unsigned char *r = &GREA(fs, ev, t, s, k);

				if (GREA(fs, ev, t, s, of) != R_OK ||
				    GREA(fs, ev, ev->o.baseline, s, of) != R_OK) {
					GFIG(fs, ev, t, s, k) = NAN;
					*r = R_NA;
					continue;
				}
				GFIG(fs, ev, t, s, k) = ratio(num, den, ev->o.min_den, r);
			}
}

static int figs_alloc(const qf_eval *ev, struct figs *fs, int est)
{
	size_t nf = (size_t)ev->nlang * ev->nm * NF;
	size_t ng = (size_t)(ev->nm > 1 ? ev->nm - 1 : 1) * ev->nsc * NG;

	fs->f = malloc((nf ? nf : 1) * sizeof *fs->f);
	fs->r = malloc(nf ? nf : 1);
	fs->g = malloc(ng * sizeof *fs->g);
	fs->gr = malloc(ng);
	if (est) {
		fs->gmax = malloc((size_t)ev->nm * ev->nsc * sizeof *fs->gmax);
		fs->gmin = malloc((size_t)ev->nm * ev->nsc * sizeof *fs->gmin);
		if (!fs->gmax || !fs->gmin)
			return -1;
	}
	return fs->f && fs->r && fs->g && fs->gr ? 0 : -1;
}

/* One set of figures: the estimate (b < 0) or replicate b. */
static int compute(qf_eval *ev, int b, struct work *wk, struct figs *fs)
{
	/* 4 splitmix64 steps a replicate: disjoint seeds */
	uint64_t s[4] = { 0 }, x = ev->o.seed + 4 * (uint64_t)b * 0x9E3779B97F4A7C15u;

	if (b >= 0)
		for (int i = 0; i < 4; i++)
			s[i] = qf_splitmix64(&x);
	for (int l = 0; l < ev->nlang; l++) {
		int n = ev->lang[l].n;

		if ((size_t)n > wk->drawcap) {
			int *p = realloc(wk->draw, (size_t)n * sizeof *p);

			if (!p)
				return -1;
			wk->draw = p;
			wk->drawcap = (size_t)n;
		}
		for (int i = 0; i < n; i++)
			wk->draw[i] = b < 0 ? i : (int)(((unsigned __int128)qf_xoshiro256ss(s) *
						  (uint64_t)n) >> 64);
		if (lang_figs(ev, l, wk->draw, n, wk, fs) < 0)
			return -1;
	}
	rel_figs(ev, fs);
	disp_figs(ev, fs);
	return 0;
}

struct boot_job {
	qf_eval *ev;
	struct work *wk;	/* per thread */
	int failed;
};

static void boot_task(void *ctx, int b, int tid)
{
	struct boot_job *j = ctx;

	if (compute(j->ev, b, &j->wk[tid], &j->ev->rep[b]) < 0)
		j->failed = 1;
}

int qf_eval_finish(qf_eval *ev, qf_err *err)
{
	int B = ev->o.bootstrap, nt = qf_pool_size(ev->pool), rc = -1;
	struct work *wk = calloc((size_t)nt, sizeof *wk);
	struct boot_job j = { ev, wk, 0 };
	const char *rl = ev->o.ref_lang ? ev->o.ref_lang : "eng";

	if (!wk)
		return qf_err_set(err, "out of memory");
	if (ev->nu == 0) {
		free(wk);
		return qf_err_set(err, "no token records");
	}
	/* languages in code order; units keep their indices */
	qsort(ev->lang, (size_t)ev->nlang, sizeof *ev->lang, cmp_lang);
	for (int l = 0; l < ev->nlang; l++)
		for (int i = 0; i < ev->lang[l].n; i++)
			ev->u[ev->lang[l].unit[i]].lang = l;
	ev->ref_lang = find_lang(ev, rl);
	if (ev->ref_lang < 0 && ev->o.ref_lang) {
		free(wk);
		return qf_err_set(err, "reference language %s not in the data", rl);
	}
	if (make_scopes(ev, err) < 0) {
		free(wk);
		return -1;
	}
	for (int t = 0; t < nt; t++)
		if (!(wk[t].acc = malloc((size_t)ev->nm * sizeof *wk[t].acc)))
			goto oom;
	if (figs_alloc(ev, &ev->est, 1) < 0 || compute(ev, -1, &wk[0], &ev->est) < 0)
		goto oom;
	if (B > 0) {
		if (!(ev->rep = calloc((size_t)B, sizeof *ev->rep)))
			goto oom;
		for (int b = 0; b < B; b++)
			if (figs_alloc(ev, &ev->rep[b], 0) < 0)
				goto oom;
		qf_pool_run(ev->pool, B, boot_task, &j);
		if (j.failed)
			goto oom;
	}
	ev->finished = 1;
	rc = 0;
	goto out;
oom:
	qf_err_set(err, "out of memory");
out:
	for (int t = 0; t < nt; t++) {
		free(wk[t].klbuf);
		free(wk[t].acc);
		free(wk[t].draw);
	}
	free(wk);
	return rc;
}

/* ------------------------------------------------------------ output */

static void put_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("\tNA", f);
	else
		fprintf(f, "\t%.6g", v == 0 ? 0.0 : v);	/* no -0 */
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The interval of a figure from the replicates: vals [B] gathered by the
 * caller; *bad gets the count of replicates without a value. */
static void interval(double *vals, int B, double *lo, double *hi, int *bad)
{
	int n = 0;

	*bad = 0;
	for (int b = 0; b < B; b++)
		if (isnan(vals[b]))
			(*bad)++;
		else
			vals[n++] = vals[b];
	*lo = *hi = NAN;
	if (*bad || n == 0)
		return;
	qsort(vals, (size_t)n, sizeof *vals, cmp_double);
	for (int k = 0; k < 2; k++) {
		double pos = (k ? 0.975 : 0.025) * (n - 1), fr;
		int i = (int)pos;
		double v;

		fr = pos - i;
		v = i + 1 < n ? vals[i] + (vals[i + 1] - vals[i]) * fr : vals[i];
		*(k ? hi : lo) = v;
	}
}

static const char *why(int r)
{
	return r == R_DEN0 ? "den<=0" : r == R_DENMIN ? "den<=min" : NULL;
}

/* Append "name:reason" to a status buffer. */
static void status_add(char *st, size_t cap, const char *name,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void status_add(char *st, size_t cap, const char *name,
		       const char *fmt, ...)
{
	size_t len = strlen(st);
	va_list ap;

	if (len + 1 >= cap)
		return;
	snprintf(st + len, cap - len, "%s%s:", len ? ";" : "", name);
	len = strlen(st);
	va_start(ap, fmt);
	vsnprintf(st + len, cap - len, fmt, ap);
	va_end(ap);
}

/* A figure with its interval; the status gets what is degenerate. */
static void put_fig(FILE *f, const qf_eval *ev, double est, int r,
		    double *vals, const char *name, char *st, size_t stcap)
{
	double lo = NAN, hi = NAN;
	int bad = 0, B = ev->o.bootstrap;

	put_num(f, est);
	if (r == R_OK && B > 0) {
		interval(vals, B, &lo, &hi, &bad);
		if (bad)
			status_add(st, stcap, name, "ci %d/%d", bad, B);
	} else if (why(r)) {
		status_add(st, stcap, name, "%s", why(r));
	}
	put_num(f, lo);
	put_num(f, hi);
}

int qf_eval_write_lang(const qf_eval *ev, FILE *f, qf_err *err)
{
	int B = ev->o.bootstrap;
	double *vals = malloc((size_t)(B > 0 ? B : 1) * sizeof *vals);
	char st[1024];

	if (!vals)
		return qf_err_set(err, "out of memory");
	qf_provenance_comment(f);
	fputs("lang\tmodel\tunits\ttokens\tscored\tbytes\tchars\twords", f);
	for (int k = 0; k < NF; k++)
		fprintf(f, "\t%s\t%s_lo\t%s_hi", fname[k], fname[k], fname[k]);
	fputs("\trel_deg_status\n", f);
	for (int l = 0; l < ev->nlang; l++) {
		const struct lang *lg = &ev->lang[l];
		uint64_t c[6] = { 0 };

		for (int i = 0; i < lg->n; i++) {
			const struct unit *u = &ev->u[lg->unit[i]];

			c[0]++;
			c[1] += u->tokens;
			c[2] += u->scored;
			c[3] += u->bytes;
			c[4] += u->chars;
			c[5] += u->words;
		}
		for (int m = 0; m < ev->nm; m++) {
			fprintf(f, "%s\t%s", lg->code, ev->name[m]);
			for (int k = 0; k < 6; k++)
				fprintf(f, "\t%" PRIu64, c[k]);
			st[0] = '\0';
			for (int k = 0; k < NF; k++) {
				for (int b = 0; b < B; b++)
					vals[b] = FIG(&ev->rep[b], ev, l, m, k);
				/* only rel_deg's reasons go in its status */
				if (k == F_RELDEG) {
					put_fig(f, ev, FIG(&ev->est, ev, l, m, k),
						REA(&ev->est, ev, l, m, k), vals,
						fname[k], st, sizeof st);
				} else {
					char tmp[256] = "";

					put_fig(f, ev, FIG(&ev->est, ev, l, m, k),
						REA(&ev->est, ev, l, m, k), vals,
						fname[k], tmp, sizeof tmp);
				}
			}
			fprintf(f, "\t%s\n", m == 0 ? "NA" : st[0] ? st : "ok");
		}
	}
	free(vals);
	if (qf_out_flush_check(f) < 0)
		return qf_err_set(err, "cannot write the language table: %s",
				  strerror(errno));
	return 0;
}

int qf_eval_write_disparity(const qf_eval *ev, FILE *f, qf_err *err)
{
	int B = ev->o.bootstrap;
	double *vals = malloc((size_t)(B > 0 ? B : 1) * sizeof *vals);
	char st[2048];

	if (!vals)
		return qf_err_set(err, "out of memory");
	qf_provenance_comment(f);
	fputs("model\tmeasure\tscope\tn_lang", f);
	for (int k = 0; k < NG; k++) {
		fprintf(f, "\t%s\t%s_lo\t%s_hi", gname[k], gname[k], gname[k]);
		if (k == G_MAX)
			fputs("\tmax_lang", f);
		if (k == G_MIN)
			fputs("\tmin_lang", f);
	}
	fputs("\tstatus\n", f);
	for (int t = 0; t < ev->nm - 1; t++)
		for (int s = 0; s < ev->nsc; s++) {
			int amax = ev->est.gmax[(size_t)t * ev->nsc + s];
			int amin = ev->est.gmin[(size_t)t * ev->nsc + s];

			fprintf(f, "%s\t%s\t%s\t%d", ev->name[t + 1],
				qf_measure_name(ev->o.measure), ev->sc[s].name,
				ev->sc[s].n);
			st[0] = '\0';
			for (int k = 0; k < NG; k++) {
				for (int b = 0; b < B; b++)
					vals[b] = GFIG(&ev->rep[b], ev, t, s, k);
				put_fig(f, ev, GFIG(&ev->est, ev, t, s, k),
					GREA(&ev->est, ev, t, s, k), vals, gname[k],
					st, sizeof st);
				if (k == G_MAX)
					fprintf(f, "\t%s", amax >= 0 &&
						GREA(&ev->est, ev, t, s, k) == R_OK ?
						ev->lang[amax].code : "NA");
				if (k == G_MIN)
					fprintf(f, "\t%s", amin >= 0 &&
						GREA(&ev->est, ev, t, s, k) == R_OK ?
						ev->lang[amin].code : "NA");
			}
			fprintf(f, "\t%s\n", st[0] ? st : "ok");
		}
	free(vals);
	if (qf_out_flush_check(f) < 0)
		return qf_err_set(err, "cannot write the disparity table: %s",
				  strerror(errno));
	return 0;
}

int qf_eval_models(const qf_eval *ev)
{
	return ev->nm;
}

const char *qf_eval_model_name(const qf_eval *ev, int i)
{
	return i >= 0 && i < ev->nm ? ev->name[i] : NULL;
}

uint64_t qf_eval_units(const qf_eval *ev)
{
	return ev->nu;
}
