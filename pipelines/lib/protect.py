#!/usr/bin/python3
"""protect.py - the protection sweep's table work (pipelines/protect.mk).

  protect.py merge --key KEY [--sort COLUMN] --order CONFIG,... OUT IN...
      one table from the tables of several groups: the header once, each
      distinct row once (the reference's and 'none''s rows are in every
      group, identical), rows ordered by COLUMN (kept in first-seen
      order) and then by the configuration in KEY, in --order's order
      (others after those, as first seen).
  protect.py configs --layers N STATS OUT
      per configuration: the layers kept in full precision (for qL...,
      every layer of the N but those quantized), and the fraction of the
      quantizable weights (and of all parameters) kept.
  protect.py greedy --by COLUMN --layers N --k K OUT DISP...
      the greedy search after K - 1 rounds: OUT lists the candidates of
      round K (one per line), each the best configuration of round K - 1
      (by COLUMN of scope 'all', lower is better) plus one more layer.
  protect.py missing CANDS DISP...
      the candidates of CANDS that no disparity table DISP scores.
  protect.py greedy-table --by COLUMN --layers N --k K CONFIGS OUT DISP...
      the greedy path, rounds 1..K: the configuration chosen, its figure
      and interval, the fraction of weights kept.

Tables are TSV with a header line, after the provenance line '# qf=...'
of the qf tool that made them (formats/provenance.md), read and written
by qftsv.py; tables whose provenance differs (other than in the tool) are
never merged or compared.  Every file is written whole to a temporary
name and renamed.  Standard library only.
"""
import argparse
import os
import sys

sys.dont_write_bytecode = True    # no __pycache__ in pipelines/lib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qftsv  # noqa: E402


def die(msg):
    sys.stderr.write("protect.py: %s\n" % msg)
    sys.exit(1)


# each table read (qftsv.Table), by path
READ = {}


def read_tsv(path):
    try:
        t = qftsv.Table(path)
    except OSError as e:
        die("%s: %s" % (path, e.strerror))
    READ[path] = t
    return t


def same_kernels(paths):
    """the provenance of paths' tables (read first), which must agree"""
    try:
        qftsv.same_kernels([READ[p] for p in paths])
    except qftsv.Error as e:
        die("%s; remove the tables made elsewhere and run make again" % e)
    return READ[paths[0]].prov


def layers_of(config):
    """'none' -> [], 'p0-9-11' -> [0, 9, 11] (the layers named)"""
    return [] if config == "none" else [int(x) for x in config[1:].split("-")]


def kept_of(config, n_layers):
    """the layers a configuration keeps in full precision: pL... those
    named, qL... (only those quantized) every other"""
    if config.startswith("q"):
        return [l for l in range(n_layers) if l not in layers_of(config)]
    return layers_of(config)


def config_of(layers):
    return "none" if not layers else "p" + "-".join(str(l) for l in sorted(layers))


def cmd_merge(a):
    order = {c: i for i, c in enumerate(a.order.split(","))}
    tables = [read_tsv(path) for path in a.inputs]
    head = tables[0].head
    seen = set()
    rows = []
    for t in tables:
        if t.head != head:
            die("%s: header differs from %s's" % (t.path, a.inputs[0]))
        for r in t.rows:
            line = "\t".join(r)
            if line not in seen:
                seen.add(line)
                rows.append(r)
    k = tables[0].col(a.key)
    first = {}
    if a.sort:
        s = tables[0].col(a.sort)
        for r in rows:
            first.setdefault(r[s], len(first))
    for r in rows:    # configurations not in --order go last, as first seen
        order.setdefault(r[k], len(order))
    def sortkey(item):
        i, r = item
        return (first[r[s]] if a.sort else 0, order[r[k]], i)
    rows = [r for i, r in sorted(enumerate(rows), key=sortkey)]
    qftsv.write(a.out, head, rows, same_kernels(a.inputs))


LINEAR = {"attn_qkv", "attn_out", "mlp_in", "mlp_out"}


def cmd_configs(a):
    t = read_tsv(a.stats)
    ci, ri, ki, si, ni, fi = (t.col(c) for c in ("config", "row", "kind", "status",
                                                 "numel", "fp_frac_params"))
    per = {}
    for r in t.rows:
        c = r[ci]
        d = per.setdefault(c, {"lin": 0, "lin_kept": 0, "all_frac": None})
        if r[ri] == "tensor" and r[ki] in LINEAR:
            d["lin"] += int(r[ni])
            if r[si] in ("kept", "protected"):
                d["lin_kept"] += int(r[ni])
        elif r[ri] == "total":
            d["all_frac"] = r[fi]
    out = []
    for c, d in per.items():
        if not d["lin"]:
            die("%s: configuration %s quantizes no linear weight" % (a.stats, c))
        ls = kept_of(c, a.layers)
        out.append([c, ",".join(map(str, ls)) or "-", str(len(ls)),
                    "%.6f" % (d["lin_kept"] / d["lin"]), d["all_frac"] or qftsv.NA])
    qftsv.write(a.out, ["config", "protected", "n_protected",
                        "kept_linear_frac", "fp_frac_params"], out, t.prov)


def disparity(paths, by):
    """{config: (value, lo, hi)} for scope 'all' of the disparity tables"""
    res = {}
    for p in paths:
        t = read_tsv(p)
        m, sc, v = t.col("model"), t.col("scope"), t.col(by)
        lo = t.index.get(by + "_lo")
        hi = t.index.get(by + "_hi")
        for r in t.rows:
            if r[sc] == "all":
                res[r[m]] = (r[v], r[lo] if lo is not None else qftsv.NA,
                             r[hi] if hi is not None else qftsv.NA)
    same_kernels(paths)
    return res


def value(x):
    try:
        return float(x)
    except ValueError:
        return float("inf")


def greedy_path(d, n_layers, k):
    """the configurations chosen in rounds 1..k (each needs its candidates)"""
    path = []
    chosen = []
    for r in range(1, k + 1):
        cands = [config_of(chosen + [l]) for l in range(n_layers) if l not in chosen]
        missing = [c for c in cands if c not in d]
        if missing:
            die("round %d: no result for %s" % (r, ", ".join(missing)))
        # lowest figure; ties go to the lower layer numbers (the order above)
        best = min(cands, key=lambda c: value(d[c][0]))
        chosen = layers_of(best)
        path.append(best)
    return path


def cmd_greedy(a):
    d = disparity(a.disp, a.by)
    chosen = layers_of(greedy_path(d, a.layers, a.k - 1)[-1]) if a.k > 1 else []
    cands = [config_of(chosen + [l]) for l in range(a.layers) if l not in chosen]
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join(c + "\n" for c in cands))
    os.replace(tmp, a.out)


def cmd_missing(a):
    d = disparity(a.disp, "mean")
    with open(a.cands) as f:
        for c in f.read().split():
            if c not in d:
                print(c)


def cmd_greedy_table(a):
    d = disparity(a.disp, a.by)
    t = read_tsv(a.configs)
    same_kernels(a.disp + [a.configs])
    kf = t.col("kept_linear_frac")
    frac = {r[0]: r[kf] for r in t.rows}
    out = []
    for r, c in enumerate(greedy_path(d, a.layers, a.k), 1):
        v, lo, hi = d[c]
        out.append([str(r), c, ",".join(map(str, layers_of(c))), v, lo, hi,
                    frac.get(c, qftsv.NA)])
    qftsv.write(a.out, ["k", "config", "protected", a.by, a.by + "_lo",
                        a.by + "_hi", "kept_linear_frac"], out, READ[a.disp[0]].prov)


def main():
    p = argparse.ArgumentParser(prog="protect.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("merge")
    m.add_argument("--key", required=True)
    m.add_argument("--sort")
    m.add_argument("--order", required=True)
    m.add_argument("out")
    m.add_argument("inputs", nargs="+")
    c = sub.add_parser("configs")
    c.add_argument("--layers", type=int, required=True)
    c.add_argument("stats")
    c.add_argument("out")
    for name in ("greedy", "greedy-table"):
        g = sub.add_parser(name)
        g.add_argument("--by", default="mean")
        g.add_argument("--layers", type=int, required=True)
        g.add_argument("--k", type=int, required=True)
        if name == "greedy-table":
            g.add_argument("configs")
        g.add_argument("out")
        g.add_argument("disp", nargs="+")
    x = sub.add_parser("missing")
    x.add_argument("cands")
    x.add_argument("disp", nargs="+")
    a = p.parse_args()
    try:
        {"merge": cmd_merge, "configs": cmd_configs, "greedy": cmd_greedy,
         "greedy-table": cmd_greedy_table, "missing": cmd_missing}[a.cmd](a)
    except qftsv.Error as e:
        die(str(e))


if __name__ == "__main__":
    main()
