/*
 * qtensor.c - qf_quantize: one tensor's units cut into blocks (runs of
 * whole units, or element blocks of the one unit of a per-tensor spec),
 * the blocks spread over the thread pool, their sums added in block
 * order; Q8_0 and Q4_0 go through the llama.cpp reference blocks
 * (ggml_quants.c).  Definitions: docs/quantize.md.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/ggml.h"
#include "quant/quant_impl.h"

qf_pool *qf_qpool_new(int threads)
{
	qf_err e;

	if (threads > QTHREADS_MAX)
		threads = QTHREADS_MAX;
	return threads > 1 ? qf_pool_new(threads, &e) : NULL;
}

/* ------------------------------------------------------------ the job */

static void job_init(struct qjob *J, const qf_qspec *q, const float *x,
		     uint64_t rows, uint64_t cols, uint64_t key,
		     const qf_qbuf *out, int want_err, qf_pool *pool,
		     const unsigned char *keep)
{
	uint64_t nk = 0;

	memset(J, 0, sizeof *J);
	J->keep = keep;
	for (uint64_t c = 0; keep && c < cols; c++)
		nk += keep[c] != 0;
	J->q = q;
	J->x = x;
	J->rows = rows;
	J->cols = cols;
	J->numel = rows * cols;
	J->nquant = rows * (cols - nk);
	J->key = key;
	J->out = out;
	J->want_err = want_err;
	J->need_fit = want_err;
	J->pool = pool;
	J->gpr = qf_qgroups_per_row(q, cols);
	J->unit_len = q->gran == QF_QG_TENSOR ? J->numel :
		q->gran == QF_QG_CHANNEL ? cols : q->group;
	if (J->unit_len > cols && q->gran == QF_QG_GROUP)
		J->unit_len = cols;
	J->units = qf_qunits(q, rows, cols);
	if (q->scheme == QF_QS_COMPAT) {
		J->qlo = -8;
		J->qhi = 7;
	} else if (q->scheme == QF_QS_INT) {
		J->qhi = q->sym ? (float)((1 << (q->bits - 1)) - 1) :
			(float)((1 << q->bits) - 1);
		J->qlo = q->sym ? -J->qhi : 0;
	}
	if (q->clip == QF_QC_ACIQ_GAUSS)
		J->alpha_k = qf_aciq_alpha_gauss(q->bits);
	else if (q->clip == QF_QC_ACIQ_LAPLACE)
		J->alpha_k = qf_aciq_alpha_laplace(q->bits);
}

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

/* ------------------------------------------------------------ blocks */

struct run {
	const struct qjob *J;
	struct part *part;	/* of blocks b0, b0 + 1, ... */
	size_t b0;		/* the first block of this run */
	uint64_t units_per_block;
	struct uparam tp;	/* per tensor: the one unit's parameters */
	struct ufit tf;
	int fail;		/* FAIL_* */
	uint64_t bad_unit;	/* FAIL_RANGE: the first such unit */
};

/* How a run failed: out of memory, or a unit whose quantized values are
 * not finite although its values are (beyond the scheme's range: e.g. a
 * Q8_0 scale above f16's 65504). */
enum { FAIL_NONE, FAIL_MEMORY, FAIL_RANGE };

static void run_fail(struct run *R, int why)
{
	__atomic_store_n(&R->fail, why, __ATOMIC_RELAXED);
}

/* Unit u's quantized values y[0, n) are not all finite: the run fails,
 * naming the first such unit (the same one for any thread count). */
static int range_fail(struct run *R, uint64_t u, const float *y, uint64_t n)
{
	uint64_t i = 0;

	while (i < n && isfinite(y[i]))
		i++;
	if (i == n)
		return 0;
	for (uint64_t seen = __atomic_load_n(&R->bad_unit, __ATOMIC_RELAXED);
	     u < seen && !__atomic_compare_exchange_n(&R->bad_unit, &seen, u, 0,
			__ATOMIC_RELAXED, __ATOMIC_RELAXED);)
		;
	run_fail(R, FAIL_RANGE);
	return -1;
}

static void store_unit(const struct qjob *J, uint64_t u, const struct uparam *p)
{
	if (J->out->scales)
		((float *)J->out->scales)[u] = p->s;
	if (J->out->zeros)
		J->out->zeros[u] = (int32_t)p->z;
}

/* The units [*u0, *u1) of block b. */
static void block_units(const struct run *R, int b, uint64_t *u0, uint64_t *u1)
{
	*u0 = (uint64_t)b * R->units_per_block;
	*u1 = *u0 + R->units_per_block < R->J->units ?
		*u0 + R->units_per_block : R->J->units;
}

/* Block b of the run: its units, its part zeroed, the percentile's
 * scratch; -1 (the run failed) when out of memory. */
static int block_begin(struct run *R, int b, uint64_t *u0, uint64_t *u1,
		       float **tmp)
{
	const struct qjob *J = R->J;

	block_units(R, (int)(b + R->b0), u0, u1);
	memset(&R->part[b], 0, sizeof R->part[b]);
	*tmp = NULL;
	if (J->q->clip == QF_QC_PERCENTILE &&
	    !(*tmp = malloc(J->unit_len * sizeof **tmp))) {
		run_fail(R, FAIL_MEMORY);
		return -1;
	}
	return 0;
}

/* The elements of x[0, n) (global index start) whose columns are not
 * kept, gathered into g; returns how many.  kss: the sum of squares of
 * the kept ones. */
static uint64_t gather_free(const struct qjob *J, const float *x, uint64_t n,
			    uint64_t start, float *g, double *kss)
{
	uint64_t c = start % J->cols, m = 0;

	*kss = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (J->keep[c])
			*kss += (double)x[i] * x[i];
		else
			g[m++] = x[i];
		if (++c == J->cols)
			c = 0;
	}
	return m;
}

/* The elements of y[0, n) (global index start) whose columns are not
 * kept, appended to g. */
static void gather_out(const struct qjob *J, const float *y, uint64_t n,
		       uint64_t start, float *g)
{
	uint64_t c = start % J->cols, m = 0;

	for (uint64_t i = 0; i < n; i++) {
		if (!J->keep[c])
			g[m++] = y[i];
		if (++c == J->cols)
			c = 0;
	}
}

/* The kept elements of x[0, n) (global index start) back into y as they
 * were, their codes 0. */
static void restore_kept(const struct qjob *J, const float *x, float *y,
			 uint64_t n, uint64_t start)
{
	uint64_t c = start % J->cols;

	for (uint64_t i = 0; i < n; i++) {
		if (J->keep[c]) {
			y[i] = x[i];
			if (J->out->codes)
				((uint8_t *)J->out->codes)[start + i] = 0;
		}
		if (++c == J->cols)
			c = 0;
	}
}

/* A unit with kept columns (--protect-channels): its parameters from
 * the other elements (gathered into g), applied to the whole unit, the
 * kept elements restored; the figures of the others, and the kept ones'
 * squares in sumsq.  A unit of kept elements only has scale 0.  g holds
 * 2 n floats.  -1: the run failed. */
static int masked_unit(struct run *R, uint64_t u, uint64_t start,
		       uint64_t len, float *tmp, float *g, struct part *pt)
{
	const struct qjob *J = R->J;
	const float *x = J->x + (start - J->base);
	float *y = J->out->y + (start - J->base);
	struct uparam p;
	struct ufit f;
	double kss;
	uint64_t m;

	m = gather_free(J, x, len, start, g, &kss);
	memset(&p, 0, sizeof p);
	memset(&f, 0, sizeof f);
	if (m && qf_qunit_params(J, g, m, NULL, tmp, &p, &f) < 0) {
		run_fail(R, FAIL_MEMORY);
		return -1;
	}
	qf_qs_apply(J, &p, x, y, len, start);
	restore_kept(J, x, y, len, start);
	if (range_fail(R, u, y, len) < 0)
		return -1;
	store_unit(J, u, &p);
	pt->alpha += p.alpha;
	if (!J->want_err)
		return 0;
	gather_out(J, y, len, start, g + m);
	if (m)
		qf_qunit_err(J, &p, &f, g, g + m, m, pt);
	pt->sumsq += kss;
	return 0;
}

/* Channel and group granularity: a run of whole units. */
static void units_block(void *arg, int b, int tid)
{
	struct run *R = arg;
	const struct qjob *J = R->J;
	struct part *pt = &R->part[b];
	float *tmp, *y, *g = NULL;
	const float *x;
	uint64_t u0, u1;

	(void)tid;
	if (block_begin(R, b, &u0, &u1, &tmp) < 0)
		return;
	if (J->keep && !(g = malloc(2 * J->unit_len * sizeof *g))) {
		run_fail(R, FAIL_MEMORY);
		free(tmp);
		return;
	}
	for (uint64_t u = u0; u < u1; u++) {
		uint64_t start, len;
		struct uparam p;
		struct ufit f;

		unit_span(J, u, &start, &len);
		if (g) {
			if (masked_unit(R, u, start, len, tmp, g, pt) < 0)
				break;
			continue;
		}
		x = J->x + (start - J->base);
		y = J->out->y + (start - J->base);
		if (qf_qunit_params(J, x, len, NULL, tmp, &p, &f) < 0) {
			run_fail(R, FAIL_MEMORY);
			break;
		}
		qf_qs_apply(J, &p, x, y, len, start);
		if (range_fail(R, u, y, len) < 0)
			break;
		store_unit(J, u, &p);
		pt->alpha += p.alpha;
		if (J->want_err)
			qf_qunit_err(J, &p, &f, x, y, len, pt);
	}
	free(g);
	free(tmp);
}

/* Per tensor with kept columns: the figures of block b's other
 * elements, the kept ones' squares in sumsq. */
static void masked_err(struct run *R, int b, uint64_t start, uint64_t len)
{
	const struct qjob *J = R->J;
	struct part *pt = &R->part[b];
	float *g = malloc(2 * len * sizeof *g);
	double kss;
	uint64_t m;

	if (!g) {
		run_fail(R, FAIL_MEMORY);
		return;
	}
	m = gather_free(J, J->x + start, len, start, g, &kss);
	gather_out(J, J->out->y + start, len, start, g + m);
	if (m)
		qf_qunit_err(J, &R->tp, &R->tf, g, g + m, m, pt);
	pt->sumsq += kss;
	pt->pg = pt->pl = 0;	/* per unit: counted once, below */
	free(g);
}

/* Per tensor: element blocks with the one unit's parameters. */
static void tensor_block(void *arg, int b, int tid)
{
	struct run *R = arg;
	const struct qjob *J = R->J;
	uint64_t start, len = qblock_len(J->numel, b, &start);

	(void)tid;
	memset(&R->part[b], 0, sizeof R->part[b]);
	qf_qs_apply(J, &R->tp, J->x + start, J->out->y + start, len, start);
	if (J->keep)
		restore_kept(J, J->x + start, J->out->y + start, len, start);
	if (range_fail(R, 0, J->out->y + start, len) < 0)
		return;
	if (J->keep) {
		if (J->want_err)
			masked_err(R, b, start, len);
		return;
	}
	if (J->want_err) {
		struct part *pt = &R->part[b];
		qf_qunit_err(J, &R->tp, &R->tf, J->x + start, J->out->y + start,
			     len, pt);
		/* the prediction is per unit: counted once, below */
		pt->pg = pt->pl = 0;
	}
}

/* One 32-element unit u through the reference code: its values, codes
 * (into codes when they are not wanted) and scale, and its figures. */
static int ggml_unit(struct run *R, uint64_t u, int8_t *codes,
		     struct part *pt)
{
	const struct qjob *J = R->J;
	const float *x = J->x + (u * QF_QK - J->base);
	float *y = J->out->y + (u * QF_QK - J->base);
	int8_t *c = J->out->codes ? (int8_t *)J->out->codes + u * QF_QK : codes;
	struct uparam p;
	struct ufit f;
	struct racc a;
	uint16_t d;

	if (J->q->scheme == QF_QS_Q8_0) {
		qf_q8_0_quantize(x, QF_QK, &d, c);
		qf_q8_0_dequantize(&d, c, QF_QK, y);
	} else {
		qf_q4_0_quantize(x, QF_QK, &d, c);
		qf_q4_0_dequantize(&d, c, QF_QK, y);
	}
	if (range_fail(R, u, y, QF_QK) < 0)
		return -1;
	if (J->out->scales)
		((uint16_t *)J->out->scales)[u] = d;
	qf_racc_init(&a);
	qf_racc_range(x, QF_QK, 0, 0, &a);
	p.lo = -a.amax;
	p.hi = a.amax;
	p.alpha = a.amax;
	pt->alpha += p.alpha;
	if (J->want_err) {
		f.c = 0;
		f.sig = sqrt(a.sumsq / QF_QK);
		f.b = a.sumabs / QF_QK;
		qf_qunit_err(J, &p, &f, x, y, QF_QK, pt);
	}
	return 0;
}

/* ggml blocks: a run of 32-element units. */
static void ggml_block(void *arg, int b, int tid)
{
	struct run *R = arg;
	struct part *pt = &R->part[b];
	int8_t codes[QF_QK];
	uint64_t u0, u1;

	(void)tid;
	block_units(R, (int)(b + R->b0), &u0, &u1);
	memset(pt, 0, sizeof *pt);
	for (uint64_t u = u0; u < u1; u++)
		if (ggml_unit(R, u, codes, pt) < 0)
			break;
}

/* ------------------------------------------------------------ a tensor */

static int is_ggml(const qf_qspec *q)
{
	return q->scheme == QF_QS_Q8_0 || q->scheme == QF_QS_Q4_0;
}

/* Per tensor with kept columns: the one unit's parameters from the
 * elements not kept (none: scale 0). */
static int tensor_masked_params(struct run *R, float *tmp)
{
	const struct qjob *J = R->J;
	float *g = malloc((J->nquant ? J->nquant : 1) * sizeof *g);
	double kss;
	uint64_t m;
	int rc = 0;

	if (!g)
		return -1;
	m = gather_free(J, J->x, J->numel, 0, g, &kss);
	memset(&R->tp, 0, sizeof R->tp);
	memset(&R->tf, 0, sizeof R->tf);
	if (m)
		rc = qf_qunit_params(J, g, m, J->pool, tmp, &R->tp, &R->tf);
	free(g);
	return rc;
}

/* How R's blocks cut the tensor, and for a per-tensor spec the one
 * unit's parameters (on the pool).  Returns the blocks, or 0 when out
 * of memory. */
static size_t plan_blocks(struct run *R)
{
	const struct qjob *J = R->J;
	float *tmp = NULL;
	int rc;

	if (J->q->gran != QF_QG_TENSOR) {
		R->units_per_block = QBLOCK / J->unit_len;
		if (R->units_per_block == 0)
			R->units_per_block = 1;
		if (is_ggml(J->q))
			R->units_per_block = QBLOCK / QF_QK;
		return (size_t)((J->units + R->units_per_block - 1) /
				R->units_per_block);
	}
	if (J->q->clip == QF_QC_PERCENTILE &&
	    !(tmp = malloc(J->numel * sizeof *tmp)))
		return 0;
	if (J->keep)
		rc = tensor_masked_params(R, tmp);
	else
		rc = qf_qunit_params(J, J->x, J->numel, J->pool, tmp, &R->tp,
				     &R->tf);
	free(tmp);
	return rc < 0 ? 0 : qblocks(J->numel);
}

/* The blocks' sums in block order, and the one unit's figures of a
 * per-tensor spec. */
static void add_parts(const struct run *R, size_t nb, qf_qres *res)
{
	const struct qjob *J = R->J;
	int bits = J->q->bits;

	for (size_t b = 0; b < nb; b++) {
		res->alpha_sum += R->part[b].alpha;
		res->sse += R->part[b].sse;
		res->sumsq += R->part[b].sumsq;
		res->clipped += R->part[b].clipped;
		res->pred_gauss += R->part[b].pg;
		res->pred_laplace += R->part[b].pl;
	}
	if (J->q->gran == QF_QG_TENSOR) {
		double a_lo = R->tf.c - R->tp.lo, a_hi = R->tp.hi - R->tf.c;
		store_unit(J, 0, &R->tp);
		res->alpha_sum = R->tp.alpha;
		if (J->want_err) {
			res->pred_gauss = (double)J->nquant *
				qf_aciq_pred(0, a_lo, a_hi, R->tf.sig, bits);
			res->pred_laplace = (double)J->nquant *
				qf_aciq_pred(1, a_lo, a_hi, R->tf.b, bits);
		}
	}
	if (!J->want_err) {
		res->sse = res->sumsq = 0;
		res->clipped = 0;
		res->pred_gauss = res->pred_laplace = 0;
	}
}

/* The error of a failed run, or 0.  (The unit's values themselves may
 * be gone: quantized in place.) */
static int run_error(const struct run *R, qf_err *err)
{
	uint64_t start, len;

	if (R->fail == FAIL_NONE)
		return 0;
	if (R->fail == FAIL_MEMORY)
		return qf_err_set(err, "out of memory");
	unit_span(R->J, R->bad_unit, &start, &len);
	return qf_err_set(err, "elements %" PRIu64 " to %" PRIu64 ": the "
			  "quantized values overflow: %s cannot represent "
			  "values this large", start, start + len - 1,
			  qf_qscheme_name(R->J->q->scheme));
}

int qf_quantize_pool(const qf_qspec *q, const float *x, uint64_t rows,
		     uint64_t cols, uint64_t key, const qf_qbuf *out,
		     int want_err, qf_qres *res, qf_pool *pool,
		     const unsigned char *keep, qf_err *err)
{
	struct qjob J;
	struct run R;
	size_t nb;

	memset(res, 0, sizeof *res);
	if (qf_qspec_check(q, err) < 0)
		return -1;
	qf_qs_init();
	if (keep && is_ggml(q))
		return qf_err_set(err, "%s cannot keep columns in full precision",
				  qf_qscheme_name(q->scheme));
	if (keep && out->y == x)
		return qf_err_set(err, "kept columns need an output apart from "
				  "the input");
	job_init(&J, q, x, rows, cols, key, out, want_err, pool, keep);
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
	R.bad_unit = UINT64_MAX;
	nb = plan_blocks(&R);
	if (!nb || !(R.part = malloc(nb * sizeof *R.part)))
		return qf_err_set(err, "out of memory");
	qf_pool_run(pool, (int)nb, is_ggml(q) ? ggml_block :
		    q->gran == QF_QG_TENSOR ? tensor_block : units_block, &R);
	if (!R.fail)
		add_parts(&R, nb, res);
	free(R.part);
	return run_error(&R, err);
}

int qf_quantize_keep(const qf_qspec *q, const float *x, uint64_t rows,
		     uint64_t cols, const unsigned char *keep, uint64_t key,
		     const qf_qbuf *out, int want_err, qf_qres *res,
		     int threads, qf_err *err)
{
	qf_pool *pool = qf_qpool_new(threads);
	int rc = qf_quantize_pool(q, x, rows, cols, key, out, want_err, res,
				  pool, keep, err);

	qf_pool_free(pool);
	return rc;
}

int qf_quantize(const qf_qspec *q, const float *x, uint64_t rows,
		uint64_t cols, uint64_t key, const qf_qbuf *out, int want_err,
		qf_qres *res, int threads, qf_err *err)
{
	return qf_quantize_keep(q, x, rows, cols, NULL, key, out, want_err,
				res, threads, err);
}

/* ------------------------------------------------------------ a run of blocks at a time */

struct qtens {
	struct qjob J;
	struct run R;
	qf_qspec q;
	qf_qbuf out;
	size_t nb;		/* blocks of the tensor */
	size_t cap;		/* parts R.part can hold */
	qf_qres res;		/* the sums so far */
};

struct qtens *qf_qtens_new(const qf_qspec *q, uint64_t rows, uint64_t cols,
			   uint64_t key, const qf_qbuf *out, int want_err,
			   qf_pool *pool)
{
	struct qtens *T;

	if (q->gran == QF_QG_TENSOR || qf_qunits(q, rows, cols) == 0 ||
	    !(T = calloc(1, sizeof *T)))
		return NULL;
	qf_qs_init();
	T->q = *q;
	T->out = *out;
	job_init(&T->J, &T->q, NULL, rows, cols, key, &T->out, want_err, pool,
		 NULL);
	T->R.J = &T->J;
	T->nb = plan_blocks(&T->R);
	T->res.numel = T->J.numel;
	T->res.units = T->J.units;
	T->res.alpha_k = T->J.alpha_k;
	return T;
}

void qf_qtens_free(struct qtens *T)
{
	if (T)
		free(T->R.part);
	free(T);
}

void qf_qtens_codes(struct qtens *T, const qf_qbuf *out)
{
	T->out.codes = out->codes;
	T->out.scales = out->scales;
	T->out.zeros = out->zeros;
}

size_t qf_qtens_blocks(const struct qtens *T)
{
	return T->nb;
}

void qf_qtens_span(const struct qtens *T, size_t b0, size_t b1,
		   uint64_t *e0, uint64_t *e1)
{
	uint64_t u0, u1, s, len;

	block_units(&T->R, (int)b0, &u0, &u1);
	unit_span(&T->J, u0, e0, &len);
	block_units(&T->R, (int)(b1 - 1), &u0, &u1);
	unit_span(&T->J, u1 - 1, &s, &len);
	*e1 = s + len;
}

/* Parts for blocks [b0, b1), the window set. */
static int run_setup(struct qtens *T, size_t b0, size_t b1, const float *x,
		     float *y, uint64_t base)
{
	if (b1 - b0 > T->cap) {
		struct part *p = realloc(T->R.part, (b1 - b0) * sizeof *p);
		if (!p)
			return -1;
		T->R.part = p;
		T->cap = b1 - b0;
	}
	T->R.b0 = b0;
	T->R.fail = FAIL_NONE;
	T->R.bad_unit = UINT64_MAX;
	T->J.x = x;
	T->J.base = base;
	T->out.y = y;
	return 0;
}

int qf_qtens_run(struct qtens *T, size_t b0, size_t b1, const float *x,
		 float *y, uint64_t base, qf_err *err)
{
	if (run_setup(T, b0, b1, x, y, base) < 0)
		return qf_err_set(err, "out of memory");
	qf_pool_run(T->J.pool, (int)(b1 - b0), is_ggml(&T->q) ? ggml_block :
		    units_block, &T->R);
	if (!T->R.fail)
		add_parts(&T->R, b1 - b0, &T->res);
	return run_error(&T->R, err);
}

void qf_qtens_res(const struct qtens *T, qf_qres *res)
{
	*res = T->res;
}
