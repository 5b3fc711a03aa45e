/*
 * test_gguf.c - GGUF checkpoints through qf_ckpt_open (lib/ckpt/gguf.c).
 *
 * The fixtures in data/gguf/ come from data/gguf/gen.py, a GGUF writer of
 * its own: gpt2.gguf with its values in gpt2.npz, dims.gguf and
 * types.gguf with values by formulas repeated here, v2.gguf.  Malformed
 * files are built here byte by byte.  Run with cwd = tests/.
 */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant/ggml.h"
#include "qf.h"
#include "unit.h"

#define GDIR "data/gguf/"

/* ---------------------------------------------------------------- helpers */

static const qf_ckpt_tensor *find(const qf_ckpt *c, const char *name,
				  size_t *index)
{
	for (size_t i = 0; i < qf_ckpt_count(c); i++) {
		const qf_ckpt_tensor *t = qf_ckpt_tensor_at(c, i);
		if (strcmp(t->name, name) == 0) {
			if (index)
				*index = i;
			return t;
		}
	}
	return NULL;
}

static uint64_t numel(const qf_ckpt_tensor *t)
{
	uint64_t n = 1;

	for (int k = 0; k < t->ndim; k++)
		n *= t->dims[k];
	return n;
}

/* Tensor `name` read and widened to f32 (malloc'd; NULL on failure). */
static float *read_f32(qf_ckpt *c, const char *name, const qf_ckpt_tensor **tp)
{
	const qf_ckpt_tensor *t;
	size_t i;
	uint64_t n;
	void *raw;
	float *f;
	qf_err err;

	t = find(c, name, &i);
	CHECKF(t != NULL, "no tensor %s", name);
	if (!t)
		return NULL;
	if (tp)
		*tp = t;
	n = numel(t);
	raw = malloc(n * qf_dtype_size(t->dtype) + 1);
	f = malloc(n * sizeof *f + 1);
	if (qf_ckpt_read(c, i, raw, &err) < 0 ||
	    qf_convert(QF_F32, f, t->dtype, raw, (size_t)n, &err) < 0) {
		CHECKF(0, "%s: %s", name, err.msg);
		free(raw);
		free(f);
		return NULL;
	}
	free(raw);
	return f;
}

static int same_shape(const qf_ckpt_tensor *t, int ndim, const uint64_t *dims)
{
	if (t->ndim != ndim)
		return 0;
	for (int k = 0; k < ndim; k++)
		if (t->dims[k] != dims[k])
			return 0;
	return 1;
}

static int same_bits(const float *a, const float *b, size_t n)
{
	return n == 0 || memcmp(a, b, n * sizeof *a) == 0;
}

/* ---------------------------------------------------------------- gpt2.gguf */

static const struct {
	const char *name;
	const char *type;
} gpt2_types[] = {
	{ "token_embd.weight", "Q8_0" }, { "position_embd.weight", "F32" },
	{ "blk.0.attn_qkv.weight", "Q4_0" }, { "blk.0.attn_output.weight", "F16" },
	{ "blk.0.attn_output.bias", "F16" }, { "blk.0.ffn_up.weight", "BF16" },
	{ "blk.0.ffn_up.bias", "BF16" }, { "blk.0.ffn_down.weight", "Q8_0" },
	{ "blk.1.attn_qkv.weight", "Q8_0" }, { "blk.1.attn_output.weight", "Q4_0" },
	{ "blk.1.ffn_up.weight", "F16" }, { "blk.1.ffn_down.weight", "Q4_0" },
	{ "blk.1.ffn_down.bias", "F32" }, { "output.weight", "Q4_0" },
};

static int dtype_of(const char *src_type)
{
	if (strcmp(src_type, "F16") == 0)
		return QF_F16;
	if (strcmp(src_type, "BF16") == 0)
		return QF_BF16;
	return QF_F32;
}

static uint64_t stored_bytes(const char *src_type, uint64_t n)
{
	if (strcmp(src_type, "Q8_0") == 0)
		return n / 32 * 34;
	if (strcmp(src_type, "Q4_0") == 0)
		return n / 32 * 18;
	if (strcmp(src_type, "F32") == 0)
		return n * 4;
	return n * 2;
}

/* Every tensor of gpt2.gguf equals gpt2.npz bit for bit, in the same
 * (reversed) shape. */
static void test_gpt2_values(void)
{
	qf_err err;
	qf_ckpt *c = qf_ckpt_open(GDIR "gpt2.gguf", &err);
	qf_npz_reader *z;
	qf_rec rec;
	void *data = NULL;
	size_t members = 0;
	struct stat st;
	int rc;

	CHECKF(c != NULL, "%s", err.msg);
	if (!c)
		return;
	CHECK_STR(qf_ckpt_format(c), "gguf");
	CHECK(qf_ckpt_count(c) == 2 + 12 * 2 + 3);
	z = qf_npz_open(GDIR "gpt2.npz", &err);
	CHECKF(z != NULL, "%s", err.msg);
	qf_rec_init(&rec);
	while (z && (rc = qf_npz_next(z, &rec, &data, &err)) == 1) {
		const qf_ckpt_tensor *t = NULL;
		float *f = read_f32(c, rec.name, &t);
		members++;
		if (f && t) {
			CHECKF(same_shape(t, rec.ndim, rec.dims), "%s shape", rec.name);
			CHECKF(rec.dtype == QF_F32, "%s", rec.name);
			CHECKF(t->dtype == dtype_of(t->src_type), "%s dtype %d",
			       t->name, t->dtype);
			CHECKF(t->nbytes == stored_bytes(t->src_type, numel(t)),
			       "%s nbytes %llu", t->name,
			       (unsigned long long)t->nbytes);
			CHECKF(t->offset % 32 == 0, "%s offset", t->name);
			CHECKF(same_bits(f, data, (size_t)numel(t)),
			       "%s values differ", rec.name);
		}
		free(f);
		free(data);
		data = NULL;
	}
	CHECKF(z && rc == 0, "%s", err.msg);
	CHECK(members == qf_ckpt_count(c));
	qf_rec_free(&rec);
	qf_npz_close(z);

	for (size_t i = 0; i < sizeof gpt2_types / sizeof *gpt2_types; i++) {
		const qf_ckpt_tensor *t = find(c, gpt2_types[i].name, NULL);
		CHECKF(t && strcmp(t->src_type, gpt2_types[i].type) == 0, "%s",
		       gpt2_types[i].name);
	}
	/* the last tensor ends the file; offsets are absolute */
	CHECK(stat(GDIR "gpt2.gguf", &st) == 0);
	{
		const qf_ckpt_tensor *t = find(c, "output.weight", NULL);
		CHECK(t && t->offset + t->nbytes == (uint64_t)st.st_size);
		CHECK(t && strcmp(t->file, GDIR "gpt2.gguf") == 0);
	}
	/* [out, in]: token_embd is [n_vocab = 48, n_embd = 32] */
	{
		uint64_t want[2] = { 48, 32 }, up[2] = { 128, 32 }, down[2] = { 32, 128 };
		CHECK(same_shape(find(c, "token_embd.weight", NULL), 2, want));
		CHECK(same_shape(find(c, "blk.0.ffn_up.weight", NULL), 2, up));
		CHECK(same_shape(find(c, "blk.0.ffn_down.weight", NULL), 2, down));
	}
	qf_ckpt_close(c);
}

static void test_gpt2_meta(void)
{
	static const char *const want[][2] = {
		{ "general.architecture", "gpt2" },
		{ "general.name", "tiny-gpt2-qf-fixture" },
		{ "general.alignment", "32" },
		{ "general.quantization_version", "2" },
		{ "gpt2.block_count", "2" },
		{ "gpt2.context_length", "16" },
		{ "gpt2.embedding_length", "32" },
		{ "gpt2.feed_forward_length", "128" },
		{ "gpt2.attention.head_count", "4" },
		{ "gpt2.attention.layer_norm_epsilon", "9.99999975e-06" },
		{ "tokenizer.ggml.model", "gpt2" },
		{ "tokenizer.ggml.tokens.length", "48" },
		{ "tokenizer.ggml.token_type.length", "48" },
		{ "tokenizer.ggml.merges.length", "2" },
		{ "tokenizer.ggml.bos_token_id", "0" },
	};
	qf_err err;
	qf_ckpt *c = qf_ckpt_open(GDIR "gpt2.gguf", &err);
	const qf_rec *m;

	CHECKF(c != NULL, "%s", err.msg);
	if (!c)
		return;
	m = qf_ckpt_meta(c);
	for (size_t i = 0; i < sizeof want / sizeof *want; i++)
		CHECK_STR(qf_rec_get(m, want[i][0]), want[i][1]);
	CHECK(qf_rec_get(m, "tokenizer.ggml.tokens") == NULL);
	CHECK(m->nattr == sizeof want / sizeof *want + 1);	/* + file_type */
	qf_ckpt_close(c);
}

/* ---------------------------------------------------------------- dims.gguf */

static void test_dims(void)
{
	qf_err err;
	qf_ckpt *c = qf_ckpt_open(GDIR "dims.gguf", &err);
	const qf_ckpt_tensor *t;
	float *f, x[256], y[256];
	uint16_t s[8];
	int8_t q[256];
	size_t i;

	CHECKF(c != NULL, "%s", err.msg);
	if (!c)
		return;
	CHECK_STR(qf_rec_get(qf_ckpt_meta(c), "general.architecture"), "test");
	CHECK(qf_rec_get(qf_ckpt_meta(c), "general.alignment") == NULL);

	/* m: ne [32, 8] is the [out = 8, in = 32] matrix m[r][c] = 100 r + c */
	f = read_f32(c, "m", &t);
	if (f) {
		uint64_t d[2] = { 8, 32 };
		CHECK(same_shape(t, 2, d) && t->dtype == QF_F32);
		CHECK_STR(t->src_type, "F32");
		for (int r = 0; r < 8; r++)
			for (int k = 0; k < 32; k++)
				CHECKF(f[r * 32 + k] == (float)(100 * r + k),
				       "m[%d][%d] = %g", r, k, f[r * 32 + k]);
		CHECK(t->offset % 32 == 0);
	}
	free(f);

	/* q: the same matrix in Q8_0, rows of 32 = one block per row */
	for (i = 0; i < 256; i++)
		x[i] = (float)(100 * (i / 32) + i % 32);
	qf_q8_0_quantize(x, 256, s, q);
	qf_q8_0_dequantize(s, q, 256, y);
	f = read_f32(c, "q", &t);
	if (f) {
		uint64_t d[2] = { 8, 32 };
		CHECK(same_shape(t, 2, d) && t->dtype == QF_F32);
		CHECK_STR(t->src_type, "Q8_0");
		CHECK(t->nbytes == 8 * 34);
		CHECK(same_bits(f, y, 256));
		/* half a step, plus the f16 rounding of the step times 127 */
		for (i = 0; i < 256; i++)
			CHECK(fabsf(f[i] - x[i]) <=
			      qf_f16_to_f32(s[i / 32]) * (0.5f + 127.0f / 2048));
	}
	free(f);

	f = read_f32(c, "cube", &t);
	if (f) {
		uint64_t d[3] = { 2, 3, 32 };
		CHECK(same_shape(t, 3, d) && t->dtype == QF_F16 && t->nbytes == 384);
		for (i = 0; i < 192; i++)
			CHECK(f[i] == (float)i / 4);
	}
	free(f);

	t = find(c, "four", &i);
	if (t) {
		uint64_t d[4] = { 5, 4, 3, 2 };
		int8_t v[120];
		CHECK(same_shape(t, 4, d) && t->dtype == QF_I8 && t->nbytes == 120);
		CHECK_STR(t->src_type, "I8");
		CHECKF(qf_ckpt_read(c, i, v, &err) == 0, "%s", err.msg);
		for (int k = 0; k < 120; k++)
			CHECK(v[k] == k - 60);
	}
	CHECK(t != NULL);

	f = read_f32(c, "vec", &t);
	if (f) {
		uint64_t d[1] = { 5 };
		CHECK(same_shape(t, 1, d));
		for (i = 0; i < 5; i++)
			CHECK(f[i] == (float)i + 0.5f);
	}
	free(f);

	f = read_f32(c, "scalar", &t);
	if (f) {
		CHECK(t->ndim == 0 && t->nbytes == 4 && f[0] == 3.25f);
	}
	free(f);

	f = read_f32(c, "empty", &t);
	if (f) {
		uint64_t d[2] = { 4, 0 };
		CHECK(same_shape(t, 2, d) && t->nbytes == 0);
	}
	free(f);

	f = read_f32(c, "last", &t);
	if (f) {
		uint64_t d[2] = { 2, 32 };
		CHECK(same_shape(t, 2, d) && t->nbytes == 36);
		CHECK_STR(t->src_type, "Q4_0");
		/* (i - 32) / 8: each row's largest |x| is -4 or 3.875 */
		for (i = 0; i < 64; i++) {
			float want = ((float)i - 32) / 8;
			CHECKF(fabsf(f[i] - want) <= 0.3f, "last[%zu] %g", i, f[i]);
		}
	}
	free(f);
	qf_ckpt_close(c);
}

/* ---------------------------------------------------------------- types.gguf */

static void test_types(void)
{
	qf_err err;
	qf_ckpt *c = qf_ckpt_open(GDIR "types.gguf", &err);
	const qf_ckpt_tensor *t;
	const qf_rec *m;
	char buf[64];
	size_t i;

	CHECKF(c != NULL, "%s", err.msg);
	if (!c)
		return;
	m = qf_ckpt_meta(c);
	CHECK_STR(qf_rec_get(m, "general.alignment"), "64");
	CHECK_STR(qf_rec_get(m, "test.u8"), "200");
	CHECK_STR(qf_rec_get(m, "test.i8"), "-100");
	CHECK_STR(qf_rec_get(m, "test.u16"), "65535");
	CHECK_STR(qf_rec_get(m, "test.i16"), "-32768");
	CHECK_STR(qf_rec_get(m, "test.u32"), "4000000000");
	CHECK_STR(qf_rec_get(m, "test.i32"), "-2000000000");
	CHECK_STR(qf_rec_get(m, "test.f32"), "0.100000001");
	CHECK_STR(qf_rec_get(m, "test.true"), "true");
	CHECK_STR(qf_rec_get(m, "test.false"), "false");
	CHECK_STR(qf_rec_get(m, "test.string"), "h\xc3\xa9llo w\xc3\xb6rld \xe4\xb8\x96\xe7\x95\x8c");
	CHECK_STR(qf_rec_get(m, "test.empty_string"), "");
	CHECK_STR(qf_rec_get(m, "test.u64"), "18446744073709551615");
	CHECK_STR(qf_rec_get(m, "test.i64"), "-9223372036854775808");
	CHECK_STR(qf_rec_get(m, "test.f64"), "0.10000000000000001");
	snprintf(buf, sizeof buf, "%.17g", -1.5e300);
	CHECK_STR(qf_rec_get(m, "test.f64_big"), buf);
	CHECK_STR(qf_rec_get(m, "test.array_i32.length"), "3");
	CHECK_STR(qf_rec_get(m, "test.array_empty.length"), "0");
	CHECK_STR(qf_rec_get(m, "test.array_str.length"), "3");
	CHECK_STR(qf_rec_get(m, "test.array_bool.length"), "4");
	CHECK(qf_rec_get(m, "test.array_i32") == NULL);
	CHECK(qf_rec_get(m, "test.not_utf8") == NULL);
	CHECK(qf_rec_get(m, "test.has_nul") == NULL);

	CHECK(qf_ckpt_count(c) == 6);
	for (i = 0; i < qf_ckpt_count(c); i++)
		CHECK(qf_ckpt_tensor_at(c, i)->offset % 64 == 0);
	t = find(c, "i8", &i);
	if (t) {
		int8_t v[12];
		uint64_t d[2] = { 3, 4 };
		CHECK(same_shape(t, 2, d) && t->dtype == QF_I8);
		CHECK(qf_ckpt_read(c, i, v, &err) == 0);
		for (int k = 0; k < 12; k++)
			CHECK(v[k] == (int8_t)(k * 23 % 256 - 128));
	}
	t = find(c, "i16", &i);
	if (t) {
		int16_t v[12];
		CHECK(t->dtype == QF_I16 && t->nbytes == 24);
		CHECK(qf_ckpt_read(c, i, v, &err) == 0);
		for (int k = 0; k < 12; k++)
			CHECK(v[k] == k * 5000 - 30000);
	}
	t = find(c, "i32", &i);
	if (t) {
		int32_t v[12];
		uint64_t d[2] = { 4, 3 };
		CHECK(same_shape(t, 2, d) && t->dtype == QF_I32);
		CHECK(qf_ckpt_read(c, i, v, &err) == 0);
		for (int k = 0; k < 12; k++)
			CHECK(v[k] == (int32_t)((int64_t)k * 300000007 - 2000000000));
	}
	t = find(c, "i64", &i);
	if (t) {
		int64_t v[12];
		uint64_t d[2] = { 2, 6 };
		CHECK(same_shape(t, 2, d) && t->dtype == QF_I64);
		CHECK(qf_ckpt_read(c, i, v, &err) == 0);
		for (int k = 0; k < 12; k++)
			CHECK(v[k] == (int64_t)k * 1234567890123 - ((int64_t)1 << 62));
	}
	t = find(c, "f64", &i);
	if (t) {
		double v[12];
		CHECK(t->dtype == QF_F64 && t->ndim == 1 && t->dims[0] == 12);
		CHECK_STR(t->src_type, "F64");
		CHECK(qf_ckpt_read(c, i, v, &err) == 0);
		for (int k = 0; k < 12; k++)
			CHECK(v[k] == k / 3.0 - 1);
	}
	t = find(c, "bf16", &i);
	if (t) {
		uint16_t v[12];
		CHECK(t->dtype == QF_BF16);
		CHECK_STR(t->src_type, "BF16");
		CHECK(qf_ckpt_read(c, i, v, &err) == 0);
		for (int k = 0; k < 12; k++)
			CHECK(qf_bf16_to_f32(v[k]) == (float)k / 8 - 0.5f);
	}
	qf_ckpt_close(c);
}

static void test_v2(void)
{
	qf_err err;
	qf_ckpt *c = qf_ckpt_open(GDIR "v2.gguf", &err);
	const qf_ckpt_tensor *t;
	float *f;

	CHECKF(c != NULL, "%s", err.msg);
	if (!c)
		return;
	CHECK_STR(qf_rec_get(qf_ckpt_meta(c), "general.alignment"), "8");
	f = read_f32(c, "x", &t);
	if (f) {
		uint64_t d[2] = { 2, 3 };
		CHECK(same_shape(t, 2, d));
		for (int k = 0; k < 6; k++)
			CHECK(f[k] == (float)k);
	}
	free(f);
	qf_ckpt_close(c);
}

/* ---------------------------------------------------------------- building files */

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
	static char p[128];

	if (!tmpdir[0]) {
		strcpy(tmpdir, "/tmp/qf-test-gguf.XXXXXX");
		if (!mkdtemp(tmpdir))
			tmpdir[0] = 0;
	}
	snprintf(p, sizeof p, "%s/%s", tmpdir, name);
	return p;
}

struct gb {
	unsigned char *p;
	size_t n, cap;
};

static void gb_raw(struct gb *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	if (n)
		memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void gb_u32(struct gb *b, uint32_t v)
{
	gb_raw(b, &v, 4);
}

static void gb_u64(struct gb *b, uint64_t v)
{
	gb_raw(b, &v, 8);
}

static void gb_str(struct gb *b, const char *s)
{
	gb_u64(b, strlen(s));
	gb_raw(b, s, strlen(s));
}

static void gb_hdr(struct gb *b, uint32_t version, uint64_t nt, uint64_t nkv)
{
	b->n = 0;
	gb_raw(b, "GGUF", 4);
	gb_u32(b, version);
	gb_u64(b, nt);
	gb_u64(b, nkv);
}

static void gb_kv_u32(struct gb *b, const char *key, uint32_t v)
{
	gb_str(b, key);
	gb_u32(b, 4);
	gb_u32(b, v);
}

static void gb_kv_str(struct gb *b, const char *key, const char *v)
{
	gb_str(b, key);
	gb_u32(b, 8);
	gb_str(b, v);
}

static void gb_ti(struct gb *b, const char *name, uint32_t nd,
		  const uint64_t *ne, uint32_t type, uint64_t offset)
{
	gb_str(b, name);
	gb_u32(b, nd);
	for (uint32_t k = 0; k < nd; k++)
		gb_u64(b, ne[k]);
	gb_u32(b, type);
	gb_u64(b, offset);
}

static void gb_pad(struct gb *b, size_t align)
{
	static const unsigned char z[64];

	while (b->n % align)
		gb_raw(b, z, 1);
	(void)z;
}

static void gb_zeros(struct gb *b, size_t n)
{
	unsigned char z = 0;

	while (n--)
		gb_raw(b, &z, 1);
}

static int write_file(const char *path, const void *d, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(d, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Open the built file: it must fail with one line holding `want`, or
 * (want NULL) succeed and read every tensor. */
static int expect(struct gb *b, const char *want, int line)
{
	const char *path = tmp_path("case.gguf");
	qf_err err;
	qf_ckpt *c;
	int ok = 1;

	if (write_file(path, b->p, b->n) < 0) {
		printf("# line %d: cannot write %s\n", line, path);
		return 0;
	}
	err.msg[0] = 0;
	c = qf_ckpt_open(path, &err);
	if (!want) {
		if (!c) {
			printf("# line %d: %s\n", line, err.msg);
			return 0;
		}
		for (size_t i = 0; i < qf_ckpt_count(c); i++) {
			const qf_ckpt_tensor *t = qf_ckpt_tensor_at(c, i);
			void *d = malloc(numel(t) * qf_dtype_size(t->dtype) + 1);
			if (qf_ckpt_read(c, i, d, &err) < 0) {
				printf("# line %d: %s\n", line, err.msg);
				ok = 0;
			}
			free(d);
		}
		qf_ckpt_close(c);
		return ok;
	}
	if (c) {
		printf("# line %d: opened, wanted \"%s\"\n", line, want);
		qf_ckpt_close(c);
		return 0;
	}
	if (!strstr(err.msg, want) || strchr(err.msg, '\n') ||
	    strncmp(err.msg, path, strlen(path)) != 0) {
		printf("# line %d: message \"%s\", wanted \"%s\"\n", line,
		       err.msg, want);
		return 0;
	}
	return 1;
}

#define EXPECT(b, want) CHECK(expect((b), (want), __LINE__))

/* A good file: one key, tensors a (F32 [2, 3]) and b (Q8_0 [1, 32]). */
static void good(struct gb *b, uint32_t version)
{
	uint64_t ne_a[2] = { 3, 2 }, ne_b[2] = { 32, 1 };

	gb_hdr(b, version, 2, 1);
	gb_kv_str(b, "general.architecture", "test");
	gb_ti(b, "a", 2, ne_a, 0, 0);
	gb_ti(b, "b", 2, ne_b, 8, 32);
	gb_pad(b, 32);
	gb_zeros(b, 32 + 34);
}

static void test_built_good(void)
{
	struct gb b = { 0 };
	uint64_t ne[1] = { 32 };

	good(&b, 3);
	EXPECT(&b, NULL);
	good(&b, 2);
	EXPECT(&b, NULL);
	/* no tensors, no key/values */
	gb_hdr(&b, 3, 0, 0);
	EXPECT(&b, NULL);
	/* alignment 1: data straight after the infos */
	gb_hdr(&b, 3, 1, 1);
	gb_kv_u32(&b, "general.alignment", 1);
	gb_ti(&b, "x", 1, ne, 2, 0);
	gb_zeros(&b, 18);
	EXPECT(&b, NULL);
	/* an empty tensor sharing its offset with the next one */
	gb_hdr(&b, 3, 2, 0);
	ne[0] = 0;
	gb_ti(&b, "e", 1, ne, 0, 0);
	ne[0] = 4;
	gb_ti(&b, "f", 1, ne, 0, 0);
	gb_pad(&b, 32);
	gb_zeros(&b, 16);
	EXPECT(&b, NULL);
	free(b.p);
}

static void test_bad_header(void)
{
	struct gb b = { 0 };

	good(&b, 1);
	EXPECT(&b, "GGUF version 1 is not supported");
	good(&b, 4);
	EXPECT(&b, "unknown GGUF version 4");
	good(&b, 0x03000000);
	EXPECT(&b, "big-endian GGUF is not supported");
	gb_hdr(&b, 3, (uint64_t)1 << 40, 0);
	EXPECT(&b, "1099511627776 tensors (at most 65536)");
	gb_hdr(&b, 3, 0, UINT64_MAX);
	EXPECT(&b, "key/values (at most 4096)");
	gb_hdr(&b, 3, 1000, 10);
	gb_zeros(&b, 100);
	EXPECT(&b, "cannot fit");
	b.n = 10;
	EXPECT(&b, "truncated");
	b.n = 3;
	EXPECT(&b, "not a checkpoint");
	free(b.p);
}

static void test_bad_kv(void)
{
	struct gb b = { 0 };
	char key[300];

	/* string lengths past the end of the file */
	gb_hdr(&b, 3, 0, 1);
	gb_u64(&b, (uint64_t)1 << 60);
	gb_raw(&b, "abc", 3);
	gb_zeros(&b, 16);
	EXPECT(&b, "length 1152921504606846976 runs past the end of the file");
	gb_hdr(&b, 3, 0, 1);
	gb_str(&b, "k");
	gb_u32(&b, 8);
	gb_u64(&b, 1000);
	gb_zeros(&b, 16);
	EXPECT(&b, "runs past the end of the file");
	/* a key over the limit */
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = 0;
	gb_hdr(&b, 3, 0, 1);
	gb_kv_u32(&b, key, 1);
	EXPECT(&b, "length 299 is over the limit of 249");
	/* keys that cannot be attributes; the message stays one line */
	gb_hdr(&b, 3, 0, 1);
	gb_kv_u32(&b, "a\nb", 1);
	EXPECT(&b, "\"a\\x0ab\" is not a valid key");
	gb_hdr(&b, 3, 0, 1);
	gb_kv_u32(&b, "a=b", 1);
	EXPECT(&b, "is not a valid key");
	gb_hdr(&b, 3, 0, 1);
	gb_kv_u32(&b, "", 1);
	EXPECT(&b, "is not a valid key");
	/* arrays of absurd length */
	gb_hdr(&b, 3, 0, 1);
	gb_str(&b, "arr");
	gb_u32(&b, 9);
	gb_u32(&b, 4);
	gb_u64(&b, (uint64_t)1 << 62);
	gb_zeros(&b, 64);
	EXPECT(&b, "4611686018427387904 uint32 values runs past the end");
	gb_hdr(&b, 3, 0, 1);
	gb_str(&b, "arr");
	gb_u32(&b, 9);
	gb_u32(&b, 8);
	gb_u64(&b, UINT64_MAX);
	gb_zeros(&b, 64);
	EXPECT(&b, "string values runs past the end");
	gb_hdr(&b, 3, 0, 1);	/* strings that fit in number, not in length */
	gb_str(&b, "arr");
	gb_u32(&b, 9);
	gb_u32(&b, 8);
	gb_u64(&b, 2);
	gb_str(&b, "ok");
	gb_u64(&b, 1u << 20);
	gb_zeros(&b, 64);
	EXPECT(&b, "runs past the end of the file");
	/* nested arrays, unknown types */
	gb_hdr(&b, 3, 0, 1);
	gb_str(&b, "arr");
	gb_u32(&b, 9);
	gb_u32(&b, 9);
	gb_u64(&b, 1);
	gb_u32(&b, 4);
	gb_u64(&b, 0);
	EXPECT(&b, "nested arrays are not supported");
	gb_hdr(&b, 3, 0, 1);
	gb_str(&b, "arr");
	gb_u32(&b, 9);
	gb_u32(&b, 13);
	gb_u64(&b, 0);
	EXPECT(&b, "unknown array element type 13");
	gb_hdr(&b, 3, 0, 1);
	gb_str(&b, "k");
	gb_u32(&b, 13);
	gb_zeros(&b, 8);
	EXPECT(&b, "key \"k\": unknown value type 13");
	gb_hdr(&b, 3, 0, 1);
	gb_str(&b, "k");
	gb_u32(&b, 7);
	gb_raw(&b, "\2", 1);
	EXPECT(&b, "bool value 2 is neither 0 nor 1");
	/* duplicate keys, kept as attributes or not */
	gb_hdr(&b, 3, 0, 2);
	gb_kv_u32(&b, "k", 1);
	gb_kv_u32(&b, "k", 2);
	EXPECT(&b, "key \"k\" appears twice");
	gb_hdr(&b, 3, 0, 2);
	gb_kv_str(&b, "k", "\xff");
	gb_kv_str(&b, "k", "\xfe");
	EXPECT(&b, "key \"k\" appears twice");
	gb_hdr(&b, 3, 0, 2);
	gb_str(&b, "k");
	gb_u32(&b, 9);
	gb_u32(&b, 0);
	gb_u64(&b, 0);
	gb_kv_u32(&b, "k.length", 2);
	EXPECT(&b, "appears twice");
	/* a value cut short */
	gb_hdr(&b, 3, 0, 1);
	gb_str(&b, "k");
	gb_u32(&b, 12);
	gb_zeros(&b, 4);
	EXPECT(&b, "truncated");
	free(b.p);
}

static void test_bad_alignment(void)
{
	struct gb b = { 0 };
	static const uint32_t bad[] = { 0, 3, 48, 0x80000001 };

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		gb_hdr(&b, 3, 0, 1);
		gb_kv_u32(&b, "general.alignment", bad[i]);
		EXPECT(&b, "is not a power of two");
	}
	gb_hdr(&b, 3, 0, 1);
	gb_str(&b, "general.alignment");
	gb_u32(&b, 10);
	gb_u64(&b, 32);
	EXPECT(&b, "general.alignment is of type uint64, not uint32");
	free(b.p);
}

static void test_bad_tensor_info(void)
{
	struct gb b = { 0 };
	uint64_t ne[5] = { 32, 2, 1, 1, 1 };

	/* 5 dimensions */
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "t", 5, ne, 0, 0);
	gb_pad(&b, 32);
	gb_zeros(&b, 256);
	EXPECT(&b, "tensor \"t\": 5 dimensions (at most 4)");
	/* dims whose product overflows */
	ne[0] = ne[1] = (uint64_t)1 << 40;
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "t", 2, ne, 0, 0);
	gb_pad(&b, 32);
	EXPECT(&b, "tensor \"t\": dimensions are too large");
	ne[0] = ne[1] = UINT64_MAX;
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "t", 2, ne, 2, 0);
	gb_pad(&b, 32);
	EXPECT(&b, "dimensions are too large");
	/* unknown and unsupported ggml types */
	ne[0] = 32, ne[1] = 1;
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "blk.0.w", 2, ne, 99, 0);
	gb_pad(&b, 32);
	gb_zeros(&b, 256);
	EXPECT(&b, "tensor \"blk.0.w\": ggml type 99 is not supported");
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "w", 2, ne, 12, 0);
	gb_pad(&b, 32);
	gb_zeros(&b, 256);
	EXPECT(&b, "ggml type 12 (Q4_K) is not supported");
	/* block types: rows not a multiple of 32, or a 0-d tensor */
	ne[0] = 33;
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "w", 2, ne, 8, 0);
	gb_pad(&b, 32);
	gb_zeros(&b, 256);
	EXPECT(&b, "Q8_0 rows of 33 values are not a multiple of the block size 32");
	ne[0] = 16;
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "w", 2, ne, 2, 0);
	gb_pad(&b, 32);
	gb_zeros(&b, 256);
	EXPECT(&b, "Q4_0 rows of 16 values");
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "w", 0, ne, 2, 0);
	gb_pad(&b, 32);
	gb_zeros(&b, 256);
	EXPECT(&b, "Q4_0 rows of 1 values");
	/* names */
	ne[0] = 4;
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "", 1, ne, 0, 0);
	gb_pad(&b, 32);
	gb_zeros(&b, 16);
	EXPECT(&b, "name \"\" is empty");
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "a\tb", 1, ne, 0, 0);
	gb_pad(&b, 32);
	gb_zeros(&b, 16);
	EXPECT(&b, "name \"a\\x09b\"");
	gb_hdr(&b, 3, 2, 0);
	gb_ti(&b, "t", 1, ne, 0, 0);
	gb_ti(&b, "t", 1, ne, 0, 32);
	gb_pad(&b, 32);
	gb_zeros(&b, 48);
	EXPECT(&b, "tensor t appears twice");
	/* cut inside the infos */
	gb_hdr(&b, 3, 1, 0);
	gb_str(&b, "t");
	gb_u32(&b, 2);
	gb_u64(&b, 4);
	gb_zeros(&b, 12);
	EXPECT(&b, "truncated");
	free(b.p);
}

static void test_bad_offsets(void)
{
	struct gb b = { 0 };
	uint64_t ne[1] = { 4 };

	/* misaligned */
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "t", 1, ne, 0, 4);
	gb_pad(&b, 32);
	gb_zeros(&b, 64);
	EXPECT(&b, "tensor \"t\": data offset 4 is not a multiple of the alignment 32");
	gb_hdr(&b, 3, 1, 1);
	gb_kv_u32(&b, "general.alignment", 64);
	gb_ti(&b, "t", 1, ne, 0, 32);
	gb_pad(&b, 64);
	gb_zeros(&b, 128);
	EXPECT(&b, "is not a multiple of the alignment 64");
	/* out of range: far past the end, and running past it */
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "t", 1, ne, 0, (uint64_t)1 << 63);
	gb_pad(&b, 32);
	gb_zeros(&b, 64);
	EXPECT(&b, "tensor \"t\": data offset 9223372036854775808 lies past the end");
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "t", 1, ne, 0, UINT64_MAX - 31);
	gb_pad(&b, 32);
	gb_zeros(&b, 64);
	EXPECT(&b, "lies past the end");
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "t", 1, ne, 0, 64);
	gb_pad(&b, 32);
	gb_zeros(&b, 72);
	EXPECT(&b, "lies outside the file's data");
	/* data missing altogether: the file ends with the infos */
	gb_hdr(&b, 3, 1, 0);
	gb_ti(&b, "t", 1, ne, 0, 0);
	EXPECT(&b, "truncated: the data section would start at offset 64");
	/* overlapping */
	ne[0] = 16;
	gb_hdr(&b, 3, 2, 0);
	gb_ti(&b, "t", 1, ne, 0, 0);
	gb_ti(&b, "u", 1, ne, 0, 32);
	gb_pad(&b, 32);
	gb_zeros(&b, 128);
	EXPECT(&b, "tensors \"t\" and \"u\" overlap");
	free(b.p);
}

/* Every strict prefix of a small file is refused with one line. */
static void test_truncated_everywhere(void)
{
	FILE *f = fopen(GDIR "dims.gguf", "rb");
	unsigned char *d;
	size_t n;
	const char *path = tmp_path("cut.gguf");

	CHECK(f != NULL);
	if (!f)
		return;
	d = malloc(1 << 16);
	n = fread(d, 1, 1 << 16, f);
	fclose(f);
	CHECK(n > 1000 && n < (1 << 16));
	for (size_t len = 0; len < n; len++) {
		qf_err err;
		qf_ckpt *c;

		if (write_file(path, d, len) < 0) {
			CHECK(0);
			break;
		}
		err.msg[0] = 0;
		c = qf_ckpt_open(path, &err);
		CHECKF(c == NULL, "prefix of %zu bytes opened", len);
		CHECKF(err.msg[0] && !strchr(err.msg, '\n'), "%zu: %s", len, err.msg);
		qf_ckpt_close(c);
	}
	free(d);
}

/* Opening reads the header only: a file with a 4 GiB tensor (sparse)
 * lists at once; reading another tensor of it works. */
static void test_header_only(void)
{
	struct gb b = { 0 };
	uint64_t ne[2] = { 32, (uint64_t)1 << 25 }, ne2[1] = { 4 };
	const char *path = tmp_path("big.gguf");
	uint64_t size;
	qf_err err;
	qf_ckpt *c;
	FILE *f;

	gb_hdr(&b, 3, 2, 0);
	gb_ti(&b, "small", 1, ne2, 0, 0);
	gb_ti(&b, "big", 2, ne, 0, 32);
	gb_pad(&b, 32);
	gb_raw(&b, "\0\0\x80?\0\0\0@\0\0@@\0\0\x80@", 16);	/* 1 2 3 4 */
	size = b.n + 16 + ((uint64_t)4 << 30);
	f = fopen(path, "wb");
	CHECK(f && fwrite(b.p, 1, b.n, f) == b.n);
	if (f) {
		CHECK(ftruncate(fileno(f), (off_t)size) == 0);
		fclose(f);
	}
	c = qf_ckpt_open(path, &err);
	CHECKF(c != NULL, "%s", err.msg);
	if (c) {
		float v[4];
		const qf_ckpt_tensor *t = find(c, "big", NULL);
		CHECK(t && t->nbytes == (uint64_t)4 << 30 && t->dims[0] == 1u << 25);
		CHECK(qf_ckpt_read(c, 0, v, &err) == 0);
		CHECK(v[0] == 1 && v[3] == 4);
		qf_ckpt_close(c);
	}
	unlink(path);
	free(b.p);
}

int main(void)
{
	RUN(test_gpt2_values);
	RUN(test_gpt2_meta);
	RUN(test_dims);
	RUN(test_types);
	RUN(test_v2);
	RUN(test_built_good);
	RUN(test_bad_header);
	RUN(test_bad_kv);
	RUN(test_bad_alignment);
	RUN(test_bad_tensor_info);
	RUN(test_bad_offsets);
	RUN(test_truncated_everywhere);
	RUN(test_header_only);
	if (tmpdir[0]) {
		unlink(tmp_path("case.gguf"));
		unlink(tmp_path("cut.gguf"));
		rmdir(tmpdir);
	}
	return unit_done();
}
