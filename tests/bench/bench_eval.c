/*
 * bench_eval.c - qf-eval's work on the shipped corpus with a
 * GPT-2-small-shaped model, and the share of it that is the runtime's.
 *
 * Two models of GPT-2 small's shape with random weights (seeds 1 and 2:
 * a reference and one test model) are made in child processes
 * (gpt2_small.h).  The token stream TOKENS (qf-extract text -k gpt2
 * --unit paragraph of pipelines/data/udhr/heldout, as tests/bench/run
 * makes it) is read into memory.  Then, interleaved --rounds times:
 *
 *   eval      qf_eval over every record with both models, qf_eval_finish
 *             with --bootstrap replicates, both tables written to
 *             /dev/null: what qf-eval does after loading;
 *   runtime   qf_model_nll of both models over every record with the
 *             same windows: the runtime alone, the reference run.
 *
 * (about 15 minutes a round on 2 cores) and prints the best time of each, the share of eval's scoring phase and
 * of its whole time that the runtime alone takes, and the bootstrap's
 * time.  Not a test: figures in docs/eval.md.
 *
 *   bench_eval [--rounds N] [--bootstrap B] [-j THREADS] TOKENS
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qf.h"

static const char *prog = "bench_eval";

#include "bench.h"
#include "gpt2_small.h"

struct doc {
	qf_rec rec;
	int32_t *tok;
	uint64_t n;
};

static struct doc *read_docs(const char *path, size_t *nd, uint64_t *ntok)
{
	qf_reader *r;
	struct doc *d = NULL;
	size_t n = 0, cap = 0;
	qf_err e;
	int rc;

	if (!(r = qf_reader_open(path, &e)))
		die_err(&e);
	*ntok = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			if (!(d = realloc(d, cap * sizeof *d)))
				die("out of memory");
		}
		qf_rec_init(&d[n].rec);
		if ((rc = qf_reader_next(r, &d[n].rec, &e)) < 0)
			die_err(&e);
		if (rc == 0)
			break;
		d[n].n = d[n].rec.dims[0];
		if (qf_reader_read_as(r, QF_I32, (void **)&d[n].tok, &e) < 0)
			die_err(&e);
		*ntok += d[n].n;
		n++;
	}
	qf_rec_free(&d[n].rec);
	qf_reader_close(r);
	*nd = n;
	return d;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "bootstrap", required_argument, NULL, 'b' },
		{ "jobs", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int rounds = 1, boot = 1000, threads = 0, c;
	qf_model *m[2];
	const char *names[2] = { "ref", "test" };
	struct doc *d;
	size_t nd;
	uint64_t ntok;
	double best_eval = INFINITY, best_score = INFINITY, best_rt = INFINITY;
	double best_fin = INFINITY;
	float *nll;
	FILE *null;
	qf_err e;

	qf_blas_init(argc, argv, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "j:", longs, NULL)) != -1) {
		switch (c) {
		case 'r': rounds = atoi(optarg); break;
		case 'b': boot = atoi(optarg); break;
		case 'j': threads = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [--rounds N] [--bootstrap B] "
				"[-j THREADS] TOKENS\n", prog);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: %s [--rounds N] [--bootstrap B] "
			"[-j THREADS] TOKENS\n", prog);
		return 2;
	}
	d = read_docs(argv[optind], &nd, &ntok);
	m[0] = load_model(1);
	m[1] = load_model(2);
	if (threads <= 0)
		threads = qf_model_cfg(m[0]) ? (int)sysconf(_SC_NPROCESSORS_ONLN) : 1;
	for (int i = 0; i < 2; i++)
		if (qf_model_set_threads(m[i], threads, &e) < 0)
			die_err(&e);
	if (!(nll = malloc((size_t)CTX * 64 * sizeof *nll)) ||
	    !(null = fopen("/dev/null", "w")))
		die("out of memory");
	printf("# bench_eval: %zu records, %" PRIu64 " tokens; 2 models of GPT-2 "
	       "small's shape (random weights), %d threads, bootstrap %d\n",
	       nd, ntok, threads, boot);
	for (int r = 0; r < rounds; r++) {
		qf_eval_opts o = { .bootstrap = boot, .seed = 1, .min_den = 0.001,
				   .threads = threads };
		qf_eval *ev;
		double t0 = now(), t1, t2, t3, t4;

		if (!(ev = qf_eval_new(m, names, 2, &o, &e)))
			die_err(&e);
		for (size_t i = 0; i < nd; i++)
			if (qf_eval_doc(ev, argv[optind], &d[i].rec, d[i].tok, d[i].n,
					NULL, &e) < 0)
				die_err(&e);
		t1 = now();
		if (qf_eval_finish(ev, &e) < 0 ||
		    qf_eval_write_lang(ev, null, &e) < 0 ||
		    qf_eval_write_disparity(ev, null, &e) < 0)
			die_err(&e);
		t2 = now();
		qf_eval_free(ev);
		/* the runtime alone: the same passes */
		t3 = now();
		for (size_t i = 0; i < nd; i++)
			for (int k = 0; k < 2; k++) {
				if (d[i].n - 1 > (uint64_t)CTX * 64)
					die("record %zu too long", i);
				if (qf_model_nll(m[k], d[i].tok, d[i].n, 0, 0, NULL, nll,
						 &e) < 0)
					die_err(&e);
			}
		t4 = now();
		printf("round %d: eval %.2f s (scoring %.2f s, bootstrap and tables "
		       "%.2f s); runtime alone %.2f s\n", r + 1, t2 - t0, t1 - t0,
		       t2 - t1, t4 - t3);
		best_eval = t2 - t0 < best_eval ? t2 - t0 : best_eval;
		best_score = t1 - t0 < best_score ? t1 - t0 : best_score;
		best_fin = t2 - t1 < best_fin ? t2 - t1 : best_fin;
		best_rt = t4 - t3 < best_rt ? t4 - t3 : best_rt;
	}
	printf("best of %d: eval %.2f s = %.0f tokens/s per model; scoring %.2f s, "
	       "bootstrap and tables %.2f s; runtime alone %.2f s\n", rounds,
	       best_eval, ntok / best_eval, best_score, best_fin, best_rt);
	printf("runtime share: %.0f%% of the scoring, %.0f%% of the whole "
	       "evaluation\n", 100 * best_rt / best_score, 100 * best_rt / best_eval);
	for (size_t i = 0; i < nd; i++) {
		qf_rec_free(&d[i].rec);
		free(d[i].tok);
	}
	free(d);
	free(nll);
	fclose(null);
	qf_model_free(m[0]);
	qf_model_free(m[1]);
	return 0;
}
