#!/usr/bin/env bats
# qf-eval --compare (docs/eval.md, "Comparing configurations"): the test
# models side by side on the disparity figures, with simultaneous max-T
# intervals, differences from the best, Holm-adjusted p and the best set,
# checked against tests/data/eval/compare_oracle.py, which takes the
# figures and paired replicates from oracle.py (its own forward pass,
# draws and figures) and does the comparison again in numpy; cell by
# cell, with oracle.py's tolerances (1e-4 relative plus 2e-6 absolute).
#
# Fixtures: those of tests/qf-eval.bats (tokens.qft: 5 languages; a.qft,
# the reference; q11 and q7, rounded copies of it) and three more
# rounded copies made here: q9, q13 and q17 (9, 13 and 17 levels).

load common
load eval_common

ORACLE="$PY $TESTS_DIR/data/eval/oracle.py"
CMP="$PY $TESTS_DIR/data/eval/compare_oracle.py"
GEN="$PY $TESTS_DIR/data/eval/gen_eval.py"

setup_file() {
	compare_fixtures
	$GEN variant units units.qft
}

setup() {
	compare_setup
	MODELS=(-r a.qft -m q11=q11.qft -m q7.qft -m q9.qft -m q13.qft -m q17.qft)
}

# Run qf-eval with the arguments (which write c.tsv with --compare),
# then the oracle with the same ones.
compare_check() {
	rm -f c.tsv l.tsv
	oracle_check "$CMP" "$@"
}

# Column COL of c.tsv in the row of SCOPE, FIGURE and MODEL.
ccell() {
	awk -F'\t' -v c="$1" -v s="$2" -v f="$3" -v m="$4" '
		FNR == 1 { next } FNR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$col["scope"] == s && $col["figure"] == f && $col["model"] == m { print $col[c] }' c.tsv
}

@test "five test models, scopes of --group-by and --group: every cell equals the oracle's" {
	compare_check "${MODELS[@]}" --bootstrap 200 --seed 7 "${GROUPS_[@]}" \
		-o l.tsv --compare c.tsv tokens.qft
	# the provenance line, the header, then scope x figure x model:
	# all, 3 morph_type, big; mean range max_min cv tau tau_mean; 5 models
	sed -n 1p c.tsv | grep -q '^# qf=.* tool=qf-eval '
	[ "$(sed -n 2p c.tsv)" = "$(printf '%s\t' scope figure model est se lo hi rank best diff diff_lo diff_hi p p_holm in_best_set status | sed 's/\t$//')" ]
	# (figures added to the list come after cv)
	nfig=$(awk -F'\t' 'FNR > 2 { print $2 }' c.tsv | sort -u | wc -l)
	[ "$(tail -n +3 c.tsv | wc -l)" -eq $((5 * nfig * 5)) ]
	run awk -F'\t' 'FNR > 2 && FNR <= 22 { printf "%s/%s/%s ", $1, $2, $3 }' c.tsv
	assert_output "all/mean/q11 all/mean/q7 all/mean/q9 all/mean/q13 all/mean/q17 all/range/q11 all/range/q7 all/range/q9 all/range/q13 all/range/q17 all/max_min/q11 all/max_min/q7 all/max_min/q9 all/max_min/q13 all/max_min/q17 all/cv/q11 all/cv/q7 all/cv/q9 all/cv/q13 all/cv/q17 "
	run awk -F'\t' 'FNR > 2 { print $1 }' c.tsv
	[ "$(printf '%s\n' "${lines[@]}" | uniq | paste -sd' ')" = "all morph_type=agglutinative morph_type=fusional morph_type=isolating big" ]
	# est is the disparity table's estimate
	qf-eval "${MODELS[@]}" --bootstrap 0 "${GROUPS_[@]}" -o l.tsv -d d.tsv tokens.qft
	for m in q11 q7 q17; do
		want=$(awk -F'\t' -v m=$m 'FNR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
			$col["model"] == m && $col["scope"] == "big" { print $col["cv"] }' d.tsv)
		[ "$(ccell est big cv $m)" = "$want" ]
	done
}

@test "ranks, best and the best set read alike from every row (awk, not the oracle)" {
	qf-eval "${MODELS[@]}" --measure deg_byte --bootstrap 200 --seed 7 "${GROUPS_[@]}" \
		-o l.tsv --compare c.tsv tokens.qft
	# in every group of rows with a status ok: the ranks are 1..5, rank 1
	# is the best, has the lowest estimate, diff 0 and no interval, p or
	# p_holm; every other model's diff is est - est(best) >= 0, its
	# in_best_set is diff_lo <= 0, and lo <= est <= hi
	run awk -F'\t' '
		FNR <= 2 { next }
		$16 != "ok" { print "status " $1 "/" $2 " " $3 " " $16; next }
		{ g = $1 "/" $2; n[g]++; est[g, $8] = $4; name[g, $8] = $3; best[g] = $9
		  if (!($6 <= $4 && $4 <= $7)) print "interval " g " " $3
		  if ($8 == 1) {
			if ($3 != $9 || $10 != 0 || $11 != "NA" || $13 != "NA" || $15 != 1)
				print "best row " g " " $0
		  } else {
			if ($15 != ($11 <= 0)) print "best set " g " " $3
			if ($13 > $14 || $14 > 1) print "holm " g " " $3
		  } }
		END { for (g in n) { if (n[g] != 5) print "rows " g
			for (r = 1; r <= 5; r++) if (!((g, r) in est)) print "rank " g " " r
			if (name[g, 1] != best[g]) print "best " g
			for (r = 2; r <= 5; r++) if (est[g, r] + 0 < est[g, r - 1] + 0) print "order " g } }' c.tsv
	# the one-language scope's cv has no value; some replicates of max_min
	# have a degenerate denominator (q17's least damaged language is
	# near 0); nothing else is amiss
	st="q11:NA;q7:NA;q9:NA;q13:NA;q17:NA"
	grep -q '/max_min q17 ci [1-9][0-9]*/200$' <<< "$output"
	[ -z "$(grep -v ' ci [1-9][0-9]*/200$' <<< "$output" |
		grep -vx "status morph_type=isolating/[a-z_]* q[0-9]* $st")" ]
	[ "$(grep -c "^status morph_type=isolating/cv q[0-9]* $st$" <<< "$output")" -eq 5 ]
	# ties (a scope of one language: every range is 0) in command-line order
	run awk -F'\t' '$1 == "morph_type=isolating" && $2 == "range" { printf "%s:%s:%s ", $3, $8, $15 }' c.tsv
	assert_output "q11:1:1 q7:2:1 q9:3:1 q13:4:1 q17:5:1 "
}

@test "one test model: the max-T interval of one model, no differences" {
	compare_check -r a.qft -m q7.qft --bootstrap 300 --seed 2 -o l.tsv --compare c.tsv tokens.qft
	for f in mean range max_min cv tau tau_mean; do
		[ "$(ccell rank all $f q7)" = 1 ]
		[ "$(ccell best all $f q7)" = q7 ]
		[ "$(ccell diff all $f q7)" = 0 ]
		[ "$(ccell diff_lo all $f q7)" = NA ]
		[ "$(ccell p_holm all $f q7)" = NA ]
		[ "$(ccell in_best_set all $f q7)" = 1 ]
		[ "$(ccell status all $f q7)" = ok ]
	done
}

@test "--bootstrap 0: estimates, ranks and differences; the rest NA, status no bootstrap; 1 replicate likewise" {
	compare_check "${MODELS[@]}" --bootstrap 0 -o l.tsv --compare c.tsv tokens.qft
	run awk -F'\t' 'FNR > 2 { print $5 $6 $7 $11 $12 $13 $14 $15 "/" $16 }' c.tsv
	[ "$(printf '%s\n' "${lines[@]}" | sort -u)" = "NANANANANANANANA/no bootstrap" ]
	# more levels, less damage
	run awk -F'\t' 'FNR > 2 && $1 == "all" && $2 == "mean" { printf "%s:%s:%s ", $3, $8, $9 }' c.tsv
	assert_output "q11:3:q17 q7:5:q17 q9:4:q17 q13:2:q17 q17:1:q17 "
	compare_check "${MODELS[@]}" --bootstrap 1 -o l.tsv --compare c.tsv tokens.qft
	[ "$(ccell status all mean q7)" = "one replicate" ]
	[ "$(ccell se all mean q7)" = NA ]
}

@test "a model equal to the reference: max_min and cv say why, for every model" {
	cp a.qft same.qft
	compare_check -r a.qft -m q7.qft -m same=same.qft -m q11=q11.qft --bootstrap 50 \
		-o l.tsv --compare c.tsv tokens.qft
	for m in q7 same q11; do
		[ "$(ccell status all max_min $m)" = "same:den<=0" ]
		[ "$(ccell status all cv $m)" = "same:den<=0" ]
		[ "$(ccell rank all cv $m)" = NA ]
		[ "$(ccell lo all cv $m)" = NA ]
	done
	[ "$(ccell est all cv same)" = NA ]
	[ "$(ccell est all cv q7)" != NA ]
	# the mean is fine: same is the best, with no damage
	[ "$(ccell best all mean q7)" = same ]
	[ "$(ccell est all mean same)" = 0 ]
	[ "$(ccell in_best_set all mean q7)" = 0 ]
}

@test "degenerate replicates: ci K/B, exactly as many as the oracle's, inference NA" {
	args=(-r a.qft -m q11=q11.qft -m q7.qft -m q9.qft --measure deg_byte --bootstrap 200 --seed 11)
	md=$($CMP min-den "${args[@]}" tokens.qft)
	compare_check "${args[@]}" --min-den "$md" -o l.tsv --compare c.tsv tokens.qft
	[[ $(ccell status all max_min q7) == "ci "*"/200" ]]
	[ "$(ccell status all max_min q7)" != "ci 0/200" ]
	[ "$(ccell lo all max_min q11)" = NA ]
	[ "$(ccell in_best_set all max_min q9)" = NA ]
	[ "$(ccell rank all max_min q9)" != NA ]
	[ "$(ccell status all mean q7)" = ok ]
}

@test "a language without a value of the measure: every row says which" {
	qf-cat -n doc.1 --set lang=zzz tokens.qft > zzz.qft
	cat tokens.qft zzz.qft > with-zzz.qft
	compare_check -r a.qft -m q11=q11.qft -m q7.qft --bootstrap 20 -o l.tsv \
		--compare c.tsv with-zzz.qft
	[ "$(ccell status all mean q7)" = "q11:kl_unit NA in zzz;q7:kl_unit NA in zzz" ]
}

@test "--measure kl_unit on parallel units, the default 1000 replicates" {
	compare_check "${MODELS[@]}" --measure kl_unit "${GROUPS_[@]}" -o l.tsv \
		--compare c.tsv units.qft
}

@test "the same bytes for -j 1 and -j 2, and with the other tables or without" {
	qf-eval "${MODELS[@]}" --bootstrap 100 "${GROUPS_[@]}" -j 1 -o l1.tsv \
		-d d1.tsv --compare c1.tsv tokens.qft
	qf-eval "${MODELS[@]}" --bootstrap 100 "${GROUPS_[@]}" -j 2 -o l2.tsv \
		--compare c2.tsv tokens.qft
	cmp c1.tsv c2.tsv
	# the other tables are as without --compare
	qf-eval "${MODELS[@]}" --bootstrap 100 "${GROUPS_[@]}" -j 2 -o l3.tsv \
		-d d3.tsv tokens.qft
	cmp l1.tsv l3.tsv
	cmp d1.tsv d3.tsv
}

@test "misuse: --compare without a test model, on another output's file, without a file" {
	rm -f c.tsv l.tsv
	run --separate-stderr qf-eval -r a.qft --compare c.tsv -o l.tsv tokens.qft
	assert_failure 2
	[ "${stderr_lines[0]}" = "qf-eval: a comparison table (--compare) needs a test model (-m)" ]
	[ "${stderr_lines[1]}" = "Try 'qf-eval --help' for more information." ]
	for args in "-o c.tsv --compare c.tsv" "--compare ./c.tsv -d c.tsv" "--compare -"; do
		run --separate-stderr qf-eval "${MODELS[@]}" --bootstrap 0 $args tokens.qft
		assert_failure 2
		[[ ${stderr_lines[0]} == "qf-eval: "*" name the same file" ]] ||
			{ echo "$args: ${stderr_lines[0]}"; false; }
	done
	run --separate-stderr qf-eval "${MODELS[@]}" --compare
	assert_failure 2
	[ ! -e c.tsv ] && [ ! -e l.tsv ]
}

@test "bad input: one line, exit 1, no table left behind, an old one untouched" {
	table_bad_input --compare "${MODELS[@]}"
}

@test "the method: max-T intervals cover 10 models at once where per-model intervals do not; the best set holds the best" {
	# the oracle's implementation (the code the tests above compare
	# qf-eval with) on simulated paired data with known truth
	run $CMP coverage 400 500
	echo "$output"
	assert_success
}
