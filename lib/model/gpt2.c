/*
 * gpt2.c - GPT-2: its config, its tensors, its embedding, block and final
 * norm, and the element-wise kernels only GPT-2 uses (LayerNorm,
 * gelu_new).
 *
 * The block, on the residual stream x [T, d], is Hugging Face's GPT2Block:
 *
 *     ln   = LayerNorm(x; ln1)                     site ln1_out
 *     qkv  = ln · qkv_wᵀ + qkv_b                   [T, 3d]
 *     z    = causal softmax(q kᵀ / sqrt(hd)) v     site attn_z, per head
 *     o    = z · out_wᵀ + out_b                    site attn_out
 *     x   += o                                     site resid_mid
 *     ln   = LayerNorm(x; ln2)                     site ln2_out
 *     fc   = gelu_new(ln · mlp_in_wᵀ + mlp_in_b)   site mlp_act
 *     o    = fc · mlp_out_wᵀ + mlp_out_b           site mlp_out
 *     x   += o                                     site resid_post
 *
 * with gelu_new(u) = 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u³))),
 * computed as u / (1 + exp(-2 sqrt(2/pi) (u + 0.044715 u³))), the same
 * function (0.5 (1 + tanh a) = 1 / (1 + e^-2a)) without tanh's
 * cancellation near -1.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "model/runtime.h"

/* ------------------------------------------------------------ config */

static int gpt2_config(qf_model_config *c, const qf_rec *rec,
		       const char *file, qf_err *err)
{
	const char *act;

	if (qf_cfg_int(rec, file, "n_layer", 1 << 12, &c->n_layer, err) < 0 ||
	    qf_cfg_int(rec, file, "n_embd", 1 << 16, &c->n_embd, err) < 0 ||
	    qf_cfg_int(rec, file, "n_head", 1 << 12, &c->n_head, err) < 0 ||
	    qf_cfg_int(rec, file, "n_ctx", 1 << 20, &c->n_ctx, err) < 0 ||
	    qf_cfg_int(rec, file, "n_inner", 1 << 20, &c->n_inner, err) < 0 ||
	    qf_cfg_int(rec, file, "vocab_size", 1 << 24, &c->vocab_size, err) < 0 ||
	    qf_cfg_float(rec, file, "layer_norm_epsilon", &c->norm_eps, err) < 0 ||
	    qf_cfg_bool(rec, file, "tie_word_embeddings", &c->tied, err) < 0)
		return -1;
	if (!(act = qf_cfg_str(rec, file, "activation", err)))
		return -1;
	if (strcmp(act, "gelu_new") != 0)
		return qf_err_set(err, "%s: record config: activation '%s' not "
				  "supported (only gelu_new)", file, act);
	if (c->n_embd % c->n_head)
		return qf_err_set(err, "%s: record config: n_embd %d is not a "
				  "multiple of n_head %d", file, c->n_embd,
				  c->n_head);
	c->n_kv_head = c->n_head;
	c->head_dim = c->n_embd / c->n_head;
	return 0;
}

/* ------------------------------------------------------------ tensors */

static void slot(struct qf_slot *s, size_t *n, float **dst, uint64_t d0,
		 uint64_t d1, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Append a tensor of shape [d0] (d1 = 0) or [d0, d1]. */
static void slot(struct qf_slot *s, size_t *n, float **dst, uint64_t d0,
		 uint64_t d1, const char *fmt, ...)
{
	va_list ap;

	if (s) {
		s += *n;
		va_start(ap, fmt);
		vsnprintf(s->name, sizeof s->name, fmt, ap);
		va_end(ap);
		s->ndim = d1 ? 2 : 1;
		s->dims[0] = d0;
		s->dims[1] = d1;
		s->dst = dst;
	}
	(*n)++;
}

static size_t gpt2_slots(qf_model *m, struct qf_slot *s)
{
	const qf_model_config *c = &m->cfg;
	uint64_t d = (uint64_t)c->n_embd, F = (uint64_t)c->n_inner;
	uint64_t V = (uint64_t)c->vocab_size, C = (uint64_t)c->n_ctx;
	size_t n = 0;

	slot(s, &n, &m->tok_emb, V, d, "tok_emb.weight");
	slot(s, &n, &m->pos_emb, C, d, "pos_emb.weight");
	for (int l = 0; l < c->n_layer; l++) {
		struct qf_layer *w = &m->layer[l];

		slot(s, &n, &w->ln1_w, d, 0, "layers.%d.ln1.weight", l);
		slot(s, &n, &w->ln1_b, d, 0, "layers.%d.ln1.bias", l);
		slot(s, &n, &w->qkv_w, 3 * d, d, "layers.%d.attn.qkv.weight", l);
		slot(s, &n, &w->qkv_b, 3 * d, 0, "layers.%d.attn.qkv.bias", l);
		slot(s, &n, &w->out_w, d, d, "layers.%d.attn.out.weight", l);
		slot(s, &n, &w->out_b, d, 0, "layers.%d.attn.out.bias", l);
		slot(s, &n, &w->ln2_w, d, 0, "layers.%d.ln2.weight", l);
		slot(s, &n, &w->ln2_b, d, 0, "layers.%d.ln2.bias", l);
		slot(s, &n, &w->mlp_in_w, F, d, "layers.%d.mlp.in.weight", l);
		slot(s, &n, &w->mlp_in_b, F, 0, "layers.%d.mlp.in.bias", l);
		slot(s, &n, &w->mlp_out_w, d, F, "layers.%d.mlp.out.weight", l);
		slot(s, &n, &w->mlp_out_b, d, 0, "layers.%d.mlp.out.bias", l);
	}
	slot(s, &n, &m->final_w, d, 0, "final_norm.weight");
	slot(s, &n, &m->final_b, d, 0, "final_norm.bias");
	if (!c->tied)
		slot(s, &n, &m->head, V, d, "head.weight");
	return n;
}

/* ------------------------------------------------------------ kernels */

#define ROWS_PER_TASK 16

/* y = (x - mean) / sqrt(var + eps) · w + b over one row of d. */
QF_CLONES
static void layernorm_row(float *y, const float *x, const float *w,
			  const float *b, int d, float eps)
{
	float mean, rstd;

	qf_ln_stats(x, d, eps, &mean, &rstd);
	for (int i = 0; i < d; i++)
		y[i] = (x[i] - mean) * rstd * w[i] + b[i];
}

struct ln_job {
	float *y;
	const float *x, *w, *b;
	int T, d;
	float eps;
};

static void ln_task(void *ctx, int task, int tid)
{
	const struct ln_job *j = ctx;
	int t1 = (task + 1) * ROWS_PER_TASK;

	(void)tid;
	for (int t = task * ROWS_PER_TASK; t < t1 && t < j->T; t++)
		layernorm_row(j->y + (size_t)t * j->d, j->x + (size_t)t * j->d,
			      j->w, j->b, j->d, j->eps);
}

void qf_layernorm(qf_pool *p, float *y, const float *x, const float *w,
		  const float *b, int T, int d, float eps)
{
	struct ln_job j = { y, x, w, b, T, d, eps };

	qf_pool_run(p, (T + ROWS_PER_TASK - 1) / ROWS_PER_TASK, ln_task, &j);
}

/* gelu_new in place on n values: x / (1 + exp(-2a)), a = sqrt(2/pi) (x +
 * 0.044715 x³). */
QF_CLONES
static void gelu_span(float *x, size_t n)
{
	const float k = 0.7978845608028654f;	/* sqrt(2/pi) */
	qf_v16 v, e;
	size_t i, rest;

	for (i = 0; i < n; i += 16) {
		rest = n - i < 16 ? n - i : 16;
		if (rest == 16) {
			memcpy(&v, x + i, sizeof v);
		} else {
			memset(&v, 0, sizeof v);
			memcpy(&v, x + i, rest * sizeof *x);
		}
		e = -2.0f * k * (v + 0.044715f * v * v * v);
		qf_v16_exp(&e);
		v = v / (1.0f + e);
		if (rest == 16)
			memcpy(x + i, &v, sizeof v);
		else
			memcpy(x + i, &v, rest * sizeof *x);
	}
}

struct gelu_job {
	float *x;
	int T, F;
};

static void gelu_task(void *ctx, int task, int tid)
{
	const struct gelu_job *j = ctx;
	int t0 = task * ROWS_PER_TASK;
	int t1 = t0 + ROWS_PER_TASK < j->T ? t0 + ROWS_PER_TASK : j->T;

	(void)tid;
	gelu_span(j->x + (size_t)t0 * j->F, (size_t)(t1 - t0) * j->F);
}

void qf_gelu_new(qf_pool *p, float *x, int T, int F)
{
	struct gelu_job j = { x, T, F };

	qf_pool_run(p, (T + ROWS_PER_TASK - 1) / ROWS_PER_TASK, gelu_task, &j);
}

/* ------------------------------------------------------------ the model */

static void gpt2_embed(struct qf_fwd *f)
{
	const qf_model *m = f->m;
	int d = m->cfg.n_embd;

	for (int t = 0; t < f->T; t++) {
		const float *te = m->tok_emb + (size_t)f->tok[t] * d;
		const float *pe = m->pos_emb + (size_t)t * d;
		float *x = f->x + (size_t)t * d;

		for (int i = 0; i < d; i++)
			x[i] = te[i] + pe[i];
	}
}

/* Hand a site to its hook; leave the block if the hook says so. */
#define SITE(site, buf, width) do { \
	if ((rc = qf_fwd_site(f, l, (site), (buf), (width))) != 0) \
		return rc; \
	} while (0)

static int gpt2_block(struct qf_fwd *f, int l)
{
	const qf_model_config *c = &f->m->cfg;
	const struct qf_layer *w = &f->m->layer[l];
	int T = f->T, d = c->n_embd, F = c->n_inner, rc;

	qf_layernorm(f->pool, f->ln, f->x, w->ln1_w, w->ln1_b, T, d, c->norm_eps);
	SITE(QF_SITE_LN1_OUT, f->ln, d);
	qf_linear(f->pool, f->qkv, f->ln, w->qkv_w, w->qkv_b, T, d, 3 * d);
	if ((rc = qf_fwd_attention(f, l)) != 0)
		return rc;
	SITE(QF_SITE_ATTN_Z, f->z, d);
	qf_linear(f->pool, f->o, f->z, w->out_w, w->out_b, T, d, d);
	SITE(QF_SITE_ATTN_OUT, f->o, d);
	qf_add(f->x, f->o, (size_t)T * d);
	SITE(QF_SITE_RESID_MID, f->x, d);

	qf_layernorm(f->pool, f->ln, f->x, w->ln2_w, w->ln2_b, T, d, c->norm_eps);
	SITE(QF_SITE_LN2_OUT, f->ln, d);
	qf_linear(f->pool, f->fc, f->ln, w->mlp_in_w, w->mlp_in_b, T, d, F);
	qf_gelu_new(f->pool, f->fc, T, F);
	SITE(QF_SITE_MLP_ACT, f->fc, F);
	qf_linear(f->pool, f->o, f->fc, w->mlp_out_w, w->mlp_out_b, T, F, d);
	SITE(QF_SITE_MLP_OUT, f->o, d);
	qf_add(f->x, f->o, (size_t)T * d);
	SITE(QF_SITE_RESID_POST, f->x, d);
	return 0;
}

static void gpt2_final_norm(struct qf_fwd *f, float *out)
{
	const qf_model *m = f->m;

	qf_layernorm(f->pool, out, f->x, m->final_w, m->final_b, f->T,
		  m->cfg.n_embd, m->cfg.norm_eps);
}

const struct qf_arch qf_arch_gpt2 = {
	.name = "gpt2",
	.id = QF_ARCH_GPT2,
	.config = gpt2_config,
	.slots = gpt2_slots,
	.embed = gpt2_embed,
	.block = gpt2_block,
	.final_norm = gpt2_final_norm,
};
