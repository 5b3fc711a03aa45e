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
	const float *x;
	uint64_t rows, cols, numel;
	uint64_t unit_len;	/* elements of a full unit */
	uint64_t gpr;		/* units per row */
	uint64_t units;
	uint64_t key;
	const qf_qbuf *out;
	int want_err, need_fit;
	qf_pool *pool;		/* for work inside one unit (per tensor) */
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
 * qf_wstats_compute on a pool. */
int qf_quantize_pool(const qf_qspec *q, const float *x, uint64_t rows,
		     uint64_t cols, uint64_t key, const qf_qbuf *out,
		     int want_err, qf_qres *res, qf_pool *pool, qf_err *err);
int64_t qf_find_nonfinite_pool(const float *x, uint64_t n, qf_pool *pool);
int qf_wstats_pool(const float *x, uint64_t n, qf_pool *pool, qf_wstats *s,
		   qf_err *err);

/* ------------------------------------------------------------ statistics rows */

/* One row of the statistics. */
struct qrow {
	int st;			/* enum qf_qstatus */
	qf_qspec q;
	qf_wstats ws;
	qf_qres r;
	uint64_t numel, nonfinite, numel_fp, bytes_in, bytes_out, bytes_fp;
};

/* qstats.c: whether rows get weight statistics (a TSV is written), and
 * a record's row added. */
int qf_qstats_want(const qf_qstats *s);
void qf_qstats_add(qf_qstats *s, const qf_rec *rec, const struct qrow *row);

#endif
