/*
 * fuzz_cli.h - what the command-line harnesses share: an argv made from
 * the input, and a call of code that may exit (lib/tool/tool.c's usage
 * errors, --help, --version) caught and checked.
 *
 * exit() is defined here: while fuzz_cli_call runs, it jumps back with
 * the status instead of ending the process; otherwise it is libc's.
 * Standard output and error are memory streams during the call, so that
 * what the tool prints is checked: nothing when the call returns; one
 * line "NAME: ..." for status 1; that line and "Try 'NAME --help' for
 * more information." for status 2 (misuse); something on standard output
 * and nothing on standard error for status 0 (--help, --version).
 * Memory allocated during the call is not checked for leaks: a tool
 * that exits frees nothing, by design.
 */
#ifndef QF_FUZZ_CLI_H
#define QF_FUZZ_CLI_H

#include <dlfcn.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SANITIZE_ADDRESS__
#define FUZZ_LSAN 1
#endif
#ifdef __has_feature
#if __has_feature(address_sanitizer)
#define FUZZ_LSAN 1
#endif
#endif
#ifdef FUZZ_LSAN
#include <sanitizer/lsan_interface.h>
#else
static inline void __lsan_disable(void) { }
static inline void __lsan_enable(void) { }
#endif

#define FUZZ_MAX_ARGS 64

static jmp_buf *fuzz_exit_jmp;
static int fuzz_exit_status;

void exit(int status)
{
	void (*real)(int);

	if (fuzz_exit_jmp) {
		jmp_buf *j = fuzz_exit_jmp;

		fuzz_exit_jmp = NULL;
		fuzz_exit_status = status;
		longjmp(*j, 1);
	}
	*(void **)&real = dlsym(RTLD_NEXT, "exit");
	real(status);
	abort();
}

/* argv[1..] from data, each argument ended by a NUL byte or the end
 * (at most FUZZ_MAX_ARGS - 2 arguments); the strings are copies in
 * *store, which the caller frees.  Returns argc. */
static int fuzz_argv(const char *name, const uint8_t *data, size_t size,
		     char **argv, char **store)
{
	int argc = 1;
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	*store = s;
	argv[0] = (char *)name;
	for (size_t i = 0; i < size && argc < FUZZ_MAX_ARGS - 1; ) {
		argv[argc++] = s + i;
		i += strlen(s + i) + 1;
	}
	argv[argc] = NULL;
	return argc;
}

/* Exactly "NAME: " and one line, plus the usage hint if misuse. */
static void fuzz_check_message(const char *name, const char *msg, int misuse)
{
	size_t n = strlen(name);
	const char *nl = strchr(msg, '\n');
	char hint[128];

	if (strncmp(msg, name, n) != 0 || strncmp(msg + n, ": ", 2) != 0 || !nl)
		abort();
	snprintf(hint, sizeof hint, "Try '%s --help' for more information.\n",
		 name);
	if (misuse ? strcmp(nl + 1, hint) != 0 : nl[1] != 0)
		abort();
}

/* Run fn(arg) as the tool NAME would; returns its exit status, or -1
 * when it returned. */
static int fuzz_cli_call(const char *name, void (*fn)(void *), void *arg)
{
	FILE *out_save = stdout, *err_save = stderr;
	char *obuf = NULL, *ebuf = NULL;
	size_t olen = 0, elen = 0;
	jmp_buf j;
	volatile int status = -1;

	stdout = open_memstream(&obuf, &olen);
	stderr = open_memstream(&ebuf, &elen);
	if (!stdout || !stderr)
		abort();
	__lsan_disable();
	fuzz_exit_jmp = &j;
	if (setjmp(j) == 0)
		fn(arg);
	else
		status = fuzz_exit_status;
	fuzz_exit_jmp = NULL;
	__lsan_enable();
	/* --help and --version closed standard output before exiting */
	if (status != 0)
		fclose(stdout);
	fclose(stderr);
	stdout = out_save;
	stderr = err_save;
	if (status == -1 && elen != 0)
		abort();
	if (status == 0 && (olen == 0 || elen != 0))
		abort();
	if (status == 1 || status == 2)
		fuzz_check_message(name, ebuf, status == 2);
	else if (status > 2)
		abort();
	free(obuf);
	free(ebuf);
	return status;
}

#endif
