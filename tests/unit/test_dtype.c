/*
 * test_dtype.c - dtypes, conversions and record headers.
 *
 * The conversion references in data/dtype/ come from numpy and from an
 * exact Fraction-based rounding (tests/unit/gen_dtype_ref.py), not from
 * this code.  Run with cwd = tests/.
 */
#include <stdint.h>

#include "qf.h"
#include "unit.h"

#define DDIR "data/dtype/"

static void *load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	*len = 0;
	if (!f) {
		printf("# cannot open %s\n", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = 0;
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
		printf("# cannot read %s\n", path);
	}
	fclose(f);
	return buf;
}

static uint32_t f2u(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static uint64_t d2u(double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	return u;
}

/* ---------------------------------------------------------------- names */

static void test_names(void)
{
	static const char *names[] = { NULL, "f32", "f64", "f16", "bf16", "i8",
		"u8", "i16", "i32", "i64", "u16", "u32", "u64", "bool" };
	static const size_t sizes[] = { 0, 4, 8, 2, 2, 1, 1, 2, 4, 8, 2, 4, 8, 1 };
	int t;

	for (t = 1; t <= QF_DTYPE_MAX; t++) {
		CHECK_STR(qf_dtype_name(t), names[t]);
		CHECK(qf_dtype_size(t) == sizes[t]);
		CHECK(qf_dtype_parse(names[t]) == t);
		CHECK(qf_dtype_is_float(t) == (t <= 4));
	}
	CHECK(qf_dtype_size(0) == 0 && qf_dtype_size(14) == 0 &&
	      qf_dtype_size(-1) == 0);
	CHECK(qf_dtype_name(0) == NULL && qf_dtype_name(14) == NULL);
	CHECK(qf_dtype_parse("F32") == 0 && qf_dtype_parse("") == 0 &&
	      qf_dtype_parse("float32") == 0 && qf_dtype_parse(NULL) == 0);
	CHECK(!qf_dtype_is_float(QF_I32) && !qf_dtype_is_float(0));
}

/* ---------------------------------------------------------------- scalar conversions */

/* qf's NaN rule: quiet, sign kept, payload's leading bits kept. */
static uint16_t nan16(uint32_t f32bits, int eb, int mb)
{
	uint32_t sign = f32bits >> 31, payload = f32bits & 0x7fffff;

	return (uint16_t)(sign << (eb + mb) | ((1u << eb) - 1) << mb |
			  1u << (mb - 1) | payload >> (23 - mb));
}

static void test_f16_to_f32_all(void)
{
	size_t len, bad = 0;
	uint32_t *ref = load(DDIR "f16_f32.bin", &len);
	uint16_t *h = malloc(65536 * 2);
	float *f = malloc(65536 * 4);
	double *d = malloc(65536 * 8);
	qf_err err;
	uint32_t i, got;

	CHECK(ref && len == 65536 * 4 && h && f && d);
	if (!ref || len != 65536 * 4 || !h || !f || !d)
		goto out;
	for (i = 0; i < 65536; i++)
		h[i] = (uint16_t)i;
	CHECK(qf_convert(QF_F32, f, QF_F16, h, 65536, &err) == 0);
	CHECK(qf_convert(QF_F64, d, QF_F16, h, 65536, &err) == 0);
	for (i = 0; i < 65536; i++) {
		got = f2u(qf_f16_to_f32((uint16_t)i));
		if ((i & 0x7c00) == 0x7c00 && (i & 0x3ff)) {
			/* numpy keeps the payload as is; qf makes it quiet */
			CHECKF(got == (ref[i] | 0x400000), "nan %04x -> %08x", i, got);
			CHECKF(f2u(f[i]) == got, "qf_convert nan %04x -> %08x",
			       i, f2u(f[i]));
			CHECK(isnan(d[i]) && !!signbit(d[i]) == !!(i & 0x8000));
		} else {
			bad += got != ref[i] || f2u(f[i]) != ref[i] ||
			       d2u(d[i]) != d2u((double)f[i]);
			if (got != ref[i] && bad < 5)
				printf("# f16 %04x: got %08x want %08x\n", i, got, ref[i]);
		}
	}
	CHECKF(bad == 0, "%zu mismatches", bad);
	/* unaligned and not a multiple of the vector width: the tail too */
	CHECK(qf_convert(QF_F32, f, QF_F16, h + 3, 65533, &err) == 0);
	for (i = 0, bad = 0; i < 65533; i++)
		bad += f2u(f[i]) != f2u(qf_f16_to_f32((uint16_t)(i + 3)));
	CHECKF(bad == 0, "%zu mismatches at an odd offset", bad);
out:
	free(ref);
	free(h);
	free(f);
	free(d);
}

static void test_bf16_to_f32_all(void)
{
	size_t bad = 0;
	uint32_t i, got, want;

	for (i = 0; i < 65536; i++) {
		got = f2u(qf_bf16_to_f32((uint16_t)i));
		want = i << 16;
		if ((i & 0x7f80) == 0x7f80 && (i & 0x7f))
			want |= 0x400000;
		bad += got != want;
		/* widening then narrowing gives the pattern back */
		if ((i & 0x7f80) != 0x7f80 || !(i & 0x7f) || (i & 0x40))
			bad += qf_f32_to_bf16(qf_bf16_to_f32((uint16_t)i)) != i;
	}
	CHECKF(bad == 0, "%zu mismatches", bad);
}

static void test_f16_round_trip(void)
{
	size_t bad = 0;
	uint32_t i;

	for (i = 0; i < 65536; i++) {
		int nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff);

		if (!nan || (i & 0x200))
			bad += qf_f32_to_f16(qf_f16_to_f32((uint16_t)i)) != i;
		else	/* a signalling NaN comes back quiet */
			bad += qf_f32_to_f16(qf_f16_to_f32((uint16_t)i)) != (i | 0x200);
	}
	CHECKF(bad == 0, "%zu mismatches", bad);
}

/* Compare f32 -> 16-bit conversions with a reference file. */
static void check_f32_narrow(const char *reffile, int dt, int eb, int mb,
			     int nan_exact)
{
	size_t nin, nref, n, i, bad = 0;
	uint32_t *in = load(DDIR "f32_in.bin", &nin);
	uint16_t *ref = load(reffile, &nref), *out = NULL, *via = NULL, got;
	double *wide = NULL;
	qf_err err;

	n = nin / 4;
	CHECK(in && ref && nref == n * 2 && n > 50000);
	if (!in || !ref || nref != n * 2)
		goto out;
	out = malloc(n * 2);
	wide = malloc(n * 8);
	via = malloc(n * 2);
	CHECK(qf_convert(dt, out, QF_F32, in, n, &err) == 0);
	/* the same values through f64 take the general rounding code */
	CHECK(qf_convert(QF_F64, wide, QF_F32, in, n, &err) == 0);
	CHECK(qf_convert(dt, via, QF_F64, wide, n, &err) == 0);
	for (i = 0; i < n; i++) {
		float f;

		memcpy(&f, &in[i], 4);
		got = dt == QF_F16 ? qf_f32_to_f16(f) : qf_f32_to_bf16(f);
		if (got != out[i] || got != via[i])
			bad++;
		if (isnan(f) && !nan_exact) {
			/* numpy leaves signalling payloads alone: compare
			 * sign, NaN-ness, then qf's own rule */
			bad += (got >> 15) != (ref[i] >> 15) ||
			       got != nan16(in[i], eb, mb);
		} else if (got != ref[i]) {
			if (bad < 5)
				printf("# %08x: got %04x want %04x\n", in[i], got, ref[i]);
			bad++;
		}
	}
	CHECKF(bad == 0, "%zu mismatches of %zu", bad, n);
out:
	free(in);
	free(ref);
	free(out);
	free(via);
	free(wide);
}

static void test_f32_to_f16(void)
{
	check_f32_narrow(DDIR "f32_f16.bin", QF_F16, 5, 10, 0);
}

static void test_f32_to_bf16(void)
{
	check_f32_narrow(DDIR "f32_bf16.bin", QF_BF16, 8, 7, 1);
}

static void test_f64_narrow(void)
{
	size_t nin, n16, nb, n32, n, i, bad = 0;
	uint64_t *in = load(DDIR "f64_in.bin", &nin);
	uint16_t *r16 = load(DDIR "f64_f16.bin", &n16);
	uint16_t *rb = load(DDIR "f64_bf16.bin", &nb);
	uint32_t *r32 = load(DDIR "f64_f32.bin", &n32);
	uint16_t *o16 = NULL, *ob = NULL;
	uint32_t *o32 = NULL;
	qf_err err;

	n = nin / 8;
	CHECK(in && r16 && rb && r32 && n16 == 2 * n && nb == 2 * n && n32 == 4 * n);
	if (!in || !r16 || !rb || !r32 || n16 != 2 * n || nb != 2 * n || n32 != 4 * n)
		goto out;
	o16 = malloc(2 * n);
	ob = malloc(2 * n);
	o32 = malloc(4 * n);
	CHECK(qf_convert(QF_F16, o16, QF_F64, in, n, &err) == 0);
	CHECK(qf_convert(QF_BF16, ob, QF_F64, in, n, &err) == 0);
	CHECK(qf_convert(QF_F32, o32, QF_F64, in, n, &err) == 0);
	for (i = 0; i < n; i++) {
		int nan = (in[i] & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;

		if (nan) {
			/* sign kept, quiet, leading payload bits */
			uint64_t s = in[i] >> 63, p = in[i] & 0xfffffffffffffull;

			bad += o16[i] != (s << 15 | 0x7e00 | p >> 42);
			bad += ob[i] != rb[i];
			bad += o32[i] != (s << 31 | 0x7fc00000 | p >> 29);
			continue;
		}
		if (o16[i] != r16[i] || ob[i] != rb[i] || o32[i] != r32[i]) {
			if (bad < 5)
				printf("# %016llx: f16 %04x/%04x bf16 %04x/%04x f32 %08x/%08x\n",
				       (unsigned long long)in[i], o16[i], r16[i],
				       ob[i], rb[i], o32[i], r32[i]);
			bad++;
		}
	}
	CHECKF(bad == 0, "%zu mismatches of %zu", bad, n);
out:
	free(in);
	free(r16);
	free(rb);
	free(r32);
	free(o16);
	free(ob);
	free(o32);
}

/* ---------------------------------------------------------------- all pairs */

static void test_convert_pairs(void)
{
	size_t len, lines = 0, bad = 0;
	char *text = load(DDIR "conv.txt", &len), *line, *save = NULL;
	int seen[QF_DTYPE_MAX + 1][QF_DTYPE_MAX + 1] = { { 0 } };
	int s, d, pairs = 0, rc;
	char sn[8], dn[8], want[24];
	unsigned long long sb, db;
	unsigned char src[8], dst[8];
	qf_err err;

	CHECK(text != NULL);
	if (!text)
		return;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		if (sscanf(line, "%7s %7s %llx %23s", sn, dn, &sb, want) != 4) {
			printf("# bad line: %s\n", line);
			bad++;
			continue;
		}
		s = qf_dtype_parse(sn);
		d = qf_dtype_parse(dn);
		if (!s || !d) {
			bad++;
			continue;
		}
		seen[s][d]++;
		lines++;
		memcpy(src, &sb, 8);
		memset(dst, 0xa5, 8);
		rc = qf_convert(d, dst, s, src, 1, &err);
		if (strcmp(want, "X") == 0) {
			if (rc != -1 || strncmp(err.msg, "element 0: ", 11) != 0) {
				if (bad < 10)
					printf("# %s -> %s %llx: converted, want error\n",
					       sn, dn, sb);
				bad++;
			}
			continue;
		}
		db = 0;
		memcpy(&db, dst, qf_dtype_size(d));
		if (rc != 0 || db != strtoull(want, NULL, 16)) {
			if (bad < 10)
				printf("# %s -> %s %llx: got %llx rc %d (%s), want %s\n",
				       sn, dn, sb, db, rc, rc ? err.msg : "", want);
			bad++;
		}
	}
	for (s = 1; s <= QF_DTYPE_MAX; s++)
		for (d = 1; d <= QF_DTYPE_MAX; d++)
			pairs += seen[s][d] > 0;
	CHECKF(pairs == QF_DTYPE_MAX * QF_DTYPE_MAX, "%d pairs", pairs);
	CHECKF(lines > 10000, "%zu lines", lines);
	CHECKF(bad == 0, "%zu mismatches of %zu", bad, lines);
	free(text);
}

/* ---------------------------------------------------------------- conversion details */

static void test_convert_errors(void)
{
	float f[3] = { 1, 2, 1.5f };
	double d[2] = { 3, NAN };
	int64_t i64[2] = { 5, -1 };
	uint16_t u16[1] = { 300 }, h;
	uint8_t b[2] = { 0, 2 }, u8[4];
	uint64_t u64[2];
	int32_t i32[3];
	qf_err err;

	CHECK(qf_convert(QF_I32, i32, QF_F32, f, 3, &err) == -1);
	CHECK_STR(err.msg, "element 2: 1.5 not representable as i32");
	CHECK(qf_convert(QF_U8, u8, QF_F64, d, 2, &err) == -1);
	CHECK_STR(err.msg, "element 1: nan not representable as u8");
	CHECK(qf_convert(QF_U64, u64, QF_I64, i64, 2, &err) == -1);
	CHECK(u64[0] == 5);
	CHECK_STR(err.msg, "element 1: -1 not representable as u64");
	CHECK(qf_convert(QF_U8, u8, QF_U16, u16, 1, &err) == -1);
	CHECK_STR(err.msg, "element 0: 300 not representable as u8");
	h = qf_f32_to_f16(0.1f);
	CHECK(qf_convert(QF_I8, u8, QF_F16, &h, 1, &err) == -1);
	CHECK_STR(err.msg, "element 0: 0.1 not representable as i8");
	d[0] = 1e20;
	CHECK(qf_convert(QF_I64, u64, QF_F64, d, 1, &err) == -1);
	CHECK_STR(err.msg, "element 0: 1e+20 not representable as i64");
	f[0] = -INFINITY;
	CHECK(qf_convert(QF_BOOL, u8, QF_F32, f, 1, &err) == -1);
	CHECK_STR(err.msg, "element 0: -inf not representable as bool");
	/* a bool byte other than 0 counts as true */
	CHECK(qf_convert(QF_U8, u8, QF_BOOL, b, 2, &err) == 0 && u8[0] == 0 &&
	      u8[1] == 1);
	CHECK(qf_convert(99, u8, QF_U8, b, 1, &err) == -1);
	CHECK_STR(err.msg, "unknown dtype code 99");
	CHECK(qf_convert(QF_U8, u8, 0, b, 1, &err) == -1);
	CHECK(qf_convert(QF_F32, NULL, QF_F64, NULL, 0, &err) == 0);
	CHECK(qf_convert(QF_F32, NULL, QF_F64, NULL, 0, NULL) == 0);
	CHECK(qf_convert(QF_U8, u8, QF_F32, f, 1, NULL) == -1);
}

static void test_convert_in_place(void)
{
	int32_t a[4] = { 1, -2, 16777217, 0 };
	uint16_t h[3];
	float f[3];
	qf_err err;

	CHECK(qf_convert(QF_F32, a, QF_I32, a, 4, &err) == 0);
	memcpy(f, a, sizeof f);
	CHECK(f[0] == 1 && f[1] == -2 && f[2] == 16777216);
	CHECK(qf_convert(QF_I32, a, QF_F32, a, 4, &err) == 0);
	CHECK(a[0] == 1 && a[1] == -2 && a[2] == 16777216 && a[3] == 0);
	/* f16 -> bf16 in place, via one rounding */
	h[0] = qf_f32_to_f16(1.5f);
	h[1] = qf_f32_to_f16(65504.0f);
	h[2] = qf_f32_to_f16(-0.0f);
	CHECK(qf_convert(QF_BF16, h, QF_F16, h, 3, &err) == 0);
	CHECK(h[0] == 0x3fc0 && h[1] == 0x4780 && h[2] == 0x8000);
	/* the same type, the same pointer: nothing to do */
	CHECK(qf_convert(QF_BF16, h, QF_BF16, h, 3, &err) == 0 && h[0] == 0x3fc0);
	memset(f, 0, sizeof f);
	CHECK(qf_convert(QF_F32, f, QF_BF16, h, 3, &err) == 0);
	CHECK(f[0] == 1.5f && f[1] == 65536.0f && f[2] == 0 && signbit(f[2]));
}

static void test_int_edges(void)
{
	int64_t i = INT64_MIN;
	uint64_t u = UINT64_MAX;
	double d;
	float f;
	qf_err err;

	/* the largest double below 2^63 fits; 2^63 does not */
	d = 9223372036854774784.0;
	CHECK(qf_convert(QF_I64, &i, QF_F64, &d, 1, &err) == 0 &&
	      i == 9223372036854774784ll);
	d = 9223372036854775808.0;
	CHECK(qf_convert(QF_I64, &i, QF_F64, &d, 1, &err) == -1);
	CHECK(qf_convert(QF_U64, &u, QF_F64, &d, 1, &err) == 0 &&
	      u == 9223372036854775808ull);
	d = -9223372036854775808.0;
	CHECK(qf_convert(QF_I64, &i, QF_F64, &d, 1, &err) == 0 && i == INT64_MIN);
	d = 18446744073709551616.0;
	CHECK(qf_convert(QF_U64, &u, QF_F64, &d, 1, &err) == -1);
	d = -0.0;
	CHECK(qf_convert(QF_U64, &u, QF_F64, &d, 1, &err) == 0 && u == 0);
	/* u64 -> f32 rounds once: 2^64 - 1 gives 2^64 */
	u = UINT64_MAX;
	CHECK(qf_convert(QF_F32, &f, QF_U64, &u, 1, &err) == 0 &&
	      f == 18446744073709551616.0f);
	i = INT64_MIN;
	CHECK(qf_convert(QF_F32, &f, QF_I64, &i, 1, &err) == 0 &&
	      f == -9223372036854775808.0f);
}

/* ---------------------------------------------------------------- records */

static void test_rec_name(void)
{
	qf_rec r = { 0 };
	char *big = malloc(QF_MAX_NAME + 2);
	qf_err err;

	CHECK(qf_rec_set_name(&r, "layers/0/attn.q_proj.weight", &err) == 0);
	CHECK_STR(r.name, "layers/0/attn.q_proj.weight");
	CHECK(qf_rec_set_name(&r, "gr\xc3\xb6\xc3\x9f" "e \xf0\x9f\x98\x80", &err) == 0);
	CHECK(qf_rec_set_name(&r, "", &err) == -1);
	CHECK_STR(err.msg, "record name is empty");
	CHECK(qf_rec_set_name(&r, NULL, &err) == -1);
	CHECK(qf_rec_set_name(&r, "a\xc3(", &err) == -1);
	CHECK_STR(err.msg, "record name is not valid UTF-8");
	CHECK(qf_rec_set_name(&r, "\xc0\xaf", &err) == -1);	/* overlong */
	CHECK(qf_rec_set_name(&r, "\xed\xa0\x80", &err) == -1);	/* surrogate */
	CHECK(qf_rec_set_name(&r, "\xf4\x90\x80\x80", &err) == -1);	/* > U+10FFFF */
	CHECK(qf_rec_set_name(&r, "\xe2\x82", &err) == -1);	/* cut short */
	CHECK_STR(r.name, "gr\xc3\xb6\xc3\x9f" "e \xf0\x9f\x98\x80");
	memset(big, 'n', QF_MAX_NAME);
	big[QF_MAX_NAME] = 0;
	CHECK(qf_rec_set_name(&r, big, &err) == 0);
	big[QF_MAX_NAME] = 'n';
	big[QF_MAX_NAME + 1] = 0;
	CHECK(qf_rec_set_name(&r, big, &err) == -1);
	CHECK_STR(err.msg, "record name is too long (4097 bytes, at most 4096)");
	free(big);
	qf_rec_free(&r);
	CHECK(r.name == NULL && r.nattr == 0 && r.attr == NULL);
}

static void test_rec_shape(void)
{
	qf_rec r;
	uint64_t d[9] = { 3, 4, 5, 1, 1, 1, 1, 2, 1 };
	char buf[64];
	qf_err err;

	qf_rec_init(&r);
	CHECK(qf_rec_numel(&r) == 1 && qf_rec_nbytes(&r) == 0);
	CHECK(qf_rec_set_shape(&r, QF_F32, 2, d, &err) == 0);
	CHECK(qf_rec_numel(&r) == 12 && qf_rec_nbytes(&r) == 48);
	CHECK_STR(qf_rec_shape_str(&r, buf, sizeof buf), "[3, 4]");
	CHECK(qf_rec_set_shape(&r, QF_BF16, 0, NULL, &err) == 0);
	CHECK(qf_rec_numel(&r) == 1 && qf_rec_nbytes(&r) == 2);
	CHECK_STR(qf_rec_shape_str(&r, buf, sizeof buf), "[]");
	CHECK(qf_rec_set_shape(&r, QF_I64, 8, d, &err) == 0);
	CHECK(qf_rec_numel(&r) == 120 && qf_rec_nbytes(&r) == 960);
	CHECK_STR(qf_rec_shape_str(&r, buf, sizeof buf), "[3, 4, 5, 1, 1, 1, 1, 2]");
	CHECK_STR(qf_rec_shape_str(&r, buf, 8), "[3, 4, ");
	CHECK_STR(qf_rec_shape_str(&r, buf, 1), "");
	CHECK(qf_rec_set_shape(&r, QF_I64, 9, d, &err) == -1);
	CHECK_STR(err.msg, "9 dimensions (at most 8)");
	CHECK(qf_rec_set_shape(&r, QF_I64, -1, d, &err) == -1);
	CHECK(qf_rec_set_shape(&r, 0, 1, d, &err) == -1);
	CHECK_STR(err.msg, "unknown dtype code 0");
	CHECK(qf_rec_set_shape(&r, 14, 1, d, &err) == -1);
	/* the shape is untouched after a failure */
	CHECK(r.dtype == QF_I64 && r.ndim == 8 && r.dims[0] == 3);
	d[1] = 0;
	CHECK(qf_rec_set_shape(&r, QF_U8, 3, d, &err) == 0);
	CHECK(qf_rec_numel(&r) == 0 && qf_rec_nbytes(&r) == 0);
	/* payload limit: 2^48 bytes exactly is fine */
	d[0] = 1ull << 48;
	CHECK(qf_rec_set_shape(&r, QF_U8, 1, d, &err) == 0);
	CHECK(qf_rec_nbytes(&r) == QF_MAX_PAYLOAD);
	d[0]++;
	CHECK(qf_rec_set_shape(&r, QF_U8, 1, d, &err) == -1);
	CHECK_STR(err.msg, "u8 tensor of shape [281474976710657] is too large "
		  "(limit 281474976710656 bytes)");
	d[0] = 1ull << 46;
	CHECK(qf_rec_set_shape(&r, QF_F32, 1, d, &err) == 0);
	CHECK(qf_rec_set_shape(&r, QF_F64, 1, d, &err) == -1);
	/* products that overflow 64 bits */
	d[0] = 1ull << 40;
	d[1] = 1ull << 40;
	CHECK(qf_rec_set_shape(&r, QF_U8, 2, d, &err) == -1);
	d[0] = d[1] = d[2] = 1ull << 22;
	CHECK(qf_rec_set_shape(&r, QF_U8, 3, d, &err) == -1);
	d[0] = UINT64_MAX;
	d[1] = UINT64_MAX;
	CHECK(qf_rec_set_shape(&r, QF_U8, 2, d, &err) == -1);
	/* an empty tensor still may not have absurd other dimensions */
	d[0] = 0;
	d[1] = 1ull << 60;
	CHECK(qf_rec_set_shape(&r, QF_F32, 2, d, &err) == -1);
	qf_rec_free(&r);
}

static void test_rec_attrs(void)
{
	qf_rec r = { 0 };
	char key[QF_MAX_KEY + 2], *val;
	qf_err err;
	int i;

	CHECK(qf_rec_get(&r, "a") == NULL);
	CHECK(qf_rec_set(&r, "scale", "0.5", &err) == 0);
	CHECK(qf_rec_set(&r, "unit", "m/s \xc2\xb2", &err) == 0);
	CHECK(qf_rec_setf(&r, &err, "n", "%d-%s", 42, "x") == 0);
	CHECK_STR(qf_rec_get(&r, "n"), "42-x");
	CHECK(qf_rec_set(&r, "scale", "0.25", &err) == 0);
	CHECK(r.nattr == 3);
	CHECK_STR(r.attr[0].key, "scale");
	CHECK_STR(r.attr[0].val, "0.25");
	CHECK_STR(r.attr[2].key, "n");
	CHECK(qf_rec_set(&r, "e", "", &err) == 0 && qf_rec_get(&r, "e")[0] == 0);
	CHECK(qf_rec_del(&r, "unit") == 1);
	CHECK(qf_rec_del(&r, "unit") == 0);
	CHECK(r.nattr == 3);
	CHECK_STR(r.attr[1].key, "n");
	CHECK_STR(r.attr[2].key, "e");

	CHECK(qf_rec_set(&r, "a=b", "1", &err) == -1);
	CHECK_STR(err.msg, "attribute key \"a=b\" contains '='");
	CHECK(qf_rec_set(&r, "", "1", &err) == -1);
	CHECK_STR(err.msg, "attribute key is empty");
	CHECK(qf_rec_set(&r, "a\tb", "1", &err) == -1);
	CHECK_STR(err.msg, "attribute key \"a\\x09b\" contains a control character");
	CHECK(qf_rec_set(&r, "a\x7f", "1", &err) == -1);
	CHECK(qf_rec_set(&r, "\xff", "1", &err) == -1);
	CHECK_STR(err.msg, "attribute key \"\\xff\" is not valid UTF-8");
	CHECK(qf_rec_set(&r, "k", "\xc3", &err) == -1);
	CHECK_STR(err.msg, "attribute \"k\": value is not valid UTF-8");
	CHECK(qf_rec_set(&r, "cl\xc3\xa9", "line1\nline2", &err) == 0);
	memset(key, 'k', sizeof key);
	key[QF_MAX_KEY] = 0;
	CHECK(qf_rec_set(&r, key, "1", &err) == 0);
	key[QF_MAX_KEY] = 'k';
	key[QF_MAX_KEY + 1] = 0;
	CHECK(qf_rec_set(&r, key, "1", &err) == -1);
	CHECK(strstr(err.msg, "is too long (257 bytes, at most 256)") != NULL);
	CHECK(strlen(err.msg) < 200);

	val = malloc(QF_MAX_VALUE + 2);
	memset(val, 'v', QF_MAX_VALUE + 1);
	val[QF_MAX_VALUE] = 0;
	CHECK(qf_rec_set(&r, "big", val, &err) == 0);
	val[QF_MAX_VALUE] = 'v';
	val[QF_MAX_VALUE + 1] = 0;
	CHECK(qf_rec_set(&r, "big2", val, &err) == -1);
	CHECK_STR(err.msg, "attribute \"big2\": value is too long (1048577 bytes, "
		  "at most 1048576)");
	free(val);
	qf_rec_free(&r);

	for (i = 0; i < QF_MAX_ATTRS; i++)
		if (qf_rec_setf(&r, &err, "k", "%d", i) < 0)	/* replaces */
			break;
	CHECK(r.nattr == 1);
	for (i = 0; i < QF_MAX_ATTRS; i++) {
		snprintf(key, sizeof key, "k%d", i);
		if (qf_rec_set(&r, key, "v", &err) < 0)
			break;
	}
	CHECK(i == QF_MAX_ATTRS - 1);	/* "k" took one slot */
	CHECK(r.nattr == QF_MAX_ATTRS);
	CHECK(qf_rec_set(&r, "one-more", "v", &err) == -1);
	CHECK_STR(err.msg, "too many attributes (at most 4096)");
	CHECK(qf_rec_set(&r, "k7", "replaced", &err) == 0);
	CHECK_STR(qf_rec_get(&r, "k7"), "replaced");
	CHECK(qf_rec_set_name(&r, "x", &err) == 0);
	CHECK(qf_rec_set_shape(&r, QF_U8, 0, NULL, &err) == 0);
	CHECK(qf_rec_check(&r, &err) == 0);
	qf_rec_free(&r);
}

static void test_rec_copy_check(void)
{
	qf_rec a = { 0 }, b = { 0 };
	uint64_t d[2] = { 2, 3 };
	qf_err err;
	char *k;

	CHECK(qf_rec_check(&a, &err) == -1);
	CHECK_STR(err.msg, "record name is empty");
	CHECK(qf_rec_set_name(&a, "w", &err) == 0);
	CHECK(qf_rec_check(&a, &err) == -1);	/* dtype 0 */
	CHECK(qf_rec_set_shape(&a, QF_F16, 2, d, &err) == 0);
	CHECK(qf_rec_set(&a, "x", "1", &err) == 0);
	CHECK(qf_rec_set(&a, "y", "2", &err) == 0);
	CHECK(qf_rec_check(&a, &err) == 0);

	CHECK(qf_rec_set_name(&b, "old", &err) == 0);
	CHECK(qf_rec_set(&b, "z", "9", &err) == 0);
	CHECK(qf_rec_copy(&b, &a, &err) == 0);
	CHECK(qf_rec_copy(&b, &b, &err) == 0);
	CHECK_STR(b.name, "w");
	CHECK(b.name != a.name && b.attr != a.attr);
	CHECK(b.dtype == QF_F16 && b.ndim == 2 && b.dims[1] == 3 && b.nattr == 2);
	CHECK(qf_rec_get(&b, "z") == NULL);
	CHECK(qf_rec_set(&b, "x", "changed", &err) == 0);
	CHECK_STR(qf_rec_get(&a, "x"), "1");
	CHECK(qf_rec_check(&b, &err) == 0);

	/* a header built by hand with a repeated key */
	k = b.attr[1].key;
	b.attr[1].key = a.attr[0].key;
	CHECK(qf_rec_check(&b, &err) == -1);
	CHECK_STR(err.msg, "duplicate attribute key \"x\"");
	b.attr[1].key = k;
	b.ndim = 9;
	CHECK(qf_rec_check(&b, &err) == -1);
	b.ndim = 2;
	b.dims[0] = 1ull << 62;
	CHECK(qf_rec_check(&b, &err) == -1);
	b.dims[0] = 2;
	CHECK(qf_rec_check(&b, &err) == 0);
	qf_rec_free(&a);
	qf_rec_free(&b);
	qf_rec_free(&b);
}

int main(void)
{
	RUN(test_names);
	RUN(test_f16_to_f32_all);
	RUN(test_bf16_to_f32_all);
	RUN(test_f16_round_trip);
	RUN(test_f32_to_f16);
	RUN(test_f32_to_bf16);
	RUN(test_f64_narrow);
	RUN(test_convert_pairs);
	RUN(test_convert_errors);
	RUN(test_convert_in_place);
	RUN(test_int_edges);
	RUN(test_rec_name);
	RUN(test_rec_shape);
	RUN(test_rec_attrs);
	RUN(test_rec_copy_check);
	return unit_done();
}
