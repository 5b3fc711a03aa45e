/*
 * fuzz_torch.c - libFuzzer harness for the torch.save zip backend
 * (lib/ckpt/torch.c, with lib/ckpt/pickle.c): the input as a file (a memfd, else a
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

#include "fuzz_ckpt.h"

/* A tensor larger than this is listed but not read. */
#define MAX_READ (16u << 20)

/* What lib/ckpt/ckpt.c sends to the torch loader: a zip that libarchive lists
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
	/* zips only: other formats are fuzzed by their own harnesses */
	if (size < 4 || memcmp(data, "PK\3\4", 4) != 0 || !is_torch(data, size))
		return 0;
	fuzz_ckpt_bytes(data, size, MAX_READ);
	return 0;
}
