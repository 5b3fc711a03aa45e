# replicate.mk - the protection study's model-dependent conclusions on
# several trained models (issue 22, "Replication"): the shipped model,
# SMALL_SEEDS models of a smaller shape of the same family and
# DEFAULT_SEEDS more of the default shape, each trained by qf-train
# (pipelines/model.mk, resumable), each swept by pipelines/protect.mk
# (every layer kept alone and quantized alone, the earlier layers and
# their pairs), and how alike their profiles are: the intraclass
# correlation of the per-layer criticality and of the per-language damage
# across the models (qf-fit mixed --icc).  See docs/pipelines.md.
#
#   make -f pipelines/replicate.mk [-j2] [OUT=out/replicate] [MODELS='NAME=FILE ...']
#
# Training takes the time of pipelines/model.mk's for each model (the
# default shape about an hour on 2 cores, the small one a fraction);
# each sweep that of make demo.  An interrupted run resumes.
#
# Outputs under OUT: models/NAME/ (trained models: MODELS_DIR), sweep/NAME/ (each
# model's sweep, its study tables, qf-fit's fit/ and the earlier claims'
# verdicts.tsv), verdicts.tsv (each claim's verdict on every model and
# across them: it holds only if it holds on every model), layers.tsv and
# languages.tsv (every model's profiles in one table), earlier-models.tsv
# (the earlier study's fit on each model: qf-fit's rows, a model a row),
# fit/ (the ICCs, qf-fit's tables).
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk
.DEFAULT_GOAL := all

OUT ?= $(TOP)/out/replicate
SHIPPED := $(TOP)/pipelines/data/model/udhr-gpt2-12.qft
SMALL_SEEDS ?= 1 2 3 4 5
DEFAULT_SEEDS ?= 2
# the smaller shape: the layers of the default (so that a layer's index
# means the same), half its width, a shorter schedule
SMALL_ARCH ?= --d-model 64 --heads 4 --ctx 256 --vocab 257 --sep 256
SMALL_STEPS ?= 4000
# where the trained models go (several runs, such as make study's
# regimes, may share it)
MODELS_DIR ?= $(OUT)/models
# the models, NAME=FILE; a FILE under MODELS_DIR is trained here
MODELS ?= shipped=$(SHIPPED) \
	$(foreach s,$(SMALL_SEEDS),small-s$(s)=$(MODELS_DIR)/small-s$(s)/model.qft) \
	$(foreach s,$(DEFAULT_SEEDS),default-s$(s)=$(MODELS_DIR)/default-s$(s)/model.qft)
# the sweep of each model (protect.mk's variables)
SWEEP_VARS ?= SETS='single only' EXTRA='p0-9 p0-11 p9-11' BUDGET=0
PARAS ?=
BOOTSTRAP ?= 1000
SEED ?= 1
JOBS ?= 1
LANGUAGES ?= $(TOP)/pipelines/data/udhr/languages.tsv
# passed to every sweep as they are (e.g. LANGS for a smaller test)
SWEEP_EXTRA ?=

QF_FIT := $(BIN)/qf-fit
KERNELS := $(call kernels-file,$(OUT)/kernels)
ifeq ($(KERNELS),)
$(error cannot tell the kernels qf runs (is qf built in $(BIN)?))
endif

name_of = $(firstword $(subst =, ,$(1)))
file_of = $(patsubst $(call name_of,$(1))=%,%,$(1))
NAMES := $(foreach m,$(MODELS),$(call name_of,$(m)))
model_file = $(call file_of,$(filter $(1)=%,$(MODELS)))
ifneq ($(words $(NAMES)),$(words $(sort $(NAMES))))
$(error MODELS: a name given twice)
endif
ifeq ($(shell [ $(words $(NAMES)) -ge 2 ] && echo ok),)
$(error MODELS: at least two models, not $(words $(NAMES)))
endif

REPLICATE_PY := $(PY) $(LIB)/replicate.py
FIT_TABLES := $(OUT)/fit/icc-benefit.tsv $(OUT)/fit/icc-alone.tsv $(OUT)/fit/icc-language.tsv

all: $(FIT_TABLES) $(OUT)/earlier-models.tsv $(OUT)/verdicts.tsv
	@for f in $^; do echo "== $$f"; column -t -s $$'\t' $$f; done

# --- training: pipelines/model.mk's rules, one folder a model --------------------

$(MODELS_DIR)/small-s%/model.qft:
	$(MAKE) --no-print-directory -f $(TOP)/pipelines/model.mk BIN=$(BIN) OUT=$(@D) \
	  SEED=$* STEPS=$(SMALL_STEPS) ARCH='$(SMALL_ARCH)' $@

$(MODELS_DIR)/default-s%/model.qft:
	$(MAKE) --no-print-directory -f $(TOP)/pipelines/model.mk BIN=$(BIN) OUT=$(@D) SEED=$* $@

# --- each model's sweep ------------------------------------------------------------

# $(call sweep-rule,NAME): the study tables of one model and qf-fit's
# earlier fit on it (not the sweep's report: its other statistics need
# what a reduced sweep may lack, such as the compat method's rel_ref_mean)
define sweep-rule
$(OUT)/sweep/$(1)/criticality.tsv $(OUT)/sweep/$(1)/morph.tsv $(OUT)/sweep/$(1)/fit/earlier-proper.model.tsv $(OUT)/sweep/$(1)/verdicts.tsv &: $(call model_file,$(1)) $(KERNELS)
	$$(MAKE) --no-print-directory -f $(TOP)/pipelines/protect.mk BIN=$(BIN) \
	  MODEL=$(call model_file,$(1)) OUT=$(OUT)/sweep/$(1) PARAS='$(PARAS)' \
	  BOOTSTRAP=$(BOOTSTRAP) SEED=$(SEED) JOBS=$(JOBS) LANGUAGES=$(LANGUAGES) \
	  $(SWEEP_VARS) $(SWEEP_EXTRA) $(OUT)/sweep/$(1)/criticality.tsv $(OUT)/sweep/$(1)/morph.tsv \
	  $(OUT)/sweep/$(1)/fit/earlier-proper.model.tsv $(OUT)/sweep/$(1)/fit/earlier-proper.coef.tsv \
	  $(OUT)/sweep/$(1)/verdicts.tsv
endef
$(foreach n,$(NAMES),$(eval $(call sweep-rule,$(n))))

# --- every model's profiles in one table ---------------------------------------------

SWEEP_TABLES := $(foreach n,$(NAMES),$(OUT)/sweep/$(n)/criticality.tsv $(OUT)/sweep/$(n)/morph.tsv \
	$(OUT)/sweep/$(n)/fit/earlier-proper.model.tsv)
$(OUT)/layers.tsv $(OUT)/languages.tsv $(OUT)/earlier-models.tsv &: $(SWEEP_TABLES) $(LIB)/replicate.py $(QFTSV)
	$(REPLICATE_PY) $(OUT) $(foreach n,$(NAMES),$(n)=$(OUT)/sweep/$(n))

# --- the earlier claims on every model, and across them (verdicts.py) ----------------

$(OUT)/verdicts.tsv: $(foreach n,$(NAMES),$(OUT)/sweep/$(n)/verdicts.tsv) $(LIB)/verdicts.py $(QFTSV)
	$(PY) $(LIB)/verdicts.py across $@ $(foreach n,$(NAMES),$(n)=$(OUT)/sweep/$(n)/verdicts.tsv)

# --- qf-fit: how alike the models' profiles are ----------------------------------------

# the benefit of keeping a layer, and the damage of quantizing it alone:
# the layer a group, the models its replicates
$(OUT)/fit/icc-benefit.tsv: $(OUT)/layers.tsv $(QF_FIT) $(KERNELS)
	@mkdir -p $(@D)
	$(QF_FIT) mixed 'proper_benefit ~ 1' --groups layer --icc \
	  --model-out $(@D)/icc-benefit.model.tsv -o $@ $<
$(OUT)/fit/icc-alone.tsv: $(OUT)/layers.tsv $(QF_FIT) $(KERNELS)
	@mkdir -p $(@D)
	$(QF_FIT) mixed 'proper_alone ~ 1' --groups layer --icc \
	  --model-out $(@D)/icc-alone.model.tsv -o $@ $<
# the damage of quantizing every layer, per language, on a log scale
$(OUT)/fit/icc-language.tsv: $(OUT)/languages.tsv $(QF_FIT) $(KERNELS)
	@mkdir -p $(@D)
	$(QF_FIT) mixed 'log(proper_none) ~ 1' --groups lang --icc \
	  --model-out $(@D)/icc-language.model.tsv -o $@ $<
.PHONY: all
