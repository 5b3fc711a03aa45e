#!/usr/bin/python3
"""gen.py - fixtures for tests/unit/test_torch.c (run with Debian's
/usr/bin/python3, which has torch 1.13 and numpy):

    /usr/bin/python3 tests/data/torch/gen.py

Writes, into the directory of this script:

  *.pt        torch.save zip checkpoints (real ones, written by torch.save,
              and crafted ones, written by craft() below with zipfile)
  *.npz       the expected tensors of the good ones (bf16 as uint16 bits)
  evil_*.pt   zips whose data.pkl would run a command if unpickled by
              pickle.load: each would `touch /tmp/qf-torch-pwned`
  bad_*.pt    broken checkpoints that must be refused
  legacy.pt   the pre-1.6 (non-zip) torch.save format
  gpt2.pkl    the data.pkl of gpt2.pt alone (truncation test)

and seeds for the fuzz harnesses into tests/fuzz/corpus/{pickle,torch}/.
Nothing here ever unpickles the evil files.
"""
import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ = os.path.join(HERE, "..", "..", "fuzz", "corpus")
CANARY = "/tmp/qf-torch-pwned"


def out(name):
    return os.path.join(HERE, name)


def expect(name, sd):
    """The expected values of a state dict, as an .npz numpy can write."""
    arrs = {}
    for k, v in sd.items():
        v = v.detach().contiguous()
        if v.dtype == torch.bfloat16:
            arrs[k] = v.view(torch.int16).numpy().view(np.uint16)
        else:
            arrs[k] = v.numpy()
    np.savez(out(name), **arrs)


def save(name, obj, sd=None, **kw):
    torch.save(obj, out(name + ".pt"), **kw)
    if sd is not None:
        expect(name + ".npz", sd)


# ------------------------------------------------------------ real checkpoints

def gpt2(prefix, lm_head, dtype=torch.float32):
    """A tiny GPT-2 state dict as old Hugging Face checkpoints have it:
    Conv1D weights [in, out], attn.bias causal mask and attn.masked_bias
    buffers, lm_head.weight tied to (sharing the storage of) wte.weight."""
    g = torch.Generator().manual_seed(1)
    V, C, T, L = 16, 4, 4, 2
    sd = collections.OrderedDict()

    def p(*shape):
        return (torch.randn(*shape, generator=g) * 0.1).to(dtype)

    sd[prefix + "wte.weight"] = p(V, C)
    sd[prefix + "wpe.weight"] = p(T, C)
    for i in range(L):
        h = "%sh.%d." % (prefix, i)
        sd[h + "ln_1.weight"] = p(C) + 1
        sd[h + "ln_1.bias"] = p(C)
        sd[h + "attn.bias"] = torch.tril(torch.ones(T, T)).view(1, 1, T, T).to(dtype)
        sd[h + "attn.masked_bias"] = torch.tensor(-1e4).to(dtype)
        sd[h + "attn.c_attn.weight"] = p(C, 3 * C)
        sd[h + "attn.c_attn.bias"] = p(3 * C)
        sd[h + "attn.c_proj.weight"] = p(C, C)
        sd[h + "attn.c_proj.bias"] = p(C)
        sd[h + "ln_2.weight"] = p(C) + 1
        sd[h + "ln_2.bias"] = p(C)
        sd[h + "mlp.c_fc.weight"] = p(C, 4 * C)
        sd[h + "mlp.c_fc.bias"] = p(4 * C)
        sd[h + "mlp.c_proj.weight"] = p(4 * C, C)
        sd[h + "mlp.c_proj.bias"] = p(C)
    sd[prefix + "ln_f.weight"] = p(C) + 1
    sd[prefix + "ln_f.bias"] = p(C)
    if lm_head == "same":  # the same tensor object: pickled once, memoized
        sd["lm_head.weight"] = sd[prefix + "wte.weight"]
    elif lm_head:  # another tensor on the same storage, as HF has it
        sd["lm_head.weight"] = sd[prefix + "wte.weight"].detach()
    return sd


def real():
    sd = gpt2("transformer.", True)
    assert sd["lm_head.weight"].data_ptr() == sd["transformer.wte.weight"].data_ptr()
    save("gpt2", sd, sd)
    sd = gpt2("", False, torch.float16)
    save("gpt2_f16", sd, sd)
    sd = gpt2("transformer.", "same", torch.bfloat16)
    save("gpt2_bf16", sd, sd)
    sd = gpt2("", False)
    save("gpt2_p4", sd, sd, pickle_protocol=4)

    # strided views saved as they are
    a = torch.arange(12, dtype=torch.float32).view(3, 4)
    b = torch.arange(20, dtype=torch.int32).view(4, 5)
    c = torch.tensor([1.5, -2.5, 3.25], dtype=torch.float64)
    d = torch.arange(10, dtype=torch.int16)
    e = torch.arange(24, dtype=torch.float16).view(2, 3, 4)
    sd = collections.OrderedDict()
    sd["transposed"] = a.t()
    sd["step"] = b[:, 1::2]
    sd["expanded"] = c.view(3, 1).expand(3, 4)
    sd["narrow"] = d[2:7]
    sd["permuted"] = e.permute(2, 0, 1)
    sd["row"] = a[1]
    sd["column"] = a[:, 2]
    for k, v in sd.items():
        if k not in ("narrow", "row"):
            assert not v.is_contiguous(), k
    save("strided", sd, sd)

    sd = collections.OrderedDict()
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 4)
    sd["empty_i64"] = torch.zeros(2, 0, dtype=torch.int64)
    sd["i64"] = torch.tensor([0, -1, 2**40, -(2**62), 2**63 - 1], dtype=torch.int64)
    sd["i32"] = torch.tensor([-(2**31), 7, 2**31 - 1], dtype=torch.int32)
    sd["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["f64"] = torch.tensor([[1e300, -0.0]], dtype=torch.float64)
    sd["one"] = torch.tensor([7.0])
    sd["num_batches_tracked"] = torch.tensor(5)
    save("scalars", sd, sd)

    # parameters (torch._utils._rebuild_parameter)
    sd = collections.OrderedDict()
    sd["w"] = torch.nn.Parameter(torch.arange(6, dtype=torch.float32).view(2, 3))
    sd["b"] = torch.nn.Parameter(torch.ones(2), requires_grad=False)
    save("param", sd, sd)

    # one level of nesting, as training scripts save
    sd = gpt2("", False)
    save("nested_sd", {"epoch": 3, "state_dict": sd, "opt": "adam"})
    save("nested_model", {"model": sd})	# both expect gpt2_p4.npz

    # the pre-1.6 format
    torch.save(collections.OrderedDict(x=torch.ones(2)), out("legacy.pt"),
               _use_new_zipfile_serialization=False)

    # the same checkpoint with every member deflated, and as zip64
    rezip("gpt2.pt", out("deflated.pt"), deflate=True)
    rezip("gpt2.pt", out("zip64.pt"), zip64=True)
    rezip("strided.pt", out("strided_deflated.pt"), deflate=True)
    with zipfile.ZipFile(out("gpt2.pt")) as z:
        pkl = [z.read(n) for n in z.namelist() if n.endswith("/data.pkl")][0]
    with open(out("gpt2.pkl"), "wb") as f:
        f.write(pkl)


def rezip(src, dst, deflate=False, zip64=False):
    """Copy a zip with every member deflated, or with zip64 records: the
    central directory's zip64 fields and the end record's deferring to
    the zip64 one (zipfile writes those past its limits, lowered here)."""
    with zipfile.ZipFile(out(src)) as z:
        members = [(i.filename, z.read(i)) for i in z.infolist()]
    limits = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    if zip64:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 8, 1
    try:
        with zipfile.ZipFile(dst, "w") as z:
            for name, data in members:
                zi = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
                if deflate:
                    zi.compress_type = zipfile.ZIP_DEFLATED
                with z.open(zi, "w", force_zip64=zip64) as f:
                    f.write(data)
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = limits
    if zip64:
        with open(dst, "r+b") as f:
            f.seek(-22 + 8, 2)
            f.write(b"\xff" * 12)


# ------------------------------------------------------------ crafted zips

def craft(name, pkl, storages=(), archive="archive", byteorder=None,
          extra=(), seed=None):
    """A torch.save-like zip written by zipfile: data.pkl, data/KEY."""
    path = out(name + ".pt")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        def put(n, data):
            z.writestr(zipfile.ZipInfo(n, (1980, 1, 1, 0, 0, 0)), data)
        put(archive + "/data.pkl", pkl)
        if byteorder is not None:
            put(archive + "/byteorder", byteorder)
        for key, data in storages:
            put(archive + "/data/" + key, data)
        for n, data in extra:
            put(n, data)
        put(archive + "/version", b"3\n")
    if seed:
        with open(os.path.join(FUZZ, "torch", name), "wb") as f:
            f.write(open(path, "rb").read())
        with open(os.path.join(FUZZ, "pickle", name), "wb") as f:
            f.write(pkl)


class Storage:
    """A persistent id: ('storage', torch.XStorage, key, 'cpu', numel)."""
    def __init__(self, stype, key, numel):
        self.pid = ("storage", stype, key, "cpu", numel)


class Tensor:
    def __init__(self, storage, offset, size, stride, meta=None, fn=None):
        self.args = (storage, offset, tuple(size), tuple(stride), False,
                     collections.OrderedDict())
        if meta is not None:
            self.args += (meta,)
        self.fn = fn or torch._utils._rebuild_tensor_v2

    def __reduce__(self):
        return (self.fn, self.args)


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, Storage) else None


def dumps(obj, protocol=2, fast=False):
    b = io.BytesIO()
    p = Pickler(b, protocol=protocol)
    p.fast = fast   # no memo: the pickle of obj can be spliced
    p.dump(obj)
    return b.getvalue()


class Evil:
    """What a malicious checkpoint pickles: os.system on unpickling."""
    def __reduce__(self):
        return (os.system, ("touch " + CANARY,))


def f32(*v):
    return np.array(v, dtype="<f4").tobytes()


def crafted():
    os.makedirs(os.path.join(FUZZ, "pickle"), exist_ok=True)
    os.makedirs(os.path.join(FUZZ, "torch"), exist_ok=True)
    fs = torch.FloatStorage

    # torch 2.x style: 7-argument _rebuild_tensor_v2 (metadata), the
    # extra members newer versions write, byteorder "little"
    s0 = Storage(fs, "0", 6)
    s1 = Storage(torch.BFloat16Storage, "1", 2)
    sd = collections.OrderedDict()
    sd["a"] = Tensor(s0, 0, (2, 3), (3, 1), {})
    sd["b"] = Tensor(s1, 0, (2,), (1,), {})
    sd["c"] = Tensor(s0, 2, (2,), (3,), None)
    craft("torch2", dumps(sd), [("0", f32(1, 2, 3, 4, 5, 6)),
                                ("1", struct.pack("<2H", 0x3f80, 0xc000))],
          archive="model", byteorder=b"little",
          extra=[("model/.format_version", b"1"),
                 ("model/.storage_alignment", b"64"),
                 ("model/.data/serialization_id", b"1234567890")], seed=True)
    np.savez(out("torch2.npz"), a=np.arange(1, 7, dtype="<f4").reshape(2, 3),
             b=np.array([0x3f80, 0xc000], dtype=np.uint16),
             c=np.array([3, 6], dtype="<f4"))

    # the malicious: each would touch CANARY if pickle.load ran it
    cmd = ("touch " + CANARY).encode()
    def binunicode(b):
        return b"X" + struct.pack("<I", len(b)) + b
    craft("evil_os_system", b"\x80\x02cos\nsystem\n" + binunicode(cmd) +
          b"\x85R.", seed=True)
    craft("evil_eval", b"\x80\x02cbuiltins\neval\n" +
          binunicode(b"__import__('os').system('" + cmd + b"')") + b"\x85R.")
    craft("evil_subprocess", b"\x80\x02csubprocess\ncall\n(]" +
          binunicode(b"touch") + b"a" + binunicode(CANARY.encode()) +
          b"atR.")
    craft("evil_reduce", pickle.dumps(Evil(), protocol=2))
    assert b"posix\nsystem" in pickle.dumps(Evil(), protocol=2)
    craft("evil_stack_global", b"\x80\x04\x8c\x08builtins\x94\x8c\x04exec"
          b"\x94\x93" + binunicode(b"import os; os.system('" + cmd + b"')") +
          b"\x85R.", seed=True)
    craft("evil_getattr", b"\x80\x02cbuiltins\ngetattr\n"
          b"cos\nsystem\n" + binunicode(b"x") + b"\x86R.")
    craft("evil_numpy", pickle.dumps(np.zeros(2), protocol=2))
    assert b"numpy.core.multiarray\n_reconstruct" in pickle.dumps(np.zeros(2), protocol=2)
    craft("evil_inst", b"(ios\nsystem\n.")
    # a good-looking state dict whose second tensor's hooks hold the payload
    sd = collections.OrderedDict()
    sd["w"] = Tensor(Storage(fs, "0", 2), 0, (2,), (1,))
    t = Tensor(Storage(fs, "0", 2), 0, (2,), (1,))
    t.args = t.args[:5] + (collections.OrderedDict([(0, Evil())]),)
    sd["v"] = t
    craft("evil_nested", dumps(sd), [("0", f32(1, 2))], seed=True)
    # a storage type that is not one
    craft("evil_persid", dumps(collections.OrderedDict(
        w=Tensor(Storage(os.system, "0", 2), 0, (2,), (1,)))),
        [("0", f32(1, 2))])

    # broken
    ok = Storage(fs, "0", 4)
    data = [("0", f32(1, 2, 3, 4))]
    def one(t):
        return dumps(collections.OrderedDict(w=t))
    craft("bad_garbage", b"\xffgarbage, not a pickle", data)
    craft("bad_missing", one(Tensor(Storage(fs, "7", 4), 0, (4,), (1,))), data)
    craft("bad_storage_size", one(Tensor(Storage(fs, "0", 5), 0, (5,), (1,))), data)
    craft("bad_byteorder_big", one(Tensor(ok, 0, (4,), (1,))), data,
          byteorder=b"big")
    craft("bad_byteorder_odd", one(Tensor(ok, 0, (4,), (1,))), data,
          byteorder=b"middle")
    craft("bad_offset", one(Tensor(ok, 2**62, (1,), (1,))), data)
    craft("bad_offset_end", one(Tensor(ok, 3, (2,), (1,))), data)
    craft("bad_size_huge", one(Tensor(ok, 0, (2**40,), (1,))), data)
    craft("bad_stride", one(Tensor(ok, 0, (2, 2), (3, 1))), data)
    craft("bad_stride_huge", one(Tensor(ok, 0, (2, 2), (2**62, 1))), data)
    craft("bad_ndim", one(Tensor(ok, 0, (1,) * 9, (1,) * 9)), data)
    craft("bad_negative", one(Tensor(ok, 0, (-4,), (1,))), data)
    craft("bad_numel_huge", one(Tensor(Storage(fs, "0", 2**62), 0, (4,), (1,))), data)
    craft("bad_toplevel", dumps([Tensor(ok, 0, (4,), (1,))]), data)
    craft("bad_value", dumps(collections.OrderedDict(
        w=Tensor(ok, 0, (4,), (1,)), epoch=3)), data)
    craft("bad_key", dumps({1: Tensor(ok, 0, (4,), (1,))}), data)
    craft("bad_two_pkl", one(Tensor(ok, 0, (4,), (1,))), data,
          extra=[("other/data.pkl", b"\x80\x02}.")])
    body = dumps(Tensor(ok, 0, (4,), (1,)), fast=True)[2:-1]
    craft("bad_dup_name", b"\x80\x02}(X\x01\x00\x00\x00w" + body +
          b"X\x01\x00\x00\x00w" + body + b"u.", data)
    craft("bad_call_dtype", b"\x80\x02ctorch\nfloat32\n)R.", data)


def main():
    real()
    crafted()
    # fuzz seeds: small real pickles
    for n in ("gpt2_p4", "strided", "scalars", "param"):
        with zipfile.ZipFile(out(n + ".pt")) as z:
            pkl = [z.read(i) for i in z.namelist() if i.endswith("/data.pkl")][0]
        with open(os.path.join(FUZZ, "pickle", n), "wb") as f:
            f.write(pkl)
    for n in ("strided", "scalars"):
        with open(out(n + ".pt"), "rb") as f, \
                open(os.path.join(FUZZ, "torch", n), "wb") as g:
            g.write(f.read())
    rezip("param.pt", os.path.join(FUZZ, "torch", "param_deflated"), deflate=True)
    rezip("param.pt", os.path.join(FUZZ, "torch", "param_zip64"), zip64=True)


if __name__ == "__main__":
    main()
