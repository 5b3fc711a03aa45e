/*
 * fuzz_npy.c - libFuzzer harness for the .npy and .npz readers
 * (lib/ckpt/npy.c): the input read as an .npy from memory, then as an .npz
 * from a memfd (seekable zip reader).  Errors are fine; crashes,
 * sanitizer reports and leaks are not.
 *
 *   make build/fuzz/fuzz_npy && build/fuzz/fuzz_npy tests/fuzz/corpus/npy
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qf.h"

static void as_npy(const uint8_t *data, size_t size)
{
	FILE *f = fmemopen((void *)data, size, "rb");
	qf_rec rec;
	void *buf = NULL;
	qf_err err;

	if (!f)
		return;
	qf_rec_init(&rec);
	if (qf_npy_read(f, "fuzz.npy", &rec, &buf, &err) == 0)
		free(buf);
	qf_rec_free(&rec);
	fclose(f);
}

static void as_npz(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = memfd_create("fuzz_npz", 0);
	qf_npz_reader *z;
	qf_rec rec;
	void *buf;
	qf_err err;

	if (fd < 0)
		return;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	z = qf_npz_open(path, &err);
	if (z) {
		qf_rec_init(&rec);
		while (qf_npz_next(z, &rec, &buf, &err) == 1)
			free(buf);
		qf_rec_free(&rec);
		qf_npz_close(z);
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (size >= 4 && memcmp(data, "PK", 2) == 0)
		as_npz(data, size);
	else
		as_npy(data, size);
	return 0;
}
