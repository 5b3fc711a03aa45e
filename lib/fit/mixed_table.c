/*
 * mixed_table.c - qf-fit mixed: a linear mixed model over a table's rows
 * (docs/fit.md, "Mixed models").  The fixed effects come from a formula
 * (formula.c's design), the random intercepts from one or two grouping
 * columns coded by their sorted levels; the model is mixed.c's.  With
 * one factor in a balanced design and an intercept only, the one-way
 * ANOVA's ICC(1) and its exact F interval (McGraw & Wong 1996) too.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include "core/internal.h"
#include "fit/fit_impl.h"

/* The rows used: every column of f and the grouping columns set (or,
 * drop_na, the rows with an NA left out).  The groups are checked as the
 * response and terms of a formula "g1 ~ C(g2)" would be. */
static int mixed_rows(const qf_fit_table *t, const qf_fit_formula *f,
		      const qf_fit_mixed_opts *o, size_t **rows, size_t *n,
		      size_t *dropped, qf_err *err)
{
	struct fexpr ge[QF_MIXED_MAXF];
	struct fterm gt = { 0 };
	qf_fit_formula gf = { &ge[0], &gt, o->ngroups - 1, 0 };

	for (int k = 0; k < o->ngroups; k++)
		ge[k] = (struct fexpr){ F_C, (char *)o->groups[k], NULL };
	gt.nf = 1;
	gt.f[0] = &ge[o->ngroups - 1];
	return fit_rows(t, f, &gf, NULL, o->drop_na, rows, n, dropped, err);
}

/* Factor k's levels as codes g[n], their names kept in r. */
static int code_group(const qf_fit_table *t, const qf_fit_mixed_opts *o,
		      int k, const size_t *rows, size_t n, int *g,
		      qf_fit_mixed *r, qf_err *err)
{
	struct levels lv = { 0 };
	int rc = -1;

	if (fit_levels(t, o->groups[k], rows, n, &lv, err) < 0)
		goto out;
	if (lv.n < 2) {
		qf_err_set(err, "--groups %s: one level ('%s') in the rows "
			   "fitted (a random effect needs 2 or more)",
			   o->groups[k], lv.n ? lv.name[0] : "");
		goto out;
	}
	if (!(r->level[k] = calloc(lv.n, sizeof *r->level[k])))
		goto oom;
	for (size_t l = 0; l < lv.n; l++, r->nlevel[k]++)
		if (!(r->level[k][l] = strdup(lv.name[l])))
			goto oom;
	for (size_t i = 0; i < n; i++)
		g[i] = (int)lv.of[i];
	rc = 0;
	goto out;
oom:
	qf_err_set(err, "out of memory");
out:
	fit_levels_free(&lv);
	return rc;
}

/* The one-way ANOVA of y over g (a levels, m rows each): ICC(1) =
 * (MSB - MSW) / (MSB + (m - 1) MSW) and the interval of McGraw & Wong
 * (1996), case 1, from F = MSB / MSW on a - 1 and a(m - 1) degrees of
 * freedom.  Only for a balanced design with an intercept only. */
static void anova_icc(const double *y, const int *g, size_t n, int a,
		      qf_fit_mixed *r)
{
	double *sum = calloc((size_t)a, sizeof *sum), mean = 0, msb = 0;
	double msw = 0, d1, d2, fl, fu;
	size_t *cnt = calloc((size_t)a, sizeof *cnt);
	int m;

	if (!sum || !cnt)
		goto out;
	for (size_t i = 0; i < n; i++) {
		sum[g[i]] += y[i];
		cnt[g[i]]++;
		mean += y[i];
	}
	mean /= (double)n;
	for (int l = 1; l < a; l++)
		if (cnt[l] != cnt[0])
			goto out;	/* unbalanced */
	m = (int)cnt[0];
	if (m < 2)
		goto out;
	for (int l = 0; l < a; l++)
		msb += (sum[l] / m - mean) * (sum[l] / m - mean);
	for (size_t i = 0; i < n; i++)
		msw += (y[i] - sum[g[i]] / m) * (y[i] - sum[g[i]] / m);
	d1 = a - 1;
	d2 = (double)a * (m - 1);
	msb *= m / d1;
	msw /= d2;
	r->replicates = m;
	if (!(msw > 0))
		goto out;
	r->f = msb / msw;
	r->f_p = gsl_cdf_fdist_Q(r->f, d1, d2);
	r->icc_f = (msb - msw) / (msb + (m - 1) * msw);
	fl = r->f / gsl_cdf_fdist_Pinv(0.975, d1, d2);
	fu = r->f * gsl_cdf_fdist_Pinv(0.975, d2, d1);
	r->icc_f_lo = (fl - 1) / (fl + m - 1);
	r->icc_f_hi = (fu - 1) / (fu + m - 1);
out:
	free(sum);
	free(cnt);
}

/* The design's columns row-major, as mixed.c takes them. */
static double *row_major(const struct design *d)
{
	double *X = malloc(d->n * d->k * sizeof *X + 1);

	for (size_t i = 0; X && i < d->n; i++)
		for (size_t j = 0; j < d->k; j++)
			X[i * d->k + j] = d->X[j * d->n + i];
	return X;
}

static int fit_model(const qf_fit_table *t, const qf_fit_formula *f,
		     const qf_fit_mixed_opts *o, const size_t *rows, size_t n,
		     qf_fit_mixed *r, qf_err *err)
{
	qf_mixed_opts mo = { o->ml, o->intervals, 0.95 };
	struct design d = { 0 };
	int *g[QF_MIXED_MAXF] = { 0 };
	double *X = NULL;
	int rc = -1;

	if (fit_design(t, f, NULL, rows, n, &d, err) < 0 ||
	    fit_check(&d, err) < 0)
		goto out;
	if (!(r->term = calloc(d.k, sizeof *r->term)) || !(X = row_major(&d)))
		goto oom;
	for (size_t j = 0; j < d.k; j++, r->nterm++)
		if (!(r->term[j] = strdup(d.name[j])))
			goto oom;
	for (int k = 0; k < o->ngroups; k++) {
		if (!(g[k] = malloc(n * sizeof *g[k] + 1)))
			goto oom;
		if (code_group(t, o, k, rows, n, g[k], r, err) < 0)
			goto out;
	}
	if (o->ngroups == 1 && d.k == 1 && d.intercept)
		anova_icc(d.y, g[0], n, r->nlevel[0], r);
	if (qf_mixed_fit_run(d.y, X, (int)n, (int)d.k, (const int *const *)g,
			     o->ngroups, &mo, &r->fit, err) < 0)
		goto out;
	rc = 0;
	goto out;
oom:
	qf_err_set(err, "out of memory");
out:
	for (int k = 0; k < o->ngroups; k++)
		free(g[k]);
	free(X);
	design_free(&d);
	return rc;
}

int qf_fit_mixed_run(const qf_fit_table *t, const qf_fit_formula *f,
		     const qf_fit_mixed_opts *o, qf_fit_mixed *r, qf_err *err)
{
	size_t *rows = NULL, n;
	int rc = -1;

	memset(r, 0, sizeof *r);
	r->icc_f = r->icc_f_lo = r->icc_f_hi = r->f = r->f_p = NAN;
	r->ml = o->ml;
	for (int k = 0; k < o->ngroups; k++)
		r->group[k] = o->groups[k];
	if (mixed_rows(t, f, o, &rows, &n, &r->dropped, err) < 0)
		goto out;
	r->n = n;
	if (n > INT_MAX / 2) {
		qf_err_set(err, "%s: %zu rows: too many for a mixed model",
			   t->path, n);
		goto out;
	}
	rc = fit_model(t, f, o, rows, n, r, err);
out:
	free(rows);
	if (rc < 0)
		qf_fit_mixed_free(r);
	return rc;
}

void qf_fit_mixed_free(qf_fit_mixed *r)
{
	for (int j = 0; r->term && j < r->nterm; j++)
		free(r->term[j]);
	free(r->term);
	for (int k = 0; k < QF_MIXED_MAXF; k++) {
		for (int l = 0; r->level[k] && l < r->nlevel[k]; l++)
			free(r->level[k][l]);
		free(r->level[k]);
	}
	qf_mixed_fit_free(&r->fit);
	memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------ tables */

int qf_fit_mixed_write_coef(FILE *f, const qf_fit_mixed *r, int digits)
{
	const qf_mixed_fit *m = &r->fit;

	qf_provenance_comment(f);
	fputs("term\testimate\tse\tz\tp\tci_low\tci_high\n", f);
	for (int j = 0; j < m->p; j++) {
		fputs(r->term[j], f);
		fit_num(f, m->beta[j], digits);
		fit_num(f, m->se[j], digits);
		fit_num(f, m->z[j], digits);
		fit_num(f, m->pval[j], digits);
		fit_num(f, m->lo[j], digits);
		fit_num(f, m->hi[j], digits);
		fputc('\n', f);
	}
	return 0;
}

int qf_fit_mixed_write_model(FILE *f, const qf_fit_mixed *r,
			     const char *formula, int digits)
{
	const qf_mixed_fit *m = &r->fit;

	qf_provenance_comment(f);
	fputs("formula\tmethod\tn\tdropped\tllf\tconverged\tcomponent\tlevels\t"
	      "variance\tsd\tvar_low\tvar_high\ticc\ticc_low\ticc_high\n", f);
	for (int k = 0; k <= m->nf; k++) {
		int res = k == m->nf, one = m->nf == 1 && !res;

		fprintf(f, "%s\t%s\t%zu\t%zu", formula, r->ml ? "ML" : "REML",
			r->n, r->dropped);
		fit_num(f, m->llf, digits);
		fprintf(f, "\t%d\t%s\t", m->converged,
			res ? "Residual" : r->group[k]);
		if (res)
			fputs("NA", f);
		else
			fprintf(f, "%d", m->levels[k]);
		fit_num(f, m->vc[k], digits);
		fit_num(f, sqrt(m->vc[k]), digits);
		fit_num(f, m->vc_lo[k], digits);
		fit_num(f, m->vc_hi[k], digits);
		fit_num(f, res ? NAN : m->icc[k], digits);
		fit_num(f, one ? m->icc_lo : NAN, digits);
		fit_num(f, one ? m->icc_hi : NAN, digits);
		fputc('\n', f);
	}
	return 0;
}

int qf_fit_mixed_write_ranef(FILE *f, const qf_fit_mixed *r, int digits)
{
	const qf_mixed_fit *m = &r->fit;
	int q = 0;

	qf_provenance_comment(f);
	fputs("group\tlevel\teffect\n", f);
	for (int k = 0; k < m->nf; k++)
		for (int l = 0; l < m->levels[k]; l++) {
			fprintf(f, "%s\t%s", r->group[k], r->level[k][l]);
			fit_num(f, m->re[q++], digits);
			fputc('\n', f);
		}
	return 0;
}

/* One row of the ICC table. */
static void icc_row(FILE *f, const qf_fit_mixed *r, const char *method,
		    const double *v, int digits)
{
	const qf_mixed_fit *m = &r->fit;

	fprintf(f, "%s\t%s\t%zu\t%d\t", r->group[0], method, r->n,
		m->levels[0]);
	if (r->replicates)
		fprintf(f, "%d", r->replicates);
	else
		fputs("NA", f);
	for (int i = 0; i < 5; i++)
		fit_num(f, v[i], digits);
	fputc('\n', f);
}

int qf_fit_mixed_write_icc(FILE *f, const qf_fit_mixed *r, int digits)
{
	const qf_mixed_fit *m = &r->fit;
	const double prof[] = { m->icc[0], m->icc_lo, m->icc_hi, NAN, NAN };
	const double anova[] = { r->icc_f, r->icc_f_lo, r->icc_f_hi, r->f,
				 r->f_p };

	qf_provenance_comment(f);
	fputs("group\tmethod\tn\tlevels\treplicates\ticc\tci_low\tci_high\t"
	      "f\tf_p\n", f);
	icc_row(f, r, r->ml ? "ml_profile" : "reml_profile", prof, digits);
	if (!isnan(r->icc_f))
		icc_row(f, r, "anova_f", anova, digits);
	return 0;
}
