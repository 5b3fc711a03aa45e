/*
 * checkpoint.c - saving and resuming training (train.h, docs/train.md):
 * the weights as a weight stream every qf tool reads (the config record
 * and every tensor in f32 under its canonical name), and beside them
 * PATH.opt, the optimizer state: the train record (step, tokens, seed,
 * the options, the FNV-1a hash of the weights it belongs to), the
 * sampling generator, and Adam's two moments of every tensor.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_impl.h"

/* What a save writes. */
struct save {
	qf_train *t;
	const qf_train_opts *o;
	const qf_rec *meta;
	uint64_t fnv;
};

/* ------------------------------------------------------------ writing */

/* The shortest of %.6g .. %.9g that reads back as x. */
static void float_text(char *buf, size_t n, float x)
{
	for (int p = 6; p <= 9; p++) {
		snprintf(buf, n, "%.*g", p, (double)x);
		if (strtof(buf, NULL) == x)
			return;
	}
}

/* The shortest of %.15g .. %.17g that reads back as x. */
static int set_double(qf_rec *rec, const char *key, double x, qf_err *err)
{
	char buf[40];

	for (int p = 15; p <= 17; p++) {
		snprintf(buf, sizeof buf, "%.*g", p, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	return qf_rec_set(rec, key, buf, err);
}

static uint64_t weights_fnv(const qf_train *t)
{
	uint64_t h = QF_FNV1A_INIT;

	for (size_t i = 0; i < t->nt; i++)
		h = qf_fnv1a(h, t->w + t->t[i].off, t->t[i].n * sizeof *t->w);
	return h;
}

static int put_header(qf_writer *w, const qf_rec *rec, qf_err *err)
{
	return qf_writer_put(w, rec, NULL, err);
}

/* A record of n elements of dtype, 1-d, of kind `kind`, into rec. */
static int new_record(qf_rec *rec, const char *name, int dtype, uint64_t n,
		      const char *kind, qf_err *err)
{
	int rc = 0;

	qf_rec_init(rec);
	rc |= qf_rec_set_name(rec, name, err);
	rc |= qf_rec_set_shape(rec, dtype, 1, &n, err);
	rc |= qf_rec_set(rec, "kind", kind, err);
	return rc;
}

/* A tensor record: name, f32 [dims] of x, attributes as weights.md says
 * (kind etc.) or, for the optimizer's, kind and param. */
static int put_tensor(qf_writer *w, const char *name, const struct tensor *x,
		      const char *kind, const float *data, qf_err *err)
{
	qf_rec rec;
	int rc = 0;

	qf_rec_init(&rec);
	rc |= qf_rec_set_name(&rec, name, err);
	rc |= qf_rec_set_shape(&rec, QF_F32, x->ndim, x->dims, err);
	if (kind) {
		rc |= qf_rec_set(&rec, "kind", kind, err);
		rc |= qf_rec_set(&rec, "param", x->name, err);
	} else {
		rc |= qf_rec_set(&rec, "kind", x->kind, err);
		rc |= qf_rec_set(&rec, "module", x->module, err);
		rc |= qf_rec_set(&rec, "param", x->param, err);
		if (x->layer >= 0)
			rc |= qf_rec_setf(&rec, err, "layer", "%d", x->layer);
	}
	if (rc == 0)
		rc = qf_writer_put(w, &rec, data, err);
	qf_rec_free(&rec);
	return rc ? -1 : 0;
}

/* The optimizer state's first record: its counts, seed, weights' hash and
 * options, then the attributes of meta that it does not have. */
static int put_train(qf_writer *w, const struct save *s, qf_err *err)
{
	const qf_train *t = s->t;
	const qf_train_opts *o = s->o;
	qf_rec rec;
	int rc = new_record(&rec, "train", QF_U8, 0, "train_state", err);

	rc |= qf_rec_set(&rec, "format", "1", err);
	rc |= qf_rec_setf(&rec, err, "step", "%" PRIu64, t->step);
	rc |= qf_rec_setf(&rec, err, "tokens", "%" PRIu64, t->tokens);
	rc |= qf_rec_setf(&rec, err, "seed", "%" PRIu64, t->seed);
	rc |= qf_rec_setf(&rec, err, "weights_fnv", "%016" PRIx64, s->fnv);
	rc |= set_double(&rec, "lr", o->lr, err);
	rc |= set_double(&rec, "min_lr", o->min_lr, err);
	rc |= qf_rec_setf(&rec, err, "warmup", "%" PRIu64, o->warmup);
	rc |= qf_rec_setf(&rec, err, "steps", "%" PRIu64, o->steps);
	rc |= set_double(&rec, "weight_decay", o->weight_decay, err);
	rc |= set_double(&rec, "beta1", o->beta1, err);
	rc |= set_double(&rec, "beta2", o->beta2, err);
	rc |= set_double(&rec, "eps", o->eps, err);
	rc |= set_double(&rec, "clip", o->clip, err);
	for (size_t i = 0; s->meta && i < s->meta->nattr && !rc; i++)
		if (!qf_rec_get(&rec, s->meta->attr[i].key))
			rc |= qf_rec_set(&rec, s->meta->attr[i].key,
					 s->meta->attr[i].val, err);
	if (!rc)
		rc = put_header(w, &rec, err);
	qf_rec_free(&rec);
	return rc ? -1 : 0;
}

/* The sampling generator's state. */
static int put_rng(qf_writer *w, const qf_train *t, qf_err *err)
{
	qf_rec rec;
	int rc = new_record(&rec, "rng", QF_U64, 4, "rng_state", err);

	rc |= qf_rec_set(&rec, "generator", "xoshiro256**", err);
	if (!rc)
		rc = qf_writer_put(w, &rec, t->rng, err);
	qf_rec_free(&rec);
	return rc ? -1 : 0;
}

/* The optimizer state: the train record, the generator, the moments. */
static int put_opt(qf_writer *w, const struct save *s, qf_err *err)
{
	const qf_train *t = s->t;
	char name[128];
	int rc;

	if (put_train(w, s, err) < 0 || put_rng(w, t, err) < 0)
		return -1;
	rc = 0;
	for (size_t i = 0; i < t->nt && !rc; i++) {
		snprintf(name, sizeof name, "adam.m.%s", t->t[i].name);
		rc = put_tensor(w, name, &t->t[i], "adam_m", t->m + t->t[i].off,
				err);
		snprintf(name, sizeof name, "adam.v.%s", t->t[i].name);
		if (!rc)
			rc = put_tensor(w, name, &t->t[i], "adam_v",
					t->v + t->t[i].off, err);
	}
	return rc;
}

/* The config record of the weights: GPT-2's attributes (formats/weights.md)
 * and the step and tokens they are from. */
static int put_config(qf_writer *w, const qf_train *t, qf_err *err)
{
	const qf_model_config *c = &t->cfg;
	qf_rec rec;
	char eps[32];
	int rc = new_record(&rec, "config", QF_U8, 0, "config", err);

	float_text(eps, sizeof eps, c->norm_eps);
	rc |= qf_rec_set(&rec, "arch", "gpt2", err);
	rc |= qf_rec_setf(&rec, err, "n_layer", "%d", c->n_layer);
	rc |= qf_rec_setf(&rec, err, "n_embd", "%d", c->n_embd);
	rc |= qf_rec_setf(&rec, err, "n_head", "%d", c->n_head);
	rc |= qf_rec_setf(&rec, err, "n_ctx", "%d", c->n_ctx);
	rc |= qf_rec_setf(&rec, err, "n_inner", "%d", c->n_inner);
	rc |= qf_rec_setf(&rec, err, "vocab_size", "%d", c->vocab_size);
	rc |= qf_rec_set(&rec, "layer_norm_epsilon", eps, err);
	rc |= qf_rec_set(&rec, "activation", "gelu_new", err);
	rc |= qf_rec_set(&rec, "tie_word_embeddings", "true", err);
	rc |= qf_rec_set(&rec, "source_format", "qf-train", err);
	rc |= qf_rec_setf(&rec, err, "train_step", "%" PRIu64, t->step);
	rc |= qf_rec_setf(&rec, err, "train_tokens", "%" PRIu64, t->tokens);
	if (!rc)
		rc = put_header(w, &rec, err);
	qf_rec_free(&rec);
	return rc ? -1 : 0;
}

/* The weights: the config record, every tensor. */
static int put_weights(qf_writer *w, const struct save *s, qf_err *err)
{
	const qf_train *t = s->t;
	int rc = put_config(w, t, err);

	for (size_t i = 0; i < t->nt && !rc; i++)
		rc = put_tensor(w, t->t[i].name, &t->t[i], NULL,
				t->w + t->t[i].off, err);
	return rc;
}

/* Write path atomically with what put writes: all of it, or nothing. */
static int write_file(const char *path,
		      int (*put)(qf_writer *, const struct save *, qf_err *),
		      const struct save *s, qf_err *err)
{
	qf_writer *w = qf_writer_open(path, NULL, err);

	if (!w)
		return -1;
	if (put(w, s, err) < 0) {
		qf_writer_abort(w);
		return -1;
	}
	return qf_writer_close(w, err);
}

static char *opt_path(const char *path, qf_err *err)
{
	size_t n = strlen(path) + 5;
	char *p = malloc(n);

	if (!p)
		qf_err_set(err, "out of memory");
	else
		snprintf(p, n, "%s.opt", path);
	return p;
}

int qf_train_save(qf_train *t, const char *path, const qf_train_opts *o,
		  const qf_rec *meta, qf_err *err)
{
	struct save s = { .t = t, .o = o, .meta = meta };
	char *op;
	int rc;

	if (strcmp(path, "-") == 0)
		return qf_err_set(err, "a checkpoint needs a file name, not "
				  "standard output");
	if (!(op = opt_path(path, err)))
		return -1;
	s.fnv = weights_fnv(t);
	rc = write_file(op, put_opt, &s, err);
	if (rc == 0)
		rc = write_file(path, put_weights, &s, err);
	free(op);
	return rc;
}

/* ------------------------------------------------------------ reading */

/* An attribute of the train record as a number. */
static int meta_u64(const qf_rec *rec, const char *file, const char *key,
		    uint64_t *out, qf_err *err)
{
	const char *v = qf_rec_get(rec, key);
	qf_err e2;

	if (!v || qf_parse_u64(v, UINT64_MAX, out, &e2) < 0)
		return qf_err_set(err, "%s: record train: attribute %s %s", file,
				  key, v ? "is not a count" : "missing");
	return 0;
}

static int meta_double(const qf_rec *rec, const char *file, const char *key,
		       double *out, qf_err *err)
{
	const char *v = qf_rec_get(rec, key);
	qf_err e2;

	if (!v || qf_parse_double(v, out, &e2) < 0)
		return qf_err_set(err, "%s: record train: attribute %s %s", file,
				  key, v ? "is not a number" : "missing");
	return 0;
}

static int read_train_rec(qf_train *t, const qf_rec *rec, const char *file,
			  qf_train_opts *o, uint64_t *fnv, qf_err *err)
{
	const char *v = qf_rec_get(rec, "kind"), *f = qf_rec_get(rec, "format");
	qf_err e2;

	if (strcmp(rec->name, "train") != 0 || !v ||
	    strcmp(v, "train_state") != 0)
		return qf_err_set(err, "%s: record %s: expected the train record "
				  "of an optimizer state first", file, rec->name);
	if (!f || strcmp(f, "1") != 0)
		return qf_err_set(err, "%s: record train: format '%s' not "
				  "supported (1)", file, f ? f : "");
	v = qf_rec_get(rec, "weights_fnv");
	if (!v || strlen(v) != 16 || sscanf(v, "%" SCNx64, fnv) != 1)
		return qf_err_set(err, "%s: record train: attribute weights_fnv "
				  "missing or malformed", file);
	if (meta_u64(rec, file, "step", &t->step, err) < 0 ||
	    meta_u64(rec, file, "tokens", &t->tokens, err) < 0 ||
	    meta_u64(rec, file, "seed", &t->seed, err) < 0 ||
	    meta_double(rec, file, "lr", &o->lr, err) < 0 ||
	    meta_double(rec, file, "min_lr", &o->min_lr, err) < 0 ||
	    meta_u64(rec, file, "warmup", &o->warmup, err) < 0 ||
	    meta_u64(rec, file, "steps", &o->steps, err) < 0 ||
	    meta_double(rec, file, "weight_decay", &o->weight_decay, err) < 0 ||
	    meta_double(rec, file, "beta1", &o->beta1, err) < 0 ||
	    meta_double(rec, file, "beta2", &o->beta2, err) < 0 ||
	    meta_double(rec, file, "eps", &o->eps, err) < 0 ||
	    meta_double(rec, file, "clip", &o->clip, err) < 0)
		return -1;
	if (qf_train_opts_check(o, &e2) < 0)
		return qf_err_set(err, "%s: record train: %s", file, e2.msg);
	return 0;
}

/* Where record rec of the optimizer state goes: *k its place in the list
 * of records expected (2 i + 0 or 1: adam.m or adam.v of tensor i; 2 nt:
 * rng), *dst and *bytes where its payload is copied.  Its type and shape
 * are checked. */
static int opt_slot(qf_train *t, const qf_rec *rec, const char *file,
		    size_t *k, void **dst, size_t *bytes, qf_err *err)
{
	const struct tensor *x = NULL;

	if (strcmp(rec->name, "rng") == 0) {
		if (rec->dtype != QF_U64 || rec->ndim != 1 || rec->dims[0] != 4)
			return qf_err_set(err, "%s: record rng: expected u64 [4]",
					  file);
		*k = 2 * t->nt;
		*dst = t->rng;
		*bytes = sizeof t->rng;
		return 0;
	}
	for (size_t i = 0; i < t->nt && !x; i++)
		for (int mv = 0; mv < 2; mv++) {
			const char *pre = mv ? "adam.v." : "adam.m.";

			if (strncmp(rec->name, pre, 7) == 0 &&
			    strcmp(rec->name + 7, t->t[i].name) == 0) {
				x = &t->t[i];
				*k = 2 * i + (size_t)mv;
				*dst = (mv ? t->v : t->m) + x->off;
			}
		}
	if (!x)
		return qf_err_set(err, "%s: record %s: not part of the optimizer "
				  "state of this model", file, rec->name);
	if (rec->dtype != QF_F32 || rec->ndim != x->ndim ||
	    rec->dims[0] != x->dims[0] ||
	    (x->ndim == 2 && rec->dims[1] != x->dims[1]))
		return qf_err_set(err, "%s: record %s: expected f32 of the shape "
				  "of %s", file, rec->name, x->name);
	*bytes = x->n * sizeof(float);
	return 0;
}

/* Every record expected, seen[k] (opt_slot's k), was there. */
static int check_seen(const qf_train *t, const unsigned char *seen,
		      const char *file, qf_err *err)
{
	for (size_t k = 0; k <= 2 * t->nt; k++)
		if (!seen[k]) {
			if (k == 2 * t->nt)
				return qf_err_set(err, "%s: record rng: missing",
						  file);
			return qf_err_set(err, "%s: record adam.%c.%s: missing",
					  file, k % 2 ? 'v' : 'm',
					  t->t[k / 2].name);
		}
	return 0;
}

/* The records after the train record: rng and the moments, each once. */
static int read_opt_records(qf_train *t, qf_reader *r, const char *file,
			    qf_err *err)
{
	unsigned char *seen = calloc(2 * t->nt + 1, 1);
	qf_rec rec;
	void *buf, *dst = NULL;
	size_t k = 0, bytes = 0;
	int rc;

	if (!seen)
		return qf_err_set(err, "out of memory");
	qf_rec_init(&rec);
	while ((rc = qf_reader_next(r, &rec, err)) > 0) {
		if (opt_slot(t, &rec, file, &k, &dst, &bytes, err) < 0) {
			rc = -1;
			break;
		}
		if (seen[k]) {
			rc = qf_err_set(err, "%s: record %s: appears twice", file,
					rec.name);
			break;
		}
		seen[k] = 1;
		if (qf_reader_read_all(r, &buf, err) < 0) {
			rc = -1;
			break;
		}
		memcpy(dst, buf, bytes);
		free(buf);
	}
	if (rc == 0)
		rc = check_seen(t, seen, file, err);
	free(seen);
	qf_rec_free(&rec);
	return rc < 0 ? -1 : 0;
}

/* The optimizer state op of the weights in path, already in t: the train
 * record (into *o and, if not NULL, meta), which must name these weights,
 * then the generator and the moments. */
static int read_opt(qf_train *t, const char *op, const char *path,
		    qf_train_opts *o, qf_rec *meta, qf_err *err)
{
	qf_reader *r = qf_reader_open(op, err);
	qf_rec rec;
	uint64_t fnv;
	int rc;

	if (!r)
		return -1;
	qf_rec_init(&rec);
	rc = qf_reader_next(r, &rec, err);
	if (rc == 0)
		qf_err_set(err, "%s: no records, expected an optimizer state", op);
	if (rc <= 0 || read_train_rec(t, &rec, op, o, &fnv, err) < 0)
		goto fail;
	if (meta && qf_rec_copy(meta, &rec, err) < 0)
		goto fail;
	if (fnv != weights_fnv(t)) {
		qf_err_set(err, "%s: the optimizer state of other weights than "
			   "those in %s (weights_fnv differs)", op, path);
		goto fail;
	}
	if (read_opt_records(t, r, op, err) < 0)
		goto fail;
	qf_rec_free(&rec);
	qf_reader_close(r);
	return 0;
fail:
	qf_rec_free(&rec);
	qf_reader_close(r);
	return -1;
}

/* The weights' config record says which step they are from, if it does:
 * the step of the optimizer state op. */
static int check_step(const char *path, const char *op, uint64_t step,
		      qf_err *err)
{
	qf_reader *r = qf_reader_open(path, err);
	qf_rec rec;
	const char *v;
	uint64_t wstep = 0;
	qf_err e2;
	int rc = -1;

	if (!r)
		return -1;
	qf_rec_init(&rec);
	if (qf_reader_next(r, &rec, err) <= 0)
		goto out;
	v = qf_rec_get(&rec, "train_step");
	if (v && (qf_parse_u64(v, UINT64_MAX, &wstep, &e2) < 0 || wstep != step)) {
		qf_err_set(err, "%s: record config: train_step %s, but %s holds "
			   "the optimizer state of step %" PRIu64, path, v, op,
			   step);
		goto out;
	}
	rc = 0;
out:
	qf_rec_free(&rec);
	qf_reader_close(r);
	return rc;
}

qf_train *qf_train_resume(const char *path, qf_train_opts *o, qf_rec *meta,
			  qf_err *err)
{
	qf_train *t = NULL;
	qf_train_opts so;
	char *op = opt_path(path, err);

	if (!op || !(t = qf_train_load(path, 0, err)) ||
	    read_opt(t, op, path, &so, meta, err) < 0 ||
	    check_step(path, op, t->step, err) < 0) {
		free(op);
		qf_train_free(t);
		return NULL;
	}
	free(op);
	if (o)
		*o = so;
	return t;
}
