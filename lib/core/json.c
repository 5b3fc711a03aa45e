/*
 * json.c - a strict JSON (RFC 8259) parser into a small tree.
 *
 * Used for safetensors headers, config.json, sharding indexes and
 * tokenizer files.  Input must be valid UTF-8; nesting is limited to
 * QF_JSON_MAX_DEPTH; numbers keep their text so that 64-bit integers
 * (safetensors offsets) are read exactly.  Errors give the byte offset.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/json.h"

struct parser {
	const char *s;
	size_t n, i;
	int depth;
	qf_err *err;
	const char *name;
};

static int perr(struct parser *p, const char *what)
{
	return qf_err_set(p->err, "%s: offset %zu: %s", p->name, p->i, what);
}

static void skip_ws(struct parser *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
			       p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static qf_json *node(int type)
{
	qf_json *j = calloc(1, sizeof *j);

	if (j)
		j->type = type;
	return j;
}

void qf_json_free(qf_json *j)
{
	if (!j)
		return;
	for (size_t k = 0; k < j->n; k++) {
		qf_json_free(j->items[k]);
		if (j->keys)
			free(j->keys[k]);
	}
	free(j->items);
	free(j->keys);
	free(j->str);
	free(j);
}

static int hex4(struct parser *p, uint32_t *v)
{
	*v = 0;
	if (p->n - p->i < 4)
		return perr(p, "truncated \\u escape");
	for (int k = 0; k < 4; k++) {
		char c = p->s[p->i++];
		int d = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return perr(p, "bad \\u escape");
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

/* A string starting at the opening quote; result NUL-terminated with
 * its length (it may hold NUL bytes from \u0000). */
static int parse_string(struct parser *p, char **out, size_t *outlen)
{
	size_t start = ++p->i, end = start, len = 0;
	char *o;

	/* find the end and an upper bound of the decoded size */
	while (end < p->n && p->s[end] != '"') {
		if ((unsigned char)p->s[end] < 0x20) {
			p->i = end;
			return perr(p, "control character in string");
		}
		if (p->s[end] == '\\')
			end++;
		end++;
	}
	if (end >= p->n)
		return perr(p, "unterminated string");
	if (!qf_utf8_valid(p->s + start, end - start))
		return perr(p, "invalid UTF-8 in string");
	o = malloc(end - start + 1);
	if (!o)
		return perr(p, "out of memory");
	while (p->i < end) {
		char c = p->s[p->i++];
		uint32_t cp, lo;

		if (c != '\\') {
			o[len++] = c;
			continue;
		}
		c = p->s[p->i++];
		switch (c) {
		case '"': o[len++] = '"'; break;
		case '\\': o[len++] = '\\'; break;
		case '/': o[len++] = '/'; break;
		case 'b': o[len++] = '\b'; break;
		case 'f': o[len++] = '\f'; break;
		case 'n': o[len++] = '\n'; break;
		case 'r': o[len++] = '\r'; break;
		case 't': o[len++] = '\t'; break;
		case 'u':
			if (hex4(p, &cp) < 0)
				goto fail;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (p->i + 2 > end || p->s[p->i] != '\\' ||
				    p->s[p->i + 1] != 'u') {
					perr(p, "unpaired surrogate");
					goto fail;
				}
				p->i += 2;
				if (hex4(p, &lo) < 0)
					goto fail;
				if (lo < 0xdc00 || lo > 0xdfff) {
					perr(p, "unpaired surrogate");
					goto fail;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				perr(p, "unpaired surrogate");
				goto fail;
			}
			len += qf_utf8_put(cp, (unsigned char *)o + len);
			break;
		default:
			p->i--;
			perr(p, "bad escape in string");
			goto fail;
		}
	}
	p->i = end + 1;
	o[len] = 0;
	*out = o;
	*outlen = len;
	return 0;
fail:
	free(o);
	return -1;
}

static int parse_number(struct parser *p, qf_json *j)
{
	size_t st = p->i;
	char *end;

	if (p->i < p->n && p->s[p->i] == '-')
		p->i++;
	if (p->i >= p->n)
		return perr(p, "truncated number");
	if (p->s[p->i] == '0') {
		p->i++;
	} else if (p->s[p->i] >= '1' && p->s[p->i] <= '9') {
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	} else {
		return perr(p, "bad number");
	}
	if (p->i < p->n && p->s[p->i] == '.') {
		p->i++;
		if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
			return perr(p, "bad number");
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	}
	if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
			return perr(p, "bad number");
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	}
	j->len = p->i - st;
	j->str = malloc(j->len + 1);
	if (!j->str)
		return perr(p, "out of memory");
	memcpy(j->str, p->s + st, j->len);
	j->str[j->len] = 0;
	j->num = strtod(j->str, &end);
	return 0;
}

static qf_json *parse_value(struct parser *p);

static int push_item(qf_json *j, char *key, qf_json *v)
{
	if ((j->n & (j->n - 1)) == 0) {	/* grow at powers of two */
		size_t cap = j->n ? j->n * 2 : 1;
		qf_json **it = realloc(j->items, cap * sizeof *it);
		if (!it)
			return -1;
		j->items = it;
		if (j->type == QF_JSON_OBJECT) {
			char **k = realloc(j->keys, cap * sizeof *k);
			if (!k)
				return -1;
			j->keys = k;
		}
	}
	j->items[j->n] = v;
	if (j->keys)
		j->keys[j->n] = key;
	j->n++;
	return 0;
}

static qf_json *parse_container(struct parser *p, int type)
{
	char close = type == QF_JSON_ARRAY ? ']' : '}';
	qf_json *j = node(type);

	if (!j) {
		perr(p, "out of memory");
		return NULL;
	}
	if (++p->depth > QF_JSON_MAX_DEPTH) {
		perr(p, "nesting too deep");
		goto fail;
	}
	p->i++;
	skip_ws(p);
	if (p->i < p->n && p->s[p->i] == close) {
		p->i++;
		p->depth--;
		return j;
	}
	for (;;) {
		char *key = NULL;
		size_t klen;
		qf_json *v;

		skip_ws(p);
		if (type == QF_JSON_OBJECT) {
			if (p->i >= p->n || p->s[p->i] != '"') {
				perr(p, "expected a string key");
				goto fail;
			}
			if (parse_string(p, &key, &klen) < 0)
				goto fail;
			skip_ws(p);
			if (p->i >= p->n || p->s[p->i] != ':') {
				free(key);
				perr(p, "expected ':'");
				goto fail;
			}
			p->i++;
		}
		v = parse_value(p);
		if (!v || push_item(j, key, v) < 0) {
			if (v)
				perr(p, "out of memory");
			free(key);
			qf_json_free(v);
			goto fail;
		}
		skip_ws(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->n && p->s[p->i] == close) {
			p->i++;
			break;
		}
		perr(p, type == QF_JSON_ARRAY ? "expected ',' or ']'" :
		     "expected ',' or '}'");
		goto fail;
	}
	p->depth--;
	return j;
fail:
	qf_json_free(j);
	return NULL;
}

static int literal(struct parser *p, const char *word)
{
	size_t k = strlen(word);

	if (p->n - p->i < k || memcmp(p->s + p->i, word, k) != 0)
		return 0;
	p->i += k;
	return 1;
}

static qf_json *parse_value(struct parser *p)
{
	qf_json *j;

	skip_ws(p);
	if (p->i >= p->n) {
		perr(p, "unexpected end of input");
		return NULL;
	}
	switch (p->s[p->i]) {
	case '{':
		return parse_container(p, QF_JSON_OBJECT);
	case '[':
		return parse_container(p, QF_JSON_ARRAY);
	case '"':
		j = node(QF_JSON_STRING);
		if (!j || parse_string(p, &j->str, &j->len) < 0) {
			if (!j)
				perr(p, "out of memory");
			qf_json_free(j);
			return NULL;
		}
		return j;
	}
	if (literal(p, "null"))
		return node(QF_JSON_NULL);
	if (literal(p, "true"))
		return node(QF_JSON_TRUE);
	if (literal(p, "false"))
		return node(QF_JSON_FALSE);
	j = node(QF_JSON_NUMBER);
	if (!j || parse_number(p, j) < 0) {
		if (!j)
			perr(p, "out of memory");
		qf_json_free(j);
		return NULL;
	}
	return j;
}

qf_json *qf_json_parse(const char *text, size_t len, const char *name,
		       qf_err *err)
{
	struct parser p = { text, len, 0, 0, err, name ? name : "json" };
	qf_json *j;

	j = parse_value(&p);
	if (!j)
		return NULL;
	skip_ws(&p);
	if (p.i != p.n) {
		perr(&p, "trailing characters after the JSON value");
		qf_json_free(j);
		return NULL;
	}
	return j;
}

const qf_json *qf_json_get(const qf_json *obj, const char *key)
{
	if (!obj || obj->type != QF_JSON_OBJECT)
		return NULL;
	for (size_t k = 0; k < obj->n; k++)
		if (strcmp(obj->keys[k], key) == 0)
			return obj->items[k];
	return NULL;
}

int qf_json_u64(const qf_json *j, uint64_t *out)
{
	uint64_t v = 0;

	if (!j || j->type != QF_JSON_NUMBER || j->len == 0)
		return -1;
	for (size_t k = 0; k < j->len; k++) {
		unsigned d = (unsigned char)j->str[k] - '0';
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}
