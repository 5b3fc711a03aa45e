/* ckpt_impl.h - checkpoint backends (internal to lib/).
 *
 * qf_ckpt_open (ckpt.c) recognises the format and calls one loader; the
 * loader fills in the tensor list and metadata and sets be and impl. */
#ifndef QF_CKPT_IMPL_H
#define QF_CKPT_IMPL_H

#include "core/internal.h"
#include "ckpt/ckpt.h"

struct qf_ckpt_backend {
	const char *format;
	/* Read tensor i into dst (numel x dtype size bytes). */
	int (*read)(qf_ckpt *c, size_t i, void *dst, qf_err *err);
	/* Free impl (not the tensor list or meta). */
	void (*close)(qf_ckpt *c);
};

struct qf_ckpt {
	char *path;
	const struct qf_ckpt_backend *be;
	void *impl;
	qf_ckpt_tensor *t;
	size_t n, cap;
	size_t *hash, hcap;	/* name set: slots hold index + 1 */
	qf_rec meta;
};

/* Append a copy of *t (strings duplicated).  Checks ndim, every dim and
 * numel x dtype size against QF_MAX_PAYLOAD, and that the name is valid
 * UTF-8 and not already present.  Messages are "PATH: tensor NAME: ...". */
int qf_ckpt_add(qf_ckpt *c, const qf_ckpt_tensor *t, qf_err *err);

/* Check that byte ranges [offset, offset + nbytes) of the tensors
 * stored in `file` (all tensors when file is NULL) lie within
 * [lo, hi) and do not overlap.  Message names the two tensors. */
int qf_ckpt_check_ranges(qf_ckpt *c, const char *file, uint64_t lo,
			 uint64_t hi, qf_err *err);

/* Loaders.  path is the file (or the index file for shards).  A loader
 * sets c->be (and c->impl) as soon as it has allocated impl, so that
 * qf_ckpt_close frees it after a failure. */
int qf_safetensors_load(qf_ckpt *c, const char *path, qf_err *err);
int qf_safetensors_load_index(qf_ckpt *c, const char *path, qf_err *err);
int qf_torch_load(qf_ckpt *c, const char *path, qf_err *err);
int qf_gguf_load(qf_ckpt *c, const char *path, qf_err *err);
int qf_npyfile_load(qf_ckpt *c, const char *path, qf_err *err);
int qf_npzfile_load(qf_ckpt *c, const char *path, qf_err *err);

#endif
