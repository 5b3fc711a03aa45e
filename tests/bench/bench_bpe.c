/*
 * bench_bpe.c - GPT-2 BPE tokenization in qf against the JS reference.
 *
 * Tokenizes a multilingual corpus, one document per file, each document
 * in one qf_tok_encode call:
 *
 *   qf     single-threaded, each document encoded repeatedly, the best of
 *          --runs timings; MB/s per core from the thread's CPU time (the
 *          machine may be shared), wall-clock MB/s beside it
 *   JS     the npm package gpt-3-encoder (Encoder.js) under node on the
 *          same documents in the same order, each timed inside node around
 *          encode() alone (process CPU time, which counts node's helper
 *          threads, and wall time), all under a wall-clock cap
 *          (--js-time): it is
 *          quadratic in the length of a piece without spaces (Thai,
 *          Burmese, Chinese, Japanese), so it may not finish; the figures
 *          are then for the documents it did
 *
 * and checks that the ids of every document JS finished are identical to
 * qf's.  Prints a Markdown table, a row per language (a file's name
 * without directory and extension; train/ and heldout/ parts added up),
 * then the totals.  Not a test: nothing fails on speed; the exit status is
 * 1 only when ids differ or something breaks.
 *
 * The corpus: the files or directories (their *.txt) given, else
 * pipelines/data/udhr/train and heldout, else the texts of
 * tests/data/bpe/expected.json (each repeated to 64 KB or more); then,
 * last, a document of --long bytes of Chinese without punctuation: a
 * single pre-tokenized piece, the worst case of BPE (GPT-2's loop, and
 * the JS one, are quadratic in it; JS will not finish it in time).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qf.h"
#include "core/json.h"

static const char *prog = "bench_bpe";

#include "bench.h"

struct doc {
	char *name;		/* language: file name less directory, .txt */
	char *path;		/* file the JS side reads */
	char *text;
	size_t len;
	int32_t *ids;
	size_t nids;
	double cpu, wall;	/* qf, best run, seconds */
	double js, js_wall;	/* JS seconds, CPU and wall; < 0: not done */
	int js_same;
};

static struct doc *docs;
static size_t ndocs, capdocs;
static char tmpdir[64];

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [options] [FILE|DIR...]\n"
		"  -g, --gpt2 DIR       encoder.json and vocab.bpe (default\n"
		"                       pipelines/data/gpt2)\n"
		"  -j, --js DIR         the gpt-3-encoder package (Encoder.js);\n"
		"                       default $QF_GPT3_ENCODER, else\n"
		"                       build/gpt-3-encoder; 'none': no JS\n"
		"                       (get it: pipelines/lib/gpt2-fetch.sh\n"
		"                       --package build)\n"
		"  -t, --js-time SEC    wall-clock cap for JS (default 120)\n"
		"  -r, --runs N         qf timings per document, the best counts\n"
		"                       (default 5)\n"
		"  -l, --long BYTES     size of the one-piece document (default\n"
		"                       65536; 0: none)\n",
		prog);
}

static double clock_sec(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, k;

	if (!f)
		die("%s: %s", path, strerror(errno));
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 1 << 16;
			if (!(buf = realloc(buf, cap + 1)))
				die("out of memory");
		}
		k = fread(buf + n, 1, cap - n, f);
		n += k;
	} while (k > 0);
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

static void add_doc(const char *name, const char *path, char *text, size_t len)
{
	struct doc *d;

	if (ndocs == capdocs) {
		capdocs = capdocs ? 2 * capdocs : 64;
		if (!(docs = realloc(docs, capdocs * sizeof *docs)))
			die("out of memory");
	}
	d = &docs[ndocs++];
	memset(d, 0, sizeof *d);
	d->name = strdup(name);
	d->path = strdup(path);
	d->text = text;
	d->len = len;
	d->js = -1;
	if (!d->name || !d->path)
		die("out of memory");
}

static int has_ext(const char *name, const char *ext)
{
	size_t n = strlen(name), k = strlen(ext);

	return n > k && strcmp(name + n - k, ext) == 0;
}

/* A TSV corpus (formats/corpus.md: unit, kind, text) as the plain text
 * it holds: the text column, paragraphs separated by a blank line. */
static size_t tsv_text(char *t, size_t len)
{
	size_t out = 0, i = 0;
	int line = 0;

	while (i < len) {
		size_t end = i, tab = 0;
		const char *f;

		while (end < len && t[end] != '\n')
			end++;
		f = memchr(t + i, '\t', end - i);
		f = f ? memchr(f + 1, '\t', (size_t)(t + end - f - 1)) : NULL;
		if (line++ && f) {
			tab = (size_t)(f - t) + 1;
			if (out) {
				memcpy(t + out, "\n\n", 2);
				out += 2;
			}
			memmove(t + out, t + tab, end - tab);
			out += end - tab;
			if (out && t[out - 1] == '\r')
				out--;
		}
		i = end + 1;
	}
	return out;
}

static void add_file(const char *path)
{
	const char *base = strrchr(path, '/');
	char name[256];
	size_t len;
	char *text = slurp(path, &len);

	snprintf(name, sizeof name, "%s", base ? base + 1 : path);
	if (has_ext(name, ".tsv"))
		len = tsv_text(text, len);
	if (has_ext(name, ".txt") || has_ext(name, ".tsv"))
		name[strlen(name) - 4] = 0;
	add_doc(name, path, text, len);
}

static int txt_filter(const struct dirent *e)
{
	return has_ext(e->d_name, ".txt") || has_ext(e->d_name, ".tsv");
}

static void add_path(const char *path)
{
	struct stat st;
	struct dirent **ents;
	int n;

	if (stat(path, &st) < 0)
		die("%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		add_file(path);
		return;
	}
	n = scandir(path, &ents, txt_filter, alphasort);
	if (n < 0)
		die("%s: %s", path, strerror(errno));
	for (int i = 0; i < n; i++) {
		char p[4096];
		snprintf(p, sizeof p, "%s/%s", path, ents[i]->d_name);
		add_file(p);
		free(ents[i]);
	}
	free(ents);
}

static void scratch_dir(void)
{
	if (!tmpdir[0]) {
		strcpy(tmpdir, "/tmp/bench-bpe.XXXXXX");
		if (!mkdtemp(tmpdir))
			die("no scratch directory: %s", strerror(errno));
	}
}

/* The texts of expected.json, each repeated to 64 KB or more, written to
 * scratch files for node. */
static void add_expected(void)
{
	const char *path = "tests/data/bpe/expected.json";
	size_t len;
	char *text = slurp(path, &len);
	qf_err e;
	qf_json *j = qf_json_parse(text, len, path, &e);
	const qf_json *cs;

	if (!j)
		die("%s", e.msg);
	cs = qf_json_get(j, "cases");
	if (!cs)
		die("%s: no cases", path);
	scratch_dir();
	for (size_t i = 0; i < cs->n; i++) {
		const qf_json *t = qf_json_get(cs->items[i], "text");
		const qf_json *name = qf_json_get(cs->items[i], "name");
		size_t reps, n;
		char *buf, p[256];
		FILE *f;

		if (!t || t->len == 0 || memchr(t->str, 0, t->len))
			continue;
		reps = (65536 + t->len - 1) / t->len;
		n = reps * t->len;
		if (!(buf = malloc(n + 1)))
			die("out of memory");
		for (size_t r = 0; r < reps; r++)
			memcpy(buf + r * t->len, t->str, t->len);
		buf[n] = 0;
		snprintf(p, sizeof p, "%s/%zu.txt", tmpdir, i);
		f = fopen(p, "wb");
		if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0)
			die("%s: cannot write", p);
		add_doc(name->str, p, buf, n);
	}
	qf_json_free(j);
	free(text);
}

/* size bytes of Chinese letters: one piece. */
static void add_long(size_t size)
{
	/* UDHR article 1, without its punctuation */
	static const char cmn[] = "人人生而自由在尊严和权利上一律平等他们赋有理性"
		"和良心并应以兄弟关系的精神相对待";
	size_t l = sizeof cmn - 1, n = 0;
	char *buf = malloc(size + l + 1), p[256];
	FILE *f;

	if (!buf)
		die("out of memory");
	while (n < size) {
		memcpy(buf + n, cmn, l);
		n += l;
	}
	buf[n] = 0;
	scratch_dir();
	snprintf(p, sizeof p, "%s/long.txt", tmpdir);
	f = fopen(p, "wb");
	if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0)
		die("%s: cannot write", p);
	add_doc("long-cmn (one piece)", p, buf, n);
}

/* ------------------------------------------------------------ qf */

static void run_qf(const qf_tokenizer *t, int runs)
{
	int32_t *ids = NULL;
	size_t cap = 0;
	qf_err e;

	for (size_t i = 0; i < ndocs; i++) {
		struct doc *d = &docs[i];
		d->cpu = d->wall = 1e30;
		for (int r = 0; r < runs; r++) {
			/* at least 20 ms a timing: short documents repeat */
			int reps = 0;
			double c0 = clock_sec(CLOCK_THREAD_CPUTIME_ID), w0 = clock_sec(CLOCK_MONOTONIC);
			double c1, w1;
			do {
				size_t n = 0;
				if (qf_tok_encode(t, d->text, d->len, &ids, &n,
						  &cap, &e) < 0)
					die("%s: %s", d->path, e.msg);
				d->nids = n;
				reps++;
				c1 = clock_sec(CLOCK_THREAD_CPUTIME_ID);
			} while (c1 - c0 < 0.02);
			w1 = clock_sec(CLOCK_MONOTONIC);
			if ((c1 - c0) / reps < d->cpu)
				d->cpu = (c1 - c0) / reps;
			if ((w1 - w0) / reps < d->wall)
				d->wall = (w1 - w0) / reps;
		}
		d->ids = malloc(d->nids * sizeof *d->ids + 1);
		if (!d->ids)
			die("out of memory");
		memcpy(d->ids, ids, d->nids * sizeof *ids);
	}
	free(ids);
}

/* ------------------------------------------------------------ JS */

static const char js_script[] =
	"const path = require('path');\n"
	"const fs = require('fs');\n"
	"const { encode } = require(path.resolve(process.argv[1], 'Encoder.js'));\n"
	"for (let i = 2; i < process.argv.length; i++) {\n"
	"  const text = fs.readFileSync(process.argv[i], 'utf8');\n"
	"  const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();\n"
	"  const ids = encode(text);\n"
	"  const t1 = process.hrtime.bigint(), c1 = process.cpuUsage(c0);\n"
	"  const cpu = (c1.user + c1.system) / 1e6, wall = Number(t1 - t0) / 1e9;\n"
	"  fs.writeSync(1, `${i - 2}\\t${cpu}\\t${wall}\\t${ids.join(',')}\\n`);\n"
	"}\n";

/* One line "INDEX\tCPU\tWALL\tID,ID,...": compare with qf's ids. */
static void js_line(char *line)
{
	char *p = line, *end;
	unsigned long i = strtoul(p, &end, 10);
	size_t k = 0;
	struct doc *d;

	if (*end != '\t' || i >= ndocs)
		die("node: unexpected output '%.40s'", line);
	d = &docs[i];
	d->js = strtod(end + 1, &p);
	if (*p != '\t')
		die("node: unexpected output '%.40s'", line);
	d->js_wall = strtod(p + 1, &p);
	if (*p != '\t')
		die("node: unexpected output '%.40s'", line);
	p++;
	d->js_same = 1;
	while (*p) {
		long v = strtol(p, &end, 10);
		if (end == p || k >= d->nids || v != d->ids[k])
			d->js_same = 0;
		if (end == p)
			break;
		k++;
		p = *end == ',' ? end + 1 : end;
	}
	if (k != d->nids)
		d->js_same = 0;
}

/* Run node over every document until it finishes or the cap passes.
 * Returns the wall time it ran. */
static double run_js(const char *jsdir, double cap)
{
	int pipefd[2];
	pid_t pid;
	char *buf = NULL;
	size_t n = 0, bcap = 0;
	double t0 = clock_sec(CLOCK_MONOTONIC), left;
	int status;

	if (pipe(pipefd) < 0)
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		char **argv = calloc(ndocs + 5, sizeof *argv);
		if (!argv)
			_exit(127);
		argv[0] = "node";
		argv[1] = "-e";
		argv[2] = (char *)js_script;
		argv[3] = (char *)jsdir;
		for (size_t i = 0; i < ndocs; i++)
			argv[4 + i] = docs[i].path;
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execvp("node", argv);
		fprintf(stderr, "%s: node: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		struct pollfd pfd = { pipefd[0], POLLIN, 0 };
		ssize_t k;
		char *nl;

		left = cap - (clock_sec(CLOCK_MONOTONIC) - t0);
		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		if (n + 65536 > bcap) {
			bcap = bcap ? 2 * bcap : 1 << 20;
			if (!(buf = realloc(buf, bcap)))
				die("out of memory");
		}
		k = read(pipefd[0], buf + n, bcap - n - 1);
		if (k <= 0)
			break;
		n += (size_t)k;
		buf[n] = 0;
		while ((nl = memchr(buf, '\n', n))) {
			*nl = 0;
			js_line(buf);
			n -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, n);
		}
	}
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	free(buf);
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		die("node failed (status %d)", WEXITSTATUS(status));
	return clock_sec(CLOCK_MONOTONIC) - t0;
}

/* ------------------------------------------------------------ report */

struct lang {
	const char *name;
	size_t bytes, ids, js_bytes, js_docs, docs, diff;
	double cpu, wall, js, js_wall, qf_on_js;
};

static double mbs(size_t bytes, double s)
{
	return s > 0 ? bytes / s / 1e6 : 0;
}

static void report(int with_js, double js_wall, double js_cap, double load)
{
	struct lang *l = calloc(ndocs, sizeof *l), tot = { .name = "total" };
	size_t nl = 0, diff = 0;

	if (!l)
		die("out of memory");
	for (size_t i = 0; i < ndocs; i++) {
		struct doc *d = &docs[i];
		size_t k;
		for (k = 0; k < nl && strcmp(l[k].name, d->name); k++)
			;
		if (k == nl)
			l[nl++].name = d->name;
		struct lang *g[2] = { &l[k], &tot };
		for (int j = 0; j < 2; j++) {
			g[j]->docs++;
			g[j]->bytes += d->len;
			g[j]->ids += d->nids;
			g[j]->cpu += d->cpu;
			g[j]->wall += d->wall;
			if (d->js >= 0) {
				g[j]->js_docs++;
				g[j]->js_bytes += d->len;
				g[j]->js += d->js;
				g[j]->js_wall += d->js_wall;
				g[j]->qf_on_js += d->cpu;
				g[j]->diff += !d->js_same;
			}
		}
		diff += d->js >= 0 && !d->js_same;
	}
	printf("| language | bytes | ids | bytes/id | qf MB/s (cpu) | qf MB/s (wall) |%s\n",
	       with_js ? " JS MB/s (cpu) | qf/JS | ids |" : "");
	printf("|---|--:|--:|--:|--:|--:|%s\n", with_js ? "--:|--:|---|" : "");
	for (size_t k = 0; k <= nl; k++) {
		struct lang *g = k < nl ? &l[k] : &tot;
		printf("| %s%s%s | %zu | %zu | %.2f | %.1f | %.1f |",
		       k < nl ? "" : "**", g->name, k < nl ? "" : "**",
		       g->bytes, g->ids, g->ids ? (double)g->bytes / g->ids : 0,
		       mbs(g->bytes, g->cpu), mbs(g->bytes, g->wall));
		if (with_js && g->js_docs == 0)
			printf(" not reached | | |");
		else if (with_js)
			printf(" %.3f%s | %.0f | %s |", mbs(g->js_bytes, g->js),
			       g->js_docs < g->docs ? " (part)" : "",
			       g->qf_on_js > 0 ? g->js / g->qf_on_js : 0,
			       g->diff ? "DIFFER" : "same");
		printf("\n");
	}
	printf("\n");
	printf("qf: %.2f MB in %zu documents, %.1f MB/s per core (CPU time), "
	       "%.1f MB/s wall; loading GPT-2's files %.0f ms\n",
	       tot.bytes / 1e6, tot.docs, mbs(tot.bytes, tot.cpu),
	       mbs(tot.bytes, tot.wall), load * 1e3);
	if (with_js) {
		printf("JS: finished %zu of %zu documents (%.2f of %.2f MB) in "
		       "%.0f s (cap %.0f s); on those, %.3f MB/s (CPU time; "
		       "%.3f MB/s wall) against qf's %.1f MB/s: qf %.0f times "
		       "faster\n", tot.js_docs, tot.docs, tot.js_bytes / 1e6,
		       tot.bytes / 1e6, js_wall, js_cap,
		       mbs(tot.js_bytes, tot.js), mbs(tot.js_bytes, tot.js_wall),
		       mbs(tot.js_bytes, tot.qf_on_js),
		       tot.qf_on_js > 0 ? tot.js / tot.qf_on_js : 0);
		printf("ids: %s on the %zu documents JS finished\n",
		       diff ? "DIFFERENT" : "identical", tot.js_docs);
	}
	free(l);
	if (diff)
		exit(1);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "gpt2", required_argument, NULL, 'g' },
		{ "js", required_argument, NULL, 'j' },
		{ "js-time", required_argument, NULL, 't' },
		{ "runs", required_argument, NULL, 'r' },
		{ "long", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *gpt2 = "pipelines/data/gpt2", *jsdir = getenv("QF_GPT3_ENCODER");
	double cap = 120, js_wall = 0, load;
	int runs = 5, c, with_js;
	long long longsize = 65536;
	char enc[4096], voc[4096], probe[4096];
	qf_tokenizer *t;
	qf_err e;

	while ((c = getopt_long(argc, argv, "g:j:t:r:l:h", lo, NULL)) != -1) {
		switch (c) {
		case 'g': gpt2 = optarg; break;
		case 'j': jsdir = optarg; break;
		case 't': cap = atof(optarg); break;
		case 'r': runs = atoi(optarg); break;
		case 'l': longsize = atoll(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (runs < 1 || cap <= 0 || longsize < 0 || longsize > 1 << 30)
		die("runs and the JS time cap must be positive, --long at most 1 GiB");
	if (!jsdir || !*jsdir)
		jsdir = "build/gpt-3-encoder";
	snprintf(probe, sizeof probe, "%s/Encoder.js", jsdir);
	with_js = strcmp(jsdir, "none") != 0 && access(probe, R_OK) == 0;

	if (optind < argc) {
		for (int i = optind; i < argc; i++)
			add_path(argv[i]);
	} else if (access("pipelines/data/udhr/train", R_OK) == 0) {
		add_path("pipelines/data/udhr/train");
		if (access("pipelines/data/udhr/heldout", R_OK) == 0)
			add_path("pipelines/data/udhr/heldout");
	} else {
		add_expected();
	}
	if (longsize > 0)
		add_long((size_t)longsize);
	if (ndocs == 0)
		die("no documents");

	snprintf(enc, sizeof enc, "%s/encoder.json", gpt2);
	snprintf(voc, sizeof voc, "%s/vocab.bpe", gpt2);
	load = clock_sec(CLOCK_MONOTONIC);
	t = qf_tok_gpt2_open(enc, voc, &e);
	if (!t)
		die("%s", e.msg);
	load = clock_sec(CLOCK_MONOTONIC) - load;

	printf("# GPT-2 BPE: qf against gpt-3-encoder (JS), %zu documents\n\n",
	       ndocs);
	run_qf(t, runs);
	if (with_js)
		js_wall = run_js(jsdir, cap);
	else
		printf("(no JS comparison: %s missing; get it with "
		       "pipelines/lib/gpt2-fetch.sh --package build)\n\n",
		       strcmp(jsdir, "none") ? probe : "-j none");
	report(with_js, js_wall, cap, load);

	for (size_t i = 0; i < ndocs; i++) {
		if (tmpdir[0] && strncmp(docs[i].path, tmpdir, strlen(tmpdir)) == 0)
			unlink(docs[i].path);
		free(docs[i].name);
		free(docs[i].path);
		free(docs[i].text);
		free(docs[i].ids);
	}
	if (tmpdir[0])
		rmdir(tmpdir);
	free(docs);
	qf_tok_free(t);
	return 0;
}
