#!/usr/bin/env bats
# qf-fit mixed (docs/fit.md, "Mixed models"): the coefficients, the
# variance components and the random effects checked against statsmodels
# MixedLM (computed at test time by tests/data/fit/mixed_oracle.py on
# seeded tables it generates, within MixedLM's tolerance), on crossed
# factors with covariates, on a table of qf-eval --units-out's shape (the
# paired multiplicative model of Mielke et al. 2019) and on a per-layer
# profile across seeds (--icc: the profile interval against the REML
# criterion computed densely, the ANOVA F interval against scipy); the
# components' profile intervals (one factor) likewise; bad
# input, misuse, the options of other subcommands refused, same bytes
# twice, the man page's examples.

load common
load fit_common

ORACLE="$PY $TESTS_DIR/data/fit/mixed_oracle.py"

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	if ! $PY -c 'import numpy, scipy, pandas, statsmodels' 2>/dev/null; then
		touch no-statsmodels
		return
	fi
	$ORACLE gen crossed.tsv crossed 1
	$ORACLE gen units.tsv units 2
	$ORACLE gen oneway.tsv oneway 3
}

setup() {
	cd "$BATS_FILE_TMPDIR"
	[ ! -e no-statsmodels ] || skip "no numpy, scipy, pandas or statsmodels"
}

# Fit FORMULA with GROUPS on TABLE (full precision) and check the three
# tables against MixedLM; more options (--ml, --where) after GROUPS.
check() {
	local table=$1 formula=$2 groups=$3 ml=
	shift 3
	qf-fit mixed "$formula" --groups "$groups" --digits 17 --model-out m.tsv \
		--ranef r.tsv -o c.tsv "$@" "$table"
	for a in "$@"; do [ "$a" != --ml ] || ml=ml; done
	$ORACLE check "$table" c.tsv m.tsv r.tsv "$formula" "$groups" $ml
}

@test "crossed factors, covariates and a fixed factor against MixedLM" {
	check crossed.tsv 'y ~ x + C(f)' lang,unit
	check crossed.tsv 'y ~ x' unit,lang
	check crossed.tsv 'y ~ x + C(f)' lang --intervals
	check crossed.tsv 'y ~ x' unit --ml --intervals
	check crossed.tsv 'y ~ x + C(f)' lang,unit --ml
	# the oracle sees a change in the 7th digit of a standard error
	awk -F'\t' 'BEGIN {OFS="\t"} $1 == "x" {$3 = $3 * (1 + 3e-6)} 1' c.tsv > c2.tsv
	run $ORACLE check crossed.tsv c2.tsv m.tsv r.tsv 'y ~ x + C(f)' lang,unit ml
	assert_failure 1
	assert_output --partial "x se: qf"
	# --intervals adds the intervals and changes nothing else
	qf-fit mixed 'y ~ x' --groups lang,unit --model-out m1.tsv -o c1.tsv crossed.tsv
	qf-fit mixed 'y ~ x' --groups lang,unit --intervals --model-out m2.tsv -o c2.tsv crossed.tsv
	cmp c1.tsv c2.tsv
	[ "$(cut -f1-10 m1.tsv)" = "$(cut -f1-10 m2.tsv)" ]
	[ "$(awk -F'\t' 'NR > 2 && ($11 == "NA" || $12 == "NA")' m2.tsv)" = "" ]
	[ "$(awk -F'\t' 'NR > 2 && $11 <= $9 && $9 <= $12' m2.tsv | wc -l)" = 3 ]
}

@test "the Mielke et al. model on a table of qf-eval --units-out's shape" {
	# both factors random: the languages' and the units' variances
	check units.tsv 'log(kl_sum) ~ 1' lang,unit
	# the languages fixed (their effects), the units random
	check units.tsv 'log(kl_sum) ~ C(lang)' unit --intervals
	check units.tsv 'log(d_bits) ~ log(tokens)' lang,unit --where model=q4 --where kind=body
	[ "$(sed -n 2p m.tsv)" = "$(printf 'formula\tmethod\tn\tdropped\tllf\tconverged\tcomponent\tlevels\tvariance\tsd\tvar_low\tvar_high\ticc\ticc_low\ticc_high')" ]
	[ "$(cut -f7,8 m.tsv | tail -n +3 | tr '\t\n' ': ')" = "lang:12 unit:9 Residual:NA " ]
	# the random effects: the levels sorted, languages then units
	[ "$(sed -n 2,4p r.tsv | cut -f1,2 | tr '\t\n' ': ')" = "group:level lang:ara lang:deu " ]
}

@test "--icc: ICC(1) of a profile across replicates, profile and F intervals" {
	qf-fit mixed 'crit ~ 1' --groups layer --icc --digits 17 oneway.tsv > i.tsv
	$ORACLE icc oneway.tsv i.tsv 'crit ~ 1' layer
	check oneway.tsv 'crit ~ 1' layer --intervals
	[ "$(cut -f2,4,5 i.tsv | tail -n +3 | tr '\t\n' ': ')" = "reml_profile:12:5 anova_f:12:5 " ]
	# unbalanced (a seed missing for some layers): the profile only
	awk -F'\t' '!($2 == 4 && $1 < 5)' oneway.tsv > ub.tsv
	qf-fit mixed 'crit ~ 1' --groups layer --icc --digits 17 ub.tsv > i.tsv
	$ORACLE icc ub.tsv i.tsv 'crit ~ 1' layer
	[ "$(tail -n +3 i.tsv | cut -f2,5 | tr '\t\n' ': ')" = "reml_profile:NA " ]
	# the ICC of the components table is the same
	qf-fit mixed 'crit ~ 1' --groups layer --intervals --model-out m.tsv -o /dev/null oneway.tsv
	qf-fit mixed 'crit ~ 1' --groups layer --icc oneway.tsv > i.tsv
	[ "$(sed -n 3p m.tsv | cut -f13-15)" = "$(sed -n 3p i.tsv | cut -f6-8)" ]
}

@test "NA in a grouping column: an error naming it, or dropped with a count" {
	awk -F'\t' 'BEGIN {OFS="\t"} NR == 7 {$1 = "NA"} NR == 9 {$5 = ""} 1' crossed.tsv > na.tsv
	bad "na.tsv: line 7: column 'lang' is NA (--drop-na drops such rows)" \
		mixed 'y ~ x' --groups lang,unit na.tsv
	run --separate-stderr qf-fit mixed 'y ~ x' --groups lang,unit --drop-na -o c.tsv na.tsv
	assert_success
	[ "$stderr" = "qf-fit: 2 rows with an NA dropped (--drop-na), 67 left" ]
	awk -F'\t' 'NR != 7 && NR != 9' crossed.tsv > nona.tsv
	qf-fit mixed 'y ~ x' --groups lang,unit -o c2.tsv nona.tsv
	cmp c.tsv c2.tsv
	qf-fit mixed 'y ~ x' --groups lang,unit --drop-na --model-out m.tsv -o /dev/null na.tsv
	[ "$(sed -n 3p m.tsv | cut -f3,4)" = "$(printf '67\t2')" ]
}

@test "bad input: one line, exit 1, no output" {
	bad "crossed.tsv: no column 'nope'" mixed 'y ~ x' --groups nope crossed.tsv
	bad "crossed.tsv: no column 'z1'" mixed 'y ~ z1' --groups lang crossed.tsv
	bad "--groups lang: one level ('l03') in the rows fitted (a random effect needs 2 or more)" \
		mixed 'y ~ x' --groups lang,unit --where lang=l03 crossed.tsv
	awk -F'\t' 'BEGIN {OFS="\t"} /^#/ {next} NR == 2 {print $0, "x2"; next} {print $0, $3}' \
		crossed.tsv > dep.tsv
	bad "rank-deficient design: 'x2' is a linear combination of the other columns" \
		mixed 'y ~ x + x2' --groups lang dep.tsv
	bad "crossed.tsv: line 3: column 'f': 'a' is not a number" \
		mixed 'y ~ f' --groups lang crossed.tsv
	head -n 4 crossed.tsv > small.tsv
	bad "2 rows for 2 coefficients: a fit needs more rows than coefficients" \
		mixed 'y ~ x' --groups unit small.tsv
	# a response the fixed effects fit exactly
	awk -F'\t' 'BEGIN {OFS="\t"} /^#/ {next} NR > 2 {$5 = $3} 1' crossed.tsv > exact.tsv
	bad "mixed model: y is fitted exactly by the fixed effects" \
		mixed 'y ~ x' --groups lang exact.tsv
}

@test "misuse: exit 2; the options of another subcommand refused" {
	misuse "mixed: no formula" mixed
	misuse "mixed: no --groups (the grouping columns)" mixed 'y ~ x' crossed.tsv
	misuse "--groups: 2 columns at most" mixed 'y ~ x' --groups a,b,c crossed.tsv
	misuse "--groups: 'a' twice" mixed 'y ~ x' --groups a,a crossed.tsv
	misuse "--groups wants G[,G2]" mixed 'y ~ x' --groups , crossed.tsv
	misuse "--icc: one grouping column, not 2" mixed 'y ~ 1' --groups lang,unit --icc crossed.tsv
	misuse "mixed: --weights is not one of its options" mixed 'y ~ x' --groups lang --weights x crossed.tsv
	misuse "mixed: --vs is not one of its options" mixed 'y ~ x' --groups lang --vs 'y ~ 1' crossed.tsv
	misuse "mixed: --folds is not one of its options" mixed 'y ~ x' --groups lang --folds 3 crossed.tsv
	misuse "lm: --groups is not one of its options" lm 'y ~ x' --groups lang crossed.tsv
	misuse "lm: --ml is not one of its options" lm 'y ~ x' --ml crossed.tsv
	misuse "lm: --icc is not one of its options" lm 'y ~ x' --icc crossed.tsv
	misuse "lm: --ranef is not one of its options" lm 'y ~ x' --ranef r.tsv crossed.tsv
	misuse "-o and --ranef name the same file" mixed 'y ~ x' --groups lang --ranef - crossed.tsv
	misuse "formula 'y ~ ': a column name expected at 'the end'" mixed 'y ~ ' --groups lang crossed.tsv
	misuse "no subcommand (lm, cor, perm, mixed)"
}

@test "same bytes twice; standard input; an output that cannot be made" {
	qf-fit mixed 'y ~ x + C(f)' --groups lang,unit --intervals --model-out m1.tsv --ranef r1.tsv -o c1.tsv crossed.tsv
	qf-fit mixed 'y ~ x + C(f)' --groups lang,unit --intervals --model-out m2.tsv --ranef r2.tsv -o c2.tsv crossed.tsv
	cmp c1.tsv c2.tsv
	cmp m1.tsv m2.tsv
	cmp r1.tsv r2.tsv
	qf-fit mixed 'y ~ x + C(f)' --groups lang,unit --intervals --model-out m3.tsv < crossed.tsv > c3.tsv
	cmp c1.tsv c3.tsv
	cmp m1.tsv m3.tsv
	[ "$(sed -n 2p c1.tsv)" = "$(printf 'term\testimate\tse\tz\tp\tci_low\tci_high')" ]
	[ "$(head -c 12 r1.tsv)" = "# qf=0.1.0 t" ]
	run --separate-stderr qf-fit mixed 'y ~ x' --groups lang --model-out m9.tsv --ranef nodir/r.tsv -o c9.tsv crossed.tsv
	assert_failure 1
	[ "$stderr" = "qf-fit: nodir/r.tsv: cannot create: No such file or directory" ]
	[ ! -e m9.tsv ] && [ ! -e c9.tsv ]
}

@test "the man page's mixed examples run, and --help's are among them" {
	# the example's profile table: a criticality per layer and seed
	cp oneway.tsv profiles.tsv
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$TESTS_DIR/../docs/man/qf-fit.1" |
		grep -E '^qf-fit mixed ' | sed 's/\\-/-/g' > examples.sh
	[ "$(wc -l < examples.sh)" -ge 2 ]
	run bash -e -o pipefail examples.sh
	assert_success
	[ "$(sed -n 3p vc.tsv | cut -f7)" = lang ]
	qf-fit --help | sed -n 's/^  \(qf-fit mixed .*\)$/\1/p' > help.sh
	[ -s help.sh ]
	while read -r line; do grep -qxF -- "$line" examples.sh; done < help.sh
}
