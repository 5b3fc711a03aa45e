/*
 * acts.c - what a forward pass keeps for the backward pass, and the
 * backward pass's scratch: their layout in the state's buffers, their
 * size (qf_train_act_bytes), and the buffers, grown for a batch.
 *
 * The activations of a batch of N = B·T rows, one block after the other:
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
#include <stdlib.h>

#include "train/train_impl.h"

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

void qf_tr_layer_acts(const qf_train *t, int l, struct layer_act *a)
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

float *qf_tr_final_act(const qf_train *t)
{
	const qf_model_config *c = &t->cfg;
	size_t N = (size_t)t->B * t->T, d = (size_t)c->n_embd;
	size_t L = (size_t)c->n_layer;

	return t->act + N * d * (L + 1) +
	       L * per_layer(c, N, (size_t)t->B * c->n_head * t->T * t->T);
}

size_t qf_tr_logit_rows(const qf_model_config *c, size_t N)
{
	size_t r = LOGIT_MAX / (size_t)c->vocab_size / LIN_ROWS * LIN_ROWS;

	if (r < LIN_ROWS)
		r = LIN_ROWS;
	return r < N ? r : N;
}

/* The scratch (struct scratch) of N rows. */
static size_t scr_floats(const qf_model_config *c, size_t N)
{
	size_t d = (size_t)c->n_embd, F = (size_t)c->n_inner;

	return N * (5 * d + F) + (N / LN_ROWS + 1) * 2 * d;
}

void qf_tr_scratch(const qf_train *t, struct scratch *s)
{
	size_t N = (size_t)t->B * t->T, d = (size_t)t->cfg.n_embd;

	s->gx = t->scr;
	s->gt = s->gx + N * d;
	s->gqkv = s->gt + N * d;
	s->gf = s->gqkv + 3 * N * d;
	s->part = s->gf + N * (size_t)t->cfg.n_inner;
}

uint64_t qf_train_act_bytes(const qf_model_config *c, int B, int T)
{
	size_t N = (size_t)B * T, P = (size_t)B * c->n_head * T * T;

	return 4 * (uint64_t)(act_floats(c, N, P) + scr_floats(c, N) +
			      qf_tr_logit_rows(c, N) * c->vocab_size + N +
			      2 * (uint64_t)QF_ATTN_QB * T);
}

/* *p holds at least n floats (*cap of them), its contents not kept. */
static int grow(float **p, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	free(*p);
	*cap = 0;
	if (!(*p = qf_tr_floats(n)))
		return -1;
	*cap = n;
	return 0;
}

/* The token ids and losses of N rows. */
static int grow_rows(qf_train *t, size_t N)
{
	if (N <= t->cap_n)
		return 0;
	free(t->inp);
	free(t->tgt);
	free(t->nll);
	t->cap_n = 0;
	t->inp = malloc(N * sizeof *t->inp);
	t->tgt = malloc(N * sizeof *t->tgt);
	t->nll = malloc(N * sizeof *t->nll);
	if (!t->inp || !t->tgt || !t->nll)
		return -1;
	t->cap_n = N;
	return 0;
}

int qf_tr_buffers(qf_train *t, int B, int T, qf_err *err)
{
	const qf_model_config *c = &t->cfg;
	size_t N = (size_t)B * T, P = (size_t)B * c->n_head * T * T;

	if (grow(&t->act, &t->cap_p, act_floats(c, N, P)) < 0 ||
	    grow_rows(t, N) < 0 ||
	    grow(&t->scr, &t->cap_scr, scr_floats(c, N)) < 0 ||
	    grow(&t->logit, &t->cap_logit,
		 qf_tr_logit_rows(c, N) * c->vocab_size) < 0 ||
	    grow(&t->attn_scr, &t->cap_attn,
		 (size_t)t->threads * QF_ATTN_QB * T) < 0)
		return qf_err_set(err, "out of memory for the activations of a "
				  "batch of %d x %d tokens (%.0f MB)", B, T,
				  qf_train_act_bytes(c, B, T) / 1e6);
	return 0;
}
