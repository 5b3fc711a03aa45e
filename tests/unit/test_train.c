/*
 * test_train.c - the trainer (lib/train/train.c) against independent references.
 *
 *   torch       data/train/train.{qft,npz} (tests/data/train/gen_train.py):
 *               the loss, per-target NLL, logits and every parameter's
 *               gradient of a batch, and the parameters after three
 *               clipped AdamW steps with torch.optim.AdamW and a LambdaLR
 *               schedule
 *   double      a GPT-2 written out below in double precision, naive
 *               loops: its loss must equal torch's, and central finite
 *               differences of it check sampled gradients, also on a
 *               model whose sequences span two attention blocks and two
 *               row tiles
 *   the runtime qf_model_forward on the same weights (a checkpoint the
 *               trainer wrote, and the model fixture a.qft)
 *
 * Tolerances.  A tensor is compared as docs/runtime.md does: max|c - ref|
 * / max|ref| over the tensor (the error relative to its largest
 * magnitude), <= 1e-4 for gradients and activations against torch (f32
 * against f32), <= 1e-6 for the trainer's forward against the runtime's
 * (the same kernels, products of more rows) and bit for bit for one
 * sequence (the same sgemm calls), and for the finite
 * differences |g - fd| <= 1e-4 · max|g| of the tensor (the double
 * reference's own error is ~1e-10).  Parameters after the AdamW steps are
 * compared per tensor as max|c - ref| / max|ref - w0|: relative to the
 * largest change the three steps made, <= 3e-4 (Adam divides by
 * sqrt(v): an element whose gradient is near rounding moves by an amount
 * that rounding decides, see test_adamw_torch).  The figures reached are
 * printed.  Run with cwd = tests/.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qf.h"
#include "core/internal.h"
#include "train/train.h"
#include "unit.h"
#include "npz_fixture.h"

#define TDIR "data/train/"

/* ---------------------------------------------------------------- arrays */

static const void *npz_data(const struct npz *z, const char *name, int dtype)
{
	const struct arr *a = npz_get(z, name);

	return a && a->rec.dtype == dtype ? a->data : NULL;
}

/* max|c - ref| / max|ref|; infinity for a NaN. */
static double relerr(const float *c, const float *ref, size_t n)
{
	double md = 0, mr = 0;

	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)c[i] - ref[i]);

		if (isnan(d))
			return INFINITY;
		md = d > md ? d : md;
		mr = fabs(ref[i]) > mr ? fabs(ref[i]) : mr;
	}
	return md / (mr > 1e-30 ? mr : 1e-30);
}

static double worst;
static char worst_what[192];

static void note(double e, const char *what)
{
	if (e > worst) {
		worst = e;
		snprintf(worst_what, sizeof worst_what, "%s", what);
	}
}

static void report(const char *what)
{
	printf("# %s: worst %.3g (%s)\n", what, worst, worst_what);
	worst = 0;
	worst_what[0] = 0;
}

static qf_train *load(const char *path)
{
	qf_err e;
	qf_train *t = qf_train_load(path, 1, &e);

	CHECKF(t != NULL, "%s", e.msg);
	return t;
}

/* The torch fixture: its arrays (z), the model, batch 0's tokens and
 * torch's loss; 0, or -1 (checked, nothing left to free) when missing. */
static int load_fixture(struct npz *z, qf_train **t, const int32_t **tok,
			const double **loss_ref)
{
	if (npz_load(z, TDIR "train.npz") < 0 || !(*t = load(TDIR "train.qft"))) {
		CHECK(!"fixture");
		npz_free(z);
		return -1;
	}
	*tok = npz_data(z, "tokens", QF_I32);
	*loss_ref = npz_data(z, "loss", QF_F64);
	if (!*tok || !*loss_ref) {
		CHECK(!"arrays");
		qf_train_free(*t);
		npz_free(z);
		return -1;
	}
	return 0;
}

static void set_hp(qf_train_opts *o, const double *hp)
{
	o->lr = hp[0];
	o->min_lr = hp[1];
	o->warmup = (uint64_t)hp[2];
	o->steps = (uint64_t)hp[3];
	o->weight_decay = hp[4];
	o->beta1 = hp[5];
	o->beta2 = hp[6];
	o->eps = hp[7];
	o->clip = hp[8];
}

/* ---------------------------------------------------------------- torch */

/* Loss, NLL, logits and every gradient of batch 0 against torch, at 1
 * and 3 threads. */
static void test_grads_torch(void)
{
	struct npz z;
	const int32_t *tok;
	const double *loss_ref;
	qf_train *t;
	float *nll, *logits;
	double loss;
	qf_err e;
	char what[128];

	if (load_fixture(&z, &t, &tok, &loss_ref) < 0)
		return;
	nll = malloc(3 * 16 * sizeof *nll);
	logits = malloc(3 * 16 * 50 * sizeof *logits);
	for (int threads = 1; threads <= 3; threads += 2) {
		CHECK(qf_train_set_threads(t, threads, &e) == 0);
		CHECKF(qf_train_forward(t, tok, 3, 16, 1, nll, logits, &loss, &e) == 0,
		       "%s", e.msg);
		CHECKF(qf_train_backward(t, &e) == 0, "%s", e.msg);
		CHECKF(fabs(loss - loss_ref[0]) <= 1e-6 * loss_ref[0],
		       "loss %.9g, torch %.9g", loss, loss_ref[0]);
		note(fabs(loss - loss_ref[0]) / loss_ref[0], "loss");
		printf("# %d threads: loss %.9g, torch %.9g\n", threads, loss,
		       loss_ref[0]);
		note(relerr(nll, npz_data(&z, "nll", QF_F32), 48), "nll");
		CHECK(relerr(nll, npz_data(&z, "nll", QF_F32), 48) <= 1e-4);
		note(relerr(logits, npz_data(&z, "logits", QF_F32), 2400), "logits");
		CHECK(relerr(logits, npz_data(&z, "logits", QF_F32), 2400) <= 1e-4);
		for (size_t i = 0; i < qf_train_ntensors(t); i++) {
			qf_train_tensor x;
			const float *ref;
			double er;

			qf_train_tensor_at(t, i, &x);
			snprintf(what, sizeof what, "grad.%s", x.name);
			ref = npz_data(&z, what, QF_F32);
			er = ref ? relerr(x.g, ref, x.numel) : INFINITY;
			CHECKF(er <= 1e-4, "%s: relative error %.3g", what, er);
			note(er, what);
			if (ref && strstr(x.name, "qkv.bias")) {
				/* the key bias's gradient vanishes (rounding noise) */
				double mk = 0, mt = 0, mq = 0;

				for (size_t k = 0; k < x.numel; k++) {
					int key = k >= x.numel / 3 && k < 2 * x.numel / 3;

					if (key) {
						mk = fmax(mk, fabs(x.g[k]));
						mt = fmax(mt, fabs(ref[k]));
					} else {
						mq = fmax(mq, fabs(ref[k]));
					}
				}
				CHECKF(mk <= 1e-5 * mq && mt <= 1e-5 * mq,
				       "%s: key part %.3g (torch %.3g) of %.3g", what,
				       mk, mt, mq);
			}
		}
	}
	free(nll);
	free(logits);
	report("gradients against torch (2 layers, d 32, 4 heads, n_inner 32, "
	       "V 50, B 3 x T 16)");
	qf_train_free(t);
	npz_free(&z);
}

/* Three steps of clipped AdamW with the schedule, against torch.  The
 * key part of attn.qkv.bias is left out: its gradient is zero in exact
 * arithmetic (a key bias adds q·b to every score of a query row, which
 * the softmax ignores), so both torch and the trainer compute rounding
 * noise for it (test_grads_torch checks that it is tiny), and Adam, which
 * divides by the noise's own magnitude, turns it into moves of order lr
 * in directions no two implementations share. */
static void test_adamw_torch(void)
{
	struct npz z;
	const int32_t *tok;
	const double *hp, *loss_ref, *norm_ref;
	qf_train *t, *t0;
	qf_train_opts o;
	qf_train_stats s = { 0 };
	qf_err e;
	char what[128];
	double lr_step[3];

	if (npz_load(&z, TDIR "train.npz") < 0 || !(t = load(TDIR "train.qft"))) {
		CHECK(!"fixture");
		npz_free(&z);
		return;
	}
	t0 = load(TDIR "train.qft");
	tok = npz_data(&z, "tokens", QF_I32);
	hp = npz_data(&z, "hp", QF_F64);
	loss_ref = npz_data(&z, "loss", QF_F64);
	norm_ref = npz_data(&z, "norm", QF_F64);
	CHECK(tok && hp && loss_ref && norm_ref && t0);
	if (!tok || !hp || !loss_ref || !norm_ref || !t0)
		goto out;
	set_hp(&o, hp);
	CHECK(qf_train_opts_check(&o, &e) == 0);
	qf_train_set_threads(t, 2, &e);
	for (int st = 0; st < 3; st++) {
		CHECKF(qf_train_step(t, tok + st * 3 * 17, 3, 16, &o, &s, &e) == 0,
		       "%s", e.msg);
		lr_step[st] = s.lr;
		CHECK(s.step == (uint64_t)st + 1);
		CHECKF(fabs(s.loss - loss_ref[st]) <= 1e-5 * loss_ref[st],
		       "step %d: loss %.9g, torch %.9g", st, s.loss, loss_ref[st]);
		CHECKF(fabs(s.grad_norm - norm_ref[st]) <= 1e-5 * norm_ref[st],
		       "step %d: norm %.9g, torch %.9g", st, s.grad_norm,
		       norm_ref[st]);
		note(fabs(s.loss - loss_ref[st]) / loss_ref[st], "loss");
		printf("# step %d: loss %.9g (torch %.9g), norm %.9g (torch %.9g), "
		       "lr %.9g\n", st + 1, s.loss, loss_ref[st], s.grad_norm,
		       norm_ref[st], s.lr);
		note(fabs(s.grad_norm - norm_ref[st]) / norm_ref[st], "norm");
	}
	/* warm-up over 2 steps; the cosine starts at lr (step 3) */
	CHECK(fabs(lr_step[0] - hp[0] / 2) < 1e-15 &&
	      fabs(lr_step[1] - hp[0]) < 1e-15);
	CHECK(qf_train_step_count(t) == 3 && qf_train_tokens(t) == 3 * 48);
	for (size_t i = 0; i < qf_train_ntensors(t); i++) {
		qf_train_tensor x, x0;
		const float *ref;
		double md = 0, mv = 0, er;

		qf_train_tensor_at(t, i, &x);
		qf_train_tensor_at(t0, i, &x0);
		snprintf(what, sizeof what, "after.%s", x.name);
		if (!(ref = npz_data(&z, what, QF_F32))) {
			CHECK(!"reference");
			continue;
		}
		for (size_t k = 0; k < x.numel; k++) {
			double d = fabs((double)x.w[k] - ref[k]);
			double mvd = fabs((double)ref[k] - x0.w[k]);

			if (strstr(x.name, "qkv.bias") && k >= x.numel / 3 &&
			    k < 2 * x.numel / 3)
				continue;	/* the key bias: see above */

			md = d > md ? d : md;
			mv = mvd > mv ? mvd : mv;
		}
		er = md / mv;
		CHECKF(er <= 3e-4, "%s: error %.3g of the largest move %.3g", what,
		       er, mv);
		note(er, what);
	}
	report("parameters after 3 AdamW steps against torch (relative to the "
	       "largest move)");
out:
	qf_train_free(t);
	qf_train_free(t0);
	npz_free(&z);
}

/* ---------------------------------------------------------------- double reference */

/* The parameters in double, in canonical order (tensor index k). */
struct dmodel {
	int L, d, H, F, V, C;
	double eps;
	double **p;
	size_t n;
};

static void dmodel_get(struct dmodel *m, qf_train *t)
{
	const qf_model_config *c = qf_train_cfg(t);

	m->L = c->n_layer;
	m->d = c->n_embd;
	m->H = c->n_head;
	m->F = c->n_inner;
	m->V = c->vocab_size;
	m->C = c->n_ctx;
	m->eps = c->norm_eps;
	m->n = qf_train_ntensors(t);
	m->p = calloc(m->n, sizeof *m->p);
	for (size_t i = 0; i < m->n; i++) {
		qf_train_tensor x;

		qf_train_tensor_at(t, i, &x);
		m->p[i] = malloc(x.numel * sizeof **m->p);
		for (size_t k = 0; k < x.numel; k++)
			m->p[i][k] = x.w[k];
	}
}

static void dmodel_free(struct dmodel *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->p[i]);
	free(m->p);
}

static void dln(double *y, const double *x, const double *w, const double *b,
		int d, double eps)
{
	double mean = 0, var = 0;

	for (int i = 0; i < d; i++)
		mean += x[i];
	mean /= d;
	for (int i = 0; i < d; i++)
		var += (x[i] - mean) * (x[i] - mean);
	var /= d;
	for (int i = 0; i < d; i++)
		y[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i];
}

/* y [out] = W [out, in] x + b */
static void dlin(double *y, const double *x, const double *W, const double *b,
		 int in, int out)
{
	for (int o = 0; o < out; o++) {
		double s = b[o];

		for (int i = 0; i < in; i++)
			s += W[(size_t)o * in + i] * x[i];
		y[o] = s;
	}
}

/* The mean NLL of B sequences of T + 1 tokens, GPT-2 in double. */
static double dloss(const struct dmodel *m, const int32_t *tok, int B, int T)
{
	int d = m->d, H = m->H, hd = d / H, F = m->F, V = m->V;
	double *x = malloc((size_t)T * d * sizeof *x);
	double *h = malloc((size_t)T * d * sizeof *h);
	double *qkv = malloc((size_t)T * 3 * d * sizeof *qkv);
	double *z = malloc((size_t)T * d * sizeof *z);
	double *u = malloc((size_t)F * sizeof *u), *o = malloc((size_t)d * sizeof *o);
	double *s = malloc((size_t)T * sizeof *s), *lg = malloc((size_t)V * sizeof *lg);
	double total = 0;

	for (int b = 0; b < B; b++) {
		const int32_t *sq = tok + (size_t)b * (T + 1);

		for (int t = 0; t < T; t++)
			for (int i = 0; i < d; i++)
				x[t * d + i] = m->p[0][(size_t)sq[t] * d + i] +
					       m->p[1][(size_t)t * d + i];
		for (int l = 0; l < m->L; l++) {
			double **P = m->p + 2 + 12 * l;

			for (int t = 0; t < T; t++) {
				dln(h + t * d, x + t * d, P[0], P[1], d, m->eps);
				dlin(qkv + (size_t)t * 3 * d, h + t * d, P[2], P[3],
				     d, 3 * d);
			}
			for (int hh = 0; hh < H; hh++)
				for (int t = 0; t < T; t++) {
					double mx = -INFINITY, sum = 0;

					for (int j = 0; j <= t; j++) {
						double a = 0;

						for (int i = 0; i < hd; i++)
							a += qkv[t * 3 * d + hh * hd + i] *
							     qkv[j * 3 * d + d + hh * hd + i];
						s[j] = a / sqrt((double)hd);
						mx = s[j] > mx ? s[j] : mx;
					}
					for (int j = 0; j <= t; j++)
						sum += s[j] = exp(s[j] - mx);
					for (int i = 0; i < hd; i++) {
						double a = 0;

						for (int j = 0; j <= t; j++)
							a += s[j] / sum *
							     qkv[j * 3 * d + 2 * d + hh * hd + i];
						z[t * d + hh * hd + i] = a;
					}
				}
			for (int t = 0; t < T; t++) {
				dlin(o, z + t * d, P[4], P[5], d, d);
				for (int i = 0; i < d; i++)
					x[t * d + i] += o[i];
				dln(h + t * d, x + t * d, P[6], P[7], d, m->eps);
				dlin(u, h + t * d, P[8], P[9], d, F);
				for (int i = 0; i < F; i++)
					u[i] = 0.5 * u[i] * (1 + tanh(sqrt(2 / M_PI) *
						(u[i] + 0.044715 * u[i] * u[i] * u[i])));
				dlin(o, u, P[10], P[11], F, d);
				for (int i = 0; i < d; i++)
					x[t * d + i] += o[i];
			}
		}
		for (int t = 0; t < T; t++) {
			double mx = -INFINITY, sum = 0;

			dln(h, x + t * d, m->p[2 + 12 * m->L], m->p[3 + 12 * m->L],
			    d, m->eps);
			for (int v = 0; v < V; v++) {
				double a = 0;

				for (int i = 0; i < d; i++)
					a += h[i] * m->p[0][(size_t)v * d + i];
				lg[v] = a;
				mx = a > mx ? a : mx;
			}
			for (int v = 0; v < V; v++)
				sum += exp(lg[v] - mx);
			total += log(sum) + mx - lg[sq[t + 1]];
		}
	}
	free(x);
	free(h);
	free(qkv);
	free(z);
	free(u);
	free(o);
	free(s);
	free(lg);
	return total / ((double)B * T);
}

/* Central differences of the double model for k sampled elements of every
 * tensor (and the element of largest gradient) against t's gradients,
 * which the caller has computed for tok. */
static void check_fd(qf_train *t, const int32_t *tok, int B, int T, int k,
		     const char *what)
{
	struct dmodel m;
	uint64_t rng[4];
	char buf[160];

	dmodel_get(&m, t);
	qf_train_rng_seed(rng, 99);
	for (size_t i = 0; i < m.n; i++) {
		qf_train_tensor x;
		double gmax = 0, err = 0;
		size_t big = 0;

		qf_train_tensor_at(t, i, &x);
		for (size_t e = 0; e < x.numel; e++)
			if (fabs(x.g[e]) > gmax) {
				gmax = fabs(x.g[e]);
				big = e;
			}
		for (int s = 0; s <= k; s++) {
			size_t e = s == k ? big : qf_train_rng_next(rng) % x.numel;
			double v = m.p[i][e], h = 1e-5, lp, lm, fd;

			m.p[i][e] = v + h;
			lp = dloss(&m, tok, B, T);
			m.p[i][e] = v - h;
			lm = dloss(&m, tok, B, T);
			m.p[i][e] = v;
			fd = (lp - lm) / (2 * h);
			if (fabs(fd - x.g[e]) > err)
				err = fabs(fd - x.g[e]);
		}
		err /= gmax > 0 ? gmax : 1;
		snprintf(buf, sizeof buf, "%s %s", what, x.name);
		CHECKF(err <= 1e-4, "%s: finite differences off by %.3g of max|g| "
		       "%.3g", buf, err, gmax);
		note(err, buf);
	}
	dmodel_free(&m);
}

/* The double reference equals torch; its finite differences equal the
 * trainer's gradients. */
static void test_finite_differences(void)
{
	struct npz z;
	const int32_t *tok;
	const double *loss_ref;
	struct dmodel m;
	qf_train *t;
	double loss, dl;
	qf_err e;

	if (load_fixture(&z, &t, &tok, &loss_ref) < 0)
		return;
	dmodel_get(&m, t);
	dl = dloss(&m, tok, 3, 16);
	dmodel_free(&m);
	CHECKF(fabs(dl - loss_ref[0]) <= 1e-6 * loss_ref[0],
	       "double reference %.12g, torch %.9g", dl, loss_ref[0]);
	printf("# double reference loss %.12g, torch %.9g\n", dl, loss_ref[0]);
	CHECK(qf_train_forward(t, tok, 3, 16, 1, NULL, NULL, &loss, &e) == 0);
	CHECK(qf_train_backward(t, &e) == 0);
	check_fd(t, tok, 3, 16, 6, "fixture");
	report("finite differences (double) against the trainer's gradients, "
	       "torch fixture");
	qf_train_free(t);
	npz_free(&z);
}

/* A fresh model whose sequences of 200 tokens span two attention blocks
 * (128 + 72 query rows) and two row tiles (B·T = 400). */
static qf_train *random_model(int L, int d, int H, int C, int V, uint64_t seed)
{
	qf_model_config c = { 0 };
	qf_train *t;
	qf_err e;

	c.arch = QF_ARCH_GPT2;
	c.n_layer = L;
	c.n_embd = d;
	c.n_head = H;
	c.n_ctx = C;
	c.vocab_size = V;
	c.tied = 1;
	t = qf_train_new(&c, seed, &e);
	CHECKF(t != NULL, "%s", e.msg);
	return t;
}

static int32_t *random_tokens(uint64_t seed, int B, int T, int V)
{
	int32_t *tok = malloc((size_t)B * (T + 1) * sizeof *tok);
	uint64_t rng[4];

	qf_train_rng_seed(rng, seed);
	for (int i = 0; i < B * (T + 1); i++)
		tok[i] = (int32_t)(qf_train_rng_next(rng) % (uint64_t)V);
	return tok;
}

/* Perturb every weight (a fresh init has zero biases and unit norms,
 * where some gradients vanish by symmetry). */
static void perturb(qf_train *t, double scale, uint64_t seed)
{
	uint64_t rng[4];

	qf_train_rng_seed(rng, seed);
	for (size_t i = 0; i < qf_train_ntensors(t); i++) {
		qf_train_tensor x;

		qf_train_tensor_at(t, i, &x);
		for (size_t k = 0; k < x.numel; k++)
			x.w[k] += (float)(scale * ((double)(qf_train_rng_next(rng) >> 11) *
						   0x1p-53 - 0.5));
	}
}

static void test_finite_differences_long(void)
{
	qf_train *t = random_model(1, 32, 2, 256, 40, 5);
	int32_t *tok = random_tokens(6, 2, 200, 40);
	double loss;
	qf_err e;

	if (!t)
		return;
	perturb(t, 0.4, 7);
	qf_train_set_threads(t, 2, &e);
	CHECK(qf_train_forward(t, tok, 2, 200, 1, NULL, NULL, &loss, &e) == 0);
	CHECK(qf_train_backward(t, &e) == 0);
	check_fd(t, tok, 2, 200, 3, "T 200");
	report("finite differences (double), 1 layer, d 32, 2 heads, B 2 x T 200");
	free(tok);
	qf_train_free(t);
}

/* ---------------------------------------------------------------- the runtime */

/* The trainer's forward against qf_model_forward on the same weights,
 * sequence by sequence: logits and NLL. */
static void compare_runtime(qf_train *t, qf_model *m, const int32_t *tok, int B,
			    int T, const char *what)
{
	const qf_model_config *c = qf_model_cfg(m);
	size_t V = (size_t)c->vocab_size;
	float *lt = malloc((size_t)B * T * V * sizeof *lt);
	float *nt = malloc((size_t)B * T * sizeof *nt), *ng;
	float *lm = malloc((size_t)(T + 1) * V * sizeof *lm);
	float *nm = malloc((size_t)T * sizeof *nm);
	double loss, sum = 0;
	qf_err e;
	int same = 1;
	char buf[160];

	CHECKF(qf_train_forward(t, tok, B, T, 0, nt, lt, &loss, &e) == 0, "%s",
	       e.msg);
	for (int b = 0; b < B; b++) {
		const int32_t *sq = tok + (size_t)b * (T + 1);
		double el, en;

		/* the runtime over the T + 1 tokens (T + 1 <= n_ctx): its
		 * rows 0..T-1 and T targets are the trainer's */
		CHECK(qf_model_forward(m, sq, T + 1, NULL, lm, nm, &e) == 0);
		el = relerr(lt + (size_t)b * T * V, lm, (size_t)T * V);
		en = relerr(nt + (size_t)b * T, nm, (size_t)T);
		/* bit for bit against a pass over the same T tokens */
		CHECK(qf_model_forward(m, sq, T, NULL, lm, NULL, &e) == 0);
		same &= memcmp(lt + (size_t)b * T * V, lm, (size_t)T * V * 4) == 0;
		snprintf(buf, sizeof buf, "%s logits", what);
		CHECKF(el <= 1e-6, "%s: %.3g", buf, el);
		note(el, buf);
		snprintf(buf, sizeof buf, "%s nll", what);
		CHECKF(en <= 1e-6, "%s: %.3g", buf, en);
		note(en, buf);
	}
	printf("# %s: logits %s to the runtime's\n", what,
	       same ? "bit-identical" : "not bit-identical, close");
	for (int i = 0; i < B * T; i++)
		sum += nt[i];
	CHECK(fabs(sum / (B * T) - loss) <= 1e-12 * fabs(loss));
	/* with gradients the forward computes the same */
	ng = malloc((size_t)B * T * sizeof *ng);
	CHECK(qf_train_forward(t, tok, B, T, 1, ng, NULL, &loss, &e) == 0);
	CHECK(memcmp(ng, nt, (size_t)B * T * sizeof *ng) == 0);
	free(ng);
	free(lt);
	free(nt);
	free(lm);
	free(nm);
}

static void test_forward_runtime(void)
{
	qf_train *t = load("data/model/a.qft");
	qf_model *m;
	int32_t *tok;
	qf_err e;

	if (!t)
		return;
	m = qf_model_load("data/model/a.qft", &e);
	CHECKF(m != NULL, "%s", e.msg);
	if (!m) {
		qf_train_free(t);
		return;
	}
	/* the fixture with f16 and f64 weights, n_ctx 32: B 3 x T 31 */
	tok = random_tokens(11, 3, 31, 97);
	compare_runtime(t, m, tok, 3, 31, "a.qft");
	free(tok);
	tok = random_tokens(12, 2, 7, 97);
	compare_runtime(t, m, tok, 2, 7, "a.qft T 7");
	free(tok);
	/* one sequence: the same kernels in the same calls as the runtime's
	 * pass over those T tokens, so the same bits, on 1 or 3 threads */
	for (int k = 0; k < 4; k++) {
		int T = k % 2 ? 31 : 7, th = k < 2 ? 1 : 3;

		float *lt = malloc((size_t)T * 97 * sizeof *lt);
		float *lm = malloc((size_t)T * 97 * sizeof *lm);
		float *nt = malloc((size_t)T * sizeof *nt), *nm = malloc((size_t)T * sizeof *nm);
		double loss;

		CHECK(qf_train_set_threads(t, th, &e) == 0 &&
		      qf_model_set_threads(m, th, &e) == 0);
		tok = random_tokens(14, 1, T, 97);
		CHECK(qf_train_forward(t, tok, 1, T, 0, nt, lt, &loss, &e) == 0);
		CHECK(qf_model_forward(m, tok, T, NULL, lm, nm, &e) == 0);
		CHECKF(memcmp(lt, lm, (size_t)T * 97 * sizeof *lt) == 0,
		       "T %d, %d threads: logits differ from the runtime's", T, th);
		CHECKF(memcmp(nt, nm, (size_t)(T - 1) * sizeof *nt) == 0,
		       "T %d, %d threads: NLL differs from the runtime's", T, th);
		free(tok);
		free(lt);
		free(lm);
		free(nt);
		free(nm);
	}
	qf_model_free(m);
	qf_train_free(t);
	report("trainer forward against qf_model_forward");
}

/* A checkpoint is a weight stream the runtime loads; forward equal on a
 * model with T past an attention block and several row tiles. */
static void test_checkpoint_runtime(void)
{
	char dir[] = "/tmp/qf-train-XXXXXX", path[256];
	qf_train *t = random_model(2, 48, 3, 160, 300, 3);
	qf_train_opts o;
	qf_model *m;
	int32_t *tok;
	qf_err e;

	if (!t || !mkdtemp(dir)) {
		qf_train_free(t);
		CHECK(!"setup");
		return;
	}
	perturb(t, 0.1, 4);
	qf_train_opts_default(&o);
	snprintf(path, sizeof path, "%s/c.qft", dir);
	CHECKF(qf_train_save(t, path, &o, NULL, &e) == 0, "%s", e.msg);
	m = qf_model_load(path, &e);
	CHECKF(m != NULL, "%s", e.msg);
	if (m) {
		qf_model_set_threads(m, 2, &e);
		qf_train_set_threads(t, 2, &e);
		tok = random_tokens(13, 3, 159, 300);
		compare_runtime(t, m, tok, 3, 159, "checkpoint T 159");
		free(tok);
		qf_model_free(m);
	}
	report("trainer forward against qf_model_forward of its checkpoint");
	snprintf(path, sizeof path, "%s/c.qft.opt", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/c.qft", dir);
	unlink(path);
	rmdir(dir);
	qf_train_free(t);
}

/* ---------------------------------------------------------------- determinism, resume */

/* Steps on batches drawn from the state's own generator (so that resuming
 * must restore it). */
static void run_steps(qf_train *t, const qf_train_opts *o, int n, int B, int T)
{
	int V = qf_train_cfg(t)->vocab_size;
	int32_t *tok = malloc((size_t)B * (T + 1) * sizeof *tok);
	qf_err e;

	for (int s = 0; s < n; s++) {
		for (int i = 0; i < B * (T + 1); i++)
			tok[i] = (int32_t)(qf_train_rng_next(qf_train_rng(t)) %
					   (uint64_t)V);
		CHECKF(qf_train_step(t, tok, B, T, o, NULL, &e) == 0, "%s", e.msg);
	}
	free(tok);
}

static int same_state(qf_train *a, qf_train *b)
{
	if (qf_train_step_count(a) != qf_train_step_count(b) ||
	    qf_train_tokens(a) != qf_train_tokens(b) ||
	    memcmp(qf_train_rng(a), qf_train_rng(b), 4 * sizeof(uint64_t)))
		return 0;
	for (size_t i = 0; i < qf_train_ntensors(a); i++) {
		qf_train_tensor x, y;

		qf_train_tensor_at(a, i, &x);
		qf_train_tensor_at(b, i, &y);
		if (memcmp(x.w, y.w, x.numel * 4) || memcmp(x.m, y.m, x.numel * 4) ||
		    memcmp(x.v, y.v, x.numel * 4))
			return 0;
	}
	return 1;
}

/* 1, 2 and 3 threads give the same weights, bit for bit. */
static void test_threads(void)
{
	qf_train *t[3];
	qf_train_opts o;
	qf_err e;

	qf_train_opts_default(&o);
	o.warmup = 1;
	o.lr = 3e-3;
	for (int i = 0; i < 3; i++) {
		if (!(t[i] = random_model(2, 64, 4, 200, 300, 8)))
			return;
		CHECK(qf_train_set_threads(t[i], i + 1, &e) == 0);
		run_steps(t[i], &o, 3, 3, 200);
	}
	CHECK(same_state(t[0], t[1]));
	CHECK(same_state(t[0], t[2]));
	for (int i = 0; i < 3; i++)
		qf_train_free(t[i]);
}

static int cmp_files(const char *a, const char *b)
{
	FILE *f = fopen(a, "rb"), *g = fopen(b, "rb");
	int ca = 0, cb = 0, same = f && g;

	while (same && ca != EOF) {
		ca = getc(f);
		cb = getc(g);
		same = ca == cb;
	}
	if (f)
		fclose(f);
	if (g)
		fclose(g);
	return same;
}

/* N steps straight, and N/2, a checkpoint, a resume and N/2: the same
 * state and the same checkpoint files, byte for byte. */
static void test_resume(void)
{
	char dir[] = "/tmp/qf-train-XXXXXX", p1[256], p2[256], p3[256], q1[300], q2[300];
	qf_train *a, *b, *c, *bad;
	qf_train_opts o, o2;
	qf_rec meta;
	qf_err e;

	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	qf_train_opts_default(&o);
	o.warmup = 2;
	o.steps = 8;
	o.lr = 5e-3;
	snprintf(p1, sizeof p1, "%s/straight.qft", dir);
	snprintf(p2, sizeof p2, "%s/half.qft", dir);
	snprintf(p3, sizeof p3, "%s/resumed.qft", dir);
	a = random_model(2, 32, 4, 24, 64, 21);
	b = random_model(2, 32, 4, 24, 64, 21);
	if (!a || !b)
		return;
	run_steps(a, &o, 8, 4, 24);
	run_steps(b, &o, 4, 4, 24);
	qf_rec_init(&meta);
	qf_rec_set(&meta, "batch", "4", &e);
	CHECKF(qf_train_save(b, p2, &o, &meta, &e) == 0, "%s", e.msg);
	qf_rec_free(&meta);
	qf_train_free(b);
	c = qf_train_resume(p2, &o2, &meta, &e);
	CHECKF(c != NULL, "%s", e.msg);
	if (c) {
		CHECK(qf_train_step_count(c) == 4 && qf_train_seed(c) == 21);
		CHECK(memcmp(&o, &o2, sizeof o) == 0);
		CHECK_STR(qf_rec_get(&meta, "batch"), "4");
		run_steps(c, &o2, 4, 4, 24);
		CHECK(same_state(a, c));
		CHECK(qf_train_save(a, p1, &o, NULL, &e) == 0);
		CHECK(qf_train_save(c, p3, &o, NULL, &e) == 0);
		CHECK(cmp_files(p1, p3));
		snprintf(q1, sizeof q1, "%s.opt", p1);
		snprintf(q2, sizeof q2, "%s.opt", p3);
		CHECK(cmp_files(q1, q2));
		qf_train_free(c);
	}
	qf_rec_free(&meta);
	/* the optimizer state of other weights is refused */
	snprintf(q1, sizeof q1, "%s.opt", p2);
	snprintf(q2, sizeof q2, "%s.opt", p1);
	CHECK(rename(q2, q1) == 0);
	bad = qf_train_resume(p2, NULL, NULL, &e);
	CHECK(bad == NULL);
	CHECKF(strstr(e.msg, "weights_fnv differs") != NULL, "%s", e.msg);
	unlink(q1);
	bad = qf_train_resume(p2, NULL, NULL, &e);
	CHECK(bad == NULL && strstr(e.msg, "half.qft.opt") != NULL);
	unlink(p1);
	unlink(p2);
	unlink(p3);
	snprintf(q2, sizeof q2, "%s.opt", p3);
	unlink(q2);
	rmdir(dir);
	qf_train_free(a);
}

/* ---------------------------------------------------------------- init, schedule */

static void test_init(void)
{
	qf_train *t = random_model(4, 64, 4, 32, 100, 1);
	qf_train *u = random_model(4, 64, 4, 32, 100, 1);
	qf_train *v = random_model(4, 64, 4, 32, 100, 2);

	if (!t || !u || !v)
		return;
	CHECK(qf_train_ntensors(t) == 2 + 12 * 4 + 2);
	CHECK(qf_train_nparams(t) == 100 * 64 + 32 * 64 +
	      4 * (4 * 64 + 3 * 64 * 64 + 3 * 64 + 64 * 64 + 64 +
		   4 * 64 * 64 + 4 * 64 + 4 * 64 * 64 + 64) + 2 * 64);
	for (size_t i = 0; i < qf_train_ntensors(t); i++) {
		qf_train_tensor x, y, z;
		double s = 0, s2 = 0, want;

		qf_train_tensor_at(t, i, &x);
		qf_train_tensor_at(u, i, &y);
		qf_train_tensor_at(v, i, &z);
		CHECK(memcmp(x.w, y.w, x.numel * 4) == 0);
		for (size_t k = 0; k < x.numel; k++) {
			s += x.w[k];
			s2 += (double)x.w[k] * x.w[k];
		}
		s /= x.numel;
		s2 = sqrt(s2 / x.numel - s * s);
		if (strstr(x.name, "ln") || strstr(x.name, "norm")) {
			want = strstr(x.name, "weight") ? 1 : 0;
			CHECKF(s == want && s2 < 1e-6, "%s", x.name);
		} else if (strstr(x.name, "bias")) {
			CHECKF(s == 0 && s2 == 0, "%s", x.name);
		} else {
			want = strstr(x.name, "out.weight") ? 0.02 / sqrt(8) : 0.02;
			CHECKF(fabs(s2 - want) < 0.05 * want && fabs(s) < 0.1 * want,
			       "%s: std %g, want %g, mean %g", x.name, s2, want, s);
			CHECK(memcmp(x.w, z.w, x.numel * 4) != 0);
		}
		CHECK(x.decay == (strstr(x.name, "layers.") && strstr(x.name, "weight") &&
				  !strstr(x.name, ".ln")));
	}
	qf_train_free(t);
	qf_train_free(u);
	qf_train_free(v);
}

static void test_schedule(void)
{
	qf_train_opts o;
	qf_err e;

	qf_train_opts_default(&o);
	o.lr = 1;
	o.min_lr = 0.1;
	o.warmup = 10;
	o.steps = 110;
	CHECK(fabs(qf_train_lr(&o, 0) - 0.1) < 1e-15);
	CHECK(fabs(qf_train_lr(&o, 4) - 0.5) < 1e-15);
	CHECK(fabs(qf_train_lr(&o, 9) - 1) < 1e-15);
	CHECK(fabs(qf_train_lr(&o, 10) - 1) < 1e-15);
	CHECK(fabs(qf_train_lr(&o, 60) - 0.55) < 1e-12);
	CHECK(fabs(qf_train_lr(&o, 110) - 0.1) < 1e-15);
	CHECK(fabs(qf_train_lr(&o, 500) - 0.1) < 1e-15);
	for (uint64_t s = 11; s < 110; s++)
		CHECK(qf_train_lr(&o, s) < qf_train_lr(&o, s - 1));
	o.warmup = 0;
	CHECK(fabs(qf_train_lr(&o, 0) - 1) < 1e-15);
	CHECK(qf_train_opts_check(&o, &e) == 0);
	o.min_lr = 2;
	CHECK(qf_train_opts_check(&o, &e) < 0);
	o.min_lr = 0.1;
	o.beta2 = 1;
	CHECK(qf_train_opts_check(&o, &e) < 0);
}

/* ---------------------------------------------------------------- training data */

static void put_doc(qf_writer *w, const char *name, const char *lang,
		    const int32_t *tok, uint64_t n)
{
	qf_rec rec;
	qf_err e;

	qf_rec_init(&rec);
	qf_rec_set_name(&rec, name, &e);
	qf_rec_set_shape(&rec, QF_I32, 1, &n, &e);
	if (lang)
		qf_rec_set(&rec, "lang", lang, &e);
	CHECKF(qf_writer_put(w, &rec, tok, &e) == 0, "%s", e.msg);
	qf_rec_free(&rec);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static void test_tdata(void)
{
	char dir[] = "/tmp/qf-train-XXXXXX", tp[256], mp[256], bp[256];
	int32_t a1[30], a2[10], b1[50], c1[40], bad[3] = { 1, 2, 64 };
	int32_t tok[16 * 8], tok2[16 * 8];
	uint64_t rng[4], n, count[3] = { 0, 0, 0 };
	int langs[16];
	qf_writer *w;
	qf_tdata *d;
	qf_err e;
	double p;

	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	/* language x: ids 0..29 then 30..39; y: 100 + i; z: 200 + i */
	for (int i = 0; i < 30; i++)
		a1[i] = i;
	for (int i = 0; i < 10; i++)
		a2[i] = 30 + i;
	for (int i = 0; i < 50; i++)
		b1[i] = 100 + i;
	for (int i = 0; i < 40; i++)
		c1[i] = 200 + i % 40;
	snprintf(tp, sizeof tp, "%s/t.qft", dir);
	snprintf(mp, sizeof mp, "%s/mix.tsv", dir);
	w = qf_writer_open(tp, NULL, &e);
	put_doc(w, "doc.0", "xx", a1, 30);
	put_doc(w, "doc.1", "yy", b1, 50);
	put_doc(w, "doc.2", "xx", a2, 10);
	put_doc(w, "doc.3", "zz", c1, 40);
	CHECK(qf_writer_close(w, &e) == 0);
	write_file(mp, "lang\tweight\n# comment\nxx\t3\n\nyy\t1\n");

	d = qf_tdata_load(tp, mp, 256, 255, 8, &e);
	CHECKF(d != NULL, "%s", e.msg);
	if (!d)
		goto out;
	CHECK(qf_tdata_nlangs(d) == 3);
	CHECK_STR(qf_tdata_lang(d, 0, &p, &n), "xx");
	CHECK(n == 42 && fabs(p - 0.75) < 1e-12);
	CHECK_STR(qf_tdata_lang(d, 2, &p, &n), "zz");
	CHECK(n == 41 && p == 0);
	qf_train_rng_seed(rng, 5);
	for (int rep = 0; rep < 500; rep++) {
		qf_tdata_sample(d, rng, 16, tok, langs);
		for (int b = 0; b < 16; b++) {
			const int32_t *x = tok + b * 8;

			count[langs[b]]++;
			/* a window of the language's sequence: consecutive ids,
			 * the separator 255 after each document */
			for (int i = 1; i < 8; i++) {
				int ok = x[i] == x[i - 1] + 1 || x[i] == 255 ||
					 (x[i - 1] == 255 && (x[i] == 30 || x[i] == 0));

				if (langs[b] == 0 && !ok) {
					CHECKF(ok, "window %d: %d after %d", b, x[i],
					       x[i - 1]);
					break;
				}
				if (langs[b] == 1)
					CHECK(x[i] == 255 || (x[i] >= 100 && x[i] < 150));
			}
		}
	}
	CHECK(count[2] == 0);
	CHECKF(fabs((double)count[0] / 8000 - 0.75) < 0.03, "xx %" PRIu64,
	       count[0]);
	/* the same seed, the same windows */
	qf_train_rng_seed(rng, 6);
	qf_tdata_sample(d, rng, 16, tok, NULL);
	qf_train_rng_seed(rng, 6);
	qf_tdata_sample(d, rng, 16, tok2, NULL);
	CHECK(memcmp(tok, tok2, sizeof tok) == 0);
	qf_tdata_free(d);

	/* no mix: by tokens */
	d = qf_tdata_load(tp, NULL, 256, 255, 8, &e);
	CHECK(d && qf_tdata_lang(d, 1, &p, NULL) && fabs(p - 51.0 / 134) < 1e-12);
	qf_tdata_free(d);

	/* errors */
	CHECK(!qf_tdata_load(tp, mp, 200, 199, 8, &e));
	CHECKF(strstr(e.msg, "record doc.3: token id 200 at position 0 out of "
		      "range (vocab_size 200)") != NULL, "%s", e.msg);
	CHECK(!qf_tdata_load(tp, mp, 256, 255, 43, &e));
	CHECKF(strstr(e.msg, "language 'xx' has 42 tokens") != NULL, "%s", e.msg);
	write_file(mp, "xx\t3\nqq\t1\n");
	CHECK(!qf_tdata_load(tp, mp, 256, 255, 8, &e));
	CHECKF(strstr(e.msg, "mix.tsv: line 2: language 'qq' has no documents") !=
	       NULL, "%s", e.msg);
	write_file(mp, "xx\t-1\n");
	CHECK(!qf_tdata_load(tp, mp, 256, 255, 8, &e));
	CHECKF(strstr(e.msg, "line 1: weight '-1' is not a non-negative number"),
	       "%s", e.msg);
	write_file(mp, "xx 1\n");
	CHECK(!qf_tdata_load(tp, mp, 256, 255, 8, &e));
	CHECKF(strstr(e.msg, "line 1: expected 'lang<TAB>weight'"), "%s", e.msg);
	write_file(mp, "xx\t0\n");
	CHECK(!qf_tdata_load(tp, mp, 256, 255, 8, &e));
	CHECKF(strstr(e.msg, "every language has weight 0"), "%s", e.msg);
	CHECK(!qf_tdata_load(tp, NULL, 256, 256, 8, &e));
	snprintf(bp, sizeof bp, "%s/bad.qft", dir);
	w = qf_writer_open(bp, NULL, &e);
	put_doc(w, "doc.0", NULL, bad, 3);
	CHECK(qf_writer_close(w, &e) == 0);
	CHECK(!qf_tdata_load(bp, NULL, 256, 255, 2, &e));
	CHECKF(strstr(e.msg, "record doc.0: no lang attribute"), "%s", e.msg);
	unlink(bp);
out:
	unlink(tp);
	unlink(mp);
	rmdir(dir);
}

/* The TSV reader of the mix (and of qf-eval's languages tables): fields,
 * line ends, a last line without one, and the limit on the bytes read. */
static void test_tsv(void)
{
	char path[] = "/tmp/qf-tsv-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	qf_tsv t;
	qf_err e;

	if (fd < 0) {
		CHECK(!"mkstemp");
		return;
	}
	close(fd);
	write_file(path, "a\tb\r\n\nc\t\td");
	CHECK(qf_tsv_open(&t, path, 64) == 0);
	CHECK(qf_tsv_next(&t) == 1 && t.n == 2 && t.len == 3);
	CHECK_STR(t.fld[0], "a");
	CHECK_STR(t.fld[1], "b");
	CHECK(qf_tsv_next(&t) == 1 && t.n == 1 && t.len == 0 && t.lineno == 2);
	CHECK(qf_tsv_next(&t) == 1 && t.n == 3 && t.len == 4);
	CHECK_STR(t.fld[2], "d");
	CHECK(qf_tsv_next(&t) == 0 && t.lineno == 3);
	qf_tsv_close(&t);
	/* 10 bytes: a limit of 10 reads them, 9 stops with EFBIG */
	CHECK(qf_tsv_open(&t, path, 10) == 0);
	while (qf_tsv_next(&t) > 0)
		;
	CHECK(t.lineno == 3 && !ferror(t.f));
	qf_tsv_close(&t);
	CHECK(qf_tsv_open(&t, path, 9) == 0);
	CHECK(qf_tsv_next(&t) == 1 && qf_tsv_next(&t) == 1);
	CHECK(qf_tsv_next(&t) == -1 && errno == EFBIG);
	CHECK(qf_tsv_fail(&t, &e) == -1);
	CHECKF(strstr(e.msg, ": larger than 9 bytes (the limit of a table)") != NULL,
	       "%s", e.msg);
	qf_tsv_close(&t);
	/* a line without end: memory stays at the limit */
	f = fopen(path, "w");
	for (int i = 0; i < 100000; i++)
		fputs("xxxxxxxxxx", f);
	fclose(f);
	CHECK(qf_tsv_open(&t, path, 4096) == 0);
	CHECK(qf_tsv_next(&t) == -1 && errno == EFBIG && t.cap <= 8192);
	qf_tsv_close(&t);
	CHECK(qf_tsv_open(&t, "/nonexistent/x.tsv", 10) == -1 && errno == ENOENT);
	unlink(path);
}

static void test_bad_batch(void)
{
	qf_train *t = random_model(1, 16, 2, 8, 20, 1);
	int32_t tok[2 * 9] = { 0 }, *rt = random_tokens(3, 2, 8, 20);
	double loss;
	qf_err e;

	if (!t)
		return;
	CHECK(qf_train_backward(t, &e) < 0);
	tok[13] = 20;
	CHECK(qf_train_forward(t, tok, 2, 8, 1, NULL, NULL, &loss, &e) < 0);
	CHECK_STR(e.msg, "token id 20 at position 4 of sequence 1 out of range "
		  "(vocab_size 20)");
	tok[13] = 0;
	CHECK(qf_train_forward(t, tok, 1, 9, 1, NULL, NULL, &loss, &e) < 0);
	CHECK_STR(e.msg, "sequences of 9 tokens longer than n_ctx 8");
	CHECK(qf_train_forward(t, rt, 2, 8, 0, NULL, NULL, &loss, &e) == 0);
	/* near uniform at init */
	CHECKF(fabs(loss - log(20)) < 0.3, "loss %g", loss);
	free(rt);
	CHECK(qf_train_backward(t, &e) < 0);	/* no gradients kept */
	qf_train_free(t);
}

int main(void)
{
	RUN(test_grads_torch);
	RUN(test_adamw_torch);
	RUN(test_finite_differences);
	RUN(test_finite_differences_long);
	RUN(test_forward_runtime);
	RUN(test_checkpoint_runtime);
	RUN(test_threads);
	RUN(test_resume);
	RUN(test_init);
	RUN(test_schedule);
	RUN(test_tdata);
	RUN(test_tsv);
	RUN(test_bad_batch);
	return unit_done();
}
