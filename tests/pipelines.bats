#!/usr/bin/env bats
# The studies in pipelines/: they run, rerun with nothing to do, and give
# the same bytes twice.

load common

TOP=$TESTS_DIR/..

@test "the demo runs, is up to date afterwards, and reruns byte for byte" {
	out=$BATS_TEST_TMPDIR/demo
	run make -s -f "$TOP/pipelines/demo.mk" BIN="$QF_BIN" OUT="$out" LANGS="eng fin tur"
	assert_success
	for f in fertility.tsv fertility-by-type.tsv quant-layers.tsv compat-stats.tsv int4-stats.tsv; do
		[ -s "$out/$f" ]
	done
	# 3 languages + header; 4 layers + header
	[ "$(wc -l < "$out/fertility.tsv")" -eq 4 ]
	[ "$(wc -l < "$out/quant-layers.tsv")" -eq 5 ]
	# nothing left to do
	run make -q -f "$TOP/pipelines/demo.mk" BIN="$QF_BIN" OUT="$out" LANGS="eng fin tur" \
		"$out/fertility-by-type.tsv" "$out/quant-layers.tsv"
	assert_success
	# the same bytes from a second run elsewhere
	out2=$BATS_TEST_TMPDIR/demo2
	make -s -f "$TOP/pipelines/demo.mk" BIN="$QF_BIN" OUT="$out2" LANGS="eng fin tur" > /dev/null
	for f in fertility.tsv quant-layers.tsv int4.qft compat.qft int4-stats.tsv; do
		cmp "$out/$f" "$out2/$f"
	done
	# fertility is the listing's tokens / words, per language
	py '
import sys, subprocess
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()[1:]]
for lang, b, c, w, t, tpw, tpb in rows:
    assert abs(float(tpw) - int(t) / int(w)) < 1e-3 and abs(float(tpb) - int(t) / int(b)) < 1e-4, lang
assert sorted(r[0] for r in rows) == ["eng", "fin", "tur"]
' "$out/fertility.tsv"
}
