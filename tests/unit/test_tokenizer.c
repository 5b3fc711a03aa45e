/*
 * test_tokenizer.c - the "bytes" tokenizer and GPT-2's byte-level BPE.
 *
 * GPT-2's ids are checked against data/bpe/expected.json, written by
 * data/bpe/gen.js from the JS reference tokenizer (npm gpt-3-encoder) and
 * cross-checked by data/bpe/ref_gpt2.py (GPT-2's own algorithm in Python);
 * its "divergent" texts are those on which the two references disagree,
 * where qf follows GPT-2's.  The GPT-2 files are read from
 * ../pipelines/data/gpt2.  The merging itself is also compared with a
 * plain transcription of GPT-2's loop on random vocabularies, odd merge
 * orders included.  Run with cwd = tests/.
 */
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qf.h"
#include "core/json.h"
#include "text/unicode.h"
#include "unit.h"

#define GPT2 "../pipelines/data/gpt2/"
#define EXPECTED "data/bpe/expected.json"

static qf_tokenizer *gpt2;
static qf_json *expected;
static char tmpdir[64];

/* ---------------------------------------------------------------- helpers */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, k;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 1 << 16;
			buf = realloc(buf, cap + 1);
			if (!buf)
				abort();
		}
		k = fread(buf + n, 1, cap - n, f);
		n += k;
	} while (k > 0);
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

/* A path in the scratch directory; four calls' results live at once. */
static const char *tmp_path(const char *name)
{
	static char ps[4][256];
	static int k;
	char *p = ps[k++ % 4];

	if (!tmpdir[0]) {
		strcpy(tmpdir, "/tmp/qf-test-tok.XXXXXX");
		if (!mkdtemp(tmpdir))
			abort();
	}
	snprintf(p, sizeof ps[0], "%s/%s", tmpdir, name);
	return p;
}

static void put_file(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(s, 1, n, f) != n || fclose(f) != 0)
		abort();
}

static void put_str(const char *name, const char *s)
{
	put_file(tmp_path(name), s, strlen(s));
}

static qf_tokenizer *load_gpt2(void)
{
	qf_err e;

	if (!gpt2) {
		gpt2 = qf_tok_gpt2_open(GPT2 "encoder.json", GPT2 "vocab.bpe", &e);
		if (!gpt2)
			printf("# %s\n", e.msg);
	}
	return gpt2;
}

static const qf_json *cases(const char *which)
{
	qf_err e;

	if (!expected) {
		size_t len;
		char *text = slurp(EXPECTED, &len);
		if (!text) {
			printf("# %s: cannot read\n", EXPECTED);
			return NULL;
		}
		expected = qf_json_parse(text, len, EXPECTED, &e);
		free(text);
		if (!expected) {
			printf("# %s\n", e.msg);
			return NULL;
		}
	}
	return qf_json_get(expected, which);
}

/* Encode text into a fresh array; returns the count or -1. */
static int64_t enc(const qf_tokenizer *t, const char *s, size_t n,
		   int32_t **ids)
{
	size_t k = 0, cap = 0;
	qf_err e;
	int64_t r;

	*ids = NULL;
	r = qf_tok_encode(t, s, n, ids, &k, &cap, &e);
	if (r < 0)
		printf("# encode: %s\n", e.msg);
	else if ((size_t)r != k)
		printf("# encode returned %lld for %zu ids\n", (long long)r, k);
	return r;
}

/* The pieces of ids put together give back s[0..n). */
static int roundtrip(const qf_tokenizer *t, const int32_t *ids, size_t k,
		     const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < k; i++) {
		size_t len;
		const char *p = qf_tok_piece(t, ids[i], &len);
		if (!p || len > n - o || memcmp(p, s + o, len) != 0)
			return 0;
		o += len;
	}
	return o == n;
}

/* ids equal to the JSON array want; names the first difference unless
 * what is NULL. */
static int same_ids(const char *what, const int32_t *ids, int64_t k,
		    const qf_json *want)
{
	size_t i;

	if (!want || want->type != QF_JSON_ARRAY || k < 0)
		return 0;
	for (i = 0; i < want->n && i < (size_t)k; i++)
		if (want->items[i]->num != ids[i])
			break;
	if (i == want->n && i == (size_t)k)
		return 1;
	if (what)
		printf("# %s: %lld ids, expected %zu; first difference at %zu: "
	       "%d, expected %.0f\n", what, (long long)k, want->n, i,
	       i < (size_t)k ? ids[i] : -1,
	       i < want->n ? want->items[i]->num : -1.0);
	return 0;
}

/* ---------------------------------------------------------------- bytes */

static void test_bytes(void)
{
	static const char text[] = "h\xc3\xa9llo\0\xff\n";
	size_t n = sizeof text - 1, len, k = 0, cap = 0;
	int32_t *ids = NULL;
	qf_err e;
	qf_tokenizer *t = qf_tok_bytes(&e);

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_STR(qf_tok_name(t), "bytes");
	CHECK(qf_tok_vocab_size(t) == 256);
	CHECK(qf_tok_encode(t, text, n, &ids, &k, &cap, &e) == (int64_t)n);
	CHECK(k == n);
	for (size_t i = 0; i < n && k == n; i++)
		CHECK(ids[i] == (unsigned char)text[i]);
	CHECK(roundtrip(t, ids, k, text, n));
	/* appends */
	CHECK(qf_tok_encode(t, "ab", 2, &ids, &k, &cap, &e) == 2);
	CHECK(k == n + 2 && ids[n] == 'a' && ids[n + 1] == 'b');
	CHECK(qf_tok_encode(t, "", 0, &ids, &k, &cap, &e) == 0 && k == n + 2);
	for (int i = 0; i < 256; i++) {
		const char *p = qf_tok_piece(t, i, &len);
		CHECK(p && len == 1 && (unsigned char)p[0] == i);
	}
	CHECK(qf_tok_piece(t, -1, &len) == NULL);
	CHECK(qf_tok_piece(t, 256, &len) == NULL);
	free(ids);
	qf_tok_free(t);
}

/* ---------------------------------------------------------------- GPT-2 */

static void test_gpt2_basics(void)
{
	qf_tokenizer *t = load_gpt2();
	int32_t *ids = NULL;
	size_t len, k = 0, cap = 0;
	const char *p;
	qf_err e;

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_STR(qf_tok_name(t), "gpt2-bpe");
	CHECK(qf_tok_vocab_size(t) == 50257);
	p = qf_tok_piece(t, 50256, &len);
	CHECK(p && len == 13 && memcmp(p, "<|endoftext|>", 13) == 0);
	p = qf_tok_piece(t, 220, &len);
	CHECK(p && len == 1 && p[0] == ' ');
	p = qf_tok_piece(t, 198, &len);
	CHECK(p && len == 1 && p[0] == '\n');
	p = qf_tok_piece(t, 262, &len);		/* "Ġthe" */
	CHECK(p && len == 4 && memcmp(p, " the", 4) == 0);
	CHECK(qf_tok_piece(t, -1, &len) == NULL);
	CHECK(qf_tok_piece(t, 50257, &len) == NULL);

	/* "Hello world" is [15496, 995]; appending keeps what was there */
	CHECK(qf_tok_encode(t, "Hello world", 11, &ids, &k, &cap, &e) == 2);
	CHECK(k == 2 && ids[0] == 15496 && ids[1] == 995);
	CHECK(qf_tok_encode(t, " world", 6, &ids, &k, &cap, &e) == 1);
	CHECK(k == 3 && ids[0] == 15496 && ids[2] == 995);
	CHECK(qf_tok_encode(t, "", 0, &ids, &k, &cap, &e) == 0 && k == 3);
	CHECK(cap >= k);
	free(ids);
}

/* Every text of expected.json: the JS reference's ids, and pieces that
 * give the text back. */
static void test_gpt2_expected(void)
{
	qf_tokenizer *t = load_gpt2();
	const qf_json *cs = cases("cases");
	size_t n = 0;

	CHECK(t && cs && cs->type == QF_JSON_ARRAY && cs->n >= 100);
	if (!t || !cs)
		return;
	for (size_t i = 0; i < cs->n; i++) {
		const qf_json *c = cs->items[i];
		const qf_json *name = qf_json_get(c, "name");
		const qf_json *text = qf_json_get(c, "text");
		int32_t *ids;
		int64_t k;

		if (!name || !text || text->type != QF_JSON_STRING) {
			CHECK(!"malformed case");
			continue;
		}
		k = enc(t, text->str, text->len, &ids);
		CHECKF(same_ids(name->str, ids, k, qf_json_get(c, "ids")),
		       "case %s", name->str);
		CHECKF(k >= 0 && roundtrip(t, ids, (size_t)k, text->str,
					   text->len), "case %s", name->str);
		free(ids);
		n++;
	}
	printf("# %zu texts\n", n);
}

/* Where the JS tokenizer's \s (ECMAScript's) differs from GPT-2's (Unicode
 * White_Space: U+0085 is one, U+FEFF is not), qf gives GPT-2's ids. */
static void test_gpt2_divergent(void)
{
	qf_tokenizer *t = load_gpt2();
	const qf_json *cs = cases("divergent");

	CHECK(t && cs && cs->type == QF_JSON_ARRAY && cs->n >= 2);
	if (!t || !cs)
		return;
	for (size_t i = 0; i < cs->n; i++) {
		const qf_json *c = cs->items[i];
		const qf_json *name = qf_json_get(c, "name");
		const qf_json *text = qf_json_get(c, "text");
		int32_t *ids;
		int64_t k = enc(t, text->str, text->len, &ids);

		CHECKF(same_ids(name->str, ids, k, qf_json_get(c, "gpt2_ids")),
		       "case %s", name->str);
		CHECKF(!same_ids(NULL, ids, k, qf_json_get(c, "js_ids")),
		       "case %s", name->str);
		free(ids);
	}
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Random bytes (invalid UTF-8 included), random mixes of characters from
 * many scripts, and pieces cut anywhere: the pieces always give the text
 * back, and encoding never fails. */
static void test_gpt2_roundtrip(void)
{
	static const char *const chars[] = {
		"a", "Z", " ", "  ", "\t", "\n", "\r\n", "'", "'s", "'ll", "1",
		"\xc3\xa9", "\xd0\x96", "\xe0\xb8\x81", "\xe0\xb8\xb4",
		"\xe4\xb8\xad", "\xf0\x9f\x98\x80", "\xe2\x80\x8d", "\xc2\xa0",
		"\xe3\x80\x80", "\xc2\x85", "\xef\xbb\xbf", "\xcc\x81", ".",
		",", "\xd9\xa3", "\xe0\xa5\xa8", "\xff", "\xc3", "\xe0\xb8",
		"\xf0\x9f", "\xed\xa0\x80", "\xc0\xaf", "\x00",
	};
	size_t nchars = sizeof chars / sizeof *chars;
	qf_tokenizer *t = load_gpt2();
	char buf[4096];
	int bad = 0;

	if (!t)
		return;
	for (int r = 0; r < 400; r++) {
		size_t n = 0, want = rnd() % 600;
		int32_t *ids;
		int64_t k;

		if (r % 2) {
			for (; n < want; n++)
				buf[n] = (char)rnd();
		} else {
			while (n < want) {
				const char *c = chars[rnd() % nchars];
				size_t l = strlen(c) + (c[0] == 0);
				memcpy(buf + n, c, l);
				n += l;
			}
		}
		k = enc(t, buf, n, &ids);
		bad += !(k >= 0 && roundtrip(t, ids, (size_t)k, buf, n));
		free(ids);
	}
	CHECKF(bad == 0, "%d of 400 random texts", bad);
}

/* Long runs without a space: 1 MiB of Thai (its vowel marks end letter
 * runs, so many pieces), 1 MiB of Chinese and of Thai consonants (each a
 * single pre-tokenized piece of 1 MiB), of one letter (merges on merges)
 * and of spaces.  They must encode, in O(n log n); the time is for
 * tests/bench. */
static void long_run(const qf_tokenizer *t, char *buf, size_t size,
		     const char *unit, const char *what)
{
	size_t n = 0, l = strlen(unit);
	int32_t *ids;
	int64_t k;

	while (n + l <= size) {
		memcpy(buf + n, unit, l);
		n += l;
	}
	k = enc(t, buf, n, &ids);
	CHECKF(k > 0 && (size_t)k <= n, "%s", what);
	CHECKF(k > 0 && roundtrip(t, ids, (size_t)k, buf, n), "%s", what);
	free(ids);
}

static void test_gpt2_long_runs(void)
{
	size_t size = 1 << 20;
	qf_tokenizer *t = load_gpt2();
	char *buf = malloc(size);

	if (!t || !buf) {
		free(buf);
		return;
	}
	long_run(t, buf, size, "มนุษย์ทั้งหลายเกิดมามีอิสระและเสมอภาคกันในเกียรติศักด์และสิทธิ", "thai");
	long_run(t, buf, size, "กขคงจฉชซญดตถทนบปผพฟภมยรลวศษสหอฮ", "thai consonants");
	long_run(t, buf, size, "人人生而自由在尊严和权利上一律平等他们赋有理性和良心", "chinese");
	long_run(t, buf, size, "a", "a");
	long_run(t, buf, size, " ", "spaces");
	free(buf);
}

/* One tokenizer, several threads at once: the same ids as alone. */
struct job {
	const qf_json *cs;
	int ok;
};

static void *encode_all(void *arg)
{
	struct job *j = arg;

	j->ok = 1;
	for (int rep = 0; rep < 3; rep++) {
		for (size_t i = 0; i < j->cs->n; i++) {
			const qf_json *c = j->cs->items[i];
			const qf_json *text = qf_json_get(c, "text");
			int32_t *ids = NULL;
			size_t k = 0, cap = 0;
			qf_err e;

			if (qf_tok_encode(gpt2, text->str, text->len, &ids, &k,
					  &cap, &e) < 0 ||
			    !same_ids("thread", ids, (int64_t)k,
				      qf_json_get(c, "ids")))
				j->ok = 0;
			free(ids);
		}
	}
	return NULL;
}

static void test_gpt2_threads(void)
{
	pthread_t th[4];
	struct job jobs[4];
	const qf_json *cs = cases("cases");

	if (!load_gpt2() || !cs)
		return;
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct job){ cs, 0 };
		CHECK(pthread_create(&th[i], NULL, encode_all, &jobs[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(jobs[i].ok);
	}
}

/* ---------------------------------------------------------------- tokenizer.json */

static void json_str(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			fputc('\\', f);
		fputc(s[i], f);
	}
	fputc('"', f);
}

/* tokenizer.json in Hugging Face's layout from GPT-2's two files; merges
 * as "a b" strings or as ["a", "b"] pairs. */
static int write_hf(const char *path, int pairs)
{
	size_t elen, mlen;
	char *etext = slurp(GPT2 "encoder.json", &elen);
	char *mtext = slurp(GPT2 "vocab.bpe", &mlen);
	qf_json *enc_j;
	qf_err e;
	FILE *f;
	char *line, *save;
	int first = 1;

	if (!etext || !mtext)
		return -1;
	enc_j = qf_json_parse(etext, elen, "encoder.json", &e);
	f = fopen(path, "w");
	if (!enc_j || !f)
		return -1;
	fputs("{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
	      "\"added_tokens\":[{\"id\":50256,\"content\":\"<|endoftext|>\","
	      "\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
	      "\"normalized\":true,\"special\":true}],\"normalizer\":null,"
	      "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":"
	      "false,\"trim_offsets\":true,\"use_regex\":true},"
	      "\"post_processor\":{\"type\":\"ByteLevel\",\"add_prefix_space\":"
	      "true,\"trim_offsets\":false,\"use_regex\":true},\"decoder\":"
	      "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
	      "\"trim_offsets\":true,\"use_regex\":true},\"model\":{\"type\":"
	      "\"BPE\",\"dropout\":null,\"unk_token\":null,"
	      "\"continuing_subword_prefix\":\"\",\"end_of_word_suffix\":\"\","
	      "\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":{", f);
	for (size_t i = 0; i < enc_j->n; i++) {
		fputs(i ? ",\n" : "\n", f);
		json_str(f, enc_j->keys[i], strlen(enc_j->keys[i]));
		fprintf(f, ":%s", enc_j->items[i]->str);
	}
	fputs("},\"merges\":[", f);
	line = strtok_r(mtext, "\n", &save);	/* "#version: 0.2" */
	while ((line = strtok_r(NULL, "\n", &save))) {
		char *sp = strchr(line, ' ');
		fputs(first ? "\n" : ",\n", f);
		first = 0;
		if (pairs) {
			fputc('[', f);
			json_str(f, line, (size_t)(sp - line));
			fputc(',', f);
			json_str(f, sp + 1, strlen(sp + 1));
			fputc(']', f);
		} else {
			json_str(f, line, strlen(line));
		}
	}
	fputs("]}}\n", f);
	qf_json_free(enc_j);
	free(etext);
	free(mtext);
	return fclose(f);
}

static void test_hf_json(void)
{
	qf_tokenizer *t = load_gpt2();
	const qf_json *cs = cases("cases");
	qf_err e;

	if (!t || !cs)
		return;
	for (int pairs = 0; pairs < 2; pairs++) {
		const char *path = tmp_path(pairs ? "pairs.json" : "strings.json");
		qf_tokenizer *h;
		size_t la, lb;

		CHECK(write_hf(path, pairs) == 0);
		h = qf_tok_hf_open(path, &e);
		CHECKF(h != NULL, "%s", e.msg);
		if (!h)
			continue;
		CHECK_STR(qf_tok_name(h), "gpt2-bpe");
		CHECK(qf_tok_vocab_size(h) == qf_tok_vocab_size(t));
		for (int32_t id = 0; id < 50257; id++) {
			const char *a = qf_tok_piece(t, id, &la);
			const char *b = qf_tok_piece(h, id, &lb);
			if (!a || !b || la != lb || memcmp(a, b, la) != 0) {
				CHECKF(0, "piece %d differs", id);
				break;
			}
		}
		for (size_t i = 0; i < cs->n; i++) {
			const qf_json *c = cs->items[i];
			const qf_json *text = qf_json_get(c, "text");
			int32_t *ids;
			int64_t k = enc(h, text->str, text->len, &ids);
			CHECKF(same_ids("tokenizer.json", ids, k,
					qf_json_get(c, "ids")), "case %s",
			       qf_json_get(c, "name")->str);
			free(ids);
		}
		qf_tok_free(h);
		unlink(path);
	}
}

/* ---------------------------------------------------------------- small vocabularies */

/* encoder.json with the 256 byte tokens (ids 0..255 in byte order) and
 * extra tokens (alphabet strings) from id 256 on; written to NAME. */
static void put_vocab(const char *name, const char *const *extra, size_t n)
{
	FILE *f = fopen(tmp_path(name), "w");

	if (!f)
		abort();
	fputc('{', f);
	for (unsigned b = 0; b < 256; b++) {
		unsigned cp = b;
		char u[4];
		if (b <= 0x20)
			cp = 0x100 + b;
		else if (b >= 0x7f && b <= 0xa0)
			cp = 0x121 + b - 0x7f;
		else if (b == 0xad)
			cp = 0x143;
		if (cp < 0x80) {
			u[0] = (char)cp;
			u[1] = 0;
		} else {
			u[0] = (char)(0xc0 | cp >> 6);
			u[1] = (char)(0x80 | (cp & 0x3f));
			u[2] = 0;
		}
		fprintf(f, "%s", b ? "," : "");
		json_str(f, u, strlen(u));
		fprintf(f, ":%u", b);
	}
	for (size_t i = 0; i < n; i++) {
		fputc(',', f);
		json_str(f, extra[i], strlen(extra[i]));
		fprintf(f, ":%zu", 256 + i);
	}
	fputs("}\n", f);
	fclose(f);
}

/* GPT-2's merge loop, transcribed plainly: symbols as strings, the
 * lowest-ranked pair merged everywhere left to right, again and again.
 * ranks: merges as "a b" strings (a pair listed twice takes its last
 * rank).  Writes the symbols of word into out as a space-separated string. */
static void naive_bpe(const char *word, const char *const *merges, size_t nm,
		      char *out)
{
	char (*sym)[64] = malloc((strlen(word) + 1) * sizeof *sym);
	size_t n = 0;

	for (const char *p = word; *p; p++) {
		sym[n][0] = *p;
		sym[n++][1] = 0;
	}
	while (n > 1) {
		long best = -1;
		size_t bi = 0;
		for (size_t i = 0; i + 1 < n; i++) {
			char pair[160];
			snprintf(pair, sizeof pair, "%.63s %.63s", sym[i],
				 sym[i + 1]);
			for (size_t r = nm; r-- > 0;)
				if (strcmp(merges[r], pair) == 0) {
					if (best < 0 || (long)r < best) {
						best = (long)r;
						bi = i;
					}
					break;
				}
		}
		if (best < 0)
			break;
		char a[64], b[64];
		size_t m = 0;
		strcpy(a, sym[bi]);
		strcpy(b, sym[bi + 1]);
		for (size_t i = 0; i < n;) {
			if (i + 1 < n && strcmp(sym[i], a) == 0 &&
			    strcmp(sym[i + 1], b) == 0) {
				size_t la = strlen(a);
				memcpy(sym[m], a, la);
				strcpy(sym[m++] + la, b);
				i += 2;
			} else {
				if (m != i)
					strcpy(sym[m], sym[i]);
				m++;
				i++;
			}
		}
		n = m;
	}
	out[0] = 0;
	for (size_t i = 0, o = 0; i < n; i++)
		o += (size_t)sprintf(out + o, "%s%s", i ? " " : "", sym[i]);
	free(sym);
}

/* The symbols of ids as a space-separated string into out. */
static void symbols(const qf_tokenizer *t, const int32_t *ids, int64_t k,
		    char *out)
{
	size_t g = 0;

	out[0] = 0;
	for (int64_t i = 0; i < k; i++) {
		size_t len;
		const char *p = qf_tok_piece(t, ids[i], &len);
		g += (size_t)sprintf(out + g, "%s%.*s", i ? " " : "", (int)len,
				     p);
	}
}

/* Long words merged window by window (windows of 16 to 80 bytes here)
 * give what the plain loop gives on the whole word. */
static int long_words(const qf_tokenizer *t, const char *const *merges,
		      size_t nm)
{
	size_t n = 300 + rnd() % 1200;
	char *word = malloc(n + 1), *want = malloc(2 * n + 1);
	char *got = malloc(2 * n + 1);
	int32_t *ids;
	int64_t k;
	int bad = 0;

	for (size_t i = 0; i < n; i++)	/* runs of a letter, now and then */
		word[i] = rnd() % 4 ? "abc"[rnd() % 3] : i ? word[i - 1] : 'a';
	word[n] = 0;
	naive_bpe(word, merges, nm, want);
	qf_bpe_window = 16 + rnd() % 64;
	k = enc(t, word, n, &ids);
	qf_bpe_window = 64u << 10;
	symbols(t, ids, k, got);
	if (strcmp(want, got) != 0) {
		bad = 1;
		printf("# long word of %zu bytes differs\n", n);
	}
	free(ids);
	free(word);
	free(want);
	free(got);
	return bad;
}

/* Random merge lists over "abc", in any order (so that a merge may come
 * before the merges that make its symbols, and pairs repeat): the heap
 * merging agrees with the plain loop on random words. */
static void test_bpe_vs_naive(void)
{
	int bad = 0;

	for (int round = 0; round < 60; round++) {
		const char *toks[64];
		char tokbuf[64][32], mbuf[64][64], vbpe[8192];
		const char *merges[64];
		size_t nt = 0, nm = 0, o;
		qf_err e;
		qf_tokenizer *t;

		/* symbols: the letters, then merges of two known symbols */
		char known[80][32] = { "a", "b", "c" };
		size_t nk = 3;
		size_t want = 3 + rnd() % 30;
		while (nm < want) {
			const char *x = known[rnd() % nk], *y = known[rnd() % nk];
			if (strlen(x) + strlen(y) >= 24)
				continue;
			snprintf(mbuf[nm], sizeof mbuf[nm], "%s %s", x, y);
			merges[nm] = mbuf[nm];
			nm++;
			char xy[32];
			snprintf(xy, sizeof xy, "%s%s", x, y);
			int have = 0;
			for (size_t i = 0; i < nk; i++)
				have |= strcmp(known[i], xy) == 0;
			if (!have) {
				strcpy(known[nk++], xy);
				strcpy(tokbuf[nt], xy);
				toks[nt] = tokbuf[nt];
				nt++;
			}
		}
		/* shuffle the merge order now and then */
		if (round % 2)
			for (size_t i = nm; i > 1; i--) {
				size_t j = rnd() % i;
				const char *s = merges[i - 1];
				merges[i - 1] = merges[j];
				merges[j] = s;
			}
		put_vocab("rv.json", toks, nt);
		o = (size_t)snprintf(vbpe, sizeof vbpe, "#version: 0.2\n");
		for (size_t i = 0; i < nm; i++)
			o += (size_t)snprintf(vbpe + o, sizeof vbpe - o, "%s\n",
					      merges[i]);
		put_str("rv.bpe", vbpe);
		t = qf_tok_gpt2_open(tmp_path("rv.json"), tmp_path("rv.bpe"), &e);
		CHECKF(t != NULL, "%s", e.msg);
		if (!t)
			return;
		for (int w = 0; w < 40; w++) {
			char word[64], want_s[2048], got_s[2048];
			size_t n = 1 + rnd() % 40;
			int32_t *ids;
			int64_t k;

			for (size_t i = 0; i < n; i++)
				word[i] = "abc"[rnd() % 3];
			word[n] = 0;
			naive_bpe(word, merges, nm, want_s);
			k = enc(t, word, n, &ids);
			symbols(t, ids, k, got_s);
			if (strcmp(want_s, got_s) != 0) {
				if (bad++ < 3)
					printf("# word %s: got %s, want %s\n",
					       word, got_s, want_s);
			}
			free(ids);
		}
		for (int w = 0; w < 4; w++)
			bad += long_words(t, merges, nm);
		qf_tok_free(t);
	}
	CHECKF(bad == 0, "%d words differ", bad);
}

/* GPT-2's ids of long pieces (no space in 200 KB) are the same merged
 * whole, in windows of 64 KiB (the default) and in small windows; the
 * whole-piece merging is the one checked against the JS tokenizer. */
static void test_gpt2_windows(void)
{
	static const char *const units[] = {
		"มนุษย์ทั้งหลายเกิดมามีอิสระ", "人人生而自由在尊严和权利上一律平等",
		"a", "ab", "aab", "-", "0", "😀👍🏽", "\x01",
	};
	static const size_t windows[] = { 64u << 10, 4096, 300, 40 };
	qf_tokenizer *t = load_gpt2();
	size_t size = 200000, nu = sizeof units / sizeof *units;
	char *buf = malloc(size + 1);

	if (!t || !buf) {
		free(buf);
		return;
	}
	for (size_t u = 0; u <= nu; u++) {
		int32_t *whole, *ids;
		int64_t kw, k;
		size_t n = 0;

		if (u == nu) {		/* random letters */
			for (; n < size; n++)
				buf[n] = "abcdefghijklmnopqrstuvwxyz"[rnd() % 26];
		} else {
			for (size_t l = strlen(units[u]); n + l <= size; n += l)
				memcpy(buf + n, units[u], l);
		}
		qf_bpe_window = SIZE_MAX;
		kw = enc(t, buf, n, &whole);
		for (size_t i = 0; i < sizeof windows / sizeof *windows; i++) {
			qf_bpe_window = windows[i];
			k = enc(t, buf, n, &ids);
			CHECKF(k == kw && k > 0 &&
			       memcmp(ids, whole, (size_t)k * sizeof *ids) == 0,
			       "unit %zu, window %zu", u, windows[i]);
			free(ids);
		}
		qf_bpe_window = 64u << 10;
		free(whole);
	}
	free(buf);
}

/* Overlapping pairs are merged left to right: "aaa" is "aa a". */
static void test_bpe_overlap(void)
{
	static const char *const toks[] = { "aa", "aaaa" };
	qf_tokenizer *t;
	qf_err e;
	int32_t *ids;
	int64_t k;

	put_vocab("ov.json", toks, 2);
	put_str("ov.bpe", "#version: 0.2\na a\naa aa\n");
	t = qf_tok_gpt2_open(tmp_path("ov.json"), tmp_path("ov.bpe"), &e);
	CHECKF(t != NULL, "%s", e.msg);
	if (!t)
		return;
	k = enc(t, "aaa", 3, &ids);
	CHECK(k == 2 && ids[0] == 256 && ids[1] == 'a');
	free(ids);
	k = enc(t, "aaaaa", 5, &ids);
	CHECK(k == 2 && ids[0] == 257 && ids[1] == 'a');
	free(ids);
	qf_tok_free(t);
}

/* ---------------------------------------------------------------- malformed files */

struct bad {
	const char *vocab;	/* extra tokens, '|'-separated, or a whole
				 * encoder.json when it starts with '{' or
				 * is not JSON */
	const char *merges;	/* vocab.bpe */
	const char *file;	/* "json" or "bpe": the file named */
	const char *msg;	/* expected in the message */
};

static void put_extra_vocab(const char *name, const char *spec)
{
	const char *toks[16];
	char buf[256], *save, *s;
	size_t n = 0;

	snprintf(buf, sizeof buf, "%s", spec);
	for (s = strtok_r(buf, "|", &save); s && n < 16;
	     s = strtok_r(NULL, "|", &save))
		toks[n++] = s;
	put_vocab(name, toks, n);
}

static void test_malformed_gpt2(void)
{
	static const struct bad cases_[] = {
		{ "ab|abc", "#version: 0.2\na b\nab c\n", NULL, NULL },
		{ "ab|abc", "a b\nab c\n", NULL, NULL },	/* no header */
		{ "ab|abc", "#version: 0.2\r\na b\r\n\r\nab c\r\n", NULL, NULL },
		{ "ab|abc", "#version: 0.2\na b\nab c", NULL, NULL },
		{ "ab", "#version: 0.2\na x\n", "bpe",
		  "line 2: the merge of \"a\" and \"x\" is not a token" },
		{ "ab", "#version: 0.2\na b\n\nzz q\n", "bpe",
		  "line 4: unknown symbol \"zz\" (not a token)" },
		{ "ab", "#version: 0.2\nab\n", "bpe",
		  "line 2: expected a merge: two symbols" },
		{ "ab", "#version: 0.2\na b c\n", "bpe",
		  "line 2: expected a merge: two symbols" },
		{ "ab", "#version: 0.2\na b\n#version: 0.2\n", "bpe",
		  "line 3: unknown symbol \"#version:\"" },
		{ "ab", "# a b\na b\n", "bpe", "line 1: expected \"#version: ...\"" },
		{ "ab", "#version: 0.2\na \xff\n", "bpe", "line 2: invalid UTF-8" },
		{ "ab", "#version: 0.2\na\xc3\xa9 b\n", "bpe",
		  "line 2: unknown symbol \"a\xc3\xa9\"" },
		{ "{\"a\": 0}", "", "json", "no token for byte 0x00" },
		{ "{}", "", "json", "empty vocabulary" },
		{ "[1, 2]", "", "json", "not a JSON object" },
		{ "{\"a\": 0", "", "json", "offset 7" },
		{ "{\"a\xff\": 0}", "", "json", "offset" },
		{ "{\"a\": -1}", "", "json",
		  "token \"a\": the id is not a non-negative integer" },
		{ "{\"a\": 1.5}", "", "json", "not a non-negative integer" },
		{ "{\"a\": \"0\"}", "", "json", "not a non-negative integer" },
		{ "ab|cd|ab", "", "json", "duplicate token \"ab\"" },
		{ "x y", "", "json", "character U+0020 is not in GPT-2's "
		  "byte-level alphabet" },
		{ "\xc8\x80", "", "json", "character U+0200 is not" },
	};
	qf_err e;

	for (size_t i = 0; i < sizeof cases_ / sizeof *cases_; i++) {
		const struct bad *c = &cases_[i];
		qf_tokenizer *t;
		char want[512];

		if (c->vocab[0] == '{' || c->vocab[0] == '[')
			put_str("m.json", c->vocab);
		else
			put_extra_vocab("m.json", c->vocab);
		put_str("m.bpe", c->merges);
		t = qf_tok_gpt2_open(tmp_path("m.json"), tmp_path("m.bpe"), &e);
		if (!c->msg) {
			CHECKF(t != NULL, "case %zu: %s", i, e.msg);
			if (t) {
				int32_t *ids;
				int64_t k = enc(t, "abcab", 5, &ids);
				CHECKF(k == 2 && ids[0] == 257 && ids[1] == 256,
				       "case %zu", i);
				free(ids);
			}
			qf_tok_free(t);
			continue;
		}
		CHECKF(t == NULL, "case %zu loaded", i);
		qf_tok_free(t);
		if (t)
			continue;
		snprintf(want, sizeof want, "%s: ",
			 tmp_path(strcmp(c->file, "json") == 0 ? "m.json" : "m.bpe"));
		CHECKF(strncmp(e.msg, want, strlen(want)) == 0,
		       "case %zu: %s", i, e.msg);
		CHECKF(strstr(e.msg, c->msg) != NULL, "case %zu: %s", i, e.msg);
		CHECKF(strchr(e.msg, '\n') == NULL, "case %zu", i);
	}
}

/* Duplicate and out-of-range ids need a whole encoder.json. */
static void test_malformed_ids(void)
{
	static const char *const toks[] = { "ab", "cd" };
	qf_err e;
	qf_tokenizer *t;
	size_t len;
	char *text, *p;

	put_vocab("ids.json", toks, 2);
	put_str("ids.bpe", "#version: 0.2\n");
	t = qf_tok_gpt2_open(tmp_path("ids.json"), tmp_path("ids.bpe"), &e);
	CHECKF(t != NULL, "%s", e.msg);
	qf_tok_free(t);

	text = slurp(tmp_path("ids.json"), &len);
	if (!text)
		return;
	/* "cd": 257 -> "cd": 256, a duplicate */
	p = strstr(text, "\"cd\":257");
	CHECK(p != NULL);
	if (!p)
		return;
	memcpy(p + 5, "256", 3);
	put_file(tmp_path("ids.json"), text, len);
	t = qf_tok_gpt2_open(tmp_path("ids.json"), tmp_path("ids.bpe"), &e);
	CHECK(t == NULL);
	CHECKF(t == NULL && strstr(e.msg, "ids.json: duplicate id 256: tokens "
				   "\"ab\" and \"cd\""), "%s", e.msg);
	/* "cd": 300: not dense */
	memcpy(p + 5, "300", 3);
	put_file(tmp_path("ids.json"), text, len);
	t = qf_tok_gpt2_open(tmp_path("ids.json"), tmp_path("ids.bpe"), &e);
	CHECK(t == NULL);
	CHECKF(t == NULL && strstr(e.msg, "ids.json: token \"cd\": id 300 out "
				   "of range: the ids of 258 tokens must be "
				   "0..257"), "%s", e.msg);
	free(text);

	t = qf_tok_gpt2_open(tmp_path("missing.json"), tmp_path("ids.bpe"), &e);
	CHECK(t == NULL && strstr(e.msg, "missing.json: No such file"));
	t = qf_tok_gpt2_open(GPT2 "encoder.json", tmp_path("missing.bpe"), &e);
	CHECK(t == NULL && strstr(e.msg, "missing.bpe: No such file"));
	/* the files swapped */
	t = qf_tok_gpt2_open(GPT2 "vocab.bpe", GPT2 "encoder.json", &e);
	CHECK(t == NULL && strstr(e.msg, "vocab.bpe: offset 0:"));
}

static void test_malformed_hf(void)
{
	static const struct {
		const char *json;
		const char *msg;
	} cases_[] = {
		{ "[]", "not a JSON object" },
		{ "{}", "no \"model\" object" },
		{ "{\"model\":{\"type\":\"WordPiece\"}}",
		  "model type WordPiece is not supported" },
		{ "{\"model\":{\"type\":\"Unigram\"}}",
		  "model type Unigram is not supported" },
		{ "{\"model\":{\"type\":\"BPE\",\"dropout\":0.1}}",
		  "model.dropout is set" },
		{ "{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true}}",
		  "model.byte_fallback is set" },
		{ "{\"model\":{\"type\":\"BPE\",\"continuing_subword_prefix\":\"##\"}}",
		  "model.continuing_subword_prefix is set" },
		{ "{\"normalizer\":{\"type\":\"NFC\"},\"model\":{\"type\":\"BPE\"}}",
		  "normalizer NFC is not supported" },
		{ "{\"model\":{\"type\":\"BPE\"}}", "pre_tokenizer none is not supported" },
		{ "{\"pre_tokenizer\":{\"type\":\"Metaspace\"},\"model\":{\"type\":\"BPE\"}}",
		  "pre_tokenizer Metaspace is not supported" },
		{ "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[]},"
		  "\"model\":{\"type\":\"BPE\"}}",
		  "pre_tokenizer Sequence is not supported" },
		{ "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true},"
		  "\"model\":{\"type\":\"BPE\"}}", "add_prefix_space" },
		{ "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
		  "\"use_regex\":false},\"model\":{\"type\":\"BPE\"}}", "use_regex" },
		{ "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false},"
		  "\"model\":{\"type\":\"BPE\"}}", "model.vocab: not a JSON object" },
	};
	qf_err e;

	for (size_t i = 0; i < sizeof cases_ / sizeof *cases_; i++) {
		qf_tokenizer *t;
		put_str("h.json", cases_[i].json);
		t = qf_tok_hf_open(tmp_path("h.json"), &e);
		CHECKF(t == NULL, "case %zu loaded", i);
		qf_tok_free(t);
		CHECKF(t == NULL && strstr(e.msg, tmp_path("h.json")) == e.msg &&
		       strstr(e.msg, cases_[i].msg), "case %zu: %s", i, e.msg);
	}
}

/* A valid small tokenizer.json, then its merges broken one way or another. */
static void test_malformed_hf_merges(void)
{
	static const struct {
		const char *merges;
		const char *msg;	/* NULL: loads */
	} cases_[] = {
		{ "[\"a b\", \"ab c\"]", NULL },
		{ "[[\"a\", \"b\"], [\"ab\", \"c\"]]", NULL },
		{ "[\"a b\", [\"ab\", \"c\"]]", NULL },
		{ "[\"a b\", \"ab  c\"]", "model.merges[1]: \"ab  c\" is not two "
		  "symbols separated by one space" },
		{ "[\"ab\"]", "model.merges[0]: \"ab\" is not two symbols" },
		{ "[\"a b\", \"ab x\"]", "model.merges[1]: the merge of \"ab\" "
		  "and \"x\" is not a token" },
		{ "[\"a q\"]", "model.merges[0]: the merge of" },
		{ "[\"zz a\"]", "model.merges[0]: unknown symbol \"zz\"" },
		{ "[[\"a\"]]", "model.merges[0]: neither a string" },
		{ "[1]", "model.merges[0]: neither a string" },
		{ "[\" a\"]", "model.merges[0]: empty symbol" },
		{ "{}", "model.merges: not an array" },
	};
	static const char *const toks[] = { "ab", "abc" };
	size_t vlen;
	char *vocab, path[256];
	qf_err e;

	put_vocab("v.json", toks, 2);
	vocab = slurp(tmp_path("v.json"), &vlen);
	if (!vocab)
		return;
	vocab[vlen - 1] = 0;	/* the newline */
	snprintf(path, sizeof path, "%s", tmp_path("hm.json"));
	for (size_t i = 0; i < sizeof cases_ / sizeof *cases_; i++) {
		FILE *f = fopen(path, "w");
		qf_tokenizer *t;

		if (!f)
			abort();
		fprintf(f, "{\"normalizer\":null,\"pre_tokenizer\":{\"type\":"
			"\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":"
			"true},\"model\":{\"type\":\"BPE\",\"vocab\":%s,"
			"\"merges\":%s}}", vocab, cases_[i].merges);
		fclose(f);
		t = qf_tok_hf_open(path, &e);
		if (!cases_[i].msg) {
			CHECKF(t != NULL, "case %zu: %s", i, e.msg);
			if (t) {
				int32_t *ids;
				int64_t k = enc(t, "abcab", 5, &ids);
				CHECK(k == 2 && ids[0] == 257 && ids[1] == 256);
				free(ids);
			}
		} else {
			CHECKF(t == NULL, "case %zu loaded", i);
			CHECKF(t == NULL && strstr(e.msg, path) == e.msg &&
			       strstr(e.msg, cases_[i].msg), "case %zu: %s", i,
			       e.msg);
		}
		qf_tok_free(t);
	}
	free(vocab);
}

static void cleanup(void)
{
	const char *names[] = {
		"rv.json", "rv.bpe", "ov.json", "ov.bpe", "m.json", "m.bpe",
		"ids.json", "ids.bpe", "h.json", "v.json", "hm.json",
	};

	if (!tmpdir[0])
		return;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		unlink(tmp_path(names[i]));
	rmdir(tmpdir);
}

int main(void)
{
	RUN(test_bytes);
	RUN(test_gpt2_basics);
	RUN(test_gpt2_expected);
	RUN(test_gpt2_divergent);
	RUN(test_gpt2_roundtrip);
	RUN(test_gpt2_long_runs);
	RUN(test_gpt2_windows);
	RUN(test_gpt2_threads);
	RUN(test_hf_json);
	RUN(test_bpe_vs_naive);
	RUN(test_bpe_overlap);
	RUN(test_malformed_gpt2);
	RUN(test_malformed_ids);
	RUN(test_malformed_hf);
	RUN(test_malformed_hf_merges);
	qf_tok_free(gpt2);
	qf_json_free(expected);
	cleanup();
	return unit_done();
}
