/*
 * wplan.c - map a checkpoint's tensors to qf's canonical weight naming
 * (formats/weights.md) and read them in canonical layout.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/ckpt_impl.h"

/* One GPT-2 parameter: its Hugging Face name (after "h.N." for block
 * parameters), its GGUF name (after "blk.N."), its canonical name (after
 * "layers.N."), and attributes. */
struct param {
	const char *hf, *gguf, *canon, *kind, *module, *param;
	int conv1d;	/* HF stores it [in, out] */
};

static const struct param block_params[] = {
	{ "ln_1.weight", "attn_norm.weight", "ln1.weight", "ln_weight", "ln1", "weight", 0 },
	{ "ln_1.bias", "attn_norm.bias", "ln1.bias", "ln_bias", "ln1", "bias", 0 },
	{ "attn.c_attn.weight", "attn_qkv.weight", "attn.qkv.weight", "attn_qkv", "attn_qkv", "weight", 1 },
	{ "attn.c_attn.bias", "attn_qkv.bias", "attn.qkv.bias", "bias", "attn_qkv", "bias", 0 },
	{ "attn.c_proj.weight", "attn_output.weight", "attn.out.weight", "attn_out", "attn_out", "weight", 1 },
	{ "attn.c_proj.bias", "attn_output.bias", "attn.out.bias", "bias", "attn_out", "bias", 0 },
	{ "ln_2.weight", "ffn_norm.weight", "ln2.weight", "ln_weight", "ln2", "weight", 0 },
	{ "ln_2.bias", "ffn_norm.bias", "ln2.bias", "ln_bias", "ln2", "bias", 0 },
	{ "mlp.c_fc.weight", "ffn_up.weight", "mlp.in.weight", "mlp_in", "mlp_in", "weight", 1 },
	{ "mlp.c_fc.bias", "ffn_up.bias", "mlp.in.bias", "bias", "mlp_in", "bias", 0 },
	{ "mlp.c_proj.weight", "ffn_down.weight", "mlp.out.weight", "mlp_out", "mlp_out", "weight", 1 },
	{ "mlp.c_proj.bias", "ffn_down.bias", "mlp.out.bias", "bias", "mlp_out", "bias", 0 },
};
#define NBLOCK (sizeof block_params / sizeof *block_params)

enum { G_TOK, G_POS, G_LNF_W, G_LNF_B, G_HEAD, NGLOBAL };
static const struct param global_params[NGLOBAL] = {
	{ "wte.weight", "token_embd.weight", "tok_emb.weight", "tok_emb", "tok_emb", "weight", 0 },
	{ "wpe.weight", "position_embd.weight", "pos_emb.weight", "pos_emb", "pos_emb", "weight", 0 },
	{ "ln_f.weight", "output_norm.weight", "final_norm.weight", "ln_weight", "ln_f", "weight", 0 },
	{ "ln_f.bias", "output_norm.bias", "final_norm.bias", "ln_bias", "ln_f", "bias", 0 },
	{ "lm_head.weight", "output.weight", "head.weight", "head", "head", "weight", 0 },
};

#define MAX_LAYERS 4096

/* Where each parameter was found: tensor index + 1 (0: absent). */
struct found {
	size_t global[NGLOBAL];
	size_t *block;		/* [layers][NBLOCK] */
	size_t nlayers;		/* 1 + highest layer index seen */
	int gguf;		/* names were GGUF's */
	size_t skipped;
};

/* Parse "N." at s: the layer index and the rest after the dot. */
static int layer_of(const char *s, size_t *layer, const char **rest)
{
	size_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
		return -1;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (size_t)(*p - '0');
		if (v >= MAX_LAYERS)
			return -1;
		p++;
	}
	if (*p != '.')
		return -1;
	*layer = v;
	*rest = p + 1;
	return 0;
}

static int note(struct found *f, size_t *slot, size_t idx, const qf_ckpt *c,
		qf_err *err)
{
	if (*slot)
		return qf_err_set(err, "%s: tensors %s and %s are the same "
				  "parameter", c->path, c->t[*slot - 1].name,
				  c->t[idx].name);
	*slot = idx + 1;
	(void)f;
	return 0;
}

static int grow_layers(struct found *f, size_t layer, const qf_ckpt *c,
		       qf_err *err)
{
	size_t *b;

	if (layer < f->nlayers)
		return 0;
	b = realloc(f->block, (layer + 1) * NBLOCK * sizeof *b);
	if (!b)
		return qf_err_set(err, "%s: out of memory", c->path);
	memset(b + f->nlayers * NBLOCK, 0,
	       (layer + 1 - f->nlayers) * NBLOCK * sizeof *b);
	f->block = b;
	f->nlayers = layer + 1;
	return 0;
}

/* Classify tensor idx by its name. */
static int classify(struct found *f, const qf_ckpt *c, size_t idx, qf_err *err)
{
	const char *name = c->t[idx].name, *rest;
	size_t layer;
	int gguf = 0;

	if (strncmp(name, "transformer.", 12) == 0)
		name += 12;
	for (int g = 0; g < NGLOBAL; g++) {
		if (strcmp(name, global_params[g].hf) == 0 ||
		    (gguf = strcmp(name, global_params[g].gguf) == 0)) {
			f->gguf |= gguf;
			return note(f, &f->global[g], idx, c, err);
		}
	}
	if (strncmp(name, "h.", 2) == 0 && layer_of(name + 2, &layer, &rest) == 0) {
		if (strcmp(rest, "attn.bias") == 0 ||
		    strcmp(rest, "attn.masked_bias") == 0) {
			f->skipped++;
			return 0;
		}
		for (size_t k = 0; k < NBLOCK; k++) {
			if (strcmp(rest, block_params[k].hf) == 0) {
				if (grow_layers(f, layer, c, err) < 0)
					return -1;
				return note(f, &f->block[layer * NBLOCK + k], idx, c, err);
			}
		}
	}
	if (strncmp(name, "blk.", 4) == 0 && layer_of(name + 4, &layer, &rest) == 0) {
		for (size_t k = 0; k < NBLOCK; k++) {
			if (strcmp(rest, block_params[k].gguf) == 0) {
				f->gguf = 1;
				if (grow_layers(f, layer, c, err) < 0)
					return -1;
				return note(f, &f->block[layer * NBLOCK + k], idx, c, err);
			}
		}
	}
	return qf_err_set(err, "%s: tensor %s: not a GPT-2 parameter (qf-extract "
			  "--raw keeps every tensor as it is)", c->path,
			  c->t[idx].name);
}

/* ------------------------------------------------------------ config */

/* The first of several metadata keys that is present. */
static const char *meta_any(const qf_ckpt *c, const char *a, const char *b,
			    const char *d)
{
	const char *v = qf_rec_get(&c->meta, a);

	if (!v && b)
		v = qf_rec_get(&c->meta, b);
	if (!v && d)
		v = qf_rec_get(&c->meta, d);
	return v;
}

struct dims {
	uint64_t vocab, d, ctx, layers, inner, heads;
};

/* A config value: the metadata's, which must agree with the shapes'
 * (have), or the shapes' when the metadata lacks it. */
static int settle(const qf_ckpt *c, const char *key, const char *metav,
		  uint64_t have, uint64_t *out, qf_err *err)
{
	uint64_t v;
	qf_err e2;

	if (!metav) {
		*out = have;
		return 0;
	}
	if (qf_parse_u64(metav, UINT64_MAX, &v, &e2) < 0)
		return qf_err_set(err, "%s: config %s: %s", c->path, key, e2.msg);
	if (have && v != have)
		return qf_err_set(err, "%s: config says %s=%" PRIu64 " but the "
				  "tensors say %" PRIu64, c->path, key, v, have);
	*out = v;
	return 0;
}

static const qf_ckpt_tensor *tensor(const qf_ckpt *c, size_t slot)
{
	return slot ? &c->t[slot - 1] : NULL;
}

static int make_config(const qf_ckpt *c, const struct found *f,
		       struct dims *dm, int tied, qf_rec *cfg, qf_err *err)
{
	const qf_ckpt_tensor *tok = tensor(c, f->global[G_TOK]);
	const qf_ckpt_tensor *pos = tensor(c, f->global[G_POS]);
	const qf_ckpt_tensor *fc = tensor(c, f->block[NBLOCK * 0 + 8]);
	const char *v;
	int rc = 0;

	memset(dm, 0, sizeof *dm);
	rc |= settle(c, "vocab_size", meta_any(c, "vocab_size", NULL, NULL),
		     tok->dims[0], &dm->vocab, err);
	rc |= rc ? 0 : settle(c, "n_embd", meta_any(c, "n_embd",
			      "gpt2.embedding_length", NULL), tok->dims[1], &dm->d, err);
	rc |= rc ? 0 : settle(c, "n_positions", meta_any(c, "n_positions",
			      "n_ctx", "gpt2.context_length"), pos->dims[0], &dm->ctx, err);
	rc |= rc ? 0 : settle(c, "n_layer", meta_any(c, "n_layer",
			      "gpt2.block_count", NULL), f->nlayers, &dm->layers, err);
	/* the MLP width: the larger dim of mlp.in, whatever its layout */
	uint64_t inner = fc->dims[0] > fc->dims[1] ? fc->dims[0] : fc->dims[1];
	v = meta_any(c, "n_inner", "gpt2.feed_forward_length", NULL);
	if (v && strcmp(v, "null") == 0)
		v = NULL;
	rc |= rc ? 0 : settle(c, "n_inner", v, inner, &dm->inner, err);
	rc |= rc ? 0 : settle(c, "n_head", meta_any(c, "n_head",
			      "gpt2.attention.head_count", NULL), 0, &dm->heads, err);
	if (rc)
		return -1;
	if (dm->heads && dm->d % dm->heads)
		return qf_err_set(err, "%s: n_embd %" PRIu64 " is not a multiple "
				  "of n_head %" PRIu64, c->path, dm->d, dm->heads);

	qf_rec_init(cfg);
	rc |= qf_rec_set_name(cfg, "config", err);
	uint64_t zero = 0;
	rc |= qf_rec_set_shape(cfg, QF_U8, 1, &zero, err);
	rc |= qf_rec_set(cfg, "kind", "config", err);
	rc |= qf_rec_set(cfg, "arch", "gpt2", err);
	rc |= qf_rec_setf(cfg, err, "n_layer", "%" PRIu64, dm->layers);
	rc |= qf_rec_setf(cfg, err, "n_embd", "%" PRIu64, dm->d);
	if (dm->heads)
		rc |= qf_rec_setf(cfg, err, "n_head", "%" PRIu64, dm->heads);
	rc |= qf_rec_setf(cfg, err, "n_ctx", "%" PRIu64, dm->ctx);
	rc |= qf_rec_setf(cfg, err, "n_inner", "%" PRIu64, dm->inner);
	rc |= qf_rec_setf(cfg, err, "vocab_size", "%" PRIu64, dm->vocab);
	v = meta_any(c, "layer_norm_epsilon", "gpt2.attention.layer_norm_epsilon",
		     NULL);
	rc |= qf_rec_set(cfg, "layer_norm_epsilon", v ? v : "1e-05", err);
	v = meta_any(c, "activation_function", NULL, NULL);
	if (v && strcmp(v, "gelu_new") != 0)
		return qf_err_set(err, "%s: activation_function %s is not "
				  "supported (gelu_new)", c->path, v);
	rc |= qf_rec_set(cfg, "activation", "gelu_new", err);
	rc |= qf_rec_set(cfg, "tie_word_embeddings", tied ? "true" : "false", err);
	rc |= qf_rec_set(cfg, "source_format", qf_ckpt_format(c), err);
	return rc ? -1 : 0;
}

/* ------------------------------------------------------------ plan */

static int add_item(qf_wplan *p, size_t *cap, const qf_ckpt *c, size_t src,
		    const struct param *pr, long layer, int transpose,
		    const uint64_t *shape, int ndim, qf_err *err)
{
	qf_wplan_item *it;
	char name[128];
	int rc = 0;

	if (p->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		it = realloc(p->items, nc * sizeof *it);
		if (!it)
			return qf_err_set(err, "%s: out of memory", c->path);
		p->items = it;
		*cap = nc;
	}
	it = &p->items[p->n];
	memset(it, 0, sizeof *it);
	qf_rec_init(&it->rec);
	p->n++;
	it->src = src;
	it->transpose = transpose;
	if (layer >= 0)
		snprintf(name, sizeof name, "layers.%ld.%s", layer, pr->canon);
	else
		snprintf(name, sizeof name, "%s", pr->canon);
	rc |= qf_rec_set_name(&it->rec, name, err);
	rc |= qf_rec_set_shape(&it->rec, c->t[src].dtype, ndim, shape, err);
	rc |= qf_rec_set(&it->rec, "kind", pr->kind, err);
	rc |= qf_rec_set(&it->rec, "module", pr->module, err);
	rc |= qf_rec_set(&it->rec, "param", pr->param, err);
	if (layer >= 0)
		rc |= qf_rec_setf(&it->rec, err, "layer", "%ld", layer);
	rc |= qf_rec_set(&it->rec, "orig", c->t[src].name, err);
	rc |= qf_rec_set(&it->rec, "src_type", c->t[src].src_type, err);
	return rc ? -1 : 0;
}

/* The canonical shape of a parameter given the model's dims. */
static int canon_shape(const struct param *pr, const struct dims *dm,
		       uint64_t *s)
{
	const char *m = pr->module;
	int w = strcmp(pr->param, "weight") == 0;

	if (strcmp(m, "tok_emb") == 0 || strcmp(m, "head") == 0)
		return s[0] = dm->vocab, s[1] = dm->d, 2;
	if (strcmp(m, "pos_emb") == 0)
		return s[0] = dm->ctx, s[1] = dm->d, 2;
	if (strncmp(m, "ln", 2) == 0)
		return s[0] = dm->d, 1;
	if (strcmp(m, "attn_qkv") == 0)
		return w ? (s[0] = 3 * dm->d, s[1] = dm->d, 2) : (s[0] = 3 * dm->d, 1);
	if (strcmp(m, "attn_out") == 0)
		return w ? (s[0] = dm->d, s[1] = dm->d, 2) : (s[0] = dm->d, 1);
	if (strcmp(m, "mlp_in") == 0)
		return w ? (s[0] = dm->inner, s[1] = dm->d, 2) : (s[0] = dm->inner, 1);
	/* mlp_out */
	return w ? (s[0] = dm->d, s[1] = dm->inner, 2) : (s[0] = dm->d, 1);
}

static int plan_param(qf_wplan *p, size_t *cap, const qf_ckpt *c,
		      const struct found *f, size_t slot, const struct param *pr,
		      long layer, const struct dims *dm, qf_err *err)
{
	const qf_ckpt_tensor *t = tensor(c, slot);
	uint64_t want[2], stored[2];
	int nd = canon_shape(pr, dm, want);
	int tr = pr->conv1d && !f->gguf;
	char where[160];

	if (layer >= 0)
		snprintf(where, sizeof where, "layer %ld %s", layer, pr->canon);
	else
		snprintf(where, sizeof where, "%s", pr->canon);
	if (!t)
		return qf_err_set(err, "%s: missing tensor for %s (%s%s)", c->path,
				  where, layer >= 0 ? (f->gguf ? "blk.N." : "h.N.") : "",
				  f->gguf ? pr->gguf : pr->hf);
	stored[0] = tr ? want[1] : want[0];
	stored[1] = tr ? want[0] : want[1];
	if (t->ndim != nd || t->dims[0] != stored[0] ||
	    (nd == 2 && t->dims[1] != stored[1])) {
		char got[128];
		qf_rec r;
		qf_rec_init(&r);
		r.ndim = t->ndim;
		memcpy(r.dims, t->dims, sizeof r.dims);
		qf_rec_shape_str(&r, got, sizeof got);
		return qf_err_set(err, "%s: tensor %s: shape %s, expected [%" PRIu64
				  "%s%.0" PRIu64 "] for %s", c->path, t->name, got,
				  stored[0], nd == 2 ? ", " : "",
				  nd == 2 ? stored[1] : 0, where);
	}
	if (!qf_dtype_is_float(t->dtype))
		return qf_err_set(err, "%s: tensor %s: dtype %s, expected a float "
				  "type", c->path, t->name, qf_dtype_name(t->dtype));
	return add_item(p, cap, c, slot - 1, pr, layer, tr, want, nd, err);
}

/* Every tensor classified; the embeddings and layer 0's block must be
 * there, with the dimensions the config is read from. */
static int find_params(const qf_ckpt *c, struct found *f, qf_err *err)
{
	for (size_t i = 0; i < c->n; i++)
		if (classify(f, c, i, err) < 0)
			return -1;
	if (!f->global[G_TOK] || !f->global[G_POS] || !f->nlayers)
		return qf_err_set(err, "%s: no GPT-2 model here (token and "
				  "position embeddings and blocks are required)",
				  c->path);
	if (tensor(c, f->global[G_TOK])->ndim != 2 ||
	    tensor(c, f->global[G_POS])->ndim != 2)
		return qf_err_set(err, "%s: embeddings must be 2-dimensional",
				  c->path);
	for (size_t k = 0; k < NBLOCK; k++)
		if (!f->block[k])
			return qf_err_set(err, "%s: missing tensor for layer 0 %s "
					  "(%s%s)", c->path, block_params[k].canon,
					  f->gguf ? "blk.N." : "h.N.",
					  f->gguf ? block_params[k].gguf :
					  block_params[k].hf);
	if (tensor(c, f->block[8])->ndim != 2)
		return qf_err_set(err, "%s: tensor %s must be 2-dimensional",
				  c->path, tensor(c, f->block[8])->name);
	return 0;
}

/* The head is tied when absent or stored in the embedding's bytes. */
static int head_tied(const qf_ckpt *c, const struct found *f)
{
	const qf_ckpt_tensor *tok = tensor(c, f->global[G_TOK]);
	const qf_ckpt_tensor *head = tensor(c, f->global[G_HEAD]);

	return !head || (strcmp(head->file, tok->file) == 0 &&
			 head->offset == tok->offset && head->nbytes == tok->nbytes &&
			 strcmp(qf_ckpt_format(c), "torch") == 0);
}

/* The items in canonical order: embeddings, blocks, final norm, and the
 * head unless it is tied. */
static int plan_items(qf_wplan *p, const qf_ckpt *c, const struct found *f,
		      const struct dims *dm, int tied, qf_err *err)
{
	size_t cap = 0;

	for (int g = G_TOK; g <= G_POS; g++)
		if (plan_param(p, &cap, c, f, f->global[g], &global_params[g],
			       -1, dm, err) < 0)
			return -1;
	for (size_t l = 0; l < dm->layers; l++)
		for (size_t k = 0; k < NBLOCK; k++)
			if (plan_param(p, &cap, c, f,
				       l < f->nlayers ? f->block[l * NBLOCK + k] : 0,
				       &block_params[k], (long)l, dm, err) < 0)
				return -1;
	for (int g = G_LNF_W; g < (tied ? G_HEAD : NGLOBAL); g++)
		if (plan_param(p, &cap, c, f, f->global[g], &global_params[g],
			       -1, dm, err) < 0)
			return -1;
	return 0;
}

int qf_wplan_gpt2(const qf_ckpt *c, qf_wplan *p, qf_err *err)
{
	struct found f;
	struct dims dm;
	int tied, rc = -1;
	const char *tie;

	memset(p, 0, sizeof *p);
	memset(&f, 0, sizeof f);
	qf_rec_init(&p->config);
	if (find_params(c, &f, err) < 0)
		goto out;
	tied = head_tied(c, &f);
	if (f.global[G_HEAD] && tied)
		f.skipped++;
	if (make_config(c, &f, &dm, tied, &p->config, err) < 0)
		goto out;
	tie = qf_rec_get(&c->meta, "tie_word_embeddings");
	if (tie && strcmp(tie, "false") == 0 && !f.global[G_HEAD]) {
		qf_err_set(err, "%s: config says the head is not tied, but there "
			   "is no head tensor", c->path);
		goto out;
	}
	if (plan_items(p, c, &f, &dm, tied, err) < 0)
		goto out;
	p->skipped = f.skipped;
	rc = 0;
out:
	free(f.block);
	if (rc < 0)
		qf_wplan_free(p);
	return rc;
}

int qf_wplan_raw(const qf_ckpt *c, qf_wplan *p, qf_err *err)
{
	memset(p, 0, sizeof *p);
	qf_rec_init(&p->config);
	p->items = calloc(c->n ? c->n : 1, sizeof *p->items);
	if (!p->items)
		return qf_err_set(err, "%s: out of memory", c->path);
	for (size_t i = 0; i < c->n; i++) {
		qf_wplan_item *it = &p->items[i];
		int rc = 0;

		qf_rec_init(&it->rec);
		p->n++;
		it->src = i;
		rc |= qf_rec_set_name(&it->rec, c->t[i].name, err);
		rc |= qf_rec_set_shape(&it->rec, c->t[i].dtype, c->t[i].ndim,
				       c->t[i].dims, err);
		rc |= qf_rec_set(&it->rec, "src_type", c->t[i].src_type, err);
		if (rc) {
			qf_wplan_free(p);
			return -1;
		}
	}
	/* the metadata travels as the config record */
	if (qf_rec_copy(&p->config, &c->meta, err) < 0 ||
	    qf_rec_set_name(&p->config, "config", err) < 0) {
		qf_wplan_free(p);
		return -1;
	}
	uint64_t zero = 0;
	qf_rec_set_shape(&p->config, QF_U8, 1, &zero, err);
	qf_rec_set(&p->config, "kind", "config", err);
	qf_rec_set(&p->config, "source_format", qf_ckpt_format(c), err);
	return 0;
}

int qf_wplan_set_float_dtype(qf_wplan *p, int dt, qf_err *err)
{
	for (size_t i = 0; i < p->n; i++) {
		qf_rec *r = &p->items[i].rec;
		if (qf_dtype_is_float(r->dtype) &&
		    qf_rec_set_shape(r, dt, r->ndim, r->dims, err) < 0)
			return -1;
	}
	return 0;
}

static void transpose(unsigned char *dst, const unsigned char *src,
		      uint64_t rows, uint64_t cols, size_t es)
{
	/* src [rows, cols] -> dst [cols, rows], in tiles for the cache */
	const uint64_t B = 32;

	for (uint64_t r0 = 0; r0 < rows; r0 += B)
		for (uint64_t c0 = 0; c0 < cols; c0 += B)
			for (uint64_t r = r0; r < rows && r < r0 + B; r++)
				for (uint64_t c = c0; c < cols && c < c0 + B; c++)
					memcpy(dst + (c * rows + r) * es,
					       src + (r * cols + c) * es, es);
}

int qf_wplan_read(qf_ckpt *c, const qf_wplan *p, size_t i, void **data,
		  qf_err *err)
{
	const qf_wplan_item *it = &p->items[i];
	const qf_ckpt_tensor *t = &c->t[it->src];
	uint64_t numel = qf_rec_numel(&it->rec);
	size_t ses = qf_dtype_size(t->dtype), des = qf_dtype_size(it->rec.dtype);
	unsigned char *buf, *tmp;
	qf_err e2;

	*data = NULL;
	if (numel > SIZE_MAX / 8)
		return qf_err_set(err, "%s: tensor %s: too large", c->path, t->name);
	buf = malloc(numel ? (size_t)numel * ses : 1);
	if (!buf)
		return qf_err_set(err, "%s: tensor %s: out of memory", c->path,
				  t->name);
	if (qf_ckpt_read(c, it->src, buf, err) < 0)
		goto fail;
	if (it->transpose) {
		tmp = malloc((size_t)numel * ses);
		if (!tmp) {
			qf_err_set(err, "%s: out of memory", c->path);
			goto fail;
		}
		transpose(tmp, buf, t->dims[0], t->dims[1], ses);
		free(buf);
		buf = tmp;
	}
	if (it->rec.dtype != t->dtype) {
		tmp = malloc(numel ? (size_t)numel * des : 1);
		if (!tmp) {
			qf_err_set(err, "%s: out of memory", c->path);
			goto fail;
		}
		if (qf_convert(it->rec.dtype, tmp, t->dtype, buf, (size_t)numel,
			       &e2) < 0) {
			free(tmp);
			qf_err_set(err, "%s: tensor %s: %s", c->path, t->name, e2.msg);
			goto fail;
		}
		free(buf);
		buf = tmp;
	}
	*data = buf;
	return 0;
fail:
	free(buf);
	return -1;
}

void qf_wplan_free(qf_wplan *p)
{
	for (size_t i = 0; i < p->n; i++)
		qf_rec_free(&p->items[i].rec);
	free(p->items);
	qf_rec_free(&p->config);
	memset(p, 0, sizeof *p);
}
