# qf - top-level Makefile
#
#   make              build lib/ into build/libqf.a and tools/*.c into build/bin/
#   make check        install missing Debian packages, run every test
#                     (normal build, then the ASan+UBSan build)
#   make demo         install missing Debian packages, run the default study
#   make bench        benchmarks (not tests); figures in docs/benchmarks.md
#   make install PREFIX=/usr/local [DESTDIR=...]
#   make deps         install missing Debian packages (as root), else print
#                     the apt-get line
#   make san          the sanitizer build into build/san/
#   make layers       check that lib/ keeps its layers (lib/LAYERS)
#   make fuzz         libFuzzer on every harness for FUZZ_SECONDS each (clang;
#                     12 x 30 s by default); crashers land in
#                     tests/fuzz/crashers/; FUZZ=NAME runs one, FUZZ_MERGE=1
#                     adds what found new coverage to the corpus
#                     (docs/fuzzing.md)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
export LC_ALL := C

VERSION := 0.1.0
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build

CC ?= gcc
CFLAGS ?= -O2 -g
SAN ?=
ifeq ($(SAN),1)
  CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
endif

PKGS := libzstd libarchive
QF_CPPFLAGS := -Ilib -D_GNU_SOURCE
QF_CFLAGS := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -pthread
# LAPACKE is its own library in Debian (liblapacke, over the LAPACK
# OpenBLAS provides); GSL's CBLAS is OpenBLAS's, hence no -lgslcblas.
LDLIBS := -Wl,--as-needed -llapacke -lgsl -lopenblas -lzstd -larchive -lm -pthread

# Debian packages qf needs to build, test and run its studies.
DEBS := gcc make pkg-config libc6-dev \
	libarchive-dev libzstd-dev zstd libopenblas-dev liblapacke-dev \
	libgsl-dev parallel bats bats-assert bats-support bats-file \
	python3 python3-numpy python3-zstandard python3-torch python3-scipy python3-statsmodels \
	gnuplot-nox openssh-server openssh-client rsync

LIB_SRC := $(wildcard lib/*/*.c)
LIB_HDR := $(wildcard lib/*.h lib/*/*.h)
# The installed headers: qf.h and each layer's own, lib/F/F.h.
PUBLIC := $(patsubst lib/%/,%,$(dir $(wildcard lib/*/*.h)))
PUBLIC := $(sort $(foreach d,$(PUBLIC),$(if $(wildcard lib/$(d)/$(d).h),$(d))))
LIB_OBJ := $(patsubst lib/%.c,$(BUILD)/lib/%.o,$(LIB_SRC))
TOOL_SRC := $(wildcard tools/*.c)
TOOLS := $(patsubst tools/%.c,$(BUILD)/bin/%,$(TOOL_SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNITS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
REPLAYS := $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/unit/replay_%,$(FUZZ_SRC))
FUZZ ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZERS := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ))
FUZZ_SECONDS ?= 30
FUZZ_MERGE ?=
FUZZ_CC ?= clang
FUZZ_CFLAGS := -std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined
FUZZ_OBJ := $(patsubst lib/%.c,$(BUILD)/fuzz/lib/%.o,$(LIB_SRC))
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCHES := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
MANS := $(wildcard docs/man/*.1)

.PHONY: all deps check check-normal check-san san demo study bench install \
	uninstall clean units benches fuzz layers

all: $(BUILD)/libqf.a $(TOOLS)

$(BUILD)/lib/%.o: lib/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(QF_CPPFLAGS) $(QF_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libqf.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/%: tools/%.c $(BUILD)/libqf.a $(LIB_HDR) | $(BUILD)/bin
	$(CC) $(QF_CPPFLAGS) $(QF_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libqf.a $(LDLIBS)

$(BUILD)/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libqf.a | $(BUILD)/unit
	$(CC) $(QF_CPPFLAGS) $(QF_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libqf.a $(LDLIBS)

# Fuzz harnesses: replayed over their corpus by the tests (gcc build), and
# fuzzed by libFuzzer with `make fuzz` (clang).
$(BUILD)/unit/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(wildcard tests/fuzz/*.h) $(BUILD)/libqf.a | $(BUILD)/unit
	$(CC) $(QF_CPPFLAGS) $(QF_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(BUILD)/libqf.a $(LDLIBS)

# The library is built once for the fuzzers, instrumented for coverage
# and the sanitizers; each harness links it with libFuzzer's main.
$(BUILD)/fuzz/lib/%.o: lib/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(QF_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/fuzz/libqf.a: $(FUZZ_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(BUILD)/fuzz/libqf.a
	$(FUZZ_CC) $(QF_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer \
	  -o $@ $< $(BUILD)/fuzz/libqf.a $(LDLIBS)

# fuzz_quant.c compiles qf-quantize's option parser in.
$(BUILD)/unit/replay_quant $(BUILD)/fuzz/fuzz_quant: tools/qf-quantize.c

# Each harness for FUZZ_SECONDS from its committed corpus; what it finds
# new goes to $(BUILD)/fuzz/new-NAME, into the corpus only with
# FUZZ_MERGE=1 (libFuzzer's -merge: the inputs that add coverage).  A
# crash stops that harness, leaves its input in tests/fuzz/crashers/ and
# fails the target once every harness has run.
fuzz: $(FUZZERS)
	@failed=""; for n in $(FUZZ); do f=$(BUILD)/fuzz/fuzz_$$n; \
	  mkdir -p tests/fuzz/corpus/$$n $(BUILD)/fuzz/new-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -timeout=20 -print_final_stats=1 \
	    -artifact_prefix=tests/fuzz/crashers/$$n- \
	    $(BUILD)/fuzz/new-$$n tests/fuzz/corpus/$$n \
	    2>$(BUILD)/fuzz/$$n.log || failed="$$failed $$n"; \
	  grep -E '^(stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY)' \
	    $(BUILD)/fuzz/$$n.log | sed 's/^/  /' || true; \
	  if [ -n "$(FUZZ_MERGE)" ]; then \
	    $$f -merge=1 tests/fuzz/corpus/$$n $(BUILD)/fuzz/new-$$n \
	      2>>$(BUILD)/fuzz/$$n.log || failed="$$failed $$n"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed (logs: $(BUILD)/fuzz/NAME.log)" >&2; exit 1; fi

$(BUILD)/bench/%: tests/bench/%.c $(wildcard tests/bench/*.h) $(BUILD)/libqf.a | $(BUILD)/bench
	$(CC) $(QF_CPPFLAGS) $(QF_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libqf.a $(LDLIBS)

# pkg-config file for the install PREFIX (written by `make install`).
define QF_PC
prefix=$(PREFIX)
libdir=$${prefix}/lib
includedir=$${prefix}/include

Name: qf
Description: tensor streams and tools for quantization studies
Version: $(VERSION)
Requires: libzstd libarchive
Libs: -L$${libdir} -lqf -llapacke -lgsl -lopenblas -lm -pthread
Cflags: -I$${includedir}/qf
endef
export QF_PC

$(BUILD) $(BUILD)/lib $(BUILD)/bin $(BUILD)/unit $(BUILD)/bench $(BUILD)/fuzz:
	mkdir -p $@

units: $(UNITS) $(REPLAYS)
benches: $(BENCHES)

deps:
	@missing=""; \
	for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "make deps: installing$$missing" >&2; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "make deps: missing Debian packages; as root run:" >&2; \
	  echo "apt-get install -y$$missing"; \
	  exit 1; \
	fi

# Every test: the normal build, then the same tests under ASan + UBSan.
check:
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory all units
	$(MAKE) --no-print-directory BUILD=$(BUILD)/san SAN=1 all units
	$(MAKE) --no-print-directory layers
	tests/run $(BUILD) $(BUILD)/san

# lib/'s layers (lib/LAYERS, docs/architecture.md): includes and symbols
# go down, never up or sideways.
layers: $(BUILD)/libqf.a
	tests/layering . $(BUILD)

check-normal: all units layers
	tests/run $(BUILD)

check-san: san
	tests/run $(BUILD)/san

san:
	$(MAKE) --no-print-directory BUILD=$(BUILD)/san SAN=1 all units

# The default study, reduced to run in minutes: the protection sweep on
# the shipped model over all of the held-out text, every layer kept
# alone, the earlier study's layers and their pairs, 4 random sets and
# the salient channels at the greedy search's budget, and the greedy
# search cross-fitted over the 4 best single layers of each half; not
# every pair, not each layer quantized alone (make study does those;
# docs/pipelines.md).
DEMO_PARAS ?=
DEMO_SETS ?= single
DEMO_EXTRA ?= p0-9 p9-11
DEMO_VARS ?= BEAM=4 RANDOM=4 CHANNELS=1
DEMO_JOBS ?= $(shell nproc)
demo:
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory -j$(DEMO_JOBS) -f pipelines/protect.mk \
	  BIN=$(CURDIR)/$(BUILD)/bin OUT=$(CURDIR)/out/demo PARAS=$(DEMO_PARAS) \
	  SETS='$(DEMO_SETS)' EXTRA='$(DEMO_EXTRA)' $(DEMO_VARS)

# The study that decides: the earlier study's six claims under four
# quantization regimes and across trained models (hours: it trains seven
# models; resumable), its verdict table in out/study/ (docs/pipelines.md).
STUDY_VARS ?=
study:
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory -j$(DEMO_JOBS) -f pipelines/study.mk \
	  BIN=$(CURDIR)/$(BUILD)/bin OUT=$(CURDIR)/out/study $(STUDY_VARS)

bench: all benches
	tests/bench/run $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include/qf $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libqf.a $(DESTDIR)$(PREFIX)/lib/
	install -d $(patsubst %,$(DESTDIR)$(PREFIX)/include/qf/%,$(PUBLIC))
	install -m 644 lib/qf.h $(DESTDIR)$(PREFIX)/include/qf/
	for d in $(PUBLIC); do install -m 644 lib/$$d/$$d.h $(DESTDIR)$(PREFIX)/include/qf/$$d/; done
	printf '%s\n' "$$QF_PC" > $(DESTDIR)$(PREFIX)/lib/pkgconfig/qf.pc
	$(if $(MANS),install -m 644 $(MANS) $(DESTDIR)$(PREFIX)/share/man/man1/)

uninstall:
	rm -f $(patsubst tools/%.c,$(DESTDIR)$(PREFIX)/bin/%,$(TOOL_SRC)) \
	  $(DESTDIR)$(PREFIX)/lib/libqf.a \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/qf.pc \
	  $(patsubst docs/man/%,$(DESTDIR)$(PREFIX)/share/man/man1/%,$(MANS))
	rm -rf $(DESTDIR)$(PREFIX)/include/qf

clean:
	rm -rf $(BUILD)
