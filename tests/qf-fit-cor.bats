#!/usr/bin/env bats
# qf-fit cor and perm (docs/fit.md): every cell of their tables checked
# against scipy.stats (pearsonr, spearmanr, kendalltau, bootstrap fed
# qf's draws, permutation_test) and statsmodels' multipletests, computed
# at test time by tests/data/fit/cor_oracle.py on a seeded table it
# generates; NA, transforms, joins and filters; bad input, misuse, the
# options of one subcommand refused by the others, same bytes twice, the
# man page's examples.

load common
load fit_common

ORACLE="$PY $TESTS_DIR/data/fit/cor_oracle.py"

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	if ! $PY -c 'import numpy, scipy, statsmodels' 2>/dev/null; then
		touch no-statsmodels
		return
	fi
	$ORACLE gen t.tsv 1
}

setup() {
	cd "$BATS_FILE_TMPDIR"
	[ ! -e no-statsmodels ] || skip "no numpy, scipy or statsmodels"
}

# qf-fit cor OPTIONS on t.tsv at full precision, every cell checked.
cor() {
	qf-fit cor --digits 17 -o c.tsv "$@" t.tsv
	$ORACLE cor t.tsv c.tsv "$@"
}

# qf-fit perm 'Y ~ G' OPTIONS on t.tsv, checked.
perm() {
	local f=$1
	shift
	qf-fit perm "$f" --digits 17 -o p.tsv "$@" t.tsv
	$ORACLE perm t.tsv p.tsv "$f" "$@"
}

@test "cor: Pearson, Spearman, Kendall of many pairs, Holm and BH, as scipy and statsmodels" {
	cor --x a,b,c,t
	cor --method spearman --x a,b --y c,t,z1
	cor --method kendall --pairs b:t --adjust none
	cor --method kendall --pairs a:b,t:a,c:t,z1:z2 --adjust bh
	# the oracle sees a change in the 9th digit of one cell
	awk -F'\t' 'BEGIN {OFS="\t"} $1 == "z1" {$10 = $10 * (1 + 3e-8)} 1' c.tsv > c2.tsv
	run $ORACLE cor t.tsv c2.tsv --method kendall --pairs a:b,t:a,c:t,z1:z2 --adjust bh
	assert_failure 1
	assert_output --partial "row 4 (z1:z2) p: qf-fit"
}

@test "cor: transforms, NA dropped pairwise with a count, exact Kendall p" {
	cor --x a,log\(c\),z\(b\),rank\(t\),sq\(z1\),log1p\(c\)
	cor --method spearman --pairs 'z(log(c)):b'
	run --separate-stderr qf-fit cor --pairs a:b,a:c -o c.tsv t.tsv
	assert_success
	[ "$stderr" = "qf-fit: pair a:b: 2 rows with an NA dropped, 38 used" ]
	[ "$(cut -f5,6 c.tsv | tail -n 2 | tr '\n' ' ')" = "38	2 40	0 " ]
	# a few rows: Kendall's p from the exact distribution
	cor --method kendall --where s=yes --x a,c,z1
	[ "$(cut -f11 c.tsv | tail -n +3 | sort -u)" = 1 ]
}

@test "cor: partial correlation given covariates, as least squares residuals" {
	cor --partial z1,z2 --pairs a:b,a:c,b:c
	cor --partial z1 --x a,b,log\(c\)
	[ "$(sed -n 3p c.tsv | cut -f3)" = z1 ]
}

@test "cor: bootstrap intervals (BCa, percentile) with qf's draws, as scipy's" {
	cor --bootstrap 499 --seed 7 --pairs a:b,t:c
	cor --method spearman --bootstrap 300 --ci percentile --seed 3 --pairs a:c
	cor --method kendall --bootstrap 200 --pairs a:t
	# the seed changes the interval, and only that
	qf-fit cor --bootstrap 100 --seed 4 --pairs a:b t.tsv | cut -f1-12 > s4.tsv
	qf-fit cor --bootstrap 100 --seed 5 --pairs a:b t.tsv | cut -f1-12 > s5.tsv
	cmp s4.tsv s5.tsv
	! cmp -s <(qf-fit cor --bootstrap 100 --seed 4 --pairs a:b t.tsv) \
		<(qf-fit cor --bootstrap 100 --seed 5 --pairs a:b t.tsv)
}

@test "cor: permutation p, exact for few rows, else Monte-Carlo near scipy's" {
	cor --where s=yes --permutations 5040 --method spearman --x a,b,c
	cor --where s=yes --permutations 5040 --method kendall --x a,t
	[ "$(cut -f18 c.tsv | tail -n +3 | sort -u)" = 1 ]
	cor --permutations 2000 --pairs a:b,a:z2
	[ "$(cut -f18,19 c.tsv | tail -n +3 | sort -u)" = "0	2000" ]
}

@test "perm: two groups, exact or Monte-Carlo, as scipy.stats.permutation_test" {
	perm 'a ~ g' --where g3=x
	[ "$(cut -f12 p.tsv | tail -n 1)" = 1 ]
	perm 'log(c) ~ g3' --levels w,y
	perm 'b ~ g' --levels rich,poor --permutations 3000 --seed 9
	[ "$(cut -f12,13 p.tsv | tail -n 1)" = "0	3000" ]
	# NA groups and values dropped, with a count
	run --separate-stderr qf-fit perm 'b ~ g' t.tsv
	assert_success
	[ "$stderr" = "qf-fit: 3 rows with an NA dropped, 37 used" ]
	perm 'b ~ g'
}

@test "--join and --where: the statistics of the joined table" {
	qf-fit cor --method spearman --x a,b,c --bootstrap 50 -o c0.tsv t.tsv
	# the columns over two tables, the second's rows reversed
	cut -f1-3 t.tsv > a.tsv
	{ sed -n 2p t.tsv | cut -f1,4-; tail -n +3 t.tsv | tac | cut -f1,4-; } > b.tsv
	qf-fit cor --method spearman --x a,b,c --bootstrap 50 --join lang -o c1.tsv a.tsv b.tsv
	cmp c0.tsv c1.tsv
	qf-fit perm 'a ~ g' --join lang -o p1.tsv a.tsv b.tsv
	qf-fit perm 'a ~ g' -o p0.tsv t.tsv
	cmp p0.tsv p1.tsv
	{ head -n 2 t.tsv; awk -F'\t' '$10 == "yes"' t.tsv; } > s.tsv
	cmp <(qf-fit cor --x a,b s.tsv) <(qf-fit cor --x a,b --where s=yes t.tsv)
}

@test "bad input: one line, exit 1, no output" {
	bad "t.tsv: pair a:k: k is constant" cor --pairs a:k t.tsv
	bad "t.tsv: pair k:a: k is constant" cor --pairs k:a --method kendall t.tsv
	bad "t.tsv: no column 'nope'" cor --pairs a:nope t.tsv
	bad "t.tsv: line 3: column 'g': 'rich' is not a number" cor --pairs a:g t.tsv
	bad "t.tsv: line 6: log(z1): -1.3031572316043609 is out of its domain" \
		cor --pairs 'a:log(z1)' t.tsv
	bad "t.tsv: pair a:b: 0 complete pairs: a correlation needs 3" \
		cor --pairs a:b --where g3=nope t.tsv
	head -n 4 t.tsv > two.tsv
	bad "two.tsv: pair a:c: 2 complete pairs: a correlation needs 3" \
		cor --pairs a:c two.tsv
	bad "t.tsv: pair a:b: the covariates are collinear (rank 2 of 3 columns with the intercept)" \
		cor --pairs a:b --partial z1,z1 t.tsv
	bad "t.tsv: column 'g3' has more than two levels: give --levels A,B" \
		perm 'a ~ g3' t.tsv
	bad "t.tsv: column 's' has one level: a test of two groups needs two" \
		perm 'a ~ s' --where s=yes t.tsv
	bad "t.tsv: no row of level 'q' of 'g3' with a value" \
		perm 'a ~ g3' --levels x,q t.tsv
	bad "t.tsv: no column 'gg'" perm 'a ~ gg' t.tsv
	bad "t.tsv: no column 'aa'" perm 'aa ~ g' t.tsv
	printf 'a\tb\n1\t2\t3\n' > ragged.tsv
	bad "ragged.tsv: line 2: 3 fields, the header has 2" cor --x a,b ragged.tsv
}

@test "misuse: exit 2; each subcommand refuses the others' options" {
	misuse "no subcommand (lm, cor, perm, mixed)"
	misuse "cor: no pairs (--pairs X:Y,... or --x COLS [--y COLS])" cor t.tsv
	misuse "cor: --y without --x" cor --y a t.tsv
	misuse "cor: --pairs, or --x and --y, not both" cor --pairs a:b --x a t.tsv
	misuse "--pairs: 'X:Y', not 'a'" cor --pairs a t.tsv
	misuse "--pairs: 'X:Y', not 'a:b:c'" cor --pairs a:b:c t.tsv
	misuse "--x: an empty item in 'a,,b'" cor --x a,,b t.tsv
	misuse "--x: one column and no --y: no pair" cor --x a t.tsv
	misuse "--pairs: 'C(g)' is not a column or a transform of one (log, log1p, z, rank, sq)" \
		cor --pairs 'a:C(g)' t.tsv
	misuse "--x: 'a+b' is not a column or a transform of one (log, log1p, z, rank, sq)" \
		cor --x a+b,c t.tsv
	misuse "--y: 'log(a' is not a column or a transform of one (log, log1p, z, rank, sq)" \
		cor --x b --y 'log(a' t.tsv
	misuse "--method: pearson, spearman or kendall, not 'tau'" cor --method tau --x a,b t.tsv
	misuse "--adjust: holm, bh or none, not 'bonf'" cor --adjust bonf --x a,b t.tsv
	misuse "--ci: bca or percentile, not 'basic'" cor --ci basic --x a,b t.tsv
	misuse "cor: --ci without --bootstrap" cor --ci bca --x a,b t.tsv
	misuse "--bootstrap: at least 1, not '0'" cor --bootstrap 0 --x a,b t.tsv
	misuse "--permutations: at least 1, not '0'" cor --permutations 0 --x a,b t.tsv
	misuse "cor: --partial is Pearson's (for Spearman's, correlate rank() columns)" \
		cor --method spearman --partial z1 --x a,b t.tsv
	misuse "cor: --partial with --bootstrap" cor --partial z1 --bootstrap 9 --x a,b t.tsv
	misuse "perm: no 'Y ~ GROUP'" perm
	misuse "perm: 'Y ~ GROUP', not 'a'" perm a t.tsv
	misuse "perm: 'Y ~ GROUP', GROUP a column, not 'a ~ C(g)'" perm 'a ~ C(g)' t.tsv
	misuse "perm: 'a b' is not a column or a transform of one (log, log1p, z, rank, sq)" \
		perm 'a b ~ g' t.tsv
	misuse "--levels: two levels A,B, not 'x'" perm 'a ~ g3' --levels x t.tsv
	misuse "--levels: two levels A,B, not 'x,x'" perm 'a ~ g3' --levels x,x t.tsv
	# the options of one subcommand are not the others'
	misuse "cor: --weights is not one of its options" cor --weights w --x a,b t.tsv
	misuse "cor: --levels is not one of its options" cor --levels a,b --x a,b t.tsv
	misuse "perm: --method is not one of its options" perm 'a ~ g' --method kendall t.tsv
	misuse "perm: --drop-na is not one of its options" perm 'a ~ g' --drop-na t.tsv
	misuse "lm: --permutations is not one of its options" lm 'a ~ b' --permutations 9 t.tsv
	misuse "lm: --pairs is not one of its options" lm 'a ~ b' --pairs a:b t.tsv
	misuse "2 tables: give --join KEY to join them" cor --x a,b t.tsv t.tsv
}

@test "same bytes twice; standard input; digits; the header" {
	qf-fit cor --x a,b,c --bootstrap 200 --permutations 500 -o c1.tsv t.tsv
	qf-fit cor --x a,b,c --bootstrap 200 --permutations 500 -o c2.tsv t.tsv
	cmp c1.tsv c2.tsv
	qf-fit cor --x a,b,c --bootstrap 200 --permutations 500 < t.tsv > c3.tsv
	cmp c1.tsv c3.tsv
	qf-fit perm 'b ~ g' -o p1.tsv t.tsv
	qf-fit perm 'b ~ g' < t.tsv > p2.tsv
	cmp p1.tsv p2.tsv
	[ "$(head -c 12 c1.tsv)" = "# qf=0.1.0 t" ]
	[ "$(sed -n 2p c1.tsv)" = "$(printf 'x\ty\tgiven\tmethod\tn\tdropped\tr\tstat\tdf\tp\tp_exact\tci\tci_low\tci_high\tadjust\tp_adj\tp_perm\tperm_exact\tnperm\tp_perm_adj')" ]
	[ "$(sed -n 2p p1.tsv)" = "$(printf 'y\tgroup\ta\tb\tn_a\tn_b\tdropped\tmean_a\tmean_b\tdiff\tp\texact\tnperm')" ]
	qf-fit cor --x a,b --digits 3 t.tsv | awk -F'\t' 'NR==3 && length($7) <= 6 {ok=1} END {exit !ok}'
}

@test "the man page's cor and perm examples run, and --help's are among them" {
	# the files the examples name (tests/qf-fit.bats makes them too)
	$PY - <<-'EOF'
	import numpy as np
	rng = np.random.default_rng(5)
	with open("criticality.tsv", "w") as f:
	    f.write("layer\tvariance\tdisparity\n")
	    for i in range(12):
	        f.write(f"{i}\t{rng.uniform(1, 13):.3f}\t{rng.uniform(0.1, 1):.3f}\n")
	with open("lang.tsv", "w") as f, open("languages.tsv", "w") as g:
	    f.write("lang\ty\tx\tn\n")
	    g.write("lang\tmorph\n")
	    for i in range(10):
	        f.write(f"l{i}\t{rng.normal():.4f}\t{rng.normal():.4f}\t{i + 2}\n")
	        g.write(f"l{9 - i}\tm{i % 3}\n")
	EOF
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$TESTS_DIR/../docs/man/qf-fit.1" |
		grep -E '^qf-fit (cor|perm) ' | sed 's/\\-/-/g' > examples.sh
	[ "$(wc -l < examples.sh)" -ge 3 ]
	run bash -e -o pipefail examples.sh
	assert_success
	qf-fit --help | sed -n 's/^  \(qf-fit \(cor\|perm\) .*\)$/\1/p' > help.sh
	[ -s help.sh ]
	while read -r line; do grep -qxF -- "$line" examples.sh; done < help.sh
}
