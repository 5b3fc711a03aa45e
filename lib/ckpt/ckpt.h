/* ckpt.h - numpy files, checkpoints, canonical weights. */
#ifndef QF_CKPT_CKPT_H
#define QF_CKPT_CKPT_H

#include "stream/stream.h"

/* ---------------------------------------------------------------- numpy */

/* .npy: read one array (versions 1.0, 2.0, 3.0; dtypes <f2 <f4 <f8 |i1 |u1
 * <i2 <u2 <i4 <u4 <i8 <u8 |b1, C or Fortran order; big-endian forms are
 * converted) into rec (dtype and shape; the name is left as it is) and a
 * malloc'd C-order buffer, grown as the data arrives. */
int qf_npy_read(FILE *f, const char *name, qf_rec *rec, void **data,
		qf_err *err);
/* The same as a stream: qf_npy_open reads the header into rec, then
 * qf_npy_read_data hands out the C-order, little-endian data in pieces
 * of whole elements (fewer bytes than asked only at the end; a file that
 * ends early is an error).  Memory: the caller's buffer, except for a
 * Fortran-order array of two or more dimensions, which is held whole to
 * be reordered (at most qf_reader_max_whole() bytes). */
typedef struct qf_npy_reader qf_npy_reader;
qf_npy_reader *qf_npy_open(FILE *f, const char *name, qf_rec *rec,
			   qf_err *err);
int64_t qf_npy_read_data(qf_npy_reader *r, void *buf, size_t n, qf_err *err);
void qf_npy_close(qf_npy_reader *r);
/* Write rec's payload as .npy version 1.0 (2.0 if the header needs it).
 * bf16, which numpy lacks, must be converted by the caller. */
int qf_npy_write(FILE *f, const char *name, const qf_rec *rec,
		 const void *data, qf_err *err);
/* Only the header; the caller writes qf_rec_nbytes(rec) bytes after it. */
int qf_npy_write_header(FILE *f, const char *name, const qf_rec *rec,
			qf_err *err);
/* Size in bytes of the .npy file qf_npy_write would produce. */
uint64_t qf_npy_size(const qf_rec *rec);

/* .npz: a zip archive of .npy members.  Reading yields one record per
 * member, named after the member without ".npy".  The reader holds at
 * most one array (a Fortran-order one; else nothing) at a time. */
typedef struct qf_npz_reader qf_npz_reader;
qf_npz_reader *qf_npz_open(const char *path, qf_err *err);
/* 1: a record in rec/data (data malloc'd), 0: end, -1: error. */
int qf_npz_next(qf_npz_reader *z, qf_rec *rec, void **data, qf_err *err);
/* As a stream: the next member's header (1, 0 at the end, -1), then its
 * data with qf_npz_read as qf_npy_read_data does; the member's size and
 * CRC are checked when its last byte is read.  An unread rest is skipped
 * by the next qf_npz_next_header. */
int qf_npz_next_header(qf_npz_reader *z, qf_rec *rec, qf_err *err);
int64_t qf_npz_read(qf_npz_reader *z, void *buf, size_t n, qf_err *err);
void qf_npz_close(qf_npz_reader *z);

/* Writing: stored (uncompressed) members, as numpy.savez writes them,
 * written front to back (a pipe works; a regular file gets each CRC
 * written back into its local header, a pipe a data descriptor), zip64
 * where sizes or offsets need it. */
typedef struct qf_npz_writer qf_npz_writer;
qf_npz_writer *qf_npz_create(FILE *f, const char *name, qf_err *err);
/* QF_NPZ_ZIP64: zip64 fields for every member and the end record, as
 * an archive larger than 4 GiB has them (for tests). */
#define QF_NPZ_ZIP64 1u
qf_npz_writer *qf_npz_create_flags(FILE *f, const char *name, unsigned flags,
				   qf_err *err);
/* member: the record name; ".npy" is appended. */
int qf_npz_add(qf_npz_writer *z, const char *member, const qf_rec *rec,
	       const void *data, qf_err *err);
/* The same in pieces: begin, then qf_rec_nbytes(rec) bytes in any
 * number of qf_npz_write calls, then end. */
int qf_npz_begin(qf_npz_writer *z, const char *member, const qf_rec *rec,
		 qf_err *err);
int qf_npz_write(qf_npz_writer *z, const void *data, size_t n, qf_err *err);
int qf_npz_end(qf_npz_writer *z, qf_err *err);
int qf_npz_finish(qf_npz_writer *z, qf_err *err); /* frees z */
/* Free z without finishing the archive (an output being abandoned). */
void qf_npz_abort(qf_npz_writer *z);

/* ---------------------------------------------------------------- checkpoints */

/* A model checkpoint opened for reading: its tensors' headers are read
 * at open (fast, whatever the file's size), their data one at a time. */
typedef struct qf_ckpt_tensor {
	char *name;		/* as stored in the file */
	int dtype;		/* qf dtype that qf_ckpt_read delivers */
	int ndim;
	uint64_t dims[QF_MAX_DIMS];	/* row-major, outermost first */
	char *src_type;		/* stored type in the format's words: "F16",
				 * "Q4_0", "torch.HalfStorage", "<f4" */
	char *file;		/* file (shard) or zip member holding the data */
	uint64_t offset;	/* byte offset of the data in that file */
	uint64_t nbytes;	/* stored bytes (block formats: blocks) */
} qf_ckpt_tensor;

typedef struct qf_ckpt qf_ckpt;
/* Open a Hugging Face model directory (config.json with model.safetensors,
 * a sharded model.safetensors.index.json, or pytorch_model.bin), a
 * .safetensors file, a torch.save zip checkpoint, a GGUF file, or an
 * .npy/.npz file.  The format is recognised by content, not by name.  A
 * config.json beside a file is read too. */
qf_ckpt *qf_ckpt_open(const char *path, qf_err *err);
/* "safetensors", "torch", "gguf", "npy" or "npz". */
const char *qf_ckpt_format(const qf_ckpt *c);
size_t qf_ckpt_count(const qf_ckpt *c);
const qf_ckpt_tensor *qf_ckpt_tensor_at(const qf_ckpt *c, size_t i);
/* Tensor i's elements, row-major, as its dtype (block-quantized GGUF
 * types dequantized to f32), into dst (numel x dtype size bytes). */
int qf_ckpt_read(qf_ckpt *c, size_t i, void *dst, qf_err *err);
/* Metadata as attributes of a header-only record: the top-level scalars
 * of config.json, GGUF key/values (scalars; arrays as their length under
 * "KEY.length"), safetensors "__metadata__" strings. */
const qf_rec *qf_ckpt_meta(const qf_ckpt *c);
void qf_ckpt_close(qf_ckpt *c);

/* ---------------------------------------------------------------- weights */

/* A checkpoint mapped to qf's canonical naming (formats/weights.md): a
 * plan of the records to write, in canonical order, each with its header
 * (canonical name; attributes kind, module, param, layer, orig, src_type)
 * and where its data comes from.  Planning reads headers only. */
typedef struct qf_wplan_item {
	size_t src;		/* tensor index in the checkpoint */
	int transpose;		/* 2-d data stored [in, out] (HF Conv1D) */
	qf_rec rec;		/* header as it will be written */
} qf_wplan_item;

typedef struct qf_wplan {
	qf_rec config;		/* the "config" record (arch, n_layer, ...) */
	qf_wplan_item *items;
	size_t n;
	size_t skipped;		/* mask buffers and tied heads left out */
} qf_wplan;

/* GPT-2 checkpoints as found in the wild: HF names with or without the
 * "transformer." prefix (Conv1D weights transposed to [out, in]), GGUF
 * names; attn.bias / attn.masked_bias mask buffers skipped; a head that
 * shares the token embedding's storage (or is absent) is tied.  Every
 * other tensor, a missing tensor or a shape that contradicts the config
 * is an error. */
int qf_wplan_gpt2(const qf_ckpt *c, qf_wplan *p, qf_err *err);
/* Every tensor as it is, named as in the file ("--raw"). */
int qf_wplan_raw(const qf_ckpt *c, qf_wplan *p, qf_err *err);
/* Change the planned dtype of floating-point items to dt (f32 ...). */
int qf_wplan_set_float_dtype(qf_wplan *p, int dt, qf_err *err);
/* Item i's payload in canonical layout and the planned dtype, malloc'd. */
int qf_wplan_read(qf_ckpt *c, const qf_wplan *p, size_t i, void **data,
		  qf_err *err);
void qf_wplan_free(qf_wplan *p);

#endif
