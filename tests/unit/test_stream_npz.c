/* test_stream_npz.c - .npz written front to back (into a file, where
 * each CRC is written back, and into a pipe, with data descriptors),
 * with and without zip64 fields, read by numpy and by qf; an .npz
 * checkpoint of many members read in one pass. */
#include <stdint.h>
#include <unistd.h>

#include "qf.h"
#include "unit.h"

#define PY "/usr/bin/python3"

static char tmpdir[] = "/tmp/qf_npzw_XXXXXX";

static int have_numpy(void)
{
	return system(PY " -c 'import numpy' 2>/dev/null") == 0;
}

/* Four members, two written in pieces; into f. */
static int write_four(FILE *f, const char *name, unsigned flags)
{
	static const uint64_t d2[2] = { 3, 4 }, d1[1] = { 1000 };
	qf_npz_writer *z = qf_npz_create_flags(f, name, flags, NULL);
	int16_t a[12];
	float b[1000];
	qf_rec r;
	qf_err e;
	int rc = 0;

	if (!z)
		return -1;
	for (int i = 0; i < 12; i++)
		a[i] = (int16_t)(i * 7 - 20);
	for (int i = 0; i < 1000; i++)
		b[i] = (float)i * 0.25f;
	qf_rec_init(&r);
	qf_rec_set_shape(&r, QF_I16, 2, d2, &e);
	rc |= qf_npz_add(z, "a", &r, a, &e);
	qf_rec_set_shape(&r, QF_F32, 1, d1, &e);
	rc |= qf_npz_begin(z, "dir/b", &r, &e);
	for (int i = 0; i < 1000 && rc == 0; i += 300)
		rc |= qf_npz_write(z, b + i, (size_t)(i + 300 > 1000 ? 1000 - i : 300) * 4, &e);
	rc |= qf_npz_end(z, &e);
	qf_rec_set_shape(&r, QF_F64, 0, NULL, &e);
	rc |= qf_npz_add(z, "scalar", &r, &(double){ 2.5 }, &e);
	/* pieces of every length from 1 to 150 bytes: each alignment and
	 * tail of the CRC's vector and table paths */
	uint64_t nu = 150 * 151 / 2;
	unsigned char u[150 * 151 / 2];
	qf_rec_set_shape(&r, QF_U8, 1, &nu, &e);
	for (size_t i = 0; i < sizeof u; i++)
		u[i] = (unsigned char)(i * 31 + (i >> 8));
	rc |= qf_npz_begin(z, "odd", &r, &e);
	for (size_t at = 0, k = 1; rc == 0 && k <= 150; at += k, k++)
		rc |= qf_npz_write(z, u + at, k, &e);
	rc |= qf_npz_end(z, &e);
	qf_rec_free(&r);
	if (rc) {
		printf("# %s\n", e.msg);
		qf_npz_abort(z);
		return -1;
	}
	return qf_npz_finish(z, &e);
}

/* numpy and zipfile read it, and so does qf (from the file). */
static void check_archive(const char *path)
{
	char cmd[1024];
	qf_npz_reader *z;
	qf_rec r;
	void *data = NULL;
	qf_err e;
	int n = 0;

	snprintf(cmd, sizeof cmd, PY " -c '"
		 "import numpy as np, zipfile\n"
		 "assert zipfile.ZipFile(\"%s\").testzip() is None\n"
		 "z = np.load(\"%s\")\n"
		 "assert sorted(z.files) == [\"a\", \"dir/b\", \"odd\", \"scalar\"]\n"
		 "i = np.arange(11325)\n"
		 "assert (z[\"odd\"] == ((i * 31 + (i >> 8)) & 255)).all()\n"
		 "assert (z[\"a\"] == np.arange(12, dtype=np.int16).reshape(3, 4) * 7 - 20).all()\n"
		 "assert (z[\"dir/b\"] == np.arange(1000, dtype=np.float32) * 0.25).all()\n"
		 "assert z[\"scalar\"] == 2.5'", path, path);
	if (have_numpy())
		CHECKF(system(cmd) == 0, "%s", path);
	z = qf_npz_open(path, &e);
	CHECKF(z != NULL, "%s", e.msg);
	qf_rec_init(&r);
	while (z && qf_npz_next(z, &r, &data, &e) == 1) {
		n++;
		free(data);
	}
	CHECK(n == 4);
	qf_rec_free(&r);
	qf_npz_close(z);
}

static void write_and_check(unsigned flags, int into_pipe)
{
	char path[128], cmd[200];
	FILE *f;

	snprintf(path, sizeof path, "%s/t%u%d.npz", tmpdir, flags, into_pipe);
	snprintf(cmd, sizeof cmd, "cat > %s", path);
	f = into_pipe ? popen(cmd, "w") : fopen(path, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(write_four(f, path, flags) == 0);
	CHECK((into_pipe ? pclose(f) : fclose(f)) == 0);
	check_archive(path);
}

static void test_file(void)
{
	write_and_check(0, 0);
}

static void test_pipe(void)
{
	write_and_check(0, 1);
}

/* The layout of an archive past 4 GiB, tested small. */
static void test_zip64_file(void)
{
	write_and_check(QF_NPZ_ZIP64, 0);
}

static void test_zip64_pipe(void)
{
	write_and_check(QF_NPZ_ZIP64, 1);
}

/* 4000 members through the checkpoint reader, in order and backwards:
 * every value right (reading them in order once took minutes: every
 * tensor rescanned the archive from the start). */
static void test_many_members(void)
{
	enum { N = 4000 };
	char path[128];
	FILE *f;
	qf_npz_writer *z;
	qf_ckpt *c;
	qf_rec r;
	qf_err e;
	uint64_t two = 2;
	int bad = 0;

	snprintf(path, sizeof path, "%s/many.npz", tmpdir);
	f = fopen(path, "wb");
	z = f ? qf_npz_create(f, path, &e) : NULL;
	CHECK(z != NULL);
	if (!z)
		return;
	qf_rec_init(&r);
	qf_rec_set_shape(&r, QF_I32, 1, &two, &e);
	for (int i = 0; i < N; i++) {
		char name[16];
		int32_t v[2] = { i, -i };

		snprintf(name, sizeof name, "t%04d", i);
		bad |= qf_npz_add(z, name, &r, v, &e) != 0;
	}
	CHECK(!bad && qf_npz_finish(z, &e) == 0);
	fclose(f);
	qf_rec_free(&r);
	c = qf_ckpt_open(path, &e);
	CHECKF(c != NULL, "%s", e.msg);
	if (!c)
		return;
	CHECK(qf_ckpt_count(c) == N);
	for (int k = 0; k < 2 * N; k++) {
		int i = k < N ? k : 2 * N - 1 - k;
		int32_t v[2] = { -1, -1 };

		if (k >= N && k % 97)	/* backwards: a sample */
			continue;
		bad |= qf_ckpt_read(c, (size_t)i, v, &e) != 0 ||
		       v[0] != i || v[1] != -i;
	}
	CHECK(!bad);
	qf_ckpt_close(c);
}

int main(void)
{
	char cmd[160];

	if (!mkdtemp(tmpdir))
		return 1;
	RUN(test_file);
	RUN(test_pipe);
	RUN(test_zip64_file);
	RUN(test_zip64_pipe);
	RUN(test_many_members);
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (!getenv("QF_KEEP") && system(cmd) != 0)
		return 1;
	return unit_done();
}
