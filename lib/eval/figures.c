/*
 * figures.c - the figures of one set of units, the estimate's or a
 * bootstrap replicate's: per language and model (NLL, bits per byte,
 * degradation, KL, ...), rel_deg against the reference language, and the
 * disparity of each test model over each scope, with the degenerate
 * cases of docs/eval.md.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_impl.h"

/* The figure each _vs_base one divides. */
static const int vs_of[NG] = {
	[G_MEAN_VB] = G_MEAN, [G_RANGE_VB] = G_RANGE, [G_MAXMIN_VB] = G_MAXMIN,
	[G_CV_VB] = G_CV, [G_RELREF_VB] = G_RELREF, [G_TAU_VB] = G_TAU,
};

int qf_ev_measure_fig(int m)
{
	static const int f[QF_MEASURES] = {
		F_DEGB, F_DEG, F_DBPB, F_DNLL, F_DBITSU, F_KLU,
	};

	return f[m];
}

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

static void set(double *f, unsigned char *r, double v)
{
	*f = v;
	*r = isnan(v) ? R_NA : R_OK;
}

/* ------------------------------------------------------------ storage */

int qf_ev_figs_alloc(const qf_eval *ev, struct figs *fs, int est)
{
	size_t nf = (size_t)ev->nlang * ev->nm * NF;
	size_t ng = (size_t)(ev->nm > 1 ? ev->nm - 1 : 1) * ev->nsc * NG;

	fs->f = malloc((nf ? nf : 1) * sizeof *fs->f);
	fs->r = malloc(nf ? nf : 1);
	fs->g = malloc(ng * sizeof *fs->g);
	fs->gr = malloc(ng);
	fs->fse = malloc((nf ? nf : 1) * sizeof *fs->fse);
	fs->gse = malloc(ng * sizeof *fs->gse);
	fs->gsd = malloc((size_t)ev->nm * ev->nsc * sizeof *fs->gsd);
	/* the contrasts' SEs: the estimate's, a replicate's (the t) */
	fs->cse = malloc(((est || ev->cluster ? NCON(ev) : 0) + 1) *
			 sizeof *fs->cse);
	if (est) {
		fs->gmax = malloc((size_t)ev->nm * ev->nsc * sizeof *fs->gmax);
		fs->gmin = malloc((size_t)ev->nm * ev->nsc * sizeof *fs->gmin);
		fs->gnov = malloc((size_t)ev->nm * ev->nsc * sizeof *fs->gnov);
		if (!fs->gmax || !fs->gmin || !fs->gnov)
			return -1;
	}
	return fs->f && fs->r && fs->g && fs->gr && fs->fse && fs->gse &&
		fs->gsd && fs->cse ? 0 : -1;
}

void qf_ev_figs_free(struct figs *fs)
{
	free(fs->f);
	free(fs->r);
	free(fs->g);
	free(fs->gr);
	free(fs->gmax);
	free(fs->gmin);
	free(fs->gnov);
	free(fs->gsd);
	free(fs->fse);
	free(fs->gse);
	free(fs->cse);
	free(fs->tc);
}

/* ------------------------------------------------------------ languages */

/* The sums of every model over language lg's units draw[0..n) into
 * a[nm]; returns their scored targets. */
static size_t lang_sums(const qf_eval *ev, const struct lang *lg,
			const int *draw, int n, struct acc *a)
{
	size_t nkl = 0;

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
	return nkl;
}

/* A model's own figures from its sums x; those against the reference NA. */
static void own_figs(const struct acc *x, double *f, unsigned char *r)
{
	double ln2 = log(2.0);

	set(&f[F_FERT], &r[F_FERT], x->words > 0 ? x->tokens / x->words : NAN);
	set(&f[F_NLL], &r[F_NLL], x->scored > 0 ? x->s[S_NLL] / x->scored : NAN);
	set(&f[F_PPL], &r[F_PPL], exp(f[F_NLL]));
	set(&f[F_BPB], &r[F_BPB], x->bytes > 0 ? x->s[S_NLL] / (x->bytes * ln2) : NAN);
	set(&f[F_BPC], &r[F_BPC], x->chars > 0 ? x->s[S_NLL] / (x->chars * ln2) : NAN);
	for (int k = F_DNLL; k < NF; k++) {
		f[k] = NAN;
		r[k] = R_NA;
	}
}

/* A test model's degradation: its figures f against the reference's f0. */
static void deg_figs(const double *f0, double *f, unsigned char *r)
{
	double ln2 = log(2.0);
	double d = f[F_NLL] - f0[F_NLL], db = f[F_BPB] - f0[F_BPB];

	set(&f[F_DNLL], &r[F_DNLL], d);
	set(&f[F_PPLR], &r[F_PPLR], exp(d));
	set(&f[F_DEG], &r[F_DEG], expm1(d));
	set(&f[F_DBPB], &r[F_DBPB], db);
	set(&f[F_DEGB], &r[F_DEGB], expm1(db * ln2));
}

/* A test model's per-token comparison (x->scored > 0): KL, its median
 * and 99th percentile over the units' KL values (gathered in klbuf), top-1
 * agreement, RMS of the target's probability change. */
static void kl_figs(const qf_eval *ev, const struct lang *lg, const int *draw,
		    int n, int m, const struct acc *x, float *klbuf,
		    double *f, unsigned char *r)
{
	size_t nkl = 0;

	set(&f[F_KLMEAN], &r[F_KLMEAN], x->s[S_KL] / x->scored);
	set(&f[F_TOP1], &r[F_TOP1], x->s[S_TOP1] / x->scored);
	set(&f[F_RMSDP], &r[F_RMSDP], sqrt(x->s[S_DP2] / x->scored));
	if (!klbuf)
		return;		/* no quantiles asked for */
	for (int i = 0; i < n; i++) {
		const struct unit *u = &ev->u[lg->unit[draw[i]]];

		memcpy(klbuf + nkl, ev->kl[m] + u->kl_off,
		       u->scored * sizeof *klbuf);
		nkl += u->scored;
	}
	set(&f[F_KLMED], &r[F_KLMED], quantile(klbuf, nkl, 0.5));
	set(&f[F_KLP99], &r[F_KLP99], quantile(klbuf, nkl, 0.99));
}

/* A test model's figures per unit (x->scored > 0): the extra bits over
 * the reference's (sums x0) and the KL, each summed over a unit's
 * targets, averaged over the units (docs/eval.md). */
static void unit_figs(const struct acc *x, const struct acc *x0, double *f,
		      unsigned char *r)
{
	double dbits = (x->s[S_NLL] - x0->s[S_NLL]) / log(2.0);

	set(&f[F_DBITSU], &r[F_DBITSU], dbits / x->units);
	set(&f[F_KLU], &r[F_KLU], x->s[S_KL] / x->units);
}

int qf_ev_lang_figs(const qf_eval *ev, int l, const int *draw, int n,
		    struct work *wk, struct figs *fs)
{
	const struct lang *lg = &ev->lang[l];
	size_t nkl = lang_sums(ev, lg, draw, n, wk->acc);

	if (nkl > wk->klcap) {
		float *p = realloc(wk->klbuf, nkl * sizeof *p);

		if (!p)
			return -1;
		wk->klbuf = p;
		wk->klcap = nkl;
	}
	for (int m = 0; m < ev->nm; m++) {
		const struct acc *x = &wk->acc[m];
		double *f = &FIG(fs, ev, l, m, 0);
		unsigned char *r = &REA(fs, ev, l, m, 0);

		own_figs(x, f, r);
		if (m == 0)
			continue;
		deg_figs(&FIG(fs, ev, l, 0, 0), f, r);
		if (x->scored > 0) {
			kl_figs(ev, lg, draw, n, m, x,
				wk->no_quantiles ? NULL : wk->klbuf, f, r);
			unit_figs(x, &wk->acc[0], f, r);
		}
	}
	return 0;
}

void qf_ev_rel_figs(const qf_eval *ev, struct figs *fs)
{
	int mf = qf_ev_measure_fig(ev->o.measure);

	for (int m = 1; m < ev->nm; m++) {
		double den = ev->ref_lang >= 0 ? FIG(fs, ev, ev->ref_lang, m, mf) : NAN;

		for (int l = 0; l < ev->nlang; l++) {
			unsigned char *r = &REA(fs, ev, l, m, F_RELDEG);

			FIG(fs, ev, l, m, F_RELDEG) =
				ratio(FIG(fs, ev, l, m, mf), den, ev->o.min_den, r);
		}
	}
}

/* ------------------------------------------------------------ disparity */

/* D of one test model over the languages in a scope and out of it;
 * bad: the first language (in or out) where D has no value, or -1. */
struct spread {
	double sum, mx, mn, osum;
	int n, on, amax, amin, bad;
};

static void scope_spread(const qf_eval *ev, const struct figs *fs,
			 const struct scope *sc, int m, int mf,
			 struct spread *sp)
{
	*sp = (struct spread){ 0, -INFINITY, INFINITY, 0, 0, 0, -1, -1, -1 };
	for (int l = 0; l < ev->nlang; l++) {
		double d = FIG(fs, ev, l, m, mf);

		if (isnan(d) && sp->bad < 0)
			sp->bad = l;
		if (!sc->in[l]) {
			sp->osum += d;
			sp->on++;
			continue;
		}
		sp->sum += d;
		sp->n++;
		if (d > sp->mx) {
			sp->mx = d;
			sp->amax = l;
		}
		if (d < sp->mn) {
			sp->mn = d;
			sp->amin = l;
		}
	}
}

/* tau, the between-language SD of D without the noise of sampling units:
 * sqrt(max(0, var - c)), c from the jackknife (resample.c; none yet
 * while it runs), and tau / mean. */
static void tau_figs(const qf_eval *ev, const struct figs *fs, int t, int s,
		     double var, double mean, double *g, unsigned char *gr)
{
	const double *tc = fs->tc ? fs->tc : ev->tauc;
	double c = tc ? tc[(size_t)t * ev->nsc + s] : NAN;

	if (isnan(c)) {
		gr[G_TAU] = tc ? R_NOJACK : R_NA;
		return;
	}
	set(&g[G_TAU], &gr[G_TAU], sqrt(fmax(0, var - c)));
	g[G_TAUR] = ratio(g[G_TAU], mean, ev->o.min_den, &gr[G_TAUR]);
}

/* The disparity figures of test model t over scope s. */
static void scope_figs(const qf_eval *ev, struct figs *fs, int t, int s)
{
	int m = t + 1, mf = qf_ev_measure_fig(ev->o.measure), rl = ev->ref_lang;
	const struct scope *sc = &ev->sc[s];
	double *g = &GFIG(fs, ev, t, s, 0), md = ev->o.min_den;
	unsigned char *gr = &GREA(fs, ev, t, s, 0);
	double sq = 0, rsum = 0, dref;
	struct spread sp;
	int rn = 0;

	for (int k = 0; k < NG; k++) {
		g[k] = NAN;
		gr[k] = R_NA;
	}
	fs->gsd[(size_t)t * ev->nsc + s] = NAN;
	scope_spread(ev, fs, sc, m, mf, &sp);
	if (fs->gmax) {
		fs->gmax[(size_t)t * ev->nsc + s] = sp.amax;
		fs->gmin[(size_t)t * ev->nsc + s] = sp.amin;
		fs->gnov[(size_t)t * ev->nsc + s] = sp.bad;
	}
	if (sp.bad >= 0 || sp.n == 0)
		return;
	set(&g[G_MEAN], &gr[G_MEAN], sp.sum / sp.n);
	set(&g[G_MAX], &gr[G_MAX], sp.mx);
	set(&g[G_MIN], &gr[G_MIN], sp.mn);
	set(&g[G_RANGE], &gr[G_RANGE], sp.mx - sp.mn);
	g[G_MAXMIN] = ratio(sp.mx, sp.mn, md, &gr[G_MAXMIN]);
	if (sp.n >= 2) {
		for (int l = 0; l < ev->nlang; l++)
			if (sc->in[l]) {
				double d = FIG(fs, ev, l, m, mf) - sp.sum / sp.n;

				sq += d * d;
			}
		g[G_CV] = ratio(sqrt(sq / (sp.n - 1)), sp.sum / sp.n, md, &gr[G_CV]);
		fs->gsd[(size_t)t * ev->nsc + s] = sqrt(sq / (sp.n - 1));
		tau_figs(ev, fs, t, s, sq / (sp.n - 1), sp.sum / sp.n, g, gr);
	}
	dref = rl >= 0 ? FIG(fs, ev, rl, m, mf) : NAN;
	for (int l = 0; l < ev->nlang; l++)
		if (sc->in[l] && l != rl) {
			rsum += FIG(fs, ev, l, m, mf);
			rn++;
		}
	if (rn > 0 && rl >= 0)
		g[G_RELREF] = ratio(rsum / rn, dref, md, &gr[G_RELREF]);
	if (sp.on > 0) {
		g[G_GRATIO] = ratio(sp.sum / sp.n, sp.osum / sp.on, md, &gr[G_GRATIO]);
		set(&g[G_GDIFF], &gr[G_GDIFF], sp.sum / sp.n - sp.osum / sp.on);
	}
}

/* The *_vs_base figures: against the baseline, in the same scope. */
static void vs_base_figs(const qf_eval *ev, struct figs *fs)
{
	for (int t = 0; t < ev->nm - 1; t++)
		for (int s = 0; s < ev->nsc; s++)
			for (int k = G_MEAN_VB; k < NG; k++) {
				int of = vs_of[k];

				if (k > G_RELREF_VB && k != G_TAU_VB)
					continue;
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

void qf_ev_disp_figs(const qf_eval *ev, struct figs *fs)
{
	for (int t = 0; t < ev->nm - 1; t++)
		for (int s = 0; s < ev->nsc; s++)
			scope_figs(ev, fs, t, s);
	vs_base_figs(ev, fs);
}
