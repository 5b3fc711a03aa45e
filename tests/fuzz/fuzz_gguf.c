/*
 * fuzz_gguf.c - libFuzzer harness for the GGUF reader (lib/ckpt/gguf.c):
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

#include "fuzz_ckpt.h"

/* A tensor larger than this is listed but not read. */
#define MAX_READ (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* other formats go to other loaders, fuzzed by their own harnesses */
	if (size < 4 || memcmp(data, "GGUF", 4) != 0)
		return 0;
	fuzz_ckpt_bytes(data, size, MAX_READ);
	return 0;
}
