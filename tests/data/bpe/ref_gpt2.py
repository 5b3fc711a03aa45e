#!/usr/bin/env python3
"""ref_gpt2.py - GPT-2's own tokenizer (the algorithm of openai/gpt-2
src/encoder.py, rewritten here) as a second reference beside the JS one.

    ref_gpt2.py [--gpt2 DIR] check expected.json
        encode every text of expected.json (written by gen.js) and report
        the ones whose ids differ from the JS reference's; exit 1 if any
        differs unless it is listed in expected.json's "divergent"
    ref_gpt2.py [--gpt2 DIR] encode FILE
        print the ids of FILE's text, comma-separated

Needs the `regex` module (Debian: python3-regex); its Unicode version
decides \\p{L} and \\p{N} for recent characters (python3-regex 2022.10.31
of Debian 12 is Unicode 15.0; regex 2025 and later are Unicode 16/17).
"""
import json
import os
import sys

import regex

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def byte_alphabet():
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


class GPT2:
    def __init__(self, d):
        with open(os.path.join(d, "encoder.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(os.path.join(d, "vocab.bpe"), encoding="utf-8") as f:
            lines = f.read().split("\n")[1:-1]
        self.ranks = {tuple(l.split()): i for i, l in enumerate(lines)}
        self.byte_enc = byte_alphabet()
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            a, b = best
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == a and word[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = tuple(out)
        self.cache[token] = word
        return word

    def encode(self, text):
        ids = []
        for piece in PAT.findall(text):
            s = "".join(self.byte_enc[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(s))
        return ids


def main(argv):
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     "../../../pipelines/data/gpt2")
    if len(argv) >= 2 and argv[0] == "--gpt2":
        d = argv[1]
        argv = argv[2:]
    if len(argv) != 2 or argv[0] not in ("check", "encode"):
        sys.stderr.write(__doc__)
        return 2
    g = GPT2(d)
    if argv[0] == "encode":
        with open(argv[1], encoding="utf-8") as f:
            print(",".join(map(str, g.encode(f.read()))))
        return 0
    with open(argv[1], encoding="utf-8") as f:
        exp = json.load(f)
    bad = 0
    allowed = {x["name"] for x in exp.get("divergent", [])}
    for c in exp["cases"]:
        ids = g.encode(c["text"])
        if ids != c["ids"]:
            tag = "known" if c["name"] in allowed else "NEW"
            print(f"{tag} divergence: {c['name']}: python {len(ids)} ids, js {len(c['ids'])}")
            bad += c["name"] not in allowed
    for c in exp.get("divergent", []):
        ids = g.encode(c["text"])
        if ids != c["gpt2_ids"]:
            print(f"divergent case {c['name']}: gpt2_ids do not match this reference")
            bad += 1
    print(f"{len(exp['cases'])} cases checked, regex {regex.__version__}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
