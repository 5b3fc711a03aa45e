/*
 * forward.c - the forward pass with the activations kept (acts.c): the
 * embedding, the blocks (the runtime's kernels, and an attention that
 * keeps its probabilities), the final norm, and the head: logits a chunk
 * at a time, the loss and, with gradients, the head's share of them (the
 * logits are never held whole).
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "train/train_impl.h"

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

/* ------------------------------------------------------------ attention */

void qf_tr_attn_job(const qf_train *t, struct attn_job *aj)
{
	const qf_model_config *c = &t->cfg;

	memset(aj, 0, sizeof *aj);
	aj->B = t->B;
	aj->T = t->T;
	aj->H = c->n_head;
	aj->hd = c->head_dim;
	aj->d = c->n_embd;
	aj->nblk = (t->T + QF_ATTN_QB - 1) / QF_ATTN_QB;
	aj->scale = 1.0f / sqrtf((float)c->head_dim);
}

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

/* ------------------------------------------------------------ element-wise */

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

/* y += x over N rows of d. */
static void add_task(void *ctx, int task, int tid)
{
	const struct ew_job *j = ctx;
	int r0 = task * LN_ROWS, r1 = r0 + LN_ROWS < j->N ? r0 + LN_ROWS : j->N;

	(void)tid;
	qf_tr_add_span(j->y + (size_t)r0 * j->d, j->x + (size_t)r0 * j->d,
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

/* The head over the final norm's rows, a chunk of logits at a time:
 * t->nll, logits (if not NULL) and, with grad, the final norm's gradient
 * (the scratch's gt) and the head's weight gradient. */
static void head(qf_train *t, int grad, float *logits)
{
	const qf_model_config *c = &t->cfg;
	int d = c->n_embd, V = c->vocab_size, N = t->B * t->T, ntile;
	size_t R = qf_tr_logit_rows(c, (size_t)N);
	struct scratch s;

	qf_tr_scratch(t, &s);
	for (size_t r0 = 0; r0 < (size_t)N; r0 += R) {
		struct head_job hj = {
			.t = t, .xf = qf_tr_final_act(t) + r0 * d, .L = t->logit,
			.dxf = s.gt + r0 * d, .nll = t->nll + r0,
			.logits = logits ? logits + r0 * V : NULL,
			.tgt = t->tgt + r0, .grad = grad,
			.scale = 1.0f / (float)N,
		};

		hj.n = (int)((size_t)N - r0 < R ? (size_t)N - r0 : R);
		qf_linear(t->pool, t->logit, hj.xf, t->W.tok_emb, NULL, hj.n, d, V);
		qf_pool_run(t->pool, (hj.n + LIN_ROWS - 1) / LIN_ROWS, head_task,
			    &hj);
		if (grad) {
			hj.ocol = qf_tr_out_tile(V, &ntile);
			qf_pool_run(t->pool, ntile, head_dw_task, &hj);
		}
	}
}

/* ------------------------------------------------------------ the pass */

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

/* The model's inputs (tokens 0..T-1 of each sequence) and targets (1..T). */
static void split_batch(qf_train *t, const int32_t *tok)
{
	int B = t->B, T = t->T;

	for (int b = 0; b < B; b++) {
		memcpy(t->inp + (size_t)b * T, tok + (size_t)b * (T + 1),
		       (size_t)T * sizeof *tok);
		memcpy(t->tgt + (size_t)b * T, tok + (size_t)b * (T + 1) + 1,
		       (size_t)T * sizeof *tok);
	}
}

static void embed(qf_train *t)
{
	struct ew_job ej;

	memset(&ej, 0, sizeof ej);
	ej.t = t;
	ej.tok = t->inp;
	ej.N = t->B * t->T;
	ej.T = t->T;
	ej.d = t->cfg.n_embd;
	ej.x = t->act;
	qf_pool_run(t->pool, (ej.N + LN_ROWS - 1) / LN_ROWS, embed_task, &ej);
}

/* Block l, its activations kept. */
static void block(qf_train *t, int l, struct attn_job *aj)
{
	const qf_model_config *c = &t->cfg;
	const struct qf_layer *w = &t->W.layer[l];
	int d = c->n_embd, F = c->n_inner, N = t->B * t->T;
	struct layer_act a;

	qf_tr_layer_acts(t, l, &a);
	qf_layernorm(t->pool, a.ln1, a.x, w->ln1_w, w->ln1_b, N, d,
		     c->norm_eps);
	qf_linear(t->pool, a.qkv, a.ln1, w->qkv_w, w->qkv_b, N, d, 3 * d);
	aj->qkv = a.qkv;
	aj->z = a.z;
	aj->probs = a.probs;
	qf_pool_run(t->pool, aj->nblk * t->B * c->n_head, attn_fwd_task, aj);
	qf_linear(t->pool, a.xmid, a.z, w->out_w, w->out_b, N, d, d);
	add_rows(t, a.xmid, a.x, N, d);
	qf_layernorm(t->pool, a.ln2, a.xmid, w->ln2_w, w->ln2_b, N, d,
		     c->norm_eps);
	qf_linear(t->pool, a.u, a.ln2, w->mlp_in_w, w->mlp_in_b, N, d, F);
	memcpy(a.a, a.u, (size_t)N * F * sizeof *a.a);
	qf_gelu_new(t->pool, a.a, N, F);
	qf_linear(t->pool, a.xout, a.a, w->mlp_out_w, w->mlp_out_b, N, F, d);
	add_rows(t, a.xout, a.xmid, N, d);
}

int qf_train_forward(qf_train *t, const int32_t *tok, int B, int T, int grad,
		     float *nll, float *logits, double *loss, qf_err *err)
{
	const qf_model_config *c = &t->cfg;
	int d = c->n_embd, N, nb;
	struct attn_job aj;
	double sum = 0;

	if (check_batch(t, tok, B, T, err) < 0 ||
	    qf_tr_buffers(t, B, T, err) < 0)
		return -1;
	t->B = B;
	t->T = T;
	t->have_grad = 0;
	N = B * T;
	split_batch(t, tok);
	nb = qf_blas_threads();
	qf_blas_set_threads(1);
	embed(t);
	qf_tr_attn_job(t, &aj);
	for (int l = 0; l < c->n_layer; l++)
		block(t, l, &aj);
	qf_layernorm(t->pool, qf_tr_final_act(t),
		     t->act + (size_t)c->n_layer * N * d, t->W.final_w,
		     t->W.final_b, N, d, c->norm_eps);
	if (grad)
		memset(t->g, 0, t->nparam * sizeof *t->g);
	head(t, grad, logits);
	qf_blas_set_threads(nb);
	for (int i = 0; i < N; i++)
		sum += t->nll[i];
	if (nll)
		memcpy(nll, t->nll, (size_t)N * sizeof *nll);
	*loss = sum / N;
	t->have_grad = grad;
	return 0;
}
