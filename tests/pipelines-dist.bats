#!/usr/bin/env bats
# The protection sweep across machines (pipelines/dist.mk): GNU parallel
# over ssh to a throwaway sshd on 127.0.0.1 (tests/sshd.bash), two ssh
# logins to it as two hosts.  The tables are the local run's bytes, with
# OPENBLAS_CORETYPE set here or not (an ssh session does not inherit it:
# the runner passes the kernels on), a host that would compute with
# other kernels is refused before any job, nothing is left on the host, a
# failed job fails make and a rerun runs only what is left.

load common
load sshd

TOP=$TESTS_DIR/..

setup_file() {
	sshd_can || return 0
	# a tiny model, and its sweep run on this machine
	cd "$BATS_FILE_TMPDIR" || return
	tiny_model .
	protect "$BATS_FILE_TMPDIR/local" HOSTS= tables
	[ ! -e "$BATS_FILE_TMPDIR/local/dist" ]
	# and with OPENBLAS_CORETYPE set, and unset
	PROTECT_ENV="OPENBLAS_CORETYPE=Haswell" protect "$BATS_FILE_TMPDIR/local-set" HOSTS= tables
	PROTECT_ENV="-u OPENBLAS_CORETYPE" protect "$BATS_FILE_TMPDIR/local-unset" HOSTS= tables
	# the "hosts": two ssh logins to one sshd
	sshd_logins "$BATS_FILE_TMPDIR/sshd"
}

# protect OUT MAKE-ARG...: the sweep of the tiny model (4 layers: 15
# configurations, 3 groups of each method, one greedy round and each
# half's confirmation), in the
# environment changed by PROTECT_ENV (env's arguments)
protect() {
	local out=$1
	shift
	# shellcheck disable=SC2086
	env ${PROTECT_ENV:-} make -s -f "$TOP/pipelines/protect.mk" BIN="$QF_BIN" MODEL="$BATS_FILE_TMPDIR/m4.qft" \
		OUT="$out" PARAS=4 EARLIER=0,2,3 BUDGET=0.75 BOOTSTRAP=50 GROUP_SIZE=5 \
		LANGS="eng fin jpn" JOBS=1 "$@"
}

# same_tables OUT [LOCAL]: every table of OUT is the local run's (LOCAL:
# local, local-set or local-unset)
same_tables() {
	local f n=0 l=$BATS_FILE_TMPDIR/${2:-local}
	for f in "$l"/{proper,compat,greedy}/*.tsv "$l"/{halves,configs,greedy,greedy-confirm}.tsv; do
		cmp "$f" "$1/${f#"$l"/}"
		n=$((n + 1))
	done
	# 3 groups x 5 tables (lang, disp, units, stats, compare) x 2 methods
	# and the first groups' contrasts, 5 of the greedy round, 6 of each
	# half's confirmation, 5 merged of each method, 4
	[ $n -eq $((30 + 2 + 5 + 12 + 10 + 4)) ]
}

# joblog OUT RUN: the job log's lines 'seq host exit' of run RUN (proper,
# compat, greedy-r3)
joblog() {
	awk -F'\t' 'NR > 1 { print $1, $2, $7 }' "$1/dist/$2/joblog"
}

@test "across two ssh logins: the local bytes, nothing left on the host, up to date afterwards, a lost table made again" {
	out=$BATS_TEST_TMPDIR/remote rwork=$BATS_TEST_TMPDIR/rwork
	run protect "$out" -j2 HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork" tables
	assert_success
	same_tables "$out"
	# the work dir went from the host, with everything sent there
	[ ! -e "$rwork" ]
	# one job a group, each done once, on both logins
	[ "$(joblog "$out" proper | sort -n | awk '{ print $1, $3 }' | paste -sd,)" = "1 0,2 0,3 0" ]
	[ "$(joblog "$out" compat | sort -n | awk '{ print $1, $3 }' | paste -sd,)" = "1 0,2 0,3 0" ]
	[ "$(joblog "$out" greedy-r3 | awk '{ print $1, $3 }')" = "1 0" ]
	[ "$(cat "$out"/dist/*/joblog | awk -F'\t' 'NR > 1 && $1 != "Seq" { print $2 }' | sort -u | wc -l)" -eq 2 ]
	# nothing left to do
	run protect "$out" -q HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork" tables
	assert_success

	# a table gone and asked for: its job runs again, alone
	before=$(stat -c %y "$out"/proper/g[23].*.tsv "$out"/compat/g*.tsv)
	rm "$out/proper/g1.lang.tsv"
	run protect "$out" -j2 HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork" "$out/proper/g1.lang.tsv" tables
	assert_success
	[ "$(joblog "$out" proper | awk '{ print $1, $3 }' | sort -n | paste -sd,)" = "1 0,2 0,3 0" ]
	[ "$(joblog "$out" proper | awk 'END { print $1 }')" = 1 ]
	[ "$(stat -c %y "$out"/proper/g[23].*.tsv "$out"/compat/g*.tsv)" = "$before" ]
	same_tables "$out"
	[ ! -e "$rwork" ]
	run protect "$out" -q HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork" tables
	assert_success
}

@test "OPENBLAS_CORETYPE set here, or unset: the hosts compute with this machine's kernels, the local bytes" {
	# the two local runs differ in who chose the core, at least
	set_line=$(head -n 1 "$BATS_FILE_TMPDIR/local-set/proper/disparity.tsv")
	unset_line=$(head -n 1 "$BATS_FILE_TMPDIR/local-unset/proper/disparity.tsv")
	[[ $set_line == "# qf="*" core=Haswell core_by=user "* ]]
	[[ $unset_line == *" core_by=openblas "* || $unset_line == *" core_by=qf "* ]]
	rwork=$BATS_TEST_TMPDIR/rwork
	PROTECT_ENV="OPENBLAS_CORETYPE=Haswell"
	run protect "$BATS_TEST_TMPDIR/set" -j2 HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork" tables
	assert_success
	same_tables "$BATS_TEST_TMPDIR/set" local-set
	PROTECT_ENV="-u OPENBLAS_CORETYPE"
	run protect "$BATS_TEST_TMPDIR/unset" -j2 HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork" tables
	assert_success
	same_tables "$BATS_TEST_TMPDIR/unset" local-unset
	[ ! -e "$rwork" ]
}

@test "a host that would compute with other kernels is refused by name before any job" {
	out=$BATS_TEST_TMPDIR/refused rwork=$BATS_TEST_TMPDIR/rwork
	# ssh through which the second login says its OpenBLAS runs another
	# core (as on a machine whose CPU cannot run this one's)
	other=$BATS_TEST_TMPDIR/ssh-other
	# (only the check's answer: rsync's traffic passes untouched)
	cat > "$other" <<-EOF
	#!/bin/bash
	login= prev=
	# (GNU parallel gives USER@HOST as -l USER HOST)
	for a in "\$@"; do
		[ "\$prev\$a" != "-l$(id -un)" ] || login=1
		prev=\$a
	done
	if [ -n "\$login" ] && "$PY" -c '
	import re, sys
	text = "".join(bytes.fromhex(a).decode("latin-1") for a in sys.argv[1:]
	               if re.fullmatch("(?:[0-9a-f]{2})+", a))
	sys.exit("--version" not in text)' "\$@"; then
		ssh "\$@" | sed 's/ core=[A-Za-z0-9_]* / core=Prescott /'
		exit "\${PIPESTATUS[0]}"
	fi
	exec ssh "\$@"
	EOF
	chmod +x "$other"
	run protect "$out" HOSTS="$LOGINS" SSH="$other ${SSH#ssh }" DIST_WORKDIR="$rwork" tables
	assert_failure
	assert_output --regexp "(^|"$'\n'")dist: $(id -un)@127.0.0.1: computes with 'qf=[^']* core=Prescott [^']*', not this machine's 'qf=[^']* core=[A-Za-z0-9_]+ "
	[ "$(grep -c '^dist: ' <<< "$output")" -eq 1 ]
	# no job ran, no table, nothing left on the host
	[ ! -s "$out/dist/proper/joblog" ] && [ ! -s "$out/dist/compat/joblog" ]
	[ -z "$(find "$out" -name 'g*.tsv')" ]
	[ ! -e "$rwork" ]

	# a host that does not answer at all
	run protect "$out" HOSTS="1/127.0.0.1 1/nobody@127.0.0.1" SSH="$SSH" DIST_WORKDIR="$rwork" tables
	assert_failure
	assert_output --partial "dist: nobody@127.0.0.1: cannot run qf-eval with this machine's kernels"
	[ -z "$(find "$out" -name 'g*.tsv')" ]
}

@test "a failed job fails make, the others' tables stay, a rerun runs only it" {
	out=$BATS_TEST_TMPDIR/resume rwork=$BATS_TEST_TMPDIR/rwork
	# ssh whose connection breaks for group 2 of the proper method while
	# the file 'broken' exists
	flaky=$BATS_TEST_TMPDIR/ssh-flaky
	cat > "$flaky" <<-EOF
	#!/bin/bash
	if [ -e "$BATS_TEST_TMPDIR/broken" ] && "$PY" -c '
	import re, sys
	text = "".join(bytes.fromhex(a).decode("latin-1") for a in sys.argv[1:]
	               if re.fullmatch("(?:[0-9a-f]{2})+", a))
	sys.exit("'"'"'proper'"'"' g2 " not in text)' "\$@"; then
		echo "ssh-flaky: connection lost" >&2
		exit 255
	fi
	exec ssh "\$@"
	EOF
	chmod +x "$flaky"
	touch "$BATS_TEST_TMPDIR/broken"
	run protect "$out" -j2 HOSTS="$LOGINS" SSH="$flaky ${SSH#ssh }" DIST_WORKDIR="$rwork" tables
	assert_failure
	assert_output --partial "ssh-flaky: connection lost"
	assert_output --regexp "dist: proper job g2 failed: exit status 255 on [^ ]*127.0.0.1"
	assert_output --partial "dist: proper: 1 of 3 jobs failed"
	# the other groups' tables are in place, whole; none of group 2's
	for t in lang disp stats; do
		cmp "$out/proper/g1.$t.tsv" "$BATS_FILE_TMPDIR/local/proper/g1.$t.tsv"
		cmp "$out/proper/g3.$t.tsv" "$BATS_FILE_TMPDIR/local/proper/g3.$t.tsv"
		[ ! -e "$out/proper/g2.$t.tsv" ]
	done
	[ ! -e "$out/proper/lang.tsv" ]
	[ ! -e "$rwork" ]
	[ "$(joblog "$out" proper | sort -n | awk '{ print $1, $3 }' | paste -sd,)" = "1 0,2 255,3 0" ]
	before=$(stat -c %y "$out"/proper/g[13].*.tsv "$out"/compat/g*.tsv)

	# the connection is back: only group 2 runs again
	rm "$BATS_TEST_TMPDIR/broken"
	run protect "$out" -j2 HOSTS="$LOGINS" SSH="$flaky ${SSH#ssh }" DIST_WORKDIR="$rwork" tables
	assert_success
	[ "$(joblog "$out" proper | awk '$1 == 2 { print $3 }' | paste -sd,)" = "255,0" ]
	[ "$(joblog "$out" proper | awk '$1 != 2' | wc -l)" -eq 2 ]
	[ "$(joblog "$out" compat | wc -l)" -eq 3 ]
	[ "$(stat -c %y "$out"/proper/g[13].*.tsv "$out"/compat/g*.tsv)" = "$before" ]
	same_tables "$out"
	[ ! -e "$rwork" ]
	run protect "$out" -q HOSTS="$LOGINS" SSH="$flaky ${SSH#ssh }" DIST_WORKDIR="$rwork" tables
	assert_success
}
