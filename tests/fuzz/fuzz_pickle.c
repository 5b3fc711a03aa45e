/*
 * fuzz_pickle.c - libFuzzer harness for the restricted unpickler
 * (lib/ckpt/pickle.c): the input is a pickle, loaded and then walked.  Errors
 * are fine; crashes, sanitizer reports, leaks and hangs are not.
 *
 *   make build/fuzz/fuzz_pickle && build/fuzz/fuzz_pickle tests/fuzz/corpus/pickle
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qf.h"
#include "ckpt/pickle.h"

/* Touch what a loader would look at: types, strings, items, tensors. */
static uint64_t walk(const qf_pv *v)
{
	uint64_t h = (uint64_t)v->type;

	switch (v->type) {
	case QF_PV_STR:
	case QF_PV_BYTES:
	case QF_PV_GLOBAL:
		h += v->len + (v->len ? (unsigned char)v->s[v->len - 1] : 0);
		break;
	case QF_PV_TUPLE:
	case QF_PV_LIST:
	case QF_PV_DICT:
		for (size_t i = 0; i < v->n * (v->type == QF_PV_DICT ? 2 : 1); i++)
			h = h * 31 + (uint64_t)v->v[i]->type;
		break;
	case QF_PV_STORAGE:
		h += v->st->numel + strlen(v->st->key) + (uint64_t)v->st->dtype;
		break;
	case QF_PV_TENSOR:
		h += v->t->offset + v->t->storage->st->numel;
		for (int d = 0; d < v->t->ndim; d++)
			h += v->t->size[d] * v->t->stride[d];
		break;
	}
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy = malloc(size ? size : 1);
	qf_pk *pk;
	qf_err err;

	if (!copy)
		return 0;
	memcpy(copy, data, size);	/* exactly size bytes for ASan */
	pk = qf_pickle_load(copy, size, "fuzz", &err);
	if (pk) {
		const qf_pv *r = qf_pickle_root(pk);
		volatile uint64_t h = walk(r);
		if (r->type == QF_PV_DICT || r->type == QF_PV_LIST ||
		    r->type == QF_PV_TUPLE)
			for (size_t i = 0;
			     i < r->n * (r->type == QF_PV_DICT ? 2 : 1); i++)
				h += walk(r->v[i]);
		(void)h;
		qf_pickle_free(pk);
	} else if (memchr(err.msg, 0, sizeof err.msg) == NULL) {
		abort();	/* the message must be a string */
	}
	free(copy);
	return 0;
}
