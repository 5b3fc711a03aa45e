/*
 * backward.c - the backward pass (train.h: qf_train_backward) and its
 * kernels: the gradients of the linear layers, of attention from the
 * probabilities the forward pass kept, of LayerNorm (partial sums per
 * task, added up in task order), of gelu_new, and of the embeddings.
 * The activations come from acts.c, the gradients of activations go
 * through its scratch.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "train/train_impl.h"

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

/* The clones stay static: clang (make fuzz) cannot call a target_clones
 * function from another file. */
void qf_tr_add_span(float *restrict y, const float *restrict x, size_t n)
{
	add_span(y, x, n);
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
int qf_tr_out_tile(int out, int *ntile)
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
				qf_tr_add_span(j->db + o0,
					       j->dy + (size_t)r * j->out + o0,
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
	j.ocol = qf_tr_out_tile(out, &j.ntile);
	qf_pool_run(t->pool, j.ntile + j.nrow, lin_back_task, &j);
}

/* ------------------------------------------------------------ attention */

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

/* The embedding's gradient, a task per 64 columns, every row in order. */
static void embed_back_task(void *ctx, int task, int tid)
{
	const struct ew_job *j = ctx;
	const struct params *G = &j->t->G;
	int c0 = task * 64, c1 = c0 + 64 < j->d ? c0 + 64 : j->d;

	(void)tid;
	for (int r = 0; r < j->N; r++) {
		const float *g = j->dy + (size_t)r * j->d + c0;

		qf_tr_add_span(G->tok_emb + (size_t)j->tok[r] * j->d + c0, g,
			       (size_t)(c1 - c0));
		qf_tr_add_span(G->pos_emb + (size_t)(r % j->T) * j->d + c0, g,
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
	float mean, rstd, a, c;
	int i, full = d & ~15;

	qf_ln_stats(x, d, eps, &mean, &rstd);
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

		qf_tr_add_span(dw + c0, pw + c0, (size_t)(c1 - c0));
		qf_tr_add_span(db + c0, pw + d + c0, (size_t)(c1 - c0));
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


/* ------------------------------------------------------------ the pass */

/* Block l's gradients, gx holding the gradient of its output on entry and
 * of its input on return. */
static void block_back(qf_train *t, int l, const struct scratch *s,
		       struct attn_job *aj)
{
	const qf_model_config *c = &t->cfg;
	const struct qf_layer *w = &t->W.layer[l];
	struct qf_layer *g = &t->G.layer[l];
	int d = c->n_embd, F = c->n_inner, N = t->B * t->T;
	struct layer_act a;
	struct ew_job ej;

	qf_tr_layer_acts(t, l, &a);
	/* x_out = xmid + gelu(ln2 · Winᵀ + bin) · Woutᵀ + bout */
	linear_back(t, s->gf, g->mlp_out_w, g->mlp_out_b, s->gx, a.a,
		    w->mlp_out_w, N, F, d);
	memset(&ej, 0, sizeof ej);
	ej.dx = s->gf;
	ej.u = a.u;
	ej.N = N;
	ej.F = F;
	qf_pool_run(t->pool, (N + LN_ROWS - 1) / LN_ROWS, gelu_back_task, &ej);
	linear_back(t, s->gt, g->mlp_in_w, g->mlp_in_b, s->gf, a.ln2,
		    w->mlp_in_w, N, d, F);
	layernorm_back(t, s->gx, g->ln2_w, g->ln2_b, s->gt, a.xmid, w->ln2_w,
		       s->part);
	/* xmid = x + attention(ln1 · Wqkvᵀ + bqkv) · Woᵀ + bo */
	linear_back(t, s->gt, g->out_w, g->out_b, s->gx, a.z, w->out_w, N, d,
		    d);
	aj->qkv = a.qkv;
	aj->probs = a.probs;
	aj->dz = s->gt;
	aj->dqkv = s->gqkv;
	qf_pool_run(t->pool, t->B * c->n_head, attn_back_task, aj);
	linear_back(t, s->gt, g->qkv_w, g->qkv_b, s->gqkv, a.ln1, w->qkv_w, N,
		    d, 3 * d);
	layernorm_back(t, s->gx, g->ln1_w, g->ln1_b, s->gt, a.x, w->ln1_w,
		       s->part);
}

/* The embeddings' gradients from gx, the gradient of the first block's
 * input. */
static void embed_back(qf_train *t, const float *gx)
{
	struct ew_job ej;

	memset(&ej, 0, sizeof ej);
	ej.t = t;
	ej.dy = gx;
	ej.tok = t->inp;
	ej.N = t->B * t->T;
	ej.T = t->T;
	ej.d = t->cfg.n_embd;
	qf_pool_run(t->pool, (ej.d + 63) / 64, embed_back_task, &ej);
}

int qf_train_backward(qf_train *t, qf_err *err)
{
	const qf_model_config *c = &t->cfg;
	int d = c->n_embd, N = t->B * t->T, nb;
	struct scratch s;
	struct attn_job aj;

	if (!t->have_grad)
		return qf_err_set(err, "backward without a forward pass with "
				  "gradients");
	qf_tr_scratch(t, &s);
	nb = qf_blas_threads();
	qf_blas_set_threads(1);
	memset(s.gx, 0, (size_t)N * d * sizeof *s.gx);
	layernorm_back(t, s.gx, t->G.final_w, t->G.final_b, s.gt,
		       t->act + (size_t)c->n_layer * N * d, t->W.final_w,
		       s.part);
	qf_tr_attn_job(t, &aj);
	aj.scr = t->attn_scr;
	aj.lds = t->T;
	for (int l = c->n_layer - 1; l >= 0; l--)
		block_back(t, l, &s, &aj);
	embed_back(t, s.gx);
	qf_blas_set_threads(nb);
	t->have_grad = 0;
	return 0;
}
