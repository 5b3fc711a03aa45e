#!/usr/bin/env bats
# The coverage of bootstrap intervals on a parallel corpus (every language
# has every unit): tests/data/eval/coverage_parallel.py simulates data of
# the corpus's shape (46 languages, 24 units) whose true figures are known
# in closed form and applies the interval methods of docs/eval.md
# ("How good the intervals are"). Its building blocks are checked first
# against independent references: BCa against scipy.stats.bootstrap, the
# jackknife variance and SE of a mean against their closed forms, a
# replicate's weighted jackknife against the same jackknife written out.
# The full study (minutes, 2 cores) is `coverage_parallel.py`; this is its
# --quick mode (120 simulations, B = 400, a few seconds).

load common

@test "parallel corpus: the intervals' coverage and tau's bias in a simulation with known truth" {
	"$PY" -c 'import numpy, scipy' 2>/dev/null || skip "no numpy or scipy in $PY"
	run $PY "$TESTS_DIR/data/eval/coverage_parallel.py" --quick
	echo "$output"
	assert_success
	refute_output --partial FAIL
	refute_output --partial DIFFER
}
