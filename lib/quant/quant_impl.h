/*
 * quant_impl.h - private to lib/quant: one tensor's quantization job and
 * what the quantizer's files share (qscalar.c: the scalar quantizers,
 * qunit.c: a unit's parameters, qtensor.c: the threaded driver, aciq.c,
 * wstats.c), and the statistics row the plan's files share (qapply.c,
 * qstats.c).
 *
 * Work is cut into blocks fixed by the data (QBLOCK elements, or runs of
 * whole units of about that size), never by the number of threads, and
 * every sum is accumulated per block and then added in block order: so
 * the output, floats and statistics alike, is the same for any -j.  A
 * NULL pool runs the blocks on the caller's thread.
 */
#ifndef QF_QUANT_IMPL_H
#define QF_QUANT_IMPL_H

#include "core/internal.h"
#include "quant/quant.h"

#define QBLOCK 65536		/* elements per work block */
#define QTHREADS_MAX 64		/* threads of one pool */

/* The hot loops are written as runs of VL elements with a constant
 * inner trip count: GCC's -O2 vectorizes those (its "very cheap" cost
 * model leaves loops of unknown length alone). */
#define VL 8

/* Blocks of QBLOCK elements that cover n. */
static inline size_t qblocks(uint64_t n)
{
	return (size_t)((n + QBLOCK - 1) / QBLOCK);
}

/* Block b of n elements: its first element and its length. */
static inline uint64_t qblock_len(uint64_t n, int b, uint64_t *lo)
{
	*lo = (uint64_t)b * QBLOCK;
	return n - *lo < QBLOCK ? n - *lo : QBLOCK;
}

/* A pool for `threads` threads (at most QTHREADS_MAX), or NULL for one
 * thread or when none can be made: the results are the same. */
qf_pool *qf_qpool_new(int threads);

/* ------------------------------------------------------------ one tensor */

/* One tensor's job. */
struct qjob {
	const qf_qspec *q;
	const float *x;		/* elements from base on (out->y too) */
	uint64_t base;
	uint64_t rows, cols, numel;
	uint64_t unit_len;	/* elements of a full unit */
	uint64_t gpr;		/* units per row */
	uint64_t units;
	uint64_t key;
	const qf_qbuf *out;
	int want_err, need_fit;
	qf_pool *pool;		/* for work inside one unit (per tensor) */
	const unsigned char *keep;	/* [cols]: columns kept in full
					 * precision, or NULL (qf_quantize_pool) */
	uint64_t nquant;	/* elements quantized: numel less the kept */
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

/* Sums over a range, added block by block in order. */
struct racc {
	double sum, sumsq, sumabs;
	float min, max, amax;
};

/* Units per row. */
uint64_t qf_qgroups_per_row(const qf_qspec *q, uint64_t cols);

/* qscalar.c: make the NF4 midpoints (once; before any qf_qs_apply). */
void qf_qs_init(void);
/* Scale and zero point for the clip range [lo, hi] (lo = -hi when
 * symmetric). */
void qf_qs_scale(const struct qjob *J, float lo, float hi, struct uparam *p);
/* Quantize x[0, n) (global index start) with p into y, and the codes
 * when asked for; nearest or stochastic per the spec. */
void qf_qs_apply(const struct qjob *J, const struct uparam *p,
		 const float *x, float *y, uint64_t n, uint64_t start);
/* Squared error of quantizing x[0, n) with p, rounding to nearest; tmp
 * holds 1024 floats. */
double qf_qs_sse(const struct qjob *J, const struct uparam *p,
		 const float *x, uint64_t n, float *tmp);

/* qunit.c */
void qf_racc_init(struct racc *a);
/* pass 0: sum, sum of squares, sum of |x|, min, max, max |x|;
 * pass 1: sum of (x - c)^2 and of |x - c| (into sumsq and sumabs). */
void qf_racc_range(const float *x, uint64_t n, int pass, double c,
		   struct racc *a);
/* Everything about one unit before it is quantized: its sums, fit, clip
 * range, scale.  pool only for a whole-tensor unit.  tmp holds n floats
 * (percentiles).  -1: out of memory. */
int qf_qunit_params(const struct qjob *J, const float *x, uint64_t n,
		    qf_pool *pool, float *tmp, struct uparam *p,
		    struct ufit *f);
/* Add a unit's error figures (nearest or not, whatever was applied). */
void qf_qunit_err(const struct qjob *J, const struct uparam *p,
		  const struct ufit *f, const float *x, const float *y,
		  uint64_t n, struct part *pt);

/* aciq.c: expected squared error for clipping at c - a_lo and c + a_hi
 * (c the prior's centre) and 2^bits bins over the range. */
double qf_aciq_pred(int laplace, double a_lo, double a_hi, double scale,
		    int bits);

/* qtensor.c and wstats.c: qf_quantize, qf_find_nonfinite and
 * qf_wstats_compute on a pool.  keep (NULL: none) marks the columns kept
 * in full precision (--protect-channels, docs/quantize.md): every unit's
 * parameters come from its other elements, the kept ones are copied to
 * out->y unchanged with code 0, and the error figures are those of the
 * others (sumsq: of all); out->y must not be x then.  Not for Q8_0 and
 * Q4_0. */
int qf_quantize_pool(const qf_qspec *q, const float *x, uint64_t rows,
		     uint64_t cols, uint64_t key, const qf_qbuf *out,
		     int want_err, qf_qres *res, qf_pool *pool,
		     const unsigned char *keep, qf_err *err);
int64_t qf_find_nonfinite_pool(const float *x, uint64_t n, qf_pool *pool);

/* qtensor.c: a tensor of channel or group granularity (not per tensor)
 * quantized a run of its blocks at a time as the input streams in
 * (qstream.c); the blocks and the order of the sums are qf_quantize's,
 * so are the results.  out->y is the run's output (elements from base);
 * codes, scales and zeros, when not NULL, are the whole tensor's.
 * NULL: out of memory, or a spec that does not apply (qf_qunits 0). */
struct qtens;
struct qtens *qf_qtens_new(const qf_qspec *q, uint64_t rows, uint64_t cols,
			   uint64_t key, const qf_qbuf *out, int want_err,
			   qf_pool *pool);
/* The buffers for the codes, scales and zeros (before qf_qtens_run). */
void qf_qtens_codes(struct qtens *T, const qf_qbuf *out);
size_t qf_qtens_blocks(const struct qtens *T);
/* Elements [*e0, *e1) of blocks [b0, b1). */
void qf_qtens_span(const struct qtens *T, size_t b0, size_t b1,
		   uint64_t *e0, uint64_t *e1);
/* x holds elements from base on, y receives them (qf_qtens_run).
 * -1: out of memory, or a unit whose quantized values overflow. */
int qf_qtens_run(struct qtens *T, size_t b0, size_t b1, const float *x,
		 float *y, uint64_t base, qf_err *err);
/* The sums so far, with numel, units and alpha_k. */
void qf_qtens_res(const struct qtens *T, qf_qres *res);
void qf_qtens_free(struct qtens *T);
int qf_wstats_pool(const float *x, uint64_t n, qf_pool *pool, qf_wstats *s,
		   qf_err *err);
/* wstats.c, a block at a time (QBLOCK elements, the last shorter; merged
 * in order): its moments, then, with the whole tensor's mean and
 * qf_ws_threshold, its outliers. */
void qf_ws_moments(const float *x, uint64_t n, qf_wstats *s);
double qf_ws_threshold(const qf_wstats *s);
uint64_t qf_ws_outliers(const float *x, uint64_t n, double mean, double thr);

/* ------------------------------------------------------------ statistics rows */

/* One row of the statistics. */
struct qrow {
	int st;			/* enum qf_qstatus */
	qf_qspec q;
	qf_wstats ws;
	qf_qres r;
	uint64_t numel, nonfinite, numel_fp, bytes_in, bytes_out, bytes_fp;
	int chan;		/* channel protection applied */
	uint64_t chan_kept;	/* its weights kept */
};

/* qapply.c, shared with qstream.c: the quant_* attributes of a
 * quantized record (how it was quantized: what came of it, such as the
 * mean clip half-width, is in the statistics, so that the header can be
 * written before the payload is read); a record NAME.PART of its codes, scales or zero
 * points; "[i, j]" of a flat index; the plan's spec with the INT bits of
 * rec's layer; a row before the plan says what becomes of the record,
 * and the figures of one kept in full precision (status st); the plan
 * applied to rec with its status st (qf_qplan_apply). */
int qf_qa_quant_attrs(qf_rec *out, const qf_qspec *q, int src_dtype,
		      qf_err *e);
int qf_qa_part_rec(qf_rec *out, const qf_rec *in, const qf_qspec *q,
		   const char *part, int dtype, int ndim, const uint64_t *dims,
		   qf_err *e);
void qf_qa_index_str(const qf_rec *rec, uint64_t i, char *buf, size_t len);
/* The records of a quantized tensor into out: the tensor, then with
 * codes its codes, scales, zero points; takes the buffers of b over.
 * kept (NULL: none): channel protection's attributes quant_salience and
 * quant_kept_cols. */
struct qf_qkept {
	int salience;		/* enum qf_qsalience */
	uint64_t cols;		/* columns kept */
};
int qf_qa_emit(qf_wbatch *out, int codes, const qf_rec *rec,
	       const qf_qspec *q, uint64_t rows, uint64_t units, qf_qbuf *b,
	       const struct qf_qkept *kept, qf_err *e);
void qf_qa_spec_of(const qf_qplan *p, const qf_rec *rec, qf_qspec *q);
void qf_qa_row_init(struct qrow *row, const qf_rec *rec);
void qf_qa_row_fp(struct qrow *row, int st);
int qf_qa_apply(qf_qplan *p, int st, qf_reader *r, const qf_rec *rec,
		qf_wbatch *out, qf_qstats *s, qf_err *err);

/* qchan.c: whether channel protection applies to rec (a linear's
 * weight of a layer, the plan has statistics); the columns it keeps of
 * rec [rows, cols] of the input src (keep [cols], malloc'd, *nkept of
 * them), counted under a budget:
 *     c.qft: no channel statistics of layer 3 for attn_qkv (w.qft: record layers.3.attn.qkv.weight)
 *     c.qft: record chan.0.ln1_out: 32 channels, but w.qft: record layers.0.attn.qkv.weight has 48 input columns: statistics of another model? */
int qf_qchan_applies(const qf_qplan *p, const qf_rec *rec);
int qf_qchan_mask(qf_qplan *p, const qf_rec *rec, const char *src,
		  uint64_t rows, uint64_t cols, unsigned char **keep,
		  uint64_t *nkept, qf_err *err);

/* qstats.c: whether rows get weight statistics (a TSV is written), and
 * a record's row added. */
int qf_qstats_want(const qf_qstats *s);
void qf_qstats_add(qf_qstats *s, const qf_rec *rec, const struct qrow *row);

#endif
