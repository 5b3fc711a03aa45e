# tests/bench/pairs.sh - timed pairs for the command-line benchmarks
# (cli.sh, fit.sh), sourced: each command of a pair runs $rounds times,
# the order within the pair alternating from round to round; a table row
# gives the median of each: wall time, CPU time (user + system) and peak
# resident memory (/usr/bin/time), and the ratio of the wall times.
# Commands run in the current directory, their standard output dropped.

# scratch NAME: go to a new directory under $TMPDIR, else /dev/shm (no
# disk writeback in the figures), else /tmp; it goes at exit.  Sets tmp.
scratch() {
	tmp=${TMPDIR:-/dev/shm}
	[ -d "$tmp" ] && [ -w "$tmp" ] || tmp=/tmp
	dir=$(mktemp -d "$tmp/qf_bench_$1.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
	cd "$dir"
}

# One timed run of a shell line: "WALL CPU KIB".
timed() {
	/usr/bin/time -f '%e %U %S %M' -o t.out bash -c "$1" >/dev/null
	awk '{ print $1, $2 + $3, $4 }' t.out
}

median() {
	sort -g | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# "WALL s (CPU s), RSS MiB" of the runs in file $1.
figures() {
	printf '%.2f s (%.2f), %.0f MiB' "$(cut -d' ' -f1 "$1" | median)" \
		"$(cut -d' ' -f2 "$1" | median)" \
		"$(cut -d' ' -f3 "$1" | median | awk '{ print $1 / 1024 }')"
}

# pair QF-COMMAND REFERENCE [QF-LABEL REFERENCE-LABEL]: one table row,
# the commands named by their labels (default: the commands, quoted).
pair() {
	local r a=${3:-\`$1\`} b=${4:-\`$2\`}
	: > q.t
	: > z.t
	for ((r = 0; r < rounds; r++)); do
		if ((r % 2)); then
			timed "$2" >> z.t
			timed "$1" >> q.t
		else
			timed "$1" >> q.t
			timed "$2" >> z.t
		fi
	done
	printf '| %s | %s | %s | %s | %.2f |\n' "${a//|/\\|}" "$(figures q.t)" \
		"${b//|/\\|}" "$(figures z.t)" \
		"$(awk -v a="$(cut -d' ' -f1 q.t | median)" \
			-v b="$(cut -d' ' -f1 z.t | median)" 'BEGIN { print a / b }')"
}

# header QF-TITLE REFERENCE-TITLE: a table's head.
header() {
	echo
	echo "| $1 | wall (CPU), peak RSS | $2 | wall (CPU), peak RSS | ratio |"
	echo "|---|---|---|---|---|"
}
