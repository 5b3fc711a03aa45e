#!/usr/bin/env bats
# pipelines/replicate.mk: several models' protection sweeps and how alike
# their profiles are.  Two tiny models (two training seeds) stand for the
# trained replicates; the tables are checked against each sweep's own and
# the ICCs against numpy's one-way ANOVA.

load common

TOP=$(cd "$TESTS_DIR/.." && pwd)

setup_file() {
	tiny_models "$BATS_FILE_TMPDIR"
}

replicate() {
	make -f "$TOP/pipelines/replicate.mk" BIN="$QF_BIN" OUT="$BATS_FILE_TMPDIR/rep" \
		MODELS="a=$BATS_FILE_TMPDIR/m1.qft b=$BATS_FILE_TMPDIR/m2.qft" PARAS=4 BOOTSTRAP=50 \
		SWEEP_VARS="SETS='single only' BUDGET=0" \
		SWEEP_EXTRA="LANGS='eng fin jpn' EARLIER=0,2,3 GROUP_SIZE=6 BITS=2" "$@"
}

@test "replicate.mk: every model swept, the profiles in one table, the ICCs as numpy's ANOVA" {
	run replicate -s -j2
	assert_success
	# nothing left to do (all prints the tables: ask for them)
	r=$BATS_FILE_TMPDIR/rep
	run replicate -q "$r/fit/icc-benefit.tsv" "$r/fit/icc-alone.tsv" "$r/fit/icc-language.tsv" \
		"$r/earlier-models.tsv"
	assert_success
	py '
import sys, csv
import numpy as np
d = sys.argv[1]
rd = lambda p: list(csv.DictReader((l for l in open(p) if not l.startswith("#")), delimiter="\t", quoting=csv.QUOTE_NONE))
lay = rd(d + "/layers.tsv")
assert [(r["model"], r["layer"]) for r in lay] == [(m, str(l)) for m in "ab" for l in range(4)], lay
for m in "ab":
    crit = {r["layer"]: r for r in rd("%s/sweep/%s/criticality.tsv" % (d, m))}
    for r in lay:
        if r["model"] == m:
            for c in ("proper_benefit", "proper_alone", "compat_benefit", "compat_alone", "variance"):
                assert r[c] == crit[r["layer"]][c], (m, c)
# the ICC of each layer profile across the models: one-way ANOVA, k = 2
for col, name in (("proper_benefit", "benefit"), ("proper_alone", "alone")):
    y = np.array([[float(r[col]) for r in lay if r["model"] == m] for m in "ab"]).T  # layer x model
    n, k = y.shape
    msb = k * ((y.mean(1) - y.mean()) ** 2).sum() / (n - 1)
    msw = ((y - y.mean(1, keepdims=True)) ** 2).sum() / (n * (k - 1))
    icc = (msb - msw) / (msb + (k - 1) * msw)
    t = {r["method"]: r for r in rd("%s/fit/icc-%s.tsv" % (d, name))}
    assert abs(float(t["anova_f"]["icc"]) - icc) < 1e-6 * max(1, abs(icc)), (name, t, icc)
    assert t["anova_f"]["levels"] == "4" and t["anova_f"]["replicates"] == "2"
# per language: the damage of quantizing every layer, as each sweep has it
lg = rd(d + "/languages.tsv")
assert sorted({r["lang"] for r in lg}) == ["eng", "fin", "jpn"] and len(lg) == 6
for r in lg:
    mo = [x for x in rd("%s/sweep/%s/morph.tsv" % (d, r["model"])) if x["role"] == "none" and x["lang"] == r["lang"]]
    assert len(mo) == 1 and r["proper_none"] == mo[0]["proper_kl_unit"] and r["compat_none"] == mo[0]["compat_deg"]
y = np.log(np.array([[float(r["proper_none"]) for r in lg if r["model"] == m] for m in "ab"]).T)
n, k = y.shape
msb = k * ((y.mean(1) - y.mean()) ** 2).sum() / (n - 1)
msw = ((y - y.mean(1, keepdims=True)) ** 2).sum() / (n * (k - 1))
icc = (msb - msw) / (msb + (k - 1) * msw)
t = {r["method"]: r for r in rd(d + "/fit/icc-language.tsv")}
assert abs(float(t["anova_f"]["icc"]) - icc) < 1e-6 * max(1, abs(icc)), (t, icc)
# the earlier fit on each model: the rows of qf-fit, as each sweep has them
e = rd(d + "/earlier-models.tsv")
assert [r["model"] for r in e] == ["a", "b"]
for r in e:
    mod = rd("%s/sweep/%s/fit/earlier-proper.model.tsv" % (d, r["model"]))[0]
    coef = {x["term"]: x for x in rd("%s/sweep/%s/fit/earlier-proper.coef.tsv" % (d, r["model"]))}
    assert r["r2"] == mod["r2"] and r["r2_loo"] == mod["r2_loo"]
    assert r["slope"] == coef["z(variance)"]["estimate"] and r["slope_lo"] == coef["z(variance)"]["ci_low"]
' "$BATS_FILE_TMPDIR/rep"
	# the tables say where they come from
	head -n 1 "$BATS_FILE_TMPDIR/rep/layers.tsv" | grep -q '^# qf=.* tool=replicate.py '
}

@test "replicate.mk: misuse stops make before any work" {
	run make -f "$TOP/pipelines/replicate.mk" BIN="$QF_BIN" OUT="$BATS_TEST_TMPDIR/x" \
		MODELS="a=$BATS_FILE_TMPDIR/m1.qft" -n
	assert_failure
	assert_output --partial "MODELS: at least two models, not 1"
	run make -f "$TOP/pipelines/replicate.mk" BIN="$QF_BIN" OUT="$BATS_TEST_TMPDIR/x" \
		MODELS="a=$BATS_FILE_TMPDIR/m1.qft a=$BATS_FILE_TMPDIR/m2.qft" -n
	assert_failure
	assert_output --partial "MODELS: a name given twice"
	[ ! -e "$BATS_TEST_TMPDIR/x/layers.tsv" ]
}

@test "replicate.py: a sweep's table made with other kernels is refused, nothing written" {
	[ -e "$BATS_FILE_TMPDIR/rep/sweep/a/criticality.tsv" ] || skip "the first test did not run"
	b=$BATS_TEST_TMPDIR/b
	cp -r "$BATS_FILE_TMPDIR/rep/sweep/b" "$b"
	sed -i '1s/ core=[^ ]* / core=Prescott /' "$b/criticality.tsv"
	run --separate-stderr /usr/bin/python3 "$TOP/pipelines/lib/replicate.py" "$BATS_TEST_TMPDIR/out" \
		a="$BATS_FILE_TMPDIR/rep/sweep/a" b="$b"
	[ "$status" -eq 1 ]
	[[ $stderr == "replicate.py: $b/criticality.tsv: made with"*"core=Prescott"*"tables made with different kernels do not mix" ]]
	[ ! -e "$BATS_TEST_TMPDIR/out/layers.tsv" ]
}
