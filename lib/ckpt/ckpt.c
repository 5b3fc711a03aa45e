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

/* ------------------------------------------------------------ settings */

/* The model settings qf reads from config.json (Hugging Face's names) or
 * from GGUF metadata (llama.cpp's): checked when the checkpoint is
 * opened, so that a bad value is an error naming its file and key, not a
 * config record a model fails on later in another tool. */
enum { S_COUNT, S_COUNT_OR_NULL, S_EPS };
static const struct setting {
	const char *key;
	int kind;
} settings[] = {
	{ "n_layer", S_COUNT }, { "gpt2.block_count", S_COUNT },
	{ "n_embd", S_COUNT }, { "gpt2.embedding_length", S_COUNT },
	{ "n_head", S_COUNT }, { "gpt2.attention.head_count", S_COUNT },
	{ "n_positions", S_COUNT }, { "n_ctx", S_COUNT },
	{ "gpt2.context_length", S_COUNT },
	{ "n_inner", S_COUNT_OR_NULL }, { "gpt2.feed_forward_length", S_COUNT },
	{ "vocab_size", S_COUNT },
	{ "layer_norm_epsilon", S_EPS },
	{ "gpt2.attention.layer_norm_epsilon", S_EPS },
};
#define NSETTINGS (sizeof settings / sizeof *settings)

static const struct setting *find_setting(const char *key)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

static const char *json_type_name(int type)
{
	static const char *const names[] = {
		[QF_JSON_NULL] = "null", [QF_JSON_FALSE] = "false",
		[QF_JSON_TRUE] = "true", [QF_JSON_NUMBER] = "a number",
		[QF_JSON_STRING] = "a string", [QF_JSON_ARRAY] = "an array",
		[QF_JSON_OBJECT] = "an object",
	};

	return type >= 0 && type <= QF_JSON_OBJECT ? names[type] : "?";
}

/* A setting of config.json must be a JSON number (n_inner may be null). */
static int check_setting_type(const char *path, const char *key,
			      const qf_json *v, qf_err *err)
{
	const struct setting *s = find_setting(key);

	if (!s || v->type == QF_JSON_NUMBER ||
	    (v->type == QF_JSON_NULL && s->kind == S_COUNT_OR_NULL))
		return 0;
	return qf_err_set(err, "%s: key %s: %s, not a number", path, key,
			  json_type_name(v->type));
}

/* One setting's value, as text. */
static int check_setting(const char *file, const struct setting *s,
			 const char *v, qf_err *err)
{
	uint64_t u;
	double x;
	qf_err e2;

	if (s->kind == S_EPS) {
		if (qf_parse_double(v, &x, &e2) < 0 || !(x > 0 && x < 1))
			return qf_err_set(err, "%s: key %s: '%s' is not a finite "
					  "number between 0 and 1", file, s->key,
					  v);
		return 0;
	}
	if (s->kind == S_COUNT_OR_NULL && strcmp(v, "null") == 0)
		return 0;
	if (qf_parse_u64(v, INT32_MAX, &u, &e2) < 0 || u == 0)
		return qf_err_set(err, "%s: key %s: '%s' is not a whole number "
				  "from 1 to %d", file, s->key, v, INT32_MAX);
	return 0;
}

/* n_embd must be a multiple of n_head (under either naming). */
static int check_heads(const qf_rec *meta, const char *file, const char *d,
		       const char *h, qf_err *err)
{
	const char *dv = qf_rec_get(meta, d), *hv = qf_rec_get(meta, h);

	if (!dv || !hv || strtoull(dv, NULL, 10) % strtoull(hv, NULL, 10) == 0)
		return 0;
	return qf_err_set(err, "%s: %s %s is not a multiple of %s %s", file, d,
			  dv, h, hv);
}

/* Every setting present in meta, whose values came from file. */
static int check_settings(const qf_rec *meta, const char *file, qf_err *err)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v = qf_rec_get(meta, settings[i].key);
		if (v && check_setting(file, &settings[i], v, err) < 0)
			return -1;
	}
	if (check_heads(meta, file, "n_embd", "n_head", err) < 0 ||
	    check_heads(meta, file, "gpt2.embedding_length",
			"gpt2.attention.head_count", err) < 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------ config.json */

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
		if (check_setting_type(path, j->keys[i], v, err) < 0)
			return -1;
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
	if (rc == 0)
		rc = check_settings(&c->meta, path, err);
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
	/* the metadata of the file itself (GGUF's, safetensors') */
	if (rc == 0)
		rc = check_settings(&c->meta, c->path, err);
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
