/*
 * qf-cat - view, select, concatenate and convert qf tensor streams.
 *
 * Reads each input (streams, or .npy/.npz files with --from) in turn,
 * keeps the records that match the selection, and writes them as a
 * stream, a listing, TSV, .npy or .npz.  Memory: one piece of a payload
 * (1 MiB read, its conversion, one stream chunk) whatever the formats;
 * only a Fortran-order .npy array is held whole.  See docs/man/qf-cat.1.
 */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qf.h"

static const char usage[] =
	"Usage: qf-cat [OPTION]... [FILE]...\n"
	"View, select, concatenate and convert qf tensor streams.\n"
	"With no FILE, or when FILE is -, read standard input.\n"
	"\n"
	"Modes (default: write the selected records as one stream):\n"
	"  -l, --list             list records: name, dtype, shape, bytes, attributes\n"
	"  -s, --stats            list with mean, std, min, max (and NaN count)\n"
	"      --to FORMAT        write qft (default), npy (exactly one record),\n"
	"                         npz, or tsv\n"
	"      --from FORMAT      inputs are qft (default), npy or npz\n"
	"Selection (a record is kept when all given criteria hold):\n"
	"  -n, --name PATTERN     name matches a glob PATTERN (repeatable: any)\n"
	"  -x, --exclude PATTERN  name matches no such PATTERN (repeatable)\n"
	"  -a, --attr KEY=PATTERN attribute KEY matches PATTERN; KEY alone: present\n"
	"                         (repeatable: all)\n"
	"Changes:\n"
	"  -t, --dtype TYPE       convert payloads to TYPE (f32 f64 f16 bf16 i8 u8\n"
	"                         i16 u16 i32 u32 i64 u64 bool; to an integer type\n"
	"                         values must be exact; a config record keeps its\n"
	"                         own)\n"
	"      --set KEY=VALUE    set an attribute on every record (repeatable)\n"
	"      --rename NAME      rename the record (input must hold exactly one)\n"
	"Output:\n"
	"  -o, --output FILE      write FILE atomically instead of standard output\n"
	"      --level N          zstd level for stream output (default 1)\n"
	"      --shuffle          byte-shuffle every multi-byte dtype (default: floats)\n"
	"      --no-shuffle       no byte shuffle\n"
	"  -j, --jobs N           threads compressing the output (default QF_THREADS,\n"
	"                         else one per CPU; at most 4 used); the bytes are\n"
	"                         the same for any N\n"
	"  -h, --help             show this help and exit\n"
	"      --version          show the version and exit\n"
	"\n"
	"Examples:\n"
	"  qf-cat -l weights.qft\n"
	"  cat a.qft b.qft | qf-cat -n 'h.*.attn.*' -o attn.qft\n"
	"  qf-cat -a lang=fin -a layer=9 --to npz -o fin9.npz states.qft\n"
	"  qf-cat --from npy --rename x -o x.qft x.npy\n";

enum fmt { F_QFT, F_NPY, F_NPZ, F_TSV };
enum mode { M_WRITE, M_LIST };

struct opts {
	char **inputs;		/* "-" when none are given */
	int ninputs;
	enum mode mode;
	int stats;
	enum fmt to, from;
	char **names, **excludes, **attrs, **sets;
	int nnames, nexcludes, nattrs, nsets;
	int dtype;
	const char *rename;
	const char *output;
	const char *jobs;	/* -j, or NULL */
	qf_wopts w;
};

/* One input: a stream, an .npy file or an .npz archive, read as it goes. */
struct src {
	const char *path;
	enum fmt fmt;
	qf_reader *r;
	qf_npz_reader *z;
	qf_npy_reader *y;
	FILE *f;
	int npy_done;
};

/* The output side. */
struct sink {
	struct opts *o;
	qf_writer *w;
	qf_out *out;
	FILE *f;
	qf_npz_writer *z;
	uint64_t written;
	int npy_written;	/* --to npy: the one record is out */
};

static enum fmt parse_fmt(const char *s, int allow_tsv)
{
	if (strcmp(s, "qft") == 0)
		return F_QFT;
	if (strcmp(s, "npy") == 0)
		return F_NPY;
	if (strcmp(s, "npz") == 0)
		return F_NPZ;
	if (allow_tsv && strcmp(s, "tsv") == 0)
		return F_TSV;
	qf_tool_usage_error("unknown format '%s'", s);
}

static void push(char ***list, int *n, const char *s)
{
	*list = realloc(*list, (size_t)(*n + 1) * sizeof **list);
	if (!*list)
		qf_tool_die(1, "out of memory");
	(*list)[(*n)++] = (char *)s;
}

enum { O_TO = 256, O_FROM, O_SET, O_RENAME, O_LEVEL, O_SHUFFLE, O_NO_SHUFFLE };

static void option(struct opts *o, int c, const char *arg, char **argv)
{
	switch (c) {
	case 'l': o->mode = M_LIST; break;
	case 's': o->mode = M_LIST; o->stats = 1; break;
	case O_TO: o->to = parse_fmt(arg, 1); break;
	case O_FROM: o->from = parse_fmt(arg, 0); break;
	case 'n': push(&o->names, &o->nnames, arg); break;
	case 'x': push(&o->excludes, &o->nexcludes, arg); break;
	case 'a': push(&o->attrs, &o->nattrs, arg); break;
	case O_SET:
		if (!strchr(arg, '=') || *arg == '=')
			qf_tool_usage_error("--set wants KEY=VALUE, not '%s'", arg);
		push(&o->sets, &o->nsets, arg);
		break;
	case 't':
		o->dtype = qf_dtype_parse(arg);
		if (!o->dtype)
			qf_tool_usage_error("unknown dtype '%s'", arg);
		break;
	case O_RENAME:
		if (!*arg)
			qf_tool_usage_error("--rename: the name is empty");
		o->rename = arg;
		break;
	case 'o': o->output = arg; break;
	case 'j': o->jobs = arg; break;
	case O_LEVEL: o->w.level = qf_tool_parse_level(arg); break;
	case O_SHUFFLE: o->w.shuffle = QF_SHUFFLE_ON; break;
	case O_NO_SHUFFLE: o->w.shuffle = QF_SHUFFLE_OFF; break;
	default: qf_tool_common_option(c, usage, argv);
	}
}

/* The inputs: standard input when none are given, and at most once when
 * it is read whole (.npy, .npz). */
static void set_inputs(struct opts *o, int argc, char **argv)
{
	static char *stdin_only[] = { "-" };
	int nstdin = 0;

	o->inputs = argv + optind;
	o->ninputs = argc - optind;
	if (o->ninputs == 0) {
		o->inputs = stdin_only;
		o->ninputs = 1;
	}
	if (o->from != F_NPZ && o->from != F_NPY)
		return;
	for (int i = 0; i < o->ninputs; i++)
		nstdin += strcmp(o->inputs[i], "-") == 0;
	if (nstdin > 1)
		qf_tool_usage_error("standard input given twice");
}

static void parse_args(int argc, char **argv, void *arg)
{
	struct opts *o = arg;
	static const struct option longs[] = {
		{ "list", no_argument, NULL, 'l' },
		{ "stats", no_argument, NULL, 's' },
		{ "to", required_argument, NULL, O_TO },
		{ "from", required_argument, NULL, O_FROM },
		{ "name", required_argument, NULL, 'n' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "attr", required_argument, NULL, 'a' },
		{ "dtype", required_argument, NULL, 't' },
		{ "set", required_argument, NULL, O_SET },
		{ "rename", required_argument, NULL, O_RENAME },
		{ "output", required_argument, NULL, 'o' },
		{ "level", required_argument, NULL, O_LEVEL },
		{ "shuffle", no_argument, NULL, O_SHUFFLE },
		{ "no-shuffle", no_argument, NULL, O_NO_SHUFFLE },
		{ "jobs", required_argument, NULL, 'j' },
		QF_OPT_END
	};
	qf_err e;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":lsn:x:a:t:o:j:h", longs, NULL)) != -1)
		option(o, c, optarg, argv);
	if ((o->w.threads = qf_tool_threads(o->jobs, &e)) < 0)
		qf_tool_usage_error("%s", e.msg);
	if (o->mode == M_LIST && o->to != F_QFT)
		qf_tool_usage_error("--list and --stats write text; drop --to");
	set_inputs(o, argc, argv);
}

static void opts_free(void *arg)
{
	struct opts *o = arg;

	free(o->names);
	free(o->excludes);
	free(o->attrs);
	free(o->sets);
}

/* ------------------------------------------------------------ inputs */

static int src_open(struct src *s, const char *path, enum fmt fmt, qf_err *e)
{
	memset(s, 0, sizeof *s);
	s->path = path;
	s->fmt = fmt;
	if (fmt == F_QFT) {
		s->r = qf_reader_open(path, e);
		return s->r ? 0 : -1;
	}
	if (fmt == F_NPZ) {
		s->z = qf_npz_open(path, e);
		return s->z ? 0 : -1;
	}
	if (strcmp(path, "-") == 0) {
		s->f = stdin;
		return 0;
	}
	s->f = fopen(path, "rb");
	if (!s->f)
		return qf_err_set(e, "%s: %s", path, strerror(errno));
	return 0;
}

static void src_close(struct src *s)
{
	qf_reader_close(s->r);
	qf_npz_close(s->z);
	qf_npy_close(s->y);
	if (s->f && s->f != stdin)
		fclose(s->f);
}

/* The record name of an .npy file: its base name without ".npy". */
static int npy_name(qf_rec *rec, const char *path, qf_err *e)
{
	char *copy = strdup(strcmp(path, "-") == 0 ? "array" : path), *b, *dot;
	int rc;

	if (!copy)
		return qf_err_set(e, "out of memory");
	b = basename(copy);
	dot = strrchr(b, '.');
	if (dot && dot != b && strcmp(dot, ".npy") == 0)
		*dot = 0;
	rc = qf_rec_set_name(rec, b, e);
	free(copy);
	return rc;
}

static int src_next(struct src *s, qf_rec *rec, qf_err *e)
{
	const char *name = strcmp(s->path, "-") == 0 ? "<stdin>" : s->path;
	qf_err e2;

	if (s->fmt == F_QFT)
		return qf_reader_next(s->r, rec, e);
	if (s->fmt == F_NPZ)
		return qf_npz_next_header(s->z, rec, e);
	if (s->npy_done)
		return 0;
	s->npy_done = 1;
	qf_rec_free(rec);
	s->y = qf_npy_open(s->f, name, rec, e);
	if (!s->y)
		return -1;
	if (npy_name(rec, s->path, &e2) < 0)
		return qf_err_set(e, "%s: %s", name, e2.msg);
	return 1;
}

static int64_t src_read(struct src *s, void *buf, size_t n, qf_err *e)
{
	if (s->fmt == F_QFT)
		return qf_reader_read(s->r, buf, n, e);
	if (s->fmt == F_NPZ)
		return qf_npz_read(s->z, buf, n, e);
	return qf_npy_read_data(s->y, buf, n, e);
}

/* ------------------------------------------------------------ selection */

static int selected(const struct opts *o, const qf_rec *rec)
{
	int any = o->nnames == 0;

	for (int i = 0; i < o->nnames && !any; i++)
		any = fnmatch(o->names[i], rec->name, 0) == 0;
	if (!any)
		return 0;
	for (int i = 0; i < o->nexcludes; i++)
		if (fnmatch(o->excludes[i], rec->name, 0) == 0)
			return 0;
	for (int i = 0; i < o->nattrs; i++) {
		const char *eq = strchr(o->attrs[i], '=');
		size_t kl = eq ? (size_t)(eq - o->attrs[i]) : strlen(o->attrs[i]);
		char key[QF_MAX_KEY + 1];
		const char *v;

		if (kl > QF_MAX_KEY)
			return 0;
		memcpy(key, o->attrs[i], kl);
		key[kl] = 0;
		v = qf_rec_get(rec, key);
		if (!v || (eq && fnmatch(eq + 1, v, 0) != 0))
			return 0;
	}
	return 1;
}

/* ------------------------------------------------------------ output */

/* A piece of a payload: one stream chunk of the input dtype, which the
 * stream writer compresses straight from the buffer, and its conversion
 * (up to 8 bytes an element, from 1-byte elements). */
#define PIECE QF_DEFAULT_CHUNK
static unsigned char inbuf[PIECE], outbuf[PIECE * 8];
static qf_progress progress;	/* MiB of payload read, on a terminal */
static uint64_t bytes_read;

/* Apply --set and --rename and the output dtype to a record header. */
static int transform(const struct opts *o, qf_rec *rec, int *dt, qf_err *e)
{
	const char *kind;

	for (int i = 0; i < o->nsets; i++) {
		char key[QF_MAX_KEY + 1];
		const char *eq = strchr(o->sets[i], '=');
		size_t kl = (size_t)(eq - o->sets[i]);
		if (kl > QF_MAX_KEY)
			return qf_err_set(e, "--set: key too long");
		memcpy(key, o->sets[i], kl);
		key[kl] = 0;
		if (qf_rec_set(rec, key, eq + 1, e) < 0)
			return -1;
	}
	if (o->rename && qf_rec_set_name(rec, o->rename, e) < 0)
		return -1;
	/* a config record (kind=config, no values) keeps its dtype */
	kind = qf_rec_get(rec, "kind");
	*dt = o->dtype && !(kind && strcmp(kind, "config") == 0) ? o->dtype
								  : rec->dtype;
	/* numpy has no bfloat16: .npy/.npz output widens it to f32. */
	if (!o->dtype && *dt == QF_BF16 && (o->to == F_NPY || o->to == F_NPZ))
		*dt = QF_F32;
	return 0;
}

/* Stream the payload of the current record through fn, chunk by chunk,
 * converted to dtype dt. */
typedef int (*chunk_fn)(struct sink *k, int dt, const void *buf, size_t n,
			qf_err *e);

static int pump(struct src *s, struct sink *k, const qf_rec *in, int dt,
		chunk_fn fn, qf_err *e)
{
	size_t ies = qf_dtype_size(in->dtype);
	uint64_t left = qf_rec_numel(in);
	qf_err e2;

	while (left > 0) {
		size_t n = left < PIECE / ies ? (size_t)left : PIECE / ies;
		int64_t got = src_read(s, inbuf, n * ies, e);
		if (got < 0)
			return -1;
		if ((size_t)got != n * ies)
			return qf_err_set(e, "%s: record %s: payload ends early",
					  s->path, in->name);
		bytes_read += (uint64_t)got;
		qf_progress_update(&progress, bytes_read >> 20, 0);
		const void *p = inbuf;
		if (dt != in->dtype) {
			if (qf_convert(dt, outbuf, in->dtype, inbuf, n, &e2) < 0)
				return qf_err_set(e, "%s: record %s: %s", s->path,
						  in->name, e2.msg);
			p = outbuf;
		}
		if (fn(k, dt, p, n, e) < 0)
			return -1;
		left -= n;
	}
	return 0;
}

static int to_writer(struct sink *k, int dt, const void *buf, size_t n,
		     qf_err *e)
{
	return qf_writer_write(k->w, buf, n * qf_dtype_size(dt), e);
}

static int to_npz(struct sink *k, int dt, const void *buf, size_t n,
		  qf_err *e)
{
	return qf_npz_write(k->z, buf, n * qf_dtype_size(dt), e);
}

/* Errors of the FILE are found by qf_out_commit, which names the file. */
static int to_file(struct sink *k, int dt, const void *buf, size_t n,
		   qf_err *e)
{
	(void)e;
	fwrite(buf, qf_dtype_size(dt), n, k->f);
	return 0;
}

struct tsv_state {
	uint64_t col, ncol;
};
static struct tsv_state tsv;

static int to_tsv(struct sink *k, int dt, const void *buf, size_t n,
		  qf_err *e)
{
	size_t es = qf_dtype_size(dt);
	char t[64];

	(void)e;
	for (size_t i = 0; i < n; i++) {
		qf_format_elem(t, sizeof t, dt, (const char *)buf + i * es);
		fputs(t, k->f);
		if (++tsv.col == tsv.ncol) {
			putc('\n', k->f);
			tsv.col = 0;
		} else {
			putc('\t', k->f);
		}
	}
	return 0;
}

static qf_stats stats;

static int to_stats(struct sink *k, int dt, const void *buf, size_t n,
		    qf_err *e)
{
	(void)k;
	return qf_stats_add(&stats, dt, buf, n, e);
}

static int emit_list(struct src *s, struct sink *k, qf_rec *rec, int dt,
		     qf_err *e)
{
	/* the figures first: a payload that fails leaves no partial line */
	qf_stats_init(&stats);
	if (k->o->stats && pump(s, k, rec, rec->dtype, to_stats, e) < 0)
		return -1;
	qf_tool_put_rec_line(k->f, rec, dt);
	if (k->o->stats) {
		fprintf(k->f, "\t%.17g\t%.17g\t%.17g\t%.17g\t%" PRIu64,
			stats.n ? stats.mean : NAN, qf_stats_std(&stats),
			stats.n ? stats.min : NAN, stats.n ? stats.max : NAN,
			stats.nan);
	}
	putc('\n', k->f);
	return 0;
}

static int emit_tsv(struct src *s, struct sink *k, qf_rec *rec, int dt,
		    qf_err *e)
{
	fputs("# ", k->f);
	qf_tool_put_rec_line(k->f, rec, dt);
	putc('\n', k->f);
	tsv.col = 0;
	tsv.ncol = rec->ndim >= 2 ? rec->dims[rec->ndim - 1] : 1;
	return pump(s, k, rec, dt, to_tsv, e);
}

static int emit_qft(struct src *s, struct sink *k, qf_rec *rec, int dt,
		    qf_err *e)
{
	qf_rec out;
	qf_err e2;
	int rc;

	qf_rec_init(&out);
	rc = qf_rec_copy(&out, rec, e);
	if (rc == 0)
		rc = qf_rec_set_shape(&out, dt, rec->ndim, rec->dims, e);
	/* a copy keeps its provenance; what qf-cat made (from .npy, .npz,
	 * or by a change of dtype) gets qf-cat's */
	if (rc == 0 && (s->fmt != F_QFT || dt != rec->dtype) &&
	    qf_rec_stamp(&out, &e2) < 0)
		rc = qf_err_set(e, "%s: %s", s->path, e2.msg);
	if (rc == 0)
		rc = qf_writer_begin(k->w, &out, e);
	if (rc == 0)
		rc = pump(s, k, rec, dt, to_writer, e);
	if (rc == 0)
		rc = qf_writer_end(k->w, e);
	qf_rec_free(&out);
	return rc;
}

/* The header of the record as written: rec's in dtype dt. */
static int out_header(const qf_rec *rec, int dt, qf_rec *out, qf_err *e)
{
	qf_rec_init(out);
	if (qf_rec_copy(out, rec, e) < 0 ||
	    qf_rec_set_shape(out, dt, rec->ndim, rec->dims, e) < 0)
		return -1;
	return 0;
}

static int emit_npz(struct src *s, struct sink *k, qf_rec *rec, int dt,
		    qf_err *e)
{
	qf_rec out;
	int rc = out_header(rec, dt, &out, e);

	if (rc == 0)
		rc = qf_npz_begin(k->z, out.name, &out, e);
	if (rc == 0)
		rc = pump(s, k, rec, dt, to_npz, e);
	if (rc == 0)
		rc = qf_npz_end(k->z, e);
	qf_rec_free(&out);
	return rc;
}

/* The header, then the payload as it is read: a second record is an
 * error that removes the output. */
static int emit_npy(struct src *s, struct sink *k, qf_rec *rec, int dt,
		    qf_err *e)
{
	qf_rec out;
	int rc;

	if (k->npy_written)
		return qf_err_set(e, "%s: record %s: --to npy takes exactly one "
				  "record; select one with -n or -a", s->path,
				  rec->name);
	k->npy_written = 1;
	rc = out_header(rec, dt, &out, e);
	if (rc == 0)
		rc = qf_npy_write_header(k->f, qf_out_name(k->out), &out, e);
	if (rc == 0)
		rc = pump(s, k, rec, dt, to_file, e);
	qf_rec_free(&out);
	return rc;
}

static int emit(struct src *s, struct sink *k, qf_rec *rec, qf_err *e)
{
	int dt = 0;

	if (transform(k->o, rec, &dt, e) < 0)
		return -1;
	k->written++;
	if (k->o->rename && k->written > 1)
		return qf_err_set(e, "--rename: the input holds more than one "
				  "selected record");
	if (k->o->mode == M_LIST)
		return emit_list(s, k, rec, dt, e);
	switch (k->o->to) {
	case F_TSV: return emit_tsv(s, k, rec, dt, e);
	case F_NPZ: return emit_npz(s, k, rec, dt, e);
	case F_NPY: return emit_npy(s, k, rec, dt, e);
	default: return emit_qft(s, k, rec, dt, e);
	}
}

static int sink_open(struct sink *k, struct opts *o, qf_err *e)
{
	memset(k, 0, sizeof *k);
	k->o = o;
	k->out = qf_out_open(o->output, e);
	if (!k->out)
		return -1;
	k->f = qf_out_file(k->out);
	if (o->mode == M_WRITE && o->to == F_QFT) {
		o->w.provenance = QF_PROV_KEEP;
		k->w = qf_writer_fopen(k->f, qf_out_name(k->out), &o->w, e);
		return k->w ? 0 : -1;
	}
	if (o->mode == M_WRITE && o->to == F_NPZ) {
		k->z = qf_npz_create(k->f, qf_out_name(k->out), e);
		return k->z ? 0 : -1;
	}
	return 0;
}

static int sink_close(struct sink *k, qf_err *e)
{
	int rc = 0;

	if (k->w) {
		rc = qf_writer_close(k->w, e);
		k->w = NULL;
	}
	if (rc == 0 && k->z) {
		rc = qf_npz_finish(k->z, e);
		k->z = NULL;
	}
	if (rc == 0 && k->o->mode == M_WRITE && k->o->to == F_NPY &&
	    !k->npy_written)
		rc = qf_err_set(e, "%s: --to npy: no record selected",
				qf_out_name(k->out));
	if (rc == 0)
		rc = qf_out_commit(k->out, e);
	else
		qf_out_abort(k->out);
	k->out = NULL;
	return rc;
}

/* Remove what the sink wrote: what sink_close did not commit. */
static void sink_abort(struct sink *k)
{
	if (k->w)
		qf_writer_abort(k->w);
	qf_npz_abort(k->z);
	qf_out_abort(k->out);
}

static int cat_one(const char *path, struct sink *k, qf_err *e)
{
	struct src s;
	qf_rec rec;
	int rc;

	if (src_open(&s, path, k->o->from, e) < 0)
		return -1;
	qf_rec_init(&rec);
	while ((rc = src_next(&s, &rec, e)) == 1) {
		if (!selected(k->o, &rec))
			continue;
		if (emit(&s, k, &rec, e) < 0) {
			rc = -1;
			break;
		}
	}
	qf_rec_free(&rec);
	src_close(&s);
	return rc;
}

/* A listing goes on past a bad input, saying what was wrong; an output
 * file is all or nothing, and nothing goes on into a closed pipe. */
static int goes_on(const struct sink *k, const qf_err *e)
{
	if (k->o->mode != M_LIST || e->code == EPIPE ||
	    qf_out_pipe_broken(STDOUT_FILENO))
		return 0;
	fflush(k->f);
	qf_tool_warn("%s", e->msg);
	return 1;
}

static int run(void *arg, qf_err *e)
{
	struct opts *o = arg;
	struct sink k;
	int status = -1, failed = 0;

	if (sink_open(&k, o, e) < 0)
		goto out;
	qf_progress_start(&progress, "qf-cat: MiB read");
	for (int i = 0; i < o->ninputs; i++)
		if (cat_one(o->inputs[i], &k, e) < 0) {
			if (!goes_on(&k, e))
				goto out;
			failed = 1;
		}
	qf_progress_end(&progress);
	if (sink_close(&k, e) == 0)
		status = failed ? QF_EXIT_DATA : QF_EXIT_OK;
out:
	sink_abort(&k);
	return status;
}

int main(int argc, char **argv)
{
	/* OpenBLAS's core: the kernels its provenance names */
	static const qf_tool_def tool = {
		"qf-cat", 0, parse_args, run, opts_free
	};
	struct opts o = { 0 };

	return qf_tool_main(&tool, &o, argc, argv);
}
