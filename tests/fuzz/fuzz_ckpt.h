/*
 * fuzz_ckpt.h - what the checkpoint harnesses share: the input bytes as a
 * file (a memfd, else a temporary file) opened with qf_ckpt_open, every
 * tensor up to a size read, closed.  Errors are fine; crashes, sanitizer
 * reports and leaks are not, and an error must say something, on one line.
 */
#ifndef QF_FUZZ_CKPT_H
#define QF_FUZZ_CKPT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qf.h"

static int fuzz_write_all(int fd, const uint8_t *data, size_t size)
{
	while (size > 0) {
		ssize_t k = write(fd, data, size);
		if (k <= 0)
			return -1;
		data += k;
		size -= (size_t)k;
	}
	return 0;
}

/* Open, read every tensor of at most max_read bytes, close. */
static void fuzz_ckpt_bytes(const uint8_t *data, size_t size, uint64_t max_read)
{
	char path[64], tmp[] = "/tmp/fuzz_ckpt.XXXXXX";
	int fd, is_tmp = 0;
	qf_ckpt *c;
	qf_err err;

	err.msg[0] = 0;
	fd = memfd_create("fuzz_ckpt", 0);
	if (fd >= 0) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	} else {
		fd = mkstemp(tmp);
		if (fd < 0)
			return;
		snprintf(path, sizeof path, "%s", tmp);
		is_tmp = 1;
	}
	if (fuzz_write_all(fd, data, size) < 0)
		goto out;
	c = qf_ckpt_open(path, &err);
	if (c) {
		for (size_t i = 0; i < qf_ckpt_count(c); i++) {
			const qf_ckpt_tensor *t = qf_ckpt_tensor_at(c, i);
			uint64_t n = qf_dtype_size(t->dtype);
			void *buf;
			for (int k = 0; k < t->ndim; k++)
				n *= t->dims[k];
			if (n > max_read)
				continue;
			buf = malloc(n ? (size_t)n : 1);
			if (buf)
				qf_ckpt_read(c, i, buf, &err);
			free(buf);
		}
		qf_ckpt_meta(c);
		qf_ckpt_close(c);
	} else if (!err.msg[0] || strchr(err.msg, '\n')) {
		abort();
	}
out:
	close(fd);
	if (is_tmp)
		unlink(tmp);
}

#endif
