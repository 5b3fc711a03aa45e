#!/usr/bin/env bats
# qf-eval --contrast and --contrasts (docs/eval.md, "Contrasts of
# configurations"): linear contrasts of the test models on each figure of
# the comparison, on the difference and the log scale, checked against
# tests/data/eval/contrast_oracle.py, which takes the figures, the paired
# replicates and the jackknife's leave-out sets from oracle.py (its own
# forward pass, draws and figures) and computes the contrasts, their
# intervals, p, Holm and max-T again in numpy; cell by cell, with
# oracle.py's tolerances.  The estimates are also checked against the
# disparity table with awk, and the misuse and bad input one by one.
# Cross-scope contrasts (terms MODEL@SCOPE) the same way: the oracle
# evaluates their terms in the scopes they name.
#
# Fixtures: those of tests/qf-eval-compare.bats (tokens.qft, 5
# languages; a.qft the reference; q11, q7, q9, q13, q17, rounded copies
# of it), one of them named p0-11 (a name with '-'), and bal.qft: 4
# records of each language with unit ids u1..u4, parallel units for the
# bootstrap-t.

load common
load eval_common

KON="$PY $TESTS_DIR/data/eval/contrast_oracle.py"

setup_file() {
	compare_fixtures
	qf-cat -l tokens.qft | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^lang=/) {
		l = substr($i, 6); if (++n[l] <= 4) print $1, n[l] } }' |
	while read -r name k; do
		qf-cat -n "$name" --set unit_id=u$k tokens.qft >> bal.qft
	done
}

setup() {
	compare_setup
	# none, p0, p11 and p0-11 play the configurations of the brief
	MODELS=(-r a.qft -m none=q7.qft -m p0=q9.qft -m p11=q11.qft -m p0-11=q13.qft
		-m q17.qft)
	CONS=(--contrast 'syn=+p0-11 -p0 -p11 +none' --contrast 'p0=+p0 -none'
		--contrast 'w=+2*q17 -p0-11 -0.5*p0 -0.5*p11')
	# the brief's two: agglutinative languages benefit more from
	# protection than big's, and 9.7 times as much
	AGG=morph_type=agglutinative
	XCONS=(--contrast "more=+none@$AGG -p0-11@$AGG -none@big +p0-11@big"
		--contrast "r9.7=+none@$AGG -p0-11@$AGG -9.7*none@big +9.7*p0-11@big")
}

# Run qf-eval with the arguments (which write k.tsv with --contrasts),
# then the oracle with the same ones.
contrast_check() {
	rm -f k.tsv l.tsv
	oracle_check "$KON" "$@"
}

# Column COL of k.tsv in the row of SCOPE, CONTRAST, FIGURE and SCALE.
kcell() {
	awk -F'\t' -v c="$1" -v s="$2" -v k="$3" -v f="$4" -v x="$5" '
		FNR == 1 { next } FNR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$col["scope"] == s && $col["contrast"] == k && $col["figure"] == f &&
		$col["scale"] == x { print $col[c] }' k.tsv
}

# Misuse: exit 2, the message and the pointer to --help, nothing written.
misuse() {
	rm -f l.tsv k.tsv
	run --separate-stderr qf-eval "$@" -o l.tsv tokens.qft
	echo "status $status stderr: $stderr"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[1]}" = "Try 'qf-eval --help' for more information." ]
	[ ! -e l.tsv ] && [ ! -e k.tsv ]
}

@test "three contrasts, scopes of --group-by and --group, BCa: every cell equals the oracle's" {
	contrast_check "${MODELS[@]}" "${CONS[@]}" --bootstrap 200 --seed 7 \
		"${GROUPS_[@]}" -o l.tsv --contrasts k.tsv tokens.qft
	sed -n 1p k.tsv | grep -q '^# qf=.* tool=qf-eval '
	[ "$(sed -n 2p k.tsv)" = "$(printf '%s\t' scope contrast figure scale est se lo hi p p_holm sim_lo sim_hi status | sed 's/\t$//')" ]
	# scope x figure x scale x contrast: 5 scopes, the 7 figures of
	# --compare, 2 scales, 3 contrasts
	[ "$(tail -n +3 k.tsv | wc -l)" -eq $((5 * 7 * 2 * 3)) ]
	run awk -F'\t' 'FNR > 2 && FNR <= 14 { printf "%s/%s/%s/%s ", $1, $3, $4, $2 }' k.tsv
	assert_output "all/mean/diff/syn all/mean/diff/p0 all/mean/diff/w all/mean/log/syn all/mean/log/p0 all/mean/log/w all/range/diff/syn all/range/diff/p0 all/range/diff/w all/range/log/syn all/range/log/p0 all/range/log/w "
	[ "$(awk -F'\t' 'FNR > 2 { print $3 }' k.tsv | uniq | head -7 | paste -sd' ')" = "mean range max_min cv tau tau_mean max" ]
	# something to test: most rows have inference
	[ "$(awk -F'\t' '$13 == "ok"' k.tsv | wc -l)" -ge 100 ]
}

@test "the estimates are the disparity table's figures combined (awk, not the oracle)" {
	qf-eval "${MODELS[@]}" "${CONS[@]}" --bootstrap 0 "${GROUPS_[@]}" -o l.tsv \
		-d d.tsv --contrasts k.tsv tokens.qft
	for scope in all big; do
		for fig in mean max cv; do
			run awk -F'\t' -v s=$scope -v f=$fig '
				FNR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
				FNR > 2 && $col["scope"] == s { D[$col["model"]] = $col[f] }
				END { d = D["p0-11"] - D["p0"] - D["p11"] + D["none"]
				      l = log(D["p0-11"]) - log(D["p0"]) - log(D["p11"]) + log(D["none"])
				      w = 2 * log(D["q17"]) - log(D["p0-11"]) - 0.5 * log(D["p0"]) - 0.5 * log(D["p11"])
				      # the figures are printed with 6 digits: what that
				      # rounding leaves of each sum
				      e = 1e-5 * (D["p0-11"] + D["p0"] + D["p11"] + D["none"])
				      printf "%.9g %.9g %.9g %.3g %.3g %.3g\n", d, l, w, e, 4e-5, 4e-5 }' d.tsv
			read -r d l w ed el ew <<< "$output"
			for pair in "syn diff $d $ed" "syn log $l $el" "w log $w $ew"; do
				read -r k x want tol <<< "$pair"
				got=$(kcell est $scope $k $fig $x)
				$PY -c 'import sys; g, w, t = map(float, sys.argv[1:]); sys.exit(abs(g - w) > t)' "$got" "$want" "$tol" ||
					{ echo "$scope $k $fig $x: $got, expected $want"; false; }
			done
		done
	done
	[ "$(kcell status all syn mean diff)" = "no bootstrap" ]
	[ "$(kcell se all syn mean diff)" = NA ]
}

@test "parallel units: the bootstrap-t with the contrasts' own jackknife SEs, and percentiles, equal the oracle's" {
	contrast_check "${MODELS[@]}" "${CONS[@]}" --interval t --bootstrap 200 --seed 4 \
		--languages languages.tsv --group-by morph_type -o l.tsv --contrasts k.tsv bal.qft
	[ "$(awk -F'\t' '$13 == "ok"' k.tsv | wc -l)" -ge 60 ]
	cp k.tsv kt.tsv
	contrast_check "${MODELS[@]}" "${CONS[@]}" --interval percentile --bootstrap 200 \
		--seed 4 -o l.tsv --contrasts k.tsv bal.qft
	# the same replicates: the same estimate, SE and p; another interval
	[ "$(kcell est all syn mean log)" = "$(awk -F'\t' '$1 == "all" && $2 == "syn" && $3 == "mean" && $4 == "log" { print $5 }' kt.tsv)" ]
	[ "$(kcell lo all syn mean log)" != "$(awk -F'\t' '$1 == "all" && $2 == "syn" && $3 == "mean" && $4 == "log" { print $7 }' kt.tsv)" ]
}

@test "one contrast: Holm's p is its p, max-T its studentized interval" {
	contrast_check "${MODELS[@]}" --contrast 'syn=+p0-11 -p0 -p11 +none' --bootstrap 300 \
		--seed 2 -o l.tsv --contrasts k.tsv tokens.qft
	for f in mean max; do
		for x in diff log; do
			[ "$(kcell status all syn $f $x)" = ok ]
			[ "$(kcell p all syn $f $x)" = "$(kcell p_holm all syn $f $x)" ]
		done
	done
}

@test "a model equal to the reference: no log, the reasons, and the family's columns NA" {
	cp a.qft same.qft
	M=(-r a.qft -m q7.qft -m same=same.qft -m q11=q11.qft)
	contrast_check "${M[@]}" --contrast 'a=+same -q7' --contrast 'b=+q11 -q7' \
		--bootstrap 50 -o l.tsv --contrasts k.tsv tokens.qft
	# same's mean damage is 0: its difference has a value, its log none
	[ "$(kcell status all a mean diff)" = ok ]
	[ "$(kcell status all a mean log)" = "same:not positive" ]
	[ "$(kcell est all a mean log)" = NA ]
	# b has its own inference, not the family's
	[ "$(kcell status all b mean log)" = "family NA" ]
	[ "$(kcell p all b mean log)" != NA ]
	[ "$(kcell p_holm all b mean log)" = NA ]
	[ "$(kcell sim_lo all b mean log)" = NA ]
	# cv of a model without damage: the figure's own reason
	[ "$(kcell status all a cv diff)" = "same:den<=0" ]
}

@test "--bootstrap 1: estimates only, status one replicate" {
	contrast_check "${MODELS[@]}" "${CONS[@]}" --bootstrap 1 -o l.tsv --contrasts k.tsv \
		tokens.qft
	[ "$(kcell status all syn mean diff)" = "one replicate" ]
	[ "$(kcell p all syn mean diff)" = NA ]
}

@test "the same bytes twice, for -j 1 and -j 2; the other tables as without --contrasts" {
	qf-eval "${MODELS[@]}" "${CONS[@]}" --bootstrap 100 "${GROUPS_[@]}" -j 1 -o l1.tsv \
		-d d1.tsv --compare c1.tsv --contrasts k1.tsv tokens.qft
	qf-eval "${MODELS[@]}" "${CONS[@]}" --bootstrap 100 "${GROUPS_[@]}" -j 2 -o l2.tsv \
		--contrasts k2.tsv tokens.qft
	qf-eval "${MODELS[@]}" "${CONS[@]}" --bootstrap 100 "${GROUPS_[@]}" -j 2 -o l4.tsv \
		--contrasts k4.tsv tokens.qft
	cmp k1.tsv k2.tsv
	cmp k2.tsv k4.tsv
	qf-eval "${MODELS[@]}" --bootstrap 100 "${GROUPS_[@]}" -j 2 -o l3.tsv \
		-d d3.tsv --compare c3.tsv tokens.qft
	cmp l1.tsv l3.tsv
	cmp d1.tsv d3.tsv
	cmp c1.tsv c3.tsv
}

@test "misuse: unknown models, sums other than 0, bad terms, one option without the other" {
	# each line: a --contrast, then the message after "qf-eval: "
	while IFS='|' read -r spec msg; do
		misuse "${MODELS[@]}" --contrasts k.tsv --contrast "$spec"
		[ "${stderr_lines[0]}" = "qf-eval: $msg" ] ||
			{ echo "$spec: ${stderr_lines[0]}"; false; }
	done <<-'EOF'
		x=+p0 -q3|--contrast 'x=+p0 -q3': no test model 'q3'
		x=+p0 -ref|--contrast 'x=+p0 -ref': no test model 'ref'
		x=+p0-11 -p0 -p11|--contrast 'x=+p0-11 -p0 -p11': the coefficients sum to -1, not 0
		x=+p0|--contrast 'x=+p0': the coefficients sum to 1, not 0
		x=p0 -none|--contrast 'x=p0 -none': term 'p0' does not start with + or -
		x=+2x*p0 -2*none|--contrast 'x=+2x*p0 -2*none': term '+2x*p0': the coefficient is not a number > 0
		x=+0*p0 -none +none|--contrast 'x=+0*p0 -none +none': term '+0*p0': the coefficient is not a number > 0
		x=+p0 -none +p0 -none|--contrast 'x=+p0 -none +p0 -none': test model 'p0' twice
		x=|--contrast 'x=': no terms
		+p0 -none|--contrast '+p0 -none' is not NAME=TERMS
		a b=+p0 -none|contrast name 'a b': only letters, digits and . _ + -
		x=+none@big -p0|--contrast 'x=+none@big -p0': some terms name a scope, some do not
		x=+p0 -none@big|--contrast 'x=+p0 -none@big': some terms name a scope, some do not
		x=+none@big -p0@big +none@rich|--contrast 'x=+none@big -p0@big +none@rich': the coefficients of scope rich sum to 1, not 0
		x=+none@big -0.5*p0@big|--contrast 'x=+none@big -0.5*p0@big': the coefficients of scope big sum to 0.5, not 0
		x=+none@big -none@big|--contrast 'x=+none@big -none@big': test model 'none' twice in scope big
		x=+none@ -p0@|--contrast 'x=+none@ -p0@': term '+none@': no scope after @
		x=+q3@big -p0@big|--contrast 'x=+q3@big -p0@big': no test model 'q3'
	EOF
	misuse "${MODELS[@]}" --contrasts k.tsv --contrast 'x=+p0 -none' --contrast 'x=+p11 -none'
	[ "${stderr_lines[0]}" = "qf-eval: two contrasts named 'x'" ]
	misuse "${MODELS[@]}" --contrast 'x=+p0 -none'
	[ "${stderr_lines[0]}" = "qf-eval: --contrast needs --contrasts FILE" ]
	misuse "${MODELS[@]}" --contrasts k.tsv
	[ "${stderr_lines[0]}" = "qf-eval: --contrasts needs a --contrast" ]
	misuse -r a.qft --contrast 'x=+p0 -none' --contrasts k.tsv
	misuse "${MODELS[@]}" --contrast 'x=+p0 -none' --contrasts l.tsv
	[[ ${stderr_lines[0]} == "qf-eval: "*" name the same file" ]]
	# a control character in a name: one line, escaped
	misuse "${MODELS[@]}" --contrasts k.tsv --contrast $'x\ty=+p0 -none'
	[ "${#stderr_lines[@]}" -eq 2 ]
	[[ ${stderr_lines[0]} == *'x\ty=+p0 -none'* ]]
}

@test "cross-scope contrasts, BCa over each language's records: every cell equals the oracle's, after the rows within each scope" {
	contrast_check "${MODELS[@]}" --contrast 'p0=+p0 -none' "${XCONS[@]}" \
		--contrast 'syn=+p0-11 -p0 -p11 +none' --bootstrap 200 --seed 7 \
		"${GROUPS_[@]}" -o l.tsv --contrasts k.tsv tokens.qft
	# 5 scopes x 7 figures x 2 scales x the 2 contrasts within each
	# scope (in their order), then 7 x 2 x the 2 cross-scope ones
	[ "$(tail -n +3 k.tsv | wc -l)" -eq $((5 * 7 * 2 * 2 + 7 * 2 * 2)) ]
	[ "$(awk -F'\t' 'FNR > 2 && FNR <= 142 { print $2 }' k.tsv | sort -u | paste -sd' ')" = "p0 syn" ]
	run awk -F'\t' 'FNR > 142 && FNR <= 148 { printf "%s/%s/%s/%s ", $1, $3, $4, $2 }' k.tsv
	# the scopes in order of first appearance
	assert_output "$AGG+big/mean/diff/more $AGG+big/mean/diff/r9.7 $AGG+big/mean/log/more $AGG+big/mean/log/r9.7 $AGG+big/range/diff/more $AGG+big/range/diff/r9.7 "
	# the claim's contrasts have inference
	[ "$(awk -F'\t' 'FNR > 142 && $13 == "ok"' k.tsv | wc -l)" -ge 16 ]
	# per-scope rows as without the cross-scope contrasts
	run qf-eval "${MODELS[@]}" --contrast 'p0=+p0 -none' --contrast 'syn=+p0-11 -p0 -p11 +none' \
		--bootstrap 200 --seed 7 "${GROUPS_[@]}" -o l.tsv --contrasts k0.tsv tokens.qft
	assert_success
	cmp <(head -n 142 k.tsv) k0.tsv
}

@test "cross-scope estimates are the disparity table's figures of their scopes combined (awk, not the oracle)" {
	qf-eval "${MODELS[@]}" "${XCONS[@]}" --bootstrap 0 "${GROUPS_[@]}" -o l.tsv \
		-d d.tsv --contrasts k.tsv tokens.qft
	[ "$(tail -n +3 k.tsv | wc -l)" -eq $((7 * 2 * 2)) ]
	for fig in mean max cv; do
		run awk -F'\t' -v a=$AGG -v f=$fig '
			FNR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
			FNR > 2 { D[$col["model"] "@" $col["scope"]] = $col[f] }
			END { ba = D["none@" a] - D["p0-11@" a]; bb = D["none@big"] - D["p0-11@big"]
			      la = log(D["none@" a]) - log(D["p0-11@" a])
			      lb = log(D["none@big"]) - log(D["p0-11@big"])
			      e = 1e-5 * (D["none@" a] + D["p0-11@" a] + 9.7 * (D["none@big"] + D["p0-11@big"]))
			      printf "%.9g %.9g %.9g %.3g %.3g\n", ba - bb, ba - 9.7 * bb, la - 9.7 * lb, e, 1e-4 }' d.tsv
		read -r m r rl ed el <<< "$output"
		for trip in "more diff $m $ed" "r9.7 diff $r $ed" "r9.7 log $rl $el"; do
			read -r k x want tol <<< "$trip"
			got=$(kcell est "$AGG+big" $k $fig $x)
			$PY -c 'import sys; g, w, t = map(float, sys.argv[1:]); sys.exit(abs(g - w) > t)' "$got" "$want" "$tol" ||
				{ echo "$k $fig $x: $got, expected $want"; false; }
		done
	done
	[ "$(kcell status "$AGG+big" more mean diff)" = "no bootstrap" ]
}

@test "cross-scope contrasts on parallel units: the bootstrap-t with their own jackknife SEs, --group scopes, equal the oracle's" {
	contrast_check "${MODELS[@]}" --group rich=fin,tur --group other=eng,rus,cmn_hans \
		--contrast 'more=+none@rich -p0@rich -none@other +p0@other' \
		--contrast 'r9.7=+none@rich -p0@rich -9.7*none@other +9.7*p0@other' \
		--contrast 'syn=+p0-11@all -p0@all -p11@all +none@all' \
		--interval t --bootstrap 200 --seed 4 -o l.tsv --contrasts k.tsv bal.qft
	[ "$(tail -n +3 k.tsv | wc -l)" -eq $((7 * 2 * 3)) ]
	[ "$(kcell scope rich+other more mean diff)" = rich+other ]
	[ "$(kcell scope all syn mean diff)" = all ]
	[ "$(awk -F'\t' '$13 == "ok"' k.tsv | wc -l)" -ge 20 ]
}

@test "a family of two cross-scope contrasts: Holm and max-T over the two, as the oracle's" {
	contrast_check "${MODELS[@]}" --group rich=fin,tur --group other=eng,rus,cmn_hans \
		--contrast 'a=+none@rich -p0@rich -none@other +p0@other' \
		--contrast 'b=+none@rich -p11@rich -none@other +p11@other' \
		--bootstrap 300 --seed 2 -o l.tsv --contrasts k.tsv tokens.qft
	[ "$(tail -n +3 k.tsv | wc -l)" -eq $((7 * 2 * 2)) ]
	for f in mean max; do
		for x in diff log; do
			[ "$(kcell status rich+other a $f $x)" = ok ]
			[ "$(kcell status rich+other b $f $x)" = ok ]
		done
	done
	# a family of two, not of one: Holm moves some p
	[ "$(awk -F'\t' 'FNR > 2 && $13 == "ok" && $9 != $10' k.tsv | wc -l)" -ge 1 ]
	# the simultaneous intervals hold the estimates
	run awk -F'\t' 'FNR > 2 && $13 == "ok" && !($11 <= $5 && $5 <= $12) { print }' k.tsv
	assert_output ""
}

@test "a cross-scope contrast naming no scope: one line after the data are read, exit 1, no table, an old one untouched" {
	rm -f l.tsv k.tsv n.qft d.tsv
	echo old > k.keep
	for out in k.tsv k.keep; do
		run --separate-stderr qf-eval "${MODELS[@]}" "${GROUPS_[@]}" --bootstrap 20 \
			--contrast 'p0=+p0 -none' --contrast 'x=+none@big -p0@big -none@foo +p0@foo' \
			-o l.tsv --nll n.qft -d d.tsv --contrasts $out tokens.qft
		assert_failure 1
		[ "${#stderr_lines[@]}" -eq 1 ]
		[ "$stderr" = "qf-eval: contrast 'x': no scope 'foo' (scopes: all, $AGG, morph_type=fusional, morph_type=isolating, big)" ]
		[ ! -e l.tsv ] && [ ! -e k.tsv ] && [ ! -e n.qft ] && [ ! -e d.tsv ]
	done
	[ "$(cat k.keep)" = old ]
	[ -z "$(ls -A | grep '\.tmp\.')" ]
	# a name as the scope column writes it, not a column's value alone
	run --separate-stderr qf-eval "${MODELS[@]}" "${GROUPS_[@]}" --bootstrap 0 \
		--contrast 'x=+none@big -p0@big -none@agglutinative +p0@agglutinative' \
		-o l.tsv --contrasts k.tsv tokens.qft
	assert_failure 1
	[[ $stderr == "qf-eval: contrast 'x': no scope 'agglutinative' (scopes: all, "* ]]
}

@test "the man page's cross-scope example runs" {
	line=$(sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$TESTS_DIR/../docs/man/qf-eval.1" |
		sed 's/\\-/-/g; s/\\(aq/'"'"'/g' | grep -E '^qf-eval .*--contrasts' | grep @)
	[ -n "$line" ] && [ "$(wc -l <<< "$line")" -eq 1 ]
	cp a.qft ref.qft
	cp q7.qft q4.qft
	cp q9.qft q4p0.qft
	rm -f contrasts.tsv lang.tsv
	run --separate-stderr bash -c "$line --bootstrap 50"
	assert_success
	[ "$(tail -n +3 contrasts.tsv | wc -l)" -eq $((7 * 2)) ]
	[ "$(awk -F'\t' 'FNR > 2 { print $1 }' contrasts.tsv | sort -u)" = rich+other ]
}

@test "bad input: one line, exit 1, no table left behind, an old one untouched" {
	table_bad_input --contrasts "${MODELS[@]}" "${CONS[@]}"
}

@test "--help has --contrast and --contrasts; the man page's example runs" {
	run qf-eval --help
	assert_success
	assert_line --regexp "^      --contrast 'NAME=\+M1 -M2 \.\.\.' "
	assert_line --regexp '^      --contrasts FILE '
	line=$(sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$TESTS_DIR/../docs/man/qf-eval.1" |
		sed 's/\\-/-/g; s/\\(aq/'"'"'/g' | grep -E '^qf-eval .*--contrasts' | grep -v @)
	[ -n "$line" ] && [ "$(wc -l <<< "$line")" -eq 1 ]
	cp a.qft ref.qft
	cp q7.qft q4.qft
	cp q9.qft q4p0.qft
	cp q11.qft q4p11.qft
	cp q13.qft q4p0-11.qft
	rm -f contrasts.tsv lang.tsv
	run --separate-stderr bash -c "$line --bootstrap 50"
	assert_success
	[ "$(tail -n +3 contrasts.tsv | wc -l)" -eq $((7 * 2 * 2)) ]
	[ "$(awk -F'\t' '$2 == "p0" && $3 == "mean" && $4 == "diff" { print ($5 < 0) }' contrasts.tsv)" = 1 ]
}

@test "the method: paired replicates give contrasts' intervals and max-T intervals their coverage; unpaired ones are too wide" {
	# the oracle's implementation (the code the tests above compare
	# qf-eval with) on simulated paired data with known interactions
	run $KON coverage 400 500
	echo "$output"
	assert_success
}
