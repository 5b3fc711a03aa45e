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
	# (quoted: the value holds spaces and '=')
	assert_output $'x\tf32\t[8, 32]\t1024\tprovenance="'"$(qf-cat --version | sed -n 2p)"'"'
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
	assert_output $'tokens\ti64\t[3, 17]\t408\tprovenance="'"$(qf-cat --version | sed -n 2p)"'"'
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

@test "-l quotes attribute values with spaces, '=', tabs, quotes or backslashes" {
	qf-cat -n tokens --set 'note=two words' --set 'eq=a=b' --set $'tab=x\ty' \
		--set 'q=say "hi"\' --set plain=ok ref.qft > attrs.qft
	run qf-cat -l attrs.qft
	assert_success
	assert_output $'tokens\ti64\t[3, 17]\t408\tlang=fin note="two words" eq="a=b" tab="x\\ty" q="say \\"hi\\"\\\\" plain=ok'
	# one line of five tab-separated columns
	[ "$(qf-cat -l attrs.qft | awk -F'\t' '{ print NF }')" = 5 ]
}

@test "names with newlines and escape sequences are escaped in listings, TSV and errors" {
	qf-cat --from npy --rename $'a\nb\e[31mc\x7fd\\e' -o ctl.qft x.npy
	run qf-cat -l ctl.qft
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	[[ ${lines[0]} == 'a\nb\x1b[31mc\x7fd\\e'$'\t''f32'$'\t'* ]]
	run qf-cat --to tsv ctl.qft
	assert_line --index 0 --partial '# a\nb\x1b[31mc\x7fd\\e'$'\t''f32'
	# an error naming the record is one line with no raw control character
	cat ctl.qft ctl.qft > ctl2.qft
	run --separate-stderr qf-cat --to npy -o ctl.npy ctl2.qft
	assert_failure 1
	[ "${#stderr_lines[@]}" -eq 1 ]
	# (qf_err keeps a message on one line: a newline becomes a space)
	[[ $stderr == 'qf-cat: ctl2.qft: record a b\x1b[31mc\x7fd\e: --to npy takes exactly one record'* ]]
	[ ! -e ctl.npy ]
}

@test "--rename '' and --set =v are misuse: exit 2" {
	run --separate-stderr qf-cat --rename '' -o r.qft x.qft
	assert_failure 2
	[ "${stderr_lines[0]}" = "qf-cat: --rename: the name is empty" ]
	run --separate-stderr qf-cat --set =v -o r.qft ref.qft
	assert_failure 2
	[ "${stderr_lines[0]}" = "qf-cat: --set wants KEY=VALUE, not '=v'" ]
	[ ! -e r.qft ]
}

@test "-s prints no partial line when a payload fails" {
	cat ref.qft big.qft > two.qft
	# a byte of big's payload flipped (big.qft is the second segment)
	printf '\x55' | dd of=two.qft bs=1 seek=$(( $(stat -c %s ref.qft) + 5000 )) conv=notrunc status=none
	run --separate-stderr qf-cat -s two.qft
	assert_failure 1
	[ "${#lines[@]}" -eq 9 ]
	[ "$(qf-cat -s two.qft 2>/dev/null | tail -c 1 | od -An -c | tr -d ' ')" = '\n' ]
	[[ $stderr == "qf-cat: two.qft: record big: corrupt payload"* ]]
}

# A hand-made stream whose header declares [2^40] elements (4 TiB of
# f32) and ends there: huge.qft, f32, 53 bytes; hugetok.qft, a token
# record (i32, kind=tokens lang=fin) for the tools that read tokens.
huge_streams() {
	py '
import struct, sys
sys.path.insert(0, sys.argv[1])
from qftref import crc32c, MAGIC
def st(b):
    return struct.pack("<I", len(b)) + b
def huge(path, code, attrs):
    h = MAGIC + struct.pack("<HH", 1, 0)
    h += struct.pack("<I", crc32c(h))
    body = struct.pack("<BBBBI", code, 1, 0, 0, 1 << 20) + struct.pack("<Q", 1 << 40)
    body += st(b"w") + struct.pack("<I", len(attrs))
    body += b"".join(st(k) + st(v) for k, v in attrs)
    head = b"QREC" + struct.pack("<I", len(body)) + body
    open(path, "wb").write(h + head + struct.pack("<I", crc32c(head)))
huge("huge.qft", 1, [])
huge("hugetok.qft", 8, [(b"kind", b"tokens"), (b"lang", b"fin")])
' "$TESTS_DIR/ref"
	[ "$(stat -c %s huge.qft)" -eq 53 ]
}

# Run a command that must fail with exit 1 and one line on stderr
# starting with $1, quickly (timeout 60) and with a peak resident memory
# far below the declared size (under 400 MB).
refuses_huge() {
	local want=$1
	shift
	run --separate-stderr /usr/bin/time -f %M -o rss timeout 60 "$@"
	assert_failure 1
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ $stderr == "$want"* ]]
	[ "$(tail -1 rss)" -lt 400000 ]
}

@test "a 53-byte stream declaring 4 TiB: one line, exit 1, nothing allocated" {
	huge_streams
	for to in npy npz qft tsv; do
		refuses_huge "qf-cat: huge.qft: record w: truncated" \
			qf-cat --to $to -o h.out huge.qft
		[ ! -e h.out ]
	done
	refuses_huge "qf-cat: <stdin>: record w: truncated" \
		bash -c 'qf-cat --to npy < huge.qft'
}

@test "tools that hold a record whole refuse the 4 TiB declaration" {
	huge_streams
	local m=$TESTS_DIR/data/model/a.qft
	local big="record w: payload of 4398046511104 bytes is larger than the "
	refuses_huge "qf-quantize: huge.qft: record w: " \
		qf-quantize -b 4 -g 64 -o q.qft huge.qft
	[ ! -e q.qft ]
	refuses_huge "qf-eval: hugetok.qft: $big" qf-eval -r "$m" hugetok.qft
	refuses_huge "qf-act: hugetok.qft: $big" qf-act -m "$m" -o a.qft hugetok.qft
	refuses_huge "qf-train: hugetok.qft: $big" qf-train --steps 1 -o t.qft hugetok.qft
	[ ! -e a.qft ] && [ ! -e t.qft ]
	refuses_huge "qf-eval: <stdin>: $big" bash -c "qf-eval -r '$m' < hugetok.qft"
}

@test ".npy and .npz convert in pieces: memory stays small for a 64 MiB array" {
	need_plain_build
	py 'import numpy as np; np.save("m.npy", np.random.default_rng(1).standard_normal((4096, 4096), dtype=np.float32))'
	/usr/bin/time -f %M -o rss1 qf-cat --from npy -o m.qft m.npy
	/usr/bin/time -f %M -o rss2 qf-cat --to npy -o m2.npy m.qft
	/usr/bin/time -f %M -o rss3 qf-cat --to npz -o m.npz m.qft
	/usr/bin/time -f %M -o rss4 qf-cat --from npz -t f16 -o m16.qft m.npz
	cmp m.npy m2.npy
	for f in rss1 rss2 rss3 rss4; do [ "$(cat $f)" -lt 40000 ]; done
	py '
import numpy as np
a = np.load("m.npy"); z = np.load("m.npz")
assert z.files == ["m"] and (z["m"] == a).all()
'
	run qf-cat -s m16.qft
	assert_output --partial $'m\tf16\t[4096, 4096]\t33554432\t'
}

@test ".npz into a pipe: data descriptors numpy and qf-cat read back" {
	qf-cat --to npz ref.qft | cat > piped.npz
	qf-cat --to npz -o file.npz ref.qft
	py '
import numpy as np
a = np.load("piped.npz"); b = np.load("file.npz")
assert a.files == b.files and len(a.files) == 9
for k in a.files:
    assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes()
'
	cmp <(qf-cat --from npz < piped.npz | qf-cat -l) <(qf-cat --from npz file.npz | qf-cat -l)
	# a file opened for appending (>>) cannot take a CRC written back
	: > app.npz
	qf-cat --to npz ref.qft >> app.npz
	py 'import numpy as np, zipfile; assert zipfile.ZipFile("app.npz").testzip() is None; assert len(np.load("app.npz").files) == 9'
}

@test "4,000 members: qf-cat's .npz read back by qf-extract weights in one pass" {
	py '
import numpy as np
np.savez("many.npz", **{"t%04d" % i: np.array([i, -i, i * 0.5], dtype=np.float32) for i in range(4000)})'
	qf-cat --from npz -o many.qft many.npz
	qf-cat --to npz -o many2.npz many.qft
	# read tensor by tensor as a checkpoint (each once rescanned the
	# archive from the start: 4,000 members took two minutes)
	timeout 120 qf-extract weights --raw -o many3.qft many2.npz
	qf-cat -x config --to npz -o back.npz many3.qft
	py '
import numpy as np
a = np.load("many.npz"); b = np.load("back.npz")
assert a.files == b.files and len(b.files) == 4000
for k in a.files:
    assert a[k].dtype == b[k].dtype and (a[k] == b[k]).all(), k'
}

@test "every tool stops OpenBLAS's threads as it starts" {
	# OpenBLAS starts a thread per extra core when it loads, each spinning
	# for about 0.1 s; the tools stop them at once (a BLAS call that wants
	# them starts them again).  Each tool waits here on a fifo nobody
	[ "$(nproc)" -gt 1 ] || skip "one CPU: OpenBLAS starts no thread"
	mkfifo p
	# writes it yet: one thread (-j 1: their own threads come later)
	for cmd in "qf-cat -j 1 -o x.qft p" "qf-extract text -j 1 --lang eng -o x.qft p" \
		   "qf-quantize -j 1 -o x.qft p" "qf-act -j 1 -m p -o x.qft p" \
		   "qf-eval -j 1 -r p -m p -o x.tsv p" "qf-train -j 1 --steps 1 -o x.qft p"; do
		$cmd 2> err &
		pid=$!
		for i in $(seq 100); do
			# blocked in open() of the fifo (the kernel's
			# wait_for_partner): past its start-up
			case $(cat "/proc/$pid/wchan" 2>/dev/null) in
			*partner*|*fifo*) break ;;
			esac
			sleep 0.05
		done
		n=$(ls "/proc/$pid/task" | wc -l)
		exec 5>p	# lets it go on: an empty input, one error
		exec 5>&-
		wait "$pid" || true
		[ "$n" -eq 1 ] || { echo "$cmd: $n threads"; false; }
	done
}

@test "-j: the output's chunks compressed on several threads, the same bytes" {
	py 'import numpy as np; np.save("m.npy", np.random.default_rng(3).standard_normal((3000, 1001)).astype(np.float32))'
	qf-cat -j 1 --from npy -o j1.qft m.npy
	for j in 2 3 9; do
		qf-cat -j $j --from npy -o jn.qft m.npy
		cmp j1.qft jn.qft
		QF_THREADS=$j qf-cat -t f16 --no-shuffle -o jn16.qft j1.qft
		qf-cat -j 1 -t f16 --no-shuffle -o j116.qft j1.qft
		cmp j116.qft jn16.qft
	done
	# and read back as written (the reference reader)
	$REF dump j1.qft > /dev/null
	run --separate-stderr qf-cat -j 0 -o x.qft m.npy
	assert_failure 2
	[ "${stderr_lines[0]}" = "qf-cat: invalid thread count '0'" ]
}
