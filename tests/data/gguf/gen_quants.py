#!/usr/bin/python3
"""Reference Q8_0 / Q4_0 quantizers in numpy, and the blocks fixture.

Run with Debian's python3 (it has numpy) from the repository top:

    /usr/bin/python3 tests/data/gguf/gen_quants.py

The two functions below follow the numpy implementation llama.cpp
publishes in gguf-py/gguf/quants.py (itself a transcription of
quantize_row_q8_0_ref / quantize_row_q4_0_ref in ggml-quants.c), written
again here so that qf's tests have an oracle of their own:

    Q8_0  d = max|x| / 127, id = 1/d (0 when d == 0), all float32;
          q = round(x * id), halves away from zero; scale = float16(d)
    Q4_0  m = the x of largest |x| (the first), d = m / -8, id as above;
          q = min(15, trunc(x * id + 8.5)) - 8, the sum exact (float64);
          scale = float16(d)

One rule goes beyond the reference, where the result is undefined: an
x * id that is not finite (a block so tiny that 1/d overflows float32)
gives code 0 (Q8_0) / nibble 0, i.e. code -8 (Q4_0), what x86 yields.

The fixture, quants.npz (members as in ../../shared/fixtures/ggml-quants):

    x             float32 (rows, 32)
    q8_0_scale    float16 (rows, 1)     q8_0_codes  int8 (rows, 32)
    q8_0_dequant  float32 (rows, 32)
    q4_0_scale    float16 (rows, 1)     q4_0_codes  int8 (rows, 32), in [-8, 7]
    q4_0_dequant  float32 (rows, 32)
    q4_0_naive    int8 (rows, 32): Q4_0 codes as ggml's C code gives them
                  compiled without fused multiply-add (x * id rounded to
                  float32 before + 8.5f); differs from q4_0_codes only in
                  the "near-tie" rows, there to prove they test something
    kind          uint8 (rows,): which generator made the row (KINDS)

This module is imported by gen.py for the quantized GGUF tensors.
"""
import os

import numpy as np

QK = 32
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quants.npz")

F32 = np.float32


def _codes_or_zero(v, lo, hi, zero):
    """v (float) to integers where finite and in [lo, hi], else zero."""
    ok = np.isfinite(v) & (v >= lo) & (v <= hi)
    return np.where(ok, np.where(ok, v, 0).astype(np.int64), zero)


def round_away(v):
    """roundf: to nearest, halves away from zero (exact in float32)."""
    a = np.abs(v)
    fl = np.floor(a)
    return np.sign(v) * (fl + np.floor(F32(2) * (a - fl)))


def q8_0(x):
    """x: (blocks, 32) float32 -> (scale f16 (blocks, 1), codes int8)."""
    x = np.asarray(x, dtype=F32).reshape(-1, QK)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        d = (np.abs(x).max(axis=1, keepdims=True) / F32(127)).astype(F32)
        idv = np.where(d == 0, F32(0), F32(1) / d).astype(F32)
        v = round_away((x * idv).astype(F32))
        q = _codes_or_zero(v, -127, 127, 0)
        scale = d.astype(np.float16)
    return scale, q.astype(np.int8)


def q4_0(x, naive=False):
    """x: (blocks, 32) float32 -> (scale f16 (blocks, 1), codes int8 in
    [-8, 7]).  naive: round x * id to float32 and add 8.5 in float32, as
    the C reference does without fused multiply-add."""
    x = np.asarray(x, dtype=F32).reshape(-1, QK)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        imax = np.abs(x).argmax(axis=1)[:, None]
        m = np.take_along_axis(x, imax, axis=1)
        d = (m / F32(-8)).astype(F32)
        idv = np.where(d == 0, F32(0), F32(1) / d).astype(F32)
        if naive:
            v = np.trunc((x * idv).astype(F32) + F32(8.5))
        else:
            v = np.trunc(x.astype(np.float64) * idv.astype(np.float64) + 8.5)
        q = _codes_or_zero(v, 0, 1e9, 0)
        q = np.minimum(q, 15) - 8
        scale = d.astype(np.float16)
    return scale, q.astype(np.int8)


def dequant(scale, codes):
    return (scale.astype(F32) * codes.astype(F32)).astype(F32)


def q8_0_bytes(x):
    """ggml's bytes: per block f16 d then 32 int8."""
    s, q = q8_0(x)
    return np.concatenate([s.view(np.uint8), q.view(np.uint8)], axis=1).tobytes()


def q4_0_bytes(x):
    """ggml's bytes: per block f16 d then 16 bytes, byte j = nibble j |
    nibble j + 16 << 4."""
    s, q = q4_0(x)
    n = (q + 8).astype(np.uint8)
    packed = n[:, :16] | (n[:, 16:] << np.uint8(4))
    return np.concatenate([s.view(np.uint8), packed], axis=1).tobytes()


# ------------------------------------------------------------ fixture rows

KINDS = ["normal", "laplace", "zeros", "ties", "near_tie", "tiny",
         "subnormal", "outlier", "clamp", "huge", "steps", "constant"]


def near_tie_rows(rng, want):
    """Blocks where x * id lies just below k + 0.5 but rounds to it in
    float32, so that the naive and the exact Q4_0 codes differ."""
    rows = []
    while len(rows) < want:
        x = rng.standard_normal(QK).astype(F32)
        im = int(np.abs(x).argmax())
        d = F32(x[im] / F32(-8))
        idv = F32(F32(1) / d)
        k = int(rng.integers(-7, 7)) + 0.5
        c = F32(k / float(idv))
        for _ in range(40):             # walk down a few float32 steps
            ex = float(c) * float(idv) + 8.5
            nv = F32(F32(c * idv) + F32(8.5))
            if abs(c) < abs(x[im]) and np.trunc(ex) != np.trunc(nv):
                x[(im + 1) % QK] = c
                rows.append(x)
                break
            c = np.nextafter(c, F32(-np.inf) if idv > 0 else F32(np.inf),
                             dtype=F32)
    return rows


def fixture_rows():
    rng = np.random.default_rng(20240611)
    rows, kinds = [], []

    def add(kind, x):
        rows.append(np.asarray(x, dtype=F32))
        kinds.append(KINDS.index(kind))

    for s in (1.0, 0.02, 3.0, 1e-3):
        for _ in range(3):
            add("normal", rng.standard_normal(QK) * s)
    for _ in range(4):
        add("laplace", rng.laplace(0, 0.05, QK))
    add("zeros", np.zeros(QK))
    neg0 = np.zeros(QK, dtype=F32)
    neg0[3] = -0.0
    add("zeros", neg0)
    # Q8_0 ties: amax 127 makes d = 1, so x * id = x exactly
    t = np.array([127, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -126.5, 3.5,
                  63.5, -63.5, 0.49999997, -0.49999997, 100.5, -100.5] * 2,
                 dtype=F32)
    add("ties", t)
    # Q4_0 ties: m = -8 makes d = 1, id = 1, x + 8.5 integral at .5
    t = np.array([-8, -7.5, -6.5, -0.5, 0.5, 1.5, 6.5, 7.5, -1.5, 2.5,
                  -2.5, 3.5, 5.5, -5.5, 4.5, -4.5] * 2, dtype=F32)
    add("ties", t)
    t = -t
    add("ties", t)                      # m = 8: d = -1, id = -1
    for x in near_tie_rows(rng, 4):
        add("near_tie", x)
    for s in (1e-6, 1e-5, 3e-7):        # scales underflow f16
        add("tiny", rng.standard_normal(QK) * s)
    add("tiny", rng.standard_normal(QK) * 6e-6)   # f16 subnormal scale
    x = rng.standard_normal(QK).astype(F32) * F32(1e-39)  # 1/d overflows
    add("subnormal", x)
    x = np.zeros(QK, dtype=F32)
    x[7] = np.float32(1e-45)
    add("subnormal", x)
    for big in (50.0, -80.0, 1e4):
        x = rng.standard_normal(QK) * 0.01
        x[rng.integers(QK)] = big
        add("outlier", x)
    # Q4_0 clamp: an opposite-signed value near |m| gives x * id + 8.5 >= 16
    x = rng.standard_normal(QK) * 0.1
    x[0], x[5], x[9] = -1.0, 1.0, 0.97
    add("clamp", x)
    x = rng.standard_normal(QK) * 0.1
    x[30], x[2] = 2.0, -1.999
    add("clamp", x)
    x = np.full(QK, -0.75, dtype=F32)
    x[1::2] = 0.75
    add("clamp", x)
    add("huge", rng.standard_normal(QK) * 1e7)   # d over f16's range
    add("huge", rng.standard_normal(QK) * 1e5)
    add("steps", (np.arange(QK) - 16) / 4.0)
    add("steps", (np.arange(QK) - 15) / 8.0)
    add("constant", np.full(QK, 0.3))
    add("constant", np.full(QK, -2.0))
    return np.stack(rows).astype(F32), np.array(kinds, dtype=np.uint8)


def main():
    x, kind = fixture_rows()
    s8, q8 = q8_0(x)
    s4, q4 = q4_0(x)
    _, naive = q4_0(x, naive=True)
    near = kind == KINDS.index("near_tie")
    assert (naive[near] != q4[near]).any(axis=1).all()
    assert (naive[~near] == q4[~near]).all()
    with np.errstate(invalid="ignore"):
        d8, d4 = dequant(s8, q8), dequant(s4, q4)
    np.savez(OUT, x=x, q8_0_scale=s8, q8_0_codes=q8, q8_0_dequant=d8,
             q4_0_scale=s4, q4_0_codes=q4, q4_0_dequant=d4,
             q4_0_naive=naive, kind=kind)
    print("%s: %d rows" % (OUT, len(x)))


if __name__ == "__main__":
    main()
