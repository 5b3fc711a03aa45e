/*
 * qf-act - run a model over token streams and write its activations.
 *
 * Reads token records (integer ids, one document each, as qf-extract text
 * writes them) of each stream in turn, runs the model of a weight stream over each document
 * (windows for documents longer than the context, docs/runtime.md), and
 * writes the chosen sites' states as records, document by document;
 * optionally per-head attention statistics and per-token NLL.  Memory: the
 * model, one document's tokens, and that document's selected states
 * (reduce none: tokens x width per layer and site, the rows of every
 * window with --per-window; mean: one row each; sample:K: K rows each;
 * at most the machine's memory, else an error
 * naming the document and the size); with --channel-stats, 3 sums per
 * input channel of every block's linears.  The work is lib/model/act.c's (qf_act); this is
 * options, files and messages.  See docs/man/qf-act.1.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qf.h"

static const char usage[] =
	"Usage: qf-act -m MODEL [OPTION]... [TOKENS]...\n"
	"Run a model over the documents of token streams and write the states\n"
	"of chosen layers and sites as records.\n"
	"With no TOKENS, or when TOKENS is -, read standard input.\n"
	"\n"
	"  -m, --model FILE       weight stream of the model (required)\n"
	"  -L, --layers LIST      layers, e.g. 0,9,11, and final (the final norm's)\n"
	"                         (default: all)\n"
	"  -S, --sites LIST       sites: resid_pre, ln1_out, attn_z, attn_out,\n"
	"                         resid_mid, ln2_out, mlp_act, mlp_out,\n"
	"                         resid_post (default), final_norm (layer final)\n"
	"  -r, --reduce HOW       none (per token, default), mean (over the\n"
	"                         document) or sample:K (K positions, needs --seed)\n"
	"      --seed N           seed of sample:K and of --corrupt\n"
	"      --window W         tokens per pass (default: n_ctx)\n"
	"      --stride S         advance between passes (default: W / 2)\n"
	"      --per-window       with --reduce none: the states of every window\n"
	"                         (state.N.L.SITE.wK), as --patch needs them for\n"
	"                         documents longer than one window\n"
	"      --attn-stats       per document a record attn.N [n_layer, n_head, 2]:\n"
	"                         attention entropy and mass on the first token\n"
	"      --sink-eps E       threshold of the sink rate (default 0.3; with\n"
	"                         --attn-stats)\n"
	"      --nll FILE         also write per-token NLL records to FILE\n"
	"      --channel-stats FILE  also write to FILE, per block layer and\n"
	"                         linear, its input channels' mean |x|, mean x^2\n"
	"                         and max |x| over all tokens (chan.L.SITE\n"
	"                         [width, 3] f64; qf-quantize --protect-channels)\n"
	"      --patch FROM       replace the chosen layers' and sites' states with\n"
	"                         those of FROM (qf-act --reduce none output over\n"
	"                         the same tokens, in the same document order;\n"
	"                         per window for documents of several windows)\n"
	"      --positions LIST   patch only these positions, e.g. 0,5,6\n"
	"      --corrupt K        add Gaussian noise of K times the token\n"
	"                         embedding's standard deviation to the input\n"
	"                         embeddings (needs --seed)\n"
	"  -o, --output FILE      write FILE atomically instead of standard output\n"
	"  -j, --jobs N           threads (default QF_THREADS, else one per CPU)\n"
	"  -v, --verbose          OpenBLAS's core and a summary on stderr\n"
	"  -h, --help             show this help and exit\n"
	"      --version          show the version and exit\n"
	"\n"
	"Examples:\n"
	"  qf-act -m model.qft -o states.qft tokens.qft\n"
	"  qf-act -m model.qft --layers 0,1 --sites resid_post,mlp_out --reduce mean -o means.qft tokens.qft\n"
	"  qf-act -m model.qft --reduce sample:4 --seed 1 tokens.qft | qf-cat -l\n"
	"  qf-act -m model.qft --attn-stats --sites resid_pre --layers 0 --nll nll.qft -o act.qft tokens.qft\n"
	"  qf-act -m model.qft --per-window --layers 1 -o clean.qft tokens.qft\n"
	"  qf-act -m model.qft --corrupt 3 --seed 1 --patch clean.qft --layers 1 --nll traced.qft -o /dev/null tokens.qft\n"
	"  qf-act -m model.qft --layers 1,final --sites resid_post,final_norm -o last.qft tokens.qft more.qft\n"
	"  qf-act -m model.qft --channel-stats chan.qft --reduce mean -o /dev/null tokens.qft\n";

/* --layers final: the final norm's layer, n_layer once the model is
 * known. */
#define LAYER_FINAL UINT64_MAX

struct opts {
	const char *model, *output, *nll, *patch, *chan;
	char **inputs;		/* the token streams (none: standard input) */
	int ninputs;
	const char *layers, *positions, *jobs;	/* as given */
	int seed_set, corrupt_set, eps_set, window_set, stride_set;
	int verbose, threads;
	uint64_t *layer_list, *position_list;	/* parsed */
	qf_act_opts a;		/* all but the patch stream and sigma */
};

/* ------------------------------------------------------------ options */

/* The items of comma-separated list s of option opt, each passed to
 * fn(item, ctx); an empty list or item is misuse (it would select
 * nothing without a word). */
static void each_item(const char *opt, const char *s,
		      void (*fn)(const char *item, void *ctx), void *ctx)
{
	char *copy = strdup(s), *item, *next;

	if (!copy)
		qf_tool_die(1, "out of memory");
	for (item = copy; item; item = next) {
		if ((next = strchr(item, ',')))
			*next++ = '\0';
		if (!*item)
			qf_tool_usage_error("%s: empty item in '%s'", opt, s);
		fn(item, ctx);
	}
	free(copy);
}

static void add_site(const char *item, void *ctx)
{
	int c = qf_site_parse(item);

	if (c < 0)
		qf_tool_usage_error("--sites: unknown site '%s'", item);
	*(unsigned *)ctx |= 1u << c;
}

static unsigned parse_sites(const char *s)
{
	unsigned set = 0;

	each_item("--sites", s, add_site, &set);
	return set;
}

static void parse_reduce(qf_act_opts *a, const char *s)
{
	if (strcmp(s, "none") == 0) {
		a->reduce = QF_ACT_NONE;
	} else if (strcmp(s, "mean") == 0) {
		a->reduce = QF_ACT_MEAN;
	} else if (strncmp(s, "sample:", 7) == 0) {
		a->reduce = QF_ACT_SAMPLE;
		a->k = qf_tool_parse_count("--reduce sample:K", s + 7, UINT32_MAX);
		if (a->k == 0)
			qf_tool_usage_error("--reduce: sample:K wants K >= 1");
	} else {
		qf_tool_usage_error("--reduce: unknown reduction '%s' (none, mean, sample:K)", s);
	}
}

/* A number in [0, max] (written maxs) for option opt. */
static double parse_real(const char *opt, const char *arg, double max,
			 const char *maxs)
{
	double v;
	qf_err e;

	if (qf_parse_double(arg, &v, &e) < 0 || !(v >= 0 && v <= max))
		qf_tool_usage_error("%s: '%s' is not a number in [0, %s]", opt,
				    arg, maxs);
	return v;
}

/* A list being parsed: option, the most a count may be, whether "final"
 * is an item (--layers), the values. */
struct list {
	const char *opt;
	uint64_t max;
	int final;
	uint64_t *v;
	size_t n, cap;
};

static void add_count(const char *item, void *ctx)
{
	struct list *l = ctx;

	if (l->n == l->cap) {
		uint64_t *nv;

		l->cap = l->cap ? 2 * l->cap : 16;
		if (!(nv = realloc(l->v, l->cap * sizeof *nv)))
			qf_tool_die(1, "out of memory");
		l->v = nv;
	}
	if (l->final && strcmp(item, "final") == 0)
		l->v[l->n++] = LAYER_FINAL;
	else
		l->v[l->n++] = qf_tool_parse_count(l->opt, item, l->max);
}

/* A comma-separated list of counts below max + 1, for option opt, and
 * with final set the word final (LAYER_FINAL). */
static uint64_t *parse_list(const char *opt, const char *s, uint64_t max,
			    int final, size_t *np)
{
	struct list l = { opt, max, final, NULL, 0, 0 };

	each_item(opt, s, add_count, &l);
	*np = l.n;
	return l.v;
}

enum { O_SEED = 0x2000, O_WINDOW, O_STRIDE, O_ATTN, O_EPS, O_NLL, O_PATCH,
       O_POSITIONS, O_CORRUPT, O_PER_WINDOW, O_CHAN };

static void option(struct opts *o, int c, const char *arg, char **argv)
{
	switch (c) {
	case 'm': o->model = arg; break;
	case 'L': o->layers = arg; break;
	case 'S': o->a.sites = parse_sites(arg); break;
	case 'r': parse_reduce(&o->a, arg); break;
	case O_SEED:
		o->a.seed = qf_tool_parse_count("--seed", arg, UINT64_MAX);
		o->seed_set = 1;
		break;
	case O_WINDOW:
		o->a.window = (int)qf_tool_parse_count("--window", arg, 1u << 30);
		o->window_set = 1;
		break;
	case O_STRIDE:
		o->a.stride = (int)qf_tool_parse_count("--stride", arg, 1u << 30);
		o->stride_set = 1;
		break;
	case O_PER_WINDOW: o->a.per_window = 1; break;
	case O_ATTN: o->a.attn = 1; break;
	case O_EPS:
		o->a.eps = parse_real("--sink-eps", arg, 1, "1");
		o->eps_set = 1;
		break;
	case O_NLL: o->nll = arg; o->a.nll = 1; break;
	case O_CHAN: o->chan = arg; o->a.chan = 1; break;
	case O_PATCH: o->patch = arg; break;
	case O_POSITIONS: o->positions = arg; break;
	case O_CORRUPT:
		o->a.corrupt = parse_real("--corrupt", arg, 1e6, "1e6");
		o->corrupt_set = 1;
		break;
	case 'o': o->output = arg; break;
	case 'j': o->jobs = arg; break;
	case 'v': o->verbose = 1; break;
	default: qf_tool_common_option(c, usage, argv);
	}
}

/* What goes together. */
static void check_args(const struct opts *o)
{
	if (!o->model)
		qf_tool_usage_error("no model: give -m MODEL");
	if (o->a.reduce == QF_ACT_SAMPLE && !o->seed_set)
		qf_tool_usage_error("--reduce sample:K needs --seed N");
	if (o->corrupt_set && !o->seed_set)
		qf_tool_usage_error("--corrupt K needs --seed N");
	if (o->seed_set && o->a.reduce != QF_ACT_SAMPLE && !o->corrupt_set)
		qf_tool_usage_error("--seed is only for --reduce sample:K and --corrupt");
	if (o->a.per_window && o->a.reduce != QF_ACT_NONE)
		qf_tool_usage_error("--per-window is only for --reduce none");
	if (o->positions && !o->patch)
		qf_tool_usage_error("--positions is only for --patch");
	if (o->eps_set && !o->a.attn)
		qf_tool_usage_error("--sink-eps is only for --attn-stats");
}

/* Every chosen site is in a chosen layer and every chosen layer has a
 * chosen site: final_norm is the one site of layer final, the others are
 * the blocks'.  A choice that selects nothing is misuse, not an output
 * short of what was asked for. */
static void check_choice(const struct opts *o)
{
	unsigned fin = 1u << QF_SITE_FINAL_NORM;
	int final = 0, block = 0;

	if (!o->layers)
		return;		/* every layer: each site has its own */
	for (size_t i = 0; i < o->a.nlayers; i++) {
		if (o->a.layers[i] == LAYER_FINAL)
			final = 1;
		else
			block = 1;
	}
	if ((o->a.sites & fin) && !final)
		qf_tool_usage_error("--sites final_norm: its layer, final, is not "
				    "in --layers");
	if (final && !(o->a.sites & fin))
		qf_tool_usage_error("--layers final: its one site, final_norm, is "
				    "not in --sites");
	if ((o->a.sites & ~fin) && !block)
		qf_tool_usage_error("--sites: no layer of a block in --layers for "
				    "the sites other than final_norm");
	if (block && !(o->a.sites & ~fin))
		qf_tool_usage_error("--layers: no site of a block in --sites for "
				    "the layers other than final");
}

/* The thread count and the lists. */
static void parse_values(struct opts *o)
{
	qf_err e;

	if ((o->threads = qf_tool_threads(o->jobs, &e)) < 0)
		qf_tool_usage_error("%s", e.msg);
	if (o->layers) {
		o->layer_list = parse_list("--layers", o->layers, UINT32_MAX, 1,
					   &o->a.nlayers);
		o->a.layers = o->layer_list;
	}
	if (o->positions) {
		o->position_list = parse_list("--positions", o->positions,
					      UINT64_MAX - 1, 0, &o->a.npositions);
		o->a.positions = o->position_list;
	}
	check_choice(o);
}

static void parse_args(int argc, char **argv, void *arg)
{
	struct opts *o = arg;
	static const struct option longs[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "layers", required_argument, NULL, 'L' },
		{ "sites", required_argument, NULL, 'S' },
		{ "reduce", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, O_SEED },
		{ "window", required_argument, NULL, O_WINDOW },
		{ "stride", required_argument, NULL, O_STRIDE },
		{ "per-window", no_argument, NULL, O_PER_WINDOW },
		{ "attn-stats", no_argument, NULL, O_ATTN },
		{ "sink-eps", required_argument, NULL, O_EPS },
		{ "nll", required_argument, NULL, O_NLL },
		{ "channel-stats", required_argument, NULL, O_CHAN },
		{ "patch", required_argument, NULL, O_PATCH },
		{ "positions", required_argument, NULL, O_POSITIONS },
		{ "corrupt", required_argument, NULL, O_CORRUPT },
		{ "output", required_argument, NULL, 'o' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		QF_OPT_END
	};
	int c;

	o->a.sites = 1u << QF_SITE_RESID_POST;
	o->a.eps = 0.3;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:L:S:r:o:j:vh", longs, NULL)) != -1)
		option(o, c, optarg, argv);
	check_args(o);
	parse_values(o);
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
	qf_tool_distinct_outputs((const char *[]){ "-o", "--nll",
						   "--channel-stats" },
				 (const char *[]){ o->output ? o->output : "-",
						   o->nll, o->chan }, 3);
}

static void opts_free(void *arg)
{
	struct opts *o = arg;

	free(o->layer_list);
	free(o->position_list);
}

/* The options the model's shape bounds (misuse: exit 2); --layers final
 * becomes layer n_layer, the final norm's, in the list run passes on. */
static void check_model(const struct opts *o, const qf_model_config *cfg,
			uint64_t *layers)
{
	const qf_act_opts *a = &o->a;
	qf_err e;

	if (qf_window_check(o->window_set ? a->window : -1,
			    o->stride_set ? a->stride : -1, cfg->n_ctx, &e) < 0)
		qf_tool_usage_error("%s", e.msg);
	for (size_t i = 0; i < a->nlayers; i++) {
		if (a->layers[i] == LAYER_FINAL)
			layers[i] = (uint64_t)cfg->n_layer;
		else if (a->layers[i] >= (uint64_t)cfg->n_layer)
			qf_tool_usage_error("--layers: layer %" PRIu64
					    " out of range (the model has %d)",
					    a->layers[i], cfg->n_layer);
		else
			layers[i] = a->layers[i];
	}
}

/* ------------------------------------------------------------ running */

/* Records to the states' stream, the NLL's or the channels'. */
struct sinks {
	qf_writer *w, *wn, *wc;
};

static int put(void *ctx, int kind, const qf_rec *rec, const void *data,
	       qf_err *e)
{
	struct sinks *k = ctx;

	return qf_writer_put(kind == QF_ACT_OUT_NLL ? k->wn :
			     kind == QF_ACT_OUT_CHAN ? k->wc : k->w, rec, data, e);
}

static int one_doc(qf_act *a, qf_reader *in, const qf_rec *rec,
		   struct sinks *k, qf_err *e)
{
	int32_t *tok = NULL;
	int rc;

	if (qf_dtype_is_float(rec->dtype) || rec->dtype == QF_BOOL ||
	    rec->ndim != 1)
		return qf_err_set(e, "%s: record %s: dtype %s shape of %d dims, "
				  "expected 1-d integer token ids",
				  qf_reader_name(in), rec->name,
				  qf_dtype_name(rec->dtype), rec->ndim);
	if (qf_reader_read_as(in, QF_I32, (void **)&tok, e) < 0)
		return -1;
	rc = qf_act_doc(a, qf_reader_name(in), rec, tok, rec->dims[0], put, k, e);
	free(tok);
	return rc;
}

/* Commit the channels' stream, the NLL's, then the states'.  A writer
 * is gone once closed, committed or not; what is left is aborted. */
static int sinks_close(struct sinks *k, qf_err *e)
{
	int rc = qf_writer_close(k->wc, e);

	k->wc = NULL;
	if (rc < 0)
		return -1;
	rc = qf_writer_close(k->wn, e);
	k->wn = NULL;
	if (rc < 0)
		return -1;
	rc = qf_writer_close(k->w, e);
	k->w = NULL;
	return rc;
}

/* Every document of the token stream at path. */
static int all_docs(qf_act *a, const char *path, struct sinks *k, qf_err *e)
{
	qf_reader *in = qf_reader_open(path, e);
	qf_rec rec;
	int rc;

	if (!in)
		return -1;
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(in, &rec, e)) > 0)
		if (one_doc(a, in, &rec, k, e) < 0) {
			rc = -1;
			break;
		}
	qf_rec_free(&rec);
	qf_reader_close(in);
	return rc;
}

/* Every token stream, or standard input, documents numbered across them. */
static int all_inputs(qf_act *a, const struct opts *o, struct sinks *k,
		      qf_err *e)
{
	if (o->ninputs == 0)
		return all_docs(a, "-", k, e);
	for (int i = 0; i < o->ninputs; i++)
		if (all_docs(a, o->inputs[i], k, e) < 0)
			return -1;
	return 0;
}

static int run(void *arg, qf_err *e)
{
	const struct opts *o = arg;
	qf_model *m = NULL;
	qf_reader *fr = NULL;
	qf_act *a = NULL;
	struct sinks k = { NULL, NULL, NULL };
	qf_act_opts ao = o->a;
	uint64_t *layers = NULL;
	int status = -1;

	if (!(m = qf_model_load(o->model, e)) ||
	    qf_model_set_threads(m, o->threads, e) < 0)
		goto out;
	if (ao.nlayers && !(layers = malloc(ao.nlayers * sizeof *layers))) {
		qf_err_set(e, "out of memory");
		goto out;
	}
	check_model(o, qf_model_cfg(m), layers);
	if (ao.layers)
		ao.layers = layers;
	if (ao.corrupt > 0 &&
	    qf_weights_std(o->model, "tok_emb.weight", &ao.sigma, e) < 0)
		goto out;
	if (o->patch && !(ao.patch = fr = qf_reader_open(o->patch, e)))
		goto out;
	if (!(a = qf_act_new(m, &ao, e)) ||
	    !(k.w = qf_writer_open(o->output ? o->output : "-", NULL, e)) ||
	    (o->nll && !(k.wn = qf_writer_open(o->nll, NULL, e))) ||
	    (o->chan && !(k.wc = qf_writer_open(o->chan, NULL, e))))
		goto out;
	if (all_inputs(a, o, &k, e) < 0 || qf_act_chan(a, put, &k, e) < 0 ||
	    sinks_close(&k, e) < 0)
		goto out;
	if (o->verbose)
		fprintf(stderr, "qf-act: %" PRIu64 " documents\n", qf_act_docs(a));
	status = QF_EXIT_OK;
out:
	qf_writer_abort(k.wc);
	qf_writer_abort(k.wn);
	qf_writer_abort(k.w);
	qf_act_free(a);
	qf_reader_close(fr);
	qf_model_free(m);
	free(layers);
	return status;
}

int main(int argc, char **argv)
{
	static const qf_tool_def tool = {
		"qf-act", QF_START_VERBOSE, parse_args, run, opts_free
	};
	struct opts o = { 0 };

	return qf_tool_main(&tool, &o, argc, argv);
}
