/*
 * fuzz_corpus.c - the corpus reader (lib/text/corpus.c) on arbitrary bytes.
 *
 * The input is a file (a memfd, reopened through /proc/self/fd) read as
 * plain text and as HTML, with invalid UTF-8 an error and replaced, a
 * record per document and per paragraph, and once with the format found
 * by content, which also sends archives (tar, gzip, zstd, zip magic) to
 * libarchive with every member chosen.  Checked on every record: the text
 * is NUL-terminated UTF-8, a paragraph holds no blank line and is not all
 * white space, the word count is at most the character count.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qf.h"
#include "core/internal.h"

static int fd = -1;
static char path[64];

static void check_doc(const qf_doc *d, int unit)
{
	uint64_t chars, words;

	if (!d->text || d->text[d->len] != 0 || !d->lang || !d->source)
		abort();
	if (!qf_utf8_valid(d->text, d->len) || d->len == 0)
		abort();
	if (unit == QF_TEXT_PARAGRAPH && memmem(d->text, d->len, "\n\n", 2))
		abort();
	qf_text_count(d->text, d->len, &chars, &words);
	if (words > chars || chars > d->len || words == 0)
		abort();
}

static void run(int format, int unit, int replace, const char *glob)
{
	qf_text_opts o = { 0 };
	qf_doc d = { 0 };
	qf_err err;
	qf_corpus *c;
	int r, n = 0;

	o.format = format;
	o.unit = unit;
	o.replace_invalid = replace;
	o.member_glob = glob;
	c = qf_corpus_open(path, &o, &err);
	if (!c)
		return;
	while (n < 100000 && (r = qf_corpus_next(c, &d, &err)) > 0) {
		check_doc(&d, unit);
		n++;
	}
	qf_doc_free(&d);
	qf_corpus_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fd < 0) {
		fd = memfd_create("fuzz_corpus", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 ||
	    (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	run(QF_TEXT_PLAIN, QF_TEXT_DOCUMENT, 0, NULL);
	run(QF_TEXT_PLAIN, QF_TEXT_PARAGRAPH, 1, NULL);
	run(QF_TEXT_HTML, QF_TEXT_PARAGRAPH, 0, NULL);
	run(QF_TEXT_HTML, QF_TEXT_DOCUMENT, 1, NULL);
	run(QF_TEXT_AUTO, QF_TEXT_PARAGRAPH, 1, "*");
	return 0;
}
