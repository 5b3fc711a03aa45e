/* out.c - atomic output files: a temporary file renamed into place */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qf.h"

int qf_epipe_seen;

enum out_kind {
	OUT_STDOUT,	/* standard output: flushed, never closed */
	OUT_TEMP,	/* temporary file renamed over path on commit */
	OUT_DIRECT,	/* existing device or fifo: written in place */
};

struct qf_out {
	FILE *f;
	enum out_kind kind;
	int slot;	/* registry slot of the temporary file, or -1 */
	char path[];	/* destination as given */
};

/*
 * The registry of pending temporary files, for qf_out_cleanup_all(),
 * which may run in a signal handler on any thread.  A slot is FREE,
 * CLAIMED (its path being built) or LIVE (a file exists at its path);
 * the handler only reads LIVE slots, whose path never changes.
 */
#define REG_MAX 64
enum { SLOT_FREE, SLOT_CLAIMED, SLOT_LIVE };

static atomic_int reg_state[REG_MAX];
static char reg_path[REG_MAX][PATH_MAX];

/* ".NAME.tmp.XXXXXX" minus NAME */
#define TMP_EXTRA (sizeof "..tmp.XXXXXX" - 1)

static int claim_slot(void)
{
	for (int i = 0; i < REG_MAX; i++) {
		int expect = SLOT_FREE;

		if (atomic_compare_exchange_strong(&reg_state[i], &expect,
						   SLOT_CLAIMED))
			return i;
	}
	return -1;
}

static void release_slot(int slot)
{
	if (slot >= 0)
		atomic_store(&reg_state[slot], SLOT_FREE);
}

void qf_out_cleanup_all(void)
{
	int saved = errno;

	for (int i = 0; i < REG_MAX; i++)
		if (atomic_load(&reg_state[i]) == SLOT_LIVE)
			unlink(reg_path[i]);
	errno = saved;
}

static void block_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, old);
}

static void restore_signals(const sigset_t *old)
{
	int saved = errno;

	sigprocmask(SIG_SETMASK, old, NULL);
	errno = saved;
}

/* The mode of a newly created file: 0666 less the umask. */
static mode_t file_mode(void)
{
	mode_t mask = umask(0);

	umask(mask);
	return 0666 & ~mask;
}

/* True when fd is a pipe whose read end has been closed. */
static int pipe_broken(int fd)
{
	struct stat st;
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode))
		return 0;
	return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

int qf_out_flush_check(FILE *f)
{
	int e;

	errno = 0;
	if (fflush(f) != 0)
		e = errno;
	else if (ferror(f))
		e = pipe_broken(fileno(f)) ? EPIPE : 0;
	else
		return 0;
	if (e == EPIPE)
		qf_epipe_seen = 1;
	errno = e;
	return -1;
}

/* "NAME: what: strerror(e)", or without the cause when e is 0. */
static int out_fail(qf_err *err, const char *name, const char *what, int e)
{
	if (e == EPIPE)
		qf_epipe_seen = 1;
	if (!e)
		return qf_err_set(err, "%s: %s", name, what);
	return qf_err_set(err, "%s: %s: %s", name, what, strerror(e));
}

static qf_out *out_new(const char *path, enum out_kind kind, qf_err *err)
{
	size_t n = strlen(path) + 1;
	qf_out *o = malloc(sizeof *o + n);

	if (!o) {
		out_fail(err, path, "cannot create", ENOMEM);
		return NULL;
	}
	o->f = NULL;
	o->kind = kind;
	o->slot = -1;
	memcpy(o->path, path, n);
	return o;
}

/* Build "DIR/.NAME.tmp.XXXXXX" for path into buf (PATH_MAX bytes);
 * returns 0 or an errno value. */
static int make_template(char *buf, const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dlen = (size_t)(base - path), blen = strlen(base);

	if (!blen)
		return EISDIR;
	if (blen > NAME_MAX - TMP_EXTRA)
		blen = NAME_MAX - TMP_EXTRA;
	if (dlen + blen + TMP_EXTRA >= PATH_MAX)
		return ENAMETOOLONG;
	snprintf(buf, PATH_MAX, "%.*s.%.*s.tmp.XXXXXX", (int)dlen, path,
		 (int)blen, base);
	return 0;
}

/* Create the temporary file of slot and mark the slot live, with the
 * cleanup signals held off so that no file escapes the registry. */
static int create_temp(int slot)
{
	sigset_t old;
	int fd;

	block_signals(&old);
	fd = mkostemp(reg_path[slot], O_CLOEXEC);
	if (fd >= 0)
		atomic_store(&reg_state[slot], SLOT_LIVE);
	restore_signals(&old);
	return fd;
}

static qf_out *open_temp(qf_out *o, qf_err *err)
{
	int e, fd;

	o->slot = claim_slot();
	if (o->slot < 0) {
		qf_err_set(err, "%s: cannot create: too many open output files",
			   o->path);
		goto fail;
	}
	e = make_template(reg_path[o->slot], o->path);
	if (e) {
		out_fail(err, o->path, "cannot create", e);
		goto fail;
	}
	fd = create_temp(o->slot);
	if (fd < 0) {
		out_fail(err, o->path, "cannot create", errno);
		goto fail;
	}
	fchmod(fd, file_mode());
	o->f = fdopen(fd, "wb");
	if (!o->f) {
		e = errno;
		close(fd);
		unlink(reg_path[o->slot]);
		out_fail(err, o->path, "cannot create", e);
		goto fail;
	}
	return o;
fail:
	release_slot(o->slot);
	free(o);
	return NULL;
}

static qf_out *open_direct(qf_out *o, qf_err *err)
{
	o->f = fopen(o->path, "wbe");
	if (!o->f) {
		out_fail(err, o->path, "cannot open", errno);
		free(o);
		return NULL;
	}
	return o;
}

qf_out *qf_out_open(const char *path, qf_err *err)
{
	struct stat st;
	qf_out *o;

	if (!path || strcmp(path, "-") == 0) {
		o = out_new("-", OUT_STDOUT, err);
		if (o)
			o->f = stdout;
		return o;
	}
	if (!*path) {
		qf_err_set(err, "empty output file name");
		return NULL;
	}
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode)) {
			out_fail(err, path, "cannot create", EISDIR);
			return NULL;
		}
		/* /dev/null, /dev/stdout, a fifo: write there, never
		 * replace it */
		o = out_new(path, OUT_DIRECT, err);
		return o ? open_direct(o, err) : NULL;
	}
	o = out_new(path, OUT_TEMP, err);
	return o ? open_temp(o, err) : NULL;
}

FILE *qf_out_file(qf_out *o)
{
	return o->f;
}

const char *qf_out_name(const qf_out *o)
{
	return o->kind == OUT_STDOUT ? "<stdout>" : o->path;
}

/* Flush, check and close o->f; 0 or -1 with err set. */
static int close_file(qf_out *o, qf_err *err)
{
	int rc = 0;

	if (qf_out_flush_check(o->f) < 0)
		rc = out_fail(err, o->path, "write error", errno);
	if (fclose(o->f) != 0 && rc == 0)
		rc = out_fail(err, o->path, "cannot close", errno);
	o->f = NULL;
	return rc;
}

static int commit_temp(qf_out *o, qf_err *err)
{
	const char *tmp = reg_path[o->slot];
	int rc = close_file(o, err);

	if (rc == 0 && rename(tmp, o->path) != 0)
		rc = out_fail(err, o->path, "cannot rename temporary file",
			      errno);
	if (rc < 0)
		unlink(tmp);
	release_slot(o->slot);
	return rc;
}

int qf_out_commit(qf_out *o, qf_err *err)
{
	int rc = 0;

	if (!o)
		return 0;
	switch (o->kind) {
	case OUT_STDOUT:
		if (qf_out_flush_check(o->f) < 0)
			rc = out_fail(err, qf_out_name(o), "write error", errno);
		break;
	case OUT_DIRECT:
		rc = close_file(o, err);
		break;
	case OUT_TEMP:
		rc = commit_temp(o, err);
		break;
	}
	free(o);
	return rc;
}

void qf_out_abort(qf_out *o)
{
	if (!o)
		return;
	if (o->kind != OUT_STDOUT)
		fclose(o->f);
	if (o->kind == OUT_TEMP) {
		unlink(reg_path[o->slot]);
		release_slot(o->slot);
	}
	free(o);
}
