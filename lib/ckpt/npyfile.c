/*
 * npyfile.c - the checkpoint backends for a .npy file and a .npz archive
 * (ckpt/npy.c reads the formats).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/ckpt_impl.h"

/* The .npy file at path opened, its header read into rec. */
static qf_npy_reader *open_npy(const char *path, FILE **f, qf_rec *rec,
			       qf_err *err)
{
	qf_npy_reader *r;

	*f = fopen(path, "rb");
	if (!*f) {
		qf_err_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	r = qf_npy_open(*f, path, rec, err);
	if (!r) {
		fclose(*f);
		*f = NULL;
	}
	return r;
}

/* The data straight into dst, without a copy held. */
static int npy_read(qf_ckpt *c, size_t i, void *dst, qf_err *err)
{
	const qf_ckpt_tensor *t = &c->t[i];
	qf_npy_reader *r;
	qf_rec rec;
	FILE *f;
	int rc = -1;

	qf_rec_init(&rec);
	r = open_npy(t->file, &f, &rec, err);
	if (r && qf_rec_nbytes(&rec) != t->nbytes)
		qf_err_set(err, "%s: changed while being read", c->path);
	else if (r && (!t->nbytes ||
		       qf_npy_read_data(r, dst, (size_t)t->nbytes, err) ==
		       (int64_t)t->nbytes))
		rc = 0;
	qf_npy_close(r);
	if (f)
		fclose(f);
	qf_rec_free(&rec);
	return rc;
}

/*
 * An .npz is read through one cursor that moves forward over the
 * members, which qf_npzfile_load listed in archive order: tensors read
 * in that order cost one pass over the archive in all (reopening and
 * scanning for each, as before, was quadratic: 4,000 members took two
 * minutes).  A tensor before the cursor reopens the archive.
 */
struct npz_cursor {
	qf_npz_reader *z;
	size_t next;		/* index of the member the next header is */
};

static int npz_seek(qf_ckpt *c, struct npz_cursor *k, size_t i, qf_rec *rec,
		    qf_err *err)
{
	int rc;

	if (k->z && k->next > i) {
		qf_npz_close(k->z);
		k->z = NULL;
	}
	if (!k->z) {
		k->z = qf_npz_open(c->path, err);
		k->next = 0;
		if (!k->z)
			return -1;
	}
	for (;;) {
		rc = qf_npz_next_header(k->z, rec, err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			return qf_err_set(err, "%s: member %s vanished", c->path,
					  c->t[i].name);
		if (k->next++ == i)
			return 0;
	}
}

static int npz_read(qf_ckpt *c, size_t i, void *dst, qf_err *err)
{
	struct npz_cursor *k = c->impl;
	const qf_ckpt_tensor *t = &c->t[i];
	qf_rec rec;
	int rc;

	qf_rec_init(&rec);
	rc = npz_seek(c, k, i, &rec, err);
	if (rc == 0 && (strcmp(rec.name, t->name) != 0 ||
			qf_rec_nbytes(&rec) != t->nbytes))
		rc = qf_err_set(err, "%s: changed while being read", c->path);
	if (rc == 0 && t->nbytes &&
	    qf_npz_read(k->z, dst, (size_t)t->nbytes, err) != (int64_t)t->nbytes)
		rc = -1;
	qf_rec_free(&rec);
	if (rc < 0) {
		/* after an error the reader is dead: start again next time */
		qf_npz_close(k->z);
		k->z = NULL;
	}
	return rc;
}

static void npz_close(qf_ckpt *c)
{
	struct npz_cursor *k = c->impl;

	if (k)
		qf_npz_close(k->z);
	free(k);
	c->impl = NULL;
}

static void no_close(qf_ckpt *c)
{
	(void)c;
}

static const struct qf_ckpt_backend npy_be = { "npy", npy_read, no_close };
static const struct qf_ckpt_backend npz_be = { "npz", npz_read, npz_close };

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
	qf_npy_reader *r;
	qf_rec rec;
	FILE *f;
	char *base, *dot;
	int rc;

	qf_rec_init(&rec);
	r = open_npy(path, &f, &rec, err);
	rc = r ? 0 : -1;
	qf_npy_close(r);
	if (f)
		fclose(f);
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

/* List the members from their headers, without reading their data. */
int qf_npzfile_load(qf_ckpt *c, const char *path, qf_err *err)
{
	qf_npz_reader *z;
	qf_rec rec;
	int rc;

	c->impl = calloc(1, sizeof(struct npz_cursor));
	if (!c->impl)
		return qf_err_set(err, "%s: out of memory", path);
	c->be = &npz_be;
	z = qf_npz_open(path, err);
	if (!z)
		return -1;
	qf_rec_init(&rec);
	while ((rc = qf_npz_next_header(z, &rec, err)) == 1)
		if (add_rec(c, &rec, qf_dtype_name(rec.dtype), err) < 0) {
			rc = -1;
			break;
		}
	qf_rec_free(&rec);
	qf_npz_close(z);
	return rc;
}
