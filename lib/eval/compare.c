/*
 * compare.c - the comparison table of qf-eval (--compare): the test
 * models side by side on each disparity figure for which lower means
 * less disparity, with simultaneous (max-T) intervals over the models,
 * the paired differences from the best with simultaneous intervals and
 * Holm-adjusted bootstrap p-values, and the set of models that cannot be
 * told apart from the best (docs/eval.md, "Comparing configurations").
 *
 * Everything comes from the replicates of bootstrap.c: replicate b of
 * every model is computed from the same draws, so the models' replicates
 * are paired and the maximum over models of a replicate's deviations is
 * the joint distribution max-T needs.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_impl.h"

/* The figures compared, in the table's order: those of the disparity
 * table for which lower means less disparity.  A new one is one line
 * (and NCFIG). */
const struct cfig qf_ev_cfig[NCFIG] = {
	{ G_MEAN, "mean" },
	{ G_RANGE, "range" },
	{ G_MAXMIN, "max_min" },
	{ G_CV, "cv" },
	{ G_TAU, "tau" },
	{ G_TAUR, "tau_mean" },
	{ G_MAX, "max" },
};

/* Why a scope and figure has no inference. */
enum { ST_OK, ST_EST, ST_NOBOOT, ST_ONE, ST_CI };

/* One scope and figure: the replicates and every column of its rows. */
struct cmp {
	int T, B;
	double *rep;		/* [T][B]: the figure's replicates */
	double *drep;		/* [T][B]: minus the best's */
	double *scr;		/* [B] */
	double *est, *se, *lo, *hi;		/* [T] */
	double *diff, *dse, *dlo, *dhi, *p, *ph;	/* [T] */
	int *rank, *ord;	/* [T]; ord: Holm's order */
	int best, bad, st;
};

double qf_ev_sd(const double *x, int n)
{
	double m = 0, s = 0;

	for (int i = 0; i < n; i++)
		m += x[i];
	m /= n;
	for (int i = 0; i < n; i++)
		s += (x[i] - m) * (x[i] - m);
	return sqrt(s / (n - 1));
}

/* ------------------------------------------------------------ storage */

static void cmp_free(struct cmp *c)
{
	free(c->rep);
	free(c->est);
	free(c->rank);
}

double *qf_ev_columns(double **const *col, int ncol, size_t n)
{
	double *p = malloc((size_t)ncol * (n ? n : 1) * sizeof *p);

	for (int i = 0; p && i < ncol; i++)
		*col[i] = p + (size_t)i * n;
	return p;
}

/* Room for T models and B replicates; -1: out of memory. */
static int cmp_alloc(struct cmp *c, int T, int B)
{
	size_t nb = (size_t)(B > 0 ? B : 1), t = (size_t)T;
	double **const col[] = { &c->est, &c->se, &c->lo, &c->hi, &c->diff,
				 &c->dse, &c->dlo, &c->dhi, &c->p, &c->ph };

	memset(c, 0, sizeof *c);
	c->T = T;
	c->B = B;
	c->rep = malloc((2 * t + 1) * nb * sizeof *c->rep);
	c->rank = malloc(2 * t * sizeof *c->rank);
	if (!c->rep || !c->rank ||
	    !qf_ev_columns(col, (int)(sizeof col / sizeof col[0]), t)) {
		cmp_free(c);
		return -1;
	}
	c->drep = c->rep + t * nb;
	c->scr = c->drep + t * nb;
	c->ord = c->rank + t;
	return 0;
}

/* ------------------------------------------------------------ inference */

/* The estimates and replicates of figure k in scope s; c->bad gets the
 * count of replicates in which some model's figure is NA.  Returns 1
 * when some model's estimate is NA. */
static int gather(const qf_eval *ev, int s, int k, struct cmp *c)
{
	int est_na = 0;

	c->bad = 0;
	for (int t = 0; t < c->T; t++) {
		c->est[t] = GFIG(&ev->est, ev, t, s, k);
		if (GREA(&ev->est, ev, t, s, k) != R_OK || isnan(c->est[t]))
			est_na = 1;
	}
	for (int b = 0; b < c->B; b++) {
		int na = 0;

		for (int t = 0; t < c->T; t++) {
			double v = GFIG(&ev->rep[b], ev, t, s, k);

			c->rep[(size_t)t * c->B + b] = v;
			na |= isnan(v);
		}
		c->bad += na;
	}
	return est_na;
}

/* Ranks by estimate (1: the lowest; ties in command-line order) and the
 * best, rank 1. */
static void rank_models(struct cmp *c)
{
	for (int t = 0; t < c->T; t++) {
		c->rank[t] = 1;
		for (int u = 0; u < c->T; u++)
			if (c->est[u] < c->est[t] ||
			    (c->est[u] == c->est[t] && u < t))
				c->rank[t]++;
		if (c->rank[t] == 1)
			c->best = t;
	}
}

void qf_ev_maxt(const double *rep, const double *ctr, const double *est,
		int T, int B, int skip, double *se, double *lo, double *hi,
		double *scr)
{
	int any = 0;
	double crit;

	for (int t = 0; t < T; t++) {
		se[t] = lo[t] = hi[t] = NAN;
		if (t != skip)
			se[t] = qf_ev_sd(rep + (size_t)t * B, B);
		any |= se[t] > 0;
	}
	for (int b = 0; b < B; b++) {
		double mx = 0;

		for (int t = 0; t < T; t++)
			if (se[t] > 0) {
				double v = fabs(rep[(size_t)t * B + b] - ctr[t]) / se[t];

				mx = v > mx ? v : mx;
			}
		scr[b] = mx;
	}
	crit = any ? qf_ev_quantile(scr, B, 0.95) : NAN;
	for (int t = 0; t < T; t++) {
		if (t == skip)
			continue;
		lo[t] = se[t] > 0 ? est[t] - crit * se[t] : est[t];
		hi[t] = se[t] > 0 ? est[t] + crit * se[t] : est[t];
	}
}

double qf_ev_boot_p(const double *rep, int B, double ctr, double est)
{
	int n = 0;

	for (int b = 0; b < B; b++)
		n += fabs(rep[b] - ctr) >= fabs(est);
	return (1.0 + n) / (B + 1.0);
}

/* The two-sided bootstrap p of H0 diff = 0 for each model but the best. */
static void p_values(struct cmp *c)
{
	for (int t = 0; t < c->T; t++)
		c->p[t] = t == c->best ? NAN :
			qf_ev_boot_p(c->drep + (size_t)t * c->B, c->B,
				     c->diff[t], c->diff[t]);
}

void qf_ev_holm(const double *p, int n, int skip, int *ord, double *ph)
{
	int K = 0;
	double run = 0;

	for (int t = 0; t < n; t++) {
		int i = K;

		ph[t] = NAN;
		if (t == skip)
			continue;
		while (i > 0 && p[ord[i - 1]] > p[t]) {
			ord[i] = ord[i - 1];
			i--;
		}
		ord[i] = t;
		K++;
	}
	for (int i = 0; i < K; i++) {
		double v = (K - i) * p[ord[i]];

		run = v > run ? v : run;
		ph[ord[i]] = run < 1 ? run : 1;
	}
}

/* Every inferential column, from replicates without NA (B >= 2). */
static void infer(struct cmp *c)
{
	int T = c->T, B = c->B;

	qf_ev_maxt(c->rep, c->est, c->est, T, B, -1, c->se, c->lo, c->hi,
		   c->scr);
	for (int t = 0; t < T; t++)
		for (int b = 0; b < B; b++)
			c->drep[(size_t)t * B + b] = c->rep[(size_t)t * B + b] -
						     c->rep[(size_t)c->best * B + b];
	qf_ev_maxt(c->drep, c->diff, c->diff, T, B, c->best, c->dse, c->dlo,
		   c->dhi, c->scr);
	p_values(c);
	qf_ev_holm(c->p, T, c->best, c->ord, c->ph);
}

/* Scope s, figure k: the status and what can be computed. */
static void one_figure(const qf_eval *ev, int s, int k, struct cmp *c)
{
	if (gather(ev, s, k, c)) {
		c->st = ST_EST;
		return;
	}
	rank_models(c);
	for (int t = 0; t < c->T; t++)
		c->diff[t] = c->est[t] - c->est[c->best];
	c->st = c->B == 0 ? ST_NOBOOT : c->B == 1 ? ST_ONE :
		c->bad ? ST_CI : ST_OK;
	if (c->st == ST_OK)
		infer(c);
}

/* ------------------------------------------------------------ rows */

void qf_ev_put_est_why(FILE *f, const qf_eval *ev, int t, int s, int k)
{
	fprintf(f, "%s:", ev->name[t + 1]);
	qf_ev_put_why(f, ev, t, s, k);
}

void qf_ev_put_why(FILE *f, const qf_eval *ev, int t, int s, int k)
{
	int r = GREA(&ev->est, ev, t, s, k);
	int nov = ev->est.gnov[(size_t)t * ev->nsc + s];

	if (r == R_DEN0 || r == R_DENMIN || r == R_NOJACK)
		fputs(r == R_DEN0 ? "den<=0" : r == R_DENMIN ? "den<=min" :
		      "noise NA", f);
	else if (nov >= 0)
		fprintf(f, "%s NA in %s", qf_measure_name(ev->o.measure),
			ev->lang[nov].code);
	else
		fputs("NA", f);
}

/* The status: ok, or why the inferential columns (all but est, when an
 * estimate is NA) are NA. */
static void put_status(FILE *f, const qf_eval *ev, int s, int k,
		       const struct cmp *c)
{
	int first = 1;

	fputc('\t', f);
	switch (c->st) {
	case ST_OK: fputs("ok", f); break;
	case ST_NOBOOT: fputs("no bootstrap", f); break;
	case ST_ONE: fputs("one replicate", f); break;
	case ST_CI: fprintf(f, "ci %d/%d", c->bad, c->B); break;
	case ST_EST:
		for (int t = 0; t < c->T; t++)
			if (GREA(&ev->est, ev, t, s, k) != R_OK ||
			    isnan(c->est[t])) {
				if (!first)
					fputc(';', f);
				qf_ev_put_est_why(f, ev, t, s, k);
				first = 0;
			}
		break;
	}
	fputc('\n', f);
}

/* The row of test model t. */
static void cmp_row(FILE *f, const qf_eval *ev, int s, int j,
		    const struct cmp *c, int t)
{
	int ranked = c->st != ST_EST, ok = c->st == ST_OK;
	int isbest = ranked && t == c->best;

	fprintf(f, "%s\t%s\t%s", ev->sc[s].name, qf_ev_cfig[j].name, ev->name[t + 1]);
	qf_ev_put_num(f, c->est[t]);
	qf_ev_put_num(f, ok ? c->se[t] : NAN);
	qf_ev_put_num(f, ok ? c->lo[t] : NAN);
	qf_ev_put_num(f, ok ? c->hi[t] : NAN);
	if (ranked)
		fprintf(f, "\t%d\t%s", c->rank[t], ev->name[c->best + 1]);
	else
		fputs("\tNA\tNA", f);
	qf_ev_put_num(f, ranked ? c->diff[t] : NAN);
	qf_ev_put_num(f, ok && !isbest ? c->dlo[t] : NAN);
	qf_ev_put_num(f, ok && !isbest ? c->dhi[t] : NAN);
	qf_ev_put_num(f, ok && !isbest ? c->p[t] : NAN);
	qf_ev_put_num(f, ok && !isbest ? c->ph[t] : NAN);
	if (ok)
		fprintf(f, "\t%d", isbest || c->dlo[t] <= 0);
	else
		fputs("\tNA", f);
	put_status(f, ev, s, qf_ev_cfig[j].k, c);
}

int qf_eval_write_compare(const qf_eval *ev, FILE *f, qf_err *err)
{
	struct cmp c;

	if (ev->nm < 2)
		return qf_err_set(err, "a comparison needs a test model");
	if (cmp_alloc(&c, ev->nm - 1, ev->o.bootstrap) < 0)
		return qf_err_set(err, "out of memory");
	qf_provenance_comment(f);
	fputs("scope\tfigure\tmodel\test\tse\tlo\thi\trank\tbest\tdiff\t"
	      "diff_lo\tdiff_hi\tp\tp_holm\tin_best_set\tstatus\n", f);
	for (int s = 0; s < ev->nsc; s++)
		for (int j = 0; j < NCFIG; j++) {
			one_figure(ev, s, qf_ev_cfig[j].k, &c);
			for (int t = 0; t < c.T; t++)
				cmp_row(f, ev, s, j, &c, t);
		}
	cmp_free(&c);
	if (qf_out_flush_check(f) < 0)
		return qf_err_set(err, "cannot write the comparison table: %s",
				  strerror(errno));
	return 0;
}
