/*
 * bootstrap.c - qf_eval_finish: every figure once for the estimate and
 * once per paired bootstrap replicate (units drawn with replacement
 * within each language, the same draws for every model), on the eval's
 * pool, and the percentile intervals the tables print (docs/eval.md,
 * "Bootstrap").  Replicate b has its own generator, so the result does
 * not depend on the thread count.
 */
#include <math.h>
#include <stdlib.h>

#include "eval/eval_impl.h"

/* The units of one language a set of figures is computed from, into
 * wk->draw: all of them (b < 0), or, without clusters, n drawn with
 * replacement from generator s; returns their count, -1: out of memory. */
static int draw_units(const qf_eval *ev, int l, int b, uint64_t *s,
		      const int *cdraw, struct work *wk)
{
	int n = ev->lang[l].n;

	if (b < 0 || ev->cluster)
		return qf_ev_cluster_units(ev, l, b < 0 ? NULL : cdraw, ev->ncl, wk);
	if (qf_ev_cluster_units(ev, l, NULL, 0, wk) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		wk->draw[i] = (int)(((unsigned __int128)qf_xoshiro256ss(s) *
				     (uint64_t)n) >> 64);
	return n;
}

/* One set of figures: the estimate (b < 0) or replicate b. */
static int compute(qf_eval *ev, int b, struct work *wk, struct figs *fs)
{
	/* 4 splitmix64 steps a replicate: disjoint seeds */
	uint64_t s[4] = { 0 }, x = ev->o.seed + 4 * (uint64_t)b * 0x9E3779B97F4A7C15u;
	int *cdraw = NULL, rc = -1;

	if (b >= 0)
		for (int i = 0; i < 4; i++)
			s[i] = qf_splitmix64(&x);
	/* with clusters: ncl of them drawn, as one language of ncl units */
	if (b >= 0 && ev->cluster) {
		if (!(cdraw = malloc((size_t)ev->ncl * sizeof *cdraw)))
			return -1;
		for (int i = 0; i < ev->ncl; i++)
			cdraw[i] = (int)(((unsigned __int128)qf_xoshiro256ss(s) *
					  (uint64_t)ev->ncl) >> 64);
	}
	for (int l = 0; l < ev->nlang; l++) {
		int n = draw_units(ev, l, b, s, cdraw, wk);

		if (n < 0 || qf_ev_lang_figs(ev, l, wk->draw, n, wk, fs) < 0)
			goto out;
	}
	qf_ev_rel_figs(ev, fs);
	qf_ev_disp_figs(ev, fs);
	/* the bootstrap-t's SEs and tau's own correction */
	if (cdraw && fs->tc && qf_ev_rep_jackknife(ev, cdraw, wk, fs) < 0)
		goto out;
	rc = 0;
out:
	free(cdraw);
	return rc;
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

/* Every replicate, on the pool; -1: out of memory. */
static int replicates(qf_eval *ev, struct work *wk)
{
	int B = ev->o.bootstrap;
	struct boot_job j = { ev, wk, 0 };

	if (B <= 0)
		return 0;
	if (!(ev->rep = calloc((size_t)B, sizeof *ev->rep)))
		return -1;
	for (int b = 0; b < B; b++) {
		struct figs *fs = &ev->rep[b];
		size_t nts = (size_t)(ev->nm - 1) * ev->nsc;

		if (qf_ev_figs_alloc(ev, fs, 0) < 0)
			return -1;
		if (ev->cluster &&
		    !(fs->tc = malloc((nts ? nts : 1) * sizeof *fs->tc)))
			return -1;
		for (size_t i = 0; ev->cluster && i < nts; i++)
			fs->tc[i] = NAN;
	}
	qf_pool_run(ev->pool, B, boot_task, &j);
	return j.failed ? -1 : 0;
}

/* --interval auto: the bootstrap-t with QF_T_MIN_UNITS parallel units
 * or more, else BCa (with a handful of clusters a replicate's jackknife
 * SE can be near 0 and its t huge); t needs parallel units (its SEs come
 * from the jackknife over a replicate's clusters). */
static int interval_method(qf_eval *ev, qf_err *err)
{
	if (ev->o.interval == QF_CI_AUTO)
		ev->o.interval = ev->cluster && ev->ncl >= QF_T_MIN_UNITS ?
			QF_CI_T : QF_CI_BCA;
	if (ev->o.interval == QF_CI_T && !ev->cluster)
		return qf_err_set(err, "--interval t needs parallel units (a "
				  "unit_id on every record, --cluster unit)");
	return 0;
}

/* Languages in code order, the reference language, the scopes, the
 * scopes of the cross-scope contrasts' terms. */
static int prepare(qf_eval *ev, qf_err *err)
{
	const char *rl = ev->o.ref_lang ? ev->o.ref_lang : "eng";

	if (ev->nu == 0)
		return qf_err_set(err, "no token records");
	qf_ev_sort_langs(ev);
	ev->ref_lang = qf_ev_find_lang(ev, rl);
	if (ev->ref_lang < 0 && ev->o.ref_lang)
		return qf_err_set(err, "reference language %s not in the data", rl);
	if (qf_ev_make_scopes(ev, err) < 0)
		return -1;
	return qf_ev_contrast_scopes(ev, err);
}

static void work_free(struct work *wk, int nt)
{
	for (int t = 0; t < nt; t++)
		qf_ev_work_free(&wk[t]);
	free(wk);
}

int qf_eval_finish(qf_eval *ev, qf_err *err)
{
	int nt = qf_pool_size(ev->pool), rc = -1;
	struct work *wk = calloc((size_t)nt, sizeof *wk);

	if (!wk)
		return qf_err_set(err, "out of memory");
	if (prepare(ev, err) < 0)
		goto out;
	for (int t = 0; t < nt; t++)
		if (!(wk[t].acc = malloc((size_t)ev->nm * sizeof *wk[t].acc)))
			goto oom;
	if (qf_ev_clusters(ev, err) < 0 || interval_method(ev, err) < 0)
		goto out;
	/* the estimate, the jackknife (which needs it), tau (which needs
	 * the jackknife), the replicates */
	if (qf_ev_figs_alloc(ev, &ev->est, 1) < 0 ||
	    compute(ev, -1, &wk[0], &ev->est) < 0 ||
	    qf_ev_jackknife(ev, &wk[0]) < 0)
		goto oom;
	qf_ev_disp_figs(ev, &ev->est);
	if (replicates(ev, wk) < 0)
		goto oom;
	ev->finished = 1;
	rc = 0;
	goto out;
oom:
	qf_err_set(err, "out of memory");
out:
	work_free(wk, nt);
	return rc;
}

/* ------------------------------------------------------------ intervals */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q-quantile of sorted vals[0..n) (linear between order statistics,
 * numpy's default). */
static double at_level(const double *vals, int n, double q)
{
	double pos = q * (n - 1), fr;
	int i = (int)pos;

	if (i < 0)
		return vals[0];
	if (i >= n - 1)
		return vals[n - 1];
	fr = pos - i;
	return vals[i] + (vals[i + 1] - vals[i]) * fr;
}

double qf_ev_quantile(double *v, int n, double q)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return at_level(v, n, q);
}

void qf_ev_interval(double *vals, int B, double *lo, double *hi, int *bad)
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
	*lo = at_level(vals, n, 0.025);
	*hi = at_level(vals, n, 0.975);
}

void qf_ev_interval_bca(double *vals, int B, double est, double acc,
			double *lo, double *hi, int *bad)
{
	int n = 0;
	double z0, a = isnan(acc) ? 0 : acc;

	*bad = 0;
	for (int b = 0; b < B; b++)
		if (isnan(vals[b]))
			(*bad)++;
		else
			vals[n++] = vals[b];
	*lo = *hi = NAN;
	if (*bad || n == 0 || isnan(est))
		return;
	z0 = qf_ev_bca_z0(vals, n, est);
	qsort(vals, (size_t)n, sizeof *vals, cmp_double);
	*lo = at_level(vals, n, qf_ev_bca_level(z0, a, 0.025));
	*hi = at_level(vals, n, qf_ev_bca_level(z0, a, 0.975));
}

void qf_ev_interval_t(double *vals, const double *ses, int B, double est,
		      double se, double *lo, double *hi, int *bad)
{
	/* an SE within rounding of 0 (every draw one unit) has no t */
	double tiny = 1e-9 * fmax(fabs(est), se);
	int n = 0;

	*bad = 0;
	*lo = *hi = NAN;
	for (int b = 0; b < B; b++)
		if (isnan(vals[b]))
			(*bad)++;
		else if (ses[b] > tiny)
			vals[n++] = (vals[b] - est) / ses[b];
	if (*bad || isnan(est) || !(se >= 0))
		return;
	if (n == 0) {
		/* no replicate varies within itself (a figure constant in
		 * every jackknife; vals untouched): the percentiles */
		qf_ev_interval(vals, B, lo, hi, bad);
		return;
	}
	qsort(vals, (size_t)n, sizeof *vals, cmp_double);
	*lo = est - at_level(vals, n, 0.975) * se;
	*hi = est - at_level(vals, n, 0.025) * se;
}

void qf_ev_interval_shift(double *vals, int B, double shift, double *lo,
			  double *hi, int *bad)
{
	qf_ev_interval(vals, B, lo, hi, bad);
	if (isnan(shift) || isnan(*lo)) {	/* (fmax would make NAN 0) */
		*lo = *hi = NAN;
		return;
	}
	*lo = fmax(0, *lo + shift);
	*hi = fmax(0, *hi + shift);
}

int qf_eval_interval(const qf_eval *ev, int *units)
{
	*units = ev->cluster ? ev->ncl : 0;
	return ev->o.interval;
}
