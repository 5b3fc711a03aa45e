#!/usr/bin/python3
"""Reference data for tests/unit/test_dtype.c, computed independently of qf.

Run with Debian's python3 (it has numpy) from the repository top:

    /usr/bin/python3 tests/unit/gen_dtype_ref.py

Writes into tests/data/dtype/ (raw little-endian arrays, no header):

  f16_f32.bin    u32[65536]  numpy's float16 -> float32 for every f16 pattern
  f32_in.bin     u32[N]      f32 test inputs (edge cases, ties, subnormals,
                             overflow, NaNs, random patterns)
  f32_f16.bin    u16[N]      numpy's float32 -> float16
  f32_bf16.bin   u16[N]      bf16 by its definition, with uint32 bit ops:
                             (bits + 0x7fff + lsb) >> 16, NaN -> quiet NaN
  f64_in.bin     u64[M]      f64 test inputs (ties +- one f64 ulp, which
                             expose double rounding through f32)
  f64_f16.bin    u16[M]      numpy's float64 -> float16 (direct rounding)
  f64_bf16.bin   u16[M]      exact rounding with Fractions (below)
  f64_f32.bin    u32[M]      numpy's float64 -> float32
  conv.txt       every (source, target) dtype pair over chosen values
                 (a conversion to the same type copies the bits):
                 "SRC DST SRC_BITS_HEX EXPECTED_BITS_HEX" or "... X" when
                 the value is not representable in the target

The exact reference rounds a Fraction to a binary format by its
definition (round half to even on the scaled significand).  NaN results
follow qf's documented rule: a quiet NaN with the input's sign and the
leading bits of its payload.
"""
import os
import random
import struct
import sys
from fractions import Fraction

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "dtype")
rng = random.Random(20240601)

# (exponent bits, fraction bits)
FMT = {"f16": (5, 10), "bf16": (8, 7), "f32": (8, 23), "f64": (11, 52)}
WIDTH = {"f16": 16, "bf16": 16, "f32": 32, "f64": 64}


def round_exact(x, fmt):
    """Nearest value (ties to even) of format fmt to the exact number x,
    as a Python float (inf on overflow).  x != 0."""
    eb, mb = FMT[fmt]
    bias = 2 ** (eb - 1) - 1
    emin = 1 - bias
    a = abs(Fraction(x))
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    q = max(e, emin) - mb
    r = round(a / Fraction(2) ** q)          # Fraction rounds half to even
    v = r * Fraction(2) ** q
    top = (2 - Fraction(1, 2 ** mb)) * Fraction(2) ** bias
    f = float("inf") if v > top else float(v)
    return -f if x < 0 else f


def float_bits(f, fmt):
    """Bit pattern of a float exactly representable in fmt."""
    if fmt == "f64":
        return struct.unpack("<Q", struct.pack("<d", f))[0]
    if fmt == "f32":
        return int(np.array([f], dtype=np.float32).view(np.uint32)[0])
    if fmt == "f16":
        return int(np.array([f], dtype=np.float16).view(np.uint16)[0])
    b = int(np.array([f], dtype=np.float32).view(np.uint32)[0])
    assert b & 0xFFFF == 0
    return b >> 16


def bits_float(b, fmt):
    if fmt == "f64":
        return struct.unpack("<d", struct.pack("<Q", b))[0]
    if fmt == "f32":
        return float(np.array([b], dtype=np.uint32).view(np.float32)[0])
    if fmt == "f16":
        return float(np.array([b], dtype=np.uint16).view(np.float16)[0])
    return float(np.array([b << 16], dtype=np.uint32).view(np.float32)[0])


def nan_info(b, fmt):
    """(sign, payload bits, payload width) of a NaN pattern."""
    eb, mb = FMT[fmt]
    return b >> (eb + mb), b & ((1 << mb) - 1), mb


def nan_to(sign, payload, pw, fmt):
    eb, mb = FMT[fmt]
    if pw >= mb:
        p = payload >> (pw - mb)
    else:
        p = payload << (mb - pw)
    return (sign << (eb + mb)) | (((1 << eb) - 1) << mb) | (1 << (mb - 1)) | p


def to_float_bits(x, fmt, neg_zero=False):
    """Exact number (or special float) x rounded into fmt, as bits."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return float_bits(x, "f64") if fmt == "f64" else float_bits(x, fmt)
    if x == 0:
        return (1 << (WIDTH[fmt] - 1)) if neg_zero else 0
    return float_bits(round_exact(x, fmt), fmt)


# ---------------------------------------------------------------- scalar files

def write(name, arr):
    arr.astype(arr.dtype.newbyteorder("<")).tofile(os.path.join(OUT, name))


def f32_inputs():
    v = set()
    nan_pats = [0x7F800001, 0x7FC00000, 0x7FFFFFFF, 0xFFC00001, 0x7F802000,
                0x7FA00000, 0x7F801FFF, 0xFF800001, 0x7FBFFFFF]
    v.update(nan_pats)
    for f in [0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"), 65504.0,
              65519.0, 65519.99609375, 65520.0, 65536.0, 1e10, 3.4028234663852886e38,
              1.1754943508222875e-38, 2.0 ** -24, 2.0 ** -25, 2.0 ** -26,
              3 * 2.0 ** -26, 2.0 ** -14, 2.0 ** -15, 0.1, 1 / 3]:
        b = int(np.array([f], dtype=np.float32).view(np.uint32)[0])
        v.update([b, b ^ 0x80000000, (b + 1) & 0xFFFFFFFF, (b - 1) & 0xFFFFFFFF])
    v.update([1, 2, 0x7FFFFF, 0x800000, 0x7F7FFFFF, 0x7F7F7FFF, 0x7F7F8000,
              0x7F7F8001, 0x807FFFFF, 0x00008000, 0x00018000, 0x00008001])
    # midpoints between neighbouring f16 values (exact in f32), every one
    h = np.arange(0, 0x7C00, dtype=np.uint16)
    lo = h.view(np.float16).astype(np.float32)
    hi = (h + 1).view(np.float16).astype(np.float32)
    hi[-1] = np.float32(65536.0)
    mid = ((lo.astype(np.float64) + hi.astype(np.float64)) / 2).astype(np.float32)
    mb = mid.view(np.uint32)
    v.update(int(x) for x in mb)
    v.update(int(x) - 1 for x in mb[::4] if x > 0)
    v.update(int(x) + 1 for x in mb[1::4])
    v.update(int(x) | 0x80000000 for x in mb[::8])
    # bf16 ties and neighbours
    for _ in range(8000):
        b = rng.randrange(0, 0x7F80) << 16 | 0x8000
        v.update([b, b - 1, b + 1, b | 0x80000000])
    # random patterns and f32 subnormals
    for _ in range(20000):
        v.add(rng.getrandbits(32))
    for _ in range(2000):
        v.add(rng.randrange(1, 0x800000) | rng.choice([0, 0x80000000]))
    return np.array(sorted(v), dtype=np.uint32)


def bf16_definition(bits):
    """bf16 from f32 bits: round to nearest even on the top 16 bits."""
    b = bits.astype(np.uint64)
    nan = ((b & 0x7F800000) == 0x7F800000) & ((b & 0x7FFFFF) != 0)
    r = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    out = np.where(nan, (b >> 16) | 0x40, r)
    return out.astype(np.uint16)


def f64_inputs():
    v = set()
    for b in [0x7FF0000000000001, 0x7FF8000000000000, 0xFFF8000000000123,
              0x7FF4000000000000, 0x7FFFFFFFFFFFFFFF, 1, 0x000FFFFFFFFFFFFF,
              0x0010000000000000, 0x7FEFFFFFFFFFFFFF]:
        v.update([b, b ^ (1 << 63)])
    for f in [0.0, 1.0, float("inf"), 1e300, 1e-300, 65504.0, 65520.0,
              3.4028234663852886e38, 3.4028235677973366e38, 3.402823669209385e38,
              2.0 ** -24, 2.0 ** -25, 2.0 ** -133, 2.0 ** -134, 2.0 ** -149,
              2.0 ** -150, 0.1, 1 / 3]:
        b = struct.unpack("<Q", struct.pack("<d", f))[0]
        v.update([b, b ^ (1 << 63), b + 1, b - 1])
    # f16 midpoints, exactly and one f64 ulp either side
    h = np.arange(0, 0x7C00, 7, dtype=np.uint16)
    lo = h.view(np.float16).astype(np.float64)
    hi = (h + 1).view(np.float16).astype(np.float64)
    for m in ((lo + hi) / 2).view(np.uint64):
        m = int(m)
        v.update([m, m + 1, m - 1])
    # bf16 midpoints (exact in f32) and one f64 ulp either side
    for _ in range(3000):
        b = (rng.randrange(1, 0x7F80) << 16 | 0x8000)
        m = struct.unpack("<Q", struct.pack("<d", bits_float(b, "f32")))[0]
        v.update([m, m + 1, m - 1, (m - 1) | (1 << 63)])
    # f32 midpoints +- one f64 ulp (f64 -> f32 must round once)
    for _ in range(1000):
        b = rng.randrange(1, 0x7F7FFFFF)
        m = (bits_float(b, "f32") + bits_float(b + 1, "f32")) / 2
        m = struct.unpack("<Q", struct.pack("<d", m))[0]
        v.update([m, m + 1, m - 1])
    # random doubles in and around the f32 exponent range
    for _ in range(6000):
        e = rng.randrange(1023 - 160, 1023 + 140)
        v.add(rng.getrandbits(1) << 63 | e << 52 | rng.getrandbits(52))
    return np.array(sorted(x & (2 ** 64 - 1) for x in v), dtype=np.uint64)


def scalar_files():
    pats = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    write("f16_f32.bin", pats.view(np.float16).astype(np.float32).view(np.uint32))

    fin = f32_inputs()
    write("f32_in.bin", fin)
    write("f32_f16.bin", fin.view(np.float32).astype(np.float16).view(np.uint16))
    bf = bf16_definition(fin)
    write("f32_bf16.bin", bf)
    # cross-check the two references against each other
    for b, r in zip(fin[::37], bf[::37]):
        f = bits_float(int(b), "f32")
        if f == f and f != 0 and abs(f) != float("inf"):
            assert to_float_bits(f, "bf16") == int(r), hex(b)

    din = f64_inputs()
    write("f64_in.bin", din)
    write("f64_f16.bin", din.view(np.float64).astype(np.float16).view(np.uint16))
    write("f64_f32.bin", din.view(np.float64).astype(np.float32).view(np.uint32))
    out = []
    for b in din:
        b = int(b)
        f = bits_float(b, "f64")
        if f != f:
            s, p, pw = nan_info(b, "f64")
            out.append(nan_to(s, p, pw, "bf16"))
        else:
            out.append(to_float_bits(f, "bf16", neg_zero=b >> 63 == 1))
    write("f64_bf16.bin", np.array(out, dtype=np.uint16))
    # numpy's direct f64 -> f16 agrees with the exact rounding
    f16 = din.view(np.float64).astype(np.float16).view(np.uint16)
    for b, r in zip(din[::11], f16[::11]):
        f = bits_float(int(b), "f64")
        if f == f and f != 0 and abs(f) != float("inf"):
            assert to_float_bits(f, "f16") == int(r), hex(b)
    return len(fin), len(din)


# ---------------------------------------------------------------- all pairs

DTYPES = ["f32", "f64", "f16", "bf16", "i8", "u8", "i16", "i32", "i64",
          "u16", "u32", "u64", "bool"]
INTS = {"i8": (8, True), "u8": (8, False), "i16": (16, True), "i32": (32, True),
        "i64": (64, True), "u16": (16, False), "u32": (32, False),
        "u64": (64, False), "bool": (8, False)}


def int_range(t):
    if t == "bool":
        return 0, 1
    bits, signed = INTS[t]
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def interesting_ints():
    v = {0, 1, -1, 2, -2, 3, 7, 100, 127, 128, -128, -129, 200, 255, 256,
         257, 258, 259, 300, 1000, 2047, 2048, 2049, 2051, 4097, 32767, 32768,
         -32768, -32769, 65504, 65505, 65519, 65520, 65535, 65536, 1 << 24,
         (1 << 24) + 1, (1 << 24) + 3, (1 << 31) - 1, 1 << 31, -(1 << 31),
         -(1 << 31) - 1, (1 << 32) - 1, 1 << 32, 1 << 53, (1 << 53) + 1,
         (1 << 60) + (1 << 52) + 1, (1 << 60) + (1 << 52), (1 << 63) - 1,
         -(1 << 63), 1 << 63, (1 << 64) - 1, (1 << 64) - 1024, (1 << 63) + 1}
    # ties and near-ties for the 8, 11 and 24 bit significands
    for p in (8, 11, 24, 53):
        for s in (1, 3, 9, 20, 40):
            if p + s < 64:
                t = ((1 << p) + 1) << s >> 1          # tie above 2^(p+s-1)
                v.update([t, t + 1, t - 1, -t, (t | (1 << s)) if s else t])
    for bits in range(1, 65):
        for _ in range(3):
            x = rng.getrandbits(bits) | (1 << (bits - 1))
            v.update([x, -x])
    return sorted(v)


def float_values():
    vals = [0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, -2.5, 3.0, 127.0, 128.0,
            -128.0, -129.0, 255.0, 256.0, 65504.0, 65520.0, 1e10, 2.0 ** 31,
            2.0 ** 32, 2.0 ** 53, 2.0 ** 63, -(2.0 ** 63), 2.0 ** 64,
            2.0 ** 63 - 1024, 2.0 ** 64 - 2048, 1e30, 3.4028234663852886e38,
            1e300, 5e-324, 1e-40, 2.0 ** -24, 2.0 ** -25, 0.1, 1 / 3,
            float("inf"), float("-inf"), 257.0, 4097.0, 16777217.0, -0.5]
    return vals


def source_values(t):
    """[(bits, exact value or special float, is_neg_zero)] for type t."""
    out = {}
    w = WIDTH.get(t, INTS.get(t, (0,))[0])
    if t in FMT:
        for f in float_values():
            if f != f or f in (float("inf"), float("-inf")):
                b = to_float_bits(f, t)
            elif f == 0:
                b = to_float_bits(f, t, neg_zero=str(f).startswith("-"))
            else:
                b = to_float_bits(f, t)
            out[b] = None
        eb, mb = FMT[t]
        inf = ((1 << eb) - 1) << mb
        for b in (inf | 1, inf | (1 << (mb - 1)), inf | (1 << (mb - 1)) | 5):
            out[b] = None
            out[b | (1 << (eb + mb))] = None
    elif t == "bool":
        out = {0: None, 1: None}
    else:
        lo, hi = int_range(t)
        for x in interesting_ints():
            if lo <= x <= hi:
                out[x % (1 << w)] = None
    return sorted(out), w


def decode(b, t):
    """(kind, value): ('nan', (sign, payload, width)), ('num', exact), with
    -0.0 as ('negzero', 0)."""
    if t in FMT:
        eb, mb = FMT[t]
        if (b >> mb) & ((1 << eb) - 1) == (1 << eb) - 1 and b & ((1 << mb) - 1):
            return "nan", nan_info(b, t)
        f = bits_float(b, t)
        if f in (float("inf"), float("-inf")):
            return "inf", f
        if f == 0 and b >> (WIDTH[t] - 1):
            return "negzero", 0
        return "num", Fraction(f)
    if t == "bool":
        return "num", b
    bits, signed = INTS[t]
    if signed and b >> (bits - 1):
        b -= 1 << bits
    return "num", b


def expected(kind, x, d):
    if d in FMT:
        if kind == "nan":
            return nan_to(*x, d)
        if kind == "inf":
            return float_bits(x, d)
        if kind == "negzero":
            return 1 << (WIDTH[d] - 1)
        return to_float_bits(x, d)
    if kind == "negzero":
        x = 0
    elif kind != "num":
        return None
    if Fraction(x).denominator != 1:
        return None
    x = int(x)
    lo, hi = int_range(d)
    if not lo <= x <= hi:
        return None
    return x % (1 << INTS[d][0])


def conv_file():
    lines = []
    for s in DTYPES:
        vals, w = source_values(s)
        for d in DTYPES:
            for b in vals:
                kind, x = decode(b, s)
                # the same type is a plain copy, NaN payloads included
                e = b if s == d else expected(kind, x, d)
                lines.append("%s %s %x %s" % (s, d, b, "X" if e is None else "%x" % e))
    with open(os.path.join(OUT, "conv.txt"), "w") as f:
        f.write("# generated by tests/unit/gen_dtype_ref.py; see there\n")
        f.write("\n".join(lines) + "\n")
    return len(lines)


def main():
    np.seterr(all="ignore")
    os.makedirs(OUT, exist_ok=True)
    n32, n64 = scalar_files()
    nc = conv_file()
    print("f32 inputs %d, f64 inputs %d, conversion cases %d" % (n32, n64, nc),
          file=sys.stderr)


if __name__ == "__main__":
    main()
