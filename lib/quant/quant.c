/*
 * quant.c - the quantization spec (the "quantization" section of
 * quant.h): schemes, granularities, clipping and rounding by name, their
 * defaults and checks, the units of a tensor and the bytes it takes
 * stored quantized, the stochastic-rounding key; and the codebooks.
 * Definitions: docs/quantize.md.
 */
#include <string.h>

#include "quant/ggml.h"
#include "quant/quant_impl.h"

/* bitsandbytes' NF4 values (csrc/kernels.cu, dDequantizeNF4). */
const float qf_nf4_values[16] = {
	-1.0f, -0.6961928009986877f, -0.5250730514526367f,
	-0.39491748809814453f, -0.28444138169288635f, -0.18477343022823334f,
	-0.09105003625154495f, 0.0f, 0.07958029955625534f,
	0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
	0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

const float qf_e2m1_values[8] = { 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f };

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

uint64_t qf_qgroups_per_row(const qf_qspec *q, uint64_t cols)
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
	return rows * qf_qgroups_per_row(q, cols);
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
	return seed ^ qf_fnv1a(QF_FNV1A_INIT, name, strlen(name));
}
