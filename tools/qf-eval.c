/*
 * qf-eval - per-language quality of a reference model and test models
 * over token streams, their degradation and its disparity, with paired
 * bootstrap intervals.
 *
 * Options, files and messages; the work is lib/eval.c's (qf_eval),
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
	"      --nll FILE         per-token NLL of every model as a stream\n"
	"      --languages FILE   languages table (TSV, codes in column 1)\n"
	"      --group-by COLUMN  disparity per value of a column of that table\n"
	"                         (repeatable)\n"
	"      --group NAME=L1,L2,...  disparity over a list of languages\n"
	"                         (repeatable)\n"
	"      --ref-lang CODE    reference language of rel_deg (default eng)\n"
	"      --measure M        degradation for disparity: deg_byte (default),\n"
	"                         deg, d_bpb or d_nll\n"
	"      --baseline NAME    test model of the *_vs_base figures (default:\n"
	"                         the first)\n"
	"      --min-den X        denominators at most X are degenerate (0.001)\n"
	"      --bootstrap B      replicates (default 1000; 0: no intervals)\n"
	"      --seed S           seed of the bootstrap (default 1)\n"
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
	"  qf-eval -r ref.qft -m q4.qft --bootstrap 0 --nll nll.qft tokens.qft | cut -f1,2,18\n";

#define MAXM 256

struct opts {
	const char *ref, *model[MAXM], *output, *disparity, *nll, *languages;
	const char *groupby[64], *group[64], *ref_lang, *baseline, *jobs;
	int nmodel, ngroupby, ngroup, verbose;
	qf_eval_opts e;
};

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_NLL = 0x2000, O_LANGS, O_GROUPBY, O_GROUP, O_REFLANG,
	       O_MEASURE, O_BASELINE, O_MINDEN, O_BOOT, O_SEED, O_WINDOW,
	       O_STRIDE };
	static const struct option longs[] = {
		{ "ref", required_argument, NULL, 'r' },
		{ "model", required_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' },
		{ "disparity", required_argument, NULL, 'd' },
		{ "nll", required_argument, NULL, O_NLL },
		{ "languages", required_argument, NULL, O_LANGS },
		{ "group-by", required_argument, NULL, O_GROUPBY },
		{ "group", required_argument, NULL, O_GROUP },
		{ "ref-lang", required_argument, NULL, O_REFLANG },
		{ "measure", required_argument, NULL, O_MEASURE },
		{ "baseline", required_argument, NULL, O_BASELINE },
		{ "min-den", required_argument, NULL, O_MINDEN },
		{ "bootstrap", required_argument, NULL, O_BOOT },
		{ "seed", required_argument, NULL, O_SEED },
		{ "window", required_argument, NULL, O_WINDOW },
		{ "stride", required_argument, NULL, O_STRIDE },
		{ "jobs", required_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, QF_OPT_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	qf_err e;
	int c;

	o->e.bootstrap = 1000;
	o->e.seed = 1;
	o->e.min_den = 0.001;
	o->e.measure = QF_MEASURE_DEG_BYTE;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":r:m:o:d:j:vh", longs, NULL)) != -1) {
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
						    "(deg_byte, deg, d_bpb, d_nll)", optarg);
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
			break;
		case O_STRIDE:
			o->e.stride = (int)qf_tool_parse_count("--stride", optarg, 1u << 30);
			break;
		case 'j': o->jobs = optarg; break;
		case 'v': o->verbose = 1; break;
		default: qf_tool_common_option(c, usage, argv);
		}
	}
	if (!o->ref)
		qf_tool_usage_error("no reference model: give -r REF");
	if (o->ngroupby && !o->languages)
		qf_tool_usage_error("--group-by needs --languages FILE");
	if (o->baseline && !o->nmodel)
		qf_tool_usage_error("--baseline without a test model (-m)");
	if (o->disparity && !o->nmodel)
		qf_tool_usage_error("a disparity table (-d) needs a test model (-m)");
}

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

/* The NLL records of one token record. */
static int put_nll(qf_writer *w, const qf_eval *ev, const qf_rec *in,
		   uint64_t ordinal, uint64_t n, float *const *nll, qf_err *e)
{
	static const char *const copy[] = { "lang", "doc", "source" };

	for (int m = 0; m < qf_eval_models(ev); m++) {
		uint64_t dims[1] = { n - 1 };
		char name[300];
		qf_rec r;
		int rc = 0;

		qf_rec_init(&r);
		snprintf(name, sizeof name, "nll.%s.%" PRIu64,
			 qf_eval_model_name(ev, m), ordinal);
		rc |= qf_rec_set_name(&r, name, e);
		rc |= qf_rec_set_shape(&r, QF_F32, 1, dims, e);
		rc |= qf_rec_set(&r, "kind", "nll", e);
		rc |= qf_rec_set(&r, "model", qf_eval_model_name(ev, m), e);
		for (int i = 0; i < 3; i++)
			if (qf_rec_get(in, copy[i]))
				rc |= qf_rec_set(&r, copy[i], qf_rec_get(in, copy[i]), e);
		if (rc == 0)
			rc = qf_writer_put(w, &r, n > 1 ? nll[m] : NULL, e);
		qf_rec_free(&r);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Every record of one token stream. */
static int one_stream(qf_eval *ev, const char *path, qf_writer *wn,
		      float **nll, size_t *cap, uint64_t *ordinal,
		      qf_progress *prog, int verbose, qf_err *e)
{
	qf_reader *in = qf_reader_open(path, e);
	qf_rec rec;
	int rc;

	if (!in)
		return -1;
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(in, &rec, e)) > 0) {
		int32_t *tok = NULL;
		uint64_t n;

		if (rec.dtype != QF_I32 || rec.ndim != 1) {
			if (verbose)
				fprintf(stderr, "qf-eval: %s: record %s: %s, not "
					"1-d i32 token ids: skipped\n",
					qf_reader_name(in), rec.name,
					qf_dtype_name(rec.dtype));
			continue;
		}
		n = rec.dims[0];
		if (wn && n > 1 && n - 1 > *cap) {
			for (int m = 0; m < qf_eval_models(ev); m++) {
				float *p = realloc(nll[m], (n - 1) * sizeof *p);

				if (!p) {
					rc = qf_err_set(e, "out of memory");
					goto out;
				}
				nll[m] = p;
			}
			*cap = n - 1;
		}
		if (qf_reader_read_as(in, QF_I32, (void **)&tok, e) < 0) {
			rc = -1;
			break;
		}
		rc = qf_eval_doc(ev, qf_reader_name(in), &rec, tok, n,
				 wn && n > 1 ? nll : NULL, e);
		free(tok);
		if (rc == 0 && wn)
			rc = put_nll(wn, ev, &rec, *ordinal, n, nll, e);
		if (rc < 0)
			break;
		rc = 1;
		(*ordinal)++;
		qf_progress_update(prog, *ordinal, 0);
	}
out:
	qf_rec_free(&rec);
	qf_reader_close(in);
	return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	/* static: what a failure leaves behind stays reachable at exit */
	static struct opts o;
	static qf_model *models[MAXM];
	static char *names[MAXM];
	static float *nll[MAXM];
	static qf_eval *ev;
	size_t cap = 0;
	uint64_t ordinal = 0;
	int nm, threads;
	const char *ref_file = NULL;
	qf_writer *wn = NULL;
	qf_out *out = NULL, *dout = NULL;
	qf_progress prog;
	qf_err e;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			o.verbose = 1;
	qf_blas_init(argc, argv, o.verbose);
	qf_tool_init("qf-eval");
	parse_args(argc, argv, &o);
	threads = qf_tool_threads(o.jobs, &e);
	if (threads < 0)
		qf_tool_usage_error("%s", e.msg);
	/* names first: misuse before any work */
	{
		const char *file;

		names[0] = o.ref[0] && strchr(o.ref, '=') ? model_name(o.ref, &file)
							   : strdup("ref");
		if (!names[0])
			qf_tool_die(1, "out of memory");
		for (int i = 0; i < o.nmodel; i++)
			names[i + 1] = model_name(o.model[i], &file);
	}
	nm = o.nmodel + 1;
	for (int i = 0; i < nm; i++)
		for (int j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				qf_tool_usage_error("two models named '%s'", names[i]);
	o.e.baseline = 0;
	if (o.baseline) {
		o.e.baseline = -1;
		for (int i = 1; i < nm; i++)
			if (strcmp(names[i], o.baseline) == 0)
				o.e.baseline = i - 1;
		if (o.e.baseline < 0)
			qf_tool_usage_error("--baseline: no test model named '%s'",
					    o.baseline);
	}
	o.e.ref_lang = o.ref_lang;
	o.e.threads = threads;
	for (int i = 0; i < nm; i++) {
		const char *file;

		if (i == 0 && !strchr(o.ref, '='))
			file = o.ref;
		else
			free(model_name(i ? o.model[i - 1] : o.ref, &file));
		if (!(models[i] = qf_model_load(file, &e)))
			qf_tool_fail(&e);
		if (i == 0)
			ref_file = file;
		else if (qf_model_cfg(models[i])->vocab_size !=
			 qf_model_cfg(models[0])->vocab_size)
			qf_tool_die(1, "%s: vocab_size %d, the reference %s has %d: "
				    "models must share a vocabulary", file,
				    qf_model_cfg(models[i])->vocab_size, ref_file,
				    qf_model_cfg(models[0])->vocab_size);
		if (qf_model_set_threads(models[i], threads, &e) < 0)
			qf_tool_fail(&e);
	}
	if (!(ev = qf_eval_new(models, (const char *const *)names, nm, &o.e, &e)))
		qf_tool_fail(&e);
	for (int g = 0; g < o.ngroup; g++) {
		char *name = strdup(o.group[g]), *eq;

		if (!name)
			qf_tool_die(1, "out of memory");
		eq = strchr(name, '=');
		*eq = '\0';
		if (qf_eval_group(ev, name, eq + 1, &e) < 0)
			qf_tool_fail(&e);
		free(name);
	}
	for (int g = 0; g < o.ngroupby; g++)
		if (qf_eval_group_by(ev, o.languages, o.groupby[g], &e) < 0)
			qf_tool_fail(&e);
	if (o.nll && !(wn = qf_writer_open(o.nll, NULL, &e)))
		qf_tool_fail(&e);
	qf_progress_start(&prog, "qf-eval: records");
	if (optind >= argc) {
		if (one_stream(ev, "-", wn, nll, &cap, &ordinal, &prog, o.verbose,
			       &e) < 0)
			goto fail;
	}
	for (int i = optind; i < argc; i++)
		if (one_stream(ev, argv[i], wn, nll, &cap, &ordinal, &prog,
			       o.verbose, &e) < 0)
			goto fail;
	qf_progress_end(&prog);
	if (qf_eval_finish(ev, &e) < 0)
		goto fail;
	if (o.output && !(out = qf_out_open(o.output, &e)))
		goto fail;
	if (qf_eval_write_lang(ev, out ? qf_out_file(out) : stdout, &e) < 0)
		goto fail;
	if (o.disparity) {
		if (!(dout = qf_out_open(o.disparity, &e)) ||
		    qf_eval_write_disparity(ev, qf_out_file(dout), &e) < 0)
			goto fail;
	}
	if (wn) {
		qf_writer *w = wn;

		wn = NULL;
		if (qf_writer_close(w, &e) < 0)
			goto fail;
	}
	if (dout) {
		qf_out *d = dout;

		dout = NULL;
		if (qf_out_commit(d, &e) < 0)
			goto fail;
	}
	if (out) {
		qf_out *d = out;

		out = NULL;
		if (qf_out_commit(d, &e) < 0)
			goto fail;
	}
	if (o.verbose)
		fprintf(stderr, "qf-eval: %" PRIu64 " records, %d models\n",
			qf_eval_units(ev), nm);
	qf_eval_free(ev);
	for (int i = 0; i < nm; i++) {
		qf_model_free(models[i]);
		free(names[i]);
		free(nll[i]);
	}
	qf_tool_close_stdout();
	return QF_EXIT_OK;
fail:
	qf_progress_end(&prog);
	if (wn)
		qf_writer_abort(wn);
	if (out)
		qf_out_abort(out);
	if (dout)
		qf_out_abort(dout);
	qf_tool_fail(&e);
}
