#!/usr/bin/python3
"""Reference fits for tests/unit/test_fit_mixed.c, by statsmodels MixedLM
and, where they exist, the closed forms of balanced designs.

    /usr/bin/python3 tests/unit/gen_fit_mixed_ref.py OUT

Simulates seeded data sets (one factor and two crossed factors, balanced
and unbalanced, a zero component, the paired multiplicative model of
Mielke et al. 2019 on log of a positive per-language, per-article
quantity) and writes, per case:

    case NAME
    nf NF ml ML n N p P tol TOL
    y   N values
    x   N*P values (row-major)
    g1  N codes (and g2 with two factors)
    beta P   se P   vc NF+1 (factors, then the residual)
    re Q     the random effects (statsmodels cases only), factor 1's
             levels then factor 2's
    llf 1
    end

TOL is the relative tolerance of the comparison: 1e-8 for the closed
forms (ANOVA estimators of balanced designs, which REML reproduces when
they are positive), TOL_SM for statsmodels: its optimizers (BFGS with
gtol 1e-10, Powell with xtol 1e-12, the better llf kept) agree with
each other to about 1e-8 on the variance parameters, not better.
Exit status 77 when numpy or statsmodels is missing.
"""
import os
import sys
import warnings

try:
    import numpy as np
    import pandas as pd
    import statsmodels.formula.api as smf
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(
        __file__)), "..", "data", "fit"))
    from mixed_oracle import fit_best
except ImportError:
    sys.exit(77)

TOL_SM = 1e-6
warnings.simplefilter("ignore")
out = open(sys.argv[1], "w")


def emit(name, y, X, groups, beta, se, vc, llf, tol, ml=False, re=None):
    n, p = X.shape
    w = out.write
    w("case %s\nnf %d ml %d n %d p %d tol %r\n" % (name, len(groups),
      int(ml), n, p, tol))
    w("y " + " ".join(repr(float(v)) for v in y) + "\n")
    w("x " + " ".join(repr(float(v)) for v in X.ravel()) + "\n")
    for k, g in enumerate(groups):
        w("g%d " % (k + 1) + " ".join(str(int(v)) for v in g) + "\n")
    w("beta " + " ".join(repr(float(v)) for v in beta) + "\n")
    w("se " + " ".join(repr(float(v)) for v in se) + "\n")
    w("vc " + " ".join(repr(float(v)) for v in vc) + "\n")
    if re is not None:
        w("re " + " ".join(repr(float(v)) for v in re) + "\n")
    w("llf %r\nend\n" % float(llf))


def sm_fit(y, X, groups, ml=False):
    """MixedLM: one factor as groups, two crossed ones as variance
    components of one constant group."""
    n, p = X.shape
    d = pd.DataFrame(X, columns=["x%d" % j for j in range(p)])
    d["y"] = y
    for k, g in enumerate(groups):
        d["g%d" % (k + 1)] = g
    form = "y ~ 0 + " + " + ".join(d.columns[:p])
    if len(groups) == 1:
        md = smf.mixedlm(form, d, groups=d["g1"])
    else:
        d["one"] = 1
        md = smf.mixedlm(form, d, groups="one", re_formula="0",
                         vc_formula={"g1": "0 + C(g1)", "g2": "0 + C(g2)"})
    r = fit_best(md, ml)
    if len(groups) == 1:
        vc = [float(r.cov_re.iloc[0, 0]), r.scale]
        re = [float(r.random_effects[k].iloc[0])
              for k in range(groups[0].max() + 1)]
    else:
        # vcomp follows the sorted names of vc_formula: g1, g2; the
        # random effects are named g1[C(g1)[3]], in string order
        vc = list(r.vcomp) + [r.scale]
        byname = r.random_effects[1]
        re = [float(byname["g%d[C(g%d)[%d]]" % (k + 1, k + 1, lev)])
              for k, g in enumerate(groups) for lev in range(g.max() + 1)]
    return r.fe_params.values, r.bse_fe.values, vc, r.llf, re


def case_sm(name, y, X, groups, ml=False):
    beta, se, vc, llf, re = sm_fit(y, X, groups, ml)
    emit(name, y, X, groups, beta, se, vc, llf, TOL_SM, ml, re)


def design(rng, n, extra=1):
    return np.column_stack([np.ones(n)] +
                           [rng.normal(size=n) for _ in range(extra)])


def oneway(rng, sizes, sd_g, sd_e, extra=1):
    g = np.repeat(np.arange(len(sizes)), sizes)
    X = design(rng, len(g), extra)
    u = rng.normal(scale=sd_g, size=len(sizes))
    y = X @ (0.5 + np.arange(X.shape[1])) + u[g] + rng.normal(scale=sd_e,
                                                             size=len(g))
    return y, X, [g]


def crossed(rng, a, b, sd_a, sd_b, sd_e, keep=1.0, extra=1):
    ga, gb = np.meshgrid(np.arange(a), np.arange(b), indexing="ij")
    ga, gb = ga.ravel(), gb.ravel()
    if keep < 1:
        m = rng.random(len(ga)) < keep
        ga, gb = ga[m], gb[m]
    X = design(rng, len(ga), extra)
    u = rng.normal(scale=sd_a, size=a)
    v = rng.normal(scale=sd_b, size=b)
    y = X @ (1.0 - 0.3 * np.arange(X.shape[1])) + u[ga] + v[gb] + \
        rng.normal(scale=sd_e, size=len(ga))
    return y, X, [ga, gb]


def anova_oneway(rng):
    """Balanced one-way, intercept only: REML = the ANOVA estimators."""
    a, m = 12, 6
    y, X, g = oneway(rng, [m] * a, 1.0, 0.7, extra=0)
    ym = y.reshape(a, m)
    msw = ((ym - ym.mean(1, keepdims=True)) ** 2).sum() / (a * (m - 1))
    msb = m * ((ym.mean(1) - y.mean()) ** 2).sum() / (a - 1)
    assert msb > msw
    vc = [(msb - msw) / m, msw]
    beta = [y.mean()]
    se = [np.sqrt(msb / (a * m))]
    llf = reml_llf(y, X, g, vc)
    emit("anova_oneway", y, X, g, beta, se, vc, llf, 1e-8)


def anova_crossed(rng):
    """Balanced two-way crossed, no interaction, intercept only."""
    a, b = 9, 7
    y, X, g = crossed(rng, a, b, 1.0, 0.6, 0.5, extra=0)
    ym = y.reshape(a, b)
    mu = y.mean()
    ra, rb = ym.mean(1) - mu, ym.mean(0) - mu
    mse = ((ym - ra[:, None] - rb[None, :] - mu) ** 2).sum() / \
        ((a - 1) * (b - 1))
    msa = b * (ra ** 2).sum() / (a - 1)
    msb = a * (rb ** 2).sum() / (b - 1)
    assert msa > mse and msb > mse
    vc = [(msa - mse) / b, (msb - mse) / a, mse]
    se = [np.sqrt((msa + msb - mse) / (a * b))]
    llf = reml_llf(y, X, g, vc)
    emit("anova_crossed", y, X, g, [mu], se, vc, llf, 1e-8)


def reml_llf(y, X, groups, vc):
    """The REML log-likelihood by its definition, densely (Harville
    1977): -1/2 [(n-p) log 2pi + log|V| + log|X'V^-1X| + r'V^-1 r]."""
    n, p = X.shape
    V = vc[-1] * np.eye(n)
    for g, s in zip(groups, vc):
        Z = (g[:, None] == np.arange(g.max() + 1)[None, :]).astype(float)
        V += s * Z @ Z.T
    Vi = np.linalg.inv(V)
    A = X.T @ Vi @ X
    b = np.linalg.solve(A, X.T @ Vi @ y)
    r = y - X @ b
    return -0.5 * ((n - p) * np.log(2 * np.pi) + np.linalg.slogdet(V)[1] +
                   np.linalg.slogdet(A)[1] + r @ Vi @ r)


def mielke(rng, a, b, fixed_lang):
    """Mielke et al. (2019): y[l, j] = n_l m_j exp(e): log y = log n_l +
    log m_j + e, a language effect and an article effect."""
    ga, gb = np.meshgrid(np.arange(a), np.arange(b), indexing="ij")
    ga, gb = ga.ravel(), gb.ravel()
    keep = rng.random(len(ga)) < 0.9	# some translations missing
    ga, gb = ga[keep], gb[keep]
    logn = rng.normal(scale=0.3, size=a)
    logm = rng.normal(loc=6, scale=0.5, size=b)
    y = np.exp(logn[ga] + logm[gb] + rng.normal(scale=0.1, size=len(ga)))
    if fixed_lang:
        X = (ga[:, None] == np.arange(a)[None, :]).astype(float)
        X[:, 0] = 1	# intercept, language 0 the baseline
        return np.log(y), X, [gb]
    return np.log(y), np.ones((len(ga), 1)), [ga, gb]


def main():
    rng = np.random.default_rng(20261207)
    anova_oneway(rng)
    anova_crossed(rng)
    case_sm("oneway_balanced", *oneway(rng, [8] * 20, 1.0, 1.0))
    case_sm("oneway_unbalanced",
            *oneway(rng, rng.integers(2, 13, size=25), 0.8, 1.2, extra=2))
    case_sm("oneway_ml", *oneway(rng, rng.integers(3, 9, size=15), 1.0, 1.0),
            ml=True)
    # the group component is 0: between-group mean square below within
    for seed in range(100):
        y, X, g = oneway(np.random.default_rng(seed), [5] * 10, 0.0, 1.0)
        ym = (y - X @ np.linalg.lstsq(X, y, rcond=None)[0]).reshape(10, 5)
        if 5 * ym.mean(1).var(ddof=1) < ym.var(1, ddof=1).mean() * 0.8:
            break
    case_sm("oneway_zero", y, X, g)
    case_sm("crossed_balanced", *crossed(rng, 12, 8, 1.0, 0.5, 0.8))
    case_sm("crossed_unbalanced",
            *crossed(rng, 14, 9, 0.7, 1.1, 1.0, keep=0.75, extra=2))
    case_sm("crossed_ml", *crossed(rng, 10, 6, 1.0, 0.5, 0.8, keep=0.85),
            ml=True)
    case_sm("crossed_zero", *crossed(rng, 10, 8, 1.0, 0.0, 1.0))
    case_sm("mielke_crossed", *mielke(rng, 30, 16, False))
    case_sm("mielke_fixed_lang", *mielke(rng, 20, 12, True))


main()
