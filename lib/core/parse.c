/*
 * parse.c - numbers from text, strictly (options, config values,
 * attributes).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int qf_parse_u64(const char *s, uint64_t max, uint64_t *out, qf_err *err)
{
	uint64_t v = 0;
	const char *p;

	if (!s || !*s || strspn(s, "0123456789") != strlen(s))
		return qf_err_set(err, "invalid number '%s'", s ? s : "");
	for (p = s; *p; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			break;
		v = v * 10 + d;
	}
	if (*p || v > max)
		return qf_err_set(err, "'%s' is larger than %" PRIu64, s, max);
	*out = v;
	return 0;
}

int qf_parse_double(const char *s, double *out, qf_err *err)
{
	char *end;
	double v;

	if (!s || !*s || isspace((unsigned char)*s))
		return qf_err_set(err, "invalid number '%s'", s ? s : "");
	v = strtod(s, &end);
	if (*end || !isfinite(v))
		return qf_err_set(err, "invalid number '%s'", s);
	*out = v;
	return 0;
}
