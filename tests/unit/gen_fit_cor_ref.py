#!/usr/bin/python3
"""Reference cases for tests/unit/test_fit_cor.c, computed at test time
with scipy and statsmodels, independently of qf.

    /usr/bin/python3 tests/unit/gen_fit_cor_ref.py OUT

tests/fit-cor.bats runs it and hands OUT to the unit test in
$QF_FIT_COR_REF.  Data are seeded random draws (several n, small ones,
ties, NaN cells).  One case a line, space-separated, floats as repr()
("nan", "inf"); the inputs, then the expected numbers:

  cor METHOD LEVEL N X.. Y.. | R P EXACT LO HI STAT DF NDROP
      scipy.stats.pearsonr (+ confidence_interval), spearmanr,
      kendalltau (method='auto') on the complete pairs
  partial LEVEL N K X.. Y.. Z.. | R P LO HI STAT DF
      numpy least squares on [1, Z], Pearson of the residuals,
      t on N - 2 - K df, Fisher z with se 1 / sqrt(N - 3 - K)
  adjust METHOD M P.. | ADJ..
      statsmodels.stats.multitest.multipletests ('holm', 'fdr_bh') on
      the p-values that are not NaN
  corperm METHOD N X.. Y.. | P
      scipy.stats.permutation_test(permutation_type='pairings'), every
      order of x (n_resamples=inf)
  permdiff NA NB A.. B.. | DIFF P
      scipy.stats.permutation_test(permutation_type='independent'),
      every split, statistic mean(a) - mean(b)
  boot METHOD KIND LEVEL B SEED N X.. Y.. | LO HI
      scipy.stats.bootstrap(paired=True, method='percentile' or 'BCa')
      with qf's draws (xoshiro256** seeded by splitmix64, replicate b
      from seed + 4 b golden, index = high 64 bits of draw * n) fed to
      it through RandomState.randint
"""
import os
import sys
import warnings

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "data", "fit"))
from cor_oracle import COEF, QfDraws, qf_draws  # noqa: E402

warnings.simplefilter("ignore")
rng = np.random.default_rng(20261207)
out = []


def fmt(v):
    return repr(float(v))


def line(*parts):
    toks = []
    for p in parts:
        if isinstance(p, (list, tuple, np.ndarray)):
            toks += [fmt(v) for v in p]
        elif isinstance(p, str):
            toks.append(p)
        elif isinstance(p, (int, np.integer)):
            toks.append(str(int(p)))
        else:
            toks.append(fmt(p))
    out.append(" ".join(toks))


def pair(n, ties, nan=0):
    """x, y with a random correlation; ties: values on a few levels."""
    rho = rng.uniform(-0.9, 0.9)
    x = rng.normal(size=n)
    y = rho * x + np.sqrt(1 - rho * rho) * rng.normal(size=n)
    if ties:
        x = np.round(x * 1.5)
        y = np.round(y * 1.5)
    for _ in range(nan):
        (x if rng.random() < 0.5 else y)[rng.integers(n)] = np.nan
    return x, y


def complete(x, y):
    ok = ~np.isnan(x) & ~np.isnan(y)
    return x[ok], y[ok], int((~ok).sum())


def degenerate(x, y):
    return len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0])


# ---------------------------------------------------------------- cor

def cor_case(method, x, y, level=0.95):
    xs, ys, nd = complete(x, y)
    if degenerate(xs, ys):
        return
    lo = hi = stat = df = np.nan
    exact = 0
    n = len(xs)
    if method == "pearson":
        res = stats.pearsonr(xs, ys)
        r, p = res.statistic, res.pvalue
        if n > 3:
            ci = res.confidence_interval(level)
            lo, hi = ci.low, ci.high
        df = n - 2
        stat = r * np.sqrt(df / ((r + 1) * (1 - r))) if abs(r) < 1 else np.inf * np.sign(r)
    elif method == "spearman":
        r, p = stats.spearmanr(xs, ys)
        df = n - 2
        stat = r * np.sqrt(df / ((r + 1) * (1 - r))) if abs(r) < 1 else np.inf * np.sign(r)
    else:
        res = stats.kendalltau(xs, ys)
        r, p = res.statistic, res.pvalue
        noties = len(set(xs)) == n and len(set(ys)) == n
        tot = n * (n - 1) // 2
        sgn = np.sign(xs[:, None] - xs[None, :]) * np.sign(ys[:, None] - ys[None, :])
        dis = int((sgn < 0).sum()) // 2
        exact = int(noties and (n <= 33 or min(dis, tot - dis) <= 1))
        if not exact:
            # scipy's z, recomputed with its own variance
            stat = np.nan  # checked through p only
    line("cor", method, level, len(x), x, y, "|", r, p, exact, lo, hi,
         stat, df, nd)


for method in ("pearson", "spearman", "kendall"):
    for n in (3, 4, 5, 8, 12, 20, 33, 34, 60, 200, 1500):
        for ties in (False, True):
            for _ in range(2):
                cor_case(method, *pair(n, ties))
    for n in (10, 40):
        cor_case(method, *pair(n, False, nan=3))
        cor_case(method, *pair(n, True, nan=2))
    cor_case(method, *pair(30, False), level=0.9)
    # a perfect order: r = 1, Kendall's exact c = 0 branch at any n
    x = np.arange(50.0)
    cor_case(method, x, 2 * x + 1)
    cor_case(method, x, -x)
    y = -x.copy()
    y[[3, 4]] = y[[4, 3]]       # one concordant pair: c = 1
    cor_case(method, x, y)

# ------------------------------------------------------------ partial

for n in (8, 10, 30, 100):
    for k in (1, 2, 3):
        if n - 3 - k < 1:
            continue
        z = rng.normal(size=(n, k))
        x = z @ rng.normal(size=k) + rng.normal(size=n)
        y = z @ rng.normal(size=k) + 0.5 * x + rng.normal(size=n)
        if n == 30:
            x[4] = np.nan
            z[7, k - 1] = np.nan
        ok = ~np.isnan(x) & ~np.isnan(y) & ~np.isnan(z).any(axis=1)
        a = np.column_stack([np.ones(ok.sum()), z[ok]])
        rx = x[ok] - a @ np.linalg.lstsq(a, x[ok], rcond=None)[0]
        ry = y[ok] - a @ np.linalg.lstsq(a, y[ok], rcond=None)[0]
        m = int(ok.sum())
        r = np.corrcoef(rx, ry)[0, 1]
        df = m - 2 - k
        t = r * np.sqrt(df / (1 - r * r))
        p = 2 * stats.t.sf(abs(t), df)
        zc = stats.norm.ppf(0.975) / np.sqrt(m - 3 - k)
        line("partial", 0.95, n, k, x, y, z.ravel(), "|", r, p,
             np.tanh(np.arctanh(r) - zc), np.tanh(np.arctanh(r) + zc), t, df)

# ------------------------------------------------------------- adjust

for m in (1, 2, 5, 20, 100):
    p = np.where(rng.random(m) < 0.4, rng.random(m) * 0.01, rng.random(m))
    if m >= 5:
        p[1] = p[3]             # a tie
        p[0] = np.nan
    ok = ~np.isnan(p)
    for method, sm in (("holm", "holm"), ("bh", "fdr_bh")):
        adj = np.full(m, np.nan)
        adj[ok] = multipletests(p[ok], method=sm)[1]
        line("adjust", method, m, p, "|", adj)

# --------------------------------------------------- permutation tests

def spearman_vec(y):
    ry = stats.rankdata(y)

    def f(x, axis=-1):
        rx = stats.rankdata(x, axis=-1)
        a = rx - rx.mean(axis=-1, keepdims=True)
        b = ry - ry.mean()
        return (a * b).sum(axis=-1) / np.sqrt((a * a).sum(axis=-1) * (b * b).sum())
    return f


def pearson_vec(y):
    def f(x, axis=-1):
        a = x - x.mean(axis=-1, keepdims=True)
        b = y - y.mean()
        return (a * b).sum(axis=-1) / np.sqrt((a * a).sum(axis=-1) * (b * b).sum())
    return f


def kendall_fn(y):
    return lambda x: stats.kendalltau(x, y).statistic


for method, n, ties in (("spearman", 4, False), ("spearman", 5, True),
                        ("spearman", 6, False), ("spearman", 7, True),
                        ("pearson", 6, False), ("kendall", 6, True),
                        ("kendall", 7, False)):
    x, y = pair(n, ties)
    if degenerate(x, y):
        continue
    if method == "kendall":
        res = stats.permutation_test((x,), kendall_fn(y), vectorized=False,
                                     permutation_type="pairings",
                                     n_resamples=np.inf)
    else:
        f = spearman_vec(y) if method == "spearman" else pearson_vec(y)
        res = stats.permutation_test((x,), f, vectorized=True,
                                     permutation_type="pairings",
                                     n_resamples=np.inf)
    line("corperm", method, n, x, y, "|", res.pvalue)


def diff(a, b, axis=-1):
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


for na, nb, ties in ((2, 3, False), (3, 4, False), (5, 5, True),
                     (6, 8, False), (8, 10, True), (4, 12, False)):
    a = rng.normal(0.5, 1, size=na)
    b = rng.normal(0, 1, size=nb)
    if ties:
        a, b = np.round(a * 2), np.round(b * 2)
    res = stats.permutation_test((a, b), diff, vectorized=True,
                                 permutation_type="independent",
                                 n_resamples=np.inf)
    line("permdiff", na, nb, a, b, "|", res.statistic, res.pvalue)

# ---------------------------------------------------------- bootstrap

for method in ("pearson", "spearman", "kendall"):
    for kind in ("percentile", "bca"):
        for n, ties, nboot, seed, level in ((15, False, 499, 7, 0.95),
                                            (30, True, 999, 2**63 + 5, 0.9)):
            x, y = pair(n, ties)
            res = stats.bootstrap((x, y), COEF[method], paired=True,
                                  vectorized=False, n_resamples=nboot,
                                  confidence_level=level,
                                  method="BCa" if kind == "bca" else "percentile",
                                  random_state=QfDraws(qf_draws(seed, nboot, n)))
            ci = res.confidence_interval
            line("boot", method, kind, level, nboot, seed, n, x, y, "|",
                 ci.low, ci.high)

with open(sys.argv[1], "w") as f:
    f.write("\n".join(out) + "\n")
