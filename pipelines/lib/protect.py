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
  protect.py halves OUT TEXT...
      the two halves of the parallel units for cross-fitting: the units of
      the text tables TEXT (TSV, a column 'unit'), grouped by what comes
      before the first '.' of their id (an article's paragraphs and
      heading stay together), the groups dealt in order of size
      (largest first, then first seen) to the half with fewer units
      (A on a tie).  OUT: unit, group, half.
  protect.py greedy --layers N --k K --halves H --col C [--beam B] OUT UNITS...
      the cross-fitted greedy search after K - 1 rounds.  For each half F
      (A, B) of H, a configuration's criterion is its mean damage on F's
      units: the mean over languages of the mean of column C of the
      units tables UNITS (qf-eval --units-out) over the language's units
      in F.  Round 1's candidates are the single layers, round r's the
      best of round r - 1 (lowest criterion; ties to the lower layers)
      plus one more layer, of the B best single layers of F when B > 0.
      OUT lists the candidates of round K of both halves, one per line.
  protect.py missing CANDS UNITS...
      the candidates of CANDS that no units table UNITS scores.
  protect.py greedy-table --layers N --k K --halves H --col C [--beam B] CONFIGS DISP OUT UNITS...
      the greedy paths of both halves, rounds 1..K: the configuration
      chosen, its criterion on the half that chose it, the mean figure
      and interval of the disparity tables DISP on all of the text, and
      the fraction of weights kept.
  protect.py confirm GREEDY OUT DISP_A DISP_B
      the greedy choices scored on each half (DISP_X: the disparity table
      of the pass over half X): per half that chose, configuration,
      half scored (selection or held-out) and figure (mean, tau,
      tau_mean), the estimate and its interval, copied.
  protect.py random --layers N --k K --n R --seed S
      R distinct sets of K layers drawn at random (seeded), as
      configurations pL-L-..., one a line.

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
    """'none' -> [], 'p0-9-11' -> [0, 9, 11] (the layers named); 'chK'
    (salient channels) -> []"""
    return [] if config == "none" or config.startswith("ch") else [int(x) for x in config[1:].split("-")]


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
    chan = t.index.get("chan_kept")
    per = {}
    for r in t.rows:
        c = r[ci]
        d = per.setdefault(c, {"lin": 0, "lin_kept": 0, "all_frac": None})
        if r[ri] == "tensor" and r[ki] in LINEAR:
            d["lin"] += int(r[ni])
            if r[si] in ("kept", "protected"):
                d["lin_kept"] += int(r[ni])
            elif chan is not None and r[chan] != qftsv.NA:
                d["lin_kept"] += int(r[chan])    # its salient input channels
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


def group_of(unit):
    return unit.split(".", 1)[0]


def cmd_halves(a):
    count, first = {}, {}
    units = []
    for path in a.text:
        t = read_tsv(path)
        u = t.col("unit")
        for r in t.rows:
            if r[u] not in first:
                first[r[u]] = len(first)
                units.append(r[u])
                g = group_of(r[u])
                count[g] = count.get(g, 0) + 1
                first.setdefault("\0" + g, len(first))
    if len(count) < 2:
        die("%s: %d group%s of parallel units: two halves need two"
            % (a.text[0], len(count), "" if len(count) == 1 else "s"))
    half, size = {}, {"A": 0, "B": 0}
    for g in sorted(count, key=lambda g: (-count[g], first["\0" + g])):
        h = "A" if size["A"] <= size["B"] else "B"
        half[g] = h
        size[h] += count[g]
    rows = [[u, group_of(u), half[group_of(u)]] for u in units]
    qftsv.write(a.out, ["unit", "group", "half"], rows)


def read_halves(path):
    t = read_tsv(path)
    u, h = t.col("unit"), t.col("half")
    return {r[u]: r[h] for r in t.rows}


def criteria(a):
    """{half: {config: criterion}} from the units tables"""
    halves = read_halves(a.halves)
    sums = {}    # (config, lang, half) -> [sum, n]
    seen = set()
    for path in a.units:
        t = read_tsv(path)
        li, ui, mi, ci = t.col("lang"), t.col("unit"), t.col("model"), t.col(a.col)
        for r, line in zip(t.rows, t.lines):
            if r[ui] not in halves:
                die("%s: line %d: unit %s is in no half of %s" % (path, line, r[ui], a.halves))
            key = (r[mi], r[li], r[ui])
            if key in seen:    # the reference's and none's rows recur
                continue
            seen.add(key)
            try:
                v = float(r[ci])
            except ValueError:
                die("%s: line %d: %s is %s" % (path, line, a.col, r[ci]))
            s = sums.setdefault((r[mi], r[li], halves[r[ui]]), [0.0, 0])
            s[0] += v
            s[1] += 1
    same_kernels(a.units)
    langs = sorted({l for (_, l, _) in sums})
    crit = {"A": {}, "B": {}}
    for c in sorted({c for (c, _, _) in sums}):
        for h in crit:
            per = [sums.get((c, l, h)) for l in langs]
            if any(p is None for p in per):
                die("configuration %s: a language has no unit in half %s" % (c, h))
            crit[h][c] = sum(p[0] / p[1] for p in per) / len(per)
    return crit


def greedy_path(crit, n_layers, k, beam):
    """the configurations chosen in rounds 1..k and the candidates of
    round k + 1"""
    allowed = list(range(n_layers))
    path, chosen = [], []
    if beam and beam < n_layers:
        singles = [config_of([l]) for l in allowed]
        missing = [c for c in singles if c not in crit]
        if missing:
            die("the beam needs every single layer scored: no result for %s"
                % ", ".join(missing))
        allowed = sorted(sorted(allowed, key=lambda l: crit[config_of([l])])[:beam])
    for r in range(1, k + 2):
        cands = [config_of(chosen + [l]) for l in allowed if l not in chosen]
        if r == k + 1:
            return path, cands
        missing = [c for c in cands if c not in crit]
        if missing:
            die("round %d: no result for %s" % (r, ", ".join(missing)))
        # lowest criterion; ties go to the lower layer numbers (the order above)
        best = min(cands, key=lambda c: crit[c])
        chosen = layers_of(best)
        path.append(best)


def cmd_greedy(a):
    crit = criteria(a)
    out = []
    for h in ("A", "B"):
        for c in greedy_path(crit[h], a.layers, a.k - 1, a.beam)[1]:
            if c not in out:
                out.append(c)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join(c + "\n" for c in out))
    os.replace(tmp, a.out)


def cmd_missing(a):
    have = set()
    for path in a.units:
        t = read_tsv(path)
        m = t.col("model")
        have.update(r[m] for r in t.rows)
    with open(a.cands) as f:
        for c in f.read().split():
            if c not in have:
                print(c)


def cmd_greedy_table(a):
    crit = criteria(a)
    d = disparity([a.disp], "mean")
    t = read_tsv(a.configs)
    same_kernels([a.disp, a.configs] + a.units)
    kf = t.col("kept_linear_frac")
    frac = {r[0]: r[kf] for r in t.rows}
    out = []
    for h in ("A", "B"):
        for r, c in enumerate(greedy_path(crit[h], a.layers, a.k, a.beam)[0], 1):
            if c not in d:
                die("%s: no row for %s" % (a.disp, c))
            v, lo, hi = d[c]
            out.append([h, str(r), c, ",".join(map(str, layers_of(c))), "%.6g" % crit[h][c],
                        v, lo, hi, frac.get(c, qftsv.NA)])
    qftsv.write(a.out, ["half", "k", "config", "protected", "sel_mean", "mean", "mean_lo",
                        "mean_hi", "kept_linear_frac"], out, READ[a.disp].prov)


CONFIRM_FIGS = ("mean", "tau", "tau_mean")


def cmd_confirm(a):
    g = read_tsv(a.greedy)
    hi_, ki, ci = g.col("half"), g.col("k"), g.col("config")
    final = {}
    for r in g.rows:
        if r[hi_] not in final or int(r[ki]) > int(final[r[hi_]][0]):
            final[r[hi_]] = (r[ki], r[ci])
    disp = {"A": a.disp_a, "B": a.disp_b}
    out = []
    for h in ("A", "B"):
        if h not in final:
            continue
        k, c = final[h]
        for scored in ("A", "B"):
            t = read_tsv(disp[scored])
            m, sc = t.col("model"), t.col("scope")
            row = [r for r in t.rows if r[m] == c and r[sc] == "all"]
            if not row:
                die("%s: no row for %s" % (disp[scored], c))
            cells = []
            for f in CONFIRM_FIGS:
                cells += [row[0][t.col(f)], row[0][t.col(f + "_lo")], row[0][t.col(f + "_hi")]]
            out.append([h, k, c, scored, "selection" if scored == h else "held-out"] + cells)
    same_kernels([a.greedy, a.disp_a, a.disp_b])
    head = ["half", "k", "config", "scored_on", "role"]
    for f in CONFIRM_FIGS:
        head += [f, f + "_lo", f + "_hi"]
    qftsv.write(a.out, head, out, READ[a.disp_a].prov)


def cmd_random(a):
    import random
    rng = random.Random(a.seed)
    seen, out = set(), []
    total = 1
    for i in range(a.k):
        total = total * (a.layers - i) // (i + 1)
    if a.n > total:
        die("%d sets of %d of %d layers asked for; there are %d" % (a.n, a.k, a.layers, total))
    while len(out) < a.n:
        c = config_of(rng.sample(range(a.layers), a.k))
        if c not in seen:
            seen.add(c)
            out.append(c)
    print("\n".join(out))


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
    h = sub.add_parser("halves")
    h.add_argument("out")
    h.add_argument("text", nargs="+")
    for name in ("greedy", "greedy-table"):
        g = sub.add_parser(name)
        g.add_argument("--layers", type=int, required=True)
        g.add_argument("--k", type=int, required=True)
        g.add_argument("--halves", required=True)
        g.add_argument("--col", required=True)
        g.add_argument("--beam", type=int, default=0)
        if name == "greedy-table":
            g.add_argument("configs")
            g.add_argument("disp")
        g.add_argument("out")
        g.add_argument("units", nargs="+")
    x = sub.add_parser("missing")
    x.add_argument("cands")
    x.add_argument("units", nargs="+")
    f = sub.add_parser("confirm")
    f.add_argument("greedy")
    f.add_argument("out")
    f.add_argument("disp_a")
    f.add_argument("disp_b")
    r = sub.add_parser("random")
    r.add_argument("--layers", type=int, required=True)
    r.add_argument("--k", type=int, required=True)
    r.add_argument("--n", type=int, required=True)
    r.add_argument("--seed", type=int, required=True)
    a = p.parse_args()
    try:
        {"merge": cmd_merge, "configs": cmd_configs, "halves": cmd_halves,
         "greedy": cmd_greedy, "greedy-table": cmd_greedy_table, "missing": cmd_missing,
         "confirm": cmd_confirm, "random": cmd_random}[a.cmd](a)
    except qftsv.Error as e:
        die(str(e))


if __name__ == "__main__":
    main()
