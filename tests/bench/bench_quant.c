/*
 * bench_quant.c - qf-quantize's speed on a GPT-2-small-shaped stream.
 *
 * Generates a weight stream shaped like GPT-2 small (124M parameters,
 * f32, canonical names; random weights: approximately Gaussian with
 * deviation 0.02 and a few large outliers, seeded) and the same payloads
 * as one raw f32 file compressed by the zstd command at the same level.
 * Then measures, best of N runs:
 *
 *   quantize step   qf_quantize alone on the tensors qf-quantize picks by
 *                   default (the 48 block linears, 85M parameters), one
 *                   thread, in memory: GB/s of f32 input per core
 *   qf-quantize     qf-quantize [ARGS] < in.qft > out.qft (default threads)
 *   zstd pass-through  zstd -d < in.zst | zstd > out.zst
 *
 * and prints a Markdown table: times, the ratio of the two commands in
 * wall-clock time and in CPU time (getrusage of the children).  The
 * default scheme is INT4, groups of 64, round to nearest (-b 4 -g 64).
 * Not a test: figures in docs/quantize.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qf.h"

static const char *prog = "bench_quant";

#include "bench.h"

/* ------------------------------------------------------------ data */

static uint64_t rng_state;

static uint64_t next64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Roughly N(0, sigma^2): the sum of four uniform 16-bit parts, with an
 * outlier (8 to 16 sigma) once in 10^5. */
static void fill(float *x, uint64_t n, float sigma)
{
	const float k = sigma * 1.7320508f / 32768.0f;	/* var of U(0, 65536) sum */

	for (uint64_t i = 0; i < n; i++) {
		uint64_t r = next64();
		int s = (int)(r & 0xffff) + (int)(r >> 16 & 0xffff) +
			(int)(r >> 32 & 0xffff) + (int)(r >> 48) - 131070;
		x[i] = (float)s * k / 2;
		if ((r >> 7) % 100000 == 0)
			x[i] = (r & 1 ? 1 : -1) * sigma * (8 + (float)(r >> 40 & 7));
	}
}

struct tensor {
	char name[64];
	const char *kind, *module, *param;
	int layer, ndim;
	uint64_t dims[2];
};

#define N_LAYER 12
#define N_EMBD 768
#define N_CTX 1024
#define N_VOCAB 50257
#define N_INNER 3072

static int plan(struct tensor *t)
{
	int n = 0;
	static const struct { const char *name, *kind, *module, *param; int rows, cols; } per[] = {
		{ "ln1.weight", "ln_weight", "ln1", "weight", 0, N_EMBD },
		{ "ln1.bias", "ln_bias", "ln1", "bias", 0, N_EMBD },
		{ "attn.qkv.weight", "attn_qkv", "attn_qkv", "weight", 3 * N_EMBD, N_EMBD },
		{ "attn.qkv.bias", "bias", "attn_qkv", "bias", 0, 3 * N_EMBD },
		{ "attn.out.weight", "attn_out", "attn_out", "weight", N_EMBD, N_EMBD },
		{ "attn.out.bias", "bias", "attn_out", "bias", 0, N_EMBD },
		{ "ln2.weight", "ln_weight", "ln2", "weight", 0, N_EMBD },
		{ "ln2.bias", "ln_bias", "ln2", "bias", 0, N_EMBD },
		{ "mlp.in.weight", "mlp_in", "mlp_in", "weight", N_INNER, N_EMBD },
		{ "mlp.in.bias", "bias", "mlp_in", "bias", 0, N_INNER },
		{ "mlp.out.weight", "mlp_out", "mlp_out", "weight", N_EMBD, N_INNER },
		{ "mlp.out.bias", "bias", "mlp_out", "bias", 0, N_EMBD },
	};

	t[n++] = (struct tensor){ "tok_emb.weight", "tok_emb", "tok_emb", "weight", -1, 2, { N_VOCAB, N_EMBD } };
	t[n++] = (struct tensor){ "pos_emb.weight", "pos_emb", "pos_emb", "weight", -1, 2, { N_CTX, N_EMBD } };
	for (int l = 0; l < N_LAYER; l++)
		for (size_t i = 0; i < sizeof per / sizeof *per; i++) {
			struct tensor *p = &t[n++];
			snprintf(p->name, sizeof p->name, "layers.%d.%s", l, per[i].name);
			p->kind = per[i].kind;
			p->module = per[i].module;
			p->param = per[i].param;
			p->layer = l;
			p->ndim = per[i].rows ? 2 : 1;
			p->dims[0] = per[i].rows ? (uint64_t)per[i].rows : (uint64_t)per[i].cols;
			p->dims[1] = (uint64_t)per[i].cols;
		}
	t[n++] = (struct tensor){ "final_norm.weight", "ln_weight", "ln_f", "weight", -1, 1, { N_EMBD, 0 } };
	t[n++] = (struct tensor){ "final_norm.bias", "ln_bias", "ln_f", "bias", -1, 1, { N_EMBD, 0 } };
	return n;
}

static uint64_t numel(const struct tensor *t)
{
	return t->ndim == 2 ? t->dims[0] * t->dims[1] : t->dims[0];
}

/* in.qft and in.f32 (the payloads back to back). */
static uint64_t generate(const char *dir, uint64_t seed)
{
	static struct tensor t[16 + 12 * N_LAYER];
	char path[8192];
	int n = plan(t);
	qf_err e;
	qf_writer *w;
	qf_rec rec;
	FILE *raw;
	uint64_t total = 0;

	rng_state = seed;
	snprintf(path, sizeof path, "%s/in.qft", dir);
	w = qf_writer_open(path, NULL, &e);
	if (!w)
		die("%s", e.msg);
	snprintf(path, sizeof path, "%s/in.f32", dir);
	raw = fopen(path, "wb");
	if (!raw)
		die("%s: %s", path, strerror(errno));
	qf_rec_init(&rec);
	{
		uint64_t zero = 0;
		if (qf_rec_set_name(&rec, "config", &e) < 0 ||
		    qf_rec_set_shape(&rec, QF_U8, 1, &zero, &e) < 0 ||
		    qf_rec_set(&rec, "kind", "config", &e) < 0 ||
		    qf_rec_set(&rec, "arch", "gpt2", &e) < 0 ||
		    qf_rec_setf(&rec, &e, "n_layer", "%d", N_LAYER) < 0 ||
		    qf_rec_setf(&rec, &e, "n_embd", "%d", N_EMBD) < 0 ||
		    qf_writer_put(w, &rec, NULL, &e) < 0)
			die("%s", e.msg);
	}
	for (int i = 0; i < n; i++) {
		uint64_t k = numel(&t[i]);
		float *x = malloc(k * sizeof *x);
		if (!x)
			die("out of memory");
		if (strcmp(t[i].kind, "ln_weight") == 0) {
			fill(x, k, 0.1f);
			for (uint64_t j = 0; j < k; j++)
				x[j] += 1;
		} else {
			fill(x, k, 0.02f);
		}
		qf_rec_free(&rec);
		qf_rec_init(&rec);
		if (qf_rec_set_name(&rec, t[i].name, &e) < 0 ||
		    qf_rec_set_shape(&rec, QF_F32, t[i].ndim, t[i].dims, &e) < 0 ||
		    qf_rec_set(&rec, "kind", t[i].kind, &e) < 0 ||
		    qf_rec_set(&rec, "module", t[i].module, &e) < 0 ||
		    qf_rec_set(&rec, "param", t[i].param, &e) < 0 ||
		    (t[i].layer >= 0 && qf_rec_setf(&rec, &e, "layer", "%d", t[i].layer) < 0) ||
		    qf_writer_put(w, &rec, x, &e) < 0)
			die("%s", e.msg);
		if (fwrite(x, sizeof *x, k, raw) != k)
			die("write error: %s", strerror(errno));
		total += k;
		free(x);
	}
	qf_rec_free(&rec);
	if (qf_writer_close(w, &e) < 0)
		die("%s", e.msg);
	if (fclose(raw) != 0)
		die("write error: %s", strerror(errno));
	return total;
}

/* ------------------------------------------------------------ measures */

/* Run a shell command; wall-clock and children's CPU seconds. */
static void timed(const char *cmd, double *wall, double *cpu)
{
	struct rusage ru;
	double t0 = now();
	pid_t pid = fork();
	int st;

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) < 0)
		die("wait: %s", strerror(errno));
	*wall = now() - t0;
	/* the shell's children (the pipeline) are in RUSAGE_CHILDREN of
	 * the shell, which wait4 reports as the shell's own usage */
	*cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		(double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("'%s' failed (status %d)", cmd, st);
}

/* The quantize step: every default-selected tensor, one thread. */
static void step(const char *dir, const qf_qspec *q, int runs, int threads,
		 double *gbs, double *secs)
{
	char path[8192];
	qf_reader *r;
	qf_rec rec;
	qf_err e;
	int rc;
	float *xs[64], *y = NULL;
	uint64_t rows[64], cols[64], nt = 0, bytes = 0, maxn = 0;
	double best = INFINITY;

	snprintf(path, sizeof path, "%s/in.qft", dir);
	r = qf_reader_open(path, &e);
	if (!r)
		die("%s", e.msg);
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(r, &rec, &e)) == 1) {
		const char *k = qf_rec_get(&rec, "kind");
		if (!k || (strcmp(k, "attn_qkv") && strcmp(k, "attn_out") &&
			   strcmp(k, "mlp_in") && strcmp(k, "mlp_out")))
			continue;
		if (qf_reader_read_as(r, QF_F32, (void **)&xs[nt], &e) < 0)
			die("%s", e.msg);
		rows[nt] = rec.dims[0];
		cols[nt] = rec.dims[1];
		bytes += qf_rec_nbytes(&rec);
		if (rows[nt] * cols[nt] > maxn)
			maxn = rows[nt] * cols[nt];
		nt++;
	}
	if (rc < 0)
		die("%s", e.msg);
	qf_rec_free(&rec);
	qf_reader_close(r);
	y = malloc(maxn * sizeof *y);
	if (!y)
		die("out of memory");
	for (int run = 0; run < runs; run++) {
		double t0 = now();
		for (uint64_t i = 0; i < nt; i++) {
			qf_qbuf out = { y, NULL, NULL, NULL };
			qf_qres res;
			if (qf_quantize(q, xs[i], rows[i], cols[i], 0, &out, 0, &res,
					threads, &e) < 0)
				die("%s", e.msg);
		}
		t0 = now() - t0;
		if (t0 < best)
			best = t0;
	}
	for (uint64_t i = 0; i < nt; i++)
		free(xs[i]);
	free(y);
	*secs = best;
	*gbs = (double)bytes / best / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "bin", required_argument, NULL, 'B' },
		{ "dir", required_argument, NULL, 'd' },
		{ "runs", required_argument, NULL, 'r' },
		{ "args", required_argument, NULL, 'a' },
		{ "level", required_argument, NULL, 'l' },
		{ "keep", no_argument, NULL, 'k' },
		{ "step-only", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *bin = "build/bin", *tmp = getenv("TMPDIR");
	const char *args = "-b 4 -g 64";
	char dir[4096], cmd[16384];
	int runs = 3, level = QF_DEFAULT_LEVEL, keep = 0, step_only = 0, c;
	qf_qspec q;
	double gbs, secs, best_q = INFINITY, best_z = INFINITY, cpu_q = INFINITY,
	       cpu_z = INFINITY, t0;
	uint64_t n;

	while ((c = getopt_long(argc, argv, "B:d:r:a:l:kh", lo, NULL)) != -1) {
		switch (c) {
		case 'B': bin = optarg; break;
		case 'd': tmp = optarg; break;
		case 'r': runs = atoi(optarg); break;
		case 'a': args = optarg; break;
		case 'l': level = atoi(optarg); break;
		case 'k': keep = 1; break;
		case 'S': step_only = 1; break;
		case 'h':
			printf("usage: %s [--bin DIR] [--dir TMP] [--runs N] "
			       "[--args 'QF-QUANTIZE ARGS'] [--level N] [--keep]\n", prog);
			return 0;
		default:
			return 2;
		}
	}
	if (runs < 1 || level < 1)
		die("bad --runs or --level");
	snprintf(dir, sizeof dir, "%s/bench_quant.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		die("mkdtemp: %s", strerror(errno));

	t0 = now();
	n = generate(dir, 1);
	snprintf(cmd, sizeof cmd, "zstd -q -%d --single-thread -f -o %s/in.zst %s/in.f32",
		 level, dir, dir);
	if (system(cmd) != 0)
		die("'%s' failed", cmd);
	printf("# GPT-2-small-shaped stream: %" PRIu64 " parameters, %.1f MB of f32 "
	       "(generated in %.1f s)\n", n, (double)n * 4 / 1e6, now() - t0);

	qf_qspec_default(&q, QF_QS_INT);
	q.gran = QF_QG_GROUP;
	q.group = 64;
	step(dir, &q, runs, 1, &gbs, &secs);
	printf("# quantize step, INT4 g64 nearest, 1 thread: %.3f s for the 48 "
	       "linears, %.2f GB/s of f32\n", secs, gbs);

	for (int run = 0; run < runs && !step_only; run++) {
		double w, u;
		snprintf(cmd, sizeof cmd, "%s/qf-quantize --level %d %s < %s/in.qft > %s/out.qft",
			 bin, level, args, dir, dir);
		timed(cmd, &w, &u);
		best_q = w < best_q ? w : best_q;
		cpu_q = u < cpu_q ? u : cpu_q;
		snprintf(cmd, sizeof cmd, "zstd -q -d < %s/in.zst | zstd -q -%d > %s/out.zst",
			 dir, level, dir);
		timed(cmd, &w, &u);
		best_z = w < best_z ? w : best_z;
		cpu_z = u < cpu_z ? u : cpu_z;
	}
	if (!step_only) {
		printf("\n| command | wall s | CPU s |\n|---|---|---|\n");
		printf("| `qf-quantize %s < in.qft > out.qft` | %.2f | %.2f |\n", args,
		       best_q, cpu_q);
		printf("| `zstd -d < in.zst \\| zstd -%d > out.zst` | %.2f | %.2f |\n",
		       level, best_z, cpu_z);
		printf("| ratio | %.2f | %.2f |\n", best_q / best_z, cpu_q / cpu_z);
	}
	if (!keep) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			die("'%s' failed", cmd);
	} else {
		printf("# files kept in %s\n", dir);
	}
	return 0;
}
