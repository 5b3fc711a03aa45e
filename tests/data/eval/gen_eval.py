#!/usr/bin/python3
"""Fixtures for tests/qf-eval.bats (docs/eval.md).

Run with Debian's python3 from the repository top:

  /usr/bin/python3 tests/data/eval/gen_eval.py fixtures
      writes, in tests/data/eval/ (committed):
        tokens.qft      token records of 5 languages (cmn_hans eng fin rus
                        tur; 4 to 8 units each, 1 to 90 ids, interleaved
                        in the stream), with the attributes qf-extract
                        text writes; some start with a BOS (id 96)
        q11.qft         tests/data/model/a.qft with every linear weight
                        rounded per output row to 11 levels (absmax / 5)
        q7.qft          the same with 7 levels (absmax / 3): damaged more
        languages.tsv   code name script family morph_type of the five
                        and of hun (not in the data), in the order of
                        pipelines/data/udhr/languages.tsv (not sorted)
  gen_eval.py variant KIND OUT
      a stream made at test time from the fixtures:
        bad-id      tokens.qft with id 97 (= vocab_size) in record doc.5
        no-lang     tokens.qft with record doc.3 missing its lang
        extra       tokens.qft with an f32 record of kind=other first and
                    one in the middle (qf-eval skips them)
        head, tail  the first 13 records of tokens.qft, the rest (two
                    streams that together are tokens.qft)
        ctx16       a.qft cut to n_ctx 16 (pos_emb's first 16 rows):
                    the same vocabulary, a smaller context
        xyz         tokens.qft with record doc.7's lang changed to xyz
        no-bytes    tokens.qft with record doc.4 missing its bytes
        units       tokens.qft with parallel units: a language's k-th
                    record (its doc) has unit_id a0.h and unit_kind
                    heading for k = 0, else unit_id a{(k+1)//2}.p{2-k%2}
                    and unit_kind body; except tur's doc 4, which keeps
                    no unit_id (unit=paragraph, kind=tokens), and rus's
                    doc 3, which has the names of issue 20's brief
                    instead: unit=a2.p1, kind=body

Token ids come from the reference model itself (a.qft) at various
temperatures (tur: one id in five replaced at random), so that the languages differ in
how well the model predicts them and in how much rounding hurts.
Counts (bytes, chars, words, first_bytes, first_chars) are synthetic but
consistent: bytes >= first_bytes, chars >= first_chars, chars <= bytes,
tokens = ids without the BOS.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402
from oracle import qftref  # noqa: E402

A_QFT = os.path.join(HERE, "..", "model", "a.qft")
BOS = 96
V = 97

# lengths (ids, BOS included) per language, and which records have a BOS
LENGTHS = {
    "eng": [1, 12, 45, 33, 70, 20, 90, 8],
    "fin": [40, 17, 64, 25, 9, 50],
    "tur": [30, 77, 15, 48, 22],
    "rus": [66, 14, 38, 52],
    "cmn_hans": [10, 35, 6, 81, 28, 16, 44],
}
WITH_BOS = {("eng", 2), ("eng", 5), ("rus", 0), ("cmn_hans", 2)}
# bytes per token, chars per byte, tokens per word, first token's bytes/chars
SHAPE = {
    "eng": (4.2, 1.0, 1.35, (3, 3)),
    "fin": (4.6, 0.97, 2.1, (4, 4)),
    "tur": (4.4, 0.95, 2.3, (4, 3)),
    "rus": (3.1, 1 / 1.85, 2.6, (4, 2)),
    "cmn_hans": (2.6, 1 / 2.9, 12.0, (3, 1)),
}
TABLE = """code\tname\tscript\tfamily\tmorph_type
eng\tEnglish\tLatn\tIndo-European > Germanic\tfusional
fin\tFinnish\tLatn\tUralic > Finnic\tagglutinative
hun\tHungarian\tLatn\tUralic > Ugric\tagglutinative
tur\tTurkish\tLatn\tTurkic > Oghuz\tagglutinative
rus\tRussian\tCyrl\tIndo-European > Slavic\tfusional
cmn_hans\tChinese, Mandarin (Simplified)\tHans\tSino-Tibetan > Sinitic\tisolating
"""


def sample(cfg, W, n, temp, rng, first):
    """n ids from the model at temperature temp (context: the last n_ctx)."""
    import torch
    import gen_model
    ids = [first]
    while len(ids) < n:
        ctx = ids[-cfg["n_ctx"]:]
        with torch.no_grad():
            lg = gen_model.forward(W, cfg, ctx)["logits"][-1].double().numpy()
        p = np.exp((lg - lg.max()) / temp)
        p[BOS] = 0
        p /= p.sum()
        ids.append(int(rng.choice(V, p=p)))
    return ids


def make_ids(lang, n, bos, cfg, W, rng):
    first = BOS if bos else int(rng.integers(0, BOS))
    if n == 1:
        return [first]
    if lang == "eng":
        return sample(cfg, W, n, 0.6, rng, first)
    if lang == "fin":
        return sample(cfg, W, n, 1.0, rng, first)
    if lang == "tur":
        ids = sample(cfg, W, n, 0.8, rng, first)
        for i in range(5, n, 5):
            ids[i] = int(rng.integers(0, BOS))
        return ids
    if lang == "rus":
        return sample(cfg, W, n, 1.3, rng, first)
    # cmn_hans: the model's likeliest continuations, nearly
    return sample(cfg, W, n, 0.4, rng, first)


def counts(lang, ids, bos, rng):
    bpt, cpb, tpw, (fb, fc) = SHAPE[lang]
    t = len(ids) - (1 if bos else 0)
    if bos:
        fb = fc = 0
    else:
        fb += int(rng.integers(0, 2))
        fc = min(fc + (fb - SHAPE[lang][3][0]), fb)
    if t == 1 and not bos:
        b, c = fb, fc
    else:
        b = fb + max(1, int(round((t - (0 if bos else 1)) * bpt + rng.integers(-2, 3))))
        c = fc + max(1, int(round((b - fb) * cpb)))
        c = min(c, b)
    w = max(1, int(round(t / tpw)))
    return b, c, w, t, fb, fc


def fixtures():
    rng = np.random.default_rng(20261128)
    cfg, W = oracle.load_model(A_QFT)
    recs = []
    for lang in sorted(LENGTHS):
        for k, n in enumerate(LENGTHS[lang]):
            bos = (lang, k) in WITH_BOS
            ids = make_ids(lang, n, bos, cfg, W, rng)
            b, c, w, t, fb, fc = counts(lang, ids, bos, rng)
            attrs = [("kind", "tokens"), ("lang", lang),
                     ("source", "udhr/heldout/%s.txt" % lang), ("doc", str(k)),
                     ("unit", "paragraph"), ("tokenizer", "gpt2"),
                     ("bytes", str(b)), ("chars", str(c)), ("words", str(w)),
                     ("tokens", str(t))]
            if bos:
                attrs.append(("bos", str(BOS)))
            attrs += [("first_bytes", str(fb)), ("first_chars", str(fc))]
            recs.append((lang, k, ids, attrs))
    # interleave the languages, each keeping its own order
    order = []
    queues = {L: [r for r in recs if r[0] == L] for L in LENGTHS}
    pick = ["tur", "eng", "fin", "cmn_hans", "eng", "rus", "fin", "eng",
            "cmn_hans", "tur", "rus", "eng", "cmn_hans", "fin", "tur", "eng",
            "cmn_hans", "rus", "fin", "eng", "tur", "cmn_hans", "fin", "eng",
            "cmn_hans", "tur", "rus", "eng", "fin", "cmn_hans"]
    for L in pick:
        order.append(queues[L].pop(0))
    assert all(not q for q in queues.values())
    out = []
    for i, (lang, k, ids, attrs) in enumerate(order):
        a = np.asarray(ids, dtype="<i4")
        out.append(("doc.%d" % i, 8, [len(a)], attrs, a.tobytes()))
    with open(os.path.join(HERE, "tokens.qft"), "wb") as f:
        qftref.write_stream(f, out)
    write_rounded(os.path.join(HERE, "q11.qft"), 5)
    write_rounded(os.path.join(HERE, "q7.qft"), 3)
    with open(os.path.join(HERE, "languages.tsv"), "w") as f:
        f.write(TABLE)


def f16_records():
    with open(A_QFT, "rb") as f:
        return list(qftref.read_records(f))


LINEAR = {"attn_qkv", "attn_out", "mlp_in", "mlp_out"}


def write_rounded(path, qmax):
    """a.qft with each linear weight row rounded to 2 qmax + 1 levels of
    absmax / qmax, stored in its own dtype (f16); the rest unchanged."""
    out = []
    for name, dtype, dims, attrs, payload in f16_records():
        if dict(attrs).get("kind") in LINEAR:
            assert dtype == 3
            w = np.frombuffer(payload, "<f2").astype(np.float32).reshape(dims)
            s = np.abs(w).max(axis=1, keepdims=True) / qmax
            q = np.clip(np.round(w / s), -qmax, qmax) * s
            payload = q.astype("<f2").tobytes()
        out.append((name, dtype, dims, attrs, payload))
    with open(path, "wb") as f:
        qftref.write_stream(f, out, shuffle=True)


def with_unit(rec):
    """A record of tokens.qft with the parallel unit of variant units."""
    name, dt, dims, attrs, pl = rec
    a = dict(attrs)
    k = int(a["doc"])
    uid = "a0.h" if k == 0 else "a%d.p%d" % ((k + 1) // 2, 2 - k % 2)
    ukind = "heading" if k == 0 else "body"
    if (a["lang"], k) == ("tur", 4):
        return rec
    if (a["lang"], k) == ("rus", 3):
        attrs = [(x, uid if x == "unit" else ukind if x == "kind" else v)
                 for x, v in attrs]
        return (name, dt, dims, attrs, pl)
    return (name, dt, dims, attrs + [("unit_id", uid), ("unit_kind", ukind)], pl)


def variant(kind, path):
    with open(os.path.join(HERE, "tokens.qft"), "rb") as f:
        recs = list(qftref.read_records(f))
    if kind == "bad-id":
        name, dt, dims, attrs, pl = recs[5]
        a = np.frombuffer(pl, "<i4").copy()
        a[3] = V
        recs[5] = (name, dt, dims, attrs, a.tobytes())
    elif kind == "no-lang":
        name, dt, dims, attrs, pl = recs[3]
        recs[3] = (name, dt, dims, [x for x in attrs if x[0] != "lang"], pl)
    elif kind == "no-bytes":
        name, dt, dims, attrs, pl = recs[4]
        recs[4] = (name, dt, dims, [x for x in attrs if x[0] != "bytes"], pl)
    elif kind == "xyz":
        name, dt, dims, attrs, pl = recs[7]
        recs[7] = (name, dt, dims, [(k, "xyz" if k == "lang" else v)
                                    for k, v in attrs], pl)
    elif kind == "extra":
        x = np.arange(6, dtype="<f4")
        other = ("note.%d", 1, [6], [("kind", "other"), ("lang", "eng")], x.tobytes())
        recs = ([(other[0] % 0,) + other[1:]] + recs[:9]
                + [(other[0] % 1,) + other[1:]] + recs[9:])
    elif kind == "units":
        recs = [with_unit(r) for r in recs]
    elif kind in ("head", "tail"):
        recs = recs[:13] if kind == "head" else recs[13:]
    elif kind == "ctx16":
        out = []
        for name, dt, dims, attrs, pl in f16_records():
            if name == "config":
                attrs = [(k, "16" if k == "n_ctx" else v) for k, v in attrs]
            if name == "pos_emb.weight":
                dims = [16, dims[1]]
                pl = pl[:16 * dims[1] * 4]
            out.append((name, dt, dims, attrs, pl))
        recs = out
    else:
        raise SystemExit("gen_eval.py: unknown variant " + kind)
    with open(path, "wb") as f:
        qftref.write_stream(f, recs, shuffle=kind == "ctx16")


def main(argv):
    if argv == ["fixtures"]:
        fixtures()
        return 0
    if len(argv) == 3 and argv[0] == "variant":
        variant(argv[1], argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
