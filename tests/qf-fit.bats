#!/usr/bin/env bats
# qf-fit lm (docs/fit.md): every figure of the coefficients and model
# tables checked against statsmodels' OLS and WLS (computed at test time
# by tests/data/fit/lm_oracle.py on seeded tables it generates), PRESS
# and cross-validated R^2 against numpy refits; tables joined and
# filtered; bad input, misuse, atomic output, same bytes twice, the man
# page's examples.

load common
load fit_common

ORACLE="$PY $TESTS_DIR/data/fit/lm_oracle.py"

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	if ! $PY -c 'import numpy, scipy, pandas, statsmodels' 2>/dev/null; then
		touch no-statsmodels
		return
	fi
	$ORACLE gen t.tsv 1
	$ORACLE gen tn.tsv 2 1
}

setup() {
	cd "$BATS_FILE_TMPDIR"
	[ ! -e no-statsmodels ] || skip "no numpy, scipy, pandas or statsmodels"
}

# Fit FORMULA on TABLE with qf-fit (full precision) and check both tables
# against the oracle; options after the formula go to both (but
# --drop-na, qf-fit's alone).
check() {
	local table=$1 formula=$2
	shift 2
	local o=() a
	qf-fit lm "$formula" --digits 17 --model-out m.tsv -o c.tsv "$@" "$table"
	for a in "$@"; do [ "$a" = --drop-na ] || o+=("$a"); done
	$ORACLE check "$table" c.tsv m.tsv "$formula" "${o[@]}"
}

@test "OLS: interaction, factor and log against statsmodels" {
	check t.tsv 'y ~ x1 + x2 + x1:x2 + C(g) + log(pos)'
	check t.tsv 'y ~ C(g) + x1 + C(g):x1'
	check t.tsv 'y ~ x1 + x1:C(g)'
	check t.tsv 'y ~ C(grp) + x1 + x2'
	# the oracle sees a change in the 9th digit of one figure
	awk -F'\t' 'BEGIN {OFS="\t"} $1 == "x1" {$3 = $3 * (1 + 3e-8)} 1' c.tsv > c2.tsv
	run $ORACLE check t.tsv c2.tsv m.tsv 'y ~ C(grp) + x1 + x2'
	assert_failure 1
	assert_output --partial "x1 se: qf"
}

@test "transforms z, rank, sq, log1p; no intercept; an implicit one" {
	check t.tsv 'y ~ z(x1) + rank(x2) + sq(x1) + log1p(pos)'
	check t.tsv 'z(log(pos)) ~ sq(z(x1)) + rank(y)'
	check t.tsv 'y ~ x1 + x2 - 1'
	check t.tsv 'y ~ 0 + x1 + x2'
	# C(g) - 1: full coding, the constant implicit (centered R^2)
	check t.tsv 'y ~ C(g) - 1'
	[ "$(cut -f1 c.tsv | tail -n +3 | tr '\n' ' ')" = "C(g)[a] C(g)[b] C(g)[c] " ]
}

@test "WLS, k-fold and leave-one-group-out R^2, nested F test" {
	check t.tsv 'y ~ x1 + x2' --weights w --folds 5 --seed 3 --cv-group grp
	check t.tsv 'y ~ x1 + x2 + x1:x2 + log(pos)' --folds 10 --seed 7
	check t.tsv 'y ~ x1 + x2 + x1:x2' --vs 'y ~ x1' --weights w
	check t.tsv 'y ~ x1 + x2 + C(g)' --vs 'y ~ x2' --cv-group layer
	# the seed changes the folds, and only that
	qf-fit lm 'y ~ x1' --folds 5 --seed 4 --model-out m4.tsv -o c4.tsv t.tsv
	qf-fit lm 'y ~ x1' --folds 5 --seed 5 --model-out m5.tsv -o c5.tsv t.tsv
	cmp c4.tsv c5.tsv
	! cmp -s m4.tsv m5.tsv
}

@test "NA: an error naming the column and line, or dropped with a count" {
	bad "tn.tsv: line 6: column 'x2' is NA (--drop-na drops such rows)" \
		lm 'y ~ x1 + x2' tn.tsv
	run --separate-stderr qf-fit lm 'y ~ x1 + x2' --drop-na -o c.tsv tn.tsv
	assert_success
	[ "$stderr" = "qf-fit: 6 rows with an NA dropped (--drop-na), 34 left" ]
	check tn.tsv 'y ~ x1 + x2' --drop-na
	check tn.tsv 'y ~ x1' --drop-na --vs 'y ~ 1' --folds 3
	[ "$(awk -F'\t' 'NR==3{print $2, $4}' m.tsv)" = "37 3" ]
}

@test "--join: tables joined on keys give the fit of the whole table" {
	qf-fit lm 'y ~ x1 + x2 + C(g)' --weights w --model-out m0.tsv -o c0.tsv t.tsv
	# the columns split over two tables, the second's rows reversed
	cut -f1-4,8 t.tsv > a.tsv
	{ sed -n 2p t.tsv | cut -f1,5-7,9; tail -n +3 t.tsv | tac | cut -f1,5-7,9; } > b.tsv
	qf-fit lm 'y ~ x1 + x2 + C(g)' --weights w --join id --model-out m1.tsv -o c1.tsv a.tsv b.tsv
	cmp c0.tsv c1.tsv
	cmp m0.tsv m1.tsv
	# two keys; a column in both is renamed NAME.2
	cut -f1-3,5 t.tsv > k1.tsv
	cut -f1-3,5,9 t.tsv > k2.tsv
	qf-fit lm 'y ~ x1.2' --join id,g k1.tsv k2.tsv > j.tsv
	qf-fit lm 'y ~ x1' t.tsv | sed 's/^x1\t/x1.2\t/' > w.tsv
	cmp w.tsv j.tsv
}

@test "--join: a key missing from one side or twice in one table" {
	cut -f1-4,8 t.tsv > a.tsv
	cut -f1,5-7,9 t.tsv > b.tsv
	head -n -1 b.tsv > short.tsv
	bad "short.tsv: no row with key id=r39 (a.tsv line 42)" \
		lm 'y ~ x1' --join id a.tsv short.tsv
	bad "short.tsv: no row with key id=r39 (a.tsv line 42)" \
		lm 'y ~ x1' --join id short.tsv a.tsv
	{ cat b.tsv; tail -n 1 b.tsv; } > dup.tsv
	bad "dup.tsv: line 43: key id=r39 twice (line 42 too)" \
		lm 'y ~ x1' --join id a.tsv dup.tsv
	bad "b.tsv: no column 'g' (a --join key)" \
		lm 'y ~ x1' --join id,g a.tsv b.tsv
}

@test "--where keeps the rows with a value, as a filtered table" {
	{ head -n 2 t.tsv; awk -F'\t' '$2 == "b" && $3 == "L1"' t.tsv; } > f.tsv
	{ head -n 2 t.tsv; awk -F'\t' '$2 == "b"' t.tsv; } > fb.tsv
	qf-fit lm 'y ~ x1' --where g=b -o c1.tsv t.tsv
	qf-fit lm 'y ~ x1' -o c2.tsv fb.tsv
	cmp c1.tsv c2.tsv
	run --separate-stderr qf-fit lm 'y ~ 1' --where g=b --where grp=L1 t.tsv
	assert_success
	qf-fit lm 'y ~ 1' f.tsv | cmp - <(echo "$output")
	bad "t.tsv: --where: no column 'nope'" lm 'y ~ x1' --where nope=1 t.tsv
}

@test "bad input: one line naming the column, exit 1, no output" {
	# an exact linear combination, a constant column, a text cell
	awk -F'\t' 'BEGIN{OFS="\t"} /^#/{next} NR==2{print $0,"l2","k";next}
		{print $0,2*$4+1,7}' t.tsv > r.tsv
	bad "rank-deficient design: 'l2' is a linear combination of the other columns" \
		lm 'y ~ layer + l2' r.tsv
	bad "column 'k' is constant (7 in every row)" lm 'y ~ x1 + k' r.tsv
	bad "r.tsv: line 2: column 'g': 'b' is not a number" lm 'y ~ g' r.tsv
	bad "r.tsv: no column 'nope'" lm 'y ~ x1 + nope' r.tsv
	bad "r.tsv: line 3: log(x1): -0.27560290529937043 is out of its domain" \
		lm 'log(x1) ~ x2' r.tsv
	bad "C(g): one level ('a') in the rows fitted" \
		lm 'y ~ x1 + C(g)' --where g=a r.tsv
	head -n 5 t.tsv > small.tsv
	bad "3 rows for 3 coefficients: a fit needs more rows than coefficients" \
		lm 'y ~ x1 + x2' small.tsv
	bad "--cv-group g, leaving out 'b': rank-deficient design: 'C(g)[T.b]' is a linear combination of the other columns" \
		lm 'y ~ x1 + C(g)' --cv-group g r.tsv
	bad "r.tsv: no column 'zz'" lm 'y ~ x1' --vs 'y ~ zz' r.tsv
	bad "--vs: the smaller model has 3 coefficients, the model 2" \
		lm 'y ~ x1' --vs 'y ~ x1 + x2' r.tsv
	bad "r.tsv: line 3: weight 'x1' is -0.27560290529937043, not positive" \
		lm 'y ~ x2' --weights x1 r.tsv
	printf 'a\tb\n1\t2\t3\n' > ragged.tsv
	bad "ragged.tsv: line 2: 3 fields, the header has 2" lm 'a ~ b' ragged.tsv
	printf '# only a comment\n' > empty.tsv
	bad "empty.tsv: no header (an empty table)" lm 'a ~ b' empty.tsv
	bad "nosuch.tsv: cannot open: No such file or directory" lm 'a ~ b' nosuch.tsv
	printf 'a\ta\n' > twice.tsv
	bad "twice.tsv: line 1: two columns named 'a'" lm 'a ~ b' twice.tsv
	# a row of leverage 1 (a level seen once): HC3 and PRESS are NA
	{ head -n 2 t.tsv; tail -n +3 t.tsv | sed '1s/\tb\t/\tz\t/'; } > one.tsv
	qf-fit lm 'y ~ x1 + C(g)' --model-out m.tsv -o c.tsv one.tsv
	[ "$(awk -F'\t' '$1 == "C(g)[T.z]" {print $4}' c.tsv)" = NA ]
	[ "$(awk -F'\t' 'NR==3 {print $15}' m.tsv)" = NA ]
}

@test "misuse: exit 2" {
	misuse "no subcommand (lm, cor, perm, mixed)"
	misuse "unknown subcommand 'fit'" fit 'y ~ x' t.tsv
	misuse "lm: no formula" lm
	misuse "formula 'y ~ ': a column name expected at 'the end'" lm 'y ~ ' t.tsv
	misuse "formula 'y x': '~' expected at 'x'" lm 'y x' t.tsv
	misuse "formula 'y ~ a*b': '*' is not supported (write a + b + a:b) at '*b'" lm 'y ~ a*b' t.tsv
	misuse "formula 'y ~ f(x)': no function of this name (log, log1p, z, rank, sq, C) at '(x)'" lm 'y ~ f(x)' t.tsv
	misuse "formula 'y ~ x + x': term 'x' twice" lm 'y ~ x + x' t.tsv
	misuse "formula 'y ~ x:x': a factor twice in one term at 'the end'" lm 'y ~ x:x' t.tsv
	misuse "formula 'y ~ C(log(x))': C() takes a column name at ')'" lm 'y ~ C(log(x))' t.tsv
	misuse "formula 'C(y) ~ x': the response cannot be a factor" lm 'C(y) ~ x' t.tsv
	misuse "formula 'y ~ - 1': no terms and no intercept" lm 'y ~ - 1' t.tsv
	misuse "2 tables: give --join KEY to join them" lm 'y ~ x1' t.tsv t.tsv
	misuse "--join needs two tables or more" lm 'y ~ x1' --join id t.tsv
	misuse "--join wants KEY[,KEY]..., not 'a,,b'" lm 'y ~ x1' --join a,,b t.tsv t.tsv
	misuse "--where wants COL=VALUE, not 'g'" lm 'y ~ x1' --where g t.tsv
	misuse "--folds: at least 2, not '1'" lm 'y ~ x1' --folds 1 t.tsv
	misuse "--digits: 1 to 17, not '0'" lm 'y ~ x1' --digits 0 t.tsv
	misuse "-o and --model-out name the same file" lm 'y ~ x1' --model-out - t.tsv
	misuse "unknown option '--bogus'" lm 'y ~ x1' --bogus t.tsv
}

@test "same bytes twice; standard input; digits; the provenance line" {
	qf-fit lm 'y ~ x1 + C(g)' --folds 4 --cv-group grp --model-out m1.tsv -o c1.tsv t.tsv
	qf-fit lm 'y ~ x1 + C(g)' --folds 4 --cv-group grp --model-out m2.tsv -o c2.tsv t.tsv
	cmp c1.tsv c2.tsv
	cmp m1.tsv m2.tsv
	qf-fit lm 'y ~ x1 + C(g)' --folds 4 --cv-group grp --model-out m3.tsv < t.tsv > c3.tsv
	cmp c1.tsv c3.tsv
	cmp m1.tsv m3.tsv
	[ "$(head -c 12 c1.tsv)" = "# qf=0.1.0 t" ]
	[ "$(sed -n 2p c1.tsv)" = "$(printf 'term\testimate\tse\tse_hc3\tt\tp\tci_low\tci_high')" ]
	qf-fit lm 'y ~ x1' --digits 3 t.tsv | awk -F'\t' 'NR==3 && length($2) <= 7 {ok=1} END {exit !ok}'
	# an output that cannot be created leaves neither table
	run --separate-stderr qf-fit lm 'y ~ x1' --model-out m9.tsv -o nodir/c.tsv t.tsv
	assert_failure 1
	[ "$stderr" = "qf-fit: nodir/c.tsv: cannot create: No such file or directory" ]
	[ ! -e m9.tsv ]
	qf-fit --version | grep -q '^qf-fit (qf) 0.1.0$'
	qf-fit --help | grep -q '^Usage: qf-fit SUBCOMMAND'
}

@test "the man page's lm examples run, and --help's are among them" {
	printf 'layer\tvariance\tdisparity\n' > criticality.tsv
	for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
		printf '%d\t%s\t%s\n' $i "$(( (i * 7) % 12 + 1 )).5" "0.$(( (i * 5) % 11 + 1 ))3"
	done >> criticality.tsv
	printf 'lang\ty\tx\tn\n' > lang.tsv
	printf 'lang\tmorph\n' > languages.tsv
	for i in 0 1 2 3 4 5 6 7 8 9; do
		printf 'l%d\t%s\t%s\t%d\n' $i "$(( (i * 3) % 7 )).25" "$(( (i * 5) % 9 )).5" $(( i + 2 )) >> lang.tsv
		printf 'l%d\tm%d\n' $(( 9 - i )) $(( i % 3 )) >> languages.tsv
	done
	cp t.tsv t0.tsv
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$TESTS_DIR/../docs/man/qf-fit.1" |
		grep -E '^qf-fit lm ' | sed 's/\\-/-/g' > examples.sh
	[ "$(wc -l < examples.sh)" -ge 3 ]
	run bash -e -o pipefail examples.sh
	assert_success
	[ "$(sed -n 2p model.tsv | cut -f15)" = r2_loo ]
	qf-fit --help | sed -n 's/^  \(qf-fit lm .*\)$/\1/p' > help.sh
	[ -s help.sh ]
	while read -r line; do grep -qxF -- "$line" examples.sh; done < help.sh
}
