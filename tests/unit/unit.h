/*
 * unit.h - the C unit-test runner for lib/.
 *
 * A test file defines `static void test_xxx(void)` functions and a main
 * that calls RUN(test_xxx) for each, then returns unit_done().  Output is
 * TAP: "ok N - test_xxx" or "not ok N - test_xxx" with the failed checks
 * as "# file:line: ..." comments.
 */
#ifndef QF_UNIT_H
#define QF_UNIT_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_n, unit_failed, unit_cur_failed;
static const char *unit_cur_skip;

/* Mark the running test as skipped (TAP "# skip REASON") and return. */
#define SKIP(reason) do { unit_cur_skip = (reason); return; } while (0)

/* Directory of the shared fixtures: $QF_SHARED, else ../../shared
 * relative to tests/ (the cwd of unit tests); NULL when absent. */
static inline const char *unit_shared_dir(void)
{
	const char *d = getenv("QF_SHARED");
	FILE *f;
	static char buf[4096];

	if (!d)
		d = "../../shared";
	snprintf(buf, sizeof buf, "%s/STYLE.md", d);
	f = fopen(buf, "r");
	if (!f) {
		snprintf(buf, sizeof buf, "%s/fixtures", d);
		f = fopen(buf, "r");
		if (!f)
			return NULL;
	}
	fclose(f);
	return d;
}

#define CHECK(cond) do { \
	if (!(cond)) { \
		unit_cur_failed++; \
		printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
	} } while (0)

#define CHECKF(cond, ...) do { \
	if (!(cond)) { \
		unit_cur_failed++; \
		printf("# %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
		printf(__VA_ARGS__); \
		printf("\n"); \
	} } while (0)

#define CHECK_STR(a, b) do { \
	const char *unit_a_ = (a), *unit_b_ = (b); \
	if (!unit_a_ || !unit_b_ || strcmp(unit_a_, unit_b_) != 0) { \
		unit_cur_failed++; \
		printf("# %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
		       unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)"); \
	} } while (0)

#define RUN(fn) do { \
	unit_cur_failed = 0; \
	unit_cur_skip = NULL; \
	fn(); \
	unit_n++; \
	if (unit_cur_skip && !unit_cur_failed) { \
		printf("ok %d - %s # skip %s\n", unit_n, #fn, unit_cur_skip); \
	} else if (unit_cur_failed) { \
		unit_failed++; \
		printf("not ok %d - %s\n", unit_n, #fn); \
	} else { \
		printf("ok %d - %s\n", unit_n, #fn); \
	} \
	fflush(stdout); } while (0)

static inline int unit_done(void)
{
	printf("1..%d\n", unit_n);
	return unit_failed ? 1 : 0;
}

#endif
