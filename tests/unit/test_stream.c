/* test_stream.c - the stream format: round trips, concatenation,
 * truncation at every offset, corruption at every byte. */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "qf.h"
#include "unit.h"

/* A deterministic byte pattern for payloads. */
static void fill(unsigned char *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)(i % 7 == 0 ? 0 : x);
	}
}

/* A stream in memory: written through open_memstream. */
struct mem {
	char *buf;
	size_t len;
};

static void shape(qf_rec *r, const char *name, int dt, int nd,
		  const uint64_t *d)
{
	qf_err e;

	qf_rec_init(r);
	CHECKF(qf_rec_set_name(r, name, &e) == 0, "%s", e.msg);
	CHECKF(qf_rec_set_shape(r, dt, nd, d, &e) == 0, "%s", e.msg);
}

/* Write a fixed set of records, payload filled by seed = index. */
static int write_sample(FILE *f, const qf_wopts *o)
{
	qf_err e;
	qf_writer *w = qf_writer_fopen(f, "mem", o, &e);
	static const uint64_t d1[] = { 3, 5 }, d2[] = { 0, 4 },
		d3[] = { 1000 }, d8[] = { 1, 2, 1, 3, 1, 2, 2, 1 };
	qf_rec r;
	unsigned char buf[8192];

	if (!w)
		return -1;
	shape(&r, "a.weight", QF_F32, 2, d1);
	qf_rec_set(&r, "layer", "0", &e);
	qf_rec_set(&r, "lang", "fin", &e);
	fill(buf, sizeof buf, 1);
	CHECK(qf_writer_put(w, &r, buf, &e) == 0);
	qf_rec_free(&r);
	shape(&r, "empty", QF_I64, 2, d2);
	CHECK(qf_writer_put(w, &r, NULL, &e) == 0);
	qf_rec_free(&r);
	shape(&r, "scalar", QF_F64, 0, NULL);
	fill(buf, 8, 3);
	CHECK(qf_writer_put(w, &r, buf, &e) == 0);
	qf_rec_free(&r);
	shape(&r, "Ünïcødé/名前", QF_BF16, 1, d3);
	qf_rec_set(&r, "site", "resid_post", &e);
	fill(buf, 2000, 4);
	CHECK(qf_writer_put(w, &r, buf, &e) == 0);
	qf_rec_free(&r);
	shape(&r, "eight", QF_I16, 8, d8);
	fill(buf, 48, 5);
	CHECK(qf_writer_put(w, &r, buf, &e) == 0);
	qf_rec_free(&r);
	return qf_writer_close(w, &e);
}

static struct mem sample(const qf_wopts *o)
{
	struct mem m = { 0, 0 };
	FILE *f = open_memstream(&m.buf, &m.len);

	CHECK(write_sample(f, o) == 0);
	fclose(f);
	return m;
}

/* Read every record and payload; returns records read or -1 with err. */
static int read_all(const void *buf, size_t len, int skip, qf_err *e,
		    unsigned char *out, size_t *outlen)
{
	FILE *f = fmemopen((void *)buf, len, "rb");
	qf_reader *r;
	qf_rec rec;
	int n = 0, rc;

	if (len == 0) {
		/* fmemopen refuses size 0 on some libcs; use an empty pipe. */
		int p[2];
		if (pipe(p) < 0)
			return -1;
		close(p[1]);
		f = fdopen(p[0], "rb");
	}
	r = qf_reader_fopen(f, "mem", e);
	qf_rec_init(&rec);
	*outlen = 0;
	while ((rc = qf_reader_next(r, &rec, e)) == 1) {
		n++;
		if (skip && n % 2 == 0)
			continue;
		void *p;
		if (qf_reader_read_all(r, &p, e) < 0) {
			rc = -1;
			break;
		}
		uint64_t nb = qf_rec_nbytes(&rec);
		if (out && nb && *outlen + nb < 65536)
			memcpy(out + *outlen, p, nb);
		*outlen += nb;
		free(p);
	}
	qf_rec_free(&rec);
	qf_reader_close(r);
	fclose(f);
	return rc < 0 ? -1 : n;
}

static void test_roundtrip(void)
{
	for (int shuf = 0; shuf <= 1; shuf++) {
		for (size_t chunk = 0; chunk <= 1000; chunk += 333) {
			qf_wopts o = { 0, shuf ? QF_SHUFFLE_ON : QF_SHUFFLE_OFF, 0, chunk, QF_PROV_STAMP };
			struct mem m = sample(&o);
			FILE *f = fmemopen(m.buf, m.len, "rb");
			qf_err e;
			qf_reader *r = qf_reader_fopen(f, "mem", &e);
			qf_rec rec;
			unsigned char want[8192], got[8192];
			void *p;

			qf_rec_init(&rec);
			CHECK(qf_reader_next(r, &rec, &e) == 1);
			CHECK_STR(rec.name, "a.weight");
			CHECK(rec.dtype == QF_F32 && rec.ndim == 2);
			CHECK(rec.dims[0] == 3 && rec.dims[1] == 5);
			CHECK_STR(qf_rec_get(&rec, "lang"), "fin");
			CHECK_STR(qf_rec_get(&rec, "layer"), "0");
			CHECK_STR(rec.attr[0].key, "layer");
			fill(want, sizeof want, 1);
			/* read in odd pieces */
			size_t at = 0;
			int64_t k;
			while ((k = qf_reader_read(r, got + at, 7, &e)) > 0)
				at += (size_t)k;
			CHECK(k == 0 && at == 60);
			CHECK(memcmp(got, want, 60) == 0);

			CHECK(qf_reader_next(r, &rec, &e) == 1);
			CHECK_STR(rec.name, "empty");
			CHECK(qf_rec_nbytes(&rec) == 0 && rec.dims[0] == 0);
			CHECK(qf_reader_read_all(r, &p, &e) == 0 && p == NULL);

			CHECK(qf_reader_next(r, &rec, &e) == 1);
			CHECK(rec.ndim == 0 && qf_rec_nbytes(&rec) == 8);
			/* not read: next() skips it */
			CHECK(qf_reader_next(r, &rec, &e) == 1);
			CHECK_STR(rec.name, "Ünïcødé/名前");
			CHECK(qf_reader_read_all(r, &p, &e) == 0);
			fill(want, 2000, 4);
			CHECK(p && memcmp(p, want, 2000) == 0);
			free(p);
			CHECK(qf_reader_next(r, &rec, &e) == 1);
			CHECK(rec.ndim == 8 && qf_rec_numel(&rec) == 24);
			CHECK(qf_reader_read(r, got, 10, &e) == 10);
			CHECK(qf_reader_skip(r, &e) == 0);
			CHECK(qf_reader_next(r, &rec, &e) == 0);
			CHECK(qf_reader_next(r, &rec, &e) == 0);
			CHECK(qf_reader_count(r) == 5);
			qf_rec_free(&rec);
			qf_reader_close(r);
			fclose(f);
			free(m.buf);
		}
	}
}

/* Chunks compressed by worker threads: the same bytes as the writer's
 * own thread, for any number, chunk size and filter. */
static void test_threads(void)
{
	for (int shuf = 0; shuf <= 1; shuf++) {
		for (size_t chunk = 0; chunk <= 1000; chunk += 333) {
			qf_wopts o = { 0, shuf ? QF_SHUFFLE_ON : QF_SHUFFLE_OFF, 1, chunk, QF_PROV_STAMP };
			struct mem one = sample(&o);

			for (int t = 2; t <= 9; t += 7) {
				o.threads = t;
				struct mem m = sample(&o);
				CHECKF(m.len == one.len && memcmp(m.buf, one.buf, m.len) == 0,
				       "threads %d, chunk %zu, shuffle %d", t, chunk, shuf);
				free(m.buf);
			}
			free(one.buf);
		}
	}
}

static void test_every_dtype(void)
{
	for (int dt = 1; dt <= QF_DTYPE_MAX; dt++) {
		uint64_t d[] = { 17, 3 };
		size_t n = 51 * qf_dtype_size(dt);
		unsigned char in[51 * 8], *out = NULL;
		struct mem m = { 0, 0 };
		FILE *f = open_memstream(&m.buf, &m.len);
		qf_wopts o = { 1, dt % 2 ? QF_SHUFFLE_ON : QF_SHUFFLE_OFF, 0, 40, QF_PROV_STAMP };
		qf_err e;
		qf_writer *w = qf_writer_fopen(f, "mem", &o, &e);
		qf_rec r;

		fill(in, n, (uint32_t)dt);
		if (dt == QF_BOOL)
			for (size_t i = 0; i < n; i++)
				in[i] &= 1;
		shape(&r, qf_dtype_name(dt), dt, 2, d);
		CHECKF(qf_writer_put(w, &r, in, &e) == 0, "%s", e.msg);
		CHECK(qf_writer_close(w, &e) == 0);
		fclose(f);
		f = fmemopen(m.buf, m.len, "rb");
		qf_reader *rd = qf_reader_fopen(f, "mem", &e);
		CHECK(qf_reader_next(rd, &r, &e) == 1);
		CHECK(r.dtype == dt);
		CHECK(qf_reader_read_all(rd, (void **)&out, &e) == 0);
		CHECKF(out && memcmp(in, out, n) == 0, "dtype %s", qf_dtype_name(dt));
		free(out);
		qf_rec_free(&r);
		qf_reader_close(rd);
		fclose(f);
		free(m.buf);
	}
}

static void test_large_attr(void)
{
	struct mem m = { 0, 0 };
	FILE *f = open_memstream(&m.buf, &m.len);
	qf_err e;
	qf_writer *w = qf_writer_fopen(f, "mem", NULL, &e);
	qf_rec r;
	char *big = malloc(QF_MAX_VALUE + 1);

	memset(big, 'x', QF_MAX_VALUE);
	big[QF_MAX_VALUE] = 0;
	shape(&r, "big", QF_U8, 0, NULL);
	CHECK(qf_rec_set(&r, "v", big, &e) == 0);
	for (int i = 0; i < 100; i++)
		CHECK(qf_rec_setf(&r, &e, "k", "%d", i) == 0);
	CHECK_STR(qf_rec_get(&r, "k"), "99");
	CHECK(r.nattr == 2);
	CHECK(qf_writer_put(w, &r, "z", &e) == 0);
	CHECK(qf_writer_close(w, &e) == 0);
	fclose(f);
	qf_rec_free(&r);
	f = fmemopen(m.buf, m.len, "rb");
	qf_reader *rd = qf_reader_fopen(f, "mem", &e);
	CHECK(qf_reader_next(rd, &r, &e) == 1);
	CHECK(qf_rec_get(&r, "v") && strlen(qf_rec_get(&r, "v")) == QF_MAX_VALUE);
	CHECK(qf_reader_next(rd, &r, &e) == 0);
	qf_rec_free(&r);
	qf_reader_close(rd);
	fclose(f);
	free(m.buf);
	/* one byte more is refused by the writer side */
	big[QF_MAX_VALUE - 1] = 'x';
	char *bigger = malloc(QF_MAX_VALUE + 2);
	memset(bigger, 'y', QF_MAX_VALUE + 1);
	bigger[QF_MAX_VALUE + 1] = 0;
	qf_rec_init(&r);
	CHECK(qf_rec_set(&r, "v", bigger, &e) < 0);
	qf_rec_free(&r);
	free(bigger);
	free(big);
}

static void test_concat(void)
{
	struct mem a = sample(NULL), b = sample(NULL);
	size_t len = a.len + b.len;
	char *cat = malloc(len);
	unsigned char out[65536];
	size_t outlen;
	qf_err e;

	memcpy(cat, a.buf, a.len);
	memcpy(cat + a.len, b.buf, b.len);
	CHECK(read_all(cat, len, 0, &e, out, &outlen) == 10);
	/* an empty stream between them is fine too */
	struct mem z = { 0, 0 };
	FILE *f = open_memstream(&z.buf, &z.len);
	qf_writer *w = qf_writer_fopen(f, "z", NULL, &e);
	CHECK(qf_writer_close(w, &e) == 0);
	fclose(f);
	CHECK(z.len == 32);
	char *cat3 = malloc(len + z.len);
	memcpy(cat3, a.buf, a.len);
	memcpy(cat3 + a.len, z.buf, z.len);
	memcpy(cat3 + a.len + z.len, b.buf, b.len);
	CHECK(read_all(cat3, len + z.len, 1, &e, out, &outlen) == 10);
	CHECK(read_all(z.buf, z.len, 0, &e, out, &outlen) == 0);
	free(cat3);
	free(z.buf);
	free(cat);
	free(a.buf);
	free(b.buf);
}

/* Cutting the stream anywhere must give an error, never a clean end. */
static void test_truncation(void)
{
	qf_wopts o = { 0, 1, 0, 300, QF_PROV_STAMP };
	struct mem m = sample(&o);
	unsigned char out[65536];
	size_t outlen;
	qf_err e;
	int bad = 0;

	CHECK(read_all(m.buf, m.len, 0, &e, out, &outlen) == 5);
	for (size_t cut = 0; cut < m.len; cut++) {
		for (int skip = 0; skip <= 1; skip++) {
			e.msg[0] = 0;
			int n = read_all(m.buf, cut, skip, &e, out, &outlen);
			if (n != -1 || e.msg[0] == 0) {
				bad++;
				printf("# cut at %zu (skip %d): no error\n", cut, skip);
			}
		}
	}
	CHECK(bad == 0);
	/* the same for a concatenation cut at the boundary */
	struct mem b = sample(&o);
	char *cat = malloc(m.len + b.len);
	memcpy(cat, m.buf, m.len);
	memcpy(cat + m.len, b.buf, b.len);
	for (size_t cut = m.len + 1; cut < m.len + b.len; cut++)
		if (read_all(cat, cut, 0, &e, out, &outlen) != -1)
			bad++;
	CHECK(bad == 0);
	free(cat);
	free(b.buf);
	free(m.buf);
}

/* Flipping any byte must give an error or the very same data. */
static void test_corruption(void)
{
	qf_wopts o = { 0, QF_SHUFFLE_OFF, 0, 300, QF_PROV_STAMP };
	struct mem m = sample(&o);
	unsigned char ref[65536], out[65536];
	size_t reflen, outlen;
	qf_err e;
	int silent_same = 0, wrong = 0;

	CHECK(read_all(m.buf, m.len, 0, &e, ref, &reflen) == 5);
	for (size_t i = 0; i < m.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			m.buf[i] ^= (char)(1 << bit);
			int n = read_all(m.buf, m.len, 0, &e, out, &outlen);
			if (n >= 0) {
				if (n == 5 && outlen == reflen &&
				    memcmp(out, ref, reflen) == 0)
					silent_same++;
				else
					wrong++;
			}
			m.buf[i] ^= (char)(1 << bit);
		}
	}
	printf("# %zu bytes x 3 bits flipped: %d harmless, %d accepted with wrong data\n",
	       m.len, silent_same, wrong);
	CHECK(wrong == 0);
	free(m.buf);
}

static void test_errors_name_things(void)
{
	qf_err e;
	qf_reader *r = qf_reader_open("/nonexistent/x.qft", &e);

	CHECK(r == NULL);
	CHECK_STR(e.msg, "/nonexistent/x.qft: No such file or directory");
	/* not a stream */
	const char junk[] = "hello world, this is text and not a stream";
	unsigned char out[16];
	size_t outlen;
	CHECK(read_all(junk, sizeof junk, 0, &e, out, &outlen) == -1);
	CHECK(strstr(e.msg, "not a qf stream") != NULL);
	/* truncated inside a record names the record */
	struct mem m = sample(NULL);
	CHECK(read_all(m.buf, m.len - 40, 0, &e, NULL, &outlen) == -1);
	CHECKF(strstr(e.msg, "mem: ") == e.msg, "%s", e.msg);
	free(m.buf);
	/* writer refuses a wrong payload length */
	struct mem w = { 0, 0 };
	FILE *f = open_memstream(&w.buf, &w.len);
	qf_writer *wr = qf_writer_fopen(f, "out", NULL, &e);
	qf_rec rec;
	uint64_t d[] = { 4 };
	shape(&rec, "x", QF_F32, 1, d);
	CHECK(qf_writer_begin(wr, &rec, &e) == 0);
	CHECK(qf_writer_write(wr, "abcdefgh", 8, &e) == 0);
	CHECK(qf_writer_end(wr, &e) < 0);
	CHECK_STR(e.msg, "out: record x: payload has 8 of 16 bytes");
	CHECK(qf_writer_close(wr, &e) < 0);
	fclose(f);
	free(w.buf);
	qf_rec_free(&rec);
}

/* Hand-built bytes of the documented layout (formats/stream.md),
 * independent of the writer: a reader must accept them. */
static void test_spec_bytes(void)
{
	static const unsigned char hdr[] = {
		0x89, 'Q', 'F', 'T', '\r', '\n', 0x1a, '\n', 1, 0, 0, 0,
	};
	unsigned char s[256];
	size_t n = 0;
	extern uint32_t qf_crc32c(uint32_t, const void *, size_t);

	CHECK(qf_crc32c(0, "123456789", 9) == 0xE3069283u);
	memcpy(s, hdr, 12);
	uint32_t c = qf_crc32c(0, s, 12);
	memcpy(s + 12, &c, 4);
	n = 16;
	/* record "v", u8 [2], attrs k=v, chunk size 2, payload {7, 9} */
	size_t rec0 = n;
	memcpy(s + n, "QREC", 4);
	n += 8;
	unsigned char body[] = { 6, 1, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
				 1, 0, 0, 0, 'v', 1, 0, 0, 0, 1, 0, 0, 0, 'k',
				 1, 0, 0, 0, 'v' };
	memcpy(s + n, body, sizeof body);
	n += sizeof body;
	uint32_t blen = sizeof body;
	memcpy(s + rec0 + 4, &blen, 4);
	c = qf_crc32c(0, s + rec0, n - rec0);
	memcpy(s + n, &c, 4);
	n += 4;
	/* a zstd frame of two raw bytes: magic, FHD (single segment,
	 * checksum), FCS=2, one raw last block of 2 bytes, checksum. */
	unsigned char frame[] = { 0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x02,
				  0x11, 0x00, 0x00, 7, 9, 0, 0, 0, 0 };
	/* content checksum = low 32 bits of XXH64({7,9}, seed 0): not
	 * computed here, so expect the reader to reject a wrong one. */
	uint32_t csize = sizeof frame;
	memcpy(s + n, &csize, 4);
	n += 4;
	memcpy(s + n, frame, sizeof frame);
	n += sizeof frame;
	memcpy(s + n, "QEND", 4);
	uint64_t cnt = 1;
	memcpy(s + n + 4, &cnt, 8);
	c = qf_crc32c(0, s + n, 12);
	memcpy(s + n + 12, &c, 4);
	n += 16;
	FILE *f = fmemopen(s, n, "rb");
	qf_err e;
	qf_reader *r = qf_reader_fopen(f, "spec", &e);
	qf_rec rec;
	qf_rec_init(&rec);
	CHECKF(qf_reader_next(r, &rec, &e) == 1, "%s", e.msg);
	CHECK_STR(rec.name, "v");
	CHECK_STR(qf_rec_get(&rec, "k"), "v");
	CHECK(rec.dtype == QF_U8 && rec.ndim == 1 && rec.dims[0] == 2);
	unsigned char got[2];
	/* checksum zero is wrong: the payload must be refused */
	CHECK(qf_reader_read(r, got, 2, &e) == -1);
	CHECKF(strstr(e.msg, "record v: corrupt payload") != NULL, "%s", e.msg);
	qf_reader_close(r);
	fclose(f);
	qf_rec_free(&rec);
}

int main(void)
{
	RUN(test_roundtrip);
	RUN(test_threads);
	RUN(test_every_dtype);
	RUN(test_large_attr);
	RUN(test_concat);
	RUN(test_truncation);
	RUN(test_corruption);
	RUN(test_errors_name_things);
	RUN(test_spec_bytes);
	return unit_done();
}
