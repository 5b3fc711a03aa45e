#!/usr/bin/python3
"""Check with numpy the .npy/.npz files that test_npy.c wrote.

    /usr/bin/python3 unit/npy_check.py DIR      (cwd = tests/)

Values follow the formula of tests/data/gen_npy.py.  Each .npy must load
to the expected dtype, shape and values and be byte-identical to what
numpy writes for that array; rt.npz must pass zipfile's CRC test and load
with np.load.  Prints one line per problem; exit status 1 if any.
"""
import io
import os
import sys
import zipfile

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
from gen_npy import CODES, array  # noqa: E402

NPY = [("rt_%s.npy" % c, c, (3, 4)) for c in CODES] + [
    ("rt_scalar_f8.npy", "f8", ()),
    ("rt_empty_i2.npy", "i2", (3, 0, 2)),
    ("rt_nd8_u2.npy", "u2", (2, 1, 2, 1, 2, 1, 2, 3)),
]
NPZ = {
    "a": ("f4", (3, 4)),
    "dir/x": ("u1", (5,)),
    "\u00e4rger_\u03bb": ("f8", (2, 2)),
    "s": ("i8", ()),
    "empty": ("b1", (0, 3)),
}

problems = []


def same(name, got, want):
    if got.dtype != want.dtype or got.shape != want.shape or not np.array_equal(got, want):
        problems.append("%s: got %s %s, want %s %s" % (name, got.dtype, got.shape,
                                                        want.dtype, want.shape))


def main():
    d = sys.argv[1]
    for fname, code, shape in NPY:
        path = os.path.join(d, fname)
        want = array(code, shape)
        same(fname, np.load(path), want)
        ref = io.BytesIO()
        np.lib.format.write_array(ref, want)
        with open(path, "rb") as f:
            if f.read() != ref.getvalue():
                problems.append("%s: bytes differ from numpy's own .npy" % fname)
    path = os.path.join(d, "rt.npz")
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
        if bad is not None:
            problems.append("rt.npz: bad CRC in %s" % bad)
        names = [i.filename for i in z.infolist()]
        if names != [k + ".npy" for k in NPZ]:
            problems.append("rt.npz: members %r" % names)
    with np.load(path) as z:
        if sorted(z.files) != sorted(NPZ):
            problems.append("rt.npz: keys %r" % z.files)
        for k, (code, shape) in NPZ.items():
            if k in z.files:
                same("rt.npz:" + k, z[k], array(code, shape))
    for p in problems:
        print("# " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
