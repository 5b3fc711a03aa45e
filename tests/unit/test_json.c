/* test_json.c - the JSON parser: RFC 8259 values, escapes, limits, errors */
#include <stdint.h>

#include "qf.h"
#include "core/json.h"
#include "unit.h"

static qf_json *parse(const char *s, qf_err *e)
{
	return qf_json_parse(s, strlen(s), "t", e);
}

static void test_values(void)
{
	qf_err e;
	const char *doc = " {\"a\": [1, -2.5e3, 0, true, false, null],"
		" \"s\": \"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\","
		" \"big\": 18446744073709551615, \"o\": {}, \"e\": []} ";
	qf_json *j = parse(doc, &e);
	const qf_json *a, *s;
	uint64_t u;

	CHECKF(j != NULL, "%s", e.msg);
	if (!j)
		return;
	CHECK(j->type == QF_JSON_OBJECT && j->n == 5);
	a = qf_json_get(j, "a");
	CHECK(a && a->type == QF_JSON_ARRAY && a->n == 6);
	CHECK(a->items[0]->num == 1 && a->items[1]->num == -2500);
	CHECK(a->items[3]->type == QF_JSON_TRUE);
	CHECK(a->items[4]->type == QF_JSON_FALSE);
	CHECK(a->items[5]->type == QF_JSON_NULL);
	CHECK(qf_json_u64(a->items[0], &u) == 0 && u == 1);
	CHECK(qf_json_u64(a->items[1], &u) < 0);
	s = qf_json_get(j, "s");
	CHECK(s && s->len == 15);
	CHECK(s && memcmp(s->str, "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80", 15) == 0);
	CHECK(qf_json_u64(qf_json_get(j, "big"), &u) == 0 && u == UINT64_MAX);
	CHECK(qf_json_get(j, "o")->n == 0 && qf_json_get(j, "e")->n == 0);
	CHECK(qf_json_get(j, "missing") == NULL);
	qf_json_free(j);

	j = parse("\"a\\u0000b\"", &e);
	CHECK(j && j->len == 3 && j->str[1] == 0);
	qf_json_free(j);
	j = parse("18446744073709551616", &e);
	CHECK(j && qf_json_u64(j, &u) < 0);
	qf_json_free(j);
}

static void test_errors(void)
{
	static const char *bad[] = {
		"", " ", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "[01]",
		"[1.]", "[.5]", "[1e]", "[+1]", "tru", "nul", "\"abc", "\"\\x\"",
		"\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\u12\"",
		"\"a\nb\"", "[1] 2", "\"\xff\"", "\"\xc0\xaf\"", "[1 2]", "{\"a\":}",
		"'a'", "NaN", "[-]",
	};
	qf_err e;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		qf_json *j = parse(bad[i], &e);
		CHECKF(j == NULL, "accepted %s", bad[i]);
		CHECKF(strncmp(e.msg, "t: offset ", 10) == 0, "%s", e.msg);
		qf_json_free(j);
	}
	/* nesting */
	char deep[2 * QF_JSON_MAX_DEPTH + 8];
	size_t n = 0;
	for (int i = 0; i < QF_JSON_MAX_DEPTH; i++)
		deep[n++] = '[';
	for (int i = 0; i < QF_JSON_MAX_DEPTH; i++)
		deep[n++] = ']';
	qf_json *j = qf_json_parse(deep, n, "t", &e);
	CHECK(j != NULL);
	qf_json_free(j);
	memmove(deep + 1, deep, n);
	deep[0] = '[';
	deep[n + 1] = ']';
	j = qf_json_parse(deep, n + 2, "t", &e);
	CHECK(j == NULL && strstr(e.msg, "nesting too deep"));
}

static void test_truncation(void)
{
	const char *doc = "{\"k\": [1, 2.5, \"\\u00e9x\", {\"z\": null}], \"t\": true}";
	size_t n = strlen(doc);
	qf_err e;

	for (size_t cut = 0; cut < n; cut++) {
		qf_json *j = qf_json_parse(doc, cut, "t", &e);
		CHECKF(j == NULL, "accepted a cut at %zu", cut);
		qf_json_free(j);
	}
	qf_json *j = qf_json_parse(doc, n, "t", &e);
	CHECK(j != NULL);
	qf_json_free(j);
}

int main(void)
{
	RUN(test_values);
	RUN(test_errors);
	RUN(test_truncation);
	return unit_done();
}
