/*
 * file.c - reading files whole or by offset, with "PATH: ..." errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"

int qf_pread_all(int fd, void *buf, size_t n, uint64_t offset,
		 const char *path, qf_err *err)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t k = pread(fd, p, n, (off_t)offset);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return qf_err_set(err, "%s: read error: %s", path,
					  strerror(errno));
		}
		if (k == 0)
			return qf_err_set(err, "%s: truncated: data ends before "
					  "offset %" PRIu64, path, offset + n);
		p += k;
		n -= (size_t)k;
		offset += (uint64_t)k;
	}
	return 0;
}

static char *slurp(const char *path, size_t max, size_t *len, qf_err *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		qf_err_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				qf_err_set(err, "%s: larger than %zu bytes", path, max);
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			char *b = realloc(buf, cap + 1);
			if (!b) {
				qf_err_set(err, "%s: out of memory", path);
				goto fail;
			}
			buf = b;
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	if (ferror(f)) {
		qf_err_set(err, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

int qf_read_text_file(const char *path, size_t max, char **text, size_t *len,
		      qf_err *err)
{
	*text = slurp(path, max, len, err);
	return *text ? 0 : -1;
}

