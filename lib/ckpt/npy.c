/* npy.c - numpy .npy files and .npz (zip) archives of them */
#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "ckpt/ckpt.h"
#include "core/internal.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
#define NPY_GROWTH_DIGITS 21	/* numpy's spare room after the first dim */
#define NPY_MAX_HEADER (1u << 20)	/* refuse longer headers when reading */
#define READ_STEP (1u << 20)

/* Where errors are reported: "file: " or "file: record name: ". */
struct where {
	const char *file;
	const char *rec;
};

static int fail(const struct where *w, qf_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(const struct where *w, qf_err *err, const char *fmt, ...)
{
	char msg[QF_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (w->rec)
		return qf_err_set(err, "%s: record %s: %s", w->file, w->rec, msg);
	return qf_err_set(err, "%s: %s", w->file, msg);
}

/* ---------------------------------------------------------------- byte sources and sinks */

/* A source: a FILE or the current member of a zip archive.  read
 * returns the bytes read (fewer than asked only at the end) or -1. */
struct src {
	long long (*read)(struct src *s, void *buf, size_t n);
	FILE *f;
	struct archive *a;
	char why[256];
};

static long long file_read(struct src *s, void *buf, size_t n)
{
	size_t got = fread(buf, 1, n, s->f);

	if (got < n && ferror(s->f)) {
		snprintf(s->why, sizeof s->why, "%s", strerror(errno));
		return -1;
	}
	return (long long)got;
}

static long long zip_read(struct src *s, void *buf, size_t n)
{
	size_t got = 0;
	la_ssize_t r;

	while (got < n) {
		r = archive_read_data(s->a, (char *)buf + got, n - got);
		if (r < 0) {
			snprintf(s->why, sizeof s->why, "%s",
				 archive_error_string(s->a) ?
				 archive_error_string(s->a) : "read error");
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (long long)got;
}

struct sink {
	int (*write)(struct sink *s, const void *buf, size_t n);
	FILE *f;
	struct archive *a;
	char why[256];
	int code;	/* errno behind why, or 0 */
};

static int file_write(struct sink *s, const void *buf, size_t n)
{
	if (n && fwrite(buf, 1, n, s->f) != n) {
		s->code = errno;
		snprintf(s->why, sizeof s->why, "%s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Why libarchive failed: the system's reason if there is one (its FILE
 * writer says only "Write error"), else its own message.  Returns the
 * system's errno value, or 0. */
static int zip_write_why(struct archive *a, char *buf, size_t len)
{
	const char *s = archive_error_string(a);
	int e = archive_errno(a);

	snprintf(buf, len, "%s", e > 0 ? strerror(e) : s ? s : "write error");
	return e > 0 ? e : 0;
}

/* Writes into a FILE can fail into its buffer unseen by libarchive;
 * notice that early rather than at the end of the archive. */
static int zip_file_failed(struct sink *s)
{
	if (!s->f || !ferror(s->f))
		return 0;
	if (qf_out_flush_check(s->f) < 0 && errno) {
		s->code = errno;
		snprintf(s->why, sizeof s->why, "%s", strerror(errno));
	} else
		snprintf(s->why, sizeof s->why, "write error");
	return -1;
}

static int zip_write(struct sink *s, const void *buf, size_t n)
{
	const char *p = buf;
	la_ssize_t r;

	while (n) {
		r = archive_write_data(s->a, p, n < READ_STEP ? n : READ_STEP);
		if (r <= 0) {
			s->code = zip_write_why(s->a, s->why, sizeof s->why);
			return -1;
		}
		p += r;
		n -= (size_t)r;
		if (zip_file_failed(s) < 0)
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- header dictionary */

/* What the header says. */
struct hdr {
	int dtype;
	int swap;	/* big-endian data */
	int fortran;
	int ndim;
	uint64_t dims[QF_MAX_DIMS];
};

/* A cursor over the header text of a Python dict literal. */
struct lex {
	const char *p, *end;
	char why[200];
};

static int lex_fail(struct lex *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int lex_fail(struct lex *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->why, sizeof l->why, fmt, ap);
	va_end(ap);
	return -1;
}

static void skip_ws(struct lex *l)
{
	while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' ||
				 *l->p == '\n' || *l->p == '\r'))
		l->p++;
}

/* The next non-blank character, not consumed; 0 at the end. */
static int peek(struct lex *l)
{
	skip_ws(l);
	return l->p < l->end ? (unsigned char)*l->p : 0;
}

static int accept(struct lex *l, int c)
{
	if (peek(l) != c)
		return 0;
	l->p++;
	return 1;
}

/* A quoted string ('...' or "...", with \\ \' \" escapes) into out. */
static int lex_string(struct lex *l, char *out, size_t len)
{
	size_t o = 0;
	int q = peek(l);

	if (q != '\'' && q != '"')
		return lex_fail(l, "expected a quoted string");
	for (l->p++; l->p < l->end && *l->p != q; l->p++) {
		if (*l->p == '\\') {
			if (++l->p == l->end)
				break;
			if (*l->p != '\\' && *l->p != '\'' && *l->p != '"')
				return lex_fail(l, "unsupported escape in string");
		}
		if (*l->p == '\n' || *l->p == 0)
			return lex_fail(l, "unterminated string");
		if (o + 1 < len)
			out[o++] = *l->p;
		else
			return lex_fail(l, "string too long");
	}
	if (l->p == l->end)
		return lex_fail(l, "unterminated string");
	l->p++;
	out[o] = 0;
	return 0;
}

/* An identifier such as True or False. */
static int lex_word(struct lex *l, char *out, size_t len)
{
	size_t o = 0;

	skip_ws(l);
	while (l->p < l->end && ((*l->p >= 'a' && *l->p <= 'z') ||
				 (*l->p >= 'A' && *l->p <= 'Z') || *l->p == '_')) {
		if (o + 1 >= len)
			return lex_fail(l, "unexpected word in header");
		out[o++] = *l->p++;
	}
	out[o] = 0;
	return o ? 0 : -1;
}

/* A non-negative decimal integer (Python 2's "3L" too). */
static int lex_uint(struct lex *l, uint64_t *v)
{
	uint64_t x = 0;
	int digits = 0;

	skip_ws(l);
	for (; l->p < l->end && *l->p >= '0' && *l->p <= '9'; l->p++, digits++) {
		unsigned d = (unsigned)(*l->p - '0');

		if (x > (UINT64_MAX - d) / 10)
			return lex_fail(l, "dimension too large");
		x = x * 10 + d;
	}
	if (!digits)
		return lex_fail(l, "expected a non-negative integer in 'shape'");
	if (l->p < l->end && (*l->p == 'L' || *l->p == 'l'))
		l->p++;
	*v = x;
	return 0;
}

static int parse_shape(struct lex *l, struct hdr *h)
{
	int commas = 0;
	uint64_t d = 0;

	if (!accept(l, '('))
		return lex_fail(l, "'shape' is not a tuple");
	h->ndim = 0;
	while (!accept(l, ')')) {
		if (lex_uint(l, &d) < 0)
			return -1;
		if (h->ndim == QF_MAX_DIMS)
			return lex_fail(l, "more than %d dimensions", QF_MAX_DIMS);
		h->dims[h->ndim++] = d;
		if (accept(l, ','))
			commas++;
		else if (peek(l) != ')')
			return lex_fail(l, "bad 'shape' tuple");
	}
	if (h->ndim == 1 && !commas)
		return lex_fail(l, "'shape' is not a tuple");
	return 0;
}

/* descr strings: byte order, kind, size. */
static int parse_descr(struct lex *l, struct hdr *h)
{
	static const struct {
		char kind;
		char size;
		int dtype;
	} map[] = {
		{ 'f', '2', QF_F16 }, { 'f', '4', QF_F32 }, { 'f', '8', QF_F64 },
		{ 'i', '1', QF_I8 },  { 'i', '2', QF_I16 }, { 'i', '4', QF_I32 },
		{ 'i', '8', QF_I64 }, { 'u', '1', QF_U8 },  { 'u', '2', QF_U16 },
		{ 'u', '4', QF_U32 }, { 'u', '8', QF_U64 }, { 'b', '1', QF_BOOL },
	};
	char s[64];
	const char *t = s;
	size_t i;

	if (peek(l) == '[')
		return lex_fail(l, "structured dtypes are not supported");
	if (lex_string(l, s, sizeof s) < 0)
		return lex_fail(l, "unsupported dtype description");
	h->swap = 0;
	if (*t == '<' || *t == '|' || *t == '=')
		t++;
	else if (*t == '>')
		h->swap = 1, t++;
	if (*t == 'O')
		return lex_fail(l, "object arrays are not supported");
	if (*t == 'V')
		return lex_fail(l, "structured dtypes are not supported");
	for (i = 0; i < sizeof map / sizeof map[0]; i++) {
		if (t[0] == map[i].kind && t[1] == map[i].size && !t[2]) {
			h->dtype = map[i].dtype;
			if (qf_dtype_size(h->dtype) == 1)
				h->swap = 0;
			return 0;
		}
	}
	return lex_fail(l, "unsupported dtype '%s'", s);
}

static int parse_bool(struct lex *l, int *v)
{
	char w[8];

	if (lex_word(l, w, sizeof w) == 0) {
		if (strcmp(w, "True") == 0)
			return *v = 1, 0;
		if (strcmp(w, "False") == 0)
			return *v = 0, 0;
	}
	return lex_fail(l, "'fortran_order' is not True or False");
}

static int parse_entry(struct lex *l, struct hdr *h, unsigned *seen)
{
	static const char *keys[] = { "descr", "fortran_order", "shape" };
	char key[32];
	unsigned k;

	if (lex_string(l, key, sizeof key) < 0)
		return lex_fail(l, "expected a quoted key");
	for (k = 0; k < 3 && strcmp(key, keys[k]) != 0; k++)
		;
	if (k == 3)
		return lex_fail(l, "unexpected key '%s'", key);
	if (*seen & (1u << k))
		return lex_fail(l, "duplicate key '%s'", key);
	*seen |= 1u << k;
	if (!accept(l, ':'))
		return lex_fail(l, "expected ':' after '%s'", key);
	if (k == 0)
		return parse_descr(l, h);
	if (k == 1)
		return parse_bool(l, &h->fortran);
	return parse_shape(l, h);
}

static int parse_header(struct lex *l, struct hdr *h)
{
	unsigned seen = 0;

	if (!accept(l, '{'))
		return lex_fail(l, "header is not a dictionary");
	while (!accept(l, '}')) {
		if (parse_entry(l, h, &seen) < 0)
			return -1;
		if (!accept(l, ',') && peek(l) != '}')
			return lex_fail(l, "expected ',' or '}'");
	}
	if (peek(l))
		return lex_fail(l, "junk after the header dictionary");
	if (seen != 7)
		return lex_fail(l, "missing key '%s'", !(seen & 1) ? "descr" :
				!(seen & 2) ? "fortran_order" : "shape");
	return 0;
}

/* ---------------------------------------------------------------- reading */

static void swap_bytes(unsigned char *p, size_t es, uint64_t n)
{
	unsigned char t;
	uint64_t i;
	size_t a, b;

	for (i = 0; i < n; i++, p += es)
		for (a = 0, b = es - 1; a < b; a++, b--)
			t = p[a], p[a] = p[b], p[b] = t;
}

/* Fortran-order elements reordered into a new C-order buffer. */
static void *fortran_to_c(const unsigned char *src, const qf_rec *rec,
			  size_t es, uint64_t n)
{
	uint64_t stride[QF_MAX_DIMS], idx[QF_MAX_DIMS] = { 0 }, off = 0, i;
	unsigned char *dst = malloc(n * es);
	int k;

	if (!dst)
		return NULL;
	for (k = 0; k < rec->ndim; k++)
		stride[k] = k ? stride[k - 1] * rec->dims[k - 1] : 1;
	for (i = 0; i < n; i++) {
		memcpy(dst + i * es, src + off * es, es);
		for (k = rec->ndim - 1; k >= 0; k--) {
			off += stride[k];
			if (++idx[k] < rec->dims[k])
				break;
			off -= stride[k] * rec->dims[k];
			idx[k] = 0;
		}
	}
	return dst;
}

/* Read exactly n bytes into a buffer grown as data arrives, so that a
 * lying header cannot make us allocate much more than the input holds. */
static int read_payload(struct src *s, const struct where *w, uint64_t n,
			unsigned char **out, qf_err *err)
{
	size_t cap, got = 0;
	unsigned char *buf = NULL, *nb;
	long long r;

	*out = NULL;
	if (!n)
		return 0;
	if (n > SIZE_MAX)
		return fail(w, err, "array too large for this machine");
	cap = n < READ_STEP ? (size_t)n : READ_STEP;
	while (got < n) {
		if (!buf || got == cap) {
			if (buf)
				cap = n - cap < cap ? (size_t)n : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return fail(w, err, "out of memory");
			}
			buf = nb;
		}
		r = s->read(s, buf + got, cap - got);
		if (r < 0) {
			free(buf);
			return fail(w, err, "read error: %s", s->why);
		}
		if (r == 0) {
			free(buf);
			return fail(w, err, "truncated data (%zu of %llu bytes)",
				    got, (unsigned long long)n);
		}
		got += (size_t)r;
	}
	*out = buf;
	return 0;
}

static int read_exact(struct src *s, const struct where *w, void *buf,
		      size_t n, const char *what, qf_err *err)
{
	long long r = s->read(s, buf, n);

	if (r < 0)
		return fail(w, err, "read error: %s", s->why);
	if ((size_t)r < n)
		return fail(w, err, r == 0 && !strcmp(what, "magic") ?
			    "empty input, not a .npy file" :
			    "truncated .npy file (in the %s)", what);
	return 0;
}

/* The preamble and header dictionary, into h. */
static int read_header(struct src *s, const struct where *w, struct hdr *h,
		       qf_err *err)
{
	unsigned char pre[12];
	struct lex l;
	size_t hlen;
	char *text;
	int rc;

	if (read_exact(s, w, pre, 8, "magic", err) < 0)
		return -1;
	if (memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
		return fail(w, err, "not a .npy file (bad magic)");
	if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0)
		return fail(w, err, "unsupported .npy version %u.%u", pre[6], pre[7]);
	if (pre[6] == 1) {
		if (read_exact(s, w, pre + 8, 2, "header length", err) < 0)
			return -1;
		hlen = pre[8] | (size_t)pre[9] << 8;
	} else {
		if (read_exact(s, w, pre + 8, 4, "header length", err) < 0)
			return -1;
		hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
		       (size_t)pre[11] << 24;
	}
	if (hlen > NPY_MAX_HEADER)
		return fail(w, err, "header too long (%zu bytes)", hlen);
	text = malloc(hlen ? hlen : 1);
	if (!text)
		return fail(w, err, "out of memory");
	if (read_exact(s, w, text, hlen, "header", err) < 0) {
		free(text);
		return -1;
	}
	memset(h, 0, sizeof *h);
	l.p = text;
	l.end = text + hlen;
	l.why[0] = 0;
	rc = parse_header(&l, h);
	free(text);
	if (rc < 0)
		return fail(w, err, "bad .npy header: %s", l.why);
	return 0;
}

static int read_npy(struct src *s, const struct where *w, qf_rec *rec,
		    void **data, qf_err *err)
{
	unsigned char *buf, *c;
	struct hdr h;
	qf_rec t;
	uint64_t n, i;
	size_t es;
	qf_err e2;

	if (read_header(s, w, &h, err) < 0)
		return -1;
	qf_rec_init(&t);
	if (qf_rec_set_shape(&t, h.dtype, h.ndim, h.dims, &e2) < 0)
		return fail(w, err, "%s", e2.msg);
	n = qf_rec_numel(&t);
	es = qf_dtype_size(h.dtype);
	if (read_payload(s, w, n * es, &buf, err) < 0)
		return -1;
	if (h.swap)
		swap_bytes(buf, es, n);
	if (h.dtype == QF_BOOL)
		for (i = 0; i < n; i++)
			buf[i] = buf[i] != 0;
	if (h.fortran && h.ndim > 1 && n) {
		c = fortran_to_c(buf, &t, es, n);
		free(buf);
		if (!c)
			return fail(w, err, "out of memory");
		buf = c;
	}
	qf_rec_set_shape(rec, h.dtype, h.ndim, h.dims, NULL);
	*data = buf;
	return 0;
}

int qf_npy_read(FILE *f, const char *name, qf_rec *rec, void **data,
		qf_err *err)
{
	struct where w = { name ? name : "<npy>", NULL };
	struct src s = { file_read, f, NULL, "" };

	return read_npy(&s, &w, rec, data, err);
}

/* ---------------------------------------------------------------- writing */

static const char *npy_descr(int dtype)
{
	switch (dtype) {
	case QF_F16: return "<f2";
	case QF_F32: return "<f4";
	case QF_F64: return "<f8";
	case QF_I8: return "|i1";
	case QF_U8: return "|u1";
	case QF_I16: return "<i2";
	case QF_U16: return "<u2";
	case QF_I32: return "<i4";
	case QF_U32: return "<u4";
	case QF_I64: return "<i8";
	case QF_U64: return "<u8";
	case QF_BOOL: return "|b1";
	}
	return NULL;
}

/* The header dictionary as numpy writes it, without padding; returns
 * its length. */
static size_t header_dict(const qf_rec *rec, char *buf, size_t len)
{
	size_t o;
	int k, w;

	o = (size_t)snprintf(buf, len, "{'descr': '%s', 'fortran_order': False, 'shape': (",
			     npy_descr(rec->dtype));
	for (k = 0; k < rec->ndim; k++)
		o += (size_t)snprintf(buf + o, len - o, "%s%llu", k ? ", " : "",
				      (unsigned long long)rec->dims[k]);
	o += (size_t)snprintf(buf + o, len - o, "%s), }", rec->ndim == 1 ? "," : "");
	if (rec->ndim) {
		w = snprintf(NULL, 0, "%llu", (unsigned long long)rec->dims[0]);
		for (; w < NPY_GROWTH_DIGITS; w++)
			buf[o++] = ' ';
		buf[o] = 0;
	}
	return o;
}

/* Version and total header size (preamble, dict, padding, newline). */
static size_t header_size(size_t dict, int *version)
{
	size_t pre = NPY_MAGIC_LEN + 2 + 2, hlen = dict + 1;
	size_t pad = NPY_ALIGN - (pre + hlen) % NPY_ALIGN;

	*version = 1;
	if (hlen + pad > 65535) {
		pre = NPY_MAGIC_LEN + 2 + 4;
		pad = NPY_ALIGN - (pre + hlen) % NPY_ALIGN;
		*version = 2;
	}
	return pre + hlen + pad;
}

#define DICT_MAX 512

static int writable(const qf_rec *rec)
{
	return npy_descr(rec->dtype) && rec->ndim >= 0 &&
	       rec->ndim <= QF_MAX_DIMS;
}

uint64_t qf_npy_size(const qf_rec *rec)
{
	char dict[DICT_MAX];
	int version;

	if (!writable(rec))
		return 0;
	return header_size(header_dict(rec, dict, sizeof dict), &version) +
	       qf_rec_nbytes(rec);
}

/* Everything that can be wrong before a byte is written. */
static int check_writable(const struct where *w, const qf_rec *rec,
			  const void *data, qf_err *err)
{
	qf_rec t;
	qf_err e2;

	if (rec->dtype == QF_BF16)
		return fail(w, err, "bf16 has no numpy dtype; convert it first");
	if (!npy_descr(rec->dtype))
		return fail(w, err, "unknown dtype code %d", rec->dtype);
	qf_rec_init(&t);
	if (qf_rec_set_shape(&t, rec->dtype, rec->ndim, rec->dims, &e2) < 0)
		return fail(w, err, "%s", e2.msg);
	if (qf_rec_nbytes(rec) > SIZE_MAX)
		return fail(w, err, "array too large for this machine");
	if (qf_rec_nbytes(rec) && !data)
		return fail(w, err, "no data");
	return 0;
}

static int write_npy(struct sink *s, const struct where *w, const qf_rec *rec,
		     const void *data, qf_err *err)
{
	char dict[DICT_MAX], *hdr;
	size_t dlen, total, pre, i;
	uint64_t nbytes;
	int version, rc;

	if (check_writable(w, rec, data, err) < 0)
		return -1;
	nbytes = qf_rec_nbytes(rec);
	dlen = header_dict(rec, dict, sizeof dict);
	total = header_size(dlen, &version);
	hdr = malloc(total);
	if (!hdr)
		return fail(w, err, "out of memory");
	pre = version == 1 ? 10 : 12;
	memcpy(hdr, NPY_MAGIC, NPY_MAGIC_LEN);
	hdr[6] = (char)version;
	hdr[7] = 0;
	for (i = 8; i < pre; i++)
		hdr[i] = (char)(((total - pre) >> (8 * (i - 8))) & 0xff);
	memcpy(hdr + pre, dict, dlen);
	memset(hdr + pre + dlen, ' ', total - pre - dlen - 1);
	hdr[total - 1] = '\n';
	rc = s->write(s, hdr, total);
	free(hdr);
	if (rc == 0)
		rc = s->write(s, data, (size_t)nbytes);
	if (rc < 0) {
		fail(w, err, "write error: %s", s->why);
		return qf_err_code(err, s->code);
	}
	return 0;
}

int qf_npy_write(FILE *f, const char *name, const qf_rec *rec,
		 const void *data, qf_err *err)
{
	struct where w = { name ? name : "<npy>", NULL };
	struct sink s = { file_write, f, NULL, "", 0 };

	return write_npy(&s, &w, rec, data, err);
}

/* ---------------------------------------------------------------- .npz reading */

struct qf_npz_reader {
	struct archive *a;
	char *file;
	char *rec;	/* the current record's name, for messages */
	locale_t utf8;	/* for reading member names; may be 0 */
	int dead;
};

/* Does the file begin with a zip end record, as an archive without
 * members does? */
static int empty_zip(const char *path)
{
	unsigned char b[4];
	FILE *f = fopen(path, "rb");
	int r;

	if (!f)
		return 0;
	r = fread(b, 1, 4, f) == 4 && memcmp(b, "PK\005\006", 4) == 0;
	fclose(f);
	return r;
}

/*
 * Regular files get the seekable reader, which trusts the central
 * directory; pipes and standard input the streaming one, which reads
 * the local headers in order.  libarchive's seekable reader does not
 * recognise an archive without members, so that goes to the streaming
 * one too.
 */
static int npz_open_archive(qf_npz_reader *z, const char *path)
{
	struct stat st;

	if (!path) {
		archive_read_support_format_zip_streamable(z->a);
		return archive_read_open_fd(z->a, 0, 65536);
	}
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && !empty_zip(path))
		archive_read_support_format_zip_seekable(z->a);
	else
		archive_read_support_format_zip_streamable(z->a);
	return archive_read_open_filename(z->a, path, 65536);
}

/*
 * libarchive converts UTF-8 member names to the current locale's
 * charset and loses those it cannot represent, every non-ASCII name in
 * the "C" locale.  Reading headers under a UTF-8 LC_CTYPE (for this
 * thread only) keeps them.
 */
static locale_t utf8_locale(void)
{
	static const char *names[] = { "C.UTF-8", "C.utf8", "en_US.UTF-8" };
	locale_t l = (locale_t)0;
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0] && !l; i++)
		l = newlocale(LC_CTYPE_MASK, names[i], (locale_t)0);
	return l;
}

/* Open under the UTF-8 locale as well: libarchive may settle on the
 * charset it converts names to as soon as the archive is opened. */
static int npz_open_utf8(qf_npz_reader *z, const char *path)
{
	locale_t old = (locale_t)0;
	int r;

	if (z->utf8)
		old = uselocale(z->utf8);
	r = npz_open_archive(z, path);
	if (z->utf8)
		uselocale(old);
	return r;
}

qf_npz_reader *qf_npz_open(const char *path, qf_err *err)
{
	qf_npz_reader *z = calloc(1, sizeof *z);
	int is_stdin = !path || strcmp(path, "-") == 0;

	if (!z || !(z->file = strdup(is_stdin ? "<stdin>" : path)) ||
	    !(z->a = archive_read_new())) {
		qf_npz_close(z);
		qf_err_set(err, "%s: out of memory", is_stdin ? "<stdin>" : path);
		return NULL;
	}
	z->utf8 = utf8_locale();
	if (npz_open_utf8(z, is_stdin ? NULL : path) != ARCHIVE_OK) {
		qf_err_set(err, "%s: %s", z->file,
			   archive_error_string(z->a) ?
			   archive_error_string(z->a) : "cannot open");
		qf_npz_close(z);
		return NULL;
	}
	return z;
}

static int npz_fail(qf_npz_reader *z, qf_err *err, const char *what)
{
	const char *why = archive_error_string(z->a);

	z->dead = 1;
	return qf_err_set(err, "%s: %s: %s", z->file, what,
			  why ? why : "unknown error");
}

/* The next member's header and its UTF-8 name (NULL if unreadable). */
static int npz_header(qf_npz_reader *z, const char **path, int *dir)
{
	locale_t old = (locale_t)0;
	struct archive_entry *e;
	int r;

	if (z->utf8)
		old = uselocale(z->utf8);
	r = archive_read_next_header(z->a, &e);
	if (r >= ARCHIVE_WARN) {
		*path = archive_entry_pathname_utf8(e);
		*dir = archive_entry_filetype(e) == AE_IFDIR;
	}
	if (z->utf8)
		uselocale(old);
	return r;
}

/* The next member that is not a directory; 0 at the end. */
static int npz_next_member(qf_npz_reader *z, const char **path, qf_err *err)
{
	size_t n;
	int r, dir;

	for (;;) {
		r = npz_header(z, path, &dir);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return npz_fail(z, err, "bad zip archive");
		if (!*path) {
			z->dead = 1;
			return qf_err_set(err, "%s: zip member with a name that is not UTF-8",
					  z->file);
		}
		n = strlen(*path);
		if (!dir && !(n && (*path)[n - 1] == '/'))
			return 1;
	}
}

/* Read to the end of the member, past any bytes after the array, so
 * that libarchive checks its size and CRC. */
static int npz_member_end(struct src *s, const struct where *w, qf_err *err)
{
	char buf[4096];
	long long r;

	while ((r = s->read(s, buf, sizeof buf)) > 0)
		;
	if (r < 0)
		return fail(w, err, "zip: %s", s->why);
	return 0;
}

int qf_npz_next(qf_npz_reader *z, qf_rec *rec, void **data, qf_err *err)
{
	struct src s = { zip_read, NULL, z->a, "" };
	struct where w = { z->file, NULL };
	const char *path = NULL;
	size_t n;
	qf_err e2;
	int r;

	*data = NULL;
	if (z->dead)
		return qf_err_set(err, "%s: reading after an error", z->file);
	r = npz_next_member(z, &path, err);
	if (r <= 0)
		return r;
	free(z->rec);
	z->rec = strdup(path);
	if (!z->rec) {
		z->dead = 1;
		return qf_err_set(err, "%s: out of memory", z->file);
	}
	n = strlen(z->rec);
	if (n >= 4 && strcmp(z->rec + n - 4, ".npy") == 0)
		z->rec[n - 4] = 0;
	w.rec = z->rec;
	qf_rec_free(rec);
	if (qf_rec_set_name(rec, z->rec, &e2) < 0)
		r = fail(&w, err, "%s", e2.msg);
	else
		r = read_npy(&s, &w, rec, data, err);
	if (r == 0)
		r = npz_member_end(&s, &w, err);
	if (r < 0) {
		free(*data);
		*data = NULL;
		z->dead = 1;
		return -1;
	}
	return 1;
}

void qf_npz_close(qf_npz_reader *z)
{
	if (!z)
		return;
	if (z->a)
		archive_read_free(z->a);
	if (z->utf8)
		freelocale(z->utf8);
	free(z->file);
	free(z->rec);
	free(z);
}

/* ---------------------------------------------------------------- .npz writing */

/* Member names written so far: an open-addressing hash set. */
struct nameset {
	char **slot;
	size_t cap, n;
};

static size_t name_hash(const char *s)
{
	return (size_t)qf_fnv1a(QF_FNV1A_INIT, s, strlen(s));
}

static char **nameset_find(struct nameset *ns, const char *s)
{
	size_t i = name_hash(s) & (ns->cap - 1);

	while (ns->slot[i] && strcmp(ns->slot[i], s) != 0)
		i = (i + 1) & (ns->cap - 1);
	return &ns->slot[i];
}

static int nameset_grow(struct nameset *ns)
{
	struct nameset b = { NULL, ns->cap ? ns->cap * 2 : 64, ns->n };
	size_t i;

	b.slot = calloc(b.cap, sizeof *b.slot);
	if (!b.slot)
		return -1;
	for (i = 0; i < ns->cap; i++)
		if (ns->slot[i])
			*nameset_find(&b, ns->slot[i]) = ns->slot[i];
	free(ns->slot);
	*ns = b;
	return 0;
}

/* 1: added, 0: already present, -1: out of memory. */
static int nameset_add(struct nameset *ns, const char *s)
{
	char **p;

	if ((ns->n + 1) * 2 > ns->cap && nameset_grow(ns) < 0)
		return -1;
	p = nameset_find(ns, s);
	if (*p)
		return 0;
	if (!(*p = strdup(s)))
		return -1;
	ns->n++;
	return 1;
}

static void nameset_free(struct nameset *ns)
{
	size_t i;

	for (i = 0; i < ns->cap; i++)
		free(ns->slot[i]);
	free(ns->slot);
}

struct qf_npz_writer {
	struct archive *a;
	FILE *f;
	char *file;
	struct nameset names;
	int dead;
};

/* A fixed member time (1980-01-02) keeps the output reproducible. */
#define NPZ_MTIME 315619200

static void npz_writer_free(qf_npz_writer *z)
{
	if (!z)
		return;
	if (z->a)
		archive_write_free(z->a);
	nameset_free(&z->names);
	free(z->file);
	free(z);
}

qf_npz_writer *qf_npz_create(FILE *f, const char *name, qf_err *err)
{
	qf_npz_writer *z = calloc(1, sizeof *z);
	const char *file = name ? name : "<npz>";

	if (!z || !(z->file = strdup(file)) || !(z->a = archive_write_new())) {
		npz_writer_free(z);
		qf_err_set(err, "%s: out of memory", file);
		return NULL;
	}
	z->f = f;
	if (archive_write_set_format_zip(z->a) != ARCHIVE_OK ||
	    archive_write_zip_set_compression_store(z->a) != ARCHIVE_OK ||
	    archive_write_set_options(z->a, "zip:hdrcharset=UTF-8") != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(z->a, 0) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(z->a, 1) != ARCHIVE_OK ||
	    archive_write_open_FILE(z->a, f) != ARCHIVE_OK) {
		qf_err_set(err, "%s: %s", file, archive_error_string(z->a) ?
			   archive_error_string(z->a) : "cannot start zip archive");
		npz_writer_free(z);
		return NULL;
	}
	return z;
}

static int npz_entry(qf_npz_writer *z, const char *path, const qf_rec *rec,
		     const struct where *w, qf_err *err)
{
	struct archive_entry *e = archive_entry_new();
	char why[256];
	int r;

	if (!e)
		return fail(w, err, "out of memory");
	archive_entry_set_pathname_utf8(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)qf_npy_size(rec));
	archive_entry_set_mtime(e, NPZ_MTIME, 0);
	r = archive_write_header(z->a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK) {
		int code = zip_write_why(z->a, why, sizeof why);

		fail(w, err, "zip: %s", why);
		return qf_err_code(err, code);
	}
	return 0;
}

int qf_npz_add(qf_npz_writer *z, const char *member, const qf_rec *rec,
	       const void *data, qf_err *err)
{
	struct sink s = { zip_write, z->f, z->a, "", 0 };
	struct where w = { z->file, member };
	qf_rec t;
	qf_err e2;
	char *path;
	size_t n;
	int r;

	if (z->dead)
		return qf_err_set(err, "%s: writing after an error", z->file);
	qf_rec_init(&t);
	r = qf_rec_set_name(&t, member, &e2);
	qf_rec_free(&t);
	if (r < 0)
		return fail(&w, err, "%s", e2.msg);
	if (check_writable(&w, rec, data, err) < 0)
		return -1;
	n = strlen(member);
	path = malloc(n + 5);
	if (!path)
		return fail(&w, err, "out of memory");
	memcpy(path, member, n);
	memcpy(path + n, ".npy", 5);
	r = nameset_add(&z->names, path);
	if (r <= 0) {
		free(path);
		return fail(&w, err, r < 0 ? "out of memory" :
			    "duplicate record name in .npz");
	}
	r = npz_entry(z, path, rec, &w, err);
	free(path);
	if (r == 0)
		r = write_npy(&s, &w, rec, data, err);
	if (r == 0 && archive_write_finish_entry(z->a) != ARCHIVE_OK) {
		int code = zip_write_why(z->a, s.why, sizeof s.why);

		fail(&w, err, "zip: %s", s.why);
		r = qf_err_code(err, code);
	}
	if (r == 0 && zip_file_failed(&s) < 0) {
		fail(&w, err, "write error: %s", s.why);
		r = qf_err_code(err, s.code);
	}
	if (r < 0)
		z->dead = 1;
	return r;
}

int qf_npz_finish(qf_npz_writer *z, qf_err *err)
{
	char why[256];
	int rc = 0;

	if (z->dead) {
		rc = qf_err_set(err, "%s: archive incomplete after an earlier error",
				z->file);
	} else if (archive_write_close(z->a) != ARCHIVE_OK) {
		int code = zip_write_why(z->a, why, sizeof why);

		qf_err_set(err, "%s: write error: %s", z->file, why);
		rc = qf_err_code(err, code);
	} else if (qf_out_flush_check(z->f) < 0) {
		int code = errno;

		if (code) {
			qf_err_set(err, "%s: write error: %s", z->file,
				   strerror(code));
			rc = qf_err_code(err, code);
		} else
			rc = qf_err_set(err, "%s: write error", z->file);
	}
	npz_writer_free(z);
	return rc;
}
