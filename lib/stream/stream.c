/*
 * stream.c - the qf tensor stream format (formats/stream.md): reader and
 * writer.
 *
 * A segment is a stream header, records, and an end marker; a stream is
 * one or more segments back to back, so `cat a b` is a stream.  Each
 * record is a header (with CRC-32C) followed by its payload in chunks of a
 * fixed raw size, each chunk one zstd frame with content size and
 * checksum.  Reader and writer hold one chunk at a time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/internal.h"
#include "stream/stream.h"
#include "stream/stream_impl.h"

static const unsigned char MAGIC[8] = { 0x89, 'Q', 'F', 'T', '\r', '\n', 0x1a, '\n' };
#define VERSION_MAJOR 1
#define VERSION_MINOR 0
#define SEG_HEADER_SIZE 16
#define END_SIZE 16
#define TAG_REC "QREC"
#define TAG_END "QEND"
#define FILTER_NONE 0
#define FILTER_SHUFFLE 1

/* ------------------------------------------------------------ reader */

enum rstate { R_SEGMENT, R_RECORDS, R_PAYLOAD, R_DONE, R_DEAD };

struct qf_reader {
	FILE *f;
	int own;
	int seekable;
	char *name;
	enum rstate state;
	uint64_t offset;	/* bytes consumed from f */
	uint64_t seg_records;	/* records in the current segment */
	uint64_t records;	/* records in all segments */
	uint64_t segments;
	/* current record */
	char *rname;
	int dtype;
	int filter;
	uint64_t nbytes;	/* payload bytes */
	uint64_t chunk;		/* raw bytes per chunk */
	uint64_t done;		/* payload bytes handed out */
	uint64_t chunk_no;
	/* the current decoded chunk */
	unsigned char *raw, *tmp, *comp;
	size_t raw_cap, tmp_cap, comp_cap;
	size_t raw_len, raw_pos;
	unsigned char *hbuf;
	size_t hbuf_cap;
	ZSTD_DCtx *dctx;
};

static int rfail(qf_reader *r, qf_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "NAME: record RNAME: message" when inside a record, else "NAME: message". */
static int rfail(qf_reader *r, qf_err *err, const char *fmt, ...)
{
	char msg[QF_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->state = R_DEAD;
	if (r->rname)
		return qf_err_set(err, "%s: record %s: %s", r->name, r->rname, msg);
	return qf_err_set(err, "%s: %s", r->name, msg);
}

/* Read exactly n bytes.  Returns 1 when done, 0 when the input ended
 * before the first byte, -1 on a short read (truncation) or I/O error,
 * with the message in err. */
static int rread(qf_reader *r, void *buf, size_t n, const char *what,
		 qf_err *err)
{
	size_t got = fread(buf, 1, n, r->f);

	r->offset += got;
	if (got == n)
		return 1;
	if (ferror(r->f))
		return rfail(r, err, "read error: %s", strerror(errno));
	if (got == 0)
		return 0;
	return rfail(r, err, "truncated %s at offset %" PRIu64, what, r->offset);
}

static int rread_all(qf_reader *r, void *buf, size_t n, const char *what,
		     qf_err *err)
{
	int rc = rread(r, buf, n, what, err);

	if (rc == 0)
		return rfail(r, err, "truncated: input ends where %s was expected "
			     "(offset %" PRIu64 ")", what, r->offset);
	return rc;
}

static int rskip_bytes(qf_reader *r, uint64_t n, const char *what, qf_err *err)
{
	if (r->seekable && n > 0) {
		struct stat st;
		/* Seek only within the file: seeking past its end succeeds
		 * silently and would hide truncation. */
		if (fstat(fileno(r->f), &st) == 0 && S_ISREG(st.st_mode)) {
			off_t pos = ftello(r->f);
			if (pos >= 0 && (uint64_t)pos + n <= (uint64_t)st.st_size &&
			    fseeko(r->f, (off_t)n, SEEK_CUR) == 0) {
				r->offset += n;
				return 1;
			}
			if (pos >= 0 && (uint64_t)pos + n > (uint64_t)st.st_size)
				return rfail(r, err, "truncated %s at offset %" PRIu64,
					     what, (uint64_t)st.st_size);
		}
		r->seekable = 0;
	}
	while (n > 0) {
		unsigned char buf[65536];
		size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
		if (rread_all(r, buf, k, what, err) < 0)
			return -1;
		n -= k;
	}
	return 1;
}

qf_reader *qf_reader_fopen(FILE *f, const char *name, qf_err *err)
{
	qf_reader *r = calloc(1, sizeof *r);

	if (!r || !(r->name = strdup(name ? name : "<stdin>")) ||
	    !(r->dctx = ZSTD_createDCtx())) {
		if (r)
			free(r->name);
		free(r);
		qf_err_set(err, "%s: out of memory", name ? name : "<stdin>");
		return NULL;
	}
	r->f = f;
	struct stat st;
	r->seekable = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
	r->state = R_SEGMENT;
	return r;
}

qf_reader *qf_reader_open(const char *path, qf_err *err)
{
	FILE *f;
	qf_reader *r;

	if (!path || strcmp(path, "-") == 0)
		return qf_reader_fopen(stdin, "<stdin>", err);
	f = fopen(path, "rb");
	if (!f) {
		qf_err_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	r = qf_reader_fopen(f, path, err);
	if (!r) {
		fclose(f);
		return NULL;
	}
	r->own = 1;
	return r;
}

void qf_reader_close(qf_reader *r)
{
	if (!r)
		return;
	if (r->own)
		fclose(r->f);
	ZSTD_freeDCtx(r->dctx);
	free(r->name);
	free(r->rname);
	free(r->raw);
	free(r->tmp);
	free(r->comp);
	free(r->hbuf);
	free(r);
}

uint64_t qf_reader_count(const qf_reader *r)
{
	return r->records;
}

const char *qf_reader_name(const qf_reader *r)
{
	return r->name;
}

static int grow(unsigned char **buf, size_t *cap, size_t need)
{
	unsigned char *p;

	if (*cap >= need)
		return 0;
	p = realloc(*buf, need ? need : 1);
	if (!p)
		return -1;
	*buf = p;
	*cap = need;
	return 0;
}

/* The segment header: magic, version, CRC.  rc 0: clean end of input. */
static int read_segment_header(qf_reader *r, qf_err *err)
{
	unsigned char h[SEG_HEADER_SIZE];
	size_t got = fread(h, 1, sizeof h, r->f);

	r->offset += got;
	if (ferror(r->f))
		return rfail(r, err, "read error: %s", strerror(errno));
	if (got == 0)
		return 0;
	/* Say "not a stream" rather than "truncated" for short junk. */
	if (memcmp(h, MAGIC, got < sizeof MAGIC ? got : sizeof MAGIC) != 0)
		return rfail(r, err, "not a qf stream (bad magic at offset %" PRIu64 ")",
			     r->offset - got);
	if (got < sizeof h)
		return rfail(r, err, "truncated stream header at offset %" PRIu64,
			     r->offset);
	if (memcmp(h, MAGIC, sizeof MAGIC) != 0)
		return rfail(r, err, "not a qf stream (bad magic at offset %" PRIu64 ")",
			     r->offset - sizeof h);
	if (qf_crc32c(0, h, 12) != qf_get_u32(h + 12))
		return rfail(r, err, "corrupt stream header at offset %" PRIu64
			     " (checksum mismatch)", r->offset - sizeof h);
	if (qf_get_u16(h + 8) != VERSION_MAJOR)
		return rfail(r, err, "unsupported stream format version %u.%u "
			     "(this qf reads %d.x)", qf_get_u16(h + 8),
			     qf_get_u16(h + 10), VERSION_MAJOR);
	r->seg_records = 0;
	r->segments++;
	return 1;
}

/* Cursor over a header body with bounds checks. */
struct cur {
	const unsigned char *p;
	size_t left;
};

static int take(struct cur *c, size_t n, const unsigned char **out)
{
	if (c->left < n)
		return -1;
	*out = c->p;
	c->p += n;
	c->left -= n;
	return 0;
}

static int take_u32(struct cur *c, uint32_t *v)
{
	const unsigned char *p;

	if (take(c, 4, &p) < 0)
		return -1;
	*v = qf_get_u32(p);
	return 0;
}

/* A length-prefixed string of at most max bytes, copied NUL-terminated. */
static int take_str(struct cur *c, size_t max, char **out, const char **why)
{
	uint32_t n;
	const unsigned char *p;

	if (take_u32(c, &n) < 0 || take(c, n, &p) < 0) {
		*why = "overruns the header";
		return -1;
	}
	if (n > max) {
		*why = "exceeds its limit";
		return -1;
	}
	if (memchr(p, 0, n)) {
		*why = "contains a NUL byte";
		return -1;
	}
	*out = malloc((size_t)n + 1);
	if (!*out) {
		*why = "out of memory";
		return -1;
	}
	memcpy(*out, p, n);
	(*out)[n] = 0;
	return 0;
}

static int parse_header(qf_reader *r, const unsigned char *b, size_t n,
			qf_rec *rec, qf_err *err)
{
	struct cur c = { b, n };
	const unsigned char *p;
	uint64_t dims[QF_MAX_DIMS];
	uint32_t nattr;
	const char *why = NULL;
	char *name = NULL, *key = NULL, *val = NULL;
	qf_err e2;
	uint64_t recno = r->records;

	if (take(&c, 8, &p) < 0)
		return rfail(r, err, "record #%" PRIu64 ": header too short", recno);
	int dtype = p[0], ndim = p[1], filter = p[2];
	uint32_t chunk = qf_get_u32(p + 4);
	if (!qf_dtype_size(dtype))
		return rfail(r, err, "record #%" PRIu64 ": unknown dtype code %d",
			     recno, dtype);
	if (ndim > QF_MAX_DIMS)
		return rfail(r, err, "record #%" PRIu64 ": %d dimensions (at most %d)",
			     recno, ndim, QF_MAX_DIMS);
	if (filter > FILTER_SHUFFLE || p[3] != 0)
		return rfail(r, err, "record #%" PRIu64 ": unknown filter %d", recno,
			     filter);
	if (chunk == 0 || chunk > QF_MAX_CHUNK ||
	    (filter == FILTER_SHUFFLE && chunk % qf_dtype_size(dtype)))
		return rfail(r, err, "record #%" PRIu64 ": invalid chunk size %" PRIu32,
			     recno, chunk);
	for (int i = 0; i < ndim; i++) {
		if (take(&c, 8, &p) < 0)
			return rfail(r, err, "record #%" PRIu64 ": header too short",
				     recno);
		dims[i] = qf_get_u64(p);
	}
	if (take_str(&c, QF_MAX_NAME, &name, &why) < 0)
		return rfail(r, err, "record #%" PRIu64 ": name %s", recno, why);
	qf_rec_free(rec);
	if (qf_rec_set_name(rec, name, &e2) < 0 ||
	    qf_rec_set_shape(rec, dtype, ndim, dims, &e2) < 0) {
		free(name);
		return rfail(r, err, "record #%" PRIu64 ": %s", recno, e2.msg);
	}
	free(r->rname);
	r->rname = name;
	if (take_u32(&c, &nattr) < 0)
		return rfail(r, err, "header too short");
	if (nattr > QF_MAX_ATTRS)
		return rfail(r, err, "%" PRIu32 " attributes (at most %d)", nattr,
			     QF_MAX_ATTRS);
	for (uint32_t i = 0; i < nattr; i++) {
		if (take_str(&c, QF_MAX_KEY, &key, &why) < 0)
			return rfail(r, err, "attribute %" PRIu32 ": key %s", i, why);
		if (take_str(&c, QF_MAX_VALUE, &val, &why) < 0) {
			rfail(r, err, "attribute %s: value %s", key, why);
			free(key);
			return -1;
		}
		if (qf_rec_get(rec, key)) {
			rfail(r, err, "attribute %s appears twice", key);
			free(key);
			free(val);
			return -1;
		}
		int rc = qf_rec_set(rec, key, val, &e2);
		free(key);
		free(val);
		if (rc < 0)
			return rfail(r, err, "%s", e2.msg);
	}
	if (c.left != 0)
		return rfail(r, err, "%zu stray bytes at the end of the header",
			     c.left);
	r->dtype = dtype;
	r->filter = filter;
	r->chunk = chunk;
	r->nbytes = qf_rec_nbytes(rec);
	return 0;
}

static int read_record_header(qf_reader *r, qf_rec *rec, qf_err *err)
{
	unsigned char h[8];
	uint64_t start = r->offset - 4;
	uint32_t hlen, crc;

	if (rread_all(r, h + 4, 4, "record header", err) < 0)
		return -1;
	memcpy(h, TAG_REC, 4);
	hlen = qf_get_u32(h + 4);
	if (hlen > QF_MAX_HEADER)
		return rfail(r, err, "record #%" PRIu64 " at offset %" PRIu64
			     ": header length %" PRIu32 " exceeds the limit of %u",
			     r->records, start, hlen, QF_MAX_HEADER);
	if (grow(&r->hbuf, &r->hbuf_cap, (size_t)hlen + 4) < 0)
		return rfail(r, err, "out of memory");
	if (rread_all(r, r->hbuf, (size_t)hlen + 4, "record header", err) < 0)
		return -1;
	crc = qf_crc32c(qf_crc32c(0, h, 8), r->hbuf, hlen);
	if (crc != qf_get_u32(r->hbuf + hlen))
		return rfail(r, err, "record #%" PRIu64 " at offset %" PRIu64
			     ": corrupt header (checksum mismatch)", r->records,
			     start);
	if (parse_header(r, r->hbuf, hlen, rec, err) < 0)
		return -1;
	r->done = 0;
	r->chunk_no = 0;
	r->raw_len = r->raw_pos = 0;
	r->records++;
	r->seg_records++;
	r->state = R_PAYLOAD;
	if (r->nbytes == 0)
		r->state = R_RECORDS;
	return 1;
}

static int read_end(qf_reader *r, qf_err *err)
{
	unsigned char h[END_SIZE];

	memcpy(h, TAG_END, 4);
	if (rread_all(r, h + 4, END_SIZE - 4, "end marker", err) < 0)
		return -1;
	if (qf_crc32c(0, h, 12) != qf_get_u32(h + 12))
		return rfail(r, err, "corrupt end marker at offset %" PRIu64,
			     r->offset - END_SIZE);
	if (qf_get_u64(h + 4) != r->seg_records)
		return rfail(r, err, "end marker counts %" PRIu64 " records, the "
			     "stream holds %" PRIu64, qf_get_u64(h + 4),
			     r->seg_records);
	r->state = R_SEGMENT;
	return 0;
}

/* Raw size of chunk i of the current payload. */
static size_t chunk_raw_size(const qf_reader *r, uint64_t i)
{
	uint64_t left = r->nbytes - i * r->chunk;

	return (size_t)(left < r->chunk ? left : r->chunk);
}

static uint64_t chunk_count(const qf_reader *r)
{
	return (r->nbytes + r->chunk - 1) / r->chunk;
}

/* Read the compressed bytes of the next chunk into r->comp; returns
 * their size, or -1. */
static int64_t read_chunk_comp(qf_reader *r, size_t raw, qf_err *err)
{
	unsigned char h[4];
	uint32_t csize;

	if (rread_all(r, h, 4, "payload chunk", err) < 0)
		return -1;
	csize = qf_get_u32(h);
	if (csize == 0 || csize > ZSTD_compressBound(raw) + 64)
		return rfail(r, err, "corrupt payload: chunk %" PRIu64 " of %" PRIu64
			     " claims %" PRIu32 " compressed bytes",
			     r->chunk_no + 1, chunk_count(r), csize);
	if (grow(&r->comp, &r->comp_cap, csize) < 0)
		return rfail(r, err, "out of memory");
	if (rread_all(r, r->comp, csize, "payload chunk", err) < 0)
		return -1;
	return csize;
}

/* Decode the next chunk into dst (raw bytes, unshuffled). */
static int decode_chunk(qf_reader *r, unsigned char *dst, size_t raw,
			qf_err *err)
{
	int64_t csize = read_chunk_comp(r, raw, err);
	unsigned char *out = dst;
	size_t got;

	if (csize < 0)
		return -1;
	/* One zstd frame (RFC 8878: magic FD2FB528, then the frame header
	 * descriptor, whose bit 2 is Content_Checksum_flag). */
	if (csize < 6 || qf_get_u32(r->comp) != 0xFD2FB528u ||
	    ZSTD_findFrameCompressedSize(r->comp, (size_t)csize) != (size_t)csize)
		return rfail(r, err, "corrupt payload: chunk %" PRIu64 " is not one "
			     "zstd frame", r->chunk_no + 1);
	if (ZSTD_getFrameContentSize(r->comp, (size_t)csize) != raw ||
	    !(r->comp[4] & 0x04))
		return rfail(r, err, "corrupt payload: chunk %" PRIu64 " frame "
			     "header disagrees with the record header",
			     r->chunk_no + 1);
	if (r->filter == FILTER_SHUFFLE) {
		if (grow(&r->tmp, &r->tmp_cap, raw) < 0)
			return rfail(r, err, "out of memory");
		out = r->tmp;
	}
	got = ZSTD_decompressDCtx(r->dctx, out, raw, r->comp, (size_t)csize);
	if (ZSTD_isError(got))
		return rfail(r, err, "corrupt payload: chunk %" PRIu64 ": %s",
			     r->chunk_no + 1, ZSTD_getErrorName(got));
	if (got != raw)
		return rfail(r, err, "corrupt payload: chunk %" PRIu64 " holds %zu "
			     "bytes, expected %zu", r->chunk_no + 1, got, raw);
	if (r->filter == FILTER_SHUFFLE)
		qf_unshuffle(dst, out, raw, qf_dtype_size(r->dtype));
	r->chunk_no++;
	return 0;
}

int64_t qf_reader_read(qf_reader *r, void *buf, size_t n, qf_err *err)
{
	unsigned char *out = buf;
	size_t total = 0;

	if (r->state == R_DEAD)
		return qf_err_set(err, "%s: read after an error", r->name);
	while (total < n && r->state == R_PAYLOAD) {
		if (r->raw_pos == r->raw_len) {
			size_t raw = chunk_raw_size(r, r->chunk_no);
			/* A whole chunk wanted: decode straight into buf. */
			if (n - total >= raw) {
				if (decode_chunk(r, out + total, raw, err) < 0)
					return -1;
				total += raw;
				r->done += raw;
				goto next;
			}
			if (grow(&r->raw, &r->raw_cap, raw) < 0)
				return rfail(r, err, "out of memory");
			if (decode_chunk(r, r->raw, raw, err) < 0)
				return -1;
			r->raw_len = raw;
			r->raw_pos = 0;
		}
		size_t k = r->raw_len - r->raw_pos;
		if (k > n - total)
			k = n - total;
		memcpy(out + total, r->raw + r->raw_pos, k);
		r->raw_pos += k;
		total += k;
		r->done += k;
next:
		if (r->done == r->nbytes)
			r->state = R_RECORDS;
	}
	return (int64_t)total;
}

int qf_reader_skip(qf_reader *r, qf_err *err)
{
	if (r->state == R_DEAD)
		return qf_err_set(err, "%s: read after an error", r->name);
	if (r->state != R_PAYLOAD)
		return 0;
	/* Drop what is left of a decoded chunk, then whole chunks. */
	r->done += r->raw_len - r->raw_pos;
	r->raw_len = r->raw_pos = 0;
	while (r->done < r->nbytes) {
		unsigned char h[4];
		size_t raw = chunk_raw_size(r, r->chunk_no);
		uint32_t csize;

		if (rread_all(r, h, 4, "payload chunk", err) < 0)
			return -1;
		csize = qf_get_u32(h);
		if (csize == 0 || csize > ZSTD_compressBound(raw) + 64)
			return rfail(r, err, "corrupt payload: chunk %" PRIu64 " of %"
				     PRIu64 " claims %" PRIu32 " compressed bytes",
				     r->chunk_no + 1, chunk_count(r), csize);
		if (rskip_bytes(r, csize, "payload chunk", err) < 0)
			return -1;
		r->chunk_no++;
		r->done += raw;
	}
	r->state = R_RECORDS;
	return 0;
}

uint64_t qf_reader_max_whole(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || size <= 0)
		return QF_MAX_PAYLOAD;
	return (uint64_t)pages * (uint64_t)size;
}

/* The fewest bytes the rest of the current payload takes in the stream:
 * per chunk its csize, a frame header with content size, a checksum,
 * and one block of at least 4 bytes per 128 KiB (the largest zstd
 * block, RFC 8878). */
static uint64_t chunk_least(uint64_t raw)
{
	uint64_t zblock = 128u << 10;

	return 4 + 10 + 4 * ((raw + zblock - 1) / zblock);
}

static uint64_t least_stored(const qf_reader *r)
{
	uint64_t n = chunk_count(r) - r->chunk_no;

	if (n == 0)
		return 0;
	return (n - 1) * chunk_least(r->chunk) +
	       chunk_least(chunk_raw_size(r, chunk_count(r) - 1));
}

/* Before holding `out` bytes of the payload whole: the documented limit
 * (formats/stream.md, "Limits") and, in a regular file, what is left of
 * it; so that a header declaring terabytes costs nothing.  Returns 1
 * when the file could be checked, 0 when not (a pipe), -1 on error. */
static int check_whole(qf_reader *r, uint64_t out, qf_err *err)
{
	uint64_t max = qf_reader_max_whole();
	struct stat st;
	off_t pos;

	if (out > max)
		return rfail(r, err, "payload of %" PRIu64 " bytes is larger than "
			     "the %" PRIu64 " bytes a record held whole may take "
			     "(the machine's memory)", out, max);
	if (!r->seekable || r->raw_pos < r->raw_len ||
	    fstat(fileno(r->f), &st) != 0 || (pos = ftello(r->f)) < 0)
		return 0;
	if ((uint64_t)pos > (uint64_t)st.st_size ||
	    least_stored(r) > (uint64_t)st.st_size - (uint64_t)pos)
		return rfail(r, err, "truncated: the header declares %" PRIu64
			     " payload bytes, more than the %" PRIu64 " bytes "
			     "left in the file can hold", r->nbytes - r->done,
			     (uint64_t)st.st_size - (uint64_t)pos);
	return 1;
}

#define HUGE_PAGE (2u << 20)

/*
 * A buffer for a whole payload that a regular file has shown it can
 * fill.  Untouched memory costs nothing, and pages are filled as chunks
 * arrive; a large one is aligned to 2 MiB and offered transparent huge
 * pages, which takes a page fault per 2 MiB instead of per 4 KiB (the
 * faults were a fifth of the time of loading a model).  free() frees it.
 */
static unsigned char *alloc_whole(size_t n)
{
	void *p;

	if (n < 4 * HUGE_PAGE)
		return malloc(n);
	if (posix_memalign(&p, HUGE_PAGE, n) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE);
#endif
	return p;
}

/* Make room for `need` bytes, doubling up to `max`. */
static int grow_to(unsigned char **buf, size_t *cap, size_t need, size_t max)
{
	size_t c = *cap ? *cap : need;

	while (c < need)
		c = c > max / 2 ? max : c * 2;
	return grow(buf, cap, c < max ? c : max);
}

/* "element I: ..." of a conversion of a piece starting at element at,
 * renumbered from the start of the payload. */
static int convert_fail(qf_reader *r, const char *msg, uint64_t at,
			qf_err *err)
{
	size_t i;
	int n = 0;

	if (sscanf(msg, "element %zu: %n", &i, &n) == 1 && n > 0)
		return rfail(r, err, "element %" PRIu64 ": %s", at + i, msg + n);
	return rfail(r, err, "%s", msg);
}

/*
 * The rest of the payload as dtype dt, after the checks above: in a
 * buffer allocated at once when a regular file can hold the payload
 * (its pages are touched only as chunks arrive), else grown as chunks
 * arrive; either way never more memory than the data delivered so far
 * justifies.  A conversion goes through one piece of at most a chunk.
 */
static int read_whole(qf_reader *r, int dt, void **buf, qf_err *err)
{
	size_t ss = qf_dtype_size(r->dtype), ds = qf_dtype_size(dt);
	uint64_t left = r->state == R_PAYLOAD ? r->nbytes - r->done : 0;
	uint64_t n = left / ss, at = 0, total = n * ds;
	size_t piece = r->chunk < (1u << 20) ? (1u << 20) : (size_t)r->chunk;
	unsigned char *out = NULL, *tmp = NULL;
	size_t cap = 0, tcap = 0;
	qf_err e2;
	int sized;

	*buf = NULL;
	if (left == 0)
		return 0;
	if (total > SIZE_MAX)
		return rfail(r, err, "payload too large for this machine");
	sized = check_whole(r, total, err);
	if (sized < 0)
		return -1;
	if (sized) {
		out = alloc_whole((size_t)total);
		if (!out)
			goto oom;
		cap = (size_t)total;
	}
	piece = piece / ss * ss;
	while (at < n) {
		size_t k = n - at < piece / ss ? (size_t)(n - at) : piece / ss;
		unsigned char *dst;

		if (grow_to(&out, &cap, (size_t)((at + k) * ds), (size_t)total) < 0)
			goto oom;
		dst = dt == r->dtype ? out + at * ds : NULL;
		if (!dst && grow(&tmp, &tcap, k * ss) < 0)
			goto oom;
		if (qf_reader_read(r, dst ? dst : tmp, k * ss, err) != (int64_t)(k * ss))
			goto fail;
		if (!dst && qf_convert(dt, out + at * ds, r->dtype, tmp, k, &e2) < 0) {
			convert_fail(r, e2.msg, at, err);
			goto fail;
		}
		at += k;
	}
	free(tmp);
	*buf = out;
	return 0;
oom:
	rfail(r, err, "out of memory for %" PRIu64 " bytes", total);
fail:
	free(tmp);
	free(out);
	return -1;
}

int qf_reader_read_all(qf_reader *r, void **buf, qf_err *err)
{
	*buf = NULL;
	if (r->state == R_DEAD)
		return qf_err_set(err, "%s: read after an error", r->name);
	return read_whole(r, r->dtype, buf, err);
}

int qf_reader_read_as(qf_reader *r, int dt, void **buf, qf_err *err)
{
	*buf = NULL;
	if (!qf_dtype_size(dt))
		return qf_err_set(err, "%s: unknown dtype code %d", r->name, dt);
	if (r->state == R_DEAD)
		return qf_err_set(err, "%s: read after an error", r->name);
	return read_whole(r, dt, buf, err);
}

int qf_reader_next(qf_reader *r, qf_rec *rec, qf_err *err)
{
	unsigned char tag[4];
	int rc;

	if (r->state == R_DEAD)
		return qf_err_set(err, "%s: read after an error", r->name);
	if (r->state == R_DONE)
		return 0;
	if (r->state == R_PAYLOAD && qf_reader_skip(r, err) < 0)
		return -1;
	free(r->rname);
	r->rname = NULL;
	for (;;) {
		if (r->state == R_SEGMENT) {
			rc = read_segment_header(r, err);
			if (rc < 0)
				return -1;
			if (rc == 0) {
				if (r->segments == 0)
					return rfail(r, err, "empty input (not a qf stream)");
				r->state = R_DONE;
				return 0;
			}
			r->state = R_RECORDS;
		}
		rc = rread(r, tag, 4, "record", err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			return rfail(r, err, "truncated: the stream ends after %" PRIu64
				     " records without its end marker", r->seg_records);
		if (memcmp(tag, TAG_REC, 4) == 0)
			return read_record_header(r, rec, err);
		if (memcmp(tag, TAG_END, 4) != 0)
			return rfail(r, err, "corrupt stream: no record at offset %"
				     PRIu64, r->offset - 4);
		if (read_end(r, err) < 0)
			return -1;
	}
}

/* ------------------------------------------------------------ writer */

struct qf_writer {
	FILE *f;
	qf_out *out;		/* when writing to a path */
	char *name;
	int dead;
	uint64_t records;
	qf_wopts o;
	ZSTD_CCtx *cctx;
	qf_zpar *zp;		/* compression workers (threads > 1), or NULL */
	/* current record */
	int in_record;
	char *rname;
	size_t esize;
	int filter;
	size_t chunk;
	uint64_t nbytes, done;
	unsigned char *buf, *tmp, *comp;
	size_t buf_len, buf_cap, tmp_cap, comp_cap;
	unsigned char *hbuf;
	size_t hlen, hcap;
};

static int wfail(qf_writer *w, qf_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int wfail(qf_writer *w, qf_err *err, const char *fmt, ...)
{
	char msg[QF_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	w->dead = 1;
	if (w->in_record && w->rname)
		return qf_err_set(err, "%s: record %s: %s", w->name, w->rname, msg);
	return qf_err_set(err, "%s: %s", w->name, msg);
}

static int wput(qf_writer *w, const void *buf, size_t n, qf_err *err)
{
	if (fwrite(buf, 1, n, w->f) != n) {
		int e = errno;

		wfail(w, err, "write error: %s", strerror(e));
		return qf_err_code(err, e);
	}
	return 0;
}

static int write_segment_header(qf_writer *w, qf_err *err)
{
	unsigned char h[SEG_HEADER_SIZE];

	memcpy(h, MAGIC, 8);
	qf_put_u16(h + 8, VERSION_MAJOR);
	qf_put_u16(h + 10, VERSION_MINOR);
	qf_put_u32(h + 12, qf_crc32c(0, h, 12));
	return wput(w, h, sizeof h, err);
}

qf_writer *qf_writer_fopen(FILE *f, const char *name, const qf_wopts *opts,
			   qf_err *err)
{
	qf_writer *w = calloc(1, sizeof *w);
	static const qf_wopts defaults = { 0, 0, 0, 0, QF_PROV_STAMP };

	if (!w || !(w->name = strdup(name ? name : "<stdout>"))) {
		free(w);
		qf_err_set(err, "%s: out of memory", name ? name : "<stdout>");
		return NULL;
	}
	w->f = f;
	w->o = opts ? *opts : defaults;
	if (w->o.level == 0)
		w->o.level = QF_DEFAULT_LEVEL;
	if (w->o.chunk == 0)
		w->o.chunk = QF_DEFAULT_CHUNK;
	if (w->o.level < ZSTD_minCLevel() || w->o.level > ZSTD_maxCLevel() ||
	    w->o.chunk > QF_MAX_CHUNK) {
		qf_err_set(err, "%s: invalid writer options (level %d, chunk %zu)",
			   w->name, w->o.level, w->o.chunk);
		goto fail;
	}
	w->cctx = ZSTD_createCCtx();
	if (!w->cctx) {
		qf_err_set(err, "%s: out of memory", w->name);
		goto fail;
	}
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->o.level);
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
	if (w->o.threads > 1) {
		int t = w->o.threads < QF_WRITER_THREADS ? w->o.threads :
			QF_WRITER_THREADS;
		w->zp = qf_zpar_new(t, 2 * t, w->o.level);
	}
	if (write_segment_header(w, err) < 0)
		goto fail;
	return w;
fail:
	ZSTD_freeCCtx(w->cctx);
	free(w->name);
	free(w);
	return NULL;
}

qf_writer *qf_writer_open(const char *path, const qf_wopts *opts, qf_err *err)
{
	qf_out *o = qf_out_open(path, err);
	qf_writer *w;

	if (!o)
		return NULL;
	w = qf_writer_fopen(qf_out_file(o), qf_out_name(o), opts, err);
	if (!w) {
		qf_out_abort(o);
		return NULL;
	}
	w->out = o;
	return w;
}

uint64_t qf_writer_count(const qf_writer *w)
{
	return w->records;
}

static int hput(qf_writer *w, const void *p, size_t n)
{
	if (grow(&w->hbuf, &w->hcap, w->hlen + n) < 0)
		return -1;
	memcpy(w->hbuf + w->hlen, p, n);
	w->hlen += n;
	return 0;
}

static int hput_u32(qf_writer *w, uint32_t v)
{
	unsigned char b[4];

	qf_put_u32(b, v);
	return hput(w, b, 4);
}

static int hput_str(qf_writer *w, const char *s)
{
	size_t n = strlen(s);

	return hput_u32(w, (uint32_t)n) < 0 || hput(w, s, n) < 0 ? -1 : 0;
}

/* Serialise rec's header (tag through CRC) into w->hbuf. */
static int build_header(qf_writer *w, const qf_rec *rec)
{
	unsigned char fixed[8];
	int fail = 0;

	w->hlen = 0;
	fail |= hput(w, TAG_REC, 4);
	fail |= hput_u32(w, 0);	/* body length, patched below */
	fixed[0] = (unsigned char)rec->dtype;
	fixed[1] = (unsigned char)rec->ndim;
	fixed[2] = (unsigned char)w->filter;
	fixed[3] = 0;
	qf_put_u32(fixed + 4, (uint32_t)w->chunk);
	fail |= hput(w, fixed, 8);
	for (int i = 0; i < rec->ndim; i++) {
		unsigned char d[8];
		qf_put_u64(d, rec->dims[i]);
		fail |= hput(w, d, 8);
	}
	fail |= hput_str(w, rec->name);
	if (w->o.provenance == QF_PROV_KEEP) {
		fail |= hput_u32(w, (uint32_t)rec->nattr);
		for (size_t i = 0; i < rec->nattr; i++) {
			fail |= hput_str(w, rec->attr[i].key);
			fail |= hput_str(w, rec->attr[i].val);
		}
	} else {
		/* this process's provenance, last, instead of the record's */
		int had = qf_rec_get(rec, QF_PROV_KEY) != NULL;

		if (!had && rec->nattr >= QF_MAX_ATTRS)
			return -2;
		fail |= hput_u32(w, (uint32_t)(rec->nattr + !had));
		for (size_t i = 0; i < rec->nattr; i++) {
			if (strcmp(rec->attr[i].key, QF_PROV_KEY) == 0)
				continue;
			fail |= hput_str(w, rec->attr[i].key);
			fail |= hput_str(w, rec->attr[i].val);
		}
		fail |= hput_str(w, QF_PROV_KEY);
		fail |= hput_str(w, qf_provenance());
	}
	if (fail || w->hlen - 8 > QF_MAX_HEADER)
		return -1;
	qf_put_u32(w->hbuf + 4, (uint32_t)(w->hlen - 8));
	return hput_u32(w, qf_crc32c(0, w->hbuf, w->hlen));
}

int qf_writer_begin(qf_writer *w, const qf_rec *rec, qf_err *err)
{
	qf_err e2;

	if (w->dead)
		return qf_err_set(err, "%s: write after an error", w->name);
	if (w->in_record)
		return wfail(w, err, "record begun before the last one ended");
	if (qf_rec_check(rec, &e2) < 0)
		return qf_err_set(err, "%s: record %s: %s", w->name,
				  rec->name ? rec->name : "(unnamed)", e2.msg);
	free(w->rname);
	w->rname = strdup(rec->name);
	w->in_record = 1;
	if (!w->rname)
		return wfail(w, err, "out of memory");
	w->esize = qf_dtype_size(rec->dtype);
	w->filter = w->esize > 1 && (w->o.shuffle == QF_SHUFFLE_ON ||
				     (w->o.shuffle == QF_SHUFFLE_AUTO &&
				      qf_dtype_is_float(rec->dtype))) ?
		FILTER_SHUFFLE : FILTER_NONE;
	w->chunk = w->o.chunk / w->esize * w->esize;
	if (w->chunk == 0)
		w->chunk = w->esize;
	w->nbytes = qf_rec_nbytes(rec);
	w->done = 0;
	w->buf_len = 0;
	switch (build_header(w, rec)) {
	case -1:
		return wfail(w, err, "header exceeds the limit of %u bytes",
			     QF_MAX_HEADER);
	case -2:
		return wfail(w, err, "%u attributes, no room for its provenance",
			     QF_MAX_ATTRS);
	}
	return wput(w, w->hbuf, w->hlen, err);
}

/* A compressed chunk out: its length, then its frame. */
static int put_frame(qf_writer *w, const unsigned char *frame, size_t c,
		     qf_err *err)
{
	unsigned char h[4];

	qf_put_u32(h, (uint32_t)c);
	if (wput(w, h, 4, err) < 0 || wput(w, frame, c, err) < 0)
		return -1;
	return 0;
}

/* The oldest chunk the workers compress out, when it is ready or (wait)
 * once it is; 1 if one went, 0 if none, -1 on error. */
static int put_oldest(qf_writer *w, int wait, qf_err *err)
{
	const unsigned char *frame;
	const char *error;
	size_t c;
	int rc;

	if (!qf_zpar_head(w->zp, wait, &frame, &c, &error))
		return 0;
	if (error)
		return wfail(w, err, "zstd: %s", error);
	rc = put_frame(w, frame, c, err);
	qf_zpar_pop(w->zp);
	return rc < 0 ? -1 : 1;
}

/* Every chunk the workers hold, out in order. */
static int drain(qf_writer *w, qf_err *err)
{
	int rc;

	while (w->zp && (rc = put_oldest(w, 1, err)) != 0)
		if (rc < 0)
			return -1;
	return 0;
}

/* Compress and write a chunk: here, or given to the workers (shuffled
 * on the way in, the copy it needs anyway), writing what they have
 * finished. */
static int flush_chunk(qf_writer *w, const unsigned char *src, size_t n,
		       qf_err *err)
{
	size_t bound = ZSTD_compressBound(n), c;
	unsigned char *in;
	int rc;

	if (w->zp) {
		while (qf_zpar_full(w->zp))
			if (put_oldest(w, 1, err) < 0)
				return -1;
		if (!(in = qf_zpar_input(w->zp, n)))
			return wfail(w, err, "out of memory");
		if (w->filter == FILTER_SHUFFLE)
			qf_shuffle(in, src, n, w->esize);
		else
			memcpy(in, src, n);
		qf_zpar_give(w->zp, n);
		while ((rc = put_oldest(w, 0, err)) > 0)
			;
		return rc;
	}
	if (grow(&w->comp, &w->comp_cap, bound) < 0)
		return wfail(w, err, "out of memory");
	if (w->filter == FILTER_SHUFFLE) {
		if (grow(&w->tmp, &w->tmp_cap, n) < 0)
			return wfail(w, err, "out of memory");
		qf_shuffle(w->tmp, src, n, w->esize);
		src = w->tmp;
	}
	c = ZSTD_compress2(w->cctx, w->comp, bound, src, n);
	if (ZSTD_isError(c))
		return wfail(w, err, "zstd: %s", ZSTD_getErrorName(c));
	return put_frame(w, w->comp, c, err);
}

int qf_writer_write(qf_writer *w, const void *data, size_t n, qf_err *err)
{
	const unsigned char *p = data;

	if (w->dead)
		return qf_err_set(err, "%s: write after an error", w->name);
	if (!w->in_record)
		return wfail(w, err, "payload written outside a record");
	if (n > w->nbytes - w->done)
		return wfail(w, err, "payload longer than its shape (%" PRIu64
			     " bytes)", w->nbytes);
	w->done += n;
	while (n > 0) {
		/* Whole chunks straight from the caller's buffer. */
		if (w->buf_len == 0 && n >= w->chunk) {
			if (flush_chunk(w, p, w->chunk, err) < 0)
				return -1;
			p += w->chunk;
			n -= w->chunk;
			continue;
		}
		if (grow(&w->buf, &w->buf_cap, w->chunk) < 0)
			return wfail(w, err, "out of memory");
		size_t k = w->chunk - w->buf_len;
		if (k > n)
			k = n;
		memcpy(w->buf + w->buf_len, p, k);
		w->buf_len += k;
		p += k;
		n -= k;
		if (w->buf_len == w->chunk) {
			if (flush_chunk(w, w->buf, w->buf_len, err) < 0)
				return -1;
			w->buf_len = 0;
		}
	}
	return 0;
}

int qf_writer_end(qf_writer *w, qf_err *err)
{
	if (w->dead)
		return qf_err_set(err, "%s: write after an error", w->name);
	if (!w->in_record)
		return wfail(w, err, "record ended twice");
	if (w->done != w->nbytes)
		return wfail(w, err, "payload has %" PRIu64 " of %" PRIu64 " bytes",
			     w->done, w->nbytes);
	if (w->buf_len && flush_chunk(w, w->buf, w->buf_len, err) < 0)
		return -1;
	if (drain(w, err) < 0)
		return -1;
	w->buf_len = 0;
	w->in_record = 0;
	w->records++;
	return 0;
}

int qf_writer_put(qf_writer *w, const qf_rec *rec, const void *data,
		  qf_err *err)
{
	uint64_t n = qf_rec_nbytes(rec);

	if (qf_writer_begin(w, rec, err) < 0)
		return -1;
	if (n > SIZE_MAX)
		return wfail(w, err, "payload too large for this machine");
	if (n && qf_writer_write(w, data, (size_t)n, err) < 0)
		return -1;
	return qf_writer_end(w, err);
}

static void writer_free(qf_writer *w)
{
	qf_zpar_free(w->zp);
	ZSTD_freeCCtx(w->cctx);
	free(w->name);
	free(w->rname);
	free(w->buf);
	free(w->tmp);
	free(w->comp);
	free(w->hbuf);
	free(w);
}

int qf_writer_close(qf_writer *w, qf_err *err)
{
	unsigned char h[END_SIZE];
	int rc = 0;

	if (!w)
		return 0;
	if (w->dead) {
		rc = qf_err_set(err, "%s: write after an error", w->name);
	} else if (w->in_record) {
		rc = wfail(w, err, "stream closed inside a record");
	} else {
		memcpy(h, TAG_END, 4);
		qf_put_u64(h + 4, w->records);
		qf_put_u32(h + 12, qf_crc32c(0, h, 12));
		rc = wput(w, h, sizeof h, err);
		if (rc == 0 && fflush(w->f) != 0)
			rc = wfail(w, err, "write error: %s", strerror(errno));
	}
	if (w->out) {
		if (rc == 0)
			rc = qf_out_commit(w->out, err);
		else
			qf_out_abort(w->out);
	}
	writer_free(w);
	return rc;
}

void qf_writer_abort(qf_writer *w)
{
	if (!w)
		return;
	if (w->out)
		qf_out_abort(w->out);
	writer_free(w);
}
