/*
 * test_model.c - the GPT-2 runtime against PyTorch.
 *
 * Fixtures: data/model/{a,b}.qft with what a plain-torch GPT-2 computes
 * from them in {a,b}.npz (tests/data/model/gen_model.py), and the shared
 * gpt2-tiny (a Hugging Face pytorch_model.bin with HF's outputs), turned
 * into a weight stream at test time by the same script; skipped when the
 * shared directory or Debian's python3-torch is absent.
 *
 * Agreement is measured per tensor as max|c - ref| / max|ref| (the error
 * relative to the tensor's largest magnitude) and must be below 1e-4;
 * the figures reached are printed as TAP comments.  Run with cwd = tests/.
 */
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qf.h"
#include "core/internal.h"
#include "tool/blas.h"
#include "unit.h"
#include "npz_fixture.h"

#define MDIR "data/model/"
#define PY "/usr/bin/python3"
#define TOL 1e-4

/* ---------------------------------------------------------------- arrays */

static const float *npz_f32(const struct npz *z, const char *name)
{
	const struct arr *a = npz_get(z, name);

	return a && a->rec.dtype == QF_F32 ? a->data : NULL;
}

/* max|c - ref| / max|ref|; infinity for a NaN in c. */
static double relerr(const float *c, const float *ref, size_t n)
{
	double md = 0, mr = 0;

	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)c[i] - ref[i]);

		if (isnan(c[i]) || isnan(d))
			return INFINITY;
		md = d > md ? d : md;
		mr = fabs(ref[i]) > mr ? fabs(ref[i]) : mr;
	}
	return md / (mr > 1e-30 ? mr : 1e-30);
}

/* The worst error of a fixture, for the report. */
static double worst;
static char worst_what[128];

#define CHECK_CLOSE(c, ref, n, what) do { \
	const float *ref_ = (ref); \
	double e_ = ref_ ? relerr((c), ref_, (n)) : INFINITY; \
	CHECKF(e_ <= TOL, "%s: relative error %.3g", (what), e_); \
	if (e_ > worst) { \
		worst = e_; \
		snprintf(worst_what, sizeof worst_what, "%s", (what)); \
	} } while (0)

static void report(const char *fixture)
{
	printf("# %s: max relative error %.3g (%s)\n", fixture, worst,
	       worst_what);
	worst = 0;
	worst_what[0] = 0;
}

static qf_model *load(const char *path)
{
	qf_err e;
	qf_model *m = qf_model_load(path, &e);

	CHECKF(m != NULL, "%s", e.msg);
	return m;
}

/* ---------------------------------------------------------------- recording hooks */

#define MAXL 8

struct record {
	float *site[MAXL + 1][QF_SITE_COUNT];	/* copies, [T, d] */
	float *attn[MAXL];			/* [H, T, T] */
	int calls;
};

static int record_hook(void *ctx, const qf_site_info *s, float *x)
{
	struct record *r = ctx;
	size_t n = (size_t)s->T * s->d;

	r->calls++;
	if (s->layer > MAXL)
		return 0;
	free(r->site[s->layer][s->site]);
	r->site[s->layer][s->site] = malloc(n * sizeof *x);
	memcpy(r->site[s->layer][s->site], x, n * sizeof *x);
	return 0;
}

static int record_attn(void *ctx, const qf_site_info *s, float *p)
{
	struct record *r = ctx;
	size_t n = (size_t)s->d * s->T * s->T;

	if (s->layer >= MAXL)
		return 0;
	free(r->attn[s->layer]);
	r->attn[s->layer] = malloc(n * sizeof *p);
	memcpy(r->attn[s->layer], p, n * sizeof *p);
	return 0;
}

static void record_free(struct record *r)
{
	for (int l = 0; l <= MAXL; l++)
		for (int s = 0; s < QF_SITE_COUNT; s++)
			free(r->site[l][s]);
	for (int l = 0; l < MAXL; l++)
		free(r->attn[l]);
	memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- fixtures */

/* Forward over the fixture's tokens; hidden states (resid_pre of layer 0,
 * resid_post of every block), final norm, logits and NLL against the
 * reference; with sites, every site and the attention too. */
static void check_fixture(const char *name, int sites)
{
	char path[256], what[128];
	struct npz z;
	struct record rec;
	qf_hooks h;
	qf_model *m;
	const qf_model_config *c;
	const struct arr *tok;
	float *logits, *nll;
	const float *hid;
	qf_err e;
	int T, d, L, rc;

	snprintf(path, sizeof path, MDIR "%s.npz", name);
	if (npz_load(&z, path) < 0) {
		CHECK(!"fixture");
		return;
	}
	snprintf(path, sizeof path, MDIR "%s.qft", name);
	if (!(m = load(path))) {
		npz_free(&z);
		return;
	}
	c = qf_model_cfg(m);
	tok = npz_get(&z, "tokens");
	hid = npz_f32(&z, "hidden");
	CHECK(tok && tok->rec.dtype == QF_I32 && hid);
	if (!tok || !hid)
		goto out;
	T = (int)tok->rec.dims[0];
	d = c->n_embd;
	L = c->n_layer;
	logits = malloc((size_t)T * c->vocab_size * sizeof *logits);
	nll = malloc((size_t)(T - 1) * sizeof *nll);
	memset(&rec, 0, sizeof rec);
	h = (qf_hooks){ record_hook, QF_SITES_ALL, sites ? record_attn : NULL,
			&rec, NULL };
	rc = qf_model_forward(m, tok->data, T, &h, logits, nll, &e);
	CHECKF(rc == 0, "%s", e.msg);
	CHECK(rec.calls == L * (QF_SITE_COUNT - 1) + 1);
	for (int l = 0; l <= L && rc == 0; l++) {
		const float *x = l == 0 ? rec.site[0][QF_SITE_RESID_PRE] :
			rec.site[l - 1][QF_SITE_RESID_POST];

		snprintf(what, sizeof what, "%s hidden[%d]", name, l);
		CHECK_CLOSE(x, hid + (size_t)l * T * d, (size_t)T * d, what);
	}
	if (rc == 0) {
		snprintf(what, sizeof what, "%s final_norm", name);
		CHECK_CLOSE(rec.site[L][QF_SITE_FINAL_NORM],
			    npz_f32(&z, "final_norm"), (size_t)T * d, what);
		snprintf(what, sizeof what, "%s logits", name);
		CHECK_CLOSE(logits, npz_f32(&z, "logits"),
			    (size_t)T * c->vocab_size, what);
		snprintf(what, sizeof what, "%s nll", name);
		CHECK_CLOSE(nll, npz_f32(&z, "nll"), (size_t)T - 1, what);
	}
	for (int l = 0; sites && rc == 0 && l < L; l++) {
		for (int s = 0; s < QF_SITE_FINAL_NORM; s++) {
			char key[64];
			const struct arr *a;

			snprintf(key, sizeof key, "site_%s_%d", qf_site_name(s), l);
			a = npz_get(&z, key);
			snprintf(what, sizeof what, "%s %s", name, key);
			CHECK_CLOSE(rec.site[l][s], a ? a->data : NULL,
				    a ? qf_rec_numel(&a->rec) : 0, what);
		}
		snprintf(what, sizeof what, "attn_%d", l);
		CHECK_CLOSE(rec.attn[l], npz_f32(&z, what),
			    (size_t)c->n_head * T * T, what);
	}
	/* the same with neither hooks nor logits: the NLL alone (the head's
	 * sgemm then covers other rows, so not always to the last bit) */
	if (rc == 0) {
		float *nll2 = malloc((size_t)(T - 1) * sizeof *nll2);

		CHECK(qf_model_forward(m, tok->data, T, NULL, NULL, nll2, &e) == 0);
		CHECK(relerr(nll2, nll, (size_t)T - 1) < 1e-6);
		free(nll2);
	}
	free(logits);
	free(nll);
	record_free(&rec);
out:
	qf_model_free(m);
	npz_free(&z);
}

static void test_fixture_a(void)
{
	qf_model *m = load(MDIR "a.qft");
	const qf_model_config *c;

	if (!m)
		return;
	c = qf_model_cfg(m);
	CHECK(c->arch == QF_ARCH_GPT2 && c->n_layer == 2 && c->n_embd == 48 &&
	      c->n_head == 3 && c->head_dim == 16 && c->n_ctx == 32 &&
	      c->n_inner == 192 && c->vocab_size == 97 && c->tied);
	CHECK(fabsf(c->norm_eps - 1e-5f) < 1e-12f);
	CHECK_STR(qf_arch_name(c->arch), "gpt2");
	qf_model_free(m);
	check_fixture("a", 1);
	report("fixture a (2 layers, d 48, 3 heads, V 97, C 32; f16/f32/f64)");
}

static void test_fixture_b(void)
{
	qf_model *m = load(MDIR "b.qft");

	if (!m)
		return;
	CHECK(qf_model_cfg(m)->n_head == 8 && !qf_model_cfg(m)->tied &&
	      qf_model_cfg(m)->n_inner == 96);
	qf_model_free(m);
	check_fixture("b", 0);
	report("fixture b (3 layers, d 32, 8 heads, V 512, C 128, untied; bf16/f32)");
}

/* Threads: 1, 2 and 3 give the same outputs. */
static void test_threads(void)
{
	struct npz z;
	qf_model *m = load(MDIR "b.qft");
	const struct arr *tok;
	float *ref = NULL, *out = NULL;
	qf_err e;
	size_t n;
	int T;

	if (!m || npz_load(&z, MDIR "b.npz") < 0) {
		qf_model_free(m);
		return;
	}
	tok = npz_get(&z, "tokens");
	T = (int)tok->rec.dims[0];
	n = (size_t)T * qf_model_cfg(m)->vocab_size;
	ref = malloc(n * sizeof *ref);
	out = malloc(n * sizeof *out);
	for (int th = 1; th <= 3; th++) {
		CHECKF(qf_model_set_threads(m, th, &e) == 0, "%s", e.msg);
		CHECKF(qf_model_forward(m, tok->data, T, NULL, th == 1 ? ref : out,
					NULL, &e) == 0, "%s", e.msg);
		if (th > 1)
			CHECKF(relerr(out, ref, n) < 1e-6, "%d threads", th);
	}
	CHECK(qf_model_set_threads(m, 0, &e) < 0);
	CHECK_STR(e.msg, "thread count 0, expected at least 1");
	free(ref);
	free(out);
	qf_model_free(m);
	npz_free(&z);
}

/* ---------------------------------------------------------------- the shared fixture */

static int run(const char *cmd)
{
	int rc = system(cmd);

	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static void test_shared_gpt2_tiny(void)
{
	const char *sh = unit_shared_dir();
	char dir[512], tmp[] = "/tmp/qf-test-model-XXXXXX", qft[600], cmd[2048];
	const char *names[] = { "tokens", "hidden_states", "final_norm",
				"logits", "nll" };
	qf_rec rec[5];
	void *data[5] = { 0 };
	struct record r;
	qf_hooks h;
	qf_model *m = NULL;
	qf_err e;
	int ok = 1, T = 0, d, L, V;
	float *logits = NULL, *nll = NULL;
	char what[64];

	if (!sh)
		SKIP("no shared fixtures");
	snprintf(dir, sizeof dir, "%s/fixtures/gpt2-tiny", sh);
	snprintf(cmd, sizeof cmd, "%s/pytorch_model.bin", dir);
	if (access(cmd, R_OK) != 0)
		SKIP("no shared gpt2-tiny");
	if (access(PY, X_OK) != 0 ||
	    run(PY " -c 'import torch, zstandard, numpy' 2>/dev/null") != 0)
		SKIP("no Debian python3 with torch, numpy and zstandard");
	if (!mkdtemp(tmp)) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(qft, sizeof qft, "%s/gpt2-tiny.qft", tmp);
	snprintf(cmd, sizeof cmd, PY " " MDIR "gen_model.py hf '%s/pytorch_model.bin' "
		 "'%s/config.json' '%s'", dir, dir, qft);
	CHECKF(run(cmd) == 0, "%s", cmd);
	for (int i = 0; i < 5; i++) {
		FILE *f;

		qf_rec_init(&rec[i]);
		snprintf(cmd, sizeof cmd, "%s/%s.npy", dir, names[i]);
		f = fopen(cmd, "rb");
		if (!f || qf_npy_read(f, cmd, &rec[i], &data[i], &e) < 0) {
			printf("# %s: %s\n", cmd, f ? e.msg : "cannot open");
			ok = 0;
		}
		if (f)
			fclose(f);
	}
	CHECK(ok);
	if (!ok || !(m = load(qft)))
		goto out;
	d = qf_model_cfg(m)->n_embd;
	L = qf_model_cfg(m)->n_layer;
	V = qf_model_cfg(m)->vocab_size;
	T = (int)rec[0].dims[0];
	CHECK(rec[0].dtype == QF_I32 && rec[1].ndim == 3 &&
	      (int)rec[1].dims[0] == L + 1);
	/* hidden_states: the embedding, then each block's output (HF's,
	 * which in this fixture does not apply the final norm to the last) */
	logits = malloc((size_t)T * V * sizeof *logits);
	nll = malloc((size_t)(T - 1) * sizeof *nll);
	memset(&r, 0, sizeof r);
	h = (qf_hooks){ record_hook,
			1u << QF_SITE_RESID_PRE | 1u << QF_SITE_RESID_POST |
			1u << QF_SITE_FINAL_NORM, NULL, &r, NULL };
	if (qf_model_forward(m, data[0], T, &h, logits, nll, &e) < 0) {
		CHECKF(0, "%s", e.msg);
		goto out;
	}
	for (int l = 0; l <= L; l++) {
		snprintf(what, sizeof what, "gpt2-tiny hidden_states[%d]", l);
		CHECK_CLOSE(l ? r.site[l - 1][QF_SITE_RESID_POST] :
			    r.site[0][QF_SITE_RESID_PRE],
			    (float *)data[1] + (size_t)l * T * d, (size_t)T * d, what);
	}
	CHECK_CLOSE(r.site[L][QF_SITE_FINAL_NORM], data[2], (size_t)T * d,
		    "gpt2-tiny final_norm");
	CHECK_CLOSE(logits, data[3], (size_t)T * V, "gpt2-tiny logits");
	CHECK_CLOSE(nll, data[4], (size_t)T - 1, "gpt2-tiny nll");
	record_free(&r);
	report("shared gpt2-tiny (4 layers, d 64, 4 heads, V 300, C 64)");
out:
	qf_model_free(m);
	free(logits);
	free(nll);
	for (int i = 0; i < 5; i++) {
		qf_rec_free(&rec[i]);
		free(data[i]);
	}
	unlink(qft);
	rmdir(tmp);
}

/* ---------------------------------------------------------------- windows */

/* The plan as a pure function: every target once, with the context
 * promised. */
static void test_window_plan(void)
{
	qf_window w[400];
	uint64_t n, k;
	int counts[400];

	for (n = 1; n < 300; n += 7) {
		for (int W = 2; W <= 40; W += 3) {
			for (int S = 1; S < W; S += 2) {
				k = qf_windows(n, W, S, NULL);
				CHECK(k >= 1 && k < 400);
				CHECK(qf_windows(n, W, S, w) == k);
				memset(counts, 0, sizeof counts);
				for (uint64_t i = 0; i < k; i++) {
					CHECK(w[i].begin == i * (uint64_t)S);
					CHECK(w[i].end <= n && w[i].end - w[i].begin <=
					      (uint64_t)W);
					CHECK(w[i].first >= w[i].begin + 1);
					if (i)
						CHECK(w[i].first - w[i].begin >=
						      (uint64_t)(W - S));
					for (uint64_t p = w[i].first; p < w[i].end; p++)
						counts[p]++;
				}
				CHECK(w[k - 1].end == n);
				for (uint64_t p = 1; p < n; p++)
					CHECKF(counts[p] == 1, "n %d W %d S %d p %d",
					       (int)n, W, S, (int)p);
			}
		}
	}
	CHECK(qf_windows(0, 8, 4, NULL) == 0);
	CHECK(qf_windows(10, 8, 8, NULL) == 0);
	CHECK(qf_windows(10, 8, 0, NULL) == 0);
	CHECK(qf_windows(10, 1, 1, NULL) == 0);
	/* a worked example, as in docs/runtime.md */
	CHECK(qf_windows(10, 4, 2, w) == 4);
	CHECK(w[0].begin == 0 && w[0].end == 4 && w[0].first == 1);
	CHECK(w[1].begin == 2 && w[1].end == 6 && w[1].first == 4);
	CHECK(w[3].begin == 6 && w[3].end == 10 && w[3].first == 8);
}

static void check_windows(const char *name, const char *const *keys)
{
	char path[64];
	struct npz z;
	qf_model *m;
	const struct arr *doc;
	float *nll;
	qf_err e;
	uint64_t n;

	snprintf(path, sizeof path, MDIR "%s.npz", name);
	if (npz_load(&z, path) < 0)
		return;
	snprintf(path, sizeof path, MDIR "%s.qft", name);
	if (!(m = load(path)) || !(doc = npz_get(&z, "doc"))) {
		qf_model_free(m);
		npz_free(&z);
		return;
	}
	n = doc->rec.dims[0];
	nll = malloc((n - 1) * sizeof *nll);
	for (int i = 0; keys[i]; i++) {
		int W, S;
		char what[64];

		sscanf(keys[i], "win_%d_%d", &W, &S);
		for (uint64_t p = 0; p + 1 < n; p++)
			nll[p] = -1;
		CHECKF(qf_model_nll(m, doc->data, n, W, S, NULL, nll, &e) == 0,
		       "%s", e.msg);
		snprintf(what, sizeof what, "%s %s", name, keys[i]);
		CHECK_CLOSE(nll, npz_f32(&z, keys[i]), n - 1, what);
	}
	free(nll);
	qf_model_free(m);
	npz_free(&z);
}

static void test_windows(void)
{
	static const char *const ka[] = { "win_32_12", "win_20_19", "win_32_1",
					  "win_32_31", NULL };
	static const char *const kb[] = { "win_128_50", "win_128_127", NULL };

	check_windows("a", ka);
	check_windows("b", kb);
	report("windowed NLL, fixtures a and b");
}

/* A document that fits: windowed NLL is the full forward's, exactly;
 * defaults (window n_ctx, stride window / 2). */
static void test_windows_fit(void)
{
	struct npz z;
	qf_model *m = load(MDIR "a.qft");
	const struct arr *tok;
	float full[31], win[31];
	qf_err e;

	if (!m || npz_load(&z, MDIR "a.npz") < 0) {
		qf_model_free(m);
		return;
	}
	tok = npz_get(&z, "tokens");
	CHECK(qf_model_forward(m, tok->data, 32, NULL, NULL, full, &e) == 0);
	CHECK(qf_model_nll(m, tok->data, 32, 0, 0, NULL, win, &e) == 0);
	CHECK(memcmp(full, win, sizeof full) == 0);
	CHECK(qf_model_forward(m, tok->data, 20, NULL, NULL, full, &e) == 0);
	CHECK(qf_model_nll(m, tok->data, 20, 32, 5, NULL, win, &e) == 0);
	CHECK(memcmp(full, win, 19 * sizeof *full) == 0);
	/* one token: nothing to score, no error */
	CHECK(qf_model_nll(m, tok->data, 1, 0, 0, NULL, win, &e) == 0);
	qf_model_free(m);
	npz_free(&z);
}

/* Hooks over windows: rows [first_new, T) of each pass give every
 * position of the document once, and pos is the window's start. */
struct cover {
	int seen[200];
	int passes;
	int64_t last_pos;
};

static int cover_hook(void *ctx, const qf_site_info *s, float *x)
{
	struct cover *c = ctx;

	(void)x;
	if (s->layer != 1)
		return 0;
	c->passes++;
	c->last_pos = s->pos;
	for (int t = s->first_new; t < s->T; t++)
		c->seen[s->pos + t]++;
	return 0;
}

static void test_window_hooks(void)
{
	struct npz z;
	qf_model *m = load(MDIR "a.qft");
	const struct arr *doc;
	struct cover c;
	qf_hooks h = { cover_hook, 1u << QF_SITE_RESID_POST, NULL, &c, NULL };
	qf_err e;

	if (!m || npz_load(&z, MDIR "a.npz") < 0) {
		qf_model_free(m);
		return;
	}
	doc = npz_get(&z, "doc");
	memset(&c, 0, sizeof c);
	CHECKF(qf_model_nll(m, doc->data, 150, 32, 12, &h, NULL, &e) == 0,
	       "%s", e.msg);
	CHECK(c.passes == (int)qf_windows(150, 32, 12, NULL));
	CHECK(c.last_pos == 12 * (c.passes - 1));
	for (int p = 0; p < 150; p++)
		CHECKF(c.seen[p] == 1, "position %d seen %d times", p, c.seen[p]);
	qf_model_free(m);
	npz_free(&z);
}

/* The logits hook: rows that predict a scored target, each once, equal to
 * the logits of a forward pass over the window's tokens, and the NLL
 * computed from them; qf_model_window over qf_windows equals
 * qf_model_nll. */
struct logit_check {
	qf_model *m;
	const int32_t *doc;
	const qf_window *w;	/* the window being run */
	int seen[150];
	double worst;		/* max |logit - forward's logit| */
	int fail;
};

static int logit_hook(void *ctx, const qf_site_info *s, const float *x)
{
	struct logit_check *c = ctx;
	int T = (int)(c->w->end - c->w->begin), V = s->d;
	float *ref;
	qf_err e;

	if (c->fail)
		return -1;
	if (!(ref = malloc((size_t)T * V * sizeof *ref)))
		return -1;
	/* another model, same weights, so as not to disturb the pass */
	if (qf_model_forward(c->m, c->doc + c->w->begin, T, NULL, ref, NULL,
			     &e) != 0) {
		free(ref);
		return -1;
	}
	for (int i = 0; i < s->T; i++) {
		int64_t p = s->pos + i + 1;	/* the target */
		int row = (int)(s->pos + i - (int64_t)c->w->begin);

		c->seen[p]++;
		for (int v = 0; v < V; v++) {
			double d = fabs((double)x[(size_t)i * V + v] -
					ref[(size_t)row * V + v]);
			c->worst = d > c->worst ? d : c->worst;
		}
	}
	free(ref);
	return 0;
}

static void test_logits_hook(void)
{
	struct npz z;
	qf_model *m = load(MDIR "a.qft"), *m2 = load(MDIR "a.qft");
	const struct arr *doc;
	struct logit_check c;
	qf_hooks h = { NULL, 0, NULL, &c, logit_hook };
	qf_window w[32];
	float nll[149], nll2[149];
	uint64_t k;
	qf_err e;

	if (!m || !m2 || npz_load(&z, MDIR "a.npz") < 0) {
		qf_model_free(m);
		qf_model_free(m2);
		return;
	}
	doc = npz_get(&z, "doc");
	memset(&c, 0, sizeof c);
	c.m = m2;
	c.doc = doc->data;
	k = qf_windows(150, 32, 12, w);
	CHECK(k > 1 && k <= 32);
	for (uint64_t i = 0; i < k; i++) {
		c.w = &w[i];
		CHECKF(qf_model_window(m, doc->data, 150, &w[i], &h, nll, &e) == 0,
		       "%s", e.msg);
	}
	for (int p = 1; p < 150; p++)
		CHECKF(c.seen[p] == 1, "target %d seen %d times", p, c.seen[p]);
	CHECK(c.seen[0] == 0);
	/* equal up to sgemm's blocking (the head runs from another row) */
	CHECKF(c.worst < 1e-5, "logits differ from forward's by %g", c.worst);
	CHECK(qf_model_nll(m, doc->data, 150, 32, 12, NULL, nll2, &e) == 0);
	CHECK(memcmp(nll, nll2, sizeof nll) == 0);
	/* a failing logits hook names the site */
	c.fail = 1;
	CHECK(qf_model_window(m, doc->data, 150, &w[0], &h, nll, &e) == -1);
	CHECK_STR(e.msg, "hook failed at layer 2 site logits");
	/* windows that do not fit */
	CHECK(qf_model_window(m, doc->data, 20, &w[1], NULL, nll, &e) == -1);
	CHECK_STR(e.msg, "window [12, 44) scoring from 32 does not fit a "
		  "document of 20 tokens");
	qf_model_free(m);
	qf_model_free(m2);
	npz_free(&z);
}

/* ---------------------------------------------------------------- patching */

/* The patches of gen_model.py's patch_a(). */
static int patch_hook(void *ctx, const qf_site_info *s, float *x)
{
	(void)ctx;
	if (s->layer == 0 && s->site == QF_SITE_MLP_ACT) {
		for (int t = 5; t < 12; t++)
			for (int j = 0; j < s->d; j += 3)
				x[t * s->d + j] = 0;
	} else if (s->layer == 1 && s->site == QF_SITE_RESID_PRE) {
		for (int t = 10; t < 20; t++)
			for (int j = 0; j < s->d; j++)
				x[t * s->d + j] = 0.5f * x[t * s->d + j] +
					(float)((7 * t + 3 * j) % 11 - 5) * 0.05f;
	} else if (s->layer == 1 && s->site == QF_SITE_ATTN_Z) {
		for (int t = 20; t < 32; t++)
			for (int j = 32; j < 48; j++)
				x[t * s->d + j] = 0;
	}
	return 0;
}

static int patch_attn(void *ctx, const qf_site_info *s, float *p)
{
	int T = s->T;

	(void)ctx;
	if (s->layer != 0)
		return 0;
	for (int i = 0; i < T; i++)
		for (int j = 0; j <= i; j++)
			p[(size_t)(1 * T + i) * T + j] = 1.0f / (float)(i + 1);
	return 0;
}

static void test_patch(void)
{
	struct npz z;
	qf_model *m = load(MDIR "a.qft");
	const struct arr *tok;
	qf_hooks h = { patch_hook, QF_SITES_ALL, patch_attn, NULL, NULL };
	float logits[32 * 97], nll[31], base[31];
	qf_err e;

	if (!m || npz_load(&z, MDIR "a.npz") < 0) {
		qf_model_free(m);
		return;
	}
	tok = npz_get(&z, "tokens");
	CHECKF(qf_model_forward(m, tok->data, 32, &h, logits, nll, &e) == 0,
	       "%s", e.msg);
	CHECK_CLOSE(logits, npz_f32(&z, "patched_logits"), 32 * 97,
		    "patched logits");
	CHECK_CLOSE(nll, npz_f32(&z, "patched_nll"), 31, "patched nll");
	/* and the patches do matter */
	CHECK(qf_model_forward(m, tok->data, 32, NULL, NULL, base, &e) == 0);
	CHECK(relerr(nll, base, 31) > 1e-2);
	report("patched fixture a");
	qf_model_free(m);
	npz_free(&z);
}

/* Stopping and failing hooks. */
static int stop_hook(void *ctx, const qf_site_info *s, float *x)
{
	int *calls = ctx;

	(void)x;
	(*calls)++;
	return s->layer == 0 && s->site == QF_SITE_ATTN_OUT ? 1 : 0;
}

static int fail_hook(void *ctx, const qf_site_info *s, float *x)
{
	(void)x;
	if (ctx)
		qf_err_set(s->err, "cannot write dump.qft: disk full");
	return s->site == QF_SITE_MLP_OUT ? -1 : 0;
}

static void test_hook_status(void)
{
	qf_model *m = load(MDIR "a.qft");
	int32_t tok[40];
	float nll[39];
	int calls = 0;
	qf_hooks h = { stop_hook, QF_SITES_ALL, NULL, &calls, NULL };
	qf_err e;

	if (!m)
		return;
	for (int i = 0; i < 40; i++)
		tok[i] = (i * 13) % 97;
	CHECK(qf_model_forward(m, tok, 10, &h, NULL, nll, &e) == 1);
	CHECK(calls == 4);	/* resid_pre, ln1_out, attn_z, attn_out */
	/* over windows: the stopped passes leave NaN */
	calls = 0;
	CHECK(qf_model_nll(m, tok, 40, 32, 16, &h, nll, &e) == 0);
	CHECK(calls == 8);
	for (int i = 0; i < 39; i++)
		CHECK(isnan(nll[i]));
	h = (qf_hooks){ fail_hook, QF_SITES_ALL, NULL, NULL, NULL };
	CHECK(qf_model_forward(m, tok, 10, &h, NULL, nll, &e) == -1);
	CHECK_STR(e.msg, "hook failed at layer 0 site mlp_out");
	h.ctx = &calls;
	CHECK(qf_model_forward(m, tok, 10, &h, NULL, nll, &e) == -1);
	CHECK_STR(e.msg, "cannot write dump.qft: disk full");
	CHECK(qf_model_nll(m, tok, 40, 32, 16, &h, nll, &e) == -1);
	CHECK_STR(e.msg, "cannot write dump.qft: disk full");
	/* the model still works afterwards */
	CHECK(qf_model_forward(m, tok, 10, NULL, NULL, nll, &e) == 0);
	qf_model_free(m);
}

static void test_attn_stats(void)
{
	/* rows: [1], [0.5 0.5], [0.25 0.25 0.5] */
	float p[9] = { 1, 0, 0, 0.5f, 0.5f, 0, 0.25f, 0.25f, 0.5f };
	float ent[3], first[3];

	qf_attn_row_stats(p, 3, ent, first);
	CHECK(fabsf(ent[0]) < 1e-7f);
	CHECK(fabsf(ent[1] - logf(2)) < 1e-6f);
	CHECK(fabsf(ent[2] - 1.5f * logf(2)) < 1e-6f);
	CHECK(first[0] == 1 && first[1] == 0.5f && first[2] == 0.25f);
	qf_attn_row_stats(p, 3, NULL, first);
	CHECK_STR(qf_site_name(QF_SITE_RESID_MID), "resid_mid");
	CHECK(qf_site_parse("mlp_act") == QF_SITE_MLP_ACT);
	CHECK(qf_site_parse("mlp") == -1);
	CHECK(qf_site_name(QF_SITE_COUNT) == NULL);
}

/* ---------------------------------------------------------------- bad input */

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
	static char p[128];

	if (!tmpdir[0]) {
		strcpy(tmpdir, "/tmp/qf-test-model.XXXXXX");
		if (!mkdtemp(tmpdir))
			tmpdir[0] = 0;
	}
	snprintf(p, sizeof p, "%s/%s", tmpdir, name);
	return p;
}

/* a.qft rewritten with one defect; returns the path. */
static const char *variant(const char *what)
{
	const char *path = tmp_path("bad.qft");
	qf_err e;
	qf_reader *r = qf_reader_open(MDIR "a.qft", &e);
	qf_writer *w = qf_writer_open(path, NULL, &e);
	qf_rec rec;
	void *data;
	int rc;

	qf_rec_init(&rec);
	if (!r || !w) {
		CHECKF(0, "%s", e.msg);
		return path;
	}
	if (strcmp(what, "config-late") == 0) {
		/* a tensor before the config */
		uint64_t dims[1] = { 48 };
		qf_rec x;
		float zero[48] = { 0 };

		qf_rec_init(&x);
		qf_rec_set_name(&x, "tok_emb.weight", &e);
		qf_rec_set_shape(&x, QF_F32, 1, dims, &e);
		qf_writer_put(w, &x, zero, &e);
		qf_rec_free(&x);
	}
	while ((rc = qf_reader_next(r, &rec, &e)) > 0) {
		CHECK(qf_reader_read_all(r, &data, &e) == 0);
		if (strcmp(rec.name, "config") == 0) {
			if (strcmp(what, "no-n_head") == 0)
				qf_rec_del(&rec, "n_head");
			if (strcmp(what, "arch") == 0)
				qf_rec_set(&rec, "arch", "llama", &e);
			if (strcmp(what, "relu") == 0)
				qf_rec_set(&rec, "activation", "relu", &e);
			if (strcmp(what, "heads") == 0)
				qf_rec_set(&rec, "n_head", "5", &e);
			if (strcmp(what, "n_ctx") == 0)
				qf_rec_set(&rec, "n_ctx", "-3", &e);
			if (strcmp(what, "no-config") == 0) {
				free(data);
				continue;
			}
		}
		if (strcmp(what, "missing") == 0 &&
		    strcmp(rec.name, "layers.1.mlp.in.bias") == 0) {
			free(data);
			continue;
		}
		if (strcmp(what, "shape") == 0 &&
		    strcmp(rec.name, "layers.0.attn.out.weight") == 0)
			rec.dims[1] = 47;	/* fewer bytes: same buffer */
		if (strcmp(what, "dtype") == 0 &&
		    strcmp(rec.name, "final_norm.bias") == 0)
			qf_rec_set_shape(&rec, QF_I64, rec.ndim, rec.dims, &e);
		CHECKF(qf_writer_put(w, &rec, data, &e) == 0, "%s", e.msg);
		if (strcmp(what, "twice") == 0 &&
		    strcmp(rec.name, "layers.0.ln2.bias") == 0)
			CHECK(qf_writer_put(w, &rec, data, &e) == 0);
		free(data);
	}
	CHECK(rc == 0);
	if (strcmp(what, "extra") == 0 || strcmp(what, "head") == 0) {
		uint64_t dims[2] = { 97, 48 };
		float *zero = calloc(97 * 48, sizeof *zero);

		qf_rec_set_name(&rec, strcmp(what, "head") == 0 ?
				"head.weight" : "lm_head.weight", &e);
		qf_rec_set_shape(&rec, QF_F32, 2, dims, &e);
		CHECK(qf_writer_put(w, &rec, zero, &e) == 0);
		free(zero);
	}
	qf_rec_free(&rec);
	qf_reader_close(r);
	CHECKF(qf_writer_close(w, &e) == 0, "%s", e.msg);
	return path;
}

static void test_bad_streams(void)
{
	static const struct {
		const char *what, *msg;
	} cases[] = {
		{ "missing", "record layers.1.mlp.in.bias: missing" },
		{ "shape", "record layers.0.attn.out.weight: shape [48, 47], "
		  "expected [48, 48]" },
		{ "no-n_head", "record config: attribute n_head missing" },
		{ "no-config", "record tok_emb.weight: expected the config "
		  "record first" },
		{ "config-late", "record tok_emb.weight: expected the config "
		  "record first" },
		{ "extra", "record lm_head.weight: not a tensor of a gpt2 model" },
		{ "head", "record head.weight: present but the config says "
		  "tie_word_embeddings=true" },
		{ "twice", "record layers.0.ln2.bias: appears twice" },
		{ "dtype", "record final_norm.bias: dtype i64, expected a "
		  "floating-point dtype" },
		{ "arch", "record config: arch 'llama' not supported" },
		{ "relu", "record config: activation 'relu' not supported "
		  "(only gelu_new)" },
		{ "heads", "record config: n_embd 48 is not a multiple of "
		  "n_head 5" },
		{ "n_ctx", "record config: n_ctx='-3' is not an integer in "
		  "[1, 1048576]" },
	};
	char want[512];
	qf_err e;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const char *path = variant(cases[i].what);
		qf_model *m = qf_model_load(path, &e);

		CHECKF(m == NULL, "%s loaded", cases[i].what);
		snprintf(want, sizeof want, "%s: %s", path, cases[i].msg);
		CHECK_STR(e.msg, want);
		qf_model_free(m);
	}
	/* an empty stream */
	{
		const char *path = tmp_path("empty.qft");
		qf_writer *w = qf_writer_open(path, NULL, &e);

		CHECK(w && qf_writer_close(w, &e) == 0);
		CHECK(qf_model_load(path, &e) == NULL);
		snprintf(want, sizeof want, "%s: no records, expected a config "
			 "record first", path);
		CHECK_STR(e.msg, want);
	}
	unlink(tmp_path("bad.qft"));
	unlink(tmp_path("empty.qft"));
	rmdir(tmpdir);
	tmpdir[0] = 0;
}

static void test_bad_tokens(void)
{
	qf_model *m = load(MDIR "a.qft");
	int32_t tok[40];
	float nll[39];
	qf_err e;

	if (!m)
		return;
	for (int i = 0; i < 40; i++)
		tok[i] = i;
	tok[3] = 97;
	CHECK(qf_model_forward(m, tok, 10, NULL, NULL, nll, &e) == -1);
	CHECK_STR(e.msg, "token id 97 at position 3 out of range (vocab_size 97)");
	tok[3] = 3;
	tok[35] = -1;
	CHECK(qf_model_nll(m, tok, 40, 0, 0, NULL, nll, &e) == -1);
	CHECK_STR(e.msg, "token id -1 at position 35 out of range (vocab_size 97)");
	tok[35] = 35;
	CHECK(qf_model_forward(m, tok, 0, NULL, NULL, nll, &e) == -1);
	CHECK_STR(e.msg, "empty document");
	CHECK(qf_model_nll(m, tok, 0, 0, 0, NULL, nll, &e) == -1);
	CHECK_STR(e.msg, "empty document");
	CHECK(qf_model_forward(m, tok, 33, NULL, NULL, nll, &e) == -1);
	CHECK_STR(e.msg, "document of 33 tokens longer than n_ctx 32");
	CHECK(qf_model_nll(m, tok, 40, 33, 0, NULL, nll, &e) == -1);
	CHECK_STR(e.msg, "window 33 out of range [2, n_ctx 32]");
	CHECK(qf_model_nll(m, tok, 40, 16, 16, NULL, nll, &e) == -1);
	CHECK_STR(e.msg, "stride 16 out of range [1, window 16)");
	qf_model_free(m);
}

/* ---------------------------------------------------------------- OpenBLAS */

static void test_blas_choice(void)
{
	unsigned both = QF_CPU_AVX2 | QF_CPU_AVX512;

	CHECK_STR(qf_blas_core_choice("Prescott", both, NULL, NULL), "SkylakeX");
	CHECK_STR(qf_blas_core_choice("Prescott", QF_CPU_AVX2, NULL, NULL),
		  "Haswell");
	CHECK_STR(qf_blas_core_choice("Nehalem", QF_CPU_AVX2, NULL, NULL),
		  "Haswell");
	CHECK_STR(qf_blas_core_choice("prescott", both, NULL, NULL), "SkylakeX");
	CHECK(qf_blas_core_choice("Prescott", 0, NULL, NULL) == NULL);
	/* a core OpenBLAS chose on purpose */
	CHECK(qf_blas_core_choice("SkylakeX", both, NULL, NULL) == NULL);
	CHECK(qf_blas_core_choice("Haswell", both, NULL, NULL) == NULL);
	CHECK(qf_blas_core_choice("Zen", both, NULL, NULL) == NULL);
	CHECK(qf_blas_core_choice("Cooperlake", both, NULL, NULL) == NULL);
	/* the user's setting wins, even an odd one; at most once */
	CHECK(qf_blas_core_choice("Prescott", both, "Prescott", NULL) == NULL);
	CHECK(qf_blas_core_choice("Prescott", both, "", NULL) == NULL);
	CHECK(qf_blas_core_choice("Prescott", both, NULL, "Prescott") == NULL);
	CHECK(qf_blas_core_choice(NULL, both, NULL, NULL) == NULL);
	/* the live values are at least readable */
	CHECK(qf_blas_corename()[0] != 0);
	printf("# OpenBLAS core %s, cpu features %u, OPENBLAS_CORETYPE %s\n",
	       qf_blas_corename(), qf_cpu_features(),
	       getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset");
}

int main(void)
{
	RUN(test_fixture_a);
	RUN(test_fixture_b);
	RUN(test_threads);
	RUN(test_shared_gpt2_tiny);
	RUN(test_window_plan);
	RUN(test_windows);
	RUN(test_windows_fit);
	RUN(test_window_hooks);
	RUN(test_logits_hook);
	RUN(test_patch);
	RUN(test_hook_status);
	RUN(test_attn_stats);
	RUN(test_bad_streams);
	RUN(test_bad_tokens);
	RUN(test_blas_choice);
	return unit_done();
}
