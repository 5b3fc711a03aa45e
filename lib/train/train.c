/*
 * train.c - training a GPT-2 (train.h; docs/train.md): the parameters in
 * one f32 block (weights, gradients and Adam's two moments side by side),
 * a forward pass that keeps what the backward pass needs, the backward
 * pass, AdamW with warm-up and cosine decay, gradient clipping, per-group
 * gradient norms, checkpoints, and the sampling of training windows.
 *
 * Every matrix product is a cblas_sgemm; the rest runs on the runtime's
 * thread pool (model_impl.h).  The work is cut into tasks whose shapes
 * depend on the sizes only, never on the number of threads, and every
 * sum is taken in a fixed order, so results do not depend on -j:
 *
 *   linear, forward; the head's logits   the runtime's qf_linear (blocks
 *                                        of output columns, all rows)
 *   linear, input gradient; the loss     tiles of LIN_ROWS rows
 *   linear, weight and bias gradients    tiles of output rows of the
 *                                        weight (out_tiles), the whole
 *                                        batch as the inner dimension
 *   attention forward                    a (sequence, head, block of
 *                                        QF_ATTN_QB query rows) each
 *   attention backward                   a (sequence, head) each
 *   LayerNorm backward                   LN_ROWS rows a task, partial sums
 *                                        of the weight and bias gradients
 *                                        per task, added up in task order
 *   embedding backward                   columns (each task all rows, in
 *                                        order)
 *   norms, AdamW                         CHUNK elements of one tensor
 *
 * OpenBLAS runs single-threaded inside the tasks (the pool does the
 * spreading, as in model.c's pass).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "model/runtime.h"
#include "train/train.h"

#define LIN_ROWS 256		/* rows per task: input gradients, loss */
#define LN_ROWS 64		/* rows per task of element-wise work */
#define CHUNK 32768		/* elements per task of the optimizer */
#define ALIGN 16		/* floats: tensors start on 64 bytes */
#define LOGIT_MAX (1u << 22)	/* floats of logits held at once (16 MB) */

/* ------------------------------------------------------------ options */

void qf_train_opts_default(qf_train_opts *o)
{
	o->lr = 1e-3;
	o->min_lr = 1e-4;
	o->warmup = 100;
	o->steps = 1000;
	o->weight_decay = 0.1;
	o->beta1 = 0.9;
	o->beta2 = 0.95;
	o->eps = 1e-8;
	o->clip = 1.0;
}

int qf_train_opts_check(const qf_train_opts *o, qf_err *err)
{
	if (!(o->lr >= 0 && o->lr < 1e6))
		return qf_err_set(err, "learning rate %g out of range [0, 1e6)",
				  o->lr);
	if (!(o->min_lr >= 0 && o->min_lr <= o->lr))
		return qf_err_set(err, "minimum learning rate %g out of range "
				  "[0, lr %g]", o->min_lr, o->lr);
	if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
		return qf_err_set(err, "Adam betas %g, %g out of range [0, 1)",
				  o->beta1, o->beta2);
	if (!(o->eps > 0 && o->eps < 1))
		return qf_err_set(err, "Adam eps %g out of range (0, 1)", o->eps);
	if (!(o->weight_decay >= 0 && o->weight_decay < 1e6))
		return qf_err_set(err, "weight decay %g out of range [0, 1e6)",
				  o->weight_decay);
	if (!(o->clip >= 0 && o->clip < 1e30))
		return qf_err_set(err, "clip %g out of range [0, 1e30)", o->clip);
	if (o->steps < 1)
		return qf_err_set(err, "steps must be at least 1");
	return 0;
}

double qf_train_lr(const qf_train_opts *o, uint64_t s)
{
	double r, p, f;

	if (o->lr <= 0)
		return 0;
	if (s < o->warmup)
		return o->lr * ((double)(s + 1) / (double)o->warmup);
	r = o->min_lr / o->lr;
	p = (double)(s - o->warmup) /
	    (double)(o->steps > o->warmup + 1 ? o->steps - o->warmup : 1);
	if (p > 1)
		p = 1;
	f = r + (1 - r) * 0.5 * (1 + cos(M_PI * p));
	return o->lr * f;
}

/* ------------------------------------------------------------ random numbers */

void qf_train_rng_seed(uint64_t rng[4], uint64_t seed)
{
	uint64_t s = seed;

	for (int i = 0; i < 4; i++)
		rng[i] = qf_splitmix64(&s);
}

uint64_t qf_train_rng_next(uint64_t s[4])
{
	return qf_xoshiro256ss(s);
}

/* Uniform in [0, 1), 53 bits. */
static double uniform(uint64_t s[4])
{
	return (double)(qf_train_rng_next(s) >> 11) * 0x1p-53;
}

/* Uniform integer in [0, n), n >= 1, without bias (Lemire). */
static uint64_t below(uint64_t s[4], uint64_t n)
{
	unsigned __int128 m = (unsigned __int128)qf_train_rng_next(s) * n;
	uint64_t lo = (uint64_t)m;

	if (lo < n) {
		uint64_t t = -n % n;

		while (lo < t) {
			m = (unsigned __int128)qf_train_rng_next(s) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
#define FNV_INIT 0xcbf29ce484222325ull
/* The sampling generator's seed is the seed XOR this ("sampling"), apart
 * from the initialisation's generators. */
#define SAMPLING_SALT 0x73616d706c696e67ull

/* ------------------------------------------------------------ the state */

struct tensor {
	char name[64];
	int ndim;
	uint64_t dims[2];
	size_t off, n;		/* in the flat arrays */
	int decay, group, layer;
	const char *kind, *module, *param;
};

/* Named pointers into a flat array: the weights' or the gradients'. */
struct params {
	float *tok_emb, *pos_emb, *final_w, *final_b;
	struct qf_layer *layer;
};

/* A task of the flat work (norms, AdamW): elements [off, off + n) of
 * tensor ti. */
struct ftask {
	size_t ti, off, n;
};

struct qf_train {
	qf_model_config cfg;
	struct tensor *t;
	size_t nt, nparam;
	float *w, *g, *m, *v;		/* [nparam] each */
	struct params W, G;
	struct ftask *ft;
	size_t nft;
	double *part;			/* [nft]: sums of squares */
	uint64_t step, tokens, seed;
	uint64_t rng[4];
	qf_pool *pool;
	int threads;
	/* the batch of the last forward */
	int B, T, have_grad;
	int32_t *inp, *tgt;		/* [N] */
	size_t cap_n, cap_p;		/* rows and attention floats allocated */
	float *act;			/* activations, see act_layout */
	float *scr;			/* gradients of activations, scratch */
	size_t cap_scr;
	float *attn_scr;		/* per thread [QF_ATTN_QB, T] */
	size_t cap_attn;
	float *logit;			/* [rows of a chunk, V] */
	size_t cap_logit;
	float *nll;			/* [N] */
};

/* Where tensor `name` belongs: its attributes (formats/weights.md), the
 * group of its norm, whether it decays. */
static void classify(struct tensor *x, int n_layer)
{
	static const struct {
		const char *suffix, *kind, *module, *param;
		int decay;
	} tab[] = {
		{ "ln1.weight", "ln_weight", "ln1", "weight", 0 },
		{ "ln1.bias", "ln_bias", "ln1", "bias", 0 },
		{ "attn.qkv.weight", "attn_qkv", "attn_qkv", "weight", 1 },
		{ "attn.qkv.bias", "bias", "attn_qkv", "bias", 0 },
		{ "attn.out.weight", "attn_out", "attn_out", "weight", 1 },
		{ "attn.out.bias", "bias", "attn_out", "bias", 0 },
		{ "ln2.weight", "ln_weight", "ln2", "weight", 0 },
		{ "ln2.bias", "ln_bias", "ln2", "bias", 0 },
		{ "mlp.in.weight", "mlp_in", "mlp_in", "weight", 1 },
		{ "mlp.in.bias", "bias", "mlp_in", "bias", 0 },
		{ "mlp.out.weight", "mlp_out", "mlp_out", "weight", 1 },
		{ "mlp.out.bias", "bias", "mlp_out", "bias", 0 },
		{ "tok_emb.weight", "tok_emb", "tok_emb", "weight", 0 },
		{ "pos_emb.weight", "pos_emb", "pos_emb", "weight", 0 },
		{ "final_norm.weight", "ln_weight", "ln_f", "weight", 0 },
		{ "final_norm.bias", "ln_bias", "ln_f", "bias", 0 },
	};
	const char *rest = x->name;

	x->layer = -1;
	x->group = 0;
	if (strncmp(x->name, "layers.", 7) == 0) {
		x->layer = atoi(x->name + 7);
		x->group = 1 + x->layer;
		rest = strchr(x->name + 7, '.') + 1;
	} else if (strncmp(x->name, "final_norm.", 11) == 0) {
		x->group = n_layer + 1;
	}
	for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
		if (strcmp(rest, tab[i].suffix) == 0) {
			x->kind = tab[i].kind;
			x->module = tab[i].module;
			x->param = tab[i].param;
			x->decay = tab[i].decay;
		}
}

/* Point p's fields into base, as the tensors say. */
static int bind(qf_train *t, struct params *p, float *base, qf_err *err)
{
	qf_model v;
	struct qf_slot *s;
	size_t n;

	memset(&v, 0, sizeof v);
	v.cfg = t->cfg;
	v.layer = calloc((size_t)t->cfg.n_layer, sizeof *v.layer);
	n = qf_arch_gpt2.slots(&v, NULL);
	s = calloc(n, sizeof *s);
	if (!v.layer || !s) {
		free(v.layer);
		free(s);
		return qf_err_set(err, "out of memory");
	}
	qf_arch_gpt2.slots(&v, s);
	for (size_t i = 0; i < n; i++)
		*s[i].dst = base + t->t[i].off;
	free(s);
	p->tok_emb = v.tok_emb;
	p->pos_emb = v.pos_emb;
	p->final_w = v.final_w;
	p->final_b = v.final_b;
	p->layer = v.layer;
	return 0;
}

/* Check c and fill in what is derived. */
static int check_cfg(qf_model_config *c, qf_err *err)
{
	if (c->arch != QF_ARCH_GPT2)
		return qf_err_set(err, "architecture %s: the trainer trains gpt2 "
				  "only", qf_arch_name(c->arch) ?
				  qf_arch_name(c->arch) : "?");
	if (!c->tied)
		return qf_err_set(err, "untied head: the trainer trains GPT-2 "
				  "with the head tied to the token embedding");
	if (c->n_inner == 0)
		c->n_inner = 4 * c->n_embd;
	if (c->norm_eps == 0)
		c->norm_eps = 1e-5f;
	if (c->n_layer < 1 || c->n_layer > 4096 || c->n_embd < 1 ||
	    c->n_embd > 65536 || c->n_head < 1 || c->n_head > 4096 ||
	    c->n_ctx < 1 || c->n_ctx > 65536 || c->n_inner < 1 ||
	    c->n_inner > 1 << 20 || c->vocab_size < 1 ||
	    c->vocab_size > 1 << 24 || !(c->norm_eps > 0 && c->norm_eps < 1))
		return qf_err_set(err, "config out of range (layers %d, d %d, "
				  "heads %d, ctx %d, inner %d, vocab %d)",
				  c->n_layer, c->n_embd, c->n_head, c->n_ctx,
				  c->n_inner, c->vocab_size);
	if (c->n_embd % c->n_head)
		return qf_err_set(err, "n_embd %d is not a multiple of n_head %d",
				  c->n_embd, c->n_head);
	c->n_kv_head = c->n_head;
	c->head_dim = c->n_embd / c->n_head;
	return 0;
}

static void *alloc_floats(size_t n)
{
	size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
	void *p = aligned_alloc(64, bytes ? bytes : 64);

	if (p)
		memset(p, 0, bytes);
	return p;
}

/* A state for config c (checked) with zero weights. */
static qf_train *create(const qf_model_config *c, qf_err *err)
{
	qf_train *t = calloc(1, sizeof *t);
	qf_model v;
	struct qf_slot *s = NULL;
	size_t off = 0, k = 0;

	if (!t) {
		qf_err_set(err, "out of memory");
		return NULL;
	}
	t->cfg = *c;
	if (check_cfg(&t->cfg, err) < 0)
		goto fail;
	memset(&v, 0, sizeof v);
	v.cfg = t->cfg;
	v.layer = calloc((size_t)t->cfg.n_layer, sizeof *v.layer);
	t->nt = qf_arch_gpt2.slots(&v, NULL);
	s = calloc(t->nt, sizeof *s);
	t->t = calloc(t->nt, sizeof *t->t);
	if (!v.layer || !s || !t->t) {
		free(v.layer);
		qf_err_set(err, "out of memory");
		goto fail;
	}
	qf_arch_gpt2.slots(&v, s);
	free(v.layer);
	for (size_t i = 0; i < t->nt; i++) {
		struct tensor *x = &t->t[i];

		snprintf(x->name, sizeof x->name, "%s", s[i].name);
		x->ndim = s[i].ndim;
		x->dims[0] = s[i].dims[0];
		x->dims[1] = s[i].dims[1];
		x->n = (size_t)s[i].dims[0] * (s[i].ndim == 2 ? s[i].dims[1] : 1);
		x->off = off;
		off += (x->n + ALIGN - 1) / ALIGN * ALIGN;
		classify(x, t->cfg.n_layer);
		t->nft += (x->n + CHUNK - 1) / CHUNK;
	}
	free(s);
	s = NULL;
	t->nparam = off;
	t->w = alloc_floats(off);
	t->g = alloc_floats(off);
	t->m = alloc_floats(off);
	t->v = alloc_floats(off);
	t->ft = calloc(t->nft, sizeof *t->ft);
	t->part = calloc(t->nft, sizeof *t->part);
	if (!t->w || !t->g || !t->m || !t->v || !t->ft || !t->part) {
		qf_err_set(err, "out of memory for %zu parameters", off);
		goto fail;
	}
	for (size_t i = 0; i < t->nt; i++)
		for (size_t o = 0; o < t->t[i].n; o += CHUNK) {
			t->ft[k].ti = i;
			t->ft[k].off = o;
			t->ft[k].n = t->t[i].n - o < CHUNK ? t->t[i].n - o : CHUNK;
			k++;
		}
	if (bind(t, &t->W, t->w, err) < 0 || bind(t, &t->G, t->g, err) < 0)
		goto fail;
	t->threads = qf_blas_threads();
	if (t->threads < 1)
		t->threads = 1;
	if (!(t->pool = qf_pool_new(t->threads, err)))
		goto fail;
	return t;
fail:
	free(s);
	qf_train_free(t);
	return NULL;
}

void qf_train_free(qf_train *t)
{
	if (!t)
		return;
	free(t->t);
	free(t->w);
	free(t->g);
	free(t->m);
	free(t->v);
	free(t->W.layer);
	free(t->G.layer);
	free(t->ft);
	free(t->part);
	qf_pool_free(t->pool);
	free(t->inp);
	free(t->tgt);
	free(t->act);
	free(t->scr);
	free(t->attn_scr);
	free(t->logit);
	free(t->nll);
	free(t);
}

/* Normal(0, 1) pairs by Box-Muller from a generator of the tensor's own,
 * so that a tensor's values depend on the seed and its name only. */
static void init_normal(float *x, size_t n, double std, uint64_t seed,
			const char *name)
{
	uint64_t s[4];

	qf_train_rng_seed(s, seed ^ fnv1a(FNV_INIT, name, strlen(name)));
	for (size_t i = 0; i < n; i += 2) {
		double u1 = ((double)(qf_train_rng_next(s) >> 11) + 1) * 0x1p-53;
		double u2 = uniform(s), r = sqrt(-2 * log(u1));

		x[i] = (float)(std * r * cos(2 * M_PI * u2));
		if (i + 1 < n)
			x[i + 1] = (float)(std * r * sin(2 * M_PI * u2));
	}
}

qf_train *qf_train_new(const qf_model_config *c, uint64_t seed, qf_err *err)
{
	return qf_train_new_std(c, seed, 0.02, err);
}

qf_train *qf_train_new_std(const qf_model_config *c, uint64_t seed,
			   double std0, qf_err *err)
{
	qf_train *t;

	if (!(std0 > 0) || !isfinite(std0)) {
		qf_err_set(err, "initial std %g: not a positive number", std0);
		return NULL;
	}
	if (!(t = create(c, err)))
		return NULL;
	for (size_t i = 0; i < t->nt; i++) {
		struct tensor *x = &t->t[i];
		float *w = t->w + x->off;

		if (strcmp(x->param, "bias") == 0)
			continue;	/* zeros */
		if (strcmp(x->kind, "ln_weight") == 0) {
			for (size_t j = 0; j < x->n; j++)
				w[j] = 1;
		} else {
			double std = std0;

			if (strcmp(x->kind, "attn_out") == 0 ||
			    strcmp(x->kind, "mlp_out") == 0)
				std /= sqrt(2.0 * t->cfg.n_layer);
			init_normal(w, x->n, std, seed, x->name);
		}
	}
	t->seed = seed;
	qf_train_rng_seed(t->rng, seed ^ SAMPLING_SALT);
	return t;
}

qf_train *qf_train_load(const char *path, uint64_t seed, qf_err *err)
{
	qf_model *m = qf_model_load(path, err);
	qf_train *t;

	if (!m)
		return NULL;
	if (!m->cfg.tied) {
		qf_err_set(err, "%s: record config: tie_word_embeddings=false: "
			   "the trainer trains GPT-2 with the head tied to the "
			   "token embedding", m->file);
		qf_model_free(m);
		return NULL;
	}
	if (!(t = create(&m->cfg, err))) {
		qf_model_free(m);
		return NULL;
	}
	/* the same table, so the same tensors in the same order */
	for (size_t i = 0; i < t->nt; i++)
		memcpy(t->w + t->t[i].off, *m->slot[i].dst,
		       t->t[i].n * sizeof *t->w);
	qf_model_free(m);
	t->seed = seed;
	qf_train_rng_seed(t->rng, seed ^ SAMPLING_SALT);
	return t;
}

const qf_model_config *qf_train_cfg(const qf_train *t)
{
	return &t->cfg;
}

uint64_t qf_train_step_count(const qf_train *t)
{
	return t->step;
}

uint64_t qf_train_tokens(const qf_train *t)
{
	return t->tokens;
}

uint64_t qf_train_seed(const qf_train *t)
{
	return t->seed;
}

uint64_t *qf_train_rng(qf_train *t)
{
	return t->rng;
}

size_t qf_train_nparams(const qf_train *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nt; i++)
		n += t->t[i].n;
	return n;
}

size_t qf_train_ntensors(const qf_train *t)
{
	return t->nt;
}

int qf_train_tensor_at(qf_train *t, size_t i, qf_train_tensor *out)
{
	const struct tensor *x;

	if (i >= t->nt)
		return -1;
	x = &t->t[i];
	out->name = x->name;
	out->ndim = x->ndim;
	out->dims[0] = x->dims[0];
	out->dims[1] = x->dims[1];
	out->numel = x->n;
	out->w = t->w + x->off;
	out->g = t->g + x->off;
	out->m = t->m + x->off;
	out->v = t->v + x->off;
	out->decay = x->decay;
	out->group = x->group;
	return 0;
}

int qf_train_set_threads(qf_train *t, int n, qf_err *err)
{
	qf_pool *p;

	if (n < 1)
		return qf_err_set(err, "thread count %d, expected at least 1", n);
	if (!(p = qf_pool_new(n, err)))
		return -1;
	qf_pool_free(t->pool);
	t->pool = p;
	t->threads = n;
	free(t->attn_scr);		/* one per thread: made again */
	t->attn_scr = NULL;
	t->cap_attn = 0;
	return 0;
}

/* ------------------------------------------------------------ buffers */

/* The activations of a batch of N = B·T rows, one block after the other:
 *
 *   x      [L + 1][N, d]   the residual stream entering each block, and
 *                          after the last
 *   per block:
 *   ln1    [N, d]          LayerNorm 1's output
 *   qkv    [N, 3d]
 *   z      [N, d]          the heads' outputs, concatenated
 *   xmid   [N, d]          the residual stream after attention
 *   ln2    [N, d]
 *   u      [N, F]          the MLP's input to gelu_new
 *   a      [N, F]          its output
 *   probs  [B, H, T, T]    attention probabilities (rows up to their
 *                          block's end written)
 *   then
 *   lnf    [N, d]          the final norm's output
 */
struct layer_act {
	float *x, *ln1, *qkv, *z, *xmid, *ln2, *u, *a, *probs, *xout;
};

static size_t per_layer(const qf_model_config *c, size_t N, size_t P)
{
	size_t d = (size_t)c->n_embd, F = (size_t)c->n_inner;

	return N * (7 * d + 2 * F) + P;
}

static size_t act_floats(const qf_model_config *c, size_t N, size_t P)
{
	size_t d = (size_t)c->n_embd, L = (size_t)c->n_layer;

	return N * d * (L + 2) + L * per_layer(c, N, P);
}

static void layer_acts(const qf_train *t, int l, struct layer_act *a)
{
	const qf_model_config *c = &t->cfg;
	size_t N = (size_t)t->B * t->T, d = (size_t)c->n_embd;
	size_t F = (size_t)c->n_inner, L = (size_t)c->n_layer;
	float *p = t->act + N * d * (L + 1) + (size_t)l *
		per_layer(c, N, (size_t)t->B * c->n_head * t->T * t->T);

	a->x = t->act + (size_t)l * N * d;
	a->xout = a->x + N * d;
	a->ln1 = p;
	a->qkv = a->ln1 + N * d;
	a->z = a->qkv + 3 * N * d;
	a->xmid = a->z + N * d;
	a->ln2 = a->xmid + N * d;
	a->u = a->ln2 + N * d;
	a->a = a->u + N * F;
	a->probs = a->a + N * F;
}

static float *final_act(const qf_train *t)
{
	const qf_model_config *c = &t->cfg;
	size_t N = (size_t)t->B * t->T, d = (size_t)c->n_embd;
	size_t L = (size_t)c->n_layer;

	return t->act + N * d * (L + 1) +
	       L * per_layer(c, N, (size_t)t->B * c->n_head * t->T * t->T);
}

/* Rows of logits held at once. */
static size_t logit_rows(const qf_model_config *c, size_t N)
{
	size_t r = LOGIT_MAX / (size_t)c->vocab_size / LIN_ROWS * LIN_ROWS;

	if (r < LIN_ROWS)
		r = LIN_ROWS;
	return r < N ? r : N;
}

/* Scratch for the backward pass: gx, gt [N, d], gqkv [N, 3d], gf [N, F],
 * and the LayerNorm partial sums [N / LN_ROWS + 1, 2d]. */
static size_t scr_floats(const qf_model_config *c, size_t N)
{
	size_t d = (size_t)c->n_embd, F = (size_t)c->n_inner;

	return N * (5 * d + F) + (N / LN_ROWS + 1) * 2 * d;
}

uint64_t qf_train_act_bytes(const qf_model_config *c, int B, int T)
{
	size_t N = (size_t)B * T, P = (size_t)B * c->n_head * T * T;

	return 4 * (uint64_t)(act_floats(c, N, P) + scr_floats(c, N) +
			      logit_rows(c, N) * c->vocab_size + N +
			      2 * (uint64_t)QF_ATTN_QB * T);
}

static int buffers(qf_train *t, int B, int T, qf_err *err)
{
	const qf_model_config *c = &t->cfg;
	size_t N = (size_t)B * T, P = (size_t)B * c->n_head * T * T;
	size_t na = act_floats(c, N, P), ns = scr_floats(c, N);
	size_t nl = logit_rows(c, N) * c->vocab_size;
	size_t nat = (size_t)t->threads * QF_ATTN_QB * T;

	if (na > t->cap_p) {
		free(t->act);
		t->cap_p = 0;
		if (!(t->act = alloc_floats(na)))
			goto oom;
		t->cap_p = na;
	}
	if (N > t->cap_n) {
		free(t->inp);
		free(t->tgt);
		free(t->nll);
		t->cap_n = 0;
		t->inp = malloc(N * sizeof *t->inp);
		t->tgt = malloc(N * sizeof *t->tgt);
		t->nll = malloc(N * sizeof *t->nll);
		if (!t->inp || !t->tgt || !t->nll)
			goto oom;
		t->cap_n = N;
	}
	if (ns > t->cap_scr) {
		free(t->scr);
		t->cap_scr = 0;
		if (!(t->scr = alloc_floats(ns)))
			goto oom;
		t->cap_scr = ns;
	}
	if (nl > t->cap_logit) {
		free(t->logit);
		t->cap_logit = 0;
		if (!(t->logit = alloc_floats(nl)))
			goto oom;
		t->cap_logit = nl;
	}
	if (nat > t->cap_attn) {
		free(t->attn_scr);
		t->cap_attn = 0;
		if (!(t->attn_scr = alloc_floats(nat)))
			goto oom;
		t->cap_attn = nat;
	}
	return 0;
oom:
	return qf_err_set(err, "out of memory for the activations of a batch "
			  "of %d x %d tokens (%.0f MB)", B, T,
			  qf_train_act_bytes(c, B, T) / 1e6);
}

/* ------------------------------------------------------------ vector helpers */

/* y += x over n floats. */
QF_CLONES
static void add_span(float *restrict y, const float *restrict x, size_t n)
{
	qf_v16 a, b;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		memcpy(&a, y + i, sizeof a);
		memcpy(&b, x + i, sizeof b);
		a += b;
		memcpy(y + i, &a, sizeof a);
	}
	for (; i < n; i++)
		y[i] += x[i];
}

/* x *= c over n floats. */
QF_CLONES
static void scale_span(float *x, size_t n, float c)
{
	qf_v16 a;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		memcpy(&a, x + i, sizeof a);
		a *= c;
		memcpy(x + i, &a, sizeof a);
	}
	for (; i < n; i++)
		x[i] *= c;
}

/* The softmax's gradient on one row of n probabilities p, s holding dP
 * on entry and dS = p ∘ (dP - Σ p ∘ dP) on return. */
QF_CLONES
static void softmax_back_row(float *restrict s, const float *restrict p,
			     int n)
{
	qf_v16 a, b, acc = { 0 };
	float D;
	int i, full = n & ~15;

	for (i = 0; i < full; i += 16) {
		memcpy(&a, s + i, sizeof a);
		memcpy(&b, p + i, sizeof b);
		acc += a * b;
	}
	D = qf_v16_sum(&acc);
	for (; i < n; i++)
		D += p[i] * s[i];
	for (i = 0; i < full; i += 16) {
		memcpy(&a, s + i, sizeof a);
		memcpy(&b, p + i, sizeof b);
		a = b * (a - D);
		memcpy(s + i, &a, sizeof a);
	}
	for (; i < n; i++)
		s[i] = p[i] * (s[i] - D);
}

/* ------------------------------------------------------------ linear layers */

struct lin_job {
	float *dx, *dw, *db;
	const float *x, *w, *dy;
	int N, in, out, nrow, ntile, ocol;	/* row tiles; output tiles and
						 * their width */
};

/* Tiles of a weight's output rows for its gradient: an even number of
 * them (two threads share them evenly), about 512 rows at most each. */
static int out_tile(int out, int *ntile)
{
	int n = out < 64 ? 1 : 2 * ((out + 1023) / 1024), wd;

	wd = ((out + n - 1) / n + 15) & ~15;
	*ntile = (out + wd - 1) / wd;
	return wd;
}

/* Tasks [0, ntile): output tiles of the weight, dw += dyᵀ · x and db +=
 * the column sums of dy over all N rows in order (the heavy tasks first);
 * then row tiles of dx = dy · w. */
static void lin_back_task(void *ctx, int task, int tid)
{
	const struct lin_job *j = ctx;

	(void)tid;
	if (task >= j->ntile) {
		int r0 = (task - j->ntile) * LIN_ROWS;
		int rows = j->N - r0 < LIN_ROWS ? j->N - r0 : LIN_ROWS;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows,
			    j->in, j->out, 1.0f, j->dy + (size_t)r0 * j->out,
			    j->out, j->w, j->in, 0.0f, j->dx + (size_t)r0 * j->in,
			    j->in);
	} else {
		int o0 = task * j->ocol;
		int o1 = o0 + j->ocol < j->out ? o0 + j->ocol : j->out;

		if (o0 >= o1)
			return;
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0,
			    j->in, j->N, 1.0f, j->dy + o0, j->out, j->x, j->in,
			    1.0f, j->dw + (size_t)o0 * j->in, j->in);
		if (j->db)
			for (int r = 0; r < j->N; r++)
				add_span(j->db + o0, j->dy + (size_t)r * j->out + o0,
					 (size_t)(o1 - o0));
	}
}

/* The gradients of y = x · wᵀ + b given dy: dx (overwritten; may be NULL),
 * dw and db (accumulated). */
static void linear_back(qf_train *t, float *dx, float *dw, float *db,
			const float *dy, const float *x, const float *w, int N,
			int in, int out)
{
	struct lin_job j = { .dx = dx, .dw = dw, .db = db, .dy = dy, .x = x,
			     .w = w, .N = N, .in = in, .out = out };
	j.nrow = dx ? (N + LIN_ROWS - 1) / LIN_ROWS : 0;
	j.ocol = out_tile(out, &j.ntile);
	qf_pool_run(t->pool, j.ntile + j.nrow, lin_back_task, &j);
}

/* ------------------------------------------------------------ attention */

struct attn_job {
	const float *qkv, *dz;
	float *z, *probs, *dqkv, *scr;
	int B, T, H, hd, d, nblk, lds;
	float scale;
};

/* Forward, a task per sequence b, head h and block of query rows (the
 * last blocks first): the products and softmax of qf_attention's
 * QF_ATTN_ALL, with the scores kept in probs [b, h] and normalised
 * after the values have been summed with them. */
static void attn_fwd_task(void *ctx, int task, int tid)
{
	const struct attn_job *j = ctx;
	int BH = j->B * j->H, blk = j->nblk - 1 - task / BH;
	int b = task % BH / j->H, h = task % j->H, ld = 3 * j->d;
	int i0 = blk * QF_ATTN_QB;
	int i1 = i0 + QF_ATTN_QB < j->T ? i0 + QF_ATTN_QB : j->T;
	int rows = i1 - i0, n = i1, m = rows < QF_ATTN_QB / 2 ? rows : QF_ATTN_QB / 2;
	const float *base = j->qkv + (size_t)b * j->T * ld;
	const float *q = base + (size_t)i0 * ld + h * j->hd;
	const float *k = base + j->d + h * j->hd;
	const float *v = base + 2 * j->d + h * j->hd;
	float *s = j->probs + (((size_t)b * j->H + h) * j->T + i0) * j->T;
	float *out = j->z + ((size_t)b * j->T + i0) * j->d + h * j->hd;
	float inv[QF_ATTN_QB];

	(void)tid;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, i0 + m,
		    j->hd, j->scale, q, ld, k, ld, 0.0f, s, j->T);
	if (rows > m)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows - m,
			    rows - m, j->hd, j->scale, q + (size_t)m * ld, ld,
			    k + (size_t)(i0 + m) * ld, ld, 0.0f,
			    s + (size_t)m * j->T + i0 + m, j->T);
	for (int r = 0; r < rows; r++) {
		float *row = s + (size_t)r * j->T;
		int t = i0 + r;

		inv[r] = qf_softmax_row(row, t + 1, 0);
		memset(row + t + 1, 0, (size_t)(n - t - 1) * sizeof *row);
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, j->hd, n,
		    1.0f, s, j->T, v, ld, 0.0f, out, j->d);
	for (int r = 0; r < rows; r++) {
		float *o = out + (size_t)r * j->d;

		for (int i = 0; i < j->hd; i++)
			o[i] *= inv[r];
		scale_span(s + (size_t)r * j->T, (size_t)(i0 + r + 1), inv[r]);
	}
}

/* Backward, a task per sequence and head (dk and dv of a key gather from
 * every later query block, in block order), block by block:
 *     dP = dO vᵀ;  dS = P ∘ (dP - rowsum(P ∘ dP));
 *     dq = scale dS k;  dk += scale dSᵀ q;  dv += Pᵀ dO */
static void attn_back_task(void *ctx, int task, int tid)
{
	const struct attn_job *j = ctx;
	int b = task / j->H, h = task % j->H, ld = 3 * j->d;
	const float *base = j->qkv + (size_t)b * j->T * ld;
	const float *q = base + h * j->hd, *k = q + j->d, *v = q + 2 * j->d;
	const float *P = j->probs + ((size_t)b * j->H + h) * j->T * j->T;
	const float *dO = j->dz + (size_t)b * j->T * j->d + h * j->hd;
	float *dq = j->dqkv + (size_t)b * j->T * ld + h * j->hd;
	float *dk = dq + j->d, *dv = dq + 2 * j->d;
	float *S = j->scr + (size_t)tid * QF_ATTN_QB * j->lds;

	for (int t = 0; t < j->T; t++) {
		memset(dk + (size_t)t * ld, 0, (size_t)j->hd * sizeof *dk);
		memset(dv + (size_t)t * ld, 0, (size_t)j->hd * sizeof *dv);
	}
	for (int blk = 0; blk < j->nblk; blk++) {
		int i0 = blk * QF_ATTN_QB;
		int i1 = i0 + QF_ATTN_QB < j->T ? i0 + QF_ATTN_QB : j->T;
		int rows = i1 - i0, n = i1;
		const float *Pb = P + (size_t)i0 * j->T;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n,
			    j->hd, 1.0f, dO + (size_t)i0 * j->d, j->d, v, ld,
			    0.0f, S, j->lds);
		for (int r = 0; r < rows; r++) {
			float *s = S + (size_t)r * j->lds;
			int t = i0 + r;

			softmax_back_row(s, Pb + (size_t)r * j->T, t + 1);
			memset(s + t + 1, 0, (size_t)(n - t - 1) * sizeof *s);
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows,
			    j->hd, n, j->scale, S, j->lds, k, ld, 0.0f,
			    dq + (size_t)i0 * ld, ld);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, j->hd,
			    rows, j->scale, S, j->lds, q + (size_t)i0 * ld, ld,
			    1.0f, dk, ld);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, j->hd,
			    rows, 1.0f, Pb, j->T, dO + (size_t)i0 * j->d, j->d,
			    1.0f, dv, ld);
	}
}

/* ------------------------------------------------------------ element-wise */

/* Element-wise work: what each kind of task reads and writes. */
struct ew_job {
	qf_train *t;
	float *x;		/* embed: the residual stream it writes */
	float *y;		/* add: y += x; LayerNorm backward: its input */
	float *dx;		/* gradients accumulated (+=) or scaled */
	float *dw, *db;		/* LayerNorm's weight and bias gradients */
	float *part;		/* LayerNorm: partial sums, [tasks, 2d] */
	const float *w, *dy, *u;
	const int32_t *tok;
	int N, T, d, F;
	float eps;
};

/* The embedding: x[n] = tok_emb[tok[n]] + pos_emb[n mod T]. */
static void embed_task(void *ctx, int task, int tid)
{
	const struct ew_job *j = ctx;
	const struct params *W = &j->t->W;
	int r1 = (task + 1) * LN_ROWS < j->N ? (task + 1) * LN_ROWS : j->N;

	(void)tid;
	for (int r = task * LN_ROWS; r < r1; r++) {
		const float *te = W->tok_emb + (size_t)j->tok[r] * j->d;
		const float *pe = W->pos_emb + (size_t)(r % j->T) * j->d;
		float *x = j->x + (size_t)r * j->d;

		for (int i = 0; i < j->d; i++)
			x[i] = te[i] + pe[i];
	}
}

/* Its gradient, a task per 64 columns, every row in order. */
static void embed_back_task(void *ctx, int task, int tid)
{
	const struct ew_job *j = ctx;
	const struct params *G = &j->t->G;
	int c0 = task * 64, c1 = c0 + 64 < j->d ? c0 + 64 : j->d;

	(void)tid;
	for (int r = 0; r < j->N; r++) {
		const float *g = j->dy + (size_t)r * j->d + c0;

		add_span(G->tok_emb + (size_t)j->tok[r] * j->d + c0, g,
			 (size_t)(c1 - c0));
		add_span(G->pos_emb + (size_t)(r % j->T) * j->d + c0, g,
			 (size_t)(c1 - c0));
	}
}

/* LayerNorm backward of one row: dx += the input's gradient; pw += dy·x̂,
 * pb += dy (the weight's and bias's gradients).  Mean and variance are
 * computed again from x. */
QF_CLONES
static void ln_back_row(float *restrict dx, float *restrict pw,
			float *restrict pb, const float *restrict dy,
			const float *restrict x, const float *restrict w, int d,
			float eps)
{
	qf_v16 xv, gv, wv, hv, sa = { 0 }, sc = { 0 };
	float mean, var, rstd, a, c;
	int i, full = d & ~15;

	for (i = 0; i < full; i += 16) {
		memcpy(&xv, x + i, sizeof xv);
		sa += xv;
	}
	mean = qf_v16_sum(&sa);
	for (; i < d; i++)
		mean += x[i];
	mean /= (float)d;
	memset(&sa, 0, sizeof sa);
	for (i = 0; i < full; i += 16) {
		memcpy(&xv, x + i, sizeof xv);
		xv -= mean;
		sa += xv * xv;
	}
	var = qf_v16_sum(&sa);
	for (; i < d; i++)
		var += (x[i] - mean) * (x[i] - mean);
	var /= (float)d;
	rstd = 1.0f / sqrtf(var + eps);
	memset(&sa, 0, sizeof sa);
	for (i = 0; i < full; i += 16) {
		qf_v16 p, b;

		memcpy(&xv, x + i, sizeof xv);
		memcpy(&gv, dy + i, sizeof gv);
		memcpy(&wv, w + i, sizeof wv);
		hv = (xv - mean) * rstd;
		sa += gv * wv;
		sc += gv * wv * hv;
		memcpy(&p, pw + i, sizeof p);
		memcpy(&b, pb + i, sizeof b);
		p += gv * hv;
		b += gv;
		memcpy(pw + i, &p, sizeof p);
		memcpy(pb + i, &b, sizeof b);
	}
	a = qf_v16_sum(&sa);
	c = qf_v16_sum(&sc);
	for (; i < d; i++) {
		float xh = (x[i] - mean) * rstd, g = dy[i] * w[i];

		a += g;
		c += g * xh;
		pw[i] += dy[i] * xh;
		pb[i] += dy[i];
	}
	a /= (float)d;
	c /= (float)d;
	for (i = 0; i < full; i += 16) {
		qf_v16 o;

		memcpy(&xv, x + i, sizeof xv);
		memcpy(&gv, dy + i, sizeof gv);
		memcpy(&wv, w + i, sizeof wv);
		memcpy(&o, dx + i, sizeof o);
		hv = (xv - mean) * rstd;
		o += rstd * (gv * wv - a - hv * c);
		memcpy(dx + i, &o, sizeof o);
	}
	for (; i < d; i++) {
		float xh = (x[i] - mean) * rstd;

		dx[i] += rstd * (dy[i] * w[i] - a - xh * c);
	}
}

/* Rows [task·LN_ROWS, ..): part [2d] of the task gets the sums over its
 * rows of the weight's and bias's gradients. */
static void ln_back_task(void *ctx, int task, int tid)
{
	const struct ew_job *j = ctx;
	int d = j->d, r1 = (task + 1) * LN_ROWS < j->N ? (task + 1) * LN_ROWS : j->N;
	float *pw = j->part + (size_t)task * 2 * d;

	(void)tid;
	memset(pw, 0, 2 * (size_t)d * sizeof *pw);
	for (int r = task * LN_ROWS; r < r1; r++)
		ln_back_row(j->dx + (size_t)r * d, pw, pw + d, j->dy + (size_t)r * d,
			    j->y + (size_t)r * d, j->w, d, j->eps);
}

/* The partial sums of all tasks, in task order, into dw and db (w and u
 * of the job), a task per 64 columns. */
static void ln_sum_task(void *ctx, int task, int tid)
{
	const struct ew_job *j = ctx;
	int d = j->d, c0 = task * 64, c1 = c0 + 64 < d ? c0 + 64 : d;
	int nt = (j->N + LN_ROWS - 1) / LN_ROWS;
	float *dw = j->dw, *db = j->db;

	(void)tid;
	for (int k = 0; k < nt; k++) {
		const float *pw = j->part + (size_t)k * 2 * d;

		add_span(dw + c0, pw + c0, (size_t)(c1 - c0));
		add_span(db + c0, pw + d + c0, (size_t)(c1 - c0));
	}
}

/* dx += the gradient of LayerNorm(x; w) given dy; dw, db += theirs. */
static void layernorm_back(qf_train *t, float *dx, float *dw, float *db,
			   const float *dy, const float *x, const float *w,
			   float *part)
{
	int N = t->B * t->T, d = t->cfg.n_embd;
	struct ew_job j = { .t = t, .y = (float *)x, .dy = dy, .dx = dx,
			    .w = w, .part = part, .N = N, .d = d,
			    .eps = t->cfg.norm_eps };

	qf_pool_run(t->pool, (N + LN_ROWS - 1) / LN_ROWS, ln_back_task, &j);
	j.dw = dw;
	j.db = db;
	qf_pool_run(t->pool, (d + 63) / 64, ln_sum_task, &j);
}

/* dx *= gelu_new'(u) over n values:  gelu_new(u) = u·s with s = 1 / (1 +
 * e^-2a), a = k (u + c u³), so gelu_new'(u) = s + 2 u s (1 - s) k (1 +
 * 3 c u²), 1 - s = e^-2a s. */
static inline __attribute__((always_inline)) void gelu_back16(qf_v16 *g,
								const qf_v16 *u)
{
	const float k = 0.7978845608028654f, c = 0.044715f;
	qf_v16 x = *u, e, s;

	e = -2.0f * k * (x + c * x * x * x);
	qf_v16_exp(&e);
	s = 1.0f / (1.0f + e);
	*g *= s + 2.0f * x * s * (e * s) * k * (1.0f + 3.0f * c * x * x);
}

QF_CLONES
static void gelu_back_span(float *restrict dx, const float *restrict u,
			   size_t n)
{
	qf_v16 x, g;
	size_t i = 0, rest;

	for (; i + 16 <= n; i += 16) {
		memcpy(&x, u + i, sizeof x);
		memcpy(&g, dx + i, sizeof g);
		gelu_back16(&g, &x);
		memcpy(dx + i, &g, sizeof g);
	}
	if ((rest = n - i) > 0) {
		memset(&x, 0, sizeof x);
		memset(&g, 0, sizeof g);
		memcpy(&x, u + i, rest * sizeof *u);
		memcpy(&g, dx + i, rest * sizeof *dx);
		gelu_back16(&g, &x);
		memcpy(dx + i, &g, rest * sizeof *dx);
	}
}

static void gelu_back_task(void *ctx, int task, int tid)
{
	const struct ew_job *j = ctx;
	int r0 = task * LN_ROWS, r1 = r0 + LN_ROWS < j->N ? r0 + LN_ROWS : j->N;

	(void)tid;
	gelu_back_span(j->dx + (size_t)r0 * j->F, j->u + (size_t)r0 * j->F,
		       (size_t)(r1 - r0) * j->F);
}

/* y += x over N rows of d. */
static void add_task(void *ctx, int task, int tid)
{
	const struct ew_job *j = ctx;
	int r0 = task * LN_ROWS, r1 = r0 + LN_ROWS < j->N ? r0 + LN_ROWS : j->N;

	(void)tid;
	add_span(j->y + (size_t)r0 * j->d, j->x + (size_t)r0 * j->d,
		 (size_t)(r1 - r0) * j->d);
}

static void add_rows(qf_train *t, float *y, const float *x, int N, int d)
{
	struct ew_job j = { .t = t, .y = y, .x = (float *)x, .N = N, .d = d };

	qf_pool_run(t->pool, (N + LN_ROWS - 1) / LN_ROWS, add_task, &j);
}

/* ------------------------------------------------------------ the head */

struct head_job {
	qf_train *t;
	const float *xf;	/* the chunk's rows of the final norm */
	float *L, *dxf, *nll, *logits;
	const int32_t *tgt;
	int n, grad, ocol;
	float scale;
};

/* A tile of the chunk's rows, their logits computed: NLL, the logits'
 * gradient, and the final norm's gradient from it. */
static void head_task(void *ctx, int task, int tid)
{
	const struct head_job *j = ctx;
	const qf_train *t = j->t;
	int V = t->cfg.vocab_size, d = t->cfg.n_embd;
	int r0 = task * LIN_ROWS, rows = j->n - r0 < LIN_ROWS ? j->n - r0 : LIN_ROWS;
	float *L = j->L + (size_t)r0 * V;

	(void)tid;
	for (int r = 0; r < rows; r++) {
		float *row = L + (size_t)r * V;

		if (j->logits)
			memcpy(j->logits + (size_t)(r0 + r) * V, row,
			       (size_t)V * sizeof *row);
		j->nll[r0 + r] = qf_ce_row(row, V, j->tgt[r0 + r], j->grad, j->scale);
	}
	if (j->grad)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d,
			    V, 1.0f, L, V, t->W.tok_emb, d, 0.0f,
			    j->dxf + (size_t)r0 * d, d);
}

/* The head's weight gradient from the chunk: tok_emb's rows by tiles. */
static void head_dw_task(void *ctx, int task, int tid)
{
	const struct head_job *j = ctx;
	const qf_train *t = j->t;
	int V = t->cfg.vocab_size, d = t->cfg.n_embd;
	int v0 = task * j->ocol, v1 = v0 + j->ocol < V ? v0 + j->ocol : V;

	(void)tid;
	if (v0 >= v1)
		return;
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, v1 - v0, d, j->n,
		    1.0f, j->L + v0, V, j->xf, d, 1.0f,
		    t->G.tok_emb + (size_t)v0 * d, d);
}

/* ------------------------------------------------------------ forward and backward */

static int check_batch(const qf_train *t, const int32_t *tok, int B, int T,
		       qf_err *err)
{
	if (B < 1 || T < 1)
		return qf_err_set(err, "batch of %d x %d tokens: both must be at "
				  "least 1", B, T);
	if (T > t->cfg.n_ctx)
		return qf_err_set(err, "sequences of %d tokens longer than n_ctx "
				  "%d", T, t->cfg.n_ctx);
	if ((int64_t)B * T > 1 << 28)
		return qf_err_set(err, "batch of %d x %d tokens: more than 2^28",
				  B, T);
	for (int b = 0; b < B; b++)
		for (int i = 0; i <= T; i++) {
			int32_t v = tok[(size_t)b * (T + 1) + i];

			if (v < 0 || v >= t->cfg.vocab_size)
				return qf_err_set(err, "token id %" PRId32 " at "
						  "position %d of sequence %d out "
						  "of range (vocab_size %d)", v,
						  i, b, t->cfg.vocab_size);
		}
	return 0;
}

int qf_train_forward(qf_train *t, const int32_t *tok, int B, int T, int grad,
		     float *nll, float *logits, double *loss, qf_err *err)
{
	const qf_model_config *c = &t->cfg;
	int d = c->n_embd, F = c->n_inner, V = c->vocab_size, N, nb, ntile;
	size_t R;
	struct ew_job ej;
	struct attn_job aj;
	double sum = 0;
	float *gt;

	if (check_batch(t, tok, B, T, err) < 0 || buffers(t, B, T, err) < 0)
		return -1;
	t->B = B;
	t->T = T;
	t->have_grad = 0;
	N = B * T;
	for (int b = 0; b < B; b++) {
		memcpy(t->inp + (size_t)b * T, tok + (size_t)b * (T + 1),
		       (size_t)T * sizeof *tok);
		memcpy(t->tgt + (size_t)b * T, tok + (size_t)b * (T + 1) + 1,
		       (size_t)T * sizeof *tok);
	}
	nb = qf_blas_threads();
	qf_blas_set_threads(1);

	memset(&ej, 0, sizeof ej);
	ej.t = t;
	ej.tok = t->inp;
	ej.N = N;
	ej.T = T;
	ej.d = d;
	ej.x = t->act;
	qf_pool_run(t->pool, (N + LN_ROWS - 1) / LN_ROWS, embed_task, &ej);
	memset(&aj, 0, sizeof aj);
	aj.B = B;
	aj.T = T;
	aj.H = c->n_head;
	aj.hd = c->head_dim;
	aj.d = d;
	aj.nblk = (T + QF_ATTN_QB - 1) / QF_ATTN_QB;
	aj.scale = 1.0f / sqrtf((float)c->head_dim);
	for (int l = 0; l < c->n_layer; l++) {
		const struct qf_layer *w = &t->W.layer[l];
		struct layer_act a;

		layer_acts(t, l, &a);
		qf_layernorm(t->pool, a.ln1, a.x, w->ln1_w, w->ln1_b, N, d,
			     c->norm_eps);
		qf_linear(t->pool, a.qkv, a.ln1, w->qkv_w, w->qkv_b, N, d, 3 * d);
		aj.qkv = a.qkv;
		aj.z = a.z;
		aj.probs = a.probs;
		qf_pool_run(t->pool, aj.nblk * B * c->n_head, attn_fwd_task, &aj);
		qf_linear(t->pool, a.xmid, a.z, w->out_w, w->out_b, N, d, d);
		add_rows(t, a.xmid, a.x, N, d);
		qf_layernorm(t->pool, a.ln2, a.xmid, w->ln2_w, w->ln2_b, N, d,
			     c->norm_eps);
		qf_linear(t->pool, a.u, a.ln2, w->mlp_in_w, w->mlp_in_b, N, d, F);
		memcpy(a.a, a.u, (size_t)N * F * sizeof *a.a);
		qf_gelu_new(t->pool, a.a, N, F);
		qf_linear(t->pool, a.xout, a.a, w->mlp_out_w, w->mlp_out_b, N, F,
			  d);
		add_rows(t, a.xout, a.xmid, N, d);
	}
	qf_layernorm(t->pool, final_act(t), t->act + (size_t)c->n_layer * N * d,
		     t->W.final_w, t->W.final_b, N, d, c->norm_eps);

	if (grad)
		memset(t->g, 0, t->nparam * sizeof *t->g);
	gt = t->scr + (size_t)N * d;	/* the final norm's gradient */
	R = logit_rows(c, (size_t)N);
	for (size_t r0 = 0; r0 < (size_t)N; r0 += R) {
		struct head_job hj = {
			.t = t, .xf = final_act(t) + r0 * d, .L = t->logit,
			.dxf = gt + r0 * d, .nll = t->nll + r0,
			.logits = logits ? logits + r0 * V : NULL,
			.tgt = t->tgt + r0, .grad = grad,
			.scale = 1.0f / (float)N,
		};

		hj.n = (int)((size_t)N - r0 < R ? (size_t)N - r0 : R);
		qf_linear(t->pool, t->logit, hj.xf, t->W.tok_emb, NULL, hj.n, d, V);
		qf_pool_run(t->pool, (hj.n + LIN_ROWS - 1) / LIN_ROWS, head_task,
			    &hj);
		if (grad) {
			hj.ocol = out_tile(V, &ntile);
			qf_pool_run(t->pool, ntile, head_dw_task, &hj);
		}
	}
	qf_blas_set_threads(nb);
	for (int i = 0; i < N; i++)
		sum += t->nll[i];
	if (nll)
		memcpy(nll, t->nll, (size_t)N * sizeof *nll);
	*loss = sum / N;
	t->have_grad = grad;
	return 0;
}

int qf_train_backward(qf_train *t, qf_err *err)
{
	const qf_model_config *c = &t->cfg;
	int d = c->n_embd, F = c->n_inner, N = t->B * t->T, nb;
	float *gx = t->scr, *gt = gx + (size_t)N * d;
	float *gqkv = gt + (size_t)N * d, *gf = gqkv + (size_t)3 * N * d;
	float *part = gf + (size_t)N * F;
	struct attn_job aj;
	struct ew_job ej;

	if (!t->have_grad)
		return qf_err_set(err, "backward without a forward pass with "
				  "gradients");
	nb = qf_blas_threads();
	qf_blas_set_threads(1);
	memset(gx, 0, (size_t)N * d * sizeof *gx);
	layernorm_back(t, gx, t->G.final_w, t->G.final_b, gt,
		       t->act + (size_t)c->n_layer * N * d, t->W.final_w, part);
	memset(&aj, 0, sizeof aj);
	aj.B = t->B;
	aj.T = t->T;
	aj.H = c->n_head;
	aj.hd = c->head_dim;
	aj.d = d;
	aj.nblk = (t->T + QF_ATTN_QB - 1) / QF_ATTN_QB;
	aj.scale = 1.0f / sqrtf((float)c->head_dim);
	aj.scr = t->attn_scr;
	aj.lds = t->T;
	for (int l = c->n_layer - 1; l >= 0; l--) {
		const struct qf_layer *w = &t->W.layer[l];
		struct qf_layer *g = &t->G.layer[l];
		struct layer_act a;

		layer_acts(t, l, &a);
		/* x_out = xmid + gelu(ln2 · Winᵀ + bin) · Woutᵀ + bout */
		linear_back(t, gf, g->mlp_out_w, g->mlp_out_b, gx, a.a,
			    w->mlp_out_w, N, F, d);
		memset(&ej, 0, sizeof ej);
		ej.dx = gf;
		ej.u = a.u;
		ej.N = N;
		ej.F = F;
		qf_pool_run(t->pool, (N + LN_ROWS - 1) / LN_ROWS, gelu_back_task,
			    &ej);
		linear_back(t, gt, g->mlp_in_w, g->mlp_in_b, gf, a.ln2,
			    w->mlp_in_w, N, d, F);
		layernorm_back(t, gx, g->ln2_w, g->ln2_b, gt, a.xmid, w->ln2_w,
			       part);
		/* xmid = x + attention(ln1 · Wqkvᵀ + bqkv) · Woᵀ + bo */
		linear_back(t, gt, g->out_w, g->out_b, gx, a.z, w->out_w, N, d, d);
		aj.qkv = a.qkv;
		aj.probs = a.probs;
		aj.dz = gt;
		aj.dqkv = gqkv;
		qf_pool_run(t->pool, t->B * c->n_head, attn_back_task, &aj);
		linear_back(t, gt, g->qkv_w, g->qkv_b, gqkv, a.ln1, w->qkv_w, N,
			    d, 3 * d);
		layernorm_back(t, gx, g->ln1_w, g->ln1_b, gt, a.x, w->ln1_w,
			       part);
	}
	memset(&ej, 0, sizeof ej);
	ej.t = t;
	ej.dy = gx;
	ej.tok = t->inp;
	ej.N = N;
	ej.T = t->T;
	ej.d = d;
	qf_pool_run(t->pool, (d + 63) / 64, embed_back_task, &ej);
	qf_blas_set_threads(nb);
	t->have_grad = 0;
	return 0;
}

/* ------------------------------------------------------------ the update */

struct flat_job {
	qf_train *t;
	float lr_decay, b1, b2, c1, c2, step, bc2s, eps, clip;
};

static void sumsq_task(void *ctx, int task, int tid)
{
	const struct flat_job *j = ctx;
	const struct ftask *f = &j->t->ft[task];
	const float *g = j->t->g + j->t->t[f->ti].off + f->off;
	double s = 0;

	(void)tid;
	for (size_t i = 0; i < f->n; i++)
		s += (double)g[i] * g[i];
	j->t->part[task] = s;
}

double qf_train_grad_norms(qf_train *t, double *group)
{
	struct flat_job j = { .t = t };
	int ng = t->cfg.n_layer + 2;
	double total = 0;

	qf_pool_run(t->pool, (int)t->nft, sumsq_task, &j);
	if (group)
		for (int i = 0; i < ng; i++)
			group[i] = 0;
	for (size_t k = 0; k < t->nft; k++) {
		total += t->part[k];
		if (group)
			group[t->t[t->ft[k].ti].group] += t->part[k];
	}
	if (group)
		for (int i = 0; i < ng; i++)
			group[i] = sqrt(group[i]);
	return sqrt(total);
}

/* AdamW on n elements, in torch's order of operations (single-tensor
 * AdamW of torch 1.13): clip, decay, moments, bias-corrected step.  A
 * clip or decay of 1 changes nothing (x · 1 = x). */
static void adamw_span(float *restrict w, float *restrict g, float *restrict m,
		       float *restrict v, size_t n, const struct flat_job *j,
		       float decay)
{
	float clip = j->clip, b1 = j->b1, c1 = j->c1, b2 = j->b2, c2 = j->c2;
	float bc2s = j->bc2s, eps = j->eps, step = j->step;

	for (size_t i = 0; i < n; i++) {
		float gi = g[i] * clip;

		g[i] = gi;
		w[i] *= decay;
		m[i] = m[i] * b1 + c1 * gi;
		v[i] = v[i] * b2 + c2 * gi * gi;
		w[i] += step * (m[i] / (sqrtf(v[i]) / bc2s + eps));
	}
}

static void adamw_task(void *ctx, int task, int tid)
{
	const struct flat_job *j = ctx;
	const struct ftask *f = &j->t->ft[task];
	size_t off = j->t->t[f->ti].off + f->off;

	(void)tid;
	adamw_span(j->t->w + off, j->t->g + off, j->t->m + off, j->t->v + off,
		   f->n, j, j->t->t[f->ti].decay ? j->lr_decay : 1.0f);
}

void qf_train_update(qf_train *t, const qf_train_opts *o, double norm)
{
	double lr = qf_train_lr(o, t->step), n = (double)(t->step + 1);
	double bc1 = 1 - pow(o->beta1, n), bc2 = 1 - pow(o->beta2, n);
	struct flat_job j = {
		.t = t,
		.lr_decay = (float)(1 - lr * o->weight_decay),
		.b1 = (float)o->beta1, .b2 = (float)o->beta2,
		.c1 = (float)(1 - o->beta1), .c2 = (float)(1 - o->beta2),
		.step = (float)(-(lr / bc1)), .bc2s = (float)sqrt(bc2),
		.eps = (float)o->eps, .clip = 1.0f,
	};

	if (o->clip > 0) {
		float coef = (float)(o->clip / (norm + 1e-6));

		if (coef < 1.0f)
			j.clip = coef;
	}
	qf_pool_run(t->pool, (int)t->nft, adamw_task, &j);
	t->step++;
}

int qf_train_step(qf_train *t, const int32_t *tok, int B, int T,
		  const qf_train_opts *o, qf_train_stats *s, qf_err *err)
{
	double loss, norm;

	if (qf_train_forward(t, tok, B, T, 1, NULL, NULL, &loss, err) < 0 ||
	    qf_train_backward(t, err) < 0)
		return -1;
	norm = qf_train_grad_norms(t, s ? s->group : NULL);
	if (!isfinite(loss) || !isfinite(norm))
		return qf_err_set(err, "step %" PRIu64 ": loss %g, gradient norm "
				  "%g: not finite", t->step + 1, loss, norm);
	if (s) {
		s->step = t->step + 1;
		s->lr = qf_train_lr(o, t->step);
		s->loss = loss;
		s->grad_norm = norm;
	}
	qf_train_update(t, o, norm);
	t->tokens += (uint64_t)B * T;
	return 0;
}

/* ------------------------------------------------------------ checkpoints */

/* The shortest of %.6g .. %.9g that reads back as x. */
static void float_text(char *buf, size_t n, float x)
{
	for (int p = 6; p <= 9; p++) {
		snprintf(buf, n, "%.*g", p, (double)x);
		if (strtof(buf, NULL) == x)
			return;
	}
}

/* The shortest of %.15g .. %.17g that reads back as x. */
static int set_double(qf_rec *rec, const char *key, double x, qf_err *err)
{
	char buf[40];

	for (int p = 15; p <= 17; p++) {
		snprintf(buf, sizeof buf, "%.*g", p, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	return qf_rec_set(rec, key, buf, err);
}

static uint64_t weights_fnv(const qf_train *t)
{
	uint64_t h = FNV_INIT;

	for (size_t i = 0; i < t->nt; i++)
		h = fnv1a(h, t->w + t->t[i].off, t->t[i].n * sizeof *t->w);
	return h;
}

static int put_header(qf_writer *w, const qf_rec *rec, qf_err *err)
{
	return qf_writer_put(w, rec, NULL, err);
}

/* A tensor record: name, f32 [dims] of x, attributes as weights.md says
 * (kind etc.) or, for the optimizer's, kind and param. */
static int put_tensor(qf_writer *w, const char *name, const struct tensor *x,
		      const char *kind, const float *data, qf_err *err)
{
	qf_rec rec;
	int rc = 0;

	qf_rec_init(&rec);
	rc |= qf_rec_set_name(&rec, name, err);
	rc |= qf_rec_set_shape(&rec, QF_F32, x->ndim, x->dims, err);
	if (kind) {
		rc |= qf_rec_set(&rec, "kind", kind, err);
		rc |= qf_rec_set(&rec, "param", x->name, err);
	} else {
		rc |= qf_rec_set(&rec, "kind", x->kind, err);
		rc |= qf_rec_set(&rec, "module", x->module, err);
		rc |= qf_rec_set(&rec, "param", x->param, err);
		if (x->layer >= 0)
			rc |= qf_rec_setf(&rec, err, "layer", "%d", x->layer);
	}
	if (rc == 0)
		rc = qf_writer_put(w, &rec, data, err);
	qf_rec_free(&rec);
	return rc ? -1 : 0;
}

static int write_opt(qf_train *t, const char *path, const qf_train_opts *o,
		     const qf_rec *meta, uint64_t fnv, qf_err *err)
{
	qf_writer *w = qf_writer_open(path, NULL, err);
	qf_rec rec;
	uint64_t zero = 0, four = 4;
	char name[128];
	int rc = 0;

	if (!w)
		return -1;
	qf_rec_init(&rec);
	rc |= qf_rec_set_name(&rec, "train", err);
	rc |= qf_rec_set_shape(&rec, QF_U8, 1, &zero, err);
	rc |= qf_rec_set(&rec, "kind", "train_state", err);
	rc |= qf_rec_set(&rec, "format", "1", err);
	rc |= qf_rec_setf(&rec, err, "step", "%" PRIu64, t->step);
	rc |= qf_rec_setf(&rec, err, "tokens", "%" PRIu64, t->tokens);
	rc |= qf_rec_setf(&rec, err, "seed", "%" PRIu64, t->seed);
	rc |= qf_rec_setf(&rec, err, "weights_fnv", "%016" PRIx64, fnv);
	rc |= set_double(&rec, "lr", o->lr, err);
	rc |= set_double(&rec, "min_lr", o->min_lr, err);
	rc |= qf_rec_setf(&rec, err, "warmup", "%" PRIu64, o->warmup);
	rc |= qf_rec_setf(&rec, err, "steps", "%" PRIu64, o->steps);
	rc |= set_double(&rec, "weight_decay", o->weight_decay, err);
	rc |= set_double(&rec, "beta1", o->beta1, err);
	rc |= set_double(&rec, "beta2", o->beta2, err);
	rc |= set_double(&rec, "eps", o->eps, err);
	rc |= set_double(&rec, "clip", o->clip, err);
	for (size_t i = 0; meta && i < meta->nattr && !rc; i++)
		if (!qf_rec_get(&rec, meta->attr[i].key))
			rc |= qf_rec_set(&rec, meta->attr[i].key,
					 meta->attr[i].val, err);
	if (!rc)
		rc = put_header(w, &rec, err);
	qf_rec_free(&rec);
	qf_rec_init(&rec);
	if (!rc) {
		rc |= qf_rec_set_name(&rec, "rng", err);
		rc |= qf_rec_set_shape(&rec, QF_U64, 1, &four, err);
		rc |= qf_rec_set(&rec, "kind", "rng_state", err);
		rc |= qf_rec_set(&rec, "generator", "xoshiro256**", err);
		if (!rc)
			rc = qf_writer_put(w, &rec, t->rng, err);
	}
	qf_rec_free(&rec);
	for (size_t i = 0; i < t->nt && !rc; i++) {
		snprintf(name, sizeof name, "adam.m.%s", t->t[i].name);
		rc = put_tensor(w, name, &t->t[i], "adam_m", t->m + t->t[i].off,
				err);
		snprintf(name, sizeof name, "adam.v.%s", t->t[i].name);
		if (!rc)
			rc = put_tensor(w, name, &t->t[i], "adam_v",
					t->v + t->t[i].off, err);
	}
	if (rc) {
		qf_writer_abort(w);
		return -1;
	}
	return qf_writer_close(w, err);
}

static int write_weights(qf_train *t, const char *path, qf_err *err)
{
	const qf_model_config *c = &t->cfg;
	qf_writer *w = qf_writer_open(path, NULL, err);
	qf_rec rec;
	uint64_t zero = 0;
	char eps[32];
	int rc = 0;

	if (!w)
		return -1;
	float_text(eps, sizeof eps, c->norm_eps);
	qf_rec_init(&rec);
	rc |= qf_rec_set_name(&rec, "config", err);
	rc |= qf_rec_set_shape(&rec, QF_U8, 1, &zero, err);
	rc |= qf_rec_set(&rec, "kind", "config", err);
	rc |= qf_rec_set(&rec, "arch", "gpt2", err);
	rc |= qf_rec_setf(&rec, err, "n_layer", "%d", c->n_layer);
	rc |= qf_rec_setf(&rec, err, "n_embd", "%d", c->n_embd);
	rc |= qf_rec_setf(&rec, err, "n_head", "%d", c->n_head);
	rc |= qf_rec_setf(&rec, err, "n_ctx", "%d", c->n_ctx);
	rc |= qf_rec_setf(&rec, err, "n_inner", "%d", c->n_inner);
	rc |= qf_rec_setf(&rec, err, "vocab_size", "%d", c->vocab_size);
	rc |= qf_rec_set(&rec, "layer_norm_epsilon", eps, err);
	rc |= qf_rec_set(&rec, "activation", "gelu_new", err);
	rc |= qf_rec_set(&rec, "tie_word_embeddings", "true", err);
	rc |= qf_rec_set(&rec, "source_format", "qf-train", err);
	rc |= qf_rec_setf(&rec, err, "train_step", "%" PRIu64, t->step);
	rc |= qf_rec_setf(&rec, err, "train_tokens", "%" PRIu64, t->tokens);
	if (!rc)
		rc = put_header(w, &rec, err);
	qf_rec_free(&rec);
	for (size_t i = 0; i < t->nt && !rc; i++)
		rc = put_tensor(w, t->t[i].name, &t->t[i], NULL,
				t->w + t->t[i].off, err);
	if (rc) {
		qf_writer_abort(w);
		return -1;
	}
	return qf_writer_close(w, err);
}

static char *opt_path(const char *path, qf_err *err)
{
	size_t n = strlen(path) + 5;
	char *p = malloc(n);

	if (!p)
		qf_err_set(err, "out of memory");
	else
		snprintf(p, n, "%s.opt", path);
	return p;
}

int qf_train_save(qf_train *t, const char *path, const qf_train_opts *o,
		  const qf_rec *meta, qf_err *err)
{
	char *op;
	int rc;

	if (strcmp(path, "-") == 0)
		return qf_err_set(err, "a checkpoint needs a file name, not "
				  "standard output");
	if (!(op = opt_path(path, err)))
		return -1;
	rc = write_opt(t, op, o, meta, weights_fnv(t), err);
	if (rc == 0)
		rc = write_weights(t, path, err);
	free(op);
	return rc;
}

/* An attribute of the train record as a number. */
static int meta_u64(const qf_rec *rec, const char *file, const char *key,
		    uint64_t *out, qf_err *err)
{
	const char *v = qf_rec_get(rec, key);
	qf_err e2;

	if (!v || qf_parse_u64(v, UINT64_MAX, out, &e2) < 0)
		return qf_err_set(err, "%s: record train: attribute %s %s", file,
				  key, v ? "is not a count" : "missing");
	return 0;
}

static int meta_double(const qf_rec *rec, const char *file, const char *key,
		       double *out, qf_err *err)
{
	const char *v = qf_rec_get(rec, key);
	qf_err e2;

	if (!v || qf_parse_double(v, out, &e2) < 0)
		return qf_err_set(err, "%s: record train: attribute %s %s", file,
				  key, v ? "is not a number" : "missing");
	return 0;
}

static int read_train_rec(qf_train *t, const qf_rec *rec, const char *file,
			  qf_train_opts *o, uint64_t *fnv, qf_err *err)
{
	const char *v = qf_rec_get(rec, "kind"), *f = qf_rec_get(rec, "format");
	qf_err e2;

	if (strcmp(rec->name, "train") != 0 || !v ||
	    strcmp(v, "train_state") != 0)
		return qf_err_set(err, "%s: record %s: expected the train record "
				  "of an optimizer state first", file, rec->name);
	if (!f || strcmp(f, "1") != 0)
		return qf_err_set(err, "%s: record train: format '%s' not "
				  "supported (1)", file, f ? f : "");
	v = qf_rec_get(rec, "weights_fnv");
	if (!v || strlen(v) != 16 || sscanf(v, "%" SCNx64, fnv) != 1)
		return qf_err_set(err, "%s: record train: attribute weights_fnv "
				  "missing or malformed", file);
	if (meta_u64(rec, file, "step", &t->step, err) < 0 ||
	    meta_u64(rec, file, "tokens", &t->tokens, err) < 0 ||
	    meta_u64(rec, file, "seed", &t->seed, err) < 0 ||
	    meta_double(rec, file, "lr", &o->lr, err) < 0 ||
	    meta_double(rec, file, "min_lr", &o->min_lr, err) < 0 ||
	    meta_u64(rec, file, "warmup", &o->warmup, err) < 0 ||
	    meta_u64(rec, file, "steps", &o->steps, err) < 0 ||
	    meta_double(rec, file, "weight_decay", &o->weight_decay, err) < 0 ||
	    meta_double(rec, file, "beta1", &o->beta1, err) < 0 ||
	    meta_double(rec, file, "beta2", &o->beta2, err) < 0 ||
	    meta_double(rec, file, "eps", &o->eps, err) < 0 ||
	    meta_double(rec, file, "clip", &o->clip, err) < 0)
		return -1;
	if (qf_train_opts_check(o, &e2) < 0)
		return qf_err_set(err, "%s: record train: %s", file, e2.msg);
	return 0;
}

/* The records after the train record: rng and the moments, each once. */
static int read_opt_records(qf_train *t, qf_reader *r, const char *file,
			    qf_err *err)
{
	unsigned char *seen = calloc(2 * t->nt + 1, 1);
	qf_rec rec;
	void *buf;
	int rc;

	if (!seen)
		return qf_err_set(err, "out of memory");
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(r, &rec, err)) > 0) {
		size_t k = 2 * t->nt;
		const struct tensor *x = NULL;
		float *dst = NULL;

		if (strcmp(rec.name, "rng") == 0) {
			if (rec.dtype != QF_U64 || rec.ndim != 1 || rec.dims[0] != 4) {
				rc = qf_err_set(err, "%s: record rng: expected u64 "
						"[4]", file);
				break;
			}
		} else {
			for (size_t i = 0; i < t->nt && !x; i++)
				for (int mv = 0; mv < 2; mv++)
					if (strncmp(rec.name, mv ? "adam.v." :
						    "adam.m.", 7) == 0 &&
					    strcmp(rec.name + 7, t->t[i].name) == 0) {
						x = &t->t[i];
						k = 2 * i + (size_t)mv;
						dst = (mv ? t->v : t->m) + x->off;
					}
			if (!x) {
				rc = qf_err_set(err, "%s: record %s: not part of the "
						"optimizer state of this model",
						file, rec.name);
				break;
			}
			if (rec.dtype != QF_F32 || rec.ndim != x->ndim ||
			    rec.dims[0] != x->dims[0] ||
			    (x->ndim == 2 && rec.dims[1] != x->dims[1])) {
				rc = qf_err_set(err, "%s: record %s: expected f32 of "
						"the shape of %s", file, rec.name,
						x->name);
				break;
			}
		}
		if (seen[k]) {
			rc = qf_err_set(err, "%s: record %s: appears twice", file,
					rec.name);
			break;
		}
		seen[k] = 1;
		if (qf_reader_read_all(r, &buf, err) < 0) {
			rc = -1;
			break;
		}
		if (dst)
			memcpy(dst, buf, x->n * sizeof *dst);
		else
			memcpy(t->rng, buf, sizeof t->rng);
		free(buf);
	}
	for (size_t k = 0; rc == 0 && k <= 2 * t->nt; k++)
		if (!seen[k]) {
			if (k == 2 * t->nt)
				rc = qf_err_set(err, "%s: record rng: missing", file);
			else
				rc = qf_err_set(err, "%s: record adam.%c.%s: missing",
						file, k % 2 ? 'v' : 'm',
						t->t[k / 2].name);
		}
	free(seen);
	qf_rec_free(&rec);
	return rc < 0 ? -1 : 0;
}

qf_train *qf_train_resume(const char *path, qf_train_opts *o, qf_rec *meta,
			  qf_err *err)
{
	qf_train *t = NULL;
	qf_train_opts so;
	qf_reader *r = NULL;
	qf_rec rec;
	uint64_t fnv, step, wstep = 0;
	char *op = opt_path(path, err);
	const char *v;
	qf_err e2;
	int rc;

	qf_rec_init(&rec);
	if (!op || !(t = qf_train_load(path, 0, err)))
		goto fail;
	if (!(r = qf_reader_open(op, err)))
		goto fail;
	rc = qf_reader_next(r, &rec, err);
	if (rc == 0)
		qf_err_set(err, "%s: no records, expected an optimizer state", op);
	if (rc <= 0 || read_train_rec(t, &rec, op, &so, &fnv, err) < 0)
		goto fail;
	if (meta && qf_rec_copy(meta, &rec, err) < 0)
		goto fail;
	if (fnv != weights_fnv(t)) {
		qf_err_set(err, "%s: the optimizer state of other weights than "
			   "those in %s (weights_fnv differs)", op, path);
		goto fail;
	}
	if (read_opt_records(t, r, op, err) < 0)
		goto fail;
	qf_reader_close(r);
	r = NULL;
	/* the weights' config says which step they are from */
	step = t->step;
	if (!(r = qf_reader_open(path, err)) || qf_reader_next(r, &rec, err) <= 0)
		goto fail;
	v = qf_rec_get(&rec, "train_step");
	if (v && (qf_parse_u64(v, UINT64_MAX, &wstep, &e2) < 0 || wstep != step)) {
		qf_err_set(err, "%s: record config: train_step %s, but %s holds "
			   "the optimizer state of step %" PRIu64, path, v, op,
			   step);
		goto fail;
	}
	qf_reader_close(r);
	qf_rec_free(&rec);
	free(op);
	if (o)
		*o = so;
	return t;
fail:
	if (r)
		qf_reader_close(r);
	qf_rec_free(&rec);
	free(op);
	qf_train_free(t);
	return NULL;
}

/* ------------------------------------------------------------ training data */

struct tlang {
	char *code;
	int32_t *tok;
	uint64_t n, cap;
	double w;
};

struct qf_tdata {
	struct tlang *lang;
	size_t n;
	double *cum;		/* cumulative probabilities, last 1 */
	int window;
};

void qf_tdata_free(qf_tdata *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->lang[i].code);
		free(d->lang[i].tok);
	}
	free(d->lang);
	free(d->cum);
	free(d);
}

static struct tlang *lang_of(qf_tdata *d, const char *code, int add,
			     qf_err *err)
{
	struct tlang *l;

	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->lang[i].code, code) == 0)
			return &d->lang[i];
	if (!add)
		return NULL;
	l = realloc(d->lang, (d->n + 1) * sizeof *l);
	if (!l) {
		qf_err_set(err, "out of memory");
		return NULL;
	}
	d->lang = l;
	l = &d->lang[d->n];
	memset(l, 0, sizeof *l);
	if (!(l->code = strdup(code))) {
		qf_err_set(err, "out of memory");
		return NULL;
	}
	d->n++;
	return l;
}

/* Append n ids and the separator to l. */
static int lang_append(struct tlang *l, const int32_t *tok, uint64_t n,
		       int32_t sep, qf_err *err)
{
	if (l->n + n + 1 > l->cap) {
		uint64_t cap = l->cap ? l->cap : 4096;
		int32_t *p;

		while (cap < l->n + n + 1)
			cap *= 2;
		if (!(p = realloc(l->tok, cap * sizeof *p)))
			return qf_err_set(err, "out of memory");
		l->tok = p;
		l->cap = cap;
	}
	memcpy(l->tok + l->n, tok, n * sizeof *tok);
	l->n += n;
	l->tok[l->n++] = sep;
	return 0;
}

static int read_tokens(qf_tdata *d, const char *path, int vocab, int32_t sep,
		       qf_err *err)
{
	qf_reader *r = qf_reader_open(path, err);
	const char *name;
	qf_rec rec;
	int32_t *tok = NULL;
	int rc;

	if (!r)
		return -1;
	name = qf_reader_name(r);
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(r, &rec, err)) > 0) {
		const char *lang = qf_rec_get(&rec, "lang");
		struct tlang *l;
		uint64_t n;

		if (qf_dtype_is_float(rec.dtype) || rec.dtype == QF_BOOL ||
		    rec.ndim != 1) {
			rc = qf_err_set(err, "%s: record %s: dtype %s, %d dims: "
					"expected 1-d integer token ids", name,
					rec.name, qf_dtype_name(rec.dtype),
					rec.ndim);
			break;
		}
		if (!lang || !*lang) {
			rc = qf_err_set(err, "%s: record %s: no lang attribute",
					name, rec.name);
			break;
		}
		if (qf_reader_read_as(r, QF_I32, (void **)&tok, err) < 0) {
			rc = -1;
			break;
		}
		n = rec.dims[0];
		for (uint64_t i = 0; i < n && rc > 0; i++)
			if (tok[i] < 0 || tok[i] >= vocab)
				rc = qf_err_set(err, "%s: record %s: token id %"
						PRId32 " at position %" PRIu64
						" out of range (vocab_size %d)",
						name, rec.name, tok[i], i, vocab);
		if (rc > 0 && (!(l = lang_of(d, lang, 1, err)) ||
			       lang_append(l, tok, n, sep, err) < 0))
			rc = -1;
		free(tok);
		tok = NULL;
		if (rc < 0)
			break;
	}
	if (rc == 0 && d->n == 0)
		rc = qf_err_set(err, "%s: no token records", name);
	qf_rec_free(&rec);
	qf_reader_close(r);
	return rc < 0 ? -1 : 0;
}

/* The mix file: lines "lang<TAB>weight"; blank lines, lines starting with
 * '#' and a header "lang<TAB>weight" (the first other line) are skipped.  A line "*<TAB>weight"
 * gives the weight of every language no other line names (0 without one). */
static int read_mix(qf_tdata *d, const char *path, const char *tokens,
		    qf_err *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *tab;
	size_t cap = 0;
	ssize_t len;
	unsigned char *named;
	int rc = 0, have_rest = 0, seen = 0;
	double rest = 0;
	uint64_t ln = 0;

	if (!f)
		return qf_err_set(err, "%s: cannot open: %s", path, strerror(errno));
	if (!(named = calloc(d->n, 1))) {
		fclose(f);
		return qf_err_set(err, "out of memory");
	}
	while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
		struct tlang *l;
		double w;
		qf_err e2;

		ln++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		tab = strchr(line, '\t');
		if (!tab || strchr(tab + 1, '\t') || tab == line) {
			rc = qf_err_set(err, "%s: line %" PRIu64 ": expected "
					"'lang<TAB>weight'", path, ln);
			break;
		}
		*tab = '\0';
		if (!seen++ && strcmp(line, "lang") == 0 &&
		    strcmp(tab + 1, "weight") == 0)
			continue;
		if (qf_parse_double(tab + 1, &w, &e2) < 0 || !(w >= 0) ||
		    !isfinite(w)) {
			rc = qf_err_set(err, "%s: line %" PRIu64 ": weight '%s' is "
					"not a non-negative number", path, ln,
					tab + 1);
			break;
		}
		if (strcmp(line, "*") == 0) {
			if (have_rest) {
				rc = qf_err_set(err, "%s: line %" PRIu64 ": '*' "
						"given twice", path, ln);
				break;
			}
			have_rest = 1;
			rest = w;
			continue;
		}
		if (!(l = lang_of(d, line, 0, err))) {
			rc = qf_err_set(err, "%s: line %" PRIu64 ": language '%s' "
					"has no documents in %s", path, ln, line,
					tokens);
			break;
		}
		if (named[l - d->lang]) {
			rc = qf_err_set(err, "%s: line %" PRIu64 ": language '%s' "
					"given twice", path, ln, line);
			break;
		}
		named[l - d->lang] = 1;
		l->w = w;
	}
	if (rc == 0 && ferror(f))
		rc = qf_err_set(err, "%s: read error: %s", path, strerror(errno));
	for (size_t i = 0; rc == 0 && i < d->n; i++)
		if (!named[i])
			d->lang[i].w = rest;
	free(line);
	free(named);
	fclose(f);
	return rc;
}

qf_tdata *qf_tdata_load(const char *tokens, const char *mix, int vocab,
			int32_t sep, int window, qf_err *err)
{
	qf_tdata *d = calloc(1, sizeof *d);
	double sum = 0, acc = 0;
	size_t last = 0;

	if (!d) {
		qf_err_set(err, "out of memory");
		return NULL;
	}
	d->window = window;
	if (sep < 0 || sep >= vocab) {
		qf_err_set(err, "separator token %" PRId32 " out of range "
			   "(vocab_size %d)", sep, vocab);
		goto fail;
	}
	if (read_tokens(d, tokens, vocab, sep, err) < 0)
		goto fail;
	if (mix) {
		if (read_mix(d, mix, tokens ? tokens : "-", err) < 0)
			goto fail;
	} else {
		for (size_t i = 0; i < d->n; i++)
			d->lang[i].w = (double)d->lang[i].n;
	}
	for (size_t i = 0; i < d->n; i++) {
		if (d->lang[i].w > 0 && d->lang[i].n < (uint64_t)window) {
			qf_err_set(err, "%s: language '%s' has %" PRIu64 " tokens "
				   "(separators included), fewer than a window "
				   "of %d", tokens ? tokens : "-",
				   d->lang[i].code, d->lang[i].n, window);
			goto fail;
		}
		sum += d->lang[i].w;
	}
	if (!(sum > 0)) {
		qf_err_set(err, "%s: every language has weight 0", mix ? mix : "-");
		goto fail;
	}
	if (!(d->cum = malloc(d->n * sizeof *d->cum))) {
		qf_err_set(err, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < d->n; i++) {
		acc += d->lang[i].w / sum;
		d->cum[i] = acc;
		if (d->lang[i].w > 0)
			last = i;
	}
	for (size_t i = last; i < d->n; i++)
		d->cum[i] = 1.0;
	return d;
fail:
	qf_tdata_free(d);
	return NULL;
}

void qf_tdata_sample(const qf_tdata *d, uint64_t rng[4], int B, int32_t *tok,
		     int *langs)
{
	for (int b = 0; b < B; b++) {
		double u = uniform(rng);
		size_t i = 0;
		const struct tlang *l;
		uint64_t start;

		while (i + 1 < d->n && !(u < d->cum[i] && d->lang[i].w > 0))
			i++;
		l = &d->lang[i];
		start = below(rng, l->n - (uint64_t)d->window + 1);
		memcpy(tok + (size_t)b * d->window, l->tok + start,
		       (size_t)d->window * sizeof *tok);
		if (langs)
			langs[b] = (int)i;
	}
}

size_t qf_tdata_nlangs(const qf_tdata *d)
{
	return d->n;
}

const char *qf_tdata_lang(const qf_tdata *d, size_t i, double *p,
			  uint64_t *ntok)
{
	if (i >= d->n)
		return NULL;
	if (p)
		*p = d->cum[i] - (i ? d->cum[i - 1] : 0);
	if (ntok)
		*ntok = d->lang[i].n;
	return d->lang[i].code;
}
