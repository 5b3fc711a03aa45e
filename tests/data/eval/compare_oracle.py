#!/usr/bin/python3
"""compare_oracle.py - qf-eval's comparison table (--compare; docs/eval.md,
"Comparing configurations") written again in numpy, to check qf-eval.

The figures and their paired bootstrap replicates come from oracle.py
(imported, not changed: its own forward pass, draws and figures); the
comparison over them is written here from docs/eval.md alone: the
simultaneous max-T intervals, the ranks and the best, the paired
differences with their max-T intervals, the bootstrap p-values, Holm's
adjustment, the best set and the status.

Run with Debian's python3 (numpy, torch):

  compare_oracle.py check [QF-EVAL OPTIONS] --compare FILE TOKENS...
      recompute the table `qf-eval [QF-EVAL OPTIONS] --compare FILE
      TOKENS...` must write and compare it with FILE, cell by cell;
      prints every difference and exits 1 if there is one, else "ok"
  compare_oracle.py min-den [QF-EVAL OPTIONS] TOKENS...
      print a --min-den that leaves the estimate of max_min in scope all
      a value for every test model but makes some replicates' NA
  compare_oracle.py rounded QMAX OUT
      tests/data/model/a.qft with every linear weight row rounded to
      2 QMAX + 1 levels (gen_eval.py's q11 and q7 are QMAX 5 and 3): a
      further test model
  compare_oracle.py coverage [NSIM [B]]
      the method on simulated data with known truth (10 models, 80
      paired units): the simultaneous intervals must cover every model's
      true value at once in 90-99% of NSIM datasets, where per-model 95%
      percentile intervals do so far less often, and the best set must
      hold the truly best model in at least 93%.  Measured (1000
      datasets, B 500): 0.928 with 80 units, 0.94 with 160 and 320; with
      fewer units the intervals are too narrow: 0.90 with 40, 0.86 with
      24.  Per-model intervals: 0.47-0.59.  The best set held the best in
      99.5-100%.

Tolerances: those of oracle.py (ORACLE_RTOL, ORACLE_ATOL).  A count
that decides a value (a p-value's replicates at least as far out as the
estimate, the sign of diff_lo in in_best_set, the order of two estimates
for rank and best) may differ when a replicate or estimate lies within
the tolerance of the boundary: then every value the tolerance allows is
accepted, and a note is printed.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402

# docs/eval.md: the figures compared, in the table's order
FIGS = ["mean", "range", "max_min", "cv", "tau", "tau_mean", "max"]
COLS = ["scope", "figure", "model", "est", "se", "lo", "hi", "rank", "best",
        "diff", "diff_lo", "diff_hi", "p", "p_holm", "in_best_set", "status"]
WHY = {oracle.NA.LE0: "den<=0", oracle.NA.MIN: "den<=min",
       oracle.NA.NOISE: "noise NA"}


# ------------------------------------------------------------ the method

def maxt(R, est, skip=None):
    """Simultaneous 95% intervals from replicates R [B, T] around est [T]:
    (se, lo, hi), each [T]; model skip (an index) has NaN.  A model whose
    replicates do not vary has [est, est] and no part in the maximum."""
    B, T = R.shape
    keep = np.ones(T, bool)
    if skip is not None:
        keep[skip] = False
    se = np.full(T, np.nan)
    se[keep] = R[:, keep].std(axis=0, ddof=1)
    var = keep & (se > 0)
    lo, hi = np.full(T, np.nan), np.full(T, np.nan)
    lo[keep] = hi[keep] = est[keep]
    if var.any():
        t = np.abs(R[:, var] - est[var]) / se[var]
        c = np.percentile(t.max(axis=1), 95)
        lo[var] = est[var] - c * se[var]
        hi[var] = est[var] + c * se[var]
    return se, lo, hi


def ranks(est):
    """1 = the lowest; ties in command-line order."""
    order = np.lexsort((np.arange(len(est)), est))
    r = np.empty(len(est), int)
    r[order] = np.arange(1, len(est) + 1)
    return r


def holm(p):
    """Holm's adjustment of the p-values p (a list), in their order."""
    p = np.asarray(p, float)
    order = np.argsort(p, kind="stable")
    K = len(p)
    adj = np.maximum.accumulate((K - np.arange(K)) * p[order])
    out = np.empty(K)
    out[order] = np.minimum(adj, 1.0)
    return out


def compare(est, R):
    """Every column of one scope and figure, models in order: est [T]
    (no NaN), R [B, T] (no NaN, B >= 2).  Returns a dict of arrays."""
    T = len(est)
    r = ranks(est)
    best = int(np.argmin(r))
    se, lo, hi = maxt(R, est)
    D = R - R[:, [best]]
    d = est - est[best]
    _, dlo, dhi = maxt(D, d, skip=best)
    cnt = (np.abs(D - d) >= np.abs(d)).sum(axis=0)
    p = (1.0 + cnt) / (R.shape[0] + 1.0)
    p[best] = np.nan
    others = [m for m in range(T) if m != best]
    ph = np.full(T, np.nan)
    if others:
        ph[others] = holm(p[others])
    inset = np.array([1 if m == best else int(dlo[m] <= 0) for m in range(T)])
    return dict(rank=r, best=best, se=se, lo=lo, hi=hi, diff=d, dlo=dlo,
                dhi=dhi, p=p, ph=ph, inset=inset, D=D)


# ------------------------------------------------------------ expected table

def replicates(argv):
    """oracle.py's run(), up to the disparity figures and replicates."""
    o, names, _, _, data = oracle.prepare(argv)
    table = o["table"]
    scopes, _, est_disp, _, rep_disp, _ = oracle.evaluate(data, o, len(names),
                                                          names, table)
    return o, names, scopes, est_disp, rep_disp


def why_na(o, f, fig):
    """Why a model's estimate is NA, as the status names it."""
    reason = f[fig][1]
    if reason in WHY:
        return WHY[reason]
    if reason == oracle.NA.NOVALUE:
        return "%s NA in %s" % (o["measure"], f["novalue"])
    return "NA"


def group_rows(o, names, scope, fig, est_disp, rep_disp):
    """The rows of one scope and figure: dicts column -> expected value
    (None: NA), with the data the tolerant checks need under "_"."""
    T, B = len(names) - 1, o["bootstrap"]
    fs = [est_disp[(m, scope)] for m in range(1, T + 1)]
    est = [f[fig][0] for f in fs]
    rows = [{"scope": scope, "figure": fig, "model": names[m + 1],
             "est": est[m]} for m in range(T)]
    infer = ["se", "lo", "hi", "diff_lo", "diff_hi", "p", "p_holm",
             "in_best_set"]
    if any(e is None for e in est):
        st = ";".join("%s:%s" % (names[m + 1], why_na(o, fs[m], fig))
                      for m in range(T) if est[m] is None)
        for r in rows:
            r.update({c: None for c in infer + ["rank", "best", "diff"]})
            r["status"] = st
        return rows
    est = np.array(est, float)
    r_ = ranks(est)
    best = int(np.argmin(r_))
    R = np.array([[rep_disp[b][(m, scope)][fig][0] for m in range(1, T + 1)]
                  for b in range(B)], dtype=object)
    R = np.where(R == None, np.nan, R).astype(float) if B else np.zeros((0, T))  # noqa: E711
    bad = int(np.isnan(R).any(axis=1).sum())
    st = "no bootstrap" if B == 0 else "one replicate" if B == 1 else \
        "ci %d/%d" % (bad, B) if bad else "ok"
    for m, r in enumerate(rows):
        r.update({"rank": int(r_[m]), "best": names[best + 1],
                  "diff": float(est[m] - est[best]), "status": st})
        r.update({c: None for c in infer})
        r["_"] = {"est": est, "m": m}
    if st != "ok":
        return rows
    c = compare(est, R)
    for m, r in enumerate(rows):
        isb = m == best
        r.update({"se": c["se"][m], "lo": c["lo"][m], "hi": c["hi"][m],
                  "diff_lo": None if isb else c["dlo"][m],
                  "diff_hi": None if isb else c["dhi"][m],
                  "p": None if isb else c["p"][m],
                  "p_holm": None if isb else c["ph"][m],
                  "in_best_set": int(c["inset"][m])})
        r["_"].update(D=c["D"][:, m], d=c["diff"][m], B=B, best=isb)
    return rows


def expected(argv):
    o, names, scopes, est_disp, rep_disp = replicates(argv)
    groups = []
    for scope, _ in scopes:
        for fig in FIGS:
            groups.append(group_rows(o, names, scope, fig, est_disp, rep_disp))
    return groups


# ------------------------------------------------------------ comparison

def tol(x):
    return oracle.RTOL * abs(x) + oracle.ATOL


def near_tie(est):
    """Two estimates that differ, but within the tolerance."""
    e = np.sort(est)
    return any(0 < b - a <= tol(b) for a, b in zip(e, e[1:]))


def check_p(where, got, x, errs, notes):
    """A p-value: every count the tolerance allows."""
    if got == "NA":
        errs.append("%s p: got NA" % where)
        return None
    D, d, B = x["D"], x["d"], x["B"]
    dev = np.abs(D - d)
    lo = int((dev >= abs(d) + tol(d)).sum()) if d else B    # |x| >= 0
    hi = int((dev >= abs(d) - tol(d)).sum()) if d else B
    ok = [(1.0 + k) / (B + 1.0) for k in range(lo, hi + 1)]
    g = float(got)
    if not any(oracle.close(g, w) for w in ok):
        errs.append("%s p: got %s, expected %s" % (where, got,
                    " or ".join("%.6g" % w for w in ok)))
    elif hi > lo:
        notes.append("%s p: a replicate within rounding of |diff|" % where)
    return g


def check_group(rows, got, errs, notes):
    """One scope and figure: the rows' cells, tolerant where the spec's
    counts and orders may turn on rounding."""
    tied = "_" in rows[0] and near_tie(rows[0]["_"]["est"])
    if tied:
        notes.append("%s/%s: estimates within rounding of each other: rank, "
                     "best and what depends on them not checked"
                     % (rows[0]["scope"], rows[0]["figure"]))
    ps, wh = [], []
    for w, g in zip(rows, got):
        where = "%s/%s/%s" % (w["scope"], w["figure"], w["model"])
        x = w.get("_")
        for c in COLS[3:]:
            if tied and c not in ("est", "se", "lo", "hi", "status"):
                continue
            if c in ("rank", "best", "in_best_set", "status"):
                want = w[c] if w[c] is not None else "NA"
                if c == "in_best_set" and x and "D" in x and not x["best"] \
                        and w["diff_lo"] != 0 \
                        and abs(w["diff_lo"]) <= tol(w["diff"]):
                    notes.append("%s: diff_lo within rounding of 0" % where)
                    want = ("any", ["0", "1"])
                oracle.compare_cell(where, c, g[c], want if isinstance(want, tuple)
                                    else str(want), errs)
            elif c == "p" and w[c] is not None:
                ps.append(check_p(where, g[c], x, errs, notes))
                wh.append((where, g["p_holm"]))
            elif c == "p_holm" and w[c] is not None:
                pass    # below: Holm of the p-values accepted
            else:
                oracle.compare_cell(where, c, g[c], w[c], errs)
    if ps and None not in ps and not tied:
        for (where, got), want in zip(wh, holm(ps)):
            oracle.compare_cell(where, "p_holm", got, float(want), errs)


def check_table(path, cols, keys, groups, check):
    """Table path against groups (lists of expected rows, in order):
    the header cols, the rows' keys, then each group with check(rows,
    got, errs, notes); prints the notes and the differences, returns 0
    when there are none."""
    head, got, errs = oracle.read_tsv(path)
    notes = []
    if head is not None and head != cols:
        errs.append("%s: header %s, expected %s" % (path, head, cols))
    elif head is not None:
        want = [r for g in groups for r in g]
        gk = [tuple(r[k] for k in keys) for r in got]
        wk = [tuple(r[k] for k in keys) for r in want]
        if gk != wk:
            errs.append("%s: rows %s, expected %s" % (path, gk, wk))
        else:
            i = 0
            for g in groups:
                check(g, got[i:i + len(g)], errs, notes)
                i += len(g)
    for n in notes[:10]:
        print("note: " + n)
    return oracle.report(errs)


def cmd_check(argv):
    path = None
    rest = []
    it = iter(argv)
    for a in it:
        if a == "--compare":
            path = next(it)
        else:
            rest.append(a)
    assert path, "check wants --compare FILE"
    return check_table(path, COLS, ("scope", "figure", "model"),
                       expected(rest), check_group)


# ------------------------------------------------------------ coverage

def coverage(nsim, B, seed=20, N=80):
    """Simulated paired data with known truth: T models measured on the
    same N units; unit u's value for model m is mu_m + a_u + e_mu, with a
    shared unit effect a_u ~ N(0, 0.3^2) and e_mu ~ N(0, s_m^2), s_m
    from 0.5 to 1.5 (the models differ in spread, so se matters); the
    figure is the mean over units.  Units are resampled jointly for
    every model, as qf-eval's replicates are paired."""
    T = 10
    rng = np.random.default_rng(seed)
    mu = np.array([0.0, 0.12, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6])
    s = np.linspace(0.5, 1.5, T)
    sim_ok = per_ok = best_in = 0
    size = 0.0
    for _ in range(nsim):
        x = mu[:, None] + rng.normal(0, 0.3, N)[None, :] + \
            rng.normal(0, 1, (T, N)) * s[:, None]
        est = x.mean(axis=1)
        idx = rng.integers(0, N, (B, N))
        R = x[:, idx].mean(axis=2).T            # [B, T]
        c = compare(est, R)
        sim_ok += bool(np.all((c["lo"] <= mu) & (mu <= c["hi"])))
        plo, phi = np.percentile(R, [2.5, 97.5], axis=0)
        per_ok += bool(np.all((plo <= mu) & (mu <= phi)))
        best_in += int(c["inset"][0])
        size += c["inset"].sum()
    return sim_ok / nsim, per_ok / nsim, best_in / nsim, size / nsim


def cmd_coverage(argv):
    nsim = int(argv[0]) if argv else 400
    B = int(argv[1]) if len(argv) > 1 else 500
    sim, per, best, size = coverage(nsim, B)
    print("simultaneous (max-T) coverage of all 10 models: %.3f" % sim)
    print("per-model 95%% percentile intervals, all 10 at once: %.3f" % per)
    print("best set holds the true best: %.3f (mean size %.1f of 10)"
          % (best, size))
    ok = 0.90 <= sim <= 0.99 and per < sim - 0.1 and best >= 0.93
    return 0 if ok else 1


def cmd_min_den(argv):
    """A --min-den below every test model's smallest D in scope all (the
    denominator of max_min) but above it in some replicates, far from
    every replicate's: the estimate of max_min has a value, some
    replicates have none (the status ci K/B)."""
    o, names, _, est_disp, rep_disp = replicates(argv)
    T = len(names) - 1
    e0 = min(est_disp[(m, "all")]["min"][0] for m in range(1, T + 1))
    v = sorted(min(r[(m, "all")]["min"][0] for m in range(1, T + 1))
               for r in rep_disp)
    lo, hi = np.percentile(v, [3, 20])
    gaps = [(b - a, a, b) for a, b in zip(v, v[1:])
            if lo <= a and b <= hi and b < e0 and a > 0]
    g = max(gaps)
    assert g[0] > 1e-5, g
    print("%.9g" % ((g[1] + g[2]) / 2))
    return 0


def main(argv):
    if argv and argv[0] == "check":
        return cmd_check(argv[1:])
    if len(argv) == 3 and argv[0] == "rounded":
        import gen_eval
        gen_eval.write_rounded(argv[2], int(argv[1]))
        return 0
    if argv and argv[0] == "min-den":
        return cmd_min_den(argv[1:])
    if argv and argv[0] == "coverage":
        return cmd_coverage(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
