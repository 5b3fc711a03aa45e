#!/usr/bin/python3
"""Write demo-weights.npz: GPT-2-shaped tensors (4 layers, width 64) drawn
with numpy from a fixed seed, layer scales growing with depth, plus a few
outliers in the last layer - an input for the placeholder demo until qf
reads real checkpoints.  Usage: make-demo-weights.py OUT.npz"""
import sys

import numpy as np

rng = np.random.default_rng(20261128)
d, layers, vocab = 64, 4, 300
arrs = {"wte": rng.normal(0, 0.02, (vocab, d)), "wpe": rng.normal(0, 0.01, (64, d))}
for i in range(layers):
    s = 0.02 * (1 + i / 2)
    arrs["h.%d.ln_1.weight" % i] = np.ones(d)
    arrs["h.%d.attn.c_attn.weight" % i] = rng.normal(0, s, (d, 3 * d))
    arrs["h.%d.attn.c_proj.weight" % i] = rng.normal(0, s, (d, d))
    arrs["h.%d.mlp.c_fc.weight" % i] = rng.laplace(0, s, (d, 4 * d))
    arrs["h.%d.mlp.c_proj.weight" % i] = rng.normal(0, s, (4 * d, d))
arrs["h.3.mlp.c_fc.weight"][0, :8] = 1.5
np.savez(sys.argv[1], **{k: v.astype(np.float32) for k, v in arrs.items()})
