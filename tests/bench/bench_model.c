/*
 * bench_model.c - the GPT-2 forward pass at GPT-2 small's shape against
 * the sgemm peak measured in the same run.
 *
 * A child process writes a weight stream of GPT-2 small's shape (12
 * layers, d 768, 12 heads, vocab 50257, n_ctx 1024) with random weights
 * (seeded) into a pipe; the model is loaded from it (no file, and only
 * the model's memory in this process).  Then:
 *
 *   sgemm     each matrix product of the model, [T×in]·[in×out] with
 *             T = 1024 as qf_linear calls it, timed once after every
 *             forward pass (so that both meet the same load on a shared
 *             machine), best time kept; and the model's mix of them: its
 *             sgemm FLOPs over the time the products take alone.  That
 *             is the peak the forward pass is measured against.
 *   forward   --windows passes of n_ctx tokens with NLL (no logits kept):
 *             tokens per second, achieved GFLOPS (2·params·tokens for the
 *             linear layers and the head, plus causal attention
 *             4·d·Σ(t+1) per layer) and that as a share of the peak,
 *             over all passes and for the best one; and paired: each
 *             pass against the sgemm round right after it, the median
 *             over passes (the machine's speed drifts between runs).
 *   nll       qf_model_nll over a document of the same length with the
 *             default stride n_ctx / 2: scored tokens per second.
 *   memory    peak resident set (getrusage ru_maxrss) of the windowed
 *             pass, the sgemm operands freed and the high-water mark
 *             reset first.
 *
 * qf_blas_init runs first, as in the tools: on a CPU that Debian's
 * OpenBLAS does not recognise it re-executes the benchmark with
 * OPENBLAS_CORETYPE set.  --no-blas-init skips that (to measure OpenBLAS
 * as it comes).  Not a test: figures in docs/runtime.md.
 *
 *   bench_model [--windows N] [-j THREADS] [--seed S] [--no-blas-init]
 *               [--profile]
 *
 * --profile adds the time per window spent before each hook site.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "qf.h"

#define N_LAYER 12
#define D 768
#define N_HEAD 12
#define VOCAB 50257
#define CTX 1024
#define INNER (4 * D)

static const char *prog = "bench_model";

#include "bench.h"

static void die_err(const qf_err *e)
{
	fprintf(stderr, "%s: %s\n", prog, e->msg);
	exit(1);
}

/* ------------------------------------------------------------ random weights */

static uint64_t rng;

static inline uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Uniform with standard deviation std, around mean. */
static void fill(float *x, size_t n, float mean, float std)
{
	const float a = std * 1.7320508f / 2147483648.0f;

	for (size_t i = 0; i < n; i++)
		x[i] = mean + a * (float)((int64_t)(next() >> 32) - 2147483648LL);
}

static void put(qf_writer *w, const char *name, int ndim, uint64_t d0,
		uint64_t d1, float mean, float std, float *buf)
{
	uint64_t dims[2] = { d0, d1 };
	qf_rec rec;
	qf_err e;

	qf_rec_init(&rec);
	if (qf_rec_set_name(&rec, name, &e) < 0 ||
	    qf_rec_set_shape(&rec, QF_F32, ndim, dims, &e) < 0)
		die_err(&e);
	fill(buf, ndim == 2 ? d0 * d1 : d0, mean, std);
	if (qf_writer_put(w, &rec, buf, &e) < 0)
		die_err(&e);
	qf_rec_free(&rec);
}

/* The child: the whole stream into fd. */
static void write_model(int fd, uint64_t seed)
{
	FILE *f = fdopen(fd, "wb");
	qf_wopts o = { .level = 1 };
	float *buf = malloc((size_t)VOCAB * D * sizeof *buf);
	char name[64];
	qf_writer *w;
	qf_rec cfg;
	uint64_t zero = 0;
	qf_err e;

	if (!f || !buf || !(w = qf_writer_fopen(f, "<pipe>", &o, &e)))
		_exit(1);
	rng = seed * 0x9E3779B97F4A7C15ull | 1;
	qf_rec_init(&cfg);
	qf_rec_set_name(&cfg, "config", &e);
	qf_rec_set_shape(&cfg, QF_U8, 1, &zero, &e);
	qf_rec_set(&cfg, "arch", "gpt2", &e);
	qf_rec_setf(&cfg, &e, "n_layer", "%d", N_LAYER);
	qf_rec_setf(&cfg, &e, "n_embd", "%d", D);
	qf_rec_setf(&cfg, &e, "n_head", "%d", N_HEAD);
	qf_rec_setf(&cfg, &e, "n_ctx", "%d", CTX);
	qf_rec_setf(&cfg, &e, "n_inner", "%d", INNER);
	qf_rec_setf(&cfg, &e, "vocab_size", "%d", VOCAB);
	qf_rec_set(&cfg, "layer_norm_epsilon", "1e-05", &e);
	qf_rec_set(&cfg, "activation", "gelu_new", &e);
	qf_rec_set(&cfg, "tie_word_embeddings", "true", &e);
	if (qf_writer_put(w, &cfg, NULL, &e) < 0)
		_exit(1);
	qf_rec_free(&cfg);
	put(w, "tok_emb.weight", 2, VOCAB, D, 0, 0.02f, buf);
	put(w, "pos_emb.weight", 2, CTX, D, 0, 0.01f, buf);
	for (int l = 0; l < N_LAYER; l++) {
#define P(s) (snprintf(name, sizeof name, "layers.%d.%s", l, s), name)
		put(w, P("ln1.weight"), 1, D, 0, 1, 0.05f, buf);
		put(w, P("ln1.bias"), 1, D, 0, 0, 0.05f, buf);
		put(w, P("attn.qkv.weight"), 2, 3 * D, D, 0, 0.02f, buf);
		put(w, P("attn.qkv.bias"), 1, 3 * D, 0, 0, 0.02f, buf);
		put(w, P("attn.out.weight"), 2, D, D, 0, 0.02f, buf);
		put(w, P("attn.out.bias"), 1, D, 0, 0, 0.02f, buf);
		put(w, P("ln2.weight"), 1, D, 0, 1, 0.05f, buf);
		put(w, P("ln2.bias"), 1, D, 0, 0, 0.05f, buf);
		put(w, P("mlp.in.weight"), 2, INNER, D, 0, 0.02f, buf);
		put(w, P("mlp.in.bias"), 1, INNER, 0, 0, 0.02f, buf);
		put(w, P("mlp.out.weight"), 2, D, INNER, 0, 0.02f, buf);
		put(w, P("mlp.out.bias"), 1, D, 0, 0, 0.02f, buf);
#undef P
	}
	put(w, "final_norm.weight", 1, D, 0, 1, 0.05f, buf);
	put(w, "final_norm.bias", 1, D, 0, 0, 0.05f, buf);
	if (qf_writer_close(w, &e) < 0 || fclose(f) != 0)
		_exit(1);
	_exit(0);
}

static qf_model *load_model(uint64_t seed)
{
	int fd[2], status;
	pid_t pid;
	FILE *f;
	qf_reader *r;
	qf_model *m;
	qf_err e;

	if (pipe(fd) < 0 || (pid = fork()) < 0) {
		perror(prog);
		exit(1);
	}
	if (pid == 0) {
		close(fd[0]);
		write_model(fd[1], seed);
	}
	close(fd[1]);
	if (!(f = fdopen(fd[0], "rb")) ||
	    !(r = qf_reader_fopen(f, "<pipe>", &e)))
		die_err(&e);
	if (!(m = qf_model_read(r, &e)))
		die_err(&e);
	qf_reader_close(r);
	fclose(f);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: the writer failed\n", prog);
		exit(1);
	}
	return m;
}

/* ------------------------------------------------------------ sgemm peak */

/* The model's products, y [T, out] = x [T, in] · w [out, in]ᵀ as
 * qf_linear calls them; t: the best time seen. */
struct gemm {
	const char *what;
	int in, out, per_window;
	double t;
};
#define NG 5

/* Operands big enough for every product, filled once. */
static float *gx, *gw, *gy;

static void gemm_setup(void)
{
	gx = malloc((size_t)CTX * INNER * sizeof *gx);
	gw = malloc((size_t)VOCAB * D * sizeof *gw);
	gy = malloc((size_t)CTX * VOCAB * sizeof *gy);
	if (!gx || !gw || !gy) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	fill(gx, (size_t)CTX * INNER, 0, 1);
	fill(gw, (size_t)VOCAB * D, 0, 0.02f);
	memset(gy, 0, (size_t)CTX * VOCAB * sizeof *gy);
}

static void gemm_free(void)
{
	free(gx);
	free(gy);
	free(gw);
}

/* Time each product once; keep the best time of every round.  Rounds
 * alternate with the forward passes, so that both meet the same load
 * when the machine is shared. */
static double gemm_round(struct gemm *g, int n)
{
	double mix = 0;

	for (int i = 0; i < n; i++) {
		double t = now();

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, CTX,
			    g[i].out, g[i].in, 1.0f, gx, g[i].in, gw, g[i].in,
			    0.0f, gy, g[i].out);
		t = now() - t;
		if (g[i].t == 0 || t < g[i].t)
			g[i].t = t;
		mix += t * g[i].per_window;
	}
	return mix;	/* this round's time for one window's products */
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Forget the peak resident set so far (the sgemm tests' buffers): Linux's
 * clear_refs 5 resets the high-water mark that ru_maxrss reports. */
static void reset_peak_rss(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	if (f) {
		fputs("5", f);
		fclose(f);
	}
}

/* ------------------------------------------------------------ profile */

/* Time between consecutive sites, summed per site: what the pass did to
 * produce that site's activations (attn_z: the qkv product and the
 * attention; mlp_act: the first MLP product and the GELU). */
struct prof {
	double last, per_site[QF_SITE_COUNT];
};

static int prof_hook(void *ctx, const qf_site_info *s, float *x)
{
	struct prof *p = ctx;
	double t = now();

	(void)x;
	if (p->last > 0 && !(s->site == QF_SITE_RESID_PRE && s->layer == 0))
		p->per_site[s->site] += t - p->last;
	p->last = t;
	return 0;
}

static void profile(qf_model *m, const int32_t *tok, float *nll, int windows)
{
	struct prof p;
	qf_hooks h = { prof_hook, QF_SITES_ALL, NULL, &p, NULL };
	double total = 0, head = 0;
	qf_err e;

	memset(&p, 0, sizeof p);
	for (int w = 0; w < windows; w++) {
		double t0 = now();

		p.last = 0;
		if (qf_model_forward(m, tok + (size_t)w * CTX, CTX, &h, NULL,
				     nll, &e) < 0)
			die_err(&e);
		head += now() - p.last;
		total += now() - t0;
	}
	printf("profile, seconds per window (time to reach each site):\n");
	for (int s = 0; s < QF_SITE_COUNT; s++)
		if (s != QF_SITE_RESID_PRE)
			printf("  %-11s %.3f\n", qf_site_name(s),
			       p.per_site[s] / windows);
	printf("  %-11s %.3f\n  %-11s %.3f\n", "head+nll", head / windows,
	       "total", total / windows);
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "windows", required_argument, NULL, 'w' },
		{ "seed", required_argument, NULL, 's' },
		{ "no-blas-init", no_argument, NULL, 'n' },
		{ "profile", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	int windows = 8, threads = 0, blas_init = 1, prof = 0, c, blas;
	uint64_t seed = 1;
	struct gemm g[] = {
		{ "attn.qkv", D, 3 * D, N_LAYER, 0 },
		{ "attn.out", D, D, N_LAYER, 0 },
		{ "mlp.in", D, INNER, N_LAYER, 0 },
		{ "mlp.out", INNER, D, N_LAYER, 0 },
		{ "head", D, VOCAB, 1, 0 },
	};
	double gemm_flops = 0, gemm_time = 0, flops, t = 0, peak, mean = 0;
	double best = INFINITY, tn, tl, *paired;
	double attn_flops = 4.0 * D * N_LAYER * ((double)CTX * (CTX + 1) / 2);
	int32_t *tok;
	float *nll;
	qf_model *m;
	struct rusage ru;
	qf_err e;

	for (int i = 1; i < argc; i++)	/* before anything else runs */
		if (strcmp(argv[i], "--no-blas-init") == 0)
			blas_init = 0;
	blas = blas_init ? qf_blas_init(argc, argv, 1) : 0;
	while ((c = getopt_long(argc, argv, "j:", lo, NULL)) != -1) {
		switch (c) {
		case 'w':
			windows = atoi(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'j':
			threads = atoi(optarg);
			break;
		case 'n':
			break;
		case 'p':
			prof = 1;
			break;
		default:
			fprintf(stderr, "usage: %s [--windows N] [-j THREADS] "
				"[--seed S] [--no-blas-init] [--profile]\n", prog);
			return 2;
		}
	}
	if (windows < 1)
		windows = 1;
	if (threads > 0)
		openblas_set_num_threads(threads);

	tl = now();
	m = load_model(seed);
	printf("# %s: GPT-2 small shape (%d layers, d %d, %d heads, vocab %d, "
	       "n_ctx %d), random weights (seed %" PRIu64 ")\n", prog, N_LAYER,
	       D, N_HEAD, VOCAB, CTX, seed);
	printf("openblas: core %s (%s), %d threads\n", qf_blas_corename(),
	       blas == 1 ? "OPENBLAS_CORETYPE set by qf_blas_init" :
	       getenv("OPENBLAS_CORETYPE") ? "OPENBLAS_CORETYPE set by the user" :
	       blas_init ? "left as OpenBLAS chose" : "--no-blas-init",
	       openblas_get_num_threads());
	printf("load: %.2f s (written by a child process into a pipe)\n",
	       now() - tl);
	if (threads > 0 && qf_model_set_threads(m, threads, &e) < 0)
		die_err(&e);

	paired = malloc((size_t)windows * sizeof *paired);
	tok = malloc((size_t)windows * CTX * sizeof *tok);
	nll = malloc((size_t)windows * CTX * sizeof *nll);
	rng = 12345;
	for (int i = 0; i < windows * CTX; i++)
		tok[i] = (int32_t)(next() % VOCAB);

	gemm_setup();
	gemm_round(g, NG);		/* warm-up: not kept */
	for (int i = 0; i < NG; i++)
		g[i].t = 0;
	gemm_round(g, NG);
	/* a warm-up pass (allocations, page faults), not counted */
	if (qf_model_forward(m, tok, CTX, NULL, NULL, nll, &e) < 0)
		die_err(&e);
	for (int w = 0; w < windows; w++) {
		double tw = now();

		if (qf_model_forward(m, tok + (size_t)w * CTX, CTX, NULL, NULL,
				     nll + (size_t)w * CTX, &e) < 0)
			die_err(&e);
		tw = now() - tw;
		t += tw;
		best = tw < best ? tw : best;
		/* the products alone, right after: the same load */
		paired[w] = gemm_round(g, NG) / tw;
	}
	gemm_free();
	if (prof)
		profile(m, tok, nll, windows);
	/* the peak memory of the windowed pass: the model, its activations */
	reset_peak_rss();
	tn = now();
	if (qf_model_nll(m, tok, (uint64_t)windows * CTX, 0, 0, NULL, nll,
			 &e) < 0)
		die_err(&e);
	tn = now() - tn;
	getrusage(RUSAGE_SELF, &ru);
	for (int i = 0; i < windows * CTX - 1; i++)
		mean += nll[i];
	mean /= windows * CTX - 1;
	for (int i = 0; i < NG; i++) {
		double f = 2.0 * CTX * g[i].in * g[i].out;

		gemm_flops += f * g[i].per_window;
		gemm_time += g[i].t * g[i].per_window;
		printf("sgemm %-8s [%d x %d] . [%d x %d]: %6.1f GFLOPS\n",
		       g[i].what, CTX, g[i].in, g[i].in, g[i].out, f / g[i].t * 1e-9);
	}
	peak = gemm_flops / gemm_time;
	printf("sgemm peak, the model's mix: %.1f GFLOPS (%.3f s of sgemm per "
	       "window)\n", peak * 1e-9, gemm_time);
	flops = gemm_flops + attn_flops;
	printf("forward + nll: %d windows x %d tokens in %.2f s: %.0f tokens/s, "
	       "%.1f GFLOPS = %.0f%% of the sgemm peak\n", windows, CTX, t,
	       windows * CTX / t, flops * windows / t * 1e-9,
	       100 * flops * windows / t / peak);
	printf("  best window: %.2f s, %.0f tokens/s, %.1f GFLOPS = %.0f%% of "
	       "the peak\n", best, CTX / best, flops / best * 1e-9,
	       100 * flops / best / peak);
	qsort(paired, (size_t)windows, sizeof *paired, cmp_double);
	printf("  paired: each window against the sgemm round right after it: "
	       "median %.0f%% of that round's rate (range %.0f%%-%.0f%%)\n",
	       100 * flops / gemm_flops * (windows % 2 ? paired[windows / 2] :
	       (paired[windows / 2 - 1] + paired[windows / 2]) / 2),
	       100 * flops / gemm_flops * paired[0],
	       100 * flops / gemm_flops * paired[windows - 1]);
	printf("  (FLOPs per window: %.1f G in linear layers and head, %.1f G "
	       "in causal attention)\n", gemm_flops * 1e-9, attn_flops * 1e-9);
	printf("windowed nll: %d tokens, window %d, stride %d: %.2f s, %.0f "
	       "scored tokens/s, mean nll %.4f\n", windows * CTX, CTX, CTX / 2,
	       tn, (windows * CTX - 1) / tn, mean);
	printf("peak memory: %.0f MB resident during the windowed pass (weights "
	       "%.0f MB)\n",
	       ru.ru_maxrss / 1024.0,
	       (double)(VOCAB + CTX + N_LAYER * 12 * D + 2) * D * 4 / 1e6);
	free(paired);
	free(tok);
	free(nll);
	qf_model_free(m);
	return 0;
}
