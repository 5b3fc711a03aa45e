/*
 * act.c - activations of a model over documents (the work of qf-act).
 *
 * A qf_act holds the choices (layers, sites, reduction, attention
 * statistics, --patch source, --corrupt noise) and, per document, the
 * states the hooks of qf_model_nll() fill (each token's once, or with
 * per_window every window's rows); qf_act_doc() runs one document and
 * hands its records to a callback.  A patch gives each window's pass
 * FROM's rows of the same window.  docs/man/qf-act.1.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/runtime.h"

struct qf_act {
	qf_act_opts o;
	qf_model *m;
	const qf_model_config *cfg;
	unsigned char *layer_on;	/* [n_layer + 1] */
	int nsites;			/* QF_SITE_COUNT */
	float **buf;			/* [(n_layer + 1) * nsites]: states */
	uint64_t n;			/* tokens of the document */
	int64_t *slot;			/* sample: position -> row, or -1 */
	uint64_t *pos;			/* sample: the positions, sorted */
	uint64_t kk;			/* sample: rows */
	double *attn;			/* [n_layer, n_head, 2] sums */
	uint64_t *attn_n;		/* [n_layer] query rows */
	float *ent, *first;		/* [T] scratch */
	uint64_t ordinal;		/* the document's */
	uint64_t fnv;			/* tokens_fnv of its ids */
	int W, S;			/* window and stride, resolved */
	qf_window *win;			/* the document's windows */
	uint64_t nwin;
	uint64_t *off;			/* [nwin + 1]: window k's first row in a
					 * per-window buffer (off[nwin]: rows) */
	float **from;			/* patch: [(n_layer + 1) * nsites], rows
					 * per window as off says */
	unsigned char *fhave;		/* patch: [(n_layer + 1) * nsites * nwin]
					 * the windows read from FROM */
	unsigned char *pmask;		/* positions: [n], or NULL for all */
	qf_reader *fr;			/* patch: FROM */
	qf_rec frec;			/* FROM's record header not yet used */
	int fpending;			/* frec holds one */
	double *chan;			/* chan: [n_layer][4 sites] blocks of
					 * [width][3] sums of |x|, x^2, max |x| */
	uint64_t chan_tokens;		/* rows summed (the same for every site) */
};

/* The linears' input sites, in chan's order, and the kind each feeds. */
static const int chan_sites[4] = {
	QF_SITE_LN1_OUT, QF_SITE_ATTN_Z, QF_SITE_LN2_OUT, QF_SITE_MLP_ACT,
};
static const char *const chan_feeds[4] = {
	"attn_qkv", "attn_out", "mlp_in", "mlp_out",
};
#define CHAN_SITES ((1u << QF_SITE_LN1_OUT) | (1u << QF_SITE_ATTN_Z) | \
		    (1u << QF_SITE_LN2_OUT) | (1u << QF_SITE_MLP_ACT))

/* ------------------------------------------------------------ noise */

/* The output of splitmix64 from state z: a hash of z. */
static uint64_t mix64(uint64_t z)
{
	return qf_splitmix64(&z);
}

/* corrupt: row x [d] of the document's position p gets K sigma times
 * standard normal draws (Box-Muller) from a counter-based generator keyed
 * by the seed, the document's ordinal and p: the same noise whatever the
 * window or the threads. */
static void add_noise(const qf_act *r, uint64_t p, float *x, int d)
{
	uint64_t key = mix64(r->o.seed ^ mix64(r->ordinal ^ mix64(p)));
	double scale = r->o.corrupt * r->o.sigma;

	for (int j = 0; j < d; j += 2) {
		uint64_t a = mix64(key ^ (uint64_t)j), b = mix64(~key ^ (uint64_t)j);
		double u1 = ((double)(a >> 11) + 1) * 0x1p-53;	/* (0, 1] */
		double u2 = (double)(b >> 11) * 0x1p-53;	/* [0, 1) */
		double rad = sqrt(-2 * log(u1)), th = 6.283185307179586 * u2;

		x[j] = (float)(x[j] + scale * rad * cos(th));
		if (j + 1 < d)
			x[j + 1] = (float)(x[j + 1] + scale * rad * sin(th));
	}
}

int qf_weights_std(const char *path, const char *name, double *sigma,
		   qf_err *e)
{
	qf_reader *rd = qf_reader_open(path, e);
	qf_rec rec;
	int rc;

	if (!rd)
		return -1;
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(rd, &rec, e)) > 0)
		if (strcmp(rec.name, name) == 0)
			break;
	if (rc == 0)
		rc = qf_err_set(e, "%s: record %s: missing", path, name);
	if (rc > 0) {
		float *v = NULL;
		uint64_t n = 1;
		double sum = 0, ss = 0, mean;

		for (int i = 0; i < rec.ndim; i++)
			n *= rec.dims[i];
		rc = qf_reader_read_as(rd, QF_F32, (void **)&v, e);
		if (rc == 0 && n == 0)
			rc = qf_err_set(e, "%s: record %s: empty", path, name);
		if (rc == 0) {
			for (uint64_t i = 0; i < n; i++)
				sum += v[i];
			mean = sum / (double)n;
			for (uint64_t i = 0; i < n; i++)
				ss += (v[i] - mean) * (v[i] - mean);
			*sigma = sqrt(ss / (double)n);
		}
		free(v);
	}
	qf_rec_free(&rec);
	qf_reader_close(rd);
	return rc < 0 ? -1 : 0;
}

uint64_t qf_tokens_fnv(const int32_t *tok, uint64_t n)
{
	uint64_t h = QF_FNV1A_INIT;
	unsigned char le[4];

	for (uint64_t i = 0; i < n; i++) {
		qf_put_u32(le, (uint32_t)tok[i]);
		h = qf_fnv1a(h, le, sizeof le);
	}
	return h;
}

/* ------------------------------------------------------------ hooks */

static int width(const qf_act *r, int site)
{
	return site == QF_SITE_MLP_ACT ? r->cfg->n_inner : r->cfg->n_embd;
}

/* chan: the index of site s among chan_sites, or -1. */
static int chan_index(int s)
{
	for (int i = 0; i < 4; i++)
		if (chan_sites[i] == s)
			return i;
	return -1;
}

/* chan: the sums of layer l's site i (chan_sites[i]). */
static double *chan_of(const qf_act *r, int l, int i)
{
	uint64_t d = (uint64_t)r->cfg->n_embd, f = (uint64_t)r->cfg->n_inner;
	uint64_t per = 3 * (3 * d + f), off = 3 * d * (uint64_t)(i < 3 ? i : 3);

	return r->chan + (uint64_t)l * per + off;
}

/* chan: the new rows of pass s (each token once) into the sums, in
 * token order. */
static void chan_add(qf_act *r, const qf_site_info *s, const float *x)
{
	int i = chan_index(s->site);
	double *a;

	if (i < 0 || s->layer >= r->cfg->n_layer)
		return;
	a = chan_of(r, s->layer, i);
	for (int t = s->first_new; t < s->T; t++) {
		const float *row = x + (size_t)t * (size_t)s->d;

		for (int j = 0; j < s->d; j++) {
			double v = fabs((double)row[j]);

			a[3 * j] += v;
			a[3 * j + 1] += v * v;
			if (v > a[3 * j + 2])
				a[3 * j + 2] = v;
		}
	}
	if (i == 0 && s->layer == 0)
		r->chan_tokens += (uint64_t)(s->T - s->first_new);
}

/* A chosen (layer, site): final_norm is layer n_layer and only it. */
static int chosen(const qf_act *r, int l, int s)
{
	return (r->o.sites & (1u << s)) && r->layer_on[l] &&
	       (s == QF_SITE_FINAL_NORM) == (l == r->cfg->n_layer);
}

/* Row i of the pass s as row of a per-window buffer: its window is
 * pos / S (window k begins at k S). */
static uint64_t win_row(const qf_act *r, const qf_site_info *s, int i)
{
	return r->off[(uint64_t)s->pos / (uint64_t)r->S] + (uint64_t)i;
}

/* patch: the rows of FROM's same window (and position, if chosen)
 * over x, so that every pass gets the states FROM had in that pass. */
static void patch_rows(const qf_act *r, const qf_site_info *s,
		       const float *src, float *x)
{
	size_t d = (size_t)s->d;

	for (int i = 0; i < s->T; i++)
		if (!r->pmask || r->pmask[(uint64_t)s->pos + (uint64_t)i])
			memcpy(x + (size_t)i * d, src + win_row(r, s, i) * d,
			       d * sizeof *x);
}

/* Row i (a new token) into the document's states as the reduction
 * wants it. */
static void keep_row(qf_act *r, float *dst, uint64_t p, const float *row,
		     int d)
{
	if (r->o.reduce == QF_ACT_NONE) {
		memcpy(dst + p * (uint64_t)d, row, (size_t)d * sizeof *row);
	} else if (r->o.reduce == QF_ACT_MEAN) {
		for (int j = 0; j < d; j++)
			dst[j] += row[j];	/* summed in f32 then scaled below */
	} else if (r->slot[p] >= 0) {
		memcpy(dst + (uint64_t)r->slot[p] * (uint64_t)d, row,
		       (size_t)d * sizeof *row);
	}
}

static int site_hook(void *ctx, const qf_site_info *s, float *x)
{
	qf_act *r = ctx;
	float *dst = r->buf[s->layer * r->nsites + s->site];
	const float *src = r->from ? r->from[s->layer * r->nsites + s->site] : NULL;
	size_t d = (size_t)s->d;

	if (r->o.corrupt > 0 && s->layer == 0 && s->site == QF_SITE_RESID_PRE)
		for (int i = 0; i < s->T; i++)
			add_noise(r, (uint64_t)s->pos + (uint64_t)i,
				  x + (size_t)i * d, s->d);
	if (src && r->layer_on[s->layer])
		patch_rows(r, s, src, x);
	if (r->chan)
		chan_add(r, s, x);
	if (!r->layer_on[s->layer] || !dst)
		return 0;
	if (r->o.per_window) {
		/* every row of every pass: a token's state in each window */
		memcpy(dst + win_row(r, s, 0) * d, x, (size_t)s->T * d * sizeof *x);
		return 0;
	}
	for (int i = s->first_new; i < s->T; i++)
		keep_row(r, dst, (uint64_t)s->pos + (uint64_t)i,
			 x + (size_t)i * d, s->d);
	return 0;
}

static int attn_hook(void *ctx, const qf_site_info *s, float *p)
{
	qf_act *r = ctx;
	int T = s->T, H = s->d;

	for (int h = 0; h < H; h++) {
		double *acc = r->attn + ((size_t)s->layer * (size_t)H + (size_t)h) * 2;

		qf_attn_row_stats(p + (size_t)h * T * T, T, r->ent, r->first);
		for (int i = s->first_new; i < T; i++) {
			acc[0] += r->ent[i];
			acc[1] += r->first[i];
		}
	}
	r->attn_n[s->layer] += (uint64_t)(T - s->first_new);
	return 0;
}

/* ------------------------------------------------------------ sampling */

/* K distinct positions of n (all of them when K >= n), in order, from a
 * generator seeded by the seed and the document's ordinal. */
static void sample(qf_act *r, uint64_t ordinal)
{
	uint64_t st = r->o.seed ^ (ordinal * 0xd1342543de82ef95ull), n = r->n;
	uint64_t k = r->o.k < n ? r->o.k : n, j = 0;

	for (uint64_t i = 0; i < n; i++)
		r->slot[i] = -1;
	/* Floyd's algorithm: k draws, each a new position */
	for (uint64_t i = n - k; i < n; i++) {
		uint64_t t = qf_splitmix64(&st) % (i + 1);

		r->slot[r->slot[t] < 0 ? t : i] = 0;
	}
	for (uint64_t i = 0; i < n; i++)
		if (r->slot[i] >= 0) {
			r->pos[j] = i;
			r->slot[i] = (int64_t)j++;
		}
	r->kk = k;
}

/* ------------------------------------------------------------ output */

static int set_common(qf_rec *out, const qf_rec *in, uint64_t ordinal,
		      uint64_t n, uint64_t fnv, qf_err *e)
{
	static const char *const keep[] = {
		QF_ATTR_LANG, QF_ATTR_DOC, QF_ATTR_SOURCE,
	};

	for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
		const char *v = qf_rec_get(in, keep[i]);

		if (v && qf_rec_set(out, keep[i], v, e) < 0)
			return -1;
	}
	if (qf_rec_set(out, "record", in->name, e) < 0 ||
	    qf_rec_setf(out, e, "ordinal", "%" PRIu64, ordinal) < 0 ||
	    qf_rec_setf(out, e, "tokens_fnv", "%016" PRIx64, fnv) < 0 ||
	    qf_rec_setf(out, e, QF_ATTR_TOKENS, "%" PRIu64, n) < 0)
		return -1;
	return 0;
}

/* sample:K: the positions drawn, "P0,P1,...". */
static int positions_attr(const qf_act *r, qf_rec *out, qf_err *e)
{
	size_t cap = r->kk * 21 + 1, len = 0;
	char *txt = malloc(cap);
	int rc;

	if (!txt)
		return qf_err_set(e, "out of memory");
	txt[0] = 0;
	for (uint64_t i = 0; i < r->kk; i++)
		len += (size_t)snprintf(txt + len, cap - len, "%s%" PRIu64,
					i ? "," : "", r->pos[i]);
	rc = qf_rec_set(out, "positions", txt, e);
	free(txt);
	return rc;
}

/* The header of record state.ORDINAL.L.SITE: its name, shape and
 * attributes. */
static int state_header(const qf_act *r, qf_rec *out, const qf_rec *in,
			uint64_t ordinal, int l, int s, qf_err *e)
{
	static const char *const rname[] = { "none", "mean", "sample" };
	const qf_act_opts *o = &r->o;
	uint64_t dims[2] = { r->n, (uint64_t)width(r, s) };
	int nd = 2;
	char name[128];

	if (o->reduce == QF_ACT_SAMPLE) {
		dims[0] = r->kk;
	} else if (o->reduce == QF_ACT_MEAN) {
		dims[0] = dims[1];
		nd = 1;
	}
	snprintf(name, sizeof name, "state.%" PRIu64 ".%d.%s", ordinal, l,
		 qf_site_name(s));
	if (qf_rec_set_name(out, name, e) < 0 ||
	    qf_rec_set_shape(out, QF_F32, nd, dims, e) < 0 ||
	    set_common(out, in, ordinal, r->n, r->fnv, e) < 0 ||
	    qf_rec_set(out, QF_ATTR_KIND, "state", e) < 0 ||
	    qf_rec_setf(out, e, "layer", "%d", l) < 0 ||
	    qf_rec_set(out, "site", qf_site_name(s), e) < 0)
		return -1;
	if (o->reduce != QF_ACT_SAMPLE)
		return qf_rec_set(out, "reduce", rname[o->reduce], e);
	if (qf_rec_setf(out, e, "reduce", "sample:%" PRIu64, o->k) < 0 ||
	    qf_rec_setf(out, e, "seed", "%" PRIu64, o->seed) < 0)
		return -1;
	return positions_attr(r, out, e);
}

/* The header of record state.ORDINAL.L.SITE.wK, window k's states
 * (per_window): rows end - begin, row i of position begin + i. */
static int window_header(const qf_act *r, qf_rec *out, const qf_rec *in,
			 uint64_t ordinal, int l, int s, uint64_t k, qf_err *e)
{
	const qf_window *w = &r->win[k];
	uint64_t dims[2] = { w->end - w->begin, (uint64_t)width(r, s) };
	char name[160];

	if (state_header(r, out, in, ordinal, l, s, e) < 0 ||
	    qf_rec_setf(out, e, "window", "%" PRIu64, k) < 0 ||
	    qf_rec_setf(out, e, "begin", "%" PRIu64, w->begin) < 0 ||
	    qf_rec_setf(out, e, "end", "%" PRIu64, w->end) < 0)
		return -1;
	if (qf_rec_set_shape(out, QF_F32, 2, dims, e) < 0)
		return -1;
	snprintf(name, sizeof name, "%s.w%" PRIu64, out->name, k);
	return qf_rec_set_name(out, name, e);
}

/* The records of one chosen layer and site: the document's, or with
 * per_window one per window. */
static int put_state(qf_act *r, qf_act_put_fn put, void *ctx,
		     const qf_rec *in, uint64_t ordinal, int l, int s,
		     qf_err *e)
{
	float *b = r->buf[l * r->nsites + s];
	qf_rec out;
	int rc = 0;

	qf_rec_init(&out);
	if (!r->o.per_window) {
		if (r->o.reduce == QF_ACT_MEAN)
			for (int j = 0; j < width(r, s); j++)
				b[j] = (float)(b[j] / (double)r->n);
		rc = state_header(r, &out, in, ordinal, l, s, e);
		if (rc == 0)
			rc = put(ctx, QF_ACT_OUT_STATE, &out, b, e);
	}
	for (uint64_t k = 0; r->o.per_window && k < r->nwin && rc == 0; k++) {
		qf_rec_free(&out);
		rc = window_header(r, &out, in, ordinal, l, s, k, e);
		if (rc == 0)
			rc = put(ctx, QF_ACT_OUT_STATE, &out,
				 b + r->off[k] * (uint64_t)width(r, s), e);
	}
	qf_rec_free(&out);
	return rc;
}

/* The states of the chosen layers and sites, by layer, then site (then
 * window); a mean is scaled here from the sum the hook made. */
static int write_states(qf_act *r, qf_act_put_fn put, void *ctx,
			const qf_rec *in, uint64_t ordinal, qf_err *e)
{
	int rc = 0;

	for (int l = 0; l <= r->cfg->n_layer && rc == 0; l++)
		for (int s = 0; s < r->nsites && rc == 0; s++)
			if (r->buf[l * r->nsites + s])
				rc = put_state(r, put, ctx, in, ordinal, l, s, e);
	return rc;
}

static int write_attn(qf_act *r, qf_act_put_fn put, void *ctx,
		      const qf_rec *in, uint64_t ordinal, qf_err *e)
{
	int L = r->cfg->n_layer, H = r->cfg->n_head;
	uint64_t dims[3] = { (uint64_t)L, (uint64_t)H, 2 };
	float *v = malloc((size_t)L * H * 2 * sizeof *v);
	int sinks = 0, rc = 0;
	qf_rec out;
	char name[64];

	if (!v)
		return qf_err_set(e, "out of memory");
	qf_rec_init(&out);
	snprintf(name, sizeof name, "attn.%" PRIu64, ordinal);
	if (qf_rec_set_name(&out, name, e) < 0 ||
	    qf_rec_set_shape(&out, QF_F32, 3, dims, e) < 0 ||
	    set_common(&out, in, ordinal, r->n, r->fnv, e) < 0 ||
	    qf_rec_set(&out, QF_ATTR_KIND, "attn_stats", e) < 0 ||
	    qf_rec_set(&out, "stats", "entropy,first", e) < 0 ||
	    qf_rec_setf(&out, e, "sink_eps", "%g", r->o.eps) < 0)
		rc = -1;
	for (int l = 0; l < L && rc == 0; l++) {
		int s = 0;
		char key[32];

		for (int h = 0; h < H; h++) {
			size_t i = ((size_t)l * H + h) * 2;
			double q = (double)r->attn_n[l];

			v[i] = (float)(r->attn[i] / q);
			v[i + 1] = (float)(r->attn[i + 1] / q);
			s += r->attn[i + 1] / q > r->o.eps;
		}
		sinks += s;
		snprintf(key, sizeof key, "sink_rate.%d", l);
		rc = qf_rec_setf(&out, e, key, "%.9g", (double)s / H);
	}
	if (rc == 0)
		rc = qf_rec_setf(&out, e, "sink_rate", "%.9g",
				 (double)sinks / ((double)L * H));
	if (rc == 0)
		rc = put(ctx, QF_ACT_OUT_ATTN, &out, v, e);
	qf_rec_free(&out);
	free(v);
	return rc;
}

static int write_nll(qf_act_put_fn put, void *ctx, const qf_rec *in,
		     uint64_t ordinal, uint64_t n, uint64_t fnv,
		     const float *nll, qf_err *e)
{
	uint64_t dims[1] = { n - 1 };
	qf_rec out;
	char name[64];
	int rc = 0;

	qf_rec_init(&out);
	snprintf(name, sizeof name, "nll.%" PRIu64, ordinal);
	if (qf_rec_set_name(&out, name, e) < 0 ||
	    qf_rec_set_shape(&out, QF_F32, 1, dims, e) < 0 ||
	    set_common(&out, in, ordinal, n, fnv, e) < 0 ||
	    qf_rec_set(&out, QF_ATTR_KIND, "nll", e) < 0 ||
	    put(ctx, QF_ACT_OUT_NLL, &out, nll, e) < 0)
		rc = -1;
	qf_rec_free(&out);
	return rc;
}

/* ------------------------------------------------------------ patch */

static int from_attr(const qf_rec *f, const char *key, uint64_t *v)
{
	const char *s = qf_rec_get(f, key);

	return s && qf_parse_u64(s, UINT64_MAX, v, NULL) == 0 ? 0 : -1;
}

/* " (doc D)" of a token record, or "".  buf: QF_ERR_MAX bytes, so that
 * only what a message would lose anyway is cut. */
static const char *doc_of(const qf_rec *rec, char *buf)
{
	const char *doc = qf_rec_get(rec, QF_ATTR_DOC);

	if (!doc)
		return "";
	snprintf(buf, QF_ERR_MAX, " (doc %s)", doc);
	return buf;
}

/* Out of memory for what a document needs: the file, the record and the
 * size, so that a document too long for the machine says so. */
static int doc_oom(const char *src, const qf_rec *rec, const char *what,
		   uint64_t bytes, qf_err *e)
{
	char db[QF_ERR_MAX];

	return qf_err_set(e, "%s: record %s%s: out of memory for %s (%" PRIu64
			  " bytes)", src, rec->name, doc_of(rec, db), what, bytes);
}

/* The next state record of FROM of the current document or a later one,
 * in r->frec (r->fpending set): 1 with its ordinal in *ord, 0 at the end
 * of FROM, -1.  Records of other kinds and of earlier documents are
 * skipped. */
static int from_next(qf_act *r, uint64_t *ord, qf_err *e)
{
	for (;;) {
		const char *kind;

		if (!r->fpending) {
			int rc = qf_reader_next(r->fr, &r->frec, e);

			if (rc <= 0)
				return rc;
			r->fpending = 1;
		}
		kind = qf_rec_get(&r->frec, QF_ATTR_KIND);
		if (kind && strcmp(kind, "state") == 0 &&
		    from_attr(&r->frec, "ordinal", ord) == 0 && *ord >= r->ordinal)
			return 1;
		r->fpending = 0;
	}
}

/* The window of this run that FROM's record r->frec holds, in *k: its
 * window attribute's, which must have this run's bounds; a record of the
 * whole document (no window attribute) only when the document runs in
 * one window: in later windows the tokens have other positions and
 * context than in the first, and no state of the document is theirs. */
static int from_window(const qf_act *r, const qf_rec *rec, const char *src,
		       const char *doc, uint64_t *k, qf_err *e)
{
	const char *fname = qf_reader_name(r->fr);
	uint64_t begin, end;

	if (!qf_rec_get(&r->frec, "window")) {
		*k = 0;
		if (r->nwin <= 1)
			return 0;
		return qf_err_set(e, "%s: record %s: states of the whole document, "
				  "but %s: record %s%s runs in %" PRIu64 " windows: "
				  "patching in windows needs states per window "
				  "(qf-act --per-window)", fname, r->frec.name,
				  src, rec->name, doc, r->nwin);
	}
	if (from_attr(&r->frec, "window", k) < 0 || *k >= r->nwin ||
	    from_attr(&r->frec, "begin", &begin) < 0 ||
	    from_attr(&r->frec, "end", &end) < 0 ||
	    begin != r->win[*k].begin || end != r->win[*k].end)
		return qf_err_set(e, "%s: record %s: not a window of this run "
				  "(--window %d --stride %d over %s: record %s%s): "
				  "FROM needs the same --window and --stride",
				  fname, r->frec.name, r->W, r->S, src,
				  rec->name, doc);
	return 0;
}

/* FROM's rows of window k of (layer, site) slot ls into r->from[ls]. */
static int from_rows(qf_act *r, uint64_t ls, uint64_t k, int site,
		     qf_err *e)
{
	uint64_t d = (uint64_t)width(r, site);
	float *v = NULL;

	if (!r->from[ls] &&
	    !(r->from[ls] = calloc(r->off[r->nwin] * d, sizeof(float))))
		return qf_err_set(e, "out of memory");
	if (qf_reader_read_as(r->fr, QF_F32, (void **)&v, e) < 0)
		return -1;
	memcpy(r->from[ls] + r->off[k] * d, v,
	       (r->off[k + 1] - r->off[k]) * d * sizeof *v);
	free(v);
	r->fhave[ls * r->nwin + k] = 1;
	return 0;
}

/* State record r->frec of the current document into r->from, if its
 * layer and site are chosen: made over the same tokens (those of token
 * record rec of src), per token, of one of this run's windows. */
static int from_state(qf_act *r, const qf_rec *rec, const char *src,
		      const char *doc, qf_err *e)
{
	const char *fname = qf_reader_name(r->fr);
	const char *site_s = qf_rec_get(&r->frec, "site"), *fnv_s;
	int site = site_s ? qf_site_parse(site_s) : -1;
	uint64_t layer, n, k, rows;
	char want[24];

	if (from_attr(&r->frec, "layer", &layer) < 0 || site < 0 ||
	    layer > (uint64_t)r->cfg->n_layer)
		return qf_err_set(e, "%s: record %s: no valid layer and site attributes",
				  fname, r->frec.name);
	if (!chosen(r, (int)layer, site))
		return 0;
	fnv_s = qf_rec_get(&r->frec, "tokens_fnv");
	snprintf(want, sizeof want, "%016" PRIx64, r->fnv);
	if (from_attr(&r->frec, QF_ATTR_TOKENS, &n) < 0 || n != r->n ||
	    (fnv_s && strcmp(fnv_s, want) != 0))
		return qf_err_set(e, "%s: record %s: made over other tokens than %s: record %s%s",
				  fname, r->frec.name, src, rec->name, doc);
	if (from_window(r, rec, src, doc, &k, e) < 0)
		return -1;
	rows = r->off[k + 1] - r->off[k];
	if (r->frec.ndim != 2 || r->frec.dims[0] != rows ||
	    r->frec.dims[1] != (uint64_t)width(r, site))
		return qf_err_set(e, "%s: record %s: shape is not [%" PRIu64 ", %d] "
				  "(states per token, --reduce none)",
				  fname, r->frec.name, rows, width(r, site));
	return from_rows(r, layer * (uint64_t)r->nsites + (uint64_t)site, k,
			 site, e);
}

/* The windows of slot ls FROM gave: all, none, or the first missing
 * one in *miss. */
static int from_windows(const qf_act *r, uint64_t ls, uint64_t *miss)
{
	uint64_t got = 0;

	*miss = UINT64_MAX;
	for (uint64_t k = 0; k < r->nwin; k++)
		if (r->fhave[ls * r->nwin + k])
			got++;
		else if (*miss == UINT64_MAX)
			*miss = k;
	return got == r->nwin ? 1 : got ? -1 : 0;
}

/* Every chosen layer and site has its states of every window from FROM;
 * got: some state of the document was read, later: the ordinal of the
 * next document's first record (UINT64_MAX at the end of FROM). */
static int from_complete(const qf_act *r, const qf_rec *rec, const char *src,
			 const char *doc, int got, uint64_t later, qf_err *e)
{
	const char *fname = qf_reader_name(r->fr);

	for (int l = 0; l <= r->cfg->n_layer; l++)
		for (int s = 0; s < r->nsites; s++) {
			uint64_t miss;
			int have;

			if (!chosen(r, l, s))
				continue;
			have = from_windows(r, (uint64_t)(l * r->nsites + s), &miss);
			if (have > 0)
				continue;
			if (have < 0)
				return qf_err_set(e, "%s: no state.%" PRIu64 ".%d.%s.w%" PRIu64
						  " for %s: record %s%s", fname,
						  r->ordinal, l, qf_site_name(s),
						  miss, src, rec->name, doc);
			if (!got && later != UINT64_MAX)
				return qf_err_set(e, "%s: no states of document %" PRIu64
						  " (%s: record %s%s) before document %" PRIu64
						  ": FROM must follow the input's document order",
						  fname, r->ordinal, src, rec->name, doc, later);
			return qf_err_set(e, "%s: no state.%" PRIu64 ".%d.%s for %s: record %s%s",
					  fname, r->ordinal, l, qf_site_name(s),
					  src, rec->name, doc);
		}
	return 0;
}

/* Read FROM's state records of the current document (ordinal r->ordinal,
 * token record rec of the stream named src) into r->from: those of the
 * chosen layers and sites.  Records of other kinds, layers or sites are
 * skipped; the first record of a later document is kept for the next
 * call. */
static int load_from(qf_act *r, const qf_rec *rec, const char *src,
		     qf_err *e)
{
	uint64_t ord, later = UINT64_MAX;
	char db[QF_ERR_MAX];
	const char *doc = doc_of(rec, db);
	int got = 0, rc;

	while ((rc = from_next(r, &ord, e)) > 0) {
		if (ord > r->ordinal) {
			later = ord;
			break;
		}
		got = 1;
		r->fpending = 0;
		if (from_state(r, rec, src, doc, e) < 0)
			return -1;
	}
	if (rc < 0)
		return -1;
	return from_complete(r, rec, src, doc, got, later, e);
}

/* positions: the mask of the current document. */
static int make_pmask(qf_act *r, const char *src, const qf_rec *rec,
		      qf_err *e)
{
	r->pmask = calloc(r->n, 1);
	if (!r->pmask)
		return doc_oom(src, rec, "the positions to patch", r->n, e);
	for (size_t i = 0; i < r->o.npositions; i++)
		if (r->o.positions[i] < r->n)
			r->pmask[r->o.positions[i]] = 1;
	return 0;
}

/* ------------------------------------------------------------ a document */

/* The bytes of a row of the chosen states: each state is a [rows, width]
 * f32 record, held whole until the document's run ends. */
static uint64_t row_bytes(const qf_act *r)
{
	uint64_t b = 0;

	for (int l = 0; l <= r->cfg->n_layer; l++)
		for (int s = 0; s < r->nsites; s++)
			if (chosen(r, l, s))
				b += (uint64_t)width(r, s) * sizeof(float);
	return b;
}

/* The document's states fit in memory: at most the machine's
 * (qf_reader_max_whole, the limit of a record held whole when read). */
static int check_states(const qf_act *r, const char *src, const qf_rec *rec,
			uint64_t rows, qf_err *e)
{
	uint64_t per = row_bytes(r), max = qf_reader_max_whole();
	char db[QF_ERR_MAX];

	if (per && rows > max / per)
		return qf_err_set(e, "%s: record %s%s: the states of its %" PRIu64
				  " tokens take %.1f GB, more than the machine's "
				  "memory (%.1f GB): choose fewer layers or sites, "
				  "or reduce them", src, rec->name, doc_of(rec, db),
				  r->n, (double)rows * (double)per / 1e9,
				  (double)max / 1e9);
	return 0;
}

/* The document's windows and the first row of each in a per-window
 * buffer (every row of every pass), and with a patch which windows FROM
 * gave. */
static int doc_windows(qf_act *r, const char *src, const qf_rec *rec,
		       qf_err *e)
{
	uint64_t nw = qf_windows(r->n, r->W, r->S, NULL);
	size_t slots = (size_t)(r->cfg->n_layer + 1) * (size_t)r->nsites;

	r->win = calloc(nw + 1, sizeof *r->win);
	r->off = calloc(nw + 1, sizeof *r->off);
	if (r->fr)
		r->fhave = calloc(slots * (nw + 1), 1);
	if (!r->win || !r->off || (r->fr && !r->fhave))
		return doc_oom(src, rec, "its windows", nw * 40, e);
	r->nwin = qf_windows(r->n, r->W, r->S, r->win);
	for (uint64_t k = 0; k < r->nwin; k++)
		r->off[k + 1] = r->off[k] + r->win[k].end - r->win[k].begin;
	return 0;
}

/* The document's buffers: its windows, sample:K's positions, and a
 * state buffer of each chosen layer and site (zeroed: a mean is summed
 * into it). */
static int doc_buffers(qf_act *r, const char *src, const qf_rec *rec,
		       uint64_t ordinal, qf_err *e)
{
	const qf_act_opts *o = &r->o;
	uint64_t rows;

	if (doc_windows(r, src, rec, e) < 0)
		return -1;
	if (o->reduce == QF_ACT_SAMPLE) {
		r->slot = malloc(r->n * sizeof *r->slot);
		r->pos = malloc(r->n * sizeof *r->pos);
		if (!r->slot || !r->pos)
			return doc_oom(src, rec, "the sample's positions",
				       r->n * 16, e);
		sample(r, ordinal);
	}
	rows = o->per_window ? r->off[r->nwin]
		: o->reduce == QF_ACT_NONE ? r->n
		: o->reduce == QF_ACT_SAMPLE ? r->kk : 1;
	if (check_states(r, src, rec, rows, e) < 0)
		return -1;
	for (int l = 0; l <= r->cfg->n_layer; l++)
		for (int s = 0; s < r->nsites; s++) {
			if (!chosen(r, l, s))
				continue;
			r->buf[l * r->nsites + s] =
				calloc(rows * (uint64_t)width(r, s), sizeof(float));
			if (!r->buf[l * r->nsites + s])
				return doc_oom(src, rec, "its states",
					       rows * row_bytes(r), e);
		}
	return 0;
}

/* The passes over the document with the hooks: the states, attention
 * statistics and (nll not NULL) the NLL. */
static int doc_run(qf_act *r, const char *src, const qf_rec *rec,
		   const int32_t *tok, float *nll, qf_err *e)
{
	const qf_act_opts *o = &r->o;
	int L = r->cfg->n_layer;
	qf_hooks h = { site_hook, 0, NULL, r, NULL };
	char db[QF_ERR_MAX];
	qf_err e2;

	h.sites = o->sites;
	if (o->chan)
		h.sites |= CHAN_SITES;
	if (o->corrupt > 0)
		h.sites |= 1u << QF_SITE_RESID_PRE;
	if (o->attn) {
		h.attn = attn_hook;
		memset(r->attn, 0, (size_t)L * r->cfg->n_head * 2 * sizeof *r->attn);
		memset(r->attn_n, 0, (size_t)L * sizeof *r->attn_n);
	}
	if (qf_model_nll(r->m, tok, r->n, r->W, r->S, &h, nll, &e2) < 0)
		return qf_err_set(e, "%s: record %s%s: %s", src, rec->name,
				  doc_of(rec, db), e2.msg);
	return 0;
}

/* Free what one document held. */
static void doc_reset(qf_act *r)
{
	for (int i = 0; i < (r->cfg->n_layer + 1) * r->nsites; i++) {
		free(r->buf[i]);
		r->buf[i] = NULL;
		if (r->from) {
			free(r->from[i]);
			r->from[i] = NULL;
		}
	}
	free(r->pmask);
	r->pmask = NULL;
	free(r->win);
	free(r->off);
	free(r->fhave);
	r->win = NULL;
	r->off = NULL;
	r->fhave = NULL;
	r->nwin = 0;
	free(r->slot);
	free(r->pos);
	r->slot = NULL;
	r->pos = NULL;
}

/* ------------------------------------------------------------ API */

qf_act *qf_act_new(qf_model *m, const qf_act_opts *o, qf_err *e)
{
	const qf_model_config *cfg = qf_model_cfg(m);
	int L = cfg->n_layer;
	qf_act *r = calloc(1, sizeof *r);

	if (!r) {
		qf_err_set(e, "out of memory");
		return NULL;
	}
	r->o = *o;
	r->m = m;
	r->cfg = cfg;
	r->nsites = QF_SITE_COUNT;
	/* as qf_model_nll resolves them: the hooks find a pass's window
	 * from its position */
	r->W = o->window ? o->window : cfg->n_ctx;
	r->S = o->stride ? o->stride : (r->W / 2 > 0 ? r->W / 2 : 1);
	qf_rec_init(&r->frec);
	if (qf_window_check(r->W, r->S, cfg->n_ctx, e) < 0) {
		qf_act_free(r);
		return NULL;
	}
	r->fr = o->patch;
	r->layer_on = calloc((size_t)L + 1, 1);
	r->buf = calloc((size_t)(L + 1) * QF_SITE_COUNT, sizeof *r->buf);
	r->attn = calloc((size_t)L * cfg->n_head * 2, sizeof *r->attn);
	r->attn_n = calloc((size_t)L, sizeof *r->attn_n);
	r->ent = malloc((size_t)cfg->n_ctx * sizeof *r->ent);
	r->first = malloc((size_t)cfg->n_ctx * sizeof *r->first);
	if (o->patch)
		r->from = calloc((size_t)(L + 1) * QF_SITE_COUNT, sizeof *r->from);
	if (o->chan)
		r->chan = calloc((size_t)L * 3 * (3 * (size_t)cfg->n_embd +
						  (size_t)cfg->n_inner),
				 sizeof *r->chan);
	if (!r->layer_on || !r->buf || !r->attn || !r->attn_n || !r->ent ||
	    !r->first || (o->patch && !r->from) || (o->chan && !r->chan)) {
		qf_act_free(r);
		qf_err_set(e, "out of memory");
		return NULL;
	}
	if (!o->layers) {
		memset(r->layer_on, 1, (size_t)L + 1);
		return r;
	}
	/* layer L is the final norm's: chosen only when listed, so that
	 * nothing is written that -L did not ask for */
	for (size_t i = 0; i < o->nlayers; i++) {
		if (o->layers[i] > (uint64_t)L) {
			qf_err_set(e, "layer %" PRIu64 " out of range (the model has %d)",
				   o->layers[i], L);
			qf_act_free(r);
			return NULL;
		}
		r->layer_on[o->layers[i]] = 1;
	}
	return r;
}

int qf_act_doc(qf_act *r, const char *src, const qf_rec *rec,
	       const int32_t *tok, uint64_t n, qf_act_put_fn put, void *ctx,
	       qf_err *e)
{
	const qf_act_opts *o = &r->o;
	uint64_t ordinal = r->ordinal;
	float *nll = NULL;
	char db[QF_ERR_MAX];
	int rc = -1;

	r->n = n;
	r->fnv = qf_tokens_fnv(tok, r->n);
	if (r->n == 0) {
		r->ordinal++;	/* the document counts even when it fails */
		return qf_err_set(e, "%s: record %s%s: empty document", src,
				  rec->name, doc_of(rec, db));
	}
	if (doc_buffers(r, src, rec, ordinal, e) < 0 ||
	    (r->fr && load_from(r, rec, src, e) < 0) ||
	    (o->npositions && make_pmask(r, src, rec, e) < 0))
		goto out;
	if (o->nll && r->n > 1 && !(nll = malloc((r->n - 1) * sizeof *nll))) {
		doc_oom(src, rec, "its NLL", (r->n - 1) * sizeof *nll, e);
		goto out;
	}
	if (doc_run(r, src, rec, tok, nll, e) < 0)
		goto out;
	rc = write_states(r, put, ctx, rec, ordinal, e);
	if (rc == 0 && o->attn)
		rc = write_attn(r, put, ctx, rec, ordinal, e);
	if (rc == 0 && o->nll)
		rc = write_nll(put, ctx, rec, ordinal, r->n, r->fnv, nll, e);
out:
	r->ordinal++;
	doc_reset(r);
	free(nll);
	return rc;
}

uint64_t qf_act_docs(const qf_act *a)
{
	return a->ordinal;
}

void qf_act_free(qf_act *r)
{
	if (!r)
		return;
	free(r->layer_on);
	free(r->buf);
	free(r->attn);
	free(r->attn_n);
	free(r->ent);
	free(r->first);
	free(r->from);
	free(r->chan);
	qf_rec_free(&r->frec);
	free(r);
}

/* The record chan.L.SITE of layer l's site i: its header and the
 * means. */
static int chan_rec(const qf_act *r, int l, int i, qf_rec *out, double *v,
		    qf_err *e)
{
	int s = chan_sites[i], d = width(r, s);
	const double *a = chan_of(r, l, i);
	double n = (double)r->chan_tokens;
	uint64_t dims[2] = { (uint64_t)d, 3 };
	char name[64];

	for (int j = 0; j < d; j++) {
		v[3 * j] = a[3 * j] / n;
		v[3 * j + 1] = a[3 * j + 1] / n;
		v[3 * j + 2] = a[3 * j + 2];
	}
	snprintf(name, sizeof name, "chan.%d.%s", l, qf_site_name(s));
	if (qf_rec_set_name(out, name, e) < 0 ||
	    qf_rec_set_shape(out, QF_F64, 2, dims, e) < 0 ||
	    qf_rec_set(out, QF_ATTR_KIND, "chan_stats", e) < 0 ||
	    qf_rec_setf(out, e, "layer", "%d", l) < 0 ||
	    qf_rec_set(out, "site", qf_site_name(s), e) < 0 ||
	    qf_rec_set(out, "feeds", chan_feeds[i], e) < 0 ||
	    qf_rec_setf(out, e, QF_ATTR_TOKENS, "%" PRIu64, r->chan_tokens) < 0 ||
	    qf_rec_setf(out, e, "docs", "%" PRIu64, r->ordinal) < 0 ||
	    qf_rec_setf(out, e, "n_layer", "%d", r->cfg->n_layer) < 0 ||
	    qf_rec_set(out, "columns", "mean_abs,mean_sq,max_abs", e) < 0)
		return -1;
	return 0;
}

int qf_act_chan(qf_act *r, qf_act_put_fn put, void *ctx, qf_err *e)
{
	int w = r->cfg->n_embd > r->cfg->n_inner ? r->cfg->n_embd :
		r->cfg->n_inner;
	double *v;
	qf_rec out;
	int rc = 0;

	if (!r->chan)
		return 0;
	if (!r->chan_tokens)
		return qf_err_set(e, "no tokens to measure the channels over");
	if (!(v = malloc((size_t)w * 3 * sizeof *v)))
		return qf_err_set(e, "out of memory");
	qf_rec_init(&out);
	for (int l = 0; l < r->cfg->n_layer && rc == 0; l++)
		for (int i = 0; i < 4 && rc == 0; i++) {
			qf_rec_free(&out);
			qf_rec_init(&out);
			rc = chan_rec(r, l, i, &out, v, e);
			if (rc == 0)
				rc = put(ctx, QF_ACT_OUT_CHAN, &out, v, e);
		}
	qf_rec_free(&out);
	free(v);
	return rc;
}
