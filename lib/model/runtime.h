/*
 * runtime.h - shared by the model runtime's files (model.c, gpt2.c,
 * kernels.c, act.c) and the layers above (the trainer, the scorer);
 * library-internal, not installed.
 *
 * The runtime in one picture:
 *
 *   model.c   loads a weight stream into struct qf_model through the
 *             architecture's table of tensors (struct qf_slot), checks
 *             tokens, runs a pass (embed, blocks, final norm, head and
 *             NLL) and the windows over a document;
 *   gpt2.c    GPT-2's config, tensors and the kernels of one block;
 *   kernels.c sgemm, attention, softmax and log-sum-exp, OpenBLAS's
 *             threads;
 *   act.c     activations over documents (qf-act), on the hooks.
 *
 * A second family (LLaMA) is a new `struct qf_arch` (its file, its
 * config, its tensor list, its embed, block and final norm) using the same
 * kernels; the loader, the pass, hooks and windows stay as they are.
 */
#ifndef QF_MODEL_IMPL_H
#define QF_MODEL_IMPL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model/model.h"
#include "core/internal.h"

/* ------------------------------------------------------------ threads */

/* OpenBLAS's thread count (process-wide). */
void qf_blas_set_threads(int n);
int qf_blas_threads(void);

/* ------------------------------------------------------------ kernels */

/* y [T, out] = x [T, in] · wᵀ + b, w [out, in] (nn.Linear), b [out] or
 * NULL.  Split into QF_LINEAR_BLOCKS blocks of output columns (at least
 * 64 wide) run as tasks on the pool, each a single-threaded sgemm
 * (OpenBLAS set to one thread). */
#define QF_LINEAR_BLOCKS 4
void qf_linear(qf_pool *p, float *y, const float *x, const float *w,
	       const float *b, int T, int in, int out);
/* y += x, n elements. */
void qf_add(float *y, const float *x, size_t n);
/* -log softmax(row)[target] over n logits.  With grad, row
 * becomes the gradient of scale · that: (softmax(row) - onehot) · scale;
 * without, row is only read. */
float qf_ce_row(float *row, int n, int target, int grad, float scale);
/* y [T, d] = LayerNorm(x [T, d]; w, b, eps), by rows on the pool
 * (gpt2.c). */
void qf_layernorm(qf_pool *p, float *y, const float *x, const float *w,
		  const float *b, int T, int d, float eps);
/* gelu_new in place on x [T, F], by rows on the pool (gpt2.c). */
void qf_gelu_new(qf_pool *p, float *x, int T, int F);
/* Softmax of s[0..n) in place as torch computes it (max subtracted);
 * returns 1 / sum.  With norm 0 the row is left at exp(s - max) (the
 * kernel of qf_attention). */
float qf_softmax_row(float *s, int n, int norm);

/* Causal self-attention.  Row t of q holds head h at columns h·hd, rows
 * of k and v key/value head g at columns g·hd; head h reads key/value
 * head h / (n_head / n_kv_head).  out gets head h at columns h·hd. */
struct qf_attn {
	float *out;
	const float *q, *k, *v;
	int ldo, ldq, ldkv;	/* row strides in floats */
	int T, n_head, n_kv_head, hd;
	float *probs;		/* [n_head, T, T] to keep the probabilities,
				 * or NULL */
	float *scratch;		/* per thread [QF_ATTN_QB, n_ctx] */
	int ld_scratch;
};
#define QF_ATTN_QB 128		/* query rows per task */
enum { QF_ATTN_ALL, QF_ATTN_PROBS, QF_ATTN_APPLY };
/* QF_ATTN_ALL: out from q, k, v (probabilities in scratch);
 * QF_ATTN_PROBS: only the probabilities, into a->probs;
 * QF_ATTN_APPLY: out from a->probs and v. */
void qf_attention(qf_pool *p, const struct qf_attn *a, int what);

/* ------------------------------------------------------------ vector math */

/* 16 floats: GCC vector extensions, compiled for the CPU at hand by
 * target_clones on the kernels that use them (AVX-512, AVX2 or SSE2).
 * Helpers take pointers: passing such vectors by value would change the
 * ABI between the clones. */
typedef float qf_v16 __attribute__((vector_size(64)));
typedef int32_t qf_v16i __attribute__((vector_size(64)));
#define QF_CLONES __attribute__((target_clones("arch=x86-64-v4", \
		"arch=x86-64-v3", "default")))

/* exp of 16 floats, relative error below 1e-7 (Cephes expf's
 * polynomial); 0 below -87.33, 2.4e38 above 88.37. */
static inline __attribute__((always_inline)) void qf_v16_exp(qf_v16 *px)
{
	const qf_v16 zero = { 0 };
	qf_v16 x = *px, t, r, p;
	qf_v16i n, under, over;

	under = x < -87.33f;
	over = x > 88.37f;
	x = (qf_v16)(((qf_v16i)x & ~under) | ((qf_v16i)(zero - 87.33f) & under));
	x = (qf_v16)(((qf_v16i)x & ~over) | ((qf_v16i)(zero + 88.37f) & over));
	t = x * 1.44269504088896341f + 0.5f;	/* n = floor(x·log2(e) + ½) */
	n = __builtin_convertvector(t, qf_v16i);
	n -= (qf_v16i)(__builtin_convertvector(n, qf_v16) > t) & 1;
	r = __builtin_convertvector(n, qf_v16);
	x = x - r * 0.693359375f + r * 2.12194440e-4f;	/* x - n·ln 2 */
	p = 1.9875691500e-4f * x + 1.3981999507e-3f;
	p = p * x + 8.3334519073e-3f;
	p = p * x + 4.1665795894e-2f;
	p = p * x + 1.6666665459e-1f;
	p = p * x + 5.0000001201e-1f;
	p = p * x * x + x + 1.0f;
	n = (n + 127) << 23;			/* 2^n */
	*px = (qf_v16)((qf_v16i)(p * (qf_v16)n) & ~under);
}

static inline __attribute__((always_inline)) float qf_v16_sum(const qf_v16 *v)
{
	float s = 0;
	for (int i = 0; i < 16; i++)
		s += (*v)[i];
	return s;
}

/* LayerNorm's statistics of one row x[0..d): the mean, and 1/sqrt(var +
 * eps) with the population variance.  One copy for the forward pass and
 * the trainer's backward pass, so both see the same bits. */
static inline __attribute__((always_inline)) void
qf_ln_stats(const float *x, int d, float eps, float *mean_out,
	    float *rstd_out)
{
	qf_v16 v, acc = { 0 };
	float mean, var;
	int i;

	for (i = 0; i + 16 <= d; i += 16) {
		memcpy(&v, x + i, sizeof v);
		acc += v;
	}
	mean = qf_v16_sum(&acc);
	for (; i < d; i++)
		mean += x[i];
	mean /= (float)d;
	memset(&acc, 0, sizeof acc);
	for (i = 0; i + 16 <= d; i += 16) {
		memcpy(&v, x + i, sizeof v);
		v -= mean;
		acc += v * v;
	}
	var = qf_v16_sum(&acc);
	for (; i < d; i++)
		var += (x[i] - mean) * (x[i] - mean);
	var /= (float)d;
	*mean_out = mean;
	*rstd_out = 1.0f / sqrtf(var + eps);
}

/* ------------------------------------------------------------ the model */

/* One block's weights.  Shapes are GPT-2's ([out, in] for linears,
 * formats/weights.md); an architecture leaves unused ones NULL. */
struct qf_layer {
	float *ln1_w, *ln1_b;	/* [d] */
	float *qkv_w;		/* [3d, d]: q, k, v stacked */
	float *qkv_b;		/* [3d] */
	float *out_w;		/* [d, d] */
	float *out_b;		/* [d] */
	float *ln2_w, *ln2_b;	/* [d] */
	float *mlp_in_w;	/* [F, d] */
	float *mlp_in_b;	/* [F] */
	float *mlp_out_w;	/* [d, F] */
	float *mlp_out_b;	/* [d] */
};

/* A tensor the loader expects: its name, shape and where it goes. */
struct qf_slot {
	char name[64];
	int ndim;
	uint64_t dims[2];
	float **dst;
	int seen;
};

struct qf_fwd;

/* An architecture: the config record's "arch" value and its parts. */
struct qf_arch {
	const char *name;
	int id;
	/* m->cfg from the config record (attributes checked here) */
	int (*config)(qf_model_config *c, const qf_rec *rec, const char *file,
		      qf_err *err);
	/* the tensors, in canonical order; s may be NULL to count them */
	size_t (*slots)(qf_model *m, struct qf_slot *s);
	/* f->x = the embedding of f->tok */
	void (*embed)(struct qf_fwd *f);
	/* block l on f->x in place; 0, 1 (stopped by a hook) or -1 */
	int (*block)(struct qf_fwd *f, int l);
	/* out = the final norm of f->x */
	void (*final_norm)(struct qf_fwd *f, float *out);
};
extern const struct qf_arch qf_arch_gpt2;

struct qf_model {
	qf_model_config cfg;
	const struct qf_arch *arch;
	char *file;			/* for messages */
	/* weights */
	float *tok_emb;			/* [V, d] */
	float *pos_emb;			/* [C, d] (GPT-2) */
	struct qf_layer *layer;		/* [n_layer] */
	float *final_w, *final_b;	/* [d] */
	float *head;			/* [V, d]: tok_emb when tied */
	struct qf_slot *slot;		/* the tensors, owning their data */
	size_t nslot;
	/* running */
	int threads;
	qf_pool *pool;
	float *act;			/* the activations below, one block */
	float *probs;			/* [n_head, C, C], for attention hooks */
	float *scratch;			/* per thread [QF_ATTN_QB, C] */
	float *logit_blk;		/* [QF_HEAD_ROWS, V] */
};
#define QF_HEAD_ROWS 256		/* rows of logits computed at once */

/* One pass: the model, its input, its activations (each [T, width],
 * row-major, sized for n_ctx rows) and its hooks. */
struct qf_fwd {
	qf_model *m;
	qf_pool *pool;
	const int32_t *tok;
	int T;
	float *x;		/* [T, d] the residual stream */
	float *ln;		/* [T, d] a sublayer's normalised input */
	float *qkv;		/* [T, 3d] */
	float *z;		/* [T, d] attention heads, concatenated */
	float *o;		/* [T, d] a sublayer's output */
	float *fc;		/* [T, F] MLP hidden */
	const qf_hooks *h;
	qf_site_info info;	/* pos, first_new, err for the hooks */
};

/* Hand buf [T, width] to the hook of `site`, if any; 0, 1 or -1. */
int qf_fwd_site(struct qf_fwd *f, int layer, int site, float *buf,
		int width);
/* Attention of block `layer` from f->qkv (GPT-2 layout: q, k, v of width
 * n_embd side by side) into f->z, with the attention hook if any. */
int qf_fwd_attention(struct qf_fwd *f, int layer);

/* Config attributes, with the errors "FILE: record config: ...". */
int qf_cfg_int(const qf_rec *rec, const char *file, const char *key,
	       int max, int *out, qf_err *err);
int qf_cfg_float(const qf_rec *rec, const char *file, const char *key,
		 float *out, qf_err *err);
int qf_cfg_bool(const qf_rec *rec, const char *file, const char *key,
		int *out, qf_err *err);
const char *qf_cfg_str(const qf_rec *rec, const char *file, const char *key,
		       qf_err *err);

#endif
