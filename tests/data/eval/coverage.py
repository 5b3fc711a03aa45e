#!/usr/bin/python3
"""coverage.py - does docs/eval.md's bootstrap give 95% intervals?

The paired, language-stratified percentile bootstrap over units, with the
draws docs/eval.md specifies (xoshiro256** seeded by splitmix64, index
floor(x n_L / 2^64)), as oracle.py implements them, is applied to many
simulated datasets whose true figures are known:

  - 4 languages, 50 to 80 units each, 5 to 150 tokens per unit;
  - a unit's per-token NLL of the reference: mu_L + e_u + noise, with a
    unit effect e_u ~ N(0, 0.4^2) (tokens of one text are alike: this is
    why units, not tokens, are resampled) and skewed noise, Gamma(2, 0.5)
    - 1 (mean 0);
  - the test model's: the reference's + delta_L + h_u + N(0, 0.3^2), with
    h_u ~ N(0, 0.1^2): paired, as two models on the same text are.

True values: nll_L = mu_L, d_nll_L = delta_L and the disparity `mean` of
d_nll over the languages = mean delta. The 95% intervals must cover them
in 91% to 98% of the simulations (400 simulations, B = 1000).

Measured (2026-11-28): 0.931, 0.938 and 0.945. With fewer units the
percentile bootstrap covers less than it claims: 25 to 40 units per
language gave 0.927, 0.926 and 0.912, the same with numpy's generator
in place of xoshiro256** (so not the generator); 100 to 120 gave 0.940,
0.940, 0.948. A language with a few dozen units gets intervals that are
somewhat too narrow.

This checks the method and the oracle's implementation of it, not
qf-eval: qf-eval needs models and token streams. What ties the two
together: on the first dataset the intervals computed here are checked
against oracle.evaluate(), the code the test suite compares qf-eval's
tables with.

usage: coverage.py [NSIM [B]]     prints the coverages; exits 1 outside
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402

MU = [2.0, 3.0, 3.5, 5.0]
DELTA = [0.05, 0.1, 0.2, 0.4]
LANGS = ["aaa", "bbb", "ccc", "ddd"]     # table order: sorted bytewise


def dataset(rng):
    """Per language: (tokens scored per unit, S_nll ref, S_nll test)."""
    out = []
    for mu, delta in zip(MU, DELTA):
        n_units = int(rng.integers(50, 81))
        n = rng.integers(5, 151, n_units).astype(np.float64)
        e = rng.normal(0, 0.4, n_units)
        s_ref = n * (mu + e) + (rng.gamma(2 * n, 0.5) - n)
        h = rng.normal(0, 0.1, n_units)
        s_test = s_ref + n * (delta + h) + rng.normal(0, 0.3 * np.sqrt(n))
        out.append((n, s_ref, s_test))
    return out


def intervals(ds, seed, B):
    """95% intervals of nll_L (reference), d_nll_L and mean_L d_nll."""
    idx = oracle.draws(seed, B, [len(d[0]) for d in ds])
    nll, dnll = [], []
    for (n, s_ref, s_test), ix in zip(ds, idx):
        c = oracle.counts_of(ix, len(n)).astype(np.float64)
        tok = c @ n
        nll.append((c @ s_ref) / tok)
        dnll.append((c @ s_test) / tok - (c @ s_ref) / tok)
    mean = np.mean(dnll, axis=0)
    q = [2.5, 97.5]
    return ([np.percentile(x, q) for x in nll], [np.percentile(x, q) for x in dnll],
            np.percentile(mean, q))


def against_oracle(ds, seed, B):
    """The same intervals from oracle.evaluate() on this dataset."""
    data = oracle.Data.__new__(oracle.Data)
    data.langs = LANGS
    data.per = {}
    for L, (n, s_ref, s_test) in zip(LANGS, ds):
        k = len(n)
        data.per[L] = {
            "idx": list(range(k)), "uid": [str(i) for i in range(k)],
            "has_id": False, "units": np.ones(k), "tokens": n + 1,
            "scored": n, "words": n, "bytes": 4 * n, "chars": 3 * n,
            "S_nll": [s_ref, s_test], "S_kl": [None, np.zeros(k)],
            "S_top1": [None, np.zeros(k)], "S_dp2": [None, np.zeros(k)],
            "kl": [None, [np.zeros(int(x)) for x in n]]}
    opts = {"bootstrap": B, "seed": seed, "measure": "d_nll", "ref_lang": "aaa",
            "min_den": 0.001, "group_by": [], "groups": [], "baseline": 1,
            "cluster": "record", "interval": "percentile"}
    scopes, est_lf, est_disp, rep_lf, rep_disp, _ = oracle.evaluate(
        data, opts, 2, ["ref", "test"], None)
    nll = [np.percentile([r[L][0]["nll"] for r in rep_lf], [2.5, 97.5]) for L in LANGS]
    dnll = [np.percentile([r[L][1]["d_nll"] for r in rep_lf], [2.5, 97.5]) for L in LANGS]
    mean = np.percentile([r[(1, "all")]["mean"][0] for r in rep_disp], [2.5, 97.5])
    return nll, dnll, mean


def main(argv):
    nsim = int(argv[0]) if argv else 400
    B = int(argv[1]) if len(argv) > 1 else 1000
    cov = {"nll": 0, "d_nll": 0, "mean": 0}
    for sim in range(nsim):
        rng = np.random.default_rng(4000 + sim)
        ds = dataset(rng)
        seed = sim + 1
        nll, dnll, mean = intervals(ds, seed, B)
        if sim == 0:
            o_nll, o_dnll, o_mean = against_oracle(ds, seed, min(B, 200))
            c_nll, c_dnll, c_mean = intervals(ds, seed, min(B, 200))
            assert np.allclose(o_nll, c_nll, rtol=1e-12), (o_nll, c_nll)
            assert np.allclose(o_dnll, c_dnll, rtol=1e-9, atol=1e-12), (o_dnll, c_dnll)
            assert np.allclose(o_mean, c_mean, rtol=1e-9, atol=1e-12), (o_mean, c_mean)
        cov["nll"] += sum(lo <= mu <= hi for (lo, hi), mu in zip(nll, MU))
        cov["d_nll"] += sum(lo <= d <= hi for (lo, hi), d in zip(dnll, DELTA))
        cov["mean"] += mean[0] <= np.mean(DELTA) <= mean[1]
    ok = True
    for k, total in (("nll", 4 * nsim), ("d_nll", 4 * nsim), ("mean", nsim)):
        c = cov[k] / total
        inside = 0.91 <= c <= 0.98
        ok &= inside
        print("%-6s coverage %.3f over %d intervals%s"
              % (k, c, total, "" if inside else "  OUTSIDE [0.91, 0.98]"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
