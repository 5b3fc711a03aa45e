/*
 * train_impl.h - shared by the trainer's files only (lib/train/); not
 * installed.  The state (struct qf_train), its tensors, the activations'
 * layout, and the jobs and tile sizes of the work on the pool.
 *
 * The trainer in one picture (train.h is the manual, docs/train.md the
 * story):
 *
 *   state.c       the state: config, the table of tensors in one flat
 *                 f32 block (weights, gradients, Adam's moments), the
 *                 initialisation, loading weights, threads
 *   acts.c        the activations a forward pass keeps and the backward
 *                 pass's scratch: their layout and buffers
 *   forward.c     the forward pass with the activations kept; the head's
 *                 loss and its share of the gradients
 *   backward.c    the backward kernels (linear, attention, LayerNorm,
 *                 gelu_new, embeddings) and the backward pass
 *   adamw.c       the options, the learning rate schedule, gradient
 *                 norms, clipping, AdamW, a whole step
 *   checkpoint.c  saving and resuming: the weights and the optimizer
 *                 state's records
 *   data.c        training data: token records per language, the mix,
 *                 sampling windows
 *
 * Every matrix product is a cblas_sgemm; the rest runs on the thread
 * pool (core/internal.h).  The work is cut into tasks whose shapes
 * depend on the sizes only, never on the number of threads, and every
 * sum is taken in a fixed order, so results do not depend on -j:
 *
 *   linear, forward; the head's logits   the runtime's qf_linear (blocks
 *                                        of output columns, all rows)
 *   linear, input gradient; the loss     tiles of LIN_ROWS rows
 *   linear, weight and bias gradients    tiles of output rows of the
 *                                        weight (qf_tr_out_tile), the
 *                                        whole batch as the inner
 *                                        dimension
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
 * spreading, as in the runtime's pass).  Names private to the folder
 * start with qf_tr_.
 */
#ifndef QF_TRAIN_IMPL_H
#define QF_TRAIN_IMPL_H

#include <stdint.h>

#include "core/internal.h"
#include "model/runtime.h"
#include "train/train.h"

#define LIN_ROWS 256		/* rows per task: input gradients, loss */
#define LN_ROWS 64		/* rows per task of element-wise work */
#define CHUNK 32768		/* elements per task of the optimizer */
#define ALIGN 16		/* floats: tensors start on 64 bytes */
#define LOGIT_MAX (1u << 22)	/* floats of logits held at once (16 MB) */

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
	float *act;			/* activations, see acts.c */
	float *scr;			/* gradients of activations, scratch */
	size_t cap_scr;
	float *attn_scr;		/* per thread [QF_ATTN_QB, T] */
	size_t cap_attn;
	float *logit;			/* [rows of a chunk, V] */
	size_t cap_logit;
	float *nll;			/* [N] */
};

/* n zeroed floats on 64 bytes (state.c). */
void *qf_tr_floats(size_t n);

/* Uniform in [0, 1), 53 bits, from xoshiro256** state s. */
static inline double qf_tr_uniform(uint64_t s[4])
{
	return (double)(qf_xoshiro256ss(s) >> 11) * 0x1p-53;
}

/* ------------------------------------------------------------ activations */

/* One block's kept activations (acts.c says where they lie). */
struct layer_act {
	float *x, *ln1, *qkv, *z, *xmid, *ln2, *u, *a, *probs, *xout;
};

/* Make room for a batch of B × T (t->B and t->T are not set). */
int qf_tr_buffers(qf_train *t, int B, int T, qf_err *err);
/* Block l's activations of the batch t->B × t->T. */
void qf_tr_layer_acts(const qf_train *t, int l, struct layer_act *a);
/* The final norm's output [N, d]. */
float *qf_tr_final_act(const qf_train *t);
/* Rows of logits held at once. */
size_t qf_tr_logit_rows(const qf_model_config *c, size_t N);

/* The backward pass's scratch, t->scr: the gradients gx, gt [N, d], gqkv
 * [N, 3d], gf [N, F], and the LayerNorm partial sums [N / LN_ROWS + 1,
 * 2d]. */
struct scratch {
	float *gx, *gt, *gqkv, *gf, *part;
};
void qf_tr_scratch(const qf_train *t, struct scratch *s);

/* ------------------------------------------------------------ the jobs on the pool */

/* Attention, forward (forward.c) and backward (backward.c). */
struct attn_job {
	const float *qkv, *dz;
	float *z, *probs, *dqkv, *scr;
	int B, T, H, hd, d, nblk, lds;
	float scale;
};
/* Its sizes for the batch t->B × t->T (forward.c). */
void qf_tr_attn_job(const qf_train *t, struct attn_job *aj);

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

/* y += x over n floats (backward.c). */
void qf_tr_add_span(float *restrict y, const float *restrict x, size_t n);
/* Tiles of a weight's output rows for its gradient: their width, and
 * their number in *ntile (backward.c). */
int qf_tr_out_tile(int out, int *ntile);

#endif
