#!/usr/bin/python3
"""verdicts.py - the earlier study's six claims, decided from a sweep's
tables (pipelines/protect.mk; issue 22; docs/pipelines.md, "Verdicts").

  verdicts.py sweep OUTDIR [--earlier F,M,L]
      OUTDIR/verdicts.tsv: per claim and method (proper: qf's; compat:
      the earlier study's), the figure and scale read, the earlier
      study's number, qf's estimate and 95% interval as read from the
      qf-eval and qf-fit tables of OUTDIR (the source column names the
      table and row), the rule and the verdict: holds, does not hold,
      cannot tell.
  verdicts.py across OUT NAME=VERDICTS...
      OUT: one row per claim and method over several models' verdicts
      tables: the verdict on each model, and across them: holds when it
      holds on every model, does not hold when it does not hold on one,
      cannot tell otherwise.

Nothing is estimated here: every number is a cell of a qf-eval or qf-fit
table (a log-scale contrast shown as exp of its estimate and interval,
a ratio); the rules compare those cells with the claimed values.
Standard library only.
"""
import argparse
import math
import os
import sys

sys.dont_write_bytecode = True    # no __pycache__ in pipelines/lib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qftsv  # noqa: E402

NA = qftsv.NA
HOLDS, FAILS, CANNOT = "holds", "does not hold", "cannot tell"

# the disparity figure each method's claims 1-3 are read on: qf's, the
# between-language SD over the mean with the noise of each language's
# estimate taken out (tau_mean); the earlier study's, the coefficient of
# variation of its per-language degradation (one paragraph each: no
# noise to take out, no interval)
FIGURE = {"proper": "tau_mean", "compat": "cv"}
# claim 6's equivalence margin: |Spearman's rho| below it is "no
# prediction"
MARGIN = 0.3
# claim 5's claimed ratio of benefits
RICH_RATIO = 9.7

# the claims: number, short text, the earlier study's number(s)
CLAIMS = [
    ("1", "keeping layers F, M, L reduces disparity to 0.59x of quantizing every layer"),
    ("2", "layer F alone 3.6x, layer L alone 336x (harmful), F and L together 0.7x: a synergy"),
    ("3", "layer M is a consolidation point: adding it to F and L takes 0.7x to 0.59x"),
    ("4", "a layer's weight variance predicts its criticality: "
          "log(disparity) = 4.76 - 2.22 z(variance), R2 0.936"),
    ("5", "morphologically rich languages benefit 9.7x more from keeping F, M, L"),
    ("6", "token fertility does not predict a language's degradation"),
]


def die(msg):
    sys.stderr.write("verdicts.py: %s\n" % msg)
    sys.exit(1)


def num(x):
    try:
        v = float(x)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def g4(x):
    return NA if x is None else "%.4g" % x


class Tables:
    """the tables of a sweep, read once each"""

    def __init__(self, outdir):
        self.outdir = outdir
        self.read = {}

    def get(self, rel):
        path = os.path.join(self.outdir, rel)
        if rel not in self.read:
            try:
                self.read[rel] = qftsv.Table(path)
            except OSError as e:
                die("%s: %s" % (path, (e.strerror or "error").lower()))
        return self.read[rel]

    def has(self, rel):
        return os.path.exists(os.path.join(self.outdir, rel))


def contrast(tb, method, name, figure, scale, scope="all"):
    """(est, lo, hi, source) of a contrast of METHOD's contrasts table"""
    rel = "%s/contrasts.tsv" % method
    t = tb.get(rel)
    for c in ("scope", "contrast", "figure", "scale", "est", "lo", "hi"):
        t.need(c)
    ix = t.index
    for r, line in zip(t.rows, t.lines):
        if (r[ix["scope"]], r[ix["contrast"]], r[ix["figure"]], r[ix["scale"]]) == \
                (scope, name, figure, scale):
            return (num(r[ix["est"]]), num(r[ix["lo"]]), num(r[ix["hi"]]),
                    "%s:%d" % (rel, line))
    return None


def alternatives(tb, method, figure):
    """the contrasts mid_vs_X (M against X in its place) of the log scale,
    scope all, with their simultaneous intervals: (est, sim_lo, sim_hi,
    source)"""
    rel = "%s/contrasts.tsv" % method
    t = tb.get(rel)
    ix = t.index
    out = []
    for r, line in zip(t.rows, t.lines):
        if r[ix["scope"]] == "all" and r[ix["contrast"]].startswith("mid_vs_") and \
                r[ix["figure"]] == figure and r[ix["scale"]] == "log":
            lo, hi = (num(r[ix["sim_lo"]]), num(r[ix["sim_hi"]])) if "sim_lo" in ix else (None, None)
            out.append((num(r[ix["est"]]), lo, hi, "%s:%d (%s)" % (rel, line, r[ix["contrast"]])))
    return out


def ratio(c):
    """a log-scale contrast as a ratio: exp of estimate and interval"""
    if c is None:
        return None
    e, lo, hi, src = c
    f = lambda x: None if x is None else math.exp(x)
    return f(e), f(lo), f(hi), src


def side(lo, hi, null):
    """+1: the interval lies above null, -1: below, 0: covers it (or none)"""
    if lo is None or hi is None:
        return 0
    return 1 if lo > null else -1 if hi < null else 0


def row(claim, part, method, figure, scale, earlier, est, rule, verdict):
    e, lo, hi, src = est if est else (None, None, None, NA)
    return [claim, part, method, figure, scale, earlier, g4(e), g4(lo), g4(hi),
            verdict, rule, src]


def claim_ratio(tb, method, name, claimed):
    """a ratio with its claimed value: holds when the interval lies below 1
    and holds the claimed value, does not hold when it leaves the claimed
    value out"""
    c = ratio(contrast(tb, method, name, FIGURE[method], "log"))
    if c is None or c[1] is None:
        return c, CANNOT
    _, lo, hi, _ = c
    if not lo <= claimed <= hi:
        return c, FAILS
    return c, HOLDS if hi < 1 else CANNOT


def sweep_rows(tb, method):
    fig = FIGURE[method]
    out = []
    rule_q = "the ratio's 95% interval lies below 1 and holds the claimed value: holds; " \
             "it leaves the claimed value out: does not hold; else cannot tell"
    # claim 1
    c, v = claim_ratio(tb, method, "keep_earlier", 0.59)
    out.append(row("1", "keep F,M,L / none", method, fig, "ratio", "0.59", c, rule_q, v))
    # claim 2: layer L alone harmful, and the interaction of F and L
    first = ratio(contrast(tb, method, "keep_first", fig, "log"))
    last = ratio(contrast(tb, method, "keep_last", fig, "log"))
    pair = ratio(contrast(tb, method, "keep_first_last", fig, "log"))
    syn = ratio(contrast(tb, method, "synergy", fig, "log"))
    rule2 = "L alone above 1 (harmful) and the interaction below 1 (synergy), each by its " \
            "95% interval: holds; either interval on the other side: does not hold; else cannot tell"
    if last and syn and last[1] is not None and syn[1] is not None:
        sl, ss = side(last[1], last[2], 1), side(syn[1], syn[2], 1)
        v2 = HOLDS if (sl > 0 and ss < 0) else FAILS if (sl < 0 or ss > 0) else CANNOT
    else:
        v2 = CANNOT
    out.append(row("2", "keep F / none", method, fig, "ratio", "3.6", first, rule2, ""))
    out.append(row("2", "keep L / none", method, fig, "ratio", "336", last, rule2, ""))
    out.append(row("2", "keep F,L / none", method, fig, "ratio", "0.7", pair, rule2, ""))
    out.append(row("2", "interaction (F,L)(none) / (F)(L)", method, fig, "ratio",
                   "%.3g" % (0.7 / (3.6 * 336)), syn, rule2, v2))
    # claim 3: adding M, and (ALT_MIDDLE) every other layer in its place
    c3 = ratio(contrast(tb, method, "add_middle", fig, "log"))
    alts = [ratio(c) for c in alternatives(tb, method, fig)]
    if alts:
        rule3 = "adding M: the ratio's 95% interval below 1, and no other layer in M's place " \
                "better by its simultaneous interval (M against X above 1): holds; the ratio's " \
                "interval above 1, or another layer better: does not hold; else cannot tell"
    else:
        rule3 = "adding M: the ratio's 95% interval below 1: holds; above 1: does not hold; " \
                "else cannot tell (a necessary condition: other layers are not tried in its place)"
    if c3 is None or c3[1] is None:
        v3 = CANNOT
    else:
        s3 = side(c3[1], c3[2], 1)
        beaten = any(a[1] is not None and a[1] > 1 for a in alts)
        v3 = FAILS if (s3 > 0 or beaten) else HOLDS if s3 < 0 else CANNOT
    out.append(row("3", "keep F,M,L / keep F,L", method, fig, "ratio",
                   "%.3g" % (0.59 / 0.7), c3, rule3, "" if alts else v3))
    if alts:
        # the strongest rival: the largest ratio of M's configuration to X's
        best = max(alts, key=lambda a: -math.inf if a[0] is None else a[0])
        out.append(row("3", "keep F,M,L / keep F,X,L, the closest other X (simultaneous)",
                       method, fig, "ratio", "<1", best, rule3, v3))
    # claim 4: qf-fit lm 'log(METHOD_mean) ~ z(variance)'
    rule4 = "the slope's 95% interval below 0 and leave-one-layer-out R2 above 0: holds; " \
            "the slope's interval above 0, or R2 out of sample at most 0: does not hold; " \
            "else cannot tell"
    coef_rel, model_rel = "fit/earlier-%s.coef.tsv" % method, "fit/earlier-%s.model.tsv" % method
    slope = loo = r2 = None
    if tb.has(coef_rel) and tb.has(model_rel):
        t = tb.get(coef_rel)
        for r, line in zip(t.rows, t.lines):
            if r[t.col("term")] == "z(variance)":
                slope = (num(r[t.col("estimate")]), num(r[t.col("ci_low")]),
                         num(r[t.col("ci_high")]), "%s:%d" % (coef_rel, line))
        m = tb.get(model_rel)
        if m.rows:
            r = m.rows[0]
            loo = (num(r[m.col("r2_loo")]), None, None, "%s:%d" % (model_rel, m.lines[0]))
            r2 = (num(r[m.col("r2")]), None, None, "%s:%d" % (model_rel, m.lines[0]))
    if slope and loo and slope[1] is not None and loo[0] is not None:
        s4 = side(slope[1], slope[2], 0)
        v4 = HOLDS if (s4 < 0 and loo[0] > 0) else FAILS if (s4 > 0 or loo[0] <= 0) else CANNOT
    else:
        v4 = CANNOT
    out.append(row("4", "slope of z(variance)", method, "log(mean) with L kept", "lm",
                   "-2.22", slope, rule4, ""))
    out.append(row("4", "R2 in sample", method, "log(mean) with L kept", "lm", "0.936",
                   r2 if slope else None, rule4, ""))
    out.append(row("4", "R2 leave one layer out", method, "log(mean) with L kept", "lm",
                   NA, loo, rule4, v4))
    # claim 5: cross-scope contrasts of the mean (benefit = none - keep)
    more = contrast(tb, method, "rich_more", "mean", "diff", "rich+other")
    times = contrast(tb, method, "rich_times", "mean", "diff", "rich+other")
    rule5 = "rich minus other benefit above 0 and rich minus %g x other's interval holding 0: " \
            "holds; the first below 0 or the second leaving 0 out: does not hold; else " \
            "cannot tell" % RICH_RATIO
    if more and times and more[1] is not None and times[1] is not None:
        sm, st = side(more[1], more[2], 0), side(times[1], times[2], 0)
        v5 = HOLDS if (sm > 0 and st == 0) else FAILS if (sm < 0 or st != 0) else CANNOT
    else:
        v5 = CANNOT
    out.append(row("5", "benefit rich - benefit other", method, "mean", "diff", ">0", more,
                   rule5, ""))
    out.append(row("5", "benefit rich - %g x benefit other" % RICH_RATIO, method, "mean",
                   "diff", "0", times, rule5, v5))
    # claim 6: qf-fit cor fertility against the damage under none
    rule6 = "Spearman's 95%% interval inside (-%g, %g): holds; leaving 0 out: does not hold; " \
            "else cannot tell" % (MARGIN, MARGIN)
    rel = "fit/fertility.tsv"
    rho = None
    if tb.has(rel):
        t = tb.get(rel)
        for r, line in zip(t.rows, t.lines):
            if r[t.col("x")] == "fertility" and r[t.col("y")] == "%s_none" % method:
                rho = (num(r[t.col("r")]), num(r[t.col("ci_low")]), num(r[t.col("ci_high")]),
                       "%s:%d" % (rel, line))
    if rho and rho[1] is not None:
        v6 = HOLDS if (-MARGIN < rho[1] and rho[2] < MARGIN) else \
            FAILS if side(rho[1], rho[2], 0) else CANNOT
    else:
        v6 = CANNOT
    out.append(row("6", "Spearman fertility, damage under none", method, "per language",
                   "rho", "~0", rho, rule6, v6))
    return out


HEAD = ["claim", "part", "method", "figure", "scale", "earlier", "est", "lo", "hi",
        "verdict", "rule", "source"]


def cmd_sweep(a):
    tb = Tables(a.outdir)
    rows = []
    for method in ("proper", "compat"):
        rows += sweep_rows(tb, method)
    try:
        prov = qftsv.same_kernels(list(tb.read.values()))
    except qftsv.Error as e:
        die(str(e))
    prov = prov.replace(" ", " tool=verdicts ", 1) if prov else None
    qftsv.write(os.path.join(a.outdir, "verdicts.tsv"), HEAD, rows, prov)


def cmd_across(a):
    per = []
    tables = []
    for spec in a.inputs:
        if "=" not in spec:
            die("'%s' is not NAME=VERDICTS" % spec)
        name, path = spec.split("=", 1)
        try:
            t = qftsv.Table(path)
        except OSError as e:
            die("%s: %s" % (path, (e.strerror or "error").lower()))
        except qftsv.Error as e:
            die(str(e))
        tables.append(t)
        v = {}
        for r in t.rows:
            if r[t.col("verdict")]:
                v[(r[t.col("claim")], r[t.col("method")])] = r[t.col("verdict")]
        per.append((name, v))
    keys = []
    for _, v in per:
        for k in v:
            if k not in keys:
                keys.append(k)
    rows = []
    for k in keys:
        vs = [v.get(k, CANNOT) for _, v in per]
        across = HOLDS if all(x == HOLDS for x in vs) else \
            FAILS if any(x == FAILS for x in vs) else CANNOT
        rows.append([k[0], k[1]] + vs + [across,
                     "%d of %d hold, %d do not" % (vs.count(HOLDS), len(vs), vs.count(FAILS))])
    try:
        prov = qftsv.same_kernels(tables)
    except qftsv.Error as e:
        die(str(e))
    qftsv.write(a.out, ["claim", "method"] + [n for n, _ in per] + ["across", "count"],
                rows, prov.replace(" ", " tool=verdicts ", 1) if prov else None)


def main():
    p = argparse.ArgumentParser(prog="verdicts.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sweep")
    s.add_argument("outdir")
    x = sub.add_parser("across")
    x.add_argument("out")
    x.add_argument("inputs", nargs="+")
    a = p.parse_args()
    try:
        {"sweep": cmd_sweep, "across": cmd_across}[a.cmd](a)
    except qftsv.Error as e:
        die(str(e))


if __name__ == "__main__":
    main()
