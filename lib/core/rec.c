/* rec.c - record headers: name, dtype, shape and attributes */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

/* ---------------------------------------------------------------- text checks */

/* Length of the well-formed UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	size_t len = p[0] < 0x80 ? 1 : p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;

	return len <= n && qf_utf8_valid((const char *)p, len) ? len : 0;
}

/* s quoted for a message: printable text as is, other bytes as \xNN,
 * long strings cut short with "...". */
static const char *quote(const char *s, char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0, k;

	buf[o++] = '"';
	while (i < n && o + 8 < len) {
		k = utf8_seq(p + i, n - i);
		if (k == 1 && (p[i] < 0x20 || p[i] == 0x7f || p[i] == '"' ||
			       p[i] == '\\'))
			k = 0;
		if (k && o + k + 5 < len) {
			memcpy(buf + o, p + i, k);
			o += k;
			i += k;
		} else if (!k) {
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", p[i]);
			i++;
		} else {
			break;
		}
	}
	if (i < n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = 0;
	return buf;
}

#define QBUF 96

static int check_name(const char *name, qf_err *err)
{
	size_t n;

	if (!name || !*name)
		return qf_err_set(err, "record name is empty");
	n = strlen(name);
	if (n > QF_MAX_NAME)
		return qf_err_set(err, "record name is too long (%zu bytes, at most %d)",
				  n, QF_MAX_NAME);
	if (!qf_utf8_valid(name, n))
		return qf_err_set(err, "record name is not valid UTF-8");
	return 0;
}

static int check_key(const char *key, qf_err *err)
{
	char q[QBUF];
	size_t n, i;

	if (!key || !*key)
		return qf_err_set(err, "attribute key is empty");
	n = strlen(key);
	if (n > QF_MAX_KEY)
		return qf_err_set(err, "attribute key %s is too long (%zu bytes, at most %d)",
				  quote(key, q, sizeof q), n, QF_MAX_KEY);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c == '=')
			return qf_err_set(err, "attribute key %s contains '='",
					  quote(key, q, sizeof q));
		if (c < 0x20 || c == 0x7f)
			return qf_err_set(err, "attribute key %s contains a control character",
					  quote(key, q, sizeof q));
	}
	if (!qf_utf8_valid(key, n))
		return qf_err_set(err, "attribute key %s is not valid UTF-8",
				  quote(key, q, sizeof q));
	return 0;
}

static int check_value(const char *key, const char *val, qf_err *err)
{
	char q[QBUF];
	size_t n;

	if (!val)
		return qf_err_set(err, "attribute %s has no value",
				  quote(key, q, sizeof q));
	n = strlen(val);
	if (n > QF_MAX_VALUE)
		return qf_err_set(err, "attribute %s: value is too long (%zu bytes, at most %u)",
				  quote(key, q, sizeof q), n, QF_MAX_VALUE);
	if (!qf_utf8_valid(val, n))
		return qf_err_set(err, "attribute %s: value is not valid UTF-8",
				  quote(key, q, sizeof q));
	return 0;
}

/* ---------------------------------------------------------------- shape */

static char *shape_text(int ndim, const uint64_t *dims, char *buf, size_t len)
{
	size_t o = 0;
	int k, w;

	if (!len)
		return buf;
	buf[0] = 0;
	w = snprintf(buf, len, "[");
	for (k = 0; k < ndim && w >= 0 && (o += (size_t)w) < len; k++)
		w = snprintf(buf + o, len - o, "%s%llu", k ? ", " : "",
			     (unsigned long long)dims[k]);
	if (w >= 0 && (o += (size_t)w) < len)
		snprintf(buf + o, len - o, "]");
	return buf;
}

/*
 * The dtype, rank and size rules.  The product of the non-zero
 * dimensions times the element size must stay within QF_MAX_PAYLOAD, so
 * that every partial product of the shape is small, even for an empty
 * tensor.
 */
static int check_shape(int dtype, int ndim, const uint64_t *dims, qf_err *err)
{
	uint64_t bytes = qf_dtype_size(dtype);
	char s[QF_MAX_DIMS * 24];
	int k;

	if (!bytes)
		return qf_err_set(err, "unknown dtype code %d", dtype);
	if (ndim < 0 || ndim > QF_MAX_DIMS)
		return qf_err_set(err, "%d dimensions (at most %d)", ndim,
				  QF_MAX_DIMS);
	if (ndim && !dims)
		return qf_err_set(err, "no dimensions given");
	for (k = 0; k < ndim; k++) {
		if (!dims[k])
			continue;
		if (dims[k] > QF_MAX_PAYLOAD / bytes)
			return qf_err_set(err, "%s tensor of shape %s is too large (limit %llu bytes)",
					  qf_dtype_name(dtype),
					  shape_text(ndim, dims, s, sizeof s),
					  (unsigned long long)QF_MAX_PAYLOAD);
		bytes *= dims[k];
	}
	return 0;
}

char *qf_rec_shape_str(const qf_rec *rec, char *buf, size_t len)
{
	int ndim = rec->ndim < 0 ? 0 : rec->ndim > QF_MAX_DIMS ? QF_MAX_DIMS : rec->ndim;

	return shape_text(ndim, rec->dims, buf, len);
}

uint64_t qf_rec_numel(const qf_rec *rec)
{
	uint64_t n = 1;
	int k;

	for (k = 0; k < rec->ndim && k < QF_MAX_DIMS; k++)
		n *= rec->dims[k];
	return n;
}

uint64_t qf_rec_nbytes(const qf_rec *rec)
{
	return qf_rec_numel(rec) * qf_dtype_size(rec->dtype);
}

int qf_rec_set_shape(qf_rec *rec, int dtype, int ndim, const uint64_t *dims,
		     qf_err *err)
{
	int k;

	if (check_shape(dtype, ndim, dims, err) < 0)
		return -1;
	rec->dtype = dtype;
	rec->ndim = ndim;
	for (k = 0; k < QF_MAX_DIMS; k++)
		rec->dims[k] = k < ndim ? dims[k] : 0;
	return 0;
}

/* ---------------------------------------------------------------- life cycle */

void qf_rec_init(qf_rec *rec)
{
	memset(rec, 0, sizeof *rec);
}

void qf_rec_free(qf_rec *rec)
{
	size_t i;

	for (i = 0; i < rec->nattr; i++) {
		free(rec->attr[i].key);
		free(rec->attr[i].val);
	}
	free(rec->attr);
	free(rec->name);
	qf_rec_init(rec);
}

int qf_rec_copy(qf_rec *dst, const qf_rec *src, qf_err *err)
{
	qf_rec t;
	size_t i;

	if (dst == src)
		return 0;
	t = *src;
	t.name = NULL;
	t.attr = NULL;
	t.nattr = t.attr_cap = 0;
	if (src->name && !(t.name = strdup(src->name)))
		goto nomem;
	if (src->nattr) {
		t.attr = calloc(src->nattr, sizeof *t.attr);
		if (!t.attr)
			goto nomem;
		t.attr_cap = src->nattr;
		for (i = 0; i < src->nattr; i++, t.nattr++) {
			t.attr[i].key = strdup(src->attr[i].key);
			t.attr[i].val = strdup(src->attr[i].val);
			if (!t.attr[i].key || !t.attr[i].val) {
				t.nattr++;
				goto nomem;
			}
		}
	}
	qf_rec_free(dst);
	*dst = t;
	return 0;
nomem:
	qf_rec_free(&t);
	return qf_err_set(err, "out of memory");
}

int qf_rec_set_name(qf_rec *rec, const char *name, qf_err *err)
{
	char *p;

	if (check_name(name, err) < 0)
		return -1;
	p = strdup(name);
	if (!p)
		return qf_err_set(err, "out of memory");
	free(rec->name);
	rec->name = p;
	return 0;
}

/* ---------------------------------------------------------------- attributes */

static qf_attr *find(const qf_rec *rec, const char *key)
{
	size_t i;

	for (i = 0; i < rec->nattr; i++)
		if (strcmp(rec->attr[i].key, key) == 0)
			return &rec->attr[i];
	return NULL;
}

const char *qf_rec_get(const qf_rec *rec, const char *key)
{
	qf_attr *a = key ? find(rec, key) : NULL;

	return a ? a->val : NULL;
}

static int grow(qf_rec *rec, qf_err *err)
{
	size_t cap = rec->attr_cap ? rec->attr_cap * 2 : 8;
	qf_attr *a;

	if (rec->nattr < rec->attr_cap)
		return 0;
	if (cap > QF_MAX_ATTRS)
		cap = QF_MAX_ATTRS;
	a = realloc(rec->attr, cap * sizeof *a);
	if (!a)
		return qf_err_set(err, "out of memory");
	rec->attr = a;
	rec->attr_cap = cap;
	return 0;
}

int qf_rec_set(qf_rec *rec, const char *key, const char *val, qf_err *err)
{
	qf_attr *a;
	char *k, *v;

	if (check_key(key, err) < 0 || check_value(key, val, err) < 0)
		return -1;
	a = find(rec, key);
	if (!a && rec->nattr >= QF_MAX_ATTRS)
		return qf_err_set(err, "too many attributes (at most %d)",
				  QF_MAX_ATTRS);
	if (!a && grow(rec, err) < 0)
		return -1;
	v = strdup(val);
	if (!v)
		return qf_err_set(err, "out of memory");
	if (a) {
		free(a->val);
		a->val = v;
		return 0;
	}
	k = strdup(key);
	if (!k) {
		free(v);
		return qf_err_set(err, "out of memory");
	}
	rec->attr[rec->nattr].key = k;
	rec->attr[rec->nattr].val = v;
	rec->nattr++;
	return 0;
}

int qf_rec_setf(qf_rec *rec, qf_err *err, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *buf;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return qf_err_set(err, "cannot format attribute value");
	buf = malloc((size_t)n + 1);
	if (!buf)
		return qf_err_set(err, "out of memory");
	va_start(ap, fmt);
	vsnprintf(buf, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = qf_rec_set(rec, key, buf, err);
	free(buf);
	return rc;
}

/* Returns 1 when key was there and is removed, 0 when it was absent. */
int qf_rec_del(qf_rec *rec, const char *key)
{
	qf_attr *a = key ? find(rec, key) : NULL;
	size_t i;

	if (!a)
		return 0;
	i = (size_t)(a - rec->attr);
	free(a->key);
	free(a->val);
	memmove(a, a + 1, (rec->nattr - i - 1) * sizeof *a);
	rec->nattr--;
	return 1;
}

/* ---------------------------------------------------------------- whole header */

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int check_unique(const qf_rec *rec, qf_err *err)
{
	char q[QBUF];
	char **keys;
	size_t i;
	int rc = 0;

	if (rec->nattr < 2)
		return 0;
	keys = malloc(rec->nattr * sizeof *keys);
	if (!keys)
		return qf_err_set(err, "out of memory");
	for (i = 0; i < rec->nattr; i++)
		keys[i] = rec->attr[i].key;
	qsort(keys, rec->nattr, sizeof *keys, cmp_key);
	for (i = 1; i < rec->nattr && !rc; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			rc = qf_err_set(err, "duplicate attribute key %s",
					quote(keys[i], q, sizeof q));
	free(keys);
	return rc;
}

int qf_rec_check(const qf_rec *rec, qf_err *err)
{
	size_t i;

	if (check_name(rec->name, err) < 0 ||
	    check_shape(rec->dtype, rec->ndim, rec->dims, err) < 0)
		return -1;
	if (rec->nattr > QF_MAX_ATTRS)
		return qf_err_set(err, "too many attributes (%zu, at most %d)",
				  rec->nattr, QF_MAX_ATTRS);
	if (rec->nattr && !rec->attr)
		return qf_err_set(err, "attribute list missing");
	for (i = 0; i < rec->nattr; i++)
		if (check_key(rec->attr[i].key, err) < 0 ||
		    check_value(rec->attr[i].key, rec->attr[i].val, err) < 0)
			return -1;
	return check_unique(rec, err);
}
