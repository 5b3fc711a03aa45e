/*
 * resample.c - what the bootstrap draws and the jackknife leaves out
 * (docs/eval.md, "Bootstrap" and "Intervals").
 *
 * On a parallel corpus every language has the same units (a UDHR
 * article's paragraph exists in each), so the languages' figures are not
 * independent: a hard paragraph is hard in every language.  Drawing each
 * language's units on their own ignores that; here a replicate draws the
 * parallel units (clusters) and every language takes its units of them,
 * so the figures of two languages vary together as they would over
 * another sample of paragraphs.  The jackknife leaves out one cluster
 * (or group of clusters) at a time, in every language at once, and gives
 * the BCa intervals their acceleration and the between-language SD tau
 * its correction for the noise of sampling units.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_impl.h"

/* At most this many leave-out groups per stratum: a corpus of more
 * clusters leaves out contiguous groups of them. */
#define JACK_GROUPS 100

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted distinct ids of the units; -1: out of memory. */
static int distinct_ids(qf_eval *ev)
{
	size_t n = 0;

	if (!(ev->clid = malloc((ev->nu ? ev->nu : 1) * sizeof *ev->clid)))
		return -1;
	for (size_t i = 0; i < ev->nu; i++)
		ev->clid[n++] = ev->u[i].id;
	qsort(ev->clid, n, sizeof *ev->clid, cmp_str);
	ev->ncl = 0;
	for (size_t i = 0; i < n; i++)
		if (ev->ncl == 0 || strcmp(ev->clid[ev->ncl - 1], ev->clid[i]))
			ev->clid[ev->ncl++] = ev->clid[i];
	return 0;
}

/* Language lg's units grouped by cluster (stream order within one). */
static int group_lang(qf_eval *ev, struct lang *lg)
{
	int *cl = malloc(((size_t)lg->n + 1) * sizeof *cl);

	lg->cstart = calloc((size_t)ev->ncl + 1, sizeof *lg->cstart);
	lg->cpos = malloc(((size_t)lg->n + 1) * sizeof *lg->cpos);
	if (!cl || !lg->cstart || !lg->cpos) {
		free(cl);
		return -1;
	}
	for (int i = 0; i < lg->n; i++) {
		char *id = ev->u[lg->unit[i]].id;
		char **p = bsearch(&id, ev->clid, (size_t)ev->ncl,
				   sizeof *ev->clid, cmp_str);

		cl[i] = (int)(p - ev->clid);
		lg->cstart[cl[i] + 1]++;
	}
	for (int k = 0; k < ev->ncl; k++)
		lg->cstart[k + 1] += lg->cstart[k];
	/* counting sort, stable: stream order within a cluster */
	{
		int *next = malloc(((size_t)ev->ncl + 1) * sizeof *next);

		if (!next) {
			free(cl);
			return -1;
		}
		memcpy(next, lg->cstart, (size_t)ev->ncl * sizeof *next);
		for (int i = 0; i < lg->n; i++)
			lg->cpos[next[cl[i]]++] = i;
		free(next);
	}
	free(cl);
	return 0;
}

/* The first unit without an id, or NULL. */
static const struct unit *unit_without_id(const qf_eval *ev)
{
	for (size_t i = 0; i < ev->nu; i++)
		if (!ev->u[i].id)
			return &ev->u[i];
	return NULL;
}

int qf_ev_clusters(qf_eval *ev, qf_err *err)
{
	const struct unit *u = unit_without_id(ev);

	ev->cluster = 0;
	if (ev->o.cluster == QF_CLUSTER_RECORD ||
	    (ev->o.cluster == QF_CLUSTER_AUTO && u))
		return 0;
	if (u)
		return qf_err_set(err, "--cluster unit: record %" PRIu64
				  " (language %s) has no unit_id", u->ordinal,
				  ev->lang[u->lang].code);
	if (distinct_ids(ev) < 0)
		return qf_err_set(err, "out of memory");
	for (int l = 0; l < ev->nlang; l++)
		if (group_lang(ev, &ev->lang[l]) < 0)
			return qf_err_set(err, "out of memory");
	ev->cluster = 1;
	return 0;
}

void qf_ev_resample_free(qf_eval *ev)
{
	free(ev->clid);
	free(ev->tauc);
	free(ev->unitc);
	free(ev->acc.f);
	free(ev->acc.g);
	free(ev->acc.r);
	free(ev->acc.gr);
}

/* Room for n positions in wk->draw; -1: out of memory. */
static int draw_room(struct work *wk, size_t n)
{
	int *p;

	if (n <= wk->drawcap)
		return 0;
	if (!(p = realloc(wk->draw, n * sizeof *p)))
		return -1;
	wk->draw = p;
	wk->drawcap = n;
	return 0;
}

int qf_ev_cluster_units(const qf_eval *ev, int l, const int *cdraw, int nd,
			struct work *wk)
{
	const struct lang *lg = &ev->lang[l];
	size_t n = 0;

	if (!cdraw) {
		if (draw_room(wk, (size_t)lg->n) < 0)
			return -1;
		for (int i = 0; i < lg->n; i++)
			wk->draw[i] = i;
		return lg->n;
	}
	for (int j = 0; j < nd; j++) {
		int a = lg->cstart[cdraw[j]], b = lg->cstart[cdraw[j] + 1];

		if (draw_room(wk, n + (size_t)(b - a)) < 0)
			return -1;
		for (int i = a; i < b; i++)
			wk->draw[n++] = lg->cpos[i];
	}
	return (int)n;
}

/* ------------------------------------------------------------ jackknife */

/*
 * Strata and groups: with clusters, one stratum of min(ncl, JACK_GROUPS)
 * groups (cluster k in group k * G / ncl), a group left out of every
 * language at once; without, each language a stratum of min(n,
 * JACK_GROUPS) groups of its units (position i in group i * G / n).
 *
 * For every figure x, per stratum h the deviations d = x_(g) - x of
 * the leave-group-out values from the estimate, summed as d, d^2, d^3;
 * the empirical influence of group g is U = (G_h - 1)(mean_h - x_(g)),
 * the acceleration a = sum U^3 / (6 (sum U^2)^1.5) over every group of
 * every stratum (Efron & Tibshirani 1993, 14.15; the stratified form of
 * Davison & Hinkley 1997, 3.2.1).  A figure without a value in a
 * leave-out set has no acceleration (NAN: BCa uses 0).
 *
 * tau's correction: per test model, scope and language in it, e_L =
 * D_L - mean over the scope's languages of D, and its jackknife
 * variance v_L = sum_h (G_h - 1)/G_h sum_g (e_L(g) - mean_h e_L)^2;
 * c = sum_L v_L / (n - 1) is what the noise of sampling units adds to
 * the sample variance of the D_L (docs/eval.md, "tau").
 */

struct jack {
	qf_eval *ev;
	struct work *wk;
	struct figs fs;		/* one leave-out set's figures */
	struct mom *mf, *mg;	/* [nf], [ng]: every figure */
	struct mom *me;		/* [ntest][nsc][nlang]: e_L */
	struct mom *mu;		/* [ntest][QF_MEASURES][nlang]: e_L of
				 * every measure over all languages */
	size_t nf, ng, ne, nu;
	double *tauc;		/* [ntest][nsc]: tau's corrections (ev->tauc
				 * at the end: the leave-out sets have no tau) */
	double *unitc;		/* [ntest][QF_MEASURES]: the same over all
				 * languages, every measure (ev->unitc) */
	int *keep;		/* [nlang or ncl]: 0 = left out */
	struct mom *mc;		/* [NCON]: every contrast */
	double *cx, *c0;	/* [NCON]: of a leave-out set, the estimate */
};

static void mom_add(struct mom *m, double x, double est)
{
	double d = x - est;

	if (isnan(x) || isnan(est)) {
		m->bad = 1;
		return;
	}
	m->s1 += d;
	m->s2 += d * d;
	m->s3 += d * d * d;
}

/* The end of a stratum of G groups: its U sums into the totals; the
 * return value is its jackknife variance. */
static double mom_close(struct mom *m, int G)
{
	double mu = m->s1 / G, c2, c3, k = G - 1;

	c2 = m->s2 - G * mu * mu;
	c3 = m->s3 - 3 * mu * m->s2 + 2 * G * mu * mu * mu;
	if (c2 < 0)
		c2 = 0;
	/* U = k (mean - x_(g)) = -k (d - mu) */
	m->u2 += k * k * c2;
	m->u3 -= k * k * k * c3;
	m->s1 = m->s2 = m->s3 = 0;
	m->vj += G > 1 ? k / G * c2 : 0;
	return G > 1 ? k / G * c2 : 0;
}

/* e_L of figure mf of test model t in scope s from figures fs, for every
 * language of the scope (NAN outside), into e[nlang]. */
static void deviations(const qf_eval *ev, const struct figs *fs, int mf,
		       int t, int s, double *e)
{
	double sum = 0;
	int n = 0;

	for (int l = 0; l < ev->nlang; l++)
		if (ev->sc[s].in[l]) {
			sum += FIG(fs, ev, l, t + 1, mf);
			n++;
		}
	for (int l = 0; l < ev->nlang; l++)
		e[l] = ev->sc[s].in[l] ? FIG(fs, ev, l, t + 1, mf) - sum / n : NAN;
}

/* Add leave-out set fs to the sums. */
static void jack_add(struct jack *j, double *e, double *e0)
{
	qf_eval *ev = j->ev;
	int nt = ev->nm - 1, mf = qf_ev_measure_fig(ev->o.measure);

	for (size_t i = 0; i < j->nf; i++)
		mom_add(&j->mf[i], j->fs.f[i], ev->est.f[i]);
	for (size_t i = 0; i < j->ng; i++)
		mom_add(&j->mg[i], j->fs.g[i], ev->est.g[i]);
	qf_ev_contrast_values(ev, &j->fs, j->cx);
	for (size_t i = 0; i < NCON(ev); i++)
		mom_add(&j->mc[i], j->cx[i], j->c0[i]);
	for (int t = 0; t < nt; t++)
		for (int s = 0; s < ev->nsc; s++) {
			struct mom *me = j->me + ((size_t)t * ev->nsc + s) * ev->nlang;

			deviations(ev, &j->fs, mf, t, s, e);
			deviations(ev, &ev->est, mf, t, s, e0);
			for (int l = 0; l < ev->nlang; l++)
				if (ev->sc[s].in[l])
					mom_add(&me[l], e[l], e0[l]);
		}
	/* every measure over all languages (scope 0), for the reliability */
	for (int t = 0; t < nt; t++)
		for (int k = 0; k < QF_MEASURES; k++) {
			struct mom *mu = j->mu + ((size_t)t * QF_MEASURES + k) * ev->nlang;
			int f = qf_ev_measure_fig(k);

			deviations(ev, &j->fs, f, t, 0, e);
			deviations(ev, &ev->est, f, t, 0, e0);
			for (int l = 0; l < ev->nlang; l++)
				mom_add(&mu[l], e[l], e0[l]);
		}
}

/* The end of a stratum of G groups: every sum closed, the variances of
 * e_L into tau's corrections. */
static void jack_close(struct jack *j, int G)
{
	qf_eval *ev = j->ev;

	for (size_t i = 0; i < j->nf; i++)
		mom_close(&j->mf[i], G);
	for (size_t i = 0; i < j->ng; i++)
		mom_close(&j->mg[i], G);
	for (size_t i = 0; i < NCON(ev); i++)
		mom_close(&j->mc[i], G);
	for (size_t i = 0; i < j->ne; i++) {
		double v = mom_close(&j->me[i], G);
		size_t ts = i / ev->nlang;

		if (!isnan(j->tauc[ts]))
			j->tauc[ts] += j->me[i].bad ? NAN : v;
	}
	for (size_t i = 0; i < j->nu; i++) {
		double v = mom_close(&j->mu[i], G);
		size_t tk = i / ev->nlang;

		if (!isnan(j->unitc[tk]))
			j->unitc[tk] += j->mu[i].bad ? NAN : v;
	}
}

/* Language l's units but those of the groups left out, into wk->draw:
 * with clusters keep[cluster], else keep[position]. */
static int kept_units(const qf_eval *ev, int l, const int *keep,
		      struct work *wk)
{
	const struct lang *lg = &ev->lang[l];
	int n = 0;

	if (draw_room(wk, (size_t)lg->n) < 0)
		return -1;
	for (int i = 0; i < lg->n; i++) {
		const struct unit *u = &ev->u[lg->unit[i]];
		int k = i;

		if (ev->cluster) {
			char *id = u->id;

			k = (int)((char **)bsearch(&id, ev->clid, (size_t)ev->ncl,
						   sizeof *ev->clid, cmp_str) - ev->clid);
		}
		if (keep[k])
			wk->draw[n++] = i;
	}
	return n;
}

/* The figures with group g of n clusters (or units of language l) left
 * out, into j->fs. */
static int leave_out(struct jack *j, int l, int g, int G, int n)
{
	qf_eval *ev = j->ev;
	size_t nf = j->nf;

	for (int k = 0; k < n; k++)
		j->keep[k] = (int)((long long)k * G / n) != g;
	if (ev->cluster) {
		for (int m = 0; m < ev->nlang; m++) {
			int c = kept_units(ev, m, j->keep, j->wk);

			if (c < 0 || qf_ev_lang_figs(ev, m, j->wk->draw, c,
						     j->wk, &j->fs) < 0)
				return -1;
		}
	} else {
		int c;

		memcpy(j->fs.f, ev->est.f, nf * sizeof *j->fs.f);
		memcpy(j->fs.r, ev->est.r, nf);
		if ((c = kept_units(ev, l, j->keep, j->wk)) < 0 ||
		    qf_ev_lang_figs(ev, l, j->wk->draw, c, j->wk, &j->fs) < 0)
			return -1;
	}
	qf_ev_rel_figs(ev, &j->fs);
	qf_ev_disp_figs(ev, &j->fs);
	return 0;
}

/* One stratum: language l's units (l < 0: the clusters). */
static int stratum(struct jack *j, int l, double *e, double *e0)
{
	int n = l < 0 ? j->ev->ncl : j->ev->lang[l].n;
	int G = n < JACK_GROUPS ? n : JACK_GROUPS;

	for (int g = 0; g < G; g++) {
		if (leave_out(j, l, g, G, n) < 0)
			return -1;
		jack_add(j, e, e0);
	}
	jack_close(j, G);
	return 0;
}

/* The jackknife SE of each figure from its sums (NAN: none). */
static void std_errors(const struct mom *m, size_t n, double *se)
{
	for (size_t i = 0; i < n; i++)
		se[i] = m[i].bad ? NAN : sqrt(m[i].vj);
}

/* The acceleration of each figure from its sums (NAN: none). */
static void accelerations(const struct mom *m, size_t n, double *a)
{
	for (size_t i = 0; i < n; i++)
		a[i] = m[i].bad || !(m[i].u2 > 0) ? NAN :
			m[i].u3 / (6 * pow(m[i].u2, 1.5));
}

static int jack_alloc(struct jack *j)
{
	qf_eval *ev = j->ev;
	int nt = ev->nm - 1, nk = ev->cluster ? ev->ncl : 0;
	size_t nts = (size_t)(nt > 0 ? nt : 1) * ev->nsc;

	for (int l = 0; l < ev->nlang; l++)
		if (ev->lang[l].n > nk)
			nk = ev->lang[l].n;
	j->nf = (size_t)ev->nlang * ev->nm * NF;
	j->ng = (size_t)nt * ev->nsc * NG;
	j->ne = (size_t)nt * ev->nsc * ev->nlang;
	j->nu = (size_t)nt * QF_MEASURES * ev->nlang;
	j->mu = calloc(j->nu + 1, sizeof *j->mu);
	j->unitc = calloc((size_t)(nt > 0 ? nt : 1) * QF_MEASURES, sizeof *j->unitc);
	j->mf = calloc(j->nf + 1, sizeof *j->mf);
	j->mg = calloc(j->ng + 1, sizeof *j->mg);
	j->me = calloc(j->ne + 1, sizeof *j->me);
	j->keep = malloc(((size_t)nk + 1) * sizeof *j->keep);
	j->tauc = calloc(nts, sizeof *j->tauc);
	ev->acc.f = malloc((j->nf + 1) * sizeof *ev->acc.f);
	ev->acc.g = malloc((j->ng + 1) * sizeof *ev->acc.g);
	j->mc = calloc(NCON(ev) + 1, sizeof *j->mc);
	j->cx = malloc(2 * (NCON(ev) + 1) * sizeof *j->cx);
	ev->cacc = malloc((NCON(ev) + 1) * sizeof *ev->cacc);
	if (qf_ev_figs_alloc(ev, &j->fs, 0) < 0)
		return -1;
	if (!j->mc || !j->cx || !ev->cacc)
		return -1;
	j->c0 = j->cx + NCON(ev) + 1;
	qf_ev_contrast_values(ev, &ev->est, j->c0);
	return j->mf && j->mg && j->me && j->mu && j->unitc && j->keep &&
		j->tauc && ev->acc.f &&
		ev->acc.g ? 0 : -1;
}

/* tau's corrections from the summed variances: c = sum v_L / (n - 1). */
static void tau_corrections(qf_eval *ev, double *tauc)
{
	for (int t = 0; t < ev->nm - 1; t++)
		for (int s = 0; s < ev->nsc; s++) {
			double *c = &tauc[(size_t)t * ev->nsc + s];

			*c = ev->sc[s].n >= 2 ? *c / (ev->sc[s].n - 1) : NAN;
		}
}

int qf_ev_jackknife(qf_eval *ev, struct work *wk)
{
	struct jack j = { .ev = ev, .wk = wk };
	double *e = malloc(((size_t)ev->nlang + 1) * sizeof *e);
	double *e0 = malloc(((size_t)ev->nlang + 1) * sizeof *e0);
	int rc = -1;

	if (!e || !e0 || jack_alloc(&j) < 0)
		goto out;
	if (ev->cluster) {
		if (stratum(&j, -1, e, e0) < 0)
			goto out;
	} else {
		for (int l = 0; l < ev->nlang; l++)
			if (stratum(&j, l, e, e0) < 0)
				goto out;
	}
	tau_corrections(ev, j.tauc);
	ev->tauc = j.tauc;
	j.tauc = NULL;
	for (int i = 0; i < (ev->nm - 1) * QF_MEASURES; i++)
		j.unitc[i] = ev->nlang >= 2 ? j.unitc[i] / (ev->nlang - 1) : NAN;
	ev->unitc = j.unitc;
	j.unitc = NULL;
	accelerations(j.mf, j.nf, ev->acc.f);
	accelerations(j.mg, j.ng, ev->acc.g);
	accelerations(j.mc, NCON(ev), ev->cacc);
	std_errors(j.mf, j.nf, ev->est.fse);
	std_errors(j.mg, j.ng, ev->est.gse);
	std_errors(j.mc, NCON(ev), ev->est.cse);
	rc = 0;
out:
	free(e);
	free(e0);
	free(j.mf);
	free(j.mg);
	free(j.me);
	free(j.mu);
	free(j.unitc);
	free(j.keep);
	free(j.tauc);
	free(j.mc);
	free(j.cx);
	qf_ev_figs_free(&j.fs);
	return rc;
}

/* ------------------------------------------------------------ BCa */

/* The standard normal distribution function and its inverse (Acklam's
 * rational approximation, refined by one Halley step on erfc: full
 * double precision). */
static double norm_cdf(double x)
{
	return 0.5 * erfc(-x / sqrt(2.0));
}

static double norm_quantile(double p)
{
	static const double a[] = { -3.969683028665376e+01, 2.209460984245205e+02,
		-2.759285104469687e+02, 1.383577518672690e+02,
		-3.066479806614716e+01, 2.506628277459239e+00 };
	static const double b[] = { -5.447609879822406e+01, 1.615858368580409e+02,
		-1.556989798598866e+02, 6.680131188771972e+01,
		-1.328068155288572e+01 };
	static const double c[] = { -7.784894002430293e-03, -3.223964580411365e-01,
		-2.400758277161838e+00, -2.549732539343734e+00,
		4.374664141464968e+00, 2.938163982698783e+00 };
	static const double d[] = { 7.784695709041462e-03, 3.224671290700398e-01,
		2.445134137142996e+00, 3.754408661907416e+00 };
	double q, r, x, e, u;

	if (p <= 0)
		return -INFINITY;
	if (p >= 1)
		return INFINITY;
	if (p < 0.02425 || p > 1 - 0.02425) {
		q = sqrt(-2 * log(p < 0.5 ? p : 1 - p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
			((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
		if (p > 0.5)
			x = -x;
	} else {
		q = p - 0.5;
		r = q * q;
		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
			(((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
	}
	e = norm_cdf(x) - p;
	u = e * sqrt(2 * M_PI) * exp(x * x / 2);
	return x - u / (1 + x * u / 2);
}

/* The level of the BCa interval's end at nominal level alpha. */
double qf_ev_bca_level(double z0, double a, double alpha)
{
	double z = norm_quantile(alpha);

	return norm_cdf(z0 + (z0 + z) / (1 - a * (z0 + z)));
}

/* z0 from the share of replicates below the estimate, those equal to it
 * counted half, kept inside (0.5 / B, 1 - 0.5 / B) so that it is finite.
 * Equal is within 1e-9 of it, relative: a replicate that draws every
 * unit once has the estimate's value up to the order of its sums. */
double qf_ev_bca_z0(const double *vals, int n, double est)
{
	double below = 0, tol = 1e-9 * fabs(est);

	for (int i = 0; i < n; i++)
		below += fabs(vals[i] - est) <= tol ? 0.5 : vals[i] < est;
	below /= n;
	if (below < 0.5 / n)
		below = 0.5 / n;
	if (below > 1 - 0.5 / n)
		below = 1 - 0.5 / n;
	return norm_quantile(below);
}

/* ------------------------------------------------------------ a replicate's */

/*
 * The replicate's own jackknife (clusters only): its ncl draws are the
 * sample, min(ncl, JACK_GROUPS) groups of draw positions (position j in
 * group j * G / ncl) are left out in turn.  What it gives: each figure's
 * SE for the bootstrap-t, and tau's correction for this replicate.
 */

/* The work's scratch for it, made once: leave-out figures, the sums of
 * every figure and of e_L, the kept draws. */
static int rep_ready(const qf_eval *ev, struct work *wk, size_t nmom)
{
	if (wk->jready)
		return 0;
	if (qf_ev_figs_alloc(ev, &wk->jfs, 0) < 0 ||
	    !(wk->mom = malloc((nmom + 1) * sizeof *wk->mom)) ||
	    !(wk->cd = malloc(((size_t)ev->ncl + 1) * sizeof *wk->cd)) ||
	    !(wk->cval = malloc(2 * (NCON(ev) + 1) * sizeof *wk->cval)))
		return -1;
	wk->jready = 1;
	return 0;
}

void qf_ev_work_free(struct work *wk)
{
	free(wk->klbuf);
	free(wk->acc);
	free(wk->draw);
	free(wk->mom);
	free(wk->cd);
	free(wk->cval);
	qf_ev_figs_free(&wk->jfs);
}

/* The figures without group g of G: every language from the kept draws. */
static int rep_leave_out(const qf_eval *ev, const int *cdraw, int g, int G,
			 struct work *wk)
{
	int K = ev->ncl, nd = 0;

	for (int j = 0; j < K; j++)
		if ((int)((long long)j * G / K) != g)
			wk->cd[nd++] = cdraw[j];
	for (int l = 0; l < ev->nlang; l++) {
		/* the kept draws are copied: wk->draw is overwritten */
		int c = qf_ev_cluster_units(ev, l, wk->cd, nd, wk);

		if (c < 0 || qf_ev_lang_figs(ev, l, wk->draw, c, wk, &wk->jfs) < 0)
			return -1;
	}
	qf_ev_rel_figs(ev, &wk->jfs);
	qf_ev_disp_figs(ev, &wk->jfs);
	return 0;
}

int qf_ev_rep_jackknife(const qf_eval *ev, const int *cdraw, struct work *wk,
			struct figs *fs)
{
	int nt = ev->nm - 1, K = ev->ncl, G = K < JACK_GROUPS ? K : JACK_GROUPS;
	int mf = qf_ev_measure_fig(ev->o.measure);
	size_t nf = (size_t)ev->nlang * ev->nm * NF, ng = (size_t)nt * ev->nsc * NG;
	size_t ne = (size_t)nt * ev->nsc * ev->nlang, nc = NCON(ev);
	double e[ev->nlang + 1], e0[ev->nlang + 1], *cx, *c0;
	struct mom *m, *mc;

	if (rep_ready(ev, wk, nf + ng + ne + nc) < 0)
		return -1;
	m = wk->mom;
	mc = m + nf + ng + ne;
	memset(m, 0, (nf + ng + ne + nc) * sizeof *m);
	cx = wk->cval;
	c0 = cx + nc + 1;
	qf_ev_contrast_values(ev, fs, c0);
	for (int g = 0; g < G; g++) {
		int rc;

		/* the quantiles are most of the work, and unused here */
		wk->no_quantiles = 1;
		rc = rep_leave_out(ev, cdraw, g, G, wk);
		wk->no_quantiles = 0;
		if (rc < 0)
			return -1;
		for (size_t i = 0; i < nf; i++)
			mom_add(&m[i], wk->jfs.f[i], fs->f[i]);
		for (size_t i = 0; i < ng; i++)
			mom_add(&m[nf + i], wk->jfs.g[i], fs->g[i]);
		qf_ev_contrast_values(ev, &wk->jfs, cx);
		for (size_t i = 0; i < nc; i++)
			mom_add(&mc[i], cx[i], c0[i]);
		for (int t = 0; t < nt; t++)
			for (int s = 0; s < ev->nsc; s++) {
				struct mom *me = m + nf + ng +
					((size_t)t * ev->nsc + s) * ev->nlang;

				deviations(ev, &wk->jfs, mf, t, s, e);
				deviations(ev, fs, mf, t, s, e0);
				for (int l = 0; l < ev->nlang; l++)
					if (ev->sc[s].in[l])
						mom_add(&me[l], e[l], e0[l]);
			}
	}
	for (size_t i = 0; i < nf + ng + ne + nc; i++)
		mom_close(&m[i], G);
	std_errors(m, nf, fs->fse);
	std_errors(m + nf, ng, fs->gse);
	std_errors(mc, nc, fs->cse);
	for (int t = 0; t < nt; t++)
		for (int s = 0; s < ev->nsc; s++) {
			const struct mom *me = m + nf + ng +
				((size_t)t * ev->nsc + s) * ev->nlang;
			double c = 0;

			for (int l = 0; l < ev->nlang; l++)
				if (ev->sc[s].in[l])
					c += me[l].bad ? NAN : me[l].vj;
			fs->tc[(size_t)t * ev->nsc + s] =
				ev->sc[s].n >= 2 ? c / (ev->sc[s].n - 1) : NAN;
		}
	qf_ev_disp_figs(ev, fs);
	return 0;
}
