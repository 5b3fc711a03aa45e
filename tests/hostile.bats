#!/usr/bin/env bats
# A hostile-input sweep through the command line of every tool that reads
# a file: valid inputs of each format (weight and token streams, npy, npz,
# safetensors, torch, GGUF, corpora) cut at every boundary class of the
# format and changed by seeded byte flips, each run through the tools
# that read it.  Deterministic (the variants come from fixed seeds; no
# timing).  For every run: exit status 0 or 1, never a signal, an abort
# or 2 (misuse); every line on stderr starts with the tool's name and a
# failure says exactly one; a failure leaves no output file and no
# temporary file (in the output's directory or TMPDIR); a cut input of a
# format that can tell is refused.  A failing variant is kept in
# FAILED/ of the test's directory and named in the output.
# Sizes: about 1100 runs, 30 s of CPU time; under the sanitizers, whose
# runs take ten times as long, about 300 (docs/fuzzing.md).

load common

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	cp "$TESTS_DIR/data/model/a.qft" model.qft
	cp "$TESTS_DIR/data/eval/tokens.qft" tokens.qft
	cp "$TESTS_DIR/data/extract/model.safetensors" m.safetensors
	cp "$TESTS_DIR/data/extract/plain_f16.pt" m.pt
	cp "$TESTS_DIR/data/extract/model-q8_0.gguf" m.gguf
	cp "$TESTS_DIR/fuzz/corpus/corpus/arc.tar.gz" a.tar.gz
	cp "$TESTS_DIR/fuzz/corpus/corpus/arc.zip" a.zip
	cp "$TESTS_DIR/fuzz/corpus/corpus/sample.html" s.html
	py "
import numpy as np
np.save('w.npy', (np.arange(48, dtype=np.float32).reshape(6, 8) - 20) / 7)
np.savez('w.npz', a=np.arange(12, dtype=np.float32).reshape(3, 4),
         b=np.arange(5, dtype=np.int64))"
	cat > sweep.py <<'PYEOF'
"""sweep.py FORMAT FILE FLIPS CMD... - hostile variants of a valid input
FILE through the tools, each CMD one command line with {in} (the variant)
and {out} (an output path in an empty directory), e.g. 'qf-cat -o {out}
{in}'.  The variants: FILE cut at every boundary class of FORMAT
(stream, npy, zip, zip-text, safetensors, gguf, gzip, text), each run
through every CMD; and FLIPS seeded byte changes, each through one CMD
in turn.  Under the sanitizer build a quarter of the flips, and each
cut through one CMD in turn.  Checked for every run: exit status 0 or 1
(never a signal, an abort or 2, which is misuse); every line on stderr
starts with the tool's name, and a failure says exactly one line; a
failure leaves no output and no temporary file; a cut of a format that
can tell fails.  Prints one line per failed run and exits 1 if there
was any; the failing inputs are kept in FAILED/ for reproduction."""
import os, random, shutil, struct, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor

SIZES = {1: 4, 2: 8, 3: 2, 4: 2, 5: 1, 6: 1, 7: 2, 8: 4, 9: 8, 10: 2,
         11: 4, 12: 8, 13: 1}
# formats whose every cut must be detected (text may end anywhere)
STRICT = {"stream", "npy", "zip", "safetensors", "gguf", "gzip"}


def u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def stream_cuts(b):
    cuts, pos, rec = [0, 1, 4, 8, 10, 12, 15, 16], 16, 0
    while pos + 8 <= len(b):
        tag = b[pos:pos + 4]
        if tag == b"QEND":
            cuts += [pos, pos + 4, pos + 8, pos + 12, pos + 15]
            break
        hl = u32(b, pos + 4)
        body = pos + 8
        dt, nd, _, _, chunk = struct.unpack_from("<BBBBI", b, body)
        dims = struct.unpack_from("<%dQ" % nd, b, body + 8)
        n = SIZES.get(dt, 1)
        for d in dims:
            n *= d
        end = body + hl + 4
        # every class in the first record; the start of the others
        detail = rec < 1
        cuts += [pos] + ([pos + 2, pos + 4, body, body + 8, body + hl // 2,
                          body + hl, body + hl + 2] if detail else [])
        q = end
        for k in range(-(-n // chunk) if chunk else 0):
            fl = u32(b, q)
            if k < 2 and detail:
                cuts += [q, q + 2, q + 4, q + 4 + fl // 2, q + 3 + fl]
            q += 4 + fl
        pos, rec = q, rec + 1
    return cuts


def npy_cuts(b):
    he = 10 + struct.unpack_from("<H", b, 8)[0]
    return [0, 3, 6, 7, 8, 9, 10, he // 2, he - 1, he, he + 1,
            (he + len(b)) // 2]


def zip_cuts(b):
    """The first and the last of each kind of header, and the end."""
    cuts = [0, 2, len(b) - 22, len(b) - 10]
    for sig in (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06"):
        for o in {b.find(sig), b.rfind(sig)} - {-1}:
            cuts += [o, o + 2, o + 30]
    return cuts


def safetensors_cuts(b):
    he = 8 + struct.unpack_from("<Q", b, 0)[0]
    return [0, 4, 8, 9, he // 2, he - 1, he, he + 1, (he + len(b)) // 2]


def gguf_cuts(b):
    return [0, 2, 4, 8, 16, 24, 30, 40] + [len(b) * k // 8 for k in range(1, 8)]


def gzip_cuts(b):
    return [0, 2, 10, len(b) // 2, len(b) - 8, len(b) - 4]


def text_cuts(b):
    return [0, 1, len(b) // 3, len(b) // 2]


CUTS = {"stream": stream_cuts, "npy": npy_cuts, "zip": zip_cuts,
        "zip-text": zip_cuts, "safetensors": safetensors_cuts,
        "gguf": gguf_cuts, "gzip": gzip_cuts, "text": text_cuts}


def strict_below(fmt, b):
    """Cuts below this offset must fail.  A zip of texts is read as a
    stream (libarchive): its members are whole before the central
    directory, and 4 bytes or fewer are text, not an archive."""
    if fmt == "zip-text":
        return b.find(b"PK\x01\x02")
    return len(b) if fmt in STRICT else 0


def variants(fmt, b, flips):
    """(name, bytes, cut, strict): every cut, then the flips."""
    cuts = sorted(set(c for c in CUTS[fmt](b) if 0 <= c < len(b)) | {len(b) - 1})
    if fmt == "stream":
        # of the record starts after the first, the last only
        starts = [c for c in cuts if b[c:c + 4] == b"QREC"][1:-1]
        cuts = [c for c in cuts if c not in starts]
    limit = strict_below(fmt, b)
    for c in cuts:
        yield "cut@%d" % c, b[:c], True, c < limit and (fmt != "zip-text" or c > 4)
    rng = random.Random("qf-hostile-" + fmt)
    hot = min(len(b), 1024)
    for i in range(flips):
        if rng.random() < 0.5:
            o = rng.randrange(hot)
        else:
            o = rng.randrange(len(b))
        if rng.random() < 0.7:
            v = b[o] ^ (1 << rng.randrange(8))
        else:
            v = rng.choice([0x00, 0xff, 0x7f, 0x80, 0x01])
            if v == b[o]:
                v ^= 0x40
        yield "flip%d@%d=%02x" % (i, o, v), b[:o] + bytes([v]) + b[o + 1:], False, False


def check(cmd, strict, d, name):
    """Run cmd on the variant in d; a list of what is wrong."""
    tool = os.path.basename(cmd[0])
    out_dir, tmp = os.path.join(d, "out"), os.path.join(d, "tmp")
    os.mkdir(out_dir)
    os.mkdir(tmp)
    args = [a.replace("{in}", os.path.join(d, name))
             .replace("{out}", os.path.join(out_dir, "out")) for a in cmd]
    env = dict(os.environ, TMPDIR=tmp, QF_THREADS="1")
    try:
        p = subprocess.run(args, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           env=env, timeout=120)
        rc, err = p.returncode, p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return ["no end in 120 s"]
    bad, lines = [], err.splitlines()
    if rc < 0:
        bad.append("killed by signal %d" % -rc)
    elif rc > 1:
        bad.append("exit status %d" % rc)
    if any(not l.startswith(tool + ": ") for l in lines):
        bad.append("stderr not '%s: ...'" % tool)
    if rc != 0 and len(lines) != 1:
        bad.append("%d lines on stderr" % len(lines))
    if rc == 0 and strict:
        bad.append("a cut input accepted")
    left = os.listdir(out_dir) if rc != 0 else \
        [f for f in os.listdir(out_dir) if ".tmp." in f]
    if left:
        bad.append("left %s" % " ".join(sorted(left)))
    if os.listdir(tmp):
        bad.append("left in TMPDIR: %s" % " ".join(sorted(os.listdir(tmp))))
    if bad:
        first = lines[0] if lines else ""
        bad.append("status %d: %s" % (rc, first[:160]))
    return bad


def run_one(job):
    k, vid, data, strict, cmd, top = job
    d = os.path.join(top, "%d" % k)
    os.mkdir(d)
    name = "in" + os.path.splitext(sys.argv[2])[1]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    bad = check(cmd, strict, d, name)
    if bad:
        os.makedirs("FAILED", exist_ok=True)
        keep = "FAILED/%s-%s" % (sys.argv[1], vid.replace("@", "-"))
        shutil.copy(os.path.join(d, name), keep)
        bad.insert(0, "%s %s [%s]" % (vid, " ".join(cmd), keep))
    shutil.rmtree(d)
    return bad


def main():
    fmt, path, flips, cmds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    cmds = [c.split() for c in cmds]
    b = open(path, "rb").read()
    top = tempfile.mkdtemp(prefix="sweep.", dir=".")
    # Under the sanitizers a run takes ten times as long: a quarter of
    # the flips, and each cut through one command in turn too.
    light = b"__asan_init" in open(shutil.which(cmds[0][0]), "rb").read()
    if light:
        flips //= 4
    jobs = []
    for k, (vid, data, cut, strict) in enumerate(variants(fmt, b, flips)):
        for j, cmd in enumerate(cmds):
            if (cut and not light) or (k + j) % len(cmds) == 0:
                jobs.append((len(jobs), vid, data, strict, cmd, top))
    with ThreadPoolExecutor(max_workers=2) as ex:
        results = list(ex.map(run_one, jobs))
    shutil.rmtree(top)
    failed = [r for r in results if r]
    for r in failed:
        print(" | ".join(r))
    print("%s: %d runs, %d failed" % (fmt, len(jobs), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
PYEOF
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

# sweep FORMAT FILE FLIPS CMD...: the variants of FILE through the CMDs.
sweep() {
	run "$PY" sweep.py "$@"
	echo "$output"
	assert_success
}

@test "weight streams: qf-cat, qf-quantize, qf-eval, qf-act, qf-train (--init)" {
	sweep stream model.qft 150 'qf-cat -o {out} {in}' \
		'qf-cat --to npz -o {out} {in}' 'qf-cat -l {in}' \
		'qf-quantize -o {out} {in}' 'qf-eval -r {in} -o {out} tokens.qft' \
		'qf-act -m {in} -L 0 -o {out} tokens.qft' \
		'qf-train --init {in} --steps 1 --batch 1 -o {out} tokens.qft'
}

@test "token streams: qf-cat, qf-eval, qf-act, qf-train" {
	sweep stream tokens.qft 80 'qf-cat -o {out} {in}' \
		'qf-eval -r model.qft -o {out} {in}' \
		'qf-act -m model.qft -L 0 -o {out} {in}' \
		'qf-train --layers 1 --d-model 8 --heads 2 --ctx 8 --steps 1 --batch 1 -o {out} {in}'
}

@test "npy: qf-cat --from npy, qf-extract weights" {
	sweep npy w.npy 60 'qf-cat --from npy -o {out} {in}' \
		'qf-cat --from npy --to npz -o {out} {in}' \
		'qf-extract weights --raw -o {out} {in}'
}

@test "npz: qf-cat --from npz, qf-extract weights" {
	sweep zip w.npz 60 'qf-cat --from npz -o {out} {in}' \
		'qf-extract weights --raw -o {out} {in}'
}

@test "safetensors: qf-extract weights" {
	sweep safetensors m.safetensors 60 'qf-extract weights -o {out} {in}' \
		'qf-extract weights -l {in}'
}

@test "torch: qf-extract weights" {
	sweep zip m.pt 60 'qf-extract weights -o {out} {in}'
}

@test "GGUF: qf-extract weights" {
	sweep gguf m.gguf 60 'qf-extract weights -o {out} {in}' \
		'qf-extract weights -t f32 -o {out} {in}'
}

@test "corpora (tar.gz, zip, HTML): qf-extract text" {
	sweep gzip a.tar.gz 40 'qf-extract text -o {out} {in}'
	sweep zip-text a.zip 40 'qf-extract text -o {out} {in}'
	sweep text s.html 40 'qf-extract text -o {out} {in}' \
		'qf-extract text --unit paragraph --format html -o {out} {in}'
}
