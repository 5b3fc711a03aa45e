/*
 * core.h - the bottom layer of qf (docs/architecture.md): errors, dtypes,
 * records, element statistics, numbers, what the machine runs and the
 * provenance line.  Everything else in lib/ is built on these.
 *
 * Error model.  Every fallible function takes a `qf_err *` as its last
 * argument and returns 0 (or a count, or a pointer) on success and -1 (or
 * NULL) on failure, with a one-line message in err->msg of the form
 *
 *     FILE: record NAME: what is wrong
 *
 * (the "record NAME: " part only where a record is concerned) and, in
 * err->code, the errno value behind it when there is one.  The library
 * never prints and never exits; tool/ (tool/tool.h), the tools' shared
 * front end, is the one layer that does.
 */
#ifndef QF_CORE_CORE_H
#define QF_CORE_CORE_H

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
	int code;	/* the errno value behind it, or 0 */
} qf_err;

/* Format a message into err (printf-style), code 0.  Always returns -1,
 * so that `return qf_err_set(e, ...);` reads naturally.  err may be
 * NULL. */
int qf_err_set(qf_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Give err's message the errno value behind it (EPIPE: a write to a pipe
 * whose reader has gone, which tools end quietly).  Returns -1. */
int qf_err_code(qf_err *err, int code);

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

/* ---------------------------------------------------------------- numbers */

/* Parse a non-negative integer option value strictly (no sign, no junk). */
int qf_parse_u64(const char *s, uint64_t max, uint64_t *out, qf_err *err);
int qf_parse_double(const char *s, double *out, qf_err *err);

/* ---------------------------------------------------------------- OpenBLAS and CPU */

/* OpenBLAS's threads stopped: started when the library loads, each
 * spins on a core for about 0.1 s (2^28 cycles) before it sleeps, which
 * on two cores is half the machine while a program starts.  The next
 * BLAS call that wants them starts them again (OpenBLAS's
 * exec_blas_async). */
void qf_blas_threads_stop(void);
/* The core OpenBLAS runs ("SkylakeX", "Prescott", ...). */
const char *qf_blas_corename(void);
/* Who chose that core: "user" (OPENBLAS_CORETYPE was set), "qf"
 * (qf_blas_init re-executed the program) or "openblas" (OpenBLAS's own
 * detection).  A runner that forwards a choice made on another machine
 * sets OPENBLAS_CORETYPE and QF_OPENBLAS_CHOSEN_BY (one of the three)
 * together; qf then records that value and never re-executes. */
const char *qf_blas_chosen_by(void);

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
/* The tool named in the line (qf_tool_init sets it; default: the
 * program's name).  Call before the first qf_provenance. */
void qf_provenance_tool(const char *name);
/* The record attribute that holds the line. */
#define QF_PROV_KEY "provenance"
int qf_provenance_comment(FILE *f);
/* Make qf_provenance() rec's "provenance" attribute, its last, for a
 * record this process computed but writes with QF_PROV_KEEP;
 * "record NAME: 4096 attributes, no room for its provenance" when full. */
int qf_rec_stamp(qf_rec *rec, qf_err *err);
/* The x86-64 level qf's vector kernels run: "x86-64-v4", "x86-64-v3",
 * "x86-64" (or "generic" elsewhere). */
const char *qf_simd_level(void);

#endif
