/*
 * contrast.c - linear contrasts of the test models (--contrast,
 * --contrasts): for each scope, figure of the comparison (compare.c) and
 * scale, sum_t c_t D_t of the figures (diff) or sum_t c_t log D_t of
 * their logarithms (log), with the coefficients summing to 0: additivity
 * and interactions of configurations, "keeping layers 0 and 11 does more
 * than keeping each" (docs/eval.md, "Contrasts of configurations").
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

/* One term s[0..len) into c; -1 with err set. */
static int term(qf_contrast *c, const char *spec, const char *s, size_t len,
		const char *const *names, int n, qf_err *err)
{
	double sign = s[0] == '+' ? 1 : s[0] == '-' ? -1 : 0, v;
	const char *name;
	int t;

	if (sign == 0)
		return qf_err_set(err, "contrast '%s': term '%.*s' does not start "
				  "with + or -", spec, (int)len, s);
	v = coefficient(s + 1, len - 1, &name);
	if (!(v > 0) || isinf(v))
		return qf_err_set(err, "contrast '%s': term '%.*s': the coefficient "
				  "is not a number > 0", spec, (int)len, s);
	len -= (size_t)(name - s);
	if ((t = model_of(name, len, names, n)) < 0)
		return qf_err_set(err, "contrast '%s': no test model '%.*s'",
				  spec, (int)len, name);
	if (c->coef[t] != 0)
		return qf_err_set(err, "contrast '%s': test model '%s' twice",
				  spec, names[t]);
	c->coef[t] = sign * v;
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

int qf_contrast_parse(qf_contrast *c, const char *spec,
		      const char *const *names, int n, qf_err *err)
{
	const char *eq = strchr(spec, '='), *p;

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
		if (term(c, spec, p, len, names, n, err) < 0)
			goto fail;
		p += len;
	}
	if (check_sum(c, spec, err) < 0)
		goto fail;
	return 0;
fail:
	qf_contrast_free(c);
	return -1;
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
		ev->con[i].name = strdup(c[i].name);
		ev->con[i].coef = malloc((size_t)c[i].n * sizeof *c[i].coef);
		ev->con[i].n = c[i].n;
		if (!ev->con[i].name || !ev->con[i].coef)
			return qf_err_set(err, "out of memory");
		memcpy(ev->con[i].coef, c[i].coef, (size_t)c[i].n * sizeof *c[i].coef);
	}
	return 0;
}

void qf_ev_contrasts_free(qf_eval *ev)
{
	for (int i = 0; i < ev->ncon; i++)
		qf_contrast_free(&ev->con[i]);
	free(ev->con);
	free(ev->cacc);
	ev->con = NULL;
	ev->cacc = NULL;
	ev->ncon = 0;
}

/* ------------------------------------------------------------ values */

/* Contrast c of figure k in scope s on scale x from figures fs. */
static double value(const qf_eval *ev, const struct figs *fs,
		    const qf_contrast *c, int s, int k, int x)
{
	double v = 0;

	for (int t = 0; t < c->n; t++) {
		double g = GFIG(fs, ev, t, s, k);

		if (c->coef[t] == 0)
			continue;
		if (GREA(fs, ev, t, s, k) != R_OK || isnan(g))
			return NAN;
		if (x == SC_LOG) {
			if (!(g > 0))
				return NAN;
			g = log(g);
		}
		v += c->coef[t] * g;
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
					v[CIDX(ev, c, s, j, x)] =
						value(ev, fs, &ev->con[c], s,
						      qf_ev_cfig[j].k, x);
}

/* What the replicates of contrast c scatter about: the estimate, but for
 * tau and tau_mean, whose replicates scatter about the SD of the D_L (or
 * it over the mean) of each model (docs/eval.md, "tau"): the contrast of
 * those. */
static double center(const qf_eval *ev, const qf_contrast *c, int s, int j,
		     int x, double est)
{
	int k = qf_ev_cfig[j].k;
	double v = 0;

	if (k != G_TAU && k != G_TAUR)
		return est;
	for (int t = 0; t < c->n; t++) {
		double sd = ev->est.gsd[(size_t)t * ev->nsc + s];

		if (c->coef[t] == 0)
			continue;
		if (k == G_TAUR)
			sd /= GFIG(&ev->est, ev, t, s, G_MEAN);
		if (x == SC_LOG)
			sd = sd > 0 ? log(sd) : NAN;
		v += c->coef[t] * sd;
	}
	return v;
}

/* ------------------------------------------------------------ a family */

/* One scope, figure and scale: every contrast's columns. */
struct fam {
	int K, B;
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

/* The interval of contrast c (index i) by the evaluation's method, as a
 * figure's (docs/eval.md, "Intervals"); tau and tau_mean: the
 * percentiles moved by est - ctr. */
static void interval(const qf_eval *ev, struct fam *f, int c, int j,
		     size_t i, double ci[2])
{
	int B = f->B, k = qf_ev_cfig[j].k, bad;
	double *v = f->vals, est = f->est[c];

	memcpy(v, f->rep + (size_t)c * B, (size_t)B * sizeof *v);
	if (k == G_TAU || k == G_TAUR) {
		qf_ev_interval(v, B, &ci[0], &ci[1], &bad);
		ci[0] += est - f->ctr[c];
		ci[1] += est - f->ctr[c];
	} else if (ev->o.interval == QF_CI_T && !isnan(ev->est.cse[i])) {
		for (int b = 0; b < B; b++)
			v[B + b] = ev->rep[b].cse[i];
		qf_ev_interval_t(v, v + B, B, est, ev->est.cse[i], &ci[0],
				 &ci[1], &bad);
	} else if (ev->o.interval == QF_CI_BCA) {
		qf_ev_interval_bca(v, B, est, ev->cacc[i], &ci[0], &ci[1], &bad);
	} else {
		qf_ev_interval(v, B, &ci[0], &ci[1], &bad);
	}
}

/* Every column of scope s, figure j and scale x. */
static void family(const qf_eval *ev, int s, int j, int x, struct fam *f)
{
	int K = f->K, B = f->B;

	f->all_ok = B >= 2;
	for (int c = 0; c < K; c++) {
		size_t i = CIDX(ev, c, s, j, x);
		double *r = f->rep + (size_t)c * B, ci[2];

		f->est[c] = value(ev, &ev->est, &ev->con[c], s, qf_ev_cfig[j].k, x);
		f->bad[c] = 0;
		for (int b = 0; b < B; b++) {
			r[b] = value(ev, &ev->rep[b], &ev->con[c], s,
				     qf_ev_cfig[j].k, x);
			f->bad[c] += isnan(r[b]);
		}
		f->se[c] = f->lo[c] = f->hi[c] = f->p[c] = NAN;
		f->ctr[c] = center(ev, &ev->con[c], s, j, x, f->est[c]);
		if (isnan(f->est[c]) || isnan(f->ctr[c]) || f->bad[c] || B < 2) {
			f->all_ok = 0;
			continue;
		}
		f->se[c] = qf_ev_sd(r, B);
		interval(ev, f, c, j, i, ci);
		f->lo[c] = ci[0];
		f->hi[c] = ci[1];
		f->p[c] = qf_ev_boot_p(r, B, f->ctr[c], f->est[c]);
	}
	for (int c = 0; c < K; c++)
		f->ph[c] = f->slo[c] = f->shi[c] = NAN;
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
 * each of its models, what its figure lacks. */
static void put_est_why(FILE *f, const qf_eval *ev, int c, int s, int j,
			int x)
{
	const qf_contrast *con = &ev->con[c];
	int k = qf_ev_cfig[j].k, first = 1;

	for (int t = 0; t < con->n; t++) {
		double g = GFIG(&ev->est, ev, t, s, k);
		int na = GREA(&ev->est, ev, t, s, k) != R_OK || isnan(g);

		if (con->coef[t] == 0 || (!na && (x == SC_DIFF || g > 0)))
			continue;
		if (!first)
			fputc(';', f);
		first = 0;
		if (na)
			qf_ev_put_est_why(f, ev, t, s, k);
		else
			fprintf(f, "%s:not positive", ev->name[t + 1]);
	}
	if (first)	/* the center of tau's replicates: an SD of 0 */
		fputs("sd 0", f);
}

static void put_row(FILE *f, const qf_eval *ev, int s, int j, int x,
		    const struct fam *fm, int c)
{
	int B = fm->B, fam_ok = fm->all_ok;

	fprintf(f, "%s\t%s\t%s\t%s", ev->sc[s].name, ev->con[c].name,
		qf_ev_cfig[j].name, scale_name[x]);
	qf_ev_put_num(f, fm->est[c]);
	qf_ev_put_num(f, fm->se[c]);
	qf_ev_put_num(f, fm->lo[c]);
	qf_ev_put_num(f, fm->hi[c]);
	qf_ev_put_num(f, fm->p[c]);
	qf_ev_put_num(f, fam_ok ? fm->ph[c] : NAN);
	qf_ev_put_num(f, fam_ok ? fm->slo[c] : NAN);
	qf_ev_put_num(f, fam_ok ? fm->shi[c] : NAN);
	fputc('\t', f);
	if (isnan(fm->est[c]) || isnan(fm->ctr[c]))
		put_est_why(f, ev, c, s, j, x);
	else if (B == 0)
		fputs("no bootstrap", f);
	else if (B == 1)
		fputs("one replicate", f);
	else if (fm->bad[c])
		fprintf(f, "ci %d/%d", fm->bad[c], B);
	else
		fputs(fam_ok ? "ok" : "family NA", f);
	fputc('\n', f);
}

int qf_eval_write_contrasts(const qf_eval *ev, FILE *f, qf_err *err)
{
	struct fam fm;

	if (ev->ncon == 0)
		return qf_err_set(err, "a contrasts table needs a contrast");
	if (fam_alloc(&fm, ev->ncon, ev->o.bootstrap) < 0)
		return qf_err_set(err, "out of memory");
	qf_provenance_comment(f);
	fputs("scope\tcontrast\tfigure\tscale\test\tse\tlo\thi\tp\tp_holm\t"
	      "sim_lo\tsim_hi\tstatus\n", f);
	for (int s = 0; s < ev->nsc; s++)
		for (int j = 0; j < NCFIG; j++)
			for (int x = 0; x < NSCALE; x++) {
				family(ev, s, j, x, &fm);
				for (int c = 0; c < ev->ncon; c++)
					put_row(f, ev, s, j, x, &fm, c);
			}
	fam_free(&fm);
	if (qf_out_flush_check(f) < 0)
		return qf_err_set(err, "cannot write the contrasts table: %s",
				  strerror(errno));
	return 0;
}
