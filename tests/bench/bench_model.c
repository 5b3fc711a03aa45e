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
 *
 *   bench_model --load RUNS
 *
 * measures loading alone instead: the stream written to a file in /tmp,
 * f32 and converted to f16, then qf_model_load of each RUNS times: the
 * best time, and MB/s of payload (the tensors as stored) and of file.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "qf.h"

static const char *prog = "bench_model";

#include "bench.h"
#include "gpt2_small.h"

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

/* ------------------------------------------------------------ loading */

/* The GPT-2-small stream into path, by a child process. */
static void write_file(const char *path, uint64_t seed)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), status;
	pid_t pid;

	if (fd < 0 || (pid = fork()) < 0) {
		perror(prog);
		exit(1);
	}
	if (pid == 0)
		write_model(fd, seed);
	close(fd);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: the writer failed\n", prog);
		exit(1);
	}
}

/* src with its f32 records converted to dt, into dst; the payload bytes
 * of the records. */
static uint64_t convert_file(const char *src, const char *dst, int dt)
{
	qf_reader *r;
	qf_writer *w;
	qf_rec rec;
	void *buf;
	uint64_t bytes = 0;
	qf_err e;

	qf_rec_init(&rec);
	if (!(r = qf_reader_open(src, &e)) ||
	    !(w = qf_writer_open(dst, &(qf_wopts){ .level = 1 }, &e)))
		die_err(&e);
	while (qf_reader_next(r, &rec, &e) == 1) {
		int from = rec.dtype;
		if (from == QF_F32)
			rec.dtype = dt;
		if (qf_reader_read_as(r, rec.dtype, &buf, &e) < 0 ||
		    qf_writer_put(w, &rec, buf, &e) < 0)
			die_err(&e);
		bytes += qf_rec_nbytes(&rec);
		free(buf);
	}
	if (qf_writer_close(w, &e) < 0)
		die_err(&e);
	qf_reader_close(r);
	qf_rec_free(&rec);
	return bytes;
}

/* CPU time of the process: on a shared machine the wall clock also
 * measures the others. */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void load_one(const char *path, const char *what, uint64_t payload,
		     uint64_t weights, int runs)
{
	double best = INFINITY, cpu = INFINITY;
	struct stat st;
	qf_err e;

	if (stat(path, &st) < 0) {
		perror(path);
		exit(1);
	}
	for (int i = 0; i < runs; i++) {
		double t = now(), c = cpu_now();
		qf_model *m = qf_model_load(path, &e);
		if (!m)
			die_err(&e);
		t = now() - t;
		c = cpu_now() - c;
		best = t < best ? t : best;
		cpu = c < cpu ? c : cpu;
		qf_model_free(m);
	}
	printf("load %s: best of %d %.3f s (CPU %.3f s): %.0f MB/s of payload "
	       "(%.1f MB), %.0f MB/s of file (%.1f MB), %.0f MB/s of f32 "
	       "weights\n", what, runs, best, cpu, (double)payload / best / 1e6,
	       (double)payload / 1e6, (double)st.st_size / best / 1e6,
	       (double)st.st_size / 1e6, (double)weights / best / 1e6);
}

/* --load: loading alone, from f32 and f16 files. */
static int bench_load(uint64_t seed, int runs)
{
	char f32[] = "/tmp/bench_model_f32_XXXXXX";
	char f16[] = "/tmp/bench_model_f16_XXXXXX";
	int a = mkstemp(f32), b = mkstemp(f16);
	uint64_t p32, p16;

	if (a < 0 || b < 0) {
		perror(prog);
		return 1;
	}
	close(a);
	close(b);
	write_file(f32, seed);
	p32 = convert_file(f32, f16, QF_F32);	/* the same bytes, counted */
	p16 = convert_file(f32, f16, QF_F16);
	load_one(f32, "f32", p32, p32, runs);
	load_one(f16, "f16", p16, p32, runs);
	unlink(f32);
	unlink(f16);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "windows", required_argument, NULL, 'w' },
		{ "seed", required_argument, NULL, 's' },
		{ "no-blas-init", no_argument, NULL, 'n' },
		{ "profile", no_argument, NULL, 'p' },
		{ "load", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	int load_runs = 0;
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
		case 'l':
			load_runs = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [--windows N] [-j THREADS] "
				"[--seed S] [--no-blas-init] [--profile] "
				"[--load RUNS]\n", prog);
			return 2;
		}
	}
	if (load_runs > 0)
		return bench_load(seed, load_runs);
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
	print_paired("window", paired, windows, flops / gemm_flops);
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
