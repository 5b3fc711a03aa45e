/*
 * qchan.c - channel protection (qf-quantize --protect-channels): the
 * statistics of the linears' input channels that qf-act --channel-stats
 * measured, read from their stream, and per linear weight [out, in] the
 * input columns kept in full precision, those of the largest salience.
 * docs/quantize.md, "Keeping salient input channels".
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_impl.h"

#define KIND0 4			/* attn_qkv: the first linear kind */
#define NLIN 4			/* attn_qkv, attn_out, mlp_in, mlp_out */

/* One input site's statistics: [d, 3] mean |x|, mean x^2, max |x|. */
struct chan_site {
	char *name;		/* its record's */
	uint64_t d;
	double *v;
};

struct qf_qchan {
	char *path;
	int n_layer;		/* the model's, from the records; -1 unknown */
	int layers;		/* slots: highest layer + 1 */
	struct chan_site *site;	/* [layers * NLIN], v NULL when absent */
};

static const char *const sal_names[] = { NULL, "absmean", "rms", "absmax" };

const char *qf_qsalience_name(int s)
{
	return s >= QF_QSAL_ABSMEAN && s <= QF_QSAL_ABSMAX ? sal_names[s] : NULL;
}

int qf_qsalience_parse(const char *s)
{
	for (int i = QF_QSAL_ABSMEAN; i <= QF_QSAL_ABSMAX; i++)
		if (strcmp(s, sal_names[i]) == 0)
			return i;
	return 0;
}

void qf_qchan_free(qf_qchan *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->layers * NLIN; i++) {
		free(c->site[i].name);
		free(c->site[i].v);
	}
	free(c->site);
	free(c->path);
	free(c);
}

/* The slots for layers [0, layer]. */
static int grow(qf_qchan *c, int layer)
{
	struct chan_site *s;

	if (layer < c->layers)
		return 0;
	s = realloc(c->site, (size_t)(layer + 1) * NLIN * sizeof *s);
	if (!s)
		return -1;
	memset(s + c->layers * NLIN, 0,
	       (size_t)(layer + 1 - c->layers) * NLIN * sizeof *s);
	c->site = s;
	c->layers = layer + 1;
	return 0;
}

/* An unsigned attribute below max + 1, or -1. */
static int64_t attr_num(const qf_rec *rec, const char *key, uint64_t max)
{
	const char *v = qf_rec_get(rec, key);
	uint64_t n;
	qf_err e;

	if (!v || qf_parse_u64(v, max, &n, &e) < 0)
		return -1;
	return (int64_t)n;
}

/* The header of record rec: its slot in *slot. */
static int check_header(qf_qchan *c, const char *src, const qf_rec *rec,
			size_t *slot, qf_err *e)
{
	const char *kind = qf_rec_get(rec, "kind"), *feeds = qf_rec_get(rec, "feeds");
	int64_t layer = attr_num(rec, "layer", QF_QMAX_LAYERS - 1);
	int64_t nl = attr_num(rec, "n_layer", QF_QMAX_LAYERS);
	int k = feeds ? qf_qkind_parse(feeds) : -1;

	if (!kind || strcmp(kind, "chan_stats") != 0)
		return qf_err_set(e, "%s: record %s: not channel statistics (kind "
				  "chan_stats, as qf-act --channel-stats writes)",
				  src, rec->name);
	if (layer < 0 || k < KIND0 || k >= KIND0 + NLIN || nl < 0 || layer >= nl)
		return qf_err_set(e, "%s: record %s: no valid layer, n_layer and "
				  "feeds (a linear's kind) attributes", src,
				  rec->name);
	if (c->n_layer >= 0 && nl != c->n_layer)
		return qf_err_set(e, "%s: record %s: n_layer %" PRId64 ", but the "
				  "records before say %d", src, rec->name, nl,
				  c->n_layer);
	c->n_layer = (int)nl;
	if (!qf_dtype_is_float(rec->dtype) || rec->ndim != 2 ||
	    rec->dims[1] != 3 || rec->dims[0] == 0)
		return qf_err_set(e, "%s: record %s: dtype %s of %d dims, expected "
				  "floats [channels, 3]", src, rec->name,
				  qf_dtype_name(rec->dtype), rec->ndim);
	if (grow(c, (int)layer) < 0)
		return qf_err_set(e, "out of memory");
	*slot = (size_t)layer * NLIN + (size_t)(k - KIND0);
	if (c->site[*slot].v)
		return qf_err_set(e, "%s: record %s: a second record of layer %"
				  PRId64 " for %s (the first: %s)", src, rec->name,
				  layer, feeds, c->site[*slot].name);
	return 0;
}

/* Record rec of reader r into its slot. */
static int load_rec(qf_qchan *c, qf_reader *r, const qf_rec *rec, qf_err *e)
{
	const char *src = qf_reader_name(r);
	struct chan_site *s;
	double *v = NULL;
	size_t slot = 0;

	if (check_header(c, src, rec, &slot, e) < 0 ||
	    qf_reader_read_as(r, QF_F64, (void **)&v, e) < 0)
		return -1;
	for (uint64_t i = 0; i < rec->dims[0] * 3; i++)
		if (!(v[i] >= 0) || isinf(v[i])) {
			free(v);
			return qf_err_set(e, "%s: record %s: channel %" PRIu64
					  ": a statistic is negative or not finite",
					  src, rec->name, i / 3);
		}
	s = &c->site[slot];
	s->v = v;
	s->d = rec->dims[0];
	if (!(s->name = strdup(rec->name)))
		return qf_err_set(e, "out of memory");
	return 0;
}

qf_qchan *qf_qchan_load(const char *path, qf_err *e)
{
	qf_qchan *c = calloc(1, sizeof *c);
	qf_reader *r = NULL;
	qf_rec rec;
	int rc = -1;

	qf_rec_init(&rec);
	if (!c || !(c->path = strdup(path))) {
		qf_err_set(e, "out of memory");
		goto out;
	}
	c->n_layer = -1;
	if (!(r = qf_reader_open(path, e)))
		goto out;
	while ((rc = qf_reader_next(r, &rec, e)) > 0)
		if (load_rec(c, r, &rec, e) < 0) {
			rc = -1;
			break;
		}
	if (rc == 0 && c->n_layer < 0)
		rc = qf_err_set(e, "%s: no channel statistics", qf_reader_name(r));
out:
	qf_rec_free(&rec);
	qf_reader_close(r);
	if (rc < 0) {
		qf_qchan_free(c);
		return NULL;
	}
	return c;
}

int qf_qchan_check_layers(const qf_qplan *p, int n_layer, const char *src,
			  qf_err *e)
{
	const qf_qchan *c = p->chan;

	if (!c || c->n_layer == n_layer)
		return 0;
	return qf_err_set(e, "%s: statistics of a model of %d layers, but %s "
			  "has %d", c->path, c->n_layer, src, n_layer);
}

/* ------------------------------------------------------------ the columns */

int qf_qchan_applies(const qf_qplan *p, const qf_rec *rec)
{
	const char *kind = qf_rec_get(rec, "kind");
	int k = kind ? qf_qkind_parse(kind) : -1;

	return p->chan && k >= KIND0 && k < KIND0 + NLIN &&
	       qf_qrec_layer(rec) >= 0;
}

struct ranked {
	double s;
	uint64_t i;
};

/* Larger salience first, then the lower column. */
static int by_salience(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->s != y->s)
		return x->s > y->s ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Columns to keep of a tensor of rows x cols: round(frac cols), or
 * under a budget what brings the kept weights so far nearest to frac of
 * the weights so far (then counted). */
static uint64_t kept_cols(qf_qplan *p, uint64_t rows, uint64_t cols)
{
	double k;

	if (!p->chan_budget) {
		k = floor(p->chan_frac * (double)cols + 0.5);
	} else {
		double all = (double)(p->chan_numel + rows * cols);
		double want = floor(p->chan_frac * all + 0.5) - (double)p->chan_kept;

		k = floor(want / (double)rows + 0.5);
	}
	if (!(k > 0))
		k = 0;
	if (k > (double)cols)
		k = (double)cols;
	p->chan_numel += rows * cols;
	p->chan_kept += (uint64_t)k * rows;
	return (uint64_t)k;
}

/* The statistics of rec's input site, or NULL with the error. */
static const struct chan_site *site_of(const qf_qplan *p, const qf_rec *rec,
				       const char *src, uint64_t cols,
				       qf_err *e)
{
	const qf_qchan *c = p->chan;
	int l = qf_qrec_layer(rec);
	const char *kind = qf_rec_get(rec, "kind");
	const struct chan_site *s = NULL;

	if (l < c->layers)
		s = &c->site[(size_t)l * NLIN + (size_t)(qf_qkind_parse(kind) - KIND0)];
	if (!s || !s->v) {
		qf_err_set(e, "%s: no channel statistics of layer %d for %s "
			   "(%s: record %s)", c->path, l, kind, src, rec->name);
		return NULL;
	}
	if (s->d != cols) {
		qf_err_set(e, "%s: record %s: %" PRIu64 " channels, but %s: "
			   "record %s has %" PRIu64 " input columns: statistics "
			   "of another model?", c->path, s->name, s->d, src,
			   rec->name, cols);
		return NULL;
	}
	return s;
}

int qf_qchan_mask(qf_qplan *p, const qf_rec *rec, const char *src,
		  uint64_t rows, uint64_t cols, unsigned char **keep,
		  uint64_t *nkept, qf_err *e)
{
	const struct chan_site *s = site_of(p, rec, src, cols, e);
	struct ranked *rk;
	uint64_t k;

	*keep = NULL;
	*nkept = 0;
	if (!s)
		return -1;
	rk = malloc(cols * sizeof *rk);
	*keep = calloc(cols, 1);
	if (!rk || !*keep) {
		free(rk);
		free(*keep);
		*keep = NULL;
		return qf_err_set(e, "out of memory");
	}
	for (uint64_t i = 0; i < cols; i++) {
		const double *v = s->v + 3 * i;

		rk[i].i = i;
		rk[i].s = p->salience == QF_QSAL_ABSMAX ? v[2] :
			p->salience == QF_QSAL_RMS ? sqrt(v[1]) : v[0];
	}
	qsort(rk, cols, sizeof *rk, by_salience);
	k = kept_cols(p, rows, cols);
	for (uint64_t i = 0; i < k; i++)
		(*keep)[rk[i].i] = 1;
	free(rk);
	*nkept = k;
	return 0;
}
