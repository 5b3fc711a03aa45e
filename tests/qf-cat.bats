#!/usr/bin/env bats
# qf-cat: listing, selection, concatenation, conversion, and bad input,
# checked against numpy and against tests/ref/qftref.py (an independent
# reader and writer of formats/stream.md).

load common

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	# Arrays made by numpy, with attributes for the reference writer.
	/usr/bin/python3 - <<'EOF'
import numpy as np
rng = np.random.default_rng(7)
arrs = {
    "h.0.attn.qkv.weight": rng.normal(0, 0.02, (8, 24)).astype(np.float32),
    "h.0.mlp.in.weight": rng.normal(0, 0.02, (8, 32)).astype(np.float32),
    "h.1.attn.qkv.weight": rng.normal(0, 0.02, (8, 24)).astype(np.float64),
    "tokens": rng.integers(0, 50257, (3, 17)).astype(np.int64),
    "codes": rng.integers(-8, 8, (5, 32)).astype(np.int8),
    "half": rng.normal(0, 1, (4, 4)).astype(np.float16),
    "scalar": np.array(3.25, dtype=np.float32),
    "empty": np.zeros((0, 5), dtype=np.float32),
    "Ünï/名前": np.arange(6, dtype=np.uint16).reshape(2, 3),
}
attrs = {
    "h.0.attn.qkv.weight.attrs": np.array(["layer=0", "kind=attn_qkv"]),
    "h.0.mlp.in.weight.attrs": np.array(["layer=0", "kind=mlp_in"]),
    "h.1.attn.qkv.weight.attrs": np.array(["layer=1", "kind=attn_qkv"]),
    "tokens.attrs": np.array(["lang=fin"]),
}
np.savez("arrays.npz", **arrs, **attrs)
np.savez("plain.npz", **arrs)
np.save("x.npy", arrs["h.0.mlp.in.weight"])
big = rng.normal(0, 1, (512, 1024)).astype(np.float32)
np.save("big.npy", big)
EOF
	$REF write arrays.npz ref.qft
	$REF write arrays.npz ref-shuf.qft --shuffle --chunk 100 --level 9
	qf-cat --from npy -o big.qft big.npy
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

@test "--help prints the synopsis and exits 0" {
	run qf-cat --help
	assert_success
	assert_line --index 0 "Usage: qf-cat [OPTION]... [FILE]..."
}

@test "--version names the tool and version" {
	run qf-cat --version
	assert_success
	assert_line --index 0 --regexp '^qf-cat \(qf\) [0-9]+\.[0-9]+\.[0-9]+$'
	assert_line --index 1 --regexp '^qf=[0-9.]+ tool=qf-cat '	# formats/provenance.md
}

@test "an unknown option is misuse: exit 2 with a hint" {
	run --separate-stderr qf-cat --bogus ref.qft
	assert_failure 2
	[[ $stderr == *"Try 'qf-cat --help'"* ]]
}

@test "lists a stream written by the reference writer" {
	run qf-cat -l ref.qft
	assert_success
	assert_line --index 0 $'h.0.attn.qkv.weight\tf32\t[8, 24]\t768\tlayer=0 kind=attn_qkv'
	assert_line $'tokens\ti64\t[3, 17]\t408\tlang=fin'
	assert_line $'scalar\tf32\t[]\t4\t'
	assert_line $'empty\tf32\t[0, 5]\t0\t'
	assert_line $'Ünï/名前\tu16\t[2, 3]\t12\t'
	[ "${#lines[@]}" -eq 9 ]
}

@test "reads shuffled, multi-chunk, level-9 streams of the reference writer" {
	run qf-cat -l ref-shuf.qft
	assert_success
	[ "${#lines[@]}" -eq 9 ]
	# payloads equal: re-encode both with qf-cat and compare the reference dump
	qf-cat -o a.qft ref.qft
	qf-cat -o b.qft ref-shuf.qft
	cmp a.qft b.qft
}

@test "what qf-cat writes, the reference reader reads with the same payloads" {
	qf-cat --shuffle -o c.qft ref.qft
	$REF dump ref.qft > want.jsonl
	$REF dump c.qft > got.jsonl
	diff want.jsonl got.jsonl
	qf-cat --level 1 -o d.qft ref.qft
	$REF dump d.qft | diff want.jsonl -
}

@test "payloads equal numpy's arrays byte for byte" {
	qf-cat --to npz -o back.npz ref.qft
	py '
import numpy as np, sys
a = np.load("plain.npz"); b = np.load("back.npz")
assert sorted(a.files) == sorted(b.files), (a.files, b.files)
for k in a.files:
    assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
    assert a[k].tobytes() == b[k].tobytes(), k
'
}

@test "cat a b is a stream holding the records of both" {
	run bash -c 'cat ref.qft ref-shuf.qft | qf-cat -l'
	assert_success
	[ "${#lines[@]}" -eq 18 ]
	run bash -c 'cat ref.qft ref-shuf.qft | qf-cat | qf-cat -l'
	[ "${#lines[@]}" -eq 18 ]
	run bash -c "qf-cat ref.qft - ref.qft < ref-shuf.qft | qf-cat -n scalar -l"
	[ "${#lines[@]}" -eq 3 ]
}

@test "a cut stream fails with one clear line and exit 1" {
	run --separate-stderr bash -c 'head -c 1000 big.qft | qf-cat -l'
	assert_failure 1
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ $stderr == "qf-cat: <stdin>: record big: truncated payload chunk at offset 1000" ]]
}

@test "a stream cut between two records is detected" {
	# ref.qft minus its 16-byte end marker ends exactly after a record
	head -c -16 ref.qft > cut.qft
	run --separate-stderr qf-cat -l cut.qft
	assert_failure 1
	[[ $stderr == *"cut.qft: truncated: the stream ends after 9 records without its end marker" ]]
}

@test "a flipped byte in a payload is reported, naming the record" {
	cp big.qft flip.qft
	printf '\x55' | dd of=flip.qft bs=1 seek=5000 conv=notrunc status=none
	run --separate-stderr qf-cat -o out.qft flip.qft
	assert_failure 1
	[[ $stderr == "qf-cat: flip.qft: record big: corrupt payload"* ]]
	[ ! -e out.qft ]
	[ -z "$(ls -A | grep '\.tmp\.')" ]
}

@test "text is not a stream" {
	echo hello > text.txt
	run --separate-stderr qf-cat -l text.txt
	assert_failure 1
	[ "$stderr" = "qf-cat: text.txt: not a qf stream (bad magic at offset 0)" ]
	run --separate-stderr qf-cat -l < /dev/null
	assert_failure 1
	[ "$stderr" = "qf-cat: <stdin>: empty input (not a qf stream)" ]
}

@test "a missing file is an error; listing goes on with the others" {
	run --separate-stderr qf-cat -l nope.qft ref.qft
	assert_failure 1
	[ "$stderr" = "qf-cat: nope.qft: No such file or directory" ]
	[ "${#lines[@]}" -eq 9 ]
}

@test "select by name glob, exclusion and attributes" {
	run qf-cat -l -n 'h.*' ref.qft
	[ "${#lines[@]}" -eq 3 ]
	run qf-cat -l -n 'h.*' -x '*.mlp.*' ref.qft
	[ "${#lines[@]}" -eq 2 ]
	run qf-cat -l -a layer=0 ref.qft
	[ "${#lines[@]}" -eq 2 ]
	run qf-cat -l -a layer=0 -a kind=mlp_in ref.qft
	[ "${#lines[@]}" -eq 1 ]
	run qf-cat -l -a 'kind' ref.qft
	[ "${#lines[@]}" -eq 3 ]
	run qf-cat -l -a 'lang=f*' ref.qft
	assert_output --partial tokens
}

@test ".npy -> stream -> .npy keeps the array bit for bit" {
	qf-cat --from npy -o x.qft x.npy
	run qf-cat -l x.qft
	# a record qf-cat made carries its provenance (formats/provenance.md)
	assert_output $'x\tf32\t[8, 32]\t1024\tprovenance='"$(qf-cat --version | sed -n 2p)"
	qf-cat --to npy -o y.npy x.qft
	py '
import numpy as np
a = np.load("x.npy"); b = np.load("y.npy")
assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
'
	# and numpy reads qf-cat's .npy from a pipe too
	qf-cat --to npy x.qft | py 'import numpy as np, sys, io; a = np.load(io.BytesIO(sys.stdin.buffer.read())); assert a.shape == (8, 32)'
}

@test "--to npy refuses more than one record and leaves no file" {
	run --separate-stderr qf-cat --to npy -o many.npy ref.qft
	assert_failure 1
	[[ $stderr == *"--to npy takes exactly one record"* ]]
	[ ! -e many.npy ]
}

@test ".npz from numpy -> stream, names and values kept" {
	qf-cat --from npz -o p.qft plain.npz
	run qf-cat -l -n tokens p.qft
	assert_output $'tokens\ti64\t[3, 17]\t408\tprovenance='"$(qf-cat --version | sed -n 2p)"
	qf-cat --to npz -o p2.npz p.qft
	py '
import numpy as np
a = np.load("plain.npz"); b = np.load("p2.npz")
for k in a.files:
    assert a[k].tobytes() == b[k].tobytes() and a[k].dtype == b[k].dtype, k
'
}

@test "--stats agrees with numpy" {
	run qf-cat -s -n h.0.mlp.in.weight ref.qft
	assert_success
	echo "$output" | py '
import numpy as np, sys
a = np.load("plain.npz")["h.0.mlp.in.weight"].astype(np.float64)
f = sys.stdin.read().rstrip("\n").split("\t")
mean, std, mn, mx, nan = map(float, f[5:10])
assert abs(mean - a.mean()) < 1e-12 and abs(std - a.std()) < 1e-12, (mean, std)
assert mn == a.min() and mx == a.max() and nan == 0
'
}

@test "--to tsv prints values numpy reads back exactly" {
	qf-cat --to tsv -n half ref.qft > half.tsv
	head -1 half.tsv | grep -q '^# half'$'\t''f16'
	py '
import numpy as np
a = np.load("plain.npz")["half"]
b = np.loadtxt("half.tsv", dtype=np.float32).astype(np.float16)
assert a.tobytes() == b.tobytes()
'
	qf-cat --to tsv -n h.0.attn.qkv.weight ref.qft > w.tsv
	py '
import numpy as np
a = np.load("plain.npz")["h.0.attn.qkv.weight"]
b = np.loadtxt("w.tsv", dtype=np.float32)
assert a.tobytes() == b.tobytes()
'
}

@test "--dtype converts exactly or refuses" {
	qf-cat -t f64 -n half -o h64.qft ref.qft
	qf-cat --to npy -o h64.npy h64.qft
	py '
import numpy as np
a = np.load("plain.npz")["half"].astype(np.float64); b = np.load("h64.npy")
assert b.dtype == np.float64 and a.tobytes() == b.tobytes()
'
	run --separate-stderr qf-cat -t i8 -n h.0.mlp.in.weight -o bad.qft ref.qft
	assert_failure 1
	[[ $stderr == "qf-cat: ref.qft: record h.0.mlp.in.weight: element 0: "* ]]
	[ ! -e bad.qft ]
	run qf-cat -t bogus ref.qft
	assert_failure 2
}

@test "--set and --rename change headers" {
	qf-cat --set lang=eng --set site=resid_post -n tokens ref.qft | qf-cat -l > l.txt
	run cat l.txt
	assert_output $'tokens\ti64\t[3, 17]\t408\tlang=eng site=resid_post'
	run qf-cat --rename y ref.qft
	assert_failure 1
}

@test "-o replaces a file atomically and keeps the old one on failure" {
	echo old > keep.qft
	head -c 2000 big.qft > part.qft
	run qf-cat -o keep.qft part.qft
	assert_failure 1
	[ "$(cat keep.qft)" = old ]
	[ -z "$(ls -A | grep '\.tmp\.')" ]
	qf-cat -o keep.qft ref.qft
	run qf-cat -l keep.qft
	[ "${#lines[@]}" -eq 9 ]
}

@test "same input and options give the same bytes" {
	qf-cat --shuffle -o r1.qft ref.qft big.qft
	qf-cat --shuffle -o r2.qft ref.qft big.qft
	cmp r1.qft r2.qft
}

@test "a write error on stdout is reported with exit 1" {
	run --separate-stderr bash -c 'qf-cat ref.qft > /dev/full'
	assert_failure 1
	[[ $stderr == "qf-cat: "*"No space left on device"* ]]
}

@test "a closed pipe downstream ends quietly, not with a crash" {
	run --separate-stderr bash -c 'set -o pipefail; qf-cat --to tsv big.qft | head -1 > /dev/null'
	[ "$status" -eq 141 ]
	[ -z "$stderr" ]
}

@test "the man page examples run" {
	# docs/man/qf-cat.1 EXAMPLES: each line that starts with "qf-cat" or
	# "cat" is run here, on inputs named as in the examples.
	cp ref.qft weights.qft; cp ref.qft a.qft; cp ref-shuf.qft b.qft
	qf-cat --set lang=fin --set layer=9 ref.qft > states.qft
	cp x.npy x.npy.orig
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$TESTS_DIR/../docs/man/qf-cat.1" |
		grep -E '^(qf-cat|cat) ' | sed 's/\\-/-/g; s/\\(aq/'"'"'/g' > examples.sh
	[ "$(wc -l < examples.sh)" -ge 4 ]
	run bash -e -o pipefail examples.sh
	assert_success
	# and the --help examples are the same commands
	qf-cat --help | sed -n 's/^  \(qf-cat .*\)$/\1/p; s/^  \(cat .*\)$/\1/p' > help.sh
	while read -r line; do grep -qxF -- "$line" examples.sh; done < help.sh
}

@test "-t converts every tensor and leaves a config record as it is" {
	cd "$BATS_TEST_TMPDIR"
	qf-cat -t f16 -o h.qft "$TESTS_DIR/data/model/a.qft"
	run qf-cat -l h.qft
	assert_line --index 0 --regexp $'^config\tu8\t\\[0\\]\t0\t'
	[ "$(printf '%s\n' "${lines[@]}" | cut -f2 | sort -u | tr '\n' ' ')" = "f16 u8 " ]
}
