/*
 * tokrec.c - the token record: one document's token ids and what the
 * scores need to know of its text (formats/attributes.md, "Token
 * records").  qf-extract text writes it; evaluation, activations and
 * training read it, all through these two functions.
 */
#include <inttypes.h>
#include <string.h>

#include "text/text.h"

int qf_tokrec_set(qf_rec *rec, const qf_tokrec *t, qf_err *err)
{
	int rc = 0;

	rc |= qf_rec_set(rec, QF_ATTR_KIND, QF_KIND_TOKENS, err);
	rc |= qf_rec_set(rec, QF_ATTR_LANG, t->lang, err);
	rc |= qf_rec_set(rec, QF_ATTR_SOURCE, t->source, err);
	rc |= qf_rec_setf(rec, err, QF_ATTR_DOC, "%" PRIu64, t->doc);
	rc |= qf_rec_set(rec, "unit", t->unit, err);
	rc |= qf_rec_set(rec, "tokenizer", t->tokenizer, err);
	rc |= qf_rec_setf(rec, err, "bytes", "%" PRIu64, t->bytes);
	rc |= qf_rec_setf(rec, err, "chars", "%" PRIu64, t->chars);
	rc |= qf_rec_setf(rec, err, "words", "%" PRIu64, t->words);
	rc |= qf_rec_setf(rec, err, QF_ATTR_TOKENS, "%" PRIu64, t->tokens);
	if (t->bos >= 0)
		rc |= qf_rec_setf(rec, err, "bos", "%" PRId64, t->bos);
	rc |= qf_rec_setf(rec, err, "first_bytes", "%" PRIu64, t->first_bytes);
	rc |= qf_rec_setf(rec, err, "first_chars", "%" PRIu64, t->first_chars);
	if (t->unit_id) {
		rc |= qf_rec_set(rec, QF_ATTR_UNIT_ID, t->unit_id, err);
		rc |= qf_rec_set(rec, QF_ATTR_UNIT_KIND, t->unit_kind, err);
	}
	return rc ? -1 : 0;
}

static int count(const char *src, const qf_rec *rec, const char *key,
		 uint64_t *v, qf_err *err)
{
	const char *s = qf_rec_get(rec, key);
	qf_err e2;

	if (!s)
		return qf_err_set(err, "%s: record %s: no attribute %s (qf-extract "
				  "text writes it)", src, rec->name, key);
	if (qf_parse_u64(s, UINT64_MAX, v, &e2) < 0)
		return qf_err_set(err, "%s: record %s: attribute %s=%s is not a "
				  "count", src, rec->name, key, s);
	return 0;
}

int qf_tokrec_get(const char *src, const qf_rec *rec, qf_tokrec *t,
		  qf_err *err)
{
	memset(t, 0, sizeof *t);
	t->bos = -1;
	t->lang = qf_rec_get(rec, QF_ATTR_LANG);
	t->source = qf_rec_get(rec, QF_ATTR_SOURCE);
	t->unit = qf_rec_get(rec, "unit");
	t->tokenizer = qf_rec_get(rec, "tokenizer");
	t->unit_id = qf_rec_get(rec, QF_ATTR_UNIT_ID);
	t->unit_kind = qf_rec_get(rec, QF_ATTR_UNIT_KIND);
	if (!t->lang || !*t->lang)
		return qf_err_set(err, "%s: record %s: no attribute lang", src,
				  rec->name);
	if (count(src, rec, "bytes", &t->bytes, err) < 0 ||
	    count(src, rec, "chars", &t->chars, err) < 0 ||
	    count(src, rec, "words", &t->words, err) < 0 ||
	    count(src, rec, QF_ATTR_TOKENS, &t->tokens, err) < 0 ||
	    count(src, rec, "first_bytes", &t->first_bytes, err) < 0 ||
	    count(src, rec, "first_chars", &t->first_chars, err) < 0)
		return -1;
	if (t->first_bytes > t->bytes || t->first_chars > t->chars)
		return qf_err_set(err, "%s: record %s: first_bytes %" PRIu64
				  " or first_chars %" PRIu64 " beyond bytes %"
				  PRIu64 " or chars %" PRIu64, src, rec->name,
				  t->first_bytes, t->first_chars, t->bytes,
				  t->chars);
	return 0;
}
