/*
 * score.c - scoring one token record (a unit) with every model: window by
 * window, the reference first, its log-probabilities of the window's
 * scored rows kept by a logits hook, then each test model compared with
 * them row by row on the eval's pool.  A unit keeps a handful of sums per
 * model and its per-token KL values (docs/eval.md, "Scoring").
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/runtime.h"
#include "text/text.h"
#include "eval/eval_impl.h"

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

/* The token record's attributes into *t, and its ids checked. */
static int check_record(const qf_eval *ev, const char *src, const qf_rec *rec,
			const int32_t *tok, uint64_t n, qf_tokrec *t,
			qf_err *err)
{
	if (qf_tokrec_get(src, rec, t, err) < 0)
		return -1;
	if (n == 0)
		return qf_err_set(err, "%s: record %s: empty document", src,
				  rec->name);
	for (uint64_t i = 0; i < n; i++)
		if (tok[i] < 0 || tok[i] >= ev->V)
			return qf_err_set(err, "%s: record %s: token id %" PRId32
					  " at position %" PRIu64 " out of range "
					  "(vocab_size %d)", src, rec->name,
					  tok[i], i, ev->V);
	return 0;
}

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

/* Room for the KL values of scored more targets of every test model. */
static int grow_kl(qf_eval *ev, uint64_t scored)
{
	size_t c = ev->klcap ? ev->klcap : 4096;

	if (ev->nkl + scored <= ev->klcap)
		return 0;
	while (c < ev->nkl + scored)
		c *= 2;
	for (int t = 1; t < ev->nm; t++) {
		float *p = realloc(ev->kl[t], c * sizeof *p);

		if (!p)
			return -1;
		ev->kl[t] = p;
	}
	ev->klcap = c;
	return 0;
}

/* Room for one more unit of scored targets; -1: out of memory. */
static int grow_buffers(qf_eval *ev, uint64_t scored)
{
	double *sum;

	/* the per-token NLL of every model */
	if (grow((void **)&ev->nll[0], &ev->nllcap, scored ? scored : 1,
		 sizeof(float)) < 0)
		return -1;
	for (int m = 1; m < ev->nm; m++) {
		float *p = realloc(ev->nll[m], ev->nllcap * sizeof *p);

		if (!p)
			return -1;
		ev->nll[m] = p;
	}
	if (grow((void **)&ev->u, &ev->ucap, ev->nu + 1, sizeof *ev->u) < 0)
		return -1;
	sum = realloc(ev->usum, ev->ucap * ev->nm * NS * sizeof *sum);
	if (!sum)
		return -1;
	ev->usum = sum;
	return grow_kl(ev, scored);
}

/* Window w's rows of test model m: into the unit's sums and KL values. */
static void add_rows(qf_eval *ev, const qf_window *w, int m, double *sum)
{
	double *s = sum + (size_t)m * NS;

	for (uint64_t p = w->first; p < w->end; p++) {
		size_t r = p - w->first;

		s[S_KL] += ev->row_kl[r];
		s[S_TOP1] += ev->row_top1[r];
		s[S_DP2] += (double)ev->row_dp[r] * ev->row_dp[r];
		ev->kl[m][ev->nkl + p - 1] = ev->row_kl[r];
	}
}

/* Window by window: the reference, then each test model, their
 * per-token NLL into ev->nll and the test models' rows into sum. */
static int score_windows(qf_eval *ev, const char *src, const qf_rec *rec,
			 const int32_t *tok, uint64_t n, double *sum,
			 qf_err *err)
{
	struct rows_job job = { ev, NULL, tok, 0, 0, 0 };
	qf_hooks h = { NULL, 0, NULL, &job, rows_hook };
	uint64_t nw = qf_windows(n, ev->W, ev->S, NULL);
	qf_window *w = NULL;
	qf_err e2;
	int rc = -1;

	if (nw && !(w = malloc(nw * sizeof *w)))
		return qf_err_set(err, "out of memory");
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
			if (m > 0)
				add_rows(ev, &w[k], m, sum);
		}
	}
	rc = 0;
out:
	free(w);
	return rc;
}

/* Every model's NLL over the unit into sum, and into nll[m] when asked. */
static void nll_sums(qf_eval *ev, uint64_t scored, double *sum,
		     float *const *nll)
{
	for (int m = 0; m < ev->nm; m++) {
		double s = 0;

		for (uint64_t i = 0; i < scored; i++)
			s += ev->nll[m][i];
		sum[(size_t)m * NS + S_NLL] = s;
		if (nll && nll[m])
			memcpy(nll[m], ev->nll[m], scored * sizeof **nll);
	}
}

/* The record's parallel unit: its unit_id attribute (qf-extract text's,
 * formats/corpus.md), else its unit unless that names the extraction's
 * granularity ("document", "paragraph"); *id NULL when there is none.
 * A unit id is a cell of the units table: no tab, no line break, not
 * empty. */
static int unit_id(const char *src, const qf_rec *rec, char **id, qf_err *err)
{
	const char *v = qf_rec_get(rec, "unit_id");

	*id = NULL;
	if (!v && (v = qf_rec_get(rec, "unit")) &&
	    (strcmp(v, "document") == 0 || strcmp(v, "paragraph") == 0))
		v = NULL;
	if (!v)
		return 0;
	if (!*v || strpbrk(v, "\t\n\r"))
		return qf_err_set(err, "%s: record %s: unit '%s' is empty or has a "
				  "tab or line break", src, rec->name, v);
	if (!(*id = strdup(v)))
		return qf_err_set(err, "out of memory");
	return 0;
}

/* The unit's kind: unit_kind, else kind (heading or body; kind=tokens and
 * any other value are K_NONE). */
static int unit_kind(const qf_rec *rec)
{
	const char *v = qf_rec_get(rec, "unit_kind");

	if (!v)
		v = qf_rec_get(rec, "kind");
	if (v && strcmp(v, "heading") == 0)
		return K_HEADING;
	return v && strcmp(v, "body") == 0 ? K_BODY : K_NONE;
}

/* Score record rec (checked, its attributes in t) as unit ev->nu. */
static int score_unit(qf_eval *ev, const char *src, const qf_rec *rec,
		      const int32_t *tok, uint64_t n, const qf_tokrec *t,
		      float *const *nll, qf_err *err)
{
	uint64_t scored = n - 1;
	double *sum;
	int li;

	if (grow_buffers(ev, scored) < 0 ||
	    (li = qf_ev_lang_index(ev, t->lang)) < 0)
		return qf_err_set(err, "out of memory");
	ev->u[ev->nu] = (struct unit){ li, scored, t->tokens,
				       t->bytes - t->first_bytes,
				       t->chars - t->first_chars, t->words,
				       ev->nkl, NULL, ev->nrec, unit_kind(rec) };
	sum = ev->usum + ev->nu * ev->nm * NS;
	memset(sum, 0, (size_t)ev->nm * NS * sizeof *sum);
	if (score_windows(ev, src, rec, tok, n, sum, err) < 0)
		return -1;
	nll_sums(ev, scored, sum, nll);
	if (qf_ev_lang_add_unit(ev, li, (int)ev->nu) < 0)
		return qf_err_set(err, "out of memory");
	return 0;
}

int qf_eval_doc(qf_eval *ev, const char *src, const qf_rec *rec,
		const int32_t *tok, uint64_t n, float *const *nll, qf_err *err)
{
	qf_tokrec t;
	char *id;

	if (ev->finished)
		return qf_err_set(err, "evaluation already finished");
	if (check_record(ev, src, rec, tok, n, &t, err) < 0 ||
	    unit_id(src, rec, &id, err) < 0)
		return -1;
	if (unit_kind(rec) == K_HEADING && !ev->o.headings) {
		free(id);
		ev->nheading++;
		ev->nrec++;
		return 1;
	}
	if (score_unit(ev, src, rec, tok, n, &t, nll, err) < 0) {
		free(id);
		return -1;
	}
	ev->u[ev->nu].id = id;
	ev->nkl += n - 1;
	ev->nu++;
	ev->nrec++;
	return 0;
}
