# eval_common.bash - loaded by the qf-eval suites (qf-eval,
# qf-eval-compare, qf-eval-reliab) after common.bash: their check
# against an oracle.

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
