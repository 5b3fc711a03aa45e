/*
 * test_safetensors.c - the safetensors checkpoint backend.
 *
 * The fixtures in data/safetensors/ were written by gen.py there, with a
 * writer that reproduces the safetensors library's output byte for byte;
 * each F.safetensors has an F.npz with the same tensors as numpy wrote
 * them (bf16 as uint16 bits).  Broken files are made here, in a
 * temporary directory, from a header text and a data size.  When the
 * shared fixtures exist, the real gpt2-tiny model.safetensors is
 * compared with torch.load of its pytorch_model.bin.  Run with
 * cwd = tests/.
 */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qf.h"
#include "unit.h"

#define SDIR "data/safetensors/"
#define PY "/usr/bin/python3"

static char tmp[64];

/* ---------------------------------------------------------------- helpers */

static char *path_in(const char *name)
{
	static char buf[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
	return buf[k];
}

static int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(p, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int write_str(const char *path, const char *s)
{
	return write_file(path, s, strlen(s));
}

static void *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)len + 1)) &&
	    fread(p, 1, (size_t)len, f) == (size_t)len) {
		*n = (size_t)len;
	} else {
		free(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

/* A safetensors file: length n (as given), header text, then `data`
 * bytes (copied from fill when given, else zeros). */
static int mkraw(const char *path, uint64_t n, const char *json, size_t jlen,
		 size_t data, const void *fill)
{
	size_t len = 8 + jlen + data;
	unsigned char *b = calloc(1, len);
	int rc;

	if (!b)
		return -1;
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(n >> (8 * i));
	memcpy(b + 8, json, jlen);
	if (fill)
		memcpy(b + 8 + jlen, fill, data);
	rc = write_file(path, b, len);
	free(b);
	return rc;
}

static int mk(const char *path, const char *json, size_t data)
{
	return mkraw(path, strlen(json), json, strlen(json), data, NULL);
}

/* Open must fail with "PATH: want". */
#define CHECK_FAIL(path, want) check_fail(__LINE__, path, want)
static void check_fail(int line, const char *path, const char *want)
{
	qf_err e = { .msg = "" };
	qf_ckpt *c = qf_ckpt_open(path, &e);
	char full[QF_ERR_MAX];

	snprintf(full, sizeof full, "%s: %s", path, want);
	if (c) {
		printf("# line %d: %s opened, expected: %s\n", line, path, full);
		unit_cur_failed++;
		qf_ckpt_close(c);
	} else if (strcmp(e.msg, full) != 0) {
		printf("# line %d: got      %s\n#          expected %s\n", line,
		       e.msg, full);
		unit_cur_failed++;
	}
}

static int rm_one(const char *p, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

/* The expected arrays of an .npz. */
struct arr {
	qf_rec rec;
	void *data;
};

struct arrs {
	struct arr *a;
	size_t n;
};

static int load_npz(const char *path, struct arrs *z)
{
	qf_err e;
	qf_npz_reader *r = qf_npz_open(path, &e);
	int rc;

	memset(z, 0, sizeof *z);
	if (!r) {
		printf("# %s\n", e.msg);
		return -1;
	}
	for (;;) {
		struct arr *a = realloc(z->a, (z->n + 1) * sizeof *a);
		if (!a)
			break;
		z->a = a;
		qf_rec_init(&a[z->n].rec);
		a[z->n].data = NULL;
		rc = qf_npz_next(r, &a[z->n].rec, &a[z->n].data, &e);
		if (rc <= 0) {
			qf_rec_free(&a[z->n].rec);
			if (rc < 0)
				printf("# %s\n", e.msg);
			break;
		}
		z->n++;
	}
	qf_npz_close(r);
	return 0;
}

static void free_npz(struct arrs *z)
{
	for (size_t i = 0; i < z->n; i++) {
		qf_rec_free(&z->a[i].rec);
		free(z->a[i].data);
	}
	free(z->a);
}

static const struct arr *find(const struct arrs *z, const char *name)
{
	for (size_t i = 0; i < z->n; i++)
		if (strcmp(z->a[i].rec.name, name) == 0)
			return &z->a[i];
	return NULL;
}

/* Every tensor of c equals the same-named array of z (bf16 against
 * uint16 bits), and c has as many tensors as z. */
static void compare(qf_ckpt *c, const struct arrs *z, const char *what)
{
	qf_err e;
	size_t n = qf_ckpt_count(c);

	CHECKF(n == z->n, "%s: %zu tensors, expected %zu", what, n, z->n);
	for (size_t i = 0; i < n; i++) {
		const qf_ckpt_tensor *t = qf_ckpt_tensor_at(c, i);
		const struct arr *a = find(z, t->name);
		int want_dt;
		void *buf;

		CHECKF(a != NULL, "%s: tensor %s not expected", what, t->name);
		if (!a)
			continue;
		want_dt = a->rec.dtype;
		if (strcmp(t->src_type, "BF16") == 0 && want_dt == QF_U16)
			want_dt = QF_BF16;
		CHECKF(t->dtype == want_dt, "%s: %s: dtype %d, expected %d", what,
		       t->name, t->dtype, want_dt);
		CHECKF(t->ndim == a->rec.ndim, "%s: %s: ndim %d, expected %d",
		       what, t->name, t->ndim, a->rec.ndim);
		for (int k = 0; k < t->ndim && k < QF_MAX_DIMS; k++)
			CHECKF(t->dims[k] == a->rec.dims[k], "%s: %s: dim %d",
			       what, t->name, k);
		CHECKF(t->nbytes == qf_rec_nbytes(&a->rec), "%s: %s: nbytes",
		       what, t->name);
		buf = malloc((size_t)t->nbytes + 1);
		CHECKF(qf_ckpt_read(c, i, buf, &e) == 0, "%s: %s: read: %s", what,
		       t->name, e.msg);
		CHECKF(t->nbytes == 0 || memcmp(buf, a->data, (size_t)t->nbytes) == 0,
		       "%s: %s: values differ", what, t->name);
		free(buf);
	}
}

static const char *src_name(int dtype)
{
	switch (dtype) {
	case QF_F64: return "F64";
	case QF_F32: return "F32";
	case QF_F16: return "F16";
	case QF_BF16: return "BF16";
	case QF_I64: return "I64";
	case QF_I32: return "I32";
	case QF_I16: return "I16";
	case QF_I8: return "I8";
	case QF_U64: return "U64";
	case QF_U32: return "U32";
	case QF_U16: return "U16";
	case QF_U8: return "U8";
	case QF_BOOL: return "BOOL";
	}
	return "?";
}

/* ---------------------------------------------------------------- fixtures */

static const struct {
	const char *file, *npz;
	int dtype;		/* of every tensor, or 0 */
	size_t n;
} fixtures[] = {
	{ "gpt2_f32.safetensors", "gpt2_f32.npz", QF_F32, 28 },
	{ "gpt2_f16.safetensors", "gpt2_f16.npz", QF_F16, 28 },
	{ "gpt2_bf16.safetensors", "gpt2_bf16.npz", QF_BF16, 28 },
	{ "misc.safetensors", "misc.npz", 0, 20 },
};

static void test_fixtures(void)
{
	char p[256], q[256];
	qf_err e;

	for (size_t f = 0; f < sizeof fixtures / sizeof *fixtures; f++) {
		struct arrs z;
		qf_ckpt *c;

		snprintf(p, sizeof p, SDIR "%s", fixtures[f].file);
		snprintf(q, sizeof q, SDIR "%s", fixtures[f].npz);
		c = qf_ckpt_open(p, &e);
		CHECKF(c != NULL, "%s", e.msg);
		if (!c || load_npz(q, &z) < 0) {
			qf_ckpt_close(c);
			continue;
		}
		CHECK_STR(qf_ckpt_format(c), "safetensors");
		CHECKF(qf_ckpt_count(c) == fixtures[f].n, "%s: %zu tensors", p,
		       qf_ckpt_count(c));
		compare(c, &z, p);
		for (size_t i = 0; i < qf_ckpt_count(c); i++) {
			const qf_ckpt_tensor *t = qf_ckpt_tensor_at(c, i);
			CHECK(!fixtures[f].dtype || t->dtype == fixtures[f].dtype);
			CHECK_STR(t->src_type, src_name(t->dtype));
			CHECK_STR(t->file, p);
		}
		free_npz(&z);
		qf_ckpt_close(c);
	}
}

/* Tensors come in header order: the reference writer's (by name here),
 * or the file's own. */
static void test_order(void)
{
	qf_err e;
	qf_ckpt *c = qf_ckpt_open(SDIR "gpt2_f32.safetensors", &e);

	CHECKF(c != NULL, "%s", e.msg);
	if (!c)
		return;
	for (size_t i = 1; i < qf_ckpt_count(c); i++)
		CHECK(strcmp(qf_ckpt_tensor_at(c, i - 1)->name,
			     qf_ckpt_tensor_at(c, i)->name) < 0);
	/* the header is padded to 8 bytes; the data follows in header order */
	CHECK(qf_ckpt_tensor_at(c, 0)->offset % 8 == 0);
	for (size_t i = 1; i < qf_ckpt_count(c); i++)
		CHECK(qf_ckpt_tensor_at(c, i)->offset ==
		      qf_ckpt_tensor_at(c, i - 1)->offset +
		      qf_ckpt_tensor_at(c, i - 1)->nbytes);
	qf_ckpt_close(c);

	c = qf_ckpt_open(SDIR "misc.safetensors", &e);
	CHECKF(c != NULL, "%s", e.msg);
	if (!c)
		return;
	CHECK_STR(qf_ckpt_tensor_at(c, 0)->name, "scalar.f64");
	CHECK_STR(qf_ckpt_tensor_at(c, 1)->name, "empty.f32");
	CHECK_STR(qf_ckpt_tensor_at(c, 18)->name, "caf\xc3\xa9");
	CHECK_STR(qf_ckpt_tensor_at(c, 19)->name, "\xc3\xa4rger.\xce\xbb");
	qf_ckpt_close(c);
}

/* A few values spelled out, so that the fixtures and the npz cannot be
 * wrong together. */
static void test_misc_values(void)
{
	qf_err e;
	qf_ckpt *c = qf_ckpt_open(SDIR "misc.safetensors", &e);
	const qf_ckpt_tensor *t;
	unsigned char b[64];
	uint64_t u64[2];
	double d;

	CHECKF(c != NULL, "%s", e.msg);
	if (!c)
		return;
	t = qf_ckpt_tensor_at(c, 0);
	CHECK(t->dtype == QF_F64 && t->ndim == 0 && t->nbytes == 8);
	CHECK(qf_ckpt_read(c, 0, &d, &e) == 0 && d == 3.25);
	t = qf_ckpt_tensor_at(c, 1);
	CHECK(t->dtype == QF_F32 && t->ndim == 1 && t->dims[0] == 0 &&
	      t->nbytes == 0);
	CHECK(qf_ckpt_read(c, 1, NULL, &e) == 0);
	t = qf_ckpt_tensor_at(c, 10);
	CHECK_STR(t->name, "u64");
	CHECK(qf_ckpt_read(c, 10, u64, &e) == 0 && u64[0] == UINT64_MAX &&
	      u64[1] == 9);
	t = qf_ckpt_tensor_at(c, 11);
	CHECK_STR(t->name, "empty.i16");
	CHECK(t->ndim == 3 && t->dims[0] == 3 && t->dims[1] == 0 &&
	      t->dims[2] == 2 && t->nbytes == 0);
	t = qf_ckpt_tensor_at(c, 12);
	CHECK(t->dtype == QF_BOOL && t->nbytes == 5);
	CHECK(qf_ckpt_read(c, 12, b, &e) == 0 &&
	      memcmp(b, "\1\0\1\0\1", 5) == 0);
	t = qf_ckpt_tensor_at(c, 16);
	CHECK_STR(t->name, "nd8");
	CHECK(t->ndim == 8 && t->dims[7] == 2 && t->nbytes == 32);
	qf_ckpt_close(c);
}

static void test_meta(void)
{
	qf_err e;
	qf_ckpt *c = qf_ckpt_open(SDIR "misc.safetensors", &e);
	const qf_rec *m;

	CHECKF(c != NULL, "%s", e.msg);
	if (!c)
		return;
	m = qf_ckpt_meta(c);
	CHECK_STR(qf_rec_get(m, "format"), "pt");
	CHECK_STR(qf_rec_get(m, "note"), "misc fixture");
	CHECK_STR(qf_rec_get(m, "\xc3\xbc"), "\xc3\x9f");
	CHECK(m->nattr == 3);
	qf_ckpt_close(c);

	c = qf_ckpt_open(SDIR "gpt2_bf16.safetensors", &e);
	CHECKF(c != NULL, "%s", e.msg);
	if (c)
		CHECK(qf_ckpt_meta(c)->nattr == 0);
	qf_ckpt_close(c);
}

static void test_sharded(void)
{
	static const char *const s1 = SDIR "sharded/model-00001-of-00002.safetensors";
	static const char *const s2 = SDIR "sharded/model-00002-of-00002.safetensors";
	qf_err e;
	qf_ckpt *c = qf_ckpt_open(SDIR "sharded", &e);
	const qf_rec *m;
	struct arrs z;
	size_t n1 = 0, n2 = 0;

	CHECKF(c != NULL, "%s", e.msg);
	if (!c)
		return;
	CHECK_STR(qf_ckpt_format(c), "safetensors");
	CHECK(qf_ckpt_count(c) == 28);
	if (load_npz(SDIR "sharded.npz", &z) == 0) {
		compare(c, &z, "sharded");
		free_npz(&z);
	}
	for (size_t i = 0; i < qf_ckpt_count(c); i++) {
		const qf_ckpt_tensor *t = qf_ckpt_tensor_at(c, i);
		int first = strncmp(t->name, "transformer.h.1.", 16) != 0 &&
			strncmp(t->name, "transformer.ln_f.", 17) != 0;
		CHECK(strncmp(t->name, "transformer.", 12) == 0);
		CHECK_STR(t->file, first ? s1 : s2);
		n1 += first;
		n2 += !first;
	}
	CHECK(n1 == 14 && n2 == 14);
	m = qf_ckpt_meta(c);
	CHECK_STR(qf_rec_get(m, "format"), "pt");
	CHECK_STR(qf_rec_get(m, "total_size"), "7616");
	CHECK_STR(qf_rec_get(m, "n_embd"), "8");	/* config.json */
	qf_ckpt_close(c);
}

/* Bytes this process has read so far (/proc/self/io "rchar"); -1 when
 * the kernel does not say. */
static long long bytes_read(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	long long v = -1;
	char line[128];

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "rchar: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Opening reads headers only: a 64 GiB (sparse) file opens at once, and
 * data changed after open is what a read returns. */
static void test_lazy(void)
{
	const char *json = "{\"big\":{\"dtype\":\"F32\",\"shape\":[17179869184],"
		"\"data_offsets\":[0,68719476736]},\"tail\":{\"dtype\":\"U8\","
		"\"shape\":[4],\"data_offsets\":[68719476736,68719476740]}}";
	const char *p = path_in("big.safetensors");
	uint64_t base = 8 + strlen(json);
	unsigned char b[4];
	qf_ckpt *c;
	qf_err e;
	long long r0, r1;
	int fd;

	if (mk(p, json, 0) < 0 || truncate(p, (off_t)(base + 68719476740ull)) < 0 ||
	    (fd = open(p, O_WRONLY)) < 0) {
		remove(p);
		SKIP("cannot make a 64 GiB sparse file here");
	}
	CHECK(pwrite(fd, "wxyz", 4, (off_t)(base + 68719476736ull)) == 4);
	close(fd);
	r0 = bytes_read();
	c = qf_ckpt_open(p, &e);
	r1 = bytes_read();
	/* the header only, not the 64 GiB of data (a count, not a timing) */
	CHECKF(r0 < 0 || r1 - r0 < (1 << 20), "open read %lld bytes", r1 - r0);
	CHECKF(c != NULL, "%s", e.msg);
	if (c) {
		CHECK(qf_ckpt_tensor_at(c, 0)->nbytes == 68719476736ull);
		CHECK(qf_ckpt_tensor_at(c, 1)->offset == base + 68719476736ull);
		CHECK(qf_ckpt_read(c, 1, b, &e) == 0 && memcmp(b, "wxyz", 4) == 0);
		/* the file changes after open: reads see it */
		fd = open(p, O_WRONLY);
		CHECK(fd >= 0 && pwrite(fd, "WXYZ", 4,
					(off_t)(base + 68719476736ull)) == 4);
		if (fd >= 0)
			close(fd);
		CHECK(qf_ckpt_read(c, 1, b, &e) == 0 && memcmp(b, "WXYZ", 4) == 0);
		/* and truncation after open is a read error, not a crash */
		CHECK(truncate(p, (off_t)(base + 68719476738ull)) == 0);
		CHECK(qf_ckpt_read(c, 1, b, &e) < 0);
		CHECK(strstr(e.msg, "truncated") != NULL);
	}
	qf_ckpt_close(c);
	remove(p);
}

/* Data cut short: the ranges the header gives must lie in the file, so
 * this is an error at open. */
static void test_truncated_data(void)
{
	const char *p = path_in("short.safetensors");

	CHECK(mk(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],"
		 "\"data_offsets\":[0,16]}}", 10) == 0);
	CHECK_FAIL(p, "tensor a: data ends before offset 16 of the data buffer "
		   "(data_offsets [0, 16]; the buffer has 10 bytes)");
	remove(p);
}

/* Every prefix of a small valid file fails, with one line that says why. */
static void test_truncate_every(void)
{
	const char *p = path_in("cut.safetensors");
	size_t n, hdr, bad = 0;
	unsigned char *b = read_file(SDIR "misc.safetensors", &n);
	qf_err e;

	CHECK(b != NULL);
	if (!b)
		return;
	hdr = 8 + (size_t)(b[0] | b[1] << 8);
	for (size_t k = 0; k < n; k++) {
		qf_ckpt *c;
		const char *want;

		if (write_file(p, b, k) < 0) {
			bad++;
			break;
		}
		c = qf_ckpt_open(p, &e);
		want = k < 9 ? "not a checkpoint" : k < hdr ?
			"runs past the end of the file" : "data ends before offset";
		if (c || strncmp(e.msg, p, strlen(p)) != 0 ||
		    strchr(e.msg, '\n') || !strstr(e.msg, want)) {
			if (bad++ < 5)
				printf("# cut at %zu: %s\n", k, c ? "opened" : e.msg);
		}
		qf_ckpt_close(c);
	}
	CHECKF(bad == 0, "%zu prefixes misbehaved", bad);
	free(b);
	remove(p);
}

/* Broken headers, each with its message (after "PATH: "). */
static const struct {
	const char *json;
	size_t data;
	const char *want;
} bad[] = {
	{ "{\"a\":1}", 0, "tensor a: entry is a number, not an object" },
	{ "{\"a\":{\"dtype\":\"F7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
	  "tensor a: unknown dtype \"F7\"" },
	{ "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
	  "tensor a: dtype F8_E4M3 is not supported by qf" },
	{ "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
	  "tensor a: unknown dtype \"f32\"" },
	{ "{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
	  "tensor a: dtype is a number, not a string" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
	  "tensor a: shape: dimension 0 (-1) is not an integer in [0, 2^64)" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,2.5],\"data_offsets\":[0,4]}}", 4,
	  "tensor a: shape: dimension 1 (2.5) is not an integer in [0, 2^64)" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4,
	  "tensor a: shape: dimension 0 (1e0) is not an integer in [0, 2^64)" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
	  "tensor a: shape: dimension 0 (a string) is not an integer in [0, 2^64)" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[18446744073709551616],"
	  "\"data_offsets\":[0,4]}}", 4,
	  "tensor a: shape: dimension 0 (18446744073709551616) is not an "
	  "integer in [0, 2^64)" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,4]}}", 4,
	  "tensor a: shape is a number, not an array" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
	  "\"data_offsets\":[0,4]}}", 4,
	  "tensor a: shape has 9 dimensions (at most 8)" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],"
	  "\"data_offsets\":[0,4]}}", 4,
	  "tensor a: shape [1099511627776, 1099511627776] has more than 2^64 "
	  "elements" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,1073741824],"
	  "\"data_offsets\":[0,4]}}", 4,
	  "tensor a: F32 shape [4294967296, 1073741824] needs 2^64 bytes or more" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1073741824,1048576],"
	  "\"data_offsets\":[0,4]}}", 4,
	  "tensor a: data_offsets [0, 4] hold 4 bytes, but F32 "
	  "[1073741824, 1048576] needs 4503599627370496" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[1125899906842624,0],"
	  "\"data_offsets\":[0,0]}}", 0,
	  "tensor a: u8 tensor of shape [1125899906842624, 0] is too large "
	  "(limit 281474976710656 bytes)" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
	  "tensor a: data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]}}", 0,
	  "tensor a: data_offsets [0, 0] hold 0 bytes, but F32 [] needs 4" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,0]}}", 4,
	  "tensor a: data_offsets [4, 0] end before they begin" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":\"0-4\"}}", 4,
	  "tensor a: data_offsets is not an array of two integers" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0]}}", 4,
	  "tensor a: data_offsets is not an array of two integers" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4,8]}}", 4,
	  "tensor a: data_offsets is not an array of two integers" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[null,4]}}", 4,
	  "tensor a: data_offsets: begin (null) is not an integer in [0, 2^64)" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,-4]}}", 4,
	  "tensor a: data_offsets: end (-4) is not an integer in [0, 2^64)" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4.0]}}", 4,
	  "tensor a: data_offsets: end (4.0) is not an integer in [0, 2^64)" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":"
	  "[18446744073709551611,18446744073709551615]}}", 4,
	  "tensor a: data ends before offset 18446744073709551615 of the data "
	  "buffer (data_offsets [18446744073709551611, 18446744073709551615]; "
	  "the buffer has 4 bytes)" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
	  "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}", 12,
	  "tensor b: data_offsets [4, 12] overlap tensor a's [0, 8]" },
	{ "{\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]},"
	  "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
	  "\"c\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[6,6]}}", 12,
	  "data bytes [2, 4) belong to no tensor (between tensors a and b)" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
	  "\"c\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[6,6]}}", 8,
	  "tensor c: data_offsets [6, 6] overlap tensor a's [0, 8]" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 8,
	  "data bytes [4, 8) belong to no tensor (after tensor a)" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8,
	  "data bytes [0, 4) belong to no tensor (before tensor a)" },
	{ "{}", 3, "data bytes [0, 3) belong to no tensor (the header lists none)" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
	  "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8,
	  "tensor a appears twice" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4]}}", 4,
	  "tensor a: no \"data_offsets\"" },
	{ "{\"a\":{\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
	  "tensor a: no \"dtype\"" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4],"
	  "\"x\":1}}", 4, "tensor a: unknown key \"x\"" },
	{ "{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[4],"
	  "\"data_offsets\":[0,4]}}", 4, "tensor a: key \"dtype\" appears twice" },
	{ "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
	  "header: __metadata__ appears twice" },
	{ "{\"__metadata__\":{\"k\":1}}", 0,
	  "header: __metadata__: value of \"k\" is a number, not a string" },
	{ "{\"__metadata__\":[]}", 0,
	  "header: __metadata__ is an array, not an object" },
	{ "{\"\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
	  "header: a tensor name is empty" },
	{ "{\"a\\nb\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
	  "header: tensor name \"a\\x0ab\" holds a control character" },
	{ "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
	  "header: offset 3: \\u0000 in a string" },
	{ "{\"a\":", 0, "header: offset 5: unexpected end of input" },
	{ "{} x", 0, "header: offset 3: trailing characters after the JSON value" },
	{ "{\"\xff\":1}", 0, "header: offset 2: invalid UTF-8 in string" },
	{ "{'a':1}", 0, "header: offset 1: expected a string key" },
};

static void test_bad(void)
{
	const char *p = path_in("bad.safetensors");

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		size_t jlen = strlen(bad[i].json);
		CHECK(mkraw(p, jlen, bad[i].json, jlen, bad[i].data, NULL) == 0);
		check_fail(__LINE__ * 1000 + (int)i, p, bad[i].want);
	}
	remove(p);
}

/* The 8-byte length itself. */
static void test_bad_length(void)
{
	const char *p = path_in("len.safetensors");
	char deep[600];

	CHECK(mkraw(p, 1ull << 63, "{}", 2, 0, NULL) == 0);
	CHECK_FAIL(p, "header: offset 0: header length 9223372036854775808 is "
		   "over the limit of 104857600 bytes");
	CHECK(mkraw(p, (100u << 20) + 1, "{}", 2, 0, NULL) == 0);
	CHECK_FAIL(p, "header: offset 0: header length 104857601 is over the "
		   "limit of 104857600 bytes");
	CHECK(mkraw(p, 100, "{}", 2, 18, NULL) == 0);
	CHECK_FAIL(p, "header: offset 0: header length 100 runs past the end of "
		   "the file (28 bytes)");
	CHECK(mkraw(p, 0, "{}", 2, 0, NULL) == 0);
	CHECK_FAIL(p, "header: offset 0: does not start with '{'");
	/* padding must be spaces */
	CHECK(mkraw(p, 8, "{}\0\0\0\0\0\0", 8, 0, NULL) == 0);
	CHECK_FAIL(p, "header: offset 2: trailing characters after the JSON "
		   "value");
	/* nesting beyond the JSON parser's limit */
	memset(deep, '[', sizeof deep);
	memcpy(deep, "{\"a\":", 5);
	CHECK(mkraw(p, sizeof deep, deep, sizeof deep, 0, NULL) == 0);
	CHECK_FAIL(p, "header: offset 132: nesting too deep");
	remove(p);
}

/* Unusual but valid. */
static void test_good_edges(void)
{
	const char *p = path_in("ok.safetensors");
	qf_ckpt *c;
	qf_err e;
	unsigned char b[8];

	/* empty tensors where others start, in any order; spaces padding */
	CHECK(mk(p, "{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
		 "\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
		 "\"c\":{\"dtype\":\"U8\",\"shape\":[2,0],\"data_offsets\":[4,4]},"
		 "\"d\":{\"dtype\":\"I16\",\"shape\":[0,5],\"data_offsets\":[4,4]}"
		 "}        ", 4) == 0);
	c = qf_ckpt_open(p, &e);
	CHECKF(c != NULL, "%s", e.msg);
	if (c)
		CHECK(qf_ckpt_count(c) == 4);
	qf_ckpt_close(c);
	/* no tensors at all */
	CHECK(mk(p, "{}", 0) == 0);
	c = qf_ckpt_open(p, &e);
	CHECKF(c != NULL, "%s", e.msg);
	if (c)
		CHECK(qf_ckpt_count(c) == 0);
	qf_ckpt_close(c);
	/* whitespace in the JSON, metadata only, clashing keys skipped */
	CHECK(mk(p, "{ \"__metadata__\" : { \"k\" : \"v\\u00e9\", \"a=b\": \"x\" },\n"
		 "\t\"x\" : { \"shape\" : [ 2 ] , \"data_offsets\" : [ 0 , 8 ] ,"
		 " \"dtype\" : \"I32\" } }\r\n", 8) == 0);
	c = qf_ckpt_open(p, &e);
	CHECKF(c != NULL, "%s", e.msg);
	if (c) {
		CHECK(qf_ckpt_count(c) == 1);
		CHECK_STR(qf_rec_get(qf_ckpt_meta(c), "k"), "v\xc3\xa9");
		CHECK(qf_ckpt_meta(c)->nattr == 1);
		CHECK(qf_ckpt_read(c, 0, b, &e) == 0);
	}
	qf_ckpt_close(c);
	remove(p);
}

/* BOOL data must be 0 or 1; that is checked when reading. */
static void test_bool(void)
{
	const char *p = path_in("bool.safetensors");
	qf_ckpt *c;
	qf_err e;
	unsigned char b[3];
	char want[512];

	const char *json = "{\"b\":{\"dtype\":\"BOOL\",\"shape\":[3],"
		"\"data_offsets\":[0,3]}}";

	CHECK(mkraw(p, strlen(json), json, strlen(json), 3, "\1\2\0") == 0);
	c = qf_ckpt_open(p, &e);
	CHECKF(c != NULL, "%s", e.msg);
	if (c) {
		snprintf(want, sizeof want, "%s: tensor b: element 1 of a BOOL "
			 "tensor is 2, not 0 or 1", p);
		CHECK(qf_ckpt_read(c, 0, b, &e) < 0);
		CHECK_STR(e.msg, want);
	}
	qf_ckpt_close(c);
	remove(p);
}

/* ---------------------------------------------------------------- shards */

static const char *SHARD_A = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],"
	"\"data_offsets\":[0,8]},\"y\":{\"dtype\":\"I8\",\"shape\":[3],"
	"\"data_offsets\":[8,11]}}";
static const char *SHARD_B = "{\"z\":{\"dtype\":\"BOOL\",\"shape\":[2],"
	"\"data_offsets\":[0,2]}}";
static const char *SHARD_C = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],"
	"\"data_offsets\":[0,8]}}";

static const struct {
	const char *index;
	const char *want;	/* I: the index, D: the directory */
} bad_index[] = {
	{ "{\"weight_map\":{\"x\":\"../a.safetensors\",\"y\":\"a.safetensors\"}}",
	  "I: tensor x: shard \"../a.safetensors\" is not a plain file name in "
	  "the index's directory" },
	{ "{\"weight_map\":{\"x\":\"/etc/passwd\"}}",
	  "I: tensor x: shard \"/etc/passwd\" is not a plain file name in the "
	  "index's directory" },
	{ "{\"weight_map\":{\"x\":\"sub/a.safetensors\"}}",
	  "I: tensor x: shard \"sub/a.safetensors\" is not a plain file name "
	  "in the index's directory" },
	{ "{\"weight_map\":{\"x\":\".a.safetensors\"}}",
	  "I: tensor x: shard \".a.safetensors\" is not a plain file name in "
	  "the index's directory" },
	{ "{\"weight_map\":{\"x\":\"..\"}}",
	  "I: tensor x: shard \"..\" is not a plain file name in the index's "
	  "directory" },
	{ "{\"weight_map\":{\"x\":\"\"}}",
	  "I: tensor x: shard \"\" is not a plain file name in the index's "
	  "directory" },
	{ "{\"weight_map\":{\"x\":\"a.safetensors\",\"y\":\"a.safetensors\","
	  "\"z\":\"b.safetensors\",\"w\":\"a.safetensors\"}}",
	  "I: tensor w: weight_map puts it in a.safetensors, which does not "
	  "hold it" },
	{ "{\"weight_map\":{\"x\":\"a.safetensors\",\"z\":\"b.safetensors\"}}",
	  "D/a.safetensors: tensor y: not in the index's weight_map" },
	{ "{\"weight_map\":{\"x\":\"a.safetensors\",\"y\":\"b.safetensors\","
	  "\"z\":\"b.safetensors\"}}",
	  "D/a.safetensors: tensor y: the index's weight_map puts it in "
	  "b.safetensors" },
	{ "{\"weight_map\":{\"x\":\"a.safetensors\",\"y\":\"a.safetensors\","
	  "\"x\":\"a.safetensors\"}}",
	  "I: tensor x appears twice in weight_map" },
	{ "{\"weight_map\":{\"x\":\"a.safetensors\",\"y\":\"a.safetensors\","
	  "\"z\":\"c.safetensors\"}}",
	  "D: tensor x appears twice" },
	{ "{\"weight_map\":{\"x\":\"a.safetensors\",\"y\":\"a.safetensors\","
	  "\"z\":\"nope.safetensors\"}}",
	  "D/nope.safetensors: No such file or directory" },
	{ "{\"weight_map\":{\"q\":\"bad.safetensors\"}}",
	  "D/bad.safetensors: header: offset 0: does not start with '{'" },
	{ "{\"weight_map\":{\"q\":\"fifo.safetensors\"}}",
	  "D/fifo.safetensors: not a regular file" },
	{ "{\"weight_map\":{\"q\":\"dir.safetensors\"}}",
	  "D/dir.safetensors: not a regular file" },
	{ "{\"weight_map\":{\"x\":3}}", "I: tensor x: shard is a number, not a string" },
	{ "{\"metadata\":{}}", "I: no weight_map" },
	{ "{\"weight_map\":[]}", "I: weight_map is not an object" },
	{ "{\"weight_map\":{},\"weight_map\":{}}", "I: weight_map appears twice" },
	{ "{\"metadata\":[],\"weight_map\":{}}", "I: metadata is an array, not an object" },
	{ "[]", "I: not a JSON object" },
	{ "{\"weight_map\":{\"x\\u0000\":\"a.safetensors\"}}",
	  "I: offset 17: \\u0000 in a string" },
	{ "{\"weight_map\":{\"\":\"a.safetensors\"}}",
	  "I: weight_map: a tensor name is empty" },
	{ "{\"weight_map\":", "I: offset 14: unexpected end of input" },
};

/* Replace I and D at the start of a message template. */
static void expand(char *out, size_t len, const char *tpl, const char *dir)
{
	if (tpl[0] == 'I' && tpl[1] == ':')
		snprintf(out, len, "%s/model.safetensors.index.json%s", dir, tpl + 1);
	else
		snprintf(out, len, "%s%s", dir, tpl + 1);
}

static void test_index(void)
{
	char dir[256], want[1024], ip[300];
	unsigned char fill[11] = { 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 1, 2, 3 };
	qf_err e;
	qf_ckpt *c;
	float x[2];

	snprintf(dir, sizeof dir, "%s/shards", tmp);
	snprintf(ip, sizeof ip, "%s/model.safetensors.index.json", dir);
	CHECK(mkdir(dir, 0700) == 0);
	CHECK(mkraw(path_in("shards/a.safetensors"), strlen(SHARD_A), SHARD_A,
		    strlen(SHARD_A), 11, fill) == 0);
	CHECK(mk(path_in("shards/b.safetensors"), SHARD_B, 2) == 0);
	CHECK(mk(path_in("shards/c.safetensors"), SHARD_C, 8) == 0);
	CHECK(mkraw(path_in("shards/bad.safetensors"), 3, "[1]", 3, 0, NULL) == 0);
	CHECK(mkfifo(path_in("shards/fifo.safetensors"), 0600) == 0);
	CHECK(mkdir(path_in("shards/dir.safetensors"), 0700) == 0);

	/* valid, metadata from the index, shards read through their own fd */
	CHECK(write_str(ip, "{\"metadata\":{\"total_size\":13,\"note\":\"n\","
			"\"list\":[1]},\"weight_map\":{\"z\":\"b.safetensors\","
			"\"x\":\"a.safetensors\",\"y\":\"a.safetensors\"}}") == 0);
	c = qf_ckpt_open(dir, &e);
	CHECKF(c != NULL, "%s", e.msg);
	if (c) {
		CHECK(qf_ckpt_count(c) == 3);
		CHECK_STR(qf_ckpt_tensor_at(c, 0)->name, "z");	/* b first */
		CHECK_STR(qf_ckpt_tensor_at(c, 1)->name, "x");
		CHECK(strstr(qf_ckpt_tensor_at(c, 0)->file, "/b.safetensors") != NULL);
		CHECK(qf_ckpt_read(c, 1, x, &e) == 0 && x[0] == 1 && x[1] == 2);
		CHECK_STR(qf_rec_get(qf_ckpt_meta(c), "total_size"), "13");
		CHECK_STR(qf_rec_get(qf_ckpt_meta(c), "note"), "n");
		CHECK(qf_rec_get(qf_ckpt_meta(c), "list") == NULL);
	}
	qf_ckpt_close(c);

	/* an empty weight_map is an empty checkpoint */
	CHECK(write_str(ip, "{\"weight_map\":{}}") == 0);
	c = qf_ckpt_open(dir, &e);
	CHECKF(c != NULL && qf_ckpt_count(c) == 0, "%s", c ? "" : e.msg);
	qf_ckpt_close(c);

	for (size_t i = 0; i < sizeof bad_index / sizeof *bad_index; i++) {
		CHECK(write_str(ip, bad_index[i].index) == 0);
		c = qf_ckpt_open(dir, &e);
		expand(want, sizeof want, bad_index[i].want, dir);
		if (c) {
			printf("# index %zu opened, expected: %s\n", i, want);
			unit_cur_failed++;
		} else if (strcmp(e.msg, want) != 0) {
			printf("# index %zu: got      %s\n#           expected %s\n",
			       i, e.msg, want);
			unit_cur_failed++;
		}
		qf_ckpt_close(c);
	}
}

/* ---------------------------------------------------------------- shared */

/* The real gpt2-tiny model.safetensors (written by the safetensors
 * library) against torch.load of pytorch_model.bin, dumped to an .npz
 * by Python now. */
static void test_shared(void)
{
	const char *sh = unit_shared_dir();
	char st[1024], bin[1024], npz[300], cmd[4096];
	struct arrs z;
	qf_ckpt *c;
	qf_err e;
	size_t found = 0;

	if (!sh)
		SKIP("no shared fixtures");
	snprintf(st, sizeof st, "%s/fixtures/gpt2-tiny/model.safetensors", sh);
	snprintf(bin, sizeof bin, "%s/fixtures/gpt2-tiny/pytorch_model.bin", sh);
	if (access(st, R_OK) != 0 || access(bin, R_OK) != 0)
		SKIP("no shared gpt2-tiny");
	snprintf(npz, sizeof npz, "%s/torch_ref.npz", tmp);
	snprintf(cmd, sizeof cmd, PY " -c 'import sys\n"
		 "try:\n import numpy as np, torch\nexcept ImportError:\n sys.exit(3)\n"
		 "sd = torch.load(sys.argv[1], weights_only=True)\n"
		 "np.savez(sys.argv[2], **{k: v.numpy() for k, v in sd.items()})'"
		 " '%s' '%s' 2>&1", bin, npz);
	int rc = system(cmd);
	if (WIFEXITED(rc) && WEXITSTATUS(rc) == 3)
		SKIP("no torch in " PY);
	CHECKF(rc == 0, "python failed: %d", rc);
	if (rc != 0 || load_npz(npz, &z) < 0)
		return;
	c = qf_ckpt_open(st, &e);
	CHECKF(c != NULL, "%s", e.msg);
	if (c) {
		/* the .bin has more (attn.bias buffers, c_attn.bias): compare
		 * what the safetensors file has */
		CHECK(qf_ckpt_count(c) == 48);
		for (size_t i = 0; i < qf_ckpt_count(c); i++) {
			const qf_ckpt_tensor *t = qf_ckpt_tensor_at(c, i);
			const struct arr *a = find(&z, t->name);
			void *buf = malloc((size_t)t->nbytes + 1);
			CHECKF(a != NULL, "%s not in pytorch_model.bin", t->name);
			CHECK(qf_ckpt_read(c, i, buf, &e) == 0);
			if (a) {
				found++;
				CHECK(t->dtype == a->rec.dtype && t->ndim == a->rec.ndim);
				CHECK(memcmp(t->dims, a->rec.dims, sizeof t->dims) == 0);
				CHECK(t->nbytes == qf_rec_nbytes(&a->rec));
				CHECKF(memcmp(buf, a->data, (size_t)t->nbytes) == 0,
				       "%s differs", t->name);
			}
			free(buf);
		}
		CHECK(found == 48);
		CHECK_STR(qf_rec_get(qf_ckpt_meta(c), "format"), "pt");
		CHECK_STR(qf_rec_get(qf_ckpt_meta(c), "n_layer"), "4");
	}
	qf_ckpt_close(c);
	free_npz(&z);
	remove(npz);
}

int main(void)
{
	strcpy(tmp, "/tmp/qf-st-XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_fixtures);
	RUN(test_order);
	RUN(test_misc_values);
	RUN(test_meta);
	RUN(test_sharded);
	RUN(test_lazy);
	RUN(test_truncated_data);
	RUN(test_truncate_every);
	RUN(test_bad);
	RUN(test_bad_length);
	RUN(test_good_edges);
	RUN(test_bool);
	RUN(test_index);
	RUN(test_shared);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return unit_done();
}
