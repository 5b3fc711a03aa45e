#!/usr/bin/python3
"""reliab_oracle.py - qf-eval's reliability table (--reliability,
--realizations; docs/eval.md, "Realizations and reliability") written
again in Python, to check it.

The per-language figures come from oracle.py (imported, not changed):
its torch forward pass, unit sums and lang_figures, evaluated on all of
a language's units and on each half.  The rest is written here from
docs/eval.md alone: the halves (distinct unit ids sorted bytewise,
alternately; without ids each language's records alternately), Spearman
correlations and their p-values with scipy.stats.spearmanr, the two-way
ANOVA with numpy.

Run with Debian's python3 (numpy, scipy, torch):

  reliab_oracle.py check [QF-EVAL OPTIONS] TOKENS...
      recompute the table qf-eval wrote to --reliability FILE and compare
      it (every row, every cell); prints the differences and exits 1 if
      there is one, else prints "ok".
  reliab_oracle.py write [QF-EVAL OPTIONS] TOKENS...
      write the expected table to --reliability FILE (for reading it;
      without the provenance line)

QF-EVAL OPTIONS: those of oracle.py, plus --realizations NAME=M1,M2,...
(repeatable) and --reliability FILE.  Tolerances as oracle.py's
(ORACLE_RTOL, ORACLE_ATOL); a note is printed when two languages' values
of a figure lie within 1e-5 relative of each other (their ranks could
then differ by rounding alone).
"""
import os
import sys
import warnings

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402

COLS = ["config", "measure", "n_lang", "n_real", "n_units", "split_half",
        "split_half_sb", "real_rho", "real_rho_min", "real_rho_max",
        "bpc_rho", "bpc_p", "var_lang", "var_real", "var_resid",
        "share_lang", "var_unit", "share_unit", "share_lang_net", "status"]
NEAR_TIES = []


def split_argv(argv):
    """(oracle.py's arguments, --realizations values, --reliability)."""
    rest, real, out = [], [], None
    it = iter(argv)
    for a in it:
        if a == "--realizations":
            real.append(next(it))
        elif a == "--reliability":
            out = next(it)
        else:
            rest.append(a)
    return rest, real, out


def configs(names, real):
    """[(name, [model indices])], in the order of each one's first test
    model; a test model not listed is a configuration of its own."""
    of = {}
    for arg in real:
        name, ms = arg.split("=", 1)
        for m in ms.split(","):
            of[names.index(m)] = name
    out = []
    for i in range(1, len(names)):
        c = of.get(i, names[i])
        for name, ms in out:
            if name == c:
                ms.append(i)
                break
        else:
            out.append((c, [i]))
    return out


def has_id(u):
    a = u.attrs
    return "unit_id" in a or a.get("unit") not in (None, "document", "paragraph")


def halves(data, units):
    """{L: 0/1 per unit of L (data's order)}, and the number of parallel
    units."""
    kept = [i for L in data.langs for i in data.per[L]["idx"]]
    if any(has_id(units[i]) for i in kept):
        # a record without an id is named by its ordinal (u.uid)
        names = sorted(set(units[i].uid for i in kept), key=lambda s: s.encode())
        rank = {s: k for k, s in enumerate(names)}
        h = {L: np.array([rank[units[i].uid] % 2 for i in data.per[L]["idx"]])
             for L in data.langs}
        return h, len(names)
    h = {L: np.arange(len(data.per[L]["idx"])) % 2 for L in data.langs}
    return h, max(len(data.per[L]["idx"]) for L in data.langs)


def figures(data, units, nm):
    """Per set (all, A, B): {L: per-model dicts of oracle.lang_figures}."""
    h, n_units = halves(data, units)
    sets = []
    for want in (None, 0, 1):
        fs = {}
        for L in data.langs:
            w = np.ones(len(data.per[L]["idx"])) if want is None else \
                (h[L] == want).astype(np.float64)
            fs[L] = oracle.lang_figures(data, L, w, nm, "kl_unit")
        sets.append(fs)
    return sets, n_units


def spearman(x, y):
    """scipy's rho and p (None for NaN)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    for v in (x, y):
        s = np.sort(v)
        d = np.diff(s)
        if np.any((d > 0) & (d <= 1e-5 * np.maximum(abs(s[1:]), abs(s[:-1])))):
            NEAR_TIES.append(tuple(v))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = stats.spearmanr(x, y)
    rho, p = float(r.statistic), float(r.pvalue)
    return (None if np.isnan(rho) else rho), (None if np.isnan(p) else p)


def anova(D):
    """Two-way random effects, one value a cell: var_lang, var_real,
    var_resid, share_lang."""
    n, R = D.shape
    g = D.mean()
    rm, cm = D.mean(axis=1), D.mean(axis=0)
    ms_l = R * ((rm - g) ** 2).sum() / (n - 1)
    ms_r = n * ((cm - g) ** 2).sum() / (R - 1)
    ms_lr = ((D - rm[:, None] - cm[None, :] + g) ** 2).sum() / ((n - 1) * (R - 1))
    vl = max(0.0, (ms_l - ms_lr) / R)
    vr = max(0.0, (ms_r - ms_lr) / n)
    share = vl / (vl + ms_lr) if vl + ms_lr > 0 else None
    return vl, vr, ms_lr, share


def unit_noise(data, nm, cluster_opt):
    """(model, measure) -> what the noise of sampling units adds to the
    sample variance of the D_L: sum over languages of the stratified
    jackknife variance of D_L - mean D, over n - 1 (docs/eval.md "tau"),
    leaving out groups of parallel units from every language at once, or
    of one language's records (None: a leave-out set without a value)."""
    langs = data.langs
    nm_ = nm
    allid = all(data.per[L]["has_id"] for L in langs)
    cluster = cluster_opt == "unit" or (cluster_opt == "auto" and allid)
    strata = []
    if cluster:
        ids = sorted({u for L in langs for u in data.per[L]["uid"]},
                     key=lambda x: x.encode())
        pos = {u: k for k, u in enumerate(ids)}
        K = len(ids)
        G = min(K, oracle.JACK_GROUPS)
        st = []
        for g in range(G):
            st.append({L: oracle.lang_figures(
                data, L, np.array([0.0 if pos[u] * G // K == g else 1.0
                                   for u in data.per[L]["uid"]]), nm_, "kl_unit")
                for L in langs})
        strata.append(st)
    else:
        base = {L: oracle.lang_figures(data, L, np.ones(len(data.per[L]["idx"])),
                                       nm_, "kl_unit") for L in langs}
        for L in langs:
            n = len(data.per[L]["idx"])
            G = min(n, oracle.JACK_GROUPS)
            st = []
            for g in range(G):
                fs = dict(base)
                fs[L] = oracle.lang_figures(
                    data, L, np.array([0.0 if i * G // n == g else 1.0
                                       for i in range(n)]), nm_, "kl_unit")
                st.append(fs)
            strata.append(st)
    out = {}
    for m in range(1, nm_):
        for measure in oracle.MEASURES:
            tot, ok = 0.0, len(langs) >= 2
            for st in strata:
                E = []
                for fs in st:
                    D = [fs[L][m].get(measure) for L in langs]
                    if any(d is None for d in D):
                        ok = False
                        break
                    E.append(np.array(D) - np.mean(D))
                if not ok:
                    break
                E = np.array(E)
                tot += (len(st) - 1) / len(st) * float(((E - E.mean(0)) ** 2).sum())
            out[(m, measure)] = tot / (len(langs) - 1) if ok else None
    return out


def row(langs, sets, bpc, name, ms, measure, n_units, noise):
    """The expected row of configuration name (models ms) and measure."""
    n, R = len(langs), len(ms)
    r = {c: None for c in COLS}
    r.update(config=name, measure=measure, n_lang=n, n_real=R, n_units=n_units)
    st = []

    def D(k):
        return np.array([[np.nan if sets[k][L][m].get(measure) is None
                          else sets[k][L][m][measure] for m in ms] for L in langs])

    Dall, Da, Db = D(0), D(1), D(2)
    bad = [L for L, v in zip(langs, Dall) if np.isnan(v).any()]
    if bad:
        r["status"] = "%s:NA in %s" % (measure, bad[0])
        return r
    bad = [L for L, a, b in zip(langs, Da, Db) if np.isnan(a).any() or np.isnan(b).any()]
    if bad:
        st.append("split_half:NA in %s" % bad[0])
    else:
        rhos = [spearman(Da[:, j], Db[:, j])[0] for j in range(R)]
        if None not in rhos:
            rho = float(np.mean(rhos))
            r["split_half"] = rho
            r["split_half_sb"] = 2 * rho / (1 + rho) if 1 + rho != 0 else None
    if R >= 2:
        rhos = [spearman(Dall[:, i], Dall[:, j])[0]
                for i in range(R) for j in range(i + 1, R)]
        if None not in rhos:
            r["real_rho"] = float(np.mean(rhos))
            r["real_rho_min"], r["real_rho_max"] = min(rhos), max(rhos)
    bad = [L for L in langs if bpc[L] is None]
    if bad:
        st.append("bpc_rho:NA in %s" % bad[0])
    else:
        r["bpc_rho"], r["bpc_p"] = spearman(Dall.mean(axis=1), [bpc[L] for L in langs])
    if R >= 2 and n >= 2:
        (r["var_lang"], r["var_real"], r["var_resid"],
         r["share_lang"]) = anova(Dall)
    vu = [noise[(m, measure)] for m in ms]
    if n >= 2 and None not in vu:
        vu = float(np.mean(vu))
        s2 = float(np.mean([np.var(Dall[:, j], ddof=1) for j in range(R)]))
        r["var_unit"] = vu
        r["share_unit"] = vu / s2 if s2 > 0 else None
        if R >= 2 and s2 > 0:
            r["share_lang_net"] = max(0.0, r["var_lang"] - vu) / s2
    r["status"] = ";".join(st) or "ok"
    return r


def expected(argv):
    rest, real, out = split_argv(argv)
    o, names, units, _, data = oracle.prepare(rest)
    sets, n_units = figures(data, units, len(names))
    bpc = {}
    for L in data.langs:
        b, c = data.per[L]["bytes"].sum(), data.per[L]["chars"].sum()
        bpc[L] = float(b / c) if c > 0 else None
    noise = unit_noise(data, len(names), o["cluster"])
    rows = [row(data.langs, sets, bpc, name, ms, measure, n_units, noise)
            for name, ms in configs(names, real) for measure in oracle.MEASURES]
    return out, rows


def compare(path, rows):
    head, got, errs = oracle.read_tsv(path)
    if head is None:
        return errs
    if head != COLS:
        return errs + ["%s: header %s, expected %s" % (path, head, COLS)]
    gk = [(g["config"], g["measure"]) for g in got]
    wk = [(w["config"], w["measure"]) for w in rows]
    if gk != wk:
        return errs + ["%s: rows %s, expected %s" % (path, gk, wk)]
    for g, w in zip(got, rows):
        where = "%s %s/%s" % (os.path.basename(path), w["config"], w["measure"])
        for c in COLS[2:]:
            oracle.compare_cell(where, c, g[c], w[c], errs)
    return errs


def main(argv):
    if len(argv) < 1 or argv[0] not in ("check", "write"):
        print(__doc__, file=sys.stderr)
        return 2
    out, rows = expected(argv[1:])
    if out is None:
        raise SystemExit("reliab_oracle.py: no --reliability FILE")
    if argv[0] == "write":
        with open(out, "w") as f:
            f.write("\t".join(COLS) + "\n")
            for r in rows:
                f.write("\t".join(oracle.cell_text(r[c]) for c in COLS) + "\n")
        return 0
    if NEAR_TIES:
        print("note: %d vectors with values within 1e-5 of each other: a rank "
              "may differ by rounding" % len(NEAR_TIES))
    errs = compare(out, rows)
    return oracle.report(errs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
