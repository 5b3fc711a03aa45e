#!/usr/bin/env python3
"""The oracle of qf-fit mixed (tests/qf-fit-mixed.bats): statsmodels
MixedLM on the table qf-fit read, through patsy for the fixed effects,
and numpy/scipy for the ICC intervals.

  mixed_oracle.py gen OUT KIND SEED
      a seeded test table; KIND: crossed (lang, unit, x, f, y; some
      cells missing), units (the shape of qf-eval --units-out), oneway
      (layer, seed, crit: a balanced per-layer profile across seeds)
  mixed_oracle.py check TABLE COEF MODEL RANEF FORMULA G[,G2] [ml]
      qf-fit's coefficients, components (--model-out) and random effects
      (--ranef) tables, written with --digits 17, against MixedLM (REML,
      or ML): estimates, SEs, z, p, 95% intervals, the variance
      components, the ICCs, the log-likelihood, the random effects; with
      one factor and --intervals, the components' profile intervals
      against the likelihood computed densely here (numpy), minimized
      and solved by scipy
  mixed_oracle.py icc TABLE ICC FORMULA G
      qf-fit's --icc table (intercept only, one factor): the REML ICC
      against MixedLM, its profile interval against the profiled REML
      criterion computed densely here (numpy) with its roots found by
      scipy's brentq, and, balanced, the ANOVA ICC(1) and its F interval
      (McGraw & Wong 1996, case 1) by scipy.stats.f

Tolerances are MixedLM's (as tests/unit/gen_fit_mixed_ref.py): its own
optimizers agree with each other to about 1e-8 on the variance
parameters, so 1e-6 relative on what it fits (a component at 0 against
1e-3 of the total variance; p-values relative to 1e-6 (1 + z^2), their
conditioning); 1e-8 on the closed forms.  Exit 1 with the differences on
stderr.
"""
import sys
import warnings

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.stats
import statsmodels.api as sm
from patsy import dmatrices

TOL_SM = 1e-6
TOL_EXACT = 1e-8
warnings.simplefilter("ignore")
bad = []

# qf's transforms, for patsy to call
from lm_oracle import log, log1p, rank, sq, z  # noqa: F401


def gen(out, kind, seed):
    rng = np.random.default_rng(seed)
    rows = []
    if kind == "oneway":
        head = ["layer", "seed", "crit"]
        prof = rng.normal(scale=1.0, size=12)
        for s in range(5):
            for la in range(12):
                rows.append([la, s, 3 + prof[la] + rng.normal(scale=0.6)])
    else:
        a, b = (10, 8) if kind == "crossed" else (12, 9)
        ul = rng.normal(scale=0.4, size=a)
        ua = rng.normal(scale=0.7, size=b)
        for la in range(a):
            for u in range(b):
                if rng.random() < 0.12:
                    continue	# a missing translation
                x = rng.normal()
                f = "abc"[int(rng.integers(3))]
                y = ul[la] + ua[u] + 0.4 * x + 0.3 * (f == "b") + \
                    rng.normal(scale=0.5)
                lang = "l%02d" % la if kind == "crossed" else \
                    ["eng", "deu", "fra", "tur", "fin", "hun", "jpn",
                     "kor", "zho", "ara", "heb", "rus"][la]
                if kind == "crossed":
                    rows.append([lang, u, x, f, y])
                else:
                    tok = int(rng.integers(20, 200))
                    kl = float(np.exp(1 + ul[la] + ua[u] +
                                      rng.normal(scale=0.3)))
                    rows.append([lang, "u%d" % u, "body", "q4", tok, tok - 1,
                                 4 * tok, kl * 1.1, kl * 1.1 / np.log(2),
                                 kl, kl / (tok - 1), 0.9])
        head = ["lang", "unit", "x", "f", "y"] if kind == "crossed" else \
            ["lang", "unit", "kind", "model", "tokens", "scored", "bytes",
             "d_nll_sum", "d_bits", "kl_sum", "kl_per_token", "top1"]
    with open(out, "w") as f:
        f.write("# qf=test tool=mixed_oracle\n" + "\t".join(head) + "\n")
        for r in rows:
            f.write("\t".join(repr(float(v)) if isinstance(v, float)
                              else str(v) for v in r) + "\n")


def read(path):
    skip = 0
    with open(path) as f:
        for line in f:
            if not line.startswith("#"):
                break
            skip += 1
    return pd.read_csv(path, sep="\t", skiprows=skip, keep_default_na=False,
                       na_values=["NA"], dtype=str)


def table(path):
    """A table as qf reads it: numbers where a column is all numbers."""
    d = read(path)
    for c in d.columns:
        try:
            d[c] = d[c].astype(float)
        except ValueError:
            pass
    return d


def levels(col):
    """qf's level order: as numbers when all are, else as text."""
    v = sorted(set(col))
    try:
        return sorted(v, key=float)
    except ValueError:
        return v


def close(what, q, r, tol, atol=0.0):
    q, r = float(q), float(r)
    if not (abs(q - r) <= tol * abs(r) + atol):
        bad.append("%s: qf %.17g, reference %.17g (rel %.3g)" %
                   (what, q, r, abs(q - r) / max(abs(r), 1e-300)))


def fit_best(md, ml):
    """A MixedLM model fitted by BFGS and by Powell from statsmodels'
    start, the better log-likelihood kept (L-BFGS, its default, can stop
    at a corner it cannot leave); None when neither fits."""
    best = None
    for kw in (dict(method="bfgs", gtol=1e-10),
               dict(method="powell", xtol=1e-12, ftol=1e-14)):
        try:
            r = md.fit(reml=not ml, maxiter=20000, **kw)
        except np.linalg.LinAlgError:
            continue
        if np.isfinite(r.llf) and (best is None or r.llf > best.llf):
            best = r
    return best


def sm_fit(d, formula, groups, ml):
    """MixedLM as tests/unit/gen_fit_mixed_ref.py fits it: one factor as
    groups, two crossed as variance components of one group; BFGS and
    Powell from statsmodels' start, the better kept."""
    y, X = dmatrices(formula, d, return_type="dataframe")
    codes = [np.array([levels(d[g]).index(v) for v in d[g]])
             for g in groups]
    e = pd.DataFrame(X.values, columns=["x%d" % j for j in range(X.shape[1])])
    e["y"] = y.values[:, 0]
    form = "y ~ 0 + " + " + ".join(e.columns[:X.shape[1]])
    if len(groups) == 1:
        md = sm.MixedLM.from_formula(form, e, groups=codes[0])
    else:
        e["a"], e["b"], e["one"] = codes[0], codes[1], 1
        md = sm.MixedLM.from_formula(form, e, groups="one", re_formula="0",
                                     vc_formula={"a": "0 + C(a)",
                                                 "b": "0 + C(b)"})
    return fit_best(md, ml), X, y.values[:, 0], codes


def ranefs(r, codes):
    if len(codes) == 1:
        return [[float(r.random_effects[k].iloc[0])
                 for k in range(codes[0].max() + 1)]]
    v = r.random_effects[1]
    return [[float(v["%s[C(%s)[%d]]" % (n, n, lev)])
             for lev in range(c.max() + 1)] for n, c in zip("ab", codes)]


def check(tab, coef, model, ranef, formula, groups, ml):
    d = table(tab)
    groups = groups.split(",")
    r, X, y, codes = sm_fit(d, formula, groups, ml)
    vc = [float(r.cov_re.iloc[0, 0])] if len(groups) == 1 else \
        [float(v) for v in r.vcomp]
    vc.append(float(r.scale))
    tot = sum(vc)
    c = read(coef)
    # patsy orders terms by their numeric factors: compare by name
    if sorted(c["term"]) != sorted(X.columns):
        bad.append("terms: qf %s, patsy %s" % (list(c["term"]),
                                              list(X.columns)))
        return
    ci = r.conf_int().values
    for j, t in enumerate(X.columns):
        row = c[c["term"] == t].iloc[0]
        se = float(r.bse_fe.iloc[j])
        z = float(r.fe_params.iloc[j]) / se
        close(t + " estimate", row["estimate"], r.fe_params.iloc[j], TOL_SM,
              TOL_SM * se)
        close(t + " se", row["se"], se, TOL_SM)
        close(t + " z", row["z"], z, TOL_SM, TOL_SM)
        close(t + " p", row["p"], r.pvalues.iloc[j], TOL_SM * (1 + z * z))
        close(t + " ci_low", row["ci_low"], ci[j, 0], TOL_SM, TOL_SM * se)
        close(t + " ci_high", row["ci_high"], ci[j, 1], TOL_SM, TOL_SM * se)
    m = read(model)
    close("llf", m["llf"].iloc[0], r.llf, TOL_SM)
    if float(m["llf"].iloc[0]) < r.llf - 1e-9 * abs(r.llf):
        bad.append("llf: qf %s below statsmodels' %r" % (m["llf"].iloc[0],
                                                          r.llf))
    names = groups + ["Residual"]
    if list(m["component"]) != names:
        bad.append("components: %s, not %s" % (list(m["component"]), names))
        return
    for k, name in enumerate(names):
        row = m.iloc[k]
        close(name + " variance", row["variance"], vc[k], TOL_SM, 1e-3 * tot
              if vc[k] < 1e-4 * tot else 0)
        if k < len(groups):
            close(name + " icc", row["icc"], vc[k] / tot, TOL_SM,
                  1e-3 if vc[k] < 1e-4 * tot else 0)
            if int(row["levels"]) != len(levels(d[name])):
                bad.append("%s levels: %s" % (name, row["levels"]))
    if row["method"] != ("ML" if ml else "REML") or \
            int(row["n"]) != len(d) or row["converged"] != "1":
        bad.append("model row: %s" % list(row))
    if len(groups) == 1 and m["var_low"].iloc[0] != "NA":
        profile_vc(m, X.values, y, codes[0], vc, r.llf, ml)
    re = read(ranef)
    want = ranefs(r, codes)
    q = 0
    for k, g in enumerate(groups):
        sd = np.sqrt(tot)
        for lev, v in zip(levels(d[g]), want[k]):
            row = re.iloc[q]
            q += 1
            if row["group"] != g or row["level"] != str(lev) and \
                    float(row["level"]) != float(lev):
                bad.append("ranef row %d: %s" % (q, list(row)))
            close("ranef %s %s" % (g, lev), row["effect"], v, TOL_SM,
                  1e-3 * sd if vc[k] < 1e-4 * tot else TOL_SM * sd)
    if q != len(re):
        bad.append("ranef: %d rows, not %d" % (len(re), q))


def reml_dev(y, X, g, th):
    """The profiled REML criterion -2 l_R at ratio th = s / sigma2 (one
    factor), densely: (n-p)(1 + log(2 pi r'H^-1 r/(n-p))) + log|H| +
    log|X'H^-1X|, H = I + th Z Z'."""
    n, p = X.shape
    Z = (g[:, None] == np.arange(g.max() + 1)[None, :]).astype(float)
    H = np.eye(n) + th * Z @ Z.T
    Hi = np.linalg.inv(H)
    A = X.T @ Hi @ X
    b = np.linalg.solve(A, X.T @ Hi @ y)
    e = y - X @ b
    rr = e @ Hi @ e
    return (n - p) * (1 + np.log(2 * np.pi * rr / (n - p))) + \
        np.linalg.slogdet(H)[1] + np.linalg.slogdet(A)[1]


def profile_vc(m, X, y, g, vc, llf, ml):
    """The profile likelihood intervals of the group variance s and the
    residual sigma2 (one factor): the values c where the -2 log-likelihood
    minimized over the other parameter is within chi2_1(0.95) of its
    minimum, the inner minimum by scipy's bounded Brent over log sigma2
    (s fixed) or log s (sigma2 fixed), the ends by brentq."""
    n, p = X.shape
    Z = (g[:, None] == np.arange(g.max() + 1)[None, :]).astype(float)
    ZZ = Z @ Z.T

    def dev(s, s2):
        V = s2 * np.eye(n) + s * ZZ
        Vi = np.linalg.inv(V)
        A = X.T @ Vi @ X
        e = y - X @ np.linalg.solve(A, X.T @ Vi @ y)
        d = n * np.log(2 * np.pi) + np.linalg.slogdet(V)[1] + e @ Vi @ e
        if not ml:
            d += np.linalg.slogdet(A)[1] - p * np.log(2 * np.pi)
        return d
    dmin = -2 * llf
    crit = scipy.stats.chi2.ppf(0.95, 1)
    tot = sum(vc)

    def prof(k, c):
        if k == 0:
            f = lambda u: dev(c, np.exp(u))
        else:
            f = lambda u: dev(np.exp(u), c) if u > -40 else dev(0, c)
        lo, hi = np.log(tot) - 12, np.log(tot) + 6
        o = scipy.optimize.minimize_scalar(f, bounds=(lo, hi),
                                           method="bounded",
                                           options=dict(xatol=1e-12))
        best = o.fun
        if k == 1:
            best = min(best, dev(0, c))
        return best - dmin - crit
    for k in range(2):
        h = vc[k]
        if h <= 1e-4 * tot:
            continue	# at the boundary: not this check's case
        b = 2 * h
        while prof(k, b) < 0:
            b *= 4
        want_hi = scipy.optimize.brentq(lambda c: prof(k, c), h, b,
                                        xtol=1e-14, rtol=1e-12)
        if k == 0 and prof(k, 0.0) <= 0:
            want_lo = 0.0
        else:
            a = h / 2
            while prof(k, a) < 0:
                a /= 2
            want_lo = scipy.optimize.brentq(lambda c: prof(k, c), a, h,
                                            xtol=1e-14, rtol=1e-12)
        row = m.iloc[k]
        close("%s var_low" % row["component"], row["var_low"], want_lo,
              TOL_SM, 1e-9 * tot)
        close("%s var_high" % row["component"], row["var_high"], want_hi,
              TOL_SM)


def icc(tab, out, formula, group):
    d = table(tab)
    r, X, y, codes = sm_fit(d, formula, [group], False)
    g = codes[0]
    s, s2 = float(r.cov_re.iloc[0, 0]), float(r.scale)
    q = read(out)
    row = q.iloc[0]
    if row["method"] != "reml_profile":
        bad.append("first row: %s" % list(row))
    close("icc", row["icc"], s / (s + s2), TOL_SM)
    # the profile interval: th where reml_dev - min <= chi2_1(0.95)
    th = s / s2
    dmin = reml_dev(y, X.values, g, th)
    close("profiled criterion at the optimum", dmin, -2 * r.llf, 1e-9)
    crit = scipy.stats.chi2.ppf(0.95, 1)

    def f(t):
        return reml_dev(y, X.values, g, t) - dmin - crit
    hi = 2 * th + 1e-3
    while f(hi) < 0:
        hi *= 4
    th_hi = scipy.optimize.brentq(f, th, hi, xtol=1e-14, rtol=1e-13)
    th_lo = 0.0 if f(0.0) <= 0 else \
        scipy.optimize.brentq(f, 0.0, th, xtol=1e-14, rtol=1e-13)
    close("icc ci_low", row["ci_low"], th_lo / (1 + th_lo), TOL_SM, 1e-9)
    close("icc ci_high", row["ci_high"], th_hi / (1 + th_hi), TOL_SM)
    # the ANOVA form: balanced one-way, intercept only
    a = g.max() + 1
    m = len(y) // a
    if X.shape[1] == 1 and all(np.bincount(g) == m):
        ym = np.array([y[g == k] for k in range(a)])
        msb = m * ((ym.mean(1) - y.mean()) ** 2).sum() / (a - 1)
        msw = ((ym - ym.mean(1, keepdims=True)) ** 2).sum() / (a * (m - 1))
        F = msb / msw
        d1, d2 = a - 1, a * (m - 1)
        fl = F / scipy.stats.f.ppf(0.975, d1, d2)
        fu = F * scipy.stats.f.ppf(0.975, d2, d1)
        if len(q) != 2 or q.iloc[1]["method"] != "anova_f":
            bad.append("no anova_f row")
            return
        row = q.iloc[1]
        close("anova icc", row["icc"], (msb - msw) / (msb + (m - 1) * msw),
              TOL_EXACT)
        close("anova ci_low", row["ci_low"], (fl - 1) / (fl + m - 1),
              TOL_EXACT)
        close("anova ci_high", row["ci_high"], (fu - 1) / (fu + m - 1),
              TOL_EXACT)
        close("anova f", row["f"], F, TOL_EXACT)
        close("anova f_p", row["f_p"], scipy.stats.f.sf(F, d1, d2),
              TOL_EXACT)
        if int(row["replicates"]) != m:
            bad.append("replicates %s, not %d" % (row["replicates"], m))
    elif len(q) != 1:
        bad.append("an anova_f row for an unbalanced design")


def main():
    a = sys.argv[1:]
    if a[0] == "gen":
        gen(a[1], a[2], int(a[3]))
        return
    if a[0] == "check":
        check(a[1], a[2], a[3], a[4], a[5], a[6], len(a) > 7 and a[7] == "ml")
    else:
        icc(a[1], a[2], a[3], a[4])
    for b in bad:
        print(b, file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
