#!/usr/bin/python3
"""Write demo-weights.npz: a GPT-2-shaped state dict in Hugging Face's
names (4 layers, width 64, vocabulary 300) drawn with numpy from a fixed
seed: weight scales growing with depth, Laplace-tailed MLP inputs and a
few outliers in the last layer - an input for the demo until qf trains
its default model.  Usage: make-demo-weights.py OUT.npz"""
import sys

import numpy as np

rng = np.random.default_rng(20261128)
d, layers, vocab, ctx = 64, 4, 300, 64
arrs = {"wte.weight": rng.normal(0, 0.02, (vocab, d)),
        "wpe.weight": rng.normal(0, 0.01, (ctx, d))}
for i in range(layers):
    s = 0.02 * (1 + i / 2)
    h = "h.%d." % i
    arrs[h + "ln_1.weight"] = 1 + rng.normal(0, 0.05, d)
    arrs[h + "ln_1.bias"] = rng.normal(0, 0.01, d)
    arrs[h + "attn.c_attn.weight"] = rng.normal(0, s, (d, 3 * d))
    arrs[h + "attn.c_attn.bias"] = rng.normal(0, 0.01, 3 * d)
    arrs[h + "attn.c_proj.weight"] = rng.normal(0, s, (d, d))
    arrs[h + "attn.c_proj.bias"] = rng.normal(0, 0.01, d)
    arrs[h + "ln_2.weight"] = 1 + rng.normal(0, 0.05, d)
    arrs[h + "ln_2.bias"] = rng.normal(0, 0.01, d)
    arrs[h + "mlp.c_fc.weight"] = rng.laplace(0, s, (d, 4 * d))
    arrs[h + "mlp.c_fc.bias"] = rng.normal(0, 0.01, 4 * d)
    arrs[h + "mlp.c_proj.weight"] = rng.normal(0, s, (4 * d, d))
    arrs[h + "mlp.c_proj.bias"] = rng.normal(0, 0.01, d)
arrs["h.3.mlp.c_fc.weight"][0, :8] = 1.5
arrs["ln_f.weight"] = 1 + rng.normal(0, 0.05, d)
arrs["ln_f.bias"] = rng.normal(0, 0.01, d)
np.savez(sys.argv[1], **{k: v.astype(np.float32) for k, v in arrs.items()})
