#!/usr/bin/env bats
# The layers of lib/ (lib/LAYERS, docs/architecture.md): tests/layering
# passes on the tree and fails, naming the file, on an include or a symbol
# that goes up or sideways.

load common

setup() {
	TOP=$(cd "$TESTS_DIR/.." && pwd)
	BUILD_DIR=$(cd "$QF_BIN/.." && pwd)
	T=$BATS_TEST_TMPDIR/tree
	mkdir -p "$T"
	cp -r "$TOP/lib" "$TOP/tools" "$T/"
}

@test "the tree keeps its layers, includes and symbols" {
	run "$TESTS_DIR/layering" "$TOP" "$BUILD_DIR"
	assert_success
	assert_output ''
}

@test "an include that goes up is refused" {
	sed -i '1i #include "model/model.h"' "$T/lib/core/rec.c"
	run "$TESTS_DIR/layering" "$T"
	assert_failure
	assert_output --partial 'lib/core/rec.c:1: #include "model/model.h": core includes model, a higher layer'
}

@test "an include sideways, of a private header, or without a folder is refused" {
	sed -i '1i #include "quant/quant.h"' "$T/lib/text/corpus.c"
	sed -i '1i #include "ckpt/ckpt_impl.h"' "$T/lib/model/act.c"
	sed -i '1i #include "json.h"' "$T/lib/stream/out.c"
	run "$TESTS_DIR/layering" "$T"
	assert_failure
	assert_output --partial 'lib/text/corpus.c:1: #include "quant/quant.h": text includes quant, a layer beside it'
	assert_output --partial 'lib/model/act.c:1: #include "ckpt/ckpt_impl.h": private to lib/ckpt'
	assert_output --partial 'lib/stream/out.c:1: #include "json.h": name the folder'
}

@test "a tool that includes an internal header, or a folder not in LAYERS, is refused" {
	sed -i '1i #include "core/internal.h"' "$T/tools/qf-cat.c"
	mkdir "$T/lib/extra"
	run "$TESTS_DIR/layering" "$T"
	assert_failure
	assert_output --partial 'tools/qf-cat.c:1: #include "core/internal.h": tools use public headers only'
	assert_output --partial 'lib/extra: folder not in lib/LAYERS'
}

@test "an object that calls a function of a higher layer is refused" {
	case $BUILD_DIR in */san) skip "checked on the normal build" ;; esac
	mkdir -p "$T/build/lib/core" "$T/build/lib/tool"
	cat > "$T/up.c" <<'C'
void qf_tool_die(int status, const char *fmt, ...);
void qf_up(void) { qf_tool_die(1, "x"); }
C
	gcc -c -o "$T/build/lib/core/up.o" "$T/up.c"
	cp "$BUILD_DIR/lib/tool/tool.o" "$T/build/lib/tool/"
	run "$TESTS_DIR/layering" "$T" "$T/build"
	assert_failure
	assert_output --partial 'up.o: uses qf_tool_die from lib/tool, not a lower layer'
}
