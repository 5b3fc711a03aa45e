/*
 * out.c - output files: a temporary file renamed into place, or, for a
 * device, a pipe or a descriptor named by /dev/fd/N and the like, the
 * thing itself written in place
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "stream/stream.h"


enum out_kind {
	OUT_STDOUT,	/* standard output: flushed, never closed */
	OUT_TEMP,	/* temporary file renamed over target on commit */
	OUT_DIRECT,	/* device, fifo or duplicated descriptor: in place */
};

struct qf_out {
	FILE *f;
	enum out_kind kind;
	int slot;	/* registry slot of the temporary file, or -1 */
	char *target;	/* OUT_TEMP: path with its links followed */
	char path[];	/* destination as given, for messages; then target */
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

int qf_out_pipe_broken(int fd)
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
		e = qf_out_pipe_broken(fileno(f)) ? EPIPE : 0;
	else
		return 0;
	errno = e;
	return -1;
}

/* "NAME: what: strerror(e)", or without the cause when e is 0. */
static int out_fail(qf_err *err, const char *name, const char *what, int e)
{
	if (!e)
		return qf_err_set(err, "%s: %s", name, what);
	qf_err_set(err, "%s: %s: %s", name, what, strerror(e));
	return qf_err_code(err, e);
}

/* A qf_out for path; target (NULL: none) is stored after it. */
static qf_out *out_new(const char *path, enum out_kind kind,
		       const char *target, qf_err *err)
{
	size_t n = strlen(path) + 1, t = target ? strlen(target) + 1 : 0;
	qf_out *o = malloc(sizeof *o + n + t);

	if (!o) {
		out_fail(err, path, "cannot create", ENOMEM);
		return NULL;
	}
	o->f = NULL;
	o->kind = kind;
	o->slot = -1;
	memcpy(o->path, path, n);
	o->target = NULL;
	if (target) {
		o->target = o->path + n;
		memcpy(o->target, target, t);
	}
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

/* The temporary file goes beside target, the file it will replace,
 * which is path itself unless path is a symbolic link. */
static qf_out *open_temp(const char *path, const char *target, qf_err *err)
{
	qf_out *o = out_new(path, OUT_TEMP, target, err);
	int e, fd;

	if (!o)
		return NULL;
	o->slot = claim_slot();
	if (o->slot < 0) {
		qf_err_set(err, "%s: cannot create: too many open output files",
			   o->path);
		goto fail;
	}
	e = make_template(reg_path[o->slot], o->target);
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

/* Written in place through fd, which the qf_out owns from here on. */
static qf_out *open_fd_file(const char *path, int fd, qf_err *err)
{
	qf_out *o = out_new(path, OUT_DIRECT, NULL, err);
	int e;

	if (o) {
		o->f = fdopen(fd, "wb");
		if (o->f)
			return o;
		e = errno;
		free(o);
		out_fail(err, path, "cannot open", e);
	}
	close(fd);
	return NULL;
}

/*
 * A device, fifo or socket, or a link in /proc that only the kernel can
 * follow: opened and written in place, since it cannot be replaced and
 * must not be.  Neither created (it exists) nor truncated (that means
 * nothing for these).  A regular file found here after all (the name was
 * replaced since it was looked at, or a /proc link leads to one) is
 * replaced like any other, never overwritten in place.
 */
static qf_out *open_device(const char *path, const char *target,
			   qf_err *err)
{
	struct stat st;
	int fd = open(target, O_WRONLY | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		out_fail(err, path, "cannot open", errno);
		return NULL;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		close(fd);
		return open_temp(path, target, err);
	}
	return open_fd_file(path, fd, err);
}

/* The same for qf_out_open_live: a regular file found there is written
 * in place too. */
static qf_out *open_device_live(const char *path, const char *target,
				qf_err *err)
{
	int fd = open(target, O_WRONLY | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		out_fail(err, path, "cannot open", errno);
		return NULL;
	}
	return open_fd_file(path, fd, err);
}

/*
 * /dev/stdout, /dev/fd/N, /proc/self/fd/N: descriptor N itself, through
 * a duplicate, at its offset and with its flags.  Opening the name again
 * would truncate the file that the shell opened (losing what >> was to
 * keep) and write from its start, over what was written there before;
 * replacing it would replace /dev/stdout, or the shell's file.
 */
static qf_out *open_fd(const char *path, int n, qf_err *err)
{
	int flags = fcntl(n, F_GETFL), fd;

	if (flags < 0) {
		out_fail(err, path, "cannot open", errno);
		return NULL;
	}
	if ((flags & O_ACCMODE) == O_RDONLY) {	/* also O_PATH */
		out_fail(err, path, "cannot open", EBADF);
		return NULL;
	}
	/* what the tool already printed to standard output comes first */
	if (n == STDOUT_FILENO)
		fflush(stdout);
	fd = fcntl(n, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		out_fail(err, path, "cannot open", errno);
		return NULL;
	}
	return open_fd_file(path, fd, err);
}

/* ---------------------------------------------------------------- where to */

/* Symbolic links followed before giving up, as many as Linux follows. */
#define MAX_HOPS 40

enum dest_kind {
	DEST_FILE,	/* a regular file or nothing yet: replaced */
	DEST_DEVICE,	/* anything else that exists: opened in place */
	DEST_FD,	/* one of this process's descriptors, by name */
};

/* What a destination leads to once its symbolic links are followed. */
struct dest {
	enum dest_kind kind;
	int fd;			/* DEST_FD */
	char path[PATH_MAX];	/* DEST_FILE, DEST_DEVICE */
};

/* N for a string of decimal digits that fits an int, else -1; no
 * leading zero, as /proc/self/fd has none. */
static int parse_fd(const char *s)
{
	long n = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (*s - '0');
		if (n > INT_MAX)
			return -1;
	}
	return (int)n;
}

/* The directory of path into buf (PATH_MAX bytes, path shorter):
 * "." when path has no slash, "/" for a name in the root. */
static void dir_of(char *buf, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash) {
		strcpy(buf, ".");
		return;
	}
	n = slash == path ? 1 : (size_t)(slash - path);
	memcpy(buf, path, n);
	buf[n] = '\0';
}

/* True when dir is this process's (or thread's) descriptor directory in
 * /proc, by whatever name: /proc/self/fd, /dev/fd, /proc/PID/fd, ... */
static int own_fd_dir(const char *dir)
{
	char real[PATH_MAX], mine[64];

	if (!realpath(dir, real))
		return 0;
	snprintf(mine, sizeof mine, "/proc/%ld/fd", (long)getpid());
	if (strcmp(real, mine) == 0)
		return 1;
	snprintf(mine, sizeof mine, "/proc/%ld/task/%ld/fd", (long)getpid(),
		 (long)gettid());
	return strcmp(real, mine) == 0;
}

/*
 * The descriptor that path names, or -1: /dev/stdin, /dev/stdout,
 * /dev/stderr and /dev/fd/N by name (so that they hold without /proc),
 * and N in our own descriptor directory of /proc.
 */
static int named_fd(const char *path)
{
	static const char *const std[] = {
		"/dev/stdin", "/dev/stdout", "/dev/stderr",
	};
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int n;

	for (int i = 0; i < 3; i++)
		if (strcmp(path, std[i]) == 0)
			return i;
	if (strncmp(path, "/dev/fd/", 8) == 0)
		return parse_fd(path + 8);
	n = parse_fd(slash ? slash + 1 : path);
	if (n < 0)
		return -1;
	dir_of(dir, path);
	return own_fd_dir(dir) ? n : -1;
}

/* True when the directory of path is in /proc, whose symbolic links
 * (/proc/PID/fd/N, /proc/self/exe, ...) are not paths to follow by
 * their text: "pipe:[1234]", "/tmp/x (deleted)", a running program. */
static int in_proc(const char *path)
{
	char dir[PATH_MAX];
	struct statfs sf;

	dir_of(dir, path);
	return statfs(dir, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
}

/* Replace path (PATH_MAX bytes) by the target of the symbolic link it
 * names; a relative target is relative to the link's directory.
 * Returns 0 or an errno value. */
static int follow_link(char *path)
{
	char target[PATH_MAX];
	const char *slash = strrchr(path, '/');
	ssize_t n = readlink(path, target, sizeof target);
	size_t dlen;

	if (n < 0)
		return errno;
	if (n == 0)
		return ENOENT;
	if ((size_t)n >= sizeof target)
		return ENAMETOOLONG;
	target[n] = '\0';
	dlen = target[0] != '/' && slash ? (size_t)(slash - path) + 1 : 0;
	if (dlen + (size_t)n >= PATH_MAX)
		return ENAMETOOLONG;
	memcpy(path + dlen, target, (size_t)n + 1);
	return 0;
}

/*
 * Follow path's symbolic links ourselves, so that a link is written
 * through, not replaced: 0 with d filled in, or an errno value.  What
 * does not exist (also at the end of a dangling link) is a new file,
 * created in its own directory as echo > path would create it.
 */
static int resolve(const char *path, struct dest *d)
{
	struct stat st;
	int e;

	if (strlen(path) >= sizeof d->path)
		return ENAMETOOLONG;
	strcpy(d->path, path);
	for (int hops = 0;; hops++) {
		d->fd = named_fd(d->path);
		if (d->fd >= 0) {
			d->kind = DEST_FD;
			return 0;
		}
		if (lstat(d->path, &st) != 0) {
			if (errno != ENOENT)
				return errno;
			d->kind = DEST_FILE;
			return 0;
		}
		if (!S_ISLNK(st.st_mode))
			break;
		if (in_proc(d->path)) {
			d->kind = DEST_DEVICE;
			return 0;
		}
		if (hops == MAX_HOPS)
			return ELOOP;
		e = follow_link(d->path);
		if (e)
			return e;
	}
	if (S_ISDIR(st.st_mode))
		return EISDIR;
	d->kind = S_ISREG(st.st_mode) ? DEST_FILE : DEST_DEVICE;
	return 0;
}

/* A regular file (or none yet) for qf_out_open_live: created or
 * truncated where the links lead, written as it goes. */
static qf_out *open_live_file(const char *path, const char *target,
			      qf_err *err)
{
	int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY |
		      O_CLOEXEC, 0666);

	if (fd < 0) {
		out_fail(err, path, "cannot create", errno);
		return NULL;
	}
	return open_fd_file(path, fd, err);
}

/* Where path leads, opened atomically (live 0) or as it goes (live 1). */
static qf_out *open_path(const char *path, int live, qf_err *err)
{
	struct dest d;
	qf_out *o;
	int e;

	if (!path || strcmp(path, "-") == 0) {
		o = out_new("-", OUT_STDOUT, NULL, err);
		if (o)
			o->f = stdout;
		return o;
	}
	if (!*path) {
		qf_err_set(err, "empty output file name");
		return NULL;
	}
	e = resolve(path, &d);
	if (e) {
		out_fail(err, path, "cannot create", e);
		return NULL;
	}
	switch (d.kind) {
	case DEST_FD:
		return open_fd(path, d.fd, err);
	case DEST_DEVICE:
		return live ? open_device_live(path, d.path, err) :
			      open_device(path, d.path, err);
	case DEST_FILE:
		break;
	}
	return live ? open_live_file(path, d.path, err) :
		      open_temp(path, d.path, err);
}

qf_out *qf_out_open(const char *path, qf_err *err)
{
	return open_path(path, 0, err);
}

qf_out *qf_out_open_live(const char *path, qf_err *err)
{
	return open_path(path, 1, err);
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

	if (rc == 0 && rename(tmp, o->target) != 0)
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
