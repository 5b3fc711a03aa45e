/*
 * tsv.c - reading tab-separated tables line by line: the languages
 * tables, the training mix.  Fields are split in place; the caller words
 * its own messages (it knows what the table means).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

int qf_tsv_open(qf_tsv *t, const char *path)
{
	memset(t, 0, sizeof *t);
	t->path = path;
	t->f = fopen(path, "r");
	return t->f ? 0 : -1;
}

int qf_tsv_next(qf_tsv *t)
{
	ssize_t len = getline(&t->line, &t->cap, t->f);
	char *p;

	if (len < 0) {
		if (ferror(t->f))
			return -1;
		errno = 0;
		return 0;
	}
	t->lineno++;
	while (len > 0 && (t->line[len - 1] == '\n' || t->line[len - 1] == '\r'))
		t->line[--len] = '\0';
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
	t->len = (size_t)len;
	return 1;
}

void qf_tsv_close(qf_tsv *t)
{
	if (t->f)
		fclose(t->f);
	free(t->line);
	free(t->fld);
	memset(t, 0, sizeof *t);
}
