/* err.c - error messages returned by the library */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

int qf_err_set(qf_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	/* One line, whatever libraries put in their strings. */
	size_t n = strlen(err->msg);
	while (n > 0 && (err->msg[n - 1] == '\n' || err->msg[n - 1] == '\r' ||
			 err->msg[n - 1] == ' '))
		err->msg[--n] = 0;
	for (char *p = err->msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return -1;
}

int qf_err_code(qf_err *err, int code)
{
	if (err)
		err->code = code;
	return -1;
}
