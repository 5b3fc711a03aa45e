/*
 * model.c - a language model from a weight stream, and running it: the
 * config record, loading and checking the tensors, one forward pass
 * (embedding, blocks, final norm, head and NLL, with hooks), and windows
 * over a document longer than the context.
 *
 * What is particular to an architecture (its config attributes, tensors,
 * embedding, block and final norm) is behind struct qf_arch (gpt2.c);
 * docs/runtime.md describes the whole.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "model/runtime.h"

static const struct qf_arch *const arches[] = { &qf_arch_gpt2, NULL };

static const char *const site_names[QF_SITE_COUNT] = {
	"resid_pre", "ln1_out", "attn_z", "attn_out", "resid_mid", "ln2_out",
	"mlp_act", "mlp_out", "resid_post", "final_norm",
};

const char *qf_site_name(int site)
{
	return site >= 0 && site < QF_SITE_COUNT ? site_names[site] : NULL;
}

int qf_site_parse(const char *name)
{
	for (int i = 0; i < QF_SITE_COUNT; i++)
		if (strcmp(name, site_names[i]) == 0)
			return i;
	return -1;
}

const char *qf_arch_name(int arch)
{
	for (int i = 0; arches[i]; i++)
		if (arches[i]->id == arch)
			return arches[i]->name;
	return NULL;
}

/* ------------------------------------------------------------ config */

static const char *attr(const qf_rec *rec, const char *file, const char *key,
			qf_err *err)
{
	const char *v = qf_rec_get(rec, key);

	if (!v)
		qf_err_set(err, "%s: record config: attribute %s missing", file,
			   key);
	return v;
}

int qf_cfg_int(const qf_rec *rec, const char *file, const char *key,
	       int max, int *out, qf_err *err)
{
	const char *v = attr(rec, file, key, err);
	uint64_t u;
	qf_err e2;

	if (!v)
		return -1;
	if (qf_parse_u64(v, (uint64_t)max, &u, &e2) < 0 || u == 0)
		return qf_err_set(err, "%s: record config: %s='%s' is not an "
				  "integer in [1, %d]", file, key, v, max);
	*out = (int)u;
	return 0;
}

int qf_cfg_float(const qf_rec *rec, const char *file, const char *key,
		 float *out, qf_err *err)
{
	const char *v = attr(rec, file, key, err);
	double x;
	qf_err e2;

	if (!v)
		return -1;
	if (qf_parse_double(v, &x, &e2) < 0 || !(x >= 0 && x < 1))
		return qf_err_set(err, "%s: record config: %s='%s' is not a "
				  "number in [0, 1)", file, key, v);
	*out = (float)x;
	return 0;
}

int qf_cfg_bool(const qf_rec *rec, const char *file, const char *key,
		int *out, qf_err *err)
{
	const char *v = attr(rec, file, key, err);

	if (!v)
		return -1;
	if (strcmp(v, "true") == 0)
		*out = 1;
	else if (strcmp(v, "false") == 0)
		*out = 0;
	else
		return qf_err_set(err, "%s: record config: %s='%s' is neither "
				  "true nor false", file, key, v);
	return 0;
}

const char *qf_cfg_str(const qf_rec *rec, const char *file, const char *key,
		       qf_err *err)
{
	return attr(rec, file, key, err);
}

/* ------------------------------------------------------------ loading */

static int read_config(qf_model *m, const qf_rec *rec, qf_err *err)
{
	const char *arch = attr(rec, m->file, "arch", err);

	if (!arch)
		return -1;
	for (int i = 0; arches[i]; i++)
		if (strcmp(arch, arches[i]->name) == 0)
			m->arch = arches[i];
	if (!m->arch)
		return qf_err_set(err, "%s: record config: arch '%s' not "
				  "supported", m->file, arch);
	if (m->arch->config(&m->cfg, rec, m->file, err) < 0)
		return -1;
	m->cfg.arch = m->arch->id;
	return 0;
}

static struct qf_slot *find_slot(qf_model *m, const char *name)
{
	for (size_t i = 0; i < m->nslot; i++)
		if (strcmp(m->slot[i].name, name) == 0)
			return &m->slot[i];
	return NULL;
}

/* n floats for a weight, freed by free(): a large one aligned to 2 MiB
 * and, where the kernel has transparent huge pages on request, in them.
 * Loading writes each byte once, and on a virtual machine a page fault
 * per 4 KiB costs more than that: a third of the time of loading. */
static float *weight_alloc(uint64_t n)
{
	size_t bytes = (size_t)n * 4, huge = 2u << 20;
	void *p;

	if (bytes < huge)
		return malloc(bytes);
	if (posix_memalign(&p, huge, bytes) != 0)
		return NULL;
	madvise(p, bytes, MADV_HUGEPAGE);	/* a hint: no error matters */
	return p;
}

/* The payload of rec, n elements, as f32 into dst: read straight into it
 * when it is f32, else converted a piece at a time; no copy of the whole
 * is made. */
static int read_f32(qf_model *m, qf_reader *r, const qf_rec *rec, float *dst,
		    uint64_t n, qf_err *err)
{
	size_t es = qf_dtype_size(rec->dtype), piece = (1u << 20) / es;
	void *raw;
	qf_err e2;
	int rc = 0;

	if (rec->dtype == QF_F32)
		return qf_reader_read(r, dst, (size_t)n * 4, err) ==
			(int64_t)(n * 4) ? 0 : -1;
	if (!(raw = malloc(piece * es)))
		return qf_err_set(err, "%s: record %s: out of memory", m->file,
				  rec->name);
	for (uint64_t at = 0; at < n && rc == 0; at += piece) {
		size_t k = n - at < piece ? (size_t)(n - at) : piece;
		if (qf_reader_read(r, raw, k * es, err) != (int64_t)(k * es))
			rc = -1;
		else if (qf_convert(QF_F32, dst + at, rec->dtype, raw, k, &e2) < 0)
			rc = qf_err_set(err, "%s: record %s: %s", m->file,
					rec->name, e2.msg);
	}
	free(raw);
	return rc;
}

/* The tensor of the record just read into its slot. */
static int load_tensor(qf_model *m, qf_reader *r, const qf_rec *rec,
		       qf_err *err)
{
	struct qf_slot *s = find_slot(m, rec->name);
	char got[256], want[256];
	qf_rec shape;
	uint64_t n = qf_rec_numel(rec);
	float *buf;

	if (!s) {
		if (strcmp(rec->name, "head.weight") == 0 && m->cfg.tied)
			return qf_err_set(err, "%s: record head.weight: present "
					  "but the config says "
					  "tie_word_embeddings=true", m->file);
		return qf_err_set(err, "%s: record %s: not a tensor of a %s "
				  "model", m->file, rec->name, m->arch->name);
	}
	if (s->seen)
		return qf_err_set(err, "%s: record %s: appears twice", m->file,
				  rec->name);
	if (!qf_dtype_is_float(rec->dtype))
		return qf_err_set(err, "%s: record %s: dtype %s, expected a "
				  "floating-point dtype", m->file, rec->name,
				  qf_dtype_name(rec->dtype));
	if (rec->ndim != s->ndim || rec->dims[0] != s->dims[0] ||
	    (s->ndim == 2 && rec->dims[1] != s->dims[1])) {
		memset(&shape, 0, sizeof shape);
		shape.ndim = s->ndim;
		memcpy(shape.dims, s->dims, sizeof s->dims);
		return qf_err_set(err, "%s: record %s: shape %s, expected %s",
				  m->file, rec->name,
				  qf_rec_shape_str(rec, got, sizeof got),
				  qf_rec_shape_str(&shape, want, sizeof want));
	}
	if (n > SIZE_MAX / 4 || !(buf = weight_alloc(n)))
		return qf_err_set(err, "%s: record %s: out of memory", m->file,
				  rec->name);
	if (read_f32(m, r, rec, buf, n, err) < 0) {
		free(buf);
		return -1;
	}
	*s->dst = buf;
	s->seen = 1;
	return 0;
}

/* The records after the config into their slots (rec: a record header
 * to read into); every slot must be filled. */
static int load_tensors(qf_model *m, qf_reader *r, qf_rec *rec, qf_err *err)
{
	int rc;

	while ((rc = qf_reader_next(r, rec, err)) > 0)
		if (load_tensor(m, r, rec, err) < 0)
			return -1;
	if (rc < 0)
		return -1;
	for (size_t i = 0; i < m->nslot; i++)
		if (!m->slot[i].seen)
			return qf_err_set(err, "%s: record %s: missing", m->file,
					  m->slot[i].name);
	return 0;
}

qf_model *qf_model_read(qf_reader *r, qf_err *err)
{
	qf_model *m = calloc(1, sizeof *m);
	qf_rec rec;
	int rc;

	qf_rec_init(&rec);
	if (!m || !(m->file = strdup(qf_reader_name(r)))) {
		free(m);
		qf_err_set(err, "out of memory");
		return NULL;
	}
	rc = qf_reader_next(r, &rec, err);
	if (rc == 0)
		qf_err_set(err, "%s: no records, expected a config record first",
			   m->file);
	else if (rc > 0 && strcmp(rec.name, "config") != 0)
		qf_err_set(err, "%s: record %s: expected the config record "
			   "first", m->file, rec.name);
	if (rc <= 0 || strcmp(rec.name, "config") != 0 ||
	    read_config(m, &rec, err) < 0)
		goto fail;

	m->layer = calloc((size_t)m->cfg.n_layer, sizeof *m->layer);
	m->nslot = m->arch->slots(m, NULL);
	m->slot = calloc(m->nslot, sizeof *m->slot);
	if (!m->layer || !m->slot) {
		qf_err_set(err, "out of memory");
		goto fail;
	}
	m->arch->slots(m, m->slot);
	if (load_tensors(m, r, &rec, err) < 0)
		goto fail;
	if (m->cfg.tied)
		m->head = m->tok_emb;
	m->threads = qf_blas_threads();
	if (!(m->pool = qf_pool_new(m->threads, err)))
		goto fail;
	qf_rec_free(&rec);
	return m;
fail:
	qf_rec_free(&rec);
	qf_model_free(m);
	return NULL;
}

qf_model *qf_model_load(const char *path, qf_err *err)
{
	qf_reader *r = qf_reader_open(path, err);
	qf_model *m;

	if (!r)
		return NULL;
	m = qf_model_read(r, err);
	qf_reader_close(r);
	return m;
}

const qf_model_config *qf_model_cfg(const qf_model *m)
{
	return &m->cfg;
}

int qf_model_set_threads(qf_model *m, int n, qf_err *err)
{
	if (qf_pool_replace(&m->pool, n, err) < 0)
		return -1;
	m->threads = n;
	qf_blas_set_threads(n);
	free(m->scratch);		/* one per thread: made again */
	m->scratch = NULL;
	return 0;
}

void qf_model_free(qf_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nslot; i++)
		if (m->slot[i].seen)
			free(*m->slot[i].dst);
	free(m->slot);
	free(m->layer);
	qf_pool_free(m->pool);
	free(m->act);
	free(m->probs);
	free(m->scratch);
	free(m->logit_blk);
	free(m->file);
	free(m);
}

/* ------------------------------------------------------------ hooks */

/* What the hook about to be called is given. */
static void set_info(struct qf_fwd *f, int layer, int site, int T, int d)
{
	f->info.layer = layer;
	f->info.site = site;
	f->info.T = T;
	f->info.d = d;
	f->info.err->msg[0] = '\0';
}

/* What a hook returned, as the pass's status. */
static int hook_status(struct qf_fwd *f, int rc)
{
	if (rc == 0)
		return 0;
	if (rc > 0)
		return 1;
	if (!f->info.err->msg[0])
		qf_err_set(f->info.err, "hook failed at layer %d site %s",
			   f->info.layer, f->info.site == -2 ? "logits" :
			   f->info.site < 0 ? "attention" :
			   qf_site_name(f->info.site));
	return -1;
}

int qf_fwd_site(struct qf_fwd *f, int layer, int site, float *buf,
		int width)
{
	const qf_hooks *h = f->h;

	if (!h || !h->fn || !(h->sites & 1u << site))
		return 0;
	set_info(f, layer, site, f->T, width);
	return hook_status(f, h->fn(h->ctx, &f->info, buf));
}

int qf_fwd_attention(struct qf_fwd *f, int layer)
{
	qf_model *m = f->m;
	const qf_model_config *c = &m->cfg;
	int hd = c->head_dim, width = (c->n_head + 2 * c->n_kv_head) * hd;
	struct qf_attn a = {
		.out = f->z, .ldo = c->n_head * hd,
		.q = f->qkv, .ldq = width,
		.k = f->qkv + c->n_head * hd,
		.v = f->qkv + (c->n_head + c->n_kv_head) * hd, .ldkv = width,
		.T = f->T, .n_head = c->n_head, .n_kv_head = c->n_kv_head,
		.hd = hd, .scratch = m->scratch, .ld_scratch = c->n_ctx,
	};
	int rc;

	if (!f->h || !f->h->attn) {
		qf_attention(f->pool, &a, QF_ATTN_ALL);
		return 0;
	}
	a.probs = m->probs;
	qf_attention(f->pool, &a, QF_ATTN_PROBS);
	set_info(f, layer, -1, f->T, c->n_head);
	if ((rc = hook_status(f, f->h->attn(f->h->ctx, &f->info, m->probs))))
		return rc;
	qf_attention(f->pool, &a, QF_ATTN_APPLY);
	return 0;
}

void qf_attn_row_stats(const float *p, int T, float *entropy, float *first)
{
	for (int i = 0; i < T; i++) {
		const float *row = p + (size_t)i * T;
		double h = 0;

		for (int j = 0; j <= i; j++)
			if (row[j] > 0)
				h -= (double)row[j] * log((double)row[j]);
		if (entropy)
			entropy[i] = (float)h;
		if (first)
			first[i] = row[0];
	}
}

/* ------------------------------------------------------------ one pass */

/* The activations (for n_ctx rows), the attention scratch (per thread),
 * the block of logits and, for an attention hook, the probabilities. */
static int buffers(qf_model *m, const qf_hooks *h, qf_err *err)
{
	const qf_model_config *c = &m->cfg;
	size_t C = (size_t)c->n_ctx, d = (size_t)c->n_embd;
	size_t qkv = (size_t)(c->n_head + 2 * c->n_kv_head) * c->head_dim;

	if (!m->act)
		m->act = malloc(C * (4 * d + qkv + (size_t)c->n_inner) *
				sizeof *m->act);
	if (!m->scratch)
		m->scratch = malloc((size_t)m->threads * QF_ATTN_QB * C *
				    sizeof *m->scratch);
	if (!m->logit_blk)
		m->logit_blk = malloc((size_t)QF_HEAD_ROWS * c->vocab_size *
				      sizeof *m->logit_blk);
	if (h && h->attn && !m->probs)
		m->probs = malloc((size_t)c->n_head * C * C * sizeof *m->probs);
	if (!m->act || !m->scratch || !m->logit_blk || (h && h->attn && !m->probs))
		return qf_err_set(err, "out of memory for the activations");
	return 0;
}

struct nll_job {
	const float *logits;	/* rows [r0, r0 + n) */
	const int32_t *tok;
	float *nll;		/* nll[r - row0] for row r */
	int r0, n, row0, V;
};

static void nll_task(void *ctx, int task, int tid)
{
	const struct nll_job *j = ctx;
	int r = j->r0 + task;

	(void)tid;
	/* without grad the row is only read */
	j->nll[r - j->row0] = qf_ce_row((float *)(j->logits + (size_t)task * j->V),
					j->V, j->tok[r + 1], 0, 0);
}

/* Logits of the rows of xf [T, d] (all of them into logits if it is not
 * NULL, else only those with a target at or after row0) and the NLL of
 * rows row0 .. T-2 into nll[0 ..]. */
static int head_nll(struct qf_fwd *f, const float *xf, float *logits,
		    float *nll, int row0)
{
	qf_model *m = f->m;
	int V = m->cfg.vocab_size, d = m->cfg.n_embd, T = f->T;
	int from = logits ? 0 : row0, to = logits ? T : T - 1;
	qf_logits_fn hook = f->h && !logits ? f->h->logits : NULL;
	int64_t pos = f->info.pos;
	int rc;

	if (!logits && !nll && !hook)
		return 0;
	for (int r0 = from; r0 < to; r0 += QF_HEAD_ROWS) {
		int n = to - r0 < QF_HEAD_ROWS ? to - r0 : QF_HEAD_ROWS;
		float *L = logits ? logits + (size_t)r0 * V : m->logit_blk;
		struct nll_job j = { L, f->tok, nll, r0, n, row0, V };
		int skip;

		qf_linear(f->pool, L, xf + (size_t)r0 * d, m->head, NULL, n, d, V);
		if (!nll && !hook)
			continue;
		/* rows before row0 and the last row have no target here */
		skip = row0 > r0 ? row0 - r0 : 0;
		if (skip >= n)
			continue;
		j.logits = L + (size_t)skip * V;
		j.r0 = r0 + skip;
		j.n = (r0 + n < T - 1 ? r0 + n : T - 1) - j.r0;
		if (j.n <= 0)
			continue;
		if (hook) {
			set_info(f, m->cfg.n_layer, -2, j.n, V);
			f->info.pos = pos + j.r0;
			rc = hook_status(f, hook(f->h->ctx, &f->info, j.logits));
			f->info.pos = pos;
			if (rc)
				return rc;
		}
		if (nll)
			qf_pool_run(f->pool, j.n, nll_task, &j);
	}
	return 0;
}

/* A pass's state over tok[0..T): the model's activations, split. */
static void fwd_init(struct qf_fwd *f, qf_model *m, const int32_t *tok, int T,
		     const qf_hooks *h)
{
	const qf_model_config *c = &m->cfg;
	size_t C = (size_t)c->n_ctx, d = (size_t)c->n_embd;

	memset(f, 0, sizeof *f);
	f->m = m;
	f->pool = m->pool;
	f->tok = tok;
	f->T = T;
	f->x = m->act;
	f->ln = f->x + C * d;
	f->z = f->ln + C * d;
	f->o = f->z + C * d;
	f->qkv = f->o + C * d;
	f->fc = f->qkv + C * (size_t)(c->n_head + 2 * c->n_kv_head) * c->head_dim;
	f->h = h;
}

/* A pass over checked tokens tok[0..T): pos and first_new for the hooks,
 * logits [T, V] or NULL, NLL of rows row0 .. T-2 into nll or NULL. */
static int pass(qf_model *m, const int32_t *tok, int T, const qf_hooks *h,
		int64_t pos, int first_new, float *logits, float *nll,
		int row0, qf_err *err)
{
	const qf_model_config *c = &m->cfg;
	int d = c->n_embd;
	struct qf_fwd f;
	qf_err herr;
	int rc = 0, nb;

	if (buffers(m, h, err) < 0)
		return -1;
	fwd_init(&f, m, tok, T, h);
	f.info.pos = pos;
	f.info.first_new = first_new;
	f.info.err = &herr;

	/* the pool's threads share out every product: OpenBLAS's own threads
	 * would spin beside them */
	nb = qf_blas_threads();
	if (qf_pool_size(f.pool) > 1 && nb > 1)
		qf_blas_set_threads(1);
	m->arch->embed(&f);
	for (int l = 0; l < c->n_layer && !rc; l++) {
		rc = qf_fwd_site(&f, l, QF_SITE_RESID_PRE, f.x, d);
		if (!rc)
			rc = m->arch->block(&f, l);
	}
	if (!rc) {
		m->arch->final_norm(&f, f.ln);
		rc = qf_fwd_site(&f, c->n_layer, QF_SITE_FINAL_NORM, f.ln, d);
	}
	if (!rc)
		rc = head_nll(&f, f.ln, logits, nll, row0);
	if (qf_pool_size(f.pool) > 1 && nb > 1)
		qf_blas_set_threads(nb);
	if (rc < 0)
		qf_err_set(err, "%s", herr.msg);
	return rc;
}

static int check_tokens(const qf_model *m, const int32_t *tok, uint64_t n,
			qf_err *err)
{
	if (n == 0)
		return qf_err_set(err, "empty document");
	for (uint64_t i = 0; i < n; i++)
		if (tok[i] < 0 || tok[i] >= m->cfg.vocab_size)
			return qf_err_set(err, "token id %" PRId32 " at position "
					  "%" PRIu64 " out of range (vocab_size "
					  "%d)", tok[i], i, m->cfg.vocab_size);
	return 0;
}

int qf_model_forward(qf_model *m, const int32_t *tok, int T,
		     const qf_hooks *h, float *logits, float *nll, qf_err *err)
{
	if (T < 0)
		T = 0;
	if (check_tokens(m, tok, (uint64_t)T, err) < 0)
		return -1;
	if (T > m->cfg.n_ctx)
		return qf_err_set(err, "document of %d tokens longer than n_ctx "
				  "%d", T, m->cfg.n_ctx);
	return pass(m, tok, T, h, 0, 0, logits, nll, 0, err);
}

/* ------------------------------------------------------------ windows */

/* The window after *w (the first when w->end is 0); 0 after the last. */
static int next_window(uint64_t n, int window, int stride, qf_window *w)
{
	if (w->end == 0) {
		w->begin = 0;
		w->first = 1;
	} else if (w->end >= n) {
		return 0;
	} else {
		w->begin += (uint64_t)stride;
		w->first = w->end;
	}
	w->end = w->begin + (uint64_t)window < n ? w->begin + (uint64_t)window : n;
	return 1;
}

/* The pass of window w (checked) over the document tok. */
static int run_window(qf_model *m, const int32_t *tok, const qf_window *w,
		      const qf_hooks *h, float *nll, qf_err *err)
{
	int T = (int)(w->end - w->begin);
	int first_new = w->begin == 0 ? 0 : (int)(w->first - w->begin);
	int row0 = (int)(w->first - 1 - w->begin);
	float *out = nll ? nll + w->first - 1 : NULL;
	int rc;

	rc = pass(m, tok + w->begin, T, h, (int64_t)w->begin, first_new, NULL,
		  out, row0, err);
	if (rc > 0 && out)
		for (uint64_t p = w->first; p < w->end; p++)
			nll[p - 1] = NAN;
	return rc;
}

int qf_window_check(int window, int stride, int n_ctx, qf_err *err)
{
	int W = window >= 0 ? window : n_ctx;

	if (window >= 0 && (window < 2 || window > n_ctx))
		return qf_err_set(err, "--window %d out of range [2, n_ctx %d]",
				  window, n_ctx);
	if (stride >= 0 && (stride < 1 || stride >= W))
		return qf_err_set(err, "--stride %d out of range [1, window %d)",
				  stride, W);
	return 0;
}

uint64_t qf_windows(uint64_t n, int window, int stride, qf_window *w)
{
	qf_window cur = { 0, 0, 0 };
	uint64_t k = 0;

	if (n == 0 || window < 2 || stride < 1 || stride >= window)
		return 0;
	while (next_window(n, window, stride, &cur)) {
		if (w)
			w[k] = cur;
		k++;
	}
	return k;
}

int qf_model_nll(qf_model *m, const int32_t *tok, uint64_t n, int window,
		 int stride, const qf_hooks *h, float *nll, qf_err *err)
{
	qf_window w = { 0, 0, 0 };

	if (window == 0)
		window = m->cfg.n_ctx;
	if (stride == 0)
		stride = window / 2 > 0 ? window / 2 : 1;
	if (window < 2 || window > m->cfg.n_ctx)
		return qf_err_set(err, "window %d out of range [2, n_ctx %d]",
				  window, m->cfg.n_ctx);
	if (stride < 1 || stride >= window)
		return qf_err_set(err, "stride %d out of range [1, window %d)",
				  stride, window);
	if (check_tokens(m, tok, n, err) < 0)
		return -1;
	while (next_window(n, window, stride, &w))
		if (run_window(m, tok, &w, h, nll, err) < 0)
			return -1;
	return 0;
}

int qf_model_window(qf_model *m, const int32_t *tok, uint64_t n,
		    const qf_window *w, const qf_hooks *h, float *nll,
		    qf_err *err)
{
	if (!(w->begin < w->end && w->end <= n && w->first >= 1 &&
	      w->first >= w->begin && w->first <= w->end))
		return qf_err_set(err, "window [%" PRIu64 ", %" PRIu64 ") "
				  "scoring from %" PRIu64 " does not fit a "
				  "document of %" PRIu64 " tokens", w->begin,
				  w->end, w->first, n);
	if (w->end - w->begin > (uint64_t)m->cfg.n_ctx)
		return qf_err_set(err, "window of %" PRIu64 " tokens longer "
				  "than n_ctx %d", w->end - w->begin,
				  m->cfg.n_ctx);
	if (check_tokens(m, tok + w->begin, w->end - w->begin, err) < 0)
		return -1;
	return run_window(m, tok, w, h, nll, err);
}
