/* model.h - the model runtime: models, hooks, runs. */
#ifndef QF_MODEL_MODEL_H
#define QF_MODEL_MODEL_H

#include "ckpt/ckpt.h"
#include "text/text.h"

/* ---------------------------------------------------------------- models */

/* Running a language model: loading from a weight stream
 * (formats/weights.md), the forward pass with hooks, windowed evaluation,
 * OpenBLAS set-up.  docs/runtime.md describes the runtime. */

/* Architectures, the config record's "arch".  Only GPT-2 so far; the
 * loader and the forward pass dispatch on it per layer, so that another
 * family (LLaMA) adds its own tensors and block, not a new runtime. */
enum { QF_ARCH_GPT2 = 1 };

typedef struct qf_model_config {
	int arch;		/* QF_ARCH_* */
	int n_layer;
	int n_embd;		/* d: width of the residual stream */
	int n_head;
	int n_kv_head;		/* key/value heads (GPT-2: n_head) */
	int head_dim;		/* n_embd / n_head */
	int n_ctx;		/* positions */
	int n_inner;		/* width of the MLP's hidden layer */
	int vocab_size;
	float norm_eps;		/* layer_norm_epsilon */
	int tied;		/* the head is the token embedding */
} qf_model_config;

typedef struct qf_model qf_model;

/* Load a weight stream (formats/weights.md): the config record first,
 * then every tensor the config calls for, each once, in any order and any
 * floating-point dtype (converted to f32).  A missing or incomplete
 * config, a missing, repeated or unknown record, a wrong shape or a
 * non-float dtype is an error naming the record, e.g.
 *     w.qft: record config: attribute n_head missing
 *     w.qft: record layers.1.mlp.in.weight: shape [64, 32], expected [128, 32]
 *     w.qft: record layers.3.ln2.bias: missing
 * Unknown records are errors rather than ignored: a stream with tensors
 * the runtime does not use is not the model it claims to be.  The
 * model's threads start at OpenBLAS's count (all CPUs unless
 * OPENBLAS_NUM_THREADS says otherwise). */
qf_model *qf_model_load(const char *path, qf_err *err);
/* The same from an open reader positioned before the config record. */
qf_model *qf_model_read(qf_reader *r, qf_err *err);
const qf_model_config *qf_model_cfg(const qf_model *m);
/* "gpt2"; NULL for an unknown code. */
const char *qf_arch_name(int arch);
/* Threads for the forward pass: OpenBLAS's (a process-wide setting) and
 * the model's own, for attention and element-wise work.  n >= 1. */
int qf_model_set_threads(qf_model *m, int n, qf_err *err);
void qf_model_free(qf_model *m);

/* Activations over documents (model/act.c, the work of qf-act,
 * docs/man/qf-act.1): a qf_act runs the model over one document's tokens
 * at a time (windows as qf_model_nll) and hands over, per document, the
 * records
 *     state.N.L.SITE  f32 [n, width] (reduce none), [K, width] (sample:K)
 *                     or [width] (mean): the chosen layers' and sites'
 *                     (each token's from the first window that holds it)
 *     state.N.L.SITE.wK  instead, with per_window: f32 [end - begin,
 *                     width], window K's rows of tokens [begin, end) as
 *                     that pass had them (attributes window, begin, end)
 *     attn.N          f32 [n_layer, n_head, 2], with attn: per head the
 *                     mean attention entropy and mass on the first token,
 *                     sink rates (heads whose mass exceeds eps) as
 *                     attributes
 *     nll.N           f32 [n - 1], with nll: per-token NLL
 * N is the document's ordinal (0, 1, .. in qf_act_doc calls); each record
 * carries the token record's lang, doc and source, its name (record),
 * ordinal, tokens and tokens_fnv (qf_tokens_fnv, as %016x). */
enum { QF_ACT_NONE, QF_ACT_MEAN, QF_ACT_SAMPLE };	/* reductions */

typedef struct qf_act_opts {
	const uint64_t *layers;	/* chosen layers; NULL: all */
	size_t nlayers;
	unsigned sites;		/* bits 1u << QF_SITE_*; final_norm is
				 * layer n_layer, written only when layers
				 * is NULL or lists n_layer */
	int reduce;		/* QF_ACT_*, over the document's tokens */
	uint64_t k;		/* sample:K: K >= 1 positions (all when
				 * K >= n), drawn from seed and ordinal */
	uint64_t seed;		/* of sample:K and of corrupt */
	int window, stride;	/* as qf_model_nll (0: defaults) */
	int per_window;		/* reduce none: the states of every window,
				 * state.N.L.SITE.wK */
	int attn;		/* attn.N records */
	double eps;		/* their sink-rate threshold */
	int nll;		/* nll.N records */
	qf_reader *patch;	/* NULL, or states (qf-act --reduce none
				 * records, same documents in the same order)
				 * replacing the chosen layers' and sites'
				 * states as the model runs, each window's
				 * with FROM's of the same window (per_window
				 * records; a document's record only for a
				 * document of one window, else an error);
				 * read as the documents come, not owned */
	const uint64_t *positions;	/* patch only these positions; */
	size_t npositions;		/* 0: all (kept, not copied) */
	double corrupt;		/* > 0: add Gaussian noise of corrupt ·
				 * sigma to the input embeddings (resid_pre
				 * of layer 0), keyed by seed, ordinal and
				 * position: the same for any window or
				 * threads */
	double sigma;		/* e.g. qf_weights_std(.., "tok_emb.weight") */
	int chan;		/* measure the linears' input channels
				 * (qf_act_chan) */
} qf_act_opts;

typedef struct qf_act qf_act;

enum { QF_ACT_OUT_STATE, QF_ACT_OUT_ATTN, QF_ACT_OUT_NLL, QF_ACT_OUT_CHAN };
/* Receives each record of a document, kind QF_ACT_OUT_*, with its data
 * (f32, as rec's shape says); returns 0 or -1 with err set. */
typedef int (*qf_act_put_fn)(void *ctx, int kind, const qf_rec *rec,
			     const void *data, qf_err *err);

/* A qf_act over model m (kept, not owned), or NULL:
 *     layer 2 out of range (the model has 2)
 *     --window 33 out of range [2, n_ctx 32]
 *     out of memory */
qf_act *qf_act_new(qf_model *m, const qf_act_opts *o, qf_err *err);
/* Run the next document: token record rec of the stream named src (for
 * messages), ids tok[0..n).  Calls put for its records, states first (by
 * layer, then site), then attn.N, then nll.N.  Returns 0 or -1:
 *     t.qft: record doc.2 (doc 8): empty document
 *     t.qft: record doc.2 (doc 7): token id 97 at position 5 out of range (vocab_size 97)
 *     f.qft: record state.0.0.resid_post: made over other tokens than t.qft: record doc.0 (doc 0)
 *     f.qft: no state.0.1.resid_post for t.qft: record doc.0 (doc 0)
 *     f.qft: record state.1.0.resid_post: states of the whole document, but t.qft: record doc.1 (doc 1) runs in 3 windows: patching in windows needs states per window (qf-act --per-window)
 *     f.qft: record state.1.0.resid_post.w0: not a window of this run (--window 16 --stride 8 over t.qft: record doc.1 (doc 1)): FROM needs the same --window and --stride
 * The document counts even when it fails. */
int qf_act_doc(qf_act *a, const char *src, const qf_rec *rec,
	       const int32_t *tok, uint64_t n, qf_act_put_fn put, void *ctx,
	       qf_err *err);
/* Documents run so far. */
uint64_t qf_act_docs(const qf_act *a);
/* With chan: the input channels of every block's four linears over every
 * token of the documents run so far (each token once, as its state: from
 * the first window that holds it; after --corrupt and --patch, as the
 * linear sees it), summed in double in token order, per layer and site
 * a record (kind QF_ACT_OUT_CHAN)
 *     chan.L.SITE  f64 [width, 3]: per channel mean |x|, mean x^2 and
 *                  max |x|
 * for SITE ln1_out (feeds attn_qkv), attn_z (attn_out), ln2_out (mlp_in)
 * and mlp_act (mlp_out), layer by layer; attributes kind=chan_stats,
 * layer, site, feeds (the linear's kind), tokens, docs, n_layer,
 * columns=mean_abs,mean_sq,max_abs.  No token: "no tokens to measure the
 * channels over". */
int qf_act_chan(qf_act *a, qf_act_put_fn put, void *ctx, qf_err *err);
void qf_act_free(qf_act *a);

/* FNV-1a 64 of token ids as little-endian 32-bit integers. */
uint64_t qf_tokens_fnv(const int32_t *tok, uint64_t n);
/* The population standard deviation of all elements of record name of
 * the weight stream at path (converted to f32):
 *     w.qft: record tok_emb.weight: missing */
int qf_weights_std(const char *path, const char *name, double *sigma,
		   qf_err *err);

/* ---------------------------------------------------------------- hooks */

/* Sites: where a hook sees (and may overwrite) activations.  In block L:
 *
 *   resid_pre  [T, d]   the residual stream entering the block (layer 0:
 *                       token + position embeddings)
 *   ln1_out    [T, d]   LayerNorm 1's output, the attention's input
 *   attn_z     [T, d]   the heads' outputs concatenated, before the
 *                       output projection (head h: columns h·head_dim ..)
 *   attn_out   [T, d]   the attention's output, projected, with bias
 *   resid_mid  [T, d]   resid_pre + attn_out
 *   ln2_out    [T, d]   LayerNorm 2's output, the MLP's input
 *   mlp_act    [T, n_inner]  the MLP's hidden activations (after GELU)
 *   mlp_out    [T, d]   the MLP's output
 *   resid_post [T, d]   resid_mid + mlp_out (= resid_pre of block L+1)
 *
 * and final_norm [T, d] (layer = n_layer): the final LayerNorm's output,
 * the head's input.  Each site is the buffer the next step reads, so
 * whatever a hook writes there is what the model uses from then on
 * (patching); resid_post of block L and resid_pre of block L+1 are the
 * same buffer, passed to both hooks in that order. */
enum qf_site {
	QF_SITE_RESID_PRE, QF_SITE_LN1_OUT, QF_SITE_ATTN_Z, QF_SITE_ATTN_OUT,
	QF_SITE_RESID_MID, QF_SITE_LN2_OUT, QF_SITE_MLP_ACT, QF_SITE_MLP_OUT,
	QF_SITE_RESID_POST, QF_SITE_FINAL_NORM, QF_SITE_COUNT
};
#define QF_SITES_ALL ((1u << QF_SITE_COUNT) - 1)
/* "resid_pre", ...; NULL for an unknown code. */
const char *qf_site_name(int site);
/* The code of a site name, or -1. */
int qf_site_parse(const char *name);

/* What a hook is told about the activations it gets. */
typedef struct qf_site_info {
	int layer;		/* block; n_layer for final_norm */
	int site;		/* QF_SITE_*; -1 for attention probabilities */
	int T;			/* rows: the tokens of this pass */
	int d;			/* columns */
	int64_t pos;		/* position in the document of row 0 */
	int first_new;		/* rows [first_new, T) are seen for the first
				 * time (windows, docs/runtime.md): dumping
				 * those rows of every pass gives each token
				 * of a document exactly once */
	qf_err *err;		/* a failing hook may put its message here */
} qf_site_info;

/* A site hook: x is the [T, d] activation, row-major, to read or
 * overwrite in place.  Return 0 to go on, 1 to stop this pass (later
 * sites, logits and NLL of the pass are not computed; the pass returns
 * 1), -1 for an error (the pass fails with the hook's message, or
 * "hook failed at layer L site S"). */
typedef int (*qf_hook_fn)(void *ctx, const qf_site_info *s, float *x);
/* An attention hook: p is one layer's probabilities [n_head, T, T]
 * (p[h][i][j], zero for j > i), computed and handed over before they are
 * applied to the values, so a hook may also overwrite them (attention
 * knock-out).  Called once per layer with s->site = -1, s->d = n_head;
 * returns as a site hook does.  Only one layer's [n_head, T, T] is held at
 * a time, and only when this hook is set. */
typedef int (*qf_attn_fn)(void *ctx, const qf_site_info *s, float *p);
/* A logits hook: the logits [s->T, s->d = vocab_size] of rows that
 * predict a scored target (qf_model_nll, qf_model_window; not
 * qf_model_forward), a block of at most 256 rows at a time, in order;
 * row i predicts the document's token s->pos + i + 1.  Called before the
 * rows' NLL is computed from the same values; read them, do not change
 * them.  Returns as a site hook does. */
typedef int (*qf_logits_fn)(void *ctx, const qf_site_info *s,
			    const float *logits);

typedef struct qf_hooks {
	qf_hook_fn fn;		/* NULL: no site hooks */
	unsigned sites;		/* which: bits 1u << QF_SITE_* */
	qf_attn_fn attn;	/* NULL: none */
	void *ctx;		/* passed to all three */
	qf_logits_fn logits;	/* NULL: none */
} qf_hooks;

/* Per query row of one head's probabilities p [T, T]: the entropy in
 * nats and the mass on the first token (each array [T]; either may be
 * NULL).  For an attention hook; p as handed to it plus h·T·T. */
void qf_attn_row_stats(const float *p, int T, float *entropy, float *first);

/* ---------------------------------------------------------------- running */

/* One forward pass over tok[0..T), at positions 0..T-1, 1 <= T <= n_ctx.
 * logits [T, vocab_size] and nll [T-1] (nll[i] = -log p(tok[i+1] |
 * tok[0..i]), natural log) may each be NULL; h may be NULL.  Returns 0,
 * 1 when a hook stopped the pass, -1 on error:
 *     empty document
 *     token id 300 at position 17 out of range (vocab_size 300)
 *     document of 80 tokens longer than n_ctx 64
 * A qf_model runs one pass at a time (it holds the activations). */
int qf_model_forward(qf_model *m, const int32_t *tok, int T,
		     const qf_hooks *h, float *logits, float *nll, qf_err *err);

/* Windows over a document of n tokens (docs/runtime.md): window k covers
 * tokens [begin, end) with begin = k·stride, end = min(begin + window,
 * n), and scores the targets [first, end) that no earlier window scored
 * (the first window: from 1); the window that reaches n is the last.
 * Every target is scored once, with at least window - stride tokens of
 * context (the first window's: all before it). */
typedef struct qf_window {
	uint64_t begin, end, first;
} qf_window;
/* The number of windows; fills w[] when w is not NULL.  window >= 1,
 * 1 <= stride <= window; n = 0 gives none. */
uint64_t qf_windows(uint64_t n, int window, int stride, qf_window *w);
/* The options --window and --stride (-1: not given) against n_ctx:
 * "--window 1 out of range [2, n_ctx 64]", "--stride 9 out of range [1,
 * window 8)"; -1 with the message, 0 when they may be used. */
int qf_window_check(int window, int stride, int n_ctx, qf_err *err);

/* Per-token NLL of a document: nll[p-1] = -log p(tok[p] | context) for
 * p = 1 .. n-1, by windows of `window` tokens (0: n_ctx) advancing by
 * `stride` (0: window / 2, at least 1).  Hooks see every pass, with pos
 * and first_new set.  A pass stopped by a hook leaves its NLL entries
 * NaN and the document goes on.  Token ids are checked before anything
 * is computed.  nll may be NULL (hooks only).  Returns 0 or -1. */
int qf_model_nll(qf_model *m, const int32_t *tok, uint64_t n, int window,
		 int stride, const qf_hooks *h, float *nll, qf_err *err);

/* One window w of a document tok[0..n) (one of qf_windows(n, ..)): the
 * pass over tok[w->begin .. w->end) at positions w->begin .., scoring
 * targets [w->first, w->end) into nll[p - 1] (indexed as qf_model_nll's,
 * so nll may be the whole document's array; NULL for none).  For a
 * caller that runs several models window by window over one document.
 * Token ids of the window are checked; returns 0, 1 (a hook stopped the
 * pass: the window's NLL entries are NaN) or -1. */
int qf_model_window(qf_model *m, const int32_t *tok, uint64_t n,
		    const qf_window *w, const qf_hooks *h, float *nll,
		    qf_err *err);

#endif
