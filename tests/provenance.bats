#!/usr/bin/env bats
# Provenance (formats/provenance.md): every table and stream a tool
# writes records what its results depend on beyond inputs and options.
# The fields are checked against independent sources: OpenBLAS itself
# (a program of this test's, linked to the same library, asked for its
# core and version), the CPU's flags in /proc/cpuinfo for the vector
# level, and the environment; streams are read with tests/ref/qftref.py.

load common

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	# OpenBLAS's own view, without qf: the core it runs, its version
	cat > blas.c <<-'C'
	#include <stdio.h>
	char *openblas_get_corename(void);
	char *openblas_get_config(void);
	int main(void)
	{
		printf("%s\n%s\n", openblas_get_corename(), openblas_get_config());
		return 0;
	}
	C
	cc -o blas blas.c -lopenblas
	cp "$TESTS_DIR/data/model/a.qft" a.qft
	cp "$TESTS_DIR/data/eval/tokens.qft" "$TESTS_DIR/data/eval/languages.tsv" .
	printf 'one paragraph\n\nand another\n' > text.txt
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

# prov TOOL: the provenance line TOOL reports (--version, line 2)
prov() {
	"$1" --version | sed -n 2p
}

# field LINE KEY: the value of KEY in a provenance line
field() {
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# The x86-64 level of this CPU from /proc/cpuinfo (the psABI's levels).
cpu_level() {
	local f
	f=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
	has() { for x in "$@"; do [[ $f == *" $x "* ]] || return 1; done; }
	if has avx512f avx512bw avx512cd avx512dq avx512vl avx2 fma bmi1 bmi2 f16c movbe; then
		echo x86-64-v4
	elif has avx2 fma bmi1 bmi2 f16c movbe abm; then
		echo x86-64-v3
	else
		echo x86-64
	fi
}

# attrs FILE: "name<TAB>provenance" of every record, read by qftref.py
attrs() {
	py "
import sys
sys.path.insert(0, '$TESTS_DIR/ref')
import qftref
with open('$1', 'rb') as f:
    for name, dt, dims, attrs, payload in qftref.read_records(f):
        print(name + '\t' + dict(attrs).get('provenance', '-'))
"
}

@test "the line: qf's version, the tool, OpenBLAS's version and core, the vector level" {
	[ "$(uname -m)" = x86_64 ] || skip "not x86-64"
	for t in qf-cat qf-extract qf-quantize qf-act qf-eval qf-train qf-fit; do
		run prov "$t"
		assert_success
		assert_output --regexp '^qf=[0-9]+\.[0-9]+\.[0-9]+ tool='"$t"' openblas=[0-9.]+ core=[A-Za-z0-9_]+ core_by=(user|qf|openblas)( openblas_l2_size=[0-9]+)? simd=x86-64(-v[34])?$'
		[ "$(field "$output" qf)" = "$(qf-cat --version | sed -n '1s/.* //p')" ]
		[ "$(field "$output" simd)" = "$(cpu_level)" ]
	done
	# OpenBLAS's version, as OpenBLAS says it
	line=$(prov qf-eval)
	[ "OpenBLAS $(field "$line" openblas) " = "$(./blas | sed -n 2p | cut -d' ' -f1-2) " ]
}

@test "a core the user set: recorded as the user's, the one OpenBLAS runs" {
	line=$(OPENBLAS_CORETYPE=Haswell prov qf-eval)
	[ "$(field "$line" core)" = "$(OPENBLAS_CORETYPE=Haswell ./blas | sed -n 1p)" ]
	[ "$(field "$line" core_by)" = user ]
	# a name OpenBLAS does not know: it runs what it detects, and that is
	# what the line says
	line=$(OPENBLAS_CORETYPE=NoSuchCore prov qf-eval)
	[ "$(field "$line" core)" = "$(OPENBLAS_CORETYPE=NoSuchCore ./blas | sed -n 1p)" ]
	[ "$(field "$line" core_by)" = user ]
}

@test "no core set: OpenBLAS's own choice, or qf's when OpenBLAS falls back to a generic one" {
	line=$(env -u OPENBLAS_CORETYPE qf-eval --version | sed -n 2p)
	own=$(env -u OPENBLAS_CORETYPE ./blas | sed -n 1p)
	case $(field "$line" core_by) in
	openblas) [ "$(field "$line" core)" = "$own" ] ;;
	qf)	# qf re-ran itself with a core of its choice (docs/runtime.md)
		[[ " Prescott Katmai Coppermine Northwood Banias Core2 Penryn Dunnington Nehalem Atom Sandybridge Opteron Opteron_SSE3 Barcelona Bobcat Bulldozer Piledriver " == *" $own "* ]]
		[[ $(field "$line" core) =~ ^(SkylakeX|Haswell)$ ]] ;;
	*) false ;;
	esac
}

@test "a choice forwarded from elsewhere (QF_OPENBLAS_CHOSEN_BY) is recorded as made there" {
	for by in user qf openblas; do
		line=$(OPENBLAS_CORETYPE=Haswell QF_OPENBLAS_CHOSEN_BY=$by prov qf-eval)
		[ "$(field "$line" core_by)" = "$by" ]
		[ "$(field "$line" core)" = Haswell ]
	done
	# misuse: a value qf does not know, or one without a core
	run --separate-stderr env OPENBLAS_CORETYPE=Haswell QF_OPENBLAS_CHOSEN_BY=me qf-eval --version
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "qf-eval: invalid QF_OPENBLAS_CHOSEN_BY 'me' (user, qf or openblas)" ]
	[ "${stderr_lines[1]}" = "Try 'qf-eval --help' for more information." ]
	[ -z "$output" ]
	run --separate-stderr env -u OPENBLAS_CORETYPE QF_OPENBLAS_CHOSEN_BY=qf qf-cat --version
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "qf-cat: QF_OPENBLAS_CHOSEN_BY is set but OPENBLAS_CORETYPE is not" ]
}

@test "OPENBLAS_L2_SIZE is recorded when set, as one word" {
	run env OPENBLAS_L2_SIZE=1024 qf-quantize --version
	assert_line --index 1 --partial " openblas_l2_size=1024 "
	run env -u OPENBLAS_L2_SIZE qf-quantize --version
	refute_line --partial openblas_l2_size
	run env OPENBLAS_L2_SIZE='5 12' qf-quantize --version
	assert_line --index 1 --partial " openblas_l2_size=5?12 "
}

@test "every table starts with its tool's line, every record of a stream carries it" {
	export OPENBLAS_CORETYPE=Haswell
	qf-extract text -k bytes --unit paragraph -o t.qft text.txt
	qf-quantize -b 4 -g 16 --stats s.tsv -o q.qft a.qft
	qf-eval -r a.qft -m q=q.qft --languages languages.tsv -o l.tsv -d d.tsv --nll n.qft tokens.qft
	qf-act -m a.qft -L 1 -o act.qft tokens.qft
	qf-train --layers 1 --d-model 16 --heads 2 --ctx 16 --vocab 257 --sep 256 --steps 2 -j 1 \
		--log log.tsv -o m.qft t.qft 2> /dev/null
	for pair in s.tsv:qf-quantize l.tsv:qf-eval d.tsv:qf-eval log.tsv:qf-train; do
		[ "$(head -n 1 "${pair%%:*}")" = "# $(prov "${pair#*:}")" ]
	done
	for pair in t.qft:qf-extract n.qft:qf-eval act.qft:qf-act m.qft:qf-train; do
		file=${pair%%:*} want=$(prov "${pair#*:}")
		attrs "$file" > got
		[ "$(wc -l < got)" -ge 1 ]
		# every record, the tool's line
		[ "$(cut -f2 got | sort -u)" = "$want" ]
	done
	# qf-quantize: what it quantized is its own, what it passed through
	# keeps what it had (a.qft, made by numpy, has none); the same for a
	# stream made by qf-train, whose line then stays
	attrs q.qft > got
	qf-cat -l -a quant_scheme q.qft | cut -f1 | sort > quantized
	[ "$(wc -l < quantized)" -ge 4 ]
	[ "$(awk -F'\t' 'NR == FNR { q[$1]; next } $1 in q { print $2 }' quantized got | sort -u)" = "$(prov qf-quantize)" ]
	[ "$(awk -F'\t' 'NR == FNR { q[$1]; next } !($1 in q) { print $2 }' quantized got | sort -u)" = - ]
	qf-quantize -b 4 -g 16 -o mq.qft m.qft
	attrs mq.qft > got
	[ "$(grep -c "	$(prov qf-quantize)$" got)" -ge 4 ]
	[ "$(grep -c "	$(prov qf-train)$" got)" -ge 4 ]
	[ "$(cut -f2 got | sort -u | wc -l)" -eq 2 ]
	# the line names the core the tool ran
	[ "$(field "$(prov qf-eval)" core)" = Haswell ]
}

@test "qf-cat: a copy keeps its records' provenance, what it converts gets its own" {
	export OPENBLAS_CORETYPE=Haswell
	qf-quantize -b 4 -g 16 -o q.qft a.qft
	# the same bytes, with another core in qf-cat's environment
	OPENBLAS_CORETYPE=Zen qf-cat -o copy.qft q.qft
	cmp q.qft copy.qft
	OPENBLAS_CORETYPE=Zen qf-cat -a quant_scheme -o sel.qft q.qft
	[ "$(attrs sel.qft | cut -f2 | sort -u)" = "$(prov qf-quantize)" ]
	# a change of dtype is qf-cat's work
	OPENBLAS_CORETYPE=Zen qf-cat -t f16 -a quant_scheme -o f16.qft q.qft
	[ "$(attrs f16.qft | cut -f2 | sort -u)" = "$(OPENBLAS_CORETYPE=Zen prov qf-cat)" ]
	# so is a record made from .npy
	py "import numpy as np; np.save('x.npy', np.arange(6, dtype=np.float32))"
	qf-cat --from npy -o x.qft x.npy
	[ "$(attrs x.qft | cut -f2)" = "$(prov qf-cat)" ]
}

@test "a stream's record already at the attribute limit: one clear error, nothing written" {
	py "
import sys
sys.path.insert(0, '$TESTS_DIR/ref')
import qftref
attrs = [('k%d' % i, 'v') for i in range(4096)]
with open('full.qft', 'wb') as f:
    qftref.write_stream(f, [('x', 1, [1], attrs, b'\0\0\0\0')])
"
	# qf-cat converting it
	run --separate-stderr qf-cat -t f64 -o out.qft full.qft
	[ "$status" -eq 1 ]
	[ "$stderr" = "qf-cat: full.qft: record x: 4096 attributes, no room for its provenance" ]
	[ ! -e out.qft ]
	[ -z "$(ls -A | grep -F .tmp.)" ]
	# a copy keeps the record as it is
	qf-cat -o copy.qft full.qft
	cmp <(qf-cat -l full.qft) <(qf-cat -l copy.qft)
}

@test "the same inputs and environment give the same bytes, another core another line" {
	OPENBLAS_CORETYPE=Haswell qf-quantize -b 4 -g 16 --stats s1.tsv -o q1.qft a.qft
	OPENBLAS_CORETYPE=Haswell qf-quantize -b 4 -g 16 --stats s2.tsv -o q2.qft a.qft
	cmp q1.qft q2.qft
	cmp s1.tsv s2.tsv
	OPENBLAS_CORETYPE=Zen QF_OPENBLAS_CHOSEN_BY=qf qf-quantize -b 4 -g 16 --stats s3.tsv a.qft > /dev/null
	[ "$(head -n 1 s3.tsv)" != "$(head -n 1 s1.tsv)" ]
	[[ $(head -n 1 s3.tsv) == *" core_by=qf "* ]]
	# past the line, the same table (quantization uses no OpenBLAS)
	cmp <(tail -n +2 s1.tsv) <(tail -n +2 s3.tsv)
}
