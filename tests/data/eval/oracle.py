#!/usr/bin/python3
"""oracle.py - docs/eval.md written again in Python, to check qf-eval.

Independent of the C code: the forward pass is the plain-torch GPT-2 of
tests/data/model/gen_model.py (the runtime's own reference, checked
against Hugging Face), streams are read and written with tests/ref/qftref.py,
and everything else (windows, per-token figures, unit sums, every column
of both tables, the degenerate-denominator rules, the bootstrap with its
xoshiro256** draws) is written here from docs/eval.md, docs/runtime.md
and formats/corpus.md alone.

Run with Debian's python3 (numpy, torch, zstandard):

  oracle.py check [QF-EVAL OPTIONS] TOKENS...
      recompute what `qf-eval [QF-EVAL OPTIONS] TOKENS...` must write and
      compare it with the files qf-eval wrote: -o LANG.tsv, -d DISP.tsv,
      --units-out UNITS.tsv and --nll FILE name qf-eval's outputs (each
      optional).  Prints
      every difference and exits 1 if there is one, else prints "ok".
  oracle.py write [QF-EVAL OPTIONS] TOKENS...
      write the expected tables to -o and -d (for reading them)
  oracle.py min-den [QF-EVAL OPTIONS] TOKENS...
      print a --min-den between two replicates' D of the reference
      language of the first test model, about the 10th percentile, far
      from every replicate's D of every test model (a value that makes
      some replicates, but not the estimate, degenerate)
  oracle.py selftest
      the random generators against published test vectors, the vector
      generator against the scalar one, windows against runtime.md's
      example

QF-EVAL OPTIONS understood: -r [NAME=]FILE, -m [NAME=]FILE, --window W,
--stride S, --bootstrap B, --seed S, --measure M, --ref-lang L,
--baseline NAME, --min-den X, --languages FILE, --group-by COL,
--group NAME=L1,L2, --headings, -o, -d, --nll, --units-out; -j N and -v
are accepted and ignored.

Tolerances of `check` (env ORACLE_RTOL, ORACLE_ATOL): a number c of
qf-eval agrees with the oracle's e when |c - e| <= RTOL max(|c|, |e|) +
ATOL; defaults 1e-4 and 2e-6 (the runtime's per-token NLL is within about
1e-6 of torch's, so a difference of two NLLs near 0 needs an absolute
floor).  Counts must be equal.  `NA` must match `NA`.  Each number must
read back as itself through %.6g.  A note is printed when a denominator
lies within 5e-6 of 0 or of --min-den (a degenerate count could then
differ by rounding alone) or an argmax within 1e-4 of a tie.

Readings of docs/eval.md where it leaves a choice (each is reported by
the test suite's author; see tests/qf-eval.bats):
  - replicate b runs from 0 to B-1;
  - "languages in table order": the order of the language table, codes
    sorted bytewise (not the order of the --languages file);
  - a one-token record is a unit (in `units` and among the units the
    bootstrap draws) with scored = 0;
  - a figure whose estimate is NA has NA bounds and no `ci` entry;
  - a bootstrap replicate in which a ratio is NA for any reason counts
    as degenerate for `ci K/B`;
  - the status lists its entries in column order; the reference rows'
    rel_deg_status may be `ok` or `NA`;
  - group_ratio and group_diff are NA for `all`, with no status entry;
    an NA that the spec gives no reason for (cv of one language, a mean
    over no language, a ratio of an NA figure) is not checked in the
    status (any entry naming that figure is accepted);
  - ties for max_lang/min_lang: any of the tied languages is accepted;
  - a language whose measure D has no value (no bytes scored): every
    disparity figure NA, the row's status first "MEASURE:NA in L" (the
    first such language in code order), and the rel_deg_status of L (of
    every language when L is the reference language) that entry.
ORACLE_ALT (comma-separated) switches to other readings, for diagnosis:
  one_token_not_unit, replicate_from_1, lang_order_file.
"""
import hashlib
import math
import os
import pickle
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "ref"))
sys.path.insert(0, os.path.join(HERE, "..", "model"))
import qftref  # noqa: E402

M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
LN2 = math.log(2.0)
MEASURES = ("deg_byte", "deg", "d_bpb", "d_nll", "d_bits_unit", "kl_unit")
ALT = set(x for x in os.environ.get("ORACLE_ALT", "").split(",") if x)

# ------------------------------------------------------------ random numbers


def splitmix64(state):
    """One step: (new state, output)."""
    state = (state + GAMMA) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


class Xoshiro:
    """xoshiro256** (Blackman & Vigna), scalar, with Python integers."""

    def __init__(self, s):
        self.s = list(s)

    @classmethod
    def seeded(cls, seed):
        st, out = seed & M64, []
        for _ in range(4):
            st, z = splitmix64(st)
            out.append(z)
        return cls(out)

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result


def replicate_seed(seed, b):
    if "replicate_from_1" in ALT:
        b += 1
    return (seed + 4 * b * GAMMA) & M64


def draws_scalar(seed, b, sizes):
    """Replicate b's draws: for each language (sizes in table order) n_L
    indices floor(x n_L / 2^64), from one generator."""
    g = Xoshiro.seeded(replicate_seed(seed, b))
    return [[(g.next() * n) >> 64 for _ in range(n)] for n in sizes]


U = np.uint64


def _v_rotl(x, k):
    return (x << U(k)) | (x >> U(64 - k))


def _v_mulhi(x, n):
    """floor(x * n / 2^64) for uint64 x and 0 < n < 2^32, exactly."""
    xh, xl = x >> U(32), x & U(0xFFFFFFFF)
    return (xh * U(n) + ((xl * U(n)) >> U(32))) >> U(32)


def draws(seed, B, sizes):
    """Every replicate's draws at once: a list (per language, table
    order) of int arrays [B, n_L]; the same numbers as draws_scalar."""
    with np.errstate(over="ignore"):
        st = np.array([replicate_seed(seed, b) for b in range(B)], dtype=U)
        s = []
        for _ in range(4):
            st = st + U(GAMMA)
            z = st.copy()
            z = (z ^ (z >> U(30))) * U(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> U(27))) * U(0x94D049BB133111EB)
            s.append(z ^ (z >> U(31)))
        s0, s1, s2, s3 = s
        out = []
        for n in sizes:
            assert 0 < n < (1 << 32)
            idx = np.empty((B, n), dtype=np.int64)
            for j in range(n):
                x = _v_rotl(s1 * U(5), 7) * U(9)
                idx[:, j] = _v_mulhi(x, n).astype(np.int64)
                t = s1 << U(17)
                s2 = s2 ^ s0
                s3 = s3 ^ s1
                s1 = s1 ^ s2
                s0 = s0 ^ s3
                s2 = s2 ^ t
                s3 = _v_rotl(s3, 45)
            out.append(idx)
    return out


def counts_of(idx, n):
    """[B, n_L] drawn indices -> [B, n_L] multiplicities."""
    B = idx.shape[0]
    c = np.zeros((B, n), dtype=np.int64)
    np.add.at(c, (np.repeat(np.arange(B), idx.shape[1]), idx.ravel()), 1)
    return c


# ------------------------------------------------------------ inputs

def read_stream(path):
    with open(path, "rb") as f:
        return list(qftref.read_records(f))


def as_f32(dtype, dims, payload):
    n = int(np.prod(dims)) if dims else 1
    if dtype == 4:      # bf16
        u = np.frombuffer(payload, "<u2").astype(np.uint32) << np.uint32(16)
        a = u.view(np.float32)
    else:
        a = np.frombuffer(payload, qftref.DTYPES[dtype]).astype(np.float32)
    assert a.size == n
    return a.reshape(dims)


def load_model(path):
    """(cfg, W): the config as ints/floats and name -> f32 torch tensor."""
    import torch
    recs = read_stream(path)
    name, _, _, attrs, _ = recs[0]
    assert name == "config", path
    a = dict(attrs)
    cfg = {k: int(a[k]) for k in ("n_layer", "n_embd", "n_head", "n_ctx",
                                  "n_inner", "vocab_size")}
    cfg["layer_norm_epsilon"] = float(a["layer_norm_epsilon"])
    cfg["tie_word_embeddings"] = a["tie_word_embeddings"] == "true"
    W = {}
    for name, dtype, dims, attrs, payload in recs[1:]:
        W[name] = torch.from_numpy(as_f32(dtype, dims, payload).copy())
    return cfg, W


class Unit:
    pass


def unit_of(a, ordinal):
    """docs/eval.md, "Parallel units": (id, kind) of a token record with
    attributes a: unit_id, else unit unless it is document or paragraph,
    else the ordinal; unit_kind, else kind, when heading or body."""
    uid = a.get("unit_id")
    if uid is None and a.get("unit") not in (None, "document", "paragraph"):
        uid = a["unit"]
    kind = a.get("unit_kind", a.get("kind"))
    return (str(ordinal) if uid is None else uid,
            kind if kind in ("heading", "body") else "NA", uid is not None)


def load_units(paths):
    """Token records of the streams, in order: i32, 1-D (the fixtures'
    ids; kind=tokens, or a parallel unit's kind).  Other records are
    skipped, as qf-eval does."""
    units = []
    for p in paths:
        for name, dtype, dims, attrs, payload in read_stream(p):
            a = dict(attrs)
            if dtype != 8 or len(dims) != 1:
                continue
            u = Unit()
            u.name, u.attrs = name, a
            u.ordinal = len(units)
            u.ids = np.frombuffer(payload, "<i4").astype(np.int64)
            u.n = len(u.ids)
            u.lang = a["lang"]
            u.tokens = int(a["tokens"])
            u.words = int(a["words"])
            u.bytes = int(a["bytes"]) - int(a["first_bytes"])
            u.chars = int(a["chars"]) - int(a["first_chars"])
            u.scored = u.n - 1
            u.uid, u.kind, u.has_id = unit_of(a, u.ordinal)
            units.append(u)
    return units


def windows(n, window, stride):
    """docs/runtime.md: [(begin, end, first)]."""
    assert 1 <= stride < window
    out, begin, first = [], 0, 1
    while True:
        end = min(begin + window, n)
        out.append((begin, end, first))
        if end >= n:
            return out
        first = end
        begin += stride


# ------------------------------------------------------------ scoring

def score(models, units, window, stride):
    """Per model (list index), per unit: dict with nll (f32 [n-1]); for
    test models (index > 0) also kl, top1, dp (per target, f64/bool)."""
    import torch
    import gen_model
    out = [[None] * len(units) for _ in models]
    for ui, u in enumerate(units):
        n = u.n
        res = [{"nll": np.full(max(n - 1, 0), np.nan, np.float32)}
               for _ in models]
        for r in res[1:]:
            r["kl"] = np.full(max(n - 1, 0), np.nan)
            r["top1"] = np.zeros(max(n - 1, 0), bool)
            r["dp"] = np.full(max(n - 1, 0), np.nan)
        if n >= 2:
            for begin, end, first in windows(n, window, stride):
                tok = u.ids[begin:end]
                rows = np.arange(first, end) - 1 - begin   # rows scored
                tgt = u.ids[first:end]
                lps = []
                for cfg, W in models:
                    with torch.no_grad():
                        lg = gen_model.forward(W, cfg, tok)["logits"]
                        lp = torch.log_softmax(lg, dim=-1).numpy()
                    lps.append(lp[rows])
                lp_ref = lps[0].astype(np.float64)
                p = np.exp(lp_ref)
                am_ref = np.argmax(lps[0], axis=1)
                for mi in range(len(models)):
                    lq = lps[mi].astype(np.float64)
                    r = res[mi]
                    r["nll"][first - 1:end - 1] = -lps[mi][np.arange(len(tgt)), tgt]
                    if mi == 0:
                        continue
                    r["kl"][first - 1:end - 1] = (p * (lp_ref - lq)).sum(axis=1)
                    r["top1"][first - 1:end - 1] = np.argmax(lps[mi], axis=1) == am_ref
                    r["dp"][first - 1:end - 1] = (
                        np.exp(lq[np.arange(len(tgt)), tgt])
                        - p[np.arange(len(tgt)), tgt])
                    # margins: how close the argmax was to a tie
                    for lpx in (lps[0], lps[mi]):
                        srt = np.sort(lpx, axis=1)
                        r.setdefault("margin", []).append(
                            float((srt[:, -1] - srt[:, -2]).min()))
        for mi in range(len(models)):
            out[mi][ui] = res[mi]
    return out


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def cached_score(model_paths, token_paths, window, stride):
    """score() of the files, cached in $ORACLE_CACHE when set."""
    key = hashlib.sha256(repr((
        [file_digest(p) for p in model_paths],
        [file_digest(p) for p in token_paths], window, stride,
        sorted(ALT))).encode()).hexdigest()[:24]
    cache = os.environ.get("ORACLE_CACHE")
    cpath = os.path.join(cache, "score-%s.pkl" % key) if cache else None
    if cpath and os.path.exists(cpath):
        with open(cpath, "rb") as f:
            return pickle.load(f)
    models = [load_model(p) for p in model_paths]
    units = load_units(token_paths)
    sc = score(models, units, window, stride)
    if cpath:
        with open(cpath + ".tmp", "wb") as f:
            pickle.dump(sc, f)
        os.replace(cpath + ".tmp", cpath)
    return sc


# ------------------------------------------------------------ figures

class NA:
    """Reasons a figure is NA."""
    LE0 = "den<=0"
    MIN = "den<=min"
    OTHER = "other"     # a reason the spec does not name
    NOVALUE = "novalue"  # the measure has no value in a language (its own entry)
    NOISE = "noise NA"  # tau: the jackknife has no value


NEAR = []     # denominators within rounding of a threshold


def ratio(num, den, min_den):
    """(value, reason): the degenerate-denominator rule of docs/eval.md."""
    if num is None or den is None or not np.isfinite(num) or not np.isfinite(den):
        return None, NA.OTHER
    if den != 0 and (abs(den) < 5e-6 or abs(den - min_den) < 5e-6):
        NEAR.append(den)
    if den <= 0:
        return None, NA.LE0
    if den <= min_den:
        return None, NA.MIN
    return num / den, None


LANG_COUNTS = ["units", "tokens", "scored", "bytes", "chars", "words"]
LANG_BASE = ["fertility", "nll", "ppl", "bpb", "bpc"]
LANG_CMP = ["d_nll", "ppl_ratio", "deg", "d_bpb", "deg_byte", "kl_mean",
            "kl_median", "kl_p99", "top1", "rms_dp", "rel_deg"]
LANG_UNIT = ["d_bits_unit", "kl_unit"]     # after rel_deg_status
UNIT_COLS = ["lang", "unit", "kind", "model", "tokens", "scored", "bytes",
             "d_nll_sum", "d_bits", "kl_sum", "kl_per_token", "top1"]
DISP_FIGS = ["mean", "max", "min", "range", "max_min", "cv", "rel_ref_mean",
             "group_ratio", "group_diff", "mean_vs_base", "range_vs_base",
             "max_min_vs_base", "cv_vs_base", "rel_ref_mean_vs_base"]
DISP_LATE = ["tau", "tau_mean", "tau_vs_base"]
DISP_RATIOS = {"tau_mean", "tau_vs_base", "max_min", "cv", "rel_ref_mean", "group_ratio", "mean_vs_base",
               "range_vs_base", "max_min_vs_base", "cv_vs_base",
               "rel_ref_mean_vs_base"}


class Data:
    """Per-unit sums, grouped by language (table order)."""

    def __init__(self, units, sc, nmodels, headings):
        # headings are left out of the scores unless --headings
        kept = [u for u in units if headings or u.kind != "heading"]
        langs = sorted(set(u.lang for u in kept), key=lambda s: s.encode())
        self.langs = langs
        self.per = {}
        for L in langs:
            us = [u.ordinal for u in kept if u.lang == L]
            if "one_token_not_unit" in ALT:
                us = [i for i in us if units[i].n >= 2]
            d = {"idx": us, "uid": [units[i].uid for i in us],
                 "has_id": all(units[i].has_id for i in us)}
            for k in ("tokens", "words", "bytes", "chars", "scored"):
                d[k] = np.array([getattr(units[i], k) for i in us], np.float64)
            d["units"] = np.ones(len(us))
            d["S_nll"] = [np.array([float(np.sum(sc[m][i]["nll"].astype(np.float64)))
                                    for i in us]) for m in range(nmodels)]
            d["S_kl"] = [None] + [np.array([float(np.sum(sc[m][i]["kl"])) for i in us])
                                  for m in range(1, nmodels)]
            d["S_top1"] = [None] + [np.array([float(np.sum(sc[m][i]["top1"])) for i in us])
                                    for m in range(1, nmodels)]
            d["S_dp2"] = [None] + [np.array([float(np.sum(sc[m][i]["dp"] ** 2)) for i in us])
                                   for m in range(1, nmodels)]
            # per-token KL values as qf-eval keeps them: f32
            d["kl"] = [None] + [[sc[m][i]["kl"].astype(np.float32).astype(np.float64)
                                 for i in us] for m in range(1, nmodels)]
            self.per[L] = d


def pct(vals, q):
    if len(vals) == 0:
        return None
    return float(np.percentile(vals, q))


def lang_figures(data, L, w, nmodels, measure):
    """Figures of language L for the multiset given by weights w (one per
    unit of L: 1 for the estimate, multiplicities for a replicate).
    Returns per model a dict (None: NA)."""
    d = data.per[L]
    cnt = {k: float(w @ d[k]) for k in LANG_COUNTS}
    rows = []
    for m in range(nmodels):
        r = dict(cnt)
        snll = float(w @ d["S_nll"][m])
        r["fertility"] = cnt["tokens"] / cnt["words"] if cnt["words"] else None
        r["nll"] = snll / cnt["scored"] if cnt["scored"] else None
        r["ppl"] = math.exp(r["nll"]) if r["nll"] is not None else None
        r["bpb"] = snll / (cnt["bytes"] * LN2) if cnt["bytes"] else None
        r["bpc"] = snll / (cnt["chars"] * LN2) if cnt["chars"] else None
        if m > 0 and (r["nll"] is None or r["bpb"] is None):
            # nothing scored or no bytes: the spec says nothing
            for c in LANG_CMP[:-1] + ["D"]:
                r[c] = None
        elif m > 0:
            ref = rows[0]
            r["d_nll"] = r["nll"] - ref["nll"]
            r["ppl_ratio"] = math.exp(r["d_nll"])
            r["deg"] = r["ppl_ratio"] - 1.0
            r["d_bpb"] = r["bpb"] - ref["bpb"]
            r["deg_byte"] = 2.0 ** r["d_bpb"] - 1.0
            sc_ = cnt["scored"]
            r["kl_mean"] = float(w @ d["S_kl"][m]) / sc_
            vals = np.concatenate([np.repeat(v, int(k)) for v, k in zip(d["kl"][m], w)])
            r["kl_median"] = pct(vals, 50)
            r["kl_p99"] = pct(vals, 99)
            r["top1"] = float(w @ d["S_top1"][m]) / sc_
            r["rms_dp"] = math.sqrt(float(w @ d["S_dp2"][m]) / sc_)
        if m > 0:
            # per parallel unit: sums over a unit's targets, mean over units
            ok = cnt["scored"] > 0
            r["d_bits_unit"] = (float(w @ d["S_nll"][m]) - float(w @ d["S_nll"][0])) \
                / (cnt["units"] * LN2) if ok else None
            r["kl_unit"] = float(w @ d["S_kl"][m]) / cnt["units"] if ok else None
            r["D"] = r[measure]
        rows.append(r)
    return rows


class Fig:
    """A figure: estimate (None: NA), reason, replicates (array, NaN:
    NA)."""

    def __init__(self, est, reason=None):
        self.est, self.reason, self.reps = est, reason, None


JACK_GROUPS = 100


def evaluate(data, opts, nmodels, names, table):
    """Both tables' figures, and every figure's BCa acceleration. table:
    code -> {column: value} (or None)."""
    B, measure = opts["bootstrap"], opts["measure"]
    langs = data.langs
    order = langs
    if "lang_order_file" in ALT and table is not None:
        order = [c for c in table["order"] if c in langs]
    sizes = [len(data.per[L]["idx"]) for L in order]
    # docs/eval.md "Bootstrap": parallel units drawn across languages
    cluster = opts["cluster"] == "unit" or (
        opts["cluster"] == "auto" and all(data.per[L]["has_id"] for L in langs))
    if opts["cluster"] == "unit" and not all(data.per[L]["has_id"] for L in langs):
        raise SystemExit("oracle.py: --cluster unit without unit ids")
    ids = sorted({u for L in langs for u in data.per[L]["uid"]},
                 key=lambda x: x.encode()) if cluster else []
    pos = {u: k for k, u in enumerate(ids)}
    cl = {L: np.array([pos[u] for u in data.per[L]["uid"]], dtype=np.int64)
          for L in langs} if cluster else {}
    reps_w = {L: [] for L in langs}
    cdraws = None
    if B > 0 and cluster:
        cdraws = draws(opts["seed"], B, [len(ids)])[0]
        cc = counts_of(cdraws, len(ids))
        for L in langs:
            reps_w[L] = cc[:, cl[L]].astype(np.float64)
    elif B > 0:
        dr = draws(opts["seed"], B, sizes)
        for L, idx in zip(order, dr):
            reps_w[L] = counts_of(idx, len(data.per[L]["idx"])).astype(np.float64)

    def one(wmap, tauc):
        """All figures for one sample: wmap L -> weights; tauc (m, scope)
        -> tau's correction (None: no tau)."""
        lf = {L: lang_figures(data, L, wmap[L], nmodels, measure) for L in langs}
        ref_lang = opts["ref_lang"]
        for m in range(1, nmodels):
            Dref = lf[ref_lang][m]["D"] if ref_lang in lf else None
            for L in langs:
                v, why = ratio(lf[L][m]["D"], Dref, opts["min_den"])
                lf[L][m]["rel_deg"] = v
                lf[L][m]["rel_deg:why"] = why
                # the language whose measure leaves it without a value
                nov = None
                if ref_lang in lf:
                    nov = L if lf[L][m]["D"] is None else \
                        ref_lang if Dref is None else None
                lf[L][m]["rel_deg:novalue"] = nov
        disp = {}
        for m in range(1, nmodels):
            D = {L: lf[L][m]["D"] for L in langs}
            Dref = D.get(opts["ref_lang"])
            for scope, members in scopes:
                disp[(m, scope)] = scope_figures(
                    D, Dref, members, langs, scope == "all", opts,
                    tauc.get((m, scope), "none") if tauc is not None else "none")
        base = opts["baseline"]
        for m in range(1, nmodels):
            for scope, _ in scopes:
                f, fb = disp[(m, scope)], disp[(base, scope)]
                for x in ("mean", "range", "max_min", "cv", "rel_ref_mean", "tau"):
                    f[x + "_vs_base"] = ratio(f[x][0], fb[x][0], opts["min_den"])
        return lf, disp

    scopes = make_scopes(langs, opts, table)
    ones = {L: np.ones(len(data.per[L]["idx"])) for L in langs}
    est_lf, est_disp = one(ones, None)
    # the jackknife: strata of leave-out groups (resample.c)
    strata = []
    if cluster:
        K = len(ids)
        G = min(K, JACK_GROUPS)
        st = []
        for g in range(G):
            out = {k for k in range(K) if k * G // K == g}
            st.append(one({L: np.array([0.0 if k in out else 1.0 for k in cl[L]])
                           for L in langs}, None))
        strata.append(st)
    else:
        for L in langs:
            n = len(data.per[L]["idx"])
            G = min(n, JACK_GROUPS)
            st = []
            for g in range(G):
                w = dict(ones)
                w[L] = np.array([0.0 if i * G // n == g else 1.0 for i in range(n)])
                st.append(one(w, None))
            strata.append(st)
    tauc = tau_corrections(strata, est_disp, scopes, nmodels)
    est_lf, est_disp = one(ones, tauc)
    acc, se = jack_stats(strata, langs, scopes, nmodels)
    rep_lf, rep_disp, rep_se = [], [], []
    for b in range(B):
        w = {L: reps_w[L][b] for L in langs}
        if cluster:
            # the replicate's own jackknife over its drawn clusters: the
            # SEs of the bootstrap-t and tau's own correction
            K = len(ids)
            G = min(K, JACK_GROUPS)
            st = []
            for g in range(G):
                kept = [cdraws[b][j] for j in range(K) if j * G // K != g]
                ck = np.bincount(kept, minlength=K).astype(np.float64)
                st.append(one({L: ck[cl[L]] for L in langs}, tauc))
            lf, disp = one(w, tau_corrections([st], None, scopes, nmodels))
            rep_se.append(jack_stats([st], langs, scopes, nmodels)[1])
        else:
            lf, disp = one(w, tauc)
        rep_lf.append(lf)
        rep_disp.append(disp)
    opts["interval_used"] = opts["interval"]
    if opts["interval"] == "auto":
        opts["interval_used"] = "t" if cluster and len(ids) >= 12 else "bca"
    return scopes, est_lf, est_disp, rep_lf, rep_disp, (acc, se, rep_se)


def deviations(disp_lf, m, members):
    """e_L = D_L - the scope's mean, or None."""
    D = [disp_lf[L][m]["D"] for L in members]
    if any(d is None for d in D):
        return None
    mu = sum(D) / len(D)
    return [d - mu for d in D]


def tau_corrections(strata, est_disp, scopes, nmodels):
    """(m, scope) -> c = sum_L v_L / (n - 1), v_L the stratified
    jackknife variance of e_L (None: undefined)."""
    out = {}
    for m in range(1, nmodels):
        for scope, members in scopes:
            if len(members) < 2:
                out[(m, scope)] = None
                continue
            tot, ok = 0.0, True
            for st in strata:
                G = len(st)
                E = [deviations(lf, m, members) for lf, _ in st]
                if any(e is None for e in E):
                    ok = False
                    break
                E = np.array(E)
                tot += (G - 1) / G * float(((E - E.mean(0)) ** 2).sum())
            out[(m, scope)] = tot / (len(members) - 1) if ok else None
    return out


def jack_stat(vals_per_stratum):
    """A value's BCa acceleration and jackknife SE from its values on the
    leave-out sets of each stratum: with U = (G_h - 1)(mean_h - x_(g)),
    a = sum U^3 / (6 (sum U^2)^1.5), var = sum_h (G_h - 1)/G_h sum_g
    (x_(g) - mean_h)^2 (a leave-out set without a value: a = 0, SE
    None)."""
    u2 = u3 = var = 0.0
    for vals in vals_per_stratum:
        if any(v is None for v in vals):
            return 0.0, None
        v = np.array(vals, dtype=np.float64)
        G = len(v)
        U = (G - 1) * (v.mean() - v)
        u2 += float((U ** 2).sum())
        u3 += float((U ** 3).sum())
        var += (G - 1) / G * float(((v - v.mean()) ** 2).sum())
    return (u3 / (6 * u2 ** 1.5) if u2 > 0 else 0.0), math.sqrt(var)


def jack_stats(strata, langs, scopes, nmodels):
    """Every figure's BCa acceleration and jackknife SE (jack_stat) from
    the leave-out sets of the strata ([[(lf, disp) per group] per
    stratum])."""
    stat = jack_stat
    acc, se = {}, {}
    for L in langs:
        for m in range(nmodels):
            for c in LANG_BASE + LANG_CMP + LANG_UNIT:
                k = ("lang", L, m, c)
                acc[k], se[k] = stat([[lf[L][m].get(c) for lf, _ in st]
                                      for st in strata])
    for m in range(1, nmodels):
        for scope, _ in scopes:
            for x in DISP_FIGS + DISP_LATE:
                k = ("disp", m, scope, x)
                acc[k], se[k] = stat([[d[(m, scope)][x][0] for _, d in st]
                                      for st in strata])
    return acc, se


def make_scopes(langs, opts, table):
    scopes = [("all", list(langs))]
    for col in opts["group_by"]:
        vals = []
        for L in langs:
            v = table["rows"][L][col]
            if v not in vals:
                vals.append(v)
        for v in sorted(vals, key=lambda s: s.encode()):
            scopes.append(("%s=%s" % (col, v),
                           [L for L in langs if table["rows"][L][col] == v]))
    for name, members in opts["groups"]:
        scopes.append((name, [L for L in langs if L in members]))
    return scopes


def scope_figures(D, Dref, members, langs, is_all, opts, tauc="none"):
    """figure -> (value or None, reason or None); tauc: tau's correction
    ("none": not known yet, None: undefined)."""
    md = opts["min_den"]
    vals = [D[L] for L in members]
    f = {}
    n = len(vals)
    f["n_lang"] = (n, None)
    # docs/eval.md: a language (in or out of the scope) whose measure has
    # no value makes every figure NA; the status names the first
    nov = [L for L in langs if D[L] is None]
    f["novalue"] = nov[0] if nov else None
    if nov:
        for x in ("mean", "max", "min", "range", "max_min", "cv",
                  "rel_ref_mean", "group_ratio", "group_diff", "tau", "tau_mean"):
            f[x] = (None, NA.NOVALUE)
        f["max_lang"] = f["min_lang"] = (None, NA.NOVALUE)
        return f
    if n == 0:
        for x in ("mean", "max", "min", "range", "max_min", "cv",
                  "rel_ref_mean", "group_ratio", "group_diff", "tau", "tau_mean"):
            f[x] = (None, NA.OTHER)
        f["max_lang"] = f["min_lang"] = (None, NA.OTHER)
        return f
    mean = sum(vals) / n
    mx, mn = max(vals), min(vals)
    f["mean"] = (mean, None)
    f["max"], f["min"] = (mx, None), (mn, None)
    # every language within 1e-9 of the extreme may be named
    f["max_lang"] = ([L for L in members if D[L] >= mx - 1e-9 * max(1, abs(mx))], None)
    f["min_lang"] = ([L for L in members if D[L] <= mn + 1e-9 * max(1, abs(mn))], None)
    f["range"] = (mx - mn, None)
    f["max_min"] = ratio(mx, mn, md)
    if n >= 2:
        var = sum((v - mean) ** 2 for v in vals) / (n - 1)
        f["sd"] = math.sqrt(var)
        f["cv"] = ratio(math.sqrt(var), mean, md)
        # tau: the sample variance less the jackknife's noise (docs/eval.md)
        if tauc == "none":
            f["tau"] = f["tau_mean"] = (None, NA.OTHER)
        elif tauc is None:
            f["tau"], f["tau_mean"] = (None, NA.NOISE), (None, NA.OTHER)
        else:
            t = math.sqrt(max(0.0, var - tauc))
            f["tau"] = (t, None)
            f["tau_mean"] = ratio(t, mean, md)
    else:
        f["cv"] = f["tau"] = f["tau_mean"] = (None, NA.OTHER)
    others = [L for L in members if L != opts["ref_lang"]]
    if not others or Dref is None:
        f["rel_ref_mean"] = (None, NA.OTHER)
    else:
        rs = [ratio(D[L], Dref, md) for L in others]
        if rs[0][0] is None:
            f["rel_ref_mean"] = (None, rs[0][1])
        else:
            f["rel_ref_mean"] = (sum(r[0] for r in rs) / len(rs), None)
    out = [L for L in langs if L not in members]
    if is_all:
        f["group_ratio"] = f["group_diff"] = (None, "all")
    elif not out:
        f["group_ratio"] = f["group_diff"] = (None, NA.OTHER)
    else:
        mo = sum(D[L] for L in out) / len(out)
        f["group_ratio"] = ratio(mean, mo, md)
        f["group_diff"] = (mean - mo, None)
    return f


# ------------------------------------------------------------ tables

def fmt(v):
    return "NA" if v is None else "%.6g" % v


def interval_t(est, reps, B, se, rep_se):
    """The bootstrap-t: t*_b = (x*_b - est) / se*_b over the replicates
    of se*_b > 0; [est - t*_97.5 se, est - t*_2.5 se]."""
    a = np.array([np.nan if r is None else r for r in reps], dtype=np.float64)
    bad = int(np.isnan(a).sum())
    if bad:
        return None, None, bad
    s_ = np.array([np.nan if x is None else x for x in rep_se], dtype=np.float64)
    # an SE within rounding of 0 (every draw one unit) has no t
    ok = s_ > 1e-9 * max(abs(est), se)
    if not ok.any():
        # no replicate varies within itself: the percentiles
        lo, hi = np.percentile(a, [2.5, 97.5])
        return float(lo), float(hi), 0
    t = (a[ok] - est) / s_[ok]
    q_lo, q_hi = np.percentile(t, [2.5, 97.5])
    return float(est - q_hi * se), float(est - q_lo * se), 0


def interval_shift(est, reps, B, shift):
    """tau's: the percentiles moved by shift, then max(0, .)."""
    lo, hi, bad = interval(est, reps, B, method="percentile")
    if bad or lo is None:
        return lo, hi, bad
    if shift is None:
        return None, None, 0
    return max(0.0, lo + shift), max(0.0, hi + shift), 0


def interval(est, reps, B, acc=0.0, method="bca"):
    """(lo, hi, ci-entry count or 0): percentile, or BCa with
    acceleration acc (Efron & Tibshirani 1993, 14.3; z0 from the share
    below the estimate, kept within (0.5/B, 1 - 0.5/B))."""
    if B == 0 or est is None:
        return None, None, 0
    a = np.array([np.nan if r is None else r for r in reps], dtype=np.float64)
    bad = int(np.isnan(a).sum())
    if bad:
        return None, None, bad
    if method == "percentile":
        lo, hi = np.percentile(a, [2.5, 97.5])
        return float(lo), float(hi), 0
    from scipy.stats import norm

    def ends(shift):
        tie = np.abs(a - est) <= 1e-9 * abs(est)
        p = float(np.mean(np.where(tie, 0.5, a < est))) + shift
        p = min(max(p, 0.5 / B), 1 - 0.5 / B)
        z0 = norm.ppf(p)
        lv = []
        for q in (0.025, 0.975):
            z = norm.ppf(q)
            lv.append(100 * norm.cdf(z0 + (z0 + z) / (1 - acc * (z0 + z))))
        return np.percentile(a, lv)
    lo, hi = ends(0)
    # a replicate within rounding of the estimate may count on either
    # side of it: the ends z0 gives with one replicate more or less
    # below the estimate are accepted too
    lo1, hi1 = ends(-1.0 / B)
    lo2, hi2 = ends(1.0 / B)
    return (("range", float(lo), min(lo1, lo2), max(lo1, lo2)),
            ("range", float(hi), min(hi1, hi2), max(hi1, hi2)), 0)


def any_interval(opts, key, est, reps, jk, shift=None):
    """The interval of figure key by the method qf-eval uses
    (docs/eval.md "Intervals"); jk: (acc, se, rep_se)."""
    acc, se, rep_se = jk
    B, method = opts["bootstrap"], opts["interval_used"]
    if shift is not False and key[0] == "disp" and key[3] in ("tau", "tau_mean"):
        return interval_shift(est, reps, B, shift)
    # the jackknife says nothing of a quantile's SE: percentiles
    if method == "t" and key[-1] in ("kl_median", "kl_p99"):
        method = "percentile"
    if method == "t" and B > 0 and est is not None and se[key] is not None:
        return interval_t(est, reps, B, se[key], [r[key] for r in rep_se])
    return interval(est, reps, B, acc[key],
                    "percentile" if method == "percentile" else "bca")


def expected_tables(opts, names, scopes, est_lf, est_disp, rep_lf, rep_disp,
                    langs, acc):
    """Rows of both tables as dicts column -> value; values are numbers,
    None (NA), strings, or ("any", [...]) / ("status", entries, loose)."""
    B = opts["bootstrap"]
    nm = len(names)
    lang_rows = []
    for L in langs:
        for m in range(nm):
            e = est_lf[L][m]
            row = {"lang": L, "model": names[m]}
            for c in LANG_COUNTS:
                row[c] = int(round(e[c]))
            for c in LANG_BASE + LANG_CMP + LANG_UNIT:
                if m == 0 and c not in LANG_BASE:
                    row[c] = row[c + "_lo"] = row[c + "_hi"] = None
                    continue
                est = e.get(c)
                lo, hi, bad = any_interval(opts, ("lang", L, m, c), est,
                                           [r[L][m].get(c) for r in rep_lf], acc)
                row[c], row[c + "_lo"], row[c + "_hi"] = est, lo, hi
                if c == "rel_deg":
                    why = e["rel_deg:why"]
                    nov = e["rel_deg:novalue"]
                    st = ["%s:NA in %s" % (opts["measure"], nov)] if nov else []
                    if why in (NA.LE0, NA.MIN):
                        st.append("rel_deg:" + why)
                    elif bad:
                        st.append("rel_deg:ci %d/%d" % (bad, B))
                    row["rel_deg_status"] = ("status", st,
                                             why == NA.OTHER and not nov)
            if m == 0:
                row["rel_deg_status"] = ("any", ["ok", "NA"])
            lang_rows.append(row)
    disp_rows = []
    for m in range(1, nm):
        for scope, _ in scopes:
            f = est_disp[(m, scope)]
            row = {"model": names[m], "scope": scope, "measure": opts["measure"],
                   "n_lang": f["n_lang"][0],
                   "max_lang": ("any", f["max_lang"][0] or ["NA"]),
                   "min_lang": ("any", f["min_lang"][0] or ["NA"])}
            entries, loose = [], set()
            if f["novalue"]:
                entries.append("%s:NA in %s" % (opts["measure"], f["novalue"]))
            for x in DISP_FIGS + DISP_LATE:
                est, why = f[x]
                reps = [r[(m, scope)][x][0] for r in rep_disp]
                shift = None
                if f["tau"][0] is not None and f.get("sd") is not None:
                    shift = f["tau"][0] - f["sd"]
                    if x == "tau_mean":
                        m_ = f["mean"][0]
                        shift = shift / m_ if m_ else None
                lo, hi, bad = any_interval(opts, ("disp", m, scope, x), est, reps,
                                           acc, shift)
                row[x], row[x + "_lo"], row[x + "_hi"] = est, lo, hi
                if why in (NA.LE0, NA.MIN, NA.NOISE):
                    entries.append("%s:%s" % (x, why))
                elif why == NA.OTHER:
                    loose.add(x)
                elif bad:
                    entries.append("%s:ci %d/%d" % (x, bad, B))
            row["status"] = ("status", entries, loose)
            disp_rows.append(row)
    return lang_rows, disp_rows


def lang_columns(B=True):
    cols = ["lang", "model"] + LANG_COUNTS
    for c in LANG_BASE + LANG_CMP:
        cols += [c, c + "_lo", c + "_hi"]
    cols.append("rel_deg_status")
    for c in LANG_UNIT:
        cols += [c, c + "_lo", c + "_hi"]
    return cols


def disp_columns():
    cols = ["model", "scope", "measure", "n_lang"]
    for x in DISP_FIGS:
        cols += [x, x + "_lo", x + "_hi"]
        if x == "max":
            cols.append("max_lang")
        if x == "min":
            cols.append("min_lang")
    cols.append("status")
    for x in DISP_LATE:
        cols += [x, x + "_lo", x + "_hi"]
    return cols


def cell_text(v):
    if isinstance(v, tuple) and v[0] == "range":
        return fmt(v[1])
    if isinstance(v, tuple):
        if v[0] == "any":
            return v[1][0]
        return ";".join(v[1]) or "ok"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    return fmt(v)


def write_table(path, cols, rows):
    with open(path, "w") as f:
        f.write("\t".join(cols) + "\n")
        for r in rows:
            f.write("\t".join(cell_text(r[c]) for c in cols) + "\n")


# ------------------------------------------------------------ comparison

RTOL = float(os.environ.get("ORACLE_RTOL", "1e-4"))
ATOL = float(os.environ.get("ORACLE_ATOL", "2e-6"))
NUM_RE = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)(e[-+]\d+)?$")


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    else:
        return None, None, ["%s: does not end with a newline" % path]
    # first the provenance line (formats/provenance.md)
    if not lines or not re.match(r"^# qf=\S+ tool=qf-eval openblas=\S+ core=\S+ "
                                 r"core_by=(user|qf|openblas) .*simd=\S+$", lines[0]):
        return None, None, ["%s: line 1 is not qf-eval's provenance line" % path]
    lines.pop(0)
    head = lines[0].split("\t")
    rows = [l.split("\t") for l in lines[1:]]
    errs = []
    for i, r in enumerate(rows):
        if len(r) != len(head):
            errs.append("%s: line %d has %d fields, the header %d"
                        % (path, i + 3, len(r), len(head)))
    return head, [dict(zip(head, r)) for r in rows], errs


def close(got, want, atol=None):
    return abs(got - want) <= RTOL * max(abs(got), abs(want)) + \
        (ATOL if atol is None else atol)


def compare_cell(where, col, got, want, errs, atol=None):
    if isinstance(want, tuple) and want[0] == "any":
        if got not in want[1]:
            errs.append("%s %s: got %r, expected one of %r" % (where, col, got, want[1]))
        return
    if isinstance(want, tuple) and want[0] == "range":
        # an interval end: want[1], or anywhere in [want[2], want[3]]
        if got != "NA" and NUM_RE.match(got) and \
                want[2] - ATOL <= float(got) <= want[3] + ATOL:
            return
        want = want[1]
    if isinstance(want, tuple) and want[0] == "status":
        entries, loose = want[1], want[2]
        g = [] if got == "ok" else got.split(";")
        if not loose:
            if got != (";".join(entries) or "ok"):
                errs.append("%s %s: got %r, expected %r"
                            % (where, col, got, ";".join(entries) or "ok"))
            return
        # NA for a reason the spec does not name: those figures' entries
        # are not checked; the others must be as specified, in order
        loose = loose if isinstance(loose, set) else {col.replace("_status", "")}
        g2 = [x for x in g if x.split(":")[0] not in loose]
        if g2 != entries:
            errs.append("%s %s: got %r, expected %r (plus any entry for %s)"
                        % (where, col, got, ";".join(entries) or "ok",
                           ",".join(sorted(loose))))
        return
    if isinstance(want, str):
        if got != want:
            errs.append("%s %s: got %r, expected %r" % (where, col, got, want))
        return
    if want is None:
        if got != "NA":
            errs.append("%s %s: got %s, expected NA" % (where, col, got))
        return
    if got == "NA":
        errs.append("%s %s: got NA, expected %s" % (where, col, fmt(want)))
        return
    if not NUM_RE.match(got) and got not in ("inf", "-inf", "nan"):
        errs.append("%s %s: %r is not a number printed with %%.6g" % (where, col, got))
        return
    g = float(got)
    if "%.6g" % g != got:
        errs.append("%s %s: %r is not printed with %%.6g (%r)" % (where, col, got, "%.6g" % g))
    if isinstance(want, int):
        if g != want:
            errs.append("%s %s: got %s, expected %d" % (where, col, got, want))
        return
    if not math.isfinite(g) or not close(g, want, atol):
        rel = abs(g - want) / max(abs(want), 1e-300)
        errs.append("%s %s: got %s, expected %.9g (rel. diff %.2g)"
                    % (where, col, got, want, rel))


def compare_table(path, kind, cols, rows, keys, errs):
    head, got, e = read_tsv(path)
    errs += e
    if head is None:
        return
    missing = [c for c in cols if c not in head]
    extra = [c for c in head if c not in cols]
    if missing:
        errs.append("%s: columns missing: %s" % (path, " ".join(missing)))
    if extra:
        errs.append("%s: columns not in docs/eval.md: %s" % (path, " ".join(extra)))
    if head and [c for c in head if c in cols] != [c for c in cols if c in head]:
        print("note: %s: column order differs from the oracle's "
              "(the spec fixes names, not order): %s" % (path, " ".join(head)))
    gk = [tuple(r.get(k) for k in keys) for r in got]
    wk = [tuple(r[k] for k in keys) for r in rows]
    if sorted(gk) != sorted(wk):
        errs.append("%s: rows %s, expected %s" % (path, gk, wk))
    elif kind == "lang" and gk != wk:
        errs.append("%s: row order %s, expected %s" % (path, gk, wk))
    elif kind == "disp" and gk != wk:
        # the spec does not fix the order of the disparity rows
        print("note: %s row order %s (oracle's: %s)" % (path, gk, wk))
    gmap = dict(zip(gk, got))
    for r, k in zip(rows, wk):
        g = gmap.get(k)
        if g is None:
            continue
        where = "%s %s" % (os.path.basename(path), "/".join(k))
        for c in cols:
            if c in keys or c not in g:
                continue
            if c == "measure":
                compare_cell(where, c, g[c], r[c], errs)
                continue
            compare_cell(where, c, g[c], r[c], errs)


def unit_rows(data, units, names, sc):
    """The units table: languages in code order, a language's units in
    stream order, test models in command-line order."""
    rows = []
    for L in data.langs:
        for i in data.per[L]["idx"]:
            u = units[i]
            s0 = float(np.sum(sc[0][i]["nll"].astype(np.float64)))
            for m in range(1, len(names)):
                r = sc[m][i]
                dn = float(np.sum(r["nll"].astype(np.float64))) - s0
                kl = float(np.sum(r["kl"]))
                rows.append({
                    "lang": L, "unit": u.uid, "kind": u.kind, "model": names[m],
                    "tokens": u.tokens, "scored": u.scored, "bytes": u.bytes,
                    "d_nll_sum": dn, "d_bits": dn / LN2, "kl_sum": kl,
                    "kl_per_token": kl / u.scored if u.scored else None,
                    "top1": float(np.sum(r["top1"])) / u.scored if u.scored else None,
                    "_scored": u.scored})
    return rows


def compare_units(path, rows, errs):
    """The units table, row by row in the order of docs/eval.md.  A sum
    over a unit's n targets gets n times the absolute tolerance (each
    per-token NLL is within about 1e-6 of torch's)."""
    head, got, e = read_tsv(path)
    errs += e
    if head is None:
        return
    if head != UNIT_COLS:
        errs.append("%s: header %s, expected %s" % (path, head, UNIT_COLS))
        return
    keys = ("lang", "unit", "kind", "model")
    gk = [tuple(r[k] for k in keys) for r in got]
    wk = [tuple(r[k] for k in keys) for r in rows]
    if gk != wk:
        errs.append("%s: rows %s, expected %s" % (path, gk, wk))
        return
    for g, w in zip(got, rows):
        where = "%s %s" % (os.path.basename(path), "/".join(g[k] for k in keys))
        for c in UNIT_COLS[4:]:
            sums = c in ("d_nll_sum", "d_bits", "kl_sum")
            compare_cell(where, c, g[c], w[c], errs,
                         ATOL * max(1, w["_scored"]) if sums else None)


def compare_nll(path, units, names, sc, errs):
    try:
        recs = read_stream(path)
    except Exception as e:  # noqa: BLE001
        errs.append("%s: unreadable: %s" % (path, e))
        return
    want = {}
    for u in units:
        for m, name in enumerate(names):
            want["nll.%s.%d" % (name, u.ordinal)] = (u, m, name)
    got_names = [r[0] for r in recs]
    missing = [n for n in want if n not in got_names]
    extra = [n for n in got_names if n not in want]
    if missing:
        errs.append("%s: records missing: %s" % (path, " ".join(missing)))
    if extra:
        errs.append("%s: records not expected: %s" % (path, " ".join(extra)))
    order = [n for n in want if n in got_names]
    if [n for n in got_names if n in want] != order:
        errs.append("%s: records in the order %s, expected %s"
                    % (path, " ".join(got_names), " ".join(order)))
    for name, dtype, dims, attrs, payload in recs:
        if name not in want:
            continue
        u, m, mname = want[name]
        if dtype != 1 or dims != [u.n - 1]:
            errs.append("%s: record %s: dtype %s shape %s, expected f32 [%d]"
                        % (path, name, qftref.NAMES.get(dtype), dims, u.n - 1))
            continue
        a = dict(attrs)
        exp = {"kind": "nll", "model": mname, "lang": u.attrs["lang"],
               "doc": u.attrs.get("doc"), "source": u.attrs.get("source")}
        for k, v in exp.items():
            if a.get(k) != v:
                errs.append("%s: record %s: %s=%r, expected %r"
                            % (path, name, k, a.get(k), v))
        got = np.frombuffer(payload, "<f4").astype(np.float64)
        ref = sc[m][u.ordinal]["nll"].astype(np.float64)
        if len(ref):
            err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
            if not err <= 1e-4:
                errs.append("%s: record %s: max|c - ref|/max|ref| = %.3g"
                            % (path, name, err))


def report(errs):
    """The end of a check: the first 60 differences and their count
    (returns 1), or "ok" (returns 0)."""
    for e in errs[:60]:
        print(e)
    if len(errs) > 60:
        print("... and %d more differences" % (len(errs) - 60))
    if errs:
        print("%d differences" % len(errs))
        return 1
    print("ok")
    return 0


# ------------------------------------------------------------ command line

def parse(argv):
    o = {"ref": None, "models": [], "window": None, "stride": None,
         "bootstrap": 1000, "seed": 1, "measure": "kl_unit", "ref_lang": "eng",
         "baseline": None, "min_den": 0.001, "languages": None, "group_by": [],
         "groups": [], "o": None, "d": None, "nll": None, "units": None,
         "headings": False, "tokens": [], "cluster": "auto",
         "interval": "auto"}
    it = iter(argv)
    for a in it:
        def val():
            return next(it)
        if a in ("-r", "--ref"):
            o["ref"] = val()
        elif a in ("-m", "--model"):
            o["models"].append(val())
        elif a in ("-j", "--jobs"):
            val()
        elif a in ("-v", "--verbose"):
            pass
        elif a == "--window":
            o["window"] = int(val())
        elif a == "--stride":
            o["stride"] = int(val())
        elif a == "--bootstrap":
            o["bootstrap"] = int(val())
        elif a == "--seed":
            o["seed"] = int(val())
        elif a == "--measure":
            o["measure"] = val()
        elif a == "--ref-lang":
            o["ref_lang"] = val()
        elif a == "--baseline":
            o["baseline"] = val()
        elif a == "--min-den":
            o["min_den"] = float(val())
        elif a == "--languages":
            o["languages"] = val()
        elif a == "--group-by":
            o["group_by"].append(val())
        elif a == "--group":
            name, ls = val().split("=", 1)
            o["groups"].append((name, ls.split(",")))
        elif a in ("-o", "--output"):
            o["o"] = val()
        elif a in ("-d", "--disparity"):
            o["d"] = val()
        elif a == "--nll":
            o["nll"] = val()
        elif a == "--units-out":
            o["units"] = val()
        elif a == "--headings":
            o["headings"] = True
        elif a == "--cluster":
            o["cluster"] = val()
        elif a == "--interval":
            o["interval"] = val()
        elif a.startswith("-") and a != "-":
            raise SystemExit("oracle.py: option %s not understood" % a)
        else:
            o["tokens"].append(a)
    assert o["measure"] in MEASURES
    return o


def model_arg(s, default):
    if "=" in s:
        return s.split("=", 1)
    base = os.path.basename(s)
    return (base[:-4] if base.endswith(".qft") else base) if default is None else default, s


def read_languages(path):
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    head = lines[0].split("\t")
    rows, order = {}, []
    for l in lines[1:]:
        v = l.split("\t")
        rows[v[0]] = dict(zip(head, v))
        order.append(v[0])
    return {"rows": rows, "order": order}


def prepare(argv):
    """The options, model names, records, scores and per-unit sums of a
    qf-eval command line (argv without the program); o["baseline"] an
    index, o["table"] the languages table or None."""
    o = parse(argv)
    rname, rpath = model_arg(o["ref"], "ref")
    ms = [model_arg(s, None) for s in o["models"]]
    names = [rname] + [n for n, _ in ms]
    paths = [rpath] + [p for _, p in ms]
    cfgs = [load_model(p)[0] for p in paths]
    W = o["window"] or min(c["n_ctx"] for c in cfgs)
    S = o["stride"] or W // 2
    units = load_units(o["tokens"])
    sc = cached_score(paths, o["tokens"], W, S)
    data = Data(units, sc, len(names), o["headings"])
    o["baseline"] = names.index(o["baseline"]) if o["baseline"] else 1
    o["table"] = read_languages(o["languages"]) if o["languages"] else None
    return o, names, units, sc, data


def run(argv):
    o, names, units, sc, data = prepare(argv)
    nm, table = len(names), o["table"]
    scopes, est_lf, est_disp, rep_lf, rep_disp, acc = evaluate(data, o, nm, names,
                                                               table)
    lang_rows, disp_rows = expected_tables(o, names, scopes, est_lf, est_disp,
                                           rep_lf, rep_disp, data.langs, acc)
    return o, names, units, sc, data, lang_rows, disp_rows, rep_lf


def cmd_check(argv):
    o, names, units, sc, data, lang_rows, disp_rows, _ = run(argv)
    errs = []
    if NEAR:
        print("note: %d denominators within 5e-6 of 0 or --min-den (e.g. %.9g):"
              " a degenerate count may differ by rounding" % (len(NEAR), NEAR[0]))
    margins = [x for m in sc[1:] for r in m for x in r.get("margin", [])]
    if margins and min(margins) < 1e-4:
        print("note: an argmax is within %.2g of a tie: top1 may differ by "
              "rounding" % min(margins))
    if o["o"]:
        compare_table(o["o"], "lang", lang_columns(), lang_rows, ("lang", "model"), errs)
    if o["d"]:
        compare_table(o["d"], "disp", disp_columns(), disp_rows, ("model", "scope"), errs)
    if o["nll"]:
        kept = [u for u in units if o["headings"] or u.kind != "heading"]
        compare_nll(o["nll"], kept, names, sc, errs)
    if o["units"]:
        compare_units(o["units"], unit_rows(data, units, names, sc), errs)
    return report(errs)


def cmd_write(argv):
    o, names, units, sc, data, lang_rows, disp_rows, _ = run(argv)
    if o["o"]:
        write_table(o["o"], lang_columns(), lang_rows)
    if o["d"]:
        write_table(o["d"], disp_columns(), disp_rows)
    if o["units"]:
        write_table(o["units"], UNIT_COLS, unit_rows(data, units, names, sc))
    return 0


def cmd_min_den(argv):
    o, names, units, sc, data, lang_rows, disp_rows, rep_lf = run(argv)
    L = o["ref_lang"]
    allD = sorted(r[L][m]["D"] for r in rep_lf for m in range(1, len(names)))
    mine = sorted(r[L][1]["D"] for r in rep_lf)
    est = [x for x in lang_rows if x["lang"] == L][1][o["measure"]]
    # the widest gap between neighbours of allD among mine's 5th..15th
    # percentile, below the estimate
    lo, hi = np.percentile(mine, [5, 15])
    best = None
    for a, b in zip(allD, allD[1:]):
        if lo <= a and b <= hi and b < est and (best is None or b - a > best[1] - best[0]):
            best = (a, b)
    assert best is not None and best[1] - best[0] > 1e-5, best
    print("%.9g" % ((best[0] + best[1]) / 2))
    return 0


def selftest():
    # splitmix64 from seed 0 (Vigna's splitmix64.c)
    st, z = splitmix64(0)
    assert z == 0xE220A8397B1DCDAF, hex(z)
    st, z = splitmix64(st)
    assert z == 0x6E789E6AA1B965F4, hex(z)
    # xoshiro256** from the state 1, 2, 3, 4
    g = Xoshiro([1, 2, 3, 4])
    got = [g.next() for _ in range(4)]
    assert got == [11520, 0, 1509978240, 1215971899390074240], got
    # the vector generator: the scalar one's numbers
    for seed in (1, 12345, M64):
        v = draws(seed, 5, [3, 1, 7])
        for b in range(5):
            s = draws_scalar(seed, b, [3, 1, 7])
            assert all(list(v[i][b]) == s[i] for i in range(3)), (seed, b)
    # 64-bit products at the edges
    x = np.array([M64, 1 << 63, 0, 12345678901234567890], dtype=U)
    for n in (1, 2, 97, (1 << 32) - 1):
        want = [(int(a) * n) >> 64 for a in x]
        assert list(_v_mulhi(x, n)) == want
    # runtime.md's example: n = 10, window 4, stride 2
    assert windows(10, 4, 2) == [(0, 4, 1), (2, 6, 4), (4, 8, 6), (6, 10, 8)]
    assert windows(3, 32, 16) == [(0, 3, 1)]
    for n in range(2, 120):
        for w, s in [(32, 16), (20, 7), (5, 4), (32, 1)]:
            seen = []
            for b, e, f in windows(n, w, s):
                assert f - b >= (w - s if b else 1)
                seen += range(f, e)
            assert seen == list(range(1, n))
    print("ok")
    return 0


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "check":
        return cmd_check(argv[1:])
    if argv[0] == "write":
        return cmd_write(argv[1:])
    if argv[0] == "min-den":
        return cmd_min_den(argv[1:])
    if argv[0] == "selftest":
        return selftest()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
