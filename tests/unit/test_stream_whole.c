/* test_stream_whole.c - a record read whole (qf_reader_read_all,
 * qf_reader_read_as): memory grown as chunks arrive, a declared size
 * checked against the file and the limit before anything is allocated,
 * conversion a chunk at a time. */
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qf.h"
#include "unit.h"

static char tmpdir[] = "/tmp/qf_whole_XXXXXX";

/* A stream that ends right after the header of a record "w" of dtype dt
 * and shape [n]: what a hostile 53-byte file declares. */
static void header_only(const char *path, int dt, uint64_t n)
{
	FILE *f = fopen(path, "wb");
	qf_writer *w;
	qf_rec r;
	qf_err e;

	CHECK(f != NULL);
	if (!f)
		return;
	w = qf_writer_fopen(f, path, NULL, &e);
	qf_rec_init(&r);
	CHECK(qf_rec_set_name(&r, "w", &e) == 0);
	CHECK(qf_rec_set_shape(&r, dt, 1, &n, &e) == 0);
	CHECK(w && qf_writer_begin(w, &r, &e) == 0);
	fflush(f);
	qf_writer_abort(w);
	qf_rec_free(&r);
	fclose(f);
}

/* Open path, read its first header, then read_all: its result and err. */
static int whole(const char *path, qf_err *e)
{
	qf_reader *r = qf_reader_open(path, e);
	qf_rec rec;
	void *buf = NULL;
	int rc = -1;

	if (!r)
		return -1;
	qf_rec_init(&rec);
	if (qf_reader_next(r, &rec, e) == 1)
		rc = qf_reader_read_all(r, &buf, e);
	CHECK(rc < 0 || buf == NULL || rec.ndim >= 0);
	free(buf);
	qf_rec_free(&rec);
	qf_reader_close(r);
	return rc;
}

/* A header-only file of f32 [n] named file in tmpdir: read_all fails
 * with a message holding each of want[] (NULL-terminated). */
static void refused(const char *file, uint64_t n, const char *const *want)
{
	char path[128];
	qf_err e;

	snprintf(path, sizeof path, "%s/%s", tmpdir, file);
	header_only(path, QF_F32, n);
	CHECK(whole(path, &e) == -1);
	for (; *want; want++)
		CHECKF(strstr(e.msg, *want) != NULL, "%s", e.msg);
}

/* f32 [2^40] (4 TiB) is refused by the limit, naming file, record and
 * size, before any allocation. */
static void test_limit(void)
{
	static const char *const want[] = {
		"huge.qft: record w: payload of 4398046511104 bytes is larger "
		"than the ",
		"bytes a record held whole may take (the machine's memory)", NULL
	};

	refused("huge.qft", 1ull << 40, want);
	CHECK(qf_reader_max_whole() > (1u << 20));
}

/* f32 [2^28] (1 GiB) in a 53-byte file: refused from the file's size. */
static void test_file_size(void)
{
	static const char *const want[] = {
		"gib.qft: record w: truncated: the header declares 1073741824 "
		"payload bytes, more than the 0 bytes left in the file can hold",
		NULL
	};

	refused("gib.qft", 1ull << 28, want);
}

/* From a pipe the size cannot be checked in advance: the buffer grows
 * as chunks arrive, so under an address-space limit far below 1 GiB the
 * read fails as truncated, not out of memory. */
static void test_pipe_grows(void)
{
	char path[128];
	int st = 0;
	pid_t pid;

#if defined(__SANITIZE_ADDRESS__)
	SKIP("an address-space limit and ASan's shadow memory do not mix");
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	SKIP("an address-space limit and ASan's shadow memory do not mix");
#endif
#endif
	snprintf(path, sizeof path, "%s/gib.qft", tmpdir);
	header_only(path, QF_F32, 1ull << 28);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = { 512u << 20, 512u << 20 };
		FILE *f = fopen(path, "rb");
		int p[2];
		char buf[4096];
		size_t n;
		qf_err e;

		if (!f || pipe(p) < 0)
			_exit(3);
		n = fread(buf, 1, sizeof buf, f);
		if (write(p[1], buf, n) != (ssize_t)n)
			_exit(3);
		close(p[1]);
		dup2(p[0], 0);
		setrlimit(RLIMIT_AS, &rl);
		if (whole("-", &e) != -1)
			_exit(4);
		_exit(strstr(e.msg, "record w: truncated") ? 0 : 5);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}

/* read_as over many chunks: values right, and a conversion error names
 * the element counted from the start of the payload. */
static void test_read_as_chunks(void)
{
	enum { N = 700000 };
	float *x = malloc(N * sizeof *x);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	qf_wopts o = { 0, 0, 0, 4096, 0 };
	uint64_t n = N;
	qf_writer *w = qf_writer_fopen(f, "mem", &o, NULL);
	qf_reader *r;
	qf_rec rec;
	qf_err e;
	double *d = NULL;
	int32_t *i32 = NULL;
	int ok = 1;

	for (int i = 0; i < N; i++)
		x[i] = (float)(i % 1000) - 500;
	qf_rec_init(&rec);
	qf_rec_set_name(&rec, "x", &e);
	qf_rec_set_shape(&rec, QF_F32, 1, &n, &e);
	CHECK(w && qf_writer_put(w, &rec, x, &e) == 0);
	x[654321] = 0.5f;
	qf_rec_set_name(&rec, "y", &e);
	CHECK(qf_writer_put(w, &rec, x, &e) == 0);
	CHECK(qf_writer_close(w, &e) == 0);
	fclose(f);
	f = fmemopen(buf, len, "rb");
	r = qf_reader_fopen(f, "mem", &e);
	CHECK(r && qf_reader_next(r, &rec, &e) == 1);
	CHECKF(qf_reader_read_as(r, QF_F64, (void **)&d, &e) == 0, "%s", e.msg);
	for (int i = 0; d && i < N; i++)
		ok &= d[i] == (double)((i % 1000) - 500);
	CHECK(d && ok);
	CHECK(qf_reader_next(r, &rec, &e) == 1);
	CHECK(qf_reader_read_as(r, QF_I32, (void **)&i32, &e) == -1);
	CHECKF(strstr(e.msg, "mem: record y: element 654321: 0.5 not "
		      "representable as i32") != NULL, "%s", e.msg);
	CHECK(i32 == NULL);
	qf_reader_close(r);
	fclose(f);
	qf_rec_free(&rec);
	free(d);
	free(x);
	free(buf);
}

int main(void)
{
	char cmd[160];

	if (!mkdtemp(tmpdir))
		return 1;
	RUN(test_limit);
	RUN(test_file_size);
	RUN(test_pipe_grows);
	RUN(test_read_as_chunks);
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return unit_done();
}
