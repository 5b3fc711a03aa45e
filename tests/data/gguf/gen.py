#!/usr/bin/python3
"""Write the GGUF fixtures for tests/unit/test_gguf.c, and the GGUF seeds
of the fuzz corpus, with a GGUF writer of our own (Debian has no gguf
package), following ggml's docs/gguf.md.

Run with Debian's python3 (it has numpy) from the repository top:

    /usr/bin/python3 tests/data/gguf/gen.py

Fixtures (tests/data/gguf/):

    gpt2.gguf    a tiny GPT-2 in llama.cpp's tensor names and metadata
                 (2 blocks, n_embd 32, n_ff 128, n_ctx 16, vocab 48),
                 tensors in F32, F16, BF16, Q8_0 and Q4_0, the quantized
                 ones by the numpy reference of gen_quants.py;
                 general.alignment 32 written out
    gpt2.npz     every tensor of gpt2.gguf as float32 values (F16, BF16
                 widened, Q8_0 / Q4_0 dequantized), in qf's row-major
                 shape (GGUF's ne reversed)
    dims.gguf    shapes: m F32 [8, 32] with m[r][c] = 100 r + c (ne
                 [32, 8]), q Q8_0 [8, 32] of the same values, cube F16
                 [2, 3, 32], four I8 [5, 4, 3, 2], vec F32 [5], scalar
                 F32 0-d, empty F32 [4, 0], last Q4_0 [2, 32]; no
                 general.alignment (so 32); the file ends with the last
                 tensor's data (no padding), so every cut shows
    types.gguf   I8, I16, I32, I64, F64 tensors and one key of every
                 metadata type (test.*), arrays, a string that is not
                 UTF-8 and one holding NUL; general.alignment 64
    v2.gguf      version 2, one F32 tensor, general.alignment 8

tensor values: dims.gguf and types.gguf by formulas that test_gguf.c
repeats; gpt2.gguf pseudo-random (numpy seed 7), checked against gpt2.npz.

Fuzz seeds (tests/fuzz/corpus/gguf/): dims, types and v2 again, tiny.gguf
(Q8_0, Q4_0, BF16, F16 tensors, a string array) and empty.gguf (no keys,
no tensors).  gen_quants.py's quants.npz is rewritten as well.
"""
import os
import struct

import numpy as np

import gen_quants as gq

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "..", "fuzz", "corpus", "gguf")

# gguf_metadata_value_type
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i",
              F32: "<f", BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}

# ggml_type
T_F32, T_F16, T_Q4_0, T_Q8_0 = 0, 1, 2, 8
T_I8, T_I16, T_I32, T_I64, T_F64, T_BF16 = 24, 25, 26, 27, 28, 30
TYPE_NAME = {T_F32: "F32", T_F16: "F16", T_Q4_0: "Q4_0", T_Q8_0: "Q8_0",
             T_I8: "I8", T_I16: "I16", T_I32: "I32", T_I64: "I64",
             T_F64: "F64", T_BF16: "BF16"}


def gstr(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def value(vtype, v):
    if vtype == STRING:
        return gstr(v)
    if vtype == ARRAY:
        etype, items = v
        return struct.pack("<IQ", etype, len(items)) + b"".join(
            value(etype, x) for x in items)
    return struct.pack(SCALAR_FMT[vtype], v)


def bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even (no NaNs here)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def encode(ggml_type, a):
    """a: numpy array in qf's shape (outermost first) -> (bytes, values
    as the reader delivers them after widening: float32 or the int)."""
    if ggml_type == T_F32:
        a = a.astype(np.float32)
        return a.tobytes(), a
    if ggml_type == T_F16:
        a = a.astype(np.float16)
        return a.tobytes(), a.astype(np.float32)
    if ggml_type == T_BF16:
        b = bf16_bits(a)
        return b.tobytes(), bf16_value(b).reshape(a.shape)
    if ggml_type in (T_Q8_0, T_Q4_0):
        x = a.astype(np.float32).reshape(-1, gq.QK)
        if ggml_type == T_Q8_0:
            s, q = gq.q8_0(x)
            data = gq.q8_0_bytes(x)
        else:
            s, q = gq.q4_0(x)
            data = gq.q4_0_bytes(x)
        return data, gq.dequant(s, q).reshape(a.shape)
    dt = {T_I8: np.int8, T_I16: np.int16, T_I32: np.int32, T_I64: np.int64,
          T_F64: np.float64}[ggml_type]
    a = a.astype(dt)
    return a.tobytes(), a


class Writer:
    def __init__(self, version=3, alignment=None):
        self.version = version
        self.alignment = alignment      # None: no general.alignment key
        self.kv = []
        self.tensors = []               # (name, ne, type, data)
        if alignment is not None:
            self.add_kv("general.alignment", U32, alignment)

    def add_kv(self, key, vtype, v):
        self.kv.append((key, vtype, v))

    def add_tensor(self, name, ggml_type, a):
        """a in qf's shape; GGUF's ne is its shape reversed."""
        data, values = encode(ggml_type, np.asarray(a))
        self.tensors.append((name, list(reversed(a.shape)), ggml_type, data))
        return values

    def tobytes(self):
        align = self.alignment or 32
        out = bytearray(b"GGUF")
        out += struct.pack("<IQQ", self.version, len(self.tensors),
                           len(self.kv))
        for key, vtype, v in self.kv:
            out += gstr(key) + struct.pack("<I", vtype) + value(vtype, v)
        offset, blobs = 0, []
        for name, ne, gt, data in self.tensors:
            out += gstr(name) + struct.pack("<I", len(ne))
            out += b"".join(struct.pack("<Q", n) for n in ne)
            out += struct.pack("<IQ", gt, offset)
            pad = b"\0" * (-len(data) % align)
            blobs.append(data + pad)
            offset += len(data) + len(pad)
        out += b"\0" * (-len(out) % align)
        for b in blobs:
            out += b
        # no padding after the last tensor: any truncation shows
        if blobs:
            last = self.tensors[-1][3]
            del out[len(out) - (len(blobs[-1]) - len(last)):]
        return bytes(out)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.tobytes())


# ------------------------------------------------------------ gpt2.gguf

def gpt2():
    rng = np.random.default_rng(7)
    n_embd, n_ff, n_ctx, n_vocab, n_layer, n_head = 32, 128, 16, 48, 2, 4
    w = Writer(alignment=32)
    w.add_kv("general.architecture", STRING, "gpt2")
    w.add_kv("general.name", STRING, "tiny-gpt2-qf-fixture")
    w.add_kv("general.quantization_version", U32, 2)
    w.add_kv("general.file_type", U32, 7)
    w.add_kv("gpt2.block_count", U32, n_layer)
    w.add_kv("gpt2.context_length", U32, n_ctx)
    w.add_kv("gpt2.embedding_length", U32, n_embd)
    w.add_kv("gpt2.feed_forward_length", U32, n_ff)
    w.add_kv("gpt2.attention.head_count", U32, n_head)
    w.add_kv("gpt2.attention.layer_norm_epsilon", F32, 1e-5)
    w.add_kv("tokenizer.ggml.model", STRING, "gpt2")
    toks = ["<|endoftext|>"] + ["tok%d" % i for i in range(n_vocab - 3)] + \
        ["\u0120the", "\u00e4\u00f6"]
    w.add_kv("tokenizer.ggml.tokens", ARRAY, (STRING, toks))
    w.add_kv("tokenizer.ggml.token_type", ARRAY, (I32, [1] * n_vocab))
    w.add_kv("tokenizer.ggml.merges", ARRAY, (STRING, ["\u0120 t", "h e"]))
    w.add_kv("tokenizer.ggml.bos_token_id", U32, 0)

    want = {}

    def t(name, gt, *shape, scale=0.02, center=0.0):
        a = (rng.standard_normal(shape) * scale + center).astype(np.float32)
        if len(shape) == 2 and shape[1] >= 32:
            a.flat[rng.integers(a.size)] = 40 * scale      # an outlier
        want[name] = w.add_tensor(name, gt, a)

    t("token_embd.weight", T_Q8_0, n_vocab, n_embd)
    t("position_embd.weight", T_F32, n_ctx, n_embd, scale=0.01)
    kinds = [
        # qkv, out, up, down weights
        (T_Q4_0, T_F16, T_BF16, T_Q8_0),
        (T_Q8_0, T_Q4_0, T_F16, T_Q4_0),
    ]
    for i in range(n_layer):
        p = "blk.%d." % i
        k = kinds[i]
        t(p + "attn_norm.weight", T_F32, n_embd, scale=0.1, center=1.0)
        t(p + "attn_norm.bias", T_F32, n_embd)
        t(p + "attn_qkv.weight", k[0], 3 * n_embd, n_embd)
        t(p + "attn_qkv.bias", T_F32, 3 * n_embd)
        t(p + "attn_output.weight", k[1], n_embd, n_embd)
        t(p + "attn_output.bias", T_F16 if i == 0 else T_F32, n_embd)
        t(p + "ffn_norm.weight", T_F32, n_embd, scale=0.1, center=1.0)
        t(p + "ffn_norm.bias", T_F32, n_embd)
        t(p + "ffn_up.weight", k[2], n_ff, n_embd)
        t(p + "ffn_up.bias", T_BF16 if i == 0 else T_F32, n_ff)
        t(p + "ffn_down.weight", k[3], n_embd, n_ff)
        t(p + "ffn_down.bias", T_F32, n_embd)
    t("output_norm.weight", T_F32, n_embd, scale=0.1, center=1.0)
    t("output_norm.bias", T_F32, n_embd)
    t("output.weight", T_Q4_0, n_vocab, n_embd)
    w.write(os.path.join(HERE, "gpt2.gguf"))
    np.savez(os.path.join(HERE, "gpt2.npz"), **want)


# ------------------------------------------------------------ dims.gguf

def dims():
    w = Writer()                        # default alignment 32
    w.add_kv("general.architecture", STRING, "test")
    r, c = np.meshgrid(np.arange(8), np.arange(32), indexing="ij")
    m = (100 * r + c).astype(np.float32)
    w.add_tensor("m", T_F32, m)
    w.add_tensor("q", T_Q8_0, m)
    w.add_tensor("cube", T_F16, (np.arange(2 * 3 * 32) / 4.0).reshape(2, 3, 32))
    w.add_tensor("four", T_I8, (np.arange(120) - 60).reshape(5, 4, 3, 2))
    w.add_tensor("vec", T_F32, np.arange(5, dtype=np.float32) + 0.5)
    w.add_tensor("scalar", T_F32, np.array(3.25, dtype=np.float32))
    w.add_tensor("empty", T_F32, np.zeros((4, 0), dtype=np.float32))
    w.add_tensor("last", T_Q4_0, (np.arange(64) - 32).reshape(2, 32) / 8.0)
    return w


# ------------------------------------------------------------ types.gguf

def types():
    w = Writer(alignment=64)
    w.add_kv("test.u8", U8, 200)
    w.add_kv("test.i8", I8, -100)
    w.add_kv("test.u16", U16, 65535)
    w.add_kv("test.i16", I16, -32768)
    w.add_kv("test.u32", U32, 4000000000)
    w.add_kv("test.i32", I32, -2000000000)
    w.add_kv("test.f32", F32, 0.1)
    w.add_kv("test.true", BOOL, 1)
    w.add_kv("test.false", BOOL, 0)
    w.add_kv("test.string", STRING, "h\u00e9llo w\u00f6rld \u4e16\u754c")
    w.add_kv("test.empty_string", STRING, "")
    w.add_kv("test.u64", U64, 2**64 - 1)
    w.add_kv("test.i64", I64, -2**63)
    w.add_kv("test.f64", F64, 0.1)
    w.add_kv("test.f64_big", F64, -1.5e300)
    w.add_kv("test.array_i32", ARRAY, (I32, [1, -2, 3]))
    w.add_kv("test.array_empty", ARRAY, (F32, []))
    w.add_kv("test.array_str", ARRAY, (STRING, ["a", "", "bc"]))
    w.add_kv("test.array_bool", ARRAY, (BOOL, [1, 0, 1, 1]))
    w.add_kv("test.not_utf8", STRING, b"ab\xff")
    w.add_kv("test.has_nul", STRING, b"a\0b")
    n = np.arange(12)
    w.add_tensor("i8", T_I8, (n * 23 % 256 - 128).reshape(3, 4))
    w.add_tensor("i16", T_I16, (n * 5000 - 30000).reshape(3, 4))
    w.add_tensor("i32", T_I32, (n * 300000007 - 2000000000).reshape(4, 3))
    w.add_tensor("i64", T_I64, (n.astype(np.int64) * 1234567890123 -
                                 (1 << 62)).reshape(2, 6))
    w.add_tensor("f64", T_F64, (n / 3.0 - 1).reshape(12))
    w.add_tensor("bf16", T_BF16, (n / 8.0 - 0.5).reshape(2, 6))
    return w


def v2():
    w = Writer(version=2, alignment=8)
    w.add_kv("general.architecture", STRING, "test")
    w.add_tensor("x", T_F32, np.arange(6, dtype=np.float32).reshape(2, 3))
    return w


# ------------------------------------------------------------ fuzz seeds

def seeds():
    os.makedirs(CORPUS, exist_ok=True)
    out = {"dims.gguf": dims(), "types.gguf": types(), "v2.gguf": v2()}
    w = Writer(alignment=32)
    w.add_kv("general.architecture", STRING, "gpt2")
    w.add_kv("tokenizer.ggml.tokens", ARRAY, (STRING, ["a", "b"]))
    rng = np.random.default_rng(3)
    w.add_tensor("token_embd.weight", T_Q8_0,
                 rng.standard_normal((2, 32)).astype(np.float32))
    w.add_tensor("blk.0.attn_qkv.weight", T_Q4_0,
                 rng.standard_normal((2, 32)).astype(np.float32))
    w.add_tensor("blk.0.attn_qkv.bias", T_BF16,
                 rng.standard_normal(4).astype(np.float32))
    w.add_tensor("output.weight", T_F16,
                 rng.standard_normal((2, 3)).astype(np.float32))
    out["tiny.gguf"] = w
    out["empty.gguf"] = Writer()
    for name, wr in out.items():
        with open(os.path.join(CORPUS, name), "wb") as f:
            f.write(wr.tobytes())


def main():
    gpt2()
    dims().write(os.path.join(HERE, "dims.gguf"))
    types().write(os.path.join(HERE, "types.gguf"))
    v2().write(os.path.join(HERE, "v2.gguf"))
    seeds()
    gq.main()


if __name__ == "__main__":
    main()
