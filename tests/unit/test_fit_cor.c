/*
 * test_fit_cor.c - lib/fit's correlations, adjusted p-values and
 * permutation tests against scipy and statsmodels: the cases in the
 * file $QF_FIT_COR_REF, which tests/unit/gen_fit_cor_ref.py writes at
 * test time (tests/fit-cor.bats runs both; without the variable those
 * tests skip).  1e-8 relative on every number.  The tests without a
 * reference check errors, NaN handling, the Monte-Carlo paths
 * (seeded: the same bytes twice; close to the exact p) and sizes.
 */
#include <errno.h>
#include <stdint.h>

#include "unit.h"
#include "fit/fit.h"

#define TOL 1e-8

/* ------------------------------------------------------ the reference */

struct toks {
	char *save;
	int bad;
};

static char *tok(struct toks *t)
{
	char *s = strtok_r(NULL, " \n", &t->save);

	if (!s)
		t->bad = 1;
	return s ? s : "";
}

static double num(struct toks *t)
{
	return strtod(tok(t), NULL);
}

static long inum(struct toks *t)
{
	return strtol(tok(t), NULL, 10);
}

static double *nums(struct toks *t, int n)
{
	double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);

	for (int i = 0; i < n; i++)
		v[i] = num(t);
	return v;
}

static void bar(struct toks *t)
{
	if (strcmp(tok(t), "|") != 0)
		t->bad = 1;
}

/* a within TOL relative of b (1e-14 absolute near 0); NaN and inf only
 * equal themselves */
static int close_to(double a, double b)
{
	if (isnan(b) || isnan(a))
		return isnan(a) && isnan(b);
	if (isinf(b) || isinf(a))
		return a == b;
	return fabs(a - b) <= TOL * fabs(b) + 1e-14;
}

static int ncases[6], lineno;

#define NEAR(what, a, b) CHECKF(close_to(a, b), "line %d: %s %.17g, " \
				"reference %.17g", lineno, what, a, b)

static int same_num(double a, double b)
{
	return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

/* qf-fit cor's path (the arrays themselves, the ranks computed once)
 * gives c to the bit: with the ranks, without, and (a NaN) by falling
 * back to qf_cor_test. */
static int same_ranked(int method, const double *x, const double *y, int n,
		       double level, const qf_cor *c)
{
	double *rx = malloc(2 * (size_t)n * sizeof *rx + 1);
	qf_err err = { 0 };
	int ok = rx && qf_rank_average(x, n, rx) == 0 &&
		 qf_rank_average(y, n, rx + n) == 0;

	for (int with = 0; ok && with < 2; with++) {
		qf_cor o;

		ok = qf_cor_test_ranked(method, x, y, with ? rx : NULL,
					with ? rx + n : NULL, n, level, &o,
					&err) == 0 &&
		     o.n == c->n && o.ndrop == c->ndrop && o.exact == c->exact &&
		     same_num(o.r, c->r) && same_num(o.stat, c->stat) &&
		     same_num(o.df, c->df) && same_num(o.p, c->p) &&
		     same_num(o.lo, c->lo) && same_num(o.hi, c->hi);
	}
	free(rx);
	return ok;
}

static void case_cor(struct toks *t)
{
	int method = qf_cor_method_parse(tok(t)), n, exact, nd;
	double level = num(t), *x, *y, r, p, lo, hi, stat, df;
	qf_cor c;
	qf_err err = { 0 };

	n = (int)inum(t);
	x = nums(t, n);
	y = nums(t, n);
	bar(t);
	r = num(t), p = num(t), exact = (int)inum(t), lo = num(t), hi = num(t);
	stat = num(t), df = num(t), nd = (int)inum(t);
	CHECKF(!t->bad && method >= 0, "line %d: bad case", lineno);
	if (t->bad)
		goto out;
	CHECKF(qf_cor_test(method, x, y, n, level, &c, &err) == 0,
	       "line %d: %s", lineno, err.msg);
	NEAR("r", c.r, r);
	NEAR("p", c.p, p);
	NEAR("lo", c.lo, lo);
	NEAR("hi", c.hi, hi);
	/* scipy does not return Kendall's z: its p checks it; at r = +-1
	 * up to rounding t is any huge number (qf: infinite) */
	if (method != QF_COR_KENDALL && fabs(r) < 1 - 1e-13)
		NEAR("t", c.stat, stat);
	else if (method != QF_COR_KENDALL)
		CHECK(isinf(c.stat) && c.p == 0 && p < 1e-100);
	else
		CHECK(isnan(c.stat) == exact);
	NEAR("df", c.df, df);
	CHECKF(c.exact == exact, "line %d: exact %d", lineno, c.exact);
	CHECKF(c.ndrop == nd && c.n == n - nd, "line %d: n %d ndrop %d",
	       lineno, c.n, c.ndrop);
	CHECKF(same_ranked(method, x, y, n, level, &c), "line %d: "
	       "qf_cor_test_ranked differs from qf_cor_test", lineno);
	ncases[0]++;
out:
	free(x);
	free(y);
}

static void case_partial(struct toks *t)
{
	double level = num(t), *x, *y, *z, r, p, lo, hi, stat, df;
	int n = (int)inum(t), k = (int)inum(t);
	qf_cor c;
	qf_err err = { 0 };

	x = nums(t, n);
	y = nums(t, n);
	z = nums(t, n * k);
	bar(t);
	r = num(t), p = num(t), lo = num(t), hi = num(t), stat = num(t);
	df = num(t);
	CHECKF(!t->bad, "line %d: bad case", lineno);
	if (!t->bad) {
		CHECKF(qf_cor_partial(x, y, z, n, k, level, &c, &err) == 0,
		       "line %d: %s", lineno, err.msg);
		NEAR("r", c.r, r);
		NEAR("p", c.p, p);
		NEAR("lo", c.lo, lo);
		NEAR("hi", c.hi, hi);
		NEAR("t", c.stat, stat);
		NEAR("df", c.df, df);
		ncases[1]++;
	}
	free(x);
	free(y);
	free(z);
}

static void case_adjust(struct toks *t)
{
	int method = qf_adjust_parse(tok(t)), m = (int)inum(t);
	double *p = nums(t, m), *ref, *adj = malloc((size_t)m * sizeof *adj);
	qf_err err = { 0 };

	bar(t);
	ref = nums(t, m);
	CHECKF(!t->bad && method >= 0, "line %d: bad case", lineno);
	if (!t->bad) {
		CHECKF(qf_p_adjust(method, p, m, adj, &err) == 0, "%s", err.msg);
		for (int i = 0; i < m; i++)
			NEAR("adjusted p", adj[i], ref[i]);
		ncases[2]++;
	}
	free(p);
	free(ref);
	free(adj);
}

static void case_corperm(struct toks *t)
{
	int method = qf_cor_method_parse(tok(t)), n = (int)inum(t), exact = 0;
	double *x = nums(t, n), *y = nums(t, n), ref, p = NAN;
	qf_err err = { 0 };

	bar(t);
	ref = num(t);
	CHECKF(!t->bad && method >= 0, "line %d: bad case", lineno);
	if (!t->bad) {
		CHECKF(qf_cor_perm(method, x, y, n, 1000000, 0, 1, &p, &exact,
				   &err) == 0, "%s", err.msg);
		CHECK(exact);
		NEAR("permutation p", p, ref);
		ncases[3]++;
	}
	free(x);
	free(y);
}

static void case_permdiff(struct toks *t)
{
	int na = (int)inum(t), nb = (int)inum(t);
	double *a = nums(t, na), *b = nums(t, nb), diff, p;
	qf_perm r;
	qf_err err = { 0 };

	bar(t);
	diff = num(t);
	p = num(t);
	CHECKF(!t->bad, "line %d: bad case", lineno);
	if (!t->bad) {
		CHECKF(qf_perm_diff(a, na, b, nb, 1000000, 0, 1, &r, &err) == 0,
		       "%s", err.msg);
		CHECK(r.exact);
		NEAR("difference", r.diff, diff);
		NEAR("permutation p", r.p, p);
		ncases[4]++;
	}
	free(a);
	free(b);
}

static void case_boot(struct toks *t)
{
	int method = qf_cor_method_parse(tok(t)), nbad, n, nboot;
	int kind = strcmp(tok(t), "bca") == 0 ? QF_BOOT_BCA : QF_BOOT_PERCENTILE;
	double level = num(t), *x, *y, lo, hi, rlo, rhi;
	uint64_t seed;
	qf_err err = { 0 };

	nboot = (int)inum(t);
	seed = strtoull(tok(t), NULL, 10);
	n = (int)inum(t);
	x = nums(t, n);
	y = nums(t, n);
	bar(t);
	rlo = num(t);
	rhi = num(t);
	CHECKF(!t->bad && method >= 0, "line %d: bad case", lineno);
	if (!t->bad) {
		CHECKF(qf_cor_boot(method, x, y, n, nboot, seed, level, kind, &lo,
				   &hi, &nbad, &err) == 0, "%s", err.msg);
		NEAR("bootstrap low", lo, rlo);
		NEAR("bootstrap high", hi, rhi);
		ncases[5]++;
	}
	free(x);
	free(y);
}

static void test_reference(void)
{
	const char *path = getenv("QF_FIT_COR_REF");
	static char buf[1 << 20];
	FILE *f;

	if (!path)
		SKIP("no QF_FIT_COR_REF (tests/fit-cor.bats sets it)");
	f = fopen(path, "r");
	CHECKF(f != NULL, "%s: %s", path, strerror(errno));
	if (!f)
		return;
	while (fgets(buf, sizeof buf, f)) {
		struct toks t = { 0 };
		char *kind = strtok_r(buf, " \n", &t.save);

		lineno++;
		if (!kind)
			continue;
		if (strcmp(kind, "cor") == 0)
			case_cor(&t);
		else if (strcmp(kind, "partial") == 0)
			case_partial(&t);
		else if (strcmp(kind, "adjust") == 0)
			case_adjust(&t);
		else if (strcmp(kind, "corperm") == 0)
			case_corperm(&t);
		else if (strcmp(kind, "permdiff") == 0)
			case_permdiff(&t);
		else if (strcmp(kind, "boot") == 0)
			case_boot(&t);
		else
			CHECKF(0, "line %d: unknown case %s", lineno, kind);
	}
	fclose(f);
	printf("# cases: cor %d, partial %d, adjust %d, corperm %d, "
	       "permdiff %d, boot %d\n", ncases[0], ncases[1], ncases[2],
	       ncases[3], ncases[4], ncases[5]);
	/* a reference that lost a kind of case would pass silently */
	for (int i = 0; i < 6; i++)
		CHECK(ncases[i] > 0);
}

/* --------------------------------------------------- without reference */

static void test_errors(void)
{
	double x[5] = { 1, 2, 3, 4, 5 }, c[5] = { 2, 2, 2, 2, 2 };
	double nx[5] = { 1, NAN, 3, NAN, 5 }, z[5] = { 1, 2, 3, 4, 5 };
	double a[2] = { NAN, NAN }, p[2] = { 0.5, 1.5 }, adj[2];
	qf_cor r;
	qf_perm pr;
	qf_err err = { 0 };

	CHECK(qf_cor_test(QF_COR_PEARSON, x, c, 5, 0.95, &r, &err) < 0);
	CHECK_STR(err.msg, "y is constant");
	CHECK(qf_cor_test(QF_COR_KENDALL, c, x, 5, 0.95, &r, &err) < 0);
	CHECK_STR(err.msg, "x is constant");
	CHECK(qf_cor_test(QF_COR_SPEARMAN, nx, x, 5, 0.95, &r, &err) == 0);
	CHECK(qf_cor_test(QF_COR_SPEARMAN, nx, x, 4, 0.95, &r, &err) < 0);
	CHECK_STR(err.msg, "2 complete pairs (2 dropped for NaN): a correlation needs 3");
	CHECK(qf_cor_test(QF_COR_PEARSON, x, x, 5, 1.5, &r, &err) < 0);
	CHECK_STR(err.msg, "interval level 1.5 is not between 0 and 1");
	/* z = x: the residual of x is 0 */
	CHECK(qf_cor_partial(x, nx, z, 5, 1, 0.95, &r, &err) < 0);
	CHECK_STR(err.msg, "3 complete rows for 1 covariates: a partial correlation needs 5");
	CHECK(qf_perm_diff(x, 5, a, 2, 100, 10, 1, &pr, &err) < 0);
	CHECK_STR(err.msg, "group b has no values");
	CHECK(qf_p_adjust(QF_ADJ_HOLM, p, 2, adj, &err) < 0);
	CHECK_STR(err.msg, "p-value 1.5 is not in [0, 1]");
}

static void test_partial_collinear(void)
{
	enum { N = 12 };
	double x[N], y[N], z[N * 2];
	qf_cor r;
	qf_err err = { 0 };

	for (int i = 0; i < N; i++) {
		x[i] = sin(i);
		y[i] = cos(3 * i);
		z[i * 2] = i;
		z[i * 2 + 1] = 2 * i + 1;	/* = 2 z0 + intercept */
	}
	CHECK(qf_cor_partial(x, y, z, N, 2, 0.95, &r, &err) < 0);
	CHECK_STR(err.msg, "the covariates are collinear (rank 2 of 3 columns with the intercept)");
	for (int i = 0; i < N; i++)
		z[i * 2 + 1] = x[i];
	CHECK(qf_cor_partial(x, y, z, N, 2, 0.95, &r, &err) < 0);
	CHECK_STR(err.msg, "x is a linear function of the covariates");
}

/* Monte-Carlo: the same seed the same p; near the exact p. */
static void test_monte_carlo(void)
{
	double a[7] = { 1.2, 0.4, 2.2, 1.9, 0.7, 1.1, 3.0 };
	double b[8] = { 0.1, -0.3, 0.8, 0.2, 1.0, -1.1, 0.5, 0.3 };
	double x[8] = { 1, 5, 2, 8, 3, 9, 4, 7 }, y[8] = { 2, 4, 1, 9, 5, 8, 3, 6 };
	qf_perm ex, mc, mc2, mc3;
	double pe, pm, pm2;
	int exact;
	qf_err err = { 0 };

	CHECK(qf_perm_diff(a, 7, b, 8, 1000000, 0, 0, &ex, &err) == 0);
	CHECK(ex.exact && ex.nperm == 6435);
	CHECK(qf_perm_diff(a, 7, b, 8, 1000, 20000, 42, &mc, &err) == 0);
	CHECK(qf_perm_diff(a, 7, b, 8, 1000, 20000, 42, &mc2, &err) == 0);
	CHECK(qf_perm_diff(a, 7, b, 8, 1000, 20000, 43, &mc3, &err) == 0);
	CHECK(!mc.exact && mc.nperm == 20000);
	CHECK(mc.p == mc2.p && mc.p != mc3.p);
	/* sd of a Monte-Carlo p near 0.01 over 20000: < 0.001 */
	CHECKF(fabs(mc.p - ex.p) < 0.005, "mc %g exact %g", mc.p, ex.p);
	CHECK(qf_perm_diff(a, 7, b, 8, 1000, 0, 42, &mc, &err) < 0);
	CHECK_STR(err.msg, "C(15, 7) splits exceed 1000 and no random ones asked");

	CHECK(qf_cor_perm(QF_COR_SPEARMAN, x, y, 8, 100000, 0, 0, &pe, &exact,
			  &err) == 0 && exact);
	CHECK(qf_cor_perm(QF_COR_SPEARMAN, x, y, 8, 1000, 20000, 9, &pm, &exact,
			  &err) == 0 && !exact);
	CHECK(qf_cor_perm(QF_COR_SPEARMAN, x, y, 8, 1000, 20000, 9, &pm2, &exact,
			  &err) == 0);
	CHECK(pm == pm2);
	CHECKF(fabs(pm - pe) < 0.01, "mc %g exact %g", pm, pe);
}

/* Kendall's exact p where scipy has closed forms: a perfect order has
 * p = 2 / n!, 0 from n = 171 on (as scipy's); one pair out of order
 * 2 / (n - 1)!. */
static void test_kendall_exact_edges(void)
{
	enum { N = 180 };
	double x[N], y[N];
	qf_cor r;
	qf_err err = { 0 };

	for (int i = 0; i < N; i++)
		x[i] = y[i] = i;
	CHECK(qf_cor_test(QF_COR_KENDALL, x, y, 10, 0.95, &r, &err) == 0);
	CHECK(r.exact && close_to(r.p, 2.0 / 3628800) && close_to(r.r, 1));
	CHECK(qf_cor_test(QF_COR_KENDALL, x, y, N, 0.95, &r, &err) == 0);
	CHECK(r.exact && r.p == 0);
	y[0] = 1;
	y[1] = 0;
	CHECK(qf_cor_test(QF_COR_KENDALL, x, y, 10, 0.95, &r, &err) == 0);
	CHECK(r.exact && close_to(r.p, 2.0 / 362880));
}

/* Small, tied, constant and NaN inputs through every function: an
 * answer or an error, never a crash (the sanitizer build runs this). */
static void test_robust(void)
{
	double x[7], y[7], z[14], lo, hi, p, adj[7];
	uint64_t st = 5;
	qf_cor r;
	qf_perm pr;
	qf_err err = { 0 };
	int ex, nbad;

	for (int it = 0; it < 400; it++) {
		int n = it % 8;

		for (int i = 0; i < 7; i++) {
			uint64_t v = (st = st * 6364136223846793005u + 1442695040888963407u) >> 33;

			x[i] = v % 5 == 0 ? NAN : (double)(v % 3);
			y[i] = (v >> 8) % 7 == 0 ? NAN : (double)((v >> 4) % 4);
			z[2 * i] = (double)((v >> 12) % 5);
			z[2 * i + 1] = (v >> 16) % 9 == 0 ? NAN : (double)((v >> 20) % 6);
		}
		for (int m = 0; m < QF_COR_METHODS; m++) {
			if (qf_cor_test(m, x, y, n, 0.95, &r, &err) == 0)
				CHECK(r.p >= 0 && r.p <= 1 && fabs(r.r) <= 1);
			if (qf_cor_perm(m, x, y, n, 5040, 50, it, &p, &ex, &err) == 0)
				CHECK(p > 0 && p <= 1);
			if (qf_cor_boot(m, x, y, n, 30, it, 0.95, it % 2, &lo, &hi,
					&nbad, &err) == 0 && !nbad)
				CHECK(isnan(lo) || lo <= hi);
		}
		if (qf_cor_partial(x, y, z, n, 2, 0.95, &r, &err) == 0)
			CHECK(r.p >= 0 && r.p <= 1);
		if (qf_perm_diff(x, n, y, 7 - n, it % 2 ? 10 : 1000, 20, it, &pr,
				 &err) == 0)
			CHECK(pr.p > 0 && pr.p <= 1);
		for (int i = 0; i < n; i++)
			y[i] = isnan(y[i]) ? NAN : y[i] / 4;
		CHECK(qf_p_adjust(it % 2, y, n, adj, &err) == 0);
	}
}

/* Kendall's tau-b by its definition, over every pair: the O(n log n)
 * counts of the library agree on tied data of many sizes. */
static void test_kendall_pairs(void)
{
	static double x[600], y[600];
	uint64_t st = 11;

	for (int n = 2; n <= 600; n += n < 20 ? 1 : 97) {
		long c = 0, d = 0, tx = 0, ty = 0, tot = (long)n * (n - 1) / 2;
		double tau;

		for (int i = 0; i < n; i++) {
			uint64_t v = (st = st * 6364136223846793005u + 1442695040888963407u) >> 33;

			x[i] = (double)(v % (n < 10 ? 3 : 40));
			y[i] = (double)((v >> 8) % 7) + x[i] * ((v >> 12) % 2);
		}
		for (int i = 0; i < n; i++)
			for (int j = i + 1; j < n; j++) {
				double s = (x[i] - x[j]) * (y[i] - y[j]);

				c += s > 0;
				d += s < 0;
				tx += x[i] == x[j];
				ty += y[i] == y[j];
			}
		tau = tx == tot || ty == tot ? NAN :
		      (double)(c - d) / sqrt((double)(tot - tx)) / sqrt((double)(tot - ty));
		CHECKF(close_to(qf_cor_coef(QF_COR_KENDALL, x, y, n), tau),
		       "n %d: %.17g, pairs %.17g", n,
		       qf_cor_coef(QF_COR_KENDALL, x, y, n), tau);
	}
}

/* y = x: every replicate's Spearman is 1, the estimate too: the
 * percentile interval is [1, 1]; BCa's z0 is infinite and its
 * acceleration 0/0: NaN, as scipy's.  The same seed, the same bytes. */
static void test_boot_degenerate(void)
{
	double x[9] = { 3, 1, 4, 1.5, 5, 9, 2, 6, 5.5 }, y[9] = { 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	double lo, hi, lo2, hi2;
	int nbad;
	qf_err err = { 0 };

	CHECK(qf_cor_boot(QF_COR_SPEARMAN, x, x, 9, 200, 3, 0.95,
			  QF_BOOT_PERCENTILE, &lo, &hi, &nbad, &err) == 0);
	CHECK(lo == 1 && hi == 1 && nbad == 0);
	CHECK(qf_cor_boot(QF_COR_SPEARMAN, x, x, 9, 200, 3, 0.95, QF_BOOT_BCA,
			  &lo, &hi, &nbad, &err) == 0);
	CHECK(isnan(lo) && isnan(hi));
	CHECK(qf_cor_boot(QF_COR_KENDALL, x, y, 9, 300, 5, 0.9, QF_BOOT_BCA,
			  &lo, &hi, &nbad, &err) == 0);
	CHECK(qf_cor_boot(QF_COR_KENDALL, x, y, 9, 300, 5, 0.9, QF_BOOT_BCA,
			  &lo2, &hi2, &nbad, &err) == 0);
	CHECK(memcmp(&lo, &lo2, sizeof lo) == 0 && memcmp(&hi, &hi2, sizeof hi) == 0);
	CHECK(qf_cor_boot(QF_COR_KENDALL, x, y, 9, 0, 5, 0.9, QF_BOOT_BCA,
			  &lo, &hi, &nbad, &err) < 0);
	CHECK_STR(err.msg, "0 bootstrap replicates");
}

static void test_names(void)
{
	for (int m = 0; m < QF_COR_METHODS; m++)
		CHECK(qf_cor_method_parse(qf_cor_method_name(m)) == m);
	CHECK(qf_cor_method_parse("tau") == -1);
	CHECK(qf_adjust_parse("fdr_bh") == QF_ADJ_BH);
	CHECK(qf_adjust_parse(qf_adjust_name(QF_ADJ_HOLM)) == QF_ADJ_HOLM);
}

int main(void)
{
	RUN(test_reference);
	RUN(test_errors);
	RUN(test_partial_collinear);
	RUN(test_monte_carlo);
	RUN(test_kendall_exact_edges);
	RUN(test_robust);
	RUN(test_kendall_pairs);
	RUN(test_boot_degenerate);
	RUN(test_names);
	return unit_done();
}
