/*
 * qscalar.c - the scalar quantizers: a unit's scale and zero point, and
 * its elements quantized to uniform INT, compat, FP4 E2M1 or NF4,
 * rounding to nearest or stochastically.  Definitions: docs/quantize.md.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "quant/quant_impl.h"

/* Midpoints between neighbouring NF4 values, in double: x goes to the
 * number of midpoints below it (a tie to the lower code). */
static double nf4_mid[15];
static pthread_once_t nf4_once = PTHREAD_ONCE_INIT;

static void nf4_init(void)
{
	for (int i = 0; i < 15; i++)
		nf4_mid[i] = ((double)qf_nf4_values[i] + qf_nf4_values[i + 1]) / 2;
}

void qf_qs_init(void)
{
	pthread_once(&nf4_once, nf4_init);
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
	uint64_t x = key + i * 0x9e3779b97f4a7c15ull;

	return (float)(qf_splitmix64(&x) >> 40) * 0x1p-24f;
}

/* ---------------------------------------------------------------- scales */

void qf_qs_scale(const struct qjob *J, float lo, float hi, struct uparam *p)
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
		if (isinf(hi - lo))	/* beyond f32 near +-FLT_MAX: in double */
			p->s = trunc15((float)(((double)hi - lo) / J->qhi));
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

/* ---------------------------------------------------------------- kernels */

/* One run of elements to quantize: x[0, n) into y (y may be x), codes
 * into ci (signed) or cu (unsigned) when asked for; start is the global
 * index of x[0] (stochastic rounding). */
struct kern {
	const float *x;
	float *y;
	uint64_t n, start, key;
	float s, z, qlo, qhi;
	int8_t *ci;
	uint8_t *cu;
	int sym, stoch;
};

/* A zero scale (symmetric schemes only): everything to zero. */
static void all_zero(const struct kern *a, int scheme)
{
	for (uint64_t i = 0; i < a->n; i++)
		a->y[i] = 0;
	if (a->ci)
		memset(a->ci, scheme == QF_QS_NF4 ? 7 : 0, a->n);
}

static void compat(const struct kern *a)
{
	const float *x = a->x;
	float *y = a->y, s = a->s, qlo = a->qlo, qhi = a->qhi;
	int8_t *ci = a->ci;

	for (uint64_t i = 0; i < a->n; i++) {
		float t = rne(x[i] / s);
		t = t < qlo ? qlo : t;
		t = t > qhi ? qhi : t;
		y[i] = t * s;
		if (ci)
			ci[i] = (int8_t)t;
	}
}

/* INT symmetric, to nearest, no codes: the common case, vectorized. */
static void int_sym_fast(const struct kern *a)
{
	const float *x = a->x;
	float *y = a->y, s = a->s, qlo = a->qlo, qhi = a->qhi;
	uint64_t i = 0, n = a->n;

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
}

/* INT asymmetric, to nearest, no codes, |z| <= 4194000: vectorized;
 * clamping x / s to +-2^22 first changes no code. */
static void int_asym_fast(const struct kern *a)
{
	const float big = 4194304.0f;
	const float *x = a->x;
	float *y = a->y, s = a->s, z = a->z, qhi = a->qhi;
	uint64_t i = 0, n = a->n;

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
}

/* INT symmetric, to nearest, with codes. */
static void int_sym(const struct kern *a)
{
	const float *x = a->x;
	float *y = a->y, s = a->s, qlo = a->qlo, qhi = a->qhi;
	int8_t *ci = a->ci;

	for (uint64_t i = 0; i < a->n; i++) {
		float t = x[i] / s;
		t = t < qlo ? qlo : t;
		t = t > qhi ? qhi : t;
		t = rne(t);
		y[i] = t * s;
		ci[i] = (int8_t)t;
	}
}

/* INT asymmetric, to nearest. */
static void int_asym(const struct kern *a)
{
	const float *x = a->x;
	float *y = a->y, s = a->s, z = a->z, qhi = a->qhi;
	uint8_t *cu = a->cu;

	for (uint64_t i = 0; i < a->n; i++) {
		float t = rne(x[i] / s) + z;
		t = t < 0 ? 0 : t;
		t = t > qhi ? qhi : t;
		y[i] = (t - z) * s;
		if (cu)
			cu[i] = (uint8_t)t;
	}
}

/* INT, rounding stochastically. */
static void int_stoch(const struct kern *a)
{
	const float *x = a->x;
	float *y = a->y, s = a->s, z = a->z, qhi = a->qhi;
	float lo = a->sym ? a->qlo : 0;

	for (uint64_t i = 0; i < a->n; i++) {
		float t = x[i] / s + z, f;
		t = t < lo ? lo : t;
		t = t > qhi ? qhi : t;
		f = floorf(t);
		if (uniform24(a->key, a->start + i) < t - f)
			f += 1;
		y[i] = (f - z) * s;
		if (a->ci && a->sym)
			a->ci[i] = (int8_t)f;
		else if (a->cu)
			a->cu[i] = (uint8_t)f;
	}
}

static void int_any(const struct kern *a)
{
	if (a->sym && !a->stoch && !a->ci)
		int_sym_fast(a);
	else if (!a->sym && !a->stoch && !a->cu && fabsf(a->z) <= 4194000.0f)
		int_asym_fast(a);
	else if (a->sym && !a->stoch)
		int_sym(a);
	else if (!a->stoch)
		int_asym(a);
	else
		int_stoch(a);
}

static void fp4(const struct kern *a)
{
	const float *x = a->x;
	float *y = a->y, s = a->s;
	uint8_t *cu = a->cu;

	for (uint64_t i = 0; i < a->n; i++) {
		float t = x[i] / s, v = fabsf(t);
		int m;
		if (!a->stoch) {
			/* ties to the even mantissa */
			m = (v > 0.25f) + (v >= 0.75f) + (v > 1.25f) +
				(v >= 1.75f) + (v > 2.5f) + (v >= 3.5f) +
				(v > 5.0f);
		} else {
			m = (v >= 0.5f) + (v >= 1.0f) + (v >= 1.5f) +
				(v >= 2.0f) + (v >= 3.0f) + (v >= 4.0f) +
				(v >= 6.0f);
			if (m < 7 && uniform24(a->key, a->start + i) <
			    (v - qf_e2m1_values[m]) /
			    (qf_e2m1_values[m + 1] - qf_e2m1_values[m]))
				m++;
		}
		y[i] = copysignf(qf_e2m1_values[m], t) * s;
		if (cu)
			cu[i] = (uint8_t)(m | (signbit(t) ? 8 : 0));
	}
}

static void nf4(const struct kern *a)
{
	const float *x = a->x;
	float *y = a->y, s = a->s;
	uint8_t *cu = a->cu;

	for (uint64_t i = 0; i < a->n; i++) {
		float t = x[i] / s;
		int m = 0;
		if (!a->stoch) {
			for (int k = 0; k < 15; k++)
				m += nf4_mid[k] < (double)t;
		} else {
			for (int k = 1; k < 15; k++)
				m += qf_nf4_values[k] <= t;
			if (t >= 1.0f)
				m = 15;
			else if (t > -1.0f && uniform24(a->key, a->start + i) <
				 (t - qf_nf4_values[m]) /
				 (qf_nf4_values[m + 1] - qf_nf4_values[m]))
				m++;
		}
		y[i] = qf_nf4_values[m] * s;
		if (cu)
			cu[i] = (uint8_t)m;
	}
}

void qf_qs_apply(const struct qjob *J, const struct uparam *p,
		 const float *x, float *y, uint64_t n, uint64_t start)
{
	const qf_qspec *q = J->q;
	struct kern a = {
		x, y, n, start, J->key, p->s, p->z, J->qlo, J->qhi,
		J->out->codes ? (int8_t *)J->out->codes + start : NULL,
		J->out->codes ? (uint8_t *)J->out->codes + start : NULL,
		q->sym, q->round == QF_QR_STOCHASTIC,
	};

	if (!(a.s > 0)) {
		all_zero(&a, q->scheme);
		return;
	}
	switch (q->scheme) {
	case QF_QS_COMPAT: compat(&a); break;
	case QF_QS_INT: int_any(&a); break;
	case QF_QS_FP4: fp4(&a); break;
	case QF_QS_NF4: nf4(&a); break;
	}
}

double qf_qs_sse(const struct qjob *J, const struct uparam *p,
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
		qf_qs_apply(&j, p, x + lo, tmp, k, lo);
		for (uint64_t i = 0; i < k; i++) {
			double d = (double)x[lo + i] - tmp[i];
			eb += d * d;
		}
		e += eb;
	}
	return e;
}
