/*
 * tool.h - the tools' common front end (docs/conventions.md): starting
 * a tool (OpenBLAS's core, signals), options, messages and exit
 * statuses, progress on a terminal.  The one layer of lib/ that prints
 * and exits; a tool's main has the shape docs/architecture.md shows.
 */
#ifndef QF_TOOL_TOOL_H
#define QF_TOOL_TOOL_H

#include "core/core.h"

/* ---------------------------------------------------------------- OpenBLAS */

/* Debian 12's OpenBLAS (0.3.21) does not know recent Xeons and falls
 * back to its generic "Prescott" kernels, several times slower than the
 * SkylakeX or Haswell ones the CPU can run.  It reads OPENBLAS_CORETYPE
 * only when the library loads, so the fix is to run the program again
 * with it set.  Tools call qf_blas_init first thing in main: when
 * OpenBLAS runs a generic core on a CPU with AVX-512 (or AVX2 and FMA)
 * and the user has not set OPENBLAS_CORETYPE, it re-executes the program
 * (/proc/self/exe, same argv) with OPENBLAS_CORETYPE set and a guard
 * variable, QF_OPENBLAS_REEXEC, so that this happens at most once.  A
 * value the user set is never overridden.  With verbose it says on
 * stderr what it found and did.  Returns 0 (nothing to do), 1 (running
 * with the core qf chose) or -1 (the re-execution failed; the program
 * goes on with the generic kernels). */
int qf_blas_init(int argc, char **argv, int verbose);


/* ---------------------------------------------------------------- tool support */

/* The tools' common front end (docs/conventions.md).  These print to
 * stderr and may exit; nothing else in lib/ does. */

/* Exit statuses. */
#define QF_EXIT_OK 0
#define QF_EXIT_DATA 1
#define QF_EXIT_USAGE 2

/* The first call of every tool's main: OpenBLAS's core (qf_blas_init,
 * which may run the program again; with QF_START_VERBOSE and -v or
 * --verbose anywhere in argv it says on stderr what it found), its
 * threads stopped (qf_blas_threads_stop: the first BLAS call that wants
 * them starts them again, so that they do not spin while the tool reads
 * its inputs), then qf_tool_init(name). */
#define QF_START_VERBOSE 1u
void qf_tool_start(const char *name, int argc, char **argv, unsigned flags);
/* A tool, for qf_tool_main: its name, qf_tool_start's flags and its
 * three steps (docs/architecture.md, "A tool's main"). */
typedef struct qf_tool_def {
	const char *name;
	unsigned flags;
	/* The command line into opts; misuse exits 2, before any work. */
	void (*parse)(int argc, char **argv, void *opts);
	/* Open, loop, close: an exit status, or -1 with err. */
	int (*run)(void *opts, qf_err *err);
	/* Release what parse allocated; NULL when nothing is. */
	void (*free)(void *opts);
} qf_tool_def;
/* Every tool's main: qf_tool_start, parse, run, free, then qf_tool_fail
 * on an error (one line, exit 1; 141 for a closed pipe) or
 * qf_tool_close_stdout.  Returns run's exit status. */
int qf_tool_main(const qf_tool_def *t, void *opts, int argc, char **argv);
/* Record the program name for messages, ignore SIGPIPE (write errors are
 * then reported as EPIPE and end the tool quietly), and install handlers
 * that remove temporary output files on SIGINT, SIGTERM and SIGHUP. */
void qf_tool_init(const char *progname);
const char *qf_tool_name(void);
/* "progname: message" on stderr, then exit with the given status. */
void qf_tool_die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* "progname: message" on stderr, as one line, without exiting (a
 * warning, or an error a tool goes on after). */
void qf_tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* s on f with C0 control characters and DEL escaped (\n, \t, \r,
 * else \xHH), so that a name read from a file stays on one line and sends
 * no escape sequence to a terminal.  Every message of qf_tool_die,
 * qf_tool_fail, qf_tool_usage_error and qf_tool_warn goes through it.
 * QF_ESC_BACKSLASH: a backslash as \\ too, so that the text reads back
 * unambiguously; QF_ESC_QUOTE: as that, and in double quotes (a quote as
 * \") when s holds a space, '=', '"', a backslash or a control character
 * (attribute values in listings). */
#define QF_ESC_BACKSLASH 1u
#define QF_ESC_QUOTE 2u
void qf_tool_put_escaped(FILE *f, const char *s, unsigned flags);
/* The listing line of a record, as dtype dt, without the newline: name
 * (QF_ESC_BACKSLASH), dtype, shape, bytes and KEY=VALUE attributes
 * (QF_ESC_QUOTE), tab-separated (qf-cat -l, qf-extract weights -l). */
void qf_tool_put_rec_line(FILE *f, const qf_rec *rec, int dt);
/* Print err->msg as above and exit 1; if the error was a broken pipe on
 * standard output, exit quietly with status 141 instead. */
void qf_tool_fail(const qf_err *err) __attribute__((noreturn));
/* Misuse: "progname: message" plus "Try 'progname --help'.", exit 2. */
void qf_tool_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* Flush and close standard output, checking for errors; exits 1 (or
 * quietly 141 for a closed pipe) when writing failed.  Tools call it last. */
void qf_tool_close_stdout(void);
/* Threads: the -j value if given (> 0), else QF_THREADS, else the number
 * of online CPUs.  Returns -1 with a message for a malformed value. */
int qf_tool_threads(const char *jopt, qf_err *err);
/* Options every tool has, for a getopt_long loop run with opterr = 0 and
 * an optstring starting with ':'.  Give --help the value 'h' and
 * --version QF_OPT_VERSION, and pass what the loop does not handle
 * itself: 'h' prints usage on standard output and exits 0, QF_OPT_VERSION
 * prints "NAME (qf) VERSION" and exits 0, ':' (a missing value) and
 * anything else (an unknown option) are usage errors naming the option. */
#define QF_OPT_VERSION 0x1000
/* The end of every tool's getopt_long table: --help, --version and the
 * terminator. */
#define QF_OPT_END \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, QF_OPT_VERSION }, \
	{ NULL, 0, NULL, 0 }
void qf_tool_common_option(int c, const char *usage, char **argv)
	__attribute__((noreturn));
/* An option's count, 0..max, strictly (qf_parse_u64); misuse exits 2
 * with "OPT: what is wrong". */
uint64_t qf_tool_parse_count(const char *opt, const char *arg, uint64_t max);
/* Outputs of one run must be distinct files: a usage error ("-o and
 * --stats name the same file") when two of paths[0..n) (NULL: not given;
 * "-": standard output) are the same name or the same existing file.
 * opts[i] names the option of paths[i]. */
void qf_tool_distinct_outputs(const char *const *opts,
			      const char *const *paths, int n);
/* A --level value, 1..22; a usage error otherwise. */
int qf_tool_parse_level(const char *arg);

/* Progress on stderr, only when stderr is a terminal; at most a few
 * updates a second. */
typedef struct qf_progress {
	int on;
	double last;
	double start;
	const char *what;
} qf_progress;
void qf_progress_start(qf_progress *p, const char *what);
void qf_progress_update(qf_progress *p, uint64_t done, uint64_t total);
void qf_progress_end(qf_progress *p);

#endif
