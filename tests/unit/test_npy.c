/*
 * test_npy.c - .npy and .npz reading and writing.
 *
 * The fixtures in data/npy/ were written by numpy (tests/data/gen_npy.py);
 * their values follow a formula of the flat index that fill() below
 * recomputes.  Files written here are checked by numpy in turn
 * (unit/npy_check.py).  Run with cwd = tests/.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qf.h"
#include "unit.h"

#define NDIR "data/npy/"
#define PY "/usr/bin/python3"

/* ---------------------------------------------------------------- the formula */

static uint64_t hash(uint64_t i)
{
	return i * 0x9E3779B97F4A7C15ull + 0x0123456789ABCDEFull;
}

/* n elements of dtype dt by the formula of gen_npy.py. */
static void fill(int dt, uint64_t n, void *buf)
{
	unsigned char *p = buf;
	size_t es = qf_dtype_size(dt);
	uint64_t i, x, v;
	uint16_t h;
	double d;
	float f;

	for (i = 0; i < n; i++, p += es) {
		x = hash(i);
		switch (dt) {
		case QF_F16:
			f = (float)((double)(x >> 53) - 1024) / 16;
			h = qf_f32_to_f16(f);
			memcpy(p, &h, 2);
			break;
		case QF_F32:
			f = (float)(((double)(x >> 40) - 8388608.0) / 1024);
			memcpy(p, &f, 4);
			break;
		case QF_F64:
			d = ((double)(x >> 11) - 4503599627370496.0) / 1048576;
			memcpy(p, &d, 8);
			break;
		case QF_BOOL:
			*p = (unsigned char)(x >> 63);
			break;
		default:	/* the top 8 * es bits, little-endian */
			v = x >> (64 - 8 * es);
			memcpy(p, &v, es);
			break;
		}
	}
}

static int matches(int dt, uint64_t n, const void *data)
{
	size_t bytes = n * qf_dtype_size(dt);
	void *want = malloc(bytes + 1);
	int ok;

	fill(dt, n, want);
	ok = bytes == 0 || (data && memcmp(want, data, bytes) == 0);
	free(want);
	return ok;
}

/* ---------------------------------------------------------------- fixtures */

struct fix {
	const char *file;
	int dtype;
	int ndim;
	uint64_t dims[QF_MAX_DIMS];
};

static const struct fix fixtures[] = {
	{ "le_f2", QF_F16, 2, { 3, 4 } },  { "le_f4", QF_F32, 2, { 3, 4 } },
	{ "le_f8", QF_F64, 2, { 3, 4 } },  { "le_i1", QF_I8, 2, { 3, 4 } },
	{ "le_u1", QF_U8, 2, { 3, 4 } },   { "le_i2", QF_I16, 2, { 3, 4 } },
	{ "le_u2", QF_U16, 2, { 3, 4 } },  { "le_i4", QF_I32, 2, { 3, 4 } },
	{ "le_u4", QF_U32, 2, { 3, 4 } },  { "le_i8", QF_I64, 2, { 3, 4 } },
	{ "le_u8", QF_U64, 2, { 3, 4 } },  { "le_b1", QF_BOOL, 2, { 3, 4 } },
	{ "be_f2", QF_F16, 2, { 2, 5 } },  { "be_f4", QF_F32, 2, { 2, 5 } },
	{ "be_f8", QF_F64, 2, { 2, 5 } },  { "be_i2", QF_I16, 2, { 2, 5 } },
	{ "be_u2", QF_U16, 2, { 2, 5 } },  { "be_i4", QF_I32, 2, { 2, 5 } },
	{ "be_u4", QF_U32, 2, { 2, 5 } },  { "be_i8", QF_I64, 2, { 2, 5 } },
	{ "be_u8", QF_U64, 2, { 2, 5 } },
	{ "scalar_f8", QF_F64, 0, { 0 } }, { "scalar_i4", QF_I32, 0, { 0 } },
	{ "empty_f4", QF_F32, 1, { 0 } },  { "empty_i2", QF_I16, 3, { 3, 0, 2 } },
	{ "nd8_f4", QF_F32, 8, { 2, 1, 2, 1, 2, 1, 2, 3 } },
	{ "fortran_i4", QF_I32, 3, { 3, 4, 5 } },
	{ "fortran_be_f8", QF_F64, 2, { 2, 3 } },
	{ "v2_f4", QF_F32, 2, { 3, 4 } },  { "v3_u1", QF_U8, 2, { 3, 4 } },
	{ "hand_order", QF_I16, 2, { 3, 4 } },
	{ "hand_space", QF_I16, 2, { 3, 4 } },
	{ "hand_quotes", QF_I16, 2, { 3, 4 } },
};

static int read_path(const char *path, qf_rec *rec, void **data, qf_err *err)
{
	FILE *f = fopen(path, "rb");
	int rc;

	if (!f)
		return qf_err_set(err, "cannot open %s", path);
	rc = qf_npy_read(f, path, rec, data, err);
	fclose(f);
	return rc;
}

static int same_shape(const qf_rec *r, int dtype, int ndim, const uint64_t *dims)
{
	int k;

	if (r->dtype != dtype || r->ndim != ndim)
		return 0;
	for (k = 0; k < ndim; k++)
		if (r->dims[k] != dims[k])
			return 0;
	return 1;
}

static void test_read_fixtures(void)
{
	char path[256];
	size_t i;

	for (i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
		const struct fix *x = &fixtures[i];
		qf_rec r = { 0 };
		void *data = (void *)1;
		qf_err err;
		int rc;

		snprintf(path, sizeof path, NDIR "%s.npy", x->file);
		qf_rec_set_name(&r, "keep", &err);
		rc = read_path(path, &r, &data, &err);
		CHECKF(rc == 0, "%s: %s", x->file, err.msg);
		if (rc == 0) {
			CHECKF(same_shape(&r, x->dtype, x->ndim, x->dims), "%s", x->file);
			CHECKF(matches(x->dtype, qf_rec_numel(&r), data), "%s", x->file);
			CHECKF((data == NULL) == (qf_rec_nbytes(&r) == 0), "%s", x->file);
			CHECK_STR(r.name, "keep");
			free(data);
		}
		qf_rec_free(&r);
	}
}

static void test_read_refused(void)
{
	static const char *cases[][2] = {
		{ "bad_c8", "unsupported dtype '<c8'" },
		{ "bad_struct", "structured dtypes are not supported" },
		{ "bad_obj", "object arrays are not supported" },
		{ "bad_str", "unsupported dtype '<U2'" },
		{ "bad_datetime", "unsupported dtype '<M8[s]'" },
		{ "bad_9d", "more than 8 dimensions" },
		{ "bad_shape_overflow", "f32 tensor of shape [4294967296, 4294967296] is too large" },
		{ "bad_shape_huge", "dimension too large" },
		{ "bad_shape_big", "is too large" },
		{ "bad_shape_int", "'shape' is not a tuple" },
		{ "bad_shape_paren", "'shape' is not a tuple" },
		{ "bad_shape_neg", "expected a non-negative integer in 'shape'" },
		{ "bad_missing", "missing key 'fortran_order'" },
		{ "bad_extra", "unexpected key 'x'" },
		{ "bad_fortran", "'fortran_order' is not True or False" },
		{ "bad_unclosed", "bad .npy header: expected a quoted key" },
		{ "bad_junk", "junk after the header dictionary" },
		{ "bad_trunc", "truncated data (11 of 12 bytes)" },
	};
	char path[256], want[512];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		qf_rec r = { 0 };
		void *data = NULL;
		qf_err err;

		snprintf(path, sizeof path, NDIR "%s.npy", cases[i][0]);
		snprintf(want, sizeof want, "%s: ", path);
		CHECKF(read_path(path, &r, &data, &err) == -1, "%s", path);
		CHECKF(strncmp(err.msg, want, strlen(want)) == 0 &&
		       strstr(err.msg, cases[i][1]), "%s: %s", path, err.msg);
		CHECK(data == NULL && r.dtype == 0);
		qf_rec_free(&r);
	}
}

/* ---------------------------------------------------------------- damaged input */

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = malloc(1 << 16);

	*len = f && buf ? fread(buf, 1, 1 << 16, f) : 0;
	if (f)
		fclose(f);
	return buf;
}

/* Read a .npy from bytes in memory; returns qf_npy_read's result. */
static int read_bytes(const void *buf, size_t len, qf_rec *r, void **data,
		      qf_err *err)
{
	FILE *f = tmpfile();
	int rc;

	if (!f)
		return qf_err_set(err, "tmpfile failed");
	if (len)
		fwrite(buf, 1, len, f);
	rewind(f);
	rc = qf_npy_read(f, "mem.npy", r, data, err);
	fclose(f);
	return rc;
}

static void test_truncated(void)
{
	size_t len, k, fails = 0;
	unsigned char *buf = slurp(NDIR "le_f4.npy", &len);
	qf_rec r = { 0 };
	void *data;
	qf_err err;

	CHECK(len == 128 + 48);
	for (k = 0; k < len; k++) {
		data = NULL;
		if (read_bytes(buf, k, &r, &data, &err) == -1 && !data &&
		    strncmp(err.msg, "mem.npy: ", 9) == 0)
			fails++;
		else
			printf("# prefix of %zu bytes: %s\n", k, err.msg);
	}
	CHECK(fails == len);
	CHECK(read_bytes(buf, 0, &r, &data, &err) == -1);
	CHECK_STR(err.msg, "mem.npy: empty input, not a .npy file");
	CHECK(read_bytes(buf, 100, &r, &data, &err) == -1);
	CHECK_STR(err.msg, "mem.npy: truncated .npy file (in the header)");
	CHECK(read_bytes(buf, 150, &r, &data, &err) == -1);
	CHECK_STR(err.msg, "mem.npy: truncated data (22 of 48 bytes)");
	CHECK(read_bytes(buf, len, &r, &data, &err) == 0);
	CHECK(matches(QF_F32, 12, data));
	free(data);
	free(buf);
	qf_rec_free(&r);
}

static void test_bad_preamble(void)
{
	unsigned char b[64];
	qf_rec r = { 0 };
	void *data = NULL;
	qf_err err;

	memcpy(b, "\x93NUMPY\x01\x00", 8);
	b[0] = 'X';
	CHECK(read_bytes(b, 8, &r, &data, &err) == -1);
	CHECK_STR(err.msg, "mem.npy: not a .npy file (bad magic)");
	memcpy(b, "\x93NUMPY\x04\x00", 8);
	CHECK(read_bytes(b, 20, &r, &data, &err) == -1);
	CHECK_STR(err.msg, "mem.npy: unsupported .npy version 4.0");
	memcpy(b, "\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
	CHECK(read_bytes(b, 12, &r, &data, &err) == -1);
	CHECK_STR(err.msg, "mem.npy: header too long (4294967295 bytes)");
	memcpy(b, "\x93NUMPY\x01\x00\x00\x00", 10);
	CHECK(read_bytes(b, 10, &r, &data, &err) == -1);
	CHECK_STR(err.msg, "mem.npy: bad .npy header: header is not a dictionary");
	CHECK(data == NULL);
}

/* Random damage to the header of a valid file: an error or a result,
 * never a crash (run under the sanitizers). */
static void test_garbage_headers(void)
{
	size_t len, k, ok = 0, bad = 0;
	unsigned char *buf = slurp(NDIR "le_i2.npy", &len), *m = malloc(len);
	static const char alphabet[] = "{}()[],:'\" 0123456789TrueFalsL<>|fiub\n\t";
	uint32_t seed = 12345;
	qf_rec r = { 0 };
	void *data;
	qf_err err;
	int it, j;

	for (it = 0; it < 3000; it++) {
		memcpy(m, buf, len);
		for (j = 0; j < 1 + it % 6; j++) {
			seed = seed * 1103515245 + 12345;
			k = 10 + (seed >> 8) % 118;
			seed = seed * 1103515245 + 12345;
			m[k] = it & 1 ? (unsigned char)(seed >> 16) :
			       (unsigned char)alphabet[(seed >> 16) % (sizeof alphabet - 1)];
		}
		data = NULL;
		if (read_bytes(m, len, &r, &data, &err) == 0) {
			ok++;
			/* whatever was read fits in what the file holds */
			CHECK(qf_rec_nbytes(&r) <= 24);
			free(data);
		} else {
			bad++;
			CHECK(data == NULL && err.msg[0]);
		}
	}
	printf("# %zu damaged headers read, %zu refused\n", ok, bad);
	CHECK(bad > 1000);
	free(m);
	free(buf);
	qf_rec_free(&r);
}

/* ---------------------------------------------------------------- writing */

static int write_npy(const char *path, int dt, int ndim, const uint64_t *dims,
		     qf_err *err)
{
	qf_rec r = { 0 };
	void *data;
	FILE *f;
	int rc;

	if (qf_rec_set_shape(&r, dt, ndim, dims, err) < 0)
		return -1;
	data = malloc(qf_rec_nbytes(&r) + 1);
	fill(dt, qf_rec_numel(&r), data);
	f = fopen(path, "wb");
	rc = f ? qf_npy_write(f, path, &r, data, err) : -1;
	if (f && fclose(f) != 0)
		rc = -1;
	free(data);
	return rc;
}

static void test_write_read(void)
{
	static const uint64_t shapes[][QF_MAX_DIMS] = {
		{ 0 }, { 7 }, { 3, 4 }, { 3, 0, 2 }, { 2, 1, 2, 1, 2, 1, 2, 3 },
		{ 1000000 }, { 123456789012, 0 },
	};
	static const int ndims[] = { 0, 1, 2, 3, 8, 1, 2 };
	int dt, s;

	for (dt = 1; dt <= QF_DTYPE_MAX; dt++) {
		for (s = 0; s < 7; s++) {
			qf_rec r = { 0 }, back = { 0 };
			FILE *f = tmpfile();
			uint64_t size, nbytes;
			unsigned char *data, hdr[16];
			void *got = NULL;
			qf_err err;

			if (dt == QF_BF16)
				continue;
			qf_rec_set_shape(&r, dt, ndims[s], shapes[s], &err);
			nbytes = qf_rec_nbytes(&r);
			data = malloc(nbytes + 1);
			fill(dt, qf_rec_numel(&r), data);
			CHECK(qf_npy_write(f, "t.npy", &r, data, &err) == 0);
			size = (uint64_t)ftell(f);
			CHECK(size == qf_npy_size(&r));
			/* data starts at a multiple of 64, after a '\n' */
			CHECKF((size - nbytes) % 64 == 0, "dtype %d shape %d", dt, s);
			fseek(f, (long)(size - nbytes - 1), SEEK_SET);
			CHECK(fgetc(f) == '\n');
			rewind(f);
			CHECK(fread(hdr, 1, 10, f) == 10 && hdr[6] == 1 && hdr[7] == 0);
			rewind(f);
			CHECK(qf_npy_read(f, "t.npy", &back, &got, &err) == 0);
			CHECK(same_shape(&back, dt, r.ndim, r.dims));
			CHECK(nbytes == 0 || memcmp(got, data, nbytes) == 0);
			free(got);
			free(data);
			fclose(f);
			qf_rec_free(&back);
		}
	}
}

static void test_write_refused(void)
{
	qf_rec r = { 0 };
	uint64_t d[1] = { 2 };
	uint16_t h[2] = { 0x3f80, 0 };
	FILE *f = tmpfile();
	qf_err err;

	qf_rec_set_shape(&r, QF_BF16, 1, d, &err);
	CHECK(qf_npy_write(f, "t.npy", &r, h, &err) == -1);
	CHECK_STR(err.msg, "t.npy: bf16 has no numpy dtype; convert it first");
	CHECK(qf_npy_size(&r) == 0);
	CHECK(ftell(f) == 0);
	r.dtype = 77;
	CHECK(qf_npy_write(f, "t.npy", &r, h, &err) == -1);
	r.dtype = QF_U8;
	r.ndim = 9;
	CHECK(qf_npy_write(f, "t.npy", &r, h, &err) == -1);
	r.ndim = 1;
	CHECK(qf_npy_write(f, "t.npy", &r, NULL, &err) == -1);
	CHECK(ftell(f) == 0);
	fclose(f);
}

/* ---------------------------------------------------------------- .npz */

struct member {
	const char *name;
	int dtype;
	int ndim;
	uint64_t dims[2];
};

/* What gen_npy.py put into savez*.npz, in that order. */
static const struct member savez[] = {
	{ "a", QF_F32, 2, { 3, 4 } },
	{ "b", QF_I64, 0, { 0 } },
	{ "dir/x", QF_U8, 1, { 5 } },
	{ "\xc3\xa4rger_\xce\xbb", QF_F64, 2, { 2, 2 } },
	{ "empty", QF_BOOL, 2, { 0, 3 } },
};

/* Read a whole .npz and compare it with the expected members. */
static int check_npz(const char *path, const struct member *m, size_t nm)
{
	qf_npz_reader *z;
	qf_rec r = { 0 };
	void *data;
	qf_err err;
	size_t i = 0;
	int rc, bad = 0;

	z = qf_npz_open(path, &err);
	if (!z) {
		printf("# %s\n", err.msg);
		return 0;
	}
	while ((rc = qf_npz_next(z, &r, &data, &err)) == 1) {
		if (i >= nm || !r.name || strcmp(r.name, m[i].name) != 0 ||
		    !same_shape(&r, m[i].dtype, m[i].ndim, m[i].dims) ||
		    !matches(r.dtype, qf_rec_numel(&r), data)) {
			printf("# %s: member %zu (%s) differs\n", path, i,
			       r.name ? r.name : "?");
			bad++;
		}
		free(data);
		i++;
	}
	if (rc < 0)
		printf("# %s\n", err.msg);
	qf_npz_close(z);
	qf_rec_free(&r);
	return rc == 0 && i == nm && !bad;
}

/* Make fd 0 a pipe fed with the file at path by a child process;
 * returns the saved standard input, or -1. */
static int stdin_from(const char *path, pid_t *pid)
{
	int p[2], saved = dup(0);

	if (saved < 0 || pipe(p) < 0)
		return -1;
	*pid = fork();
	if (*pid == 0) {
		FILE *f = fopen(path, "rb");
		char buf[4096];
		size_t n;

		close(p[0]);
		while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
			if (write(p[1], buf, n) != (ssize_t)n)
				break;
		_exit(0);
	}
	close(p[1]);
	dup2(p[0], 0);
	close(p[0]);
	return saved;
}

static void stdin_restore(int saved, pid_t pid)
{
	int st;

	dup2(saved, 0);
	close(saved);
	waitpid(pid, &st, 0);
}

static int check_npz_stdin(const char *path, const struct member *m, size_t nm)
{
	pid_t pid;
	int saved = stdin_from(path, &pid), ok;

	if (saved < 0)
		return 0;
	ok = check_npz("-", m, nm);
	stdin_restore(saved, pid);
	return ok;
}

static void test_npz_read(void)
{
	CHECK(check_npz(NDIR "savez.npz", savez, 5));
	CHECK(check_npz(NDIR "savez_compressed.npz", savez, 5));
	CHECK(check_npz_stdin(NDIR "savez.npz", savez, 5));
	CHECK(check_npz_stdin(NDIR "savez_compressed.npz", savez, 5));
}

/* Read every member; the last result of qf_npz_next (or -1). */
static int read_all(const char *path, qf_err *err)
{
	qf_npz_reader *z = qf_npz_open(path, err);
	qf_rec r = { 0 };
	void *data;
	int rc;

	if (!z)
		return -1;
	while ((rc = qf_npz_next(z, &r, &data, err)) == 1)
		free(data);
	qf_npz_close(z);
	qf_rec_free(&r);
	return rc;
}

static void test_npz_bad(void)
{
	qf_npz_reader *z;
	qf_rec r = { 0 };
	void *data = NULL;
	qf_err err;
	size_t len, k, errors = 0, tries = 0;
	unsigned char *buf = slurp(NDIR "savez.npz", &len);
	char tmp[] = "/tmp/qf_npz_XXXXXX";
	int fd;

	z = qf_npz_open(NDIR "bad_member.npz", &err);
	CHECK(z != NULL);
	if (z) {
		CHECK(qf_npz_next(z, &r, &data, &err) == 1);
		CHECK_STR(r.name, "a");
		free(data);
		CHECK(qf_npz_next(z, &r, &data, &err) == -1);
		CHECK_STR(err.msg, "data/npy/bad_member.npz: record notes.txt: "
			  "not a .npy file (bad magic)");
		CHECK(data == NULL);
		CHECK(qf_npz_next(z, &r, &data, &err) == -1);
		qf_npz_close(z);
	}
	z = qf_npz_open(NDIR "le_f4.npy", &err);
	if (z) {
		CHECK(qf_npz_next(z, &r, &data, &err) == -1);
		qf_npz_close(z);
	}
	CHECK(strncmp(err.msg, "data/npy/le_f4.npy: ", 20) == 0);
	CHECK(qf_npz_open("data/npy/no-such.npz", &err) == NULL);
	CHECK(strncmp(err.msg, "data/npy/no-such.npz: ", 22) == 0);

	/* every truncation of an archive ends in an error, not a crash */
	fd = mkstemp(tmp);
	CHECK(fd >= 0 && len > 500);
	for (k = 0; fd >= 0 && k < len; k += 7, tries++) {
		if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, k, 0) != (ssize_t)k)
			break;
		errors += read_all(tmp, &err) == -1;
	}
	CHECKF(errors == tries, "%zu of %zu truncations refused", errors, tries);

	/* a damaged byte in a stored member: the CRC tells, from a file
	 * and from a pipe */
	for (k = 0; k + 6 < len && memcmp(buf + k, "\x93NUMPY", 6) != 0; k++)
		;
	buf[k + 128 + 5] ^= 0x10;
	if (fd >= 0 && ftruncate(fd, 0) == 0 && pwrite(fd, buf, len, 0) == (ssize_t)len) {
		pid_t pid;
		int saved;

		CHECK(read_all(tmp, &err) == -1);
		CHECKF(strstr(err.msg, "record a: zip: ZIP bad CRC"), "%s", err.msg);
		saved = stdin_from(tmp, &pid);
		CHECK(saved >= 0 && read_all("-", &err) == -1);
		CHECKF(strstr(err.msg, "<stdin>: record a: zip: ZIP bad CRC"), "%s", err.msg);
		if (saved >= 0)
			stdin_restore(saved, pid);
		/* and a pipe that ends inside the second member */
		buf[k + 128 + 5] ^= 0x10;
		if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, 300, 0) == 300) {
			saved = stdin_from(tmp, &pid);
			CHECK(saved >= 0 && read_all("-", &err) == -1);
			CHECKF(strstr(err.msg, "<stdin>: record b: "), "%s", err.msg);
			if (saved >= 0)
				stdin_restore(saved, pid);
		}
	}
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(buf);
	qf_rec_free(&r);
}

/* Write the members of savez[] (with b renamed s, as npy_check.py
 * expects) and more into an .npz; returns 0 on success. */
static int write_npz(const char *path, const struct member *m, size_t nm)
{
	qf_npz_writer *z;
	qf_rec r = { 0 };
	FILE *f = fopen(path, "wb");
	void *data;
	qf_err err;
	size_t i;
	int rc = 0;

	if (!f)
		return -1;
	z = qf_npz_create(f, path, &err);
	for (i = 0; z && i < nm && rc == 0; i++) {
		qf_rec_set_shape(&r, m[i].dtype, m[i].ndim, m[i].dims, &err);
		data = malloc(qf_rec_nbytes(&r) + 1);
		fill(r.dtype, qf_rec_numel(&r), data);
		rc = qf_npz_add(z, m[i].name, &r, data, &err);
		free(data);
	}
	if (!z || rc < 0 || qf_npz_finish(z, &err) < 0) {
		printf("# %s\n", err.msg);
		rc = -1;
	}
	if (fclose(f) != 0)
		rc = -1;
	qf_rec_free(&r);
	return rc;
}

static const struct member written[] = {
	{ "a", QF_F32, 2, { 3, 4 } },
	{ "dir/x", QF_U8, 1, { 5 } },
	{ "\xc3\xa4rger_\xce\xbb", QF_F64, 2, { 2, 2 } },
	{ "s", QF_I64, 0, { 0 } },
	{ "empty", QF_BOOL, 2, { 0, 3 } },
};

static char tmpdir[64];

static void test_npz_write(void)
{
	char path[128];
	qf_npz_writer *z;
	qf_npz_reader *rd;
	qf_rec r = { 0 };
	void *data = NULL;
	uint64_t d[1] = { 2 };
	uint16_t h[2] = { 1, 2 };
	FILE *f;
	qf_err err;

	snprintf(path, sizeof path, "%s/rt.npz", tmpdir);
	CHECK(write_npz(path, written, 5) == 0);
	CHECK(check_npz(path, written, 5));
	CHECK(check_npz_stdin(path, written, 5));

	/* refusals leave the archive usable */
	snprintf(path, sizeof path, "%s/refused.npz", tmpdir);
	f = fopen(path, "wb");
	z = qf_npz_create(f, path, &err);
	CHECK(z != NULL);
	qf_rec_set_shape(&r, QF_BF16, 1, d, &err);
	CHECK(qf_npz_add(z, "w", &r, h, &err) == -1);
	CHECK(strstr(err.msg, ": record w: bf16 has no numpy dtype") != NULL);
	qf_rec_set_shape(&r, QF_U16, 1, d, &err);
	CHECK(qf_npz_add(z, "", &r, h, &err) == -1);
	CHECK(strstr(err.msg, "record name is empty") != NULL);
	CHECK(qf_npz_add(z, "bad\xff", &r, h, &err) == -1);
	CHECK(qf_npz_add(z, "w", &r, h, &err) == 0);
	CHECK(qf_npz_add(z, "w", &r, h, &err) == -1);
	CHECK(strstr(err.msg, "duplicate record name") != NULL);
	CHECK(qf_npz_finish(z, &err) == 0);
	fclose(f);
	rd = qf_npz_open(path, &err);
	CHECK(rd && qf_npz_next(rd, &r, &data, &err) == 1);
	CHECK(data && memcmp(data, h, 4) == 0 && r.dtype == QF_U16);
	free(data);
	CHECK(rd && qf_npz_next(rd, &r, &data, &err) == 0);
	qf_npz_close(rd);

	/* an archive without members */
	snprintf(path, sizeof path, "%s/none.npz", tmpdir);
	CHECK(write_npz(path, written, 0) == 0);
	CHECK(check_npz(path, written, 0));
	qf_rec_free(&r);
}

/* Writing into a pipe nobody reads: EPIPE is reported as such. */
static void test_write_epipe(void)
{
	uint64_t d[1] = { 1 << 20 };
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	float *x = calloc(1 << 20, sizeof *x);
	qf_rec r = { 0 };
	qf_npz_writer *z;
	qf_err err;
	FILE *f;
	int p[2], rc;

	qf_rec_set_shape(&r, QF_F32, 1, d, &err);
	CHECK(pipe(p) == 0);
	close(p[0]);
	f = fdopen(p[1], "wb");
	CHECK(qf_npy_write(f, "out", &r, x, &err) == -1);
	CHECKF(strstr(err.msg, "out: write error: Broken pipe"), "%s", err.msg);
	CHECK(err.code == EPIPE);
	fclose(f);

	CHECK(pipe(p) == 0);
	close(p[0]);
	f = fdopen(p[1], "wb");
	z = qf_npz_create(f, "out.npz", &err);
	rc = z ? qf_npz_add(z, "x", &r, x, &err) : -1;
	CHECK(rc == -1);
	CHECKF(strstr(err.msg, "out.npz: record x: write error: Broken pipe"), "%s", err.msg);
	CHECK(err.code == EPIPE);
	if (z)
		CHECK(qf_npz_finish(z, &err) == -1);
	fclose(f);
	signal(SIGPIPE, old);
	free(x);
}

/* ---------------------------------------------------------------- numpy reads ours */

static int have_numpy(void)
{
	return access(PY, X_OK) == 0 &&
	       system(PY " -c 'import numpy' >/dev/null 2>&1") == 0;
}

static void test_numpy_reads_ours(void)
{
	static const char *codes[] = { NULL, "f4", "f8", "f2", NULL, "i1",
		"u1", "i2", "i4", "i8", "u2", "u4", "u8", "b1" };
	uint64_t d2[2] = { 3, 4 }, d3[3] = { 3, 0, 2 };
	uint64_t d8[8] = { 2, 1, 2, 1, 2, 1, 2, 3 };
	char path[128], cmd[256];
	qf_err err;
	int dt;

	for (dt = 1; dt <= QF_DTYPE_MAX; dt++) {
		if (!codes[dt])
			continue;
		snprintf(path, sizeof path, "%s/rt_%s.npy", tmpdir, codes[dt]);
		CHECK(write_npy(path, dt, 2, d2, &err) == 0);
	}
	snprintf(path, sizeof path, "%s/rt_scalar_f8.npy", tmpdir);
	CHECK(write_npy(path, QF_F64, 0, NULL, &err) == 0);
	snprintf(path, sizeof path, "%s/rt_empty_i2.npy", tmpdir);
	CHECK(write_npy(path, QF_I16, 3, d3, &err) == 0);
	snprintf(path, sizeof path, "%s/rt_nd8_u2.npy", tmpdir);
	CHECK(write_npy(path, QF_U16, 8, d8, &err) == 0);
	snprintf(path, sizeof path, "%s/rt.npz", tmpdir);
	CHECK(write_npz(path, written, 5) == 0);
	fflush(stdout);
	snprintf(cmd, sizeof cmd, PY " unit/npy_check.py %s", tmpdir);
	CHECK(system(cmd) == 0);
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
}

int main(void)
{
	strcpy(tmpdir, "/tmp/qf_test_npy_XXXXXX");
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! cannot create a temporary directory\n");
		return 1;
	}
	RUN(test_read_fixtures);
	RUN(test_read_refused);
	RUN(test_truncated);
	RUN(test_bad_preamble);
	RUN(test_garbage_headers);
	RUN(test_write_read);
	RUN(test_write_refused);
	RUN(test_npz_read);
	RUN(test_npz_bad);
	RUN(test_npz_write);
	RUN(test_write_epipe);
	if (have_numpy()) {
		RUN(test_numpy_reads_ours);
	} else {
		unit_n++;
		printf("ok %d - test_numpy_reads_ours # skip " PY " has no numpy\n",
		       unit_n);
	}
	cleanup();
	return unit_done();
}
