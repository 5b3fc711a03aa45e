#!/usr/bin/python3
"""contrast_oracle.py - qf-eval's contrasts table (--contrast,
--contrasts; docs/eval.md, "Contrasts of configurations") written again
in numpy, to check qf-eval.

The figures, their paired bootstrap replicates and the jackknife's
leave-out sets come from oracle.py (imported, not changed: its own
forward pass, draws and figures; its jack_stats is wrapped to keep the
leave-out sets it is given); the contrasts over them are written here
from docs/eval.md alone: the terms (a cross-scope contrast's MODEL@SCOPE
too), both scales, the SE, the interval of the method in use
(bootstrap-t with the contrast's own jackknife SEs, BCa with its
acceleration, percentile; tau's moved percentiles), p, Holm's
adjustment, the simultaneous (max-T) intervals and the status.
compare_oracle.py lends its max-T, Holm and tolerant p check.

Run with Debian's python3 (numpy, scipy, torch):

  contrast_oracle.py check [QF-EVAL OPTIONS] --contrast SPEC...
          --contrasts FILE TOKENS...
      recompute the table `qf-eval [QF-EVAL OPTIONS] ...` must write and
      compare it with FILE, cell by cell; prints every difference and
      exits 1 if there is one, else "ok"
  contrast_oracle.py coverage [NSIM [B]]
      the method on simulated paired data with known truth (coverage()):
      each contrast's interval must cover the truth in 90-98% of NSIM
      datasets and the max-T intervals all 3 contrasts at once in
      90-99%, on both scales, where replicates drawn for each
      configuration on its own cover in more than 99% (too wide)

Tolerances: those of oracle.py (ORACLE_RTOL, ORACLE_ATOL); a p-value
whose count turns on a replicate within rounding of the boundary accepts
every count the tolerance allows (compare_oracle.check_p).
"""
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402
import compare_oracle as cmp  # noqa: E402

COLS = ["scope", "contrast", "figure", "scale", "est", "se", "lo", "hi", "p",
        "p_holm", "sim_lo", "sim_hi", "status"]
SCALES = ["diff", "log"]


# ------------------------------------------------------------ the terms

def parse_contrast(spec, tests):
    """NAME=TERMS -> (name, {(model index (1..), scope): coefficient}),
    scope None for a term without @SCOPE (the row's scope), else the
    scope's name: what follows the first '@' (a cross-scope contrast,
    docs/eval.md; model names hold no '@')."""
    name, terms = spec.split("=", 1)
    coef = {}
    for t in terms.split():
        sign = {"+": 1.0, "-": -1.0}[t[0]]
        body, scope = t[1:].split("@", 1) if "@" in t else (t[1:], None)
        c, m = (body.split("*", 1) if "*" in body else ("1", body))
        coef[(tests.index(m) + 1, scope)] = sign * float(c)
    scopes = set(sc for _, sc in coef)
    assert scopes == {None} or None not in scopes
    for sc in scopes:       # within each scope named, they sum to 0
        cs = [c for (_, s), c in coef.items() if s == sc]
        assert abs(sum(cs)) <= 1e-9 * sum(map(abs, cs))
    return name, coef


def is_cross(coef):
    return any(sc is not None for _, sc in coef)


def scope_label(coef):
    """A cross-scope contrast's scope column: its scopes in order of first
    appearance, joined by '+'."""
    seen = []
    for _, sc in coef:
        if sc not in seen:
            seen.append(sc)
    return "+".join(seen)


def terms(coef, scope):
    """(model, scope of its figure, coefficient) of each term in the
    order of the status column: a cross-scope contrast's as given, the
    others' in command-line order of the models, in the row's scope."""
    keys = list(coef) if is_cross(coef) else sorted(coef)
    return [(m, scope if sc is None else sc, coef[(m, sc)]) for m, sc in keys]


def value(disp, coef, scope, fig, scale):
    """sum c_m D_m (diff) or sum c_m log D_m (log) from one set of
    disparity figures, D_m of the row's scope or the term's own; None
    when a figure has no value or no log."""
    v = 0.0
    for m, sc, c in terms(coef, scope):
        x = disp[(m, sc)][fig][0]
        if x is None or (scale == "log" and not x > 0):
            return None
        v += c * (math.log(x) if scale == "log" else x)
    return v


def center(est_disp, coef, scope, fig, scale, est):
    """What the replicates scatter about: the estimate, but for tau and
    tau_mean the contrast of each model's SD of the D_L (over its mean)."""
    if fig not in ("tau", "tau_mean") or est is None:
        return est
    v = 0.0
    for m, sc, c in terms(coef, scope):
        f = est_disp[(m, sc)]
        sd = f.get("sd")
        if sd is None:
            return None
        if fig == "tau_mean":
            sd /= f["mean"][0]
        if scale == "log":
            if not sd > 0:
                return None
            sd = math.log(sd)
        v += c * sd
    return v


# ------------------------------------------------------------ evaluation

def evaluate(argv):
    """oracle.py's evaluation, with the leave-out sets of the estimate's
    jackknife and of each replicate's (with parallel units)."""
    calls = []
    real = oracle.jack_stats

    def keep(strata, *a):
        calls.append(strata)
        return real(strata, *a)
    oracle.jack_stats = keep
    try:
        o, names, _, _, data = oracle.prepare(argv)
        scopes, _, est_disp, _, rep_disp, _ = oracle.evaluate(
            data, o, len(names), names, o["table"])
    finally:
        oracle.jack_stats = real
    return o, names, scopes, est_disp, rep_disp, calls[0], calls[1:]


def why(o, names, est_disp, coef, scope, fig, scale):
    """The status of a contrast without an estimate: each of its terms'
    reason ("MODEL:why", a cross-scope contrast's "MODEL@SCOPE:why")."""
    out = []
    for m, sc, _ in terms(coef, scope):
        f = est_disp[(m, sc)]
        who = names[m] + ("@" + sc if is_cross(coef) else "")
        if f[fig][0] is None:
            out.append("%s:%s" % (who, cmp.why_na(o, f, fig)))
        elif scale == "log" and not f[fig][0] > 0:
            out.append("%s:not positive" % who)
    return ";".join(out) or "sd 0"


def one_interval(o, fig, est, ctr, reps, jk, rep_jk):
    """The interval by the method in use: tau's moved percentiles; t with
    the contrast's jackknife SE (none: the percentiles); BCa; percentile."""
    B, method = o["bootstrap"], o["interval_used"]
    if fig in ("tau", "tau_mean"):
        lo, hi, _ = oracle.interval(est, reps, B, method="percentile")
        return lo + est - ctr, hi + est - ctr
    if method == "t":
        if jk[1] is None:
            method = "percentile"
        else:
            lo, hi, _ = oracle.interval_t(est, reps, B, jk[1],
                                          [s for _, s in rep_jk])
            return lo, hi
    lo, hi, _ = oracle.interval(est, reps, B, jk[0], method)
    return lo, hi


def family(o, names, ev, cons, scope, fig, scale):
    """The rows of one scope (None: of the cross-scope contrasts), figure
    and scale."""
    _, _, _, est_disp, rep_disp, est_sets, rep_sets = ev
    B = o["bootstrap"]
    rows = []
    for name, coef in cons:
        est = value(est_disp, coef, scope, fig, scale)
        ctr = center(est_disp, coef, scope, fig, scale, est)
        reps = [value(r, coef, scope, fig, scale) for r in rep_disp]
        r = {"scope": scope_label(coef) if is_cross(coef) else scope,
             "contrast": name, "figure": fig, "scale": scale, "est": est}
        r.update({c: None for c in COLS[5:12]})
        bad = sum(x is None for x in reps)
        if est is None or ctr is None:
            r["status"] = why(o, names, est_disp, coef, scope, fig, scale)
        elif B < 2:
            r["status"] = "no bootstrap" if B == 0 else "one replicate"
        elif bad:
            r["status"] = "ci %d/%d" % (bad, B)
        else:
            R = np.array(reps, dtype=np.float64)
            jk = oracle.jack_stat([[value(d, coef, scope, fig, scale) for _, d in st]
                       for st in est_sets])
            rep_jk = [oracle.jack_stat([[value(d, coef, scope, fig, scale) for _, d in st]
                            for st in sets]) for sets in rep_sets]
            lo, hi = one_interval(o, fig, est, ctr, reps, jk, rep_jk)
            r["t"] = o["interval_used"] == "t" and jk[1] is not None and \
                fig not in ("tau", "tau_mean")
            # the replicates moved to scatter about the estimate: p and
            # max-T as compare_oracle.py computes them about it
            Rs = R - ctr + est
            r.update({"se": float(R.std(ddof=1)), "lo": lo, "hi": hi,
                      "status": "ok", "_": {"D": Rs, "d": est, "B": B}})
        rows.append(r)
    if any(r["status"] != "ok" for r in rows):
        for r in rows:
            if r["status"] == "ok":
                r["status"] = "family NA"
        return rows
    est = np.array([r["est"] for r in rows])
    _, slo, shi = cmp.maxt(np.array([r["_"]["D"] for r in rows]).T, est)
    for k, r in enumerate(rows):
        r["sim_lo"], r["sim_hi"] = float(slo[k]), float(shi[k])
    return rows


def expected(argv, specs):
    ev = evaluate(argv)
    o, names, scopes = ev[0], ev[1], ev[2]
    cons = [parse_contrast(s, names[1:]) for s in specs]
    within = [k for k in cons if not is_cross(k[1])]
    cross = [k for k in cons if is_cross(k[1])]
    # the contrasts within each scope, a family per scope, figure and
    # scale; then the cross-scope ones, a family per figure and scale
    return ([family(o, names, ev, within, scope, fig, scale)
             for scope, _ in scopes for fig in cmp.FIGS for scale in SCALES]
            if within else []) + \
        ([family(o, names, ev, cross, None, fig, scale)
          for fig in cmp.FIGS for scale in SCALES] if cross else [])


# ------------------------------------------------------------ comparison

def end_tol(w, c):
    """The absolute tolerance of an interval's end e: est +- a width, so
    relative to |est| + |e - est| (an end near 0 of a contrast that
    crosses it is a difference of two larger numbers).  The bootstrap-t's
    ends, 20 times more: they divide by each replicate's jackknife SE,
    which for a contrast whose leave-out values barely move (4 parallel
    units, a replicate that drew one of them thrice) carries the
    runtime's rounding of the NLLs (1e-6 of a figure) magnified by the
    figure over its spread: oracle.py's own check of the figures' t ends
    on the same data differs by up to 3e-4, here 1.2e-3 was seen."""
    e = w[c][1] if isinstance(w[c], tuple) else w[c]
    k = 20 if c in ("lo", "hi") and w.get("t") else 1
    return oracle.ATOL + k * oracle.RTOL * (abs(w["est"]) + abs(e - w["est"]))


def check_family(rows, got, errs, notes):
    """One scope, figure and scale: p with every count the tolerance
    allows, p_holm as Holm's of the p-values accepted."""
    ps, wh = [], []
    for w, g in zip(rows, got):
        where = "%s/%s/%s/%s" % (w["scope"], w["figure"], w["scale"],
                                 w["contrast"])
        for c in COLS[4:]:
            if c == "p" and "_" in w:
                ps.append(cmp.check_p(where, g[c], w["_"], errs, notes))
                wh.append((where, g["p_holm"]))
            elif c == "p_holm" and rows[0]["status"] == "ok" and "_" in w:
                pass    # below
            elif c in ("lo", "hi", "sim_lo", "sim_hi") and w[c] is not None:
                oracle.compare_cell(where, c, g[c], w[c], errs,
                                    atol=end_tol(w, c))
            else:
                oracle.compare_cell(where, c, g[c], w[c], errs)
    if all(w["status"] == "ok" for w in rows) and None not in ps:
        for (where, got_), want in zip(wh, cmp.holm(ps)):
            oracle.compare_cell(where, "p_holm", got_, float(want), errs)


def cmd_check(argv):
    path, specs, rest = None, [], []
    it = iter(argv)
    for a in it:
        if a == "--contrasts":
            path = next(it)
        elif a == "--contrast":
            specs.append(next(it))
        elif a == "--compare":
            next(it)
        else:
            rest.append(a)
    assert path and specs, "check wants --contrast SPEC... --contrasts FILE"
    return cmp.check_table(path, COLS, ("scope", "figure", "scale", "contrast"),
                           expected(rest, specs), check_family)


# ------------------------------------------------------------ coverage

def coverage(nsim, B, seed=22, N=80):
    """Simulated paired data with known truth: the 8 configurations of
    keeping any of 3 layers (a, b, c), measured on the same N units;
    unit u's value for configuration m is mu_m + a_u + e_mu, a shared
    unit effect a_u ~ N(0, 0.5^2), e_mu ~ N(0, 0.3^2); the figure is
    the mean over units, mu_m = 2 - 0.3 [a] - 0.2 [b] - 0.1 [c] + the
    interactions -0.15 [ab], 0 [ac], +0.1 [bc].  The contrasts: the 3
    pairwise interactions, on the diff and the log scale.  Returns the
    share of datasets in which each contrast's own 95% percentile
    interval from joint (paired) replicates covers the truth (the mean
    over contrasts), in which the max-T intervals cover all 3 at once
    (diff, log), and in which the percentile interval from replicates
    drawn for each configuration on its own covers it (mean over
    contrasts): too often, since the shared unit effect, which cancels
    from a contrast, widens them."""
    rng = np.random.default_rng(seed)
    conf = [(i & 1, i >> 1 & 1, i >> 2 & 1) for i in range(8)]
    mu = np.array([2 - 0.3 * a - 0.2 * b - 0.1 * c - 0.15 * a * b + 0.1 * b * c
                   for a, b, c in conf])
    pairs = [(0, 1), (0, 2), (1, 2)]

    def coef(i, j):
        w = np.zeros(8)
        for m, f in enumerate(conf):
            w[m] = (1 if f[i] else -1) * (1 if f[j] else -1) * \
                (1 if all(f[k] == 0 for k in range(3) if k not in (i, j)) else 0)
        return w
    C = np.array([coef(i, j) for i, j in pairs])       # [3, 8]
    truth = {"diff": C @ mu, "log": C @ np.log(mu)}
    own = {"diff": 0, "log": 0}
    joint = {"diff": 0, "log": 0}
    unpaired = 0
    for _ in range(nsim):
        x = mu[:, None] + rng.normal(0, 0.5, N)[None, :] + \
            rng.normal(0, 0.3, (8, N))
        idx = rng.integers(0, N, (B, N))
        R = x[:, idx].mean(axis=2)                      # [8, B]
        U = np.stack([x[m, rng.integers(0, N, (B, N))].mean(axis=1)
                      for m in range(8)])               # [8, B]
        for sc, f in (("diff", lambda v: v), ("log", np.log)):
            est = C @ f(x.mean(axis=1))
            reps = C @ f(R)                             # [3, B]
            lo, hi = np.percentile(reps, [2.5, 97.5], axis=1)
            t = truth[sc]
            own[sc] += float(np.mean((lo <= t) & (t <= hi)))
            _, slo, shi = cmp.maxt(reps.T, est)
            joint[sc] += bool(np.all((slo <= t) & (t <= shi)))
            if sc == "diff":
                lo, hi = np.percentile(C @ U, [2.5, 97.5], axis=1)
                unpaired += float(np.mean((lo <= t) & (t <= hi)))
    return ({k: v / nsim for k, v in own.items()},
            {k: v / nsim for k, v in joint.items()}, unpaired / nsim)


def cmd_coverage(argv):
    nsim = int(argv[0]) if argv else 400
    B = int(argv[1]) if len(argv) > 1 else 500
    own, joint, unpaired = coverage(nsim, B)
    for sc in ("diff", "log"):
        print("%s: each contrast's own 95%% interval covers %.3f, the max-T "
              "intervals all 3 at once %.3f" % (sc, own[sc], joint[sc]))
    print("diff, replicates drawn for each configuration on its own: %.3f"
          % unpaired)
    ok = all(0.90 <= own[sc] <= 0.98 and 0.90 <= joint[sc] <= 0.99
             for sc in own) and unpaired > 0.99
    return 0 if ok else 1


def main(argv):
    if argv and argv[0] == "check":
        return cmd_check(argv[1:])
    if argv and argv[0] == "coverage":
        return cmd_coverage(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
