/*
 * fuzz_gguf.c - libFuzzer harness for the GGUF reader (lib/gguf.c):
 * the input as a file (a memfd, else a temporary file), opened with
 * qf_ckpt_open, every tensor read, closed.  Errors are fine; crashes,
 * sanitizer reports and leaks are not.
 *
 *   make build/fuzz/fuzz_gguf && build/fuzz/fuzz_gguf tests/fuzz/corpus/gguf
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qf.h"

/* A tensor larger than this is listed but not read. */
#define MAX_READ (64u << 20)

static int write_all(int fd, const uint8_t *data, size_t size)
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], tmp[] = "/tmp/fuzz_gguf.XXXXXX";
	int fd, is_tmp = 0;
	qf_ckpt *c;
	qf_err err;

	/* other formats go to other loaders, fuzzed by their own harnesses */
	if (size < 4 || memcmp(data, "GGUF", 4) != 0)
		return 0;
	err.msg[0] = 0;
	fd = memfd_create("fuzz_gguf", 0);
	if (fd >= 0) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	} else {
		fd = mkstemp(tmp);
		if (fd < 0)
			return 0;
		snprintf(path, sizeof path, "%s", tmp);
		is_tmp = 1;
	}
	if (write_all(fd, data, size) < 0)
		goto out;
	c = qf_ckpt_open(path, &err);
	if (c) {
		for (size_t i = 0; i < qf_ckpt_count(c); i++) {
			const qf_ckpt_tensor *t = qf_ckpt_tensor_at(c, i);
			uint64_t n = 1;
			void *buf;
			for (int k = 0; k < t->ndim; k++)
				n *= t->dims[k];
			n *= qf_dtype_size(t->dtype);
			if (n > MAX_READ)
				continue;
			buf = malloc(n ? (size_t)n : 1);
			if (buf)
				qf_ckpt_read(c, i, buf, &err);
			free(buf);
		}
		qf_ckpt_meta(c);
		qf_ckpt_close(c);
	} else if (!err.msg[0] || strchr(err.msg, '\n')) {
		abort();	/* an error must say what, on one line */
	}
out:
	close(fd);
	if (is_tmp)
		unlink(tmp);
	return 0;
}
