/*
 * fuzz_tokenizer.c - the tokenizers (lib/text/tokenizer.c) on arbitrary bytes.
 *
 * The first byte picks what the rest is:
 *
 *   0, 3  text, encoded with GPT-2's real vocabulary (loaded once from
 *         $QF_GPT2_DIR, else pipelines/data/gpt2 or ../pipelines/data/gpt2
 *         from the working directory) and with the "bytes" tokenizer
 *   1     an encoder.json and a vocab.bpe, split at the first NUL byte
 *         (which JSON text cannot hold)
 *   2     a Hugging Face tokenizer.json
 *
 * Files are a memfd, reopened through /proc/self/fd.  Checked: a load
 * either succeeds or gives a one-line message naming the file; encoding
 * never fails, gives ids below the vocabulary size whose pieces put
 * together are the text, and gives the same ids again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qf.h"

static int fd[2] = { -1, -1 };
static char path[2][64];
static qf_tokenizer *gpt2, *bytes;
static int gpt2_tried;

static void put(int i, const uint8_t *data, size_t size)
{
	if (fd[i] < 0) {
		fd[i] = memfd_create("fuzz_tokenizer", MFD_CLOEXEC);
		if (fd[i] < 0)
			abort();
		snprintf(path[i], sizeof path[i], "/proc/self/fd/%d", fd[i]);
	}
	if (ftruncate(fd[i], 0) < 0 ||
	    (size && pwrite(fd[i], data, size, 0) != (ssize_t)size))
		abort();
}

/* A one-line message naming file a or file b. */
static void check_err(const qf_err *e, const char *a, const char *b)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0;

	if (!(strncmp(e->msg, a, la) == 0 && e->msg[la] == ':') &&
	    !(b && strncmp(e->msg, b, lb) == 0 && e->msg[lb] == ':'))
		abort();
	if (strchr(e->msg, '\n') != NULL)
		abort();
}

/* Encode, check, encode again: the same ids. */
static void encode(const qf_tokenizer *t, const char *s, size_t n)
{
	int32_t *ids = NULL, *again = NULL;
	size_t k = 0, cap = 0, k2 = 0, cap2 = 0, o = 0;
	qf_err e;

	if (qf_tok_encode(t, s, n, &ids, &k, &cap, &e) != (int64_t)k)
		abort();
	for (size_t i = 0; i < k; i++) {
		size_t len;
		const char *p;
		if (ids[i] < 0 || (size_t)ids[i] >= qf_tok_vocab_size(t))
			abort();
		p = qf_tok_piece(t, ids[i], &len);
		if (!p || len > n - o || memcmp(p, s + o, len) != 0)
			abort();
		o += len;
	}
	if (o != n)
		abort();
	if (qf_tok_encode(t, s, n, &again, &k2, &cap2, &e) != (int64_t)k ||
	    k2 != k || (k && memcmp(ids, again, k * sizeof *ids) != 0))
		abort();
	free(ids);
	free(again);
}

static void load_gpt2(void)
{
	static const char *const dirs[] = {
		NULL, "pipelines/data/gpt2", "../pipelines/data/gpt2",
	};
	char enc[4096], voc[4096];
	qf_err e;

	gpt2_tried = 1;
	bytes = qf_tok_bytes(&e);
	if (!bytes)
		abort();
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs && !gpt2; i++) {
		const char *d = i ? dirs[i] : getenv("QF_GPT2_DIR");
		if (!d)
			continue;
		snprintf(enc, sizeof enc, "%s/encoder.json", d);
		snprintf(voc, sizeof voc, "%s/vocab.bpe", d);
		if (access(enc, R_OK) == 0)
			gpt2 = qf_tok_gpt2_open(enc, voc, &e);
	}
	if (!gpt2)
		fprintf(stderr, "fuzz_tokenizer: GPT-2's files not found (set "
			"QF_GPT2_DIR): text inputs use the bytes tokenizer "
			"only\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sample[] = "Hello world, it's 2024!  \xe0\xb8\x81\xe0\xb8\xb2 "
		"\xe4\xb8\xad\xe6\x96\x87 abcabc\n";
	qf_tokenizer *t;
	const uint8_t *sep;
	qf_err e;

	if (!gpt2_tried)
		load_gpt2();
	if (size == 0)
		return 0;
	switch (data[0] & 3) {
	case 1:
		sep = memchr(data + 1, 0, size - 1);
		if (!sep)
			return 0;
		put(0, data + 1, (size_t)(sep - data - 1));
		put(1, sep + 1, size - (size_t)(sep + 1 - data));
		t = qf_tok_gpt2_open(path[0], path[1], &e);
		if (!t) {
			check_err(&e, path[0], path[1]);
			return 0;
		}
		break;
	case 2:
		put(0, data + 1, size - 1);
		t = qf_tok_hf_open(path[0], &e);
		if (!t) {
			check_err(&e, path[0], NULL);
			return 0;
		}
		break;
	default:
		if (gpt2)
			encode(gpt2, (const char *)data + 1, size - 1);
		encode(bytes, (const char *)data + 1, size - 1);
		return 0;
	}
	if (strcmp(qf_tok_name(t), "gpt2-bpe") != 0 || qf_tok_vocab_size(t) < 256)
		abort();
	encode(t, sample, sizeof sample - 1);
	encode(t, (const char *)data, size);
	qf_tok_free(t);
	return 0;
}
