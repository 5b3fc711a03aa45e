#!/usr/bin/env bats
# qf-train: end to end on a small byte-level corpus (three languages of
# the shipped UDHR training text): checkpoints every qf tool reads,
# determinism across reruns and threads, resume, the log, the mix, and
# bad input.  The gradients and the optimizer are checked against torch
# in tests/unit/test_train.c.

load common

# A small model: fast enough for a dozen runs.
SMALL="--layers 2 --d-model 32 --heads 4 --ctx 32 --batch 4"

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	U="$TESTS_DIR/../pipelines/data/udhr/train"
	qf-extract text -k bytes -o tokens.qft "$U/eng.txt" "$U/fin.txt" "$U/jpn.txt"
	printf 'lang\tweight\neng\t2\nfin\t1\n' > mix.tsv
	# three languages of 99, 19 and 19 bytes
	py "
import sys
sys.path.insert(0, '$TESTS_DIR/ref'); import qftref
docs = [('aaa', bytes(range(32, 131))), ('bbb', b'b' * 19), ('ccc', b'c' * 19)]
with open('short.qft', 'wb') as f:
    qftref.write_stream(f, [('doc.%d' % i, 8, [len(t)], [('lang', l)],
                             b''.join(x.to_bytes(4, 'little') for x in t))
                            for i, (l, t) in enumerate(docs)])"
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

# The log without its seconds column (wall time).
nosecs() {
	cut -f 1-5,7- "$1"
}

# No checkpoint, optimizer state, log or temporary file named NAME*.
nothing_left() {
	run bash -c "ls -a | grep -F '$1'"
	assert_output ''
}

@test "--help prints the synopsis and exits 0" {
	run qf-train --help
	assert_success
	assert_line --index 0 "Usage: qf-train -o CKPT --steps N [OPTION]... [TOKENS]"
}

@test "--version names the tool and version" {
	run qf-train --version
	assert_success
	assert_line --index 0 --regexp '^qf-train \(qf\) [0-9]+\.[0-9]+\.[0-9]+$'
	assert_line --index 1 --regexp '^qf=[0-9.]+ tool=qf-train '	# formats/provenance.md
}

@test "misuse: exit 2 with a pointer to --help" {
	for args in "--steps 2 tokens.qft" \
		    "-o x.qft tokens.qft" \
		    "--steps 2 -o - tokens.qft" \
		    "--bogus --steps 2 -o x.qft tokens.qft" \
		    "--steps 2 --d-model 30 --heads 4 -o x.qft tokens.qft" \
		    "--steps 2 --lr abc -o x.qft tokens.qft" \
		    "--steps 2 --stop-at 3 -o x.qft tokens.qft" \
		    "--steps 0 -o x.qft tokens.qft" \
		    "--resume a.qft --layers 2 -o x.qft tokens.qft" \
		    "--resume a.qft --seed 2 -o x.qft tokens.qft" \
		    "--init a.qft --resume b.qft -o x.qft tokens.qft" \
		    "--init a.qft --init-std 0.05 -o x.qft tokens.qft" \
		    "--steps 2 --init-std 0 -o x.qft tokens.qft" \
		    "--steps 2 --vocab 100 --sep 100 -o x.qft tokens.qft" \
		    "--steps 2 -j x -o x.qft tokens.qft" \
		    "--steps 2 -o x.qft a.qft b.qft"; do
		run --separate-stderr qf-train $args
		assert_failure 2
		[ "${#stderr_lines[@]}" -eq 2 ]
		[[ ${stderr_lines[0]} == "qf-train: "* ]]
		[ "${stderr_lines[1]}" = "Try 'qf-train --help' for more information." ]
	done
	nothing_left x.qft
}

@test "misuse: zero heads is refused, not a division by zero; messages name the option given" {
	run --separate-stderr qf-train --heads 0 --steps 1 -o x.qft tokens.qft
	assert_failure 2
	[ "${stderr_lines[0]}" = "qf-train: --heads: at least 1" ]
	# each message names its own option, whatever the option table's order
	for o in "--lr 5000" "--min-lr 5000" "--steps -1" "--seed x" "--init-std 99" \
		 "--warmup x" "--clip -1" "--weight-decay -1" "--stop-at x" \
		 "--checkpoint-every x" "--batch x" "--sep x" "--layers x" \
		 "--layers 0" "--d-model 0" "--ctx 0" "--vocab 0"; do
		run --separate-stderr qf-train $o --steps 1 -o x.qft tokens.qft
		assert_failure 2
		[[ ${stderr_lines[0]} == "qf-train: ${o%% *}: "* ]] ||
			{ echo "$o: ${stderr_lines[0]}"; false; }
	done
	nothing_left x.qft
}

@test "misuse: option values out of range exit 2 naming the option, as in qf-eval and qf-act" {
	for o in layers d-model heads ctx vocab; do
		run --separate-stderr qf-train $SMALL --$o 0 --steps 1 -o x.qft tokens.qft
		assert_failure 2
		[ "${stderr_lines[0]}" = "qf-train: --$o: at least 1" ]
	done
	# --sep against the vocabulary of the model given
	run --separate-stderr qf-train --init "$TESTS_DIR/data/model/a.qft" --sep 97 --steps 1 -o x.qft tokens.qft
	assert_failure 2
	[ "${stderr_lines[0]}" = "qf-train: --sep 97 out of range (vocab 97)" ]
	[ "${stderr_lines[1]}" = "Try 'qf-train --help' for more information." ]
	nothing_left x.qft
}

@test "bad input: a mix file larger than the limit (/dev/zero) is one line, memory bounded" {
	need_plain_build
	# ulimit: a reader without a limit would be killed, not say so
	run --separate-stderr bash -c "ulimit -v 4000000; timeout 120 qf-train $SMALL --steps 1 --mix /dev/zero -o out.qft tokens.qft"
	assert_failure 1
	[ "$stderr" = "qf-train: /dev/zero: larger than 16777216 bytes (the limit of a table)" ]
	nothing_left out.
	{ printf 'lang\tweight\n'; head -c 17000000 /dev/zero | tr '\0' '#'; } > big.tsv
	run --separate-stderr qf-train $SMALL --steps 1 --mix big.tsv -o out.qft tokens.qft
	assert_failure 1
	[ "$stderr" = "qf-train: big.tsv: larger than 16777216 bytes (the limit of a table)" ]
	nothing_left out.
}

@test "bad input: exit 1, one line, nothing left behind" {
	check() {
		run --separate-stderr qf-train $SMALL --steps 3 --log out.tsv -o out.qft "$@"
		assert_failure 1
		[ "${#stderr_lines[@]}" -eq 1 ]
		[ "$stderr" = "$want" ]
		nothing_left out.
	}
	want="qf-train: nope.qft: No such file or directory"
	check nope.qft
	want="qf-train: tokens.qft: record doc.0: token id 85 at position 0 out of range (vocab_size 80)"
	check --vocab 80 tokens.qft
	printf 'eng\t1\nxyz\t2\n' > badmix.tsv
	want="qf-train: badmix.tsv: line 2: language 'xyz' has no documents in tokens.qft"
	check --mix badmix.tsv tokens.qft
	printf 'eng\tlots\n' > badmix.tsv
	want="qf-train: badmix.tsv: line 1: weight 'lots' is not a non-negative number"
	check --mix badmix.tsv tokens.qft
	want="qf-train: tokens.qft: language 'eng' has 8591 tokens (separators included), fewer than a window of 10001"
	check --ctx 10000 tokens.qft
	# a weight stream is not a token stream
	cp "$TESTS_DIR/data/model/a.qft" a.qft
	want="qf-train: a.qft: record config: no lang attribute"
	check a.qft
	qf-cat -x config -o w.qft "$TESTS_DIR/data/model/a.qft"
	want="qf-train: w.qft: record tok_emb.weight: dtype f32, 2 dims: expected 1-d integer token ids"
	check w.qft
	# no checkpoint to resume from
	run --separate-stderr qf-train --resume none.qft -o out.qft tokens.qft
	assert_failure 1
	[ "$stderr" = "qf-train: none.qft: No such file or directory" ]
	# an output directory that is not there: found before any work
	run --separate-stderr qf-train $SMALL --steps 2 -o nodir/out.qft tokens.qft
	assert_failure 1
	[ "$stderr" = "qf-train: nodir/out.qft: cannot create: No such file or directory" ]
	# an untied head cannot be trained
	run --separate-stderr qf-train --init "$TESTS_DIR/data/model/b.qft" --steps 2 -o out.qft tokens.qft
	assert_failure 1
	[[ $stderr == "qf-train: "*"b.qft: record config: tie_word_embeddings=false: the trainer trains GPT-2 with the head tied to the token embedding" ]]
	nothing_left out.
}

@test "a checkpoint is a weight stream qf-cat, qf-act and qf-quantize read" {
	run --separate-stderr qf-train $SMALL --steps 5 -o c.qft tokens.qft
	assert_success
	[ -z "$stderr" ]	# no progress: stderr is not a terminal
	run qf-cat -l c.qft
	assert_line --index 0 --partial $'config\tu8\t[0]\t0\tkind=config arch=gpt2 n_layer=2 n_embd=32 n_head=4 n_ctx=32 n_inner=128 vocab_size=256 layer_norm_epsilon=1e-05 activation=gelu_new tie_word_embeddings=true source_format=qf-train train_step=5 train_tokens=640'
	assert_line --index 1 --partial $'tok_emb.weight\tf32\t[256, 32]'
	assert_line --index 4 --partial 'kind=ln_bias module=ln1 param=bias layer=0'
	[ "${#lines[@]}" -eq 29 ]
	run qf-cat -l c.qft.opt
	assert_line --index 0 --regexp '^train.*kind=train_state format=1 step=5 tokens=640 seed=1 weights_fnv=[0-9a-f]{16} lr=0.001 min_lr=0.0001 warmup=0 steps=5 weight_decay=0.1 beta1=0.9 beta2=0.95 eps=1e-08 clip=1 batch=4 sep=255 provenance="?qf=.*$'
	assert_line --index 1 --partial $'rng\tu64\t[4]'
	assert_line --index 2 --partial $'adam.m.tok_emb.weight\tf32\t[256, 32]'
	[ "${#lines[@]}" -eq 58 ]
	qf-act -m c.qft --nll nll.qft -o /dev/null tokens.qft
	qf-quantize -b 4 -g 32 -o q.qft c.qft
	run qf-act -m c.qft.opt -o /dev/null tokens.qft
	assert_failure 1
}

@test "the same seed gives the same checkpoint and loss curve; threads do not matter" {
	qf-train $SMALL --steps 8 --mix mix.tsv -j 1 --log l1.tsv -o d1.qft tokens.qft
	qf-train $SMALL --steps 8 --mix mix.tsv -j 1 --log l2.tsv -o d2.qft tokens.qft
	qf-train $SMALL --steps 8 --mix mix.tsv -j 2 --log l3.tsv -o d3.qft tokens.qft
	cmp d1.qft d2.qft
	cmp d1.qft.opt d2.qft.opt
	cmp d1.qft d3.qft
	cmp d1.qft.opt d3.qft.opt
	cmp <(nosecs l1.tsv) <(nosecs l2.tsv)
	cmp <(nosecs l1.tsv) <(nosecs l3.tsv)
	qf-train $SMALL --steps 8 --mix mix.tsv --seed 2 -o d4.qft tokens.qft
	! cmp -s d1.qft d4.qft
	# checkpoints on the way change nothing
	qf-train $SMALL --steps 8 --mix mix.tsv --checkpoint-every 3 -o d5.qft tokens.qft
	cmp d1.qft d5.qft
}

@test "a '*' line of the mix weighs every language no other line names" {
	printf 'eng\t2\nfin\t1\njpn\t1\n' > all.tsv
	printf '# the rest\n*\t1\neng\t2\n' > star.tsv
	qf-train $SMALL --steps 4 --mix all.tsv -o m1.qft tokens.qft
	qf-train $SMALL --steps 4 --mix star.tsv -o m2.qft tokens.qft
	cmp m1.qft m2.qft
	# without the '*' line, jpn gets 0: another sample
	qf-train $SMALL --steps 4 --mix mix.tsv -o m3.qft tokens.qft
	! cmp -s m1.qft m3.qft
	printf '*\t1\n*\t2\n' > badmix.tsv
	run --separate-stderr qf-train $SMALL --steps 2 --mix badmix.tsv -o m4.qft tokens.qft
	assert_failure 1
	[ "$stderr" = "qf-train: badmix.tsv: line 2: '*' given twice" ]
}

@test "stop, resume, go on: the same as straight through, byte for byte" {
	qf-train $SMALL --steps 10 --warmup 3 --lr 2e-3 --mix mix.tsv --log s.tsv -o s.qft tokens.qft
	qf-train $SMALL --steps 10 --warmup 3 --lr 2e-3 --mix mix.tsv --stop-at 4 --log h1.tsv -o h.qft tokens.qft
	run qf-cat -l -n train h.qft.opt
	assert_output --partial ' step=4 tokens=512 '
	qf-train --resume h.qft --mix mix.tsv -j 1 --log h2.tsv -o r.qft tokens.qft
	cmp s.qft r.qft
	cmp s.qft.opt r.qft.opt
	# (the second log's provenance line and header left out)
	cmp <(nosecs s.tsv) <(cat <(nosecs h1.tsv) <(nosecs h2.tsv | tail -n +3))
	# the checkpoint of step 10: nothing left to do
	run --separate-stderr qf-train --resume r.qft --mix mix.tsv -o r2.qft tokens.qft
	assert_failure 1
	[ "$stderr" = "qf-train: r.qft: already at step 10, nothing to do before step 10" ]
	# extending the schedule goes on from there
	qf-train --resume r.qft --steps 12 --mix mix.tsv -o r3.qft tokens.qft
	run qf-cat -l -n config r3.qft
	assert_output --partial 'train_step=12 train_tokens=1536'
	# an optimizer state that belongs to other weights is refused
	cp s.qft.opt h.qft.opt
	run --separate-stderr qf-train --resume h.qft -o r4.qft tokens.qft
	assert_failure 1
	[ "$stderr" = "qf-train: h.qft.opt: the optimizer state of other weights than those in h.qft (weights_fnv differs)" ]
	nothing_left r4.
}

@test "the log: fixed columns, a line per step, the loss falls" {
	qf-train $SMALL --steps 40 --lr 3e-3 --warmup 4 --log log.tsv -o l.qft tokens.qft
	run head -2 log.tsv
	assert_line --index 0 "# $(qf-train --version | sed -n 2p)"
	assert_line --index 1 $'step\tlr\tloss\tgrad_norm\ttokens\tseconds\tgn_emb\tgn_0\tgn_1\tgn_final'
	[ "$(wc -l < log.tsv)" -eq 42 ]
	awk -F'\t' 'NR > 2 && NF != 10 { exit 1 }' log.tsv
	# byte-level text: from about ln 256 to clearly less; warm-up 4 steps
	# to 3e-3, then cosine to 3e-4 at step 40; 4 x 32 tokens a step
	py "
import math
import numpy as np
a = np.loadtxt('log.tsv', skiprows=2)
assert (a[:, 0] == np.arange(1, 41)).all() and (a[:, 4] == 128 * a[:, 0]).all()
for s in range(40):
    f = (s + 1) / 4 if s < 4 else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - 4) / 36))
    assert abs(a[s, 1] - 3e-3 * f) <= 1e-8 * 3e-3, (s, a[s, 1], 3e-3 * f)
assert 5.2 < a[0, 2] < 5.9, a[0, 2]
assert a[-5:, 2].mean() < a[0, 2] - 1, a[-5:, 2]
# the global norm is the norm of the group norms
assert np.allclose(a[:, 3], np.sqrt((a[:, 6:] ** 2).sum(1)), rtol=1e-5)"
}

@test "the mix: languages it leaves out are not sampled" {
	# bbb and ccc (19 bytes and a separator) are shorter than a window
	# of 33 tokens, aaa is not
	run --separate-stderr qf-train $SMALL --steps 1 -o m.qft short.qft
	assert_failure 1
	[ "$stderr" = "qf-train: short.qft: language 'bbb' has 20 tokens (separators included), fewer than a window of 33" ]
	printf 'aaa\t1\nbbb\t0\n' > aaa.tsv
	qf-train $SMALL --steps 1 --mix aaa.tsv -o m.qft short.qft
	printf 'aaa\t1\nccc\t0.5\n' > aaa.tsv
	run --separate-stderr qf-train $SMALL --steps 1 --mix aaa.tsv -o m.qft short.qft
	assert_failure 1
	[[ $stderr == *"language 'ccc' has 20 tokens"* ]]
}

@test "--init: training goes on from a weight stream" {
	qf-train $SMALL --steps 5 -o base.qft tokens.qft
	qf-train --init base.qft --steps 3 --lr 1e-4 --warmup 0 --log i.tsv -o tuned.qft tokens.qft
	run qf-cat -l -n config tuned.qft
	assert_output --partial 'train_step=3 train_tokens=768'
	# the weights moved, a little
	! cmp -s base.qft tuned.qft
}

@test "the man page examples run" {
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$TESTS_DIR/../docs/man/qf-train.1" |
		grep -E '^qf-train ' | sed 's/\\-/-/g; s/\\(aq/'"'"'/g' > examples.sh
	[ "$(wc -l < examples.sh)" -ge 4 ]
	run bash -e -o pipefail examples.sh
	assert_success
	[ -e full.qft ] && [ -e tuned.qft ] && [ -e log.tsv ]
	qf-train --help | sed -n 's/^  \(qf-train .*\)$/\1/p' > help.sh
	[ "$(wc -l < help.sh)" -ge 4 ]
	while read -r line; do grep -qxF -- "$line" examples.sh; done < help.sh
}

@test "--init-std: the new model's weights have that spread, the residual projections it over sqrt(2 N)" {
	# learning rate 0: the checkpoint after one step holds the initial weights
	qf-train --layers 3 --d-model 64 --heads 4 --ctx 32 --steps 1 --lr 0 \
	  --init-std 0.06 --seed 3 -o std.qft tokens.qft
	qf-train --layers 3 --d-model 64 --heads 4 --ctx 32 --steps 1 --lr 0 \
	  --seed 3 -o std2.qft tokens.qft
	for n in layers.1.mlp.in.weight layers.1.mlp.out.weight tok_emb.weight; do
		qf-cat --to npy -n $n -o $n.06.npy std.qft
		qf-cat --to npy -n $n -o $n.02.npy std2.qft
	done
	py '
import numpy as np
def sd(n, s): return np.load("%s.%s.npy" % (n, s)).std()
for s, x in (("06", 0.06), ("02", 0.02)):
    for n, want in (("layers.1.mlp.in.weight", x), ("tok_emb.weight", x),
                    ("layers.1.mlp.out.weight", x / np.sqrt(2 * 3))):
        got = sd(n, s)
        assert abs(got - want) < 0.03 * want, (n, s, got, want)
# the same draws, scaled
a, b = np.load("layers.1.mlp.in.weight.06.npy"), np.load("layers.1.mlp.in.weight.02.npy")
assert np.allclose(a, 3 * b, rtol=1e-5, atol=1e-7)
'
}

