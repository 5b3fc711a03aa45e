/*
 * qf-quantize - fake-quantize the weights of a weight stream.
 *
 * Reads a stream (formats/weights.md), quantizes the chosen tensors and
 * writes them back dequantized to f32, with attributes saying how; every
 * other record passes through with its header and payload unchanged.
 * Optionally writes the integer codes and scales as records of their own
 * and per-tensor and per-layer statistics as TSV.  Memory: one tensor
 * (as f32, plus its output), and with more than one thread the tensor
 * being compressed and written as well.  See docs/man/qf-quantize.1 and
 * docs/quantize.md.
 */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "qf.h"

static const char usage[] =
	"Usage: qf-quantize [OPTION]... [FILE]\n"
	"Quantize the weights of a weight stream and write it back with the\n"
	"quantized tensors dequantized to f32 (fake quantization).\n"
	"With no FILE, or when FILE is -, read standard input.\n"
	"\n"
	"Scheme:\n"
	"  -s, --scheme NAME      int (default), fp4 (E2M1), nf4, q8_0 or q4_0\n"
	"  -b, --bits N           int: 2..8 bits (default 4)\n"
	"      --sym, --asym      int: symmetric (default) or asymmetric\n"
	"  -g, --granularity G    tensor, channel (a row of [out, in]) or a group\n"
	"                         size along the row, e.g. 64 (default: int\n"
	"                         channel, fp4 32, nf4 64, q8_0/q4_0 32)\n"
	"  -c, --clip METHOD      none (abs-max, default), percentile:P,\n"
	"                         aciq_gauss, aciq_laplace or mse\n"
	"      --round MODE       nearest (default) or stochastic (needs --seed)\n"
	"      --seed N           seed of stochastic rounding\n"
	"      --compat           the earlier study's quantizer: per tensor,\n"
	"                         scale max|w|/7, round half to even, clamp to\n"
	"                         [-8, 7], every tensor whose name ends in 'weight'\n"
	"What is quantized (default: attn_qkv,attn_out,mlp_in,mlp_out):\n"
	"  -k, --include KINDS    these kinds (comma-separated; 'all' for every kind)\n"
	"      --all-weights      every weight: embeddings, LayerNorm gains, linears,\n"
	"                         head (not biases)\n"
	"  -n, --include-name GLOB  tensors whose name matches (repeatable)\n"
	"      --protect-layers LIST  keep layers LIST (e.g. 0,9,11) in full precision\n"
	"      --protect-kind KINDS   keep these kinds in full precision\n"
	"      --protect-name GLOB    keep matching tensors in full precision\n"
	"                         (repeatable)\n"
	"      --bits-map MAP     int bits per layer: 'default=4,0=8,11=8', or @FILE\n"
	"      --nonfinite POLICY error (default), zero (NaN and Inf become 0) or\n"
	"                         keep (such a tensor stays in full precision)\n"
	"Output:\n"
	"  -o, --output FILE      write FILE atomically instead of standard output\n"
	"      --emit-codes       also write NAME.codes, NAME.scales (and\n"
	"                         NAME.zeros) records after each quantized tensor\n"
	"      --stats FILE       per-tensor and per-layer statistics as TSV\n"
	"      --level N          zstd level (default 1)\n"
	"      --shuffle          byte-shuffle every multi-byte dtype (default: floats)\n"
	"      --no-shuffle       no byte shuffle\n"
	"  -j, --jobs N           threads (default QF_THREADS, else one per CPU)\n"
	"  -v, --verbose          summary on stderr: tensors and parameters\n"
	"                         quantized and kept\n"
	"  -h, --help             show this help and exit\n"
	"      --version          show the version and exit\n"
	"\n"
	"Examples:\n"
	"  qf-quantize -b 4 -g 64 -o w4g64.qft weights.qft\n"
	"  qf-quantize -s nf4 --stats nf4.tsv -o nf4.qft weights.qft\n"
	"  qf-quantize -b 3 -c aciq_laplace --protect-layers 0 -o w3.qft weights.qft\n"
	"  qf-quantize --compat -o old.qft weights.qft\n"
	"  qf-quantize --all-weights -b 4 -g 64 -c mse -o new.qft weights.qft\n"
	"  qf-quantize -s q8_0 --emit-codes weights.qft | qf-cat -l\n";

struct opts {
	qf_qplan p;
	int scheme_set, bits_set, sym_set, gran_set, clip_set, round_set,
	    seed_set, include_set;
	int verbose;
	const char *output, *stats;
	qf_wopts w;
};

/* ------------------------------------------------------------ options */

static void check(int rc, const qf_err *e)
{
	if (rc < 0)
		qf_tool_usage_error("%s", e->msg);
}

static unsigned parse_kinds(const char *opt, const char *s)
{
	qf_err e;
	unsigned set = qf_qkinds_parse(opt, s, &e);

	check(set ? 0 : -1, &e);
	return set;
}

static int parse_bits(const char *s)
{
	qf_err e;
	int bits = qf_qbits_parse("--bits", s, &e);

	check(bits, &e);
	return bits;
}

static void add_name(struct opts *o, int protect, const char *glob)
{
	qf_err e;

	if (qf_qplan_add_name(&o->p, protect, glob, &e) < 0)
		qf_tool_die(1, "%s", e.msg);
	o->include_set |= !protect;
}

static void parse_gran(struct opts *o, const char *s)
{
	qf_qspec *q = &o->p.q;

	if (strcmp(s, "tensor") == 0) {
		q->gran = QF_QG_TENSOR;
	} else if (strcmp(s, "channel") == 0) {
		q->gran = QF_QG_CHANNEL;
	} else {
		q->group = qf_tool_parse_count("--granularity", s, UINT32_MAX);
		if (q->group == 0)
			qf_tool_usage_error("--granularity: group size must be at least 1");
		q->gran = QF_QG_GROUP;
	}
	o->gran_set = 1;
}

static void parse_clip(struct opts *o, const char *s)
{
	const char *colon = strchr(s, ':');
	char name[32];
	size_t len = colon ? (size_t)(colon - s) : strlen(s);
	qf_qspec *q = &o->p.q;
	qf_err e;

	if (len >= sizeof name)
		len = sizeof name - 1;
	memcpy(name, s, len);
	name[len] = 0;
	q->clip = qf_qclip_parse(name);
	if (!q->clip)
		qf_tool_usage_error("unknown clipping '%s' (none, percentile:P, "
				    "aciq_gauss, aciq_laplace, mse)", s);
	if (q->clip == QF_QC_PERCENTILE) {
		if (!colon)
			qf_tool_usage_error("--clip percentile needs a value, e.g. "
					    "percentile:99.9");
		if (qf_parse_double(colon + 1, &q->pct, &e) < 0)
			qf_tool_usage_error("--clip: %s", e.msg);
		if (!(q->pct > 0 && q->pct <= 100))
			qf_tool_usage_error("--clip: percentile %s out of range (0, 100]",
					    colon + 1);
	} else if (colon) {
		qf_tool_usage_error("--clip %s takes no value", name);
	}
	o->clip_set = 1;
}

static int parse_nonfinite(const char *s)
{
	if (strcmp(s, "error") == 0)
		return QF_QNF_ERROR;
	if (strcmp(s, "zero") == 0)
		return QF_QNF_ZERO;
	if (strcmp(s, "keep") == 0)
		return QF_QNF_KEEP;
	qf_tool_usage_error("unknown --nonfinite policy '%s' (error, zero, keep)", s);
}

static int parse_round(const char *s)
{
	if (strcmp(s, "nearest") == 0)
		return QF_QR_NEAREST;
	if (strcmp(s, "stochastic") == 0)
		return QF_QR_STOCHASTIC;
	qf_tool_usage_error("unknown rounding '%s' (nearest, stochastic)", s);
}

/* The scheme and its defaults, then what was given. */
static void resolve_spec(struct opts *o, const char *scheme, int bits, int sym)
{
	qf_qplan *p = &o->p;
	qf_qspec given = p->q;
	int s = p->compat ? QF_QS_COMPAT : qf_qscheme_parse(scheme);

	if ((!s || s == QF_QS_COMPAT) && !p->compat)
		qf_tool_usage_error("unknown scheme '%s' (int, fp4, nf4, "
				    "q8_0, q4_0)", scheme);
	if (p->compat && (o->scheme_set || o->bits_set || o->sym_set ||
			  o->gran_set || o->clip_set || o->round_set ||
			  o->include_set || p->map_default || p->bits_map_max))
		qf_tool_usage_error("--compat fixes the scheme and what is "
				    "quantized; drop the other scheme and "
				    "selection options");
	qf_qspec_default(&p->q, s);
	if (o->gran_set) {
		p->q.gran = given.gran;
		p->q.group = given.group;
	}
	if (o->clip_set) {
		p->q.clip = given.clip;
		p->q.pct = given.pct;
	}
	p->q.seed = given.seed;
	if (o->bits_set)
		p->q.bits = bits;
	if (o->sym_set)
		p->q.sym = sym;
}

/* What the options say together. */
static void finish_args(struct opts *o, const char *round, const char *jopt)
{
	qf_qplan *p = &o->p;
	qf_err e;

	if (round)
		p->q.round = parse_round(round);
	if (p->q.round == QF_QR_STOCHASTIC && !o->seed_set)
		qf_tool_usage_error("--round stochastic needs an explicit --seed");
	if (p->q.round != QF_QR_STOCHASTIC && o->seed_set)
		qf_tool_usage_error("--seed is for --round stochastic");
	if (p->map_default || p->bits_map_max) {
		if (p->q.scheme != QF_QS_INT)
			qf_tool_usage_error("--bits-map is for the int scheme");
		if (o->bits_set && p->map_default)
			qf_tool_usage_error("both --bits and default= in --bits-map");
		if (p->map_default)
			p->q.bits = p->map_default;
	}
	check(qf_qspec_check(&p->q, &e), &e);
	if (!o->include_set)
		p->include = QF_QKINDS_LINEAR;
	p->threads = qf_tool_threads(jopt, &e);
	check(p->threads, &e);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_SYM = 256, O_ASYM, O_ROUND, O_SEED, O_COMPAT, O_ALLW,
	       O_PLAYERS, O_PKIND, O_PNAME, O_BITSMAP, O_NONFINITE, O_EMIT,
	       O_STATS, O_LEVEL, O_SHUFFLE, O_NO_SHUFFLE };
	static const struct option longs[] = {
		{ "scheme", required_argument, 0, 's' },
		{ "bits", required_argument, 0, 'b' },
		{ "sym", no_argument, 0, O_SYM },
		{ "asym", no_argument, 0, O_ASYM },
		{ "granularity", required_argument, 0, 'g' },
		{ "clip", required_argument, 0, 'c' },
		{ "round", required_argument, 0, O_ROUND },
		{ "seed", required_argument, 0, O_SEED },
		{ "compat", no_argument, 0, O_COMPAT },
		{ "include", required_argument, 0, 'k' },
		{ "all-weights", no_argument, 0, O_ALLW },
		{ "include-name", required_argument, 0, 'n' },
		{ "protect-layers", required_argument, 0, O_PLAYERS },
		{ "protect-kind", required_argument, 0, O_PKIND },
		{ "protect-name", required_argument, 0, O_PNAME },
		{ "bits-map", required_argument, 0, O_BITSMAP },
		{ "nonfinite", required_argument, 0, O_NONFINITE },
		{ "output", required_argument, 0, 'o' },
		{ "emit-codes", no_argument, 0, O_EMIT },
		{ "stats", required_argument, 0, O_STATS },
		{ "level", required_argument, 0, O_LEVEL },
		{ "shuffle", no_argument, 0, O_SHUFFLE },
		{ "no-shuffle", no_argument, 0, O_NO_SHUFFLE },
		{ "jobs", required_argument, 0, 'j' },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, QF_OPT_VERSION },
		{ 0, 0, 0, 0 },
	};
	const char *jopt = NULL, *scheme = "int", *round = NULL;
	qf_qplan *p = &o->p;
	qf_err e;
	int c, bits = 4, sym = 1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:b:g:c:k:n:o:j:vh", longs, NULL)) != -1) {
		switch (c) {
		case 's': scheme = optarg; o->scheme_set = 1; break;
		case 'b': bits = parse_bits(optarg); o->bits_set = 1; break;
		case O_SYM: sym = 1; o->sym_set = 1; break;
		case O_ASYM: sym = 0; o->sym_set = 1; break;
		case 'g': parse_gran(o, optarg); break;
		case 'c': parse_clip(o, optarg); break;
		case O_ROUND: round = optarg; o->round_set = 1; break;
		case O_SEED:
			p->q.seed = qf_tool_parse_count("--seed", optarg, UINT64_MAX);
			o->seed_set = 1;
			break;
		case O_COMPAT: p->compat = 1; break;
		case 'k':
			p->include |= parse_kinds("--include", optarg);
			o->include_set = 1;
			break;
		case O_ALLW: p->include |= QF_QKINDS_WEIGHTS; o->include_set = 1; break;
		case 'n': add_name(o, 0, optarg); break;
		case O_PLAYERS: check(qf_qplan_protect_layers(p, optarg, &e), &e); break;
		case O_PKIND: p->prot_kind |= parse_kinds("--protect-kind", optarg); break;
		case O_PNAME: add_name(o, 1, optarg); break;
		case O_BITSMAP: check(qf_qplan_bits_map(p, optarg, &e), &e); break;
		case O_NONFINITE: p->nonfinite = parse_nonfinite(optarg); break;
		case 'o': o->output = optarg; break;
		case O_EMIT: p->emit_codes = 1; break;
		case O_STATS: o->stats = optarg; break;
		case O_LEVEL: o->w.level = qf_tool_parse_level(optarg); break;
		case O_SHUFFLE: o->w.shuffle = QF_SHUFFLE_ON; break;
		case O_NO_SHUFFLE: o->w.shuffle = QF_SHUFFLE_OFF; break;
		case 'j': jopt = optarg; break;
		case 'v': o->verbose = 1; break;
		default: qf_tool_common_option(c, usage, argv);
		}
	}
	if (argc - optind > 1)
		qf_tool_usage_error("one input at most (got %d)", argc - optind);
	resolve_spec(o, scheme, bits, sym);
	finish_args(o, round, jopt);
}

/* ------------------------------------------------------------ records */

struct ctx {
	struct opts *o;
	qf_reader *r;
	qf_writer *w;
	qf_wthread *wt;
	qf_out *so;		/* --stats */
	qf_qstats *stats;
	int n_layer;		/* from the config record; -1 unknown */
};

/* Layers the options name that the model lacks: a usage error. */
static void check_layers(const struct ctx *c, int n_layer, const char *src)
{
	qf_err e;

	check(qf_qplan_check_layers(&c->o->p, n_layer, src, &e), &e);
}

static int process(struct ctx *c, const qf_rec *rec, qf_err *e)
{
	int n_layer = qf_qconfig_layers(rec);
	qf_wbatch *b;

	if (n_layer >= 0) {
		c->n_layer = n_layer;
		check_layers(c, n_layer, "the model");
	}
	b = qf_wbatch_new(e);
	if (!b)
		return -1;
	if (qf_qplan_apply(&c->o->p, c->r, rec, b, c->stats, e) < 0) {
		qf_wbatch_free(b);
		return -1;
	}
	return qf_wthread_put(c->wt, b, e);
}

/* Every record through; -1 on error. */
static int run(struct ctx *c, qf_err *e)
{
	qf_progress prog;
	qf_rec rec;
	int rc;

	qf_progress_start(&prog, "qf-quantize: records");
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(c->r, &rec, e)) == 1) {
		if (process(c, &rec, e) < 0) {
			rc = -1;
			break;
		}
		qf_progress_update(&prog, qf_reader_count(c->r), 0);
	}
	qf_progress_end(&prog);
	if (qf_wthread_finish(c->wt, e) < 0)
		rc = -1;
	qf_rec_free(&rec);
	return rc;
}

/* ------------------------------------------------------------ main */

static void summary(const qf_qstats *s)
{
	qf_qtotals t;
	uint64_t all;

	qf_qstats_totals(s, &t);
	all = t.numel_quant + t.numel_fp;
	fprintf(stderr, "%s: quantized %" PRIu64 " tensors (%" PRIu64 " parameters); "
		"kept %" PRIu64 " in full precision (%" PRIu64 " parameters, %.2f%% "
		"of %" PRIu64 ")\n", qf_tool_name(), t.nquant, t.numel_quant,
		t.ntensors - t.nquant, t.numel_fp,
		all ? 100.0 * (double)t.numel_fp / (double)all : 0.0, all);
	fprintf(stderr, "%s: bytes stored quantized: %" PRIu64 " of %" PRIu64
		" (%.2f%%); full-precision share of them: %.2f%%\n",
		qf_tool_name(), t.bytes_out, t.bytes_in,
		t.bytes_in ? 100.0 * (double)t.bytes_out / (double)t.bytes_in : 0.0,
		t.bytes_out ? 100.0 * (double)t.bytes_fp / (double)t.bytes_out : 0.0);
}

static void abort_outputs(struct ctx *c)
{
	qf_writer_abort(c->w);
	if (c->so)
		qf_out_abort(c->so);
}

static void open_all(struct ctx *c, const char *input)
{
	struct opts *o = c->o;
	qf_err e;

	c->r = qf_reader_open(input, &e);
	if (!c->r)
		qf_tool_fail(&e);
	if (o->stats) {
		c->so = qf_out_open(o->stats, &e);
		if (!c->so)
			qf_tool_fail(&e);
	}
	c->stats = qf_qstats_new(c->so ? qf_out_file(c->so) : NULL, &e);
	if (!c->stats)
		qf_tool_fail(&e);
	/* a record passed through keeps its provenance, the quantized ones
	 * get this tool's (lib/qplan.c) */
	o->w.provenance = QF_PROV_KEEP;
	c->w = qf_writer_open(o->output, &o->w, &e);
	if (!c->w)
		qf_tool_fail(&e);
	c->wt = qf_wthread_start(c->w, o->p.threads > 1, &e);
	if (!c->wt)
		qf_tool_fail(&e);
}

int main(int argc, char **argv)
{
	static struct opts o;
	struct ctx c = { &o, NULL, NULL, NULL, NULL, NULL, -1 };
	qf_err e;

	qf_blas_init(argc, argv, 0);	/* the kernels its provenance names */
	qf_tool_init("qf-quantize");
	qf_qplan_init(&o.p);
	parse_args(argc, argv, &o);
	open_all(&c, optind < argc ? argv[optind] : "-");
	if (run(&c, &e) < 0) {
		abort_outputs(&c);
		qf_tool_fail(&e);
	}
	if (c.n_layer < 0)
		check_layers(&c, qf_qstats_layers(c.stats), "the stream");
	if (qf_qplan_check_matches(&o.p, &e) < 0) {
		abort_outputs(&c);
		qf_tool_usage_error("%s", e.msg);
	}
	if (qf_writer_close(c.w, &e) < 0) {
		if (c.so)
			qf_out_abort(c.so);
		qf_tool_fail(&e);
	}
	qf_qstats_finish(c.stats);
	if (c.so && qf_out_commit(c.so, &e) < 0)
		qf_tool_fail(&e);
	if (o.verbose)
		summary(c.stats);
	qf_qstats_free(c.stats);
	qf_reader_close(c.r);
	qf_qplan_free(&o.p);
	qf_tool_close_stdout();
	return QF_EXIT_OK;
}
