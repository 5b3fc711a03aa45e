/*
 * ckpt.c - opening model checkpoints: format recognition, the tensor
 * list shared by every backend, config.json, and the .npy/.npz backends.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_impl.h"

/* ------------------------------------------------------------ common */

int qf_pread_all(int fd, void *buf, size_t n, uint64_t offset,
		 const char *path, qf_err *err)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t k = pread(fd, p, n, (off_t)offset);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return qf_err_set(err, "%s: read error: %s", path,
					  strerror(errno));
		}
		if (k == 0)
			return qf_err_set(err, "%s: truncated: data ends before "
					  "offset %" PRIu64, path, offset + n);
		p += k;
		n -= (size_t)k;
		offset += (uint64_t)k;
	}
	return 0;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* The index set of tensor names: open addressing, slots hold index + 1. */
static int names_insert(qf_ckpt *c, size_t idx, const char *name)
{
	if (2 * (c->n + 1) > c->hcap) {
		size_t cap = c->hcap ? c->hcap * 2 : 128;
		size_t *h = calloc(cap, sizeof *h);
		if (!h)
			return -1;
		for (size_t i = 0; i < c->hcap; i++) {
			if (!c->hash[i])
				continue;
			size_t k = name_hash(c->t[c->hash[i] - 1].name) & (cap - 1);
			while (h[k])
				k = (k + 1) & (cap - 1);
			h[k] = c->hash[i];
		}
		free(c->hash);
		c->hash = h;
		c->hcap = cap;
	}
	size_t k = name_hash(name) & (c->hcap - 1);
	while (c->hash[k]) {
		if (strcmp(c->t[c->hash[k] - 1].name, name) == 0)
			return 1;
		k = (k + 1) & (c->hcap - 1);
	}
	c->hash[k] = idx + 1;
	return 0;
}

int qf_ckpt_add(qf_ckpt *c, const qf_ckpt_tensor *t, qf_err *err)
{
	qf_ckpt_tensor *d;
	qf_rec r;
	qf_err e2;
	int rc;

	if (!t->name || !qf_utf8_valid(t->name, strlen(t->name)) || !*t->name)
		return qf_err_set(err, "%s: a tensor name is empty or not UTF-8",
				  c->path);
	qf_rec_init(&r);
	rc = qf_rec_set_name(&r, t->name, &e2);
	if (rc == 0)
		rc = qf_rec_set_shape(&r, t->dtype, t->ndim, t->dims, &e2);
	qf_rec_free(&r);
	if (rc < 0)
		return qf_err_set(err, "%s: tensor %s: %s", c->path, t->name,
				  e2.msg);
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		d = realloc(c->t, cap * sizeof *d);
		if (!d)
			return qf_err_set(err, "%s: out of memory", c->path);
		c->t = d;
		c->cap = cap;
	}
	d = &c->t[c->n];
	*d = *t;
	d->name = strdup(t->name);
	d->src_type = strdup(t->src_type ? t->src_type : "");
	d->file = strdup(t->file ? t->file : c->path);
	if (!d->name || !d->src_type || !d->file) {
		free(d->name);
		free(d->src_type);
		free(d->file);
		return qf_err_set(err, "%s: out of memory", c->path);
	}
	switch (names_insert(c, c->n, d->name)) {
	case 0:
		c->n++;
		return 0;
	case 1:
		qf_err_set(err, "%s: tensor %s appears twice", c->path, t->name);
		break;
	default:
		qf_err_set(err, "%s: out of memory", c->path);
	}
	free(d->name);
	free(d->src_type);
	free(d->file);
	return -1;
}

static int cmp_offset(const void *a, const void *b)
{
	const qf_ckpt_tensor *x = *(qf_ckpt_tensor *const *)a;
	const qf_ckpt_tensor *y = *(qf_ckpt_tensor *const *)b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int qf_ckpt_check_ranges(qf_ckpt *c, const char *file, uint64_t lo,
			 uint64_t hi, qf_err *err)
{
	qf_ckpt_tensor **v = malloc((c->n ? c->n : 1) * sizeof *v);
	const qf_ckpt_tensor *prev = NULL;
	size_t m = 0;
	int rc = 0;

	if (!v)
		return qf_err_set(err, "%s: out of memory", c->path);
	for (size_t i = 0; i < c->n; i++)
		if (!file || strcmp(c->t[i].file, file) == 0)
			v[m++] = &c->t[i];
	qsort(v, m, sizeof *v, cmp_offset);
	for (size_t i = 0; i < m && rc == 0; i++) {
		const qf_ckpt_tensor *t = v[i];
		if (t->offset < lo || t->offset > hi || t->nbytes > hi - t->offset)
			rc = qf_err_set(err, "%s: tensor %s: data [%" PRIu64 ", %"
					PRIu64 ") lies outside the file's data "
					"[%" PRIu64 ", %" PRIu64 ")",
					file ? file : c->path, t->name, t->offset,
					t->offset + t->nbytes, lo, hi);
		else if (t->nbytes > 0 && prev &&
			 prev->offset + prev->nbytes > t->offset)
			rc = qf_err_set(err, "%s: tensors %s and %s overlap",
					file ? file : c->path, prev->name,
					t->name);
		/* empty tensors may share an offset with anything */
		if (t->nbytes > 0)
			prev = t;
	}
	free(v);
	return rc;
}

/* ------------------------------------------------------------ config.json */

static char *slurp(const char *path, size_t max, size_t *len, qf_err *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		qf_err_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				qf_err_set(err, "%s: larger than %zu bytes", path, max);
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			char *b = realloc(buf, cap + 1);
			if (!b) {
				qf_err_set(err, "%s: out of memory", path);
				goto fail;
			}
			buf = b;
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	if (ferror(f)) {
		qf_err_set(err, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

int qf_read_text_file(const char *path, size_t max, char **text, size_t *len,
		      qf_err *err)
{
	*text = slurp(path, max, len, err);
	return *text ? 0 : -1;
}

/* Top-level scalars of a JSON object into attributes of meta. */
static int json_to_meta(const qf_json *j, qf_rec *meta, const char *path,
			qf_err *err)
{
	qf_err e2;

	if (j->type != QF_JSON_OBJECT)
		return qf_err_set(err, "%s: not a JSON object", path);
	for (size_t i = 0; i < j->n; i++) {
		const qf_json *v = j->items[i];
		const char *text;
		switch (v->type) {
		case QF_JSON_NUMBER:
		case QF_JSON_STRING: text = v->str; break;
		case QF_JSON_TRUE: text = "true"; break;
		case QF_JSON_FALSE: text = "false"; break;
		case QF_JSON_NULL: text = "null"; break;
		default: continue;
		}
		if (v->type == QF_JSON_STRING && memchr(v->str, 0, v->len))
			continue;
		if (qf_rec_set(meta, j->keys[i], text, &e2) < 0)
			return qf_err_set(err, "%s: key %s: %s", path, j->keys[i],
					  e2.msg);
	}
	return 0;
}

static int load_config(qf_ckpt *c, const char *path, qf_err *err)
{
	size_t len;
	char *text;
	qf_json *j;
	int rc;

	if (qf_read_text_file(path, 16u << 20, &text, &len, err) < 0)
		return -1;
	j = qf_json_parse(text, len, path, err);
	free(text);
	if (!j)
		return -1;
	rc = json_to_meta(j, &c->meta, path, err);
	qf_json_free(j);
	return rc;
}

/* ------------------------------------------------------------ npy, npz */

static int npy_read(qf_ckpt *c, size_t i, void *dst, qf_err *err)
{
	FILE *f = fopen(c->t[i].file, "rb");
	qf_rec rec;
	void *data = NULL;
	int rc;

	if (!f)
		return qf_err_set(err, "%s: %s", c->t[i].file, strerror(errno));
	qf_rec_init(&rec);
	rc = qf_npy_read(f, c->t[i].file, &rec, &data, err);
	fclose(f);
	if (rc == 0 && qf_rec_nbytes(&rec) != c->t[i].nbytes)
		rc = qf_err_set(err, "%s: changed while being read", c->path);
	if (rc == 0 && data)
		memcpy(dst, data, (size_t)c->t[i].nbytes);
	free(data);
	qf_rec_free(&rec);
	return rc;
}

/* An .npz member is found again by scanning; checkpoints in .npz are
 * small, and this keeps one array in memory at a time. */
static int npz_read(qf_ckpt *c, size_t i, void *dst, qf_err *err)
{
	qf_npz_reader *z = qf_npz_open(c->path, err);
	qf_rec rec;
	void *data = NULL;
	int rc;

	if (!z)
		return -1;
	qf_rec_init(&rec);
	while ((rc = qf_npz_next(z, &rec, &data, err)) == 1) {
		if (strcmp(rec.name, c->t[i].name) == 0) {
			if (qf_rec_nbytes(&rec) != c->t[i].nbytes)
				rc = qf_err_set(err, "%s: changed while being read",
						c->path);
			else if (data)
				memcpy(dst, data, (size_t)c->t[i].nbytes);
			break;
		}
		free(data);
		data = NULL;
	}
	if (rc == 0)
		rc = qf_err_set(err, "%s: member %s vanished", c->path, c->t[i].name);
	free(data);
	qf_rec_free(&rec);
	qf_npz_close(z);
	return rc < 0 ? -1 : 0;
}

static void no_close(qf_ckpt *c)
{
	(void)c;
}

static const struct qf_ckpt_backend npy_be = { "npy", npy_read, no_close };
static const struct qf_ckpt_backend npz_be = { "npz", npz_read, no_close };

static int add_rec(qf_ckpt *c, const qf_rec *rec, const char *src_type,
		   qf_err *err)
{
	qf_ckpt_tensor t;

	memset(&t, 0, sizeof t);
	t.name = rec->name;
	t.dtype = rec->dtype;
	t.ndim = rec->ndim;
	memcpy(t.dims, rec->dims, sizeof t.dims);
	t.src_type = (char *)src_type;
	t.nbytes = qf_rec_nbytes(rec);
	return qf_ckpt_add(c, &t, err);
}

int qf_npyfile_load(qf_ckpt *c, const char *path, qf_err *err)
{
	FILE *f = fopen(path, "rb");
	qf_rec rec;
	void *data = NULL;
	char *base, *dot;
	int rc;

	if (!f)
		return qf_err_set(err, "%s: %s", path, strerror(errno));
	qf_rec_init(&rec);
	rc = qf_npy_read(f, path, &rec, &data, err);
	fclose(f);
	free(data);
	if (rc == 0) {
		base = strrchr(path, '/');
		base = strdup(base ? base + 1 : path);
		if (!base)
			rc = qf_err_set(err, "%s: out of memory", path);
		else {
			dot = strrchr(base, '.');
			if (dot && dot != base)
				*dot = 0;
			rc = qf_rec_set_name(&rec, base, err);
			if (rc == 0)
				rc = add_rec(c, &rec, qf_dtype_name(rec.dtype), err);
			free(base);
		}
	}
	qf_rec_free(&rec);
	c->be = &npy_be;
	return rc;
}

int qf_npzfile_load(qf_ckpt *c, const char *path, qf_err *err)
{
	qf_npz_reader *z = qf_npz_open(path, err);
	qf_rec rec;
	void *data = NULL;
	int rc;

	if (!z)
		return -1;
	qf_rec_init(&rec);
	while ((rc = qf_npz_next(z, &rec, &data, err)) == 1) {
		free(data);
		data = NULL;
		if (add_rec(c, &rec, qf_dtype_name(rec.dtype), err) < 0) {
			rc = -1;
			break;
		}
	}
	qf_rec_free(&rec);
	qf_npz_close(z);
	c->be = &npz_be;
	return rc;
}

/* ------------------------------------------------------------ opening */

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

enum kind { K_UNKNOWN, K_SAFETENSORS, K_ZIP, K_GGUF, K_NPY };

static enum kind sniff(const char *path, qf_err *err)
{
	unsigned char h[9];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		qf_err_set(err, "%s: %s", path, strerror(errno));
		return K_UNKNOWN;
	}
	n = fread(h, 1, sizeof h, f);
	fclose(f);
	if (n >= 4 && memcmp(h, "GGUF", 4) == 0)
		return K_GGUF;
	if (n >= 4 && memcmp(h, "PK\3\4", 4) == 0)
		return K_ZIP;
	if (n >= 6 && memcmp(h, "\x93NUMPY", 6) == 0)
		return K_NPY;
	/* safetensors: u64 header length, then the JSON header's '{' */
	if (n == 9 && h[8] == '{')
		return K_SAFETENSORS;
	/* torch.save before 1.6: a pickle starting with its magic number */
	if (n == 9 && memcmp(h, "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9", 9) == 0) {
		qf_err_set(err, "%s: legacy torch.save format (torch < 1.6): re-save "
			   "it with torch >= 1.6", path);
		return K_UNKNOWN;
	}
	qf_err_set(err, "%s: not a checkpoint qf reads (safetensors, torch zip, "
		   "GGUF, npy, npz)", path);
	return K_UNKNOWN;
}

/* A zip with a member ending in "data.pkl" is a torch.save checkpoint;
 * any other zip is an .npz. */
static int zip_is_torch(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int torch = 0;

	archive_read_support_format_zip_seekable(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		archive_read_free(a);
		return 0;
	}
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname_utf8(e);
		size_t n = name ? strlen(name) : 0;
		if (n >= 8 && strcmp(name + n - 8, "data.pkl") == 0) {
			torch = 1;
			break;
		}
		archive_read_data_skip(a);
	}
	archive_read_free(a);
	return torch;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int load_file(qf_ckpt *c, const char *path, qf_err *err)
{
	if (ends_with(path, ".safetensors.index.json"))
		return qf_safetensors_load_index(c, path, err);
	switch (sniff(path, err)) {
	case K_GGUF: return qf_gguf_load(c, path, err);
	case K_SAFETENSORS: return qf_safetensors_load(c, path, err);
	case K_NPY: return qf_npyfile_load(c, path, err);
	case K_ZIP:
		if (zip_is_torch(path))
			return qf_torch_load(c, path, err);
		return qf_npzfile_load(c, path, err);
	default: return -1;
	}
}

/* In a Hugging Face directory, the weights file to use. */
static int load_dir(qf_ckpt *c, const char *dir, qf_err *err)
{
	static const char *const names[] = {
		"model.safetensors.index.json", "model.safetensors",
		"pytorch_model.bin",
	};
	char *p;
	int rc;

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		p = join(dir, names[i]);
		if (!p)
			return qf_err_set(err, "%s: out of memory", dir);
		if (!exists(p)) {
			free(p);
			continue;
		}
		rc = i == 0 ? qf_safetensors_load_index(c, p, err) :
			load_file(c, p, err);
		free(p);
		return rc;
	}
	return qf_err_set(err, "%s: no model.safetensors, "
			  "model.safetensors.index.json or pytorch_model.bin",
			  dir);
}

qf_ckpt *qf_ckpt_open(const char *path, qf_err *err)
{
	qf_ckpt *c = calloc(1, sizeof *c);
	char *dir = NULL, *cfg = NULL, *slash;
	int rc;

	if (!c || !(c->path = strdup(path))) {
		free(c);
		qf_err_set(err, "%s: out of memory", path);
		return NULL;
	}
	qf_rec_init(&c->meta);
	qf_rec_set_name(&c->meta, "config", NULL);
	if (is_dir(path)) {
		dir = strdup(path);
		rc = load_dir(c, path, err);
	} else {
		dir = strdup(path);
		slash = dir ? strrchr(dir, '/') : NULL;
		if (dir && slash)
			*slash = 0;
		else if (dir)
			strcpy(dir, ".");
		rc = load_file(c, path, err);
	}
	if (rc == 0 && dir && (cfg = join(dir, "config.json")) && exists(cfg))
		rc = load_config(c, cfg, err);
	free(cfg);
	free(dir);
	if (rc < 0) {
		qf_ckpt_close(c);
		return NULL;
	}
	return c;
}

const char *qf_ckpt_format(const qf_ckpt *c)
{
	return c->be ? c->be->format : "?";
}

size_t qf_ckpt_count(const qf_ckpt *c)
{
	return c->n;
}

const qf_ckpt_tensor *qf_ckpt_tensor_at(const qf_ckpt *c, size_t i)
{
	return i < c->n ? &c->t[i] : NULL;
}

int qf_ckpt_read(qf_ckpt *c, size_t i, void *dst, qf_err *err)
{
	if (i >= c->n)
		return qf_err_set(err, "%s: no tensor %zu", c->path, i);
	return c->be->read(c, i, dst, err);
}

const qf_rec *qf_ckpt_meta(const qf_ckpt *c)
{
	return &c->meta;
}

void qf_ckpt_close(qf_ckpt *c)
{
	if (!c)
		return;
	if (c->be && c->be->close)
		c->be->close(c);
	for (size_t i = 0; i < c->n; i++) {
		free(c->t[i].name);
		free(c->t[i].src_type);
		free(c->t[i].file);
	}
	free(c->t);
	free(c->hash);
	qf_rec_free(&c->meta);
	free(c->path);
	free(c);
}
