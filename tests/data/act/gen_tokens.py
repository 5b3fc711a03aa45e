#!/usr/bin/python3
"""Token streams for tests/qf-act.bats, written at test time from the
model fixture's own tokens (tests/data/model/a.npz: "tokens" [32], the
input of its torch reference, and "doc" [150], the input of its windowed
NLL) with tests/ref/qftref.py's independent writer.

usage: gen_tokens.py A.NPZ OUT.qft [bad]
  bad: a third document with an id out of range at position 5
"""
import sys

import numpy as np

sys.path.insert(0, __import__("os").path.join(
    __import__("os").path.dirname(__import__("os").path.abspath(__file__)),
    "..", "..", "ref"))
import qftref  # noqa: E402


def rec(name, ids, attrs):
    ids = np.asarray(ids, dtype="<i4")
    return (name, 8, [len(ids)], [("kind", "tokens")] + attrs, ids.tobytes())


def main(argv):
    z = np.load(argv[1])
    recs = [rec("doc.0", z["tokens"], [("lang", "eng"), ("doc", "0"),
                                        ("source", "a.txt")]),
            rec("doc.1", z["doc"], [("lang", "fin"), ("doc", "1")])]
    if len(argv) > 3 and argv[3] == "bad":
        ids = np.arange(10) % 50
        ids[5] = 97
        recs.append(rec("doc.2", ids, [("lang", "eng"), ("doc", "7")]))
    if len(argv) > 3 and argv[3] == "empty":
        recs.append(rec("doc.2", [], [("lang", "eng"), ("doc", "8")]))
    with open(argv[2], "wb") as f:
        qftref.write_stream(f, recs)


if __name__ == "__main__":
    main(sys.argv)
