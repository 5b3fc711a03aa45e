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
no.  With --markdown, the table of pipelines/data/model/README.md made
from such a file: bits per byte to 3 decimals, intervals in brackets.
Tables are read and written by qftsv.py.  Standard library only.
"""
import math
import os
import sys

sys.dont_write_bytecode = True    # no __pycache__ in pipelines/lib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qftsv  # noqa: E402

PROG = "bpb-report.py"


def fail(msg):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    sys.exit(1)


def paragraphs(path):
    with open(path, "rb") as f:
        text = f.read()
    return [p for p in text.split(b"\n") if p]


def markdown(path):
    t = qftsv.Table(path)
    need = ["lang", "bytes", "bpb", "bpb_lo", "bpb_hi", "bpb_2layer",
            "bpb_unigram", "d_2layer", "d_2layer_lo", "d_2layer_hi"]
    missing = [c for c in need if c not in t.index]
    if missing:
        fail("%s: not a heldout-bpb.tsv (no column %s)" % (path, missing[0]))
    out = ["| language | bytes | model | 2-layer | unigram | 2-layer \u2212 model (paired) |",
           "|---|---|---|---|---|---|"]
    for i, r in zip(t.lines, t.dicts()):
        try:
            x = [float(r[c]) for c in need[2:]]
        except ValueError:
            fail("%s: line %d: a figure that is not a number" % (path, i))
        out.append("| %s | %s | %.3f [%.3f, %.3f] | %.3f | %.3f | %+.3f [%+.3f, %+.3f] |"
                   % tuple([r["lang"], r["bytes"]] + x))
    sys.stdout.write("\n".join(out) + "\n")


def report():
    if len(sys.argv) != 4:
        sys.stderr.write("usage: bpb-report.py EVAL.tsv TRAIN_DIR HELDOUT_DIR\n"
                         "       bpb-report.py --markdown HELDOUT-BPB.tsv\n")
        sys.exit(2)
    ev, train, held = sys.argv[1:]
    t = qftsv.Table(ev)
    cols = ["lang", "model", "bpb", "bpb_lo", "bpb_hi", "bytes", "d_bpb", "d_bpb_lo", "d_bpb_hi"]
    t.need(*cols)
    bpb = {}
    for r in t.dicts():
        bpb[(r["lang"], r["model"])] = tuple(r[c] for c in cols[2:])
    langs = sorted({k[0] for k in bpb})
    head = ["lang", "bytes", "bpb", "bpb_lo", "bpb_hi",
            "bpb_2layer", "bpb_2layer_lo", "bpb_2layer_hi",
            "bpb_unigram", "d_2layer", "d_2layer_lo", "d_2layer_hi",
            "beats_unigram", "beats_2layer"]
    out = []
    for lang in langs:
        if (lang, "model") not in bpb or (lang, "baseline2") not in bpb:
            fail("%s: language %s: no row of model 'model' and 'baseline2'" % (ev, lang))
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
            fail("%s: %d held-out bytes, qf-eval scored %s" % (lang, n, m[3]))
        uni = bits / n
        yn = lambda c: "yes" if c else "no"
        out.append([lang, m[3], m[0], m[1], m[2], b2[0], b2[1], b2[2],
                    "%.4f" % uni, b2[4], b2[5], b2[6],
                    yn(float(m[2]) < uni), yn(float(b2[5]) > 0)])
    # qf-eval's provenance line (formats/provenance.md) heads the report too
    sys.stdout.write(qftsv.text(head, out, t.prov))


def main():
    try:
        if len(sys.argv) == 3 and sys.argv[1] == "--markdown":
            markdown(sys.argv[2])
        else:
            report()
    except qftsv.Error as e:
        fail(e)


if __name__ == "__main__":
    main()
