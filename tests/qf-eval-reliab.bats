#!/usr/bin/env bats
# qf-eval --realizations and --reliability (docs/eval.md, "Realizations
# and reliability"): the reliability table checked against an
# independent oracle (tests/data/eval/reliab_oracle.py: oracle.py's
# torch forward pass and per-language figures, scipy's Spearman
# correlations and p-values, a numpy ANOVA), and against closed forms.
#
# Realizations are made at test time by the real qf-quantize: the
# random model tests/data/model/a.qft at 3 bits per channel rounded to
# nearest (q3), with stochastic rounding and seeds 1, 2, 3 (q3s1..q3s3),
# and at 4 bits with seeds 1 and 2 (q4s1, q4s2).  Tokens: the fixtures of
# tests/qf-eval.bats (tokens.qft: no unit ids; units.qft: parallel unit
# ids, headings, one record without an id).

load common
load eval_common

RORACLE="$PY $TESTS_DIR/data/eval/reliab_oracle.py"
GEN="$PY $TESTS_DIR/data/eval/gen_eval.py"

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	cp "$TESTS_DIR/data/eval/tokens.qft" .
	cp "$TESTS_DIR/data/model/a.qft" a.qft
	$GEN variant units units.qft
	qf-quantize -b 3 -o q3.qft a.qft
	for s in 1 2 3; do
		qf-quantize -b 3 --round stochastic --seed $s -o q3s$s.qft a.qft
	done
	for s in 1 2; do
		qf-quantize -b 4 --round stochastic --seed $s -o q4s$s.qft a.qft
	done
	mkdir -p cache
}

setup() {
	cd "$BATS_FILE_TMPDIR"
	export ORACLE_CACHE="$BATS_FILE_TMPDIR/cache"
	# three configurations: q3 alone, int3s of three, int4s of two
	# (listed out of command-line order)
	MODELS=(-r a.qft -m q3.qft -m q3s1.qft -m q4s1.qft -m q3s2.qft -m q3s3.qft
		-m q4s2.qft)
	RUN=("${MODELS[@]}" --realizations int3s=q3s1,q3s2,q3s3
		--realizations int4s=q4s2,q4s1 --bootstrap 0)
}

# Run qf-eval with the arguments, then the oracle with the same ones.
reliab_check() {
	rm -f r.tsv l.tsv
	oracle_check "$RORACLE" "$@"
}

# Column COL of the reliability table FILE in the row CONFIG, MEASURE.
rcell() {
	awk -F'\t' -v c="$2" -v k="$3" -v m="$4" '
		FNR == 1 { next } FNR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$col["config"] == k && $col["measure"] == m { print $col[c] }' "$1"
}

# Misuse: exit 2, the message and the pointer to --help, nothing written.
misuse() {
	rm -f l.tsv r.tsv
	run --separate-stderr qf-eval "$@" -o l.tsv tokens.qft
	echo "status $status stderr: $stderr"
	[ "$status" -eq 2 ]
	[[ ${stderr_lines[0]} == "qf-eval: "* ]]
	[ "${stderr_lines[1]}" = "Try 'qf-eval --help' for more information." ]
	[ ! -e l.tsv ] && [ ! -e r.tsv ]
}

@test "--help has --realizations and --reliability" {
	run qf-eval --help
	assert_success
	assert_line --regexp '^      --reliability FILE '
	assert_line --regexp '^      --realizations NAME=M1,M2,\.\.\. '
}

@test "three configurations on parallel units equal the oracle's; rows, columns, n_real" {
	reliab_check "${RUN[@]}" --reliability r.tsv -o l.tsv units.qft
	# the provenance line, then the header
	head -1 r.tsv | grep -q '^# qf=.* tool=qf-eval '
	[ "$(sed -n 2p r.tsv)" = "$(printf '%s\t' config measure n_lang n_real n_units \
		split_half split_half_sb real_rho real_rho_min real_rho_max bpc_rho bpc_p \
		var_lang var_real var_resid share_lang var_unit share_unit share_lang_net status | sed 's/\t$//')" ]
	# configurations in the order of their first test model, six measures each
	run awk -F'\t' 'FNR > 2 { printf "%s/%s/%s ", $1, $2, $4 }' r.tsv
	assert_output "q3/deg_byte/1 q3/deg/1 q3/d_bpb/1 q3/d_nll/1 q3/d_bits_unit/1 q3/kl_unit/1 int3s/deg_byte/3 int3s/deg/3 int3s/d_bpb/3 int3s/d_nll/3 int3s/d_bits_unit/3 int3s/kl_unit/3 int4s/deg_byte/2 int4s/deg/2 int4s/d_bpb/2 int4s/d_nll/2 int4s/d_bits_unit/2 int4s/kl_unit/2 "
	# one realization: no realization figures, no variance components
	for c in real_rho real_rho_min real_rho_max var_lang var_real var_resid share_lang; do
		[ "$(rcell r.tsv $c q3 kl_unit)" = NA ]
		[ "$(rcell r.tsv $c int3s kl_unit)" != NA ]
	done
	[ "$(rcell r.tsv status int4s deg)" = ok ]
	# the units: 7 distinct unit ids after the headings (a1.p1 .. a4.p1)
	# and tur's record without one, named by its ordinal (25): 8
	[ "$(rcell r.tsv n_units int3s deg)" = 8 ]
	[ "$(rcell r.tsv n_lang int3s deg)" = 5 ]
}

@test "n_units: the distinct unit ids, as qf-cat lists them" {
	# every record with an id: tur's doc 4 (doc.25) gets a2.p2
	qf-cat -x doc.25 units.qft > ids.qft
	qf-cat -n doc.25 --set unit_id=a2.p2 --set unit_kind=body units.qft >> ids.qft
	reliab_check "${RUN[@]}" --reliability r.tsv ids.qft
	want=$(qf-cat -l ids.qft | tr '\t ' '\n\n' | sed -n 's/^\(unit_id\|unit\)=//p' |
		grep -v -e '\.h$' -e '^paragraph$' | sort -u | wc -l)
	[ "$(rcell r.tsv n_units int3s kl_unit)" = "$want" ]
	[ "$want" -eq 7 ]
}

@test "without unit ids: each language's records alternate in stream order (the oracle's)" {
	reliab_check "${RUN[@]}" --reliability r.tsv -o l.tsv tokens.qft
	# n_units: the most records a language has (eng: 8)
	[ "$(rcell r.tsv n_units int4s deg_byte)" = 8 ]
	[ "$(rcell r.tsv n_units q3 deg_byte)" = 8 ]
	# headings scored: the same records as tokens.qft, with ids
	reliab_check "${RUN[@]}" --headings --reliability r.tsv units.qft
}

@test "two identical realizations: real_rho 1, var_real and var_resid 0, var_lang the languages' variance" {
	cp q3s1.qft copy.qft
	qf-eval -r a.qft -m q3s1.qft -m copy.qft --realizations same=q3s1,copy \
		--bootstrap 0 --reliability r.tsv -o l.tsv units.qft
	for m in deg_byte deg d_bpb d_nll d_bits_unit kl_unit; do
		[ "$(rcell r.tsv real_rho same $m)" = 1 ]
		[ "$(rcell r.tsv real_rho_min same $m)" = 1 ]
		[ "$(rcell r.tsv real_rho_max same $m)" = 1 ]
		[ "$(rcell r.tsv var_real same $m)" = 0 ]
		[ "$(rcell r.tsv var_resid same $m)" = 0 ]
		[ "$(rcell r.tsv share_lang same $m)" = 1 ]
		# var_lang = (MS_L - 0) / 2 = the sample variance (n - 1) of the
		# language table's column, by awk
		want=$(awk -F'\t' -v c=$m 'FNR == 1 { next } FNR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
			$col["model"] == "q3s1" { x[n++] = $col[c]; s += $col[c] }
			END { for (i = 0; i < n; i++) v += (x[i] - s / n) ^ 2; printf "%.4g", v / (n - 1) }' l.tsv)
		[ "$(printf %.4g "$(rcell r.tsv var_lang same $m)")" = "$want" ] ||
			{ echo "$m: $(rcell r.tsv var_lang same $m) want $want"; false; }
	done
	# the realizations' split halves are the same: their mean is either's
	qf-eval -r a.qft -m q3s1.qft --bootstrap 0 --reliability r1.tsv units.qft
	[ "$(rcell r.tsv split_half same kl_unit)" = "$(rcell r1.tsv split_half q3s1 kl_unit)" ]
}

@test "without --realizations every test model is a configuration of its own" {
	reliab_check -r a.qft -m q3.qft -m q4s1.qft --bootstrap 0 --reliability r.tsv units.qft
	run awk -F'\t' 'FNR > 2 && $2 == "deg" { printf "%s/%s ", $1, $4 }' r.tsv
	assert_output "q3/1 q4s1/1 "
	# a configuration named after one of its models
	reliab_check -r a.qft -m q3.qft -m q3s1.qft --realizations q3s1=q3s1,q3 \
		--bootstrap 0 --reliability r.tsv units.qft
	run awk -F'\t' 'FNR > 2 && $2 == "deg" { printf "%s/%s ", $1, $4 }' r.tsv
	assert_output "q3s1/2 "
}

@test "a degenerate language: the row NA and says which; a half without units, no characters" {
	# zzz: one record of one token (nothing scored): every measure NA
	qf-cat -n doc.1 --set lang=zzz tokens.qft > zzz.qft
	cat units.qft zzz.qft > wz.qft
	reliab_check "${RUN[@]}" --reliability r.tsv wz.qft
	for m in deg_byte deg d_bpb d_nll d_bits_unit kl_unit; do
		[ "$(rcell r.tsv status int3s $m)" = "$m:NA in zzz" ]
		run awk -F'\t' -v m=$m 'FNR > 2 && $2 == m { for (i = 6; i < NF; i++) if ($i != "NA") print $1, i, $i }' r.tsv
		assert_output ''
	done
	# yyy: one record (half B empty) whose characters are all in the
	# first token (chars = first_chars): split_half and bpc_rho NA, said;
	# the rest has values
	qf-cat -n doc.4 --set lang=yyy --set unit_id=a1.p1 --set chars=3 \
		--set first_chars=3 tokens.qft > yyy.qft
	cat units.qft yyy.qft > wy.qft
	reliab_check "${RUN[@]}" --reliability r.tsv wy.qft
	[ "$(rcell r.tsv status int3s kl_unit)" = "split_half:NA in yyy;bpc_rho:NA in yyy" ]
	[ "$(rcell r.tsv split_half int3s kl_unit)" = NA ]
	[ "$(rcell r.tsv bpc_p int3s kl_unit)" = NA ]
	[ "$(rcell r.tsv real_rho int3s kl_unit)" != NA ]
	[ "$(rcell r.tsv share_lang int3s kl_unit)" != NA ]
}

@test "the same bytes for -j 1 and -j 2, on a rerun, and whatever the bootstrap" {
	qf-eval "${RUN[@]}" -j 1 --reliability r1.tsv -o l1.tsv units.qft
	qf-eval "${RUN[@]}" -j 2 --reliability r2.tsv -o l2.tsv units.qft
	qf-eval "${RUN[@]}" -j 2 --reliability r3.tsv -o l3.tsv units.qft
	cmp r1.tsv r2.tsv
	cmp r2.tsv r3.tsv
	cmp l1.tsv l2.tsv
	qf-eval "${RUN[@]}" --bootstrap 30 --seed 4 --reliability r4.tsv -o l4.tsv units.qft
	cmp r1.tsv r4.tsv
	# the other tables are those of a run without it
	qf-eval "${MODELS[@]}" --bootstrap 0 -o l5.tsv units.qft
	cmp l1.tsv l5.tsv
}

@test "the man page's example runs" {
	cp a.qft ref.qft
	cp q3.qft q4.qft
	for s in 1 2 3; do cp q3s$s.qft q4s$s.qft; done
	line=$(sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$TESTS_DIR/../docs/man/qf-eval.1" |
		sed 's/\\-/-/g' | grep -E '^qf-eval .*--reliability')
	[ -n "$line" ]
	rm -f reliab.tsv lang.tsv
	run --separate-stderr bash -c "$line"
	assert_success
	[ "$(tail -n +3 reliab.tsv | wc -l)" -eq 12 ]
	[ "$(rcell reliab.tsv n_real q4s kl_unit)" = 3 ]
}

@test "misuse: --realizations naming no test model, a model twice, bad forms, no --reliability" {
	R=(-r a.qft -m q3.qft -m q3s1.qft -m q3s2.qft --reliability r.tsv)
	misuse "${R[@]}" --realizations x=q3s1,nosuch
	[ "${stderr_lines[0]}" = "qf-eval: --realizations: no test model named 'nosuch'" ]
	misuse "${R[@]}" --realizations x=ref,q3s1
	misuse "${R[@]}" --realizations x=q3s1,q3s2 --realizations y=q3,q3s1
	[ "${stderr_lines[0]}" = "qf-eval: --realizations: model 'q3s1' is in two configurations" ]
	misuse "${R[@]}" --realizations x=q3s1,q3s1
	misuse "${R[@]}" --realizations x=q3s1 --realizations x=q3s2
	[ "${stderr_lines[0]}" = "qf-eval: two configurations named 'x'" ]
	# a configuration named after a model that is its own
	misuse "${R[@]}" --realizations q3=q3s1,q3s2
	[ "${stderr_lines[0]}" = "qf-eval: two configurations named 'q3'" ]
	misuse "${R[@]}" --realizations q3s1,q3s2
	[ "${stderr_lines[0]}" = "qf-eval: --realizations wants NAME=M1,M2,..., not 'q3s1,q3s2'" ]
	misuse "${R[@]}" --realizations =q3s1
	misuse "${R[@]}" --realizations x=
	misuse "${R[@]}" --realizations x=q3s1,,q3s2
	misuse "${R[@]}" --realizations 'a b=q3s1'
	misuse -r a.qft -m q3s1.qft -m q3s2.qft --realizations x=q3s1,q3s2
	[ "${stderr_lines[0]}" = "qf-eval: --realizations needs --reliability FILE" ]
	misuse -r a.qft --reliability r.tsv
	[ "${stderr_lines[0]}" = "qf-eval: a reliability table (--reliability) needs a test model (-m)" ]
	misuse "${R[@]}" -d r.tsv
	[[ ${stderr_lines[0]} == *" name the same file" ]]
}

@test "bad input: a --reliability that cannot be written leaves no table behind" {
	rm -f l.tsv
	run --separate-stderr qf-eval "${RUN[@]}" -o l.tsv --reliability nodir/r.tsv units.qft
	assert_failure 1
	[ "${#stderr_lines[@]}" -eq 2 ]	# the headings line, then the error
	[ "${stderr_lines[1]}" = "qf-eval: nodir/r.tsv: cannot create: No such file or directory" ]
	[ ! -e l.tsv ]
	[ -z "$(ls -A | grep -F .tmp.)" ]
	# bad tokens: nothing written either
	$GEN variant bad-id bad-id.qft
	run --separate-stderr qf-eval "${RUN[@]}" -o l.tsv --reliability r.tsv bad-id.qft
	assert_failure 1
	[ ! -e l.tsv ] && [ ! -e r.tsv ]
}
