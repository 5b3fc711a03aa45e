/*
 * provenance.c - what a result depends on beyond its inputs and options:
 * qf's version, the tool, OpenBLAS's version and the core it runs, who
 * chose that core, and the vector code qf's own kernels run
 * (formats/provenance.md).  Every table and stream a tool writes carries
 * this line, so that two results that differ can be explained from the
 * files alone.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

char *openblas_get_config(void);

#define L2_VAR "OPENBLAS_L2_SIZE"

static char line[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The level of x86-64 that GCC's target_clones pick for qf's kernels
 * (lib/model/runtime.h QF_CLONES). */
const char *qf_simd_level(void)
{
#if defined(__x86_64__) && defined(__clang__)
	/* clang (make fuzz) has no level names: the features that decide */
	unsigned f = qf_cpu_features();

	return f & QF_CPU_AVX512 ? "x86-64-v4" : f & QF_CPU_AVX2 ? "x86-64-v3" :
	       "x86-64";
#elif defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("x86-64-v4"))
		return "x86-64-v4";
	if (__builtin_cpu_supports("x86-64-v3"))
		return "x86-64-v3";
	return "x86-64";
#else
	return "generic";
#endif
}

/* "0.3.21" of "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." */
static void blas_version(char *buf, size_t len)
{
	const char *c = openblas_get_config();
	size_t n;

	snprintf(buf, len, "?");
	if (!c || strncmp(c, "OpenBLAS ", 9) != 0)
		return;
	c += 9;
	n = strcspn(c, " ");
	if (n > 0 && n < len)
		snprintf(buf, len, "%.*s", (int)n, c);
}

/* A value from the environment as one word: letters, digits, '.', '-'
 * and '_'; anything else becomes '?'. */
static void word(char *buf, size_t len, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '-' ||
			 c == '_';
		buf[i] = ok ? c : '?';
	}
	buf[i] = '\0';
}

static const char *tool_name;

void qf_provenance_tool(const char *name)
{
	tool_name = name;
}

static void build(void)
{
	const char *tool = tool_name;
	const char *l2 = getenv(L2_VAR);
	char ver[32], core[64], name[64], l2w[48] = "";

	if (!tool || strcmp(tool, "qf") == 0)
		tool = program_invocation_short_name;
	word(name, sizeof name, tool);
	blas_version(ver, sizeof ver);
	word(core, sizeof core, qf_blas_corename());
	if (l2 && *l2) {
		char w[24];

		word(w, sizeof w, l2);
		snprintf(l2w, sizeof l2w, " openblas_l2_size=%s", w);
	}
	snprintf(line, sizeof line,
		 "qf=%s tool=%s openblas=%s core=%s core_by=%s%s simd=%s",
		 QF_VERSION_STRING, name, ver, core, qf_blas_chosen_by(), l2w,
		 qf_simd_level());
}

const char *qf_provenance(void)
{
	pthread_once(&once, build);
	return line;
}

int qf_provenance_comment(FILE *f)
{
	return fprintf(f, "# %s\n", qf_provenance()) < 0 ? -1 : 0;
}

int qf_rec_stamp(qf_rec *rec, qf_err *err)
{
	qf_rec_del(rec, QF_PROV_KEY);
	if (rec->nattr >= QF_MAX_ATTRS)
		return qf_err_set(err, "record %s: %zu attributes, no room for "
				  "its provenance", rec->name, rec->nattr);
	return qf_rec_set(rec, QF_PROV_KEY, qf_provenance(), err);
}
