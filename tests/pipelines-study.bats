#!/usr/bin/env bats
# pipelines/study.mk: the study that decides. Two tiny models (two
# training seeds) stand for the shipped model and its replicates, two
# regimes (INT2 and INT3 groups, so that a tiny model is damaged) for
# the quantizers; the verdict table is checked against the tables it
# copies, and its rules against their definitions.

load common

TOP=$(cd "$TESTS_DIR/.." && pwd)

setup_file() {
	tiny_models "$BATS_FILE_TMPDIR"
}

study() {
	local d=$BATS_FILE_TMPDIR
	make -f "$TOP/pipelines/study.mk" BIN="$QF_BIN" OUT="$d/study" MODEL="$d/m1.qft" \
		REGIMES='b2 b3' REGIME_b2='-s int -b 2 -g 64' REGIME_b3='-s int -b 3 -g 64' \
		REPLICATE_REGIMES=b2 BOOTSTRAP=50 \
		FULL_VARS="SETS='single only' RANDOM=2 CHANNELS=1 BEAM=2 BUDGET=0.5 ALT_MIDDLE=1" \
		SWEEP_EXTRA="LANGS='eng fin jpn tur kal cmn_hans' PARAS=4 EARLIER=0,2,3" \
		REPLICATE_VARS="MODELS='a=$d/m1.qft b=$d/m2.qft' SWEEP_VARS=\"SETS='single only' BUDGET=0\"" \
		"$@"
}

@test "make study: every regime's sweep, the replication, one verdict table copied from them" {
	run study -s -j2
	assert_success
	s=$BATS_FILE_TMPDIR/study
	for f in shipped/b2/report.md shipped/b3/report.md shipped/b2/verdicts.tsv \
		replicate/b2/verdicts.tsv replicate/b2/fit/icc-benefit.tsv verdicts.tsv report.md; do
		[ -s "$s/$f" ]
	done
	# nothing left to do (all prints the table: ask for the files)
	run study -q "$s/verdicts.tsv" "$s/report.md"
	assert_success
	pytsv '
d = sys.argv[1]
rd0 = rd
rd = lambda p: rd0(d + "/" + p)
v = rd("verdicts.tsv")
ship = {r: {(x["claim"], x["part"], x["method"]): x for x in rd("shipped/%s/verdicts.tsv" % r)} for r in ("b2", "b3")}
assert sorted({x["claim"] for x in v}) == list("123456")
# every cell as the regime'"'"'s own verdicts table has it
for x in v:
    for r in ("b2", "b3"):
        y = ship[r][(x["claim"], x["part"], "proper")]
        assert [x[r + "_" + c] for c in ("est", "lo", "hi", "verdict")] == [y["est"], y["lo"], y["hi"], y["verdict"]], (x, y)
    c = ship["b2"][(x["claim"], x["part"], "compat")]
    assert x["compat"] == c["est"] and x["earlier"] == c["earlier"]
# across the models: holds only if it holds on every model, does not hold
# if it does not on one; the study'"'"'s verdict is that of the first
# replicated regime, on each claim'"'"'s decisive row
per = {m: {(x["claim"], x["method"]): x["verdict"] for x in rd("replicate/b2/sweep/%s/verdicts.tsv" % m) if x["verdict"]} for m in "ab"}
acr = {(x["claim"], x["method"]): x for x in rd("replicate/b2/verdicts.tsv")}
for k, x in acr.items():
    vs = [per[m][k] for m in "ab"]
    assert [x["a"], x["b"]] == vs
    want = "holds" if all(y == "holds" for y in vs) else "does not hold" if "does not hold" in vs else "cannot tell"
    assert x["across"] == want, (k, x)
n = 0
for x in v:
    if x["rule"]:
        assert x["verdict"] == acr[(x["claim"], "proper")]["across"] == x["across_b2"], x
        n += 1
    else:
        assert x["verdict"] == "" and x["across_b2"] == ""
assert n == 6, n
# claim 3 against the other layer in the middle one'"'"'s place (layer 1 of
# 0, 2, 3): the contrast mid_vs_1, by its simultaneous interval
for r in ("b2", "b3"):
    alt = [x for x in ship[r].values() if x["claim"] == "3" and "closest" in x["part"] and x["method"] == "proper"]
    assert len(alt) == 1 and alt[0]["source"].endswith("(mid_vs_1)"), alt
    k = [y for y in rd("shipped/%s/proper/contrasts.tsv" % r) if (y["scope"], y["contrast"], y["figure"], y["scale"]) == ("all", "mid_vs_1", "tau_mean", "log")]
    assert len(k) == 1
    for a, b in (("est", "est"), ("lo", "sim_lo"), ("hi", "sim_hi")):
        assert (k[0][b] == "NA" and alt[0][a] == "NA") or abs(math.exp(float(k[0][b])) - float(alt[0][a])) <= 1e-3 * float(alt[0][a]), (a, k, alt)
    if alt[0]["lo"] != "NA" and float(alt[0]["lo"]) > 1:
        assert alt[0]["verdict"] == "does not hold"
' "$s"
	# the report opens with the hypotheses, then the verdicts, a row a claim
	[ "$(grep '^## ' "$s/report.md" | head -2 | paste -sd'|')" = "## Hypotheses|## Verdicts" ]
	[ "$(sed -n '/^## Verdicts/,/^## /p' "$s/report.md" | grep -c '^| [1-6]: ')" -eq 6 ]
}

@test "study-report: a missing table is one line on stderr, exit 1, nothing written" {
	s=$BATS_FILE_TMPDIR/study
	[ -s "$s/verdicts.tsv" ] || study -s -j2 > /dev/null 2>&1
	b=$BATS_TEST_TMPDIR/b
	mkdir -p "$b"
	cp -r "$s/shipped" "$s/replicate" "$b/"
	rm "$b/shipped/b3/verdicts.tsv"
	run --separate-stderr "$TOP/pipelines/lib/study-report" --regimes 'b2=x;b3=y' --replicated b2 "$b"
	[ "$status" -eq 1 ]
	[ "$stderr" = "study-report: $b/shipped/b3/verdicts.tsv: no such file or directory" ]
	[ ! -e "$b/verdicts.tsv" ] && [ ! -e "$b/report.md" ] && [ -z "$(find "$b" -name '*.tmp')" ]
	run --separate-stderr "$TOP/pipelines/lib/study-report" --regimes 'b2=x' --replicated b9 "$b"
	[ "$status" -eq 1 ]
	[ "$stderr" = "study-report: --replicated: regime 'b9' is not in --regimes" ]
	# a regime without its quantizer stops make before anything runs
	run study -n REGIMES='b2 b4'
	assert_failure
	assert_output --partial "regime 'b4': no REGIME_b4 (its qf-quantize options)"
}
