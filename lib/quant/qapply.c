/*
 * qapply.c - what the plan does to one record of a weight stream: read
 * its payload, quantize it (NaN and infinity as the plan says, the INT
 * bits of its layer) into the fake-quantized tensor and its codes,
 * scales and zero points, or pass it through; and its statistics row.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_impl.h"

/* ------------------------------------------------------------ records */

/* The quant_* attributes of a quantized record (and of its codes). */
static int spec_attrs(qf_rec *out, const qf_qspec *q, qf_err *e)
{
	int rc = 0;

	rc |= qf_rec_set(out, "quant_scheme", qf_qscheme_name(q->scheme), e);
	rc |= qf_rec_setf(out, e, "quant_bits", "%d", q->bits);
	rc |= qf_rec_setf(out, e, "quant_sym", "%d", q->sym);
	rc |= qf_rec_set(out, "quant_gran", qf_qgran_name(q->gran), e);
	if (q->gran == QF_QG_GROUP)
		rc |= qf_rec_setf(out, e, "quant_group", "%" PRIu64, q->group);
	return rc ? -1 : 0;
}

int qf_qa_quant_attrs(qf_rec *out, const qf_qspec *q, int src_dtype,
		      qf_err *e)
{
	int rc = spec_attrs(out, q, e);

	rc |= qf_rec_set(out, "quant_clip", qf_qclip_name(q->clip), e);
	if (q->clip == QF_QC_PERCENTILE)
		rc |= qf_rec_setf(out, e, "quant_clip_pct", "%.17g", q->pct);
	if (q->clip == QF_QC_ACIQ_GAUSS)
		rc |= qf_rec_setf(out, e, "quant_alpha_k", "%.9g",
				  qf_aciq_alpha_gauss(q->bits));
	if (q->clip == QF_QC_ACIQ_LAPLACE)
		rc |= qf_rec_setf(out, e, "quant_alpha_k", "%.9g",
				  qf_aciq_alpha_laplace(q->bits));
	rc |= qf_rec_set(out, "quant_round", qf_qround_name(q->round), e);
	if (q->round == QF_QR_STOCHASTIC)
		rc |= qf_rec_setf(out, e, "quant_seed", "%" PRIu64, q->seed);
	rc |= qf_rec_set(out, "quant_src_dtype", qf_dtype_name(src_dtype), e);
	return rc ? -1 : 0;
}

/* A record NAME.PART of the codes, scales or zero points. */
int qf_qa_part_rec(qf_rec *out, const qf_rec *in, const qf_qspec *q,
		   const char *part, int dtype, int ndim, const uint64_t *dims,
		   qf_err *e)
{
	const char *layer = qf_rec_get(in, "layer");
	size_t len = strlen(in->name) + strlen(part) + 2;
	char *name = malloc(len), kind[32];
	int rc;

	if (!name)
		return qf_err_set(e, "out of memory");
	snprintf(name, len, "%s.%s", in->name, part);
	snprintf(kind, sizeof kind, "quant_%s", part);
	qf_rec_init(out);
	rc = qf_rec_set_name(out, name, e);
	free(name);
	if (rc == 0)
		rc = qf_rec_set_shape(out, dtype, ndim, dims, e);
	if (rc == 0)
		rc = qf_rec_set(out, "kind", kind, e);
	if (rc == 0)
		rc = qf_rec_set(out, "quant_of", in->name, e);
	if (rc == 0 && layer)
		rc = qf_rec_set(out, "layer", layer, e);
	if (rc == 0)
		rc = spec_attrs(out, q, e);
	if (rc == 0)
		rc = qf_rec_stamp(out, e);
	return rc;
}

/* "[i, j]" of a flat index. */
void qf_qa_index_str(const qf_rec *rec, uint64_t i, char *buf, size_t len)
{
	uint64_t idx[QF_MAX_DIMS];
	size_t at = 0;

	for (int d = rec->ndim - 1; d >= 0; d--) {
		idx[d] = rec->dims[d] ? i % rec->dims[d] : 0;
		i = rec->dims[d] ? i / rec->dims[d] : 0;
	}
	at += (size_t)snprintf(buf, len, "[");
	for (int d = 0; d < rec->ndim && at < len; d++)
		at += (size_t)snprintf(buf + at, len - at, "%s%" PRIu64, d ? ", " : "",
				       idx[d]);
	if (at < len)
		snprintf(buf + at, len - at, "]");
}

/* The payload raw, and as f32 (the same buffer when it is f32). */
static int read_payload(qf_reader *r, const qf_rec *rec, void **raw,
			float **x, qf_err *e)
{
	uint64_t n = qf_rec_numel(rec);
	qf_err e2;

	*raw = NULL;
	*x = NULL;
	if (qf_reader_read_all(r, raw, e) < 0)
		return -1;
	if (rec->dtype == QF_F32 || !qf_dtype_is_float(rec->dtype)) {
		*x = *raw;
		return 0;
	}
	if (n > SIZE_MAX / sizeof(float) || !(*x = malloc((size_t)n * sizeof(float))))
		return qf_err_set(e, "%s: record %s: out of memory",
				  qf_reader_name(r), rec->name);
	if (qf_convert(QF_F32, *x, rec->dtype, *raw, (size_t)n, &e2) < 0)
		return qf_err_set(e, "%s: record %s: %s", qf_reader_name(r),
				  rec->name, e2.msg);
	return 0;
}

/* ------------------------------------------------------------ a tensor to quantize */

/* One tensor being quantized. */
struct job {
	qf_qplan *p;
	const qf_rec *rec;
	const char *src;	/* the input's name */
	void *raw;
	float *x;		/* raw as f32 */
	uint64_t n;
	struct qrow *row;
	qf_wbatch *out;
	unsigned char *keep;	/* channel protection: [cols] or NULL */
	uint64_t nkept;		/* columns kept */
};

/* NaN and infinity as the plan says: 1 when the tensor is to be kept. */
static int nonfinite(struct job *j, qf_err *e)
{
	int64_t bad = qf_find_nonfinite_pool(j->x, j->n, j->p->pool);
	float *x = j->x;
	char where[256];

	if (bad < 0)
		return 0;
	qf_qa_index_str(j->rec, (uint64_t)bad, where, sizeof where);
	if (j->p->nonfinite == QF_QNF_ERROR)
		return qf_err_set(e, "%s: record %s: element %" PRId64 " %s is %s "
				  "(see --nonfinite)", j->src, j->rec->name, bad,
				  where, isnan(x[bad]) ? "NaN" :
				  x[bad] > 0 ? "+Inf" : "-Inf");
	for (uint64_t i = (uint64_t)bad; i < j->n; i++) {
		if (isfinite(x[i]))
			continue;
		j->row->nonfinite++;
		if (j->p->nonfinite == QF_QNF_ZERO)
			x[i] = 0;
	}
	return j->p->nonfinite == QF_QNF_KEEP;
}

static void qbuf_free(qf_qbuf *b, const float *x)
{
	if (b->y != x)
		free(b->y);
	free(b->codes);
	free(b->scales);
	free(b->zeros);
}

/* Buffers for q's results; y is x itself when the input is not needed
 * afterwards. */
static int qbuf_alloc(struct job *j, const qf_qspec *q, uint64_t units,
		      int want, qf_qbuf *b, qf_err *e)
{
	int zeros = q->scheme == QF_QS_INT && !q->sym;

	b->y = want || j->x != j->raw || j->keep ?
		malloc((size_t)j->n * sizeof(float)) : j->x;
	if (j->p->emit_codes) {
		b->codes = malloc((size_t)j->n);
		b->scales = malloc((size_t)units * 4);
		if (zeros)
			b->zeros = malloc((size_t)units * sizeof *b->zeros);
	}
	if (!b->y || (j->p->emit_codes && (!b->codes || !b->scales ||
					   (zeros && !b->zeros)))) {
		qbuf_free(b, j->x);
		return qf_err_set(e, "%s: record %s: out of memory", j->src,
				  j->rec->name);
	}
	return 0;
}

int qf_qa_emit(qf_wbatch *out, int codes, const qf_rec *rec,
	       const qf_qspec *q, uint64_t rows, uint64_t units, qf_qbuf *b,
	       const struct qf_qkept *kept, qf_err *e)
{
	int tensor = q->gran == QF_QG_TENSOR;
	uint64_t sd[2] = { tensor ? 1 : rows, tensor ? 1 : units / rows };
	int rc = qf_rec_copy(&out->rec[0], rec, e);

	if (rc == 0)
		rc = qf_rec_set_shape(&out->rec[0], QF_F32, rec->ndim, rec->dims, e);
	if (rc == 0)
		rc = qf_qa_quant_attrs(&out->rec[0], q, rec->dtype, e);
	if (rc == 0 && kept)
		rc = qf_rec_set(&out->rec[0], "quant_salience",
				qf_qsalience_name(kept->salience), e);
	if (rc == 0 && kept)
		rc = qf_rec_setf(&out->rec[0], e, "quant_kept_cols", "%" PRIu64,
				 kept->cols);
	if (rc == 0)
		rc = qf_rec_stamp(&out->rec[0], e);	/* computed here */
	out->data[0] = b->y;
	out->n = 1;
	if (!codes)
		return rc;
	if (rc == 0)
		rc = qf_qa_part_rec(&out->rec[1], rec, q, "codes", qf_qcodes_dtype(q),
			      rec->ndim, rec->dims, e);
	out->data[1] = b->codes;
	out->n = 2;
	if (rc == 0)
		rc = qf_qa_part_rec(&out->rec[2], rec, q, "scales", qf_qscales_dtype(q),
			      2, sd, e);
	out->data[2] = b->scales;
	out->n = 3;
	if (rc == 0 && b->zeros) {
		rc = qf_qa_part_rec(&out->rec[3], rec, q, "zeros", QF_I32, 2, sd, e);
		out->data[3] = b->zeros;
		out->n = 4;
	} else {
		free(b->zeros);
	}
	return rc;
}

void qf_qa_spec_of(const qf_qplan *p, const qf_rec *rec, qf_qspec *q)
{
	int l = qf_qrec_layer(rec);

	*q = p->q;
	if (q->scheme == QF_QS_INT && l >= 0 && p->bits_of[l])
		q->bits = p->bits_of[l];
}

/* The weight statistics of j's tensor into its row. */
static int weight_stats(struct job *j, qf_err *e)
{
	qf_err e2;

	if (qf_wstats_pool(j->x, j->n, j->p->pool, &j->row->ws, &e2) < 0)
		return qf_err_set(e, "%s: record %s: %s", j->src, j->rec->name,
				  e2.msg);
	return 0;
}

/* The fake-quantized tensor and its codes into b (freed on failure),
 * figures into the row. */
static int run_quantizer(struct job *j, const qf_qspec *q, uint64_t rows,
			 uint64_t cols, int want, qf_qbuf *b, qf_err *e)
{
	const char *name = j->rec->name;
	qf_err e2;

	if (qf_quantize_pool(q, j->x, rows, cols, qf_qkey(q->seed, name), b,
			     want, &j->row->r, j->p->pool, j->keep, &e2) < 0) {
		qbuf_free(b, j->x);
		return qf_err_set(e, "%s: record %s: %s", j->src, name, e2.msg);
	}
	return 0;
}

/* Quantize j's tensor: 1 when --nonfinite keep leaves it as it is. */
static int quantize(struct job *j, int want, qf_err *e)
{
	const qf_rec *rec = j->rec;
	uint64_t cols = rec->ndim ? rec->dims[rec->ndim - 1] : 1;
	uint64_t rows = j->n / cols, units;
	qf_qbuf b = { NULL, NULL, NULL, NULL };
	struct qf_qkept kept;
	qf_qspec q;
	int rc = nonfinite(j, e);

	if (rc != 0)
		return rc;
	qf_qa_spec_of(j->p, j->rec, &q);
	units = qf_qunits(&q, rows, cols);
	if (!units)
		return qf_err_set(e, "%s: record %s: %s needs rows whose length "
				  "is a multiple of 32, not %" PRIu64, j->src,
				  rec->name, qf_qscheme_name(q.scheme), cols);
	if (qf_qchan_applies(j->p, rec) &&
	    qf_qchan_mask(j->p, rec, j->src, rows, cols, &j->keep, &j->nkept,
			  e) < 0)
		return -1;
	kept.salience = j->p->salience;
	kept.cols = j->nkept;
	if ((want && weight_stats(j, e) < 0) ||
	    qbuf_alloc(j, &q, units, want, &b, e) < 0 ||
	    run_quantizer(j, &q, rows, cols, want, &b, e) < 0)
		return -1;
	j->row->st = QF_QST_QUANT;
	j->row->q = q;
	j->row->bytes_out = qf_qstored_bytes(&q, rows, cols);
	if (j->keep) {
		/* the kept columns' values are stored as they were */
		j->row->chan = 1;
		j->row->chan_kept = j->nkept * rows;
		j->row->bytes_out += j->row->chan_kept * sizeof(float);
		j->row->bytes_fp += j->row->chan_kept * sizeof(float);
	}
	return qf_qa_emit(j->out, j->p->emit_codes, rec, &q, rows, units, &b,
			  j->keep ? &kept : NULL, e);
}

/* ------------------------------------------------------------ a record */

/* A record to quantize; -1, 0, or 1 for one to keep (--nonfinite keep). */
static int quantize_rec(qf_qplan *p, qf_reader *r, const qf_rec *rec,
			qf_wbatch *out, struct qrow *row, int want, qf_err *e)
{
	struct job j = { p, rec, qf_reader_name(r), NULL, NULL,
			 qf_rec_numel(rec), row, out, NULL, 0 };
	int rc = read_payload(r, rec, &j.raw, &j.x, e);

	if (rc == 0)
		rc = quantize(&j, want, e);
	free(j.keep);
	if (j.x != j.raw)
		free(j.x);
	if (rc == 1) {
		out->data[0] = j.raw;
		out->n = 1;
		return qf_rec_copy(&out->rec[0], rec, e) < 0 ? -1 : 1;
	}
	if (out->n == 0 || out->data[0] != j.raw)
		free(j.raw);
	return rc;
}

/* A record passed through as it is (with its statistics if wanted). */
static int keep_rec(qf_reader *r, const qf_rec *rec, qf_pool *pool,
		    qf_wbatch *out, struct qrow *row, int want, qf_err *e)
{
	void *raw = NULL;
	float *x = NULL;
	int rc;

	if (qf_rec_copy(&out->rec[0], rec, e) < 0)
		return -1;
	if (!want)
		rc = qf_reader_read_all(r, &raw, e);
	else if ((rc = read_payload(r, rec, &raw, &x, e)) == 0)
		rc = qf_wstats_pool(x, qf_rec_numel(rec), pool, &row->ws, e);
	if (x != raw)
		free(x);
	if (rc < 0) {
		free(raw);
		return -1;
	}
	out->data[0] = raw;
	out->n = 1;
	return 0;
}

void qf_qa_row_init(struct qrow *row, const qf_rec *rec)
{
	memset(row, 0, sizeof *row);
	qf_wstats_init(&row->ws);
	row->bytes_in = qf_rec_nbytes(rec);
	row->numel = qf_rec_numel(rec);
}

int qf_qa_apply(qf_qplan *p, int st, qf_reader *r, const qf_rec *rec,
		qf_wbatch *out, qf_qstats *s, qf_err *err)
{
	int want = qf_qstats_want(s), rc;
	struct qrow row;

	if (!p->pool)
		p->pool = qf_qpool_new(p->threads);
	qf_qa_row_init(&row, rec);
	if (st == QF_QST_QUANT) {
		rc = quantize_rec(p, r, rec, out, &row, want, err);
		if (rc == 1)
			st = QF_QST_PROTECTED;
	} else {
		rc = keep_rec(r, rec, p->pool, out, &row,
			      want && st != QF_QST_PASS, err);
	}
	if (rc < 0)
		return -1;
	if (st == QF_QST_PASS)
		return 0;
	if (st != QF_QST_QUANT)
		qf_qa_row_fp(&row, st);
	qf_qstats_add(s, rec, &row);
	return 0;
}

void qf_qa_row_fp(struct qrow *row, int st)
{
	row->st = st;
	row->numel_fp = row->numel;
	row->bytes_out = row->bytes_fp = row->bytes_in;
}

int qf_qplan_apply(qf_qplan *p, qf_reader *r, const qf_rec *rec,
		   qf_wbatch *out, qf_qstats *s, qf_err *err)
{
	return qf_qa_apply(p, qf_qplan_status(p, rec), r, rec, out, s, err);
}
