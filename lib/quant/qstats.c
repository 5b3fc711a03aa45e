/*
 * qstats.c - the statistics of a quantization run: a TSV row per tensor
 * as it comes, then a row per layer and the total (docs/quantize.md).
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_impl.h"

struct agg {
	struct qrow sum;	/* quantized tensors pooled */
	int any;
	uint64_t numel_fp, bytes_in, bytes_out, bytes_fp, ntensors, nquant;
	uint64_t nprot;		/* tensors protected */
	uint64_t chan_numel, chan_kept, nchan;	/* channel protection */
};

struct qf_qstats {
	FILE *tsv;
	struct agg layer[QF_QMAX_LAYERS];
	struct agg total;
	int max_layer;
	int chan;		/* the columns of channel protection */
};

static const char *const status_names[] = {
	"pass", "quantized", "protected", "kept",
};

static const char tsv_header[] =
	"row\tname\tlayer\tkind\tstatus\tscheme\tbits\tsym\tgran\tgroup\tclip\t"
	"round\tnumel\tmean\tvariance\tkurtosis\tabsmax\toutlier_frac\talpha\t"
	"clipped_frac\tmse\tsqnr_db\trel_fro\taciq_mse_gauss\taciq_mse_laplace\t"
	"nonfinite\tnumel_fp\tbytes_in\tbytes_out\tfp_frac_params\tfp_frac_bytes\n";

static qf_qstats *stats_new(FILE *tsv, int chan, qf_err *err)
{
	qf_qstats *s = calloc(1, sizeof *s);

	if (!s)
		return qf_err_set(err, "out of memory"), NULL;
	s->tsv = tsv;
	s->max_layer = -1;
	s->chan = chan;
	if (tsv) {
		qf_provenance_comment(tsv);
		fwrite(tsv_header, 1, sizeof tsv_header - 2, tsv);
		fputs(chan ? "\tchan_kept\tchan_kept_frac\n" : "\n", tsv);
	}
	return s;
}

qf_qstats *qf_qstats_new(FILE *tsv, qf_err *err)
{
	return stats_new(tsv, 0, err);
}

qf_qstats *qf_qstats_new_chan(FILE *tsv, qf_err *err)
{
	return stats_new(tsv, 1, err);
}

void qf_qstats_free(qf_qstats *s)
{
	free(s);
}

int qf_qstats_layers(const qf_qstats *s)
{
	return s->max_layer + 1;
}

void qf_qstats_totals(const qf_qstats *s, qf_qtotals *t)
{
	const struct agg *a = &s->total;

	t->ntensors = a->ntensors;
	t->nquant = a->nquant;
	t->numel_quant = a->sum.numel;
	t->numel_fp = a->numel_fp;
	t->bytes_in = a->bytes_in;
	t->bytes_out = a->bytes_out;
	t->bytes_fp = a->bytes_fp;
	t->chan_numel = a->chan_numel;
	t->chan_kept = a->chan_kept;
	t->nchan = a->nchan;
}

static void agg_add(struct agg *a, const struct qrow *r)
{
	a->bytes_in += r->bytes_in;
	a->bytes_out += r->bytes_out;
	a->numel_fp += r->numel_fp;
	a->bytes_fp += r->bytes_fp;
	a->ntensors++;
	a->any = 1;
	a->nprot += r->st == QF_QST_PROTECTED;
	if (r->chan) {
		a->chan_numel += r->numel;
		a->chan_kept += r->chan_kept;
		a->nchan++;
	}
	if (r->st != QF_QST_QUANT)
		return;
	qf_wstats_merge(&a->sum.ws, &r->ws);
	a->sum.numel += r->numel;
	a->sum.r.sse += r->r.sse;
	a->sum.r.sumsq += r->r.sumsq;
	a->sum.r.clipped += r->r.clipped;
	a->sum.r.pred_gauss += r->r.pred_gauss;
	a->sum.r.pred_laplace += r->r.pred_laplace;
	a->sum.nonfinite += r->nonfinite;
	a->nquant++;
}

static void put_num(FILE *f, double v)
{
	if (isnan(v))
		fputs("\tNA", f);
	else if (isinf(v))
		fputs(v > 0 ? "\tinf" : "\t-inf", f);
	else
		fprintf(f, "\t%.9g", v);
}

static void put_frac(FILE *f, uint64_t a, uint64_t b)
{
	put_num(f, b ? (double)a / (double)b : NAN);
}

/* The error columns of a quantized row. */
static void put_errors(FILE *f, const qf_qres *r, double n)
{
	put_num(f, (double)r->clipped / n);
	put_num(f, r->sse / n);
	put_num(f, r->sse > 0 ? 10 * log10(r->sumsq / r->sse) :
		r->sumsq > 0 ? INFINITY : NAN);
	put_num(f, r->sumsq > 0 ? sqrt(r->sse / r->sumsq) : NAN);
	put_num(f, r->pred_gauss / n);
	put_num(f, r->pred_laplace / n);
}

/* The columns from numel on. */
static void put_figures(FILE *f, const struct qrow *r, int quant, double alpha,
			uint64_t numel_fp, uint64_t bytes_in, uint64_t bytes_out,
			uint64_t bytes_fp)
{
	const qf_wstats *w = &r->ws;
	double n = (double)w->n;

	fprintf(f, "\t%" PRIu64, r->numel);
	put_num(f, w->n ? w->mean : NAN);
	put_num(f, qf_wstats_var(w));
	put_num(f, qf_wstats_kurtosis(w));
	put_num(f, w->n ? w->absmax : NAN);
	put_num(f, w->n ? (double)w->outliers / n : NAN);
	put_num(f, alpha);
	if (quant)
		put_errors(f, &r->r, n);
	else
		fputs("\t0\t0\tinf\t0\tNA\tNA", f);
	fprintf(f, "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64,
		r->nonfinite, numel_fp, bytes_in, bytes_out);
	put_frac(f, numel_fp, (quant ? r->numel : 0) + numel_fp);
	put_frac(f, bytes_fp, bytes_out);
}

static void put_spec(FILE *f, const qf_qspec *q)
{
	fprintf(f, "\t%s\t%d\t%d\t%s\t", qf_qscheme_name(q->scheme), q->bits,
		q->sym, qf_qgran_name(q->gran));
	if (q->gran == QF_QG_GROUP)
		fprintf(f, "%" PRIu64, q->group);
	else
		fputs("NA", f);
	if (q->clip == QF_QC_PERCENTILE)
		fprintf(f, "\tpercentile:%g", q->pct);
	else
		fprintf(f, "\t%s", qf_qclip_name(q->clip));
	fprintf(f, "\t%s", qf_qround_name(q->round));
}

static void tensor_row(FILE *f, const qf_rec *rec, const struct qrow *r)
{
	const char *kind = qf_rec_get(rec, "kind"), *layer = qf_rec_get(rec, "layer");
	int quant = r->st == QF_QST_QUANT;

	fprintf(f, "tensor\t%s\t%s\t%s\t%s", rec->name, layer ? layer : "NA",
		kind ? kind : "NA", status_names[r->st]);
	if (quant)
		put_spec(f, &r->q);
	else
		fputs("\tNA\tNA\tNA\tNA\tNA\tNA\tNA", f);
	put_figures(f, r, quant, quant && r->r.units ?
		    r->r.alpha_sum / (double)r->r.units : NAN,
		    r->numel_fp, r->bytes_in, r->bytes_out, r->bytes_fp);
}

/* The columns of channel protection: weights kept, and their fraction
 * of the tensors it applied to (NA: none). */
static void put_chan(FILE *f, uint64_t kept, uint64_t numel)
{
	fprintf(f, "\t%" PRIu64, kept);
	put_frac(f, kept, numel);
}

/* An aggregate's status: quantized when a tensor of it was, else
 * protected when one was, else kept. */
static const char *agg_status(const struct agg *a)
{
	return status_names[a->nquant ? QF_QST_QUANT : a->nprot ?
			    QF_QST_PROTECTED : QF_QST_KEPT];
}

static void agg_row(FILE *f, const char *row, const char *name,
		    const char *layer, const struct agg *a, int chan)
{
	fprintf(f, "%s\t%s\t%s\tNA\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA", row,
		name, layer, agg_status(a));
	put_figures(f, &a->sum, 1, NAN, a->numel_fp, a->bytes_in, a->bytes_out,
		    a->bytes_fp);
	if (chan)
		put_chan(f, a->chan_kept, a->chan_numel);
	putc('\n', f);
}

int qf_qstats_want(const qf_qstats *s)
{
	return s->tsv != NULL;
}

void qf_qstats_add(qf_qstats *s, const qf_rec *rec, const struct qrow *row)
{
	int l = qf_qrec_layer(rec);

	if (l >= 0) {
		agg_add(&s->layer[l], row);
		if (l > s->max_layer)
			s->max_layer = l;
	}
	agg_add(&s->total, row);
	if (!s->tsv)
		return;
	tensor_row(s->tsv, rec, row);
	if (s->chan)
		put_chan(s->tsv, row->chan_kept, row->chan ? row->numel : 0);
	putc('\n', s->tsv);
}

void qf_qstats_finish(qf_qstats *s)
{
	if (!s->tsv)
		return;
	for (int l = 0; l <= s->max_layer; l++) {
		char name[32], num[16];
		if (!s->layer[l].any)
			continue;
		snprintf(name, sizeof name, "layers.%d", l);
		snprintf(num, sizeof num, "%d", l);
		agg_row(s->tsv, "layer", name, num, &s->layer[l], s->chan);
	}
	agg_row(s->tsv, "total", "all", "NA", &s->total, s->chan);
}

