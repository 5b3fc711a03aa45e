/*
 * test_quant.c - lib/quant/: codebooks against the published tables,
 * ACIQ optima against a closed form and scipy (data/quant/aciq.tsv),
 * idempotence, thread invariance, stochastic rounding, Q8_0/Q4_0 through
 * qf_quantize against the reference blocks, kept columns on any threads,
 * weight statistics against a direct two-pass computation.  The bit-exact comparison of every scheme
 * with an independent implementation is in qf-quantize.bats
 * (data/quant/oracle.py).  Run with cwd = tests/.
 */
#include <stdint.h>

#include "quant/ggml.h"
#include "qf.h"
#include "unit.h"

static uint64_t rs = 42;

static double urand(void)
{
	rs = rs * 6364136223846793005ull + 1442695040888963407ull;
	return (double)(rs >> 11) * 0x1p-53;
}

static float nrand(void)
{
	double u = urand(), v = urand();

	return (float)(sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v));
}

static float *randn(size_t n, float sigma)
{
	float *x = malloc(n * sizeof *x);

	for (size_t i = 0; i < n; i++)
		x[i] = nrand() * sigma;
	return x;
}

static void test_codebooks(void)
{
	/* QLoRA (Dettmers et al. 2023), appendix E; bitsandbytes kernels.cu */
	static const double nf4[16] = {
		-1.0, -0.6961928009986877, -0.5250730514526367,
		-0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
		-0.09105003625154495, 0.0, 0.07958029955625534,
		0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
		0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
	};
	/* OCP MX v1.0 E2M1: exponent bias 1, one mantissa bit */
	for (int c = 0; c < 8; c++) {
		int e = c >> 1, m = c & 1;
		double v = e ? (1 + m / 2.0) * ldexp(1, e - 1) : m * 0.5;
		CHECKF(qf_e2m1_values[c] == (float)v, "e2m1 %d", c);
	}
	for (int i = 0; i < 16; i++)
		CHECKF(qf_nf4_values[i] == (float)nf4[i], "nf4 %d", i);
}

static void test_aciq_optima(void)
{
	FILE *f = fopen("data/quant/aciq.tsv", "r");
	char line[256];
	int rows = 0;

	/* Laplace: d/da [2 e^-a + a^2 / (3 4^M)] = 0  <=>  a e^a = 3 4^M */
	for (int b = 2; b <= 8; b++) {
		double a = qf_aciq_alpha_laplace(b), w = 3 * ldexp(1, 2 * b);
		CHECKF(fabs(a * exp(a) - w) < 1e-9 * w, "laplace %d: %.12g", b, a);
	}
	CHECKF(fabs(qf_aciq_alpha_gauss(4) - 2.55) < 0.01, "%g", qf_aciq_alpha_gauss(4));
	CHECKF(fabs(qf_aciq_alpha_laplace(4) - 5.03) < 0.01, "%g", qf_aciq_alpha_laplace(4));
	CHECK(f != NULL);
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		int b;
		double g, l;
		if (sscanf(line, "%d %lf %lf", &b, &g, &l) != 3)
			continue;
		rows++;
		/* scipy's minimiser of the flat 8-bit formula is good to ~1e-7
		 * (mpmath: 3.92403548988078 for 8 bits, which we match) */
		CHECKF(fabs(qf_aciq_alpha_gauss(b) - g) < 1e-6 * g, "gauss %d: %.12g vs %.12g",
		       b, qf_aciq_alpha_gauss(b), g);
		CHECKF(fabs(qf_aciq_alpha_laplace(b) - l) < 1e-6 * l, "laplace %d", b);
		CHECK(fabs(qf_aciq_alpha_gauss(8) - 3.92403548988078) < 1e-12);
		/* the optimum is a minimum of the formula */
		for (double d = -0.01; d <= 0.01; d += 0.02) {
			CHECK(qf_aciq_mse_gauss(g + d, 1, b) > qf_aciq_mse_gauss(qf_aciq_alpha_gauss(b), 1, b));
			CHECK(qf_aciq_mse_laplace(l + d, 1, b) > qf_aciq_mse_laplace(qf_aciq_alpha_laplace(b), 1, b));
		}
	}
	fclose(f);
	CHECK(rows == 7);
	/* scaling: the MSE grows as sigma^2 */
	CHECK(fabs(qf_aciq_mse_gauss(2.0, 2.0, 4) - 4 * qf_aciq_mse_gauss(1.0, 1.0, 4)) < 1e-15);
}

static const struct { int scheme, bits, sym, gran; uint64_t group; } specs[] = {
	{ QF_QS_INT, 4, 1, QF_QG_CHANNEL, 0 }, { QF_QS_INT, 2, 1, QF_QG_TENSOR, 0 },
	{ QF_QS_INT, 8, 1, QF_QG_GROUP, 64 }, { QF_QS_INT, 4, 0, QF_QG_GROUP, 32 },
	{ QF_QS_INT, 3, 0, QF_QG_TENSOR, 0 }, { QF_QS_INT, 7, 0, QF_QG_CHANNEL, 0 },
	{ QF_QS_FP4, 4, 1, QF_QG_GROUP, 32 }, { QF_QS_NF4, 4, 1, QF_QG_GROUP, 64 },
	{ QF_QS_Q8_0, 8, 1, QF_QG_GROUP, 32 }, { QF_QS_Q4_0, 4, 1, QF_QG_GROUP, 32 },
};

static void spec_at(size_t i, qf_qspec *q)
{
	qf_qspec_default(q, specs[i].scheme);
	q->bits = specs[i].bits;
	q->sym = specs[i].sym;
	q->gran = specs[i].gran;
	q->group = specs[i].group;
}

static void test_idempotent(void)
{
	size_t rows = 37, cols = 96, n = rows * cols;
	float *x = randn(n, 0.02f), *y1 = malloc(n * 4), *y2 = malloc(n * 4);
	qf_qres r;
	qf_err e;

	x[17] = 0.5f;		/* an outlier */
	for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
		qf_qspec q;
		qf_qbuf o1 = { y1, NULL, NULL, NULL }, o2 = { y2, NULL, NULL, NULL };
		spec_at(i, &q);
		CHECKF(qf_quantize(&q, x, rows, cols, 0, &o1, 0, &r, 2, &e) == 0, "%s", e.msg);
		CHECKF(qf_quantize(&q, y1, rows, cols, 0, &o2, 0, &r, 2, &e) == 0, "%s", e.msg);
		CHECKF(memcmp(y1, y2, n * 4) == 0, "spec %zu (%s) not idempotent", i,
		       qf_qscheme_name(q.scheme));
		/* and in place gives the same */
		memcpy(y2, x, n * 4);
		o2.y = y2;
		CHECK(qf_quantize(&q, y2, rows, cols, 0, &o2, 0, &r, 1, &e) == 0);
		CHECKF(memcmp(y1, y2, n * 4) == 0, "spec %zu in place", i);
	}
	free(x);
	free(y1);
	free(y2);
}

/* Same values, codes, scales and sums for 1 and 5 threads, and for a
 * tensor spanning many work blocks. */
static void test_threads(void)
{
	size_t rows = 300, cols = 768, n = rows * cols;
	float *x = randn(n, 1), *y1 = malloc(n * 4), *y5 = malloc(n * 4);
	int8_t *c1 = malloc(n), *c5 = malloc(n);
	float s1[300 * 24], s5[300 * 24];
	static const int clips[] = { QF_QC_NONE, QF_QC_PERCENTILE, QF_QC_ACIQ_GAUSS,
				     QF_QC_MSE };
	qf_err e;

	for (int g = QF_QG_TENSOR; g <= QF_QG_GROUP; g++)
		for (size_t k = 0; k < sizeof clips / sizeof *clips; k++) {
			qf_qspec q;
			qf_qres r1, r5;
			qf_qbuf o1 = { y1, c1, s1, NULL }, o5 = { y5, c5, s5, NULL };
			qf_qspec_default(&q, QF_QS_INT);
			q.gran = g;
			q.group = 32;
			q.clip = clips[k];
			q.pct = 99.9;
			if (g == QF_QG_TENSOR && q.clip == QF_QC_MSE)
				continue;	/* slow; covered by the Bats test */
			CHECK(qf_quantize(&q, x, rows, cols, 0, &o1, 1, &r1, 1, &e) == 0);
			CHECK(qf_quantize(&q, x, rows, cols, 0, &o5, 1, &r5, 5, &e) == 0);
			CHECKF(memcmp(y1, y5, n * 4) == 0 && memcmp(c1, c5, n) == 0 &&
			       memcmp(s1, s5, qf_qunits(&q, rows, cols) * 4) == 0,
			       "gran %d clip %d", g, clips[k]);
			CHECKF(memcmp(&r1, &r5, sizeof r1) == 0, "sums: gran %d clip %d",
			       g, clips[k]);
		}
	free(x);
	free(y1);
	free(y5);
	free(c1);
	free(c5);
}

/* Kept columns (--protect-channels): the same values, codes, scales and
 * sums on 1 and 5 threads over a tensor of several blocks; kept elements
 * as they were with code 0; a mask of nothing kept is the plain
 * quantizer. */
static void test_keep_threads(void)
{
	size_t rows = 300, cols = 520, n = rows * cols;
	float *x = randn(n, 0.05f), *y1 = malloc(n * 4), *y5 = malloc(n * 4);
	int8_t *c1 = malloc(n), *c5 = malloc(n);
	float *s1 = malloc(rows * 20 * 4), *s5 = malloc(rows * 20 * 4);
	unsigned char keep[520] = { 0 }, none[520] = { 0 };
	static const int clips[] = { QF_QC_NONE, QF_QC_PERCENTILE, QF_QC_ACIQ_GAUSS };
	qf_err e;

	for (size_t c = 0; c < cols; c++)
		keep[c] = c % 7 == 3 || (c >= 64 && c < 96);	/* a group all kept */
	for (int g = QF_QG_TENSOR; g <= QF_QG_GROUP; g++)
		for (size_t k = 0; k < sizeof clips / sizeof *clips; k++) {
			qf_qspec q;
			qf_qres r1, r5;
			qf_qbuf o1 = { y1, c1, s1, NULL }, o5 = { y5, c5, s5, NULL };
			int ok = 1;

			qf_qspec_default(&q, QF_QS_INT);
			q.gran = g;
			q.group = 32;
			q.clip = clips[k];
			q.pct = 99.9;
			CHECK(qf_quantize_keep(&q, x, rows, cols, keep, 0, &o1, 1,
					       &r1, 1, &e) == 0);
			CHECK(qf_quantize_keep(&q, x, rows, cols, keep, 0, &o5, 1,
					       &r5, 5, &e) == 0);
			CHECKF(memcmp(y1, y5, n * 4) == 0 && memcmp(c1, c5, n) == 0 &&
			       memcmp(s1, s5, qf_qunits(&q, rows, cols) * 4) == 0,
			       "gran %d clip %d", g, clips[k]);
			CHECKF(memcmp(&r1, &r5, sizeof r1) == 0, "sums: gran %d clip %d",
			       g, clips[k]);
			for (size_t i = 0; i < n; i++)
				if (keep[i % cols] && (y1[i] != x[i] || c1[i] != 0))
					ok = 0;
			CHECKF(ok, "kept elements: gran %d clip %d", g, clips[k]);
			CHECK(qf_quantize_keep(&q, x, rows, cols, none, 0, &o5, 1,
					       &r5, 5, &e) == 0);
			CHECK(qf_quantize(&q, x, rows, cols, 0, &o1, 1, &r1, 1, &e) == 0);
			CHECKF(memcmp(y1, y5, n * 4) == 0 && memcmp(&r1, &r5, sizeof r1) == 0,
			       "nothing kept: gran %d clip %d", g, clips[k]);
		}
	free(x);
	free(y1);
	free(y5);
	free(c1);
	free(c5);
	free(s1);
	free(s5);
}

static void test_stochastic(void)
{
	size_t n = 1 << 16;
	float *x = malloc(n * 4), *y = malloc(n * 4), *y2 = malloc(n * 4);
	qf_qspec q;
	qf_qres r;
	qf_err e;
	double err = 0;
	int ups = 0;

	/* 0.3 of a step above level 0: up 30% of the time, unbiased */
	for (size_t i = 0; i < n; i++)
		x[i] = i == 0 ? 7.0f : 0.3f;
	qf_qspec_default(&q, QF_QS_INT);
	q.gran = QF_QG_TENSOR;
	q.round = QF_QR_STOCHASTIC;
	q.seed = 11;
	qf_qbuf o = { y, NULL, NULL, NULL }, o2 = { y2, NULL, NULL, NULL };
	CHECK(qf_quantize(&q, x, 1, n, qf_qkey(q.seed, "t"), &o, 0, &r, 3, &e) == 0);
	for (size_t i = 1; i < n; i++) {
		ups += y[i] != 0;
		err += y[i] - x[i];
	}
	CHECKF(fabs(ups / (double)(n - 1) - 0.3) < 0.01, "%d", ups);
	CHECKF(fabs(err / (double)(n - 1)) < 0.01, "%g", err);
	CHECK(qf_quantize(&q, x, 1, n, qf_qkey(q.seed, "t"), &o2, 0, &r, 1, &e) == 0);
	CHECK(memcmp(y, y2, n * 4) == 0);
	CHECK(qf_quantize(&q, x, 1, n, qf_qkey(q.seed, "u"), &o2, 0, &r, 1, &e) == 0);
	CHECK(memcmp(y, y2, n * 4) != 0);
	free(x);
	free(y);
	free(y2);
}

/* qf_quantize with q8_0/q4_0 is ggml's reference, block for block. */
static void test_ggml(void)
{
	size_t rows = 16, cols = 96, n = rows * cols;
	float *x = randn(n, 0.05f), *y = malloc(n * 4), *ref = malloc(n * 4);
	int8_t *c = malloc(n), *cr = malloc(n);
	uint16_t s[48], sr[48];
	qf_qres r;
	qf_err e;

	for (int scheme = QF_QS_Q8_0; scheme <= QF_QS_Q4_0; scheme++) {
		qf_qspec q;
		qf_qbuf o = { y, c, s, NULL };
		qf_qspec_default(&q, scheme);
		CHECK(qf_quantize(&q, x, rows, cols, 0, &o, 1, &r, 2, &e) == 0);
		if (scheme == QF_QS_Q8_0) {
			qf_q8_0_quantize(x, n, sr, cr);
			qf_q8_0_dequantize(sr, cr, n, ref);
		} else {
			qf_q4_0_quantize(x, n, sr, cr);
			qf_q4_0_dequantize(sr, cr, n, ref);
		}
		CHECK(memcmp(c, cr, n) == 0 && memcmp(s, sr, sizeof s) == 0);
		CHECK(memcmp(y, ref, n * 4) == 0);
		CHECK(r.units == 48 && r.clipped == 0);
	}
	/* rows of 40 cannot be cut into blocks of 32 */
	{
		qf_qspec q;
		qf_qbuf o = { y, NULL, NULL, NULL };
		qf_qspec_default(&q, QF_QS_Q8_0);
		CHECK(qf_quantize(&q, x, 2, 40, 0, &o, 0, &r, 1, &e) < 0);
	}
	free(x);
	free(y);
	free(ref);
	free(c);
	free(cr);
}

static void test_wstats(void)
{
	size_t n = 200000;
	float *x = randn(n, 1);
	qf_wstats s, a, b;
	double mean = 0, m2 = 0, m4 = 0;
	qf_err e;
	uint64_t out = 0;

	x[5] = 40;
	for (size_t i = 0; i < n; i++)
		mean += x[i];
	mean /= (double)n;
	for (size_t i = 0; i < n; i++) {
		double d = x[i] - mean;
		m2 += d * d;
		m4 += d * d * d * d;
	}
	for (size_t i = 0; i < n; i++)
		out += fabs(x[i] - mean) > 6 * sqrt(m2 / (double)n);
	CHECK(qf_wstats_compute(x, n, 3, &s, &e) == 0);
	CHECK(s.n == n && s.absmax == 40 && s.outliers == out && out >= 1);
	CHECKF(fabs(s.mean - mean) < 1e-12, "%g %g", s.mean, mean);
	CHECKF(fabs(qf_wstats_var(&s) - m2 / (double)n) < 1e-12, "var");
	CHECKF(fabs(qf_wstats_kurtosis(&s) - ((double)n * m4 / (m2 * m2) - 3)) < 1e-9,
	       "kurtosis");
	/* pooling two halves gives the moments of the whole */
	CHECK(qf_wstats_compute(x, n / 3, 1, &a, &e) == 0);
	CHECK(qf_wstats_compute(x + n / 3, n - n / 3, 1, &b, &e) == 0);
	qf_wstats_merge(&a, &b);
	CHECK(fabs(a.mean - s.mean) < 1e-12 && fabs(a.m2 - s.m2) < 1e-9 * s.m2 &&
	      fabs(a.m4 - s.m4) < 1e-9 * s.m4 && fabs(a.m3 - s.m3) < 1e-8 * fabs(s.m4));
	/* non-finite values are found, the first one */
	CHECK(qf_find_nonfinite(x, n, 2) == -1);
	x[150000] = INFINITY;
	x[170000] = NAN;
	CHECK(qf_find_nonfinite(x, n, 2) == 150000);
	free(x);
}

static void test_spec_checks(void)
{
	qf_qspec q;
	qf_err e;

	qf_qspec_default(&q, QF_QS_INT);
	CHECK(qf_qspec_check(&q, &e) == 0);
	q.bits = 9;
	CHECK(qf_qspec_check(&q, &e) < 0);
	CHECK_STR(e.msg, "bits 9 out of range 2..8");
	qf_qspec_default(&q, QF_QS_Q4_0);
	q.clip = QF_QC_MSE;
	CHECK(qf_qspec_check(&q, &e) < 0);
	CHECK_STR(qf_qscheme_name(QF_QS_FP4), "fp4_e2m1");
	CHECK(qf_qscheme_parse("fp4") == QF_QS_FP4);
	CHECK(qf_qscheme_parse("int3") == 0);
	/* stored bytes: INT4 g64 on [768, 768]: codes + f32 scales */
	qf_qspec_default(&q, QF_QS_INT);
	q.gran = QF_QG_GROUP;
	q.group = 64;
	CHECK(qf_qstored_bytes(&q, 768, 768) == 768 * 768 / 2 + 768 * 12 * 4);
	qf_qspec_default(&q, QF_QS_Q4_0);
	CHECK(qf_qstored_bytes(&q, 2, 64) == 4 * 18);
}

int main(void)
{
	RUN(test_codebooks);
	RUN(test_aciq_optima);
	RUN(test_idempotent);
	RUN(test_threads);
	RUN(test_keep_threads);
	RUN(test_stochastic);
	RUN(test_ggml);
	RUN(test_wstats);
	RUN(test_spec_checks);
	return unit_done();
}
