/*
 * bench.h - what the benchmarks share: die() and a monotonic clock.
 * Include after defining `static const char *prog`.
 */
#ifndef QF_BENCH_H
#define QF_BENCH_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn, unused));

/* "prog: message" on stderr, exit 1. */
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Seconds on the monotonic clock. */
static __attribute__((unused)) double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static __attribute__((unused)) int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The paired figure: each of n passes ("window", "step") against the
 * sgemm round right after it, r[i] = that round's time over the pass's,
 * times `scale` (all FLOPs over sgemm FLOPs): median and range, in %.
 * Sorts r. */
static __attribute__((unused)) void print_paired(const char *what, double *r,
						 int n, double scale)
{
	qsort(r, (size_t)n, sizeof *r, cmp_double);
	printf("  paired: each %s against the sgemm round right after it: "
	       "median %.0f%% of that round's rate (range %.0f%%-%.0f%%)\n",
	       what, 100 * scale * (n % 2 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2),
	       100 * scale * r[0], 100 * scale * r[n - 1]);
}

#endif
