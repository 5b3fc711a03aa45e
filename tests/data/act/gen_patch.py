#!/usr/bin/python3
"""Reference for qf-act --patch (tests/qf-act.bats), at test time, with
Debian's python3 (torch 1.13): a second model of the fixture's shape,
and what tests/data/model/gen_model.py's plain-torch GPT-2 computes when
the fixture model's states are replaced by that model's.

usage: gen_patch.py A.NPZ OUT.qft OUT.npz

  OUT.qft  model a' : the weights of tests/data/model/a.qft times
           (1 + 0.3 N(0, 1)), stored in a's dtypes
  OUT.npz  on a.npz's "tokens", the NLL [31] of model a with
             p0      resid_post of layer 0 replaced by a''s, all positions
             p0pos   the same at positions 3, 4, 5 and 20 only
             p1attn  attn_out of layer 1 replaced by a''s at positions 2, 7
           and on a.npz's "doc" (150 tokens) in windows of 32 tokens with
           stride 12 (docs/runtime.md), the NLL [149] of model a with
             p0win   resid_post of layer 0 replaced, in every window, by
                     the one a' computes over that same window

Checks first that it works on a.qft's weights: rebuilt with
gen_model.random_model (a's seed and dtypes), each tensor must have the
dtype it has in a.qft (next to A.NPZ) and agree with it within
max|rebuilt - stored| / max|stored| <= 2^-8, and torch's NLL of "tokens" with them must agree with A.NPZ's
"nll" (made on another machine) within 1e-4 by the same measure
(docs/runtime.md, Accuracy). Neither is bit for bit: torch's randn and
matrix products take other kernels on other CPUs, and a different f32
rounding of a random value can move an f16 weight by one rounding step
(at most 2^-10 of the tensor's largest magnitude). Weights from another
seed or scale are off by far more. The references are then
computed from the weights as a.qft stores them, the model qf-act runs.
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "model"))
import gen_model as gm  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "..", "ref"))
import qftref  # noqa: E402


def rel_err(got, ref):
    """max|got - ref| / max|ref|, docs/runtime.md's measure."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    return np.max(np.abs(got - ref)) / np.max(np.abs(ref))


def read_weights(path):
    """(canonical name -> f32 tensor as the stream stores it, name -> dtype
    code) of a weight stream without bf16 (a's dtypes)."""
    W, codes = {}, {}
    with open(path, "rb") as f:
        for name, dtype, dims, _, data in qftref.read_records(f):
            if name != "config":
                a = np.frombuffer(data, qftref.DTYPES[dtype]).reshape(dims)
                W[name] = torch.from_numpy(a.astype(np.float32))
                codes[name] = dtype
    return W, codes


def codes_a(name):
    if name.endswith("emb.weight"):
        return gm.F32
    if ".ln" in name or name.startswith("final_norm"):
        return gm.F64
    return gm.F16 if name.endswith(".weight") else gm.F32


def windowed_patched_nll(W, W2, cfg, doc, window, stride, layer, site):
    """Per-token NLL of doc by windows as docs/runtime.md describes them
    (window k: tokens [k stride, min(k stride + window, n)), scoring the
    targets no earlier window scored), each window's pass of W with the
    state (layer, site) replaced by W2's over the same window."""
    n = len(doc)
    nll = np.full(n - 1, np.nan, dtype=np.float32)
    begin, scored_to = 0, 1
    while True:
        end = min(begin + window, n)
        seg = doc[begin:end]
        src = gm.forward(W2, cfg, seg)["sites"][(layer, site)]
        r = gm.forward(W, cfg, seg, lambda l, s, x:
                       src.clone() if (l, s) == (layer, site) else None)
        lp = torch.log_softmax(r["logits"], dim=-1).numpy()
        for p in range(scored_to, end):
            nll[p - 1] = -lp[p - 1 - begin, doc[p]]
        scored_to = end
        if end == n:
            break
        begin += stride
    assert not np.isnan(nll).any()
    return nll


def main(argv):
    z = np.load(argv[1])
    cfg = {"n_layer": 2, "n_embd": 48, "n_head": 3, "n_ctx": 32, "n_inner": 192,
           "vocab_size": 97, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True}
    rebuilt, codes = gm.random_model(cfg, 1234, codes_a)
    W, stored_codes = read_weights(os.path.join(os.path.dirname(argv[1]), "a.qft"))
    assert stored_codes == codes, "not a.qft's tensors or dtypes"
    for k in W:
        err = rel_err(rebuilt[k], W[k])
        assert err <= 2.0 ** -8, ("not a.qft's weights", k, err)
    tok = z["tokens"]
    r = gm.forward(W, cfg, tok)
    err = rel_err(r["nll"], z["nll"])
    assert err <= 1e-4, ("torch's NLL is not a.npz's", err)
    g = torch.Generator().manual_seed(99)
    W2 = {k: gm.stored(v * (1 + 0.3 * torch.randn(v.shape, generator=g)),
                       codes[k]) for k, v in W.items()}
    gm.write_weights(argv[2], cfg, W2, codes)
    r2 = gm.forward(W2, cfg, tok)

    def patcher(layer, site, pos):
        def patch(l, s, x):
            if l != layer or s != site:
                return None
            x = x.clone()
            x[pos] = r2["sites"][(l, s)][pos]
            return x
        return patch
    out = {}
    for key, layer, site, pos in [("p0", 0, "resid_post", slice(None)),
                                  ("p0pos", 0, "resid_post", [3, 4, 5, 20]),
                                  ("p1attn", 1, "attn_out", [2, 7])]:
        out[key] = gm.forward(W, cfg, tok, patcher(layer, site, pos))["nll"].numpy()
    out["p0win"] = windowed_patched_nll(W, W2, cfg, z["doc"], 32, 12, 0,
                                        "resid_post")
    np.savez(argv[3], **out)


if __name__ == "__main__":
    main(sys.argv)
