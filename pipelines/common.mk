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
