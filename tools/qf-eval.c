/*
 * qf-eval - per-language quality of a reference model and test models
 * over token streams, their degradation and its disparity, with paired
 * bootstrap intervals.
 *
 * Options, files and messages; the work is lib/eval/'s (qf_eval),
 * specified in docs/eval.md.  Memory: every model, one record's tokens,
 * the reference's log-probabilities for one window, and per record a few
 * sums per model plus the per-token KL values.  See docs/man/qf-eval.1.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qf.h"

static const char usage[] =
	"Usage: qf-eval -r [NAME=]REF [-m [NAME=]MODEL]... [OPTION]... [TOKENS]...\n"
	"Score token records with a reference model and test models: per\n"
	"language NLL, perplexity, bits per byte and per character, and each test\n"
	"model's degradation (KL, top-1 agreement, ...); how unequal the\n"
	"degradation is across languages; 95% paired bootstrap intervals.\n"
	"With no TOKENS, or when TOKENS is -, read standard input.\n"
	"\n"
	"  -r, --ref [NAME=]FILE  the reference model's weight stream (name: ref)\n"
	"  -m, --model [NAME=]FILE  a test model (repeatable; name: the file's\n"
	"                         base name without .qft)\n"
	"  -o, --output FILE      the language table (default: standard output)\n"
	"  -d, --disparity FILE   the disparity table\n"
	"      --units-out FILE   the units table: per language, unit and test\n"
	"                         model\n"
	"      --compare FILE     the test models compared on each disparity\n"
	"                         figure: simultaneous intervals, differences\n"
	"                         from the best, Holm-adjusted p, the best set\n"
	"      --nll FILE         per-token NLL of every model as a stream\n"
	"      --reliability FILE  per configuration and measure: split-half and\n"
	"                         realization-to-realization reliability, the\n"
	"                         correlation with bytes per character, variance\n"
	"                         components\n"
	"      --contrast 'NAME=+M1 -M2 ...'  a contrast of test models: per\n"
	"                         term a sign, an optional coefficient (2*) and\n"
	"                         a test model; coefficients sum to 0\n"
	"                         (repeatable); with every model as M@SCOPE, a\n"
	"                         contrast across scopes, summing to 0 in each\n"
	"      --contrasts FILE   each contrast of each figure of --compare and\n"
	"                         of their logs: estimate, SE, interval, p,\n"
	"                         Holm-adjusted p, simultaneous intervals\n"
	"      --realizations NAME=M1,M2,...  test models M1, M2, ... are\n"
	"                         realizations of configuration NAME (repeatable)\n"
	"      --languages FILE   languages table (TSV, codes in column 1)\n"
	"      --group-by COLUMN  disparity per value of a column of that table\n"
	"                         (repeatable)\n"
	"      --group NAME=L1,L2,...  disparity over a list of languages\n"
	"                         (repeatable)\n"
	"      --ref-lang CODE    reference language of rel_deg (default eng)\n"
	"      --measure M        degradation for disparity: kl_unit (KL per\n"
	"                         parallel unit, the default), deg_byte, deg,\n"
	"                         d_bpb, d_nll or d_bits_unit\n"
	"      --headings         score records of kind=heading too (default: left\n"
	"                         out, and said on stderr)\n"
	"      --baseline NAME    test model of the *_vs_base figures (default:\n"
	"                         the first)\n"
	"      --min-den X        denominators at most X are degenerate (0.001)\n"
	"      --bootstrap B      replicates (default 1000; 0: no intervals)\n"
	"      --seed S           seed of the bootstrap (default 1)\n"
	"      --cluster C        what the bootstrap draws: unit (parallel units,\n"
	"                         jointly across languages), record (each\n"
	"                         language's records) or auto (default: unit when\n"
	"                         every record has a unit_id)\n"
	"      --interval I       auto (default: t with 12 parallel units or\n"
	"                         more, else bca), t (bootstrap-t), bca or\n"
	"                         percentile\n"
	"      --window W         tokens per pass (default: the models' n_ctx)\n"
	"      --stride S         advance between passes (default: W / 2)\n"
	"  -j, --jobs N           threads (default QF_THREADS, else one per CPU)\n"
	"  -v, --verbose          OpenBLAS's core and a summary on stderr\n"
	"  -h, --help             show this help and exit\n"
	"      --version          show the version and exit\n"
	"\n"
	"Examples:\n"
	"  qf-eval -r ref.qft -m int4=q4.qft -o lang.tsv tokens.qft\n"
	"  qf-eval -r ref.qft -m q4.qft -m q4p=q4-protected.qft --languages languages.tsv --group-by morph_type -d disparity.tsv -o lang.tsv tokens.qft\n"
	"  qf-eval -r ref.qft -m q4.qft --bootstrap 0 --nll nll.qft tokens.qft | cut -f1,2,18\n"
	"  qf-eval -r ref.qft -m q4.qft --measure kl_unit --units-out units.tsv -d disparity.tsv -o lang.tsv tokens.qft\n"
	"  qf-eval -r ref.qft -m q4.qft -m q3.qft -m q4p=q4-protected.qft --measure kl_unit --compare compare.tsv -o lang.tsv tokens.qft\n"
	"  qf-eval -r ref.qft -m none=q4.qft -m p0=q4p0.qft -m p11=q4p11.qft -m p0-11=q4p0-11.qft --contrast 'syn=+p0-11 -p0 -p11 +none' --contrast 'p0=+p0 -none' --contrasts contrasts.tsv -o lang.tsv tokens.qft\n"
	"  qf-eval -r ref.qft -m none=q4.qft -m p0=q4p0.qft --group rich=fin,tur --group other=eng,rus --contrast 'more=+none@rich -p0@rich -none@other +p0@other' --contrasts contrasts.tsv -o lang.tsv tokens.qft\n"
	"  qf-eval -r ref.qft -m q4.qft -m s1=q4s1.qft -m s2=q4s2.qft -m s3=q4s3.qft --realizations q4s=s1,s2,s3 --reliability reliab.tsv --bootstrap 0 -o lang.tsv tokens.qft\n";

#define MAXM 256

/* The long options without a short one. */
enum { O_NLL = 0x2000, O_LANGS, O_GROUPBY, O_GROUP, O_REFLANG, O_MEASURE,
       O_BASELINE, O_MINDEN, O_BOOT, O_SEED, O_WINDOW, O_STRIDE, O_UNITS,
       O_HEADINGS, O_CLUSTER, O_INTERVAL, O_COMPARE, O_REALIZ, O_RELIAB,
       O_CONTRAST, O_CONTRASTS };

struct opts {
	const char *ref, *model[MAXM], *output, *disparity, *nll, *languages;
	const char *units;
	const char *compare;	/* --compare */
	const char *groupby[64], *group[64], *ref_lang, *baseline, *jobs;
	int nmodel, ngroupby, ngroup, verbose;
	int window_set, stride_set;	/* given: checked against n_ctx */
	char *name[MAXM];	/* the models' names, the reference's first */
	const char *file[MAXM];	/* and their files */
	int nm;
	char **tokens;		/* the token streams (none: standard input) */
	int ntokens;
	qf_eval_opts e;
	/* --realizations and --reliability */
	const char *realiz[64], *reliability;
	int nrealiz;
	char *cname[64];	/* the configurations' names */
	const char *conf[MAXM];	/* of test model t: conf[t] */
	/* --contrast and --contrasts */
	const char **cspec, *contrasts;
	qf_contrast *con;
	int ncon;
};

/* NAME=FILE or FILE: the name, and the file in *file. */
static char *model_name(const char *arg, const char **file)
{
	const char *eq = strchr(arg, '='), *base, *p;
	size_t n;
	char *name;

	if (eq) {
		*file = eq + 1;
		base = arg;
		n = (size_t)(eq - arg);
	} else {
		*file = arg;
		base = strrchr(arg, '/') ? strrchr(arg, '/') + 1 : arg;
		n = strlen(base);
		if (n > 4 && strcmp(base + n - 4, ".qft") == 0)
			n -= 4;
	}
	if (!**file)
		qf_tool_usage_error("'%s': no file", arg);
	if (n == 0)
		qf_tool_usage_error("'%s': empty model name", arg);
	for (p = base; p < base + n; p++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789._+-", *p))
			qf_tool_usage_error("model name '%.*s': only letters, digits "
					    "and . _ + -", (int)n, base);
	if (!(name = malloc(n + 1)))
		qf_tool_die(1, "out of memory");
	memcpy(name, base, n);
	name[n] = '\0';
	return name;
}

/* The models' names and files (the reference is "ref" unless named),
 * unique, and the index of the --baseline test model. */
static void name_models(struct opts *o)
{
	if (strchr(o->ref, '=')) {
		o->name[0] = model_name(o->ref, &o->file[0]);
	} else {
		o->file[0] = o->ref;
		if (!(o->name[0] = strdup("ref")))
			qf_tool_die(1, "out of memory");
	}
	for (int i = 0; i < o->nmodel; i++)
		o->name[i + 1] = model_name(o->model[i], &o->file[i + 1]);
	o->nm = o->nmodel + 1;
	for (int i = 0; i < o->nm; i++)
		for (int j = 0; j < i; j++)
			if (strcmp(o->name[i], o->name[j]) == 0)
				qf_tool_usage_error("two models named '%s'", o->name[i]);
	o->e.baseline = 0;
	if (o->baseline) {
		o->e.baseline = -1;
		for (int i = 1; i < o->nm; i++)
			if (strcmp(o->name[i], o->baseline) == 0)
				o->e.baseline = i - 1;
		if (o->e.baseline < 0)
			qf_tool_usage_error("--baseline: no test model named '%s'",
					    o->baseline);
	}
}

/* The values of --cluster and --interval, in the order of their enums. */
static const char *const clusters[] = { "auto", "unit", "record", NULL };
static const char *const intervals[] = { "auto", "t", "bca", "percentile", NULL };

/* The index of s among the choices of option opt; misuse if none. */
static int pick(const char *opt, const char *s, const char *const *choice)
{
	for (int i = 0; choice[i]; i++)
		if (strcmp(s, choice[i]) == 0)
			return i;
	char list[256] = "";

	for (int i = 0; choice[i]; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
			 i ? ", " : "", choice[i]);
	qf_tool_usage_error("%s: '%s' is none of %s", opt, s, list);
}

/* ------------------------------------------------------------ realizations */

/* The test model named s (0 for the first -m), or misuse. */
static int test_model(const struct opts *o, const char *s)
{
	for (int i = 1; i < o->nm; i++)
		if (strcmp(o->name[i], s) == 0)
			return i - 1;
	qf_tool_usage_error("--realizations: no test model named '%s'", s);
	return -1;
}

/* --realizations NAME=M1,M2,...: the configuration of every test model
 * in o->conf, NAME for those listed, else the model's own name.  Names
 * as model names; a model in two configurations, or two configurations
 * of one name (a listed one and an unlisted model's), is misuse. */
static void configs(struct opts *o)
{
	int gid[MAXM];

	for (int g = 0; g < o->nrealiz; g++) {
		const char *arg = o->realiz[g], *eq = strchr(arg, '='), *p;
		size_t n = eq ? (size_t)(eq - arg) : 0;

		if (!eq || n == 0 || !eq[1])
			qf_tool_usage_error("--realizations wants NAME=M1,M2,..., not "
					    "'%s'", arg);
		if (strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789._+-") != n)
			qf_tool_usage_error("configuration name '%.*s': only letters, "
					    "digits and . _ + -", (int)n, arg);
		if (!(o->cname[g] = strndup(arg, n)))
			qf_tool_die(1, "out of memory");
		for (p = eq + 1; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
			size_t k = strcspn(p, ",");
			char *m = strndup(p, k);
			int t;

			if (!m)
				qf_tool_die(1, "out of memory");
			if (k == 0)
				qf_tool_usage_error("--realizations: an empty model name in "
						    "'%s'", arg);
			t = test_model(o, m);
			if (o->conf[t])
				qf_tool_usage_error("--realizations: model '%s' is in two "
						    "configurations", m);
			free(m);
			o->conf[t] = o->cname[g];
			gid[t] = g;
		}
	}
	for (int t = 0; t < o->nm - 1; t++)
		if (!o->conf[t]) {
			o->conf[t] = o->name[t + 1];
			gid[t] = o->nrealiz + t;
		}
	for (int t = 0; t < o->nm - 1; t++)
		for (int u = 0; u < t; u++)
			if (gid[t] != gid[u] && strcmp(o->conf[t], o->conf[u]) == 0)
				qf_tool_usage_error("two configurations named '%s'",
						    o->conf[t]);
}

/* ------------------------------------------------------------ contrasts */

/* Each --contrast parsed against the test models' names; a contrast name
 * as a model's (letters, digits and . _ + -), each once.  The scopes of
 * a cross-scope contrast's terms are known once the data are read:
 * qf_eval_finish checks them. */
static void contrasts(struct opts *o)
{
	qf_err e;

	if (!o->ncon)
		return;
	if (!(o->con = calloc((size_t)o->ncon, sizeof *o->con)))
		qf_tool_die(1, "out of memory");
	for (int c = 0; c < o->ncon; c++) {
		const char *arg = o->cspec[c];
		size_t n = strcspn(arg, "=");

		if (qf_contrast_parse(&o->con[c], arg,
				      (const char *const *)o->name + 1, o->nm - 1,
				      &e) < 0)
			qf_tool_usage_error("--%s", e.msg);
		if (strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789._+-") != n)
			qf_tool_usage_error("contrast name '%.*s': only letters, "
					    "digits and . _ + -", (int)n, arg);
		for (int d = 0; d < c; d++)
			if (strcmp(o->con[d].name, o->con[c].name) == 0)
				qf_tool_usage_error("two contrasts named '%s'",
						    o->con[c].name);
	}
}

/* One option of the command line (c as getopt_long returns it). */
static void option(struct opts *o, int c, char **argv)
{
	qf_err e;

	switch (c) {
	case 'r':
		if (o->ref)
			qf_tool_usage_error("one reference model (-r) only");
		o->ref = optarg;
		break;
	case 'm':
		if (o->nmodel == MAXM - 1)
			qf_tool_usage_error("more than %d models", MAXM - 1);
		o->model[o->nmodel++] = optarg;
		break;
	case 'o': o->output = optarg; break;
	case 'd': o->disparity = optarg; break;
	case O_NLL: o->nll = optarg; break;
	case O_UNITS: o->units = optarg; break;
	case O_COMPARE: o->compare = optarg; break;
	case O_HEADINGS: o->e.headings = 1; break;
	case O_LANGS: o->languages = optarg; break;
	case O_GROUPBY:
		if (o->ngroupby == 64)
			qf_tool_usage_error("more than 64 --group-by");
		o->groupby[o->ngroupby++] = optarg;
		break;
	case O_GROUP:
		if (o->ngroup == 64)
			qf_tool_usage_error("more than 64 --group");
		if (!strchr(optarg, '=') || optarg[0] == '=' ||
		    !strchr(optarg, '=')[1])
			qf_tool_usage_error("--group wants NAME=L1,L2,..., not '%s'",
					    optarg);
		o->group[o->ngroup++] = optarg;
		break;
	case O_REFLANG: o->ref_lang = optarg; break;
	case O_MEASURE:
		if ((o->e.measure = qf_measure_parse(optarg)) < 0)
			qf_tool_usage_error("--measure: unknown measure '%s' "
					    "(%s)", optarg, qf_measure_list());
		break;
	case O_BASELINE: o->baseline = optarg; break;
	case O_MINDEN:
		if (qf_parse_double(optarg, &o->e.min_den, &e) < 0 ||
		    !(o->e.min_den >= 0 && o->e.min_den < 1e300))
			qf_tool_usage_error("--min-den: '%s' is not a number >= 0",
					    optarg);
		break;
	case O_BOOT:
		o->e.bootstrap = (int)qf_tool_parse_count("--bootstrap", optarg,
							  1000000);
		break;
	case O_SEED:
		o->e.seed = qf_tool_parse_count("--seed", optarg, UINT64_MAX);
		break;
	case O_WINDOW:
		o->e.window = (int)qf_tool_parse_count("--window", optarg, 1u << 30);
		o->window_set = 1;
		break;
	case O_STRIDE:
		o->e.stride = (int)qf_tool_parse_count("--stride", optarg, 1u << 30);
		o->stride_set = 1;
		break;
	case O_CLUSTER: o->e.cluster = pick("--cluster", optarg, clusters); break;
	case O_INTERVAL: o->e.interval = pick("--interval", optarg, intervals); break;
	case O_REALIZ:
		if (o->nrealiz == 64)
			qf_tool_usage_error("more than 64 --realizations");
		o->realiz[o->nrealiz++] = optarg;
		break;
	case O_RELIAB: o->reliability = optarg; break;
	case O_CONTRAST:
		o->cspec = realloc(o->cspec, ((size_t)o->ncon + 1) * sizeof *o->cspec);
		if (!o->cspec)
			qf_tool_die(1, "out of memory");
		o->cspec[o->ncon++] = optarg;
		break;
	case O_CONTRASTS: o->contrasts = optarg; break;
	case 'j': o->jobs = optarg; break;
	case 'v': o->verbose = 1; break;
	default: qf_tool_common_option(c, usage, argv);
	}
}

static void parse_args(int argc, char **argv, void *arg)
{
	struct opts *o = arg;
	static const struct option longs[] = {
		{ "ref", required_argument, NULL, 'r' },
		{ "model", required_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' },
		{ "disparity", required_argument, NULL, 'd' },
		{ "nll", required_argument, NULL, O_NLL },
		{ "units-out", required_argument, NULL, O_UNITS },
		{ "compare", required_argument, NULL, O_COMPARE },
		{ "headings", no_argument, NULL, O_HEADINGS },
		{ "realizations", required_argument, NULL, O_REALIZ },
		{ "reliability", required_argument, NULL, O_RELIAB },
		{ "contrast", required_argument, NULL, O_CONTRAST },
		{ "contrasts", required_argument, NULL, O_CONTRASTS },
		{ "languages", required_argument, NULL, O_LANGS },
		{ "group-by", required_argument, NULL, O_GROUPBY },
		{ "group", required_argument, NULL, O_GROUP },
		{ "ref-lang", required_argument, NULL, O_REFLANG },
		{ "measure", required_argument, NULL, O_MEASURE },
		{ "baseline", required_argument, NULL, O_BASELINE },
		{ "min-den", required_argument, NULL, O_MINDEN },
		{ "bootstrap", required_argument, NULL, O_BOOT },
		{ "seed", required_argument, NULL, O_SEED },
		{ "cluster", required_argument, NULL, O_CLUSTER },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "window", required_argument, NULL, O_WINDOW },
		{ "stride", required_argument, NULL, O_STRIDE },
		{ "jobs", required_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		QF_OPT_END
	};
	qf_err e;
	int c;

	o->e.bootstrap = 1000;
	o->e.seed = 1;
	o->e.min_den = 0.001;
	o->e.measure = QF_MEASURE_KL_UNIT;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":r:m:o:d:j:vh", longs, NULL)) != -1)
		option(o, c, argv);
	if (!o->ref)
		qf_tool_usage_error("no reference model: give -r REF");
	if (o->ngroupby && !o->languages)
		qf_tool_usage_error("--group-by needs --languages FILE");
	if (o->baseline && !o->nmodel)
		qf_tool_usage_error("--baseline without a test model (-m)");
	if (o->disparity && !o->nmodel)
		qf_tool_usage_error("a disparity table (-d) needs a test model (-m)");
	if (o->units && !o->nmodel)
		qf_tool_usage_error("a units table (--units-out) needs a test model "
				    "(-m)");
	if (o->compare && !o->nmodel)
		qf_tool_usage_error("a comparison table (--compare) needs a test "
				    "model (-m)");
	if (o->reliability && !o->nmodel)
		qf_tool_usage_error("a reliability table (--reliability) needs a test "
				    "model (-m)");
	if (o->nrealiz && !o->reliability)
		qf_tool_usage_error("--realizations needs --reliability FILE");
	if (o->ncon && !o->contrasts)
		qf_tool_usage_error("--contrast needs --contrasts FILE");
	if (o->contrasts && !o->ncon)
		qf_tool_usage_error("--contrasts needs a --contrast");
	if ((o->e.threads = qf_tool_threads(o->jobs, &e)) < 0)
		qf_tool_usage_error("%s", e.msg);
	name_models(o);
	configs(o);
	contrasts(o);
	o->e.ref_lang = o->ref_lang;
	o->tokens = argv + optind;
	o->ntokens = argc - optind;
	qf_tool_distinct_outputs((const char *[]){ "-o", "-d", "--nll",
						   "--units-out", "--compare",
						   "--reliability", "--contrasts" },
				 (const char *[]){ o->output ? o->output : "-",
						   o->disparity, o->nll, o->units,
						   o->compare, o->reliability,
						   o->contrasts },
				 7);
}

static void opts_free(void *arg)
{
	struct opts *o = arg;

	for (int i = 0; i < o->nm; i++)
		free(o->name[i]);
	for (int g = 0; g < o->nrealiz; g++)
		free(o->cname[g]);
	for (int c = 0; o->con && c < o->ncon; c++)
		qf_contrast_free(&o->con[c]);
	free(o->con);
	free(o->cspec);
}

/* Every model, of one vocabulary, on the threads asked for. */
static int load_models(const struct opts *o, qf_model **models, qf_err *e)
{
	for (int i = 0; i < o->nm; i++) {
		if (!(models[i] = qf_model_load(o->file[i], e)))
			return -1;
		if (i > 0 && qf_model_cfg(models[i])->vocab_size !=
			     qf_model_cfg(models[0])->vocab_size)
			return qf_err_set(e, "%s: vocab_size %d, the reference %s has "
					  "%d: models must share a vocabulary",
					  o->file[i],
					  qf_model_cfg(models[i])->vocab_size,
					  o->file[0],
					  qf_model_cfg(models[0])->vocab_size);
		if (qf_model_set_threads(models[i], o->e.threads, e) < 0)
			return -1;
	}
	return 0;
}

/* --window and --stride against the models' smallest n_ctx: misuse
 * (exit 2), as in qf-act. */
static void check_window(const struct opts *o, qf_model *const *models)
{
	int C = qf_model_cfg(models[0])->n_ctx;
	qf_err e;

	for (int i = 1; i < o->nm; i++)
		if (qf_model_cfg(models[i])->n_ctx < C)
			C = qf_model_cfg(models[i])->n_ctx;
	if (qf_window_check(o->window_set ? o->e.window : -1,
			    o->stride_set ? o->e.stride : -1, C, &e) < 0)
		qf_tool_usage_error("%s", e.msg);
}

/* The scopes of --group and --group-by; --languages alone is checked
 * against the data all the same. */
static int add_scopes(qf_eval *ev, const struct opts *o, qf_err *e)
{
	for (int g = 0; g < o->ngroup; g++) {
		const char *eq = strchr(o->group[g], '=');
		char *name = strndup(o->group[g], (size_t)(eq - o->group[g]));
		int rc;

		if (!name)
			return qf_err_set(e, "out of memory");
		rc = qf_eval_group(ev, name, eq + 1, e);
		free(name);
		if (rc < 0)
			return -1;
	}
	for (int g = 0; g < o->ngroupby; g++)
		if (qf_eval_group_by(ev, o->languages, o->groupby[g], e) < 0)
			return -1;
	if (o->languages && !o->ngroupby)
		return qf_eval_languages(ev, o->languages, e);
	return 0;
}

/* Scoring the token streams: the evaluation, the --nll stream and one
 * record's NLL per model for it, the records so far. */
struct scoring {
	qf_eval *ev;
	qf_writer *wn;		/* NULL: no --nll */
	float *nll[MAXM];
	size_t cap;
	uint64_t ordinal;
	qf_progress prog;
	int verbose;
};

/* The NLL records of one token record. */
static int put_nll(const struct scoring *sc, const qf_rec *in, uint64_t n,
		   qf_err *e)
{
	static const char *const copy[] = { "lang", "doc", "source" };

	for (int m = 0; m < qf_eval_models(sc->ev); m++) {
		const char *model = qf_eval_model_name(sc->ev, m);
		uint64_t dims[1] = { n - 1 };
		char name[300];
		qf_rec r;
		int rc = 0;

		qf_rec_init(&r);
		snprintf(name, sizeof name, "nll.%s.%" PRIu64, model, sc->ordinal);
		rc |= qf_rec_set_name(&r, name, e);
		rc |= qf_rec_set_shape(&r, QF_F32, 1, dims, e);
		rc |= qf_rec_set(&r, "kind", "nll", e);
		rc |= qf_rec_set(&r, "model", model, e);
		for (int i = 0; i < 3; i++)
			if (qf_rec_get(in, copy[i]))
				rc |= qf_rec_set(&r, copy[i], qf_rec_get(in, copy[i]), e);
		if (rc == 0)
			rc = qf_writer_put(sc->wn, &r, n > 1 ? sc->nll[m] : NULL, e);
		qf_rec_free(&r);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Room for the NLL of a record of n tokens, with --nll. */
static int grow_nll(struct scoring *sc, uint64_t n, qf_err *e)
{
	if (!sc->wn || n <= 1 || n - 1 <= sc->cap)
		return 0;
	for (int m = 0; m < qf_eval_models(sc->ev); m++) {
		float *p = realloc(sc->nll[m], (n - 1) * sizeof *p);

		if (!p)
			return qf_err_set(e, "out of memory");
		sc->nll[m] = p;
	}
	sc->cap = n - 1;
	return 0;
}

/* One token record of stream in (its header in rec): scored, and its
 * NLL written with --nll. */
static int one_record(struct scoring *sc, qf_reader *in, const qf_rec *rec,
		      qf_err *e)
{
	uint64_t n = rec->dims[0];
	int32_t *tok = NULL;
	int rc;

	if (grow_nll(sc, n, e) < 0)
		return -1;
	if (qf_reader_read_as(in, QF_I32, (void **)&tok, e) < 0)
		return -1;
	rc = qf_eval_doc(sc->ev, qf_reader_name(in), rec, tok, n,
			 sc->wn && n > 1 ? sc->nll : NULL, e);
	free(tok);
	/* a heading left out (1) has no NLL records */
	if (rc == 0 && sc->wn)
		rc = put_nll(sc, rec, n, e);
	return rc < 0 ? -1 : 0;
}

/* The records of one stream that are not token records: skipped, and
 * said once the progress line is gone (docs/conventions.md: nothing is
 * skipped without a word). */
struct skipped {
	uint64_t n;
	char *file, *first;	/* the stream's name, the first record's */
};

/* Record rec of stream in is no token record (-v: said at once). */
static void skip_record(const struct scoring *sc, const qf_reader *in,
			const qf_rec *rec, struct skipped *sk)
{
	if (sc->verbose)
		qf_tool_warn("%s: record %s: %s, not 1-d integer token ids: "
			     "skipped", qf_reader_name(in), rec->name,
			     qf_dtype_name(rec->dtype));
	if (sk->n++ == 0) {
		sk->file = strdup(qf_reader_name(in));
		sk->first = strdup(rec->name);
	}
}

/* Say what was skipped (say: the scoring went well; else its error is
 * the one line), and free it. */
static void skipped_note(struct skipped *sk, int say)
{
	if (sk->n && say)
		qf_tool_warn("%s: skipped %" PRIu64 " record%s that %s not 1-d "
			     "integer token ids (the first: %s)",
			     sk->file ? sk->file : "?", sk->n, sk->n == 1 ? "" : "s",
			     sk->n == 1 ? "is" : "are", sk->first ? sk->first : "?");
	free(sk->file);
	free(sk->first);
}

/* Every record of one token stream. */
static int one_stream(struct scoring *sc, const char *path,
		      struct skipped *sk, qf_err *e)
{
	qf_reader *in = qf_reader_open(path, e);
	qf_rec rec;
	int rc;

	if (!in)
		return -1;
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(in, &rec, e)) > 0) {
		/* any integer dtype: ids are read as i32, exactly */
		if (qf_dtype_is_float(rec.dtype) || rec.dtype == QF_BOOL ||
		    rec.ndim != 1) {
			skip_record(sc, in, &rec, sk);
			continue;
		}
		if ((rc = one_record(sc, in, &rec, e)) < 0)
			break;
		sc->ordinal++;
		qf_progress_update(&sc->prog, sc->ordinal, 0);
	}
	qf_rec_free(&rec);
	qf_reader_close(in);
	return rc < 0 ? -1 : 0;
}

/* Every token stream, or standard input. */
static int score_all(struct scoring *sc, const struct opts *o, qf_err *e)
{
	int n = o->ntokens ? o->ntokens : 1, rc = 0, i;
	struct skipped *sk = calloc((size_t)n, sizeof *sk);

	if (!sk)
		return qf_err_set(e, "out of memory");
	qf_progress_start(&sc->prog, "qf-eval: records");
	for (i = 0; i < n && rc == 0; i++)
		rc = one_stream(sc, o->ntokens ? o->tokens[i] : "-", &sk[i], e);
	qf_progress_end(&sc->prog);
	for (i = 0; i < n; i++)
		skipped_note(&sk[i], rc == 0);
	free(sk);
	if (rc == 0 && qf_eval_headings_left_out(sc->ev))
		qf_tool_warn("%" PRIu64 " heading record%s left out (--headings "
			     "to score them)", qf_eval_headings_left_out(sc->ev),
			     qf_eval_headings_left_out(sc->ev) == 1 ? "" : "s");
	return rc;
}

/* Close the --nll stream, if any; it is gone either way. */
static int close_nll(qf_writer **wn, qf_err *e)
{
	qf_writer *w = *wn;

	*wn = NULL;
	return w ? qf_writer_close(w, e) : 0;
}

/* Commit a table, if any; it is gone either way. */
static int commit_out(qf_out **out, qf_err *e)
{
	qf_out *d = *out;

	*out = NULL;
	return d ? qf_out_commit(d, e) : 0;
}

/* Say so when --interval auto took BCa on parallel units: too few for
 * the bootstrap-t (docs/eval.md, "Intervals"). */
static void interval_note(const struct opts *o, const qf_eval *ev)
{
	int units, m = qf_eval_interval(ev, &units);

	if (o->e.interval == QF_CI_AUTO && o->e.bootstrap > 0 && units > 0 &&
	    m == QF_CI_BCA)
		qf_tool_warn("%d parallel units: BCa intervals (the bootstrap-t "
			     "needs at least %d)", units, QF_T_MIN_UNITS);
}

static int run(void *arg, qf_err *e)
{
	const struct opts *o = arg;
	qf_model *models[MAXM] = { NULL };
	struct scoring sc = { .verbose = o->verbose };
	qf_out *out = NULL, *dout = NULL, *uout = NULL, *cout = NULL;
	qf_out *rout = NULL, *kout = NULL;
	int rc = -1;

	if (load_models(o, models, e) < 0)
		goto out;
	check_window(o, models);
	if (!(sc.ev = qf_eval_new(models, (const char *const *)o->name, o->nm,
				  &o->e, e)) ||
	    add_scopes(sc.ev, o, e) < 0 ||
	    qf_eval_contrasts(sc.ev, o->con, o->ncon, e) < 0)
		goto out;
	if (o->nll && !(sc.wn = qf_writer_open(o->nll, NULL, e)))
		goto out;
	if (score_all(&sc, o, e) < 0 || qf_eval_finish(sc.ev, e) < 0)
		goto out;
	interval_note(o, sc.ev);
	if (o->output && !(out = qf_out_open(o->output, e)))
		goto out;
	if (qf_eval_write_lang(sc.ev, out ? qf_out_file(out) : stdout, e) < 0)
		goto out;
	if (o->disparity && (!(dout = qf_out_open(o->disparity, e)) ||
			     qf_eval_write_disparity(sc.ev, qf_out_file(dout), e) < 0))
		goto out;
	if (o->units && (!(uout = qf_out_open(o->units, e)) ||
			 qf_eval_write_units(sc.ev, qf_out_file(uout), e) < 0))
		goto out;
	if (o->compare && (!(cout = qf_out_open(o->compare, e)) ||
			   qf_eval_write_compare(sc.ev, qf_out_file(cout), e) < 0))
		goto out;
	if (o->reliability &&
	    (!(rout = qf_out_open(o->reliability, e)) ||
	     qf_eval_write_reliability(sc.ev, o->conf, qf_out_file(rout), e) < 0))
		goto out;
	if (o->contrasts &&
	    (!(kout = qf_out_open(o->contrasts, e)) ||
	     qf_eval_write_contrasts(sc.ev, qf_out_file(kout), e) < 0))
		goto out;
	if (close_nll(&sc.wn, e) < 0 || commit_out(&kout, e) < 0 ||
	    commit_out(&rout, e) < 0 ||
	    commit_out(&cout, e) < 0 || commit_out(&uout, e) < 0 ||
	    commit_out(&dout, e) < 0 || commit_out(&out, e) < 0)
		goto out;
	if (o->verbose)
		fprintf(stderr, "qf-eval: %" PRIu64 " records, %d models\n",
			qf_eval_units(sc.ev), o->nm);
	rc = QF_EXIT_OK;
out:
	if (sc.wn)
		qf_writer_abort(sc.wn);
	if (out)
		qf_out_abort(out);
	if (dout)
		qf_out_abort(dout);
	if (uout)
		qf_out_abort(uout);
	if (cout)
		qf_out_abort(cout);
	if (rout)
		qf_out_abort(rout);
	if (kout)
		qf_out_abort(kout);
	qf_eval_free(sc.ev);
	for (int i = 0; i < o->nm; i++) {
		qf_model_free(models[i]);
		free(sc.nll[i]);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const qf_tool_def tool = {
		"qf-eval", QF_START_VERBOSE, parse_args, run, opts_free
	};
	struct opts o = { 0 };

	return qf_tool_main(&tool, &o, argc, argv);
}
