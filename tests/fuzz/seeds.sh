#!/bin/bash
# seeds.sh BIN - write the seed corpora of the stream, config, quant and
# options harnesses (tests/fuzz/corpus/{stream,config,quant,options}),
# made with the tools in BIN (e.g. build/bin) so that they are valid
# inputs.  Run from the top of the repository; the files are committed,
# so this runs again only when a format or an option changes.
set -euo pipefail
BIN=$(cd "$1" && pwd)
PY=/usr/bin/python3
C=tests/fuzz/corpus
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p $C/stream $C/config $C/quant $C/options

# ---- stream: small streams of every dtype, attributes, several records
$PY - "$T" <<'EOF'
import sys, numpy as np
d = sys.argv[1]
np.save(d + "/w.npy", (np.arange(24, dtype=np.float32).reshape(4, 6) - 11.5) / 8)
np.save(d + "/v.npy", np.array([1.5, -2.0, 0.25], dtype=np.float64))
np.save(d + "/t.npy", np.arange(10, dtype=np.int32))
np.save(d + "/b.npy", np.arange(10) % 3 == 0)
np.save(d + "/e.npy", np.zeros((0, 3), dtype=np.float32))
EOF
Q=$BIN/qf-cat
$Q --from npy --rename w -o $C/stream/f32 "$T/w.npy"
for t in f16 bf16 f64 i8 u8 i16 u16 i32 u32 i64 u64; do
	$Q --from npy --rename t -t $t -o "$T/$t.qft" "$T/t.npy"
done
$Q --from npy --rename b -o "$T/bool.qft" "$T/b.npy"
cat "$T/f16.qft" "$T/bf16.qft" "$T/i8.qft" "$T/i64.qft" "$T/bool.qft" |
	$Q -o $C/stream/dtypes
cat "$T/u16.qft" "$T/u32.qft" "$T/u64.qft" "$T/i16.qft" "$T/u8.qft" |
	$Q --no-shuffle -o $C/stream/unsigned
$Q --from npy --rename v --set lang=eng --set 'note=a b=c' -o $C/stream/attrs "$T/v.npy"
$Q --from npy --rename empty -o $C/stream/empty-tensor "$T/e.npy"
$Q --from npy --rename w --shuffle --level 19 -o $C/stream/level19 "$T/w.npy"
$PY -c 'import sys; sys.path.insert(0, "tests/ref"); import qftref
qftref.write_stream(open(sys.argv[1], "wb"), [])' $C/stream/no-records

# ---- config: byte 0 even + config.json; byte 0 odd + a weight stream
cfg() { printf '\0%s' "$2" > $C/config/$1; }
cfg valid '{"vocab_size": 8, "n_embd": 4, "n_positions": 4, "n_layer": 1, "n_head": 2, "n_inner": null, "layer_norm_epsilon": 1e-05, "activation_function": "gelu_new", "tie_word_embeddings": true}'
cfg minimal '{"n_head": 2}'
cfg gguf-keys '{"gpt2.block_count": 1, "gpt2.embedding_length": 4, "gpt2.context_length": 4, "n_head": 1, "gpt2.attention.layer_norm_epsilon": "1e-5"}'
cfg mismatch '{"n_layer": 2, "n_embd": 5, "n_head": 3, "activation_function": "relu"}'
cfg nested '{"n_head": 4, "task_specific_params": {"a": [1, 2, {"b": null}]}, "architectures": ["GPT2LMHeadModel"], "x": "\u00e9\ud83d\ude00"}'
$PY - "$T/m" <<'EOF'
import sys, os, json, struct, numpy as np
d = sys.argv[1]; os.makedirs(d)
D, V, P = 4, 8, 4
t = [("wte.weight", (V, D)), ("wpe.weight", (P, D)),
     ("h.0.ln_1.weight", (D,)), ("h.0.ln_1.bias", (D,)),
     ("h.0.attn.c_attn.weight", (D, 3 * D)), ("h.0.attn.c_attn.bias", (3 * D,)),
     ("h.0.attn.c_proj.weight", (D, D)), ("h.0.attn.c_proj.bias", (D,)),
     ("h.0.ln_2.weight", (D,)), ("h.0.ln_2.bias", (D,)),
     ("h.0.mlp.c_fc.weight", (D, 4 * D)), ("h.0.mlp.c_fc.bias", (4 * D,)),
     ("h.0.mlp.c_proj.weight", (4 * D, D)), ("h.0.mlp.c_proj.bias", (D,)),
     ("ln_f.weight", (D,)), ("ln_f.bias", (D,))]
rng = np.random.default_rng(1)
head, data, off = {}, b"", 0
for name, shape in t:
    a = rng.standard_normal(shape).astype(np.float32) * 0.1
    head[name] = {"dtype": "F32", "shape": list(shape),
                  "data_offsets": [off, off + a.nbytes]}
    data += a.tobytes(); off += a.nbytes
h = json.dumps(head).encode()
open(d + "/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + data)
json.dump({"n_head": 2, "layer_norm_epsilon": 1e-5}, open(d + "/config.json", "w"))
EOF
$BIN/qf-extract weights -o "$T/w.qft" "$T/m"
$BIN/qf-extract weights -t f16 -o "$T/w16.qft" "$T/m"
{ printf '\1'; cat "$T/w.qft"; } > $C/config/stream-f32
{ printf '\1'; cat "$T/w16.qft"; } > $C/config/stream-f16
{ printf '\1'; $Q -x 'layers.0.mlp.*' "$T/w.qft"; } > $C/config/stream-missing
{ printf '\1'; $Q -n config "$T/w.qft"; } > $C/config/stream-config-only

# ---- quant: byte 0 even + qf-quantize's arguments (NUL-separated);
# byte 0 odd + spec bytes, dtype, rows, cols and the elements
args() { local n=$1; shift; { printf '\0'; printf '%s\0' "$@"; } > $C/quant/$n; }
args int4-group -b 4 -g 64 -o w4g64.qft weights.qft
args nf4-stats -s nf4 --stats nf4.tsv -o nf4.qft
args aciq-protect -b 3 -c aciq_laplace --protect-layers 0 -o w3.qft
args compat --compat -o old.qft
args mse-all --all-weights -b 4 -g 64 -c mse --asym
args q8-codes -s q8_0 --emit-codes -k all
args bits-map --bits-map 'default=4,0=8,11=8' --protect-kind tok_emb,head -n 'layers.*'
args bits-map-file --bits-map '@# comment;default=3;1=8;' --round stochastic --seed 7
args pct -c percentile:99.5 -g tensor --nonfinite zero -j 2 --level 3 --no-shuffle
args misuse -b 9 --protect-name nomatch
args help --help
$PY - $C/quant <<'EOF2'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(3)
def seed(name, spec, dt, rows, cols, a):
    b = bytes([1]) + bytes(spec) + bytes([dt - 1, rows - 1, cols - 1]) + a.tobytes()
    open(d + "/" + name, "wb").write(b)
x = rng.standard_normal((4, 64)).astype(np.float32)
# scheme-1, bits, sym, gran, group, clip, pct, round, seed (2 bytes), each
# taken when its top bit is set (docs in fuzz_quant.c); dtype: qf's code
seed("int4-channel", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1, 4, 64, x)
seed("int3-asym-group", [0, 0x83, 0x80, 0x80, 16, 0x84, 0, 0, 0, 0], 1, 4, 64, x)
seed("int8-pct-stoch", [0, 0x88, 0, 0x80, 32, 0x83, 249, 0x81, 1, 2], 1, 4, 64, x)
seed("fp4-f16", [1, 0, 0, 0, 0, 0, 0, 0, 0, 0], 3, 2, 64, x[:2].astype(np.float16))
seed("nf4-aciq", [2, 0, 0, 0x80, 64, 0x84, 0, 0, 0, 0], 1, 4, 64, x)
seed("q8_0-bf16", [3, 0, 0, 0, 0, 0, 0, 0, 0, 0], 4, 4, 32, (x[:, :32].view(np.uint32) >> 16).astype(np.uint16))
seed("q4_0-i8", [4, 0, 0, 0, 0, 0, 0, 0, 0, 0], 5, 2, 64, (x[:2] * 40).astype(np.int8))
seed("compat-f64", [5, 0, 0, 0, 0, 0, 0, 0, 0, 0], 2, 3, 7, x[:3, :7].astype(np.float64))
EOF2

# ---- options: byte 0 picks the parser (fuzz_options.c)
opt() { local n=$1 m=$2; shift 2; { printf "\\$m"; printf '%s\0' "$@"; } > $C/options/$n; }
opt tool-all 0 -o out.qft --stats s.tsv -c 12 --level=3 -j 2 -t bf16 --eps 1e-5 --opt=x -v in.qft
opt tool-cluster 0 -vj1 -tf16 --jobs=4 --count 1000 -- -o
opt tool-same-out 0 -o x --stats ./x
opt tool-missing 0 --level
opt tool-unknown 0 --nope=1 -z
opt tool-help 0 --he
opt tool-version 0 --version
printf '\1\377\377\377\377\377\377\377\37718446744073709551615' > $C/options/u64-max
printf '\1\350\3\0\0\0\0\0\0001001' > $C/options/u64-over
printf '\2-1.5e-300' > $C/options/double
printf '\2 0x1p-3' > $C/options/double-space
printf '\3bf16' > $C/options/dtype
