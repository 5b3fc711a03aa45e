/* tool.c - the tools' common front end: messages, exits, signals, options */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tool/tool.h"
#include "stream/stream.h"
#include "core/internal.h"

#define THREADS_MAX 1024
#define STATUS_EPIPE 141	/* 128 + SIGPIPE, as a shell reports it */
#define PROGRESS_EVERY 0.2	/* seconds between progress lines */

static const char *tool_name = "qf";

/* ------------------------------------------------------------ signals */

static void on_signal(int sig)
{
	qf_out_cleanup_all();
	/* SA_RESETHAND restored the default action; sig is blocked until
	 * the handler returns, then it ends the process. */
	raise(sig);
}

/* Catch sig unless it was ignored when we started (nohup, background). */
static void catch_signal(int sig)
{
	struct sigaction sa, old;

	if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
		return;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGHUP);
	sa.sa_flags = SA_RESETHAND;
	sigaction(sig, &sa, NULL);
}

void qf_tool_init(const char *progname)
{
	const char *slash;
	qf_err err;

	if (progname && *progname) {
		slash = strrchr(progname, '/');
		tool_name = slash && slash[1] ? slash + 1 : progname;
	}
	qf_provenance_tool(tool_name);
	signal(SIGPIPE, SIG_IGN);
	catch_signal(SIGINT);
	catch_signal(SIGTERM);
	catch_signal(SIGHUP);
	if (qf_blas_check_env(&err) < 0)
		qf_tool_usage_error("%s", err.msg);
}

void qf_tool_start(const char *name, int argc, char **argv, unsigned flags)
{
	int verbose = 0;

	for (int i = 1; (flags & QF_START_VERBOSE) && i < argc; i++)
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			verbose = 1;
	qf_blas_init(argc, argv, verbose);
	qf_blas_threads_stop();
	qf_tool_init(name);
}

int qf_tool_main(const qf_tool_def *t, void *opts, int argc, char **argv)
{
	qf_err e;
	int status;

	qf_tool_start(t->name, argc, argv, t->flags);
	t->parse(argc, argv, opts);
	status = t->run(opts, &e);
	if (t->free)
		t->free(opts);
	if (status < 0)
		qf_tool_fail(&e);
	qf_tool_close_stdout();
	return status;
}

const char *qf_tool_name(void)
{
	return tool_name;
}

/* ------------------------------------------------------------ exits */

/* A closed pipe downstream: end like a tool killed by SIGPIPE, silently. */
static void __attribute__((noreturn)) quiet_exit(void)
{
	qf_out_cleanup_all();
	_exit(STATUS_EPIPE);
}

/* Does c need an escape: a C0 control character or DEL? */
static int is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int needs_quotes(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s == ' ' || *s == '=' || *s == '"' || *s == '\\' ||
		    is_control((unsigned char)*s))
			return 1;
	return 0;
}

void qf_tool_put_escaped(FILE *f, const char *s, unsigned flags)
{
	int quote = (flags & QF_ESC_QUOTE) && needs_quotes(s);

	if (quote)
		putc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (is_control(c))
			fprintf(f, "\\x%02x", c);
		else if (c == '\\' && (flags & (QF_ESC_BACKSLASH | QF_ESC_QUOTE)))
			fputs("\\\\", f);
		else if (c == '"' && quote)
			fputs("\\\"", f);
		else
			putc(c, f);
	}
	if (quote)
		putc('"', f);
}

void qf_tool_put_rec_line(FILE *f, const qf_rec *rec, int dt)
{
	char shape[256];

	qf_tool_put_escaped(f, rec->name, QF_ESC_BACKSLASH);
	fprintf(f, "\t%s\t%s\t%" PRIu64 "\t", qf_dtype_name(dt),
		qf_rec_shape_str(rec, shape, sizeof shape),
		qf_rec_numel(rec) * qf_dtype_size(dt));
	for (size_t i = 0; i < rec->nattr; i++) {
		if (i)
			putc(' ', f);
		qf_tool_put_escaped(f, rec->attr[i].key, QF_ESC_QUOTE);
		putc('=', f);
		qf_tool_put_escaped(f, rec->attr[i].val, QF_ESC_QUOTE);
	}
}

/* "progname: message" as one line: the message may carry names read
 * from files, whose newlines and escape sequences must not reach the
 * terminal raw. */
static void vmessage(const char *fmt, va_list ap)
{
	char msg[2 * QF_ERR_MAX];

	vsnprintf(msg, sizeof msg, fmt, ap);
	fflush(stdout);
	fprintf(stderr, "%s: ", tool_name);
	qf_tool_put_escaped(stderr, msg, 0);
	fputc('\n', stderr);
}

void qf_tool_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
}

static void __attribute__((noreturn)) vdie(int status, const char *fmt,
					   va_list ap)
{
	vmessage(fmt, ap);
	qf_out_cleanup_all();
	exit(status);
}

void qf_tool_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdie(status, fmt, ap);
}

void qf_tool_fail(const qf_err *err)
{
	/* a closed pipe downstream, named by the error or seen on stdout
	 * (an error passed on through another message loses its code) */
	if ((err && err->code == EPIPE) || qf_out_pipe_broken(STDOUT_FILENO))
		quiet_exit();
	qf_tool_die(QF_EXIT_DATA, "%s",
		    err && err->msg[0] ? err->msg : "unknown error");
}

void qf_tool_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", tool_name);
	qf_out_cleanup_all();
	exit(QF_EXIT_USAGE);
}

void qf_tool_close_stdout(void)
{
	int e = 0;

	if (qf_out_flush_check(stdout) < 0)
		e = errno ? errno : -1;
	if (fclose(stdout) != 0 && !e)
		e = errno ? errno : -1;
	if (!e)
		return;
	if (e == EPIPE || qf_out_pipe_broken(STDOUT_FILENO))
		quiet_exit();
	if (e < 0)
		qf_tool_die(QF_EXIT_DATA, "write error");
	qf_tool_die(QF_EXIT_DATA, "write error: %s", strerror(e));
}

/* ------------------------------------------------------------ options */

static int parse_threads(const char *s, const char *from, qf_err *err)
{
	uint64_t n;

	if (qf_parse_u64(s, THREADS_MAX, &n, NULL) < 0 || n < 1)
		return qf_err_set(err, "invalid thread count '%s'%s", s, from);
	return (int)n;
}

int qf_tool_threads(const char *jopt, qf_err *err)
{
	const char *env = getenv("QF_THREADS");
	long n;

	if (jopt)
		return parse_threads(jopt, "", err);
	if (env && *env)
		return parse_threads(env, " (from QF_THREADS)", err);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > THREADS_MAX ? THREADS_MAX : (int)n;
}

static int is_long(const char *arg)
{
	return strncmp(arg, "--", 2) == 0;
}

/* "--name" of "--name=value" */
static int long_len(const char *arg)
{
	return (int)strcspn(arg, "=");
}

void qf_tool_common_option(int c, const char *usage, char **argv)
{
	switch (c) {
	case 'h':
		fputs(usage, stdout);
		qf_tool_close_stdout();
		exit(QF_EXIT_OK);
	case QF_OPT_VERSION:
		printf("%s (qf) %s\n%s\n", tool_name, QF_VERSION_STRING,
		       qf_provenance());
		qf_tool_close_stdout();
		exit(QF_EXIT_OK);
	case ':':
		if (is_long(argv[optind - 1]) || !optopt)
			qf_tool_usage_error("option '%.*s' needs a value",
					    long_len(argv[optind - 1]),
					    argv[optind - 1]);
		qf_tool_usage_error("option '-%c' needs a value", optopt);
	default:
		if (is_long(argv[optind - 1]) || !optopt)
			qf_tool_usage_error("unknown option '%.*s'",
					    long_len(argv[optind - 1]),
					    argv[optind - 1]);
		qf_tool_usage_error("unknown option '-%c'", optopt);
	}
}

uint64_t qf_tool_parse_count(const char *opt, const char *arg, uint64_t max)
{
	qf_err e;
	uint64_t v;

	if (qf_parse_u64(arg, max, &v, &e) < 0)
		qf_tool_usage_error("%s: %s", opt, e.msg);
	return v;
}

/* path with its directory resolved ("./x" and "d/../x" are "CWD/x"),
 * into buf; 0 when the directory does not resolve. */
static int resolved(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX], real[PATH_MAX];
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n >= sizeof dir)
		return 0;
	memcpy(dir, slash ? path : ".", slash ? n : 1);
	dir[slash ? n : 1] = '\0';
	if (slash && n == 0)
		strcpy(dir, "/");
	if (!realpath(dir, real))
		return 0;
	return snprintf(buf, len, "%s/%s", real, slash ? slash + 1 : path) <
	       (int)len;
}

/* Whether two output names are one file: the same name, the same name
 * once their directories are resolved, or the same existing file under
 * two names (a link). */
static int same_output(const char *a, const char *b)
{
	char ra[PATH_MAX + NAME_MAX + 2], rb[PATH_MAX + NAME_MAX + 2];
	struct stat sa, sb;

	if (strcmp(a, b) == 0)
		return 1;
	if (strcmp(a, "-") == 0 || strcmp(b, "-") == 0)
		return 0;
	if (resolved(a, ra, sizeof ra) && resolved(b, rb, sizeof rb) &&
	    strcmp(ra, rb) == 0)
		return 1;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void qf_tool_distinct_outputs(const char *const *opts,
			      const char *const *paths, int n)
{
	for (int i = 0; i < n; i++)
		for (int j = i + 1; paths[i] && j < n; j++)
			if (paths[j] && same_output(paths[i], paths[j]))
				qf_tool_usage_error("%s and %s name the same file",
						    opts[i], opts[j]);
}

int qf_tool_parse_level(const char *arg)
{
	qf_err e;
	uint64_t v;

	if (qf_parse_u64(arg, 22, &v, &e) < 0)
		qf_tool_usage_error("--level: %s", e.msg);
	if (v == 0)
		qf_tool_usage_error("--level: must be 1..22");
	return (int)v;
}

/* ------------------------------------------------------------ progress */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* p->last is the elapsed time of the last line printed, 0 before any. */
void qf_progress_start(qf_progress *p, const char *what)
{
	p->on = isatty(STDERR_FILENO);
	p->start = now();
	p->last = 0;
	p->what = what ? what : "progress";
}

void qf_progress_update(qf_progress *p, uint64_t done, uint64_t total)
{
	double t;
	int pct;

	if (!p->on)
		return;
	t = now() - p->start;
	if (t - p->last < PROGRESS_EVERY)
		return;
	p->last = t;
	if (!total) {
		fprintf(stderr, "\r%s: %" PRIu64 " elapsed %.1f s\033[K",
			p->what, done, t);
		return;
	}
	pct = done >= total ? 100 : (int)((double)done * 100 / (double)total);
	fprintf(stderr, "\r%s: %d%% (%" PRIu64 "/%" PRIu64
		") elapsed %.1f s\033[K", p->what, pct, done, total, t);
}

void qf_progress_end(qf_progress *p)
{
	if (p->on && p->last > 0)
		fputs("\r\033[K", stderr);
	p->on = 0;
	p->last = 0;
}
