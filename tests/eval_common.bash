# eval_common.bash - loaded by the qf-eval suites (qf-eval,
# qf-eval-compare, qf-eval-reliab, qf-eval-contrast) after common.bash:
# their check against an oracle, the fixtures of the comparisons.

# Run qf-eval with the arguments after ORACLE, then ORACLE (a command:
# its interpreter and script) with check and the same arguments: it
# reads the files qf-eval wrote and prints the differences.  qf-eval's
# stderr is left in $eval_stderr.
oracle_check() {
	local oracle=$1
	shift
	run --separate-stderr qf-eval "$@"
	[ "$status" -eq 0 ] || { echo "qf-eval exited $status: $stderr"; return 1; }
	eval_stderr=$stderr
	run $oracle check "$@"
	echo "$output"
	[ "$status" -eq 0 ]
}

# The fixtures of the suites that compare test models, in the file's
# temporary directory: tokens.qft, languages.tsv, bad-id.qft, a.qft (the
# reference) and rounded copies of it, q7, q9, q11, q13 and q17 (7 to 17
# levels); the oracle's cache.
compare_fixtures() {
	cd "$BATS_FILE_TMPDIR"
	cp "$TESTS_DIR"/data/eval/{tokens.qft,q11.qft,q7.qft,languages.tsv} \
		"$TESTS_DIR/data/model/a.qft" .
	for q in 4 6 8; do
		$PY "$TESTS_DIR/data/eval/compare_oracle.py" rounded $q q$((2 * q + 1)).qft
	done
	$PY "$TESTS_DIR/data/eval/gen_eval.py" variant bad-id bad-id.qft
	mkdir -p cache
}

# Each test: in that directory, with the oracle's cache, and GROUPS_,
# scopes of every kind: --group-by morph_type (one of its values a
# language alone) and a --group.
compare_setup() {
	cd "$BATS_FILE_TMPDIR"
	export ORACLE_CACHE="$BATS_FILE_TMPDIR/cache"
	GROUPS_=(--languages languages.tsv --group-by morph_type
		--group big=eng,rus,cmn_hans)
}

# Bad input to qf-eval with the arguments and table option OPT
# (--compare, --contrasts): one line, exit 1, no table left behind, an
# old one untouched; a table that cannot be created: the other tables
# are not left either.
table_bad_input() {
	local opt=$1
	shift
	rm -f t.tsv l.tsv
	run --separate-stderr qf-eval "$@" -o l.tsv "$opt" t.tsv bad-id.qft
	assert_failure 1
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ $stderr == "qf-eval: bad-id.qft: record doc.5: token id 97 at position 3 out of range"* ]]
	[ ! -e t.tsv ] && [ ! -e l.tsv ]
	echo old > t.keep
	run --separate-stderr qf-eval "$@" -o l.tsv "$opt" t.keep bad-id.qft
	assert_failure 1
	[ "$(cat t.keep)" = old ]
	run --separate-stderr qf-eval "$@" --bootstrap 0 -o l.tsv "$opt" nodir/t.tsv \
		tokens.qft
	assert_failure 1
	[ "$stderr" = "qf-eval: nodir/t.tsv: cannot create: No such file or directory" ]
	[ ! -e l.tsv ]
	[ -z "$(ls -A | grep -F .tmp.)" ]
}
