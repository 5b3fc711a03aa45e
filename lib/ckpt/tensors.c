/*
 * tensors.c - the tensor list every checkpoint backend fills: names
 * (checked, unique), shapes and sizes within the format's limits, and
 * the byte ranges of a file's tensors (ckpt_impl.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/ckpt_impl.h"

/* ------------------------------------------------------------ names */

static uint64_t name_hash(const char *s)
{
	return qf_fnv1a(QF_FNV1A_INIT, s, strlen(s));
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
