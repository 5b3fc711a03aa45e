/*
 * tsv.c - reading tab-separated tables line by line: the languages
 * tables, the training mix.  Fields are split in place; the caller words
 * its own messages (it knows what the table means).  A table is a helper
 * file a user names: it is read up to a limit, so that a wrong name
 * (/dev/zero, a model) ends in a message, not in memory exhausted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

int qf_tsv_open(qf_tsv *t, const char *path, uint64_t max)
{
	memset(t, 0, sizeof *t);
	t->path = path;
	t->max = max;
	t->f = fopen(path, "r");
	return t->f ? 0 : -1;
}

/* The next line into t->line, without its end: its length, 0 at the end
 * of the file (t->eof), -1 with errno (EFBIG past t->max). */
static ssize_t read_line(qf_tsv *t)
{
	size_t len = 0;
	int c;

	while ((c = getc(t->f)) != EOF) {
		if (++t->total > t->max) {
			errno = EFBIG;
			return -1;
		}
		if (len + 1 >= t->cap) {
			size_t cap = t->cap ? 2 * t->cap : 256;
			char *p = realloc(t->line, cap);

			if (!p) {
				errno = ENOMEM;
				return -1;
			}
			t->line = p;
			t->cap = cap;
		}
		if (c == '\n')
			break;
		t->line[len++] = (char)c;
	}
	if (c == EOF && ferror(t->f))
		return -1;
	if (c == EOF && len == 0)
		return 0;
	t->line[len] = '\0';
	return (ssize_t)len + 1;	/* 1 + the length: an empty line is a line */
}

/* Split t->line at tabs into t->fld. */
static int split(qf_tsv *t)
{
	char *p;

	t->n = 0;
	for (p = t->line;; p++) {
		if (t->n == t->fcap) {
			size_t c = t->fcap ? 2 * t->fcap : 16;
			char **f = realloc(t->fld, c * sizeof *f);

			if (!f) {
				errno = ENOMEM;
				return -1;
			}
			t->fld = f;
			t->fcap = c;
		}
		t->fld[t->n++] = p;
		if (!(p = strchr(p, '\t')))
			break;
		*p = '\0';
	}
	return 0;
}

int qf_tsv_next(qf_tsv *t)
{
	ssize_t r = read_line(t);
	size_t len;

	if (r <= 0) {
		if (r == 0)
			errno = 0;
		return (int)r;
	}
	len = (size_t)r - 1;
	t->lineno++;
	while (len > 0 && t->line[len - 1] == '\r')
		t->line[--len] = '\0';
	if (split(t) < 0)
		return -1;
	t->len = len;
	return 1;
}

int qf_tsv_fail(const qf_tsv *t, qf_err *err)
{
	if (errno == EFBIG)
		return qf_err_set(err, "%s: larger than %" PRIu64 " bytes (the "
				  "limit of a table)", t->path, t->max);
	return qf_err_set(err, "%s: read error: %s", t->path, strerror(errno));
}

void qf_tsv_close(qf_tsv *t)
{
	if (t->f)
		fclose(t->f);
	free(t->line);
	free(t->fld);
	memset(t, 0, sizeof *t);
}
