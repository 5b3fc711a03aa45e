/*
 * qf-quantize - fake-quantize the weights of a weight stream.
 *
 * Reads a stream (formats/weights.md), quantizes the chosen tensors and
 * writes them back dequantized to f32, with attributes saying how; every
 * other record passes through with its header and payload unchanged.
 * Optionally writes the integer codes and scales as records of their own
 * and per-tensor and per-layer statistics as TSV.  Memory: records
 * stream through a chunk at a time, and a tensor quantized per channel
 * or group a run of rows at a time when the input is a regular file
 * (read twice); otherwise one tensor is held (docs/quantize.md, "Memory
 * and threads").  See docs/man/qf-quantize.1.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	"      --protect-channels FRAC  of each linear weight [out, in] quantized,\n"
	"                         keep the fraction FRAC (0..1) of its input columns\n"
	"                         with the largest salience in full precision\n"
	"      --protect-channels-budget F  the same, the columns per tensor chosen\n"
	"                         so that F of all those linears' weights are kept\n"
	"      --channel-stats FILE  the input channels' statistics (qf-act\n"
	"                         --channel-stats) that --protect-channels ranks by\n"
	"      --salience S       absmean (mean |x|, default), rms or absmax\n"
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
	"  qf-quantize -s q8_0 --emit-codes weights.qft | qf-cat -l\n"
	"  qf-quantize -b 3 -g 64 --protect-channels-budget 0.25 --channel-stats chan.qft -o w3c.qft weights.qft\n";

struct opts {
	qf_qplan p;
	int scheme_set, bits_set, sym_set, gran_set, clip_set, round_set,
	    seed_set, include_set;
	int verbose;
	const char *input, *output, *stats;
	const char *chan_stats;	/* --channel-stats */
	int chan_frac_set, chan_budget_set, salience_set;
	qf_wopts w;
};

/* ------------------------------------------------------------ option values */

/* Misuse exits 2 with "OPTION: what is wrong". */

/* The first len bytes of s as a word for a name lookup (cut at size - 1:
 * no name is that long). */
static void word(char *buf, size_t size, const char *s, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(buf, s, len);
	buf[len] = 0;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		qf_tool_die(QF_EXIT_DATA, "out of memory");
	return d;
}

/* "attn_qkv,mlp_in" (or "all") as a kind set. */
static unsigned parse_kinds(const char *opt, const char *s)
{
	unsigned set = 0;
	char name[32];

	if (strcmp(s, "all") == 0)
		return (1u << QF_QKINDS) - 1;
	while (*s) {
		size_t len = strcspn(s, ",");
		int k;

		word(name, sizeof name, s, len);
		k = qf_qkind_parse(name);
		if (k < 0)
			qf_tool_usage_error("%s: unknown kind '%.*s' (tok_emb, "
					    "pos_emb, ln_weight, ln_bias, attn_qkv, "
					    "attn_out, mlp_in, mlp_out, bias, head)",
					    opt, (int)len, s);
		set |= 1u << k;
		s += len;
		if (*s == ',' && !*++s)
			qf_tool_usage_error("%s: empty item in the list", opt);
	}
	if (!set)
		qf_tool_usage_error("%s: empty list", opt);
	return set;
}

/* INT bits, 2..8. */
static int parse_bits(const char *opt, const char *s)
{
	uint64_t v = qf_tool_parse_count(opt, s, 64);

	if (v < 2 || v > 8)
		qf_tool_usage_error("%s: bits %" PRIu64 " out of range 2..8", opt, v);
	return (int)v;
}

static int parse_layer(const char *opt, const char *s)
{
	return (int)qf_tool_parse_count(opt, s, QF_QMAX_LAYERS - 1);
}

/* --protect-layers "0,9,11". */
static void protect_layers(qf_qplan *p, const char *list)
{
	char *copy = xstrdup(list), *save = NULL, *tok;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		qf_qplan_protect_layer(p, parse_layer("--protect-layers", tok));
	free(copy);
	if (!p->prot_layers_max)
		qf_tool_usage_error("--protect-layers: empty list");
}

/* A --bits-map file with newlines as commas and comments dropped; at
 * most QF_QMAP_MAX bytes. */
static char *read_map_file(const char *path)
{
	char *text;
	qf_err e;

	if (qf_qmap_read(path, &text, &e) < 0)
		qf_tool_usage_error("--bits-map: %s", e.msg);
	return text;
}

/* One KEY=BITS of a --bits-map: "default" or a layer. */
static void map_item(qf_qplan *p, char *item)
{
	char *eq = strchr(item, '=');
	int bits;

	if (!eq)
		qf_tool_usage_error("--bits-map: '%s' is not KEY=BITS", item);
	*eq = 0;
	bits = parse_bits("--bits-map", eq + 1);
	qf_qplan_map_bits(p, strcmp(item, "default") == 0 ? -1 :
			  parse_layer("--bits-map", item), bits);
}

/* --bits-map "default=4,0=8,11=8" (commas or newlines, '#' comments), or
 * "@FILE" holding the same. */
static void bits_map(qf_qplan *p, const char *map)
{
	char *text = map[0] == '@' ? read_map_file(map + 1) : xstrdup(map);
	char *save = NULL, *tok;

	for (tok = strtok_r(text, ", \t\r", &save); tok;
	     tok = strtok_r(NULL, ", \t\r", &save))
		map_item(p, tok);
	free(text);
	if (!p->map_default && !p->bits_map_max)
		qf_tool_usage_error("--bits-map: empty map");
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
	qf_qspec *q = &o->p.q;
	qf_err e;

	word(name, sizeof name, s, colon ? (size_t)(colon - s) : strlen(s));
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

/* --protect-channels FRAC, --protect-channels-budget F: in [0, 1]. */
static void protect_channels(struct opts *o, const char *opt, const char *s,
			     int budget)
{
	double v;
	qf_err e;

	if (qf_parse_double(s, &v, &e) < 0 || !(v >= 0 && v <= 1))
		qf_tool_usage_error("%s: '%s' is not a fraction in [0, 1]", opt, s);
	if ((budget ? o->chan_frac_set : o->chan_budget_set))
		qf_tool_usage_error("--protect-channels and --protect-channels-budget "
				    "exclude each other");
	o->p.chan_frac = v;
	o->p.chan_budget = budget;
	*(budget ? &o->chan_budget_set : &o->chan_frac_set) = 1;
}

/* What channel protection needs: statistics, a scheme with scalar
 * units. */
static void check_channels(const struct opts *o)
{
	const qf_qplan *p = &o->p;
	int on = o->chan_frac_set || o->chan_budget_set;

	if (on && !o->chan_stats)
		qf_tool_usage_error("--protect-channels needs --channel-stats FILE "
				    "(qf-act --channel-stats)");
	if (!on && o->chan_stats)
		qf_tool_usage_error("--channel-stats is for --protect-channels or "
				    "--protect-channels-budget");
	if (!on && o->salience_set)
		qf_tool_usage_error("--salience is for --protect-channels or "
				    "--protect-channels-budget");
	if (on && (p->q.scheme == QF_QS_Q8_0 || p->q.scheme == QF_QS_Q4_0))
		qf_tool_usage_error("--protect-channels: %s's blocks of 32 cannot "
				    "keep columns (int, fp4, nf4, --compat)",
				    qf_qscheme_name(p->q.scheme));
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
	if (qf_qspec_check(&p->q, &e) < 0)
		qf_tool_usage_error("%s", e.msg);
	if (!o->include_set)
		p->include = QF_QKINDS_LINEAR;
	p->threads = qf_tool_threads(jopt, &e);
	if (p->threads < 0)
		qf_tool_usage_error("%s", e.msg);
	o->w.threads = p->threads;	/* compression too */
}

static void parse_args(int argc, char **argv, void *arg)
{
	struct opts *o = arg;
	enum { O_SYM = 256, O_ASYM, O_ROUND, O_SEED, O_COMPAT, O_ALLW,
	       O_PLAYERS, O_PKIND, O_PNAME, O_BITSMAP, O_NONFINITE, O_EMIT,
	       O_STATS, O_LEVEL, O_SHUFFLE, O_NO_SHUFFLE, O_PCHAN, O_PCHANB,
	       O_CHANSTATS, O_SALIENCE };
	static const struct option longs[] = {
		{ "scheme", required_argument, NULL, 's' },
		{ "bits", required_argument, NULL, 'b' },
		{ "sym", no_argument, NULL, O_SYM },
		{ "asym", no_argument, NULL, O_ASYM },
		{ "granularity", required_argument, NULL, 'g' },
		{ "clip", required_argument, NULL, 'c' },
		{ "round", required_argument, NULL, O_ROUND },
		{ "seed", required_argument, NULL, O_SEED },
		{ "compat", no_argument, NULL, O_COMPAT },
		{ "include", required_argument, NULL, 'k' },
		{ "all-weights", no_argument, NULL, O_ALLW },
		{ "include-name", required_argument, NULL, 'n' },
		{ "protect-layers", required_argument, NULL, O_PLAYERS },
		{ "protect-kind", required_argument, NULL, O_PKIND },
		{ "protect-name", required_argument, NULL, O_PNAME },
		{ "protect-channels", required_argument, NULL, O_PCHAN },
		{ "protect-channels-budget", required_argument, NULL, O_PCHANB },
		{ "channel-stats", required_argument, NULL, O_CHANSTATS },
		{ "salience", required_argument, NULL, O_SALIENCE },
		{ "bits-map", required_argument, NULL, O_BITSMAP },
		{ "nonfinite", required_argument, NULL, O_NONFINITE },
		{ "output", required_argument, NULL, 'o' },
		{ "emit-codes", no_argument, NULL, O_EMIT },
		{ "stats", required_argument, NULL, O_STATS },
		{ "level", required_argument, NULL, O_LEVEL },
		{ "shuffle", no_argument, NULL, O_SHUFFLE },
		{ "no-shuffle", no_argument, NULL, O_NO_SHUFFLE },
		{ "jobs", required_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		QF_OPT_END
	};
	const char *jopt = NULL, *scheme = "int", *round = NULL;
	qf_qplan *p = &o->p;
	int c, bits = 4, sym = 1;

	qf_qplan_init(p);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:b:g:c:k:n:o:j:vh", longs, NULL)) != -1) {
		switch (c) {
		case 's': scheme = optarg; o->scheme_set = 1; break;
		case 'b': bits = parse_bits("--bits", optarg); o->bits_set = 1; break;
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
			if (strcmp(optarg, "all") != 0)	/* each must match */
				p->include_named |= parse_kinds("--include", optarg);
			o->include_set = 1;
			break;
		case O_ALLW: p->include |= QF_QKINDS_WEIGHTS; o->include_set = 1; break;
		case 'n': add_name(o, 0, optarg); break;
		case O_PLAYERS: protect_layers(p, optarg); break;
		case O_PKIND: p->prot_kind |= parse_kinds("--protect-kind", optarg); break;
		case O_PNAME: add_name(o, 1, optarg); break;
		case O_PCHAN:
			protect_channels(o, "--protect-channels", optarg, 0);
			break;
		case O_PCHANB:
			protect_channels(o, "--protect-channels-budget", optarg, 1);
			break;
		case O_CHANSTATS: o->chan_stats = optarg; break;
		case O_SALIENCE:
			if (!(p->salience = qf_qsalience_parse(optarg)))
				qf_tool_usage_error("unknown --salience '%s' (absmean, "
						    "rms, absmax)", optarg);
			o->salience_set = 1;
			break;
		case O_BITSMAP: bits_map(p, optarg); break;
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
	o->input = optind < argc ? argv[optind] : "-";
	resolve_spec(o, scheme, bits, sym);
	finish_args(o, round, jopt);
	check_channels(o);
	if (!p->salience)
		p->salience = QF_QSAL_ABSMEAN;
	qf_tool_distinct_outputs((const char *[]){ "-o", "--stats" },
				 (const char *[]){ o->output ? o->output : "-",
						   o->stats }, 2);
}

static void opts_free(void *arg)
{
	struct opts *o = arg;

	qf_qplan_free(&o->p);
}

/* ------------------------------------------------------------ records */

struct ctx {
	struct opts *o;
	qf_reader *r;
	qf_reader *again;	/* the input read a second time, or NULL */
	FILE *againf;		/* its file, for standard input */
	qf_rec arec;		/* its record */
	qf_out *so;		/* --stats */
	qf_qstats *stats;
	qf_writer *w;
	qf_wthread *wt;
	int n_layer;		/* from the config record; -1 unknown */
	int misuse;		/* the error is a usage error (exit 2) */
};

/* Layers the options name that the model lacks: a usage error. */
static int check_layers(struct ctx *c, int n_layer, const char *src, qf_err *e)
{
	if (qf_qplan_check_layers(&c->o->p, n_layer, src, e) < 0) {
		c->misuse = 1;
		return -1;
	}
	return 0;
}

static int process(struct ctx *c, const qf_rec *rec, qf_err *e)
{
	int n_layer = qf_qconfig_layers(rec), rc;

	if (n_layer >= 0) {
		c->n_layer = n_layer;
		if (check_layers(c, n_layer, "the model", e) < 0 ||
		    qf_qchan_check_layers(&c->o->p, n_layer,
					  qf_reader_name(c->r), e) < 0)
			return -1;
	}
	if (c->again && (rc = qf_reader_next(c->again, &c->arec, e)) != 1)
		return rc < 0 ? -1 : qf_err_set(e, "%s: changed while read",
						qf_reader_name(c->r));
	return qf_qplan_stream(&c->o->p, c->r, c->again, rec, c->wt, c->stats,
			       e);
}

/* Every record through, and the writer thread finished; -1 on error. */
static int quantize_all(struct ctx *c, qf_err *e)
{
	qf_progress prog;
	qf_rec rec;
	qf_err e2;
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
	if (qf_wthread_finish(c->wt, c->misuse ? &e2 : e) < 0)
		rc = -1;
	c->wt = NULL;
	qf_rec_free(&rec);
	return rc;
}

/* After the stream: the layers and protection items the options name
 * must all have been there (usage errors). */
static int check_plan(struct ctx *c, qf_err *e)
{
	if (c->n_layer < 0 &&
	    check_layers(c, qf_qstats_layers(c->stats), "the stream", e) < 0)
		return -1;
	if (qf_qplan_check_matches(&c->o->p, e) < 0) {
		c->misuse = 1;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ run */

static void summary(const qf_qstats *s, int chan)
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
	if (chan)
		fprintf(stderr, "%s: kept the most salient input channels' %" PRIu64
			" weights in full precision: %.4f%% of the %" PRIu64
			" weights of the %" PRIu64 " linears quantized\n",
			qf_tool_name(), t.chan_kept, t.chan_numel ?
			100.0 * (double)t.chan_kept / (double)t.chan_numel : 0.0,
			t.chan_numel, t.nchan);
}

/* The input opened a second time when it is a regular file (standard
 * input at its offset), for the quantizer's first pass; else NULL. */
static void open_again(struct ctx *c)
{
	const char *in = c->o->input;
	struct stat st;
	qf_err e;
	off_t at;
	int fd;

	if (strcmp(in, "-") != 0) {
		if (stat(in, &st) == 0 && S_ISREG(st.st_mode))
			c->again = qf_reader_open(in, &e);
		return;
	}
	if (fstat(0, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (at = lseek(0, 0, SEEK_CUR)) < 0 ||
	    (fd = open("/proc/self/fd/0", O_RDONLY)) < 0)
		return;
	if (lseek(fd, at, SEEK_SET) != at || !(c->againf = fdopen(fd, "rb"))) {
		close(fd);
		return;
	}
	c->again = qf_reader_fopen(c->againf, "<stdin>", &e);
}

/* The input, the statistics and the output with its writer thread. */
static int open_all(struct ctx *c, qf_err *e)
{
	struct opts *o = c->o;

	if (o->chan_stats && !(o->p.chan = qf_qchan_load(o->chan_stats, e)))
		return -1;
	c->r = qf_reader_open(o->input, e);
	if (!c->r)
		return -1;
	open_again(c);
	if (o->stats && !(c->so = qf_out_open(o->stats, e)))
		return -1;
	c->stats = o->chan_stats ?
		qf_qstats_new_chan(c->so ? qf_out_file(c->so) : NULL, e) :
		qf_qstats_new(c->so ? qf_out_file(c->so) : NULL, e);
	if (!c->stats)
		return -1;
	/* a record passed through keeps its provenance, the quantized ones
	 * get this tool's (lib/quant/qapply.c) */
	o->w.provenance = QF_PROV_KEEP;
	c->w = qf_writer_open(o->output, &o->w, e);
	if (!c->w)
		return -1;
	c->wt = qf_wthread_start(c->w, o->p.threads > 1, e);
	return c->wt ? 0 : -1;
}

/* Open, quantize every record, close: 0, or -1 with the error in e
 * (a misuse found in the stream exits 2 here, after the clean-up). */
static int run(void *arg, qf_err *e)
{
	struct opts *o = arg;
	struct ctx c = { o, NULL, NULL, NULL, { 0 }, NULL, NULL, NULL, NULL, -1, 0 };
	qf_writer *w;
	qf_out *so;
	qf_err e2;
	int rc = -1;

	if (open_all(&c, e) < 0 || quantize_all(&c, e) < 0 ||
	    check_plan(&c, e) < 0)
		goto out;
	w = c.w;
	c.w = NULL;
	if (qf_writer_close(w, e) < 0)
		goto out;
	qf_qstats_finish(c.stats);
	so = c.so;
	c.so = NULL;
	if (so && qf_out_commit(so, e) < 0)
		goto out;
	if (o->verbose)
		summary(c.stats, o->chan_stats != NULL);
	rc = 0;
out:
	if (c.wt)
		qf_wthread_finish(c.wt, &e2);
	qf_writer_abort(c.w);
	qf_out_abort(c.so);
	qf_qstats_free(c.stats);
	qf_reader_close(c.r);
	qf_reader_close(c.again);
	if (c.againf)
		fclose(c.againf);
	qf_rec_free(&c.arec);
	if (rc < 0 && c.misuse)
		qf_tool_usage_error("%s", e->msg);
	return rc;
}

int main(int argc, char **argv)
{
	/* not QF_START_VERBOSE: -v is the summary, not OpenBLAS's choice */
	static const qf_tool_def tool = {
		"qf-quantize", 0, parse_args, run, opts_free
	};
	struct opts o = { 0 };

	return qf_tool_main(&tool, &o, argc, argv);
}
