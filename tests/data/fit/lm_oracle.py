#!/usr/bin/env python3
"""The oracle of qf-fit lm (tests/qf-fit.bats): statsmodels' OLS and WLS
through patsy formulas, and numpy refits for PRESS and cross-validation.

  lm_oracle.py gen OUT [SEED [NA]]   a seeded test table (NA: some NA cells)
  lm_oracle.py check TABLE COEF MODEL FORMULA [--weights W] [--vs F]
               [--folds K --seed S] [--cv-group COL]

check fits FORMULA on TABLE with statsmodels and compares with qf-fit's
coefficient table COEF and model table MODEL (written with --digits 17):
1e-8 relative on every figure.  Exit 1 with the differences on stderr.
The transforms of qf's formulas are defined here the way docs/fit.md
says, for patsy to call: z (sample SD), rank (average ranks), sq.
"""
import re
import sys

import numpy as np
import pandas as pd
import scipy.stats
import statsmodels.formula.api as smf
from patsy import dmatrices

RTOL = 1e-8


def z(x):
    x = np.asarray(x, float)
    return (x - x.mean()) / x.std(ddof=1)


def rank(x):
    return scipy.stats.rankdata(x)


def sq(x):
    return np.asarray(x, float) ** 2


log = np.log
log1p = np.log1p


def gen(out, seed=1, na=0):
    rng = np.random.default_rng(seed)
    n = 40
    g = rng.choice(["a", "b", "c"], n)
    grp = ["L%d" % (i % 6) for i in range(n)]
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n) + 0.3 * x1
    pos = rng.lognormal(size=n)
    w = rng.uniform(0.5, 2.0, n)
    lay = rng.integers(0, 12, n)
    y = (1.0 + 0.8 * x1 - 0.5 * x2 + 0.3 * x1 * x2 + 0.4 * (g == "b")
         + 0.3 * np.log(pos) + rng.normal(size=n) / np.sqrt(w))
    cells = {"id": ["r%d" % i for i in range(n)], "g": g, "grp": grp,
             "layer": lay, "x1": x1, "x2": x2, "pos": pos, "w": w, "y": y}
    df = pd.DataFrame(cells)
    with open(out, "w") as f:
        f.write("# qf=test tool=lm_oracle\n")
        cols = list(df.columns)
        f.write("\t".join(cols) + "\n")
        for i in range(n):
            row = []
            for c in cols:
                v = df[c][i]
                if na and c in ("x2", "y") and i % 13 == 3 + (c == "y"):
                    row.append("NA")
                elif isinstance(v, (float, np.floating)):
                    row.append(repr(float(v)))
                else:
                    row.append(str(v))
            f.write("\t".join(row) + "\n")


def read(path):
    """A qf table: its comment lines skipped, NA the missing value."""
    return pd.read_csv(path, sep="\t", skiprows=_comments(path),
                       keep_default_na=False, na_values=["NA"])


def _comments(path):
    n = 0
    with open(path) as f:
        for line in f:
            if not line.startswith("#"):
                break
            n += 1
    return n


def splitmix64(s):
    s = (s + 0x9E3779B97F4A7C15) & (2**64 - 1)
    z_ = s
    z_ = ((z_ ^ (z_ >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z_ = ((z_ ^ (z_ >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return s, z_ ^ (z_ >> 31)


def folds(n, k, seed):
    perm = list(range(n))
    s = seed
    for i in range(n - 1, 0, -1):
        s, r = splitmix64(s)
        j = r % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    g = [0] * n
    for i in range(n):
        g[perm[i]] = i % k
    return g


def cv_r2(y, X, w, groups):
    """1 - sum w (y - yhat_{-group})^2 / sum w (y - ybar_w)^2, each group's
    rows predicted by the weighted least squares fit on the others."""
    groups = np.asarray(groups)
    sse = 0.0
    for h in np.unique(groups):
        tr = groups != h
        sw = np.sqrt(w[tr])
        beta = np.linalg.lstsq(X[tr] * sw[:, None], y[tr] * sw, rcond=None)[0]
        te = ~tr
        sse += np.sum(w[te] * (y[te] - X[te] @ beta) ** 2)
    ybar = np.sum(w * y) / np.sum(w)
    return 1 - sse / np.sum(w * (y - ybar) ** 2)


def fit(df, formula, weights):
    if weights:
        return smf.wls(formula, df, weights=df[weights]).fit()
    return smf.ols(formula, df).fit()


def close(what, got, want, bad):
    if np.isnan(want) and np.isnan(got):
        return
    if not np.isclose(got, want, rtol=RTOL, atol=0):
        bad.append("%s: qf %r, statsmodels %r (rel %.3g)"
                   % (what, got, want, abs(got - want) / max(abs(want), 1e-300)))


def check(table, coef, model, formula, opts):
    weights = opts.get("--weights")
    df = read(table)
    vs = opts.get("--vs")
    used = set(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", formula + " " + (vs or "")))
    cols = [c for c in df.columns if c in used or c == weights]
    df = df.dropna(subset=cols).reset_index(drop=True)
    r = fit(df, formula, weights)
    bad = []
    qc = read(coef).set_index("term")
    qm = read(model).iloc[0]
    names = list(r.params.index)
    if sorted(names) != sorted(qc.index):
        bad.append("terms: qf %s, statsmodels %s" % (list(qc.index), names))
        sys.stderr.write("\n".join(bad) + "\n")
        return 1
    ci = r.conf_int()
    for t in names:
        for col, v in (("estimate", r.params[t]), ("se", r.bse[t]),
                       ("se_hc3", r.HC3_se[t]), ("t", r.tvalues[t]),
                       ("p", r.pvalues[t]), ("ci_low", ci.loc[t, 0]),
                       ("ci_high", ci.loc[t, 1])):
            close("%s %s" % (t, col), float(qc.loc[t, col]), float(v), bad)
    for col, v in (("n", r.nobs), ("df_model", r.df_model),
                   ("df_resid", r.df_resid), ("r2", r.rsquared),
                   ("r2_adj", r.rsquared_adj), ("f", r.fvalue),
                   ("f_p", r.f_pvalue), ("resid_sd", np.sqrt(r.scale)),
                   ("llf", r.llf), ("aic", r.aic), ("bic", r.bic)):
        close(col, float(qm[col]), float(v), bad)
    # PRESS and CV by refitting, on patsy's design
    y, X = dmatrices(formula, df, return_type="dataframe")
    y = y.values[:, 0]
    X = X.values
    w = df[weights].values.astype(float) if weights else np.ones(len(y))
    close("r2_loo", float(qm["r2_loo"]), cv_r2(y, X, w, range(len(y))), bad)
    if "--folds" in opts:
        g = folds(len(y), int(opts["--folds"]), int(opts.get("--seed", 1)))
        close("r2_kfold", float(qm["r2_kfold"]), cv_r2(y, X, w, g), bad)
    if "--cv-group" in opts:
        g = df[opts["--cv-group"]].astype(str).values
        close("r2_group", float(qm["r2_group"]), cv_r2(y, X, w, g), bad)
    if vs:
        rv = fit(df, vs, weights)
        f, p, d = r.compare_f_test(rv)
        close("vs_f", float(qm["vs_f"]), f, bad)
        close("vs_p", float(qm["vs_p"]), p, bad)
        close("vs_df", float(qm["vs_df"]), d, bad)
    if bad:
        sys.stderr.write("\n".join(bad) + "\n")
        return 1
    return 0


def main(argv):
    if argv[0] == "gen":
        gen(argv[1], *(int(a) for a in argv[2:]))
        return 0
    table, coef, model, formula = argv[1:5]
    rest = argv[5:]
    opts = dict(zip(rest[::2], rest[1::2]))
    return check(table, coef, model, formula, opts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
