/*
 * tables.c - the tables of qf-eval, after qf_eval_finish: per language
 * and model (-o), and the disparity per test model and scope (-d), each
 * figure with its bootstrap interval and the reasons of what has no
 * value in a status column; and per unit and test model (--units-out)
 * (docs/eval.md, "Output").
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_impl.h"

/* The columns of the figures (eval_impl.h, F_* and G_*). */
static const char *const fname[NF] = {
	"fertility", "nll", "ppl", "bpb", "bpc", "d_nll", "ppl_ratio", "deg",
	"d_bpb", "deg_byte", "kl_mean", "kl_median", "kl_p99", "top1",
	"rms_dp", "rel_deg", "d_bits_unit", "kl_unit",
};
static const char *const gname[NG] = {
	"mean", "max", "min", "range", "max_min", "cv", "rel_ref_mean",
	"group_ratio", "group_diff", "mean_vs_base", "range_vs_base",
	"max_min_vs_base", "cv_vs_base", "rel_ref_mean_vs_base", "tau",
	"tau_mean", "tau_vs_base",
};

void qf_ev_put_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("\tNA", f);
	else
		fprintf(f, "\t%.6g", v == 0 ? 0.0 : v);	/* no -0 */
}

static const char *why(int r)
{
	return r == R_DEN0 ? "den<=0" : r == R_DENMIN ? "den<=min" :
		r == R_NOJACK ? "noise NA" : NULL;
}

/* Append "name:reason" to a status buffer. */
static void status_add(char *st, size_t cap, const char *name,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void status_add(char *st, size_t cap, const char *name,
		       const char *fmt, ...)
{
	size_t len = strlen(st);
	va_list ap;

	if (len + 1 >= cap)
		return;
	snprintf(st + len, cap - len, "%s%s:", len ? ";" : "", name);
	len = strlen(st);
	va_start(ap, fmt);
	vsnprintf(st + len, cap - len, fmt, ap);
	va_end(ap);
}

/* What a figure's interval is made of: its estimate and reason, the
 * replicates vals[B] and their SEs vals[B .. 2B) (with clusters), the
 * estimate's jackknife SE and acceleration; shifted: tau's moved
 * percentiles (by shift). */
struct ci_in {
	double est, se, acc, shift;
	int r, shifted;
	double *vals;
};

/* A figure's interval ci[2] by the evaluation's method (docs/eval.md,
 * "Intervals"); the status gets what is degenerate. */
static void fig_ci(const qf_eval *ev, const struct ci_in *c, const char *name,
		   char *st, size_t stcap, double ci[2])
{
	int bad = 0, B = ev->o.bootstrap;

	ci[0] = ci[1] = NAN;
	if (c->r == R_OK && B > 0) {
		if (c->shifted)
			qf_ev_interval_shift(c->vals, B, c->shift, &ci[0], &ci[1], &bad);
		else if (ev->o.interval == QF_CI_T && !isnan(c->se))
			qf_ev_interval_t(c->vals, c->vals + B, B, c->est, c->se,
					 &ci[0], &ci[1], &bad);
		else if (ev->o.interval == QF_CI_BCA)
			qf_ev_interval_bca(c->vals, B, c->est, c->acc, &ci[0],
					   &ci[1], &bad);
		else
			qf_ev_interval(c->vals, B, &ci[0], &ci[1], &bad);
		if (bad)
			status_add(st, stcap, name, "ci %d/%d", bad, B);
	} else if (why(c->r)) {
		status_add(st, stcap, name, "%s", why(c->r));
	}
}

/* A figure and its interval. */
static void put3(FILE *f, double est, const double ci[2])
{
	qf_ev_put_num(f, est);
	qf_ev_put_num(f, ci[0]);
	qf_ev_put_num(f, ci[1]);
}

/* The first status entry of a row whose degradation measure has no value
 * in language l (its scored targets cover no bytes, or there are none):
 * "deg_byte:NA in xyz".  The figures it makes NA have no entry of their
 * own. */
static void novalue(char *st, size_t cap, const qf_eval *ev, int l)
{
	if (l >= 0)
		status_add(st, cap, qf_measure_name(ev->o.measure), "NA in %s",
			   ev->lang[l].code);
}

/* The language whose measure leaves test model m's rel_deg of language l
 * without a value (l itself or the reference language), or -1. */
static int rel_novalue(const qf_eval *ev, int l, int m)
{
	int mf = qf_ev_measure_fig(ev->o.measure), rl = ev->ref_lang;

	if (rl < 0 || REA(&ev->est, ev, l, m, F_RELDEG) != R_NA)
		return -1;
	if (isnan(FIG(&ev->est, ev, l, m, mf)))
		return l;
	return isnan(FIG(&ev->est, ev, rl, m, mf)) ? rl : -1;
}

/* A table's start: room for one figure's replicates (vals[B]) and the
 * provenance line. */
static double *table_start(const qf_eval *ev, FILE *f, qf_err *err)
{
	int B = ev->o.bootstrap;
	double *vals = malloc((size_t)(B > 0 ? 2 * B : 1) * sizeof *vals);

	if (!vals) {
		qf_err_set(err, "out of memory");
		return NULL;
	}
	qf_provenance_comment(f);
	return vals;
}

/* A table's end: the table (what) written out. */
static int table_end(double *vals, FILE *f, const char *what, qf_err *err)
{
	free(vals);
	if (qf_out_flush_check(f) < 0)
		return qf_err_set(err, "cannot write the %s table: %s", what,
				  strerror(errno));
	return 0;
}

/* ------------------------------------------------------------ languages */

/* Units, tokens, scored, bytes, chars and words of language lg. */
static void lang_counts(const qf_eval *ev, const struct lang *lg,
			uint64_t c[6])
{
	memset(c, 0, 6 * sizeof *c);
	for (int i = 0; i < lg->n; i++) {
		const struct unit *u = &ev->u[lg->unit[i]];

		c[0]++;
		c[1] += u->tokens;
		c[2] += u->scored;
		c[3] += u->bytes;
		c[4] += u->chars;
		c[5] += u->words;
	}
}

/* The row of language l and model m. */
static void lang_row(FILE *f, const qf_eval *ev, int l, int m,
		     const uint64_t c[6], double *vals)
{
	int B = ev->o.bootstrap;
	char st[1024] = "";

	fprintf(f, "%s\t%s", ev->lang[l].code, ev->name[m]);
	if (m > 0)
		novalue(st, sizeof st, ev, rel_novalue(ev, l, m));
	for (int k = 0; k < 6; k++)
		fprintf(f, "\t%" PRIu64, c[k]);
	for (int k = 0; k < NF; k++) {
		size_t i = ((size_t)l * ev->nm + m) * NF + k;
		/* the jackknife says nothing of a quantile's SE: no t */
		int quantile = k == F_KLMED || k == F_KLP99;
		struct ci_in in = {
			ev->est.f[i], quantile ? NAN : ev->est.fse[i],
			ev->acc.f[i], 0, ev->est.r[i], 0, vals,
		};
		char tmp[256] = "";
		double ci[2];

		for (int b = 0; b < B; b++) {
			vals[b] = ev->rep[b].f[i];
			vals[B + b] = ev->cluster ? ev->rep[b].fse[i] : NAN;
		}
		/* only rel_deg's reasons go in its status */
		fig_ci(ev, &in, fname[k], k == F_RELDEG ? st : tmp,
		       k == F_RELDEG ? sizeof st : sizeof tmp, ci);
		put3(f, in.est, ci);
		/* the columns added later come after the status */
		if (k == F_RELDEG)
			fprintf(f, "\t%s", m == 0 ? "NA" : st[0] ? st : "ok");
	}
	fputc('\n', f);
}

int qf_eval_write_lang(const qf_eval *ev, FILE *f, qf_err *err)
{
	double *vals = table_start(ev, f, err);

	if (!vals)
		return -1;
	fputs("lang\tmodel\tunits\ttokens\tscored\tbytes\tchars\twords", f);
	for (int k = 0; k < NF; k++) {
		fprintf(f, "\t%s\t%s_lo\t%s_hi", fname[k], fname[k], fname[k]);
		if (k == F_RELDEG)
			fputs("\trel_deg_status", f);
	}
	fputc('\n', f);
	for (int l = 0; l < ev->nlang; l++) {
		uint64_t c[6];

		lang_counts(ev, &ev->lang[l], c);
		for (int m = 0; m < ev->nm; m++)
			lang_row(f, ev, l, m, c, vals);
	}
	return table_end(vals, f, "language", err);
}

/* ------------------------------------------------------------ disparity */

/* The language of an extreme (max_lang, min_lang), when the figure has a
 * value. */
static void put_lang(FILE *f, const qf_eval *ev, int l, int r)
{
	fprintf(f, "\t%s", l >= 0 && r == R_OK ? ev->lang[l].code : "NA");
}

/* What tau's (k = G_TAU) or tau_mean's replicates are moved by: in a
 * replicate the languages' true values are the sample's, so the
 * replicates of tau scatter about the SD of the D_L, not about tau:
 * tau - sd (tau_mean: the same over the mean, tau_mean - cv). */
static double tau_shift(const qf_eval *ev, int t, int s, int k)
{
	double sd = ev->est.gsd[(size_t)t * ev->nsc + s];

	if (k == G_TAU)
		return GFIG(&ev->est, ev, t, s, G_TAU) - sd;
	if (k == G_TAUR)
		return (GFIG(&ev->est, ev, t, s, G_TAU) - sd) /
			GFIG(&ev->est, ev, t, s, G_MEAN);
	return NAN;
}

/* The row of test model t and scope s. */
static void disp_row(FILE *f, const qf_eval *ev, int t, int s, double *vals)
{
	int B = ev->o.bootstrap;
	int amax = ev->est.gmax[(size_t)t * ev->nsc + s];
	int amin = ev->est.gmin[(size_t)t * ev->nsc + s];
	char st[2048] = "";
	double ci[NG][2];

	fprintf(f, "%s\t%s\t%s\t%d", ev->name[t + 1],
		qf_measure_name(ev->o.measure), ev->sc[s].name, ev->sc[s].n);
	novalue(st, sizeof st, ev, ev->est.gnov[(size_t)t * ev->nsc + s]);
	for (int k = 0; k < NG; k++) {
		size_t i = ((size_t)t * ev->nsc + s) * NG + k;
		struct ci_in c = {
			ev->est.g[i], ev->est.gse[i], ev->acc.g[i], 0,
			ev->est.gr[i], k == G_TAU || k == G_TAUR, vals,
		};

		for (int b = 0; b < B; b++) {
			vals[b] = ev->rep[b].g[i];
			vals[B + b] = ev->cluster ? ev->rep[b].gse[i] : NAN;
		}
		c.shift = tau_shift(ev, t, s, k);
		fig_ci(ev, &c, gname[k], st, sizeof st, ci[k]);
	}
	/* the figures added later come after the status */
	for (int k = 0; k < NG; k++) {
		if (k == G_LATE)
			fprintf(f, "\t%s", st[0] ? st : "ok");
		put3(f, GFIG(&ev->est, ev, t, s, k), ci[k]);
		if (k == G_MAX)
			put_lang(f, ev, amax, GREA(&ev->est, ev, t, s, k));
		if (k == G_MIN)
			put_lang(f, ev, amin, GREA(&ev->est, ev, t, s, k));
	}
	fputc('\n', f);
}

int qf_eval_write_disparity(const qf_eval *ev, FILE *f, qf_err *err)
{
	double *vals = table_start(ev, f, err);

	if (!vals)
		return -1;
	fputs("model\tmeasure\tscope\tn_lang", f);
	for (int k = 0; k < NG; k++) {
		if (k == G_LATE)
			fputs("\tstatus", f);
		fprintf(f, "\t%s\t%s_lo\t%s_hi", gname[k], gname[k], gname[k]);
		if (k == G_MAX)
			fputs("\tmax_lang", f);
		if (k == G_MIN)
			fputs("\tmin_lang", f);
	}
	fputc('\n', f);
	for (int t = 0; t < ev->nm - 1; t++)
		for (int s = 0; s < ev->nsc; s++)
			disp_row(f, ev, t, s, vals);
	return table_end(vals, f, "disparity", err);
}

/* ------------------------------------------------------------ units */

/* The row of unit u (index i) and test model m: its counts, the extra
 * NLL over the reference's, the KL and the top-1 agreement. */
static void unit_row(FILE *f, const qf_eval *ev, size_t i, int m)
{
	static const char *const kind[] = { "NA", "body", "heading" };
	const struct unit *u = &ev->u[i];
	const double *s = ev->usum + i * ev->nm * NS;
	double dnll = s[(size_t)m * NS + S_NLL] - s[S_NLL];
	double kl = s[(size_t)m * NS + S_KL], sc = (double)u->scored;

	fprintf(f, "%s\t", ev->lang[u->lang].code);
	if (u->id)
		fputs(u->id, f);
	else
		fprintf(f, "%" PRIu64, u->ordinal);
	fprintf(f, "\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64,
		kind[u->kind], ev->name[m], u->tokens, u->scored, u->bytes);
	qf_ev_put_num(f, dnll);
	qf_ev_put_num(f, dnll / log(2.0));
	qf_ev_put_num(f, kl);
	qf_ev_put_num(f, u->scored ? kl / sc : NAN);
	qf_ev_put_num(f, u->scored ? s[(size_t)m * NS + S_TOP1] / sc : NAN);
	fputc('\n', f);
}

int qf_eval_write_units(const qf_eval *ev, FILE *f, qf_err *err)
{
	qf_provenance_comment(f);
	fputs("lang\tunit\tkind\tmodel\ttokens\tscored\tbytes\td_nll_sum\t"
	      "d_bits\tkl_sum\tkl_per_token\ttop1\n", f);
	for (int l = 0; l < ev->nlang; l++)
		for (int i = 0; i < ev->lang[l].n; i++)
			for (int m = 1; m < ev->nm; m++)
				unit_row(f, ev, (size_t)ev->lang[l].unit[i], m);
	return table_end(NULL, f, "units", err);
}
