/*
 * state.c - the trainer's state (train.h): the config, the table of
 * tensors (the runtime's own, qf_arch_gpt2.slots) in one flat f32 block
 * with the gradients and Adam's two moments beside it, a new model's
 * initialisation, the weights of a weight stream, the accessors, threads,
 * and the seeding of its generators.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_impl.h"

/* The sampling generator's seed is the seed XOR this ("sampling"), apart
 * from the initialisation's generators. */
#define SAMPLING_SALT 0x73616d706c696e67ull

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

/* ------------------------------------------------------------ the tensors */

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

/* The runtime's table of tensors for config c, *n of them, pointing into
 * v (a model without weights, its blocks allocated: the caller frees
 * v->layer). */
static struct qf_slot *arch_slots(const qf_model_config *c, qf_model *v,
				  size_t *n, qf_err *err)
{
	struct qf_slot *s;

	memset(v, 0, sizeof *v);
	v->cfg = *c;
	v->layer = calloc((size_t)c->n_layer, sizeof *v->layer);
	*n = qf_arch_gpt2.slots(v, NULL);
	s = calloc(*n, sizeof *s);
	if (!v->layer || !s) {
		free(v->layer);
		free(s);
		qf_err_set(err, "out of memory");
		return NULL;
	}
	qf_arch_gpt2.slots(v, s);
	return s;
}

/* Point p's fields into base, as the tensors say. */
static int bind(qf_train *t, struct params *p, float *base, qf_err *err)
{
	qf_model v;
	struct qf_slot *s;
	size_t n;

	if (!(s = arch_slots(&t->cfg, &v, &n, err)))
		return -1;
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

void *qf_tr_floats(size_t n)
{
	size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
	void *p = aligned_alloc(64, bytes ? bytes : 64);

	if (p)
		memset(p, 0, bytes);
	return p;
}

/* t->t from the runtime's table: names, shapes, places in the flat
 * arrays (t->nparam floats in all), and the number of flat tasks. */
static int tensor_table(qf_train *t, qf_err *err)
{
	qf_model v;
	struct qf_slot *s;
	size_t off = 0;

	if (!(s = arch_slots(&t->cfg, &v, &t->nt, err)))
		return -1;
	free(v.layer);
	if (!(t->t = calloc(t->nt, sizeof *t->t))) {
		free(s);
		return qf_err_set(err, "out of memory");
	}
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
	t->nparam = off;
	return 0;
}

/* The tasks of the flat work: CHUNK elements of one tensor each. */
static void flat_tasks(qf_train *t)
{
	size_t k = 0;

	for (size_t i = 0; i < t->nt; i++)
		for (size_t o = 0; o < t->t[i].n; o += CHUNK) {
			t->ft[k].ti = i;
			t->ft[k].off = o;
			t->ft[k].n = t->t[i].n - o < CHUNK ? t->t[i].n - o : CHUNK;
			k++;
		}
}

/* A state for config c (checked) with zero weights. */
static qf_train *create(const qf_model_config *c, qf_err *err)
{
	qf_train *t = calloc(1, sizeof *t);
	size_t n;

	if (!t) {
		qf_err_set(err, "out of memory");
		return NULL;
	}
	t->cfg = *c;
	if (check_cfg(&t->cfg, err) < 0 || tensor_table(t, err) < 0)
		goto fail;
	n = t->nparam;
	t->w = qf_tr_floats(n);
	t->g = qf_tr_floats(n);
	t->m = qf_tr_floats(n);
	t->v = qf_tr_floats(n);
	t->ft = calloc(t->nft, sizeof *t->ft);
	t->part = calloc(t->nft, sizeof *t->part);
	if (!t->w || !t->g || !t->m || !t->v || !t->ft || !t->part) {
		qf_err_set(err, "out of memory for %zu parameters", n);
		goto fail;
	}
	flat_tasks(t);
	if (bind(t, &t->W, t->w, err) < 0 || bind(t, &t->G, t->g, err) < 0)
		goto fail;
	t->threads = qf_blas_threads();
	if (t->threads < 1)
		t->threads = 1;
	if (!(t->pool = qf_pool_new(t->threads, err)))
		goto fail;
	return t;
fail:
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

/* ------------------------------------------------------------ new weights */

/* Normal(0, 1) pairs by Box-Muller from a generator of the tensor's own,
 * so that a tensor's values depend on the seed and its name only. */
static void init_normal(float *x, size_t n, double std, uint64_t seed,
			const char *name)
{
	uint64_t s[4];

	qf_train_rng_seed(s, seed ^ qf_fnv1a(QF_FNV1A_INIT, name, strlen(name)));
	for (size_t i = 0; i < n; i += 2) {
		double u1 = ((double)(qf_xoshiro256ss(s) >> 11) + 1) * 0x1p-53;
		double u2 = qf_tr_uniform(s), r = sqrt(-2 * log(u1));

		x[i] = (float)(std * r * cos(2 * M_PI * u2));
		if (i + 1 < n)
			x[i + 1] = (float)(std * r * sin(2 * M_PI * u2));
	}
}

/* The generators of a state made from seed. */
static void seed_state(qf_train *t, uint64_t seed)
{
	t->seed = seed;
	qf_train_rng_seed(t->rng, seed ^ SAMPLING_SALT);
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
	seed_state(t, seed);
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
	seed_state(t, seed);
	return t;
}

/* ------------------------------------------------------------ accessors */

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
	if (qf_pool_replace(&t->pool, n, err) < 0)
		return -1;
	t->threads = n;
	free(t->attn_scr);		/* one per thread: made again */
	t->attn_scr = NULL;
	t->cap_attn = 0;
	return 0;
}
