/*
 * fuzz_config.c - model configuration and model loading on arbitrary
 * bytes: config.json (lib/ckpt/ckpt.c, lib/ckpt/wplan.c) and a weight
 * stream's config record and tensors (lib/model/model.c, gpt2.c).
 *
 * The first byte picks what the rest is:
 *
 *   even  a config.json, placed beside a tiny GPT-2 model.safetensors
 *         (1 layer, n_embd 4, 8 tokens, 4 positions, made here) in a
 *         directory opened with qf_ckpt_open: its metadata, the GPT-2
 *         plan (qf_wplan_gpt2, which checks the config against the
 *         shapes), and when the plan is made, the weight stream it
 *         gives (qf-extract weights' output) loaded with qf_model_read
 *   odd   a weight stream, loaded with qf_model_read
 *
 * Checked: every failure is one line naming its file.  A stream whose
 * records declare more than MAX_READ bytes in all is not loaded: the
 * loader allocates each tensor at its declared size (issue 18 is to
 * bound that in the library), so the harness bounds it by reading the
 * headers first.
 *
 *   make BUILD=b b/fuzz/fuzz_config
 *   b/fuzz/fuzz_config tests/fuzz/corpus/config
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qf.h"

#define MAX_READ (16u << 20)
#define D 4
#define V 8
#define P 4

static char dir[] = "/tmp/fuzz_config.XXXXXX";
static char cfg_path[64], st_path[64];
static int stream_fd = -1, weights_fd = -1;

/* A failure: one line starting with prefix (a file's name, or the
 * directory that holds the files). */
static void check_err(const qf_err *e, const char *prefix)
{
	if (!e->msg[0] || strncmp(e->msg, prefix, strlen(prefix)) != 0 ||
	    strchr(e->msg, '\n') != NULL)
		abort();
}

static void put_tensor(FILE *h, FILE *data, long *off, const char *name,
		       uint64_t d0, uint64_t d1)
{
	uint64_t n = d0 * (d1 ? d1 : 1);

	fprintf(h, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%llu", *off ? "," : "",
		name, (unsigned long long)d0);
	if (d1)
		fprintf(h, ",%llu", (unsigned long long)d1);
	fprintf(h, "],\"data_offsets\":[%ld,%ld]}", *off, *off + (long)(4 * n));
	for (uint64_t i = 0; i < n; i++) {
		float x = (float)((i * 7 + (uint64_t)*off) % 13) / 16 - 0.375f;
		fwrite(&x, 4, 1, data);
	}
	*off += (long)(4 * n);
}

/* The tiny GPT-2 in Hugging Face's names, Conv1D weights [in, out]. */
static void write_model(const char *path)
{
	static const struct { const char *name; uint64_t d0, d1; } t[] = {
		{ "wte.weight", V, D }, { "wpe.weight", P, D },
		{ "h.0.ln_1.weight", D, 0 }, { "h.0.ln_1.bias", D, 0 },
		{ "h.0.attn.c_attn.weight", D, 3 * D },
		{ "h.0.attn.c_attn.bias", 3 * D, 0 },
		{ "h.0.attn.c_proj.weight", D, D }, { "h.0.attn.c_proj.bias", D, 0 },
		{ "h.0.ln_2.weight", D, 0 }, { "h.0.ln_2.bias", D, 0 },
		{ "h.0.mlp.c_fc.weight", D, 4 * D }, { "h.0.mlp.c_fc.bias", 4 * D, 0 },
		{ "h.0.mlp.c_proj.weight", 4 * D, D }, { "h.0.mlp.c_proj.bias", D, 0 },
		{ "ln_f.weight", D, 0 }, { "ln_f.bias", D, 0 },
	};
	char *hbuf = NULL, *dbuf = NULL;
	size_t hlen = 0, dlen = 0;
	FILE *h = open_memstream(&hbuf, &hlen), *data = open_memstream(&dbuf, &dlen);
	FILE *f = fopen(path, "wb");
	uint64_t n;
	long off = 0;

	if (!h || !data || !f)
		abort();
	fputc('{', h);
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		put_tensor(h, data, &off, t[i].name, t[i].d0, t[i].d1);
	fputc('}', h);
	fclose(h);
	fclose(data);
	n = hlen;
	if (fwrite(&n, 8, 1, f) != 1 || fwrite(hbuf, 1, hlen, f) != hlen ||
	    fwrite(dbuf, 1, dlen, f) != dlen || fclose(f) != 0)
		abort();
	free(hbuf);
	free(dbuf);
}

static void setup(void)
{
	char model[64];

	if (!mkdtemp(dir))
		abort();
	snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
	snprintf(model, sizeof model, "%s/model.safetensors", dir);
	write_model(model);
	stream_fd = memfd_create("fuzz_config", MFD_CLOEXEC);
	weights_fd = memfd_create("fuzz_config_w", MFD_CLOEXEC);
	if (stream_fd < 0 || weights_fd < 0)
		abort();
	snprintf(st_path, sizeof st_path, "/proc/self/fd/%d", stream_fd);
}

static void cleanup(void)
{
	char model[64];

	snprintf(model, sizeof model, "%s/model.safetensors", dir);
	unlink(cfg_path);
	unlink(model);
	rmdir(dir);
}

static void put(int fd, const char *path, const uint8_t *data, size_t size)
{
	int tfd = fd;

	if (fd < 0 && (tfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		abort();
	if (ftruncate(tfd, 0) < 0 ||
	    (size && pwrite(tfd, data, size, 0) != (ssize_t)size))
		abort();
	if (fd < 0)
		close(tfd);
}

/* The declared payload bytes of every record, or UINT64_MAX past a limit
 * (an unreadable stream is fine: the loader says so). */
static uint64_t declared_bytes(FILE *f)
{
	qf_reader *r = qf_reader_fopen(f, "scan", NULL);
	uint64_t sum = 0;
	qf_rec rec;
	qf_err e;

	if (!r)
		abort();
	qf_rec_init(&rec);
	while (sum <= MAX_READ && qf_reader_next(r, &rec, &e) > 0)
		sum += qf_rec_nbytes(&rec) < MAX_READ ? qf_rec_nbytes(&rec) :
		       MAX_READ + 1;
	qf_rec_free(&rec);
	qf_reader_close(r);
	rewind(f);
	return sum;
}

/* Load the stream in fd with qf_model_read, headers checked first. */
static void load_model(int fd, const char *name)
{
	FILE *f;
	qf_reader *r;
	qf_model *m;
	qf_err e;

	if (lseek(fd, 0, SEEK_SET) < 0 || !(f = fdopen(dup(fd), "rb")))
		abort();
	if (declared_bytes(f) <= MAX_READ) {
		if (!(r = qf_reader_fopen(f, name, &e)))
			abort();
		m = qf_model_read(r, &e);
		if (m)
			qf_model_free(m);
		else
			check_err(&e, name);
		qf_reader_close(r);
	}
	fclose(f);
}

/* The plan's records, as qf-extract weights writes them, into weights_fd. */
static int write_plan(qf_ckpt *c, const qf_wplan *p, qf_err *e)
{
	FILE *f;
	qf_writer *w;
	int rc = 0;

	if (ftruncate(weights_fd, 0) < 0 || lseek(weights_fd, 0, SEEK_SET) < 0 ||
	    !(f = fdopen(dup(weights_fd), "wb")))
		abort();
	if (!(w = qf_writer_fopen(f, "weights.qft", NULL, e)))
		abort();
	rc = qf_writer_put(w, &p->config, NULL, e);
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		void *data = NULL;
		rc = qf_wplan_read(c, p, i, &data, e);
		if (rc == 0)
			rc = qf_writer_put(w, &p->items[i].rec, data, e);
		free(data);
	}
	if (rc == 0)
		rc = qf_writer_close(w, e);
	else
		qf_writer_abort(w);
	fclose(f);
	return rc;
}

static void config_json(const uint8_t *data, size_t size)
{
	qf_ckpt *c;
	qf_wplan p;
	qf_err e;

	put(-1, cfg_path, data, size);
	c = qf_ckpt_open(dir, &e);
	if (!c) {
		check_err(&e, dir);
		return;
	}
	qf_ckpt_meta(c);
	if (qf_wplan_gpt2(c, &p, &e) == 0) {
		if (write_plan(c, &p, &e) == 0)
			load_model(weights_fd, "weights.qft");
		else
			check_err(&e, "");
		qf_wplan_free(&p);
	} else {
		check_err(&e, dir);
	}
	qf_ckpt_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (stream_fd < 0) {
		setup();
		atexit(cleanup);
	}
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		put(stream_fd, NULL, data + 1, size - 1);
		load_model(stream_fd, st_path);
	} else {
		config_json(data + 1, size - 1);
	}
	return 0;
}
