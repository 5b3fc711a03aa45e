#!/usr/bin/env bats
# pipelines/lib/protect-report: the protection sweep's report. A small
# sweep (a 4-layer model trained for 3 steps, 6 languages, 2-bit groups
# so that quantizing does measurable damage) is built once; the checks
# compare the report's tables with qf-eval's tables independently.

load common

TOP=$TESTS_DIR/..
REPORT=$TOP/pipelines/lib/protect-report

# the options make would pass (the study's parameters, for the text)
OPTS=(--model m4.qft --quant '-s int -b 2 -g 64' --paras 4 --bootstrap 50 --seed 1
	--budget 0.75 --earlier 0,2,3)

# the input tables of a sweep, and qf-fit's tables of it (fit/), copied
# to a new folder
copy_inputs() {
	mkdir -p "$2/proper" "$2/compat" "$2/fit"
	for f in proper/lang.tsv proper/disparity.tsv proper/stats.tsv \
		compat/lang.tsv compat/disparity.tsv compat/stats.tsv configs.tsv greedy.tsv \
		greedy-confirm.tsv verdicts.tsv; do
		cp "$1/$f" "$2/$f"
	done
	cp "$1"/fit/*.tsv "$2/fit/"
}

setup_file() {
	local d=$BATS_FILE_TMPDIR u=$TOP/pipelines/data/udhr/train
	qf-extract text -k bytes --unit paragraph -o "$d/t.qft" \
		"$u/eng.txt" "$u/fin.txt" "$u/jpn.txt" "$u/tur.txt" 2> /dev/null
	qf-train --layers 4 --d-model 64 --heads 4 --ctx 128 --vocab 257 --sep 256 \
		--steps 3 -j 1 -o "$d/m4.qft" "$d/t.qft" > /dev/null 2>&1
	make -s -f "$TOP/pipelines/protect.mk" BIN="$QF_BIN" MODEL="$d/m4.qft" OUT="$d/sweep" \
		PARAS=4 EARLIER=0,2,3 BUDGET=0.75 BOOTSTRAP=50 GROUP_SIZE=5 BITS=2 JOBS=1 \
		LANGS="eng fin jpn tur kal cmn_hans" \
		tables "$d/sweep/compat/disparity.tsv" "$d/sweep/compat/stats.tsv" stats verdicts \
		> "$d/make.log" 2>&1
	"$REPORT" "${OPTS[@]}" "$d/sweep" > "$d/report.out" 2>&1
}

@test "protect-report writes its tables, plots and report, and nothing on stdout" {
	out=$BATS_FILE_TMPDIR/sweep
	[ ! -s "$BATS_FILE_TMPDIR/report.out" ]
	for f in summary.tsv criticality.tsv morph.tsv report.md plots/configs.tsv plots/morph.tsv \
		plots/disparity.svg plots/morph.svg plots/criticality.svg plots/methods.svg \
		fit/methods.tsv fit/weights.tsv fit/earlier-proper.coef.tsv fit/earlier-proper.model.tsv \
		fit/earlier-compat.coef.tsv fit/earlier-compat.model.tsv; do
		[ -s "$out/$f" ]
	done
	# no temporary left
	[ -z "$(find "$out" -name '*.tmp*' -o -name '.protect-report*')" ]
	# the kernels the tables were computed with, as their provenance lines say
	want=$(head -n 1 "$out/proper/lang.tsv" | sed 's/^# //; s/ tool=[^ ]*//')
	grep -qF "**Computed with** \`$want\`" "$out/report.md"
}

@test "summary.tsv holds the disparity tables' figures of scope all, per configuration" {
	py '
import sys, csv
d = sys.argv[1]
rd = lambda p: list(csv.DictReader((l for l in open(p, newline="") if not l.startswith("#")), delimiter="\t", quoting=csv.QUOTE_NONE))
summ = rd(d + "/summary.tsv")
conf = rd(d + "/configs.tsv")
assert [r["config"] for r in summ] == [r["config"] for r in conf]
prop = {r["model"]: r for r in rd(d + "/proper/disparity.tsv") if r["scope"] == "all"}
comp = {r["model"]: r for r in rd(d + "/compat/disparity.tsv") if r["scope"] == "all"}
checked = 0
for r, c in zip(summ, conf):
    k = r["config"]
    assert r["protected"] == c["protected"] and r["kept_linear_frac"] == c["kept_linear_frac"], k
    for f in ("mean", "range", "max_min", "cv", "rel_ref_mean", "mean_vs_base"):
        for s in ("", "_lo", "_hi"):
            assert r["proper_" + f + s] == prop[k][f + s], (k, f + s)
            checked += r["proper_" + f + s] != "NA"
    for f in ("mean", "rel_ref_mean", "mean_vs_base"):
        assert r["compat_" + f] == (comp[k][f] if k in comp else "NA"), (k, f)
# the greedy triples are not scored by the compat method
assert any(k not in comp for k in prop) and checked > 100, checked
' "$BATS_FILE_TMPDIR/sweep"
}

@test "criticality is 1 - mean_vs_base of keeping the layer alone, beside the layer's weight statistics" {
	py '
import sys, csv
d = sys.argv[1]
rd = lambda p: list(csv.DictReader((l for l in open(p, newline="") if not l.startswith("#")), delimiter="\t", quoting=csv.QUOTE_NONE))
crit = rd(d + "/criticality.tsv")
prop = {r["model"]: r for r in rd(d + "/proper/disparity.tsv") if r["scope"] == "all"}
comp = {r["model"]: r for r in rd(d + "/compat/disparity.tsv") if r["scope"] == "all"}
stats = {r["layer"]: r for r in rd(d + "/proper/stats.tsv") if r["config"] == "none" and r["row"] == "layer"}
cstats = {r["layer"]: r for r in rd(d + "/compat/stats.tsv") if r["config"] == "none" and r["row"] == "layer"}
def close(a, b):
    if b == "NA":
        return a == "NA"
    return a != "NA" and abs(float(a) - (1 - float(b))) <= 1e-5 * max(1, abs(1 - float(b)))
assert [r["layer"] for r in crit] == ["0", "1", "2", "3"]
n = 0
for r in crit:
    p = prop["p" + r["layer"]]
    assert close(r["proper_benefit"], p["mean_vs_base"]), r
    assert close(r["proper_benefit_lo"], p["mean_vs_base_hi"]), r
    assert close(r["proper_benefit_hi"], p["mean_vs_base_lo"]), r
    assert close(r["compat_benefit"], comp["p" + r["layer"]]["mean_vs_base"]), r
    assert r["proper_mean"] == p["mean"]
    for c in ("variance", "kurtosis", "absmax", "outlier_frac", "rel_fro"):
        assert r[c] == stats[r["layer"]][c], (r["layer"], c)
    assert r["compat_rel_fro"] == cstats[r["layer"]]["rel_fro"]
    # quantized alone: qL, every other layer kept
    q = prop["q" + r["layer"]]
    for x in ("", "_lo", "_hi"):
        assert r["proper_alone" + x] == q["mean_vs_base" + x], (r["layer"], x)
    assert r["compat_alone"] == comp["q" + r["layer"]]["mean_vs_base"]
    n += r["proper_benefit"] != "NA"
assert n == 4, "the sweep should damage enough for ratios"
' "$BATS_FILE_TMPDIR/sweep"
}

@test "morph.tsv: per language under none, the earlier layers and the greedy best, by morphological type" {
	py '
import sys, csv
d, langs = sys.argv[1], sys.argv[2]
rd = lambda p: list(csv.DictReader((l for l in open(p, newline="") if not l.startswith("#")), delimiter="\t", quoting=csv.QUOTE_NONE))
m = rd(d + "/morph.tsv")
info = {r["code"]: r for r in rd(langs)}
pl = {(r["lang"], r["model"]): r for r in rd(d + "/proper/lang.tsv")}
cl = {(r["lang"], r["model"]): r for r in rd(d + "/compat/lang.tsv")}
greedy = [r for r in rd(d + "/greedy.tsv") if r["half"] == "A"][-1]["config"]
want = {"none": "none", "earlier": "p0-2-3", "greedy": greedy}
assert len(m) == 6 * 3
assert [(r["morph_type"], r["lang"]) for r in m] == sorted((r["morph_type"], r["lang"]) for r in m)
meas = [c[len("proper_"):] for c in m[0] if c.startswith("proper_") and not c.endswith(("_lo", "_hi"))]
assert meas == ["kl_unit"], meas    # the default measure
for r in m:
    assert r["config"] == want[r["role"]]
    assert r["morph_type"] == info[r["lang"]]["morph_type"] and r["script"] == info[r["lang"]]["script"]
    p = pl[(r["lang"], r["config"])]
    for s in ("", "_lo", "_hi"):
        assert r["proper_kl_unit" + s] == p["kl_unit" + s]
    c = cl.get((r["lang"], r["config"]))
    assert r["compat_deg"] == (c["deg"] if c else "NA")
' "$BATS_FILE_TMPDIR/sweep" "$TOP/pipelines/data/udhr/languages.tsv"
}

@test "every number in report.md's tables is a number of a TSV, to 3 significant digits" {
	py '
import sys, re, glob, os
d = sys.argv[1]
vals = set()
for p in glob.glob(d + "/**/*.tsv", recursive=True):
    for line in open(p).read().split("\n"):
        for field in re.split("[\t,]", line):
            try:
                v = float(field)
            except ValueError:
                continue
            vals.add(float("%.3g" % v))
NUM = r"(NA|-?[0-9.]+(?:e[-+][0-9]+)?|inf)"
CELL = re.compile(r"%s×?(?: \[%s, %s\])?" % (NUM, NUM, NUM))
lines = open(d + "/report.md").read().split("\n")
tables = numbers = 0
for i, l in enumerate(lines):
    if not l.startswith("|") or re.fullmatch(r"\|(---\|)+", l):
        continue
    if i + 1 < len(lines) and re.fullmatch(r"\|(---\|)+", lines[i + 1]):
        tables += 1    # a header row
        continue
    for cell in l.strip("|").split(" | "):
        cell = re.sub(r"`[^`]*`", "", cell.strip())
        m = CELL.fullmatch(cell)
        if not m:
            continue
        for x in m.groups():
            if x not in (None, "NA", "inf"):
                numbers += 1
                assert float(x) in vals, (x, l)
assert tables >= 5 and numbers > 200, (tables, numbers)
# the plots are linked relatively and exist
for name in re.findall(r"\]\((plots/[^)]*)\)", "\n".join(lines)):
    assert os.path.getsize(os.path.join(d, name)) > 0, name
assert len(re.findall(r"\]\((plots/[^)]*\.svg)\)", "\n".join(lines))) == 4
' "$BATS_FILE_TMPDIR/sweep"
	# the measures and the study's parameters are stated
	run grep -c -e 'Measure: `kl_unit`' -e '50 replicates, seed 1' -e 'BUDGET = 0.75' -e 'Spearman' \
		"$BATS_FILE_TMPDIR/sweep/report.md"
	assert_success
	[ "$output" -ge 4 ]
}

@test "the report's statistics are qf-fit's tables of the right columns (scipy, numpy)" {
	py '
import sys, csv, re
import numpy as np
from scipy import stats
d = sys.argv[1]
rd = lambda p: list(csv.DictReader((l for l in open(p, newline="") if not l.startswith("#")), delimiter="\t", quoting=csv.QUOTE_NONE))
num = lambda s: None if s == "NA" else float(s)
crit, summ = rd(d + "/criticality.tsv"), rd(d + "/summary.tsv")
def col(rows, a, b):
    xy = [(num(r[a]), num(r[b])) for r in rows]
    xy = [p for p in xy if None not in p]
    return np.array([p[0] for p in xy]), np.array([p[1] for p in xy])
# methods.tsv: the protection configurations only (--where kind=protect)
assert {r["kind"] for r in summ} == {"protect", "only"}
for name, rows in (("weights", crit), ("methods", [r for r in summ if r["kind"] == "protect"])):
    fit = rd(d + "/fit/%s.tsv" % name)
    assert len(fit) == {"weights": 8, "methods": 2}[name]
    for r in fit:
        assert r["method"] == "spearman"
        x, y = col(rows, r["x"], r["y"])
        assert int(r["n"]) == len(x)
        rho = stats.spearmanr(x, y)[0]
        assert abs(float(r["r"]) - rho) < 1e-5, (r["x"], r["y"], r["r"], rho)
# the earlier fit: OLS of log(mean) on z(variance), in sample and PRESS
for m in ("proper", "compat"):
    y, v = col(crit, m + "_mean", "variance")
    y = np.log(y)
    X = np.column_stack([np.ones(len(v)), (v - v.mean()) / v.std(ddof=1)])
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    e = y - X @ b
    h = np.diag(X @ np.linalg.inv(X.T @ X) @ X.T)
    sst = ((y - y.mean()) ** 2).sum()
    r2, loo = 1 - (e @ e) / sst, 1 - ((e / (1 - h)) ** 2).sum() / sst
    mod = rd(d + "/fit/earlier-%s.model.tsv" % m)[0]
    coef = {r["term"]: r for r in rd(d + "/fit/earlier-%s.coef.tsv" % m)}
    assert abs(float(mod["r2"]) - r2) < 1e-5 and abs(float(mod["r2_loo"]) - loo) < 1e-5, (m, mod, r2, loo)
    assert abs(float(coef["z(variance)"]["estimate"]) - b[1]) < 1e-5 * max(1, abs(b[1]))
    # and the report states them
    rep = open(d + "/report.md").read()
    assert "| %s | %d |" % (m, len(y)) in rep and "%.3g |" % float(mod["r2_loo"]) in rep, m
rep = open(d + "/report.md").read()
assert "What the table says: under the proper method" in rep
assert "Holm over the table" in rep and "fit/methods.tsv" in rep
' "$BATS_FILE_TMPDIR/sweep"
}

@test "the plots are SVG documents with drawings in them" {
	py '
import sys
import xml.etree.ElementTree as ET
for p in sys.argv[1:]:
    root = ET.parse(p).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg", p
    paths = root.findall(".//{http://www.w3.org/2000/svg}path")
    assert len(paths) > 20, (p, len(paths))
' "$BATS_FILE_TMPDIR"/sweep/plots/*.svg
}

@test "a rerun, and a run on a copy elsewhere, give the same bytes" {
	out=$BATS_FILE_TMPDIR/sweep
	files="summary.tsv criticality.tsv morph.tsv report.md plots/configs.tsv plots/morph.tsv
		plots/disparity.svg plots/morph.svg plots/criticality.svg plots/methods.svg"
	mkdir -p "$BATS_TEST_TMPDIR/before"
	for f in $files; do cp "$out/$f" "$BATS_TEST_TMPDIR/before/${f//\//_}"; done
	"$REPORT" --tables "${OPTS[@]}" "$out"
	"$REPORT" "${OPTS[@]}" "$out"
	copy_inputs "$out" "$BATS_TEST_TMPDIR/copy"
	"$REPORT" --tables "${OPTS[@]}" "$BATS_TEST_TMPDIR/copy"
	"$REPORT" "${OPTS[@]}" "$BATS_TEST_TMPDIR/copy"
	for f in $files; do
		cmp "$BATS_TEST_TMPDIR/before/${f//\//_}" "$out/$f"
		cmp "$out/$f" "$BATS_TEST_TMPDIR/copy/$f"
	done
}

@test "a missing or broken table: one line on stderr, exit 1, nothing written" {
	b=$BATS_TEST_TMPDIR/broken
	copy_inputs "$BATS_FILE_TMPDIR/sweep" "$b"
	# a row cut short
	sed -i '3s/\t[^\t]*$//' "$b/proper/disparity.tsv"
	run --separate-stderr "$REPORT" "$b"
	[ "$status" -eq 1 ]
	# (line 1 is the provenance line, 2 the header: formats/provenance.md)
	n=$(sed -n 2p "$b/proper/disparity.tsv" | awk -F'\t' '{ print NF }')
	[ "$stderr" = "protect-report: $b/proper/disparity.tsv: line 3: $((n - 1)) columns, the header has $n" ]
	[ -z "$output" ]
	[ ! -e "$b/report.md" ] && [ ! -e "$b/summary.tsv" ] && [ ! -e "$b/plots" ]
	[ -z "$(ls -A "$b" | grep -v -x -e proper -e compat -e fit -e configs.tsv -e greedy.tsv -e greedy-confirm.tsv -e verdicts.tsv)" ]
	cp "$BATS_FILE_TMPDIR/sweep/proper/disparity.tsv" "$b/proper/"
	# a figure that is not a number
	awk -F'\t' -v OFS='\t' 'NR == 3 { $5 = "x1" } 1' "$BATS_FILE_TMPDIR/sweep/compat/disparity.tsv" \
		> "$b/compat/disparity.tsv"
	run --separate-stderr "$REPORT" "$b"
	[ "$status" -eq 1 ]
	[ "$stderr" = "protect-report: $b/compat/disparity.tsv: line 3: column 'mean': 'x1' is not a number" ]
	cp "$BATS_FILE_TMPDIR/sweep/compat/disparity.tsv" "$b/compat/"
	# a table made with other kernels than the others
	sed '1s/ core=[^ ]* / core=Prescott /' "$BATS_FILE_TMPDIR/sweep/compat/lang.tsv" > "$b/compat/lang.tsv"
	run --separate-stderr "$REPORT" "$b"
	[ "$status" -eq 1 ]
	[[ $stderr == "protect-report: $b/compat/lang.tsv: made with 'qf="*" core=Prescott "*"', but $b/configs.tsv with 'qf="*"': tables made with different kernels do not mix" ]]
	cp "$BATS_FILE_TMPDIR/sweep/compat/lang.tsv" "$b/compat/"
	# a missing table, a missing column
	rm "$b/greedy.tsv"
	run --separate-stderr "$REPORT" "$b"
	[ "$status" -eq 1 ]
	[ "$stderr" = "protect-report: $b/greedy.tsv: no such file or directory" ]
	cut -f 1-3,5- "$BATS_FILE_TMPDIR/sweep/configs.tsv" > "$b/configs.tsv"
	cp "$BATS_FILE_TMPDIR/sweep/greedy.tsv" "$b/"
	run --separate-stderr "$REPORT" "$b"
	[ "$status" -eq 1 ]
	[ "$stderr" = "protect-report: $b/configs.tsv: no column 'kept_linear_frac'" ]
	cp "$BATS_FILE_TMPDIR/sweep/configs.tsv" "$b/"
	# an earlier configuration the sweep does not have
	run --separate-stderr "$REPORT" --earlier 1,2,3,9 "$b"
	[ "$status" -eq 1 ]
	[ "$stderr" = "protect-report: $b/configs.tsv: no configuration p1-2-3-9 (--earlier 1,2,3,9)" ]
	[ ! -e "$b/report.md" ]
	# qf-fit's tables: one missing, one without its column
	mv "$b/fit/weights.tsv" "$b/weights.tsv"
	run --separate-stderr "$REPORT" "$b"
	[ "$status" -eq 1 ]
	[ "$stderr" = "protect-report: $b/fit/weights.tsv: no such file or directory" ]
	cut -f 1-6,8- "$b/weights.tsv" > "$b/fit/weights.tsv"
	run --separate-stderr "$REPORT" "$b"
	[ "$status" -eq 1 ]
	[ "$stderr" = "protect-report: $b/fit/weights.tsv: no column 'r'" ]
	mv "$b/weights.tsv" "$b/fit/weights.tsv"
	[ ! -e "$b/report.md" ]
	# and whole again, it works; a reduced run says so
	run "$REPORT" "$b"
	assert_success
	[ -s "$b/report.md" ]
	! grep -q 'Reduced run' "$b/report.md"
	run "$REPORT" --sets 'single only' "$b"
	assert_success
	grep -q "^\*\*Reduced run.\*\* The sets of configurations scored are \`single only\`" "$b/report.md"
}

@test "damage.tsv: per language, the reference's fertility and the damage under none, as the language tables have them" {
	pytsv '
d = sys.argv[1]
pl = {(r["lang"], r["model"]): r for r in rd(d + "/proper/lang.tsv")}
cl = {(r["lang"], r["model"]): r for r in rd(d + "/compat/lang.tsv")}
rows = rd(d + "/damage.tsv")
assert sorted(r["lang"] for r in rows) == sorted(["eng", "fin", "jpn", "tur", "kal", "cmn_hans"])
for r in rows:
    assert r["fertility"] == pl[(r["lang"], "ref")]["fertility"]
    for x in ("", "_lo", "_hi"):
        assert r["proper_none" + x] == pl[(r["lang"], "none")]["kl_unit" + x]
    assert r["compat_none"] == cl[(r["lang"], "none")]["deg"]
' "$BATS_FILE_TMPDIR/sweep"
}

@test "verdicts.tsv: the cells of the contrasts and qf-fit tables, the rules applied; the report opens with them" {
	pytsv '
d = sys.argv[1]
v = rd(d + "/verdicts.tsv")
assert sorted({r["claim"] for r in v}) == list("123456") and {r["method"] for r in v} == {"proper", "compat"}
fig = {"proper": "tau_mean", "compat": "cv"}
def k(m, name, f, scale, scope="all"):
    rows = [r for r in rd(d + "/" + m + "/contrasts.tsv") if (r["scope"], r["contrast"], r["figure"], r["scale"]) == (scope, name, f, scale)]
    assert len(rows) == 1, (m, name)
    return rows[0]
num = lambda x: None if x == "NA" else float(x)
def same(a, b):
    return (a is None and b == "NA") or (a is not None and b != "NA" and abs(a - float(b)) <= 1e-3 * abs(a) + 1e-12)
def verdict(lo, hi, want_below, claimed=None):
    if lo is None:
        return "cannot tell"
    if claimed is not None:
        if not lo <= claimed <= hi:
            return "does not hold"
        return "holds" if hi < 1 else "cannot tell"
    return "holds" if hi < 1 else "does not hold" if lo > 1 else "cannot tell"
parts = {"keep F,M,L / none": "keep_earlier", "keep F / none": "keep_first", "keep L / none": "keep_last",
         "keep F,L / none": "keep_first_last", "interaction (F,L)(none) / (F)(L)": "synergy",
         "keep F,M,L / keep F,L": "add_middle"}
n = 0
for r in v:
    m = r["method"]
    if r["part"] in parts:
        c = k(m, parts[r["part"]], fig[m], "log")
        for x, y in (("est", "est"), ("lo", "lo"), ("hi", "hi")):
            e = num(c[y])
            assert same(None if e is None else math.exp(e), r[x]), (r, c)
        n += 1
        lo, hi = num(r["lo"]), num(r["hi"])
        if r["claim"] == "1":
            assert r["verdict"] == verdict(lo, hi, True, 0.59), r
        if r["claim"] == "3":
            assert r["verdict"] == verdict(lo, hi, True), r
    if r["claim"] == "5":
        c = k(m, "rich_more" if r["part"].startswith("benefit rich - benefit") else "rich_times", "mean", "diff", "rich+other")
        assert same(num(c["est"]), r["est"]) and same(num(c["lo"]), r["lo"]), (r, c)
        n += 1
    if r["claim"] == "4" and r["part"].startswith("slope"):
        co = {x["term"]: x for x in rd(d + "/fit/earlier-%s.coef.tsv" % m)}["z(variance)"]
        assert same(float(co["estimate"]), r["est"]) and same(num(co["ci_low"]), r["lo"]), (r, co)
        n += 1
    if r["claim"] == "6":
        f = [x for x in rd(d + "/fit/fertility.tsv") if x["x"] == "fertility" and x["y"] == m + "_none"][0]
        assert same(float(f["r"]), r["est"]), (r, f)
        lo, hi = num(f["ci_low"]), num(f["ci_high"])
        want = "cannot tell" if lo is None else "holds" if (-0.3 < lo and hi < 0.3) else \
            "does not hold" if (lo > 0 or hi < 0) else "cannot tell"
        assert r["verdict"] == want, (r, f)
        n += 1
assert n == 2 * 6 + 2 * 2 + 2 + 2, n
# the compat method has no intervals: its verdicts on ratios cannot tell
assert all(r["verdict"] in ("", "cannot tell") for r in v if r["method"] == "compat" and r["claim"] in "1235")
' "$BATS_FILE_TMPDIR/sweep"
	# the report opens with the table, after its title and first paragraph
	run --separate-stderr "$REPORT" "${OPTS[@]}" "$BATS_FILE_TMPDIR/sweep"
	assert_success
	[ "$(grep -m1 '^## ' "$BATS_FILE_TMPDIR/sweep/report.md")" = "## The earlier study's claims" ]
	v=$(awk -F'\t' 'NR > 2 && $3 == "proper" && $1 == 1 { print $10 }' "$BATS_FILE_TMPDIR/sweep/verdicts.tsv")
	grep -q "^| 1 | keep 0,2,3 / none (\`tau_mean\`, ratio) | 0.59 | .* | \*\*$v\*\* |$" "$BATS_FILE_TMPDIR/sweep/report.md"
}

@test "protect-report --help, and misuse" {
	run "$REPORT" --help
	assert_success
	assert_line --partial "usage: protect-report"
	run --separate-stderr "$REPORT"
	[ "$status" -eq 2 ]
	run --separate-stderr "$REPORT" --earlier 0,x "$BATS_FILE_TMPDIR/sweep"
	[ "$status" -eq 2 ]
	[[ $stderr == *"--earlier: '0,x' is not a list of layer numbers"* ]]
	run --separate-stderr "$REPORT" --bootstrap many "$BATS_FILE_TMPDIR/sweep"
	[ "$status" -eq 2 ]
}
