#!/usr/bin/python3
"""oracle.py - an independent implementation of docs/quantize.md in numpy.

Written from the document, not from lib/quant/, to check qf-quantize.
Run with Debian's python3 (numpy, scipy; torch for the compat preset).

  oracle.py gen OUT.npz
        test tensors (with "NAME.attrs" members for tests/ref/qftref.py)
  oracle.py check IN.npz OUT.npz [--stats FILE.tsv] [--ulp N] SPEC...
        quantize every float array of IN.npz per SPEC and compare with
        OUT.npz, which holds what qf-quantize wrote (qf-cat --to npz):
        NAME (values), NAME.codes, NAME.scales, NAME.zeros.  SPEC:
        --scheme int|fp4|nf4|compat  --bits B  --asym  --gran G
        --clip C  --round stochastic --seed N
  oracle.py check-chan IN.npz CHAN.npz OUT.npz (--frac F | --budget F)
        [--salience absmean|rms|absmax] [--stats FILE.tsv] SPEC...
        the same for channel protection (qf-quantize --protect-channels F
        or --protect-channels-budget F): IN.npz a GPT-2 weight stream,
        CHAN.npz the statistics qf-act --channel-stats wrote (both through
        qf-cat --to npz); of each linear weight layers.L.KIND.weight the
        input columns of largest salience of its input site (ln1_out,
        attn_z, ln2_out, mlp_act) are kept as they are, with code 0, and
        every unit's parameters come from its other elements
        (docs/quantize.md, "Keeping salient input channels")
  oracle.py aciq
        the ACIQ optima alpha/sigma and alpha/b for 2..8 bits, found by
        scipy.optimize.minimize_scalar on the expected-MSE formulas, as
        TSV (tests/data/quant/aciq.tsv)
"""
import argparse
import math
import sys

import numpy as np

F32 = np.float32

NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367,
                -0.39491748809814453, -0.28444138169288635,
                -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
                0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], dtype=F32)
E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], dtype=F32)


# ------------------------------------------------------------ ACIQ

def tail_gauss(a, s):
    t = a / s
    return s * s * ((1 + t * t) * 0.5 * math.erfc(t / math.sqrt(2)) -
                    t * math.exp(-t * t / 2) / math.sqrt(2 * math.pi))


def tail_laplace(a, b):
    if a >= 0:
        return b * b * math.exp(-a / b)
    return 2 * b * b + a * a - b * b * math.exp(a / b)


def pred(laplace, a_lo, a_hi, scale, bits):
    w = a_lo + a_hi
    q = w * w / (12.0 * 4.0 ** bits)
    if not scale > 0:
        return q
    t = tail_laplace if laplace else tail_gauss
    return t(a_lo, scale) + t(a_hi, scale) + q


def aciq_k(laplace, bits):
    """The optimum by bisection on the derivative (docs/quantize.md)."""
    c = 2 / (3 * 4.0 ** bits)
    if laplace:
        d = lambda a: -2 * math.exp(-a) + c * a
    else:
        d = lambda t: 4 * (t * 0.5 * math.erfc(t / math.sqrt(2)) -
                           math.exp(-t * t / 2) / math.sqrt(2 * math.pi)) + c * t
    lo, hi = 0.0, 64.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if d(mid) < 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def aciq_scipy(laplace, bits):
    from scipy.optimize import minimize_scalar
    from scipy.special import erf
    q = 1 / (3 * 4.0 ** bits)
    if laplace:
        f = lambda a: 2 * np.exp(-a) + a * a * q
    else:
        f = lambda t: ((t * t + 1) * (1 - erf(t / np.sqrt(2))) -
                       np.sqrt(2 / np.pi) * t * np.exp(-t * t / 2) + t * t * q)
    r = minimize_scalar(f, bounds=(0, 40), method="bounded",
                        options={"xatol": 1e-12})
    return r.x


# ------------------------------------------------------------ quantizers

def trunc15(f):
    f = np.asarray(f, dtype=F32)
    return (f.view(np.uint32) & np.uint32(0xFFFFFE00)).view(F32)


def fnv1a(name):
    h = 0xcbf29ce484222325
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def uniform24(key, idx):
    """splitmix64 output idx + 1 from state key, top 24 bits / 2^24."""
    with np.errstate(over="ignore"):
        z = np.uint64(key) + (idx.astype(np.uint64) + np.uint64(1)) * \
            np.uint64(0x9e3779b97f4a7c15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(F32) * F32(2.0 ** -24)


def percentile(v, p):
    d = np.sort(np.asarray(v, dtype=np.float64))
    n = len(d)
    pos = p / 100.0 * (n - 1)
    k = min(int(math.floor(pos)), n - 1)
    g = pos - k
    if g <= 0 or k + 1 >= n:
        return d[k]
    return d[k] + (d[k + 1] - d[k]) * g


class Spec:
    def __init__(self, a):
        self.scheme = a.scheme
        self.asym = a.asym
        self.bits = {"int": a.bits, "fp4": 4, "nf4": 4, "compat": 4}[a.scheme]
        self.gran = a.gran
        self.clip = a.clip
        self.stoch = a.round == "stochastic"
        self.seed = a.seed or 0
        self.qhi = F32((1 << self.bits) - 1 if self.asym
                       else (1 << (self.bits - 1)) - 1)


def scale_for(S, lo, hi):
    """(s, z) for the clip range [lo, hi] (f32)."""
    lo, hi = F32(lo), F32(hi)
    if S.scheme == "compat":
        return hi / F32(7), F32(0)
    if S.scheme == "fp4":
        return trunc15(hi / F32(6)), F32(0)
    if S.scheme == "nf4":
        return trunc15(hi), F32(0)
    if not S.asym:
        return trunc15(hi / S.qhi), F32(0)
    s = trunc15((hi - lo) / S.qhi)
    if not s > 0:
        m = max(abs(lo), abs(hi))
        s = trunc15(m) if m > 0 else F32(1)
        if not s > 0:
            s = F32(1)
    return s, np.rint(-lo / s)


def quant(S, x, s, z, idx, key):
    """Quantize f32 x with (s, z); idx: flat indices (stochastic)."""
    x = np.asarray(x, dtype=F32)
    if not s > 0:
        code = np.full(x.shape, 7 if S.scheme == "nf4" else 0)
        return np.zeros_like(x), code
    if S.scheme == "compat":
        import torch
        t = torch.from_numpy(x.copy())
        q = torch.clamp(torch.round(t / torch.tensor(s)), -8, 7)
        y = (q * torch.tensor(s)).numpy()
        return y, q.numpy().astype(np.int64)
    if S.scheme == "int":
        lo = F32(0) if S.asym else -S.qhi
        if S.stoch:
            t = x / s + z
            t = np.clip(t, lo, S.qhi)
            f = np.floor(t)
            f = f + (uniform24(key, idx) < t - f).astype(F32)
            return (f - z) * s, f.astype(np.int64)
        if S.asym:
            t = np.rint(x / s) + z
            t = np.clip(t, F32(0), S.qhi)
            return (t - z) * s, t.astype(np.int64)
        t = np.rint(np.clip(x / s, lo, S.qhi))
        return t * s, t.astype(np.int64)
    t = x / s
    if S.scheme == "fp4":
        a = np.abs(t)
        if S.stoch:
            m = sum((a >= E2M1[k]).astype(int) for k in range(1, 8))
            mm = np.minimum(m, 6)
            frac = (a - E2M1[mm]) / (E2M1[mm + 1] - E2M1[mm])
            m = m + ((m < 7) & (uniform24(key, idx) < frac))
        else:
            m = ((a > 0.25).astype(int) + (a >= 0.75) + (a > 1.25) +
                 (a >= 1.75) + (a > 2.5) + (a >= 3.5) + (a > 5))
        y = np.copysign(E2M1[m], t) * s
        return y, m | (np.signbit(t) * 8)
    # nf4
    if S.stoch:
        m = sum((NF4[k] <= t).astype(int) for k in range(1, 15))
        mm = np.minimum(m, 14)
        frac = (t - NF4[mm]) / (NF4[mm + 1] - NF4[mm])
        up = (t > -1) & (t < 1) & (uniform24(key, idx) < frac)
        m = np.where(t >= 1, 15, m + up)
    else:
        mid = (NF4[:-1].astype(np.float64) + NF4[1:]) / 2
        m = np.searchsorted(mid, t.astype(np.float64), side="left")
    return NF4[m] * s, m


def sse(S, x, s, z):
    y, _ = quant(S, x, s, z, None, 0)
    d = x.astype(np.float64) - y
    return float(np.dot(d, d))


def clip_range(S, x, k):
    """The unit's clip range and its fit (c, sigma, b)."""
    x = np.asarray(x, dtype=F32)
    n = len(x)
    xd = x.astype(np.float64)
    amax = np.abs(x).max()
    mn, mx = x.min(), x.max()
    asym = S.scheme == "int" and S.asym
    if asym:
        c = float(np.sum(xd)) / n
        dev = xd - c
    else:
        c, dev = 0.0, xd
    sig = math.sqrt(float(np.dot(dev, dev)) / n)
    b = float(np.sum(np.abs(dev))) / n

    def rng(alpha):
        if not asym:
            h = min(F32(alpha), amax)
            return -h, h
        return max(F32(c - alpha), mn), min(F32(c + alpha), mx)

    if S.clip == "none":
        lo, hi = (mn, mx) if asym else (-amax, amax)
    elif S.clip.startswith("percentile:"):
        p = float(S.clip.split(":")[1])
        if asym:
            t = (100 - p) / 2
            lo, hi = F32(percentile(x, t)), F32(percentile(x, 100 - t))
        else:
            hi = F32(percentile(np.abs(x), p))
            lo = -hi
    elif S.clip in ("aciq_gauss", "aciq_laplace"):
        lo, hi = rng(k * (sig if S.clip == "aciq_gauss" else b))
    else:   # mse
        A = max(float(mx) - c, c - float(mn)) if asym else float(amax)
        best, mb = math.inf, 0
        for m in range(20, 2001, 20):
            e = sse(S, x, *scale_for(S, *rng(A * m / 2000)))
            if e < best:
                best, mb = e, m
        m0 = mb
        for m in range(max(1, m0 - 20), min(2000, m0 + 20) + 1):
            e = sse(S, x, *scale_for(S, *rng(A * m / 2000)))
            if e < best:
                best, mb = e, m
        lo, hi = rng(A * mb / 2000)
    return F32(lo), F32(hi), (c, sig, b)


def quantize(S, name, arr, keep=None):
    """Reference for one tensor: y, codes, scales, zeros, unit list.
    keep: a bool mask of the columns kept in full precision, or None."""
    x = np.asarray(arr, dtype=F32)
    cols = x.shape[-1] if x.ndim else 1
    X = x.reshape(-1, cols)
    rows = X.shape[0]
    key = (S.seed ^ fnv1a(name)) if S.stoch else 0
    k = 0.0
    if S.clip == "aciq_gauss":
        k = aciq_k(False, S.bits)
    elif S.clip == "aciq_laplace":
        k = aciq_k(True, S.bits)
    flat = np.arange(x.size, dtype=np.int64).reshape(rows, cols)
    Y = np.zeros_like(X)
    C = np.zeros(X.shape, dtype=np.int64)
    if S.gran == "tensor":
        spans = [(slice(None), slice(None))]
        gshape = (1, 1)
    elif S.gran == "channel":
        spans = [(r, slice(None)) for r in range(rows)]
        gshape = (rows, 1)
    else:
        g = int(S.gran)
        gpr = (cols + g - 1) // g
        spans = [(r, slice(j * g, (j + 1) * g)) for r in range(rows)
                 for j in range(gpr)]
        gshape = (rows, gpr)
    scales, zeros, units = [], [], []
    free = np.ones(X.shape, dtype=bool)
    if keep is not None:
        free[:, keep] = False
    for sp in spans:
        m = free[sp]
        u = X[sp][m]
        if len(u):
            lo, hi, fit = clip_range(S, u, k)
            s, z = scale_for(S, lo, hi)
            y, c = quant(S, u, s, z, flat[sp][m], key)
        else:      # every element kept: no scale
            lo, hi, fit, s, z = F32(0), F32(0), (0.0, 0.0, 0.0), F32(0), 0
            y, c = u, np.zeros(0, dtype=np.int64)
        yy, cc = X[sp].copy(), np.zeros(X[sp].shape, dtype=np.int64)
        yy[m], cc[m] = y, c
        Y[sp] = yy
        C[sp] = cc
        scales.append(s)
        zeros.append(z)
        units.append((u, y, lo, hi, fit))
    return (Y.reshape(x.shape), C.reshape(x.shape),
            np.array(scales, dtype=F32).reshape(gshape),
            np.array(zeros, dtype=np.int64).reshape(gshape), units)


# ------------------------------------------------------------ statistics

def stats(S, x, units):
    from scipy.stats import kurtosis
    xd = np.asarray(x, dtype=np.float64).ravel()
    n = xd.size
    mean = xd.mean()
    var = xd.var()
    sd = math.sqrt(var)
    e = sum(float(np.sum((u.astype(np.float64) - y) ** 2)) for u, y, *_ in units)
    ss = float(np.dot(xd, xd))
    pg = pl = 0.0
    alpha = clipped = 0.0
    for u, y, lo, hi, (c, sig, b) in units:
        alpha += (float(hi) - float(lo)) / 2 if S.asym else float(hi)
        clipped += int(np.sum((u < lo) | (u > hi)))
        pg += len(u) * pred(False, c - float(lo), float(hi) - c, sig, S.bits)
        pl += len(u) * pred(True, c - float(lo), float(hi) - c, b, S.bits)
    return {
        "numel": n, "mean": mean, "variance": var,
        "kurtosis": kurtosis(xd, fisher=True, bias=True),
        "absmax": np.abs(xd).max(),
        "outlier_frac": float(np.sum(np.abs(xd - mean) > 6 * sd)) / n,
        "alpha": alpha / len(units), "clipped_frac": clipped / n,
        "mse": e / n, "sqnr_db": 10 * math.log10(ss / e) if e else math.inf,
        "rel_fro": math.sqrt(e / ss), "aciq_mse_gauss": pg / n,
        "aciq_mse_laplace": pl / n,
    }


# ------------------------------------------------------------ commands

def gen(out):
    rng = np.random.default_rng(5)
    a = {}
    a["gauss.weight"] = (rng.standard_normal((48, 96)) * 0.02).astype(F32)
    a["laplace.weight"] = rng.laplace(0, 0.03, (7, 50)).astype(F32)
    w = (rng.standard_normal((4, 64)) * 0.05).astype(F32)
    w[1, 5] = 0.9                                  # outlier
    w[2, :] = 0.125                                # constant row
    w[3, :32] = 0                                  # zero group
    a["special.weight"] = w
    a["cube.weight"] = rng.standard_normal((3, 5, 40)).astype(F32)
    a["vec.weight"] = (rng.standard_normal(100) + 1).astype(F32)   # LN-like
    # exact ties of x / s: steps of max / 7 and halves
    a["ties.weight"] = (np.array([7, 6.5, 5.5, -4.5, 3.5, -2.5, 1.5, 0.5, -0.5,
                             0.25, 0.75, -1.25, 1.75, 2.5, -3.5, 5.0] * 4,
                            dtype=F32) / F32(7)).reshape(4, 16)
    a["skew.weight"] = np.abs(rng.standard_normal((6, 64))).astype(F32) + 0.5
    a["ids"] = np.arange(12, dtype=np.int64)
    attrs = {k + ".attrs": np.array(["kind=attn_qkv", "layer=0"])
             for k in a if k.endswith(".weight")}
    np.savez(out, **a, **attrs)


def close(a, b, rtol):
    if isinstance(a, float) and math.isinf(a):
        return math.isinf(b)
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-300


def stats_rows(path):
    rows = {}
    if path:
        with open(path) as f:
            head = f.readline()
            if head.startswith("# qf="):   # the provenance line
                head = f.readline()
            head = head.rstrip("\n").split("\t")
            for line in f:
                r = dict(zip(head, line.rstrip("\n").split("\t")))
                if r["row"] == "tensor":
                    rows[r["name"]] = r
    return rows


def check(a):
    S = Spec(a)
    src = np.load(a.input)
    out = np.load(a.output)
    rows = stats_rows(a.stats)
    bad = 0
    for name in src.files:
        x = src[name]
        if name.endswith(".attrs") or x.dtype.kind != "f":
            continue
        bad += compare(S, a, name, x, out, rows)
    if bad:
        print("oracle: %d mismatches" % bad)
        return 1
    return 0


def compare(S, a, name, x, out, rows, keep=None):
    """qf-quantize's tensor name (in out, its statistics row in rows)
    against the reference; the number of mismatches."""
    bad = 0
    y, c, s, z, units = quantize(S, name, x, keep)
    got = out[name]
    ulp = a.ulp
    diff = np.abs(got.astype(np.float64) - y)
    tol = ulp * np.spacing(np.abs(y).astype(F32)).astype(np.float64)
    nb = int(np.sum(diff > tol))
    if nb:
        i = int(np.argmax(diff > tol))
        print("%s: %d values differ, first [%d] %r want %r" %
              (name, nb, i, got.ravel()[i], y.ravel()[i]))
        bad += 1
    if name + ".codes" in out.files:
        gc = out[name + ".codes"].astype(np.int64)
        if not np.array_equal(gc, c):
            i = int(np.argmax(gc.ravel() != c.ravel()))
            print("%s: codes differ at %d: %d want %d" %
                  (name, i, gc.ravel()[i], c.ravel()[i]))
            bad += 1
        gs = out[name + ".scales"]
        if gs.shape != s.shape or not np.array_equal(gs.view(np.uint32),
                                                     s.view(np.uint32)):
            print("%s: scales differ: %r want %r" % (name, gs.ravel()[:4],
                                                      s.ravel()[:4]))
            bad += 1
        if S.scheme == "int" and S.asym and \
                not np.array_equal(out[name + ".zeros"], z):
            print("%s: zero points differ" % name)
            bad += 1
    if a.stats:
        want = stats(S, x, units)
        r = rows[name]
        for k, v in want.items():
            g = float(r[k])
            if not close(float(v), g, 1e-6):
                print("%s: %s = %r, want %r" % (name, k, g, v))
                bad += 1
    return bad


# ------------------------------------------------------------ channel protection

# a linear's input site: the model's code (lib/model/gpt2.c, and
# tests/data/model/gen_model.py's forward)
INPUT_SITE = {"attn.qkv": "ln1_out", "attn.out": "attn_z",
              "mlp.in": "ln2_out", "mlp.out": "mlp_act"}


def kept_columns(chan, name, x, a, done):
    """The kept columns of linear weight name [out, in]; done: [weights
    so far, kept so far] in stream order (the budget's)."""
    parts = name.split(".")
    site = INPUT_SITE[".".join(parts[2:4])]
    st = np.asarray(chan["chan.%s.%s" % (parts[1], site)], dtype=np.float64)
    sal = {"absmean": st[:, 0], "rms": np.sqrt(st[:, 1]),
           "absmax": st[:, 2]}[a.salience]
    rows, cols = x.shape
    assert st.shape == (cols, 3), (name, st.shape)
    if a.budget is None:
        k = math.floor(a.frac * cols + 0.5)
    else:
        want = math.floor(a.budget * (done[0] + rows * cols) + 0.5) - done[1]
        k = math.floor(want / rows + 0.5)
    k = min(max(k, 0), cols)
    done[0] += rows * cols
    done[1] += k * rows
    order = sorted(range(cols), key=lambda i: (-sal[i], i))
    keep = np.zeros(cols, dtype=bool)
    keep[order[:k]] = True
    return keep


def check_chan(a):
    S = Spec(a)
    src = np.load(a.input)
    chan = np.load(a.chan)
    out = np.load(a.output)
    rows = stats_rows(a.stats)
    bad, done = 0, [0, 0]
    lin = [n for n in src.files if n.startswith("layers.") and
           ".".join(n.split(".")[2:4]) in INPUT_SITE and n.endswith(".weight")]
    lin.sort(key=lambda n: (int(n.split(".")[1]),
                            ["attn.qkv", "attn.out", "mlp.in", "mlp.out"].index(
                                ".".join(n.split(".")[2:4]))))
    for name in lin:
        x = src[name]
        keep = kept_columns(chan, name, x, a, done)
        bad += compare(S, a, name, x, out, rows, keep)
        if a.stats and int(rows[name]["chan_kept"]) != int(keep.sum()) * x.shape[0]:
            print("%s: chan_kept %s, want %d" % (name, rows[name]["chan_kept"],
                                                 int(keep.sum()) * x.shape[0]))
            bad += 1
    for name in src.files:     # the others as usual: --compat's, or as they were
        if name in lin:
            continue
        if S.scheme == "compat" and name.endswith("weight"):
            bad += compare(S, a, name, src[name], out, rows)
        elif not np.array_equal(src[name], out[name]):
            print("%s: changed" % name)
            bad += 1
    if a.budget is not None:
        print("kept %d of %d weights (%.6f)" % (done[1], done[0],
                                                 done[1] / done[0]))
    if bad:
        print("oracle: %d mismatches" % bad)
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("out")
    cc = sub.add_parser("check-chan")
    cc.add_argument("input")
    cc.add_argument("chan")
    cc.add_argument("output")
    cc.add_argument("--frac", type=float)
    cc.add_argument("--budget", type=float)
    cc.add_argument("--salience", default="absmean")
    c = sub.add_parser("check")
    c.add_argument("input")
    c.add_argument("output")
    for p in (c, cc):
        p.add_argument("--stats")
        p.add_argument("--ulp", type=float, default=0)
        # qf-quantize's options, with its defaults
        p.add_argument("-s", "--scheme", default="int")
        p.add_argument("-b", "--bits", type=int, default=4)
        p.add_argument("--asym", action="store_true")
        p.add_argument("-g", "--granularity", dest="gran")
        p.add_argument("-c", "--clip", default="none")
        p.add_argument("--round", default="nearest")
        p.add_argument("--seed", type=int)
        p.add_argument("--compat", action="store_true")
    sub.add_parser("aciq")
    a, rest = ap.parse_known_args()
    # qf-quantize options that do not change the numbers
    keep = []
    for i, r in enumerate(rest):
        if r in ("--emit-codes", "-v") or r == "-n" or \
                (i and rest[i - 1] == "-n"):
            continue
        keep.append(r)
    rest = keep
    if rest:
        ap.error("unrecognized arguments: %s" % " ".join(rest))
    if a.cmd == "gen":
        gen(a.out)
        return 0
    if a.cmd == "aciq":
        print("bits\tgauss\tlaplace")
        for b in range(2, 9):
            print("%d\t%.12f\t%.12f" % (b, aciq_scipy(False, b),
                                        aciq_scipy(True, b)))
        return 0
    if a.compat:
        a.scheme, a.gran = "compat", "tensor"
    if a.gran is None:
        a.gran = {"int": "channel", "fp4": "32", "nf4": "64"}[a.scheme]
    return check_chan(a) if a.cmd == "check-chan" else check(a)


if __name__ == "__main__":
    sys.exit(main())
