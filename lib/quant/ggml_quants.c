/*
 * ggml_quants.c - ggml's Q8_0 and Q4_0 blocks: the reference quantizers,
 * dequantization, and ggml's byte layout (see ggml_quants.h).
 */
#include <math.h>

#include "quant/ggml.h"
#include "core/internal.h"

/* ------------------------------------------------------------ Q8_0 */

static void q8_0_block(const float *x, uint16_t *scale, int8_t *q)
{
	float amax = 0.0f, d, id, v;
	int j;

	for (j = 0; j < QF_QK; j++)
		if (fabsf(x[j]) > amax)		/* NaN compares false */
			amax = fabsf(x[j]);
	d = amax / 127;
	id = d != 0.0f ? 1.0f / d : 0.0f;
	*scale = qf_f32_to_f16(d);
	for (j = 0; j < QF_QK; j++) {
		v = roundf(x[j] * id);
		/* |x * id| <= 127 (plus an ulp) unless it is not finite */
		q[j] = v >= -127.0f && v <= 127.0f ? (int8_t)v : 0;
	}
}

void qf_q8_0_quantize(const float *x, size_t n, uint16_t *scales,
		      int8_t *codes)
{
	for (size_t b = 0; b < n / QF_QK; b++)
		q8_0_block(x + b * QF_QK, scales + b, codes + b * QF_QK);
}

/* ------------------------------------------------------------ Q4_0 */

static void q4_0_block(const float *x, uint16_t *scale, int8_t *q)
{
	float amax = 0.0f, max = 0.0f, d, id;
	double v;
	int j;

	for (j = 0; j < QF_QK; j++) {
		if (fabsf(x[j]) > amax) {	/* the first largest, no NaN */
			amax = fabsf(x[j]);
			max = x[j];
		}
	}
	d = max / -8;
	id = d != 0.0f ? 1.0f / d : 0.0f;
	*scale = qf_f32_to_f16(d);
	for (j = 0; j < QF_QK; j++) {
		/* exact: a product of two floats fits a double, and so does
		 * the sum wherever it is close to an integer */
		v = (double)x[j] * (double)id + 8.5;
		if (!(v >= 0.0 && v < 128.0))	/* not finite */
			q[j] = -8;
		else
			q[j] = (int8_t)((v >= 15.0 ? 15 : (int)v) - 8);
	}
}

void qf_q4_0_quantize(const float *x, size_t n, uint16_t *scales,
		      int8_t *codes)
{
	for (size_t b = 0; b < n / QF_QK; b++)
		q4_0_block(x + b * QF_QK, scales + b, codes + b * QF_QK);
}

/* ------------------------------------------------------------ dequantize */

static void dequantize(const uint16_t *scales, const int8_t *codes, size_t n,
		       float *y)
{
	for (size_t b = 0; b < n / QF_QK; b++) {
		float d = qf_f16_to_f32(scales[b]);
		for (int j = 0; j < QF_QK; j++)
			y[b * QF_QK + j] = (float)codes[b * QF_QK + j] * d;
	}
}

void qf_q8_0_dequantize(const uint16_t *scales, const int8_t *codes,
			size_t n, float *y)
{
	dequantize(scales, codes, n, y);
}

void qf_q4_0_dequantize(const uint16_t *scales, const int8_t *codes,
			size_t n, float *y)
{
	dequantize(scales, codes, n, y);
}

/* ------------------------------------------------------------ byte layout */

void qf_q8_0_pack(const uint16_t *scales, const int8_t *codes, size_t n,
		  unsigned char *blocks)
{
	for (size_t b = 0; b < n / QF_QK; b++) {
		unsigned char *p = blocks + b * QF_Q8_0_BYTES;
		qf_put_u16(p, scales[b]);
		memcpy(p + 2, codes + b * QF_QK, QF_QK);
	}
}

void qf_q8_0_unpack(const unsigned char *blocks, size_t n, uint16_t *scales,
		    int8_t *codes)
{
	for (size_t b = 0; b < n / QF_QK; b++) {
		const unsigned char *p = blocks + b * QF_Q8_0_BYTES;
		scales[b] = qf_get_u16(p);
		memcpy(codes + b * QF_QK, p + 2, QF_QK);
	}
}

void qf_q4_0_pack(const uint16_t *scales, const int8_t *codes, size_t n,
		  unsigned char *blocks)
{
	for (size_t b = 0; b < n / QF_QK; b++) {
		unsigned char *p = blocks + b * QF_Q4_0_BYTES;
		const int8_t *q = codes + b * QF_QK;
		qf_put_u16(p, scales[b]);
		for (int j = 0; j < QF_QK / 2; j++)
			p[2 + j] = (unsigned char)(((q[j] + 8) & 15) |
						   ((q[j + QF_QK / 2] + 8) & 15) << 4);
	}
}

void qf_q4_0_unpack(const unsigned char *blocks, size_t n, uint16_t *scales,
		    int8_t *codes)
{
	for (size_t b = 0; b < n / QF_QK; b++) {
		const unsigned char *p = blocks + b * QF_Q4_0_BYTES;
		int8_t *q = codes + b * QF_QK;
		scales[b] = qf_get_u16(p);
		for (int j = 0; j < QF_QK / 2; j++) {
			q[j] = (int8_t)((p[2 + j] & 15) - 8);
			q[j + QF_QK / 2] = (int8_t)((p[2 + j] >> 4) - 8);
		}
	}
}

void qf_q8_0_quantize_blocks(const float *x, size_t n, unsigned char *blocks)
{
	uint16_t d;
	int8_t q[QF_QK];

	for (size_t b = 0; b < n / QF_QK; b++) {
		q8_0_block(x + b * QF_QK, &d, q);
		qf_q8_0_pack(&d, q, QF_QK, blocks + b * QF_Q8_0_BYTES);
	}
}

void qf_q4_0_quantize_blocks(const float *x, size_t n, unsigned char *blocks)
{
	uint16_t d;
	int8_t q[QF_QK];

	for (size_t b = 0; b < n / QF_QK; b++) {
		q4_0_block(x + b * QF_QK, &d, q);
		qf_q4_0_pack(&d, q, QF_QK, blocks + b * QF_Q4_0_BYTES);
	}
}

void qf_q8_0_dequantize_blocks(const unsigned char *blocks, size_t n,
			       float *y)
{
	for (size_t b = 0; b < n / QF_QK; b++) {
		const unsigned char *p = blocks + b * QF_Q8_0_BYTES;
		float d = qf_f16_to_f32(qf_get_u16(p));
		for (int j = 0; j < QF_QK; j++)
			y[b * QF_QK + j] = (float)(int8_t)p[2 + j] * d;
	}
}

void qf_q4_0_dequantize_blocks(const unsigned char *blocks, size_t n,
			       float *y)
{
	for (size_t b = 0; b < n / QF_QK; b++) {
		const unsigned char *p = blocks + b * QF_Q4_0_BYTES;
		float d = qf_f16_to_f32(qf_get_u16(p));
		float *o = y + b * QF_QK;
		for (int j = 0; j < QF_QK / 2; j++) {
			o[j] = (float)((p[2 + j] & 15) - 8) * d;
			o[j + QF_QK / 2] = (float)((p[2 + j] >> 4) - 8) * d;
		}
	}
}
