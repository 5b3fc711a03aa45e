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
	assert_line --index 0 "Usage: qf-act -m MODEL [OPTION]... [TOKENS]"
}

@test "--version names the tool and version" {
	run qf-act --version
	assert_success
	assert_output --regexp '^qf-act \(qf\) [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "resid_post of every layer equals torch's hidden states" {
	qf-act -m model.qft -j 1 -o s.qft tokens.qft
	run qf-cat -l s.qft
	assert_line --index 0 --partial $'state.0.0.resid_post\tf32\t[32, 48]'
	assert_line --index 0 --partial 'lang=eng doc=0 source=a.txt'
	assert_line --index 0 --regexp 'tokens=32 kind=state layer=0 site=resid_post reduce=none$'
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

@test "the man page examples run" {
	cp tokens.qft tok.qft
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$TESTS_DIR/../docs/man/qf-act.1" |
		grep -E '^qf-act ' | sed 's/\\-/-/g; s/\\(aq/'"'"'/g' > examples.sh
	[ "$(wc -l < examples.sh)" -ge 4 ]
	run bash -e -o pipefail examples.sh
	assert_success
	qf-act --help | sed -n 's/^  \(qf-act .*\)$/\1/p' > help.sh
	while read -r line; do grep -qxF -- "$line" examples.sh; done < help.sh
}
