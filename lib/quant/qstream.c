/*
 * qstream.c - the plan applied as the input streams in
 * (qf_qplan_stream): records copied a piece at a time; a tensor
 * quantized per channel or group a run of its blocks at a time, in one
 * pass, or in two over a regular file when something must be known
 * before the header is written or the second pass begins (the moments of
 * the weight statistics, whether --nonfinite keep keeps the tensor, and
 * the size checked before its codes are allocated); the rest held whole
 * (qapply.c).  The blocks and the order of every sum are those of the
 * whole-tensor code, so are the bytes written.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_impl.h"

#define PIECE (1u << 20)	/* bytes copied at a time (a stream chunk) */
#define RUN (1u << 18)		/* elements of a run of blocks, about */

/* ------------------------------------------------------------ the input as f32 */

/* A record's payload as f32, a window of elements at a time: consumers
 * ask for ranges in order and x keeps elements from the lowest start
 * still wanted. */
struct feed {
	qf_reader *r;
	const qf_rec *rec;
	uint64_t n;		/* elements */
	size_t es;		/* bytes of one, as stored */
	uint64_t lo, hi;	/* x holds elements [lo, hi) */
	float *x;
	uint64_t cap;		/* elements x can hold */
	void *raw;		/* a read in the stored dtype */
	int nf;			/* 1: find non-finite elements; 2: and zero them */
	int count;		/* count them */
	int64_t bad;		/* the first, or -1 */
	float badv;
	uint64_t nbad;
	qf_wthread *tap;	/* what is read, as stored, also written here */
};

static void feed_init(struct feed *f, qf_reader *r, const qf_rec *rec, int nf,
		      int count)
{
	memset(f, 0, sizeof *f);
	f->r = r;
	f->rec = rec;
	f->n = qf_rec_numel(rec);
	f->es = qf_dtype_size(rec->dtype);
	f->nf = nf;
	f->count = count;
	f->bad = -1;
}

static void feed_free(struct feed *f)
{
	free(f->x);
	free(f->raw);
}

static int oom(const qf_reader *r, const qf_rec *rec, qf_err *e)
{
	return qf_err_set(e, "%s: record %s: out of memory", qf_reader_name(r),
			  rec->name);
}

/* Whether x[0, n) holds a NaN or infinity (a loop that vectorizes). */
static int any_nonfinite(const float *x, uint64_t n)
{
	uint32_t any = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &x[i], 4);
		any |= (u & 0x7f800000u) == 0x7f800000u;
	}
	return any != 0;
}

/* NaN and infinity among the elements just read, [from, f->hi). */
static void feed_nonfinite(struct feed *f, uint64_t from)
{
	float *x = f->x + (from - f->lo);
	uint64_t n = f->hi - from;

	if (!f->nf || !any_nonfinite(x, n))
		return;
	for (uint64_t i = 0; i < n; i++) {
		if (isfinite(x[i]))
			continue;
		if (f->bad < 0) {
			f->bad = (int64_t)(from + i);
			f->badv = x[i];
		}
		f->nbad += f->count;
		if (f->nf == 2)
			x[i] = 0;
	}
}

/* k elements as stored into dst (f32), through f->raw unless f32. */
static int feed_read(struct feed *f, float *dst, uint64_t k, qf_err *e)
{
	size_t bytes = (size_t)(k * f->es);
	void *src = f->rec->dtype == QF_F32 ? (void *)dst : f->raw;
	void *copy;
	qf_err e2;

	if (qf_reader_read(f->r, src, bytes, e) != (int64_t)bytes)
		return -1;
	if (f->tap) {
		if (!(copy = malloc(bytes)))
			return oom(f->r, f->rec, e);
		memcpy(copy, src, bytes);
		if (qf_wthread_write(f->tap, copy, bytes, e) < 0)
			return -1;
	}
	if (src != dst && qf_convert(QF_F32, dst, f->rec->dtype, src,
				     (size_t)k, &e2) < 0)
		return qf_err_set(e, "%s: record %s: %s", qf_reader_name(f->r),
				  f->rec->name, e2.msg);
	return 0;
}

/* Make elements [from, to) available at f->x + (from - f->lo), keeping
 * none before from. */
static int feed_get(struct feed *f, uint64_t from, uint64_t to, qf_err *e)
{
	uint64_t piece = PIECE / f->es;

	if (from > f->lo) {
		memmove(f->x, f->x + (from - f->lo), (size_t)(f->hi - from) * 4);
		f->lo = from;
	}
	if (to - f->lo > f->cap) {
		float *x = realloc(f->x, (size_t)(to - f->lo) * 4);
		if (!x)
			return oom(f->r, f->rec, e);
		f->x = x;
		f->cap = to - f->lo;
	}
	if (f->rec->dtype != QF_F32 && !f->raw &&
	    !(f->raw = malloc(piece * f->es)))
		return oom(f->r, f->rec, e);
	while (f->hi < to) {
		uint64_t k = to - f->hi, at = f->hi;
		if (f->rec->dtype != QF_F32 && k > piece)
			k = piece;
		if (feed_read(f, f->x + (f->hi - f->lo), k, e) < 0)
			return -1;
		f->hi += k;
		feed_nonfinite(f, at);
	}
	return 0;
}

/* ------------------------------------------------------------ a pass */

/* One pass over a tensor: the runs of blocks of T quantized and
 * written, the statistics' blocks (moments, or outliers). */
enum { WS_NONE, WS_MOMENTS, WS_OUTLIERS };
struct pass {
	struct feed *f;
	struct qtens *T;	/* NULL: none */
	qf_wthread *out;
	int ws;			/* WS_* */
	qf_wstats *stats;	/* the moments, merged in order */
	size_t b;		/* next block of T */
	uint64_t wj;		/* next statistics block */
	double mean, thr;	/* WS_OUTLIERS */
};

/* The next run of blocks [p->b, *b1) and its elements. */
static void next_run(const struct pass *p, size_t *b1, uint64_t *e0,
		     uint64_t *e1)
{
	size_t nb = qf_qtens_blocks(p->T), b = p->b + 1;

	qf_qtens_span(p->T, p->b, b, e0, e1);
	while (b < nb) {
		uint64_t s, t;
		qf_qtens_span(p->T, p->b, b + 1, &s, &t);
		if (t - s > RUN)
			break;
		*e1 = t;
		b++;
	}
	*b1 = b;
}

static int run_blocks(struct pass *p, size_t b1, uint64_t e0, uint64_t e1,
		      qf_err *e)
{
	struct feed *f = p->f;
	const float *x = f->x + (e0 - f->lo);
	float *y;
	qf_err e2;

	if (!(y = malloc((size_t)(e1 - e0) * 4)))
		return oom(f->r, f->rec, e);
	if (qf_qtens_run(p->T, p->b, b1, x, y, e0, &e2) < 0) {
		free(y);
		return qf_err_set(e, "%s: record %s: %s", qf_reader_name(f->r),
				  f->rec->name, e2.msg);
	}
	p->b = b1;
	return qf_wthread_write(p->out, y, (size_t)(e1 - e0) * 4, e);
}

static void ws_block(struct pass *p, uint64_t lo, uint64_t hi)
{
	const float *x = p->f->x + (lo - p->f->lo);
	qf_wstats part;

	if (p->ws == WS_MOMENTS) {
		qf_ws_moments(x, hi - lo, &part);
		qf_wstats_merge(p->stats, &part);
	} else {
		p->stats->outliers += qf_ws_outliers(x, hi - lo, p->mean, p->thr);
	}
	p->wj++;
}

/* The pass's consumers on the input in order; stops early (0) at a
 * non-finite element when the plan does not zero it. */
static int pass_run(struct pass *p, qf_err *e)
{
	struct feed *f = p->f;
	size_t nb = p->T ? qf_qtens_blocks(p->T) : 0, b1 = 0;
	uint64_t nw = p->ws ? qblocks(f->n) : 0;

	for (;;) {
		int hq = p->b < nb, hw = p->wj < nw;
		uint64_t e0 = 0, e1 = 0, wlo = 0, whi = 0, from, to;

		if (!hq && !hw)
			return 0;
		if (hq)
			next_run(p, &b1, &e0, &e1);
		if (hw)
			whi = qblock_len(f->n, (int)p->wj, &wlo) + wlo;
		from = hq && (!hw || e0 < wlo) ? e0 : wlo;
		to = hq && (!hw || e1 <= whi) ? e1 : whi;
		if (feed_get(f, from, to, e) < 0)
			return -1;
		if (f->bad >= 0 && f->nf != 2)
			return 0;
		if (hw && whi <= f->hi)
			ws_block(p, wlo, whi);
		if (hq && e1 <= f->hi && run_blocks(p, b1, e0, e1, e) < 0)
			return -1;
	}
}

/* The rest of the payload read (its non-finite elements counted). */
static int feed_drain(struct feed *f, qf_err *e)
{
	while (f->hi < f->n) {
		uint64_t to = f->n - f->hi > RUN ? f->hi + RUN : f->n;
		if (feed_get(f, f->hi, to, e) < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ records */

/* The payload as stored, a piece at a time, after rec. */
static int copy_payload(qf_reader *r, const qf_rec *rec, qf_wthread *out,
			qf_err *e)
{
	uint64_t left = qf_rec_nbytes(rec);

	if (qf_wthread_begin(out, rec, e) < 0)
		return -1;
	while (left > 0) {
		size_t k = left < PIECE ? (size_t)left : PIECE;
		void *buf = malloc(k);
		if (!buf)
			return oom(r, rec, e);
		if (qf_reader_read(r, buf, k, e) != (int64_t)k) {
			free(buf);
			return -1;
		}
		if (qf_wthread_write(out, buf, k, e) < 0)
			return -1;
		left -= k;
	}
	return qf_wthread_end(out, e);
}

/* A record kept in full precision (status st, or passed through). */
static int copy_rec(int st, qf_reader *r, const qf_rec *rec,
		    qf_wthread *out, qf_qstats *s, qf_err *e)
{
	struct qrow row;

	if (copy_payload(r, rec, out, e) < 0)
		return -1;
	if (st == QF_QST_PASS)
		return 0;
	qf_qa_row_init(&row, rec);
	qf_qa_row_fp(&row, st);
	qf_qstats_add(s, rec, &row);
	return 0;
}

/* A record kept in full precision with its weight statistics: the
 * moments from again, the outliers as it is copied. */
static int keep_stats(int st, qf_reader *r, qf_reader *again,
		      const qf_rec *rec, qf_wthread *out, qf_qstats *s,
		      qf_err *e)
{
	struct feed f;
	struct pass p;
	struct qrow row;
	int rc;

	qf_qa_row_init(&row, rec);
	memset(&p, 0, sizeof p);
	p.f = &f;
	p.ws = WS_MOMENTS;
	p.stats = &row.ws;
	feed_init(&f, again, rec, 0, 0);
	rc = pass_run(&p, e);
	feed_free(&f);
	if (rc < 0 || qf_wthread_begin(out, rec, e) < 0)
		return -1;
	p.ws = WS_OUTLIERS;
	p.wj = 0;
	p.mean = row.ws.mean;
	p.thr = qf_ws_threshold(&row.ws);
	feed_init(&f, r, rec, 0, 0);
	f.tap = out;
	rc = pass_run(&p, e);
	feed_free(&f);
	if (rc < 0 || qf_wthread_end(out, e) < 0)
		return -1;
	qf_qa_row_fp(&row, st);
	qf_qstats_add(s, rec, &row);
	return 0;
}

/* ------------------------------------------------------------ a tensor quantized */

/* One tensor quantized as it streams in. */
struct sjob {
	qf_qplan *p;
	qf_reader *r, *again;
	const qf_rec *rec;
	qf_wthread *out;
	qf_qspec q;
	uint64_t rows, cols, units;
	int want;
	qf_qbuf b;		/* codes, scales, zeros: whole, if emitted */
	struct qtens *T;
	struct qrow row;
};

static int codes_alloc(struct sjob *j, qf_err *e)
{
	uint64_t n = qf_rec_numel(j->rec);

	if (!j->p->emit_codes)
		return 0;
	j->b.codes = malloc((size_t)n);
	j->b.scales = malloc((size_t)j->units * 4);
	if (j->q.scheme == QF_QS_INT && !j->q.sym)
		j->b.zeros = malloc((size_t)j->units * sizeof *j->b.zeros);
	if (!j->b.codes || !j->b.scales ||
	    (j->q.scheme == QF_QS_INT && !j->q.sym && !j->b.zeros))
		return oom(j->r, j->rec, e);
	return 0;
}

/* "element N [i, j] is NaN" of the first non-finite element f found. */
static int nonfinite_error(const struct sjob *j, const struct feed *f,
			   qf_err *e)
{
	char where[256];

	qf_qa_index_str(j->rec, (uint64_t)f->bad, where, sizeof where);
	return qf_err_set(e, "%s: record %s: element %" PRId64 " %s is %s "
			  "(see --nonfinite)", qf_reader_name(j->r),
			  j->rec->name, f->bad, where, isnan(f->badv) ? "NaN" :
			  f->badv > 0 ? "+Inf" : "-Inf");
}

/* The first of two passes, on again: NaN and infinity, and the moments.
 * 1: a non-finite element keeps the tensor as it is. */
static int first_pass(struct sjob *j, qf_err *e)
{
	struct feed f;
	struct pass p;
	int rc;

	memset(&p, 0, sizeof p);
	p.f = &f;
	p.ws = j->want ? WS_MOMENTS : WS_NONE;
	p.stats = &j->row.ws;
	feed_init(&f, j->again, j->rec, j->p->nonfinite == QF_QNF_ZERO ? 2 : 1, 1);
	rc = pass_run(&p, e);
	if (rc == 0 && (f.bad < 0 || f.nf == 2))
		rc = feed_drain(&f, e);	/* NaN and infinity anywhere */
	if (rc == 0 && f.bad >= 0 && j->p->nonfinite == QF_QNF_ERROR)
		rc = nonfinite_error(j, &f, e);
	if (rc == 0 && f.bad >= 0 && j->p->nonfinite == QF_QNF_KEEP)
		rc = feed_drain(&f, e) < 0 ? -1 : 1;
	j->row.nonfinite = f.nbad;
	feed_free(&f);
	return rc;
}

/* The pass that quantizes, on r: the tensor quantized and written, the
 * outliers; alone (not after a first pass), it finds NaN and infinity
 * too. */
static int quant_pass(struct sjob *j, int alone, qf_err *e)
{
	struct feed f;
	struct pass p;
	int nf = j->p->nonfinite == QF_QNF_ZERO ? 2 : alone, rc;

	memset(&p, 0, sizeof p);
	p.f = &f;
	p.T = j->T;
	p.out = j->out;
	p.ws = j->want ? WS_OUTLIERS : WS_NONE;
	p.stats = &j->row.ws;
	if (j->want) {
		p.mean = j->row.ws.mean;
		p.thr = qf_ws_threshold(&j->row.ws);
	}
	feed_init(&f, j->r, j->rec, nf, alone);
	rc = pass_run(&p, e);
	if (rc == 0 && f.bad >= 0 && nf == 1)
		rc = nonfinite_error(j, &f, e);
	if (alone)
		j->row.nonfinite = f.nbad;
	feed_free(&f);
	return rc;
}

/* The records after the tensor: codes, scales, zero points. */
static int write_parts(struct sjob *j, qf_wbatch *bt, qf_err *e)
{
	for (int i = 1; i < bt->n; i++) {
		void *data = bt->data[i];
		bt->data[i] = NULL;
		if (qf_wthread_begin(j->out, &bt->rec[i], e) < 0 ||
		    qf_wthread_write(j->out, data, qf_rec_nbytes(&bt->rec[i]),
				     e) < 0 ||
		    qf_wthread_end(j->out, e) < 0)
			return -1;
	}
	return 0;
}

/* The header, the tensor quantized (alone: in the only pass), its
 * parts. */
static int quant_write(struct sjob *j, int alone, qf_err *e)
{
	qf_wbatch *bt = qf_wbatch_new(e);
	qf_qbuf b = j->b;
	int rc;

	if (!bt)
		return -1;
	memset(&j->b, 0, sizeof j->b);	/* the batch has them now */
	rc = qf_qa_emit(bt, j->p->emit_codes, j->rec, &j->q, j->rows,
			j->units, &b, NULL, e);
	if (rc == 0)
		rc = qf_wthread_begin(j->out, &bt->rec[0], e);
	if (rc == 0)
		rc = quant_pass(j, alone, e);
	if (rc == 0)
		rc = qf_wthread_end(j->out, e);
	if (rc == 0)
		rc = write_parts(j, bt, e);
	qf_wbatch_free(bt);
	return rc;
}

/* Whether the tensor takes one pass: nothing needs the whole tensor
 * before its header or its quantization. */
static int one_pass(const struct sjob *j)
{
	return !j->want && j->p->nonfinite != QF_QNF_KEEP && !j->p->emit_codes;
}

static int quant_stream(struct sjob *j, qf_err *e)
{
	uint64_t key = qf_qkey(j->q.seed, j->rec->name);
	int rc;

	j->T = qf_qtens_new(&j->q, j->rows, j->cols, key, &j->b, j->want,
			    j->p->pool);
	if (!j->T)
		return oom(j->r, j->rec, e);
	if (one_pass(j)) {
		if (quant_write(j, 1, e) < 0)
			return -1;
		goto done;
	}
	rc = first_pass(j, e);
	if (rc == 1) {
		/* as the whole-tensor code: no weight statistics */
		qf_wstats_init(&j->row.ws);
		return copy_payload(j->r, j->rec, j->out, e) < 0 ? -1 : 1;
	}
	/* the codes once the payload has been read whole: a header that
	 * declares more than the file holds has failed by now */
	if (rc < 0 || codes_alloc(j, e) < 0)
		return -1;
	qf_qtens_codes(j->T, &j->b);
	if (quant_write(j, 0, e) < 0)
		return -1;
done:
	qf_qtens_res(j->T, &j->row.r);
	j->row.st = QF_QST_QUANT;
	j->row.q = j->q;
	j->row.bytes_out = qf_qstored_bytes(&j->q, j->rows, j->cols);
	return 0;
}

/* A tensor to quantize, in one pass or two; -1, 0, or 1 for one kept
 * (--nonfinite keep). */
static int quant_rec(struct sjob *j, qf_qstats *s, qf_err *e)
{
	int rc = quant_stream(j, e);

	qf_qtens_free(j->T);
	free(j->b.codes);
	free(j->b.scales);
	free(j->b.zeros);
	if (rc < 0)
		return -1;
	if (rc == 1)
		qf_qa_row_fp(&j->row, QF_QST_PROTECTED);
	qf_qstats_add(s, j->rec, &j->row);
	return 0;
}

/* The job of rec, when it can stream: per channel or group. */
static int sjob_init(struct sjob *j, qf_qplan *p, qf_reader *r,
		     qf_reader *again, const qf_rec *rec, qf_wthread *out,
		     int want)
{
	memset(j, 0, sizeof *j);
	j->p = p;
	j->r = r;
	j->again = again;
	j->rec = rec;
	j->out = out;
	j->want = want;
	qf_qa_spec_of(p, rec, &j->q);
	j->cols = rec->ndim ? rec->dims[rec->ndim - 1] : 1;
	j->rows = qf_rec_numel(rec) / j->cols;
	j->units = qf_qunits(&j->q, j->rows, j->cols);
	qf_qa_row_init(&j->row, rec);
	return j->q.gran != QF_QG_TENSOR && j->units != 0;
}

/* ------------------------------------------------------------ a record */

/* Held whole: qf_qplan_apply's batch, written. */
static int hold(qf_qplan *p, int st, qf_reader *r, const qf_rec *rec,
		qf_wthread *out, qf_qstats *s, qf_err *e)
{
	qf_wbatch *b = qf_wbatch_new(e);

	if (!b)
		return -1;
	if (qf_qa_apply(p, st, r, rec, b, s, e) < 0) {
		qf_wbatch_free(b);
		return -1;
	}
	return qf_wthread_put(out, b, e);
}

int qf_qplan_stream(qf_qplan *p, qf_reader *r, qf_reader *again,
		    const qf_rec *rec, qf_wthread *out, qf_qstats *s,
		    qf_err *err)
{
	int st = qf_qplan_status(p, rec), want = qf_qstats_want(s);
	struct sjob j;

	if (!p->pool)
		p->pool = qf_qpool_new(p->threads);
	if (st == QF_QST_PASS || (st != QF_QST_QUANT && !want))
		return copy_rec(st, r, rec, out, s, err);
	if (again && st != QF_QST_QUANT)
		return keep_stats(st, r, again, rec, out, s, err);
	if (st == QF_QST_QUANT && qf_qchan_applies(p, rec))
		return hold(p, st, r, rec, out, s, err);	/* whole */
	if (sjob_init(&j, p, r, again, rec, out, want) &&
	    (again || one_pass(&j)))
		return quant_rec(&j, s, err);
	return hold(p, st, r, rec, out, s, err);
}
