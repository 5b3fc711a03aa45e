/*
 * qf-train - train a GPT-2 on a token stream and write checkpoints.
 *
 * Reads token records (as qf-extract text writes them: integer ids, a
 * lang attribute), samples windows of n_ctx + 1 tokens by language
 * (lib/train/data.c's qf_tdata), and trains a new model (seeded GPT-2
 * init), the weights of a weight stream (--init), or a checkpoint
 * (--resume) with AdamW.  Writes the checkpoint CKPT (a weight stream
 * every qf tool reads) and CKPT.opt (the optimizer state), each
 * atomically, at the end and every --checkpoint-every steps, and a TSV
 * log per step, live (see open_log).  The work is lib/train/'s; this is
 * options, files and messages.  See docs/man/qf-train.1 and
 * docs/train.md.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qf.h"

static const char usage[] =
	"Usage: qf-train -o CKPT --steps N [OPTION]... [TOKENS]\n"
	"Train a GPT-2 on the documents of a token stream; write the checkpoint\n"
	"CKPT (a weight stream) and CKPT.opt (the optimizer state).\n"
	"With no TOKENS, or when TOKENS is -, read standard input.\n"
	"\n"
	"Model (a new one unless --init or --resume):\n"
	"      --layers N         blocks (default 12)\n"
	"      --d-model D        width of the residual stream (default 256)\n"
	"      --heads H          attention heads, a divisor of D (default 8)\n"
	"      --ctx C            context length: tokens a window (default 256)\n"
	"      --vocab V          vocabulary size (default 256, bytes)\n"
	"      --inner F          width of the MLP (default 4 D)\n"
	"      --init-std X       weights drawn from normal(0, X), the residual\n"
	"                         projections X / sqrt(2 N) (default 0.02)\n"
	"      --init FILE        start from the weights of a weight stream\n"
	"      --resume CKPT      go on from a checkpoint (CKPT and CKPT.opt)\n"
	"Data:\n"
	"      --mix FILE         sampling weights per language, TSV lang<TAB>weight\n"
	"                         (default: in proportion to each language's tokens)\n"
	"      --sep ID           token between a language's documents (default\n"
	"                         vocab - 1)\n"
	"      --batch B          windows a step (default 8)\n"
	"      --seed N           seed of the initialisation and of the sampling\n"
	"                         (default 1)\n"
	"Optimizer (AdamW, linear warm-up then cosine decay):\n"
	"      --steps N          length of the schedule; the run ends there\n"
	"      --stop-at N        stop after step N instead (the schedule stays)\n"
	"      --lr X             peak learning rate (default 1e-3)\n"
	"      --min-lr X         learning rate at the end of the decay (default\n"
	"                         lr / 10)\n"
	"      --warmup N         steps of warm-up (default 100, at most steps / 10)\n"
	"      --weight-decay X   on the blocks' linear weights (default 0.1)\n"
	"      --clip X           clip the global gradient norm at X; 0: never\n"
	"                         (default 1)\n"
	"Output:\n"
	"  -o, --output CKPT      the checkpoint, written at the end (required)\n"
	"      --checkpoint-every N  and every N steps\n"
	"      --log FILE         a TSV line per step: step, lr, loss, grad_norm,\n"
	"                         tokens, seconds, then gradient norms of the\n"
	"                         embeddings, each block and the final norm\n"
	"  -j, --jobs N           threads (default QF_THREADS, else one per CPU)\n"
	"  -v, --verbose          OpenBLAS's core, the model, data and a summary\n"
	"  -h, --help             show this help and exit\n"
	"      --version          show the version and exit\n"
	"\n"
	"Examples:\n"
	"  qf-train --layers 2 --d-model 64 --heads 4 --ctx 64 --steps 20 --log log.tsv -o model.qft tokens.qft\n"
	"  qf-train --layers 2 --d-model 64 --heads 4 --ctx 64 --steps 20 --stop-at 10 --mix mix.tsv --seed 7 -o half.qft tokens.qft\n"
	"  qf-train --resume half.qft --mix mix.tsv -o full.qft tokens.qft\n"
	"  qf-train --init model.qft --steps 10 --lr 3e-4 --warmup 0 -o tuned.qft tokens.qft\n";

struct opts {
	const char *output, *log, *mix, *init, *resume, *jobs;
	uint64_t layers, d, heads, ctx, vocab, inner, sep, batch, seed;
	uint64_t steps, stop, warmup, every;
	double lr, min_lr, wd, clip, init_std;
	int set_init_std, set_cfg, set_sep, set_batch, set_seed, set_steps, set_stop;
	int set_lr, set_min_lr, set_warmup, set_wd, set_clip, verbose;
	int sep_given;		/* --sep given (set_sep: or from a checkpoint) */
	const char *cfg_opt;	/* the first config option given */
	const char *tokens;	/* the token stream */
	int threads;
};

static double parse_real(const char *opt, const char *arg, double lo,
			 double hi)
{
	double x;
	qf_err e;

	if (qf_parse_double(arg, &x, &e) < 0 || !(x >= lo && x <= hi))
		qf_tool_usage_error("%s: '%s' is not a number in [%g, %g]", opt,
				    arg, lo, hi);
	return x;
}

/* An option's count (qf_tool_parse_count), noting that it was given. */
static uint64_t given_count(const char *opt, const char *arg, uint64_t max,
			    int *set)
{
	*set = 1;
	return qf_tool_parse_count(opt, arg, max);
}

/* The same for a real number. */
static double given_real(const char *opt, const char *arg, double lo,
			 double hi, int *set)
{
	*set = 1;
	return parse_real(opt, arg, lo, hi);
}

/* A new model's config: every size at least 1 (misuse, exit 2, naming
 * the option; the trainer's own check would say "config out of range"
 * and exit 1), the heads dividing the width. */
static void check_config(const struct opts *o)
{
	static const char *const opt[] = {
		"--layers", "--d-model", "--heads", "--ctx", "--vocab",
	};
	const uint64_t v[] = { o->layers, o->d, o->heads, o->ctx, o->vocab };

	if (o->init || o->resume)
		return;
	for (size_t i = 0; i < sizeof v / sizeof *v; i++)
		if (v[i] == 0)
			qf_tool_usage_error("%s: at least 1", opt[i]);
	if (o->d % o->heads)
		qf_tool_usage_error("--d-model %" PRIu64 " is not a multiple of "
				    "--heads %" PRIu64, o->d, o->heads);
}

/* The options that exclude or need each other; the threads. */
static void check_args(int argc, struct opts *o)
{
	qf_err e;

	if (!o->output)
		qf_tool_usage_error("no output: give -o CKPT");
	if (strcmp(o->output, "-") == 0)
		qf_tool_usage_error("-o: a checkpoint is two files and needs a name, "
				    "not standard output");
	if (o->init && o->resume)
		qf_tool_usage_error("--init and --resume exclude each other");
	if ((o->init || o->resume) && o->cfg_opt)
		qf_tool_usage_error("--%s: not with %s (the model has its config)",
				    o->cfg_opt, o->init ? "--init" : "--resume");
	if ((o->init || o->resume) && o->set_init_std)
		qf_tool_usage_error("--init-std: not with %s (the model has its "
				    "weights)", o->init ? "--init" : "--resume");
	if (o->resume && o->set_seed)
		qf_tool_usage_error("--seed: not with --resume (the checkpoint has "
				    "its generator)");
	if (!o->resume && !o->set_steps)
		qf_tool_usage_error("no --steps given");
	if (o->set_steps && o->steps == 0)
		qf_tool_usage_error("--steps: at least 1");
	if (o->batch == 0)
		qf_tool_usage_error("--batch: at least 1");
	check_config(o);
	if (!o->init && !o->resume && o->set_sep && o->sep >= o->vocab)
		qf_tool_usage_error("--sep %" PRIu64 " out of range (vocab %" PRIu64
				    ")", o->sep, o->vocab);
	if (o->set_stop && o->set_steps && o->stop > o->steps)
		qf_tool_usage_error("--stop-at %" PRIu64 " beyond --steps %" PRIu64,
				    o->stop, o->steps);
	if (o->set_stop && o->stop == 0)
		qf_tool_usage_error("--stop-at: at least 1");
	if (optind + 1 < argc)
		qf_tool_usage_error("one token stream at most");
	if ((o->threads = qf_tool_threads(o->jobs, &e)) < 0)
		qf_tool_usage_error("%s", e.msg);
}

/* The long name of option value c in the table (NULL: none), for
 * messages; looked up, not indexed, so the table's order is free. */
static const char *long_name(const struct option *t, int c)
{
	for (; t->name; t++)
		if (t->val == c)
			return t->name;
	return NULL;
}

static void parse_args(int argc, char **argv, void *arg)
{
	struct opts *o = arg;
	enum { O_LAYERS = 0x2000, O_D, O_HEADS, O_CTX, O_VOCAB, O_INNER,
	       O_INIT, O_RESUME, O_MIX, O_SEP, O_BATCH, O_SEED, O_STEPS,
	       O_STOP, O_LR, O_MINLR, O_WARMUP, O_WD, O_CLIP, O_EVERY, O_LOG,
	       O_INIT_STD };
	static const struct option longs[] = {
		{ "layers", required_argument, NULL, O_LAYERS },
		{ "d-model", required_argument, NULL, O_D },
		{ "heads", required_argument, NULL, O_HEADS },
		{ "ctx", required_argument, NULL, O_CTX },
		{ "vocab", required_argument, NULL, O_VOCAB },
		{ "inner", required_argument, NULL, O_INNER },
		{ "init", required_argument, NULL, O_INIT },
		{ "init-std", required_argument, NULL, O_INIT_STD },
		{ "resume", required_argument, NULL, O_RESUME },
		{ "mix", required_argument, NULL, O_MIX },
		{ "sep", required_argument, NULL, O_SEP },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "seed", required_argument, NULL, O_SEED },
		{ "steps", required_argument, NULL, O_STEPS },
		{ "stop-at", required_argument, NULL, O_STOP },
		{ "lr", required_argument, NULL, O_LR },
		{ "min-lr", required_argument, NULL, O_MINLR },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "weight-decay", required_argument, NULL, O_WD },
		{ "clip", required_argument, NULL, O_CLIP },
		{ "checkpoint-every", required_argument, NULL, O_EVERY },
		{ "log", required_argument, NULL, O_LOG },
		{ "output", required_argument, NULL, 'o' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		QF_OPT_END
	};
	int c, li;

	o->layers = 12;
	o->init_std = 0.02;
	o->d = 256;
	o->heads = 8;
	o->ctx = 256;
	o->vocab = 256;
	o->batch = 8;
	o->seed = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:j:vh", longs, &li)) != -1) {
		const char *name = long_name(longs, c);
		char opt[64] = "";

		if (name)
			snprintf(opt, sizeof opt, "--%s", name);
		if (c >= O_LAYERS && c <= O_INNER && !o->cfg_opt)
			o->cfg_opt = name;
		switch (c) {
		case O_LAYERS: o->layers = qf_tool_parse_count(opt, optarg, 4096); break;
		case O_D: o->d = qf_tool_parse_count(opt, optarg, 65536); break;
		case O_HEADS: o->heads = qf_tool_parse_count(opt, optarg, 4096); break;
		case O_CTX: o->ctx = qf_tool_parse_count(opt, optarg, 65536); break;
		case O_VOCAB: o->vocab = qf_tool_parse_count(opt, optarg, 1 << 24); break;
		case O_INNER: o->inner = qf_tool_parse_count(opt, optarg, 1 << 20); break;
		case O_INIT: o->init = optarg; break;
		case O_RESUME: o->resume = optarg; break;
		case O_MIX: o->mix = optarg; break;
		case O_SEP:
			o->sep = given_count(opt, optarg, INT32_MAX, &o->set_sep);
			o->sep_given = 1;
			break;
		case O_BATCH: o->batch = given_count(opt, optarg, 1 << 16, &o->set_batch); break;
		case O_SEED: o->seed = given_count(opt, optarg, UINT64_MAX, &o->set_seed); break;
		case O_STEPS: o->steps = given_count(opt, optarg, UINT32_MAX, &o->set_steps); break;
		case O_STOP: o->stop = given_count(opt, optarg, UINT32_MAX, &o->set_stop); break;
		case O_LR: o->lr = given_real(opt, optarg, 0, 1e3, &o->set_lr); break;
		case O_MINLR: o->min_lr = given_real(opt, optarg, 0, 1e3, &o->set_min_lr); break;
		case O_WARMUP: o->warmup = given_count(opt, optarg, UINT32_MAX, &o->set_warmup); break;
		case O_WD: o->wd = given_real(opt, optarg, 0, 1e3, &o->set_wd); break;
		case O_CLIP: o->clip = given_real(opt, optarg, 0, 1e30, &o->set_clip); break;
		case O_INIT_STD:
			o->init_std = given_real(opt, optarg, 1e-6, 10, &o->set_init_std);
			break;
		case O_EVERY: o->every = qf_tool_parse_count(opt, optarg, UINT32_MAX); break;
		case O_LOG: o->log = optarg; break;
		case 'o': o->output = optarg; break;
		case 'j': o->jobs = optarg; break;
		case 'v': o->verbose = 1; break;
		default: qf_tool_common_option(c, usage, argv);
		}
	}
	check_args(argc, o);
	o->tokens = optind < argc ? argv[optind] : "-";
	qf_tool_distinct_outputs((const char *[]){ "-o", "--log" },
				 (const char *[]){ o->output, o->log }, 2);
}

/* The options of a run: from the checkpoint when resuming, each replaced
 * by the command line's when given; else the defaults. */
static void settle_opts(struct opts *o, qf_train_opts *to, const qf_rec *meta)
{
	qf_err e;

	if (!o->resume) {
		qf_train_opts_default(to);
		to->steps = o->steps;
		to->warmup = to->steps / 10 < to->warmup ? to->steps / 10 : to->warmup;
		to->lr = o->set_lr ? o->lr : to->lr;
		to->min_lr = o->set_min_lr ? o->min_lr : to->lr / 10;
	} else {
		const char *v;

		if (o->set_steps)
			to->steps = o->steps;
		if (o->set_lr)
			to->lr = o->lr;
		if (o->set_min_lr)
			to->min_lr = o->min_lr;
		if (!o->set_batch && (v = qf_rec_get(meta, "batch")))
			qf_parse_u64(v, 1 << 16, &o->batch, &e);
		if (!o->set_sep && (v = qf_rec_get(meta, "sep")) &&
		    qf_parse_u64(v, INT32_MAX, &o->sep, &e) == 0)
			o->set_sep = 1;
	}
	if (o->set_warmup)
		to->warmup = o->warmup;
	if (o->set_wd)
		to->weight_decay = o->wd;
	if (o->set_clip)
		to->clip = o->clip;
	if (o->set_min_lr && o->min_lr > to->lr)
		qf_tool_usage_error("--min-lr %g above the learning rate %g",
				    o->min_lr, to->lr);
	if (!o->set_min_lr && to->min_lr > to->lr)
		to->min_lr = to->lr;
	if (!o->set_stop)
		o->stop = to->steps;
	else if (o->stop > to->steps)
		qf_tool_usage_error("--stop-at %" PRIu64 " beyond the schedule's %"
				    PRIu64 " steps", o->stop, to->steps);
	if (qf_train_opts_check(to, &e) < 0)
		qf_tool_usage_error("%s", e.msg);
}

/* The model: a checkpoint's (and its options and attributes), a weight
 * stream's, or a new one of the config the options give. */
static qf_train *open_model(const struct opts *o, qf_train_opts *to,
			    qf_rec *meta, qf_err *e)
{
	qf_model_config mc = { 0 };

	if (o->resume)
		return qf_train_resume(o->resume, to, meta, e);
	if (o->init)
		return qf_train_load(o->init, o->seed, e);
	mc.arch = QF_ARCH_GPT2;
	mc.n_layer = (int)o->layers;
	mc.n_embd = (int)o->d;
	mc.n_head = (int)o->heads;
	mc.n_ctx = (int)o->ctx;
	mc.vocab_size = (int)o->vocab;
	mc.n_inner = (int)o->inner;
	mc.tied = 1;
	return qf_train_new_std(&mc, o->seed, o->init_std, e);
}

/* The model and the options of the run, with something left to do. */
static qf_train *start(struct opts *o, qf_train_opts *to, qf_err *e)
{
	qf_train *t;
	qf_rec meta;

	qf_rec_init(&meta);
	t = open_model(o, to, &meta, e);
	if (t)
		settle_opts(o, to, &meta);
	qf_rec_free(&meta);
	if (!t)
		return NULL;
	if (!o->set_sep)
		o->sep = (uint64_t)qf_train_cfg(t)->vocab_size - 1;
	if (o->sep_given && o->sep >= (uint64_t)qf_train_cfg(t)->vocab_size)
		qf_tool_usage_error("--sep %" PRIu64 " out of range (vocab %d)",
				    o->sep, qf_train_cfg(t)->vocab_size);
	if (qf_train_step_count(t) >= o->stop)
		qf_err_set(e, "%s: already at step %" PRIu64 ", nothing to do "
			   "before step %" PRIu64, o->resume,
			   qf_train_step_count(t), o->stop);
	else if (qf_train_set_threads(t, o->threads, e) == 0)
		return t;
	qf_train_free(t);
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* -v: the model, the batch and each language of the data. */
static void describe(qf_train *t, const qf_tdata *d, const struct opts *o)
{
	const qf_model_config *c = qf_train_cfg(t);

	fprintf(stderr, "qf-train: model: %d layers, d %d, %d heads, n_ctx %d, "
		"n_inner %d, vocab %d: %zu parameters; batch %" PRIu64 " x %d "
		"tokens, %.0f MB of activations\n", c->n_layer, c->n_embd,
		c->n_head, c->n_ctx, c->n_inner, c->vocab_size,
		qf_train_nparams(t), o->batch, c->n_ctx,
		qf_train_act_bytes(c, (int)o->batch, c->n_ctx) / 1e6);
	for (size_t i = 0; i < qf_tdata_nlangs(d); i++) {
		double p;
		uint64_t n;
		const char *lang = qf_tdata_lang(d, i, &p, &n);

		fprintf(stderr, "qf-train: data: %s: %" PRIu64 " tokens, p %.4f\n",
			lang, n, p);
	}
}

static void log_header(FILE *f, int L)
{
	qf_provenance_comment(f);
	fputs("step\tlr\tloss\tgrad_norm\ttokens\tseconds\tgn_emb", f);
	for (int l = 0; l < L; l++)
		fprintf(f, "\tgn_%d", l);
	fputs("\tgn_final\n", f);
}

/* The log, written live (qf_out_open_live), not atomically: it can be
 * watched while training goes on, a run that fails or is interrupted
 * leaves the lines of the steps it did, and pipelines/model.mk reads
 * those to resume such a run.  A line per step, flushed. */
static qf_out *open_log(const char *path, int L, qf_err *e)
{
	qf_out *out = qf_out_open_live(path, e);

	if (!out)
		return NULL;
	log_header(qf_out_file(out), L);
	return out;
}

static void log_row(FILE *f, const qf_train_stats *s, uint64_t tokens,
		    double secs, int L)
{
	fprintf(f, "%" PRIu64 "\t%.9g\t%.9g\t%.9g\t%" PRIu64 "\t%.3f", s->step,
		s->lr, s->loss, s->grad_norm, tokens, secs);
	for (int i = 0; i < L + 2; i++)
		fprintf(f, "\t%.6g", s->group[i]);
	fputc('\n', f);
	fflush(f);
}

static int save(qf_train *t, const struct opts *o, const qf_train_opts *to,
		qf_err *e)
{
	qf_rec meta;
	int rc = -1;

	qf_rec_init(&meta);
	if (qf_rec_setf(&meta, e, "batch", "%" PRIu64, o->batch) == 0 &&
	    qf_rec_setf(&meta, e, "sep", "%" PRIu64, o->sep) == 0)
		rc = qf_train_save(t, o->output, to, &meta, e);
	qf_rec_free(&meta);
	return rc;
}

/* The training loop's buffers and what the summary says of it. */
struct loop {
	int32_t *tok;		/* [batch, n_ctx + 1] */
	double *group;		/* [n_layer + 2] gradient norms */
	uint64_t first;		/* the step it started from */
	double t0, loss;	/* its start, the last loss */
};

/* Steps up to o->stop, a line of log (if not NULL) each, and the
 * checkpoints on the way. */
static int train(qf_train *t, const qf_tdata *d, const struct opts *o,
		 const qf_train_opts *to, FILE *log, struct loop *lp, qf_err *e)
{
	const qf_model_config *c = qf_train_cfg(t);
	qf_train_stats st = { .group = lp->group };
	qf_progress prog;
	int rc = 0;

	lp->first = qf_train_step_count(t);
	qf_progress_start(&prog, "training");
	lp->t0 = now();
	for (uint64_t s = lp->first; s < o->stop; s++) {
		qf_tdata_sample(d, qf_train_rng(t), (int)o->batch, lp->tok, NULL);
		rc = qf_train_step(t, lp->tok, (int)o->batch, c->n_ctx, to, &st, e);
		if (rc < 0)
			break;
		lp->loss = st.loss;
		if (log)
			log_row(log, &st, qf_train_tokens(t), now() - lp->t0,
				c->n_layer);
		if (o->every && (s + 1) % o->every == 0 && s + 1 < o->stop &&
		    (rc = save(t, o, to, e)) < 0)
			break;
		qf_progress_update(&prog, s + 1 - lp->first, o->stop - lp->first);
	}
	qf_progress_end(&prog);
	return rc;
}

/* -v: the steps of this run, their speed, where the schedule stands. */
static void summary(qf_train *t, const struct opts *o, const qf_train_opts *to,
		    const struct loop *lp)
{
	double secs = now() - lp->t0;
	uint64_t n = o->stop - lp->first;

	fprintf(stderr, "qf-train: %" PRIu64 " steps in %.1f s, %.0f tokens/s; "
		"step %" PRIu64 " of %" PRIu64 ", loss %.4f\n", n, secs,
		(double)n * o->batch * qf_train_cfg(t)->n_ctx / secs,
		qf_train_step_count(t), to->steps, lp->loss);
}

/* Open the model and the data, train, write the checkpoint. */
static int run(void *arg, qf_err *e)
{
	struct opts *o = arg;
	struct loop lp = { .loss = NAN };
	qf_train_opts to;
	qf_train *t = NULL;
	qf_tdata *d = NULL;
	qf_out *probe, *log = NULL;
	const qf_model_config *c;
	int rc = -1;

	/* the checkpoint's directory must take it, before any work */
	if (!(probe = qf_out_open(o->output, e)))
		return -1;
	qf_out_abort(probe);
	if (!(t = start(o, &to, e)))
		goto out;
	c = qf_train_cfg(t);
	if (!(d = qf_tdata_load(o->tokens, o->mix, c->vocab_size,
				o->sep <= INT32_MAX ? (int32_t)o->sep : -1,
				c->n_ctx + 1, e)))
		goto out;
	lp.tok = malloc(o->batch * (size_t)(c->n_ctx + 1) * sizeof *lp.tok);
	lp.group = malloc((size_t)(c->n_layer + 2) * sizeof *lp.group);
	if (!lp.tok || !lp.group) {
		qf_err_set(e, "out of memory");
		goto out;
	}
	if (o->verbose)
		describe(t, d, o);
	if (o->log && !(log = open_log(o->log, c->n_layer, e)))
		goto out;
	if (train(t, d, o, &to, log ? qf_out_file(log) : NULL, &lp, e) < 0 ||
	    save(t, o, &to, e) < 0)
		goto out;
	rc = log ? qf_out_commit(log, e) : 0;
	log = NULL;
	if (rc == 0 && o->verbose)
		summary(t, o, &to, &lp);
out:
	if (log)
		qf_out_abort(log);	/* live: closed, and left as it is */
	free(lp.group);
	free(lp.tok);
	qf_tdata_free(d);
	qf_train_free(t);
	return rc;
}

int main(int argc, char **argv)
{
	static const qf_tool_def tool = {
		"qf-train", QF_START_VERBOSE, parse_args, run, NULL
	};
	struct opts o = { 0 };

	return qf_tool_main(&tool, &o, argc, argv);
}
