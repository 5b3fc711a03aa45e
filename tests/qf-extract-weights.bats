#!/usr/bin/env bats
# qf-extract weights: checkpoints in every supported format into the
# canonical weight stream, checked against PyTorch's own tensors (mapped
# to the canonical layout by tests/data/extract/canon.py, independently of
# the C code) and against each other.

load common

GEN=$TESTS_DIR/data/extract

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	# expected values of the converting runs, derived with numpy/torch
	/usr/bin/python3 - "$TESTS_DIR/data/extract" <<'EOF2'
import sys, numpy as np, torch
sys.path.insert(0, sys.argv[1])
import canon
a = np.load(sys.argv[1] + "/canon_f16.npz")
np.savez("canon_f16_as_f32.npz", **{k: a[k].astype(np.float32) for k in a.files})
bf = torch.load(sys.argv[1] + "/prefixed_bf16.pt", weights_only=True)
np.savez("canon_f32_via_bf16.npz", **canon.canon(bf))
EOF2
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

# Extract a checkpoint and compare every record with an expected .npz of
# canonical arrays: exact unless a tolerance dtype is given.
check_against() {	# CKPT EXPECTED.npz [qf-extract options...]
	local ckpt=$1 want=$2
	shift 2
	qf-extract weights "$@" -o got.qft "$ckpt"
	qf-cat -x config --to npz -o got.npz got.qft
	py '
import numpy as np, sys
a = np.load(sys.argv[1]); b = np.load(sys.argv[2])
assert sorted(a.files) == sorted(b.files), (sorted(set(a.files) ^ set(b.files)))
for k in a.files:
    x, y = a[k], b[k]
    assert x.shape == y.shape, (k, x.shape, y.shape)
    assert x.dtype == y.dtype, (k, x.dtype, y.dtype)
    assert x.tobytes() == y.tobytes(), k
' "$want" got.npz
}

@test "--help, --version, misuse" {
	run qf-extract --help
	assert_success
	assert_line --index 0 "Usage: qf-extract weights [OPTION]... CHECKPOINT"
	run qf-extract --version
	assert_output --regexp '^qf-extract \(qf\) '
	run --separate-stderr qf-extract
	assert_failure 2
	run --separate-stderr qf-extract frobnicate x
	assert_failure 2
	[[ $stderr == "qf-extract: unknown command 'frobnicate' (weights or text)"* ]]
	run --separate-stderr qf-extract weights a b
	assert_failure 2
	run --separate-stderr qf-extract weights -t i8 x
	assert_failure 2
}

@test "the shared torch.save checkpoint equals PyTorch's tensors in canonical layout" {
	need_shared gpt2-tiny
	"$PY" "$GEN/canon.py" "$SHARED/fixtures/gpt2-tiny/pytorch_model.bin" want.npz
	check_against "$SHARED/fixtures/gpt2-tiny/pytorch_model.bin" want.npz
	run qf-cat -l -n config got.qft
	assert_output --partial "n_layer=4 n_embd=64 n_head=4 n_ctx=64 n_inner=256 vocab_size=300"
	assert_output --partial "tie_word_embeddings=true source_format=torch"
}

@test "the shared directory lists without reading data, mask buffers skipped" {
	need_shared gpt2-tiny
	run --separate-stderr qf-extract weights -v -l "$SHARED/fixtures/gpt2-tiny/pytorch_model.bin"
	assert_success
	[ "${#lines[@]}" -eq $((1 + 2 + 4 * 12 + 2)) ]
	assert_line --index 1 --regexp $'^tok_emb.weight\tf32\t\\[300, 64\\]\t76800\tkind=tok_emb module=tok_emb param=weight orig=wte.weight src_type='
	assert_line --regexp $'^layers.3.attn.qkv.weight\tf32\t\\[192, 64\\]\t49152\tkind=attn_qkv module=attn_qkv param=weight layer=3 orig=h.3.attn.c_attn.weight'
	[[ $stderr == *"skipped"* ]]
	run bash -c "qf-extract weights -l '$SHARED/fixtures/gpt2-tiny/pytorch_model.bin' | grep -cE 'orig=h\.[0-9]+\.attn\.(masked_)?bias( |$)'"
	assert_output 0
}

@test "the shared safetensors holds the torch tensors it has, bit for bit" {
	need_shared gpt2-tiny
	# ../shared's model.safetensors lacks h.N.attn.c_attn.bias (its
	# generator dropped every name ending in "attn.bias", the mask
	# buffers and the QKV biases alike): qf-extract must say so ...
	run --separate-stderr qf-extract weights "$SHARED/fixtures/gpt2-tiny/model.safetensors"
	assert_failure 1
	[ "$stderr" = "qf-extract: $SHARED/fixtures/gpt2-tiny/model.safetensors: missing tensor for layer 0 attn.qkv.bias (h.N.attn.c_attn.bias)" ]
	# ... and every tensor it does hold equals the torch checkpoint's.
	qf-extract weights --raw -o st.qft "$SHARED/fixtures/gpt2-tiny/model.safetensors"
	qf-extract weights --raw -o pt.qft "$SHARED/fixtures/gpt2-tiny/pytorch_model.bin"
	qf-cat -x config --to npz -o st.npz st.qft
	qf-cat -x config --to npz -o pt.npz pt.qft
	py '
import numpy as np
a = np.load("st.npz"); b = np.load("pt.npz")
assert len(a.files) == 48, len(a.files)
for k in a.files:
    assert a[k].tobytes() == b[k].tobytes() and a[k].shape == b[k].shape, k
missing = sorted(set(b.files) - set(a.files))
assert all(k.endswith("attn.c_attn.bias") or k.endswith("attn.bias") for k in missing), missing
'
}

@test "a torch checkpoint, its f16 and bf16 twins, prefixed or not, all map to the same canonical tensors" {
	check_against "$GEN/hf/pytorch_model.bin" "$GEN/canon_f32.npz"
	check_against "$GEN/plain_f16.pt" "$GEN/canon_f16.npz"
	check_against "$GEN/plain_f16.pt" canon_f16_as_f32.npz -t f32
	check_against "$GEN/prefixed_bf16.pt" canon_f32_via_bf16.npz -t f32
}

@test "safetensors single and sharded, GGUF F32 and Q8_0, .npz: the same canonical tensors" {
	check_against "$GEN/hf" "$GEN/canon_f32.npz"
	check_against "$GEN/model.safetensors" "$GEN/canon_f32.npz"
	check_against "$GEN/sharded" "$GEN/canon_f32.npz"
	check_against "$GEN/model-f32.gguf" "$GEN/canon_f32.npz"
	check_against "$GEN/model-q8_0.gguf" "$GEN/canon_q8_0.npz"
	check_against "$GEN/state.npz" "$GEN/canon_f32.npz"
}

@test "the config record agrees across formats" {
	for ck in "$GEN/hf" "$GEN/model.safetensors" "$GEN/model-f32.gguf" "$GEN/sharded"; do
		qf-extract weights -l "$ck" | head -1 | cut -f5 | sed 's/ source_format=.*//'
	done | sort -u > configs.txt
	run cat configs.txt
	assert_output "kind=config arch=gpt2 n_layer=2 n_embd=32 n_head=4 n_ctx=16 n_inner=64 vocab_size=61 layer_norm_epsilon=1e-05 activation=gelu_new tie_word_embeddings=true"
}

@test "an untied head is written as head.weight" {
	check_against "$GEN/untied.pt" "$GEN/canon_untied.npz"
	run bash -c "qf-extract weights -l '$GEN/untied.pt' | cut -f1 | tail -1"
	assert_output head.weight
}

@test "the same checkpoint gives the same bytes every time" {
	qf-extract weights -o r1.qft "$GEN/hf"
	qf-extract weights -o r2.qft "$GEN/hf"
	cmp r1.qft r2.qft
}

@test "bad checkpoints: one line, exit 1, no output file" {
	printf 'not a model' > junk.bin
	run --separate-stderr qf-extract weights -o out.qft junk.bin
	assert_failure 1
	[ "$stderr" = "qf-extract: junk.bin: not a checkpoint qf reads (safetensors, torch zip, GGUF, npy, npz)" ]
	[ ! -e out.qft ]
	run --separate-stderr qf-extract weights -o out.qft "$GEN/extra.pt"
	assert_failure 1
	[[ $stderr == *"tensor transformer.h.0.attn.rotary.weight: not a GPT-2 parameter (qf-extract --raw keeps every tensor as it is)" ]]
	run --separate-stderr qf-extract weights -o out.qft "$GEN/missing.pt"
	assert_failure 1
	[[ $stderr == *"missing tensor for layer 1 mlp.out.weight (h.N.mlp.c_proj.weight)" ]]
	run --separate-stderr qf-extract weights -o out.qft "$GEN/badshape"
	assert_failure 1
	[[ $stderr == *"config says n_embd=48 but the tensors say 32" ]]
	for f in "$TESTS_DIR"/data/torch/evil_*.pt; do
		run --separate-stderr qf-extract weights -o out.qft "$f"
		assert_failure 1
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ $stderr == *"is not allowed" || $stderr == *"is not supported" ]]
	done
	[ ! -e out.qft ]
	# truncated copies of a real checkpoint
	for n in 100 1000 5000; do
		head -c $n "$GEN/model.safetensors" > cut.safetensors
		run --separate-stderr qf-extract weights -o out.qft cut.safetensors
		assert_failure 1
		[ "${#stderr_lines[@]}" -eq 1 ]
	done
	[ ! -e out.qft ]
}

@test "the man page examples run" {
	mkdir -p ex && cd ex
	cp -r "$GEN/hf" gpt2-tiny
	printf 'Kaikki ihmiset syntyvät vapaina.\n' > fin.txt
	cp "$TESTS_DIR/../pipelines/data/gpt2/encoder.json" "$TESTS_DIR/../pipelines/data/gpt2/vocab.bpe" .
	tar czf udhr.tgz fin.txt
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$TESTS_DIR/../docs/man/qf-extract.1" |
		grep -E '^qf-extract ' | sed 's/\\-/-/g' > examples.sh
	[ "$(wc -l < examples.sh)" -ge 4 ]
	run bash -e examples.sh
	assert_success
	qf-extract --help | sed -n 's/^  \(qf-extract .*\)$/\1/p' > help.sh
	while read -r line; do grep -qxF -- "$line" examples.sh; done < help.sh
}

@test "listing a 4 GiB checkpoint reads only its header" {
	py '
import json, struct
h = json.dumps({"big": {"dtype": "F32", "shape": [1024, 1048576],
                        "data_offsets": [0, 4 << 30]}}).encode()
h += b" " * (-len(h) % 8)
with open("big.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.truncate(8 + len(h) + (4 << 30))   # sparse: no data written
'
	# what it read: rchar of /proc/PID/io, taken once it has exited and
	# before it is reaped (a state, not a time)
	run py '
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:])
os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
io = dict(l.split(": ") for l in open("/proc/%d/io" % p.pid).read().splitlines())
open("rchar", "w").write(io["rchar"] + "\n")
sys.exit(p.wait())' qf-extract weights --raw -l big.safetensors
	assert_success
	assert_line --index 1 $'big\tf32\t[1024, 1048576]\t4294967296\tsrc_type=F32'
	[ "$(cat rchar)" -lt $((16 << 20)) ]	# of 4 GiB
	rm -f big.safetensors
}

@test "an expanded torch view is read only up to 64 MiB: a 409-byte file of 4 GiB is refused at once" {
	py '
import collections, torch
big = torch.zeros(1).expand(32768, 32768)
ok = torch.arange(3.0).view(3, 1).expand(3, 1000)
torch.save(collections.OrderedDict(w=big), "expanded.pt")
torch.save(collections.OrderedDict(w=ok), "small_expanded.pt")
'
	run --separate-stderr timeout 20 qf-extract weights --raw -o out.qft expanded.pt
	assert_failure 1
	[ "$stderr" = "qf-extract: expanded.pt: tensor w: an expanded view of 1073741824 elements over expanded/data/0 of 1 elements is larger than the 64 MiB qf materialises" ]
	[ ! -e out.qft ]
	run --separate-stderr timeout 20 qf-extract weights --raw -l expanded.pt
	assert_failure 1
	# a small one is materialised, as torch would
	qf-extract weights --raw -o small.qft small_expanded.pt
	qf-cat -x config --to npz -o small.npz small.qft
	py '
import numpy as np
a = np.load("small.npz")["w"]
assert a.shape == (3, 1000) and (a == np.arange(3.0, dtype=np.float32)[:, None]).all()
'
}

@test "config.json values are checked at extraction: one line naming the file and key, exit 1" {
	bad_config() {	# 'KEY: VALUE' -> expected message tail
		rm -rf m && cp -r "$GEN/hf" m
		py '
import json, sys
d = json.load(open("m/config.json"))
k, v = sys.argv[1].split(": ", 1)
d[k] = "@@"	# the value as written, 1e999 included
open("m/config.json", "w").write(json.dumps(d).replace("\"@@\"", v))
' "$1"
		run --separate-stderr qf-extract weights -o out.qft m
		assert_failure 1
		[ "$stderr" = "qf-extract: m/config.json: $2" ]
		[ ! -e out.qft ]
	}
	bad_config 'layer_norm_epsilon: "x"' "key layer_norm_epsilon: a string, not a number"
	bad_config 'layer_norm_epsilon: -1' "key layer_norm_epsilon: '-1' is not a finite number between 0 and 1"
	bad_config 'layer_norm_epsilon: 1e999' "key layer_norm_epsilon: '1e999' is not a finite number between 0 and 1"
	bad_config 'layer_norm_epsilon: 0' "key layer_norm_epsilon: '0' is not a finite number between 0 and 1"
	bad_config 'n_head: 0' "key n_head: '0' is not a whole number from 1 to 2147483647"
	bad_config 'n_head: 5' "n_embd 32 is not a multiple of n_head 5"
	bad_config 'n_head: [4]' "key n_head: an array, not a number"
	bad_config 'n_layer: -2' "key n_layer: '-2' is not a whole number from 1 to 2147483647"
	bad_config 'vocab_size: 61.5' "key vocab_size: '61.5' is not a whole number from 1 to 2147483647"
	bad_config 'n_embd: "32"' "key n_embd: a string, not a number"
	bad_config 'n_inner: true' "key n_inner: true, not a number"
	# the raw listing reads the same config
	run --separate-stderr qf-extract weights --raw -l m
	assert_failure 1
	# n_inner may be null (4 n_embd); good values pass
	rm -rf m && cp -r "$GEN/hf" m
	py '
import json
d = json.load(open("m/config.json")); d["n_inner"] = None; d["layer_norm_epsilon"] = 1e-6
open("m/config.json", "w").write(json.dumps(d))
'
	run qf-extract weights -l m
	assert_success
	assert_line --index 0 --partial "n_head=4 n_ctx=16 n_inner=64 vocab_size=61 layer_norm_epsilon=1e-06"
}

@test "-j: the same bytes for any number of compression threads" {
	qf-extract weights -j 1 -t f32 -o j1.qft "$TESTS_DIR/data/extract/hf"
	qf-extract weights -j 3 -t f32 -o j3.qft "$TESTS_DIR/data/extract/hf"
	cmp j1.qft j3.qft
	run --separate-stderr qf-extract weights -j x -o j.qft "$TESTS_DIR/data/extract/hf"
	assert_failure 2
}
