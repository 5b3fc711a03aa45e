/*
 * gguf.c - GGUF checkpoints (versions 2 and 3, little-endian), as
 * described in formats/gguf.md.
 *
 * The header (key/values and tensor infos) is read at open through a
 * small buffer, never the tensor data; every count and length is checked
 * against the bytes left in the file before anything is allocated for
 * it.  read() delivers F32, F16, BF16, F64 and the integer types as
 * stored and dequantizes Q8_0 and Q4_0 blocks to f32.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/ckpt_impl.h"
#include "quant/ggml.h"

/* Limits (formats/gguf.md). */
#define MAX_TENSORS (1u << 16)	/* qf_ckpt_add's name check is quadratic */
#define MAX_KV QF_MAX_ATTRS
#define MAX_KEY (QF_MAX_KEY - 7)	/* room for ".length" */
#define MAX_NAME QF_MAX_NAME
#define MAX_DIMS 4
#define DEFAULT_ALIGNMENT 32

/* Smallest encodings: a key/value (key length, type, a u8 value) and a
 * tensor info (name length, n_dims, type, offset). */
#define MIN_KV_BYTES (8 + 4 + 1)
#define MIN_TI_BYTES (8 + 4 + 4 + 8)

/* ------------------------------------------------------------ types */

enum {
	GT_U8, GT_I8, GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BOOL,
	GT_STRING, GT_ARRAY, GT_U64, GT_I64, GT_F64, GT_COUNT
};

static const unsigned value_size[GT_COUNT] = {
	[GT_U8] = 1, [GT_I8] = 1, [GT_U16] = 2, [GT_I16] = 2, [GT_U32] = 4,
	[GT_I32] = 4, [GT_F32] = 4, [GT_BOOL] = 1, [GT_U64] = 8,
	[GT_I64] = 8, [GT_F64] = 8,
	/* strings and arrays: their smallest encoding */
	[GT_STRING] = 8, [GT_ARRAY] = 12,
};

static const char *const value_name[GT_COUNT] = {
	"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
	"bool", "string", "array", "uint64", "int64", "float64",
};

struct ggml_type {
	unsigned id;
	const char *name;
	int dtype;		/* qf dtype delivered; 0: not supported */
	unsigned blck;		/* values per block (1: plain type) */
	unsigned bytes;		/* bytes per block */
};

static const struct ggml_type ggml_types[] = {
	{ 0, "F32", QF_F32, 1, 4 },
	{ 1, "F16", QF_F16, 1, 2 },
	{ 2, "Q4_0", QF_F32, QF_QK, QF_Q4_0_BYTES },
	{ 3, "Q4_1", 0, 0, 0 },
	{ 6, "Q5_0", 0, 0, 0 },
	{ 7, "Q5_1", 0, 0, 0 },
	{ 8, "Q8_0", QF_F32, QF_QK, QF_Q8_0_BYTES },
	{ 9, "Q8_1", 0, 0, 0 },
	{ 10, "Q2_K", 0, 0, 0 },
	{ 11, "Q3_K", 0, 0, 0 },
	{ 12, "Q4_K", 0, 0, 0 },
	{ 13, "Q5_K", 0, 0, 0 },
	{ 14, "Q6_K", 0, 0, 0 },
	{ 15, "Q8_K", 0, 0, 0 },
	{ 16, "IQ2_XXS", 0, 0, 0 },
	{ 17, "IQ2_XS", 0, 0, 0 },
	{ 18, "IQ3_XXS", 0, 0, 0 },
	{ 19, "IQ1_S", 0, 0, 0 },
	{ 20, "IQ4_NL", 0, 0, 0 },
	{ 21, "IQ3_S", 0, 0, 0 },
	{ 22, "IQ2_S", 0, 0, 0 },
	{ 23, "IQ4_XS", 0, 0, 0 },
	{ 24, "I8", QF_I8, 1, 1 },
	{ 25, "I16", QF_I16, 1, 2 },
	{ 26, "I32", QF_I32, 1, 4 },
	{ 27, "I64", QF_I64, 1, 8 },
	{ 28, "F64", QF_F64, 1, 8 },
	{ 29, "IQ1_M", 0, 0, 0 },
	{ 30, "BF16", QF_BF16, 1, 2 },
	{ 34, "TQ1_0", 0, 0, 0 },
	{ 35, "TQ2_0", 0, 0, 0 },
	{ 39, "MXFP4", 0, 0, 0 },
};

static const struct ggml_type *ggml_type(uint32_t id)
{
	for (size_t i = 0; i < sizeof ggml_types / sizeof *ggml_types; i++)
		if (ggml_types[i].id == id)
			return &ggml_types[i];
	return NULL;
}

/* ------------------------------------------------------------ messages */

/* Text from the file, for a message: printable ASCII as is, other bytes
 * as \xNN, cut short with "..." (so a message stays one line). */
static const char *quote(const char *s, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	buf[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (o + 8 >= len) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
	}
	buf[o++] = '"';
	buf[o] = 0;
	return buf;
}

#define QBUF 96

/* ------------------------------------------------------------ buffered reading */

struct rd {
	int fd;
	const char *path;
	uint64_t size;		/* of the file */
	uint64_t base;		/* file offset of buf[0] */
	size_t off, len;	/* read position and fill of buf */
	unsigned char buf[65536];
};

static uint64_t rd_pos(const struct rd *r)
{
	return r->base + r->off;
}

static uint64_t rd_left(const struct rd *r)
{
	return r->size - rd_pos(r);
}

static int rd_truncated(struct rd *r, uint64_t n, const char *what,
			qf_err *err)
{
	return qf_err_set(err, "%s: truncated: %s at offset %" PRIu64
			  " needs %" PRIu64 " bytes, the file has %" PRIu64,
			  r->path, what, rd_pos(r), n, r->size);
}

/* Make n <= sizeof buf bytes available at buf + off. */
static int rd_fill(struct rd *r, size_t n, const char *what, qf_err *err)
{
	size_t want;

	if (rd_left(r) < n)
		return rd_truncated(r, n, what, err);
	if (r->len - r->off >= n)
		return 0;
	memmove(r->buf, r->buf + r->off, r->len - r->off);
	r->base += r->off;
	r->len -= r->off;
	r->off = 0;
	want = sizeof r->buf - r->len;
	if (want > r->size - r->base - r->len)
		want = (size_t)(r->size - r->base - r->len);
	if (qf_pread_all(r->fd, r->buf + r->len, want, r->base + r->len,
			 r->path, err) < 0)
		return -1;
	r->len += want;
	return 0;
}

static int rd_bytes(struct rd *r, void *dst, size_t n, const char *what,
		    qf_err *err)
{
	unsigned char *p = dst;

	if (rd_left(r) < n)
		return rd_truncated(r, n, what, err);
	while (n > 0) {
		size_t k = n < sizeof r->buf ? n : sizeof r->buf;
		if (rd_fill(r, k, what, err) < 0)
			return -1;
		memcpy(p, r->buf + r->off, k);
		r->off += k;
		p += k;
		n -= k;
	}
	return 0;
}

static int rd_skip(struct rd *r, uint64_t n, const char *what, qf_err *err)
{
	if (rd_left(r) < n)
		return rd_truncated(r, n, what, err);
	if (r->len - r->off >= n) {
		r->off += (size_t)n;
	} else {
		r->base = rd_pos(r) + n;
		r->off = r->len = 0;
	}
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v, const char *what, qf_err *err)
{
	if (rd_fill(r, 4, what, err) < 0)
		return -1;
	*v = qf_get_u32(r->buf + r->off);
	r->off += 4;
	return 0;
}

static int rd_u64(struct rd *r, uint64_t *v, const char *what, qf_err *err)
{
	if (rd_fill(r, 8, what, err) < 0)
		return -1;
	*v = qf_get_u64(r->buf + r->off);
	r->off += 8;
	return 0;
}

/* A gguf_string's length, checked against max and the rest of the file. */
static int rd_strlen(struct rd *r, uint64_t *len, uint64_t max,
		     const char *what, qf_err *err)
{
	uint64_t at = rd_pos(r);

	if (rd_u64(r, len, what, err) < 0)
		return -1;
	if (*len > rd_left(r))
		return qf_err_set(err, "%s: %s at offset %" PRIu64 ": length %"
				  PRIu64 " runs past the end of the file (%"
				  PRIu64 " bytes)", r->path, what, at, *len,
				  r->size);
	if (*len > max)
		return qf_err_set(err, "%s: %s at offset %" PRIu64 ": length %"
				  PRIu64 " is over the limit of %" PRIu64,
				  r->path, what, at, *len, max);
	return 0;
}

/* A gguf_string of at most max bytes into a new NUL-terminated buffer. */
static char *rd_string(struct rd *r, uint64_t max, size_t *len,
		       const char *what, qf_err *err)
{
	uint64_t n;
	char *s;

	if (rd_strlen(r, &n, max, what, err) < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s) {
		qf_err_set(err, "%s: out of memory", r->path);
		return NULL;
	}
	if (rd_bytes(r, s, (size_t)n, what, err) < 0) {
		free(s);
		return NULL;
	}
	s[n] = 0;
	*len = (size_t)n;
	return s;
}

/* ------------------------------------------------------------ backend */

struct gguf {
	int fd;
	uint32_t *type;		/* ggml type of each tensor */
	size_t cap;
};

#define CHUNK_BLOCKS 4096

static int gguf_read(qf_ckpt *c, size_t i, void *dst, qf_err *err)
{
	struct gguf *g = c->impl;
	const qf_ckpt_tensor *t = &c->t[i];
	const struct ggml_type *gt = ggml_type(g->type[i]);
	unsigned char *buf;
	uint64_t done = 0, nb;
	float *y = dst;
	int rc = 0;

	if (gt->blck == 1)
		return qf_pread_all(g->fd, dst, (size_t)t->nbytes, t->offset,
				    c->path, err);
	buf = malloc((size_t)CHUNK_BLOCKS * gt->bytes);
	if (!buf)
		return qf_err_set(err, "%s: out of memory", c->path);
	nb = t->nbytes / gt->bytes;
	while (done < nb && rc == 0) {
		size_t k = nb - done < CHUNK_BLOCKS ? (size_t)(nb - done) :
			CHUNK_BLOCKS;
		rc = qf_pread_all(g->fd, buf, k * gt->bytes,
				  t->offset + done * gt->bytes, c->path, err);
		if (rc == 0 && gt->id == 8)
			qf_q8_0_dequantize_blocks(buf, k * QF_QK, y);
		else if (rc == 0)
			qf_q4_0_dequantize_blocks(buf, k * QF_QK, y);
		y += k * QF_QK;
		done += k;
	}
	free(buf);
	return rc;
}

static void gguf_close(qf_ckpt *c)
{
	struct gguf *g = c->impl;

	if (!g)
		return;
	if (g->fd >= 0)
		close(g->fd);
	free(g->type);
	free(g);
	c->impl = NULL;
}

static const struct qf_ckpt_backend gguf_be = { "gguf", gguf_read, gguf_close };

/* ------------------------------------------------------------ key/values */

struct kv_ctx {
	struct rd *r;
	qf_ckpt *c;
	uint32_t alignment;
};

static int valid_key(const char *k, size_t n)
{
	if (n == 0 || memchr(k, 0, n) || !qf_utf8_valid(k, n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f || k[i] == '=')
			return 0;
	return 1;
}

static int set_attr(struct kv_ctx *x, const char *key, const char *val,
		    qf_err *err)
{
	char q[QBUF];
	qf_err e2;

	if (qf_rec_get(&x->c->meta, key))
		return qf_err_set(err, "%s: key %s appears twice", x->r->path,
				  quote(key, strlen(key), q, sizeof q));
	if (qf_rec_set(&x->c->meta, key, val, &e2) < 0)
		return qf_err_set(err, "%s: key %s: %s", x->r->path,
				  quote(key, strlen(key), q, sizeof q), e2.msg);
	return 0;
}

/* A scalar value as text. */
static int scalar_text(struct kv_ctx *x, uint32_t type, const char *key,
		       char *text, size_t len, qf_err *err)
{
	unsigned char b[8] = { 0 };
	char q[QBUF];
	uint64_t u;
	float f;
	double d;

	if (rd_bytes(x->r, b, value_size[type], "a value", err) < 0)
		return -1;
	u = qf_get_u64(b);
	switch (type) {
	case GT_U8: snprintf(text, len, "%u", b[0]); break;
	case GT_I8: snprintf(text, len, "%d", (int8_t)b[0]); break;
	case GT_U16: snprintf(text, len, "%u", qf_get_u16(b)); break;
	case GT_I16: snprintf(text, len, "%d", (int16_t)qf_get_u16(b)); break;
	case GT_U32: snprintf(text, len, "%" PRIu32, qf_get_u32(b)); break;
	case GT_I32:
		snprintf(text, len, "%" PRId32, (int32_t)qf_get_u32(b));
		break;
	case GT_U64: snprintf(text, len, "%" PRIu64, u); break;
	case GT_I64: snprintf(text, len, "%" PRId64, (int64_t)u); break;
	case GT_F32:
		memcpy(&f, b, 4);
		snprintf(text, len, "%.9g", (double)f);
		break;
	case GT_F64:
		memcpy(&d, b, 8);
		snprintf(text, len, "%.17g", d);
		break;
	case GT_BOOL:
		if (b[0] > 1)
			return qf_err_set(err, "%s: key %s: bool value %u is "
					  "neither 0 nor 1", x->r->path,
					  quote(key, strlen(key), q, sizeof q),
					  b[0]);
		snprintf(text, len, "%s", b[0] ? "true" : "false");
		break;
	}
	return 0;
}

static int read_array(struct kv_ctx *x, const char *key, qf_err *err)
{
	char q[QBUF], lkey[QF_MAX_KEY + 1], text[32];
	uint32_t et;
	uint64_t n, at = rd_pos(x->r);

	if (rd_u32(x->r, &et, "an array type", err) < 0 ||
	    rd_u64(x->r, &n, "an array length", err) < 0)
		return -1;
	if (et == GT_ARRAY)
		return qf_err_set(err, "%s: key %s: nested arrays are not "
				  "supported", x->r->path,
				  quote(key, strlen(key), q, sizeof q));
	if (et >= GT_COUNT)
		return qf_err_set(err, "%s: key %s: unknown array element type %"
				  PRIu32, x->r->path,
				  quote(key, strlen(key), q, sizeof q), et);
	if (n > rd_left(x->r) / value_size[et])
		return qf_err_set(err, "%s: key %s: array at offset %" PRIu64
				  " of %" PRIu64 " %s values runs past the end "
				  "of the file (%" PRIu64 " bytes)", x->r->path,
				  quote(key, strlen(key), q, sizeof q), at, n,
				  value_name[et], x->r->size);
	if (et == GT_STRING) {
		for (uint64_t i = 0; i < n; i++) {
			uint64_t len;
			if (rd_strlen(x->r, &len, UINT64_MAX, "an array string",
				      err) < 0 ||
			    rd_skip(x->r, len, "an array string", err) < 0)
				return -1;
		}
	} else if (rd_skip(x->r, n * value_size[et], "an array", err) < 0) {
		return -1;
	}
	snprintf(lkey, sizeof lkey, "%s.length", key);
	snprintf(text, sizeof text, "%" PRIu64, n);
	return set_attr(x, lkey, text, err);
}

/* A string value: an attribute when it is UTF-8 without NUL and within
 * the attribute limit; otherwise skipped. */
static int read_string_value(struct kv_ctx *x, const char *key, qf_err *err)
{
	uint64_t n;
	size_t len;
	char *s;
	int rc = 0;

	if (rd_strlen(x->r, &n, UINT64_MAX, "a string value", err) < 0)
		return -1;
	if (n > QF_MAX_VALUE)
		return rd_skip(x->r, n, "a string value", err);
	s = malloc((size_t)n + 1);
	if (!s)
		return qf_err_set(err, "%s: out of memory", x->r->path);
	len = (size_t)n;
	if (rd_bytes(x->r, s, len, "a string value", err) < 0)
		rc = -1;
	s[len] = 0;
	if (rc == 0 && !memchr(s, 0, len) && qf_utf8_valid(s, len))
		rc = set_attr(x, key, s, err);
	free(s);
	return rc;
}

/* Key/value i; its key is left in *keyp (malloc'd) for the caller's
 * duplicate check. */
static int read_kv(struct kv_ctx *x, uint64_t i, char **keyp, qf_err *err)
{
	char what[64], q[QBUF], text[64];
	uint64_t at = rd_pos(x->r);
	uint32_t type;
	size_t klen;
	char *key;
	int rc;

	snprintf(what, sizeof what, "key %" PRIu64, i);
	key = *keyp = rd_string(x->r, MAX_KEY, &klen, what, err);
	if (!key)
		return -1;
	if (!valid_key(key, klen))
		return qf_err_set(err, "%s: key at offset %" PRIu64 ": %s is not "
				  "a valid key (empty, not UTF-8, or holding "
				  "NUL, '=' or a control character)", x->r->path,
				  at, quote(key, klen, q, sizeof q));
	if (rd_u32(x->r, &type, "a value type", err) < 0)
		return -1;
	if (strcmp(key, "general.alignment") == 0 && type != GT_U32) {
		rc = qf_err_set(err, "%s: general.alignment is of type %s, "
				"not uint32", x->r->path,
				type < GT_COUNT ? value_name[type] : "unknown");
	} else if (type >= GT_COUNT) {
		rc = qf_err_set(err, "%s: key %s: unknown value type %" PRIu32,
				x->r->path, quote(key, klen, q, sizeof q), type);
	} else if (type == GT_ARRAY) {
		rc = read_array(x, key, err);
	} else if (type == GT_STRING) {
		rc = read_string_value(x, key, err);
	} else {
		rc = scalar_text(x, type, key, text, sizeof text, err);
		if (rc == 0 && strcmp(key, "general.alignment") == 0) {
			unsigned long a = strtoul(text, NULL, 10);
			if (a == 0 || (a & (a - 1)))
				rc = qf_err_set(err, "%s: general.alignment %lu "
						"is not a power of two",
						x->r->path, a);
			x->alignment = (uint32_t)a;
		}
		if (rc == 0)
			rc = set_attr(x, key, text, err);
	}
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keys may appear once; those not kept as attributes (long or binary
 * strings) included, so they are collected and compared here. */
static int check_dup_keys(struct rd *r, char **keys, size_t n, qf_err *err)
{
	char q[QBUF];

	qsort(keys, n, sizeof *keys, cmp_str);
	for (size_t i = 1; i < n; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			return qf_err_set(err, "%s: key %s appears twice",
					  r->path, quote(keys[i],
							 strlen(keys[i]), q,
							 sizeof q));
	return 0;
}

/* ------------------------------------------------------------ tensor infos */

/* The fields after a tensor's name: its dims, ggml type and data offset. */
static int read_ti_fields(struct rd *r, const char *what, const char *qn,
			  uint32_t *nd, uint64_t *ne, uint32_t *type,
			  uint64_t *offset, qf_err *err)
{
	if (rd_u32(r, nd, what, err) < 0)
		return -1;
	if (*nd > MAX_DIMS)
		return qf_err_set(err, "%s: tensor %s: %" PRIu32 " dimensions (at "
				  "most %d)", r->path, qn, *nd, MAX_DIMS);
	for (uint32_t k = 0; k < *nd; k++)
		if (rd_u64(r, &ne[k], what, err) < 0)
			return -1;
	if (rd_u32(r, type, what, err) < 0 ||
	    rd_u64(r, offset, what, err) < 0)
		return -1;
	return 0;
}

/* The ggml type, when qf reads it; NULL (and err set) otherwise. */
static const struct ggml_type *supported_type(struct rd *r, const char *qn,
					      uint32_t type, qf_err *err)
{
	const struct ggml_type *gt = ggml_type(type);

	if (!gt || !gt->dtype) {
		qf_err_set(err, "%s: tensor %s: ggml type %" PRIu32 "%s%s%s is "
			   "not supported (F32, F16, BF16, Q8_0, Q4_0, I8, I16, "
			   "I32, I64, F64 are)", r->path, qn, type,
			   gt ? " (" : "", gt ? gt->name : "", gt ? ")" : "");
		return NULL;
	}
	return gt;
}

/* The number of values of dims ne[0..nd), checked against the payload
 * limit and, for a block type, whole blocks per row. */
static int ti_numel(struct rd *r, const char *qn, const struct ggml_type *gt,
		    uint32_t nd, const uint64_t *ne, uint64_t *numelp,
		    qf_err *err)
{
	uint64_t numel = 1, lim;

	/* the product of the non-zero dims, and the f32 it may become,
	 * within the payload limit: every partial product stays small */
	lim = QF_MAX_PAYLOAD / qf_dtype_size(gt->dtype);
	for (uint32_t k = 0; k < nd; k++) {
		if (ne[k] == 0)
			continue;
		if (ne[k] > lim / numel)
			return qf_err_set(err, "%s: tensor %s: dimensions are too "
					  "large (more than %" PRIu64 " values)",
					  r->path, qn, lim);
		numel *= ne[k];
	}
	for (uint32_t k = 0; k < nd; k++)
		if (ne[k] == 0)
			numel = 0;
	if (gt->blck > 1 && (nd == 0 || ne[0] % gt->blck))
		return qf_err_set(err, "%s: tensor %s: %s rows of %" PRIu64
				  " values are not a multiple of the block "
				  "size %u", r->path, qn, gt->name,
				  nd ? ne[0] : 1, gt->blck);
	*numelp = numel;
	return 0;
}

/* Remember tensor i's ggml type, for gguf_read. */
static int keep_type(struct gguf *g, size_t i, uint32_t type,
		     const char *path, qf_err *err)
{
	if (i == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		uint32_t *p = realloc(g->type, cap * sizeof *p);
		if (!p)
			return qf_err_set(err, "%s: out of memory", path);
		g->type = p;
		g->cap = cap;
	}
	g->type[i] = type;
	return 0;
}

static int read_tensor_info(struct rd *r, qf_ckpt *c, struct gguf *g,
			    uint32_t alignment, uint64_t i, qf_err *err)
{
	char what[64], qn[QBUF];
	const struct ggml_type *gt;
	qf_ckpt_tensor t;
	uint64_t ne[MAX_DIMS], numel = 0, at = rd_pos(r);
	uint32_t nd = 0, type = 0;
	size_t nlen;
	char *name;
	int rc = -1;

	snprintf(what, sizeof what, "tensor info %" PRIu64, i);
	name = rd_string(r, MAX_NAME, &nlen, what, err);
	if (!name)
		return -1;
	quote(name, nlen, qn, sizeof qn);
	if (!valid_key(name, nlen)) {
		qf_err_set(err, "%s: tensor info at offset %" PRIu64 ": name %s "
			   "is empty, not UTF-8, or holds NUL, '=' or a "
			   "control character", r->path, at, qn);
		goto out;
	}
	if (read_ti_fields(r, what, qn, &nd, ne, &type, &t.offset, err) < 0 ||
	    !(gt = supported_type(r, qn, type, err)) ||
	    ti_numel(r, qn, gt, nd, ne, &numel, err) < 0)
		goto out;
	if (t.offset % alignment) {
		qf_err_set(err, "%s: tensor %s: data offset %" PRIu64 " is not a "
			   "multiple of the alignment %" PRIu32, r->path, qn,
			   t.offset, alignment);
		goto out;
	}
	t.name = name;
	t.dtype = gt->dtype;
	t.ndim = (int)nd;
	memset(t.dims, 0, sizeof t.dims);
	for (uint32_t k = 0; k < nd; k++)
		t.dims[k] = ne[nd - 1 - k];
	t.src_type = (char *)gt->name;
	t.file = NULL;
	t.nbytes = numel / gt->blck * gt->bytes;
	if (keep_type(g, c->n, type, r->path, err) == 0)
		rc = qf_ckpt_add(c, &t, err);
out:
	free(name);
	return rc;
}

/* ------------------------------------------------------------ data ranges */

struct range {
	uint64_t offset, nbytes;
	size_t i;
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Every tensor's data within [lo, hi), and no two overlapping.  As
 * qf_ckpt_check_ranges, except that a tensor of no bytes overlaps
 * nothing: ggml gives it the offset of the tensor that follows. */
static int check_ranges(qf_ckpt *c, uint64_t lo, uint64_t hi, qf_err *err)
{
	char q1[QBUF], q2[QBUF];
	struct range *v;
	size_t m = 0;
	int rc = 0;

	for (size_t i = 0; i < c->n; i++) {
		const qf_ckpt_tensor *t = &c->t[i];
		if (t->offset < lo || t->offset > hi || t->nbytes > hi - t->offset)
			return qf_err_set(err, "%s: tensor %s: data [%" PRIu64 ", %"
					  PRIu64 ") lies outside the file's data "
					  "[%" PRIu64 ", %" PRIu64 ")", c->path,
					  quote(t->name, strlen(t->name), q1,
						sizeof q1), t->offset,
					  t->offset + t->nbytes, lo, hi);
	}
	v = malloc((c->n ? c->n : 1) * sizeof *v);
	if (!v)
		return qf_err_set(err, "%s: out of memory", c->path);
	for (size_t i = 0; i < c->n; i++)
		if (c->t[i].nbytes)
			v[m++] = (struct range){ c->t[i].offset, c->t[i].nbytes, i };
	qsort(v, m, sizeof *v, cmp_range);
	for (size_t k = 1; k < m && rc == 0; k++) {
		const char *a = c->t[v[k - 1].i].name, *b = c->t[v[k].i].name;
		if (v[k - 1].offset + v[k - 1].nbytes > v[k].offset)
			rc = qf_err_set(err, "%s: tensors %s and %s overlap",
					c->path, quote(a, strlen(a), q1, sizeof q1),
					quote(b, strlen(b), q2, sizeof q2));
	}
	free(v);
	return rc;
}

/* ------------------------------------------------------------ loading */

/* The magic, the version and the two counts, checked against the limits
 * and the size of the file. */
static int read_header(struct rd *r, uint64_t *nt, uint64_t *nkv,
		       qf_err *err)
{
	unsigned char h[8];
	uint32_t version;

	if (rd_bytes(r, h, 8, "the GGUF header", err) < 0)
		return -1;
	if (memcmp(h, "GGUF", 4) != 0)
		return qf_err_set(err, "%s: not a GGUF file", r->path);
	version = qf_get_u32(h + 4);
	if (version == 1)
		return qf_err_set(err, "%s: GGUF version 1 is not supported "
				  "(only versions 2 and 3)", r->path);
	if (version == 0x02000000 || version == 0x03000000)
		return qf_err_set(err, "%s: big-endian GGUF is not supported",
				  r->path);
	if (version != 2 && version != 3)
		return qf_err_set(err, "%s: unknown GGUF version %" PRIu32
				  " (only versions 2 and 3)", r->path, version);
	if (rd_u64(r, nt, "the tensor count", err) < 0 ||
	    rd_u64(r, nkv, "the key/value count", err) < 0)
		return -1;
	if (*nt > MAX_TENSORS)
		return qf_err_set(err, "%s: %" PRIu64 " tensors (at most %u)",
				  r->path, *nt, MAX_TENSORS);
	if (*nkv > MAX_KV)
		return qf_err_set(err, "%s: %" PRIu64 " key/values (at most %d)",
				  r->path, *nkv, MAX_KV);
	if (*nt * MIN_TI_BYTES + *nkv * MIN_KV_BYTES > rd_left(r))
		return qf_err_set(err, "%s: truncated: %" PRIu64 " tensors and %"
				  PRIu64 " key/values cannot fit in the %"
				  PRIu64 " bytes of the file", r->path, *nt, *nkv,
				  r->size);
	return 0;
}

/* All nkv key/values, each key once. */
static int read_kvs(struct kv_ctx *x, uint64_t nkv, qf_err *err)
{
	char **keys;
	int rc = 0;

	keys = calloc(nkv ? nkv : 1, sizeof *keys);
	if (!keys)
		return qf_err_set(err, "%s: out of memory", x->r->path);
	for (uint64_t i = 0; i < nkv && rc == 0; i++)
		rc = read_kv(x, i, &keys[i], err);
	if (rc == 0)
		rc = check_dup_keys(x->r, keys, (size_t)nkv, err);
	for (uint64_t i = 0; i < nkv; i++)
		free(keys[i]);
	free(keys);
	return rc < 0 ? -1 : 0;
}

/* Make the tensors' offsets, relative to the data section, file offsets
 * and check them. */
static int place_data(qf_ckpt *c, struct rd *r, uint32_t alignment,
		      uint64_t nt, qf_err *err)
{
	uint64_t data;

	/* the data section: after the infos, padded to the alignment */
	data = rd_pos(r);
	data += (alignment - data % alignment) % alignment;
	if (nt > 0 && data > r->size)
		return qf_err_set(err, "%s: truncated: the data section would "
				  "start at offset %" PRIu64 ", the file has %"
				  PRIu64 " bytes", r->path, data, r->size);
	for (size_t i = 0; i < c->n; i++) {
		char q[QBUF];
		if (c->t[i].offset > r->size - data)
			return qf_err_set(err, "%s: tensor %s: data offset %"
					  PRIu64 " lies past the end of the "
					  "file", r->path,
					  quote(c->t[i].name,
						strlen(c->t[i].name), q,
						sizeof q), c->t[i].offset);
		c->t[i].offset += data;
	}
	return check_ranges(c, data, r->size, err);
}

static int load(qf_ckpt *c, struct gguf *g, struct rd *r, qf_err *err)
{
	struct kv_ctx x = { r, c, DEFAULT_ALIGNMENT };
	uint64_t nt = 0, nkv = 0;

	if (read_header(r, &nt, &nkv, err) < 0 || read_kvs(&x, nkv, err) < 0)
		return -1;
	for (uint64_t i = 0; i < nt; i++)
		if (read_tensor_info(r, c, g, x.alignment, i, err) < 0)
			return -1;
	return place_data(c, r, x.alignment, nt, err);
}

int qf_gguf_load(qf_ckpt *c, const char *path, qf_err *err)
{
	struct gguf *g;
	struct stat st;
	struct rd *r;
	int rc;

	g = calloc(1, sizeof *g);
	if (!g)
		return qf_err_set(err, "%s: out of memory", path);
	g->fd = open(path, O_RDONLY | O_CLOEXEC);
	c->impl = g;
	c->be = &gguf_be;
	if (g->fd < 0)
		return qf_err_set(err, "%s: %s", path, strerror(errno));
	if (fstat(g->fd, &st) < 0)
		return qf_err_set(err, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return qf_err_set(err, "%s: not a regular file", path);
	r = malloc(sizeof *r);
	if (!r)
		return qf_err_set(err, "%s: out of memory", path);
	r->fd = g->fd;
	r->path = path;
	r->size = (uint64_t)st.st_size;
	r->base = 0;
	r->off = r->len = 0;
	rc = load(c, g, r, err);
	free(r);
	return rc;
}
