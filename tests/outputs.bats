#!/usr/bin/env bats
# Output destinations (lib/stream/out.c; docs/conventions.md, "-o FILE is written
# atomically"): through symbolic links, to devices, fifos and descriptors
# named /dev/stdout, /dev/fd/N, /proc/self/fd/N, and paths that cannot be
# written.  qf-cat -o goes through qf_out_open, qf-quantize -o through
# qf_writer_open and --stats through qf_out_open again.
#
# Safety.  These tests run as root in CI.  A wrong lib/stream/out.c (such as the
# one before this suite) takes /dev/stdout for a regular file when standard
# output is one, and renames a temporary file over /dev/stdout, for the
# whole machine.  So every test that names something in /dev runs the tool
# under private_dev: in a new mount namespace (unshare --mount, private
# propagation: nothing is seen outside it, and it ends with the command), a
# scratch directory $DEV holding stdin, stdout, stderr and fd links as in
# /dev, and /dev/null bound onto an empty file, is bound over /dev.
# Whatever the tool does to /dev then happens to $DEV, and the test checks
# $DEV afterwards.  If the namespace or either bind fails, the command is
# not run at all (status 99).  Without a namespace the test runs on the real
# /dev only when /dev is not writable to us (no harm possible), else it is
# skipped.  All other files are in $BATS_TEST_TMPDIR.

load common

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	cp "$TESTS_DIR/data/model/a.qft" in.qft
	qf-cat -o ref.qft in.qft
	qf-quantize -b 4 --stats ref.tsv -o refq.qft in.qft
	[ -s ref.qft ]
	[ -s ref.tsv ]
}

setup() {
	# a directory of its own: bats keeps files of run in BATS_TEST_TMPDIR
	mkdir "$BATS_TEST_TMPDIR/w"
	cd "$BATS_TEST_TMPDIR/w"
	IN=$BATS_FILE_TMPDIR/in.qft
	REFQ=$BATS_FILE_TMPDIR/ref.qft
	REFS=$BATS_FILE_TMPDIR/ref.tsv
}

# No temporary file left anywhere under the test's directory.
no_temp_files() {
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '*.tmp.*')" ]
}

# Decide how private_dev runs (see the top), or skip the test.
need_private_dev() {
	[ -L /dev/stdout ] || skip "/dev/stdout is not a symbolic link here"
	PRIVATE_DEV=()
	DEV=$BATS_TEST_TMPDIR/dev
	if unshare --mount --propagation private true 2>/dev/null; then
		PRIVATE_DEV=(unshare --mount --propagation private)
	elif unshare --map-root-user --mount --propagation private true 2>/dev/null; then
		PRIVATE_DEV=(unshare --map-root-user --mount --propagation private)
	elif [ ! -w /dev ]; then
		DEV=/dev
		return 0
	else
		skip "no private mount namespace and /dev is writable: not safe"
	fi
	mkdir "$DEV"
	ln -s /proc/self/fd "$DEV/fd"
	ln -s /proc/self/fd/0 "$DEV/stdin"
	ln -s /proc/self/fd/1 "$DEV/stdout"
	ln -s /proc/self/fd/2 "$DEV/stderr"
	: > "$DEV/null"
}

# private_dev SCRIPT [ARG]...: run the bash SCRIPT with the private /dev.
private_dev() {
	local script=$1
	shift
	if [ ${#PRIVATE_DEV[@]} -eq 0 ]; then
		bash -c "$script" script "$@"
		return
	fi
	"${PRIVATE_DEV[@]}" -- bash -c '
		mount --bind /dev/null "$1/null" && mount --rbind "$1" /dev ||
			exit 99
		shift
		exec bash -c "$@"' private-dev "$DEV" "$script" script "$@"
}

# $DEV is as need_private_dev made it: the links are links to the same
# places, and nothing was added.
dev_intact() {
	[ -L "$DEV/stdout" ]
	[ "$(readlink "$DEV/stdout")" = /proc/self/fd/1 ]
	[ -L "$DEV/stdin" ]
	[ "$(readlink "$DEV/stdin")" = /proc/self/fd/0 ]
	[ -L "$DEV/fd" ]
	[ "$(readlink "$DEV/fd")" = /proc/self/fd ]
	[ -L /dev/stdout ]
	if [ "$DEV" != /dev ]; then
		[ "$(ls -A "$DEV" | tr '\n' ' ')" = "fd null stderr stdin stdout " ]
		[ -f "$DEV/null" ]
		[ ! -s "$DEV/null" ]
	fi
}

# ------------------------------------------------------------ symbolic links

@test "-o through a symlink writes the file it points to; the link stays" {
	echo old > target.qft
	ln -s target.qft link.qft
	run qf-cat -o link.qft "$IN"
	assert_success
	[ -L link.qft ]
	[ "$(readlink link.qft)" = target.qft ]
	cmp target.qft "$REFQ"
	no_temp_files
	# a stream writer (qf_writer_open) and --stats too
	ln -s stats.tsv s.link
	echo old > stats.tsv
	run qf-quantize -b 4 --stats s.link -o link.qft "$IN"
	assert_success
	[ -L link.qft ]
	[ -L s.link ]
	cmp stats.tsv "$REFS"
	qf-quantize -b 4 -o direct.qft "$IN"
	cmp target.qft direct.qft
	no_temp_files
}

@test "-o through a relative symlink in another directory" {
	mkdir a b
	echo old > b/t.qft
	ln -s ../b/t.qft a/l.qft
	run qf-cat -o a/l.qft "$IN"
	assert_success
	[ -L a/l.qft ]
	[ "$(readlink a/l.qft)" = ../b/t.qft ]
	cmp b/t.qft "$REFQ"
	[ "$(ls -A a)" = l.qft ]
	[ "$(ls -A b)" = t.qft ]
	no_temp_files
}

@test "-o through a chain of two links" {
	mkdir a b c
	echo old > c/t.qft
	ln -s ../c/t.qft b/l1
	ln -s "$PWD/b/l1" a/l2
	run qf-cat -o a/l2 "$IN"
	assert_success
	[ -L a/l2 ]
	[ -L b/l1 ]
	cmp c/t.qft "$REFQ"
	no_temp_files
}

@test "-o through a dangling link creates its target" {
	mkdir sub
	ln -s sub/new.qft dang.qft
	run qf-cat -o dang.qft "$IN"
	assert_success
	[ -L dang.qft ]
	[ "$(readlink dang.qft)" = sub/new.qft ]
	[ -f sub/new.qft ]
	[ ! -L sub/new.qft ]
	cmp sub/new.qft "$REFQ"
	[ "$(ls -A sub)" = new.qft ]
	no_temp_files
}

@test "-o into a link loop is one error, exit 1, and creates nothing" {
	ln -s b a
	ln -s a b
	ln -s self self
	run --separate-stderr qf-cat -o a "$IN"
	assert_failure 1
	[ "$stderr" = "qf-cat: a: cannot create: Too many levels of symbolic links" ]
	run --separate-stderr qf-cat -o self "$IN"
	assert_failure 1
	[ "$stderr" = "qf-cat: self: cannot create: Too many levels of symbolic links" ]
	[ -L a ]
	[ -L b ]
	[ -L self ]
	[ "$(ls -A | tr '\n' ' ')" = "a b self " ]
}

@test "-o through a link to a directory stays an error" {
	mkdir d
	ln -s d dl
	run --separate-stderr qf-cat -o dl "$IN"
	assert_failure 1
	[ "$stderr" = "qf-cat: dl: cannot create: Is a directory" ]
	[ -L dl ]
	[ -z "$(ls -A d)" ]
}

# ------------------------------------------------------------ devices and fifos

@test "-o /dev/null writes into the device, never replaces it" {
	need_private_dev
	run private_dev 'qf-cat -o /dev/null "$1" && [ -c /dev/null ]' "$IN"
	assert_success
	assert_output ""
	dev_intact
}

@test "-o to a fifo writes into it, directly or through a link" {
	mkfifo p
	ln -s p plink
	for dest in p plink; do
		# The reader blocks in open() until the tool opens the fifo for
		# writing, and reads until the tool closes it.
		cat p > got 3>&- &
		reader=$!
		run qf-cat -o "$dest" "$IN"
		# Should the tool have failed before opening the fifo, open
		# it here so that the reader ends (never blocks: O_RDWR).
		exec 5<>p
		exec 5>&-
		wait "$reader"
		assert_success
		cmp got "$REFQ"
		[ -p p ]
		[ -L plink ]
	done
	no_temp_files
}

@test "-o to a socket is one error" {
	[ -x "$PY" ] || skip "no python3 to make a socket"
	"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' sock
	[ -S sock ]
	run --separate-stderr qf-cat -o sock "$IN"
	assert_failure 1
	[ "$stderr" = "qf-cat: sock: cannot open: No such device or address" ]
	[ -S sock ]
}

# ------------------------------------------------------------ descriptors

@test "--stats /dev/stdout with stdout > a file: written at the offset, /dev/stdout untouched" {
	need_private_dev
	echo stale > out
	ino=$(stat -c %i out)
	run private_dev '{ echo first; qf-quantize -b 4 --stats /dev/stdout -o q.qft "$1"; echo last; } > out' "$IN"
	assert_success
	{ echo first; cat "$REFS"; echo last; } > want
	cmp out want
	[ "$(stat -c %i out)" = "$ino" ]	# the shell's file, not a new one
	dev_intact
	no_temp_files
}

@test "--stats /dev/stdout with stdout >> a file keeps what was there" {
	need_private_dev
	echo earlier > out
	ino=$(stat -c %i out)
	run private_dev 'qf-quantize -b 4 --stats /dev/stdout -o q.qft "$1" >> out && echo last >> out' "$IN"
	assert_success
	{ echo earlier; cat "$REFS"; echo last; } > want
	cmp out want
	[ "$(stat -c %i out)" = "$ino" ]
	dev_intact
	no_temp_files
}

@test "-o /dev/stdout with stdout > a file, and into a pipe" {
	need_private_dev
	run private_dev 'echo first > out; qf-cat -o /dev/stdout "$1" >> out' "$IN"
	assert_success
	{ echo first; cat "$REFQ"; } > want
	cmp out want
	run private_dev 'set -o pipefail; qf-cat -o /dev/stdout "$1" | cmp - "$2"' "$IN" "$REFQ"
	assert_success
	dev_intact
	no_temp_files
}

@test "a link to /dev/stdout is written through to standard output" {
	need_private_dev
	ln -s /dev/stdout tostdout
	run private_dev '{ echo first; qf-cat -o tostdout "$1"; } > out' "$IN"
	assert_success
	{ echo first; cat "$REFQ"; } > want
	cmp out want
	[ -L tostdout ]
	[ "$(readlink tostdout)" = /dev/stdout ]
	dev_intact
	no_temp_files
}

@test "/proc/self/fd/N and /proc/PID/fd/N write to descriptor N at its offset" {
	[ -d /proc/self/fd ] || skip "no /proc"
	echo earlier > out
	{
		echo first >&7
		qf-cat -o /proc/self/fd/7 "$IN"
		echo middle >&7
		bash -c 'exec qf-cat -o /proc/$$/fd/7 "$1"' script "$IN"
		echo last >&7
	} 7>>out
	{ echo earlier; echo first; cat "$REFQ"; echo middle; cat "$REFQ"; echo last; } > want
	cmp out want
	no_temp_files
	# with N>file: truncated once by the shell, not again by the tool
	{ echo first >&8; qf-cat -o /proc/self/fd/8 "$IN"; } 8>out2
	{ echo first; cat "$REFQ"; } > want2
	cmp out2 want2
	[ -f out2 ]
	[ ! -L out2 ]
	no_temp_files
}

@test "/dev/fd/N writes to descriptor N" {
	need_private_dev
	run private_dev '{ echo first >&7; qf-cat -o /dev/fd/7 "$1"; echo last >&7; } 7> out' "$IN"
	assert_success
	{ echo first; cat "$REFQ"; echo last; } > want
	cmp out want
	dev_intact
	no_temp_files
}

@test "a closed descriptor is one error, exit 1" {
	need_private_dev
	run --separate-stderr private_dev 'exec 9>&-; qf-cat -o /dev/fd/9 "$1"' "$IN"
	assert_failure 1
	[ "$stderr" = "qf-cat: /dev/fd/9: cannot open: Bad file descriptor" ]
	assert_output ""
	run --separate-stderr bash -c 'exec 9>&-; qf-cat -o /proc/self/fd/9 "$1"' script "$IN"
	assert_failure 1
	[ "$stderr" = "qf-cat: /proc/self/fd/9: cannot open: Bad file descriptor" ]
	dev_intact
	no_temp_files
}

# ------------------------------------------------------------ unwritable paths

@test "a read-only directory is one error, exit 1, nothing left" {
	[ "$(id -u)" -ne 0 ] || skip "root can write into a read-only directory"
	mkdir ro
	echo old > ro/t.qft
	chmod 555 ro
	run --separate-stderr qf-cat -o ro/new.qft "$IN"
	assert_failure 1
	[ "$stderr" = "qf-cat: ro/new.qft: cannot create: Permission denied" ]
	# through a link, the target's directory is the one that counts
	ln -s ro/t.qft l.qft
	run --separate-stderr qf-cat -o l.qft "$IN"
	assert_failure 1
	[ "$stderr" = "qf-cat: l.qft: cannot create: Permission denied" ]
	chmod 755 ro
	[ "$(ls -A ro)" = t.qft ]
	[ "$(cat ro/t.qft)" = old ]
	[ -L l.qft ]
}

@test "a path that cannot be created, even by root, is one error, exit 1" {
	[ -d /sys/kernel ] || skip "no /sys"
	name=qf-test-$$-$BATS_TEST_NUMBER
	run --separate-stderr qf-cat -o "/sys/$name" "$IN"
	assert_failure 1
	[ "$stderr" = "qf-cat: /sys/$name: cannot create: Permission denied" ]
	# and through a dangling link into it
	ln -s "/sys/$name" l.qft
	run --separate-stderr qf-quantize -b 4 -o l.qft "$IN"
	assert_failure 1
	[ "$stderr" = "qf-quantize: l.qft: cannot create: Permission denied" ]
	[ -L l.qft ]
	[ ! -e "/sys/$name" ]
	no_temp_files
}

# ------------------------------------------------------------ a live log

# train LOG: two steps of a tiny model, the log to LOG
train() {
	printf '%s\n\n' 'one paragraph of text, long enough' 'and another one, longer than a window' > text.txt
	qf-extract text -k bytes --unit paragraph -o t.qft text.txt
	qf-train --layers 1 --d-model 16 --heads 2 --ctx 16 --vocab 257 --sep 256 \
		--steps 2 -j 1 --log "$1" -o m.qft t.qft
}

@test "qf-train --log (written as it goes) through a link, a dangling link, >> /dev/stdout" {
	train plain.tsv
	[ "$(wc -l < plain.tsv)" -eq 4 ]	# provenance, header, 2 steps
	echo old > log.tsv
	ln -s log.tsv link
	run train link
	assert_success
	[ -L link ]
	[ "$(wc -l < log.tsv)" -eq 4 ]
	cmp <(head -n 2 log.tsv) <(head -n 2 plain.tsv)
	ln -s new.tsv dangling
	run train dangling
	assert_success
	[ -L dangling ] && [ "$(wc -l < new.tsv)" -eq 4 ]
	need_private_dev
	echo earlier > out
	run private_dev 'cp text.txt x.txt && qf-extract text -k bytes --unit paragraph -o t.qft x.txt &&
		qf-train --layers 1 --d-model 16 --heads 2 --ctx 16 --vocab 257 --sep 256 \
		--steps 2 -j 1 --log /dev/stdout -o m.qft t.qft >> out'
	assert_success
	[ "$(head -n 1 out)" = earlier ]
	[ "$(wc -l < out)" -eq 5 ]
	cmp <(sed -n 2,3p out) <(head -n 2 plain.tsv)
	dev_intact
	run train /dev/fd/9
	assert_failure 1
	assert_output "qf-train: /dev/fd/9: cannot open: Bad file descriptor"
}
