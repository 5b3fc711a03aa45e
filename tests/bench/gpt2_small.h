/*
 * gpt2_small.h - a GPT-2-small-shaped model with random weights (seeded),
 * written by a child process into a pipe and loaded from it, for the
 * benchmarks: no file, and only the model's memory in this process.
 * Include after bench.h, with qf.h, <sys/wait.h> and <unistd.h>.
 */
#ifndef QF_GPT2_SMALL_H
#define QF_GPT2_SMALL_H

#define N_LAYER 12
#define D 768
#define N_HEAD 12
#define VOCAB 50257
#define CTX 1024
#define INNER (4 * D)

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

#endif
