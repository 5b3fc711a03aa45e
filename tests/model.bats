#!/usr/bin/env bats
# The shipped default model (pipelines/data/model/): what it is, that its
# held-out figures are what torch computes from the same weights, that
# its report's baselines are right, and that its log is the run's.

load common

TOP=$(cd "$TESTS_DIR/.." && pwd)
DIR=$TOP/pipelines/data/model
MODEL=$DIR/udhr-gpt2-12.qft
BPB_REPORT=$TOP/pipelines/lib/bpb-report.py
ORACLE="$PY $TESTS_DIR/data/eval/oracle.py"

@test "the shipped model: a 12-layer byte-level GPT-2 in f16, at most 16 MB" {
	[ "$(stat -c %s "$MODEL")" -le $((16 * 1024 * 1024)) ]
	run qf-cat -l "$MODEL"
	assert_success
	assert_line --index 0 --partial 'kind=config arch=gpt2 n_layer=12 n_embd=128 n_head=4 n_ctx=256 n_inner=512 vocab_size=257 '
	# every tensor in f16: 2 embeddings, 12 blocks of 12, the final norm's 2
	[ "$(printf '%s\n' "${lines[@]}" | cut -f2 | grep -c '^f16$')" -eq $((2 + 12 * 12 + 2)) ]
	[ "${#lines[@]}" -eq $((1 + 2 + 12 * 12 + 2)) ]
}

@test "the shipped model's held-out bits per byte: qf-eval agrees with torch and with heldout-bpb.tsv" {
	cd "$BATS_TEST_TMPDIR"
	H=$TOP/pipelines/data/udhr/heldout
	qf-extract text -k bytes --bos 256 --unit paragraph -o t.qft "$H/eng.tsv" "$H/kal.tsv" "$H/jpn.tsv"
	# the report scores headings too (pipelines/model.mk)
	qf-eval -r model="$MODEL" --headings --bootstrap 0 -o lang.tsv t.qft
	run $ORACLE check -r model="$MODEL" --headings --bootstrap 0 -o lang.tsv t.qft
	assert_success
	assert_output --partial ok
	# the report's figures are these (its intervals came with 1000 replicates)
	py '
import sys, csv
# (past the provenance lines: formats/provenance.md)
table = lambda p: csv.DictReader((l for l in open(p) if not l.startswith("#")), delimiter="\t")
got = {r["lang"]: r for r in table(sys.argv[1])}
rep = {r["lang"]: r for r in table(sys.argv[2])}
for l in ("eng", "kal", "jpn"):
    assert got[l]["bytes"] == rep[l]["bytes"], l
    assert abs(float(got[l]["bpb"]) - float(rep[l]["bpb"])) <= 1e-5 * float(rep[l]["bpb"]), (l, got[l]["bpb"], rep[l]["bpb"])
' lang.tsv "$DIR/heldout-bpb.tsv"
}

@test "heldout-bpb.tsv: the byte-unigram recomputed, and beaten in every language; the 2-layer comparison as qf-eval made it" {
	py '
import sys, csv, numpy as np
top = sys.argv[1]
rows = list(csv.DictReader((l for l in open(top + "/pipelines/data/model/heldout-bpb.tsv")
                            if not l.startswith("#")), delimiter="\t"))
langs = [r["code"] for r in csv.DictReader(open(top + "/pipelines/data/udhr/languages.tsv"), delimiter="\t")]
assert sorted(r["lang"] for r in rows) == sorted(langs)
for r in rows:
    read = lambda part, ext: open("%s/pipelines/data/udhr/%s/%s.%s" % (top, part, r["lang"], ext), "rb").read()
    # paragraphs are lines; the held-out ones the text column of a TSV corpus
    tr = np.frombuffer(read("train", "txt"), np.uint8)
    tr = tr[tr != 10]
    he = np.frombuffer(b"".join(l.split(b"\t", 2)[2] for l in read("heldout", "tsv").split(b"\n")[1:] if l), np.uint8)
    p = (np.bincount(tr, minlength=256) + 1.0) / (tr.size + 256)
    uni = -np.log2(p[he]).mean()
    assert int(r["bytes"]) == he.size, r["lang"]
    assert abs(uni - float(r["bpb_unigram"])) < 1e-4, (r["lang"], uni, r["bpb_unigram"])
    # clearly: the upper end of the interval below
    assert float(r["bpb_hi"]) < uni and r["beats_unigram"] == "yes", r
    d = float(r["bpb_2layer"]) - float(r["bpb"])
    assert abs(d - float(r["d_2layer"])) < 2e-5, r
    assert r["beats_2layer"] == ("yes" if float(r["d_2layer_lo"]) > 0 else "no"), r
' "$TOP"
}

@test "the training log: every step, gradient norms per layer, a falling loss" {
	# the run's length is the make rule's
	steps=$(sed -n 's/^STEPS ?= //p' "$TOP/pipelines/model.mk")
	[ -n "$steps" ]
	for log in train.log.tsv baseline2.log.tsv; do
		py '
import sys, csv
rows = list(csv.DictReader((l for l in open(sys.argv[1]) if not l.startswith("#")),
                           delimiter="\t"))
n_layer = int(sys.argv[2])
steps = int(sys.argv[3])
assert [int(r["step"]) for r in rows] == list(range(1, steps + 1))
assert int(rows[-1]["tokens"]) == steps * 8 * 256
head = list(rows[0].keys())
assert sum(1 for c in head if c.startswith("gn_")) >= n_layer, head
first = sum(float(r["loss"]) for r in rows[:100]) / 100
last = sum(float(r["loss"]) for r in rows[-100:]) / 100
assert last < first - 1, (first, last)
' "$DIR/$log" "$([ $log = train.log.tsv ] && echo 12 || echo 2)" "$steps"
	done
}

@test "README.md's table is heldout-bpb.tsv's, as bpb-report.py --markdown prints it" {
	run $PY "$BPB_REPORT" --markdown "$DIR/heldout-bpb.tsv"
	assert_success
	[ "${#lines[@]}" -eq $((2 + 46)) ]
	table=$output
	# the same lines, in one block, in the README; and each row's figures
	# are the TSV's, read back from the README on their own
	run $PY -c '
import sys, csv, re
readme, table = open(sys.argv[1]).read(), sys.argv[2]
assert "\n" + table + "\n" in readme, "the README table is not bpb-report.py --markdown heldout-bpb.tsv"
tsv = {r["lang"]: r for r in csv.DictReader(open(sys.argv[3]), delimiter="\t")}
cols = ["bytes", "bpb", "bpb_lo", "bpb_hi", "bpb_2layer", "bpb_unigram",
        "d_2layer", "d_2layer_lo", "d_2layer_hi"]
seen = set()
for line in readme.splitlines():
    m = re.match(r"\| ([a-z][a-z0-9_]*) \| (.*) \|$", line)
    if not m or m.group(1) not in tsv:
        continue
    nums = re.findall(r"[-+]?[0-9]+(?:\.[0-9]+)?", m.group(2))
    assert len(nums) == len(cols), line
    for c, n in zip(cols, nums):
        assert abs(float(n) - float(tsv[m.group(1)][c])) <= 0.0005 + 1e-9, (line, c)
    seen.add(m.group(1))
assert seen == set(tsv), set(tsv) - seen
' "$DIR/README.md" "$table" "$DIR/heldout-bpb.tsv"
	assert_success
	# not a report: one line, exit 1
	run $PY "$BPB_REPORT" --markdown "$DIR/mix.tsv"
	assert_failure 1
	assert_output --partial 'not a heldout-bpb.tsv'
	[ "${#lines[@]}" -eq 1 ]
	: > "$BATS_TEST_TMPDIR/empty.tsv"
	sed '3s/\t[^\t]*$//' "$DIR/heldout-bpb.tsv" > "$BATS_TEST_TMPDIR/short.tsv"
	for f in empty short; do
		run $PY "$BPB_REPORT" --markdown "$BATS_TEST_TMPDIR/$f.tsv"
		assert_failure 1
		[ "${#lines[@]}" -eq 1 ]
		[[ $output == "bpb-report.py: "* ]]
	done
}

@test "the mix: a row per curated language, and the shares its comments state are its weights' over the 510 languages trained on" {
	# the languages of the training data: the curated set's and the
	# uncurated declarations' under the names model.mk gives their files
	run make -s -f "$TOP/pipelines/model.mk" --eval 'names: ; @printf "%s\n" $(EXTRA_FILES)' names
	assert_success
	printf '%s\n' "${lines[@]}" > "$BATS_TEST_TMPDIR/extra.txt"
	py '
import sys, csv, re
top, extra = sys.argv[1], open(sys.argv[2]).read().split()
curated = [r["code"] for r in csv.DictReader(open(top + "/pipelines/data/udhr/languages.tsv"), delimiter="\t")]
listed = open(top + "/pipelines/data/model/extra-languages.txt").read().split()
code = re.compile(r"[a-z]{3}([_-][A-Za-z0-9]+)*")
# each declaration a language of its own: a code, renamed und_NAME when it is not one
assert len(extra) == len(listed) == 464 and len(set(extra)) == 464
for name, got in zip(listed, extra):
    assert got == (name if code.fullmatch(name) else "und_" + name), (name, got)
    assert code.fullmatch(got), got
assert sum(1 for e in extra if e.startswith("und_")) == 52
langs = curated + extra
assert len(set(langs)) == 510
w, star, stated = {}, None, []
lines = open(top + "/pipelines/data/model/mix.tsv").read().splitlines()
assert lines[[l.startswith("#") for l in lines].index(False)] == "lang\tweight"
pending = []
for l in lines:
    if l.startswith("#"):
        # "5.0 %", "0.13 % each", "58 % in all": the share of the row below
        pending += [(m.group(1), m.group(2)) for m in re.finditer(r"([0-9.]+) %( in all)?", l)]
        continue
    if l == "lang\tweight":
        continue
    lang, x = l.split("\t")
    stated += [(lang, p) for p in pending]
    pending = []
    if lang == "*":
        star = float(x)
    else:
        w[lang] = float(x)
assert set(w) == set(curated), set(curated) ^ set(w)
share = {l: w.get(l, star) for l in langs}
total = sum(share.values())
m = re.search(r"weights sum to ([0-9]+)", open(top + "/pipelines/data/model/mix.tsv").read())
assert m and total == int(m.group(1)), total
for lang, (pct, all_) in stated:
    if lang == "*" and all_:
        want = 100 * star * len(extra) / total
    else:
        want = 100 * (w[lang] if lang != "*" else star) / total
    digits = len(pct.split(".")[1]) if "." in pct else 0
    assert abs(want - float(pct)) <= 0.5 * 10 ** -digits + 1e-9, (lang, pct, want)
assert len(stated) == 6, stated
' "$TOP" "$BATS_TEST_TMPDIR/extra.txt"
}

@test "loading converts f16 exactly: the shipped model and its f32 copy give the same states, bit for bit" {
	cd "$BATS_TEST_TMPDIR"
	# f16 is read into the weights a piece at a time (with the CPU's
	# conversion where it has one); f32 straight into them
	qf-cat -t f32 -o m32.qft "$MODEL"
	# the f16 weights include subnormals, which a fast conversion can lose
	py '
import sys
sys.path.insert(0, sys.argv[2])
import numpy as np, qftref
sub = 0
for name, dt, dims, attrs, payload in qftref.read_records(open(sys.argv[1], "rb")):
    if dt == 3:
        h = np.frombuffer(payload, "<u2")
        sub += int((((h & 0x7c00) == 0) & ((h & 0x3ff) != 0)).sum())
assert sub > 0, sub' "$MODEL" "$TESTS_DIR/ref"
	printf 'Everyone has the right to life, liberty and security of person.\n' > t.txt
	qf-extract text -k bytes --bos 256 -o t.qft t.txt
	qf-act -m "$MODEL" -L 0,5,11 -o a16.qft t.qft
	qf-act -m m32.qft -L 0,5,11 -o a32.qft t.qft
	cmp a16.qft a32.qft
}
