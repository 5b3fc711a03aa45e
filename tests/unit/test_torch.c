/*
 * test_torch.c - torch.save zip checkpoints and the restricted unpickler.
 *
 * Fixtures in data/torch/ come from data/torch/gen.py: checkpoints
 * written by torch.save 1.13 with their expected tensors in .npz files,
 * crafted zips (torch 2.x style, zip64, deflated), malicious pickles that
 * would `touch` CANARY if anything ran them, and broken ones.  The shared
 * GPT-2 fixture, when present, is compared with torch.load's own reading
 * of it.  Run with cwd = tests/.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qf.h"
#include "ckpt/pickle.h"
#include "unit.h"

#define TDIR "data/torch/"
#define PY "/usr/bin/python3"
#define CANARY "/tmp/qf-torch-pwned"

/* ---------------------------------------------------------------- helpers */

static uint64_t numel(const qf_ckpt_tensor *t)
{
	uint64_t n = 1;

	for (int d = 0; d < t->ndim; d++)
		n *= t->dims[d];
	return n;
}

static void *read_tensor(qf_ckpt *c, size_t i, size_t *len)
{
	const qf_ckpt_tensor *t = qf_ckpt_tensor_at(c, i);
	size_t n = (size_t)(numel(t) * qf_dtype_size(t->dtype));
	void *buf = malloc(n + 1);
	qf_err e;

	*len = n;
	if (qf_ckpt_read(c, i, buf, &e) < 0) {
		printf("# %s\n", e.msg);
		free(buf);
		return NULL;
	}
	return buf;
}

static long find_tensor(qf_ckpt *c, const char *name)
{
	for (size_t i = 0; i < qf_ckpt_count(c); i++)
		if (strcmp(qf_ckpt_tensor_at(c, i)->name, name) == 0)
			return (long)i;
	return -1;
}

static qf_ckpt *open_ok(const char *path)
{
	qf_err e;
	qf_ckpt *c = qf_ckpt_open(path, &e);

	CHECKF(c != NULL, "%s", e.msg);
	if (c)
		CHECK_STR(qf_ckpt_format(c), "torch");
	return c;
}

/* Every tensor of c equals the array of the same name in the .npz (which
 * holds bf16 as uint16), and the two hold the same names.  Returns the
 * number of arrays compared. */
static size_t compare_npz(qf_ckpt *c, const char *npz)
{
	qf_err e;
	qf_npz_reader *z = qf_npz_open(npz, &e);
	qf_rec rec;
	void *data = NULL;
	size_t seen = 0;
	int rc;

	CHECKF(z != NULL, "%s", e.msg);
	if (!z)
		return 0;
	qf_rec_init(&rec);
	while ((rc = qf_npz_next(z, &rec, &data, &e)) == 1) {
		long i = find_tensor(c, rec.name);
		const qf_ckpt_tensor *t;
		size_t len;
		void *got;

		seen++;
		CHECKF(i >= 0, "%s: no tensor %s", npz, rec.name);
		if (i < 0)
			goto next;
		t = qf_ckpt_tensor_at(c, (size_t)i);
		if (t->dtype == QF_BF16)
			CHECKF(rec.dtype == QF_U16, "%s", rec.name);
		else
			CHECKF(rec.dtype == t->dtype, "%s: %s vs %s", rec.name,
			       qf_dtype_name(rec.dtype), qf_dtype_name(t->dtype));
		CHECKF(rec.ndim == t->ndim, "%s: ndim %d vs %d", rec.name,
		       rec.ndim, t->ndim);
		for (int d = 0; d < rec.ndim && d < t->ndim; d++)
			CHECKF(rec.dims[d] == t->dims[d], "%s: dim %d", rec.name, d);
		got = read_tensor(c, (size_t)i, &len);
		CHECKF(got != NULL, "%s", rec.name);
		CHECKF(len == qf_rec_nbytes(&rec), "%s: %zu bytes", rec.name, len);
		if (got && len == qf_rec_nbytes(&rec))
			CHECKF(len == 0 || memcmp(got, data, len) == 0,
			       "%s: values differ", rec.name);
		free(got);
next:
		free(data);
		data = NULL;
	}
	CHECKF(rc == 0, "%s", e.msg);
	CHECKF(seen == qf_ckpt_count(c), "%s: %zu arrays, %zu tensors", npz,
	       seen, qf_ckpt_count(c));
	qf_rec_free(&rec);
	qf_npz_close(z);
	return seen;
}

/* The bytes at [offset, offset + nbytes) of the file are what read gives
 * (for the contiguous tensors, which are those whose nbytes is their size;
 * stored members only). */
static void check_offsets(qf_ckpt *c, const char *path)
{
	int fd = open(path, O_RDONLY);

	CHECK(fd >= 0);
	for (size_t i = 0; fd >= 0 && i < qf_ckpt_count(c); i++) {
		const qf_ckpt_tensor *t = qf_ckpt_tensor_at(c, i);
		size_t len;
		unsigned char *got = read_tensor(c, i, &len), *raw;

		if (t->nbytes != len) {	/* strided: a span, not the data */
			free(got);
			continue;
		}
		raw = malloc(len + 1);
		CHECK(pread(fd, raw, len, (off_t)t->offset) == (ssize_t)len);
		CHECKF(got && memcmp(raw, got, len) == 0, "%s", t->name);
		free(raw);
		free(got);
	}
	if (fd >= 0)
		close(fd);
}

static void check_fails(const char *path, const char *want)
{
	qf_err e;
	qf_ckpt *c = qf_ckpt_open(path, &e);

	CHECKF(c == NULL, "%s opened", path);
	if (c)
		qf_ckpt_close(c);
	else
		CHECK_STR(e.msg, want);
}

/* ---------------------------------------------------------------- good files */

static void test_gpt2(void)
{
	qf_ckpt *c = open_ok(TDIR "gpt2.pt");
	const qf_ckpt_tensor *t, *w;
	long i, j;

	if (!c)
		return;
	CHECK(qf_ckpt_count(c) == 33);
	CHECK(compare_npz(c, TDIR "gpt2.npz") == 33);
	check_offsets(c, TDIR "gpt2.pt");
	for (size_t k = 0; k < qf_ckpt_count(c); k++) {
		t = qf_ckpt_tensor_at(c, k);
		CHECKF(t->nbytes == numel(t) * 4, "%s", t->name);
	}
	t = qf_ckpt_tensor_at(c, 0);
	CHECK_STR(t->name, "transformer.wte.weight");
	CHECK_STR(t->src_type, "torch.FloatStorage");
	CHECK_STR(t->file, "gpt2/data/0");
	CHECK(t->dtype == QF_F32 && t->ndim == 2 && t->dims[0] == 16 &&
	      t->dims[1] == 4);
	CHECK(t->offset % 64 == 0);	/* torch.save aligns storages */
	/* the causal mask buffers of old Hugging Face checkpoints */
	i = find_tensor(c, "transformer.h.1.attn.bias");
	CHECK(i >= 0);
	if (i >= 0) {
		t = qf_ckpt_tensor_at(c, (size_t)i);
		CHECK(t->ndim == 4 && t->dims[0] == 1 && t->dims[1] == 1 &&
		      t->dims[2] == 4 && t->dims[3] == 4);
	}
	i = find_tensor(c, "transformer.h.0.attn.masked_bias");
	CHECK(i >= 0 && qf_ckpt_tensor_at(c, (size_t)i)->ndim == 0);
	/* lm_head.weight shares wte's storage: same bytes, two tensors */
	i = find_tensor(c, "lm_head.weight");
	j = find_tensor(c, "transformer.wte.weight");
	CHECK(i == 32 && j == 0);
	if (i >= 0 && j >= 0) {
		t = qf_ckpt_tensor_at(c, (size_t)i);
		w = qf_ckpt_tensor_at(c, (size_t)j);
		CHECK(t->offset == w->offset && t->nbytes == w->nbytes);
		CHECK_STR(t->file, w->file);
	}
	qf_ckpt_close(c);
}

static void test_variants(void)
{
	static const struct {
		const char *pt, *npz;
		size_t n;
		int dtype;
		const char *src;
	} v[] = {
		{ "gpt2_f16.pt", "gpt2_f16.npz", 32, QF_F16, "torch.HalfStorage" },
		{ "gpt2_bf16.pt", "gpt2_bf16.npz", 33, QF_BF16,
		  "torch.BFloat16Storage" },
		{ "gpt2_p4.pt", "gpt2_p4.npz", 32, QF_F32, "torch.FloatStorage" },
		{ "nested_sd.pt", "gpt2_p4.npz", 32, QF_F32, "torch.FloatStorage" },
		{ "nested_model.pt", "gpt2_p4.npz", 32, QF_F32,
		  "torch.FloatStorage" },
		{ "deflated.pt", "gpt2.npz", 33, QF_F32, "torch.FloatStorage" },
		{ "zip64.pt", "gpt2.npz", 33, QF_F32, "torch.FloatStorage" },
	};
	char pt[256], npz[256];

	for (size_t k = 0; k < sizeof v / sizeof *v; k++) {
		snprintf(pt, sizeof pt, TDIR "%s", v[k].pt);
		snprintf(npz, sizeof npz, TDIR "%s", v[k].npz);
		qf_ckpt *c = open_ok(pt);
		if (!c)
			continue;
		CHECKF(qf_ckpt_count(c) == v[k].n, "%s: %zu", pt,
		       qf_ckpt_count(c));
		CHECKF(compare_npz(c, npz) == v[k].n, "%s", pt);
		for (size_t i = 0; i < qf_ckpt_count(c); i++) {
			const qf_ckpt_tensor *t = qf_ckpt_tensor_at(c, i);
			CHECKF(t->dtype == v[k].dtype, "%s: %s", pt, t->name);
			CHECK_STR(t->src_type, v[k].src);
		}
		if (strcmp(v[k].pt, "deflated.pt") != 0)
			check_offsets(c, pt);
		qf_ckpt_close(c);
	}
}

static void test_strided(void)
{
	qf_ckpt *c = open_ok(TDIR "strided.pt");
	const qf_ckpt_tensor *t;
	long i;

	if (!c)
		return;
	CHECK(compare_npz(c, TDIR "strided.npz") == 7);
	/* a column of a 3x4 matrix spans 9 elements of its storage */
	i = find_tensor(c, "column");
	CHECK(i >= 0);
	if (i >= 0) {
		t = qf_ckpt_tensor_at(c, (size_t)i);
		CHECK(t->ndim == 1 && t->dims[0] == 3 && t->nbytes == 9 * 4);
	}
	i = find_tensor(c, "narrow");	/* contiguous, at storage offset 2 */
	CHECK(i >= 0);
	if (i >= 0) {
		t = qf_ckpt_tensor_at(c, (size_t)i);
		CHECK_STR(t->src_type, "torch.ShortStorage");
		CHECK(t->dtype == QF_I16 && t->nbytes == 10);
	}
	qf_ckpt_close(c);
	/* the same gathered from deflated members, through libarchive */
	c = open_ok(TDIR "strided_deflated.pt");
	if (c) {
		CHECK(compare_npz(c, TDIR "strided.npz") == 7);
		qf_ckpt_close(c);
	}
}

static void test_scalars(void)
{
	qf_ckpt *c = open_ok(TDIR "scalars.pt");
	long i;

	if (!c)
		return;
	CHECK(compare_npz(c, TDIR "scalars.npz") == 12);
	i = find_tensor(c, "scalar");
	CHECK(i == 0 && qf_ckpt_tensor_at(c, 0)->ndim == 0);
	i = find_tensor(c, "empty");
	CHECK(i >= 0 && qf_ckpt_tensor_at(c, (size_t)i)->nbytes == 0);
	i = find_tensor(c, "bool");
	CHECK(i >= 0 && qf_ckpt_tensor_at(c, (size_t)i)->dtype == QF_BOOL);
	i = find_tensor(c, "u8");
	CHECK(i >= 0 && qf_ckpt_tensor_at(c, (size_t)i)->dtype == QF_U8);
	i = find_tensor(c, "i8");
	CHECK(i >= 0 && qf_ckpt_tensor_at(c, (size_t)i)->dtype == QF_I8);
	i = find_tensor(c, "i64");
	CHECK(i >= 0 && qf_ckpt_tensor_at(c, (size_t)i)->dtype == QF_I64);
	qf_ckpt_close(c);
}

static void test_params_and_torch2(void)
{
	qf_ckpt *c = open_ok(TDIR "param.pt");

	if (c) {
		CHECK(compare_npz(c, TDIR "param.npz") == 2);
		qf_ckpt_close(c);
	}
	/* 7-argument _rebuild_tensor_v2, byteorder, .format_version, ... */
	c = open_ok(TDIR "torch2.pt");
	if (c) {
		CHECK(compare_npz(c, TDIR "torch2.npz") == 3);
		CHECK_STR(qf_ckpt_tensor_at(c, 1)->src_type,
			  "torch.BFloat16Storage");
		CHECK_STR(qf_ckpt_tensor_at(c, 1)->file, "model/data/1");
		check_offsets(c, TDIR "torch2.pt");
		qf_ckpt_close(c);
	}
}

static void test_legacy(void)
{
	qf_err e;
	qf_ckpt *c = qf_ckpt_open(TDIR "legacy.pt", &e);

	CHECK(c == NULL);
	if (c) {
		qf_ckpt_close(c);
		return;
	}
	CHECKF(strncmp(e.msg, TDIR "legacy.pt: ", sizeof TDIR + 10) == 0, "%s",
	       e.msg);
	CHECKF(strstr(e.msg, "legacy") || strstr(e.msg, "not a checkpoint"),
	       "%s", e.msg);
}

/* ---------------------------------------------------------------- refused */

static void test_malicious(void)
{
	static const struct {
		const char *file, *msg;
	} v[] = {
		{ "evil_os_system", "offset 2: global os.system is not allowed" },
		{ "evil_eval", "offset 2: global builtins.eval is not allowed" },
		{ "evil_subprocess",
		  "offset 2: global subprocess.call is not allowed" },
		{ "evil_reduce", "offset 2: global posix.system is not allowed" },
		{ "evil_stack_global",
		  "offset 20: global builtins.exec is not allowed" },
		{ "evil_getattr",
		  "offset 2: global builtins.getattr is not allowed" },
		{ "evil_numpy", "offset 2: global numpy.core.multiarray."
		  "_reconstruct is not allowed" },
		{ "evil_inst", "offset 1: opcode INST (0x69) is not supported" },
		{ "evil_nested",
		  "offset 205: global posix.system is not allowed" },
		{ "evil_persid", "offset 92: global posix.system is not allowed" },
	};
	char path[256], want[512];

	unlink(CANARY);
	for (size_t k = 0; k < sizeof v / sizeof *v; k++) {
		snprintf(path, sizeof path, TDIR "%s.pt", v[k].file);
		snprintf(want, sizeof want, "%s: archive/data.pkl: %s", path,
			 v[k].msg);
		check_fails(path, want);
	}
	CHECKF(access(CANARY, F_OK) != 0, "%s exists: something ran", CANARY);
}

static void test_broken(void)
{
	static const struct {
		const char *file, *msg;
	} v[] = {
		{ "bad_garbage", "archive/data.pkl: offset 0: unknown opcode 0xff" },
		{ "bad_call_dtype", "archive/data.pkl: offset 18: REDUCE: "
		  "torch.float32 cannot be called" },
		{ "bad_missing",
		  "tensor w: storage member archive/data/7 is missing" },
		{ "bad_storage_size", "tensor w: archive/data/0 holds 16 bytes, "
		  "not 5 elements of torch.FloatStorage" },
		{ "bad_numel_huge", "tensor w: archive/data/0 holds 16 bytes, not "
		  "4611686018427387904 elements of torch.FloatStorage" },
		{ "bad_byteorder_big", "big-endian checkpoint (archive/byteorder "
		  "says \"big\"); qf reads little-endian ones only" },
		{ "bad_byteorder_odd",
		  "archive/byteorder is neither \"little\" nor \"big\"" },
		{ "bad_offset",
		  "tensor w: elements lie outside archive/data/0 of 4 elements" },
		{ "bad_offset_end",
		  "tensor w: elements lie outside archive/data/0 of 4 elements" },
		{ "bad_size_huge",
		  "tensor w: elements lie outside archive/data/0 of 4 elements" },
		{ "bad_stride",
		  "tensor w: elements lie outside archive/data/0 of 4 elements" },
		{ "bad_stride_huge",
		  "tensor w: elements lie outside archive/data/0 of 4 elements" },
		{ "bad_ndim", "archive/data.pkl: offset 174: _rebuild_tensor: "
		  "size has 9 dimensions (at most 8)" },
		{ "bad_negative", "archive/data.pkl: offset 163: _rebuild_tensor: "
		  "size[0] is not a non-negative int" },
		{ "bad_toplevel", "archive/data.pkl: not a state dict: the "
		  "top-level object is a list" },
		{ "bad_value", "archive/data.pkl: not a state dict: entry epoch "
		  "is an int, not a tensor" },
		{ "bad_key", "archive/data.pkl: state dict key 0 is not a name" },
		{ "bad_two_pkl",
		  "two data.pkl members: archive/data.pkl and other/data.pkl" },
		{ "bad_dup_name", "tensor w appears twice" },
	};
	char path[256], want[512];

	for (size_t k = 0; k < sizeof v / sizeof *v; k++) {
		snprintf(path, sizeof path, TDIR "%s.pt", v[k].file);
		snprintf(want, sizeof want, "%s: %s", path, v[k].msg);
		check_fails(path, want);
	}
}

/* ---------------------------------------------------------------- robustness */

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = malloc((size_t)len + 1);
	*n = fread(buf, 1, (size_t)len, f);
	fclose(f);
	return buf;
}

/* data.pkl cut at every offset: an error naming the offset, no crash;
 * every byte replaced: no crash either. */
static void test_truncated_pickle(void)
{
	size_t n, bad = 0;
	unsigned char *p = slurp(TDIR "gpt2.pkl", &n);
	qf_err e;
	qf_pk *pk;

	CHECK(p != NULL && n > 1000);
	if (!p)
		return;
	pk = qf_pickle_load(p, n, "gpt2.pkl", &e);
	CHECKF(pk != NULL, "%s", e.msg);
	qf_pickle_free(pk);
	for (size_t k = 0; k < n; k++) {
		unsigned char *q = malloc(k + 1);
		memcpy(q, p, k);	/* a copy of exactly k bytes for ASan */
		pk = qf_pickle_load(q, k, "gpt2.pkl", &e);
		if (pk || strncmp(e.msg, "gpt2.pkl: offset ", 17) != 0)
			bad++;
		qf_pickle_free(pk);
		free(q);
	}
	CHECKF(bad == 0, "%zu truncations not refused", bad);
	for (size_t k = 0; k < n; k++) {
		unsigned char save = p[k];
		p[k] = (unsigned char)(save ^ 0x5a);
		qf_pickle_free(qf_pickle_load(p, n, "gpt2.pkl", &e));
		p[k] = save;
	}
	free(p);
}

/* The zip cut at every offset: an error, no crash. */
static void test_truncated_zip(void)
{
	char tmp[] = "/tmp/qf-test-torch-XXXXXX";
	size_t n, bad = 0;
	unsigned char *p = slurp(TDIR "gpt2.pt", &n);
	int fd = mkstemp(tmp);
	qf_err e;

	CHECK(p != NULL && fd >= 0);
	if (!p || fd < 0) {
		free(p);
		return;
	}
	for (size_t k = 0; k < n; k += k < 64 || n - k < 1200 ? 1 : 7) {
		qf_ckpt *c;
		CHECK(ftruncate(fd, 0) == 0);
		CHECK(pwrite(fd, p, k, 0) == (ssize_t)k);
		c = qf_ckpt_open(tmp, &e);
		if (c) {
			bad++;
			qf_ckpt_close(c);
		}
	}
	CHECKF(bad == 0, "%zu truncations opened", bad);
	close(fd);
	unlink(tmp);
	free(p);
}

/* ---------------------------------------------------------------- the unpickler */

static qf_pk *pk_ok(const char *s, size_t n)
{
	qf_err e;
	qf_pk *pk = qf_pickle_load((const unsigned char *)s, n, "t", &e);

	CHECKF(pk != NULL, "%s", e.msg);
	return pk;
}

static void pk_fails(const char *s, size_t n, const char *want)
{
	qf_err e;
	qf_pk *pk = qf_pickle_load((const unsigned char *)s, n, "t", &e);

	CHECKF(pk == NULL, "%s loaded", want);
	if (pk)
		qf_pickle_free(pk);
	else
		CHECK_STR(e.msg, want);
}

#define OK(lit) pk_ok(lit, sizeof lit - 1)
#define FAILS(lit, msg) pk_fails(lit, sizeof lit - 1, msg)

static void test_pickle_values(void)
{
	const qf_pv *r;
	qf_pk *pk;

	/* LONG1: 2**40, -1, -(2**63); BINFLOAT; True; None; BININT */
	pk = OK("\x80\x02(\x8a\x06\x00\x00\x00\x00\x00\x01\x8a\x01\xff"
		"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80"
		"G\x3f\xf8\x00\x00\x00\x00\x00\x00\x88NJ\xfe\xff\xff\xff" "t.");
	if (pk) {
		r = qf_pickle_root(pk);
		CHECK(r->type == QF_PV_TUPLE && r->n == 7);
		if (r->n == 7) {
			CHECK(r->v[0]->type == QF_PV_INT && r->v[0]->i == 1ll << 40);
			CHECK(r->v[1]->i == -1);
			CHECK(r->v[2]->i == INT64_MIN);
			CHECK(r->v[3]->type == QF_PV_FLOAT && r->v[3]->f == 1.5);
			CHECK(r->v[4]->type == QF_PV_BOOL && r->v[4]->i == 1);
			CHECK(r->v[5]->type == QF_PV_NONE);
			CHECK(r->v[6]->type == QF_PV_INT && r->v[6]->i == -2);
		}
		qf_pickle_free(pk);
	}
	/* strings of every kind, FRAME, MEMOIZE, BINGET, APPEND(S), DICT,
	 * SETITEM, DUP, POP: ([a, bc, d, e, b'f', (g, h)], {1: 2, 3: 4}) */
	pk = OK("\x80\x04\x95" "\x00\x00\x00\x00\x00\x00\x00\x00" "]\x94("
		"\x8c\x01" "a" "\x8d\x02\x00\x00\x00\x00\x00\x00\x00" "bc"
		"U\x01" "d" "T\x01\x00\x00\x00" "e" "C\x01" "f" "e"
		"h\x00" "X\x01\x00\x00\x00" "g" "\x8c\x01" "h" "\x86" "a"
		"(K\x01K\x02" "d" "\x94" "K\x03K\x04" "s" "2" "K\x09" "0" "0"
		"\x86" ".");
	if (pk) {
		r = qf_pickle_root(pk);
		CHECK(r->type == QF_PV_TUPLE && r->n == 2);
		if (r->type == QF_PV_TUPLE && r->n == 2) {
			const qf_pv *l = r->v[0], *d = r->v[1];
			CHECK(l->type == QF_PV_LIST && l->n == 6);
			if (l->n == 6) {
				CHECK_STR(l->v[1]->s, "bc");
				CHECK(l->v[3]->type == QF_PV_STR);
				CHECK(l->v[4]->type == QF_PV_BYTES);
				CHECK(l->v[5]->type == QF_PV_TUPLE);
			}
			CHECK(d->type == QF_PV_DICT && d->n == 2);
		}
		qf_pickle_free(pk);
	}
	pk = OK("\x80\x02]q\x00(K\x01K\x02" "e" "h\x00\x85.");
	if (pk) {
		r = qf_pickle_root(pk);
		CHECK(r->type == QF_PV_TUPLE && r->n == 1 &&
		      r->v[0]->type == QF_PV_LIST && r->v[0]->n == 2);
		qf_pickle_free(pk);
	}
	/* NEWOBJ of an OrderedDict, BUILD on it, torch.Size */
	pk = OK("\x80\x02" "ccollections\nOrderedDict\n)\x81}b"
		"X\x01\x00\x00\x00k" "ctorch\nSize\nK\x02K\x03\x86\x85R" "s.");
	if (pk) {
		r = qf_pickle_root(pk);
		CHECK(r->type == QF_PV_DICT && r->n == 1 &&
		      r->v[1]->type == QF_PV_TUPLE && r->v[1]->n == 2);
		qf_pickle_free(pk);
	}
}

static void test_pickle_errors(void)
{
	static char deep[QF_PK_MAX_MARKS + 8];

	FAILS("", "t: offset 0: truncated: no STOP");
	FAILS("\x80\x02", "t: offset 2: truncated: no STOP");
	FAILS("\x80\x06.", "t: offset 0: unsupported pickle protocol 6");
	FAILS(".", "t: offset 0: stack underflow");
	FAILS("(.", "t: offset 1: stack underflow");
	FAILS("K\x01(a.", "t: offset 3: stack underflow");
	FAILS("h\x05.", "t: offset 0: memo key 5 is missing");
	FAILS("Nr\xff\xff\xff\xff.", "t: offset 1: memo index 4294967295 too "
	      "large");
	FAILS("X\x05\x00\x00\x00" "abc", "t: offset 0: truncated in str");
	FAILS("\x8d\xff\xff\xff\xff\xff\xff\xff\xff.",
	      "t: offset 0: string of 18446744073709551615 bytes (at most "
	      "16777216)");
	FAILS("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.",
	      "t: offset 0: integer of 9 bytes is too large");
	FAILS("\xfe.", "t: offset 0: unknown opcode 0xfe");
	FAILS("S'a'\n.", "t: offset 0: opcode STRING (0x53) is not supported");
	FAILS("cos\nsystem", "t: offset 0: truncated in GLOBAL");
	FAILS(")K\x01" "a.", "t: offset 3: APPEND to a tuple");
	FAILS("}(K\x01u.", "t: offset 4: odd number of items for SETITEMS");
	FAILS("]Nb.", "t: offset 2: BUILD on a list");
	FAILS("NN\x81.", "t: offset 2: NEWOBJ: None is not allowed");
	FAILS("X\x01\x00\x00\x00" "aQ.",
	      "t: offset 6: persistent id is not ('storage', type, key, "
	      "location, numel)");
	FAILS("\x8c\x02os\x8c\x06system\x93.",
	      "t: offset 12: global os.system is not allowed");
	FAILS("c\x01\xff\nx\n.", "t: offset 0: global \\x01\\xff.x is not "
	      "allowed");
	FAILS("ctorch\n_utils._rebuild_tensor_v2\n.",
	      "t: offset 0: global torch._utils._rebuild_tensor_v2 is not "
	      "allowed");
	FAILS("ctorch._utils\n_rebuild_tensor_v2\n(NK\x00)\x29\x89}tR.",
	      "t: offset 42: _rebuild_tensor: argument 1 is a None, not a "
	      "storage");
	memset(deep, '(', sizeof deep);
	pk_fails(deep, sizeof deep, "t: offset 1024: nested more than 1024 "
		 "deep");
}

/* ---------------------------------------------------------------- large */

/* An expanded view (stride 0) of 2^30 elements over one stored element,
 * saved as pt, is refused at open, before anything is allocated or
 * read. */
static void expanded(const char *pt)
{
	char cmd[1024], want[256];
	qf_err err;
	qf_ckpt *c;

	snprintf(cmd, sizeof cmd, PY " -c 'import sys, torch; torch.save("
		 "{\"w\": torch.zeros(1).expand(32768, 32768)}, sys.argv[1])' "
		 "%s", pt);
	CHECK(system(cmd) == 0);
	c = qf_ckpt_open(pt, &err);
	CHECK(c == NULL);
	snprintf(want, sizeof want, "%s: tensor w: an expanded view of "
		 "1073741824 elements over big/data/0 of 1 elements is larger "
		 "than the 64 MiB qf materialises", pt);
	if (!c)
		CHECK_STR(err.msg, want);
	qf_ckpt_close(c);
}

/* Whether PY can write checkpoints at test time. */
static int have_torch(void)
{
	return access(PY, X_OK) == 0 &&
	       system(PY " -c 'import torch, numpy' >/dev/null 2>&1") == 0;
}

/* Strided tensors larger than the 16 MiB gather window, written by
 * torch.save at test time, against their contiguous copies; then an
 * expanded view too large to read. */
static void test_large_strided(void)
{
	char tmpd[] = "/tmp/qf-torch-XXXXXX", pt[64], npz[64], cmd[2048];
	qf_ckpt *c;

	if (!have_torch())
		SKIP(PY " has no torch");
	if (!mkdtemp(tmpd)) {
		CHECK(0);
		return;
	}
	snprintf(pt, sizeof pt, "%s/big.pt", tmpd);
	snprintf(npz, sizeof npz, "%s/big.npz", tmpd);
	snprintf(cmd, sizeof cmd, PY " -c '"
		 "import sys, collections, torch, numpy as np\n"
		 "g = torch.Generator().manual_seed(0)\n"
		 "a = torch.randn(2100, 2100, generator=g)\n"
		 "b = torch.randn(20, 300, 800, generator=g).half()\n"
		 "sd = collections.OrderedDict(t=a.t(), col=a[:, 7], "
		 "rows=a[::3, 1::2], perm=b.permute(2, 0, 1), c=b[5:9], "
		 "x=a[3:5, None, :].expand(2, 50, 2100))\n"
		 "torch.save(sd, sys.argv[1])\n"
		 "np.savez(sys.argv[2], **{k: v.contiguous().numpy() "
		 "for k, v in sd.items()})\n' %s %s", pt, npz);
	CHECK(system(cmd) == 0);
	c = open_ok(pt);
	if (c) {
		CHECK(compare_npz(c, npz) == 6);
		qf_ckpt_close(c);
	}
	expanded(pt);
	unlink(pt);
	unlink(npz);
	rmdir(tmpd);
}

/* ---------------------------------------------------------------- shared */

/* The shared GPT-2 checkpoint against torch.load(weights_only=True). */
static void test_shared(void)
{
	const char *dir = unit_shared_dir();
	char path[4096], npz[64], cmd[8192], tmpd[] = "/tmp/qf-torch-XXXXXX";
	qf_ckpt *c;

	if (!dir)
		SKIP("no shared fixtures");
	snprintf(path, sizeof path, "%s/fixtures/gpt2-tiny/pytorch_model.bin",
		 dir);
	if (access(path, R_OK) != 0)
		SKIP("no shared gpt2-tiny/pytorch_model.bin");
	if (access(PY, X_OK) != 0 ||
	    system(PY " -c 'import torch, numpy' >/dev/null 2>&1") != 0)
		SKIP(PY " has no torch");
	if (!mkdtemp(tmpd)) {
		CHECK(0);
		return;
	}
	snprintf(npz, sizeof npz, "%s/ref.npz", tmpd);
	snprintf(cmd, sizeof cmd, PY " -c '"
		 "import sys, torch, numpy as np\n"
		 "d = torch.load(sys.argv[1], map_location=\"cpu\", "
		 "weights_only=True)\n"
		 "a = {}\n"
		 "for k, v in d.items():\n"
		 "    v = v.contiguous()\n"
		 "    a[k] = v.view(torch.int16).numpy().view(np.uint16) "
		 "if v.dtype == torch.bfloat16 else v.numpy()\n"
		 "np.savez(sys.argv[2], **a)\n' '%s' '%s'", path, npz);
	CHECK(system(cmd) == 0);
	c = open_ok(path);
	if (c) {
		CHECK(qf_ckpt_count(c) > 0);
		CHECK(compare_npz(c, npz) == qf_ckpt_count(c));
		check_offsets(c, path);
		qf_ckpt_close(c);
	}
	unlink(npz);
	rmdir(tmpd);
}

int main(void)
{
	RUN(test_gpt2);
	RUN(test_variants);
	RUN(test_strided);
	RUN(test_scalars);
	RUN(test_params_and_torch2);
	RUN(test_legacy);
	RUN(test_malicious);
	RUN(test_broken);
	RUN(test_truncated_pickle);
	RUN(test_truncated_zip);
	RUN(test_pickle_values);
	RUN(test_pickle_errors);
	RUN(test_large_strided);
	RUN(test_shared);
	return unit_done();
}
