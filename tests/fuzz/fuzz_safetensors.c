/*
 * fuzz_safetensors.c - libFuzzer harness for the safetensors backend.
 *
 * An input is either
 *   - a safetensors file: put in a memfd, opened with qf_ckpt_open through
 *     /proc/self/fd/N, every tensor read, closed; or
 *   - "I", an index JSON, and optionally a NUL and the bytes of shard
 *     a.safetensors: written as model.safetensors.index.json to a
 *     temporary directory beside a.safetensors (those bytes, or a fixed
 *     valid file with tensors x and y) and b.safetensors (fixed: z), and
 *     the directory opened and read the same way.
 * Inputs that other backends would claim (GGUF, zip, npy magic) are
 * skipped.  tests/data/safetensors/gen.py writes the seeds.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char ipath[128], apath[128], bpath[128];

static const char SHARD_A[] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],"
	"\"data_offsets\":[0,8]},\"y\":{\"dtype\":\"I8\",\"shape\":[3],"
	"\"data_offsets\":[8,11]}}";
static const char SHARD_B[] = "{\"z\":{\"dtype\":\"BOOL\",\"shape\":[2],"
	"\"data_offsets\":[0,2]}}";

static int put(const char *path, const void *a, size_t na, const void *b,
	       size_t nb)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(a, 1, na, f) == na && fwrite(b, 1, nb, f) == nb;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int put_shard(const char *path, const char *json, size_t data)
{
	unsigned char len[8], zero[16] = { 0 };
	size_t n = strlen(json);
	FILE *f;
	int ok;

	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)n >> (8 * i));
	f = fopen(path, "wb");
	if (!f)
		return -1;
	ok = fwrite(len, 1, 8, f) == 8 && fwrite(json, 1, n, f) == n &&
		fwrite(zero, 1, data, f) == data;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static void cleanup(void)
{
	unlink(ipath);
	unlink(apath);
	unlink(bpath);
	rmdir(dir);
}

static void read_all(const char *path)
{
	qf_err e;
	qf_ckpt *c = qf_ckpt_open(path, &e);

	if (!c)
		return;
	for (size_t i = 0; i < qf_ckpt_count(c); i++) {
		const qf_ckpt_tensor *t = qf_ckpt_tensor_at(c, i);
		void *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
		if (buf)
			qf_ckpt_read(c, i, buf, &e);
		free(buf);
	}
	(void)qf_ckpt_meta(c);
	qf_ckpt_close(c);
}

static void index_mode(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t ni = nul ? (size_t)(nul - data) : size;

	if (!dir[0]) {
		strcpy(dir, "/tmp/qf-fuzz-st-XXXXXX");
		if (!mkdtemp(dir)) {
			dir[0] = 0;
			return;
		}
		snprintf(ipath, sizeof ipath, "%s/model.safetensors.index.json", dir);
		snprintf(apath, sizeof apath, "%s/a.safetensors", dir);
		snprintf(bpath, sizeof bpath, "%s/b.safetensors", dir);
		if (put_shard(bpath, SHARD_B, 2) < 0)
			return;
		atexit(cleanup);
	}
	if (put(ipath, data, ni, "", 0) < 0)
		return;
	if (nul) {
		if (put(apath, nul + 1, size - ni - 1, "", 0) < 0)
			return;
	} else if (put_shard(apath, SHARD_A, 11) < 0) {
		return;
	}
	read_all(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	size_t off = 0;
	int fd;

	if (size >= 1 && data[0] == 'I') {
		index_mode(data + 1, size - 1);
		return 0;
	}
	if ((size >= 4 && (memcmp(data, "GGUF", 4) == 0 ||
			   memcmp(data, "PK\3\4", 4) == 0)) ||
	    (size >= 6 && memcmp(data, "\x93NUMPY", 6) == 0))
		return 0;
	fd = memfd_create("fuzz.safetensors", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	while (off < size) {
		ssize_t k = write(fd, data + off, size - off);
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	if (off == size) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		read_all(path);
	}
	close(fd);
	return 0;
}
