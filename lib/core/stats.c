/* stats.c - running statistics over tensor elements, and element text */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "core/internal.h"

void qf_stats_init(qf_stats *s)
{
	s->n = 0;
	s->nan = 0;
	s->mean = s->m2 = 0;
	s->min = INFINITY;
	s->max = -INFINITY;
}

/* Welford's update in double precision, as values arrive in chunks. */
static void add_values(qf_stats *s, const double *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		double x = v[i], d;

		if (isnan(x)) {
			s->nan++;
			continue;
		}
		s->n++;
		d = x - s->mean;
		s->mean += d / (double)s->n;
		s->m2 += d * (x - s->mean);
		if (x < s->min)
			s->min = x;
		if (x > s->max)
			s->max = x;
	}
}

int qf_stats_add(qf_stats *s, int dtype, const void *buf, size_t n,
		 qf_err *err)
{
	double v[1024];
	size_t es = qf_dtype_size(dtype);
	const unsigned char *p = buf;

	if (!es)
		return qf_err_set(err, "unknown dtype code %d", dtype);
	while (n > 0) {
		size_t k = n < 1024 ? n : 1024;
		if (qf_convert(QF_F64, v, dtype, p, k, err) < 0)
			return -1;
		add_values(s, v, k);
		p += k * es;
		n -= k;
	}
	return 0;
}

double qf_stats_std(const qf_stats *s)
{
	return s->n ? sqrt(s->m2 / (double)s->n) : NAN;
}

int qf_format_elem(char *buf, size_t len, int dtype, const void *p)
{
	const unsigned char *b = p;
	int64_t i;
	uint64_t u;

	switch (dtype) {
	case QF_F32: {
		float f;
		memcpy(&f, b, 4);
		return snprintf(buf, len, "%.9g", f);
	}
	case QF_F64: {
		double d;
		memcpy(&d, b, 8);
		return snprintf(buf, len, "%.17g", d);
	}
	case QF_F16:
		return snprintf(buf, len, "%.5g", qf_f16_to_f32(qf_get_u16(b)));
	case QF_BF16:
		return snprintf(buf, len, "%.4g", qf_bf16_to_f32(qf_get_u16(b)));
	case QF_I8:
		return snprintf(buf, len, "%d", (int8_t)b[0]);
	case QF_U8:
	case QF_BOOL:
		return snprintf(buf, len, "%u", b[0]);
	case QF_I16:
		return snprintf(buf, len, "%d", (int16_t)qf_get_u16(b));
	case QF_U16:
		return snprintf(buf, len, "%u", qf_get_u16(b));
	case QF_I32:
		return snprintf(buf, len, "%" PRId32, (int32_t)qf_get_u32(b));
	case QF_U32:
		return snprintf(buf, len, "%" PRIu32, qf_get_u32(b));
	case QF_I64:
		i = (int64_t)qf_get_u64(b);
		return snprintf(buf, len, "%" PRId64, i);
	case QF_U64:
		u = qf_get_u64(b);
		return snprintf(buf, len, "%" PRIu64, u);
	}
	return snprintf(buf, len, "?");
}
