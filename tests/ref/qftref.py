#!/usr/bin/python3
"""qftref.py - an independent implementation of formats/stream.md in Python.

Written from the specification alone, to check that the C library and the
spec agree. It uses Debian's python3-zstandard and python3-numpy.

  qftref.py dump FILE        print every record as JSON lines (name, dtype,
                             shape, attrs, sha256 of the raw payload)
  qftref.py write FILE.npz OUT [--shuffle] [--chunk N] [--level L]
                             write the arrays of an .npz as a stream
                             (attributes from a member "NAME.attrs" JSON
                             string array, if present)
"""
import hashlib
import json
import struct
import sys

import numpy as np
import zstandard

MAGIC = b"\x89QFT\r\n\x1a\n"
DTYPES = {1: "<f4", 2: "<f8", 3: "<f2", 4: "bf16", 5: "i1", 6: "u1",
          7: "<i2", 8: "<i4", 9: "<i8", 10: "<u2", 11: "<u4", 12: "<u8",
          13: "?"}
NAMES = {1: "f32", 2: "f64", 3: "f16", 4: "bf16", 5: "i8", 6: "u8",
         7: "i16", 8: "i32", 9: "i64", 10: "u16", 11: "u32", 12: "u64",
         13: "bool"}
SIZES = {1: 4, 2: 8, 3: 2, 4: 2, 5: 1, 6: 1, 7: 2, 8: 4, 9: 8, 10: 2,
         11: 4, 12: 8, 13: 1}


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


class Bad(Exception):
    pass


def need(f, n, what):
    b = f.read(n)
    if len(b) != n:
        raise Bad("truncated " + what)
    return b


def read_records(f):
    """Yield (name, dtype, dims, attrs, payload bytes)."""
    segments = 0
    while True:
        h = f.read(16)
        if not h:
            if segments == 0:
                raise Bad("empty input")
            return
        if len(h) != 16:
            raise Bad("truncated segment header")
        if h[:8] != MAGIC:
            raise Bad("bad magic")
        if struct.unpack("<I", h[12:])[0] != crc32c(h[:12]):
            raise Bad("segment header crc")
        if struct.unpack("<H", h[8:10])[0] != 1:
            raise Bad("major version")
        segments += 1
        count = 0
        while True:
            tag = need(f, 4, "tag")
            if tag == b"QEND":
                rest = need(f, 12, "end marker")
                if struct.unpack("<I", rest[8:])[0] != crc32c(tag + rest[:8]):
                    raise Bad("end marker crc")
                if struct.unpack("<Q", rest[:8])[0] != count:
                    raise Bad("end marker count")
                break
            if tag != b"QREC":
                raise Bad("bad tag")
            blen_b = need(f, 4, "header")
            (blen,) = struct.unpack("<I", blen_b)
            if blen > 16 << 20:
                raise Bad("header too long")
            body = need(f, blen, "header")
            (crc,) = struct.unpack("<I", need(f, 4, "header crc"))
            if crc != crc32c(tag + blen_b + body):
                raise Bad("header crc")
            yield parse_body(f, body)
            count += 1


def parse_body(f, body):
    dtype, ndim, filt, res, chunk = struct.unpack_from("<BBBBI", body, 0)
    if dtype not in SIZES or ndim > 8 or filt > 1 or res:
        raise Bad("bad fixed fields")
    pos = 8
    dims = list(struct.unpack_from("<%dQ" % ndim, body, pos))
    pos += 8 * ndim

    def string():
        nonlocal pos
        (n,) = struct.unpack_from("<I", body, pos)
        s = body[pos + 4:pos + 4 + n]
        if len(s) != n:
            raise Bad("string overruns header")
        pos += 4 + n
        return s.decode("utf-8")

    name = string()
    (nattr,) = struct.unpack_from("<I", body, pos)
    pos += 4
    attrs = []
    for _ in range(nattr):
        attrs.append((string(), string()))
    if pos != len(body):
        raise Bad("stray header bytes")
    numel = 1
    for d in dims:
        numel *= d
    size = numel * SIZES[dtype]
    out = bytearray()
    dctx = zstandard.ZstdDecompressor()
    while len(out) < size:
        raw = min(chunk, size - len(out))
        (csize,) = struct.unpack("<I", need(f, 4, "chunk"))
        frame = need(f, csize, "chunk")
        params = zstandard.get_frame_parameters(frame)
        if params.content_size != raw or not params.has_checksum:
            raise Bad("frame header")
        data = dctx.decompress(frame, max_output_size=raw)
        if len(data) != raw:
            raise Bad("frame size")
        if filt == 1 and SIZES[dtype] > 1:
            s = SIZES[dtype]
            data = np.frombuffer(data, np.uint8).reshape(s, raw // s).T.tobytes()
        out += data
    return name, dtype, dims, attrs, bytes(out)


def write_stream(f, records, shuffle=False, chunk=1 << 20, level=3):
    """records: iterable of (name, dtype code, dims, attrs, payload)."""
    h = MAGIC + struct.pack("<HH", 1, 0)
    f.write(h + struct.pack("<I", crc32c(h)))
    cctx = zstandard.ZstdCompressor(level=level, write_checksum=True,
                                    write_content_size=True)
    n = 0
    for name, dtype, dims, attrs, payload in records:
        s = SIZES[dtype]
        filt = 1 if shuffle and s > 1 else 0
        ch = max(s, chunk // s * s)

        def st(x):
            b = x.encode("utf-8")
            return struct.pack("<I", len(b)) + b

        body = struct.pack("<BBBBI", dtype, len(dims), filt, 0, ch)
        body += b"".join(struct.pack("<Q", d) for d in dims)
        body += st(name) + struct.pack("<I", len(attrs))
        body += b"".join(st(k) + st(v) for k, v in attrs)
        head = b"QREC" + struct.pack("<I", len(body)) + body
        f.write(head + struct.pack("<I", crc32c(head)))
        for at in range(0, len(payload), ch):
            raw = payload[at:at + ch]
            if filt:
                raw = np.frombuffer(raw, np.uint8).reshape(-1, s).T.tobytes()
            frame = cctx.compress(raw)
            f.write(struct.pack("<I", len(frame)) + frame)
        n += 1
    e = b"QEND" + struct.pack("<Q", n)
    f.write(e + struct.pack("<I", crc32c(e)))


def code_of(arr):
    for code, d in DTYPES.items():
        if d != "bf16" and np.dtype(d) == arr.dtype.newbyteorder("<"):
            return code
    raise SystemExit("unsupported dtype %s" % arr.dtype)


def main(argv):
    if len(argv) >= 2 and argv[0] == "dump":
        f = sys.stdin.buffer if argv[1] == "-" else open(argv[1], "rb")
        try:
            for name, dtype, dims, attrs, payload in read_records(f):
                print(json.dumps({"name": name, "dtype": NAMES[dtype],
                                  "shape": dims, "attrs": attrs,
                                  "sha256": hashlib.sha256(payload).hexdigest()},
                                 ensure_ascii=False))
        except Bad as e:
            print("qftref: error: %s" % e, file=sys.stderr)
            return 1
        return 0
    if len(argv) >= 3 and argv[0] == "write":
        z = np.load(argv[1])
        opts = argv[3:]
        shuffle = "--shuffle" in opts
        chunk = int(opts[opts.index("--chunk") + 1]) if "--chunk" in opts else 1 << 20
        level = int(opts[opts.index("--level") + 1]) if "--level" in opts else 3
        recs = []
        for key in z.files:
            if key.endswith(".attrs"):
                continue
            a = np.array(z[key], order="C")
            attrs = []
            if key + ".attrs" in z.files:
                kv = [str(x) for x in z[key + ".attrs"]]
                attrs = [tuple(x.split("=", 1)) for x in kv]
            recs.append((key, code_of(a), list(a.shape), attrs,
                         a.astype(a.dtype.newbyteorder("<")).tobytes()))
        with open(argv[2], "wb") as f:
            write_stream(f, recs, shuffle, chunk, level)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
