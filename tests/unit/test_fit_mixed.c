/*
 * test_fit_mixed.c - linear mixed models (lib/fit/mixed.c) against
 * statsmodels MixedLM and the closed forms of balanced designs, on data
 * sets tests/unit/gen_fit_mixed_ref.py simulates at test time; the
 * coverage of the profile likelihood intervals by simulation; bad
 * input.  Run with cwd = tests/.  $QF_FIT_MIXED_REF names a reference
 * file already written (tests/fit-mixed.bats); without it the script is
 * run here, and the comparisons skip when it finds no statsmodels.
 */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <unistd.h>

#include "fit/fit.h"
#include "unit.h"

#define GEN "/usr/bin/python3 unit/gen_fit_mixed_ref.py"

/* ------------------------------------------------------------ reference */

struct ref {
	char name[64];
	int nf, ml, n, p;
	double tol;
	double *y, *x, *beta, *se, vc[QF_MIXED_MAXF + 1], llf, *re;
	int nre;		/* the levels of all factors */
	int *g[QF_MIXED_MAXF];
};

static void ref_free(struct ref *r)
{
	free(r->y);
	free(r->x);
	free(r->beta);
	free(r->se);
	free(r->re);
	free(r->g[0]);
	free(r->g[1]);
	memset(r, 0, sizeof *r);
}

static int read_vec(FILE *f, const char *key, double *v, int n)
{
	char w[32];
	int i;

	if (fscanf(f, "%31s", w) != 1 || strcmp(w, key) != 0)
		return -1;
	for (i = 0; i < n; i++)
		if (fscanf(f, "%lf", &v[i]) != 1)
			return -1;
	return 0;
}

/* The next case of f: 1, 0 at the end, -1 when malformed. */
static int ref_read(FILE *f, struct ref *r)
{
	char w[32];
	int k, i;

	memset(r, 0, sizeof *r);
	if (fscanf(f, "%31s", w) != 1)
		return 0;
	if (strcmp(w, "case") != 0 ||
	    fscanf(f, "%63s nf %d ml %d n %d p %d tol %lf", r->name, &r->nf,
		   &r->ml, &r->n, &r->p, &r->tol) != 6 ||
	    r->nf < 1 || r->nf > 2 || r->n < 1 || r->p < 1)
		return -1;
	r->y = malloc(r->n * sizeof(double));
	r->x = malloc((size_t)r->n * r->p * sizeof(double));
	r->beta = malloc(r->p * sizeof(double));
	r->se = malloc(r->p * sizeof(double));
	for (k = 0; k < r->nf; k++)
		r->g[k] = malloc(r->n * sizeof(int));
	if (!r->y || !r->x || !r->beta || !r->se || !r->g[r->nf - 1] ||
	    read_vec(f, "y", r->y, r->n) || read_vec(f, "x", r->x, r->n * r->p))
		return -1;
	for (k = 0; k < r->nf; k++) {
		if (fscanf(f, "%31s", w) != 1 || w[0] != 'g')
			return -1;
		for (i = 0; i < r->n; i++)
			if (fscanf(f, "%d", &r->g[k][i]) != 1)
				return -1;
	}
	if (read_vec(f, "beta", r->beta, r->p) ||
	    read_vec(f, "se", r->se, r->p) ||
	    read_vec(f, "vc", r->vc, r->nf + 1))
		return -1;
	for (k = 0; k < r->nf; k++) {
		int lev = 0;

		for (i = 0; i < r->n; i++)
			if (r->g[k][i] + 1 > lev)
				lev = r->g[k][i] + 1;
		r->nre += lev;
	}
	if (fscanf(f, "%31s", w) != 1)
		return -1;
	if (strcmp(w, "re") == 0) {
		r->re = malloc(r->nre * sizeof(double));
		for (i = 0; i < r->nre; i++)
			if (!r->re || fscanf(f, "%lf", &r->re[i]) != 1)
				return -1;
		if (fscanf(f, "%31s", w) != 1)
			return -1;
	}
	if (strcmp(w, "llf") != 0 || fscanf(f, "%lf", &r->llf) != 1 ||
	    fscanf(f, "%31s", w) != 1 || strcmp(w, "end") != 0)
		return -1;
	return 1;
}

/* The reference file: $QF_FIT_MIXED_REF, else written now; NULL with
 * *skip set when statsmodels is missing. */
static FILE *ref_open(const char **skip)
{
	const char *path = getenv("QF_FIT_MIXED_REF");
	static char tmp[] = "/tmp/qf-fit-mixed-ref.XXXXXX";
	char cmd[256];
	int fd, rc;
	FILE *f;

	*skip = NULL;
	if (path)
		return fopen(path, "r");
	fd = mkstemp(tmp);
	if (fd < 0)
		return NULL;
	close(fd);
	snprintf(cmd, sizeof cmd, GEN " %s", tmp);
	rc = system(cmd);
	if (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
		*skip = "no numpy, pandas or statsmodels";
		unlink(tmp);
		return NULL;
	}
	f = rc == 0 ? fopen(tmp, "r") : NULL;
	unlink(tmp);
	return f;
}

/* |a - b| within tol of scale. */
#define NEAR(a, b, tol, scale, what, i) \
	CHECKF(fabs((a) - (b)) <= (tol) * (scale), "%s: %s[%d] %.17g, " \
	       "reference %.17g", r.name, what, i, a, b)

static void check_case(const struct ref *rp)
{
	struct ref r = *rp;
	qf_mixed_opts o = { r.ml, 0, 0.95 };
	qf_mixed_fit fit;
	qf_err err = { "", 0 };
	double tot = 0;
	int j;

	if (qf_mixed_fit_run(r.y, r.x, r.n, r.p, (const int *const *)r.g,
			     r.nf, &o, &fit, &err) < 0) {
		CHECKF(0, "%s: %s", r.name, err.msg);
		return;
	}
	CHECKF(fit.converged, "%s: not converged (spread %g, %d iterations)",
	       r.name, fit.start_spread, fit.iterations);
	for (j = 0; j <= r.nf; j++)
		tot += r.vc[j];
	for (j = 0; j < r.p; j++) {
		NEAR(fit.beta[j], r.beta[j], r.tol,
		     fmax(fabs(r.beta[j]), r.se[j]), "beta", j);
		NEAR(fit.se[j], r.se[j], r.tol, r.se[j], "se", j);
	}
	/* A component at 0 (statsmodels stops at 1e-10 or so) against
	 * the total variance. */
	for (j = 0; j <= r.nf; j++)
		NEAR(fit.vc[j], r.vc[j], r.tol, fabs(r.vc[j]) + 1e-3 * tot,
		     "vc", j);
	/* The random effects against the total standard deviation. */
	for (j = 0; r.re && j < r.nre; j++)
		NEAR(fit.re[j], r.re[j], r.tol, fabs(r.re[j]) + 1e-3 * sqrt(tot),
		     "re", j);
	/* The log-likelihood is flat at the optimum: the reference's
	 * parameter error hardly moves it, and ours is no lower. */
	NEAR(fit.llf, r.llf, 1e-9, fmax(1, fabs(r.llf)), "llf", 0);
	CHECKF(fit.llf >= r.llf - 1e-9 * fmax(1, fabs(r.llf)),
	       "%s: llf %.17g below the reference's %.17g", r.name, fit.llf,
	       r.llf);
	qf_mixed_fit_free(&fit);
}

static void test_reference(void)
{
	const char *skip;
	FILE *f = ref_open(&skip);
	struct ref r;
	int cases = 0, rc;

	if (!f && skip)
		SKIP(skip);
	CHECKF(f, "cannot read the reference (%s)", GEN);
	if (!f)
		return;
	while ((rc = ref_read(f, &r)) > 0) {
		check_case(&r);
		ref_free(&r);
		cases++;
	}
	CHECKF(rc == 0, "malformed reference after %d cases", cases);
	ref_free(&r);
	CHECKF(cases >= 12, "%d reference cases", cases);
	printf("# %d reference cases\n", cases);
	fclose(f);
}

/* ------------------------------------------------------------ simulation */

struct sim {
	int a, b, m, n;		/* levels of each factor (b 0: one),
				 * replicates per cell, observations */
	double y[4096], x[4096 * 2];
	int g1[4096], g2[4096];
};

static void simulate(struct sim *s, gsl_rng *rng, const double *sd)
{
	double u[128], v[128];
	int i, j, r, n = 0;

	for (i = 0; i < s->a; i++)
		u[i] = gsl_ran_gaussian(rng, sd[0]);
	for (j = 0; j < s->b; j++)
		v[j] = gsl_ran_gaussian(rng, sd[1]);
	for (i = 0; i < s->a; i++)
		for (j = 0; j < (s->b ? s->b : 1); j++)
			for (r = 0; r < s->m; r++, n++) {
				double x = gsl_ran_gaussian(rng, 1);

				s->x[2 * n] = 1;
				s->x[2 * n + 1] = x;
				s->g1[n] = i;
				s->g2[n] = j;
				s->y[n] = 2 + 0.5 * x + u[i] +
					  (s->b ? v[j] : 0) +
					  gsl_ran_gaussian(rng, sd[2]);
			}
	s->n = n;
}

/* The share of reps intervals that cover the true components. */
static void coverage(struct sim *s, const double *sd, int reps,
		     double *cov, int *failed)
{
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	qf_mixed_opts o = { 0, 1, 0.95 };
	int nf = s->b ? 2 : 1, k, it;
	const int *g[2] = { s->g1, s->g2 };
	double truth[3];

	gsl_rng_set(rng, 20261207);
	for (k = 0; k < 3; k++)
		cov[k] = 0;
	truth[0] = sd[0] * sd[0];
	truth[1] = nf == 2 ? sd[1] * sd[1] : sd[2] * sd[2];
	truth[2] = sd[2] * sd[2];
	*failed = 0;
	for (it = 0; it < reps; it++) {
		qf_mixed_fit fit;

		simulate(s, rng, sd);
		if (qf_mixed_fit_run(s->y, s->x, s->n, 2, g, nf, &o, &fit,
				     NULL) < 0) {
			(*failed)++;
			continue;
		}
		for (k = 0; k <= nf; k++) {
			CHECKF(fit.vc_lo[k] <= fit.vc[k] &&
			       fit.vc[k] <= fit.vc_hi[k], "rep %d: vc[%d] "
			       "%g outside [%g, %g]", it, k, fit.vc[k],
			       fit.vc_lo[k], fit.vc_hi[k]);
			cov[k] += fit.vc_lo[k] <= truth[k] &&
				  truth[k] <= fit.vc_hi[k];
		}
		qf_mixed_fit_free(&fit);
	}
	for (k = 0; k < 3; k++)
		cov[k] /= reps;
	gsl_rng_free(rng);
}

/* 95% profile intervals cover in 0.90..0.99 of 200 data sets (the
 * binomial standard error is 0.015); $QF_FIT_MIXED_REPS more. */
static void test_coverage(void)
{
	static struct sim s1 = { 15, 0, 5, 0, { 0 }, { 0 }, { 0 }, { 0 } };
	static struct sim s2 = { 12, 10, 1, 0, { 0 }, { 0 }, { 0 }, { 0 } };
	const double sd1[3] = { 1, 0, 1 }, sd2[3] = { 1, 0.7, 1 };
	const char *e = getenv("QF_FIT_MIXED_REPS");
	int reps = e ? atoi(e) : 200, failed, k;
	double cov[3];

	coverage(&s1, sd1, reps, cov, &failed);
	printf("# one-way 15 x 5, %d reps: coverage %.3f %.3f\n", reps,
	       cov[0], cov[1]);
	CHECK(failed == 0);
	for (k = 0; k < 2; k++)
		CHECKF(cov[k] >= 0.90 && cov[k] <= 0.99, "one-way: coverage "
		       "%g of component %d", cov[k], k);
	coverage(&s2, sd2, reps / 2, cov, &failed);
	printf("# crossed 12 x 10, %d reps: coverage %.3f %.3f %.3f\n",
	       reps / 2, cov[0], cov[1], cov[2]);
	CHECK(failed == 0);
	for (k = 0; k < 3; k++)
		CHECKF(cov[k] >= 0.88 && cov[k] <= 1, "crossed: coverage "
		       "%g of component %d", cov[k], k);
}

/* ------------------------------------------------------------ properties */

/* One factor: the ICC and its interval; the same call gives the same
 * bytes; intervals hold their estimates. */
static void test_icc(void)
{
	static struct sim s = { 10, 0, 6, 0, { 0 }, { 0 }, { 0 }, { 0 } };
	const double sd[3] = { 1, 0, 1 };
	const int *g[1] = { s.g1 };
	qf_mixed_opts o = { 0, 1, 0.9 };
	qf_mixed_fit a, b;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);

	gsl_rng_set(rng, 7);
	simulate(&s, rng, sd);
	gsl_rng_free(rng);
	if (qf_mixed_fit_run(s.y, s.x, s.n, 2, g, 1, &o, &a, NULL) < 0 ||
	    qf_mixed_fit_run(s.y, s.x, s.n, 2, g, 1, &o, &b, NULL) < 0) {
		CHECK(0);
		return;
	}
	CHECK(fabs(a.icc[0] - a.vc[0] / (a.vc[0] + a.vc[1])) < 1e-15);
	CHECK(a.icc_lo <= a.icc[0] && a.icc[0] <= a.icc_hi);
	CHECK(a.icc_lo >= 0 && a.icc_hi <= 1);
	CHECK(a.vc_lo[1] > 0 && a.vc_lo[1] < a.vc[1] && a.vc[1] < a.vc_hi[1]);
	CHECK(memcmp(a.beta, b.beta, 2 * sizeof(double)) == 0);
	CHECK(memcmp(a.vc, b.vc, sizeof a.vc) == 0);
	CHECK(memcmp(a.vc_hi, b.vc_hi, sizeof a.vc_hi) == 0);
	CHECK(a.icc_hi == b.icc_hi);
	qf_mixed_fit_free(&a);
	qf_mixed_fit_free(&b);
}

static void expect_err(const double *y, const double *x, int n, int p,
		       const int *const *g, int nf, const char *msg)
{
	qf_mixed_fit fit;
	qf_err err = { "", 0 };

	CHECK(qf_mixed_fit_run(y, x, n, p, g, nf, NULL, &fit, &err) == -1);
	CHECK_STR(err.msg, msg);
	CHECK(fit.beta == NULL);
}

static void test_errors(void)
{
	double y[8] = { 1, 2, 3, 4, 5, 7, 6, 9 }, x[16], x2[16];
	int g1[8] = { 0, 0, 1, 1, 2, 2, 3, 3 }, g0[8] = { 0 };
	int gbad[8] = { 0, 0, 1, 1, 2, 2, 3, -1 };
	const int *g[2] = { g1, g1 };
	int i;

	for (i = 0; i < 8; i++) {
		x[2 * i] = 1, x[2 * i + 1] = i % 3;
		x2[2 * i] = 1, x2[2 * i + 1] = 1;
	}
	expect_err(y, x, 2, 2, g, 1, "mixed model: 2 observations for 2 "
		   "fixed effects (need more)");
	expect_err(y, x, 8, 2, g, 3, "mixed model: 3 grouping factors "
		   "(1 or 2)");
	g[0] = g0;
	expect_err(y, x, 8, 2, g, 1, "mixed model: factor 1 has 1 level "
		   "(need 2 or more)");
	g[0] = gbad;
	expect_err(y, x, 8, 2, g, 1, "mixed model: factor 1: level -1 of "
		   "observation 7 out of range 0..8");
	g[0] = g1;
	expect_err(y, x2, 8, 2, g, 1, "mixed model: fixed-effects design is "
		   "rank deficient (column 2)");
	y[3] = NAN;
	expect_err(y, x, 8, 2, g, 1, "mixed model: y[3] is not finite");
	for (i = 0; i < 8; i++)
		y[i] = 1 + 2 * x[2 * i + 1];
	expect_err(y, x, 8, 2, g, 1, "mixed model: y is fitted exactly by "
		   "the fixed effects");
}

int main(void)
{
	RUN(test_errors);
	RUN(test_icc);
	RUN(test_reference);
	RUN(test_coverage);
	return unit_done();
}
