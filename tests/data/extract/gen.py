#!/usr/bin/python3
"""gen.py: the fixtures of tests/qf-extract-weights.bats.

One tiny GPT-2 (2 layers, n_embd 32, 4 heads, n_ctx 16, n_inner 64,
vocab 61, seed
20261128) written by PyTorch's torch.save and by the safetensors and GGUF
writers of tests/data/safetensors/gen.py and tests/data/gguf/gen.py, in
the naming variants found in the wild, and the canonical arrays each must
give (canon.py, PyTorch and numpy only).  Run from anywhere with Debian's
python3:  /usr/bin/python3 tests/data/extract/gen.py
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "safetensors"), os.path.join(HERE, "..", "gguf")]
import gen as st_gen  # noqa: E402  (safetensors writer)
sys.path.pop(0)
del sys.modules["gen"]
import gen as gguf_gen  # noqa: E402  (GGUF writer)
import gen_quants as gq  # noqa: E402
import canon  # noqa: E402

L, D, H, C, V, F = 2, 32, 4, 16, 61, 64
CONFIG = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
          "activation_function": "gelu_new", "n_layer": L, "n_embd": D,
          "n_head": H, "n_positions": C, "n_ctx": C, "vocab_size": V,
          "n_inner": F, "layer_norm_epsilon": 1e-05}


def state(prefix="transformer.", masks=True, tied=True, seed=20261128):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, s=0.02):
        return torch.randn(*shape, generator=g) * s

    sd = {}
    p = prefix
    sd[p + "wte.weight"] = rnd(V, D)
    sd[p + "wpe.weight"] = rnd(C, D, s=0.01)
    for i in range(L):
        h = "%sh.%d." % (p, i)
        sd[h + "ln_1.weight"] = 1 + rnd(D, s=0.1)
        sd[h + "ln_1.bias"] = rnd(D)
        sd[h + "attn.c_attn.weight"] = rnd(D, 3 * D)
        sd[h + "attn.c_attn.bias"] = rnd(3 * D)
        sd[h + "attn.c_proj.weight"] = rnd(D, D)
        sd[h + "attn.c_proj.bias"] = rnd(D)
        sd[h + "ln_2.weight"] = 1 + rnd(D, s=0.1)
        sd[h + "ln_2.bias"] = rnd(D)
        sd[h + "mlp.c_fc.weight"] = rnd(D, F)
        sd[h + "mlp.c_fc.bias"] = rnd(F)
        sd[h + "mlp.c_proj.weight"] = rnd(F, D)
        sd[h + "mlp.c_proj.bias"] = rnd(D)
        if masks:
            sd[h + "attn.bias"] = torch.tril(torch.ones(C, C)).view(1, 1, C, C)
            sd[h + "attn.masked_bias"] = torch.tensor(-1e4)
    sd[p + "ln_f.weight"] = 1 + rnd(D, s=0.1)
    sd[p + "ln_f.bias"] = rnd(D)
    if tied:
        sd["lm_head.weight"] = sd[p + "wte.weight"]      # one storage
    else:
        sd["lm_head.weight"] = rnd(V, D)
    return sd


def out(*parts):
    path = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def save_config(d, **extra):
    with open(out(d, "config.json"), "w") as f:
        json.dump(dict(CONFIG, **extra), f, indent=2)


def plain(sd):
    """GPT2Model-style: no prefix, no head, no masks, for safetensors."""
    return {k[len("transformer."):]: v for k, v in sd.items()
            if k.startswith("transformer.")
            and k.split(".")[-2:] not in (["attn", "bias"], ["attn", "masked_bias"])}


def gguf_name(k):
    top = {"wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight",
           "ln_f.weight": "output_norm.weight", "ln_f.bias": "output_norm.bias"}
    if k in top:
        return top[k]
    i, rest = k[2:].split(".", 1)
    blk = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
           "ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
    mod, par = rest.rsplit(".", 1)
    return "blk.%s.%s.%s" % (i, blk[mod], par)


def write_gguf(path, sd, quant):
    w = gguf_gen.Writer(version=3, alignment=32)
    w.add_kv("general.architecture", gguf_gen.STRING, "gpt2")
    for key, v in (("block_count", L), ("context_length", C), ("embedding_length", D),
                   ("feed_forward_length", F), ("attention.head_count", H)):
        w.add_kv("gpt2." + key, gguf_gen.U32, v)
    w.add_kv("gpt2.attention.layer_norm_epsilon", gguf_gen.F32, 1e-5)
    values = {}
    for k, t in plain(sd).items():
        a = t.numpy()
        if k.endswith(canon.CONV1D):
            a = np.ascontiguousarray(a.T)        # GGUF holds [out, in]
        kind = quant if (a.ndim == 2 and a.shape[-1] % 32 == 0) else gguf_gen.T_F32
        values[k] = w.add_tensor(gguf_name(k), kind, a)
    w.write(path)
    return values


def main():
    torch.manual_seed(0)
    sd = state()
    # a Hugging Face directory: config, torch.save zip with masks and a
    # tied head, and the same weights as safetensors
    save_config("hf")
    torch.save(sd, out("hf", "pytorch_model.bin"))
    st = {k: st_gen.from_torch(v) for k, v in plain(sd).items()}
    st_gen.write(out("hf", "model.safetensors"), st, metadata={"format": "pt"})
    np.savez(out("canon_f32.npz"), **canon.canon(sd))
    # beside config.json at the top: single-file variants
    save_config(".")
    st_gen.write(out("model.safetensors"), st, metadata={"format": "pt"})
    np.savez(out("state.npz"), **{k: v.numpy() for k, v in plain(sd).items()})
    # sharded safetensors
    names = sorted(st)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    save_config("sharded")
    wmap = {}
    for fname, keys in shards.items():
        st_gen.write(out("sharded", fname), {k: st[k] for k in keys})
        wmap.update({k: fname for k in keys})
    with open(out("sharded", "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(len(t.data) for t in st.values())},
                   "weight_map": wmap}, f, indent=2)
    # f16 without the prefix, bf16 with it
    f16 = {k: v.half() for k, v in state(prefix="", masks=False).items()}
    f16["lm_head.weight"] = f16["wte.weight"]
    torch.save(f16, out("plain_f16.pt"))
    np.savez(out("canon_f16.npz"), **canon.canon(f16))
    bf = {k: v.bfloat16() for k, v in sd.items()}
    bf["lm_head.weight"] = bf["transformer.wte.weight"]
    torch.save(bf, out("prefixed_bf16.pt"))
    # GGUF in F32 and with Q8_0 matrices
    write_gguf(out("model-f32.gguf"), sd, gguf_gen.T_F32)
    vals = write_gguf(out("model-q8_0.gguf"), sd, gguf_gen.T_Q8_0)
    want = canon.canon(sd)
    for k, v in vals.items():
        key = [c for c in want if c == canon_key(k)][0]
        want[key] = np.asarray(v, dtype=np.float32).reshape(want[key].shape)
    np.savez(out("canon_q8_0.npz"), **want)
    # an untied head
    un = state(tied=False)
    torch.save(un, out("untied.pt"))
    np.savez(out("canon_untied.npz"), **canon.canon(un))
    # bad ones
    extra = dict(sd)
    extra["transformer.h.0.attn.rotary.weight"] = torch.zeros(4)
    torch.save(extra, out("extra.pt"))
    miss = {k: v for k, v in sd.items() if k != "transformer.h.1.mlp.c_proj.weight"}
    torch.save(miss, out("missing.pt"))
    save_config("badshape", n_embd=48)
    torch.save(sd, out("badshape", "pytorch_model.bin"))


def canon_key(k):
    m = canon.re.fullmatch(r"h\.(\d+)\.(.*)", k)
    if m:
        return "layers.%s.%s" % (m.group(1), canon.BLOCK[m.group(2)])
    return canon.TOP[k]


if __name__ == "__main__":
    main()
