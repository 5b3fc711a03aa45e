/* npy.c - numpy .npy files and .npz (zip) archives of them */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <archive.h>
#include <archive_entry.h>

#include "ckpt/ckpt.h"
#include "core/internal.h"
#include "stream/stream.h"

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

/*
 * An array being read: its header parsed, its data handed out in pieces
 * as they are read.  C-order data needs nothing more than a byte swap
 * (big-endian) or 0/1 (bool) on each piece; Fortran order is reordered
 * whole, so such an array is held (grown as it arrives).
 */
struct npy_in {
	struct src *s;
	struct where w;
	struct hdr h;
	qf_rec shape;		/* dtype and dims */
	size_t es;
	uint64_t left;		/* bytes not yet handed out */
	unsigned char *held;	/* Fortran order: the whole array, C order */
	uint64_t pos;
};

static void npy_fix(const struct npy_in *in, unsigned char *p, size_t n);
static int npy_hold(struct npy_in *in, qf_err *err);

/* Parse the header; rec gets the dtype and shape. */
static int npy_in_start(struct npy_in *in, struct src *s,
			const struct where *w, qf_rec *rec, qf_err *err)
{
	uint64_t n;
	qf_err e2;

	memset(in, 0, sizeof *in);
	in->s = s;
	in->w = *w;
	if (read_header(s, w, &in->h, err) < 0)
		return -1;
	qf_rec_init(&in->shape);
	if (qf_rec_set_shape(&in->shape, in->h.dtype, in->h.ndim, in->h.dims,
			     &e2) < 0)
		return fail(w, err, "%s", e2.msg);
	n = qf_rec_numel(&in->shape);
	in->es = qf_dtype_size(in->h.dtype);
	in->left = n * in->es;
	if (in->h.fortran && in->h.ndim >= 2 && n && npy_hold(in, err) < 0)
		return -1;
	qf_rec_set_shape(rec, in->h.dtype, in->h.ndim, in->h.dims, NULL);
	return 0;
}

/* A Fortran-order array, read whole and reordered. */
static int npy_hold(struct npy_in *in, qf_err *err)
{
	const struct where *w = &in->w;
	struct src *s = in->s;
	uint64_t n = qf_rec_numel(&in->shape);
	unsigned char *buf, *c;

	if (in->left > qf_reader_max_whole())
		return fail(w, err, "Fortran-order array of %llu bytes is larger "
			    "than the %llu bytes an array held whole may take",
			    (unsigned long long)in->left,
			    (unsigned long long)qf_reader_max_whole());
	if (read_payload(s, w, in->left, &buf, err) < 0)
		return -1;
	npy_fix(in, buf, (size_t)in->left);
	c = fortran_to_c(buf, &in->shape, in->es, n);
	free(buf);
	if (!c)
		return fail(w, err, "out of memory");
	in->held = c;
	return 0;
}

/* Swap and normalise a piece of n bytes as it comes from the file. */
static void npy_fix(const struct npy_in *in, unsigned char *p, size_t n)
{
	if (in->h.swap)
		swap_bytes(p, in->es, n / in->es);
	if (in->h.dtype == QF_BOOL)
		for (size_t i = 0; i < n; i++)
			p[i] = p[i] != 0;
}

/* Up to n bytes of data; fewer only at the end of the array. */
static int64_t npy_in_read(struct npy_in *in, void *buf, size_t n,
			   qf_err *err)
{
	long long r;

	if (n > in->left)
		n = (size_t)in->left;
	if (in->held) {
		memcpy(buf, in->held + in->pos, n);
	} else if (n) {
		/* a byte swap needs whole elements: callers read them */
		if (n % in->es)
			return fail(&in->w, err, "read of part of an element");
		r = in->s->read(in->s, buf, n);
		if (r < 0)
			return fail(&in->w, err, "read error: %s", in->s->why);
		if ((size_t)r < n)
			return fail(&in->w, err, "truncated data (%llu bytes "
				    "missing)", (unsigned long long)(in->left - (uint64_t)r));
		npy_fix(in, buf, n);
	}
	in->pos += n;
	in->left -= n;
	return (int64_t)n;
}

static void npy_in_free(struct npy_in *in)
{
	free(in->held);
	in->held = NULL;
}

/* The rest of the array into a buffer grown as it arrives. */
static int npy_in_all(struct npy_in *in, void **data, qf_err *err)
{
	unsigned char *buf;

	*data = NULL;
	if (in->held) {
		*data = in->held;
		in->held = NULL;
		in->left = 0;
		return 0;
	}
	if (read_payload(in->s, &in->w, in->left, &buf, err) < 0)
		return -1;
	npy_fix(in, buf, (size_t)in->left);
	in->left = 0;
	*data = buf;
	return 0;
}

static int read_npy(struct src *s, const struct where *w, qf_rec *rec,
		    void **data, qf_err *err)
{
	struct npy_in in;
	qf_rec t;
	int rc;

	*data = NULL;
	qf_rec_init(&t);
	rc = npy_in_start(&in, s, w, &t, err);
	if (rc == 0)
		rc = npy_in_all(&in, data, err);
	if (rc == 0)
		qf_rec_set_shape(rec, t.dtype, t.ndim, t.dims, NULL);
	npy_in_free(&in);
	return rc;
}

int qf_npy_read(FILE *f, const char *name, qf_rec *rec, void **data,
		qf_err *err)
{
	struct where w = { name ? name : "<npy>", NULL };
	struct src s = { file_read, f, NULL, "" };

	return read_npy(&s, &w, rec, data, err);
}

struct qf_npy_reader {
	struct src s;
	struct npy_in in;
	char *name;
};

qf_npy_reader *qf_npy_open(FILE *f, const char *name, qf_rec *rec,
			   qf_err *err)
{
	qf_npy_reader *r = calloc(1, sizeof *r);
	struct where w = { name ? name : "<npy>", NULL };

	if (!r || !(r->name = strdup(w.file))) {
		free(r);
		qf_err_set(err, "%s: out of memory", w.file);
		return NULL;
	}
	r->s.read = file_read;
	r->s.f = f;
	w.file = r->name;
	if (npy_in_start(&r->in, &r->s, &w, rec, err) < 0) {
		qf_npy_close(r);
		return NULL;
	}
	return r;
}

int64_t qf_npy_read_data(qf_npy_reader *r, void *buf, size_t n, qf_err *err)
{
	return npy_in_read(&r->in, buf, n, err);
}

void qf_npy_close(qf_npy_reader *r)
{
	if (!r)
		return;
	npy_in_free(&r->in);
	free(r->name);
	free(r);
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
			  qf_err *err)
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
	return 0;
}

#define NPY_HEADER_MAX (DICT_MAX + 2 * NPY_ALIGN + 16)

/* rec's .npy header, magic to newline, into hdr; returns its length. */
static size_t npy_header(const qf_rec *rec, char *hdr)
{
	char dict[DICT_MAX];
	size_t dlen, total, pre, i;
	int version;

	dlen = header_dict(rec, dict, sizeof dict);
	total = header_size(dlen, &version);
	pre = version == 1 ? 10 : 12;
	memcpy(hdr, NPY_MAGIC, NPY_MAGIC_LEN);
	hdr[6] = (char)version;
	hdr[7] = 0;
	for (i = 8; i < pre; i++)
		hdr[i] = (char)(((total - pre) >> (8 * (i - 8))) & 0xff);
	memcpy(hdr + pre, dict, dlen);
	memset(hdr + pre + dlen, ' ', total - pre - dlen - 1);
	hdr[total - 1] = '\n';
	return total;
}

/* n bytes to f; the system's reason (and its errno) on failure. */
static int put(FILE *f, const struct where *w, const void *p, size_t n,
	       qf_err *err)
{
	if (n && fwrite(p, 1, n, f) != n) {
		int e = errno;

		fail(w, err, "write error: %s", strerror(e));
		return qf_err_code(err, e);
	}
	return 0;
}

int qf_npy_write_header(FILE *f, const char *name, const qf_rec *rec,
			qf_err *err)
{
	struct where w = { name ? name : "<npy>", NULL };
	char hdr[NPY_HEADER_MAX];

	if (check_writable(&w, rec, err) < 0)
		return -1;
	return put(f, &w, hdr, npy_header(rec, hdr), err);
}

int qf_npy_write(FILE *f, const char *name, const qf_rec *rec,
		 const void *data, qf_err *err)
{
	struct where w = { name ? name : "<npy>", NULL };

	if (check_writable(&w, rec, err) < 0)
		return -1;
	if (qf_rec_nbytes(rec) && !data)
		return fail(&w, err, "no data");
	if (qf_npy_write_header(f, name, rec, err) < 0)
		return -1;
	return put(f, &w, data, (size_t)qf_rec_nbytes(rec), err);
}

/* ---------------------------------------------------------------- .npz reading */

struct qf_npz_reader {
	struct archive *a;
	struct src s;
	char *file;
	char *rec;	/* the current record's name, for messages */
	struct npy_in in;	/* the current member's array */
	int open;	/* in holds a member whose end is not checked yet */
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

static int npz_data_end(qf_npz_reader *z, qf_err *err);

/* The member's name without ".npy", for the record and messages. */
static int npz_name(qf_npz_reader *z, const char *path, qf_err *err)
{
	size_t n;

	free(z->rec);
	z->rec = strdup(path);
	if (!z->rec) {
		z->dead = 1;
		return qf_err_set(err, "%s: out of memory", z->file);
	}
	n = strlen(z->rec);
	if (n >= 4 && strcmp(z->rec + n - 4, ".npy") == 0)
		z->rec[n - 4] = 0;
	return 0;
}

int qf_npz_next_header(qf_npz_reader *z, qf_rec *rec, qf_err *err)
{
	struct where w = { z->file, NULL };
	const char *path = NULL;
	qf_err e2;
	int r;

	if (z->dead)
		return qf_err_set(err, "%s: reading after an error", z->file);
	npy_in_free(&z->in);
	z->open = 0;
	r = npz_next_member(z, &path, err);
	if (r <= 0)
		return r;
	if (npz_name(z, path, err) < 0)
		return -1;
	w.rec = z->rec;
	qf_rec_free(rec);
	z->s.read = zip_read;
	z->s.a = z->a;
	if (qf_rec_set_name(rec, z->rec, &e2) < 0)
		r = fail(&w, err, "%s", e2.msg);
	else
		r = npy_in_start(&z->in, &z->s, &w, rec, err);
	if (r < 0) {
		z->dead = 1;
		return -1;
	}
	z->open = 1;
	if (z->in.left == 0)
		return npz_data_end(z, err) < 0 ? -1 : 1;
	return 1;
}

/* After the array's last byte: read to the end of the member. */
static int npz_data_end(qf_npz_reader *z, qf_err *err)
{
	z->open = 0;
	if (npz_member_end(&z->s, &z->in.w, err) < 0) {
		z->dead = 1;
		return -1;
	}
	return 0;
}

int64_t qf_npz_read(qf_npz_reader *z, void *buf, size_t n, qf_err *err)
{
	int64_t r;

	if (z->dead)
		return qf_err_set(err, "%s: reading after an error", z->file);
	if (!z->open)
		return 0;
	r = npy_in_read(&z->in, buf, n, err);
	if (r < 0) {
		z->dead = 1;
		return -1;
	}
	if (z->in.left == 0 && npz_data_end(z, err) < 0)
		return -1;
	return r;
}

int qf_npz_next(qf_npz_reader *z, qf_rec *rec, void **data, qf_err *err)
{
	int r;

	*data = NULL;
	r = qf_npz_next_header(z, rec, err);
	if (r <= 0 || !z->open)
		return r;
	if (npy_in_all(&z->in, data, err) < 0 || npz_data_end(z, err) < 0) {
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
	npy_in_free(&z->in);
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

/* CRC-32 (ISO-HDLC, zip's), eight bytes a step (slicing-by-8). */
static uint32_t crc_table[8][256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t crc32_table(uint32_t crc, const unsigned char *p, size_t n)
{
	for (; n >= 8; n -= 8, p += 8) {
		uint32_t a = crc ^ qf_get_u32(p), b = qf_get_u32(p + 4);

		crc = crc_table[7][a & 0xff] ^ crc_table[6][(a >> 8) & 0xff] ^
		      crc_table[5][(a >> 16) & 0xff] ^ crc_table[4][a >> 24] ^
		      crc_table[3][b & 0xff] ^ crc_table[2][(b >> 8) & 0xff] ^
		      crc_table[1][(b >> 16) & 0xff] ^ crc_table[0][b >> 24];
	}
	while (n--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
/*
 * Carry-less multiplication folds 64 bytes a step (Intel, "Fast CRC
 * computation for generic polynomials using PCLMULQDQ", 2009; the
 * constants and steps of Linux's crc32-pclmul_asm.S): about ten times
 * the tables' speed, which would otherwise take a third of the time of
 * writing an .npz.  n >= 64 and a multiple of 16; crc is the register,
 * not inverted.
 */
__attribute__((target("pclmul,sse4.1")))
static uint32_t crc32_clmul(uint32_t crc, const unsigned char *p, size_t n)
{
	const __m128i r2r1 = _mm_set_epi64x(0x1c6e41596, 0x154442bd4);
	const __m128i r4r3 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0);
	const __m128i r5 = _mm_set_epi64x(0, 0x163cd6124);
	const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
	const __m128i poly = _mm_set_epi64x(0x1f7011641, 0x1db710641);
	__m128i x[4], t, k;

	for (int i = 0; i < 4; i++)
		x[i] = _mm_loadu_si128((const __m128i *)(p + 16 * i));
	x[0] = _mm_xor_si128(x[0], _mm_cvtsi32_si128((int)crc));
	p += 64;
	n -= 64;
	for (; n >= 64; n -= 64, p += 64)
		for (int i = 0; i < 4; i++) {
			t = _mm_clmulepi64_si128(x[i], r2r1, 0x11);
			x[i] = _mm_clmulepi64_si128(x[i], r2r1, 0x00);
			x[i] = _mm_xor_si128(_mm_xor_si128(x[i], t),
					     _mm_loadu_si128((const __m128i *)(p + 16 * i)));
		}
	for (int i = 1; i < 4; i++) {
		t = _mm_clmulepi64_si128(x[0], r4r3, 0x11);
		x[0] = _mm_clmulepi64_si128(x[0], r4r3, 0x00);
		x[0] = _mm_xor_si128(_mm_xor_si128(x[0], t), x[i]);
	}
	for (; n >= 16; n -= 16, p += 16) {
		t = _mm_clmulepi64_si128(x[0], r4r3, 0x11);
		x[0] = _mm_clmulepi64_si128(x[0], r4r3, 0x00);
		x[0] = _mm_xor_si128(_mm_xor_si128(x[0], t),
				     _mm_loadu_si128((const __m128i *)p));
	}
	/* 128 bits to 64, with 32 zero bits appended, then to 32 */
	k = _mm_clmulepi64_si128(r4r3, x[0], 0x01);
	x[0] = _mm_xor_si128(_mm_srli_si128(x[0], 8), k);
	t = _mm_srli_si128(x[0], 4);
	x[0] = _mm_clmulepi64_si128(_mm_and_si128(x[0], mask32), r5, 0x00);
	x[0] = _mm_xor_si128(x[0], t);
	/* Barrett reduction, bit-reflected */
	t = x[0];
	x[0] = _mm_clmulepi64_si128(_mm_and_si128(x[0], mask32), poly, 0x10);
	x[0] = _mm_clmulepi64_si128(_mm_and_si128(x[0], mask32), poly, 0x00);
	x[0] = _mm_xor_si128(x[0], t);
	return (uint32_t)_mm_extract_epi32(x[0], 1);
}
#endif

static uint32_t crc32_zip(uint32_t crc, const void *buf, size_t n)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const unsigned char *p = buf;

	pthread_once(&once, crc_init);
	crc = ~crc;
#if defined(__x86_64__)
	if (n >= 64 && __builtin_cpu_supports("pclmul") &&
	    __builtin_cpu_supports("sse4.1")) {
		size_t m = n & ~(size_t)15;

		crc = crc32_clmul(crc, p, m);
		p += m;
		n -= m;
	}
#endif
	return ~crc32_table(crc, p, n);
}

/*
 * The archive is written front to back as numpy.savez writes it: stored
 * members, each a local header, the .npy bytes and (into a pipe) a data
 * descriptor, then the central directory.  Sizes are known before a
 * member starts; its CRC-32 is computed as it goes and, in a regular
 * file, written back into the local header, else into the descriptor.
 * Zip64 fields are used where a size or offset needs them (or always,
 * with QF_NPZ_ZIP64).
 */
#define ZIP_LOCAL 0x04034b50u
#define ZIP_CENTRAL 0x02014b50u
#define ZIP_DESCRIPTOR 0x08074b50u
#define ZIP_END 0x06054b50u
#define ZIP64_END 0x06064b50u
#define ZIP64_LOCATOR 0x07064b50u
#define ZIP_UTF8 0x0800u	/* names are UTF-8 */
#define ZIP_LATER 0x0008u	/* CRC in a data descriptor */
#define ZIP_DATE 0x0022u	/* 1980-01-02: a fixed time keeps output reproducible */
#define ZIP_MADE_BY 0x032du	/* Unix, zip 4.5 */
#define ZIP_MODE (0100644u << 16)	/* a regular file, rw-r--r-- */
#define U32_MAX 0xffffffffu

struct member {
	char *name;		/* NAME.npy */
	char *rec;		/* NAME, for messages */
	uint32_t crc;
	uint16_t flags;
	uint64_t size, offset;
};

struct qf_npz_writer {
	FILE *f;
	char *file;
	unsigned flags;
	int seekable;
	struct nameset names;
	struct member *m;
	size_t n, cap;
	uint64_t off;		/* bytes of the archive written */
	/* the member being written */
	int open;
	uint64_t left;
	uint32_t crc;
	off_t crc_at;		/* where its CRC goes back, in a regular file */
	int dead;
};

static int zfail(qf_npz_writer *z)
{
	z->dead = 1;
	return -1;
}

/* Bytes to the archive. */
static int zput(qf_npz_writer *z, const void *p, size_t n, qf_err *err)
{
	struct where w = { z->file, z->open ? z->m[z->n - 1].rec : NULL };

	if (put(z->f, &w, p, n, err) < 0)
		return zfail(z);
	z->off += n;
	return 0;
}

static unsigned char *le16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	return p + 2;
}

static unsigned char *le32(unsigned char *p, uint32_t v)
{
	qf_put_u32(p, v);
	return p + 4;
}

static unsigned char *le64(unsigned char *p, uint64_t v)
{
	qf_put_u64(p, v);
	return p + 8;
}

static int member_zip64(const qf_npz_writer *z, const struct member *m)
{
	return (z->flags & QF_NPZ_ZIP64) || m->size >= U32_MAX;
}

static void npz_writer_free(qf_npz_writer *z)
{
	if (!z)
		return;
	for (size_t i = 0; i < z->n; i++) {
		free(z->m[i].name);
		free(z->m[i].rec);
	}
	free(z->m);
	nameset_free(&z->names);
	free(z->file);
	free(z);
}

qf_npz_writer *qf_npz_create_flags(FILE *f, const char *name, unsigned flags,
				   qf_err *err)
{
	qf_npz_writer *z = calloc(1, sizeof *z);
	const char *file = name ? name : "<npz>";
	struct stat st;

	if (!z || !(z->file = strdup(file))) {
		free(z);
		qf_err_set(err, "%s: out of memory", file);
		return NULL;
	}
	z->f = f;
	z->flags = flags;
	/* a CRC written back needs a regular file that is not in append
	 * mode (>> would put it at the end) */
	z->seekable = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
		      ftello(f) >= 0 && !(fcntl(fileno(f), F_GETFL) & O_APPEND);
	return z;
}

qf_npz_writer *qf_npz_create(FILE *f, const char *name, qf_err *err)
{
	return qf_npz_create_flags(f, name, 0, err);
}

/* A new entry in the member list, named path. */
static int add_entry(qf_npz_writer *z, char *path, uint64_t size,
		     const struct where *w, qf_err *err)
{
	struct member *m;
	int r = nameset_add(&z->names, path);

	if (r <= 0) {
		free(path);
		return fail(w, err, r < 0 ? "out of memory" :
			    "duplicate record name in .npz");
	}
	if (z->n == z->cap) {
		size_t cap = z->cap ? z->cap * 2 : 64;

		m = realloc(z->m, cap * sizeof *m);
		if (!m) {
			free(path);
			return fail(w, err, "out of memory");
		}
		z->m = m;
		z->cap = cap;
	}
	m = &z->m[z->n++];
	memset(m, 0, sizeof *m);
	m->name = path;
	m->rec = strdup(w->rec);
	if (!m->rec)
		return fail(w, err, "out of memory");
	m->size = size;
	m->offset = z->off;
	m->flags = ZIP_UTF8 | (z->seekable ? 0 : ZIP_LATER);
	return 0;
}

/* The local header of the last member; its CRC is 0 until known. */
static int local_header(qf_npz_writer *z, qf_err *err)
{
	const struct member *m = &z->m[z->n - 1];
	unsigned char h[30 + 20], *p = h;
	size_t nl = strlen(m->name);
	int x = member_zip64(z, m);
	uint32_t size = x ? U32_MAX : (uint32_t)m->size;

	p = le32(p, ZIP_LOCAL);
	p = le16(p, x ? 45 : 20);
	p = le16(p, m->flags);
	p = le16(p, 0);			/* stored */
	p = le16(p, 0);			/* time */
	p = le16(p, ZIP_DATE);
	p = le32(p, 0);			/* CRC-32, later */
	p = le32(p, size);
	p = le32(p, size);
	p = le16(p, (unsigned)nl);
	p = le16(p, x ? 20 : 0);
	if (z->seekable)
		z->crc_at = ftello(z->f) + 14;
	if (zput(z, h, 30, err) < 0 || zput(z, m->name, nl, err) < 0)
		return -1;
	if (!x)
		return 0;
	p = le16(h, 1);
	p = le16(p, 16);
	p = le64(p, m->size);
	le64(p, m->size);
	return zput(z, h, 20, err);
}

int qf_npz_begin(qf_npz_writer *z, const char *member, const qf_rec *rec,
		 qf_err *err)
{
	struct where w = { z->file, member };
	char hdr[NPY_HEADER_MAX];
	size_t n, hl;
	qf_rec t;
	qf_err e2;
	char *path;
	int r;

	if (z->dead)
		return qf_err_set(err, "%s: writing after an error", z->file);
	if (z->open)
		return fail(&w, err, "member begun before the last one ended");
	qf_rec_init(&t);
	r = qf_rec_set_name(&t, member, &e2);
	qf_rec_free(&t);
	if (r < 0)
		return fail(&w, err, "%s", e2.msg);
	if (check_writable(&w, rec, err) < 0)
		return -1;
	n = strlen(member);
	path = malloc(n + 5);
	if (!path)
		return fail(&w, err, "out of memory");
	memcpy(path, member, n);
	memcpy(path + n, ".npy", 5);
	if (add_entry(z, path, qf_npy_size(rec), &w, err) < 0)
		return -1;
	z->open = 1;
	z->left = qf_rec_nbytes(rec);
	hl = npy_header(rec, hdr);
	z->crc = crc32_zip(0, hdr, hl);
	if (local_header(z, err) < 0 || zput(z, hdr, hl, err) < 0)
		return -1;
	return 0;
}

int qf_npz_write(qf_npz_writer *z, const void *data, size_t n, qf_err *err)
{
	struct where w = { z->file, z->open ? z->m[z->n - 1].rec : NULL };

	if (z->dead)
		return qf_err_set(err, "%s: writing after an error", z->file);
	if (!z->open || n > z->left) {
		fail(&w, err, "more data than the array holds");
		return zfail(z);
	}
	z->crc = crc32_zip(z->crc, data, n);
	z->left -= n;
	return zput(z, data, n, err);
}

/* The CRC back into the local header of a regular file. */
static int patch_crc(qf_npz_writer *z, qf_err *err)
{
	struct where w = { z->file, z->m[z->n - 1].rec };
	unsigned char b[4];
	off_t end = ftello(z->f);

	qf_put_u32(b, z->crc);
	if (end < 0 || fseeko(z->f, z->crc_at, SEEK_SET) != 0 ||
	    fwrite(b, 1, 4, z->f) != 4 || fseeko(z->f, end, SEEK_SET) != 0) {
		int e = errno;

		fail(&w, err, "write error: %s", strerror(e));
		qf_err_code(err, e);
		return zfail(z);
	}
	return 0;
}

int qf_npz_end(qf_npz_writer *z, qf_err *err)
{
	struct member *m = &z->m[z->n - 1];
	struct where w = { z->file, z->open ? m->rec : NULL };
	unsigned char d[24], *p = d;

	if (z->dead)
		return qf_err_set(err, "%s: writing after an error", z->file);
	if (!z->open || z->left) {
		fail(&w, err, "array ended %s", z->open ? "early" : "twice");
		return zfail(z);
	}
	m->crc = z->crc;
	if (z->seekable) {
		if (patch_crc(z, err) < 0)
			return -1;
	} else {
		p = le32(p, ZIP_DESCRIPTOR);
		p = le32(p, m->crc);
		if (member_zip64(z, m)) {
			p = le64(p, m->size);
			p = le64(p, m->size);
		} else {
			p = le32(p, (uint32_t)m->size);
			p = le32(p, (uint32_t)m->size);
		}
		if (zput(z, d, (size_t)(p - d), err) < 0)
			return -1;
	}
	z->open = 0;
	return 0;
}

int qf_npz_add(qf_npz_writer *z, const char *member, const qf_rec *rec,
	       const void *data, qf_err *err)
{
	uint64_t n = qf_rec_nbytes(rec);
	struct where w = { z->file, member };

	if (n && !data)
		return fail(&w, err, "no data");
	if (qf_npz_begin(z, member, rec, err) < 0 ||
	    (n && qf_npz_write(z, data, (size_t)n, err) < 0))
		return -1;
	return qf_npz_end(z, err);
}

/* One entry of the central directory. */
static int central_entry(qf_npz_writer *z, const struct member *m, qf_err *err)
{
	unsigned char h[46], x[28], *p = h, *q = x + 4;
	size_t nl = strlen(m->name);
	int big = member_zip64(z, m);
	int far = (z->flags & QF_NPZ_ZIP64) || m->offset >= U32_MAX;
	uint32_t size = big ? U32_MAX : (uint32_t)m->size;

	if (big) {
		q = le64(q, m->size);
		q = le64(q, m->size);
	}
	if (far)
		q = le64(q, m->offset);
	le16(le16(x, 1), (unsigned)(q - x - 4));
	p = le32(p, ZIP_CENTRAL);
	p = le16(p, ZIP_MADE_BY);
	p = le16(p, big || far ? 45 : 20);
	p = le16(p, m->flags);
	p = le16(p, 0);
	p = le16(p, 0);
	p = le16(p, ZIP_DATE);
	p = le32(p, m->crc);
	p = le32(p, size);
	p = le32(p, size);
	p = le16(p, (unsigned)nl);
	p = le16(p, q > x + 4 ? (unsigned)(q - x) : 0);
	p = le16(p, 0);			/* comment */
	p = le16(p, 0);			/* disk */
	p = le16(p, 0);			/* internal attributes */
	p = le32(p, ZIP_MODE);
	le32(p, far ? U32_MAX : (uint32_t)m->offset);
	if (zput(z, h, 46, err) < 0 || zput(z, m->name, nl, err) < 0)
		return -1;
	return q > x + 4 ? zput(z, x, (size_t)(q - x), err) : 0;
}

/* The zip64 end record and its locator. */
static int zip64_end(qf_npz_writer *z, uint64_t cd, uint64_t cdlen,
		     qf_err *err)
{
	unsigned char h[56 + 20], *p = h;
	uint64_t at = z->off;

	p = le32(p, ZIP64_END);
	p = le64(p, 44);
	p = le16(p, ZIP_MADE_BY);
	p = le16(p, 45);
	p = le32(p, 0);
	p = le32(p, 0);
	p = le64(p, z->n);
	p = le64(p, z->n);
	p = le64(p, cdlen);
	p = le64(p, cd);
	p = le32(p, ZIP64_LOCATOR);
	p = le32(p, 0);
	p = le64(p, at);
	le32(p, 1);
	return zput(z, h, sizeof h, err);
}

static int central_directory(qf_npz_writer *z, qf_err *err)
{
	unsigned char h[22], *p = h;
	uint64_t cd = z->off, cdlen;
	int x;

	for (size_t i = 0; i < z->n; i++)
		if (central_entry(z, &z->m[i], err) < 0)
			return -1;
	cdlen = z->off - cd;
	x = (z->flags & QF_NPZ_ZIP64) || z->n >= 0xffff || cd >= U32_MAX ||
	    cdlen >= U32_MAX;
	if (x && zip64_end(z, cd, cdlen, err) < 0)
		return -1;
	p = le32(p, ZIP_END);
	p = le16(p, 0);
	p = le16(p, 0);
	p = le16(p, x ? 0xffff : (unsigned)z->n);
	p = le16(p, x ? 0xffff : (unsigned)z->n);
	p = le32(p, x ? U32_MAX : (uint32_t)cdlen);
	p = le32(p, x ? U32_MAX : (uint32_t)cd);
	le16(p, 0);
	return zput(z, h, sizeof h, err);
}

void qf_npz_abort(qf_npz_writer *z)
{
	npz_writer_free(z);
}

int qf_npz_finish(qf_npz_writer *z, qf_err *err)
{
	int rc = 0;

	if (z->dead || z->open) {
		rc = qf_err_set(err, "%s: archive incomplete after an earlier error",
				z->file);
	} else if (central_directory(z, err) < 0) {
		rc = -1;
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
