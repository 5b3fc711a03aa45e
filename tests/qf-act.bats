#!/usr/bin/env bats
# qf-act: states, reductions, windows, attention statistics and NLL of
# the model fixture tests/data/model/a.qft, checked against what torch
# computed for it (a.npz, tests/data/model/gen_model.py), and bad input.

load common

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	A="$TESTS_DIR/data/model/a.npz"
	GEN="$PY $TESTS_DIR/data/act/gen_tokens.py"
	cp "$TESTS_DIR/data/model/a.qft" model.qft
	$GEN "$A" tokens.qft
	$GEN "$A" bad.qft bad
	$GEN "$A" empty.qft empty
	cp "$A" ref.npz
	# a second model of the fixture's shape and torch's NLL of the
	# fixture model patched with its states
	$PY "$TESTS_DIR/data/act/gen_patch.py" "$A" model2.qft patch.npz
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

# Compare record NAME of stream FILE with a numpy expression EXPR of the
# reference z (max |c - ref| / max |ref| <= 1e-4, as docs/runtime.md).
close_to() {
	qf-cat --to npy -n "$2" -o got.npy "$1"
	py "
import numpy as np
z = np.load('ref.npz')
got = np.load('got.npy')
ref = np.asarray($3, dtype=np.float64)
assert got.shape == ref.shape, (got.shape, ref.shape)
err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
assert err <= 1e-4, err
"
}

@test "--help prints the synopsis and exits 0" {
	run qf-act --help
	assert_success
	assert_line --index 0 "Usage: qf-act -m MODEL [OPTION]... [TOKENS]..."
}

@test "--version names the tool and version" {
	run qf-act --version
	assert_success
	assert_line --index 0 --regexp '^qf-act \(qf\) [0-9]+\.[0-9]+\.[0-9]+$'
	assert_line --index 1 --regexp '^qf=[0-9.]+ tool=qf-act '	# formats/provenance.md
}

@test "resid_post of every layer equals torch's hidden states" {
	qf-act -m model.qft -j 1 -o s.qft tokens.qft
	run qf-cat -l s.qft
	assert_line --index 0 --partial $'state.0.0.resid_post\tf32\t[32, 48]'
	assert_line --index 0 --partial 'lang=eng doc=0 source=a.txt'
	assert_line --index 0 --regexp 'tokens=32 kind=state layer=0 site=resid_post reduce=none provenance="?qf=.*$'
	[ "${#lines[@]}" -eq 4 ]
	close_to s.qft state.0.0.resid_post "z['hidden'][1]"
	close_to s.qft state.0.1.resid_post "z['hidden'][2]"
}

@test "other sites equal torch's" {
	qf-act -m model.qft --layers 1 --sites resid_pre,ln1_out,attn_out,ln2_out,mlp_out -o s2.qft tokens.qft
	for s in resid_pre ln1_out attn_out ln2_out mlp_out; do
		close_to s2.qft state.0.1.$s "z['site_${s}_1']"
	done
	run qf-cat -l -a layer=0 s2.qft
	[ "${#lines[@]}" -eq 0 ]
}

@test "windows: every token's state once, as torch computes it in its window" {
	# window 32 stride 12 over the 150-token document: token p comes from
	# the window that first holds it; check against torch run on that window
	qf-act -m model.qft --window 32 --stride 12 --nll n.qft -o w.qft tokens.qft
	run qf-cat -l -n state.1.1.resid_post w.qft
	assert_output --partial '[150, 48]'
	close_to n.qft nll.1 "z['win_32_12']"
	close_to n.qft nll.0 "z['nll']"
	# the first window's states are a single pass over tokens 0..31, the
	# later ones differ from a single pass over the whole document's
	# prefix (torch's reference: the first 32 tokens of doc)
	py "
import numpy as np, sys
sys.path.insert(0, '$TESTS_DIR/ref'); import qftref
z = np.load('ref.npz')
d = z['doc'][:32].astype('<i4')
with open('d32.qft', 'wb') as f:
    qftref.write_stream(f, [('d', 8, [32], [], d.tobytes())])"
	qf-act -m model.qft -o d32.qft.out d32.qft
	qf-cat --to npy -n state.0.1.resid_post -o one.npy d32.qft.out
	qf-cat --to npy -n state.1.1.resid_post -o win.npy w.qft
	py "
import numpy as np
a, b = np.load('one.npy'), np.load('win.npy')
assert np.max(np.abs(a - b[:32])) / np.max(np.abs(a)) <= 1e-6
"
}

@test "mean reduction equals numpy's mean of the states" {
	qf-act -m model.qft --reduce mean -o m.qft tokens.qft
	close_to m.qft state.0.1.resid_post "z['hidden'][2].mean(axis=0)"
	run qf-cat -l m.qft
	assert_line --index 0 --partial $'\t[48]\t'
	assert_line --index 0 --partial 'reduce=mean'
}

@test "sample:K is reproducible with a seed, differs with another, and picks real rows" {
	qf-act -m model.qft --reduce sample:5 --seed 3 -o s1.qft tokens.qft
	qf-act -m model.qft --reduce sample:5 --seed 3 -o s2.qft tokens.qft
	qf-act -m model.qft --reduce sample:5 --seed 4 -o s3.qft tokens.qft
	cmp s1.qft s2.qft
	p1=$(qf-cat -l s1.qft | sed 's/.*positions=//')
	p3=$(qf-cat -l s3.qft | sed 's/.*positions=//')
	[ "$p1" != "$p3" ]
	pos=$(qf-cat -l -n state.0.1.resid_post s1.qft | sed 's/.*positions=\([0-9,]*\).*/\1/')
	[ "$(echo "$pos" | tr , '\n' | sort -un | wc -l)" -eq 5 ]
	close_to s1.qft state.0.1.resid_post "z['hidden'][2][[$pos]]"
	# K beyond the document: every position
	qf-act -m model.qft --reduce sample:40 --seed 3 -o s4.qft tokens.qft
	close_to s4.qft state.0.0.resid_post "z['hidden'][1]"
}

@test "sample without --seed is misuse" {
	run --separate-stderr qf-act -m model.qft --reduce sample:3 tokens.qft
	assert_failure 2
}

@test "attention statistics equal numpy's from torch's probabilities" {
	qf-act -m model.qft --attn-stats --sink-eps 0.1 -o at.qft tokens.qft
	close_to at.qft attn.0 "
[[[(-(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(-1)).mean(),
   p[:, 0].mean()] for p in z['attn_%d' % l]] for l in range(2)]"
	# sink rate: share of heads whose mean mass on token 0 exceeds eps
	want=$(py "
import numpy as np
z = np.load('ref.npz')
m = np.array([[p[:, 0].mean() for p in z['attn_%d' % l]] for l in range(2)])
print('%.9g %.9g' % ((m[0] > 0.1).mean(), (m > 0.1).mean()))")
	run qf-cat -l -n attn.0 at.qft
	assert_output --partial "sink_rate.0=${want% *}"
	assert_output --partial "sink_rate=${want#* }"
}

@test "bad token id: one line naming the document and position" {
	run --separate-stderr qf-act -m model.qft -o x.qft bad.qft
	assert_failure 1
	[ "$stderr" = "qf-act: bad.qft: record doc.2 (doc 7): token id 97 at position 5 out of range (vocab_size 97)" ]
	[ ! -e x.qft ]
}

@test "empty document is an error" {
	run --separate-stderr qf-act -m model.qft -o x.qft empty.qft
	assert_failure 1
	[ "$stderr" = "qf-act: empty.qft: record doc.2 (doc 8): empty document" ]
}

@test "a model with a missing tensor: the loader's message" {
	qf-cat -x layers.1.ln2.bias -o broken.qft model.qft
	run --separate-stderr qf-act -m broken.qft tokens.qft
	assert_failure 1
	[[ $stderr == "qf-act: broken.qft: record layers.1.ln2.bias: missing" ]]
}

@test "unknown site, layer out of range, bad window: misuse" {
	run --separate-stderr qf-act -m model.qft --sites bogus tokens.qft
	assert_failure 2
	[[ $stderr == *"unknown site 'bogus'"* ]]
	run --separate-stderr qf-act -m model.qft --layers 0,2 tokens.qft
	assert_failure 2
	[[ $stderr == *"layer 2 out of range"* ]]
	run --separate-stderr qf-act -m model.qft --window 33 tokens.qft
	assert_failure 2
	run --separate-stderr qf-act tokens.qft
	assert_failure 2
}

# NLL of document 0 in stream FILE against torch's patch.npz[KEY].
nll_is() {
	qf-cat --to npy -n nll.0 -o got.npy "$1"
	py "
import numpy as np
got, ref = np.load('got.npy'), np.load('patch.npz')['$2']
clean = np.load('ref.npz')['nll']
assert np.max(np.abs(got - ref)) / np.max(np.abs(ref)) <= 1e-4
assert np.max(np.abs(clean - ref)) > 0.5   # the patch matters
"
}

@test "state records carry the FNV-1a hash of their tokens" {
	qf-act -m model.qft --layers 0 -o h.qft tokens.qft
	want=$(py "
import numpy as np
h = 0xcbf29ce484222325
for b in np.load('ref.npz')['tokens'].astype('<i4').tobytes():
    h = ((h ^ b) * 0x100000001b3) % 2**64
print('%016x' % h)")
	run qf-cat -l -n state.0.0.resid_post h.qft
	assert_output --partial " tokens_fnv=$want tokens=32 "
}

@test "--patch: another model's states restored, as torch computes it" {
	# doc 1 runs in windows: FROM per window
	qf-act -m model2.qft --sites resid_post,attn_out --per-window -o from2.qft tokens.qft
	qf-act -m model.qft --layers 0 --patch from2.qft --nll p0.qft -o p0s.qft tokens.qft
	nll_is p0.qft p0
	# the patched states are written as they are used: FROM's
	qf-cat --to npy -n state.0.0.resid_post -o a.npy p0s.qft
	qf-cat --to npy -n state.0.0.resid_post.w0 -o b.npy from2.qft
	py "
import numpy as np
assert np.array_equal(np.load('a.npy'), np.load('b.npy'))"
	qf-act -m model.qft --layers 0 --positions 3,4,5,20,400 --patch from2.qft --nll p0pos.qft -o /dev/null tokens.qft
	nll_is p0pos.qft p0pos
	qf-act -m model.qft --layers 1 --sites attn_out --positions 2,7 --patch from2.qft --nll p1.qft -o /dev/null tokens.qft
	nll_is p1.qft p1attn
}

@test "--patch in windows: each window gets FROM's states of that window, as torch computes it" {
	# doc 1 (150 tokens) runs in windows of 32, stride 12; doc 0 in one
	qf-act -m model2.qft --window 32 --stride 12 --per-window --layers 0 -o from2w.qft tokens.qft
	qf-act -m model.qft --window 32 --stride 12 --layers 0 --patch from2w.qft -j 1 --nll pw.qft -o pws.qft tokens.qft
	qf-act -m model.qft --window 32 --stride 12 --layers 0 --patch from2w.qft -j 3 --nll pw3.qft -o /dev/null tokens.qft
	cmp pw.qft pw3.qft
	nll_is pw.qft p0
	qf-cat --to npy -n nll.1 -o got.npy pw.qft
	py "
import numpy as np
got, ref = np.load('got.npy'), np.load('patch.npz')['p0win']
clean = np.load('ref.npz')['win_32_12']
assert got.shape == ref.shape == (149,)
assert np.max(np.abs(got - ref)) / np.max(np.abs(ref)) <= 1e-4
assert np.max(np.abs(clean - ref)) > 0.5   # the patch matters
"
	# the patched states are written as they are used: FROM's, per token
	run qf-cat -l -n state.1.0.resid_post pws.qft
	assert_output --partial '[150, 48]'
}

@test "--per-window: the states of every window, each as torch computes it over that window" {
	qf-act -m model.qft --window 16 --stride 8 --per-window --layers 1 --sites resid_post,mlp_act -o pw.qft tokens.qft
	run qf-cat -l -n 'state.0.*' pw.qft
	[ "${#lines[@]}" -eq 6 ]
	# by layer, site (in the order of the network), then window
	assert_line --index 0 --partial $'state.0.1.mlp_act.w0\tf32\t[16, 192]'
	assert_line --index 3 --partial $'state.0.1.resid_post.w0\tf32\t[16, 48]'
	assert_line --index 5 --regexp 'state\.0\.1\.resid_post\.w2.* tokens=32 kind=state layer=1 site=resid_post reduce=none window=2 begin=16 end=32 '
	# doc 1: 150 tokens, windows [8k, min(8k + 16, 150)), k = 0 .. 17
	run qf-cat -l -n 'state.1.1.resid_post.*' pw.qft
	[ "${#lines[@]}" -eq 18 ]
	assert_line --index 17 --regexp $'^state\\.1\\.1\\.resid_post\\.w17\tf32\t\\[14, 48\\].* window=17 begin=136 end=150 '
	for k in 0 1 2; do
		qf-cat --to npy -n state.0.1.resid_post.w$k -o w$k.npy pw.qft
		qf-cat --to npy -n state.0.1.mlp_act.w$k -o m$k.npy pw.qft
	done
	py "
import numpy as np, sys
sys.path.insert(0, '$TESTS_DIR/data/act'); import gen_patch as gp
cfg = {'n_layer': 2, 'n_embd': 48, 'n_head': 3, 'n_ctx': 32, 'n_inner': 192,
       'vocab_size': 97, 'layer_norm_epsilon': 1e-5, 'tie_word_embeddings': True}
W, _ = gp.read_weights('model.qft')
tok = np.load('ref.npz')['tokens']
for k in range(3):
    r = gp.gm.forward(W, cfg, tok[8 * k:8 * k + 16])
    for f, site in (('w', 'resid_post'), ('m', 'mlp_act')):
        got = np.load('%s%d.npy' % (f, k))
        ref = r['sites'][(1, site)].numpy()
        assert got.shape == ref.shape, (got.shape, ref.shape)
        assert gp.rel_err(got, ref) <= 1e-4, (k, site, gp.rel_err(got, ref))
"
	run --separate-stderr qf-act -m model.qft --per-window --reduce mean tokens.qft
	assert_failure 2
	[[ $stderr == *"--per-window is only for --reduce none"* ]]
}

# Protect and patch: the quantized model (its block linears, the default)
# with the full-precision model's resid_post of layer L patched in at
# every position of every window, against the model whose layers 0..L are
# kept in full precision: the same computation, so the same NLL token by
# token (to f32 rounding), in every window.
@test "--patch in windows: full-precision resid_post of layer L into the quantized model is keeping layers 0..L" {
	cp "$TESTS_DIR/data/model/b.qft" b.qft	# 3 layers, n_ctx 128
	py "
import numpy as np, sys
sys.path.insert(0, '$TESTS_DIR/ref'); import qftref
rng = np.random.default_rng(20)
with open('long.qft', 'wb') as f:
    qftref.write_stream(f, [('d.%d' % i, 8, [n], [('doc', str(i))],
                             rng.integers(0, 512, n).astype('<i4').tobytes())
                            for i, n in enumerate([45, 70, 12])])"
	qf-quantize -b 3 -o q.qft b.qft
	qf-act -m q.qft --window 16 --stride 8 --layers 0 --nll nq.qft -o /dev/null long.qft
	for L in 0 1; do
		keep=$(seq -s, 0 $L)
		qf-quantize -b 3 --protect-layers "$keep" -o k$L.qft b.qft
		qf-act -m b.qft --window 16 --stride 8 --per-window --layers $L -o fp$L.qft long.qft
		qf-act -m q.qft --window 16 --stride 8 --layers $L --patch fp$L.qft --nll np$L.qft -o /dev/null long.qft
		qf-act -m k$L.qft --window 16 --stride 8 --layers $L --nll nk$L.qft -o /dev/null long.qft
		for d in 0 1 2; do
			for f in nq np$L nk$L; do
				qf-cat --to npy -n nll.$d -o $f.$d.npy $f.qft
			done
		done
	done
	py "
import numpy as np
for L in (0, 1):
    for d, n in enumerate([45, 70, 12]):
        p, k = np.load('np%d.%d.npy' % (L, d)), np.load('nk%d.%d.npy' % (L, d))
        q = np.load('nq.%d.npy' % d)
        assert p.shape == (n - 1,)
        # window by window: window j > 0 scores targets [8j + 8,
        # min(8j + 16, n)), the first [1, 16) (docs/runtime.md)
        cut = [1] + list(range(16, n, 8)) + [n]
        for lo, hi in zip(cut, cut[1:]):
            a, b = p[lo - 1:hi - 1], k[lo - 1:hi - 1]
            assert np.max(np.abs(a - b)) <= 1e-5 * np.max(np.abs(b)), (L, d, lo)
        assert np.max(np.abs(q - k)) > 0.1   # the quantization matters
"
	# states of the whole document cannot be patched into windows
	qf-act -m b.qft --window 16 --stride 8 --layers 0 -o doc0.qft long.qft
	run --separate-stderr qf-act -m q.qft --window 16 --stride 8 --layers 0 --patch doc0.qft -o x.qft long.qft
	assert_failure 1
	[ "$stderr" = "qf-act: doc0.qft: record state.0.0.resid_post: states of the whole document, but long.qft: record d.0 (doc 0) runs in 5 windows: patching in windows needs states per window (qf-act --per-window)" ]
	[ ! -e x.qft ]
	# nor states of other windows
	run --separate-stderr qf-act -m q.qft --window 16 --stride 4 --layers 0 --patch fp0.qft -o x.qft long.qft
	assert_failure 1
	[ "$stderr" = "qf-act: fp0.qft: record state.0.0.resid_post.w1: not a window of this run (--window 16 --stride 4 over long.qft: record d.0 (doc 0)): FROM needs the same --window and --stride" ]
	# nor a window missing
	qf-cat -n 'state.0.0.resid_post.w[0-3]' -n 'state.[12].*' -o part.qft fp0.qft
	run --separate-stderr qf-act -m q.qft --window 16 --stride 8 --layers 0 --patch part.qft -o x.qft long.qft
	assert_failure 1
	[ "$stderr" = "qf-act: part.qft: no state.0.0.resid_post.w4 for long.qft: record d.0 (doc 0)" ]
	[ ! -e x.qft ]
}

@test "--patch: other tokens, a missing state, another order, misuse" {
	py "
import numpy as np, sys
sys.path.insert(0, '$TESTS_DIR/ref'); import qftref
z = np.load('ref.npz')
t = z['tokens'].astype('<i4').copy(); t[7] = (t[7] + 1) % 97
d = z['doc'].astype('<i4')
with open('other.qft', 'wb') as f:
    qftref.write_stream(f, [('x.0', 8, [32], [('doc', '0')], t.tobytes()),
                            ('x.1', 8, [150], [('doc', '1')], d.tobytes())])
with open('swapped.qft', 'wb') as f:
    qftref.write_stream(f, [('x.1', 8, [150], [('doc', '1')], d.tobytes()),
                            ('x.0', 8, [32], [('doc', '0')], z['tokens'].astype('<i4').tobytes())])"
	qf-act -m model.qft -o fo.qft other.qft
	run --separate-stderr qf-act -m model.qft --patch fo.qft -o x.qft tokens.qft
	assert_failure 1
	[ "$stderr" = "qf-act: fo.qft: record state.0.0.resid_post: made over other tokens than tokens.qft: record doc.0 (doc 0)" ]
	[ ! -e x.qft ]
	qf-act -m model.qft --layers 0 -o f0.qft tokens.qft
	run --separate-stderr qf-act -m model.qft --layers 1 --patch f0.qft -o x.qft tokens.qft
	assert_failure 1
	[ "$stderr" = "qf-act: f0.qft: no state.0.1.resid_post for tokens.qft: record doc.0 (doc 0)" ]
	# the documents of tokens.qft in the other order: document 0 of FROM
	# is tokens.qft's document 1, over other tokens
	qf-act -m model.qft -o fs.qft swapped.qft
	run --separate-stderr qf-act -m model.qft --patch fs.qft -o x.qft tokens.qft
	assert_failure 1
	[[ $stderr == "qf-act: fs.qft: record state.0.0.resid_post: made over other tokens than tokens.qft: record doc.0 (doc 0)" ]]
	# FROM skipping document 0
	qf-cat -n 'state.1.*' -o f1.qft fs.qft
	run --separate-stderr qf-act -m model.qft --patch f1.qft -o x.qft tokens.qft
	assert_failure 1
	[[ $stderr == "qf-act: f1.qft: no states of document 0 (tokens.qft: record doc.0 (doc 0)) before document 1: FROM must follow the input's document order" ]]
	run --separate-stderr qf-act -m model.qft --positions 1 tokens.qft
	assert_failure 2
}

@test "--corrupt: noise of K sigma, seeded, independent of threads and windows" {
	qf-act -m model.qft --layers 0 --sites resid_pre -o clean.qft tokens.qft
	qf-act -m model.qft --layers 0 --sites resid_pre --corrupt 2 --seed 5 -j 1 -o c1.qft tokens.qft
	qf-act -m model.qft --layers 0 --sites resid_pre --corrupt 2 --seed 5 -j 3 -o c2.qft tokens.qft
	qf-act -m model.qft --layers 0 --sites resid_pre --window 20 --stride 7 -o cleanw.qft tokens.qft
	qf-act -m model.qft --layers 0 --sites resid_pre --corrupt 2 --seed 5 --window 20 --stride 7 -o cw.qft tokens.qft
	qf-act -m model.qft --layers 0 --sites resid_pre --corrupt 2 --seed 6 -o c3.qft tokens.qft
	cmp c1.qft c2.qft
	! cmp -s c1.qft c3.qft
	qf-cat --to npy -n tok_emb.weight -o emb.npy model.qft
	for n in 0 1; do
		for f in clean c1 c3 cleanw cw; do
			qf-cat --to npy -n state.$n.0.resid_pre -o $f.$n.npy $f.qft
		done
	done
	py "
import numpy as np
s = np.load('emb.npy').astype(np.float64).std()
c = np.concatenate([np.load('c1.%d.npy' % n) - np.load('clean.%d.npy' % n) for n in (0, 1)])
c3 = np.concatenate([np.load('c3.%d.npy' % n) - np.load('clean.%d.npy' % n) for n in (0, 1)])
assert c.size == 182 * 48
assert abs(c.std() / (2 * s) - 1) < 0.03, c.std() / (2 * s)
assert abs(c.mean()) < 0.05 * 2 * s
assert abs(np.corrcoef(c.ravel(), c3.ravel())[0, 1]) < 0.05
# the noise of a position is the same in any window
cw = np.concatenate([np.load('cw.%d.npy' % n) - np.load('cleanw.%d.npy' % n) for n in (0, 1)])
assert np.max(np.abs(cw - c)) <= 1e-5 * np.max(np.abs(c))
"
	# K = 0: the clean run, bit for bit, NLL included
	qf-act -m model.qft --nll n.qft -o s.qft tokens.qft
	qf-act -m model.qft --corrupt 0 --seed 5 --nll n0.qft -o s0.qft tokens.qft
	cmp s.qft s0.qft
	cmp n.qft n0.qft
	run --separate-stderr qf-act -m model.qft --corrupt 2 tokens.qft
	assert_failure 2
	[[ $stderr == *"--corrupt K needs --seed N"* ]]
}

@test "--corrupt with --patch: restoring the clean states of the last layer restores the NLL" {
	# doc 1 runs in windows: the clean states of each window restored
	qf-act -m model.qft --layers 1 --per-window -o clean1.qft tokens.qft
	qf-act -m model.qft --nll n.qft -o /dev/null tokens.qft
	qf-act -m model.qft --corrupt 3 --seed 1 --nll nc.qft -o /dev/null tokens.qft
	qf-act -m model.qft --corrupt 3 --seed 1 --layers 1 --patch clean1.qft --nll nr.qft -o /dev/null tokens.qft
	for d in 0 1; do
		for f in n nc nr; do qf-cat --to npy -n nll.$d -o $f.npy $f.qft; done
		py "
import numpy as np
n, nc, nr = (np.load(f + '.npy') for f in ('n', 'nc', 'nr'))
assert np.max(np.abs(nc - n)) > 0.1
assert np.max(np.abs(nr - n)) <= 1e-5 * np.max(np.abs(n))
"
	done
}

@test "the man page examples run" {
	cp tokens.qft tok.qft
	cp tokens.qft more.qft
	qf-quantize -b 3 -o w3.qft model.qft
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$TESTS_DIR/../docs/man/qf-act.1" |
		grep -E '^qf-act ' | sed 's/\\-/-/g; s/\\(aq/'"'"'/g' > examples.sh
	[ "$(wc -l < examples.sh)" -ge 4 ]
	run bash -e -o pipefail examples.sh
	assert_success
	qf-act --help | sed -n 's/^  \(qf-act .*\)$/\1/p' > help.sh
	while read -r line; do grep -qxF -- "$line" examples.sh; done < help.sh
}

# Misuse: exit 2, the message (first line) and the pointer to --help.
misuse() {
	local want=$1
	shift
	rm -f x.qft
	run --separate-stderr qf-act -m model.qft "$@" -o x.qft tokens.qft
	echo "qf-act $*: $status: $stderr"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "qf-act: $want" ]
	[ "${stderr_lines[1]}" = "Try 'qf-act --help' for more information." ]
	[ ! -e x.qft ]
}

@test "lists with nothing or an empty item are misuse naming the option (they selected nothing)" {
	misuse "--layers: empty item in ''" -L ''
	misuse "--layers: empty item in ',,1'" -L ',,1'
	misuse "--layers: empty item in '1,'" --layers 1,
	misuse "--sites: empty item in ',resid_post'" -S ,resid_post
	misuse "--sites: empty item in ''" --sites ''
	misuse "--positions: empty item in '1,,2'" --patch tokens.qft --positions 1,,2
	misuse "--layers: invalid number 'fin'" -L fin
}

@test "--sink-eps without --attn-stats is misuse" {
	misuse "--sink-eps is only for --attn-stats" --sink-eps 0.2
	qf-act -m model.qft --attn-stats --sink-eps 0.2 -o x.qft tokens.qft
	run qf-cat -l -n attn.0 x.qft
	assert_output --partial ' sink_eps=0.2 '
}

@test "the final norm: written when -L is absent or lists final, as torch computes it" {
	# -L without final: no final norm, whatever the sites
	qf-act -m model.qft -L 0,1 -o s.qft tokens.qft
	run qf-cat -l -a site=final_norm s.qft
	assert_output ''
	qf-act -m model.qft -L final -S final_norm -o f.qft tokens.qft
	run qf-cat -l f.qft
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 0 --partial $'state.0.2.final_norm\tf32\t[32, 48]'
	assert_line --index 0 --partial ' layer=2 site=final_norm '
	close_to f.qft state.0.2.final_norm "z['final_norm']"
	# all layers (no -L): the final norm with the blocks
	qf-act -m model.qft -S resid_post,final_norm -o a.qft tokens.qft
	qf-act -m model.qft -L 0,1,final -S resid_post,final_norm -o b.qft tokens.qft
	cmp a.qft b.qft
	[ "$(qf-cat -l a.qft | wc -l)" -eq 6 ]
	# a choice that selects nothing in a layer or a site
	misuse "--sites final_norm: its layer, final, is not in --layers" -L 0 -S resid_post,final_norm
	misuse "--layers final: its one site, final_norm, is not in --sites" -L 1,final
	misuse "--sites: no layer of a block in --layers for the sites other than final_norm" -L final -S final_norm,mlp_out
	misuse "--layers: no site of a block in --sites for the layers other than final" -L 0,final -S final_norm
	misuse "--layers: layer 2 out of range (the model has 2)" -L 2,final -S resid_post,final_norm
	# --patch with the final norm's own states of every window: the same
	# NLL (its rows are patched with what they are)
	qf-act -m model.qft -L final -S final_norm --per-window -o fw.qft tokens.qft
	qf-act -m model.qft -L final -S final_norm --patch fw.qft --nll pn.qft -o pf.qft tokens.qft
	qf-act -m model.qft --nll n.qft -o /dev/null tokens.qft
	cmp <(qf-cat -n 'nll.*' --to tsv n.qft) <(qf-cat -n 'nll.*' --to tsv pn.qft)
	cmp f.qft pf.qft
}

@test "several token streams: documents numbered across them, as their concatenation" {
	py "
import sys
sys.path.insert(0, '$TESTS_DIR/ref'); import qftref
recs = list(qftref.read_records(open('tokens.qft', 'rb')))
for i, r in enumerate(recs):
    with open('part%d.qft' % i, 'wb') as f:
        qftref.write_stream(f, [r])"
	qf-act -m model.qft --attn-stats --nll n1.qft -o s1.qft tokens.qft
	qf-act -m model.qft --attn-stats --nll n2.qft -o s2.qft part0.qft part1.qft
	qf-act -m model.qft --attn-stats --nll n3.qft -o s3.qft part0.qft - < part1.qft
	cmp s1.qft s2.qft
	cmp n1.qft n2.qft
	cmp s1.qft s3.qft
	run qf-cat -l -n state.1.0.resid_post s2.qft
	assert_output --partial ' record=doc.1 ordinal=1 '
	# --patch FROM follows the documents across the streams
	qf-act -m model2.qft -L 0 --per-window -o from2.qft tokens.qft
	qf-act -m model.qft -L 0 --patch from2.qft --nll p1.qft -o /dev/null tokens.qft
	qf-act -m model.qft -L 0 --patch from2.qft --nll p2.qft -o /dev/null part0.qft part1.qft
	cmp p1.qft p2.qft
	# a bad second stream: nothing written
	rm -f x.qft
	run --separate-stderr qf-act -m model.qft -o x.qft part0.qft nope.qft
	assert_failure 1
	[ "$stderr" = "qf-act: nope.qft: No such file or directory" ]
	[ ! -e x.qft ]
}

# A stream of one document of N tokens (ids below 97): long.qft.
long_doc() {
	py "
import numpy as np, sys
sys.path.insert(0, '$TESTS_DIR/ref'); import qftref
t = (np.arange($1, dtype=np.int64) * 7919 % 97).astype('<i4')
with open('long.qft', 'wb') as f:
    qftref.write_stream(f, [('doc.0', 8, [len(t)], [('lang', 'eng'), ('doc', '3')], t.tobytes())])"
}

ALL_SITES=resid_pre,ln1_out,attn_z,attn_out,resid_mid,ln2_out,mlp_act,mlp_out,resid_post,final_norm

@test "a document whose states do not fit in memory: one line naming the file, record and size" {
	need_plain_build
	# 60 M tokens: their states at every site take 288 GB (4800 bytes a
	# token), more than the machine's memory; found before allocating
	mem=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
	[ "$mem" -lt 250000000 ] || skip "more than 250 GB of memory"
	long_doc 60000000
	rm -f x.qft
	run --separate-stderr qf-act -m model.qft -S $ALL_SITES -o x.qft long.qft
	assert_failure 1
	[[ $stderr == "qf-act: long.qft: record doc.0 (doc 3): the states of its 60000000 tokens take 288.0 GB, more than the machine's memory ("*" GB): choose fewer layers or sites, or reduce them" ]]
	[ ! -e x.qft ]
	# an allocation that fails says what it was for, and its size
	long_doc 3000000
	run --separate-stderr bash -c "ulimit -v 2000000; OPENBLAS_NUM_THREADS=1 qf-act -m model.qft -S $ALL_SITES -j 1 -o x.qft long.qft"
	assert_failure 1
	[ "$stderr" = "qf-act: long.qft: record doc.0 (doc 3): out of memory for its states (14400000000 bytes)" ]
	[ ! -e x.qft ]
	# reduced, the same document runs in the memory of its tokens
	run --separate-stderr bash -c "ulimit -v 2000000; OPENBLAS_NUM_THREADS=1 qf-act -m model.qft -S $ALL_SITES --reduce mean -j 1 -o x.qft long.qft"
	assert_success
	[ "$(qf-cat -l x.qft | wc -l)" -eq 19 ]
}

@test "--channel-stats: the linears' input channels over every token equal torch's" {
	$PY -c 'import torch' 2>/dev/null || skip "no torch"
	# default windows (32, stride 16: the 150-token document runs in
	# several) and others; each token once, from the first window that
	# holds it, as torch computes it there (data/act/chan_ref.py)
	qf-act -m model.qft --channel-stats c.qft --reduce mean -o /dev/null tokens.qft
	$PY "$TESTS_DIR/data/act/chan_ref.py" model.qft tokens.qft c.qft
	qf-act -m model.qft --window 20 --stride 7 --channel-stats c2.qft -L 0 -S ln1_out -o /dev/null tokens.qft
	$PY "$TESTS_DIR/data/act/chan_ref.py" model.qft tokens.qft c2.qft 20 7
	run qf-cat -l c.qft
	assert_success
	[ "${#lines[@]}" -eq 8 ]
	assert_line --index 0 --regexp $'^chan\\.0\\.ln1_out\tf64\t\\[48, 3\\]\t.*kind=chan_stats layer=0 site=ln1_out feeds=attn_qkv tokens=182 docs=2 n_layer=2 columns=mean_abs,mean_sq,max_abs provenance="?qf='
	assert_line --index 3 --partial $'chan.0.mlp_act\tf64\t[192, 3]'
	assert_line --index 7 --partial ' layer=1 site=mlp_act feeds=mlp_out '
}

@test "--channel-stats: the same bytes twice and with any -j; the states as without it" {
	qf-act -m model.qft -j 1 --channel-stats c1.qft --nll n1.qft -o s1.qft tokens.qft
	qf-act -m model.qft -j 2 --channel-stats c2.qft --nll n2.qft -o s2.qft tokens.qft
	qf-act -m model.qft -j 2 --channel-stats c3.qft -o /dev/null tokens.qft
	qf-act -m model.qft -j 1 --nll n0.qft -o s0.qft tokens.qft
	cmp c1.qft c2.qft
	cmp c1.qft c3.qft
	cmp s1.qft s2.qft
	cmp s0.qft s1.qft
	cmp n0.qft n1.qft
}

@test "--channel-stats: no tokens, a bad document, and misuse: nothing written" {
	qf-cat -n nothing -o none.qft tokens.qft
	rm -f c.qft x.qft
	run --separate-stderr qf-act -m model.qft --channel-stats c.qft -o x.qft none.qft
	assert_failure 1
	[ "$stderr" = "qf-act: no tokens to measure the channels over" ]
	[ ! -e c.qft ] && [ ! -e x.qft ]
	run --separate-stderr qf-act -m model.qft --channel-stats c.qft -o x.qft bad.qft
	assert_failure 1
	[ ! -e c.qft ] && [ ! -e x.qft ]
	misuse "-o and --channel-stats name the same file" --channel-stats ./x.qft
	misuse "--nll and --channel-stats name the same file" --nll c.qft --channel-stats c.qft
}
