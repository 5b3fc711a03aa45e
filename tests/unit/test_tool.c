/* test_tool.c - tool support (lib/tool/tool.c) and atomic output (lib/stream/out.c) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qf.h"
#include "unit.h"

/* ------------------------------------------------------------ helpers */

static char g_dir[4096];	/* scratch directory of the current test */

static void scratch_new(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(g_dir, sizeof g_dir, "%s/qf-test-tool.XXXXXX",
		 t && *t ? t : "/tmp");
	if (!mkdtemp(g_dir)) {
		perror(g_dir);
		exit(1);
	}
}

static void rm_tree(const char *dir)
{
	char p[8192];
	struct dirent *d;
	struct stat st;
	DIR *dp = opendir(dir);

	while (dp && (d = readdir(dp))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, d->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			chmod(p, 0700);
			rm_tree(p);
		} else {
			unlink(p);
		}
	}
	if (dp)
		closedir(dp);
	rmdir(dir);
}

static void scratch_rm(void)
{
	rm_tree(g_dir);
}

static const char *in_dir(const char *name)
{
	static char p[2][8192];
	static int k;

	k ^= 1;
	snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
	return p[k];
}

/* Entries of dir (without . and ..); the name of one of them into first. */
static int dir_count(const char *dir, char *first, size_t n)
{
	struct dirent *d;
	DIR *dp = opendir(dir);
	int count = 0;

	if (first && n)
		first[0] = '\0';
	while (dp && (d = readdir(dp))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (count++ == 0 && first)
			snprintf(first, n, "%s", d->d_name);
	}
	if (dp)
		closedir(dp);
	return count;
}

static const char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "rb");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return f ? buf : NULL;
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

/* A child process: fork with stdout on outfd (unless -1) and stderr
 * captured; fn's return value is the exit status. */
struct child {
	pid_t pid;
	FILE *errf;
	int status;
	char err[4096];
};

static void child_start(struct child *c, int outfd)
{
	fflush(NULL);
	c->errf = tmpfile();
	c->pid = fork();
	if (c->pid != 0)
		return;
	if (outfd >= 0)
		dup2(outfd, STDOUT_FILENO);
	if (c->errf)
		dup2(fileno(c->errf), STDERR_FILENO);
	alarm(20);
}

static void child_wait(struct child *c)
{
	size_t n = 0;

	c->status = -1;
	if (c->pid > 0)
		waitpid(c->pid, &c->status, 0);
	if (c->errf) {
		rewind(c->errf);
		n = fread(c->err, 1, sizeof c->err - 1, c->errf);
		fclose(c->errf);
	}
	c->err[n] = '\0';
}

static void run_child(struct child *c, int outfd, int (*fn)(void))
{
	child_start(c, outfd);
	if (c->pid == 0)
		_exit(fn());
	child_wait(c);
}

static int exited(const struct child *c, int code)
{
	return WIFEXITED(c->status) && WEXITSTATUS(c->status) == code;
}

static int killed_by(const struct child *c, int sig)
{
	return WIFSIGNALED(c->status) && WTERMSIG(c->status) == sig;
}

static int prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static void write_lots(FILE *f)
{
	static char block[65536];

	memset(block, 'x', sizeof block);
	for (int i = 0; i < 64; i++)
		fwrite(block, 1, sizeof block, f);
}

/* ------------------------------------------------------------ parsing */

static void test_parse_u64(void)
{
	uint64_t v = 7;
	qf_err e;

	CHECK(qf_parse_u64("0", 10, &v, &e) == 0 && v == 0);
	CHECK(qf_parse_u64("10", 10, &v, &e) == 0 && v == 10);
	CHECK(qf_parse_u64("007", 10, &v, &e) == 0 && v == 7);
	CHECK(qf_parse_u64("18446744073709551615", UINT64_MAX, &v, &e) == 0 &&
	      v == UINT64_MAX);

	v = 42;
	CHECK(qf_parse_u64("11", 10, &v, &e) == -1 && v == 42);
	CHECK_STR(e.msg, "'11' is larger than 10");
	CHECK(qf_parse_u64("18446744073709551616", UINT64_MAX, &v, &e) == -1);
	CHECK_STR(e.msg, "'18446744073709551616' is larger than "
		  "18446744073709551615");
	CHECK(qf_parse_u64("99999999999999999999999", 100, &v, &e) == -1);
	CHECK_STR(e.msg, "'99999999999999999999999' is larger than 100");

	static const char *bad[] = {
		"", "-1", "+1", " 1", "1 ", "1x", "0x10", "1.0", "1e3", "٣",
		"99999999999999999999x",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char want[128];

		snprintf(want, sizeof want, "invalid number '%s'", bad[i]);
		CHECKF(qf_parse_u64(bad[i], UINT64_MAX, &v, &e) == -1,
		       "'%s'", bad[i]);
		CHECK_STR(e.msg, want);
	}
	CHECK(v == 42);
	CHECK(qf_parse_u64(NULL, 10, &v, &e) == -1);
	CHECK_STR(e.msg, "invalid number ''");
	CHECK(qf_parse_u64("x", 10, &v, NULL) == -1);
}

static void test_parse_double(void)
{
	double d = 0;
	qf_err e;

	CHECK(qf_parse_double("1.5", &d, &e) == 0 && d == 1.5);
	CHECK(qf_parse_double("-2", &d, &e) == 0 && d == -2);
	CHECK(qf_parse_double("+0.25", &d, &e) == 0 && d == 0.25);
	CHECK(qf_parse_double("1e3", &d, &e) == 0 && d == 1000);
	CHECK(qf_parse_double(".5", &d, &e) == 0 && d == 0.5);
	CHECK(qf_parse_double("1e-310", &d, &e) == 0 && d > 0);

	d = 9;
	static const char *bad[] = {
		"", " 1", "1 ", "1.5x", "abc", "inf", "-inf", "nan", "1e999",
		"-1e999", "1,5", "e3",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char want[128];

		snprintf(want, sizeof want, "invalid number '%s'", bad[i]);
		CHECKF(qf_parse_double(bad[i], &d, &e) == -1, "'%s'", bad[i]);
		CHECK_STR(e.msg, want);
	}
	CHECK(d == 9);
	CHECK(qf_parse_double(NULL, &d, &e) == -1);
}

static void test_threads(void)
{
	char *saved = getenv("QF_THREADS");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	qf_err e;

	saved = saved ? strdup(saved) : NULL;
	unsetenv("QF_THREADS");
	CHECK(qf_tool_threads("4", &e) == 4);
	CHECK(qf_tool_threads("1", &e) == 1);
	CHECK(qf_tool_threads("1024", &e) == 1024);
	CHECK(qf_tool_threads("0", &e) == -1);
	CHECK_STR(e.msg, "invalid thread count '0'");
	CHECK(qf_tool_threads("1025", &e) == -1);
	CHECK_STR(e.msg, "invalid thread count '1025'");
	CHECK(qf_tool_threads("-2", &e) == -1);
	CHECK(qf_tool_threads("", &e) == -1);
	CHECK_STR(e.msg, "invalid thread count ''");
	CHECK(qf_tool_threads(NULL, &e) == (ncpu > 1024 ? 1024 : ncpu));

	setenv("QF_THREADS", "3", 1);
	CHECK(qf_tool_threads(NULL, &e) == 3);
	CHECK(qf_tool_threads("5", &e) == 5);	/* -j wins */
	setenv("QF_THREADS", "abc", 1);
	CHECK(qf_tool_threads(NULL, &e) == -1);
	CHECK_STR(e.msg, "invalid thread count 'abc' (from QF_THREADS)");
	CHECK(qf_tool_threads("2", &e) == 2);	/* not even looked at */
	setenv("QF_THREADS", "0", 1);
	CHECK(qf_tool_threads(NULL, &e) == -1);
	CHECK_STR(e.msg, "invalid thread count '0' (from QF_THREADS)");
	setenv("QF_THREADS", " 8", 1);
	CHECK(qf_tool_threads(NULL, &e) == -1);
	setenv("QF_THREADS", "", 1);	/* empty: as if unset */
	CHECK(qf_tool_threads(NULL, &e) == (ncpu > 1024 ? 1024 : ncpu));

	if (saved)
		setenv("QF_THREADS", saved, 1);
	else
		unsetenv("QF_THREADS");
	free(saved);
}

/* ------------------------------------------------------------ output files */

static void test_out_commit(void)
{
	char name[1024], tmp[8192], cwd[4096];
	mode_t old = umask(022);
	qf_err e;
	qf_out *o;

	scratch_new();
	o = qf_out_open(in_dir("a.qf"), &e);
	CHECK(o != NULL);
	if (!o)
		goto out;
	CHECK_STR(qf_out_name(o), in_dir("a.qf"));
	CHECK(fputs("hello\n", qf_out_file(o)) >= 0);
	/* before the commit: only the temporary file, beside the target */
	CHECK(dir_count(g_dir, name, sizeof name) == 1);
	CHECKF(prefix(name, ".a.qf.tmp.") && strlen(name) == 16, "%s", name);
	snprintf(tmp, sizeof tmp, "%s/%s", g_dir, name);
	CHECK(file_mode(tmp) == 0644);
	CHECK(qf_out_commit(o, &e) == 0);
	CHECK(dir_count(g_dir, name, sizeof name) == 1);
	CHECK_STR(name, "a.qf");
	CHECK_STR(slurp(in_dir("a.qf")), "hello\n");
	CHECK(file_mode(in_dir("a.qf")) == 0644);

	/* replacing an existing file; the umask is honoured */
	umask(077);
	o = qf_out_open(in_dir("a.qf"), &e);
	CHECK(o != NULL);
	if (o) {
		fputs("bye\n", qf_out_file(o));
		CHECK_STR(slurp(in_dir("a.qf")), "hello\n");
		CHECK(qf_out_commit(o, &e) == 0);
	}
	CHECK_STR(slurp(in_dir("a.qf")), "bye\n");
	CHECK(file_mode(in_dir("a.qf")) == 0600);
	CHECK(dir_count(g_dir, NULL, 0) == 1);

	/* a relative path: the temporary file goes beside it, in "." */
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	CHECK(chdir(g_dir) == 0);
	o = qf_out_open("b.qf", &e);
	CHECK(o != NULL);
	if (o) {
		CHECK(dir_count(".", NULL, 0) == 2);
		CHECK(qf_out_commit(o, &e) == 0);
	}
	CHECK(slurp("b.qf") && !*slurp("b.qf"));
	CHECK(dir_count(".", NULL, 0) == 2);
	CHECK(chdir(cwd) == 0);
out:
	umask(old);
	scratch_rm();
}

static void test_out_abort(void)
{
	qf_err e;
	qf_out *o;

	scratch_new();
	put_file(in_dir("a.qf"), "keep\n");
	o = qf_out_open(in_dir("a.qf"), &e);
	CHECK(o != NULL);
	if (o) {
		fputs("lost\n", qf_out_file(o));
		CHECK(dir_count(g_dir, NULL, 0) == 2);
		qf_out_abort(o);
	}
	CHECK_STR(slurp(in_dir("a.qf")), "keep\n");
	CHECK(dir_count(g_dir, NULL, 0) == 1);

	o = qf_out_open(in_dir("new.qf"), &e);
	CHECK(o != NULL);
	qf_out_abort(o);
	CHECK(dir_count(g_dir, NULL, 0) == 1);
	qf_out_abort(NULL);
	CHECK(qf_out_commit(NULL, &e) == 0);
	scratch_rm();
}

static void test_out_open_errors(void)
{
	char want[8192];
	qf_err e;

	scratch_new();
	CHECK(qf_out_open(in_dir("nodir/x.qf"), &e) == NULL);
	snprintf(want, sizeof want,
		 "%s/nodir/x.qf: cannot create: No such file or directory",
		 g_dir);
	CHECK_STR(e.msg, want);

	CHECK(qf_out_open(g_dir, &e) == NULL);
	snprintf(want, sizeof want, "%s: cannot create: Is a directory",
		 g_dir);
	CHECK_STR(e.msg, want);

	CHECK(qf_out_open(in_dir("new/"), &e) == NULL);
	snprintf(want, sizeof want, "%s/new/: cannot create: Is a directory",
		 g_dir);
	CHECK_STR(e.msg, want);

	CHECK(qf_out_open("", &e) == NULL);
	CHECK_STR(e.msg, "empty output file name");

	if (geteuid() != 0) {
		CHECK(mkdir(in_dir("ro"), 0555) == 0);
		CHECK(qf_out_open(in_dir("ro/x.qf"), &e) == NULL);
		snprintf(want, sizeof want,
			 "%s/ro/x.qf: cannot create: Permission denied", g_dir);
		CHECK_STR(e.msg, want);
		CHECK(dir_count(in_dir("ro"), NULL, 0) == 0);
	}
	CHECK(dir_count(g_dir, NULL, 0) == (geteuid() != 0));
	scratch_rm();
}

/* A name of NAME_MAX bytes: the temporary name is shortened to fit. */
static void test_out_long_name(void)
{
	char base[256];
	qf_err e;
	qf_out *o;

	scratch_new();
	memset(base, 'n', 255);
	base[255] = '\0';
	o = qf_out_open(in_dir(base), &e);
	CHECKF(o != NULL, "%s", e.msg);
	if (o) {
		fputs("long\n", qf_out_file(o));
		CHECK(qf_out_commit(o, &e) == 0);
	}
	CHECK_STR(slurp(in_dir(base)), "long\n");
	CHECK(dir_count(g_dir, NULL, 0) == 1);
	scratch_rm();
}

/* Commit failures: the data could not be written, or not renamed. */
static void test_out_commit_errors(void)
{
	char want[8192];
	struct stat st;
	qf_err e;
	qf_out *o;

	/* a device is written in place, never replaced */
	o = qf_out_open("/dev/null", &e);
	CHECK(o != NULL);
	if (o) {
		CHECK_STR(qf_out_name(o), "/dev/null");
		fputs("gone\n", qf_out_file(o));
		CHECK(qf_out_commit(o, &e) == 0);
	}
	CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));

	o = qf_out_open("/dev/full", &e);
	CHECK(o != NULL);
	if (o) {
		fputs("small\n", qf_out_file(o));
		CHECK(qf_out_commit(o, &e) == -1);
		CHECK_STR(e.msg, "/dev/full: write error: "
			  "No space left on device");
	}
	o = qf_out_open("/dev/full", &e);
	CHECK(o != NULL);
	if (o) {
		write_lots(qf_out_file(o));	/* fails early, unchecked */
		CHECK(qf_out_commit(o, &e) == -1);
		CHECK_STR(e.msg, "/dev/full: write error");
	}

	/* the rename fails: the target became a non-empty directory */
	scratch_new();
	o = qf_out_open(in_dir("d"), &e);
	CHECK(o != NULL);
	if (o) {
		fputs("data\n", qf_out_file(o));
		CHECK(mkdir(in_dir("d"), 0777) == 0);
		put_file(in_dir("d/f"), "x");
		CHECK(qf_out_commit(o, &e) == -1);
		snprintf(want, sizeof want, "%s/d: cannot rename temporary "
			 "file: Is a directory", g_dir);
		CHECK_STR(e.msg, want);
	}
	CHECK(dir_count(g_dir, NULL, 0) == 1);
	scratch_rm();
}

static int child_stdout_commit(void)
{
	qf_err e;
	qf_out *o = qf_out_open("-", &e);

	if (!o || qf_out_file(o) != stdout || strcmp(qf_out_name(o), "<stdout>"))
		return 10;
	fputs("to stdout\n", qf_out_file(o));
	if (qf_out_commit(o, &e) != 0)
		return 11;
	/* standard output is still open */
	if (fputs("more\n", stdout) < 0 || fflush(stdout) != 0)
		return 12;
	o = qf_out_open(NULL, &e);
	if (!o || qf_out_file(o) != stdout)
		return 13;
	qf_out_abort(o);
	return 0;
}

static void test_out_stdout(void)
{
	struct child c;
	FILE *f = tmpfile();
	char buf[64] = "";
	size_t n;

	if (!f) {
		CHECK(f != NULL);
		return;
	}
	run_child(&c, fileno(f), child_stdout_commit);
	CHECKF(exited(&c, 0), "status %#x", c.status);
	rewind(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	CHECK_STR(buf, "to stdout\nmore\n");
	CHECK_STR(c.err, "");
	fclose(f);
}

static void test_out_cleanup_all(void)
{
	qf_out *a, *b;
	qf_err e;

	scratch_new();
	a = qf_out_open(in_dir("a"), &e);
	b = qf_out_open(in_dir("b"), &e);
	CHECK(a && b);
	CHECK(dir_count(g_dir, NULL, 0) == 2);
	qf_out_cleanup_all();
	CHECK(dir_count(g_dir, NULL, 0) == 0);
	qf_out_abort(a);
	qf_out_abort(b);
	CHECK(dir_count(g_dir, NULL, 0) == 0);
	scratch_rm();
}

/* The registry of temporary files has 64 places. */
static void test_out_many(void)
{
	qf_out *o[65];
	char name[32];
	qf_err e;
	int n = 0;

	scratch_new();
	for (n = 0; n < 64; n++) {
		snprintf(name, sizeof name, "f%d", n);
		o[n] = qf_out_open(in_dir(name), &e);
		if (!o[n])
			break;
	}
	CHECKF(n == 64, "%d: %s", n, e.msg);
	CHECK(qf_out_open(in_dir("one-more"), &e) == NULL);
	CHECK(strstr(e.msg, "one-more: cannot create: too many open "
		     "output files") != NULL);
	while (n > 0)
		qf_out_abort(o[--n]);
	CHECK(dir_count(g_dir, NULL, 0) == 0);
	o[0] = qf_out_open(in_dir("again"), &e);
	CHECK(o[0] != NULL);
	CHECK(qf_out_commit(o[0], &e) == 0);
	CHECK(dir_count(g_dir, NULL, 0) == 1);
	scratch_rm();
}

/* ------------------------------------------------------------ destinations */

/* True when path is a symbolic link to target. */
static int is_link_to(const char *path, const char *target)
{
	char buf[4096];
	struct stat st;
	ssize_t n;

	if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode))
		return 0;
	n = readlink(path, buf, sizeof buf - 1);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	return strcmp(buf, target) == 0;
}

/* Write text to path through qf_out; the error message or "" into e. */
static int out_put(const char *path, const char *text, qf_err *e)
{
	qf_out *o = qf_out_open(path, e);

	if (!o)
		return -1;
	fputs(text, qf_out_file(o));
	return qf_out_commit(o, e);
}

/* A link is written through: the temporary file is beside the target,
 * the target gets the data, the link stays a link. */
static void test_out_symlink(void)
{
	char cwd[4096], abs_l[8192];
	qf_err e;
	qf_out *o;

	scratch_new();
	CHECK(mkdir(in_dir("d1"), 0777) == 0);
	CHECK(mkdir(in_dir("d2"), 0777) == 0);
	put_file(in_dir("d2/t"), "old\n");
	CHECK(symlink("../d2/t", in_dir("d1/l")) == 0);
	o = qf_out_open(in_dir("d1/l"), &e);
	CHECKF(o != NULL, "%s", e.msg);
	if (o) {
		CHECK_STR(qf_out_name(o), in_dir("d1/l"));
		fputs("new\n", qf_out_file(o));
		CHECK(dir_count(in_dir("d1"), NULL, 0) == 1);
		CHECK(dir_count(in_dir("d2"), NULL, 0) == 2);
		CHECK_STR(slurp(in_dir("d2/t")), "old\n");
		CHECK(qf_out_commit(o, &e) == 0);
	}
	CHECK(is_link_to(in_dir("d1/l"), "../d2/t"));
	CHECK_STR(slurp(in_dir("d2/t")), "new\n");
	CHECK(dir_count(in_dir("d2"), NULL, 0) == 1);

	/* a chain: an absolute link to the relative one */
	snprintf(abs_l, sizeof abs_l, "%s", in_dir("d1/l"));
	CHECK(symlink(abs_l, in_dir("l2")) == 0);
	CHECK(out_put(in_dir("l2"), "chain\n", &e) == 0);
	CHECK(is_link_to(in_dir("l2"), abs_l));
	CHECK(is_link_to(in_dir("d1/l"), "../d2/t"));
	CHECK_STR(slurp(in_dir("d2/t")), "chain\n");

	/* aborted: the target is untouched, nothing is left */
	o = qf_out_open(in_dir("l2"), &e);
	CHECK(o != NULL);
	if (o) {
		fputs("lost\n", qf_out_file(o));
		qf_out_abort(o);
	}
	CHECK_STR(slurp(in_dir("d2/t")), "chain\n");
	CHECK(dir_count(in_dir("d2"), NULL, 0) == 1);

	/* a relative path to the link, from another directory */
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	CHECK(chdir(in_dir("d2")) == 0);
	CHECK(out_put("../d1/l", "rel\n", &e) == 0);
	CHECK(chdir(cwd) == 0);
	CHECK_STR(slurp(in_dir("d2/t")), "rel\n");
	CHECK(is_link_to(in_dir("d1/l"), "../d2/t"));
	CHECK(dir_count(g_dir, NULL, 0) == 3);
	CHECK(dir_count(in_dir("d1"), NULL, 0) == 1);
	CHECK(dir_count(in_dir("d2"), NULL, 0) == 1);
	scratch_rm();
}

/* A dangling link: its target is created, in the target's directory. */
static void test_out_dangling(void)
{
	char want[8192];
	qf_err e;
	qf_out *o;
	struct stat st;

	scratch_new();
	CHECK(mkdir(in_dir("sub"), 0777) == 0);
	CHECK(symlink("sub/new", in_dir("dang")) == 0);
	o = qf_out_open(in_dir("dang"), &e);
	CHECKF(o != NULL, "%s", e.msg);
	if (o) {
		fputs("made\n", qf_out_file(o));
		CHECK(dir_count(in_dir("sub"), NULL, 0) == 1);	/* the temp */
		CHECK(dir_count(g_dir, NULL, 0) == 2);
		CHECK(qf_out_commit(o, &e) == 0);
	}
	CHECK(is_link_to(in_dir("dang"), "sub/new"));
	CHECK(lstat(in_dir("sub/new"), &st) == 0 && S_ISREG(st.st_mode));
	CHECK_STR(slurp(in_dir("sub/new")), "made\n");
	CHECK(dir_count(in_dir("sub"), NULL, 0) == 1);

	/* into a directory that does not exist: an error, nothing made */
	CHECK(symlink("nodir/x", in_dir("dang2")) == 0);
	CHECK(qf_out_open(in_dir("dang2"), &e) == NULL);
	snprintf(want, sizeof want,
		 "%s/dang2: cannot create: No such file or directory", g_dir);
	CHECK_STR(e.msg, want);
	CHECK(is_link_to(in_dir("dang2"), "nodir/x"));
	CHECK(dir_count(g_dir, NULL, 0) == 3);
	scratch_rm();
}

/* Loops and over-long chains are ELOOP; 40 links are followed. */
static void test_out_link_loop(void)
{
	char want[8192], name[32], next[32];
	qf_err e;

	scratch_new();
	CHECK(symlink("b", in_dir("a")) == 0);
	CHECK(symlink("a", in_dir("b")) == 0);
	CHECK(symlink("self", in_dir("self")) == 0);
	CHECK(qf_out_open(in_dir("a"), &e) == NULL);
	snprintf(want, sizeof want, "%s/a: cannot create: "
		 "Too many levels of symbolic links", g_dir);
	CHECK_STR(e.msg, want);
	CHECK(qf_out_open(in_dir("self"), &e) == NULL);
	CHECK(strstr(e.msg, "self: cannot create: Too many levels") != NULL);
	CHECK(is_link_to(in_dir("a"), "b"));
	CHECK(is_link_to(in_dir("self"), "self"));
	CHECK(dir_count(g_dir, NULL, 0) == 3);

	/* l0 -> l1 -> ... -> l40 -> file: 41 links, one too many */
	put_file(in_dir("file"), "old\n");
	for (int i = 0; i <= 40; i++) {
		snprintf(name, sizeof name, "l%d", i);
		snprintf(next, sizeof next, i == 40 ? "file" : "l%d", i + 1);
		CHECK(symlink(next, in_dir(name)) == 0);
	}
	CHECK(qf_out_open(in_dir("l0"), &e) == NULL);
	CHECK(strstr(e.msg, "l0: cannot create: Too many levels") != NULL);
	CHECK(out_put(in_dir("l1"), "forty\n", &e) == 0);
	CHECK_STR(slurp(in_dir("file")), "forty\n");
	CHECK(is_link_to(in_dir("l1"), "l2"));

	/* a link to a directory is a directory */
	CHECK(mkdir(in_dir("d"), 0777) == 0);
	CHECK(symlink("d", in_dir("dl")) == 0);
	CHECK(qf_out_open(in_dir("dl"), &e) == NULL);
	snprintf(want, sizeof want, "%s/dl: cannot create: Is a directory",
		 g_dir);
	CHECK_STR(e.msg, want);
	CHECK(dir_count(in_dir("d"), NULL, 0) == 0);
	CHECK(dir_count(g_dir, NULL, 0) == 3 + 1 + 41 + 2);
	scratch_rm();
}

/* A descriptor that is not open: dup a fresh one, close it. */
static int closed_fd(void)
{
	int fd = dup(STDERR_FILENO);

	if (fd >= 0)
		close(fd);
	return fd;
}

/* /proc/self/fd/N, /dev/fd/N, /proc/PID/fd/N and a link to one write to
 * descriptor N at its offset: no truncation, no new file, N stays open. */
static void test_out_fd(void)
{
	char p[4][64], want[8192];
	qf_err e;
	qf_out *o;
	int fd, rd, bad;

	scratch_new();
	put_file(in_dir("f"), "0123456789\n");
	fd = open(in_dir("f"), O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	if (fd < 0)
		goto out;
	CHECK(lseek(fd, 3, SEEK_SET) == 3);
	snprintf(p[0], sizeof p[0], "/proc/self/fd/%d", fd);
	snprintf(p[1], sizeof p[1], "/dev/fd/%d", fd);
	snprintf(p[2], sizeof p[2], "/proc/%ld/fd/%d", (long)getpid(), fd);
	CHECK(symlink(p[0], in_dir("link")) == 0);	/* as /dev/stdout is */
	snprintf(p[3], sizeof p[3], "%s", in_dir("link"));
	for (int i = 0; i < 4; i++) {
		o = qf_out_open(p[i], &e);
		CHECKF(o != NULL, "%s: %s", p[i], e.msg);
		if (!o)
			continue;
		CHECK_STR(qf_out_name(o), p[i]);
		fputc('a' + i, qf_out_file(o));
		CHECK(qf_out_commit(o, &e) == 0);
	}
	CHECK(fcntl(fd, F_GETFD) != -1);	/* still open, still ours */
	CHECK(write(fd, "|", 1) == 1);
	CHECK_STR(slurp(in_dir("f")), "012abcd|89\n");
	CHECK(is_link_to(in_dir("link"), p[0]));
	CHECK(dir_count(g_dir, NULL, 0) == 2);

	/* aborted: the descriptor stays open */
	o = qf_out_open(p[0], &e);
	CHECK(o != NULL);
	qf_out_abort(o);
	CHECK(fcntl(fd, F_GETFD) != -1);
	close(fd);

	/* O_APPEND, as >> opens: the earlier contents stay */
	fd = open(in_dir("f"), O_WRONLY | O_APPEND | O_CLOEXEC);
	CHECK(fd >= 0);
	snprintf(p[0], sizeof p[0], "/dev/fd/%d", fd);
	CHECK(out_put(p[0], "end\n", &e) == 0);
	CHECK_STR(slurp(in_dir("f")), "012abcd|89\nend\n");
	if (fd >= 0)
		close(fd);

	/* a closed descriptor, or one not open for writing: one error */
	bad = closed_fd();
	snprintf(p[0], sizeof p[0], "/dev/fd/%d", bad);
	snprintf(p[1], sizeof p[1], "/proc/self/fd/%d", bad);
	for (int i = 0; i < 2; i++) {
		CHECK(qf_out_open(p[i], &e) == NULL);
		snprintf(want, sizeof want, "%s: cannot open: "
			 "Bad file descriptor", p[i]);
		CHECK_STR(e.msg, want);
	}
	rd = open(in_dir("f"), O_RDONLY | O_CLOEXEC);
	snprintf(p[0], sizeof p[0], "/proc/self/fd/%d", rd);
	CHECK(qf_out_open(p[0], &e) == NULL);
	snprintf(want, sizeof want, "%s: cannot open: Bad file descriptor",
		 p[0]);
	CHECK_STR(e.msg, want);
	if (rd >= 0)
		close(rd);
	CHECK_STR(slurp(in_dir("f")), "012abcd|89\nend\n");
	CHECK(dir_count(g_dir, NULL, 0) == 2);
out:
	scratch_rm();
}

/* What the tool printed to standard output before comes before. */
static int child_proc_stdout(void)
{
	qf_err e;

	printf("a\n");
	if (out_put("/proc/self/fd/1", "b\n", &e) != 0)
		return 10;
	printf("c\n");
	return fflush(stdout) == 0 ? 0 : 11;
}

/*
 * /dev/stdout itself.  A wrong lib/stream/out.c may rename a temporary file
 * over it, for the whole machine when run as root, so the child bind-
 * mounts a scratch directory over /dev in a mount namespace of its own
 * first (private, so nothing is seen outside).  Without one it goes on
 * only if it cannot write to /dev, where nothing can go wrong; else the
 * test is skipped (77).
 */
static int child_dev_stdout(void)
{
	qf_err e;

	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount(in_dir("dev"), "/dev", NULL, MS_BIND, NULL) != 0) {
		if (access("/dev", W_OK) == 0)
			return 77;
	}
	printf("a\n");
	if (out_put("/dev/stdout", "b\n", &e) != 0)
		return 10;
	printf("c\n");
	return fflush(stdout) == 0 ? 0 : 11;
}

static void test_out_fd_stdout(void)
{
	int (*fns[])(void) = { child_proc_stdout, child_dev_stdout };
	struct child c;
	FILE *f;

	scratch_new();
	CHECK(mkdir(in_dir("dev"), 0755) == 0);
	CHECK(symlink("/proc/self/fd/1", in_dir("dev/stdout")) == 0);
	for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
		f = fopen(in_dir("out"), "w+");
		if (!f) {
			CHECK(f != NULL);
			break;
		}
		fputs("earlier\n", f);
		fflush(f);
		run_child(&c, fileno(f), fns[i]);
		fclose(f);
		if (exited(&c, 77)) {
			printf("# no private /dev: /dev/stdout not tested\n");
			continue;
		}
		CHECKF(exited(&c, 0), "child %zu: status %#x", i, c.status);
		CHECK_STR(c.err, "");
		CHECK_STR(slurp(in_dir("out")), "earlier\na\nb\nc\n");
	}
	CHECK(is_link_to(in_dir("dev/stdout"), "/proc/self/fd/1"));
	CHECK(dir_count(in_dir("dev"), NULL, 0) == 1);
	CHECK(dir_count(g_dir, NULL, 0) == 2);
	scratch_rm();
}

/* A fifo and a socket are opened in place, directly or through a link. */
static void test_out_fifo(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *names[] = { "p", "plink" };
	char buf[64], want[8192];
	struct stat st;
	qf_err e;
	ssize_t n;
	int rd, s;

	scratch_new();
	CHECK(mkfifo(in_dir("p"), 0600) == 0);
	CHECK(symlink("p", in_dir("plink")) == 0);
	for (int i = 0; i < 2; i++) {
		/* a reader first, so that opening for writing does not wait */
		rd = open(in_dir("p"), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		CHECK(rd >= 0);
		if (rd < 0)
			break;
		CHECK(out_put(in_dir(names[i]), "through\n", &e) == 0);
		n = read(rd, buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = '\0';
		CHECK_STR(buf, "through\n");
		close(rd);
	}
	CHECK(lstat(in_dir("p"), &st) == 0 && S_ISFIFO(st.st_mode));
	CHECK(is_link_to(in_dir("plink"), "p"));

	/* a socket cannot be opened: one error */
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", in_dir("sock"));
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
	CHECK(qf_out_open(in_dir("sock"), &e) == NULL);
	snprintf(want, sizeof want,
		 "%s/sock: cannot open: No such device or address", g_dir);
	CHECK_STR(e.msg, want);
	CHECK(lstat(in_dir("sock"), &st) == 0 && S_ISSOCK(st.st_mode));
	if (s >= 0)
		close(s);
	CHECK(dir_count(g_dir, NULL, 0) == 3);
	scratch_rm();
}

/* Links in /proc are not followed by their text: /proc/self/exe reads
 * as this program's path, which must not be replaced. */
static void test_out_proc_link(void)
{
	qf_err e;
	qf_out *o = qf_out_open("/proc/self/exe", &e);

	CHECK(o == NULL);
	if (o)
		qf_out_abort(o);
	else
		CHECKF(prefix(e.msg, "/proc/self/exe: cannot "), "%s", e.msg);
}

/* ------------------------------------------------------------ tool exits */

static int child_name(void)
{
	if (strcmp(qf_tool_name(), "qf"))
		return 10;
	qf_tool_init("/usr/local/bin/qf-cat");
	if (strcmp(qf_tool_name(), "qf-cat"))
		return 11;
	qf_tool_init("qf-test");
	return strcmp(qf_tool_name(), "qf-test") ? 12 : 0;
}

static void test_tool_name(void)
{
	struct child c;

	run_child(&c, -1, child_name);
	CHECKF(exited(&c, 0), "status %#x", c.status);
}

static qf_out *volatile g_out;	/* kept reachable for the leak checker */

static int child_fail(void)
{
	qf_err e;

	qf_tool_init("qf-test");
	g_out = qf_out_open(in_dir("f.qf"), &e);
	if (!g_out)
		return 10;
	fputs("partial\n", qf_out_file(g_out));
	qf_err_set(&e, "in.qf: record w: unknown dtype 99");
	qf_tool_fail(&e);
}

static int child_die(void)
{
	qf_tool_init("qf-test");
	qf_tool_die(3, "cannot %s %d", "do", 5);
}

static int child_usage(void)
{
	qf_tool_init("qf-test");
	qf_tool_usage_error("unknown option '%s'", "-q");
}

static void test_tool_exits(void)
{
	struct child c;

	scratch_new();
	run_child(&c, -1, child_fail);
	CHECKF(exited(&c, 1), "status %#x", c.status);
	CHECK_STR(c.err, "qf-test: in.qf: record w: unknown dtype 99\n");
	CHECK(dir_count(g_dir, NULL, 0) == 0);	/* temporary file removed */

	run_child(&c, -1, child_die);
	CHECKF(exited(&c, 3), "status %#x", c.status);
	CHECK_STR(c.err, "qf-test: cannot do 5\n");

	run_child(&c, -1, child_usage);
	CHECKF(exited(&c, 2), "status %#x", c.status);
	CHECK_STR(c.err, "qf-test: unknown option '-q'\n"
		  "Try 'qf-test --help' for more information.\n");
	scratch_rm();
}

/* ------------------------------------------------------------ common options */

static const char *g_level;	/* the --level value of child_level */
static char *g_argv[3];		/* "qf-test", the option, NULL */

/* A tool's option loop over g_argv; returns 20 if it falls through. */
static int child_options(void)
{
	static const struct option longs[] = {
		{ "out", required_argument, 0, 'o' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, QF_OPT_VERSION },
		{ 0, 0, 0, 0 },
	};
	int c;

	qf_tool_init("qf-test");
	opterr = 0;
	while ((c = getopt_long(2, g_argv, ":o:h", longs, NULL)) != -1)
		if (c != 'o')
			qf_tool_common_option(c, "Usage: qf-test\n", g_argv);
	return 20;
}

static int child_level(void)
{
	qf_tool_init("qf-test");
	return qf_tool_parse_level(g_level);
}

/* Run child_options with one option; its standard output into out. */
static void run_option(struct child *c, const char *opt, char *out, size_t len)
{
	FILE *f = tmpfile();
	size_t n = 0;

	g_argv[0] = "qf-test";
	g_argv[1] = (char *)opt;
	g_argv[2] = NULL;
	run_child(c, f ? fileno(f) : -1, child_options);
	if (f) {
		rewind(f);
		n = fread(out, 1, len - 1, f);
		fclose(f);
	}
	out[n] = '\0';
}

static void test_common_options(void)
{
	static const struct {
		const char *opt, *err;
	} bad[] = {
		{ "-x", "qf-test: unknown option '-x'\n" },
		{ "--bogus", "qf-test: unknown option '--bogus'\n" },
		{ "-o", "qf-test: option '-o' needs a value\n" },
		/* a long option is named as typed, not by its short twin */
		{ "--out", "qf-test: option '--out' needs a value\n" },
	};
	struct child c;
	char out[256], want[512];

	run_option(&c, "--help", out, sizeof out);
	CHECKF(exited(&c, 0), "status %#x", c.status);
	CHECK_STR(out, "Usage: qf-test\n");
	CHECK_STR(c.err, "");
	run_option(&c, "-h", out, sizeof out);
	CHECK_STR(out, "Usage: qf-test\n");
	run_option(&c, "--version", out, sizeof out);
	CHECKF(exited(&c, 0), "status %#x", c.status);
	/* the version, then the provenance line (formats/provenance.md) */
	CHECKF(strncmp(out, "qf-test (qf) " QF_VERSION_STRING "\nqf="
		       QF_VERSION_STRING " tool=qf-test openblas=",
		       strlen("qf-test (qf) " QF_VERSION_STRING "\nqf="
			      QF_VERSION_STRING " tool=qf-test openblas=")) == 0 &&
	       strstr(out, " simd=") && strchr(out, '\n') &&
	       strchr(strchr(out, '\n') + 1, '\n') &&
	       strchr(strchr(out, '\n') + 1, '\n')[1] == '\0',
	       "--version: '%s'", out);
	run_option(&c, "-oX", out, sizeof out);
	CHECKF(exited(&c, 20), "status %#x", c.status);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		run_option(&c, bad[i].opt, out, sizeof out);
		CHECKF(exited(&c, 2), "%s: status %#x", bad[i].opt, c.status);
		snprintf(want, sizeof want, "%sTry 'qf-test --help' for more "
			 "information.\n", bad[i].err);
		CHECK_STR(c.err, want);
		CHECK_STR(out, "");
	}
}

static void test_parse_level(void)
{
	static const struct {
		const char *arg, *err;
	} bad[] = {
		{ "0", "qf-test: --level: must be 1..22\n" },
		{ "23", "qf-test: --level: '23' is larger than 22\n" },
		{ "-1", "qf-test: --level: invalid number '-1'\n" },
		{ "", "qf-test: --level: invalid number ''\n" },
	};
	struct child c;
	char want[512];

	CHECK(qf_tool_parse_level("1") == 1);
	CHECK(qf_tool_parse_level("22") == 22);
	g_level = "19";
	run_child(&c, -1, child_level);
	CHECKF(exited(&c, 19), "status %#x", c.status);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		g_level = bad[i].arg;
		run_child(&c, -1, child_level);
		CHECKF(exited(&c, 2), "'%s': status %#x", bad[i].arg, c.status);
		snprintf(want, sizeof want, "%sTry 'qf-test --help' for more "
			 "information.\n", bad[i].err);
		CHECK_STR(c.err, want);
	}
}

static int child_print_close(void)
{
	qf_tool_init("qf-test");
	printf("hello\n");
	qf_tool_close_stdout();
	return 0;
}

static int child_lots_close(void)
{
	qf_tool_init("qf-test");
	write_lots(stdout);
	qf_tool_close_stdout();
	return 0;
}

/* Write errors on standard output are found when it is closed. */
static void test_close_stdout(void)
{
	struct child c;
	int full = open("/dev/full", O_WRONLY);
	FILE *f = tmpfile();

	CHECK(full >= 0 && f);
	if (full < 0 || !f)
		return;
	run_child(&c, fileno(f), child_print_close);
	CHECKF(exited(&c, 0), "status %#x", c.status);
	CHECK_STR(c.err, "");
	CHECK(fseek(f, 0, SEEK_END) == 0 && ftell(f) == 6);

	run_child(&c, full, child_print_close);
	CHECKF(exited(&c, 1), "status %#x", c.status);
	CHECK_STR(c.err, "qf-test: write error: No space left on device\n");

	run_child(&c, full, child_lots_close);
	CHECKF(exited(&c, 1), "status %#x", c.status);
	CHECKF(prefix(c.err, "qf-test: write error"), "%s", c.err);
	close(full);
	fclose(f);
}

/* ------------------------------------------------------------ broken pipe */

static int child_commit_fail(void)
{
	qf_err e;
	qf_out *o;

	qf_tool_init("qf-test");
	o = qf_out_open("-", &e);
	if (!o)
		return 10;
	write_lots(qf_out_file(o));
	if (qf_out_commit(o, &e) != -1 || e.code != EPIPE)
		return 11;
	if (strcmp(e.msg, "<stdout>: write error: Broken pipe"))
		return 12;
	qf_tool_fail(&e);
}

/* No code (an error passed on through another message): standard
 * output's closed pipe is enough. */
static int child_msg_fail(void)
{
	qf_err e;

	qf_tool_init("qf-test");
	qf_err_set(&e, "<stdout>: record x: write error: %s", strerror(EPIPE));
	qf_tool_fail(&e);
}

/* A failed write that is not a broken pipe still speaks. */
static int child_other_fail(void)
{
	qf_err e;

	qf_tool_init("qf-test");
	qf_err_set(&e, "x.qf: write error: %s", strerror(ENOSPC));
	qf_tool_fail(&e);
}

static void test_broken_pipe(void)
{
	int (*fns[])(void) = {
		child_print_close, child_lots_close, child_commit_fail,
		child_msg_fail,
	};
	struct child c;
	int p[2];

	for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
		if (pipe(p) != 0) {
			CHECK(!"pipe");
			return;
		}
		close(p[0]);	/* nobody reads */
		run_child(&c, p[1], fns[i]);
		close(p[1]);
		CHECKF(exited(&c, 141), "child %zu: status %#x", i, c.status);
		CHECKF(c.err[0] == '\0', "child %zu: %s", i, c.err);
	}
	run_child(&c, -1, child_other_fail);
	CHECKF(exited(&c, 1), "status %#x", c.status);
	CHECK_STR(c.err, "qf-test: x.qf: write error: No space left on device\n");
}

/* ------------------------------------------------------------ signals */

/* Open an output, tell the parent, wait to be killed. */
static void child_wait_for_signal(int ready, int self)
{
	qf_err e;
	qf_out *o;

	qf_tool_init("qf-test");
	o = qf_out_open(in_dir("s.qf"), &e);
	if (!o)
		_exit(10);
	fputs("pending\n", qf_out_file(o));
	fflush(qf_out_file(o));
	if (self)
		raise(self);
	if (write(ready, "r", 1) != 1)
		_exit(11);
	for (;;)
		pause();
}

static void signal_case(int sig, int self)
{
	struct child c;
	char ch;
	int p[2];

	CHECK(pipe(p) == 0);
	child_start(&c, -1);
	if (c.pid == 0) {
		close(p[0]);
		child_wait_for_signal(p[1], self);
	}
	close(p[1]);
	if (!self) {
		CHECK(read(p[0], &ch, 1) == 1);
		CHECK(dir_count(g_dir, NULL, 0) == 1);
		kill(c.pid, sig);
	}
	close(p[0]);
	child_wait(&c);
	CHECKF(killed_by(&c, sig), "signal %d: status %#x", sig, c.status);
	CHECKF(dir_count(g_dir, NULL, 0) == 0, "signal %d", sig);
	CHECK_STR(c.err, "");
}

static void test_signal_cleanup(void)
{
	scratch_new();
	signal_case(SIGTERM, SIGTERM);
	signal_case(SIGTERM, 0);
	signal_case(SIGINT, 0);
	signal_case(SIGHUP, 0);
	scratch_rm();
}

/* A signal ignored at start (nohup) stays ignored. */
static int child_nohup(void)
{
	qf_err e;
	qf_out *o;

	signal(SIGHUP, SIG_IGN);
	qf_tool_init("qf-test");
	o = qf_out_open(in_dir("h.qf"), &e);
	if (!o)
		return 10;
	raise(SIGHUP);
	return qf_out_commit(o, &e) == 0 ? 7 : 11;
}

static void test_signal_ignored(void)
{
	struct child c;

	scratch_new();
	run_child(&c, -1, child_nohup);
	CHECKF(exited(&c, 7), "status %#x", c.status);
	CHECK(dir_count(g_dir, NULL, 0) == 1);
	scratch_rm();
}

/* ------------------------------------------------------------ progress */

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void spin_progress(qf_progress *p, double secs, uint64_t total)
{
	double t0 = seconds();
	uint64_t i = 0;

	while (seconds() - t0 < secs)
		qf_progress_update(p, ++i % 1000, total);
}

static int child_progress(void)
{
	qf_progress p;

	/* too quick to show anything */
	qf_progress_start(&p, "quick");
	qf_progress_update(&p, 1, 2);
	qf_progress_end(&p);
	fputs("A", stderr);
	qf_progress_start(&p, "reading");
	spin_progress(&p, 0.5, 1000);
	qf_progress_end(&p);
	fputs("B", stderr);
	qf_progress_start(&p, "counting");
	spin_progress(&p, 0.6, 0);	/* several chances to print, even on a busy machine */
	qf_progress_end(&p);
	return 0;
}

static int count_str(const char *s, const char *sub)
{
	int n = 0;

	while ((s = strstr(s, sub))) {
		n++;
		s += strlen(sub);
	}
	return n;
}

static void test_progress_notty(void)
{
	struct child c;

	run_child(&c, -1, child_progress);
	CHECKF(exited(&c, 0), "status %#x", c.status);
	CHECK_STR(c.err, "AB");
}

static void test_progress_tty(void)
{
	static char out[65536];
	struct child c;
	char *b;
	size_t n = 0;
	ssize_t r;
	int m, s;

	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0) {
		printf("# no pseudo-terminal: progress on a tty not tested\n");
		if (m >= 0)
			close(m);
		return;
	}
	child_start(&c, -1);
	if (c.pid == 0) {
		s = open(ptsname(m), O_RDWR | O_NOCTTY);
		if (s < 0)
			_exit(10);
		close(m);
		dup2(s, STDERR_FILENO);
		_exit(child_progress());
	}
	while (n < sizeof out - 1 &&
	       (r = read(m, out + n, sizeof out - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(m);
	child_wait(&c);
	CHECKF(exited(&c, 0), "status %#x", c.status);

	CHECKF(out[0] == 'A', "%.40s", out);	/* "quick" printed nothing */
	b = strchr(out, 'B');
	CHECK(b != NULL);
	if (!b)
		return;
	*b = '\0';
	/* 0.5 s at most 5 times a second, first after 0.2 s */
	CHECKF(count_str(out, "\rreading: ") >= 1 &&
	       count_str(out, "\rreading: ") <= 3, "%d",
	       count_str(out, "\rreading: "));
	CHECK(strstr(out, "/1000) elapsed 0.") != NULL);
	CHECK(strstr(out, "% (") != NULL);
	CHECK(strstr(out, " s\033[K") != NULL);
	CHECK(n > 0 && prefix(b - 4, "\r\033[K"));	/* line cleared */
	CHECK(count_str(b + 1, "\rcounting: ") >= 1);
	CHECK(strstr(b + 1, "% (") == NULL);	/* no total: a count */
	CHECK(strstr(b + 1, " elapsed 0.") != NULL);
	CHECK(prefix(out + n - 4, "\r\033[K"));
}

int main(void)
{
	RUN(test_parse_u64);
	RUN(test_parse_double);
	RUN(test_threads);
	RUN(test_out_commit);
	RUN(test_out_abort);
	RUN(test_out_open_errors);
	RUN(test_out_long_name);
	RUN(test_out_commit_errors);
	RUN(test_out_stdout);
	RUN(test_out_cleanup_all);
	RUN(test_out_many);
	RUN(test_out_symlink);
	RUN(test_out_dangling);
	RUN(test_out_link_loop);
	RUN(test_out_fd);
	RUN(test_out_fd_stdout);
	RUN(test_out_fifo);
	RUN(test_out_proc_link);
	RUN(test_tool_name);
	RUN(test_tool_exits);
	RUN(test_common_options);
	RUN(test_parse_level);
	RUN(test_close_stdout);
	RUN(test_broken_pipe);
	RUN(test_signal_cleanup);
	RUN(test_signal_ignored);
	RUN(test_progress_notty);
	RUN(test_progress_tty);
	return unit_done();
}
