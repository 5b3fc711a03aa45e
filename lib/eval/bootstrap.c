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
		return qf_ev_cluster_units(ev, l, b < 0 ? NULL : cdraw, wk);
	if (qf_ev_cluster_units(ev, l, NULL, wk) < 0)
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
	for (int b = 0; b < B; b++)
		if (qf_ev_figs_alloc(ev, &ev->rep[b], 0) < 0)
			return -1;
	qf_pool_run(ev->pool, B, boot_task, &j);
	return j.failed ? -1 : 0;
}

/* Languages in code order, the reference language, the scopes. */
static int prepare(qf_eval *ev, qf_err *err)
{
	const char *rl = ev->o.ref_lang ? ev->o.ref_lang : "eng";

	if (ev->nu == 0)
		return qf_err_set(err, "no token records");
	qf_ev_sort_langs(ev);
	ev->ref_lang = qf_ev_find_lang(ev, rl);
	if (ev->ref_lang < 0 && ev->o.ref_lang)
		return qf_err_set(err, "reference language %s not in the data", rl);
	return qf_ev_make_scopes(ev, err);
}

static void work_free(struct work *wk, int nt)
{
	for (int t = 0; t < nt; t++) {
		free(wk[t].klbuf);
		free(wk[t].acc);
		free(wk[t].draw);
	}
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
	if (qf_ev_clusters(ev, err) < 0)
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
