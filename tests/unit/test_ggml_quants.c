/*
 * test_ggml_quants.c - ggml's Q8_0 and Q4_0 blocks (lib/quant/ggml_quants.c):
 * the reference quantizers code for code and scale bit for bit, the
 * dequantizers bit for bit, and ggml's byte layout.
 *
 * Oracles: data/gguf/quants.npz, written by the numpy reference in
 * data/gguf/gen_quants.py (normal, Laplace, zero, tie, near-tie, tiny,
 * subnormal, outlier, clamping, huge and constant blocks), and, when
 * present, ../../shared/fixtures/ggml-quants/blocks32.npz.  Run with
 * cwd = tests/.
 */
#include <stddef.h>
#include <stdint.h>

#include "quant/ggml.h"
#include "qf.h"
#include "unit.h"

/* ---------------------------------------------------------------- fixtures */

struct blocks {
	size_t rows;
	float *x, *q8_dq, *q4_dq;
	uint16_t *q8_s, *q4_s;
	int8_t *q8_q, *q4_q, *q4_naive;
	uint8_t *kind;
};

static void blocks_free(struct blocks *b)
{
	free(b->x);
	free(b->q8_dq);
	free(b->q4_dq);
	free(b->q8_s);
	free(b->q4_s);
	free(b->q8_q);
	free(b->q4_q);
	free(b->q4_naive);
	free(b->kind);
	memset(b, 0, sizeof *b);
}

/* Members by name; each must have the dtype and element count given. */
static int load_blocks(const char *path, struct blocks *b)
{
	static const struct {
		const char *name;
		int dtype;
		int per_row;
		size_t off;
	} m[] = {
		{ "x", QF_F32, 32, offsetof(struct blocks, x) },
		{ "q8_0_dequant", QF_F32, 32, offsetof(struct blocks, q8_dq) },
		{ "q4_0_dequant", QF_F32, 32, offsetof(struct blocks, q4_dq) },
		{ "q8_0_scale", QF_F16, 1, offsetof(struct blocks, q8_s) },
		{ "q4_0_scale", QF_F16, 1, offsetof(struct blocks, q4_s) },
		{ "q8_0_codes", QF_I8, 32, offsetof(struct blocks, q8_q) },
		{ "q4_0_codes", QF_I8, 32, offsetof(struct blocks, q4_q) },
		{ "q4_0_naive", QF_I8, 32, offsetof(struct blocks, q4_naive) },
		{ "kind", QF_U8, 1, offsetof(struct blocks, kind) },
	};
	qf_npz_reader *z;
	qf_rec rec;
	qf_err err;
	void *data = NULL;
	int rc;

	memset(b, 0, sizeof *b);
	z = qf_npz_open(path, &err);
	CHECKF(z != NULL, "%s", err.msg);
	if (!z)
		return -1;
	qf_rec_init(&rec);
	while ((rc = qf_npz_next(z, &rec, &data, &err)) == 1) {
		size_t i;
		for (i = 0; i < sizeof m / sizeof *m; i++)
			if (strcmp(rec.name, m[i].name) == 0)
				break;
		if (i < sizeof m / sizeof *m) {
			uint64_t rows = rec.ndim ? rec.dims[0] : 0;
			CHECKF(rec.dtype == m[i].dtype, "%s dtype", rec.name);
			CHECKF(qf_rec_numel(&rec) == rows * (uint64_t)m[i].per_row,
			       "%s shape", rec.name);
			if (!b->rows)
				b->rows = (size_t)rows;
			CHECKF(b->rows == rows, "%s rows", rec.name);
			*(void **)((char *)b + m[i].off) = data;
		} else {
			free(data);
		}
		data = NULL;
	}
	CHECKF(rc == 0, "%s", err.msg);
	qf_rec_free(&rec);
	qf_npz_close(z);
	CHECK(b->rows > 0 && b->x && b->q8_dq && b->q4_dq && b->q8_s &&
	      b->q4_s && b->q8_q && b->q4_q);
	return b->rows > 0 && b->x && b->q8_dq && b->q4_dq && b->q8_s &&
		b->q4_s && b->q8_q && b->q4_q ? 0 : -1;
}

/* Floats equal bit for bit, any NaN matching any NaN. */
static int same_float(float a, float b)
{
	uint32_t x, y;

	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	memcpy(&x, &a, 4);
	memcpy(&y, &b, 4);
	return x == y;
}

/* Quantize every row with both quantizers, block by block and as one
 * long row, and compare codes, scale bits and dequantized values. */
static void check_blocks(const struct blocks *b, const char *what)
{
	size_t n = b->rows * QF_QK, bad8 = 0, bad4 = 0, badd = 0;
	uint16_t *s = malloc(b->rows * sizeof *s);
	int8_t *q = malloc(n);
	float *y = malloc(n * sizeof *y);

	for (size_t r = 0; r < b->rows; r++) {
		uint16_t d;
		int8_t c[QF_QK];
		float v[QF_QK];

		qf_q8_0_quantize(b->x + r * QF_QK, QF_QK, &d, c);
		if (d != b->q8_s[r] || memcmp(c, b->q8_q + r * QF_QK, QF_QK)) {
			if (bad8++ < 5)
				printf("# %s: row %zu: Q8_0 scale %#06x codes %d %d "
				       "... want %#06x %d %d ...\n", what, r, d,
				       c[0], c[1], b->q8_s[r], b->q8_q[r * 32],
				       b->q8_q[r * 32 + 1]);
		}
		qf_q8_0_dequantize(&d, c, QF_QK, v);
		for (int j = 0; j < QF_QK; j++)
			if (!same_float(v[j], b->q8_dq[r * QF_QK + j]) && badd++ < 5)
				printf("# %s: row %zu [%d]: Q8_0 value %.9g want %.9g\n",
				       what, r, j, v[j], b->q8_dq[r * QF_QK + j]);

		qf_q4_0_quantize(b->x + r * QF_QK, QF_QK, &d, c);
		if (d != b->q4_s[r] || memcmp(c, b->q4_q + r * QF_QK, QF_QK)) {
			if (bad4++ < 5)
				printf("# %s: row %zu: Q4_0 scale %#06x codes %d %d "
				       "... want %#06x %d %d ...\n", what, r, d,
				       c[0], c[1], b->q4_s[r], b->q4_q[r * 32],
				       b->q4_q[r * 32 + 1]);
		}
		qf_q4_0_dequantize(&d, c, QF_QK, v);
		for (int j = 0; j < QF_QK; j++)
			if (!same_float(v[j], b->q4_dq[r * QF_QK + j]) && badd++ < 5)
				printf("# %s: row %zu [%d]: Q4_0 value %.9g want %.9g\n",
				       what, r, j, v[j], b->q4_dq[r * QF_QK + j]);
	}
	CHECKF(bad8 == 0, "%s: %zu of %zu Q8_0 blocks differ", what, bad8, b->rows);
	CHECKF(bad4 == 0, "%s: %zu of %zu Q4_0 blocks differ", what, bad4, b->rows);
	CHECKF(badd == 0, "%s: %zu dequantized values differ", what, badd);

	/* all rows as one row of n values */
	qf_q8_0_quantize(b->x, n, s, q);
	CHECK(memcmp(s, b->q8_s, b->rows * 2) == 0 && memcmp(q, b->q8_q, n) == 0);
	qf_q8_0_dequantize(s, q, n, y);
	for (size_t i = 0; i < n; i++)
		if (!same_float(y[i], b->q8_dq[i]))
			badd++;
	qf_q4_0_quantize(b->x, n, s, q);
	CHECK(memcmp(s, b->q4_s, b->rows * 2) == 0 && memcmp(q, b->q4_q, n) == 0);
	qf_q4_0_dequantize(s, q, n, y);
	for (size_t i = 0; i < n; i++)
		if (!same_float(y[i], b->q4_dq[i]))
			badd++;
	CHECKF(badd == 0, "%s: whole-row dequantization differs", what);
	free(s);
	free(q);
	free(y);
}

static void test_own_fixture(void)
{
	struct blocks b;
	size_t near = 0, differ = 0;

	if (load_blocks("data/gguf/quants.npz", &b) < 0) {
		blocks_free(&b);
		return;
	}
	check_blocks(&b, "quants.npz");
	/* the near-tie rows (kind 4) are where ggml's C code compiled
	 * without fused multiply-add would differ; check they are there */
	CHECK(b.q4_naive && b.kind);
	for (size_t r = 0; b.q4_naive && b.kind && r < b.rows; r++) {
		int d = memcmp(b.q4_naive + r * 32, b.q4_q + r * 32, 32) != 0;
		near += b.kind[r] == 4;
		differ += d;
		CHECKF(d == (b.kind[r] == 4), "row %zu", r);
	}
	CHECKF(near >= 2 && differ == near, "%zu near-tie rows, %zu differ",
	       near, differ);
	blocks_free(&b);
}

static void test_shared_fixture(void)
{
	const char *dir = unit_shared_dir();
	char path[4096];
	struct blocks b;
	FILE *f;

	if (!dir)
		SKIP("no ../shared");
	snprintf(path, sizeof path, "%s/fixtures/ggml-quants/blocks32.npz", dir);
	f = fopen(path, "rb");
	if (!f)
		SKIP("no shared blocks32.npz");
	fclose(f);
	if (load_blocks(path, &b) == 0)
		check_blocks(&b, "blocks32.npz");
	blocks_free(&b);
}

/* ---------------------------------------------------------------- layout */

/* ggml's bytes, written out by hand for one block of each format. */
static void test_byte_layout(void)
{
	int8_t c8[32], c4[32], back[32];
	unsigned char b8[QF_Q8_0_BYTES], b4[QF_Q4_0_BYTES];
	uint16_t d = 0x3c00, d2;	/* 1.0 */
	float y[32];

	for (int j = 0; j < 32; j++) {
		c8[j] = (int8_t)(j * 8 - 127);
		c4[j] = (int8_t)(j % 16 - 8);
		if (j >= 16)
			c4[j] = (int8_t)(7 - j % 16);
	}
	qf_q8_0_pack(&d, c8, 32, b8);
	CHECK(b8[0] == 0x00 && b8[1] == 0x3c);
	for (int j = 0; j < 32; j++)
		CHECK(b8[2 + j] == (unsigned char)c8[j]);
	qf_q4_0_pack(&d, c4, 32, b4);
	CHECK(b4[0] == 0x00 && b4[1] == 0x3c);
	for (int j = 0; j < 16; j++)
		CHECKF(b4[2 + j] == ((c4[j] + 8) | (c4[j + 16] + 8) << 4),
		       "byte %d: %#x", j, b4[2 + j]);
	/* element 0 low nibble 0, element 16 high nibble 15 */
	CHECK(b4[2] == 0xf0);

	qf_q8_0_unpack(b8, 32, &d2, back);
	CHECK(d2 == d && memcmp(back, c8, 32) == 0);
	qf_q4_0_unpack(b4, 32, &d2, back);
	CHECK(d2 == d && memcmp(back, c4, 32) == 0);
	qf_q8_0_dequantize_blocks(b8, 32, y);
	for (int j = 0; j < 32; j++)
		CHECK(y[j] == (float)c8[j]);
	qf_q4_0_dequantize_blocks(b4, 32, y);
	for (int j = 0; j < 32; j++)
		CHECK(y[j] == (float)c4[j]);
}

/* quantize_blocks = pack(quantize); dequantize_blocks = dequantize(unpack) */
static void test_blocks_agree(void)
{
	enum { NB = 7, N = NB * 32 };
	float x[N], y1[N], y2[N];
	uint16_t s[NB], s2[NB];
	int8_t q[N], q2[N];
	unsigned char b1[NB * QF_Q8_0_BYTES], b2[NB * QF_Q8_0_BYTES];
	uint64_t h = 12345;

	for (int i = 0; i < N; i++) {
		h = h * 6364136223846793005ull + 1442695040888963407ull;
		x[i] = (float)((double)(h >> 11) / 9007199254740992.0 - 0.5) *
			(float)(1 + i / 32);
	}
	qf_q8_0_quantize(x, N, s, q);
	qf_q8_0_pack(s, q, N, b1);
	qf_q8_0_quantize_blocks(x, N, b2);
	CHECK(memcmp(b1, b2, sizeof b1) == 0);
	qf_q8_0_unpack(b2, N, s2, q2);
	CHECK(memcmp(s, s2, sizeof s) == 0 && memcmp(q, q2, sizeof q) == 0);
	qf_q8_0_dequantize(s, q, N, y1);
	qf_q8_0_dequantize_blocks(b2, N, y2);
	CHECK(memcmp(y1, y2, sizeof y1) == 0);
	for (int i = 0; i < N; i++)
		CHECKF(fabsf(y1[i] - x[i]) <= 0.51f * qf_f16_to_f32(s[i / 32]) +
		       1e-3f * fabsf(x[i]), "q8_0 error at %d", i);

	qf_q4_0_quantize(x, N, s, q);
	qf_q4_0_pack(s, q, N, b1);
	qf_q4_0_quantize_blocks(x, N, b2);
	CHECK(memcmp(b1, b2, NB * QF_Q4_0_BYTES) == 0);
	qf_q4_0_unpack(b2, N, s2, q2);
	CHECK(memcmp(s, s2, sizeof s) == 0 && memcmp(q, q2, sizeof q) == 0);
	qf_q4_0_dequantize(s, q, N, y1);
	qf_q4_0_dequantize_blocks(b2, N, y2);
	CHECK(memcmp(y1, y2, sizeof y1) == 0);
	for (int i = 0; i < N; i++)
		CHECK(q[i] >= -8 && q[i] <= 7);
}

/* NaN and infinity: no undefined behaviour, the documented codes. */
static void test_non_finite(void)
{
	float x[32], z[32];
	uint16_t d, dz;
	int8_t q[32], qz[32];

	for (int j = 0; j < 32; j++)
		x[j] = z[j] = (float)(j - 10) / 7;
	x[3] = NAN;
	z[3] = 0;
	qf_q8_0_quantize(x, 32, &d, q);
	qf_q8_0_quantize(z, 32, &dz, qz);
	CHECK(d == dz && q[3] == 0 && memcmp(q, qz, 32) == 0);
	qf_q4_0_quantize(x, 32, &d, q);
	qf_q4_0_quantize(z, 32, &dz, qz);
	CHECK(d == dz && q[3] == -8);
	qz[3] = -8;
	CHECK(memcmp(q, qz, 32) == 0);

	x[3] = INFINITY;
	qf_q8_0_quantize(x, 32, &d, q);
	CHECK(d == 0x7c00);
	for (int j = 0; j < 32; j++)
		CHECK(q[j] == 0);
	x[3] = -INFINITY;
	qf_q4_0_quantize(x, 32, &d, q);
	CHECK(d == 0x7c00);		/* -inf / -8 */
	for (int j = 0; j < 32; j++)
		CHECK(q[j] == (j == 3 ? -8 : 0));
	for (int j = 0; j < 32; j++)
		x[j] = NAN;
	qf_q8_0_quantize(x, 32, &d, q);
	CHECK(d == 0);
	qf_q4_0_quantize(x, 32, &d, q);
	CHECK(d == 0x8000);
}

int main(void)
{
	RUN(test_own_fixture);
	RUN(test_shared_fixture);
	RUN(test_byte_layout);
	RUN(test_blocks_agree);
	RUN(test_non_finite);
	return unit_done();
}
