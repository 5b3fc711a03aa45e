#!/usr/bin/env bats
# The build: make install lays out binaries, man pages, the header, the
# library and a pkg-config file that a program can build against.

load common

setup() {
	TOP=$(cd "$TESTS_DIR/.." && pwd)
	BUILD_DIR=$(cd "$QF_BIN/.." && pwd)
}

@test "make install PREFIX=... installs everything and pkg-config finds it" {
	case $BUILD_DIR in */san) skip "install is checked on the normal build" ;; esac
	prefix=$BATS_TEST_TMPDIR/prefix
	run make -s -C "$TOP" install PREFIX="$prefix" BUILD="$BUILD_DIR"
	assert_success
	[ -x "$prefix/bin/qf-cat" ]
	[ -f "$prefix/share/man/man1/qf-cat.1" ]
	[ -f "$prefix/include/qf/qf.h" ]
	[ -f "$prefix/include/qf/train/train.h" ]
	[ ! -e "$prefix/include/qf/core/internal.h" ]
	[ -f "$prefix/lib/libqf.a" ]
	[ -f "$prefix/lib/pkgconfig/qf.pc" ]
	cat > "$BATS_TEST_TMPDIR/prog.c" <<'C'
#include <qf.h>
int main(void)
{
	qf_err e;
	qf_writer *w = qf_writer_open("-", NULL, &e);
	qf_rec r;
	float x[2] = { 1.5f, -2.0f };
	uint64_t d[1] = { 2 };

	qf_rec_init(&r);
	if (!w || qf_rec_set_name(&r, "x", &e) < 0 ||
	    qf_rec_set_shape(&r, QF_F32, 1, d, &e) < 0 ||
	    qf_writer_put(w, &r, x, &e) < 0 || qf_writer_close(w, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	qf_rec_free(&r);
	return 0;
}
C
	export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
	run pkg-config --modversion qf
	assert_output --regexp '^[0-9]+\.[0-9]+\.[0-9]+$'
	cc -std=c11 -o "$BATS_TEST_TMPDIR/prog" "$BATS_TEST_TMPDIR/prog.c" \
		$(pkg-config --cflags --libs qf)
	run bash -c "'$BATS_TEST_TMPDIR/prog' | '$prefix/bin/qf-cat' -l"
	assert_success
	# a program of the library's records its provenance under its own name
	assert_output --regexp $'^x\tf32\t\\[2\\]\t8\tprovenance="?qf=[0-9.]+ tool=prog openblas=[0-9.]+ core=[A-Za-z0-9_]+ core_by=(user|qf|openblas) .*simd=[a-z0-9-]+"?$'
	# every tool builds from its source against the installed library
	# alone, and runs: the installed headers are all a tool needs
	for src in "$TOP"/tools/*.c; do
		t=$(basename "$src" .c)
		cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$BATS_TEST_TMPDIR/$t" \
			"$src" $(pkg-config --cflags --libs qf)
		run "$BATS_TEST_TMPDIR/$t" --version
		assert_success
		assert_line --index 1 --regexp "^qf=[0-9.]+ tool=$t "
	done
	run bash -c "'$BATS_TEST_TMPDIR/prog' | '$BATS_TEST_TMPDIR/qf-quantize' -b 4 -n x | '$BATS_TEST_TMPDIR/qf-cat' --to tsv"
	assert_success
	# INT4 symmetric, one channel: scale 2/7 (kept to 15 bits), 1.5 -> 5
	# steps, -2 -> -7 steps
	awk 'NR == 2 { d = $1 - 10 / 7; exit !(d < 1e-3 && d > -1e-3) }' <<< "$output"
	awk 'NR == 3 { d = $1 + 2; exit !(d < 1e-3 && d > -1e-3) }' <<< "$output"
	run make -s -C "$TOP" uninstall PREFIX="$prefix" BUILD="$BUILD_DIR"
	assert_success
	[ ! -e "$prefix/bin/qf-cat" ]
	[ ! -e "$prefix/include/qf" ]
}

@test "make deps does nothing when everything is installed" {
	command -v dpkg-query > /dev/null || skip "not a Debian system"
	run make -s -C "$TOP" deps
	assert_success
	assert_output ""
}

@test "every tool has --help, --version and a man page" {
	for src in "$TOP"/tools/*.c; do
		t=$(basename "$src" .c)
		run "$QF_BIN/$t" --help
		assert_success
		assert_line --index 0 --partial "Usage: $t"
		run "$QF_BIN/$t" --version
		assert_success
		assert_line --index 0 --regexp "^$t \(qf\) [0-9]+\.[0-9]+\.[0-9]+\$"
		assert_line --index 1 --regexp "^qf=[0-9.]+ tool=$t "
		[ "${#lines[@]}" -eq 2 ]
		[ -f "$TOP/docs/man/$t.1" ]
	done
}
