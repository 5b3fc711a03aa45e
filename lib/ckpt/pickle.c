/*
 * pickle.c - a restricted unpickler for torch.save checkpoints.
 *
 * A small stack machine over the opcodes a state dict needs (protocols 2
 * to 5).  It builds plain values (pickle.h) and never executes anything:
 * GLOBAL and STACK_GLOBAL resolve only the names in `globals` below, and
 * REDUCE, NEWOBJ, BUILD and BINPERSID "call" those by interpreting their
 * arguments here.  The stack, the marks, the memo, string lengths and the
 * number of values are bounded (pickle.h), and nothing recurses, so any
 * input ends in a result or a one-line error.
 *
 * The marks follow CPython's unpickler: a MARK records the stack depth,
 * and nothing may pop below the innermost mark (the fence) until an
 * opcode that consumes the mark.  Every value is listed in the load's
 * handle and freed with it, so the memo and shared references need no
 * counting.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/pickle.h"

/* ------------------------------------------------------------ globals */

enum {
	G_ODICT = 1, G_REBUILD_V2, G_REBUILD, G_PARAM, G_PARAM_STATE,
	G_STORAGE, G_DTYPE, G_SIZE,
};

static const struct glob {
	const char *module, *name;
	int g;
	int dtype;		/* storages */
} globals[] = {
	{ "collections", "OrderedDict", G_ODICT, 0 },
	{ "torch._utils", "_rebuild_tensor_v2", G_REBUILD_V2, 0 },
	{ "torch._utils", "_rebuild_tensor", G_REBUILD, 0 },
	{ "torch._utils", "_rebuild_parameter", G_PARAM, 0 },
	{ "torch._utils", "_rebuild_parameter_with_state", G_PARAM_STATE, 0 },
	{ "torch", "FloatStorage", G_STORAGE, QF_F32 },
	{ "torch", "DoubleStorage", G_STORAGE, QF_F64 },
	{ "torch", "HalfStorage", G_STORAGE, QF_F16 },
	{ "torch", "BFloat16Storage", G_STORAGE, QF_BF16 },
	{ "torch", "LongStorage", G_STORAGE, QF_I64 },
	{ "torch", "IntStorage", G_STORAGE, QF_I32 },
	{ "torch", "ShortStorage", G_STORAGE, QF_I16 },
	{ "torch", "CharStorage", G_STORAGE, QF_I8 },
	{ "torch", "ByteStorage", G_STORAGE, QF_U8 },
	{ "torch", "BoolStorage", G_STORAGE, QF_BOOL },
	{ "torch", "float32", G_DTYPE, 0 },
	{ "torch", "float64", G_DTYPE, 0 },
	{ "torch", "float16", G_DTYPE, 0 },
	{ "torch", "bfloat16", G_DTYPE, 0 },
	{ "torch", "int64", G_DTYPE, 0 },
	{ "torch", "int32", G_DTYPE, 0 },
	{ "torch", "int16", G_DTYPE, 0 },
	{ "torch", "int8", G_DTYPE, 0 },
	{ "torch", "uint8", G_DTYPE, 0 },
	{ "torch", "bool", G_DTYPE, 0 },
	{ "torch", "Size", G_SIZE, 0 },
};

/* ------------------------------------------------------------ opcodes */

static const struct {
	unsigned char op;
	const char *name;
} opnames[] = {
	{ '(', "MARK" }, { '.', "STOP" }, { '0', "POP" }, { '1', "POP_MARK" },
	{ '2', "DUP" }, { 'F', "FLOAT" }, { 'I', "INT" }, { 'J', "BININT" },
	{ 'K', "BININT1" }, { 'L', "LONG" }, { 'M', "BININT2" },
	{ 'N', "NONE" }, { 'P', "PERSID" }, { 'Q', "BINPERSID" },
	{ 'R', "REDUCE" }, { 'S', "STRING" }, { 'T', "BINSTRING" },
	{ 'U', "SHORT_BINSTRING" }, { 'V', "UNICODE" }, { 'X', "BINUNICODE" },
	{ 'a', "APPEND" }, { 'b', "BUILD" }, { 'c', "GLOBAL" }, { 'd', "DICT" },
	{ '}', "EMPTY_DICT" }, { 'e', "APPENDS" }, { 'g', "GET" },
	{ 'h', "BINGET" }, { 'i', "INST" }, { 'j', "LONG_BINGET" },
	{ 'l', "LIST" }, { ']', "EMPTY_LIST" }, { 'o', "OBJ" }, { 'p', "PUT" },
	{ 'q', "BINPUT" }, { 'r', "LONG_BINPUT" }, { 's', "SETITEM" },
	{ 't', "TUPLE" }, { ')', "EMPTY_TUPLE" }, { 'u', "SETITEMS" },
	{ 'G', "BINFLOAT" }, { 0x80, "PROTO" }, { 0x81, "NEWOBJ" },
	{ 0x82, "EXT1" }, { 0x83, "EXT2" }, { 0x84, "EXT4" },
	{ 0x85, "TUPLE1" }, { 0x86, "TUPLE2" }, { 0x87, "TUPLE3" },
	{ 0x88, "NEWTRUE" }, { 0x89, "NEWFALSE" }, { 0x8a, "LONG1" },
	{ 0x8b, "LONG4" }, { 'B', "BINBYTES" }, { 'C', "SHORT_BINBYTES" },
	{ 0x8c, "SHORT_BINUNICODE" }, { 0x8d, "BINUNICODE8" },
	{ 0x8e, "BINBYTES8" }, { 0x8f, "EMPTY_SET" }, { 0x90, "ADDITEMS" },
	{ 0x91, "FROZENSET" }, { 0x92, "NEWOBJ_EX" }, { 0x93, "STACK_GLOBAL" },
	{ 0x94, "MEMOIZE" }, { 0x95, "FRAME" }, { 0x96, "BYTEARRAY8" },
	{ 0x97, "NEXT_BUFFER" }, { 0x98, "READONLY_BUFFER" },
};

static const char *opname(int op)
{
	for (size_t i = 0; i < sizeof opnames / sizeof *opnames; i++)
		if (opnames[i].op == op)
			return opnames[i].name;
	return NULL;
}

const char *qf_pv_type_name(int type)
{
	static const char *const names[] = {
		"None", "bool", "int", "float", "str", "bytes", "tuple", "list",
		"dict", "global", "storage", "tensor",
	};

	if (type < 0 || type > QF_PV_TENSOR)
		return "?";
	return names[type];
}

/* ------------------------------------------------------------ the machine */

struct qf_pk {
	qf_pv **obj;		/* every value of the load */
	size_t nobj, objcap;
	const qf_pv *root;
};

struct ld {
	qf_pk *pk;
	const unsigned char *p;
	size_t n, pos;
	size_t op;		/* offset of the current opcode */
	const char *name;
	qf_err *err;
	qf_pv **stack;
	size_t sp, scap;
	size_t marks[QF_PK_MAX_MARKS];
	size_t nmark;
	qf_pv **memo;
	size_t memocap, nmemo;
};

static int fail(struct ld *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct ld *l, const char *fmt, ...)
{
	char msg[QF_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return qf_err_set(l->err, "%s: offset %zu: %s", l->name, l->op, msg);
}

static size_t fence(const struct ld *l)
{
	return l->nmark ? l->marks[l->nmark - 1] : 0;
}

static qf_pv *newv(struct ld *l, int type)
{
	qf_pk *pk = l->pk;
	qf_pv *v;

	if (pk->nobj >= QF_PK_MAX_OBJECTS) {
		fail(l, "more than %u objects", QF_PK_MAX_OBJECTS);
		return NULL;
	}
	if (pk->nobj == pk->objcap) {
		size_t cap = pk->objcap ? pk->objcap * 2 : 256;
		qf_pv **o = realloc(pk->obj, cap * sizeof *o);
		if (!o) {
			fail(l, "out of memory");
			return NULL;
		}
		pk->obj = o;
		pk->objcap = cap;
	}
	v = calloc(1, sizeof *v);
	if (!v) {
		fail(l, "out of memory");
		return NULL;
	}
	v->type = type;
	pk->obj[pk->nobj++] = v;
	return v;
}

static qf_pv *newstr(struct ld *l, int type, const void *s, size_t len)
{
	qf_pv *v = newv(l, type);

	if (!v)
		return NULL;
	v->s = malloc(len + 1);
	if (!v->s) {
		fail(l, "out of memory");
		return NULL;
	}
	memcpy(v->s, s, len);
	v->s[len] = 0;
	v->len = len;
	return v;
}

static qf_pv *newint(struct ld *l, int type, int64_t i)
{
	qf_pv *v = newv(l, type);

	if (v)
		v->i = i;
	return v;
}

/* Room for k more items in a tuple, list or dict (2k slots for a dict). */
static int reserve(struct ld *l, qf_pv *c, size_t k)
{
	size_t per = c->type == QF_PV_DICT ? 2 : 1;
	size_t need = (c->n + k) * per;
	qf_pv **v;

	if (k > QF_PK_MAX_OBJECTS || c->n + k > QF_PK_MAX_OBJECTS)
		return fail(l, "a %s of more than %u items",
			    qf_pv_type_name(c->type), QF_PK_MAX_OBJECTS);
	if (need <= c->cap)
		return 0;
	size_t cap = c->cap ? c->cap : 4;
	while (cap < need)
		cap *= 2;
	v = realloc(c->v, cap * sizeof *v);
	if (!v)
		return fail(l, "out of memory");
	c->v = v;
	c->cap = cap;
	return 0;
}

static int push(struct ld *l, qf_pv *v)
{
	if (!v)
		return -1;
	if (l->sp == l->scap) {
		if (l->scap >= QF_PK_MAX_STACK)
			return fail(l, "stack deeper than %u", QF_PK_MAX_STACK);
		size_t cap = l->scap ? l->scap * 2 : 64;
		qf_pv **s = realloc(l->stack, cap * sizeof *s);
		if (!s)
			return fail(l, "out of memory");
		l->stack = s;
		l->scap = cap;
	}
	l->stack[l->sp++] = v;
	return 0;
}

static qf_pv *pop(struct ld *l)
{
	if (l->sp <= fence(l)) {
		fail(l, "stack underflow");
		return NULL;
	}
	return l->stack[--l->sp];
}

static qf_pv *top(struct ld *l)
{
	if (l->sp <= fence(l)) {
		fail(l, "stack underflow");
		return NULL;
	}
	return l->stack[l->sp - 1];
}

/* Consume the innermost mark: the items above it are stack[*start, sp). */
static int pop_mark(struct ld *l, size_t *start)
{
	if (l->nmark == 0)
		return fail(l, "no MARK to pop");
	*start = l->marks[--l->nmark];
	return 0;
}

/* A tuple, list or dict of the items above the innermost mark. */
static int collect(struct ld *l, int type)
{
	size_t start = 0, k;
	qf_pv *c;

	if (pop_mark(l, &start) < 0)
		return -1;
	k = l->sp - start;
	if (type == QF_PV_DICT && k % 2)
		return fail(l, "odd number of items for DICT");
	c = newv(l, type);
	if (!c || reserve(l, c, type == QF_PV_DICT ? k / 2 : k) < 0)
		return -1;
	if (k)
		memcpy(c->v, l->stack + start, k * sizeof *c->v);
	c->n = type == QF_PV_DICT ? k / 2 : k;
	l->sp = start;
	return push(l, c);
}

static int tuple_n(struct ld *l, size_t k)
{
	qf_pv *c;

	if (l->sp - fence(l) < k)
		return fail(l, "stack underflow");
	c = newv(l, QF_PV_TUPLE);
	if (!c || reserve(l, c, k) < 0)
		return -1;
	if (k)
		memcpy(c->v, l->stack + l->sp - k, k * sizeof *c->v);
	c->n = k;
	l->sp -= k;
	return push(l, c);
}

/* Add the items above the innermost mark to the list or dict below it. */
static int extend(struct ld *l, int type)
{
	size_t start = 0, k;
	qf_pv *c;

	if (pop_mark(l, &start) < 0)
		return -1;
	k = l->sp - start;
	if (start <= fence(l))
		return fail(l, "stack underflow");
	c = l->stack[start - 1];
	if (c->type != type)
		return fail(l, "%s on a %s", type == QF_PV_LIST ? "APPENDS" :
			    "SETITEMS", qf_pv_type_name(c->type));
	if (type == QF_PV_DICT && k % 2)
		return fail(l, "odd number of items for SETITEMS");
	if (type == QF_PV_DICT)
		k /= 2;
	if (reserve(l, c, k) < 0)
		return -1;
	k *= type == QF_PV_DICT ? 2 : 1;
	if (k)
		memcpy(c->v + c->n * (type == QF_PV_DICT ? 2 : 1),
		       l->stack + start, k * sizeof *c->v);
	c->n += type == QF_PV_DICT ? k / 2 : k;
	l->sp = start;
	return 0;
}

static int memo_put(struct ld *l, uint64_t idx)
{
	qf_pv *v = top(l);

	if (!v)
		return -1;
	/* the pickler numbers memo entries from 0, one per BINPUT or
	 * MEMOIZE: an index past the pickle's length is never legitimate,
	 * and refusing it keeps the memo's size linear in the input's */
	if (idx >= QF_PK_MAX_MEMO || idx >= l->n)
		return fail(l, "memo index %" PRIu64 " too large", idx);
	if (idx >= l->memocap) {
		size_t cap = l->memocap ? l->memocap : 64;
		while (cap <= idx)
			cap *= 2;
		qf_pv **m = realloc(l->memo, cap * sizeof *m);
		if (!m)
			return fail(l, "out of memory");
		memset(m + l->memocap, 0, (cap - l->memocap) * sizeof *m);
		l->memo = m;
		l->memocap = cap;
	}
	if (!l->memo[idx])
		l->nmemo++;
	l->memo[idx] = v;
	return 0;
}

static int memo_get(struct ld *l, uint64_t idx)
{
	if (idx >= l->memocap || !l->memo[idx])
		return fail(l, "memo key %" PRIu64 " is missing", idx);
	return push(l, l->memo[idx]);
}

/* The next k bytes of the opcode's argument. */
static const unsigned char *arg(struct ld *l, uint64_t k, const char *what)
{
	const unsigned char *q;

	if (k > l->n - l->pos) {
		fail(l, "truncated in %s", what);
		return NULL;
	}
	q = l->p + l->pos;
	l->pos += (size_t)k;
	return q;
}

/* ------------------------------------------------------------ globals */

/* s as printable text for a message: escapes, at most ~200 bytes. */
static void quote(char *buf, size_t size, const char *s, size_t len)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (j > 200) {
			j += (size_t)snprintf(buf + j, size - j, "...");
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			buf[j++] = (char)ch;
		else
			j += (size_t)snprintf(buf + j, size - j, "\\x%02x", ch);
	}
	buf[j] = 0;
}

static int global(struct ld *l, const char *mod, size_t mlen,
		  const char *name, size_t nlen)
{
	char qm[256], qn[256];
	qf_pv *v;

	for (size_t i = 0; i < sizeof globals / sizeof *globals; i++) {
		const struct glob *g = &globals[i];
		if (strlen(g->module) != mlen || memcmp(g->module, mod, mlen) ||
		    strlen(g->name) != nlen || memcmp(g->name, name, nlen))
			continue;
		v = newv(l, QF_PV_GLOBAL);
		if (!v)
			return -1;
		v->g = g->g;
		v->i = g->dtype;
		v->len = mlen + 1 + nlen;
		v->s = malloc(v->len + 1);
		if (!v->s)
			return fail(l, "out of memory");
		snprintf(v->s, v->len + 1, "%s.%s", g->module, g->name);
		return push(l, v);
	}
	quote(qm, sizeof qm, mod, mlen);
	quote(qn, sizeof qn, name, nlen);
	return fail(l, "global %s.%s is not allowed", qm, qn);
}

/* GLOBAL's argument: "module\nname\n". */
static int op_global(struct ld *l)
{
	const char *line[2];
	size_t len[2];

	for (int k = 0; k < 2; k++) {
		const unsigned char *s = l->p + l->pos;
		size_t max = l->n - l->pos;
		const unsigned char *nl;
		if (max > QF_PK_MAX_LINE + 1)
			max = QF_PK_MAX_LINE + 1;
		nl = memchr(s, '\n', max);
		if (!nl) {
			if (max > QF_PK_MAX_LINE)
				return fail(l, "GLOBAL name longer than %d bytes",
					    QF_PK_MAX_LINE);
			return fail(l, "truncated in GLOBAL");
		}
		line[k] = (const char *)s;
		len[k] = (size_t)(nl - s);
		l->pos += len[k] + 1;
	}
	return global(l, line[0], len[0], line[1], len[1]);
}

static int op_stack_global(struct ld *l)
{
	qf_pv *name = pop(l), *mod = name ? pop(l) : NULL;

	if (!mod)
		return -1;
	if (mod->type != QF_PV_STR || name->type != QF_PV_STR)
		return fail(l, "STACK_GLOBAL needs two str, not %s and %s",
			    qf_pv_type_name(mod->type),
			    qf_pv_type_name(name->type));
	return global(l, mod->s, mod->len, name->s, name->len);
}

/* ------------------------------------------------------------ calls */

static int is_int(const qf_pv *v)
{
	return v->type == QF_PV_INT || v->type == QF_PV_BOOL;
}

/* A tuple of at most QF_MAX_DIMS non-negative ints into d. */
static int dims_arg(struct ld *l, const qf_pv *t, const char *what,
		    uint64_t *d, int *nd)
{
	if (t->type != QF_PV_TUPLE)
		return fail(l, "_rebuild_tensor: %s is a %s, not a tuple", what,
			    qf_pv_type_name(t->type));
	if (t->n > QF_MAX_DIMS)
		return fail(l, "_rebuild_tensor: %s has %zu dimensions (at most "
			    "%d)", what, t->n, QF_MAX_DIMS);
	for (size_t k = 0; k < t->n; k++) {
		if (!is_int(t->v[k]) || t->v[k]->i < 0)
			return fail(l, "_rebuild_tensor: %s[%zu] is not a "
				    "non-negative int", what, k);
		d[k] = (uint64_t)t->v[k]->i;
	}
	*nd = (int)t->n;
	return 0;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride,
 * requires_grad, backward_hooks[, metadata]) and
 * _rebuild_tensor(storage, storage_offset, size, stride). */
static qf_pv *rebuild_tensor(struct ld *l, const qf_pv *a, int v2)
{
	qf_ptensor *t;
	qf_pv *v;
	int nd2;

	if (v2 ? a->n != 6 && a->n != 7 : a->n != 4) {
		fail(l, "_rebuild_tensor%s: %zu arguments", v2 ? "_v2" : "",
		     a->n);
		return NULL;
	}
	if (a->v[0]->type != QF_PV_STORAGE) {
		fail(l, "_rebuild_tensor: argument 1 is a %s, not a storage",
		     qf_pv_type_name(a->v[0]->type));
		return NULL;
	}
	if (!is_int(a->v[1]) || a->v[1]->i < 0) {
		fail(l, "_rebuild_tensor: the storage offset is not a "
		     "non-negative int");
		return NULL;
	}
	if (v2 && a->v[4]->type != QF_PV_BOOL && a->v[4]->type != QF_PV_INT) {
		fail(l, "_rebuild_tensor_v2: requires_grad is a %s",
		     qf_pv_type_name(a->v[4]->type));
		return NULL;
	}
	for (size_t k = 5; v2 && k < a->n; k++)
		if (a->v[k]->type != QF_PV_DICT && a->v[k]->type != QF_PV_NONE) {
			fail(l, "_rebuild_tensor_v2: argument %zu is a %s, not a "
			     "dict", k + 1, qf_pv_type_name(a->v[k]->type));
			return NULL;
		}
	if (!(v = newv(l, QF_PV_TENSOR)))
		return NULL;
	if (!(v->t = t = calloc(1, sizeof *t))) {
		fail(l, "out of memory");
		return NULL;
	}
	t->storage = a->v[0];
	t->offset = (uint64_t)a->v[1]->i;
	if (dims_arg(l, a->v[2], "size", t->size, &t->ndim) < 0 ||
	    dims_arg(l, a->v[3], "stride", t->stride, &nd2) < 0)
		return NULL;
	if (nd2 != t->ndim) {
		fail(l, "_rebuild_tensor: size has %d dimensions, stride %d",
		     t->ndim, nd2);
		return NULL;
	}
	return v;
}

static int op_reduce(struct ld *l)
{
	qf_pv *a = pop(l), *f = a ? top(l) : NULL, *r = NULL;

	if (!f)
		return -1;
	if (f->type != QF_PV_GLOBAL)
		return fail(l, "REDUCE: a %s cannot be called",
			    qf_pv_type_name(f->type));
	if (a->type != QF_PV_TUPLE)
		return fail(l, "REDUCE: %s: the arguments are a %s, not a tuple",
			    f->s, qf_pv_type_name(a->type));
	switch (f->g) {
	case G_ODICT:
		if (a->n != 0)
			return fail(l, "REDUCE: %s with arguments", f->s);
		r = newv(l, QF_PV_DICT);
		break;
	case G_REBUILD_V2:
	case G_REBUILD:
		r = rebuild_tensor(l, a, f->g == G_REBUILD_V2);
		break;
	case G_PARAM:
	case G_PARAM_STATE:
		if (a->n != (f->g == G_PARAM ? 3u : 4u))
			return fail(l, "%s: %zu arguments", f->s, a->n);
		if (a->v[0]->type != QF_PV_TENSOR)
			return fail(l, "%s: argument 1 is a %s, not a tensor",
				    f->s, qf_pv_type_name(a->v[0]->type));
		r = a->v[0];
		break;
	case G_SIZE:
		if (a->n != 1 || a->v[0]->type != QF_PV_TUPLE)
			return fail(l, "%s: needs one tuple", f->s);
		for (size_t k = 0; k < a->v[0]->n; k++)
			if (!is_int(a->v[0]->v[k]))
				return fail(l, "%s: item %zu is a %s", f->s, k,
					    qf_pv_type_name(a->v[0]->v[k]->type));
		r = a->v[0];
		break;
	default:
		return fail(l, "REDUCE: %s cannot be called", f->s);
	}
	if (!r)
		return -1;
	l->stack[l->sp - 1] = r;
	return 0;
}

static int op_newobj(struct ld *l)
{
	qf_pv *a = pop(l), *c = a ? top(l) : NULL, *r;

	if (!c)
		return -1;
	if (c->type != QF_PV_GLOBAL || c->g != G_ODICT)
		return fail(l, "NEWOBJ: %s is not allowed",
			    c->type == QF_PV_GLOBAL ? c->s :
			    qf_pv_type_name(c->type));
	if (a->type != QF_PV_TUPLE || a->n != 0)
		return fail(l, "NEWOBJ: %s with arguments", c->s);
	if (!(r = newv(l, QF_PV_DICT)))
		return -1;
	l->stack[l->sp - 1] = r;
	return 0;
}

/* BUILD sets attributes (an OrderedDict's _metadata, a tensor's state):
 * nothing a state dict's values depend on, so it is checked and dropped. */
static int op_build(struct ld *l)
{
	qf_pv *s = pop(l), *o = s ? top(l) : NULL;

	if (!o)
		return -1;
	if (o->type != QF_PV_DICT && o->type != QF_PV_TENSOR)
		return fail(l, "BUILD on a %s", qf_pv_type_name(o->type));
	if (s->type != QF_PV_DICT && s->type != QF_PV_TUPLE &&
	    s->type != QF_PV_NONE)
		return fail(l, "BUILD with a %s", qf_pv_type_name(s->type));
	return 0;
}

/* ('storage', torch.XStorage, key, location, numel) */
static int op_binpersid(struct ld *l)
{
	qf_pv *p = pop(l), *v;
	qf_pstorage *st;

	if (!p)
		return -1;
	if (p->type != QF_PV_TUPLE || p->n != 5 ||
	    p->v[0]->type != QF_PV_STR || strcmp(p->v[0]->s, "storage") != 0 ||
	    p->v[1]->type != QF_PV_GLOBAL || p->v[2]->type != QF_PV_STR ||
	    p->v[3]->type != QF_PV_STR || !is_int(p->v[4]))
		return fail(l, "persistent id is not ('storage', type, key, "
			    "location, numel)");
	if (p->v[1]->g != G_STORAGE)
		return fail(l, "persistent id: %s is not a storage type",
			    p->v[1]->s);
	if (p->v[2]->len == 0 || p->v[2]->len > QF_PK_MAX_KEY)
		return fail(l, "persistent id: bad storage key");
	for (size_t k = 0; k < p->v[2]->len; k++)
		if ((unsigned char)p->v[2]->s[k] < 0x20 || p->v[2]->s[k] == 0x7f)
			return fail(l, "persistent id: bad storage key");
	if (p->v[4]->i < 0)
		return fail(l, "persistent id: negative storage size");
	if (!(v = newv(l, QF_PV_STORAGE)))
		return -1;
	if (!(v->st = st = calloc(1, sizeof *st)))
		return fail(l, "out of memory");
	st->dtype = (int)p->v[1]->i;
	st->type = p->v[1]->s;
	st->key = p->v[2]->s;
	st->numel = (uint64_t)p->v[4]->i;
	return push(l, v);
}

/* ------------------------------------------------------------ the loop */

static int64_t sext(uint64_t x, unsigned bytes)
{
	if (bytes < 8 && (x >> (8 * bytes - 1)) & 1)
		x |= ~0ull << (8 * bytes);
	return (int64_t)x;
}

/* LONG1 / LONG4: a little-endian two's complement integer of k bytes. */
static int op_long(struct ld *l, uint64_t k)
{
	const unsigned char *q = arg(l, k, "LONG");
	uint64_t x = 0;

	if (!q)
		return -1;
	if (k > 8)
		return fail(l, "integer of %" PRIu64 " bytes is too large", k);
	for (uint64_t j = 0; j < k; j++)
		x |= (uint64_t)q[j] << (8 * j);
	return push(l, newint(l, QF_PV_INT, k ? sext(x, (unsigned)k) : 0));
}

static int op_string(struct ld *l, int type, uint64_t len)
{
	const unsigned char *q;

	if (len > QF_PK_MAX_STR)
		return fail(l, "string of %" PRIu64 " bytes (at most %u)", len,
			    QF_PK_MAX_STR);
	if (!(q = arg(l, len, type == QF_PV_STR ? "str" : "bytes")))
		return -1;
	return push(l, newstr(l, type, q, (size_t)len));
}

static int step(struct ld *l, int op)
{
	const unsigned char *q;
	qf_pv *v, *k, *c;
	size_t start = 0;
	double d;
	uint64_t x;

	switch (op) {
	case 0x80:		/* PROTO */
		if (!(q = arg(l, 1, "PROTO")))
			return -1;
		if (q[0] > 5)
			return fail(l, "unsupported pickle protocol %d", q[0]);
		return 0;
	case 0x95:		/* FRAME: framing is transparent here */
		return arg(l, 8, "FRAME") ? 0 : -1;
	case '(':		/* MARK */
		if (l->nmark == QF_PK_MAX_MARKS)
			return fail(l, "nested more than %d deep",
				    QF_PK_MAX_MARKS);
		l->marks[l->nmark++] = l->sp;
		return 0;
	case '0':		/* POP */
		if (l->sp > fence(l)) {
			l->sp--;
			return 0;
		}
		return pop_mark(l, &start);
	case '1':		/* POP_MARK */
		if (pop_mark(l, &start) < 0)
			return -1;
		l->sp = start;
		return 0;
	case '2':		/* DUP */
		return (v = top(l)) ? push(l, v) : -1;
	case '}':		/* EMPTY_DICT */
		return push(l, newv(l, QF_PV_DICT));
	case ']':		/* EMPTY_LIST */
		return push(l, newv(l, QF_PV_LIST));
	case ')':		/* EMPTY_TUPLE */
		return push(l, newv(l, QF_PV_TUPLE));
	case 'd':		/* DICT */
		return collect(l, QF_PV_DICT);
	case 'l':		/* LIST */
		return collect(l, QF_PV_LIST);
	case 't':		/* TUPLE */
		return collect(l, QF_PV_TUPLE);
	case 0x85: case 0x86: case 0x87:	/* TUPLE1, 2, 3 */
		return tuple_n(l, (size_t)(op - 0x84));
	case 'N':		/* NONE */
		return push(l, newv(l, QF_PV_NONE));
	case 0x88:		/* NEWTRUE */
	case 0x89:		/* NEWFALSE */
		return push(l, newint(l, QF_PV_BOOL, op == 0x88));
	case 'J':		/* BININT */
		if (!(q = arg(l, 4, "BININT")))
			return -1;
		return push(l, newint(l, QF_PV_INT, sext(qf_get_u32(q), 4)));
	case 'K':		/* BININT1 */
		if (!(q = arg(l, 1, "BININT1")))
			return -1;
		return push(l, newint(l, QF_PV_INT, q[0]));
	case 'M':		/* BININT2 */
		if (!(q = arg(l, 2, "BININT2")))
			return -1;
		return push(l, newint(l, QF_PV_INT, qf_get_u16(q)));
	case 0x8a:		/* LONG1 */
		if (!(q = arg(l, 1, "LONG1")))
			return -1;
		return op_long(l, q[0]);
	case 0x8b:		/* LONG4 */
		if (!(q = arg(l, 4, "LONG4")))
			return -1;
		if (qf_get_u32(q) & 0x80000000u)
			return fail(l, "LONG4 with a negative size");
		return op_long(l, qf_get_u32(q));
	case 'G':		/* BINFLOAT: big-endian */
		if (!(q = arg(l, 8, "BINFLOAT")))
			return -1;
		x = 0;
		for (int j = 0; j < 8; j++)
			x = x << 8 | q[j];
		memcpy(&d, &x, sizeof d);
		if (!(v = newv(l, QF_PV_FLOAT)))
			return -1;
		v->f = d;
		return push(l, v);
	case 'X':		/* BINUNICODE */
	case 'B':		/* BINBYTES */
		if (!(q = arg(l, 4, opname(op))))
			return -1;
		return op_string(l, op == 'X' ? QF_PV_STR : QF_PV_BYTES,
				 qf_get_u32(q));
	case 'T':		/* BINSTRING: decoded as str, as torch.load does */
		if (!(q = arg(l, 4, "BINSTRING")))
			return -1;
		if (qf_get_u32(q) & 0x80000000u)
			return fail(l, "BINSTRING with a negative size");
		return op_string(l, QF_PV_STR, qf_get_u32(q));
	case 0x8c:		/* SHORT_BINUNICODE */
	case 'U':		/* SHORT_BINSTRING */
	case 'C':		/* SHORT_BINBYTES */
		if (!(q = arg(l, 1, opname(op))))
			return -1;
		return op_string(l, op == 'C' ? QF_PV_BYTES : QF_PV_STR, q[0]);
	case 0x8d:		/* BINUNICODE8 */
	case 0x8e:		/* BINBYTES8 */
		if (!(q = arg(l, 8, opname(op))))
			return -1;
		return op_string(l, op == 0x8d ? QF_PV_STR : QF_PV_BYTES,
				 qf_get_u64(q));
	case 'q':		/* BINPUT */
		return (q = arg(l, 1, "BINPUT")) ? memo_put(l, q[0]) : -1;
	case 'r':		/* LONG_BINPUT */
		return (q = arg(l, 4, "LONG_BINPUT")) ?
			memo_put(l, qf_get_u32(q)) : -1;
	case 0x94:		/* MEMOIZE */
		return memo_put(l, l->nmemo);
	case 'h':		/* BINGET */
		return (q = arg(l, 1, "BINGET")) ? memo_get(l, q[0]) : -1;
	case 'j':		/* LONG_BINGET */
		return (q = arg(l, 4, "LONG_BINGET")) ?
			memo_get(l, qf_get_u32(q)) : -1;
	case 'a':		/* APPEND */
		if (!(v = pop(l)) || !(c = top(l)))
			return -1;
		if (c->type != QF_PV_LIST)
			return fail(l, "APPEND to a %s", qf_pv_type_name(c->type));
		if (reserve(l, c, 1) < 0)
			return -1;
		c->v[c->n++] = v;
		return 0;
	case 'e':		/* APPENDS */
		return extend(l, QF_PV_LIST);
	case 's':		/* SETITEM */
		if (!(v = pop(l)) || !(k = pop(l)) || !(c = top(l)))
			return -1;
		if (c->type != QF_PV_DICT)
			return fail(l, "SETITEM on a %s", qf_pv_type_name(c->type));
		if (reserve(l, c, 1) < 0)
			return -1;
		c->v[2 * c->n] = k;
		c->v[2 * c->n + 1] = v;
		c->n++;
		return 0;
	case 'u':		/* SETITEMS */
		return extend(l, QF_PV_DICT);
	case 'c':		/* GLOBAL */
		return op_global(l);
	case 0x93:		/* STACK_GLOBAL */
		return op_stack_global(l);
	case 'R':		/* REDUCE */
		return op_reduce(l);
	case 'b':		/* BUILD */
		return op_build(l);
	case 0x81:		/* NEWOBJ */
		return op_newobj(l);
	case 'Q':		/* BINPERSID */
		return op_binpersid(l);
	default:
		if (opname(op))
			return fail(l, "opcode %s (0x%02x) is not supported",
				    opname(op), op);
		return fail(l, "unknown opcode 0x%02x", op);
	}
}

qf_pk *qf_pickle_load(const unsigned char *buf, size_t n, const char *name,
		      qf_err *err)
{
	struct ld *l = calloc(1, sizeof *l);
	qf_pk *pk = calloc(1, sizeof *pk);
	int rc = -1;

	if (!l || !pk) {
		free(l);
		free(pk);
		qf_err_set(err, "%s: out of memory", name);
		return NULL;
	}
	l->pk = pk;
	l->p = buf;
	l->n = n;
	l->name = name;
	l->err = err;
	for (;;) {
		int op;
		l->op = l->pos;
		if (l->pos >= l->n) {
			fail(l, "truncated: no STOP");
			break;
		}
		op = l->p[l->pos++];
		if (op == '.') {	/* STOP */
			const qf_pv *r = pop(l);
			if (r) {
				pk->root = r;
				rc = 0;
			}
			break;
		}
		if (step(l, op) < 0)
			break;
	}
	free(l->stack);
	free(l->memo);
	free(l);
	if (rc < 0) {
		qf_pickle_free(pk);
		return NULL;
	}
	return pk;
}

const qf_pv *qf_pickle_root(const qf_pk *pk)
{
	return pk->root;
}

void qf_pickle_free(qf_pk *pk)
{
	if (!pk)
		return;
	for (size_t i = 0; i < pk->nobj; i++) {
		qf_pv *v = pk->obj[i];
		free(v->s);
		free(v->v);
		free(v->st);
		free(v->t);
		free(v);
	}
	free(pk->obj);
	free(pk);
}
