/*
 * platform.c - what the machine runs: CPU features, OpenBLAS's core and
 * who chose it (read, never changed, here; tool/blas_init.c chooses).
 */
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "core/internal.h"

/* OpenBLAS's extension, declared here too in case cblas.h is another
 * implementation's (Debian's alternatives); the library is OpenBLAS. */
char *openblas_get_corename(void);
/* OpenBLAS's own (driver/others/blas_server.c): its threads stopped and
 * joined; the next BLAS call that wants them starts them again. */
int blas_thread_shutdown_(void);

#define CHOSEN_BY "QF_OPENBLAS_CHOSEN_BY"

unsigned qf_cpu_features(void)
{
	unsigned f = 0;

#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		f |= QF_CPU_AVX2;
	if ((f & QF_CPU_AVX2) && __builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512cd") &&
	    __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512vl"))
		f |= QF_CPU_AVX512;
	/* by CPUID: clang 14's __builtin_cpu_supports does not know f16c */
	unsigned a, b, c, d;
	if (__builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) &&
	    (c & bit_F16C))
		f |= QF_CPU_F16C;
#endif
	return f;
}

/* Who chose the core type: set by qf_blas_init (tool/blas_init.c),
 * which must see the re-execution's guard before it removes it. */
static const char *chosen_by;

void qf_blas_set_chosen_by(const char *by)
{
	chosen_by = by;
}

static const char *valid_chosen_by(const char *s)
{
	static const char *const by[] = { "user", "qf", "openblas" };

	for (size_t i = 0; s && i < sizeof by / sizeof *by; i++)
		if (strcmp(s, by[i]) == 0)
			return by[i];
	return NULL;
}

/* From the environment alone: a forwarded choice, a value the user set,
 * or OpenBLAS's own. */
static const char *chosen_by_env(void)
{
	const char *by = valid_chosen_by(getenv(CHOSEN_BY));

	if (!getenv("OPENBLAS_CORETYPE"))
		return "openblas";
	return by ? by : "user";
}

const char *qf_blas_chosen_by(void)
{
	return chosen_by ? chosen_by : chosen_by_env();
}

int qf_blas_check_env(qf_err *err)
{
	const char *by = getenv(CHOSEN_BY);

	if (!by)
		return 0;
	if (!valid_chosen_by(by))
		return qf_err_set(err, "invalid %s '%s' (user, qf or openblas)",
				  CHOSEN_BY, by);
	if (!getenv("OPENBLAS_CORETYPE"))
		return qf_err_set(err, "%s is set but OPENBLAS_CORETYPE is not",
				  CHOSEN_BY);
	return 0;
}

void qf_blas_threads_stop(void)
{
	blas_thread_shutdown_();
}

const char *qf_blas_corename(void)
{
	const char *s = openblas_get_corename();

	return s ? s : "?";
}

