/* quant.h - quantizers, selection plans, ACIQ, weight statistics. */
#ifndef QF_QUANT_QUANT_H
#define QF_QUANT_QUANT_H

#include "stream/stream.h"

/* ---------------------------------------------------------------- quantization */

/* Weight quantization (docs/quantize.md has every definition and formula).
 *
 * A tensor is viewed as a matrix [rows, cols]: cols is its last dimension
 * (the input dimension of a linear weight [out, in]), rows the product of
 * the others (1 for a 0- or 1-dimensional tensor).  A quantization *unit*
 * shares one scale: the whole tensor, one row (an output channel), or a
 * group of g consecutive elements of a row (the last group of a row may be
 * shorter when g does not divide cols).  Units are numbered row by row.
 */

enum qf_qscheme {
	QF_QS_INT = 1,		/* uniform INT b, b = 2..8 */
	QF_QS_FP4,		/* FP4 E2M1, attribute value "fp4_e2m1" */
	QF_QS_NF4,		/* bitsandbytes' NormalFloat4 codebook */
	QF_QS_Q8_0,		/* ggml Q8_0: blocks of 32, f16 scale */
	QF_QS_Q4_0,		/* ggml Q4_0: blocks of 32, f16 scale */
	QF_QS_COMPAT,		/* per tensor, s = max|w| / 7, torch.round,
				 * clamp [-8, 7]: the earlier study's method */
};
enum qf_qgran { QF_QG_TENSOR = 1, QF_QG_CHANNEL, QF_QG_GROUP };
enum qf_qclip {
	QF_QC_NONE = 1,		/* abs-max: the unit's whole range */
	QF_QC_PERCENTILE,	/* a percentile of |w| (two-sided for asym) */
	QF_QC_ACIQ_GAUSS,	/* ACIQ optimum for a Gaussian fit */
	QF_QC_ACIQ_LAPLACE,	/* ACIQ optimum for a Laplace fit */
	QF_QC_MSE,		/* grid search for the least squared error */
};
enum qf_qround { QF_QR_NEAREST = 1, QF_QR_STOCHASTIC };

typedef struct qf_qspec {
	int scheme;		/* enum qf_qscheme */
	int bits;		/* INT: 2..8; fixed by the other schemes */
	int sym;		/* INT: 1 symmetric, 0 asymmetric */
	int gran;		/* enum qf_qgran */
	uint64_t group;		/* elements per group for QF_QG_GROUP */
	int clip;		/* enum qf_qclip */
	double pct;		/* QF_QC_PERCENTILE: p in (0, 100] */
	int round;		/* enum qf_qround */
	uint64_t seed;		/* QF_QR_STOCHASTIC */
} qf_qspec;

/* Defaults for a scheme: INT 4-bit symmetric per channel; FP4 per group
 * of 32; NF4 per group of 64; Q8_0 and Q4_0 per block of 32; compat per
 * tensor; no clipping; round to nearest. */
void qf_qspec_default(qf_qspec *q, int scheme);
/* Check a spec's fields against each other ("bits 9 out of range 2..8",
 * "q8_0 has no clipping", ...). */
int qf_qspec_check(const qf_qspec *q, qf_err *err);

/* Names as used in options and attributes, and back (0 when unknown). */
const char *qf_qscheme_name(int scheme);
const char *qf_qgran_name(int gran);
const char *qf_qclip_name(int clip);
const char *qf_qround_name(int round);
int qf_qscheme_parse(const char *s);
int qf_qclip_parse(const char *s);	/* without the ":P" of percentile */

/* Units of a [rows, cols] tensor under q; 0 when q cannot apply (a Q8_0 or
 * Q4_0 row length that is not a multiple of 32). */
uint64_t qf_qunits(const qf_qspec *q, uint64_t rows, uint64_t cols);
/* dtypes of the integer codes (i8 for symmetric INT, Q8_0, Q4_0 and
 * compat; u8 for asymmetric INT, FP4 and NF4) and of the scales (f32;
 * f16 for Q8_0 and Q4_0). */
int qf_qcodes_dtype(const qf_qspec *q);
int qf_qscales_dtype(const qf_qspec *q);
/* Bytes the tensor takes stored quantized: codes packed at q->bits per
 * element, plus the scales (and zero points) as qf_quantize writes them. */
uint64_t qf_qstored_bytes(const qf_qspec *q, uint64_t rows, uint64_t cols);

/* Where qf_quantize puts its results.  y (numel floats) receives the
 * fake-quantized values and may be the input itself; codes (numel
 * elements of qf_qcodes_dtype), scales (qf_qunits elements of
 * qf_qscales_dtype) and zeros (qf_qunits int32 zero points; asymmetric
 * INT only) may each be NULL. */
typedef struct qf_qbuf {
	float *y;
	void *codes;
	void *scales;
	int32_t *zeros;
} qf_qbuf;

/* What qf_quantize measured.  The sums are over every element of the
 * tensor (or over units, weighted by their elements); the error figures
 * are filled only when asked for. */
typedef struct qf_qres {
	uint64_t numel, units;
	double alpha_sum;	/* sum over units of the clip half-width alpha */
	double alpha_k;		/* ACIQ: the optimum alpha/sigma or alpha/b */
	/* with want_err: */
	double sse;		/* sum of (w - q)^2 */
	double sumsq;		/* sum of w^2 */
	uint64_t clipped;	/* elements outside their unit's clip range */
	double pred_gauss;	/* sum over units of n_u * ACIQ's predicted MSE */
	double pred_laplace;
} qf_qres;

/* Quantize x, a [rows, cols] tensor of finite floats (see
 * qf_find_nonfinite), with q; key seeds stochastic rounding (see
 * qf_qkey).  threads >= 1 share the work; the results, floats and sums
 * alike, do not depend on it.  Fails only for a spec that does not
 * apply (qf_qspec_check, qf_qunits == 0) or out of memory. */
int qf_quantize(const qf_qspec *q, const float *x, uint64_t rows,
		uint64_t cols, uint64_t key, const qf_qbuf *out, int want_err,
		qf_qres *res, int threads, qf_err *err);

/* The same keeping the columns c with keep[c] != 0 (keep: [cols], or
 * NULL for none) in full precision (qf-quantize --protect-channels,
 * docs/quantize.md): every unit's clip range and scale come from its
 * other elements, the kept ones are copied to out->y unchanged with code
 * 0 (a unit of kept elements only has scale 0); the error figures are
 * the other elements' (sumsq: of all).  out->y must not be x.  Not for
 * Q8_0 and Q4_0 ("q8_0 cannot keep columns in full precision"). */
int qf_quantize_keep(const qf_qspec *q, const float *x, uint64_t rows,
		     uint64_t cols, const unsigned char *keep, uint64_t key,
		     const qf_qbuf *out, int want_err, qf_qres *res,
		     int threads, qf_err *err);

/* The stochastic-rounding key of a tensor: seed XOR the FNV-1a 64-bit
 * hash of its name. */
uint64_t qf_qkey(uint64_t seed, const char *name);

/* Index of the first NaN or infinity in x, or -1. */
int64_t qf_find_nonfinite(const float *x, uint64_t n, int threads);

/* The NF4 codebook (bitsandbytes), ascending; code i means value i. */
extern const float qf_nf4_values[16];
/* FP4 E2M1 magnitudes for codes 0..7; code | 8 is the negative. */
extern const float qf_e2m1_values[8];

/* What qf-quantize does to each record of a weight stream
 * (docs/quantize.md): which tensors to quantize (by kind or name), which
 * to keep in full precision (protection), the INT bits per layer, and
 * what to do about NaN and infinity.  A record's "kind" and "layer"
 * attributes (formats/weights.md) classify it. */
#define QF_QMAX_LAYERS 4096
#define QF_QKINDS 10		/* tok_emb, pos_emb, ln_weight, ln_bias,
				 * attn_qkv, attn_out, mlp_in, mlp_out,
				 * bias, head: bit k of a kind set */
#define QF_QKINDS_LINEAR 0x0f0u	/* attn_qkv, attn_out, mlp_in, mlp_out */
#define QF_QKINDS_WEIGHTS 0x2f7u	/* the linears, tok/pos_emb, ln_weight,
					 * head */
enum qf_qnonfinite {
	QF_QNF_ERROR,		/* NaN or infinity is an error */
	QF_QNF_ZERO,		/* they become 0 */
	QF_QNF_KEEP,		/* such a tensor stays in full precision */
};
/* A record is passed through (not a float tensor with elements),
 * quantized, protected (selected but kept), or kept (not selected). */
enum qf_qstatus { QF_QST_PASS, QF_QST_QUANT, QF_QST_PROTECTED, QF_QST_KEPT };

typedef struct qf_qplan {
	qf_qspec q;
	int compat;		/* select every "*weight" (QF_QS_COMPAT) */
	unsigned include;	/* kinds to quantize */
	const char **names;	/* and tensors whose name matches a glob */
	int nnames;
	/* what the selection matched (qf_qplan_check_matches) */
	unsigned include_named;	/* kinds named one by one (-k), each must
				 * match */
	uint64_t include_hits[QF_QKINDS];
	uint64_t *name_hits;	/* of names[i] */
	uint64_t nselected;	/* tensors selected, protected or not */
	/* protection, with how many tensors each item matched */
	unsigned char prot_layer[QF_QMAX_LAYERS];
	uint64_t prot_layer_hits[QF_QMAX_LAYERS];
	int prot_layers_max;	/* highest protected layer + 1 */
	unsigned prot_kind;
	uint64_t prot_kind_hits[QF_QKINDS];
	const char **pnames;
	int npnames;
	uint64_t *pname_hits;
	/* INT bits per layer (0: q.bits) */
	int bits_of[QF_QMAX_LAYERS];
	int bits_map_max;	/* highest mapped layer + 1 */
	int map_default;	/* "default=" of the map; 0 if none */
	int nonfinite;		/* enum qf_qnonfinite */
	/* channel protection (--protect-channels): of each linear weight
	 * quantized, the input columns of largest salience kept */
	struct qf_qchan *chan;	/* the input channels' statistics, or NULL;
				 * owned (qf_qplan_free) */
	double chan_frac;	/* the fraction of columns kept, or with
				 * chan_budget of all their weights */
	int chan_budget;
	int salience;		/* enum qf_qsalience */
	uint64_t chan_numel, chan_kept;	/* weights so far, in stream order */
	int emit_codes;		/* also NAME.codes, .scales, .zeros records */
	int threads;
	struct qf_pool *pool;	/* the threads, made at the first record */
} qf_qplan;

/* A zeroed plan selects nothing; qf_qplan_free releases the name lists
 * and the threads. */
void qf_qplan_init(qf_qplan *p);
void qf_qplan_free(qf_qplan *p);
/* The kinds by number k (bit k of a kind set) and back: "tok_emb" ...
 * "head" (the list above); NULL and -1 for none. */
const char *qf_qkind_name(int kind);
int qf_qkind_parse(const char *name);
/* Add a glob of names to quantize, or (protect) to keep. */
int qf_qplan_add_name(qf_qplan *p, int protect, const char *glob,
		      qf_err *err);
/* Keep a layer (0 <= layer < QF_QMAX_LAYERS) in full precision. */
void qf_qplan_protect_layer(qf_qplan *p, int layer);
/* INT bits (2..8) of a layer, or with layer -1 of the layers the map
 * does not name (its "default"). */
void qf_qplan_map_bits(qf_qplan *p, int layer, int bits);

/* The layer attribute as a number below QF_QMAX_LAYERS, or -1. */
int qf_qrec_layer(const qf_rec *rec);
/* n_layer of a config record (kind or name "config"), or -1. */
int qf_qconfig_layers(const qf_rec *rec);
/* Layers named by --protect-layers or --bits-map that a model of n_layer
 * layers lacks ("... (SRC has N layers)"). */
int qf_qplan_check_layers(const qf_qplan *p, int n_layer,
			  const char *src, qf_err *err);
/* After the stream: the selection must have matched a tensor, and each
 * -n glob, each kind named in include_named and each protection item
 * one ("--include-name: 'x' matches no tensor"). */
int qf_qplan_check_matches(const qf_qplan *p, qf_err *err);
/* What becomes of rec (enum qf_qstatus); counts protection matches. */
int qf_qplan_status(qf_qplan *p, const qf_rec *rec);

/* Channel protection (docs/quantize.md, "Keeping salient input
 * channels"): qf-act --channel-stats measures, per block layer and
 * linear, its input channels (records chan.L.SITE, kind chan_stats,
 * [d, 3] mean |x|, mean x^2, max |x|, attributes layer, feeds: the
 * linear's kind, n_layer); a plan with chan keeps in full precision,
 * of each linear weight [out, in] it quantizes, the input columns whose
 * salience is largest (ties: the lower column), round(chan_frac · in)
 * of them, or under chan_budget as many as bring the weights kept so far
 * (in stream order) nearest to chan_frac of the linear weights so far.
 * Every unit's scale comes from its elements not kept. */
enum qf_qsalience {
	QF_QSAL_ABSMEAN = 1,	/* mean |x| (AWQ) */
	QF_QSAL_RMS,		/* sqrt(mean x^2) */
	QF_QSAL_ABSMAX,		/* max |x| (LLM.int8()'s outlier columns) */
};
typedef struct qf_qchan qf_qchan;
/* "absmean", "rms", "absmax" and back (0 when unknown). */
const char *qf_qsalience_name(int s);
int qf_qsalience_parse(const char *s);
/* Read the statistics stream at path; errors name it and the record:
 *     c.qft: record x: not channel statistics (kind chan_stats, as qf-act --channel-stats writes)
 *     c.qft: record chan.0.ln1_out: channel 3: a statistic is negative or not finite
 *     c.qft: no channel statistics */
qf_qchan *qf_qchan_load(const char *path, qf_err *err);
void qf_qchan_free(qf_qchan *c);
/* The statistics' model has n_layer layers, as src (the weight stream's
 * config) says: "c.qft: statistics of a model of 3 layers, but w.qft
 * has 2". */
int qf_qchan_check_layers(const qf_qplan *p, int n_layer, const char *src,
			  qf_err *err);

/* Statistics of a quantization run: per-tensor rows written as they come,
 * per-layer and total rows at the end, as TSV (docs/quantize.md). */
typedef struct qf_qstats qf_qstats;
typedef struct qf_qtotals {
	uint64_t ntensors, nquant;	/* tensors considered; quantized */
	uint64_t numel_quant, numel_fp;	/* parameters quantized; kept */
	uint64_t bytes_in, bytes_out;	/* as read; as stored quantized */
	uint64_t bytes_fp;		/* of bytes_out, in full precision */
	uint64_t chan_numel, chan_kept;	/* channel protection: weights of
					 * the tensors it applied to; kept */
	uint64_t nchan;			/* those tensors */
} qf_qtotals;
/* tsv NULL: totals only (no weight statistics are computed).  Writes the
 * TSV header. */
qf_qstats *qf_qstats_new(FILE *tsv, qf_err *err);
/* The same with the columns of channel protection, chan_kept and
 * chan_kept_frac, after the others. */
qf_qstats *qf_qstats_new_chan(FILE *tsv, qf_err *err);
/* Highest layer seen + 1. */
int qf_qstats_layers(const qf_qstats *s);
void qf_qstats_totals(const qf_qstats *s, qf_qtotals *t);
/* The layer rows and the total row. */
void qf_qstats_finish(qf_qstats *s);
void qf_qstats_free(qf_qstats *s);

/* The records one input record becomes, in order: the record, or the
 * fake-quantized tensor followed by its codes, scales and zero points. */
#define QF_WBATCH_MAX 4
typedef struct qf_wbatch {
	int n;
	qf_rec rec[QF_WBATCH_MAX];
	void *data[QF_WBATCH_MAX];	/* malloc'd payloads */
} qf_wbatch;
qf_wbatch *qf_wbatch_new(qf_err *err);
void qf_wbatch_free(qf_wbatch *b);	/* the records, payloads and b */

/* Read the payload of rec (the reader's current record) and plan it into
 * out: quantized as p says, or passed through unchanged; statistics into
 * s.  Errors name the input and the record. */
int qf_qplan_apply(qf_qplan *p, qf_reader *r, const qf_rec *rec,
		   qf_wbatch *out, qf_qstats *s, qf_err *err);

/* Write batches, or records piece by piece (begin, write, end as
 * qf_writer_begin...), to w in order, from a thread of its own if
 * threaded (and a thread can be made), else at once; at most 16 MiB
 * of payload wait (or one item of any size).  put takes b over and write buf (malloc'd; freed in any case);
 * after a write error they fail with that error.  finish waits for what
 * is pending and frees t, not w. */
typedef struct qf_wthread qf_wthread;
qf_wthread *qf_wthread_start(qf_writer *w, int threaded, qf_err *err);
int qf_wthread_put(qf_wthread *t, qf_wbatch *b, qf_err *err);
int qf_wthread_begin(qf_wthread *t, const qf_rec *rec, qf_err *err);
int qf_wthread_write(qf_wthread *t, void *buf, size_t n, qf_err *err);
int qf_wthread_end(qf_wthread *t, qf_err *err);
int qf_wthread_finish(qf_wthread *t, qf_err *err);

/* qf_qplan_apply's work as the input streams in, written to out as it
 * goes: what is copied (passed through, kept, protected) a chunk at a
 * time; a tensor quantized per channel or group a run of rows at a
 * time, in one pass; in two when the statistics are wanted (their
 * moments come before the outliers), --nonfinite keep decides what the
 * header says, or the codes are emitted, given again: a second reader of
 * the same stream whose current record is rec too (opened on the same
 * regular file), read first.  Those without again, and per tensor, are
 * held (qf_qplan_apply).  The records and
 * statistics are qf_qplan_apply's, byte for byte (docs/quantize.md,
 * "Memory and threads"). */
int qf_qplan_stream(qf_qplan *p, qf_reader *r, qf_reader *again,
		    const qf_rec *rec, qf_wthread *out, qf_qstats *s,
		    qf_err *err);

/* A --bits-map file (at most QF_QMAP_MAX bytes) as one line: '#'
 * comments dropped, newlines as commas.  Errors name the file. */
#define QF_QMAP_MAX (1u << 20)
int qf_qmap_read(const char *path, char **text, qf_err *err);

/* ---------------------------------------------------------------- ACIQ */

/* Expected squared error of clipping at +-alpha and quantizing [-alpha,
 * alpha] into 2^bits equal bins (Banner et al. 2019): for a zero-mean
 * Gaussian of deviation sigma, and a zero-mean Laplace of scale b. */
double qf_aciq_mse_gauss(double alpha, double sigma, int bits);
double qf_aciq_mse_laplace(double alpha, double b, int bits);
/* The alpha that minimises them, as a multiple of sigma (resp. b). */
double qf_aciq_alpha_gauss(int bits);
double qf_aciq_alpha_laplace(int bits);

/* ---------------------------------------------------------------- weight statistics */

/* Distribution of a tensor's elements, in double precision. */
typedef struct qf_wstats {
	uint64_t n;
	double mean;
	double m2, m3, m4;	/* sums of (w - mean)^2, ^3, ^4 */
	double absmax;
	double sumsq;		/* sum of w^2 */
	uint64_t outliers;	/* |w - mean| > 6 sigma (sigma: population) */
} qf_wstats;
void qf_wstats_init(qf_wstats *s);
int qf_wstats_compute(const float *x, uint64_t n, int threads,
		      qf_wstats *s, qf_err *err);
/* Pool b into a (outliers add up, each counted against its own sigma). */
void qf_wstats_merge(qf_wstats *a, const qf_wstats *b);
double qf_wstats_var(const qf_wstats *s);	/* population variance */
double qf_wstats_kurtosis(const qf_wstats *s);	/* excess (Fisher) */

#endif
