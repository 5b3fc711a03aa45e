#!/usr/bin/env python3
"""tests/bench/fit_ref.py - the references of tests/bench/fit.sh: what a
user of statsmodels and scipy runs for the tables qf-fit writes.  Each
reads the table with pandas, fits, and writes its table (%.17g), as
qf-fit does with --digits 17; it imports only what it needs.

  fit_ref.py gen DIR
      the seeded tables: lm.tsv (200 000 rows: g of 40 levels, x1..x8,
      y), cor.tsv (5000 rows, c1..c30), kendall.tsv (its first 1000),
      boot.tsv (200 rows, a, b), crossed.tsv (30 languages x 150 units:
      lang, unit, x, y), oneway.tsv (50 groups x 40 rows: g, x, y)
  fit_ref.py lm TABLE COEF MODEL FORMULA [--folds K [--qf-folds]]
      smf.ols: coefficients with HC3 SEs, R2 and the PRESS R2 from the
      hat matrix's diagonal (get_influence); --folds K: also the pooled
      K-fold R2, one sm.OLS fit a fold on patsy's design, folds from a
      numpy permutation (--qf-folds: qf's, for the check)
  fit_ref.py cor TABLE OUT METHOD COLS
      every pair of COLS in order (A:B, A:C, B:C...): scipy.stats's
      spearmanr or kendalltau per pair, Holm by multipletests
  fit_ref.py boot TABLE OUT B [--qf-draws]
      Spearman's rho of a:b with scipy.stats.bootstrap's BCa interval
      over B paired replicates (--qf-draws: qf's draws, for the check)
  fit_ref.py mixed TABLE COEF MODEL FORMULA G[,G2]
      MixedLM by REML, BFGS (gtol 1e-10): one factor as groups, two
      crossed as variance components of one group
  fit_ref.py agree lm|cor|boot|mixed QF... REF...
      qf-fit's tables (COEF MODEL, or OUT) against the reference's:
      exit 1, the differences on stderr, when they do not agree
"""
import os
import sys
import warnings

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")
ORACLES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "..", "data", "fit")


def write(path, rows):
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False,
                              float_format="%.17g")


def gen(out):
    rng = np.random.default_rng(19)

    def save(name, d):
        d.to_csv(os.path.join(out, name), sep="\t", index=False,
                 float_format="%.9g")
    n = 200000
    g = rng.integers(0, 40, n)
    x = rng.normal(size=(n, 8))
    y = 1 + x @ rng.normal(scale=0.5, size=8) + \
        rng.normal(scale=0.3, size=40)[g] + \
        rng.normal(size=n) * (0.5 + np.abs(x[:, 0]))
    d = pd.DataFrame(x, columns=["x%d" % (j + 1) for j in range(8)])
    d.insert(0, "g", ["g%02d" % v for v in g])
    d["y"] = y
    save("lm.tsv", d)
    # three latent factors, loadings on some columns only: pairs from
    # independent to strongly correlated; monotone transforms of some
    z = rng.normal(size=(5000, 3))
    c = z @ (rng.normal(size=(3, 30)) * (rng.random((3, 30)) < 0.4)) + \
        rng.normal(size=(5000, 30))
    c[:, ::3] = np.exp(c[:, ::3])
    d = pd.DataFrame(c, columns=["c%d" % (j + 1) for j in range(30)])
    save("cor.tsv", d)
    save("kendall.tsv", d.iloc[:1000])
    a = rng.normal(size=200)
    save("boot.tsv", pd.DataFrame({"a": a, "b": np.exp(
        0.3 * a + rng.normal(size=200))}))
    for name, ng, m, su, gs in (("crossed.tsv", 30, 150, (0.5, 0.8),
                                 ("lang", "unit")),
                                ("oneway.tsv", 50, 40, (0.7,), ("g",))):
        k = np.arange(ng * m)
        ix = (k // m, k % m)
        x = rng.normal(size=k.size)
        y = 1 + 0.5 * x + rng.normal(scale=0.6, size=k.size)
        cells = {}
        for j, s in enumerate(su):
            y += rng.normal(scale=s, size=(ng, m)[j])[ix[j]]
            cells[gs[j]] = ["%s%03d" % (gs[j][0], v) for v in ix[j]]
        cells.update(x=x, y=y)
        save(name, pd.DataFrame(cells))


def lm(table, coef, model, formula, opts):
    import statsmodels.api as sm
    import statsmodels.formula.api as smf
    d = pd.read_csv(table, sep="\t")
    r = smf.ols(formula, d).fit()
    h = r.get_influence().hat_matrix_diag
    y = r.model.endog
    tss = np.sum((y - y.mean()) ** 2)
    ci = r.conf_int()
    write(coef, {"term": r.params.index, "estimate": r.params,
                 "se": r.bse, "se_hc3": r.HC3_se, "t": r.tvalues,
                 "p": r.pvalues, "ci_low": ci[0], "ci_high": ci[1]})
    m = {"n": [int(r.nobs)], "k": [len(r.params)], "r2": [r.rsquared],
         "r2_adj": [r.rsquared_adj], "f": [r.fvalue], "llf": [r.llf],
         "aic": [r.aic], "bic": [r.bic],
         "r2_loo": [1 - np.sum((r.resid / (1 - h)) ** 2) / tss],
         "r2_kfold": [np.nan]}
    if "--folds" in opts:
        k = int(opts[opts.index("--folds") + 1])
        n = len(y)
        if "--qf-folds" in opts:
            sys.path.insert(0, ORACLES)
            from lm_oracle import folds
            f = np.array(folds(n, k, 1))
        else:
            f = np.empty(n, int)
            f[np.random.default_rng(1).permutation(n)] = np.arange(n) % k
        X = r.model.exog
        sse = 0.0
        for j in range(k):
            te = f == j
            b = sm.OLS(y[~te], X[~te]).fit().params
            sse += np.sum((y[te] - X[te] @ b) ** 2)
        m["r2_kfold"] = [1 - sse / tss]
    write(model, m)


def cor(table, out, method, cols):
    from scipy import stats
    from statsmodels.stats.multitest import multipletests
    d = pd.read_csv(table, sep="\t")
    cols = cols.split(",")
    f = {"spearman": stats.spearmanr, "kendall": stats.kendalltau}[method]
    rows = {"x": [], "y": [], "n": [], "r": [], "p": []}
    for i, a in enumerate(cols):
        for b in cols[i + 1:]:
            res = f(d[a], d[b])
            for c, v in zip(rows, (a, b, len(d), res.statistic, res.pvalue)):
                rows[c].append(v)
    rows["p_adj"] = multipletests(rows["p"], method="holm")[1]
    write(out, rows)


def boot(table, out, nboot, opts):
    from scipy import stats
    d = pd.read_csv(table, sep="\t")
    x, y = d["a"].values, d["b"].values
    rs = np.random.RandomState(1)
    if "--qf-draws" in opts:
        sys.path.insert(0, ORACLES)
        from cor_oracle import QfDraws, qf_draws
        rs = QfDraws(qf_draws(1, nboot, len(x)))
    res = stats.bootstrap((x, y), lambda a, b: stats.spearmanr(a, b).statistic,
                          paired=True, vectorized=False, n_resamples=nboot,
                          method="BCa", random_state=rs)
    ci = res.confidence_interval
    write(out, {"x": ["a"], "y": ["b"], "n": [len(x)],
                "r": [stats.spearmanr(x, y).statistic],
                "ci_low": [ci.low], "ci_high": [ci.high]})


def mixed(table, coef, model, formula, groups):
    import statsmodels.api as sm
    d = pd.read_csv(table, sep="\t", dtype={g: str for g in groups})
    if len(groups) == 1:
        md = sm.MixedLM.from_formula(formula, d, groups=groups[0])
    else:
        d["one"] = 1
        md = sm.MixedLM.from_formula(formula, d, groups="one",
                                     re_formula="0",
                                     vc_formula={g: "0 + C(%s)" % g
                                                 for g in groups})
    r = md.fit(reml=True, method="bfgs", gtol=1e-10, maxiter=20000)
    if len(groups) == 1:
        vc = [float(r.cov_re.iloc[0, 0])]
    else:
        vc = [float(r.vcomp[md.exog_vc.names.index(g)]) for g in groups]
    fe = r.fe_params
    ci = r.conf_int().iloc[:len(fe)]
    write(coef, {"term": fe.index, "estimate": fe, "se": r.bse_fe,
                 "z": fe / r.bse_fe, "p": r.pvalues.iloc[:len(fe)],
                 "ci_low": ci[0], "ci_high": ci[1]})
    write(model, {"component": groups + ["Residual"],
                  "variance": vc + [float(r.scale)],
                  "llf": [r.llf] * (len(groups) + 1),
                  "converged": [int(r.converged)] * (len(groups) + 1)})


# ------------------------------------------------------------- agree

def read(path):
    return pd.read_csv(path, sep="\t", comment="#", keep_default_na=False,
                       na_values=["NA"])


def close(bad, what, q, r, rtol, atol=0.0):
    q, r = float(q), float(r)
    if not abs(q - r) <= rtol * abs(r) + atol:
        bad.append("%s: qf-fit %.17g, reference %.17g" % (what, q, r))


def agree(kind, files):
    """Tolerances: 1e-8 relative where both compute one closed form (lm,
    cor, the bootstrap on the same draws), 1e-4 where each optimizes
    (the variance components; statsmodels' default L-BFGS stops 1e-4
    short on the crossed design)."""
    bad = []
    if kind in ("lm", "mixed"):
        qc, qm, rc, rm = (read(f) for f in files)
        qc, rc = qc.set_index("term"), rc.set_index("term")
        if sorted(qc.index) != sorted(rc.index):
            bad.append("terms: %s, %s" % (list(qc.index), list(rc.index)))
        else:
            tol = 1e-8 if kind == "lm" else 1e-4
            for t in rc.index:
                se = rc.loc[t, "se"]
                for c in ("estimate", "se", "se_hc3") if kind == "lm" \
                        else ("estimate", "se"):
                    close(bad, "%s %s" % (t, c), qc.loc[t, c], rc.loc[t, c],
                          tol, tol * se if c == "estimate" else 0)
    if kind == "lm":
        for c in ("n", "k", "r2", "r2_adj", "f", "llf", "r2_loo"):
            close(bad, c, qm[c][0], rm[c][0], 1e-8)
        if not np.isnan(rm["r2_kfold"][0]):
            close(bad, "r2_kfold", qm["r2_kfold"][0], rm["r2_kfold"][0], 1e-8)
    elif kind == "mixed":
        if list(qm["component"]) != list(rm["component"]):
            bad.append("components: %s, %s" % (list(qm["component"]),
                                                list(rm["component"])))
        else:
            for k, c in enumerate(rm["component"]):
                close(bad, c + " variance", qm["variance"][k],
                      rm["variance"][k], 1e-4)
        close(bad, "llf", qm["llf"][0], rm["llf"][0], 1e-8)
        if qm["converged"][0] != 1 or rm["converged"][0] != 1:
            bad.append("not converged")
    else:
        q, r = read(files[0]), read(files[1])
        if list(q["x"] + ":" + q["y"]) != list(r["x"] + ":" + r["y"]):
            bad.append("pairs differ")
        else:
            cols = ("n", "r", "p", "p_adj") if kind == "cor" else \
                ("n", "r", "ci_low", "ci_high")
            for i in range(len(r)):
                for c in cols:
                    close(bad, "%s:%s %s" % (r["x"][i], r["y"][i], c),
                          q[c][i], r[c][i], 1e-8, 1e-300)
    for b in bad:
        print("fit_ref.py agree %s: %s" % (kind, b), file=sys.stderr)
    return 1 if bad else 0


def main(a):
    if a[0] == "gen":
        gen(a[1])
    elif a[0] == "lm":
        lm(a[1], a[2], a[3], a[4], a[5:])
    elif a[0] == "cor":
        cor(a[1], a[2], a[3], a[4])
    elif a[0] == "boot":
        boot(a[1], a[2], int(a[3]), a[4:])
    elif a[0] == "mixed":
        mixed(a[1], a[2], a[3], a[4], a[5].split(","))
    elif a[0] == "agree":
        return agree(a[1], a[2:])
    else:
        sys.exit("fit_ref.py: no command '%s'" % a[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
