#!/usr/bin/env bats
# pipelines/reliability.mk (docs/pipelines.md) on a small model: it runs,
# reruns with nothing to do, and its tables are those of qf-quantize and
# qf-eval run by hand.

load common

TOP=$TESTS_DIR/..

# A 4-layer byte-level model, 3 steps of qf-train (common.bash).
setup_file() {
	tiny_model "$BATS_FILE_TMPDIR"
}

reliab_make() {
	make -f "$TOP/pipelines/reliability.mk" BIN="$QF_BIN" MODEL="$BATS_FILE_TMPDIR/m4.qft" \
		PARAS=6 LANGS="eng fin jpn rus" SEEDS="1 2" JOBS=1 "$@"
}

@test "reliability study: every scheme's rows, nothing to redo, the tables of a run by hand" {
	out=$BATS_FILE_TMPDIR/rel
	run reliab_make -s -j2 OUT="$out"
	assert_success
	run reliab_make -q OUT="$out" "$out/reliability.tsv"
	assert_success
	# the first table's provenance line and header, then 3 schemes x 2
	# configurations x 6 measures
	head -1 "$out/reliability.tsv" | grep -q '^# qf=.* tool=qf-eval '
	[ "$(sed -n 2p "$out/reliability.tsv" | cut -f1-5)" = "$(printf 'config\tmeasure\tn_lang\tn_real\tn_units')" ]
	run awk -F'\t' 'FNR > 2 && $2 == "kl_unit" { printf "%s/%s/%s ", $1, $3, $4 }' "$out/reliability.tsv"
	assert_output "int4g64-rtn/4/1 int4g64-sr/4/2 int3g64-rtn/4/1 int3g64-sr/4/2 compat-rtn/4/1 compat-sr/4/2 "
	[ "$(tail -n +3 "$out/reliability.tsv" | wc -l)" -eq 36 ]
	# compat by hand: --compat, and its grid with stochastic rounding
	cd "$BATS_TEST_TMPDIR"
	m=$BATS_FILE_TMPDIR/m4.qft
	qf-quantize --compat -o rtn.qft "$m"
	for s in 1 2; do
		qf-quantize -b 4 -g tensor --all-weights --round stochastic --seed $s -o s$s.qft "$m"
	done
	for L in eng fin jpn rus; do
		head -7 "$TOP/pipelines/data/udhr/heldout/$L.tsv" > $L.tsv
	done
	qf-extract text -k bytes --bos 256 --unit paragraph -o t.qft eng.tsv fin.tsv jpn.tsv rus.tsv
	qf-eval -r "$m" -m compat-rtn=rtn.qft -m compat-s1=s1.qft -m compat-s2=s2.qft \
		--realizations compat-sr=compat-s1,compat-s2 --bootstrap 0 \
		--reliability r.tsv -o l.tsv t.qft
	cmp r.tsv "$out/compat/reliability.tsv"
	cmp l.tsv "$out/compat/lang.tsv"
}
