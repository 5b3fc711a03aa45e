/*
 * quant.c - fake quantization of weight tensors (the "quantization" section of qf.h), and the
 * statistics qf-quantize reports.  Definitions: docs/quantize.md.
 *
 * Work is cut into blocks fixed by the data (QBLOCK elements, or runs of
 * whole units of about that size), never by the number of threads, and
 * every sum is accumulated per block and then added in block order: so
 * the output, floats and statistics alike, is the same for any -j.
 */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "quant/ggml.h"
#include "core/internal.h"
#include "quant/quant.h"

#define QBLOCK 65536		/* elements per work block */
#define MSE_GRID 2000		/* MSE search: alpha = A * m / MSE_GRID */
#define MSE_COARSE 20		/* coarse pass: every 20th m */

/* bitsandbytes' NF4 values (csrc/kernels.cu, dDequantizeNF4). */
const float qf_nf4_values[16] = {
	-1.0f, -0.6961928009986877f, -0.5250730514526367f,
	-0.39491748809814453f, -0.28444138169288635f, -0.18477343022823334f,
	-0.09105003625154495f, 0.0f, 0.07958029955625534f,
	0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
	0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

const float qf_e2m1_values[8] = { 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f };

/* Midpoints between neighbouring NF4 values, in double: x goes to the
 * number of midpoints below it (a tie to the lower code). */
static double nf4_mid[15];
static pthread_once_t nf4_once = PTHREAD_ONCE_INIT;

static void nf4_init(void)
{
	for (int i = 0; i < 15; i++)
		nf4_mid[i] = ((double)qf_nf4_values[i] + qf_nf4_values[i + 1]) / 2;
}

/* ---------------------------------------------------------------- names */

static const char *const scheme_names[] = {
	NULL, "int", "fp4_e2m1", "nf4", "q8_0", "q4_0", "compat",
};
static const char *const gran_names[] = { NULL, "tensor", "channel", "group" };
static const char *const clip_names[] = {
	NULL, "none", "percentile", "aciq_gauss", "aciq_laplace", "mse",
};
static const char *const round_names[] = { NULL, "nearest", "stochastic" };

#define NAME_OF(tab, i) ((i) > 0 && (size_t)(i) < sizeof tab / sizeof *tab ? tab[i] : NULL)

const char *qf_qscheme_name(int s) { return NAME_OF(scheme_names, s); }
const char *qf_qgran_name(int g) { return NAME_OF(gran_names, g); }
const char *qf_qclip_name(int c) { return NAME_OF(clip_names, c); }
const char *qf_qround_name(int r) { return NAME_OF(round_names, r); }

int qf_qscheme_parse(const char *s)
{
	if (strcmp(s, "fp4") == 0)
		return QF_QS_FP4;
	for (size_t i = 1; i < sizeof scheme_names / sizeof *scheme_names; i++)
		if (strcmp(s, scheme_names[i]) == 0)
			return (int)i;
	return 0;
}

int qf_qclip_parse(const char *s)
{
	for (size_t i = 1; i < sizeof clip_names / sizeof *clip_names; i++)
		if (strcmp(s, clip_names[i]) == 0)
			return (int)i;
	return 0;
}

/* ---------------------------------------------------------------- specs */

void qf_qspec_default(qf_qspec *q, int scheme)
{
	memset(q, 0, sizeof *q);
	q->scheme = scheme;
	q->bits = 4;
	q->sym = 1;
	q->gran = QF_QG_GROUP;
	q->clip = QF_QC_NONE;
	q->round = QF_QR_NEAREST;
	switch (scheme) {
	case QF_QS_INT: q->gran = QF_QG_CHANNEL; break;
	case QF_QS_FP4: q->group = 32; break;
	case QF_QS_NF4: q->group = 64; break;
	case QF_QS_Q8_0: q->bits = 8; q->group = QF_QK; break;
	case QF_QS_Q4_0: q->group = QF_QK; break;
	case QF_QS_COMPAT: q->gran = QF_QG_TENSOR; break;
	}
}

int qf_qspec_check(const qf_qspec *q, qf_err *err)
{
	const char *name = qf_qscheme_name(q->scheme);

	if (!name)
		return qf_err_set(err, "unknown scheme code %d", q->scheme);
	if (!qf_qgran_name(q->gran) || !qf_qclip_name(q->clip) ||
	    !qf_qround_name(q->round))
		return qf_err_set(err, "invalid quantization spec");
	if (q->gran == QF_QG_GROUP && q->group == 0)
		return qf_err_set(err, "group size must be at least 1");
	if (q->scheme == QF_QS_INT) {
		if (q->bits < 2 || q->bits > 8)
			return qf_err_set(err, "bits %d out of range 2..8", q->bits);
	} else {
		int want = q->scheme == QF_QS_Q8_0 ? 8 : 4;
		if (q->bits != want)
			return qf_err_set(err, "%s has %d bits, not %d", name, want,
					  q->bits);
		if (!q->sym)
			return qf_err_set(err, "%s is symmetric only", name);
	}
	if (q->scheme == QF_QS_Q8_0 || q->scheme == QF_QS_Q4_0) {
		if (q->gran != QF_QG_GROUP || q->group != QF_QK)
			return qf_err_set(err, "%s works on blocks of 32 only", name);
		if (q->clip != QF_QC_NONE)
			return qf_err_set(err, "%s has no clipping", name);
		if (q->round != QF_QR_NEAREST)
			return qf_err_set(err, "%s rounds to nearest only", name);
	}
	if (q->scheme == QF_QS_COMPAT &&
	    (q->gran != QF_QG_TENSOR || q->clip != QF_QC_NONE ||
	     q->round != QF_QR_NEAREST))
		return qf_err_set(err, "compat is per tensor, without clipping, "
				  "rounding to nearest");
	if (q->clip == QF_QC_PERCENTILE && !(q->pct > 0 && q->pct <= 100))
		return qf_err_set(err, "percentile %g out of range (0, 100]", q->pct);
	return 0;
}

static uint64_t groups_per_row(const qf_qspec *q, uint64_t cols)
{
	switch (q->gran) {
	case QF_QG_GROUP: return cols ? (cols + q->group - 1) / q->group : 0;
	default: return 1;
	}
}

uint64_t qf_qunits(const qf_qspec *q, uint64_t rows, uint64_t cols)
{
	if ((q->scheme == QF_QS_Q8_0 || q->scheme == QF_QS_Q4_0) && cols % QF_QK)
		return 0;
	if (rows == 0 || cols == 0)
		return 0;
	if (q->gran == QF_QG_TENSOR)
		return 1;
	return rows * groups_per_row(q, cols);
}

int qf_qcodes_dtype(const qf_qspec *q)
{
	switch (q->scheme) {
	case QF_QS_INT: return q->sym ? QF_I8 : QF_U8;
	case QF_QS_FP4: case QF_QS_NF4: return QF_U8;
	default: return QF_I8;
	}
}

int qf_qscales_dtype(const qf_qspec *q)
{
	return q->scheme == QF_QS_Q8_0 || q->scheme == QF_QS_Q4_0 ? QF_F16 : QF_F32;
}

uint64_t qf_qstored_bytes(const qf_qspec *q, uint64_t rows, uint64_t cols)
{
	uint64_t n = rows * cols, u = qf_qunits(q, rows, cols);
	uint64_t b = (n * (uint64_t)q->bits + 7) / 8;

	b += u * qf_dtype_size(qf_qscales_dtype(q));
	if (q->scheme == QF_QS_INT && !q->sym)
		b += u * 4;
	return b;
}

uint64_t qf_qkey(uint64_t seed, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return seed ^ h;
}

/* ---------------------------------------------------------------- arithmetic */

/* Round to nearest, halves to even, as rintf in the default mode: below
 * 2^23, adding and removing 2^23 leaves the integer; above, every float
 * is one.  The sign is kept (rint(-0.4) is -0). */
static inline float rne(float t)
{
	const float two23 = 8388608.0f;
	float a = fabsf(t);

	return a < two23 ? copysignf((a + two23) - two23, t) : t;
}

/* rne for |t| < 2^23 only, without a branch (vectorizes). */
static inline float rne_small(float t)
{
	const float two23 = 8388608.0f;

	return copysignf((fabsf(t) + two23) - two23, t);
}

/* A scale rounded toward zero to 15 significant bits: then code x scale is
 * exact in f32 for |code| < 2^9, and quantizing again finds the same
 * scale (docs/quantize.md, "Scales"). */
static inline float trunc15(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	u &= ~(uint32_t)0x1ff;
	memcpy(&f, &u, 4);
	return f;
}

/* splitmix64's output number i + 1 from state key: a uniform 24-bit
 * fraction in [0, 1). */
static inline float uniform24(uint64_t key, uint64_t i)
{
	uint64_t z = key + (i + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (float)(z >> 40) * 0x1p-24f;
}

/* ---------------------------------------------------------------- threads */

struct pfor {
	size_t n, next;
	void (*fn)(void *ctx, size_t i);
	void *ctx;
};

static void *pfor_worker(void *arg)
{
	struct pfor *p = arg;
	size_t i;

	while ((i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED)) < p->n)
		p->fn(p->ctx, i);
	return NULL;
}

/* fn(ctx, i) for i in [0, n), on up to `threads` threads. */
static void pfor(int threads, size_t n, void (*fn)(void *, size_t), void *ctx)
{
	struct pfor p = { n, 0, fn, ctx };
	pthread_t tid[64];
	int nt = 0;

	if (threads > 64)
		threads = 64;
	if ((size_t)threads > n)
		threads = (int)n;
	for (int t = 1; t < threads; t++)
		if (pthread_create(&tid[nt], NULL, pfor_worker, &p) == 0)
			nt++;
	pfor_worker(&p);
	for (int t = 0; t < nt; t++)
		pthread_join(tid[t], NULL);
}

/* ---------------------------------------------------------------- finiteness */

struct nf_ctx {
	const float *x;
	uint64_t n;
	int64_t *first;
};

static void nf_block(void *arg, size_t b)
{
	struct nf_ctx *c = arg;
	uint64_t lo = (uint64_t)b * QBLOCK;
	uint64_t hi = lo + QBLOCK < c->n ? lo + QBLOCK : c->n;
	int bad = 0;

	for (uint64_t i = lo; i < hi; i++)
		bad |= !(fabsf(c->x[i]) <= FLT_MAX);
	c->first[b] = -1;
	if (bad)
		for (uint64_t i = lo; i < hi; i++)
			if (!(fabsf(c->x[i]) <= FLT_MAX)) {
				c->first[b] = (int64_t)i;
				break;
			}
}

int64_t qf_find_nonfinite(const float *x, uint64_t n, int threads)
{
	size_t nb = (size_t)((n + QBLOCK - 1) / QBLOCK);
	int64_t r = -1, one;
	struct nf_ctx c = { x, n, NULL };

	if (nb <= 1) {
		c.first = &one;
		if (nb)
			nf_block(&c, 0);
		return nb ? one : -1;
	}
	c.first = malloc(nb * sizeof *c.first);
	if (!c.first) {		/* no memory: look without threads */
		for (uint64_t i = 0; i < n; i++)
			if (!(fabsf(x[i]) <= FLT_MAX))
				return (int64_t)i;
		return -1;
	}
	pfor(threads, nb, nf_block, &c);
	for (size_t b = 0; b < nb && r < 0; b++)
		r = c.first[b];
	free(c.first);
	return r;
}

/* ---------------------------------------------------------------- ACIQ */

/* One tail: the integral over x > a of (x - a)^2 times the density. */
static double tail_gauss(double a, double sigma)
{
	double t = a / sigma;

	return sigma * sigma * ((1 + t * t) * 0.5 * erfc(t / M_SQRT2) -
				t * exp(-t * t / 2) / sqrt(2 * M_PI));
}

static double tail_laplace(double a, double b)
{
	if (a >= 0)
		return b * b * exp(-a / b);
	return 2 * b * b + a * a - b * b * exp(a / b);
}

/* Expected squared error for clipping at c - a_lo and c + a_hi (c the
 * prior's centre) and 2^bits bins over the range. */
static double pred_mse(int laplace, double a_lo, double a_hi, double scale,
		       int bits)
{
	double w = a_lo + a_hi, q = w * w / (12.0 * ldexp(1.0, 2 * bits));

	if (!(scale > 0))
		return q;
	if (laplace)
		return tail_laplace(a_lo, scale) + tail_laplace(a_hi, scale) + q;
	return tail_gauss(a_lo, scale) + tail_gauss(a_hi, scale) + q;
}

double qf_aciq_mse_gauss(double alpha, double sigma, int bits)
{
	return pred_mse(0, alpha, alpha, sigma, bits);
}

double qf_aciq_mse_laplace(double alpha, double b, int bits)
{
	return pred_mse(1, alpha, alpha, b, bits);
}

/* The formulas are convex in alpha; their minimum is where the derivative
 * (in units of sigma or b) changes sign, found by bisection. */
static double dmse_gauss(double t, int bits)
{
	double q = 0.5 * erfc(t / M_SQRT2), phi = exp(-t * t / 2) / sqrt(2 * M_PI);

	return 4 * (t * q - phi) + 2 * t / (3 * ldexp(1.0, 2 * bits));
}

static double dmse_laplace(double a, int bits)
{
	return -2 * exp(-a) + 2 * a / (3 * ldexp(1.0, 2 * bits));
}

static double bisect(double (*d)(double, int), int bits)
{
	double lo = 0, hi = 64;

	for (int i = 0; i < 200 && hi - lo > 0; i++) {
		double mid = (lo + hi) / 2;
		if (mid == lo || mid == hi)
			break;
		if (d(mid, bits) < 0)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

double qf_aciq_alpha_gauss(int bits)
{
	return bisect(dmse_gauss, bits);
}

double qf_aciq_alpha_laplace(int bits)
{
	return bisect(dmse_laplace, bits);
}

/* ---------------------------------------------------------------- weight statistics */

void qf_wstats_init(qf_wstats *s)
{
	memset(s, 0, sizeof *s);
}

void qf_wstats_merge(qf_wstats *a, const qf_wstats *b)
{
	double na = (double)a->n, nb = (double)b->n, n = na + nb, d, d2;

	if (b->n == 0)
		return;
	if (a->n == 0) {
		*a = *b;
		return;
	}
	d = b->mean - a->mean;
	d2 = d * d;
	a->m4 += b->m4 + d2 * d2 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n) +
		6 * d2 * (na * na * b->m2 + nb * nb * a->m2) / (n * n) +
		4 * d * (na * b->m3 - nb * a->m3) / n;
	a->m3 += b->m3 + d2 * d * na * nb * (na - nb) / (n * n) +
		3 * d * (na * b->m2 - nb * a->m2) / n;
	a->m2 += b->m2 + d2 * na * nb / n;
	a->mean += d * nb / n;
	a->n += b->n;
	if (b->absmax > a->absmax)
		a->absmax = b->absmax;
	a->sumsq += b->sumsq;
	a->outliers += b->outliers;
}

double qf_wstats_var(const qf_wstats *s)
{
	return s->n ? s->m2 / (double)s->n : NAN;
}

double qf_wstats_kurtosis(const qf_wstats *s)
{
	if (s->n == 0 || !(s->m2 > 0))
		return NAN;
	return (double)s->n * s->m4 / (s->m2 * s->m2) - 3;
}

struct ws_ctx {
	const float *x;
	uint64_t n;
	qf_wstats *part;
	double mean, thr;
	uint64_t *out;
};

/* A block's moments: two passes (mean, then central sums). */
static void ws_block(void *arg, size_t b)
{
	struct ws_ctx *c = arg;
	uint64_t lo = (uint64_t)b * QBLOCK;
	uint64_t hi = lo + QBLOCK < c->n ? lo + QBLOCK : c->n;
	qf_wstats *s = &c->part[b];
	double sum = 0, ss = 0, m2 = 0, m3 = 0, m4 = 0, mean;
	float amax = 0;

	for (uint64_t i = lo; i < hi; i++) {
		double v = c->x[i];
		sum += v;
		ss += v * v;
		if (fabsf(c->x[i]) > amax)
			amax = fabsf(c->x[i]);
	}
	mean = sum / (double)(hi - lo);
	for (uint64_t i = lo; i < hi; i++) {
		double d = c->x[i] - mean, d2 = d * d;
		m2 += d2;
		m3 += d2 * d;
		m4 += d2 * d2;
	}
	s->n = hi - lo;
	s->mean = mean;
	s->m2 = m2;
	s->m3 = m3;
	s->m4 = m4;
	s->absmax = amax;
	s->sumsq = ss;
	s->outliers = 0;
}

static void ws_outliers(void *arg, size_t b)
{
	struct ws_ctx *c = arg;
	uint64_t lo = (uint64_t)b * QBLOCK;
	uint64_t hi = lo + QBLOCK < c->n ? lo + QBLOCK : c->n, k = 0;

	for (uint64_t i = lo; i < hi; i++)
		k += fabs(c->x[i] - c->mean) > c->thr;
	c->out[b] = k;
}

int qf_wstats_compute(const float *x, uint64_t n, int threads,
		      qf_wstats *s, qf_err *err)
{
	size_t nb = (size_t)((n + QBLOCK - 1) / QBLOCK);
	struct ws_ctx c = { x, n, NULL, 0, 0, NULL };

	qf_wstats_init(s);
	if (n == 0)
		return 0;
	c.part = malloc(nb * sizeof *c.part);
	c.out = malloc(nb * sizeof *c.out);
	if (!c.part || !c.out) {
		free(c.part);
		free(c.out);
		return qf_err_set(err, "out of memory");
	}
	pfor(threads, nb, ws_block, &c);
	for (size_t b = 0; b < nb; b++)
		qf_wstats_merge(s, &c.part[b]);
	c.mean = s->mean;
	c.thr = 6 * sqrt(s->m2 / (double)s->n);
	pfor(threads, nb, ws_outliers, &c);
	for (size_t b = 0; b < nb; b++)
		s->outliers += c.out[b];
	free(c.part);
	free(c.out);
	return 0;
}

/* ---------------------------------------------------------------- quantizer state */

/* One tensor's job. */
struct qjob {
	const qf_qspec *q;
	const float *x;
	uint64_t rows, cols, numel;
	uint64_t unit_len;	/* elements of a full unit */
	uint64_t gpr;		/* units per row */
	uint64_t units;
	uint64_t key;
	const qf_qbuf *out;
	int want_err, need_fit;
	int threads;		/* for work inside one unit (per tensor) */
	float qlo, qhi;		/* code range of INT and compat */
	double alpha_k;
};

/* A unit's quantizer. */
struct uparam {
	float s, z;		/* scale (0: all to zero), zero point */
	float lo, hi;		/* clip range */
	double alpha;		/* its half-width */
};

/* A unit's fitted priors. */
struct ufit {
	double c, sig, b;
};

/* Block partial sums. */
struct part {
	double sse, sumsq, alpha, pg, pl;
	uint64_t clipped;
};

static void unit_span(const struct qjob *J, uint64_t u, uint64_t *start,
		      uint64_t *len)
{
	uint64_t r, g;

	if (J->q->gran == QF_QG_TENSOR) {
		*start = 0;
		*len = J->numel;
		return;
	}
	r = u / J->gpr;
	g = u % J->gpr;
	*start = r * J->cols + g * J->unit_len;
	*len = J->cols - g * J->unit_len < J->unit_len ?
		J->cols - g * J->unit_len : J->unit_len;
}

/* ------------------------------------------------------------ reductions */

/* Sums over a range, added block by block in order. */
struct racc {
	double sum, sumsq, sumabs;
	float min, max, amax;
};

static void racc_init(struct racc *a)
{
	memset(a, 0, sizeof *a);
	a->min = INFINITY;
	a->max = -INFINITY;
}

/* pass 0: sum, sum of squares, sum of |x|, min, max, max |x|;
 * pass 1: sum of (x - c)^2 and of |x - c| (into sumsq and sumabs). */
static void racc_range(const float *x, uint64_t n, int pass, double c,
		       struct racc *a)
{
	double s = 0, ss = 0, sa = 0;
	float mn = a->min, mx = a->max, am = a->amax;

	if (pass == 0) {
		for (uint64_t i = 0; i < n; i++) {
			double v = x[i];
			s += v;
			ss += v * v;
			sa += fabs(v);
			mn = x[i] < mn ? x[i] : mn;
			mx = x[i] > mx ? x[i] : mx;
			am = fabsf(x[i]) > am ? fabsf(x[i]) : am;
		}
	} else {
		for (uint64_t i = 0; i < n; i++) {
			double d = x[i] - c;
			ss += d * d;
			sa += fabs(d);
		}
	}
	a->sum += s;
	a->sumsq += ss;
	a->sumabs += sa;
	a->min = mn;
	a->max = mx;
	a->amax = am;
}

struct red_ctx {
	const float *x;
	uint64_t n;
	int pass;
	double c;
	struct racc *part;
};

static void red_block(void *arg, size_t b)
{
	struct red_ctx *c = arg;
	uint64_t lo = (uint64_t)b * QBLOCK;
	uint64_t len = c->n - lo < QBLOCK ? c->n - lo : QBLOCK;

	racc_init(&c->part[b]);
	racc_range(c->x + lo, len, c->pass, c->c, &c->part[b]);
}

static void racc_merge(struct racc *a, const struct racc *b)
{
	a->sum += b->sum;
	a->sumsq += b->sumsq;
	a->sumabs += b->sumabs;
	a->min = b->min < a->min ? b->min : a->min;
	a->max = b->max > a->max ? b->max : a->max;
	a->amax = b->amax > a->amax ? b->amax : a->amax;
}

/* The sums over x[0, n) in QBLOCK pieces (in parallel when threads > 1). */
static int reduce(const float *x, uint64_t n, int pass, double c, int threads,
		  struct racc *a)
{
	size_t nb = (size_t)((n + QBLOCK - 1) / QBLOCK);
	struct red_ctx ctx = { x, n, pass, c, NULL };
	struct racc one;

	racc_init(a);
	if (nb <= 1 || threads <= 1) {
		for (uint64_t lo = 0; lo < n; lo += QBLOCK) {
			racc_init(&one);
			racc_range(x + lo, n - lo < QBLOCK ? n - lo : QBLOCK, pass,
				   c, &one);
			racc_merge(a, &one);
		}
		return 0;
	}
	ctx.part = malloc(nb * sizeof *ctx.part);
	if (!ctx.part)
		return -1;
	pfor(threads, nb, red_block, &ctx);
	for (size_t b = 0; b < nb; b++)
		racc_merge(a, &ctx.part[b]);
	free(ctx.part);
	return 0;
}

/* The hot loops below are written as runs of VL elements with a constant
 * inner trip count: GCC's -O2 vectorizes those (its "very cheap" cost
 * model leaves loops of unknown length alone). */
#define VL 8

static float scan_absmax(const float *x, uint64_t n)
{
	float m[VL] = { 0 }, r = 0;
	uint64_t i = 0;

	for (; i + VL <= n; i += VL)
		for (int k = 0; k < VL; k++) {
			float a = fabsf(x[i + k]);
			m[k] = a > m[k] ? a : m[k];
		}
	for (; i < n; i++)
		r = fabsf(x[i]) > r ? fabsf(x[i]) : r;
	for (int k = 0; k < VL; k++)
		r = m[k] > r ? m[k] : r;
	return r;
}

static void scan_minmax(const float *x, uint64_t n, float *mn, float *mx)
{
	float lo[VL], hi[VL], a = INFINITY, b = -INFINITY;
	uint64_t i = 0;

	for (int k = 0; k < VL; k++) {
		lo[k] = INFINITY;
		hi[k] = -INFINITY;
	}
	for (; i + VL <= n; i += VL)
		for (int k = 0; k < VL; k++) {
			lo[k] = x[i + k] < lo[k] ? x[i + k] : lo[k];
			hi[k] = x[i + k] > hi[k] ? x[i + k] : hi[k];
		}
	for (; i < n; i++) {
		a = x[i] < a ? x[i] : a;
		b = x[i] > b ? x[i] : b;
	}
	for (int k = 0; k < VL; k++) {
		a = lo[k] < a ? lo[k] : a;
		b = hi[k] > b ? hi[k] : b;
	}
	*mn = a;
	*mx = b;
}

/* ------------------------------------------------------------ percentiles */

static void swapf(float *a, float *b)
{
	float t = *a;
	*a = *b;
	*b = t;
}

static int cmpf(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/* Partially order v so that v[k] is the k-th smallest, everything before
 * it no larger and everything after no smaller. */
static void select_k(float *v, uint64_t n, uint64_t k)
{
	uint64_t lo = 0, hi = n - 1;
	int depth = 0;

	while (hi > lo) {
		uint64_t mid = lo + (hi - lo) / 2, i, j;
		float p;

		if (++depth > 64) {	/* pathological: sort what is left */
			qsort(v + lo, (size_t)(hi - lo + 1), sizeof *v, cmpf);
			return;
		}
		if (v[mid] < v[lo]) swapf(&v[mid], &v[lo]);
		if (v[hi] < v[lo]) swapf(&v[hi], &v[lo]);
		if (v[hi] < v[mid]) swapf(&v[hi], &v[mid]);
		p = v[mid];
		i = lo;
		j = hi;
		while (i <= j) {
			while (v[i] < p)
				i++;
			while (v[j] > p)
				j--;
			if (i <= j) {
				swapf(&v[i], &v[j]);
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return;
	}
}

/* The p-th percentile of v[0, n) (v is reordered): with pos = p/100 *
 * (n - 1), k = floor(pos), the k-th and (k+1)-th smallest interpolated
 * linearly, as numpy's default does. */
static double percentile(float *v, uint64_t n, double p)
{
	double pos = p / 100.0 * (double)(n - 1), g;
	uint64_t k = (uint64_t)pos;
	float a, b;

	if (k >= n - 1)
		k = n - 1;
	g = pos - (double)k;
	select_k(v, n, k);
	a = v[k];
	if (g <= 0 || k + 1 >= n)
		return a;
	b = v[k + 1];
	for (uint64_t i = k + 2; i < n; i++)
		b = v[i] < b ? v[i] : b;
	return (double)a + ((double)b - a) * g;
}

/* ------------------------------------------------------------ kernels */

/* Scale and zero point for the clip range [lo, hi] (lo = -hi when
 * symmetric). */
static void make_scale(const struct qjob *J, float lo, float hi,
		       struct uparam *p)
{
	const qf_qspec *q = J->q;

	p->lo = lo;
	p->hi = hi;
	p->z = 0;
	switch (q->scheme) {
	case QF_QS_COMPAT: p->s = hi / 7.0f; break;
	case QF_QS_FP4: p->s = trunc15(hi / 6.0f); break;
	case QF_QS_NF4: p->s = trunc15(hi); break;
	case QF_QS_INT:
		if (q->sym) {
			p->s = trunc15(hi / J->qhi);
			break;
		}
		p->s = trunc15((hi - lo) / J->qhi);
		if (!(p->s > 0)) {	/* a constant unit: any scale will do */
			float m = fabsf(lo) > fabsf(hi) ? fabsf(lo) : fabsf(hi);
			p->s = m > 0 ? trunc15(m) : 1.0f;
			if (!(p->s > 0))
				p->s = 1.0f;
		}
		p->z = rne(-lo / p->s);
		break;
	}
	p->alpha = q->scheme == QF_QS_INT && !q->sym ?
		((double)hi - lo) / 2 : hi;
}

/* Quantize x[0, n) (global index start) with p into y, and the codes
 * when asked for; nearest or stochastic per the spec. */
static void apply(const struct qjob *J, const struct uparam *p,
		  const float *x, float *y, uint64_t n, uint64_t start)
{
	const qf_qspec *q = J->q;
	int stoch = q->round == QF_QR_STOCHASTIC;
	float s = p->s, z = p->z, qlo = J->qlo, qhi = J->qhi;
	int8_t *ci = J->out->codes ? (int8_t *)J->out->codes + start : NULL;
	uint8_t *cu = J->out->codes ? (uint8_t *)J->out->codes + start : NULL;

	if (!(s > 0)) {		/* symmetric schemes only: all zero */
		for (uint64_t i = 0; i < n; i++)
			y[i] = 0;
		if (ci)
			memset(ci, q->scheme == QF_QS_NF4 ? 7 : 0, n);
		return;
	}
	switch (q->scheme) {
	case QF_QS_COMPAT:
		for (uint64_t i = 0; i < n; i++) {
			float t = rne(x[i] / s);
			t = t < qlo ? qlo : t;
			t = t > qhi ? qhi : t;
			y[i] = t * s;
			if (ci)
				ci[i] = (int8_t)t;
		}
		break;
	case QF_QS_INT:
		if (q->sym && !stoch && !ci) {
			uint64_t i = 0;
			for (; i + VL <= n; i += VL) {
				float v[VL];	/* y may be x: load, then store */
				for (int k = 0; k < VL; k++)
					v[k] = x[i + k];
				for (int k = 0; k < VL; k++) {
					float t = v[k] / s;
					t = t < qlo ? qlo : t;
					t = t > qhi ? qhi : t;
					v[k] = rne_small(t) * s;
				}
				memcpy(y + i, v, sizeof v);
			}
			for (; i < n; i++) {
				float t = x[i] / s;
				t = t < qlo ? qlo : t;
				t = t > qhi ? qhi : t;
				y[i] = rne(t) * s;
			}
		} else if (!q->sym && !stoch && !cu && fabsf(z) <= 4194000.0f) {
			/* clamping x / s to +-2^22 first changes no code */
			const float big = 4194304.0f;
			uint64_t i = 0;
			for (; i + VL <= n; i += VL) {
				float v[VL];
				for (int k = 0; k < VL; k++)
					v[k] = x[i + k];
				for (int k = 0; k < VL; k++) {
					float t = v[k] / s;
					t = t < -big ? -big : t;
					t = t > big ? big : t;
					t = rne_small(t) + z;
					t = t < 0 ? 0 : t;
					t = t > qhi ? qhi : t;
					v[k] = (t - z) * s;
				}
				memcpy(y + i, v, sizeof v);
			}
			for (; i < n; i++) {
				float t = rne(x[i] / s) + z;
				t = t < 0 ? 0 : t;
				t = t > qhi ? qhi : t;
				y[i] = (t - z) * s;
			}
		} else if (q->sym && !stoch) {
			for (uint64_t i = 0; i < n; i++) {
				float t = x[i] / s;
				t = t < qlo ? qlo : t;
				t = t > qhi ? qhi : t;
				t = rne(t);
				y[i] = t * s;
				ci[i] = (int8_t)t;
			}
		} else if (!stoch) {
			for (uint64_t i = 0; i < n; i++) {
				float t = rne(x[i] / s) + z;
				t = t < 0 ? 0 : t;
				t = t > qhi ? qhi : t;
				y[i] = (t - z) * s;
				if (cu)
					cu[i] = (uint8_t)t;
			}
		} else {
			float lo = q->sym ? qlo : 0;
			for (uint64_t i = 0; i < n; i++) {
				float t = x[i] / s + z, f;
				t = t < lo ? lo : t;
				t = t > qhi ? qhi : t;
				f = floorf(t);
				if (uniform24(J->key, start + i) < t - f)
					f += 1;
				y[i] = (f - z) * s;
				if (ci && q->sym)
					ci[i] = (int8_t)f;
				else if (cu)
					cu[i] = (uint8_t)f;
			}
		}
		break;
	case QF_QS_FP4:
		for (uint64_t i = 0; i < n; i++) {
			float t = x[i] / s, a = fabsf(t);
			int m;
			if (!stoch) {
				/* ties to the even mantissa */
				m = (a > 0.25f) + (a >= 0.75f) + (a > 1.25f) +
					(a >= 1.75f) + (a > 2.5f) + (a >= 3.5f) +
					(a > 5.0f);
			} else {
				m = (a >= 0.5f) + (a >= 1.0f) + (a >= 1.5f) +
					(a >= 2.0f) + (a >= 3.0f) + (a >= 4.0f) +
					(a >= 6.0f);
				if (m < 7 && uniform24(J->key, start + i) <
				    (a - qf_e2m1_values[m]) /
				    (qf_e2m1_values[m + 1] - qf_e2m1_values[m]))
					m++;
			}
			y[i] = copysignf(qf_e2m1_values[m], t) * s;
			if (cu)
				cu[i] = (uint8_t)(m | (signbit(t) ? 8 : 0));
		}
		break;
	case QF_QS_NF4:
		for (uint64_t i = 0; i < n; i++) {
			float t = x[i] / s;
			int m = 0;
			if (!stoch) {
				for (int k = 0; k < 15; k++)
					m += nf4_mid[k] < (double)t;
			} else {
				for (int k = 1; k < 15; k++)
					m += qf_nf4_values[k] <= t;
				if (t >= 1.0f)
					m = 15;
				else if (t > -1.0f && uniform24(J->key, start + i) <
					 (t - qf_nf4_values[m]) /
					 (qf_nf4_values[m + 1] - qf_nf4_values[m]))
					m++;
			}
			y[i] = qf_nf4_values[m] * s;
			if (cu)
				cu[i] = (uint8_t)m;
		}
		break;
	}
}

/* Squared error of quantizing x[0, n) with p, rounding to nearest. */
static double sse_of(const struct qjob *J, const struct uparam *p,
		     const float *x, uint64_t n, float *tmp)
{
	qf_qbuf none = { NULL, NULL, NULL, NULL };
	struct qjob j = *J;
	qf_qspec q = *J->q;
	double e = 0;

	q.round = QF_QR_NEAREST;
	j.q = &q;
	j.out = &none;
	for (uint64_t lo = 0; lo < n; lo += 1024) {
		uint64_t k = n - lo < 1024 ? n - lo : 1024;
		double eb = 0;
		apply(&j, p, x + lo, tmp, k, lo);
		for (uint64_t i = 0; i < k; i++) {
			double d = (double)x[lo + i] - tmp[i];
			eb += d * d;
		}
		e += eb;
	}
	return e;
}

/* ------------------------------------------------------------ unit parameters */

/* Clip range for a candidate alpha: symmetric [-alpha, alpha] capped by
 * max|x|; asymmetric [c - alpha, c + alpha] within [min, max]. */
static void range_for(const struct qjob *J, double alpha, const struct racc *a,
		      double c, float *lo, float *hi)
{
	float af = (float)alpha;

	if (J->q->scheme != QF_QS_INT || J->q->sym) {
		*hi = af < a->amax ? af : a->amax;
		*lo = -*hi;
		return;
	}
	*lo = (float)(c - alpha);
	*hi = (float)(c + alpha);
	*lo = *lo > a->min ? *lo : a->min;
	*hi = *hi < a->max ? *hi : a->max;
}

/* SSE for a candidate alpha over the whole unit, in QBLOCK pieces. */
struct sse_ctx {
	const struct qjob *J;
	const struct uparam *p;
	const float *x;
	uint64_t n;
	double *part;
};

static void sse_block(void *arg, size_t b)
{
	struct sse_ctx *c = arg;
	uint64_t lo = (uint64_t)b * QBLOCK;
	uint64_t len = c->n - lo < QBLOCK ? c->n - lo : QBLOCK;
	float tmp[1024];

	c->part[b] = sse_of(c->J, c->p, c->x + lo, len, tmp);
}

static double unit_sse(const struct qjob *J, const struct uparam *p,
		       const float *x, uint64_t n, int threads, double *part)
{
	size_t nb = (size_t)((n + QBLOCK - 1) / QBLOCK);
	struct sse_ctx c = { J, p, x, n, part };
	double e = 0;

	if (threads > 1 && nb > 1)
		pfor(threads, nb, sse_block, &c);
	else
		for (size_t b = 0; b < nb; b++)
			sse_block(&c, b);
	for (size_t b = 0; b < nb; b++)
		e += part[b];
	return e;
}

/* Everything about one unit before it is quantized: its sums, fit, clip
 * range, scale.  threads > 1 only for a whole-tensor unit.  tmp holds n
 * floats (percentiles). */
static int unit_params(const struct qjob *J, const float *x, uint64_t n,
		       int threads, float *tmp, struct uparam *p,
		       struct ufit *f)
{
	const qf_qspec *q = J->q;
	int asym = q->scheme == QF_QS_INT && !q->sym;
	struct racc a, d;
	float lo, hi;
	double c = 0;

	if (q->clip == QF_QC_NONE && !J->need_fit && threads <= 1) {
		/* abs-max and no statistics: one quick pass */
		if (asym)
			scan_minmax(x, n, &lo, &hi);
		else
			lo = -(hi = scan_absmax(x, n));
		memset(f, 0, sizeof *f);
		make_scale(J, lo, hi, p);
		return 0;
	}
	if (reduce(x, n, 0, 0, threads, &a) < 0)
		return -1;
	f->c = 0;
	f->sig = sqrt(a.sumsq / (double)n);
	f->b = a.sumabs / (double)n;
	if (asym && (J->need_fit || q->clip == QF_QC_ACIQ_GAUSS ||
		     q->clip == QF_QC_ACIQ_LAPLACE || q->clip == QF_QC_MSE)) {
		c = a.sum / (double)n;
		if (reduce(x, n, 1, c, threads, &d) < 0)
			return -1;
		f->c = c;
		f->sig = sqrt(d.sumsq / (double)n);
		f->b = d.sumabs / (double)n;
	}
	switch (q->clip) {
	case QF_QC_NONE:
		lo = asym ? a.min : -a.amax;
		hi = asym ? a.max : a.amax;
		break;
	case QF_QC_PERCENTILE:
		if (asym) {
			double t = (100 - q->pct) / 2;
			memcpy(tmp, x, n * sizeof *tmp);
			lo = (float)percentile(tmp, n, t);
			hi = (float)percentile(tmp, n, 100 - t);
		} else {
			for (uint64_t i = 0; i < n; i++)
				tmp[i] = fabsf(x[i]);
			hi = (float)percentile(tmp, n, q->pct);
			lo = -hi;
		}
		break;
	case QF_QC_ACIQ_GAUSS:
	case QF_QC_ACIQ_LAPLACE:
		range_for(J, J->alpha_k * (q->clip == QF_QC_ACIQ_GAUSS ?
					    f->sig : f->b), &a, c, &lo, &hi);
		break;
	default: {	/* QF_QC_MSE */
		double A = asym ? fmax((double)a.max - c, c - a.min) : a.amax;
		double best = INFINITY, *part;
		size_t nb = (size_t)((n + QBLOCK - 1) / QBLOCK);
		int m0 = 0, mb = 0;

		part = malloc(nb * sizeof *part);
		if (!part)
			return -1;
		for (int pass = 0; pass < 2; pass++) {
			int from = pass ? m0 - MSE_COARSE : MSE_COARSE;
			int to = pass ? m0 + MSE_COARSE : MSE_GRID;
			int step = pass ? 1 : MSE_COARSE;
			for (int m = from < 1 ? 1 : from; m <= to && m <= MSE_GRID;
			     m += step) {
				struct uparam cand;
				double e;
				range_for(J, A * m / MSE_GRID, &a, c, &lo, &hi);
				make_scale(J, lo, hi, &cand);
				e = unit_sse(J, &cand, x, n, threads, part);
				if (e < best) {
					best = e;
					mb = m;
				}
			}
			m0 = mb;
		}
		free(part);
		range_for(J, A * mb / MSE_GRID, &a, c, &lo, &hi);
		break;
	}
	}
	make_scale(J, lo, hi, p);
	return 0;
}

/* Add a unit's error figures (nearest or not, whatever was applied). */
static void unit_err(const struct qjob *J, const struct uparam *p,
		     const struct ufit *f, const float *x, const float *y,
		     uint64_t n, struct part *pt)
{
	double sse = 0, ss = 0, a_lo, a_hi;
	uint64_t clipped = 0;
	int bits = J->q->bits;

	for (uint64_t i = 0; i < n; i++) {
		double d = (double)x[i] - y[i];
		sse += d * d;
		ss += (double)x[i] * x[i];
		clipped += x[i] < p->lo || x[i] > p->hi;
	}
	pt->sse += sse;
	pt->sumsq += ss;
	pt->clipped += clipped;
	a_lo = f->c - p->lo;
	a_hi = p->hi - f->c;
	pt->pg += (double)n * pred_mse(0, a_lo, a_hi, f->sig, bits);
	pt->pl += (double)n * pred_mse(1, a_lo, a_hi, f->b, bits);
}

/* ------------------------------------------------------------ drivers */

struct run {
	const struct qjob *J;
	struct part *part;
	uint64_t units_per_block;
	struct uparam tp;	/* per tensor: the one unit's parameters */
	struct ufit tf;
	int fail;
};

static void store_unit(const struct qjob *J, uint64_t u, const struct uparam *p)
{
	if (J->out->scales)
		((float *)J->out->scales)[u] = p->s;
	if (J->out->zeros)
		J->out->zeros[u] = (int32_t)p->z;
}

/* Channel and group granularity: a run of whole units. */
static void units_block(void *arg, size_t b)
{
	struct run *R = arg;
	const struct qjob *J = R->J;
	uint64_t u0 = (uint64_t)b * R->units_per_block;
	uint64_t u1 = u0 + R->units_per_block < J->units ?
		u0 + R->units_per_block : J->units;
	struct part *pt = &R->part[b];
	float *tmp = NULL;

	memset(pt, 0, sizeof *pt);
	if (J->q->clip == QF_QC_PERCENTILE &&
	    !(tmp = malloc(J->unit_len * sizeof *tmp))) {
		__atomic_store_n(&R->fail, 1, __ATOMIC_RELAXED);
		return;
	}
	for (uint64_t u = u0; u < u1; u++) {
		uint64_t start, len;
		struct uparam p;
		struct ufit f;

		unit_span(J, u, &start, &len);
		if (unit_params(J, J->x + start, len, 1, tmp, &p, &f) < 0) {
			__atomic_store_n(&R->fail, 1, __ATOMIC_RELAXED);
			break;
		}
		apply(J, &p, J->x + start, J->out->y + start, len, start);
		store_unit(J, u, &p);
		pt->alpha += p.alpha;
		if (J->want_err)
			unit_err(J, &p, &f, J->x + start, J->out->y + start, len, pt);
	}
	free(tmp);
}

/* Per tensor: element blocks with the one unit's parameters. */
static void tensor_block(void *arg, size_t b)
{
	struct run *R = arg;
	const struct qjob *J = R->J;
	uint64_t start = (uint64_t)b * QBLOCK;
	uint64_t len = J->numel - start < QBLOCK ? J->numel - start : QBLOCK;

	memset(&R->part[b], 0, sizeof R->part[b]);
	apply(J, &R->tp, J->x + start, J->out->y + start, len, start);
	if (J->want_err) {
		struct part *pt = &R->part[b];
		unit_err(J, &R->tp, &R->tf, J->x + start, J->out->y + start,
			 len, pt);
		/* the prediction is per unit: counted once, below */
		pt->pg = pt->pl = 0;
	}
}

/* ggml blocks: a run of 32-element units through the reference code. */
static void ggml_block(void *arg, size_t b)
{
	struct run *R = arg;
	const struct qjob *J = R->J;
	uint64_t u0 = (uint64_t)b * R->units_per_block;
	uint64_t u1 = u0 + R->units_per_block < J->units ?
		u0 + R->units_per_block : J->units;
	struct part *pt = &R->part[b];
	int8_t codes[QF_QK];
	uint16_t d;

	memset(pt, 0, sizeof *pt);
	for (uint64_t u = u0; u < u1; u++) {
		const float *x = J->x + u * QF_QK;
		float *y = J->out->y + u * QF_QK;
		int8_t *c = J->out->codes ? (int8_t *)J->out->codes + u * QF_QK : codes;
		struct uparam p;
		struct ufit f;
		struct racc a;

		if (J->q->scheme == QF_QS_Q8_0) {
			qf_q8_0_quantize(x, QF_QK, &d, c);
			qf_q8_0_dequantize(&d, c, QF_QK, y);
		} else {
			qf_q4_0_quantize(x, QF_QK, &d, c);
			qf_q4_0_dequantize(&d, c, QF_QK, y);
		}
		if (J->out->scales)
			((uint16_t *)J->out->scales)[u] = d;
		racc_init(&a);
		racc_range(x, QF_QK, 0, 0, &a);
		p.lo = -a.amax;
		p.hi = a.amax;
		p.alpha = a.amax;
		pt->alpha += p.alpha;
		if (J->want_err) {
			f.c = 0;
			f.sig = sqrt(a.sumsq / QF_QK);
			f.b = a.sumabs / QF_QK;
			unit_err(J, &p, &f, x, y, QF_QK, pt);
		}
	}
}

int qf_quantize(const qf_qspec *q, const float *x, uint64_t rows,
		uint64_t cols, uint64_t key, const qf_qbuf *out, int want_err,
		qf_qres *res, int threads, qf_err *err)
{
	struct qjob J;
	struct run R;
	size_t nb;
	int ggml = q->scheme == QF_QS_Q8_0 || q->scheme == QF_QS_Q4_0;

	memset(res, 0, sizeof *res);
	if (qf_qspec_check(q, err) < 0)
		return -1;
	pthread_once(&nf4_once, nf4_init);
	memset(&J, 0, sizeof J);
	J.q = q;
	J.x = x;
	J.rows = rows;
	J.cols = cols;
	J.numel = rows * cols;
	J.key = key;
	J.out = out;
	J.want_err = want_err;
	J.need_fit = want_err;
	J.threads = threads < 1 ? 1 : threads;
	J.gpr = groups_per_row(q, cols);
	J.unit_len = q->gran == QF_QG_TENSOR ? J.numel :
		q->gran == QF_QG_CHANNEL ? cols : q->group;
	if (J.unit_len > cols && q->gran == QF_QG_GROUP)
		J.unit_len = cols;
	J.units = qf_qunits(q, rows, cols);
	if (q->scheme == QF_QS_COMPAT) {
		J.qlo = -8;
		J.qhi = 7;
	} else if (q->scheme == QF_QS_INT) {
		J.qhi = q->sym ? (float)((1 << (q->bits - 1)) - 1) :
			(float)((1 << q->bits) - 1);
		J.qlo = q->sym ? -J.qhi : 0;
	}
	if (q->clip == QF_QC_ACIQ_GAUSS)
		J.alpha_k = qf_aciq_alpha_gauss(q->bits);
	else if (q->clip == QF_QC_ACIQ_LAPLACE)
		J.alpha_k = qf_aciq_alpha_laplace(q->bits);
	res->numel = J.numel;
	res->units = J.units;
	res->alpha_k = J.alpha_k;
	if (J.numel == 0)
		return 0;
	if (J.units == 0)
		return qf_err_set(err, "%s needs rows whose length is a multiple "
				  "of %d, not %llu", qf_qscheme_name(q->scheme),
				  QF_QK, (unsigned long long)cols);

	memset(&R, 0, sizeof R);
	R.J = &J;
	if (q->gran == QF_QG_TENSOR) {
		float *tmp = NULL;
		nb = (size_t)((J.numel + QBLOCK - 1) / QBLOCK);
		if (q->clip == QF_QC_PERCENTILE &&
		    !(tmp = malloc(J.numel * sizeof *tmp)))
			return qf_err_set(err, "out of memory");
		if (unit_params(&J, x, J.numel, J.threads, tmp, &R.tp, &R.tf) < 0) {
			free(tmp);
			return qf_err_set(err, "out of memory");
		}
		free(tmp);
	} else {
		R.units_per_block = QBLOCK / J.unit_len;
		if (R.units_per_block == 0)
			R.units_per_block = 1;
		if (ggml)
			R.units_per_block = QBLOCK / QF_QK;
		nb = (size_t)((J.units + R.units_per_block - 1) / R.units_per_block);
	}
	R.part = malloc(nb * sizeof *R.part);
	if (!R.part)
		return qf_err_set(err, "out of memory");
	pfor(J.threads, nb, ggml ? ggml_block : q->gran == QF_QG_TENSOR ?
	     tensor_block : units_block, &R);
	if (R.fail) {
		free(R.part);
		return qf_err_set(err, "out of memory");
	}
	for (size_t b = 0; b < nb; b++) {
		res->alpha_sum += R.part[b].alpha;
		res->sse += R.part[b].sse;
		res->sumsq += R.part[b].sumsq;
		res->clipped += R.part[b].clipped;
		res->pred_gauss += R.part[b].pg;
		res->pred_laplace += R.part[b].pl;
	}
	if (q->gran == QF_QG_TENSOR) {
		double a_lo = R.tf.c - R.tp.lo, a_hi = R.tp.hi - R.tf.c;
		store_unit(&J, 0, &R.tp);
		res->alpha_sum = R.tp.alpha;
		if (want_err) {
			res->pred_gauss = (double)J.numel *
				pred_mse(0, a_lo, a_hi, R.tf.sig, q->bits);
			res->pred_laplace = (double)J.numel *
				pred_mse(1, a_lo, a_hi, R.tf.b, q->bits);
		}
	}
	free(R.part);
	if (!want_err) {
		res->sse = res->sumsq = 0;
		res->clipped = 0;
		res->pred_gauss = res->pred_laplace = 0;
	}
	return 0;
}
