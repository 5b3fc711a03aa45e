#!/usr/bin/python3
"""Fixtures for tests/unit/test_model.c: GPT-2 weight streams and what
PyTorch computes from them.

Run with Debian's python3 (python3-torch 1.13, python3-numpy,
python3-zstandard), from the repository top:

    /usr/bin/python3 tests/data/model/gen_model.py fixtures
        writes tests/data/model/{a,b}.qft and {a,b}.npz (committed)

    /usr/bin/python3 tests/data/model/gen_model.py hf MODEL.bin CONFIG.json OUT.qft
        a weight stream (formats/weights.md) from a Hugging Face GPT-2
        pytorch_model.bin, independently of qf-extract; the unit test
        uses it on the shared fixture gpt2-tiny at test time

The reference forward pass, forward() below, is Hugging Face's GPT-2
written out in plain torch (Debian has no transformers package):
token + position embeddings, pre-LayerNorm blocks, causal attention
scaled by 1/sqrt(head_dim) with the mask as HF applies it (scores of
later positions replaced by the f32 minimum before the softmax),
gelu_new = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), final
LayerNorm, head tied to the token embedding unless head.weight exists.
Everything is computed in f32, as HF does. On gpt2-tiny it reproduces
the shared fixture's hidden states, logits and NLL bit for bit.

Fixtures (random weights, seeded, with scales that make attention peaked
and the GELU's tails used):

  a: 2 layers, n_embd 48, 3 heads, vocab 97, n_ctx 32, n_inner 192, tied.
     Stored dtypes mixed: embeddings f32, linear weights f16, biases f32,
     LayerNorm parameters f64 (the reference uses the stored values).
  b: 3 layers, n_embd 32, 8 heads, vocab 512, n_ctx 128, n_inner 96,
     untied head.  Matrices bf16, biases and LayerNorm parameters f32.

Arrays in a.npz / b.npz (all f32 unless said):

  tokens (i32 [T])                  the forward pass's input (a: T = 32,
                                    the whole context; b: T = 100)
  hidden [L+1, T, d]                embedding output, then resid_post of
                                    every block (HF's hidden_states
                                    without the final norm)
  final_norm [T, d], logits [T, V], nll [T-1]
  a only:
  site_<name>_<layer>               every hook site of both blocks
  attn_<layer> [H, T, T]            attention probabilities
  patched_logits, patched_nll       with the patches of patch_a() (the C
                                    test applies the same ones in hooks)
  doc (i32 [150]), win_<W>_<S> [149]  windowed NLL of doc (W, S) = (32, 12),
                                    (20, 19), (32, 1), (32, 31)
  b only:
  doc (i32 [300]), win_128_50 [299], win_128_127 [299]
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "ref"))
import qftref  # noqa: E402

F32, F64, F16, BF16 = 1, 2, 3, 4
SITES = ["resid_pre", "ln1_out", "attn_z", "attn_out", "resid_mid",
         "ln2_out", "mlp_act", "mlp_out", "resid_post"]


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi)
                                       * (x + 0.044715 * torch.pow(x, 3.0))))


def forward(W, cfg, tokens, patch=None):
    """HF GPT-2 in plain torch.  W: canonical name -> f32 tensor.
    patch(layer, site, x) may return a replacement for a site's tensor
    (site "attn" gets the probabilities [H, T, T]).  Returns a dict."""
    L, d, H = cfg["n_layer"], cfg["n_embd"], cfg["n_head"]
    hd, eps = d // H, cfg["layer_norm_epsilon"]
    tok = torch.as_tensor(np.asarray(tokens, dtype=np.int64))
    T = len(tok)
    out = {"sites": {}, "attn": {}, "hidden": []}

    def site(layer, name, x):
        if patch is not None:
            y = patch(layer, name, x)
            if y is not None:
                x = y
        out["sites"][(layer, name)] = x.clone()
        return x

    x = W["tok_emb.weight"][tok] + W["pos_emb.weight"][:T]
    out["hidden"].append(x.clone())
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(L):
        p = "layers.%d." % l
        x = site(l, "resid_pre", x)
        h = F.layer_norm(x, (d,), W[p + "ln1.weight"], W[p + "ln1.bias"], eps)
        h = site(l, "ln1_out", h)
        qkv = h @ W[p + "attn.qkv.weight"].T + W[p + "attn.qkv.bias"]
        q, k, v = qkv.split(d, dim=-1)
        q = q.view(T, H, hd).transpose(0, 1)
        k = k.view(T, H, hd).transpose(0, 1)
        v = v.view(T, H, hd).transpose(0, 1)
        a = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        a = torch.where(mask, a, torch.tensor(torch.finfo(torch.float32).min))
        a = torch.softmax(a, dim=-1)
        a = site(l, "attn", a)
        out["attn"][l] = a.clone()
        z = (a @ v).transpose(0, 1).reshape(T, d)
        z = site(l, "attn_z", z)
        o = z @ W[p + "attn.out.weight"].T + W[p + "attn.out.bias"]
        o = site(l, "attn_out", o)
        x = x + o
        x = site(l, "resid_mid", x)
        h = F.layer_norm(x, (d,), W[p + "ln2.weight"], W[p + "ln2.bias"], eps)
        h = site(l, "ln2_out", h)
        u = gelu_new(h @ W[p + "mlp.in.weight"].T + W[p + "mlp.in.bias"])
        u = site(l, "mlp_act", u)
        o = u @ W[p + "mlp.out.weight"].T + W[p + "mlp.out.bias"]
        o = site(l, "mlp_out", o)
        x = x + o
        x = site(l, "resid_post", x)
        out["hidden"].append(x.clone())
    f = F.layer_norm(x, (d,), W["final_norm.weight"], W["final_norm.bias"], eps)
    f = site(L, "final_norm", f)
    head = W.get("head.weight", W["tok_emb.weight"])
    logits = f @ head.T
    out["final_norm"] = f
    out["logits"] = logits
    out["nll"] = F.cross_entropy(logits[:-1], tok[1:], reduction="none")
    return out


def windowed_nll(W, cfg, doc, window, stride):
    """Per-token NLL of a long document, window by window, written from
    docs/runtime.md's description: windows start at 0, stride, 2 stride,
    ...; each covers min(window, rest) tokens; a window scores the targets
    not scored by an earlier one; the window reaching the end is the last.
    1 <= stride < window, so that every target has context in its window."""
    assert 1 <= stride < window
    n = len(doc)
    nll = np.full(n - 1, np.nan, dtype=np.float32)
    count = np.zeros(n - 1, dtype=np.int64)
    begin, scored_to = 0, 1        # targets 1 .. scored_to-1 are done
    while True:
        end = min(begin + window, n)
        r = forward(W, cfg, doc[begin:end])
        lp = torch.log_softmax(r["logits"], dim=-1).numpy()
        for p in range(scored_to, end):
            assert p - begin >= (window - stride if begin else 1) >= 1
            nll[p - 1] = -lp[p - 1 - begin, doc[p]]
            count[p - 1] += 1
        scored_to = max(scored_to, end)
        if end == n:
            break
        begin += stride
    assert (count == 1).all()
    return nll


# ------------------------------------------------------------ streams

def f32(t):
    return t.detach().to(torch.float32).contiguous()


def payload(t, code):
    a = t.detach().to(torch.float32).numpy()
    if code == F32:
        return a.astype("<f4").tobytes()
    if code == F64:
        return t.detach().to(torch.float64).numpy().astype("<f8").tobytes()
    if code == F16:
        return a.astype("<f2").tobytes()
    if code == BF16:
        return t.detach().to(torch.bfloat16).view(torch.int16).numpy() \
            .astype("<i2").tobytes()
    raise ValueError(code)


def stored(t, code):
    """t as the stream stores it, back in f32 (what a reader sees)."""
    if code == F16:
        return t.to(torch.float16).to(torch.float32)
    if code == BF16:
        return t.to(torch.bfloat16).to(torch.float32)
    return t.to(torch.float32)


KINDS = {"ln1": ("ln_weight", "ln_bias", "ln1"),
         "ln2": ("ln_weight", "ln_bias", "ln2"),
         "attn.qkv": ("attn_qkv", "bias", "attn_qkv"),
         "attn.out": ("attn_out", "bias", "attn_out"),
         "mlp.in": ("mlp_in", "bias", "mlp_in"),
         "mlp.out": ("mlp_out", "bias", "mlp_out")}


def canonical_names(cfg):
    names = ["tok_emb.weight", "pos_emb.weight"]
    for l in range(cfg["n_layer"]):
        for m in ["ln1", "attn.qkv", "attn.out", "ln2", "mlp.in", "mlp.out"]:
            names += ["layers.%d.%s.weight" % (l, m), "layers.%d.%s.bias" % (l, m)]
    names += ["final_norm.weight", "final_norm.bias"]
    if not cfg["tie_word_embeddings"]:
        names.append("head.weight")
    return names


def attrs_of(name):
    parts = name.split(".")
    param = parts[-1]
    if parts[0] == "layers":
        kw, kb, module = KINDS[".".join(parts[2:-1])]
        return [("kind", kw if param == "weight" else kb), ("module", module),
                ("param", param), ("layer", parts[1])]
    kind = {"tok_emb": "tok_emb", "pos_emb": "pos_emb", "head": "head",
            "final_norm": "ln_" + param}[parts[0]]
    module = "ln_f" if parts[0] == "final_norm" else parts[0]
    return [("kind", kind), ("module", module), ("param", param)]


def config_record(cfg):
    attrs = [("kind", "config"), ("arch", "gpt2")]
    for k in ["n_layer", "n_embd", "n_head", "n_ctx", "n_inner", "vocab_size"]:
        attrs.append((k, str(cfg[k])))
    attrs.append(("layer_norm_epsilon", repr(cfg["layer_norm_epsilon"])))
    attrs.append(("activation", "gelu_new"))
    attrs.append(("tie_word_embeddings",
                  "true" if cfg["tie_word_embeddings"] else "false"))
    return ("config", 6, [0], attrs, b"")


def write_weights(path, cfg, W, codes):
    """W: canonical name -> tensor; codes: name -> dtype code."""
    recs = [config_record(cfg)]
    for name in canonical_names(cfg):
        t = W[name]
        recs.append((name, codes[name], list(t.shape), attrs_of(name),
                     payload(t, codes[name])))
    with open(path, "wb") as f:
        qftref.write_stream(f, recs, shuffle=True)


# ------------------------------------------------------------ HF checkpoints

HF = {"ln_1": "ln1", "ln_2": "ln2", "attn.c_attn": "attn.qkv",
      "attn.c_proj": "attn.out", "mlp.c_fc": "mlp.in", "mlp.c_proj": "mlp.out"}


def from_hf(sd, cfg):
    """A GPT-2 state dict in HF naming -> canonical names, Conv1D weights
    transposed to [out, in]; mask buffers dropped."""
    W = {}
    for k, v in sd.items():
        k = k[len("transformer."):] if k.startswith("transformer.") else k
        if k.endswith(".attn.bias") or k.endswith(".attn.masked_bias"):
            continue
        if k == "wte.weight":
            W["tok_emb.weight"] = v
        elif k == "wpe.weight":
            W["pos_emb.weight"] = v
        elif k.startswith("ln_f."):
            W["final_norm." + k.split(".")[-1]] = v
        elif k == "lm_head.weight":
            if v.data_ptr() != sd.get("transformer.wte.weight", sd.get("wte.weight")).data_ptr():
                W["head.weight"] = v
        else:
            _, l, rest = k.split(".", 2)
            mod, param = rest.rsplit(".", 1)
            if mod not in HF:
                raise SystemExit("unexpected tensor " + k)
            if param == "weight" and mod not in ("ln_1", "ln_2"):
                v = v.T
            W["layers.%s.%s.%s" % (l, HF[mod], param)] = v
    cfg["tie_word_embeddings"] = "head.weight" not in W
    return {k: f32(v) for k, v in W.items()}


def hf_config(path):
    with open(path) as f:
        j = json.load(f)
    return {"n_layer": j["n_layer"], "n_embd": j["n_embd"],
            "n_head": j["n_head"],
            "n_ctx": j.get("n_positions", j.get("n_ctx")),
            "n_inner": j.get("n_inner") or 4 * j["n_embd"],
            "vocab_size": j["vocab_size"],
            "layer_norm_epsilon": j.get("layer_norm_epsilon", 1e-5)}


# ------------------------------------------------------------ random models

def random_model(cfg, seed, codes_of):
    """Random weights with realistic scales, rounded to the dtypes they
    are stored in.  Returns (W as stored, in f32; dtype codes)."""
    g = torch.Generator().manual_seed(seed)
    L, d, V = cfg["n_layer"], cfg["n_embd"], cfg["vocab_size"]
    C, Fi = cfg["n_ctx"], cfg["n_inner"]

    def n(*shape, std=1.0, mean=0.0):
        return torch.randn(*shape, generator=g) * std + mean

    W = {"tok_emb.weight": n(V, d, std=0.3), "pos_emb.weight": n(C, d, std=0.1)}
    for l in range(L):
        p = "layers.%d." % l
        W[p + "ln1.weight"] = n(d, std=0.1, mean=1.0)
        W[p + "ln1.bias"] = n(d, std=0.05)
        W[p + "attn.qkv.weight"] = n(3 * d, d, std=0.25)
        W[p + "attn.qkv.bias"] = n(3 * d, std=0.05)
        W[p + "attn.out.weight"] = n(d, d, std=0.1)
        W[p + "attn.out.bias"] = n(d, std=0.05)
        W[p + "ln2.weight"] = n(d, std=0.1, mean=1.0)
        W[p + "ln2.bias"] = n(d, std=0.05)
        W[p + "mlp.in.weight"] = n(Fi, d, std=0.2)
        W[p + "mlp.in.bias"] = n(Fi, std=0.2)
        W[p + "mlp.out.weight"] = n(d, Fi, std=0.1)
        W[p + "mlp.out.bias"] = n(d, std=0.05)
    W["final_norm.weight"] = n(d, std=0.1, mean=1.0)
    W["final_norm.bias"] = n(d, std=0.05)
    if not cfg["tie_word_embeddings"]:
        W["head.weight"] = n(V, d, std=0.3)
    codes = {k: codes_of(k) for k in W}
    return {k: stored(v, codes[k]) for k, v in W.items()}, codes


def patch_a(layer, site, x):
    """The patches test_model.c applies in its hooks (keep in step)."""
    if layer == 0 and site == "mlp_act":
        x = x.clone()
        x[5:12, 0::3] = 0.0
        return x
    if layer == 1 and site == "resid_pre":
        x = x.clone()
        t = torch.arange(x.shape[0]).view(-1, 1)
        j = torch.arange(x.shape[1]).view(1, -1)
        pat = (((7 * t + 3 * j) % 11) - 5).to(torch.float32) * 0.05
        x[10:20] = 0.5 * x[10:20] + pat[10:20]
        return x
    if layer == 0 and site == "attn":
        x = x.clone()
        T = x.shape[1]
        for i in range(T):
            x[1, i, :i + 1] = 1.0 / (i + 1)
        return x
    if layer == 1 and site == "attn_z":
        x = x.clone()
        x[20:32, 32:48] = 0.0
        return x
    return None


def save(path, r, extra):
    arrays = {"hidden": np.stack([h.numpy() for h in r["hidden"]]),
              "final_norm": r["final_norm"].numpy(),
              "logits": r["logits"].numpy(), "nll": r["nll"].numpy()}
    arrays.update(extra)
    np.savez(path, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})


def fixtures():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)

    # a
    cfg = {"n_layer": 2, "n_embd": 48, "n_head": 3, "n_ctx": 32, "n_inner": 192,
           "vocab_size": 97, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True}

    def codes_a(name):
        if name.endswith("emb.weight"):
            return F32
        if ".ln" in name or name.startswith("final_norm"):
            return F64
        return F16 if name.endswith(".weight") else F32
    W, codes = random_model(cfg, 1234, codes_a)
    write_weights(os.path.join(HERE, "a.qft"), cfg, W, codes)
    tok = rng.integers(0, cfg["vocab_size"], 32).astype(np.int32)
    r = forward(W, cfg, tok)
    extra = {"tokens": tok}
    for (l, s), x in r["sites"].items():
        extra["site_%s_%d" % (s, l)] = x.numpy()
    for l, a in r["attn"].items():
        extra["attn_%d" % l] = a.numpy()
    rp = forward(W, cfg, tok, patch_a)
    extra["patched_logits"] = rp["logits"].numpy()
    extra["patched_nll"] = rp["nll"].numpy()
    doc = rng.integers(0, cfg["vocab_size"], 150).astype(np.int32)
    extra["doc"] = doc
    for w, s in [(32, 12), (20, 19), (32, 1), (32, 31)]:
        extra["win_%d_%d" % (w, s)] = windowed_nll(W, cfg, doc, w, s)
    save(os.path.join(HERE, "a.npz"), r, extra)

    # b
    cfg = {"n_layer": 3, "n_embd": 32, "n_head": 8, "n_ctx": 128, "n_inner": 96,
           "vocab_size": 512, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": False}

    def codes_b(name):
        if name.endswith(".bias") or ".ln" in name or name.startswith("final_norm"):
            return F32
        return BF16
    W, codes = random_model(cfg, 5678, codes_b)
    write_weights(os.path.join(HERE, "b.qft"), cfg, W, codes)
    tok = rng.integers(0, cfg["vocab_size"], 100).astype(np.int32)
    r = forward(W, cfg, tok)
    doc = rng.integers(0, cfg["vocab_size"], 300).astype(np.int32)
    extra = {"tokens": tok, "doc": doc,
             "win_128_50": windowed_nll(W, cfg, doc, 128, 50),
             "win_128_127": windowed_nll(W, cfg, doc, 128, 127)}
    save(os.path.join(HERE, "b.npz"), r, extra)


def hf(model_bin, config_json, out):
    sd = torch.load(model_bin, map_location="cpu")
    cfg = hf_config(config_json)
    W = from_hf(sd, cfg)
    write_weights(out, cfg, W, {k: F32 for k in W})


def main(argv):
    if argv == ["fixtures"]:
        fixtures()
        return 0
    if len(argv) == 4 and argv[0] == "hf":
        hf(*argv[1:])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
