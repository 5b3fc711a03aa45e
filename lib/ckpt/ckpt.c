/*
 * ckpt.c - opening model checkpoints: format recognition, the call of
 * one backend (safetensors.c, torch.c, gguf.c, npyfile.c), config.json.
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

#include "ckpt/ckpt_impl.h"
#include "core/json.h"

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
