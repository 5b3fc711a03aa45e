/*
 * fuzz_stream.c - the stream reader (lib/stream/stream.c) on arbitrary
 * bytes, read the ways the tools read it.
 *
 * The input is a stream file as it is, so that seeds are real .qft files
 * and a crasher is a file any tool reproduces.  What is done with it
 * comes from a hash of the bytes: read from a memfd (a regular file, so
 * payloads are skipped by seeking) or from fmemopen (no descriptor: read
 * through, like a pipe); and per record one of: header only, the payload
 * in pieces of a size the hash picks, qf_reader_read_all, qf_reader_read_as
 * into a dtype the hash picks, or qf_reader_skip.
 *
 * Checked: a record's header is consistent (qf_rec_check); a payload
 * reads to exactly its declared size; an error is one line naming the
 * stream, and the reader stays dead after it.  Payloads declared larger
 * than MAX_READ are read in pieces only: the reader allocates the
 * declared size in read_all and read_as, which is a limit for the
 * library to enforce, not this harness (issue 18).
 *
 *   make BUILD=b b/fuzz/fuzz_stream
 *   b/fuzz/fuzz_stream tests/fuzz/corpus/stream
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qf.h"

#define NAME "in.qft"
#define MAX_READ (16u << 20)
#define NDTYPES 13

enum op { OP_HEADER, OP_PIECES, OP_ALL, OP_AS, OP_SKIP, NOPS };

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

/* An error: one line, naming the stream. */
static void check_err(const qf_err *e)
{
	if (strncmp(e->msg, NAME ": ", sizeof NAME + 1) != 0 ||
	    strchr(e->msg, '\n') != NULL)
		abort();
}

/* The payload in pieces of 1..4096 bytes; -1 on a reader error. */
static int read_pieces(qf_reader *r, uint64_t nbytes, size_t piece, qf_err *e)
{
	unsigned char buf[4096];
	uint64_t got = 0;
	int64_t k;

	do {
		k = qf_reader_read(r, buf, piece, e);
		if (k < 0)
			return -1;
		got += (uint64_t)k;
	} while ((size_t)k == piece);
	if (got != nbytes)
		abort();
	return 0;
}

static int read_whole(qf_reader *r, const qf_rec *rec, int as, qf_err *e)
{
	void *buf = NULL;
	int rc;

	if (qf_rec_nbytes(rec) > MAX_READ)
		return read_pieces(r, qf_rec_nbytes(rec), 4096, e);
	rc = as ? qf_reader_read_as(r, as, &buf, e) :
		  qf_reader_read_all(r, &buf, e);
	if (rc == 0 && qf_rec_numel(rec) > 0 && !buf)
		abort();
	free(buf);
	return rc;
}

static int one_record(qf_reader *r, const qf_rec *rec, uint64_t h, qf_err *e)
{
	if (qf_rec_check(rec, e) < 0)
		abort();
	switch (h % NOPS) {
	case OP_PIECES:
		return read_pieces(r, qf_rec_nbytes(rec), 1 + (h >> 8) % 4096,
				   e);
	case OP_ALL:
		return read_whole(r, rec, 0, e);
	case OP_AS:
		return read_whole(r, rec, 1 + (int)((h >> 8) % NDTYPES), e);
	case OP_SKIP:
		return qf_reader_skip(r, e);
	default:
		return 0;
	}
}

static void read_stream(FILE *f, uint64_t h)
{
	qf_reader *r;
	qf_rec rec;
	qf_err e;
	int rc;

	r = qf_reader_fopen(f, NAME, &e);
	if (!r)
		abort();
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(r, &rec, &e)) > 0) {
		if (one_record(r, &rec, h, &e) < 0) {
			rc = -1;
			break;
		}
		h = h >> 3 | h << 61;
	}
	if (rc < 0) {
		check_err(&e);
		if (qf_reader_next(r, &rec, &e) != -1)
			abort();
	}
	qf_rec_free(&rec);
	qf_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	uint64_t h = fnv(data, size);
	FILE *f;

	if ((h & 1) || size == 0) {
		if (fd < 0)
			fd = memfd_create("fuzz_stream", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0 ||
		    (size && pwrite(fd, data, size, 0) != (ssize_t)size))
			abort();
		f = fdopen(dup(fd), "rb");
	} else {
		f = fmemopen((void *)data, size, "rb");
	}
	if (!f)
		abort();
	read_stream(f, h >> 1);
	fclose(f);
	return 0;
}
