/*
 * train.h - training a GPT-2 on qf's runtime: the parameters, a forward
 * pass that keeps its activations, the backward pass, AdamW with a
 * warm-up and cosine schedule, gradient clipping, checkpoints, and the
 * sampling of training windows from a token stream.  docs/train.md
 * describes it all; qf-train is its command line.
 *
 * The error model is qf's (core/core.h): 0 or a pointer on success, -1
 * or NULL with a one-line message in err.  Results do not depend on the
 * number of threads.
 */
#ifndef QF_TRAIN_TRAIN_H
#define QF_TRAIN_TRAIN_H

#include <stdint.h>

#include "model/model.h"

/* ---------------------------------------------------------------- options */

/* The optimizer and its schedule.  Step s (0-based: the s-th update) uses
 * the learning rate lr · f(s):
 *     f(s) = (s + 1) / warmup                          for s < warmup
 *     f(s) = r + (1 - r) · ½ (1 + cos(π · p))          after, r = min_lr / lr,
 *            p = min(1, (s - warmup) / max(1, steps - warmup))
 * (linear warm-up to lr, then cosine decay to min_lr at `steps`, min_lr
 * after).  AdamW as torch.optim.AdamW: decoupled weight decay (w *= 1 -
 * lr·weight_decay, on the four linear weight matrices of each block only),
 * bias-corrected moments.  clip > 0: the gradients are scaled by clip /
 * (norm + 1e-6) when that is below 1, norm being the global L2 norm of
 * all gradients (torch.nn.utils.clip_grad_norm_). */
typedef struct qf_train_opts {
	double lr, min_lr;
	uint64_t warmup, steps;
	double weight_decay;
	double beta1, beta2, eps;
	double clip;		/* 0: no clipping */
} qf_train_opts;

/* lr 1e-3, min_lr 1e-4, warmup 100, steps 1000, weight_decay 0.1,
 * betas 0.9 and 0.95, eps 1e-8, clip 1. */
void qf_train_opts_default(qf_train_opts *o);
/* Values in range (lr >= 0, 0 <= min_lr <= lr, betas in [0, 1), eps > 0,
 * weight_decay >= 0, clip >= 0, steps >= 1). */
int qf_train_opts_check(const qf_train_opts *o, qf_err *err);
/* The learning rate of step s. */
double qf_train_lr(const qf_train_opts *o, uint64_t step);

/* ---------------------------------------------------------------- the state */

typedef struct qf_train qf_train;

/* A new GPT-2 of config c (arch QF_ARCH_GPT2, tied head; n_kv_head and
 * head_dim are derived, n_inner 0 means 4·n_embd, norm_eps 0 means 1e-5),
 * initialised as GPT-2 is, from seed alone: linear weights and both
 * embeddings normal(0, 0.02), the two residual projections of each block
 * (attn.out, mlp.out) normal(0, 0.02 / sqrt(2 · n_layer)), biases 0,
 * LayerNorm weights 1 and biases 0.  The sampling generator is seeded
 * from seed too. */
qf_train *qf_train_new(const qf_model_config *c, uint64_t seed, qf_err *err);
/* The same with std in place of 0.02 (linear weights and embeddings
 * normal(0, std), the residual projections normal(0, std / sqrt(2 ·
 * n_layer))).  std must be positive and finite. */
qf_train *qf_train_new_std(const qf_model_config *c, uint64_t seed,
			   double std, qf_err *err);
/* The weights of a weight stream (what qf_model_load reads; the head must
 * be tied), with a fresh optimizer (step 0, moments 0); the sampling
 * generator is seeded from seed. */
qf_train *qf_train_load(const char *path, uint64_t seed, qf_err *err);
/* A checkpoint written by qf_train_save: the weights from path, the
 * optimizer state (moments, step, tokens, the sampling generator) from
 * path.opt, which must belong to them.  o (if not NULL) gets the options
 * saved with it, meta (if not NULL) the attributes of its train record. */
qf_train *qf_train_resume(const char *path, qf_train_opts *o, qf_rec *meta,
			  qf_err *err);
/* Write path (a weight stream: the config record and every tensor in f32
 * under its canonical name, formats/weights.md) and path.opt (the
 * optimizer state, docs/train.md), each atomically, path.opt first.  The
 * attributes of meta (may be NULL) are added to path.opt's train record. */
int qf_train_save(qf_train *t, const char *path, const qf_train_opts *o,
		  const qf_rec *meta, qf_err *err);
void qf_train_free(qf_train *t);

const qf_model_config *qf_train_cfg(const qf_train *t);
/* Updates done so far (the next update is step qf_train_step_count), and
 * tokens trained on (B·T a step). */
uint64_t qf_train_step_count(const qf_train *t);
uint64_t qf_train_tokens(const qf_train *t);
/* The seed the state was made with (kept in checkpoints). */
uint64_t qf_train_seed(const qf_train *t);
/* The sampling generator: 4 words of xoshiro256** state, saved in
 * checkpoints; qf_tdata_sample advances it. */
uint64_t *qf_train_rng(qf_train *t);
/* Threads for the pool and for OpenBLAS's calls (one each inside the
 * pool's tasks).  Results do not depend on n (docs/train.md). */
int qf_train_set_threads(qf_train *t, int n, qf_err *err);
/* Parameters. */
size_t qf_train_nparams(const qf_train *t);
/* Bytes held for activations and gradients by a batch of B × T. */
uint64_t qf_train_act_bytes(const qf_model_config *c, int B, int T);

/* The tensors, in canonical order (formats/weights.md). */
typedef struct qf_train_tensor {
	const char *name;
	int ndim;
	uint64_t dims[2];
	size_t numel;
	float *w, *g, *m, *v;	/* weights, gradient, Adam's moments */
	int decay;		/* AdamW's weight decay applies */
	int group;		/* of the per-group norms: 0 embeddings, 1 + l
				 * block l, n_layer + 1 the final norm */
} qf_train_tensor;
size_t qf_train_ntensors(const qf_train *t);
int qf_train_tensor_at(qf_train *t, size_t i, qf_train_tensor *out);

/* ---------------------------------------------------------------- a step */

/* Forward over B sequences of T + 1 tokens each, tok[b·(T+1) + i]: the
 * model reads tokens 0..T-1 of each, and token i+1 is the target of
 * position i; 1 <= T <= n_ctx.  *loss = the mean NLL (nats) over the B·T
 * targets; nll [B·T] and logits [B·T, vocab] may be NULL.  With grad the
 * activations are kept for qf_train_backward, the gradients are zeroed
 * and the head's share of them is computed on the way (the logits are
 * never held whole).  Token ids are checked first. */
int qf_train_forward(qf_train *t, const int32_t *tok, int B, int T, int grad,
		     float *nll, float *logits, double *loss, qf_err *err);
/* The gradients of the last forward's loss (run with grad). */
int qf_train_backward(qf_train *t, qf_err *err);
/* The global L2 norm of the gradients; group (if not NULL) gets
 * n_layer + 2 norms: embeddings (tok_emb, pos_emb), each block, the final
 * norm. */
double qf_train_grad_norms(qf_train *t, double *group);
/* Clip (o->clip, given the norm) and one AdamW update with the learning
 * rate of step qf_train_step_count; then the step count goes up by one. */
void qf_train_update(qf_train *t, const qf_train_opts *o, double norm);

/* All of the above. */
typedef struct qf_train_stats {
	uint64_t step;		/* the update just done, from 1 */
	double lr, loss, grad_norm;	/* grad_norm before clipping */
	double *group;		/* n_layer + 2 norms (caller's array) or NULL */
} qf_train_stats;
int qf_train_step(qf_train *t, const int32_t *tok, int B, int T,
		  const qf_train_opts *o, qf_train_stats *s, qf_err *err);

/* ---------------------------------------------------------------- training data */

/* A token stream (records of integer token ids with a lang attribute, as
 * qf-extract text writes them) held per language: the language's
 * documents in stream order, each followed by the separator token sep,
 * one sequence.  Languages are sampled by the weights of a mix file (TSV:
 * lang, weight; docs/train.md), or without one in proportion to their
 * tokens; a language in the data but not in the mix is not sampled.  Ids
 * must be in [0, vocab). */
typedef struct qf_tdata qf_tdata;
qf_tdata *qf_tdata_load(const char *tokens, const char *mix, int vocab,
			int32_t sep, int window, qf_err *err);
/* B windows of `window` tokens into tok[B·window]: per window a language
 * by the mix weights, then a start uniformly in [0, n - window] of its
 * sequence of n tokens; langs (if not NULL) gets each window's language
 * index. */
void qf_tdata_sample(const qf_tdata *d, uint64_t rng[4], int B,
		     int32_t *tok, int *langs);
size_t qf_tdata_nlangs(const qf_tdata *d);
/* Language i: its code, sampling probability and tokens (separators
 * included). */
const char *qf_tdata_lang(const qf_tdata *d, size_t i, double *p,
			  uint64_t *ntok);
void qf_tdata_free(qf_tdata *d);

/* ---------------------------------------------------------------- random numbers */

/* The generator of the initialisation and the sampling: xoshiro256**
 * (Blackman and Vigna), its 4 words seeded with 4 outputs of splitmix64
 * from seed; and its next word.  A caller can draw the same numbers the
 * trainer does (tests against other implementations do). */
void qf_train_rng_seed(uint64_t rng[4], uint64_t seed);
uint64_t qf_train_rng_next(uint64_t rng[4]);

#endif
