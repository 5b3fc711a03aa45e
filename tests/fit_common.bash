# fit_common.bash - loaded by the qf-fit suites (qf-fit, qf-fit-cor,
# qf-fit-mixed) after common.bash: their checks of a refusal.

# Misuse: exit 2, the message (first line) and the pointer to --help.
misuse() {
	local want=$1
	shift
	run --separate-stderr qf-fit "$@"
	assert_failure 2
	[ "${stderr_lines[0]}" = "qf-fit: $want" ] || {
		echo "got: ${stderr_lines[0]}"; false; }
	[ "${stderr_lines[1]}" = "Try 'qf-fit --help' for more information." ]
}

# Bad data: exit 1, one line, no output left.
bad() {
	local want=$1
	shift
	rm -f out.tsv
	run --separate-stderr qf-fit "$@" -o out.tsv
	assert_failure 1
	[ "$stderr" = "qf-fit: $want" ] || { echo "got: $stderr"; false; }
	[ ! -e out.tsv ]
	! ls .out.tsv.tmp.* 2>/dev/null
}
