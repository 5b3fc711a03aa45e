/*
 * reliab.c - the reliability table of qf-eval (--reliability): for each
 * configuration of a quantizer (its realizations: --realizations) and
 * each degradation measure, how much of the per-language figure is
 * language and how much is one rounding: split-half and
 * realization-to-realization Spearman correlations, the correlation with
 * bytes per character, and a two-way random-effects ANOVA of languages
 * by realizations (docs/eval.md, "Realizations and reliability").
 *
 * The per-language figures are the language table's, computed again
 * with qf_ev_lang_figs from all units and from two halves of them.
 * Everything here runs once, after qf_eval_finish, on one thread, so the
 * table does not depend on the thread count.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_impl.h"

/* The three sets of figures: from all units, from half A and half B. */
enum { H_ALL, H_A, H_B, NH };

/* A configuration's row figures, in the order of the table's columns. */
enum {
	X_SPLIT, X_SPLIT_SB, X_REAL, X_REAL_MIN, X_REAL_MAX, X_BPC_RHO,
	X_BPC_P, X_VAR_LANG, X_VAR_REAL, X_VAR_RESID, X_SHARE_LANG,
	X_VAR_UNIT, X_SHARE_UNIT, X_SHARE_NET, NX
};

static const char *const xname[NX] = {
	"split_half", "split_half_sb", "real_rho", "real_rho_min",
	"real_rho_max", "bpc_rho", "bpc_p", "var_lang", "var_real",
	"var_resid", "share_lang", "var_unit", "share_unit", "share_lang_net",
};

struct reliab {
	const qf_eval *ev;
	struct figs fs[NH];
	unsigned char *half;	/* [nu]: the unit's half, 0 (A) or 1 (B) */
	uint64_t nunits;	/* parallel units */
	double *bpc;		/* [nlang]: bytes per character */
	/* one row: D [nlang * R], scratch [nlang] and cm [R] */
	double *d, *a, *b, *ra, *rb, *cm;
	int *ord;
};

/* ------------------------------------------------------------ statistics */

/* Average ranks (1-based) of v[0..n) into rk; ties share their mean
 * rank.  ord: scratch [n]. */
static void ranks(const double *v, int n, double *rk, int *ord)
{
	for (int i = 0; i < n; i++)
		ord[i] = i;
	/* insertion sort: n is a number of languages */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[ord[j - 1]] > v[ord[j]]; j--) {
			int t = ord[j];

			ord[j] = ord[j - 1];
			ord[j - 1] = t;
		}
	for (int i = 0; i < n;) {
		int j = i;

		while (j + 1 < n && v[ord[j + 1]] == v[ord[i]])
			j++;
		for (int k = i; k <= j; k++)
			rk[ord[k]] = (i + j) / 2.0 + 1;
		i = j + 1;
	}
}

/* Pearson's correlation of x and y [n]; NaN when either is constant. */
static double pearson(const double *x, const double *y, int n)
{
	double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0, r;

	for (int i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= n;
	my /= n;
	for (int i = 0; i < n; i++) {
		sxy += (x[i] - mx) * (y[i] - my);
		sxx += (x[i] - mx) * (x[i] - mx);
		syy += (y[i] - my) * (y[i] - my);
	}
	if (sxx == 0 || syy == 0)
		return NAN;
	r = sxy / sqrt(sxx * syy);
	return r > 1 ? 1 : r < -1 ? -1 : r;
}

/* Spearman's rho of x and y [n] (Pearson's of their average ranks);
 * NaN with fewer than 2 values or a constant side. */
static double spearman(struct reliab *rl, const double *x, const double *y,
		       int n)
{
	if (n < 2)
		return NAN;
	ranks(x, n, rl->ra, rl->ord);
	ranks(y, n, rl->rb, rl->ord);
	return pearson(rl->ra, rl->rb, n);
}

/* The continued fraction of the incomplete beta function (modified
 * Lentz), for x < (a + 1) / (a + b + 2). */
static double beta_cf(double a, double b, double x)
{
	const double tiny = 1e-300;
	double c = 1, d = 1 - (a + b) * x / (a + 1), h;

	d = 1 / (fabs(d) < tiny ? tiny : d);
	h = d;
	for (int m = 1; m <= 500; m++) {
		double aa, del;

		aa = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
		d = 1 + aa * d;
		c = 1 + aa / c;
		d = 1 / (fabs(d) < tiny ? tiny : d);
		c = fabs(c) < tiny ? tiny : c;
		h *= d * c;
		aa = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
		d = 1 + aa * d;
		c = 1 + aa / c;
		d = 1 / (fabs(d) < tiny ? tiny : d);
		c = fabs(c) < tiny ? tiny : c;
		del = d * c;
		h *= del;
		if (fabs(del - 1) < 1e-15)
			break;
	}
	return h;
}

/* The regularized incomplete beta function I_x(a, b). */
static double beta_inc(double a, double b, double x)
{
	double lbt;

	if (x <= 0)
		return 0;
	if (x >= 1)
		return 1;
	lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
	if (x < (a + 1) / (a + b + 2))
		return exp(lbt) * beta_cf(a, b, x) / a;
	return 1 - exp(lbt) * beta_cf(b, a, 1 - x) / b;
}

/* The two-sided p of Spearman's rho over n values from Student's t with
 * n - 2 degrees of freedom (scipy.stats.spearmanr's); NaN for n < 3. */
static double spearman_p(double rho, int n)
{
	double df = n - 2, t2;

	if (isnan(rho) || n < 3)
		return NAN;
	if (fabs(rho) >= 1)
		return 0;
	t2 = rho * rho * df / ((1 + rho) * (1 - rho));
	return beta_inc(df / 2, 0.5, df / (df + t2));
}

/* The two-way random-effects ANOVA (method of moments, one value a
 * cell) of d [n][R]: var_lang, var_real, var_resid, share_lang into x.
 * cm: scratch [R], the realizations' means. */
static void anova(const double *d, int n, int R, double *cm, double *x)
{
	double g = 0, ssl = 0, ssr = 0, sse = 0, msl, msr, mse, den;

	for (int r = 0; r < R; r++) {
		cm[r] = 0;
		for (int l = 0; l < n; l++)
			cm[r] += d[l * R + r] / n;
		g += cm[r] / R;
	}
	for (int r = 0; r < R; r++)
		ssr += (cm[r] - g) * (cm[r] - g);
	for (int l = 0; l < n; l++) {
		double ml = 0;

		for (int r = 0; r < R; r++)
			ml += d[l * R + r] / R;
		ssl += (ml - g) * (ml - g);
		for (int r = 0; r < R; r++) {
			double e = d[l * R + r] - ml - cm[r] + g;

			sse += e * e;
		}
	}
	msl = R * ssl / (n - 1);
	msr = n * ssr / (R - 1);
	mse = sse / ((double)(n - 1) * (R - 1));
	x[X_VAR_LANG] = fmax(0, (msl - mse) / R);
	x[X_VAR_REAL] = fmax(0, (msr - mse) / n);
	x[X_VAR_RESID] = mse;
	den = x[X_VAR_LANG] + mse;
	x[X_SHARE_LANG] = den > 0 ? x[X_VAR_LANG] / den : NAN;
}

/* ------------------------------------------------------------ halves */

struct uname {
	const char *s;
	size_t u;
};

static int cmp_uname(const void *a, const void *b)
{
	return strcmp(((const struct uname *)a)->s, ((const struct uname *)b)->s);
}

/* Without unit ids: each language's units alternate in stream order;
 * the parallel units are the most a language has. */
static void split_stream(struct reliab *rl)
{
	const qf_eval *ev = rl->ev;

	rl->nunits = 0;
	for (int l = 0; l < ev->nlang; l++) {
		for (int i = 0; i < ev->lang[l].n; i++)
			rl->half[ev->lang[l].unit[i]] = (unsigned char)(i % 2);
		if ((uint64_t)ev->lang[l].n > rl->nunits)
			rl->nunits = (uint64_t)ev->lang[l].n;
	}
}

/* Each unit's half: with unit ids, the distinct names sorted bytewise
 * alternate, a record without an id named by its ordinal (as in the
 * units table); without any id, split_stream.  -1: out of memory. */
static int split_units(struct reliab *rl)
{
	const qf_eval *ev = rl->ev;
	struct uname *nm = NULL;
	char (*ord)[24] = NULL;
	size_t any = 0, rank = 0;

	for (size_t i = 0; i < ev->nu; i++)
		any += ev->u[i].id != NULL;
	if (!any) {
		split_stream(rl);
		return 0;
	}
	nm = malloc(ev->nu * sizeof *nm);
	ord = malloc(ev->nu * sizeof *ord);
	if (!nm || !ord) {
		free(nm);
		free(ord);
		return -1;
	}
	for (size_t i = 0; i < ev->nu; i++) {
		snprintf(ord[i], sizeof ord[i], "%" PRIu64, ev->u[i].ordinal);
		nm[i].s = ev->u[i].id ? ev->u[i].id : ord[i];
		nm[i].u = i;
	}
	qsort(nm, ev->nu, sizeof *nm, cmp_uname);
	for (size_t k = 0; k < ev->nu; k++) {
		if (k > 0 && strcmp(nm[k].s, nm[k - 1].s) != 0)
			rank++;
		rl->half[nm[k].u] = (unsigned char)(rank % 2);
	}
	rl->nunits = rank + 1;
	free(nm);
	free(ord);
	return 0;
}

/* The figures of every language and model from its units in half h
 * (H_ALL: all of them) into rl->fs[h]; -1: out of memory. */
static int half_figs(struct reliab *rl, int h, struct work *wk)
{
	const qf_eval *ev = rl->ev;

	for (int l = 0; l < ev->nlang; l++) {
		const struct lang *lg = &ev->lang[l];
		int n = 0;

		for (int i = 0; i < lg->n; i++)
			if (h == H_ALL || rl->half[lg->unit[i]] == h - H_A)
				wk->draw[n++] = i;
		if (qf_ev_lang_figs(ev, l, wk->draw, n, wk, &rl->fs[h]) < 0)
			return -1;
	}
	return 0;
}

/* Bytes per character of each language's units. */
static void lang_bpc(struct reliab *rl)
{
	const qf_eval *ev = rl->ev;

	for (int l = 0; l < ev->nlang; l++) {
		double b = 0, c = 0;

		for (int i = 0; i < ev->lang[l].n; i++) {
			b += (double)ev->u[ev->lang[l].unit[i]].bytes;
			c += (double)ev->u[ev->lang[l].unit[i]].chars;
		}
		rl->bpc[l] = c > 0 ? b / c : NAN;
	}
}

/* ------------------------------------------------------------ set-up */

static void reliab_free(struct reliab *rl)
{
	for (int h = 0; h < NH; h++)
		qf_ev_figs_free(&rl->fs[h]);
	free(rl->half);
	free(rl->bpc);
	free(rl->d);
	free(rl->a);
	free(rl->b);
	free(rl->ra);
	free(rl->rb);
	free(rl->cm);
	free(rl->ord);
}

/* The halves, the three sets of figures and the scratch of rows of up
 * to R realizations; -1: out of memory. */
static int reliab_init(struct reliab *rl, const qf_eval *ev, int R)
{
	size_t n = (size_t)ev->nlang, maxn = 1;
	struct work wk = { 0 };
	int rc = -1;

	rl->ev = ev;
	for (int l = 0; l < ev->nlang; l++)
		maxn = (size_t)ev->lang[l].n > maxn ? (size_t)ev->lang[l].n : maxn;
	rl->half = malloc(ev->nu ? ev->nu : 1);
	rl->bpc = malloc((n + 1) * sizeof *rl->bpc);
	rl->d = malloc((n * R + 1) * sizeof *rl->d);
	rl->a = malloc((n + 1) * sizeof *rl->a);
	rl->b = malloc((n + 1) * sizeof *rl->b);
	rl->ra = malloc((n + 1) * sizeof *rl->ra);
	rl->rb = malloc((n + 1) * sizeof *rl->rb);
	rl->cm = malloc(((size_t)R + 1) * sizeof *rl->cm);
	rl->ord = malloc((n + 1) * sizeof *rl->ord);
	wk.acc = malloc((size_t)ev->nm * sizeof *wk.acc);
	wk.draw = malloc(maxn * sizeof *wk.draw);
	wk.drawcap = maxn;
	if (!rl->half || !rl->bpc || !rl->d || !rl->a || !rl->b || !rl->ra ||
	    !rl->rb || !rl->cm || !rl->ord || !wk.acc || !wk.draw || split_units(rl) < 0)
		goto out;
	lang_bpc(rl);
	for (int h = 0; h < NH; h++)
		if (qf_ev_figs_alloc(ev, &rl->fs[h], 0) < 0 ||
		    half_figs(rl, h, &wk) < 0)
			goto out;
	rc = 0;
out:
	free(wk.klbuf);
	free(wk.acc);
	free(wk.draw);
	return rc;
}

/* ------------------------------------------------------------ rows */

/* A configuration: its test models' indices (models, the reference 0). */
struct config {
	const char *name;
	int *m, R;
};

/* The first language (code order) where test model m's figure k has no
 * value in any of sets h0..h1, or -1. */
static int first_na(const struct reliab *rl, const struct config *c, int k,
		    int h0, int h1)
{
	const qf_eval *ev = rl->ev;

	for (int l = 0; l < ev->nlang; l++)
		for (int r = 0; r < c->R; r++)
			for (int h = h0; h <= h1; h++)
				if (isnan(FIG(&rl->fs[h], ev, l, c->m[r], k)))
					return l;
	return -1;
}

/* split_half and split_half_sb: the mean over realizations of Spearman's
 * rho between the halves' figures k. */
static void split_figs(struct reliab *rl, const struct config *c, int k,
		       double *x)
{
	const qf_eval *ev = rl->ev;
	double s = 0, rho;

	for (int r = 0; r < c->R; r++) {
		for (int l = 0; l < ev->nlang; l++) {
			rl->a[l] = FIG(&rl->fs[H_A], ev, l, c->m[r], k);
			rl->b[l] = FIG(&rl->fs[H_B], ev, l, c->m[r], k);
		}
		s += spearman(rl, rl->a, rl->b, ev->nlang);
	}
	rho = s / c->R;
	x[X_SPLIT] = rho;
	x[X_SPLIT_SB] = 1 + rho != 0 ? 2 * rho / (1 + rho) : NAN;
}

/* real_rho, real_rho_min, real_rho_max over the pairs of realizations
 * (rl->d holds D [nlang][R]). */
static void real_figs(struct reliab *rl, const struct config *c, double *x)
{
	int n = rl->ev->nlang, R = c->R, np = 0;
	double s = 0, mn = INFINITY, mx = -INFINITY;

	for (int r = 0; r < R; r++)
		for (int q = r + 1; q < R; q++) {
			double rho;

			for (int l = 0; l < n; l++) {
				rl->a[l] = rl->d[l * R + r];
				rl->b[l] = rl->d[l * R + q];
			}
			rho = spearman(rl, rl->a, rl->b, n);
			s += rho;
			mn = fmin(mn, rho);
			mx = fmax(mx, rho);
			np++;
		}
	/* a NaN rho (a constant side) leaves the three NA */
	x[X_REAL] = s / np;
	x[X_REAL_MIN] = isnan(s) ? NAN : mn;
	x[X_REAL_MAX] = isnan(s) ? NAN : mx;
}

/* bpc_rho and bpc_p: the mean over realizations of D against bytes per
 * character. */
static void bpc_figs(struct reliab *rl, const struct config *c, double *x)
{
	int n = rl->ev->nlang, R = c->R;

	for (int l = 0; l < n; l++) {
		rl->a[l] = 0;
		for (int r = 0; r < R; r++)
			rl->a[l] += rl->d[l * R + r] / R;
	}
	x[X_BPC_RHO] = spearman(rl, rl->a, rl->bpc, n);
	x[X_BPC_P] = spearman_p(x[X_BPC_RHO], n);
}

/* Append "what:NA in L" to a status. */
static void status_na(char *st, size_t cap, const char *what, const char *code)
{
	size_t len = strlen(st);

	snprintf(st + len, cap - len, "%s%s:NA in %s", len ? ";" : "", what,
		 code);
}

/* What the noise of sampling units adds to the between-language variance
 * of one realization's figure (the jackknife's, resample.c: mean over
 * the realizations), its share of that variance (s2: the mean over the
 * realizations of the sample variance of D[., r], = var_lang +
 * var_resid), and the share of language itself, neither rounding nor
 * units: (var_lang - var_unit) / s2, a lower bound (exact when the units'
 * noise is the same for every realization: the same paragraphs). */
static void unit_figs(struct reliab *rl, const struct config *c, int ms,
		      double *x)
{
	const qf_eval *ev = rl->ev;
	int n = ev->nlang, R = c->R;
	double vu = 0, s2 = 0;

	for (int r = 0; r < R; r++) {
		double mean = 0, ss = 0;

		vu += ev->unitc[(size_t)(c->m[r] - 1) * QF_MEASURES + ms] / R;
		for (int l = 0; l < n; l++)
			mean += rl->d[l * R + r] / n;
		for (int l = 0; l < n; l++)
			ss += (rl->d[l * R + r] - mean) * (rl->d[l * R + r] - mean);
		s2 += ss / (n - 1) / R;
	}
	x[X_VAR_UNIT] = vu;
	x[X_SHARE_UNIT] = s2 > 0 ? vu / s2 : NAN;
	/* (fmax would turn a NAN into 0) */
	if (R >= 2 && s2 > 0 && !isnan(vu) && !isnan(x[X_VAR_LANG]))
		x[X_SHARE_NET] = fmax(0, x[X_VAR_LANG] - vu) / s2;
}

/* The row figures x [NX] of configuration c and measure ms; the status
 * names the first language whose figures leave some NA. */
static void row_figs(struct reliab *rl, const struct config *c, int ms,
		     double *x, char *st, size_t cap)
{
	const qf_eval *ev = rl->ev;
	int k = qf_ev_measure_fig(ms), n = ev->nlang, bad;

	for (int i = 0; i < NX; i++)
		x[i] = NAN;
	if ((bad = first_na(rl, c, k, H_ALL, H_ALL)) >= 0) {
		status_na(st, cap, qf_measure_name(ms), ev->lang[bad].code);
		return;
	}
	for (int l = 0; l < n; l++)
		for (int r = 0; r < c->R; r++)
			rl->d[l * c->R + r] = FIG(&rl->fs[H_ALL], ev, l, c->m[r], k);
	if ((bad = first_na(rl, c, k, H_A, H_B)) >= 0)
		status_na(st, cap, xname[X_SPLIT], ev->lang[bad].code);
	else
		split_figs(rl, c, k, x);
	if (c->R >= 2)
		real_figs(rl, c, x);
	for (bad = 0; bad < n && !isnan(rl->bpc[bad]); bad++)
		;
	if (bad < n)
		status_na(st, cap, xname[X_BPC_RHO], ev->lang[bad].code);
	else
		bpc_figs(rl, c, x);
	if (c->R >= 2 && n >= 2)
		anova(rl->d, n, c->R, rl->cm, x);
	if (n >= 2)
		unit_figs(rl, c, ms, x);
}

/* The rows of configuration c, a measure each. */
static void config_rows(FILE *f, struct reliab *rl, const struct config *c)
{
	for (int ms = 0; ms < QF_MEASURES; ms++) {
		double x[NX];
		char st[1024] = "";

		row_figs(rl, c, ms, x, st, sizeof st);
		fprintf(f, "%s\t%s\t%d\t%d\t%" PRIu64, c->name,
			qf_measure_name(ms), rl->ev->nlang, c->R, rl->nunits);
		for (int i = 0; i < NX; i++)
			qf_ev_put_num(f, x[i]);
		fprintf(f, "\t%s\n", st[0] ? st : "ok");
	}
}

/* The configurations of conf (test model t's at t; NULL: its own name),
 * in the order of their first test model; -1: out of memory. */
static int make_configs(const qf_eval *ev, const char *const *conf,
			struct config **out, int *nc)
{
	int nt = ev->nm - 1;
	struct config *c = calloc((size_t)(nt ? nt : 1), sizeof *c);

	*nc = 0;
	if (!(*out = c))
		return -1;
	for (int t = 0; t < nt; t++) {
		const char *name = conf && conf[t] ? conf[t] : ev->name[t + 1];
		int i = 0;

		while (i < *nc && strcmp(c[i].name, name) != 0)
			i++;
		if (i == *nc) {
			c[i].name = name;
			if (!(c[i].m = malloc((size_t)nt * sizeof *c[i].m)))
				return -1;
			(*nc)++;
		}
		c[i].m[c[i].R++] = t + 1;
	}
	return 0;
}

static void configs_free(struct config *c, int nc)
{
	for (int i = 0; c && i < nc; i++)
		free(c[i].m);
	free(c);
}

int qf_eval_write_reliability(const qf_eval *ev, const char *const *conf,
			      FILE *f, qf_err *err)
{
	struct reliab rl = { 0 };
	struct config *c = NULL;
	int nc = 0, rc = -1, maxr = 1;

	if (make_configs(ev, conf, &c, &nc) < 0)
		goto oom;
	for (int i = 0; i < nc; i++)
		maxr = c[i].R > maxr ? c[i].R : maxr;
	if (reliab_init(&rl, ev, maxr) < 0)
		goto oom;
	qf_provenance_comment(f);
	fputs("config\tmeasure\tn_lang\tn_real\tn_units", f);
	for (int i = 0; i < NX; i++)
		fprintf(f, "\t%s", xname[i]);
	fputs("\tstatus\n", f);
	for (int i = 0; i < nc; i++)
		config_rows(f, &rl, &c[i]);
	if (qf_out_flush_check(f) < 0) {
		qf_err_set(err, "cannot write the reliability table: %s",
			   strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
oom:
	qf_err_set(err, "out of memory");
out:
	reliab_free(&rl);
	configs_free(c, nc);
	return rc;
}
