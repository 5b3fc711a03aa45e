#!/usr/bin/env python3
"""The oracle of qf-fit cor and perm (tests/qf-fit-cor.bats): scipy.stats
(pearsonr, spearmanr, kendalltau, bootstrap, permutation_test) and
statsmodels' multipletests, run on the table qf-fit read.

  cor_oracle.py gen OUT [SEED]     a seeded test table
  cor_oracle.py cor TABLE OUT [qf-fit cor's options]
  cor_oracle.py perm TABLE OUT 'Y ~ G' [--levels A,B] [--permutations N]

both with --where COL=VALUE (once) as qf-fit's.

cor and perm recompute every row of qf-fit's table OUT (written with
--digits 17) and compare: 1e-8 relative (1e-12 absolute near 0) on every
number; a Monte-Carlo permutation p (not exact) within five standard
errors of scipy's own.  Exit 1 with the differences on stderr.  The
bootstrap is fed qf's own draws (docs/fit.md, "Draws"), so its intervals
are compared to 1e-8 too.
"""
import math
import os
import re
import sys
import warnings

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "eval"))
import oracle  # noqa: E402

RTOL, ATOL = 1e-8, 1e-12
bad = []


# ------------------------------------------------------------- the table

def gen(path, seed):
    """Columns: a, b (correlated, b with NA), c > 0, t (ties), z1, z2
    (covariates of a and b), g (two levels, one NA), g3 (three levels),
    s ('yes' on 7 rows: exact permutation p-values), k (constant)."""
    rng = np.random.default_rng(seed)
    n = 40
    z1, z2 = rng.normal(size=n), rng.normal(size=n)
    a = 0.6 * z1 + rng.normal(size=n)
    b = 0.5 * a - 0.4 * z2 + rng.normal(size=n)
    c = np.exp(0.3 * a + rng.normal(size=n))
    t = np.round(b * 1.5)
    g = np.where(rng.random(n) < 0.45, "rich", "poor")
    g = np.where(a + rng.normal(size=n) > 0.5, "rich", g)
    g3 = rng.choice(["x", "y", "w"], size=n)
    sub = np.where(np.isin(np.arange(n), [0, 2, 5, 9, 11, 20, 30]), "yes", "no")
    with open(path, "w") as f:
        f.write("# a test table\nlang\ta\tb\tc\tt\tz1\tz2\tg\tg3\ts\tk\n")
        for i in range(n):
            bb = "NA" if i in (3, 17) else repr(b[i])
            gg = "NA" if i == 5 else g[i]
            f.write(f"l{i}\t{a[i]!r}\t{bb}\t{c[i]!r}\t{t[i]!r}\t{z1[i]!r}\t"
                    f"{z2[i]!r}\t{gg}\t{g3[i]}\t{sub[i]}\t1.5\n")


def read(path, where=None):
    """A TSV as qf's tools write it: '#' lines, a header, rows; with
    where 'COL=VALUE', the rows where COL is VALUE."""
    rows = [ln.rstrip("\n").split("\t") for ln in open(path)
            if ln.strip() and not ln.startswith("#")]
    head = rows[0]
    if where:
        c, v = where.split("=", 1)
        rows = rows[:1] + [r for r in rows[1:] if r[head.index(c)] == v]
    return {h: [r[j] for r in rows[1:]] for j, h in enumerate(head)}


def num(s):
    return np.nan if s in ("", "NA", "nan", "-nan") else float(s)


def zscore(x):
    return (x - x.mean()) / x.std(ddof=1)


FUN = {"log": np.log, "log1p": np.log1p, "z": zscore,
       "rank": stats.rankdata, "sq": np.square}


def parse(expr):
    """'z(log(x))' -> (['z', 'log'], 'x')."""
    fs = []
    while (m := re.fullmatch(r"\s*(\w+)\((.*)\)\s*", expr)):
        fs.append(m.group(1))
        expr = m.group(2)
    return fs, expr.strip()


def columns(tab, exprs, rows=None):
    """The expressions over the rows (all) where their columns hold a
    number, transforms computed over those rows; and the rows dropped."""
    rows = range(len(next(iter(tab.values())))) if rows is None else rows
    parsed = [parse(e) for e in exprs]
    raw = np.array([[num(tab[c][i]) for i in rows] for _, c in parsed])
    ok = ~np.isnan(raw).any(axis=0)
    out = []
    for (fs, _), x in zip(parsed, raw[:, ok]):
        for f in reversed(fs):
            x = FUN[f](x)
        out.append(np.asarray(x, float))
    return out, int((~ok).sum()), [r for r, k in zip(rows, ok) if k]


# ------------------------------------------------------------- compare

def close(what, got, want, rtol=RTOL):
    g = num(got) if isinstance(got, str) else got
    w = float(want)
    if np.isnan(w) and np.isnan(g):
        return
    if np.isinf(w) and g == w:
        return
    if not abs(g - w) <= max(ATOL, rtol * abs(w)):
        bad.append(f"{what}: qf-fit {got}, reference {w!r}")


def same(what, got, want):
    if str(got) != str(want):
        bad.append(f"{what}: qf-fit {got}, reference {want}")


# ------------------------------------------------------------- draws

def qf_draws(seed, nboot, n):
    """qf's bootstrap indices (lib/fit/perm.c), replicate b a row: the
    generator of lib/eval/bootstrap.c, as qf-eval's oracle reimplements
    it."""
    return oracle.draws(seed, nboot, [n])[0]


class QfDraws(np.random.RandomState):
    """scipy's bootstrap asks randint(0, n, (B, n)) once: qf's draws."""

    def __init__(self, draws):
        super().__init__(0)
        self.draws = draws

    def randint(self, low, high=None, size=None, dtype=int):
        assert low == 0 and tuple(size) == self.draws.shape
        return self.draws.copy()


# ------------------------------------------------------------- cor

COEF = {"pearson": lambda x, y: stats.pearsonr(x, y).statistic,
        "spearman": lambda x, y: stats.spearmanr(x, y).statistic,
        "kendall": lambda x, y: stats.kendalltau(x, y).statistic}


def t_of(r, df):
    return r * math.sqrt(df / ((1 + r) * (1 - r))) if abs(r) < 1 else math.copysign(math.inf, r)


def kendall_z(x, y):
    """Kendall's z with the tie-corrected variance (docs/fit.md)."""
    n = len(x)
    s = np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :])
    cd = s.sum() / 2

    def ties(v):
        _, t = np.unique(v, return_counts=True)
        return t.astype(float)
    tx, ty = ties(x), ties(y)
    v = (n * (n - 1) * (2 * n + 5) - (tx * (tx - 1) * (2 * tx + 5)).sum()
         - (ty * (ty - 1) * (2 * ty + 5)).sum()) / 18
    v += (tx * (tx - 1)).sum() * (ty * (ty - 1)).sum() / (2 * n * (n - 1))
    v += ((tx * (tx - 1) * (tx - 2)).sum() * (ty * (ty - 1) * (ty - 2)).sum()
          / (9 * n * (n - 1) * (n - 2)))
    return cd / math.sqrt(v)


def kendall_exact(x, y):
    n = len(x)
    if len(set(x)) < n or len(set(y)) < n:
        return 0
    s = np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :])
    dis = int((s < 0).sum()) // 2
    return int(n <= 33 or min(dis, n * (n - 1) // 2 - dis) <= 1)


def one_cor(method, x, y):
    """r, stat, df, p, exact, lo, hi as qf-fit's row states them."""
    n = len(x)
    lo = hi = np.nan
    if method == "pearson":
        res = stats.pearsonr(x, y)
        r, p = res.statistic, res.pvalue
        if n > 3:
            ci = res.confidence_interval(0.95)
            lo, hi = ci.low, ci.high
        return r, t_of(r, n - 2), n - 2, p, 0, lo, hi
    if method == "spearman":
        r, p = stats.spearmanr(x, y)
        return r, t_of(r, n - 2), n - 2, p, 0, lo, hi
    res = stats.kendalltau(x, y)
    ex = kendall_exact(x, y)
    return (res.statistic, np.nan if ex else kendall_z(x, y), np.nan,
            res.pvalue, ex, lo, hi)


def partial(x, y, zs):
    n, k = len(x), len(zs)
    a = np.column_stack([np.ones(n)] + zs)
    rx = x - a @ np.linalg.lstsq(a, x, rcond=None)[0]
    ry = y - a @ np.linalg.lstsq(a, y, rcond=None)[0]
    r = np.corrcoef(rx, ry)[0, 1]
    df = n - 2 - k
    t = t_of(r, df)
    zc = stats.norm.ppf(0.975) / math.sqrt(n - 3 - k)
    return (r, t, df, 2 * stats.t.sf(abs(t), df), 0,
            math.tanh(math.atanh(r) - zc), math.tanh(math.atanh(r) + zc))


def vec(method, y):
    """The coefficient of x (permuted) with the fixed y, vectorized."""
    if method == "kendall":
        return (lambda x: stats.kendalltau(x, y).statistic), False
    yy = stats.rankdata(y) if method == "spearman" else y

    def f(x, axis=-1):
        xx = stats.rankdata(x, axis=-1) if method == "spearman" else x
        a = xx - xx.mean(axis=-1, keepdims=True)
        b = yy - yy.mean()
        return (a * b).sum(axis=-1) / np.sqrt((a * a).sum(axis=-1) * (b * b).sum())
    return f, True


def perm_p(method, x, y, nperm, exact):
    f, v = vec(method, y)
    if exact:
        return stats.permutation_test((x,), f, vectorized=v,
                                      permutation_type="pairings",
                                      n_resamples=np.inf).pvalue
    return stats.permutation_test((x,), f, vectorized=v,
                                  permutation_type="pairings",
                                  n_resamples=nperm, random_state=0).pvalue


def mc_close(what, got, want, nperm):
    """Two Monte-Carlo p-values (twice a tail t) of nperm draws each:
    the SE of each is 2 sqrt(t (1 - t) / nperm), of their difference
    sqrt(2) times that."""
    t = min(max(want / 2, 1 / nperm), 0.5)
    se = 2 * math.sqrt(2 * t * (1 - t) / nperm)
    if abs(float(got) - want) > 5 * se + 2 / nperm:
        bad.append(f"{what}: qf-fit {got}, scipy {want!r} (Monte-Carlo)")


def opts(argv):
    o = {"--method": "pearson", "--adjust": "holm", "--ci": "bca",
         "--seed": "1"}
    for i in range(0, len(argv), 2):
        o[argv[i]] = argv[i + 1]
    return o


def pairs(o):
    if "--pairs" in o:
        return [tuple(p.split(":")) for p in o["--pairs"].split(",")]
    xs = o["--x"].split(",")
    if "--y" in o:
        return [(x, y) for x in xs for y in o["--y"].split(",")]
    return [(xs[i], xs[j]) for i in range(len(xs)) for j in range(i + 1, len(xs))]


def cor(table, out, argv):
    o = opts(argv)
    tab, got = read(table, o.get("--where")), read(out)
    method = o["--method"]
    zs = o["--partial"].split(",") if "--partial" in o else []
    nboot = int(o.get("--bootstrap", 0))
    nperm = int(o.get("--permutations", 0))
    ps, pps = [], []
    pl = pairs(o)
    same("rows", len(got["x"]), len(pl))
    for i, (xe, ye) in enumerate(pl):
        w = f"row {i + 1} ({xe}:{ye})"
        cols, nd, _ = columns(tab, [xe, ye] + zs)
        x, y = cols[0], cols[1]
        g = {k: v[i] for k, v in got.items()}
        same(w + " x", g["x"], xe)
        same(w + " y", g["y"], ye)
        same(w + " given", g["given"], ",".join(zs) if zs else "NA")
        same(w + " method", g["method"], method)
        same(w + " n", g["n"], len(x))
        same(w + " dropped", g["dropped"], nd)
        r = partial(x, y, cols[2:]) if zs else one_cor(method, x, y)
        for name, v in zip(("r", "stat", "df", "p"), r[:4]):
            close(f"{w} {name}", g[name], v)
        same(w + " p_exact", g["p_exact"], r[4])
        lo, hi = r[5], r[6]
        if nboot:
            seed = int(o["--seed"])
            res = stats.bootstrap((x, y), COEF[method], paired=True,
                                  vectorized=False, n_resamples=nboot,
                                  method="BCa" if o["--ci"] == "bca" else "percentile",
                                  random_state=QfDraws(qf_draws(seed, nboot, len(x))))
            lo, hi = res.confidence_interval.low, res.confidence_interval.high
            same(w + " ci", g["ci"], o["--ci"])
        else:
            same(w + " ci", g["ci"], "NA" if np.isnan(lo) else "fisher")
        close(w + " ci_low", g["ci_low"], lo)
        close(w + " ci_high", g["ci_high"], hi)
        ps.append(r[3])
        if nperm:
            ex = math.factorial(len(x)) <= nperm
            same(w + " perm_exact", g["perm_exact"], int(ex))
            pp = perm_p(method, x, y, nperm, ex)
            if ex:
                close(w + " p_perm", g["p_perm"], pp)
            else:
                mc_close(w + " p_perm", g["p_perm"], pp, nperm)
            pps.append(float(g["p_perm"]))
    adj = o["--adjust"]
    same("adjust", got["adjust"][0], adj)
    sm = {"holm": "holm", "bh": "fdr_bh"}.get(adj)
    for col, p in (("p_adj", ps), ("p_perm_adj", pps)):
        want = multipletests(p, method=sm)[1] if sm and p else [np.nan] * len(pl)
        for i, v in enumerate(want):
            close(f"row {i + 1} {col}", got[col][i], v)


# ------------------------------------------------------------- perm

def diff(a, b, axis=-1):
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def perm(table, out, formula, argv):
    o = opts(argv)
    tab, got = read(table, o.get("--where")), read(out)
    ye, ge = (s.strip() for s in formula.split("~"))
    lab = tab[ge]
    nna = sum(s in ("", "NA") for s in lab)
    lv = (o["--levels"].split(",") if "--levels" in o
          else sorted({s for s in lab if s not in ("", "NA")}))
    rows = [i for i, s in enumerate(lab) if s in lv]
    (y,), nd, kept = columns(tab, [ye], rows)
    a = np.array([v for v, r in zip(y, kept) if lab[r] == lv[0]])
    b = np.array([v for v, r in zip(y, kept) if lab[r] == lv[1]])
    nperm = int(o.get("--permutations", 9999))
    ex = math.comb(len(a) + len(b), len(a)) <= nperm
    g = {k: v[0] for k, v in got.items()}
    for k, v in (("y", ye), ("group", ge), ("a", lv[0]), ("b", lv[1]),
                 ("n_a", len(a)), ("n_b", len(b)), ("dropped", nd + nna),
                 ("exact", int(ex)),
                 ("nperm", math.comb(len(a) + len(b), len(a)) if ex else nperm)):
        same(k, g[k], v)
    close("mean_a", g["mean_a"], a.mean())
    close("mean_b", g["mean_b"], b.mean())
    close("diff", g["diff"], a.mean() - b.mean())
    res = stats.permutation_test((a, b), diff, vectorized=True,
                                 permutation_type="independent",
                                 n_resamples=np.inf if ex else nperm,
                                 random_state=0)
    if ex:
        close("p", g["p"], res.pvalue)
    else:
        mc_close("p", g["p"], res.pvalue, nperm)


def main():
    warnings.simplefilter("ignore")
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
        return 0
    if cmd == "cor":
        cor(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        perm(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    for b in bad:
        print(b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
