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

/* The units of one language a set of figures is computed from: all of
 * them (b < 0), or n drawn with replacement from generator s. */
static void draw_units(int *draw, int n, int b, uint64_t *s)
{
	for (int i = 0; i < n; i++)
		draw[i] = b < 0 ? i : (int)(((unsigned __int128)qf_xoshiro256ss(s) *
					    (uint64_t)n) >> 64);
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
		draw_units(wk->draw, n, b, s);
		if (qf_ev_lang_figs(ev, l, wk->draw, n, wk, fs) < 0)
			return -1;
	}
	qf_ev_rel_figs(ev, fs);
	qf_ev_disp_figs(ev, fs);
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
	if (qf_ev_figs_alloc(ev, &ev->est, 1) < 0 ||
	    compute(ev, -1, &wk[0], &ev->est) < 0 || replicates(ev, wk) < 0)
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
	for (int k = 0; k < 2; k++) {
		double pos = (k ? 0.975 : 0.025) * (n - 1), fr;
		int i = (int)pos;
		double v;

		fr = pos - i;
		v = i + 1 < n ? vals[i] + (vals[i + 1] - vals[i]) * fr : vals[i];
		*(k ? hi : lo) = v;
	}
}
