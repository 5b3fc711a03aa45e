/*
 * bench_stream.c - the stream format against the zstd command.
 *
 * Generates f32 data resembling model weights (deterministic, seeded),
 * writes it raw to a scratch file, then times, best of N runs each and
 * interleaved so that drift hits every contender alike:
 *
 *   qf write     raw file -> qf_writer (one record [rows, cols]) -> .qft
 *   qf read      .qft -> qf_reader_read into a buffer, discarded
 *   zstd -c      raw file -> .zst at the same level (the zstd command)
 *   zstd -d      .zst -> /dev/null
 *
 * and prints one Markdown table row per (level, chunk, shuffle): speeds,
 * the time ratio (qf write + read) / (zstd -c + -d) in wall-clock time
 * (CLOCK_MONOTONIC) and in CPU time (getrusage, wait4: less disturbed when
 * other processes share the machine), and the size ratio qf / zstd.  Every
 * stream written is read back once more, untimed, and compared byte for
 * byte with the data.  Not a test: see docs/benchmarks.md.
 *
 * The reference is the zstd command single-threaded (--single-thread for
 * compression, --no-asyncio for decompression), as the qf writer and
 * reader are; -Z uses the command's defaults (a worker thread, async I/O).
 *
 * bench_stream --write-gpt2 PATH writes a GPT-2-small-shaped f32 weight
 * stream (gpt2_small.h) and exits: the model of tests/bench/cli.sh.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "qf.h"

#define MIB (1024.0 * 1024.0)
#define MAX_LIST 16
#define COLS 4096

static const char *prog = "bench_stream";

#include "bench.h"
#include "gpt2_small.h"

/* ------------------------------------------------------------ options */

struct list {
	size_t n;
	long long v[MAX_LIST];
};

struct opts {
	uint64_t size;		/* bytes of f32 data */
	struct list level, shuffle, chunk;
	const char *kind;
	uint64_t seed;
	int runs;
	const char *dir;
	int zstd_defaults;	/* -Z */
	int header;		/* print the table header */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [options]\n"
		"  -n, --size BYTES     data size, suffix K, M or G (default 256M)\n"
		"  -l, --level LIST     zstd levels, e.g. 1,3,6,9 (default %d)\n"
		"  -s, --shuffle LIST   0, 1 or 0,1 (default 0,1)\n"
		"  -c, --chunk LIST     chunk sizes, suffix K or M (default 1M)\n"
		"  -k, --kind KIND      gauss, bf16 or laplace (default gauss)\n"
		"      --seed N         generator seed (default 1)\n"
		"  -r, --runs N         runs of each, the best counts (default 3)\n"
		"  -d, --dir DIR        scratch directory (default $TMPDIR or /tmp)\n"
		"  -Z, --zstd-defaults  zstd command with its default threading\n"
		"      --no-header      print table rows only\n",
		prog, QF_DEFAULT_LEVEL);
}

/* A signed integer with an optional K, M or G (binary) suffix. */
static long long parse_num(const char *s, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		die("invalid %s '%s'", what, s);
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	}
	if (*end)
		die("invalid %s '%s'", what, s);
	return v;
}

static void parse_list(struct list *l, const char *s, const char *what)
{
	char *copy = strdup(s), *save = NULL, *tok;

	if (!copy)
		die("out of memory");
	l->n = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (l->n == MAX_LIST)
			die("too many values for %s", what);
		l->v[l->n++] = parse_num(tok, what);
	}
	if (l->n == 0)
		die("empty %s list", what);
	free(copy);
}

static void check_opts(const struct opts *o)
{
	if (o->size == 0 || o->size % 4)
		die("size must be a positive multiple of 4 bytes");
	for (size_t i = 0; i < o->shuffle.n; i++)
		if (o->shuffle.v[i] != 0 && o->shuffle.v[i] != 1)
			die("shuffle must be 0 or 1");
	for (size_t i = 0; i < o->chunk.n; i++)
		if (o->chunk.v[i] < 4 || o->chunk.v[i] > QF_MAX_CHUNK)
			die("chunk size %lld out of range", o->chunk.v[i]);
	for (size_t i = 0; i < o->level.n; i++)
		if (o->level.v[i] < -7 || o->level.v[i] > 19 || o->level.v[i] == 0)
			die("level %lld out of range (-7..-1, 1..19)", o->level.v[i]);
	if (o->runs < 1)
		die("runs must be at least 1");
	if (strcmp(o->kind, "gauss") && strcmp(o->kind, "bf16") &&
	    strcmp(o->kind, "laplace"))
		die("unknown data kind '%s' (gauss, bf16, laplace)", o->kind);
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 'n' },
		{ "level", required_argument, NULL, 'l' },
		{ "shuffle", required_argument, NULL, 's' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "kind", required_argument, NULL, 'k' },
		{ "seed", required_argument, NULL, 'S' },
		{ "runs", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' },
		{ "zstd-defaults", no_argument, NULL, 'Z' },
		{ "no-header", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tmp = getenv("TMPDIR");
	int c;

	o->size = 256u << 20;
	parse_list(&o->level, "3", "level");
	parse_list(&o->shuffle, "0,1", "shuffle");
	o->chunk.n = 1;
	o->chunk.v[0] = QF_DEFAULT_CHUNK;
	o->kind = "gauss";
	o->seed = 1;
	o->runs = 3;
	o->dir = tmp && *tmp ? tmp : "/tmp";
	o->zstd_defaults = 0;
	o->header = 1;
	while ((c = getopt_long(argc, argv, "n:l:s:c:k:r:d:Zh", lo, NULL)) != -1) {
		switch (c) {
		case 'n': o->size = (uint64_t)parse_num(optarg, "size"); break;
		case 'l': parse_list(&o->level, optarg, "level"); break;
		case 's': parse_list(&o->shuffle, optarg, "shuffle"); break;
		case 'c': parse_list(&o->chunk, optarg, "chunk size"); break;
		case 'k': o->kind = optarg; break;
		case 'S': o->seed = (uint64_t)parse_num(optarg, "seed"); break;
		case 'r': o->runs = (int)parse_num(optarg, "run count"); break;
		case 'd': o->dir = optarg; break;
		case 'Z': o->zstd_defaults = 1; break;
		case 'N': o->header = 0; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	check_opts(o);
}

/* ------------------------------------------------------------ data */

/* xoshiro256**, seeded through splitmix64. */
struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Uniform in (0, 1): 53 random bits, never 0. */
static double rng_unit(struct rng *r)
{
	return ((double)(rng_next(r) >> 11) + 0.5) * 0x1p-53;
}

#define STD 0.02

/* N(0, STD^2) by Box-Muller, two values per draw. */
static void gen_gauss(float *x, size_t n, struct rng *r)
{
	for (size_t i = 0; i < n; i += 2) {
		double rad = STD * sqrt(-2.0 * log(rng_unit(r)));
		double ang = 2.0 * M_PI * rng_unit(r);
		x[i] = (float)(rad * cos(ang));
		if (i + 1 < n)
			x[i + 1] = (float)(rad * sin(ang));
	}
}

/* The same Gaussian rounded to bf16 and widened back: the low 16 bits of
 * every float are zero, as in a checkpoint stored in bf16. */
static void gen_bf16(float *x, size_t n, struct rng *r)
{
	gen_gauss(x, n, r);
	for (size_t i = 0; i < n; i++)
		x[i] = qf_bf16_to_f32(qf_f32_to_bf16(x[i]));
}

/* Laplace with the same standard deviation: heavier tails. */
static void gen_laplace(float *x, size_t n, struct rng *r)
{
	const double b = STD / sqrt(2.0);

	for (size_t i = 0; i < n; i++) {
		double u = rng_unit(r) - 0.5;
		double v = -b * log(1.0 - 2.0 * fabs(u));
		x[i] = (float)(u < 0 ? -v : v);
	}
}

static void gen_data(const char *kind, uint64_t seed, float *x, size_t n)
{
	struct rng r;

	rng_seed(&r, seed);
	if (strcmp(kind, "bf16") == 0)
		gen_bf16(x, n, &r);
	else if (strcmp(kind, "laplace") == 0)
		gen_laplace(x, n, &r);
	else
		gen_gauss(x, n, &r);
}

/* A 64-bit checksum of the data, printed so that runs on other machines
 * can confirm they measured the same bytes. */
static uint64_t checksum(const float *x, size_t n)
{
	uint64_t h = 0xCBF29CE484222325ull;
	uint32_t u;

	for (size_t i = 0; i < n; i++) {
		memcpy(&u, &x[i], 4);
		h = (h ^ u) * 0x100000001B3ull;
	}
	return h;
}

/* ------------------------------------------------------------ files */

static char raw_path[4096], qft_path[4096], zst_path[4096];

/* Remove the scratch files (async-signal-safe), the qf writer's
 * temporary file included. */
static void cleanup(void)
{
	if (*raw_path)
		unlink(raw_path);
	if (*qft_path)
		unlink(qft_path);
	if (*zst_path)
		unlink(zst_path);
	qf_out_cleanup_all();
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void set_paths(const char *dir)
{
	int pid = (int)getpid();

	snprintf(raw_path, sizeof raw_path, "%s/qf-bench.%d.raw", dir, pid);
	snprintf(qft_path, sizeof qft_path, "%s/qf-bench.%d.qft", dir, pid);
	snprintf(zst_path, sizeof zst_path, "%s/qf-bench.%d.zst", dir, pid);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
}

static void write_raw(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		die("%s: %s", path, strerror(errno));
	if (fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die("%s: write error: %s", path, strerror(errno));
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		die("%s: %s", path, strerror(errno));
	return (uint64_t)st.st_size;
}

/* Wall-clock and CPU (user + system) seconds of one timed step. */
struct span {
	double wall, cpu;
};

static double tv_sec(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static double ru_cpu(const struct rusage *ru)
{
	return tv_sec(ru->ru_utime) + tv_sec(ru->ru_stime);
}

static double cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru_cpu(&ru);
}

static struct span span_start(void)
{
	struct span t = { now(), cpu_self() };

	return t;
}

static struct span span_since(struct span t0)
{
	struct span t = { now() - t0.wall, cpu_self() - t0.cpu };

	return t;
}

/* ------------------------------------------------------------ qf */

struct buf {
	unsigned char *p;
	size_t n;
};

static void set_record(qf_rec *rec, uint64_t size)
{
	uint64_t n = size / 4, dims[2] = { 1, n };
	qf_err e;

	if (n % COLS == 0) {
		dims[0] = n / COLS;
		dims[1] = COLS;
	}
	qf_rec_init(rec);
	if (qf_rec_set_name(rec, "bench.weight", &e) < 0 ||
	    qf_rec_set_shape(rec, QF_F32, 2, dims, &e) < 0)
		die("%s", e.msg);
}

/* Raw file -> stream file, reading the raw file in pieces of io->n. */
static struct span qf_write(const qf_rec *rec, const qf_wopts *wo,
			    const struct buf *io)
{
	struct span t0 = span_start();
	FILE *in = fopen(raw_path, "rb");
	qf_writer *w;
	size_t got;
	qf_err e;

	if (!in)
		die("%s: %s", raw_path, strerror(errno));
	if (!(w = qf_writer_open(qft_path, wo, &e)) ||
	    qf_writer_begin(w, rec, &e) < 0)
		die("%s", e.msg);
	while ((got = fread(io->p, 1, io->n, in)) > 0)
		if (qf_writer_write(w, io->p, got, &e) < 0)
			die("%s", e.msg);
	if (ferror(in))
		die("%s: read error", raw_path);
	fclose(in);
	if (qf_writer_end(w, &e) < 0 || qf_writer_close(w, &e) < 0)
		die("%s", e.msg);
	return span_since(t0);
}

static int same_header(const qf_rec *a, const qf_rec *b)
{
	if (strcmp(a->name, b->name) || a->dtype != b->dtype ||
	    a->ndim != b->ndim)
		return 0;
	for (int i = 0; i < a->ndim; i++)
		if (a->dims[i] != b->dims[i])
			return 0;
	return 1;
}

/* Stream file -> io buffer, discarded; with want, compare what comes
 * back with it byte for byte. */
static struct span qf_read(const qf_rec *rec, const struct buf *io,
			   const unsigned char *want)
{
	struct span t0 = span_start();
	qf_reader *r;
	qf_rec got;
	uint64_t total = 0;
	int64_t k;
	qf_err e;
	int rc;

	if (!(r = qf_reader_open(qft_path, &e)))
		die("%s", e.msg);
	qf_rec_init(&got);
	if ((rc = qf_reader_next(r, &got, &e)) != 1)
		die("%s", rc < 0 ? e.msg : "no record in the stream");
	if (want && !same_header(&got, rec))
		die("%s: record header differs from the one written", qft_path);
	while ((k = qf_reader_read(r, io->p, io->n, &e)) > 0) {
		if (want && memcmp(io->p, want + total, (size_t)k) != 0)
			die("%s: read back differs from the data in bytes "
			    "%" PRIu64 "..%" PRIu64, qft_path, total,
			    total + (uint64_t)k);
		total += (uint64_t)k;
	}
	if (k < 0 || qf_reader_next(r, &got, &e) != 0)
		die("%s", e.msg);
	qf_reader_close(r);
	if (total != qf_rec_nbytes(rec))
		die("%s: read %" PRIu64 " bytes, wrote %" PRIu64, qft_path,
		    total, qf_rec_nbytes(rec));
	qf_rec_free(&got);
	return span_since(t0);
}

/* ------------------------------------------------------------ zstd */

/* Run argv with standard output to out; the time taken, the CPU time
 * that of the command.  Dies unless the command exits 0. */
static struct span run_cmd(char *const argv[], const char *out)
{
	double t0 = now();
	struct rusage ru;
	struct span t;
	int status, fd;
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		die("wait4: %s", strerror(errno));
	t.wall = now() - t0;
	t.cpu = ru_cpu(&ru);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("%s %s failed (status %d)", argv[0], argv[1], status);
	return t;
}

static struct span zstd_compress(int level, int defaults)
{
	char lv[32];
	char *argv[8];
	int i = 0;

	if (level < 0)
		snprintf(lv, sizeof lv, "--fast=%d", -level);
	else
		snprintf(lv, sizeof lv, "-%d", level);
	argv[i++] = "zstd";
	argv[i++] = lv;
	argv[i++] = "-q";
	argv[i++] = "-c";
	if (!defaults)
		argv[i++] = "--single-thread";
	argv[i++] = raw_path;
	argv[i] = NULL;
	return run_cmd(argv, zst_path);
}

static struct span zstd_decompress(int defaults)
{
	char *argv[8];
	int i = 0;

	argv[i++] = "zstd";
	argv[i++] = "-d";
	argv[i++] = "-q";
	argv[i++] = "-c";
	if (!defaults)
		argv[i++] = "--no-asyncio";
	argv[i++] = zst_path;
	argv[i] = NULL;
	return run_cmd(argv, "/dev/null");
}

/* Is there an executable zstd in PATH? */
static int have_zstd(void)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL, *dir, file[4096];
	int found = 0;

	if (!path || !(copy = strdup(path)))
		return 0;
	for (dir = strtok_r(copy, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(file, sizeof file, "%s/zstd", *dir ? dir : ".");
		found = access(file, X_OK) == 0;
	}
	free(copy);
	return found;
}

/* ------------------------------------------------------------ the runs */

/* Best times of one contender, wall and CPU each the least seen. */
struct best {
	struct span w, r;	/* write (compress), read (decompress) */
	uint64_t bytes;		/* compressed file size */
};

static void keep_min(struct span *best, struct span t)
{
	if (best->wall == 0 || t.wall < best->wall)
		best->wall = t.wall;
	if (best->cpu == 0 || t.cpu < best->cpu)
		best->cpu = t.cpu;
}

static void print_header(void)
{
	printf("| kind | level | shuffle | chunk MiB | qf write MiB/s "
	       "| qf read MiB/s | zstd -c MiB/s | zstd -d MiB/s "
	       "| write ratio | read ratio | time ratio | cpu ratio "
	       "| size ratio | compression |\n");
	printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
}

/* Speeds and time ratios from wall-clock time; the cpu ratio is the time
 * ratio in CPU time, which a busy machine disturbs less. */
static void print_row(const struct opts *o, int level, size_t chunk,
		      int shuffle, const struct best *q, const struct best *z)
{
	double mib = (double)o->size / MIB;

	printf("| %s | %d | %s | %.4g | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f "
	       "| %.2f | %.2f | %.3f | %.3f |\n",
	       o->kind, level, shuffle ? "on" : "off", (double)chunk / MIB,
	       mib / q->w.wall, mib / q->r.wall, mib / z->w.wall,
	       mib / z->r.wall, q->w.wall / z->w.wall, q->r.wall / z->r.wall,
	       (q->w.wall + q->r.wall) / (z->w.wall + z->r.wall),
	       (q->w.cpu + q->r.cpu) / (z->w.cpu + z->r.cpu),
	       (double)q->bytes / (double)z->bytes,
	       (double)o->size / (double)q->bytes);
	fflush(stdout);
}

/* One qf configuration, one run; with data, the stream is read back once
 * more, untimed, and compared with it. */
static void run_qf(const qf_rec *rec, const qf_wopts *wo, const struct buf *io,
		   const unsigned char *data, struct best *b)
{
	unlink(qft_path);
	keep_min(&b->w, qf_write(rec, wo, io));
	keep_min(&b->r, qf_read(rec, io, NULL));
	b->bytes = file_size(qft_path);
	if (data)
		qf_read(rec, io, data);
}

static void run_zstd(int level, int defaults, struct best *b)
{
	unlink(zst_path);
	keep_min(&b->w, zstd_compress(level, defaults));
	keep_min(&b->r, zstd_decompress(defaults));
	b->bytes = file_size(zst_path);
}

/* All qf configurations of one level against zstd at that level, the
 * runs interleaved; the first run of each configuration is verified. */
static void bench_level(const struct opts *o, const qf_rec *rec,
			const struct buf *io, const unsigned char *data,
			int level)
{
	size_t ns = o->shuffle.n, nq = o->chunk.n * ns;
	struct best z, q[MAX_LIST * MAX_LIST];

	memset(&z, 0, sizeof z);
	memset(q, 0, sizeof q);
	for (int run = 0; run < o->runs; run++) {
		run_zstd(level, o->zstd_defaults, &z);
		for (size_t i = 0; i < nq; i++) {
			qf_wopts wo = {
				.level = level,
				.shuffle = o->shuffle.v[i % ns] ? QF_SHUFFLE_ON :
					   QF_SHUFFLE_OFF,
				.chunk = (size_t)o->chunk.v[i / ns],
			};
			run_qf(rec, &wo, io, run == 0 ? data : NULL, &q[i]);
		}
	}
	for (size_t i = 0; i < nq; i++)
		print_row(o, level, (size_t)o->chunk.v[i / ns],
			  (int)o->shuffle.v[i % ns], &q[i], &z);
}

static size_t max_chunk(const struct opts *o)
{
	size_t m = QF_DEFAULT_CHUNK;

	for (size_t i = 0; i < o->chunk.n; i++)
		if ((size_t)o->chunk.v[i] > m)
			m = (size_t)o->chunk.v[i];
	return m;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct buf io;
	qf_rec rec;
	float *data;
	char shape[64];

	/* --write-gpt2 PATH: a GPT-2-small-shaped f32 weight stream (random,
	 * seeded) into PATH, for the command-line benchmark (cli.sh) */
	(void)load_model;
	if (argc == 3 && strcmp(argv[1], "--write-gpt2") == 0) {
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0)
			die("%s: %s", argv[2], strerror(errno));
		write_model(fd, 1);	/* exits */
	}
	parse_opts(&o, argc, argv);
	if (!have_zstd())
		die("the zstd command is not in PATH (Debian package zstd)");
	if (!(data = malloc(o.size)))
		die("out of memory for %" PRIu64 " bytes", o.size);
	gen_data(o.kind, o.seed, data, o.size / 4);
	set_paths(o.dir);
	write_raw(raw_path, data, o.size);
	set_record(&rec, o.size);
	io.n = max_chunk(&o);
	if (!(io.p = malloc(io.n)))
		die("out of memory");
	printf("data: %s, %" PRIu64 " MiB f32 %s, seed %" PRIu64 ", checksum "
	       "%016" PRIx64 "; zstd command %s; best of %d\n\n", o.kind,
	       o.size >> 20, qf_rec_shape_str(&rec, shape, sizeof shape), o.seed,
	       checksum(data, o.size / 4),
	       o.zstd_defaults ? "with its defaults" : "single-threaded", o.runs);
	if (o.header)
		print_header();
	for (size_t i = 0; i < o.level.n; i++)
		bench_level(&o, &rec, &io, (const unsigned char *)data,
			    (int)o.level.v[i]);
	qf_rec_free(&rec);
	free(io.p);
	free(data);
	return 0;
}
