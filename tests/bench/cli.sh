#!/usr/bin/env bash
# tests/bench/cli.sh BUILD [ROUNDS] - the command line against the zstd
# CLI on the same bytes (docs/benchmarks.md, issue 18).
#
# Makes 256 MiB of f32, one tensor [16384, 4096] of standard normal
# values (numpy, seeded), as w.npy and (kind=mlp_in, so that qf-quantize
# takes it) as w.qft, then times each qf command and its zstd reference
# in pairs, ROUNDS rounds (default 5; the order within a pair alternates
# from round to round), and prints the median of each: wall time, CPU
# time (user + system) and peak resident memory (/usr/bin/time), and the
# ratio of the wall times (tests/bench/pairs.sh).  Then loading a
# GPT-2-small-shaped weight stream, f32 and f16 (qf-act: the model, then
# one layer over 43 tokens), against zstd -d of the same weights as .npz
# (the model's bytes).
# Files go to $TMPDIR, else /dev/shm (no disk writeback in the figures),
# else /tmp.  Not a test: nothing passes or fails on speed.
set -euo pipefail
build=${1:?usage: cli.sh BUILD [ROUNDS]}
rounds=${2:-5}
bin=$(cd "$build/bin" && pwd)
bench=$(cd "$build/bench" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pairs.sh"
scratch cli
export PATH=$bin:$PATH

echo "# $(zstd --version)"
echo "# $rounds rounds, median of each; files in $tmp"
/usr/bin/python3 -c '
import numpy as np
np.save("w.npy", np.random.default_rng(18).standard_normal((16384, 4096), dtype=np.float32))'
qf-cat --from npy --set kind=mlp_in -o w.qft w.npy
zstd -q -1 -f -o w.zst w.npy
header "qf command" "zstd CLI, same bytes"
pair "qf-cat --from npy -o w1.qft w.npy" "zstd -q -f -1 -o w1.zst w.npy"
pair "qf-cat --to npy -o w2.npy w.qft" "zstd -q -f -d -o w2.npy w.zst"
pair "qf-cat --to npz -o w3.npz w.qft" "zstd -q -f -d -o w3.npy w.zst"
pair "qf-cat -o w4.qft w.qft" "zstd -q -d -c w.zst | zstd -q -1 -c > w4.zst"
pair "qf-quantize -b 4 -g 64 -o q.qft w.qft" "zstd -q -d -c w.zst | zstd -q -1 -c > q.zst"
rm -f w.* w1.* w2.* w3.* w4.* q.*

# Loading a model: GPT-2 small's shapes (124 M parameters), random.
"$bench/bench_stream" --write-gpt2 g32.qft
qf-cat -t f16 -o g16.qft g32.qft
echo "The quick brown fox jumps over the lazy dog" > t.txt
qf-extract text --lang eng -o tok.qft t.txt
echo
echo "# GPT-2-small-shaped weight streams: f32 $(stat -c %s g32.qft) bytes, f16 $(stat -c %s g16.qft) bytes"
header "qf command" "zstd CLI, same bytes"
for dt in 32 16; do
	qf-cat -t "f$dt" --to npz -o g.npz g$dt.qft
	zstd -q -1 -f -o g$dt.zst g.npz
	rm g.npz
	pair "qf-act -m g$dt.qft -L 0 -o s.qft tok.qft" "zstd -q -d -c g$dt.zst > /dev/null"
done
