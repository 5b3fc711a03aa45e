#!/usr/bin/env bats
# Any stage on other machines: $(call remote,OUTPUTS,INPUTS,COMMAND)
# (pipelines/dist.mk) and `pipelines/lib/dist run`, over a throwaway sshd
# on 127.0.0.1 (tests/sshd.bash), two ssh logins to it as two hosts.  The
# reference is the same stage run here: reliability.mk's qf-eval passes
# and a small Makefile's stages give the local bytes, stages of one make
# -j run at once on different hosts, nothing is left on the hosts, a
# failed command fails make and leaves no output, a rerun runs only what
# is missing, a host with other kernels is refused, misuse exits 2.

load common
load sshd

TOP=$TESTS_DIR/..
DIST=$TOP/pipelines/lib/dist

setup_file() {
	sshd_can || return 0
	cd "$BATS_FILE_TMPDIR" || return
	# a tiny model, and the reliability study run on this machine
	tiny_model .
	reliab "$BATS_FILE_TMPDIR/rel-local" -s -j2 HOSTS= 2> /dev/null
	[ ! -e "$BATS_FILE_TMPDIR/rel-local/dist" ]
	# a study of three stages: a and b (each a second long) from in.txt,
	# c from c.in; every command names a qf binary and writes its target
	# directly (no temporary file)
	printf 'one\ntwo\n' > in.txt
	cat > stages.mk <<'EOF'
include $(TOP)/pipelines/common.mk
OUT ?= out
all: $(OUT)/a.txt $(OUT)/b.txt $(OUT)/c.tsv
$(OUT)/a.txt $(OUT)/b.txt: in.txt
	@mkdir -p $(@D)
	$(call remote,$@,$<,sleep 1; { $(BIN)/qf-cat --version | sed -n 2p; sed 's/^/$(@F) /' $<; } > $@)
$(OUT)/c.tsv: c.in
	@mkdir -p $(@D)
	$(call remote,$@,$<,$(BIN)/qf-cat -l $< > $@)
EOF
	cp t.qft c.in
	make -s -f stages.mk TOP="$TOP" BIN="$QF_BIN" OUT=local HOSTS=
	sshd_logins "$BATS_FILE_TMPDIR/sshd"
}

# reliab OUT MAKE-ARG...: the reliability study of the tiny model (three
# schemes: three qf-eval passes)
reliab() {
	make -f "$TOP/pipelines/reliability.mk" BIN="$QF_BIN" MODEL="$BATS_FILE_TMPDIR/m4.qft" \
		PARAS=6 LANGS="eng fin jpn rus" SEEDS="1 2" JOBS=1 OUT="$1" "${@:2}"
}

# stages OUT MAKE-ARG...: the small study, in a copy of its folder
stages() {
	make -C "$BATS_FILE_TMPDIR" -f stages.mk TOP="$TOP" BIN="$QF_BIN" OUT="$1" "${@:2}"
}

# joblogs DIR: each stage's job log lines 'host exit', one stage a line
# (their first output's name, then its runs)
joblogs() {
	local l
	for l in "$1"/stages/*/joblog; do
		printf '%s' "$(basename "$(dirname "$l")" | sed 's/-[0-9]*$//')"
		awk -F'\t' 'NR > 1 { printf " %s:%s", $1, $4 }' "$l"
		echo
	done | sort
}

@test "reliability.mk's qf-eval passes over two ssh logins: the local bytes, nothing left on the hosts, a lost table made again alone" {
	out=$BATS_TEST_TMPDIR/rel rwork=$BATS_TEST_TMPDIR/rwork
	run reliab "$out" -j3 HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork"
	assert_success
	n=0
	for f in "$BATS_FILE_TMPDIR"/rel-local/{,*/}*.tsv; do
		cmp "$f" "$out/${f#"$BATS_FILE_TMPDIR/rel-local/"}"
		n=$((n + 1))
	done
	# 3 schemes x 2 tables, the merged table, 4 texts
	[ "$n" -eq 11 ]
	[ ! -e "$rwork" ]
	# one remote run a scheme, each a success, on the host's files
	[ "$(joblogs "$out/dist" | wc -l)" -eq 3 ]
	[ "$(joblogs "$out/dist" | awk 'NF != 2 || $2 !~ /:0$/')" = "" ]
	for l in "$out"/dist/stages/*/joblog; do
		[[ $(tail -n 1 "$l" | cut -f5) == "bin/qf-eval -r i/2/m4.qft -m "*" -o o/1/lang.tsv i/1/tokens.qft" ]]
	done
	run reliab "$out" -q HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork" "$out/reliability.tsv"
	assert_success

	# a table gone and asked for: its pass runs again, alone
	before=$(stat -c %y "$out"/{int4g64,compat}/*.tsv)
	rm "$out/int3g64/reliability.tsv"
	run reliab "$out" -j3 HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork" "$out/int3g64/reliability.tsv"
	assert_success
	cmp "$out/int3g64/reliability.tsv" "$BATS_FILE_TMPDIR/rel-local/int3g64/reliability.tsv"
	[ "$(stat -c %y "$out"/{int4g64,compat}/*.tsv)" = "$before" ]
	[ "$(joblogs "$out/dist" | awk '{ print NF - 1 }' | sort | paste -sd,)" = "1,1,2" ]
	[ ! -e "$rwork" ]
}

@test "stages of one make -j run at once on different hosts, with this machine's kernels: the local bytes" {
	out=$BATS_TEST_TMPDIR/st rwork=$BATS_TEST_TMPDIR/rwork
	run stages "$out" -s -j3 HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork"
	assert_success
	for f in a.txt b.txt c.tsv; do
		cmp "$BATS_FILE_TMPDIR/local/$f" "$out/$f"
	done
	# (the provenance line of qf-cat on the host is this machine's)
	[ "$(head -n 1 "$out/a.txt")" = "$(qf-cat --version | sed -n 2p)" ]
	[ ! -e "$rwork" ]
	# a and b ran at the same time: one on each login
	[ "$(joblogs "$out/dist" | awk '$1 != "c.tsv" { print $2 }' | sort -u | wc -l)" -eq 2 ]
	run stages "$out" -q HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork"
	assert_success
}

@test "a failed command fails make, leaves no output and nothing on the host; a rerun runs only it" {
	out=$BATS_TEST_TMPDIR/fail rwork=$BATS_TEST_TMPDIR/rwork
	mkdir "$BATS_TEST_TMPDIR/f"
	cp "$BATS_FILE_TMPDIR"/{stages.mk,in.txt} "$BATS_TEST_TMPDIR/f"
	cd "$BATS_TEST_TMPDIR/f"
	printf 'not a stream\n' > c.in
	run make -f stages.mk TOP="$TOP" BIN="$QF_BIN" OUT="$out" -j3 HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork"
	assert_failure
	assert_output --partial "qf-cat: i/1/c.in: "
	assert_output --regexp "dist: $out/c.tsv: the command failed: exit status 1 on [^ ]*127.0.0.1; the job log is "
	[ ! -e "$out/c.tsv" ]
	[ -z "$(find "$out" -name '*dist.*')" ]
	[ ! -e "$rwork" ]
	# (the command's '> $@' made a partial file, on the host only)
	[ "$(joblogs "$out/dist" | grep '^c.tsv' | cut -d' ' -f2- | sed 's/[^ ]*://g')" = 1 ]
	# (the other stages are done; make stopped at the failure or not)
	before=$(stat -c %y "$out"/[ab].txt 2> /dev/null || true)

	cp "$BATS_FILE_TMPDIR/t.qft" c.in
	run make -f stages.mk TOP="$TOP" BIN="$QF_BIN" OUT="$out" -j3 HOSTS="$LOGINS" SSH="$SSH" DIST_WORKDIR="$rwork"
	assert_success
	for f in a.txt b.txt c.tsv; do
		cmp "$BATS_FILE_TMPDIR/local/$f" "$out/$f"
	done
	[ "$(joblogs "$out/dist" | grep '^c.tsv' | cut -d' ' -f2- | sed 's/[^ ]*://g')" = "1 0" ]
	[ "$(joblogs "$out/dist" | grep -v '^c.tsv' | awk '{ print NF - 1 }' | paste -sd,)" = "1,1" ]
	[ -z "$before" ] || [ "$(stat -c %y "$out"/[ab].txt)" = "$before" ]
	[ ! -e "$rwork" ]
}

@test "a host that would compute with other kernels is refused by name before the command runs" {
	out=$BATS_TEST_TMPDIR/refused rwork=$BATS_TEST_TMPDIR/rwork
	# ssh through which the host says its OpenBLAS runs another core
	other=$BATS_TEST_TMPDIR/ssh-other
	cat > "$other" <<-'EOF'
	#!/bin/bash
	case "$*" in
	*--version*) ssh "$@" | sed 's/ core=[A-Za-z0-9_]* / core=Prescott /'; exit "${PIPESTATUS[0]}" ;;
	esac
	exec ssh "$@"
	EOF
	chmod +x "$other"
	run stages "$out" HOSTS="1/$(id -un)@127.0.0.1" SSH="$other ${SSH#ssh }" DIST_WORKDIR="$rwork" "$out/c.tsv"
	assert_failure
	assert_output --regexp "(^|"$'\n'")dist: $(id -un)@127.0.0.1: computes with 'qf=[^']* tool=qf-cat [^']*core=Prescott [^']*', not this machine's 'qf=[^']* core=[A-Za-z0-9_]+ "
	[ ! -e "$out/c.tsv" ]
	[ -z "$(find "$out/dist" -name joblog)" ]
	[ ! -e "$rwork" ]

	# a host that does not answer at all
	run stages "$out" HOSTS="nobody@127.0.0.1" SSH="$SSH" DIST_WORKDIR="$rwork" "$out/c.tsv"
	assert_failure
	assert_output --partial "dist: $out/c.tsv: cannot send the stage's files to nobody@127.0.0.1"
	[ ! -e "$out/c.tsv" ]
}

@test "dist run: misuse exits 2, with no host the command runs here as it is" {
	cd "$BATS_TEST_TMPDIR"
	printf 'abc\n' > in
	run "$DIST" run -i in -o in -- cp in in
	[ "$status" -eq 2 ]
	assert_output --partial "dist run: in: an output that is also an input"
	run "$DIST" run -i in -o ./in -S "$LOGINS" -e "$SSH" -- cp in in
	[ "$status" -eq 2 ]
	run "$DIST" run -i in -o out
	[ "$status" -eq 2 ]
	assert_output --partial "dist run: no command"
	run "$DIST" run -i in -o out -- ' '
	[ "$status" -eq 2 ]
	run "$DIST" run -i in -- 'tr a-z A-Z < in > out'
	[ "$status" -eq 2 ]
	assert_output --partial "dist run: no output (-o)"
	run "$DIST" run -j x -i in -o out -- 'tr a-z A-Z < in > out'
	[ "$status" -eq 2 ]
	[ ! -e out ]
	# no HOSTS: bash runs it here, with no state
	run "$DIST" run -i in -o out -- 'tr a-z A-Z < in' '> out'
	assert_success
	[ "$(cat out)" = ABC ]
	[ ! -e dist ]
	# the same misuse in a Makefile stops make (exit 2), HOSTS or not
	cat > bad.mk <<'EOF'
include $(TOP)/pipelines/common.mk
OUT := .
x: y
	$(call remote,x,x y,cp y x)
z: y
	$(call remote,z,y,)
EOF
	touch y
	for h in '' "$LOGINS"; do
		run make -f bad.mk TOP="$TOP" BIN="$QF_BIN" HOSTS="$h" x
		[ "$status" -eq 2 ]
		assert_output --partial "remote: x: an output that is also an input"
		run make -f bad.mk TOP="$TOP" BIN="$QF_BIN" HOSTS="$h" z
		[ "$status" -eq 2 ]
		assert_output --partial "remote: no command for z"
	done
	[ ! -e x ] && [ ! -e z ]
}

@test "dist run: a run that came back but was stopped before its outputs were in place is not run again" {
	cd "$BATS_TEST_TMPDIR"
	printf 'abc\n' > in
	stage() {
		"$DIST" run -S "$LOGINS" -e "$SSH" -w "$BATS_TEST_TMPDIR/rwork" -d d -B "$QF_BIN" \
			-i in -o out/x -- "tr a-z A-Z < in > out/x"
	}
	run stage
	assert_success
	[ "$(cat out/x)" = ABC ]
	[ "$(tail -n +2 d/stages/x-*/joblog | wc -l)" -eq 1 ]
	# as if stopped between the return and the move: the output returned
	# (here another text, to tell it from a new run), not in place
	s=$(echo d/stages/x-*)
	mkdir -p "$s/return/o/1"
	echo returned > "$s/return/o/1/x"
	touch "$s/return/done"
	rm out/x
	run stage
	assert_success
	[ "$(cat out/x)" = returned ]
	[ "$(tail -n +2 "$s/joblog" | wc -l)" -eq 1 ]
	[ ! -e "$s/return" ]
	# unless an input changed since: then it runs again
	mkdir -p "$s/return/o/1"
	echo returned > "$s/return/o/1/x"
	touch -d '-1 min' "$s/return/done"
	printf 'def\n' > in
	run stage
	assert_success
	[ "$(cat out/x)" = DEF ]
	[ "$(tail -n +2 "$s/joblog" | wc -l)" -eq 2 ]
	[ ! -e "$BATS_TEST_TMPDIR/rwork" ]
}
