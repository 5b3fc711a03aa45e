#!/usr/bin/python3
"""canon.py CKPT OUT.npz [--dtype f32]: a torch.save GPT-2 checkpoint in
qf's canonical layout (formats/weights.md), computed with PyTorch and
numpy alone, as the oracle for qf-extract: "transformer." stripped, the
attention mask buffers dropped, Conv1D weights transposed to [out, in],
a head that shares the token embedding's storage dropped.  bf16 tensors
are widened to f32 (numpy has no bf16)."""
import re
import sys

import numpy as np
import torch

BLOCK = {
    "ln_1.weight": "ln1.weight", "ln_1.bias": "ln1.bias",
    "attn.c_attn.weight": "attn.qkv.weight", "attn.c_attn.bias": "attn.qkv.bias",
    "attn.c_proj.weight": "attn.out.weight", "attn.c_proj.bias": "attn.out.bias",
    "ln_2.weight": "ln2.weight", "ln_2.bias": "ln2.bias",
    "mlp.c_fc.weight": "mlp.in.weight", "mlp.c_fc.bias": "mlp.in.bias",
    "mlp.c_proj.weight": "mlp.out.weight", "mlp.c_proj.bias": "mlp.out.bias",
}
TOP = {"wte.weight": "tok_emb.weight", "wpe.weight": "pos_emb.weight",
       "ln_f.weight": "final_norm.weight", "ln_f.bias": "final_norm.bias",
       "lm_head.weight": "head.weight"}
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
          "mlp.c_proj.weight")


def canon(sd):
    out = {}
    wte = sd.get("transformer.wte.weight", sd.get("wte.weight"))
    for name, t in sd.items():
        n = name[len("transformer."):] if name.startswith("transformer.") else name
        m = re.fullmatch(r"h\.(\d+)\.(.*)", n)
        if m and m.group(2) in ("attn.bias", "attn.masked_bias"):
            continue
        if n == "lm_head.weight" and t.data_ptr() == wte.data_ptr():
            continue
        if m:
            key = "layers.%s.%s" % (m.group(1), BLOCK[m.group(2)])
            if m.group(2) in CONV1D:
                t = t.t()
        else:
            key = TOP[n]
        if t.dtype == torch.bfloat16:
            t = t.float()
        out[key] = t.contiguous().numpy()
    return out


def main():
    sd = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
    arrs = canon(sd)
    if "--dtype" in sys.argv:
        arrs = {k: v.astype(np.float32) for k, v in arrs.items()}
    np.savez(sys.argv[2], **arrs)


if __name__ == "__main__":
    main()
