#!/usr/bin/env bats
# qf-eval (docs/eval.md): per-language figures, disparity, bootstrap
# intervals and the per-token NLL stream, checked against an independent
# Python oracle (tests/data/eval/oracle.py: torch for the forward pass,
# numpy for the rest) on the fixtures of tests/data/eval/gen_eval.py:
# tokens.qft (5 languages, 30 records), the reference a.qft and two
# rounded copies of it, q11.qft (mild) and q7.qft (strong).
#
# The oracle recomputes everything at test time from the same inputs and
# options (no expected output is stored) and compares: counts exactly,
# other numbers to 1e-4 relative plus 2e-6 absolute (the runtime's NLL is
# within ~1e-6 of torch's; a bootstrap bound is a continuous function of
# the replicates, so the same tolerance holds for the intervals), NA for
# NA, status strings exactly where docs/eval.md fixes them.

load common
load eval_common

ORACLE="$PY $TESTS_DIR/data/eval/oracle.py"
GEN="$PY $TESTS_DIR/data/eval/gen_eval.py"

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	E="$TESTS_DIR/data/eval"
	cp "$E/tokens.qft" "$E/q11.qft" "$E/q7.qft" "$E/languages.tsv" .
	cp "$TESTS_DIR/data/model/a.qft" a.qft
	cp "$TESTS_DIR/data/model/b.qft" b.qft
	for v in bad-id no-lang no-bytes extra head tail ctx16 xyz units; do
		$GEN variant $v $v.qft
	done
	mkdir -p cache
}

setup() {
	cd "$BATS_FILE_TMPDIR"
	export ORACLE_CACHE="$BATS_FILE_TMPDIR/cache"
	MODELS=(-r a.qft -m q11=q11.qft -m q7.qft)
	GROUPS_=(--languages languages.tsv --group-by morph_type --group-by script
		--group big=eng,rus,cmn_hans)
}

# Run qf-eval with the arguments, then the oracle with the same ones: it
# reads the files qf-eval wrote (-o, -d, --units-out, --nll) and prints
# differences.  qf-eval's stderr is left in $eval_stderr.
eval_check() {
	rm -f l.tsv d.tsv n.qft u.tsv
	oracle_check "$ORACLE" "$@"
}

# Misuse: exit 2, the message and the pointer to --help, nothing written.
misuse() {
	rm -f l.tsv d.tsv
	run --separate-stderr qf-eval "$@" -o l.tsv -d d.tsv tokens.qft
	echo "status $status stderr: $stderr"
	[ "$status" -eq 2 ]
	[[ ${stderr_lines[0]} == "qf-eval: "* ]]
	[ "${stderr_lines[1]}" = "Try 'qf-eval --help' for more information." ]
	[ ! -e l.tsv ] && [ ! -e d.tsv ]
}

# Bad data: exit 1, one line "qf-eval: ...", no output left behind.
bad_input() {
	rm -f l.tsv d.tsv n.qft u.tsv
	run --separate-stderr qf-eval "$@"
	echo "status $status stderr: $stderr"
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ $stderr == "qf-eval: "* ]]
	[ ! -e l.tsv ] && [ ! -e d.tsv ] && [ ! -e n.qft ] && [ ! -e u.tsv ]
	[ -z "$(ls -A | grep -F .tmp.)" ]
}

# Column COL of TSV FILE in the row of language or scope KEY and model
# MODEL: cell FILE COL KEY MODEL (columns found by name; qf-eval's tables
# start with the provenance line, then the header: formats/provenance.md).
cell() {
	awk -F'\t' -v c="$2" -v k="$3" -v m="$4" '
		FNR == 1 { next } FNR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$col["model"] == m && (("lang" in col) ? $col["lang"] : $col["scope"]) == k { print $col[c] }' "$1"
}

@test "--help prints the synopsis and exits 0" {
	run qf-eval --help
	assert_success
	assert_line --index 0 --regexp '^Usage: qf-eval '
}

@test "--version names the tool and version" {
	run qf-eval --version
	assert_success
	assert_line --index 0 --regexp '^qf-eval \(qf\) [0-9]+\.[0-9]+\.[0-9]+$'
	assert_line --index 1 --regexp '^qf=[0-9.]+ tool=qf-eval '	# formats/provenance.md
}

@test "the oracle's generators and windows pass their own checks" {
	# splitmix64 and xoshiro256** against published outputs, the
	# vectorised draws against the scalar ones, docs/runtime.md's windows
	run $ORACLE selftest
	assert_success
}

@test "counts from the records' attributes (awk, not the oracle)" {
	qf-eval "${MODELS[@]}" --bootstrap 0 -o l.tsv -d d.tsv tokens.qft
	# per language: units, tokens, scored (ids - 1), bytes - first_bytes,
	# chars - first_chars, words; the one-token record (eng) is a unit
	# with nothing scored (a reading: docs/eval.md says it "counts only in
	# tokens, bytes, words")
	qf-cat -l tokens.qft | awk -F'\t' '
		{ n = $3; gsub(/[][]/, "", n)
		  split($5, kv, " "); delete a
		  for (i in kv) { split(kv[i], p, "="); a[p[1]] = p[2] }
		  L = a["lang"]; u[L]++; t[L] += a["tokens"]; s[L] += n - 1
		  b[L] += a["bytes"] - a["first_bytes"]; c[L] += a["chars"] - a["first_chars"]
		  w[L] += a["words"] }
		END { for (L in u) print L, u[L], t[L], s[L], b[L], c[L], w[L] }' |
		sort > want
	for m in ref q11 q7; do
		awk -F'\t' -v m=$m '
			FNR == 1 { next } FNR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
			$col["model"] == m { print $col["lang"], $col["units"], $col["tokens"],
				$col["scored"], $col["bytes"], $col["chars"], $col["words"] }' l.tsv > got
		diff want got
	done
	[ "$(grep -c '^eng ' want)" -eq 1 ]
	grep -q '^eng 8 277 271 ' want
}

@test "point estimates (--bootstrap 0, default window 32, stride 16) equal the oracle's" {
	eval_check "${MODELS[@]}" --bootstrap 0 -o l.tsv -d d.tsv tokens.qft
	# rows: languages bytewise, the reference first, then command-line order
	run awk -F'\t' 'FNR == 1 { next } FNR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{ printf "%s/%s ", $col["lang"], $col["model"] }' l.tsv
	assert_output "cmn_hans/ref cmn_hans/q11 cmn_hans/q7 eng/ref eng/q11 eng/q7 fin/ref fin/q11 fin/q7 rus/ref rus/q11 rus/q7 tur/ref tur/q11 tur/q7 "
	# without bootstrap every bound is NA
	run awk -F'\t' 'FNR == 1 { next } FNR == 2 { split("", c); for (i = 1; i <= NF; i++) if ($i ~ /_(lo|hi)$/) c[i] = $i; next }
		{ for (i in c) if ($i != "NA") print FILENAME, FNR, c[i], $i }' l.tsv d.tsv
	assert_output ""
}

@test "bootstrap intervals (B 200, seed 7, scopes of --group-by and --group) equal the oracle's" {
	eval_check "${MODELS[@]}" --bootstrap 200 --seed 7 "${GROUPS_[@]}" \
		-o l.tsv -d d.tsv tokens.qft
	# one row per test model and scope: all, 3 morph_type, 3 script, big
	[ "$(tail -n +3 d.tsv | wc -l)" -eq 16 ]
	[ "$(cell d.tsv n_lang morph_type=agglutinative q7)" = 2 ]
	[ "$(cell d.tsv n_lang big q11)" = 3 ]
}

@test "defaults: 1000 replicates, seed 1" {
	eval_check "${MODELS[@]}" --languages languages.tsv --group-by morph_type \
		-o l.tsv -d d.tsv tokens.qft
	cp l.tsv l1.tsv
	qf-eval "${MODELS[@]}" --bootstrap 1000 --seed 1 -o l2.tsv tokens.qft
	cmp l1.tsv l2.tsv
}

@test "another seed, other intervals, the same estimates" {
	qf-eval "${MODELS[@]}" --bootstrap 50 --seed 7 -o s7.tsv -d s7d.tsv tokens.qft
	qf-eval "${MODELS[@]}" --bootstrap 50 --seed 8 -o s8.tsv -d s8d.tsv tokens.qft
	! cmp -s s7.tsv s8.tsv
	! cmp -s s7d.tsv s8d.tsv
	# every column but the bounds and the status (ci counts) is the same
	for f in s7 s7d s8 s8d; do
		awk -F'\t' 'FNR == 1 { next } FNR == 2 { for (i = 1; i <= NF; i++) keep[i] = $i !~ /(_lo|_hi|status)$/ }
			{ for (i = 1; i <= NF; i++) if (keep[i]) printf "%s\t", $i; print "" }' $f.tsv > $f.est
	done
	cmp s7.est s8.est
	cmp s7d.est s8d.est
	[ "$(head -1 s7.est | wc -w)" -eq 26 ]
}

@test "the same bytes for -j 1 and -j 3, and on a rerun" {
	qf-eval "${MODELS[@]}" --bootstrap 100 "${GROUPS_[@]}" -j 1 \
		-o l1.tsv -d d1.tsv --nll n1.qft tokens.qft
	qf-eval "${MODELS[@]}" --bootstrap 100 "${GROUPS_[@]}" -j 3 \
		-o l3.tsv -d d3.tsv --nll n3.qft tokens.qft
	qf-eval "${MODELS[@]}" --bootstrap 100 "${GROUPS_[@]}" -j 3 \
		-o l4.tsv -d d4.tsv --nll n4.qft tokens.qft
	cmp l1.tsv l3.tsv
	cmp d1.tsv d3.tsv
	cmp n1.qft n3.qft
	cmp l3.tsv l4.tsv
	cmp d3.tsv d4.tsv
	cmp n3.qft n4.qft
}

@test "the bootstrap draws languages in code order: --languages does not change the language table" {
	# languages.tsv lists eng fin hun tur rus cmn_hans: "table order" is
	# the output table's (codes bytewise), the same with or without it
	qf-eval "${MODELS[@]}" --bootstrap 100 -o la.tsv -d da.tsv tokens.qft
	qf-eval "${MODELS[@]}" --bootstrap 100 "${GROUPS_[@]}" -o lb.tsv -d db.tsv tokens.qft
	cmp la.tsv lb.tsv
	# the scope all is the same too
	awk -F'\t' 'FNR == 1 { next } FNR == 2 { for (i = 1; i <= NF; i++) if ($i == "scope") s = i; next } $s == "all"' da.tsv > a.all
	awk -F'\t' 'FNR == 1 { next } FNR == 2 { for (i = 1; i <= NF; i++) if ($i == "scope") s = i; next } $s == "all"' db.tsv > b.all
	[ -s a.all ]
	cmp a.all b.all
}

@test "--window 20 --stride 7" {
	eval_check "${MODELS[@]}" --window 20 --stride 7 --bootstrap 50 --seed 3 \
		-o l.tsv -d d.tsv --nll n.qft tokens.qft
}

@test "the default window is the smallest n_ctx of the models" {
	# ctx16.qft: a.qft with n_ctx 16; window 16, stride 8 for every model
	eval_check -r a.qft -m c16=ctx16.qft --bootstrap 0 -o l.tsv -d d.tsv --nll n.qft tokens.qft
}

@test "--measure deg, d_bpb, d_nll; --ref-lang; --baseline" {
	for m in deg d_bpb d_nll; do
		eval_check "${MODELS[@]}" --measure $m --bootstrap 100 --seed 5 "${GROUPS_[@]}" \
			-o l.tsv -d d.tsv tokens.qft
		[ "$(cell d.tsv measure all q7)" = $m ]
	done
	eval_check "${MODELS[@]}" --ref-lang fin --baseline q7 --bootstrap 100 "${GROUPS_[@]}" \
		-o l.tsv -d d.tsv tokens.qft
	# the baseline over itself: 1
	[ "$(cell d.tsv mean_vs_base all q7)" = 1 ]
	[ "$(cell l.tsv rel_deg fin q11)" = 1 ]
}

@test "--min-den: some replicates degenerate, exactly as many as the oracle's (ci K/B)" {
	# a --min-den between two replicates' D of eng (the reference
	# language) of q11, about their 10th percentile: the estimate is fine,
	# the replicates below it make rel_deg's interval NA
	md=$($ORACLE min-den "${MODELS[@]}" --measure deg_byte --bootstrap 200 --seed 11 tokens.qft)
	eval_check "${MODELS[@]}" --measure deg_byte --bootstrap 200 --seed 11 --min-den "$md" "${GROUPS_[@]}" \
		-o l.tsv -d d.tsv tokens.qft
	[[ $(cell l.tsv rel_deg_status fin q11) == "rel_deg:ci "*"/200" ]]
	[ "$(cell l.tsv rel_deg_lo fin q11)" = NA ]
	[ "$(cell l.tsv rel_deg fin q11)" != NA ]
}

@test "--min-den above a model's D of the reference language: den<=min" {
	# q11's deg_byte of eng is about 0.069, q7's about 0.16
	eval_check "${MODELS[@]}" --measure deg_byte --bootstrap 50 --min-den 0.1 "${GROUPS_[@]}" \
		-o l.tsv -d d.tsv tokens.qft
	[ "$(cell l.tsv rel_deg fin q11)" = NA ]
	[ "$(cell l.tsv rel_deg_status fin q11)" = "rel_deg:den<=min" ]
	[ "$(cell l.tsv rel_deg fin q7)" != NA ]
	[[ $(cell l.tsv rel_deg_status fin q7) != *den* ]]
	[[ $(cell d.tsv status all q11) == *"rel_ref_mean:den<=min"* ]]
}

@test "a test model equal to the reference: every degradation 0, ratios NA (den<=0)" {
	cp a.qft same.qft
	qf-eval -r a.qft -m same=same.qft -m q7.qft --bootstrap 20 -o l.tsv -d d.tsv tokens.qft
	# by hand: the same logits give d_nll = 0, KL = 0, top-1 = 1, dp = 0
	for L in cmn_hans eng fin rus tur; do
		for c in d_nll deg d_bpb deg_byte kl_mean kl_median kl_p99 rms_dp \
			d_bits_unit kl_unit; do
			[ "$(cell l.tsv $c $L same)" = 0 ] || { echo "$L $c $(cell l.tsv $c $L same)"; false; }
		done
		[ "$(cell l.tsv ppl_ratio $L same)" = 1 ]
		[ "$(cell l.tsv top1 $L same)" = 1 ]
		[ "$(cell l.tsv rel_deg $L same)" = NA ]
		[ "$(cell l.tsv rel_deg_lo $L same)" = NA ]
		[ "$(cell l.tsv rel_deg_status $L same)" = "rel_deg:den<=0" ]
		[ "$(cell l.tsv nll $L same)" = "$(cell l.tsv nll $L ref)" ]
	done
	[ "$(cell d.tsv mean all same)" = 0 ]
	[ "$(cell d.tsv range all same)" = 0 ]
	[ "$(cell d.tsv max all same)" = 0 ]
	[ "$(cell d.tsv max_min all same)" = NA ]
	[ "$(cell d.tsv cv all same)" = NA ]
	[ "$(cell d.tsv rel_ref_mean all same)" = NA ]
	st=$(cell d.tsv status all same)
	[[ ";$st;" == *";max_min:den<=0;"* ]]
	[[ ";$st;" == *";cv:den<=0;"* ]]
	[[ ";$st;" == *";rel_ref_mean:den<=0;"* ]]
	# same is the baseline: q7's figures over 0
	[ "$(cell d.tsv mean_vs_base all q7)" = NA ]
	[[ ";$(cell d.tsv status all q7);" == *";mean_vs_base:den<=0;range_vs_base:den<=0;"* ]]
	# and all of it as the oracle has it
	run $ORACLE check -r a.qft -m same=same.qft -m q7.qft --bootstrap 20 -o l.tsv -d d.tsv tokens.qft
	echo "$output"
	assert_success
}

@test "--nll: nll.MODEL.N per record and model, reference first, with kind, model, lang, doc, source" {
	eval_check "${MODELS[@]}" --bootstrap 0 -o l.tsv -d d.tsv --nll n.qft tokens.qft
	run qf-cat -l n.qft
	[ "${#lines[@]}" -eq 90 ]
	assert_line --index 0 --regexp $'^nll\\.ref\\.0\tf32\t\\[29\\]\t'
	assert_line --index 1 --regexp $'^nll\\.q11\\.0\tf32\t\\[29\\]\t'
	assert_line --index 2 --regexp $'^nll\\.q7\\.0\tf32\t\\[29\\]\t'
	# the one-token record: nothing to score, an empty record
	assert_line --index 3 --regexp $'^nll\\.ref\\.1\tf32\t\\[0\\]\t'
	for kv in kind=nll model=ref lang=tur doc=0 source=udhr/heldout/tur.txt; do
		[[ " ${lines[0]##*$'\t'} " == *" $kv "* ]]
	done
}

@test "two token streams are read as one" {
	qf-eval "${MODELS[@]}" --bootstrap 30 -o l1.tsv -d d1.tsv --nll n1.qft tokens.qft
	qf-eval "${MODELS[@]}" --bootstrap 30 -o l2.tsv -d d2.tsv --nll n2.qft head.qft tail.qft
	cmp l1.tsv l2.tsv
	cmp d1.tsv d2.tsv
	cmp n1.qft n2.qft
}

@test "tokens from standard input, models from pipes (each file read once)" {
	qf-eval "${MODELS[@]}" --bootstrap 30 -o l1.tsv -d d1.tsv tokens.qft
	qf-eval -r a.qft -m q11=q11.qft -m q7.qft --bootstrap 30 -o l2.tsv -d d2.tsv < tokens.qft
	qf-eval -r ref=<(cat a.qft) -m q11=<(cat q11.qft) -m q7=<(cat q7.qft) --bootstrap 30 \
		-o l3.tsv -d d3.tsv - < tokens.qft
	cmp l1.tsv l2.tsv
	cmp d1.tsv d2.tsv
	cmp l1.tsv l3.tsv
	cmp d1.tsv d3.tsv
}

@test "model names: every allowed character, the default from the file name" {
	mkdir -p sub
	cp q7.qft sub/q7.qft
	qf-eval -r base=a.qft -m 'Az09._+-=q11.qft' -m sub/q7.qft --bootstrap 0 -o l.tsv tokens.qft
	run awk -F'\t' 'FNR == 1 { next } FNR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$col["lang"] == "eng" { printf "%s ", $col["model"] }' l.tsv
	assert_output "base Az09._+- q7 "
}

@test "without -o the language table goes to standard output" {
	qf-eval "${MODELS[@]}" --bootstrap 30 -o l1.tsv tokens.qft
	qf-eval "${MODELS[@]}" --bootstrap 30 tokens.qft > l2.tsv
	cmp l1.tsv l2.tsv
}

@test "records that are not token records are skipped, never without a word; -v names each" {
	qf-eval "${MODELS[@]}" --bootstrap 30 -o l1.tsv -d d1.tsv tokens.qft
	run --separate-stderr qf-eval "${MODELS[@]}" --bootstrap 30 -o l2.tsv -d d2.tsv extra.qft
	assert_success
	[ "$stderr" = "qf-eval: extra.qft: skipped 2 records that are not 1-d integer token ids (the first: note.0)" ]
	cmp l1.tsv l2.tsv
	cmp d1.tsv d2.tsv
	# a line per stream that skipped any, after the scoring
	qf-cat -n note.1 -o one.qft extra.qft
	run --separate-stderr qf-eval "${MODELS[@]}" --bootstrap 30 -o l2.tsv one.qft tokens.qft extra.qft
	assert_success
	[ "${#stderr_lines[@]}" -eq 2 ]
	[ "${stderr_lines[0]}" = "qf-eval: one.qft: skipped 1 record that is not 1-d integer token ids (the first: note.1)" ]
	[ "${stderr_lines[1]}" = "qf-eval: extra.qft: skipped 2 records that are not 1-d integer token ids (the first: note.0)" ]
	run --separate-stderr qf-eval -v "${MODELS[@]}" --bootstrap 30 -o l3.tsv -d d3.tsv extra.qft
	assert_success
	[[ $stderr == *"qf-eval: extra.qft: record note.0: f32, not 1-d integer token ids: skipped"* ]]
	[[ $stderr == *"qf-eval: extra.qft: record note.1: f32, not 1-d integer token ids: skipped"* ]]
	cmp l1.tsv l3.tsv
	# nothing but such records: said, then no token records
	run --separate-stderr qf-eval "${MODELS[@]}" --bootstrap 0 -o l5.tsv one.qft
	assert_failure 1
	[ "${stderr_lines[0]}" = "qf-eval: one.qft: skipped 1 record that is not 1-d integer token ids (the first: note.1)" ]
	[ ! -e l5.tsv ]
}

@test "token ids of any integer dtype are scored alike (none skipped)" {
	qf-eval "${MODELS[@]}" --bootstrap 30 -o l1.tsv -d d1.tsv tokens.qft
	qf-cat -t i64 -o t64.qft tokens.qft
	qf-cat -t u16 -o t16.qft tokens.qft
	# a stream mixing i64, u16 and i32 records: every language is there
	qf-cat -n 'doc.[0-4]' t64.qft > mixed.qft
	qf-cat -x 'doc.[0-4]' -n 'doc.[0-9]' t16.qft >> mixed.qft
	qf-cat -x 'doc.[0-9]' tokens.qft >> mixed.qft
	for f in t64.qft mixed.qft; do
		run --separate-stderr qf-eval "${MODELS[@]}" --bootstrap 30 -o l2.tsv -d d2.tsv $f
		assert_success
		cmp l1.tsv l2.tsv
		cmp d1.tsv d2.tsv
	done
}

@test "misuse: unknown option, no -r, duplicate names, bad --measure, bad values" {
	misuse "${MODELS[@]}" --bogus
	misuse -m q11=q11.qft
	misuse -r a.qft -m x=q11.qft -m x=q7.qft
	misuse -r a.qft -m ref=q11.qft
	misuse -r a.qft -m q7=q11.qft -m q7.qft
	misuse "${MODELS[@]}" --measure ppl
	# an unknown measure lists the choices
	[ "${stderr_lines[0]}" = "qf-eval: --measure: unknown measure 'ppl' (deg_byte, deg, d_bpb, d_nll, d_bits_unit, kl_unit)" ]
	misuse "${MODELS[@]}" --measure ''
	misuse "${MODELS[@]}" --measure KL_UNIT
	rm -f u.tsv
	run --separate-stderr qf-eval -r a.qft --units-out u.tsv tokens.qft
	assert_failure 2
	[ "${stderr_lines[0]}" = "qf-eval: a units table (--units-out) needs a test model (-m)" ]
	[ ! -e u.tsv ]
	misuse -r a.qft -m 'bad name=q11.qft'
	misuse -r a.qft -m 'x/y=q11.qft'
	misuse "${MODELS[@]}" --bootstrap 1x
	misuse "${MODELS[@]}" --seed -1
	misuse "${MODELS[@]}" --min-den abc
	misuse "${MODELS[@]}" -j 0
}

@test "misuse: --window and --stride out of range exit 2, as in qf-act" {
	misuse "${MODELS[@]}" --window 1
	[ "${stderr_lines[0]}" = "qf-eval: --window 1 out of range [2, n_ctx 32]" ]
	misuse "${MODELS[@]}" --window 0
	misuse "${MODELS[@]}" --window 33
	[ "${stderr_lines[0]}" = "qf-eval: --window 33 out of range [2, n_ctx 32]" ]
	misuse "${MODELS[@]}" --window 16 --stride 16
	[ "${stderr_lines[0]}" = "qf-eval: --stride 16 out of range [1, window 16)" ]
	misuse "${MODELS[@]}" --stride 0
	misuse "${MODELS[@]}" --stride 32
	# the smallest n_ctx of the models bounds the window
	misuse -r a.qft -m ctx16.qft --window 20
	[ "${stderr_lines[0]}" = "qf-eval: --window 20 out of range [2, n_ctx 16]" ]
	# the same value through qf-act: the same status
	run --separate-stderr qf-act -m a.qft --window 1 -o /dev/null tokens.qft
	assert_failure 2
}

@test "misuse (readings of the spec): --baseline naming no test model, --group-by without --languages" {
	misuse "${MODELS[@]}" --baseline nosuch
	misuse "${MODELS[@]}" --baseline ref
	misuse "${MODELS[@]}" --group-by morph_type
}

@test "bad input: a missing file" {
	bad_input "${MODELS[@]}" -o l.tsv -d d.tsv --nll n.qft nosuch.qft
	[[ $stderr == *nosuch.qft* ]]
	bad_input -r a.qft -m nosuch.qft -o l.tsv -d d.tsv --nll n.qft tokens.qft
	[[ $stderr == *nosuch.qft* ]]
	bad_input "${MODELS[@]}" --languages nosuch.tsv --group-by morph_type \
		-o l.tsv -d d.tsv tokens.qft
	[[ $stderr == *nosuch.tsv* ]]
}

@test "bad input: models of different vocabulary sizes" {
	bad_input -r a.qft -m b.qft -o l.tsv -d d.tsv --nll n.qft tokens.qft
	[[ $stderr == *512* && $stderr == *97* ]]
}

@test "bad input: a token id beyond the vocabulary" {
	bad_input "${MODELS[@]}" -o l.tsv -d d.tsv --nll n.qft bad-id.qft
	[[ $stderr == *"doc.5"* ]]
	[[ $stderr == *"token id 97 at position 3 out of range (vocab_size 97)"* ]]
}

@test "bad input: a token record without lang" {
	bad_input "${MODELS[@]}" -o l.tsv -d d.tsv --nll n.qft no-lang.qft
	[[ $stderr == *"doc.3"* ]]
	[[ $stderr == *lang* ]]
}

@test "bad input (a reading): a token record without its bytes attribute" {
	bad_input "${MODELS[@]}" -o l.tsv -d d.tsv --nll n.qft no-bytes.qft
	[[ $stderr == *"doc.4"* ]]
	[[ $stderr == *bytes* ]]
}

@test "bad input: a --group-by column not in the languages table" {
	bad_input "${MODELS[@]}" --languages languages.tsv --group-by nosuch \
		-o l.tsv -d d.tsv tokens.qft
	[[ $stderr == *nosuch* ]]
}

@test "bad input: a language of the data missing from the languages table" {
	bad_input "${MODELS[@]}" --languages languages.tsv --group-by morph_type \
		-o l.tsv -d d.tsv xyz.qft
	[[ $stderr == *xyz* ]]
	grep -v '^rus' languages.tsv > no-rus.tsv
	bad_input "${MODELS[@]}" --languages no-rus.tsv --group-by script \
		-o l.tsv -d d.tsv tokens.qft
	[[ $stderr == *rus* ]]
	# the same without --group-by (the man page's bad input)
	bad_input "${MODELS[@]}" --languages languages.tsv -o l.tsv -d d.tsv xyz.qft
	[ "$stderr" = "qf-eval: languages.tsv: no row for language xyz (in the data)" ]
	bad_input "${MODELS[@]}" --languages no-rus.tsv -o l.tsv tokens.qft
	[ "$stderr" = "qf-eval: no-rus.tsv: no row for language rus (in the data)" ]
	bad_input "${MODELS[@]}" --languages nosuch.tsv -o l.tsv tokens.qft
	[[ $stderr == *nosuch.tsv* ]]
	# a table that has them all: the tables as without it
	qf-eval "${MODELS[@]}" --bootstrap 20 -o l1.tsv -d d1.tsv tokens.qft
	qf-eval "${MODELS[@]}" --bootstrap 20 --languages languages.tsv -o l2.tsv -d d2.tsv tokens.qft
	cmp l1.tsv l2.tsv
	cmp d1.tsv d2.tsv
}

@test "bad input: a languages table larger than the limit (/dev/zero) is one line, memory bounded" {
	need_plain_build
	# ulimit: a reader without a limit would be killed, not say so
	for gb in "" "--group-by script"; do
		run --separate-stderr bash -c "ulimit -v 4000000; timeout 120 qf-eval -r a.qft -m q7.qft --bootstrap 0 --languages /dev/zero $gb -o l.tsv tokens.qft"
		assert_failure 1
		[ "$stderr" = "qf-eval: /dev/zero: larger than 16777216 bytes (the limit of a table)" ]
		[ ! -e l.tsv ]
	done
	# one line of 16 MiB and more
	head -c 17000000 /dev/zero | tr '\0' x > big.tsv
	bad_input "${MODELS[@]}" --languages big.tsv -o l.tsv tokens.qft
	[ "$stderr" = "qf-eval: big.tsv: larger than 16777216 bytes (the limit of a table)" ]
}

@test "a language whose scored targets cover no bytes: its NA rows say why, never ok" {
	# zzz: one record of one token without BOS, so no byte is scored
	qf-cat -n doc.1 --set lang=zzz tokens.qft > zzz.qft
	cat tokens.qft zzz.qft > with-zzz.qft
	qf-eval "${MODELS[@]}" --bootstrap 20 -o l.tsv -d d.tsv with-zzz.qft
	[ "$(cell l.tsv bytes zzz q7)" = 0 ]
	[ "$(cell l.tsv deg_byte zzz q7)" = NA ]
	for m in q11 q7; do
		[ "$(cell d.tsv status all $m)" = "kl_unit:NA in zzz" ]
		[ "$(cell d.tsv mean all $m)" = NA ]
		[ "$(cell l.tsv rel_deg_status zzz $m)" = "kl_unit:NA in zzz" ]
		# the other languages' rel_deg has a value, and ok
		[ "$(cell l.tsv rel_deg_status fin $m)" = ok ]
	done
	# every figure of the disparity rows NA, the status first says why
	run awk -F'\t' 'FNR == 2 { for (i = 1; i <= NF; i++) if ($i == "status") st = i }
		FNR > 2 { for (i = 5; i <= NF; i++) if (i != st && $i != "NA") print FNR, i, $i }' d.tsv
	assert_output ''
	# a measure per token has no value either: nothing scored
	qf-eval "${MODELS[@]}" --bootstrap 0 --measure d_nll -d d.tsv -o l.tsv with-zzz.qft
	[ "$(cell d.tsv status all q7)" = "d_nll:NA in zzz" ]
	# the reference language without a value: every rel_deg says so
	qf-eval "${MODELS[@]}" --bootstrap 0 --ref-lang zzz -o l.tsv with-zzz.qft
	[ "$(cell l.tsv rel_deg_status fin q7)" = "kl_unit:NA in zzz" ]
	# and every cell as the oracle reads docs/eval.md
	eval_check "${MODELS[@]}" --bootstrap 30 --group big=eng,rus,zzz \
		--group small=fin,tur -o l.tsv -d d.tsv with-zzz.qft
	eval_check "${MODELS[@]}" --bootstrap 10 --ref-lang zzz -o l.tsv -d d.tsv with-zzz.qft
}


@test "an existing output is left alone on failure" {
	echo old > l.keep
	run --separate-stderr qf-eval "${MODELS[@]}" -o l.keep bad-id.qft
	assert_failure 1
	[ "$(cat l.keep)" = old ]
}

@test "bootstrap coverage: 95% intervals cover the truth in 91-98% of 400 simulations" {
	# The method, as the oracle implements it (the same code the other
	# tests compare qf-eval with), on simulated data with known truth;
	# qf-eval itself needs models and token streams, so it is not run
	# here (see tests/data/eval/coverage.py).
	run $PY "$TESTS_DIR/data/eval/coverage.py" 400 1000
	echo "$output"
	assert_success
}

@test "the man page examples' lines are in --help" {
	[ -e "$TESTS_DIR/../docs/man/qf-eval.1" ] || skip "no docs/man/qf-eval.1"
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$TESTS_DIR/../docs/man/qf-eval.1" |
		grep -E '^qf-eval ' | sed 's/\\-/-/g; s/\\(aq/'"'"'/g' > examples.sh
	[ "$(wc -l < examples.sh)" -ge 1 ]
	qf-eval --help | sed -n 's/^  \(qf-eval .*\)$/\1/p' > help.sh
	while read -r line; do grep -qxF -- "$line" examples.sh; done < help.sh
}

@test "two outputs on one file are misuse, whatever the names" {
	rm -f same.tsv
	for args in "-o same.tsv -d same.tsv" "-o same.tsv -d ./same.tsv" \
		    "--nll same.tsv -d same.tsv" "--nll -" "--units-out same.tsv -o same.tsv" \
		    "--units-out -"; do
		run --separate-stderr qf-eval "${MODELS[@]}" --bootstrap 0 $args tokens.qft
		assert_failure 2
		[[ ${stderr_lines[0]} == "qf-eval: "*" name the same file" ]] ||
			{ echo "$args: ${stderr_lines[0]}"; false; }
	done
	[ ! -e same.tsv ]
}

# ------------------------------------------------------------ parallel units
# units.qft (gen_eval.py variant units): tokens.qft with unit_id and
# unit_kind; each language's first record a heading (a0.h), the others
# body paragraphs a1.p1, a1.p2, a2.p1, ...; tur's doc 4 without a unit id,
# rus's doc 3 with unit=/kind= instead of unit_id=/unit_kind=.

@test "parallel units: headings left out (said once), d_bits_unit, kl_unit and the units table equal the oracle's" {
	# kl_unit (the default measure) sums a unit's tokens: the range of
	# a two-language scope near 0, and ratios over it, magnify rounding
	ORACLE_ATOL=2e-5 ORACLE_RTOL=2e-3 eval_check "${MODELS[@]}" --bootstrap 100 --seed 3 "${GROUPS_[@]}" \
		-o l.tsv -d d.tsv --units-out u.tsv --nll n.qft units.qft
	[ "$eval_stderr" = "qf-eval: 5 heading records left out (--headings to score them)" ]
	# every language lost its first record; no heading row, no NLL record
	[ "$(cell l.tsv units eng q7)" = 7 ]
	[ "$(cell l.tsv units rus q7)" = 3 ]
	! grep -q heading u.tsv
	[ "$(qf-cat -l n.qft | wc -l)" -eq 75 ]
	# the unit ids, else the record's ordinal; kind NA without one
	run awk -F'\t' '$1 == "tur" && $4 == "q7" { printf "%s/%s ", $2, $3 }' u.tsv
	assert_output "a1.p1/body a1.p2/body a2.p1/body 25/NA "
	run awk -F'\t' '$1 == "rus" && $4 == "q11" { printf "%s/%s ", $2, $3 }' u.tsv
	assert_output "a1.p1/body a1.p2/body a2.p1/body "
	# two streams: one line for all of them
	run --separate-stderr qf-eval "${MODELS[@]}" --bootstrap 0 -o l2.tsv units.qft units.qft
	assert_success
	[ "$stderr" = "qf-eval: 10 heading records left out (--headings to score them)" ]
}

@test "--headings scores them: the tables of the same records without unit attributes, and heading rows" {
	eval_check "${MODELS[@]}" --headings --bootstrap 100 --seed 3 "${GROUPS_[@]}" \
		-o l.tsv -d d.tsv --units-out u.tsv --nll n.qft units.qft
	[ -z "$eval_stderr" ]
	run awk -F'\t' '$3 == "heading" && $4 == "q7" { printf "%s/%s/%s ", $1, $2, $6 }' u.tsv
	assert_output "cmn_hans/a0.h/9 eng/a0.h/0 fin/a0.h/39 rus/a0.h/65 tur/a0.h/29 "
	# the attributes change nothing else: tokens.qft gives the same bytes
	cp l.tsv lu.tsv
	cp d.tsv du.tsv
	qf-eval "${MODELS[@]}" --bootstrap 100 --seed 3 "${GROUPS_[@]}" -o lt.tsv -d dt.tsv tokens.qft
	cmp lu.tsv lt.tsv
	cmp du.tsv dt.tsv
}

@test "the new columns come after rel_deg_status; the earlier ones are where they were" {
	qf-eval "${MODELS[@]}" --bootstrap 0 -o l.tsv tokens.qft
	sed -n 2p l.tsv | tr '\t' '\n' > cols
	[ "$(wc -l < cols)" -eq 63 ]
	[ "$(sed -n 18p cols)" = bpb ]	# the --help example's cut -f1,2,18
	[ "$(sed -n 57p cols)" = rel_deg_status ]
	[ "$(sed -n '58,63p' cols | paste -sd' ')" = "d_bits_unit d_bits_unit_lo d_bits_unit_hi kl_unit kl_unit_lo kl_unit_hi" ]
	# records without unit attributes: the units table names them by ordinal
	eval_check "${MODELS[@]}" --bootstrap 0 -o l.tsv --units-out u.tsv tokens.qft
	run awk -F'\t' 'FNR > 2 && $4 == "q7" && $1 == "eng" { printf "%s/%s ", $2, $3 }' u.tsv
	assert_output "1/NA 4/NA 7/NA 11/NA 15/NA 19/NA 23/NA 27/NA "
}

@test "--measure kl_unit and d_bits_unit: disparity and rel_deg equal the oracle's" {
	# figures summed over a unit's tokens carry the rounding of each
	# token's (~1e-7 relative) times the unit's tokens, in absolute terms:
	# a difference of two of them (range) near 0 needs a wider ATOL
	for m in kl_unit d_bits_unit; do
		ORACLE_ATOL=2e-5 eval_check "${MODELS[@]}" --measure $m --bootstrap 100 --seed 5 "${GROUPS_[@]}" \
			-o l.tsv -d d.tsv units.qft
		[ "$(cell d.tsv measure all q7)" = $m ]
		# the disparity's mean is the mean of the language table's column
		want=$(awk -F'\t' -v c=$m 'FNR == 1 { next } FNR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
			$col["model"] == "q7" { s += $col[c]; n++ } END { printf "%.4g", s / n }' l.tsv)
		[ "$(printf %.4g "$(cell d.tsv mean all q7)")" = "$want" ]
	done
	# a language without a scored target has no kl_unit: said as for the others
	qf-cat -n doc.1 --set lang=zzz tokens.qft > zzz.qft
	cat tokens.qft zzz.qft > with-zzz.qft
	qf-eval "${MODELS[@]}" --bootstrap 0 --measure kl_unit -d d.tsv -o l.tsv with-zzz.qft
	[ "$(cell d.tsv status all q7)" = "kl_unit:NA in zzz" ]
	[ "$(cell l.tsv kl_unit zzz q7)" = NA ]
}

@test "unit and kind as qf-cat --set writes them: a heading left out, a body scored" {
	qf-eval "${MODELS[@]}" --bootstrap 20 -o l1.tsv -d d1.tsv tokens.qft
	# doc.4 (eng) again, as a heading: left out, the tables unchanged
	qf-cat -n doc.4 --set kind=heading --set unit=a1.h tokens.qft > h.qft
	run --separate-stderr qf-eval "${MODELS[@]}" --bootstrap 20 -o l2.tsv -d d2.tsv tokens.qft h.qft
	assert_success
	[ "$stderr" = "qf-eval: 1 heading record left out (--headings to score them)" ]
	cmp l1.tsv l2.tsv
	cmp d1.tsv d2.tsv
	# scored with --headings; as a body, scored anyway
	qf-eval "${MODELS[@]}" --headings --bootstrap 0 -o l3.tsv --units-out u3.tsv tokens.qft h.qft
	[ "$(cell l3.tsv units eng q7)" = 9 ]
	grep -q $'^eng\ta1.h\theading\tq7\t12\t11\t' u3.tsv
	qf-cat -n doc.4 --set kind=body --set unit=zz.1 tokens.qft > b.qft
	run --separate-stderr qf-eval "${MODELS[@]}" --bootstrap 0 -o l4.tsv --units-out u4.tsv tokens.qft b.qft
	assert_success
	[ -z "$stderr" ]
	grep -q $'^eng\tzz.1\tbody\tq7\t12\t11\t' u4.tsv
	eval_check "${MODELS[@]}" --bootstrap 0 -o l4.tsv --units-out u4.tsv tokens.qft b.qft
}

@test "bad input: a unit id that is empty or has a tab; a heading is checked, not skipped" {
	qf-cat -n doc.4 --set $'unit_id=a\tb' tokens.qft > tab.qft
	bad_input "${MODELS[@]}" -o l.tsv --units-out u.tsv tokens.qft tab.qft
	# the message shows the tab escaped (one line)
	[ "$stderr" = "qf-eval: tab.qft: record doc.4: unit 'a\tb' is empty or has a tab or line break" ]
	qf-cat --set unit_id= tokens.qft > empty.qft
	bad_input "${MODELS[@]}" -o l.tsv --units-out u.tsv empty.qft
	[[ $stderr == *"record doc.0: unit '' is empty"* ]]
	# a heading with an id out of range is bad input all the same
	qf-cat --set unit_kind=heading bad-id.qft > bad-h.qft
	bad_input "${MODELS[@]}" -o l.tsv -d d.tsv bad-h.qft
	[[ $stderr == *"doc.5"*"token id 97 at position 3 out of range"* ]]
}

# bal.qft: the first 4 records of each language of tokens.qft, record k of
# a language with unit_id uk: every language has every unit (balanced).
make_balanced() {
	rm -f bal.qft
	qf-cat -l tokens.qft | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^lang=/) {
		l = substr($i, 6); if (++n[l] <= 4) print $1, n[l] } }' |
	while read -r name k; do
		qf-cat -n "$name" --set unit_id=u$k tokens.qft >> bal.qft
	done
}

@test "parallel units drawn jointly (every record with a unit_id): intervals, tau and BCa equal the oracle's" {
	# units.qft but its two records without a unit_id
	qf-cat -x doc.25 -x doc.26 units.qft > ids.qft
	for m in kl_unit deg_byte; do
		ORACLE_ATOL=2e-5 eval_check "${MODELS[@]}" --measure $m --bootstrap 200 --seed 4 \
			"${GROUPS_[@]}" -o l.tsv -d d.tsv ids.qft
	done
	# auto chose unit: the same bytes as --cluster unit
	qf-eval "${MODELS[@]}" --cluster unit --measure deg_byte --bootstrap 200 --seed 4 \
		"${GROUPS_[@]}" -o l2.tsv -d d2.tsv ids.qft
	cmp l.tsv l2.tsv && cmp d.tsv d2.tsv
	# each language's records on their own: the same estimates, other intervals
	ORACLE_ATOL=2e-5 eval_check "${MODELS[@]}" --cluster record --measure deg_byte --bootstrap 200 \
		--seed 4 "${GROUPS_[@]}" -o l3.tsv -d d3.tsv ids.qft
	[ "$(cell l3.tsv nll eng q7)" = "$(cell l2.tsv nll eng q7)" ]
	[ "$(cell l3.tsv nll_lo eng q7)" != "$(cell l2.tsv nll_lo eng q7)" ]
	# percentile intervals
	eval_check "${MODELS[@]}" --interval percentile --bootstrap 200 --seed 4 -o l.tsv -d d.tsv ids.qft
	# 7 parallel units: auto took BCa, and said so; the bootstrap-t when asked
	[[ $eval_stderr != *"BCa intervals"* ]]
	run --separate-stderr qf-eval "${MODELS[@]}" --bootstrap 20 -o l.tsv ids.qft
	[[ $stderr == *"qf-eval: 7 parallel units: BCa intervals (the bootstrap-t needs at least 12)"* ]]
	ORACLE_ATOL=2e-5 eval_check "${MODELS[@]}" --interval t --bootstrap 200 --seed 4 \
		"${GROUPS_[@]}" -o l.tsv -d d.tsv ids.qft
	[[ $eval_stderr != *"BCa intervals"* ]]
}

@test "tau on a balanced parallel corpus is the two-way ANOVA's: sqrt((MS_lang - MS_resid) / units)" {
	make_balanced
	for m in kl_unit d_bits_unit; do
		qf-eval "${MODELS[@]}" --measure $m --bootstrap 0 -d d.tsv --units-out u.tsv bal.qft
		col=$([ $m = kl_unit ] && echo kl_sum || echo d_bits)
		for q in q11 q7; do
			want=$($PY -c '
import sys, numpy as np
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if not l.startswith("#")]
h = rows[0]
rows = [r for r in rows[1:] if r[h.index("model")] == sys.argv[3]]
langs = sorted({r[0] for r in rows}); units = sorted({r[1] for r in rows})
X = np.zeros((len(langs), len(units)))
for r in rows:
    X[langs.index(r[0]), units.index(r[1])] = float(r[h.index(sys.argv[2])])
n, k = X.shape
a = X.mean(1) - X.mean(); e = X - X.mean(1)[:, None] - X.mean(0)[None, :] + X.mean()
msl, mse = k * (a ** 2).sum() / (n - 1), (e ** 2).sum() / ((n - 1) * (k - 1))
print("%.6g" % np.sqrt(max(0, (msl - mse) / k)))' u.tsv $col $q)
			got=$(cell d.tsv tau all $q)
			echo "$m $q: tau $got, ANOVA $want"
			$PY -c "import sys; g, w = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(g - w) > 1e-4 * abs(w) + 1e-6)" "$got" "$want"
		done
	done
	# tau_mean is tau over the mean; tau_vs_base of the baseline 1
	$PY -c "import sys; t, m, r = map(float, sys.argv[1:]); sys.exit(abs(t / m - r) > 1e-5 * r)" \
		"$(cell d.tsv tau all q7)" "$(cell d.tsv mean all q7)" "$(cell d.tsv tau_mean all q7)"
	[ "$(cell d.tsv tau_vs_base all q11)" = 1 ]
}

@test "--cluster unit without unit ids is bad input; --cluster and --interval values are checked" {
	bad_input "${MODELS[@]}" --cluster unit -o l.tsv tokens.qft
	[ "$stderr" = "qf-eval: --cluster unit: record 0 (language tur) has no unit_id" ]
	misuse "${MODELS[@]}" --cluster units
	[[ ${stderr_lines[0]} == *"--cluster: 'units' is none of auto, unit, record" ]]
	misuse "${MODELS[@]}" --interval bc
	[[ ${stderr_lines[0]} == *"--interval: 'bc' is none of auto, t, bca, percentile" ]]
}
