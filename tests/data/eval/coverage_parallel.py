#!/usr/bin/python3
"""coverage_parallel.py - which 95% intervals hold on a parallel corpus?

A simulation with known truth, in the shape of the shipped corpus: 46
languages, K parallel units (paragraphs; every language has every unit).
The languages are fixed (the truth is about these languages), the units
are a random sample of paragraphs, so a unit's effect is shared by every
language (crossed design):

  unit measures (kl_unit, d_bits_unit: per-unit sums, D_L = their mean)
      x[L, u] = k_L len_u exp(g_Lu - sg^2/2) + sn len_u n_Lu
      len_u = exp(sb b_u - sb^2/2)       the unit's size and difficulty
      k_L   = exp(sa z_L)                the language (z_L fixed, sd 1)
      b, g/sg, n ~ N(0, 1)               g: language x unit interaction
  truth theta_L = E_u x[L, u] = k_L exactly (every factor has mean 1);

  deg_byte (a ratio of sums: D_L = exp(sum dnll / sum bytes) - 1, which
  is 2^(sum dnll / (sum bytes ln 2)) - 1)
      bytes[L, u] = 300 c_L len_u exp(sw w_Lu - sw^2/2), c_L in [1, 3]
      dnll[L, u]  = bytes r_L exp(g_Lu - sg^2/2) + sn sqrt(bytes) n_Lu
      r_L = 0.04 exp(sa z_L)
  truth theta_L = exp(E dnll / E bytes) - 1 = exp(r_L) - 1 exactly.

Disparity truths over the 46 theta_L: mean, tau = SD (n - 1), tau/mean,
range = max - min, cv = SD / mean.  The figures checked: a language's
D_L, the difference D_L - D_L' of two languages (45 pairs), the mean,
tau, tau_mean (tau / mean), range and cv, with these intervals:

  strat pct   today's bootstrap: each language resamples its own units
              independently; percentiles (docs/eval.md, "Bootstrap")
  clus pct    cluster bootstrap: a replicate draws K unit ids with
              replacement and every language takes those units
  clus BCa    the cluster replicates, BCa: z0 = Phi^-1(share of
              replicates below the estimate, ties counted half),
              a = sum d^3 / (6 (sum d^2)^1.5), d = mean_jack - theta_(g),
              theta_(g) with unit g deleted from every language
  clus boot-t the cluster replicates, studentized: t*_b = (theta*_b -
              theta) / se*_b, [theta - t*_97.5 se, theta - t*_2.5 se],
              each se the jackknife SE over the units (of the replicate's
              draws for se*_b)

and for tau, the bias-corrected between-language SD
  tau^2 = s^2_D - c,  c = (1/(n-1)) sum_L v_L,
  v_L = (G-1)/G sum_g (e_L(g) - mean_g e_L(g))^2,  e_L = D_L - mean_L' D_L'
  tau = sqrt(max(0, tau^2)):

  pct fixed c    percentiles of sqrt(max(0, s^2*_b - c)), c the estimate's
  pct own c      percentiles of tau*_b, each replicate with its own
                 correction (the jackknife over the replicate's draws)
  pct centred    the same percentiles moved by tau - s_D, then max(0, .):
                 in the bootstrap world the languages' truths are the
                 sample's D_L, so tau*_b scatter about s_D, not about tau
  basic var      [2 s^2 - q97.5(s^2*), 2 s^2 - q2.5(s^2*)] on the variance
                 scale, then max(0, .) and sqrt
  basic own c    [tau - (q97.5(tau*) - s_D), tau - (q2.5(tau*) - s_D)],
                 then max(0, .)
  boot-t var     tau^2 - t* se: t*_b = (tau^2*_b - tau^2) / se*_b, se the
                 jackknife SE of s^2 (of the estimate, of each replicate),
                 then max(0, .) and sqrt
  BCa own c      BCa of tau*_b (own correction), the acceleration from the
                 jackknife of tau-hat, each deletion with its own
                 correction (a nested jackknife)
  BCa of s_D     BCa of the uncorrected s_D (z0 alone to remove the bias)

tau_mean = tau / mean likewise: pct own c, pct centred and basic own c
(about cv = s_D / mean), BCa own c, BCa of cv.

Coverage is the share of intervals holding the truth; for D_L and the
differences each simulation contributes the share of its 46 (45)
intervals, and the Monte Carlo SE is that of the per-simulation shares.

The results, and what qf-eval should use: docs/eval.md, "How good the
intervals are" (measured 2026-12-07 with `coverage_parallel.py --sims 400
-j 2`, B = 1000: 40 minutes on 2 busy cores).

usage: coverage_parallel.py [--quick] [--sims N] [-B B] [-K 12,24,48,96]
                            [--settings a,b] [-j JOBS] [--md FILE]
  --quick: the checks of tests/coverage.bats (exit 1 when one fails):
           reference values first (BCa against scipy, the jackknife
           variance of a mean against its closed form), then a few
           coverages with loose bounds.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.special import ndtr, ndtri  # noqa: E402

N_LANG = 46
Q = (0.025, 0.975)


class Setting:
    def __init__(self, name, desc, kind, sa, sb, sg, sn=0.0, sw=0.15):
        self.name, self.desc, self.kind = name, desc, kind
        self.sa, self.sb, self.sg, self.sn, self.sw = sa, sb, sg, sn, sw


SETTINGS = [
    Setting("kl", "kl_unit-like: unit effect 0.6, interaction 0.5",
            "unit", sa=0.35, sb=0.6, sg=0.5),
    Setting("kl-skew", "kl_unit-like, heavy skew: unit 1.0, interaction 0.9",
            "unit", sa=0.35, sb=1.0, sg=0.9),
    Setting("kl-small-tau", "kl_unit-like, tau small: language sd 0.05",
            "unit", sa=0.05, sb=0.6, sg=0.6),
    Setting("d-bits", "d_bits_unit-like: additive noise sn 1.0 (some < 0)",
            "unit", sa=0.35, sb=0.6, sg=0.3, sn=1.0),
    Setting("deg-byte", "deg_byte: ratio of sums, bytes/char 1-3",
            "ratio", sa=0.35, sb=0.6, sg=0.5, sn=0.3),
]


def languages(st):
    """The fixed languages: (k_L or r_L, c_L) and the truths."""
    rng = np.random.default_rng(20)
    z = rng.standard_normal(N_LANG)
    z = (z - z.mean()) / z.std(ddof=1)
    c = rng.uniform(1.0, 3.0, N_LANG)
    if st.kind == "unit":
        k = np.exp(st.sa * z)
        theta = k
    else:
        k = 0.04 * np.exp(st.sa * z)
        theta = np.expm1(k)
    return k, c, theta


def truths(theta):
    sd = theta.std(ddof=1)
    m = theta.mean()
    return {"D": theta, "diff": theta[:-1] - theta[1:], "mean": m,
            "tau": sd, "tau_mean": sd / m, "sd": sd,
            "range": theta.max() - theta.min(), "cv": sd / m}


def dataset(st, K, rng):
    """num[L, K], den[L, K]: D_L = f(sum num / sum den)."""
    k, c, _ = languages(st)
    ln = np.exp(st.sb * rng.standard_normal(K) - st.sb ** 2 / 2)
    g = np.exp(st.sg * rng.standard_normal((N_LANG, K)) - st.sg ** 2 / 2)
    noise = rng.standard_normal((N_LANG, K))
    if st.kind == "unit":
        num = k[:, None] * ln * g + st.sn * ln * noise
        return num, np.ones_like(num)
    w = np.exp(st.sw * rng.standard_normal((N_LANG, K)) - st.sw ** 2 / 2)
    byt = 300.0 * c[:, None] * ln * w
    dnll = byt * k[:, None] * g + st.sn * np.sqrt(byt) * noise
    return dnll, byt


def lang_fig(st, sn, sd):
    if st.kind == "unit":
        return sn / sd
    return np.expm1(sn / sd)


def disparity(D):
    """Figures of D[..., L] that need no correction."""
    m = D.mean(-1)
    s = D.std(-1, ddof=1)
    return {"D": D, "diff": D[..., :-1] - D[..., 1:], "mean": m, "sd": s,
            "range": D.max(-1) - D.min(-1), "cv": s / m}


def jk_se(vg, W):
    """Jackknife SE from delete-one values vg[..., K] or vg[..., K, F]
    of draws with multiplicities W[..., K]."""
    extra = vg.ndim > W.ndim
    w = W[..., None] if extra else W
    n = W.sum(-1)[..., None] if extra else W.sum(-1)
    mean = (w * vg).sum(-2 if extra else -1) / n
    d = vg - (mean[..., None, :] if extra else mean[..., None])
    return np.sqrt((n - 1) / n * (w * d ** 2).sum(-2 if extra else -1))


def cluster_figs(st, num, den, W):
    """Every figure from unit multiplicities W[..., K] (the same for every
    language), tau with the correction of these draws: the jackknife
    deletes one draw of unit g from every language (weight W_g)."""
    sn, sd = W @ num.T, W @ den.T
    f = disparity(lang_fig(st, sn, sd))
    with np.errstate(divide="ignore", invalid="ignore"):
        Dg = lang_fig(st, sn[..., None, :] - num.T, sd[..., None, :] - den.T)
    w = W[..., :, None]
    n = W.sum(-1)
    e = np.where(w > 0, Dg - Dg.mean(-1, keepdims=True), 0.0)
    ebar = (w * e).sum(-2) / n[..., None]
    v = (n - 1)[..., None] / n[..., None] * (w * (e - ebar[..., None, :]) ** 2).sum(-2)
    c = v.sum(-1) / (N_LANG - 1)
    s2 = f["sd"] ** 2
    Dg = np.where(w > 0, Dg, 0.0)
    f["se_s2"] = jk_se(Dg.var(-1, ddof=1), W)
    f["se_D"] = jk_se(Dg, W)
    f["se_diff"] = jk_se(Dg[..., :-1] - Dg[..., 1:], W)
    f["se_mean"] = jk_se(Dg.mean(-1), W)
    f["s2"], f["c"] = s2, c
    f["tau2"] = s2 - c
    f["tau"] = np.sqrt(np.maximum(0.0, f["tau2"]))
    f["tau_mean"] = f["tau"] / f["mean"]
    return f


def strat_figs(st, num, den, idx):
    """Figures from independent draws idx[B, L, K] per language."""
    rows = np.arange(N_LANG)[None, :, None]
    sn = num[rows, idx].sum(-1)
    sd = den[rows, idx].sum(-1)
    return disparity(lang_fig(st, sn, sd))


def quantile_cols(reps, p):
    """Percentile p[...] (0-1) of reps[B, ...] column by column, linear
    interpolation between order statistics (numpy's default)."""
    s = np.sort(reps, axis=0)
    B = s.shape[0]
    pos = np.clip(p, 0.0, 1.0) * (B - 1)
    i = np.floor(pos).astype(int)
    j = np.minimum(i + 1, B - 1)
    fr = pos - i
    lo = np.take_along_axis(s, i[None], 0)[0]
    hi = np.take_along_axis(s, j[None], 0)[0]
    return lo + fr * (hi - lo)


def pct(reps):
    return np.percentile(reps, [2.5, 97.5], axis=0)


def bca(est, reps, jack):
    """BCa interval of est[...] from replicates reps[B, ...] and the
    delete-one values jack[G, ...]."""
    B = reps.shape[0]
    share = (reps < est).mean(0) + 0.5 * (reps == est).mean(0)
    share = np.clip(share, 0.5 / B, 1 - 0.5 / B)
    z0 = ndtri(share)
    d = jack.mean(0) - jack
    num, den = (d ** 3).sum(0), 6 * ((d ** 2).sum(0)) ** 1.5
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(den > 0, num / den, 0.0)
    out = []
    for q in Q:
        z = z0 + ndtri(q)
        out.append(quantile_cols(reps, ndtr(z0 + z / (1 - a * z))))
    return np.array(out)


def basic_var(s2, reps_s2):
    lo97, hi97 = np.percentile(reps_s2, [97.5, 2.5])
    lo, hi = 2 * s2 - lo97, 2 * s2 - hi97
    return np.sqrt(np.maximum(0.0, [lo, hi]))


def centred(est, plug, reps):
    """Percentiles of a bias-corrected estimate's replicates, moved by
    est - plug: in the bootstrap world the truth is the plug-in value
    (the sample's own D_L are its theta_L), so tau*_b scatter around
    s_D, not around tau-hat."""
    return np.maximum(0.0, pct(reps) + (est - plug))


def basic(est, plug, reps):
    """The basic interval about the bootstrap world's truth `plug`:
    est - (q97.5(reps) - plug), est - (q2.5(reps) - plug)."""
    lo, hi = pct(reps)
    return np.maximum(0.0, [est - (hi - plug), est - (lo - plug)])


def boot_t(est, se, reps, se_reps):
    """The bootstrap-t (studentized) interval, the SEs by the jackknife."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (reps - est) / se_reps
    t = np.where(np.isfinite(t), t, 0.0)
    t_lo, t_hi = np.percentile(t, [2.5, 97.5], axis=0)
    return np.array([est - t_hi * se, est - t_lo * se])


def boot_t_var(est, rep):
    t = (rep["tau2"] - est["tau2"]) / rep["se_s2"]
    t = t[np.isfinite(t)]
    t_lo, t_hi = np.percentile(t, [2.5, 97.5])
    lo = est["tau2"] - t_hi * est["se_s2"]
    hi = est["tau2"] - t_lo * est["se_s2"]
    return np.sqrt(np.maximum(0.0, [lo, hi]))


PLAIN = ("D", "diff", "mean", "range", "cv", "sd")
SHOWN = ("D", "diff", "mean", "range", "cv")


def one_sim(st, K, B, sim):
    """Intervals of one simulated dataset: {figure: {method: (lo, hi)}}
    and the estimates."""
    rng = np.random.default_rng([7, SETTINGS.index(st), K, sim])
    num, den = dataset(st, K, rng)
    est = cluster_figs(st, num, den, np.ones(K))
    jack = cluster_figs(st, num, den, 1.0 - np.eye(K))
    idx = rng.integers(0, K, (B, K))
    W = np.zeros((B, K))
    np.add.at(W, (np.arange(B)[:, None], idx), 1.0)
    rep = cluster_figs(st, num, den, W)
    srep = strat_figs(st, num, den, rng.integers(0, K, (B, N_LANG, K)))
    iv = {}
    for f in SHOWN:
        iv[f] = {"strat pct": pct(srep[f]), "clus pct": pct(rep[f]),
                 "clus BCa": bca(est[f], rep[f], jack[f])}
        if f in ("D", "diff", "mean"):
            iv[f]["clus boot-t"] = boot_t(est[f], est["se_" + f], rep[f], rep["se_" + f])
    fixed = np.sqrt(np.maximum(0.0, rep["s2"] - est["c"]))
    iv["tau"] = {"pct fixed c": pct(fixed), "pct own c": pct(rep["tau"]),
                 "pct centred": centred(est["tau"], est["sd"], rep["tau"]),
                 "basic var": basic_var(est["s2"], rep["s2"]),
                 "basic own c": basic(est["tau"], est["sd"], rep["tau"]),
                 "boot-t var": boot_t_var(est, rep),
                 "BCa own c": bca(est["tau"], rep["tau"], jack["tau"]),
                 "BCa of s_D": bca(est["sd"], rep["sd"], jack["sd"])}
    iv["tau_mean"] = {"pct own c": pct(rep["tau_mean"]),
                      "pct centred": centred(est["tau_mean"], est["cv"], rep["tau_mean"]),
                      "basic own c": basic(est["tau_mean"], est["cv"], rep["tau_mean"]),
                      "BCa own c": bca(est["tau_mean"], rep["tau_mean"], jack["tau_mean"]),
                      "BCa of cv": bca(est["cv"], rep["cv"], jack["cv"])}
    return iv, {f: est[f] for f in PLAIN + ("tau", "tau2", "s2", "tau_mean")}


def run_cell(args):
    st_name, K, B, sims = args
    st = next(s for s in SETTINGS if s.name == st_name)
    tr = truths(languages(st)[2])
    cov, ests = {}, {}
    for sim in sims:
        iv, est = one_sim(st, K, B, sim)
        for f, ms in iv.items():
            for m, (lo, hi) in ms.items():
                ok = np.mean((lo <= tr[f]) & (tr[f] <= hi))
                cov.setdefault((f, m), []).append(ok)
        for f, v in est.items():
            ests.setdefault(f, []).append(np.mean(v) if f in ("D", "diff") else v)
    return st_name, K, cov, ests


def summarize(cov):
    x = np.array(cov)
    return x.mean(), x.std(ddof=1) / np.sqrt(len(x))


def bias_row(st, ests):
    """Mean estimate over the truth, for the figures that need it."""
    tr = truths(languages(st)[2])
    out = {}
    for f in ("range", "cv", "sd", "tau", "tau_mean"):
        out[f] = np.mean(ests[f]) / tr[f]
    out["s2"] = np.mean(ests["s2"]) / tr["tau"] ** 2
    out["tau2"] = np.mean(ests["tau2"]) / tr["tau"] ** 2
    return out


def run_study(names, Ks, B, nsim, jobs, chunk=25):
    tasks = []
    for name in names:
        for K in Ks:
            for s0 in range(0, nsim, chunk):
                tasks.append((name, K, B, range(s0, min(nsim, s0 + chunk))))
    if jobs > 1:
        import multiprocessing as mp
        with mp.Pool(jobs) as pool:
            parts = pool.map(run_cell, tasks, chunksize=1)
    else:
        parts = [run_cell(t) for t in tasks]
    res = {}
    for name, K, cov, ests in parts:
        c, e = res.setdefault((name, K), ({}, {}))
        for k, v in cov.items():
            c.setdefault(k, []).extend(v)
        for k, v in ests.items():
            e.setdefault(k, []).extend(v)
    return res


ORDER = [("D", "strat pct"), ("D", "clus pct"), ("D", "clus BCa"),
         ("D", "clus boot-t"),
         ("diff", "strat pct"), ("diff", "clus pct"), ("diff", "clus BCa"),
         ("diff", "clus boot-t"),
         ("mean", "strat pct"), ("mean", "clus pct"), ("mean", "clus BCa"),
         ("mean", "clus boot-t"),
         ("tau", "pct fixed c"), ("tau", "pct own c"), ("tau", "pct centred"),
         ("tau", "basic var"), ("tau", "basic own c"), ("tau", "boot-t var"),
         ("tau", "BCa own c"), ("tau", "BCa of s_D"),
         ("tau_mean", "pct own c"), ("tau_mean", "pct centred"),
         ("tau_mean", "basic own c"), ("tau_mean", "BCa own c"),
         ("tau_mean", "BCa of cv"),
         ("range", "strat pct"), ("range", "clus pct"), ("range", "clus BCa"),
         ("cv", "strat pct"), ("cv", "clus pct"), ("cv", "clus BCa")]


def markdown(res, names, Ks, B, nsim):
    out = []
    for name in names:
        st = next(s for s in SETTINGS if s.name == name)
        out.append("#### `%s`: %s\n" % (name, st.desc))
        out.append("| figure | interval | " + " | ".join("K = %d" % K for K in Ks) + " |")
        out.append("|---|---|" + "---:|" * len(Ks))
        for f, m in ORDER:
            cells = []
            for K in Ks:
                c, se = summarize(res[(name, K)][0][(f, m)])
                cells.append("%.1f" % (100 * c))
            out.append("| %s | %s | %s |" % (f, m, " | ".join(cells)))
        se = {f: max(summarize(res[(name, K)][0][(f, "clus boot-t")])[1] for K in Ks)
              for f in ("D", "diff", "mean")}
        out.append("")
        out.append("Mean estimate / truth (`tau2`, `s2`: over tau_true^2):\n")
        out.append("| figure | " + " | ".join("K = %d" % K for K in Ks) + " |")
        out.append("|---|" + "---:|" * len(Ks))
        rows = [bias_row(st, res[(name, K)][1]) for K in Ks]
        for f in ("range", "cv", "sd", "s2", "tau2", "tau", "tau_mean"):
            out.append("| %s | %s |" % (f, " | ".join("%.3f" % r[f] for r in rows)))
        out.append("")
        out.append("(%d simulations of B = %d; Monte Carlo SE of the coverage "
                   "at most %.1f points for D, %.1f for diff, %.1f for the mean)\n"
                   % (nsim, B, 100 * se["D"], 100 * se["diff"], 100 * se["mean"]))
    return "\n".join(out)


def check_references():
    """The building blocks against independent references."""
    from scipy import stats
    rng = np.random.default_rng(11)
    x = np.exp(rng.standard_normal(24))
    # BCa of a mean: against scipy.stats.bootstrap, both with many replicates
    B = 40000
    idx = rng.integers(0, 24, (B, 24))
    reps = x[idx].mean(1)
    jack = (x.sum() - x) / 23
    mine = bca(x.mean(), reps, jack)
    sp = stats.bootstrap((x,), np.mean, n_resamples=B, method="BCa",
                         random_state=np.random.default_rng(12)).confidence_interval
    ok = np.allclose(mine, [sp.low, sp.high], rtol=0.01)
    print("BCa of a mean: %.4f %.4f, scipy %.4f %.4f%s"
          % (mine[0], mine[1], sp.low, sp.high, "" if ok else "  DIFFER"))
    # the correction of a per-unit mean measure in closed form:
    # v_L = sum_g (y_Lg - ybar_L)^2 / (K (K - 1)), y = x - mean over languages
    st = SETTINGS[0]
    num, den = dataset(st, 24, rng)
    est = cluster_figs(st, num, den, np.ones(24))
    y = num - num.mean(0)
    v = ((y - y.mean(1, keepdims=True)) ** 2).sum(1) / (24 * 23)
    ok2 = np.isclose(est["c"], v.sum() / (N_LANG - 1), rtol=1e-10)
    print("correction c: %.6g, closed form %.6g%s"
          % (est["c"], v.sum() / (N_LANG - 1), "" if ok2 else "  DIFFER"))
    # the jackknife SE of a mean: s / sqrt(K)
    ok2 &= np.allclose(est["se_D"], num.std(1, ddof=1) / np.sqrt(24), rtol=1e-10)
    print("jackknife SE of D_L = s / sqrt(K): %s" % ("ok" if ok2 else "DIFFER"))
    # the weighted jackknife of a replicate = the plain jackknife of its
    # draws written out (unit g drawn W_g times: W_g deletions)
    W = np.zeros(24)
    np.add.at(W, rng.integers(0, 24, 24), 1.0)
    rep = cluster_figs(st, num, den, W)
    drawn = np.repeat(np.arange(24), W.astype(int))
    flat = cluster_figs(st, num[:, drawn], den[:, drawn], np.ones(24))
    keys = ("c", "tau2", "se_s2", "se_D", "se_diff", "se_mean")
    ok3 = all(np.allclose(rep[k], flat[k], rtol=1e-10) for k in keys)
    print("replicate's jackknife by weights = written out: %s" % ("ok" if ok3 else "DIFFER"))
    return ok and ok2 and ok3


def quick():
    """tests/coverage.bats: references, then loose coverage bounds."""
    ok = check_references()
    t0 = time.time()
    res = run_study(["kl", "kl-small-tau"], [24], 400, 120, 1, chunk=120)
    cov, ests = res[("kl", 24)]
    c = {k: summarize(v)[0] for k, v in cov.items()}
    small = {k: summarize(v)[0] for k, v in res[("kl-small-tau", 24)][0].items()}
    b = bias_row(SETTINGS[0], ests)
    checks = [
        # the cluster bootstrap covers the disparity mean; the stratified
        # one, blind to the units' shared effect, far less
        ("mean clus boot-t >= 0.88", c[("mean", "clus boot-t")] >= 0.88),
        ("mean strat pct <= 0.75", c[("mean", "strat pct")] <= 0.75),
        ("D clus boot-t >= 0.88", c[("D", "clus boot-t")] >= 0.88),
        ("diff clus boot-t >= 0.88", c[("diff", "clus boot-t")] >= 0.88),
        ("tau pct centred >= 0.88", c[("tau", "pct centred")] >= 0.88),
        ("tau_mean pct centred >= 0.88", c[("tau_mean", "pct centred")] >= 0.88),
        ("small tau: tau pct centred >= 0.88", small[("tau", "pct centred")] >= 0.88),
        # BCa of an estimate already bias-corrected corrects twice
        ("tau_mean BCa own c <= 0.85", c[("tau_mean", "BCa own c")] <= 0.85),
        ("small tau: tau BCa own c <= 0.6", small[("tau", "BCa own c")] <= 0.6),
        # tau^2 is unbiased, s^2 is not
        ("E tau2 / tau^2 in [0.95, 1.05]", 0.95 <= b["tau2"] <= 1.05),
        ("E s2 / tau^2 >= 1.1", b["s2"] >= 1.1),
    ]
    for name, good in checks:
        ok &= good
    for (f, m), v in sorted(c.items()):
        print("%-9s %-12s %.3f" % (f, m, v))
    print("E tau2/tau^2 %.3f, E s2/tau^2 %.3f (%.0f s)" % (b["tau2"], b["s2"], time.time() - t0))
    for name, good in checks:
        print("%s %s" % ("ok  " if good else "FAIL", name))
    return 0 if ok else 1


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sims", type=int, default=400)
    ap.add_argument("-B", type=int, default=1000)
    ap.add_argument("-K", default="12,24,48,96")
    ap.add_argument("--settings", default=",".join(s.name for s in SETTINGS))
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--md", default="-")
    a = ap.parse_args(argv)
    if a.quick:
        return quick()
    names = a.settings.split(",")
    Ks = [int(k) for k in a.K.split(",")]
    t0 = time.time()
    res = run_study(names, Ks, a.B, a.sims, a.j)
    md = markdown(res, names, Ks, a.B, a.sims)
    if a.md == "-":
        print(md)
    else:
        with open(a.md, "w") as f:
            f.write(md + "\n")
    print("%.0f s" % (time.time() - t0), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
