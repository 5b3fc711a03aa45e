#!/usr/bin/python3
"""protect.py - the protection sweep's table work (pipelines/protect.mk).

  protect.py merge --key KEY [--sort COLUMN] --order CONFIG,... OUT IN...
      one table from the tables of several groups: the header once, each
      distinct row once (the reference's and 'none''s rows are in every
      group, identical), rows ordered by COLUMN (kept in first-seen
      order) and then by the configuration in KEY, in --order's order
      (others after those, as first seen).
  protect.py configs STATS OUT
      per configuration: the layers kept in full precision and the
      fraction of the quantizable weights (and of all parameters) kept.
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
of the qf tool that made them (formats/provenance.md); tables whose
provenance differs (other than in the tool) are never merged or compared.
Every file is written whole to a temporary name and renamed.  Standard
library only.
"""
import argparse
import os
import sys


def die(msg):
    sys.stderr.write("protect.py: %s\n" % msg)
    sys.exit(1)


# the provenance line of each table read (formats/provenance.md), by path
PROV = {}


def read_tsv(path):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        die("%s: %s" % (path, e.strerror))
    if lines and lines[-1] == "":
        lines.pop()
    PROV[path] = None
    if lines and lines[0].startswith("# qf="):
        PROV[path] = lines.pop(0)[2:]
    if not lines:
        die("%s: empty table" % path)
    head = lines[0].split("\t")
    rows = [l.split("\t") for l in lines[1:]]
    for i, r in enumerate(rows):
        if len(r) != len(head):
            die("%s: line %d: %d columns, the header has %d"
                % (path, i + 2 + (PROV[path] is not None), len(r), len(head)))
    return head, rows


def kernels(prov):
    """a provenance line less the tool: what the figures depend on"""
    if prov is None:
        return "no provenance line"
    return " ".join(w for w in prov.split(" ") if not w.startswith("tool="))


def same_kernels(paths):
    """the provenance of paths' tables (read first), which must agree"""
    first = paths[0]
    for p in paths[1:]:
        if kernels(PROV[p]) != kernels(PROV[first]):
            die("%s: made with '%s', but %s with '%s': tables made with "
                "different kernels do not mix; remove the tables made "
                "elsewhere and run make again"
                % (p, kernels(PROV[p]), first, kernels(PROV[first])))
    return PROV[first]


def write_tsv(path, head, rows, prov=None):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        if prov is not None:
            f.write("# " + prov + "\n")
        f.write("\t".join(head) + "\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    os.replace(tmp, path)


def col(head, name, path):
    try:
        return head.index(name)
    except ValueError:
        die("%s: no column '%s'" % (path, name))


def layers_of(config):
    """'none' -> [], 'p0-9-11' -> [0, 9, 11]"""
    return [] if config == "none" else [int(x) for x in config[1:].split("-")]


def config_of(layers):
    return "none" if not layers else "p" + "-".join(str(l) for l in sorted(layers))


def cmd_merge(a):
    order = {c: i for i, c in enumerate(a.order.split(","))}
    head = None
    seen = set()
    rows = []
    for path in a.inputs:
        h, rs = read_tsv(path)
        if head is None:
            head = h
        elif h != head:
            die("%s: header differs from %s's" % (path, a.inputs[0]))
        for r in rs:
            line = "\t".join(r)
            if line not in seen:
                seen.add(line)
                rows.append(r)
    k = col(head, a.key, a.inputs[0])
    first = {}
    if a.sort:
        s = col(head, a.sort, a.inputs[0])
        for r in rows:
            first.setdefault(r[s], len(first))
    for r in rows:    # configurations not in --order go last, as first seen
        order.setdefault(r[k], len(order))
    def sortkey(item):
        i, r = item
        return (first[r[s]] if a.sort else 0, order[r[k]], i)
    rows = [r for i, r in sorted(enumerate(rows), key=sortkey)]
    write_tsv(a.out, head, rows, same_kernels(a.inputs))


LINEAR = {"attn_qkv", "attn_out", "mlp_in", "mlp_out"}


def cmd_configs(a):
    head, rows = read_tsv(a.stats)
    ci = col(head, "config", a.stats)
    ri = col(head, "row", a.stats)
    ki = col(head, "kind", a.stats)
    si = col(head, "status", a.stats)
    ni = col(head, "numel", a.stats)
    fi = col(head, "fp_frac_params", a.stats)
    per = {}
    for r in rows:
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
        ls = layers_of(c)
        out.append([c, ",".join(map(str, ls)) or "-", str(len(ls)),
                    "%.6f" % (d["lin_kept"] / d["lin"]), d["all_frac"] or "NA"])
    write_tsv(a.out, ["config", "protected", "n_protected",
                      "kept_linear_frac", "fp_frac_params"], out, PROV[a.stats])


def disparity(paths, by):
    """{config: (value, lo, hi)} for scope 'all' of the disparity tables"""
    res = {}
    for p in paths:
        head, rows = read_tsv(p)
        m = col(head, "model", p)
        sc = col(head, "scope", p)
        v = col(head, by, p)
        lo = head.index(by + "_lo") if by + "_lo" in head else None
        hi = head.index(by + "_hi") if by + "_hi" in head else None
        for r in rows:
            if r[sc] == "all":
                res[r[m]] = (r[v], r[lo] if lo is not None else "NA",
                             r[hi] if hi is not None else "NA")
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
    h, rows = read_tsv(a.configs)
    same_kernels(a.disp + [a.configs])
    frac = {r[0]: r[h.index("kept_linear_frac")] for r in rows}
    out = []
    for r, c in enumerate(greedy_path(d, a.layers, a.k), 1):
        v, lo, hi = d[c]
        out.append([str(r), c, ",".join(map(str, layers_of(c))), v, lo, hi,
                    frac.get(c, "NA")])
    write_tsv(a.out, ["k", "config", "protected", a.by, a.by + "_lo",
                      a.by + "_hi", "kept_linear_frac"], out, PROV[a.disp[0]])


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
    {"merge": cmd_merge, "configs": cmd_configs, "greedy": cmd_greedy,
     "greedy-table": cmd_greedy_table, "missing": cmd_missing}[a.cmd](a)


if __name__ == "__main__":
    main()
