/*
 * fuzz_quant.c - the quantizer's inputs: qf-quantize's options (the spec,
 * the selection, --protect-*, --bits-map and its @FILE) and tensors of
 * any dtype, shape and values through lib/quant's public API.
 *
 * The first byte picks what the rest is:
 *
 *   even  qf-quantize's arguments, split at NUL bytes, parsed by the
 *         tool's own parse_args (tools/qf-quantize.c is included here,
 *         its main renamed); an argument "@TEXT" becomes "@FILE" of a
 *         file holding TEXT with ';' as newlines (a --bits-map file).
 *         When they parse, the plan quantizes one record of a stream
 *         (qf_qplan_apply, with statistics), its name, kind, layer and
 *         shape picked by a hash of the input.
 *   odd   a spec, a dtype, a shape and the values: bytes 1..10 give the
 *         scheme, bits, symmetry, granularity, group, clipping,
 *         percentile, rounding and seed; byte 11 the dtype; bytes 12, 13
 *         the rows (1..16) and columns (1..256); the rest the elements,
 *         converted to f32 (non-finite ones become 0), quantized by
 *         qf_quantize once with 1 thread and once with 3.
 *
 * Checked: misuse is exit 2 with the usage message, other exits as
 * fuzz_cli.h says; every fake-quantized value and error sum is finite;
 * the results do not depend on the thread count; a record that
 * qf_qplan_apply takes gives records whose payloads have their sizes.
 */
#define main qf_quantize_main
#include "../../tools/qf-quantize.c"
#undef main

#include <float.h>
#include <math.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_cli.h"

static int map_fd = -1;
static char map_arg[64];

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

/* ------------------------------------------------------------ options */

struct parse_call {
	int argc;
	char **argv;
	struct opts *o;
};

static void call_parse(void *arg)
{
	struct parse_call *c = arg;

	optind = 0;
	parse_args(c->argc, c->argv, c->o);
}

/* "@TEXT" arguments: TEXT, ';' as newlines, into the map file. */
static void map_files(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		size_t n;
		if (argv[i][0] != '@')
			continue;
		n = strlen(argv[i] + 1);
		for (char *p = argv[i] + 1; *p; p++)
			if (*p == ';')
				*p = '\n';
		if (ftruncate(map_fd, 0) < 0 ||
		    (n && pwrite(map_fd, argv[i] + 1, n, 0) != (ssize_t)n))
			abort();
		argv[i] = map_arg;
	}
}

static const struct {
	const char *name, *kind;
	int layer;
} names[] = {
	{ "layers.0.attn.qkv.weight", "attn_qkv", 0 },
	{ "layers.1.mlp.in.weight", "mlp_in", 1 },
	{ "layers.11.mlp.out.bias", "bias", 11 },
	{ "tok_emb.weight", "tok_emb", -1 },
	{ "head.weight", "head", -1 },
	{ "layers.2.ln1.weight", "ln_weight", 2 },
};

/* One record, [rows, cols] f32 from h, as a stream in a memfd. */
static FILE *one_record(uint64_t h, qf_rec *rec)
{
	static const uint64_t cols[] = { 1, 7, 32, 64, 96 };
	int k = (int)(h % (sizeof names / sizeof *names));
	uint64_t dims[2] = { 1 + (h >> 8) % 8, cols[(h >> 12) % 5] };
	int fd = memfd_create("fuzz_quant", MFD_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "w+b") : NULL;
	float *x = malloc(dims[0] * dims[1] * sizeof *x);
	qf_writer *w;
	qf_err e;

	if (!f || !x)
		abort();
	for (uint64_t i = 0; i < dims[0] * dims[1]; i++)
		x[i] = (float)((int64_t)((i * 2654435761u + h) % 201) - 100) / 64;
	qf_rec_init(rec);
	if (qf_rec_set_name(rec, names[k].name, &e) < 0 ||
	    qf_rec_set_shape(rec, QF_F32, (h >> 15) % 2 ? 2 : 1,
			     (h >> 15) % 2 ? dims : dims + 1, &e) < 0 ||
	    qf_rec_set(rec, "kind", names[k].kind, &e) < 0 ||
	    (names[k].layer >= 0 &&
	     qf_rec_setf(rec, &e, "layer", "%d", names[k].layer) < 0) ||
	    !(w = qf_writer_fopen(f, "w.qft", NULL, &e)) ||
	    qf_writer_put(w, rec, x, &e) < 0 || qf_writer_close(w, &e) < 0)
		abort();
	free(x);
	rewind(f);
	return f;
}

/* The parsed plan on one record. */
static void apply_plan(qf_qplan *p, uint64_t h)
{
	qf_rec rec, got;
	FILE *f = one_record(h, &rec), *tsv = fopen("/dev/null", "w");
	qf_reader *r;
	qf_qstats *s;
	qf_wbatch *b;
	qf_err e;

	qf_rec_init(&got);
	if (!tsv || !(r = qf_reader_fopen(f, "w.qft", &e)) ||
	    qf_reader_next(r, &got, &e) != 1 || !(s = qf_qstats_new(tsv, &e)) ||
	    !(b = qf_wbatch_new(&e)))
		abort();
	p->threads = 1;
	if (qf_qplan_apply(p, r, &got, b, s, &e) == 0) {
		for (int i = 0; i < b->n; i++)
			if (qf_rec_check(&b->rec[i], &e) < 0 ||
			    (qf_rec_nbytes(&b->rec[i]) && !b->data[i]))
				abort();
		qf_qstats_finish(s);
	} else if (strncmp(e.msg, "w.qft: ", 7) != 0 || strchr(e.msg, '\n')) {
		abort();
	}
	qf_wbatch_free(b);
	qf_qstats_free(s);
	qf_reader_close(r);
	qf_rec_free(&got);
	qf_rec_free(&rec);
	fclose(tsv);
	fclose(f);
}

static void options(const uint8_t *data, size_t size)
{
	char *argv[FUZZ_MAX_ARGS], *store;
	struct opts o;
	struct parse_call c = { 0, argv, &o };

	memset(&o, 0, sizeof o);
	c.argc = fuzz_argv("qf-quantize", data, size, argv, &store);
	map_files(c.argc, argv);
	if (fuzz_cli_call("qf-quantize", call_parse, &c) == -1)
		apply_plan(&o.p, fnv(data, size));
	opts_free(&o);
	free(store);
}

/* ------------------------------------------------------------ tensors */

static void spec_of(const uint8_t *b, qf_qspec *q)
{
	qf_qspec_default(q, 1 + b[0] % 6);
	if (b[1] & 0x80)
		q->bits = b[1] & 15;
	if (b[2] & 0x80)
		q->sym = b[2] & 1;
	if (b[3] & 0x80) {
		q->gran = 1 + b[3] % 3;
		q->group = b[4];
	}
	if (b[5] & 0x80) {
		q->clip = 1 + b[5] % 5;
		q->pct = b[6] / 2.5;
	}
	if (b[7] & 0x80)
		q->round = 1 + b[7] % 2;
	q->seed = (uint64_t)b[8] << 8 | b[9];
}

static void same(const void *a, const void *b, size_t n)
{
	if (n && (!a || !b || memcmp(a, b, n) != 0))
		abort();
}

/* Quantize with 1 and with 3 threads: the same results. */
static void quantize(const qf_qspec *q, const float *x, uint64_t rows,
		     uint64_t cols)
{
	uint64_t n = rows * cols, units = qf_qunits(q, rows, cols);
	size_t cs = qf_dtype_size(qf_qcodes_dtype(q));
	size_t ss = qf_dtype_size(qf_qscales_dtype(q));
	qf_qbuf out[2];
	qf_qres res[2];
	qf_err e;
	int rc[2];

	if (!units)
		return;
	for (int k = 0; k < 2; k++) {
		out[k].y = malloc(n * sizeof(float));
		out[k].codes = malloc(n * cs);
		out[k].scales = malloc(units * ss);
		out[k].zeros = malloc(units * sizeof(int32_t));
		if (!out[k].y || !out[k].codes || !out[k].scales || !out[k].zeros)
			abort();
		rc[k] = qf_quantize(q, x, rows, cols, 1234, &out[k], 1, &res[k],
				    k ? 3 : 1, &e);
		/* values beyond the scheme's range (a Q8_0 scale above
		 * f16's): refused, never written as NaN or infinity */
		if (rc[k] < 0 && !strstr(e.msg, "cannot represent"))
			abort();
	}
	if (rc[0] != rc[1])
		abort();
	if (rc[0] < 0)
		goto out;
	for (uint64_t i = 0; i < n; i++)
		if (!isfinite(out[0].y[i]))
			abort();
	if (res[0].numel != n || res[0].units != units || !isfinite(res[0].sse) ||
	    res[0].sse < 0 || res[0].clipped > n)
		abort();
	same(out[0].y, out[1].y, n * sizeof(float));
	same(out[0].codes, out[1].codes, n * cs);
	same(out[0].scales, out[1].scales, units * ss);
	same(&res[0], &res[1], sizeof res[0]);
out:
	for (int k = 0; k < 2; k++) {
		free(out[k].y);
		free(out[k].codes);
		free(out[k].scales);
		free(out[k].zeros);
	}
}

static void tensor(const uint8_t *data, size_t size)
{
	qf_qspec q;
	int dt;
	uint64_t rows, cols, n;
	size_t ds;
	float *x;
	qf_err e;

	if (size < 13)
		return;
	spec_of(data, &q);
	if (qf_qspec_check(&q, &e) < 0)
		return;
	dt = 1 + data[10] % 13;
	ds = qf_dtype_size(dt);
	rows = 1 + data[11] % 16;
	cols = 1 + data[12] % 256;
	n = rows * cols;
	data += 13;
	size -= 13;
	if (size < n * ds)
		return;
	if (!(x = malloc(n * sizeof *x)))
		abort();
	if (qf_convert(QF_F32, x, dt, data, n, &e) < 0) {
		free(x);
		return;
	}
	for (uint64_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			x[i] = 0;
	if (qf_find_nonfinite(x, n, 2) != -1)
		abort();
	quantize(&q, x, rows, cols);
	free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (map_fd < 0) {
		qf_tool_init("qf-quantize");
		map_fd = memfd_create("fuzz_quant_map", MFD_CLOEXEC);
		if (map_fd < 0)
			abort();
		snprintf(map_arg, sizeof map_arg, "@/proc/self/fd/%d", map_fd);
	}
	if (size == 0)
		return 0;
	if (data[0] & 1)
		tensor(data + 1, size - 1);
	else
		options(data + 1, size - 1);
	return 0;
}
