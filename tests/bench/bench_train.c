/*
 * bench_train.c - training steps of a byte-level GPT-2 against the sgemm
 * peak measured in the same run on the same shapes.
 *
 * The model (default: 12 layers, d 384, 6 heads, n_ctx 256, vocab 256,
 * batch 8 x 256 tokens: 21.5 M parameters, a size that trains on a few
 * million tokens in an hour on two cores) is initialised from a seed
 * (qf_train_new); batches are random bytes.  Then:
 *
 *   sgemm     every matrix product of a step as the trainer calls it,
 *             on the same shapes: per linear layer (qkv, out, mlp.in,
 *             mlp.out, the head) the forward y = x wᵀ [N×in]·[in×out],
 *             the input gradient dy w [N×out]·[out×in] and the weight
 *             gradient dyᵀ x [out×N]·[N×in], N = batch × n_ctx, each
 *             one call with OpenBLAS's own threads; timed once after
 *             every step (so that both meet the same load on a shared
 *             machine), best time kept.  The step's mix of them (its
 *             sgemm FLOPs over the time they take alone) is the peak.
 *   step      --steps training steps (forward, backward, norms, clipped
 *             AdamW), after one not counted (allocation, page faults):
 *             tokens per second, achieved GFLOPS and that as a share of
 *             the peak: all steps against the best round, the best step
 *             against the best round, and paired (each step against the
 *             round right after it, median).  FLOPs of a step: 6 · N ·
 *             (the linear layers' and the head's weights) for the
 *             products, plus causal attention 6 · d · T (T + 1) per
 *             sequence and layer (forward q kᵀ and p v: 2 d T (T+1);
 *             backward twice that).
 *   parts     the time of a step's forward, backward and update (norms
 *             and AdamW), from separate calls.
 *   memory    peak resident set (getrusage ru_maxrss).
 *
 * qf_blas_init runs first, as in the tools; --no-blas-init skips it.  Not
 * a test: figures in docs/train.md.
 *
 *   bench_train [--steps N] [--layers L] [--d-model D] [--heads H]
 *               [--ctx C] [--batch B] [-j THREADS] [--no-blas-init]
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cblas.h>

#include "qf.h"
#include "train/train.h"

static const char *prog = "bench_train";

#include "bench.h"

static void die_err(const qf_err *e)
{
	fprintf(stderr, "%s: %s\n", prog, e->msg);
	exit(1);
}

/* ------------------------------------------------------------ sgemm peak */

enum { FWD, DX, DW };
struct gemm {
	const char *what;
	int in, out, per_step, kind;
	double t;
};

static float *ga, *gb, *gc;

static void fill(float *x, size_t n, uint64_t seed)
{
	uint64_t s[4];

	qf_train_rng_seed(s, seed);
	for (size_t i = 0; i < n; i++)
		x[i] = (float)((double)(qf_train_rng_next(s) >> 11) * 0x1p-53 - 0.5);
}

/* One round: each product once, best times kept; returns the round's
 * time for one step's products.  ga and gc hold [N, 4d] (activations
 * and their gradients), gb [4d, d] or [V, d] (a weight or its
 * gradient). */
static double gemm_round(struct gemm *g, int n, int N)
{
	double mix = 0;

	for (int i = 0; i < n; i++) {
		double t = now();

		if (g[i].kind == FWD)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N,
				    g[i].out, g[i].in, 1.0f, ga, g[i].in, gb,
				    g[i].in, 0.0f, gc, g[i].out);
		else if (g[i].kind == DX)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N,
				    g[i].in, g[i].out, 1.0f, ga, g[i].out, gb,
				    g[i].in, 0.0f, gc, g[i].in);
		else	/* dw [out, in] += dy [N, out]ᵀ · x [N, in] */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
				    g[i].out, g[i].in, N, 1.0f, ga, g[i].out, gc,
				    g[i].in, 1.0f, gb, g[i].in);
		t = now() - t;
		if (g[i].t == 0 || t < g[i].t)
			g[i].t = t;
		mix += t * g[i].per_step;
	}
	return mix;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "steps", required_argument, NULL, 's' },
		{ "layers", required_argument, NULL, 'L' },
		{ "d-model", required_argument, NULL, 'd' },
		{ "heads", required_argument, NULL, 'H' },
		{ "ctx", required_argument, NULL, 'C' },
		{ "batch", required_argument, NULL, 'B' },
		{ "no-blas-init", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	int steps = 5, L = 12, d = 384, H = 6, C = 256, B = 8, V = 256;
	int threads = 0, blas_init = 1, blas, c, N, T, ng = 0;
	struct gemm g[15];
	const char *names[5] = { "attn.qkv", "attn.out", "mlp.in", "mlp.out", "head" };
	double gemm_flops = 0, gemm_time = 0, flops, attn_flops, t = 0, peak;
	double best = INFINITY, *paired, tf = 0, tb = 0, tu = 0, loss;
	double *group;
	qf_model_config mc = { 0 };
	qf_train_opts o;
	qf_train_stats st;
	qf_train *tr;
	int32_t *tok;
	struct rusage ru;
	uint64_t rng[4];
	qf_err e;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--no-blas-init") == 0)
			blas_init = 0;
	blas = blas_init ? qf_blas_init(argc, argv, 1) : 0;
	while ((c = getopt_long(argc, argv, "j:", lo, NULL)) != -1) {
		switch (c) {
		case 's': steps = atoi(optarg); break;
		case 'L': L = atoi(optarg); break;
		case 'd': d = atoi(optarg); break;
		case 'H': H = atoi(optarg); break;
		case 'C': C = atoi(optarg); break;
		case 'B': B = atoi(optarg); break;
		case 'j': threads = atoi(optarg); break;
		case 'n': break;
		default:
			fprintf(stderr, "usage: %s [--steps N] [--layers L] [--d-model D] "
				"[--heads H] [--ctx C] [--batch B] [-j THREADS] "
				"[--no-blas-init]\n", prog);
			return 2;
		}
	}
	if (steps < 1)
		steps = 1;
	if (threads > 0)
		openblas_set_num_threads(threads);
	T = C;
	N = B * T;
	mc.arch = QF_ARCH_GPT2;
	mc.n_layer = L;
	mc.n_embd = d;
	mc.n_head = H;
	mc.n_ctx = C;
	mc.vocab_size = V;
	mc.tied = 1;
	if (!(tr = qf_train_new(&mc, 1, &e)))
		die_err(&e);
	if (threads > 0 && qf_train_set_threads(tr, threads, &e) < 0)
		die_err(&e);
	qf_train_opts_default(&o);
	o.warmup = 0;
	o.steps = (uint64_t)steps + 2;
	printf("# %s: %d layers, d %d, %d heads, n_ctx %d, vocab %d: %zu "
	       "parameters; batch %d x %d tokens\n", prog, L, d, H, C, V,
	       qf_train_nparams(tr), B, T);
	printf("openblas: core %s (%s), %d threads\n", qf_blas_corename(),
	       blas == 1 ? "OPENBLAS_CORETYPE set by qf_blas_init" :
	       getenv("OPENBLAS_CORETYPE") ? "OPENBLAS_CORETYPE set by the user" :
	       blas_init ? "left as OpenBLAS chose" : "--no-blas-init",
	       openblas_get_num_threads());

	/* the products of a step */
	for (int i = 0; i < 5; i++) {
		int in = i == 3 ? 4 * d : d;
		int out = i == 0 ? 3 * d : i == 2 ? 4 * d : i == 4 ? V : d;

		for (int k = FWD; k <= DW; k++)
			g[ng++] = (struct gemm){ names[i], in, out, i == 4 ? 1 : L, k, 0 };
	}
	ga = malloc((size_t)N * 4 * d * sizeof *ga);
	gb = malloc((size_t)4 * d * d * sizeof *gb + (size_t)V * d * sizeof *gb);
	gc = malloc((size_t)N * 4 * d * sizeof *gc);
	paired = malloc((size_t)steps * sizeof *paired);
	tok = malloc((size_t)B * (T + 1) * sizeof *tok);
	group = malloc((size_t)(L + 2) * sizeof *group);
	if (!ga || !gb || !gc || !paired || !tok || !group)
		die("out of memory");
	fill(ga, (size_t)N * 4 * d, 1);
	fill(gb, (size_t)4 * d * d + (size_t)V * d, 2);
	memset(gc, 0, (size_t)N * 4 * d * sizeof *gc);
	gemm_round(g, ng, N);
	for (int i = 0; i < ng; i++)
		g[i].t = 0;

	qf_train_rng_seed(rng, 12345);
	st.group = group;
	for (int s = -1; s < steps; s++) {
		double ts;

		for (int i = 0; i < B * (T + 1); i++)
			tok[i] = (int32_t)(qf_train_rng_next(rng) % (uint64_t)V);
		ts = now();
		if (qf_train_step(tr, tok, B, T, &o, &st, &e) < 0)
			die_err(&e);
		ts = now() - ts;
		if (s < 0)
			continue;	/* warm-up */
		t += ts;
		best = ts < best ? ts : best;
		paired[s] = gemm_round(g, ng, N) / ts;
	}
	/* the parts of a step, one more time each */
	for (int s = 0; s < 2; s++) {
		double t0 = now(), t1, t2;

		if (qf_train_forward(tr, tok, B, T, 1, NULL, NULL, &loss, &e) < 0)
			die_err(&e);
		t1 = now();
		if (qf_train_backward(tr, &e) < 0)
			die_err(&e);
		t2 = now();
		qf_train_update(tr, &o, qf_train_grad_norms(tr, group));
		if (s == 1) {
			tf = t1 - t0;
			tb = t2 - t1;
			tu = now() - t2;
		}
	}
	getrusage(RUSAGE_SELF, &ru);

	for (int i = 0; i < ng; i++) {
		double f = 2.0 * N * g[i].in * g[i].out;

		gemm_flops += f * g[i].per_step;
		gemm_time += g[i].t * g[i].per_step;
		printf("sgemm %-8s %-3s %6.1f GFLOPS\n", g[i].what,
		       g[i].kind == FWD ? "fwd" : g[i].kind == DX ? "dx" : "dw",
		       f / g[i].t * 1e-9);
	}
	peak = gemm_flops / gemm_time;
	attn_flops = 6.0 * d * T * (T + 1.0) * B * L;
	flops = gemm_flops + attn_flops;
	printf("sgemm peak, the step's mix: %.1f GFLOPS (%.3f s of sgemm per "
	       "step)\n", peak * 1e-9, gemm_time);
	printf("training: %d steps x %d tokens in %.2f s: %.0f tokens/s, %.1f "
	       "GFLOPS = %.0f%% of the sgemm peak\n", steps, N, t, steps * N / t,
	       flops * steps / t * 1e-9, 100 * flops * steps / t / peak);
	printf("  best step: %.2f s, %.0f tokens/s, %.1f GFLOPS = %.0f%% of the "
	       "peak\n", best, N / best, flops / best * 1e-9,
	       100 * flops / best / peak);
	print_paired("step", paired, steps, flops / gemm_flops);
	printf("  (FLOPs per step: %.1f G in linear layers and head, %.1f G in "
	       "causal attention)\n", gemm_flops * 1e-9, attn_flops * 1e-9);
	printf("parts of a step: forward %.2f s, backward %.2f s, norms and "
	       "AdamW %.3f s; last loss %.4f\n", tf, tb, tu, st.loss);
	printf("peak memory: %.0f MB resident (activations %.0f MB, parameters "
	       "with gradients and moments %.0f MB)\n", ru.ru_maxrss / 1024.0,
	       qf_train_act_bytes(qf_train_cfg(tr), B, T) / 1e6,
	       16.0 * qf_train_nparams(tr) / 1e6);
	free(ga);
	free(gb);
	free(gc);
	free(paired);
	free(tok);
	free(group);
	qf_train_free(tr);
	return 0;
}
