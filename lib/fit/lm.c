/*
 * lm.c - linear models by least squares, weighted or not (docs/fit.md,
 * "Linear models"): a QR factorization with column pivoting (LAPACK's
 * dgeqp3) that finds and names dependent columns; per coefficient the
 * classical and HC3 standard errors, t, p and the 95% interval; per
 * model statsmodels' figures (R^2, F, log-likelihood, AIC, BIC), and
 * how well the model predicts rows it did not see: leave-one-out R^2
 * from PRESS, k-fold and leave-one-group-out cross-validated R^2.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <lapacke.h>

#include "core/internal.h"
#include "fit/fit_impl.h"

/* |R_jj| at most this times |R_00|: column j depends on the others. */
#define RANK_TOL 1e-10

/* A QR factorization of a whitened design: X P = Q R, Q explicit. */
struct qr {
	size_t n, k;
	double *Q;	/* n x k, column-major */
	double *Ri;	/* R^-1, k x k upper, column-major */
	lapack_int *piv;	/* position j holds column piv[j] - 1 */
};

static void qr_free(struct qr *q)
{
	free(q->Q);
	free(q->Ri);
	free(q->piv);
	memset(q, 0, sizeof *q);
}

/* The dependent columns named, "'a', 'b'", in the design's order: each
 * column that adds nothing to the span of those before it (modified
 * Gram-Schmidt, twice), so that the later of two collinear columns is
 * named, as a reader of the formula expects.  The pivoted QR, which
 * found the deficiency, names its own when this finds none. */
static int deficient(const struct qr *q, const double *X, size_t r,
		     char *const *name, qf_err *err)
{
	size_t n = q->n, k = q->k, nb = 0, nd = 0, o = 0;
	double *B = malloc(n * k * sizeof *B + 1);
	char buf[768];

	buf[0] = '\0';
	for (size_t j = 0; B && j < k && o < sizeof buf; j++) {
		double *v = B + nb * n, x = 0, y = 0;

		memcpy(v, X + j * n, n * sizeof *v);
		for (int pass = 0; pass < 2; pass++)
			for (size_t b = 0; b < nb; b++) {
				double d = 0;

				for (size_t i = 0; i < n; i++)
					d += B[b * n + i] * v[i];
				for (size_t i = 0; i < n; i++)
					v[i] -= d * B[b * n + i];
			}
		for (size_t i = 0; i < n; i++) {
			x += X[j * n + i] * X[j * n + i];
			y += v[i] * v[i];
		}
		if (!(y > 1e-18 * x) || x == 0) {
			o += (size_t)snprintf(buf + o, sizeof buf - o, "%s'%s'",
					      nd++ ? ", " : "", name[j]);
			continue;
		}
		for (size_t i = 0; i < n; i++)
			v[i] /= sqrt(y);
		nb++;
	}
	free(B);
	for (size_t j = r; nd == 0 && j < k && o < sizeof buf; j++, nd++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s'%s'",
				      j > r ? ", " : "", name[q->piv[j] - 1]);
	return qf_err_set(err, "rank-deficient design: %s %s a linear "
			  "combination of the other columns", buf,
			  nd > 1 ? "are each" : "is");
}

/* Factor the n x k matrix X (not kept), or name its dependent columns. */
static int qr_factor(const double *X, size_t n, size_t k, char *const *name,
		     struct qr *q, qf_err *err)
{
	double *tau = malloc((k + 1) * sizeof *tau);
	size_t r;
	int rc = -1;

	memset(q, 0, sizeof *q);
	q->n = n;
	q->k = k;
	q->Q = malloc(n * k * sizeof *q->Q + 1);
	q->Ri = calloc(k * k + 1, sizeof *q->Ri);
	q->piv = calloc(k + 1, sizeof *q->piv);
	if (!tau || !q->Q || !q->Ri || !q->piv) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	memcpy(q->Q, X, n * k * sizeof *X);
	if (LAPACKE_dgeqp3(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)k, q->Q,
			   (lapack_int)n, q->piv, tau) != 0) {
		qf_err_set(err, "the QR factorization failed");
		goto out;
	}
	for (r = 0; r < k; r++)
		if (!(fabs(q->Q[r * n + r]) > RANK_TOL * fabs(q->Q[0])))
			break;
	if (r < k) {
		deficient(q, X, r, name, err);
		goto out;
	}
	for (size_t j = 0; j < k; j++)
		for (size_t i = 0; i <= j; i++)
			q->Ri[j * k + i] = q->Q[j * n + i];
	if (LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'U', 'N', (lapack_int)k, q->Ri,
			   (lapack_int)k) != 0 ||
	    LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)k,
			   (lapack_int)k, q->Q, (lapack_int)n, tau) != 0) {
		qf_err_set(err, "the QR factorization failed");
		goto out;
	}
	rc = 0;
out:
	free(tau);
	if (rc < 0)
		qr_free(q);
	return rc;
}

/* Q'v into out[k]. */
static void qt_mul(const struct qr *q, const double *v, double *out)
{
	for (size_t j = 0; j < q->k; j++) {
		double s = 0;

		for (size_t i = 0; i < q->n; i++)
			s += q->Q[j * q->n + i] * v[i];
		out[j] = s;
	}
}

/* The coefficients, in the design's order, from Q'y: R^-1 Q'y. */
static void coefs(const struct qr *q, const double *qty, double *beta)
{
	for (size_t a = 0; a < q->k; a++) {
		double s = 0;

		for (size_t j = a; j < q->k; j++)
			s += q->Ri[j * q->k + a] * qty[j];
		beta[q->piv[a] - 1] = s;
	}
}

/* The diagonal of R^-1 M R^-T, in the design's order (M k x k, NULL:
 * the identity), into out[k]. */
static void sandwich_diag(const struct qr *q, const double *M, double *out)
{
	size_t k = q->k;

	for (size_t a = 0; a < k; a++) {
		double s = 0;

		for (size_t i = a; i < k; i++)
			for (size_t j = a; j < k; j++)
				if (M)
					s += q->Ri[i * k + a] * M[j * k + i] *
					     q->Ri[j * k + a];
				else if (i == j)
					s += q->Ri[i * k + a] * q->Ri[i * k + a];
		out[q->piv[a] - 1] = s;
	}
}

/* ------------------------------------------------------------ checks */

/* One line for a design that cannot be fitted: n <= k, a constant
 * column (besides the intercept). */
static int check_design(const struct design *d, qf_err *err)
{
	if (d->n <= d->k)
		return qf_err_set(err, "%zu rows for %zu coefficients: a fit "
				  "needs more rows than coefficients", d->n, d->k);
	for (size_t j = 0; j < d->k; j++) {
		const double *x = d->X + j * d->n;
		size_t i;

		if (d->intercept && j == 0)
			continue;
		for (i = 1; i < d->n && x[i] == x[0]; i++)
			;
		if (i == d->n)
			return qf_err_set(err, "column '%s' is constant (%.17g in "
					  "every row)", d->name[j], x[0]);
	}
	return 0;
}

int fit_check(const struct design *d, qf_err *err)
{
	struct qr q;

	if (check_design(d, err) < 0 ||
	    qr_factor(d->X, d->n, d->k, d->name, &q, err) < 0)
		return -1;
	qr_free(&q);
	return 0;
}

/* ------------------------------------------------------------ fitting */

/* The whitened design of rows with keep[i] (NULL: all): sqrt(w) X and
 * sqrt(w) y, m rows. */
static int whiten(const struct design *d, const char *keep, double **Xw,
		  double **yw, size_t *m, qf_err *err)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += !keep || keep[i];
	*Xw = malloc(n * d->k * sizeof **Xw + 1);
	*yw = malloc(n * sizeof **yw + 1);
	if (!*Xw || !*yw)
		return qf_err_set(err, "out of memory");
	for (size_t i = 0, r = 0; i < d->n; i++) {
		double s = sqrt(d->w[i]);

		if (keep && !keep[i])
			continue;
		for (size_t j = 0; j < d->k; j++)
			(*Xw)[j * n + r] = s * d->X[j * d->n + i];
		(*yw)[r++] = s * d->y[i];
	}
	*m = n;
	return 0;
}

/* A least-squares fit of whitened rows: their QR, sqrt(w) y and
 * Q' sqrt(w) y. */
struct wls {
	struct qr q;
	double *yw, *qty;
};

static void wls_free(struct wls *l)
{
	qr_free(&l->q);
	free(l->yw);
	free(l->qty);
	memset(l, 0, sizeof *l);
}

/* Fit the rows with keep[i] (NULL: all): the coefficients into beta[k],
 * the factorization and the whitened response kept in l (wls_free). */
static int wls_fit(const struct design *d, const char *keep, struct wls *l,
		   double *beta, qf_err *err)
{
	double *Xw = NULL;
	size_t m = 0;
	int rc = -1;

	memset(l, 0, sizeof *l);
	if (whiten(d, keep, &Xw, &l->yw, &m, err) < 0)
		goto out;
	if (m <= d->k) {
		qf_err_set(err, "%zu rows for %zu coefficients", m, d->k);
		goto out;
	}
	if (qr_factor(Xw, m, d->k, d->name, &l->q, err) < 0)
		goto out;
	if (!(l->qty = malloc(d->k * sizeof *l->qty + 1))) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	qt_mul(&l->q, l->yw, l->qty);
	coefs(&l->q, l->qty, beta);
	rc = 0;
out:
	free(Xw);
	if (rc < 0)
		wls_free(l);
	return rc;
}

/* The weighted total sum of squares about the weighted mean. */
static double centered_tss(const struct design *d)
{
	double sw = 0, m = 0, s = 0;

	for (size_t i = 0; i < d->n; i++) {
		sw += d->w[i];
		m += d->w[i] * d->y[i];
	}
	m /= sw;
	for (size_t i = 0; i < d->n; i++)
		s += d->w[i] * (d->y[i] - m) * (d->y[i] - m);
	return s;
}

/* The weighted squared error of row i predicted by beta. */
static double sq_err(const struct design *d, size_t i, const double *beta)
{
	double p = 0;

	for (size_t j = 0; j < d->k; j++)
		p += d->X[j * d->n + i] * beta[j];
	return d->w[i] * (d->y[i] - p) * (d->y[i] - p);
}

/* Cross-validated R^2 over the groups g[i] in [0, ng): each group held
 * out in turn, predicted by the fit on the others.  what names the
 * scheme for messages; label(g) the group. */
static int cv_r2(const struct design *d, const size_t *g, size_t ng,
		 const char *what, const char *const *label, double *r2,
		 qf_err *err)
{
	char *keep = malloc(d->n + 1);
	double *beta = malloc(d->k * sizeof *beta + 1), sse = 0;
	struct wls l;
	qf_err e;
	int rc = -1;

	if (!keep || !beta) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	for (size_t h = 0; h < ng; h++) {
		for (size_t i = 0; i < d->n; i++)
			keep[i] = g[i] != h;
		if (wls_fit(d, keep, &l, beta, &e) < 0) {
			qf_err_set(err, "%s, leaving out %s: %s", what, label[h],
				   e.msg);
			goto out;
		}
		wls_free(&l);
		for (size_t i = 0; i < d->n; i++)
			if (!keep[i])
				sse += sq_err(d, i, beta);
	}
	*r2 = 1 - sse / centered_tss(d);
	rc = 0;
out:
	free(keep);
	free(beta);
	return rc;
}

/* k-fold CV R^2: row i in fold p(i) mod K, p a permutation drawn by a
 * Fisher-Yates shuffle on splitmix64 from the seed (docs/fit.md). */
static int kfold(const struct design *d, int K, uint64_t seed, double *r2,
		 qf_err *err)
{
	size_t *perm = malloc(d->n * sizeof *perm + 1);
	size_t *g = malloc(d->n * sizeof *g + 1);
	char (*lab)[32] = calloc((size_t)K, sizeof *lab);
	const char **label = calloc((size_t)K, sizeof *label);
	uint64_t s = seed;
	int rc = -1;

	if (!perm || !g || !lab || !label) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	if ((size_t)K > d->n) {
		qf_err_set(err, "--folds %d: more folds than the %zu rows", K,
			   d->n);
		goto out;
	}
	for (size_t i = 0; i < d->n; i++)
		perm[i] = i;
	for (size_t i = d->n - 1; i > 0; i--) {
		size_t j = (size_t)(qf_splitmix64(&s) % (i + 1)), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (size_t i = 0; i < d->n; i++)
		g[perm[i]] = i % (size_t)K;
	for (int h = 0; h < K; h++) {
		snprintf(lab[h], sizeof lab[h], "fold %d", h + 1);
		label[h] = lab[h];
	}
	rc = cv_r2(d, g, (size_t)K, "k-fold cross-validation", label, r2, err);
out:
	free(perm);
	free(g);
	free(lab);
	free(label);
	return rc;
}

/* Leave-one-group-out CV R^2, the groups the values of column col in
 * the order they first appear. */
static int grouped(const qf_fit_table *t, const struct design *d,
		   const char *col, double *r2, qf_err *err)
{
	long c = qf_fit_table_col(t, col);
	size_t *g = malloc(d->n * sizeof *g + 1), ng = 0;
	const char **label = calloc(d->n + 1, sizeof *label);
	char what[300];
	int rc = -1;

	if (!g || !label) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	if (c < 0) {
		qf_err_set(err, "%s: --cv-group: no column '%s'", t->path, col);
		goto out;
	}
	for (size_t i = 0; i < d->n; i++) {
		const char *s = t->cell[d->row[i] * t->ncol + (size_t)c];

		for (g[i] = 0; g[i] < ng && strcmp(label[g[i]], s) != 0; g[i]++)
			;
		if (g[i] == ng)
			label[ng++] = s;
	}
	if (ng < 2) {
		qf_err_set(err, "--cv-group %s: one group only", col);
		goto out;
	}
	snprintf(what, sizeof what, "--cv-group %s", col);
	{
		char (*q)[260] = calloc(ng, sizeof *q);
		const char **ql = calloc(ng, sizeof *ql);

		if (!q || !ql) {
			free(q);
			free(ql);
			qf_err_set(err, "out of memory");
			goto out;
		}
		for (size_t h = 0; h < ng; h++) {
			snprintf(q[h], sizeof q[h], "'%s'", label[h]);
			ql[h] = q[h];
		}
		rc = cv_r2(d, g, ng, what, ql, r2, err);
		free(q);
		free(ql);
	}
out:
	free(g);
	free(label);
	return rc;
}

/* ------------------------------------------------------------ the model */

/* The sums of a full fit that the figures need. */
struct sums {
	double ssr, tss_c, tss_u, press, sumlogw;
};

/* A constant in the span of the columns (statsmodels' implicit
 * constant: y ~ C(f) - 1): sqrt(w) in the span of sqrt(w) X, to 1e-10
 * relative.  sw[n] and c[k] are room. */
static int implicit_const(const struct qr *q, const struct design *d,
			  double *sw, double *c)
{
	double res = 0, nrm = 0;

	for (size_t i = 0; i < q->n; i++)
		sw[i] = sqrt(d->w[i]);
	qt_mul(q, sw, c);
	for (size_t i = 0; i < q->n; i++) {
		double f = 0;

		for (size_t j = 0; j < q->k; j++)
			f += q->Q[j * q->n + i] * c[j];
		res += (sw[i] - f) * (sw[i] - f);
		nrm += sw[i] * sw[i];
	}
	return res <= 1e-20 * nrm;
}

/* Per coefficient: estimate, SEs, t, p, interval; and the sums. */
static int full_fit(const struct design *d, qf_fit_lm *r, struct sums *s,
		    qf_err *err)
{
	size_t n = d->n, k = d->k;
	double *beta = NULL, *e = NULL, *h = NULL, *M = NULL, *v = NULL;
	double *v3 = NULL, *yw, *qty, scale, tq;
	struct wls l = { 0 };
	const struct qr *q = &l.q;
	int rc = -1;

	beta = malloc(k * sizeof *beta);
	e = malloc(n * sizeof *e);
	h = calloc(n, sizeof *h);
	M = calloc(k * k, sizeof *M);
	v = malloc(k * sizeof *v);
	v3 = malloc(k * sizeof *v3);
	if (!beta || !e || !h || !M || !v || !v3) {
		qf_err_set(err, "out of memory");
		goto out;
	}
	if (wls_fit(d, NULL, &l, beta, err) < 0)
		goto out;
	yw = l.yw;
	qty = l.qty;
	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < n; i++) {
		double f = 0;

		for (size_t j = 0; j < k; j++) {
			f += q->Q[j * n + i] * qty[j];
			h[i] += q->Q[j * n + i] * q->Q[j * n + i];
		}
		e[i] = yw[i] - f;
		s->ssr += e[i] * e[i];
		s->tss_u += yw[i] * yw[i];
		s->press += e[i] * e[i] / ((1 - h[i]) * (1 - h[i]));
		s->sumlogw += log(d->w[i]);
	}
	s->tss_c = centered_tss(d);
	/* HC3: the meat Q' diag(e_i^2 / (1 - h_i)^2) Q */
	for (size_t a = 0; a < k; a++)
		for (size_t b = 0; b < k; b++)
			for (size_t i = 0; i < n; i++)
				M[b * k + a] += q->Q[a * n + i] *
						q->Q[b * n + i] * e[i] * e[i] /
						((1 - h[i]) * (1 - h[i]));
	sandwich_diag(q, NULL, v);
	sandwich_diag(q, M, v3);
	/* a row of leverage 1 (a level seen once) is fitted exactly
	 * whatever its value: its leave-one-out residual, so HC3 and
	 * PRESS, are undefined */
	for (size_t i = 0; i < n; i++)
		if (h[i] > 1 - 1e-10) {
			s->press = NAN;
			for (size_t j = 0; j < k; j++)
				v3[j] = NAN;
		}
	r->df_resid = (double)(n - k);
	scale = s->ssr / r->df_resid;
	tq = gsl_cdf_tdist_Qinv(0.025, r->df_resid);
	for (size_t j = 0; j < k; j++) {
		qf_fit_coef *c = &r->coef[j];

		c->est = beta[j];
		c->se = sqrt(v[j] * scale);
		c->se_hc3 = sqrt(v3[j]);
		c->t = c->est / c->se;
		c->p = 2 * gsl_cdf_tdist_Q(fabs(c->t), r->df_resid);
		c->lo = c->est - tq * c->se;
		c->hi = c->est + tq * c->se;
	}
	r->k_const = d->intercept || implicit_const(q, d, e, qty);
	rc = 0;
out:
	wls_free(&l);
	free(beta);
	free(e);
	free(h);
	free(M);
	free(v);
	free(v3);
	return rc;
}

/* The model's figures from the sums, as statsmodels defines them. */
static void figures(qf_fit_lm *r, const struct sums *s)
{
	double n = (double)r->n, kc = r->k_const, ess;

	r->df_model = (double)r->k - kc;
	r->r2 = 1 - s->ssr / (kc ? s->tss_c : s->tss_u);
	r->r2_adj = 1 - (n - kc) / r->df_resid * (1 - r->r2);
	ess = (kc ? s->tss_c : s->tss_u) - s->ssr;
	r->f = r->df_model > 0 ? (ess / r->df_model) / (s->ssr / r->df_resid) :
	       NAN;
	r->f_p = r->df_model > 0 ?
		 gsl_cdf_fdist_Q(r->f, r->df_model, r->df_resid) : NAN;
	r->resid_sd = sqrt(s->ssr / r->df_resid);
	r->llf = -n / 2 * log(s->ssr) - (1 + log(M_PI / (n / 2))) * n / 2 +
		 s->sumlogw / 2;
	r->aic = -2 * r->llf + 2 * (r->df_model + kc);
	r->bic = -2 * r->llf + log(n) * (r->df_model + kc);
	r->r2_loo = 1 - s->press / s->tss_c;
}

/* The design of f over rows, checked, and the fit's sums. */
static int one_model(const qf_fit_table *t, const qf_fit_formula *f,
		     const qf_fit_lm_opts *o, const size_t *rows, size_t n,
		     struct design *d, qf_fit_lm *r, struct sums *s,
		     qf_err *err)
{
	if (fit_design(t, f, o->weights, rows, n, d, err) < 0 ||
	    check_design(d, err) < 0)
		return -1;
	r->n = n;
	r->k = d->k;
	if (!(r->coef = calloc(d->k, sizeof *r->coef)))
		return qf_err_set(err, "out of memory");
	for (size_t j = 0; j < d->k; j++)
		if (!(r->coef[j].term = strdup(d->name[j])))
			return qf_err_set(err, "out of memory");
	if (full_fit(d, r, s, err) < 0)
		return -1;
	figures(r, s);
	return 0;
}

/* The F test of the nested model vs against r (statsmodels'
 * compare_f_test). */
static int nested(const qf_fit_table *t, const qf_fit_lm_opts *o,
		  const size_t *rows, size_t n, qf_fit_lm *r,
		  const struct sums *s, qf_err *err)
{
	struct design d = { 0 };
	qf_fit_lm v = { 0 };
	struct sums sv;
	qf_err e;
	int rc = -1;

	if (one_model(t, o->vs, o, rows, n, &d, &v, &sv, &e) < 0) {
		qf_err_set(err, "--vs: %s", e.msg);
		goto out;
	}
	r->vs_df = v.df_resid - r->df_resid;
	if (!(r->vs_df > 0)) {
		qf_err_set(err, "--vs: the smaller model has %zu coefficients, "
			   "the model %zu", v.k, r->k);
		goto out;
	}
	r->vs_f = (sv.ssr - s->ssr) / r->vs_df / s->ssr * r->df_resid;
	r->vs_p = gsl_cdf_fdist_Q(r->vs_f, r->vs_df, r->df_resid);
	rc = 0;
out:
	design_free(&d);
	qf_fit_lm_free(&v);
	return rc;
}

int qf_fit_lm_run(const qf_fit_table *t, const qf_fit_formula *f,
		  const qf_fit_lm_opts *o, qf_fit_lm *r, qf_err *err)
{
	struct design d = { 0 };
	size_t *rows = NULL, n;
	struct sums s;
	int rc = -1;

	memset(r, 0, sizeof *r);
	r->r2_kfold = r->r2_group = r->vs_f = r->vs_df = r->vs_p = NAN;
	if (fit_rows(t, f, o->vs, o->weights, o->drop_na, &rows, &n,
		     &r->dropped, err) < 0)
		goto out;
	if (one_model(t, f, o, rows, n, &d, r, &s, err) < 0)
		goto out;
	if (o->folds && kfold(&d, o->folds, o->seed, &r->r2_kfold, err) < 0)
		goto out;
	if (o->cv_group && grouped(t, &d, o->cv_group, &r->r2_group, err) < 0)
		goto out;
	if (o->vs && nested(t, o, rows, n, r, &s, err) < 0)
		goto out;
	rc = 0;
out:
	design_free(&d);
	free(rows);
	if (rc < 0)
		qf_fit_lm_free(r);
	return rc;
}

void qf_fit_lm_free(qf_fit_lm *r)
{
	for (size_t j = 0; r->coef && j < r->k; j++)
		free(r->coef[j].term);
	free(r->coef);
	memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------ tables */

/* A number, or NA; never "-0". */
void fit_num(FILE *f, double v, int digits)
{
	if (isnan(v))
		fputs("\tNA", f);
	else
		fprintf(f, "\t%.*g", digits, v == 0 ? 0.0 : v);
}

int qf_fit_lm_write_coef(FILE *f, const qf_fit_lm *r, int digits)
{
	qf_provenance_comment(f);
	fputs("term\testimate\tse\tse_hc3\tt\tp\tci_low\tci_high\n", f);
	for (size_t j = 0; j < r->k; j++) {
		const qf_fit_coef *c = &r->coef[j];

		fputs(c->term, f);
		fit_num(f, c->est, digits);
		fit_num(f, c->se, digits);
		fit_num(f, c->se_hc3, digits);
		fit_num(f, c->t, digits);
		fit_num(f, c->p, digits);
		fit_num(f, c->lo, digits);
		fit_num(f, c->hi, digits);
		fputc('\n', f);
	}
	return 0;
}

int qf_fit_lm_write_model(FILE *f, const qf_fit_lm *r, const char *formula,
			  const char *vs, int digits)
{
	const double v[] = {
		r->df_model, r->df_resid, r->r2, r->r2_adj, r->f, r->f_p,
		r->resid_sd, r->llf, r->aic, r->bic, r->r2_loo, r->r2_kfold,
		r->r2_group, r->vs_f, r->vs_df, r->vs_p,
	};

	qf_provenance_comment(f);
	fputs("formula\tn\tk\tdropped\tdf_model\tdf_resid\tr2\tr2_adj\tf\tf_p\t"
	      "resid_sd\tllf\taic\tbic\tr2_loo\tr2_kfold\tr2_group\tvs\tvs_f\t"
	      "vs_df\tvs_p\n", f);
	fprintf(f, "%s\t%zu\t%zu\t%zu", formula, r->n, r->k, r->dropped);
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		if (i == 13)
			fprintf(f, "\t%s", vs ? vs : "NA");
		fit_num(f, v[i], digits);
	}
	fputc('\n', f);
	return 0;
}
