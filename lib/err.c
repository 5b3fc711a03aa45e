/* err.c - error messages returned by the library */
#include <stdarg.h>
#include <stdio.h>

#include "qf.h"

int qf_err_set(qf_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return -1;
}
