/* dtype.c - element types and exact conversions between them */
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/core.h"
#include "core/internal.h"

static const struct {
	const char *name;
	size_t size;
} dtypes[QF_DTYPE_MAX + 1] = {
	[QF_F32] = { "f32", 4 },   [QF_F64] = { "f64", 8 },
	[QF_F16] = { "f16", 2 },   [QF_BF16] = { "bf16", 2 },
	[QF_I8] = { "i8", 1 },     [QF_U8] = { "u8", 1 },
	[QF_I16] = { "i16", 2 },   [QF_I32] = { "i32", 4 },
	[QF_I64] = { "i64", 8 },   [QF_U16] = { "u16", 2 },
	[QF_U32] = { "u32", 4 },   [QF_U64] = { "u64", 8 },
	[QF_BOOL] = { "bool", 1 },
};

static int known(int dtype)
{
	return dtype >= 1 && dtype <= QF_DTYPE_MAX;
}

size_t qf_dtype_size(int dtype)
{
	return known(dtype) ? dtypes[dtype].size : 0;
}

const char *qf_dtype_name(int dtype)
{
	return known(dtype) ? dtypes[dtype].name : NULL;
}

int qf_dtype_parse(const char *name)
{
	int t;

	if (!name)
		return 0;
	for (t = 1; t <= QF_DTYPE_MAX; t++)
		if (strcmp(name, dtypes[t].name) == 0)
			return t;
	return 0;
}

int qf_dtype_is_float(int dtype)
{
	return dtype == QF_F32 || dtype == QF_F64 || dtype == QF_F16 ||
	       dtype == QF_BF16;
}

/* ---------------------------------------------------------------- rounding */

/*
 * Round (neg ? -1 : 1) * m * 2^e, m > 0, to the nearest value (ties to
 * even) of a binary format with eb exponent bits and mb fraction bits,
 * and return its bit pattern.  Subnormal results and overflow to
 * infinity come out of the same arithmetic.
 */
static uint32_t round_bits(int neg, uint64_t m, int e, int eb, int mb)
{
	int bias = (1 << (eb - 1)) - 1;
	int emin = 1 - bias;
	int lead = 63 - __builtin_clzll(m) + e;	/* exponent of m's top bit */
	int q = (lead > emin ? lead : emin) - mb;	/* exponent of the last kept bit */
	int s = q - e;
	uint32_t inf = ((1u << eb) - 1) << mb;
	uint32_t bits;
	uint64_t r;

	if (lead > bias)
		return ((uint32_t)neg << (eb + mb)) | inf;
	if (s <= 0) {
		r = m << -s;
	} else if (s < 64) {
		uint64_t rem = m & ((1ull << s) - 1), half = 1ull << (s - 1);

		r = m >> s;
		if (rem > half || (rem == half && (r & 1)))
			r++;
	} else {
		r = s == 64 && m > (1ull << 63);
	}
	/* r counts units of 2^q; a carry out of the fraction bumps the
	 * exponent field, and a subnormal rounding up to 2^mb is the
	 * smallest normal, both by plain addition. */
	if (lead < emin)
		bits = (uint32_t)r;
	else
		bits = ((uint32_t)(lead + bias - 1) << mb) + (uint32_t)r;
	if (bits > inf)
		bits = inf;
	return ((uint32_t)neg << (eb + mb)) | bits;
}

/* A NaN narrowed: quiet, with the sign and the leading payload bits. */
static uint32_t nan_bits(int neg, uint64_t frac, int fbits, int eb, int mb)
{
	uint32_t inf = ((1u << eb) - 1) << mb;

	return ((uint32_t)neg << (eb + mb)) | inf | (1u << (mb - 1)) |
	       (uint32_t)(frac >> (fbits - mb));
}

static uint32_t f64_narrow(double d, int eb, int mb)
{
	uint64_t u, frac;
	int neg, ex;

	memcpy(&u, &d, sizeof u);
	neg = (int)(u >> 63);
	ex = (int)(u >> 52) & 0x7ff;
	frac = u & ((1ull << 52) - 1);
	if (ex == 0x7ff) {
		if (frac)
			return nan_bits(neg, frac, 52, eb, mb);
		return ((uint32_t)neg << (eb + mb)) | (((1u << eb) - 1) << mb);
	}
	if (ex == 0) {
		if (!frac)
			return (uint32_t)neg << (eb + mb);
		return round_bits(neg, frac, -1074, eb, mb);
	}
	return round_bits(neg, frac | (1ull << 52), ex - 1075, eb, mb);
}

static uint16_t f32_narrow(float f, int eb, int mb)
{
	uint32_t u, frac;
	int neg, ex;

	memcpy(&u, &f, sizeof u);
	neg = (int)(u >> 31);
	ex = (int)(u >> 23) & 0xff;
	frac = u & 0x7fffff;
	if (ex == 0xff) {
		if (frac)
			return (uint16_t)nan_bits(neg, frac, 23, eb, mb);
		return (uint16_t)(((uint32_t)neg << (eb + mb)) |
				  (((1u << eb) - 1) << mb));
	}
	if (ex == 0) {
		if (!frac)
			return (uint16_t)((uint32_t)neg << (eb + mb));
		return (uint16_t)round_bits(neg, frac, -149, eb, mb);
	}
	return (uint16_t)round_bits(neg, frac | 0x800000, ex - 150, eb, mb);
}

static float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

float qf_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t ex = (h >> 10) & 0x1f, frac = h & 0x3ff;
	int top;

	if (ex == 0x1f)
		return bits_f32(sign | 0x7f800000 | (frac << 13) |
				(frac ? 0x400000 : 0));
	if (ex)
		return bits_f32(sign | ((ex + 112) << 23) | (frac << 13));
	if (!frac)
		return bits_f32(sign);
	/* subnormal: frac * 2^-24, normal in f32 */
	top = 31 - __builtin_clz(frac);
	return bits_f32(sign | ((uint32_t)(top + 103) << 23) |
			((frac << (23 - top)) & 0x7fffff));
}

/* Results in f16's normal range, the common case, take a shortcut:
 * adding just under half a unit (plus the kept lsb, for ties to even)
 * rounds, and a carry runs into the exponent as it should. */
uint16_t qf_f32_to_f16(float f)
{
	uint32_t u, a;

	memcpy(&u, &f, sizeof u);
	a = u & 0x7fffffff;
	if (a >= 0x38800000 && a < 0x477ff000) {	/* [2^-14, 65520) */
		a += 0xfff + ((a >> 13) & 1);
		return (uint16_t)(((u >> 16) & 0x8000) | ((a >> 13) - (112 << 10)));
	}
	return f32_narrow(f, 5, 10);
}

float qf_bf16_to_f32(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;

	if ((u & 0x7f800000) == 0x7f800000 && (u & 0x7fffff))
		u |= 0x400000;
	return bits_f32(u);
}

/* bf16 shares f32's exponent range, so the same shortcut holds for
 * every finite value, subnormals included; the largest ones carry into
 * the infinity pattern. */
uint16_t qf_f32_to_bf16(float f)
{
	uint32_t u, a;

	memcpy(&u, &f, sizeof u);
	a = u & 0x7fffffff;
	if (a < 0x7f800000) {
		a += 0x7fff + ((a >> 16) & 1);
		return (uint16_t)(((u >> 16) & 0x8000) | (a >> 16));
	}
	return f32_narrow(f, 8, 7);
}

/* ---------------------------------------------------------------- conversion */

enum { V_FLOAT, V_INT, V_UINT };

/* One element, held exactly. */
struct val {
	int kind;
	double d;
	int64_t i;
	uint64_t u;
};

#define LOAD(T, field, k) do { \
	T x_; \
	memcpy(&x_, p, sizeof x_); \
	v->kind = (k); \
	v->field = x_; \
} while (0)

static void load(int st, const unsigned char *p, struct val *v)
{
	uint16_t h;

	switch (st) {
	case QF_F32: LOAD(float, d, V_FLOAT); break;
	case QF_F64: LOAD(double, d, V_FLOAT); break;
	case QF_F16:
		memcpy(&h, p, 2);
		v->kind = V_FLOAT;
		v->d = qf_f16_to_f32(h);
		break;
	case QF_BF16:
		memcpy(&h, p, 2);
		v->kind = V_FLOAT;
		v->d = qf_bf16_to_f32(h);
		break;
	case QF_I8: LOAD(int8_t, i, V_INT); break;
	case QF_I16: LOAD(int16_t, i, V_INT); break;
	case QF_I32: LOAD(int32_t, i, V_INT); break;
	case QF_I64: LOAD(int64_t, i, V_INT); break;
	case QF_U8: LOAD(uint8_t, u, V_UINT); break;
	case QF_U16: LOAD(uint16_t, u, V_UINT); break;
	case QF_U32: LOAD(uint32_t, u, V_UINT); break;
	case QF_U64: LOAD(uint64_t, u, V_UINT); break;
	case QF_BOOL:
		v->kind = V_UINT;
		v->u = *p != 0;
		break;
	}
}

/* Narrow float from an integer, rounded once. */
static uint16_t int_narrow(const struct val *v, int eb, int mb)
{
	uint64_t m;
	int neg = 0;

	if (v->kind == V_INT && v->i < 0) {
		neg = 1;
		m = 0 - (uint64_t)v->i;
	} else {
		m = v->kind == V_INT ? (uint64_t)v->i : v->u;
	}
	if (!m)
		return 0;
	return (uint16_t)round_bits(neg, m, 0, eb, mb);
}

static uint16_t narrow(const struct val *v, int eb, int mb)
{
	if (v->kind == V_FLOAT)
		return (uint16_t)f64_narrow(v->d, eb, mb);
	return int_narrow(v, eb, mb);
}

static void store_float(int dt, unsigned char *p, const struct val *v)
{
	uint16_t h;
	double d;
	float f;

	switch (dt) {
	case QF_F64:
		d = v->kind == V_FLOAT ? v->d :
		    v->kind == V_INT ? (double)v->i : (double)v->u;
		memcpy(p, &d, sizeof d);
		break;
	case QF_F32:
		f = v->kind == V_FLOAT ? (float)v->d :
		    v->kind == V_INT ? (float)v->i : (float)v->u;
		memcpy(p, &f, sizeof f);
		break;
	case QF_F16:
		h = narrow(v, 5, 10);
		memcpy(p, &h, sizeof h);
		break;
	case QF_BF16:
		h = narrow(v, 8, 7);
		memcpy(p, &h, sizeof h);
		break;
	}
}

/* The value as an integer in [lo, hi] (signed) or [0, uhi] (unsigned
 * targets, lo == 0); 0 when it is not exactly one. */
static int get_signed(const struct val *v, int64_t lo, int64_t hi, int64_t *out)
{
	switch (v->kind) {
	case V_INT:
		*out = v->i;
		return v->i >= lo && v->i <= hi;
	case V_UINT:
		*out = (int64_t)v->u;
		return v->u <= (uint64_t)hi;
	default:
		/* -(hi + 1) and hi + 1 are powers of two, exact as doubles */
		if (!(v->d >= (double)lo && v->d < -(double)lo))
			return 0;
		*out = (int64_t)v->d;
		return (double)*out == v->d && *out <= hi;
	}
}

static int get_unsigned(const struct val *v, uint64_t hi, uint64_t *out)
{
	switch (v->kind) {
	case V_INT:
		*out = (uint64_t)v->i;
		return v->i >= 0 && (uint64_t)v->i <= hi;
	case V_UINT:
		*out = v->u;
		return v->u <= hi;
	default:
		/* hi + 1 is 2, 2^8, 2^16, 2^32 or 2^64 */
		if (!(v->d >= 0 && v->d < (double)(hi / 2 + 1) * 2))
			return 0;
		*out = (uint64_t)v->d;
		return (double)*out == v->d && *out <= hi;
	}
}

#define PUT(T, x) do { T y_ = (T)(x); memcpy(p, &y_, sizeof y_); } while (0)

/* Store v as an integer type; 0 when it is not representable. */
static int store_int(int dt, unsigned char *p, const struct val *v)
{
	int64_t i;
	uint64_t u;

	switch (dt) {
	case QF_I8:
		if (!get_signed(v, INT8_MIN, INT8_MAX, &i))
			return 0;
		PUT(int8_t, i);
		return 1;
	case QF_I16:
		if (!get_signed(v, INT16_MIN, INT16_MAX, &i))
			return 0;
		PUT(int16_t, i);
		return 1;
	case QF_I32:
		if (!get_signed(v, INT32_MIN, INT32_MAX, &i))
			return 0;
		PUT(int32_t, i);
		return 1;
	case QF_I64:
		if (!get_signed(v, INT64_MIN, INT64_MAX, &i))
			return 0;
		PUT(int64_t, i);
		return 1;
	case QF_U8:
		if (!get_unsigned(v, UINT8_MAX, &u))
			return 0;
		PUT(uint8_t, u);
		return 1;
	case QF_U16:
		if (!get_unsigned(v, UINT16_MAX, &u))
			return 0;
		PUT(uint16_t, u);
		return 1;
	case QF_U32:
		if (!get_unsigned(v, UINT32_MAX, &u))
			return 0;
		PUT(uint32_t, u);
		return 1;
	case QF_U64:
		if (!get_unsigned(v, UINT64_MAX, &u))
			return 0;
		PUT(uint64_t, u);
		return 1;
	case QF_BOOL:
		if (!get_unsigned(v, 1, &u))
			return 0;
		PUT(uint8_t, u);
		return 1;
	}
	return 0;
}

/* d rounded to the source type st, for the shortest exact printing. */
static double as_type(double d, int st)
{
	switch (st) {
	case QF_F32: return (float)d;
	case QF_F16: return qf_f16_to_f32((uint16_t)f64_narrow(d, 5, 10));
	case QF_BF16: return qf_bf16_to_f32((uint16_t)f64_narrow(d, 8, 7));
	}
	return d;
}

/* The shortest text that reads back as the same value of type st. */
static void float_str(double d, int st, char *buf, size_t len)
{
	int prec;

	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (as_type(strtod(buf, NULL), st) == d)
			return;
	}
	snprintf(buf, len, "%.17g", d);
}

static int convert_error(int dt, int st, const struct val *v, size_t idx,
			 qf_err *err)
{
	char buf[64];

	if (v->kind == V_INT)
		snprintf(buf, sizeof buf, "%lld", (long long)v->i);
	else if (v->kind == V_UINT)
		snprintf(buf, sizeof buf, "%llu", (unsigned long long)v->u);
	else
		float_str(v->d, st, buf, sizeof buf);
	return qf_err_set(err, "element %zu: %s not representable as %s",
			  idx, buf, qf_dtype_name(dt));
}

static int convert_generic(int dt, unsigned char *dst, int st,
			   const unsigned char *src, size_t n, qf_err *err)
{
	size_t ds = dtypes[dt].size, ss = dtypes[st].size, i;
	int to_float = qf_dtype_is_float(dt);
	struct val v;

	for (i = 0; i < n; i++) {
		load(st, src + i * ss, &v);
		if (to_float)
			store_float(dt, dst + i * ds, &v);
		else if (!store_int(dt, dst + i * ds, &v))
			return convert_error(dt, st, &v, i, err);
	}
	return 0;
}

#if defined(__x86_64__)
/* f16 to f32 by the CPU's conversion (F16C): exact, as qf_f16_to_f32,
 * signalling NaNs made quiet as it does; several times as fast, which is
 * what loading an f16 model at the speed of reading it takes. */
__attribute__((target("avx,f16c")))
static void f16_f32_f16c(unsigned char *dst, const unsigned char *src,
			 size_t n)
{
	size_t i = 0;
	uint16_t h;
	float f;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps((float *)(void *)(dst + 4 * i), _mm256_cvtph_ps(
			_mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i))));
	for (; i < n; i++) {
		memcpy(&h, src + 2 * i, 2);
		f = qf_f16_to_f32(h);
		memcpy(dst + 4 * i, &f, 4);
	}
}

/* Whether f16_f32_f16c may run: found once; threads that race to find
 * it all find the same answer. */
static int have_f16c(void)
{
	static int known = -1;
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);

	if (k < 0) {
		k = (qf_cpu_features() & QF_CPU_F16C) != 0;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k;
}
#endif

/* The common float paths, without the generic dispatch. */
static int convert_fast(int dt, unsigned char *dst, int st,
			const unsigned char *src, size_t n)
{
	size_t i;
	uint16_t h;
	float f;
	double d;

#if defined(__x86_64__)
	if (st == QF_F16 && dt == QF_F32 && have_f16c()) {
		f16_f32_f16c(dst, src, n);
		return 1;
	}
#endif
#define LOOP(ST, DT, EXPR) \
	if (st == (ST) && dt == (DT)) { \
		for (i = 0; i < n; i++) EXPR; \
		return 1; \
	}
	LOOP(QF_F16, QF_F32, (memcpy(&h, src + 2 * i, 2),
			      f = qf_f16_to_f32(h), memcpy(dst + 4 * i, &f, 4)))
	LOOP(QF_BF16, QF_F32, (memcpy(&h, src + 2 * i, 2),
			       f = qf_bf16_to_f32(h), memcpy(dst + 4 * i, &f, 4)))
	LOOP(QF_F32, QF_F16, (memcpy(&f, src + 4 * i, 4),
			      h = qf_f32_to_f16(f), memcpy(dst + 2 * i, &h, 2)))
	LOOP(QF_F32, QF_BF16, (memcpy(&f, src + 4 * i, 4),
			       h = qf_f32_to_bf16(f), memcpy(dst + 2 * i, &h, 2)))
	LOOP(QF_F32, QF_F64, (memcpy(&f, src + 4 * i, 4),
			      d = f, memcpy(dst + 8 * i, &d, 8)))
	LOOP(QF_F64, QF_F32, (memcpy(&d, src + 8 * i, 8),
			      f = (float)d, memcpy(dst + 4 * i, &f, 4)))
#undef LOOP
	return 0;
}

int qf_convert(int dt, void *dst, int st, const void *src, size_t n,
	       qf_err *err)
{
	if (!known(dt))
		return qf_err_set(err, "unknown dtype code %d", dt);
	if (!known(st))
		return qf_err_set(err, "unknown dtype code %d", st);
	if (!n)
		return 0;
	if (dt == st) {
		if (dst != src)
			memmove(dst, src, n * dtypes[dt].size);
		return 0;
	}
	/* element i is read before it is written, so converting in place
	 * between types of one size works on every path */
	if (convert_fast(dt, dst, st, src, n))
		return 0;
	return convert_generic(dt, dst, st, src, n, err);
}
