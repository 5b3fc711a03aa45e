#!/usr/bin/python3
"""layer-table.py A-stats.tsv B-stats.tsv ...: per layer, the error of each
quantizer on the same tensors - the four linear weights of the block
(attn_qkv, attn_out, mlp_in, mlp_out) - from qf-quantize --stats tensor
rows: relative Frobenius error and SQNR in dB (squared errors and norms
summed over the four), and the largest excess kurtosis among them.  The
layer rows of the stats files are not used because each quantizer pools
different tensors (--compat also hits LayerNorm gains).  The tables are
read by qftsv.py."""
import math
import os
import sys

sys.dont_write_bytecode = True    # no __pycache__ in pipelines/lib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qftsv  # noqa: E402

LINEAR = ("attn_qkv", "attn_out", "mlp_in", "mlp_out")


def per_layer(path):
    out = {}
    for r in qftsv.Table(path).dicts():
        if r["row"] != "tensor" or r["kind"] not in LINEAR:
            continue
        n = float(r["numel"])
        e = out.setdefault(int(r["layer"]), [0.0, 0.0, -math.inf])
        e[0] += float(r["mse"]) * n
        e[1] += n * (float(r["variance"]) + float(r["mean"]) ** 2)
        e[2] = max(e[2], float(r["kurtosis"]))
    return out


tables = [(os.path.basename(p).replace("-stats.tsv", ""), per_layer(p))
          for p in sys.argv[1:]]
head = ["layer"]
for name, _ in tables:
    head += [name + "_rel_fro", name + "_sqnr_db"]
rows = []
for layer in sorted(tables[0][1]):
    row = [str(layer)]
    for _, t in tables:
        err, norm, _ = t[layer]
        row += ["%.4f" % math.sqrt(err / norm), "%.2f" % (10 * math.log10(norm / err))]
    rows.append(row + ["%.3f" % tables[0][1][layer][2]])
sys.stdout.write(qftsv.text(head + ["kurtosis_max"], rows))
