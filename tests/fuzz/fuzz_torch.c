/*
 * fuzz_torch.c - libFuzzer harness for the torch.save zip backend
 * (lib/torch.c, with lib/pickle.c): the input as a file (a memfd, else a
 * temporary file), opened with qf_ckpt_open, every tensor read, closed.
 * Errors are fine; crashes, sanitizer reports and leaks are not, and an
 * error must be one line.
 *
 *   make build/fuzz/fuzz_torch && build/fuzz/fuzz_torch tests/fuzz/corpus/torch
 */
#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qf.h"

/* A tensor larger than this is listed but not read. */
#define MAX_READ (16u << 20)

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

/* What lib/ckpt.c sends to the torch loader: a zip that libarchive lists
 * with a member ending in "data.pkl" (other zips go to the .npz reader). */
static int is_torch(const uint8_t *data, size_t size)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int torch = 0;

	archive_read_support_format_zip_seekable(a);
	if (archive_read_open_memory(a, data, size) == ARCHIVE_OK)
		while (!torch && archive_read_next_header(a, &e) == ARCHIVE_OK) {
			const char *name = archive_entry_pathname_utf8(e);
			size_t n = name ? strlen(name) : 0;
			torch = n >= 8 && strcmp(name + n - 8, "data.pkl") == 0;
		}
	archive_read_free(a);
	return torch;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], tmp[] = "/tmp/fuzz_torch.XXXXXX";
	int fd, is_tmp = 0;
	qf_ckpt *c;
	qf_err err;

	/* zips only: other formats are fuzzed by their own harnesses */
	if (size < 4 || memcmp(data, "PK\3\4", 4) != 0 || !is_torch(data, size))
		return 0;
	err.msg[0] = 0;
	fd = memfd_create("fuzz_torch", 0);
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
