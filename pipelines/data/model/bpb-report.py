#!/usr/bin/python3
"""bpb-report.py - held-out bits per byte of the default model, per language,
beside its two baselines.

  bpb-report.py EVAL.tsv TRAIN_DIR HELDOUT_DIR > heldout-bpb.tsv
  bpb-report.py --markdown heldout-bpb.tsv > table.md

EVAL.tsv is qf-eval's language table with the reference named 'model' and
a test model named 'baseline2' (the 2-layer model trained the same way).
The byte-unigram of a language is estimated on its training text
(TRAIN_DIR/LANG.txt, paragraph bytes without the line breaks that separate
paragraphs), add-one smoothed over the 256 byte values, and scored on the
same held-out bytes qf-eval scores (HELDOUT_DIR/LANG.txt, paragraph by
paragraph, every byte of a paragraph; qf-eval puts the separator token
before each paragraph, so all of its bytes are predicted).  Columns: lang,
bytes, bpb of the model with its 95% interval, of the 2-layer model with
its interval, of the unigram; d_2layer = the 2-layer model's bpb minus the
model's with its paired interval (qf-eval's d_bpb: both models on the
same resampled paragraphs); beats_unigram (the model's upper bound below
the unigram) and beats_2layer (d_2layer's lower bound above 0), yes or
no.  With --markdown, the table of README.md made from such a file: bits
per byte to 3 decimals, intervals in brackets.  Standard library only.
"""
import math
import sys


def paragraphs(path):
    with open(path, "rb") as f:
        text = f.read()
    return [p for p in text.split(b"\n") if p]


def markdown(path):
    def fail(what):
        sys.stderr.write("bpb-report.py: %s: %s\n" % (path, what))
        sys.exit(1)

    with open(path) as f:
        lines = f.read().splitlines()
    if lines and lines[0].startswith("# "):     # the provenance line
        lines.pop(0)
    head = lines[0].split("\t") if lines else []
    need = ["lang", "bytes", "bpb", "bpb_lo", "bpb_hi", "bpb_2layer",
            "bpb_unigram", "d_2layer", "d_2layer_lo", "d_2layer_hi"]
    missing = [c for c in need if c not in head]
    if missing:
        fail("not a heldout-bpb.tsv (no column %s)" % missing[0])
    out = ["| language | bytes | model | 2-layer | unigram | 2-layer \u2212 model (paired) |",
           "|---|---|---|---|---|---|"]
    for i, l in enumerate(lines[1:], 2):
        r = l.split("\t")
        if len(r) != len(head):
            fail("line %d: %d fields, the header has %d" % (i, len(r), len(head)))
        r = dict(zip(head, r))
        try:
            x = [float(r[c]) for c in need[2:]]
        except ValueError:
            fail("line %d: a figure that is not a number" % i)
        out.append("| %s | %s | %.3f [%.3f, %.3f] | %.3f | %.3f | %+.3f [%+.3f, %+.3f] |"
                   % tuple([r["lang"], r["bytes"]] + x))
    sys.stdout.write("\n".join(out) + "\n")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--markdown":
        markdown(sys.argv[2])
        return
    if len(sys.argv) != 4:
        sys.stderr.write("usage: bpb-report.py EVAL.tsv TRAIN_DIR HELDOUT_DIR\n"
                         "       bpb-report.py --markdown HELDOUT-BPB.tsv\n")
        sys.exit(2)
    ev, train, held = sys.argv[1:]
    with open(ev) as f:
        lines = f.read().splitlines()
    # qf-eval's provenance line (formats/provenance.md) heads the report too
    prov = lines.pop(0) if lines and lines[0].startswith("# qf=") else None
    head = lines[0].split("\t")
    ix = {c: i for i, c in enumerate(head)}
    bpb = {}
    for l in lines[1:]:
        r = l.split("\t")
        bpb[(r[ix["lang"]], r[ix["model"]])] = (
            r[ix["bpb"]], r[ix["bpb_lo"]], r[ix["bpb_hi"]], r[ix["bytes"]],
            r[ix["d_bpb"]], r[ix["d_bpb_lo"]], r[ix["d_bpb_hi"]])
    langs = sorted({k[0] for k in bpb})
    out = ["\t".join(["lang", "bytes", "bpb", "bpb_lo", "bpb_hi",
                      "bpb_2layer", "bpb_2layer_lo", "bpb_2layer_hi",
                      "bpb_unigram", "d_2layer", "d_2layer_lo", "d_2layer_hi",
                      "beats_unigram", "beats_2layer"])]
    for lang in langs:
        if (lang, "model") not in bpb or (lang, "baseline2") not in bpb:
            sys.stderr.write("bpb-report.py: %s: language %s: no row of model "
                             "'model' and 'baseline2'\n" % (ev, lang))
            sys.exit(1)
        m, b2 = bpb[(lang, "model")], bpb[(lang, "baseline2")]
        counts = [1] * 256
        for p in paragraphs("%s/%s.txt" % (train, lang)):
            for c in p:
                counts[c] += 1
        total = sum(counts)
        bits = 0.0
        n = 0
        for p in paragraphs("%s/%s.txt" % (held, lang)):
            for c in p:
                bits -= math.log2(counts[c] / total)
                n += 1
        if n != int(m[3]):
            sys.stderr.write("bpb-report.py: %s: %d held-out bytes, qf-eval "
                             "scored %s\n" % (lang, n, m[3]))
            sys.exit(1)
        uni = bits / n
        yn = lambda c: "yes" if c else "no"
        out.append("\t".join([lang, m[3], m[0], m[1], m[2], b2[0], b2[1], b2[2],
                              "%.4f" % uni, b2[4], b2[5], b2[6],
                              yn(float(m[2]) < uni), yn(float(b2[5]) > 0)]))
    sys.stdout.write("".join(l + "\n" for l in ([prov] if prov else []) + out))


if __name__ == "__main__":
    main()
