/*
 * blas_init.c - the choice of OpenBLAS's core type, and the program's
 * re-execution with it (tool/tool.h, qf_blas_init).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tool/tool.h"
#include "tool/blas.h"

#define REEXEC_GUARD "QF_OPENBLAS_REEXEC"
#define CHOSEN_BY "QF_OPENBLAS_CHOSEN_BY"

/* Cores OpenBLAS runs on CPUs it does not recognise, and older ones:
 * none uses AVX2.  On a CPU that has AVX2 such a core is a fallback. */
static const char *const weak_cores[] = {
	"Prescott", "Katmai", "Coppermine", "Northwood", "Banias", "Core2",
	"Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge", "Opteron",
	"Opteron_SSE3", "Barcelona", "Bobcat", "Bulldozer", "Piledriver",
	NULL
};

const char *qf_blas_core_choice(const char *corename, unsigned cpu,
				const char *env_coretype,
				const char *env_guard)
{
	int weak = 0;

	if (env_guard || env_coretype || !corename)
		return NULL;
	for (int i = 0; weak_cores[i]; i++)
		if (strcasecmp(corename, weak_cores[i]) == 0)
			weak = 1;
	if (!weak)
		return NULL;
	if (cpu & QF_CPU_AVX512)
		return "SkylakeX";
	if (cpu & QF_CPU_AVX2)
		return "Haswell";
	return NULL;
}

int qf_blas_init(int argc, char **argv, int verbose)
{
	const char *prog = argc > 0 && argv && argv[0] ? argv[0] : "qf";
	const char *guard = getenv(REEXEC_GUARD);
	const char *core = qf_blas_corename();
	const char *choice;
	char was[64];
	int e;

	if (strrchr(prog, '/'))
		prog = strrchr(prog, '/') + 1;
	if (guard) {
		/* the second run: say what came of it, leave no trace for
		 * programs this one starts */
		if (verbose)
			fprintf(stderr, "%s: OpenBLAS core %s (OPENBLAS_CORETYPE "
				"set by qf: OpenBLAS chose %s for this CPU)\n",
				prog, core, guard);
		unsetenv(REEXEC_GUARD);
		qf_blas_set_chosen_by("qf");
		return 1;
	}
	qf_blas_set_chosen_by(qf_blas_chosen_by());
	/* a choice forwarded from elsewhere is the user's to make */
	choice = qf_blas_core_choice(core, qf_cpu_features(),
				     getenv("OPENBLAS_CORETYPE"),
				     getenv(CHOSEN_BY));
	if (!choice || argc < 1 || !argv || argv[argc]) {
		if (verbose)
			fprintf(stderr, "%s: OpenBLAS core %s%s\n", prog, core,
				getenv("OPENBLAS_CORETYPE") ?
				" (OPENBLAS_CORETYPE set by the user)" : "");
		return 0;
	}
	snprintf(was, sizeof was, "%s", core);
	if (setenv("OPENBLAS_CORETYPE", choice, 1) < 0 ||
	    setenv(REEXEC_GUARD, was, 1) < 0) {
		e = errno;
	} else {
		fflush(NULL);
		execv("/proc/self/exe", argv);
		e = errno;
	}
	unsetenv("OPENBLAS_CORETYPE");
	unsetenv(REEXEC_GUARD);
	if (verbose)
		fprintf(stderr, "%s: OpenBLAS core %s; cannot re-execute with "
			"OPENBLAS_CORETYPE=%s: %s\n", prog, core, choice,
			strerror(e));
	return -1;
}
