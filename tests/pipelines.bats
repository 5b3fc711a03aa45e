#!/usr/bin/env bats
# The studies in pipelines/: they run, rerun with nothing to do, and give
# the same bytes twice.

load common

TOP=$(cd "$TESTS_DIR/.." && pwd)

@test "the fertility study runs, is up to date afterwards, and reruns byte for byte" {
	out=$BATS_TEST_TMPDIR/fertility
	run make -s -f "$TOP/pipelines/fertility.mk" BIN="$QF_BIN" OUT="$out" LANGS="eng fin tur"
	assert_success
	for f in fertility.tsv fertility-by-type.tsv quant-layers.tsv compat-stats.tsv int4-stats.tsv; do
		[ -s "$out/$f" ]
	done
	# 3 languages + header; 4 layers + header
	[ "$(wc -l < "$out/fertility.tsv")" -eq 4 ]
	[ "$(wc -l < "$out/quant-layers.tsv")" -eq 5 ]
	# nothing left to do
	run make -q -f "$TOP/pipelines/fertility.mk" BIN="$QF_BIN" OUT="$out" LANGS="eng fin tur" \
		"$out/fertility-by-type.tsv" "$out/quant-layers.tsv"
	assert_success
	# the same bytes from a second run elsewhere
	out2=$BATS_TEST_TMPDIR/fertility2
	make -s -f "$TOP/pipelines/fertility.mk" BIN="$QF_BIN" OUT="$out2" LANGS="eng fin tur" > /dev/null
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

# --- the protection sweep (pipelines/protect.mk) on a small model ----------

# A 4-layer byte-level model, 3 steps of qf-train: enough for every
# configuration to differ.
protect_model() {
	local d=$BATS_FILE_TMPDIR
	[ -e "$d/m4.qft" ] && return
	tiny_model "$d"
}

# make -f protect.mk with the small study's variables (protect_make),
# then ARGS
protect_make() {
	protect_make=(make -f "$TOP/pipelines/protect.mk" BIN="$QF_BIN" MODEL="$BATS_FILE_TMPDIR/m4.qft"
		PARAS=4 EARLIER=0,2,3 BUDGET=0.75 BOOTSTRAP=50 GROUP_SIZE=5
		LANGS="eng fin jpn" JOBS=1)
}
protect() {
	protect_make
	"${protect_make[@]}" "$@"
}

TABLES="proper/lang.tsv proper/disparity.tsv proper/stats.tsv proper/compare.tsv
	proper/contrasts.tsv compat/lang.tsv compat/disparity.tsv compat/stats.tsv
	compat/contrasts.tsv halves.tsv configs.tsv greedy.tsv greedy-confirm.tsv"

@test "protection sweep: every configuration, make -j2, nothing to redo, the same bytes twice" {
	protect_model
	out=$BATS_FILE_TMPDIR/sweep1
	run protect -s -j2 OUT="$out" tables
	assert_success
	run protect -q OUT="$out" tables
	assert_success
	protect -s OUT="$BATS_TEST_TMPDIR/sweep2" tables
	for f in $TABLES; do
		cmp "$out/$f" "$BATS_TEST_TMPDIR/sweep2/$f"
	done
	# the claims' configurations first (0, 3, 0+3, 0+2+3), the other
	# singles, 4 quantized alone, the other pairs, and round 3 of the
	# greedy search: each half's best pair plus each other layer
	py '
import sys, csv, glob
out = sys.argv[1]
rd = lambda p: list(csv.DictReader((l for l in open(out + "/" + p) if not l.startswith("#")), delimiter="\t"))
cfg = [r["config"] for r in rd("configs.tsv")]
sweep = ["none", "p0", "p3", "p0-3", "p0-2-3", "p1", "p2", "q0", "q1", "q2", "q3",
         "p0-1", "p0-2", "p1-2", "p1-3", "p2-3"]
assert cfg[:16] == sweep, cfg
for r in rd("configs.tsv"):
    c = r["config"]
    k = 0 if c == "none" else len(c.split("-"))
    kept = [str(l) for l in range(4) if str(l) not in c[1:].split("-")] if c[0] == "q" else c[1:].split("-")
    if c[0] == "q":
        k = 4 - k
    assert r["n_protected"] == str(k) and abs(float(r["kept_linear_frac"]) - k / 4) < 1e-6, r
    assert c == "none" or r["protected"] == ",".join(kept), r
# the halves: the first 4 paragraphs are the heading and text of articles 3 and 6
assert [(r["unit"], r["half"]) for r in rd("halves.tsv")] == \
    [("a3.h", "A"), ("a3.p1", "A"), ("a6.h", "B"), ("a6.p1", "B")], rd("halves.tsv")
half = {r["unit"]: r["half"] for r in rd("halves.tsv")}
# the cross-fitted greedy path, recomputed from qf-eval'"'"'s units tables:
# a half'"'"'s criterion, the mean over languages of the mean kl_sum of its units
kl = {}
for p in sorted(glob.glob(out + "/proper/g*.units.tsv")) + sorted(glob.glob(out + "/greedy/r*.units.tsv")):
    for r in csv.DictReader((l for l in open(p) if not l.startswith("#")), delimiter="\t"):
        kl.setdefault((r["model"], half[r["unit"]], r["lang"]), {})[r["unit"]] = float(r["kl_sum"])
def crit(c, h):
    v = [sum(u.values()) / len(u) for (m, hh, l), u in kl.items() if m == c and hh == h]
    assert len(v) == 3, (c, h)
    return sum(v) / len(v)
g = rd("greedy.tsv")
for h in "AB":
    chosen, path = [], []
    for k in range(3):
        cands = ["p" + "-".join(map(str, sorted(chosen + [l]))) for l in range(4) if l not in chosen]
        best = min(cands, key=lambda c: crit(c, h))
        chosen = [int(x) for x in best[1:].split("-")]
        path.append(best)
    rows = [r for r in g if r["half"] == h]
    assert [r["config"] for r in rows] == path, (h, path, rows)
    for r in rows:
        assert abs(float(r["sel_mean"]) - crit(r["config"], h)) < 1e-5 * crit(r["config"], h), r
# each half'"'"'s choice scored on each half: on the selecting half, qf-eval'"'"'s
# mean over that half'"'"'s tokens is the criterion the search used
conf = rd("greedy-confirm.tsv")
assert sorted((r["half"], r["scored_on"]) for r in conf) == [("A", "A"), ("A", "B"), ("B", "A"), ("B", "B")]
for r in conf:
    assert r["role"] == ("selection" if r["half"] == r["scored_on"] else "held-out")
    assert abs(float(r["mean"]) - crit(r["config"], r["scored_on"])) < 1e-5 * float(r["mean"]), r
disp = {r["model"] for r in rd("proper/disparity.tsv") if r["scope"] == "all"}
assert set(cfg[16:]) <= disp and len(cfg) == len(disp), (cfg, disp)
# every language x configuration once, and the reference
lang = rd("proper/lang.tsv")
assert len(lang) == 3 * (len(cfg) + 1)
assert len({(r["lang"], r["model"]) for r in lang}) == len(lang)
# the contrasts of the claims, from the first pass
k = {(r["scope"], r["contrast"]) for r in rd("proper/contrasts.tsv")}
for c in ("keep_earlier", "keep_first", "keep_last", "keep_first_last", "synergy", "add_middle"):
    assert ("all", c) in k, c
assert ("rich+other", "rich_more") in k and ("rich+other", "rich_times") in k
' "$out"
}

@test "protection sweep: a configuration scores as qf-quantize and qf-eval do by hand" {
	protect_model
	out=$BATS_FILE_TMPDIR/sweep1
	[ -e "$out/proper/lang.tsv" ] || protect -s OUT="$out" tables
	cd "$BATS_TEST_TMPDIR"
	qf-quantize -s int -b 4 -g 64 -o none.qft "$BATS_FILE_TMPDIR/m4.qft"
	qf-quantize -s int -b 4 -g 64 --protect-layers 1,3 -o p13.qft "$BATS_FILE_TMPDIR/m4.qft"
	# q2: layer 2 quantized alone
	qf-quantize -s int -b 4 -g 64 --protect-layers 0,1,3 -o q2.qft "$BATS_FILE_TMPDIR/m4.qft"
	qf-eval -r ref="$BATS_FILE_TMPDIR/m4.qft" -m none=none.qft -m p1-3=p13.qft -m q2=q2.qft \
		--baseline none --measure kl_unit \
		--languages "$TOP/pipelines/data/udhr/languages.tsv" --group-by morph_type --group-by script \
		--group rich=fin,jpn --group other=eng \
		--bootstrap 50 --seed 1 -o lang.tsv -d disp.tsv "$out/proper/tokens.qft"
	# the same rows, whichever group scored them
	grep -P '^[^\t]+\tp1-3\t' lang.tsv > want
	grep -P '^[^\t]+\tp1-3\t' "$out/proper/lang.tsv" > got
	cmp want got
	grep -P '^p1-3\t' disp.tsv > want
	grep -P '^p1-3\t' "$out/proper/disparity.tsv" > got
	cmp want got
	grep -P '^[^\t]+\tq2\t' lang.tsv > want
	grep -P '^[^\t]+\tq2\t' "$out/proper/lang.tsv" > got
	cmp want got
}

@test "protection sweep: an interrupted run leaves no partial target and resumes" {
	protect_model
	[ -e "$BATS_FILE_TMPDIR/sweep1/greedy.tsv" ] || protect -s OUT="$BATS_FILE_TMPDIR/sweep1" tables
	out=$BATS_TEST_TMPDIR/cut
	protect -s OUT="$out" "$out/proper/tokens.qft" "$out/compat/tokens.qft"
	# stop the run once the first group is done, as Ctrl-C does: SIGINT to
	# its process group. setsid makes make (exec'd, $!) the leader of a
	# group of its own; env restores SIGINT, which a shell without job
	# control ignores in what it starts with &.
	protect_make
	setsid env --default-signal=INT "${protect_make[@]}" -s OUT="$out" tables > /dev/null 2>&1 &
	pgid=$!
	deadline=$((SECONDS + 1800))	# far beyond a run on a loaded machine
	until [ -e "$out/proper/g1.lang.tsv" ]; do
		state=$(ps -o stat= -p $pgid) && [[ $state != Z* ]] ||
			fail "the sweep ended before its first group was scored"
		[ $SECONDS -lt $deadline ] || { kill -TERM -- -$pgid; fail "no first group after 30 minutes"; }
		sleep 0.1
	done
	[ "$(ps -o pgid= -p $pgid)" -eq $pgid ] || fail "make does not lead its own process group"
	kill -INT -- -$pgid
	rc=0
	wait $pgid || rc=$?
	# make dies of the signal (130); make 4.3 at times stops with 2
	# ("wait: No child processes") instead
	[ $rc -ne 0 ] || fail "make ran to the end: the sweep was not interrupted"
	# what is there is whole: no temporary file, every table with its rows
	run bash -c "find '$out' -name '*.tmp*'"
	assert_output ""
	for f in "$out"/proper/g*.lang.tsv; do
		[ -e "$f" ] || continue
		# past the provenance line: the header, ref, none and 5 configurations
		[ "$(grep -vc '^#' "$f")" -eq $((1 + 3 * 7)) ]
	done
	protect -s OUT="$out" tables
	for f in $TABLES; do
		cmp "$out/$f" "$BATS_FILE_TMPDIR/sweep1/$f"
	done
}

@test "protection sweep: SETS and EXTRA choose the configurations; a bad one stops make" {
	protect_model
	out=$BATS_TEST_TMPDIR/reduced
	run protect -n OUT="$out" SETS=single EXTRA='p0-2 q1' tables
	assert_success
	# the configurations the groups score, in order: the claims' first
	# (round 2 of the greedy search is scored by a rule of its own: no
	# pairs here)
	got=$(echo "$output" | grep -o 'protect-group proper [^ ]*/g[0-9]* .*' | grep -v '\$(' |
		cut -d' ' -f4- | tr '\n' ' ')
	[ "$got" = "p0 p3 p0-3 p0-2-3 p1 p2 p0-2 q1 " ] || { echo "got: $got"; false; }
	echo "$output" | grep -q 'greedy/r2.cands'
	run protect -n OUT="$out" SETS='single bogus' tables
	assert_failure
	assert_output --partial "SETS: 'bogus' is not single, only or pairs"
	run protect -n OUT="$out" EXTRA='p0-x' tables
	assert_failure
	assert_output --partial "EXTRA: 'p0-x' is not a configuration"
}
