/*
 * stream.h - tensor streams (formats/stream.md): a reader and a writer of
 * records, each a header and a chunked, zstd-compressed, checksummed
 * payload; and output files that appear whole or not at all (qf_out).
 */
#ifndef QF_STREAM_STREAM_H
#define QF_STREAM_STREAM_H

#include "core/core.h"

/* ---------------------------------------------------------------- streams */

typedef struct qf_reader qf_reader;
typedef struct qf_writer qf_writer;

/* Open a stream for reading.  path "-" or NULL is standard input; the
 * name used in messages is path ("-" shows as "<stdin>"). */
qf_reader *qf_reader_open(const char *path, qf_err *err);
/* Read from an open FILE; the reader does not close it. */
qf_reader *qf_reader_fopen(FILE *f, const char *name, qf_err *err);
/* Next record header into rec (replacing what it held).  An unread or
 * partly read payload of the previous record is skipped first.
 * Returns 1 for a record, 0 at a clean end of input, -1 on error
 * (truncation, corruption, limits).  After an error the reader is dead. */
int qf_reader_next(qf_reader *r, qf_rec *rec, qf_err *err);
/* Read up to n payload bytes of the current record; returns the number
 * read, which is less than n only at the end of the payload, or -1. */
int64_t qf_reader_read(qf_reader *r, void *buf, size_t n, qf_err *err);
/* The rest of the current record's payload into a new buffer (malloc'd;
 * the caller frees it).  For a payload of zero bytes *buf is NULL.  The
 * buffer grows as chunks arrive, after two checks made before anything
 * is allocated (formats/stream.md, "Limits"): the record held whole may
 * take at most qf_reader_max_whole() bytes, and in a regular file the
 * bytes left must be able to hold the chunks the header declares.
 * Errors name the file, the record and the size. */
int qf_reader_read_all(qf_reader *r, void **buf, qf_err *err);
/* The same, converted to dtype `dt` a chunk at a time. */
int qf_reader_read_as(qf_reader *r, int dt, void **buf, qf_err *err);
/* The most bytes one record held whole may take: the machine's physical
 * memory. */
uint64_t qf_reader_max_whole(void);
/* Skip the rest of the current payload without decompressing it. */
int qf_reader_skip(qf_reader *r, qf_err *err);
/* Records seen so far, and the name used in messages. */
uint64_t qf_reader_count(const qf_reader *r);
const char *qf_reader_name(const qf_reader *r);
void qf_reader_close(qf_reader *r);

typedef struct qf_wopts {
	int level;     /* zstd level; 0 means QF_DEFAULT_LEVEL */
	int shuffle;   /* byte-shuffle filter: QF_SHUFFLE_AUTO (0) on float
			* dtypes, QF_SHUFFLE_ON on every multi-byte dtype,
			* QF_SHUFFLE_OFF never */
	int threads;   /* threads that compress a record's chunks while
			* the caller goes on (at most QF_WRITER_THREADS,
			* 2 chunks each in flight); 0 or 1: none, the
			* caller's own.  The bytes are the same for any
			* number. */
	size_t chunk;  /* raw bytes per payload chunk; 0 means the default */
	int provenance;	/* QF_PROV_STAMP (0): every record's "provenance"
			 * attribute is qf_provenance(), replacing any;
			 * QF_PROV_KEEP: attributes written as they are
			 * (copies; qf-cat) */
} qf_wopts;
#define QF_PROV_STAMP 0
#define QF_PROV_KEEP 1
#define QF_SHUFFLE_AUTO 0
#define QF_SHUFFLE_ON 1
#define QF_SHUFFLE_OFF (-1)
/* Level 1 with shuffled floats: the smallest and fastest of the levels
 * measured on weights (docs/benchmarks.md). */
#define QF_DEFAULT_LEVEL 1
#define QF_DEFAULT_CHUNK (1u << 20)
/* Compression threads of one writer, at most: level 1 compresses about
 * 0.5 GB/s a thread, more than the tools produce with more. */
#define QF_WRITER_THREADS 4

/* Open a stream for writing.  path "-" or NULL is standard output;
 * otherwise the stream goes to a temporary file beside path that
 * qf_writer_close renames into place (qf_out_*).  opts may be NULL. */
qf_writer *qf_writer_open(const char *path, const qf_wopts *opts, qf_err *err);
/* Write to an open FILE (not closed by the writer). */
qf_writer *qf_writer_fopen(FILE *f, const char *name, const qf_wopts *opts,
			   qf_err *err);
/* Start a record; then write exactly qf_rec_nbytes(rec) payload bytes in
 * any number of qf_writer_write calls; then qf_writer_end. */
int qf_writer_begin(qf_writer *w, const qf_rec *rec, qf_err *err);
int qf_writer_write(qf_writer *w, const void *buf, size_t n, qf_err *err);
int qf_writer_end(qf_writer *w, qf_err *err);
/* begin + write + end in one call. */
int qf_writer_put(qf_writer *w, const qf_rec *rec, const void *data,
		  qf_err *err);
/* Write the end marker, flush, check for write errors and (for a path)
 * rename the temporary file into place.  Frees w in every case. */
int qf_writer_close(qf_writer *w, qf_err *err);
/* Drop everything: remove the temporary file, free w. */
void qf_writer_abort(qf_writer *w);
uint64_t qf_writer_count(const qf_writer *w);

/* ---------------------------------------------------------------- output files */

/* True when fd is a pipe whose reader has gone (a write to it fails
 * with EPIPE). */
int qf_out_pipe_broken(int fd);

/* Atomic output: a temporary file in the destination's directory, renamed
 * over the destination by qf_out_commit and removed by qf_out_abort or,
 * if the process is interrupted, by the signal handler that qf_tool_init
 * installs.  path "-" or NULL gives standard output (commit then only
 * flushes and checks it).  Symbolic links are followed (at most 40): the
 * temporary file goes beside the file at the end of the chain and is
 * renamed onto it, so the link stays; a dangling link creates its target.
 * A device, fifo or socket is opened and written in place.  /dev/stdin,
 * /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N (or
 * /proc/<own pid>/fd/N), also through links, write to a dup of
 * descriptor N at its offset, which commit flushes, checks and closes;
 * N itself stays open.  Errors: "PATH: cannot create: ..." or
 * "PATH: cannot open: ..." (a closed N: Bad file descriptor). */
typedef struct qf_out qf_out;
qf_out *qf_out_open(const char *path, qf_err *err);
/* A file written as it goes (a log that can be watched, and that stays
 * when the program fails): the same destinations, links and descriptors
 * as qf_out_open, but a regular file is created or truncated in place,
 * with no temporary file.  qf_out_commit flushes, checks and closes it;
 * qf_out_abort closes it and leaves it. */
qf_out *qf_out_open_live(const char *path, qf_err *err);
FILE *qf_out_file(qf_out *o);
const char *qf_out_name(const qf_out *o);
int qf_out_commit(qf_out *o, qf_err *err);   /* frees o */
void qf_out_abort(qf_out *o);                /* frees o */
/* Remove every temporary file still open (async-signal-safe). */
void qf_out_cleanup_all(void);
/* Flush f and check its error indicator.  Returns 0, or -1 with errno
 * set to the cause: EPIPE when f is a pipe whose
 * reader has gone, 0 when the cause of an earlier failure is unknown. */
int qf_out_flush_check(FILE *f);

#endif
