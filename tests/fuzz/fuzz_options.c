/*
 * fuzz_options.c - the option parsers: the strict numbers of
 * lib/core/parse.c, dtype names, and lib/tool/tool.c's option handling
 * (the common options and their messages, counts, levels, threads,
 * distinct outputs) in a getopt_long loop shaped as every tool's.
 *
 * The first byte picks what the rest is:
 *
 *   0  arguments of a tool "qf-fuzz", split at NUL bytes, run through a
 *      table with options of every kind (a value, an optional value,
 *      none; --help and --version by QF_OPT_END)
 *   1  a number for qf_parse_u64, after 8 bytes of its maximum
 *   2  a number for qf_parse_double
 *   3  a dtype name for qf_dtype_parse
 *
 * Checked: misuse is exit 2 with "qf-fuzz: ..." and the usage hint, as
 * fuzz_cli.h says; qf_parse_u64 accepts exactly the decimal strings of
 * 0..max (compared with strtoull); qf_parse_double exactly what strtod
 * reads whole to a finite number without leading space, to the same
 * value; a dtype name gives a dtype with a name, or 0 or less.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qf.h"
#include "fuzz_cli.h"

#define NAME "qf-fuzz"

static const char usage[] = "Usage: " NAME " [OPTION]... [FILE]...\n";

struct opts {
	const char *output, *stats;
	uint64_t count;
	int level, threads, dtype, verbose;
	double eps;
	const char *opt;
};

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_STATS = 256, O_LEVEL, O_EPS, O_OPT };
	static const struct option longs[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "stats", required_argument, NULL, O_STATS },
		{ "count", required_argument, NULL, 'c' },
		{ "level", required_argument, NULL, O_LEVEL },
		{ "jobs", required_argument, NULL, 'j' },
		{ "dtype", required_argument, NULL, 't' },
		{ "eps", required_argument, NULL, O_EPS },
		{ "opt", optional_argument, NULL, O_OPT },
		{ "verbose", no_argument, NULL, 'v' },
		QF_OPT_END
	};
	const char *jopt = NULL;
	qf_err e;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:c:j:t:vh", longs, NULL)) != -1) {
		switch (c) {
		case 'o': o->output = optarg; break;
		case O_STATS: o->stats = optarg; break;
		case 'c': o->count = qf_tool_parse_count("--count", optarg, 1000); break;
		case O_LEVEL: o->level = qf_tool_parse_level(optarg); break;
		case 'j': jopt = optarg; break;
		case 't':
			if ((o->dtype = qf_dtype_parse(optarg)) <= 0)
				qf_tool_usage_error("unknown dtype '%s'", optarg);
			break;
		case O_EPS:
			if (qf_parse_double(optarg, &o->eps, &e) < 0)
				qf_tool_usage_error("--eps: %s", e.msg);
			break;
		case O_OPT: o->opt = optarg ? optarg : ""; break;
		case 'v': o->verbose = 1; break;
		default: qf_tool_common_option(c, usage, argv);
		}
	}
	if ((o->threads = qf_tool_threads(jopt, &e)) < 0)
		qf_tool_usage_error("%s", e.msg);
	qf_tool_distinct_outputs((const char *[]){ "-o", "--stats" },
				 (const char *[]){ o->output ? o->output : "-",
						   o->stats }, 2);
}

struct parse_call {
	int argc;
	char **argv;
	struct opts o;
};

static void call_parse(void *arg)
{
	struct parse_call *c = arg;

	optind = 0;
	parse_args(c->argc, c->argv, &c->o);
}

static void tool(const uint8_t *data, size_t size)
{
	char *argv[FUZZ_MAX_ARGS], *store;
	struct parse_call c;

	memset(&c, 0, sizeof c);
	c.argv = argv;
	c.argc = fuzz_argv(NAME, data, size, argv, &store);
	if (fuzz_cli_call(NAME, call_parse, &c) == -1 &&
	    (c.o.threads < 1 || c.o.count > 1000 || c.o.level > 22 ||
	     !isfinite(c.o.eps)))
		abort();
	free(store);
}

/* A NUL-terminated copy of the input. */
static char *text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

static void parse_u64(const uint8_t *data, size_t size)
{
	uint64_t max = 0, v = 7, ref;
	char *s, *end;
	int ok, rc;
	qf_err e;

	if (size < 8)
		return;
	memcpy(&max, data, 8);
	s = text(data + 8, size - 8);
	errno = 0;
	ref = strtoull(s, &end, 10);
	ok = *s && strspn(s, "0123456789") == strlen(s) && !*end &&
	     errno == 0 && ref <= max;
	rc = qf_parse_u64(s, max, &v, &e);
	if (rc != (ok ? 0 : -1) || (ok && v != ref) || (!ok && v != 7) ||
	    (!ok && strchr(e.msg, '\n') && !strchr(s, '\n')))
		abort();
	free(s);
}

static void parse_double(const uint8_t *data, size_t size)
{
	char *s = text(data, size), *end;
	double v = 7, ref;
	int ok, rc;
	qf_err e;

	ref = strtod(s, &end);
	ok = *s && !strchr(" \t\n\v\f\r", *s) && !*end && isfinite(ref);
	rc = qf_parse_double(s, &v, &e);
	if (rc != (ok ? 0 : -1) || (ok && memcmp(&v, &ref, sizeof v) != 0))
		abort();
	free(s);
}

static void dtype_name(const uint8_t *data, size_t size)
{
	char *s = text(data, size);
	int dt = qf_dtype_parse(s);

	if (dt > 0 && (!qf_dtype_name(dt) || !qf_dtype_size(dt)))
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;

	if (!init) {
		qf_tool_init(NAME);
		init = 1;
	}
	if (size == 0)
		return 0;
	switch (data[0] & 3) {
	case 0: tool(data + 1, size - 1); break;
	case 1: parse_u64(data + 1, size - 1); break;
	case 2: parse_double(data + 1, size - 1); break;
	default: dtype_name(data + 1, size - 1); break;
	}
	return 0;
}
