/*
 * contrast.c - linear contrasts of the test models (--contrast,
 * --contrasts): for each scope, figure of the comparison (compare.c) and
 * scale, sum_t c_t D_t of the figures (diff) or sum_t c_t log D_t of
 * their logarithms (log), with the coefficients summing to 0: additivity
 * and interactions of configurations, "keeping layers 0 and 11 does more
 * than keeping each" (docs/eval.md, "Contrasts of configurations").  A
 * cross-scope contrast's terms are (model, scope) pairs, sum_i c_i
 * D_{t_i, s_i}, the coefficients of each scope summing to 0: "keeping
 * layers helps the agglutinative languages more than the others".
 *
 * Everything comes from the replicates of bootstrap.c, which are paired
 * (replicate b of every model from the same draws), so a replicate's
 * contrast is the contrast's replicate.  The jackknife (resample.c)
 * computes every contrast on each leave-out set too, which gives it the
 * SE and acceleration the bootstrap-t and BCa need, as for a figure.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_impl.h"

/* ------------------------------------------------------------ parsing */

void qf_contrast_free(qf_contrast *c)
{
	for (int i = 0; c->term && i < c->nterm; i++)
		free(c->term[i].scope);
	free(c->term);
	free(c->name);
	free(c->coef);
	memset(c, 0, sizeof *c);
}

/* The test model of names[0..n) named by s[0..len), or -1. */
static int model_of(const char *s, size_t len, const char *const *names, int n)
{
	for (int t = 0; t < n; t++)
		if (strlen(names[t]) == len && memcmp(names[t], s, len) == 0)
			return t;
	return -1;
}

/* A term's coefficient: "2*" before the name, else 1 (NAN: not a
 * number); *name gets where the name starts. */
static double coefficient(const char *s, size_t len, const char **name)
{
	const char *star = memchr(s, '*', len);
	char num[64];
	double v;
	qf_err e;

	*name = s;
	if (!star)
		return 1;
	*name = star + 1;
	if ((size_t)(star - s) >= sizeof num)
		return NAN;
	memcpy(num, s, (size_t)(star - s));
	num[star - s] = 0;
	return qf_parse_double(num, &v, &e) < 0 ? NAN : v;
}

/* Term MODEL@SCOPE (scope[0..len)) of test model t and coefficient v
 * into c's terms; -1 with err set. */
static int scoped_term(qf_contrast *c, const char *spec, const char *s,
		       size_t slen, int t, double v, const char *scope,
		       size_t len, const char *const *names, qf_err *err)
{
	qf_contrast_term *p;

	if (len == 0)
		return qf_err_set(err, "contrast '%s': term '%.*s': no scope "
				  "after @", spec, (int)slen, s);
	for (int i = 0; i < c->nterm; i++)
		if (c->term[i].model == t && strlen(c->term[i].scope) == len &&
		    memcmp(c->term[i].scope, scope, len) == 0)
			return qf_err_set(err, "contrast '%s': test model '%s' "
					  "twice in scope %.*s", spec, names[t],
					  (int)len, scope);
	if (!(p = realloc(c->term, ((size_t)c->nterm + 1) * sizeof *p)))
		return qf_err_set(err, "out of memory");
	c->term = p;
	p += c->nterm;
	if (!(p->scope = strndup(scope, len)))
		return qf_err_set(err, "out of memory");
	p->model = t;
	p->coef = v;
	c->nterm++;
	return 0;
}

/* One term s[0..len) into c; -1 with err set.  The first '@' ends the
 * model's name (qf-eval's names hold none). */
static int term(qf_contrast *c, const char *spec, const char *s, size_t len,
		const char *const *names, int n, int *plain, qf_err *err)
{
	double sign = s[0] == '+' ? 1 : s[0] == '-' ? -1 : 0, v;
	const char *name, *at = memchr(s, '@', len);
	size_t mlen = at ? (size_t)(at - s) : len;
	int t;

	if (sign == 0)
		return qf_err_set(err, "contrast '%s': term '%.*s' does not start "
				  "with + or -", spec, (int)len, s);
	v = coefficient(s + 1, mlen - 1, &name);
	if (!(v > 0) || isinf(v))
		return qf_err_set(err, "contrast '%s': term '%.*s': the coefficient "
				  "is not a number > 0", spec, (int)len, s);
	mlen -= (size_t)(name - s);
	if ((t = model_of(name, mlen, names, n)) < 0)
		return qf_err_set(err, "contrast '%s': no test model '%.*s'",
				  spec, (int)mlen, name);
	if (at)
		return scoped_term(c, spec, s, len, t, sign * v, at + 1,
				   len - (size_t)(at + 1 - s), names, err);
	if (c->coef[t] != 0)
		return qf_err_set(err, "contrast '%s': test model '%s' twice",
				  spec, names[t]);
	c->coef[t] = sign * v;
	(*plain)++;
	return 0;
}

/* The coefficients sum to 0, up to rounding. */
static int check_sum(const qf_contrast *c, const char *spec, qf_err *err)
{
	double sum = 0, abs = 0;
	int k = 0;

	for (int t = 0; t < c->n; t++) {
		sum += c->coef[t];
		abs += fabs(c->coef[t]);
		k += c->coef[t] != 0;
	}
	if (k == 0)
		return qf_err_set(err, "contrast '%s': no terms", spec);
	if (fabs(sum) > 1e-9 * abs)
		return qf_err_set(err, "contrast '%s': the coefficients sum to %g, "
				  "not 0", spec, sum);
	return 0;
}

/* A cross-scope contrast's: those of each scope sum to 0, up to
 * rounding, in the order of the scopes' first terms. */
static int check_scope_sums(const qf_contrast *c, const char *spec,
			    qf_err *err)
{
	for (int i = 0; i < c->nterm; i++) {
		const char *sc = c->term[i].scope;
		double sum = 0, abs = 0;
		int first = 1;

		for (int j = 0; j < c->nterm && first; j++)
			first = j >= i || strcmp(c->term[j].scope, sc) != 0;
		if (!first)
			continue;
		for (int j = i; j < c->nterm; j++)
			if (strcmp(c->term[j].scope, sc) == 0) {
				sum += c->term[j].coef;
				abs += fabs(c->term[j].coef);
			}
		if (fabs(sum) > 1e-9 * abs)
			return qf_err_set(err, "contrast '%s': the coefficients of "
					  "scope %s sum to %g, not 0", spec, sc,
					  sum);
	}
	return 0;
}

int qf_contrast_parse(qf_contrast *c, const char *spec,
		      const char *const *names, int n, qf_err *err)
{
	const char *eq = strchr(spec, '='), *p;
	int plain = 0;		/* terms without a scope */

	memset(c, 0, sizeof *c);
	if (!eq || eq == spec)
		return qf_err_set(err, "contrast '%s' is not NAME=TERMS", spec);
	for (p = spec; p < eq; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return qf_err_set(err, "contrast '%s': a control character "
					  "in the name", spec);
	c->name = strndup(spec, (size_t)(eq - spec));
	c->coef = calloc((size_t)(n > 0 ? n : 1), sizeof *c->coef);
	c->n = n;
	if (!c->name || !c->coef) {
		qf_contrast_free(c);
		return qf_err_set(err, "out of memory");
	}
	for (p = eq + 1; *p;) {
		size_t len;

		if (*p == ' ' || *p == '\t') {
			p++;
			continue;
		}
		len = strcspn(p, " \t");
		if (term(c, spec, p, len, names, n, &plain, err) < 0)
			goto fail;
		p += len;
	}
	if (c->nterm && plain) {
		qf_err_set(err, "contrast '%s': some terms name a scope, some do "
			   "not", spec);
		goto fail;
	}
	if (c->nterm ? check_scope_sums(c, spec, err) < 0 :
	    check_sum(c, spec, err) < 0)
		goto fail;
	return 0;
fail:
	qf_contrast_free(c);
	return -1;
}

/* A copy of contrast c into d (zeroed); -1: out of memory. */
static int contrast_copy(qf_contrast *d, const qf_contrast *c)
{
	size_t n = (size_t)(c->n > 0 ? c->n : 1);

	d->name = strdup(c->name);
	d->coef = malloc(n * sizeof *d->coef);
	d->n = c->n;
	if (!d->name || !d->coef)
		return -1;
	memcpy(d->coef, c->coef, (size_t)c->n * sizeof *c->coef);
	if (c->nterm == 0)
		return 0;
	if (!(d->term = calloc((size_t)c->nterm, sizeof *d->term)))
		return -1;
	d->nterm = c->nterm;
	for (int i = 0; i < c->nterm; i++) {
		d->term[i] = c->term[i];
		if (!(d->term[i].scope = strdup(c->term[i].scope)))
			return -1;
	}
	return 0;
}

int qf_eval_contrasts(qf_eval *ev, const qf_contrast *c, int n, qf_err *err)
{
	qf_ev_contrasts_free(ev);
	if (n == 0)
		return 0;
	if (!(ev->con = calloc((size_t)n, sizeof *ev->con)))
		return qf_err_set(err, "out of memory");
	ev->ncon = n;
	for (int i = 0; i < n; i++) {
		if (c[i].n != ev->nm - 1)
			return qf_err_set(err, "contrast %s: %d coefficients for %d "
					  "test models", c[i].name, c[i].n,
					  ev->nm - 1);
		for (int k = 0; k < c[i].nterm; k++)
			if (c[i].term[k].model < 0 || c[i].term[k].model >= c[i].n)
				return qf_err_set(err, "contrast %s: term %d: no test "
						  "model %d", c[i].name, k,
						  c[i].term[k].model);
		if (contrast_copy(&ev->con[i], &c[i]) < 0)
			return qf_err_set(err, "out of memory");
	}
	return 0;
}

/* "contrast 'x': no scope 'foo' (scopes: all, ...)": the scopes as many
 * as the message holds. */
static int no_scope(const qf_eval *ev, const qf_contrast *c, const char *name,
		    qf_err *err)
{
	char list[640] = "";
	size_t n = 0;

	for (int s = 0; s < ev->nsc; s++) {
		size_t k = strlen(ev->sc[s].name);

		if (n + k + 8 >= sizeof list) {
			strcpy(list + n, ", ...");
			break;
		}
		n += (size_t)sprintf(list + n, "%s%s", s ? ", " : "",
				     ev->sc[s].name);
	}
	return qf_err_set(err, "contrast '%s': no scope '%.200s' (scopes: %s)",
			  c->name, name, list);
}

int qf_ev_contrast_scopes(qf_eval *ev, qf_err *err)
{
	for (int c = 0; c < ev->ncon; c++) {
		const qf_contrast *k = &ev->con[c];

		if (k->nterm == 0)
			continue;
		if (!ev->csc && !(ev->csc = calloc((size_t)ev->ncon,
						   sizeof *ev->csc)))
			return qf_err_set(err, "out of memory");
		if (!(ev->csc[c] = malloc((size_t)k->nterm * sizeof *ev->csc[c])))
			return qf_err_set(err, "out of memory");
		for (int i = 0; i < k->nterm; i++) {
			int s = 0;

			while (s < ev->nsc &&
			       strcmp(ev->sc[s].name, k->term[i].scope) != 0)
				s++;
			if (s == ev->nsc)
				return no_scope(ev, k, k->term[i].scope, err);
			ev->csc[c][i] = s;
		}
	}
	return 0;
}

void qf_ev_contrasts_free(qf_eval *ev)
{
	for (int i = 0; i < ev->ncon; i++) {
		qf_contrast_free(&ev->con[i]);
		if (ev->csc)
			free(ev->csc[i]);
	}
	free(ev->con);
	free(ev->csc);
	free(ev->cacc);
	ev->con = NULL;
	ev->csc = NULL;
	ev->cacc = NULL;
	ev->ncon = 0;
}

/* ------------------------------------------------------------ values */

/* The number of terms of contrast c: a cross-scope contrast's, else one
 * per test model (coefficient 0 for those not in it). */
static int nterms(const qf_eval *ev, int c)
{
	return ev->con[c].nterm ? ev->con[c].nterm : ev->con[c].n;
}

/* Term i of contrast c in the row of scope s: its coefficient, its test
 * model in *t and scope in *ts (a cross-scope contrast's own, else s). */
static double term_of(const qf_eval *ev, int c, int i, int s, int *t,
		      int *ts)
{
	const qf_contrast *k = &ev->con[c];

	if (k->nterm) {
		*t = k->term[i].model;
		*ts = ev->csc[c][i];
		return k->term[i].coef;
	}
	*t = i;
	*ts = s;
	return k->coef[i];
}

/* Contrast c of figure k in scope s on scale x from figures fs. */
static double value(const qf_eval *ev, const struct figs *fs, int c, int s,
		    int k, int x)
{
	double v = 0;

	for (int i = 0; i < nterms(ev, c); i++) {
		int t, ts;
		double w = term_of(ev, c, i, s, &t, &ts), g;

		if (w == 0)
			continue;
		g = GFIG(fs, ev, t, ts, k);
		if (GREA(fs, ev, t, ts, k) != R_OK || isnan(g))
			return NAN;
		if (x == SC_LOG) {
			if (!(g > 0))
				return NAN;
			g = log(g);
		}
		v += w * g;
	}
	return v;
}

void qf_ev_contrast_values(const qf_eval *ev, const struct figs *fs,
			   double *v)
{
	for (int c = 0; c < ev->ncon; c++)
		for (int s = 0; s < ev->nsc; s++)
			for (int j = 0; j < NCFIG; j++)
				for (int x = 0; x < NSCALE; x++)
					/* a cross-scope contrast: once */
					v[CIDX(ev, c, s, j, x)] =
						ev->con[c].nterm && s > 0 ?
						v[CIDX(ev, c, 0, j, x)] :
						value(ev, fs, c, s,
						      qf_ev_cfig[j].k, x);
}

/* What the replicates of contrast c scatter about: the estimate, but for
 * tau and tau_mean, whose replicates scatter about the SD of the D_L (or
 * it over the mean) of each model (docs/eval.md, "tau"): the contrast of
 * those. */
static double center(const qf_eval *ev, int c, int s, int j, int x,
		     double est)
{
	int k = qf_ev_cfig[j].k;
	double v = 0;

	if (k != G_TAU && k != G_TAUR)
		return est;
	for (int i = 0; i < nterms(ev, c); i++) {
		int t, ts;
		double w = term_of(ev, c, i, s, &t, &ts), sd;

		if (w == 0)
			continue;
		sd = ev->est.gsd[(size_t)t * ev->nsc + ts];
		if (k == G_TAUR)
			sd /= GFIG(&ev->est, ev, t, ts, G_MEAN);
		if (x == SC_LOG)
			sd = sd > 0 ? log(sd) : NAN;
		v += w * sd;
	}
	return v;
}

/* ------------------------------------------------------------ a family */

/* One scope (or the cross-scope contrasts), figure and scale: the
 * columns of contrasts con[0..K). */
struct fam {
	int K, B;
	const int *con;		/* [K]: the family's contrasts */
	double *rep;		/* [K][B] */
	double *vals;		/* [2B]: an interval's scratch */
	double *scr;		/* [B] */
	double *est, *ctr, *se, *lo, *hi, *p, *ph, *slo, *shi, *mse; /* [K] */
	int *bad, *ord;		/* [K] */
	int all_ok;
};

static void fam_free(struct fam *f)
{
	free(f->rep);
	free(f->est);
	free(f->bad);
}

/* Room for families of up to K contrasts. */
static int fam_alloc(struct fam *f, int K, int B)
{
	size_t nb = (size_t)(B > 0 ? B : 1), k = (size_t)K;
	double **const col[] = { &f->est, &f->ctr, &f->se, &f->lo, &f->hi,
				 &f->p, &f->ph, &f->slo, &f->shi, &f->mse };

	memset(f, 0, sizeof *f);
	f->K = K;
	f->B = B;
	/* the replicates, then 2B of an interval's, then B of max-T's */
	f->rep = malloc((k + 3) * nb * sizeof *f->rep);
	f->bad = malloc(2 * k * sizeof *f->bad);
	if (!f->rep || !f->bad ||
	    !qf_ev_columns(col, (int)(sizeof col / sizeof col[0]), k)) {
		fam_free(f);
		return -1;
	}
	f->vals = f->rep + k * nb;
	f->scr = f->vals + 2 * nb;
	f->ord = f->bad + k;
	return 0;
}

/* The interval of the family's i-th contrast (index ci) by the
 * evaluation's method, as a figure's (docs/eval.md, "Intervals"); tau
 * and tau_mean: the percentiles moved by est - ctr. */
static void interval(const qf_eval *ev, struct fam *f, int i, int j,
		     size_t ci, double out[2])
{
	int B = f->B, k = qf_ev_cfig[j].k, bad;
	double *v = f->vals, est = f->est[i];

	memcpy(v, f->rep + (size_t)i * B, (size_t)B * sizeof *v);
	if (k == G_TAU || k == G_TAUR) {
		qf_ev_interval(v, B, &out[0], &out[1], &bad);
		out[0] += est - f->ctr[i];
		out[1] += est - f->ctr[i];
	} else if (ev->o.interval == QF_CI_T && !isnan(ev->est.cse[ci])) {
		for (int b = 0; b < B; b++)
			v[B + b] = ev->rep[b].cse[ci];
		qf_ev_interval_t(v, v + B, B, est, ev->est.cse[ci], &out[0],
				 &out[1], &bad);
	} else if (ev->o.interval == QF_CI_BCA) {
		qf_ev_interval_bca(v, B, est, ev->cacc[ci], &out[0], &out[1],
				   &bad);
	} else {
		qf_ev_interval(v, B, &out[0], &out[1], &bad);
	}
}

/* Every column of the family of contrasts f->con[0..K) in scope s (any,
 * for cross-scope contrasts), figure j and scale x. */
static void family(const qf_eval *ev, int s, int j, int x, struct fam *f)
{
	int K = f->K, B = f->B, k = qf_ev_cfig[j].k;

	f->all_ok = B >= 2;
	for (int i = 0; i < K; i++) {
		int c = f->con[i];
		size_t ci = CIDX(ev, c, s, j, x);
		double *r = f->rep + (size_t)i * B, lh[2];

		f->est[i] = value(ev, &ev->est, c, s, k, x);
		f->bad[i] = 0;
		for (int b = 0; b < B; b++) {
			r[b] = value(ev, &ev->rep[b], c, s, k, x);
			f->bad[i] += isnan(r[b]);
		}
		f->se[i] = f->lo[i] = f->hi[i] = f->p[i] = NAN;
		f->ctr[i] = center(ev, c, s, j, x, f->est[i]);
		if (isnan(f->est[i]) || isnan(f->ctr[i]) || f->bad[i] || B < 2) {
			f->all_ok = 0;
			continue;
		}
		f->se[i] = qf_ev_sd(r, B);
		interval(ev, f, i, j, ci, lh);
		f->lo[i] = lh[0];
		f->hi[i] = lh[1];
		f->p[i] = qf_ev_boot_p(r, B, f->ctr[i], f->est[i]);
	}
	for (int i = 0; i < K; i++)
		f->ph[i] = f->slo[i] = f->shi[i] = NAN;
	if (!f->all_ok)
		return;
	/* (the se qf_ev_maxt gives, mse, is se again) */
	qf_ev_maxt(f->rep, f->ctr, f->est, K, B, -1, f->mse, f->slo, f->shi,
		   f->scr);
	qf_ev_holm(f->p, K, -1, f->ord, f->ph);
}

/* ------------------------------------------------------------ rows */

static const char *const scale_name[NSCALE] = { "diff", "log" };

/* Why contrast c's estimate of figure j in scope s on scale x is NA: for
 * each of its terms, what its figure lacks ("MODEL:why", a cross-scope
 * contrast's "MODEL@SCOPE:why"). */
static void put_est_why(FILE *f, const qf_eval *ev, int c, int s, int j,
			int x)
{
	int k = qf_ev_cfig[j].k, first = 1;

	for (int i = 0; i < nterms(ev, c); i++) {
		int t, ts;
		double w = term_of(ev, c, i, s, &t, &ts);
		double g = GFIG(&ev->est, ev, t, ts, k);
		int na = GREA(&ev->est, ev, t, ts, k) != R_OK || isnan(g);

		if (w == 0 || (!na && (x == SC_DIFF || g > 0)))
			continue;
		if (!first)
			fputc(';', f);
		first = 0;
		fputs(ev->name[t + 1], f);
		if (ev->con[c].nterm)
			fprintf(f, "@%s", ev->sc[ts].name);
		fputc(':', f);
		if (na)
			qf_ev_put_why(f, ev, t, ts, k);
		else
			fputs("not positive", f);
	}
	if (first)	/* the center of tau's replicates: an SD of 0 */
		fputs("sd 0", f);
}

/* The scope column of contrast c's rows: scope s's name, or a cross-scope
 * contrast's scopes in order of first appearance, '+'-joined. */
static void put_scope(FILE *f, const qf_eval *ev, int c, int s)
{
	const qf_contrast *k = &ev->con[c];

	if (!k->nterm) {
		fputs(ev->sc[s].name, f);
		return;
	}
	for (int i = 0, n = 0; i < k->nterm; i++) {
		int seen = 0;

		for (int h = 0; h < i && !seen; h++)
			seen = ev->csc[c][h] == ev->csc[c][i];
		if (!seen)
			fprintf(f, "%s%s", n++ ? "+" : "", ev->sc[ev->csc[c][i]].name);
	}
}

/* The row of the family's i-th contrast. */
static void put_row(FILE *f, const qf_eval *ev, int s, int j, int x,
		    const struct fam *fm, int i)
{
	int B = fm->B, fam_ok = fm->all_ok, c = fm->con[i];

	put_scope(f, ev, c, s);
	fprintf(f, "\t%s\t%s\t%s", ev->con[c].name, qf_ev_cfig[j].name,
		scale_name[x]);
	qf_ev_put_num(f, fm->est[i]);
	qf_ev_put_num(f, fm->se[i]);
	qf_ev_put_num(f, fm->lo[i]);
	qf_ev_put_num(f, fm->hi[i]);
	qf_ev_put_num(f, fm->p[i]);
	qf_ev_put_num(f, fam_ok ? fm->ph[i] : NAN);
	qf_ev_put_num(f, fam_ok ? fm->slo[i] : NAN);
	qf_ev_put_num(f, fam_ok ? fm->shi[i] : NAN);
	fputc('\t', f);
	if (isnan(fm->est[i]) || isnan(fm->ctr[i]))
		put_est_why(f, ev, c, s, j, x);
	else if (B == 0)
		fputs("no bootstrap", f);
	else if (B == 1)
		fputs("one replicate", f);
	else if (fm->bad[i])
		fprintf(f, "ci %d/%d", fm->bad[i], B);
	else
		fputs(fam_ok ? "ok" : "family NA", f);
	fputc('\n', f);
}

/* The rows of one scope, figure and scale: family fm (its K and con
 * set) computed and written. */
static void put_family(FILE *f, const qf_eval *ev, int s, int j, int x,
		       struct fam *fm)
{
	if (fm->K == 0)
		return;
	family(ev, s, j, x, fm);
	for (int i = 0; i < fm->K; i++)
		put_row(f, ev, s, j, x, fm, i);
}

int qf_eval_write_contrasts(const qf_eval *ev, FILE *f, qf_err *err)
{
	struct fam fm;
	int *con, np = 0, nx = 0;

	if (ev->ncon == 0)
		return qf_err_set(err, "a contrasts table needs a contrast");
	if (!(con = malloc((size_t)ev->ncon * sizeof *con)))
		return qf_err_set(err, "out of memory");
	if (fam_alloc(&fm, ev->ncon, ev->o.bootstrap) < 0) {
		free(con);
		return qf_err_set(err, "out of memory");
	}
	/* the contrasts within each scope first, then the cross-scope ones */
	for (int c = 0; c < ev->ncon; c++)
		np += !ev->con[c].nterm;
	for (int c = 0; c < ev->ncon; c++)
		con[ev->con[c].nterm ? np + nx++ : c - nx] = c;
	qf_provenance_comment(f);
	fputs("scope\tcontrast\tfigure\tscale\test\tse\tlo\thi\tp\tp_holm\t"
	      "sim_lo\tsim_hi\tstatus\n", f);
	fm.con = con;
	fm.K = np;
	for (int s = 0; s < ev->nsc; s++)
		for (int j = 0; j < NCFIG; j++)
			for (int x = 0; x < NSCALE; x++)
				put_family(f, ev, s, j, x, &fm);
	fm.con = con + np;
	fm.K = nx;
	for (int j = 0; j < NCFIG; j++)
		for (int x = 0; x < NSCALE; x++)
			put_family(f, ev, 0, j, x, &fm);
	fam_free(&fm);
	free(con);
	if (qf_out_flush_check(f) < 0)
		return qf_err_set(err, "cannot write the contrasts table: %s",
				  strerror(errno));
	return 0;
}
