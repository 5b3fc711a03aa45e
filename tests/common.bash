# common.bash - loaded by every Bats suite.
#
# QF_BIN is the directory of the binaries under test (tests/run sets it);
# PY is Debian's python3, which has numpy (the python3 first on PATH may
# be another one without it).

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

TESTS_DIR=$(cd "$(dirname "${BATS_TEST_FILENAME}")" && pwd)
QF_BIN=${QF_BIN:-$TESTS_DIR/../build/bin}
PATH=$QF_BIN:$PATH
PY=/usr/bin/python3
REF="$PY $TESTS_DIR/ref/qftref.py"
SHARED=${QF_SHARED:-$TESTS_DIR/../../shared}
export LC_ALL=C

# Skip a test unless ../shared/fixtures/NAME exists (a user's clone has
# no shared folder).
need_shared() {
	[ -e "$SHARED/fixtures/$1" ] || skip "no shared fixture $1"
}

# Skip a test of memory bounds (peak RSS, ulimit -v) under the sanitizer
# build: AddressSanitizer reserves terabytes of address space and keeps
# shadow memory and freed blocks, so such bounds say nothing there (the
# plain build runs the test).
need_plain_build() {
	local bin=${QF_BIN:-}/qf-cat
	[ -n "${QF_BIN:-}" ] || bin=$(command -v qf-cat)
	if grep -q __asan_init "$bin" 2>/dev/null; then
		skip "memory bounds: not under the sanitizers"
	fi
}

# Run a Python snippet with numpy; arguments follow the code.
py() {
	"$PY" -c "$@"
}

# pytsv CODE ARG...: python CODE after a prologue that imports sys, csv
# and math and defines rd(PATH), the rows of a qf table (its comment
# lines left out) as dicts
pytsv() {
	local code=$1
	shift
	"$PY" -c "import sys, csv, math
rd = lambda p: list(csv.DictReader((l for l in open(p, newline='') if not l.startswith('#')), delimiter='\t', quoting=csv.QUOTE_NONE))
$code" "$@"
}

# tiny_models DIR: two 4-layer byte-level models of two training seeds,
# 300 steps of qf-train (seconds) on the English, Finnish and Japanese
# training text, in DIR/m1.qft and DIR/m2.qft (the replicates of the
# pipelines' suites): trained enough that the earlier study's quantizer
# does measurable damage on one paragraph, so that every fit of a sweep
# has its numbers
tiny_models() {
	local s u=$TESTS_DIR/../pipelines/data/udhr/train
	qf-extract text -k bytes --unit paragraph -o "$1/t.qft" "$u/eng.txt" "$u/fin.txt" "$u/jpn.txt"
	for s in 1 2; do
		qf-train --layers 4 --d-model 64 --heads 4 --ctx 128 --vocab 257 --sep 256 \
			--steps 300 --seed $s -j 1 -o "$1/m$s.qft" "$1/t.qft" 2> /dev/null
	done
}

# tiny_model DIR: a 4-layer byte-level model, 3 steps of qf-train on the
# English and Finnish training text (DIR/t.qft), in DIR/m4.qft: enough
# for every protection configuration to differ (the pipelines' suites).
tiny_model() {
	local u=$TESTS_DIR/../pipelines/data/udhr/train
	qf-extract text -k bytes --unit paragraph -o "$1/t.qft" "$u/eng.txt" "$u/fin.txt"
	qf-train --layers 4 --d-model 64 --heads 4 --ctx 128 --vocab 257 --sep 256 \
		--steps 3 -j 1 -o "$1/m4.qft" "$1/t.qft" 2> /dev/null
}
