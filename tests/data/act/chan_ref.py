#!/usr/bin/python3
"""chan_ref.py - PyTorch's channel statistics of the linears' inputs, to
check qf-act --channel-stats (tests/qf-act.bats).

usage: chan_ref.py MODEL.qft TOKENS.qft CHAN.qft [WINDOW STRIDE]

Reads the weight stream and the token stream with tests/ref/qftref.py,
runs tests/data/model/gen_model.py's forward pass (Hugging Face's GPT-2
in plain torch) over every document in windows as docs/runtime.md
describes them (window k covers [k S, min(k S + W, n)); a token's
activations are taken from the first window that holds it), and per block
layer and linear input site (ln1_out feeds attn.qkv, attn_z attn.out,
ln2_out mlp.in, mlp_act mlp.out) sums |x|, x^2 and the maximum of |x|
over every token, in float64.  Compares them with the records
chan.L.SITE of CHAN.qft ([width, 3]: mean |x|, mean x^2, max |x|):
relative difference at most 1e-5 per record and column, attributes
tokens, layer, site, feeds.  Exit 1 with a line per mismatch.
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "ref"))
sys.path.insert(0, os.path.join(HERE, "..", "model"))
import qftref  # noqa: E402
from gen_model import forward  # noqa: E402

SITES = [("ln1_out", "attn_qkv"), ("attn_z", "attn_out"),
         ("ln2_out", "mlp_in"), ("mlp_act", "mlp_out")]


def array(dtype, dims, payload):
    if dtype == 4:      # bf16: the high half of an f32
        u = np.frombuffer(payload, dtype="<u2").astype(np.uint32) << 16
        return u.view(np.float32).reshape(dims)
    return np.frombuffer(payload, dtype=qftref.DTYPES[dtype]).reshape(dims)


def records(path):
    with open(path, "rb") as f:
        for name, dtype, dims, attrs, payload in qftref.read_records(f):
            yield name, dict(attrs), array(dtype, dims, payload)


def windows(n, W, S):
    k = 0
    while True:
        b = k * S
        e = min(b + W, n)
        yield b, e
        if e == n:
            return
        k += 1


def main(argv):
    model, tokens, chan = argv[:3]
    W = {}
    cfg = None
    for name, attrs, a in records(model):
        if name == "config":
            cfg = {k: int(attrs[k]) for k in ("n_layer", "n_embd", "n_head",
                                              "n_ctx", "n_inner")}
            cfg["layer_norm_epsilon"] = float(attrs["layer_norm_epsilon"])
        else:
            W[name] = torch.from_numpy(np.array(a, dtype=np.float32))
    win = int(argv[3]) if len(argv) > 3 else cfg["n_ctx"]
    stride = int(argv[4]) if len(argv) > 4 else max(win // 2, 1)
    L = cfg["n_layer"]
    acc = {}
    ntok = 0
    for _, _, ids in records(tokens):
        ids = np.asarray(ids, dtype=np.int64)
        seen = 0
        for b, e in windows(len(ids), win, stride):
            out = forward(W, cfg, ids[b:e])
            new = slice(max(seen, b) - b, e - b)
            for l in range(L):
                for site, _ in SITES:
                    x = np.abs(out["sites"][(l, site)].numpy()[new]
                               .astype(np.float64))
                    s = acc.setdefault((l, site), [0.0, 0.0, 0.0])
                    s[0] = s[0] + x.sum(axis=0)
                    s[1] = s[1] + (x * x).sum(axis=0)
                    s[2] = np.maximum(s[2], x.max(axis=0))
            ntok += e - max(seen, b)
            seen = e
    got = {name: (attrs, a) for name, attrs, a in records(chan)}
    bad = 0
    want_names = ["chan.%d.%s" % (l, s) for l in range(L) for s, _ in SITES]
    if list(got) != want_names:
        print("records %s, want %s" % (list(got), want_names))
        return 1
    for l in range(L):
        for site, feeds in SITES:
            name = "chan.%d.%s" % (l, site)
            attrs, g = got[name]
            s = acc[(l, site)]
            ref = np.stack([s[0] / ntok, s[1] / ntok, s[2]], axis=1)
            if g.shape != ref.shape:
                print("%s: shape %s, want %s" % (name, g.shape, ref.shape))
                bad += 1
                continue
            for c in range(3):
                err = np.max(np.abs(g[:, c] - ref[:, c])) / np.max(np.abs(ref[:, c]))
                if not err <= 1e-5:
                    print("%s: column %d differs by %g" % (name, c, err))
                    bad += 1
            want = {"tokens": str(ntok), "layer": str(l), "site": site,
                    "feeds": feeds, "kind": "chan_stats",
                    "n_layer": str(L)}
            for k, v in want.items():
                if attrs.get(k) != v:
                    print("%s: %s=%r, want %r" % (name, k, attrs.get(k), v))
                    bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
