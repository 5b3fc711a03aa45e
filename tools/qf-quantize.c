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
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	"      --level N          zstd level (default 3)\n"
	"      --shuffle          byte-shuffle filter\n"
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

static const char *const kinds[] = {
	"tok_emb", "pos_emb", "ln_weight", "ln_bias", "attn_qkv", "attn_out",
	"mlp_in", "mlp_out", "bias", "head",
};
#define NKINDS (int)(sizeof kinds / sizeof *kinds)
#define LINEAR_KINDS 0x0f0u	/* attn_qkv, attn_out, mlp_in, mlp_out */
#define WEIGHT_KINDS 0x2f7u	/* the linears, tok/pos_emb, ln_weight, head */

#define MAX_LAYERS 4096

enum nonfinite { NF_ERROR, NF_ZERO, NF_KEEP };

struct opts {
	qf_qspec q;
	int scheme_set, bits_set, sym_set, gran_set, clip_set, round_set,
	    seed_set, compat;
	unsigned include;		/* kinds, as bits */
	int include_set;
	char **names;
	int nnames;
	/* protection, with how many tensors each item matched */
	int prot_layer[MAX_LAYERS];	/* 0 no, 1 yes */
	uint64_t prot_layer_hits[MAX_LAYERS];
	int prot_layers_max;		/* highest protected layer + 1 */
	unsigned prot_kind;
	uint64_t prot_kind_hits[NKINDS];
	char **pnames;
	int npnames;
	uint64_t *pname_hits;
	/* --bits-map */
	int bits_of[MAX_LAYERS];	/* 0: the default */
	int bits_map_max;
	int map_default;
	enum nonfinite nonfinite;
	int emit_codes, verbose, threads;
	const char *output, *stats;
	qf_wopts w;
};

/* ------------------------------------------------------------ options */

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		qf_tool_die(1, "out of memory");
	return p;
}

static int kind_index(const char *s, size_t len)
{
	for (int i = 0; i < NKINDS; i++)
		if (strlen(kinds[i]) == len && strncmp(kinds[i], s, len) == 0)
			return i;
	return -1;
}

/* "a,b,c" of kind names into a bit set ("all": every kind). */
static unsigned parse_kinds(const char *opt, const char *s)
{
	unsigned set = 0;

	if (strcmp(s, "all") == 0)
		return (1u << NKINDS) - 1;
	while (*s) {
		size_t len = strcspn(s, ",");
		int k = kind_index(s, len);
		if (k < 0)
			qf_tool_usage_error("%s: unknown kind '%.*s' (tok_emb, pos_emb, "
					    "ln_weight, ln_bias, attn_qkv, attn_out, "
					    "mlp_in, mlp_out, bias, head)", opt,
					    (int)len, s);
		set |= 1u << k;
		s += len;
		if (*s == ',' && !*++s)
			qf_tool_usage_error("%s: empty item in the list", opt);
	}
	if (!set)
		qf_tool_usage_error("%s: empty list", opt);
	return set;
}

static uint64_t parse_count(const char *opt, const char *s, uint64_t max)
{
	qf_err e;
	uint64_t v;

	if (qf_parse_u64(s, max, &v, &e) < 0)
		qf_tool_usage_error("%s: %s", opt, e.msg);
	return v;
}

static void parse_layers(struct opts *o, const char *s)
{
	char *copy = strdup(s), *save = NULL, *tok;

	if (!copy)
		qf_tool_die(1, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t l = parse_count("--protect-layers", tok, MAX_LAYERS - 1);
		o->prot_layer[l] = 1;
		if ((int)l + 1 > o->prot_layers_max)
			o->prot_layers_max = (int)l + 1;
	}
	free(copy);
	if (!o->prot_layers_max)
		qf_tool_usage_error("--protect-layers: empty list");
}

static int parse_bits(const char *what, const char *s)
{
	qf_err e;
	uint64_t v;

	if (qf_parse_u64(s, 64, &v, &e) < 0)
		qf_tool_usage_error("%s: %s", what, e.msg);
	if (v < 2 || v > 8)
		qf_tool_usage_error("%s: bits %" PRIu64 " out of range 2..8", what, v);
	return (int)v;
}

/* 'default=4,0=8,11=8' (commas or newlines; '#' starts a comment), or
 * @FILE holding the same. */
static void parse_bits_map(struct opts *o, const char *arg)
{
	char *text, *save = NULL, *tok;

	if (arg[0] == '@') {
		FILE *f = fopen(arg + 1, "r");
		size_t len = 0, cap = 0;
		int c;
		if (!f)
			qf_tool_usage_error("--bits-map: %s: %s", arg + 1, strerror(errno));
		text = NULL;
		while ((c = getc(f)) != EOF) {
			if (c == '#')
				while ((c = getc(f)) != EOF && c != '\n')
					;
			if (c == EOF)
				break;
			if (len + 2 > cap)
				text = xrealloc(text, cap = cap ? 2 * cap : 256);
			text[len++] = (char)(c == '\n' ? ',' : c);
		}
		fclose(f);
		text = xrealloc(text, len + 1);
		text[len] = 0;
	} else if (!(text = strdup(arg))) {
		qf_tool_die(1, "out of memory");
	}
	for (tok = strtok_r(text, ", \t\r", &save); tok;
	     tok = strtok_r(NULL, ", \t\r", &save)) {
		char *eq = strchr(tok, '=');
		int bits;
		if (!eq)
			qf_tool_usage_error("--bits-map: '%s' is not KEY=BITS", tok);
		*eq = 0;
		bits = parse_bits("--bits-map", eq + 1);
		if (strcmp(tok, "default") == 0) {
			o->map_default = bits;
		} else {
			uint64_t l = parse_count("--bits-map", tok, MAX_LAYERS - 1);
			o->bits_of[l] = bits;
			if ((int)l + 1 > o->bits_map_max)
				o->bits_map_max = (int)l + 1;
		}
	}
	free(text);
	if (!o->map_default && !o->bits_map_max)
		qf_tool_usage_error("--bits-map: empty map");
}

static void parse_gran(struct opts *o, const char *s)
{
	if (strcmp(s, "tensor") == 0) {
		o->q.gran = QF_QG_TENSOR;
	} else if (strcmp(s, "channel") == 0) {
		o->q.gran = QF_QG_CHANNEL;
	} else {
		o->q.group = parse_count("--granularity", s, UINT32_MAX);
		if (o->q.group == 0)
			qf_tool_usage_error("--granularity: group size must be at least 1");
		o->q.gran = QF_QG_GROUP;
	}
	o->gran_set = 1;
}

static void parse_clip(struct opts *o, const char *s)
{
	const char *colon = strchr(s, ':');
	char name[32];
	size_t len = colon ? (size_t)(colon - s) : strlen(s);
	qf_err e;

	if (len >= sizeof name)
		len = sizeof name - 1;
	memcpy(name, s, len);
	name[len] = 0;
	o->q.clip = qf_qclip_parse(name);
	if (!o->q.clip)
		qf_tool_usage_error("unknown clipping '%s' (none, percentile:P, "
				    "aciq_gauss, aciq_laplace, mse)", s);
	if (o->q.clip == QF_QC_PERCENTILE) {
		if (!colon)
			qf_tool_usage_error("--clip percentile needs a value, e.g. "
					    "percentile:99.9");
		if (qf_parse_double(colon + 1, &o->q.pct, &e) < 0)
			qf_tool_usage_error("--clip: %s", e.msg);
		if (!(o->q.pct > 0 && o->q.pct <= 100))
			qf_tool_usage_error("--clip: percentile %s out of range (0, 100]",
					    colon + 1);
	} else if (colon) {
		qf_tool_usage_error("--clip %s takes no value", name);
	}
	o->clip_set = 1;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_SYM = 256, O_ASYM, O_ROUND, O_SEED, O_COMPAT, O_ALLW,
	       O_PLAYERS, O_PKIND, O_PNAME, O_BITSMAP, O_NONFINITE, O_EMIT,
	       O_STATS, O_LEVEL, O_SHUFFLE, O_VERSION };
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
		{ "jobs", required_argument, 0, 'j' },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, O_VERSION },
		{ 0, 0, 0, 0 },
	};
	const char *jopt = NULL, *scheme = "int", *round = NULL;
	qf_err e;
	int c, bits = 4, sym = 1;
	uint64_t v;

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
			o->q.seed = parse_count("--seed", optarg, UINT64_MAX);
			o->seed_set = 1;
			break;
		case O_COMPAT: o->compat = 1; break;
		case 'k':
			o->include |= parse_kinds("--include", optarg);
			o->include_set = 1;
			break;
		case O_ALLW: o->include |= WEIGHT_KINDS; o->include_set = 1; break;
		case 'n':
			o->names = xrealloc(o->names, (size_t)(o->nnames + 1) * sizeof *o->names);
			o->names[o->nnames++] = optarg;
			o->include_set = 1;
			break;
		case O_PLAYERS: parse_layers(o, optarg); break;
		case O_PKIND: o->prot_kind |= parse_kinds("--protect-kind", optarg); break;
		case O_PNAME:
			o->pnames = xrealloc(o->pnames, (size_t)(o->npnames + 1) * sizeof *o->pnames);
			o->pnames[o->npnames++] = optarg;
			break;
		case O_BITSMAP: parse_bits_map(o, optarg); break;
		case O_NONFINITE:
			if (strcmp(optarg, "error") == 0)
				o->nonfinite = NF_ERROR;
			else if (strcmp(optarg, "zero") == 0)
				o->nonfinite = NF_ZERO;
			else if (strcmp(optarg, "keep") == 0)
				o->nonfinite = NF_KEEP;
			else
				qf_tool_usage_error("unknown --nonfinite policy '%s' "
						    "(error, zero, keep)", optarg);
			break;
		case 'o': o->output = optarg; break;
		case O_EMIT: o->emit_codes = 1; break;
		case O_STATS: o->stats = optarg; break;
		case O_LEVEL:
			v = parse_count("--level", optarg, 22);
			if (v == 0)
				qf_tool_usage_error("--level: must be 1..22");
			o->w.level = (int)v;
			break;
		case O_SHUFFLE: o->w.shuffle = 1; break;
		case 'j': jopt = optarg; break;
		case 'v': o->verbose = 1; break;
		case 'h':
			fputs(usage, stdout);
			qf_tool_close_stdout();
			exit(0);
		case O_VERSION:
			printf("qf-quantize (qf) %s\n", QF_VERSION_STRING);
			qf_tool_close_stdout();
			exit(0);
		case ':':
			if (optopt)
				qf_tool_usage_error("option '-%c' needs a value", optopt);
			qf_tool_usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				qf_tool_usage_error("unknown option '-%c'", optopt);
			qf_tool_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		qf_tool_usage_error("one input at most (got %d)", argc - optind);

	/* the scheme and its defaults, then what was given */
	{
		qf_qspec given = o->q;
		int s = o->compat ? QF_QS_COMPAT : qf_qscheme_parse(scheme);
		if (!s || s == QF_QS_COMPAT) {
			if (!o->compat)
				qf_tool_usage_error("unknown scheme '%s' (int, fp4, nf4, "
						    "q8_0, q4_0)", scheme);
		}
		if (o->compat && (o->scheme_set || o->bits_set || o->sym_set ||
				  o->gran_set || o->clip_set || o->round_set ||
				  o->include_set || o->map_default || o->bits_map_max))
			qf_tool_usage_error("--compat fixes the scheme and what is "
					    "quantized; drop the other scheme and "
					    "selection options");
		qf_qspec_default(&o->q, s);
		if (o->gran_set) {
			o->q.gran = given.gran;
			o->q.group = given.group;
		}
		if (o->clip_set) {
			o->q.clip = given.clip;
			o->q.pct = given.pct;
		}
		o->q.seed = given.seed;
		if (o->bits_set)
			o->q.bits = bits;
		if (o->sym_set)
			o->q.sym = sym;
	}
	if (round) {
		if (strcmp(round, "nearest") == 0)
			o->q.round = QF_QR_NEAREST;
		else if (strcmp(round, "stochastic") == 0)
			o->q.round = QF_QR_STOCHASTIC;
		else
			qf_tool_usage_error("unknown rounding '%s' (nearest, "
					    "stochastic)", round);
	}
	if (o->q.round == QF_QR_STOCHASTIC && !o->seed_set)
		qf_tool_usage_error("--round stochastic needs an explicit --seed");
	if (o->q.round != QF_QR_STOCHASTIC && o->seed_set)
		qf_tool_usage_error("--seed is for --round stochastic");
	if (o->map_default || o->bits_map_max) {
		if (o->q.scheme != QF_QS_INT)
			qf_tool_usage_error("--bits-map is for the int scheme");
		if (o->bits_set && o->map_default)
			qf_tool_usage_error("both --bits and default= in --bits-map");
		if (o->map_default)
			o->q.bits = o->map_default;
	}
	if (qf_qspec_check(&o->q, &e) < 0)
		qf_tool_usage_error("%s", e.msg);
	if (!o->include_set)
		o->include = LINEAR_KINDS;
	o->pname_hits = calloc((size_t)o->npnames + 1, sizeof *o->pname_hits);
	if (!o->pname_hits)
		qf_tool_die(1, "out of memory");
	o->threads = qf_tool_threads(jopt, &e);
	if (o->threads < 0)
		qf_tool_usage_error("%s", e.msg);
}

/* ------------------------------------------------------------ selection */

enum status { ST_PASS, ST_QUANT, ST_PROTECTED, ST_KEPT };
static const char *const status_names[] = { "pass", "quantized", "protected", "kept" };

static int layer_of(const qf_rec *rec)
{
	const char *l = qf_rec_get(rec, "layer");
	qf_err e;
	uint64_t v;

	if (!l || qf_parse_u64(l, MAX_LAYERS - 1, &v, &e) < 0)
		return -1;
	return (int)v;
}

static int kind_of(const qf_rec *rec)
{
	const char *k = qf_rec_get(rec, "kind");

	return k ? kind_index(k, strlen(k)) : -1;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Quantize, protect, or pass through untouched (not a candidate).
 * Counts each protection item's matches. */
static enum status classify(struct opts *o, const qf_rec *rec)
{
	int kind = kind_of(rec), layer = layer_of(rec), sel = 0, prot = 0;

	if (!qf_dtype_is_float(rec->dtype) || qf_rec_numel(rec) == 0)
		return ST_PASS;
	if (o->compat) {
		sel = ends_with(rec->name, "weight");
	} else {
		sel = kind >= 0 && (o->include >> kind & 1);
		for (int i = 0; i < o->nnames && !sel; i++)
			sel = fnmatch(o->names[i], rec->name, 0) == 0;
	}
	if (!sel)
		return ST_KEPT;
	if (layer >= 0 && layer < MAX_LAYERS && o->prot_layer[layer]) {
		o->prot_layer_hits[layer]++;
		prot = 1;
	}
	if (kind >= 0 && (o->prot_kind >> kind & 1)) {
		o->prot_kind_hits[kind]++;
		prot = 1;
	}
	for (int i = 0; i < o->npnames; i++)
		if (fnmatch(o->pnames[i], rec->name, 0) == 0) {
			o->pname_hits[i]++;
			prot = 1;
		}
	return prot ? ST_PROTECTED : ST_QUANT;
}

/* Layers named by --protect-layers or --bits-map that the model lacks. */
static void check_layers(const struct opts *o, int n_layer, const char *src)
{
	for (int l = n_layer; l < o->prot_layers_max; l++)
		if (o->prot_layer[l])
			qf_tool_usage_error("--protect-layers: no layer %d (%s has %d "
					    "layers)", l, src, n_layer);
	for (int l = n_layer; l < o->bits_map_max; l++)
		if (o->bits_of[l])
			qf_tool_usage_error("--bits-map: no layer %d (%s has %d "
					    "layers)", l, src, n_layer);
}

/* After the stream: every protection item must have matched. */
static int check_matches(const struct opts *o, char *msg, size_t len)
{
	for (int l = 0; l < o->prot_layers_max; l++)
		if (o->prot_layer[l] && !o->prot_layer_hits[l])
			return snprintf(msg, len, "--protect-layers: layer %d matches "
					"no tensor that would be quantized", l), -1;
	for (int k = 0; k < NKINDS; k++)
		if ((o->prot_kind >> k & 1) && !o->prot_kind_hits[k])
			return snprintf(msg, len, "--protect-kind: kind %s matches no "
					"tensor that would be quantized", kinds[k]), -1;
	for (int i = 0; i < o->npnames; i++)
		if (!o->pname_hits[i])
			return snprintf(msg, len, "--protect-name: '%s' matches no "
					"tensor that would be quantized", o->pnames[i]), -1;
	return 0;
}

/* ------------------------------------------------------------ writer thread */

/* Records to write, in order: a job is up to four records. */
struct job {
	int n;
	qf_rec rec[4];
	void *data[4];
};

#define WQ_DEPTH 3	/* jobs waiting: smooths out slow records */

struct wq {
	qf_writer *w;
	int threaded;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *ring[WQ_DEPTH];	/* waiting to be written, in order */
	int head, count;
	int done, failed;
	qf_err err;
};

static void job_free(struct job *j)
{
	for (int i = 0; i < j->n; i++) {
		qf_rec_free(&j->rec[i]);
		free(j->data[i]);
	}
	free(j);
}

static int job_write(qf_writer *w, struct job *j, qf_err *e)
{
	for (int i = 0; i < j->n; i++)
		if (qf_writer_put(w, &j->rec[i], j->data[i], e) < 0)
			return -1;
	return 0;
}

static void *writer_main(void *arg)
{
	struct wq *q = arg;
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (!q->count && !q->done)
			pthread_cond_wait(&q->cv, &q->mu);
		j = NULL;
		if (q->count) {
			j = q->ring[q->head];
			q->head = (q->head + 1) % WQ_DEPTH;
			q->count--;
		}
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
		if (!j)
			return NULL;
		if (!q->failed && job_write(q->w, j, &q->err) < 0) {
			pthread_mutex_lock(&q->mu);
			q->failed = 1;
			pthread_mutex_unlock(&q->mu);
		}
		job_free(j);
	}
}

/* Hand a job over (it is freed in any case). */
static int wq_put(struct wq *q, struct job *j, qf_err *e)
{
	int failed;

	if (!q->threaded) {
		int rc = job_write(q->w, j, e);
		job_free(j);
		return rc;
	}
	pthread_mutex_lock(&q->mu);
	while (q->count == WQ_DEPTH && !q->failed)
		pthread_cond_wait(&q->cv, &q->mu);
	failed = q->failed;
	if (!failed) {
		q->ring[(q->head + q->count) % WQ_DEPTH] = j;
		q->count++;
		pthread_cond_broadcast(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	if (failed) {
		job_free(j);
		*e = q->err;
		return -1;
	}
	return 0;
}

/* Wait for the writer to finish what it holds. */
static int wq_finish(struct wq *q, qf_err *e)
{
	if (!q->threaded)
		return 0;
	pthread_mutex_lock(&q->mu);
	q->done = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->tid, NULL);
	q->threaded = 0;
	while (q->count) {	/* left over after a write error */
		job_free(q->ring[q->head]);
		q->head = (q->head + 1) % WQ_DEPTH;
		q->count--;
	}
	if (q->failed) {
		*e = q->err;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ statistics */

/* One row of the statistics. */
struct row {
	enum status st;
	qf_qspec q;
	qf_wstats ws;
	qf_qres r;
	uint64_t numel, nonfinite, numel_fp, bytes_in, bytes_out, bytes_fp;
};

struct agg {
	struct row sum;		/* quantized tensors pooled */
	int any;
	uint64_t numel_fp, bytes_in, bytes_out, bytes_fp, ntensors, nquant;
};

static struct agg *layer_agg;	/* [MAX_LAYERS] */
static struct agg total_agg;
static int max_layer = -1;

static void agg_add(struct agg *a, const struct row *r)
{
	a->bytes_in += r->bytes_in;
	a->bytes_out += r->bytes_out;
	a->numel_fp += r->numel_fp;
	a->bytes_fp += r->bytes_fp;
	a->ntensors++;
	if (r->st != ST_QUANT) {
		a->any = 1;
		return;
	}
	qf_wstats_merge(&a->sum.ws, &r->ws);
	a->sum.numel += r->numel;
	a->sum.r.sse += r->r.sse;
	a->sum.r.sumsq += r->r.sumsq;
	a->sum.r.clipped += r->r.clipped;
	a->sum.r.pred_gauss += r->r.pred_gauss;
	a->sum.r.pred_laplace += r->r.pred_laplace;
	a->sum.nonfinite += r->nonfinite;
	a->nquant++;
	a->any = 1;
}

static const char tsv_header[] =
	"row\tname\tlayer\tkind\tstatus\tscheme\tbits\tsym\tgran\tgroup\tclip\t"
	"round\tnumel\tmean\tvariance\tkurtosis\tabsmax\toutlier_frac\talpha\t"
	"clipped_frac\tmse\tsqnr_db\trel_fro\taciq_mse_gauss\taciq_mse_laplace\t"
	"nonfinite\tnumel_fp\tbytes_in\tbytes_out\tfp_frac_params\tfp_frac_bytes\n";

static void put_num(FILE *f, double v)
{
	if (isnan(v))
		fputs("\tNA", f);
	else if (isinf(v))
		fputs(v > 0 ? "\tinf" : "\t-inf", f);
	else
		fprintf(f, "\t%.9g", v);
}

static void put_frac(FILE *f, uint64_t a, uint64_t b)
{
	put_num(f, b ? (double)a / (double)b : NAN);
}

/* The columns from numel on. */
static void put_figures(FILE *f, const struct row *r, int quant, double alpha,
			uint64_t numel_fp, uint64_t bytes_in, uint64_t bytes_out,
			uint64_t bytes_fp)
{
	const qf_wstats *w = &r->ws;
	double n = (double)w->n;

	fprintf(f, "\t%" PRIu64, r->numel);
	put_num(f, w->n ? w->mean : NAN);
	put_num(f, qf_wstats_var(w));
	put_num(f, qf_wstats_kurtosis(w));
	put_num(f, w->n ? w->absmax : NAN);
	put_num(f, w->n ? (double)w->outliers / n : NAN);
	put_num(f, alpha);
	if (quant) {
		put_num(f, (double)r->r.clipped / n);
		put_num(f, r->r.sse / n);
		put_num(f, r->r.sse > 0 ? 10 * log10(r->r.sumsq / r->r.sse) :
			r->r.sumsq > 0 ? INFINITY : NAN);
		put_num(f, r->r.sumsq > 0 ? sqrt(r->r.sse / r->r.sumsq) : NAN);
		put_num(f, r->r.pred_gauss / n);
		put_num(f, r->r.pred_laplace / n);
	} else {
		put_num(f, 0);
		put_num(f, 0);
		put_num(f, INFINITY);
		put_num(f, 0);
		put_num(f, NAN);
		put_num(f, NAN);
	}
	fprintf(f, "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64,
		r->nonfinite, numel_fp, bytes_in, bytes_out);
	put_frac(f, numel_fp, (quant ? r->numel : 0) + numel_fp);
	put_frac(f, bytes_fp, bytes_out);
}

static void put_spec(FILE *f, const qf_qspec *q)
{
	fprintf(f, "\t%s\t%d\t%d\t%s\t", qf_qscheme_name(q->scheme), q->bits,
		q->sym, qf_qgran_name(q->gran));
	if (q->gran == QF_QG_GROUP)
		fprintf(f, "%" PRIu64, q->group);
	else
		fputs("NA", f);
	if (q->clip == QF_QC_PERCENTILE)
		fprintf(f, "\tpercentile:%g", q->pct);
	else
		fprintf(f, "\t%s", qf_qclip_name(q->clip));
	fprintf(f, "\t%s", qf_qround_name(q->round));
}

static void tensor_row(FILE *f, const qf_rec *rec, const struct row *r)
{
	const char *kind = qf_rec_get(rec, "kind"), *layer = qf_rec_get(rec, "layer");
	int quant = r->st == ST_QUANT;

	fprintf(f, "tensor\t%s\t%s\t%s\t%s", rec->name, layer ? layer : "NA",
		kind ? kind : "NA", status_names[r->st]);
	if (quant)
		put_spec(f, &r->q);
	else
		fputs("\tNA\tNA\tNA\tNA\tNA\tNA\tNA", f);
	put_figures(f, r, quant, quant && r->r.units ?
		    r->r.alpha_sum / (double)r->r.units : NAN,
		    r->numel_fp, r->bytes_in, r->bytes_out, r->bytes_fp);
	putc('\n', f);
}

static void agg_row(FILE *f, const char *row, const char *name,
		    const char *layer, const struct agg *a)
{
	fprintf(f, "%s\t%s\t%s\tNA\tquantized\tNA\tNA\tNA\tNA\tNA\tNA\tNA", row,
		name, layer);
	put_figures(f, &a->sum, 1, NAN, a->numel_fp, a->bytes_in, a->bytes_out,
		    a->bytes_fp);
	putc('\n', f);
}

/* ------------------------------------------------------------ records */

struct ctx {
	struct opts *o;
	qf_reader *r;
	struct wq wq;
	qf_out *so;		/* --stats */
	FILE *sf;
	int n_layer;		/* from the config record; -1 unknown */
	qf_progress prog;
};

static int set_attr(qf_rec *rec, const char *k, const char *v, qf_err *e)
{
	return qf_rec_set(rec, k, v, e);
}

/* The quant_* attributes of a quantized record (and of its codes). */
static int spec_attrs(qf_rec *out, const qf_qspec *q, qf_err *e)
{
	int rc = 0;

	rc |= set_attr(out, "quant_scheme", qf_qscheme_name(q->scheme), e);
	rc |= qf_rec_setf(out, e, "quant_bits", "%d", q->bits);
	rc |= qf_rec_setf(out, e, "quant_sym", "%d", q->sym);
	rc |= set_attr(out, "quant_gran", qf_qgran_name(q->gran), e);
	if (q->gran == QF_QG_GROUP)
		rc |= qf_rec_setf(out, e, "quant_group", "%" PRIu64, q->group);
	return rc ? -1 : 0;
}

static int quant_attrs(qf_rec *out, const qf_qspec *q, const qf_qres *r,
		       int src_dtype, qf_err *e)
{
	int rc = spec_attrs(out, q, e);

	rc |= set_attr(out, "quant_clip", qf_qclip_name(q->clip), e);
	if (q->clip == QF_QC_PERCENTILE)
		rc |= qf_rec_setf(out, e, "quant_clip_pct", "%.17g", q->pct);
	rc |= qf_rec_setf(out, e, "quant_alpha", "%.9g",
			  r->units ? r->alpha_sum / (double)r->units : 0.0);
	if (q->clip == QF_QC_ACIQ_GAUSS || q->clip == QF_QC_ACIQ_LAPLACE)
		rc |= qf_rec_setf(out, e, "quant_alpha_k", "%.9g", r->alpha_k);
	rc |= set_attr(out, "quant_round", qf_qround_name(q->round), e);
	if (q->round == QF_QR_STOCHASTIC)
		rc |= qf_rec_setf(out, e, "quant_seed", "%" PRIu64, q->seed);
	rc |= set_attr(out, "quant_src_dtype", qf_dtype_name(src_dtype), e);
	return rc ? -1 : 0;
}

/* A record NAME.PART of the codes, scales or zero points. */
static int part_rec(qf_rec *out, const qf_rec *in, const qf_qspec *q,
		    const char *part, int dtype, int ndim, const uint64_t *dims,
		    qf_err *e)
{
	const char *layer = qf_rec_get(in, "layer");
	size_t len = strlen(in->name) + strlen(part) + 2;
	char *name = malloc(len), kind[32];
	int rc;

	if (!name)
		return qf_err_set(e, "out of memory");
	snprintf(name, len, "%s.%s", in->name, part);
	snprintf(kind, sizeof kind, "quant_%s", part);
	qf_rec_init(out);
	rc = qf_rec_set_name(out, name, e);
	free(name);
	if (rc == 0)
		rc = qf_rec_set_shape(out, dtype, ndim, dims, e);
	if (rc == 0)
		rc = set_attr(out, "kind", kind, e);
	if (rc == 0)
		rc = set_attr(out, "quant_of", in->name, e);
	if (rc == 0 && layer)
		rc = set_attr(out, "layer", layer, e);
	if (rc == 0)
		rc = spec_attrs(out, q, e);
	return rc;
}

/* "[i, j]" of a flat index. */
static void index_str(const qf_rec *rec, uint64_t i, char *buf, size_t len)
{
	uint64_t idx[QF_MAX_DIMS];
	size_t at = 0;

	for (int d = rec->ndim - 1; d >= 0; d--) {
		idx[d] = rec->dims[d] ? i % rec->dims[d] : 0;
		i = rec->dims[d] ? i / rec->dims[d] : 0;
	}
	at += (size_t)snprintf(buf, len, "[");
	for (int d = 0; d < rec->ndim && at < len; d++)
		at += (size_t)snprintf(buf + at, len - at, "%s%" PRIu64, d ? ", " : "",
				       idx[d]);
	if (at < len)
		snprintf(buf + at, len - at, "]");
}

/* The payload raw, and as f32 (the same buffer when it is f32). */
static int read_payload(struct ctx *c, const qf_rec *rec, void **raw,
			float **x, qf_err *e)
{
	uint64_t n = qf_rec_numel(rec);
	qf_err e2;

	*raw = NULL;
	*x = NULL;
	if (qf_reader_read_all(c->r, raw, e) < 0)
		return -1;
	if (rec->dtype == QF_F32 || !qf_dtype_is_float(rec->dtype)) {
		*x = *raw;
		return 0;
	}
	if (n > SIZE_MAX / sizeof(float) || !(*x = malloc((size_t)n * sizeof(float))))
		return qf_err_set(e, "%s: record %s: out of memory",
				  qf_reader_name(c->r), rec->name);
	if (qf_convert(QF_F32, *x, rec->dtype, *raw, (size_t)n, &e2) < 0)
		return qf_err_set(e, "%s: record %s: %s", qf_reader_name(c->r),
				  rec->name, e2.msg);
	return 0;
}

static void row_account(struct ctx *c, const qf_rec *rec, struct row *row)
{
	int l = layer_of(rec);

	if (l >= 0) {
		agg_add(&layer_agg[l], row);
		if (l > max_layer)
			max_layer = l;
	}
	agg_add(&total_agg, row);
	if (c->sf)
		tensor_row(c->sf, rec, row);
}

static int quantize_one(struct ctx *c, qf_rec *rec, struct job *j,
			struct row *row, qf_err *e)
{
	struct opts *o = c->o;
	const char *src = qf_reader_name(c->r);
	uint64_t n = qf_rec_numel(rec), cols, rows, units, gpr;
	qf_qspec q = o->q;
	qf_qbuf out = { NULL, NULL, NULL, NULL };
	void *raw;
	float *x;
	int64_t bad;
	int l = layer_of(rec), want = c->sf != NULL, rc;
	qf_err e2;

	if (read_payload(c, rec, &raw, &x, e) < 0)
		goto fail;
	bad = qf_find_nonfinite(x, n, o->threads);
	if (bad >= 0) {
		char where[256];
		index_str(rec, (uint64_t)bad, where, sizeof where);
		if (o->nonfinite == NF_ERROR) {
			qf_err_set(e, "%s: record %s: element %" PRId64 " %s is %s "
				   "(see --nonfinite)", src, rec->name, bad, where,
				   isnan(x[bad]) ? "NaN" : x[bad] > 0 ? "+Inf" : "-Inf");
			goto fail;
		}
		if (o->nonfinite == NF_KEEP) {
			/* full precision, untouched; no figures */
			row->st = ST_PROTECTED;
			for (uint64_t i = (uint64_t)bad; i < n; i++)
				row->nonfinite += !isfinite(x[i]);
			if (x != raw)
				free(x);
			j->data[0] = raw;
			j->n = 1;
			return 1;
		}
		for (uint64_t i = (uint64_t)bad; i < n; i++)
			if (!isfinite(x[i])) {
				x[i] = 0;
				row->nonfinite++;
			}
	}
	if (q.scheme == QF_QS_INT && l >= 0 && l < MAX_LAYERS && o->bits_of[l])
		q.bits = o->bits_of[l];
	cols = rec->ndim ? rec->dims[rec->ndim - 1] : 1;
	rows = n / cols;
	units = qf_qunits(&q, rows, cols);
	if (!units) {
		qf_err_set(e, "%s: record %s: %s needs rows whose length is a "
			   "multiple of 32, not %" PRIu64, src, rec->name,
			   qf_qscheme_name(q.scheme), cols);
		goto fail;
	}
	gpr = q.gran == QF_QG_TENSOR ? 1 : units / rows;
	if (want && qf_wstats_compute(x, n, o->threads, &row->ws, &e2) < 0) {
		qf_err_set(e, "%s: record %s: %s", src, rec->name, e2.msg);
		goto fail;
	}
	/* in place when the input is not needed afterwards */
	out.y = want || x != raw ? malloc((size_t)n * sizeof(float)) : x;
	if (o->emit_codes) {
		out.codes = malloc((size_t)n);
		out.scales = malloc((size_t)units * 4);
		if (q.scheme == QF_QS_INT && !q.sym)
			out.zeros = malloc((size_t)units * sizeof *out.zeros);
	}
	if (!out.y || (o->emit_codes && (!out.codes || !out.scales ||
	    (q.scheme == QF_QS_INT && !q.sym && !out.zeros)))) {
		qf_err_set(e, "%s: record %s: out of memory", src, rec->name);
		goto fail_out;
	}
	if (qf_quantize(&q, x, rows, cols, qf_qkey(q.seed, rec->name), &out,
			want, &row->r, o->threads, &e2) < 0) {
		qf_err_set(e, "%s: record %s: %s", src, rec->name, e2.msg);
		goto fail_out;
	}
	row->st = ST_QUANT;
	row->q = q;
	row->bytes_out = qf_qstored_bytes(&q, rows, cols);

	/* the records: the tensor, then codes, scales, zero points */
	rc = qf_rec_copy(&j->rec[0], rec, e);
	if (rc == 0)
		rc = qf_rec_set_shape(&j->rec[0], QF_F32, rec->ndim, rec->dims, e);
	if (rc == 0)
		rc = quant_attrs(&j->rec[0], &q, &row->r, rec->dtype, e);
	j->data[0] = out.y;
	j->n = 1;
	out.y = NULL;
	if (rc == 0 && o->emit_codes) {
		uint64_t sd[2] = { q.gran == QF_QG_TENSOR ? 1 : rows, gpr };
		rc = part_rec(&j->rec[1], rec, &q, "codes", qf_qcodes_dtype(&q),
			      rec->ndim, rec->dims, e);
		j->data[1] = out.codes;
		j->n = 2;
		if (rc == 0)
			rc = part_rec(&j->rec[2], rec, &q, "scales",
				      qf_qscales_dtype(&q), 2, sd, e);
		j->data[2] = out.scales;
		j->n = 3;
		if (rc == 0 && out.zeros) {
			rc = part_rec(&j->rec[3], rec, &q, "zeros", QF_I32, 2, sd, e);
			j->data[3] = out.zeros;
			j->n = 4;
		} else {
			free(out.zeros);
		}
		out.codes = out.scales = NULL;
		out.zeros = NULL;
	}
	if (x != raw)
		free(x);
	if (j->data[0] != raw)
		free(raw);
	if (rc < 0)
		return -1;
	return 0;
fail_out:
	if (out.y != x)
		free(out.y);
	free(out.codes);
	free(out.scales);
	free(out.zeros);
fail:
	if (x != raw)
		free(x);
	free(raw);
	return -1;
}

static int process(struct ctx *c, qf_rec *rec, qf_err *e)
{
	struct opts *o = c->o;
	struct job *j = calloc(1, sizeof *j);
	struct row row;
	enum status st;
	const char *kind = qf_rec_get(rec, "kind");

	if (!j)
		return qf_err_set(e, "out of memory");
	for (int i = 0; i < 4; i++)
		qf_rec_init(&j->rec[i]);
	if ((kind && strcmp(kind, "config") == 0) || strcmp(rec->name, "config") == 0) {
		const char *nl = qf_rec_get(rec, "n_layer");
		uint64_t v;
		qf_err e2;
		if (nl && qf_parse_u64(nl, MAX_LAYERS, &v, &e2) == 0) {
			c->n_layer = (int)v;
			check_layers(o, c->n_layer, "the model");
		}
	}
	memset(&row, 0, sizeof row);
	qf_wstats_init(&row.ws);
	st = classify(o, rec);
	row.bytes_in = qf_rec_nbytes(rec);
	row.numel = qf_rec_numel(rec);
	if (st == ST_QUANT) {
		int rc = quantize_one(c, rec, j, &row, e);
		if (rc < 0) {
			job_free(j);
			return -1;
		}
		if (rc == 1) {	/* --nonfinite keep */
			st = row.st;
			if (qf_rec_copy(&j->rec[0], rec, e) < 0) {
				job_free(j);
				return -1;
			}
		}
	} else {
		void *raw = NULL;
		float *x = NULL;

		if (qf_rec_copy(&j->rec[0], rec, e) < 0) {
			job_free(j);
			return -1;
		}
		if (st != ST_PASS && c->sf) {
			qf_err e2;
			if (read_payload(c, rec, &raw, &x, e) < 0 ||
			    qf_wstats_compute(x, qf_rec_numel(rec), o->threads,
					      &row.ws, &e2) < 0) {
				if (x && x != raw)
					free(x);
				free(raw);
				job_free(j);
				return x ? qf_err_set(e, "out of memory") : -1;
			}
			if (x != raw)
				free(x);
		} else if (qf_reader_read_all(c->r, &raw, e) < 0) {
			job_free(j);
			return -1;
		}
		j->data[0] = raw;
		j->n = 1;
	}
	if (st != ST_PASS && st != ST_QUANT) {
		row.st = st;
		row.numel_fp = qf_rec_numel(rec);
		row.bytes_out = row.bytes_fp = row.bytes_in;
	}
	if (st != ST_PASS)
		row_account(c, rec, &row);
	return wq_put(&c->wq, j, e);
}

/* ------------------------------------------------------------ main */

static void summary(const struct opts *o)
{
	const struct agg *a = &total_agg;
	uint64_t all = a->sum.numel + a->numel_fp;

	(void)o;
	fprintf(stderr, "%s: quantized %" PRIu64 " tensors (%" PRIu64 " parameters); "
		"kept %" PRIu64 " in full precision (%" PRIu64 " parameters, %.2f%% "
		"of %" PRIu64 ")\n", qf_tool_name(), a->nquant, a->sum.numel,
		a->ntensors - a->nquant, a->numel_fp,
		all ? 100.0 * (double)a->numel_fp / (double)all : 0.0, all);
	fprintf(stderr, "%s: bytes stored quantized: %" PRIu64 " of %" PRIu64
		" (%.2f%%); full-precision share of them: %.2f%%\n",
		qf_tool_name(), a->bytes_out, a->bytes_in,
		a->bytes_in ? 100.0 * (double)a->bytes_out / (double)a->bytes_in : 0.0,
		a->bytes_out ? 100.0 * (double)a->bytes_fp / (double)a->bytes_out : 0.0);
}

int main(int argc, char **argv)
{
	static struct opts o;
	struct ctx c;
	qf_rec rec;
	qf_err e;
	const char *input;
	int rc;
	char msg[512];

	qf_tool_init("qf-quantize");
	parse_args(argc, argv, &o);
	input = optind < argc ? argv[optind] : "-";
	layer_agg = calloc(MAX_LAYERS, sizeof *layer_agg);
	if (!layer_agg)
		qf_tool_die(1, "out of memory");
	memset(&c, 0, sizeof c);
	c.o = &o;
	c.n_layer = -1;
	c.r = qf_reader_open(input, &e);
	if (!c.r)
		qf_tool_fail(&e);
	if (o.stats) {
		c.so = qf_out_open(o.stats, &e);
		if (!c.so)
			qf_tool_fail(&e);
		c.sf = qf_out_file(c.so);
		fputs(tsv_header, c.sf);
	}
	c.wq.w = qf_writer_open(o.output, &o.w, &e);
	if (!c.wq.w)
		qf_tool_fail(&e);
	pthread_mutex_init(&c.wq.mu, NULL);
	pthread_cond_init(&c.wq.cv, NULL);
	if (o.threads > 1 && pthread_create(&c.wq.tid, NULL, writer_main, &c.wq) == 0)
		c.wq.threaded = 1;
	qf_progress_start(&c.prog, "qf-quantize: records");
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(c.r, &rec, &e)) == 1) {
		if (process(&c, &rec, &e) < 0) {
			rc = -1;
			break;
		}
		qf_progress_update(&c.prog, qf_reader_count(c.r), 0);
	}
	qf_progress_end(&c.prog);
	if (wq_finish(&c.wq, &e) < 0)
		rc = -1;
	if (rc < 0) {
		qf_writer_abort(c.wq.w);
		if (c.so)
			qf_out_abort(c.so);
		qf_tool_fail(&e);
	}
	if (c.n_layer < 0)
		check_layers(&o, max_layer + 1, "the stream");
	if (check_matches(&o, msg, sizeof msg) < 0) {
		qf_writer_abort(c.wq.w);
		if (c.so)
			qf_out_abort(c.so);
		qf_tool_usage_error("%s", msg);
	}
	if (qf_writer_close(c.wq.w, &e) < 0) {
		if (c.so)
			qf_out_abort(c.so);
		qf_tool_fail(&e);
	}
	if (c.sf) {
		for (int l = 0; l <= max_layer; l++) {
			char name[32], num[16];
			if (!layer_agg[l].any)
				continue;
			snprintf(name, sizeof name, "layers.%d", l);
			snprintf(num, sizeof num, "%d", l);
			agg_row(c.sf, "layer", name, num, &layer_agg[l]);
		}
		agg_row(c.sf, "total", "all", "NA", &total_agg);
		if (qf_out_commit(c.so, &e) < 0)
			qf_tool_fail(&e);
	}
	if (o.verbose)
		summary(&o);
	qf_rec_free(&rec);
	qf_reader_close(c.r);
	free(layer_agg);
	free(o.names);
	free(o.pnames);
	free(o.pname_hits);
	qf_tool_close_stdout();
	return QF_EXIT_OK;
}
