#!/usr/bin/env bats
# lib/fit's correlations, adjusted p-values, permutation tests and
# bootstrap intervals (docs/fit.md, "Correlations") against scipy and statsmodels:
# tests/unit/gen_fit_cor_ref.py computes the reference cases at test
# time on seeded random data, the C unit test test_fit_cor checks the
# library on them to 1e-8 relative.

load common

UNIT=${QF_BIN:-$TESTS_DIR/../build/bin}/../unit/test_fit_cor

need_refs() {
	$PY -c 'import numpy, scipy, statsmodels' 2>/dev/null ||
		skip "no numpy, scipy or statsmodels"
	[ -x "$UNIT" ] || skip "no $UNIT (make units)"
}

@test "fit-cor: correlations, partial, Holm/BH, permutations, bootstrap as scipy/statsmodels" {
	need_refs
	$PY "$TESTS_DIR/unit/gen_fit_cor_ref.py" "$BATS_TEST_TMPDIR/ref.txt"
	cd "$TESTS_DIR"
	QF_FIT_COR_REF=$BATS_TEST_TMPDIR/ref.txt run "$UNIT"
	echo "$output"
	[ "$status" -eq 0 ]
	# every kind of case ran, none skipped
	[[ $output == *"# cases: cor "* ]]
	refute_output --partial "not ok"
	refute_output --partial "# skip"
}
