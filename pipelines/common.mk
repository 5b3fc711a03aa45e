# common.mk - conventions shared by every study Makefile in pipelines/.
#
# Variables a user may override on the command line:
#   BIN   directory of the qf binaries (default: build/bin of this checkout)
#   OUT   output folder of the study (default: out/STUDY)
#   LEVEL zstd level of intermediate streams
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SECONDARY:
export LC_ALL := C

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
BIN ?= $(TOP)/build/bin
PY ?= /usr/bin/python3
LEVEL ?= 3
QF_CAT := $(BIN)/qf-cat
# the studies' scripts; QFTSV, the TSV reader of the Python ones
LIB := $(TOP)/pipelines/lib
QFTSV := $(LIB)/qftsv.py

# $(call kernels-file,FILE): what every result of a study depends on
# beyond its inputs and options, the provenance of the qf binaries in BIN
# less the tool (formats/provenance.md: qf's version, OpenBLAS's version,
# the core it runs and who chose it, OPENBLAS_L2_SIZE, the vector code),
# written to FILE when make reads the Makefile, and only when it differs
# from what FILE holds; expands to FILE.  Rules that run qf list FILE
# among their prerequisites, so that a study continued in another
# environment computes its results again instead of mixing them with
# results computed with other kernels.
kernels-file = $(strip $(shell k=$$($(QF_CAT) --version 2>/dev/null | sed -n '2s/ tool=[^ ]*//p'); \
	[ -n "$$k" ] || { echo 'kernels-file: $(QF_CAT): cannot tell the kernels qf runs' >&2; exit 0; }; \
	mkdir -p '$(dir $(1))'; \
	[ "$$(cat '$(1)' 2>/dev/null)" = "$$k" ] || printf '%s\n' "$$k" > '$(1)'; \
	echo '$(1)'))

# $(call remote,OUTPUTS,INPUTS,COMMAND): a stage on other machines when
# HOSTS is given (dist.mk)
include $(TOP)/pipelines/dist.mk
