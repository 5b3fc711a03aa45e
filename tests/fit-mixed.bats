#!/usr/bin/env bats
# Linear mixed models (lib/fit/mixed.c): the unit test against
# statsmodels MixedLM and the closed forms of balanced designs, on data
# sets tests/unit/gen_fit_mixed_ref.py simulates now (one factor and two
# crossed ones, balanced and unbalanced, a zero component, REML and ML,
# the paired multiplicative model of Mielke et al. 2019), and the
# coverage of the profile likelihood intervals.

load common

@test "mixed models agree with statsmodels MixedLM and the closed forms" {
	$PY -c 'import numpy, pandas, statsmodels' 2>/dev/null ||
		skip "no numpy, pandas or statsmodels (python3-statsmodels)"
	unit=$QF_BIN/../unit/test_fit_mixed
	[ -x "$unit" ] || fail "no $unit (make units)"
	run $PY "$TESTS_DIR/unit/gen_fit_mixed_ref.py" "$BATS_TEST_TMPDIR/ref.txt"
	assert_success
	cd "$TESTS_DIR"
	QF_FIT_MIXED_REF=$BATS_TEST_TMPDIR/ref.txt run "$unit"
	assert_success
	assert_output --partial "# 12 reference cases"
	assert_output --partial "ok 3 - test_reference"
	refute_output --partial "# skip"
	refute_output --partial "not ok"
}
