#!/usr/bin/python3
"""Write the safetensors fixtures for tests/unit/test_safetensors.c.

Debian has no python3-safetensors, so this file carries a small writer
and reader of its own, following the published specification
(huggingface/safetensors README):

    8 bytes   N, little-endian u64: the size of the header
    N bytes   JSON object, UTF-8: tensor name -> {"dtype", "shape",
              "data_offsets": [begin, end]}, plus an optional
              "__metadata__" map of strings; may be padded with spaces
    rest      the data buffer: each tensor's bytes, row-major,
              little-endian, at [begin, end) of the buffer, which the
              tensors cover exactly

write() does what the reference (Rust) implementation does: tensors in
order of decreasing dtype, then by name, in header and buffer alike;
compact JSON with "__metadata__" first; the header padded with spaces to
a multiple of 8 bytes.  The check against a real file is exact: when the
shared fixtures exist, ../shared/fixtures/gpt2-tiny/model.safetensors
(written by the safetensors library) is read back with read() and compared
with torch.load of pytorch_model.bin, and write() must reproduce it byte
for byte.

Run with Debian's python3 (numpy, torch) from anywhere:

    /usr/bin/python3 tests/data/safetensors/gen.py

Fixtures (tests/data/safetensors/), each F.safetensors with F.npz holding
the same tensors as numpy wrote them (bf16 as its raw uint16 bits):

    gpt2_f32     a tiny GPT-2 state dict (2 layers, n_embd 8), float32,
                 names as GPT2Model has them ("wte.weight", "h.0...")
    gpt2_f16     the same in float16 with the "transformer." prefix
    gpt2_bf16    the same in bfloat16, buffer in key order, no padding
    misc         every dtype, scalars, empty tensors, 8 dimensions, a
                 name with a \\u escape and one in raw UTF-8, metadata
                 with three keys, last in the header
    sharded/     the f32 state dict with the "transformer." prefix in two
                 shards + model.safetensors.index.json + config.json;
                 sharded.npz has the expected tensors

It also writes the fuzzing seeds in tests/fuzz/corpus/safetensors/ (see
tests/fuzz/fuzz_safetensors.c for the input layout).
"""
import json
import os
import struct
import sys
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
CORPUS = os.path.join(TOP, "tests", "fuzz", "corpus", "safetensors")
SHARED = os.environ.get("QF_SHARED", os.path.join(TOP, "..", "shared"))

# The reference implementation's Dtype enum, in declaration order; the
# writer sorts by it, descending.
DTYPE_ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2",
               "F8_E4M3", "F8_E8M0", "I16", "U16", "F16", "BF16", "I32",
               "U32", "F32", "C64", "F64", "I64", "U64"]

NP_DTYPE = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8",
    "I32": "<i4", "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4",
    "U16": "<u2", "U8": "u1", "BOOL": "?",
}


class T:
    """A tensor to write: its safetensors dtype, shape and raw bytes."""

    def __init__(self, dtype, shape, data):
        self.dtype, self.shape, self.data = dtype, list(shape), bytes(data)


def from_numpy(a):
    a = np.asarray(a, order="C")  # not ascontiguousarray: it makes 0-d 1-d
    code = {np.dtype(v).str: k for k, v in NP_DTYPE.items() if k != "BF16"}
    if a.dtype == np.bool_:
        return T("BOOL", a.shape, a.tobytes())
    return T(code[a.dtype.str], a.shape, a.tobytes())


def from_torch(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return T("BF16", t.shape, t.view(torch.int16).numpy().tobytes())
    return from_numpy(t.numpy())


def write(path, tensors, metadata=None, order="reference", pad=True,
          meta_last=False, ascii_names=False):
    """Write a safetensors file; returns its bytes.

    order "reference": by dtype (descending), then name, as the Rust
    library does; "given": the dict's order, header and buffer alike.
    """
    names = list(tensors)
    if order == "reference":
        names.sort(key=lambda n: (-DTYPE_ORDER.index(tensors[n].dtype), n))
    header, off = {}, 0
    if metadata is not None and not meta_last:
        header["__metadata__"] = metadata
    for n in names:
        t = tensors[n]
        header[n] = {"dtype": t.dtype, "shape": t.shape,
                     "data_offsets": [off, off + len(t.data)]}
        off += len(t.data)
    if metadata is not None and meta_last:
        header["__metadata__"] = metadata
    hb = json.dumps(header, separators=(",", ":"),
                    ensure_ascii=ascii_names).encode("utf-8")
    if pad:
        hb += b" " * ((8 - len(hb) % 8) % 8)
    out = struct.pack("<Q", len(hb)) + hb + b"".join(tensors[n].data for n in names)
    if path:
        with open(path, "wb") as f:
            f.write(out)
    return out


def read(path):
    """(tensors as numpy arrays, metadata); bf16 as uint16 bits."""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n].decode("utf-8"))
    data = b[8 + n:]
    meta = header.pop("__metadata__", None)
    out, ranges = {}, []
    for name, e in header.items():
        assert set(e) == {"dtype", "shape", "data_offsets"}, name
        s, t = e["data_offsets"]
        dt = np.dtype(NP_DTYPE[e["dtype"]])
        count = int(np.prod(e["shape"], dtype=np.int64))
        assert t - s == count * dt.itemsize, name
        out[name] = np.frombuffer(data[s:t], dtype=dt).reshape(e["shape"])
        ranges.append((s, t))
    ranges.sort()
    pos = 0
    for s, t in ranges:
        assert s == pos, "hole or overlap at %d" % s
        pos = t
    assert pos == len(data), "trailing bytes"
    return out, meta


def save_npz(path, tensors):
    """The expected arrays, as numpy.savez stores them (but with a fixed
    timestamp, so that running this again changes nothing); bf16 as
    uint16."""
    with zipfile.ZipFile(path, "w") as z:
        for n, t in tensors.items():
            dt = np.dtype(NP_DTYPE[t.dtype])
            a = np.frombuffer(t.data, dtype=dt).reshape(t.shape)
            with z.open(zipfile.ZipInfo(n + ".npy", (1980, 1, 1, 0, 0, 0)), "w") as f:
                np.lib.format.write_array(f, a, allow_pickle=False)
    with np.load(path) as z:
        assert sorted(z.files) == sorted(tensors)


def gpt2_state(n_layer=2, n_embd=8, vocab=12, n_pos=6):
    """A tiny GPT2Model state dict (Conv1D weights stored [in, out])."""
    g = torch.Generator().manual_seed(1234)
    sd = {}

    def r(*shape):
        return (torch.randn(*shape, generator=g) * 0.5).to(torch.float32)

    sd["wte.weight"] = r(vocab, n_embd)
    sd["wpe.weight"] = r(n_pos, n_embd)
    for i in range(n_layer):
        p = "h.%d." % i
        sd[p + "ln_1.weight"] = 1 + r(n_embd) / 10
        sd[p + "ln_1.bias"] = r(n_embd) / 10
        sd[p + "attn.c_attn.weight"] = r(n_embd, 3 * n_embd)
        sd[p + "attn.c_attn.bias"] = r(3 * n_embd)
        sd[p + "attn.c_proj.weight"] = r(n_embd, n_embd)
        sd[p + "attn.c_proj.bias"] = r(n_embd)
        sd[p + "ln_2.weight"] = 1 + r(n_embd) / 10
        sd[p + "ln_2.bias"] = r(n_embd) / 10
        sd[p + "mlp.c_fc.weight"] = r(n_embd, 4 * n_embd)
        sd[p + "mlp.c_fc.bias"] = r(4 * n_embd)
        sd[p + "mlp.c_proj.weight"] = r(4 * n_embd, n_embd)
        sd[p + "mlp.c_proj.bias"] = r(n_embd)
    sd["ln_f.weight"] = 1 + r(n_embd) / 10
    sd["ln_f.bias"] = r(n_embd) / 10
    return sd


def misc_tensors():
    def a(dt, shape, f):
        n = int(np.prod(shape, dtype=np.int64))
        return from_numpy(np.array([f(i) for i in range(n)], dtype=dt).reshape(shape))

    t = {}
    t["scalar.f64"] = a("<f8", (), lambda i: 3.25)
    t["empty.f32"] = a("<f4", (0,), None)
    t["i8"] = a("i1", (2, 3), lambda i: [-128, -1, 0, 1, 42, 127][i])
    t["u8"] = a("u1", (2, 3), lambda i: [0, 1, 2, 128, 200, 255][i])
    t["i16"] = a("<i2", (2, 3), lambda i: [-32768, -2, 0, 3, 1000, 32767][i])
    t["u16"] = a("<u2", (3,), lambda i: [0, 12345, 65535][i])
    t["scalar.i32"] = a("<i4", (), lambda i: -7)
    t["i32"] = a("<i4", (4,), lambda i: [-2 ** 31, -1, 7, 2 ** 31 - 1][i])
    t["u32"] = a("<u4", (2,), lambda i: [3, 2 ** 32 - 1][i])
    t["i64"] = a("<i8", (3,), lambda i: [-2 ** 63, 5, 2 ** 63 - 1][i])
    t["u64"] = a("<u8", (2,), lambda i: [2 ** 64 - 1, 9][i])
    t["empty.i16"] = a("<i2", (3, 0, 2), None)
    t["bool"] = a("?", (5,), lambda i: i % 2 == 0)
    t["f64"] = a("<f8", (2, 2), lambda i: [1e300, -0.5, float("inf"), 2 ** -1074][i])
    t["f16"] = a("<f2", (2, 2), lambda i: [65504, -2 ** -24, float("-inf"), 0.333][i])
    t["bf16"] = from_torch(torch.tensor([[1.5, -3e38], [1e-38, 7.0]],
                                        dtype=torch.bfloat16))
    t["nd8"] = a("<f4", (2, 1, 2, 1, 1, 1, 1, 2), lambda i: i / 4)
    t["empty.bool"] = a("?", (0,), None)
    t["caf\u00e9"] = a("<f4", (1,), lambda i: 1.0)
    t["\u00e4rger.\u03bb"] = a("<i2", (2,), lambda i: [1, -1][i])
    return t


def check_shared():
    """Our reader and writer against a file the safetensors library wrote."""
    d = os.path.join(SHARED, "fixtures", "gpt2-tiny")
    st = os.path.join(d, "model.safetensors")
    if not os.path.exists(st):
        print("gen.py: no shared fixtures; skipping the check against them")
        return
    got, meta = read(st)
    ref = torch.load(os.path.join(d, "pytorch_model.bin"), weights_only=True)
    for n, a in got.items():
        r = ref[n].numpy()
        assert r.dtype == a.dtype and r.shape == a.shape, n
        assert r.tobytes() == a.tobytes(), n
    again = write(None, {n: from_torch(ref[n]) for n in got}, metadata=meta)
    with open(st, "rb") as f:
        assert f.read() == again, "writer differs from the safetensors library"
    print("gen.py: %s: %d tensors equal to pytorch_model.bin; written again "
          "byte for byte" % (st, len(got)))


def roundtrip(path, tensors):
    got, _ = read(path)
    assert set(got) == set(tensors)
    for n, t in tensors.items():
        assert got[n].tobytes() == t.data and list(got[n].shape) == t.shape, n


def main():
    check_shared()
    sd = gpt2_state()
    out = lambda name: os.path.join(HERE, name)

    f32 = {n: from_torch(v) for n, v in sd.items()}
    write(out("gpt2_f32.safetensors"), f32, metadata={"format": "pt"})
    save_npz(out("gpt2_f32.npz"), f32)

    f16 = {"transformer." + n: from_torch(v.half()) for n, v in sd.items()}
    write(out("gpt2_f16.safetensors"), f16, metadata={"format": "pt"})
    save_npz(out("gpt2_f16.npz"), f16)

    bf16 = {n: from_torch(v.bfloat16()) for n, v in sd.items()}
    write(out("gpt2_bf16.safetensors"), bf16, order="given", pad=False)
    save_npz(out("gpt2_bf16.npz"), bf16)

    misc = misc_tensors()
    b = write(out("misc.safetensors"), misc, order="given", pad=False,
              metadata={"format": "pt", "note": "misc fixture", "\u00fc": "\u00df"},
              meta_last=True)
    # one name with a JSON escape: re-encode "café" as "caf\u00e9"
    n = struct.unpack("<Q", b[:8])[0]
    h = b[8:8 + n].replace("caf\u00e9".encode(), b"caf\\u00e9")
    with open(out("misc.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b[8 + n:])
    save_npz(out("misc.npz"), misc)

    # sharded: the f32 dict with the prefix, split after layer 0
    d = out("sharded")
    os.makedirs(d, exist_ok=True)
    full = {"transformer." + n: t for n, t in f32.items()}
    names = list(full)
    cut = names.index("transformer.h.1.ln_1.weight")
    parts = [names[:cut], names[cut:]]
    wmap = {}
    for k, part in enumerate(parts):
        fn = "model-%05d-of-%05d.safetensors" % (k + 1, len(parts))
        write(os.path.join(d, fn), {n: full[n] for n in part}, metadata={"format": "pt"})
        roundtrip(os.path.join(d, fn), {n: full[n] for n in part})
        wmap.update({n: fn for n in part})
    index = {"metadata": {"total_size": sum(len(t.data) for t in full.values())},
             "weight_map": dict(sorted(wmap.items()))}
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
              "n_embd": 8, "n_head": 2, "n_layer": 2, "n_positions": 6,
              "vocab_size": 12, "layer_norm_epsilon": 1e-05,
              "tie_word_embeddings": True}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    save_npz(out("sharded.npz"), full)

    for name, t in (("gpt2_f32", f32), ("gpt2_f16", f16), ("gpt2_bf16", bf16),
                    ("misc", misc)):
        roundtrip(out(name + ".safetensors"), t)

    seeds()
    print("gen.py: fixtures written to %s" % HERE)


def seeds():
    """Fuzzing seeds: valid files, a few broken ones, index inputs."""
    os.makedirs(CORPUS, exist_ok=True)
    small = {"a": from_numpy(np.arange(3, dtype="<f4")),
             "b": from_numpy(np.array([[1, 0]], dtype="?")),
             "c": from_numpy(np.zeros((0, 2), dtype="<i2")),
             "s": from_numpy(np.array(5, dtype="<u8"))}
    ok = write(None, small, metadata={"format": "pt"})
    with open(out_c("valid-small"), "wb") as f:
        f.write(ok)
    with open(os.path.join(HERE, "misc.safetensors"), "rb") as f:
        m = f.read()
    with open(out_c("valid-misc"), "wb") as f:
        f.write(m)
    with open(out_c("valid-empty"), "wb") as f:
        f.write(struct.pack("<Q", 2) + b"{}")
    n = struct.unpack("<Q", ok[:8])[0]
    broken = {
        "bad-truncated": ok[:-3],
        "bad-hole": ok + b"\0\0\0\0",
        "bad-dtype": ok.replace(b'"U64"', b'"X64"'),
        "bad-offsets": ok.replace(b'"data_offsets":[0,', b'"data_offsets":[9,', 1),
        "bad-bool": ok[:8 + n] + ok[8 + n:].replace(b"\x01\x00", b"\x02\x00", 1),
    }
    for k, v in broken.items():
        with open(out_c(k), "wb") as f:
            f.write(v)
    # index mode: "I", the index JSON, optionally NUL and shard a's bytes
    idx = {"metadata": {"total_size": 15},
           "weight_map": {"x": "a.safetensors", "y": "a.safetensors",
                          "z": "b.safetensors"}}
    with open(out_c("index-valid"), "wb") as f:
        f.write(b"I" + json.dumps(idx).encode())
    idx2 = dict(idx, weight_map={"x": "a.safetensors", "z": "../b.safetensors"})
    with open(out_c("index-traversal"), "wb") as f:
        f.write(b"I" + json.dumps(idx2).encode())
    shard_a = write(None, {"x": from_numpy(np.array([1.5, -2], dtype="<f4")),
                           "y": from_numpy(np.array([1, 2, 3], dtype="i1"))})
    with open(out_c("index-shard"), "wb") as f:
        f.write(b"I" + json.dumps(idx).encode() + b"\0" + shard_a)


def out_c(name):
    return os.path.join(CORPUS, name)


if __name__ == "__main__":
    sys.exit(main())
