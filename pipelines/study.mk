# study.mk - the study that decides (issue 22): the earlier study's six
# claims, each confirmed or refuted, on the shipped model under several
# quantization regimes and across trained replicates, with one verdict
# table.  `make study` runs it from a fresh clone; see docs/pipelines.md,
# "The study".
#
#   make -f pipelines/study.mk [-j2] [OUT=out/study] [REGIMES=...] [HOSTS=...]
#
# For each regime in REGIMES (a name and its qf-quantize options,
# REGIME_name), the full protection sweep of the shipped model
# (pipelines/protect.mk with FULL_VARS: every layer kept alone and
# quantized alone, every pair, random sets and salient channels at the
# greedy budget, the cross-fitted greedy search) into OUT/shipped/REGIME/,
# with its report and verdicts.tsv.  For each regime in
# REPLICATE_REGIMES, the replication (pipelines/replicate.mk: the shipped
# model, SMALL_SEEDS trained models of a smaller shape and DEFAULT_SEEDS
# of the default one, each swept, the claims' verdicts on each and
# across them, the ICCs of the layer and language profiles) into
# OUT/replicate/REGIME/; the models are trained once, into OUT/models/.
# Then OUT/verdicts.tsv (a row per claim and part: the earlier study's
# number, the estimates and intervals of every regime on the shipped
# model, the verdicts across models) and OUT/report.md
# (pipelines/lib/study-report).
#
# Time on 2 cores (docs/pipelines.md): training, about an hour a model of
# the default shape and minutes one of the small shape; a full sweep of
# the shipped model, tens of minutes a regime.  Every step is a make
# target: an interrupted run resumes.
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk
.DEFAULT_GOAL := all

OUT ?= $(TOP)/out/study
MODEL ?= $(TOP)/pipelines/data/model/udhr-gpt2-12.qft
# the regimes and their quantizers: where damage is measurable above the
# noise of its realization (INT3 and per-tensor INT4 on the linear
# weights), the demo's INT4 groups, and the earlier study's quantizer
# (per tensor, every weight) scored by qf's method
REGIMES ?= int4g64 int3g64 int4pt earlier
REGIME_int4g64 ?= -s int -b 4 -g 64
REGIME_int3g64 ?= -s int -b 3 -g 64
REGIME_int4pt ?= -s int -b 4 -g tensor
REGIME_earlier ?= --compat
# the shipped model's sweep in every regime (protect.mk's variables)
FULL_VARS ?= SETS='single only pairs' RANDOM=10 CHANNELS=1 ALT_MIDDLE=1
# the regimes replicated across trained models (the first decides), and
# replicate.mk's variables (SMALL_SEEDS, DEFAULT_SEEDS, MODELS, ...)
REPLICATE_REGIMES ?= int4g64 int3g64
REPLICATE_VARS ?=
# passed to every sweep as they are (e.g. LANGS, PARAS for a smaller run)
SWEEP_EXTRA ?=
BOOTSTRAP ?= 1000
SEED ?= 1

$(foreach r,$(REGIMES) $(REPLICATE_REGIMES),$(if $(REGIME_$(r)),,$(error regime '$(r)': no REGIME_$(r) (its qf-quantize options))))
ifneq ($(filter-out $(REGIMES),$(REPLICATE_REGIMES)),)
$(error REPLICATE_REGIMES: '$(filter-out $(REGIMES),$(REPLICATE_REGIMES))' not in REGIMES)
endif

KERNELS := $(call kernels-file,$(OUT)/kernels)
ifeq ($(KERNELS),)
$(error cannot tell the kernels qf runs (is qf built in $(BIN)?))
endif
STUDY_REPORT := $(LIB)/study-report
SHIPPED_OUT := $(foreach r,$(REGIMES),$(OUT)/shipped/$(r)/report.md $(OUT)/shipped/$(r)/verdicts.tsv)
REPLICATE_OUT := $(foreach r,$(REPLICATE_REGIMES),$(OUT)/replicate/$(r)/verdicts.tsv)

all: $(OUT)/report.md
	@sed -n '/^## Verdicts/,/^## /{/^## [^V]/d;p}' $<
	@echo "study: report in $(OUT)/report.md"

# --- the shipped model, every regime ------------------------------------------------

$(OUT)/shipped/%/report.md $(OUT)/shipped/%/verdicts.tsv &: $(MODEL) $(KERNELS)
	$(MAKE) --no-print-directory -f $(TOP)/pipelines/protect.mk BIN=$(BIN) MODEL=$(MODEL) \
	  OUT=$(OUT)/shipped/$* QUANT_OPTS='$(REGIME_$*)' BOOTSTRAP=$(BOOTSTRAP) SEED=$(SEED) \
	  $(FULL_VARS) $(SWEEP_EXTRA) $(OUT)/shipped/$*/report.md $(OUT)/shipped/$*/verdicts.tsv

# --- the replication, the replicated regimes ----------------------------------------

$(OUT)/replicate/%/verdicts.tsv: $(KERNELS)
	$(MAKE) --no-print-directory -f $(TOP)/pipelines/replicate.mk BIN=$(BIN) \
	  OUT=$(OUT)/replicate/$* MODELS_DIR=$(OUT)/models BOOTSTRAP=$(BOOTSTRAP) SEED=$(SEED) \
	  SWEEP_EXTRA="QUANT_OPTS='$(REGIME_$*)' $(SWEEP_EXTRA)" $(REPLICATE_VARS) all

# --- the verdicts ---------------------------------------------------------------------

$(OUT)/report.md $(OUT)/verdicts.tsv &: $(SHIPPED_OUT) $(REPLICATE_OUT) $(STUDY_REPORT) $(LIB)/verdicts.py $(QFTSV)
	$(PY) $(STUDY_REPORT) --regimes '$(foreach r,$(REGIMES),$(r)=$(REGIME_$(r));)' \
	  --replicated '$(REPLICATE_REGIMES)' $(OUT)

shipped: $(SHIPPED_OUT)
replicate: $(REPLICATE_OUT)
.PHONY: all shipped replicate
