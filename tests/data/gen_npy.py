#!/usr/bin/python3
"""Write the .npy/.npz fixtures for tests/unit/test_npy.c with numpy.

Run with Debian's python3 (it has numpy) from the repository top:

    /usr/bin/python3 tests/data/gen_npy.py

Every array holds values given by a formula of its C-order flat index i,
which test_npy.c recomputes on its own (see value() below):

    h(i)  = (i * 0x9E3779B97F4A7C15 + 0x0123456789ABCDEF) mod 2^64
    intN  = the top N bits of h(i), as signed or unsigned N-bit integer
    bool  = top bit of h(i)
    f16   = ((h >> 53) - 1024) / 16         exact in float16
    f32   = ((h >> 40) - 2^23) / 1024       exact in float32
    f64   = ((h >> 11) - 2^52) / 2^20       exact in float64

The fixtures (in tests/data/npy/):

    le_<t>.npy        shape (3, 4), each dtype t, as numpy writes it
    be_<t>.npy        shape (2, 5), big-endian ('>') multi-byte dtypes
    scalar_f8.npy, scalar_i4.npy          0-d arrays
    empty_f4.npy (0,), empty_i2.npy (3, 0, 2)
    nd8_f4.npy        shape (2, 1, 2, 1, 2, 1, 2, 3)
    fortran_i4.npy    shape (3, 4, 5), fortran_order True
    fortran_be_f8.npy shape (2, 3), fortran_order True, big-endian
    v2_f4.npy, v3_u1.npy                   format versions 2.0 and 3.0
    hand_*.npy        hand-written headers: key order, spacing, quotes,
                      trailing commas, Python 2 "3L" integers
    savez.npz, savez_compressed.npz        members a, b, dir/x, ärger_λ, empty
    bad_*.npy         dtypes and shapes qf refuses
    bad_member.npz    a.npy then notes.txt, which is no .npy
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "npy")
M64 = (1 << 64) - 1

CODES = ["f2", "f4", "f8", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "b1"]


def h(i):
    return (i * 0x9E3779B97F4A7C15 + 0x0123456789ABCDEF) & M64


def value(code, i):
    x = h(i)
    kind, size = code[0], int(code[1])
    if kind == "b":
        return bool(x >> 63)
    if kind in "iu":
        n = 8 * size
        v = x >> (64 - n)
        if kind == "i" and v >> (n - 1):
            v -= 1 << n
        return v
    if size == 2:
        return ((x >> 53) - 1024) / 16
    if size == 4:
        return ((x >> 40) - (1 << 23)) / 1024
    return ((x >> 11) - (1 << 52)) / (1 << 20)


def array(code, shape, order="<"):
    n = int(np.prod(shape, dtype=np.int64))
    dt = np.dtype(("|" if code[1] == "1" else order) + code)
    a = np.array([value(code, i) for i in range(n)], dtype=dt).reshape(shape)
    return a


def save(name, a, **kw):
    with open(os.path.join(OUT, name), "wb") as f:
        np.lib.format.write_array(f, a, allow_pickle=kw.pop("allow_pickle", False), **kw)


def raw(name, header, payload):
    """A .npy v1.0 with a header written by hand (padded like numpy)."""
    hb = header.encode("latin1")
    pad = 64 - (10 + len(hb) + 1) % 64
    hb += b" " * pad + b"\n"
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(hb).to_bytes(2, "little") + hb + payload)


def main():
    os.makedirs(OUT, exist_ok=True)
    for c in CODES:
        save("le_%s.npy" % c, array(c, (3, 4)))
        if c[1] != "1":
            save("be_%s.npy" % c, array(c, (2, 5), ">"))
    save("scalar_f8.npy", array("f8", ()))
    save("scalar_i4.npy", array("i4", ()))
    save("empty_f4.npy", array("f4", (0,)))
    save("empty_i2.npy", array("i2", (3, 0, 2)))
    save("nd8_f4.npy", array("f4", (2, 1, 2, 1, 2, 1, 2, 3)))
    fo = np.asfortranarray(array("i4", (3, 4, 5)))
    assert fo.flags.f_contiguous and not fo.flags.c_contiguous
    save("fortran_i4.npy", fo)
    save("fortran_be_f8.npy", np.asfortranarray(array("f8", (2, 3), ">")))
    save("v2_f4.npy", array("f4", (3, 4)), version=(2, 0))
    save("v3_u1.npy", array("u1", (3, 4)), version=(3, 0))

    # headers numpy itself would read, written differently
    p = array("i2", (3, 4)).tobytes()
    raw("hand_order.npy", "{'shape': (3, 4), 'fortran_order': False, 'descr': '<i2'}", p)
    raw("hand_space.npy", "{ 'descr' :'<i2' ,'fortran_order':False,\t'shape':( 3 ,4 , ) , }", p)
    raw("hand_quotes.npy", '{"descr": "<i2", "fortran_order": False, "shape": (3L, 4L)}', p)

    arrays = {
        "a": array("f4", (3, 4)),
        "b": array("i8", ()),
        "dir/x": array("u1", (5,)),
        "\u00e4rger_\u03bb": array("f8", (2, 2)),
        "empty": array("b1", (0, 3)),
    }
    np.savez(os.path.join(OUT, "savez.npz"), **arrays)
    np.savez_compressed(os.path.join(OUT, "savez_compressed.npz"), **arrays)

    # an archive with a member that is not a .npy file
    import zipfile
    with zipfile.ZipFile(os.path.join(OUT, "bad_member.npz"), "w") as z:
        with z.open("a.npy", "w") as f:
            np.lib.format.write_array(f, array("u1", (2,)))
        z.writestr("notes.txt", "not an array\n")

    # refused
    save("bad_c8.npy", np.zeros(3, dtype="<c8"))
    save("bad_struct.npy", np.zeros(3, dtype=[("x", "<f4"), ("y", "<i4")]))
    save("bad_obj.npy", np.array([1, "a", None], dtype=object), allow_pickle=True)
    save("bad_str.npy", np.array(["ab", "c"]))
    save("bad_datetime.npy", np.zeros(2, dtype="<M8[s]"))
    save("bad_9d.npy", np.zeros((1,) * 9, dtype="<f4"))
    raw("bad_shape_overflow.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", b"")
    raw("bad_shape_huge.npy",
        "{'descr': '<u1', 'fortran_order': False, 'shape': (99999999999999999999999,), }", b"")
    raw("bad_shape_big.npy",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1024), }", b"")
    raw("bad_shape_int.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': 3, }", b"")
    raw("bad_shape_paren.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }",
        b"\0" * 12)
    raw("bad_shape_neg.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", b"")
    raw("bad_missing.npy", "{'descr': '<f4', 'shape': (3,), }", b"\0" * 12)
    raw("bad_extra.npy",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", b"\0" * 12)
    raw("bad_fortran.npy", "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }", b"\0" * 12)
    raw("bad_unclosed.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), ", b"\0" * 12)
    raw("bad_junk.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } x", b"\0" * 12)
    raw("bad_trunc.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", b"\0" * 11)


if __name__ == "__main__":
    main()
