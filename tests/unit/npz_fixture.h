/*
 * npz_fixture.h - the arrays of an .npz fixture (written by the tests'
 * Python generators), read with qf's own npz reader, for the unit tests
 * that compare against PyTorch.  Include after qf.h and unit.h.
 */
#ifndef QF_NPZ_FIXTURE_H
#define QF_NPZ_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPZ_MAX 160

struct arr {
	char name[96];
	qf_rec rec;
	void *data;
};

struct npz {
	struct arr a[NPZ_MAX];
	int n;
};

static __attribute__((unused)) int npz_load(struct npz *z, const char *path)
{
	qf_err e;
	qf_npz_reader *r = qf_npz_open(path, &e);
	int rc;

	z->n = 0;
	if (!r) {
		printf("# %s\n", e.msg);
		return -1;
	}
	while (z->n < NPZ_MAX) {
		struct arr *a = &z->a[z->n];

		qf_rec_init(&a->rec);
		rc = qf_npz_next(r, &a->rec, &a->data, &e);
		if (rc <= 0) {
			qf_rec_free(&a->rec);
			if (rc < 0)
				printf("# %s\n", e.msg);
			break;
		}
		snprintf(a->name, sizeof a->name, "%s", a->rec.name);
		z->n++;
	}
	qf_npz_close(r);
	return 0;
}

static __attribute__((unused)) void npz_free(struct npz *z)
{
	for (int i = 0; i < z->n; i++) {
		qf_rec_free(&z->a[i].rec);
		free(z->a[i].data);
	}
	z->n = 0;
}

/* The array called name, or NULL (said on stdout as a TAP comment). */
static __attribute__((unused)) const struct arr *npz_get(const struct npz *z,
							 const char *name)
{
	for (int i = 0; i < z->n; i++)
		if (strcmp(z->a[i].name, name) == 0)
			return &z->a[i];
	printf("# no array %s\n", name);
	return NULL;
}

#endif
