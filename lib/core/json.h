/* json.h - a strict JSON parser (internal to lib/; not installed). */
#ifndef QF_CORE_JSON_H
#define QF_CORE_JSON_H

#include "core/core.h"

/* ---------------------------------------------------------------- JSON */

/* A strict JSON (RFC 8259) tree: for safetensors headers, config.json,
 * sharding indexes and tokenizer files.  Strings are decoded to UTF-8
 * (str, len; they may hold NUL from \u0000); numbers keep their text in
 * str as well as a double in num; arrays and objects hold n items, and
 * objects their keys in order (duplicates kept; qf_json_get finds the
 * first). */
enum {
	QF_JSON_NULL, QF_JSON_FALSE, QF_JSON_TRUE, QF_JSON_NUMBER,
	QF_JSON_STRING, QF_JSON_ARRAY, QF_JSON_OBJECT,
};
#define QF_JSON_MAX_DEPTH 128
typedef struct qf_json {
	int type;
	char *str;
	size_t len;
	double num;
	size_t n;
	struct qf_json **items;
	char **keys;
} qf_json;
/* Parse len bytes; errors read "NAME: offset N: what". */
qf_json *qf_json_parse(const char *text, size_t len, const char *name,
		       qf_err *err);
void qf_json_free(qf_json *j);
const qf_json *qf_json_get(const qf_json *obj, const char *key);
/* A number that is a non-negative integer in range, exactly; else -1. */
int qf_json_u64(const qf_json *j, uint64_t *out);

#endif
