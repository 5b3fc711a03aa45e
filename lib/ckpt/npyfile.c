/*
 * npyfile.c - the checkpoint backends for a .npy file and a .npz archive
 * (ckpt/npy.c reads the formats).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/ckpt_impl.h"

/* The array of the .npy file at path. */
static int read_npy(const char *path, qf_rec *rec, void **data, qf_err *err)
{
	FILE *f = fopen(path, "rb");
	int rc;

	if (!f)
		return qf_err_set(err, "%s: %s", path, strerror(errno));
	rc = qf_npy_read(f, path, rec, data, err);
	fclose(f);
	return rc;
}

/* fn(ctx, member, its data) for the members of the .npz at path in
 * order, until it returns non-zero: that value; 0 at the end, -1 when
 * the archive cannot be read. */
typedef int (*member_fn)(void *ctx, const qf_rec *rec, const void *data,
			 qf_err *err);

static int npz_each(const char *path, member_fn fn, void *ctx, qf_err *err)
{
	qf_npz_reader *z = qf_npz_open(path, err);
	qf_rec rec;
	void *data = NULL;
	int rc;

	if (!z)
		return -1;
	qf_rec_init(&rec);
	while ((rc = qf_npz_next(z, &rec, &data, err)) == 1) {
		rc = fn(ctx, &rec, data, err);
		free(data);
		data = NULL;
		if (rc != 0)
			break;
	}
	qf_rec_free(&rec);
	qf_npz_close(z);
	return rc;
}

static int npy_read(qf_ckpt *c, size_t i, void *dst, qf_err *err)
{
	qf_rec rec;
	void *data = NULL;
	int rc;

	qf_rec_init(&rec);
	rc = read_npy(c->t[i].file, &rec, &data, err);
	if (rc == 0 && qf_rec_nbytes(&rec) != c->t[i].nbytes)
		rc = qf_err_set(err, "%s: changed while being read", c->path);
	if (rc == 0 && data)
		memcpy(dst, data, (size_t)c->t[i].nbytes);
	free(data);
	qf_rec_free(&rec);
	return rc;
}

struct find {
	const qf_ckpt *c;
	size_t i;
	void *dst;
};

/* Tensor f->i's bytes into f->dst when rec is its member: 1, else 0. */
static int copy_member(void *ctx, const qf_rec *rec, const void *data,
		       qf_err *err)
{
	struct find *f = ctx;
	const qf_ckpt_tensor *t = &f->c->t[f->i];

	if (strcmp(rec->name, t->name) != 0)
		return 0;
	if (qf_rec_nbytes(rec) != t->nbytes)
		return qf_err_set(err, "%s: changed while being read", f->c->path);
	if (data)
		memcpy(f->dst, data, (size_t)t->nbytes);
	return 1;
}

/* An .npz member is found again by scanning; checkpoints in .npz are
 * small, and this keeps one array in memory at a time. */
static int npz_read(qf_ckpt *c, size_t i, void *dst, qf_err *err)
{
	struct find f = { c, i, dst };
	int rc = npz_each(c->path, copy_member, &f, err);

	if (rc == 0)
		rc = qf_err_set(err, "%s: member %s vanished", c->path, c->t[i].name);
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
	qf_rec rec;
	void *data = NULL;
	char *base, *dot;
	int rc;

	qf_rec_init(&rec);
	rc = read_npy(path, &rec, &data, err);
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

static int add_member(void *ctx, const qf_rec *rec, const void *data,
		      qf_err *err)
{
	(void)data;
	return add_rec(ctx, rec, qf_dtype_name(rec->dtype), err);
}

int qf_npzfile_load(qf_ckpt *c, const char *path, qf_err *err)
{
	int rc = npz_each(path, add_member, c, err);

	c->be = &npz_be;
	return rc;
}
