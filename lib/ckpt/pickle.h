/* pickle.h - the restricted unpickler behind the torch backend (internal
 * to lib/: pickle.c and torch.c, plus the tests and the fuzz harness).
 *
 * qf_pickle_load interprets a pickle and builds a tree of plain values.
 * It executes nothing: the only globals it resolves are on a fixed
 * allow-list (formats/torch.md), and REDUCE, NEWOBJ, BUILD and BINPERSID
 * are interpreted here for those globals alone.  Every value of one load
 * belongs to the qf_pk handle and lives until qf_pickle_free. */
#ifndef QF_PICKLE_H
#define QF_PICKLE_H

#include "core/internal.h"

enum {
	QF_PV_NONE, QF_PV_BOOL, QF_PV_INT, QF_PV_FLOAT, QF_PV_STR,
	QF_PV_BYTES, QF_PV_TUPLE, QF_PV_LIST, QF_PV_DICT, QF_PV_GLOBAL,
	QF_PV_STORAGE, QF_PV_TENSOR,
};

/* Limits of one load. */
#define QF_PK_MAX_STACK (1u << 20)	/* values on the stack */
#define QF_PK_MAX_MARKS 1024		/* open MARKs: nesting */
#define QF_PK_MAX_MEMO (1u << 22)	/* memo index */
#define QF_PK_MAX_OBJECTS (1u << 22)	/* values created */
#define QF_PK_MAX_STR (16u << 20)	/* bytes of one string */
#define QF_PK_MAX_LINE 256		/* GLOBAL module or name */
#define QF_PK_MAX_KEY 1024		/* bytes of a storage key */

typedef struct qf_pv qf_pv;

/* A persistent id ('storage', torch.XStorage, key, location, numel). */
typedef struct qf_pstorage {
	int dtype;		/* qf dtype */
	const char *type;	/* "torch.HalfStorage" */
	char *key;		/* names the member ARCHIVE/data/KEY */
	uint64_t numel;		/* elements */
} qf_pstorage;

/* A tensor made by torch._utils._rebuild_tensor_v2 (or _rebuild_tensor):
 * elements at storage offset + sum(index[d] * stride[d]). */
typedef struct qf_ptensor {
	const qf_pv *storage;	/* a QF_PV_STORAGE value */
	uint64_t offset;	/* elements */
	int ndim;
	uint64_t size[QF_MAX_DIMS];
	uint64_t stride[QF_MAX_DIMS];	/* elements */
} qf_ptensor;

struct qf_pv {
	int type;
	int g;			/* GLOBAL: which allowed global (pickle.c) */
	int64_t i;		/* BOOL (0 or 1), INT */
	double f;		/* FLOAT */
	char *s;		/* STR, BYTES, GLOBAL ("module.name"): */
	size_t len;		/* len bytes, NUL-terminated (STR may hold NULs) */
	qf_pv **v;		/* TUPLE, LIST: n items; DICT: n keys and */
	size_t n, cap;		/* values alternating in v[0 .. 2n) */
	qf_pstorage *st;	/* STORAGE */
	qf_ptensor *t;		/* TENSOR */
};

typedef struct qf_pk qf_pk;

/* Unpickle n bytes.  name prefixes every message: errors read
 * "NAME: offset N: what", N the offset of the opcode concerned. */
qf_pk *qf_pickle_load(const unsigned char *buf, size_t n, const char *name,
		      qf_err *err);
/* The object STOP returned. */
const qf_pv *qf_pickle_root(const qf_pk *pk);
void qf_pickle_free(qf_pk *pk);
/* "int", "dict", "tensor", ... */
const char *qf_pv_type_name(int type);

#endif
