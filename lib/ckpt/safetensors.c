/*
 * safetensors.c - the safetensors checkpoint backend (formats/safetensors.md):
 * single files and sharded model.safetensors.index.json directories.
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON
 * (tensor name -> dtype, shape, data_offsets, and an optional
 * "__metadata__" map), then the data buffer, which the tensors must
 * cover exactly.  Opening reads and checks the headers only; the files
 * stay open and qf_ckpt_read reads one tensor's bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/ckpt_impl.h"
#include "core/json.h"

#define MAX_HEADER (100u << 20)	/* bytes of a JSON header or index */
#define QBUF 96			/* a quoted string in a message */

struct st {
	size_t nshard;
	int *fd;		/* one per shard opened */
	size_t *shard_of;	/* per tensor: its shard */
};

/* ------------------------------------------------------------ messages */

/* s (n bytes) quoted for a message: printable text as is, control bytes,
 * quotes and backslashes as \xNN, long strings cut with "...". */
static const char *quote(const char *s, size_t n, char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0;

	buf[o++] = '"';
	while (i < n && o + 8 < len) {
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '"' || p[i] == '\\') {
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", p[i]);
			i++;
			continue;
		}
		buf[o++] = (char)p[i++];
	}
	if (i < n) {
		/* do not cut a UTF-8 sequence in two */
		while (o > 1 && i > 0 && (p[i] & 0xc0) == 0x80) {
			i--;
			o--;
		}
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = 0;
	return buf;
}

static const char *quotez(const char *s, char *buf, size_t len)
{
	return quote(s, strlen(s), buf, len);
}

/* A JSON value's kind, for "is a string, not ..." messages. */
static const char *kind(const qf_json *j)
{
	static const char *const names[] = {
		"null", "false", "true", "a number", "a string", "an array",
		"an object",
	};

	return j->type >= 0 && j->type <= QF_JSON_OBJECT ? names[j->type] : "?";
}

/* Offset of the first \u0000 escape in JSON text that parsed, or -1.
 * qf_json keeps object keys as C strings, so a NUL would cut a tensor
 * name short; qf refuses it anywhere.  Backslashes occur only inside
 * strings, each starting an escape. */
static long long nul_escape(const char *s, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (s[i] != '\\')
			continue;
		if (s[i + 1] == 'u' && n - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0)
			return (long long)i;
		i++;
	}
	return -1;
}

/* ------------------------------------------------------------ dtypes */

static const struct {
	const char *name;
	int dtype;
} dtypes[] = {
	{ "F64", QF_F64 }, { "F32", QF_F32 }, { "F16", QF_F16 },
	{ "BF16", QF_BF16 }, { "I64", QF_I64 }, { "I32", QF_I32 },
	{ "I16", QF_I16 }, { "I8", QF_I8 }, { "U64", QF_U64 },
	{ "U32", QF_U32 }, { "U16", QF_U16 }, { "U8", QF_U8 },
	{ "BOOL", QF_BOOL },
};

/* In the safetensors specification, but not qf dtypes. */
static const char *const unsupported[] = {
	"F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64",
};

static int parse_dtype(const qf_json *j, const char **name)
{
	for (size_t k = 0; k < sizeof dtypes / sizeof *dtypes; k++)
		if (strlen(dtypes[k].name) == j->len &&
		    memcmp(dtypes[k].name, j->str, j->len) == 0) {
			*name = dtypes[k].name;
			return dtypes[k].dtype;
		}
	for (size_t k = 0; k < sizeof unsupported / sizeof *unsupported; k++)
		if (strlen(unsupported[k]) == j->len &&
		    memcmp(unsupported[k], j->str, j->len) == 0)
			return -1;
	return 0;
}

/* ------------------------------------------------------------ one header entry */

/* Check a tensor name before it appears in messages: non-empty, not
 * too long, no control characters (it is valid UTF-8 already). */
static int check_name(const char *path, const char *where, const char *name,
		      qf_err *err)
{
	char q[QBUF];
	size_t n = strlen(name);

	if (n == 0)
		return qf_err_set(err, "%s: %s: a tensor name is empty", path, where);
	if (n > QF_MAX_NAME)
		return qf_err_set(err, "%s: %s: tensor name %s is too long "
				  "(%zu bytes, at most %d)", path, where,
				  quotez(name, q, sizeof q), n, QF_MAX_NAME);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return qf_err_set(err, "%s: %s: tensor name %s holds a "
					  "control character", path, where,
					  quotez(name, q, sizeof q));
	return 0;
}

/* A number's text (digits, sign, '.', exponent) for a message, or the
 * kind of a value that is no number. */
static const char *numtext(const qf_json *j)
{
	return j->type == QF_JSON_NUMBER ? j->str : kind(j);
}

/* The fields of one entry, each exactly once, and no other. */
static int entry_fields(const char *path, const char *name, const qf_json *v,
			const qf_json **f, qf_err *err)
{
	static const char *const want[3] = { "dtype", "shape", "data_offsets" };
	char q[QBUF];
	int k;

	if (v->type != QF_JSON_OBJECT)
		return qf_err_set(err, "%s: tensor %s: entry is %s, not an object",
				  path, name, kind(v));
	f[0] = f[1] = f[2] = NULL;
	for (size_t i = 0; i < v->n; i++) {
		for (k = 0; k < 3; k++)
			if (strcmp(v->keys[i], want[k]) == 0)
				break;
		if (k == 3)
			return qf_err_set(err, "%s: tensor %s: unknown key %s", path,
					  name, quotez(v->keys[i], q, sizeof q));
		if (f[k])
			return qf_err_set(err, "%s: tensor %s: key \"%s\" appears "
					  "twice", path, name, want[k]);
		f[k] = v->items[i];
	}
	for (k = 0; k < 3; k++)
		if (!f[k])
			return qf_err_set(err, "%s: tensor %s: no \"%s\"", path, name,
					  want[k]);
	return 0;
}

/* "dtype" into t (dtype, src_type). */
static int entry_dtype(const char *path, const char *name, const qf_json *dt,
		       qf_ckpt_tensor *t, qf_err *err)
{
	const char *dname = NULL;
	char q[QBUF];

	if (dt->type != QF_JSON_STRING)
		return qf_err_set(err, "%s: tensor %s: dtype is %s, not a string",
				  path, name, kind(dt));
	t->dtype = parse_dtype(dt, &dname);
	if (t->dtype < 0)
		return qf_err_set(err, "%s: tensor %s: dtype %s is not supported "
				  "by qf", path, name, dt->str);
	if (t->dtype == 0)
		return qf_err_set(err, "%s: tensor %s: unknown dtype %s", path, name,
				  quote(dt->str, dt->len, q, sizeof q));
	t->src_type = (char *)dname;
	return 0;
}

/* "shape" into t (ndim, dims) and its text into shape (len bytes); the
 * tensor's bytes into *bytes. */
static int entry_shape(const char *path, const char *name, const qf_json *sh,
		       qf_ckpt_tensor *t, char *shape, size_t len,
		       uint64_t *bytes, qf_err *err)
{
	uint64_t numel = 1;
	size_t o;
	int k, zero = 0;

	if (sh->type != QF_JSON_ARRAY)
		return qf_err_set(err, "%s: tensor %s: shape is %s, not an array",
				  path, name, kind(sh));
	if (sh->n > QF_MAX_DIMS)
		return qf_err_set(err, "%s: tensor %s: shape has %zu dimensions "
				  "(at most %d)", path, name, sh->n, QF_MAX_DIMS);
	t->ndim = (int)sh->n;
	for (k = 0; k < t->ndim; k++) {
		if (qf_json_u64(sh->items[k], &t->dims[k]) < 0)
			return qf_err_set(err, "%s: tensor %s: shape: dimension %d "
					  "(%.40s) is not an integer in [0, 2^64)",
					  path, name, k, numtext(sh->items[k]));
		if (t->dims[k] == 0)
			zero = 1;
	}
	shape[0] = 0;
	o = (size_t)snprintf(shape, len, "[");
	for (k = 0; k < t->ndim; k++)
		o += (size_t)snprintf(shape + o, len - o, "%s%" PRIu64,
				      k ? ", " : "", t->dims[k]);
	snprintf(shape + o, len - o, "]");
	for (k = 0; k < t->ndim && !zero; k++)
		if (__builtin_mul_overflow(numel, t->dims[k], &numel))
			return qf_err_set(err, "%s: tensor %s: shape %s has more "
					  "than 2^64 elements", path, name, shape);
	if (zero)
		numel = 0;
	if (__builtin_mul_overflow(numel, qf_dtype_size(t->dtype), bytes))
		return qf_err_set(err, "%s: tensor %s: %s shape %s needs 2^64 bytes "
				  "or more", path, name, t->src_type, shape);
	return 0;
}

/* "data_offsets" into t (offset, nbytes), relative to a data buffer of
 * data_size bytes: they must hold the bytes the dtype and shape need. */
static int entry_offsets(const char *path, const char *name, const qf_json *off,
			 const char *shape, uint64_t bytes, uint64_t data_size,
			 qf_ckpt_tensor *t, qf_err *err)
{
	uint64_t begin, end;

	if (off->type != QF_JSON_ARRAY || off->n != 2)
		return qf_err_set(err, "%s: tensor %s: data_offsets is not an "
				  "array of two integers", path, name);
	if (qf_json_u64(off->items[0], &begin) < 0)
		return qf_err_set(err, "%s: tensor %s: data_offsets: begin (%.40s) "
				  "is not an integer in [0, 2^64)", path, name,
				  numtext(off->items[0]));
	if (qf_json_u64(off->items[1], &end) < 0)
		return qf_err_set(err, "%s: tensor %s: data_offsets: end (%.40s) "
				  "is not an integer in [0, 2^64)", path, name,
				  numtext(off->items[1]));
	if (end < begin)
		return qf_err_set(err, "%s: tensor %s: data_offsets [%" PRIu64 ", %"
				  PRIu64 "] end before they begin", path, name,
				  begin, end);
	if (end - begin != bytes)
		return qf_err_set(err, "%s: tensor %s: data_offsets [%" PRIu64 ", %"
				  PRIu64 "] hold %" PRIu64 " bytes, but %s %s "
				  "needs %" PRIu64, path, name, begin, end,
				  end - begin, t->src_type, shape, bytes);
	if (end > data_size)
		return qf_err_set(err, "%s: tensor %s: data ends before offset %"
				  PRIu64 " of the data buffer (data_offsets [%"
				  PRIu64 ", %" PRIu64 "]; the buffer has %" PRIu64
				  " bytes)", path, name, end, begin, end,
				  data_size);
	t->offset = begin;
	t->nbytes = bytes;
	return 0;
}

/*
 * Parse one entry {"dtype", "shape", "data_offsets"} of the tensor `name`
 * into t (dtype, shape, src_type; offset and nbytes relative to the data
 * buffer).  data_size is the size of the data buffer.
 */
static int parse_entry(const char *path, const char *name, const qf_json *v,
		       uint64_t data_size, qf_ckpt_tensor *t, qf_err *err)
{
	const qf_json *f[3];
	char shape[QF_MAX_DIMS * 24];
	uint64_t bytes = 0;

	if (entry_fields(path, name, v, f, err) < 0 ||
	    entry_dtype(path, name, f[0], t, err) < 0 ||
	    entry_shape(path, name, f[1], t, shape, sizeof shape, &bytes,
			err) < 0)
		return -1;
	return entry_offsets(path, name, f[2], shape, bytes, data_size, t, err);
}

/* __metadata__: an object of strings, into c->meta.  Keys that clash
 * with an existing attribute, or that are no valid attribute key, and
 * values holding NUL, are left out. */
static int add_metadata(qf_ckpt *c, const char *path, const qf_json *m,
			qf_err *err)
{
	char q[QBUF];
	qf_err e2;

	if (m->type != QF_JSON_OBJECT)
		return qf_err_set(err, "%s: header: __metadata__ is %s, not an "
				  "object", path, kind(m));
	for (size_t i = 0; i < m->n; i++) {
		const qf_json *v = m->items[i];
		if (v->type != QF_JSON_STRING)
			return qf_err_set(err, "%s: header: __metadata__: value of %s "
					  "is %s, not a string", path,
					  quotez(m->keys[i], q, sizeof q), kind(v));
		if (memchr(v->str, 0, v->len) || qf_rec_get(&c->meta, m->keys[i]))
			continue;
		(void)qf_rec_set(&c->meta, m->keys[i], v->str, &e2);
	}
	return 0;
}

/* ------------------------------------------------------------ one file */

static int cmp_range(const void *a, const void *b)
{
	const qf_ckpt_tensor *x = *(qf_ckpt_tensor *const *)a;
	const qf_ckpt_tensor *y = *(qf_ckpt_tensor *const *)b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/*
 * The tensors c->t[n0..n1) of one file must cover its data buffer
 * [base, base + size) exactly, back to back: no overlaps, no holes (as
 * the specification requires).  Offsets are absolute by now.  Sorting by
 * (offset, size) puts an empty tensor before one starting where it is.
 */
static int check_cover(qf_ckpt *c, size_t n0, size_t n1, const char *path,
		       uint64_t base, uint64_t size, qf_err *err)
{
	qf_ckpt_tensor **v = malloc((n1 - n0 + 1) * sizeof *v);
	const qf_ckpt_tensor *prev = NULL;
	uint64_t pos = base;
	size_t m = n1 - n0;
	int rc = 0;

	if (!v)
		return qf_err_set(err, "%s: out of memory", path);
	for (size_t i = 0; i < m; i++)
		v[i] = &c->t[n0 + i];
	qsort(v, m, sizeof *v, cmp_range);
	for (size_t i = 0; i < m && rc == 0; i++) {
		const qf_ckpt_tensor *t = v[i];
		if (t->offset < pos)
			rc = qf_err_set(err, "%s: tensor %s: data_offsets [%" PRIu64
					", %" PRIu64 "] overlap tensor %s's [%" PRIu64
					", %" PRIu64 "]", path, t->name,
					t->offset - base, t->offset - base + t->nbytes,
					prev->name, prev->offset - base,
					prev->offset - base + prev->nbytes);
		else if (t->offset > pos && prev)
			rc = qf_err_set(err, "%s: data bytes [%" PRIu64 ", %" PRIu64
					") belong to no tensor (between tensors %s "
					"and %s)", path, pos - base,
					t->offset - base, prev->name, t->name);
		else if (t->offset > pos)
			rc = qf_err_set(err, "%s: data bytes [%" PRIu64 ", %" PRIu64
					") belong to no tensor (before tensor %s)",
					path, pos - base, t->offset - base, t->name);
		pos = t->offset + t->nbytes;
		prev = t;
	}
	if (rc == 0 && pos < base + size && prev)
		rc = qf_err_set(err, "%s: data bytes [%" PRIu64 ", %" PRIu64
				") belong to no tensor (after tensor %s)", path,
				pos - base, size, prev->name);
	else if (rc == 0 && pos < base + size)
		rc = qf_err_set(err, "%s: data bytes [0, %" PRIu64 ") belong to "
				"no tensor (the header lists none)", path, size);
	free(v);
	return rc;
}

/* Record that tensors c->t[n0..) came from the last shard opened. */
static int set_shard(qf_ckpt *c, struct st *s, size_t n0, qf_err *err)
{
	size_t *so = realloc(s->shard_of, (c->n ? c->n : 1) * sizeof *so);

	if (!so)
		return qf_err_set(err, "%s: out of memory", c->path);
	s->shard_of = so;
	for (size_t i = n0; i < c->n; i++)
		so[i] = s->nshard - 1;
	return 0;
}

/* JSON text that must be an object: name is what messages start with.
 * NULL on error. */
static qf_json *parse_object(const char *text, size_t n, const char *name,
			     qf_err *err)
{
	qf_json *j = qf_json_parse(text, n, name, err);
	long long nul;

	if (!j)
		return NULL;
	nul = nul_escape(text, n);
	if (nul >= 0)
		qf_err_set(err, "%s: offset %lld: \\u0000 in a string", name, nul);
	else if (j->type != QF_JSON_OBJECT)
		qf_err_set(err, "%s: not a JSON object", name);
	else
		return j;
	qf_json_free(j);
	return NULL;
}

/* Open path as the next shard of s: a regular file of *size bytes.
 * Returns its descriptor, or -1. */
static int open_shard(struct st *s, const char *path, uint64_t *size,
		      qf_err *err)
{
	struct stat sb;
	int *fds, fd;

	fds = realloc(s->fd, (s->nshard + 1) * sizeof *fds);
	if (!fds)
		return qf_err_set(err, "%s: out of memory", path);
	s->fd = fds;
	/* O_NONBLOCK: a FIFO posing as a shard must not hang the open */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return qf_err_set(err, "%s: %s", path, strerror(errno));
	s->fd[s->nshard++] = fd;
	if (fstat(fd, &sb) < 0)
		return qf_err_set(err, "%s: %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return qf_err_set(err, "%s: not a regular file", path);
	*size = (uint64_t)sb.st_size;
	return fd;
}

/* The header's text, n bytes after the 8-byte length: malloc'd, or NULL. */
static char *read_header(int fd, const char *path, uint64_t size,
			 uint64_t *n, qf_err *err)
{
	unsigned char lenbuf[8];
	char *text;

	if (size < 8)
		return qf_err_set(err, "%s: header: offset 0: the file has %" PRIu64
				  " bytes, too few for the 8-byte header length",
				  path, size), NULL;
	if (qf_pread_all(fd, lenbuf, 8, 0, path, err) < 0)
		return NULL;
	*n = qf_get_u64(lenbuf);
	if (*n > MAX_HEADER)
		return qf_err_set(err, "%s: header: offset 0: header length %" PRIu64
				  " is over the limit of %u bytes", path, *n,
				  MAX_HEADER), NULL;
	if (*n > size - 8)
		return qf_err_set(err, "%s: header: offset 0: header length %" PRIu64
				  " runs past the end of the file (%" PRIu64
				  " bytes)", path, *n, size), NULL;
	text = malloc(*n + 1);
	if (!text)
		return qf_err_set(err, "%s: out of memory", path), NULL;
	if (qf_pread_all(fd, text, *n, 8, path, err) < 0) {
		free(text);
		return NULL;
	}
	if (*n == 0 || text[0] != '{') {
		free(text);
		return qf_err_set(err, "%s: header: offset 0: does not start "
				  "with '{'", path), NULL;
	}
	return text;
}

/* The header's tensors (data at base in a file of size bytes) into c,
 * its __metadata__ into c->meta. */
static int header_tensors(qf_ckpt *c, const char *path, const qf_json *j,
			  uint64_t base, uint64_t size, qf_err *err)
{
	int have_meta = 0;

	for (size_t i = 0; i < j->n; i++) {
		const char *name = j->keys[i];
		qf_ckpt_tensor t;

		if (strcmp(name, "__metadata__") == 0) {
			if (have_meta++)
				return qf_err_set(err, "%s: header: __metadata__ "
						  "appears twice", path);
			if (add_metadata(c, path, j->items[i], err) < 0)
				return -1;
			continue;
		}
		memset(&t, 0, sizeof t);
		if (check_name(path, "header", name, err) < 0 ||
		    parse_entry(path, name, j->items[i], size - base, &t, err) < 0)
			return -1;
		t.name = (char *)name;
		t.file = (char *)path;
		t.offset += base;
		if (qf_ckpt_add(c, &t, err) < 0)
			return -1;
	}
	return 0;
}

/* Open one safetensors file, check its header and add its tensors. */
static int load_file(qf_ckpt *c, struct st *s, const char *path, qf_err *err)
{
	char *text = NULL, *jname = NULL;
	qf_json *j = NULL;
	uint64_t n = 0, size = 0, base;
	size_t n0 = c->n, jlen = strlen(path) + sizeof ": header";
	int fd, rc = -1;

	fd = open_shard(s, path, &size, err);
	if (fd < 0 || !(text = read_header(fd, path, size, &n, err)))
		return -1;
	base = 8 + n;
	jname = malloc(jlen);
	if (!jname) {
		qf_err_set(err, "%s: out of memory", path);
		goto out;
	}
	snprintf(jname, jlen, "%s: header", path);
	j = parse_object(text, n, jname, err);
	if (!j || header_tensors(c, path, j, base, size, err) < 0 ||
	    check_cover(c, n0, c->n, path, base, size - base, err) < 0 ||
	    set_shard(c, s, n0, err) < 0)
		goto out;
	rc = 0;
out:
	qf_json_free(j);
	free(text);
	free(jname);
	return rc;
}

/* ------------------------------------------------------------ backend */

static int st_read(qf_ckpt *c, size_t i, void *dst, qf_err *err)
{
	struct st *s = c->impl;
	const qf_ckpt_tensor *t = &c->t[i];
	const unsigned char *p = dst;

	if (qf_pread_all(s->fd[s->shard_of[i]], dst, (size_t)t->nbytes,
			 t->offset, t->file, err) < 0)
		return -1;
	if (t->dtype == QF_BOOL)
		for (uint64_t k = 0; k < t->nbytes; k++)
			if (p[k] > 1)
				return qf_err_set(err, "%s: tensor %s: element %"
						  PRIu64 " of a BOOL tensor is %u, "
						  "not 0 or 1", t->file, t->name,
						  k, p[k]);
	return 0;
}

static void st_close(qf_ckpt *c)
{
	struct st *s = c->impl;

	if (!s)
		return;
	for (size_t k = 0; k < s->nshard; k++)
		if (s->fd[k] >= 0)
			close(s->fd[k]);
	free(s->fd);
	free(s->shard_of);
	free(s);
	c->impl = NULL;
}

static const struct qf_ckpt_backend st_be = {
	"safetensors", st_read, st_close,
};

static struct st *start(qf_ckpt *c, const char *path, qf_err *err)
{
	struct st *s = calloc(1, sizeof *s);

	if (!s) {
		qf_err_set(err, "%s: out of memory", path);
		return NULL;
	}
	c->impl = s;
	c->be = &st_be;
	return s;
}

int qf_safetensors_load(qf_ckpt *c, const char *path, qf_err *err)
{
	struct st *s = start(c, path, err);

	return s ? load_file(c, s, path, err) : -1;
}

/* ------------------------------------------------------------ sharded */

struct entry {
	const char *name;	/* tensor */
	size_t shard;
	int seen;
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name,
		      ((const struct entry *)b)->name);
}

/* A shard must be a plain file name in the index's directory. */
static int shard_name_ok(const qf_json *v)
{
	return v->len > 0 && strlen(v->str) == v->len && v->str[0] != '.' &&
		!strchr(v->str, '/');
}

/* The index's "metadata": its strings and numbers into c->meta, unless
 * the key is taken. */
static int index_meta(qf_ckpt *c, const char *path, const qf_json *m,
		      qf_err *err)
{
	qf_err e2;

	if (m->type != QF_JSON_OBJECT)
		return qf_err_set(err, "%s: metadata is %s, not an object", path,
				  kind(m));
	for (size_t i = 0; i < m->n; i++) {
		const qf_json *v = m->items[i];
		if ((v->type != QF_JSON_STRING && v->type != QF_JSON_NUMBER) ||
		    memchr(v->str, 0, v->len) || qf_rec_get(&c->meta, m->keys[i]))
			continue;
		(void)qf_rec_set(&c->meta, m->keys[i], v->str, &e2);
	}
	return 0;
}

/* The index: weight_map's entries (sorted by name once read) and the
 * distinct shards in order of appearance. */
struct index {
	const char *path;
	struct entry *e;
	size_t n;
	const char **shards;
	size_t nshards;
};

/* The index's weight_map (an object) and metadata (or NULL), each at
 * most once. */
static int index_keys(const char *path, const qf_json *j, const qf_json **wm,
		      const qf_json **meta, qf_err *err)
{
	*wm = *meta = NULL;
	for (size_t i = 0; i < j->n; i++) {
		const qf_json **slot = strcmp(j->keys[i], "weight_map") == 0 ? wm :
			strcmp(j->keys[i], "metadata") == 0 ? meta : NULL;
		if (!slot)
			continue;
		if (*slot)
			return qf_err_set(err, "%s: %s appears twice", path,
					  j->keys[i]);
		*slot = j->items[i];
	}
	if (!*wm || (*wm)->type != QF_JSON_OBJECT)
		return qf_err_set(err, "%s: %s", path, *wm ?
				  "weight_map is not an object" : "no weight_map");
	return 0;
}

/* The number of shard name v, added when new; last: the previous one. */
static size_t shard_index(struct index *x, const char *v, size_t last)
{
	size_t k;

	if (x->nshards && strcmp(x->shards[last], v) == 0)
		return last;
	for (k = 0; k < x->nshards; k++)
		if (strcmp(x->shards[k], v) == 0)
			return k;
	x->shards[x->nshards++] = v;
	return k;
}

/* weight_map's entries, checked, and its shards. */
static int index_entries(struct index *x, const qf_json *wm, qf_err *err)
{
	size_t last = 0;
	char q[QBUF];

	x->e = malloc((wm->n ? wm->n : 1) * sizeof *x->e);
	x->shards = malloc((wm->n ? wm->n : 1) * sizeof *x->shards);
	if (!x->e || !x->shards)
		return qf_err_set(err, "%s: out of memory", x->path);
	for (size_t i = 0; i < wm->n; i++) {
		const qf_json *v = wm->items[i];

		if (check_name(x->path, "weight_map", wm->keys[i], err) < 0)
			return -1;
		if (v->type != QF_JSON_STRING)
			return qf_err_set(err, "%s: tensor %s: shard is %s, not a "
					  "string", x->path, wm->keys[i], kind(v));
		if (!shard_name_ok(v))
			return qf_err_set(err, "%s: tensor %s: shard %s is not a "
					  "plain file name in the index's directory",
					  x->path, wm->keys[i],
					  quote(v->str, v->len, q, sizeof q));
		last = shard_index(x, v->str, last);
		x->e[i].name = wm->keys[i];
		x->e[i].shard = last;
		x->e[i].seen = 0;
		x->n++;
	}
	return 0;
}

/* Sort the entries by name; a name may appear once. */
static int index_sort(struct index *x, qf_err *err)
{
	qsort(x->e, x->n, sizeof *x->e, cmp_entry);
	for (size_t i = 1; i < x->n; i++)
		if (strcmp(x->e[i - 1].name, x->e[i].name) == 0)
			return qf_err_set(err, "%s: tensor %s appears twice in "
					  "weight_map", x->path, x->e[i].name);
	return 0;
}

/* The tensors c->t[n0..) of shard k (at spath) must be the index's for
 * it; they are marked seen. */
static int match_shard(qf_ckpt *c, struct index *x, size_t k, size_t n0,
		       const char *spath, qf_err *err)
{
	struct entry key, *hit;

	for (size_t i = n0; i < c->n; i++) {
		key.name = c->t[i].name;
		hit = bsearch(&key, x->e, x->n, sizeof *x->e, cmp_entry);
		if (!hit)
			return qf_err_set(err, "%s: tensor %s: not in the index's "
					  "weight_map", spath, key.name);
		if (hit->shard != k)
			return qf_err_set(err, "%s: tensor %s: the index's "
					  "weight_map puts it in %s", spath,
					  key.name, x->shards[hit->shard]);
		hit->seen = 1;
	}
	return 0;
}

/* The shard at dir + name, loaded and matched against the index. */
static int load_shard(qf_ckpt *c, struct st *s, struct index *x, size_t k,
		      const char *dir, qf_err *err)
{
	size_t len = strlen(dir) + strlen(x->shards[k]) + 1, n0 = c->n;
	char *spath = malloc(len);
	int rc;

	if (!spath)
		return qf_err_set(err, "%s: out of memory", x->path);
	snprintf(spath, len, "%s%s", dir, x->shards[k]);
	rc = load_file(c, s, spath, err);
	if (rc == 0)
		rc = match_shard(c, x, k, n0, spath, err);
	free(spath);
	return rc;
}

/* Every shard, in order of appearance; then every entry must have been
 * found in its shard. */
static int load_shards(qf_ckpt *c, struct st *s, struct index *x, qf_err *err)
{
	char *dir = strdup(x->path), *slash;
	int rc = 0;

	if (!dir)
		return qf_err_set(err, "%s: out of memory", x->path);
	slash = strrchr(dir, '/');
	if (slash)
		slash[1] = 0;
	else
		dir[0] = 0;
	for (size_t k = 0; k < x->nshards && rc == 0; k++)
		rc = load_shard(c, s, x, k, dir, err);
	free(dir);
	for (size_t i = 0; i < x->n && rc == 0; i++)
		if (!x->e[i].seen)
			rc = qf_err_set(err, "%s: tensor %s: weight_map puts it "
					"in %s, which does not hold it", x->path,
					x->e[i].name, x->shards[x->e[i].shard]);
	return rc;
}

int qf_safetensors_load_index(qf_ckpt *c, const char *path, qf_err *err)
{
	struct st *s = start(c, path, err);
	struct index x = { path, NULL, 0, NULL, 0 };
	const qf_json *wm, *meta;
	char *text = NULL;
	qf_json *j = NULL;
	size_t len;
	int rc = -1;

	if (!s || qf_read_text_file(path, MAX_HEADER, &text, &len, err) < 0)
		return -1;
	j = parse_object(text, len, path, err);
	if (!j || index_keys(path, j, &wm, &meta, err) < 0 ||
	    (meta && index_meta(c, path, meta, err) < 0) ||
	    index_entries(&x, wm, err) < 0 || index_sort(&x, err) < 0 ||
	    load_shards(c, s, &x, err) < 0)
		goto out;
	rc = 0;
out:
	free(x.shards);
	free(x.e);
	qf_json_free(j);
	free(text);
	return rc;
}
