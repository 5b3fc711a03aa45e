/*
 * qf-act - run a model over a token stream and write its activations.
 *
 * Reads token records (integer ids, one document each, as qf-extract text
 * writes them), runs the model of a weight stream over each document
 * (windows for documents longer than the context, docs/runtime.md), and
 * writes the chosen sites' states as records, document by document;
 * optionally per-head attention statistics and per-token NLL.  Memory: the
 * model, one document's tokens, and that document's selected states
 * (reduce none: tokens x width per layer and site; mean: one row each;
 * sample:K: K rows each).  See docs/man/qf-act.1.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qf.h"

static const char usage[] =
	"Usage: qf-act -m MODEL [OPTION]... [TOKENS]\n"
	"Run a model over the documents of a token stream and write the states\n"
	"of chosen layers and sites as records.\n"
	"With no TOKENS, or when TOKENS is -, read standard input.\n"
	"\n"
	"  -m, --model FILE       weight stream of the model (required)\n"
	"  -L, --layers LIST      layers, e.g. 0,9,11 (default: all)\n"
	"  -S, --sites LIST       sites: resid_pre, ln1_out, attn_z, attn_out,\n"
	"                         resid_mid, ln2_out, mlp_act, mlp_out,\n"
	"                         resid_post (default), final_norm\n"
	"  -r, --reduce HOW       none (per token, default), mean (over the\n"
	"                         document) or sample:K (K positions, needs --seed)\n"
	"      --seed N           seed of sample:K and of --corrupt\n"
	"      --window W         tokens per pass (default: n_ctx)\n"
	"      --stride S         advance between passes (default: W / 2)\n"
	"      --attn-stats       per document a record attn.N [n_layer, n_head, 2]:\n"
	"                         attention entropy and mass on the first token\n"
	"      --sink-eps E       threshold of the sink rate (default 0.3)\n"
	"      --nll FILE         also write per-token NLL records to FILE\n"
	"      --patch FROM       replace the chosen layers' and sites' states with\n"
	"                         those of FROM (qf-act --reduce none output over\n"
	"                         the same tokens, in the same document order)\n"
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
	"  qf-act -m model.qft --corrupt 3 --seed 1 --patch states.qft --layers 1 --nll traced.qft -o /dev/null tokens.qft\n";

enum { R_NONE, R_MEAN, R_SAMPLE };

struct opts {
	const char *model, *output, *nll, *layers, *jobs, *patch, *positions;
	unsigned sites;
	int reduce, seed_set, attn, verbose, window, stride, corrupt_set;
	uint64_t k, seed;
	double eps, corrupt;
};

/* One document's run: what the hooks fill. */
struct run {
	const struct opts *o;
	const qf_model_config *cfg;
	unsigned char *layer_on;	/* [n_layer + 1] */
	int nsites;			/* QF_SITE_COUNT */
	float **buf;			/* [(n_layer + 1) * nsites]: states */
	uint64_t n;			/* tokens of the document */
	int64_t *slot;			/* sample: position -> row, or -1 */
	uint64_t *pos;			/* sample: the positions, sorted */
	uint64_t kk;			/* sample: rows */
	double *attn;			/* [n_layer, n_head, 2] sums */
	uint64_t *attn_n;		/* [n_layer] query rows */
	float *ent, *first;		/* [T] scratch */
	uint64_t ordinal;		/* the document's */
	uint64_t fnv;			/* tokens_fnv of its ids */
	double sigma;			/* --corrupt: the token embedding's std */
	float **from;			/* --patch: [(n_layer + 1) * nsites] */
	unsigned char *pmask;		/* --positions: [n], or NULL for all */
	uint64_t *plist;		/* --positions: the list */
	size_t nplist;
	qf_reader *fr;			/* --patch: FROM */
	qf_rec frec;			/* FROM's record header not yet used */
	int fpending;			/* frec holds one */
};

/* ------------------------------------------------------------ options */

static uint64_t parse_count(const char *opt, const char *s, uint64_t max)
{
	qf_err e;
	uint64_t v;

	if (qf_parse_u64(s, max, &v, &e) < 0)
		qf_tool_usage_error("%s: %s", opt, e.msg);
	return v;
}

static unsigned parse_sites(const char *s)
{
	char *copy = strdup(s), *tok, *save = NULL;
	unsigned set = 0;

	if (!copy)
		qf_tool_die(1, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int c = qf_site_parse(tok);

		if (c < 0)
			qf_tool_usage_error("--sites: unknown site '%s'", tok);
		set |= 1u << c;
	}
	free(copy);
	if (!set)
		qf_tool_usage_error("--sites: no site given");
	return set;
}

static void parse_reduce(struct opts *o, const char *s)
{
	if (strcmp(s, "none") == 0) {
		o->reduce = R_NONE;
	} else if (strcmp(s, "mean") == 0) {
		o->reduce = R_MEAN;
	} else if (strncmp(s, "sample:", 7) == 0) {
		o->reduce = R_SAMPLE;
		o->k = parse_count("--reduce sample:K", s + 7, UINT32_MAX);
		if (o->k == 0)
			qf_tool_usage_error("--reduce: sample:K wants K >= 1");
	} else {
		qf_tool_usage_error("--reduce: unknown reduction '%s' (none, mean, sample:K)", s);
	}
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_SEED = 0x2000, O_WINDOW, O_STRIDE, O_ATTN, O_EPS, O_NLL,
	       O_PATCH, O_POSITIONS, O_CORRUPT };
	static const struct option longs[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "layers", required_argument, NULL, 'L' },
		{ "sites", required_argument, NULL, 'S' },
		{ "reduce", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, O_SEED },
		{ "window", required_argument, NULL, O_WINDOW },
		{ "stride", required_argument, NULL, O_STRIDE },
		{ "attn-stats", no_argument, NULL, O_ATTN },
		{ "sink-eps", required_argument, NULL, O_EPS },
		{ "nll", required_argument, NULL, O_NLL },
		{ "patch", required_argument, NULL, O_PATCH },
		{ "positions", required_argument, NULL, O_POSITIONS },
		{ "corrupt", required_argument, NULL, O_CORRUPT },
		{ "output", required_argument, NULL, 'o' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, QF_OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	qf_err e;
	int c;

	o->sites = 1u << QF_SITE_RESID_POST;
	o->eps = 0.3;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:L:S:r:o:j:vh", longs, NULL)) != -1) {
		switch (c) {
		case 'm': o->model = optarg; break;
		case 'L': o->layers = optarg; break;
		case 'S': o->sites = parse_sites(optarg); break;
		case 'r': parse_reduce(o, optarg); break;
		case O_SEED:
			o->seed = parse_count("--seed", optarg, UINT64_MAX);
			o->seed_set = 1;
			break;
		case O_WINDOW: o->window = (int)parse_count("--window", optarg, 1u << 30); break;
		case O_STRIDE: o->stride = (int)parse_count("--stride", optarg, 1u << 30); break;
		case O_ATTN: o->attn = 1; break;
		case O_EPS:
			if (qf_parse_double(optarg, &o->eps, &e) < 0 ||
			    !(o->eps >= 0 && o->eps <= 1))
				qf_tool_usage_error("--sink-eps: '%s' is not a number in [0, 1]", optarg);
			break;
		case O_NLL: o->nll = optarg; break;
		case O_PATCH: o->patch = optarg; break;
		case O_POSITIONS: o->positions = optarg; break;
		case O_CORRUPT:
			if (qf_parse_double(optarg, &o->corrupt, &e) < 0 ||
			    !(o->corrupt >= 0 && o->corrupt <= 1e6))
				qf_tool_usage_error("--corrupt: '%s' is not a number in [0, 1e6]", optarg);
			o->corrupt_set = 1;
			break;
		case 'o': o->output = optarg; break;
		case 'j': o->jobs = optarg; break;
		case 'v': o->verbose = 1; break;
		default: qf_tool_common_option(c, usage, argv);
		}
	}
	if (!o->model)
		qf_tool_usage_error("no model: give -m MODEL");
	if (o->reduce == R_SAMPLE && !o->seed_set)
		qf_tool_usage_error("--reduce sample:K needs --seed N");
	if (o->corrupt_set && !o->seed_set)
		qf_tool_usage_error("--corrupt K needs --seed N");
	if (o->seed_set && o->reduce != R_SAMPLE && !o->corrupt_set)
		qf_tool_usage_error("--seed is only for --reduce sample:K and --corrupt");
	if (o->positions && !o->patch)
		qf_tool_usage_error("--positions is only for --patch");
	if (optind + 1 < argc)
		qf_tool_usage_error("one token stream at most");
}

/* Layers 0..n_layer-1 from a list; final_norm counts as layer n_layer. */
static void parse_layers(struct run *r, const char *s)
{
	int L = r->cfg->n_layer;
	char *copy, *tok, *save = NULL;

	if (!s) {
		memset(r->layer_on, 1, (size_t)L + 1);
		return;
	}
	copy = strdup(s);
	if (!copy)
		qf_tool_die(1, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		uint64_t v = parse_count("--layers", tok, UINT32_MAX);

		if (v >= (uint64_t)L)
			qf_tool_usage_error("--layers: layer %" PRIu64
					    " out of range (the model has %d)", v, L);
		r->layer_on[v] = 1;
	}
	free(copy);
	r->layer_on[L] = 1;	/* final_norm, when chosen as a site */
}

/* ------------------------------------------------------------ noise */

static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* --corrupt: row x [d] of the document's position p gets K sigma times
 * standard normal draws (Box-Muller) from a counter-based generator keyed
 * by the seed, the document's ordinal and p: the same noise whatever the
 * window or the threads. */
static void add_noise(const struct run *r, uint64_t p, float *x, int d)
{
	uint64_t key = mix64(r->o->seed ^ mix64(r->ordinal ^ mix64(p)));
	double scale = r->o->corrupt * r->sigma;

	for (int j = 0; j < d; j += 2) {
		uint64_t a = mix64(key ^ (uint64_t)j), b = mix64(~key ^ (uint64_t)j);
		double u1 = ((double)(a >> 11) + 1) * 0x1p-53;	/* (0, 1] */
		double u2 = (double)(b >> 11) * 0x1p-53;	/* [0, 1) */
		double rad = sqrt(-2 * log(u1)), th = 6.283185307179586 * u2;

		x[j] = (float)(x[j] + scale * rad * cos(th));
		if (j + 1 < d)
			x[j + 1] = (float)(x[j + 1] + scale * rad * sin(th));
	}
}

/* The population standard deviation of all of the token embedding's
 * elements, read from the weight stream. */
static int embedding_sigma(const char *path, double *sigma, qf_err *e)
{
	qf_reader *rd = qf_reader_open(path, e);
	qf_rec rec;
	int rc;

	if (!rd)
		return -1;
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(rd, &rec, e)) > 0)
		if (strcmp(rec.name, "tok_emb.weight") == 0)
			break;
	if (rc == 0)
		rc = qf_err_set(e, "%s: record tok_emb.weight: missing", path);
	if (rc > 0) {
		float *v = NULL;
		uint64_t n = 1;
		double sum = 0, ss = 0, mean;

		for (int i = 0; i < rec.ndim; i++)
			n *= rec.dims[i];
		rc = qf_reader_read_as(rd, QF_F32, (void **)&v, e);
		if (rc == 0 && n == 0)
			rc = qf_err_set(e, "%s: record tok_emb.weight: empty", path);
		if (rc == 0) {
			for (uint64_t i = 0; i < n; i++)
				sum += v[i];
			mean = sum / (double)n;
			for (uint64_t i = 0; i < n; i++)
				ss += (v[i] - mean) * (v[i] - mean);
			*sigma = sqrt(ss / (double)n);
		}
		free(v);
	}
	qf_rec_free(&rec);
	qf_reader_close(rd);
	return rc < 0 ? -1 : 0;
}

/* FNV-1a 64 of the ids as little-endian 32-bit integers. */
static uint64_t tokens_fnv(const int32_t *tok, uint64_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint64_t i = 0; i < n; i++) {
		uint32_t v = (uint32_t)tok[i];

		for (int b = 0; b < 4; b++) {
			h ^= (v >> (8 * b)) & 0xff;
			h *= 0x100000001b3ull;
		}
	}
	return h;
}

/* ------------------------------------------------------------ hooks */

static int width(const struct run *r, int site)
{
	return site == QF_SITE_MLP_ACT ? r->cfg->n_inner : r->cfg->n_embd;
}

static int site_hook(void *ctx, const qf_site_info *s, float *x)
{
	struct run *r = ctx;
	float *dst = r->buf[s->layer * r->nsites + s->site];
	const float *src = r->from ? r->from[s->layer * r->nsites + s->site] : NULL;
	int d = s->d;

	if (r->o->corrupt > 0 && s->layer == 0 && s->site == QF_SITE_RESID_PRE)
		for (int i = 0; i < s->T; i++)
			add_noise(r, (uint64_t)s->pos + (uint64_t)i,
				  x + (size_t)i * (size_t)d, d);
	if (src && r->layer_on[s->layer])
		for (int i = 0; i < s->T; i++) {
			uint64_t p = (uint64_t)s->pos + (uint64_t)i;

			if (!r->pmask || r->pmask[p])
				memcpy(x + (size_t)i * (size_t)d,
				       src + p * (uint64_t)d, (size_t)d * sizeof *x);
		}
	if (!r->layer_on[s->layer] || !dst)
		return 0;
	for (int i = s->first_new; i < s->T; i++) {
		uint64_t p = (uint64_t)s->pos + (uint64_t)i;
		const float *row = x + (size_t)i * (size_t)d;

		if (r->o->reduce == R_NONE) {
			memcpy(dst + p * (uint64_t)d, row, (size_t)d * sizeof *row);
		} else if (r->o->reduce == R_MEAN) {
			for (int j = 0; j < d; j++)
				dst[j] += row[j];	/* summed in f32 then scaled below */
		} else if (r->slot[p] >= 0) {
			memcpy(dst + (uint64_t)r->slot[p] * (uint64_t)d, row,
			       (size_t)d * sizeof *row);
		}
	}
	return 0;
}

static int attn_hook(void *ctx, const qf_site_info *s, float *p)
{
	struct run *r = ctx;
	int T = s->T, H = s->d;

	for (int h = 0; h < H; h++) {
		double *acc = r->attn + ((size_t)s->layer * (size_t)H + (size_t)h) * 2;

		qf_attn_row_stats(p + (size_t)h * T * T, T, r->ent, r->first);
		for (int i = s->first_new; i < T; i++) {
			acc[0] += r->ent[i];
			acc[1] += r->first[i];
		}
	}
	r->attn_n[s->layer] += (uint64_t)(T - s->first_new);
	return 0;
}

/* ------------------------------------------------------------ sampling */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* K distinct positions of n (all of them when K >= n), in order, from a
 * generator seeded by the seed and the document's ordinal. */
static void sample(struct run *r, uint64_t ordinal)
{
	uint64_t st = r->o->seed ^ (ordinal * 0xd1342543de82ef95ull), n = r->n;
	uint64_t k = r->o->k < n ? r->o->k : n, j = 0;

	for (uint64_t i = 0; i < n; i++)
		r->slot[i] = -1;
	/* Floyd's algorithm: k draws, each a new position */
	for (uint64_t i = n - k; i < n; i++) {
		uint64_t t = splitmix(&st) % (i + 1);

		r->slot[r->slot[t] < 0 ? t : i] = 0;
	}
	for (uint64_t i = 0; i < n; i++)
		if (r->slot[i] >= 0) {
			r->pos[j] = i;
			r->slot[i] = (int64_t)j++;
		}
	r->kk = k;
}

/* ------------------------------------------------------------ output */

static int set_common(qf_rec *out, const qf_rec *in, uint64_t ordinal,
		      uint64_t n, uint64_t fnv, qf_err *e)
{
	static const char *keep[] = { "lang", "doc", "source" };

	for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
		const char *v = qf_rec_get(in, keep[i]);

		if (v && qf_rec_set(out, keep[i], v, e) < 0)
			return -1;
	}
	if (qf_rec_set(out, "record", in->name, e) < 0 ||
	    qf_rec_setf(out, e, "ordinal", "%" PRIu64, ordinal) < 0 ||
	    qf_rec_setf(out, e, "tokens_fnv", "%016" PRIx64, fnv) < 0 ||
	    qf_rec_setf(out, e, "tokens", "%" PRIu64, n) < 0)
		return -1;
	return 0;
}

static int write_states(struct run *r, qf_writer *w, const qf_rec *in,
			uint64_t ordinal, qf_err *e)
{
	static const char *rname[] = { "none", "mean", "sample" };
	const struct opts *o = r->o;
	int L = r->cfg->n_layer;
	qf_rec out;
	int rc = 0;

	qf_rec_init(&out);
	for (int l = 0; l <= L && rc == 0; l++)
		for (int s = 0; s < r->nsites && rc == 0; s++) {
			float *b = r->buf[l * r->nsites + s];
			uint64_t dims[2];
			int d = width(r, s), nd = 2;

			if (!b)
				continue;
			qf_rec_free(&out);
			dims[1] = (uint64_t)d;
			if (o->reduce == R_NONE) {
				dims[0] = r->n;
			} else if (o->reduce == R_SAMPLE) {
				dims[0] = r->kk;
			} else {
				dims[0] = (uint64_t)d;
				nd = 1;
				for (int j = 0; j < d; j++)
					b[j] = (float)(b[j] / (double)r->n);
			}
			{
				char name[128];

				snprintf(name, sizeof name, "state.%" PRIu64 ".%d.%s",
					 ordinal, l, qf_site_name(s));
				rc = qf_rec_set_name(&out, name, e);
			}
			if (rc == 0)
				rc = qf_rec_set_shape(&out, QF_F32, nd, dims, e);
			if (rc == 0)
				rc = set_common(&out, in, ordinal, r->n, r->fnv, e);
			if (rc == 0 &&
			    (qf_rec_set(&out, "kind", "state", e) < 0 ||
			     qf_rec_setf(&out, e, "layer", "%d", l) < 0 ||
			     qf_rec_set(&out, "site", qf_site_name(s), e) < 0 ||
			     (o->reduce == R_SAMPLE
			      ? qf_rec_setf(&out, e, "reduce", "sample:%" PRIu64, o->k)
			      : qf_rec_set(&out, "reduce", rname[o->reduce], e)) < 0 ||
			     (o->reduce == R_SAMPLE &&
			      qf_rec_setf(&out, e, "seed", "%" PRIu64, o->seed) < 0)))
				rc = -1;
			if (rc == 0 && o->reduce == R_SAMPLE) {
				size_t cap = r->kk * 21 + 1, len = 0;
				char *txt = malloc(cap);

				if (!txt)
					return qf_err_set(e, "out of memory");
				txt[0] = 0;
				for (uint64_t i = 0; i < r->kk; i++)
					len += (size_t)snprintf(txt + len, cap - len, "%s%" PRIu64,
							i ? "," : "", r->pos[i]);
				rc = qf_rec_set(&out, "positions", txt, e);
				free(txt);
			}
			if (rc == 0)
				rc = qf_writer_put(w, &out, b, e);
		}
	qf_rec_free(&out);
	return rc;
}

static int write_attn(struct run *r, qf_writer *w, const qf_rec *in,
		      uint64_t ordinal, qf_err *e)
{
	int L = r->cfg->n_layer, H = r->cfg->n_head;
	uint64_t dims[3] = { (uint64_t)L, (uint64_t)H, 2 };
	float *v = malloc((size_t)L * H * 2 * sizeof *v);
	int sinks = 0, rc = 0;
	qf_rec out;
	char name[64];

	if (!v)
		return qf_err_set(e, "out of memory");
	qf_rec_init(&out);
	snprintf(name, sizeof name, "attn.%" PRIu64, ordinal);
	if (qf_rec_set_name(&out, name, e) < 0 ||
	    qf_rec_set_shape(&out, QF_F32, 3, dims, e) < 0 ||
	    set_common(&out, in, ordinal, r->n, r->fnv, e) < 0 ||
	    qf_rec_set(&out, "kind", "attn_stats", e) < 0 ||
	    qf_rec_set(&out, "stats", "entropy,first", e) < 0 ||
	    qf_rec_setf(&out, e, "sink_eps", "%g", r->o->eps) < 0)
		rc = -1;
	for (int l = 0; l < L && rc == 0; l++) {
		int s = 0;
		char key[32];

		for (int h = 0; h < H; h++) {
			size_t i = ((size_t)l * H + h) * 2;
			double q = (double)r->attn_n[l];

			v[i] = (float)(r->attn[i] / q);
			v[i + 1] = (float)(r->attn[i + 1] / q);
			s += r->attn[i + 1] / q > r->o->eps;
		}
		sinks += s;
		snprintf(key, sizeof key, "sink_rate.%d", l);
		rc = qf_rec_setf(&out, e, key, "%.9g", (double)s / H);
	}
	if (rc == 0)
		rc = qf_rec_setf(&out, e, "sink_rate", "%.9g",
				 (double)sinks / ((double)L * H));
	if (rc == 0)
		rc = qf_writer_put(w, &out, v, e);
	qf_rec_free(&out);
	free(v);
	return rc;
}

static int write_nll(qf_writer *w, const qf_rec *in, uint64_t ordinal,
		     uint64_t n, uint64_t fnv, const float *nll, qf_err *e)
{
	uint64_t dims[1] = { n - 1 };
	qf_rec out;
	char name[64];
	int rc = 0;

	qf_rec_init(&out);
	snprintf(name, sizeof name, "nll.%" PRIu64, ordinal);
	if (qf_rec_set_name(&out, name, e) < 0 ||
	    qf_rec_set_shape(&out, QF_F32, 1, dims, e) < 0 ||
	    set_common(&out, in, ordinal, n, fnv, e) < 0 ||
	    qf_rec_set(&out, "kind", "nll", e) < 0 ||
	    qf_writer_put(w, &out, nll, e) < 0)
		rc = -1;
	qf_rec_free(&out);
	return rc;
}

/* ------------------------------------------------------------ --patch */

static int from_attr(const qf_rec *f, const char *key, uint64_t *v)
{
	const char *s = qf_rec_get(f, key);

	return s && qf_parse_u64(s, UINT64_MAX, v, NULL) == 0 ? 0 : -1;
}

/* " (doc D)" of a token record, or "". */
static const char *doc_of(const qf_rec *rec, char *buf, size_t n)
{
	const char *doc = qf_rec_get(rec, "doc");

	if (!doc)
		return "";
	snprintf(buf, n, " (doc %s)", doc);
	return buf;
}

/* Read FROM's state records of the current document (ordinal r->ordinal,
 * token record rec, ids tok) into r->from: those of the chosen layers and
 * sites.  Records of other kinds, layers or sites are skipped; the first
 * record of a later document is kept for the next call. */
static int load_from(struct run *r, const qf_rec *rec, const qf_reader *in,
		     qf_err *e)
{
	const char *fname = qf_reader_name(r->fr);
	int L = r->cfg->n_layer, got = 0, rc;
	uint64_t later = UINT64_MAX;
	char db[160];
	const char *doc = doc_of(rec, db, sizeof db);

	for (;;) {
		uint64_t ord, layer, n;
		char want[24];
		const char *kind, *site_s, *fnv_s;
		int site;
		float **slot;

		if (!r->fpending) {
			rc = qf_reader_next(r->fr, &r->frec, e);
			if (rc < 0)
				return -1;
			if (rc == 0)
				break;
			r->fpending = 1;
		}
		kind = qf_rec_get(&r->frec, "kind");
		if (!kind || strcmp(kind, "state") != 0 ||
		    from_attr(&r->frec, "ordinal", &ord) < 0 ||
		    ord < r->ordinal) {
			r->fpending = 0;
			continue;
		}
		if (ord > r->ordinal) {
			later = ord;
			break;
		}
		got = 1;
		r->fpending = 0;
		site_s = qf_rec_get(&r->frec, "site");
		site = site_s ? qf_site_parse(site_s) : -1;
		if (from_attr(&r->frec, "layer", &layer) < 0 || site < 0 ||
		    layer > (uint64_t)L)
			return qf_err_set(e, "%s: record %s: no valid layer and site attributes",
					  fname, r->frec.name);
		slot = &r->from[layer * (uint64_t)r->nsites + (uint64_t)site];
		if (!(r->o->sites & (1u << site)) || !r->layer_on[layer] ||
		    (site == QF_SITE_FINAL_NORM) != (layer == (uint64_t)L))
			continue;
		fnv_s = qf_rec_get(&r->frec, "tokens_fnv");
		snprintf(want, sizeof want, "%016" PRIx64, r->fnv);
		if (from_attr(&r->frec, "tokens", &n) < 0 || n != r->n ||
		    (fnv_s && strcmp(fnv_s, want) != 0))
			return qf_err_set(e, "%s: record %s: made over other tokens than %s: record %s%s",
					  fname, r->frec.name, qf_reader_name(in),
					  rec->name, doc);
		if (r->frec.ndim != 2 || r->frec.dims[0] != r->n ||
		    r->frec.dims[1] != (uint64_t)width(r, site))
			return qf_err_set(e, "%s: record %s: shape is not [%" PRIu64 ", %d] "
					  "(states per token, --reduce none)",
					  fname, r->frec.name, r->n, width(r, site));
		free(*slot);
		*slot = NULL;
		if (qf_reader_read_as(r->fr, QF_F32, (void **)slot, e) < 0)
			return -1;
	}
	for (int l = 0; l <= L; l++)
		for (int s = 0; s < r->nsites; s++) {
			if (!(r->o->sites & (1u << s)) || !r->layer_on[l] ||
			    (s == QF_SITE_FINAL_NORM) != (l == L) ||
			    r->from[l * r->nsites + s])
				continue;
			if (!got && later != UINT64_MAX)
				return qf_err_set(e, "%s: no states of document %" PRIu64
						  " (%s: record %s%s) before document %" PRIu64
						  ": FROM must follow the input's document order",
						  fname, r->ordinal, qf_reader_name(in),
						  rec->name, doc, later);
			return qf_err_set(e, "%s: no state.%" PRIu64 ".%d.%s for %s: record %s%s",
					  fname, r->ordinal, l, qf_site_name(s),
					  qf_reader_name(in), rec->name, doc);
		}
	return 0;
}

/* --positions: the mask of the current document. */
static int make_pmask(struct run *r, qf_err *e)
{
	r->pmask = calloc(r->n, 1);
	if (!r->pmask)
		return qf_err_set(e, "out of memory");
	for (size_t i = 0; i < r->nplist; i++)
		if (r->plist[i] < r->n)
			r->pmask[r->plist[i]] = 1;
	return 0;
}

static void parse_positions(struct run *r, const char *s)
{
	char *copy = strdup(s), *tok, *save = NULL;
	size_t cap = 0;

	if (!copy)
		qf_tool_die(1, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (r->nplist == cap) {
			uint64_t *np;

			cap = cap ? 2 * cap : 16;
			np = realloc(r->plist, cap * sizeof *np);
			if (!np)
				qf_tool_die(1, "out of memory");
			r->plist = np;
		}
		r->plist[r->nplist++] = parse_count("--positions", tok, UINT64_MAX - 1);
	}
	free(copy);
	if (!r->nplist)
		qf_tool_usage_error("--positions: no position given");
}

/* ------------------------------------------------------------ main loop */

static int one_doc(struct run *r, qf_model *m, qf_reader *in, const qf_rec *rec,
		   uint64_t ordinal, qf_writer *w, qf_writer *wn, qf_err *e)
{
	const struct opts *o = r->o;
	int L = r->cfg->n_layer, rc = 0;
	int32_t *tok = NULL;
	float *nll = NULL;
	qf_hooks h = { site_hook, 0, NULL, r };
	qf_err e2;

	if (!qf_dtype_is_float(rec->dtype) && rec->dtype != QF_BOOL &&
	    rec->ndim == 1) {
		if (qf_reader_read_as(in, QF_I32, (void **)&tok, e) < 0)
			return -1;
	} else {
		return qf_err_set(e, "%s: record %s: dtype %s shape of %d dims, "
				  "expected 1-d integer token ids",
				  qf_reader_name(in), rec->name,
				  qf_dtype_name(rec->dtype), rec->ndim);
	}
	r->n = rec->dims[0];
	r->ordinal = ordinal;
	r->fnv = tokens_fnv(tok, r->n);
	if (r->n == 0) {
		const char *doc = qf_rec_get(rec, "doc");

		free(tok);
		return qf_err_set(e, "%s: record %s%s%s%s: empty document",
				  qf_reader_name(in), rec->name,
				  doc ? " (doc " : "", doc ? doc : "",
				  doc ? ")" : "");
	}
	if (o->reduce == R_SAMPLE) {
		r->slot = malloc(r->n * sizeof *r->slot);
		r->pos = malloc(r->n * sizeof *r->pos);
		if (!r->slot || !r->pos) {
			rc = qf_err_set(e, "out of memory");
			goto out;
		}
		sample(r, ordinal);
	}
	for (int l = 0; l <= L; l++)
		for (int s = 0; s < r->nsites; s++) {
			uint64_t rows = o->reduce == R_NONE ? r->n
				: o->reduce == R_SAMPLE ? r->kk : 1;

			if (!(o->sites & (1u << s)) || !r->layer_on[l] ||
			    (s == QF_SITE_FINAL_NORM) != (l == L))
				continue;
			r->buf[l * r->nsites + s] =
				calloc(rows * (uint64_t)width(r, s), sizeof(float));
			if (!r->buf[l * r->nsites + s]) {
				rc = qf_err_set(e, "out of memory");
				goto out;
			}
		}
	h.sites = o->sites;
	if (o->corrupt > 0)
		h.sites |= 1u << QF_SITE_RESID_PRE;
	if (r->fr && load_from(r, rec, in, e) < 0) {
		rc = -1;
		goto out;
	}
	if (r->plist && make_pmask(r, e) < 0) {
		rc = -1;
		goto out;
	}
	if (o->attn) {
		h.attn = attn_hook;
		memset(r->attn, 0, (size_t)L * r->cfg->n_head * 2 * sizeof *r->attn);
		memset(r->attn_n, 0, (size_t)L * sizeof *r->attn_n);
	}
	if (wn && r->n > 1 && !(nll = malloc((r->n - 1) * sizeof *nll))) {
		rc = qf_err_set(e, "out of memory");
		goto out;
	}
	if (qf_model_nll(m, tok, r->n, o->window, o->stride, &h, nll, &e2) < 0) {
		const char *doc = qf_rec_get(rec, "doc");

		rc = qf_err_set(e, "%s: record %s%s%s%s: %s", qf_reader_name(in),
				rec->name, doc ? " (doc " : "", doc ? doc : "",
				doc ? ")" : "", e2.msg);
		goto out;
	}
	rc = write_states(r, w, rec, ordinal, e);
	if (rc == 0 && o->attn)
		rc = write_attn(r, w, rec, ordinal, e);
	if (rc == 0 && wn)
		rc = write_nll(wn, rec, ordinal, r->n, r->fnv, nll, e);
out:
	for (int i = 0; i < (L + 1) * r->nsites; i++) {
		free(r->buf[i]);
		r->buf[i] = NULL;
		if (r->from) {
			free(r->from[i]);
			r->from[i] = NULL;
		}
	}
	free(r->pmask);
	r->pmask = NULL;
	free(r->slot);
	free(r->pos);
	r->slot = NULL;
	r->pos = NULL;
	free(nll);
	free(tok);
	return rc;
}

int main(int argc, char **argv)
{
	static struct opts o;
	struct run r;
	qf_model *m;
	qf_reader *in;
	qf_writer *w, *wn = NULL;
	qf_rec rec;
	qf_err e;
	int threads, L, rc;
	uint64_t ordinal = 0;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			o.verbose = 1;
	qf_blas_init(argc, argv, o.verbose);
	qf_tool_init("qf-act");
	parse_args(argc, argv, &o);
	threads = qf_tool_threads(o.jobs, &e);
	if (threads < 0)
		qf_tool_usage_error("%s", e.msg);
	m = qf_model_load(o.model, &e);
	if (!m)
		qf_tool_fail(&e);
	if (qf_model_set_threads(m, threads, &e) < 0)
		qf_tool_fail(&e);
	memset(&r, 0, sizeof r);
	r.o = &o;
	r.cfg = qf_model_cfg(m);
	L = r.cfg->n_layer;
	if (o.window && (o.window < 2 || o.window > r.cfg->n_ctx))
		qf_tool_usage_error("--window %d out of range [2, n_ctx %d]",
				    o.window, r.cfg->n_ctx);
	if (o.stride && o.stride >= (o.window ? o.window : r.cfg->n_ctx))
		qf_tool_usage_error("--stride %d out of range [1, window %d)",
				    o.stride, o.window ? o.window : r.cfg->n_ctx);
	r.nsites = QF_SITE_COUNT;
	r.layer_on = calloc((size_t)L + 1, 1);
	r.buf = calloc((size_t)(L + 1) * QF_SITE_COUNT, sizeof *r.buf);
	r.attn = calloc((size_t)L * r.cfg->n_head * 2, sizeof *r.attn);
	r.attn_n = calloc((size_t)L, sizeof *r.attn_n);
	r.ent = malloc((size_t)r.cfg->n_ctx * sizeof *r.ent);
	r.first = malloc((size_t)r.cfg->n_ctx * sizeof *r.first);
	if (!r.layer_on || !r.buf || !r.attn || !r.attn_n || !r.ent || !r.first)
		qf_tool_die(1, "out of memory");
	parse_layers(&r, o.layers);
	if (o.positions)
		parse_positions(&r, o.positions);
	if (o.corrupt > 0 && embedding_sigma(o.model, &r.sigma, &e) < 0)
		qf_tool_fail(&e);
	qf_rec_init(&r.frec);
	if (o.patch) {
		r.from = calloc((size_t)(L + 1) * QF_SITE_COUNT, sizeof *r.from);
		if (!r.from)
			qf_tool_die(1, "out of memory");
		r.fr = qf_reader_open(o.patch, &e);
		if (!r.fr)
			qf_tool_fail(&e);
	}

	in = qf_reader_open(optind < argc ? argv[optind] : "-", &e);
	if (!in)
		qf_tool_fail(&e);
	w = qf_writer_open(o.output ? o.output : "-", NULL, &e);
	if (!w)
		qf_tool_fail(&e);
	if (o.nll && !(wn = qf_writer_open(o.nll, NULL, &e))) {
		qf_writer_abort(w);
		qf_tool_fail(&e);
	}
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(in, &rec, &e)) > 0) {
		if (one_doc(&r, m, in, &rec, ordinal++, w, wn, &e) < 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0 && wn && qf_writer_close(wn, &e) < 0) {
		wn = NULL;
		rc = -1;
	} else if (rc == 0) {
		wn = NULL;
	}
	if (rc < 0) {
		if (wn)
			qf_writer_abort(wn);
		qf_writer_abort(w);
		qf_tool_fail(&e);
	}
	if (qf_writer_close(w, &e) < 0)
		qf_tool_fail(&e);
	if (o.verbose)
		fprintf(stderr, "qf-act: %" PRIu64 " documents\n", ordinal);
	qf_rec_free(&rec);
	qf_reader_close(in);
	qf_model_free(m);
	free(r.layer_on);
	free(r.buf);
	free(r.attn);
	free(r.attn_n);
	free(r.ent);
	free(r.first);
	free(r.from);
	free(r.plist);
	qf_rec_free(&r.frec);
	if (r.fr)
		qf_reader_close(r.fr);
	qf_tool_close_stdout();
	return QF_EXIT_OK;
}
