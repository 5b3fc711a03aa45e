/*
 * act.c - activations of a model over documents (the work of qf-act).
 *
 * A qf_act holds the choices (layers, sites, reduction, attention
 * statistics, --patch source, --corrupt noise) and, per document, the
 * states the hooks of qf_model_nll() fill; qf_act_doc() runs one
 * document and hands its records to a callback.  docs/man/qf-act.1.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

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
	float **from;			/* patch: [(n_layer + 1) * nsites] */
	unsigned char *pmask;		/* positions: [n], or NULL for all */
	qf_reader *fr;			/* patch: FROM */
	qf_rec frec;			/* FROM's record header not yet used */
	int fpending;			/* frec holds one */
};

/* ------------------------------------------------------------ noise */

static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
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
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint64_t i = 0; i < n; i++) {
		uint32_t v = (uint32_t)tok[i];

		for (int b = 0; b < 4; b++) {
			h ^= (v >> (8 * b)) & 0xff;
			h *= 0x100000001b3ull;
		}
	}
	return h;
}

/* ------------------------------------------------------------ hooks */

static int width(const qf_act *r, int site)
{
	return site == QF_SITE_MLP_ACT ? r->cfg->n_inner : r->cfg->n_embd;
}

/* A chosen (layer, site): final_norm is layer n_layer and only it. */
static int chosen(const qf_act *r, int l, int s)
{
	return (r->o.sites & (1u << s)) && r->layer_on[l] &&
	       (s == QF_SITE_FINAL_NORM) == (l == r->cfg->n_layer);
}

static int site_hook(void *ctx, const qf_site_info *s, float *x)
{
	qf_act *r = ctx;
	float *dst = r->buf[s->layer * r->nsites + s->site];
	const float *src = r->from ? r->from[s->layer * r->nsites + s->site] : NULL;
	int d = s->d;

	if (r->o.corrupt > 0 && s->layer == 0 && s->site == QF_SITE_RESID_PRE)
		for (int i = 0; i < s->T; i++)
			add_noise(r, (uint64_t)s->pos + (uint64_t)i,
				  x + (size_t)i * (size_t)d, d);
	if (src && r->layer_on[s->layer])
		for (int i = 0; i < s->T; i++) {
			uint64_t p = (uint64_t)s->pos + (uint64_t)i;

			if (!r->pmask || r->pmask[p])
				memcpy(x + (size_t)i * (size_t)d,
				       src + p * (uint64_t)d, (size_t)d * sizeof *x);
		}
	if (!r->layer_on[s->layer] || !dst)
		return 0;
	for (int i = s->first_new; i < s->T; i++) {
		uint64_t p = (uint64_t)s->pos + (uint64_t)i;
		const float *row = x + (size_t)i * (size_t)d;

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

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

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
		uint64_t t = splitmix(&st) % (i + 1);

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
	static const char *keep[] = { "lang", "doc", "source" };

	for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
		const char *v = qf_rec_get(in, keep[i]);

		if (v && qf_rec_set(out, keep[i], v, e) < 0)
			return -1;
	}
	if (qf_rec_set(out, "record", in->name, e) < 0 ||
	    qf_rec_setf(out, e, "ordinal", "%" PRIu64, ordinal) < 0 ||
	    qf_rec_setf(out, e, "tokens_fnv", "%016" PRIx64, fnv) < 0 ||
	    qf_rec_setf(out, e, "tokens", "%" PRIu64, n) < 0)
		return -1;
	return 0;
}

static int write_states(qf_act *r, qf_act_put_fn put, void *ctx,
			const qf_rec *in, uint64_t ordinal, qf_err *e)
{
	static const char *rname[] = { "none", "mean", "sample" };
	const qf_act_opts *o = &r->o;
	int L = r->cfg->n_layer;
	qf_rec out;
	int rc = 0;

	qf_rec_init(&out);
	for (int l = 0; l <= L && rc == 0; l++)
		for (int s = 0; s < r->nsites && rc == 0; s++) {
			float *b = r->buf[l * r->nsites + s];
			uint64_t dims[2];
			int d = width(r, s), nd = 2;

			if (!b)
				continue;
			qf_rec_free(&out);
			dims[1] = (uint64_t)d;
			if (o->reduce == QF_ACT_NONE) {
				dims[0] = r->n;
			} else if (o->reduce == QF_ACT_SAMPLE) {
				dims[0] = r->kk;
			} else {
				dims[0] = (uint64_t)d;
				nd = 1;
				for (int j = 0; j < d; j++)
					b[j] = (float)(b[j] / (double)r->n);
			}
			{
				char name[128];

				snprintf(name, sizeof name, "state.%" PRIu64 ".%d.%s",
					 ordinal, l, qf_site_name(s));
				rc = qf_rec_set_name(&out, name, e);
			}
			if (rc == 0)
				rc = qf_rec_set_shape(&out, QF_F32, nd, dims, e);
			if (rc == 0)
				rc = set_common(&out, in, ordinal, r->n, r->fnv, e);
			if (rc == 0 &&
			    (qf_rec_set(&out, "kind", "state", e) < 0 ||
			     qf_rec_setf(&out, e, "layer", "%d", l) < 0 ||
			     qf_rec_set(&out, "site", qf_site_name(s), e) < 0 ||
			     (o->reduce == QF_ACT_SAMPLE
			      ? qf_rec_setf(&out, e, "reduce", "sample:%" PRIu64, o->k)
			      : qf_rec_set(&out, "reduce", rname[o->reduce], e)) < 0 ||
			     (o->reduce == QF_ACT_SAMPLE &&
			      qf_rec_setf(&out, e, "seed", "%" PRIu64, o->seed) < 0)))
				rc = -1;
			if (rc == 0 && o->reduce == QF_ACT_SAMPLE) {
				size_t cap = r->kk * 21 + 1, len = 0;
				char *txt = malloc(cap);

				if (!txt) {
					qf_rec_free(&out);
					return qf_err_set(e, "out of memory");
				}
				txt[0] = 0;
				for (uint64_t i = 0; i < r->kk; i++)
					len += (size_t)snprintf(txt + len, cap - len, "%s%" PRIu64,
							i ? "," : "", r->pos[i]);
				rc = qf_rec_set(&out, "positions", txt, e);
				free(txt);
			}
			if (rc == 0)
				rc = put(ctx, QF_ACT_OUT_STATE, &out, b, e);
		}
	qf_rec_free(&out);
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
	    qf_rec_set(&out, "kind", "attn_stats", e) < 0 ||
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
	    qf_rec_set(&out, "kind", "nll", e) < 0 ||
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

/* " (doc D)" of a token record, or "". */
static const char *doc_of(const qf_rec *rec, char *buf, size_t n)
{
	const char *doc = qf_rec_get(rec, "doc");

	if (!doc)
		return "";
	snprintf(buf, n, " (doc %s)", doc);
	return buf;
}

/* Read FROM's state records of the current document (ordinal r->ordinal,
 * token record rec of the stream named src) into r->from: those of the
 * chosen layers and sites.  Records of other kinds, layers or sites are
 * skipped; the first record of a later document is kept for the next
 * call. */
static int load_from(qf_act *r, const qf_rec *rec, const char *src,
		     qf_err *e)
{
	const char *fname = qf_reader_name(r->fr);
	int L = r->cfg->n_layer, got = 0, rc;
	uint64_t later = UINT64_MAX;
	char db[160];
	const char *doc = doc_of(rec, db, sizeof db);

	for (;;) {
		uint64_t ord, layer, n;
		char want[24];
		const char *kind, *site_s, *fnv_s;
		int site;
		float **slot;

		if (!r->fpending) {
			rc = qf_reader_next(r->fr, &r->frec, e);
			if (rc < 0)
				return -1;
			if (rc == 0)
				break;
			r->fpending = 1;
		}
		kind = qf_rec_get(&r->frec, "kind");
		if (!kind || strcmp(kind, "state") != 0 ||
		    from_attr(&r->frec, "ordinal", &ord) < 0 ||
		    ord < r->ordinal) {
			r->fpending = 0;
			continue;
		}
		if (ord > r->ordinal) {
			later = ord;
			break;
		}
		got = 1;
		r->fpending = 0;
		site_s = qf_rec_get(&r->frec, "site");
		site = site_s ? qf_site_parse(site_s) : -1;
		if (from_attr(&r->frec, "layer", &layer) < 0 || site < 0 ||
		    layer > (uint64_t)L)
			return qf_err_set(e, "%s: record %s: no valid layer and site attributes",
					  fname, r->frec.name);
		slot = &r->from[layer * (uint64_t)r->nsites + (uint64_t)site];
		if (!chosen(r, (int)layer, site))
			continue;
		fnv_s = qf_rec_get(&r->frec, "tokens_fnv");
		snprintf(want, sizeof want, "%016" PRIx64, r->fnv);
		if (from_attr(&r->frec, "tokens", &n) < 0 || n != r->n ||
		    (fnv_s && strcmp(fnv_s, want) != 0))
			return qf_err_set(e, "%s: record %s: made over other tokens than %s: record %s%s",
					  fname, r->frec.name, src, rec->name, doc);
		if (r->frec.ndim != 2 || r->frec.dims[0] != r->n ||
		    r->frec.dims[1] != (uint64_t)width(r, site))
			return qf_err_set(e, "%s: record %s: shape is not [%" PRIu64 ", %d] "
					  "(states per token, --reduce none)",
					  fname, r->frec.name, r->n, width(r, site));
		free(*slot);
		*slot = NULL;
		if (qf_reader_read_as(r->fr, QF_F32, (void **)slot, e) < 0)
			return -1;
	}
	for (int l = 0; l <= L; l++)
		for (int s = 0; s < r->nsites; s++) {
			if (!chosen(r, l, s) || r->from[l * r->nsites + s])
				continue;
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

/* positions: the mask of the current document. */
static int make_pmask(qf_act *r, qf_err *e)
{
	r->pmask = calloc(r->n, 1);
	if (!r->pmask)
		return qf_err_set(e, "out of memory");
	for (size_t i = 0; i < r->o.npositions; i++)
		if (r->o.positions[i] < r->n)
			r->pmask[r->o.positions[i]] = 1;
	return 0;
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
	qf_rec_init(&r->frec);
	r->fr = o->patch;
	r->layer_on = calloc((size_t)L + 1, 1);
	r->buf = calloc((size_t)(L + 1) * QF_SITE_COUNT, sizeof *r->buf);
	r->attn = calloc((size_t)L * cfg->n_head * 2, sizeof *r->attn);
	r->attn_n = calloc((size_t)L, sizeof *r->attn_n);
	r->ent = malloc((size_t)cfg->n_ctx * sizeof *r->ent);
	r->first = malloc((size_t)cfg->n_ctx * sizeof *r->first);
	if (o->patch)
		r->from = calloc((size_t)(L + 1) * QF_SITE_COUNT, sizeof *r->from);
	if (!r->layer_on || !r->buf || !r->attn || !r->attn_n || !r->ent ||
	    !r->first || (o->patch && !r->from)) {
		qf_act_free(r);
		qf_err_set(e, "out of memory");
		return NULL;
	}
	if (!o->layers) {
		memset(r->layer_on, 1, (size_t)L + 1);
	} else {
		for (size_t i = 0; i < o->nlayers; i++) {
			if (o->layers[i] >= (uint64_t)L) {
				qf_err_set(e, "layer %" PRIu64 " out of range (the model has %d)",
					   o->layers[i], L);
				qf_act_free(r);
				return NULL;
			}
			r->layer_on[o->layers[i]] = 1;
		}
		r->layer_on[L] = 1;	/* final_norm, when chosen as a site */
	}
	return r;
}

int qf_act_doc(qf_act *r, const char *src, const qf_rec *rec,
	       const int32_t *tok, uint64_t n, qf_act_put_fn put, void *ctx,
	       qf_err *e)
{
	const qf_act_opts *o = &r->o;
	int L = r->cfg->n_layer, rc = 0;
	uint64_t ordinal = r->ordinal;
	float *nll = NULL;
	qf_hooks h = { site_hook, 0, NULL, r, NULL };
	qf_err e2;

	r->n = n;
	r->fnv = qf_tokens_fnv(tok, r->n);
	if (r->n == 0) {
		const char *doc = qf_rec_get(rec, "doc");

		r->ordinal++;
		return qf_err_set(e, "%s: record %s%s%s%s: empty document",
				  src, rec->name,
				  doc ? " (doc " : "", doc ? doc : "",
				  doc ? ")" : "");
	}
	if (o->reduce == QF_ACT_SAMPLE) {
		r->slot = malloc(r->n * sizeof *r->slot);
		r->pos = malloc(r->n * sizeof *r->pos);
		if (!r->slot || !r->pos) {
			rc = qf_err_set(e, "out of memory");
			goto out;
		}
		sample(r, ordinal);
	}
	for (int l = 0; l <= L; l++)
		for (int s = 0; s < r->nsites; s++) {
			uint64_t rows = o->reduce == QF_ACT_NONE ? r->n
				: o->reduce == QF_ACT_SAMPLE ? r->kk : 1;

			if (!chosen(r, l, s))
				continue;
			r->buf[l * r->nsites + s] =
				calloc(rows * (uint64_t)width(r, s), sizeof(float));
			if (!r->buf[l * r->nsites + s]) {
				rc = qf_err_set(e, "out of memory");
				goto out;
			}
		}
	h.sites = o->sites;
	if (o->corrupt > 0)
		h.sites |= 1u << QF_SITE_RESID_PRE;
	if (r->fr && load_from(r, rec, src, e) < 0) {
		rc = -1;
		goto out;
	}
	if (o->npositions && make_pmask(r, e) < 0) {
		rc = -1;
		goto out;
	}
	if (o->attn) {
		h.attn = attn_hook;
		memset(r->attn, 0, (size_t)L * r->cfg->n_head * 2 * sizeof *r->attn);
		memset(r->attn_n, 0, (size_t)L * sizeof *r->attn_n);
	}
	if (o->nll && r->n > 1 && !(nll = malloc((r->n - 1) * sizeof *nll))) {
		rc = qf_err_set(e, "out of memory");
		goto out;
	}
	if (qf_model_nll(r->m, tok, r->n, o->window, o->stride, &h, nll, &e2) < 0) {
		const char *doc = qf_rec_get(rec, "doc");

		rc = qf_err_set(e, "%s: record %s%s%s%s: %s", src,
				rec->name, doc ? " (doc " : "", doc ? doc : "",
				doc ? ")" : "", e2.msg);
		goto out;
	}
	rc = write_states(r, put, ctx, rec, ordinal, e);
	if (rc == 0 && o->attn)
		rc = write_attn(r, put, ctx, rec, ordinal, e);
	if (rc == 0 && o->nll)
		rc = write_nll(put, ctx, rec, ordinal, r->n, r->fnv, nll, e);
out:
	r->ordinal++;
	for (int i = 0; i < (L + 1) * r->nsites; i++) {
		free(r->buf[i]);
		r->buf[i] = NULL;
		if (r->from) {
			free(r->from[i]);
			r->from[i] = NULL;
		}
	}
	free(r->pmask);
	r->pmask = NULL;
	free(r->slot);
	free(r->pos);
	r->slot = NULL;
	r->pos = NULL;
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
	qf_rec_free(&r->frec);
	free(r);
}
