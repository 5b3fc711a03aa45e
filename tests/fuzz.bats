#!/usr/bin/env bats
# Every fuzz harness replayed over its committed corpus: the seeds
# (tests/fuzz/corpus/NAME) and the crashers found so far
# (tests/fuzz/crashers/NAME-*), which must no longer crash (one in
# crashers/open/ is not fixed yet and not replayed).  Under the
# sanitizer build this catches memory errors too.

load common

@test "fuzz corpora and former crashers replay cleanly" {
	shopt -s nullglob
	local n=0
	for r in "$QF_BIN"/../unit/replay_*; do
		name=${r##*/replay_}
		inputs=("$TESTS_DIR/fuzz/corpus/$name" "$TESTS_DIR"/fuzz/crashers/"$name"-*)
		[ -e "${inputs[0]}" ] || continue
		run "$r" "${inputs[@]}"
		assert_success
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || skip "no fuzz harness yet"
}

@test "every fuzz harness has a seed corpus" {
	for h in "$TESTS_DIR"/fuzz/fuzz_*.c; do
		name=${h##*/fuzz_}
		name=${name%.c}
		ls "$TESTS_DIR/fuzz/corpus/$name" | grep -q . || {
			echo "no seeds in tests/fuzz/corpus/$name"
			return 1
		}
	done
}
